/* harness.c: see harness.h. Failures inside the harness fail the test at once
 * (cmocka's fail_msg), so tests read as the steps a person would take. */
#include "harness.h"

#include <errno.h>
#include <glob.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <zmq.h>

#include <setjmp.h>
#include <cmocka.h>

#include "envelope.h"
#include "period.h"
#include "util.h"

static void enrol_member(struct h_hub *h, const char *name, const char *member_pub);

char *h_tmpdir(void)
{
        const char *base = getenv("TMPDIR");
        char *p = NULL;

        if (!base || !*base)
                base = "/tmp";
        if (asprintf(&p, "%s/nmo-test-XXXXXX", base) < 0 || !mkdtemp(p))
                fail_msg("cannot create a temporary directory: %s", strerror(errno));
        return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path) < 0 ? 0 : 0;
}

void h_rmrf(const char *dir)
{
        if (dir && *dir && strcmp(dir, "/") != 0)
                (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *bin(const char *env, const char *fallback)
{
        const char *p = getenv(env);

        return p && *p ? p : fallback;
}

const char *h_hub_bin(void) { return bin("NMO_HUB", "nmo-hub"); }
const char *h_node_bin(void) { return bin("NMO_NODE", "nmo-node"); }
const char *h_keys_bin(void) { return bin("NMO_KEYS", "nmo-keys"); }

/* With NMO_VALGRIND=1 (./check.sh --valgrind) our programs run under valgrind
 * memcheck, each with a log valgrind-PID.log in the test's directory (the
 * directory of the hub made last), or in $TMPDIR outside a test directory. */
static const char *valgrind_dir;

static bool valgrind_on(void)
{
        const char *v = getenv("NMO_VALGRIND");

        return v && strcmp(v, "1") == 0;
}

static bool is_ours(const char *prog)
{
        return strcmp(prog, h_hub_bin()) == 0 || strcmp(prog, h_node_bin()) == 0 ||
               strcmp(prog, h_keys_bin()) == 0;
}

static const char *valgrind_log_dir(void)
{
        const char *tmp = getenv("TMPDIR");

        if (valgrind_dir)
                return valgrind_dir;
        return tmp && *tmp ? tmp : "/tmp";
}

/* Runs argv in this (forked) process, under valgrind when enabled. */
static void exec_maybe_valgrind(char *const argv[])
{
        char *vargv[64], logopt[600];
        size_t n = 0;

        if (!valgrind_on() || !is_ours(argv[0])) {
                execvp(argv[0], argv);
                return;
        }
        /* %p: valgrind's pid, which is this process's: exec keeps it. */
        snprintf(logopt, sizeof(logopt), "--log-file=%s/valgrind-%%p.log", valgrind_log_dir());
        vargv[n++] = "valgrind";
        vargv[n++] = "--error-exitcode=99";
        vargv[n++] = "--leak-check=full";
        vargv[n++] = "--errors-for-leak-kinds=definite";
        vargv[n++] = logopt;
        for (size_t i = 0; argv[i] && n < NMO_ARRAY_SIZE(vargv) - 1; i++)
                vargv[n++] = argv[i];
        vargv[n] = NULL;
        execvp(vargv[0], vargv);
}

/* Does a valgrind log report errors? A process killed by a signal writes no
 * summary, so its log is also searched for the first line of an error. */
static bool valgrind_log_bad(const char *log)
{
        static const char *const errors[] = {
                "Invalid read", "Invalid write", "Invalid free", "Mismatched free",
                "uninitialised", "Syscall param", "Source and destination overlap",
                "definitely lost in",
        };
        const char *p;

        p = strstr(log, "ERROR SUMMARY: ");
        if (p)
                return strncmp(p + strlen("ERROR SUMMARY: "), "0 errors", 8) != 0;
        for (size_t i = 0; i < NMO_ARRAY_SIZE(errors); i++)
                if (strstr(log, errors[i]))
                        return true;
        return false;
}

/* After process pid of ours ended with status (as h_wait returns it): fails
 * the test when valgrind found errors, naming the log. */
static void valgrind_check(pid_t pid, int status)
{
        char path[600];
        char *log = NULL;
        size_t len = 0;
        bool bad;

        if (!valgrind_on())
                return;
        snprintf(path, sizeof(path), "%s/valgrind-%d.log", valgrind_log_dir(), (int)pid);
        if (util_read_file(path, 64u << 20, &log, &len) < 0) {
                if (status == 99)
                        fail_msg("process %d exited 99 (valgrind errors?); no log %s", (int)pid,
                                 path);
                return; /* not one of ours */
        }
        bad = status == 99 || valgrind_log_bad(log);
        free(log);
        if (bad)
                fail_msg("valgrind found errors in process %d (exit %d): see %s", (int)pid,
                         status, path);
        if (!valgrind_dir)
                (void)unlink(path); /* clean, and outside any test directory */
}

static char *slurp_fd(int fd)
{
        size_t cap = 4096, len = 0;
        char *buf = malloc(cap);

        for (;;) {
                ssize_t n;

                if (len + 1 >= cap) {
                        cap *= 2;
                        buf = realloc(buf, cap);
                }
                n = read(fd, buf + len, cap - len - 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        return buf;
}

int h_run(char *const argv[], char **out, char **err)
{
        char outp[] = "/tmp/nmo-test-out-XXXXXX", errp[] = "/tmp/nmo-test-err-XXXXXX";
        int ofd = mkstemp(outp), efd = mkstemp(errp), status = 0;
        pid_t pid;

        if (ofd < 0 || efd < 0)
                fail_msg("mkstemp: %s", strerror(errno));
        unlink(outp);
        unlink(errp);
        pid = fork();
        if (pid < 0)
                fail_msg("fork: %s", strerror(errno));
        if (pid == 0) {
                int devnull = open("/dev/null", O_RDONLY);

                /* No controlling terminal: nothing may stop to ask a question. */
                (void)setsid();
                dup2(devnull, 0);
                dup2(ofd, 1);
                dup2(efd, 2);
                exec_maybe_valgrind(argv);
                fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        valgrind_check(pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        lseek(ofd, 0, SEEK_SET);
        lseek(efd, 0, SEEK_SET);
        if (out)
                *out = slurp_fd(ofd);
        if (err)
                *err = slurp_fd(efd);
        close(ofd);
        close(efd);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Environment settings (NAME=VALUE) the next h_spawn() child gets. */
static const char *const *spawn_env;

pid_t h_spawn(char *const argv[], const char *log)
{
        const char *const *env = spawn_env;
        pid_t pid = fork();

        if (pid < 0)
                fail_msg("fork: %s", strerror(errno));
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                int devnull = open("/dev/null", O_RDONLY);

                (void)setsid();
                dup2(devnull, 0);
                if (fd >= 0) {
                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                for (size_t i = 0; env && env[i]; i++)
                        (void)putenv((char *)env[i]);
                exec_maybe_valgrind(argv);
                _exit(127);
        }
        return pid;
}

int h_wait(pid_t pid, int ms)
{
        int status;

        for (int waited = 0; waited <= ms; waited += 10) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid) {
                        int ret = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);

                        valgrind_check(pid, ret);
                        return ret;
                }
                if (r < 0 && errno != EINTR)
                        return -1;
                usleep(10000);
        }
        return -1000;
}

int h_stop(pid_t pid, int sig)
{
        int r;

        if (pid <= 0)
                return -1;
        kill(pid, sig);
        r = h_wait(pid, 20000);
        if (r == -1000) {
                kill(pid, SIGKILL);
                r = h_wait(pid, 5000);
                fail_msg("process %d did not stop within 20 s of signal %d", (int)pid, sig);
        }
        return r;
}

int h_free_port(void)
{
        struct sockaddr_in a;
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port;

        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
            getsockname(fd, (struct sockaddr *)&a, &len) < 0)
                fail_msg("cannot find a free port: %s", strerror(errno));
        port = ntohs(a.sin_port);
        close(fd);
        return port;
}

bool h_wait_port(int port, int ms)
{
        for (int waited = 0; waited <= ms; waited += 20) {
                struct sockaddr_in a;
                int fd = socket(AF_INET, SOCK_STREAM, 0);

                memset(&a, 0, sizeof(a));
                a.sin_family = AF_INET;
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                a.sin_port = htons((uint16_t)port);
                if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
                        close(fd);
                        return true;
                }
                close(fd);
                usleep(20000);
        }
        return false;
}

json_object *h_run_json(char *const argv[])
{
        char *out = NULL, *err = NULL;
        json_object *o;
        int rc = h_run(argv, &out, &err);

        if (rc != 0)
                fail_msg("%s %s exited %d: %s", argv[0], argv[1], rc, err);
        o = json_tokener_parse(out);
        if (!o)
                fail_msg("%s %s printed no valid JSON: %.300s", argv[0], argv[1], out);
        free(out);
        free(err);
        return o;
}

int64_t h_json_int(json_object *o, const char *key)
{
        json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v))
                return -1;
        if (json_object_is_type(v, json_type_boolean))
                return json_object_get_boolean(v) ? 1 : 0;
        if (!json_object_is_type(v, json_type_int))
                return -1;
        return json_object_get_int64(v);
}

