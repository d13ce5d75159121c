/* test-outbox.c: the node's outbox (node/outbox.c) on a real LMDB environment,
 * and the JSON Lines parser of `nmo-node submit --file` (node/jsonl.c).
 *
 * Every outbox lives in its own directory under one mkdtemp() directory that
 * is removed at the end; nothing is written to the current directory. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <lmdb.h>
#include <sodium.h>

#include "envelope.h"
#include "jsonl.h"
#include "keys.h"
#include "outbox.h"
#include "receipt.h"
#include "unit-tmp.h"

static char tmp_dir[PATH_MAX];
static struct keys_secret *hub_sk;
static const struct outbox_backoff backoff = { 500, 60000 };

/* A fresh outbox directory name under the test directory. */
static char *box_dir(const char *name)
{
        char *p = util_path(tmp_dir, name);

        assert_non_null(p);
        return p;
}

/* Stand-in envelopes: the outbox treats them as opaque bytes. */
struct item {
        uint8_t id[SIGNAL_ID_BYTES];
        uint8_t env[300];
};

static void make_items(struct item *it, struct outbox_new *nw, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                randombytes_buf(it[i].id, sizeof(it[i].id));
                randombytes_buf(it[i].env, sizeof(it[i].env));
                nw[i] = (struct outbox_new){ it[i].id, it[i].env, sizeof(it[i].env) };
        }
}

/* A signed receipt for envelope env of signal id. */
struct signed_receipt {
        struct receipt r;
        uint8_t *buf;
        size_t len;
};

static void make_receipt(struct signed_receipt *sr, const uint8_t *id, const uint8_t *env,
                         size_t env_len, Nmo__ReceiptStatus status, Nmo__Reason reason,
                         const char *detail)
{
        memset(sr, 0, sizeof(*sr));
        sr->r.has_id = id != NULL;
        if (id)
                memcpy(sr->r.signal_id, id, SIGNAL_ID_BYTES);
        sr->r.status = status;
        sr->r.reason = reason;
        snprintf(sr->r.detail, sizeof(sr->r.detail), "%s", detail ? detail : "");
        sr->r.hub_time_ms = 1700000000123ull;
        envelope_hash(env, env_len, sr->r.envelope_hash);
        randombytes_buf(sr->r.member_key, sizeof(sr->r.member_key));
        /* As an older hub sent it: a store sequence, which nodes ignore. */
        sr->r.sequence = status == NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED ? 77 : 0;
        assert_int_equal(receipt_sign(&sr->r, hub_sk->sign_sk, &sr->buf, &sr->len), 0);
}

static struct outbox_receipt as_input(const struct signed_receipt *sr, bool duplicate)
{
        return (struct outbox_receipt){ &sr->r, sr->buf, sr->len, duplicate, false };
}

/* Copies of one record, as outbox_get() shows it. */
struct seen {
        int calls;
        uint64_t seq;
        enum outbox_state state;
        uint32_t attempts;
        uint64_t next_attempt_ms;
        uint64_t queued_at_ms;
        char last_error[OUTBOX_TEXT_MAX + 1];
        uint8_t receipt[RECEIPT_MAX];
        size_t receipt_len;
        bool duplicate;
        int receipt_status;
        int reason;
        char detail[OUTBOX_TEXT_MAX + 1];
        uint64_t hub_time_ms;
        size_t envelope_len;
};

static int copy_entry(const struct outbox_entry *e, void *userdata)
{
        struct seen *s = userdata;

        s->calls++;
        s->seq = e->seq;
        s->state = e->state;
        s->attempts = e->attempts;
        s->next_attempt_ms = e->next_attempt_ms;
        s->queued_at_ms = e->queued_at_ms;
        snprintf(s->last_error, sizeof(s->last_error), "%s", e->last_error);
        assert_true(e->signed_receipt_len <= sizeof(s->receipt));
        if (e->signed_receipt_len > 0)
                memcpy(s->receipt, e->signed_receipt, e->signed_receipt_len);
        s->receipt_len = e->signed_receipt_len;
        s->duplicate = e->duplicate;
        s->receipt_status = e->receipt_status;
        s->reason = e->reason;
        snprintf(s->detail, sizeof(s->detail), "%s", e->detail);
        s->hub_time_ms = e->hub_time_ms;
        s->envelope_len = e->envelope_len;
        return 0;
}

static struct seen get(struct outbox *ob, const uint8_t *id)
{
        struct seen s;

        memset(&s, 0, sizeof(s));
        assert_int_equal(outbox_get(ob, id, copy_entry, &s), 0);
        assert_int_equal(s.calls, 1);
        return s;
}

static void expect_counts(struct outbox *ob, uint64_t q, uint64_t f, uint64_t d, uint64_t rj)
{
        struct outbox_counts c;
        uint64_t pq = 99, pf = 99;

        assert_int_equal(outbox_counts(ob, &c), 0);
        assert_int_equal(c.queued, q);
        assert_int_equal(c.in_flight, f);
        assert_int_equal(c.delivered, d);
        assert_int_equal(c.rejected, rj);
        /* The oldest signal without a final receipt has a time when there is one. */
        assert_int_equal(c.oldest_pending_ms != 0, q + f > 0);
        assert_int_equal(outbox_pending(ob, &pq, &pf), 0);
        assert_int_equal(pq, q);
        assert_int_equal(pf, f);
}

struct order {
        uint64_t seqs[64];
        size_t n;
};

static int collect_order(const struct outbox_entry *e, void *userdata)
{
        struct order *o = userdata;

        if (o->n < NMO_ARRAY_SIZE(o->seqs))
                o->seqs[o->n++] = e->seq;
        return 0;
}

