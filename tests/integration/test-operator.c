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

/* The map size an LMDB environment records (read-only). */
static size_t env_mapsize(const char *dir)
{
        MDB_env *env = NULL;
        MDB_envinfo info;
        size_t size = 0;

        if (mdb_env_create(&env) == 0 && mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0 &&
            mdb_env_info(env, &info) == 0)
                size = info.me_mapsize;
        mdb_env_close(env);
        return size;
}

static char *mounted; /* a tmpfs to unmount at teardown */

static int teardown_mount(void **state)
{
        if (mounted) {
                if (umount(mounted) < 0)
                        (void)umount2(mounted, MNT_DETACH);
                free(mounted);
                mounted = NULL;
        }
        return teardown(state);
}

/* Fills the file system of dir with a ballast file, to the last byte. */
static void fill(const char *dir)
{
        char *path = util_path(dir, "ballast"), buf[65536];
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        memset(buf, 0xa5, sizeof(buf));
        setvbuf(f, NULL, _IONBF, 0);
        while (fwrite(buf, 1, sizeof(buf), f) == sizeof(buf))
                ;
        while (fwrite(buf, 1, 512, f) == 512)
                ;
        fclose(f);
        free(path);
}

static int submit(const char *node_dir, char **err)
{
        char *argv[] = { (char *)h_node_bin(), "submit", "--dir", (char *)node_dir,
                         "--material", "gallium", "--event", "export-licensing",
                         "--severity", "high", "--country", "CN", NULL };

        return h_run(argv, NULL, err);
}

/* The node's directory on a small tmpfs that fills up: submit says "disk
 * full" with exit status 3, the outbox map is not grown, and once space is
 * freed submit and delivery work again. */
static void test_node_disk_full(void **state)
{
        char *node = h_node_create(&hub, "full", true), *init = NULL, cmd[4096], *err = NULL;
        char *outbox = util_path(node, "outbox"), *ballast = util_path(node, "ballast");
        int rc = 0, tries;

        (void)state;
        assert_true(asprintf(&init, "%s.init", node) > 0);
        assert_int_equal(rename(node, init), 0);
        assert_int_equal(mkdir(node, 0700), 0);
        if (mount("tmpfs", node, "tmpfs", 0, "size=2m,mode=0700") < 0) {
                fprintf(stderr, "cannot mount a tmpfs (%s): skipped\n", strerror(errno));
                skip();
        }
        mounted = strdup(node);
        snprintf(cmd, sizeof(cmd), "cp -a '%s/.' '%s/'", init, node);
        assert_int_equal(system(cmd), 0);
        assert_non_null(h_node_submit(node, "germanium"));
        fill(node);
        /* LMDB reuses the pages it has; a few submits use them up. */
        for (tries = 0; tries < 50; tries++) {
                free(err);
                err = NULL;
                rc = submit(node, &err);
                if (rc != 0)
                        break;
        }
        assert_int_equal(rc, 3);
        assert_non_null(strstr(err, "disk full"));
        assert_non_null(strstr(err, "bytes free"));
        assert_null(strstr(err, "store map grown"));
        assert_int_equal(count_in(err, "disk full on"), 1);
        free(err);
        err = NULL;
        assert_true(env_mapsize(outbox) <= ((size_t)16 << 20));
        /* Space again: the same outbox takes and delivers signals. */
        assert_int_equal(unlink(ballast), 0);
        assert_int_equal(submit(node, &err), 0);
        assert_null(strstr(err, "store map grown"));
        free(err);
        assert_int_equal(h_node_run_once(node, 10), 0);
        assert_int_equal(h_node_count(node, "queued") + h_node_count(node, "in_flight"), 0);
        assert_true(h_node_count(node, "delivered") >= 2);
        assert_true(env_mapsize(outbox) <= ((size_t)16 << 20));
        free(ballast);
        free(outbox);
        free(init);
        free(node);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_hub_lock, setup, teardown),
                cmocka_unit_test_setup_teardown(test_node_disk_full, setup, teardown_mount),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
