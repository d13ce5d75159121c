/* test-ingest.c: the hub's ingest pipeline (hub/ingest.c) in process, on a real
 * LMDB store: outcomes, receipts, duplicates within one batch, the member and
 * rate checks, and map growth under a tiny initial map. Also its two stages
 * (hub_ingest_open(), hub_ingest_commit()) interleaved, the next batch opened
 * before the one before is committed: an envelope sent twice in two such
 * batches is stored once and both get a signed receipt (the second as a
 * duplicate, with the original receipt); a key rotation, a revocation or a
 * suspension committed between a batch's opening and its commit decides that
 * batch, as if it had been opened after; and a key rotation decides the rest
 * of its own batch. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "ingest.h"
#include "member.h"
#include "store.h"
#include "store.pb-c.h"
#include "unit-tmp.h"

struct fixture {
        char dir[PATH_MAX];
        struct hub_store *st;
        struct keys_secret *hub, *a, *b;
        struct hub_member ma, mb;
        struct hub_ingest *ig;
        struct hub_limits limits;
};

struct add_ctx {
        struct hub_store *st;
        const char *name;
        const struct keys_public *pk;
        struct hub_member *out;
        enum hub_member_state state;
};

static int do_add(MDB_txn *txn, void *u)
{
        struct add_ctx *c = u;
        return hub_member_add(txn, c->st, c->name, c->pk, 1, c->out);
}

static int do_state(MDB_txn *txn, void *u)
{
        struct add_ctx *c = u;
        return hub_member_set_state(txn, c->st, c->name, c->state, 2, NULL);
}

static void fixture_up(struct fixture *f, size_t map, uint32_t rate, uint32_t burst)
{
        struct add_ctx c;

        memset(f, 0, sizeof(*f));
        assert_non_null(unit_tmp_make(f->dir, sizeof(f->dir), "ingest"));
        assert_int_equal(hub_store_open_map(&f->st, f->dir, false, map), 0);
        assert_int_equal(keys_generate(&f->hub, KEYS_ROLE_HUB, NULL), 0);
        assert_int_equal(keys_generate(&f->a, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(keys_generate(&f->b, KEYS_ROLE_MEMBER, NULL), 0);
        c = (struct add_ctx){ f->st, "alpha", &f->a->pub, &f->ma, 0 };
        assert_int_equal(hub_store_write(f->st, do_add, &c), 0);
        c = (struct add_ctx){ f->st, "beta", &f->b->pub, &f->mb, 0 };
        assert_int_equal(hub_store_write(f->st, do_add, &c), 0);
        f->limits = (struct hub_limits){ 65536, 1000, 512, rate, burst, 10000, 256, 4, 512, 0 };
        assert_int_equal(hub_ingest_new(&f->ig, f->st, f->hub, &f->limits, NULL), 0);
}

/* As nmo-hub serve opens the store: each commit durable once the next one is. */
static void fixture_up_as_serve(struct fixture *f)
{
        fixture_up(f, 1u << 20, 100000, 100000);
        assert_int_equal(mdb_env_set_flags(f->st->env, MDB_NOMETASYNC, 1), 0);
}

static void fixture_down(struct fixture *f)
{
        hub_ingest_free(f->ig);
        hub_store_free(f->st);
        keys_free(f->hub);
        keys_free(f->a);
        keys_free(f->b);
        assert_int_equal(unit_tmp_remove(f->dir), 0);
}

static void seal(struct fixture *f, const struct keys_secret *member, uint8_t **frame,
                 size_t *len)
{
        struct signal s;
        char err[200];

        signal_init(&s);
        assert_int_equal(signal_set(&s, "material", "gallium", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "event", "export-ban", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "severity", "high", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "country", "CN", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "note", "a note that makes the record bigger, as "
                                    "real notes do, so that the map fills sooner", err,
                                    sizeof(err)), 0);
        assert_int_equal(envelope_seal(&s, member, f->hub->pub.payload, NULL, frame, len), 0);
}

