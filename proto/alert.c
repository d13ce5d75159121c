/* alert.c: see alert.h. */
#include "alert.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "signed.h"

static const char alert_context[] = "nmo-signal alert v1";

int alert_sign(const Nmo__AlertBody *body, const uint8_t sign_sk[KEYS_SIGN_SECRET_BYTES],
               uint8_t **out, size_t *len)
{
        Nmo__SignedAlert sa = NMO__SIGNED_ALERT__INIT;
        uint8_t sig[crypto_sign_BYTES], *b = NULL, *buf = NULL;
        size_t blen, n;
        int r = -ENOMEM;

        blen = nmo__alert_body__get_packed_size(body);
        if (blen > ALERT_MAX - 128)
                return -E2BIG;
        b = malloc(blen ? blen : 1);
        if (!b)
                goto out;
        nmo__alert_body__pack(body, b);
        if (signed_sign(alert_context, b, blen, sign_sk, sig) < 0)
                goto out;
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
        return r;
}

int alert_verify(const uint8_t *buf, size_t len, const uint8_t sign_pk[KEYS_KEY_BYTES],
                 Nmo__AlertBody **body)
{
        Nmo__SignedAlert *sa = NULL;
        Nmo__AlertBody *b = NULL;
        int r = -EBADMSG;

        *body = NULL;
        if (len > ALERT_MAX)
                return -EBADMSG;
        sa = nmo__signed_alert__unpack(NULL, len, buf);
        if (!sa || !sa->has_body || !sa->has_signature || sa->signature.len != crypto_sign_BYTES)
                goto out;
        r = signed_verify(alert_context, sa->body.data, sa->body.len, sa->signature.data,
                          sign_pk);
        if (r < 0)
                goto out;
        r = -EBADMSG;
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
        if (sa)
                nmo__signed_alert__free_unpacked(sa, NULL);
        return r;
}
