/* outbox.c: the node's outbox on LMDB. See outbox.h for the layout. */
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

#include "alert.h"
#include "db.h"
#include "dirlock.h"
#include "envelope.h"
#include "log.h"
#include "receipt.h"
#include "outbox.pb-c.h"

#define OUTBOX_MAXDBS 8
#define SEQ_BYTES 8
/* pending value: state byte, then the next attempt as big-endian ms. */
#define PENDING_BYTES 9
/* Largest meta value read back. */
#define META_MAX 1024

static const char meta_hub_error[] = "last_hub_error";
static const char meta_sealing_key[] = "sealing_key";
static const char meta_hub_link[] = "hub_link";

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

static void put_be64(uint8_t out[8], uint64_t v)
{
        for (int i = 7; i >= 0; i--) {
                out[i] = (uint8_t)(v & 0xff);
                v >>= 8;
        }
}

static uint64_t get_be64(const uint8_t in[8])
{
        uint64_t v = 0;

        for (int i = 0; i < 8; i++)
                v = (v << 8) | in[i];
        return v;
}

/* Decodes and checks one record value. The caller frees *ret with
 * nmo__node__record__free_unpacked(). */
static int record_decode(const MDB_val *v, Nmo__Node__Record **ret)
{
        Nmo__Node__Record *rec;

        if (v->mv_size == 0 || v->mv_size > OUTBOX_RECORD_MAX)
                return -EBADMSG;
        rec = nmo__node__record__unpack(NULL, v->mv_size, v->mv_data);
        if (!rec)
                return -EBADMSG;
        if (!rec->has_signal_id || rec->signal_id.len != SIGNAL_ID_BYTES || !rec->has_envelope ||
            rec->envelope.len == 0 || rec->envelope.len > ENVELOPE_MAX || !rec->has_state ||
            rec->state < NMO__NODE__STATE__STATE_QUEUED ||
            rec->state > NMO__NODE__STATE__STATE_REJECTED ||
            (rec->has_signed_receipt && rec->signed_receipt.len > RECEIPT_MAX) ||
            rec->n_former > OUTBOX_FORMER_MAX) {
                nmo__node__record__free_unpacked(rec, NULL);
                return -EBADMSG;
        }
        for (size_t i = 0; i < rec->n_former; i++) {
                const Nmo__Node__FormerEnvelope *f = rec->former[i];

                if (!f->has_hash || f->hash.len != ENVELOPE_HASH_BYTES || !f->has_member_key ||
                    f->member_key.len != OUTBOX_KEY_BYTES) {
                        nmo__node__record__free_unpacked(rec, NULL);
                        return -EBADMSG;
                }
        }
        *ret = rec;
        return 0;
}

static int record_load(struct outbox *ob, MDB_txn *txn, uint64_t seq, Nmo__Node__Record **ret)
{
        uint8_t kb[SEQ_BYTES];
        MDB_val k = { sizeof(kb), kb }, v;
        int rc;

        put_be64(kb, seq);
        rc = mdb_get(txn, ob->records, &k, &v);
        if (rc)
                return db_errno(rc);
        return record_decode(&v, ret);
}

static int record_store(struct outbox *ob, MDB_txn *txn, uint64_t seq,
                        const Nmo__Node__Record *rec)
{
        uint8_t kb[SEQ_BYTES];
        MDB_val k = { sizeof(kb), kb }, v;
        size_t n = nmo__node__record__get_packed_size(rec);
        int rc;

        if (n > OUTBOX_RECORD_MAX)
                return -E2BIG;
        put_be64(kb, seq);
        v.mv_size = n;
        v.mv_data = NULL;
        rc = mdb_put(txn, ob->records, &k, &v, MDB_RESERVE);
        if (rc)
                return db_errno(rc);
        nmo__node__record__pack(rec, v.mv_data);
        return 0;
}

static int pending_store(struct outbox *ob, MDB_txn *txn, uint64_t seq, enum outbox_state state,
                         uint64_t next_ms)
{
        uint8_t kb[SEQ_BYTES], vb[PENDING_BYTES];
        MDB_val k = { sizeof(kb), kb }, v = { sizeof(vb), vb };

        put_be64(kb, seq);
        vb[0] = (uint8_t)state;
        put_be64(vb + 1, next_ms);
        return db_errno(mdb_put(txn, ob->pending, &k, &v, 0));
}

