/* test-examples.c: the example configurations installed in the doc folder
 * (built by doc/example-configs.c): each parses with the program's own
 * parser, sets every option to its default, and lists every option (so the
 * example is the whole reference, as the man pages are). Arguments: the
 * built examples/hub.conf and examples/node.conf. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "node-config.h"
#include "unit-tmp.h"
#include "util.h"

static const char *hub_example, *node_example;

static char *slurp(const char *path, size_t *len)
{
        char *text = NULL;

        assert_int_equal(util_read_file(path, 1 << 20, &text, len), 0);
        return text;
}

/* Whether text has a line "key =" or "; key =" (an option shown commented
 * out, as an unset endpoint is). */
static bool lists(const char *text, const char *key)
{
        char want[80];
        size_t klen;

        snprintf(want, sizeof(want), "%s =", key);
        klen = strlen(want);
        for (const char *line = text; line && *line; line = strchr(line, '\n'),
                        line = line ? line + 1 : NULL) {
                const char *p = line;

                if (strncmp(p, "; ", 2) == 0)
                        p += 2;
                if (strncmp(p, want, klen) == 0)
                        return true;
        }
        return false;
}

static void test_hub_example(void **state)
{
        static const char *const keys[] = {
                "listen", "max_message", "queue", "batch", "member_rate", "member_burst",
                "handshake_ms", "reply_queue", "member_connections", "unauthenticated", "backlog",
                "min_reporters", "dominance_n", "dominance_k", "sensitive",
                "sensitive_min_reporters", "sensitive_dominance_n", "sensitive_dominance_k",
                "protection_reports", "noise_max", "noise_variance", "noise_volume",
                "delay_hours", "severity_reporters", "surge_percent", "surge_weeks",
                "surge_min_reports", "new_restriction", "level",
        };
        struct hub_config got, want;
        char err[256] = "", *text, *again, dir[4096], *path;
        size_t len, alen;

        (void)state;
        text = slurp(hub_example, &len);
        assert_int_equal(hub_config_parse(&got, text, len, err, sizeof(err)), 0);
        /* Written again from what was parsed, it is the same text: every
         * value is the default one. */
        hub_config_defaults(&want);
        assert_non_null(unit_tmp_make(dir, sizeof(dir), "examples"));
        assert_int_equal(hub_config_write(&got, dir), 0);
        path = util_path(dir, "hub.conf");
        again = slurp(path, &alen);
        free(path);
        assert_int_equal(alen, len);
        assert_memory_equal(again, text, len);
        assert_int_equal(got.limits.batch, want.limits.batch);
        assert_int_equal(got.privacy.min_reporters, want.privacy.min_reporters);
        assert_string_equal(got.listen, want.listen);
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                if (!lists(text, keys[i]))
                        fail_msg("%s does not list %s", hub_example, keys[i]);
        free(again);
        free(text);
        (void)unit_tmp_remove(dir);
}

static void test_node_example(void **state)
{
        static const char *const keys[] = { "endpoint", "alerts", "window", "reply_timeout_ms",
                                             "retry_min_ms", "retry_max_ms", "listen", "level" };
        struct node_config got, want;
        char err[256] = "", *text;
        size_t len;

        (void)state;
        text = slurp(node_example, &len);
        assert_int_equal(node_config_parse(&got, text, len, "node.conf", err, sizeof(err)), 0);
        node_config_defaults(&want);
        assert_int_equal(got.window, want.window);
        assert_int_equal(got.retry_max_ms, want.retry_max_ms);
        assert_int_equal(got.reply_timeout_ms, want.reply_timeout_ms);
        assert_int_equal(got.retry_min_ms, want.retry_min_ms);
        assert_int_equal(got.log_level, want.log_level);
        /* The alert feed left to its default: the endpoint's port + 1. */
        assert_string_equal(got.alerts_endpoint, "tcp://hub.example.org:7751");
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                char hash[80];

                snprintf(hash, sizeof(hash), "# %s =", keys[i]);
                if (!lists(text, keys[i]) && !strstr(text, hash))
                        fail_msg("%s does not list %s", node_example, keys[i]);
        }
        free(text);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hub_example),
                cmocka_unit_test(test_node_example),
        };

        if (argc != 3) {
                fprintf(stderr, "usage: test-examples HUB.CONF NODE.CONF\n");
                return 2;
        }
        hub_example = argv[1];
        node_example = argv[2];
        return cmocka_run_group_tests(tests, NULL, NULL);
}
