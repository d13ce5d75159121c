/* config.c: see config.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ini.h>

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

/* Debian's libinih passes no line number to the handler; ini_parse_file()
 * returns the line of the first error, and the message gets it then. */
static int on_entry(void *user, const char *section, const char *name, const char *value)
{
        static const struct {
                const char *name;
                size_t offset;
                uint32_t min, max;
        } limits[] = {
                { "max_message", offsetof(struct hub_limits, max_message), 4096, 16u << 20 },
                { "queue", offsetof(struct hub_limits, queue), 16, 1000000 },
                { "batch", offsetof(struct hub_limits, batch), 1, 65536 },
                { "member_rate", offsetof(struct hub_limits, member_rate), 1, 1000000 },
                { "member_burst", offsetof(struct hub_limits, member_burst), 1, 10000000 },
                { "handshake_ms", offsetof(struct hub_limits, handshake_ms), 100, 600000 },
        };
        struct parse_state *ps = user;

        if (ps->failed)
                return 0;
        if (strcmp(section, "hub") == 0 && strcmp(name, "listen") == 0) {
                if (!hub_config_endpoint_ok(value)) {
                        snprintf(ps->err, ps->errlen, "listen must be tcp://HOST:PORT");
                        goto fail;
                }
                snprintf(ps->cfg->listen, sizeof(ps->cfg->listen), "%s", value);
                return 1;
        }
        if (strcmp(section, "limits") == 0) {
                for (size_t i = 0; i < NMO_ARRAY_SIZE(limits); i++) {
                        uint32_t v;

                        if (strcmp(name, limits[i].name) != 0)
                                continue;
                        if (util_parse_u32(value, limits[i].min, limits[i].max, &v) < 0) {
                                snprintf(ps->err, ps->errlen, "%s must be a whole number from "
                                         "%u to %u", name, limits[i].min, limits[i].max);
                                goto fail;
                        }
                        *(uint32_t *)(void *)((char *)&ps->cfg->limits + limits[i].offset) = v;
                        return 1;
                }
        }
        snprintf(ps->err, ps->errlen, "unknown setting [%s] %s", section, name);
fail:
        ps->failed = true;
        return 0;
}

int hub_config_load(struct hub_config *cfg, const char *hub_dir, char *err, size_t errlen)
{
        struct parse_state ps = { cfg, err, errlen, false };
        char *path = util_path(hub_dir, "hub.conf");
        FILE *f;
        int rc;

        if (!path)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f) {
                int e = errno;
                free(path);
                if (e == ENOENT)
                        return 0;
                snprintf(err, errlen, "hub.conf: %s", strerror(e));
                return -e;
        }
        rc = ini_parse_file(f, on_entry, &ps);
        fclose(f);
        free(path);
        if (ps.failed) {
                char why[256];

                snprintf(why, sizeof(why), "%s", err);
                snprintf(err, errlen, "hub.conf:%d: %s", rc, why);
                return -EINVAL;
        }
        if (rc != 0) {
                snprintf(err, errlen, "hub.conf:%d: not valid ini syntax", rc > 0 ? rc : 0);
                return -EINVAL;
        }
        if (cfg->limits.member_burst < 1)
                cfg->limits.member_burst = 1;
        return 0;
}

int hub_config_write(const struct hub_config *cfg, const char *hub_dir)
{
        char buf[2048];
        char *path = util_path(hub_dir, "hub.conf");
        int n, r;

        if (!path)
                return -ENOMEM;
        n = snprintf(buf, sizeof(buf),
                     "; nmo-hub configuration. `nmo-hub serve --help` explains each setting.\n"
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
                     "handshake_ms = %u\n",
                     cfg->listen, cfg->limits.max_message, cfg->limits.queue, cfg->limits.batch,
                     cfg->limits.member_rate, cfg->limits.member_burst, cfg->limits.handshake_ms);
        r = n > 0 && (size_t)n < sizeof(buf) ? util_write_file(path, buf, (size_t)n, 0600, true)
                                             : -ENOBUFS;
        free(path);
        return r;
}
