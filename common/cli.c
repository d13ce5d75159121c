/* cli.c: the shared command-line helpers. See cli.h. */
#include "cli.h"

#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "log.h"
#include "nmo-config.h"

/* Set once by main() before anything is printed; a pointer to a string
 * literal or argv, never freed. */
static const char *cli_name = "nmo";

void cli_set_program(const char *name)
{
        if (name)
                cli_name = name;
}

const char *cli_program(void)
{
        return cli_name;
}

void cli_program_help(const struct cli_program *p, FILE *f)
{
        fputs(p->intro, f);
        fputs("Commands:\n", f);
        for (size_t i = 0; i < p->ncommands; i++)
                fprintf(f, "  %-12s %s\n", p->commands[i].name, p->commands[i].summary);
        fputs(p->outro, f);
}

int cli_main(const struct cli_program *p, int argc, char **argv)
{
        cli_set_program(p->name);
        log_setup(p->name, LOG_LEVEL_INFO);
        if (argc < 2)
                return cli_usage(NULL, "missing command");
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                cli_program_help(p, stdout);
                return CLI_EXIT_OK;
        }
        if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
                printf("%s %s\n", p->name, NMO_VERSION);
                return CLI_EXIT_OK;
        }
        for (size_t i = 0; i < p->ncommands; i++)
                if (strcmp(argv[1], p->commands[i].name) == 0)
                        return p->commands[i].fn(argc - 1, argv + 1);
        return cli_usage(NULL, "unknown command '%s'", argv[1]);
}

static int vusage(const char *cmd, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

static int vusage(const char *cmd, const char *fmt, va_list ap)
{
        const char *sep = cmd ? " " : "";

        if (!cmd)
                cmd = "";
        fprintf(stderr, "%s%s%s: ", cli_name, sep, cmd);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\nTry '%s%s%s --help'.\n", cli_name, sep, cmd);
        return CLI_EXIT_USAGE;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vusage(cmd, fmt, ap);
        va_end(ap);
        return r;
}

int cli_bad_option(const char *cmd, char **argv, int c)
{
        const char *arg = optind > 0 ? argv[optind - 1] : "";

        if (c == ':')
                return cli_usage(cmd, "option '%s' needs a value", arg);
        /* An unknown letter inside a group ("-xz") is reported by itself. */
        if (optopt > 0 && optopt < 128 && isprint(optopt))
                return cli_usage(cmd, "unknown option '-%c'", optopt);
        return cli_usage(cmd, "unknown option '%s'", arg);
}

int cli_unexpected(const char *cmd, const char *arg)
{
        return cli_usage(cmd, "unexpected argument '%s'", arg);
}

int cli_required(const char *cmd, const char *what)
{
        return cli_usage(cmd, "%s is required", what);
}

int cli_help(const char *text)
{
        fputs(text, stdout);
        return CLI_EXIT_OK;
}

int cli_fail(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "%s: ", cli_name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return CLI_EXIT_FAIL;
}

bool cli_verbosity_option(int c, int *verbosity)
{
        if (c == 'v')
                (*verbosity)++;
        else if (c == 'q')
                (*verbosity)--;
        else
                return false;
        return true;
}

void cli_log_setup(int verbosity)
{
        enum log_level level = LOG_LEVEL_INFO;

        if (verbosity > 0)
                level = LOG_LEVEL_DEBUG;
        else if (verbosity < 0)
                level = LOG_LEVEL_ERROR;
        log_setup(cli_name, level);
}

void cli_getopt_reset(void)
{
        /* 0, not 1: glibc then starts afresh, so an optstring's '+' from an
         * earlier scan (nmo-analyst's global options) does not stay in force. */
        optind = 0;
        opterr = 0;
}
