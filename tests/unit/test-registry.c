/* test-registry.c: the hub's member registry (hub/member.c) on a real LMDB
 * store in a temporary directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "member.h"
#include "store.h"
#include "unit-tmp.h"

struct ctx {
        struct hub_store *st;
        const char *name;
        const struct keys_public *pk;
        enum hub_member_state state;
        struct hub_member m;
        uint64_t counts[4];
};

static int do_add(MDB_txn *txn, void *u)
{
        struct ctx *c = u;
        return hub_member_add(txn, c->st, c->name, c->pk, 1000, &c->m);
}

static int do_state(MDB_txn *txn, void *u)
{
        struct ctx *c = u;
        return hub_member_set_state(txn, c->st, c->name, c->state, 2000, &c->m);
}

static int do_by_name(MDB_txn *txn, void *u)
{
        struct ctx *c = u;
        return hub_member_by_name(txn, c->st, c->name, &c->m);
}

static int do_by_key(MDB_txn *txn, void *u)
{
        struct ctx *c = u;
        return hub_member_by_transport(txn, c->st, c->pk->transport, &c->m);
}

static int do_count(MDB_txn *txn, void *u)
{
        struct ctx *c = u;
        return hub_member_count(txn, c->st, c->counts);
}

static int add(struct hub_store *st, const char *name, const struct keys_public *pk,
               struct hub_member *out)
{
        struct ctx c = { .st = st, .name = name, .pk = pk };
        int r = hub_store_write(st, do_add, &c);

        if (out)
                *out = c.m;
        return r;
}

static int set_state(struct hub_store *st, const char *name, enum hub_member_state s)
{
        struct ctx c = { .st = st, .name = name, .state = s };
        return hub_store_write(st, do_state, &c);
}

static void test_registry(void **state)
{
        char dir[PATH_MAX];
        struct hub_store *st = NULL;
        struct keys_secret *a = NULL, *b = NULL, *hub = NULL;
        struct hub_member m;
        struct ctx c;

        (void)state;
        assert_non_null(unit_tmp_make(dir, sizeof(dir), "registry"));
        assert_int_equal(hub_store_open(&st, dir, false), 0);
        assert_int_equal(keys_generate(&a, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(keys_generate(&b, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(keys_generate(&hub, KEYS_ROLE_HUB, NULL), 0);

        assert_int_equal(add(st, "acme", &a->pub, &m), 0);
        assert_int_equal(m.id, 1);
        assert_int_equal(m.state, HUB_MEMBER_ACTIVE);
        /* The same name, or the same key under another name: refused. */
        assert_int_equal(add(st, "acme", &b->pub, NULL), -EEXIST);
        assert_int_equal(add(st, "acme-2", &a->pub, NULL), -EEXIST);
        /* Bad names and hub keys: refused. */
        assert_int_equal(add(st, "-bad", &b->pub, NULL), -EINVAL);
        assert_int_equal(add(st, "has space", &b->pub, NULL), -EINVAL);
        assert_int_equal(add(st, "hub", &hub->pub, NULL), -EINVAL);
        assert_int_equal(add(st, "beta", &b->pub, &m), 0);
        assert_int_equal(m.id, 2);

        memset(&c, 0, sizeof(c));
        c.st = st;
        c.pk = &b->pub;
        assert_int_equal(hub_store_read(st, do_by_key, &c), 0);
        assert_string_equal(c.m.name, "beta");
        assert_memory_equal(c.m.payload, b->pub.payload, KEYS_KEY_BYTES);
        c.name = "nobody";
        assert_int_equal(hub_store_read(st, do_by_name, &c), -ENOENT);

        /* State machine. */
        assert_int_equal(set_state(st, "acme", HUB_MEMBER_SUSPENDED), 0);
        assert_int_equal(set_state(st, "acme", HUB_MEMBER_SUSPENDED), 0);
        assert_int_equal(set_state(st, "acme", HUB_MEMBER_ACTIVE), 0);
        assert_int_equal(set_state(st, "acme", HUB_MEMBER_REVOKED), 0);
        assert_int_equal(set_state(st, "acme", HUB_MEMBER_ACTIVE), -EPERM);
        assert_int_equal(set_state(st, "acme", HUB_MEMBER_SUSPENDED), -EPERM);
        assert_int_equal(set_state(st, "nobody", HUB_MEMBER_REVOKED), -ENOENT);
        /* A revoked member's name and key stay taken. */
        assert_int_equal(add(st, "acme", &a->pub, NULL), -EEXIST);

        memset(&c, 0, sizeof(c));
        c.st = st;
        assert_int_equal(hub_store_read(st, do_count, &c), 0);
        assert_int_equal(c.counts[HUB_MEMBER_ACTIVE], 1);
        assert_int_equal(c.counts[HUB_MEMBER_REVOKED], 1);

        /* Everything survives a reopen, also read-only. */
        hub_store_free(st);
        assert_int_equal(hub_store_open(&st, dir, true), 0);
        c.st = st;
        c.name = "acme";
        assert_int_equal(hub_store_read(st, do_by_name, &c), 0);
        assert_int_equal(c.m.state, HUB_MEMBER_REVOKED);
        assert_true(c.m.changed_ms >= c.m.added_ms);
        assert_string_equal(hub_member_state_name(c.m.state), "revoked");

        hub_store_free(st);
        keys_free(a);
        keys_free(b);
        keys_free(hub);
        assert_int_equal(unit_tmp_remove(dir), 0);
}