/* Decodes and verifies an item's reply. */
static void reply_of(struct fixture *f, const struct hub_item *it, struct receipt *r, bool *dup)
{
        uint8_t *sig = NULL;
        size_t len = 0;

        assert_non_null(it->reply);
        assert_int_equal(reply_unpack(it->reply, it->reply_len, dup, &sig, &len), 0);
        assert_int_equal(receipt_verify(sig, len, f->hub->pub.sign, r), 0);
        free(sig);
}

static uint64_t meta(struct fixture *f, const char *name)
{
        MDB_txn *txn;
        uint64_t v = 0;

        assert_int_equal(mdb_txn_begin(f->st->env, NULL, MDB_RDONLY, &txn), 0);
        assert_int_equal(hub_store_meta_get(txn, f->st, name, &v), 0);
        mdb_txn_abort(txn);
        return v;
}

static void test_outcomes(void **state)
{
        struct fixture f;
        struct hub_item items[5];
        struct receipt r;
        uint8_t *fa = NULL, *fb = NULL;
        size_t la = 0, lb = 0;
        bool dup;

        (void)state;
        fixture_up(&f, 1u << 20, 1000, 1000);
        seal(&f, f.a, &fa, &la);
        seal(&f, f.b, &fb, &lb);
        memset(items, 0, sizeof(items));
        /* a's envelope twice in one batch, a's envelope over b's connection,
         * b's own envelope, and a connection with no member. */
        items[0] = (struct hub_item){ .member_id = f.ma.id, .frame = fa, .len = la };
        items[1] = (struct hub_item){ .member_id = f.ma.id, .frame = fa, .len = la };
        items[2] = (struct hub_item){ .member_id = f.mb.id, .frame = fa, .len = la };
        items[3] = (struct hub_item){ .member_id = f.mb.id, .frame = fb, .len = lb };
        items[4] = (struct hub_item){ .member_id = 0, .frame = fb, .len = lb };
        assert_int_equal(hub_ingest_batch(f.ig, items, 5), 0);

        assert_int_equal(items[0].outcome, HUB_OUTCOME_ACCEPTED);
        reply_of(&f, &items[0], &r, &dup);
        assert_false(dup);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        assert_int_equal(r.sequence, 0);
        assert_int_equal(r.hub_time_ms % RECEIPT_TIME_GRAIN_MS, 0);
        assert_memory_equal(r.member_key, f.a->pub.payload, KEYS_KEY_BYTES);

        assert_int_equal(items[1].outcome, HUB_OUTCOME_DUPLICATE);
        reply_of(&f, &items[1], &r, &dup);
        assert_true(dup);
        assert_int_equal(r.sequence, 0);

        assert_int_equal(items[2].outcome, HUB_OUTCOME_REJECTED);
        assert_int_equal(items[2].reason, NMO__REASON__REASON_SENDER_MISMATCH);
        reply_of(&f, &items[2], &r, &dup);
        assert_true(r.has_id);

        assert_int_equal(items[3].outcome, HUB_OUTCOME_ACCEPTED);
        assert_int_equal(items[4].outcome, HUB_OUTCOME_REJECTED);

        assert_int_equal(meta(&f, HUB_META_SIGNALS), 2);
        assert_int_equal(meta(&f, HUB_META_DUPLICATES), 1);
        assert_int_equal(meta(&f, HUB_META_REJECTED), 2);
        assert_int_equal(meta(&f, "rejected.sender-mismatch"), 1);
        for (int i = 0; i < 5; i++)
                hub_item_clear(&items[i]);

        /* Suspended: refused, and the refusal names the signal. */
        {
                struct add_ctx c = { f.st, "alpha", NULL, NULL, HUB_MEMBER_SUSPENDED };
                uint8_t id[SIGNAL_ID_BYTES];

                assert_int_equal(hub_store_write(f.st, do_state, &c), 0);
                free(fa);
                seal(&f, f.a, &fa, &la);
                assert_true(envelope_peek_id(fa, la, id));
                items[0] = (struct hub_item){ .member_id = f.ma.id, .frame = fa, .len = la };
                assert_int_equal(hub_ingest_batch(f.ig, items, 1), 0);
                assert_int_equal(items[0].reason, NMO__REASON__REASON_MEMBER_SUSPENDED);
                reply_of(&f, &items[0], &r, &dup);
                assert_true(r.has_id);
                assert_memory_equal(r.signal_id, id, SIGNAL_ID_BYTES);
                hub_item_clear(&items[0]);
        }
        free(fa);
        free(fb);
        fixture_down(&f);
}

