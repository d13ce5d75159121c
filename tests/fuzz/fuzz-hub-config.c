/* fuzz-hub-config.c: hub_config_parse(), the reader of DIR/hub.conf. A config
 * that parses keeps the promises the hub makes: endpoints it can bind, and
 * never fewer than 3 reporters behind a released cell. */
#include <stdlib.h>

#include "config.h"
#include "fuzz-common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct hub_config cfg;
        char err[512];

        hub_config_defaults(&cfg);
        if (hub_config_parse(&cfg, (const char *)data, size, err, sizeof(err)) < 0)
                return 0;
        if (!hub_config_endpoint_ok(cfg.listen) ||
            (cfg.alerts_listen[0] && !hub_config_endpoint_ok(cfg.alerts_listen)) ||
            cfg.privacy.min_reporters < 3 || cfg.alerts.severity_reporters < 3 ||
            cfg.limits.member_burst < 1 || cfg.limits.batch < 1)
                abort();
        return 0;
}
