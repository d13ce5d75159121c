/* outbox-reseal.c: re-sealing what is still to be delivered for a member key
 * rotation (outbox_reseal_pending(), outbox.h), remembering the replaced
 * envelopes that the hub may still answer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lmdb.h>

#include "db.h"
#include "log.h"
#include "outbox-db.h"
#include "receipt.h"

struct reseal_ctx {
        const uint8_t *old_pk;
        const uint8_t *new_pk;
        outbox_reseal_fn fn;
        void *userdata;
        size_t resealed;
        size_t kept;
};

/* Replaces the envelope of record seq (loaded as rec) by out, remembering the
 * old one when it had been sent. */
static int reseal_store(struct outbox *ob, MDB_txn *txn, const struct reseal_ctx *ctx,
                        uint64_t seq, const Nmo__Node__Record *rec, uint8_t *out, size_t out_len)
{
        Nmo__Node__FormerEnvelope fresh = NMO__NODE__FORMER_ENVELOPE__INIT;
        Nmo__Node__FormerEnvelope *list[OUTBOX_FORMER_MAX];
        Nmo__Node__Record copy = *rec;
        uint8_t hash[ENVELOPE_HASH_BYTES];
        size_t keep;

        copy.envelope.data = out;
        copy.envelope.len = out_len;
        if (rec->attempts > 0) {
                /* The hub may hold the old one: keep what identifies its receipt. */
                envelope_hash(rec->envelope.data, rec->envelope.len, hash);
                fresh.has_hash = 1;
                fresh.hash.data = hash;
                fresh.hash.len = sizeof(hash);
                fresh.has_member_key = 1;
                fresh.member_key.data = (uint8_t *)ctx->old_pk;
                fresh.member_key.len = OUTBOX_KEY_BYTES;
                keep = rec->n_former < OUTBOX_FORMER_MAX ? rec->n_former : OUTBOX_FORMER_MAX - 1;
                for (size_t i = 0; i < keep; i++)
                        list[i] = rec->former[rec->n_former - keep + i];
                list[keep] = &fresh;
                copy.n_former = keep + 1;
                copy.former = list;
        }
        return outbox_record_store(ob, txn, seq, &copy);
}

static int reseal_fn(struct outbox *ob, MDB_txn *txn, void *userdata)
{
        struct reseal_ctx *ctx = userdata;
        MDB_val mk = { sizeof(OUTBOX_META_SEALING_KEY) - 1, (void *)OUTBOX_META_SEALING_KEY };
        MDB_val mv = { OUTBOX_KEY_BYTES, (void *)ctx->new_pk };
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int rc, r = 0;

        ctx->resealed = ctx->kept = 0;
        rc = mdb_cursor_open(txn, ob->pending, &cur);
        if (rc)
                return db_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                Nmo__Node__Record *rec = NULL;
                uint8_t *out = NULL;
                size_t out_len = 0;
                uint64_t seq;

                if (k.mv_size != OUTBOX_SEQ_BYTES)
                        continue;
                seq = outbox_get_be64(k.mv_data);
                r = outbox_record_load(ob, txn, seq, &rec);
                if (r < 0) {
                        log_warn("outbox record %llu is unreadable (%s); left as it is",
                                 (unsigned long long)seq, strerror(-r));
                        r = 0;
                        continue;
                }
                if (rec->state != NMO__NODE__STATE__STATE_QUEUED &&
                    rec->state != NMO__NODE__STATE__STATE_IN_FLIGHT) {
                        nmo__node__record__free_unpacked(rec, NULL);
                        continue;
                }
                r = ctx->fn(rec->signal_id.data, rec->envelope.data, rec->envelope.len, &out,
                            &out_len, ctx->userdata);
                if (r == -EALREADY) {
                        ctx->kept++;
                        r = 0;
                } else if (r >= 0 && (!out || out_len == 0 || out_len > ENVELOPE_MAX)) {
                        r = -EINVAL;
                } else if (r >= 0) {
                        r = reseal_store(ob, txn, ctx, seq, rec, out, out_len);
                        if (r >= 0)
                                ctx->resealed++;
                }
                free(out);
                nmo__node__record__free_unpacked(rec, NULL);
                if (r < 0)
                        goto out;
        }
        if (rc != MDB_NOTFOUND) {
                r = db_errno(rc);
                goto out;
        }
        r = db_errno(mdb_put(txn, ob->meta, &mk, &mv, 0));
out:
        mdb_cursor_close(cur);
        return r;
}

int outbox_reseal_pending(struct outbox *ob, const uint8_t *old_pk, const uint8_t *new_pk,
                          outbox_reseal_fn fn, void *userdata, size_t *resealed, size_t *kept)
{
        struct reseal_ctx ctx = { old_pk, new_pk, fn, userdata, 0, 0 };
        int r;

        if (ob->readonly)
                return -EROFS;
        if (!old_pk || !new_pk || !fn)
                return -EINVAL;
        r = outbox_db_write(ob, reseal_fn, &ctx);
        if (r < 0)
                return r;
        if (resealed)
                *resealed = ctx.resealed;
        if (kept)
                *kept = ctx.kept;
        return 0;
}
