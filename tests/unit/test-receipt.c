/* test-receipt.c: the hub's signed receipts, the Reply frame around them, and
 * the reason codes (proto/receipt.c).
 *
 * The known-answer receipt comes from tests/unit/kat-envelope.py, the batch
 * form's from tests/unit/kat-receipt-batch.py (Ed25519 is deterministic, so
 * the signatures are fixed too). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "hubkey.h"
#include "receipt.h"

static const char kat_envelope_hash[] =
        "73469b7727356d70b36d713c5d1e6f727cf5791d67c0d8825e65452cb2ed6ca2";
static const char kat_member_payload_pk[] =
        "60346e7c911a5f6ba154129174cafe75b294ac3bbd5549632f48cec6266f8410";
static const char kat_hub_sign_pk[] =
        "6e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf1";
static const char kat_body[] =
        "08011210000102030405060708090a0b0c0d0e0f1801200030d281a6f9c1323a2073469b7727356d70"
        "b36d713c5d1e6f727cf5791d67c0d8825e65452cb2ed6ca2422060346e7c911a5f6ba154129174cafe"
        "75b294ac3bbd5549632f48cec6266f84104801";
static const char kat_signature[] =
        "4a002ba2d225d9d40ccb144274b1f36b35e2e3842a779ad157a6fc660232a8499c747dcf639fe63396"
        "1b4615df9773b45d2e183d0ea877f5cb4aaef069308a05";
static const char kat_signed_receipt[] =
        "0a6508011210000102030405060708090a0b0c0d0e0f1801200030d281a6f9c1323a2073469b772735"
        "6d70b36d713c5d1e6f727cf5791d67c0d8825e65452cb2ed6ca2422060346e7c911a5f6ba154129174"
        "cafe75b294ac3bbd5549632f48cec6266f8410480112404a002ba2d225d9d40ccb144274b1f36b35e2"
        "e3842a779ad157a6fc660232a8499c747dcf639fe633961b4615df9773b45d2e183d0ea877f5cb4aae"
        "f069308a05";
static const char kat_reply[] =
        "080110001aa9010a6508011210000102030405060708090a0b0c0d0e0f1801200030d281a6f9c1323a"
        "2073469b7727356d70b36d713c5d1e6f727cf5791d67c0d8825e65452cb2ed6ca2422060346e7c911a"
        "5f6ba154129174cafe75b294ac3bbd5549632f48cec6266f8410480112404a002ba2d225d9d40ccb14"
        "4274b1f36b35e2e3842a779ad157a6fc660232a8499c747dcf639fe633961b4615df9773b45d2e183d"
        "0ea877f5cb4aaef069308a05";

/* Batch form: the three bodies of kat_body with sequence 1, 2, 3, and the
 * Reply of leaf 2 (kat-receipt-batch.py). */
static const char kat_batch_root[] =
        "2183b54235a15fa48c7d228a8018cf4c934a2c7c13afa47a0035fe127d0cb1a6";
static const char kat_batch_reply[] =
        "080110001acf010a6508011210000102030405060708090a0b0c0d0e0f1801200030d281a6f9c132"
        "3a2073469b7727356d70b36d713c5d1e6f727cf5791d67c0d8825e65452cb2ed6ca2422060346e7c"
        "911a5f6ba154129174cafe75b294ac3bbd5549632f48cec6266f841048031240c135a95c41b0aff5"
        "1f2cf77fde99fea0cc86bdfeb91435df2d8304d96c63632e57c183801e361ca962557dad7ef0069f"
        "2c43611a2134f65b882ee5de28485b0f180320022a2025ee00f5ee5674dab81390a9be5bb47ee777"
        "25bc66c9928701a38ffcb0740c60";

struct signer {
        uint8_t pk[crypto_sign_PUBLICKEYBYTES];
        uint8_t sk[crypto_sign_SECRETKEYBYTES];
};

static struct signer hub_key, other_key;

static void hex_equal(const uint8_t *bin, size_t len, const char *want)
{
        char *hex = malloc(2 * len + 1);

        assert_non_null(hex);
        util_hex(bin, len, hex);
        assert_string_equal(hex, want);
        free(hex);
}

static void unhex(const char *hex, uint8_t *out, size_t len)
{
        assert_int_equal(util_unhex(hex, out, len), 0);
}

static void sample_receipt(struct receipt *r, bool accepted)
{
        memset(r, 0, sizeof(*r));
        r->has_id = true;
        randombytes_buf(r->signal_id, sizeof(r->signal_id));
        r->hub_time_ms = util_now_ms();
        randombytes_buf(r->envelope_hash, sizeof(r->envelope_hash));
        randombytes_buf(r->member_key, sizeof(r->member_key));
        if (accepted) {
                r->status = NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED;
                r->reason = NMO__REASON__REASON_NONE;
                r->sequence = 424242;
        } else {
                r->status = NMO__RECEIPT_STATUS__RECEIPT_REJECTED;
                r->reason = NMO__REASON__REASON_INVALID_SIGNAL;
                snprintf(r->detail, sizeof(r->detail), "missing required field: country");
        }
}

