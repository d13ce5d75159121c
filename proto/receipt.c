/* receipt.c: see receipt.h. */
#include "receipt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char receipt_context[] = "nmo-signal receipt v1";

const char *reason_name(Nmo__Reason reason)
{
        static const char *const names[] = {
                "none", "malformed", "unsupported-version", "oversized", "sender-mismatch",
                "decrypt-failed", "invalid-signal", "id-mismatch", "unknown-hub-key",
                "member-suspended", "member-revoked", "clock-skew", "rate-limited",
                "store-unavailable", "member-expired",
        };
        if ((unsigned int)reason < NMO_ARRAY_SIZE(names))
                return names[reason];
        return "unknown";
}

bool reason_is_temporary(Nmo__Reason reason)
{
        switch (reason) {
        case NMO__REASON__REASON_MEMBER_SUSPENDED:
        case NMO__REASON__REASON_CLOCK_SKEW:
        case NMO__REASON__REASON_RATE_LIMITED:
        case NMO__REASON__REASON_STORE_UNAVAILABLE:
        case NMO__REASON__REASON_MEMBER_EXPIRED:
                return true;
        default:
                return false;
        }
}

/* context || 0x00 || body, the bytes the signature covers. */
static uint8_t *signed_message(const uint8_t *body, size_t len, size_t *mlen)
{
        uint8_t *m = malloc(sizeof(receipt_context) + len);

        if (!m)
                return NULL;
        memcpy(m, receipt_context, sizeof(receipt_context)); /* includes the NUL */
        if (len) /* an empty protobuf bytes field has no data pointer */
                memcpy(m + sizeof(receipt_context), body, len);
        *mlen = sizeof(receipt_context) + len;
        return m;
}

int receipt_sign(const struct receipt *r, const uint8_t sign_sk[KEYS_SIGN_SECRET_BYTES],
                 uint8_t **out, size_t *len)
{
        Nmo__ReceiptBody b = NMO__RECEIPT_BODY__INIT;
        Nmo__SignedReceipt sr = NMO__SIGNED_RECEIPT__INIT;
        uint8_t sig[crypto_sign_BYTES];
        uint8_t *body = NULL, *msg = NULL, *buf = NULL;
        size_t body_len, msg_len = 0, n;
        int ret = -ENOMEM;

        b.has_version = 1;
        b.version = 1;
        if (r->has_id) {
                b.has_signal_id = 1;
                b.signal_id.data = (uint8_t *)r->signal_id;
                b.signal_id.len = SIGNAL_ID_BYTES;
        }
        b.has_status = 1;
        b.status = r->status;
        b.has_reason = 1;
        b.reason = r->reason;
        if (r->detail[0])
                b.detail = (char *)r->detail;
        b.has_hub_time_ms = 1;
        b.hub_time_ms = r->hub_time_ms;
        b.has_envelope_hash = 1;
        b.envelope_hash.data = (uint8_t *)r->envelope_hash;
        b.envelope_hash.len = ENVELOPE_HASH_BYTES;
        b.has_member_key = 1;
        b.member_key.data = (uint8_t *)r->member_key;
        b.member_key.len = KEYS_KEY_BYTES;
        if (r->sequence) {
                b.has_sequence = 1;
                b.sequence = r->sequence;
        }
        body_len = nmo__receipt_body__get_packed_size(&b);
        body = malloc(body_len);
        if (!body)
                goto out;
        nmo__receipt_body__pack(&b, body);
        msg = signed_message(body, body_len, &msg_len);
        if (!msg)
                goto out;
        crypto_sign_detached(sig, NULL, msg, msg_len, sign_sk);
        sr.has_body = 1;
        sr.body.data = body;
        sr.body.len = body_len;
        sr.has_signature = 1;
        sr.signature.data = sig;
        sr.signature.len = sizeof(sig);
        n = nmo__signed_receipt__get_packed_size(&sr);
        buf = malloc(n);
        if (!buf)
                goto out;
        *len = nmo__signed_receipt__pack(&sr, buf);
        *out = buf;
        ret = 0;
out:
        free(body);
        free(msg);
        return ret;
}

int receipt_verify(const uint8_t *buf, size_t len, const uint8_t sign_pk[KEYS_KEY_BYTES],
                   struct receipt *r)
{
        Nmo__SignedReceipt *sr = NULL;
        Nmo__ReceiptBody *b = NULL;
        uint8_t *msg = NULL;
        size_t msg_len = 0;
        int ret = -EBADMSG;

