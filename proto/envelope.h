/* envelope.h: sealing a signal for the hub, and opening it there.
 *
 * Construction (PROTOCOL.md, "Envelope"): the serialised Signal is encrypted and
 * authenticated with crypto_box_easy (X25519, XSalsa20-Poly1305) from the
 * member's payload secret key to the hub's payload public key, under a random
 * 24-byte nonce. Only the holder of that member key could have made a box that
 * opens under the hub's key, so the box itself says which member sealed it. The
 * hub precomputes crypto_box_beforenm() per member, so opening costs one
 * XSalsa20-Poly1305 pass.
 *
 * The envelope travels as one frame; everything that reaches the node's disk is
 * this ciphertext. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sodium.h>

#include "envelope.pb-c.h"
#include "keys.h"
#include "signal.h"

/* Largest envelope frame the hub accepts; larger ones get REASON_OVERSIZED. */
#define ENVELOPE_MAX 4096
#define ENVELOPE_KEY_ID_BYTES 8
#define ENVELOPE_NONCE_BYTES crypto_box_NONCEBYTES
#define ENVELOPE_HASH_BYTES 32

/* The hub payload key id an envelope names: BLAKE2b-256(pk)[0..8). */
void envelope_key_id(const uint8_t hub_payload_pk[KEYS_KEY_BYTES],
                     uint8_t out[ENVELOPE_KEY_ID_BYTES]);

/* BLAKE2b-256 of a whole frame, as receipts carry it. */
void envelope_hash(const uint8_t *frame, size_t len, uint8_t out[ENVELOPE_HASH_BYTES]);

/* Seals s from member to hub into a fresh frame (free()). nonce may be NULL
 * (random; the only choice outside known-answer tests). */
NMO_WUR int envelope_seal(const struct signal *s, const struct keys_secret *member,
                          const uint8_t hub_payload_pk[KEYS_KEY_BYTES],
                          const uint8_t *nonce, uint8_t **frame, size_t *len);

struct envelope_opener;

/* The kind of an envelope frame (Nmo__EnvelopeKind), without opening it;
 * -EBADMSG or -EMSGSIZE when it is not an envelope. */
int envelope_kind(const uint8_t *frame, size_t len);

/* A member's announced new keys (ENVELOPE_KEY_ROTATION). */
struct envelope_rotation {
        uint8_t new_transport[KEYS_KEY_BYTES];
        uint8_t new_payload[KEYS_KEY_BYTES];
};

/* Seals a key rotation: member's new public keys (next), sealed with its
 * current secret keys (member) to the hub. The rotation's id is written to
 * id. */
NMO_WUR int envelope_seal_rotation(const struct keys_secret *member,
                                   const struct keys_public *next,
                                   const uint8_t hub_payload_pk[KEYS_KEY_BYTES],
                                   uint8_t id[SIGNAL_ID_BYTES], uint8_t **frame, size_t *len);

/* Opens a key-rotation frame for the member in op; as envelope_open(). */
Nmo__Reason envelope_open_rotation(const uint8_t *frame, size_t len,
                                   const struct envelope_opener *op,
                                   struct envelope_rotation *out,
                                   uint8_t id_out[SIGNAL_ID_BYTES], bool *has_id, char *detail,
                                   size_t detail_len);

/* Re-seals a frame this member sealed with old_member's keys under
 * new_member's keys: same id, kind and content, a fresh nonce. -EALREADY when
 * it is sealed with the new keys already, -EBADMSG when it is not the old
 * member's. *out is fresh (free()). */
NMO_WUR int envelope_reseal(const uint8_t *frame, size_t len, const struct keys_secret *old_member,
                            const struct keys_secret *new_member,
                            const uint8_t hub_payload_pk[KEYS_KEY_BYTES], uint8_t **out,
                            size_t *out_len);

/* Reads the signal id of a frame without opening it, so that a refusal made
 * before the envelope is opened (member suspended, rate limit) still names the
 * signal. Returns true when the frame carried a well-formed id. */
bool envelope_peek_id(const uint8_t *frame, size_t len, uint8_t id[SIGNAL_ID_BYTES]);