void h_hub_conf_append(struct h_hub *h, const char *text)
{
        char *path = util_path(h->hub_dir, "hub.conf");
        FILE *f = fopen(path, "a");

        if (!f)
                fail_msg("cannot open %s", path);
        fputs(text, f);
        if (fclose(f) != 0)
                fail_msg("cannot write %s", path);
        free(path);
}

static void hub_init(struct h_hub *h, bool fresh_epoch);

void h_hub_init(struct h_hub *h)
{
        hub_init(h, false);
}

void h_hub_init_fresh_epoch(struct h_hub *h)
{
        hub_init(h, true);
}

static void hub_init(struct h_hub *h, bool fresh_epoch)
{
        char listen[64], *out = NULL, *err = NULL;
        int rc;

        memset(h, 0, sizeof(*h));
        h->dir = h_tmpdir();
        valgrind_dir = h->dir;
        h->hub_dir = util_path(h->dir, "hub");
        h->port = h_free_port();
        do
                h->alerts_port = h_free_port();
        while (h->alerts_port == h->port);
        snprintf(h->endpoint, sizeof(h->endpoint), "tcp://127.0.0.1:%d", h->port);
        snprintf(h->alerts_endpoint, sizeof(h->alerts_endpoint), "tcp://127.0.0.1:%d",
                 h->alerts_port);
        snprintf(listen, sizeof(listen), "tcp://127.0.0.1:%d", h->port);
        snprintf(h->log, sizeof(h->log), "%s/hub.log", h->dir);
        {
                char *argv[] = { (char *)h_hub_bin(), "init", "--dir", h->hub_dir, "--listen",
                                 listen, "--alerts-listen", h->alerts_endpoint, NULL };
                rc = h_run(argv, &out, &err);
        }
        if (rc != 0)
                fail_msg("nmo-hub init failed (%d): %s", rc, err);
        free(out);
        free(err);
        if (fresh_epoch) {
                /* Tuesday 10:00 UTC in the first week of an epoch at least 35
                 * days ahead: ahead of the nodes' clocks, so their signals are
                 * not from the future, and with the epoch's weeks to come. */
                int64_t today = (int64_t)(util_now_ms() / 86400000ULL), first, last;
                uint64_t at;

                h->epoch = period_month_next(period_month_of_day(today + 35));
                period_month_days(h->epoch, &first, &last);
                at = (uint64_t)(first + 1) * 86400000ULL + 10ULL * 3600000ULL;
                h_hub_clock(h, (int64_t)((at - util_now_ms()) / 1000));
        }
        h_hub_start(h);
}

