/* cmd-materials.c: `nmo-analyst materials`: every material of the
 * vocabulary and its latest week with reports, as a table or JSON. */
#include "analyst.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "analytics.h"
#include "format.h"
#include "period.h"
#include "query.h"
#include "vocab.h"

struct material_row {
        const struct vocab_entry *e;
        bool released, suppressed;  /* has a released / a suppressed week cell */
        int64_t released_day, suppressed_day;
        uint32_t reports;           /* of the newest released week */
        char released_period[PERIOD_STR_MAX], suppressed_period[PERIOD_STR_MAX];
};

struct materials_ctx {
        struct material_row *rows;
        size_t guarded;
        char bad[160];
};

static int material_activity(const Nmo__Hub__Cell *c, void *userdata)
{
        struct materials_ctx *x = userdata;
        const struct vocab_entry *e;
        struct material_row *m;
        int64_t first, last;
        int r;

        if (c->kind != NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK)
                return 0;
        e = vocab_material(c->material);
        if (!e)
                return 0; /* a material this build's vocabulary does not know */
        r = query_cell_period(c, &first, &last, x->bad, sizeof(x->bad));
        if (r < 0)
                return r;
        m = &x->rows[e - vocab_materials];
        if (query_cell_released(c, &x->guarded)) {
                if (!m->released || first > m->released_day) {
                        m->released = true;
                        m->released_day = first;
                        m->reports = c->has_reports ? c->reports : 0;
                        snprintf(m->released_period, sizeof(m->released_period), "%s",
                                 c->period);
                }
        } else if (!m->suppressed || first > m->suppressed_day) {
                m->suppressed = true;
                m->suppressed_day = first;
                snprintf(m->suppressed_period, sizeof(m->suppressed_period), "%s", c->period);
        }
        return 0;
}

static bool material_active(const struct material_row *m, int64_t *day)
{
        if (m->released)
                *day = m->released_day;
        else if (m->suppressed)
                *day = m->suppressed_day;
        return m->released || m->suppressed;
}

/* Active materials first, newest first; then the rest; ties by id. */
static int material_cmp(const void *pa, const void *pb)
{
        const struct material_row *a = pa, *b = pb;
        int64_t da = 0, db = 0;
        bool aa = material_active(a, &da), ab = material_active(b, &db);

        if (aa != ab)
                return aa ? -1 : 1;
        if (aa && da != db)
                return da > db ? -1 : 1;
        return strcmp(a->e->id, b->e->id);
}

static const char materials_help[] =
        "Usage: nmo-analyst --store DIR materials [OPTIONS]\n"
        "\n"
        "Lists every material of the vocabulary (the EU Critical Raw Materials Act's\n"
        "critical and strategic raw materials) with its latest activity: materials\n"
        "with reports first, newest first, then the others alphabetically.\n"
        "\n"
        "Options:\n"
        "  --json         a JSON array of {material, name, status (released,\n"
        "                 suppressed, none), period, reports}\n"
        "  --store DIR    the analytics store, HUB_DIR/analytics (also accepted before\n"
        "                 the command)\n"
        "  -h, --help     this help\n"
        "\n"
        "Columns:\n"
        "  MATERIAL   the id to use with --material\n"
        "  NAME       the name in the regulation\n"
        "  LATEST     the newest ISO week with a released roll-up cell (all event\n"
        "             types); when every week with reports was suppressed, the newest\n"
        "             of those; - when there were none\n"
        "  REPORTS    reports in that week, or 'suppressed'\n"
        "\n"
        ANALYST_DISCLOSURE_RULE
        "\n"
        "Exit status: 0 success; 1 failure; 2 usage error.\n";

int analyst_cmd_materials(int argc, char **argv, const char *store)
{
        static const struct option opts[] = {
                { "store", required_argument, NULL, OPT_STORE },
                { "json", no_argument, NULL, OPT_JSON },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        static const char *const head[] = { "MATERIAL", "NAME", "LATEST", "REPORTS" };
        struct analytics *an = NULL;
        struct materials_ctx x;
        struct format_table t;
        json_object *arr = NULL;
        bool json = false;
        int c, r, ret = CLI_EXIT_FAIL;

        memset(&x, 0, sizeof(x));
        format_table_init(&t, head, "lllr", NMO_ARRAY_SIZE(head));
        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                switch (c) {
                case OPT_STORE:
                        store = optarg;
                        break;
                case OPT_JSON:
                        json = true;
                        break;
                case 'h':
                        return cli_help(materials_help);
                default:
                        return cli_bad_option("materials", argv, c);
                }
        }
        if (optind < argc)
                return cli_unexpected("materials", argv[optind]);
        if (!analyst_check_store("materials", store))
                return CLI_EXIT_USAGE;
        x.rows = calloc(vocab_materials_count, sizeof(*x.rows));
        if (!x.rows)
                return cli_fail("out of memory");
        for (size_t i = 0; i < vocab_materials_count; i++)
                x.rows[i].e = &vocab_materials[i];
        if (analyst_store_open(store, &an) < 0)
                goto out;
        r = analytics_foreach_cell(an, NULL, material_activity, &x);
        if (r < 0) {
                ret = analyst_store_read_failed(store, r, x.bad);
                goto out;
        }
        qsort(x.rows, vocab_materials_count, sizeof(*x.rows), material_cmp);
        if (json) {
                arr = json_object_new_array();
                if (!arr) {
                        ret = cli_fail("out of memory");
                        goto out;
                }
        }
        r = 0;
        for (size_t i = 0; r == 0 && i < vocab_materials_count; i++) {
                const struct material_row *m = &x.rows[i];

                if (json) {
                        json_object *o = json_object_new_object();

                        if (!o || json_object_array_add(arr, o) < 0) {
                                json_object_put(o);
                                r = -ENOMEM;
                                break;
                        }
                        json_object_object_add(o, "material", json_object_new_string(m->e->id));
                        json_object_object_add(o, "name", json_object_new_string(m->e->name));
                        json_object_object_add(o, "status", json_object_new_string(
                                                       m->released     ? "released"
                                                       : m->suppressed ? "suppressed"
                                                                       : "none"));
                        json_object_object_add(o, "period",
                                               m->released ? json_object_new_string(
                                                                     m->released_period)
                                               : m->suppressed ? json_object_new_string(
                                                                         m->suppressed_period)
                                                               : NULL);
                        json_object_object_add(o, "reports",
                                               m->released ? json_object_new_int64(m->reports)
                                                           : NULL);
                        continue;
                }
                r = format_table_row(&t);
                if (r == 0)
                        r = format_table_set(&t, 0, "%s", m->e->id);
                if (r == 0)
                        r = format_table_set(&t, 1, "%s", m->e->name);
                if (r == 0 && m->released) {
                        r = format_table_set(&t, 2, "%s", m->released_period);
                        if (r == 0)
                                r = format_table_set(&t, 3, "%u", m->reports);
                } else if (r == 0 && m->suppressed) {
                        r = format_table_set(&t, 2, "%s", m->suppressed_period);
                        if (r == 0)
                                r = format_table_set(&t, 3, "suppressed");
                } else if (r == 0) {
                        r = format_table_set(&t, 2, "-");
                }
        }
        if (r == 0)
                r = json ? format_print_json(arr) : format_table_print(&t, stdout);
        if (r < 0) {
                ret = cli_fail("out of memory");
                goto out;
        }
        query_warn_guarded(x.guarded);
        ret = analyst_finish_output();
out:
        json_object_put(arr);
        format_table_free(&t);
        free(x.rows);
        analytics_free(an);
        return ret;
}
