/* cli.h: the command-line conventions that nmo-hub, nmo-node, nmo-keys and
 * nmo-analyst share, so that a person meets one wording and one set of exit
 * codes whichever program they run.
 *
 *   PROGRAM COMMAND --help      the command's help on stdout, exit 0
 *   PROGRAM --help, --version   the program's help or version on stdout, exit 0
 *   a usage error               two lines on stderr, exit 2:
 *       PROGRAM COMMAND: unknown option '--bogus'
 *       Try 'PROGRAM COMMAND --help'.
 *     with "option '--dir' needs a value", "unexpected argument 'X'",
 *     "--dir DIR is required", "unknown command 'X'" or the command's own
 *     reason on the first line
 *   a failure                   "PROGRAM: what went wrong" on stderr, exit 1
 *
 * Commands parse their options with getopt_long() after cli_getopt_reset()
 * (which turns getopt's own messages off), with an optstring that starts with
 * ':', and hand every '?' or ':' result to cli_bad_option().
 *
 * The program name is set once, by cli_main() or cli_set_program(), before
 * any message is printed; nothing else is kept between calls. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum {
        CLI_EXIT_OK = 0,
        CLI_EXIT_FAIL = 1,
        CLI_EXIT_USAGE = 2,
};

/* Values above any character, for options without a short form. */
#define CLI_OPT_LONG 256

/* The entries the option table of a command that takes -v and -q ends with
 * (before the NULL row), and their short letters. */
#define CLI_COMMON_OPTIONS                                   \
        { "help", no_argument, NULL, 'h' },                  \
        { "verbose", no_argument, NULL, 'v' },               \
        { "quiet", no_argument, NULL, 'q' }
#define CLI_COMMON_SHORT "hvq"

/* One command of a program: its name, the function that runs it with the
 * arguments from its name on (argv[0] is the command name; returns the exit
 * code) and a one-line summary for the program's help. */
struct cli_command {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *summary;
};

/* A program with commands: its name ("nmo-hub"), the text its help starts
 * with (usage line and description, ending in a blank line), its commands and
 * the text after the command list (options, exit status). */
struct cli_program {
        const char *name;
        const char *intro;
        const struct cli_command *commands;
        size_t ncommands;
        const char *outro;
};

/* Sets the program name that every message below starts with. */
void cli_set_program(const char *name);

/* The program name set last ("nmo" before any). */
const char *cli_program(void);

/* Prints the program's help (intro, one line per command, outro) to f. */
void cli_program_help(const struct cli_program *p, FILE *f);

/* Runs a program's command line: sets the program name; "--help", "-h" or
 * "help" print the program's help and "--version" or "-V" the version to
 * stdout (0); a command name runs that command; no command or an unknown one
 * is a usage error (2). Returns the exit code. */
int cli_main(const struct cli_program *p, int argc, char **argv);

/* Prints "PROGRAM CMD: message" and "Try 'PROGRAM CMD --help'." to stderr
 * (without CMD when it is NULL); returns CLI_EXIT_USAGE. cmd may name a
 * command and its subcommand ("member add"). */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Explains a getopt_long() '?' (unknown option) or ':' (missing value)
 * result as a usage error (opterr off, optstring starting with ':'); returns
 * CLI_EXIT_USAGE. */
int cli_bad_option(const char *cmd, char **argv, int c);

/* The usage error for an argument the command does not take. */
int cli_unexpected(const char *cmd, const char *arg);

/* The usage error for a missing option or argument: "WHAT is required". */
int cli_required(const char *cmd, const char *what);

/* Prints a command's help text to stdout; returns CLI_EXIT_OK. */
int cli_help(const char *text);

/* Prints "PROGRAM: message" to stderr; returns CLI_EXIT_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* For the default arm of a command's getopt switch: counts -v (up) and -q
 * (down) of CLI_COMMON_OPTIONS into *verbosity and returns true; false for
 * any other option (a usage error: cli_bad_option()). */
bool cli_verbosity_option(int c, int *verbosity);

/* Sets the log level from the count of -v (positive) and -q (negative). */
void cli_log_setup(int verbosity);

/* Resets getopt for a command's arguments and turns its own messages off. */
void cli_getopt_reset(void);