/* The multi-threaded libfaketime, wherever the multiarch layout put it. */
const char *h_faketime_lib(void)
{
        static char path[256];
        glob_t g;

        if (path[0])
                return path;
        if (glob("/usr/lib/*/faketime/libfaketimeMT.so.1", 0, NULL, &g) != 0)
                return NULL;
        snprintf(path, sizeof(path), "%s", g.gl_pathv[0]);
        globfree(&g);
        return path;
}

static char *clock_path(struct h_hub *h)
{
        return util_path(h->dir, "hub-clock");
}

void h_hub_start(struct h_hub *h)
{
        char *argv[] = { (char *)h_hub_bin(), "serve", "--dir", h->hub_dir, NULL };
        static char preload[600], asan[700], clock[600];
        static const char *env[] = { preload, asan, clock, "FAKETIME_CACHE_DURATION=1",
                                     "FAKETIME_DONT_FAKE_MONOTONIC=1", NULL };
        const char *lib = h_faketime_lib(), *asan_env = getenv("ASAN_OPTIONS");
        char *cpath = clock_path(h);
        struct stat st;

        if (!lib)
                fail_msg("libfaketime is needed (apt-get install faketime; check.sh installs it)");
        /* The hub's wall clock is the real one plus the offset in this file,
         * which h_hub_clock() changes while it runs (the release calendar and
         * epochs are tested by moving it). */
        if (stat(cpath, &st) < 0 && util_write_file(cpath, "+0\n", 3, 0644, false) < 0)
                fail_msg("cannot write %s", cpath);
        snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", lib);
        /* In the AddressSanitizer build libasan must come first among the
         * libraries; libfaketime is preloaded before it. */
        snprintf(asan, sizeof(asan), "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
                 asan_env ? asan_env : "", asan_env && *asan_env ? ":" : "");
        snprintf(clock, sizeof(clock), "FAKETIME_TIMESTAMP_FILE=%s", cpath);
        free(cpath);
        spawn_env = env;
        h->pid = h_spawn(argv, h->log);
        spawn_env = NULL;
        if (!h_wait_port(h->port, 10000))
                fail_msg("the hub did not start listening on %s (see %s)", h->endpoint, h->log);
}

