/* outbox-db.h: what the files of the outbox share, and nothing outside the
 * outbox includes: the handle (struct outbox), the LMDB layout of outbox.h
 * in code, the record codec (outbox-record.c) and the one write transaction
 * helper. The outbox's public API is outbox.h.
 *
 *   outbox.c           open, queue, delivery states, reading back
 *   outbox-record.c    record codec, pending and index entries, writes
 *   outbox-receipts.c  the hub's receipts
 *   outbox-reseal.c    re-sealing for a member key rotation
 *   outbox-hub.c       the last hub error and the link state (meta)
 *   outbox-alerts.c    the hub's signed alerts
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <lmdb.h>

#include "outbox.h"
#include "outbox.pb-c.h"

#define OUTBOX_MAXDBS 8
/* records and pending keys, index values: the sequence, big-endian. */
#define OUTBOX_SEQ_BYTES 8
/* pending value: state byte, then the next attempt as big-endian ms. */
#define OUTBOX_PENDING_BYTES 9
/* Largest meta value read back. */
#define OUTBOX_META_MAX 1024

/* Keys of the meta database. */
#define OUTBOX_META_HUB_ERROR "last_hub_error"
#define OUTBOX_META_SEALING_KEY "sealing_key"
#define OUTBOX_META_HUB_LINK "hub_link"

struct outbox {
        MDB_env *env;
        MDB_dbi records;
        MDB_dbi index;
        MDB_dbi pending;
        MDB_dbi meta;
        MDB_dbi alerts;
        bool has_alerts;        /* false: a read-only open of an outbox made before alerts */
        bool readonly;
        int lock_fd;
};

/* A write transaction's work: 0 or a negative errno (LMDB codes through
 * db_errno()). */
typedef int (*outbox_write_fn)(struct outbox *ob, MDB_txn *txn, void *userdata);

/* Runs fn in one write transaction and commits it (db_write(): a full map is
 * grown and fn run again from scratch, so fn must reset whatever it reports
 * through userdata; a full disk is -ENOSPC). */
NMO_WUR int outbox_db_write(struct outbox *ob, outbox_write_fn fn, void *userdata);

/* One entry of a scan: 0 to go on, *corrupt set (and 0) to skip a damaged
 * entry, anything else to stop the scan with that result. */
typedef int (*outbox_scan_fn)(const MDB_val *k, const MDB_val *v, bool *corrupt,
                              void *userdata);

/* Calls fn on every entry of database dbi in key order, in one read
 * transaction. Returns what stopped it, or 0, or -EBADMSG when an entry was
 * skipped as damaged (after the scan went on past it). */
NMO_WUR int outbox_db_scan(struct outbox *ob, MDB_dbi dbi, outbox_scan_fn fn, void *userdata);

/* The 8-byte big-endian form of keys and times. */
void outbox_put_be64(uint8_t out[8], uint64_t v);
uint64_t outbox_get_be64(const uint8_t in[8]);

/* Decodes and checks one record value (-EBADMSG when it is not a sound
 * record). The caller frees *ret with nmo__node__record__free_unpacked(). */
NMO_WUR int outbox_record_decode(const MDB_val *v, Nmo__Node__Record **ret);

/* Loads and decodes record seq (-ENOENT when there is none). */
NMO_WUR int outbox_record_load(struct outbox *ob, MDB_txn *txn, uint64_t seq,
                               Nmo__Node__Record **ret);

/* Stores rec as record seq (-E2BIG over OUTBOX_RECORD_MAX). */
NMO_WUR int outbox_record_store(struct outbox *ob, MDB_txn *txn, uint64_t seq,
                                const Nmo__Node__Record *rec);

/* Sets, or deletes (absent is fine), the pending entry of record seq. */
NMO_WUR int outbox_pending_store(struct outbox *ob, MDB_txn *txn, uint64_t seq,
                                 enum outbox_state state, uint64_t next_ms);
NMO_WUR int outbox_pending_delete(struct outbox *ob, MDB_txn *txn, uint64_t seq);

/* The sequence of the record of signal id (-ENOENT when unknown). */
NMO_WUR int outbox_seq_of(struct outbox *ob, MDB_txn *txn, const uint8_t id[SIGNAL_ID_BYTES],
                          uint64_t *seq);

/* When a signal tried attempts times is due again. */
uint64_t outbox_retry_at(uint64_t now_ms, uint32_t attempts, const struct outbox_backoff *bo);

/* Copies text into buf of OUTBOX_TEXT_MAX + 1 bytes, cut at a character boundary. */
void outbox_clip_text(char *buf, const char *text);
