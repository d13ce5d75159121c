/* test-hubkey.c: the hub key announcement (proto/hubkey.c): signing and
 * verifying, with must-fail cases for every way it can be wrong; the Reply
 * field that carries it; and a node's adoption of it (node/hubrot.c):
 * a forged one changes nothing, a genuine one replaces hub.pub, keeps the
 * retired bundle and re-seals the queue to the new payload key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "envelope.h"
#include "hubkey.h"
#include "hubrot.h"
#include "node.h"
#include "outbox.h"
#include "receipt.h"
#include "signal.h"
#include "unit-tmp.h"

static struct keys_secret *old_hub, *new_hub, *attacker;

static int setup(void **state)
{
        (void)state;
        if (keys_generate(&old_hub, KEYS_ROLE_HUB, "hub") < 0 ||
            keys_generate(&new_hub, KEYS_ROLE_HUB, "hub") < 0 ||
            keys_generate(&attacker, KEYS_ROLE_HUB, NULL) < 0)
                return -1;
        memcpy(new_hub->pub.transport, old_hub->pub.transport, KEYS_KEY_BYTES);
        memcpy(new_hub->transport_sk, old_hub->transport_sk, KEYS_KEY_BYTES);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        keys_free(old_hub);
        keys_free(new_hub);
        keys_free(attacker);
        return 0;
}

static void announcement(struct hubkey_announcement *a, const struct keys_secret *from,
                         const struct keys_secret *to)
{
        memset(a, 0, sizeof(*a));
        memcpy(a->old_payload, from->pub.payload, KEYS_KEY_BYTES);
        memcpy(a->old_sign, from->pub.sign, KEYS_KEY_BYTES);
        memcpy(a->new_transport, to->pub.transport, KEYS_KEY_BYTES);
        memcpy(a->new_payload, to->pub.payload, KEYS_KEY_BYTES);
        memcpy(a->new_sign, to->pub.sign, KEYS_KEY_BYTES);
        a->created_ms = 1735689600000u;
        a->overlap_until_ms = util_now_ms() + 86400000u;
}

static void sign_genuine(uint8_t **buf, size_t *len)
{
        struct hubkey_announcement a;

        announcement(&a, old_hub, new_hub);
        assert_int_equal(hubkey_sign(&a, old_hub->sign_sk, new_hub->sign_sk, buf, len), 0);
}

static void test_sign_verify(void **state)
{
        struct hubkey_announcement a, got;
        uint8_t *buf = NULL;
        size_t len = 0;

        (void)state;
        announcement(&a, old_hub, new_hub);
        assert_int_equal(hubkey_sign(&a, old_hub->sign_sk, new_hub->sign_sk, &buf, &len), 0);
        assert_true(len <= HUBKEY_ANNOUNCEMENT_MAX);
        /* The size PROTOCOL.md 16.1 gives, while the times fit in 41 bits. */
        assert_int_equal(len, 321);
        assert_int_equal(hubkey_verify(buf, len, old_hub->pub.sign, &got), 0);
        assert_memory_equal(&got, &a, sizeof(a));
        assert_int_equal(hubkey_decode(buf, len, &got), 0);
        assert_memory_equal(&got, &a, sizeof(a));
        free(buf);
        /* The secret keys must belong to the keys announced. */
        assert_int_equal(hubkey_sign(&a, attacker->sign_sk, new_hub->sign_sk, &buf, &len),
                         -EINVAL);
        assert_int_equal(hubkey_sign(&a, old_hub->sign_sk, attacker->sign_sk, &buf, &len),
                         -EINVAL);
}

