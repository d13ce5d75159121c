/* aggregate.c: see aggregate.h. */
#include "aggregate.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "alert.h"
#include "db.h"
#include "disclosure.h"
#include "log.h"
#include "period.h"
#include "store.pb-c.h"
#include "vocab.h"
#include "writer.h"

#define EPOCH_KEY_BYTES 32
#define EPOCH_CACHE 4
#define MATERIAL_MAX 32
#define CONTRIB_PREFIX_MAX (4 + MATERIAL_MAX + 1)
#define CONTRIB_KEY_MAX (CONTRIB_PREFIX_MAX + 8)
#define KDF_CONTEXT "nmoepoch"
#define KDF_PSEUDONYM 1
#define KDF_SEAL 2

/* An epoch's secret and the two keys derived from it. */
struct epoch_key {
        uint32_t month;
        uint8_t pseudonym_key[crypto_generichash_KEYBYTES];
        uint8_t seal_key[crypto_secretbox_KEYBYTES];
};

struct dirty {
        uint32_t month;
        char material[MATERIAL_MAX];
};

/* How long the last recomputation of (month, material) took, and when it may
 * run again: at most every RECOMPUTE_SHARE times its own cost, so that the
 * aggregation of a large epoch takes a bounded share of the machine and the
 * analytics store lags by a time proportional to the epoch's size. */
#define RECOMPUTE_SHARE 10
#define RECOMPUTE_LAG_MAX_MS 60000

struct pace {
        uint32_t month;
        char material[MATERIAL_MAX];
        uint64_t not_before_ms;
};

struct hub_aggregate {
        char *hub_dir;
        char *key_dir;
        struct hub_store *st;
        struct hub_analytics *an;
        const struct keys_secret *hub;
        struct hub_privacy privacy;
        struct hub_alert_rules rules;
        struct epoch_key *keys;    /* sodium_malloc, EPOCH_CACHE entries */
        size_t nkeys;
        struct dirty *dirty;
        size_t ndirty, capdirty;
        struct pace *pace;
        size_t npace, cappace;
        /* Journal entries up to this sequence are in the contributions; the
         * ingest deletes them from the journal in its own transactions (so the
         * aggregation never takes the private store's writer). 0: unknown yet. */
        uint64_t folded_seq;
        /* Journal entries above this sequence may not be durable yet. */
        uint64_t durable_seq;
        /* The ingest thread's last check: in write transaction open_txn the
         * epoch of open_week (open_month) is open. */
        size_t open_txn;
        uint32_t open_week, open_month;
        /* The ingest thread adds contributions while the aggregation thread
         * flushes: the key cache and the dirty set are shared. */
        pthread_mutex_t lock;
};

char *hub_aggregate_key_path(const char *hub_dir, uint32_t month)
{
        char *p = NULL;

        if (asprintf(&p, "%s/private/epochs/%06u.key", hub_dir, month) < 0)
                return NULL;
        return p;
}

int hub_aggregate_new(struct hub_aggregate **ret, const char *hub_dir, struct hub_store *st,
                      struct hub_analytics *an, const struct keys_secret *hub,
                      const struct hub_config *cfg)
{
        struct hub_aggregate *ag = calloc(1, sizeof(*ag));
        int r = -ENOMEM;

        if (!ag)
                return -ENOMEM;
        pthread_mutex_init(&ag->lock, NULL);
        ag->hub_dir = strdup(hub_dir);
        ag->key_dir = util_path(hub_dir, "private/epochs");
        ag->keys = sodium_allocarray(EPOCH_CACHE, sizeof(*ag->keys));
        if (!ag->hub_dir || !ag->key_dir || !ag->keys)
                goto fail;
        sodium_memzero(ag->keys, EPOCH_CACHE * sizeof(*ag->keys));
        r = util_mkdir_p(ag->key_dir, 0700);
        if (r < 0)
                goto fail;
        ag->st = st;
        ag->an = an;
        ag->hub = hub;
        ag->privacy = cfg->privacy;
        ag->rules = cfg->alerts;
        ag->durable_seq = UINT64_MAX;
        *ret = ag;
        return 0;
fail:
        hub_aggregate_free(ag);
        return r;
}

void hub_aggregate_free(struct hub_aggregate *ag)
{
        if (!ag)
                return;
        if (ag->keys) {
                sodium_memzero(ag->keys, EPOCH_CACHE * sizeof(*ag->keys));
                sodium_free(ag->keys);
        }
        free(ag->dirty);
        free(ag->pace);
        pthread_mutex_destroy(&ag->lock);
        free(ag->hub_dir);
        free(ag->key_dir);
        free(ag);
}

void hub_alert_out_free(struct hub_alert_out *alerts, size_t n)
{
        if (!alerts)
                return;
        for (size_t i = 0; i < n; i++)
                free(alerts[i].signed_alert);
        free(alerts);
}

/* ---- epochs and their keys ---- */

static void derive(struct epoch_key *ek, const uint8_t secret[EPOCH_KEY_BYTES])
{
        crypto_kdf_derive_from_key(ek->pseudonym_key, sizeof(ek->pseudonym_key), KDF_PSEUDONYM,
                                   KDF_CONTEXT, secret);
        crypto_kdf_derive_from_key(ek->seal_key, sizeof(ek->seal_key), KDF_SEAL, KDF_CONTEXT,
                                   secret);
}

static struct epoch_key *cache_slot(struct hub_aggregate *ag, uint32_t month)
{
        for (size_t i = 0; i < ag->nkeys; i++)
                if (ag->keys[i].month == month)
                        return &ag->keys[i];
        return NULL;
}

static struct epoch_key *cache_put(struct hub_aggregate *ag, uint32_t month,
                                   const uint8_t secret[EPOCH_KEY_BYTES])
{
        struct epoch_key *ek;

        if (ag->nkeys < EPOCH_CACHE) {
                ek = &ag->keys[ag->nkeys++];
        } else {
                /* Evict the oldest month; it can be read from its file again. */
                ek = &ag->keys[0];
                for (size_t i = 1; i < ag->nkeys; i++)
                        if (ag->keys[i].month < ek->month)
                                ek = &ag->keys[i];
        }
        ek->month = month;
        derive(ek, secret);
        return ek;
}

static void cache_drop(struct hub_aggregate *ag, uint32_t month)
{
        struct epoch_key *ek = cache_slot(ag, month);

        if (!ek)
                return;
        sodium_memzero(ek, sizeof(*ek));
        *ek = ag->keys[ag->nkeys - 1];
        sodium_memzero(&ag->keys[ag->nkeys - 1], sizeof(*ek));
        ag->nkeys--;
}

/* Loads the key of month; with create, makes it when it does not exist yet.
 * The caller holds ag->lock. */
static int epoch_key_locked(struct hub_aggregate *ag, uint32_t month, bool create,
                            struct epoch_key **out)
{
        uint8_t *secret = NULL;
        char *path = NULL;
        int fd = -1, r;
        ssize_t n;

        *out = cache_slot(ag, month);
        if (*out)
                return 0;
        secret = sodium_malloc(EPOCH_KEY_BYTES);
        path = hub_aggregate_key_path(ag->hub_dir, month);
        if (!secret || !path) {
                r = -ENOMEM;
                goto out;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
                n = read(fd, secret, EPOCH_KEY_BYTES);
                r = n == EPOCH_KEY_BYTES ? 0 : -EBADMSG;
                if (r < 0)
                        log_error("%s: damaged epoch key", path);
        } else if (errno == ENOENT && create) {
                randombytes_buf(secret, EPOCH_KEY_BYTES);
                r = util_write_file(path, secret, EPOCH_KEY_BYTES, 0600, true);
        } else {
                r = -errno;
        }
        if (r == 0)
                *out = cache_put(ag, month, secret);
out:
        if (fd >= 0)
                close(fd);
        if (secret) {
                sodium_memzero(secret, EPOCH_KEY_BYTES);
                sodium_free(secret);
        }
        free(path);
        return r;
}

