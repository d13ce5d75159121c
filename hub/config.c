/* config.c: see config.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ini.h>

#include "log.h"
#include "perturb.h"
#include "promhttp.h"
#include "vocab.h"

void hub_config_defaults(struct hub_config *cfg)
{
        memset(cfg, 0, sizeof(*cfg));
        snprintf(cfg->listen, sizeof(cfg->listen), "%s", HUB_DEFAULT_LISTEN);
        cfg->limits.max_message = 65536;
        cfg->limits.queue = 10000;
        cfg->limits.batch = 512;
        cfg->limits.member_rate = 500;
        cfg->limits.member_burst = 2000;
        cfg->limits.handshake_ms = 10000;
        /* Far above what a node's window (at most 1024 in flight) ever leaves
         * unread, and 40 times below queue: a peer that stops reading costs
         * the hub this many replies, not queue. */
        cfg->limits.reply_queue = 256;
        /* A node needs one for envelopes and one for alerts; a few more
         * cover a restart while the old connection is still timing out. */
        cfg->limits.member_connections = 4;
        /* 0: sized from the registry at start, like backlog (server.c). */
        cfg->limits.unauthenticated = 0;
        /* Sized from the registry at start: a restart's reconnect storm of
         * every node fits the listen queue (libzmq's own default is 100). */
        cfg->limits.backlog = 0;
        snprintf(cfg->alerts_listen, sizeof(cfg->alerts_listen), "%s", HUB_ALERTS_FROM_LISTEN);
        cfg->log_level = LOG_LEVEL_INFO;
        cfg->privacy.min_reporters = 3;
        cfg->privacy.dominance_n = 2;
        cfg->privacy.dominance_k = 85;
        cfg->privacy.protection_reports = 2;
        cfg->privacy.noise_max = 2;
        cfg->privacy.noise_variance = 1.0;
        cfg->privacy.noise_volume = 10;
        cfg->privacy.sensitive_min_reporters = 5;
        cfg->privacy.sensitive_dominance_n = 2;
        cfg->privacy.sensitive_dominance_k = 70;
        /* Monday 06:00 UTC: the week's figures are there on Monday morning. */
        cfg->release.delay_hours = 6;
        cfg->alerts.severity_reporters = 3;
        cfg->alerts.surge_percent = 200;
        cfg->alerts.surge_weeks = 8;
        cfg->alerts.surge_min_reports = 5;
        cfg->alerts.new_restriction = 1;
}

int hub_config_alerts_endpoint(const struct hub_config *cfg, char out[HUB_ENDPOINT_MAX])
{
        const char *colon;
        uint32_t port;
        int n;

        if (cfg->alerts_listen[0]) {
                snprintf(out, HUB_ENDPOINT_MAX, "%s", cfg->alerts_listen);
                return 0;
        }
        if (!hub_config_endpoint_ok(cfg->listen))
                return -EINVAL;
        colon = strrchr(cfg->listen, ':');
        if (util_parse_u32(colon + 1, 1, 65534, &port) < 0)
                return -EINVAL;
        n = snprintf(out, HUB_ENDPOINT_MAX, "%.*s:%u", (int)(colon - cfg->listen), cfg->listen,
                     port + 1);
        return n > 0 && n < HUB_ENDPOINT_MAX ? 0 : -EINVAL;
}

bool hub_config_endpoint_ok(const char *s)
{
        const char *colon;
        uint32_t port;

        if (strncmp(s, "tcp://", 6) != 0 || strlen(s) >= HUB_ENDPOINT_MAX)
                return false;
        colon = strrchr(s + 6, ':');
        if (!colon || colon == s + 6)
                return false;
        return util_parse_u32(colon + 1, 1, 65535, &port) == 0;
}

struct parse_state {
        struct hub_config *cfg;
        char *err;
        size_t errlen;
        bool failed;
};

/* The names of [log] level, by enum log_level (common/log.h). */
static const char *const log_levels[] = { "error", "warning", "info", "debug" };

/* Debian's libinih passes no line number to the handler; ini_parse_string()
 * returns the line of the first error, and the message gets it then. */
