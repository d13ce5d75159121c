/* cmd-cells.c: `nmo-analyst cells`: released and suppressed cells of one
 * kind (event-week, event-month, material-week, country-week), filtered by
 * material, event, country and period, as a table, JSON or CSV. */
#include "analyst.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "analytics.h"
#include "format.h"
#include "query.h"

/* A count of the store's arrays in the order the output names them. */
struct count_field {
        const char *json;
        const char *csv;
        unsigned int index;
};

static const struct count_field severity_fields[] = {
        { "low", "severity_low", 0 },
        { "medium", "severity_medium", 1 },
        { "high", "severity_high", 2 },
        { "critical", "severity_critical", 3 },
};

static const struct count_field status_fields[] = {
        { "rumour", "event_status_rumour", 1 },
        { "announced", "event_status_announced", 2 },
        { "in_effect", "event_status_in_effect", 3 },
        { "ended", "event_status_ended", 4 },
        { "unspecified", "event_status_unspecified", 0 },
};

static const struct count_field share_fields[] = {
        { "<10", "share_lt10", 1 },
        { "10-25", "share_10_25", 2 },
        { "25-50", "share_25_50", 3 },
        { "50-75", "share_50_75", 4 },
        { ">75", "share_gt75", 5 },
        { "unspecified", "share_unspecified", 0 },
};

static const char *volume_status_name(Nmo__Hub__VolumeStatus s)
{
        switch (s) {
        case NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED:
                return "released";
        case NMO__HUB__VOLUME_STATUS__VOLUME_NOT_GIVEN:
                return "not-given";
        default:
                return "dominance";
        }
}

static json_object *counts_json(const struct count_field *f, size_t n, const uint32_t *v)
{
        json_object *o = json_object_new_object();

        for (size_t i = 0; o && i < n; i++)
                json_object_object_add(o, f[i].json, json_object_new_int64(v[f[i].index]));
        return o;
}

static json_object *cell_json(const void *item)
{
        const struct query_cell *c = item;
        json_object *o = json_object_new_object(), *notes;
        bool released = c->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;

        if (!o)
                return NULL;
        json_object_object_add(o, "kind", json_object_new_string(analytics_kind_name(c->kind)));
        json_object_object_add(o, "period", json_object_new_string(c->period));
        json_object_object_add(o, "material", json_object_new_string(c->material));
        json_object_object_add(o, "event", c->kind == NMO__HUB__CELL_KIND__CELL_EVENT_WEEK ||
                                                   c->kind == NMO__HUB__CELL_KIND__CELL_EVENT_MONTH
                                           ? json_object_new_string(c->event)
                                           : NULL);
        if (c->kind == NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK)
                json_object_object_add(o, "country", json_object_new_string(c->country));
        json_object_object_add(o, "status",
                               json_object_new_string(released ? "released" : "suppressed"));
        json_object_object_add(o, "final", json_object_new_boolean(c->final));
        if (c->release)
                json_object_object_add(o, "release", json_object_new_int64(c->release));
        if (!released) {
                json_object_object_add(o, "suppression", json_object_new_string(
                                               analytics_suppression_name(c->suppression)));
                return o;
        }
        json_object_object_add(o, "reporters", json_object_new_int64(c->reporters));
        json_object_object_add(o, "reports", json_object_new_int64(c->reports));
        json_object_object_add(o, "severity", counts_json(severity_fields,
                                                          NMO_ARRAY_SIZE(severity_fields),
                                                          c->severity));
        json_object_object_add(o, "event_status", counts_json(status_fields,
                                                              NMO_ARRAY_SIZE(status_fields),
                                                              c->status));
        json_object_object_add(o, "share", counts_json(share_fields, NMO_ARRAY_SIZE(share_fields),
                                                       c->share));
        json_object_object_add(o, "volume_t",
                               c->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED
                                       ? json_object_new_uint64(c->volume_t)
                                       : NULL);
        json_object_object_add(o, "volume_status",
                               json_object_new_string(volume_status_name(c->volume_status)));
        notes = json_object_new_array();
        for (size_t i = 0; notes && i < c->n_notes; i++)
                json_object_array_add(notes, json_object_new_string(c->notes[i]));
        json_object_object_add(o, "notes", notes);
        return o;
}