static void test_must_fail(void **state)
{
        struct hubkey_announcement a, got;
        uint8_t *buf = NULL, *forged = NULL, *copy;
        size_t len = 0, flen = 0;

        (void)state;
        sign_genuine(&buf, &len);
        /* Verified with another key than the old one. */
        assert_int_equal(hubkey_verify(buf, len, new_hub->pub.sign, &got), -EKEYREJECTED);
        assert_int_equal(hubkey_verify(buf, len, attacker->pub.sign, &got), -EKEYREJECTED);
        /* Signed by an unknown key that claims to be the old one: the body
         * names attacker as old_sign, a node holding old_hub refuses it. */
        announcement(&a, attacker, new_hub);
        memcpy(a.old_payload, old_hub->pub.payload, KEYS_KEY_BYTES);
        assert_int_equal(hubkey_sign(&a, attacker->sign_sk, new_hub->sign_sk, &forged, &flen), 0);
        assert_int_equal(hubkey_verify(forged, flen, old_hub->pub.sign, &got), -EKEYREJECTED);
        free(forged);
        copy = malloc(len);
        assert_non_null(copy);
        /* Every flipped byte fails, anywhere. */
        for (size_t i = 0; i < len; i++) {
                memcpy(copy, buf, len);
                copy[i] ^= 0x01;
                assert_true(hubkey_verify(copy, len, old_hub->pub.sign, &got) < 0);
        }
        /* Truncated anywhere. */
        for (size_t n = 0; n < len; n++)
                assert_true(hubkey_verify(buf, n, old_hub->pub.sign, &got) < 0);
        /* Garbage and oversize. */
        memset(copy, 0xff, len);
        assert_int_equal(hubkey_verify(copy, len, old_hub->pub.sign, &got), -EBADMSG);
        assert_int_equal(hubkey_verify(NULL, 0, old_hub->pub.sign, &got), -EBADMSG);
        assert_int_equal(hubkey_verify(buf, HUBKEY_ANNOUNCEMENT_MAX + 1, old_hub->pub.sign,
                                       &got), -EBADMSG);
        free(copy);
        /* Failures leave nothing behind. */
        assert_int_equal(hubkey_verify(buf, len - 1, old_hub->pub.sign, &got) < 0, 1);
        {
                static const uint8_t zero[sizeof(got)];

                assert_memory_equal(&got, zero, sizeof(got));
        }
        free(buf);
}

/* A small-order new payload key is refused even when properly signed. */
static void test_bad_new_key(void **state)
{
        struct hubkey_announcement a, got;
        uint8_t *buf = NULL;
        size_t len = 0;

        (void)state;
        announcement(&a, old_hub, new_hub);
        memset(a.new_payload, 0, KEYS_KEY_BYTES);
        assert_int_equal(hubkey_sign(&a, old_hub->sign_sk, new_hub->sign_sk, &buf, &len), 0);
        assert_int_equal(hubkey_verify(buf, len, old_hub->pub.sign, &got), -EBADMSG);
        free(buf);
}

/* Not a receipt and not an alert: the contexts differ. */
static void test_contexts(void **state)
{
        struct receipt r;
        uint8_t *buf = NULL, *frame = NULL, *ann = NULL, *sr = NULL;
        size_t len = 0, flen = 0, alen = 0, srlen = 0;
        bool dup;

        (void)state;
        memset(&r, 0, sizeof(r));
        r.status = NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED;
        assert_int_equal(receipt_sign(&r, old_hub->sign_sk, &sr, &srlen), 0);
        assert_true(hubkey_verify(sr, srlen, old_hub->pub.sign, &(struct hubkey_announcement){ 0 }) < 0);
        sign_genuine(&buf, &len);
        assert_true(receipt_verify(buf, len, old_hub->pub.sign, &r) < 0);
        /* The Reply carries it; old readers see the receipt alone. */
        assert_int_equal(hubkey_reply_pack(true, sr, srlen, buf, len, &frame, &flen), 0);
        assert_true(flen <= RECEIPT_MAX);
        assert_int_equal(hubkey_reply_get(frame, flen, &ann, &alen), 0);
        assert_int_equal(alen, len);
        assert_memory_equal(ann, buf, len);
        free(ann);
        {
                uint8_t *inner = NULL;
                size_t ilen = 0;

                assert_int_equal(reply_unpack(frame, flen, &dup, &inner, &ilen), 0);
                assert_true(dup);
                assert_int_equal(ilen, srlen);
                free(inner);
        }
        free(frame);
        /* Without one, none. */
        assert_int_equal(reply_pack(false, sr, srlen, &frame, &flen), 0);
        assert_int_equal(hubkey_reply_get(frame, flen, &ann, &alen), 0);
        assert_null(ann);
        free(frame);
        free(sr);
        free(buf);
}

static void write_node(const char *dir, struct keys_secret **member)
{
        char *keys = util_path(dir, "keys"), *mk = util_path(dir, "keys/member.key");
        char *hp = util_path(dir, "keys/hub.pub");

        assert_int_equal(util_mkdir_p(keys, 0700), 0);
        assert_int_equal(keys_generate(member, KEYS_ROLE_MEMBER, "m"), 0);
        assert_int_equal(keys_save_secret(*member, mk), 0);
        assert_int_equal(keys_save_public(&old_hub->pub, hp), 0);
        free(keys);
        free(mk);
        free(hp);
}

