/* test-operator.c: operator mistakes the real hub and node must handle: a
 * second hub on the same directory, SIGHUP (reload, not exit), a full disk
 * (not a full LMDB map), and a hub that cannot be reached or refuses the
 * node (said once, with the cause, and shown by `nmo-node status`). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lmdb.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "util.h"

static struct h_hub hub;

static int setup(void **state)
{
        (void)state;
        h_hub_init(&hub);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        h_hub_destroy(&hub);
        return 0;
}

/* The whole of a log file ("" when missing); the caller frees it. */
static char *slurp(const char *path)
{
        char *data = NULL;
        size_t len = 0;

        if (util_read_file(path, 64u << 20, &data, &len) < 0)
                return strdup("");
        return data;
}

static __attribute__((unused)) int count_in(const char *text, const char *needle)
{
        int n = 0;

        for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* Waits up to ms for needle to appear in the file at path. */
static __attribute__((unused)) bool wait_log(const char *path, const char *needle, int ms)
{
        for (int waited = 0; waited <= ms; waited += 50) {
                char *t = slurp(path);
                bool found = strstr(t, needle) != NULL;

                free(t);
                if (found)
                        return true;
                usleep(50000);
        }
        return false;
}

/* The last committed transaction of an LMDB environment (read-only). */
static size_t env_txnid(const char *dir)
{
        MDB_env *env = NULL;
        MDB_envinfo info;
        size_t id = 0;

        if (mdb_env_create(&env) == 0 && mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0 &&
            mdb_env_info(env, &info) == 0)
                id = info.me_last_txnid;
        mdb_env_close(env);
        return id;
}

/* A second `serve` on the directory of a running hub stops before it writes
 * anything (on the same ports or others) and names the running one; so do
 * `init` and `rotate-keys`; member commands and stats keep working. */
static void test_hub_lock(void **state)
{
        char *an = util_path(hub.hub_dir, "analytics"), *priv = util_path(hub.hub_dir, "private");
        char pid[32], other[64], *out = NULL, *err = NULL, *node;
        size_t an_txn = env_txnid(an), priv_txn = env_txnid(priv);
        int rc;

        (void)state;
        snprintf(pid, sizeof(pid), "pid %ld", (long)hub.pid);
        snprintf(other, sizeof(other), "tcp://127.0.0.1:%d", h_free_port());
        {
                char *argv[] = { (char *)h_hub_bin(), "serve", "--dir", hub.hub_dir, NULL };
                rc = h_run(argv, NULL, &err);
                assert_int_equal(rc, 1);
                assert_non_null(strstr(err, pid));
                free(err);
        }
        {
                char *argv[] = { (char *)h_hub_bin(), "serve", "--dir", hub.hub_dir, "--listen",
                                 other, NULL };
                rc = h_run(argv, NULL, &err);
                assert_int_equal(rc, 1);
                assert_non_null(strstr(err, pid));
                free(err);
        }
        assert_int_equal(env_txnid(an), an_txn);
        assert_int_equal(env_txnid(priv), priv_txn);
        {
                char *argv[] = { (char *)h_hub_bin(), "init", "--dir", hub.hub_dir, NULL };
                rc = h_run(argv, NULL, &err);
                assert_int_equal(rc, 1);
                assert_non_null(strstr(err, pid));
                free(err);
        }
        {
                char *argv[] = { (char *)h_hub_bin(), "rotate-keys", "--dir", hub.hub_dir, NULL };
                rc = h_run(argv, NULL, &err);
                assert_int_equal(rc, 1);
                assert_non_null(strstr(err, pid));
                free(err);
        }
        {
                char *argv[] = { (char *)h_hub_bin(), "rotate-keys", "--dir", hub.hub_dir,
                                 "--end-overlap", NULL };
                rc = h_run(argv, NULL, &err);
                assert_int_equal(rc, 1);
                assert_non_null(strstr(err, pid));
                free(err);
        }
        /* Member commands and stats work beside the running hub. */
        node = h_node_create(&hub, "beside", true);
        assert_int_equal(h_member(&hub, "suspend", "beside"), 0);
        assert_int_equal(h_member(&hub, "resume", "beside"), 0);
        {
                char *argv[] = { (char *)h_hub_bin(), "member", "list", "--dir", hub.hub_dir, NULL };
                assert_int_equal(h_run(argv, &out, NULL), 0);
                assert_non_null(strstr(out, "beside"));
                free(out);
        }
        assert_true(h_hub_stat(&hub, "signals_stored") >= 0);
        /* The hub still serves, and once stopped the directory is free again. */
        assert_non_null(h_node_submit(node, "gallium"));
        assert_int_equal(h_node_run_once(node, 10), 0);
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        h_hub_start(&hub);
        free(node);
        free(an);
        free(priv);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_hub_lock, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
