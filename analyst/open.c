/* open.c: opening the analytics store for the analyst, and saying in one
 * line why it did not open or could not be read: the commonest mistakes are
 * pointing --store at the hub directory or at the private store. */
#include "analyst.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analytics.h"

static bool file_exists(const char *dir, const char *name)
{
        char *p = util_path(dir, name);
        struct stat st;
        bool ok = p && stat(p, &st) == 0;

        free(p);
        return ok;
}

/* Explains why dir did not open as an analytics store, on one line. */
static void explain_open_error(const char *dir, int r)
{
        char *copy = strdup(dir), *slash, *base, *parent = NULL;
        bool hub_dir, in_hub_dir, has_data, has_store_below, private_store;

        if (!copy) {
                cli_fail("cannot open the analytics store at %s: %s", dir, strerror(ENOMEM));
                return;
        }
        /* The directory's own name and its parent, without trailing slashes. */
        for (size_t n = strlen(copy); n > 1 && copy[n - 1] == '/'; n--)
                copy[n - 1] = 0;
        slash = strrchr(copy, '/');
        base = slash ? slash + 1 : copy;
        if (slash == copy) {
                parent = "/";
        } else if (slash) {
                *slash = 0;
                parent = copy;
        } else {
                parent = ".";
        }
        hub_dir = file_exists(dir, "hub.conf");
        in_hub_dir = file_exists(parent, "hub.conf");
        has_data = file_exists(dir, "data.mdb");
        has_store_below = file_exists(dir, "analytics/data.mdb");
        private_store = strcmp(base, "private") == 0 || (in_hub_dir && has_data);

        if (r == -ENOENT) {
                cli_fail("no analytics store at %s (no such directory)", dir);
        } else if (r == -ENOTDIR) {
                cli_fail("no analytics store at %s (not a directory); point --store at "
                         "HUB_DIR/analytics", dir);
        } else if ((r == -EMEDIUMTYPE || r == -EACCES || r == -EPERM) && private_store) {
                if (in_hub_dir)
                        cli_fail("%s is not an analytics store: it looks like the hub's private "
                                 "store, which analysts never open; use --store %s/analytics",
                                 dir, parent);
                else
                        cli_fail("%s is not an analytics store: it looks like the hub's private "
                                 "store, which analysts never open; point --store at "
                                 "HUB_DIR/analytics", dir);
        } else if (r == -EMEDIUMTYPE && has_store_below) {
                cli_fail("%s is not an analytics store, but holds one; use --store %s/analytics",
                         dir, dir);
        } else if (r == -EMEDIUMTYPE && hub_dir) {
                cli_fail("%s is a hub directory, not its analytics store; use --store "
                         "%s/analytics", dir, dir);
        } else if (r == -EMEDIUMTYPE && in_hub_dir) {
                cli_fail("%s is not an analytics store; use --store %s/analytics", dir, parent);
        } else if (r == -EMEDIUMTYPE) {
                cli_fail("%s is not an analytics store; point --store at HUB_DIR/analytics", dir);
        } else if (r == -EACCES || r == -EPERM) {
                cli_fail("permission denied opening the analytics store at %s: analysts need to "
                         "be in the group that owns it (the hub keeps it group-readable: "
                         "directory 0750, data.mdb 0640, lock.mdb 0660, which readers write to "
                         "register); ask the hub's administrator, then log in again", dir);
        } else if (r == -EPROTO) {
                cli_fail("cannot open the analytics store at %s: it was written by an "
                         "incompatible version of LMDB", dir);
        } else if (r == -EIO) {
                cli_fail("cannot open the analytics store at %s: it is damaged or unreadable "
                         "(input/output error)", dir);
        } else {
                cli_fail("cannot open the analytics store at %s: %s", dir, strerror(-r));
        }
        free(copy);
}

int analyst_store_open(const char *dir, struct analytics **an)
{
        int r = analytics_open(an, dir, true);

        if (r < 0)
                explain_open_error(dir, r);
        return r;
}

/* Reports a failed walk of the store. what: the command's extra detail for
 * -EBADMSG (may be empty). */
int analyst_store_read_failed(const char *dir, int r, const char *what)
{
        if (r == -ENOMEM)
                return cli_fail("out of memory");
        if (r == -EBADMSG)
                return cli_fail("the analytics store at %s holds a damaged record%s%s; ask the "
                                "hub's administrator", dir, what && *what ? ": " : "",
                                what ? what : "");
        return cli_fail("cannot read the analytics store at %s: %s", dir, strerror(-r));
}
