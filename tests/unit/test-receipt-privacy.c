/* test-receipt-privacy.c: what receipts and the hub's signal records tell.
 *
 * Batch receipts (proto/receipt.c): the tree of every batch is padded to a
 * power of two of at least 8 leaves with the receipts at random leaves, and
 * every receipt verifies with the unchanged verifier; a layout that does not
 * make a tree is refused. Signal records (hub/records.c): sealed under the
 * epoch's key, cut down to the epoch when it closes (records of later epochs
 * untouched, damaged and older records too, idempotent), with the counter
 * that says how far that went.
 *
 * With NMO_BENCH_STRIP=N in the environment, test_strip_bench also times
 * hub_records_strip() over N records and prints it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "date.h"
#include "db.h"
#include "epochkey.h"
#include "period.h"
#include "receipt.h"
#include "records.h"
#include "store.h"
#include "unit-tmp.h"
#include "util.h"

static uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES], sign_sk[crypto_sign_SECRETKEYBYTES];

static void body_of(size_t i, uint8_t **body, size_t *len)
{
        struct receipt r;

        memset(&r, 0, sizeof(r));
        r.has_id = true;
        randombytes_buf(r.signal_id, sizeof(r.signal_id));
        r.status = i % 3 == 2 ? NMO__RECEIPT_STATUS__RECEIPT_REJECTED
                              : NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED;
        r.reason = i % 3 == 2 ? NMO__REASON__REASON_INVALID_SIGNAL : NMO__REASON__REASON_NONE;
        r.hub_time_ms = receipt_hour_ms(util_now_ms());
        randombytes_buf(r.envelope_hash, sizeof(r.envelope_hash));
        randombytes_buf(r.member_key, sizeof(r.member_key));
        assert_int_equal(receipt_body_pack(&r, body, len), 0);
}

/* Signs n bodies as the hub does; *index[i] receives the leaf of receipt i
 * after checking that every receipt verifies, carries its own body and the
 * padded tree size, and that the leaves are distinct. */
static void sign_and_check(size_t n, uint32_t *index)
{
        uint8_t **bodies = calloc(n, sizeof(*bodies)), **frames = calloc(n, sizeof(*frames));
        size_t *lens = calloc(n, sizeof(*lens)), *flens = calloc(n, sizeof(*flens));
        size_t size = receipt_batch_tree_size(n);
        uint8_t *seen = calloc(size, 1);

        assert_true(bodies && frames && lens && flens && seen);
        assert_true(size >= RECEIPT_BATCH_MIN_TREE && size >= n && (size & (size - 1)) == 0);
        assert_true(size < 2 * n || size == RECEIPT_BATCH_MIN_TREE);
        for (size_t i = 0; i < n; i++)
                body_of(i, &bodies[i], &lens[i]);
        assert_int_equal(receipt_sign_batch(bodies, lens, NULL, n, sign_sk, frames, flens), 0);
        for (size_t i = 0; i < n; i++) {
                uint8_t *sr = NULL;
                size_t srlen = 0;
                bool dup = true;
                struct receipt v;
                Nmo__SignedReceipt *u;

                assert_int_equal(reply_unpack(frames[i], flens[i], &dup, &sr, &srlen), 0);
                assert_false(dup);
                if (receipt_verify(sr, srlen, sign_pk, &v) != 0)
                        fail_msg("batch of %zu: receipt %zu does not verify", n, i);
                u = nmo__signed_receipt__unpack(NULL, srlen, sr);
                assert_non_null(u);
                assert_true(u->has_tree_size && u->tree_size == size);
                assert_true(u->has_leaf_index && u->leaf_index < size);
                assert_false(seen[u->leaf_index]);
                seen[u->leaf_index] = 1;
                assert_int_equal(u->body.len, lens[i]);
                assert_memory_equal(u->body.data, bodies[i], lens[i]);
                index[i] = u->leaf_index;
                /* A body at a leaf not its own does not verify. */
                u->leaf_index = (u->leaf_index + 1) % (uint32_t)size;
                {
                        size_t plen = nmo__signed_receipt__get_packed_size(u);
                        uint8_t *moved = malloc(plen);

                        assert_non_null(moved);
                        nmo__signed_receipt__pack(u, moved);
                        assert_int_equal(receipt_verify(moved, plen, sign_pk, &v), -EKEYREJECTED);
                        free(moved);
                }
                nmo__signed_receipt__free_unpacked(u, NULL);
                free(sr);
        }
        for (size_t i = 0; i < n; i++) {
                free(bodies[i]);
                free(frames[i]);
        }
        free(bodies);
        free(frames);
        free(lens);
        free(flens);
        free(seen);
}

