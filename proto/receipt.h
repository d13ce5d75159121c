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
#define RECEIPT_MAX 2048
/* Most receipts one batch signature covers (the Merkle path then has at most
 * 16 hashes), and the size of a tree hash. */
#define RECEIPT_BATCH_MAX 65536
#define RECEIPT_HASH_BYTES 32
/* A batch tree has at least this many leaves, and a power of two: a member
 * learns from tree_size only the power of two above its commit's size. */
#define RECEIPT_BATCH_MIN_TREE 8
/* Receipt times are the start of the UTC hour the hub decided in
 * (PROTOCOL.md 8): finer times would help link a report to its member. */
#define RECEIPT_TIME_GRAIN_MS 3600000ULL

/* ms rounded down to the start of its UTC hour, as receipts carry it. */
static inline uint64_t receipt_hour_ms(uint64_t ms)
{
        return ms - ms % RECEIPT_TIME_GRAIN_MS;
}

struct receipt {
        bool has_id;
        uint8_t signal_id[SIGNAL_ID_BYTES];
        Nmo__ReceiptStatus status;
        Nmo__Reason reason;
        char detail[RECEIPT_DETAIL_MAX + 1];
        uint64_t hub_time_ms;
        uint8_t envelope_hash[ENVELOPE_HASH_BYTES];
        uint8_t member_key[KEYS_KEY_BYTES];
        /* ReceiptBody.sequence (field 9): hubs no longer send it (a global
         * counter tells a member how many signals others sent); a receipt
         * from an older hub may carry it, and nothing may depend on it. 0
         * leaves it out; kept so that the known-answer vectors of PROTOCOL.md
         * 13, made with it, still encode byte for byte. */
        uint64_t sequence;
};

/* Serialises r as a ReceiptBody into a fresh buffer (free()). */
NMO_WUR int receipt_body_pack(const struct receipt *r, uint8_t **out, size_t *len);

/* Signs n serialised ReceiptBody buffers at once: one Ed25519 signature over
 * the root of a Merkle tree of the bodies (PROTOCOL.md 8.1, batch form), and
 * writes n Reply frames (fresh buffers, free() each) whose SignedReceipts carry
 * the body, the tree size, the leaf index, the path and the signature.
 * The tree has receipt_batch_tree_size(n) leaves: the bodies at uniformly
 * random distinct leaves, random hashes at the others, so that tree_size and
 * leaf_index tell a member neither how many receipts one commit signed nor
 * their order. dup[i] is Reply.duplicate of frame i. n is
 * 1..RECEIPT_BATCH_MAX. On error nothing is left allocated. */
NMO_WUR int receipt_sign_batch(uint8_t *const *bodies, const size_t *lens, const bool *dup,
                               size_t n, const uint8_t sign_sk[KEYS_SIGN_SECRET_BYTES],
                               uint8_t **frames, size_t *frame_lens);

/* The same; the frames i with announce[i] also carry ann (ann_len bytes, a
 * SignedHubKeyAnnouncement) in Reply.hub_key_announcement. announce and ann
 * may be NULL. */
NMO_WUR int receipt_sign_batch_ann(uint8_t *const *bodies, const size_t *lens, const bool *dup,
                                   size_t n, const uint8_t sign_sk[KEYS_SIGN_SECRET_BYTES],
                                   const bool *announce, const uint8_t *ann, size_t ann_len,
                                   uint8_t **frames, size_t *frame_lens);

/* The leaves of the tree of a batch of n receipts: the power of two at or
 * above n, at least RECEIPT_BATCH_MIN_TREE. */
size_t receipt_batch_tree_size(size_t n);

/* receipt_sign_batch_ann() with the layout given, for known-answer vectors
 * and tests: body i at leaf pos[i] (distinct, below tree_size), and the
 * tree_size - n other leaves, in order, from filler (32 bytes each; may be
 * NULL when tree_size == n). tree_size is n..RECEIPT_BATCH_MAX and need not
 * be a power of two (RFC 9162's tree). -EINVAL for a bad layout. The hub
 * never calls it: an unpadded tree tells how many receipts one commit
 * signed. */
