/* test-privacy.c: what analysts can open never names a member. Real nmo-hub
 * and nmo-node processes deliver signals; the analytics store's raw bytes are
 * searched for every member's name, fingerprint, keys, the network address and
 * the exact receipt times, before and after the epoch closes. The epoch close
 * is reached by restarting the hub 40 days later (faketime), and must destroy
 * the epoch key so the private store can no longer link that epoch. */
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "aggregate.h"
#include "analytics.h"
#include "date.h"
#include "harness.h"
#include "period.h"
#include "store.h"
#include "util.h"

#define NMEMBERS 4

static const char *names[NMEMBERS] = { "privacy-acme", "privacy-bravo", "privacy-charlie",
                                       "privacy-delta" };

static char *slurp(const char *path, size_t *len)
{
        char *data = NULL;

        if (util_read_file(path, 1u << 30, &data, len) < 0)
                fail_msg("cannot read %s", path);
        return data;
}

static void assert_absent(const char *what, const char *data, size_t len, const void *needle,
                          size_t n)
{
        if (n > 0 && memmem(data, len, needle, n))
                fail_msg("the analytics store holds %s", what);
}

/* Everything that names or links a member, searched in the raw file. */
static void scan(struct h_hub *h, char *nodes[NMEMBERS], const char *path)
{
        size_t len = 0;
        char *data = slurp(path, &len);

        for (int i = 0; i < NMEMBERS; i++) {
                struct keys_public pk;
                char err[256], fp[KEYS_FINGERPRINT_LEN], b64[64];
                char *pub = util_path(nodes[i], "keys/member.pub");
                char *argv[] = { (char *)h_node_bin(), "status", "--dir", nodes[i], "--json",
                                 NULL };
                json_object *st, *sigs;

                assert_int_equal(keys_load_public(&pk, pub, err, sizeof(err)), 0);
                keys_fingerprint(&pk, fp);
                assert_absent("a member name", data, len, names[i], strlen(names[i]));
                assert_absent("a fingerprint", data, len, fp, strlen(fp));
                assert_absent("a transport key", data, len, pk.transport, KEYS_KEY_BYTES);
                assert_absent("a payload key", data, len, pk.payload, KEYS_KEY_BYTES);
                sodium_bin2base64(b64, sizeof(b64), pk.payload, KEYS_KEY_BYTES,
                                  sodium_base64_VARIANT_ORIGINAL);
                assert_absent("a payload key in base64", data, len, b64, strlen(b64));
                sodium_bin2base64(b64, sizeof(b64), pk.transport, KEYS_KEY_BYTES,
                                  sodium_base64_VARIANT_ORIGINAL);
                assert_absent("a transport key in base64", data, len, b64, strlen(b64));
                /* The exact times the hub received this member's signals. */
                st = h_run_json(argv);
                assert_true(json_object_object_get_ex(st, "signals", &sigs));
                for (size_t j = 0; j < json_object_array_length(sigs); j++) {
                        json_object *s = json_object_array_get_idx(sigs, j), *rec, *t, *id;

                        if (json_object_object_get_ex(s, "receipt", &rec) &&
                            json_object_object_get_ex(rec, "hub_time", &t)) {
                                const char *when = json_object_get_string(t);
                                assert_absent("an exact receipt time", data, len, when,
                                              strlen(when));
                        }
                        if (json_object_object_get_ex(s, "id", &id)) {
                                uint8_t bin[SIGNAL_ID_BYTES];
                                const char *hex = json_object_get_string(id);

                                assert_absent("a signal id", data, len, hex, strlen(hex));
                                assert_int_equal(signal_id_parse(hex, bin), 0);
                                assert_absent("a signal id", data, len, bin, sizeof(bin));
                        }
                }
                json_object_put(st);
                free(pub);
        }
        assert_absent("the hub's address", data, len, "127.0.0.1", 9);
        free(data);
}

struct count_ctx {
        int released;
        int suppressed;
        int final;
};

static int count_cell(const Nmo__Hub__Cell *c, void *u)
{
        struct count_ctx *cc = u;

        if (c->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE)
                cc->released++;
        else
                cc->suppressed++;
        cc->final += c->final;
        return 0;
}

static struct count_ctx count_cells(struct h_hub *h)
{
        struct analytics *an = NULL;
        struct count_ctx cc = { 0, 0, 0 };
        char *path = util_path(h->hub_dir, "analytics");

        assert_int_equal(analytics_open(&an, path, true), 0);
        assert_int_equal(analytics_foreach_cell(an, NULL, count_cell, &cc), 0);
        analytics_free(an);
        free(path);
        return cc;
}

static void submit(const char *node, const char *material, const char *event, bool note)
{
        char *argv[] = { (char *)h_node_bin(), "submit", "--dir", (char *)node, "--material",
                         (char *)material, "--event", (char *)event, "--severity", "high",
                         "--country", "CN", "--volume", "50", note ? "--note" : NULL,
                         "Our supplier confirmed the stop.", "--note-consent",
                         "note-may-be-shared", NULL };

        assert_int_equal(h_run(argv, NULL, NULL), 0);
}

static void test_analytics_holds_no_identity(void **state)
{
        struct h_hub h;
        char *nodes[NMEMBERS], *an_data, *key_path;
        uint32_t month;
        struct count_ctx cc;
        struct stat st;

        (void)state;
        h_hub_init_fresh_epoch(&h);
        month = h.epoch;
        for (int i = 0; i < NMEMBERS; i++) {
                nodes[i] = h_node_create(&h, names[i], true);
                submit(nodes[i], "gallium", "export-licensing", i == 0);
                submit(nodes[i], "gallium", "export-licensing", false);
                if (i < 2)
                        submit(nodes[i], "lithium", "price-spike", false);
                assert_int_equal(h_node_run_once(nodes[i], 30), 0);
        }
        assert_int_equal(h_hub_stat(&h, "signals_stored"), 10);
        assert_int_equal(h_hub_stat(&h, "releases"), 0);
        /* The week's release point: the cells are there. */
        h_hub_release(&h);
        assert_int_equal(h_hub_stat(&h, "releases"), 1);
        assert_int_equal(h_hub_stat(&h, "serving"), 1);
        assert_int_equal(h_hub_stop(&h, SIGTERM), 0);
        assert_int_equal(h_hub_stat(&h, "serving"), 0);
        cc = count_cells(&h);
        assert_true(cc.released >= 1);
        assert_true(cc.suppressed >= 1);
        assert_int_equal(cc.final, 0);
        an_data = util_path(h.hub_dir, "analytics/data.mdb");
        scan(&h, nodes, an_data);

        key_path = hub_aggregate_key_path(h.hub_dir, month);
        assert_int_equal(stat(key_path, &st), 0);

        /* Forty days later the epoch has ended: the hub closes it as it starts. */
        h_hub_clock(&h, h_hub_clock_offset(&h) + 40 * 86400);
        h_hub_start(&h);
        assert_int_equal(h_hub_stop(&h, SIGTERM), 0);
        assert_int_equal(stat(key_path, &st), -1);
        assert_int_equal(errno, ENOENT);
        cc = count_cells(&h);
        assert_true(cc.final > 0);
        assert_int_equal(cc.final, cc.released + cc.suppressed);
        scan(&h, nodes, an_data);
        /* Receipts still stand: the dedup records survive the close. */
        assert_int_equal(h_hub_stat(&h, "signals_stored"), 10);

        for (int i = 0; i < NMEMBERS; i++)
                free(nodes[i]);
        free(key_path);
        free(an_data);
        h_hub_destroy(&h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_analytics_holds_no_identity),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("privacy", tests, NULL, NULL);
}
