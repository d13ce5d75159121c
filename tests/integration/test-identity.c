/* test-identity.c: one identity per key. The real nmo-hub, nmo-node and
 * nmo-keys against members who try to pass another member's report off as
 * their own (a rotation to the victim's payload key, an enrolment with it,
 * then the victim's captured envelope replayed over their own connection),
 * and every door that must refuse unusable keys, a bundle whose two keys are
 * one, and a secret key file given where a public bundle belongs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "envelope.h"
#include "harness.h"
#include "util.h"

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

static const char *analyst_bin(void)
{
        const char *p = getenv("NMO_ANALYST");

        return p && *p ? p : "nmo-analyst";
}

/* The analytics cells of material that analysts see as released, after the
 * hub's clock has passed the next release point. */
static int released_cells(const char *material)
{
        char *store = util_path(hub.hub_dir, "analytics");
        char *argv[] = { (char *)analyst_bin(), "--store", store, "cells", "--json", NULL };
        int released = 0;

        h_hub_release(&hub);
        {
                json_object *cells = h_run_json(argv);

                assert_non_null(cells);
                for (size_t i = 0; i < json_object_array_length(cells); i++) {
                        json_object *c = json_object_array_get_idx(cells, i), *m, *st, *rep;

                        if (!json_object_object_get_ex(c, "material", &m) ||
                            strcmp(json_object_get_string(m), material) != 0 ||
                            !json_object_object_get_ex(c, "status", &st) ||
                            strcmp(json_object_get_string(st), "released") != 0)
                                continue;
                        released++;
                        if (json_object_object_get_ex(c, "reporters", &rep))
                                fprintf(stderr, "released cell of %s with %d reporters\n",
                                        material, json_object_get_int(rep));
                }
                json_object_put(cells);
        }
        free(store);
        return released;
}

/* Sends frame over c; returns the receipt's status (0 when nothing came
 * back, as when the hub no longer admits the connection's key). */
static int send_status(struct h_client *c, const uint8_t *frame, size_t len, struct receipt *r)
{
        bool dup = false;

        memset(r, 0, sizeof(*r));
        if (h_client_send(c, frame, len, WAIT_MS, r, &dup) < 0)
                return 0;
        return dup ? -1 : (int)r->status;
}

