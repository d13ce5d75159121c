/* nmo-analyst: the GDN analysts' read-only view of the hub's analytics store.
 * Parses the global options, then hands the rest to the command (cmd-*.c).
 * Not cli_main(): --store may come before the command. Exit status
 * (common/cli.h): 0 success, 1 failure, 2 usage error. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "analyst.h"
#include "cli.h"
#include "nmo-config.h"

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
        int c, first;

        cli_set_program("nmo-analyst");
        cli_getopt_reset();
        /* '+': stop at the command; what follows is the command's. */
        while ((c = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
                switch (c) {
                case 's':
                        store = optarg;
                        break;
                case 'h':
                        return cli_help(analyst_help);
                case 'V':
                        printf("nmo-analyst %s\n", NMO_VERSION);
                        return CLI_EXIT_OK;
                default:
                        return cli_bad_option(NULL, argv, c);
                }
        }
        if (optind >= argc)
                return cli_usage(NULL, "missing command");
        first = optind;
        if (strcmp(argv[first], "help") == 0) {
                char *help_argv[] = { argv[first + 1], (char *)"--help", NULL };

                if (first + 1 >= argc)
                        return cli_help(analyst_help);
                cmd = analyst_command_find(argv[first + 1]);
                if (!cmd)
                        return cli_usage(NULL, "unknown command '%s'", argv[first + 1]);
                return cmd->fn(2, help_argv, store);
        }
        cmd = analyst_command_find(argv[first]);
        if (!cmd)
                return cli_usage(NULL, "unknown command '%s'", argv[first]);
        /* The command parses its own options from its name on. */
        return cmd->fn(argc - first, argv + first, store);
}

int main(int argc, char **argv)
{
        int r = run(argc, argv);

        /* Help and version text to a full disk or closed pipe is a failure too. */
        if (fflush(stdout) != 0 && r == CLI_EXIT_OK) {
                perror("nmo-analyst: cannot write the output");
                r = CLI_EXIT_FAIL;
        }
        return r;
}
