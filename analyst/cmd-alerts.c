/* cmd-alerts.c: `nmo-analyst alerts`: the alerts the hub issued and signed,
 * newest first, as a table, JSON or CSV. */
#include "analyst.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <sodium.h>

#include "alert.h"
#include "analytics.h"
#include "date.h"
#include "format.h"
#include "vocab.h"

struct alert {
        char *id, *rule, *material, *event, *level, *period, *window_start, *window_end;
        char *issued, *summary;
        uint32_t revision, reporters, reports;
        bool has_baseline;
        double baseline;
};

struct alert_list {
        struct alert *v;
        size_t n, cap;
        int64_t since;
        char bad[160];
};

static void alert_clear(struct alert *a)
{
        free(a->id);
        free(a->rule);
        free(a->material);
        free(a->event);
        free(a->level);
        free(a->period);
        free(a->window_start);
        free(a->window_end);
        free(a->issued);
        free(a->summary);
        memset(a, 0, sizeof(*a));
}

static void alert_list_clear(struct alert_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                alert_clear(&l->v[i]);
        free(l->v);
        memset(l, 0, sizeof(*l));
}

/* Copies s (NULL and "" stay NULL). */
NMO_WUR static int dup_opt(char **dst, const char *s)
{
        *dst = NULL;
        if (!s || !*s)
                return 0;
        *dst = strdup(s);
        return *dst ? 0 : -ENOMEM;
}

/* What is wrong with a stored alert, or NULL when it is well formed. The
 * signature is the members' to verify; here the bytes must decode into what
 * the hub signs. */
static const char *alert_problem(const uint8_t *buf, size_t len, const Nmo__AlertBody *b)
{
        Nmo__SignedAlert *sa;
        bool signed_ok;
        int64_t day;

        if (len > ALERT_MAX)
                return "larger than an alert can be";
        sa = nmo__signed_alert__unpack(NULL, len, buf);
        signed_ok = sa && sa->has_signature && sa->signature.len == crypto_sign_BYTES;
        if (sa)
                nmo__signed_alert__free_unpacked(sa, NULL);
        if (!signed_ok)
                return "no signature";
        if (!b->has_version || b->version != 1)
                return "unknown version";
        if (!b->id || !*b->id || !b->rule || !*b->rule || !b->material || !*b->material ||
            !b->level || !*b->level)
                return "id, rule, material or level missing";
        if (date_parse(b->issued, &day) < 0)
                return "no valid issued date";
        return NULL;
}