NMO_WUR static int cells_print_json(const struct query_cell_list *l)
{
        return format_print_json_array(l->v, l->n, sizeof(*l->v), cell_json);
}

NMO_WUR static int cells_print_csv(const struct query_cell_list *l)
{
        static const char *const head[] = { "kind", "period", "material", "event", "country",
                                            "status", "suppression", "final", "reporters",
                                            "reports" };

        format_csv_header(stdout, head, NMO_ARRAY_SIZE(head));
        for (size_t i = 0; i < NMO_ARRAY_SIZE(severity_fields); i++)
                format_csv_field(stdout, severity_fields[i].csv, false);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(status_fields); i++)
                format_csv_field(stdout, status_fields[i].csv, false);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(share_fields); i++)
                format_csv_field(stdout, share_fields[i].csv, false);
        fputs(",volume_t,volume_status,notes\n", stdout);
        for (size_t i = 0; i < l->n; i++) {
                const struct query_cell *c = &l->v[i];
                bool released = c->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;
                size_t nvalues = 2 + NMO_ARRAY_SIZE(severity_fields) +
                                 NMO_ARRAY_SIZE(status_fields) + NMO_ARRAY_SIZE(share_fields) +
                                 3;

                format_csv_field(stdout, analytics_kind_name(c->kind), true);
                format_csv_field(stdout, c->period, false);
                format_csv_field(stdout, c->material, false);
                format_csv_field(stdout, c->event, false);
                format_csv_field(stdout, c->country, false);
                format_csv_field(stdout, released ? "released" : "suppressed", false);
                format_csv_field(stdout,
                                 released ? NULL : analytics_suppression_name(c->suppression),
                                 false);
                format_csv_field(stdout, c->final ? "true" : "false", false);
                if (!released) {
                        for (size_t k = 0; k < nvalues; k++)
                                fputc(',', stdout);
                        fputc('\n', stdout);
                        continue;
                }
                format_csv_u64(stdout, c->reporters);
                format_csv_u64(stdout, c->reports);
                for (size_t k = 0; k < NMO_ARRAY_SIZE(severity_fields); k++)
                        format_csv_u64(stdout, c->severity[severity_fields[k].index]);
                for (size_t k = 0; k < NMO_ARRAY_SIZE(status_fields); k++)
                        format_csv_u64(stdout, c->status[status_fields[k].index]);
                for (size_t k = 0; k < NMO_ARRAY_SIZE(share_fields); k++)
                        format_csv_u64(stdout, c->share[share_fields[k].index]);
                if (c->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED)
                        format_csv_u64(stdout, c->volume_t);
                else
                        fputc(',', stdout);
                format_csv_field(stdout, volume_status_name(c->volume_status), false);
                fputc(',', stdout);
                if (c->n_notes) {
                        size_t len = 0;
                        char *joined;

                        for (size_t k = 0; k < c->n_notes; k++)
                                len += strlen(c->notes[k]) + 3;
                        joined = malloc(len + 1);
                        if (!joined)
                                return -ENOMEM;
                        joined[0] = 0;
                        for (size_t k = 0; k < c->n_notes; k++) {
                                if (k)
                                        strcat(joined, " | ");
                                strcat(joined, c->notes[k]);
                        }
                        format_csv_field(stdout, joined, true);
                        free(joined);
                }
                fputc('\n', stdout);
        }
        return 0;
}