        memset(r, 0, sizeof(*r));
        if (len > RECEIPT_MAX)
                return -EBADMSG;
        sr = nmo__signed_receipt__unpack(NULL, len, buf);
        if (!sr || !sr->has_body || !sr->has_signature || sr->signature.len != crypto_sign_BYTES)
                goto out;
        msg = signed_message(sr->body.data, sr->body.len, &msg_len);
        if (!msg) {
                ret = -ENOMEM;
                goto out;
        }
        if (crypto_sign_verify_detached(sr->signature.data, msg, msg_len, sign_pk) != 0) {
                ret = -EKEYREJECTED;
                goto out;
        }
        b = nmo__receipt_body__unpack(NULL, sr->body.len, sr->body.data);
        if (!b || !b->has_version || b->version != 1 || !b->has_status ||
            (b->status != NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED &&
             b->status != NMO__RECEIPT_STATUS__RECEIPT_REJECTED) ||
            (b->has_signal_id && b->signal_id.len != SIGNAL_ID_BYTES) ||
            !b->has_envelope_hash || b->envelope_hash.len != ENVELOPE_HASH_BYTES ||
            !b->has_member_key || b->member_key.len != KEYS_KEY_BYTES ||
            (b->detail && strlen(b->detail) > RECEIPT_DETAIL_MAX))
                goto out;
        r->has_id = b->has_signal_id;
        if (r->has_id)
                memcpy(r->signal_id, b->signal_id.data, SIGNAL_ID_BYTES);
        r->status = b->status;
        r->reason = b->has_reason ? b->reason : NMO__REASON__REASON_NONE;
        if (b->detail)
                memcpy(r->detail, b->detail, strlen(b->detail) + 1);
        r->hub_time_ms = b->has_hub_time_ms ? b->hub_time_ms : 0;
        memcpy(r->envelope_hash, b->envelope_hash.data, ENVELOPE_HASH_BYTES);
        memcpy(r->member_key, b->member_key.data, KEYS_KEY_BYTES);
        r->sequence = b->has_sequence ? b->sequence : 0;
        ret = 0;
out:
        free(msg);
        if (b)
                nmo__receipt_body__free_unpacked(b, NULL);
        if (sr)
                nmo__signed_receipt__free_unpacked(sr, NULL);
        return ret;
}

int reply_pack(bool duplicate, const uint8_t *signed_receipt, size_t signed_len,
               uint8_t **frame, size_t *len)
{
        Nmo__Reply rp = NMO__REPLY__INIT;
        Nmo__SignedReceipt *sr;
        uint8_t *buf;
        size_t n;

        sr = nmo__signed_receipt__unpack(NULL, signed_len, signed_receipt);
        if (!sr)
                return -EBADMSG;
        rp.has_version = 1;
        rp.version = 1;
        rp.has_duplicate = 1;
        rp.duplicate = duplicate;
        rp.receipt = sr;
        n = nmo__reply__get_packed_size(&rp);
        buf = malloc(n);
        if (!buf) {
                nmo__signed_receipt__free_unpacked(sr, NULL);
                return -ENOMEM;
        }
        *len = nmo__reply__pack(&rp, buf);
        *frame = buf;
        nmo__signed_receipt__free_unpacked(sr, NULL);
        return 0;
}

int reply_unpack(const uint8_t *frame, size_t len, bool *duplicate, uint8_t **signed_receipt,
                 size_t *signed_len)
{
        Nmo__Reply *rp;
        uint8_t *buf;
        size_t n;
        int r = -EBADMSG;

        if (len > RECEIPT_MAX)
                return -EBADMSG;
        rp = nmo__reply__unpack(NULL, len, frame);
        if (!rp)
                return -EBADMSG;
        if (!rp->has_version || rp->version != 1 || !rp->receipt)
                goto out;
        n = nmo__signed_receipt__get_packed_size(rp->receipt);
        buf = malloc(n);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        *signed_len = nmo__signed_receipt__pack(rp->receipt, buf);
        *signed_receipt = buf;
        *duplicate = rp->has_duplicate && rp->duplicate;
        r = 0;
out:
        nmo__reply__free_unpacked(rp, NULL);
        return r;
}