/* Copies the keys of month into *out (the caller wipes it). */
static int epoch_key(struct hub_aggregate *ag, uint32_t month, bool create, struct epoch_key *out)
{
        struct epoch_key *ek = NULL;
        int r;

        pthread_mutex_lock(&ag->lock);
        r = epoch_key_locked(ag, month, create, &ek);
        if (r == 0)
                *out = *ek;
        pthread_mutex_unlock(&ag->lock);
        return r;
}

/* Overwrites the key file of month with zeros, syncs, and unlinks it. */
static int epoch_key_destroy(struct hub_aggregate *ag, uint32_t month)
{
        uint8_t zero[EPOCH_KEY_BYTES] = { 0 };
        char *path = hub_aggregate_key_path(ag->hub_dir, month);
        int fd, r = 0, dfd;

        pthread_mutex_lock(&ag->lock);
        cache_drop(ag, month);
        pthread_mutex_unlock(&ag->lock);
        if (!path)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                r = errno == ENOENT ? 0 : -errno;
                free(path);
                return r;
        }
        if (pwrite(fd, zero, sizeof(zero), 0) != (ssize_t)sizeof(zero) || fsync(fd) < 0)
                r = -errno;
        close(fd);
        if (r == 0 && unlink(path) < 0)
                r = -errno;
        dfd = open(ag->key_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
        }
        free(path);
        return r;
}

static int epoch_get(MDB_txn *txn, struct hub_store *st, uint32_t month,
                     Nmo__Hub__EpochRecord **rec)
{
        uint8_t key[4];
        MDB_val k = { 4, key }, v;
        int rc;

        hub_store_put_u32(key, month);
        rc = mdb_get(txn, st->epochs, &k, &v);
        if (rc)
                return db_errno(rc);
        *rec = nmo__hub__epoch_record__unpack(NULL, v.mv_size, v.mv_data);
        return *rec ? 0 : -EBADMSG;
}

static int epoch_put(MDB_txn *txn, struct hub_store *st, uint32_t month,
                     Nmo__Hub__EpochState state, uint64_t opened, uint64_t closed)
{
        Nmo__Hub__EpochRecord rec = NMO__HUB__EPOCH_RECORD__INIT;
        uint8_t key[4], buf[64];
        MDB_val k = { 4, key }, v;

        rec.has_month = 1;
        rec.month = month;
        rec.has_state = 1;
        rec.state = state;
        rec.has_opened_ms = 1;
        rec.opened_ms = opened;
        if (closed) {
                rec.has_closed_ms = 1;
                rec.closed_ms = closed;
        }
        hub_store_put_u32(key, month);
        v.mv_size = nmo__hub__epoch_record__pack(&rec, buf);
        v.mv_data = buf;
        return db_errno(mdb_put(txn, st->epochs, &k, &v, 0));
}

/* ---- contributions ---- */

static size_t contrib_prefix(uint32_t month, const char *material, uint8_t *buf)
{
        size_t n = strlen(material);

        hub_store_put_u32(buf, month);
        memcpy(buf + 4, material, n);
        buf[4 + n] = 0;
        return 4 + n + 1;
}

static int mark_dirty_locked(struct hub_aggregate *ag, uint32_t month, const char *material)
{
        for (size_t i = 0; i < ag->ndirty; i++)
                if (ag->dirty[i].month == month && strcmp(ag->dirty[i].material, material) == 0)
                        return 0;
        if (ag->ndirty == ag->capdirty) {
                size_t cap = ag->capdirty ? ag->capdirty * 2 : 16;
                struct dirty *grown = realloc(ag->dirty, cap * sizeof(*grown));

                if (!grown)
                        return -ENOMEM;
                ag->dirty = grown;
                ag->capdirty = cap;
        }
        ag->dirty[ag->ndirty].month = month;
        snprintf(ag->dirty[ag->ndirty].material, MATERIAL_MAX, "%s", material);
        ag->ndirty++;
        return 0;
}

#define SUMMARY_NOTES_MAX 16

static int mark_dirty(struct hub_aggregate *ag, uint32_t month, const char *material)
{
        int r;

        pthread_mutex_lock(&ag->lock);
        r = mark_dirty_locked(ag, month, material);
        pthread_mutex_unlock(&ag->lock);
        return r;
}

