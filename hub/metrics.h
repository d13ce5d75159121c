/* metrics.h: the hub's Prometheus endpoint ([metrics] listen): GET /metrics
 * in the text exposition format 0.0.4, served by common/promhttp.h
 * (libmicrohttpd) on a thread of its own.
 *
 * Threads: the HTTP thread never reads the stores or the loop's structures.
 * The hub loop fills a snapshot (hub_metrics_collect(), at most about once a
 * second) and adds each committed batch to the histograms
 * (hub_metrics_batch()); both take the same mutex the HTTP thread formats
 * the snapshot under. No figure names a member: the counts are the
 * network's, never one member's. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct hub_metrics;
struct hub_store;
struct analytics;
struct hub_conns;

/* Starts serving GET /metrics on listen ([metrics] listen: ADDRESS:PORT, see
 * promhttp.h promhttp_parse_listen()), bound to that address only. The
 * calling thread's signal mask is the HTTP thread's. Returns 0, or a
 * negative errno (logged: the address cannot be bound, libmicrohttpd cannot
 * start). */
NMO_WUR int hub_metrics_start(struct hub_metrics **ret, const char *listen);

/* Stops the HTTP thread and frees; accepts NULL. */
void hub_metrics_stop(struct hub_metrics *m);

/* Reads the figures `nmo-hub stats` reads (the private store's counters,
 * the members by state and key expiry, the store's size, the aggregation
 * backlog), the releases in an, and how many distinct members hold a
 * connection (conns), into the snapshot. Hub loop only; a figure that
 * cannot be read keeps its last value. */
void hub_metrics_collect(struct hub_metrics *m, struct hub_store *st, struct analytics *an,
                         struct hub_conns *conns);

/* Counts one committed batch of n envelopes whose commit (with the
 * receipts' signatures) took seconds. */
void hub_metrics_batch(struct hub_metrics *m, size_t n, double seconds);

/* A monotonic clock in seconds, finer than a millisecond, for
 * hub_metrics_batch(). */
double hub_metrics_clock(void);

/* The exposition text of the snapshot (NUL terminated, *len without the NUL;
 * free()). Returns 0 or -ENOMEM. */
NMO_WUR int hub_metrics_format(struct hub_metrics *m, char **out, size_t *len);
