/* records.h: the dedup records of the private store's signals database
 * (store.h: u32 BE member id || 16-byte signal id -> SignalRecord).
 *
 * A record says that a member's signal (or key rotation) was stored, so that
 * a repeat is stored once. It must not become a timed list of who reported
 * when: it holds no time finer than the receipt's hour, and that hour only
 * inside the receipt body, sealed under the key of its epoch (epochkey.h).
 * When the epoch closes, hub_records_strip() cuts each of its records down to
 * the epoch's month; with the key destroyed, any copy of the sealed body left
 * in free LMDB pages or backups cannot be read either. The record also moves
 * to a key without the signal id, whose first 6 bytes are the node's
 * creation time in ms (PROTOCOL.md 4.1): member id || BLAKE2b-128 of the
 * signal id || 'c' (21 bytes, so never mistaken for a 20-byte open key). A repeat of a signal
 * whose record was stripped gets a fresh receipt dated the epoch's start
 * (PROTOCOL.md 8). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <lmdb.h>

#include "store.h"
#include "store.pb-c.h"
#include "envelope.h"
#include "util.h"

struct hub_epoch_key;

/* The key of a record while its epoch is open: u32 BE member id || signal id. */
#define HUB_RECORD_KEY_BYTES (4 + SIGNAL_ID_BYTES)
/* ... and once it closed: u32 BE member id || BLAKE2b-128(signal id) || 'c'. */
#define HUB_RECORD_CLOSED_KEY_BYTES (4 + 16 + 1)

/* The closed key of the record with open key key. */
void hub_record_closed_key(const uint8_t key[HUB_RECORD_KEY_BYTES],
                           uint8_t out[HUB_RECORD_CLOSED_KEY_BYTES]);

/* Serialises the record of an accepted signal of epoch month with its
 * receipt body: sealed under ek (nonce || secretbox with ek->seal_key), or in
 * the clear when ek is NULL (a hub without aggregation has no epoch keys).
 * *out is fresh (free()). Returns 0, -ENOMEM. */
NMO_WUR int hub_record_pack(uint32_t month, const struct hub_epoch_key *ek, const uint8_t *body,
                            size_t len, uint8_t **out, size_t *out_len);

/* The epoch of a decoded record: its epoch field, or for a record written
 * before that field, the month of its received_ms; 0 when it has neither. */
uint32_t hub_record_epoch(const Nmo__Hub__SignalRecord *rec);

/* The receipt body a record holds (fresh, free()): in the clear, inside the
 * SignedReceipt of the oldest records, or sealed under ek (may be NULL when
 * the key is gone). Returns 0; -ENOENT when the record holds no body any more
 * (stripped, or sealed and ek NULL); -EBADMSG when it is damaged or does not
 * open under ek; -ENOMEM. */
NMO_WUR int hub_record_body(const Nmo__Hub__SignalRecord *rec, const struct hub_epoch_key *ek,
                            uint8_t **body, size_t *len);

/* Records looked at in one write transaction of hub_records_strip(): the
 * ingest waits for one chunk at most. Measured on a small shared machine:
 * 1,000,000 records cut down and moved in about 9 s in all (some 70 ms a
 * chunk), a scan that finds nothing to change in under 0.1 s. */
#define HUB_RECORDS_STRIP_CHUNK 8192

/* Cuts every record of epoch month or earlier down to its epoch (no receipt
 * body, no time) under its closed key, in write transactions of HUB_RECORDS_STRIP_CHUNK records
 * each. Idempotent: run it again after a crash. A damaged record is cut down
 * too (to month). *stripped (may be NULL) receives how many records changed.
 * Returns 0 or a negative errno. */
NMO_WUR int hub_records_strip(struct hub_store *st, uint32_t month, uint64_t *stripped);

/* The last month through which hub_records_strip() finished (meta counter
 * HUB_META_RECORDS_STRIPPED; 0 when never), read in its own transaction. */
NMO_WUR int hub_records_stripped_through(struct hub_store *st, uint32_t *month);

/* Records in the caller's write transaction that the records of month and
 * before are stripped (the counter only grows). */
NMO_WUR int hub_records_mark_stripped(MDB_txn *txn, struct hub_store *st, uint32_t month);
