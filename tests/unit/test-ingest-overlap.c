/* test-ingest-overlap.c: the two stages of the hub's ingest (hub/ingest.h)
 * interleaved as `nmo-hub serve` runs them, the next batch opened while the
 * one before is not committed yet: an envelope sent twice in two such
 * batches is stored once and both get a signed receipt (the second as a
 * duplicate, with the original receipt); a key rotation, a revocation or a
 * suspension committed between a batch's opening and its commit decides that
 * batch, as if it had been opened after. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "envelope.h"
#include "ingest.h"
#include "member.h"
#include "store.h"
#include "unit-tmp.h"

struct fixture {
        char dir[PATH_MAX];
        struct hub_store *st;
        struct keys_secret *hub, *a;
        struct hub_member ma;
        struct hub_ingest *ig;
        struct hub_limits limits;
};

struct add_ctx {
        struct hub_store *st;
        const struct keys_public *pk;
        struct hub_member *out;
        enum hub_member_state state;
};

static int do_add(MDB_txn *txn, void *u)
{
        struct add_ctx *c = u;

        return hub_member_add(txn, c->st, "alpha", c->pk, 1, c->out);
}

static int do_state(MDB_txn *txn, void *u)
{
        struct add_ctx *c = u;

        return hub_member_set_state(txn, c->st, "alpha", c->state, 2, NULL);
}

static void fixture_up(struct fixture *f)
{
        struct add_ctx c;

        memset(f, 0, sizeof(*f));
        assert_non_null(unit_tmp_make(f->dir, sizeof(f->dir), "ingest-overlap"));
        assert_int_equal(hub_store_open(&f->st, f->dir, false), 0);
        assert_int_equal(keys_generate(&f->hub, KEYS_ROLE_HUB, NULL), 0);
        assert_int_equal(keys_generate(&f->a, KEYS_ROLE_MEMBER, NULL), 0);
        c = (struct add_ctx){ f->st, &f->a->pub, &f->ma, 0 };
        assert_int_equal(hub_store_write(f->st, do_add, &c), 0);
        f->limits = (struct hub_limits){ 65536, 1000, 512, 100000, 100000, 10000, 256, 4, 512,
                                         0 };
        /* As nmo-hub serve opens it: each commit durable once the next one is. */
        assert_int_equal(mdb_env_set_flags(f->st->env, MDB_NOMETASYNC, 1), 0);
        assert_int_equal(hub_ingest_new(&f->ig, f->st, f->hub, &f->limits, NULL), 0);
}

static void fixture_down(struct fixture *f)
{
        hub_ingest_free(f->ig);
        hub_store_free(f->st);
        keys_free(f->hub);
        keys_free(f->a);
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
        fixture_up(&f);
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
        fixture_up(&f);
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
        fixture_up(&f);
        seal(&f, f.a, &f1, &l1);
        seal(&f, f.a, &f2, &l2);
        memset(first, 0, sizeof(first));
        memset(second, 0, sizeof(second));
        first[0] = (struct hub_item){ .member_id = f.ma.id, .frame = f1, .len = l1 };
        second[0] = (struct hub_item){ .member_id = f.ma.id, .frame = f2, .len = l2 };
        assert_int_equal(hub_ingest_open(f.ig, first, 1), 0);
        assert_int_equal(hub_ingest_open(f.ig, second, 1), 0);

        c = (struct add_ctx){ f.st, NULL, NULL, HUB_MEMBER_SUSPENDED };
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
                cmocka_unit_test(test_duplicate_in_adjacent_batches),
                cmocka_unit_test(test_rotation_between_open_and_commit),
                cmocka_unit_test(test_state_change_between_open_and_commit),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
