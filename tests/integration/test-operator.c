/* test-operator.c: operator mistakes the real hub and node must handle: a
 * second hub on the same directory, SIGHUP (reload, not exit), a full disk
 * (not a full LMDB map), and a hub that cannot be reached or refuses the
 * node (said once, with the cause, and shown by `nmo-node status`). */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lmdb.h>
#include <sodium.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "envelope.h"
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

/* Replaces the first line starting with key in file by line. */
static void conf_set(const char *file, const char *key, const char *line)
{
        char *text = slurp(file), *p = strstr(text, key), *end, *out = NULL;
        FILE *f;

        assert_non_null(p);
        end = strchr(p, '\n');
        assert_non_null(end);
        assert_true(asprintf(&out, "%.*s%s%s", (int)(p - text), text, line, end) > 0);
        f = fopen(file, "w");
        assert_non_null(f);
        fputs(out, f);
        fclose(f);
        free(out);
        free(text);
}

static void conf_append(const char *file, const char *text)
{
        FILE *f = fopen(file, "a");

        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

/* Sends one fresh signal over c; returns the receipt's reason (0: accepted). */
static int send_one(struct h_client *c)
{
        uint8_t *frame = NULL, id[SIGNAL_ID_BYTES];
        struct receipt r;
        size_t len = 0;
        bool dup;

        h_client_seal(c, "gallium", &frame, &len, id);
        assert_int_equal(h_client_send(c, frame, len, 5000, &r, &dup), 0);
        free(frame);
        return r.status == NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED ? 0 : (int)r.reason;
}

/* SIGHUP: the hub keeps running and applies a changed member rate limit at
 * once, says which changes wait for a restart, and refuses a hub.conf that
 * does not parse, keeping the settings in use. */
static void test_hub_reload(void **state)
{
        char *conf = util_path(hub.hub_dir, "hub.conf"), *m, line[96], *log;
        struct h_client c;

        (void)state;
        m = h_member_create(&hub, "hup", true);
        h_client_open(&c, &hub, m);
        assert_int_equal(send_one(&c), 0);
        assert_int_equal(send_one(&c), 0);
        conf_set(conf, "member_rate =", "member_rate = 1");
        conf_set(conf, "member_burst =", "member_burst = 1");
        snprintf(line, sizeof(line), "listen = tcp://127.0.0.1:%d", h_free_port());
        conf_set(conf, "listen =", line);
        assert_int_equal(kill(hub.pid, SIGHUP), 0);
        assert_true(wait_log(hub.log, "member_burst 2000 -> 1", 5000));
        assert_true(wait_log(hub.log, "applied only at a restart", 1000));
        log = slurp(hub.log);
        assert_non_null(strstr(log, "member_rate 500 -> 1"));
        assert_non_null(strstr(log, "[hub] listen"));
        free(log);
        assert_int_equal(h_wait(hub.pid, 200), -1000);
        /* Applied: a burst of one, so the second of two at once is refused. A
         * new member bucket starts full, so use a fresh member. */
        h_client_close(&c);
        free(m);
        m = h_member_create(&hub, "hup2", true);
        h_client_open(&c, &hub, m);
        assert_int_equal(send_one(&c), 0);
        assert_int_equal(send_one(&c), NMO__REASON__REASON_RATE_LIMITED);
        /* A broken hub.conf is refused; the limits in use stay. */
        conf_append(conf, "[limits]\nmember_rate = lots\n");
        assert_int_equal(kill(hub.pid, SIGHUP), 0);
        assert_true(wait_log(hub.log, "reload refused", 5000));
        assert_int_equal(h_wait(hub.pid, 200), -1000);
        assert_int_equal(send_one(&c), NMO__REASON__REASON_RATE_LIMITED);
        h_client_close(&c);
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        free(m);
        free(conf);
}

/* SIGHUP: `nmo-node run` keeps running, applies [delivery] and [log] at
 * once (a debug line appears), names a changed endpoint as waiting for a
 * restart, and refuses a node.conf that does not parse. */
static void test_node_reload(void **state)
{
        char *node = h_node_create(&hub, "hupnode", true), *conf = util_path(node, "node.conf");
        char *logpath = util_path(hub.dir, "hupnode.log"), *log;
        char *argv[] = { (char *)h_node_bin(), "run", "--dir", node, NULL };
        pid_t pid;

        (void)state;
        pid = h_spawn(argv, logpath);
        assert_true(wait_log(logpath, "agent running", 5000));
        conf_set(conf, "window =", "window = 8");
        conf_set(conf, "level =", "level = debug");
        conf_set(conf, "endpoint =", "endpoint = tcp://127.0.0.1:1");
        assert_int_equal(kill(pid, SIGHUP), 0);
        assert_true(wait_log(logpath, "window 64 -> 8", 5000));
        log = slurp(logpath);
        assert_non_null(strstr(log, "[log] level info -> debug"));
        assert_non_null(strstr(log, "applied only at a restart"));
        assert_non_null(strstr(log, "[hub] endpoint"));
        free(log);
        assert_int_equal(h_wait(pid, 200), -1000);
        /* Debug lines now: a submit nudges the agent, which says so. */
        assert_non_null(h_node_submit(node, "gallium"));
        assert_true(wait_log(logpath, "nudged", 5000));
        /* Still connected to the hub it started with: delivered. */
        for (int i = 0; i < 100 && h_node_count(node, "delivered") < 1; i++)
                usleep(50000);
        assert_int_equal(h_node_count(node, "delivered"), 1);
        /* A broken node.conf: refused, the agent runs on with what it had. */
        conf_append(conf, "window = many\n");
        assert_int_equal(kill(pid, SIGHUP), 0);
        assert_true(wait_log(logpath, "reload refused", 5000));
        assert_int_equal(h_wait(pid, 200), -1000);
        log = slurp(logpath);
        assert_int_equal(count_in(log, "window 64 -> 8"), 1);
        free(log);
        assert_int_equal(h_stop(pid, SIGTERM), 0);
        free(logpath);
        free(conf);
        free(node);
}

/* Runs `nmo-node run -v` on node for ms, then stops it; returns its log. */
static char *run_for(const char *node, const char *name, int ms)
{
        char *logpath = util_path(hub.dir, name), *log;
        char *argv[] = { (char *)h_node_bin(), "run", "--dir", (char *)node, "-v", NULL };
        pid_t pid = h_spawn(argv, logpath);

        usleep((useconds_t)ms * 1000);
        assert_int_equal(h_stop(pid, SIGTERM), 0);
        log = slurp(logpath);
        free(logpath);
        return log;
}

static json_object *status_json(const char *node)
{
        char *argv[] = { (char *)h_node_bin(), "status", "--dir", (char *)node, "--json", NULL };
        json_object *o = h_run_json(argv);

        assert_non_null(o);
        return o;
}

/* A string member of o, "" when missing or null. */
static const char *json_str(json_object *o, const char *key)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return "";
        return json_object_get_string(v);
}

