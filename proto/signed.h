/* signed.h: the one signature construction of the protocol. Every signed
 * message (receipts in the single form, alerts, hub key announcements;
 * PROTOCOL.md 8.1, 14.3, 16.2) is Ed25519 over
 *
 *     context || 0x00 || body
 *
 * where the context is a short ASCII string naming the kind of message
 * ("nmo-signal receipt v1", ...), so that no signature of one kind verifies as
 * another, and body is the serialised message exactly as carried. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "util.h"

#define SIGNED_SIGNATURE_BYTES 64

/* Signs body under context with sk into sig. 0, or -ENOMEM. */
NMO_WUR int signed_sign(const char *context, const uint8_t *body, size_t len,
                        const uint8_t sk[KEYS_SIGN_SECRET_BYTES],
                        uint8_t sig[SIGNED_SIGNATURE_BYTES]);

/* Checks sig over body under context with pk. 0, -EKEYREJECTED when it does
 * not verify, -ENOMEM. */
NMO_WUR int signed_verify(const char *context, const uint8_t *body, size_t len,
                          const uint8_t sig[SIGNED_SIGNATURE_BYTES],
                          const uint8_t pk[KEYS_KEY_BYTES]);
