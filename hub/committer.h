/* committer.h: the thread of `nmo-hub serve` that commits the ingest's
 * batches, so that the loop receives and opens the next batch while the disk
 * flushes the one before.
 *
 * The loop opens a batch (hub_ingest_open()) and stages it; the thread takes
 * what is staged as soon as it is free, commits it (hub_ingest_commit(): one
 * LMDB write transaction and one device flush) and holds it: with the meta
 * page sync deferred (ingest.h), a committed batch is durable only once the
 * next commit or a sync has flushed. When a batch is staged or being opened
 * the thread commits that next (its flush makes the held one durable);
 * when none is, it syncs at once. So under load every flush serves two
 * batches' worth of durability and the CPU work of the next batch runs
 * during it, and a lone batch waits for no more than its commit and a sync.
 *
 * A batch comes back (hub_committer_done()) only once its replies may leave:
 * durable, or refused as a whole (the store could not commit: every item got
 * REASON_STORE_UNAVAILABLE), or with the sync failed (no reply may leave;
 * the nodes send again). The loop is told through a file descriptor that
 * polls readable (hub_committer_fd()).
 *
 * Thread use: every function here from the loop's thread; the ingest's
 * hub_ingest_commit() and hub_ingest_sync() run in the committer's thread
 * only, hub_ingest_open() in the loop's. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "ingest.h"

/* One batch on its way through the committer. The caller owns it and its
 * items; the committer borrows both from hub_committer_stage() until
 * hub_committer_done() returns it. */
struct hub_commit_job {
        struct hub_item *items;
        size_t n;
        /* Set by the committer. */
        int committed;          /* hub_ingest_commit()'s return */
        int synced;             /* 0: durable (or nothing stored); else the sync's error */
        double seconds;         /* how long the commit took */
        struct hub_commit_job *next;    /* internal */
};

struct hub_committer;

/* Starts the thread over ig (borrowed; it must outlive the committer).
 * Returns 0, -ENOMEM, -EMFILE and the like when no event descriptor can be
 * made, or -EAGAIN when no thread could be started. */
NMO_WUR int hub_committer_start(struct hub_committer **ret, struct hub_ingest *ig);

/* The descriptor that polls readable when a batch came back or the stage
 * became free; hub_committer_done() clears it. */
int hub_committer_fd(const struct hub_committer *c);

/* Whether a batch may be staged now (the stage is empty). */
bool hub_committer_can_stage(struct hub_committer *c);

/* The loop is opening a batch (true; false when it gave up or staged it):
 * a held batch then waits for its commit instead of a sync of its own. */
void hub_committer_opening(struct hub_committer *c, bool opening);

/* Hands job (opened with hub_ingest_open(), n > 0) to the thread; only when
 * hub_committer_can_stage() said so. Ends hub_committer_opening(). */
void hub_committer_stage(struct hub_committer *c, struct hub_commit_job *job);

/* Returns a batch whose replies may leave (see above), oldest first, or NULL
 * when none came back. */
struct hub_commit_job *hub_committer_done(struct hub_committer *c);

/* Waits until every staged batch is committed and every committed one
 * durable (or refused); they are then waiting in hub_committer_done(). */
void hub_committer_drain(struct hub_committer *c);

/* Drains, stops the thread and frees; accepts NULL. Batches that came back
 * and were not taken with hub_committer_done() are the caller's still. */
void hub_committer_free(struct hub_committer *c);