int64_t h_hub_clock_offset(struct h_hub *h)
{
        char *cpath = clock_path(h), *text = NULL;
        size_t len = 0;
        long long off = 0;

        if (util_read_file(cpath, 256, &text, &len) == 0)
                (void)sscanf(text, "%lld", &off);
        free(text);
        free(cpath);
        return off;
}

void h_hub_clock(struct h_hub *h, int64_t offset_s)
{
        char *cpath = clock_path(h), *tmp = NULL, buf[64];
        int n = snprintf(buf, sizeof(buf), "%+lld\n", (long long)offset_s);

        if (asprintf(&tmp, "%s.tmp", cpath) < 0)
                fail_msg("out of memory");
        (void)unlink(tmp);
        if (util_write_file(tmp, buf, (size_t)n, 0644, false) < 0 || rename(tmp, cpath) < 0)
                fail_msg("cannot write %s", cpath);
        free(tmp);
        free(cpath);
        /* A running hub's libfaketime reads the file again after its cache of 1 s. */
        if (h->pid > 0)
                usleep(1300000);
}

uint64_t h_hub_now_ms(struct h_hub *h)
{
        return util_now_ms() + (uint64_t)(h_hub_clock_offset(h) * 1000);
}

/* Lines of the hub's log that report a release. */
static int releases_logged(struct h_hub *h)
{
        char *text = NULL, *p;
        size_t len = 0;
        int n = 0;

        if (util_read_file(h->log, 64 << 20, &text, &len) < 0)
                return 0;
        for (p = text; (p = strstr(p, "released ")) != NULL; p++)
                n += p[9] == '2' || strncmp(p + 9, "epoch", 5) == 0;
        free(text);
        return n;
}

void h_hub_release(struct h_hub *h)
{
        uint64_t now = h_hub_now_ms(h);
        int64_t day = (int64_t)(now / 86400000ULL), monday;
        uint64_t target;
        int before = releases_logged(h);

        /* The next Monday 00:00 UTC, then the default delay of 6 h and a minute. */
        monday = day - ((day + 3) % 7) + 7;
        target = (uint64_t)monday * 86400000ULL + H_RELEASE_DELAY_MS + 60000;
        h_hub_clock(h, h_hub_clock_offset(h) + (int64_t)((target - now) / 1000) + 1);
        for (int waited = 0; waited < 20000; waited += 100) {
                if (releases_logged(h) > before)
                        return;
                usleep(100000);
        }
        fail_msg("the hub did not release within 20 s of its clock passing %llu (see %s)",
                 (unsigned long long)target, h->log);
}

int h_hub_stop(struct h_hub *h, int sig)
{
        int r = h_stop(h->pid, sig);

        h->pid = 0;
        return r;
}

void h_hub_destroy(struct h_hub *h)
{
        /* Under valgrind a clean stop, so that the hub's leaks are checked too. */
        if (h->pid > 0)
                (void)h_hub_stop(h, valgrind_on() ? SIGTERM : SIGKILL);
        if (getenv("NMO_TEST_KEEP"))
                fprintf(stderr, "keeping %s\n", h->dir);
        else
                h_rmrf(h->dir);
        if (valgrind_dir == h->dir)
                valgrind_dir = NULL;
        free(h->dir);
        free(h->hub_dir);
        memset(h, 0, sizeof(*h));
}

int64_t h_hub_stat(struct h_hub *h, const char *key)
{
        char *argv[] = { (char *)h_hub_bin(), "stats", "--dir", h->hub_dir, "--json", NULL };
        json_object *o = h_run_json(argv);
        int64_t v = h_json_int(o, key);

        json_object_put(o);
        return v;
}

