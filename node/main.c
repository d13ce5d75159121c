/* nmo-node: the member side of nmo-signal. Dispatches to one file per
 * subcommand (cmd-*.c); each parses its own options.
 *
 * Exit codes: 0 success, 1 failure, 2 usage error, 3 disk full (submit). */
#include <stdio.h>
#include <sodium.h>

#include "cmd.h"
#include "node-cli.h"

static const struct cli_command commands[] = {
        { "init", cmd_init, "create a node directory: keys, configuration, outbox" },
        { "submit", cmd_submit, "seal a signal (options or a JSONL file) and queue it durably" },
        { "run", cmd_run, "deliver queued signals to the hub and record its receipts" },
        { "status", cmd_status, "show queued, in-flight, delivered and rejected signals" },
        { "alerts", cmd_alerts, "show the hub's signed alerts, or follow them as they come" },
        { "rotate-keys", cmd_rotate, "replace this member's keys; the hub switches at once" },
        { "vocabulary", cmd_vocabulary, "list the material, event and country ids" },
};

static const struct cli_program program = {
        .name = "nmo-node",
        .intro = "Usage: nmo-node COMMAND [OPTIONS]\n"
                 "\n"
                 "The member node of nmo-signal: submit confidential supply-disruption signals,\n"
                 "sealed end to end for the hub, deliver them with signed receipts, and\n"
                 "receive the hub's signed alerts.\n"
                 "\n",
        .commands = commands,
        .ncommands = NMO_ARRAY_SIZE(commands),
        .outro = "\n"
                 "Options:\n"
                 "  -h, --help     show this help ('nmo-node COMMAND --help' for a command)\n"
                 "  -V, --version  show the version\n"
                 "\n"
                 "Exit status: 0 success, 1 failure, 2 usage error, 3 disk full (submit).\n",
};

int main(int argc, char **argv)
{
        if (sodium_init() < 0) {
                fputs("nmo-node: libsodium failed to initialise\n", stderr);
                return CLI_EXIT_FAIL;
        }
        return cli_main(&program, argc, argv);
}
