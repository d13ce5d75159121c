/* ingest.h: the hub's ingest pipeline for a batch of envelopes.
 *
 * For every envelope, in order: the member of the connection must still be
 * active (checked inside the write transaction, so a revocation committed by
 * the operator applies to the very next message); the member must be within
 * its rate; the member's enrolled payload key must be usable; the envelope
 * must open under the key shared with that member (so a payload sealed by one
 * member and sent over another member's connection is refused: no two members
 * ever share a payload key, member.h); the signal must validate and not be
 * dated ahead of the hub clock; a signal id the member used before is answered
 * with the original receipt (once its epoch has closed and the record is cut
 * down, records.h, with a fresh one dated the epoch's start); a sealed box
 * stored before (so first delivered
 * over another member's connection) is refused as sealed by another key
 * (SENDER_MISMATCH), crediting the sender with nothing.
 * Accepted signals are written and the whole batch is committed durably in one
 * LMDB transaction (group commit) before any reply leaves; every outcome, also
 * a refusal, gets a receipt signed by the hub: one Ed25519 signature a batch,
 * over the Merkle root of its receipts, padded (PROTOCOL.md 8.1). Receipts
 * carry the hour of the decision and no store sequence.
 *
 * A batch goes through two stages (hub_ingest_batch() runs both in turn),
 * so that a caller may open one batch while another commits in a second
 * thread (nmo-hub serve does not: a commit thread measured no better on
 * two shared cores, server.h):
 *   hub_ingest_open()    the CPU work, outside any write transaction: each
 *                        frame decoded once (envelope_view_parse()), the rate
 *                        decisions, and, in a read transaction, every envelope
 *                        that the checks before the opening let through as the
 *                        store is now, opened under its member's keys;
 *   hub_ingest_commit()  the write transaction: every check above again, in
 *                        order, against the store as it is now (so what a
 *                        batch committed in between, a revocation, a rotation,
 *                        the same envelope stored, decides); an envelope whose
 *                        member's keys are no longer those it was opened with
 *                        is opened again here; the duplicate checks, the
 *                        writes, the commit, the signatures.
 * Each frame is decoded once, and every step reads that one view, also when
 * the transaction runs again after the map grew. Commits are serial, so an
 * envelope sent twice, in one batch or in two batches opened before either
 * committed, is stored once: the second is answered as a duplicate from the
 * store. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"
#include "config.h"
#include "keys.h"
#include "receipt.h"
#include "store.h"

enum hub_outcome {
        HUB_OUTCOME_ACCEPTED = 1,
        HUB_OUTCOME_DUPLICATE = 2,
        HUB_OUTCOME_REJECTED = 3,
};

struct hub_item {
        /* Filled by the caller. */
        uint32_t member_id;      /* from the connection's ZAP User-Id; 0 if unknown */
        bool has_key_tag;        /* the User-Id named the key that passed the handshake */
        uint8_t key_tag[4];      /* its first bytes */
        const uint8_t *frame;    /* the envelope frame, borrowed */
        size_t len;
        bool extra_parts;        /* the message had more than one frame */
        /* Filled by hub_ingest_batch(). */
        enum hub_outcome outcome;
        Nmo__Reason reason;
        bool old_hub_key;        /* sealed to the hub payload key a rotation retired */
        uint8_t *reply;          /* Reply frame to send back, owned by the item */
        size_t reply_len;
        /* Internal: the serialised ReceiptBody before the batch is signed. */
        uint8_t *body;
        size_t body_len;
        bool duplicate;
        /* Internal: what hub_ingest_open() found, until hub_ingest_commit()
         * (holds plaintext; wiped and freed there, or by hub_item_clear()). */
        struct hub_opened *opened;
};

struct hub_ingest;

/* Sets up the pipeline over an open store with the hub's secret keys and the
 * aggregation that takes each accepted signal (all borrowed; they must outlive
 * the pipeline). ag may be NULL: signals are then stored and receipted only. */
