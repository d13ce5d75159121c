/* journal.c: see journal.h. */
#include "journal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contrib.h"
#include "db.h"
#include "log.h"

/* The key of the fold database. */
#define FOLD_KEY "folded"

/* Journal entries folded per transaction at most (a backlog is folded in
 * several commits, each of bounded size). */
#define JOURNAL_FOLD_MAX 4096

struct hub_journal {
        struct hub_store *st;
        struct hub_epoch_keys *keys;
        /* Entries up to this sequence are in the contributions; the ingest
         * deletes them from the journal in its own transactions (so the
         * aggregation never takes the private store's writer). 0: unknown
         * until the first fold. */
        uint64_t folded_seq;
        /* Entries above this sequence may not be durable yet. */
        uint64_t durable_seq;
        /* The ingest thread trims and tells durability while the aggregation
         * thread folds. */
        pthread_mutex_t lock;
};

int hub_journal_new(struct hub_journal **ret, struct hub_store *st, struct hub_epoch_keys *keys)
{
        struct hub_journal *j = calloc(1, sizeof(*j));

        if (!j)
                return -ENOMEM;
        pthread_mutex_init(&j->lock, NULL);
        j->st = st;
        j->keys = keys;
        j->durable_seq = UINT64_MAX;
        *ret = j;
        return 0;
}

void hub_journal_free(struct hub_journal *j)
{
        if (!j)
                return;
        pthread_mutex_destroy(&j->lock);
        free(j);
}

int hub_journal_append(struct hub_journal *j, MDB_txn *txn, uint64_t seq, const uint8_t *key,
                       size_t klen, const uint8_t *sealed, size_t slen)
{
        uint8_t jkey[8], *entry;
        MDB_val k = { sizeof(jkey), jkey }, v;
        int r;

        if (klen > HUB_CONTRIB_KEY_MAX || klen < 4 + 2 + 8)
                return -EINVAL;
        entry = malloc(1 + klen + slen);
        if (!entry)
                return -ENOMEM;
        entry[0] = (uint8_t)klen;
        memcpy(entry + 1, key, klen);
        memcpy(entry + 1 + klen, sealed, slen);
        hub_store_put_u64(jkey, seq);
        v.mv_size = 1 + klen + slen;
        v.mv_data = entry;
        r = db_errno(mdb_put(txn, j->st->journal, &k, &v, MDB_NOOVERWRITE));
        free(entry);
        return r;
}

/* One entry of the journal, as read for a fold (pointers into a read txn). */
struct jentry {
        uint64_t seq;
        const uint8_t *key;      /* contributions key */
        size_t klen;
        MDB_val sealed;
};

/* A row after the fold: its key and sealed value (owned). */
struct folded {
        uint8_t key[HUB_CONTRIB_KEY_MAX];
        size_t klen;
        uint8_t *val;
        size_t vlen;
        uint32_t month;
        char material[HUB_MATERIAL_MAX];
};

struct fold {
        struct hub_journal *j;
        struct folded *rows;
        size_t nrows;
        uint64_t folded_seq;     /* the contributions hold entries up to this one */
        uint64_t last_seq;       /* entries up to this one are folded by this fold */
};