static int collect_alert(const uint8_t *buf, size_t len, const Nmo__AlertBody *b,
                         void *userdata)
{
        struct alert_list *l = userdata;
        const char *problem = alert_problem(buf, len, b);
        struct alert *a;
        int64_t day;
        int r;

        if (problem) {
                char *id = format_term_safe(b->id ? b->id : "");

                snprintf(l->bad, sizeof(l->bad), "an alert (id '%.40s') with %s",
                         id ? id : "?", problem);
                free(id);
                return -EBADMSG;
        }
        if (date_parse(b->issued, &day) < 0 || day < l->since)
                return 0;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 32;
                struct alert *v = realloc(l->v, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        a = &l->v[l->n++];
        memset(a, 0, sizeof(*a));
        a->revision = b->has_revision ? b->revision : 0;
        a->reporters = b->has_reporters ? b->reporters : 0;
        a->reports = b->has_reports ? b->reports : 0;
        a->has_baseline = b->has_baseline;
        a->baseline = b->baseline;
        r = dup_opt(&a->id, b->id);
        if (r == 0)
                r = dup_opt(&a->rule, b->rule);
        if (r == 0)
                r = dup_opt(&a->material, b->material);
        if (r == 0)
                r = dup_opt(&a->event, b->event);
        if (r == 0)
                r = dup_opt(&a->level, b->level);
        if (r == 0)
                r = dup_opt(&a->period, b->period);
        if (r == 0)
                r = dup_opt(&a->window_start, b->window_start);
        if (r == 0)
                r = dup_opt(&a->window_end, b->window_end);
        if (r == 0)
                r = dup_opt(&a->issued, b->issued);
        if (r == 0)
                r = dup_opt(&a->summary, b->summary);
        return r;
}

static int strcmp_null(const char *a, const char *b)
{
        return strcmp(a ? a : "", b ? b : "");
}

static int level_rank(const char *level)
{
        return level && strcmp(level, "critical") == 0 ? 0 : 1;
}

/* Newest issued first, then newest period, critical before warning, then by
 * material, rule and event (the id last, for a stable order). */
static int alert_cmp(const void *pa, const void *pb)
{
        const struct alert *a = pa, *b = pb;
        int r = strcmp_null(b->issued, a->issued);

        if (r == 0)
                r = strcmp_null(b->period, a->period);
        if (r == 0)
                r = level_rank(a->level) - level_rank(b->level);
        if (r == 0)
                r = strcmp_null(a->material, b->material);
        if (r == 0)
                r = strcmp_null(a->rule, b->rule);
        if (r == 0)
                r = strcmp_null(a->event, b->event);
        if (r == 0)
                r = strcmp_null(a->id, b->id);
        return r;
}

static json_object *alert_json(const void *item)
{
        const struct alert *a = item;
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_object_object_add(o, "id", json_object_new_string(a->id));
        json_object_object_add(o, "revision", json_object_new_int64(a->revision));
        json_object_object_add(o, "rule", json_object_new_string(a->rule));
        json_object_object_add(o, "material", json_object_new_string(a->material));
        json_object_object_add(o, "event", format_json_str_or_null(a->event));
        json_object_object_add(o, "level", json_object_new_string(a->level));
        json_object_object_add(o, "period", format_json_str_or_null(a->period));
        json_object_object_add(o, "window_start", format_json_str_or_null(a->window_start));
        json_object_object_add(o, "window_end", format_json_str_or_null(a->window_end));
        json_object_object_add(o, "issued", json_object_new_string(a->issued));
        json_object_object_add(o, "summary", format_json_str_or_null(a->summary));
        json_object_object_add(o, "reporters",
                               a->reporters ? json_object_new_int64(a->reporters) : NULL);
        json_object_object_add(o, "reports",
                               a->reports ? json_object_new_int64(a->reports) : NULL);
        if (a->has_baseline) {
                char num[32];

                snprintf(num, sizeof(num), "%.6g", a->baseline);
                json_object_object_add(o, "baseline", json_object_new_double_s(a->baseline, num));
        }
        return o;
}

NMO_WUR static int alerts_print_json(const struct alert_list *l)
{
        return format_print_json_array(l->v, l->n, sizeof(*l->v), alert_json);
}

static void alerts_print_csv(const struct alert_list *l)
{
        static const char *const head[] = { "id", "revision", "rule", "material", "event",
                                            "level", "period", "window_start", "window_end",
                                            "issued", "summary", "reporters", "reports",
                                            "baseline" };

        format_csv_header(stdout, head, NMO_ARRAY_SIZE(head));
        fputc('\n', stdout);
        for (size_t i = 0; i < l->n; i++) {
                const struct alert *a = &l->v[i];

                format_csv_field(stdout, a->id, true);
                format_csv_u64(stdout, a->revision);
                format_csv_field(stdout, a->rule, false);
                format_csv_field(stdout, a->material, false);
                format_csv_field(stdout, a->event, false);
                format_csv_field(stdout, a->level, false);
                format_csv_field(stdout, a->period, false);
                format_csv_field(stdout, a->window_start, false);
                format_csv_field(stdout, a->window_end, false);
                format_csv_field(stdout, a->issued, false);
                format_csv_field(stdout, a->summary, false);
                if (a->reporters)
                        format_csv_u64(stdout, a->reporters);
                else
                        fputc(',', stdout);
                if (a->reports)
                        format_csv_u64(stdout, a->reports);
                else
                        fputc(',', stdout);
                if (a->has_baseline)
                        printf(",%.6g", a->baseline);
                else
                        fputc(',', stdout);
                fputc('\n', stdout);
        }
}

NMO_WUR static int alerts_print_table(const struct alert_list *l)
{
        static const char *const head[] = { "ISSUED", "LEVEL", "RULE", "MATERIAL", "EVENT",
                                            "PERIOD/WINDOW", "SUMMARY" };
        struct format_table t;
        int r = 0;

        format_table_init(&t, head, "lllllll", NMO_ARRAY_SIZE(head));
        for (size_t i = 0; r == 0 && i < l->n; i++) {
                const struct alert *a = &l->v[i];
                bool window = a->window_start && a->window_end &&
                              !(strcmp_null(a->window_start, a->period) == 0 &&
                                strcmp_null(a->window_end, a->period) == 0);

                r = format_table_row(&t);
                if (r == 0)
                        r = format_table_set(&t, 0, "%s", a->issued);
                if (r == 0)
                        r = format_table_set(&t, 1, "%s", a->level);
                if (r == 0)
                        r = format_table_set(&t, 2, "%s", a->rule);
                if (r == 0)
                        r = format_table_set(&t, 3, "%s", a->material);
                if (r == 0)
                        r = format_table_set(&t, 4, "%s", a->event ? a->event : "-");
                if (r == 0 && window)
                        r = format_table_set(&t, 5, "%s (%s..%s)", a->period ? a->period : "-",
                                      a->window_start, a->window_end);
                else if (r == 0)
                        r = format_table_set(&t, 5, "%s", a->period ? a->period : "-");
                if (r == 0)
                        r = format_table_set(&t, 6, "%s", a->summary ? a->summary : "");
        }
        if (r == 0)
                r = format_table_print(&t, stdout);
        format_table_free(&t);
        return r;
}

static const char alerts_help[] =
        "Usage: nmo-analyst --store DIR alerts [OPTIONS]\n"
        "\n"
        "Lists the alerts the hub issued to members (the latest revision of each),\n"
        "newest first; within a day critical before warning, then by material. Every\n"
        "alert rests on released figures only.\n"
        "\n"
        "Options:\n"
        "  --since WHEN   only alerts issued on or after WHEN: a date (YYYY-MM-DD), or\n"
        "                 the first day of an ISO week (YYYY-Www) or month (YYYY-MM)\n"
        "  --json         a JSON array, one object per alert\n"
        "  --csv          CSV (RFC 4180) with a header row\n"
        "  --store DIR    the analytics store, HUB_DIR/analytics (also accepted before\n"
        "                 the command)\n"
        "  -h, --help     this help\n"
        "\n"
        "Columns:\n"
        "  ISSUED         the hub's day of issue (never a finer time)\n"
        "  LEVEL          warning or critical\n"
        "  RULE           severity (many high or critical reports), surge (reports\n"
        "                 well above the baseline), new-restriction (a trade measure)\n"
        "  MATERIAL       material id\n"
        "  EVENT          event type id, or - for material-wide rules\n"
        "  PERIOD/WINDOW  ISO week of the trigger, and the weeks the rule looked at\n"
        "  SUMMARY        one sentence\n"
        "\n"
        "JSON and CSV: id, revision, rule, material, event (null when material-wide),\n"
        "level, period, window_start, window_end, issued, summary, reporters and\n"
        "reports (the released figures behind the alert; null when the rule uses\n"
        "none), baseline (surge: mean weekly reports over the baseline weeks; only\n"
        "when present).\n"
        "\n"
        "The signatures are for members to verify; this command checks that every\n"
        "stored alert decodes and fails on one that does not.\n"
        "\n"
        ANALYST_CALENDAR
        "\n"
        ANALYST_DISCLOSURE_RULE
        "\n"
        ANALYST_RELEASES
        "\n"
        "Exit status: 0 success, also when no alert matches; 1 failure; 2 usage error.\n";

int analyst_cmd_alerts(int argc, char **argv, const char *store)
{
        static const struct option opts[] = {
                { "store", required_argument, NULL, OPT_STORE },
                { "since", required_argument, NULL, OPT_SINCE },
                { "json", no_argument, NULL, OPT_JSON },
                { "csv", no_argument, NULL, OPT_CSV },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        struct analytics *an = NULL;
        struct alert_list l;
        enum analyst_format fmt = ANALYST_OUT_TABLE;
        const char *since = NULL;
        int c, r, ret = CLI_EXIT_FAIL;

        memset(&l, 0, sizeof(l));
        l.since = INT64_MIN;
        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                switch (c) {
                case OPT_STORE:
                        store = optarg;
                        break;
                case OPT_SINCE:
                        since = optarg;
                        break;
                case OPT_JSON:
                case OPT_CSV:
                        if (!analyst_set_format("alerts", &fmt,
                                                c == OPT_JSON ? ANALYST_OUT_JSON
                                                              : ANALYST_OUT_CSV))
                                return CLI_EXIT_USAGE;
                        break;
                case 'h':
                        return cli_help(alerts_help);
                default:
                        return cli_bad_option("alerts", argv, c);
                }
        }
        if (optind < argc)
                return cli_unexpected("alerts", argv[optind]);
        if (since && analyst_parse_bound(since, false, &l.since) < 0)
                return cli_usage("alerts", "--since '%s' is not a date (YYYY-MM-DD), "
                                 "ISO week (YYYY-Www) or month (YYYY-MM)", since);
        if (!analyst_check_store("alerts", store))
                return CLI_EXIT_USAGE;
        if (analyst_store_open(store, &an) < 0)
                return CLI_EXIT_FAIL;
        r = analytics_foreach_alert(an, collect_alert, &l);
        if (r < 0) {
                ret = analyst_store_read_failed(store, r, l.bad[0] ? l.bad : "an alert that does not "
                                                                     "decode");
                goto out;
        }
        if (l.n) /* l.v is NULL when nothing matched */
                qsort(l.v, l.n, sizeof(*l.v), alert_cmp);
        if (fmt == ANALYST_OUT_JSON)
                r = alerts_print_json(&l);
        else if (fmt == ANALYST_OUT_CSV)
                alerts_print_csv(&l);
        else if (l.n == 0)
                fputs("no alerts match\n", stderr);
        else
                r = alerts_print_table(&l);
        if (r < 0) {
                ret = cli_fail("out of memory");
                goto out;
        }
        ret = analyst_finish_output();
out:
        alert_list_clear(&l);
        analytics_free(an);
        return ret;
}
