/* agent-replies.c: the hub's replies to the agent: each frame decoded once,
 * its receipt verified (under the retired hub key too while a rotation's
 * overlap runs), a hub key announcement adopted, and the round's receipts
 * recorded in the outbox in one transaction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <zmq.h>

#include "agent-state.h"
#include "client.h"
#include "log.h"
#include "node.h"
#include "outbox.h"
#include "hubrot.h"
#include "receipt.h"

/* Verifies a receipt with the hub's signing key, or the retired one while a
 * rotation's overlap runs. When neither does, hub.pub may have changed under
 * us (`nmo-node alerts` adopted new keys): read it again and retry once. */
static int verify_receipt(struct agent *a, struct incoming *in)
{
        struct node *n = a->node;
        char err[256];
        int r;

        for (int pass = 0; pass < 2; pass++) {
                r = reply_verify(&in->reply, n->hub.sign, &a->rcache, &in->receipt);
                if (r == -EKEYREJECTED && n->has_hub_prev)
                        r = reply_verify(&in->reply, n->hub_prev.sign, &a->rcache,
                                         &in->receipt);
                if (r != -EKEYREJECTED || pass == 1)
                        break;
                if (node_load(n, NODE_LOAD_HUB, err, sizeof(err)) < 0) {
                        log_warn("%s", err);
                        break;
                }
        }
        return r;
}

/* A reply carried the hub's announcement of new keys: adopt it (or, when
 * it is the rotation adopted already, re-seal what is still sealed to the
 * retired key if reseal). A forged one changes nothing. */
static int take_announcement(struct agent *a, const uint8_t *ann, size_t len, bool reseal)
{
        char err[256];
        int r;

        r = hubrot_handle(a->node, a->ob, ann, len, reseal, NULL, err, sizeof(err));
        if (r == HUBROT_ADOPTED)
                return agent_requeue_flights(a);
        if (r == HUBROT_CURRENT)
                return 0;
        if (r == -EKEYREJECTED || r == -EBADMSG || r == -EPROTO) {
                log_warn("hub key announcement in a reply ignored: %s", err);
                return 0;
        }
        log_error("cannot adopt the hub's new keys: %s", err);
        return r;
}

/* Checks one reply frame; on success fills in and returns 0. Bad frames are
 * logged and refused, never fatal; only a failure to adopt announced hub
 * keys durably is returned as such (*fatal). */
static int check_reply(struct agent *a, const uint8_t *data, size_t len, struct incoming *in,
                       int *fatal)
{
        char hex[SIGNAL_ID_HEX];
        int r;

        *fatal = 0;
        memset(in, 0, sizeof(*in));
        r = reply_decode(data, len, &in->reply);
        if (r < 0) {
                log_warn("malformed reply from the hub (%zu bytes) ignored", len);
                reply_free(&in->reply);
                return r;
        }
        r = verify_receipt(a, in);
        if (in->reply.announcement) {
                /* Before the receipt is applied: its envelope may need
                 * re-sealing, and its signature the new key. */
                bool refused = r < 0 ||
                               in->receipt.status == NMO__RECEIPT_STATUS__RECEIPT_REJECTED;

                *fatal = take_announcement(a, in->reply.announcement,
                                           in->reply.announcement_len, refused);
                if (*fatal < 0) {
                        r = *fatal;
                        goto fail;
                }
                if (r < 0)
                        r = verify_receipt(a, in);
        }
        if (r < 0) {
                log_warn("reply from the hub with %s ignored",
                         r == -EKEYREJECTED ? "a bad signature" : "a malformed receipt");
                goto fail;
        }
        if (!in->receipt.has_id) {
                log_warn("the hub refused a frame without a signal id (%s); ignored",
                         reason_name(in->receipt.reason));
                r = -EBADMSG;
                goto fail;
        }
        /* Another key than ours: the outbox applies it only to an envelope a
         * key rotation replaced that was sealed with that key (a signal the hub
         * stored before the rotation); anything else is refused there. */
        in->former_key = sodium_memcmp(in->receipt.member_key, a->node->member->pub.payload,
                                       KEYS_KEY_BYTES) != 0;
        if (in->former_key) {
                signal_id_hex(in->receipt.signal_id, hex);
                log_debug("receipt for signal %s names a key other than ours; checking it "
                          "against the envelopes replaced by key rotations", hex);
        }
        return 0;
fail:
        reply_free(&in->reply);
        return r;
}

/* Reads the replies waiting now (up to replies_per_round) and records them in
 * one transaction. */
