/* cli.c: see cli.h. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int hub_cli_usage(const char *cmd, const char *msg)
{
        fprintf(stderr, "nmo-hub %s: %s\nTry 'nmo-hub %s --help'.\n", cmd, msg, cmd);
        return HUB_EXIT_USAGE;
}

int hub_cli_open_store(const char *dir, bool readonly, struct hub_store **st)
{
        struct stat s;
        char path[4096];
        int r;

        snprintf(path, sizeof(path), "%s/private", dir);
        if (stat(path, &s) < 0) {
                fprintf(stderr, "nmo-hub: %s is not a hub directory (no private/ store); "
                        "create one with 'nmo-hub init --dir %s'\n", dir, dir);
                return -ENOENT;
        }
        r = hub_store_open(st, dir, readonly);
        if (r < 0)
                fprintf(stderr, "nmo-hub: cannot open the private store %s: %s\n", path,
                        r == -EACCES ? "permission denied (run as the hub's user)"
                                     : strerror(-r));
        return r;
}