/* The SignedReceipt inside an item's reply (free_unpacked). */
static Nmo__SignedReceipt *signed_of(const struct hub_item *it)
{
        Nmo__Reply *rp = nmo__reply__unpack(NULL, it->reply_len, it->reply);
        Nmo__SignedReceipt *sr;
        uint8_t buf[RECEIPT_MAX];
        size_t n;

        assert_non_null(rp);
        assert_non_null(rp->receipt);
        n = nmo__signed_receipt__pack(rp->receipt, buf);
        nmo__reply__free_unpacked(rp, NULL);
        sr = nmo__signed_receipt__unpack(NULL, n, buf);
        assert_non_null(sr);
        return sr;
}

struct legacy_ctx {
        struct hub_store *st;
        uint32_t member;
        const uint8_t *id;
        const uint8_t *receipt;
        size_t len;
};

/* A dedup record as hubs before the batch form wrote it: the whole signed
 * receipt. */
static int do_legacy(MDB_txn *txn, void *u)
{
        struct legacy_ctx *c = u;
        Nmo__Hub__SignalRecord rec = NMO__HUB__SIGNAL_RECORD__INIT;
        uint8_t key[4 + SIGNAL_ID_BYTES], val[RECEIPT_MAX];
        MDB_val k = { sizeof(key), key }, v;

        hub_store_put_u32(key, c->member);
        memcpy(key + 4, c->id, SIGNAL_ID_BYTES);
        rec.has_receipt = 1;
        rec.receipt.data = (uint8_t *)c->receipt;
        rec.receipt.len = c->len;
        rec.has_received_ms = 1;
        rec.received_ms = 1;
        v.mv_size = nmo__hub__signal_record__pack(&rec, val);
        v.mv_data = val;
        return mdb_put(txn, c->st->signals, &k, &v, MDB_NOOVERWRITE) ? -EIO : 0;
}

/* One signature a batch; a repeat in a later batch gets the very body of the
 * first receipt, signed again; a record of an older hub is answered too. */
