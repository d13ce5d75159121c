/* signed.c: see signed.h. */
#include "signed.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

/* context || 0x00 || body, in a fresh buffer. */
static uint8_t *message(const char *context, const uint8_t *body, size_t len, size_t *mlen)
{
        size_t clen = strlen(context) + 1; /* with its NUL: the 0x00 separator */
        uint8_t *m = malloc(clen + len);

        if (!m)
                return NULL;
        memcpy(m, context, clen);
        if (len) /* an empty protobuf bytes field has no data pointer */
                memcpy(m + clen, body, len);
        *mlen = clen + len;
        return m;
}

int signed_sign(const char *context, const uint8_t *body, size_t len,
                const uint8_t sk[KEYS_SIGN_SECRET_BYTES], uint8_t sig[SIGNED_SIGNATURE_BYTES])
{
        size_t mlen = 0;
        uint8_t *m = message(context, body, len, &mlen);

        if (!m)
                return -ENOMEM;
        crypto_sign_detached(sig, NULL, m, mlen, sk);
        free(m);
        return 0;
}

int signed_verify(const char *context, const uint8_t *body, size_t len,
                  const uint8_t sig[SIGNED_SIGNATURE_BYTES], const uint8_t pk[KEYS_KEY_BYTES])
{
        size_t mlen = 0;
        uint8_t *m = message(context, body, len, &mlen);
        int ok;

        if (!m)
                return -ENOMEM;
        ok = crypto_sign_verify_detached(sig, m, mlen, pk) == 0;
        free(m);
        return ok ? 0 : -EKEYREJECTED;
}