/* A SignedReceipt over arbitrary body bytes, signed as the hub signs. */
static uint8_t *sign_body(const uint8_t *body, size_t body_len, const uint8_t *sk, size_t *len)
{
        static const char ctx[] = "nmo-signal receipt v1";
        Nmo__SignedReceipt sr = NMO__SIGNED_RECEIPT__INIT;
        uint8_t sig[crypto_sign_BYTES], *msg, *out;

        msg = malloc(sizeof(ctx) + body_len);
        assert_non_null(msg);
        memcpy(msg, ctx, sizeof(ctx)); /* with its NUL: the 0x00 separator */
        memcpy(msg + sizeof(ctx), body, body_len);
        crypto_sign_detached(sig, NULL, msg, sizeof(ctx) + body_len, sk);
        free(msg);
        sr.has_body = 1;
        sr.body.data = (uint8_t *)body;
        sr.body.len = body_len;
        sr.has_signature = 1;
        sr.signature.data = sig;
        sr.signature.len = sizeof(sig);
        *len = nmo__signed_receipt__get_packed_size(&sr);
        out = malloc(*len);
        assert_non_null(out);
        nmo__signed_receipt__pack(&sr, out);
        return out;
}

static void test_known_answer(void **state)
{
        uint8_t seed[32], pk[32], sk[64], *buf = NULL, *frame = NULL, *back = NULL;
        uint8_t want_pk[32], body[101], sig[64];
        size_t len = 0, flen = 0, blen = 0;
        struct receipt r, v;
        bool dup = true;

        (void)state;
        memset(seed, 0x05, sizeof(seed));
        crypto_sign_seed_keypair(pk, sk, seed);
        hex_equal(pk, sizeof(pk), kat_hub_sign_pk);
        memset(&r, 0, sizeof(r));
        r.has_id = true;
        for (int i = 0; i < SIGNAL_ID_BYTES; i++)
                r.signal_id[i] = (uint8_t)i;
        r.status = NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED;
        r.reason = NMO__REASON__REASON_NONE;
        r.hub_time_ms = 1735689601234ULL;
        unhex(kat_envelope_hash, r.envelope_hash, sizeof(r.envelope_hash));
        unhex(kat_member_payload_pk, r.member_key, sizeof(r.member_key));
        r.sequence = 1;
        assert_int_equal(receipt_sign(&r, sk, &buf, &len), 0);
        hex_equal(buf, len, kat_signed_receipt);
        assert_int_equal(receipt_verify(buf, len, pk, &v), 0);
        assert_memory_equal(&v, &r, sizeof(r));
        assert_int_equal(reply_pack(false, buf, len, &frame, &flen), 0);
        hex_equal(frame, flen, kat_reply);
        assert_int_equal(reply_unpack(frame, flen, &dup, &back, &blen), 0);
        assert_false(dup);
        assert_int_equal(blen, len);
        assert_memory_equal(back, buf, len);

        /* The signature, checked by hand: Ed25519 over context, 0x00, body. */
        unhex(kat_body, body, sizeof(body));
        unhex(kat_signature, sig, sizeof(sig));
        unhex(kat_hub_sign_pk, want_pk, sizeof(want_pk));
        {
                uint8_t msg[sizeof("nmo-signal receipt v1") + sizeof(body)];

                memcpy(msg, "nmo-signal receipt v1", 21);
                msg[21] = 0x00;
                memcpy(msg + 22, body, sizeof(body));
                assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg), want_pk), 0);
                /* Without the context the same signature is worthless. */
                assert_int_not_equal(crypto_sign_verify_detached(sig, body, sizeof(body),
                                                                 want_pk), 0);
        }
        sodium_memzero(sk, sizeof(sk));
        free(buf);
        free(frame);
        free(back);
}

static void test_round_trip(void **state)
{
        (void)state;
        for (int accepted = 0; accepted < 2; accepted++) {
                struct receipt r, v;
                uint8_t *buf = NULL;
                size_t len = 0;

                sample_receipt(&r, accepted);
                assert_int_equal(receipt_sign(&r, hub_key.sk, &buf, &len), 0);
                assert_true(len <= RECEIPT_MAX);
                memset(&v, 0xaa, sizeof(v));
                assert_int_equal(receipt_verify(buf, len, hub_key.pk, &v), 0);
                assert_memory_equal(&v, &r, sizeof(r));
                free(buf);
        }
        /* A refusal for a frame without an id, with the longest detail. */
        {
                struct receipt r, v;
                uint8_t *buf = NULL;
                size_t len = 0;

                sample_receipt(&r, false);
                r.has_id = false;
                memset(r.signal_id, 0, sizeof(r.signal_id));
                r.reason = NMO__REASON__REASON_MALFORMED;
                memset(r.detail, 'd', RECEIPT_DETAIL_MAX);
                r.detail[RECEIPT_DETAIL_MAX] = '\0';
                r.hub_time_ms = UINT64_MAX;
                assert_int_equal(receipt_sign(&r, hub_key.sk, &buf, &len), 0);
                assert_true(len <= RECEIPT_MAX);
                assert_int_equal(receipt_verify(buf, len, hub_key.pk, &v), 0);
                assert_memory_equal(&v, &r, sizeof(r));
                assert_false(v.has_id);
                free(buf);
        }
}

static void test_wrong_key(void **state)
{
        struct receipt r, v;
        uint8_t *buf = NULL, *forged;
        size_t len = 0, flen = 0;
        Nmo__SignedReceipt *sr;

        (void)state;
        sample_receipt(&r, true);
        /* Signed by another key. */
        assert_int_equal(receipt_sign(&r, other_key.sk, &buf, &len), 0);
        assert_int_equal(receipt_verify(buf, len, hub_key.pk, &v), -EKEYREJECTED);
        assert_int_equal(receipt_verify(buf, len, other_key.pk, &v), 0);
        /* Body signed by the hub key but without the context string. */
        sr = nmo__signed_receipt__unpack(NULL, len, buf);
        assert_non_null(sr);
        {
                Nmo__SignedReceipt f = NMO__SIGNED_RECEIPT__INIT;
                uint8_t sig[crypto_sign_BYTES];

                crypto_sign_detached(sig, NULL, sr->body.data, sr->body.len, hub_key.sk);
                f.has_body = 1;
                f.body = sr->body;
                f.has_signature = 1;
                f.signature.data = sig;
                f.signature.len = sizeof(sig);
                flen = nmo__signed_receipt__get_packed_size(&f);
                forged = malloc(flen);
                assert_non_null(forged);
                nmo__signed_receipt__pack(&f, forged);
                assert_int_equal(receipt_verify(forged, flen, hub_key.pk, &v), -EKEYREJECTED);
                free(forged);
        }
        nmo__signed_receipt__free_unpacked(sr, NULL);
        free(buf);
}