NMO_WUR static int cells_print_table(const struct query_cell_list *l)
{
        static const char *const head_event[] = { "PERIOD", "MATERIAL", "EVENT", "STATUS",
                                                  "REPORTERS", "REPORTS", "SEVERITY", "VOLUME",
                                                  "FINAL" };
        static const char *const head_country[] = { "PERIOD", "MATERIAL", "COUNTRY", "STATUS",
                                                    "REPORTERS", "REPORTS", "SEVERITY",
                                                    "VOLUME", "FINAL" };
        static const char *const head_material[] = { "PERIOD", "MATERIAL", "STATUS",
                                                     "REPORTERS", "REPORTS", "SEVERITY",
                                                     "VOLUME", "FINAL" };
        Nmo__Hub__CellKind kind = l->v[0].kind;
        bool has_third = kind != NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK;
        struct format_table t;
        int r = 0;

        if (!has_third)
                format_table_init(&t, head_material, "lllrrlrl", NMO_ARRAY_SIZE(head_material));
        else if (kind == NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK)
                format_table_init(&t, head_country, "llllrrlrl", NMO_ARRAY_SIZE(head_country));
        else
                format_table_init(&t, head_event, "llllrrlrl", NMO_ARRAY_SIZE(head_event));
        for (size_t i = 0; r == 0 && i < l->n; i++) {
                const struct query_cell *c = &l->v[i];
                bool released = c->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;
                size_t col = 0;

                r = format_table_row(&t);
                if (r == 0)
                        r = format_table_set(&t, col++, "%s", c->period);
                if (r == 0)
                        r = format_table_set(&t, col++, "%s", c->material);
                if (r == 0 && has_third)
                        r = format_table_set(&t, col++, "%s",
                                      kind == NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK ? c->country
                                                                                     : c->event);
                if (r == 0)
                        r = format_table_set(&t, col++, "%s", released ? "released" : "suppressed");
                if (r == 0 && !released) {
                        for (int k = 0; r == 0 && k < 4; k++)
                                r = format_table_set(&t, col++, "x");
                } else if (r == 0) {
                        r = format_table_set(&t, col++, "%u", c->reporters);
                        if (r == 0)
                                r = format_table_set(&t, col++, "%u", c->reports);
                        if (r == 0)
                                r = format_table_set(&t, col++, "L%u M%u H%u C%u", c->severity[0],
                                              c->severity[1], c->severity[2], c->severity[3]);
                        if (r == 0 && c->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED)
                                r = format_table_set(&t, col++, "%llu", (unsigned long long)c->volume_t);
                        else if (r == 0 && c->volume_status ==
                                                   NMO__HUB__VOLUME_STATUS__VOLUME_NOT_GIVEN)
                                r = format_table_set(&t, col++, "-");
                        else if (r == 0)
                                r = format_table_set(&t, col++, "x"); /* withheld: dominance */
                }
                if (r == 0)
                        r = format_table_set(&t, col++, "%s", c->final ? "yes" : "no");
                for (size_t k = 0; r == 0 && released && k < c->n_notes; k++)
                        r = format_table_extra(&t, "    note: ", c->notes[k]);
        }
        if (r == 0)
                r = format_table_print(&t, stdout);
        format_table_free(&t);
        if (r < 0)
                return r;
        fputs("\nx: suppressed. A cell is released only with at least 3 distinct reporting\n"
              "companies, a volume only when no two companies hold more than 85% of it, and\n"
              "secondary suppression withholds further cells so totals cannot reveal them.\n"
              "-: no volume given. VOLUME in tonnes per year. FINAL yes: the epoch is closed.\n",
              stdout);
        return 0;
}