/* Sizes 1..70 and a few large ones: a power of two >= 8, every receipt
 * verifies with receipt_verify() at its random leaf. */
static void test_padded_tree_verifies(void **state)
{
        static const size_t big[] = { 127, 128, 129, 1000 };
        uint32_t index[1000];

        (void)state;
        assert_int_equal(receipt_batch_tree_size(1), 8);
        assert_int_equal(receipt_batch_tree_size(8), 8);
        assert_int_equal(receipt_batch_tree_size(9), 16);
        assert_int_equal(receipt_batch_tree_size(65), 128);
        assert_int_equal(receipt_batch_tree_size(RECEIPT_BATCH_MAX), RECEIPT_BATCH_MAX);
        for (size_t n = 1; n <= 70; n++)
                sign_and_check(n, index);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(big); i++)
                sign_and_check(big[i], index);
}

/* The leaves say nothing of the order: a lone receipt lands on every leaf of
 * the 8 over enough batches, and the first of two is not always on the left.
 * (Each assertion fails by chance with a probability below 2^-40.) */
static void test_leaves_random(void **state)
{
        unsigned int hits[8] = { 0 }, first_left = 0;
        uint32_t index[2];

        (void)state;
        for (int t = 0; t < 400; t++) {
                sign_and_check(1, index);
                hits[index[0]]++;
        }
        for (int l = 0; l < 8; l++)
                assert_true(hits[l] > 0);
        for (int t = 0; t < 100; t++) {
                sign_and_check(2, index);
                first_left += index[0] < index[1];
        }
        assert_true(first_left > 0 && first_left < 100);
}

/* A layout that is not a tree is refused before anything is signed. */
static void test_layout_refused(void **state)
{
        uint8_t *bodies[2], *frames[2] = { NULL, NULL }, filler[8 * 32];
        size_t lens[2], flens[2];
        const uint32_t same[2] = { 3, 3 }, outside[2] = { 0, 8 }, fine[2] = { 5, 1 };

        (void)state;
        body_of(0, &bodies[0], &lens[0]);
        body_of(1, &bodies[1], &lens[1]);
        randombytes_buf(filler, sizeof(filler));
        assert_int_equal(receipt_sign_batch_layout(bodies, lens, NULL, 2, 8, same, filler, sign_sk,
                                                   NULL, NULL, 0, frames, flens), -EINVAL);
        assert_int_equal(receipt_sign_batch_layout(bodies, lens, NULL, 2, 8, outside, filler,
                                                   sign_sk, NULL, NULL, 0, frames, flens),
                         -EINVAL);
        assert_int_equal(receipt_sign_batch_layout(bodies, lens, NULL, 2, 1, fine, filler, sign_sk,
                                                   NULL, NULL, 0, frames, flens), -EINVAL);
        assert_int_equal(receipt_sign_batch_layout(bodies, lens, NULL, 2, RECEIPT_BATCH_MAX + 1,
                                                   fine, filler, sign_sk, NULL, NULL, 0, frames,
                                                   flens), -EINVAL);
        assert_int_equal(receipt_sign_batch(bodies, lens, NULL, RECEIPT_BATCH_MAX + 1, sign_sk,
                                            frames, flens), -EINVAL);
        assert_null(frames[0]);
        assert_int_equal(receipt_sign_batch_layout(bodies, lens, NULL, 2, 8, fine, filler, sign_sk,
                                                   NULL, NULL, 0, frames, flens), 0);
        for (int i = 0; i < 2; i++) {
                free(frames[i]);
                free(bodies[i]);
        }
}

