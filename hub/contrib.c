/* contrib.c: see contrib.h. */
#include "contrib.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "store.pb-c.h"

size_t hub_contrib_prefix(uint32_t month, const char *material, uint8_t *buf)
{
        size_t n = strlen(material);

        hub_store_put_u32(buf, month);
        memcpy(buf + 4, material, n);
        buf[4 + n] = 0;
        return 4 + n + 1;
}

/* Opens a summary value (nonce || secretbox) into a fresh Summary. */
static Nmo__Hub__Summary *summary_open(const struct hub_epoch_key *ek, const MDB_val *v)
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

void hub_contrib_row_clear(struct hub_contrib_row *w)
{
        for (size_t i = 0; i < w->nnotes; i++)
                free(w->notes[i]);
        sodium_memzero(w, sizeof(*w));
}

static int row_from(struct hub_contrib_row *w, const Nmo__Hub__Summary *sum)
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
        w->record_key = sum->has_record_key ? sum->record_key : 0;
        for (size_t i = 0; i < sum->n_notes && i < HUB_CONTRIB_NOTES_MAX; i++) {
                w->notes[i] = strdup(sum->notes[i]);
                if (!w->notes[i])
                        return -ENOMEM;
                w->nnotes++;
        }
        return 0;
}

int hub_contrib_row_seal(const struct hub_contrib_row *w, const struct hub_epoch_key *ek,
                         uint8_t **out, size_t *len)
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
        sum.has_record_key = 1;
        sum.record_key = w->record_key;
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

int hub_contrib_row_merge(struct hub_contrib_row *w, const struct hub_contrib_row *d)
{
        w->reports += d->reports;
        w->record_key += d->record_key;
        for (size_t i = 0; i < 5; i++) {
                w->severity[i] += d->severity[i];
                w->status[i] += d->status[i];
        }
        for (size_t i = 0; i < 6; i++)
                w->share[i] += d->share[i];
        if (d->volume_t > w->volume_t)
                w->volume_t = d->volume_t;
        for (size_t j = 0; j < d->nnotes && w->nnotes < HUB_CONTRIB_NOTES_MAX; j++) {
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

int hub_contrib_row_open(const struct hub_epoch_key *ek, const MDB_val *sealed,
                         struct hub_contrib_row *w)
{
        Nmo__Hub__Summary *sum = summary_open(ek, sealed);
        int r;

        memset(w, 0, sizeof(*w));
        if (!sum)
                return -EBADMSG;
        r = row_from(w, sum);
        nmo__hub__summary__free_unpacked(sum, NULL);
        if (r < 0)
                hub_contrib_row_clear(w);
        return r;
}

void hub_contrib_rows_free(struct hub_contrib_row *rows, size_t n)
{
        for (size_t i = 0; i < n; i++)
                hub_contrib_row_clear(&rows[i]);
        free(rows);
}

int hub_contrib_load(struct hub_store *st, struct hub_epoch_keys *keys, uint32_t month,
                     const char *material, struct hub_contrib_row **rows, size_t *nrows)
{
        uint8_t prefix[HUB_CONTRIB_PREFIX_MAX];
        size_t plen = hub_contrib_prefix(month, material, prefix), cap = 0, n = 0;
        struct hub_epoch_key ek;
        struct hub_contrib_row *out = NULL;
        MDB_txn *txn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int rc, r;

        *rows = NULL;
        *nrows = 0;
        r = hub_epoch_key_get(keys, month, false, &ek);
        if (r < 0)
                return r;
        r = db_txn_begin(st->cenv, MDB_RDONLY, &txn);
        if (r < 0) {
                txn = NULL;
                goto out;
        }
        rc = mdb_cursor_open(txn, st->contributions, &cur);
        if (rc) {
                r = db_errno(rc);
                goto out;
        }
        k.mv_size = plen;
        k.mv_data = prefix;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
                        break;
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        struct hub_contrib_row *g = realloc(out, ncap * sizeof(*g));

                        if (!g) {
                                r = -ENOMEM;
                                break;
                        }
                        out = g;
                        cap = ncap;
                }
                r = hub_contrib_row_open(&ek, &v, &out[n]);
                if (r == -EBADMSG)
                        log_error("a summary of %06u/%s does not open with its epoch key",
                                  month, material);
                if (r < 0)
                        break;
                n++;
        }
        if (r == 0 && rc && rc != MDB_NOTFOUND)
                r = db_errno(rc);
out:
        if (cur)
                mdb_cursor_close(cur);
        if (txn)
                db_txn_abort(txn);
        sodium_memzero(&ek, sizeof(ek));
        if (r < 0) {
                hub_contrib_rows_free(out, n);
                return r;
        }
        *rows = out;
        *nrows = n;
        return 0;
}

