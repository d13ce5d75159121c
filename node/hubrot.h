/* hubrot.h: a node's side of a hub key rotation (PROTOCOL.md section 16).
 *
 * The hub announces new payload and signing keys in a SignedHubKeyAnnouncement
 * signed with its old signing key, attached to its replies to envelopes
 * sealed to the old payload key and sent on the alert feed. A node that
 * verifies it with the hub signing key it holds adopts the new keys, in this
 * order, each step durable: DIR/keys/hub-announcement, DIR/keys/hub-previous.pub
 * (the retired bundle), DIR/keys/hub.pub (the new bundle, atomic rename),
 * then every queued or in-flight envelope is re-sealed to the new payload key
 * (the replaced ones that had been sent are remembered, so that the hub's
 * receipt for them still applies). A node stopped in between finishes at its
 * next start (hubrot_load(), hubrot_reseal()). Receipts and alerts signed
 * with the old key keep verifying until the overlap ends. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct node;
struct outbox;

enum hubrot_outcome {
        HUBROT_ADOPTED = 1,     /* new keys taken and the queue re-sealed */
        HUBROT_CURRENT = 2,     /* announces the keys this node holds already */
};

/* Called by node_load() after the hub bundle: reads DIR/keys/hub-announcement
 * (when there is one and it is intact), finishes an adoption that stopped
 * before hub.pub was replaced (the files are written only when writable),
 * sets n->hub_ann and, while the overlap runs, n->hub_prev; once it has
 * ended, DIR/keys/hub-previous.pub is removed (writable only) with one log
 * line. An announcement for other keys (a hub.pub installed by hand) is left
 * alone. Returns 0 or a negative errno with err set. */
NMO_WUR int hubrot_load(struct node *n, bool writable, char *err, size_t errlen);

/* Handles an announcement of len bytes that came from the hub (a Reply or
 * the feed). One signed with the hub signing key n holds, naming n's payload
 * key as the old one, is adopted (files, n->hub, re-sealing ob; ob may be
 * NULL for a command without the outbox: the agent re-seals at its start)
 * and gives HUBROT_ADOPTED. One that announces the keys n holds already
 * (checked with its possession signature by that key) gives HUBROT_CURRENT;
 * with reseal, envelopes still sealed to its old key are re-sealed then.
 * Anything else changes nothing: -EKEYREJECTED (a bad signature, another
 * signer, another old payload key), -EBADMSG (malformed), -EPROTO (a new
 * transport key, which this version does not follow); err says which.
 * resealed (may be NULL) receives the number of envelopes re-sealed. */
NMO_WUR int hubrot_handle(struct node *n, struct outbox *ob, const uint8_t *ann, size_t len,
                          bool reseal, size_t *resealed, char *err, size_t errlen);

/* Re-seals every queued or in-flight envelope of ob still sealed to the
 * payload key n->hub_ann retired (nothing without an adopted rotation). */
NMO_WUR int hubrot_reseal(struct node *n, struct outbox *ob, size_t *resealed);