/* Opens a summary value (nonce || secretbox) into a fresh Summary. */
static Nmo__Hub__Summary *summary_open(const struct epoch_key *ek, const MDB_val *v)
{
        Nmo__Hub__Summary *sum;
        uint8_t *plain;
        size_t len;

        if (v->mv_size < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
                return NULL;
        len = v->mv_size - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
        plain = malloc(len ? len : 1);
        if (!plain)
                return NULL;
        if (crypto_secretbox_open_easy(plain, (const uint8_t *)v->mv_data +
                                                      crypto_secretbox_NONCEBYTES,
                                       v->mv_size - crypto_secretbox_NONCEBYTES, v->mv_data,
                                       ek->seal_key) != 0) {
                free(plain);
                return NULL;
        }
        sum = nmo__hub__summary__unpack(NULL, len, plain);
        sodium_memzero(plain, len);
        free(plain);
        if (sum && (!sum->has_pseudonym || sum->pseudonym.len != DC_PSEUDONYM_BYTES ||
                    !sum->event || !sum->country || strlen(sum->event) >= 32 ||
                    strlen(sum->country) >= 3 || sum->n_severity > 5 || sum->n_status > 5 ||
                    sum->n_share > 6)) {
                nmo__hub__summary__free_unpacked(sum, NULL);
                sum = NULL;
        }
        return sum;
}

/* One summary row, decoded into plain fields. */
struct row {
        uint8_t pseudonym[DC_PSEUDONYM_BYTES];
        uint32_t week;
        char event[32];
        char country[3];
        uint32_t reports;
        uint32_t severity[5], status[5], share[6];
        uint64_t volume_t;
        char *notes[SUMMARY_NOTES_MAX];   /* owned copies */
        size_t nnotes;
};

static void row_clear(struct row *w)
{
        for (size_t i = 0; i < w->nnotes; i++)
                free(w->notes[i]);
        sodium_memzero(w, sizeof(*w));
}

static int row_from(struct row *w, const Nmo__Hub__Summary *sum)
{
        memset(w, 0, sizeof(*w));
        memcpy(w->pseudonym, sum->pseudonym.data, DC_PSEUDONYM_BYTES);
        w->week = sum->week;
        strcpy(w->event, sum->event);
        strcpy(w->country, sum->country);
        w->reports = sum->reports;
        for (size_t i = 0; i < sum->n_severity; i++)
                w->severity[i] = sum->severity[i];
        for (size_t i = 0; i < sum->n_status; i++)
                w->status[i] = sum->status[i];
        for (size_t i = 0; i < sum->n_share; i++)
                w->share[i] = sum->share[i];
        w->volume_t = sum->has_volume_t ? sum->volume_t : 0;
        for (size_t i = 0; i < sum->n_notes && i < SUMMARY_NOTES_MAX; i++) {
                w->notes[i] = strdup(sum->notes[i]);
                if (!w->notes[i])
                        return -ENOMEM;
                w->nnotes++;
        }
        return 0;
}

/* Seals a row as nonce || secretbox(Summary) into a fresh buffer. */
static int row_seal(const struct row *w, const struct epoch_key *ek, uint8_t **out, size_t *len)
{
        Nmo__Hub__Summary sum = NMO__HUB__SUMMARY__INIT;
        uint8_t *plain, *val;
        size_t plen;

        sum.has_pseudonym = 1;
        sum.pseudonym.data = (uint8_t *)w->pseudonym;
        sum.pseudonym.len = DC_PSEUDONYM_BYTES;
        sum.has_week = 1;
        sum.week = w->week;
        sum.event = (char *)w->event;
        sum.country = (char *)w->country;
        sum.has_reports = 1;
        sum.reports = w->reports;
        sum.n_severity = 5;
        sum.severity = (uint32_t *)w->severity;
        sum.n_status = 5;
        sum.status = (uint32_t *)w->status;
        sum.n_share = 6;
        sum.share = (uint32_t *)w->share;
        if (w->volume_t) {
                sum.has_volume_t = 1;
                sum.volume_t = w->volume_t;
        }
        sum.n_notes = w->nnotes;
        sum.notes = (char **)w->notes;
        plen = nmo__hub__summary__get_packed_size(&sum);
        plain = malloc(plen ? plen : 1);
        val = malloc(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plen);
        if (!plain || !val) {
                free(plain);
                free(val);
                return -ENOMEM;
        }
        nmo__hub__summary__pack(&sum, plain);
        randombytes_buf(val, crypto_secretbox_NONCEBYTES);
        crypto_secretbox_easy(val + crypto_secretbox_NONCEBYTES, plain, plen, val, ek->seal_key);
        sodium_memzero(plain, plen);
        free(plain);
        *out = val;
        *len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plen;
        return 0;
}

int hub_aggregate_add(struct hub_aggregate *ag, MDB_txn *txn, uint32_t member_id, uint64_t seq,
                      const struct signal *s, uint64_t now_ms)
{
        Nmo__Hub__EpochRecord *rec = NULL;
        struct epoch_key keys, *ek = &keys;
        struct row w;
        uint8_t idbuf[4], key[CONTRIB_KEY_MAX], jkey[8], *val = NULL, *entry = NULL;
        size_t klen, vlen = 0;
        uint32_t week = period_week_of_day(period_day_of_ms(now_ms));
        uint32_t month = period_month_of_week(week);
        crypto_generichash_state gs;
        MDB_val k, v;
        bool stored_open = false;
        int r;

        memset(&w, 0, sizeof(w));
        if (strlen(s->material) >= MATERIAL_MAX)
                return -EINVAL;
        /* Checked already in this transaction (a batch is one transaction,
         * and its signals share the clock). */
        if (ag->open_txn && ag->open_txn == mdb_txn_id(txn) && ag->open_week == week) {
                month = ag->open_month;
                r = 0;
                goto checked;
        }
        /* A clock stepped back into a closed epoch: count the signal in the
         * first open one after it instead of reopening a destroyed key. */
        for (int guard = 0; guard < 120; guard++) {
                r = epoch_get(txn, ag->st, month, &rec);
                if (r == -ENOENT) {
                        r = epoch_put(txn, ag->st, month, NMO__HUB__EPOCH_STATE__EPOCH_OPEN,
                                      now_ms, 0);
                        break;
                }
                if (r < 0)
                        return r;
                if (rec->state != NMO__HUB__EPOCH_STATE__EPOCH_CLOSED) {
                        nmo__hub__epoch_record__free_unpacked(rec, NULL);
                        stored_open = true;
                        break;
                }
                nmo__hub__epoch_record__free_unpacked(rec, NULL);
                month = period_month_next(month);
                {
                        uint32_t weeks[PERIOD_WEEKS_MAX];
                        (void)period_month_weeks(month, weeks);
                        week = weeks[0];
                }
                log_warn("clock is inside a closed epoch; counting the signal in %06u", month);
        }
        if (r < 0)
                return r;
        /* Only an epoch open before this transaction: a transaction that
         * aborts and runs again has the same id, and must write a new
         * epoch's record again. */
        if (stored_open && period_month_of_week(week) == month) {
                ag->open_txn = mdb_txn_id(txn);
                ag->open_week = week;
                ag->open_month = month;
        }
checked:
        r = epoch_key(ag, month, true, ek);
        if (r < 0) {
                log_error("cannot load or create the epoch key for %06u: %s", month, strerror(-r));
                return r;
        }
        hub_store_put_u32(idbuf, member_id);

        /* The row of (member, week, event, country): a keyed hash, so the
         * store's keys say nothing once the epoch key is gone. */
        klen = contrib_prefix(month, s->material, key);
        crypto_generichash_init(&gs, ek->pseudonym_key, sizeof(ek->pseudonym_key), 8);
        crypto_generichash_update(&gs, idbuf, sizeof(idbuf));
        crypto_generichash_update(&gs, (const uint8_t *)&week, sizeof(week));
        crypto_generichash_update(&gs, (const uint8_t *)s->event, strlen(s->event) + 1);
        crypto_generichash_update(&gs, (const uint8_t *)s->country, strlen(s->country) + 1);
        crypto_generichash_final(&gs, key + klen, 8);
        klen += 8;

        /* This one signal as a summary of its own, folded into the row later. */
        crypto_generichash(w.pseudonym, sizeof(w.pseudonym), idbuf, sizeof(idbuf),
                           ek->pseudonym_key, sizeof(ek->pseudonym_key));
        w.week = week;
        snprintf(w.event, sizeof(w.event), "%s", s->event);
        snprintf(w.country, sizeof(w.country), "%s", s->country);
        w.reports = 1;
        w.severity[s->severity % 5] = 1;
        w.status[s->status % 5] = 1;
        w.share[s->share % 6] = 1;
        w.volume_t = s->volume_t;
        /* Free text reaches the aggregation only with the reporter's consent. */
        if (s->note[0] && s->note_consent == NMO__NOTE_CONSENT__NOTE_CONSENT_MAY_BE_SHARED) {
                w.notes[0] = strdup(s->note);
                if (!w.notes[0]) {
                        r = -ENOMEM;
                        goto out;
                }
                w.nnotes = 1;
        }
        r = row_seal(&w, ek, &val, &vlen);
        if (r < 0)
                goto out;
        entry = malloc(1 + klen + vlen);
        if (!entry) {
                r = -ENOMEM;
                goto out;
        }
        entry[0] = (uint8_t)klen;
        memcpy(entry + 1, key, klen);
        memcpy(entry + 1 + klen, val, vlen);
        hub_store_put_u64(jkey, seq);
        k.mv_size = sizeof(jkey);
        k.mv_data = jkey;
        v.mv_size = 1 + klen + vlen;
        v.mv_data = entry;
        r = db_errno(mdb_put(txn, ag->st->journal, &k, &v, MDB_NOOVERWRITE));
out:
        row_clear(&w);
        sodium_memzero(&keys, sizeof(keys));
        free(val);
        free(entry);
        return r;
}

/* Adds what d counts to w (both rows of the same member, week, event and
 * country). */
static int row_merge(struct row *w, const struct row *d)
{
        w->reports += d->reports;
        for (size_t i = 0; i < 5; i++) {
                w->severity[i] += d->severity[i];
                w->status[i] += d->status[i];
        }
        for (size_t i = 0; i < 6; i++)
                w->share[i] += d->share[i];
        if (d->volume_t > w->volume_t)
                w->volume_t = d->volume_t;
        for (size_t j = 0; j < d->nnotes && w->nnotes < SUMMARY_NOTES_MAX; j++) {
                bool seen = false;

                for (size_t i = 0; i < w->nnotes && !seen; i++)
                        seen = strcmp(w->notes[i], d->notes[j]) == 0;
                if (seen)
                        continue;
                w->notes[w->nnotes] = strdup(d->notes[j]);
                if (!w->notes[w->nnotes])
                        return -ENOMEM;
                w->nnotes++;
        }
        return 0;
}

/* ---- the journal ---- */

/* Journal entries folded per transaction at most (a backlog is folded in
 * several commits, each of bounded size). */
#define JOURNAL_FOLD_MAX 4096

/* One entry of the journal, as read for a fold (pointers into a read txn). */
struct jentry {
        uint64_t seq;
        const uint8_t *key;      /* contributions key */
        size_t klen;
        MDB_val sealed;
};

/* A row after the fold: its key and sealed value (owned). */
struct folded {
        uint8_t key[CONTRIB_KEY_MAX];
        size_t klen;
        uint8_t *val;
        size_t vlen;
        uint32_t month;
        char material[MATERIAL_MAX];
};

struct fold {
        struct hub_aggregate *ag;
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
        if (klen < 4 + 2 + 8 || klen > CONTRIB_KEY_MAX || v->mv_size < 1 + klen ||
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

/* Reads up to JOURNAL_FOLD_MAX entries and merges them, by row, into the
 * stored rows (all in memory; nothing written yet). *more when entries remain. */
static int fold_read(struct fold *f, bool *more)
{
        struct hub_aggregate *ag = f->ag;
        struct jentry *es = NULL;
        size_t n = 0, cap = 0;
        MDB_txn *txn = NULL, *ctxn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        uint64_t durable;
        int rc, r;

        *more = false;
        r = db_txn_begin(ag->st->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        r = db_txn_begin(ag->st->cenv, MDB_RDONLY, &ctxn);
        if (r < 0) {
                ctxn = NULL;
                goto out;
        }
        r = hub_store_folded_get(ctxn, ag->st, &f->folded_seq);
        if (r < 0)
                goto out;
        f->last_seq = f->folded_seq;
        rc = mdb_cursor_open(txn, ag->st->journal, &cur);
        if (rc) {
                r = db_errno(rc);
                goto out;
        }
        {
                uint8_t from[8];

                /* What is folded already waits for the ingest to delete it. */
                hub_store_put_u64(from, f->folded_seq + 1);
                k.mv_size = sizeof(from);
                k.mv_data = from;
                rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        }
        pthread_mutex_lock(&ag->lock);
        durable = ag->durable_seq;
        pthread_mutex_unlock(&ag->lock);
        for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                if (k.mv_size == 8 && hub_store_get_u64(k.mv_data) > durable)
                        break;
                if (n == JOURNAL_FOLD_MAX) {
                        *more = true;
                        break;
                }
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 256;
                        struct jentry *g = realloc(es, ncap * sizeof(*g));

                        if (!g) {
                                r = -ENOMEM;
                                goto out;
                        }
                        es = g;
                        cap = ncap;
                }
                if (!jentry_parse(&k, &v, &es[n])) {
                        log_error("private store: a damaged journal entry is skipped");
                        if (k.mv_size == 8)
                                f->last_seq = hub_store_get_u64(k.mv_data);
                        continue;
                }
                f->last_seq = es[n].seq;
                n++;
        }
        if (rc && rc != MDB_NOTFOUND) {
                r = db_errno(rc);
                goto out;
        }
        if (n)
                qsort(es, n, sizeof(*es), jentry_cmp);
        f->rows = n ? calloc(n, sizeof(*f->rows)) : NULL;
        if (n && !f->rows) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; r == 0 && i < n;) {
                size_t j = i;
                struct epoch_key keys, *ek = &keys;
                struct folded *out = &f->rows[f->nrows];
                uint32_t month = hub_store_get_u32(es[i].key);
                const char *material = (const char *)es[i].key + 4;
                struct row w;
                bool have = false;
                MDB_val ck = { es[i].klen, (void *)es[i].key }, cv;

                while (j < n && es[j].klen == es[i].klen &&
                       memcmp(es[j].key, es[i].key, es[i].klen) == 0)
                        j++;
                memset(&w, 0, sizeof(w));
                r = epoch_key(ag, month, false, ek);
                if (r == -ENOENT) {
                        log_error("the key of epoch %06u is missing: %zu journal entries for "
                                  "%s cannot be counted", month, j - i, material);
                        r = 0;
                        i = j;
                        continue;
                }
                if (r < 0)
                        break;
                rc = mdb_get(ctxn, ag->st->contributions, &ck, &cv);
                if (rc == 0) {
                        Nmo__Hub__Summary *sum = summary_open(ek, &cv);

                        if (!sum) {
                                log_error("a summary of %06u/%s does not open with its epoch "
                                          "key", month, material);
                                r = -EBADMSG;
                        } else {
                                r = row_from(&w, sum);
                                nmo__hub__summary__free_unpacked(sum, NULL);
                                have = true;
                        }
                } else if (rc != MDB_NOTFOUND) {
                        r = db_errno(rc);
                }
                for (size_t e = i; r == 0 && e < j; e++) {
                        Nmo__Hub__Summary *sum = summary_open(ek, &es[e].sealed);
                        struct row d;

                        if (!sum) {
                                log_error("a journal entry of %06u/%s does not open with its "
                                          "epoch key; skipped", month, material);
                                continue;
                        }
                        r = row_from(&d, sum);
                        nmo__hub__summary__free_unpacked(sum, NULL);
                        if (r == 0 && !have) {
                                w = d;
                                memset(&d, 0, sizeof(d));
                                have = true;
                        } else if (r == 0) {
                                r = row_merge(&w, &d);
                        }
                        row_clear(&d);
                }
                if (r == 0 && have) {
                        memcpy(out->key, es[i].key, es[i].klen);
                        out->klen = es[i].klen;
                        out->month = month;
                        snprintf(out->material, MATERIAL_MAX, "%s", material);
                        r = row_seal(&w, ek, &out->val, &out->vlen);
                        if (r == 0)
                                f->nrows++;
                }
                row_clear(&w);
                sodium_memzero(&keys, sizeof(keys));
                i = j;
        }
out:
        if (cur)
                mdb_cursor_close(cur);
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
        MDB_val k = { sizeof(HUB_FOLD_KEY) - 1, (void *)HUB_FOLD_KEY }, v;
        uint8_t seq[8];
        int r;

        for (size_t i = 0; i < f->nrows; i++) {
                MDB_val rk = { f->rows[i].klen, f->rows[i].key };
                MDB_val rv = { f->rows[i].vlen, f->rows[i].val };

                r = db_errno(mdb_put(ctxn, f->ag->st->contributions, &rk, &rv, 0));
                if (r < 0)
                        return r;
        }
        hub_store_put_u64(seq, f->last_seq);
        v.mv_size = sizeof(seq);
        v.mv_data = seq;
        return db_errno(mdb_put(ctxn, f->ag->st->fold, &k, &v, 0));
}

/* Deletes up to max journal entries at or below seq, oldest first. */
static int journal_trim(MDB_txn *txn, struct hub_store *st, uint64_t seq, size_t max)
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

void hub_aggregate_durable(struct hub_aggregate *ag, uint64_t seq)
{
        pthread_mutex_lock(&ag->lock);
        ag->durable_seq = seq;
        pthread_mutex_unlock(&ag->lock);
}

int hub_aggregate_trim(struct hub_aggregate *ag, MDB_txn *txn, size_t max)
{
        uint64_t seq;

        if (!ag->st->journal)
                return 0;
        pthread_mutex_lock(&ag->lock);
        seq = ag->folded_seq;
        pthread_mutex_unlock(&ag->lock);
        return seq ? journal_trim(txn, ag->st, seq, max) : 0;
}

/* Folds the journal into the contribution rows (all of it, in transactions
 * of at most JOURNAL_FOLD_MAX entries) and marks what changed dirty. Only the
 * aggregation thread writes contribution rows, so they are read, merged and
 * sealed outside the write transaction, which then only puts. The rows and
 * the folded sequence commit together in the contributions environment; the
 * ingest deletes the folded journal entries later (hub_aggregate_trim()), and
 * entries at or below the folded sequence are never counted again. */
static int journal_fold(struct hub_aggregate *ag)
{
        bool more = true;
        int r = 0;

        if (!ag->st->journal || !ag->st->cenv)
                return 0;
        while (r == 0 && more) {
                struct fold f = { ag, NULL, 0, 0, 0 };

                r = fold_read(&f, &more);
                if (r == 0 && f.last_seq > f.folded_seq)
                        r = hub_store_write_contrib(ag->st, fold_rows_txn, &f);
                if (r == 0) {
                        pthread_mutex_lock(&ag->lock);
                        ag->folded_seq = f.last_seq;
                        pthread_mutex_unlock(&ag->lock);
                }
                for (size_t i = 0; r == 0 && i < f.nrows; i++)
                        r = mark_dirty(ag, f.rows[i].month, f.rows[i].material);
                fold_free(&f);
        }
        return r;
}

/* Decrypted summaries of one (month, material). */
struct contribs {
        struct dc_contrib *c;
        struct row *rows;
        size_t n;
};

static void contribs_free(struct contribs *cs)
{
        for (size_t i = 0; i < cs->n; i++)
                row_clear(&cs->rows[i]);
        free(cs->rows);
        free(cs->c);
        memset(cs, 0, sizeof(*cs));
}

static int load_contribs(struct hub_aggregate *ag, uint32_t month, const char *material,
                         struct contribs *out)
{
        uint8_t prefix[CONTRIB_PREFIX_MAX];
        size_t plen = contrib_prefix(month, material, prefix), cap = 0;
        struct epoch_key keys, *ek = &keys;
        MDB_txn *txn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int rc, r;

        memset(out, 0, sizeof(*out));
        r = epoch_key(ag, month, false, ek);
        if (r < 0)
                return r;
        r = db_txn_begin(ag->st->cenv, MDB_RDONLY, &txn);
        if (r < 0) {
                sodium_memzero(&keys, sizeof(keys));
                return r;
        }
        rc = mdb_cursor_open(txn, ag->st->contributions, &cur);
        if (rc) {
                r = db_errno(rc);
                goto out;
        }
        k.mv_size = plen;
        k.mv_data = prefix;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                Nmo__Hub__Summary *sum;

                if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
                        break;
                sum = summary_open(ek, &v);
                if (!sum) {
                        log_error("a summary of %06u/%s does not open with its epoch key",
                                  month, material);
                        r = -EBADMSG;
                        break;
                }
                if (out->n == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        struct row *g = realloc(out->rows, ncap * sizeof(*g));

                        if (!g) {
                                nmo__hub__summary__free_unpacked(sum, NULL);
                                r = -ENOMEM;
                                break;
                        }
                        out->rows = g;
                        cap = ncap;
                }
                r = row_from(&out->rows[out->n], sum);
                out->n++;
                nmo__hub__summary__free_unpacked(sum, NULL);
                if (r < 0)
                        break;
        }
        if (r == 0 && rc && rc != MDB_NOTFOUND)
                r = db_errno(rc);
        if (r == 0) {
                out->c = calloc(out->n ? out->n : 1, sizeof(*out->c));
                if (!out->c)
                        r = -ENOMEM;
        }
        for (size_t i = 0; r == 0 && i < out->n; i++) {
                struct dc_contrib *d = &out->c[i];
                const struct row *w = &out->rows[i];

                memcpy(d->reporter, w->pseudonym, DC_PSEUDONYM_BYTES);
                d->week = w->week;
                memcpy(d->event, w->event, sizeof(d->event));
                memcpy(d->country, w->country, sizeof(d->country));
                d->reports = w->reports;
                memcpy(d->severity, w->severity, sizeof(d->severity));
                memcpy(d->status, w->status, sizeof(d->status));
                memcpy(d->share, w->share, sizeof(d->share));
                d->volume_t = w->volume_t;
                d->notes = (const char *const *)w->notes;
                d->nnotes = w->nnotes;
        }
out:
        if (cur)
                mdb_cursor_close(cur);
        db_txn_abort(txn);
        sodium_memzero(&keys, sizeof(keys));
        if (r < 0)
                contribs_free(out);
        return r;
}

