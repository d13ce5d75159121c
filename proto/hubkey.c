/* hubkey.c: see hubkey.h. */
#include "hubkey.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "envelope.pb-c.h"
#include "receipt.h"
#include "signed.h"

static const char old_context[] = "nmo-signal hub key v1";
static const char new_context[] = "nmo-signal hub key possession v1";

static bool key_field_ok(protobuf_c_boolean has, ProtobufCBinaryData d)
{
        return has && d.len == KEYS_KEY_BYTES;
}

/* Decodes and checks a body; *a is filled only on success. */
static int body_decode(const uint8_t *body, size_t len, struct hubkey_announcement *a)
{
        Nmo__HubKeyAnnouncement *b;
        struct keys_public next;
        int r = -EBADMSG;

        b = nmo__hub_key_announcement__unpack(NULL, len, body);
        if (!b)
                return -EBADMSG;
        if (!b->has_version || b->version != 1 || !key_field_ok(b->has_old_payload, b->old_payload) ||
            !key_field_ok(b->has_old_sign, b->old_sign) ||
            !key_field_ok(b->has_new_transport, b->new_transport) ||
            !key_field_ok(b->has_new_payload, b->new_payload) ||
            !key_field_ok(b->has_new_sign, b->new_sign) || !b->has_created_ms ||
            !b->has_overlap_until_ms)
                goto out;
        /* The check every door applies: a payload key of small order would
         * give every node the same secret. */
        memset(&next, 0, sizeof(next));
        next.role = KEYS_ROLE_HUB;
        memcpy(next.transport, b->new_transport.data, KEYS_KEY_BYTES);
        memcpy(next.payload, b->new_payload.data, KEYS_KEY_BYTES);
        memcpy(next.sign, b->new_sign.data, KEYS_KEY_BYTES);
        if (keys_public_check(&next, NULL, 0) < 0)
                goto out;
        memcpy(a->old_payload, b->old_payload.data, KEYS_KEY_BYTES);
        memcpy(a->old_sign, b->old_sign.data, KEYS_KEY_BYTES);
        memcpy(a->new_transport, b->new_transport.data, KEYS_KEY_BYTES);
        memcpy(a->new_payload, b->new_payload.data, KEYS_KEY_BYTES);
        memcpy(a->new_sign, b->new_sign.data, KEYS_KEY_BYTES);
        a->created_ms = b->created_ms;
        a->overlap_until_ms = b->overlap_until_ms;
        r = 0;
out:
        nmo__hub_key_announcement__free_unpacked(b, NULL);
        return r;
}

int hubkey_sign(const struct hubkey_announcement *a,
                const uint8_t old_sign_sk[KEYS_SIGN_SECRET_BYTES],
                const uint8_t new_sign_sk[KEYS_SIGN_SECRET_BYTES], uint8_t **out, size_t *len)
{
        Nmo__HubKeyAnnouncement b = NMO__HUB_KEY_ANNOUNCEMENT__INIT;
        Nmo__SignedHubKeyAnnouncement sa = NMO__SIGNED_HUB_KEY_ANNOUNCEMENT__INIT;
        uint8_t old_sig[crypto_sign_BYTES], new_sig[crypto_sign_BYTES];
        uint8_t *body = NULL, *buf = NULL;
        size_t body_len, n;
        int r = -ENOMEM;

        /* libsodium's secret key holds its public key in the second half. */
        if (sodium_memcmp(old_sign_sk + 32, a->old_sign, KEYS_KEY_BYTES) != 0 ||
            sodium_memcmp(new_sign_sk + 32, a->new_sign, KEYS_KEY_BYTES) != 0)
                return -EINVAL;
        b.has_version = 1;
        b.version = 1;
        b.has_old_payload = 1;
        b.old_payload.data = (uint8_t *)a->old_payload;
        b.old_payload.len = KEYS_KEY_BYTES;
        b.has_old_sign = 1;
        b.old_sign.data = (uint8_t *)a->old_sign;
        b.old_sign.len = KEYS_KEY_BYTES;
        b.has_new_transport = 1;
        b.new_transport.data = (uint8_t *)a->new_transport;
        b.new_transport.len = KEYS_KEY_BYTES;
        b.has_new_payload = 1;
        b.new_payload.data = (uint8_t *)a->new_payload;
        b.new_payload.len = KEYS_KEY_BYTES;
        b.has_new_sign = 1;
        b.new_sign.data = (uint8_t *)a->new_sign;
        b.new_sign.len = KEYS_KEY_BYTES;
        b.has_created_ms = 1;
        b.created_ms = a->created_ms;
        b.has_overlap_until_ms = 1;
        b.overlap_until_ms = a->overlap_until_ms;
        body_len = nmo__hub_key_announcement__get_packed_size(&b);
        body = malloc(body_len);
        if (!body)
                goto out;
        nmo__hub_key_announcement__pack(&b, body);
        if (signed_sign(old_context, body, body_len, old_sign_sk, old_sig) < 0 ||
            signed_sign(new_context, body, body_len, new_sign_sk, new_sig) < 0)
                goto out;
        sa.has_body = 1;
        sa.body.data = body;
        sa.body.len = body_len;
        sa.has_old_signature = 1;
        sa.old_signature.data = old_sig;
        sa.old_signature.len = sizeof(old_sig);
        sa.has_new_signature = 1;
        sa.new_signature.data = new_sig;
        sa.new_signature.len = sizeof(new_sig);
        n = nmo__signed_hub_key_announcement__get_packed_size(&sa);
        if (n > HUBKEY_ANNOUNCEMENT_MAX) {
                r = -E2BIG;
                goto out;
        }
        buf = malloc(n);
        if (!buf)
                goto out;
        *len = nmo__signed_hub_key_announcement__pack(&sa, buf);
        *out = buf;
        r = 0;
out:
        free(body);
        return r;
}

