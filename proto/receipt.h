/* receipt.h: the hub's signed receipts and the reply frame that carries them.
 *
 * A receipt body is a serialised ReceiptBody; its signature is Ed25519 by the
 * hub's signing key over the context string "nmo-signal receipt v1", one zero
 * byte, then the body bytes (PROTOCOL.md, "Receipts"). A member keeps the signed
 * bytes as proof of what it submitted (envelope_hash) and when (hub_time_ms). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

#define RECEIPT_DETAIL_MAX 200
/* The highest reason code this version knows. */
#define RECEIPT_REASON_LAST NMO__REASON__REASON_MEMBER_EXPIRED
/* Largest signed receipt or reply frame either side produces or accepts. */
#define RECEIPT_MAX 1024

struct receipt {
        bool has_id;
        uint8_t signal_id[SIGNAL_ID_BYTES];
        Nmo__ReceiptStatus status;
        Nmo__Reason reason;
        char detail[RECEIPT_DETAIL_MAX + 1];
        uint64_t hub_time_ms;
        uint8_t envelope_hash[ENVELOPE_HASH_BYTES];
        uint8_t member_key[KEYS_KEY_BYTES];
        uint64_t sequence;
};

/* Serialises and signs r into a fresh SignedReceipt buffer (free()). */
NMO_WUR int receipt_sign(const struct receipt *r, const uint8_t sign_sk[KEYS_SIGN_SECRET_BYTES],
                         uint8_t **out, size_t *len);

/* Checks a SignedReceipt against the hub's signing public key and decodes it.
 * -EBADMSG when malformed, -EKEYREJECTED when the signature does not verify. */
NMO_WUR int receipt_verify(const uint8_t *buf, size_t len,
                           const uint8_t sign_pk[KEYS_KEY_BYTES], struct receipt *r);

/* Builds a Reply frame around a SignedReceipt (fresh buffer, free()). */
NMO_WUR int reply_pack(bool duplicate, const uint8_t *signed_receipt, size_t signed_len,
                       uint8_t **frame, size_t *len);

/* Decodes a Reply frame; *signed_receipt is a fresh copy (free()). */
NMO_WUR int reply_unpack(const uint8_t *frame, size_t len, bool *duplicate,
                         uint8_t **signed_receipt, size_t *signed_len);

/* Stable lower-case name of a reason ("sender-mismatch"), and whether a node
 * should keep the signal queued and try again later. */
const char *reason_name(Nmo__Reason reason);
bool reason_is_temporary(Nmo__Reason reason);
