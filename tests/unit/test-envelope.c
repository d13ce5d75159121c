/* test-envelope.c: sealing a signal for the hub and opening it there
 * (proto/envelope.c).
 *
 * The known-answer vector pins the wire format byte for byte; its box is also
 * checked against PyNaCl's crypto_box output (tests/unit/kat-envelope.py made
 * the hex; no Python runs here). The must-fail cases check the exact reason
 * code the hub would put in its rejection receipt. */
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

#include "envelope.h"
#include "keys.h"
#include "signal.h"

/* ---- the known-answer vector (tests/unit/kat-envelope.py) ---- */

static const char kat_member_payload_pk[] =
        "60346e7c911a5f6ba154129174cafe75b294ac3bbd5549632f48cec6266f8410";
static const char kat_hub_payload_pk[] =
        "edd03cade80d29de6ea313a74ab369f4732ecb36649066b78b5b2dd664cb0417";
static const char kat_hub_key_id[] = "3dd48ace937879c2";
static const char kat_nonce[] = "202122232425262728292a2b2c2d2e2f3031323334353637";
static const char kat_plaintext[] =
        "08011210000102030405060708090a0b0c0d0e0f1880f8a5f9c132220767616c6c69756d2a10657870"
        "6f72742d6c6963656e73696e67300338034202434e4802520a323032342d31322d303158b401600368"
        "03700c78038001028a0140537570706c69657220616c6c6f63617465732036302025206f6620636f6e"
        "747261637420766f6c756d6520756e74696c2066757274686572206e6f746963652e900101";
/* nacl.public.Box(member_sk, hub_pk).encrypt(plaintext, nonce).ciphertext */
static const char kat_pynacl_box[] =
        "079b85c342711e883bd975d7a3c604a52920b99f4eebe50d90d39ac4576651a7790a91f613b6312677"
        "2c0a3d9bc976d18fd662b8936471648f333d6c62fa89969e3824393dfcad8008d2ccecd8f2c5d27770"
        "0a255652fdbf780d13b32fc24734ff9126a8adb8102552dee363d1666d8cca099fefbfca24ac520f75"
        "c9b96088a755888422eabef6e686381d00d1a3e9cee51b6ceca31c7129afc29a0abc979fe0593bb6c9"
        "9326307742b0eea2475dc6f1";
static const char kat_envelope[] =
        "08011210000102030405060708090a0b0c0d0e0f1a2060346e7c911a5f6ba154129174cafe75b294ac"
        "3bbd5549632f48cec6266f841022083dd48ace937879c22a18202122232425262728292a2b2c2d2e2f"
        "303132333435363732b001079b85c342711e883bd975d7a3c604a52920b99f4eebe50d90d39ac45766"
        "51a7790a91f613b63126772c0a3d9bc976d18fd662b8936471648f333d6c62fa89969e3824393dfcad"
        "8008d2ccecd8f2c5d277700a255652fdbf780d13b32fc24734ff9126a8adb8102552dee363d1666d8c"
        "ca099fefbfca24ac520f75c9b96088a755888422eabef6e686381d00d1a3e9cee51b6ceca31c7129af"
        "c29a0abc979fe0593bb6c99326307742b0eea2475dc6f1";
static const char kat_envelope_hash[] =
        "73469b7727356d70b36d713c5d1e6f727cf5791d67c0d8825e65452cb2ed6ca2";

static void hex_equal(const uint8_t *bin, size_t len, const char *want)
{
        char *hex = malloc(2 * len + 1);

        assert_non_null(hex);
        util_hex(bin, len, hex);
        assert_string_equal(hex, want);
        free(hex);
}