static void test_flipped_bytes(void **state)
{
        struct receipt r, v;
        uint8_t *buf = NULL, *copy;
        size_t len = 0;
        Nmo__SignedReceipt *sr;

        (void)state;
        sample_receipt(&r, false);
        assert_int_equal(receipt_sign(&r, hub_key.sk, &buf, &len), 0);
        sr = nmo__signed_receipt__unpack(NULL, len, buf);
        assert_non_null(sr);
        /* Every byte of the signed body and of the signature, re-framed correctly. */
        for (size_t i = 0; i < sr->body.len + sr->signature.len; i++) {
                uint8_t *p = i < sr->body.len ? &sr->body.data[i]
                                              : &sr->signature.data[i - sr->body.len];
                size_t n;

                *p ^= 0x01;
                n = nmo__signed_receipt__get_packed_size(sr);
                copy = malloc(n);
                assert_non_null(copy);
                nmo__signed_receipt__pack(sr, copy);
                if (receipt_verify(copy, n, hub_key.pk, &v) != -EKEYREJECTED)
                        fail_msg("signed byte %zu flipped: not rejected", i);
                free(copy);
                *p ^= 0x01;
        }
        nmo__signed_receipt__free_unpacked(sr, NULL);
        /* Every byte of the frame as sent: never verifies. */
        copy = malloc(len);
        assert_non_null(copy);
        for (size_t i = 0; i < len; i++) {
                memcpy(copy, buf, len);
                copy[i] ^= 0x01;
                if (receipt_verify(copy, len, hub_key.pk, &v) == 0)
                        fail_msg("frame byte %zu flipped and still verified", i);
        }
        free(copy);
        free(buf);
}

