/* config.h: the hub's settings: where it listens and every limit on what a
 * peer controls, with defaults, read from DIR/hub.conf (ini) and overridable on
 * the command line. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define HUB_DEFAULT_LISTEN "tcp://*:7750"
#define HUB_DEFAULT_ALERTS "tcp://*:7751"
/* hub_config.alerts_listen when hub.conf does not set it: the feed takes the
 * host of the listen endpoint and its port plus one (PROTOCOL.md 14.1). */
#define HUB_ALERTS_FROM_LISTEN ""
#define HUB_ENDPOINT_MAX 256
/* Largest hub.conf read; the written one is under 2 KiB. */
#define HUB_CONF_MAX 65536

struct hub_limits {
        uint32_t max_message;   /* ZMQ_MAXMSGSIZE: a larger frame disconnects the peer */
        uint32_t queue;         /* ZMQ high-water marks, messages per direction */
        uint32_t batch;         /* most envelopes committed in one transaction */
        uint32_t member_rate;   /* sustained envelopes per second per member */
        uint32_t member_burst;  /* envelopes a member may send at once */
        uint32_t handshake_ms;  /* time a peer gets to finish the CURVE handshake */
        uint32_t reply_queue;   /* replies queued per connection before it counts as not
                                 * reading and is closed (ZMQ_SNDHWM of the ROUTER) */
        uint32_t member_connections; /* connections one member key may hold on each
                                      * socket (envelopes, alert feed) */
        uint32_t unauthenticated; /* connections not yet through the handshake, both
                                   * sockets together; the oldest is closed beyond it;
                                   * 0: twice the members ever enrolled, at least 512
                                   * (server.c) */
        uint32_t backlog;       /* ZMQ_BACKLOG of both listening sockets; 0: twice the
                                 * members ever enrolled, at least 4096 (server.c) */
};

/* Most materials [privacy] sensitive may name. */
#define HUB_SENSITIVE_MAX 64
#define HUB_SENSITIVE_NAME_MAX 32

/* Disclosure control (hub/disclosure.h) and the noise of released figures
 * (hub/perturb.h). */
struct hub_privacy {
        uint32_t min_reporters; /* distinct reporters for a cell to be released, >= 3 */
        uint32_t dominance_n;   /* the (n,k) dominance rule on volumes */
        uint32_t dominance_k;   /* percent */
        /* Protection intervals: what the feasible range of every cell
         * suppressed for too few reporters, from everything ever released,
         * must span at least. */
        uint32_t protection_reports; /* reports */
        /* The cell key method: largest deviation of a count, the noise's
         * variance, and the volumes' noise in percent of a cell's largest
         * contribution. */
        uint32_t noise_max;
        double noise_variance;
        uint32_t noise_volume;
        /* Materials with stricter rules: their own threshold and dominance. */
        char sensitive[HUB_SENSITIVE_MAX][HUB_SENSITIVE_NAME_MAX];
        uint32_t nsensitive;
        uint32_t sensitive_min_reporters;
        uint32_t sensitive_dominance_n;
        uint32_t sensitive_dominance_k;
};

/* The release calendar (hub/aggregate.h). */
struct hub_release {
        uint32_t delay_hours;   /* a week's figures are released this long after it ends */
};

/* Alert rules over released cells (hub/aggregate.c). */
struct hub_alert_rules {
        uint32_t severity_reporters; /* companies reporting high/critical within 14 days */
        uint32_t surge_percent;      /* weekly reports above this percent of the baseline */
        uint32_t surge_weeks;        /* baseline: mean of this many previous weeks */
        uint32_t surge_min_reports;  /* and at least this many reports in the week */
        uint32_t new_restriction;    /* 1: alert on a new export restriction type */
};

struct hub_config {
        char listen[HUB_ENDPOINT_MAX];
        char alerts_listen[HUB_ENDPOINT_MAX]; /* HUB_ALERTS_FROM_LISTEN: derived */
        /* [metrics] listen: HOST:PORT of the Prometheus endpoint (hub/metrics.h);
         * empty: none. */
        char metrics_listen[HUB_ENDPOINT_MAX];
        uint32_t log_level;     /* [log] level: enum log_level (common/log.h) */
        /* Given on the command line of `serve`, so hub.conf's value does not
         * apply (also not when it is reloaded). */
        bool listen_set;
        bool alerts_listen_set;
        bool log_level_set;
        struct hub_limits limits;
        struct hub_privacy privacy;
        struct hub_release release;
        struct hub_alert_rules alerts;
};

/* Is material one of [privacy] sensitive? */
bool hub_privacy_sensitive(const struct hub_privacy *p, const char *material);

/* Fills cfg with the defaults. */
void hub_config_defaults(struct hub_config *cfg);

/* Parses hub.conf text of len bytes (need not be NUL terminated) over the
 * values already in cfg. An unknown section or key, a bad value or a syntax
 * error is -EINVAL with "hub.conf:LINE: reason" in err; a NUL byte is -EINVAL,
 * more than HUB_CONF_MAX bytes -EFBIG. cfg may be partly set on failure. */
NMO_WUR int hub_config_parse(struct hub_config *cfg, const char *text, size_t len, char *err,
                             size_t errlen);

/* Reads DIR/hub.conf (at most HUB_CONF_MAX bytes) with hub_config_parse() over
 * the defaults in cfg. A missing file is fine (-ENOENT is not returned); a
 * file that cannot be read returns its error with "hub.conf: reason" in err. */
NMO_WUR int hub_config_load(struct hub_config *cfg, const char *hub_dir, char *err,
                            size_t errlen);

/* Writes a commented hub.conf with cfg's values; refuses to overwrite. */
NMO_WUR int hub_config_write(const struct hub_config *cfg, const char *hub_dir);

/* The alert feed's endpoint: cfg->alerts_listen when set, otherwise the host
 * of cfg->listen with its port plus one (tcp://127.0.0.1:7750 gives
 * tcp://127.0.0.1:7751), so that a hub told to listen on one interface does
 * not publish on every other. Writes at most HUB_ENDPOINT_MAX bytes to out;
 * -EINVAL when cfg->listen is not tcp://HOST:PORT or its port is 65535. */
NMO_WUR int hub_config_alerts_endpoint(const struct hub_config *cfg,
                                       char out[HUB_ENDPOINT_MAX]);

/* Does s look like tcp://HOST:PORT (HOST may be * or an address)? */
bool hub_config_endpoint_ok(const char *s);