/* Fixed signal of the vector. */
static void kat_signal(struct signal *s)
{
        static const char *const fields[][2] = {
                { "material", "gallium" }, { "event", "export-licensing" },
                { "severity", "high" }, { "status", "in-effect" }, { "country", "CN" },
                { "stage", "processing" }, { "start-date", "2024-12-01" },
                { "duration-days", "180" }, { "impact", "confirmed" }, { "share", "25-50" },
                { "volume", "12" }, { "confidence", "high" }, { "source", "supplier-notice" },
                { "note", "Supplier allocates 60 % of contract volume until further notice." },
                { "note-consent", "note-may-be-shared" },
        };
        char err[200];

        memset(s, 0, sizeof(*s));
        for (int i = 0; i < SIGNAL_ID_BYTES; i++)
                s->id[i] = (uint8_t)i;
        s->created_ms = 1735689600000ULL;
        for (size_t i = 0; i < NMO_ARRAY_SIZE(fields); i++)
                assert_int_equal(signal_set(s, fields[i][0], fields[i][1], err, sizeof(err)), 0);
}

/* ---- parties: a hub and members with an opener each ---- */

struct hub {
        uint8_t payload_pk[KEYS_KEY_BYTES];
        uint8_t payload_sk[KEYS_KEY_BYTES];
        uint8_t key_id[ENVELOPE_KEY_ID_BYTES];
};

struct member {
        struct keys_secret *sk;
        uint8_t shared[crypto_box_BEFORENMBYTES];
        struct envelope_opener op;
};

static void hub_make(struct hub *h, const uint8_t *seed)
{
        if (seed)
                crypto_box_seed_keypair(h->payload_pk, h->payload_sk, seed);
        else
                crypto_box_keypair(h->payload_pk, h->payload_sk);
        envelope_key_id(h->payload_pk, h->key_id);
}

/* The member as the hub sees it: the opener of its connection. */
static void member_make(struct member *m, const struct hub *h, const uint8_t *seed)
{
        if (seed) {
                m->sk = sodium_malloc(sizeof(*m->sk));
                assert_non_null(m->sk);
                sodium_memzero(m->sk, sizeof(*m->sk));
                m->sk->pub.role = KEYS_ROLE_MEMBER;
                crypto_box_seed_keypair(m->sk->pub.payload, m->sk->payload_sk, seed);
        } else {
                assert_int_equal(keys_generate(&m->sk, KEYS_ROLE_MEMBER, NULL), 0);
        }
        assert_int_equal(crypto_box_beforenm(m->shared, m->sk->pub.payload, h->payload_sk), 0);
        m->op.member_payload_pk = m->sk->pub.payload;
        m->op.shared_key = m->shared;
        m->op.hub_key_id = h->key_id;
}

static void member_free(struct member *m)
{
        keys_free(m->sk);
        sodium_memzero(m->shared, sizeof(m->shared));
}

static void valid_signal(struct signal *s)
{
        char err[200];

        signal_init(s);
        assert_int_equal(signal_set(s, "material", "germanium", err, sizeof(err)), 0);
        assert_int_equal(signal_set(s, "event", "export-ban", err, sizeof(err)), 0);
        assert_int_equal(signal_set(s, "severity", "critical", err, sizeof(err)), 0);
        assert_int_equal(signal_set(s, "country", "CN", err, sizeof(err)), 0);
        assert_int_equal(signal_set(s, "note", "seen at two suppliers", err, sizeof(err)), 0);
}

/* Opens frame and returns the reason; a refusal must carry a detail. */
static Nmo__Reason open_frame(const uint8_t *frame, size_t len, const struct envelope_opener *op,
                              struct signal *out, uint8_t id[SIGNAL_ID_BYTES], bool *has_id)
{
        struct signal s_local;
        uint8_t id_local[SIGNAL_ID_BYTES];
        bool has_local;
        char detail[200];
        Nmo__Reason r;

        memset(detail, 'x', sizeof(detail));
        r = envelope_open(frame, len, op, out ? out : &s_local, id ? id : id_local,
                          has_id ? has_id : &has_local, detail, sizeof(detail));
        if (r != NMO__REASON__REASON_NONE && !detail[0])
                fail_msg("reason %d without a detail", r);
        if (r == NMO__REASON__REASON_NONE && detail[0])
                fail_msg("accepted with a detail: %s", detail);
        return r;
}

