/* fuzz-alert.c: what a node does with a message on the alert feed:
 * alert_verify() with the hub's signing key and the node's own checks
 * (feed_check_alert()). The input is tried as a SignedAlert, and also as an
 * AlertBody signed here with the hub's fixed key, so that the checks after a
 * good signature get fuzzed too. */
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "feed.h"
#include "fuzz-common.h"
#include "outbox.h"

/* PROTOCOL.md: the signature covers this context, a zero byte and the body. */
static const char alert_context[] = "nmo-signal alert v1";

static void check(const uint8_t *buf, size_t len)
{
        const struct fuzz_keys *k = fuzz_keys();
        Nmo__AlertBody *b = NULL;

        if (alert_verify(buf, len, k->hub.pub.sign, &b) == 0) {
                if (!b || !b->id || !b->rule || !b->material || !b->level)
                        abort();
                nmo__alert_body__free_unpacked(b, NULL);
        }
        if (feed_check_alert(buf, len, k->hub.pub.sign, &b) == 0) {
                if (!b || !outbox_alert_id_ok(b->id) || b->revision < 1)
                        abort();
                nmo__alert_body__free_unpacked(b, NULL);
        }
}

static void check_signed_body(const uint8_t *body, size_t len)
{
        const struct fuzz_keys *k = fuzz_keys();
        Nmo__SignedAlert sa = NMO__SIGNED_ALERT__INIT;
        uint8_t sig[crypto_sign_BYTES], *msg, *buf;
        size_t n;

        msg = malloc(sizeof(alert_context) + len);
        if (!msg)
                return;
        memcpy(msg, alert_context, sizeof(alert_context));
        memcpy(msg + sizeof(alert_context), body, len);
        crypto_sign_detached(sig, NULL, msg, sizeof(alert_context) + len, k->hub.sign_sk);
        free(msg);
        sa.has_body = 1;
        sa.body.data = (uint8_t *)body;
        sa.body.len = len;
        sa.has_signature = 1;
        sa.signature.data = sig;
        sa.signature.len = sizeof(sig);
        n = nmo__signed_alert__get_packed_size(&sa);
        buf = malloc(n);
        if (!buf)
                return;
        n = nmo__signed_alert__pack(&sa, buf);
        check(buf, n);
        free(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        (void)fuzz_keys();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        check(data, size);
        if (size <= ALERT_MAX)
                check_signed_body(data, size);
        return 0;
}
