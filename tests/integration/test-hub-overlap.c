/* test-hub-overlap.c: the real nmo-hub against a member that sends every
 * envelope twice, the second copy a random 0-3 ms after the first, without
 * waiting for replies: the copies land in one batch, in two adjacent batches
 * (the second received while the first's receipts are still held for
 * durability) or further apart. The interleaving of ingest.h's two stages
 * across batches is tested in process, deterministically, by
 * tests/unit/test-ingest.c. Whatever the split, each envelope is stored once,
 * and both copies get a signed receipt: one accepted, one answered as a
 * duplicate with the original receipt. (That no receipt leaves before its
 * batch is durable is what test-crash.c and tests/fault/kill-hub.sh and
 * power-cut.sh check.) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include <zmq.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "envelope.h"
#include "harness.h"

#define ENVELOPES 300
#define WAIT_MS 20000

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

static void send_frame(struct h_client *c, const uint8_t *frame, size_t len)
{
        int waited = 0;

        /* Waits for the connection (ZMQ_IMMEDIATE) the first time. */
        while (zmq_send(c->sock, frame, len, ZMQ_DONTWAIT) < 0) {
                assert_int_equal(errno, EAGAIN);
                assert_true(waited < WAIT_MS);
                usleep(10000);
                waited += 10;
        }
}

struct seen {
        uint8_t hash[ENVELOPE_HASH_BYTES];
        uint64_t hub_time_ms;
        int accepted, duplicates;
};

static void test_twice_in_adjacent_batches(void **state)
{
        struct h_client c;
        struct seen *seen = calloc(ENVELOPES, sizeof(*seen));
        uint8_t **frames = calloc(ENVELOPES, sizeof(*frames));
        size_t *lens = calloc(ENVELOPES, sizeof(*lens));
        uint8_t ids[ENVELOPES][SIGNAL_ID_BYTES];
        char *m = h_member_create(&hub, "twice", true);
        int64_t stored0 = h_hub_stat(&hub, "signals_stored");
        int64_t dups0 = h_hub_stat(&hub, "duplicates");
        zmq_pollitem_t pi;

        (void)state;
        assert_non_null(seen);
        assert_non_null(frames);
        assert_non_null(lens);
        h_client_open(&c, &hub, m);
        for (size_t i = 0; i < ENVELOPES; i++)
                h_client_seal(&c, "gallium", &frames[i], &lens[i], ids[i]);
        for (size_t i = 0; i < ENVELOPES; i++) {
                send_frame(&c, frames[i], lens[i]);
                usleep(randombytes_uniform(3000));
                send_frame(&c, frames[i], lens[i]);
        }
        pi = (zmq_pollitem_t){ c.sock, 0, ZMQ_POLLIN, 0 };
        for (size_t got = 0; got < 2 * ENVELOPES; got++) {
                uint8_t buf[RECEIPT_MAX + 1], *signed_receipt = NULL;
                size_t signed_len = 0, k;
                struct receipt r;
                bool dup = false;
                int n;

                if (zmq_poll(&pi, 1, WAIT_MS) <= 0)
                        fail_msg("%zu of %d replies came", got, 2 * ENVELOPES);
                n = zmq_recv(c.sock, buf, sizeof(buf), 0);
                assert_true(n > 0 && n <= RECEIPT_MAX);
                assert_int_equal(reply_unpack(buf, (size_t)n, &dup, &signed_receipt,
                                              &signed_len), 0);
                assert_int_equal(receipt_verify(signed_receipt, signed_len, c.hub.sign, &r), 0);
                free(signed_receipt);
                if (r.status != NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED)
                        fail_msg("a copy was refused: %s (%s)", reason_name(r.reason), r.detail);
                assert_true(r.has_id);
                for (k = 0; k < ENVELOPES; k++)
                        if (memcmp(ids[k], r.signal_id, SIGNAL_ID_BYTES) == 0)
                                break;
                assert_true(k < ENVELOPES);
                if (seen[k].accepted + seen[k].duplicates > 0) {
                        /* The original receipt, for the same frame. */
                        assert_memory_equal(seen[k].hash, r.envelope_hash, ENVELOPE_HASH_BYTES);
                        assert_int_equal(seen[k].hub_time_ms, r.hub_time_ms);
                }
                memcpy(seen[k].hash, r.envelope_hash, ENVELOPE_HASH_BYTES);
                seen[k].hub_time_ms = r.hub_time_ms;
                if (dup)
                        seen[k].duplicates++;
                else
                        seen[k].accepted++;
        }
        for (size_t k = 0; k < ENVELOPES; k++) {
                if (seen[k].accepted != 1 || seen[k].duplicates != 1)
                        fail_msg("envelope %zu: %d accepted, %d duplicates", k, seen[k].accepted,
                                 seen[k].duplicates);
        }
        /* Stored once each. */
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), stored0 + ENVELOPES);
        assert_int_equal(h_hub_stat(&hub, "duplicates"), dups0 + ENVELOPES);
        for (size_t i = 0; i < ENVELOPES; i++)
                free(frames[i]);
        free(frames);
        free(lens);
        free(seen);
        h_client_close(&c);
        free(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_twice_in_adjacent_batches),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("hub-overlap", tests, setup, teardown);
}