static void expect_reason(const uint8_t *frame, size_t len, const struct envelope_opener *op,
                          Nmo__Reason want, const char *what)
{
        Nmo__Reason got = open_frame(frame, len, op, NULL, NULL, NULL);

        if (got != want)
                fail_msg("%s: reason %d, expected %d", what, got, want);
}

/* An Envelope built by hand from its parts. NULL/0 leaves a field out. */
struct parts {
        bool has_version;
        uint32_t version;
        const uint8_t *signal_id;
        size_t signal_id_len;
        const uint8_t *sender;
        size_t sender_len;
        const uint8_t *key_id;
        size_t key_id_len;
        const uint8_t *nonce;
        size_t nonce_len;
        const uint8_t *box;
        size_t box_len;
};

static uint8_t *pack_parts(const struct parts *p, size_t *len)
{
        Nmo__Envelope e = NMO__ENVELOPE__INIT;
        uint8_t *buf;

        e.has_version = p->has_version;
        e.version = p->version;
#define PART(f, src, n)                                  \
        do {                                             \
                if (p->src) {                            \
                        e.has_##f = 1;                   \
                        e.f.data = (uint8_t *)p->src;    \
                        e.f.len = p->n;                  \
                }                                        \
        } while (0)
        PART(signal_id, signal_id, signal_id_len);
        PART(sender, sender, sender_len);
        PART(hub_key_id, key_id, key_id_len);
        PART(nonce, nonce, nonce_len);
        PART(box, box, box_len);
#undef PART
        *len = nmo__envelope__get_packed_size(&e);
        buf = malloc(*len ? *len : 1);
        assert_non_null(buf);
        assert_int_equal(nmo__envelope__pack(&e, buf), *len);
        return buf;
}

/* Seals plaintext as crypto_box_easy does; the box is fresh (free()). */
static uint8_t *box_of(const uint8_t *plain, size_t len, const uint8_t *nonce,
                       const uint8_t *hub_pk, const uint8_t *member_sk)
{
        uint8_t *box = malloc(len + crypto_box_MACBYTES);

        assert_non_null(box);
        assert_int_equal(crypto_box_easy(box, plain, len, nonce, hub_pk, member_sk), 0);
        return box;
}

/* Parts of a valid envelope for signal s from member m to hub h; free with parts_free. */
static void parts_for(struct parts *p, const struct signal *s, const struct member *m,
                      const struct hub *h, uint8_t nonce[ENVELOPE_NONCE_BYTES])
{
        uint8_t *plain = NULL;
        size_t plain_len = 0;

        memset(p, 0, sizeof(*p));
        randombytes_buf(nonce, ENVELOPE_NONCE_BYTES);
        assert_int_equal(signal_pack(s, &plain, &plain_len), 0);
        p->has_version = true;
        p->version = 1;
        p->signal_id = s->id;
        p->signal_id_len = SIGNAL_ID_BYTES;
        p->sender = m->sk->pub.payload;
        p->sender_len = KEYS_KEY_BYTES;
        p->key_id = h->key_id;
        p->key_id_len = ENVELOPE_KEY_ID_BYTES;
        p->nonce = nonce;
        p->nonce_len = ENVELOPE_NONCE_BYTES;
        p->box = box_of(plain, plain_len, nonce, h->payload_pk, m->sk->payload_sk);
        p->box_len = plain_len + crypto_box_MACBYTES;
        free(plain);
}

static void parts_free(struct parts *p)
{
        free((void *)p->box);
}

/* ---- tests ---- */

