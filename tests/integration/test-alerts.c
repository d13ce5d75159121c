/* test-alerts.c: the sample data set through real nmo-node agents and the real
 * nmo-hub: alerts fire, are signed, reach subscribed members (nmo-node alerts
 * verifies them), and a revoked member's subscription ends. nmo-analyst reads
 * the analytics store while the hub runs, and its JSON and CSV parse. */
#include <dirent.h>
#include <errno.h>
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

#include "harness.h"
#include "util.h"

#define MAX_NODES 16

static struct h_hub hub;
static char *nodes[MAX_NODES];
static char *names[MAX_NODES];
static size_t nnodes;

static const char *analyst_bin(void)
{
        const char *p = getenv("NMO_ANALYST");

        return p && *p ? p : "nmo-analyst";
}

static char *analytics_dir(void)
{
        return util_path(hub.hub_dir, "analytics");
}

static json_object *analyst_json(const char *cmd)
{
        char *store = analytics_dir();
        char *argv[] = { (char *)analyst_bin(), "--store", store, (char *)cmd, "--json", NULL };
        json_object *o = h_run_json(argv);

        free(store);
        return o;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One node per company file in tests/data/sample, its signals submitted and
 * delivered. */
static int setup(void **state)
{
        const char *root = getenv("NMO_SOURCE_ROOT");
        char *sample;
        DIR *d;
        struct dirent *e;

        (void)state;
        h_hub_init_fresh_epoch(&hub);
        sample = util_path(root ? root : ".", "tests/data/sample");
        d = opendir(sample);
        if (!d)
                fail_msg("no sample data at %s", sample);
        while ((e = readdir(d)) && nnodes < MAX_NODES) {
                size_t n = strlen(e->d_name);

                if (n > 6 && strcmp(e->d_name + n - 6, ".jsonl") == 0)
                        names[nnodes++] = strndup(e->d_name, n - 6);
        }
        closedir(d);
        qsort(names, nnodes, sizeof(*names), cmp_str);
        for (size_t i = 0; i < nnodes; i++) {
                char *file = NULL;

                nodes[i] = h_node_create(&hub, names[i], true);
                assert_int_equal(asprintf(&file, "%s/%s.jsonl", sample, names[i]) > 0, 1);
                {
                        char *argv[] = { (char *)h_node_bin(), "submit", "--dir", nodes[i],
                                         "--file", file, NULL };
                        assert_int_equal(h_run(argv, NULL, NULL), 0);
                }
                free(file);
                assert_int_equal(h_node_run_once(nodes[i], 30), 0);
        }
        free(sample);
        assert_true(nnodes >= 8);
        /* Figures and alerts come with the week's release, not before. */
        {
                json_object *a = analyst_json("alerts");

                assert_int_equal(json_object_array_length(a), 0);
                json_object_put(a);
        }
        h_hub_release(&hub);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        for (size_t i = 0; i < nnodes; i++) {
                free(nodes[i]);
                free(names[i]);
        }
        h_hub_destroy(&hub);
        return 0;
}

static size_t node_index(const char *name)
{
        for (size_t i = 0; i < nnodes; i++)
                if (strcmp(names[i], name) == 0)
                        return i;
        fail_msg("no sample company %s", name);
        return 0;
}

static const char *str(json_object *o, const char *key)
{
        json_object *v;

        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
                       ? json_object_get_string(v)
                       : NULL;
}

static bool has_alert(json_object *list, const char *rule, const char *material)
{
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *a = json_object_array_get_idx(list, i);
                const char *r = str(a, "rule"), *m = str(a, "material");

                if (r && m && strcmp(r, rule) == 0 && strcmp(m, material) == 0)
                        return true;
        }
        return false;
}

/* The hub's alerts on the sample data, as the analyst sees them and as a
 * member receives them, signature verified. */
static void test_alerts_reach_members(void **state)
{
        json_object *analyst, *member;
        size_t i = node_index("zeeland-metals");
        char *out = NULL, *err = NULL;

        (void)state;
        analyst = analyst_json("alerts");
        /* Seven companies report gallium at high or critical severity, three an
         * antimony export ban none reported before. */
        assert_true(has_alert(analyst, "severity", "gallium"));
        assert_true(has_alert(analyst, "new-restriction", "antimony"));
        {
                char *argv[] = { (char *)h_node_bin(), "alerts", "--dir", nodes[i], "--json",
                                 "--wait", "10", NULL };
                assert_int_equal(h_run(argv, &out, &err), 0);
        }
        member = json_tokener_parse(out);
        assert_non_null(member);
        assert_int_equal(json_object_array_length(member), json_object_array_length(analyst));
        for (size_t k = 0; k < json_object_array_length(member); k++) {
                json_object *a = json_object_array_get_idx(member, k), *v;

                assert_true(json_object_object_get_ex(a, "verified", &v));
                assert_true(json_object_get_boolean(v));
        }
        assert_true(has_alert(member, "severity", "gallium"));
        json_object_put(member);
        json_object_put(analyst);
        free(out);
        free(err);
}

static pid_t follow(size_t i, char *log, size_t len)
{
        char *argv[] = { (char *)h_node_bin(), "alerts", "--dir", nodes[i], "--follow", "--json",
                         NULL };

        snprintf(log, len, "%s/follow.log", nodes[i]);
        return h_spawn(argv, log);
}

static bool log_has(const char *log, const char *needle)
{
        char *data = NULL;
        size_t len = 0;
        bool found;

        if (util_read_file(log, 1u << 24, &data, &len) < 0)
                return false;
        found = strstr(data, needle) != NULL;
        free(data);
        return found;
}