/* The victim delivers one report of material; returns its envelope. */
static void victim_reports(const char *victim_dir, const char *material, uint8_t **frame,
                           size_t *len)
{
        struct h_client v;
        struct receipt r;

        h_client_open(&v, &hub, victim_dir);
        h_client_seal(&v, material, frame, len, NULL);
        assert_int_equal(send_status(&v, *frame, *len, &r), NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        h_client_close(&v);
}

/* Secret keys with a fresh transport key pair and someone else's payload
 * public key (its secret is not needed to replay that someone's envelopes). */
static struct keys_secret *thief_keys(const uint8_t victim_payload[KEYS_KEY_BYTES])
{
        struct keys_secret *k = NULL;

        assert_int_equal(keys_generate(&k, KEYS_ROLE_MEMBER, NULL), 0);
        memcpy(k->pub.payload, victim_payload, KEYS_KEY_BYTES);
        sodium_memzero(k->payload_sk, KEYS_KEY_BYTES);
        return k;
}

/* Two members announce a key rotation to the victim's payload key, then
 * replay the victim's one captured envelope over their own connections (with
 * the new keys if the hub took them). The rotations and the replays are
 * refused; one report is stored, and analysts see no cell of three
 * reporters. */
static void test_rotation_takeover_refused(void **state)
{
        char *victim = h_member_create(&hub, "rot-victim", true);
        char *thieves[2] = { h_member_create(&hub, "rot-thief-1", true),
                             h_member_create(&hub, "rot-thief-2", true) };
        int64_t stored0 = h_hub_stat(&hub, "signals_stored");
        struct keys_public victim_pk;
        uint8_t *frame = NULL;
        size_t len = 0;
        int rotated = 0, replayed = 0;

        (void)state;
        victim_reports(victim, "tungsten", &frame, &len);
        {
                char *pub = util_path(victim, "keys/member.key.pub"), err[256];

                assert_int_equal(keys_load_public(&victim_pk, pub, err, sizeof(err)), 0);
                free(pub);
        }
        for (int i = 0; i < 2; i++) {
                struct keys_secret *next = thief_keys(victim_pk.payload);
                struct h_client c;
                struct receipt r;
                uint8_t *rot = NULL, id[SIGNAL_ID_BYTES];
                size_t rot_len = 0;
                int st;

                h_client_open(&c, &hub, thieves[i]);
                assert_int_equal(envelope_seal_rotation(c.member, &next->pub, c.hub.payload, id,
                                                        &rot, &rot_len), 0);
                st = send_status(&c, rot, rot_len, &r);
                if (st == NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED) {
                        /* The hub took the victim's key: reconnect with the new keys. */
                        rotated++;
                        h_client_close(&c);
                        h_client_open_keys(&c, &hub, next);
                } else {
                        assert_int_equal(st, NMO__RECEIPT_STATUS__RECEIPT_REJECTED);
                        assert_int_equal(r.reason, NMO__REASON__REASON_INVALID_SIGNAL);
                        assert_non_null(strstr(r.detail, "used before"));
                }
                if (send_status(&c, frame, len, &r) == NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED)
                        replayed++;
                else if (!rotated)
                        assert_int_equal(r.reason, NMO__REASON__REASON_SENDER_MISMATCH);
                h_client_close(&c);
                free(rot);
                keys_free(next);
        }
        assert_int_equal(rotated, 0);
        assert_int_equal(replayed, 0);
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), stored0 + 1);
        assert_int_equal(released_cells("tungsten"), 0);
        free(frame);
        free(victim);
        free(thieves[0]);
        free(thieves[1]);
}

/* The same with a sign-public line when sign is not NULL (a hub bundle). */
static char *write_bundle_signed(const char *dir, const char *name, const char *role,
                                 const uint8_t transport[KEYS_KEY_BYTES],
                                 const uint8_t payload[KEYS_KEY_BYTES], const uint8_t *sign)
{
        char t64[64], p64[64], s64[64] = "", sline[80] = "", text[512];
        char *path = util_path(dir, name);

        sodium_bin2base64(t64, sizeof(t64), transport, KEYS_KEY_BYTES,
                          sodium_base64_VARIANT_ORIGINAL);
        sodium_bin2base64(p64, sizeof(p64), payload, KEYS_KEY_BYTES,
                          sodium_base64_VARIANT_ORIGINAL);
        if (sign) {
                sodium_bin2base64(s64, sizeof(s64), sign, KEYS_KEY_BYTES,
                                  sodium_base64_VARIANT_ORIGINAL);
                snprintf(sline, sizeof(sline), "sign-public: %s\n", s64);
        }
        snprintf(text, sizeof(text),
                 "nmo-signal key v1\nrole: %s\nkind: public\ntransport-public: %s\n"
                 "payload-public: %s\n%s", role, t64, p64, sline);
        assert_int_equal(util_write_file(path, text, strlen(text), 0644, false), 0);
        return path;
}

/* Writes a member bundle with the given keys as text, the way no tool of
 * this project would write it. */
static char *write_bundle(const char *dir, const char *name, const char *role,
                          const uint8_t transport[KEYS_KEY_BYTES],
                          const uint8_t payload[KEYS_KEY_BYTES])
{
        return write_bundle_signed(dir, name, role, transport, payload, NULL);
}

/* nmo-hub member add NAME --pub PATH; returns the exit status, stderr in *err. */
static int member_add(const char *name, const char *pub, char **err)
{
        char *argv[] = { (char *)h_hub_bin(), "member", "add", "--dir", hub.hub_dir, "--name",
                         (char *)name, "--pub", (char *)pub, NULL };

        return h_run(argv, NULL, err);
}

