/* test-db.c: the one LMDB write helper (common/db.c db_write()) that the hub's
 * stores and the node's outbox all write through: a full map is grown and the
 * transaction run again from scratch; a full disk is -ENOSPC and grows
 * nothing; a failing transaction leaves nothing behind. The full disk is a
 * real one: a small tmpfs, skipped where mounting is not permitted. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "db.h"
#include "unit-tmp.h"

static char tmp_dir[PATH_MAX];

/* What a write transaction puts: count values of size bytes under keys
 * first..first+count-1, in database "t". */
struct fill {
        unsigned int first, count;
        size_t size;
        unsigned int calls; /* how often db_write() ran the transaction */
        int fail_with;      /* when not 0, put everything, then fail with it */
};

static int fill_fn(MDB_txn *txn, void *userdata)
{
        struct fill *f = userdata;
        uint8_t *buf = calloc(1, f->size);
        MDB_dbi dbi;
        int r;

        f->calls++;
        if (!buf)
                return -ENOMEM;
        r = db_dbi_open(txn, "t", MDB_CREATE, &dbi);
        for (unsigned int i = 0; r == 0 && i < f->count; i++) {
                unsigned int k = f->first + i;
                MDB_val key = { sizeof(k), &k }, val = { f->size, buf };

                memset(buf, (int)(k & 0xff), f->size);
                r = db_errno(mdb_put(txn, dbi, &key, &val, 0));
        }
        free(buf);
        if (r == 0 && f->fail_with)
                r = f->fail_with;
        return r;
}

struct count {
        size_t entries;
};

static int count_fn(MDB_txn *txn, void *userdata)
{
        struct count *c = userdata;
        MDB_stat st;
        MDB_dbi dbi;
        int r;

        c->entries = 0;
        r = db_dbi_open(txn, "t", 0, &dbi);
        if (r == -ENOENT)
                return 0;
        if (r == 0)
                r = db_errno(mdb_stat(txn, dbi, &st));
        if (r == 0)
                c->entries = st.ms_entries;
        return r;
}

static size_t map_size(MDB_env *env)
{
        MDB_envinfo info;

        assert_int_equal(mdb_env_info(env, &info), 0);
        return info.me_mapsize;
}

static char *fresh_dir(const char *name)
{
        static char path[PATH_MAX + 64];

        snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
        return path;
}

/* A transaction larger than the map: the helper grows the map (doubling)
 * and runs the transaction again from scratch until it fits; everything of
 * the last run is committed once. */
static void test_map_full_grows_and_retries(void **state)
{
        struct fill f = { .first = 0, .count = 200, .size = 2000 };
        struct count c;
        MDB_env *env = NULL;
        size_t before;

        (void)state;
        assert_int_equal(db_env_open(&env, fresh_dir("grow"), 4, 64 * 1024, 0), 0);
        before = map_size(env);
        assert_int_equal(db_write(env, fill_fn, &f), 0);
        assert_true(f.calls > 1);        /* it did not fit at first */
        assert_true(map_size(env) > before);
        assert_int_equal(db_read(env, count_fn, &c), 0);
        assert_int_equal(c.entries, 200);

        /* A second write that fits runs once. */
        f = (struct fill){ .first = 200, .count = 1, .size = 10 };
        assert_int_equal(db_write(env, fill_fn, &f), 0);
        assert_int_equal(f.calls, 1);
        assert_int_equal(db_read(env, count_fn, &c), 0);
        assert_int_equal(c.entries, 201);
        db_env_close(env);
}

/* A transaction that fails is aborted: nothing of it stays, the map is
 * not grown, and the error comes back unchanged. */
static void test_failure_aborts(void **state)
{
        struct fill f = { .first = 0, .count = 5, .size = 100, .fail_with = -EBADMSG };
        struct count c;
        MDB_env *env = NULL;
        size_t before;

        (void)state;
        assert_int_equal(db_env_open(&env, fresh_dir("abort"), 4, 64 * 1024, 0), 0);
        before = map_size(env);
        assert_int_equal(db_write(env, fill_fn, &f), -EBADMSG);
        assert_int_equal(f.calls, 1);
        assert_int_equal(map_size(env), before);
        assert_int_equal(db_read(env, count_fn, &c), 0);
        assert_int_equal(c.entries, 0);
        db_env_close(env);
}

/* A full file system is not a full map: on a 1 MiB tmpfs under a 64 MiB map
 * the write fails with -ENOSPC (not -EFBIG), the map stays as it was, what
 * was committed before is intact, and a smaller write succeeds again. */
static void test_disk_full_is_not_map_full(void **state)
{
        char *mnt = fresh_dir("tmpfs");
        struct count c;
        MDB_env *env = NULL;
        size_t before;
        int r = 0;

        (void)state;
        assert_int_equal(mkdir(mnt, 0700), 0);
        if (mount("nmo-test", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0700") < 0) {
                (void)rmdir(mnt);
                skip();
        }
        assert_int_equal(db_env_open(&env, mnt, 4, 64 << 20, 0), 0);
        before = map_size(env);
        {
                struct fill f = { .first = 0, .count = 10, .size = 1000 };

                assert_int_equal(db_write(env, fill_fn, &f), 0);
        }
        for (unsigned int i = 0; i < 100 && r == 0; i++) {
                struct fill f = { .first = 10 + i * 50, .count = 50, .size = 4000 };

                r = db_write(env, fill_fn, &f);
                if (r == -ENOSPC)
                        assert_int_equal(f.calls, 1); /* not run again */
        }
        assert_int_equal(r, -ENOSPC);
        assert_int_equal(map_size(env), before);
        assert_int_equal(db_read(env, count_fn, &c), 0);
        assert_true(c.entries >= 10);
        db_env_close(env);
        assert_int_equal(umount(mnt), 0);
        assert_int_equal(rmdir(mnt), 0);
}

static int setup(void **state)
{
        (void)state;
        return unit_tmp_make(tmp_dir, sizeof(tmp_dir), "db") ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        return unit_tmp_remove(tmp_dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_map_full_grows_and_retries),
                cmocka_unit_test(test_failure_aborts),
                cmocka_unit_test(test_disk_full_is_not_map_full),
        };

        return cmocka_run_group_tests_name("db", tests, setup, teardown);
}