static int on_entry(void *user, const char *section, const char *name, const char *value)
{
        static const struct {
                const char *section;
                const char *name;
                size_t offset;
                uint32_t min, max;
        } numbers[] = {
                { "limits", "max_message", offsetof(struct hub_config, limits.max_message), 4096,
                  16u << 20 },
                { "limits", "queue", offsetof(struct hub_config, limits.queue), 16, 1000000 },
                { "limits", "batch", offsetof(struct hub_config, limits.batch), 1, 65536 },
                { "limits", "member_rate", offsetof(struct hub_config, limits.member_rate), 1,
                  1000000 },
                { "limits", "member_burst", offsetof(struct hub_config, limits.member_burst), 1,
                  10000000 },
                { "limits", "handshake_ms", offsetof(struct hub_config, limits.handshake_ms), 100,
                  600000 },
                { "limits", "reply_queue", offsetof(struct hub_config, limits.reply_queue), 16,
                  1000000 },
                { "limits", "member_connections",
                  offsetof(struct hub_config, limits.member_connections), 1, 1000 },
                { "limits", "unauthenticated", offsetof(struct hub_config, limits.unauthenticated),
                  0, 1000000 },
                { "limits", "backlog", offsetof(struct hub_config, limits.backlog), 0, 1000000 },
                /* Never below 3: the floor the network promises its members. */
                { "privacy", "min_reporters", offsetof(struct hub_config, privacy.min_reporters),
                  3, 1000 },
                { "privacy", "dominance_n", offsetof(struct hub_config, privacy.dominance_n), 1,
                  10 },
                { "privacy", "dominance_k", offsetof(struct hub_config, privacy.dominance_k), 1,
                  100 },
                { "privacy", "protection_reports",
                  offsetof(struct hub_config, privacy.protection_reports), 1, 1000 },
                { "privacy", "noise_max", offsetof(struct hub_config, privacy.noise_max), 1, 5 },
                { "privacy", "noise_volume", offsetof(struct hub_config, privacy.noise_volume), 0,
                  50 },
                { "privacy", "sensitive_min_reporters",
                  offsetof(struct hub_config, privacy.sensitive_min_reporters), 3, 1000 },
                { "privacy", "sensitive_dominance_n",
                  offsetof(struct hub_config, privacy.sensitive_dominance_n), 1, 10 },
                { "privacy", "sensitive_dominance_k",
                  offsetof(struct hub_config, privacy.sensitive_dominance_k), 1, 100 },
                { "release", "delay_hours", offsetof(struct hub_config, release.delay_hours), 0,
                  168 },
                { "alerts", "severity_reporters",
                  offsetof(struct hub_config, alerts.severity_reporters), 3, 1000 },
                { "alerts", "surge_percent", offsetof(struct hub_config, alerts.surge_percent),
                  101, 100000 },
                { "alerts", "surge_weeks", offsetof(struct hub_config, alerts.surge_weeks), 1,
                  52 },
                { "alerts", "surge_min_reports",
                  offsetof(struct hub_config, alerts.surge_min_reports), 1, 1000000 },
                { "alerts", "new_restriction", offsetof(struct hub_config, alerts.new_restriction),
                  0, 1 },
        };
        static const struct {
                const char *section;
                const char *name;
                size_t offset;
        } endpoints[] = {
                { "hub", "listen", offsetof(struct hub_config, listen) },
                { "alerts", "listen", offsetof(struct hub_config, alerts_listen) },
        };
        struct parse_state *ps = user;

        if (ps->failed)
                return 0;
        if (strcmp(section, "log") == 0 && strcmp(name, "level") == 0) {
                for (size_t i = 0; i < NMO_ARRAY_SIZE(log_levels); i++) {
                        if (strcmp(value, log_levels[i]) == 0) {
                                ps->cfg->log_level = (uint32_t)i;
                                return 1;
                        }
                }
                snprintf(ps->err, ps->errlen, "[log] level must be error, warning, info or "
                         "debug");
                goto fail;
        }
        if (strcmp(section, "privacy") == 0 && strcmp(name, "noise_variance") == 0) {
                char *end = NULL;
                double v;

                errno = 0;
                v = strtod(value, &end);
                if (errno || end == value || *end || !(v >= 0.1 && v <= 12.5)) {
                        snprintf(ps->err, ps->errlen, "[privacy] noise_variance must be a number "
                                 "from 0.1 to 12.5");
                        goto fail;
                }
                ps->cfg->privacy.noise_variance = v;
                return 1;
        }
        if (strcmp(section, "privacy") == 0 && strcmp(name, "sensitive") == 0) {
                struct hub_privacy *p = &ps->cfg->privacy;
                char list[HUB_SENSITIVE_MAX * HUB_SENSITIVE_NAME_MAX], *save = NULL, *tok;

                if (strlen(value) >= sizeof(list)) {
                        snprintf(ps->err, ps->errlen, "[privacy] sensitive is too long");
                        goto fail;
                }
                snprintf(list, sizeof(list), "%s", value);
                p->nsensitive = 0;
                for (tok = strtok_r(list, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
                        if (!vocab_material(tok)) {
                                snprintf(ps->err, ps->errlen, "[privacy] sensitive: unknown "
                                         "material '%.40s' (nmo-analyst materials lists them)",
                                         tok);
                                goto fail;
                        }
                        if (p->nsensitive == HUB_SENSITIVE_MAX) {
                                snprintf(ps->err, ps->errlen, "[privacy] sensitive: more than "
                                         "%d materials", HUB_SENSITIVE_MAX);
                                goto fail;
                        }
                        snprintf(p->sensitive[p->nsensitive++], HUB_SENSITIVE_NAME_MAX, "%s",
                                 tok);
                }
                return 1;
        }
        if (strcmp(section, "metrics") == 0 && strcmp(name, "listen") == 0) {
                /* Empty: no endpoint (the default). */
                if (value[0] && (strlen(value) >= HUB_ENDPOINT_MAX ||
                                 promhttp_parse_listen(value, NULL, NULL) < 0)) {
                        snprintf(ps->err, ps->errlen, "[metrics] listen must be empty or "
                                 "ADDRESS:PORT with an IPv4 address or a bracketed IPv6 "
                                 "address (127.0.0.1:9750, [::1]:9750), not '%.60s'", value);
                        goto fail;
                }
                snprintf(ps->cfg->metrics_listen, HUB_ENDPOINT_MAX, "%s", value);
                return 1;
        }
        for (size_t i = 0; i < NMO_ARRAY_SIZE(endpoints); i++) {
                if (strcmp(section, endpoints[i].section) != 0 ||
                    strcmp(name, endpoints[i].name) != 0)
                        continue;
                if (!hub_config_endpoint_ok(value)) {
                        snprintf(ps->err, ps->errlen, "[%s] %s must be tcp://HOST:PORT", section,
                                 name);
                        goto fail;
                }
                snprintf((char *)ps->cfg + endpoints[i].offset, HUB_ENDPOINT_MAX, "%s", value);
                return 1;
        }
        for (size_t i = 0; i < NMO_ARRAY_SIZE(numbers); i++) {
                uint32_t v;

                if (strcmp(section, numbers[i].section) != 0 || strcmp(name, numbers[i].name) != 0)
                        continue;
                if (util_parse_u32(value, numbers[i].min, numbers[i].max, &v) < 0) {
                        snprintf(ps->err, ps->errlen, "[%s] %s must be a whole number from %u "
                                 "to %u", section, name, numbers[i].min, numbers[i].max);
                        goto fail;
                }
                *(uint32_t *)(void *)((char *)ps->cfg + numbers[i].offset) = v;
                return 1;
        }
        snprintf(ps->err, ps->errlen, "unknown setting [%s] %s", section, name);
fail:
        ps->failed = true;
        return 0;
}

int hub_config_parse(struct hub_config *cfg, const char *text, size_t len, char *err,
                     size_t errlen)
{
        struct parse_state ps = { cfg, err, errlen, false };
        char *copy;
        int rc;

        if (len > HUB_CONF_MAX) {
                util_set_err(err, errlen, "hub.conf: larger than %d KiB", HUB_CONF_MAX / 1024);
                return -EFBIG;
        }
        /* ini_parse_string() stops at a NUL; refuse it rather than ignore the rest. */
        if (memchr(text, '\0', len)) {
                util_set_err(err, errlen, "hub.conf: NUL byte in the file");
                return -EINVAL;
        }
        copy = malloc(len + 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, text, len);
        copy[len] = '\0';
        rc = ini_parse_string(copy, on_entry, &ps);
        free(copy);
        if (ps.failed) {
                char why[256];

                snprintf(why, sizeof(why), "%s", err);
                util_set_err(err, errlen, "hub.conf:%d: %s", rc, why);
                return -EINVAL;
        }
        if (rc == -2)
                return -ENOMEM;
        if (rc != 0) {
                util_set_err(err, errlen, "hub.conf:%d: not valid ini syntax", rc > 0 ? rc : 0);
                return -EINVAL;
        }
        if (cfg->limits.member_burst < 1)
                cfg->limits.member_burst = 1;
        {
                struct perturb_params pp = { cfg->privacy.noise_max, cfg->privacy.noise_variance,
                                             cfg->privacy.noise_volume };
                char why[160];

                if (perturb_params_check(&pp, why, sizeof(why)) < 0) {
                        util_set_err(err, errlen, "hub.conf: [privacy] noise: %s", why);
                        return -EINVAL;
                }
        }
        /* The stricter rules may only be stricter. */
        if (cfg->privacy.sensitive_min_reporters < cfg->privacy.min_reporters ||
            cfg->privacy.sensitive_dominance_n < cfg->privacy.dominance_n ||
            cfg->privacy.sensitive_dominance_k > cfg->privacy.dominance_k) {
                util_set_err(err, errlen, "hub.conf: [privacy] sensitive_min_reporters, "
                             "sensitive_dominance_n and sensitive_dominance_k must be at least as "
                             "strict as min_reporters, dominance_n and dominance_k (at least as "
                             "many reporters and n, at most k)");
                return -EINVAL;
        }
        return 0;
}

bool hub_privacy_sensitive(const struct hub_privacy *p, const char *material)
{
        for (uint32_t i = 0; i < p->nsensitive; i++)
                if (strcmp(p->sensitive[i], material) == 0)
                        return true;
        return false;
}

int hub_config_load(struct hub_config *cfg, const char *hub_dir, char *err, size_t errlen)
{
        char *path = util_path(hub_dir, "hub.conf"), *text = NULL;
        size_t len = 0;
        int r;

        if (!path)
                return -ENOMEM;
        r = util_read_file(path, HUB_CONF_MAX, &text, &len);
        free(path);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                util_set_err(err, errlen, "hub.conf: %s",
                             r == -EFBIG ? "larger than 64 KiB" : strerror(-r));
                return r;
        }
        r = hub_config_parse(cfg, text, len, err, errlen);
        free(text);
        return r;
}

