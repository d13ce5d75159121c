/* zap.h: the ZAP handler (ZeroMQ RFC 27) that admits CurveZMQ clients.
 *
 * A client passes the handshake only if its transport public key belongs to an
 * enrolled member whose state is active, and only in the ZAP domain "nmo". The
 * member id is returned as the ZAP User-Id, which libzmq attaches to every
 * message of that connection; the ingest pipeline reads it per message. */
#pragma once

#include "store.h"

#define HUB_ZAP_DOMAIN "nmo"

struct hub_zap;

/* Binds the handler in ctx (before any CURVE server socket binds) and starts
 * its thread. The store is borrowed and must outlive the handler. */
NMO_WUR int hub_zap_start(struct hub_zap **ret, void *zmq_ctx, struct hub_store *st);

/* Joins the handler's thread; call after zmq_ctx_shutdown(). Accepts NULL. */
void hub_zap_stop(struct hub_zap *zap);