/* Decodes the signed wrapper and its body; with trusted_sign_pk, checks both
 * signatures too. */
static int unpack_checked(const uint8_t *buf, size_t len, const uint8_t *trusted_sign_pk,
                          struct hubkey_announcement *a)
{
        Nmo__SignedHubKeyAnnouncement *sa = NULL;
        int r = -EBADMSG;

        memset(a, 0, sizeof(*a));
        if (!buf || len == 0 || len > HUBKEY_ANNOUNCEMENT_MAX)
                return -EBADMSG;
        sa = nmo__signed_hub_key_announcement__unpack(NULL, len, buf);
        if (!sa || !sa->has_body || !sa->has_old_signature ||
            sa->old_signature.len != crypto_sign_BYTES || !sa->has_new_signature ||
            sa->new_signature.len != crypto_sign_BYTES)
                goto out;
        r = body_decode(sa->body.data, sa->body.len, a);
        if (r < 0 || !trusted_sign_pk)
                goto out;
        r = -EKEYREJECTED;
        if (sodium_memcmp(a->old_sign, trusted_sign_pk, KEYS_KEY_BYTES) != 0)
                goto out;
        r = signed_verify(old_context, sa->body.data, sa->body.len, sa->old_signature.data,
                          trusted_sign_pk);
        if (r == 0)
                r = signed_verify(new_context, sa->body.data, sa->body.len,
                                  sa->new_signature.data, a->new_sign);
out:
        if (r < 0)
                memset(a, 0, sizeof(*a));
        if (sa)
                nmo__signed_hub_key_announcement__free_unpacked(sa, NULL);
        return r;
}

int hubkey_verify(const uint8_t *buf, size_t len, const uint8_t trusted_sign_pk[KEYS_KEY_BYTES],
                  struct hubkey_announcement *a)
{
        return unpack_checked(buf, len, trusted_sign_pk, a);
}

int hubkey_decode(const uint8_t *buf, size_t len, struct hubkey_announcement *a)
{
        return unpack_checked(buf, len, NULL, a);
}

int hubkey_reply_pack(bool duplicate, const uint8_t *signed_receipt, size_t signed_len,
                      const uint8_t *ann, size_t ann_len, uint8_t **frame, size_t *len)
{
        return reply_pack_ann(duplicate, signed_receipt, signed_len, ann, ann_len, frame, len);
}

int hubkey_reply_get(const uint8_t *frame, size_t len, uint8_t **ann, size_t *ann_len)
{
        struct reply rp;
        int r;

        *ann = NULL;
        *ann_len = 0;
        r = reply_decode(frame, len, &rp);
        if (r == 0 && rp.announcement) {
                *ann = malloc(rp.announcement_len);
                if (*ann) {
                        memcpy(*ann, rp.announcement, rp.announcement_len);
                        *ann_len = rp.announcement_len;
                } else {
                        r = -ENOMEM;
                }
        }
        reply_free(&rp);
        return r;
}