static int jentry_cmp(const void *a, const void *b)
{
        const struct jentry *x = a, *y = b;
        size_t n = x->klen < y->klen ? x->klen : y->klen;
        int c = memcmp(x->key, y->key, n);

        if (c)
                return c;
        if (x->klen != y->klen)
                return x->klen < y->klen ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Parses one journal value; false when damaged. */
static bool jentry_parse(const MDB_val *k, const MDB_val *v, struct jentry *e)
{
        const uint8_t *p = v->mv_data;
        size_t klen;

        if (k->mv_size != 8 || v->mv_size < 1)
                return false;
        klen = p[0];
        if (klen < 4 + 2 + 8 || klen > HUB_CONTRIB_KEY_MAX || v->mv_size < 1 + klen ||
            memchr(p + 1 + 4, 0, klen - 4 - 8) == NULL)
                return false;
        e->seq = hub_store_get_u64(k->mv_data);
        e->key = p + 1;
        e->klen = klen;
        e->sealed.mv_data = (void *)(p + 1 + klen);
        e->sealed.mv_size = v->mv_size - 1 - klen;
        return true;
}

static void fold_free(struct fold *f)
{
        for (size_t i = 0; i < f->nrows; i++)
                free(f->rows[i].val);
        free(f->rows);
        f->rows = NULL;
        f->nrows = 0;
}

/* Reads the entries above the folded sequence, up to the durable one and at
 * most JOURNAL_FOLD_MAX, into *es (pointers into txn; *more when entries
 * remain), and sets f->last_seq to the last one read (a damaged entry
 * included: it is skipped for good). */
static int fold_collect(struct fold *f, MDB_txn *txn, struct jentry **es, size_t *n,
                        bool *more)
{
        struct hub_journal *j = f->j;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        uint8_t from[8];
        uint64_t durable;
        size_t cap = 0;
        int rc;

        rc = mdb_cursor_open(txn, j->st->journal, &cur);
        if (rc)
                return db_errno(rc);
        /* What is folded already waits for the ingest to delete it. */
        hub_store_put_u64(from, f->folded_seq + 1);
        k.mv_size = sizeof(from);
        k.mv_data = from;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        pthread_mutex_lock(&j->lock);
        durable = j->durable_seq;
        pthread_mutex_unlock(&j->lock);
        for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                if (k.mv_size == 8 && hub_store_get_u64(k.mv_data) > durable)
                        break;
                if (*n == JOURNAL_FOLD_MAX) {
                        *more = true;
                        break;
                }
                if (*n == cap) {
                        size_t ncap = cap ? cap * 2 : 256;
                        struct jentry *g = realloc(*es, ncap * sizeof(*g));

                        if (!g) {
                                mdb_cursor_close(cur);
                                return -ENOMEM;
                        }
                        *es = g;
                        cap = ncap;
                }
                if (!jentry_parse(&k, &v, &(*es)[*n])) {
                        log_error("private store: a damaged journal entry is skipped");
                        if (k.mv_size == 8)
                                f->last_seq = hub_store_get_u64(k.mv_data);
                        continue;
                }
                f->last_seq = (*es)[*n].seq;
                (*n)++;
        }
        mdb_cursor_close(cur);
        return rc && rc != MDB_NOTFOUND ? db_errno(rc) : 0;
}

/* Merges the entries es[0..n) of one row key into the stored row (read in
 * ctxn) and seals the result into the next of f->rows. */
static int fold_group(struct fold *f, MDB_txn *ctxn, const struct jentry *es, size_t n)
{
        struct hub_epoch_key ek;
        struct folded *out = &f->rows[f->nrows];
        uint32_t month = hub_store_get_u32(es[0].key);
        const char *material = (const char *)es[0].key + 4;
        struct hub_contrib_row w;
        bool have = false;
        MDB_val ck = { es[0].klen, (void *)es[0].key }, cv;
        int rc, r;

        memset(&w, 0, sizeof(w));
        r = hub_epoch_key_get(f->j->keys, month, false, &ek);
        if (r == -ENOENT) {
                log_error("the key of epoch %06u is missing: %zu journal entries for "
                          "%s cannot be counted", month, n, material);
                return 0;
        }
        if (r < 0)
                return r;
        rc = mdb_get(ctxn, f->j->st->contributions, &ck, &cv);
        if (rc == 0) {
                r = hub_contrib_row_open(&ek, &cv, &w);
                if (r == -EBADMSG)
                        log_error("a summary of %06u/%s does not open with its epoch "
                                  "key", month, material);
                have = r == 0;
        } else if (rc != MDB_NOTFOUND) {
                r = db_errno(rc);
        }
        for (size_t e = 0; r == 0 && e < n; e++) {
                struct hub_contrib_row d;

                r = hub_contrib_row_open(&ek, &es[e].sealed, &d);
                if (r == -EBADMSG) {
                        log_error("a journal entry of %06u/%s does not open with its "
                                  "epoch key; skipped", month, material);
                        r = 0;
                        continue;
                }
                if (r == 0 && !have) {
                        w = d;
                        memset(&d, 0, sizeof(d));
                        have = true;
                } else if (r == 0) {
                        r = hub_contrib_row_merge(&w, &d);
                }
                hub_contrib_row_clear(&d);
        }
        if (r == 0 && have) {
                memcpy(out->key, es[0].key, es[0].klen);
                out->klen = es[0].klen;
                out->month = month;
                snprintf(out->material, HUB_MATERIAL_MAX, "%s", material);
                r = hub_contrib_row_seal(&w, &ek, &out->val, &out->vlen);
                if (r == 0)
                        f->nrows++;
        }
        hub_contrib_row_clear(&w);
        sodium_memzero(&ek, sizeof(ek));
        return r;
}

