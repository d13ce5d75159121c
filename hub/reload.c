/* reload.c: see reload.h. */
#include "reload.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* Each setting of hub.conf, whether a running hub applies a change of it. */
static const struct {
        const char *name;
        size_t offset;
        bool endpoint;          /* a string, else a uint32_t */
        bool live;              /* applied without a restart */
} settings[] = {
        { "[hub] listen", offsetof(struct hub_config, listen), true, false },
        { "[alerts] listen", offsetof(struct hub_config, alerts_listen), true, false },
        { "[metrics] listen", offsetof(struct hub_config, metrics_listen), true, false },
        { "[log] level", offsetof(struct hub_config, log_level), false, true },
        /* Socket options set at bind, and the size of the batch buffers. */
        { "max_message", offsetof(struct hub_config, limits.max_message), false, false },
        { "queue", offsetof(struct hub_config, limits.queue), false, false },
        { "batch", offsetof(struct hub_config, limits.batch), false, false },
        { "handshake_ms", offsetof(struct hub_config, limits.handshake_ms), false, false },
        { "member_rate", offsetof(struct hub_config, limits.member_rate), false, true },
        { "member_burst", offsetof(struct hub_config, limits.member_burst), false, true },
        /* Disclosure control and the calendar decide what the next release
         * publishes: changed only with a restart (what was released stays). */
        { "min_reporters", offsetof(struct hub_config, privacy.min_reporters), false, false },
        { "dominance_n", offsetof(struct hub_config, privacy.dominance_n), false, false },
        { "dominance_k", offsetof(struct hub_config, privacy.dominance_k), false, false },
        { "sensitive_min_reporters", offsetof(struct hub_config,
                                              privacy.sensitive_min_reporters), false, false },
        { "sensitive_dominance_n", offsetof(struct hub_config, privacy.sensitive_dominance_n),
          false, false },
        { "sensitive_dominance_k", offsetof(struct hub_config, privacy.sensitive_dominance_k),
          false, false },
        { "protection_reports", offsetof(struct hub_config, privacy.protection_reports), false,
          false },
        { "noise_max", offsetof(struct hub_config, privacy.noise_max), false, false },
        { "noise_volume", offsetof(struct hub_config, privacy.noise_volume), false, false },
        { "delay_hours", offsetof(struct hub_config, release.delay_hours), false, false },
        { "severity_reporters", offsetof(struct hub_config, alerts.severity_reporters), false,
          true },
        { "surge_percent", offsetof(struct hub_config, alerts.surge_percent), false, true },
        { "surge_weeks", offsetof(struct hub_config, alerts.surge_weeks), false, true },
        { "surge_min_reports", offsetof(struct hub_config, alerts.surge_min_reports), false,
          true },
        { "new_restriction", offsetof(struct hub_config, alerts.new_restriction), false, true },
};

/* Appends "NAME OLD -> NEW" to buf (len bytes) with a separator. */
static void describe(char *buf, size_t len, const char *name, const void *from, const void *to,
                     bool endpoint)
{
        static const char *const levels[] = { "error", "warning", "info", "debug" };
        size_t used = strlen(buf);
        uint32_t a, b;

        if (used >= len - 1)
                return;
        if (endpoint) {
                snprintf(buf + used, len - used, "%s%s %s -> %s", used ? ", " : "", name,
                         (const char *)from, (const char *)to);
                return;
        }
        memcpy(&a, from, sizeof(a));
        memcpy(&b, to, sizeof(b));
        if (strcmp(name, "[log] level") == 0 && a < 4 && b < 4)
                snprintf(buf + used, len - used, "%s%s %s -> %s", used ? ", " : "", name,
                         levels[a], levels[b]);
        else
                snprintf(buf + used, len - used, "%s%s %u -> %u", used ? ", " : "", name, a, b);
}

int hub_reload_config(const char *hub_dir, const struct hub_config *running,
                      struct hub_config *next)
{
        struct hub_config file;
        char err[512], applied[1024] = "", fixed[1024] = "";
        int r;

        *next = *running;
        hub_config_defaults(&file);
        r = hub_config_load(&file, hub_dir, err, sizeof(err));
        if (r < 0) {
                log_error("reload refused: %s/%s; the settings in use stay", hub_dir, err);
                return r;
        }
        /* What the command line set is not hub.conf's to change. */
        if (running->listen_set)
                memcpy(file.listen, running->listen, sizeof(file.listen));
        if (running->alerts_listen_set)
                memcpy(file.alerts_listen, running->alerts_listen, sizeof(file.alerts_listen));
        if (running->log_level_set)
                file.log_level = running->log_level;
        for (size_t i = 0; i < NMO_ARRAY_SIZE(settings); i++) {
                const char *from = (const char *)running + settings[i].offset;
                const char *to = (const char *)&file + settings[i].offset;
                size_t size = settings[i].endpoint ? HUB_ENDPOINT_MAX : sizeof(uint32_t);

                if (settings[i].endpoint ? strcmp(from, to) == 0 : memcmp(from, to, size) == 0)
                        continue;
                if (settings[i].live) {
                        describe(applied, sizeof(applied), settings[i].name, from, to,
                                 settings[i].endpoint);
                        memcpy((char *)next + settings[i].offset, to, size);
                } else {
                        describe(fixed, sizeof(fixed), settings[i].name, from, to,
                                 settings[i].endpoint);
                }
        }
        if (running->privacy.noise_variance != file.privacy.noise_variance ||
            running->privacy.nsensitive != file.privacy.nsensitive ||
            memcmp(running->privacy.sensitive, file.privacy.sensitive,
                   sizeof(file.privacy.sensitive)) != 0)
        {
                size_t used = strlen(fixed);

                snprintf(fixed + used, sizeof(fixed) - used, "%s[privacy] noise_variance or "
                         "sensitive", used ? ", " : "");
        }
        log_info("reloaded %s/hub.conf: %s%s", hub_dir, applied[0] ? "applied " : "",
                 applied[0] ? applied : fixed[0] ? "nothing applied now" : "nothing changed");
        if (fixed[0])
                log_warn("hub.conf: changed but applied only at a restart (still using the "
                         "old values): %s", fixed);
        return 0;
}