static int pending_delete(struct outbox *ob, MDB_txn *txn, uint64_t seq)
{
        uint8_t kb[SEQ_BYTES];
        MDB_val k = { sizeof(kb), kb };
        int rc;

        put_be64(kb, seq);
        rc = mdb_del(txn, ob->pending, &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : db_errno(rc);
}

static int seq_of(struct outbox *ob, MDB_txn *txn, const uint8_t id[SIGNAL_ID_BYTES],
                  uint64_t *seq)
{
        MDB_val k = { SIGNAL_ID_BYTES, (void *)id }, v;
        int rc = mdb_get(txn, ob->index, &k, &v);

        if (rc)
                return db_errno(rc);
        if (v.mv_size != SEQ_BYTES)
                return -EBADMSG;
        *seq = get_be64(v.mv_data);
        return 0;
}

typedef int (*write_fn)(struct outbox *ob, MDB_txn *txn, void *userdata);

struct write_call {
        struct outbox *ob;
        write_fn fn;
        void *userdata;
};

static int write_trampoline(MDB_txn *txn, void *userdata)
{
        struct write_call *c = userdata;

        return c->fn(c->ob, txn, c->userdata);
}

/* Runs fn in one write transaction and commits it (db_write(): a full map is
 * grown and fn run again from scratch, so fn must reset whatever it reports
 * through userdata; a full disk is -ENOSPC). */
static int outbox_write(struct outbox *ob, write_fn fn, void *userdata)
{
        struct write_call c = { ob, fn, userdata };

        return db_write(ob->env, write_trampoline, &c);
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
                uint8_t kb[SEQ_BYTES], vb[PENDING_BYTES];
                MDB_val nk = { sizeof(kb), kb }, nv = { sizeof(vb), vb };
                uint64_t seq;

                if (k.mv_size != SEQ_BYTES || v.mv_size != PENDING_BYTES)
                        continue;
                /* In flight: its reply was lost with the last agent. Queued with
                 * a later attempt: due now too, since the wall clock that set
                 * the time may have been stepped back since (a node whose clock
                 * ran ahead and was corrected would otherwise wait that long). */
                if (((const uint8_t *)v.mv_data)[0] != OUTBOX_IN_FLIGHT &&
                    !(((const uint8_t *)v.mv_data)[0] == OUTBOX_QUEUED &&
                      get_be64((const uint8_t *)v.mv_data + 1) != 0))
                        continue;
                memcpy(kb, k.mv_data, sizeof(kb));
                seq = get_be64(kb);
                r = record_load(ob, txn, seq, &rec);
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
                r = record_store(ob, txn, seq, &copy);
                nmo__node__record__free_unpacked(rec, NULL);
                if (r < 0)
                        goto out;
                vb[0] = OUTBOX_QUEUED;
                put_be64(vb + 1, 0);
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
                r = outbox_write(ob, create_fn, NULL);
        }
        if (r < 0)
                goto fail;
        if (flags & OUTBOX_AGENT) {
                r = outbox_write(ob, recover_fn, &recovered);
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
        MDB_val k = { sizeof(meta_sealing_key) - 1, (void *)meta_sealing_key }, v;
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
        if (rc == 0 && k.mv_size == SEQ_BYTES)
                last = get_be64(k.mv_data);
        mdb_cursor_close(cur);
        if (rc && rc != MDB_NOTFOUND)
                return db_errno(rc);
        if (rc == 0 && k.mv_size != SEQ_BYTES)
                return -EBADMSG;

        for (size_t i = 0; i < ctx->n; i++) {
                const struct outbox_new *it = &ctx->items[i];
                Nmo__Node__Record rec = NMO__NODE__RECORD__INIT;
                uint64_t seq = last + 1 + i;
                uint8_t sb[SEQ_BYTES];
                MDB_val ik = { SIGNAL_ID_BYTES, (void *)it->signal_id };
                MDB_val iv = { sizeof(sb), sb };

                put_be64(sb, seq);
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
                r = record_store(ob, txn, seq, &rec);
                if (r < 0)
                        return r;
                r = pending_store(ob, txn, seq, OUTBOX_QUEUED, 0);
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
        return outbox_write(ob, put_fn, &ctx);
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

                if (k.mv_size != SEQ_BYTES || v.mv_size != PENDING_BYTES)
                        continue;
                if (pv[0] != OUTBOX_QUEUED || get_be64(pv + 1) > now_ms)
                        continue;
                seq = get_be64(k.mv_data);
                r = record_load(ob, txn, seq, &rec);
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
                int r = record_load(ob, txn, ctx->seqs[i], &rec);

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
                r = record_store(ob, txn, ctx->seqs[i], &copy);
                if (r >= 0)
                        r = pending_store(ob, txn, ctx->seqs[i], OUTBOX_IN_FLIGHT,
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
        return outbox_write(ob, mark_fn, &ctx);
}

static uint64_t retry_at(uint64_t now_ms, uint32_t attempts, const struct outbox_backoff *bo)
{
        return now_ms + util_backoff_ms(attempts ? attempts : 1, bo->min_ms, bo->max_ms);
}

/* Copies text into buf of OUTBOX_TEXT_MAX + 1 bytes, cut at a character boundary. */
static void clip_text(char *buf, const char *text)
{
        size_t n = strlen(text);

        if (n > OUTBOX_TEXT_MAX) {
                n = OUTBOX_TEXT_MAX;
                while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
                        n--;
        }
        memcpy(buf, text, n);
        buf[n] = '\0';
}

static int requeue_fn(struct outbox *ob, MDB_txn *txn, void *userdata)
{
        const struct seqs_ctx *ctx = userdata;
        char why[OUTBOX_TEXT_MAX + 1];

        if (ctx->why)
                clip_text(why, ctx->why);
        for (size_t i = 0; i < ctx->n; i++) {
                Nmo__Node__Record *rec = NULL, copy;
                int r = record_load(ob, txn, ctx->seqs[i], &rec);

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
                        copy.next_attempt_ms = retry_at(ctx->now_ms, rec->attempts, ctx->bo);
                        if (ctx->why)
                                copy.last_error = why;
                } else {
                        copy.next_attempt_ms = 0;
                }
                r = record_store(ob, txn, ctx->seqs[i], &copy);
                if (r >= 0)
                        r = pending_store(ob, txn, ctx->seqs[i], OUTBOX_QUEUED,
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
        return outbox_write(ob, requeue_fn, &ctx);
}

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
        r = seq_of(ob, txn, rc->signal_id, &seq);
        if (r == -ENOENT || r == -EBADMSG)
                return r;
        if (r >= 0)
                r = record_load(ob, txn, seq, &rec);
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
                copy.next_attempt_ms = retry_at(ctx->now_ms, rec->attempts, ctx->bo);
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
                copy.has_hub_sequence = rc->sequence != 0;
                copy.hub_sequence = rc->sequence;
                copy.has_next_attempt_ms = 1;
                copy.next_attempt_ms = 0;
                if (ok)
                        copy.last_error = NULL;
        } else {
                r = -EPROTO;
                goto out;
        }
        r = record_store(ob, txn, seq, &copy);
        if (r >= 0)
                r = state == OUTBOX_QUEUED
                            ? pending_store(ob, txn, seq, state, copy.next_attempt_ms)
                            : pending_delete(ob, txn, seq);
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
                MDB_val k = { sizeof(meta_hub_error) - 1, (void *)meta_hub_error };
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
        return outbox_write(ob, apply_fn, &ctx);
}

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
        return record_store(ob, txn, seq, &copy);
}

static int reseal_fn(struct outbox *ob, MDB_txn *txn, void *userdata)
{
        struct reseal_ctx *ctx = userdata;
        MDB_val mk = { sizeof(meta_sealing_key) - 1, (void *)meta_sealing_key };
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

                if (k.mv_size != SEQ_BYTES)
                        continue;
                seq = get_be64(k.mv_data);
                r = record_load(ob, txn, seq, &rec);
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
        r = outbox_write(ob, reseal_fn, &ctx);
        if (r < 0)
                return r;
        if (resealed)
                *resealed = ctx.resealed;
        if (kept)
                *kept = ctx.kept;
        return 0;
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
        e->hub_sequence = rec->hub_sequence;
}

int outbox_foreach(struct outbox *ob, outbox_entry_fn fn, void *userdata)
{
        MDB_txn *txn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        bool corrupt = false;
        int rc, r;

        r = db_txn_begin(ob->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(txn, ob->records, &cur);
        if (rc) {
                r = db_errno(rc);
                goto out;
        }
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                Nmo__Node__Record *rec = NULL;
                struct outbox_entry e;

                if (k.mv_size != SEQ_BYTES || record_decode(&v, &rec) < 0) {
                        corrupt = true;
                        continue;
                }
                entry_fill(&e, get_be64(k.mv_data), rec);
                r = fn(&e, userdata);
                nmo__node__record__free_unpacked(rec, NULL);
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
        r = seq_of(ob, txn, id, &seq);
        if (r < 0)
                goto out;
        r = record_load(ob, txn, seq, &rec);
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
                if (v.mv_size != PENDING_BYTES)
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

struct hub_error_ctx {
        const char *message;
        uint64_t time_ms;
};

static int hub_error_fn(struct outbox *ob, MDB_txn *txn, void *userdata)
{
        const struct hub_error_ctx *ctx = userdata;
        MDB_val k = { sizeof(meta_hub_error) - 1, (void *)meta_hub_error }, v;
        Nmo__Node__HubError he = NMO__NODE__HUB_ERROR__INIT;
        char text[OUTBOX_TEXT_MAX + 1];
        int rc;

        if (!ctx->message) {
                rc = mdb_del(txn, ob->meta, &k, NULL);
                return rc == MDB_NOTFOUND ? 0 : db_errno(rc);
        }
        clip_text(text, ctx->message);
        he.message = text;
        he.has_time_ms = 1;
        he.time_ms = ctx->time_ms;
        v.mv_size = nmo__node__hub_error__get_packed_size(&he);
        v.mv_data = NULL;
        rc = mdb_put(txn, ob->meta, &k, &v, MDB_RESERVE);
        if (rc)
                return db_errno(rc);
        nmo__node__hub_error__pack(&he, v.mv_data);
        return 0;
}

int outbox_set_hub_error(struct outbox *ob, const char *message, uint64_t time_ms)
{
        struct hub_error_ctx ctx = { message, time_ms };

        if (ob->readonly)
                return -EROFS;
        return outbox_write(ob, hub_error_fn, &ctx);
}

int outbox_get_hub_error(struct outbox *ob, char *buf, size_t len, uint64_t *time_ms)
{
        MDB_val k = { sizeof(meta_hub_error) - 1, (void *)meta_hub_error }, v;
        Nmo__Node__HubError *he = NULL;
        MDB_txn *txn = NULL;
        int rc, r;

        if (len == 0)
                return -EINVAL;
        r = db_txn_begin(ob->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        rc = mdb_get(txn, ob->meta, &k, &v);
        if (rc) {
                r = db_errno(rc);
                goto out;
        }
        r = -EBADMSG;
        if (v.mv_size == 0 || v.mv_size > META_MAX)
                goto out;
        he = nmo__node__hub_error__unpack(NULL, v.mv_size, v.mv_data);
        if (!he || !he->message)
                goto out;
        snprintf(buf, len, "%s", he->message);
        if (time_ms)
                *time_ms = he->has_time_ms ? he->time_ms : 0;
        r = 0;
out:
        if (he)
                nmo__node__hub_error__free_unpacked(he, NULL);
        db_txn_abort(txn);
        return r;
}

static int hub_link_fn(struct outbox *ob, MDB_txn *txn, void *userdata)
{
        const struct outbox_hub_link *link = userdata;
        MDB_val k = { sizeof(meta_hub_link) - 1, (void *)meta_hub_link }, v;
        Nmo__Node__HubLink hl = NMO__NODE__HUB_LINK__INIT;
        int rc;

        hl.has_last_contact_ms = 1;
        hl.last_contact_ms = link->last_contact_ms;
        hl.has_next_retry_ms = 1;
        hl.next_retry_ms = link->next_retry_ms;
        v.mv_size = nmo__node__hub_link__get_packed_size(&hl);
        v.mv_data = NULL;
        rc = mdb_put(txn, ob->meta, &k, &v, MDB_RESERVE);
        if (rc)
                return db_errno(rc);
        nmo__node__hub_link__pack(&hl, v.mv_data);
        return 0;
}

int outbox_set_hub_link(struct outbox *ob, const struct outbox_hub_link *link)
{
        if (ob->readonly)
                return -EROFS;
        return outbox_write(ob, hub_link_fn, (void *)(uintptr_t)link);
}

int outbox_get_hub_link(struct outbox *ob, struct outbox_hub_link *link)
{
        MDB_val k = { sizeof(meta_hub_link) - 1, (void *)meta_hub_link }, v;
        Nmo__Node__HubLink *hl = NULL;
        MDB_txn *txn = NULL;
        int rc, r;

        memset(link, 0, sizeof(*link));
        r = db_txn_begin(ob->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        rc = mdb_get(txn, ob->meta, &k, &v);
        if (rc) {
                r = db_errno(rc);
                goto out;
        }
        r = -EBADMSG;
        if (v.mv_size > META_MAX)
                goto out;
        hl = nmo__node__hub_link__unpack(NULL, v.mv_size, v.mv_data);
        if (!hl)
                goto out;
        link->last_contact_ms = hl->has_last_contact_ms ? hl->last_contact_ms : 0;
        link->next_retry_ms = hl->has_next_retry_ms ? hl->next_retry_ms : 0;
        r = 0;
out:
        if (hl)
                nmo__node__hub_link__free_unpacked(hl, NULL);
        db_txn_abort(txn);
        return r;
}

bool outbox_alert_id_ok(const char *id)
{
        if (!id)
                return false;
        for (size_t i = 0; i < OUTBOX_ALERT_ID_LEN; i++)
                if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
                        return false;
        return id[OUTBOX_ALERT_ID_LEN] == '\0';
}

/* The revision of a stored SignedAlert; 0 when it does not decode. Only the
 * revision is read: the bytes were verified when they were stored, and
 * readers verify them again. */
static uint32_t stored_revision(const MDB_val *v)
{
        Nmo__SignedAlert *sa = NULL;
        Nmo__AlertBody *b = NULL;
        uint32_t rev = 0;

        if (v->mv_size == 0 || v->mv_size > ALERT_MAX)
                return 0;
        sa = nmo__signed_alert__unpack(NULL, v->mv_size, v->mv_data);
        if (sa && sa->has_body)
                b = nmo__alert_body__unpack(NULL, sa->body.len, sa->body.data);
        if (b && b->has_revision)
                rev = b->revision;
        if (b)
                nmo__alert_body__free_unpacked(b, NULL);
        if (sa)
                nmo__signed_alert__free_unpacked(sa, NULL);
        return rev;
}

struct put_alerts_ctx {
        const struct outbox_alert *alerts;
        size_t n;
        bool *stored;
};

static int put_alerts_fn(struct outbox *ob, MDB_txn *txn, void *userdata)
{
        const struct put_alerts_ctx *ctx = userdata;

        for (size_t i = 0; i < ctx->n; i++) {
                const struct outbox_alert *a = &ctx->alerts[i];
                MDB_val k = { OUTBOX_ALERT_ID_LEN, (void *)a->id }, v;
                int rc;

                if (ctx->stored)
                        ctx->stored[i] = false;
                /* Earlier alerts of this batch count: the transaction sees them. */
                rc = mdb_get(txn, ob->alerts, &k, &v);
                if (rc == 0 && stored_revision(&v) >= a->revision)
                        continue;
                if (rc && rc != MDB_NOTFOUND)
                        return db_errno(rc);
                v.mv_size = a->len;
                v.mv_data = (void *)a->signed_alert;
                rc = mdb_put(txn, ob->alerts, &k, &v, 0);
                if (rc)
                        return db_errno(rc);
                if (ctx->stored)
                        ctx->stored[i] = true;
        }
        return 0;
}

int outbox_put_alerts(struct outbox *ob, const struct outbox_alert *alerts, size_t n,
                      bool *stored)
{
        struct put_alerts_ctx ctx = { alerts, n, stored };

        if (ob->readonly)
                return -EROFS;
        for (size_t i = 0; i < n; i++)
                if (!outbox_alert_id_ok(alerts[i].id) || !alerts[i].signed_alert ||
                    alerts[i].len == 0 || alerts[i].len > ALERT_MAX)
                        return -EINVAL;
        if (n == 0)
                return 0;
        /* Nothing changed (a catch-up of alerts already held) commits no pages
         * and costs no fsync. */
        return outbox_write(ob, put_alerts_fn, &ctx);
}

int outbox_foreach_alert(struct outbox *ob, outbox_alert_fn fn, void *userdata)
{
        MDB_txn *txn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        bool corrupt = false;
        int rc, r;

        if (!ob->has_alerts)
                return 0;
        r = db_txn_begin(ob->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(txn, ob->alerts, &cur);
        if (rc) {
                r = db_errno(rc);
                goto out;
        }
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                if (k.mv_size != OUTBOX_ALERT_ID_LEN || v.mv_size == 0 || v.mv_size > ALERT_MAX) {
                        corrupt = true;
                        continue;
                }
                r = fn(v.mv_data, v.mv_size, userdata);
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
