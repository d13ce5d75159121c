/* outbox-receipts.c: recording the hub's receipts in the outbox
 * (outbox_apply_receipts(), outbox.h): each receipt checked against the
 * stored record, including the envelopes a key rotation replaced. */
#include <errno.h>
#include <string.h>
#include <lmdb.h>
#include <sodium.h>

#include "db.h"
#include "outbox-db.h"
#include "envelope.h"
#include "receipt.h"

struct apply_ctx {
        const struct outbox_receipt *rs;
        size_t n;
        uint64_t now_ms;
        const struct outbox_backoff *bo;
        int *results;
};

/* Is rc the hub's receipt for one of the envelopes a key rotation replaced in
 * rec: the same hash, sealed with the key the receipt names? */
static bool former_match(const Nmo__Node__Record *rec, const struct receipt *rc)
{
        for (size_t i = 0; i < rec->n_former; i++) {
                const Nmo__Node__FormerEnvelope *f = rec->former[i];

                if (sodium_memcmp(f->hash.data, rc->envelope_hash, ENVELOPE_HASH_BYTES) == 0 &&
                    sodium_memcmp(f->member_key.data, rc->member_key, OUTBOX_KEY_BYTES) == 0)
                        return true;
        }
        return false;
}

/* Applies one receipt inside the transaction. Returns the per-receipt result
 * (0, -ENOENT, -EALREADY, -EPROTO, -EKEYREJECTED, -EBADMSG) or, for failures of the
 * transaction itself, sets *fatal. */
static int apply_one(struct outbox *ob, MDB_txn *txn, const struct apply_ctx *ctx,
                     const struct outbox_receipt *or, int *fatal)
{
        const struct receipt *rc = or->receipt;
        Nmo__Node__Record *rec = NULL, copy;
        uint8_t hash[ENVELOPE_HASH_BYTES];
        char text[OUTBOX_TEXT_MAX + 1];
        enum outbox_state state;
        bool former = false;
        uint64_t seq = 0;
        int r;

        *fatal = 0;
        if (!rc->has_id)
                return -ENOENT;
        r = outbox_seq_of(ob, txn, rc->signal_id, &seq);
        if (r == -ENOENT || r == -EBADMSG)
                return r;
        if (r >= 0)
                r = outbox_record_load(ob, txn, seq, &rec);
        if (r == -ENOENT || r == -EBADMSG)
                return -EBADMSG; /* indexed, but missing or unreadable */
        if (r < 0) {
                *fatal = r;
                return r;
        }
        if (rec->state == NMO__NODE__STATE__STATE_DELIVERED ||
            rec->state == NMO__NODE__STATE__STATE_REJECTED) {
                r = -EALREADY;
                goto out;
        }
        if (or->former_key) {
                if (!former_match(rec, rc)) {
                        r = -EKEYREJECTED;
                        goto out;
                }
                former = true;
        } else {
                envelope_hash(rec->envelope.data, rec->envelope.len, hash);
                if (sodium_memcmp(hash, rc->envelope_hash, sizeof(hash)) != 0) {
                        /* A hub key rotation replaced the envelope under the
                         * same member key: the receipt of the one sent before. */
                        if (!former_match(rec, rc)) {
                                r = -EPROTO;
                                goto out;
                        }
                        former = true;
                }
        }
        /* A refusal of a replaced envelope (sealed to a retired key, say)
         * says nothing of its replacement, which is sent and judged itself. */
        if (former && rc->status != NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED) {
                r = -ESTALE;
                goto out;
        }
        copy = *rec;
        if (rc->status == NMO__RECEIPT_STATUS__RECEIPT_REJECTED &&
            reason_is_temporary(rc->reason)) {
                state = OUTBOX_QUEUED;
                copy.state = NMO__NODE__STATE__STATE_QUEUED;
                copy.has_next_attempt_ms = 1;
                copy.next_attempt_ms = outbox_retry_at(ctx->now_ms, rec->attempts, ctx->bo);
                snprintf(text, sizeof(text), "%s%s%s", reason_name(rc->reason),
                         rc->detail[0] ? ": " : "", rc->detail);
                copy.last_error = text;
        } else if (rc->status == NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED ||
                   rc->status == NMO__RECEIPT_STATUS__RECEIPT_REJECTED) {
                bool ok = rc->status == NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED;

                state = ok ? OUTBOX_DELIVERED : OUTBOX_REJECTED;
                copy.state = ok ? NMO__NODE__STATE__STATE_DELIVERED
                                : NMO__NODE__STATE__STATE_REJECTED;
                copy.has_signed_receipt = 1;
                copy.signed_receipt.data = (uint8_t *)or->signed_receipt;
                copy.signed_receipt.len = or->signed_len;
                copy.has_duplicate = 1;
                copy.duplicate = or->duplicate;
                copy.has_reason = 1;
                copy.reason = (uint32_t)rc->reason;
                copy.has_receipt_status = 1;
                copy.receipt_status = (uint32_t)rc->status;
                copy.detail = rc->detail[0] ? (char *)rc->detail : NULL;
                copy.has_hub_time_ms = 1;
                copy.hub_time_ms = rc->hub_time_ms;
                /* A receipt of an older hub may carry a store sequence:
                 * nothing here depends on it, and it is not kept. */
                copy.has_hub_sequence = 0;
                copy.has_next_attempt_ms = 1;
                copy.next_attempt_ms = 0;
                if (ok)
                        copy.last_error = NULL;
        } else {
                r = -EPROTO;
                goto out;
        }
        r = outbox_record_store(ob, txn, seq, &copy);
        if (r >= 0)
                r = state == OUTBOX_QUEUED
                            ? outbox_pending_store(ob, txn, seq, state, copy.next_attempt_ms)
                            : outbox_pending_delete(ob, txn, seq);
        if (r < 0)
                *fatal = r;
out:
        nmo__node__record__free_unpacked(rec, NULL);
        return r;
}

static int apply_fn(struct outbox *ob, MDB_txn *txn, void *userdata)
{
        const struct apply_ctx *ctx = userdata;
        bool applied = false;

        for (size_t i = 0; i < ctx->n; i++) {
                int fatal = 0;
                int r = apply_one(ob, txn, ctx, &ctx->rs[i], &fatal);

                if (fatal < 0)
                        return fatal;
                if (ctx->results)
                        ctx->results[i] = r;
                if (r == 0)
                        applied = true;
        }
        if (applied) {
                MDB_val k = { sizeof(OUTBOX_META_HUB_ERROR) - 1, (void *)OUTBOX_META_HUB_ERROR };
                int rc = mdb_del(txn, ob->meta, &k, NULL);

                if (rc && rc != MDB_NOTFOUND)
                        return db_errno(rc);
        }
        return 0;
}

int outbox_apply_receipts(struct outbox *ob, const struct outbox_receipt *rs, size_t n,
                          uint64_t now_ms, const struct outbox_backoff *bo, int *results)
{
        struct apply_ctx ctx = { rs, n, now_ms, bo, results };

        if (ob->readonly)
                return -EROFS;
        for (size_t i = 0; i < n; i++)
                if (!rs[i].receipt || !rs[i].signed_receipt || rs[i].signed_len == 0 ||
                    rs[i].signed_len > RECEIPT_MAX)
                        return -EINVAL;
        if (n == 0)
                return 0;
        return outbox_db_write(ob, apply_fn, &ctx);
}