int hub_config_write(const struct hub_config *cfg, const char *hub_dir)
{
        char buf[8192], alerts[HUB_ENDPOINT_MAX], sensitive[HUB_SENSITIVE_MAX *
                                                              HUB_SENSITIVE_NAME_MAX] = "";
        char *path = util_path(hub_dir, "hub.conf");
        int n, r;

        if (!path)
                return -ENOMEM;
        for (uint32_t i = 0; i < cfg->privacy.nsensitive; i++) {
                size_t at = strlen(sensitive);

                snprintf(sensitive + at, sizeof(sensitive) - at, "%s%s", i ? " " : "",
                         cfg->privacy.sensitive[i]);
        }
        /* Unset, the line is written commented out, with the endpoint it stands for. */
        if (hub_config_alerts_endpoint(cfg, alerts) < 0)
                snprintf(alerts, sizeof(alerts), "%s", HUB_DEFAULT_ALERTS);
        n = snprintf(buf, sizeof(buf),
                     "; nmo-hub configuration; nmo-hub.conf(5) explains each setting.\n"
                     "[hub]\n"
                     "; where nodes connect (CurveZMQ over TCP)\n"
                     "listen = %s\n"
                     "\n"
                     "[limits]\n"
                     "; largest frame a peer may send; larger ones disconnect the peer\n"
                     "max_message = %u\n"
                     "; messages queued per direction before the hub pushes back\n"
                     "queue = %u\n"
                     "; most envelopes committed to disk in one transaction\n"
                     "batch = %u\n"
                     "; envelopes per second one member may send, and its burst\n"
                     "member_rate = %u\n"
                     "member_burst = %u\n"
                     "; milliseconds a peer gets to complete the CURVE handshake\n"
                     "handshake_ms = %u\n"
                     "; replies queued for one connection; one that does not read them is closed\n"
                     "reply_queue = %u\n"
                     "; connections one member key may hold, on each of the two sockets\n"
                     "member_connections = %u\n"
                     "; connections still in the handshake; beyond it the oldest is closed\n"
                     "; (0: twice the members, at least 512, at most a quarter of the descriptors)\n"
                     "unauthenticated = %u\n"
                     "; connections the kernel queues on each listening socket before the hub\n"
                     "; accepts them (0: twice the members, at least 4096; net.core.somaxconn caps it)\n"
                     "backlog = %u\n"
                     "\n"
                     "[privacy]\n"
                     "; a cell is released only with this many distinct reporting members (>= 3)\n"
                     "min_reporters = %u\n"
                     "; (n,k) dominance: a volume is suppressed when its n largest reporters hold\n"
                     "; more than k percent of it\n"
                     "dominance_n = %u\n"
                     "dominance_k = %u\n"
                     "; materials with stricter rules (ids as `nmo-analyst materials` lists them,\n"
                     "; separated by spaces), and their threshold and dominance rule\n"
                     "%ssensitive = %s\n"
                     "sensitive_min_reporters = %u\n"
                     "sensitive_dominance_n = %u\n"
                     "sensitive_dominance_k = %u\n"
                     "; every cell suppressed for too few reporters keeps, against all releases\n"
                     "; together, a range of at least this many reports\n"
                     "protection_reports = %u\n"
                     "; released counts carry noise (the cell key method): at most noise_max\n"
                     "; either way, with this variance; volumes +-noise_volume percent of the\n"
                     "; cell's largest contribution (0 to 50); the same figures always get the\n"
                     "; same noise\n"
                     "noise_max = %u\n"
                     "noise_variance = %g\n"
                     "noise_volume = %u\n"
                     "\n"
                     "[release]\n"
                     "; a week's figures are released once it has ended (Monday 00:00 UTC) plus\n"
                     "; this many hours, and never change after; alerts come with them. Shorter\n"
                     "; is timelier; the calendar, not each report, decides when figures move\n"
                     "delay_hours = %u\n"
                     "\n"
                     "[alerts]\n"
                     "; where members subscribe to the signed alert feed (CurveZMQ); without it,\n"
                     "; the host of [hub] listen with the port plus one\n"
                     "%slisten = %s\n"
                     "; alert when this many companies report high or critical severity for a\n"
                     "; material within 14 days\n"
                     "severity_reporters = %u\n"
                     "; alert when a material's weekly reports exceed this percent of the mean of\n"
                     "; the previous surge_weeks weeks, with at least surge_min_reports reports\n"
                     "surge_percent = %u\n"
                     "surge_weeks = %u\n"
                     "surge_min_reports = %u\n"
                     "; alert when an export restriction type appears for a material (1 or 0)\n"
                     "new_restriction = %u\n"
                     "\n"
                     "[metrics]\n"
                     "; HOST:PORT of the Prometheus endpoint (GET /metrics), empty for none. It\n"
                     "; has no authentication: keep it on loopback or a firewalled interface\n"
                     "%slisten = %s\n"
                     "\n"
                     "[log]\n"
                     "; error, warning, info or debug (-v and -q on the command line win); a\n"
                     "; reload (SIGHUP) applies it\n"
                     "level = %s\n",
                     cfg->listen, cfg->limits.max_message, cfg->limits.queue, cfg->limits.batch,
                     cfg->limits.member_rate, cfg->limits.member_burst, cfg->limits.handshake_ms,
                     cfg->limits.reply_queue, cfg->limits.member_connections,
                     cfg->limits.unauthenticated, cfg->limits.backlog, cfg->privacy.min_reporters,
                     cfg->privacy.dominance_n, cfg->privacy.dominance_k,
                     cfg->privacy.nsensitive ? "" : "; ",
                     cfg->privacy.nsensitive ? sensitive : "gallium germanium",
                     cfg->privacy.sensitive_min_reporters, cfg->privacy.sensitive_dominance_n,
                     cfg->privacy.sensitive_dominance_k, cfg->privacy.protection_reports,
                     cfg->privacy.noise_max,
                     cfg->privacy.noise_variance, cfg->privacy.noise_volume,
                     cfg->release.delay_hours,
                     cfg->alerts_listen[0] ? "" : "; ", alerts, cfg->alerts.severity_reporters,
                     cfg->alerts.surge_percent, cfg->alerts.surge_weeks,
                     cfg->alerts.surge_min_reports, cfg->alerts.new_restriction,
                     cfg->metrics_listen[0] ? "" : "; ",
                     cfg->metrics_listen[0] ? cfg->metrics_listen : "127.0.0.1:9750",
                     log_levels[cfg->log_level < NMO_ARRAY_SIZE(log_levels) ? cfg->log_level : 2]);
        r = n > 0 && (size_t)n < sizeof(buf) ? util_write_file(path, buf, (size_t)n, 0600, true)
                                             : -ENOBUFS;
        free(path);
        return r;
}