static void test_malformed(void **state)
{
        static const uint8_t garbage[][6] = {
                { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
                { 0x0a, 0x7f, 0x00, 0x00, 0x00, 0x00 },
                { 'h', 'e', 'l', 'l', 'o', '!' },
        };
        struct receipt r, v;
        uint8_t *buf = NULL, *copy, *big;
        size_t len = 0;

        (void)state;
        sample_receipt(&r, true);
        assert_int_equal(receipt_sign(&r, hub_key.sk, &buf, &len), 0);
        /* Truncated at every length. */
        for (size_t n = 0; n < len; n++) {
                int ret;

                copy = malloc(n ? n : 1);
                assert_non_null(copy);
                memcpy(copy, buf, n);
                ret = receipt_verify(copy, n, hub_key.pk, &v);
                if (ret != -EBADMSG && ret != -EKEYREJECTED)
                        fail_msg("cut to %zu bytes: %d", n, ret);
                free(copy);
        }
        /* Oversized: the receipt followed by an unknown field past RECEIPT_MAX. */
        big = calloc(1, RECEIPT_MAX + 8);
        assert_non_null(big);
        memcpy(big, buf, len);
        {
                size_t body = RECEIPT_MAX - len - 3;

                big[len] = 0x7a; /* field 15, length-delimited */
                big[len + 1] = (uint8_t)(0x80 | (body & 0x7f));
                big[len + 2] = (uint8_t)(body >> 7);
                assert_int_equal(receipt_verify(big, RECEIPT_MAX, hub_key.pk, &v), 0);
                body++;
                big[len + 1] = (uint8_t)(0x80 | (body & 0x7f));
                big[len + 2] = (uint8_t)(body >> 7);
                assert_int_equal(receipt_verify(big, RECEIPT_MAX + 1, hub_key.pk, &v), -EBADMSG);
        }
        free(big);
        /* Garbage and empty. */
        for (size_t i = 0; i < NMO_ARRAY_SIZE(garbage); i++)
                assert_int_equal(receipt_verify(garbage[i], sizeof(garbage[i]), hub_key.pk, &v),
                                 -EBADMSG);
        assert_int_equal(receipt_verify((const uint8_t *)"", 0, hub_key.pk, &v), -EBADMSG);
        /* A signature of the wrong length, or none. */
        {
                Nmo__SignedReceipt *sr = nmo__signed_receipt__unpack(NULL, len, buf);
                size_t n;

                assert_non_null(sr);
                sr->signature.len = crypto_sign_BYTES - 1;
                n = nmo__signed_receipt__get_packed_size(sr);
                copy = malloc(n);
                nmo__signed_receipt__pack(sr, copy);
                assert_int_equal(receipt_verify(copy, n, hub_key.pk, &v), -EBADMSG);
                free(copy);
                sr->signature.len = crypto_sign_BYTES;
                sr->has_signature = 0;
                n = nmo__signed_receipt__get_packed_size(sr);
                copy = malloc(n);
                nmo__signed_receipt__pack(sr, copy);
                assert_int_equal(receipt_verify(copy, n, hub_key.pk, &v), -EBADMSG);
                free(copy);
                nmo__signed_receipt__free_unpacked(sr, NULL);
        }
        free(buf);
}

/* Correctly signed bodies that are not valid receipts. */
static void test_bad_body(void **state)
{
        static const uint8_t garbage[] = { 0xff, 0xff, 0xff };
        uint8_t id[SIGNAL_ID_BYTES + 1] = { 0 }, hash[ENVELOPE_HASH_BYTES + 1] = { 0 };
        uint8_t key[KEYS_KEY_BYTES + 1] = { 0 };
        char detail[RECEIPT_DETAIL_MAX + 2];
        struct receipt v;
        uint8_t *body, *buf;
        size_t blen, len;

        (void)state;
        memset(detail, 'x', sizeof(detail) - 1);
        detail[sizeof(detail) - 1] = '\0';
        for (int c = 0; c <= 12; c++) {
                Nmo__ReceiptBody b = NMO__RECEIPT_BODY__INIT;

                b.has_version = 1;
                b.version = 1;
                b.has_signal_id = 1;
                b.signal_id.data = id;
                b.signal_id.len = SIGNAL_ID_BYTES;
                b.has_status = 1;
                b.status = NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED;
                b.has_envelope_hash = 1;
                b.envelope_hash.data = hash;
                b.envelope_hash.len = ENVELOPE_HASH_BYTES;
                b.has_member_key = 1;
                b.member_key.data = key;
                b.member_key.len = KEYS_KEY_BYTES;
                switch (c) {
                case 0: break; /* valid: the control case */
                case 1: b.version = 2; break;
                case 2: b.has_version = 0; break;
                case 3: b.has_status = 0; break;
                case 4: b.status = NMO__RECEIPT_STATUS__RECEIPT_STATUS_UNSPECIFIED; break;
                case 5: b.status = (Nmo__ReceiptStatus)3; break;
                case 6: b.signal_id.len = SIGNAL_ID_BYTES + 1; break;
                case 7: b.has_envelope_hash = 0; break;
                case 8: b.envelope_hash.len = ENVELOPE_HASH_BYTES - 1; break;
                case 9: b.has_member_key = 0; break;
                case 10: b.member_key.len = KEYS_KEY_BYTES + 1; break;
                case 11: b.detail = detail; break;
                case 12: b.signal_id.len = 0; break;
                }
                blen = nmo__receipt_body__get_packed_size(&b);
                body = malloc(blen ? blen : 1);
                assert_non_null(body);
                nmo__receipt_body__pack(&b, body);
                buf = sign_body(body, blen, hub_key.sk, &len);
                if (receipt_verify(buf, len, hub_key.pk, &v) != (c == 0 ? 0 : -EBADMSG))
                        fail_msg("body case %d", c);
                free(buf);
                free(body);
        }
        /* A signed body that is not a ReceiptBody at all. */
        buf = sign_body(garbage, sizeof(garbage), hub_key.sk, &len);
        assert_int_equal(receipt_verify(buf, len, hub_key.pk, &v), -EBADMSG);
        free(buf);
}

static void test_reply(void **state)
{
        struct receipt r, v;
        uint8_t *buf = NULL, *frame = NULL, *back = NULL;
        size_t len = 0, flen = 0, blen = 0;
        bool dup;

        (void)state;
        sample_receipt(&r, true);
        assert_int_equal(receipt_sign(&r, hub_key.sk, &buf, &len), 0);
        for (int d = 0; d < 2; d++) {
                assert_int_equal(reply_pack(d, buf, len, &frame, &flen), 0);
                assert_true(flen <= RECEIPT_MAX);
                dup = !d;
                assert_int_equal(reply_unpack(frame, flen, &dup, &back, &blen), 0);
                assert_int_equal(dup, d);
                /* The receipt comes back byte for byte and still verifies. */
                assert_int_equal(blen, len);
                assert_memory_equal(back, buf, len);
                assert_int_equal(receipt_verify(back, blen, hub_key.pk, &v), 0);
                assert_memory_equal(&v, &r, sizeof(r));
                free(frame);
                free(back);
                frame = back = NULL;
        }
        /* A Reply by hand without the duplicate field: not a duplicate. */
        {
                Nmo__Reply rp = NMO__REPLY__INIT;
                Nmo__SignedReceipt *sr = nmo__signed_receipt__unpack(NULL, len, buf);

                assert_non_null(sr);
                rp.has_version = 1;
                rp.version = 1;
                rp.receipt = sr;
                flen = nmo__reply__get_packed_size(&rp);
                frame = malloc(flen);
                nmo__reply__pack(&rp, frame);
                dup = true;
                assert_int_equal(reply_unpack(frame, flen, &dup, &back, &blen), 0);
                assert_false(dup);
                free(back);
                back = NULL;
                free(frame);
                /* Version 2, no version, no receipt. */
                rp.version = 2;
                flen = nmo__reply__get_packed_size(&rp);
                frame = malloc(flen);
                nmo__reply__pack(&rp, frame);
                assert_int_equal(reply_unpack(frame, flen, &dup, &back, &blen), -EBADMSG);
                free(frame);
                rp.has_version = 0;
                flen = nmo__reply__get_packed_size(&rp);
                frame = malloc(flen);
                nmo__reply__pack(&rp, frame);
                assert_int_equal(reply_unpack(frame, flen, &dup, &back, &blen), -EBADMSG);
                free(frame);
                rp.has_version = 1;
                rp.version = 1;
                rp.receipt = NULL;
                flen = nmo__reply__get_packed_size(&rp);
                frame = malloc(flen);
                nmo__reply__pack(&rp, frame);
                assert_int_equal(reply_unpack(frame, flen, &dup, &back, &blen), -EBADMSG);
                free(frame);
                frame = NULL;
                nmo__signed_receipt__free_unpacked(sr, NULL);
        }
        /* Garbage, empty, oversized. */
        assert_int_equal(reply_unpack((const uint8_t *)"\xff\xff\xff", 3, &dup, &back, &blen),
                         -EBADMSG);
        assert_int_equal(reply_unpack((const uint8_t *)"", 0, &dup, &back, &blen), -EBADMSG);
        {
                uint8_t *big = calloc(1, RECEIPT_MAX + 1);

                assert_non_null(big);
                assert_int_equal(reply_unpack(big, RECEIPT_MAX + 1, &dup, &back, &blen),
                                 -EBADMSG);
                free(big);
        }
        /* reply_pack refuses what is not a SignedReceipt. */
        assert_int_equal(reply_pack(false, (const uint8_t *)"\xff\xff", 2, &frame, &flen),
                         -EBADMSG);
        free(buf);
}

static void test_reasons(void **state)
{
        const ProtobufCEnumDescriptor *d = &nmo__reason__descriptor;
        bool temporary[64] = { false };

        (void)state;
        temporary[NMO__REASON__REASON_MEMBER_SUSPENDED] = true;
        temporary[NMO__REASON__REASON_CLOCK_SKEW] = true;
        temporary[NMO__REASON__REASON_RATE_LIMITED] = true;
        temporary[NMO__REASON__REASON_STORE_UNAVAILABLE] = true;
        temporary[NMO__REASON__REASON_MEMBER_EXPIRED] = true;
        assert_int_equal(d->n_values, 15);
        for (unsigned int i = 0; i < d->n_values; i++) {
                Nmo__Reason v = (Nmo__Reason)d->values[i].value;
                const char *name = reason_name(v);

                assert_true(v >= 0 && v < 64);
                if (strcmp(name, "unknown") == 0 || !name[0])
                        fail_msg("reason %s has no name", d->values[i].name);
                /* Names are unique. */
                for (unsigned int k = 0; k < i; k++)
                        assert_string_not_equal(name,
                                                reason_name((Nmo__Reason)d->values[k].value));
                if (reason_is_temporary(v) != temporary[v])
                        fail_msg("reason %s: temporary is %d", name, reason_is_temporary(v));
        }
        assert_string_equal(reason_name(NMO__REASON__REASON_NONE), "none");
        assert_string_equal(reason_name(NMO__REASON__REASON_SENDER_MISMATCH), "sender-mismatch");
        assert_string_equal(reason_name(NMO__REASON__REASON_STORE_UNAVAILABLE),
                            "store-unavailable");
        assert_string_equal(reason_name(NMO__REASON__REASON_MEMBER_EXPIRED), "member-expired");
        assert_string_equal(reason_name((Nmo__Reason)15), "unknown");
        assert_string_equal(reason_name((Nmo__Reason)-1), "unknown");
        assert_false(reason_is_temporary((Nmo__Reason)15));
}

/* ---- batch form ---- */

static void tree_hash(const uint8_t *in, size_t len, uint8_t out[32])
{
        crypto_generichash(out, 32, in, len, NULL, 0);
}

/* RFC 9162 2.1.1, recursively, as the definition reads (the code under test
 * builds the tree level by level). */
static void mth(uint8_t (*leaves)[32], size_t n, uint8_t out[32])
{
        uint8_t in[65], l[32], r[32];
        size_t k = 1;

        if (n == 1) {
                memcpy(out, leaves[0], 32);
                return;
        }
        while (k * 2 < n)
                k *= 2;
        mth(leaves, k, l);
        mth(leaves + k, n - k, r);
        in[0] = 0x01;
        memcpy(in + 1, l, 32);
        memcpy(in + 33, r, 32);
        tree_hash(in, sizeof(in), out);
}

static bool batch_signature_ok(const uint8_t *sig, uint32_t n, const uint8_t root[32],
                               const uint8_t *pk)
{
        static const char ctx[] = "nmo-signal receipt batch v1";
        uint8_t msg[sizeof(ctx) + 4 + 32];

        memcpy(msg, ctx, sizeof(ctx));
        msg[sizeof(ctx)] = (uint8_t)(n >> 24);
        msg[sizeof(ctx) + 1] = (uint8_t)(n >> 16);
        msg[sizeof(ctx) + 2] = (uint8_t)(n >> 8);
        msg[sizeof(ctx) + 3] = (uint8_t)n;
        memcpy(msg + sizeof(ctx) + 4, root, 32);
        return crypto_sign_verify_detached(sig, msg, sizeof(msg), pk) == 0;
}

/* n receipts (sequence i + 1) signed as one batch under sk, unpadded and in
 * order (receipt_sign_batch_layout(): the RFC 9162 tree of any size, which
 * the verifier takes; the hub's padded trees are the simple case of it,
 * test-receipt-privacy.c). */
struct batch {
        size_t n;
        uint8_t **bodies, **frames;
        size_t *lens, *flens;
        bool *dup;
};

static void batch_make(struct batch *b, size_t n, const uint8_t *sk)
{
        b->n = n;
        b->bodies = calloc(n, sizeof(*b->bodies));
        b->frames = calloc(n, sizeof(*b->frames));
        b->lens = calloc(n, sizeof(*b->lens));
        b->flens = calloc(n, sizeof(*b->flens));
        b->dup = calloc(n, sizeof(*b->dup));
        assert_true(b->bodies && b->frames && b->lens && b->flens && b->dup);
        for (size_t i = 0; i < n; i++) {
                struct receipt r;

                sample_receipt(&r, i % 3 != 2);
                r.sequence = r.status == NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED ? i + 1 : 0;
                assert_int_equal(receipt_body_pack(&r, &b->bodies[i], &b->lens[i]), 0);
                b->dup[i] = i % 4 == 1;
        }
        {
                uint32_t *pos = calloc(n, sizeof(*pos));

                assert_non_null(pos);
                for (size_t i = 0; i < n; i++)
                        pos[i] = (uint32_t)i;
                assert_int_equal(receipt_sign_batch_layout(b->bodies, b->lens, b->dup, n, n, pos,
                                                           NULL, sk, NULL, NULL, 0, b->frames,
                                                           b->flens), 0);
                free(pos);
        }
}

static void batch_free(struct batch *b)
{
        for (size_t i = 0; i < b->n; i++) {
                free(b->bodies[i]);
                free(b->frames[i]);
        }
        free(b->bodies);
        free(b->frames);
        free(b->lens);
        free(b->flens);
        free(b->dup);
}

/* The SignedReceipt inside reply frame i, unpacked (free_unpacked). */
static Nmo__SignedReceipt *batch_receipt(const struct batch *b, size_t i)
{
        Nmo__Reply *rp = nmo__reply__unpack(NULL, b->flens[i], b->frames[i]);
        Nmo__SignedReceipt *sr;
        uint8_t *buf;
        size_t len;

        assert_non_null(rp);
        assert_non_null(rp->receipt);
        len = nmo__signed_receipt__get_packed_size(rp->receipt);
        buf = malloc(len);
        assert_non_null(buf);
        nmo__signed_receipt__pack(rp->receipt, buf);
        nmo__reply__free_unpacked(rp, NULL);
        sr = nmo__signed_receipt__unpack(NULL, len, buf);
        free(buf);
        assert_non_null(sr);
        return sr;
}

/* Packs sr (after a test changed it) and verifies it under pk. */
static int verify_packed(const Nmo__SignedReceipt *sr, const uint8_t *pk,
                         struct receipt_cache *cache)
{
        size_t len = nmo__signed_receipt__get_packed_size(sr);
        uint8_t *buf = malloc(len);
        struct receipt v;
        int r;

        assert_non_null(buf);
        nmo__signed_receipt__pack(sr, buf);
        r = receipt_verify_cached(buf, len, pk, cache, &v);
        free(buf);
        return r;
}

static void test_batch_known_answer(void **state)
{
        uint8_t seed[32], pk[32], sk[64], body[3][101], root[32], leaves[3][32];
        uint8_t *bodies[3], *frames[3] = { NULL, NULL, NULL }, *sr = NULL;
        size_t lens[3], flens[3], srlen = 0;
        bool dup[3] = { false, false, false }, d = true;
        struct receipt v;

        (void)state;
        memset(seed, 0x05, sizeof(seed));
        crypto_sign_seed_keypair(pk, sk, seed);
        for (int i = 0; i < 3; i++) {
                uint8_t in[102];

                unhex(kat_body, body[i], sizeof(body[i]));
                body[i][100] = (uint8_t)(i + 1); /* sequence i + 1 */
                bodies[i] = body[i];
                lens[i] = sizeof(body[i]);
                in[0] = 0x00;
                memcpy(in + 1, body[i], sizeof(body[i]));
                tree_hash(in, sizeof(in), leaves[i]);
        }
        mth(leaves, 3, root);
        hex_equal(root, sizeof(root), kat_batch_root);
        {
                /* The vector's layout: three leaves, in order, no padding. */
                static const uint32_t pos[3] = { 0, 1, 2 };

                assert_int_equal(receipt_sign_batch_layout(bodies, lens, dup, 3, 3, pos, NULL,
                                                           sk, NULL, NULL, 0, frames, flens), 0);
        }
        hex_equal(frames[2], flens[2], kat_batch_reply);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(reply_unpack(frames[i], flens[i], &d, &sr, &srlen), 0);
                assert_false(d);
                assert_int_equal(receipt_verify(sr, srlen, pk, &v), 0);
                assert_int_equal(v.sequence, (uint64_t)(i + 1));
                assert_int_equal(v.hub_time_ms, 1735689601234ULL);
                /* Under any other key: refused. */
                assert_int_equal(receipt_verify(sr, srlen, other_key.pk, &v), -EKEYREJECTED);
                free(sr);
                sr = NULL;
                free(frames[i]);
        }
        sodium_memzero(sk, sizeof(sk));
}

