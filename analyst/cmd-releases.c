/* cmd-releases.c: `nmo-analyst releases`: the hub's release calendar as it
 * happened: every release, what it published, how its figures were
 * protected, and when the next one is due. */
#include "analyst.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "analytics.h"
#include "format.h"

static const char releases_help[] =
        "Usage: nmo-analyst --store DIR releases [OPTIONS]\n"
        "\n"
        "Lists the hub's releases, oldest first. The hub publishes figures on a\n"
        "calendar, not as reports arrive: a week's cells once the week is over plus\n"
        "a delay (Monday 06:00 UTC by default), and the month's cells when its epoch\n"
        "closes. What a release published never changes afterwards, and a cell it\n"
        "released is never suppressed later.\n"
        "\n"
        "Options:\n"
        "  --json         a JSON array of {id, issued, epoch, weeks, final, released,\n"
        "                 suppressed, noise_max, noise_variance, noise_volume,\n"
        "                 protection_reports, next}\n"
        "  --store DIR    the analytics store, HUB_DIR/analytics (also accepted before\n"
        "                 the command)\n"
        "  -h, --help     this help\n"
        "\n"
        "Columns:\n"
        "  ID         the release number; each cell names the release that published it\n"
        "  ISSUED     the release point (UTC)\n"
        "  EPOCH      the month whose cells it published\n"
        "  WEEKS      the weeks it published; 'final' when it also published the\n"
        "             month's cells and closed the epoch\n"
        "  RELEASED   cells published with figures\n"
        "  SUPPRESSED cells published as suppressed\n"
        "  NOISE      the counts' noise: at most N either way, and its variance\n"
        "Then the next release point.\n"
        "\n"
        "Figures carry noise (the cell key method): a count is off by at most\n"
        "noise_max either way, unbiased, and the same cell always shows the same\n"
        "figure, so that no two releases can be subtracted to reveal one report.\n"
        "Parts therefore need not add up exactly to their totals.\n"
        "\n"
        "Exit status: 0 success; 1 failure; 2 usage error.\n";

struct releases_ctx {
        struct format_table *t;
        json_object *arr;
        char next[32];
        size_t n;
};

static int release_row(const Nmo__Hub__Release *rel, void *userdata)
{
        struct releases_ctx *x = userdata;
        char weeks[64] = "";
        int r;

        x->n++;
        snprintf(x->next, sizeof(x->next), "%s", rel->next ? rel->next : "");
        for (size_t i = 0; i < rel->n_weeks; i++) {
                size_t at = strlen(weeks);

                snprintf(weeks + at, sizeof(weeks) - at, "%s%s", i ? " " : "", rel->weeks[i]);
        }
        if (rel->has_final && rel->final) {
                size_t at = strlen(weeks);

                snprintf(weeks + at, sizeof(weeks) - at, "%sfinal", at ? " " : "");
        }
        if (x->arr) {
                json_object *o = json_object_new_object(), *w = json_object_new_array();

                if (!o || !w || json_object_array_add(x->arr, o) < 0) {
                        json_object_put(o);
                        json_object_put(w);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < rel->n_weeks; i++)
                        json_object_array_add(w, json_object_new_string(rel->weeks[i]));
                json_object_object_add(o, "id", json_object_new_int64(rel->id));
                json_object_object_add(o, "issued", json_object_new_string(rel->issued ?
                                                                            rel->issued : ""));
                json_object_object_add(o, "epoch", json_object_new_string(rel->epoch ?
                                                                          rel->epoch : ""));
                json_object_object_add(o, "weeks", w);
                json_object_object_add(o, "final", json_object_new_boolean(rel->final));
                json_object_object_add(o, "released",
                                       json_object_new_int64(rel->cells_released));
                json_object_object_add(o, "suppressed",
                                       json_object_new_int64(rel->cells_suppressed));
                json_object_object_add(o, "noise_max", json_object_new_int64(rel->noise_max));
                json_object_object_add(o, "noise_variance",
                                       json_object_new_double(rel->noise_variance));
                json_object_object_add(o, "noise_volume",
                                       json_object_new_int64(rel->noise_volume));
                json_object_object_add(o, "protection_reports",
                                       json_object_new_int64(rel->protection_reports));
                json_object_object_add(o, "next", rel->next ? json_object_new_string(rel->next)
                                                            : NULL);
                return 0;
        }
        r = format_table_row(x->t);
        if (r == 0)
                r = format_table_set(x->t, 0, "%u", rel->id);
        if (r == 0)
                r = format_table_set(x->t, 1, "%s", rel->issued ? rel->issued : "");
        if (r == 0)
                r = format_table_set(x->t, 2, "%s", rel->epoch ? rel->epoch : "");
        if (r == 0)
                r = format_table_set(x->t, 3, "%s", weeks[0] ? weeks : "-");
        if (r == 0)
                r = format_table_set(x->t, 4, "%u", rel->cells_released);
        if (r == 0)
                r = format_table_set(x->t, 5, "%u", rel->cells_suppressed);
        if (r == 0)
                r = format_table_set(x->t, 6, "+-%u, var %g", rel->noise_max,
                                     rel->noise_variance);
        return r;
}

int analyst_cmd_releases(int argc, char **argv, const char *store)
{
        static const struct option opts[] = {
                { "store", required_argument, NULL, OPT_STORE },
                { "json", no_argument, NULL, OPT_JSON },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        static const char *const head[] = { "ID", "ISSUED", "EPOCH", "WEEKS", "RELEASED",
                                            "SUPPRESSED", "NOISE" };
        struct analytics *an = NULL;
        struct format_table t;
        struct releases_ctx x;
        bool json = false;
        int c, r, ret = CLI_EXIT_FAIL;

        memset(&x, 0, sizeof(x));
        format_table_init(&t, head, "rlllrrl", NMO_ARRAY_SIZE(head));
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
                        return cli_help(releases_help);
                default:
                        return cli_bad_option("releases", argv, c);
                }
        }
        if (optind < argc)
                return cli_unexpected("releases", argv[optind]);
        if (!analyst_check_store("releases", store))
                return CLI_EXIT_USAGE;
        if (analyst_store_open(store, &an) < 0)
                goto out;
        x.t = &t;
        if (json && !(x.arr = json_object_new_array())) {
                ret = cli_fail("out of memory");
                goto out;
        }
        r = analytics_foreach_release(an, release_row, &x);
        if (r < 0) {
                ret = r == -ENOMEM ? cli_fail("out of memory")
                                   : analyst_store_read_failed(store, r, "a release record");
                goto out;
        }
        if (json) {
                r = format_print_json(x.arr);
        } else {
                r = format_table_print(&t, stdout);
                if (r == 0 && x.n == 0)
                        printf("No release yet: a week's figures are released once it is over "
                               "(by default on Monday 06:00 UTC).\n");
                else if (r == 0 && x.next[0])
                        printf("Next release: %s\n", x.next);
        }
        if (r < 0) {
                ret = cli_fail("out of memory");
                goto out;
        }
        ret = analyst_finish_output();
out:
        json_object_put(x.arr);
        format_table_free(&t);
        analytics_free(an);
        return ret;
}
