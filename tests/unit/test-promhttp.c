/* test-promhttp.c: common/promhttp (the /metrics server of nmo-hub and
 * nmo-node): the ADDRESS:PORT parser, the answers to GET, HEAD, another path,
 * another method and a failing format callback, an address in use; and
 * node.conf's [metrics] listen, which uses the parser. */
#include <errno.h>
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

#include "node-config.h"
#include "node-metrics.h"
#include "promhttp.h"

static void test_parse_listen(void **state)
{
        static const char *const good[] = { "127.0.0.1:9750", "0.0.0.0:1", "[::1]:65535",
                                            "[fe80::1]:9751" };
        static const char *const bad[] = { "", ":9750", "127.0.0.1", "127.0.0.1:",
                                           "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x",
                                           "localhost:9750", "*:9750", "::1:9750",
                                           "[::1:9750", "[]:9750", "[127.0.0.1]:9750",
                                           "127.0.0.1:9750 ", "1.2.3:9750" };
        struct sockaddr_storage ss;
        unsigned int len = 0;

        (void)state;
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                assert_int_equal(promhttp_parse_listen(good[i], NULL, NULL), 0);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(promhttp_parse_listen(bad[i], NULL, NULL), -EINVAL);
        assert_int_equal(promhttp_parse_listen("127.0.0.1:9750", &ss, &len), 0);
        assert_int_equal(ss.ss_family, AF_INET);
        assert_int_equal(len, sizeof(struct sockaddr_in));
        assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9750);
        assert_int_equal(promhttp_parse_listen("[::1]:9751", &ss, &len), 0);
        assert_int_equal(ss.ss_family, AF_INET6);
        assert_int_equal(len, sizeof(struct sockaddr_in6));
        assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 9751);
}

struct body {
        const char *text;
        int fail;               /* returned instead, when negative */
        int calls;
};

static int format_cb(void *userdata, char **out, size_t *len)
{
        struct body *b = userdata;

        b->calls++;
        if (b->fail < 0)
                return b->fail;
        *out = strdup(b->text);
        if (!*out)
                return -ENOMEM;
        *len = strlen(b->text);
        return 0;
}

/* A loopback port free a moment ago. */
static int free_port(void)
{
        struct sockaddr_in a = { 0 };
        socklen_t alen = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port;

        assert_true(fd >= 0);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
        port = ntohs(a.sin_port);
        close(fd);
        return port;
}

/* Sends request to 127.0.0.1:port and returns the whole answer (free()). */
static char *ask(int port, const char *request)
{
        struct sockaddr_in a = { 0 };
        char *buf = calloc(1, 65536);
        size_t len = 0;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        ssize_t n;

        assert_non_null(buf);
        assert_true(fd >= 0);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
        while (len < 65535 && (n = read(fd, buf + len, 65535 - len)) > 0)
                len += (size_t)n;
        close(fd);
        return buf;
}