/* A revoked member's subscription ends: a new alert reaches an active
 * follower and not the revoked one, and a fresh subscription is refused. */
static void test_revoked_member_cannot_subscribe(void **state)
{
        size_t active = node_index("twente-magnets"), revoked = node_index("brabant-electronics");
        char alog[600], rlog[600];
        pid_t a, r;
        bool arrived = false;

        (void)state;
        a = follow(active, alog, sizeof(alog));
        r = follow(revoked, rlog, sizeof(rlog));
        /* Both caught up: they hold the gallium alert. */
        for (int w = 0; w < 100 && !(log_has(alog, "gallium") && log_has(rlog, "gallium")); w++)
                usleep(100000);
        assert_true(log_has(alog, "gallium"));
        assert_true(log_has(rlog, "gallium"));

        assert_int_equal(h_member(&hub, "revoke", "brabant-electronics"), 0);
        sleep(2);
        /* Three other companies report a cobalt export ban: a new alert. */
        for (size_t k = 0; k < 3; k++) {
                size_t i = (revoked + 1 + k) % nnodes;
                char *argv[] = { (char *)h_node_bin(), "submit", "--dir", nodes[i], "--material",
                                 "cobalt", "--event", "export-ban", "--severity", "critical",
                                 "--country", "CD", NULL };

                assert_int_equal(h_run(argv, NULL, NULL), 0);
                assert_int_equal(h_node_run_once(nodes[i], 30), 0);
        }
        /* The alert comes with the week's release. */
        h_hub_release(&hub);
        for (int w = 0; w < 100 && !arrived; w++) {
                arrived = log_has(alog, "cobalt");
                usleep(100000);
        }
        assert_true(arrived);
        sleep(1);
        assert_int_equal(h_stop(a, SIGTERM), 0);
        assert_int_equal(h_stop(r, SIGTERM), 0);
        assert_false(log_has(rlog, "cobalt"));

        /* A new subscription with the revoked key is refused: exit 1. */
        {
                char *argv[] = { (char *)h_node_bin(), "alerts", "--dir", nodes[revoked],
                                 "--json", "--wait", "3", NULL };
                char *err = NULL;

                assert_int_equal(h_run(argv, NULL, &err), 1);
                assert_non_null(strstr(err, "refused"));
                free(err);
        }
}

/* RFC 4180 rows of a CSV text (quoted fields may hold commas, quotes and
 * newlines). Returns the number of records and the fields of the first. */
static size_t csv_records(const char *s, size_t *header_fields)
{
        size_t records = 0, fields = 1;
        bool quoted = false, any = false;

        for (const char *p = s; *p; p++) {
                any = true;
                if (quoted) {
                        if (*p == '"' && p[1] == '"')
                                p++;
                        else if (*p == '"')
                                quoted = false;
                } else if (*p == '"') {
                        quoted = true;
                } else if (*p == ',') {
                        if (records == 0)
                                fields++;
                } else if (*p == '\n') {
                        if (records == 0)
                                *header_fields = fields;
                        records++;
                        any = false;
                }
        }
        assert_false(quoted);
        return records + (any ? 1 : 0);
}

/* nmo-analyst against the running hub: read-only, and its outputs parse. */
static void test_analyst_reads_live_store(void **state)
{
        char *store = analytics_dir(), *data = util_path(store, "data.mdb");
        struct stat before, after;
        json_object *cells;
        size_t n, released = 0, suppressed = 0, header = 0;
        char *csv = NULL;

        (void)state;
        assert_true(hub.pid > 0);
        assert_int_equal(stat(data, &before), 0);
        cells = analyst_json("cells");
        n = json_object_array_length(cells);
        assert_true(n > 0);
        for (size_t i = 0; i < n; i++) {
                json_object *c = json_object_array_get_idx(cells, i), *v;
                const char *status = str(c, "status");

                assert_non_null(str(c, "material"));
                assert_non_null(str(c, "period"));
                assert_non_null(status);
                if (strcmp(status, "released") == 0) {
                        released++;
                        assert_true(json_object_object_get_ex(c, "reporters", &v));
                        assert_true(json_object_get_int(v) >= 3);
                        assert_true(json_object_object_get_ex(c, "reports", &v));
                } else {
                        suppressed++;
                        assert_string_equal(status, "suppressed");
                        assert_false(json_object_object_get_ex(c, "reporters", &v));
                        assert_false(json_object_object_get_ex(c, "reports", &v));
                }
        }
        assert_true(released > 0 && suppressed > 0);
        {
                char *argv[] = { (char *)analyst_bin(), "--store", store, "cells", "--csv", NULL };
                assert_int_equal(h_run(argv, &csv, NULL), 0);
        }
        assert_int_equal(csv_records(csv, &header), n + 1);
        assert_true(header >= 5);
        /* Reading changed nothing. */
        assert_int_equal(stat(data, &after), 0);
        assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
        assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
        /* Pointed at the private store, it refuses. */
        {
                char *priv = util_path(hub.hub_dir, "private"), *err = NULL;
                char *argv[] = { (char *)analyst_bin(), "--store", priv, "cells", NULL };

                assert_int_equal(h_run(argv, NULL, &err), 1);
                assert_non_null(strstr(err, "private"));
                free(err);
                free(priv);
        }
        json_object_put(cells);
        free(csv);
        free(data);
        free(store);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_alerts_reach_members),
                cmocka_unit_test(test_analyst_reads_live_store),
                cmocka_unit_test(test_revoked_member_cannot_subscribe),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("alerts", tests, setup, teardown);
}
