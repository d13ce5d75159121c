/* test-node-alerts.c: the alert feed subscriber, `nmo-node alerts` (node/feed.c,
 * node/cmd-alerts.c), its node.conf key and its outbox database.
 *
 * The hub's side is played in this process: an XPUB socket with the CURVE
 * server keys of a generated hub key (and, for the refusal test, a ZAP handler
 * of our own), bound on a free 127.0.0.1 port. The node is the real nmo-node
 * (from $NMO_NODE) run as a child process: `init`, then `alerts`. Everything
 * lives under one mkdtemp() directory that is removed at the end. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <lmdb.h>
#include <sodium.h>
#include <zmq.h>

#include "alert.h"
#include "feed.h"
#include "keys.h"
#include "node-config.h"
#include "outbox.h"
#include "unit-tmp.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
/* Stable in libzmq since 4.3 but still behind the draft header guard. */
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2"
#define ID_C "ccccccccccccccccccccccccccccccc3"
#define ID_D "ddddddddddddddddddddddddddddddd4"
#define ID_E "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeee5"

static char tmp_dir[PATH_MAX];
static char hub_pub_path[PATH_MAX];
static struct keys_secret *hub_sk, *rogue_sk;
static const char *node_bin;

/* ---- helpers: files, processes ---- */

static char *tmp_path(const char *name)
{
        char *p = util_path(tmp_dir, name);

        assert_non_null(p);
        return p;
}

static char *read_all(const char *path)
{
        char *text = NULL;
        size_t len = 0;

        assert_int_equal(util_read_file(path, 1 << 20, &text, &len), 0);
        return text;
}

static void write_text(const char *path, const char *text)
{
        assert_int_equal(util_write_file(path, text, strlen(text), 0600, false), 0);
}

/* Starts argv with stdout and stderr on the given descriptors. */
static pid_t spawn(char *const argv[], int out_fd, int err_fd)
{
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                int devnull = open("/dev/null", O_RDONLY);

                if (devnull >= 0)
                        dup2(devnull, 0);
                dup2(out_fd, 1);
                dup2(err_fd, 2);
                execv(argv[0], argv);
                _exit(127);
        }
        return pid;
}