/* Reads up to JOURNAL_FOLD_MAX entries and merges them, by row, into the
 * stored rows (all in memory; nothing written yet). *more when entries remain. */
static int fold_read(struct fold *f, bool *more)
{
        struct hub_journal *j = f->j;
        struct jentry *es = NULL;
        size_t n = 0;
        MDB_txn *txn = NULL, *ctxn = NULL;
        int r;

        *more = false;
        r = db_txn_begin(j->st->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        r = db_txn_begin(j->st->cenv, MDB_RDONLY, &ctxn);
        if (r < 0) {
                ctxn = NULL;
                goto out;
        }
        r = hub_journal_folded_get(ctxn, j->st, &f->folded_seq);
        if (r < 0)
                goto out;
        f->last_seq = f->folded_seq;
        r = fold_collect(f, txn, &es, &n, more);
        if (r < 0)
                goto out;
        if (n)
                qsort(es, n, sizeof(*es), jentry_cmp);
        f->rows = n ? calloc(n, sizeof(*f->rows)) : NULL;
        if (n && !f->rows) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; r == 0 && i < n;) {
                size_t e = i;

                while (e < n && es[e].klen == es[i].klen &&
                       memcmp(es[e].key, es[i].key, es[i].klen) == 0)
                        e++;
                r = fold_group(f, ctxn, &es[i], e - i);
                i = e;
        }
out:
        if (ctxn)
                db_txn_abort(ctxn);
        db_txn_abort(txn);
        free(es);
        return r;
}

/* Writes the folded rows and how far the journal is folded, at once. */
static int fold_rows_txn(MDB_txn *ctxn, void *userdata)
{
        struct fold *f = userdata;
        MDB_val k = { sizeof(FOLD_KEY) - 1, (void *)FOLD_KEY }, v;
        uint8_t seq[8];
        int r;

        for (size_t i = 0; i < f->nrows; i++) {
                MDB_val rk = { f->rows[i].klen, f->rows[i].key };
                MDB_val rv = { f->rows[i].vlen, f->rows[i].val };

                r = db_errno(mdb_put(ctxn, f->j->st->contributions, &rk, &rv, 0));
                if (r < 0)
                        return r;
        }
        hub_store_put_u64(seq, f->last_seq);
        v.mv_size = sizeof(seq);
        v.mv_data = seq;
        return db_errno(mdb_put(ctxn, f->j->st->fold, &k, &v, 0));
}

int hub_journal_fold(struct hub_journal *j,
                     int (*changed)(void *userdata, uint32_t month, const char *material),
                     void *userdata)
{
        bool more = true;
        int r = 0;

        if (!j->st->journal || !j->st->cenv)
                return 0;
        while (r == 0 && more) {
                struct fold f = { j, NULL, 0, 0, 0 };

                r = fold_read(&f, &more);
                if (r == 0 && f.last_seq > f.folded_seq)
                        r = hub_store_write_contrib(j->st, fold_rows_txn, &f);
                if (r == 0) {
                        pthread_mutex_lock(&j->lock);
                        j->folded_seq = f.last_seq;
                        pthread_mutex_unlock(&j->lock);
                }
                for (size_t i = 0; r == 0 && changed && i < f.nrows; i++)
                        r = changed(userdata, f.rows[i].month, f.rows[i].material);
                fold_free(&f);
        }
        return r;
}

