/* outbox.c: the node's outbox on LMDB: opening it, queueing signals and the
 * delivery states (queued, in flight, requeued), and reading it back. See
 * outbox.h for the layout; the rest of the outbox is in outbox-*.c
 * (outbox-db.h). */
#include "outbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <lmdb.h>
#include <sodium.h>

#include "db.h"
#include "dirlock.h"
#include "envelope.h"
#include "log.h"
#include "receipt.h"
#include "outbox-db.h"

const char *outbox_state_name(enum outbox_state state)
{
        switch (state) {
        case OUTBOX_QUEUED:
                return "queued";
        case OUTBOX_IN_FLIGHT:
                return "in-flight";
        case OUTBOX_DELIVERED:
                return "delivered";
        case OUTBOX_REJECTED:
                return "rejected";
        default:
                return "unknown";
        }
}


static int open_dbis(struct outbox *ob, MDB_txn *txn, unsigned int flags)
{
        int r;

        r = db_dbi_open(txn, "records", flags, &ob->records);
        if (r >= 0)
                r = db_dbi_open(txn, "index", flags, &ob->index);
        if (r >= 0)
                r = db_dbi_open(txn, "pending", flags, &ob->pending);
        if (r >= 0)
                r = db_dbi_open(txn, "meta", flags, &ob->meta);
        return r;
}

static int create_fn(struct outbox *ob, MDB_txn *txn, void *userdata)
{
        int r = open_dbis(ob, txn, MDB_CREATE);

        if (r >= 0)
                r = db_dbi_open(txn, "alerts", MDB_CREATE, &ob->alerts);
        ob->has_alerts = r >= 0;
        return r;
}

/* The agent starts with nothing in flight: whatever a previous agent sent
 * without hearing back is due again now. */
static int recover_fn(struct outbox *ob, MDB_txn *txn, void *userdata)
{
        size_t *count = userdata;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int rc, r = 0;

        *count = 0;
        rc = mdb_cursor_open(txn, ob->pending, &cur);
        if (rc)
                return db_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                Nmo__Node__Record *rec = NULL, copy;
                uint8_t kb[OUTBOX_SEQ_BYTES], vb[OUTBOX_PENDING_BYTES];
                MDB_val nk = { sizeof(kb), kb }, nv = { sizeof(vb), vb };
                uint64_t seq;

                if (k.mv_size != OUTBOX_SEQ_BYTES || v.mv_size != OUTBOX_PENDING_BYTES)
                        continue;
                /* In flight: its reply was lost with the last agent. Queued with
                 * a later attempt: due now too, since the wall clock that set
                 * the time may have been stepped back since (a node whose clock
                 * ran ahead and was corrected would otherwise wait that long). */
                if (((const uint8_t *)v.mv_data)[0] != OUTBOX_IN_FLIGHT &&
                    !(((const uint8_t *)v.mv_data)[0] == OUTBOX_QUEUED &&
                      outbox_get_be64((const uint8_t *)v.mv_data + 1) != 0))
                        continue;
                memcpy(kb, k.mv_data, sizeof(kb));
                seq = outbox_get_be64(kb);
                r = outbox_record_load(ob, txn, seq, &rec);
                if (r < 0) {
                        log_warn("outbox record %llu is unreadable (%s); left as it is",
                                 (unsigned long long)seq, strerror(-r));
                        r = 0;
                        continue;
                }
                copy = *rec;
                copy.state = NMO__NODE__STATE__STATE_QUEUED;
                copy.has_next_attempt_ms = 1;
                copy.next_attempt_ms = 0;
                r = outbox_record_store(ob, txn, seq, &copy);
                nmo__node__record__free_unpacked(rec, NULL);
                if (r < 0)
                        goto out;
                vb[0] = OUTBOX_QUEUED;
                outbox_put_be64(vb + 1, 0);
                rc = mdb_cursor_put(cur, &nk, &nv, MDB_CURRENT);
                if (rc) {
                        r = db_errno(rc);
                        goto out;
                }
                (*count)++;
        }
        if (rc != MDB_NOTFOUND)
                r = db_errno(rc);
out:
        mdb_cursor_close(cur);
        return r;
}

static int take_agent_lock(struct outbox *ob, const char *dir)
{
        char *path = util_path(dir, OUTBOX_AGENT_LOCK);
        pid_t holder;
        int r;

        if (!path)
                return -ENOMEM;
        r = dirlock_take(path, &ob->lock_fd, &holder);
        free(path);
        return r;
}

