/* aggthread.h: the aggregation thread of `nmo-hub serve`.
 *
 * Recomputes what changed and closes epochs (aggregate.h) away from the loop
 * that answers members, so a recomputation never delays a receipt: twice a
 * second it flushes (folding the journal first), and every minute it
 * runs the housekeeping (epochs closed, stale readers cleared). It runs at a
 * lower CPU priority than the loop. New or revised alerts go to the loop
 * over an inproc PAIR socket, one SignedAlert a frame, since only the loop
 * may use the feed socket: the loop binds HUB_AGGTHREAD_ENDPOINT in the same
 * ZeroMQ context before the thread starts. */
#pragma once

#include "aggregate.h"

#define HUB_AGGTHREAD_ENDPOINT "inproc://nmo-hub-aggregator"

struct hub_aggthread;

/* Starts the thread over ag (borrowed; it must outlive the thread) in the
 * ZeroMQ context ctx. Returns 0, -ENOMEM, or -EAGAIN when no thread could be
 * started. */
NMO_WUR int hub_aggthread_start(struct hub_aggthread **ret, void *ctx, struct hub_aggregate *ag);

/* Asks for a last flush of everything dirty (its alerts are sent to the
 * PAIR before the thread ends), waits for the thread and frees; accepts
 * NULL. */
void hub_aggthread_stop(struct hub_aggthread *a);