static const char cells_help[] =
        "Usage: nmo-analyst --store DIR cells [OPTIONS]\n"
        "\n"
        "Lists cells: what members reported about a material and an event type (or an\n"
        "origin country, or all events) in one ISO week or month, as released by the\n"
        "hub's disclosure control, newest period first.\n"
        "\n"
        "Options:\n"
        "  --material ID       only this material ('nmo-analyst materials' lists them)\n"
        "  --event ID          only this event type (export-ban, strike, ...)\n"
        "  --country CC        only this origin country (ISO 3166-1 alpha-2, e.g. CN);\n"
        "                      needs --rollup country\n"
        "  --from WHEN         only periods that end on or after WHEN\n"
        "  --to WHEN           only periods that start on or before WHEN\n"
        "                      WHEN is a date (YYYY-MM-DD), or a whole ISO week\n"
        "                      (YYYY-Www) or month (YYYY-MM): from its first day, to\n"
        "                      its last. A week matches when its Monday..Sunday\n"
        "                      overlaps the range, a month when any of its days does.\n"
        "  --by week|month     cells per material, event type and ISO week (default) or\n"
        "                      month\n"
        "  --rollup material   per material and week, all event types together\n"
        "  --rollup country    per material, origin country and week\n"
        "  --json              a JSON array, one object per cell (see below)\n"
        "  --csv               CSV (RFC 4180) with a header row\n"
        "  --store DIR         the analytics store, HUB_DIR/analytics (also accepted\n"
        "                      before the command)\n"
        "  -h, --help          this help\n"
        "\n"
        "Columns:\n"
        "  PERIOD     ISO week (2026-W48: Monday to Sunday) or month (2026-11)\n"
        "  MATERIAL   material id\n"
        "  EVENT      event type id; COUNTRY with --rollup country; none with\n"
        "             --rollup material\n"
        "  STATUS     released, or suppressed by the disclosure rule\n"
        "  REPORTERS  distinct reporting companies (with noise, never below 3)\n"
        "  REPORTS    signals reported (with noise)\n"
        "  SEVERITY   reports by severity: L low, M medium, H high, C critical\n"
        "  VOLUME     affected volume summed over the reports, tonnes per year; x when\n"
        "             the dominance rule withholds it, - when no reporter gave one\n"
        "  FINAL      yes when the period's epoch is closed\n"
        "Notes that reporters consented to share are printed indented under their cell.\n"
        "A suppressed cell shows x in every value column.\n"
        "\n"
        "JSON: kind (event-week, event-month, material-week, country-week), period,\n"
        "material, event (null for roll-ups), country (country cells only), status\n"
        "(released, suppressed), final and release (its release's id). A released\n"
        "cell adds reporters, reports,\n"
        "severity {low, medium, high, critical}, event_status {rumour, announced,\n"
        "in_effect, ended, unspecified}, share (of the reporter's supply affected)\n"
        "{<10, 10-25, 25-50, 50-75, >75, unspecified}, volume_t (null unless\n"
        "released), volume_status (released, dominance, not-given) and notes. A\n"
        "suppressed cell adds only suppression (frequency, secondary).\n"
        "CSV: the same, flattened: severity_low.., event_status_rumour..,\n"
        "share_lt10, share_10_25, .., share_gt75, share_unspecified; notes joined with\n"
        "\" | \". The value columns of a suppressed row are empty.\n"
        "\n"
        ANALYST_CALENDAR
        "\n"
        ANALYST_DISCLOSURE_RULE
        "Figures carry noise; see 'nmo-analyst releases --help'.\n"
        "\n"
        "Exit status: 0 success, also when no cell matches (the table form says so on\n"
        "stderr; JSON prints []); 1 failure (store missing, unreadable or damaged);\n"
        "2 usage error, including an unknown material, event type or country and a\n"
        "malformed date.\n";

