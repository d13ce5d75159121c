/* example-configs.c: writes the example configurations installed under the
 * doc folder (examples/hub.conf, examples/node.conf) with the very code
 * `nmo-hub init` and `nmo-node init` write a new directory's with, so the
 * examples carry every option with its default and cannot drift from the
 * programs. Build time only: example-configs OUTDIR. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "node-config.h"
#include "util.h"

int main(int argc, char **argv)
{
        struct hub_config hub;
        struct node_config node;
        char *text = NULL, *path = NULL;
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: example-configs OUTDIR\n");
                return 2;
        }
        /* hub_config_write() never replaces a file: a rebuild's does go. */
        path = util_path(argv[1], "hub.conf");
        if (!path || (remove(path) < 0 && errno != ENOENT)) {
                fprintf(stderr, "example-configs: cannot replace %s/hub.conf\n", argv[1]);
                return 1;
        }
        free(path);
        path = NULL;
        hub_config_defaults(&hub);
        r = hub_config_write(&hub, argv[1]);
        if (r < 0) {
                fprintf(stderr, "example-configs: %s/hub.conf: %s\n", argv[1], strerror(-r));
                return 1;
        }
        node_config_defaults(&node);
        snprintf(node.hub_endpoint, sizeof(node.hub_endpoint), "tcp://hub.example.org:7750");
        r = node_config_format(&node, &text);
        if (r == 0) {
                path = util_path(argv[1], "node.conf");
                r = path ? util_write_file(path, text, strlen(text), 0644, false) : -ENOMEM;
        }
        if (r < 0)
                fprintf(stderr, "example-configs: %s/node.conf: %s\n", argv[1], strerror(-r));
        free(text);
        free(path);
        return r < 0 ? 1 : 0;
}
