/* journal.h: the journal of accepted signals not yet counted.
 *
 * The ingest transaction that accepts a signal appends one entry to the
 * journal database of the private store (store.h): u64 BE store sequence ->
 * key length (1 byte) || contributions key || the signal's own summary sealed
 * under its epoch's key (contrib.h). It is one small sequential write, so a
 * group commit touches few pages and the ingest never reads or rewrites a
 * contribution row.
 *
 * The aggregation thread folds the journal into the contribution rows: it
 * reads the entries, merges them by row with the stored rows and writes the
 * rows together with the folded sequence ("folded" in the fold database) in
 * one transaction of the contributions environment, its own writer. Entries
 * at or below the folded sequence are never counted again, also when a crash
 * came between the fold and their deletion. Only entries the private store
 * holds durably are folded (hub_journal_durable()): a crash of the machine
 * could still undo the others, and the node would send them again.
 *
 * The ingest deletes folded entries a few at a time in its own transactions
 * (hub_journal_trim()), so the aggregation never takes the private store's
 * writer, and no batch pays for a whole fold's worth of deletes.
 *
 * After a restart nothing is trimmed until the first fold has read how far
 * the journal is folded.
 *
 * Thread use: hub_journal_append(), hub_journal_trim() and
 * hub_journal_durable() from the thread that commits the ingest, hub_journal_fold() and
 * hub_journal_settle_epoch() from the aggregation thread. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <lmdb.h>

#include "epochkey.h"
#include "store.h"
#include "util.h"

struct hub_journal;

/* Sets up the journal of the open private store st, whose entries open with
 * the epoch keys in keys (both borrowed; they must outlive the journal).
 * Until hub_journal_durable() is called every entry counts as durable.
 * Returns 0 or -ENOMEM. */
NMO_WUR int hub_journal_new(struct hub_journal **ret, struct hub_store *st,
                            struct hub_epoch_keys *keys);

/* Frees; accepts NULL. The entries stay in the store. */
void hub_journal_free(struct hub_journal *j);

/* Appends the entry of store sequence seq (unique and increasing) inside the
 * caller's write transaction on the private store: key (klen bytes, a
 * contributions key, contrib.h) and sealed (slen bytes, the signal's summary
 * sealed with hub_contrib_row_seal()). Returns 0, -EINVAL for a key of the
 * wrong length, -ENOMEM, or the negative errno of the put (-EEXIST when seq
 * is in the journal already). */
NMO_WUR int hub_journal_append(struct hub_journal *j, MDB_txn *txn, uint64_t seq,
                               const uint8_t *key, size_t klen, const uint8_t *sealed,
                               size_t slen);

/* The private store is durable up to store sequence seq: entries above it
 * are not folded until a later call says they are. */
void hub_journal_durable(struct hub_journal *j, uint64_t seq);

/* Folds every durable entry into the contribution rows, in transactions of
 * at most a few thousand entries. For each row written, changed(userdata,
 * month, material) is called (may be NULL); its negative return stops the
 * fold and is returned. An entry that is damaged, or whose epoch key is gone,
 * is logged and skipped for good; a stored row that does not open stops the
 * fold with -EBADMSG. Returns 0 or a negative errno; what was committed
 * before an error stays folded. */
NMO_WUR int hub_journal_fold(struct hub_journal *j,
                             int (*changed)(void *userdata, uint32_t month,
                                            const char *material),
                             void *userdata);

/* How far the journal is folded, as the last fold left it (0 before the
 * first fold). */
uint64_t hub_journal_folded(struct hub_journal *j);

/* Deletes up to max folded entries, oldest first, inside the caller's write
 * transaction on the private store (the ingest calls it once a batch).
 * Returns 0 or a negative errno. */
NMO_WUR int hub_journal_trim(struct hub_journal *j, MDB_txn *txn, size_t max);

/* Before an epoch closes, inside the caller's write transaction on the
 * private store: deletes every folded entry, then returns -EAGAIN when an
 * entry of month is left (journaled after the last fold: close once it is
 * counted), 0 when none, or another negative errno. */
NMO_WUR int hub_journal_settle_epoch(struct hub_journal *j, MDB_txn *txn, uint32_t month);

/* How far the journal is folded as stored (0 when never), in a transaction
 * ctxn on the contributions environment. Returns 0, or -EBADMSG when the
 * stored value is damaged, or another negative errno. */
NMO_WUR int hub_journal_folded_get(MDB_txn *ctxn, struct hub_store *st, uint64_t *seq);

/* Counts the entries not folded yet (*waiting), reading the journal in the
 * caller's transaction txn on the private store (read-only is enough).
 * Returns 0, -ENOENT when the store has no journal (written before it
 * existed), or a negative errno. */
NMO_WUR int hub_journal_backlog(struct hub_store *st, MDB_txn *txn, uint64_t *waiting);