static void test_known_answer(void **state)
{
        uint8_t seed[32], nonce[ENVELOPE_NONCE_BYTES], id[SIGNAL_ID_BYTES], key_id[8];
        uint8_t hash[ENVELOPE_HASH_BYTES];
        uint8_t *plain = NULL, *frame = NULL, *box;
        size_t plain_len = 0, len = 0;
        struct signal s, opened;
        struct member m;
        struct hub h;
        Nmo__Envelope *e;
        bool has_id = false;

        (void)state;
        memset(seed, 0x04, sizeof(seed));
        hub_make(&h, seed);
        memset(seed, 0x02, sizeof(seed));
        member_make(&m, &h, seed);
        assert_int_equal(util_unhex(kat_nonce, nonce, sizeof(nonce)), 0);
        hex_equal(m.sk->pub.payload, KEYS_KEY_BYTES, kat_member_payload_pk);
        hex_equal(h.payload_pk, KEYS_KEY_BYTES, kat_hub_payload_pk);
        envelope_key_id(h.payload_pk, key_id);
        hex_equal(key_id, sizeof(key_id), kat_hub_key_id);

        /* The plaintext: the serialised Signal. */
        kat_signal(&s);
        assert_int_equal(signal_pack(&s, &plain, &plain_len), 0);
        hex_equal(plain, plain_len, kat_plaintext);

        /* The envelope, byte for byte. */
        assert_int_equal(envelope_seal(&s, m.sk, h.payload_pk, nonce, &frame, &len), 0);
        hex_equal(frame, len, kat_envelope);
        envelope_hash(frame, len, hash);
        hex_equal(hash, sizeof(hash), kat_envelope_hash);

        /* Independently: the box inside it is what PyNaCl's Box.encrypt made, and
         * what crypto_box_easy makes from the plaintext. */
        e = nmo__envelope__unpack(NULL, len, frame);
        assert_non_null(e);
        assert_true(e->has_box);
        hex_equal(e->box.data, e->box.len, kat_pynacl_box);
        box = box_of(plain, plain_len, nonce, h.payload_pk, m.sk->payload_sk);
        assert_memory_equal(box, e->box.data, e->box.len);
        free(box);
        nmo__envelope__free_unpacked(e, NULL);

        /* The hub opens it. */
        assert_int_equal(open_frame(frame, len, &m.op, &opened, id, &has_id),
                         NMO__REASON__REASON_NONE);
        assert_true(has_id);
        assert_memory_equal(id, s.id, SIGNAL_ID_BYTES);
        assert_memory_equal(&opened, &s, sizeof(s));

        free(frame);
        free(plain);
        member_free(&m);
}

static void test_round_trip(void **state)
{
        uint8_t *f1 = NULL, *f2 = NULL, id[SIGNAL_ID_BYTES];
        size_t l1 = 0, l2 = 0;
        struct signal s, opened;
        struct member m;
        struct hub h;
        bool has_id = false;

        (void)state;
        hub_make(&h, NULL);
        member_make(&m, &h, NULL);
        valid_signal(&s);
        assert_int_equal(envelope_seal(&s, m.sk, h.payload_pk, NULL, &f1, &l1), 0);
        assert_int_equal(envelope_seal(&s, m.sk, h.payload_pk, NULL, &f2, &l2), 0);
        /* Fresh random nonces: the same signal never seals to the same bytes. */
        assert_int_equal(l1, l2);
        assert_memory_not_equal(f1, f2, l1);
        assert_true(l1 <= ENVELOPE_MAX);
        memset(&opened, 0xaa, sizeof(opened));
        assert_int_equal(open_frame(f1, l1, &m.op, &opened, id, &has_id),
                         NMO__REASON__REASON_NONE);
        assert_memory_equal(&opened, &s, sizeof(s));
        assert_memory_equal(id, s.id, SIGNAL_ID_BYTES);
        assert_int_equal(open_frame(f2, l2, &m.op, &opened, NULL, NULL),
                         NMO__REASON__REASON_NONE);
        assert_memory_equal(&opened, &s, sizeof(s));
        free(f1);
        free(f2);
        member_free(&m);
}

static void test_wrong_hub_key(void **state)
{
        uint8_t *frame = NULL, id[SIGNAL_ID_BYTES];
        size_t len = 0;
        struct signal s;
        struct member m;
        struct hub h, other;
        bool has_id = false;

        (void)state;
        hub_make(&h, NULL);
        hub_make(&other, NULL);
        member_make(&m, &h, NULL);
        valid_signal(&s);
        /* Sealed to another hub key (an old one after a rotation, say). */
        assert_int_equal(envelope_seal(&s, m.sk, other.payload_pk, NULL, &frame, &len), 0);
        assert_int_equal(open_frame(frame, len, &m.op, NULL, id, &has_id),
                         NMO__REASON__REASON_UNKNOWN_HUB_KEY);
        /* The refusal still names the signal. */
        assert_true(has_id);
        assert_memory_equal(id, s.id, SIGNAL_ID_BYTES);
        free(frame);
        member_free(&m);
}

