/* hub-cli.c: see hub-cli.h. */
#include "hub-cli.h"

#include "dirlock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>

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

int hub_cli_lock(const char *dir, const char *cmd, int *fd)
{
        char *path = util_path(dir, HUB_LOCK_FILE);
        pid_t holder = 0;
        int r;

        if (!path) {
                fprintf(stderr, "nmo-hub %s: out of memory\n", cmd);
                return -ENOMEM;
        }
        r = dirlock_take(path, fd, &holder);
        if (r == -EBUSY && holder > 0)
                fprintf(stderr, "nmo-hub %s: a hub is running on %s (nmo-hub serve, pid %ld); "
                        "stop it first\n", cmd, dir, (long)holder);
        else if (r == -EBUSY)
                fprintf(stderr, "nmo-hub %s: a hub is running on %s (%s is locked); stop it "
                        "first\n", cmd, dir, path);
        else if (r == -ENOENT)
                fprintf(stderr, "nmo-hub %s: %s is not a hub directory; create one with "
                        "'nmo-hub init --dir %s'\n", cmd, dir, dir);
        else if (r < 0)
                fprintf(stderr, "nmo-hub %s: cannot lock %s: %s\n", cmd, path, strerror(-r));
        free(path);
        return r;
}