int agent_handle_replies(struct agent *a)
{
        size_t n = 0, delivered = 0, duplicates = 0, rejected = 0, retry = 0, stale = 0;
        int r = 0;

        while (n < a->cfg->replies_per_round) {
                zmq_msg_t msg;
                bool multipart;
                int fatal = 0;

                r = agent_recv_frame(a->dealer, &msg, &multipart);
                if (r <= 0)
                        break;
                if (multipart)
                        log_warn("multi-part reply from the hub ignored");
                else if (check_reply(a, zmq_msg_data(&msg), zmq_msg_size(&msg),
                                     &a->incoming[n], &fatal) == 0)
                        n++;
                (void)zmq_msg_close(&msg);
                if (fatal < 0) {
                        r = fatal;
                        goto out;
                }
        }
        if (r < 0) {
                log_error("receiving from the hub failed: %s", zmq_strerror(-r));
                goto out;
        }
        if (n == 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                a->batch[i].receipt = &a->incoming[i].receipt;
                a->batch[i].signed_receipt = a->incoming[i].reply.signed_receipt;
                a->batch[i].signed_len = a->incoming[i].reply.signed_len;
                a->batch[i].duplicate = a->incoming[i].reply.duplicate;
                a->batch[i].former_key = a->incoming[i].former_key;
        }
        r = outbox_apply_receipts(a->ob, a->batch, n, util_now_ms(), &a->bo, a->results);
        if (r < 0) {
                if (r != -ENOSPC) /* said once by the outbox */
                        log_error("%s: cannot record receipts: %s", a->node->outbox_path,
                                  strerror(-r));
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                const struct receipt *rc = &a->incoming[i].receipt;
                struct flight *f = agent_flight_find(a, rc->signal_id);
                char hex[SIGNAL_ID_HEX];

                signal_id_hex(rc->signal_id, hex);
                switch (a->results[i]) {
                case 0:
                        if (rc->status == NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED) {
                                delivered++;
                                duplicates += a->incoming[i].reply.duplicate;
                        } else if (reason_is_temporary(rc->reason)) {
                                retry++;
                        } else {
                                rejected++;
                                log_warn("signal %s rejected by the hub: %s", hex,
                                         reason_name(rc->reason));
                        }
                        break;
                case -EALREADY:
                        log_debug("repeated receipt for signal %s ignored", hex);
                        break;
                case -ENOENT:
                        log_warn("receipt for signal %s, which is not in the outbox, ignored",
                                 hex);
                        break;
                case -EPROTO:
                        log_warn("receipt for signal %s does not match the stored envelope; "
                                 "ignored", hex);
                        break;
                case -EKEYREJECTED:
                        log_warn("receipt for signal %s names another member's key; ignored",
                                 hex);
                        break;
                case -ESTALE:
                        /* Its replacement (re-sealed after a key rotation)
                         * goes out at once instead. */
                        log_debug("refusal of the replaced envelope of signal %s ignored", hex);
                        if (f) {
                                a->seqs[stale++] = f->seq;
                                agent_flight_remove(a, f);
                                f = NULL;
                        }
                        break;
                default:
                        log_warn("receipt for signal %s not recorded: %s", hex,
                                 strerror(-a->results[i]));
                        break;
                }
                if (f && (a->results[i] == 0 || a->results[i] == -EALREADY))
                        agent_flight_remove(a, f);
        }
        if (stale > 0) {
                r = outbox_requeue(a->ob, a->seqs, stale, util_now_ms(), NULL, NULL);
                if (r < 0) {
                        log_error("%s: cannot queue signals again: %s", a->node->outbox_path,
                                  strerror(-r));
                        goto out;
                }
                a->scan_now = true;
        }
        /* Recorded whatever the result: the outbox changed (or may have). */
        a->recount = true;
        if (delivered + rejected + retry > 0) {
                a->fig.receipts += delivered + rejected + retry;
                a->fig.last_receipt_ms = util_now_ms();
        }
        if (delivered + rejected + retry > 0) {
                /* A receipt proves the hub took our key: any refusal noted is over. */
                a->hub_error[0] = '\0';
                a->scan_now = true;
                log_info("receipts: %zu delivered (%zu already stored), %zu rejected, %zu to "
                         "retry later; %zu in flight", delivered, duplicates, rejected, retry,
                         a->n_flights);
        }
        r = 0;
out:
        for (size_t i = 0; i < n; i++)
                reply_free(&a->incoming[i].reply);
        return r;
}