char *h_node_create(struct h_hub *h, const char *name, bool enrol)
{
        char *node_dir = util_path(h->dir, name), *hub_pub = util_path(h->hub_dir, "keys/hub.pub");
        char *member_pub = util_path(node_dir, "keys/member.pub");
        char *out = NULL, *err = NULL;
        int rc;

        {
                char *argv[] = { (char *)h_node_bin(), "init", "--dir", node_dir, "--hub",
                                 h->endpoint, "--alerts", h->alerts_endpoint, "--hub-pub",
                                 hub_pub, "--name", (char *)name, NULL };
                rc = h_run(argv, &out, &err);
        }
        if (rc != 0)
                fail_msg("nmo-node init %s failed (%d): %s", name, rc, err);
        free(out);
        free(err);
        if (enrol)
                enrol_member(h, name, member_pub);
        free(hub_pub);
        free(member_pub);
        return node_dir;
}

static void enrol_member(struct h_hub *h, const char *name, const char *member_pub)
{
        char *argv[] = { (char *)h_hub_bin(), "member", "add", "--dir", h->hub_dir, "--name",
                         (char *)name, "--pub", (char *)member_pub, NULL };
        char *out = NULL, *err = NULL;
        int rc = h_run(argv, &out, &err);

        if (rc != 0)
                fail_msg("nmo-hub member add %s failed (%d): %s", name, rc, err);
        free(out);
        free(err);
}

char *h_member_create(struct h_hub *h, const char *name, bool enrol)
{
        char *dir = util_path(h->dir, name), *keydir = util_path(dir, "keys");
        char *sec = util_path(keydir, "member.key"), *pub = util_path(keydir, "member.key.pub");
        char *argv[] = { (char *)h_keys_bin(), "generate", "--out", sec, "--role", "member",
                         "--name", (char *)name, NULL };
        char *out = NULL, *err = NULL;
        int rc;

        if (util_mkdir_p(keydir, 0700) < 0)
                fail_msg("mkdir %s", keydir);
        rc = h_run(argv, &out, &err);
        if (rc != 0)
                fail_msg("nmo-keys generate failed (%d): %s", rc, err);
        free(out);
        free(err);
        if (enrol)
                enrol_member(h, name, pub);
        free(keydir);
        free(sec);
        free(pub);
        return dir;
}

int h_member(struct h_hub *h, const char *cmd, const char *name)
{
        char *argv[] = { (char *)h_hub_bin(), "member", (char *)cmd, "--dir", h->hub_dir,
                         (char *)name, NULL };

        return h_run(argv, NULL, NULL);
}

const char *h_node_submit(const char *node_dir, const char *material)
{
        static char id[SIGNAL_ID_HEX];
        char *argv[] = { (char *)h_node_bin(), "submit", "--dir", (char *)node_dir,
                         "--material", (char *)material, "--event", "export-licensing",
                         "--severity", "high", "--country", "CN", NULL };
        char *out = NULL, *err = NULL;
        int rc = h_run(argv, &out, &err);

        if (rc != 0 || strlen(out) < SIGNAL_ID_HEX - 1) {
                fprintf(stderr, "submit failed (%d): %s\n", rc, err);
                free(out);
                free(err);
                return NULL;
        }
        memcpy(id, out, SIGNAL_ID_HEX - 1);
        id[SIGNAL_ID_HEX - 1] = '\0';
        free(out);
        free(err);
        return id;
}

int64_t h_node_count(const char *node_dir, const char *key)
{
        char *argv[] = { (char *)h_node_bin(), "status", "--dir", (char *)node_dir, "--json",
                         NULL };
        json_object *o = h_run_json(argv);
        int64_t v = h_json_int(o, key);

        json_object_put(o);
        return v;
}

int h_node_run_once(const char *node_dir, int seconds)
{
        char secs[16];

        snprintf(secs, sizeof(secs), "%d", seconds);
        {
                char *argv[] = { (char *)h_node_bin(), "run", "--dir", (char *)node_dir,
                                 "--once", "--timeout", secs, NULL };
                return h_run(argv, NULL, NULL);
        }
}