/* A hub that nothing listens for: said once, with the cause, and `status`
 * shows the error and when the agent tries again. */
static void test_node_hub_unreachable(void **state)
{
        char *node = h_node_create(&hub, "lonely", true), *conf = util_path(node, "node.conf");
        char line[96], *log, *out = NULL;
        json_object *st;

        (void)state;
        snprintf(line, sizeof(line), "endpoint = tcp://127.0.0.1:%d", h_free_port());
        conf_set(conf, "endpoint =", line);
        assert_non_null(h_node_submit(node, "gallium"));
        log = run_for(node, "lonely.log", 3000);
        /* Once as an error; the retries only at debug level. */
        assert_int_equal(count_in(log, "error: hub at"), 1);
        assert_non_null(strstr(log, "connection refused"));
        assert_non_null(strstr(log, "retrying in"));
        free(log);
        st = status_json(node);
        assert_non_null(strstr(json_str(st, "last_error"), "connection refused"));
        assert_true(strlen(json_str(st, "next_retry")) == 20);
        assert_string_equal(json_str(st, "last_contact"), "");
        json_object_put(st);
        {
                char *argv[] = { (char *)h_node_bin(), "status", "--dir", node, NULL };
                assert_int_equal(h_run(argv, &out, NULL), 0);
                assert_non_null(strstr(out, "last_contact: never"));
                assert_non_null(strstr(out, "next_retry: "));
                assert_non_null(strstr(out, "connection refused"));
                free(out);
        }
        free(conf);
        free(node);
}

/* The wrong hub.pub: one clear line naming hub.pub, not one a retry; the
 * agent backs off; status and alerts say it. */
