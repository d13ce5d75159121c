/* node-config.h: a node's configuration (DIR/node.conf) and every limit the node
 * applies, gathered in one struct with their defaults.
 *
 * node.conf is an ini file read with libinih, strictly: an unknown section or
 * key, a repeated key, a bad number or a syntax error is refused with its line
 * number.
 *
 *   [hub]
 *   endpoint = tcp://HOST:PORT         ; required
 *   alerts = tcp://HOST:PORT           ; the alert feed; default: endpoint, port + 1
 *   [delivery]
 *   window = 64                        ; signals in flight, 1..1024
 *   reply_timeout_ms = 10000           ; 100..3600000
 *   retry_min_ms = 500                 ; 10..3600000
 *   retry_max_ms = 60000               ; retry_min_ms..86400000
 *   [metrics]
 *   listen = 127.0.0.1:9751            ; Prometheus endpoint; default: empty, none
 *   [log]
 *   level = info                       ; error, warning, info or debug
 *
 * `nmo-node run` reads it again on SIGHUP: [delivery] and [log] apply at
 * once, the [hub] endpoints and [metrics] listen at the next start.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "util.h"

#define NODE_ENDPOINT_MAX 255
#define NODE_CONF_MAX 65536

#define NODE_WINDOW_MAX 1024u

struct node_config {
        char hub_endpoint[NODE_ENDPOINT_MAX + 1];
        /* The hub's alert feed; after node_config_load() the [hub] alerts value,
         * or else hub_endpoint with port + 1 ("" when that port is 65535). */
        char alerts_endpoint[NODE_ENDPOINT_MAX + 1];
        /* [metrics] listen: ADDRESS:PORT of the agent's Prometheus endpoint
         * (promhttp.h promhttp_parse_listen(), node-metrics.h); "": none. */
        char metrics_listen[NODE_ENDPOINT_MAX + 1];
        /* [delivery], from node.conf: */
        uint32_t window;                /* signals in flight at once */
        uint32_t reply_timeout_ms;      /* wait for a reply before trying again */
        uint32_t retry_min_ms;          /* first backoff step */
        uint32_t retry_max_ms;          /* largest backoff step */
        uint32_t log_level;             /* [log] level: enum log_level (common/log.h) */
        /* Fixed limits (not in node.conf): */
        uint32_t rescan_ms;             /* outbox re-scan even without a nudge */
        uint32_t heartbeat_ivl_ms;      /* ZMTP heartbeats to notice a dead hub */
        uint32_t heartbeat_timeout_ms;
        uint32_t reconnect_ivl_ms;      /* first reconnect delay */
        uint32_t reconnect_ivl_max_ms;  /* reconnect backoff cap */
        uint32_t replies_per_round;     /* replies applied per write transaction */
        uint32_t hwm;                   /* ZMQ send/receive high-water marks */
        uint32_t alert_hwm;             /* alert feed: messages queued on receipt */
        uint32_t alert_batch;           /* alert feed: alerts stored per transaction */
        uint32_t alert_wait_ms;         /* `alerts` without --follow: longest wait */
        uint32_t alert_quiet_ms;        /* ... or this long after the last message */
};

/* Fills cfg with the defaults (and empty endpoints). */
void node_config_defaults(struct node_config *cfg);

/* Strictly parses node.conf text of len bytes (need not be NUL terminated)
 * into cfg, defaults first. name (the file's path) starts every message. On
 * failure returns -EINVAL (-EFBIG beyond NODE_CONF_MAX bytes) with
 * "NAME:LINE: reason" or "NAME: reason" in err. */
NMO_WUR int node_config_parse(struct node_config *cfg, const char *text, size_t len,
                              const char *name, char *err, size_t errlen);

/* Reads path (at most NODE_CONF_MAX bytes) and parses it with
 * node_config_parse(). On failure returns -EINVAL (or the read error) with
 * "PATH:LINE: reason" or "PATH: reason" in err. */
NMO_WUR int node_config_load(struct node_config *cfg, const char *path, char *err,
                             size_t errlen);

/* Formats cfg as node.conf text into a fresh string (free()). An empty
 * alerts_endpoint is written as a comment showing the default, an empty
 * metrics_listen as a comment showing an example. */
NMO_WUR int node_config_format(const struct node_config *cfg, char **text);

/* Does endpoint look like tcp://HOST:PORT (HOST a name, IPv4 address or
 * [IPv6] address, PORT 1..65535)? */
bool node_endpoint_ok(const char *endpoint);

/* Writes endpoint (node_endpoint_ok()) with its port + 1 into out (len bytes):
 * the default alert feed of a hub. -ERANGE when the port is 65535, -EINVAL
 * when endpoint is not tcp://HOST:PORT or out is too small. */
NMO_WUR int node_endpoint_next_port(const char *endpoint, char *out, size_t len);