/* What the hub knows about the member whose connection delivered a frame. */
struct envelope_opener {
        const uint8_t *member_payload_pk;    /* KEYS_KEY_BYTES */
        const uint8_t *shared_key;           /* crypto_box_beforenm(member pk, hub sk) */
        const uint8_t *hub_key_id;           /* ENVELOPE_KEY_ID_BYTES */
};

/* Opens a frame for the member in op: decodes it, checks version, hub key id
 * and sender, authenticates and decrypts the box, unpacks and validates the
 * signal and checks its id against the envelope's.
 *
 * Returns NMO__REASON__REASON_NONE with *out filled, or the reason the frame is
 * refused with a one-line detail. id_out receives the envelope's signal id
 * whenever the frame carried one (*has_id set), so even a refusal names it. */
Nmo__Reason envelope_open(const uint8_t *frame, size_t len, const struct envelope_opener *op,
                          struct signal *out, uint8_t id_out[SIGNAL_ID_BYTES], bool *has_id,
                          char *detail, size_t detail_len);

/* Reads the hub payload key id a frame names, without opening it. Returns
 * true when the frame decodes and carries an id of ENVELOPE_KEY_ID_BYTES. */
bool envelope_peek_hub_key_id(const uint8_t *frame, size_t len,
                              uint8_t out[ENVELOPE_KEY_ID_BYTES]);

/* An envelope frame decoded once. The hub decodes each frame it receives
 * into a view (one nmo__envelope__unpack) and takes every later look from it:
 * the id for an early refusal, the hub key id it names, its kind, opening it.
 * The functions above that take a frame are these on a view of their own. */
struct envelope_view {
        const uint8_t *frame;    /* the frame, borrowed */
        size_t len;
        Nmo__Envelope *e;        /* NULL: larger than ENVELOPE_MAX, or not an Envelope */
};

/* Decodes frame (len bytes, borrowed: it must outlive the view) into *v; a
 * frame over ENVELOPE_MAX is not decoded. Never fails: a frame that does not
 * decode gives a view that every function below refuses as the frame-taking
 * ones do. Free with envelope_view_free(). */
void envelope_view_parse(struct envelope_view *v, const uint8_t *frame, size_t len);

/* Frees what the view decoded; the view may be parsed again. */
void envelope_view_free(struct envelope_view *v);

/* envelope_peek_id(), envelope_peek_hub_key_id(), envelope_kind(),
 * envelope_open() and envelope_open_rotation() on a decoded view: the same
 * results, checks, order and refusal reasons. */
bool envelope_view_id(const struct envelope_view *v, uint8_t id[SIGNAL_ID_BYTES]);
bool envelope_view_hub_key_id(const struct envelope_view *v, uint8_t out[ENVELOPE_KEY_ID_BYTES]);
int envelope_view_kind(const struct envelope_view *v);
Nmo__Reason envelope_view_open(const struct envelope_view *v, const struct envelope_opener *op,
                               struct signal *out, uint8_t id_out[SIGNAL_ID_BYTES],
                               bool *has_id, char *detail, size_t detail_len);
Nmo__Reason envelope_view_open_rotation(const struct envelope_view *v,
                                        const struct envelope_opener *op,
                                        struct envelope_rotation *out,
                                        uint8_t id_out[SIGNAL_ID_BYTES], bool *has_id,
                                        char *detail, size_t detail_len);

/* Re-seals a frame that member sealed to the hub payload key old_hub_pk to
 * new_hub_pk instead (a hub key rotation, PROTOCOL.md 16): same id, kind and
 * content, a fresh nonce. -EALREADY when it names new_hub_pk already,
 * -EBADMSG when it is not member's or names neither key. *out is fresh
 * (free()). */
NMO_WUR int envelope_reseal_hub(const uint8_t *frame, size_t len, const struct keys_secret *member,
                                const uint8_t old_hub_pk[KEYS_KEY_BYTES],
                                const uint8_t new_hub_pk[KEYS_KEY_BYTES], uint8_t **out,
                                size_t *out_len);