uint64_t hub_journal_folded(struct hub_journal *j)
{
        uint64_t seq;

        pthread_mutex_lock(&j->lock);
        seq = j->folded_seq;
        pthread_mutex_unlock(&j->lock);
        return seq;
}

/* Deletes up to max journal entries at or below seq, oldest first. */
static int trim_upto(MDB_txn *txn, struct hub_store *st, uint64_t seq, size_t max)
{
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        size_t n = 0;
        int rc, r = 0;

        rc = mdb_cursor_open(txn, st->journal, &cur);
        if (rc)
                return db_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < max;
             rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) {
                if (k.mv_size == 8 && hub_store_get_u64(k.mv_data) > seq)
                        break;
                rc = mdb_cursor_del(cur, 0);
                if (rc)
                        break;
                n++;
        }
        if (rc && rc != MDB_NOTFOUND)
                r = db_errno(rc);
        mdb_cursor_close(cur);
        return r;
}

void hub_journal_durable(struct hub_journal *j, uint64_t seq)
{
        pthread_mutex_lock(&j->lock);
        j->durable_seq = seq;
        pthread_mutex_unlock(&j->lock);
}

int hub_journal_trim(struct hub_journal *j, MDB_txn *txn, size_t max)
{
        uint64_t seq;

        if (!j->st->journal)
                return 0;
        seq = hub_journal_folded(j);
        return seq ? trim_upto(txn, j->st, seq, max) : 0;
}

int hub_journal_settle_epoch(struct hub_journal *j, MDB_txn *txn, uint32_t month)
{
        uint8_t prefix[4];
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int rc, r;

        hub_store_put_u32(prefix, month);
        /* What is folded goes; a signal of this epoch journaled after the last
         * fold: close later, once it is counted. */
        r = trim_upto(txn, j->st, hub_journal_folded(j), SIZE_MAX);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(txn, j->st->journal, &cur);
        if (rc)
                return db_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                struct jentry e;

                if (jentry_parse(&k, &v, &e) && memcmp(e.key, prefix, 4) == 0) {
                        r = -EAGAIN;
                        break;
                }
        }
        mdb_cursor_close(cur);
        return r;
}

int hub_journal_folded_get(MDB_txn *ctxn, struct hub_store *st, uint64_t *seq)
{
        MDB_val k = { sizeof(FOLD_KEY) - 1, (void *)FOLD_KEY }, v;
        int rc;

        *seq = 0;
        rc = mdb_get(ctxn, st->fold, &k, &v);
        if (rc == MDB_NOTFOUND)
                return 0;
        if (rc)
                return db_errno(rc);
        if (v.mv_size != 8)
                return -EBADMSG;
        *seq = hub_store_get_u64(v.mv_data);
        return 0;
}

int hub_journal_backlog(struct hub_store *st, MDB_txn *txn, uint64_t *waiting)
{
        MDB_txn *ctxn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        uint64_t folded = 0;
        uint8_t from[8];
        int r;

        *waiting = 0;
        if (!st->journal || !st->cenv)
                return -ENOENT;
        r = db_txn_begin(st->cenv, MDB_RDONLY, &ctxn);
        if (r < 0)
                return r;
        if (hub_journal_folded_get(ctxn, st, &folded) < 0)
                folded = 0;
        db_txn_abort(ctxn);
        hub_store_put_u64(from, folded + 1);
        k.mv_size = sizeof(from);
        k.mv_data = from;
        if (mdb_cursor_open(txn, st->journal, &cur) == 0) {
                for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
                     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
                        (*waiting)++;
                mdb_cursor_close(cur);
        }
        return 0;
}
