/* test-cli.c: one command-line convention for every program (common/cli.h).
 * Each command of nmo-hub, nmo-node, nmo-keys and nmo-analyst, run for real,
 * answers
 *   --bogus         exit 2, "PROGRAM COMMAND: unknown option '--bogus'" and
 *                   "Try 'PROGRAM COMMAND --help'." on stderr, nothing on stdout
 *   a stray extra   exit 2, "PROGRAM COMMAND: unexpected argument 'stray'" and
 *                   the same hint
 *   --help          exit 0, its help on stdout, nothing on stderr
 * and each program answers --help and --version with exit 0 and a bad command
 * with exit 2. Every command of nmo-hub and nmo-node also takes -v and -q. The commands come from one table per program; a test checks
 * that the table names every command the program's own help lists, so a new
 * command cannot be left out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "util.h"

/* One command line to try: the command (with its subcommand, if any) and the
 * arguments it takes, after which a stray argument is one too many. The
 * program's path comes from the environment, NULL when not built. */
struct cli_case {
        const char *words[2];    /* "member", "add"; words[1] may be NULL */
        const char *args[2];     /* arguments it takes before the stray */
};

struct cli_table {
        const char *program;     /* as it names itself: "nmo-hub" */
        const char *env;         /* variable with its path */
        const char *global[2];   /* options before the command (nmo-analyst --store) */
        const struct cli_case *cases;
        size_t ncases;
        bool from_help;          /* the program's help lists every command of cases */
};

static const struct cli_case hub_cases[] = {
        { { "init", NULL }, { NULL } },
        { { "serve", NULL }, { NULL } },
        { { "stats", NULL }, { NULL } },
        { { "rotate-keys", NULL }, { NULL } },
        { { "member", "add" }, { NULL } },
        { { "member", "list" }, { NULL } },
        { { "member", "show" }, { "NAME" } },
        { { "member", "suspend" }, { "NAME" } },
        { { "member", "resume" }, { "NAME" } },
        { { "member", "revoke" }, { "NAME" } },
        { { "member", "renew" }, { "NAME" } },
};

static const struct cli_case node_cases[] = {
        { { "init", NULL }, { NULL } },
        { { "submit", NULL }, { NULL } },
        { { "run", NULL }, { NULL } },
        { { "status", NULL }, { NULL } },
        { { "alerts", NULL }, { NULL } },
        { { "rotate-keys", NULL }, { NULL } },
        { { "vocabulary", NULL }, { "materials" } },
};

static const struct cli_case keys_cases[] = {
        { { "generate", NULL }, { NULL } },
        { { "show", NULL }, { "FILE" } },
        { { "fingerprint", NULL }, { "FILE" } },
        { { "protect", NULL }, { "FILE" } },
};

/* nmo-analyst's commands: they take the store before the command (a store
 * that does not exist: every line tried fails before the store is opened).
 * 0 leaves the analyst out of every check. */
#define CLI_TEST_ANALYST 1
static const struct cli_case analyst_cases[] = {
        { { "cells", NULL }, { NULL } },
        { { "alerts", NULL }, { NULL } },
        { { "trend", NULL }, { NULL } },
        { { "materials", NULL }, { NULL } },
        { { "releases", NULL }, { NULL } },
};

static const struct cli_table tables[] = {
        { "nmo-hub", "NMO_HUB", { NULL }, hub_cases, NMO_ARRAY_SIZE(hub_cases), true },
        { "nmo-node", "NMO_NODE", { NULL }, node_cases, NMO_ARRAY_SIZE(node_cases), true },
        { "nmo-keys", "NMO_KEYS", { NULL }, keys_cases, NMO_ARRAY_SIZE(keys_cases), true },
};

static const struct cli_table analyst_table = {
        "nmo-analyst", "NMO_ANALYST", { "--store", "/nonexistent" }, analyst_cases,
        NMO_ARRAY_SIZE(analyst_cases), true,
};