/* A damaged member record is an error, never a crash. */
static int corrupt(MDB_txn *txn, void *u)
{
        struct ctx *c = u;
        uint8_t key[4], junk[7] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
        MDB_val k = { 4, key }, v = { sizeof(junk), junk };

        hub_store_put_u32(key, 1);
        return mdb_put(txn, c->st->members, &k, &v, 0) ? -EIO : 0;
}

static void test_damaged_record(void **state)
{
        char dir[PATH_MAX];
        struct hub_store *st = NULL;
        struct keys_secret *a = NULL;
        struct ctx c;

        (void)state;
        assert_non_null(unit_tmp_make(dir, sizeof(dir), "registry"));
        assert_int_equal(hub_store_open(&st, dir, false), 0);
        assert_int_equal(keys_generate(&a, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(add(st, "acme", &a->pub, NULL), 0);
        memset(&c, 0, sizeof(c));
        c.st = st;
        assert_int_equal(hub_store_write(st, corrupt, &c), 0);
        c.name = "acme";
        assert_int_equal(hub_store_read(st, do_by_name, &c), -EBADMSG);
        hub_store_free(st);
        keys_free(a);
        assert_int_equal(unit_tmp_remove(dir), 0);
}

struct rot {
        struct hub_store *st;
        uint32_t id;
        const uint8_t *transport, *payload;
};

static int do_rotate(MDB_txn *txn, void *u)
{
        struct rot *c = u;
        return hub_member_rotate(txn, c->st, c->id, c->transport, c->payload, 3000, NULL);
}

static int rotate(struct hub_store *st, uint32_t id, const uint8_t *transport,
                  const uint8_t *payload)
{
        struct rot c = { st, id, transport, payload };
        return hub_store_write(st, do_rotate, &c);
}

/* A bundle of two fresh keys, one of them then replaced by key (which == 0:
 * transport, 1: payload). */
static void bundle_with(struct keys_public *pk, int which, const uint8_t *key)
{
        struct keys_secret *sk = NULL;

        assert_int_equal(keys_generate(&sk, KEYS_ROLE_MEMBER, NULL), 0);
        *pk = sk->pub;
        keys_free(sk);
        memcpy(which ? pk->payload : pk->transport, key, KEYS_KEY_BYTES);
}

/* No public key serves two members or two jobs, ever: not at enrolment, not
 * at rotation, not once rotated out, not of a revoked member. */
static void test_keys_unique(void **state)
{
        static const uint8_t zero[KEYS_KEY_BYTES];
        char dir[PATH_MAX];
        struct hub_store *st = NULL;
        struct keys_secret *a = NULL, *b = NULL, *fresh = NULL;
        struct keys_public pk;
        struct hub_member ma, mb;
        uint8_t a_old_transport[KEYS_KEY_BYTES], a_old_payload[KEYS_KEY_BYTES];

        (void)state;
        assert_non_null(unit_tmp_make(dir, sizeof(dir), "registry"));
        assert_int_equal(hub_store_open(&st, dir, false), 0);
        assert_int_equal(keys_generate(&a, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(keys_generate(&b, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(add(st, "acme", &a->pub, &ma), 0);
        assert_int_equal(add(st, "bolt", &b->pub, &mb), 0);

        /* Someone else's payload key, with a fresh transport key. */
        bundle_with(&pk, 1, a->pub.payload);
        assert_int_equal(add(st, "mallory", &pk, NULL), -EEXIST);
        /* Someone else's payload key as the transport key, and the reverse. */
        bundle_with(&pk, 0, a->pub.payload);
        assert_int_equal(add(st, "mallory", &pk, NULL), -EEXIST);
        bundle_with(&pk, 1, a->pub.transport);
        assert_int_equal(add(st, "mallory", &pk, NULL), -EEXIST);
        /* Unusable keys and one key for both jobs. */
        bundle_with(&pk, 1, zero);
        assert_int_equal(add(st, "mallory", &pk, NULL), -EINVAL);
        bundle_with(&pk, 1, pk.transport);
        assert_int_equal(add(st, "mallory", &pk, NULL), -EINVAL);

        /* The takeover by rotation: bolt announces acme's payload key. */
        assert_int_equal(keys_generate(&fresh, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(rotate(st, mb.id, fresh->pub.transport, a->pub.payload), -EEXIST);
        assert_int_equal(rotate(st, mb.id, a->pub.transport, fresh->pub.payload), -EEXIST);
        /* Its own current keys, swapped or kept, are used keys too. */
        assert_int_equal(rotate(st, mb.id, b->pub.payload, fresh->pub.payload), -EEXIST);
        assert_int_equal(rotate(st, mb.id, fresh->pub.transport, b->pub.payload), -EEXIST);
        assert_int_equal(rotate(st, mb.id, zero, fresh->pub.payload), -EINVAL);
        assert_int_equal(rotate(st, mb.id, fresh->pub.payload, fresh->pub.payload), -EINVAL);

        /* acme rotates; its retired keys stay taken, for everyone. */
        memcpy(a_old_transport, a->pub.transport, KEYS_KEY_BYTES);
        memcpy(a_old_payload, a->pub.payload, KEYS_KEY_BYTES);
        assert_int_equal(rotate(st, ma.id, fresh->pub.transport, fresh->pub.payload), 0);
        assert_int_equal(add(st, "mallory", &a->pub, NULL), -EEXIST);
        bundle_with(&pk, 0, a_old_transport);
        assert_int_equal(add(st, "mallory", &pk, NULL), -EEXIST);
        bundle_with(&pk, 1, a_old_payload);
        assert_int_equal(add(st, "mallory", &pk, NULL), -EEXIST);
        assert_int_equal(rotate(st, mb.id, a_old_transport, b->pub.payload), -EEXIST);
        keys_free(fresh);
        fresh = NULL;
        assert_int_equal(keys_generate(&fresh, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(rotate(st, mb.id, fresh->pub.transport, a_old_payload), -EEXIST);

        /* A revoked member's keys stay taken. */
        assert_int_equal(set_state(st, "bolt", HUB_MEMBER_REVOKED), 0);
        bundle_with(&pk, 1, b->pub.payload);
        assert_int_equal(add(st, "mallory", &pk, NULL), -EEXIST);
        /* And a fresh bundle is fine. */
        assert_int_equal(add(st, "mallory", &fresh->pub, NULL), 0);

        hub_store_free(st);
        keys_free(a);
        keys_free(b);
        keys_free(fresh);
        assert_int_equal(unit_tmp_remove(dir), 0);
}

/* Forgets the key index, as a registry written before it existed. */
static int forget_index(MDB_txn *txn, void *u)
{
        struct ctx *c = u;
        MDB_val k = { strlen(HUB_META_KEYS_INDEXED), (void *)HUB_META_KEYS_INDEXED };
        int rc = mdb_drop(txn, c->st->used_keys, 0);

        if (rc == 0)
                rc = mdb_del(txn, c->st->meta, &k, NULL);
        return rc ? -EIO : 0;
}

/* The keys of members enrolled before the index are indexed on first use. */
static void test_keys_indexed_late(void **state)
{
        char dir[PATH_MAX];
        struct hub_store *st = NULL;
        struct keys_secret *a = NULL;
        struct keys_public pk;
        struct ctx c;

        (void)state;
        assert_non_null(unit_tmp_make(dir, sizeof(dir), "registry"));
        assert_int_equal(hub_store_open(&st, dir, false), 0);
        assert_int_equal(keys_generate(&a, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(add(st, "acme", &a->pub, NULL), 0);
        memset(&c, 0, sizeof(c));
        c.st = st;
        assert_int_equal(hub_store_write(st, forget_index, &c), 0);
        bundle_with(&pk, 1, a->pub.payload);
        assert_int_equal(add(st, "mallory", &pk, NULL), -EEXIST);
        hub_store_free(st);
        keys_free(a);
        assert_int_equal(unit_tmp_remove(dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_registry),
                cmocka_unit_test(test_damaged_record),
                cmocka_unit_test(test_keys_unique),
                cmocka_unit_test(test_keys_indexed_late),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
