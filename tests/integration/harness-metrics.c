/* harness-metrics.c: the Prometheus endpoints of nmo-hub and nmo-node as a
 * scraper sees them (harness.h). */
#include "harness.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "util.h"

/* GET /metrics over HTTP/1.0; returns the body (free()) or NULL, with the
 * status line's code in *status. */
char *h_metrics_scrape(int port, int *status)
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
double h_metrics_sample(const char *body, const char *name)
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
void h_metrics_check_format(const char *body, int min_samples)
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
        assert_true(samples >= min_samples);
        free(copy);
}

/* promtool check metrics, when Prometheus's tool is installed. */
void h_promtool_check(const char *dir, const char *body)
{
        char cmd[256], *path;
        FILE *f;
        int rc;

        if (system("command -v promtool >/dev/null 2>&1") != 0) {
                printf("promtool not installed: the format is checked by the test only\n");
                return;
        }
        path = util_path(dir, "metrics.txt");
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(body, f);
        fclose(f);
        snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s'", path);
        rc = system(cmd);
        assert_int_equal(rc, 0);
        free(path);
}
