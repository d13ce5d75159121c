/* feedpub.h: the hub's side of the alert feed (PROTOCOL.md 14): an XPUB
 * socket, CurveZMQ server admitted by ZAP (domain HUB_ZAP_DOMAIN_FEED), in
 * ZMQ_XPUB_MANUAL mode so that the hub decides what each subscription does.
 *
 * - A subscription to ALERT_TOPIC, exactly, takes effect: live alerts go to
 *   every such subscriber.
 * - A subscription of ALERT_CATCHUP_LEN bytes starting with
 *   ALERT_CATCHUP_MARK asks for the catch-up (the hub key announcement, then
 *   the alerts of the last 30 days), which is published under that topic and
 *   so reaches that subscriber alone; the subscription is withdrawn right
 *   after. Each member gets at most FEEDPUB_CATCHUP_BURST catch-ups at once
 *   and one more every FEEDPUB_CATCHUP_EVERY_MS; beyond that they are
 *   ignored.
 * - Anything else (a prefix, the empty topic that matches everything, any
 *   other topic) takes no effect.
 * - A connection that sends more than FEEDPUB_MAX_SUBSCRIPTIONS subscription
 *   messages is closed: a node sends two per connection, and libzmq keeps
 *   every topic a subscriber names until it disconnects.
 *
 * Only the hub's loop may call these functions. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"
#include "config.h"
#include "conns.h"
#include "keyrot.h"
#include "keys.h"

#define FEEDPUB_CATCHUP_BURST 3
#define FEEDPUB_CATCHUP_EVERY_MS 20000
#define FEEDPUB_MAX_SUBSCRIPTIONS 8
/* A catch-up holds the alerts of this many days. */
#define FEEDPUB_CATCHUP_DAYS 30

struct hub_feed;

/* Opens the feed on endpoint (tcp://HOST:PORT) with the hub's transport
 * keys, counting its connections in conns (all borrowed; they must outlive
 * the feed). Retries a port that is still in use for up to 2 s. Logs and
 * returns a negative errno when it cannot bind. */
NMO_WUR int hub_feed_open(struct hub_feed **ret, void *ctx, const struct keys_secret *hub,
                          const struct hub_config *cfg, const char *endpoint,
                          struct hub_conns *conns);

/* Closes and binds the socket again, ending every subscription (after a
 * member was suspended or revoked, every subscriber must pass ZAP again). On
 * failure (logged) the feed is closed and the error returned. */
NMO_WUR int hub_feed_reopen(struct hub_feed *f);

/* The socket to poll for ZMQ_POLLIN (subscriptions), and the monitor of its
 * connections (hub_conns_events() reads it); NULL when closed. */
void *hub_feed_socket(const struct hub_feed *f);
void *hub_feed_monitor(const struct hub_feed *f);

/* Publishes one live alert (SignedAlert bytes) to every subscriber of
 * ALERT_TOPIC. A failure is logged. */
void hub_feed_publish(struct hub_feed *f, const uint8_t *signed_alert, size_t len);

/* Reads every waiting subscription message and acts on it as above; the
 * catch-up comes from ag and the announcement of kr (both borrowed). */
void hub_feed_subscriptions(struct hub_feed *f, struct hub_aggregate *ag,
                            const struct hub_keyrot *kr);

/* Closes; accepts NULL. */
void hub_feed_free(struct hub_feed *f);
