/* rotate.h: the node's side of a member key rotation (PROTOCOL.md, "Member key
 * rotation"), behind `nmo-node rotate-keys`.
 *
 * The new keys are announced to the hub in a KeyRotation envelope sealed with
 * the current payload key and sent over a connection authenticated with the
 * current transport key; the hub's signed receipt says whether it took them.
 * Once it has, the node re-seals its queued envelopes with the new keys and
 * puts the new key files in place. Every step can be repeated: a run that
 * stopped half-way is finished by the next. */
#pragma once

#include <stdint.h>

#include "receipt.h"
#include "util.h"

struct keys_secret;
struct node;
struct outbox;

enum rotate_outcome {
        /* The hub accepted the announcement (receipt in the result). */
        ROTATE_ACCEPTED = 1,
        /* The hub refuses the current keys and takes the new ones: an earlier
         * announcement was accepted. */
        ROTATE_HUB_HAS_NEXT,
        /* The hub rejected the announcement (receipt in the result). */
        ROTATE_REJECTED,
        /* The hub refuses both the current and the new transport key. */
        ROTATE_REFUSED_BOTH,
        /* No handshake with the hub before the timeout. */
        ROTATE_UNREACHABLE,
        /* Sent, but no reply before the timeout. */
        ROTATE_NO_REPLY,
        /* The CurveZMQ handshake failed for another reason than the key:
         * wrong hub key or endpoint. */
        ROTATE_PROTOCOL_ERROR,
};

struct rotate_result {
        enum rotate_outcome outcome;
        struct receipt receipt;         /* ROTATE_ACCEPTED and ROTATE_REJECTED */
};

/* Announces next, the member's new keys, to the hub of node n (configuration
 * and hub keys loaded) with cur, its current keys, waiting up to timeout_ms in
 * all. When the hub refuses cur at the handshake, asks whether it takes next
 * instead (ROTATE_HUB_HAS_NEXT). A receipt counts only when its signature
 * verifies with the hub's signing key and it names the announcement's id,
 * envelope hash and cur's payload key. Returns 0 with res filled, or a
 * negative errno when ZeroMQ or sealing fails. */
NMO_WUR int rotate_announce(const struct node *n, const struct keys_secret *cur,
                            const struct keys_secret *next, uint64_t timeout_ms,
                            struct rotate_result *res);

/* Switches node n to next once the hub has it, in an order that survives a
 * crash at any point: re-seals every queued and in-flight envelope in ob
 * (opened with OUTBOX_AGENT) from cur to next in one transaction
 * (outbox_reseal_pending(); envelopes already re-sealed are kept), writes
 * next's public bundle to DIR/keys/member.pub, renames member.key.next over
 * member.key and syncs the keys directory. resealed (may be NULL) receives
 * the number of envelopes re-sealed now. On failure err holds one line. */
NMO_WUR int rotate_finish(const struct node *n, struct outbox *ob, const struct keys_secret *cur,
                          const struct keys_secret *next, size_t *resealed, char *err,
                          size_t errlen);