/* ---- signal records ---- */

struct rec_fixture {
        char dir[PATH_MAX];
        struct hub_store *st;
        struct hub_epoch_key ek;
};

static void rec_up(struct rec_fixture *f)
{
        assert_non_null(unit_tmp_make(f->dir, sizeof(f->dir), "recpriv"));
        assert_int_equal(hub_store_open(&f->st, f->dir, false), 0);
        memset(&f->ek, 0, sizeof(f->ek));
        randombytes_buf(f->ek.seal_key, sizeof(f->ek.seal_key));
}

static void rec_down(struct rec_fixture *f)
{
        hub_store_free(f->st);
        assert_int_equal(unit_tmp_remove(f->dir), 0);
}

struct put_ctx {
        struct hub_store *st;
        uint32_t member;
        const uint8_t *val;
        size_t len;
        uint32_t first, count;  /* ids first .. first + count - 1 */
};

static int put_fn(MDB_txn *txn, void *userdata)
{
        struct put_ctx *c = userdata;

        for (uint32_t i = 0; i < c->count; i++) {
                uint8_t key[4 + SIGNAL_ID_BYTES];
                MDB_val k = { sizeof(key), key }, v = { c->len, (void *)c->val };
                uint32_t id = c->first + i;

                hub_store_put_u32(key, c->member);
                memset(key + 4, 0, SIGNAL_ID_BYTES);
                hub_store_put_u32(key + 4 + SIGNAL_ID_BYTES - 4, id);
                int rc = mdb_put(txn, c->st->signals, &k, &v, 0);

                /* MDB_MAP_FULL as db_write() knows it: the map grows. */
                if (rc)
                        return db_errno(rc);
        }
        return 0;
}

static void put_raw(struct rec_fixture *f, uint32_t member, uint32_t id, const uint8_t *val,
                    size_t len)
{
        struct put_ctx c = { f->st, member, val, len, id, 1 };

        assert_int_equal(hub_store_write(f->st, put_fn, &c), 0);
}

struct get_ctx {
        struct hub_store *st;
        uint32_t member, id;
        bool closed;            /* under the closed key */
        Nmo__Hub__SignalRecord *rec;
};

static int get_fn(MDB_txn *txn, void *userdata)
{
        struct get_ctx *c = userdata;
        uint8_t key[HUB_RECORD_KEY_BYTES], closed[HUB_RECORD_CLOSED_KEY_BYTES];
        MDB_val k = { sizeof(key), key }, v;

        hub_store_put_u32(key, c->member);
        memset(key + 4, 0, SIGNAL_ID_BYTES);
        hub_store_put_u32(key + 4 + SIGNAL_ID_BYTES - 4, c->id);
        if (c->closed) {
                hub_record_closed_key(key, closed);
                k.mv_size = sizeof(closed);
                k.mv_data = closed;
        }
        if (mdb_get(txn, c->st->signals, &k, &v))
                return -ENOENT;
        c->rec = nmo__hub__signal_record__unpack(NULL, v.mv_size, v.mv_data);
        return c->rec ? 0 : -EBADMSG;
}

/* The record under its open key (closed false) or closed key; NULL when
 * there is none. */
static Nmo__Hub__SignalRecord *find_rec(struct rec_fixture *f, uint32_t member, uint32_t id,
                                        bool closed)
{
        struct get_ctx c = { f->st, member, id, closed, NULL };
        int r = hub_store_read(f->st, get_fn, &c);

        assert_true(r == 0 || r == -ENOENT);
        return c.rec;
}

