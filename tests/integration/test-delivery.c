/* test-delivery.c: real nmo-node agents deliver to the real nmo-hub: every
 * signal receipted and stored once; unenrolled, revoked and offline cases
 * behave as a member would expect; nothing vanishes. */
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

static json_object *node_status(const char *node_dir)
{
        char *argv[] = { (char *)h_node_bin(), "status", "--dir", (char *)node_dir, "--json",
                         NULL };
        return h_run_json(argv);
}

/* Waits up to ms until the node's status counter key reaches want. */
static bool wait_count(const char *node_dir, const char *key, int64_t want, int ms)
{
        for (int waited = 0; waited <= ms; waited += 100) {
                if (h_node_count(node_dir, key) >= want)
                        return true;
                usleep(100000);
        }
        return false;
}

/* Every delivered signal's receipt verifies with the hub's signing key and
 * names this member's payload key. Returns how many were checked. */
static int verify_receipts(struct h_hub *h, const char *node_dir)
{
        struct keys_public hub_pk, member_pk;
        char err[256];
        char *hub_pub = util_path(h->hub_dir, "keys/hub.pub");
        char *member_pub = util_path(node_dir, "keys/member.pub");
        json_object *st = node_status(node_dir), *sigs;
        int checked = 0;

        assert_int_equal(keys_load_public(&hub_pk, hub_pub, err, sizeof(err)), 0);
        assert_int_equal(keys_load_public(&member_pk, member_pub, err, sizeof(err)), 0);
        assert_true(json_object_object_get_ex(st, "signals", &sigs));
        for (size_t i = 0; i < json_object_array_length(sigs); i++) {
                json_object *s = json_object_array_get_idx(sigs, i), *state, *rec, *b64, *id;
                uint8_t bin[RECEIPT_MAX], want_id[SIGNAL_ID_BYTES];
                size_t bin_len = 0;
                struct receipt r;
                const char *text;

                assert_true(json_object_object_get_ex(s, "state", &state));
                if (strcmp(json_object_get_string(state), "delivered") != 0)
                        continue;
                assert_true(json_object_object_get_ex(s, "receipt", &rec));
                assert_true(json_object_object_get_ex(rec, "signed", &b64));
                text = json_object_get_string(b64);
                assert_int_equal(sodium_base642bin(bin, sizeof(bin), text, strlen(text), NULL,
                                                   &bin_len, NULL,
                                                   sodium_base64_VARIANT_ORIGINAL), 0);
                assert_int_equal(receipt_verify(bin, bin_len, hub_pk.sign, &r), 0);
                assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
                assert_memory_equal(r.member_key, member_pk.payload, KEYS_KEY_BYTES);
                assert_true(json_object_object_get_ex(s, "id", &id));
                assert_int_equal(signal_id_parse(json_object_get_string(id), want_id), 0);
                assert_memory_equal(r.signal_id, want_id, SIGNAL_ID_BYTES);
                /* A flipped byte breaks it. */
                bin[bin_len / 2] ^= 0x01;
                assert_int_not_equal(receipt_verify(bin, bin_len, hub_pk.sign, &r), 0);
                checked++;
        }
        json_object_put(st);
        free(hub_pub);
        free(member_pub);
        return checked;
}

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

