/* cmd-vocabulary.c: `nmo-node vocabulary` lists the ids a signal may use. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "node-cli.h"
#include "cmd.h"
#include "util.h"
#include "vocab.h"

static const char vocabulary_help[] =
        "Usage: nmo-node vocabulary materials|events|countries [--json]\n"
        "\n"
        "List the ids a signal may use: materials (EU Critical Raw Materials Act),\n"
        "event types, and ISO 3166-1 alpha-2 country codes.\n"
        "\n"
        "Options:\n"
        "  -j, --json     a JSON array of objects instead of a table\n"
        "  -v, --verbose  more log output\n"
        "  -q, --quiet    errors only\n"
        "  -h, --help     show this help\n"
        "\n"
        "Exit status: 0 success, 1 failure, 2 usage error.\n";

struct table {
        const char *name;
        const struct vocab_entry *entries;
        const size_t *count;
        const char *name_key;    /* JSON key of vocab_entry.name */
        const char *extra_key;   /* JSON key of vocab_entry.extra, NULL: none */
        const char *heading;
};

static const struct table tables[] = {
        { "materials", vocab_materials, &vocab_materials_count, "name", "critical",
          "ID  NAME  CRITICAL" },
        { "events", vocab_events, &vocab_events_count, "category", "meaning",
          "ID  CATEGORY  MEANING" },
        { "countries", vocab_countries, &vocab_countries_count, "name", NULL, "ID  NAME" },
};

static int print_json(const struct table *t)
{
        struct json_object *arr = json_object_new_array();
        int r = -ENOMEM;

        if (!arr)
                return -ENOMEM;
        for (size_t i = 0; i < *t->count; i++) {
                const struct vocab_entry *e = &t->entries[i];
                struct json_object *o = json_object_new_object();

                if (!o)
                        goto out;
                if (json_object_array_add(arr, o) < 0) {
                        json_object_put(o);
                        goto out;
                }
                if (json_object_object_add(o, "id", json_object_new_string(e->id)) < 0 ||
                    json_object_object_add(o, t->name_key, json_object_new_string(e->name)) < 0)
                        goto out;
                if (t->extra_key) {
                        struct json_object *x = strcmp(t->extra_key, "critical") == 0
                                ? json_object_new_boolean(strcmp(e->extra, "yes") == 0)
                                : json_object_new_string(e->extra);
                        if (json_object_object_add(o, t->extra_key, x) < 0)
                                goto out;
                }
        }
        puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
        r = 0;
out:
        json_object_put(arr);
        return r;
}

static void print_table(const struct table *t)
{
        size_t w_id = 2, w_name = 4;

        for (size_t i = 0; i < *t->count; i++) {
                size_t a = strlen(t->entries[i].id), b = strlen(t->entries[i].name);
                w_id = a > w_id ? a : w_id;
                w_name = b > w_name ? b : w_name;
        }
        for (size_t i = 0; i < *t->count; i++) {
                const struct vocab_entry *e = &t->entries[i];

                if (t->extra_key)
                        printf("%-*s  %-*s  %s\n", (int)w_id, e->id, (int)w_name, e->name,
                               e->extra);
                else
                        printf("%-*s  %s\n", (int)w_id, e->id, e->name);
        }
}

int cmd_vocabulary(int argc, char **argv)
{
        static const struct option opts[] = {
                { "json", no_argument, NULL, 'j' },
                CLI_COMMON_OPTIONS,
                { NULL, 0, NULL, 0 },
        };
        const struct table *t = NULL;
        bool json = false;
        int c, verbosity = 0;

        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":j" CLI_COMMON_SHORT, opts, NULL)) != -1) {
                switch (c) {
                case 'j':
                        json = true;
                        break;
                case 'h':
                        return cli_help(vocabulary_help);
                default:
                        if (cli_verbosity_option(c, &verbosity))
                                break;
                        return cli_bad_option(argv[0], argv, c);
                }
        }
        cli_log_setup(verbosity);
        if (optind == argc)
                return cli_usage(argv[0], "name one table: materials, events or countries");
        if (argc - optind > 1)
                return cli_unexpected(argv[0], argv[optind + 1]);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(tables); i++)
                if (strcmp(argv[optind], tables[i].name) == 0)
                        t = &tables[i];
        if (!t)
                return cli_usage(argv[0], "unknown table '%s' (materials, events or countries)",
                                 argv[optind]);
        if (json) {
                if (print_json(t) < 0)
                        return cli_fail("out of memory");
        } else {
                print_table(t);
        }
        if (fflush(stdout) != 0)
                return cli_fail("writing the list failed: %s", strerror(errno));
        return CLI_EXIT_OK;
}
