/* test-hub-attacks.c: the real nmo-hub against raw CurveZMQ clients that hold
 * member keys: every check of the ingest path must refuse what it should, with
 * a signed receipt naming the reason, and keep serving the members who behave. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <zmq.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "envelope.h"
#include "harness.h"

#define WAIT_MS 5000

static struct h_hub hub;

static int setup(void **state)
{
        (void)state;
        h_hub_init(&hub);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        h_hub_destroy(&hub);
        return 0;
}

static void expect_rejected(struct h_client *c, const uint8_t *frame, size_t len,
                            Nmo__Reason reason)
{
        struct receipt r;
        bool dup = true;
        int rc = h_client_send(c, frame, len, WAIT_MS, &r, &dup);

        assert_int_equal(rc, 0);
        assert_false(dup);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_REJECTED);
        if (r.reason != reason)
                fail_msg("expected reason %s, got %s (%s)", reason_name(reason),
                         reason_name(r.reason), r.detail);
        assert_true(r.detail[0] != '\0');
}

/* Accepted once; the same envelope again is answered with the original receipt. */
static void test_accept_then_replay(void **state)
{
        struct h_client c;
        struct receipt r1, r2;
        uint8_t *frame = NULL, id[SIGNAL_ID_BYTES], hash[ENVELOPE_HASH_BYTES];
        size_t len = 0;
        bool dup = true;
        char *m = h_member_create(&hub, "replay-a", true);
        int64_t stored0 = h_hub_stat(&hub, "signals_stored");
        int64_t dups0 = h_hub_stat(&hub, "duplicates");

        (void)state;
        h_client_open(&c, &hub, m);
        h_client_seal(&c, "gallium", &frame, &len, id);
        assert_int_equal(h_client_send(&c, frame, len, WAIT_MS, &r1, &dup), 0);
        assert_false(dup);
        assert_int_equal(r1.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        assert_true(r1.has_id);
        assert_memory_equal(r1.signal_id, id, SIGNAL_ID_BYTES);
        envelope_hash(frame, len, hash);
        assert_memory_equal(r1.envelope_hash, hash, sizeof(hash));
        assert_memory_equal(r1.member_key, c.member->pub.payload, KEYS_KEY_BYTES);
        /* No global counter in receipts (PROTOCOL.md 8). */
        assert_int_equal(r1.sequence, 0);

        /* The captured envelope, replayed three times. */
        for (int i = 0; i < 3; i++) {
                assert_int_equal(h_client_send(&c, frame, len, WAIT_MS, &r2, &dup), 0);
                assert_true(dup);
                assert_int_equal(r2.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
                assert_memory_equal(r2.envelope_hash, r1.envelope_hash, ENVELOPE_HASH_BYTES);
                assert_int_equal(r2.hub_time_ms, r1.hub_time_ms);
        }
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), stored0 + 1);
        assert_int_equal(h_hub_stat(&hub, "duplicates"), dups0 + 3);
        free(frame);
        h_client_close(&c);
        free(m);
}

/* Member A's envelope sent over member B's connection. */
static void test_sender_mismatch(void **state)
{
        struct h_client a, b;
        Nmo__Envelope *e;
        uint8_t *frame = NULL, *forged = NULL, *sender;
        size_t len = 0, flen;
        char *ma = h_member_create(&hub, "mismatch-a", true);
        char *mb = h_member_create(&hub, "mismatch-b", true);
        int64_t stored0 = h_hub_stat(&hub, "signals_stored");

        (void)state;
        h_client_open(&a, &hub, ma);
        h_client_open(&b, &hub, mb);
        h_client_seal(&a, "germanium", &frame, &len, NULL);
        expect_rejected(&b, frame, len, NMO__REASON__REASON_SENDER_MISMATCH);

        /* B rewrites the sender field to its own key: the box still is A's. */
        e = nmo__envelope__unpack(NULL, len, frame);
        assert_non_null(e);
        sender = e->sender.data;
        e->sender.data = b.member->pub.payload;
        flen = nmo__envelope__get_packed_size(e);
        forged = malloc(flen);
        nmo__envelope__pack(e, forged);
        /* B's key is not protobuf-c's to free; the copy it unpacked is. */
        e->sender.data = sender;
        nmo__envelope__free_unpacked(e, NULL);
        expect_rejected(&b, forged, flen, NMO__REASON__REASON_DECRYPT_FAILED);
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), stored0);
        free(forged);
        free(frame);
        h_client_close(&a);
        h_client_close(&b);
        free(ma);
        free(mb);
}