/* ---- the analytics store ---- */

/* The store record of a computed cell. A suppressed cell carries its status
 * and nothing else (hub_analytics_put_cell refuses it otherwise). */
static int put_cell(MDB_txn *txn, struct hub_analytics *an, const char *material,
                    const struct dc_cell *d, bool final)
{
        Nmo__Hub__Cell c = NMO__HUB__CELL__INIT;
        char period[PERIOD_STR_MAX];
        bool rel = d->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;

        if (d->kind == NMO__HUB__CELL_KIND__CELL_EVENT_MONTH)
                period_month_str(d->period, period, sizeof(period));
        else
                period_week_str(d->period, period, sizeof(period));
        c.has_kind = 1;
        c.kind = d->kind;
        c.material = (char *)material;
        c.event = (char *)d->event;
        c.country = (char *)d->country;
        c.period = period;
        c.has_suppression = 1;
        c.suppression = d->suppression;
        c.has_final = 1;
        c.final = final;
        if (rel) {
                c.has_reporters = 1;
                c.reporters = d->reporters;
                c.has_reports = 1;
                c.reports = d->reports;
                c.n_severity = 4;
                c.severity = (uint32_t *)&d->severity[1];
                c.n_status = 5;
                c.status = (uint32_t *)d->status;
                c.n_share = 6;
                c.share = (uint32_t *)d->share;
                c.has_volume_status = 1;
                c.volume_status = d->volume_status;
                if (d->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED) {
                        c.has_volume_t = 1;
                        c.volume_t = d->volume_t;
                }
                if (d->reporters_high) {
                        c.has_reporters_high = 1;
                        c.reporters_high = d->reporters_high;
                }
                c.n_notes = d->nnotes;
                c.notes = (char **)d->notes;
        }
        return hub_analytics_put_cell(txn, an, &c);
}