static void test_batch_receipts(void **state)
{
        struct fixture f;
        struct hub_item items[3];
        struct receipt r;
        uint8_t *fa = NULL, *fb = NULL, *fc = NULL, first_body[RECEIPT_MAX];
        uint8_t first_sig[64];
        size_t la = 0, lb = 0, lc = 0, first_len;
        Nmo__SignedReceipt *sr;
        bool dup;

        (void)state;
        fixture_up(&f, 1u << 20, 1000, 1000);
        seal(&f, f.a, &fa, &la);
        seal(&f, f.b, &fb, &lb);
        seal(&f, f.a, &fc, &lc);
        memset(items, 0, sizeof(items));
        items[0] = (struct hub_item){ .member_id = f.ma.id, .frame = fa, .len = la };
        items[1] = (struct hub_item){ .member_id = f.mb.id, .frame = fb, .len = lb };
        items[2] = (struct hub_item){ .member_id = 0, .frame = fb, .len = lb };
        assert_int_equal(hub_ingest_batch(f.ig, items, 3), 0);
        for (int i = 0; i < 3; i++) {
                reply_of(&f, &items[i], &r, &dup);
                sr = signed_of(&items[i]);
                /* Padded to 8 leaves, at random places (PROTOCOL.md 8.1). */
                assert_true(sr->has_tree_size && sr->tree_size == 8);
                assert_true(sr->has_leaf_index && sr->leaf_index < 8);
                if (i == 0) {
                        first_len = sr->body.len;
                        memcpy(first_body, sr->body.data, first_len);
                        memcpy(first_sig, sr->signature.data, 64);
                } else {
                        /* The same signature over the batch's root. */
                        assert_memory_equal(sr->signature.data, first_sig, 64);
                }
                nmo__signed_receipt__free_unpacked(sr, NULL);
                hub_item_clear(&items[i]);
        }

        /* The repeat, in a batch of its own. */
        items[0] = (struct hub_item){ .member_id = f.ma.id, .frame = fa, .len = la };
        assert_int_equal(hub_ingest_batch(f.ig, items, 1), 0);
        assert_int_equal(items[0].outcome, HUB_OUTCOME_DUPLICATE);
        reply_of(&f, &items[0], &r, &dup);
        assert_true(dup);
        assert_int_equal(r.sequence, 0);
        sr = signed_of(&items[0]);
        assert_int_equal(sr->body.len, first_len);
        assert_memory_equal(sr->body.data, first_body, first_len);
        assert_memory_not_equal(sr->signature.data, first_sig, 64);
        nmo__signed_receipt__free_unpacked(sr, NULL);
        hub_item_clear(&items[0]);

        /* A record an older hub wrote (the whole single-form receipt). */
        {
                struct receipt old;
                uint8_t *signed_old = NULL, id[SIGNAL_ID_BYTES];
                size_t signed_len = 0;
                struct legacy_ctx c;

                assert_true(envelope_peek_id(fc, lc, id));
                memset(&old, 0, sizeof(old));
                old.has_id = true;
                memcpy(old.signal_id, id, SIGNAL_ID_BYTES);
                old.status = NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED;
                old.hub_time_ms = 1735689601234ULL;
                envelope_hash(fc, lc, old.envelope_hash);
                memcpy(old.member_key, f.a->pub.payload, KEYS_KEY_BYTES);
                old.sequence = 77;
                assert_int_equal(receipt_sign(&old, f.hub->sign_sk, &signed_old, &signed_len),
                                 0);
                c = (struct legacy_ctx){ f.st, f.ma.id, id, signed_old, signed_len };
                assert_int_equal(hub_store_write(f.st, do_legacy, &c), 0);
                items[0] = (struct hub_item){ .member_id = f.ma.id, .frame = fc, .len = lc };
                assert_int_equal(hub_ingest_batch(f.ig, items, 1), 0);
                assert_int_equal(items[0].outcome, HUB_OUTCOME_DUPLICATE);
                reply_of(&f, &items[0], &r, &dup);
                assert_true(dup);
                assert_int_equal(r.sequence, 77);
                assert_int_equal(r.hub_time_ms, 1735689601234ULL);
                hub_item_clear(&items[0]);
                free(signed_old);
        }
        assert_int_equal(meta(&f, HUB_META_SIGNALS), 2);
        assert_int_equal(meta(&f, HUB_META_DUPLICATES), 2);
        free(fa);
        free(fb);
        free(fc);
        fixture_down(&f);
}

static void test_rate_limit(void **state)
{
        struct fixture f;
        struct hub_item items[5];
        uint8_t *frames[5];
        size_t lens[5];
        int accepted = 0, limited = 0;

        (void)state;
        fixture_up(&f, 1u << 20, 1, 3);
        for (int i = 0; i < 5; i++) {
                seal(&f, f.a, &frames[i], &lens[i]);
                items[i] = (struct hub_item){ .member_id = f.ma.id, .frame = frames[i],
                                              .len = lens[i] };
        }
        assert_int_equal(hub_ingest_batch(f.ig, items, 5), 0);
        for (int i = 0; i < 5; i++) {
                accepted += items[i].outcome == HUB_OUTCOME_ACCEPTED;
                limited += items[i].reason == NMO__REASON__REASON_RATE_LIMITED;
                hub_item_clear(&items[i]);
                free(frames[i]);
        }
        assert_int_equal(accepted, 3);
        assert_int_equal(limited, 2);
        fixture_down(&f);
}

/* A 64 KiB initial map is full after a few hundred signals: the store grows
 * and every signal is accepted. */