/* Two bundles of fresh transport keys and the victim's payload key are
 * enrolled as two members, who replay the victim's envelope: the enrolment
 * is refused, naming the member whose key it is, and analysts see no cell of
 * three reporters. */
static void test_member_add_foreign_payload_key(void **state)
{
        char *victim = h_member_create(&hub, "add-victim", true);
        int64_t stored0 = h_hub_stat(&hub, "signals_stored");
        struct keys_public victim_pk;
        uint8_t *frame = NULL;
        size_t len = 0;
        int enrolled = 0, replayed = 0;

        (void)state;
        victim_reports(victim, "gallium", &frame, &len);
        {
                char *pub = util_path(victim, "keys/member.key.pub"), e[256];

                assert_int_equal(keys_load_public(&victim_pk, pub, e, sizeof(e)), 0);
                free(pub);
        }
        for (int i = 0; i < 2; i++) {
                struct keys_secret *k = thief_keys(victim_pk.payload);
                char name[32], *path, *err = NULL;
                struct h_client c;
                struct receipt r;

                snprintf(name, sizeof(name), "add-thief-%d", i);
                path = write_bundle(hub.dir, name, "member", k->pub.transport, k->pub.payload);
                if (member_add(name, path, &err) == 0) {
                        enrolled++;
                        h_client_open_keys(&c, &hub, k);
                        if (send_status(&c, frame, len, &r) ==
                            NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED)
                                replayed++;
                        h_client_close(&c);
                } else {
                        assert_non_null(strstr(err, "payload key is the current payload key of "
                                                    "member add-victim"));
                }
                free(err);
                free(path);
                keys_free(k);
        }
        assert_int_equal(enrolled, 0);
        assert_int_equal(replayed, 0);
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), stored0 + 1);
        assert_int_equal(released_cells("gallium"), 0);
        free(frame);
        free(victim);
}

/* Expects status 1 and every one of the words in stderr. (Call with the
 * status already in a variable: argument order is unspecified.) */
static void expect_refused(int rc, const char *err, const char *const *words)
{
        if (rc != 1)
                fail_msg("expected exit status 1, got %d (%s)", rc, err ? err : "");
        for (; *words; words++)
                if (!err || !strstr(err, *words))
                        fail_msg("\"%s\" not in: %s", *words, err ? err : "(nothing)");
}

/* nmo-hub member add refuses bundles with unusable keys or one key twice,
 * naming what is wrong, and enrols nothing. */
static void test_member_add_unusable_keys(void **state)
{
        static const uint8_t zero[KEYS_KEY_BYTES];
        /* A point of order 8: X25519 with it gives zeros whatever the scalar. */
        static const uint8_t order8[KEYS_KEY_BYTES] = {
                0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f,
                0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16,
                0x5f, 0x49, 0xb8, 0x00,
        };
        static const char *const zero_words[] = { "payload-public is all zeros", NULL };
        static const char *const order_words[] = { "transport-public", "small order", NULL };
        static const char *const same_words[] = { "transport-public and payload-public are "
                                                  "the same key", NULL };
        struct keys_secret *k = NULL;
        char *path, *err = NULL;
        int64_t members0 = h_hub_stat(&hub, "members_active");
        int rc;

        (void)state;
        assert_int_equal(keys_generate(&k, KEYS_ROLE_MEMBER, NULL), 0);
        path = write_bundle(hub.dir, "zero.pub", "member", k->pub.transport, zero);
        rc = member_add("zero-payload", path, &err);
        expect_refused(rc, err, zero_words);
        free(err);
        free(path);
        path = write_bundle(hub.dir, "order8.pub", "member", order8, k->pub.payload);
        rc = member_add("small-order", path, &err);
        expect_refused(rc, err, order_words);
        free(err);
        free(path);
        path = write_bundle(hub.dir, "same.pub", "member", k->pub.transport, k->pub.transport);
        rc = member_add("same-keys", path, &err);
        expect_refused(rc, err, same_words);
        free(err);
        free(path);
        assert_int_equal(h_hub_stat(&hub, "members_active"), members0);
        keys_free(k);
}

