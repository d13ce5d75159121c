/* cmd-trend.c: `nmo-analyst trend`: reports per ISO week about one
 * material, as a small bar chart or JSON. */
#include "analyst.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "analytics.h"
#include "date.h"
#include "format.h"
#include "period.h"
#include "query.h"
#include "vocab.h"

#define TREND_WEEKS_DEFAULT 12
#define TREND_WEEKS_MAX 520
#define TREND_BAR_WIDTH 40

struct newest_ctx {
        int64_t newest;
        bool any;
        char bad[160];
};

static int find_newest_week(const Nmo__Hub__Cell *c, void *userdata)
{
        struct newest_ctx *x = userdata;
        int64_t first, last;
        int r;

        if (!query_is_week_kind(c->kind))
                return 0;
        r = query_cell_period(c, &first, &last, x->bad, sizeof(x->bad));
        if (r < 0)
                return r;
        if (!x->any || first > x->newest)
                x->newest = first;
        x->any = true;
        return 0;
}

/* The bar for value of max, TREND_BAR_WIDTH columns wide at most, in eighths
 * of a block with UTF-8, in '#' without; at least one mark for any value. */
static void print_bar(uint32_t value, uint32_t max, bool utf8)
{
        static const char *const eighths[] = { "", "▏", "▎", "▍", "▌", "▋", "▊", "▉" };

        if (!value || !max)
                return;
        if (utf8) {
                uint64_t e = ((uint64_t)value * TREND_BAR_WIDTH * 8 + max / 2) / max;

                if (e == 0)
                        e = 1;
                for (uint64_t i = 0; i < e / 8; i++)
                        fputs("█", stdout);
                fputs(eighths[e % 8], stdout);
        } else {
                uint64_t n = ((uint64_t)value * TREND_BAR_WIDTH + max / 2) / max;

                if (n == 0)
                        n = 1;
                for (uint64_t i = 0; i < n; i++)
                        fputc('#', stdout);
        }
        fputc(' ', stdout);
}

static const char trend_help[] =
        "Usage: nmo-analyst --store DIR trend --material ID [OPTIONS]\n"
        "\n"
        "Charts the reports per ISO week about one material, all event types together\n"
        "(the material roll-up cells), over the last N weeks up to the newest week in\n"
        "the store (this week when the store is empty), oldest first:\n"
        "\n"
        "  2026-W47  ██████████████ 7 (4 reporters)\n"
        "  2026-W48  ████████████████████████ 12 (5 reporters)\n"
        "\n"
        "A suppressed week shows 'x suppressed', a week without reports '·'. The bars\n"
        "use UTF-8 block characters when LC_ALL, LC_CTYPE or LANG names a UTF-8 locale,\n"
        "and '#' and '.' otherwise.\n"
        "\n"
        "Options:\n"
        "  --material ID   the material (required; 'nmo-analyst materials' lists them)\n"
        "  --weeks N       how many weeks, 1 to 520 (default 12)\n"
        "  --json          a JSON array, oldest week first, of {period, status\n"
        "                  (released, suppressed, none), reports, reporters}; reports\n"
        "                  and reporters are null unless released\n"
        "  --store DIR     the analytics store, HUB_DIR/analytics (also accepted\n"
        "                  before the command)\n"
        "  -h, --help      this help\n"
        "\n"
        ANALYST_DISCLOSURE_RULE
        "\n"
        ANALYST_RELEASES
        "\n"
        "Exit status: 0 success; 1 failure; 2 usage error, including an unknown\n"
        "material.\n";

