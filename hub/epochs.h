/* epochs.h: the records of the epochs, in the private store's epochs
 * database (store.h): u32 BE month -> EpochRecord (store.proto: state, the
 * epoch's start, when closed). No record holds the time of a signal.
 *
 * An epoch is a month of ISO weeks (period.h). It opens with the first
 * signal that arrives in it and closes once it has ended (aggregate.h
 * hub_aggregate_housekeeping()); a closed epoch never opens again, since its
 * key is destroyed (epochkey.h). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <lmdb.h>

#include "store.h"
#include "store.pb-c.h"
#include "util.h"

/* One epoch as listed. */
struct hub_epoch_info {
        uint32_t month;
        Nmo__Hub__EpochState state;
        uint64_t opened_ms;
        uint32_t released_through;      /* last released week id, 0: none yet */
};

/* Writes the record of month inside the caller's write transaction: state,
 * opened (ms), closed (ms; 0 leaves it out) and the last released week
 * (0: none). Returns 0 or a negative errno. */
NMO_WUR int hub_epochs_put(MDB_txn *txn, struct hub_store *st, uint32_t month,
                           Nmo__Hub__EpochState state, uint64_t opened, uint64_t closed,
                           uint32_t released_through);

/* Records in the caller's write transaction that the weeks of month up to
 * week are released (never moves back). -ENOENT when month has no record. */
NMO_WUR int hub_epochs_set_released(MDB_txn *txn, struct hub_store *st, uint32_t month,
                                    uint32_t week);

/* Every epoch, in month order, in a read transaction of its own (*out fresh,
 * free()). Returns 0, -EBADMSG when a record is damaged, or another negative
 * errno. */
NMO_WUR int hub_epochs_list(struct hub_store *st, struct hub_epoch_info **out, size_t *n);

/* The epoch a signal arriving in *week counts in, inside the
 * caller's write transaction: the epoch of the week, opened (its record
 * written) when new; when the clock has stepped back into a closed epoch,
 * the first open or new one after it, with *week set to its first week
 * (logged); and a week already released (a clock stepped back) is replaced by
 * the first week not yet released. *month receives the epoch; *was_open is true when its record
 * existed, open, before this call. Returns 0 or a negative errno. */
NMO_WUR int hub_epochs_for_signal(MDB_txn *txn, struct hub_store *st, uint32_t *week,
                                  uint32_t *month, bool *was_open);
