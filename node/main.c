/* nmo-node: the member side of nmo-signal. Dispatches to one file per
 * subcommand (cmd-*.c); each parses its own options.
 *
 * Exit codes: 0 success, 1 failure, 2 usage error. */
#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "cli.h"
#include "cmd.h"
#include "log.h"
#include "nmo-config.h"

static const struct command {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *help;
} commands[] = {
        { "init", cmd_init, "create a node directory: keys, configuration, outbox" },
        { "submit", cmd_submit, "seal a signal (options or a JSONL file) and queue it durably" },
        { "run", cmd_run, "deliver queued signals to the hub and record its receipts" },
        { "status", cmd_status, "show queued, in-flight, delivered and rejected signals" },
        { "alerts", cmd_alerts, "show the hub's signed alerts, or follow them as they come" },
        { "rotate-keys", cmd_rotate, "replace this member's keys; the hub switches at once" },
        { "vocabulary", cmd_vocabulary, "list the material, event and country ids" },
};

static void usage(FILE *f)
{
        fputs("Usage: nmo-node COMMAND [OPTIONS]\n"
              "\n"
              "The member node of nmo-signal: submit confidential supply-disruption signals,\n"
              "sealed end to end for the hub, deliver them with signed receipts, and\n"
              "receive the hub's signed alerts.\n"
              "\n"
              "Commands:\n", f);
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
        fputs("\n"
              "Options:\n"
              "  -h, --help     show this help ('nmo-node COMMAND --help' for a command)\n"
              "  -V, --version  show the version\n"
              "\n"
              "Exit status: 0 success, 1 failure, 2 usage error.\n", f);
}

int main(int argc, char **argv)
{
        log_setup("nmo-node", LOG_LEVEL_INFO);
        if (argc < 2) {
                fputs("nmo-node: missing command\nTry 'nmo-node --help'.\n", stderr);
                return CLI_EXIT_USAGE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                usage(stdout);
                return CLI_EXIT_OK;
        }
        if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
                printf("nmo-node %s\n", NMO_VERSION);
                return CLI_EXIT_OK;
        }
        if (sodium_init() < 0) {
                fputs("nmo-node: libsodium failed to initialise\n", stderr);
                return CLI_EXIT_FAIL;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[1], commands[i].name) == 0)
                        return commands[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "nmo-node: unknown command '%s'\nTry 'nmo-node --help'.\n", argv[1]);
        return CLI_EXIT_USAGE;
}