static void test_sender_mismatch(void **state)
{
        uint8_t *frame = NULL, *forged, nonce[ENVELOPE_NONCE_BYTES];
        size_t len = 0, forged_len = 0;
        struct member a, b;
        struct signal s;
        struct parts p;
        struct hub h;

        (void)state;
        hub_make(&h, NULL);
        member_make(&a, &h, NULL);
        member_make(&b, &h, NULL);
        valid_signal(&s);
        /* A's envelope replayed over B's connection. */
        assert_int_equal(envelope_seal(&s, a.sk, h.payload_pk, NULL, &frame, &len), 0);
        expect_reason(frame, len, &a.op, NMO__REASON__REASON_NONE, "own connection");
        expect_reason(frame, len, &b.op, NMO__REASON__REASON_SENDER_MISMATCH, "replay over B");
        free(frame);
        /* The sender field rewritten to B's key: the box, made by A, fails under B's key. */
        parts_for(&p, &s, &a, &h, nonce);
        p.sender = b.sk->pub.payload;
        forged = pack_parts(&p, &forged_len);
        expect_reason(forged, forged_len, &b.op, NMO__REASON__REASON_DECRYPT_FAILED,
                      "rewritten sender");
        expect_reason(forged, forged_len, &a.op, NMO__REASON__REASON_SENDER_MISMATCH,
                      "rewritten sender over A");
        free(forged);
        parts_free(&p);
        member_free(&a);
        member_free(&b);
}

static void test_flipped_bytes(void **state)
{
        uint8_t *frame = NULL, *copy;
        size_t len = 0, box_off, box_len;
        struct signal s;
        struct member m;
        struct hub h;
        Nmo__Envelope *e;

        (void)state;
        hub_make(&h, NULL);
        member_make(&m, &h, NULL);
        valid_signal(&s);
        assert_int_equal(envelope_seal(&s, m.sk, h.payload_pk, NULL, &frame, &len), 0);
        e = nmo__envelope__unpack(NULL, len, frame);
        assert_non_null(e);
        box_len = e->box.len;
        nmo__envelope__free_unpacked(e, NULL);
        /* The box is the last field: its bytes end the frame. */
        box_off = len - box_len;
        copy = malloc(len);
        assert_non_null(copy);
        for (size_t i = box_off; i < len; i++) {
                static const uint8_t masks[] = { 0x01, 0x80, 0xff };

                for (size_t k = 0; k < NMO_ARRAY_SIZE(masks); k++) {
                        memcpy(copy, frame, len);
                        copy[i] ^= masks[k];
                        if (open_frame(copy, len, &m.op, NULL, NULL, NULL) !=
                            NMO__REASON__REASON_DECRYPT_FAILED)
                                fail_msg("box byte %zu ^ %02x not refused as decrypt-failed",
                                         i - box_off, masks[k]);
                }
        }
        /* Any byte of the whole frame: never accepted. */
        for (size_t i = 0; i < len; i++) {
                memcpy(copy, frame, len);
                copy[i] ^= 0x01;
                if (open_frame(copy, len, &m.op, NULL, NULL, NULL) == NMO__REASON__REASON_NONE)
                        fail_msg("frame byte %zu flipped and still accepted", i);
        }
        free(copy);
        free(frame);
        member_free(&m);
}

