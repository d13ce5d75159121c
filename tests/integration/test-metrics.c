/* test-metrics.c: the real nmo-hub with [metrics] listen: GET /metrics over a
 * plain TCP connection, its text checked line by line against the
 * exposition format, its counters against `nmo-hub stats --json`, and no
 * member named in it; and a bad [metrics] listen refused at start. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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
                body = h_metrics_scrape(port, &status);
                assert_non_null(body);
                assert_int_equal(status, 200);
                accepted = h_metrics_sample(body, "nmo_hub_signals_accepted_total");
                if (accepted == (double)h_hub_stat(&hub, "signals_stored") &&
                    h_metrics_sample(body, "nmo_hub_members_connected") >= 2)
                        break;
                usleep(200000);
        }
        h_metrics_check_format(body, 11);
        h_promtool_check(hub.dir, body);
        assert_true(accepted >= 2);
        assert_true(accepted == (double)h_hub_stat(&hub, "signals_stored"));
        assert_true(h_metrics_sample(body, "nmo_hub_duplicates_total") ==
                    (double)h_hub_stat(&hub, "duplicates"));
        assert_true(h_metrics_sample(body, "nmo_hub_duplicates_total") >= 1);
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
        assert_true(h_metrics_sample(body, "nmo_hub_members{state=\"active\"}") ==
                    (double)h_hub_stat(&hub, "members_active"));
        assert_true(h_metrics_sample(body, "nmo_hub_members_connected") >= 1);
        assert_true(h_metrics_sample(body, "nmo_hub_batch_size_count") >= 2);
        assert_true(h_metrics_sample(body, "nmo_hub_commit_seconds_count") >= 2);
        assert_true(h_metrics_sample(body, "nmo_hub_store_map_bytes") > 0);
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