/* A secret key file where a public bundle belongs: nmo-hub member add --pub
 * member.key and nmo-node init --hub-pub hub.key refuse it and say that its
 * secrets may have leaked. nmo-node init refuses a hub bundle with an
 * unusable key too. */
static void test_secret_file_as_bundle(void **state)
{
        static const char *const words[] = { "secret key file", "not a public bundle",
                                             "leaked", "rotate", NULL };
        static const uint8_t zero[KEYS_KEY_BYTES];
        static const char *const zero_words[] = { "payload-public is all zeros", NULL };
        char *m = h_member_create(&hub, "leaky", false);
        char *key = util_path(m, "keys/member.key"), *err = NULL;
        char *hub_key = util_path(hub.hub_dir, "keys/hub.key");
        char *node = util_path(hub.dir, "leaky-node"), *bad_hub;
        struct keys_public hub_pk;
        int rc;

        (void)state;
        rc = member_add("leaky", key, &err);
        expect_refused(rc, err, words);
        free(err);
        err = NULL;
        {
                char *argv[] = { (char *)h_node_bin(), "init", "--dir", node, "--hub",
                                 hub.endpoint, "--hub-pub", hub_key, NULL };

                rc = h_run(argv, NULL, &err);
                expect_refused(rc, err, words);
                free(err);
                err = NULL;
        }
        {
                char *pub = util_path(hub.hub_dir, "keys/hub.pub"), e[256];

                assert_int_equal(keys_load_public(&hub_pk, pub, e, sizeof(e)), 0);
                free(pub);
        }
        bad_hub = write_bundle_signed(hub.dir, "bad-hub.pub", "hub", hub_pk.transport, zero,
                                      hub_pk.sign);
        {
                char *argv[] = { (char *)h_node_bin(), "init", "--dir", node, "--hub",
                                 hub.endpoint, "--hub-pub", bad_hub, NULL };

                rc = h_run(argv, NULL, &err);
                expect_refused(rc, err, zero_words);
                free(err);
        }
        free(bad_hub);
        free(node);
        free(hub_key);
        free(key);
        free(m);
}

/* nmo-node rotate-keys with new keys that reuse a current one (here the
 * current payload key as the new transport key) refuses before anything
 * reaches the hub, and the member keeps its keys. */
static void test_node_rotation_reusing_key(void **state)
{
        static const char *const words[] = { "reuses a current key", NULL };
        char *node = h_node_create(&hub, "reuser", true);
        char *key = util_path(node, "keys/member.key");
        char *next_path = util_path(node, "keys/member.key.next"), *err = NULL, e[256];
        struct keys_secret *cur = NULL, *next = NULL, *after = NULL;
        int rc;

        (void)state;
        assert_int_equal(keys_load_secret(&cur, key, e, sizeof(e)), 0);
        assert_int_equal(keys_generate(&next, KEYS_ROLE_MEMBER, NULL), 0);
        memcpy(next->transport_sk, cur->payload_sk, KEYS_KEY_BYTES);
        memcpy(next->pub.transport, cur->pub.payload, KEYS_KEY_BYTES);
        assert_int_equal(keys_save_secret(next, next_path), 0);
        {
                char *argv[] = { (char *)h_node_bin(), "rotate-keys", "--dir", node,
                                 "--timeout", "10", NULL };

                rc = h_run(argv, NULL, &err);
                expect_refused(rc, err, words);
        }
        assert_int_equal(keys_load_secret(&after, key, e, sizeof(e)), 0);
        assert_true(keys_public_equal(&after->pub, &cur->pub));
        free(err);
        keys_free(cur);
        keys_free(next);
        keys_free(after);
        free(next_path);
        free(key);
        free(node);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rotation_takeover_refused),
                cmocka_unit_test(test_member_add_foreign_payload_key),
                cmocka_unit_test(test_member_add_unusable_keys),
                cmocka_unit_test(test_secret_file_as_bundle),
                cmocka_unit_test(test_node_rotation_reusing_key),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("identity", tests, setup, teardown);
}
