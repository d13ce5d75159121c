/* alert.c: see alert.h. */
#include "alert.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

static const char alert_context[] = "nmo-signal alert v1";

static uint8_t *signed_message(const uint8_t *body, size_t len, size_t *mlen)
{
        uint8_t *m = malloc(sizeof(alert_context) + len);

        if (!m)
                return NULL;
        memcpy(m, alert_context, sizeof(alert_context)); /* with its NUL */
        if (len) /* an empty protobuf bytes field has no data pointer */
                memcpy(m + sizeof(alert_context), body, len);
        *mlen = sizeof(alert_context) + len;
        return m;
}

int alert_sign(const Nmo__AlertBody *body, const uint8_t sign_sk[KEYS_SIGN_SECRET_BYTES],
               uint8_t **out, size_t *len)
{
        Nmo__SignedAlert sa = NMO__SIGNED_ALERT__INIT;
        uint8_t sig[crypto_sign_BYTES], *b = NULL, *msg = NULL, *buf = NULL;
        size_t blen, mlen = 0, n;
        int r = -ENOMEM;

        blen = nmo__alert_body__get_packed_size(body);
        if (blen > ALERT_MAX - 128)
                return -E2BIG;
        b = malloc(blen ? blen : 1);
        if (!b)
                goto out;
        nmo__alert_body__pack(body, b);
        msg = signed_message(b, blen, &mlen);
        if (!msg)
                goto out;
        crypto_sign_detached(sig, NULL, msg, mlen, sign_sk);
        sa.has_body = 1;
        sa.body.data = b;
        sa.body.len = blen;
        sa.has_signature = 1;
        sa.signature.data = sig;
        sa.signature.len = sizeof(sig);
        n = nmo__signed_alert__get_packed_size(&sa);
        buf = malloc(n);
        if (!buf)
                goto out;
        *len = nmo__signed_alert__pack(&sa, buf);
        *out = buf;
        r = 0;
out:
        free(b);
        free(msg);
        return r;
}

int alert_verify(const uint8_t *buf, size_t len, const uint8_t sign_pk[KEYS_KEY_BYTES],
                 Nmo__AlertBody **body)
{
        Nmo__SignedAlert *sa = NULL;
        Nmo__AlertBody *b = NULL;
        uint8_t *msg = NULL;
        size_t mlen = 0;
        int r = -EBADMSG;

        *body = NULL;
        if (len > ALERT_MAX)
                return -EBADMSG;
        sa = nmo__signed_alert__unpack(NULL, len, buf);
        if (!sa || !sa->has_body || !sa->has_signature || sa->signature.len != crypto_sign_BYTES)
                goto out;
        msg = signed_message(sa->body.data, sa->body.len, &mlen);
        if (!msg) {
                r = -ENOMEM;
                goto out;
        }
        if (crypto_sign_verify_detached(sa->signature.data, msg, mlen, sign_pk) != 0) {
                r = -EKEYREJECTED;
                goto out;
        }
        b = nmo__alert_body__unpack(NULL, sa->body.len, sa->body.data);
        if (!b || !b->has_version || b->version != 1 || !b->id || !b->rule || !b->material ||
            !b->level) {
                if (b)
                        nmo__alert_body__free_unpacked(b, NULL);
                goto out;
        }
        *body = b;
        r = 0;
out:
        free(msg);
        if (sa)
                nmo__signed_alert__free_unpacked(sa, NULL);
        return r;
}