static void test_map_grows(void **state)
{
        enum { BATCH = 100, ROUNDS = 30 };
        struct fixture f;
        struct hub_item items[BATCH];
        uint8_t *frames[BATCH];
        size_t lens[BATCH];
        MDB_envinfo info;

        (void)state;
        fixture_up(&f, 64u << 10, 1000000, 1000000);
        for (int round = 0; round < ROUNDS; round++) {
                for (int i = 0; i < BATCH; i++) {
                        seal(&f, f.b, &frames[i], &lens[i]);
                        items[i] = (struct hub_item){ .member_id = f.mb.id, .frame = frames[i],
                                                      .len = lens[i] };
                }
                assert_int_equal(hub_ingest_batch(f.ig, items, BATCH), 0);
                for (int i = 0; i < BATCH; i++) {
                        assert_int_equal(items[i].outcome, HUB_OUTCOME_ACCEPTED);
                        hub_item_clear(&items[i]);
                        free(frames[i]);
                }
        }
        assert_int_equal(meta(&f, HUB_META_SIGNALS), BATCH * ROUNDS);
        assert_int_equal(mdb_env_info(f.st->env, &info), 0);
        assert_true(info.me_mapsize > (64u << 10));
        fixture_down(&f);
}

struct share_ctx {
        struct hub_store *st;
        uint32_t id;
        const uint8_t *payload;
};

/* Gives member id the payload key payload, as a registry written before
 * enrolment checked that keys are unique could hold. */
static int do_share(MDB_txn *txn, void *u)
{
        struct share_ctx *c = u;
        Nmo__Hub__MemberRecord *rec;
        uint8_t key[4], buf[256];
        MDB_val k = { sizeof(key), key }, v;
        int r = -EIO;

        hub_store_put_u32(key, c->id);
        if (mdb_get(txn, c->st->members, &k, &v))
                return -EIO;
        rec = nmo__hub__member_record__unpack(NULL, v.mv_size, v.mv_data);
        if (!rec)
                return -EIO;
        memcpy(rec->payload_key.data, c->payload, KEYS_KEY_BYTES);
        v.mv_size = nmo__hub__member_record__pack(rec, buf);
        v.mv_data = buf;
        if (mdb_put(txn, c->st->members, &k, &v, 0) == 0)
                r = 0;
        nmo__hub__member_record__free_unpacked(rec, NULL);
        return r;
}

/* One sealed box is stored once, whichever member's connection delivers it:
 * even where two members share a payload key (a registry from before keys were
 * checked), the second is refused as sealed by another key and is credited
 * with nothing, in the same batch or a later one. */
