/* nmo-hub: the GDN hub of nmo-signal. Dispatches to one file per command.
 * Exit status: 0 success, 1 failure, 2 usage error. */
#include <stdio.h>
#include <sodium.h>

#include "hub-cli.h"
#include "rng.h"

static const struct cli_command commands[] = {
        { "init", hub_cmd_init, "create a hub directory: keys, config, private store" },
        { "serve", hub_cmd_serve, "run the hub daemon" },
        { "member", hub_cmd_member, "enrol, list, show, suspend, resume, revoke members" },
        { "stats", hub_cmd_stats, "print the hub's counters" },
        { "rotate-keys", hub_cmd_rotate, "replace the payload and signing keys, with an overlap" },
};

static const struct cli_program program = {
        .name = "nmo-hub",
        .intro = "Usage: nmo-hub COMMAND [OPTIONS]\n\n",
        .commands = commands,
        .ncommands = NMO_ARRAY_SIZE(commands),
        .outro = "\n'nmo-hub COMMAND --help' explains each command.\n"
                 "\n"
                 "Options:\n"
                 "  -h, --help     show this help\n"
                 "  -V, --version  show the version\n"
                 "\n"
                 "Exit status: 0 success, 1 failure, 2 usage error.\n",
};

int main(int argc, char **argv)
{
        /* A generator without a system call for every draw (rng.h): the hub
         * draws several per signal. Set before sodium_init(), as libsodium
         * requires, and before any thread starts. */
        if (rng_install() < 0) {
                fprintf(stderr, "nmo-hub: the random generator cannot be set up\n");
                return CLI_EXIT_FAIL;
        }
        if (sodium_init() < 0) {
                fprintf(stderr, "nmo-hub: libsodium failed to initialise\n");
                return CLI_EXIT_FAIL;
        }
        return cli_main(&program, argc, argv);
}
