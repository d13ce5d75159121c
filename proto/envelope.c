/* envelope.c: see envelope.h. */
#include "envelope.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void envelope_key_id(const uint8_t hub_payload_pk[KEYS_KEY_BYTES],
                     uint8_t out[ENVELOPE_KEY_ID_BYTES])
{
        uint8_t h[32];

        crypto_generichash(h, sizeof(h), hub_payload_pk, KEYS_KEY_BYTES, NULL, 0);
        memcpy(out, h, ENVELOPE_KEY_ID_BYTES);
}

void envelope_hash(const uint8_t *frame, size_t len, uint8_t out[ENVELOPE_HASH_BYTES])
{
        crypto_generichash(out, ENVELOPE_HASH_BYTES, frame, len, NULL, 0);
}

/* Seals plaintext of kind for the hub into a fresh Envelope frame. */
static int seal_plain(const uint8_t *plain, size_t plain_len, Nmo__EnvelopeKind kind,
                      const uint8_t id[SIGNAL_ID_BYTES], const struct keys_secret *member,
                      const uint8_t hub_payload_pk[KEYS_KEY_BYTES], const uint8_t *nonce,
                      uint8_t **frame, size_t *len)
{
        Nmo__Envelope e = NMO__ENVELOPE__INIT;
        uint8_t n[ENVELOPE_NONCE_BYTES], key_id[ENVELOPE_KEY_ID_BYTES];
        uint8_t *box = NULL, *out = NULL;
        size_t out_len;
        int r;

        box = malloc(plain_len + crypto_box_MACBYTES);
        if (!box)
                return -ENOMEM;
        if (nonce)
                memcpy(n, nonce, sizeof(n));
        else
                randombytes_buf(n, sizeof(n));
        if (crypto_box_easy(box, plain, plain_len, n, hub_payload_pk, member->payload_sk) != 0) {
                r = -EINVAL;
                goto out;
        }
        envelope_key_id(hub_payload_pk, key_id);
        e.has_version = 1;
        e.version = 1;
        e.has_signal_id = 1;
        e.signal_id.data = (uint8_t *)id;
        e.signal_id.len = SIGNAL_ID_BYTES;
        e.has_sender = 1;
        e.sender.data = (uint8_t *)member->pub.payload;
        e.sender.len = KEYS_KEY_BYTES;
        e.has_hub_key_id = 1;
        e.hub_key_id.data = key_id;
        e.hub_key_id.len = sizeof(key_id);
        e.has_nonce = 1;
        e.nonce.data = n;
        e.nonce.len = sizeof(n);
        e.has_box = 1;
        e.box.data = box;
        e.box.len = plain_len + crypto_box_MACBYTES;
        /* A signal envelope leaves the kind out, as version 1 always had it. */
        if (kind != NMO__ENVELOPE_KIND__ENVELOPE_SIGNAL) {
                e.has_kind = 1;
                e.kind = kind;
        }
        out_len = nmo__envelope__get_packed_size(&e);
        if (out_len > ENVELOPE_MAX) {
                r = -E2BIG;
                goto out;
        }
        out = malloc(out_len);
        if (!out) {
                r = -ENOMEM;
                goto out;
        }
        *len = nmo__envelope__pack(&e, out);
        *frame = out;
        r = 0;
out:
        free(box);
        return r;
}

int envelope_seal(const struct signal *s, const struct keys_secret *member,
                  const uint8_t hub_payload_pk[KEYS_KEY_BYTES], const uint8_t *nonce,
                  uint8_t **frame, size_t *len)
{
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        int r;

        r = signal_pack(s, &plain, &plain_len);
        if (r < 0)
                return r;
        r = seal_plain(plain, plain_len, NMO__ENVELOPE_KIND__ENVELOPE_SIGNAL, s->id, member,
                       hub_payload_pk, nonce, frame, len);
        sodium_memzero(plain, plain_len);
        free(plain);
        return r;
}

void envelope_view_parse(struct envelope_view *v, const uint8_t *frame, size_t len)
{
        v->frame = frame;
        v->len = len;
        /* Checked before unpacking: a peer's frame costs at most this much. */
        v->e = len > ENVELOPE_MAX ? NULL : nmo__envelope__unpack(NULL, len, frame);
}

void envelope_view_free(struct envelope_view *v)
{
        if (v->e)
                nmo__envelope__free_unpacked(v->e, NULL);
        v->e = NULL;
}

