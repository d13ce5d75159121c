/* records.c: see records.h. */
#include "records.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "date.h"
#include "db.h"
#include "envelope.h"
#include "epochkey.h"
#include "log.h"
#include "period.h"

#define RECORD_KEY_MAX HUB_RECORD_CLOSED_KEY_BYTES

void hub_record_closed_key(const uint8_t key[HUB_RECORD_KEY_BYTES],
                           uint8_t out[HUB_RECORD_CLOSED_KEY_BYTES])
{
        static const uint8_t personal[crypto_generichash_blake2b_PERSONALBYTES] =
                "nmo closed id";

        memcpy(out, key, 4);
        crypto_generichash_blake2b_salt_personal(out + 4, 16, key + 4, SIGNAL_ID_BYTES, NULL, 0,
                                                 NULL, personal);
        out[HUB_RECORD_CLOSED_KEY_BYTES - 1] = 'c';
}

int hub_record_pack(uint32_t month, const struct hub_epoch_key *ek, const uint8_t *body,
                    size_t len, uint8_t **out, size_t *out_len)
{
        Nmo__Hub__SignalRecord rec = NMO__HUB__SIGNAL_RECORD__INIT;
        uint8_t *sealed = NULL, *buf;
        size_t slen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;

        rec.has_epoch = 1;
        rec.epoch = month;
        if (ek) {
                sealed = malloc(slen);
                if (!sealed)
                        return -ENOMEM;
                randombytes_buf(sealed, crypto_secretbox_NONCEBYTES);
                crypto_secretbox_easy(sealed + crypto_secretbox_NONCEBYTES, body, len, sealed,
                                      ek->seal_key);
                rec.has_sealed = 1;
                rec.sealed.data = sealed;
                rec.sealed.len = slen;
        } else {
                rec.has_receipt_body = 1;
                rec.receipt_body.data = (uint8_t *)body;
                rec.receipt_body.len = len;
        }
        buf = malloc(nmo__hub__signal_record__get_packed_size(&rec));
        if (!buf) {
                free(sealed);
                return -ENOMEM;
        }
        *out_len = nmo__hub__signal_record__pack(&rec, buf);
        *out = buf;
        free(sealed);
        return 0;
}

uint32_t hub_record_epoch(const Nmo__Hub__SignalRecord *rec)
{
        if (rec->has_epoch)
                return rec->epoch;
        if (rec->has_received_ms)
                return period_month_of_day(date_day_of_ms(rec->received_ms));
        return 0;
}

static int copy_out(const uint8_t *data, size_t len, uint8_t **body, size_t *body_len)
{
        uint8_t *b = malloc(len ? len : 1);

        if (!b)
                return -ENOMEM;
        if (len)
                memcpy(b, data, len);
        *body = b;
        *body_len = len;
        return 0;
}

int hub_record_body(const Nmo__Hub__SignalRecord *rec, const struct hub_epoch_key *ek,
                    uint8_t **body, size_t *len)
{
        Nmo__SignedReceipt *sr;
        uint8_t *plain;
        size_t plen;
        int r;

        if (rec->has_receipt_body)
                return copy_out(rec->receipt_body.data, rec->receipt_body.len, body, len);
        if (rec->has_sealed) {
                if (!ek)
                        return -ENOENT;
                if (rec->sealed.len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
                        return -EBADMSG;
                plen = rec->sealed.len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
                plain = malloc(plen ? plen : 1);
                if (!plain)
                        return -ENOMEM;
                if (crypto_secretbox_open_easy(plain,
                                               rec->sealed.data + crypto_secretbox_NONCEBYTES,
                                               rec->sealed.len - crypto_secretbox_NONCEBYTES,
                                               rec->sealed.data, ek->seal_key) != 0) {
                        free(plain);
                        return -EBADMSG;
                }
                *body = plain;
                *len = plen;
                return 0;
        }
        if (!rec->has_receipt)
                return -ENOENT;
        sr = nmo__signed_receipt__unpack(NULL, rec->receipt.len, rec->receipt.data);
        if (!sr || !sr->has_body) {
                if (sr)
                        nmo__signed_receipt__free_unpacked(sr, NULL);
                return -EBADMSG;
        }
        r = copy_out(sr->body.data, sr->body.len, body, len);
        nmo__signed_receipt__free_unpacked(sr, NULL);
        return r;
}

/* A record a chunk cuts down: its key now, and its epoch. */
struct strip_item {
        uint8_t key[RECORD_KEY_MAX];
        size_t key_len;
        uint32_t epoch;
};

struct strip_ctx {
        struct hub_store *st;
        uint32_t month;
        /* Where the next chunk starts (the first key not yet looked at). */
        uint8_t resume[RECORD_KEY_MAX];
        size_t resume_len;
        bool started;
        /* Set by a chunk, taken once its transaction committed. */
        uint8_t next[RECORD_KEY_MAX];
        size_t next_len;
        bool done;
        uint64_t changed;
        struct strip_item *items;       /* HUB_RECORDS_STRIP_CHUNK entries */
};

/* Does rec hold more than its epoch? */
static bool record_has_more(const Nmo__Hub__SignalRecord *rec)
{
        return rec->has_receipt || rec->has_received_ms || rec->has_receipt_body ||
               rec->has_sealed || !rec->has_epoch || rec->base.n_unknown_fields > 0;
}

/* Looks at up to a chunk of records from the resume key and lists those to
 * cut down; the cursor is closed before anything changes. */
static int strip_scan(MDB_txn *txn, struct strip_ctx *c, size_t *n)
{
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        size_t seen = 0;
        int rc, r = 0;

        *n = 0;
        rc = mdb_cursor_open(txn, c->st->signals, &cur);
        if (rc)
                return db_errno(rc);
        if (c->started) {
                k.mv_size = c->resume_len;
                k.mv_data = c->resume;
                rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        } else {
                rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        }
        for (; rc == 0 && seen < HUB_RECORDS_STRIP_CHUNK;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), seen++) {
                Nmo__Hub__SignalRecord *rec = nmo__hub__signal_record__unpack(NULL, v.mv_size,
                                                                             v.mv_data);
                uint32_t epoch = rec ? hub_record_epoch(rec) : 0;
                bool cut = !rec || (epoch <= c->month &&
                                    (record_has_more(rec) || k.mv_size == HUB_RECORD_KEY_BYTES));

                if (rec)
                        nmo__hub__signal_record__free_unpacked(rec, NULL);
                else
                        log_warn("private store: a damaged signal record; keeping only its key");
                if (!cut)
                        continue;
                if (k.mv_size > RECORD_KEY_MAX) {
                        r = -EBADMSG;
                        break;
                }
                memcpy(c->items[*n].key, k.mv_data, k.mv_size);
                c->items[*n].key_len = k.mv_size;
                c->items[*n].epoch = epoch ? epoch : c->month;
                (*n)++;
        }
        if (r == 0 && rc == 0) {
                if (k.mv_size > sizeof(c->next)) {
                        r = -EBADMSG;
                } else {
                        memcpy(c->next, k.mv_data, k.mv_size);
                        c->next_len = k.mv_size;
                }
        } else if (r == 0 && rc == MDB_NOTFOUND) {
                c->done = true;
        } else if (r == 0) {
                r = db_errno(rc);
        }
        mdb_cursor_close(cur);
        return r;
}

