/* test-crash.c: SIGKILL the hub while signals stream, and SIGKILL the node
 * agent mid-delivery: nothing acknowledged is lost, nothing is stored twice,
 * and the rest is delivered after restart. */
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

/* Queues n signals in one submit --file. */
static void queue_many(const char *node_dir, int n)
{
        static const char *materials[] = { "gallium", "germanium", "lithium", "nickel",
                                           "tungsten", "antimony", "graphite", "vanadium" };
        char *file = NULL, *out = NULL;
        FILE *f;

        assert_int_equal(asprintf(&file, "%s/stream.jsonl", node_dir) > 0, 1);
        f = fopen(file, "w");
        assert_non_null(f);
        for (int i = 0; i < n; i++)
                fprintf(f, "{\"material\":\"%s\",\"event\":\"allocation\",\"severity\":\"high\","
                        "\"country\":\"CN\",\"volume\":%d}\n", materials[i % 8], 10 + i);
        fclose(f);
        {
                char *argv[] = { (char *)h_node_bin(), "submit", "--dir", (char *)node_dir,
                                 "--file", file, NULL };
                assert_int_equal(h_run(argv, &out, NULL), 0);
        }
        free(out);
        free(file);
        assert_int_equal(h_node_count(node_dir, "queued"), n);
}

/* A small window stretches the stream so the kill lands in the middle of it. */
static void narrow_window(struct h_hub *h, const char *node_dir)
{
        char *conf = util_path(node_dir, "node.conf");
        FILE *f = fopen(conf, "w");

        assert_non_null(f);
        fprintf(f, "[hub]\nendpoint = %s\n[delivery]\nwindow = 4\nreply_timeout_ms = 2000\n"
                "retry_min_ms = 100\nretry_max_ms = 1000\n", h->endpoint);
        fclose(f);
        free(conf);
}

static pid_t start_agent(const char *node_dir)
{
        char log[600];
        char *argv[] = { (char *)h_node_bin(), "run", "--dir", (char *)node_dir, NULL };

        snprintf(log, sizeof(log), "%s/agent.log", node_dir);
        return h_spawn(argv, log);
}

static bool wait_hub_stored(struct h_hub *h, int64_t want, int ms)
{
        for (int waited = 0; waited <= ms; waited += 20) {
                if (h_hub_stat(h, "signals_stored") >= want)
                        return true;
                usleep(20000);
        }
        return false;
}

static bool wait_delivered(const char *node_dir, int64_t want, int ms)
{
        for (int waited = 0; waited <= ms; waited += 200) {
                if (h_node_count(node_dir, "delivered") >= want)
                        return true;
                usleep(200000);
        }
        return false;
}

static void test_hub_killed_mid_stream(void **state)
{
        const int total = 2000;
        struct h_hub h;
        int64_t receipted, stored_at_kill;
        char *node;
        pid_t agent;

        (void)state;
        h_hub_init(&h);
        node = h_node_create(&h, "streamer", true);
        narrow_window(&h, node);
        queue_many(node, total);
        agent = start_agent(node);

        assert_true(wait_hub_stored(&h, 200, 60000));
        assert_int_equal(h_hub_stop(&h, SIGKILL), -SIGKILL);

        /* With the hub dead: everything the node holds a receipt for is in
         * the hub's store. */
        receipted = h_node_count(node, "delivered");
        stored_at_kill = h_hub_stat(&h, "signals_stored");
        print_message("hub killed: node holds %lld receipts, hub store holds %lld signals\n",
                      (long long)receipted, (long long)stored_at_kill);
        assert_true(receipted >= 1);
        assert_true(stored_at_kill >= receipted);
        assert_true(stored_at_kill < total);

        h_hub_start(&h);
        assert_true(wait_delivered(node, total, 120000));
        assert_int_equal(h_stop(agent, SIGTERM), 0);
        assert_int_equal(h_node_count(node, "delivered"), total);
        assert_int_equal(h_node_count(node, "queued"), 0);
        assert_int_equal(h_node_count(node, "rejected"), 0);
        /* Exactly once: 2000 distinct ids, 2000 stored. */
        assert_int_equal(h_hub_stat(&h, "signals_stored"), total);
        free(node);
        h_hub_destroy(&h);
}

static void test_node_killed_mid_delivery(void **state)
{
        const int total = 1000;
        struct h_hub h;
        char *node;
        pid_t agent;
        int64_t delivered;

        (void)state;
        h_hub_init(&h);
        node = h_node_create(&h, "crashy", true);
        narrow_window(&h, node);
        queue_many(node, total);
        agent = start_agent(node);
        assert_true(wait_hub_stored(&h, 100, 60000));
        assert_int_equal(h_stop(agent, SIGKILL), -SIGKILL);

        delivered = h_node_count(node, "delivered");
        print_message("node killed with %lld delivered\n", (long long)delivered);
        assert_true(delivered < total);
        assert_int_equal(h_node_count(node, "delivered") + h_node_count(node, "queued") +
                                 h_node_count(node, "in_flight"),
                         total);

        assert_int_equal(h_node_run_once(node, 120), 0);
        assert_int_equal(h_node_count(node, "delivered"), total);
        assert_int_equal(h_node_count(node, "queued"), 0);
        assert_int_equal(h_node_count(node, "in_flight"), 0);
        assert_int_equal(h_hub_stat(&h, "signals_stored"), total);
        free(node);
        h_hub_destroy(&h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hub_killed_mid_stream),
                cmocka_unit_test(test_node_killed_mid_delivery),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}