bool envelope_view_id(const struct envelope_view *v, uint8_t id[SIGNAL_ID_BYTES])
{
        const Nmo__Envelope *e = v->e;

        if (!e || !e->has_signal_id || e->signal_id.len != SIGNAL_ID_BYTES)
                return false;
        memcpy(id, e->signal_id.data, SIGNAL_ID_BYTES);
        return true;
}

bool envelope_peek_id(const uint8_t *frame, size_t len, uint8_t id[SIGNAL_ID_BYTES])
{
        struct envelope_view v;
        bool ok;

        envelope_view_parse(&v, frame, len);
        ok = envelope_view_id(&v, id);
        envelope_view_free(&v);
        return ok;
}

static Nmo__Reason refuse(Nmo__Reason reason, char *detail, size_t len, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static Nmo__Reason refuse(Nmo__Reason reason, char *detail, size_t len, const char *fmt, ...)
{
        va_list ap;

        if (detail && len) {
                va_start(ap, fmt);
                vsnprintf(detail, len, fmt, ap);
                va_end(ap);
        }
        return reason;
}

/* Opens the box of a decoded frame for the member in op, checking every
 * field on the way; the plaintext is a fresh buffer (wipe and free). The kind
 * must be want. */
static Nmo__Reason open_box(const struct envelope_view *v, const struct envelope_opener *op,
                            Nmo__EnvelopeKind want, uint8_t **plain_out, size_t *plain_len,
                            uint8_t id_out[SIGNAL_ID_BYTES], bool *has_id, char *detail,
                            size_t detail_len)
{
        const Nmo__Envelope *e = v->e;
        uint8_t *plain = NULL;
        size_t plen = 0;
        Nmo__Reason reason;

        *has_id = false;
        if (detail && detail_len)
                detail[0] = '\0';
        if (v->len > ENVELOPE_MAX)
                return refuse(NMO__REASON__REASON_OVERSIZED, detail, detail_len,
                              "envelope of %zu bytes, at most %d accepted", v->len,
                              ENVELOPE_MAX);
        if (!e)
                return refuse(NMO__REASON__REASON_MALFORMED, detail, detail_len,
                              "frame is not a protobuf Envelope");
        if (e->has_signal_id && e->signal_id.len == SIGNAL_ID_BYTES) {
                memcpy(id_out, e->signal_id.data, SIGNAL_ID_BYTES);
                *has_id = true;
        }
        if (!e->has_version) {
                reason = refuse(NMO__REASON__REASON_MALFORMED, detail, detail_len,
                                "envelope has no version field");
                goto out;
        }
        if (e->version != 1) {
                reason = refuse(NMO__REASON__REASON_UNSUPPORTED_VERSION, detail, detail_len,
                                "envelope version %u not supported (this hub speaks 1)",
                                e->version);
                goto out;
        }
        if ((e->has_kind ? e->kind : NMO__ENVELOPE_KIND__ENVELOPE_SIGNAL) != want) {
                reason = refuse(NMO__REASON__REASON_MALFORMED, detail, detail_len,
                                "envelope kind %d is not the one expected here",
                                e->has_kind ? (int)e->kind : 0);
                goto out;
        }
        if (!*has_id || !e->has_sender || e->sender.len != KEYS_KEY_BYTES || !e->has_hub_key_id ||
            e->hub_key_id.len != ENVELOPE_KEY_ID_BYTES || !e->has_nonce ||
            e->nonce.len != ENVELOPE_NONCE_BYTES || !e->has_box ||
            e->box.len < crypto_box_MACBYTES) {
                reason = refuse(NMO__REASON__REASON_MALFORMED, detail, detail_len,
                                "envelope lacks a field or a field has the wrong length");
                goto out;
        }
        if (sodium_memcmp(e->hub_key_id.data, op->hub_key_id, ENVELOPE_KEY_ID_BYTES) != 0) {
                reason = refuse(NMO__REASON__REASON_UNKNOWN_HUB_KEY, detail, detail_len,
                                "sealed to a hub payload key this hub does not hold");
                goto out;
        }
        if (sodium_memcmp(e->sender.data, op->member_payload_pk, KEYS_KEY_BYTES) != 0) {
                reason = refuse(NMO__REASON__REASON_SENDER_MISMATCH, detail, detail_len,
                                "sealed by a key other than this connection's member");
                goto out;
        }
        plen = e->box.len - crypto_box_MACBYTES;
        plain = malloc(plen ? plen : 1);
        if (!plain) {
                reason = refuse(NMO__REASON__REASON_STORE_UNAVAILABLE, detail, detail_len,
                                "out of memory");
                goto out;
        }
        if (crypto_box_open_easy_afternm(plain, e->box.data, e->box.len, e->nonce.data,
                                         op->shared_key) != 0) {
                reason = refuse(NMO__REASON__REASON_DECRYPT_FAILED, detail, detail_len,
                                "box does not authenticate");
                goto out;
        }
        *plain_out = plain;
        *plain_len = plen;
        plain = NULL;
        reason = NMO__REASON__REASON_NONE;
out:
        if (plain) {
                sodium_memzero(plain, plen);
                free(plain);
        }
        return reason;
}

Nmo__Reason envelope_open(const uint8_t *frame, size_t len, const struct envelope_opener *op,
                          struct signal *out, uint8_t id_out[SIGNAL_ID_BYTES], bool *has_id,
                          char *detail, size_t detail_len)
{
        struct envelope_view v;
        Nmo__Reason reason;

        envelope_view_parse(&v, frame, len);
        reason = envelope_view_open(&v, op, out, id_out, has_id, detail, detail_len);
        envelope_view_free(&v);
        return reason;
}

Nmo__Reason envelope_view_open(const struct envelope_view *v, const struct envelope_opener *op,
                               struct signal *out, uint8_t id_out[SIGNAL_ID_BYTES],
                               bool *has_id, char *detail, size_t detail_len)
{
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        char why[160] = "";
        Nmo__Reason reason;

        reason = open_box(v, op, NMO__ENVELOPE_KIND__ENVELOPE_SIGNAL, &plain, &plain_len,
                          id_out, has_id, detail, detail_len);
        if (reason != NMO__REASON__REASON_NONE)
                return reason;
        if (signal_unpack(out, plain, plain_len, why, sizeof(why)) < 0) {
                reason = refuse(NMO__REASON__REASON_INVALID_SIGNAL, detail, detail_len, "%s", why);
                goto out;
        }
        if (sodium_memcmp(out->id, id_out, SIGNAL_ID_BYTES) != 0) {
                reason = refuse(NMO__REASON__REASON_ID_MISMATCH, detail, detail_len,
                                "envelope signal id differs from the sealed signal's id");
                goto out;
        }
        if (signal_validate(out, why, sizeof(why)) < 0) {
                reason = refuse(NMO__REASON__REASON_INVALID_SIGNAL, detail, detail_len, "%s", why);
                goto out;
        }
        reason = NMO__REASON__REASON_NONE;
out:
        sodium_memzero(plain, plain_len);
        free(plain);
        return reason;
}

int envelope_view_kind(const struct envelope_view *v)
{
        if (v->len > ENVELOPE_MAX)
                return -EMSGSIZE;
        if (!v->e)
                return -EBADMSG;
        return v->e->has_kind ? (int)v->e->kind : NMO__ENVELOPE_KIND__ENVELOPE_SIGNAL;
}

int envelope_kind(const uint8_t *frame, size_t len)
{
        struct envelope_view v;
        int kind;

        envelope_view_parse(&v, frame, len);
        kind = envelope_view_kind(&v);
        envelope_view_free(&v);
        return kind;
}

Nmo__Reason envelope_open_rotation(const uint8_t *frame, size_t len,
                                   const struct envelope_opener *op,
                                   struct envelope_rotation *out,
                                   uint8_t id_out[SIGNAL_ID_BYTES], bool *has_id, char *detail,
                                   size_t detail_len)
{
        struct envelope_view v;
        Nmo__Reason reason;

        envelope_view_parse(&v, frame, len);
        reason = envelope_view_open_rotation(&v, op, out, id_out, has_id, detail, detail_len);
        envelope_view_free(&v);
        return reason;
}

Nmo__Reason envelope_view_open_rotation(const struct envelope_view *v,
                                        const struct envelope_opener *op,
                                        struct envelope_rotation *out,
                                        uint8_t id_out[SIGNAL_ID_BYTES], bool *has_id,
                                        char *detail, size_t detail_len)
{
        Nmo__KeyRotation *kr = NULL;
        struct keys_public next;
        char why[120] = "";
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        Nmo__Reason reason;

        reason = open_box(v, op, NMO__ENVELOPE_KIND__ENVELOPE_KEY_ROTATION, &plain, &plain_len,
                          id_out, has_id, detail, detail_len);
        if (reason != NMO__REASON__REASON_NONE)
                return reason;
        kr = nmo__key_rotation__unpack(NULL, plain_len, plain);
        if (!kr || !kr->has_version || kr->version != 1 || !kr->has_id ||
            kr->id.len != SIGNAL_ID_BYTES || !kr->has_new_transport ||
            kr->new_transport.len != KEYS_KEY_BYTES || !kr->has_new_payload ||
            kr->new_payload.len != KEYS_KEY_BYTES) {
                reason = refuse(NMO__REASON__REASON_INVALID_SIGNAL, detail, detail_len,
                                "not a valid key rotation");
                goto out;
        }
        if (sodium_memcmp(kr->id.data, id_out, SIGNAL_ID_BYTES) != 0) {
                reason = refuse(NMO__REASON__REASON_ID_MISMATCH, detail, detail_len,
                                "envelope id differs from the sealed rotation's id");
                goto out;
        }
        /* The check every door applies: usable keys, two different ones. */
        memset(&next, 0, sizeof(next));
        next.role = KEYS_ROLE_MEMBER;
        memcpy(next.transport, kr->new_transport.data, KEYS_KEY_BYTES);
        memcpy(next.payload, kr->new_payload.data, KEYS_KEY_BYTES);
        if (keys_public_check(&next, why, sizeof(why)) < 0) {
                reason = refuse(NMO__REASON__REASON_INVALID_SIGNAL, detail, detail_len,
                                "new keys refused: %s", why);
                goto out;
        }
        memcpy(out->new_transport, kr->new_transport.data, KEYS_KEY_BYTES);
        memcpy(out->new_payload, kr->new_payload.data, KEYS_KEY_BYTES);
        reason = NMO__REASON__REASON_NONE;
out:
        if (kr)
                nmo__key_rotation__free_unpacked(kr, NULL);
        sodium_memzero(plain, plain_len);
        free(plain);
        return reason;
}

int envelope_seal_rotation(const struct keys_secret *member, const struct keys_public *next,
                           const uint8_t hub_payload_pk[KEYS_KEY_BYTES],
                           uint8_t id[SIGNAL_ID_BYTES], uint8_t **frame, size_t *len)
{
        Nmo__KeyRotation kr = NMO__KEY_ROTATION__INIT;
        uint8_t plain[256];
        size_t plen;

        signal_new_id(id, util_now_ms());
        kr.has_version = 1;
        kr.version = 1;
        kr.has_id = 1;
        kr.id.data = id;
        kr.id.len = SIGNAL_ID_BYTES;
        kr.has_new_transport = 1;
        kr.new_transport.data = (uint8_t *)next->transport;
        kr.new_transport.len = KEYS_KEY_BYTES;
        kr.has_new_payload = 1;
        kr.new_payload.data = (uint8_t *)next->payload;
        kr.new_payload.len = KEYS_KEY_BYTES;
        kr.has_created_ms = 1;
        kr.created_ms = util_now_ms();
        plen = nmo__key_rotation__pack(&kr, plain);
        return seal_plain(plain, plen, NMO__ENVELOPE_KIND__ENVELOPE_KEY_ROTATION, id, member,
                          hub_payload_pk, NULL, frame, len);
}

/* An envelope with everything a re-seal needs: sender, nonce, box, id. */
static bool resealable(const Nmo__Envelope *e)
{
        return e->has_sender && e->sender.len == KEYS_KEY_BYTES && e->has_box &&
               e->box.len >= crypto_box_MACBYTES && e->has_nonce &&
               e->nonce.len == ENVELOPE_NONCE_BYTES && e->has_signal_id &&
               e->signal_id.len == SIGNAL_ID_BYTES;
}

/* Opens e's box as its sender (crypto_box is symmetric: the sender opens its
 * own box with the recipient's public key and its own secret key), then seals
 * the same plaintext, kind and id from member to hub_payload_pk. */
static int reopen_reseal(const Nmo__Envelope *e, const uint8_t open_pk[KEYS_KEY_BYTES],
                         const uint8_t open_sk[KEYS_KEY_BYTES], const struct keys_secret *member,
                         const uint8_t hub_payload_pk[KEYS_KEY_BYTES], uint8_t **out,
                         size_t *out_len)
{
        size_t plen = e->box.len - crypto_box_MACBYTES;
        uint8_t *plain = malloc(plen ? plen : 1);
        int r = -EBADMSG;

        if (!plain)
                return -ENOMEM;
        if (crypto_box_open_easy(plain, e->box.data, e->box.len, e->nonce.data, open_pk,
                                 open_sk) == 0)
                r = seal_plain(plain, plen,
                               e->has_kind ? e->kind : NMO__ENVELOPE_KIND__ENVELOPE_SIGNAL,
                               e->signal_id.data, member, hub_payload_pk, NULL, out, out_len);
        sodium_memzero(plain, plen);
        free(plain);
        return r;
}

int envelope_reseal(const uint8_t *frame, size_t len, const struct keys_secret *old_member,
                    const struct keys_secret *new_member,
                    const uint8_t hub_payload_pk[KEYS_KEY_BYTES], uint8_t **out,
                    size_t *out_len)
{
        Nmo__Envelope *e;
        int r = -EBADMSG;

        if (len > ENVELOPE_MAX)
                return -EBADMSG;
        e = nmo__envelope__unpack(NULL, len, frame);
        if (!e)
                return -EBADMSG;
        if (!resealable(e))
                goto out;
        if (sodium_memcmp(e->sender.data, new_member->pub.payload, KEYS_KEY_BYTES) == 0) {
                r = -EALREADY;
                goto out;
        }
        if (sodium_memcmp(e->sender.data, old_member->pub.payload, KEYS_KEY_BYTES) != 0)
                goto out;
        r = reopen_reseal(e, hub_payload_pk, old_member->payload_sk, new_member, hub_payload_pk,
                          out, out_len);
out:
        nmo__envelope__free_unpacked(e, NULL);
        return r;
}

bool envelope_view_hub_key_id(const struct envelope_view *v, uint8_t out[ENVELOPE_KEY_ID_BYTES])
{
        const Nmo__Envelope *e = v->e;

        if (!e || !e->has_hub_key_id || e->hub_key_id.len != ENVELOPE_KEY_ID_BYTES)
                return false;
        memcpy(out, e->hub_key_id.data, ENVELOPE_KEY_ID_BYTES);
        return true;
}

bool envelope_peek_hub_key_id(const uint8_t *frame, size_t len,
                              uint8_t out[ENVELOPE_KEY_ID_BYTES])
{
        struct envelope_view v;
        bool ok;

        envelope_view_parse(&v, frame, len);
        ok = envelope_view_hub_key_id(&v, out);
        envelope_view_free(&v);
        return ok;
}

int envelope_reseal_hub(const uint8_t *frame, size_t len, const struct keys_secret *member,
                        const uint8_t old_hub_pk[KEYS_KEY_BYTES],
                        const uint8_t new_hub_pk[KEYS_KEY_BYTES], uint8_t **out, size_t *out_len)
{
        uint8_t old_id[ENVELOPE_KEY_ID_BYTES], new_id[ENVELOPE_KEY_ID_BYTES];
        Nmo__Envelope *e;
        int r = -EBADMSG;

        if (len > ENVELOPE_MAX)
                return -EBADMSG;
        e = nmo__envelope__unpack(NULL, len, frame);
        if (!e)
                return -EBADMSG;
        if (!resealable(e) || !e->has_hub_key_id ||
            e->hub_key_id.len != ENVELOPE_KEY_ID_BYTES ||
            sodium_memcmp(e->sender.data, member->pub.payload, KEYS_KEY_BYTES) != 0)
                goto out;
        envelope_key_id(old_hub_pk, old_id);
        envelope_key_id(new_hub_pk, new_id);
        if (memcmp(e->hub_key_id.data, new_id, sizeof(new_id)) == 0) {
                r = -EALREADY;
                goto out;
        }
        if (memcmp(e->hub_key_id.data, old_id, sizeof(old_id)) != 0)
                goto out;
        /* The member opens its own box with the old hub key and seals the
         * same plaintext to the new one. */
        r = reopen_reseal(e, old_hub_pk, member->payload_sk, member, new_hub_pk, out, out_len);
out:
        nmo__envelope__free_unpacked(e, NULL);
        return r;
}