int outbox_open(struct outbox **ret, const char *dir, unsigned int flags, size_t mapsize)
{
        struct outbox *ob;
        MDB_txn *txn = NULL;
        size_t recovered = 0;
        int r = -ENOMEM;

        if ((flags & OUTBOX_READONLY) && (flags & OUTBOX_AGENT))
                return -EINVAL;
        ob = calloc(1, sizeof(*ob));
        if (!ob)
                return -ENOMEM;
        ob->lock_fd = -1;
        ob->readonly = flags & OUTBOX_READONLY;
        r = db_env_open(&ob->env, dir, OUTBOX_MAXDBS, mapsize ? mapsize : OUTBOX_MAP_INITIAL,
                        ob->readonly ? MDB_RDONLY : 0);
        if (r < 0)
                goto fail;
        if (flags & OUTBOX_AGENT) {
                r = take_agent_lock(ob, dir);
                if (r < 0)
                        goto fail;
        }
        if (ob->readonly) {
                r = db_txn_begin(ob->env, MDB_RDONLY, &txn);
                if (r < 0)
                        goto fail;
                r = open_dbis(ob, txn, 0);
                if (r >= 0) {
                        int a = db_dbi_open(txn, "alerts", 0, &ob->alerts);

                        ob->has_alerts = a >= 0;
                        if (a < 0 && a != -ENOENT)
                                r = a;
                }
                /* Committing keeps the handles for the life of the environment. */
                if (r >= 0)
                        r = db_errno(db_txn_commit(txn));
                else
                        db_txn_abort(txn);
        } else {
                r = outbox_db_write(ob, create_fn, NULL);
        }
        if (r < 0)
                goto fail;
        if (flags & OUTBOX_AGENT) {
                r = outbox_db_write(ob, recover_fn, &recovered);
                if (r < 0)
                        goto fail;
                if (recovered)
                        log_info("%zu signal%s waiting or left in flight by an earlier run "
                                 "due now", recovered, recovered == 1 ? "" : "s");
        }
        *ret = ob;
        return 0;
fail:
        outbox_free(ob);
        return r;
}

void outbox_free(struct outbox *ob)
{
        if (!ob)
                return;
        if (ob->env)
                db_env_close(ob->env);
        if (ob->lock_fd >= 0)
                dirlock_release(ob->lock_fd);
        free(ob);
}

struct put_ctx {
        const struct outbox_new *items;
        size_t n;
        uint64_t now_ms;
        const uint8_t *member_pk;       /* NULL: not checked */
};

/* Is member_pk the key the outbox's envelopes are sealed with? Yes when no
 * key rotation has recorded one. 0, -ESTALE, or an LMDB failure. */
static int check_sealing_key(struct outbox *ob, MDB_txn *txn, const uint8_t *member_pk)
{
        MDB_val k = { sizeof(OUTBOX_META_SEALING_KEY) - 1, (void *)OUTBOX_META_SEALING_KEY }, v;
        int rc = mdb_get(txn, ob->meta, &k, &v);

        if (rc == MDB_NOTFOUND)
                return 0;
        if (rc)
                return db_errno(rc);
        if (v.mv_size != OUTBOX_KEY_BYTES)
                return -EBADMSG;
        return sodium_memcmp(v.mv_data, member_pk, OUTBOX_KEY_BYTES) == 0 ? 0 : -ESTALE;
}