/* Three members, options and a JSONL file each, all receipted and stored once. */
static void test_three_members(void **state)
{
        static const char *names[] = { "acme-metals", "delta-batteries", "noord-chips" };
        static const char *materials[] = { "gallium", "germanium", "lithium", "nickel",
                                           "tungsten" };
        struct h_hub h;
        char *nodes[3];
        pid_t agents[3];

        (void)state;
        h_hub_init(&h);
        for (int n = 0; n < 3; n++) {
                char *file = NULL;

                nodes[n] = h_node_create(&h, names[n], true);
                for (int i = 0; i < 5; i++)
                        assert_non_null(h_node_submit(nodes[n], materials[i]));
                assert_int_equal(asprintf(&file, "%s/batch.jsonl", nodes[n]) > 0, 1);
                write_file(file,
                           "{\"material\":\"vanadium\",\"event\":\"plant-outage\",\"severity\":\"low\",\"country\":\"ZA\"}\n"
                           "\n"
                           "{\"material\":\"niobium\",\"event\":\"price-spike\",\"severity\":\"medium\",\"country\":\"BR\",\"volume\":120,\"share\":\"10-25\"}\n"
                           "{\"material\":\"antimony\",\"event\":\"export-ban\",\"severity\":\"critical\",\"country\":\"CN\",\"note\":\"licences stopped\",\"note-consent\":\"note-may-be-shared\"}\n");
                {
                        char *argv[] = { (char *)h_node_bin(), "submit", "--dir", nodes[n],
                                         "--file", file, NULL };
                        char *out = NULL;
                        assert_int_equal(h_run(argv, &out, NULL), 0);
                        /* One id a line. */
                        assert_int_equal(strlen(out), 3 * (SIGNAL_ID_HEX));
                        free(out);
                }
                free(file);
                assert_int_equal(h_node_count(nodes[n], "queued"), 8);
        }
        /* The three agents deliver at the same time. */
        for (int n = 0; n < 3; n++) {
                char *argv[] = { (char *)h_node_bin(), "run", "--dir", nodes[n], "--once",
                                 "--timeout", "60", NULL };
                char log[600];

                snprintf(log, sizeof(log), "%s/agent.log", nodes[n]);
                agents[n] = h_spawn(argv, log);
        }
        for (int n = 0; n < 3; n++)
                assert_int_equal(h_wait(agents[n], 90000), 0);
        for (int n = 0; n < 3; n++) {
                assert_int_equal(h_node_count(nodes[n], "delivered"), 8);
                assert_int_equal(h_node_count(nodes[n], "queued"), 0);
                assert_int_equal(h_node_count(nodes[n], "in_flight"), 0);
                assert_int_equal(h_node_count(nodes[n], "rejected"), 0);
                assert_int_equal(verify_receipts(&h, nodes[n]), 8);
        }
        assert_int_equal(h_hub_stat(&h, "signals_stored"), 24);
        assert_int_equal(h_hub_stat(&h, "members_active"), 3);
        assert_int_equal(h_hub_stat(&h, "rejected"), 0);

        /* Running the agents again sends nothing new and stores nothing new. */
        for (int n = 0; n < 3; n++)
                assert_int_equal(h_node_run_once(nodes[n], 10), 0);
        assert_int_equal(h_hub_stat(&h, "signals_stored"), 24);
        for (int n = 0; n < 3; n++)
                free(nodes[n]);
        h_hub_destroy(&h);
}

/* A node the operator has not enrolled keeps its signals queued, says why,
 * and delivers them once enrolled. */
static void test_not_enrolled_then_enrolled(void **state)
{
        struct h_hub h;
        json_object *st, *err;
        char *node, *pub;

        (void)state;
        h_hub_init(&h);
        node = h_node_create(&h, "late-joiner", false);
        assert_non_null(h_node_submit(node, "graphite"));
        assert_int_equal(h_node_run_once(node, 3), 1);
        st = node_status(node);
        assert_int_equal(h_json_int(st, "queued") + h_json_int(st, "in_flight"), 1);
        assert_true(json_object_object_get_ex(st, "last_hub_error", &err));
        assert_false(json_object_is_type(err, json_type_null));
        json_object_put(st);
        assert_int_equal(h_hub_stat(&h, "signals_stored"), 0);

        pub = util_path(node, "keys/member.pub");
        {
                char *argv[] = { (char *)h_hub_bin(), "member", "add", "--dir", h.hub_dir,
                                 "--name", "late-joiner", "--pub", pub, NULL };
                assert_int_equal(h_run(argv, NULL, NULL), 0);
        }
        assert_int_equal(h_node_run_once(node, 30), 0);
        assert_int_equal(h_node_count(node, "delivered"), 1);
        assert_int_equal(h_hub_stat(&h, "signals_stored"), 1);
        free(pub);
        free(node);
        h_hub_destroy(&h);
}

/* Revoked while the agent is connected: the next signal is refused with a
 * signed receipt, and stays visible with that reason. */