static Nmo__Hub__SignalRecord *get_rec(struct rec_fixture *f, uint32_t member, uint32_t id)
{
        Nmo__Hub__SignalRecord *rec = find_rec(f, member, id, false);

        assert_non_null(rec);
        return rec;
}

static void put_sealed(struct rec_fixture *f, uint32_t member, uint32_t id, uint32_t month,
                       const uint8_t *body, size_t len)
{
        uint8_t *val = NULL;
        size_t vlen = 0;

        assert_int_equal(hub_record_pack(month, &f->ek, body, len, &val, &vlen), 0);
        put_raw(f, member, id, val, vlen);
        free(val);
}

/* Only the epoch is left of the records of the closed epoch and before,
 * under the closed key (no signal id, so no creation time); the open key is
 * gone. */
static void assert_cut(struct rec_fixture *f, uint32_t member, uint32_t id, uint32_t epoch)
{
        Nmo__Hub__SignalRecord *rec = find_rec(f, member, id, true);

        assert_null(find_rec(f, member, id, false));
        assert_non_null(rec);
        uint8_t *body = NULL;
        size_t len = 0;

        assert_true(rec->has_epoch);
        assert_int_equal(rec->epoch, epoch);
        assert_false(rec->has_sealed || rec->has_receipt_body || rec->has_receipt ||
                     rec->has_received_ms);
        assert_int_equal(hub_record_body(rec, &f->ek, &body, &len), -ENOENT);
        nmo__hub__signal_record__free_unpacked(rec, NULL);
}

static void test_records_sealed_and_cut(void **state)
{
        struct rec_fixture f;
        uint8_t *body = NULL, *got = NULL, garbage[7] = { 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2 };
        size_t len = 0, glen = 0;
        uint64_t changed = 99;
        uint32_t through = 1;
        Nmo__Hub__SignalRecord *rec;

        (void)state;
        rec_up(&f);
        body_of(0, &body, &len);
        put_sealed(&f, 1, 1, 202610, body, len);
        put_sealed(&f, 1, 2, 202611, body, len);
        put_sealed(&f, 2, 1, 202612, body, len);
        /* A record of an older hub: the body in the clear and the exact time. */
        {
                Nmo__Hub__SignalRecord old = NMO__HUB__SIGNAL_RECORD__INIT;
                uint8_t buf[1024];

                old.has_receipt_body = 1;
                old.receipt_body.data = body;
                old.receipt_body.len = len;
                old.has_received_ms = 1;
                old.received_ms = period_month_start_ms(202611) + 12345;
                put_raw(&f, 3, 1, buf, nmo__hub__signal_record__pack(&old, buf));
        }
        put_raw(&f, 3, 2, garbage, sizeof(garbage));

        /* Sealed: the body opens under the epoch's key only, and is not in
         * the record's bytes. */
        rec = get_rec(&f, 1, 2);
        assert_true(rec->has_epoch && rec->epoch == 202611 && rec->has_sealed);
        assert_false(rec->has_receipt_body || rec->has_received_ms);
        assert_int_equal(hub_record_body(rec, &f.ek, &got, &glen), 0);
        assert_int_equal(glen, len);
        assert_memory_equal(got, body, len);
        free(got);
        assert_int_equal(hub_record_body(rec, NULL, &got, &glen), -ENOENT);
        {
                struct hub_epoch_key wrong;

                memset(&wrong, 0, sizeof(wrong));
                randombytes_buf(wrong.seal_key, sizeof(wrong.seal_key));
                assert_int_equal(hub_record_body(rec, &wrong, &got, &glen), -EBADMSG);
        }
        nmo__hub__signal_record__free_unpacked(rec, NULL);

        assert_int_equal(hub_records_stripped_through(f.st, &through), 0);
        assert_int_equal(through, 0);
        assert_int_equal(hub_records_strip(f.st, 202611, &changed), 0);
        assert_int_equal(changed, 4);
        assert_cut(&f, 1, 1, 202610);
        assert_cut(&f, 1, 2, 202611);
        assert_cut(&f, 3, 1, 202611);
        assert_cut(&f, 3, 2, 202611);   /* damaged: kept as a key only */
        /* The next epoch's record is untouched. */
        rec = get_rec(&f, 2, 1);
        assert_true(rec->has_sealed && rec->epoch == 202612);
        nmo__hub__signal_record__free_unpacked(rec, NULL);
        /* Again, as after a crash: nothing left to change. */
        assert_int_equal(hub_records_strip(f.st, 202611, &changed), 0);
        assert_int_equal(changed, 0);
        free(body);
        rec_down(&f);
}