static int put_fn(struct outbox *ob, MDB_txn *txn, void *userdata)
{
        const struct put_ctx *ctx = userdata;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        uint64_t last = 0;
        int rc, r;

        if (ctx->member_pk) {
                r = check_sealing_key(ob, txn, ctx->member_pk);
                if (r < 0)
                        return r;
        }
        rc = mdb_cursor_open(txn, ob->records, &cur);
        if (rc)
                return db_errno(rc);
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (rc == 0 && k.mv_size == OUTBOX_SEQ_BYTES)
                last = outbox_get_be64(k.mv_data);
        mdb_cursor_close(cur);
        if (rc && rc != MDB_NOTFOUND)
                return db_errno(rc);
        if (rc == 0 && k.mv_size != OUTBOX_SEQ_BYTES)
                return -EBADMSG;

        for (size_t i = 0; i < ctx->n; i++) {
                const struct outbox_new *it = &ctx->items[i];
                Nmo__Node__Record rec = NMO__NODE__RECORD__INIT;
                uint64_t seq = last + 1 + i;
                uint8_t sb[OUTBOX_SEQ_BYTES];
                MDB_val ik = { SIGNAL_ID_BYTES, (void *)it->signal_id };
                MDB_val iv = { sizeof(sb), sb };

                outbox_put_be64(sb, seq);
                rc = mdb_put(txn, ob->index, &ik, &iv, MDB_NOOVERWRITE);
                if (rc)
                        return db_errno(rc);
                rec.has_signal_id = 1;
                rec.signal_id.data = (uint8_t *)it->signal_id;
                rec.signal_id.len = SIGNAL_ID_BYTES;
                rec.has_envelope = 1;
                rec.envelope.data = (uint8_t *)it->envelope;
                rec.envelope.len = it->envelope_len;
                rec.has_state = 1;
                rec.state = NMO__NODE__STATE__STATE_QUEUED;
                rec.has_queued_at_ms = 1;
                rec.queued_at_ms = ctx->now_ms;
                rec.has_attempts = 1;
                rec.attempts = 0;
                rec.has_next_attempt_ms = 1;
                rec.next_attempt_ms = 0;
                r = outbox_record_store(ob, txn, seq, &rec);
                if (r < 0)
                        return r;
                r = outbox_pending_store(ob, txn, seq, OUTBOX_QUEUED, 0);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int put_checked(struct outbox *ob, const struct outbox_new *items, size_t n,
                       uint64_t now_ms, const uint8_t *member_pk)
{
        struct put_ctx ctx = { items, n, now_ms, member_pk };

        if (ob->readonly)
                return -EROFS;
        for (size_t i = 0; i < n; i++)
                if (!items[i].signal_id || !items[i].envelope || items[i].envelope_len == 0 ||
                    items[i].envelope_len > ENVELOPE_MAX)
                        return -EINVAL;
        if (n == 0)
                return 0;
        return outbox_db_write(ob, put_fn, &ctx);
}

int outbox_put_batch(struct outbox *ob, const struct outbox_new *items, size_t n, uint64_t now_ms)
{
        return put_checked(ob, items, n, now_ms, NULL);
}

int outbox_put_sealed(struct outbox *ob, const struct outbox_new *items, size_t n,
                      uint64_t now_ms, const uint8_t *member_pk)
{
        if (!member_pk)
                return -EINVAL;
        return put_checked(ob, items, n, now_ms, member_pk);
}

void outbox_due_free(struct outbox_due *due, size_t n)
{
        if (!due)
                return;
        for (size_t i = 0; i < n; i++)
                free(due[i].envelope);
        free(due);
}

int outbox_next_due(struct outbox *ob, uint64_t now_ms, size_t max, struct outbox_due **ret,
                    size_t *n)
{
        struct outbox_due *due = NULL;
        size_t count = 0, cap = 0;
        MDB_txn *txn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int rc, r;

        *ret = NULL;
        *n = 0;
        if (max == 0)
                return 0;
        r = db_txn_begin(ob->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(txn, ob->pending, &cur);
        if (rc) {
                r = db_errno(rc);
                goto out;
        }
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && count < max;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                const uint8_t *pv = v.mv_data;
                Nmo__Node__Record *rec = NULL;
                uint64_t seq;

                if (k.mv_size != OUTBOX_SEQ_BYTES || v.mv_size != OUTBOX_PENDING_BYTES)
                        continue;
                if (pv[0] != OUTBOX_QUEUED || outbox_get_be64(pv + 1) > now_ms)
                        continue;
                seq = outbox_get_be64(k.mv_data);
                r = outbox_record_load(ob, txn, seq, &rec);
                if (r < 0) {
                        log_warn("outbox record %llu is unreadable (%s); skipped",
                                 (unsigned long long)seq, strerror(-r));
                        continue;
                }
                if (count == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        struct outbox_due *nd = realloc(due, ncap * sizeof(*due));
                        if (!nd) {
                                nmo__node__record__free_unpacked(rec, NULL);
                                r = -ENOMEM;
                                goto out;
                        }
                        due = nd;
                        cap = ncap;
                }
                due[count].seq = seq;
                memcpy(due[count].signal_id, rec->signal_id.data, SIGNAL_ID_BYTES);
                due[count].attempts = rec->has_attempts ? rec->attempts : 0;
                due[count].envelope_len = rec->envelope.len;
                due[count].envelope = malloc(rec->envelope.len);
                if (!due[count].envelope) {
                        nmo__node__record__free_unpacked(rec, NULL);
                        r = -ENOMEM;
                        goto out;
                }
                memcpy(due[count].envelope, rec->envelope.data, rec->envelope.len);
                count++;
                nmo__node__record__free_unpacked(rec, NULL);
        }
        if (rc && rc != MDB_NOTFOUND) {
                r = db_errno(rc);
                goto out;
        }
        *ret = due;
        *n = count;
        due = NULL;
        r = 0;
out:
        outbox_due_free(due, count);
        if (cur)
                mdb_cursor_close(cur);
        db_txn_abort(txn);
        return r;
}

struct seqs_ctx {
        const uint64_t *seqs;
        size_t n;
        uint64_t now_ms;
        const struct outbox_backoff *bo;
        const char *why;
};

static int mark_fn(struct outbox *ob, MDB_txn *txn, void *userdata)
{
        const struct seqs_ctx *ctx = userdata;

        for (size_t i = 0; i < ctx->n; i++) {
                Nmo__Node__Record *rec = NULL, copy;
                int r = outbox_record_load(ob, txn, ctx->seqs[i], &rec);

                if (r == -ENOENT || r == -EBADMSG)
                        continue;
                if (r < 0)
                        return r;
                if (rec->state != NMO__NODE__STATE__STATE_QUEUED) {
                        nmo__node__record__free_unpacked(rec, NULL);
                        continue;
                }
                copy = *rec;
                copy.state = NMO__NODE__STATE__STATE_IN_FLIGHT;
                copy.has_attempts = 1;
                copy.attempts = rec->attempts < UINT32_MAX ? rec->attempts + 1 : UINT32_MAX;
                r = outbox_record_store(ob, txn, ctx->seqs[i], &copy);
                if (r >= 0)
                        r = outbox_pending_store(ob, txn, ctx->seqs[i], OUTBOX_IN_FLIGHT,
                                          copy.next_attempt_ms);
                nmo__node__record__free_unpacked(rec, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

int outbox_mark_in_flight(struct outbox *ob, const uint64_t *seqs, size_t n)
{
        struct seqs_ctx ctx = { seqs, n, 0, NULL, NULL };

        if (ob->readonly)
                return -EROFS;
        if (n == 0)
                return 0;
        return outbox_db_write(ob, mark_fn, &ctx);
}


static int requeue_fn(struct outbox *ob, MDB_txn *txn, void *userdata)
{
        const struct seqs_ctx *ctx = userdata;
        char why[OUTBOX_TEXT_MAX + 1];

        if (ctx->why)
                outbox_clip_text(why, ctx->why);
        for (size_t i = 0; i < ctx->n; i++) {
                Nmo__Node__Record *rec = NULL, copy;
                int r = outbox_record_load(ob, txn, ctx->seqs[i], &rec);

                if (r == -ENOENT || r == -EBADMSG)
                        continue;
                if (r < 0)
                        return r;
                if (rec->state != NMO__NODE__STATE__STATE_IN_FLIGHT) {
                        nmo__node__record__free_unpacked(rec, NULL);
                        continue;
                }
                copy = *rec;
                copy.state = NMO__NODE__STATE__STATE_QUEUED;
                copy.has_next_attempt_ms = 1;
                if (ctx->bo) {
                        copy.next_attempt_ms = outbox_retry_at(ctx->now_ms, rec->attempts, ctx->bo);
                        if (ctx->why)
                                copy.last_error = why;
                } else {
                        copy.next_attempt_ms = 0;
                }
                r = outbox_record_store(ob, txn, ctx->seqs[i], &copy);
                if (r >= 0)
                        r = outbox_pending_store(ob, txn, ctx->seqs[i], OUTBOX_QUEUED,
                                          copy.next_attempt_ms);
                nmo__node__record__free_unpacked(rec, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

int outbox_requeue(struct outbox *ob, const uint64_t *seqs, size_t n, uint64_t now_ms,
                   const struct outbox_backoff *bo, const char *why)
{
        struct seqs_ctx ctx = { seqs, n, now_ms, bo, why };

        if (ob->readonly)
                return -EROFS;
        if (n == 0)
                return 0;
        return outbox_db_write(ob, requeue_fn, &ctx);
}


static void entry_fill(struct outbox_entry *e, uint64_t seq, const Nmo__Node__Record *rec)
{
        memset(e, 0, sizeof(*e));
        e->seq = seq;
        memcpy(e->signal_id, rec->signal_id.data, SIGNAL_ID_BYTES);
        e->state = (enum outbox_state)rec->state;
        e->queued_at_ms = rec->queued_at_ms;
        e->attempts = rec->attempts;
        e->next_attempt_ms = rec->next_attempt_ms;
        e->last_error = rec->last_error ? rec->last_error : "";
        e->envelope_len = rec->envelope.len;
        if (rec->has_signed_receipt) {
                e->signed_receipt = rec->signed_receipt.data;
                e->signed_receipt_len = rec->signed_receipt.len;
        }
        e->duplicate = rec->has_duplicate && rec->duplicate;
        e->receipt_status = (int)rec->receipt_status;
        e->reason = (int)rec->reason;
        e->detail = rec->detail ? rec->detail : "";
        e->hub_time_ms = rec->hub_time_ms;
}

int outbox_db_scan(struct outbox *ob, MDB_dbi dbi, outbox_scan_fn fn, void *userdata)
{
        MDB_txn *txn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        bool corrupt = false;
        int rc, r;

        r = db_txn_begin(ob->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(txn, dbi, &cur);
        if (rc) {
                r = db_errno(rc);
                goto out;
        }
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                r = fn(&k, &v, &corrupt, userdata);
                if (r != 0)
                        goto out;
        }
        r = rc == MDB_NOTFOUND ? 0 : db_errno(rc);
        if (r == 0 && corrupt)
                r = -EBADMSG;
out:
        if (cur)
                mdb_cursor_close(cur);
        db_txn_abort(txn);
        return r;
}

struct foreach_ctx {
        outbox_entry_fn fn;
        void *userdata;
};

static int foreach_one(const MDB_val *k, const MDB_val *v, bool *corrupt, void *userdata)
{
        struct foreach_ctx *c = userdata;
        Nmo__Node__Record *rec = NULL;
        struct outbox_entry e;
        int r;

        if (k->mv_size != OUTBOX_SEQ_BYTES || outbox_record_decode(v, &rec) < 0) {
                *corrupt = true;
                return 0;
        }
        entry_fill(&e, outbox_get_be64(k->mv_data), rec);
        r = c->fn(&e, c->userdata);
        nmo__node__record__free_unpacked(rec, NULL);
        return r;
}

int outbox_foreach(struct outbox *ob, outbox_entry_fn fn, void *userdata)
{
        struct foreach_ctx c = { fn, userdata };

        return outbox_db_scan(ob, ob->records, foreach_one, &c);
}

int outbox_get(struct outbox *ob, const uint8_t id[SIGNAL_ID_BYTES], outbox_entry_fn fn,
               void *userdata)
{
        Nmo__Node__Record *rec = NULL;
        struct outbox_entry e;
        MDB_txn *txn = NULL;
        uint64_t seq = 0;
        int r;

        r = db_txn_begin(ob->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        r = outbox_seq_of(ob, txn, id, &seq);
        if (r < 0)
                goto out;
        r = outbox_record_load(ob, txn, seq, &rec);
        if (r == -ENOENT)
                r = -EBADMSG; /* indexed but missing */
        if (r < 0)
                goto out;
        entry_fill(&e, seq, rec);
        r = fn(&e, userdata);
        nmo__node__record__free_unpacked(rec, NULL);
out:
        db_txn_abort(txn);
        return r;
}

static int count_fn(const struct outbox_entry *e, void *userdata)
{
        struct outbox_counts *c = userdata;

        if ((e->state == OUTBOX_QUEUED || e->state == OUTBOX_IN_FLIGHT) &&
            (!c->oldest_pending_ms || e->queued_at_ms < c->oldest_pending_ms))
                c->oldest_pending_ms = e->queued_at_ms;
        switch (e->state) {
        case OUTBOX_QUEUED:
                c->queued++;
                break;
        case OUTBOX_IN_FLIGHT:
                c->in_flight++;
                break;
        case OUTBOX_DELIVERED:
                c->delivered++;
                break;
        case OUTBOX_REJECTED:
                c->rejected++;
                break;
        }
        return 0;
}

int outbox_counts(struct outbox *ob, struct outbox_counts *c)
{
        memset(c, 0, sizeof(*c));
        return outbox_foreach(ob, count_fn, c);
}

int outbox_pending(struct outbox *ob, uint64_t *queued, uint64_t *in_flight)
{
        uint64_t q = 0, f = 0;
        MDB_txn *txn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int rc, r;

        r = db_txn_begin(ob->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(txn, ob->pending, &cur);
        if (rc) {
                r = db_errno(rc);
                goto out;
        }
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                if (v.mv_size != OUTBOX_PENDING_BYTES)
                        continue;
                if (((const uint8_t *)v.mv_data)[0] == OUTBOX_IN_FLIGHT)
                        f++;
                else
                        q++;
        }
        r = rc == MDB_NOTFOUND ? 0 : db_errno(rc);
        if (r == 0) {
                if (queued)
                        *queued = q;
                if (in_flight)
                        *in_flight = f;
        }
out:
        if (cur)
                mdb_cursor_close(cur);
        db_txn_abort(txn);
        return r;
}
