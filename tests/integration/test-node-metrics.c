/* test-node-metrics.c: the real `nmo-node run` with [metrics] listen, its
 * hub stopped and then running: the queue, the oldest signal's age and the
 * hub connection while the hub is away, deliveries and receipts once it is
 * back, scraped under that load; the text checked against the exposition
 * format (and promtool when installed), its counts and last contact against
 * `nmo-node status --json` at a quiet moment, and no signal named in it.
 * Also: a bad [metrics] listen refused at config load, and an address in use
 * refused at start, each with a clear message. */
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

#define WAIT_MS 20000
#define SIGNALS_DOWN 4          /* submitted while the hub is stopped */
#define SIGNALS_UP 6            /* submitted while it runs */

static struct h_hub hub;
static pid_t agent = -1;

static int teardown(void **state)
{
        (void)state;
        if (agent > 0)
                (void)h_stop(agent, SIGTERM);
        agent = -1;
        h_hub_destroy(&hub);
        return 0;
}

static void conf_append(const char *node, const char *text)
{
        char *path = util_path(node, "node.conf"), *conf = NULL, *all = NULL;
        size_t len = 0;

        assert_non_null(path);
        assert_int_equal(util_read_file(path, 65536, &conf, &len), 0);
        assert_true(asprintf(&all, "%.*s%s", (int)len, conf, text) > 0);
        assert_int_equal(util_write_file(path, all, strlen(all), 0600, false), 0);
        free(all);
        free(conf);
        free(path);
}

static json_object *node_status(const char *node)
{
        char *argv[] = { (char *)h_node_bin(), "status", "--dir", (char *)node, "--json", NULL };

        return h_run_json(argv);
}

/* Scrapes until the body has name == want (the agent hands over its figures
 * about once a second); returns the last body (free()). */
static char *scrape_until(int port, const char *name, double want)
{
        char *body = NULL;
        int status = 0;

        for (int waited = 0; waited < WAIT_MS; waited += 100) {
                free(body);
                body = h_metrics_scrape(port, &status);
                assert_non_null(body);
                assert_int_equal(status, 200);
                if (h_metrics_sample(body, name) == want)
                        return body;
                usleep(100000);
        }
        fail_msg("%s never became %g; last scrape:\n%s", name, want, body);
        return NULL;
}

/* The four counts of the scrape are those of `nmo-node status --json`, and its
 * last contact is status's last_contact (to the second). */
static void expect_status(const char *node, const char *body)
{
        static const char *const keys[][2] = {
                { "queued", "nmo_node_signals_queued" },
                { "in_flight", "nmo_node_signals_in_flight" },
                { "delivered", "nmo_node_signals_delivered" },
                { "rejected", "nmo_node_signals_rejected" },
        };
        json_object *st = node_status(node), *lc;
        double contact = h_metrics_sample(body, "nmo_node_hub_last_contact_timestamp_seconds");

        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                assert_true(h_metrics_sample(body, keys[i][1]) ==
                            (double)h_json_int(st, keys[i][0]));
        assert_true(json_object_object_get_ex(st, "last_contact", &lc));
        if (json_object_is_type(lc, json_type_null)) {
                assert_true(contact == 0);
        } else {
                char t[32];

                assert_true(contact > 0);
                util_format_time((uint64_t)contact * 1000u, t, sizeof(t));
                assert_string_equal(t, json_object_get_string(lc));
        }
        json_object_put(st);
}

