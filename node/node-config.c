/* node-config.c: node.conf and the node's limits. See node-config.h. */
#include "node-config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ini.h>

#include "promhttp.h"

void node_config_defaults(struct node_config *cfg)
{
        memset(cfg, 0, sizeof(*cfg));
        cfg->log_level = 2; /* info (common/log.h) */
        cfg->window = 64;
        cfg->reply_timeout_ms = 10000;
        cfg->retry_min_ms = 500;
        cfg->retry_max_ms = 60000;
        cfg->rescan_ms = 1000;
        cfg->heartbeat_ivl_ms = 10000;
        cfg->heartbeat_timeout_ms = 30000;
        cfg->reconnect_ivl_ms = 500;
        cfg->reconnect_ivl_max_ms = 30000;
        cfg->replies_per_round = 256;
        cfg->hwm = 2 * NODE_WINDOW_MAX;
        /* A catch-up of 30 days of alerts is tens of messages, each at most
         * ALERT_MAX bytes: 1000 queued is about 4 MiB at worst. */
        cfg->alert_hwm = 1000;
        cfg->alert_batch = 64;
        cfg->alert_wait_ms = 3000;
        cfg->alert_quiet_ms = 500;
}

static bool host_char_ok(char c)
{
        return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

/* Checks endpoint as node_endpoint_ok() does and finds its port. */
static bool endpoint_parse(const char *endpoint, const char **port_text, uint32_t *port)
{
        const char *host, *colon;

        if (!endpoint || strlen(endpoint) > NODE_ENDPOINT_MAX ||
            strncmp(endpoint, "tcp://", 6) != 0)
                return false;
        host = endpoint + 6;
        if (*host == '[') {
                const char *close = strchr(host, ']');

                if (!close || close == host + 1 || close[1] != ':')
                        return false;
                for (const char *p = host + 1; p < close; p++)
                        if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                                return false;
                colon = close + 1;
        } else {
                colon = strrchr(host, ':');
                if (!colon || colon == host)
                        return false;
                for (const char *p = host; p < colon; p++)
                        if (!host_char_ok(*p))
                                return false;
        }
        *port_text = colon + 1;
        return util_parse_u32(colon + 1, 1, 65535, port) == 0;
}

bool node_endpoint_ok(const char *endpoint)
{
        const char *port_text;
        uint32_t port;

        return endpoint_parse(endpoint, &port_text, &port);
}

int node_endpoint_next_port(const char *endpoint, char *out, size_t len)
{
        const char *port_text;
        uint32_t port;
        int n;

        if (!endpoint_parse(endpoint, &port_text, &port))
                return -EINVAL;
        if (port == 65535)
                return -ERANGE;
        n = snprintf(out, len, "%.*s%u", (int)(port_text - endpoint), endpoint, port + 1);
        if (n < 0 || (size_t)n >= len)
                return -EINVAL;
        return 0;
}

enum conf_key {
        KEY_ENDPOINT,
        KEY_ALERTS,
        KEY_WINDOW,
        KEY_REPLY_TIMEOUT,
        KEY_RETRY_MIN,
        KEY_RETRY_MAX,
        KEY_LOG_LEVEL,
        KEY_METRICS_LISTEN,
};

static const char *const log_levels[] = { "error", "warning", "info", "debug" };

static const struct {
        const char *section;
        const char *name;
        uint32_t min;
        uint32_t max;
        size_t offset; /* of a uint32_t, or of an endpoint for the [hub] keys */
} conf_keys[] = {
        [KEY_ENDPOINT] = { "hub", "endpoint", 0, 0, offsetof(struct node_config, hub_endpoint) },
        [KEY_ALERTS] = { "hub", "alerts", 0, 0, offsetof(struct node_config, alerts_endpoint) },
        [KEY_WINDOW] = { "delivery", "window", 1, NODE_WINDOW_MAX,
                         offsetof(struct node_config, window) },
        [KEY_REPLY_TIMEOUT] = { "delivery", "reply_timeout_ms", 100, 3600000,
                                offsetof(struct node_config, reply_timeout_ms) },
        [KEY_RETRY_MIN] = { "delivery", "retry_min_ms", 10, 3600000,
                            offsetof(struct node_config, retry_min_ms) },
        [KEY_RETRY_MAX] = { "delivery", "retry_max_ms", 10, 86400000,
                            offsetof(struct node_config, retry_max_ms) },
        [KEY_LOG_LEVEL] = { "log", "level", 0, 0, offsetof(struct node_config, log_level) },
        [KEY_METRICS_LISTEN] = { "metrics", "listen", 0, 0,
                                 offsetof(struct node_config, metrics_listen) },
};

struct parse_ctx {
        struct node_config *cfg;
        const char *next;       /* what the reader hands inih next */
        const char *end;
        int lineno;             /* the line the reader returned last */
        bool indented;          /* that line started with white space */
        int err_line;           /* first problem we found, 0: none */
        char err[200];
        unsigned int seen;      /* 1U << enum conf_key */
};

static void parse_fail(struct parse_ctx *ctx, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void parse_fail(struct parse_ctx *ctx, const char *fmt, ...)
{
        va_list ap;

        if (ctx->err_line)
                return;
        ctx->err_line = ctx->lineno;
        va_start(ap, fmt);
        vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
        va_end(ap);
}

static void check_section_line(struct parse_ctx *ctx, const char *line, size_t len)
{
        const char *p = line, *end = line + len, *close;
        size_t n;

        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        if (p == end || *p != '[')
                return;
        close = memchr(p, ']', (size_t)(end - p));
        if (!close)
                return; /* inih reports the syntax error */
        n = (size_t)(close - p - 1);
        if ((n == 3 && memcmp(p + 1, "hub", 3) == 0) ||
            (n == 8 && memcmp(p + 1, "delivery", 8) == 0) ||
            (n == 7 && memcmp(p + 1, "metrics", 7) == 0) ||
            (n == 3 && memcmp(p + 1, "log", 3) == 0))
                return;
        parse_fail(ctx, "unknown section [%.*s] (known: [hub], [delivery], [metrics], [log])",
                   (int)(n > 40 ? 40 : n), p + 1);
}

/* fgets-like reader over the file's bytes, so the handler knows line numbers. */
static char *conf_reader(char *str, int num, void *stream)
{
        struct parse_ctx *ctx = stream;
        const char *nl;
        size_t len, take;

        if (ctx->next >= ctx->end || num < 2)
                return NULL;
        nl = memchr(ctx->next, '\n', (size_t)(ctx->end - ctx->next));
        len = nl ? (size_t)(nl - ctx->next) + 1 : (size_t)(ctx->end - ctx->next);
        ctx->lineno++;
        ctx->indented = ctx->next[0] == ' ' || ctx->next[0] == '\t';
        take = len;
        if (take > (size_t)num - 1) {
                parse_fail(ctx, "line longer than %d bytes", num - 3);
                take = 0;
        } else if (memchr(ctx->next, '\0', len)) {
                parse_fail(ctx, "NUL byte in the file");
                take = 0;
        } else {
                check_section_line(ctx, ctx->next, len);
        }
        memcpy(str, ctx->next, take);
        str[take] = '\0';
        ctx->next += len;
        return str;
}

static int conf_handler(void *user, const char *section, const char *name, const char *value)
{
        struct parse_ctx *ctx = user;
        bool known_section = false;

        for (size_t i = 0; i < NMO_ARRAY_SIZE(conf_keys); i++) {
                uint32_t *field;

                if (strcmp(section, conf_keys[i].section) != 0)
                        continue;
                known_section = true;
                if (strcmp(name, conf_keys[i].name) != 0)
                        continue;
                if (ctx->seen & (1U << i)) {
                        if (ctx->indented)
                                parse_fail(ctx, "indented line: continuation lines are not "
                                           "allowed, remove the leading white space");
                        else
                                parse_fail(ctx, "%s given more than once", name);
                        return 0;
                }
                ctx->seen |= 1U << i;
                if (i == KEY_ENDPOINT || i == KEY_ALERTS) {
                        char *ep = (char *)ctx->cfg + conf_keys[i].offset;

                        if (!node_endpoint_ok(value)) {
                                parse_fail(ctx, "%s: \"%.60s\" is not tcp://HOST:PORT", name,
                                           value);
                                return 0;
                        }
                        snprintf(ep, NODE_ENDPOINT_MAX + 1, "%s", value);
                        return 1;
                }
                if (i == KEY_METRICS_LISTEN) {
                        /* Empty: no endpoint (the default). */
                        if (value[0] && (strlen(value) > NODE_ENDPOINT_MAX ||
                                         promhttp_parse_listen(value, NULL, NULL) < 0)) {
                                parse_fail(ctx, "[metrics] listen must be empty or ADDRESS:PORT "
                                           "with an IPv4 address or a bracketed IPv6 address "
                                           "(127.0.0.1:9751, [::1]:9751), not \"%.60s\"",
                                           value);
                                return 0;
                        }
                        snprintf(ctx->cfg->metrics_listen, sizeof(ctx->cfg->metrics_listen), "%s",
                                 value);
                        return 1;
                }
                field = (uint32_t *)(void *)((char *)ctx->cfg + conf_keys[i].offset);
                if (i == KEY_LOG_LEVEL) {
                        for (size_t l = 0; l < NMO_ARRAY_SIZE(log_levels); l++) {
                                if (strcmp(value, log_levels[l]) == 0) {
                                        *field = (uint32_t)l;
                                        return 1;
                                }
                        }
                        parse_fail(ctx, "level: \"%.40s\" is not error, warning, info or debug",
                                   value);
                        return 0;
                }
                if (util_parse_u32(value, conf_keys[i].min, conf_keys[i].max, field) < 0) {
                        parse_fail(ctx, "%s: \"%.40s\" is not a whole number from %u to %u",
                                   name, value, conf_keys[i].min, conf_keys[i].max);
                        return 0;
                }
                return 1;
        }
        if (!section[0])
                parse_fail(ctx, "%s: key outside a section", name);
        else if (known_section)
                parse_fail(ctx, "unknown key %s in [%s]", name, section);
        else
                parse_fail(ctx, "unknown section [%s]", section);
        return 0;
}

int node_config_parse(struct node_config *cfg, const char *text, size_t len, const char *name,
                      char *err, size_t errlen)
{
        struct parse_ctx ctx;
        int line;

        node_config_defaults(cfg);
        if (len > NODE_CONF_MAX) {
                util_set_err(err, errlen, "%s: larger than 64 KiB", name);
                return -EFBIG;
        }
        memset(&ctx, 0, sizeof(ctx));
        ctx.cfg = cfg;
        ctx.next = text;
        ctx.end = text + len;
        line = ini_parse_stream(conf_reader, &ctx, conf_handler, &ctx);
        if (line == -2) {
                util_set_err(err, errlen, "%s: out of memory", name);
                return -ENOMEM;
        }
        if (line < 0) {
                util_set_err(err, errlen, "%s: cannot parse", name);
                return -EINVAL;
        }
        /* inih reports its first failing line; our own checks may have found an
         * earlier one (an unknown empty section, an over-long line). */
        if (ctx.err_line && (line == 0 || ctx.err_line <= line)) {
                util_set_err(err, errlen, "%s:%d: %s", name, ctx.err_line, ctx.err);
                return -EINVAL;
        }
        if (line > 0) {
                util_set_err(err, errlen, "%s:%d: syntax error (expected [section] or key = value)",
                        name, line);
                return -EINVAL;
        }
        if (!(ctx.seen & (1U << KEY_ENDPOINT))) {
                util_set_err(err, errlen, "%s: [hub] endpoint is missing", name);
                return -EINVAL;
        }
        if (!(ctx.seen & (1U << KEY_ALERTS))) {
                /* Port 65535 has no default; `nmo-node alerts` asks for the key. */
                if (node_endpoint_next_port(cfg->hub_endpoint, cfg->alerts_endpoint,
                                            sizeof(cfg->alerts_endpoint)) < 0)
                        cfg->alerts_endpoint[0] = '\0';
        } else if (strcmp(cfg->alerts_endpoint, cfg->hub_endpoint) == 0) {
                util_set_err(err, errlen, "%s: [hub] alerts is the same as endpoint; the hub "
                             "publishes alerts on a port of their own", name);
                return -EINVAL;
        }
        if (cfg->retry_max_ms < cfg->retry_min_ms) {
                util_set_err(err, errlen, "%s: retry_max_ms (%u) is smaller than retry_min_ms (%u)",
                        name, cfg->retry_max_ms, cfg->retry_min_ms);
                return -EINVAL;
        }
        return 0;
}

int node_config_load(struct node_config *cfg, const char *path, char *err, size_t errlen)
{
        char *text = NULL;
        size_t len = 0;
        int r;

        node_config_defaults(cfg);
        r = util_read_file(path, NODE_CONF_MAX, &text, &len);
        if (r < 0) {
                util_set_err(err, errlen, "%s: %s", path,
                        r == -EFBIG ? "larger than 64 KiB" : strerror(-r));
                return r;
        }
        r = node_config_parse(cfg, text, len, path, err, errlen);
        free(text);
        return r;
}

int node_config_format(const struct node_config *cfg, char **text)
{
        char def[NODE_ENDPOINT_MAX + 1], alerts[NODE_ENDPOINT_MAX + 96];
        int n;

        /* Without an explicit feed endpoint the line stays a comment, so that
         * the default follows the endpoint when an operator changes it. */
        if (cfg->alerts_endpoint[0])
                snprintf(alerts, sizeof(alerts), "alerts = %s\n", cfg->alerts_endpoint);
        else if (node_endpoint_next_port(cfg->hub_endpoint, def, sizeof(def)) == 0)
                snprintf(alerts, sizeof(alerts), "# alerts = %s   (the default: endpoint, "
                         "port + 1)\n", def);
        else
                snprintf(alerts, sizeof(alerts), "# alerts = tcp://HOST:PORT   (needed by "
                         "`nmo-node alerts`)\n");
        n = asprintf(text,
                     "# nmo-node configuration; nmo-node.conf(5) explains each setting.\n"
                     "[hub]\n"
                     "endpoint = %s\n"
                     "%s"
                     "\n"
                     "[delivery]\n"
                     "window = %u            ; max signals in flight (1..1024)\n"
                     "reply_timeout_ms = %u  ; wait this long for the hub's reply\n"
                     "retry_min_ms = %u        ; first retry delay\n"
                     "retry_max_ms = %u      ; longest retry delay\n"
                     "\n"
                     "[metrics]\n"
                     "# ADDRESS:PORT of the agent's Prometheus endpoint (GET /metrics), empty\n"
                     "# for none. It has no authentication: keep it on loopback or a\n"
                     "# firewalled interface\n"
                     "%slisten = %s\n"
                     "\n"
                     "[log]\n"
                     "level = %s            ; error, warning, info or debug (-v/-q win)\n",
                     cfg->hub_endpoint, alerts, cfg->window, cfg->reply_timeout_ms,
                     cfg->retry_min_ms, cfg->retry_max_ms,
                     cfg->metrics_listen[0] ? "" : "# ",
                     cfg->metrics_listen[0] ? cfg->metrics_listen : "127.0.0.1:9751",
                     log_levels[cfg->log_level < NMO_ARRAY_SIZE(log_levels) ? cfg->log_level : 2]);
        if (n < 0) {
                *text = NULL;
                return -ENOMEM;
        }
        return 0;
}
