/* nmo-analyst: the GDN analysts' read-only view of the hub's analytics store.
 * Parses the global options, then hands the rest to the command (cmd-*.c).
 * Exit status: 0 success, 1 failure, 2 usage error. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "analyst.h"
#include "nmo-config.h"

static char prog[] = "nmo-analyst";

static void usage_hint(void)
{
        fputs("Usage: nmo-analyst --store DIR COMMAND [OPTIONS]\n"
              "Try 'nmo-analyst --help'.\n", stderr);
}

/* Runs the command line; main() adds the check that the output was written. */
static int run(int argc, char **argv)
{
        static const struct option opts[] = {
                { "store", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { NULL, 0, NULL, 0 },
        };
        const struct analyst_command *cmd;
        const char *store = NULL;
        char name[64];
        int c, first;

        argv[0] = prog; /* getopt's messages name the program, not its path */
        /* '+': stop at the command; what follows is the command's. */
        while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
                switch (c) {
                case 's':
                        store = optarg;
                        break;
                case 'h':
                        fputs(analyst_help, stdout);
                        return ANALYST_EXIT_OK;
                case 'V':
                        printf("nmo-analyst %s\n", NMO_VERSION);
                        return ANALYST_EXIT_OK;
                default:
                        fputs("Try 'nmo-analyst --help'.\n", stderr);
                        return ANALYST_EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                fputs("nmo-analyst: no command given\n", stderr);
                usage_hint();
                return ANALYST_EXIT_USAGE;
        }
        first = optind;
        if (strcmp(argv[first], "help") == 0) {
                char *help_argv[] = { name, (char *)"--help", NULL };

                if (first + 1 >= argc) {
                        fputs(analyst_help, stdout);
                        return ANALYST_EXIT_OK;
                }
                cmd = analyst_command_find(argv[first + 1]);
                if (!cmd)
                        return analyst_usage_error(NULL, "unknown command '%s'",
                                                   argv[first + 1]);
                snprintf(name, sizeof(name), "nmo-analyst %s", cmd->name);
                optind = 0;
                return cmd->fn(2, help_argv, store);
        }
        cmd = analyst_command_find(argv[first]);
        if (!cmd)
                return analyst_usage_error(NULL, "unknown command '%s'", argv[first]);
        snprintf(name, sizeof(name), "nmo-analyst %s", cmd->name);
        argv[first] = name;
        optind = 0; /* the command parses its own options from the start */
        return cmd->fn(argc - first, argv + first, store);
}

int main(int argc, char **argv)
{
        int r = run(argc, argv);

        /* Help and version text to a full disk or closed pipe is a failure too. */
        if (fflush(stdout) != 0 && r == ANALYST_EXIT_OK) {
                perror("nmo-analyst: cannot write the output");
                r = ANALYST_EXIT_FAIL;
        }
        return r;
}
