/* test-metrics.c: the real nmo-hub with [metrics] listen: GET /metrics over a
 * plain TCP connection, its text checked line by line against the
 * exposition format, its counters against `nmo-hub stats --json`, and no
 * member named in it; and a bad [metrics] listen refused at start. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "util.h"

#define WAIT_MS 5000

static struct h_hub hub;

static int teardown(void **state)
{
        (void)state;
        h_hub_destroy(&hub);
        return 0;
}

/* GET /metrics over HTTP/1.0; returns the body (free()) or NULL, with the
 * status line's code in *status. */
static char *scrape(int port, int *status)
{
        struct sockaddr_in a = { 0 };
        static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        char *buf = NULL, *body;
        size_t len = 0, cap = 0;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        ssize_t n;

        assert_true(fd >= 0);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
            write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
                close(fd);
                return NULL;
        }
        for (;;) {
                if (cap - len < 4096) {
                        cap = cap ? cap * 2 : 65536;
                        buf = realloc(buf, cap);
                        assert_non_null(buf);
                }
                n = read(fd, buf + len, cap - len - 1);
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        if (!buf)
                return NULL;
        buf[len] = '\0';
        *status = 0;
        sscanf(buf, "HTTP/1.%*d %d", status);
        assert_non_null(strstr(buf, "text/plain; version=0.0.4"));
        body = strstr(buf, "\r\n\r\n");
        assert_non_null(body);
        body = strdup(body + 4);
        free(buf);
        return body;
}

/* The value of the sample line "NAME VALUE" (labels included in name), or -1. */
static double sample(const char *body, const char *name)
{
        size_t n = strlen(name);

        for (const char *p = body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, name, n) == 0 && p[n] == ' ')
                        return strtod(p + n + 1, NULL);
        return -1;
}

/* Checks the text exposition format 0.0.4: each line a comment (HELP/TYPE
 * before the family's samples) or NAME[{LABELS}] VALUE; every sample's
 * family has HELP and TYPE; a histogram's buckets are cumulative and end
 * with le="+Inf", equal to _count, followed by _sum and _count. */
static void check_format(const char *body)
{
        char *copy = strdup(body), *save = NULL, *line;
        char family[128] = "", type[32] = "", helped[128] = "";
        double last_bucket = -1, inf = -1;
        bool saw_inf = false;
        int samples = 0;

        assert_non_null(copy);
        assert_true(strlen(body) > 0 && body[strlen(body) - 1] == '\n');
        for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char name[128], *end;
                size_t nl = strspn(line, "abcdefghijklmnopqrstuvwxyz"
                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
                const char *rest;
                double v;

                if (strncmp(line, "# HELP ", 7) == 0) {
                        assert_int_equal(sscanf(line + 7, "%127s", helped), 1);
                        assert_true(strlen(line) > 8 + strlen(helped));
                        continue;
                }
                if (strncmp(line, "# TYPE ", 7) == 0) {
                        assert_int_equal(sscanf(line + 7, "%127s %31s", family, type), 2);
                        assert_string_equal(family, helped);
                        assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                                    strcmp(type, "histogram") == 0);
                        last_bucket = -1;
                        saw_inf = false;
                        continue;
                }
                assert_true(line[0] != '#');
                assert_true(nl > 0 && nl < sizeof(name));
                memcpy(name, line, nl);
                name[nl] = '\0';
                rest = line + nl;
                if (*rest == '{') {
                        /* label="value"(,label="value")* */
                        rest++;
                        while (*rest != '}') {
                                size_t ln = strspn(rest, "abcdefghijklmnopqrstuvwxyz_");

                                assert_true(ln > 0);
                                assert_true(rest[ln] == '=' && rest[ln + 1] == '"');
                                rest = strchr(rest + ln + 2, '"');
                                assert_non_null(rest);
                                rest++;
                                if (*rest == ',')
                                        rest++;
                        }
                        rest++;
                }
                assert_true(*rest == ' ');
                errno = 0;
                v = strtod(rest + 1, &end);
                assert_true(errno == 0 && end != rest + 1 && *end == '\0');
                assert_true(v >= 0);
                samples++;
                if (strcmp(type, "histogram") == 0) {
                        char bucket[160], sum[160], count[160];

                        snprintf(bucket, sizeof(bucket), "%s_bucket", family);
                        snprintf(sum, sizeof(sum), "%s_sum", family);
                        snprintf(count, sizeof(count), "%s_count", family);
                        if (strcmp(name, bucket) == 0) {
                                assert_false(saw_inf);
                                assert_true(v >= last_bucket);
                                last_bucket = v;
                                if (strstr(line, "le=\"+Inf\"")) {
                                        saw_inf = true;
                                        inf = v;
                                }
                        } else if (strcmp(name, sum) == 0) {
                                assert_true(saw_inf);
                        } else {
                                assert_string_equal(name, count);
                                assert_true(saw_inf);
                                assert_true(v == inf);
                        }
                } else {
                        /* Every sample belongs to the family just declared. */
                        assert_string_equal(name, family);
                }
        }
        assert_true(samples > 10);
        free(copy);
}