static void test_box_stored_once(void **state)
{
        struct fixture f;
        struct hub_item items[2];
        struct share_ctx c;
        struct receipt r;
        uint8_t *fa = NULL, *fa2 = NULL;
        size_t la = 0, la2 = 0;
        bool dup;

        (void)state;
        fixture_up(&f, 1u << 20, 1000, 1000);
        c = (struct share_ctx){ f.st, f.mb.id, f.a->pub.payload };
        assert_int_equal(hub_store_write(f.st, do_share, &c), 0);
        seal(&f, f.a, &fa, &la);
        seal(&f, f.a, &fa2, &la2);
        memset(items, 0, sizeof(items));

        /* The same batch: a's own delivery, then b's replay. */
        items[0] = (struct hub_item){ .member_id = f.ma.id, .frame = fa, .len = la };
        items[1] = (struct hub_item){ .member_id = f.mb.id, .frame = fa, .len = la };
        assert_int_equal(hub_ingest_batch(f.ig, items, 2), 0);
        assert_int_equal(items[0].outcome, HUB_OUTCOME_ACCEPTED);
        assert_int_equal(items[1].outcome, HUB_OUTCOME_REJECTED);
        assert_int_equal(items[1].reason, NMO__REASON__REASON_SENDER_MISMATCH);
        reply_of(&f, &items[1], &r, &dup);
        assert_false(dup);
        assert_int_equal(r.sequence, 0);
        hub_item_clear(&items[0]);
        hub_item_clear(&items[1]);

        /* A later batch: b replays, again and again; a repeats its own. */
        for (int i = 0; i < 2; i++) {
                items[0] = (struct hub_item){ .member_id = f.mb.id, .frame = fa, .len = la };
                assert_int_equal(hub_ingest_batch(f.ig, items, 1), 0);
                assert_int_equal(items[0].outcome, HUB_OUTCOME_REJECTED);
                assert_int_equal(items[0].reason, NMO__REASON__REASON_SENDER_MISMATCH);
                hub_item_clear(&items[0]);
        }
        items[0] = (struct hub_item){ .member_id = f.ma.id, .frame = fa, .len = la };
        assert_int_equal(hub_ingest_batch(f.ig, items, 1), 0);
        assert_int_equal(items[0].outcome, HUB_OUTCOME_DUPLICATE);
        hub_item_clear(&items[0]);

        /* Another box of a's: stored for a, refused for b. */
        items[0] = (struct hub_item){ .member_id = f.ma.id, .frame = fa2, .len = la2 };
        assert_int_equal(hub_ingest_batch(f.ig, items, 1), 0);
        assert_int_equal(items[0].outcome, HUB_OUTCOME_ACCEPTED);
        hub_item_clear(&items[0]);
        items[0] = (struct hub_item){ .member_id = f.mb.id, .frame = fa2, .len = la2 };
        assert_int_equal(hub_ingest_batch(f.ig, items, 1), 0);
        assert_int_equal(items[0].reason, NMO__REASON__REASON_SENDER_MISMATCH);
        hub_item_clear(&items[0]);

        assert_int_equal(meta(&f, HUB_META_SIGNALS), 2);
        assert_int_equal(meta(&f, "rejected.sender-mismatch"), 4);
        free(fa);
        free(fa2);
        fixture_down(&f);
}

/* A hostile member sends one envelope twice, in two adjacent batches: the
 * second batch is opened before the first is committed. */