/* The programs to check: tables[], then the analyst's. */
static size_t ntables(void)
{
        return NMO_ARRAY_SIZE(tables) + (CLI_TEST_ANALYST ? 1 : 0);
}

static const struct cli_table *table(size_t i)
{
        return i < NMO_ARRAY_SIZE(tables) ? &tables[i] : &analyst_table;
}

/* Builds PATH GLOBAL... WORDS... then extra (up to 4 strings, NULL-ended)
 * into argv (at least 16 entries). Returns the command's name for messages
 * ("member add") in name. */
static void build(const struct cli_table *t, const struct cli_case *c, const char *const *extra,
                  char **argv, char *name, size_t namelen)
{
        size_t n = 0;

        argv[n++] = getenv(t->env);
        for (size_t i = 0; i < 2 && t->global[i]; i++)
                argv[n++] = (char *)t->global[i];
        snprintf(name, namelen, "%s%s%s", c->words[0], c->words[1] ? " " : "",
                 c->words[1] ? c->words[1] : "");
        for (size_t i = 0; i < 2 && c->words[i]; i++)
                argv[n++] = (char *)c->words[i];
        for (size_t i = 0; extra[i]; i++)
                argv[n++] = (char *)extra[i];
        argv[n] = NULL;
}

/* Runs argv and checks the exit code, that out (if given) is empty or not,
 * and that stderr is exactly want (if given) or empty. */
static void expect(char **argv, const char *what, int code, bool out_empty, const char *want)
{
        char *out = NULL, *err = NULL;
        int rc = h_run(argv, &out, &err);

        if (rc != code || (out_empty != (!out || !*out)) ||
            (want ? strcmp(err ? err : "", want) != 0 : (err && *err)))
                fail_msg("%s: exit %d (want %d)\nstdout: %s\nstderr: %s\nwanted stderr: %s",
                         what, rc, code, out ? out : "", err ? err : "",
                         want ? want : "(nothing)");
        free(out);
        free(err);
}

static void check_table(const struct cli_table *t)
{
        char *argv[16], name[64], what[256], want[512];
        const char *extra[6];

        if (!getenv(t->env)) {
                printf("# %s not built: skipped\n", t->program);
                return;
        }
        for (size_t i = 0; i < t->ncases; i++) {
                const struct cli_case *c = &t->cases[i];
                size_t n = 0;

                /* --bogus */
                extra[0] = "--bogus";
                extra[1] = NULL;
                build(t, c, extra, argv, name, sizeof(name));
                snprintf(what, sizeof(what), "%s %s --bogus", t->program, name);
                snprintf(want, sizeof(want),
                         "%s %s: unknown option '--bogus'\nTry '%s %s --help'.\n", t->program,
                         name, t->program, name);
                expect(argv, what, 2, true, want);

                /* ARGS... stray */
                for (size_t k = 0; k < 2 && c->args[k]; k++)
                        extra[n++] = c->args[k];
                extra[n++] = "stray";
                extra[n] = NULL;
                build(t, c, extra, argv, name, sizeof(name));
                snprintf(what, sizeof(what), "%s %s ... stray", t->program, name);
                snprintf(want, sizeof(want),
                         "%s %s: unexpected argument 'stray'\nTry '%s %s --help'.\n",
                         t->program, name, t->program, name);
                expect(argv, what, 2, true, want);

                /* --help */
                extra[0] = "--help";
                extra[1] = NULL;
                build(t, c, extra, argv, name, sizeof(name));
                snprintf(what, sizeof(what), "%s %s --help", t->program, name);
                expect(argv, what, 0, false, NULL);
        }
}

static void test_commands(void **state)
{
        (void)state;
        for (size_t i = 0; i < ntables(); i++)
                check_table(table(i));
}

