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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_registry),
                cmocka_unit_test(test_damaged_record),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