/* ---- alerts ---- */

struct alert_list {
        struct hub_alert_out *a;
        size_t n, cap;
};

static int alert_list_add(struct alert_list *l, uint8_t *signed_alert, size_t len)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 8;
                struct hub_alert_out *g = realloc(l->a, cap * sizeof(*g));

                if (!g)
                        return -ENOMEM;
                l->a = g;
                l->cap = cap;
        }
        l->a[l->n].signed_alert = signed_alert;
        l->a[l->n].len = len;
        l->n++;
        return 0;
}

/* A released weekly cell's reports; 0 when absent or suppressed. */
static uint32_t released_reports(MDB_txn *txn, struct hub_analytics *an, const char *material,
                                 Nmo__Hub__CellKind kind, uint32_t week, const char *event)
{
        char period[PERIOD_STR_MAX];

        period_week_str(week, period, sizeof(period));
        return hub_analytics_released_reports(txn, an, kind, material, period, event);
}

/* Stores the alert (new, or a new revision when level or figures changed) and
 * appends its signed form to out. */
static int raise_alert(MDB_txn *txn, struct hub_aggregate *ag, Nmo__AlertBody *b,
                       uint64_t now_ms, struct alert_list *out)
{
        uint8_t h[16], *sig = NULL;
        char id[HUB_ANALYTICS_ALERT_ID_LEN + 1], issued[11];
        size_t len = 0;
        Nmo__AlertBody *old = NULL;
        crypto_generichash_state gs;
        int r;

        crypto_generichash_init(&gs, NULL, 0, sizeof(h));
        crypto_generichash_update(&gs, (const uint8_t *)b->rule, strlen(b->rule) + 1);
        crypto_generichash_update(&gs, (const uint8_t *)b->material, strlen(b->material) + 1);
        crypto_generichash_update(&gs, (const uint8_t *)b->event, strlen(b->event) + 1);
        crypto_generichash_update(&gs, (const uint8_t *)b->period, strlen(b->period) + 1);
        crypto_generichash_final(&gs, h, sizeof(h));
        util_hex(h, sizeof(h), id);
        date_str(date_day_of_ms(now_ms), issued, sizeof(issued));
        b->has_version = 1;
        b->version = 1;
        b->id = id;
        b->issued = issued;
        b->has_revision = 1;
        b->revision = 1;
        r = hub_analytics_get_alert(txn, ag->an, id, &old);
        if (r == 0) {
                bool same = old->level && strcmp(old->level, b->level) == 0 &&
                            old->reporters == b->reporters && old->reports == b->reports;

                b->revision = old->revision + 1;
                if (same)
                        b->issued = NULL;
                nmo__alert_body__free_unpacked(old, NULL);
                if (same)
                        return 0;
        } else if (r != -ENOENT && r != -EBADMSG) {
                /* An undecodable record is replaced by revision 1. */
                return r;
        }
        r = alert_sign(b, ag->hub->sign_sk, &sig, &len);
        if (r < 0)
                return r;
        r = hub_analytics_put_alert(txn, ag->an, id, sig, len);
        if (r == 0) {
                log_info("alert %s: %s %s %s%s%s", b->level, b->rule, b->period, b->material,
                         b->event[0] ? "/" : "", b->event);
                r = alert_list_add(out, sig, len);
                if (r == 0)
                        sig = NULL;
        }
        free(sig);
        return r;
}