static void test_truncated(void **state)
{
        uint8_t *frame = NULL, *copy, nonce[ENVELOPE_NONCE_BYTES];
        size_t len = 0;
        struct signal s;
        struct member m;
        struct parts p;
        struct hub h;

        (void)state;
        hub_make(&h, NULL);
        member_make(&m, &h, NULL);
        valid_signal(&s);
        assert_int_equal(envelope_seal(&s, m.sk, h.payload_pk, NULL, &frame, &len), 0);
        /* The frame cut at every length (a fresh buffer each time, so a read past
         * the end would show under a memory checker). */
        for (size_t n = 0; n < len; n++) {
                Nmo__Reason r;

                copy = malloc(n ? n : 1);
                assert_non_null(copy);
                memcpy(copy, frame, n);
                r = open_frame(copy, n, &m.op, NULL, NULL, NULL);
                if (r != NMO__REASON__REASON_MALFORMED && r != NMO__REASON__REASON_DECRYPT_FAILED)
                        fail_msg("frame cut to %zu of %zu bytes: reason %d", n, len, r);
                free(copy);
        }
        /* A well-formed envelope whose box was cut: too short for a tag is
         * malformed, otherwise it does not authenticate. */
        parts_for(&p, &s, &m, &h, nonce);
        for (size_t n = 0; n < p.box_len; n++) {
                struct parts q = p;
                size_t flen = 0;
                uint8_t *f;

                q.box_len = n;
                f = pack_parts(&q, &flen);
                expect_reason(f, flen, &m.op,
                              n < crypto_box_MACBYTES ? NMO__REASON__REASON_MALFORMED
                                                      : NMO__REASON__REASON_DECRYPT_FAILED,
                              "cut box");
                free(f);
        }
        parts_free(&p);
        free(frame);
        member_free(&m);
}

static void test_oversized(void **state)
{
        uint8_t *frame = NULL, *big;
        size_t len = 0;
        struct signal s;
        struct member m;
        struct hub h;

        (void)state;
        hub_make(&h, NULL);
        member_make(&m, &h, NULL);
        valid_signal(&s);
        assert_int_equal(envelope_seal(&s, m.sk, h.payload_pk, NULL, &frame, &len), 0);
        /* A valid envelope followed by an unknown field (number 15) that pads it
         * to exactly ENVELOPE_MAX: unknown fields are ignored, the size is fine.
         * One byte more is oversized, whatever the content. */
        big = calloc(1, ENVELOPE_MAX + 2);
        assert_non_null(big);
        memcpy(big, frame, len);
        {
                size_t body = ENVELOPE_MAX - len - 3;

                big[len] = 0x7a; /* field 15, length-delimited */
                big[len + 1] = (uint8_t)(0x80 | (body & 0x7f));
                big[len + 2] = (uint8_t)(body >> 7);
                expect_reason(big, ENVELOPE_MAX, &m.op, NMO__REASON__REASON_NONE,
                              "ENVELOPE_MAX bytes");
                body++;
                big[len + 1] = (uint8_t)(0x80 | (body & 0x7f));
                big[len + 2] = (uint8_t)(body >> 7);
                expect_reason(big, ENVELOPE_MAX + 1, &m.op, NMO__REASON__REASON_OVERSIZED,
                              "ENVELOPE_MAX + 1 bytes");
        }
        memset(big, 0xff, ENVELOPE_MAX + 2);
        expect_reason(big, ENVELOPE_MAX + 1, &m.op, NMO__REASON__REASON_OVERSIZED,
                      "oversized garbage");
        expect_reason(big, 65536, &m.op, NMO__REASON__REASON_OVERSIZED, "64 KiB claimed");
        free(big);
        free(frame);
        member_free(&m);
}

