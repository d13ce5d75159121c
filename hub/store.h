/* store.h: the hub's private store, an LMDB environment in DIR/private that
 * only the hub's own user can open (0700 directory, 0600 files).
 *
 * Named databases:
 *   members       u32 BE member id        -> MemberRecord
 *   member_names  name                    -> u32 BE member id
 *   member_keys   transport public key    -> u32 BE member id
 *   used_keys     the class (keys_x25519_class()) of every public key a
 *                 member was ever enrolled or rotated with, transport and
 *                 payload, current and retired -> u32 BE member id || 1 byte
 *                 use (1 transport, 2 payload): never deleted, so no key (nor
 *                 one X25519 cannot tell from it) ever serves two members,
 *                 and a sealed box opens under one member only
 *   signals       u32 BE member id || 16-byte signal id -> SignalRecord: the
 *                 epoch, and the receipt body sealed under the epoch's key;
 *                 once the epoch closed, u32 BE member id || BLAKE2b-128 of
 *                 the signal id || 'c' -> the epoch alone (records.h)
 *   journal       u64 BE store sequence   -> key length (1 byte) || contributions
 *                 key || 24-byte nonce || secretbox(Summary of that one signal):
 *                 accepted signals not yet folded into their contribution
 *                 (appended by the ingest transaction, folded and deleted by
 *                 the aggregation within a second; journal.h)
 *   epochs        u32 BE month            -> EpochRecord
 *   meta          ASCII name              -> u64 BE counter
 *
 * and, in a second environment in DIR/private/contributions (its own writer,
 * so that folding never holds up the ingest's commits):
 *   contributions u32 BE month || material 0x00 || 8-byte keyed hash of
 *                 (member, week, event, country) under the epoch key
 *                                         -> 24-byte nonce || secretbox(Summary)
 *   fold          "folded"                -> u64 BE: journal entries up to
 *                 this sequence are in the contributions (so a fold that
 *                 crashed before deleting them from the journal is not
 *                 counted twice)
 *
 * Member ids never stand next to signal content: a contribution (one summary
 * per reporter, week, event and country) carries only a pseudonym keyed per
 * epoch, under encryption with that epoch's key, which lives in a file
 * outside LMDB (private/epochs/) and is destroyed when the epoch closes.
 *
 * Every write goes through hub_store_write(), which grows the map and runs the
 * transaction again when LMDB reports it full, so a growing store never fails
 * a write that a bigger map would take. A full disk is not a full map: the
 * write fails with -ENOSPC (logged once, db_write()) and nothing grows. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <lmdb.h>

#include "util.h"

/* Meta counter names. */
#define HUB_META_SIGNALS "signals_stored"
#define HUB_META_DUPLICATES "duplicates"
#define HUB_META_REJECTED "rejected"
#define HUB_META_NEXT_SEQ "next_sequence"
#define HUB_META_NEXT_MEMBER "next_member_id"
#define HUB_META_MEMBER_CHANGES "member_changes"
/* The last epoch (yyyymm) whose signal records are cut down (records.h). */
#define HUB_META_RECORDS_STRIPPED "records_stripped_through"
/* 1 once used_keys holds the keys of the members enrolled before it existed. */
#define HUB_META_KEYS_INDEXED "used_keys_indexed"
/* Per-reason rejection counters are "rejected.<reason-name>". */

struct hub_store {
        MDB_env *env;
        MDB_dbi members;
        MDB_dbi member_names;
        MDB_dbi member_keys;
        MDB_dbi signals;
        MDB_dbi journal;        /* 0 in a read-only store written before it existed */
        MDB_dbi used_keys;      /* the same */
        MDB_dbi epochs;
        MDB_dbi meta;
        /* The contributions environment (NULL in a read-only store without one). */
        MDB_env *cenv;
        MDB_dbi contributions;
        MDB_dbi fold;
};

/* Opens (creating unless readonly) the private store of the hub directory
 * hub_dir. *ret owns it; free with hub_store_free(). */
NMO_WUR int hub_store_open(struct hub_store **ret, const char *hub_dir, bool readonly);

/* The same with a chosen initial map size (tests use a tiny one to exercise
 * growth). */
NMO_WUR int hub_store_open_map(struct hub_store **ret, const char *hub_dir, bool readonly,
                               size_t initial_map);

/* Closes; accepts NULL. */
void hub_store_free(struct hub_store *st);

/* Runs fn(txn, userdata) in a write transaction and commits durably. fn may be
 * called more than once (after the map grew), so it must start from scratch
 * each call. A negative return from fn aborts and is passed back; -ENOSPC
 * when the disk is full (common/db.h db_write()). */
NMO_WUR int hub_store_write(struct hub_store *st, int (*fn)(MDB_txn *, void *), void *userdata);

/* The same on the contributions environment. */
NMO_WUR int hub_store_write_contrib(struct hub_store *st, int (*fn)(MDB_txn *, void *),
                                    void *userdata);

/* Runs fn in a read-only transaction. */
NMO_WUR int hub_store_read(struct hub_store *st, int (*fn)(MDB_txn *, void *), void *userdata);

/* Reads a meta counter (0 when absent). */
NMO_WUR int hub_store_meta_get(MDB_txn *txn, struct hub_store *st, const char *name,
                               uint64_t *value);

/* Adds delta to a meta counter and optionally returns the new value. */
NMO_WUR int hub_store_meta_add(MDB_txn *txn, struct hub_store *st, const char *name,
                               uint64_t delta, uint64_t *value);

/* Big-endian helpers for keys. */
void hub_store_put_u32(uint8_t out[4], uint32_t v);
void hub_store_put_u64(uint8_t out[8], uint64_t v);
uint64_t hub_store_get_u64(const uint8_t in[8]);
uint32_t hub_store_get_u32(const uint8_t in[4]);