static bool is_export_restriction(const char *event)
{
        return strcmp(event, "export-ban") == 0 || strcmp(event, "export-quota") == 0 ||
               strcmp(event, "export-licensing") == 0 || strcmp(event, "export-tax") == 0;
}

/* Evaluates the rules over the released cells of material in month. */
static int evaluate_alerts(MDB_txn *txn, struct hub_aggregate *ag, const char *material,
                           const struct dc_result *res, uint64_t now_ms, struct alert_list *out)
{
        struct hub_alert_rules rules;
        const struct hub_alert_rules *ru = &rules;
        char summary[256], period[12], wstart[12];
        int r = 0;

        /* A reload may change them from the hub's loop meanwhile. */
        pthread_mutex_lock(&ag->lock);
        rules = ag->rules;
        pthread_mutex_unlock(&ag->lock);

        for (size_t i = 0; i < res->ncells && r == 0; i++) {
                const struct dc_cell *d = &res->cells[i];
                Nmo__AlertBody b = NMO__ALERT_BODY__INIT;

                if (d->suppression != NMO__HUB__SUPPRESSION__SUPPRESSION_NONE)
                        continue;
                period_week_str(d->period, period, sizeof(period));
                b.material = (char *)material;
                b.period = period;
                b.window_end = period;
                b.event = "";
                if (d->kind == NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK &&
                    d->reporters_high >= ru->severity_reporters) {
                        period_week_str(period_week_prev(d->period), wstart, sizeof(wstart));
                        snprintf(summary, sizeof(summary),
                                 "%u companies report high or critical severity for %s within "
                                 "14 days (%s to %s)", d->reporters_high, material, wstart,
                                 period);
                        b.rule = "severity";
                        b.level = d->reporters_high >= 2 * ru->severity_reporters ? "critical"
                                                                                 : "warning";
                        b.window_start = wstart;
                        b.summary = summary;
                        b.has_reporters = 1;
                        b.reporters = d->reporters_high;
                        r = raise_alert(txn, ag, &b, now_ms, out);
                        if (r < 0)
                                break;
                }
                if (d->kind == NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK &&
                    d->reports >= ru->surge_min_reports) {
                        uint32_t w = d->period, total = 0;

                        for (uint32_t j = 0; j < ru->surge_weeks; j++) {
                                w = period_week_prev(w);
                                total += released_reports(txn, ag->an, material,
                                                          NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK,
                                                          w, NULL);
                        }
                        period_week_str(w, wstart, sizeof(wstart));
                        /* reports > percent/100 * total/weeks, in integers. */
                        if ((uint64_t)d->reports * 100 * ru->surge_weeks >
                            (uint64_t)ru->surge_percent * total) {
                                double base = (double)total / ru->surge_weeks;

                                if (total == 0)
                                        snprintf(summary, sizeof(summary),
                                                 "%u reports for %s in %s, none in the "
                                                 "previous %u weeks", d->reports, material,
                                                 period, ru->surge_weeks);
                                else
                                        snprintf(summary, sizeof(summary),
                                                 "%u reports for %s in %s against a mean of "
                                                 "%.1f a week over the previous %u weeks",
                                                 d->reports, material, period, base,
                                                 ru->surge_weeks);
                                b.rule = "surge";
                                b.level = total > 0 && (uint64_t)d->reports * 100 * ru->surge_weeks >
                                                               2ULL * ru->surge_percent * total
                                                  ? "critical"
                                                  : "warning";
                                b.window_start = wstart;
                                b.summary = summary;
                                b.has_reports = 1;
                                b.reports = d->reports;
                                b.has_reporters = 1;
                                b.reporters = d->reporters;
                                b.has_baseline = 1;
                                b.baseline = base;
                                r = raise_alert(txn, ag, &b, now_ms, out);
                                if (r < 0)
                                        break;
                        }
                }
                if (d->kind == NMO__HUB__CELL_KIND__CELL_EVENT_WEEK && ru->new_restriction &&
                    is_export_restriction(d->event)) {
                        uint32_t w = d->period, before = 0;

                        for (uint32_t j = 0; j < ru->surge_weeks; j++) {
                                w = period_week_prev(w);
                                before += released_reports(txn, ag->an, material,
                                                           NMO__HUB__CELL_KIND__CELL_EVENT_WEEK,
                                                           w, d->event);
                        }
                        if (before == 0) {
                                period_week_str(w, wstart, sizeof(wstart));
                                snprintf(summary, sizeof(summary),
                                         "%u companies report a new %s affecting %s in %s, none "
                                         "in the %u weeks before", d->reporters, d->event,
                                         material, period, ru->surge_weeks);
                                b.rule = "new-restriction";
                                b.event = (char *)d->event;
                                b.level = strcmp(d->event, "export-ban") == 0 ? "critical"
                                                                              : "warning";
                                b.window_start = wstart;
                                b.summary = summary;
                                b.has_reporters = 1;
                                b.reporters = d->reporters;
                                b.has_reports = 1;
                                b.reports = d->reports;
                                r = raise_alert(txn, ag, &b, now_ms, out);
                        }
                }
        }
        return r;
}

/* ---- recomputation ---- */

/* One (epoch, material) to recompute, with what it needs. */
struct job {
        uint32_t month;
        char material[MATERIAL_MAX];
        bool final;
        bool loaded;
        struct contribs cs;
        struct dc_result res;
};

struct recompute {
        struct hub_aggregate *ag;
        struct job *jobs;
        size_t njobs;
        uint64_t now_ms;
        struct alert_list *alerts;
        size_t alerts_before;
};

static int recompute_txn(MDB_txn *txn, struct recompute *rc)
{
        int r = 0;

        /* The write may run again after the map grew: drop alerts of a failed try. */
        for (size_t i = rc->alerts_before; i < rc->alerts->n; i++)
                free(rc->alerts->a[i].signed_alert);
        rc->alerts->n = rc->alerts_before;
        for (size_t j = 0; r == 0 && j < rc->njobs; j++) {
                struct job *jb = &rc->jobs[j];

                if (!jb->loaded)
                        continue;
                r = hub_analytics_delete_month(txn, rc->ag->an, jb->material, jb->month);
                for (size_t i = 0; r == 0 && i < jb->res.ncells; i++)
                        r = put_cell(txn, rc->ag->an, jb->material, &jb->res.cells[i],
                                     jb->final);
                if (r == 0)
                        r = evaluate_alerts(txn, rc->ag, jb->material, &jb->res, rc->now_ms,
                                            rc->alerts);
        }
        return r;
}

static int recompute_fn(MDB_txn *txn, void *userdata)
{
        return recompute_txn(txn, userdata);
}

/* Writes every job in one durable write transaction on the analytics store
 * (one sync however many materials changed), growing its map when full. */
static int analytics_write(struct hub_analytics *an, struct recompute *rc)
{
        return db_write(an->env, recompute_fn, rc);
}

/* Loads and computes every job, then writes them all at once. A job whose
 * epoch key is missing is reported and skipped (nothing of it can be read). */
static int recompute_jobs(struct hub_aggregate *ag, struct job *jobs, size_t n, uint64_t now_ms,
                          struct alert_list *alerts)
{
        struct dc_params p = { ag->privacy.min_reporters, ag->privacy.dominance_n,
                               ag->privacy.dominance_k };
        struct recompute rc;
        int r = 0;

