/* cli.c: shared command-line helpers. See cli.h. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <json-c/json.h>

#include "log.h"

int cli_usage(const char *cmd, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "nmo-node %s: ", cmd);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'nmo-node %s --help'.\n", cmd);
        return CLI_EXIT_USAGE;
}

int cli_bad_option(const char *cmd, char **argv, int c)
{
        const char *arg = optind > 0 ? argv[optind - 1] : "";

        if (c == ':')
                return cli_usage(cmd, "option '%s' needs a value", arg);
        if (optopt > 0 && optopt < 128 && isprint(optopt))
                return cli_usage(cmd, "unknown option '-%c'", optopt);
        return cli_usage(cmd, "unknown option '%s'", arg);
}

int cli_fail(const char *fmt, ...)
{
        va_list ap;

        fputs("nmo-node: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return CLI_EXIT_FAIL;
}

void cli_log_setup(int verbosity)
{
        enum log_level level = LOG_LEVEL_INFO;

        if (verbosity > 0)
                level = LOG_LEVEL_DEBUG;
        else if (verbosity < 0)
                level = LOG_LEVEL_ERROR;
        log_setup("nmo-node", level);
}

void cli_getopt_reset(void)
{
        optind = 1;
        opterr = 0;
}

int cli_json_add(struct json_object *obj, const char *key, struct json_object *val,
                 bool nullable)
{
        if (!val && !nullable)
                return -ENOMEM;
        if (json_object_object_add(obj, key, val) < 0) {
                json_object_put(val);
                return -ENOMEM;
        }
        return 0;
}
