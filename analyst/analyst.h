/* analyst.h: `nmo-analyst`, the GDN analysts' read-only view of the hub's
 * analytics store (HUB_DIR/analytics): cells, alerts, trends, materials.
 *
 * The analytics store holds only what disclosure control released; this tool
 * adds a second line of defence: a suppressed cell is shown without any value
 * whatever the store holds, and a "released" cell with fewer than
 * ANALYST_MIN_REPORTERS reporters is shown as suppressed. It opens the store
 * read-only (LMDB read transactions only), so it runs beside the hub.
 *
 * The analyst is built from this folder, the analytics library (analytics/),
 * proto/'s vocabularies and common/ only: the hub's private store, member
 * registry, ingest and keys are not in its include path nor in its binary
 * (tests/build/check-analyst-boundary.py checks both).
 *
 * One file per command (cmd-cells.c, cmd-alerts.c, cmd-trend.c,
 * cmd-materials.c), the command table and global help (commands.c), what the
 * commands share for their command lines beside common/cli.h (cli.c) and for
 * opening the store (open.c), the cell queries (query.h) and the output forms
 * (format.h). The commands return exit codes; only main.c exits. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "util.h"

struct analytics;

/* The smallest number of distinct reporters a released cell can have (the
 * hub's privacy.min_reporters is at least this). */
#define ANALYST_MIN_REPORTERS 3

/* In every help text. */
#define ANALYST_DISCLOSURE_RULE                                                           \
        "Disclosure rule: a cell is released only when at least 3 distinct companies\n"   \
        "reported in it (the hub may be configured to require more), and its volume\n"    \
        "only when no two companies hold more than 85% of it. Secondary suppression\n"    \
        "withholds some safe cells too, so that no released total minus its released\n"   \
        "parts reveals a suppressed cell. A suppressed cell is shown as x and carries\n"   \
        "no figures in any output.\n"

/* In the help of the commands that show figures. */
#define ANALYST_RELEASES                                                                  \
        "Releases: the hub publishes a week's figures once the week is over (Monday\n"    \
        "06:00 UTC by default) and a month's when its epoch closes; they never change\n"  \
        "afterwards ('nmo-analyst releases'). Counts carry noise of at most 2 either\n"   \
        "way (unbiased; the same cell always shows the same figure), reporters never\n"  \
        "below 3, volumes about 5 to 10% of the largest contribution; parts need not\n"  \
        "add up exactly to their totals, as in official statistics. A cell suppressed\n"  \
        "for too few reporters keeps a range of at least 2 reports against all\n"       \
        "releases together.\n"

/* In the help of every command that takes a week or a month. */
#define ANALYST_CALENDAR                                                                  \
        "Weeks are ISO weeks, Monday to Sunday, numbered in the year of their\n"         \
        "Thursday (2027-01-01 is in 2026-W53). A month (YYYY-MM) is the ISO weeks\n"     \
        "whose Thursday falls in it, as the hub's monthly cells count it: 2026-11 is\n"   \
        "2026-W45..W48, Monday 2 to Sunday 29 November 2026.\n"

/* A subcommand. fn gets the subcommand's own argc/argv (argv[0] is the
 * command's name) and the --store given before the command, or NULL; a
 * --store after the command overrides it. It parses its options with the
 * conventions of common/cli.h, checks them all before it opens the store, and
 * returns a CLI_EXIT_* code. */
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

/* The commands (cmd-*.c). */
int analyst_cmd_cells(int argc, char **argv, const char *store);
int analyst_cmd_alerts(int argc, char **argv, const char *store);
int analyst_cmd_trend(int argc, char **argv, const char *store);
int analyst_cmd_materials(int argc, char **argv, const char *store);
int analyst_cmd_releases(int argc, char **argv, const char *store);

/* ---- command lines (cli.c) ---- */

/* The long options of the commands (getopt_long values). */
enum {
        OPT_STORE = CLI_OPT_LONG,
        OPT_MATERIAL,
        OPT_EVENT,
        OPT_COUNTRY,
        OPT_FROM,
        OPT_TO,
        OPT_BY,
        OPT_ROLLUP,
        OPT_JSON,
        OPT_CSV,
        OPT_SINCE,
        OPT_WEEKS,
};

enum analyst_format {
        ANALYST_OUT_TABLE,
        ANALYST_OUT_JSON,
        ANALYST_OUT_CSV,
};

/* Flushes stdout; a full disk or closed pipe is a failure, not a silent loss.
 * Returns CLI_EXIT_OK or (after saying so) CLI_EXIT_FAIL. */
int analyst_finish_output(void);

/* Check an id against a vocabulary; on failure print a usage error for
 * command cmd naming it (with a suggestion when one is close) and return
 * false. Country codes are case-insensitive: *out gets the vocabulary's
 * spelling. */
bool analyst_check_material(const char *cmd, const char *id);
bool analyst_check_event(const char *cmd, const char *id);
bool analyst_check_country(const char *cmd, const char *id, const char **out);
/* False (after a usage error) when no --store was given. */
bool analyst_check_store(const char *cmd, const char *store);

/* Sets *out from --json / --csv; false (after a usage error) when both. */
bool analyst_set_format(const char *cmd, enum analyst_format *out, enum analyst_format f);

/* A --from/--to/--since bound: a date YYYY-MM-DD (date.h), or a week
 * YYYY-Www or month YYYY-MM (period.h: a month is its ISO weeks), standing for
 * its first day as a lower bound and its last as an upper one (upper). 0 or
 * -EINVAL. */
NMO_WUR int analyst_parse_bound(const char *s, bool upper, int64_t *day);

/* Today (UTC) as days since 1970-01-01. */
int64_t analyst_today(void);

/* ---- the store (open.c) ---- */

/* Opens the analytics store at dir read-only; on failure explains why on
 * stderr (not a store, the private store, a hub directory, permissions...)
 * and returns the negative errno. */
NMO_WUR int analyst_store_open(const char *dir, struct analytics **an);

/* Reports a failed walk of the store at dir; what: the command's detail for
 * -EBADMSG (may be NULL or empty). Returns CLI_EXIT_FAIL. */
int analyst_store_read_failed(const char *dir, int r, const char *what);