static int mark_fn(MDB_txn *txn, void *userdata)
{
        struct hub_store *st = userdata;
        int r = hub_records_mark_stripped(txn, st, 202611);

        /* The counter never goes back. */
        if (r == 0)
                r = hub_records_mark_stripped(txn, st, 202609);
        return r;
}

static void test_stripped_through(void **state)
{
        struct rec_fixture f;
        uint32_t through = 0;

        (void)state;
        rec_up(&f);
        assert_int_equal(hub_store_write(f.st, mark_fn, f.st), 0);
        assert_int_equal(hub_records_stripped_through(f.st, &through), 0);
        assert_int_equal(through, 202611);
        rec_down(&f);
}

/* More records than one chunk: every chunk boundary is crossed once. */
static void test_strip_chunks(void **state)
{
        struct rec_fixture f;
        uint8_t *body = NULL, *val = NULL;
        size_t len = 0, vlen = 0;
        uint64_t changed = 0;
        const char *bench = getenv("NMO_BENCH_STRIP");
        uint32_t n = 2 * HUB_RECORDS_STRIP_CHUNK + 17;
        struct put_ctx c;

        (void)state;
        if (bench && *bench) {
                uint32_t b;

                assert_int_equal(util_parse_u32(bench, 1, 100000000, &b), 0);
                n = b;
        }
        rec_up(&f);
        body_of(0, &body, &len);
        assert_int_equal(hub_record_pack(202611, &f.ek, body, len, &val, &vlen), 0);
        for (uint32_t at = 0; at < n; at += 50000) {
                c = (struct put_ctx){ f.st, 7, val, vlen, at, n - at < 50000 ? n - at : 50000 };
                assert_int_equal(hub_store_write(f.st, put_fn, &c), 0);
        }
        {
                uint64_t t0 = util_mono_ms(), t;

                assert_int_equal(hub_records_strip(f.st, 202611, &changed), 0);
                t = util_mono_ms() - t0;
                if (bench && *bench)
                        printf("# hub_records_strip: %u records (%zu bytes each) cut down in "
                               "%llu ms\n", n, vlen, (unsigned long long)t);
                t0 = util_mono_ms();
                assert_int_equal(hub_records_strip(f.st, 202611, NULL), 0);
                if (bench && *bench)
                        printf("# hub_records_strip again (a scan, nothing to change): %llu ms\n",
                               (unsigned long long)(util_mono_ms() - t0));
        }
        assert_int_equal(changed, n);
        assert_cut(&f, 7, 0, 202611);
        assert_cut(&f, 7, HUB_RECORDS_STRIP_CHUNK - 1, 202611);
        assert_cut(&f, 7, HUB_RECORDS_STRIP_CHUNK, 202611);
        assert_cut(&f, 7, n - 1, 202611);
        free(val);
        free(body);
        rec_down(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_padded_tree_verifies),
                cmocka_unit_test(test_leaves_random),
                cmocka_unit_test(test_layout_refused),
                cmocka_unit_test(test_records_sealed_and_cut),
                cmocka_unit_test(test_stripped_through),
                cmocka_unit_test(test_strip_chunks),
        };

        if (sodium_init() < 0)
                return 1;
        crypto_sign_keypair(sign_pk, sign_sk);
        return cmocka_run_group_tests_name("receipt-privacy", tests, NULL, NULL);
}
