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

struct user_ctx {
        struct hub_store *st;
        const uint8_t *key;
        uint32_t *owner;
};

static int do_key_user(MDB_txn *txn, void *u)
{
        struct user_ctx *c = u;

        return hub_member_key_user(txn, c->st, c->key, c->owner, NULL);
}

static int key_user(struct hub_store *st, const uint8_t *key, uint32_t *owner)
{
        struct user_ctx c = { st, key, owner };

        return hub_store_read(st, do_key_user, &c);
}

/* u and 1/u mod 2^255 - 19 (the point plus the point of order 2): two byte
 * strings, one key to X25519. */
static const uint8_t class_u[KEYS_KEY_BYTES] = {
        0xb9, 0xdf, 0xbf, 0xc9, 0x84, 0x87, 0x8c, 0x74, 0x76, 0x50, 0x76, 0x1d, 0x4b, 0x5c, 0x42, 0x3e,
        0x16, 0x2e, 0x2a, 0xe6, 0x53, 0xb1, 0x1f, 0x79, 0x97, 0xd7, 0x2b, 0xd3, 0xf7, 0xaa, 0x6d, 0x71,
};
static const uint8_t class_inv[KEYS_KEY_BYTES] = {
        0x8c, 0x9e, 0x61, 0x62, 0xba, 0x97, 0x26, 0x9c, 0x43, 0x76, 0x99, 0xb2, 0x54, 0x09, 0x9f, 0xb7,
        0x9c, 0x3d, 0x8b, 0x0b, 0xcd, 0x69, 0x50, 0x9f, 0xc9, 0x68, 0xbf, 0x8e, 0xa6, 0x3b, 0xde, 0x47,
};

/* Uniqueness is by class: a member enrolled (or rotating) with another's
 * payload key in another encoding, or with that point plus one of small
 * order, would open the other's boxes as its own. */
static void test_keys_unique_by_class(void **state)
{
        char dir[PATH_MAX];
        struct hub_store *st = NULL;
        struct keys_secret *fresh = NULL;
        struct keys_public pk;
        struct hub_member ma, mb;
        uint8_t top[KEYS_KEY_BYTES];
        uint32_t owner = 0;

        (void)state;
        assert_non_null(unit_tmp_make(dir, sizeof(dir), "registry"));
        assert_int_equal(hub_store_open(&st, dir, false), 0);
        bundle_with(&pk, 1, class_u);
        assert_int_equal(add(st, "acme", &pk, &ma), 0);
        bundle_with(&pk, 1, class_inv);
        assert_int_equal(add(st, "mallory", &pk, NULL), -EEXIST);
        memcpy(top, class_u, KEYS_KEY_BYTES);
        top[31] |= 0x80;
        bundle_with(&pk, 1, top);
        assert_int_equal(add(st, "mallory", &pk, NULL), -EEXIST);
        bundle_with(&pk, 0, class_inv);
        assert_int_equal(add(st, "mallory", &pk, NULL), -EEXIST);
        /* Nor by rotation. */
        assert_int_equal(keys_generate(&fresh, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(add(st, "bolt", &fresh->pub, &mb), 0);
        keys_free(fresh);
        fresh = NULL;
        assert_int_equal(keys_generate(&fresh, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(rotate(st, mb.id, fresh->pub.transport, class_inv), -EEXIST);
        assert_int_equal(rotate(st, mb.id, fresh->pub.transport, top), -EEXIST);
        /* The registry names acme as the user of every form. */
        assert_int_equal(key_user(st, class_inv, &owner), 0);
        assert_int_equal(owner, ma.id);
        keys_free(fresh);
        hub_store_free(st);
        assert_int_equal(unit_tmp_remove(dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_registry),
                cmocka_unit_test(test_damaged_record),
                cmocka_unit_test(test_keys_unique),
                cmocka_unit_test(test_keys_indexed_late),
                cmocka_unit_test(test_keys_unique_by_class),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
