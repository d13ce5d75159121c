/* nmo-hub: the GDN hub of nmo-signal. Dispatches to one file per command.
 * Exit status: 0 success, 1 failure, 2 usage error. */
#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "cli.h"
#include "log.h"
#include "nmo-config.h"

static const struct {
        const char *name;
        int (*fn)(int, char **);
        const char *help;
} commands[] = {
        { "init", hub_cmd_init, "create a hub directory: keys, config, private store" },
        { "serve", hub_cmd_serve, "run the hub daemon" },
        { "member", hub_cmd_member, "enrol, list, show, suspend, resume, revoke members" },
        { "stats", hub_cmd_stats, "print the hub's counters" },
        { "rotate-keys", hub_cmd_rotate, "replace the payload and signing keys, with an overlap" },
};

static void usage(FILE *f)
{
        fputs("Usage: nmo-hub COMMAND [OPTIONS]\n\nCommands:\n", f);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(commands); i++)
                fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
        fputs("\n'nmo-hub COMMAND --help' explains each command.\n"
              "Exit status: 0 success, 1 failure, 2 usage error.\n", f);
}

int main(int argc, char **argv)
{
        if (sodium_init() < 0) {
                fprintf(stderr, "nmo-hub: libsodium failed to initialise\n");
                return HUB_EXIT_FAIL;
        }
        log_setup("nmo-hub", LOG_LEVEL_INFO);
        if (argc < 2) {
                usage(stderr);
                return HUB_EXIT_USAGE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                usage(stdout);
                return HUB_EXIT_OK;
        }
        if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
                printf("nmo-hub %s\n", NMO_VERSION);
                return HUB_EXIT_OK;
        }
        for (size_t i = 0; i < NMO_ARRAY_SIZE(commands); i++)
                if (strcmp(argv[1], commands[i].name) == 0)
                        return commands[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "nmo-hub: unknown command '%s'\nTry 'nmo-hub --help'.\n", argv[1]);
        return HUB_EXIT_USAGE;
}
