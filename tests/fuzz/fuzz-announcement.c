/* fuzz-announcement.c: what a node does with a hub key announcement, from a
 * Reply (hubkey_reply_get()) or the alert feed: hubkey_verify() with the
 * hub's signing key and hubkey_decode(). The input is tried as a
 * SignedHubKeyAnnouncement, as a Reply, and as a HubKeyAnnouncement body
 * signed here with the hub's fixed key under both contexts, so that the
 * checks after good signatures get fuzzed too. */
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "hubkey.h"

/* PROTOCOL.md 16.2: the two signatures cover these contexts, a zero byte and the body. */
static const char old_context[] = "nmo-signal hub key v1";
static const char new_context[] = "nmo-signal hub key possession v1";

static void check(const uint8_t *buf, size_t len)
{
        const struct fuzz_keys *k = fuzz_keys();
        struct hubkey_announcement a;

        if (hubkey_verify(buf, len, k->hub.pub.sign, &a) == 0 &&
            memcmp(a.old_sign, k->hub.pub.sign, KEYS_KEY_BYTES) != 0)
                abort();
        (void)hubkey_decode(buf, len, &a);
}

static void sign_with(const char *context, size_t clen, const uint8_t *body, size_t len,
                      uint8_t sig[crypto_sign_BYTES])
{
        uint8_t *msg = malloc(clen + len);

        memset(sig, 0, crypto_sign_BYTES);
        if (!msg)
                return;
        memcpy(msg, context, clen);
        memcpy(msg + clen, body, len);
        crypto_sign_detached(sig, NULL, msg, clen + len, fuzz_keys()->hub.sign_sk);
        free(msg);
}

static void check_signed_body(const uint8_t *body, size_t len)
{
        Nmo__SignedHubKeyAnnouncement sa = NMO__SIGNED_HUB_KEY_ANNOUNCEMENT__INIT;
        uint8_t old_sig[crypto_sign_BYTES], new_sig[crypto_sign_BYTES], *buf;
        size_t n;

        sign_with(old_context, sizeof(old_context), body, len, old_sig);
        sign_with(new_context, sizeof(new_context), body, len, new_sig);
        sa.has_body = 1;
        sa.body.data = (uint8_t *)body;
        sa.body.len = len;
        sa.has_old_signature = 1;
        sa.old_signature.data = old_sig;
        sa.old_signature.len = sizeof(old_sig);
        sa.has_new_signature = 1;
        sa.new_signature.data = new_sig;
        sa.new_signature.len = sizeof(new_sig);
        n = nmo__signed_hub_key_announcement__get_packed_size(&sa);
        buf = malloc(n);
        if (!buf)
                return;
        n = nmo__signed_hub_key_announcement__pack(&sa, buf);
        check(buf, n);
        free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t *ann = NULL;
        size_t ann_len = 0;

        check(data, size);
        if (hubkey_reply_get(data, size, &ann, &ann_len) == 0 && ann) {
                check(ann, ann_len);
                free(ann);
        }
        if (size <= HUBKEY_ANNOUNCEMENT_MAX)
                check_signed_body(data, size);
        return 0;
}
