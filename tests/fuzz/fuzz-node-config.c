/* fuzz-node-config.c: node_config_parse(), the strict reader of a node's
 * node.conf. A config that parses has usable endpoints and limits, and
 * formats (node_config_format()) into text that parses back the same. */
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "node-config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct node_config cfg, back;
        char err[512], *text = NULL;

        if (node_config_parse(&cfg, (const char *)data, size, "node.conf", err, sizeof(err)) < 0)
                return 0;
        if (!node_endpoint_ok(cfg.hub_endpoint) ||
            (cfg.alerts_endpoint[0] && !node_endpoint_ok(cfg.alerts_endpoint)) ||
            cfg.window < 1 || cfg.window > NODE_WINDOW_MAX || cfg.retry_max_ms < cfg.retry_min_ms)
                abort();
        if (node_config_format(&cfg, &text) < 0)
                return 0;
        if (node_config_parse(&back, text, strlen(text), "node.conf", err, sizeof(err)) < 0 ||
            memcmp(&cfg, &back, sizeof(cfg)) != 0)
                abort();
        free(text);
        return 0;
}