static void test_node_wrong_hub_pub(void **state)
{
        char *node = h_node_create(&hub, "mismatch", true), *other = util_path(hub.dir, "other");
        char *key = util_path(other, "hub.key"), *pub = util_path(other, "hub.key.pub");
        char *hub_pub = util_path(node, "keys/hub.pub"), cmd[4096], *log, *err = NULL;
        json_object *st;

        (void)state;
        assert_int_equal(util_mkdir_p(other, 0700), 0);
        {
                char *argv[] = { (char *)h_keys_bin(), "generate", "--out", key, "--role", "hub",
                                 "--name", "impostor", NULL };
                assert_int_equal(h_run(argv, NULL, NULL), 0);
        }
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", pub, hub_pub);
        assert_int_equal(system(cmd), 0);
        log = run_for(node, "mismatch.log", 5000);
        assert_int_equal(count_in(log, "error: hub at"), 1);
        assert_non_null(strstr(log, "does not match the hub (check hub.pub"));
        /* Backed off: 0.5, 1, 2, 4 s... not a try every half second. */
        assert_true(count_in(log, "handshake with the hub failed") >= 2);
        assert_true(count_in(log, "handshake with the hub failed") <= 6);
        free(log);
        st = status_json(node);
        assert_non_null(strstr(json_str(st, "last_error"), "hub.pub"));
        assert_true(strlen(json_str(st, "next_retry")) == 20);
        json_object_put(st);
        {
                char *argv[] = { (char *)h_node_bin(), "alerts", "--dir", node, NULL };
                assert_int_equal(h_run(argv, NULL, &err), 1);
                assert_non_null(strstr(err, "hub key mismatch"));
                free(err);
        }
        free(hub_pub);
        free(pub);
        free(key);
        free(other);
        free(node);
}

/* A node the hub does not admit (never enrolled, or revoked): said once,
 * status says refused, alerts says the key was not accepted. */
static void test_node_refused(void **state)
{
        char *node = h_node_create(&hub, "stranger", false), *log, *err = NULL;
        json_object *st;

        (void)state;
        log = run_for(node, "stranger.log", 3000);
        assert_int_equal(count_in(log, "error: hub at"), 1);
        assert_non_null(strstr(log, "not enrolled, suspended or revoked"));
        free(log);
        st = status_json(node);
        assert_non_null(strstr(json_str(st, "last_error"), "refused this node's key"));
        assert_true(strlen(json_str(st, "next_retry")) == 20);
        json_object_put(st);
        {
                char *argv[] = { (char *)h_node_bin(), "alerts", "--dir", node, NULL };
                assert_int_equal(h_run(argv, NULL, &err), 1);
                assert_non_null(strstr(err, "key not accepted"));
                free(err);
        }
        free(node);
        /* Revoked after delivering: the same, and the last contact stays. */
        node = h_node_create(&hub, "revoked", true);
        assert_non_null(h_node_submit(node, "gallium"));
        assert_int_equal(h_node_run_once(node, 10), 0);
        assert_int_equal(h_member(&hub, "revoke", "revoked"), 0);
        log = run_for(node, "revoked.log", 2500);
        assert_int_equal(count_in(log, "error: hub at"), 1);
        assert_non_null(strstr(log, "not enrolled, suspended or revoked"));
        free(log);
        st = status_json(node);
        assert_non_null(strstr(json_str(st, "last_error"), "refused this node's key"));
        assert_true(strlen(json_str(st, "last_contact")) == 20);
        json_object_put(st);
        free(node);
}

/* serve -v logs each batch (counts only); serve -q logs errors only. */
static void test_serve_verbosity(void **state)
{
        char *m, *log;
        struct h_client c;

        (void)state;
        m = h_member_create(&hub, "verbose", true);
        for (int quiet = 0; quiet < 2; quiet++) {
                char *argv[] = { (char *)h_hub_bin(), "serve", "--dir", hub.hub_dir,
                                 quiet ? "-q" : "-v", NULL };
                char logpath[600];

                assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
                snprintf(logpath, sizeof(logpath), "%s/serve-%d.log", hub.dir, quiet);
                hub.pid = h_spawn(argv, logpath);
                assert_true(h_wait_port(hub.port, 10000));
                h_client_open(&c, &hub, m);
                assert_int_equal(send_one(&c), 0);
                h_client_close(&c);
                usleep(300000);
                log = slurp(logpath);
                if (quiet) {
                        assert_null(strstr(log, "info:"));
                        assert_null(strstr(log, "batch of"));
                } else {
                        assert_non_null(strstr(log, "debug: batch of 1: 1 accepted, 0 "
                                                    "duplicates, 0 refused"));
                        /* Counts only: no member name in a batch line. */
                        {
                                char *line = strstr(log, "batch of"), *nl = strchr(line, '\n');

                                if (nl)
                                        *nl = '\0';
                                assert_null(strstr(line, "verbose"));
                        }
                }
                free(log);
        }
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        free(m);
}