NMO_WUR int receipt_sign_batch_layout(uint8_t *const *bodies, const size_t *lens, const bool *dup,
                                      size_t n, size_t tree_size, const uint32_t *pos,
                                      const uint8_t *filler,
                                      const uint8_t sign_sk[KEYS_SIGN_SECRET_BYTES],
                                      const bool *announce, const uint8_t *ann, size_t ann_len,
                                      uint8_t **frames, size_t *frame_lens);

/* Roots whose batch signature a node checked already, so that the receipts of
 * one batch cost one Ed25519 verification, not one each. Zero it to start. */
#define RECEIPT_CACHE_SLOTS 8
struct receipt_cache {
        struct {
                uint8_t sign_pk[KEYS_KEY_BYTES];
                uint8_t root[RECEIPT_HASH_BYTES];
                uint8_t signature[64];
                uint32_t tree_size;
                bool used;
        } slot[RECEIPT_CACHE_SLOTS];
        unsigned int next;
};

/* Serialises and signs r into a fresh SignedReceipt buffer (free()), in the
 * single form: the signature covers this body alone. */
NMO_WUR int receipt_sign(const struct receipt *r, const uint8_t sign_sk[KEYS_SIGN_SECRET_BYTES],
                         uint8_t **out, size_t *len);

/* Checks a SignedReceipt (single or batch form) against the hub's signing
 * public key and decodes it. -EBADMSG when malformed, -EKEYREJECTED when the
 * signature or the Merkle path does not verify. */
NMO_WUR int receipt_verify(const uint8_t *buf, size_t len,
                           const uint8_t sign_pk[KEYS_KEY_BYTES], struct receipt *r);

/* The same, remembering verified batch roots in cache (may be NULL): a receipt
 * whose path leads to a root and signature checked before under the same key
 * needs no Ed25519 verification. */
NMO_WUR int receipt_verify_cached(const uint8_t *buf, size_t len,
                                  const uint8_t sign_pk[KEYS_KEY_BYTES],
                                  struct receipt_cache *cache, struct receipt *r);

/* Builds a Reply frame around a SignedReceipt (fresh buffer, free()). */
NMO_WUR int reply_pack(bool duplicate, const uint8_t *signed_receipt, size_t signed_len,
                       uint8_t **frame, size_t *len);

/* The same, with ann (ann_len bytes, a SignedHubKeyAnnouncement) in
 * Reply.hub_key_announcement when ann is not NULL. */
NMO_WUR int reply_pack_ann(bool duplicate, const uint8_t *signed_receipt, size_t signed_len,
                           const uint8_t *ann, size_t ann_len, uint8_t **frame, size_t *len);

/* Decodes a Reply frame; *signed_receipt is a fresh copy (free()). */
NMO_WUR int reply_unpack(const uint8_t *frame, size_t len, bool *duplicate,
                         uint8_t **signed_receipt, size_t *signed_len);

/* A Reply frame decoded once (reply_decode()), for a node to verify its
 * receipt (reply_verify(), as often as keys need trying) and read its
 * announcement without decoding the frame again. */
struct reply {
        Nmo__Reply *msg;                /* the decoded frame; owned */
        bool duplicate;                 /* Reply.duplicate */
        uint8_t *signed_receipt;        /* the SignedReceipt bytes, kept as proof; owned */
        size_t signed_len;
        /* Reply.hub_key_announcement (borrowed from msg), NULL when none. */
        const uint8_t *announcement;
        size_t announcement_len;
};

/* Decodes a Reply frame into *out, which the caller frees with reply_free()
 * (also after a failure). -EBADMSG when the frame is over RECEIPT_MAX, not a
 * Reply of version 1 with a receipt, or its announcement is empty or over
 * HUBKEY_ANNOUNCEMENT_MAX; -ENOMEM. */
NMO_WUR int reply_decode(const uint8_t *frame, size_t len, struct reply *out);

/* Checks the receipt of a decoded reply as receipt_verify_cached() does,
 * from the decoded message (no second decoding of the frame). */
NMO_WUR int reply_verify(const struct reply *rp, const uint8_t sign_pk[KEYS_KEY_BYTES],
                         struct receipt_cache *cache, struct receipt *r);

/* Frees what reply_decode() filled in and zeroes *rp; accepts a zeroed one. */
void reply_free(struct reply *rp);

/* Stable lower-case name of a reason ("sender-mismatch"), and whether a node
 * should keep the signal queued and try again later. */
const char *reason_name(Nmo__Reason reason);
bool reason_is_temporary(Nmo__Reason reason);
