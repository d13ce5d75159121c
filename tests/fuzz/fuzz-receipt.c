/* fuzz-receipt.c: what a node does with the hub's reply: reply_unpack() and
 * receipt_verify() of the receipt inside, and receipt_verify() of the raw
 * input. The input is also signed here as a ReceiptBody with the hub's fixed
 * signing key, so that the decoding after a good signature gets fuzzed too. */
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "receipt.h"

/* PROTOCOL.md, "Receipts": the signature covers this context, a zero byte and the body. */
static const char receipt_context[] = "nmo-signal receipt v1";

static void check(const struct receipt *r)
{
        if (strlen(r->detail) > RECEIPT_DETAIL_MAX ||
            (r->status != NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED &&
             r->status != NMO__RECEIPT_STATUS__RECEIPT_REJECTED))
                abort();
        (void)reason_name(r->reason);
        (void)reason_is_temporary(r->reason);
}

static void verify_signed_body(const uint8_t *body, size_t len)
{
        const struct fuzz_keys *k = fuzz_keys();
        Nmo__SignedReceipt sr = NMO__SIGNED_RECEIPT__INIT;
        uint8_t sig[crypto_sign_BYTES], *msg, *buf;
        struct receipt r;
        size_t n;

        msg = malloc(sizeof(receipt_context) + len);
        if (!msg)
                return;
        memcpy(msg, receipt_context, sizeof(receipt_context));
        memcpy(msg + sizeof(receipt_context), body, len);
        crypto_sign_detached(sig, NULL, msg, sizeof(receipt_context) + len, k->hub.sign_sk);
        free(msg);
        sr.has_body = 1;
        sr.body.data = (uint8_t *)body;
        sr.body.len = len;
        sr.has_signature = 1;
        sr.signature.data = sig;
        sr.signature.len = sizeof(sig);
        n = nmo__signed_receipt__get_packed_size(&sr);
        buf = malloc(n);
        if (!buf)
                return;
        n = nmo__signed_receipt__pack(&sr, buf);
        if (receipt_verify(buf, n, k->hub.pub.sign, &r) == 0)
                check(&r);
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
        const struct fuzz_keys *k = fuzz_keys();
        uint8_t *signed_receipt = NULL;
        size_t signed_len = 0;
        struct receipt r;
        bool dup;

        if (reply_unpack(data, size, &dup, &signed_receipt, &signed_len) == 0) {
                if (receipt_verify(signed_receipt, signed_len, k->hub.pub.sign, &r) == 0)
                        check(&r);
                free(signed_receipt);
        }
        if (receipt_verify(data, size, k->hub.pub.sign, &r) == 0)
                check(&r);
        if (size <= RECEIPT_MAX)
                verify_signed_body(data, size);
        return 0;
}