int analyst_cmd_trend(int argc, char **argv, const char *store)
{
        static const struct option opts[] = {
                { "store", required_argument, NULL, OPT_STORE },
                { "material", required_argument, NULL, OPT_MATERIAL },
                { "weeks", required_argument, NULL, OPT_WEEKS },
                { "json", no_argument, NULL, OPT_JSON },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        struct query_filter q = { NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK, NULL, NULL, NULL,
                                INT64_MIN, INT64_MAX };
        struct analytics *an = NULL;
        struct newest_ctx newest;
        struct query_cell_list l;
        json_object *arr = NULL;
        uint32_t weeks = TREND_WEEKS_DEFAULT, max = 0;
        bool json = false, utf8 = format_utf8_locale();
        char first_week[PERIOD_STR_MAX], last_week[PERIOD_STR_MAX];
        int c, r, ret = CLI_EXIT_FAIL;

        memset(&l, 0, sizeof(l));
        memset(&newest, 0, sizeof(newest));
        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                switch (c) {
                case OPT_STORE:
                        store = optarg;
                        break;
                case OPT_MATERIAL:
                        q.material = optarg;
                        break;
                case OPT_WEEKS:
                        if (util_parse_u32(optarg, 1, TREND_WEEKS_MAX, &weeks) < 0)
                                return cli_usage("trend", "--weeks takes a whole "
                                                 "number from 1 to %d, not '%s'",
                                                 TREND_WEEKS_MAX, optarg);
                        break;
                case OPT_JSON:
                        json = true;
                        break;
                case 'h':
                        return cli_help(trend_help);
                default:
                        return cli_bad_option("trend", argv, c);
                }
        }
        if (optind < argc)
                return cli_unexpected("trend", argv[optind]);
        if (!q.material)
                return cli_required("trend", "--material ID");
        if (!analyst_check_material("trend", q.material))
                return CLI_EXIT_USAGE;
        if (!analyst_check_store("trend", store))
                return CLI_EXIT_USAGE;
        if (analyst_store_open(store, &an) < 0)
                return CLI_EXIT_FAIL;
        r = analytics_foreach_cell(an, NULL, find_newest_week, &newest);
        if (r < 0) {
                ret = analyst_store_read_failed(store, r, newest.bad);
                goto out;
        }
        if (!newest.any) {
                int64_t now = analyst_today();

                newest.newest = now - date_weekday(now);
        }
        q.to = newest.newest + 6;
        q.from = newest.newest - (int64_t)(weeks - 1) * 7;
        r = query_cells_collect(an, &q, &l);
        if (r < 0) {
                ret = analyst_store_read_failed(store, r, l.bad);
                goto out;
        }
        for (size_t i = 0; i < l.n; i++)
                if (l.v[i].suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE &&
                    l.v[i].reports > max)
                        max = l.v[i].reports;
        period_week_str(period_week_of_day(q.from), first_week, sizeof(first_week));
        period_week_str(period_week_of_day(newest.newest), last_week, sizeof(last_week));
        if (json) {
                arr = json_object_new_array();
                if (!arr) {
                        ret = cli_fail("out of memory");
                        goto out;
                }
        } else {
                printf("%s (%s): reports per ISO week, %s to %s\n", q.material,
                       vocab_material(q.material)->name, first_week, last_week);
        }
        for (uint32_t w = 0; w < weeks; w++) {
                int64_t monday = q.from + (int64_t)w * 7;
                const struct query_cell *cell = NULL;
                char period[PERIOD_STR_MAX];

                period_week_str(period_week_of_day(monday), period, sizeof(period));
                for (size_t i = 0; i < l.n && !cell; i++)
                        if (l.v[i].first_day == monday)
                                cell = &l.v[i];
                if (json) {
                        json_object *o = json_object_new_object();
                        bool released = cell && cell->suppression ==
                                                        NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;

                        if (!o || json_object_array_add(arr, o) < 0) {
                                json_object_put(o);
                                ret = cli_fail("out of memory");
                                goto out;
                        }
                        json_object_object_add(o, "period", json_object_new_string(period));
                        json_object_object_add(o, "status", json_object_new_string(
                                                       !cell ? "none"
                                                       : released ? "released"
                                                                  : "suppressed"));
                        json_object_object_add(o, "reports", released
                                                       ? json_object_new_int64(cell->reports)
                                                       : NULL);
                        json_object_object_add(o, "reporters", released
                                                       ? json_object_new_int64(cell->reporters)
                                                       : NULL);
                        continue;
                }
                printf("%s  ", period);
                if (!cell) {
                        fputs(utf8 ? "·\n" : ".\n", stdout);
                } else if (cell->suppression != NMO__HUB__SUPPRESSION__SUPPRESSION_NONE) {
                        fputs("x suppressed\n", stdout);
                } else {
                        print_bar(cell->reports, max, utf8);
                        printf("%u (%u reporters)\n", cell->reports, cell->reporters);
                }
        }
        if (json) {
                if (format_print_json(arr) < 0) {
                        ret = cli_fail("out of memory");
                        goto out;
                }
        } else {
                printf("\nx: suppressed (fewer than 3 reporting companies, or secondary "
                       "suppression); %s: no reports.\n", utf8 ? "·" : ".");
        }
        query_warn_guarded(l.guarded);
        ret = analyst_finish_output();
out:
        json_object_put(arr);
        query_cell_list_clear(&l);
        analytics_free(an);
        return ret;
}