/* Every size from 1 to 70 and a few large ones: every receipt verifies, says
 * what was signed, and the signature covers RFC 9162's root. */
static void test_batch_sizes(void **state)
{
        static const size_t big[] = { 127, 128, 129, 512, 1000 };

        (void)state;
        for (size_t t = 0; t < 70 + NMO_ARRAY_SIZE(big); t++) {
                size_t n = t < 70 ? t + 1 : big[t - 70];
                uint8_t (*leaves)[32] = calloc(n, sizeof(*leaves)), root[32];
                struct batch b;

                assert_non_null(leaves);
                batch_make(&b, n, hub_key.sk);
                for (size_t i = 0; i < n; i++) {
                        uint8_t *in = malloc(1 + b.lens[i]);

                        assert_non_null(in);
                        in[0] = 0x00;
                        memcpy(in + 1, b.bodies[i], b.lens[i]);
                        tree_hash(in, 1 + b.lens[i], leaves[i]);
                        free(in);
                }
                mth(leaves, n, root);
                for (size_t i = 0; i < n; i++) {
                        uint8_t *sr = NULL;
                        size_t srlen = 0;
                        bool d = !b.dup[i];
                        struct receipt v;
                        Nmo__SignedReceipt *u;

                        assert_true(b.flens[i] <= RECEIPT_MAX);
                        assert_int_equal(reply_unpack(b.frames[i], b.flens[i], &d, &sr, &srlen),
                                         0);
                        assert_int_equal(d, b.dup[i]);
                        if (receipt_verify(sr, srlen, hub_key.pk, &v) != 0)
                                fail_msg("batch of %zu: leaf %zu does not verify", n, i);
                        if (v.status == NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED)
                                assert_int_equal(v.sequence, i + 1);
                        u = nmo__signed_receipt__unpack(NULL, srlen, sr);
                        assert_non_null(u);
                        assert_true(u->has_tree_size && u->tree_size == n);
                        assert_true(u->has_leaf_index && u->leaf_index == i);
                        assert_memory_equal(u->body.data, b.bodies[i], b.lens[i]);
                        assert_true(batch_signature_ok(u->signature.data, (uint32_t)n, root,
                                                       hub_key.pk));
                        nmo__signed_receipt__free_unpacked(u, NULL);
                        free(sr);
                }
                batch_free(&b);
                free(leaves);
        }
}