/* A key the hub never enrolled gets no further than the handshake. */
static void test_unknown_key_refused(void **state)
{
        struct h_client stranger, member;
        struct receipt r;
        uint8_t *frame = NULL;
        size_t len = 0;
        bool dup;
        char *ms = h_member_create(&hub, "stranger", false);
        char *mm = h_member_create(&hub, "known", true);

        (void)state;
        h_client_open(&stranger, &hub, ms);
        h_client_seal(&stranger, "lithium", &frame, &len, NULL);
        assert_int_equal(h_client_send(&stranger, frame, len, 2000, &r, &dup), -ETIMEDOUT);
        free(frame);
        h_client_close(&stranger);

        h_client_open(&member, &hub, mm);
        h_client_seal(&member, "lithium", &frame, &len, NULL);
        assert_int_equal(h_client_send(&member, frame, len, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        free(frame);
        h_client_close(&member);
        free(ms);
        free(mm);
}

/* Suspension and revocation apply to the next message on an open connection. */
static void test_suspend_resume_revoke(void **state)
{
        struct h_client c, again;
        struct receipt r;
        uint8_t *frame = NULL;
        size_t len = 0;
        bool dup;
        char *m = h_member_create(&hub, "lifecycle", true);

        (void)state;
        h_client_open(&c, &hub, m);
        h_client_seal(&c, "nickel", &frame, &len, NULL);
        assert_int_equal(h_client_send(&c, frame, len, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        free(frame);

        assert_int_equal(h_member(&hub, "suspend", "lifecycle"), 0);
        h_client_seal(&c, "nickel", &frame, &len, NULL);
        expect_rejected(&c, frame, len, NMO__REASON__REASON_MEMBER_SUSPENDED);
        assert_true(reason_is_temporary(NMO__REASON__REASON_MEMBER_SUSPENDED));

        /* Resumed: the very same envelope goes through. */
        assert_int_equal(h_member(&hub, "resume", "lifecycle"), 0);
        assert_int_equal(h_client_send(&c, frame, len, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        assert_false(dup);
        free(frame);

        assert_int_equal(h_member(&hub, "revoke", "lifecycle"), 0);
        h_client_seal(&c, "nickel", &frame, &len, NULL);
        expect_rejected(&c, frame, len, NMO__REASON__REASON_MEMBER_REVOKED);
        h_client_close(&c);

        /* A new connection with the revoked key fails the handshake. */
        h_client_open(&again, &hub, m);
        assert_int_equal(h_client_send(&again, frame, len, 2000, &r, &dup), -ETIMEDOUT);
        h_client_close(&again);
        free(frame);

        /* Revocation is final. */
        assert_int_equal(h_member(&hub, "resume", "lifecycle"), 1);
        free(m);
}

/* Garbage, malformed protobuf, extra frames, oversized and over-limit frames. */
static void test_malformed_frames(void **state)
{
        struct h_client c, other;
        struct receipt r;
        uint8_t garbage[300], *big, *frame = NULL;
        size_t len = 0;
        bool dup;
        char *m = h_member_create(&hub, "malformed", true);
        char *mo = h_member_create(&hub, "bystander", true);
        /* A valid protobuf Envelope that lacks fields: just version = 1. */
        static const uint8_t partial[] = { 0x08, 0x01 };
        /* version = 2 */
        static const uint8_t v2[] = { 0x08, 0x02 };

        (void)state;
        randombytes_buf(garbage, sizeof(garbage));
        garbage[0] = 0xff; /* not a valid protobuf tag */
        h_client_open(&c, &hub, m);
        expect_rejected(&c, garbage, sizeof(garbage), NMO__REASON__REASON_MALFORMED);
        expect_rejected(&c, partial, sizeof(partial), NMO__REASON__REASON_MALFORMED);
        expect_rejected(&c, v2, sizeof(v2), NMO__REASON__REASON_UNSUPPORTED_VERSION);
        expect_rejected(&c, (const uint8_t *)"", 0, NMO__REASON__REASON_MALFORMED);

        /* Over the envelope limit but under the transport limit: a refusal. */
        big = calloc(1, 70000);
        expect_rejected(&c, big, ENVELOPE_MAX + 1, NMO__REASON__REASON_OVERSIZED);

        /* Two frames in one message. */
        h_client_seal(&c, "tungsten", &frame, &len, NULL);
        {
                const uint8_t *parts[] = { frame, frame };
                size_t lens[] = { len, len };

                assert_int_equal(h_client_send_parts(&c, parts, lens, 2, WAIT_MS, &r, &dup), 0);
                assert_int_equal(r.reason, NMO__REASON__REASON_MALFORMED);
        }
        /* Over ZMQ_MAXMSGSIZE: the peer is cut off, no reply. */
        assert_int_equal(h_client_send(&c, big, 70000, 2000, &r, &dup), -ETIMEDOUT);
        h_client_close(&c);

        /* The hub keeps serving the others. */
        h_client_open(&other, &hub, mo);
        free(frame);
        h_client_seal(&other, "tungsten", &frame, &len, NULL);
        assert_int_equal(h_client_send(&other, frame, len, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        h_client_close(&other);
        free(frame);
        free(big);
        free(m);
        free(mo);
}

/* Signals that open fine but must not be stored. */
static void test_bad_signals(void **state)
{
        struct h_client c;
        struct signal s;
        struct keys_secret *other_hub = NULL;
        uint8_t *frame = NULL;
        size_t len = 0;
        char err[256];
        char *m = h_member_create(&hub, "badsignals", true);
        int64_t stored0 = h_hub_stat(&hub, "signals_stored");

        (void)state;
        h_client_open(&c, &hub, m);
        signal_init(&s);
        assert_int_equal(signal_set(&s, "material", "gallium", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "event", "export-ban", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "severity", "high", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "country", "CN", err, sizeof(err)), 0);

        /* Dated an hour ahead of the hub clock. */
        s.created_ms += 3600u * 1000u;
        assert_int_equal(envelope_seal(&s, c.member, c.hub.payload, NULL, &frame, &len), 0);
        expect_rejected(&c, frame, len, NMO__REASON__REASON_CLOCK_SKEW);
        free(frame);
        s.created_ms -= 3600u * 1000u;

        /* A material outside the vocabulary, written past the setter. */
        strcpy(s.material, "unobtainium");
        randombytes_buf(s.id, sizeof(s.id));
        assert_int_equal(envelope_seal(&s, c.member, c.hub.payload, NULL, &frame, &len), 0);
        expect_rejected(&c, frame, len, NMO__REASON__REASON_INVALID_SIGNAL);
        free(frame);
        strcpy(s.material, "gallium");

        /* Sealed to another hub's payload key. */
        assert_int_equal(keys_generate(&other_hub, KEYS_ROLE_HUB, NULL), 0);
        randombytes_buf(s.id, sizeof(s.id));
        assert_int_equal(envelope_seal(&s, c.member, other_hub->pub.payload, NULL, &frame, &len),
                         0);
        expect_rejected(&c, frame, len, NMO__REASON__REASON_UNKNOWN_HUB_KEY);
        free(frame);
        keys_free(other_hub);

        assert_int_equal(h_hub_stat(&hub, "signals_stored"), stored0);
        assert_true(h_hub_stat(&hub, "rejected") >= 3);
        h_client_close(&c);
        free(m);
}

/* SIGTERM: the hub stops cleanly with exit 0 and starts again on its store. */
static void test_clean_restart(void **state)
{
        int64_t stored;

        (void)state;
        stored = h_hub_stat(&hub, "signals_stored");
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        h_hub_start(&hub);
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), stored);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_accept_then_replay),
                cmocka_unit_test(test_sender_mismatch),
                cmocka_unit_test(test_unknown_key_refused),
                cmocka_unit_test(test_suspend_resume_revoke),
                cmocka_unit_test(test_malformed_frames),
                cmocka_unit_test(test_bad_signals),
                cmocka_unit_test(test_clean_restart),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("hub-attacks", tests, setup, teardown);
}
