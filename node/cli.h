/* cli.h: what every nmo-node command shares: exit codes, the common options
 * (--help, --verbose, --quiet), option errors and failure messages.
 *
 * Exit codes: 0 success, 1 failure (one line on stderr saying what and which
 * file or option), 2 usage error (and a hint to --help), 3 disk full (submit). */
#pragma once

#include <getopt.h>
#include <stdbool.h>

#include "util.h"

struct json_object;

enum {
        CLI_EXIT_OK = 0,
        CLI_EXIT_FAIL = 1,
        CLI_EXIT_USAGE = 2,
        /* The disk holding the node directory is full (submit: nothing queued). */
        CLI_EXIT_DISK_FULL = 3,
};

/* Values above any character, for options without a short form. */
#define CLI_OPT_LONG 256

/* The entries every command's option table ends with (before the NULL row). */
#define CLI_COMMON_OPTIONS                                   \
        { "help", no_argument, NULL, 'h' },                  \
        { "verbose", no_argument, NULL, 'v' },               \
        { "quiet", no_argument, NULL, 'q' }

/* Short option letters of CLI_COMMON_OPTIONS. */
#define CLI_COMMON_SHORT "hvq"

/* Prints "nmo-node CMD: message" and the --help hint to stderr; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Explains a getopt_long() '?' or ':' result (opterr is off; optstring starts
 * with ':'); returns 2. */
int cli_bad_option(const char *cmd, char **argv, int c);

/* Prints "nmo-node: message" to stderr; returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sets the log level from the count of -v (positive) and -q (negative). */
void cli_log_setup(int verbosity);

/* Resets getopt for a command's arguments and turns its own messages off. */
void cli_getopt_reset(void);

/* Adds val to the JSON object obj under key, taking ownership of val (freed on
 * failure). A NULL val is an allocation failure unless nullable, when it adds
 * a JSON null. Returns 0 or -ENOMEM. */
NMO_WUR int cli_json_add(struct json_object *obj, const char *key, struct json_object *val,
                         bool nullable);