/* A receipt of a batch changed in any way no longer verifies. */
static void test_batch_forged(void **state)
{
        struct batch b, o;
        Nmo__SignedReceipt *sr, *other;
        uint8_t saved[32 * 16];
        size_t plen;

        (void)state;
        batch_make(&b, 5, hub_key.sk);
        batch_make(&o, 5, hub_key.sk);
        sr = batch_receipt(&b, 3);
        other = batch_receipt(&o, 2);
        assert_int_equal(verify_packed(sr, hub_key.pk, NULL), 0);
        plen = sr->path.len;
        assert_true(plen > 0 && plen <= sizeof(saved));
        memcpy(saved, sr->path.data, plen);

        /* Every flipped bit of the path. */
        for (size_t i = 0; i < plen; i++)
                for (int bit = 0; bit < 8; bit++) {
                        sr->path.data[i] ^= (uint8_t)(1u << bit);
                        assert_int_equal(verify_packed(sr, hub_key.pk, NULL), -EKEYREJECTED);
                        sr->path.data[i] ^= (uint8_t)(1u << bit);
                }
        /* Another leaf index, another tree size. */
        for (uint32_t i = 0; i < 5; i++) {
                if (i == 3)
                        continue;
                sr->leaf_index = i;
                assert_int_not_equal(verify_packed(sr, hub_key.pk, NULL), 0);
        }
        sr->leaf_index = 3;
        for (uint32_t n = 4; n <= 9; n++) {
                if (n == 5)
                        continue;
                sr->tree_size = n;
                assert_int_not_equal(verify_packed(sr, hub_key.pk, NULL), 0);
        }
        sr->tree_size = 0;
        assert_int_equal(verify_packed(sr, hub_key.pk, NULL), -EBADMSG);
        sr->tree_size = RECEIPT_BATCH_MAX + 1;
        assert_int_equal(verify_packed(sr, hub_key.pk, NULL), -EBADMSG);
        sr->tree_size = 5;
        sr->leaf_index = 5;
        assert_int_equal(verify_packed(sr, hub_key.pk, NULL), -EBADMSG);
        sr->leaf_index = 3;
        /* A path one hash short, one hash long, not whole hashes. */
        sr->path.len = plen - 32;
        assert_int_not_equal(verify_packed(sr, hub_key.pk, NULL), 0);
        {
                uint8_t longer[32 * 17], *orig = sr->path.data;

                memcpy(longer, saved, plen);
                memcpy(longer + plen, saved, 32);
                sr->path.data = longer;
                sr->path.len = plen + 32;
                assert_int_not_equal(verify_packed(sr, hub_key.pk, NULL), 0);
                sr->path.len = plen - 1;
                assert_int_equal(verify_packed(sr, hub_key.pk, NULL), -EBADMSG);
                sr->path.data = orig;
                sr->path.len = plen;
        }
        assert_int_equal(verify_packed(sr, hub_key.pk, NULL), 0);
        /* The body of another receipt (of this batch, of another batch). */
        {
                ProtobufCBinaryData body = sr->body;
                Nmo__SignedReceipt *sib = batch_receipt(&b, 2);

                sr->body = sib->body;
                assert_int_equal(verify_packed(sr, hub_key.pk, NULL), -EKEYREJECTED);
                sr->body = other->body;
                assert_int_equal(verify_packed(sr, hub_key.pk, NULL), -EKEYREJECTED);
                sr->body = body;
                nmo__signed_receipt__free_unpacked(sib, NULL);
        }
        /* Another batch's signature; the batch fields without the tree size. */
        {
                ProtobufCBinaryData sig = sr->signature;

                sr->signature = other->signature;
                assert_int_equal(verify_packed(sr, hub_key.pk, NULL), -EKEYREJECTED);
                sr->signature = sig;
        }
        sr->has_tree_size = 0;
        assert_int_equal(verify_packed(sr, hub_key.pk, NULL), -EBADMSG);
        sr->has_tree_size = 1;
        /* Under another key. */
        assert_int_equal(verify_packed(sr, other_key.pk, NULL), -EKEYREJECTED);
        assert_int_equal(verify_packed(sr, hub_key.pk, NULL), 0);
        nmo__signed_receipt__free_unpacked(sr, NULL);
        nmo__signed_receipt__free_unpacked(other, NULL);
        batch_free(&b);
        batch_free(&o);
}