int analyst_cmd_cells(int argc, char **argv, const char *store)
{
        static const struct option opts[] = {
                { "store", required_argument, NULL, OPT_STORE },
                { "material", required_argument, NULL, OPT_MATERIAL },
                { "event", required_argument, NULL, OPT_EVENT },
                { "country", required_argument, NULL, OPT_COUNTRY },
                { "from", required_argument, NULL, OPT_FROM },
                { "to", required_argument, NULL, OPT_TO },
                { "by", required_argument, NULL, OPT_BY },
                { "rollup", required_argument, NULL, OPT_ROLLUP },
                { "json", no_argument, NULL, OPT_JSON },
                { "csv", no_argument, NULL, OPT_CSV },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        struct query_filter q = { NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, NULL, NULL, NULL,
                                INT64_MIN, INT64_MAX };
        struct analytics *an = NULL;
        struct query_cell_list l;
        enum analyst_format fmt = ANALYST_OUT_TABLE;
        const char *by = NULL, *rollup = NULL, *from = NULL, *to = NULL;
        int c, r, ret = CLI_EXIT_FAIL;

        memset(&l, 0, sizeof(l));
        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                switch (c) {
                case OPT_STORE:
                        store = optarg;
                        break;
                case OPT_MATERIAL:
                        q.material = optarg;
                        break;
                case OPT_EVENT:
                        q.event = optarg;
                        break;
                case OPT_COUNTRY:
                        q.country = optarg;
                        break;
                case OPT_FROM:
                        from = optarg;
                        break;
                case OPT_TO:
                        to = optarg;
                        break;
                case OPT_BY:
                        by = optarg;
                        break;
                case OPT_ROLLUP:
                        rollup = optarg;
                        break;
                case OPT_JSON:
                case OPT_CSV:
                        if (!analyst_set_format("cells", &fmt,
                                                c == OPT_JSON ? ANALYST_OUT_JSON
                                                              : ANALYST_OUT_CSV))
                                return CLI_EXIT_USAGE;
                        break;
                case 'h':
                        return cli_help(cells_help);
                default:
                        return cli_bad_option("cells", argv, c);
                }
        }
        if (optind < argc)
                return cli_unexpected("cells", argv[optind]);
        if (by && strcmp(by, "week") != 0 && strcmp(by, "month") != 0)
                return cli_usage("cells", "--by takes week or month, not '%s'", by);
        if (rollup && strcmp(rollup, "material") != 0 && strcmp(rollup, "country") != 0)
                return cli_usage("cells", "--rollup takes material or country, not "
                                 "'%s'", rollup);
        if (rollup && by && strcmp(by, "month") == 0)
                return cli_usage("cells", "roll-ups are weekly: --by month cannot be "
                                 "combined with --rollup");
        if (rollup && q.event)
                return cli_usage("cells", "--event cannot be combined with --rollup "
                                 "%s (roll-ups add up all event types)", rollup);
        if (q.country && !(rollup && strcmp(rollup, "country") == 0))
                return cli_usage("cells", "--country selects country cells: add "
                                 "--rollup country");
        if (q.material && !analyst_check_material("cells", q.material))
                return CLI_EXIT_USAGE;
        if (q.event && !analyst_check_event("cells", q.event))
                return CLI_EXIT_USAGE;
        if (q.country && !analyst_check_country("cells", q.country, &q.country))
                return CLI_EXIT_USAGE;
        if (from && analyst_parse_bound(from, false, &q.from) < 0)
                return cli_usage("cells", "--from '%s' is not a date (YYYY-MM-DD), "
                                 "ISO week (YYYY-Www) or month (YYYY-MM)", from);
        if (to && analyst_parse_bound(to, true, &q.to) < 0)
                return cli_usage("cells", "--to '%s' is not a date (YYYY-MM-DD), "
                                 "ISO week (YYYY-Www) or month (YYYY-MM)", to);
        if (q.from > q.to)
                return cli_usage("cells", "--from %s is after --to %s", from, to);
        if (!analyst_check_store("cells", store))
                return CLI_EXIT_USAGE;
        if (rollup)
                q.kind = strcmp(rollup, "material") == 0
                                 ? NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK
                                 : NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK;
        else if (by && strcmp(by, "month") == 0)
                q.kind = NMO__HUB__CELL_KIND__CELL_EVENT_MONTH;

        if (analyst_store_open(store, &an) < 0)
                return CLI_EXIT_FAIL;
        r = query_cells_collect(an, &q, &l);
        if (r < 0) {
                ret = analyst_store_read_failed(store, r, l.bad);
                goto out;
        }
        if (l.n) /* l.v is NULL when nothing matched */
                qsort(l.v, l.n, sizeof(*l.v), query_cell_cmp);
        if (fmt == ANALYST_OUT_JSON) {
                r = cells_print_json(&l);
        } else if (fmt == ANALYST_OUT_CSV) {
                r = cells_print_csv(&l);
        } else if (l.n == 0) {
                fputs("no cells match\n", stderr);
        } else {
                r = cells_print_table(&l);
        }
        if (r < 0) {
                ret = cli_fail("out of memory");
                goto out;
        }
        query_warn_guarded(l.guarded);
        ret = analyst_finish_output();
out:
        query_cell_list_clear(&l);
        analytics_free(an);
        return ret;
}
