/* alert.h: signed alerts, as the hub publishes them and members verify them.
 *
 * The signature is Ed25519 by the hub's signing key over the context string
 * "nmo-signal alert v1", one zero byte, then the serialised AlertBody. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "alert.pb-c.h"
#include "keys.h"
#include "util.h"

/* Largest SignedAlert either side produces or accepts. */
#define ALERT_MAX 4096
/* The topic frame of a live alert on the feed, and the subscription that
 * asks for live alerts. */
#define ALERT_TOPIC "alert"
/* A catch-up subscription (PROTOCOL.md 14.5): the byte ALERT_CATCHUP_MARK
 * then ALERT_CATCHUP_NONCE random bytes the node draws per subscriber. The
 * catch-up comes under this topic followed by ALERT_TOPIC (an alert) or
 * HUBKEY_TOPIC (the hub key announcement), to this subscriber only. */
#define ALERT_CATCHUP_MARK '#'
#define ALERT_CATCHUP_NONCE 16
#define ALERT_CATCHUP_LEN (1 + ALERT_CATCHUP_NONCE)

/* Serialises and signs body into a fresh SignedAlert buffer (free()). */
NMO_WUR int alert_sign(const Nmo__AlertBody *body, const uint8_t sign_sk[KEYS_SIGN_SECRET_BYTES],
                       uint8_t **out, size_t *len);

/* Verifies a SignedAlert and decodes its body (*body: free with
 * nmo__alert_body__free_unpacked). -EBADMSG when malformed or lacking id,
 * rule, material or level; -EKEYREJECTED when the signature does not verify. */
NMO_WUR int alert_verify(const uint8_t *buf, size_t len, const uint8_t sign_pk[KEYS_KEY_BYTES],
                         Nmo__AlertBody **body);