/* The cache of verified roots saves work, never trust: a changed body, or
 * another key, still fails after its batch's root was cached. */
static void test_batch_cache(void **state)
{
        struct receipt_cache cache;
        struct batch b;
        Nmo__SignedReceipt *sr;

        (void)state;
        memset(&cache, 0, sizeof(cache));
        batch_make(&b, 8, hub_key.sk);
        for (size_t i = 0; i < 8; i++) {
                sr = batch_receipt(&b, i);
                assert_int_equal(verify_packed(sr, hub_key.pk, &cache), 0);
                nmo__signed_receipt__free_unpacked(sr, NULL);
        }
        /* One root was verified and kept. */
        assert_int_equal(cache.next, 1);
        sr = batch_receipt(&b, 5);
        sr->body.data[sr->body.len - 1] ^= 0x01;
        assert_int_equal(verify_packed(sr, hub_key.pk, &cache), -EKEYREJECTED);
        sr->body.data[sr->body.len - 1] ^= 0x01;
        assert_int_equal(verify_packed(sr, other_key.pk, &cache), -EKEYREJECTED);
        sr->path.data[0] ^= 0x80;
        assert_int_equal(verify_packed(sr, hub_key.pk, &cache), -EKEYREJECTED);
        nmo__signed_receipt__free_unpacked(sr, NULL);
        /* Batches signed by another key never match a cached root. */
        batch_free(&b);
        batch_make(&b, 8, other_key.sk);
        sr = batch_receipt(&b, 0);
        assert_int_equal(verify_packed(sr, hub_key.pk, &cache), -EKEYREJECTED);
        nmo__signed_receipt__free_unpacked(sr, NULL);
        batch_free(&b);
        /* Refused input. */
        {
                uint8_t *bodies[1] = { NULL }, *frames[1];
                size_t lens[1] = { 0 }, flens[1];

                assert_int_equal(receipt_sign_batch(bodies, lens, NULL, 0, hub_key.sk, frames,
                                                    flens), -EINVAL);
        }
}

