/* node-metrics.h: the delivery agent's Prometheus endpoint ([metrics] listen
 * in node.conf): GET /metrics in the text exposition format 0.0.4, served by
 * common/promhttp.h (libmicrohttpd) on a thread of its own.
 *
 * Threads: the HTTP thread never reads the outbox or the agent's state. The
 * agent's loop hands over its figures (node_metrics_update(), at most about
 * once a second, the outbox counted by then) under the mutex the HTTP thread
 * formats them under. The figures are counts, times and the state of the
 * hub connection: nothing names a signal or its content. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outbox.h"
#include "util.h"

struct node_metrics;

/* What the agent knows. Times are wall-clock ms, 0 for none. */
struct node_metrics_figures {
        /* The outbox's counts (outbox_counts(), as `nmo-node status` shows
         * them) and the queued time of its oldest signal without a final
         * receipt; counted false until the outbox was first counted. */
        bool counted;
        struct outbox_counts counts;
        uint64_t last_receipt_ms;       /* the last receipt recorded by this agent */
        uint64_t last_contact_ms;       /* handshake with the hub or loss (status) */
        bool hub_up;                    /* a handshake succeeded and the link holds */
        /* Since this agent started: */
        uint64_t sent;                  /* envelopes sent to the hub */
        uint64_t resends;               /* of those, sent again after an earlier attempt */
        uint64_t receipts;              /* receipts recorded in the outbox */
};

/* Starts serving GET /metrics on listen_on ([metrics] listen, ADDRESS:PORT,
 * promhttp_parse_listen()), bound to that address only; the figures are all
 * 0 until the first node_metrics_update(). The calling thread's signal mask
 * is the HTTP thread's. Returns 0, or a negative errno (logged: the address
 * cannot be bound, libmicrohttpd cannot start). */
NMO_WUR int node_metrics_start(struct node_metrics **ret, const char *listen_on);

/* Stops the HTTP thread and frees; accepts NULL. */
void node_metrics_stop(struct node_metrics *m);

/* Replaces the figures with a copy of f; m may be NULL (no endpoint). */
void node_metrics_update(struct node_metrics *m, const struct node_metrics_figures *f);

/* The exposition text of the figures, the oldest signal's age taken at now_ms
 * (wall clock): NUL terminated, *len without the NUL, free(). Returns 0 or
 * -ENOMEM. */
NMO_WUR int node_metrics_format(struct node_metrics *m, uint64_t now_ms, char **out,
                                size_t *len);
