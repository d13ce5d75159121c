/* hubrot.c: see hubrot.h. */
#include "hubrot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "envelope.h"
#include "hubkey.h"
#include "log.h"
#include "node.h"
#include "outbox.h"

/* The hub bundle the announcement a makes of the current one. */
static void new_bundle(const struct keys_public *cur, const struct hubkey_announcement *a,
                       struct keys_public *out)
{
        *out = *cur;
        memcpy(out->transport, a->new_transport, KEYS_KEY_BYTES);
        memcpy(out->payload, a->new_payload, KEYS_KEY_BYTES);
        memcpy(out->sign, a->new_sign, KEYS_KEY_BYTES);
}

static void old_bundle(const struct keys_public *cur, const struct hubkey_announcement *a,
                       struct keys_public *out)
{
        *out = *cur;
        memcpy(out->payload, a->old_payload, KEYS_KEY_BYTES);
        memcpy(out->sign, a->old_sign, KEYS_KEY_BYTES);
}

static bool holds_new(const struct keys_public *hub, const struct hubkey_announcement *a)
{
        return sodium_memcmp(hub->transport, a->new_transport, KEYS_KEY_BYTES) == 0 &&
               sodium_memcmp(hub->payload, a->new_payload, KEYS_KEY_BYTES) == 0 &&
               sodium_memcmp(hub->sign, a->new_sign, KEYS_KEY_BYTES) == 0;
}

static bool holds_old(const struct keys_public *hub, const struct hubkey_announcement *a)
{
        return sodium_memcmp(hub->payload, a->old_payload, KEYS_KEY_BYTES) == 0 &&
               sodium_memcmp(hub->sign, a->old_sign, KEYS_KEY_BYTES) == 0;
}

/* Sets what n knows of the adopted rotation a, and forgets its retired keys
 * once the overlap has ended. */
static int set_adopted(struct node *n, const struct hubkey_announcement *a, bool writable)
{
        char when[32];

        n->has_hub_ann = true;
        n->hub_ann = *a;
        old_bundle(&n->hub, a, &n->hub_prev);
        n->has_hub_prev = util_now_ms() < a->overlap_until_ms;
        if (n->has_hub_prev || !writable)
                return 0;
        if (unlink(n->hub_prev_path) == 0) {
                util_format_time(a->overlap_until_ms, when, sizeof(when));
                log_info("the overlap of the hub's key rotation ended %s: %s removed; only the "
                         "current hub keys are trusted now", when, n->hub_prev_path);
        } else if (errno != ENOENT) {
                log_warn("%s: cannot remove: %s", n->hub_prev_path, strerror(errno));
        }
        return 0;
}

/* Writes hub-previous.pub and the new hub.pub for a; n->hub becomes new. */
static int switch_bundles(struct node *n, const struct hubkey_announcement *a, char *err,
                          size_t errlen)
{
        struct keys_public next;
        int r;

        new_bundle(&n->hub, a, &next);
        r = keys_save_public(&n->hub, n->hub_prev_path);
        if (r < 0) {
                util_set_err(err, errlen, "%s: %s", n->hub_prev_path, strerror(-r));
                return r;
        }
        r = keys_save_public(&next, n->hub_pub_path);
        if (r < 0) {
                util_set_err(err, errlen, "%s: %s", n->hub_pub_path, strerror(-r));
                return r;
        }
        n->hub = next;
        return 0;
}

int hubrot_load(struct node *n, bool writable, char *err, size_t errlen)
{
        struct hubkey_announcement a;
        char *data = NULL;
        size_t len = 0;
        int r;

        n->has_hub_ann = false;
        n->has_hub_prev = false;
        r = util_read_file(n->hub_ann_path, HUBKEY_ANNOUNCEMENT_MAX, &data, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                log_warn("%s: cannot read (%s); ignored", n->hub_ann_path, strerror(-r));
                return 0;
        }
        /* Verified when it came; checked again so that a damaged file is
         * noticed rather than trusted. */
        r = hubkey_decode((const uint8_t *)data, len, &a);
        if (r == 0)
                r = hubkey_verify((const uint8_t *)data, len, a.old_sign, &a);
        free(data);
        if (r < 0) {
                log_warn("%s: not a valid hub key announcement; ignored", n->hub_ann_path);
                return 0;
        }
        if (holds_new(&n->hub, &a))
                return set_adopted(n, &a, writable);
        if (!holds_old(&n->hub, &a))
                return 0; /* another hub.pub was installed since */
        /* Stopped after the announcement was kept and before hub.pub: finish. */
        if (writable) {
                r = switch_bundles(n, &a, err, errlen);
                if (r < 0)
                        return r;
                log_info("finished adopting the hub's new keys (%s)", n->hub_pub_path);
        } else {
                struct keys_public next;

                new_bundle(&n->hub, &a, &next);
                n->hub = next;
        }
        return set_adopted(n, &a, writable);
}