static void test_duplicate_in_adjacent_batches(void **state)
{
        struct fixture f;
        struct hub_item first[2], second[2];
        struct receipt r1, r2, r3;
        uint8_t *fa = NULL, *other = NULL;
        size_t la = 0, lo = 0;
        bool dup1, dup2, dup3;

        (void)state;
        fixture_up_as_serve(&f);
        seal(&f, f.a, &fa, &la);
        seal(&f, f.a, &other, &lo);
        memset(first, 0, sizeof(first));
        memset(second, 0, sizeof(second));
        first[0] = (struct hub_item){ .member_id = f.ma.id, .frame = fa, .len = la };
        first[1] = (struct hub_item){ .member_id = f.ma.id, .frame = other, .len = lo };
        second[0] = (struct hub_item){ .member_id = f.ma.id, .frame = fa, .len = la };
        /* And once more inside the second batch. */
        second[1] = (struct hub_item){ .member_id = f.ma.id, .frame = fa, .len = la };

        assert_int_equal(hub_ingest_open(f.ig, first, 2), 0);
        assert_int_equal(hub_ingest_open(f.ig, second, 2), 0);
        /* Both opened, neither stored. */
        assert_int_equal(meta(&f, HUB_META_SIGNALS), 0);
        assert_int_equal(hub_ingest_commit(f.ig, first, 2), 0);
        assert_int_equal(hub_ingest_commit(f.ig, second, 2), 0);
        assert_int_equal(hub_ingest_sync(f.ig), 0);

        assert_int_equal(first[0].outcome, HUB_OUTCOME_ACCEPTED);
        assert_int_equal(first[1].outcome, HUB_OUTCOME_ACCEPTED);
        assert_int_equal(second[0].outcome, HUB_OUTCOME_DUPLICATE);
        assert_int_equal(second[1].outcome, HUB_OUTCOME_DUPLICATE);
        reply_of(&f, &first[0], &r1, &dup1);
        reply_of(&f, &second[0], &r2, &dup2);
        reply_of(&f, &second[1], &r3, &dup3);
        assert_false(dup1);
        assert_true(dup2);
        assert_true(dup3);
        /* The original receipt, twice more. */
        assert_int_equal(r1.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        assert_int_equal(r2.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        assert_memory_equal(r1.signal_id, r2.signal_id, SIGNAL_ID_BYTES);
        assert_memory_equal(r1.envelope_hash, r2.envelope_hash, sizeof(r1.envelope_hash));
        assert_memory_equal(r1.signal_id, r3.signal_id, SIGNAL_ID_BYTES);
        /* Stored once. */
        assert_int_equal(meta(&f, HUB_META_SIGNALS), 2);
        assert_int_equal(meta(&f, HUB_META_DUPLICATES), 2);
        /* The opened plaintext is gone after the commit. */
        for (size_t i = 0; i < 2; i++) {
                assert_null(first[i].opened);
                assert_null(second[i].opened);
                hub_item_clear(&first[i]);
                hub_item_clear(&second[i]);
        }
        free(fa);
        free(other);
        fixture_down(&f);
}

/* The member rotates its keys in one batch; the next batch, opened before
 * that commit under the old keys, carries a signal sealed with the new ones:
 * it is opened again under the keys the store holds at its commit. */
static void test_rotation_between_open_and_commit(void **state)
{
        struct fixture f;
        struct keys_secret *next = NULL;
        struct hub_item first[1], second[1];
        uint8_t rot_id[SIGNAL_ID_BYTES], *rot = NULL, *fs = NULL;
        size_t lrot = 0, ls = 0;
        struct receipt r;
        bool dup;

        (void)state;
        fixture_up_as_serve(&f);
        assert_int_equal(keys_generate(&next, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(envelope_seal_rotation(f.a, &next->pub, f.hub->pub.payload, rot_id,
                                                &rot, &lrot), 0);
        seal(&f, next, &fs, &ls);
        memset(first, 0, sizeof(first));
        memset(second, 0, sizeof(second));
        first[0] = (struct hub_item){ .member_id = f.ma.id, .frame = rot, .len = lrot };
        second[0] = (struct hub_item){ .member_id = f.ma.id, .frame = fs, .len = ls };

        assert_int_equal(hub_ingest_open(f.ig, first, 1), 0);
        assert_int_equal(hub_ingest_open(f.ig, second, 1), 0);
        assert_int_equal(hub_ingest_commit(f.ig, first, 1), 0);
        assert_int_equal(first[0].outcome, HUB_OUTCOME_ACCEPTED);
        assert_int_equal(hub_ingest_commit(f.ig, second, 1), 0);
        assert_int_equal(second[0].outcome, HUB_OUTCOME_ACCEPTED);
        reply_of(&f, &second[0], &r, &dup);
        assert_false(dup);
        assert_memory_equal(r.member_key, next->pub.payload, KEYS_KEY_BYTES);
        assert_int_equal(meta(&f, HUB_META_SIGNALS), 1);

        hub_item_clear(&first[0]);
        hub_item_clear(&second[0]);
        free(rot);
        free(fs);
        keys_free(next);
        fixture_down(&f);
}

/* The member rotates its keys, and the same batch carries, after the
 * rotation, a signal sealed with its old keys and one sealed with its new
 * ones: the rest of the batch is checked against the keys as rotated (the
 * ingest keeps the members it decoded for the batch, and must drop the one
 * it changed), so the old-key signal is refused and the new-key one stored. */
static void test_rotation_within_one_batch(void **state)
{
        struct fixture f;
        struct keys_secret *next = NULL;
        struct hub_item items[3];
        uint8_t rot_id[SIGNAL_ID_BYTES], *rot = NULL, *old = NULL, *fresh = NULL;
        size_t lrot = 0, lold = 0, lfresh = 0;
        struct receipt r;
        bool dup;

        (void)state;
        fixture_up_as_serve(&f);
        assert_int_equal(keys_generate(&next, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(envelope_seal_rotation(f.a, &next->pub, f.hub->pub.payload, rot_id,
                                                &rot, &lrot), 0);
        seal(&f, f.a, &old, &lold);
        seal(&f, next, &fresh, &lfresh);
        memset(items, 0, sizeof(items));
        items[0] = (struct hub_item){ .member_id = f.ma.id, .frame = rot, .len = lrot };
        items[1] = (struct hub_item){ .member_id = f.ma.id, .frame = old, .len = lold };
        items[2] = (struct hub_item){ .member_id = f.ma.id, .frame = fresh, .len = lfresh };

        assert_int_equal(hub_ingest_batch(f.ig, items, 3), 0);
        assert_int_equal(items[0].outcome, HUB_OUTCOME_ACCEPTED);
        assert_int_equal(items[1].outcome, HUB_OUTCOME_REJECTED);
        assert_int_equal(items[2].outcome, HUB_OUTCOME_ACCEPTED);
        reply_of(&f, &items[2], &r, &dup);
        assert_false(dup);
        assert_memory_equal(r.member_key, next->pub.payload, KEYS_KEY_BYTES);
        assert_int_equal(meta(&f, HUB_META_SIGNALS), 1);

        for (size_t i = 0; i < 3; i++)
                hub_item_clear(&items[i]);
        free(rot);
        free(old);
        free(fresh);
        keys_free(next);
        fixture_down(&f);
}

/* Opened while the member was active; the operator suspends, then revokes it
 * before the commits: both batches are refused, nothing stored. */
static void test_state_change_between_open_and_commit(void **state)
{
        struct fixture f;
        struct hub_item first[1], second[1];
        struct add_ctx c;
        uint8_t *f1 = NULL, *f2 = NULL;
        size_t l1 = 0, l2 = 0;
        struct receipt r;
        bool dup;

        (void)state;
        fixture_up_as_serve(&f);
        seal(&f, f.a, &f1, &l1);
        seal(&f, f.a, &f2, &l2);
        memset(first, 0, sizeof(first));
        memset(second, 0, sizeof(second));
        first[0] = (struct hub_item){ .member_id = f.ma.id, .frame = f1, .len = l1 };
        second[0] = (struct hub_item){ .member_id = f.ma.id, .frame = f2, .len = l2 };
        assert_int_equal(hub_ingest_open(f.ig, first, 1), 0);
        assert_int_equal(hub_ingest_open(f.ig, second, 1), 0);

        c = (struct add_ctx){ f.st, "alpha", NULL, NULL, HUB_MEMBER_SUSPENDED };
        assert_int_equal(hub_store_write(f.st, do_state, &c), 0);
        assert_int_equal(hub_ingest_commit(f.ig, first, 1), 0);
        c.state = HUB_MEMBER_REVOKED;
        assert_int_equal(hub_store_write(f.st, do_state, &c), 0);
        assert_int_equal(hub_ingest_commit(f.ig, second, 1), 0);

        assert_int_equal(first[0].outcome, HUB_OUTCOME_REJECTED);
        assert_int_equal(first[0].reason, NMO__REASON__REASON_MEMBER_SUSPENDED);
        assert_int_equal(second[0].outcome, HUB_OUTCOME_REJECTED);
        assert_int_equal(second[0].reason, NMO__REASON__REASON_MEMBER_REVOKED);
        reply_of(&f, &second[0], &r, &dup);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_REJECTED);
        assert_int_equal(meta(&f, HUB_META_SIGNALS), 0);

        hub_item_clear(&first[0]);
        hub_item_clear(&second[0]);
        free(f1);
        free(f2);
        fixture_down(&f);
}
int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_outcomes),
                cmocka_unit_test(test_batch_receipts),
                cmocka_unit_test(test_rate_limit),
                cmocka_unit_test(test_map_grows),
                cmocka_unit_test(test_box_stored_once),
                cmocka_unit_test(test_duplicate_in_adjacent_batches),
                cmocka_unit_test(test_rotation_between_open_and_commit),
                cmocka_unit_test(test_rotation_within_one_batch),
                cmocka_unit_test(test_state_change_between_open_and_commit),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("ingest", tests, NULL, NULL);
}
