/* zap.h: the ZAP handler (ZeroMQ RFC 27) that admits CurveZMQ clients.
 *
 * A client passes the handshake only if its transport public key belongs to an
 * enrolled member whose state is active, and only in the ZAP domain "nmo". The
 * member id is returned as the ZAP User-Id, which libzmq attaches to every
 * message of that connection; the ingest pipeline reads it per message. */
#pragma once

#include "conns.h"
#include "store.h"

/* The envelope socket's domain and the alert feed's: ZAP domains are the
 * server's setting, never seen by a peer; two of them tell the handler which
 * socket a handshake is for, since each counts a member's connections apart. */
#define HUB_ZAP_DOMAIN "nmo"
#define HUB_ZAP_DOMAIN_FEED "nmo-feed"

struct hub_zap;

/* Binds the handler in ctx (before any CURVE server socket binds) and starts
 * its thread. The store and conns are borrowed and must outlive the handler.
 * A member that holds limits.member_connections connections on the socket
 * already is refused (400, "too many connections"; conns.h).
 *
 * Refusals are logged one a second at most; when the second after a logged
 * one closes (the handler wakes for it, also when nothing else comes) and at
 * hub_zap_stop(), one line gives the number refused without a line of
 * their own, so the lines and that number always add up to every refusal. */
NMO_WUR int hub_zap_start(struct hub_zap **ret, void *zmq_ctx, struct hub_store *st,
                          struct hub_conns *conns);

/* Joins the handler's thread; call after zmq_ctx_shutdown(). Accepts NULL. */
void hub_zap_stop(struct hub_zap *zap);