struct reseal_ctx {
        const struct node *n;
        const struct hubkey_announcement *a;
};

static int reseal_one(const uint8_t id[SIGNAL_ID_BYTES], const uint8_t *envelope, size_t len,
                      uint8_t **out, size_t *out_len, void *userdata)
{
        const struct reseal_ctx *ctx = userdata;
        int r;

        (void)id;
        r = envelope_reseal_hub(envelope, len, ctx->n->member, ctx->a->old_payload,
                                ctx->a->new_payload, out, out_len);
        /* Not sealed to the retired key (nor by this member): leave it. */
        return r == -EBADMSG ? -EALREADY : r;
}

int hubrot_reseal(struct node *n, struct outbox *ob, size_t *resealed)
{
        struct reseal_ctx ctx = { n, &n->hub_ann };
        size_t done = 0;
        int r;

        if (resealed)
                *resealed = 0;
        if (!n->has_hub_ann || !n->member || !ob)
                return 0;
        /* The member key stays; outbox_reseal_pending() records it as the key
         * the replaced envelopes were sealed with. */
        r = outbox_reseal_pending(ob, n->member->pub.payload, n->member->pub.payload, reseal_one,
                                  &ctx, &done, NULL);
        if (r < 0)
                return r;
        if (resealed)
                *resealed = done;
        return 0;
}

int hubrot_handle(struct node *n, struct outbox *ob, const uint8_t *ann, size_t len,
                  bool reseal, size_t *resealed, char *err, size_t errlen)
{
        struct hubkey_announcement a;
        char old_fp[KEYS_FINGERPRINT_LEN], new_fp[KEYS_FINGERPRINT_LEN], when[32];
        size_t done = 0;
        int r;

        if (resealed)
                *resealed = 0;
        r = hubkey_verify(ann, len, n->hub.sign, &a);
        if (r < 0) {
                /* Perhaps the rotation this node has adopted already: then the
                 * possession signature is by the key it trusts now. */
                if (hubkey_decode(ann, len, &a) == 0 && holds_new(&n->hub, &a) &&
                    hubkey_verify(ann, len, a.old_sign, &a) == 0) {
                        if (!n->has_hub_ann)
                                (void)set_adopted(n, &a, false);
                        if (reseal) {
                                r = hubrot_reseal(n, ob, &done);
                                if (r < 0) {
                                        util_set_err(err, errlen, "%s: cannot re-seal: %s",
                                                     n->outbox_path, strerror(-r));
                                        return r;
                                }
                                if (done)
                                        log_info("%zu queued signal%s still sealed to the hub's "
                                                 "retired key re-sealed to its current key",
                                                 done, done == 1 ? "" : "s");
                        }
                        if (resealed)
                                *resealed = done;
                        return HUBROT_CURRENT;
                }
                util_set_err(err, errlen, r == -EKEYREJECTED
                                     ? "not signed by the hub signing key this node holds"
                                     : "malformed");
                return r == -EKEYREJECTED ? r : -EBADMSG;
        }
        if (sodium_memcmp(a.old_payload, n->hub.payload, KEYS_KEY_BYTES) != 0) {
                util_set_err(err, errlen, "names another old payload key than this node's");
                return -EKEYREJECTED;
        }
        if (sodium_memcmp(a.new_transport, n->hub.transport, KEYS_KEY_BYTES) != 0) {
                util_set_err(err, errlen, "changes the hub's transport key, which this node "
                             "does not follow; install the new hub.pub by hand");
                return -EPROTO;
        }
        keys_fingerprint(&n->hub, old_fp);
        /* The announcement first: with it, the next start finishes the rest. */
        r = util_write_file(n->hub_ann_path, ann, len, 0644, false);
        if (r < 0) {
                util_set_err(err, errlen, "%s: %s", n->hub_ann_path, strerror(-r));
                return r;
        }
        r = switch_bundles(n, &a, err, errlen);
        if (r < 0)
                return r;
        r = set_adopted(n, &a, false);
        if (r < 0)
                return r;
        r = hubrot_reseal(n, ob, &done);
        if (r < 0) {
                util_set_err(err, errlen, "%s: cannot re-seal the queued signals: %s",
                             n->outbox_path, strerror(-r));
                return r;
        }
        keys_fingerprint(&n->hub, new_fp);
        util_format_time(a.overlap_until_ms, when, sizeof(when));
        log_info("the hub rotated its keys: adopted fingerprint %s (was %s), announcement "
                 "verified with the old signing key; %zu queued signal%s re-sealed; the old "
                 "key is trusted until %s", new_fp, old_fp, done, done == 1 ? "" : "s", when);
        if (resealed)
                *resealed = done;
        return HUBROT_ADOPTED;
}