static void test_version(void **state)
{
        uint8_t nonce[ENVELOPE_NONCE_BYTES], *f;
        struct signal s;
        struct member m;
        struct parts p;
        struct hub h;
        size_t len;

        (void)state;
        hub_make(&h, NULL);
        member_make(&m, &h, NULL);
        valid_signal(&s);
        parts_for(&p, &s, &m, &h, nonce);
        f = pack_parts(&p, &len);
        expect_reason(f, len, &m.op, NMO__REASON__REASON_NONE, "version 1 by hand");
        free(f);
        p.version = 2;
        f = pack_parts(&p, &len);
        expect_reason(f, len, &m.op, NMO__REASON__REASON_UNSUPPORTED_VERSION, "version 2");
        free(f);
        p.version = 0;
        f = pack_parts(&p, &len);
        expect_reason(f, len, &m.op, NMO__REASON__REASON_UNSUPPORTED_VERSION, "version 0");
        free(f);
        /* A version 2 envelope need not look like version 1 at all. */
        {
                struct parts q = { .has_version = true, .version = 2 };

                f = pack_parts(&q, &len);
                expect_reason(f, len, &m.op, NMO__REASON__REASON_UNSUPPORTED_VERSION,
                              "bare version 2");
                free(f);
        }
        /* No version field at all is not an envelope. */
        p.has_version = false;
        f = pack_parts(&p, &len);
        expect_reason(f, len, &m.op, NMO__REASON__REASON_MALFORMED, "no version");
        free(f);
        parts_free(&p);
        member_free(&m);
}

static void test_id_mismatch(void **state)
{
        uint8_t nonce[ENVELOPE_NONCE_BYTES], other_id[SIGNAL_ID_BYTES], id[SIGNAL_ID_BYTES], *f;
        struct signal s;
        struct member m;
        struct parts p;
        struct hub h;
        bool has_id = false;
        size_t len;

        (void)state;
        hub_make(&h, NULL);
        member_make(&m, &h, NULL);
        valid_signal(&s);
        parts_for(&p, &s, &m, &h, nonce);
        memcpy(other_id, s.id, SIGNAL_ID_BYTES);
        other_id[SIGNAL_ID_BYTES - 1] ^= 0x01;
        p.signal_id = other_id;
        f = pack_parts(&p, &len);
        assert_int_equal(open_frame(f, len, &m.op, NULL, id, &has_id),
                         NMO__REASON__REASON_ID_MISMATCH);
        /* The id reported is the envelope's, the one the node tracks. */
        assert_true(has_id);
        assert_memory_equal(id, other_id, SIGNAL_ID_BYTES);
        free(f);
        parts_free(&p);
        member_free(&m);
}

static void test_invalid_signal(void **state)
{
        uint8_t nonce[ENVELOPE_NONCE_BYTES], *f, *plain = NULL;
        size_t len, plain_len = 0;
        struct signal s, bad;
        struct member m;
        struct parts p;
        struct hub h;

        (void)state;
        hub_make(&h, NULL);
        member_make(&m, &h, NULL);
        valid_signal(&s);
        parts_for(&p, &s, &m, &h, nonce);
        parts_free(&p);

#define SEALED(plain_ptr, plain_n, what)                                                  \
        do {                                                                              \
                p.box = box_of(plain_ptr, plain_n, nonce, h.payload_pk, m.sk->payload_sk); \
                p.box_len = (plain_n) + crypto_box_MACBYTES;                              \
                f = pack_parts(&p, &len);                                                 \
                expect_reason(f, len, &m.op, NMO__REASON__REASON_INVALID_SIGNAL, what);   \
                free(f);                                                                  \
                parts_free(&p);                                                           \
        } while (0)

        /* A signal that fails validation: required field missing, value out of range. */
        bad = s;
        bad.material[0] = '\0';
        assert_int_equal(signal_pack(&bad, &plain, &plain_len), 0);
        SEALED(plain, plain_len, "no material");
        free(plain);
        bad = s;
        bad.duration_days = 4000;
        assert_int_equal(signal_pack(&bad, &plain, &plain_len), 0);
        SEALED(plain, plain_len, "duration 4000");
        free(plain);
        bad = s;
        snprintf(bad.country, sizeof(bad.country), "XX");
        assert_int_equal(signal_pack(&bad, &plain, &plain_len), 0);
        SEALED(plain, plain_len, "country XX");
        free(plain);
        /* A plaintext that is not a Signal, an empty one, a Signal of version 2. */
        SEALED((const uint8_t *)"\xff\xff\xff\xff", 4, "garbage plaintext");
        SEALED((const uint8_t *)"", 0, "empty plaintext");
        {
                Nmo__Signal *sm;

                assert_int_equal(signal_pack(&s, &plain, &plain_len), 0);
                sm = nmo__signal__unpack(NULL, plain_len, plain);
                assert_non_null(sm);
                sm->version = 2;
                assert_int_equal(nmo__signal__pack(sm, plain), plain_len);
                nmo__signal__free_unpacked(sm, NULL);
                SEALED(plain, plain_len, "signal version 2");
                free(plain);
        }
#undef SEALED
        member_free(&m);
}