        for (size_t j = 0; r == 0 && j < n; j++) {
                r = load_contribs(ag, jobs[j].month, jobs[j].material, &jobs[j].cs);
                if (r == -ENOENT) {
                        log_error("the key of epoch %06u is missing: its figures for %s cannot "
                                  "be recomputed", jobs[j].month, jobs[j].material);
                        r = 0;
                        continue;
                }
                if (r < 0)
                        break;
                r = dc_compute(jobs[j].cs.c, jobs[j].cs.n, jobs[j].month, &p, &jobs[j].res);
                if (r < 0) {
                        contribs_free(&jobs[j].cs);
                        break;
                }
                jobs[j].loaded = true;
        }
        if (r == 0) {
                rc = (struct recompute){ ag, jobs, n, now_ms, alerts, alerts->n };
                r = analytics_write(ag->an, &rc);
        }
        for (size_t j = 0; j < n; j++) {
                if (!jobs[j].loaded)
                        continue;
                dc_result_free(&jobs[j].res);
                contribs_free(&jobs[j].cs);
                jobs[j].loaded = false;
        }
        return r;
}

static struct pace *pace_find(struct hub_aggregate *ag, uint32_t month, const char *material,
                              bool add)
{
        for (size_t i = 0; i < ag->npace; i++)
                if (ag->pace[i].month == month && strcmp(ag->pace[i].material, material) == 0)
                        return &ag->pace[i];
        if (!add)
                return NULL;
        if (ag->npace == ag->cappace) {
                size_t cap = ag->cappace ? ag->cappace * 2 : 16;
                struct pace *g = realloc(ag->pace, cap * sizeof(*g));

                if (!g)
                        return NULL;
                ag->pace = g;
                ag->cappace = cap;
        }
        memset(&ag->pace[ag->npace], 0, sizeof(ag->pace[0]));
        ag->pace[ag->npace].month = month;
        snprintf(ag->pace[ag->npace].material, MATERIAL_MAX, "%s", material);
        return &ag->pace[ag->npace++];
}

static int flush(struct hub_aggregate *ag, uint64_t now_ms, bool paced,
                 struct hub_alert_out **alerts, size_t *nalerts);

int hub_aggregate_flush(struct hub_aggregate *ag, uint64_t now_ms, struct hub_alert_out **alerts,
                        size_t *nalerts)
{
        return flush(ag, now_ms, true, alerts, nalerts);
}

int hub_aggregate_flush_all(struct hub_aggregate *ag, uint64_t now_ms,
                            struct hub_alert_out **alerts, size_t *nalerts)
{
        return flush(ag, now_ms, false, alerts, nalerts);
}

static int flush(struct hub_aggregate *ag, uint64_t now_ms, bool paced,
                 struct hub_alert_out **alerts, size_t *nalerts)
{
        struct alert_list out = { NULL, 0, 0 };
        struct job *jobs;
        size_t n;
        int r;

        *alerts = NULL;
        *nalerts = 0;
        /* What the ingest journaled becomes part of its rows first. */
        r = journal_fold(ag);
        if (r < 0)
                log_error("cannot fold the journal into the contributions: %s; will retry",
                          strerror(-r));
        /* Take what is dirty now; what is marked meanwhile waits for the next
         * flush. */
        pthread_mutex_lock(&ag->lock);
        jobs = ag->ndirty ? calloc(ag->ndirty, sizeof(*jobs)) : NULL;
        n = 0;
        for (size_t i = 0; jobs && i < ag->ndirty;) {
                struct pace *pc = pace_find(ag, ag->dirty[i].month, ag->dirty[i].material, false);

                /* Not yet: it stays dirty for a later flush. */
                if (paced && pc && pc->not_before_ms > util_mono_ms()) {
                        i++;
                        continue;
                }
                jobs[n].month = ag->dirty[i].month;
                memcpy(jobs[n].material, ag->dirty[i].material, MATERIAL_MAX);
                n++;
                ag->dirty[i] = ag->dirty[--ag->ndirty];
        }
        pthread_mutex_unlock(&ag->lock);
        if (n == 0) {
                free(jobs);
                return jobs || !ag->ndirty ? 0 : -ENOMEM;
        }
        {
                uint64_t started = util_mono_ms(), cost;

                r = recompute_jobs(ag, jobs, n, now_ms, &out);
                cost = (util_mono_ms() - started) / n + 1;
                pthread_mutex_lock(&ag->lock);
                for (size_t i = 0; i < n; i++) {
                        struct pace *pc = pace_find(ag, jobs[i].month, jobs[i].material, true);
                        uint64_t wait = cost * RECOMPUTE_SHARE;

                        if (pc)
                                pc->not_before_ms = util_mono_ms() +
                                                    (wait > RECOMPUTE_LAG_MAX_MS
                                                             ? RECOMPUTE_LAG_MAX_MS : wait);
                }
                pthread_mutex_unlock(&ag->lock);
        }
        if (r < 0) {
                /* Dirty again: the next flush tries again. */
                log_error("cannot update the analytics store: %s", strerror(-r));
                for (size_t i = 0; i < n; i++)
                        (void)mark_dirty(ag, jobs[i].month, jobs[i].material);
                free(jobs);
                hub_alert_out_free(out.a, out.n);
                return r;
        }
        free(jobs);
        *alerts = out.a;
        *nalerts = out.n;
        return 0;
}

/* Distinct materials with contributions in month. */
static int materials_of(struct hub_aggregate *ag, uint32_t month, char (**out)[MATERIAL_MAX],
                        size_t *n)
{
        uint8_t prefix[4];
        MDB_txn *txn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        size_t cap = 0;
        int rc, r;

        *out = NULL;
        *n = 0;
        hub_store_put_u32(prefix, month);
        r = db_txn_begin(ag->st->cenv, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(txn, ag->st->contributions, &cur);
        if (rc) {
                db_txn_abort(txn);
                return db_errno(rc);
        }
        k.mv_size = 4;
        k.mv_data = prefix;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                const char *m = (const char *)k.mv_data + 4;
                size_t mlen;

                if (k.mv_size < 5 || memcmp(k.mv_data, prefix, 4) != 0)
                        break;
                mlen = strnlen(m, k.mv_size - 4);
                if (mlen >= MATERIAL_MAX || mlen == k.mv_size - 4)
                        continue;
                if (*n > 0 && strcmp((*out)[*n - 1], m) == 0)
                        continue;
                if (*n == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        char(*g)[MATERIAL_MAX] = realloc(*out, ncap * sizeof(*g));

                        if (!g) {
                                r = -ENOMEM;
                                break;
                        }
                        *out = g;
                        cap = ncap;
                }
                memcpy((*out)[*n], m, mlen + 1);
                (*n)++;
        }
        mdb_cursor_close(cur);
        db_txn_abort(txn);
        return r;
}

struct epoch_list {
        uint32_t month;
        Nmo__Hub__EpochState state;
        uint64_t opened_ms;
};

static int list_epochs(struct hub_aggregate *ag, struct epoch_list **out, size_t *n)
{
        MDB_txn *txn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        size_t cap = 0;
        int rc, r;

        *out = NULL;
        *n = 0;
        r = db_txn_begin(ag->st->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(txn, ag->st->epochs, &cur);
        if (rc) {
                db_txn_abort(txn);
                return db_errno(rc);
        }
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                Nmo__Hub__EpochRecord *rec = nmo__hub__epoch_record__unpack(NULL, v.mv_size,
                                                                            v.mv_data);
                if (!rec || k.mv_size != 4) {
                        if (rec)
                                nmo__hub__epoch_record__free_unpacked(rec, NULL);
                        r = -EBADMSG;
                        break;
                }
                if (*n == cap) {
                        size_t ncap = cap ? cap * 2 : 8;
                        struct epoch_list *g = realloc(*out, ncap * sizeof(*g));

                        if (!g) {
                                nmo__hub__epoch_record__free_unpacked(rec, NULL);
                                r = -ENOMEM;
                                break;
                        }
                        *out = g;
                        cap = ncap;
                }
                (*out)[*n].month = hub_store_get_u32(k.mv_data);
                (*out)[*n].state = rec->state;
                (*out)[*n].opened_ms = rec->opened_ms;
                (*n)++;
                nmo__hub__epoch_record__free_unpacked(rec, NULL);
        }
        mdb_cursor_close(cur);
        db_txn_abort(txn);
        return r;
}

