/* feed.h: the alert feed subscriber behind `nmo-node alerts`.
 *
 * One SUB socket, a CurveZMQ client of the hub's XPUB socket (this member's
 * transport keys; the hub's transport key as the server key), subscribed to
 * ALERT_TOPIC (live alerts) and to a catch-up topic of its own
 * (ALERT_CATCHUP_MARK and ALERT_CATCHUP_NONCE random bytes, drawn per run;
 * PROTOCOL.md 14.5). An alert is a message of two frames: the topic
 * (ALERT_TOPIC, or the catch-up topic followed by ALERT_TOPIC), then a
 * SignedAlert that must pass feed_check_alert(); the catch-up topic followed
 * by HUBKEY_TOPIC brings the hub's key announcement. Anything else (another
 * frame count or topic, a bad signature, a malformed body) is logged as a
 * warning and dropped: never stored, never shown.
 *
 * Good alerts go to the outbox (outbox_put_alerts()), which keeps the highest
 * revision of each id. The hub sends its last 30 days of alerts to this
 * subscriber on each (re)connection, within a rate per member, and rebinds
 * its socket when a member is suspended or revoked (libzmq reconnects), so the
 * same alert may arrive again; only new ids and higher revisions reach
 * on_alert. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "keys.h"
#include "util.h"

struct node;
struct outbox;

/* Called for each alert stored as a new id or a higher revision; body is
 * valid only during the call. Return 0 to go on, a negative errno to make
 * feed_run() stop with it. */
typedef int (*feed_alert_fn)(const Nmo__AlertBody *body, void *userdata);

struct feed_options {
        /* Run until SIGINT or SIGTERM. Without it, feed_run() returns after
         * wait_ms, or cfg.alert_quiet_ms after the last message (or after the
         * handshake, when nothing came), or at once when the handshake was
         * refused and nothing came. */
        bool follow;
        uint64_t wait_ms;
        feed_alert_fn on_alert;         /* may be NULL */
        void *userdata;
};

/* What happened on the feed, for the command's messages and exit status. */
struct feed_result {
        size_t received;        /* good alerts, repeats included */
        size_t stored;          /* of those, new ids or higher revisions */
        size_t ignored;         /* messages dropped */
        bool reached;           /* a TCP connection was made */
        bool connected;         /* a CurveZMQ handshake succeeded */
        bool refused;           /* the hub refused this node's key (ZAP) */
        bool protocol_error;    /* a handshake failed with a protocol error */
        bool key_mismatch;      /* a handshake failed without detail: hub.pub is wrong */
        bool interrupted;       /* stopped by SIGINT or SIGTERM */
};

/* Verifies a SignedAlert of len bytes with the hub's signing key sign_pk
 * (alert_verify()) and checks what this node relies on: an id of
 * OUTBOX_ALERT_ID_LEN lower-case hex digits, a revision of at least 1, text
 * fields of printable UTF-8 on one line, a finite baseline that is not
 * negative. On success *body is the decoded body (free it with
 * nmo__alert_body__free_unpacked()). Returns -EKEYREJECTED for a bad
 * signature, -EBADMSG for anything malformed, -ENOMEM. */
NMO_WUR int feed_check_alert(const uint8_t *buf, size_t len,
                             const uint8_t sign_pk[KEYS_KEY_BYTES], Nmo__AlertBody **body);

/* Subscribes node n (configuration and keys loaded) to its hub's alert feed
 * at n->cfg.alerts_endpoint and stores what arrives in ob (opened writable)
 * until opts says to stop. SIGINT and SIGTERM are taken through a signalfd
 * while it runs. *res (always filled) says what happened. Returns 0, or a
 * negative errno (logged) when ZeroMQ, the outbox or on_alert failed. */
NMO_WUR int feed_run(struct node *n, struct outbox *ob, const struct feed_options *opts,
                     struct feed_result *res);