static void test_round_trip(void **state)
{
        struct item it[3];
        struct outbox_new nw[3];
        struct outbox_due *due = NULL;
        struct outbox *ob = NULL;
        struct signed_receipt acc, tmp, rej;
        struct outbox_receipt in[3];
        struct order order = { { 0 }, 0 };
        int results[3] = { 1, 1, 1 };
        uint64_t now = util_now_ms(), seqs[2];
        struct seen s;
        size_t n = 0;
        char *dir = box_dir("round-trip");

        (void)state;
        make_items(it, nw, 3);
        assert_int_equal(outbox_open(&ob, dir, 0, 0), 0);
        expect_counts(ob, 0, 0, 0, 0);
        assert_int_equal(outbox_put_batch(ob, nw, 3, now), 0);
        expect_counts(ob, 3, 0, 0, 0);

        s = get(ob, it[1].id);
        assert_int_equal(s.state, OUTBOX_QUEUED);
        assert_int_equal(s.attempts, 0);
        assert_true(s.queued_at_ms == now);
        assert_int_equal(s.envelope_len, sizeof(it[1].env));
        assert_string_equal(s.last_error, "");
        assert_int_equal(s.receipt_len, 0);

        /* Due in outbox order, with the stored bytes. */
        assert_int_equal(outbox_next_due(ob, now, 10, &due, &n), 0);
        assert_int_equal(n, 3);
        for (size_t i = 0; i < 3; i++) {
                assert_memory_equal(due[i].signal_id, it[i].id, SIGNAL_ID_BYTES);
                assert_int_equal(due[i].envelope_len, sizeof(it[i].env));
                assert_memory_equal(due[i].envelope, it[i].env, sizeof(it[i].env));
                if (i > 0)
                        assert_true(due[i].seq > due[i - 1].seq);
        }
        seqs[0] = due[0].seq;
        seqs[1] = due[1].seq;
        outbox_due_free(due, n);
        due = NULL;
        /* max bounds the answer. */
        assert_int_equal(outbox_next_due(ob, now, 2, &due, &n), 0);
        assert_int_equal(n, 2);
        outbox_due_free(due, n);
        due = NULL;

        /* In flight: counted as an attempt, no longer due. */
        assert_int_equal(outbox_mark_in_flight(ob, seqs, 2), 0);
        expect_counts(ob, 1, 2, 0, 0);
        s = get(ob, it[0].id);
        assert_int_equal(s.state, OUTBOX_IN_FLIGHT);
        assert_int_equal(s.attempts, 1);
        assert_int_equal(outbox_next_due(ob, now, 10, &due, &n), 0);
        assert_int_equal(n, 1);
        assert_memory_equal(due[0].signal_id, it[2].id, SIGNAL_ID_BYTES);
        outbox_due_free(due, n);
        due = NULL;
        /* Marking again changes nothing: only queued records go in flight. */
        assert_int_equal(outbox_mark_in_flight(ob, seqs, 1), 0);
        assert_int_equal(get(ob, it[0].id).attempts, 1);

        /* One round of receipts: accepted, temporary rejection, final rejection. */
        make_receipt(&acc, it[0].id, it[0].env, sizeof(it[0].env),
                     NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED, NMO__REASON__REASON_NONE, NULL);
        make_receipt(&tmp, it[1].id, it[1].env, sizeof(it[1].env),
                     NMO__RECEIPT_STATUS__RECEIPT_REJECTED, NMO__REASON__REASON_RATE_LIMITED,
                     "slow down");
        make_receipt(&rej, it[2].id, it[2].env, sizeof(it[2].env),
                     NMO__RECEIPT_STATUS__RECEIPT_REJECTED, NMO__REASON__REASON_MEMBER_REVOKED,
                     "revoked by the operator");
        in[0] = as_input(&acc, true);
        in[1] = as_input(&tmp, false);
        in[2] = as_input(&rej, false);
        assert_int_equal(outbox_apply_receipts(ob, in, 3, now, &backoff, results), 0);
        assert_int_equal(results[0], 0);
        assert_int_equal(results[1], 0);
        assert_int_equal(results[2], 0);
        expect_counts(ob, 1, 0, 1, 1);

        s = get(ob, it[0].id);
        assert_int_equal(s.state, OUTBOX_DELIVERED);
        assert_int_equal(s.receipt_len, acc.len);
        assert_memory_equal(s.receipt, acc.buf, acc.len);
        assert_true(s.duplicate);
        assert_int_equal(s.receipt_status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        assert_true(s.hub_time_ms == 1700000000123ull);

        s = get(ob, it[1].id);
        assert_int_equal(s.state, OUTBOX_QUEUED);
        assert_int_equal(s.attempts, 1);
        assert_string_equal(s.last_error, "rate-limited: slow down");
        assert_int_equal(s.receipt_len, 0);
        /* Backoff for attempt 1: between half and all of retry_min_ms. */
        assert_true(s.next_attempt_ms >= now + 250 && s.next_attempt_ms <= now + 500);
        assert_int_equal(outbox_next_due(ob, now, 10, &due, &n), 0);
        assert_int_equal(n, 0);
        assert_null(due);
        assert_int_equal(outbox_next_due(ob, now + 501, 10, &due, &n), 0);
        assert_int_equal(n, 1);
        assert_memory_equal(due[0].signal_id, it[1].id, SIGNAL_ID_BYTES);
        seqs[0] = due[0].seq;
        outbox_due_free(due, n);
        due = NULL;

        s = get(ob, it[2].id);
        assert_int_equal(s.state, OUTBOX_REJECTED);
        assert_int_equal(s.reason, NMO__REASON__REASON_MEMBER_REVOKED);
        assert_string_equal(s.detail, "revoked by the operator");
        assert_int_equal(s.receipt_len, rej.len);
        assert_memory_equal(s.receipt, rej.buf, rej.len);
        assert_false(s.duplicate);

        /* A timeout puts it back with backoff and a reason; a stop, due at once. */
        assert_int_equal(outbox_mark_in_flight(ob, seqs, 1), 0);
        assert_int_equal(outbox_requeue(ob, seqs, 1, now, &backoff, "no reply in time"), 0);
        s = get(ob, it[1].id);
        assert_int_equal(s.state, OUTBOX_QUEUED);
        assert_int_equal(s.attempts, 2);
        assert_string_equal(s.last_error, "no reply in time");
        /* Attempt 2: between 500 and 1000 ms. */
        assert_true(s.next_attempt_ms >= now + 500 && s.next_attempt_ms <= now + 1000);
        assert_int_equal(outbox_mark_in_flight(ob, seqs, 1), 0);
        assert_int_equal(outbox_requeue(ob, seqs, 1, now, NULL, NULL), 0);
        s = get(ob, it[1].id);
        assert_int_equal(s.state, OUTBOX_QUEUED);
        assert_true(s.next_attempt_ms == 0);
        assert_string_equal(s.last_error, "no reply in time");
        /* Requeue leaves records that are not in flight alone. */
        assert_int_equal(outbox_requeue(ob, seqs, 1, now, &backoff, "x"), 0);
        assert_true(get(ob, it[1].id).next_attempt_ms == 0);

        /* Walk in outbox order; nothing vanished. */
        assert_int_equal(outbox_foreach(ob, collect_order, &order), 0);
        assert_int_equal(order.n, 3);
        assert_true(order.seqs[0] < order.seqs[1] && order.seqs[1] < order.seqs[2]);
        expect_counts(ob, 1, 0, 1, 1);

        free(acc.buf);
        free(tmp.buf);
        free(rej.buf);
        outbox_free(ob);
        free(dir);
}

static void test_receipts_must_fail(void **state)
{
        struct item it[2], stranger;
        struct outbox_new nw[2];
        struct outbox *ob = NULL;
        struct signed_receipt unknown, wrong_hash, no_id, good, again;
        struct outbox_receipt in[3];
        int results[3];
        uint8_t other_env[300];
        char *dir = box_dir("must-fail");

        (void)state;
        make_items(it, nw, 2);
        randombytes_buf(stranger.id, sizeof(stranger.id));
        randombytes_buf(other_env, sizeof(other_env));
        assert_int_equal(outbox_open(&ob, dir, 0, 0), 0);
        assert_int_equal(outbox_put_batch(ob, nw, 2, util_now_ms()), 0);

        make_receipt(&unknown, stranger.id, it[0].env, sizeof(it[0].env),
                     NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED, NMO__REASON__REASON_NONE, NULL);
        make_receipt(&wrong_hash, it[0].id, other_env, sizeof(other_env),
                     NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED, NMO__REASON__REASON_NONE, NULL);
        make_receipt(&no_id, NULL, it[1].env, sizeof(it[1].env),
                     NMO__RECEIPT_STATUS__RECEIPT_REJECTED, NMO__REASON__REASON_MALFORMED, NULL);
        in[0] = as_input(&unknown, false);
        in[1] = as_input(&wrong_hash, false);
        in[2] = as_input(&no_id, false);
        assert_int_equal(outbox_apply_receipts(ob, in, 3, util_now_ms(), &backoff, results), 0);
        assert_int_equal(results[0], -ENOENT);
        assert_int_equal(results[1], -EPROTO);
        assert_int_equal(results[2], -ENOENT);
        /* Nothing changed. */
        expect_counts(ob, 2, 0, 0, 0);
        assert_int_equal(get(ob, it[0].id).state, OUTBOX_QUEUED);

        /* A final record takes no second receipt, even in the same round. */
        make_receipt(&good, it[1].id, it[1].env, sizeof(it[1].env),
                     NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED, NMO__REASON__REASON_NONE, NULL);
        make_receipt(&again, it[1].id, it[1].env, sizeof(it[1].env),
                     NMO__RECEIPT_STATUS__RECEIPT_REJECTED, NMO__REASON__REASON_INVALID_SIGNAL,
                     "late");
        in[0] = as_input(&good, false);
        in[1] = as_input(&again, false);
        assert_int_equal(outbox_apply_receipts(ob, in, 2, util_now_ms(), &backoff, results), 0);
        assert_int_equal(results[0], 0);
        assert_int_equal(results[1], -EALREADY);
        assert_int_equal(get(ob, it[1].id).state, OUTBOX_DELIVERED);

        /* Bad arguments are refused before any transaction. */
        in[0] = as_input(&good, false);
        in[0].signed_len = 0;
        assert_int_equal(outbox_apply_receipts(ob, in, 1, 0, &backoff, NULL), -EINVAL);
        assert_int_equal(outbox_get(ob, stranger.id, copy_entry, &(struct seen){ 0 }), -ENOENT);

        free(unknown.buf);
        free(wrong_hash.buf);
        free(no_id.buf);
        free(good.buf);
        free(again.buf);
        outbox_free(ob);
        free(dir);
}

static void test_batch_all_or_nothing(void **state)
{
        struct item it[4];
        struct outbox_new nw[4];
        struct outbox *ob = NULL;
        char *dir = box_dir("batch");

        (void)state;
        make_items(it, nw, 4);
        assert_int_equal(outbox_open(&ob, dir, 0, 0), 0);
        assert_int_equal(outbox_put_batch(ob, nw, 1, util_now_ms()), 0);

        /* The last item repeats a stored id: none of the batch is stored. */
        nw[3].signal_id = it[0].id;
        assert_int_equal(outbox_put_batch(ob, nw + 1, 3, util_now_ms()), -EEXIST);
        expect_counts(ob, 1, 0, 0, 0);
        assert_int_equal(outbox_get(ob, it[1].id, copy_entry, &(struct seen){ 0 }), -ENOENT);

        /* An id twice in one batch. */
        nw[3].signal_id = it[1].id;
        assert_int_equal(outbox_put_batch(ob, nw + 1, 3, util_now_ms()), -EEXIST);
        expect_counts(ob, 1, 0, 0, 0);

        /* A bad item refuses the batch up front. */
        nw[3] = (struct outbox_new){ it[3].id, it[3].env, 0 };
        assert_int_equal(outbox_put_batch(ob, nw + 1, 3, util_now_ms()), -EINVAL);
        nw[3] = (struct outbox_new){ it[3].id, it[3].env, ENVELOPE_MAX + 1 };
        assert_int_equal(outbox_put_batch(ob, nw + 1, 3, util_now_ms()), -EINVAL);
        expect_counts(ob, 1, 0, 0, 0);

        /* The good batch then goes in whole. */
        nw[3] = (struct outbox_new){ it[3].id, it[3].env, sizeof(it[3].env) };
        assert_int_equal(outbox_put_batch(ob, nw + 1, 3, util_now_ms()), 0);
        expect_counts(ob, 4, 0, 0, 0);
        assert_int_equal(outbox_put_batch(ob, nw, 0, util_now_ms()), 0);

        outbox_free(ob);
        free(dir);
}

static void test_reopen_and_agent(void **state)
{
        struct item it[3];
        struct outbox_new nw[3];
        struct outbox_due *due = NULL;
        struct outbox *ob = NULL, *other = NULL, *ro = NULL;
        uint64_t seqs[2], t = 0;
        char msg[OUTBOX_TEXT_MAX + 1];
        struct signed_receipt acc;
        struct outbox_receipt in;
        int result = 1;
        size_t n = 0;
        char *dir = box_dir("reopen");

        (void)state;
        make_items(it, nw, 3);
        assert_int_equal(outbox_open(&ob, dir, 0, 0), 0);
        assert_int_equal(outbox_put_batch(ob, nw, 3, 1234), 0);
        assert_int_equal(outbox_next_due(ob, util_now_ms(), 2, &due, &n), 0);
        assert_int_equal(n, 2);
        seqs[0] = due[0].seq;
        seqs[1] = due[1].seq;
        outbox_due_free(due, n);
        assert_int_equal(outbox_mark_in_flight(ob, seqs, 2), 0);
        assert_int_equal(outbox_set_hub_error(ob, "refused", 999), 0);
        outbox_free(ob);
        ob = NULL;

        /* A plain reopen (submit, status) keeps everything as it was. */
        assert_int_equal(outbox_open(&ob, dir, 0, 0), 0);
        expect_counts(ob, 1, 2, 0, 0);
        assert_true(get(ob, it[2].id).queued_at_ms == 1234);
        assert_int_equal(outbox_get_hub_error(ob, msg, sizeof(msg), &t), 0);
        assert_string_equal(msg, "refused");
        assert_true(t == 999);
        outbox_free(ob);
        ob = NULL;

        /* The agent takes back what an earlier run left in flight: due now,
         * attempts kept. */
        assert_int_equal(outbox_open(&ob, dir, OUTBOX_AGENT, 0), 0);
        expect_counts(ob, 3, 0, 0, 0);
        assert_int_equal(get(ob, it[0].id).attempts, 1);
        assert_true(get(ob, it[0].id).next_attempt_ms == 0);
        assert_int_equal(outbox_next_due(ob, util_now_ms(), 10, &due, &n), 0);
        assert_int_equal(n, 3);
        outbox_due_free(due, n);

        /* One agent at a time; readers and writers still get in. */
        assert_int_equal(outbox_open(&other, dir, OUTBOX_AGENT, 0), -EBUSY);
        assert_null(other);
        assert_int_equal(outbox_open(&ro, dir, OUTBOX_READONLY, 0), 0);
        expect_counts(ro, 3, 0, 0, 0);
        assert_int_equal(outbox_put_batch(ro, nw, 1, 0), -EROFS);
        assert_int_equal(outbox_set_hub_error(ro, NULL, 0), -EROFS);
        outbox_free(ro);
        assert_int_equal(outbox_open(&other, dir, 0, 0), 0);
        outbox_free(other);

        /* A receipt clears the hub error. */
        make_receipt(&acc, it[0].id, it[0].env, sizeof(it[0].env),
                     NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED, NMO__REASON__REASON_NONE, NULL);
        in = as_input(&acc, false);
        assert_int_equal(outbox_apply_receipts(ob, &in, 1, util_now_ms(), &backoff, &result), 0);
        assert_int_equal(result, 0);
        assert_int_equal(outbox_get_hub_error(ob, msg, sizeof(msg), &t), -ENOENT);
        assert_int_equal(outbox_set_hub_error(ob, "again", 5), 0);
        assert_int_equal(outbox_set_hub_error(ob, NULL, 0), 0);
        assert_int_equal(outbox_get_hub_error(ob, msg, sizeof(msg), &t), -ENOENT);
        free(acc.buf);
        outbox_free(ob);
        ob = NULL;

        /* Once the agent is gone, another may start. */
        assert_int_equal(outbox_open(&ob, dir, OUTBOX_AGENT, 0), 0);
        expect_counts(ob, 2, 0, 1, 0);
        outbox_free(ob);

        /* Read-only never creates. */
        free(dir);
        dir = box_dir("never-created");
        assert_int_equal(outbox_open(&ro, dir, OUTBOX_READONLY, 0), -ENOENT);
        assert_int_equal(outbox_open(&ro, dir, OUTBOX_READONLY | OUTBOX_AGENT, 0), -EINVAL);
        free(dir);
}

/* A stand-in re-sealing for outbox_reseal_pending(): "new:" and the first
 * RESEAL_KEEP bytes; frames that start with "new:" are done already. */
#define RESEAL_KEEP 100

struct reseal_calls {
        int calls;
        int fail_with;          /* 0: succeed */
};

static int fake_reseal(const uint8_t id[SIGNAL_ID_BYTES], const uint8_t *env, size_t len,
                       uint8_t **out, size_t *out_len, void *userdata)
{
        struct reseal_calls *rc = userdata;

        (void)id;
        rc->calls++;
        if (rc->fail_with)
                return rc->fail_with;
        if (len >= 4 && memcmp(env, "new:", 4) == 0)
                return -EALREADY;
        assert_true(len >= RESEAL_KEEP);
        *out = malloc(4 + RESEAL_KEEP);
        assert_non_null(*out);
        memcpy(*out, "new:", 4);
        memcpy(*out + 4, env, RESEAL_KEEP);
        *out_len = 4 + RESEAL_KEEP;
        return 0;
}

/* A receipt as make_receipt() makes it, naming member_pk. */
static void make_receipt_for(struct signed_receipt *sr, const uint8_t *id, const uint8_t *env,
                             size_t env_len, const uint8_t *member_pk)
{
        make_receipt(sr, id, env, env_len, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED,
                     NMO__REASON__REASON_NONE, NULL);
        free(sr->buf);
        memcpy(sr->r.member_key, member_pk, OUTBOX_KEY_BYTES);
        assert_int_equal(receipt_sign(&sr->r, hub_sk->sign_sk, &sr->buf, &sr->len), 0);
}

/* A key rotation re-seals what is queued or in flight, all or nothing and
 * idempotently; the final records keep their envelope and receipt; the old
 * sealing key is refused from then on; the hub's receipt for an envelope it
 * stored before the rotation still applies, and only that one. */
static void test_reseal_pending(void **state)
{
        struct item it[4];
        struct outbox_new nw[4];
        struct outbox_due *due = NULL;
        struct outbox *ob = NULL;
        struct signed_receipt acc, sr;
        struct outbox_receipt in;
        struct reseal_calls calls = { 0, 0 };
        uint8_t old_pk[OUTBOX_KEY_BYTES], new_pk[OUTBOX_KEY_BYTES], other_pk[OUTBOX_KEY_BYTES];
        uint8_t renewed[4 + RESEAL_KEEP];
        size_t n = 0, resealed = 99, kept = 99;
        uint64_t seq, seqs[2];
        int result = 1;
        struct item late;
        struct outbox_new late_nw;
        char *dir = box_dir("reseal");

        (void)state;
        randombytes_buf(old_pk, sizeof(old_pk));
        randombytes_buf(new_pk, sizeof(new_pk));
        randombytes_buf(other_pk, sizeof(other_pk));
        make_items(it, nw, 4);
        make_items(&late, &late_nw, 1);
        assert_int_equal(outbox_open(&ob, dir, 0, 0), 0);
        /* Before any rotation every key is welcome. */
        assert_int_equal(outbox_put_sealed(ob, nw, 4, 1000, old_pk), 0);
        /* it[0] delivered, it[1] in flight, it[2] and it[3] queued. */
        assert_int_equal(outbox_next_due(ob, util_now_ms(), 2, &due, &n), 0);
        assert_int_equal(n, 2);
        seqs[0] = due[0].seq;
        seqs[1] = seq = due[1].seq;
        outbox_due_free(due, n);
        assert_int_equal(outbox_mark_in_flight(ob, seqs, 2), 0);
        make_receipt_for(&acc, it[0].id, it[0].env, sizeof(it[0].env), old_pk);
        in = as_input(&acc, false);
        assert_int_equal(outbox_apply_receipts(ob, &in, 1, util_now_ms(), &backoff, &result), 0);
        assert_int_equal(result, 0);
        expect_counts(ob, 2, 1, 1, 0);

        /* A failing re-seal changes nothing. */
        calls.fail_with = -EIO;
        assert_int_equal(outbox_reseal_pending(ob, old_pk, new_pk, fake_reseal, &calls, NULL,
                                               NULL), -EIO);
        for (int i = 0; i < 4; i++)
                assert_int_equal(get(ob, it[i].id).envelope_len, sizeof(it[i].env));
        assert_int_equal(outbox_put_sealed(ob, &late_nw, 1, 1000, old_pk), 0);

        /* Re-sealed: the three pending ones (the late one too), not the delivered. */
        calls.fail_with = 0;
        calls.calls = 0;
        assert_int_equal(outbox_reseal_pending(ob, old_pk, new_pk, fake_reseal, &calls,
                                               &resealed, &kept), 0);
        assert_int_equal(calls.calls, 4);
        assert_int_equal(resealed, 4);
        assert_int_equal(kept, 0);
        assert_int_equal(get(ob, it[0].id).envelope_len, sizeof(it[0].env));
        assert_int_equal(get(ob, it[0].id).receipt_len, acc.len);
        assert_memory_equal(get(ob, it[0].id).receipt, acc.buf, acc.len);
        for (int i = 1; i < 4; i++)
                assert_int_equal(get(ob, it[i].id).envelope_len, 4 + RESEAL_KEEP);
        assert_int_equal(get(ob, it[1].id).state, OUTBOX_IN_FLIGHT);
        assert_int_equal(get(ob, it[1].id).attempts, 1);
        assert_true(get(ob, it[1].id).seq == seq);
        assert_int_equal(get(ob, it[2].id).state, OUTBOX_QUEUED);
        assert_true(get(ob, it[2].id).queued_at_ms == 1000);
        expect_counts(ob, 3, 1, 1, 0);

        /* Again: everything is done already. */
        calls.calls = 0;
        assert_int_equal(outbox_reseal_pending(ob, old_pk, new_pk, fake_reseal, &calls,
                                               &resealed, &kept), 0);
        assert_int_equal(calls.calls, 4);
        assert_int_equal(resealed, 0);
        assert_int_equal(kept, 4);
        assert_int_equal(get(ob, it[2].id).envelope_len, 4 + RESEAL_KEEP);

        /* Envelopes sealed with the old key are refused now, all of a batch. */
        make_items(&late, &late_nw, 1);
        assert_int_equal(outbox_put_sealed(ob, &late_nw, 1, 2000, old_pk), -ESTALE);
        assert_int_equal(outbox_put_sealed(ob, &late_nw, 1, 2000, other_pk), -ESTALE);
        expect_counts(ob, 3, 1, 1, 0);
        assert_int_equal(outbox_put_sealed(ob, &late_nw, 1, 2000, new_pk), 0);
        expect_counts(ob, 4, 1, 1, 0);

        /* it[2] was never sent: only a receipt for its new envelope applies. */
        memcpy(renewed, "new:", 4);
        memcpy(renewed + 4, it[2].env, RESEAL_KEEP);
        make_receipt_for(&sr, it[2].id, it[2].env, sizeof(it[2].env), old_pk);
        in = as_input(&sr, true);
        in.former_key = true;
        assert_int_equal(outbox_apply_receipts(ob, &in, 1, util_now_ms(), &backoff, &result), 0);
        assert_int_equal(result, -EKEYREJECTED);
        in.former_key = false;
        assert_int_equal(outbox_apply_receipts(ob, &in, 1, util_now_ms(), &backoff, &result), 0);
        assert_int_equal(result, -EPROTO);
        free(sr.buf);
        make_receipt_for(&sr, it[2].id, renewed, sizeof(renewed), new_pk);
        in = as_input(&sr, false);
        assert_int_equal(outbox_apply_receipts(ob, &in, 1, util_now_ms(), &backoff, &result), 0);
        assert_int_equal(result, 0);
        assert_int_equal(get(ob, it[2].id).state, OUTBOX_DELIVERED);
        free(sr.buf);

        /* it[1] had been sent: the hub's receipt for the old envelope, naming
         * the old key, applies; with another key or hash it does not. */
        make_receipt_for(&sr, it[1].id, it[1].env, sizeof(it[1].env), other_pk);
        in = as_input(&sr, true);
        in.former_key = true;
        assert_int_equal(outbox_apply_receipts(ob, &in, 1, util_now_ms(), &backoff, &result), 0);
        assert_int_equal(result, -EKEYREJECTED);
        free(sr.buf);
        make_receipt_for(&sr, it[1].id, it[3].env, sizeof(it[3].env), old_pk);
        in = as_input(&sr, true);
        in.former_key = true;
        assert_int_equal(outbox_apply_receipts(ob, &in, 1, util_now_ms(), &backoff, &result), 0);
        assert_int_equal(result, -EKEYREJECTED);
        free(sr.buf);
        make_receipt_for(&sr, it[1].id, it[1].env, sizeof(it[1].env), old_pk);
        in = as_input(&sr, true);
        in.former_key = true;
        assert_int_equal(outbox_apply_receipts(ob, &in, 1, util_now_ms(), &backoff, &result), 0);
        assert_int_equal(result, 0);
        assert_int_equal(get(ob, it[1].id).state, OUTBOX_DELIVERED);
        assert_true(get(ob, it[1].id).duplicate);
        assert_memory_equal(get(ob, it[1].id).receipt, sr.buf, sr.len);
        expect_counts(ob, 3, 0, 3, 0);
        free(sr.buf);

        /* Reopened, the records still decode (former envelopes included). */
        outbox_free(ob);
        ob = NULL;
        assert_int_equal(outbox_open(&ob, dir, OUTBOX_AGENT, 0), 0);
        expect_counts(ob, 3, 0, 3, 0);
        assert_int_equal(outbox_put_sealed(ob, &late_nw, 1, 2000, old_pk), -ESTALE);
        outbox_free(ob);
        free(acc.buf);
        free(dir);
}

static void test_map_growth(void **state)
{
        enum { BATCH = 200, BATCHES = 5, ENV = 3000 };
        struct outbox_new *nw = calloc(BATCH, sizeof(*nw));
        uint8_t (*ids)[SIGNAL_ID_BYTES] = calloc(BATCH * BATCHES, SIGNAL_ID_BYTES);
        uint8_t *env = malloc(ENV);
        struct outbox_due *due = NULL;
        struct outbox *ob = NULL;
        struct stat st;
        size_t n = 0;
        char *dir = box_dir("growth"), *data;

        (void)state;
        assert_non_null(nw);
        assert_non_null(ids);
        assert_non_null(env);
        randombytes_buf(env, ENV);
        randombytes_buf(ids, (size_t)BATCH * BATCHES * SIGNAL_ID_BYTES);
        /* 64 KiB holds a handful of records; 1000 of 3 KB need about 4 MiB. */
        assert_int_equal(outbox_open(&ob, dir, 0, 64 * 1024), 0);
        for (size_t b = 0; b < BATCHES; b++) {
                for (size_t i = 0; i < BATCH; i++)
                        nw[i] = (struct outbox_new){ ids[b * BATCH + i], env, ENV };
                assert_int_equal(outbox_put_batch(ob, nw, BATCH, util_now_ms()), 0);
        }
        expect_counts(ob, BATCH * BATCHES, 0, 0, 0);
        assert_int_equal(outbox_next_due(ob, util_now_ms(), 1024, &due, &n), 0);
        assert_int_equal(n, BATCH * BATCHES);
        assert_memory_equal(due[n - 1].signal_id, ids[n - 1], SIGNAL_ID_BYTES);
        outbox_due_free(due, n);
        outbox_free(ob);

        data = util_path(dir, "data.mdb");
        assert_non_null(data);
        assert_int_equal(stat(data, &st), 0);
        assert_true(st.st_size > 3 * 1000 * 1000);

        /* Reopening with the small size keeps the grown map. */
        assert_int_equal(outbox_open(&ob, dir, 0, 64 * 1024), 0);
        expect_counts(ob, BATCH * BATCHES, 0, 0, 0);
        outbox_free(ob);
        free(data);
        free(env);
        free(ids);
        free(nw);
        free(dir);
}

/* Overwrites the value of record seq with len bytes of junk, behind the
 * outbox's back, through LMDB itself. */
static void corrupt_record(const char *dir, uint64_t seq, size_t len)
{
        MDB_env *env = NULL;
        MDB_txn *txn = NULL;
        MDB_dbi dbi;
        uint8_t key[8];
        uint8_t *junk = malloc(len);
        MDB_val k = { sizeof(key), key }, v = { len, junk };

        assert_non_null(junk);
        memset(junk, 0xff, len);
        for (int i = 7; i >= 0; i--) {
                key[i] = (uint8_t)(seq & 0xff);
                seq >>= 8;
        }
        assert_int_equal(mdb_env_create(&env), 0);
        assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
        assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
        assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
        assert_int_equal(mdb_dbi_open(txn, "records", 0, &dbi), 0);
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
        assert_int_equal(mdb_txn_commit(txn), 0);
        mdb_env_close(env);
        free(junk);
}

static void test_corrupt_record(void **state)
{
        struct item it[3];
        struct outbox_new nw[3];
        struct outbox_due *due = NULL;
        struct outbox *ob = NULL;
        struct outbox_counts c;
        struct order order = { { 0 }, 0 };
        struct signed_receipt acc;
        struct outbox_receipt in;
        uint64_t seq1;
        int result = 1;
        size_t n = 0;
        char *dir = box_dir("corrupt");

        (void)state;
        make_items(it, nw, 3);
        assert_int_equal(outbox_open(&ob, dir, 0, 0), 0);
        assert_int_equal(outbox_put_batch(ob, nw, 3, util_now_ms()), 0);
        seq1 = get(ob, it[0].id).seq;
        outbox_free(ob);
        ob = NULL;
        corrupt_record(dir, seq1, 40);
        corrupt_record(dir, seq1 + 1, OUTBOX_RECORD_MAX + 1);

        /* The agent's recovery and scans step over what they cannot read. */
        assert_int_equal(outbox_open(&ob, dir, OUTBOX_AGENT, 0), 0);
        assert_int_equal(outbox_foreach(ob, collect_order, &order), -EBADMSG);
        assert_int_equal(order.n, 1);
        assert_true(order.seqs[0] == seq1 + 2);
        assert_int_equal(outbox_counts(ob, &c), -EBADMSG);
        assert_int_equal(c.queued, 1);
        assert_int_equal(outbox_get(ob, it[0].id, copy_entry, &(struct seen){ 0 }), -EBADMSG);
        assert_int_equal(outbox_get(ob, it[1].id, copy_entry, &(struct seen){ 0 }), -EBADMSG);
        assert_int_equal(outbox_next_due(ob, util_now_ms(), 10, &due, &n), 0);
        assert_int_equal(n, 1);
        assert_memory_equal(due[0].signal_id, it[2].id, SIGNAL_ID_BYTES);
        outbox_due_free(due, n);

        /* Writes touching them fail softly, per record. */
        assert_int_equal(outbox_mark_in_flight(ob, &seq1, 1), 0);
        assert_int_equal(outbox_requeue(ob, &seq1, 1, util_now_ms(), &backoff, "x"), 0);
        make_receipt(&acc, it[0].id, it[0].env, sizeof(it[0].env),
                     NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED, NMO__REASON__REASON_NONE, NULL);
        in = as_input(&acc, false);
        assert_int_equal(outbox_apply_receipts(ob, &in, 1, util_now_ms(), &backoff, &result), 0);
        assert_int_equal(result, -EBADMSG);

        free(acc.buf);
        outbox_free(ob);
        free(dir);
}

/* What reaches the disk is the envelope, never the signal in clear. */
static void test_ciphertext_only(void **state)
{
        static const char marker[] = "PLAINTEXT-MARKER-gallium-refinery-Zhuzhou";
        struct keys_secret *member = NULL;
        struct outbox *ob = NULL;
        struct outbox_new nw;
        struct signal s;
        uint8_t *frame = NULL;
        size_t frame_len = 0, len = 0;
        char err[256], *data = NULL, *path;
        char *dir = box_dir("ciphertext");

        (void)state;
        assert_int_equal(keys_generate(&member, KEYS_ROLE_MEMBER, NULL), 0);
        signal_init(&s);
        assert_int_equal(signal_set(&s, "material", "gallium", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "event", "export-ban", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "severity", "high", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "country", "CN", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "note", marker, err, sizeof(err)), 0);
        assert_int_equal(signal_validate(&s, err, sizeof(err)), 0);
        assert_int_equal(envelope_seal(&s, member, hub_sk->pub.payload, NULL, &frame,
                                       &frame_len), 0);
        nw = (struct outbox_new){ s.id, frame, frame_len };
        assert_int_equal(outbox_open(&ob, dir, 0, 0), 0);
        assert_int_equal(outbox_put_batch(ob, &nw, 1, util_now_ms()), 0);
        outbox_free(ob);

        path = util_path(dir, "data.mdb");
        assert_non_null(path);
        assert_int_equal(util_read_file(path, (size_t)1 << 30, &data, &len), 0);
        assert_null(memmem(data, len, marker, strlen(marker)));
        assert_null(memmem(data, len, "export-ban", strlen("export-ban")));
        /* ... while the sealed frame itself is there. */
        assert_non_null(memmem(data, len, frame, frame_len));

        free(data);
        free(path);
        free(frame);
        keys_free(member);
        free(dir);
}

/* JSON Lines. */

struct jsonl_log {
        size_t lines[32];
        char messages[32][256];
        size_t n_errors;
        struct signal signals[8];
        size_t signal_lines[8];
        size_t n_signals;
};

static int on_signal(void *userdata, size_t line, const struct signal *s)
{
        struct jsonl_log *log = userdata;

        if (log->n_signals < NMO_ARRAY_SIZE(log->signals)) {
                log->signals[log->n_signals] = *s;
                log->signal_lines[log->n_signals++] = line;
        }
        return 0;
}

static void on_error(void *userdata, size_t line, const char *message)
{
        struct jsonl_log *log = userdata;

        if (log->n_errors < NMO_ARRAY_SIZE(log->lines)) {
                log->lines[log->n_errors] = line;
                snprintf(log->messages[log->n_errors], sizeof(log->messages[0]), "%s", message);
        }
        log->n_errors++;
}

static struct jsonl_log *parse(const char *text, size_t len, int want, size_t want_count)
{
        struct jsonl_log *log = calloc(1, sizeof(*log));
        struct jsonl_callbacks cb = { on_signal, on_error, log };
        size_t count = 99;

        assert_non_null(log);
        assert_int_equal(jsonl_parse(text, len, &cb, &count), want);
        assert_int_equal(count, want_count);
        return log;
}

#define BASE "\"material\":\"gallium\",\"event\":\"export-ban\",\"severity\":\"high\"," \
             "\"country\":\"CN\""

static void test_jsonl_good(void **state)
{
        static const char text[] =
                "{" BASE "}\n"
                "\n"
                "   \t\n"
                "{\"material\":\"germanium\",\"event\":\"export-licensing\",\"severity\":"
                "\"medium\",\"country\":\"CN\",\"volume\":120,\"duration-days\":\"30\","
                "\"share\":\"10-25\",\"note\":\"caf\\u00e9 supplier\"}\r\n"
                "  {" BASE ",\"duration-days\":14}  ";
        struct jsonl_log *log = parse(text, strlen(text), 0, 3);

        (void)state;
        assert_int_equal(log->n_errors, 0);
        assert_int_equal(log->n_signals, 3);
        assert_int_equal(log->signal_lines[0], 1);
        assert_int_equal(log->signal_lines[1], 4);
        assert_int_equal(log->signal_lines[2], 5);
        assert_string_equal(log->signals[0].material, "gallium");
        assert_int_equal(log->signals[0].severity, NMO__SEVERITY__SEVERITY_HIGH);
        assert_string_equal(log->signals[1].material, "germanium");
        assert_true(log->signals[1].volume_t == 120);
        assert_int_equal(log->signals[1].duration_days, 30);
        assert_int_equal(log->signals[1].share, NMO__SHARE__SHARE_10_25);
        assert_string_equal(log->signals[1].note, "caf\xc3\xa9 supplier");
        assert_int_equal(log->signals[2].duration_days, 14);
        /* Each signal has its own id. */
        assert_memory_not_equal(log->signals[0].id, log->signals[1].id, SIGNAL_ID_BYTES);
        free(log);

        /* Empty input is no error and no signal. */
        log = parse("", 0, 0, 0);
        free(log);
        log = parse("\n\n", 2, 0, 0);
        free(log);
}

static void test_jsonl_bad_lines(void **state)
{
        static const char text[] =
                "{" BASE "}\n"                                          /* 1 ok */
                "[1,2]\n"                                               /* 2 */
                "{" BASE ",\"colour\":\"red\"}\n"                       /* 3 */
                "{\"material\":\"gallium\",\"event\":\"export-ban\",\"severity\":3,"
                "\"country\":\"CN\"}\n"                                 /* 4 */
                "{" BASE ",\"volume\":1.5}\n"                           /* 5 */
                "{" BASE ",\"volume\":-3}\n"                            /* 6 */
                "{" BASE ",\"note\":null}\n"                            /* 7 */
                "{" BASE ",\"stage\":[\"trade\"]}\n"                    /* 8 */
                "{" BASE "} trailing\n"                                 /* 9 */
                "{\"material\":\"gallium\",\n"                          /* 10 */
                "\n"                                                    /* 11 blank */
                "{\"material\":\"gallium\",\"event\":\"export-ban\",\"severity\":\"high\"}\n"
                "{" BASE ",\"material\":\"unobtainium\"}\n"             /* 13 */
                "{" BASE ",\"note\":\"a\\u0000b\"}\n"                   /* 14 */
                "{" BASE ",\"duration-days\":\"0\"}\n"                  /* 15 */
                "{" BASE "}";                                           /* 16 ok */
        static const size_t want[] = { 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15 };
        struct jsonl_log *log = parse(text, strlen(text), -EINVAL, 2);

        (void)state;
        assert_int_equal(log->n_errors, NMO_ARRAY_SIZE(want));
        for (size_t i = 0; i < NMO_ARRAY_SIZE(want); i++)
                assert_int_equal(log->lines[i], want[i]);
        assert_string_equal(log->messages[0], "not a JSON object");
        assert_string_equal(log->messages[1], "unknown key \"colour\"");
        assert_string_equal(log->messages[2], "severity: expected a string");
        assert_string_equal(log->messages[3], "volume: expected a string or a whole number");
        assert_string_equal(log->messages[4], "volume: must be a positive whole number");
        assert_string_equal(log->messages[5], "note: expected a string");
        assert_string_equal(log->messages[6], "stage: expected a string");
        assert_non_null(strstr(log->messages[7], "not valid JSON"));
        assert_non_null(strstr(log->messages[8], "not valid JSON"));
        assert_string_equal(log->messages[9], "missing required field: country");
        assert_non_null(strstr(log->messages[10], "unobtainium"));
        assert_string_equal(log->messages[11], "note: NUL character in the value");
        assert_non_null(strstr(log->messages[12], "duration-days"));
        assert_int_equal(log->signal_lines[0], 1);
        assert_int_equal(log->signal_lines[1], 16);
        free(log);
}

/* A valid signal line padded with spaces inside the object to len bytes. */
static char *padded_line(size_t len)
{
        static const char head[] = "{" BASE;
        char *p = malloc(len + 2);

        assert_non_null(p);
        assert_true(len > sizeof(head));
        memcpy(p, head, sizeof(head) - 1);
        memset(p + sizeof(head) - 1, ' ', len - (sizeof(head) - 1) - 1);
        p[len - 1] = '}';
        p[len] = '\n';
        p[len + 1] = '\0';
        return p;
}

static void test_jsonl_long_lines(void **state)
{
        char *exact = padded_line(JSONL_LINE_MAX), *over = padded_line(JSONL_LINE_MAX + 1);
        char *crlf = padded_line(JSONL_LINE_MAX + 1);
        size_t big = 40000;
        char *text = malloc(strlen(exact) + strlen(over) + big + 200);
        struct jsonl_log *log;
        struct jsonl_callbacks cb;
        size_t count = 0, off = 0;
        FILE *f;

        (void)state;
        assert_non_null(text);
        /* Exactly JSONL_LINE_MAX bytes, and the same with a CR before the newline. */
        crlf[JSONL_LINE_MAX - 1] = '}';
        crlf[JSONL_LINE_MAX] = '\r';
        log = parse(exact, strlen(exact), 0, 1);
        free(log);
        log = parse(crlf, strlen(crlf), 0, 1);
        free(log);
        /* One byte more, with and without the final newline. */
        log = parse(over, strlen(over), -EINVAL, 0);
        assert_int_equal(log->n_errors, 1);
        assert_int_equal(log->lines[0], 1);
        assert_non_null(strstr(log->messages[0], "longer than 8192"));
        free(log);
        log = parse(over, strlen(over) - 1, -EINVAL, 0);
        assert_int_equal(log->n_errors, 1);
        free(log);

        /* Through a FILE: a line far longer than the read buffer, then good lines
         * whose numbers stay right. */
        memcpy(text + off, exact, strlen(exact));
        off += strlen(exact);
        memset(text + off, 'x', big);
        off += big;
        text[off++] = '\n';
        off += (size_t)sprintf(text + off, "{" BASE "}\n{" BASE "}");
        f = fmemopen(text, off, "r");
        assert_non_null(f);
        log = calloc(1, sizeof(*log));
        assert_non_null(log);
        cb = (struct jsonl_callbacks){ on_signal, on_error, log };
        assert_int_equal(jsonl_parse_file(f, &cb, &count), -EINVAL);
        fclose(f);
        assert_int_equal(count, 3);
        assert_int_equal(log->n_errors, 1);
        assert_int_equal(log->lines[0], 2);
        assert_int_equal(log->signal_lines[0], 1);
        assert_int_equal(log->signal_lines[1], 3);
        assert_int_equal(log->signal_lines[2], 4);
        free(log);

        free(text);
        free(exact);
        free(over);
        free(crlf);
}

static void test_jsonl_too_many_lines(void **state)
{
        size_t n = JSONL_LINES_MAX + 1;
        char *text = malloc(n);
        struct jsonl_log *log;

        (void)state;
        assert_non_null(text);
        memset(text, '\n', n);
        /* Exactly the limit is fine... */
        log = parse(text, n - 1, 0, 0);
        assert_int_equal(log->n_errors, 0);
        free(log);
        /* ... one line more is refused, once, at the first line too many. */
        log = parse(text, n, -EINVAL, 0);
        assert_int_equal(log->n_errors, 1);
        assert_int_equal(log->lines[0], JSONL_LINES_MAX + 1);
        free(log);
        free(text);
}

static void test_jsonl_line(void **state)
{
        static const char line[] = "{" BASE ",\"note-consent\":\"note-may-be-shared\","
                                   "\"note\":\"ok\"}";
        struct signal s;
        char err[256];

        (void)state;
        assert_int_equal(jsonl_parse_line(line, strlen(line), &s, err, sizeof(err)), 0);
        assert_int_equal(s.note_consent, NMO__NOTE_CONSENT__NOTE_CONSENT_MAY_BE_SHARED);
        /* Not NUL terminated: only len bytes count. */
        assert_int_equal(jsonl_parse_line(line, strlen(line) - 1, &s, err, sizeof(err)), -EINVAL);
        assert_int_equal(jsonl_parse_line("{\"a\":1}\0{}", 10, &s, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "NUL byte in the line");
        assert_int_equal(jsonl_parse_line("\"text\"", 6, &s, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "not a JSON object");
}

static int group_setup(void **state)
{
        (void)state;
        return keys_generate(&hub_sk, KEYS_ROLE_HUB, "test-hub") < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
        (void)state;
        keys_free(hub_sk);
        hub_sk = NULL;
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_receipts_must_fail),
                cmocka_unit_test(test_batch_all_or_nothing),
                cmocka_unit_test(test_reopen_and_agent),
                cmocka_unit_test(test_reseal_pending),
                cmocka_unit_test(test_map_growth),
                cmocka_unit_test(test_corrupt_record),
                cmocka_unit_test(test_ciphertext_only),
                cmocka_unit_test(test_jsonl_good),
                cmocka_unit_test(test_jsonl_bad_lines),
                cmocka_unit_test(test_jsonl_long_lines),
                cmocka_unit_test(test_jsonl_too_many_lines),
                cmocka_unit_test(test_jsonl_line),
        };
        int r;

        if (sodium_init() < 0)
                return 1;
        if (!unit_tmp_make(tmp_dir, sizeof(tmp_dir), "outbox"))
                return 1;
        r = cmocka_run_group_tests(tests, group_setup, group_teardown);
        if (unit_tmp_remove(tmp_dir) < 0)
                fprintf(stderr, "test-outbox: could not remove %s\n", tmp_dir);
        return r;
}