NMO_WUR int hub_ingest_new(struct hub_ingest **ret, struct hub_store *st,
                           const struct keys_secret *hub, const struct hub_limits *limits,
                           struct hub_aggregate *ag);

/* The last hub key rotation (keyrot.h), all borrowed: prev, the retired
 * keys while the overlap runs (NULL otherwise), opens envelopes sealed to
 * the retired payload key and signs their receipts; ann (ann_len bytes, NULL
 * when there was no rotation) is attached to the reply to every envelope
 * sealed to old_payload, the retired payload public key. Call again with
 * prev NULL when the overlap ends. Both stages read these: call it only
 * when no batch is between hub_ingest_open() and the end of its
 * hub_ingest_commit(). */
void hub_ingest_set_rotation(struct hub_ingest *ig, const struct keys_secret *prev,
                             const uint8_t *ann, size_t ann_len,
                             const uint8_t old_payload[KEYS_KEY_BYTES]);

/* Wipes the per-member shared keys and frees; accepts NULL. */
void hub_ingest_free(struct hub_ingest *ig);

/* The first stage (above) for n items: decodes each frame, takes each rate
 * token and opens what the store lets through now; nothing is written. Call
 * it from one thread only (it keeps the shared-key cache and the rate
 * buckets); it may run while hub_ingest_commit() of an earlier batch runs in
 * another thread. Returns 0, or -ENOMEM when an item could not be prepared
 * (hub_ingest_commit() then refuses the batch as the store being
 * unavailable). */
NMO_WUR int hub_ingest_open(struct hub_ingest *ig, struct hub_item *items, size_t n);

/* The second stage for n items that hub_ingest_open() prepared: one write
 * transaction, committed, and the replies signed. Call it from one thread
 * at a time, in the order the batches are to be stored. Every item gets a
 * reply, also when the store cannot commit (then every item is rejected
 * with REASON_STORE_UNAVAILABLE, which nodes retry, and the error is
 * returned). The durability rule of hub_ingest_batch() below applies. */
NMO_WUR int hub_ingest_commit(struct hub_ingest *ig, struct hub_item *items, size_t n);

/* hub_ingest_open() and hub_ingest_commit() in turn: n items as one group
 * commit. Every item gets a reply, also when
 * the store cannot commit (then every item is rejected with
 * REASON_STORE_UNAVAILABLE, which nodes retry, and the error is returned).
 *
 * When the private store defers its meta page sync (MDB_NOMETASYNC, as
 * nmo-hub serve opens it: one device flush a commit instead of two), a
 * committed batch is durable only once the next hub_ingest_batch() has
 * committed (its flush covers the one before) or hub_ingest_sync() has
 * returned 0; its replies must not leave before. Without the flag every
 * commit is durable at once. */
NMO_WUR int hub_ingest_batch(struct hub_ingest *ig, struct hub_item *items, size_t n);

/* Makes every committed batch durable (a sync of the private store). Call it
 * from the thread that runs hub_ingest_commit(). */
NMO_WUR int hub_ingest_sync(struct hub_ingest *ig);

/* Parses a ZAP User-Id "ID:TAG" (TAG: 8 hex digits of the member's transport
 * key) into the item. Returns false when it is not of that form. */
bool hub_item_set_user(struct hub_item *item, const char *user_id);

/* Frees an item's reply and receipt; the item may be reused. */
void hub_item_clear(struct hub_item *item);

/* Running totals since the pipeline started, for the daemon's log. */
struct hub_ingest_totals {
        uint64_t accepted;
        uint64_t duplicates;
        uint64_t rejected;
        uint64_t batches;
};
void hub_ingest_totals(struct hub_ingest *ig, struct hub_ingest_totals *out);

/* Takes the per-member rate limits (member_rate, member_burst) of limits from
 * the next batch on (a reload); the other limits stay as they were at
 * hub_ingest_new(). Call it from the thread that runs hub_ingest_open(). */
void hub_ingest_set_rates(struct hub_ingest *ig, const struct hub_limits *limits);