/* promtool check metrics, when Prometheus's tool is installed. */
static void promtool_check(const char *body)
{
        char cmd[256], *path;
        FILE *f;
        int rc;

        if (system("command -v promtool >/dev/null 2>&1") != 0) {
                printf("promtool not installed: the format is checked by the test only\n");
                return;
        }
        path = util_path(hub.dir, "metrics.txt");
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(body, f);
        fclose(f);
        snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s'", path);
        rc = system(cmd);
        assert_int_equal(rc, 0);
        free(path);
}

static void test_metrics_scrape(void **state)
{
        struct h_client a, b;
        struct receipt r;
        uint8_t *frame = NULL;
        static const uint8_t junk[] = "not an envelope";
        size_t len = 0;
        bool dup = false;
        char conf[128], *ma, *mb, *body = NULL;
        int port = h_free_port(), status = 0;
        double accepted = -1;

        (void)state;
        h_hub_init(&hub);
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        snprintf(conf, sizeof(conf), "\n[metrics]\nlisten = 127.0.0.1:%d\n", port);
        h_hub_conf_append(&hub, conf);
        h_hub_start(&hub);
        assert_true(h_wait_port(port, WAIT_MS));
        ma = h_member_create(&hub, "metrics-alpha-corp", true);
        mb = h_member_create(&hub, "metrics-beta-corp", true);
        h_client_open(&a, &hub, ma);
        h_client_open(&b, &hub, mb);
        h_client_seal(&a, "gallium", &frame, &len, NULL);
        assert_int_equal(h_client_send(&a, frame, len, WAIT_MS, &r, &dup), 0);
        assert_false(dup);
        assert_int_equal(h_client_send(&a, frame, len, WAIT_MS, &r, &dup), 0);
        assert_true(dup);
        free(frame);
        assert_int_equal(h_client_send(&b, junk, sizeof(junk) - 1, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_REJECTED);
        h_client_seal(&b, "germanium", &frame, &len, NULL);
        assert_int_equal(h_client_send(&b, frame, len, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        free(frame);

        /* The snapshot is refreshed about once a second. */
        for (int i = 0; i < 50; i++) {
                free(body);
                body = scrape(port, &status);
                assert_non_null(body);
                assert_int_equal(status, 200);
                accepted = sample(body, "nmo_hub_signals_accepted_total");
                if (accepted == (double)h_hub_stat(&hub, "signals_stored") &&
                    sample(body, "nmo_hub_members_connected") >= 2)
                        break;
                usleep(200000);
        }
        check_format(body);
        promtool_check(body);
        assert_true(accepted >= 2);
        assert_true(accepted == (double)h_hub_stat(&hub, "signals_stored"));
        assert_true(sample(body, "nmo_hub_duplicates_total") ==
                    (double)h_hub_stat(&hub, "duplicates"));
        assert_true(sample(body, "nmo_hub_duplicates_total") >= 1);
        {
                /* The refusals by reason add up to stats' rejected. */
                double refused = 0;
                const char *p = body;

                while ((p = strstr(p, "\nnmo_hub_refusals_total{"))) {
                        p = strchr(p, ' ');
                        refused += strtod(p + 1, NULL);
                }
                assert_true(refused >= 1);
                assert_true(refused == (double)h_hub_stat(&hub, "rejected"));
        }
        assert_true(sample(body, "nmo_hub_members{state=\"active\"}") ==
                    (double)h_hub_stat(&hub, "members_active"));
        assert_true(sample(body, "nmo_hub_members_connected") >= 1);
        assert_true(sample(body, "nmo_hub_batch_size_count") >= 2);
        assert_true(sample(body, "nmo_hub_commit_seconds_count") >= 2);
        assert_true(sample(body, "nmo_hub_store_map_bytes") > 0);
        /* No member is named. */
        assert_null(strstr(body, "metrics-alpha"));
        assert_null(strstr(body, "metrics-beta"));
        assert_null(strstr(body, "corp"));

        /* Nothing but /metrics. */
        h_client_close(&a);
        h_client_close(&b);
        free(body);
        free(ma);
        free(mb);
}

/* A [metrics] listen that is not ADDRESS:PORT: serve refuses to start. */
static void test_metrics_bad_listen(void **state)
{
        static const char *const bad[] = { "localhost:9750", "127.0.0.1", "127.0.0.1:0",
                                           "127.0.0.1:70000", "::1:9750", "*:9750" };
        char *out = NULL, *err = NULL;

        (void)state;
        h_hub_init(&hub);
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *argv[] = { (char *)h_hub_bin(), "serve", "--dir", hub.hub_dir, NULL };
                char *path = util_path(hub.hub_dir, "hub.conf"), conf[128];

                snprintf(conf, sizeof(conf), "[metrics]\nlisten = %s\n", bad[i]);
                assert_int_equal(util_write_file(path, conf, strlen(conf), 0600, false), 0);
                free(path);
                assert_true(h_run(argv, &out, &err) != 0);
                assert_non_null(strstr(err, "[metrics] listen must be empty or ADDRESS:PORT"));
                free(out);
                free(err);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_metrics_scrape, teardown),
                cmocka_unit_test_teardown(test_metrics_bad_listen, teardown),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
