/* hubkey.h: the hub's signed announcement of new public keys (hub key
 * rotation, PROTOCOL.md section 16), and the Reply field that carries it.
 *
 * The body is a serialised HubKeyAnnouncement. It carries two Ed25519
 * signatures: one by the OLD signing key over "nmo-signal hub key v1", a zero
 * byte and the body (what a node that knows only the old keys can check), and
 * one by the NEW signing key over "nmo-signal hub key possession v1", a zero
 * byte and the body (proof that whoever announced the new key holds its
 * secret). Neither context is that of a receipt or an alert, so no signature
 * of one kind verifies as another. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "util.h"

/* Largest SignedHubKeyAnnouncement either side produces or accepts; a real
 * one is 321 bytes (PROTOCOL.md 16.1), so a Reply with it stays within
 * RECEIPT_MAX. */
#define HUBKEY_ANNOUNCEMENT_MAX 512
/* The alert feed topic frame before an announcement (PROTOCOL.md 16.5). */
#define HUBKEY_TOPIC "hub-key"

struct hubkey_announcement {
        uint8_t old_payload[KEYS_KEY_BYTES];
        uint8_t old_sign[KEYS_KEY_BYTES];
        uint8_t new_transport[KEYS_KEY_BYTES];
        uint8_t new_payload[KEYS_KEY_BYTES];
        uint8_t new_sign[KEYS_KEY_BYTES];
        uint64_t created_ms;
        uint64_t overlap_until_ms;
};

/* Serialises a and signs it with the old and the new signing secret keys
 * into a fresh SignedHubKeyAnnouncement buffer (free()). -EINVAL when a
 * secret key does not belong to a's old_sign or new_sign public key. */
NMO_WUR int hubkey_sign(const struct hubkey_announcement *a,
                        const uint8_t old_sign_sk[KEYS_SIGN_SECRET_BYTES],
                        const uint8_t new_sign_sk[KEYS_SIGN_SECRET_BYTES], uint8_t **out,
                        size_t *len);

/* Checks a SignedHubKeyAnnouncement of len bytes and decodes it into *a:
 * the old signature must verify under trusted_sign_pk, which must also be
 * the body's old_sign; the possession signature must verify under the
 * body's new_sign. Returns 0, -EBADMSG when malformed (a field missing or of
 * the wrong length, a version other than 1, an unusable new payload key,
 * more than HUBKEY_ANNOUNCEMENT_MAX bytes), -EKEYREJECTED when a signature
 * does not verify or the body names another old signing key. *a is zeroed
 * on failure. */
NMO_WUR int hubkey_verify(const uint8_t *buf, size_t len,
                          const uint8_t trusted_sign_pk[KEYS_KEY_BYTES],
                          struct hubkey_announcement *a);

/* Decodes without checking either signature: for showing a stored
 * announcement and for the hub's own file, which it signed itself. Same
 * structural checks and returns as hubkey_verify(). */
NMO_WUR int hubkey_decode(const uint8_t *buf, size_t len, struct hubkey_announcement *a);

/* Builds a Reply frame around a SignedReceipt, with the announcement ann
 * (ann_len bytes) in Reply.hub_key_announcement when ann is not NULL (fresh
 * buffer, free()). */
NMO_WUR int hubkey_reply_pack(bool duplicate, const uint8_t *signed_receipt, size_t signed_len,
                              const uint8_t *ann, size_t ann_len, uint8_t **frame, size_t *len);

/* The announcement a Reply frame carries (reply_decode()): 0 with *ann a
 * fresh copy (free()) of *ann_len bytes, or with *ann NULL when it has none;
 * -EBADMSG when the frame is not a Reply with a receipt or the announcement
 * is empty or over HUBKEY_ANNOUNCEMENT_MAX. */
NMO_WUR int hubkey_reply_get(const uint8_t *frame, size_t len, uint8_t **ann, size_t *ann_len);