/* Every command that `PROGRAM --help` lists under "Commands:" has a row. */
static void test_tables_complete(void **state)
{
        (void)state;
        for (size_t i = 0; i < ntables(); i++) {
                const struct cli_table *t = table(i);
                char *argv[] = { getenv(t->env), "--help", NULL };
                char *out = NULL, *line, *save = NULL;
                bool in_list = false;
                size_t listed = 0;

                if (!argv[0] || !t->from_help)
                        continue;
                assert_int_equal(h_run(argv, &out, NULL), 0);
                assert_non_null(out);
                for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                        char cmd[64];
                        bool found = false;

                        /* The list: the indented lines after "Commands:". */
                        if (strcmp(line, "Commands:") == 0) {
                                in_list = true;
                                continue;
                        }
                        if (strncmp(line, "  ", 2) != 0)
                                in_list = false;
                        if (!in_list || sscanf(line, "%63s", cmd) != 1)
                                continue;
                        listed++;
                        for (size_t k = 0; k < t->ncases; k++)
                                found = found || strcmp(t->cases[k].words[0], cmd) == 0;
                        if (!found)
                                fail_msg("%s %s is listed in its help but not tested",
                                         t->program, cmd);
                }
                if (listed == 0)
                        fail_msg("%s --help lists no command", t->program);
                free(out);
        }
}

static void test_program_level(void **state)
{
        (void)state;
        for (size_t i = 0; i < ntables(); i++) {
                const struct cli_table *t = table(i);
                char *bin = getenv(t->env);
                char *help[] = { bin, "--help", NULL };
                char *version[] = { bin, "--version", NULL };
                char *bogus[] = { bin, "bogus-command", NULL };
                char *none[] = { bin, NULL };
                char want[256];

                if (!bin)
                        continue;
                expect(help, t->program, 0, false, NULL);
                expect(version, t->program, 0, false, NULL);
                snprintf(want, sizeof(want),
                         "%s: unknown command 'bogus-command'\nTry '%s --help'.\n", t->program,
                         t->program);
                expect(bogus, t->program, 2, true, want);
                snprintf(want, sizeof(want), "%s: missing command\nTry '%s --help'.\n",
                         t->program, t->program);
                expect(none, t->program, 2, true, want);
        }
}

/* Every command of the daemons' programs (nmo-hub, nmo-node) takes -v and -q
 * (they go before --help, which then answers) and its help says so. */
static void test_verbose_quiet(void **state)
{
        (void)state;
        for (size_t i = 0; i < 2; i++) {
                const struct cli_table *t = &tables[i];
                char *bin = getenv(t->env);

                if (!bin)
                        continue;
                for (size_t k = 0; k < t->ncases; k++) {
                        const struct cli_case *cs = &t->cases[k];
                        char *argv[6], *out = NULL;
                        size_t n = 0;
                        int rc;

                        for (int flag = 0; flag < 2; flag++) {
                                n = 0;
                                argv[n++] = bin;
                                argv[n++] = (char *)cs->words[0];
                                if (cs->words[1])
                                        argv[n++] = (char *)cs->words[1];
                                argv[n++] = flag ? "-q" : "-v";
                                argv[n++] = "--help";
                                argv[n] = NULL;
                                rc = h_run(argv, &out, NULL);
                                if (rc != 0)
                                        fail_msg("%s %s%s%s %s --help: exit %d", t->program,
                                                 cs->words[0], cs->words[1] ? " " : "",
                                                 cs->words[1] ? cs->words[1] : "", argv[n - 2], rc);
                                if (!out || !strstr(out, "--quiet") || !strstr(out, "--verbose"))
                                        fail_msg("%s %s: its help does not mention --verbose "
                                                 "and --quiet", t->program, cs->words[0]);
                                free(out);
                                out = NULL;
                        }
                }
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_commands),
                cmocka_unit_test(test_tables_complete),
                cmocka_unit_test(test_program_level),
                cmocka_unit_test(test_verbose_quiet),
        };

        return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