/* A member's connection and disconnection are logged, by name, with nothing
 * of what it sent. */
static void test_connection_log(void **state)
{
        char *m = h_member_create(&hub, "conn-log", true), *log, *line;
        struct h_client c;

        (void)state;
        h_client_open(&c, &hub, m);
        assert_int_equal(send_one(&c), 0);
        assert_true(wait_log(hub.log, "member conn-log connected to the envelope socket from "
                                      "127.0.0.1", 5000));
        h_client_close(&c);
        assert_true(wait_log(hub.log, "member conn-log disconnected from the envelope socket",
                             5000));
        log = slurp(hub.log);
        line = strstr(log, "member conn-log connected");
        assert_non_null(line);
        *strchr(line, '\n') = '\0';
        /* Nothing of the signal: no material, no id. */
        assert_null(strstr(line, "gallium"));
        free(log);
        free(m);
}

/* Messages on a notify socket (what systemd reads), concatenated with '|'
 * between datagrams, waiting up to ms for one containing want. */
static bool notify_wait(int fd, char *seen, size_t len, const char *want, int ms)
{
        for (int waited = 0; waited <= ms; waited += 50) {
                char buf[512];
                ssize_t n;

                while ((n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
                        size_t at = strlen(seen);

                        buf[n] = '\0';
                        snprintf(seen + at, len - at, "%s|", buf);
                }
                if (strstr(seen, want))
                        return true;
                usleep(50000);
        }
        return false;
}

/* Under systemd (Type=notify, WatchdogSec=): serve says READY=1 with its
 * endpoints as STATUS, keeps the watchdog fed, says RELOADING=1 and READY=1
 * around a SIGHUP and STOPPING=1 at SIGTERM. The test plays systemd's side:
 * a datagram socket named in NOTIFY_SOCKET. */
static void test_systemd_notify(void **state)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char seen[8192] = "";
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        (void)state;
        assert_true(fd >= 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify.sock", hub.dir);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        setenv("NOTIFY_SOCKET", sa.sun_path, 1);
        setenv("WATCHDOG_USEC", "1000000", 1);
        h_hub_start(&hub);
        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_USEC");
        assert_true(notify_wait(fd, seen, sizeof(seen), "READY=1\nSTATUS=serving on "
                                                        "tcp://127.0.0.1:", 5000));
        /* Half the interval: at least two in 1.5 s. */
        seen[0] = '\0';
        usleep(1500000);
        assert_true(notify_wait(fd, seen, sizeof(seen), "WATCHDOG=1|WATCHDOG=1", 500));
        assert_int_equal(kill(hub.pid, SIGHUP), 0);
        assert_true(notify_wait(fd, seen, sizeof(seen), "RELOADING=1|READY=1", 5000));
        assert_int_equal(kill(hub.pid, SIGTERM), 0);
        assert_true(notify_wait(fd, seen, sizeof(seen), "STOPPING=1", 5000));
        assert_int_equal(h_wait(hub.pid, 20000), 0);
        hub.pid = 0;
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_hub_lock, setup, teardown),
                cmocka_unit_test_setup_teardown(test_node_disk_full, setup, teardown_mount),
                cmocka_unit_test_setup_teardown(test_hub_reload, setup, teardown),
                cmocka_unit_test_setup_teardown(test_serve_verbosity, setup, teardown),
                cmocka_unit_test_setup_teardown(test_connection_log, setup, teardown),
                cmocka_unit_test_setup_teardown(test_systemd_notify, setup, teardown),
                cmocka_unit_test_setup_teardown(test_node_reload, setup, teardown),
                cmocka_unit_test_setup_teardown(test_node_hub_unreachable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_node_wrong_hub_pub, setup, teardown),
                cmocka_unit_test_setup_teardown(test_node_refused, setup, teardown),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