/* A reply decoded once (reply_decode()) gives the SignedReceipt bytes, the
 * duplicate flag and the announcement, and its receipt verifies from the
 * decoded message as often as keys need trying: the wrong key is refused,
 * the right one then accepts, with the receipt receipt_verify() gives. A
 * reply whose announcement is empty or too long is refused whole. */
static void test_reply_decode_once(void **state)
{
        uint8_t pk[32], sk[64], other_pk[32], other_sk[64], *buf = NULL, *frame = NULL;
        uint8_t ann[HUBKEY_ANNOUNCEMENT_MAX + 1];
        size_t len = 0, flen = 0;
        struct receipt r, v, w;
        struct reply rp;

        (void)state;
        crypto_sign_keypair(pk, sk);
        crypto_sign_keypair(other_pk, other_sk);
        memset(&r, 0, sizeof(r));
        r.has_id = true;
        randombytes_buf(r.signal_id, sizeof(r.signal_id));
        r.status = NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED;
        randombytes_buf(r.envelope_hash, sizeof(r.envelope_hash));
        randombytes_buf(r.member_key, sizeof(r.member_key));
        assert_int_equal(receipt_sign(&r, sk, &buf, &len), 0);
        memset(ann, 0x5a, sizeof(ann));

        assert_int_equal(reply_pack_ann(true, buf, len, ann, 321, &frame, &flen), 0);
        assert_int_equal(reply_decode(frame, flen, &rp), 0);
        assert_true(rp.duplicate);
        assert_int_equal(rp.signed_len, len);
        assert_memory_equal(rp.signed_receipt, buf, len);
        assert_int_equal(rp.announcement_len, 321);
        assert_memory_equal(rp.announcement, ann, 321);
        assert_int_equal(reply_verify(&rp, other_pk, NULL, &v), -EKEYREJECTED);
        assert_int_equal(reply_verify(&rp, pk, NULL, &v), 0);
        assert_int_equal(receipt_verify(buf, len, pk, &w), 0);
        assert_memory_equal(&v, &w, sizeof(v));
        assert_memory_equal(&v, &r, sizeof(r));
        reply_free(&rp);
        reply_free(&rp); /* zeroed: harmless */
        free(frame);

        /* Without an announcement. */
        assert_int_equal(reply_pack(false, buf, len, &frame, &flen), 0);
        assert_int_equal(reply_decode(frame, flen, &rp), 0);
        assert_false(rp.duplicate);
        assert_null(rp.announcement);
        reply_free(&rp);
        free(frame);

        /* An announcement over the limit, or empty, spoils the reply. */
        assert_int_equal(reply_pack_ann(false, buf, len, ann, sizeof(ann), &frame, &flen), 0);
        assert_int_equal(reply_decode(frame, flen, &rp), -EBADMSG);
        reply_free(&rp);
        free(frame);
        assert_int_equal(reply_pack_ann(false, buf, len, ann, 0, &frame, &flen), 0);
        assert_int_equal(reply_decode(frame, flen, &rp), -EBADMSG);
        reply_free(&rp);
        free(frame);

        /* Not a reply at all. */
        assert_int_equal(reply_decode((const uint8_t *)"\xff\xff\xff", 3, &rp), -EBADMSG);
        reply_free(&rp);
        free(buf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_known_answer),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_wrong_key),
                cmocka_unit_test(test_flipped_bytes),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_bad_body),
                cmocka_unit_test(test_reply),
                cmocka_unit_test(test_reasons),
                cmocka_unit_test(test_batch_known_answer),
                cmocka_unit_test(test_batch_sizes),
                cmocka_unit_test(test_batch_forged),
                cmocka_unit_test(test_batch_cache),
                cmocka_unit_test(test_reply_decode_once),
        };
        int r;

        if (sodium_init() < 0)
                return 1;
        crypto_sign_keypair(hub_key.pk, hub_key.sk);
        crypto_sign_keypair(other_key.pk, other_key.sk);
        r = cmocka_run_group_tests(tests, NULL, NULL);
        sodium_memzero(&hub_key, sizeof(hub_key));
        sodium_memzero(&other_key, sizeof(other_key));
        return r;
}
