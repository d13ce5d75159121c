/* analyst.h: `nmo-analyst`, the GDN analysts' read-only view of the hub's
 * analytics store (HUB_DIR/analytics): cells, alerts, trends, materials.
 *
 * The analytics store holds only what disclosure control released; this tool
 * adds a second line of defence: a suppressed cell is shown without any value
 * whatever the store holds, and a "released" cell with fewer than
 * ANALYST_MIN_REPORTERS reporters is shown as suppressed. It opens the store
 * read-only (LMDB read transactions only), so it runs beside the hub.
 *
 * The commands return exit codes; only analyst-main.c exits. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define ANALYST_EXIT_OK 0
#define ANALYST_EXIT_FAIL 1
#define ANALYST_EXIT_USAGE 2

/* The smallest number of distinct reporters a released cell can have (the
 * hub's privacy.min_reporters is at least this). */
#define ANALYST_MIN_REPORTERS 3

/* A subcommand. fn gets the subcommand's own argc/argv (argv[0] names the
 * command as "nmo-analyst NAME", for getopt's messages) and the --store given
 * before the command, or NULL; a --store after the command overrides it.
 * It returns an ANALYST_EXIT_* code. */
struct analyst_command {
        const char *name;
        int (*fn)(int argc, char **argv, const char *store);
        const char *summary;
};

extern const struct analyst_command analyst_commands[];
extern const size_t analyst_commands_count;

/* The global help text (usage, commands, options, disclosure rule, exit codes). */
extern const char analyst_help[];

/* Finds a command by name; NULL when there is none. */
const struct analyst_command *analyst_command_find(const char *name);

/* Prints "nmo-analyst[ CMD]: " and the formatted message, then a --help hint,
 * to stderr; returns ANALYST_EXIT_USAGE. cmd may be NULL. */
int analyst_usage_error(const char *cmd, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Parses a strict "YYYY-MM-DD" (a real calendar date, years 0001..9999) into
 * days since 1970-01-01. -EINVAL otherwise. */
NMO_WUR int analyst_parse_date(const char *s, int64_t *day);

/* Parses a period as the store names them, "YYYY-Www" (an ISO week that exists
 * in that year) or "YYYY-MM", into its first and last day (days since
 * 1970-01-01): Monday..Sunday of the week, or the calendar month. -EINVAL when
 * malformed. *is_week (may be NULL) tells which form it was. */
NMO_WUR int analyst_period_range(const char *period, int64_t *first, int64_t *last,
                                 bool *is_week);

/* Formats the ISO week that contains day as "YYYY-Www" into buf (>= 9 bytes). */
void analyst_week_of(int64_t day, char *buf, size_t len);