static void test_node_metrics(void **state)
{
        char *node, conf[96], log[600], *body;
        char ids[SIGNALS_DOWN + SIGNALS_UP][SIGNAL_ID_HEX];
        int port = h_free_port(), status = 0;
        double now, t;

        (void)state;
        h_hub_init(&hub);
        node = h_node_create(&hub, "metrics-node-corp", true);
        snprintf(conf, sizeof(conf), "\n[metrics]\nlisten = 127.0.0.1:%d\n", port);
        conf_append(node, conf);
        snprintf(log, sizeof(log), "%s/agent.log", node);
        {
                char *argv[] = { (char *)h_node_bin(), "run", "--dir", node, "-v", NULL };

                agent = h_spawn(argv, log);
        }
        assert_true(h_wait_port(port, 10000));
        body = scrape_until(port, "nmo_node_hub_connected", 1);
        assert_true(h_metrics_sample(body, "nmo_node_hub_last_contact_timestamp_seconds") > 0);
        free(body);
        /* The hub goes away: the loss is the last contact. */
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        free(scrape_until(port, "nmo_node_hub_connected", 0));

        /* The queue grows and ages, nothing is sent. */
        for (int i = 0; i < SIGNALS_DOWN; i++) {
                const char *id = h_node_submit(node, i % 2 ? "gallium" : "germanium");

                assert_non_null(id);
                snprintf(ids[i], sizeof(ids[i]), "%s", id);
        }
        body = scrape_until(port, "nmo_node_signals_queued", SIGNALS_DOWN);
        sleep(1);
        free(body);
        body = scrape_until(port, "nmo_node_signals_queued", SIGNALS_DOWN);
        h_metrics_check_format(body, 11);
        h_promtool_check(hub.dir, body);
        assert_true(h_metrics_sample(body, "nmo_node_oldest_pending_age_seconds") >= 1);
        assert_true(h_metrics_sample(body, "nmo_node_oldest_pending_age_seconds") < 60);
        assert_true(h_metrics_sample(body, "nmo_node_hub_connected") == 0);
        assert_true(h_metrics_sample(body, "nmo_node_signals_delivered") == 0);
        assert_true(h_metrics_sample(body, "nmo_node_signals_sent_total") == 0);
        assert_true(h_metrics_sample(body, "nmo_node_receipts_total") == 0);
        assert_true(h_metrics_sample(body, "nmo_node_last_receipt_timestamp_seconds") == 0);
        expect_status(node, body);
        free(body);

        /* The hub is back: more signals while the queue drains, scraped as
         * they go. */
        h_hub_start(&hub);
        for (int i = 0; i < SIGNALS_UP; i++) {
                const char *id = h_node_submit(node, i % 2 ? "gallium" : "germanium");

                assert_non_null(id);
                snprintf(ids[SIGNALS_DOWN + i], sizeof(ids[0]), "%s", id);
                body = h_metrics_scrape(port, &status);
                assert_non_null(body);
                assert_int_equal(status, 200);
                h_metrics_check_format(body, 11);
                free(body);
        }
        body = scrape_until(port, "nmo_node_signals_delivered", SIGNALS_DOWN + SIGNALS_UP);
        free(body);
        /* Quiet now: one more second for the last figures to be handed over. */
        sleep(2);
        body = scrape_until(port, "nmo_node_signals_delivered", SIGNALS_DOWN + SIGNALS_UP);
        h_metrics_check_format(body, 11);
        h_promtool_check(hub.dir, body);
        expect_status(node, body);
        now = (double)util_now_ms() / 1000;
        assert_true(h_metrics_sample(body, "nmo_node_signals_queued") == 0);
        assert_true(h_metrics_sample(body, "nmo_node_signals_in_flight") == 0);
        assert_true(h_metrics_sample(body, "nmo_node_oldest_pending_age_seconds") == 0);
        assert_true(h_metrics_sample(body, "nmo_node_hub_connected") == 1);
        assert_true(h_metrics_sample(body, "nmo_node_signals_sent_total") >=
                    SIGNALS_DOWN + SIGNALS_UP);
        assert_true(h_metrics_sample(body, "nmo_node_receipts_total") >=
                    SIGNALS_DOWN + SIGNALS_UP);
        assert_true(h_metrics_sample(body, "nmo_node_resends_total") <=
                    h_metrics_sample(body, "nmo_node_signals_sent_total"));
        t = h_metrics_sample(body, "nmo_node_last_receipt_timestamp_seconds");
        assert_true(t > now - 60 && t <= now + 1);
        t = h_metrics_sample(body, "nmo_node_hub_last_contact_timestamp_seconds");
        assert_true(t > now - 60 && t <= now + 1);
        /* Nothing names a signal or its content, nor the member. */
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
                assert_null(strstr(body, ids[i]));
        assert_null(strstr(body, "gallium"));
        assert_null(strstr(body, "germanium"));
        assert_null(strstr(body, "corp"));
        free(body);

        /* Only /metrics, and it goes with the agent. */
        assert_int_equal(h_stop(agent, SIGTERM), 0);
        agent = -1;
        assert_null(h_metrics_scrape(port, &status));
        free(node);
}

/* A bad [metrics] listen: node.conf is refused, the agent does not start. */
static void test_node_metrics_bad_listen(void **state)
{
        static const char *const bad[] = { "localhost:9751", "127.0.0.1", "127.0.0.1:0",
                                           "127.0.0.1:70000", "::1:9751", "*:9751" };
        char *node, *path, *orig = NULL, *out = NULL, *err = NULL;
        size_t orig_len = 0;

        (void)state;
        h_hub_init(&hub);
        node = h_node_create(&hub, "metrics-bad", true);
        path = util_path(node, "node.conf");
        assert_int_equal(util_read_file(path, 65536, &orig, &orig_len), 0);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *argv[] = { (char *)h_node_bin(), "run", "--dir", node, "--once",
                                 "--timeout", "5", NULL };
                char conf[96];

                assert_int_equal(util_write_file(path, orig, orig_len, 0600, false), 0);
                snprintf(conf, sizeof(conf), "\n[metrics]\nlisten = %s\n", bad[i]);
                conf_append(node, conf);
                assert_int_equal(h_run(argv, &out, &err), 1);
                assert_non_null(strstr(err, "[metrics] listen must be empty or ADDRESS:PORT"));
                assert_non_null(strstr(err, bad[i]));
                free(out);
                free(err);
        }

        /* A good address that is taken: a clear error at start. */
        {
                struct sockaddr_in a = { 0 };
                socklen_t alen = sizeof(a);
                int fd = socket(AF_INET, SOCK_STREAM, 0), port;
                char *argv[] = { (char *)h_node_bin(), "run", "--dir", node, "--once",
                                 "--timeout", "5", NULL };
                char conf[96], want[64];

                assert_true(fd >= 0);
                a.sin_family = AF_INET;
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
                assert_int_equal(listen(fd, 1), 0);
                assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
                port = ntohs(a.sin_port);
                assert_int_equal(util_write_file(path, orig, orig_len, 0600, false), 0);
                snprintf(conf, sizeof(conf), "\n[metrics]\nlisten = 127.0.0.1:%d\n", port);
                conf_append(node, conf);
                assert_non_null(h_node_submit(node, "gallium"));
                assert_int_equal(h_run(argv, &out, &err), 1);
                snprintf(want, sizeof(want), "cannot serve metrics on 127.0.0.1:%d", port);
                assert_non_null(strstr(err, want));
                /* Nothing was sent: the agent stopped before the hub connection. */
                assert_int_equal(h_node_count(node, "queued"), 1);
                free(out);
                free(err);
                close(fd);
        }
        free(orig);
        free(path);
        free(node);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_node_metrics, teardown),
                cmocka_unit_test_teardown(test_node_metrics_bad_listen, teardown),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
