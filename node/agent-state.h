/* agent-state.h: the delivery agent's state, shared by the files of the
 * agent and nothing else (the agent's API is agent.h):
 *
 *   agent.c          the loop: sockets, the window, timeouts, reload, stop
 *   agent-replies.c  the hub's replies and their receipts
 *   agent-link.c     the connection's state, failures and back-off
 *
 * One thread owns struct agent; nothing here is locked. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "node-config.h"
#include "node-metrics.h"
#include "outbox.h"
#include "receipt.h"

struct node;

/* Why the hub connection is down, as last reported (each cause is logged
 * once, not at every retry). */
enum link_problem {
        LINK_NONE = 0,
        LINK_UNREACHABLE,       /* no TCP connection: libzmq retries with its backoff */
        LINK_KEY_MISMATCH,      /* handshake failed without detail: hub.pub is wrong */
        LINK_REFUSED,           /* ZAP refused our key */
        LINK_PROTOCOL,          /* handshake failed with a protocol error */
};

/* A signal sent and not yet answered. */
struct flight {
        uint64_t seq;
        uint8_t signal_id[SIGNAL_ID_BYTES];
        uint64_t deadline_ms;   /* monotonic */
};

/* A reply read this round: the frame decoded once (its SignedReceipt bytes
 * kept as proof) and its verified receipt. */
struct incoming {
        struct reply reply;
        struct receipt receipt;
        bool former_key;        /* names another payload key than ours */
};

struct agent {
        struct node *node;
        const struct node_config *cfg;
        struct outbox *ob;
        struct outbox_backoff bo;
        void *ctx;
        void *dealer;
        void *monitor;
        void *pull;
        char *pull_endpoint;
        int sigfd;
        bool log_level_set;             /* agent_options */
        size_t cap;                     /* entries of flights and seqs, >= cfg->window */
        struct flight *flights;         /* cap entries */
        size_t n_flights;
        struct incoming *incoming;      /* cfg->replies_per_round entries */
        struct outbox_receipt *batch;
        int *results;
        uint64_t *seqs;                 /* scratch, cap entries */
        struct receipt_cache rcache;    /* batch roots verified already */
        bool connected;
        bool stop;
        bool scan_now;
        uint64_t next_scan_ms;          /* monotonic */
        char hub_error[OUTBOX_TEXT_MAX + 1]; /* last recorded, "" when none */
        /* The hub connection (status shows it through the outbox's hub_link). */
        enum link_problem problem;
        char probe_cause[96];           /* LINK_UNREACHABLE: why, in words */
        unsigned int failures;          /* handshakes failed in a row */
        bool detached;                  /* disconnected by us, to back off */
        bool tcp_reached;               /* a TCP connection since the last retry */
        uint64_t reconnect_at_ms;       /* monotonic, when detached */
        struct outbox_hub_link link;
        /* [metrics] listen (node-metrics.h); NULL without. fig gathers the
         * figures as they happen; the outbox is counted again when recount
         * says the agent changed it. */
        struct node_metrics *metrics;
        struct node_metrics_figures fig;
        bool recount;
        uint64_t metrics_at_ms;         /* monotonic, last hand-over */
        uint64_t counted_at_ms;         /* monotonic, last count of the outbox */
};

/* The signal in flight with id, or NULL. */
struct flight *agent_flight_find(struct agent *a, const uint8_t id[SIGNAL_ID_BYTES]);

/* Forgets f (a pointer into a->flights); the last entry takes its place. */
void agent_flight_remove(struct agent *a, struct flight *f);

/* Receives one frame (and any further parts, which make it invalid). Returns
 * 1 with *msg filled, 0 when nothing is waiting, or a negative errno. */
NMO_WUR int agent_recv_frame(void *s, zmq_msg_t *msg, bool *multipart);

/* Everything in flight goes back in the queue, due now: after the hub's
 * keys changed the re-sealed envelopes are the ones to send. 0 or the
 * outbox's error (logged). */
NMO_WUR int agent_requeue_flights(struct agent *a);

/* Reads the replies waiting now (up to replies_per_round) and records them
 * in one transaction (agent-replies.c). Bad replies are logged and ignored;
 * returns 0, or the failure to receive or to record (logged). */
NMO_WUR int agent_handle_replies(struct agent *a);

/* Records (or clears, with msg NULL) the hub error that `status` shows, once
 * per change (agent-link.c). 0 or the outbox's error (logged). */
NMO_WUR int agent_note_hub_error(struct agent *a, const char *msg);

/* Records the connection state for `status`; a failure is logged, the
 * outbox said why once when it is the disk. */
NMO_WUR int agent_save_link(struct agent *a);

/* Reads the monitor's events waiting now and acts on them: connected,
 * disconnected, a failed connection or handshake (said once per cause,
 * recorded, backed off). 0 or a failure to record. */
NMO_WUR int agent_link_monitor(struct agent *a);

/* Connects again once the back-off after a failed handshake is over. */
void agent_link_reconnect_due(struct agent *a, uint64_t now);