static void test_node_adoption(void **state)
{
        char tmp[PATH_MAX], err[256], *ob_dir;
        struct keys_secret *member = NULL;
        struct hubkey_announcement a;
        struct node *n = NULL;
        struct outbox *ob = NULL;
        struct outbox_new nw;
        struct signal s;
        struct outbox_due *due = NULL;
        uint8_t *frame = NULL, *buf = NULL, *forged = NULL, kid[ENVELOPE_KEY_ID_BYTES];
        uint8_t want[ENVELOPE_KEY_ID_BYTES];
        size_t len = 0, blen = 0, flen = 0, ndue = 0, resealed = 0;

        (void)state;
        assert_non_null(unit_tmp_make(tmp, sizeof(tmp), "hubkey"));
        write_node(tmp, &member);
        assert_int_equal(node_new(&n, tmp), 0);
        assert_int_equal(node_load(n, NODE_LOAD_KEYS, err, sizeof(err)), 0);
        assert_false(n->has_hub_ann);
        ob_dir = n->outbox_path;
        assert_int_equal(outbox_open(&ob, ob_dir, OUTBOX_AGENT, 0), 0);
        /* One signal queued, sealed to the old hub key. */
        signal_init(&s);
        assert_int_equal(signal_set(&s, "material", "gallium", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "event", "export-ban", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "severity", "high", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "country", "CN", err, sizeof(err)), 0);
        assert_int_equal(envelope_seal(&s, member, old_hub->pub.payload, NULL, &frame, &len), 0);
        nw = (struct outbox_new){ s.id, frame, len };
        assert_int_equal(outbox_put_batch(ob, &nw, 1, util_now_ms()), 0);

        /* Forged: signed by an unknown key. Nothing changes. */
        announcement(&a, attacker, new_hub);
        memcpy(a.old_payload, old_hub->pub.payload, KEYS_KEY_BYTES);
        assert_int_equal(hubkey_sign(&a, attacker->sign_sk, new_hub->sign_sk, &forged, &flen), 0);
        assert_int_equal(hubrot_handle(n, ob, forged, flen, true, NULL, err, sizeof(err)),
                         -EKEYREJECTED);
        /* Genuine signer, but it retires another payload key than ours. */
        free(forged);
        announcement(&a, old_hub, new_hub);
        memcpy(a.old_payload, attacker->pub.payload, KEYS_KEY_BYTES);
        assert_int_equal(hubkey_sign(&a, old_hub->sign_sk, new_hub->sign_sk, &forged, &flen), 0);
        assert_int_equal(hubrot_handle(n, ob, forged, flen, true, NULL, err, sizeof(err)),
                         -EKEYREJECTED);
        assert_true(keys_public_equal(&n->hub, &old_hub->pub));
        assert_int_equal(access(n->hub_ann_path, F_OK), -1);
        assert_int_equal(access(n->hub_prev_path, F_OK), -1);

        /* Genuine: adopted, files written, the queue re-sealed. */
        sign_genuine(&buf, &blen);
        assert_int_equal(hubrot_handle(n, ob, buf, blen, false, &resealed, err, sizeof(err)),
                         HUBROT_ADOPTED);
        assert_int_equal(resealed, 1);
        assert_true(keys_public_equal(&n->hub, &new_hub->pub));
        assert_true(n->has_hub_prev);
        assert_true(keys_public_equal(&n->hub_prev, &old_hub->pub));
        assert_int_equal(outbox_next_due(ob, util_now_ms() + 1000, 8, &due, &ndue), 0);
        assert_int_equal(ndue, 1);
        assert_true(envelope_peek_hub_key_id(due[0].envelope, due[0].envelope_len, kid));
        envelope_key_id(new_hub->pub.payload, want);
        assert_memory_equal(kid, want, sizeof(kid));
        outbox_due_free(due, ndue);
        /* Again: the keys it holds already. */
        assert_int_equal(hubrot_handle(n, ob, buf, blen, true, &resealed, err, sizeof(err)),
                         HUBROT_CURRENT);
        assert_int_equal(resealed, 0);
        /* A fresh load sees the adoption from the files. */
        node_free(n);
        n = NULL;
        assert_int_equal(node_new(&n, tmp), 0);
        assert_int_equal(node_load(n, NODE_LOAD_KEYS, err, sizeof(err)), 0);
        assert_true(keys_public_equal(&n->hub, &new_hub->pub));
        assert_true(n->has_hub_ann && n->has_hub_prev);

        outbox_free(ob);
        node_free(n);
        keys_free(member);
        free(frame);
        free(buf);
        free(forged);
        assert_int_equal(unit_tmp_remove(tmp), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sign_verify),
                cmocka_unit_test(test_must_fail),
                cmocka_unit_test(test_bad_new_key),
                cmocka_unit_test(test_contexts),
                cmocka_unit_test(test_node_adoption),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("hubkey", tests, setup, teardown);
}