/* Loads the hub's bundle and connects c, whose member keys are set, to h. */
static void client_connect(struct h_client *c, struct h_hub *h)
{
        char err[512];
        char *hubpub = util_path(h->hub_dir, "keys/hub.pub");
        int linger = 0, immediate = 1;

        if (keys_load_public(&c->hub, hubpub, err, sizeof(err)) < 0)
                fail_msg("%s", err);
        c->ctx = zmq_ctx_new();
        c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
        if (!c->sock ||
            zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, c->hub.transport, KEYS_KEY_BYTES) < 0 ||
            zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->member->pub.transport,
                           KEYS_KEY_BYTES) < 0 ||
            zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->member->transport_sk,
                           KEYS_KEY_BYTES) < 0 ||
            zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
            zmq_setsockopt(c->sock, ZMQ_IMMEDIATE, &immediate, sizeof(immediate)) < 0 ||
            zmq_connect(c->sock, h->endpoint) < 0)
                fail_msg("client socket: %s", zmq_strerror(errno));
        free(hubpub);
}

void h_client_open(struct h_client *c, struct h_hub *h, const char *node_dir)
{
        char err[512];
        char *sec = util_path(node_dir, "keys/member.key");

        memset(c, 0, sizeof(*c));
        if (keys_load_secret(&c->member, sec, err, sizeof(err)) < 0)
                fail_msg("%s", err);
        free(sec);
        client_connect(c, h);
}

void h_client_open_keys(struct h_client *c, struct h_hub *h, const struct keys_secret *member)
{
        memset(c, 0, sizeof(*c));
        c->member = sodium_malloc(sizeof(*c->member));
        if (!c->member)
                fail_msg("out of memory");
        memcpy(c->member, member, sizeof(*member));
        client_connect(c, h);
}

void h_client_close(struct h_client *c)
{
        if (c->sock)
                zmq_close(c->sock);
        if (c->ctx)
                zmq_ctx_term(c->ctx);
        keys_free(c->member);
        memset(c, 0, sizeof(*c));
}

void h_client_seal(struct h_client *c, const char *material, uint8_t **frame, size_t *len,
                   uint8_t id[SIGNAL_ID_BYTES])
{
        struct signal s;
        char err[256];

        signal_init(&s);
        if (signal_set(&s, "material", material, err, sizeof(err)) < 0 ||
            signal_set(&s, "event", "export-quota", err, sizeof(err)) < 0 ||
            signal_set(&s, "severity", "medium", err, sizeof(err)) < 0 ||
            signal_set(&s, "country", "CN", err, sizeof(err)) < 0)
                fail_msg("signal_set: %s", err);
        if (envelope_seal(&s, c->member, c->hub.payload, NULL, frame, len) < 0)
                fail_msg("envelope_seal failed");
        if (id)
                memcpy(id, s.id, SIGNAL_ID_BYTES);
}

int h_client_send_parts(struct h_client *c, const uint8_t *const *frames, const size_t *lens,
                        size_t nparts, int ms, struct receipt *r, bool *duplicate)
{
        uint8_t buf[RECEIPT_MAX + 1], *signed_receipt = NULL;
        size_t signed_len = 0;
        zmq_pollitem_t pi = { c->sock, 0, ZMQ_POLLIN, 0 };
        int n, ret;

        /* Sending waits for the connection (ZMQ_IMMEDIATE) up to ms. */
        for (size_t i = 0; i < nparts; i++) {
                int flags = i + 1 < nparts ? ZMQ_SNDMORE : 0;
                int waited = 0;

                while (zmq_send(c->sock, frames[i], lens[i], flags | ZMQ_DONTWAIT) < 0) {
                        if (errno != EAGAIN || waited >= ms)
                                return -ETIMEDOUT;
                        usleep(10000);
                        waited += 10;
                }
        }
        if (zmq_poll(&pi, 1, ms) <= 0 || !(pi.revents & ZMQ_POLLIN))
                return -ETIMEDOUT;
        n = zmq_recv(c->sock, buf, sizeof(buf), 0);
        if (n < 0 || n > RECEIPT_MAX)
                return -EBADMSG;
        ret = reply_unpack(buf, (size_t)n, duplicate, &signed_receipt, &signed_len);
        if (ret < 0)
                return ret;
        ret = receipt_verify(signed_receipt, signed_len, c->hub.sign, r);
        free(signed_receipt);
        return ret;
}

int h_client_send(struct h_client *c, const uint8_t *frame, size_t len, int ms,
                  struct receipt *r, bool *duplicate)
{
        return h_client_send_parts(c, &frame, &len, 1, ms, r, duplicate);
}