static void test_serve(void **state)
{
        struct body b = { "# HELP x_total X.\n# TYPE x_total counter\nx_total 7\n", 0, 0 };
        struct promhttp *h = NULL, *again = NULL;
        char listen_on[32], *r;
        int port = free_port();

        (void)state;
        snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%d", port);
        assert_int_equal(promhttp_start(&h, listen_on, format_cb, &b), 0);

        r = ask(port, "GET /metrics HTTP/1.0\r\n\r\n");
        assert_true(strncmp(r, "HTTP/1.0 200", 12) == 0 || strncmp(r, "HTTP/1.1 200", 12) == 0);
        assert_non_null(strstr(r, "text/plain; version=0.0.4"));
        assert_non_null(strstr(r, "\r\n\r\n# HELP x_total X.\n"));
        assert_non_null(strstr(r, "\nx_total 7\n"));
        assert_int_equal(b.calls, 1);
        free(r);

        /* HEAD: the headers only. */
        r = ask(port, "HEAD /metrics HTTP/1.0\r\n\r\n");
        assert_non_null(strstr(r, " 200 "));
        assert_null(strstr(r, "x_total 7"));
        free(r);

        r = ask(port, "GET /other HTTP/1.0\r\n\r\n");
        assert_non_null(strstr(r, " 404 "));
        assert_null(strstr(r, "x_total"));
        free(r);

        r = ask(port, "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
        assert_non_null(strstr(r, " 405 "));
        assert_null(strstr(r, "x_total"));
        free(r);

        b.fail = -ENOMEM;
        r = ask(port, "GET /metrics HTTP/1.0\r\n\r\n");
        assert_non_null(strstr(r, " 500 "));
        free(r);

        /* The same address twice: the second cannot bind. */
        assert_int_equal(promhttp_start(&again, listen_on, format_cb, &b), -EADDRINUSE);
        assert_null(again);
        assert_int_equal(promhttp_start(&again, "localhost:1", format_cb, &b), -EINVAL);
        promhttp_stop(h);
        promhttp_stop(NULL);
}

/* The agent's figures in the exposition format. */
static void test_node_format(void **state)
{
        struct node_metrics_figures f = { 0 };
        struct node_metrics *m = NULL;
        char listen_on[32], *text = NULL;
        size_t len = 0;

        (void)state;
        snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%d", free_port());
        assert_int_equal(node_metrics_start(&m, listen_on), 0);
        f.counted = true;
        f.counts.queued = 3;
        f.counts.in_flight = 2;
        f.counts.delivered = 40;
        f.counts.rejected = 1;
        f.counts.oldest_pending_ms = 1000000;
        f.last_receipt_ms = 1700000000123;
        f.last_contact_ms = 1700000000005;
        f.hub_up = true;
        f.sent = 50;
        f.resends = 4;
        f.receipts = 45;
        node_metrics_update(m, &f);
        assert_int_equal(node_metrics_format(m, 1090500, &text, &len), 0);
        assert_int_equal(len, strlen(text));
        assert_non_null(strstr(text, "\nnmo_node_signals_queued 3\n"));
        assert_non_null(strstr(text, "\nnmo_node_signals_in_flight 2\n"));
        assert_non_null(strstr(text, "\nnmo_node_signals_delivered 40\n"));
        assert_non_null(strstr(text, "\nnmo_node_signals_rejected 1\n"));
        assert_non_null(strstr(text, "\nnmo_node_oldest_pending_age_seconds 90.500\n"));
        assert_non_null(strstr(text, "\nnmo_node_last_receipt_timestamp_seconds "
                                     "1700000000.123\n"));
        assert_non_null(strstr(text, "\nnmo_node_hub_last_contact_timestamp_seconds "
                                     "1700000000.005\n"));
        assert_non_null(strstr(text, "\nnmo_node_hub_connected 1\n"));
        assert_non_null(strstr(text, "# TYPE nmo_node_signals_sent_total counter\n"
                                     "nmo_node_signals_sent_total 50\n"));
        assert_non_null(strstr(text, "\nnmo_node_resends_total 4\n"));
        assert_non_null(strstr(text, "\nnmo_node_receipts_total 45\n"));
        free(text);
        /* A clock set back before the oldest signal: age 0, not negative. */
        assert_int_equal(node_metrics_format(m, 999000, &text, &len), 0);
        assert_non_null(strstr(text, "\nnmo_node_oldest_pending_age_seconds 0.000\n"));
        free(text);
        /* Nothing pending. */
        f.counts.oldest_pending_ms = 0;
        node_metrics_update(m, &f);
        assert_int_equal(node_metrics_format(m, 1090500, &text, &len), 0);
        assert_non_null(strstr(text, "\nnmo_node_oldest_pending_age_seconds 0.000\n"));
        free(text);
        node_metrics_stop(m);
}

static int parse(const char *text, struct node_config *cfg, char *err, size_t errlen)
{
        return node_config_parse(cfg, text, strlen(text), "node.conf", err, errlen);
}

static void test_node_config_listen(void **state)
{
        struct node_config cfg, back;
        char err[512], *text = NULL;

        (void)state;
        /* Off by default, and written as a comment with an example. */
        assert_int_equal(parse("[hub]\nendpoint = tcp://h:7750\n", &cfg, err, sizeof(err)), 0);
        assert_string_equal(cfg.metrics_listen, "");
        assert_int_equal(node_config_format(&cfg, &text), 0);
        assert_non_null(strstr(text, "\n[metrics]\n"));
        assert_non_null(strstr(text, "\n# listen = 127.0.0.1:9751\n"));
        free(text);
        assert_int_equal(parse("[hub]\nendpoint = tcp://h:7750\n[metrics]\nlisten =\n", &cfg, err,
                               sizeof(err)), 0);
        assert_string_equal(cfg.metrics_listen, "");

        /* Given: kept, written back, read back the same. */
        assert_int_equal(parse("[hub]\nendpoint = tcp://h:7750\n[metrics]\nlisten = [::1]:9751\n",
                               &cfg, err, sizeof(err)), 0);
        assert_string_equal(cfg.metrics_listen, "[::1]:9751");
        assert_int_equal(node_config_format(&cfg, &text), 0);
        assert_non_null(strstr(text, "\nlisten = [::1]:9751\n"));
        assert_int_equal(parse(text, &back, err, sizeof(err)), 0);
        assert_memory_equal(&cfg, &back, sizeof(cfg));
        free(text);

        /* Refused, with the line and the value. */
        assert_int_equal(parse("[hub]\nendpoint = tcp://h:7750\n[metrics]\n"
                               "listen = localhost:9751\n", &cfg, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "node.conf:4: [metrics] listen must be empty or "
                                    "ADDRESS:PORT"));
        assert_non_null(strstr(err, "\"localhost:9751\""));
        assert_int_equal(parse("[hub]\nendpoint = tcp://h:7750\n[metrics]\nlisten = 127.0.0.1:1\n"
                               "listen = 127.0.0.1:2\n", &cfg, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, ":5: listen given more than once"));
        assert_int_equal(parse("[hub]\nendpoint = tcp://h:7750\n[metrics]\nport = 1\n", &cfg, err,
                               sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, ":4: unknown key port in [metrics]"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_listen),
                cmocka_unit_test(test_serve),
                cmocka_unit_test(test_node_format),
                cmocka_unit_test(test_node_config_listen),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