static void test_malformed(void **state)
{
        static const uint8_t garbage[][8] = {
                { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
                { 0x08, 0x01, 0x12, 0x7f, 0, 0, 0, 0 },
                { 0x08, 0x01, 0x0f, 0, 0, 0, 0, 0 },
                { 'h', 'e', 'l', 'l', 'o', ' ', 'h', 'u' },
        };
        uint8_t nonce[ENVELOPE_NONCE_BYTES], *f, longer[64] = { 0 };
        struct signal s;
        struct member m;
        struct parts p;
        struct hub h;
        size_t len;

        (void)state;
        hub_make(&h, NULL);
        member_make(&m, &h, NULL);
        valid_signal(&s);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(garbage); i++)
                expect_reason(garbage[i], sizeof(garbage[i]), &m.op, NMO__REASON__REASON_MALFORMED,
                              "garbage");
        /* Empty frame. */
        expect_reason((const uint8_t *)"", 0, &m.op, NMO__REASON__REASON_MALFORMED, "empty");
        expect_reason(NULL, 0, &m.op, NMO__REASON__REASON_MALFORMED, "NULL empty");

        /* Each field missing, each field one byte short or long. */
        parts_for(&p, &s, &m, &h, nonce);
#define VARY(field, n, what)                                                              \
        do {                                                                              \
                struct parts q = p;                                                       \
                if ((n) > sizeof(longer)) {                                               \
                        q.field = NULL;                                                   \
                } else {                                                                  \
                        memcpy(longer, p.field, p.field##_len < sizeof(longer)             \
                                                        ? p.field##_len : sizeof(longer)); \
                        q.field = longer;                                                 \
                        q.field##_len = (n);                                              \
                }                                                                         \
                f = pack_parts(&q, &len);                                                 \
                expect_reason(f, len, &m.op, NMO__REASON__REASON_MALFORMED, what);        \
                free(f);                                                                  \
        } while (0)
        VARY(signal_id, SIZE_MAX, "no signal_id");
        VARY(signal_id, SIGNAL_ID_BYTES - 1, "signal_id 15");
        VARY(signal_id, SIGNAL_ID_BYTES + 1, "signal_id 17");
        VARY(sender, SIZE_MAX, "no sender");
        VARY(sender, KEYS_KEY_BYTES - 1, "sender 31");
        VARY(sender, KEYS_KEY_BYTES + 1, "sender 33");
        VARY(key_id, SIZE_MAX, "no key id");
        VARY(key_id, ENVELOPE_KEY_ID_BYTES - 1, "key id 7");
        VARY(key_id, ENVELOPE_KEY_ID_BYTES + 1, "key id 9");
        VARY(key_id, KEYS_KEY_BYTES, "key id 32 (a whole key)");
        VARY(nonce, SIZE_MAX, "no nonce");
        VARY(nonce, ENVELOPE_NONCE_BYTES - 1, "nonce 23");
        VARY(nonce, ENVELOPE_NONCE_BYTES + 1, "nonce 25");
#undef VARY
        {
                struct parts q = p;

                q.box = NULL;
                f = pack_parts(&q, &len);
                expect_reason(f, len, &m.op, NMO__REASON__REASON_MALFORMED, "no box");
                free(f);
        }
        parts_free(&p);
        member_free(&m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_known_answer),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_wrong_hub_key),
                cmocka_unit_test(test_sender_mismatch),
                cmocka_unit_test(test_flipped_bytes),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_oversized),
                cmocka_unit_test(test_version),
                cmocka_unit_test(test_id_mismatch),
                cmocka_unit_test(test_invalid_signal),
                cmocka_unit_test(test_malformed),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