struct close_ctx {
        struct hub_aggregate *ag;
        uint32_t month;
        uint64_t opened_ms;
        uint64_t now_ms;
};

static int close_txn(MDB_txn *txn, void *userdata)
{
        struct close_ctx *c = userdata;
        uint8_t prefix[4];
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        uint64_t folded;
        int rc, r = 0;

        hub_store_put_u32(prefix, c->month);
        /* What is folded goes; a signal of this epoch journaled after the last
         * fold: close later, once it is counted. */
        pthread_mutex_lock(&c->ag->lock);
        folded = c->ag->folded_seq;
        pthread_mutex_unlock(&c->ag->lock);
        r = journal_trim(txn, c->ag->st, folded, SIZE_MAX);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(txn, c->ag->st->journal, &cur);
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
        if (r < 0)
                return r;
        return epoch_put(txn, c->ag->st, c->month, NMO__HUB__EPOCH_STATE__EPOCH_CLOSED,
                         c->opened_ms, c->now_ms);
}

/* Deletes the contributions of a closed epoch (again, harmlessly, after a
 * crash). */
static int close_contrib_txn(MDB_txn *ctxn, void *userdata)
{
        struct close_ctx *c = userdata;
        uint8_t prefix[4];
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int rc, r = 0;

        hub_store_put_u32(prefix, c->month);
        rc = mdb_cursor_open(ctxn, c->ag->st->contributions, &cur);
        if (rc)
                return db_errno(rc);
        k.mv_size = 4;
        k.mv_data = prefix;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                if (k.mv_size < 4 || memcmp(k.mv_data, prefix, 4) != 0)
                        break;
                rc = mdb_cursor_del(cur, 0);
                if (rc) {
                        r = db_errno(rc);
                        break;
                }
        }
        mdb_cursor_close(cur);
        return r;
}

/* Final cells, then contributions gone, then the key destroyed. A crash
 * anywhere in between is finished by the next housekeeping. */
static int close_epoch(struct hub_aggregate *ag, const struct epoch_list *e, uint64_t now_ms,
                       struct alert_list *alerts)
{
        char (*materials)[MATERIAL_MAX] = NULL;
        struct close_ctx c = { ag, e->month, e->opened_ms, now_ms };
        size_t n = 0;
        int r;

        r = materials_of(ag, e->month, &materials, &n);
        if (r == 0 && n > 0) {
                struct job *jobs = calloc(n, sizeof(*jobs));

                if (!jobs) {
                        r = -ENOMEM;
                } else {
                        for (size_t i = 0; i < n; i++) {
                                jobs[i].month = e->month;
                                jobs[i].final = true;
                                memcpy(jobs[i].material, materials[i], MATERIAL_MAX);
                        }
                        r = recompute_jobs(ag, jobs, n, now_ms, alerts);
                        free(jobs);
                }
        }
        free(materials);
        if (r < 0)
                return r;
        r = hub_store_write(ag->st, close_txn, &c);
        /* Durable before anything is destroyed (the hub defers meta syncs). */
        if (r == 0)
                r = db_errno(mdb_env_sync(ag->st->env, 1));
        if (r == 0)
                r = hub_store_write_contrib(ag->st, close_contrib_txn, &c);
        if (r < 0)
                return r;
        pthread_mutex_lock(&ag->lock);
        for (size_t i = 0; i < ag->ndirty;) {
                if (ag->dirty[i].month == e->month)
                        ag->dirty[i] = ag->dirty[--ag->ndirty];
                else
                        i++;
        }
        pthread_mutex_unlock(&ag->lock);
        r = epoch_key_destroy(ag, e->month);
        if (r == 0)
                log_info("epoch %06u closed: final cells written, contributions deleted, key "
                         "destroyed", e->month);
        return r;
}

int hub_aggregate_housekeeping(struct hub_aggregate *ag, uint64_t now_ms, bool recount,
                               struct hub_alert_out **alerts, size_t *nalerts)
{
        struct alert_list out = { NULL, 0, 0 };
        struct epoch_list *epochs = NULL;
        size_t n = 0;
        int r;

        *alerts = NULL;
        *nalerts = 0;
        (void)mdb_reader_check(ag->st->env, NULL);
        (void)mdb_reader_check(ag->st->cenv, NULL);
        (void)mdb_reader_check(ag->an->env, NULL);
        /* Nothing journaled may be left behind by a close or a recount. */
        r = journal_fold(ag);
        if (r == 0)
                r = list_epochs(ag, &epochs, &n);
        for (size_t i = 0; r == 0 && i < n; i++) {
                if (epochs[i].state == NMO__HUB__EPOCH_STATE__EPOCH_CLOSED) {
                        /* A close interrupted after the commit: the contributions
                         * and the key must still go. */
                        struct close_ctx c = { ag, epochs[i].month, epochs[i].opened_ms,
                                               now_ms };
                        char (*left)[MATERIAL_MAX] = NULL;
                        size_t nleft = 0;

                        r = materials_of(ag, epochs[i].month, &left, &nleft);
                        free(left);
                        if (r == 0 && nleft > 0)
                                r = hub_store_write_contrib(ag->st, close_contrib_txn, &c);
                        if (r == 0)
                                r = epoch_key_destroy(ag, epochs[i].month);
                } else if (period_month_end_ms(epochs[i].month) <= now_ms) {
                        r = close_epoch(ag, &epochs[i], now_ms, &out);
                } else if (recount) {
                        char (*materials)[MATERIAL_MAX] = NULL;
                        size_t nm = 0;

                        r = materials_of(ag, epochs[i].month, &materials, &nm);
                        for (size_t j = 0; r == 0 && j < nm; j++)
                                r = mark_dirty(ag, epochs[i].month, materials[j]);
                        free(materials);
                }
        }
        free(epochs);
        if (r == 0 && recount) {
                struct hub_alert_out *more = NULL;
                size_t nmore = 0;

                r = hub_aggregate_flush_all(ag, now_ms, &more, &nmore);
                for (size_t i = 0; i < nmore && r == 0; i++) {
                        r = alert_list_add(&out, more[i].signed_alert, more[i].len);
                        if (r == 0)
                                more[i].signed_alert = NULL;
                }
                hub_alert_out_free(more, nmore);
        }
        *alerts = out.a;
        *nalerts = out.n;
        return r;
}

struct recent_ctx {
        char since[11];
        struct alert_list *out;
};

static int recent_one(const uint8_t *signed_alert, size_t len, const Nmo__AlertBody *b,
                      void *userdata)
{
        struct recent_ctx *rc = userdata;
        uint8_t *copy;

        if (!b->issued || strcmp(b->issued, rc->since) < 0)
                return 0;
        copy = malloc(len);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, signed_alert, len);
        if (alert_list_add(rc->out, copy, len) < 0) {
                free(copy);
                return -ENOMEM;
        }
        return 0;
}

int hub_aggregate_recent_alerts(struct hub_aggregate *ag, uint64_t now_ms, unsigned int days,
                                struct hub_alert_out **alerts, size_t *nalerts)
{
        struct alert_list out = { NULL, 0, 0 };
        struct recent_ctx rc = { "", &out };
        int r;

        period_day_str(period_day_of_ms(now_ms) - (int64_t)days, rc.since, sizeof(rc.since));
        r = hub_analytics_foreach_alert(ag->an, recent_one, &rc);
        if (r < 0) {
                hub_alert_out_free(out.a, out.n);
                return r;
        }
        *alerts = out.a;
        *nalerts = out.n;
        return 0;
}

void hub_aggregate_set_rules(struct hub_aggregate *ag, const struct hub_alert_rules *rules)
{
        pthread_mutex_lock(&ag->lock);
        ag->rules = *rules;
        pthread_mutex_unlock(&ag->lock);
}