static void test_revoked_while_connected(void **state)
{
        struct h_hub h;
        json_object *st, *sigs;
        char *node, log[600];
        pid_t agent;
        bool seen = false;

        (void)state;
        h_hub_init(&h);
        node = h_node_create(&h, "soon-revoked", true);
        snprintf(log, sizeof(log), "%s/agent.log", node);
        {
                char *argv[] = { (char *)h_node_bin(), "run", "--dir", node, NULL };
                agent = h_spawn(argv, log);
        }
        assert_non_null(h_node_submit(node, "magnesium"));
        assert_true(wait_count(node, "delivered", 1, 20000));
        assert_int_equal(h_member(&h, "revoke", "soon-revoked"), 0);
        assert_non_null(h_node_submit(node, "magnesium"));
        assert_true(wait_count(node, "rejected", 1, 20000));
        assert_int_equal(h_stop(agent, SIGTERM), 0);

        st = node_status(node);
        assert_int_equal(h_json_int(st, "delivered"), 1);
        assert_int_equal(h_json_int(st, "rejected"), 1);
        assert_true(json_object_object_get_ex(st, "signals", &sigs));
        for (size_t i = 0; i < json_object_array_length(sigs); i++) {
                json_object *s = json_object_array_get_idx(sigs, i), *rec, *reason;

                if (json_object_object_get_ex(s, "receipt", &rec) &&
                    json_object_object_get_ex(rec, "reason", &reason) &&
                    strcmp(json_object_get_string(reason), "member-revoked") == 0)
                        seen = true;
        }
        assert_true(seen);
        json_object_put(st);
        assert_int_equal(h_hub_stat(&h, "signals_stored"), 1);
        free(node);
        h_hub_destroy(&h);
}

/* The hub is down when the member submits; the agent waits it out. */
static void test_hub_down_then_up(void **state)
{
        struct h_hub h;
        char *node, log[600];
        pid_t agent;

        (void)state;
        h_hub_init(&h);
        node = h_node_create(&h, "patient", true);
        assert_int_equal(h_hub_stop(&h, SIGTERM), 0);
        for (int i = 0; i < 5; i++)
                assert_non_null(h_node_submit(node, "manganese"));
        snprintf(log, sizeof(log), "%s/agent.log", node);
        {
                char *argv[] = { (char *)h_node_bin(), "run", "--dir", node, NULL };
                agent = h_spawn(argv, log);
        }
        sleep(2);
        assert_int_equal(h_node_count(node, "delivered"), 0);
        h_hub_start(&h);
        assert_true(wait_count(node, "delivered", 5, 60000));
        assert_int_equal(h_stop(agent, SIGTERM), 0);
        assert_int_equal(h_hub_stat(&h, "signals_stored"), 5);
        free(node);
        h_hub_destroy(&h);
}

/* A JSONL file with a bad line queues nothing and names the line. */
static void test_bad_jsonl_queues_nothing(void **state)
{
        struct h_hub h;
        char *node, *file = NULL, *err = NULL;

        (void)state;
        h_hub_init(&h);
        node = h_node_create(&h, "careful", true);
        assert_int_equal(asprintf(&file, "%s/bad.jsonl", node) > 0, 1);
        write_file(file,
                   "{\"material\":\"gallium\",\"event\":\"export-ban\",\"severity\":\"high\",\"country\":\"CN\"}\n"
                   "{\"material\":\"gallium\",\"event\":\"export-ban\",\"severity\":\"high\",\"country\":\"CN\"}\n"
                   "{\"material\":\"unobtainium\",\"event\":\"export-ban\",\"severity\":\"high\",\"country\":\"CN\"}\n");
        {
                char *argv[] = { (char *)h_node_bin(), "submit", "--dir", node, "--file", file,
                                 NULL };
                assert_int_equal(h_run(argv, NULL, &err), 1);
        }
        assert_non_null(strstr(err, ":3:"));
        assert_non_null(strstr(err, "material"));
        assert_int_equal(h_node_count(node, "queued"), 0);
        free(err);
        free(file);
        free(node);
        h_hub_destroy(&h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_three_members),
                cmocka_unit_test(test_not_enrolled_then_enrolled),
                cmocka_unit_test(test_revoked_while_connected),
                cmocka_unit_test(test_hub_down_then_up),
                cmocka_unit_test(test_bad_jsonl_queues_nothing),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("delivery", tests, NULL, NULL);
}