/* One chunk, from scratch on every call (the map may have grown): an open
 * record moves to its closed key, anything else is cut down in place. */
static int strip_chunk(MDB_txn *txn, void *userdata)
{
        struct strip_ctx *c = userdata;
        size_t n = 0;
        int r;

        c->changed = 0;
        c->done = false;
        r = strip_scan(txn, c, &n);
        for (size_t i = 0; r == 0 && i < n; i++) {
                Nmo__Hub__SignalRecord cut = NMO__HUB__SIGNAL_RECORD__INIT;
                struct strip_item *it = &c->items[i];
                uint8_t buf[16], closed[HUB_RECORD_CLOSED_KEY_BYTES];
                MDB_val k = { it->key_len, it->key }, nv;

                cut.has_epoch = 1;
                cut.epoch = it->epoch;
                nv.mv_size = nmo__hub__signal_record__pack(&cut, buf);
                nv.mv_data = buf;
                if (it->key_len == HUB_RECORD_KEY_BYTES) {
                        r = db_errno(mdb_del(txn, c->st->signals, &k, NULL));
                        if (r < 0)
                                break;
                        hub_record_closed_key(it->key, closed);
                        k.mv_size = sizeof(closed);
                        k.mv_data = closed;
                }
                r = db_errno(mdb_put(txn, c->st->signals, &k, &nv, 0));
                if (r == 0)
                        c->changed++;
        }
        return r;
}

int hub_records_strip(struct hub_store *st, uint32_t month, uint64_t *stripped)
{
        struct strip_ctx c;
        uint64_t total = 0;
        int r;

        memset(&c, 0, sizeof(c));
        c.st = st;
        c.month = month;
        c.items = malloc(HUB_RECORDS_STRIP_CHUNK * sizeof(*c.items));
        if (!c.items)
                return -ENOMEM;
        for (;;) {
                r = hub_store_write(st, strip_chunk, &c);
                if (r < 0) {
                        free(c.items);
                        return r;
                }
                total += c.changed;
                if (c.done)
                        break;
                memcpy(c.resume, c.next, c.next_len);
                c.resume_len = c.next_len;
                c.started = true;
        }
        free(c.items);
        if (stripped)
                *stripped = total;
        return 0;
}

struct through_ctx {
        struct hub_store *st;
        uint64_t value;
};

static int through_get(MDB_txn *txn, void *userdata)
{
        struct through_ctx *c = userdata;

        return hub_store_meta_get(txn, c->st, HUB_META_RECORDS_STRIPPED, &c->value);
}

int hub_records_stripped_through(struct hub_store *st, uint32_t *month)
{
        struct through_ctx c = { st, 0 };
        int r = hub_store_read(st, through_get, &c);

        *month = r == 0 && c.value <= UINT32_MAX ? (uint32_t)c.value : 0;
        return r;
}

int hub_records_mark_stripped(MDB_txn *txn, struct hub_store *st, uint32_t month)
{
        uint64_t cur;
        int r = hub_store_meta_get(txn, st, HUB_META_RECORDS_STRIPPED, &cur);

        if (r == 0 && month > cur)
                r = hub_store_meta_add(txn, st, HUB_META_RECORDS_STRIPPED, month - cur, NULL);
        return r;
}