int hub_contrib_materials(struct hub_store *st, uint32_t month,
                          char (**out)[HUB_MATERIAL_MAX], size_t *n)
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
        r = db_txn_begin(st->cenv, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(txn, st->contributions, &cur);
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
                if (mlen >= HUB_MATERIAL_MAX || mlen == k.mv_size - 4)
                        continue;
                if (*n > 0 && strcmp((*out)[*n - 1], m) == 0)
                        continue;
                if (*n == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        char(*g)[HUB_MATERIAL_MAX] = realloc(*out, ncap * sizeof(*g));

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

int hub_contrib_delete_epoch(MDB_txn *ctxn, struct hub_store *st, uint32_t month)
{
        uint8_t prefix[4];
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int rc, r = 0;

        hub_store_put_u32(prefix, month);
        rc = mdb_cursor_open(ctxn, st->contributions, &cur);
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

/* The contributions key of (member, week, event, country) in month: a keyed
 * hash, so the store's keys say nothing once the epoch key is gone. Returns
 * its length. */
static size_t row_key(const struct hub_epoch_key *ek, uint32_t month, uint32_t week,
                      const uint8_t idbuf[4], const struct signal *s,
                      uint8_t key[HUB_CONTRIB_KEY_MAX])
{
        size_t klen = hub_contrib_prefix(month, s->material, key);
        crypto_generichash_state gs;

        crypto_generichash_init(&gs, ek->pseudonym_key, sizeof(ek->pseudonym_key), 8);
        crypto_generichash_update(&gs, idbuf, 4);
        crypto_generichash_update(&gs, (const uint8_t *)&week, sizeof(week));
        crypto_generichash_update(&gs, (const uint8_t *)s->event, strlen(s->event) + 1);
        crypto_generichash_update(&gs, (const uint8_t *)s->country, strlen(s->country) + 1);
        crypto_generichash_final(&gs, key + klen, 8);
        return klen + 8;
}

int hub_contrib_of_signal(const struct hub_epoch_key *ek, uint32_t week, uint32_t member_id,
                          const struct signal *s, uint8_t key[HUB_CONTRIB_KEY_MAX], size_t *klen,
                          uint8_t **sealed, size_t *slen)
{
        struct hub_contrib_row w;
        uint8_t idbuf[4];
        int r;

        if (strlen(s->material) >= HUB_MATERIAL_MAX)
                return -EINVAL;
        memset(&w, 0, sizeof(w));
        hub_store_put_u32(idbuf, member_id);
        *klen = row_key(ek, ek->month, week, idbuf, s, key);
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
        /* Each signal's own random record key: a cell's key is the sum over
         * its signals, so a cell with one signal more gets a fresh draw of
         * noise, and the same signals always the same (disclosure.h). */
        w.record_key = randombytes_random();
        /* Free text reaches the aggregation only with the reporter's consent. */
        if (s->note[0] && s->note_consent == NMO__NOTE_CONSENT__NOTE_CONSENT_MAY_BE_SHARED) {
                w.notes[0] = strdup(s->note);
                if (!w.notes[0]) {
                        hub_contrib_row_clear(&w);
                        return -ENOMEM;
                }
                w.nnotes = 1;
        }
        r = hub_contrib_row_seal(&w, ek, sealed, slen);
        hub_contrib_row_clear(&w);
        return r;
}
