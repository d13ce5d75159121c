/* client.h: what the node's connections to the hub share (the agent's DEALER,
 * the alert feed's SUB, the key rotation's DEALER): errno conversion, integer
 * options, and CurveZMQ client keys with a monitor, then the connection. */
#pragma once

#include "keys.h"
#include "node.h"
#include "util.h"

/* The last zmq_* failure as a negative errno. */
int client_zmq_err(void);

/* zmq_setsockopt of an int; 0 or a negative errno. */
NMO_WUR int client_set_int(void *sock, int opt, int value);

/* Gives sock the member's CURVE client keys (keys; binary, straight from
 * their sodium_malloc() memory, so there is no copy to wipe) and the hub's
 * transport key, attaches a monitor for events (a PAIR in ctx connected to
 * monitor_endpoint, returned in *monitor, linger 0) before connecting, then
 * connects sock to endpoint. A failed connect is logged with n's config
 * path. On failure *monitor may be set; the caller closes it. */
NMO_WUR int client_curve_connect(void *ctx, void *sock, const struct node *n,
                                 const struct keys_secret *keys, const char *endpoint,
                                 const char *monitor_endpoint, int events, void **monitor);

/* How a failed connection to the hub is put in words, the same by the agent
 * (`run`, `status`) and by `alerts`. */
#define CLIENT_KEY_MISMATCH_TEXT                                                         \
        "CurveZMQ handshake failed - the hub's public key in keys/hub.pub does not "     \
        "match the hub (check hub.pub, or that the endpoint is an nmo-hub)"
#define CLIENT_REFUSED_TEXT                                                              \
        "the hub refused this node's key: this node's key is not enrolled, suspended "   \
        "or revoked; ask the hub operator"

/* Tries a plain TCP connection to endpoint (tcp://HOST:PORT) for at most
 * timeout_ms, to learn why ZeroMQ cannot connect (it does not say). Returns 0
 * when something accepts, or a negative errno: -ECONNREFUSED, -ETIMEDOUT,
 * -EHOSTUNREACH, -ENETUNREACH, -ENXIO when the host name does not resolve. */
NMO_WUR int client_probe(const char *endpoint, int timeout_ms);

/* The cause of client_probe()'s result in words ("connection refused", ...). */
const char *client_probe_text(int r);