/* Exit status, -signal, or -1000 when pid is still running after ms. */
static int wait_exit(pid_t pid, int ms)
{
        int status;

        for (int waited = 0; waited <= ms; waited += 10) {
                pid_t r = waitpid(pid, &status, WNOHANG);

                if (r == pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
                usleep(10000);
        }
        return -1000;
}

static int open_out(const char *path)
{
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        return fd;
}

/* A node directory root/NAME made by `nmo-node init`, its feed at port. */
static char *make_node(const char *name, int port, bool with_alerts_option)
{
        char hub[64], alerts[64];
        char *dir = tmp_path(name), *out = tmp_path("init.out");
        int fd = open_out(out);
        char *argv[] = { (char *)node_bin, "init", "--dir", dir, "--hub", hub, "--alerts", alerts,
                         "--hub-pub", hub_pub_path, NULL };
        char *argv_default[] = { (char *)node_bin, "init", "--dir", dir, "--hub", hub,
                                 "--hub-pub", hub_pub_path, NULL };

        snprintf(hub, sizeof(hub), "tcp://127.0.0.1:%d", port - 1);
        snprintf(alerts, sizeof(alerts), "tcp://127.0.0.1:%d", port);
        assert_int_equal(wait_exit(spawn(with_alerts_option ? argv : argv_default, fd, fd), 20000),
                         0);
        close(fd);
        free(out);
        return dir;
}

/* ---- the hub's side ---- */

struct publisher {
        void *ctx;
        void *xpub;
        void *zap;              /* our ZAP handler, or NULL */
        const char *zap_status; /* what it answers: "200" or "400" */
        int port;
        int subscriptions;      /* "alert" subscriptions seen */
        int zap_requests;
};

static void pub_open(struct publisher *p, bool zap)
{
        char ep[128];
        size_t len = sizeof(ep);
        int one = 1, zero = 0;
        const char *colon;

        memset(p, 0, sizeof(*p));
        p->zap_status = "200";
        p->ctx = zmq_ctx_new();
        assert_non_null(p->ctx);
        if (zap) {
                /* The handler must be bound before a socket with a ZAP domain is. */
                p->zap = zmq_socket(p->ctx, ZMQ_REP);
                assert_non_null(p->zap);
                assert_int_equal(zmq_setsockopt(p->zap, ZMQ_LINGER, &zero, sizeof(zero)), 0);
                assert_int_equal(zmq_bind(p->zap, "inproc://zeromq.zap.01"), 0);
        }
        p->xpub = zmq_socket(p->ctx, ZMQ_XPUB);
        assert_non_null(p->xpub);
        assert_int_equal(zmq_setsockopt(p->xpub, ZMQ_LINGER, &zero, sizeof(zero)), 0);
        /* Every subscription comes up, not only the first of a topic. */
        assert_int_equal(zmq_setsockopt(p->xpub, ZMQ_XPUB_VERBOSE, &one, sizeof(one)), 0);
        assert_int_equal(zmq_setsockopt(p->xpub, ZMQ_CURVE_SERVER, &one, sizeof(one)), 0);
        assert_int_equal(zmq_setsockopt(p->xpub, ZMQ_CURVE_SECRETKEY, hub_sk->transport_sk,
                                        KEYS_KEY_BYTES), 0);
        if (zap) {
                assert_int_equal(zmq_setsockopt(p->xpub, ZMQ_ZAP_DOMAIN, "nmo", 3), 0);
                assert_int_equal(zmq_setsockopt(p->xpub, ZMQ_ZAP_ENFORCE_DOMAIN, &one,
                                                sizeof(one)), 0);
        }
        assert_int_equal(zmq_bind(p->xpub, "tcp://127.0.0.1:*"), 0);
        assert_int_equal(zmq_getsockopt(p->xpub, ZMQ_LAST_ENDPOINT, ep, &len), 0);
        colon = strrchr(ep, ':');
        assert_non_null(colon);
        p->port = atoi(colon + 1);
        assert_true(p->port > 1);
}

static void pub_close(struct publisher *p)
{
        if (p->zap)
                zmq_close(p->zap);
        if (p->xpub)
                zmq_close(p->xpub);
        if (p->ctx)
                zmq_ctx_term(p->ctx);
        memset(p, 0, sizeof(*p));
}

/* Sends nparts frames. */
static void pub_send_parts(struct publisher *p, const void *const *data, const size_t *lens,
                           size_t nparts)
{
        for (size_t i = 0; i < nparts; i++)
                assert_true(zmq_send(p->xpub, data[i], lens[i],
                                     i + 1 < nparts ? ZMQ_SNDMORE : 0) >= 0);
}

static void pub_send(struct publisher *p, const char *topic, const void *body, size_t len)
{
        const void *data[2] = { topic, body };
        size_t lens[2] = { strlen(topic), len };

        pub_send_parts(p, data, lens, 2);
}

/* Answers one ZAP request with p->zap_status. */
static void zap_answer(struct publisher *p)
{
        zmq_msg_t parts[8];
        size_t n = 0;
        const char *reply[6];
        size_t lens[6];

        for (;;) {
                assert_true(n < 8);
                zmq_msg_init(&parts[n]);
                assert_true(zmq_msg_recv(&parts[n], p->zap, 0) >= 0);
                n++;
                if (!zmq_msg_more(&parts[n - 1]))
                        break;
        }
        assert_true(n >= 2);
        p->zap_requests++;
        reply[0] = "1.0";
        lens[0] = 3;
        reply[1] = zmq_msg_data(&parts[1]); /* request id */
        lens[1] = zmq_msg_size(&parts[1]);
        reply[2] = p->zap_status;
        lens[2] = 3;
        reply[3] = "";
        lens[3] = 0;
        reply[4] = "";
        lens[4] = 0;
        reply[5] = "";
        lens[5] = 0;
        for (size_t i = 0; i < 6; i++)
                assert_true(zmq_send(p->zap, reply[i], lens[i], i < 5 ? ZMQ_SNDMORE : 0) >= 0);
        for (size_t i = 0; i < n; i++)
                zmq_msg_close(&parts[i]);
}

/* Reads what came up the XPUB; true when it was a subscription to "alert". */
static bool read_subscription(struct publisher *p)
{
        uint8_t buf[64];
        int n = zmq_recv(p->xpub, buf, sizeof(buf), ZMQ_DONTWAIT);

        if (n == 1 + (int)strlen(ALERT_TOPIC) && buf[0] == 1 &&
            memcmp(buf + 1, ALERT_TOPIC, strlen(ALERT_TOPIC)) == 0) {
                p->subscriptions++;
                return true;
        }
        return false;
}

typedef void (*on_subscribe_fn)(struct publisher *p);

/* Serves p (ZAP requests; on_sub for each subscription) until pid exits;
 * returns its exit status (-1000 after ms). p may be NULL: just waits. */
static int serve_until_exit(struct publisher *p, pid_t pid, int ms, on_subscribe_fn on_sub)
{
        uint64_t end = util_mono_ms() + (uint64_t)ms;

        while (util_mono_ms() < end) {
                zmq_pollitem_t items[2];
                int nitems = 0, status;
                pid_t r = waitpid(pid, &status, WNOHANG);

                if (r == pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
                if (!p) {
                        usleep(10000);
                        continue;
                }
                items[nitems++] = (zmq_pollitem_t){ .socket = p->xpub, .events = ZMQ_POLLIN };
                if (p->zap)
                        items[nitems++] = (zmq_pollitem_t){ .socket = p->zap,
                                                            .events = ZMQ_POLLIN };
                assert_true(zmq_poll(items, nitems, 10) >= 0);
                if (nitems > 1 && (items[1].revents & ZMQ_POLLIN))
                        zap_answer(p);
                if ((items[0].revents & ZMQ_POLLIN) && read_subscription(p) && on_sub)
                        on_sub(p);
        }
        kill(pid, SIGKILL);
        (void)wait_exit(pid, 5000);
        return -1000;
}

/* ---- alerts ---- */

struct alert_spec {
        const char *id;
        uint32_t revision;
        const char *level;
        const char *event;      /* "" for none */
        const char *issued;
};

static void make_alert(const struct keys_secret *sk, const struct alert_spec *s, uint8_t **buf,
                       size_t *len)
{
        Nmo__AlertBody b = NMO__ALERT_BODY__INIT;

        b.has_version = 1;
        b.version = 1;
        b.id = (char *)s->id;
        b.has_revision = 1;
        b.revision = s->revision;
        b.rule = "surge";
        b.material = "gallium";
        b.event = (char *)s->event;
        b.level = (char *)s->level;
        b.period = "2026-W48";
        b.window_start = "2026-W40";
        b.window_end = "2026-W48";
        b.issued = (char *)s->issued;
        b.summary = "Gallium export licensing reports rose above their baseline.";
        b.has_reporters = 1;
        b.reporters = 5;
        b.has_reports = 1;
        b.reports = 12 + s->revision;
        b.has_baseline = 1;
        b.baseline = 3.5;
        assert_int_equal(alert_sign(&b, sk->sign_sk, buf, len), 0);
}

static void send_alert(struct publisher *p, const struct keys_secret *sk,
                       const struct alert_spec *s)
{
        uint8_t *buf = NULL;
        size_t len = 0;

        make_alert(sk, s, &buf, &len);
        pub_send(p, ALERT_TOPIC, buf, len);
        free(buf);
}

static const struct alert_spec a1 = { ID_A, 1, "warning", "export-licensing", "2026-11-27" };
static const struct alert_spec a2 = { ID_A, 2, "critical", "export-licensing", "2026-11-27" };
static const struct alert_spec b1 = { ID_B, 1, "warning", "", "2026-11-20" };

/* The catch-up of the main test: the good, the repeated and the bad. */
static void send_mixed(struct publisher *p)
{
        static const struct alert_spec c1 = { ID_C, 1, "critical", "", "2026-11-28" };
        static const struct alert_spec d1 = { ID_D, 1, "critical", "", "2026-11-28" };
        static const struct alert_spec e1 = { ID_E, 1, "critical", "", "2026-11-28" };
        uint8_t *buf = NULL, garbage[100];
        size_t len = 0;
        const void *data[3];
        size_t lens[3];

        send_alert(p, hub_sk, &a1);
        send_alert(p, hub_sk, &b1);
        send_alert(p, hub_sk, &a2);
        send_alert(p, hub_sk, &a1);             /* a lower revision: kept out */
        send_alert(p, rogue_sk, &c1);           /* signed by another key */

        make_alert(hub_sk, &d1, &buf, &len);    /* one byte flipped */
        buf[len / 2] ^= 0x01;
        pub_send(p, ALERT_TOPIC, buf, len);
        free(buf);

        randombytes_buf(garbage, sizeof(garbage));
        pub_send(p, ALERT_TOPIC, garbage, sizeof(garbage));

        make_alert(hub_sk, &e1, &buf, &len);    /* a topic the SUB prefix filter lets in */
        pub_send(p, ALERT_TOPIC "s", buf, len);
        data[0] = ALERT_TOPIC;                  /* the topic alone */
        lens[0] = strlen(ALERT_TOPIC);
        pub_send_parts(p, data, lens, 1);
        data[1] = buf;                          /* three frames */
        lens[1] = len;
        data[2] = "x";
        lens[2] = 1;
        pub_send_parts(p, data, lens, 3);
        free(buf);
}

static void send_a1(struct publisher *p)
{
        send_alert(p, hub_sk, &a1);
}

/* Runs `nmo-node alerts --dir DIR EXTRA...` to its end, serving p. */
static int run_alerts(struct publisher *p, const char *dir, const char *const *extra,
                      on_subscribe_fn on_sub, char **out, char **err, uint64_t *elapsed_ms)
{
        char *out_path = tmp_path("alerts.out"), *err_path = tmp_path("alerts.err");
        int ofd = open_out(out_path), efd = open_out(err_path), rc;
        char *argv[16] = { (char *)node_bin, "alerts", "--dir", (char *)dir };
        size_t n = 4;
        uint64_t start = util_mono_ms();

        for (; extra && *extra; extra++)
                argv[n++] = (char *)*extra;
        argv[n] = NULL;
        rc = serve_until_exit(p, spawn(argv, ofd, efd), 30000, on_sub);
        if (elapsed_ms)
                *elapsed_ms = util_mono_ms() - start;
        close(ofd);
        close(efd);
        *out = read_all(out_path);
        *err = read_all(err_path);
        free(out_path);
        free(err_path);
        return rc;
}

static json_object *find_alert(json_object *arr, const char *id)
{
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
                json_object *o = json_object_array_get_idx(arr, i), *v;

                if (json_object_object_get_ex(o, "id", &v) &&
                    strcmp(json_object_get_string(v), id) == 0)
                        return o;
        }
        return NULL;
}

static int64_t json_int(json_object *o, const char *key)
{
        json_object *v;

        assert_true(json_object_object_get_ex(o, key, &v));
        return json_object_get_int64(v);
}

static const char *json_str(json_object *o, const char *key)
{
        json_object *v;

        assert_true(json_object_object_get_ex(o, key, &v));
        return v ? json_object_get_string(v) : NULL;
}

/* The two valid alerts, A at revision 2 first (issued later), then B. */
static void expect_two(const char *out)
{
        json_object *arr = json_tokener_parse(out), *a, *b, *v;

        assert_non_null(arr);
        assert_true(json_object_is_type(arr, json_type_array));
        assert_int_equal(json_object_array_length(arr), 2);
        a = find_alert(arr, ID_A);
        b = find_alert(arr, ID_B);
        assert_non_null(a);
        assert_non_null(b);
        assert_ptr_equal(json_object_array_get_idx(arr, 0), a);
        assert_int_equal(json_int(a, "revision"), 2);
        assert_string_equal(json_str(a, "level"), "critical");
        assert_int_equal(json_int(a, "reports"), 14);
        assert_string_equal(json_str(a, "event"), "export-licensing");
        assert_string_equal(json_str(a, "window_start"), "2026-W40");
        assert_true(json_object_object_get_ex(a, "baseline", &v));
        assert_true(json_object_get_double(v) == 3.5);
        assert_true(json_object_object_get_ex(a, "verified", &v));
        assert_true(json_object_get_boolean(v));
        assert_int_equal(json_int(b, "revision"), 1);
        assert_true(json_object_object_get_ex(b, "event", &v));
        assert_null(v);
        assert_string_equal(json_str(b, "issued"), "2026-11-20");
        json_object_put(arr);
}

/* ---- tests ---- */

static void test_feed_catch_up_and_history(void **state)
{
        static const char *const json_wait[] = { "--json", "--wait", "2", NULL };
        static const char *const json_short[] = { "--json", "--wait", "1", NULL };
        static const char *const human[] = { "--wait", "1", NULL };
        struct publisher p;
        char *dir, *out = NULL, *err = NULL, *conf, *conf_path;
        int rc;

        (void)state;
        if (!node_bin)
                skip();
        pub_open(&p, false);
        dir = make_node("catch-up", p.port, true);
        conf_path = tmp_path("catch-up/node.conf");
        conf = read_all(conf_path);
        assert_non_null(strstr(conf, "\nalerts = tcp://127.0.0.1:"));
        free(conf);
        free(conf_path);

        rc = run_alerts(&p, dir, json_wait, send_mixed, &out, &err, NULL);
        if (rc != 0)
                fail_msg("nmo-node alerts exited %d: %s", rc, err);
        assert_true(p.subscriptions >= 1);
        expect_two(out);
        assert_non_null(strstr(err, "ignored an alert with a bad signature"));
        assert_non_null(strstr(err, "ignored a malformed alert"));
        assert_non_null(strstr(err, "ignored a message with an unexpected topic"));
        assert_non_null(strstr(err, "ignored a message of 1 frame"));
        assert_non_null(strstr(err, "ignored a message of 3 frames"));
        assert_null(strstr(out, ID_C));
        assert_null(strstr(out, ID_D));
        assert_null(strstr(out, ID_E));
        free(out);
        free(err);

        /* No hub: the stored alerts, a note, exit 0. */
        pub_close(&p);
        rc = run_alerts(NULL, dir, json_short, NULL, &out, &err, NULL);
        assert_int_equal(rc, 0);
        expect_two(out);
        assert_non_null(strstr(err, "hub not reachable: alert feed at "));
        assert_non_null(strstr(err, "; showing stored alerts"));
        free(out);
        free(err);

        /* The human form: one block per alert, newest issued first. */
        rc = run_alerts(NULL, dir, human, NULL, &out, &err, NULL);
        assert_int_equal(rc, 0);
        assert_string_equal(out,
                "[CRITICAL] 2026-11-27  surge  gallium/export-licensing  2026-W48 "
                "(window 2026-W40..2026-W48)\n"
                "  Gallium export licensing reports rose above their baseline.\n"
                "  reporters 5, reports 14, baseline 3.5\n"
                "\n"
                "[WARNING] 2026-11-20  surge  gallium  2026-W48 (window 2026-W40..2026-W48)\n"
                "  Gallium export licensing reports rose above their baseline.\n"
                "  reporters 5, reports 13, baseline 3.5\n");
        free(out);
        free(err);
        free(dir);
}

static void test_feed_refused(void **state)
{
        static const char *const json_long[] = { "--json", "--wait", "10", NULL };
        struct publisher p;
        char *dir, *out = NULL, *err = NULL;
        json_object *arr;
        uint64_t elapsed;
        int rc;

        (void)state;
        if (!node_bin)
                skip();
        pub_open(&p, true);
        dir = make_node("refused", p.port, false); /* the default: port + 1 */

        /* Admitted: one alert stored; the run ends soon after it. */
        rc = run_alerts(&p, dir, json_long, send_a1, &out, &err, &elapsed);
        if (rc != 0)
                fail_msg("nmo-node alerts exited %d: %s", rc, err);
        assert_true(p.zap_requests >= 1);
        assert_true(elapsed < 5000);
        arr = json_tokener_parse(out);
        assert_non_null(arr);
        assert_int_equal(json_object_array_length(arr), 1);
        json_object_put(arr);
        free(out);
        free(err);

        /* Refused (as a suspended or revoked member is): a message, the
         * stored alert still shown, exit 1, without waiting out --wait. */
        p.zap_status = "400";
        rc = run_alerts(&p, dir, json_long, send_a1, &out, &err, &elapsed);
        assert_int_equal(rc, 1);
        assert_true(elapsed < 5000);
        assert_non_null(strstr(err, "refused this node's key"));
        arr = json_tokener_parse(out);
        assert_non_null(arr);
        assert_int_equal(json_object_array_length(arr), 1);
        assert_non_null(find_alert(arr, ID_A));
        json_object_put(arr);
        free(out);
        free(err);
        pub_close(&p);
        free(dir);
}

/* Reads one line from fd within ms, serving p; NULL when none came. */
static char *read_line(int fd, struct publisher *p, char *buf, size_t cap, size_t *have, int ms,
                       on_subscribe_fn on_sub)
{
        uint64_t end = util_mono_ms() + (uint64_t)ms;

        for (;;) {
                char *nl = memchr(buf, '\n', *have);
                zmq_pollitem_t items[2] = { { .fd = fd, .events = ZMQ_POLLIN } };
                int nitems = 1;
                ssize_t n;

                if (nl) {
                        size_t len = (size_t)(nl - buf);
                        char *line = strndup(buf, len);

                        memmove(buf, nl + 1, *have - len - 1);
                        *have -= len + 1;
                        return line;
                }
                if (util_mono_ms() >= end)
                        return NULL;
                if (p)
                        items[nitems++] = (zmq_pollitem_t){ .socket = p->xpub,
                                                            .events = ZMQ_POLLIN };
                assert_true(zmq_poll(items, nitems, 20) >= 0);
                if (nitems > 1 && (items[1].revents & ZMQ_POLLIN) && read_subscription(p) &&
                    on_sub)
                        on_sub(p);
                if (!(items[0].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
                        continue;
                assert_true(*have < cap);
                n = read(fd, buf + *have, cap - *have);
                if (n <= 0)
                        return NULL;
                *have += (size_t)n;
        }
}

static void expect_line(char *line, const char *id, int revision)
{
        json_object *o;

        if (!line)
                fail_msg("no line for alert %s revision %d", id, revision);
        o = json_tokener_parse(line);
        assert_non_null(o);
        assert_true(json_object_is_type(o, json_type_object));
        assert_string_equal(json_str(o, "id"), id);
        assert_int_equal(json_int(o, "revision"), revision);
        json_object_put(o);
        free(line);
}

struct follower {
        pid_t pid;
        int fd;                 /* its stdout */
        char buf[65536];
        size_t have;
};

static void follow_start(struct follower *f, const char *dir, const char *err_path)
{
        char *argv[] = { (char *)node_bin, "alerts", "--dir", (char *)dir, "--follow", "--json",
                         NULL };
        int pipefd[2], efd = open_out(err_path);

        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        f->pid = spawn(argv, pipefd[1], efd);
        close(pipefd[1]);
        close(efd);
        f->fd = pipefd[0];
        f->have = 0;
}

static void test_follow(void **state)
{
        struct publisher p;
        struct follower *f = calloc(1, sizeof(*f));
        char *dir, *err_path = tmp_path("follow.err"), *err, *line;

        (void)state;
        assert_non_null(f);
        if (!node_bin) {
                free(f);
                free(err_path);
                skip();
        }
        pub_open(&p, false);
        dir = make_node("follow", p.port, true);

        follow_start(f, dir, err_path);
        /* The subscription brings the catch-up (A revision 1)... */
        expect_line(read_line(f->fd, &p, f->buf, sizeof(f->buf), &f->have, 10000, send_a1),
                    ID_A, 1);
        /* ... then each new revision or alert as it is issued; repeats, lower
         * revisions and bad alerts print nothing. */
        send_alert(&p, hub_sk, &a2);
        expect_line(read_line(f->fd, &p, f->buf, sizeof(f->buf), &f->have, 10000, send_a1),
                    ID_A, 2);
        send_alert(&p, hub_sk, &a1);
        send_alert(&p, hub_sk, &a2);
        send_alert(&p, rogue_sk, &b1);
        send_alert(&p, hub_sk, &b1);
        expect_line(read_line(f->fd, &p, f->buf, sizeof(f->buf), &f->have, 10000, send_a1),
                    ID_B, 1);
        line = read_line(f->fd, &p, f->buf, sizeof(f->buf), &f->have, 700, send_a1);
        assert_null(line);
        assert_int_equal(kill(f->pid, SIGTERM), 0);
        assert_int_equal(wait_exit(f->pid, 10000), 0);
        close(f->fd);
        err = read_all(err_path);
        assert_non_null(strstr(err, "ignored an alert with a bad signature"));
        free(err);
        pub_close(&p);

        /* Without a hub: the stored alerts first, newest issued first; SIGINT
         * ends it cleanly too. */
        follow_start(f, dir, err_path);
        expect_line(read_line(f->fd, NULL, f->buf, sizeof(f->buf), &f->have, 10000, NULL),
                    ID_A, 2);
        expect_line(read_line(f->fd, NULL, f->buf, sizeof(f->buf), &f->have, 10000, NULL),
                    ID_B, 1);
        assert_int_equal(kill(f->pid, SIGINT), 0);
        assert_int_equal(wait_exit(f->pid, 10000), 0);
        close(f->fd);
        free(f);
        free(err_path);
        free(dir);
}

/* The known-answer vector of proto/PROTOCOL.md section 14.8 (from kat-alert.py). */
static const char kat_body_hex[] =
        "08011220303031313232333334343535363637373838393961616262636364646565666618022205"
        "73757267652a0767616c6c69756d32106578706f72742d6c6963656e73696e673a08637269746963"
        "616c4208323032362d5734384a08323032362d5734305208323032362d5734385a0a323032362d31"
        "312d3237623b47616c6c69756d206578706f7274206c6963656e73696e67207265706f7274732072"
        "6f73652061626f766520746865697220626173656c696e652e6805700c790000000000000c40";
static const char kat_sig_hex[] =
        "5f97dfe82cea304579169bdd29208e55ecf9ad0be7e7e2cd33718dc64dc2de783aa1e3847d6f3714"
        "d9e2a15fc86e41337ac1a77c2969a2683676bb7462c8710b";

static void test_known_answer(void **state)
{
        Nmo__AlertBody b = NMO__ALERT_BODY__INIT, *got = NULL;
        uint8_t seed[32], pk[32], sk[64], body[198], sig[64], expect[267], *signed_alert = NULL;
        size_t len = 0;

        (void)state;
        memset(seed, 5, sizeof(seed));
        assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
        assert_int_equal(util_unhex(kat_body_hex, body, sizeof(body)), 0);
        assert_int_equal(util_unhex(kat_sig_hex, sig, sizeof(sig)), 0);

        b.has_version = 1;
        b.version = 1;
        b.id = "00112233445566778899aabbccddeeff";
        b.has_revision = 1;
        b.revision = 2;
        b.rule = "surge";
        b.material = "gallium";
        b.event = "export-licensing";
        b.level = "critical";
        b.period = "2026-W48";
        b.window_start = "2026-W40";
        b.window_end = "2026-W48";
        b.issued = "2026-11-27";
        b.summary = "Gallium export licensing reports rose above their baseline.";
        b.has_reporters = 1;
        b.reporters = 5;
        b.has_reports = 1;
        b.reports = 12;
        b.has_baseline = 1;
        b.baseline = 3.5;
        assert_int_equal(nmo__alert_body__get_packed_size(&b), sizeof(body));
        assert_int_equal(alert_sign(&b, sk, &signed_alert, &len), 0);
        expect[0] = 0x0a;
        expect[1] = 0xc6;
        expect[2] = 0x01;
        memcpy(expect + 3, body, sizeof(body));
        expect[201] = 0x12;
        expect[202] = 0x40;
        memcpy(expect + 203, sig, sizeof(sig));
        assert_int_equal(len, sizeof(expect));
        assert_memory_equal(signed_alert, expect, sizeof(expect));

        assert_int_equal(feed_check_alert(expect, sizeof(expect), pk, &got), 0);
        assert_string_equal(got->id, "00112233445566778899aabbccddeeff");
        assert_int_equal(got->revision, 2);
        nmo__alert_body__free_unpacked(got, NULL);
        sodium_memzero(sk, sizeof(sk));
        free(signed_alert);
}

/* Every verify path must fail when it should. */
static void test_check_must_fail(void **state)
{
        struct alert_spec s = { ID_A, 1, "warning", "", "2026-11-27" };
        Nmo__AlertBody b = NMO__ALERT_BODY__INIT, *got = NULL;
        uint8_t *buf = NULL, big[ALERT_MAX + 1];
        size_t len = 0;

        (void)state;
        make_alert(hub_sk, &s, &buf, &len);
        assert_int_equal(feed_check_alert(buf, len, hub_sk->pub.sign, &got), 0);
        nmo__alert_body__free_unpacked(got, NULL);
        assert_int_equal(feed_check_alert(buf, len, rogue_sk->pub.sign, &got), -EKEYREJECTED);
        assert_null(got);
        for (size_t i = 0; i < len; i++) {
                buf[i] ^= 0x20;
                assert_true(feed_check_alert(buf, len, hub_sk->pub.sign, &got) < 0);
                assert_null(got);
                buf[i] ^= 0x20;
        }
        assert_int_equal(feed_check_alert(buf, len - 1, hub_sk->pub.sign, &got), -EBADMSG);
        free(buf);
        memset(big, 0, sizeof(big));
        assert_int_equal(feed_check_alert(big, sizeof(big), hub_sk->pub.sign, &got), -EBADMSG);

        /* Signed, but not what a node relies on. */
        b.has_version = 1;
        b.version = 1;
        b.rule = "surge";
        b.material = "gallium";
        b.level = "warning";
        b.has_revision = 1;
        b.revision = 1;
        {
                static const char *const bad_ids[] = { "ABCDEFABCDEFABCDEFABCDEFABCDEFAB",
                                                        "0011", "../../../../../../../../etc/x",
                                                        "00112233445566778899aabbccddeeff0" };

                for (size_t i = 0; i < NMO_ARRAY_SIZE(bad_ids); i++) {
                        b.id = (char *)bad_ids[i];
                        assert_int_equal(alert_sign(&b, hub_sk->sign_sk, &buf, &len), 0);
                        assert_int_equal(feed_check_alert(buf, len, hub_sk->pub.sign, &got),
                                         -EBADMSG);
                        free(buf);
                }
        }
        b.id = ID_A;
        b.revision = 0;
        assert_int_equal(alert_sign(&b, hub_sk->sign_sk, &buf, &len), 0);
        assert_int_equal(feed_check_alert(buf, len, hub_sk->pub.sign, &got), -EBADMSG);
        free(buf);
        b.revision = 1;
        b.summary = "a \x1b[2Jterminal escape";
        assert_int_equal(alert_sign(&b, hub_sk->sign_sk, &buf, &len), 0);
        assert_int_equal(feed_check_alert(buf, len, hub_sk->pub.sign, &got), -EBADMSG);
        free(buf);
        b.summary = "two\nlines";
        assert_int_equal(alert_sign(&b, hub_sk->sign_sk, &buf, &len), 0);
        assert_int_equal(feed_check_alert(buf, len, hub_sk->pub.sign, &got), -EBADMSG);
        free(buf);
        b.summary = NULL;
        b.has_baseline = 1;
        b.baseline = -1;
        assert_int_equal(alert_sign(&b, hub_sk->sign_sk, &buf, &len), 0);
        assert_int_equal(feed_check_alert(buf, len, hub_sk->pub.sign, &got), -EBADMSG);
        free(buf);
        b.baseline = 0.5;
        assert_int_equal(alert_sign(&b, hub_sk->sign_sk, &buf, &len), 0);
        assert_int_equal(feed_check_alert(buf, len, hub_sk->pub.sign, &got), 0);
        nmo__alert_body__free_unpacked(got, NULL);
        free(buf);
}

struct seen_alerts {
        size_t n;
        uint32_t revisions[8];
};

static int count_alert(const uint8_t *buf, size_t len, void *userdata)
{
        struct seen_alerts *s = userdata;
        Nmo__AlertBody *b = NULL;

        assert_int_equal(feed_check_alert(buf, len, hub_sk->pub.sign, &b), 0);
        assert_true(s->n < NMO_ARRAY_SIZE(s->revisions));
        s->revisions[s->n++] = b->revision;
        nmo__alert_body__free_unpacked(b, NULL);
        return 0;
}

static void test_outbox_alerts(void **state)
{
        struct alert_spec s1 = { ID_A, 1, "warning", "", "2026-11-27" };
        struct alert_spec s3 = { ID_A, 3, "critical", "", "2026-11-27" };
        struct alert_spec t1 = { ID_B, 1, "warning", "", "2026-11-27" };
        uint8_t *r1 = NULL, *r3 = NULL, *u1 = NULL;
        size_t l1, l3, lu;
        struct outbox_alert in[3];
        struct seen_alerts seen = { 0, { 0 } };
        struct outbox *ob = NULL;
        bool stored[3];
        char *dir = tmp_path("outbox-alerts");

        (void)state;
        make_alert(hub_sk, &s1, &r1, &l1);
        make_alert(hub_sk, &s3, &r3, &l3);
        make_alert(hub_sk, &t1, &u1, &lu);
        assert_int_equal(outbox_open(&ob, dir, 0, 0), 0);

        /* One transaction: revision 3 then 1 of A, and B. */
        in[0] = (struct outbox_alert){ ID_A, 3, r3, l3 };
        in[1] = (struct outbox_alert){ ID_A, 1, r1, l1 };
        in[2] = (struct outbox_alert){ ID_B, 1, u1, lu };
        assert_int_equal(outbox_put_alerts(ob, in, 3, stored), 0);
        assert_true(stored[0]);
        assert_false(stored[1]);
        assert_true(stored[2]);
        /* The same again: nothing new. */
        assert_int_equal(outbox_put_alerts(ob, in, 3, stored), 0);
        assert_false(stored[0] || stored[1] || stored[2]);
        assert_int_equal(outbox_foreach_alert(ob, count_alert, &seen), 0);
        assert_int_equal(seen.n, 2);
        assert_int_equal(seen.revisions[0], 3);
        assert_int_equal(seen.revisions[1], 1);

        /* Refused input writes nothing. */
        in[0] = (struct outbox_alert){ "not-hex", 9, r1, l1 };
        assert_int_equal(outbox_put_alerts(ob, in, 1, NULL), -EINVAL);
        in[0] = (struct outbox_alert){ ID_C, 1, r1, 0 };
        assert_int_equal(outbox_put_alerts(ob, in, 1, NULL), -EINVAL);
        in[0] = (struct outbox_alert){ ID_C, 1, r1, ALERT_MAX + 1 };
        assert_int_equal(outbox_put_alerts(ob, in, 1, NULL), -EINVAL);
        outbox_free(ob);

        /* Read only: visible, not writable. */
        assert_int_equal(outbox_open(&ob, dir, OUTBOX_READONLY, 0), 0);
        seen.n = 0;
        assert_int_equal(outbox_foreach_alert(ob, count_alert, &seen), 0);
        assert_int_equal(seen.n, 2);
        in[0] = (struct outbox_alert){ ID_A, 4, r1, l1 };
        assert_int_equal(outbox_put_alerts(ob, in, 1, NULL), -EROFS);
        outbox_free(ob);
        free(r1);
        free(r3);
        free(u1);
        free(dir);
}

/* An outbox written before the alerts database existed still opens read-only
 * (for `status`), and gains the database at its next writable open. */
static void test_outbox_without_alerts_db(void **state)
{
        static const char *const names[] = { "records", "index", "pending", "meta" };
        char *dir = tmp_path("old-outbox");
        struct seen_alerts seen = { 0, { 0 } };
        struct outbox *ob = NULL;
        MDB_env *env = NULL;
        MDB_txn *txn = NULL;
        MDB_dbi dbi;

        (void)state;
        assert_int_equal(mkdir(dir, 0700), 0);
        assert_int_equal(mdb_env_create(&env), 0);
        assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
        assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
        assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(names); i++)
                assert_int_equal(mdb_dbi_open(txn, names[i], MDB_CREATE, &dbi), 0);
        assert_int_equal(mdb_txn_commit(txn), 0);
        mdb_env_close(env);

        assert_int_equal(outbox_open(&ob, dir, OUTBOX_READONLY, 0), 0);
        assert_int_equal(outbox_foreach_alert(ob, count_alert, &seen), 0);
        assert_int_equal(seen.n, 0);
        outbox_free(ob);
        assert_int_equal(outbox_open(&ob, dir, 0, 0), 0);
        outbox_free(ob);
        assert_int_equal(outbox_open(&ob, dir, OUTBOX_READONLY, 0), 0);
        assert_int_equal(outbox_foreach_alert(ob, count_alert, &seen), 0);
        outbox_free(ob);
        free(dir);
}

static int load_conf(const char *text, struct node_config *cfg, char *err, size_t errlen)
{
        char *path = tmp_path("test.conf");
        int r;

        write_text(path, text);
        r = node_config_load(cfg, path, err, errlen);
        free(path);
        return r;
}

static void test_config(void **state)
{
        struct node_config cfg;
        char err[512], out[NODE_ENDPOINT_MAX + 1], *text = NULL;

        (void)state;
        /* Default: the endpoint with port + 1, also for IPv6 and names. */
        assert_int_equal(load_conf("[hub]\nendpoint = tcp://hub.example.nl:7750\n", &cfg, err,
                                   sizeof(err)), 0);
        assert_string_equal(cfg.alerts_endpoint, "tcp://hub.example.nl:7751");
        assert_int_equal(node_endpoint_next_port("tcp://[::1]:9", out, sizeof(out)), 0);
        assert_string_equal(out, "tcp://[::1]:10");
        assert_int_equal(node_endpoint_next_port("tcp://h:65535", out, sizeof(out)), -ERANGE);
        assert_int_equal(node_endpoint_next_port("tcp://h:x", out, sizeof(out)), -EINVAL);
        assert_int_equal(node_endpoint_next_port("tcp://h:7750", out, 10), -EINVAL);
        assert_int_equal(load_conf("[hub]\nendpoint = tcp://h:65535\n", &cfg, err, sizeof(err)),
                         0);
        assert_string_equal(cfg.alerts_endpoint, "");

        /* Given. */
        assert_int_equal(load_conf("[hub]\nendpoint = tcp://h:7750\nalerts = tcp://f:9000\n",
                                   &cfg, err, sizeof(err)), 0);
        assert_string_equal(cfg.alerts_endpoint, "tcp://f:9000");
        assert_int_equal(node_config_format(&cfg, &text), 0);
        assert_non_null(strstr(text, "\nalerts = tcp://f:9000\n"));
        free(text);

        /* Strict: bad, repeated, the same as endpoint, outside [hub]. */
        assert_int_equal(load_conf("[hub]\nendpoint = tcp://h:7750\nalerts = udp://f:9000\n",
                                   &cfg, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, ":3: alerts: \"udp://f:9000\" is not tcp://HOST:PORT"));
        assert_int_equal(load_conf("[hub]\nendpoint = tcp://h:7750\nalerts = tcp://f:1\n"
                                   "alerts = tcp://f:2\n", &cfg, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, ":4: alerts given more than once"));
        assert_int_equal(load_conf("[hub]\nendpoint = tcp://h:7750\nalerts = tcp://h:7750\n",
                                   &cfg, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "the same as endpoint"));
        assert_int_equal(load_conf("[hub]\nendpoint = tcp://h:7750\n[delivery]\n"
                                   "alerts = tcp://f:1\n", &cfg, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, ":4: unknown key alerts in [delivery]"));

        /* Not given: a comment that shows the default. */
        node_config_defaults(&cfg);
        snprintf(cfg.hub_endpoint, sizeof(cfg.hub_endpoint), "tcp://h:7750");
        assert_int_equal(node_config_format(&cfg, &text), 0);
        assert_non_null(strstr(text, "\n# alerts = tcp://h:7751 "));
        free(text);
}

static int group_setup(void **state)
{
        const char *bin = getenv("NMO_NODE");

        (void)state;
        node_bin = bin && *bin ? bin : NULL;
        if (keys_generate(&hub_sk, KEYS_ROLE_HUB, "test-hub") < 0 ||
            keys_generate(&rogue_sk, KEYS_ROLE_HUB, "rogue-hub") < 0)
                return -1;
        if (snprintf(hub_pub_path, sizeof(hub_pub_path), "%s/hub.pub", tmp_dir) >=
            (int)sizeof(hub_pub_path))
                return -1;
        return keys_save_public(&hub_sk->pub, hub_pub_path) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
        (void)state;
        keys_free(hub_sk);
        keys_free(rogue_sk);
        hub_sk = rogue_sk = NULL;
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config),
                cmocka_unit_test(test_known_answer),
                cmocka_unit_test(test_check_must_fail),
                cmocka_unit_test(test_outbox_alerts),
                cmocka_unit_test(test_outbox_without_alerts_db),
                cmocka_unit_test(test_feed_catch_up_and_history),
                cmocka_unit_test(test_feed_refused),
                cmocka_unit_test(test_follow),
        };
        int r;

        if (sodium_init() < 0)
                return 1;
        if (!unit_tmp_make(tmp_dir, sizeof(tmp_dir), "node-alerts"))
                return 1;
        r = cmocka_run_group_tests(tests, group_setup, group_teardown);
        if (unit_tmp_remove(tmp_dir) < 0)
                fprintf(stderr, "test-node-alerts: could not remove %s\n", tmp_dir);
        return r;
}
