/* test-lifecycle.c: the life of member keys at the real hub: enrolled with an
 * expiry, listed as expiring, refused once expired (on an open connection and
 * at the handshake), renewed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "date.h"
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

static void day_from_now(int days, char *buf, size_t len)
{
        date_str(date_day_of_ms(util_now_ms()) + days, buf, len);
}

static json_object *member_show(const char *name)
{
        char *argv[] = { (char *)h_hub_bin(), "member", "show", "--dir", hub.hub_dir,
                         (char *)name, "--json", NULL };

        return h_run_json(argv);
}

static int renew(const char *name, const char *when)
{
        char *argv[] = { (char *)h_hub_bin(), "member", "renew", "--dir", hub.hub_dir,
                         (char *)name, "--expires", (char *)when, NULL };

        return h_run(argv, NULL, NULL);
}

static void test_expiry(void **state)
{
        char *m = h_member_create(&hub, "expiring", false), *pub, date[16], *out = NULL;
        struct h_client c, again;
        struct receipt r;
        uint8_t *frame = NULL;
        size_t len = 0;
        bool dup;
        json_object *o, *v;

        (void)state;
        pub = util_path(m, "keys/member.key.pub");
        /* A date in the past is refused at enrolment. */
        {
                char *argv[] = { (char *)h_hub_bin(), "member", "add", "--dir", hub.hub_dir,
                                 "--name", "expiring", "--pub", pub, "--expires", "2020-01-01",
                                 NULL };
                assert_int_equal(h_run(argv, NULL, NULL), 1);
        }
        /* Only a strict YYYY-MM-DD is a date (common/date.h): a usage error. */
        {
                static const char *const lax[] = { "2030-+1-01", "2030-01- 1", " 2030-01-01",
                                                   "2030-02-30" };

                for (size_t i = 0; i < sizeof(lax) / sizeof(lax[0]); i++) {
                        char *argv[] = { (char *)h_hub_bin(), "member", "add", "--dir",
                                         hub.hub_dir, "--name", "expiring", "--pub", pub,
                                         "--expires", (char *)lax[i], NULL };

                        assert_int_equal(h_run(argv, NULL, NULL), 2);
                }
        }
        day_from_now(10, date, sizeof(date));
        {
                char *argv[] = { (char *)h_hub_bin(), "member", "add", "--dir", hub.hub_dir,
                                 "--name", "expiring", "--pub", pub, "--expires", date, NULL };
                assert_int_equal(h_run(argv, NULL, NULL), 0);
        }
        o = member_show("expiring");
        assert_true(json_object_object_get_ex(o, "expires", &v));
        assert_string_equal(json_object_get_string(v), date);
        assert_true(json_object_object_get_ex(o, "expiring_soon", &v));
        assert_true(json_object_get_boolean(v));
        json_object_put(o);
        {
                char *argv[] = { (char *)h_hub_bin(), "member", "list", "--dir", hub.hub_dir,
                                 NULL };
                assert_int_equal(h_run(argv, &out, NULL), 0);
                assert_non_null(strstr(out, "expires in"));
                free(out);
        }
        assert_true(h_hub_stat(&hub, "members_expiring_30d") >= 1);

        h_client_open(&c, &hub, m);
        h_client_seal(&c, "cobalt", &frame, &len, NULL);
        assert_int_equal(h_client_send(&c, frame, len, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        free(frame);

        /* Expired (the operator sets a past date): the next message on the
         * open connection is refused, with a reason the node retries. */
        assert_int_equal(renew("expiring", "2020-01-01"), 0);
        h_client_seal(&c, "cobalt", &frame, &len, NULL);
        assert_int_equal(h_client_send(&c, frame, len, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_REJECTED);
        assert_int_equal(r.reason, NMO__REASON__REASON_MEMBER_EXPIRED);
        assert_true(reason_is_temporary(r.reason));
        assert_true(h_hub_stat(&hub, "members_expired") >= 1);
        h_client_close(&c);
        /* And a new handshake is refused. */
        h_client_open(&again, &hub, m);
        assert_int_equal(h_client_send(&again, frame, len, 2000, &r, &dup), -ETIMEDOUT);
        h_client_close(&again);

        /* Renewed: the very same envelope goes through. */
        assert_int_equal(renew("expiring", "never"), 0);
        h_client_open(&again, &hub, m);
        assert_int_equal(h_client_send(&again, frame, len, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        h_client_close(&again);
        o = member_show("expiring");
        assert_true(json_object_object_get_ex(o, "expires", &v));
        assert_null(v);
        json_object_put(o);
        /* Bad dates are usage errors. */
        assert_int_equal(renew("expiring", "2026-02-30"), 2);
        assert_int_equal(renew("nobody", "never"), 1);
        free(frame);
        free(pub);
        free(m);
}

/* A member whose secret keys are protected by a passphrase: nothing works
 * without it, everything does with it from a file (unattended start). */
static void test_passphrase_protected_node(void **state)
{
        char *dir = util_path(hub.dir, "guarded"), *hub_pub = util_path(hub.hub_dir, "keys/hub.pub");
        char *pfile = util_path(hub.dir, "guarded-passphrase"), *key = NULL, *err = NULL;
        char *member_pub = util_path(dir, "keys/member.pub");
        char *argv_submit[] = { (char *)h_node_bin(), "submit", "--dir", dir, "--material",
                                "graphite", "--event", "export-licensing", "--severity", "high",
                                "--country", "CN", NULL };

        (void)state;
        assert_int_equal(util_write_file(pfile, "a long and secret passphrase\n", 29, 0600,
                                         false), 0);
        {
                char *argv[] = { (char *)h_node_bin(), "init", "--dir", dir, "--hub",
                                 hub.endpoint, "--alerts", hub.alerts_endpoint, "--hub-pub",
                                 hub_pub, "--name", "guarded", "--passphrase-file", pfile, NULL };
                assert_int_equal(h_run(argv, NULL, NULL), 0);
        }
        {
                size_t len = 0;
                char *path = util_path(dir, "keys/member.key");

                assert_int_equal(util_read_file(path, 65536, &key, &len), 0);
                assert_non_null(strstr(key, "protection: argon2id13"));
                assert_null(strstr(key, "payload-secret"));
                free(path);
        }
        {
                char *argv[] = { (char *)h_hub_bin(), "member", "add", "--dir", hub.hub_dir,
                                 "--name", "guarded", "--pub", member_pub, NULL };
                assert_int_equal(h_run(argv, NULL, NULL), 0);
        }
        /* No passphrase and no terminal: refused with a clear message. */
        unsetenv("NMO_PASSPHRASE_FILE");
        assert_int_equal(h_run(argv_submit, NULL, &err), 1);
        assert_non_null(strstr(err, "passphrase"));
        free(err);
        assert_int_equal(h_node_count(dir, "queued"), 0);

        /* With it in a file, as a service would run. */
        setenv("NMO_PASSPHRASE_FILE", pfile, 1);
        assert_int_equal(h_run(argv_submit, NULL, NULL), 0);
        assert_int_equal(h_node_run_once(dir, 30), 0);
        unsetenv("NMO_PASSPHRASE_FILE");
        assert_int_equal(h_node_count(dir, "delivered"), 1);
        free(key);
        free(member_pub);
        free(pfile);
        free(hub_pub);
        free(dir);
}

/* A member rotates its keys with a rotation sealed by its current ones: the
 * old keys stop working at once (the open connection, a new handshake, the
 * old payload key), the new ones work, and the operator sees the change. */
static void test_member_rotation_at_hub(void **state)
{
        char *m = h_member_create(&hub, "rotator", true), *next_dir, *next_key, *next_keys;
        struct keys_secret *next = NULL;
        struct h_client c, old_again, fresh;
        struct receipt r;
        uint8_t *frame = NULL, *rot = NULL, id[SIGNAL_ID_BYTES];
        size_t len = 0, rot_len = 0;
        char fp[KEYS_FINGERPRINT_LEN];
        json_object *o, *v;
        bool dup;

        (void)state;
        h_client_open(&c, &hub, m);
        h_client_seal(&c, "tungsten", &frame, &len, NULL);
        assert_int_equal(h_client_send(&c, frame, len, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        free(frame);

        /* The new keys, kept where a second client can find them. */
        assert_int_equal(keys_generate(&next, KEYS_ROLE_MEMBER, "rotator"), 0);
        next_dir = util_path(hub.dir, "rotator-next");
        next_keys = util_path(next_dir, "keys");
        assert_int_equal(util_mkdir_p(next_keys, 0700), 0);
        next_key = util_path(next_keys, "member.key");
        assert_int_equal(keys_save_secret(next, next_key), 0);

        assert_int_equal(envelope_seal_rotation(c.member, &next->pub, c.hub.payload, id, &rot,
                                                &rot_len), 0);
        assert_int_equal(h_client_send(&c, rot, rot_len, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        assert_memory_equal(r.signal_id, id, SIGNAL_ID_BYTES);
        assert_non_null(strstr(r.detail, "rotated"));

        /* The connection the old key opened is refused from now on. */
        h_client_seal(&c, "tungsten", &frame, &len, NULL);
        assert_int_equal(h_client_send(&c, frame, len, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_REJECTED);
        assert_int_equal(r.reason, NMO__REASON__REASON_MEMBER_REVOKED);
        h_client_close(&c);
        /* The old key no longer passes the handshake. */
        h_client_open(&old_again, &hub, m);
        assert_int_equal(h_client_send(&old_again, frame, len, 2000, &r, &dup), -ETIMEDOUT);
        h_client_close(&old_again);

        /* The new keys work; the old payload key does not, also on the new
         * connection; the rotation replayed changes nothing. */
        h_client_open(&fresh, &hub, next_dir);
        assert_int_equal(h_client_send(&fresh, frame, len, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.reason, NMO__REASON__REASON_SENDER_MISMATCH);
        assert_int_equal(h_client_send(&fresh, rot, rot_len, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_REJECTED);
        free(frame);
        h_client_seal(&fresh, "tungsten", &frame, &len, NULL);
        assert_int_equal(h_client_send(&fresh, frame, len, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        assert_memory_equal(r.member_key, next->pub.payload, KEYS_KEY_BYTES);
        h_client_close(&fresh);

        o = member_show("rotator");
        keys_fingerprint(&next->pub, fp);
        assert_true(json_object_object_get_ex(o, "fingerprint", &v));
        assert_string_equal(json_object_get_string(v), fp);
        assert_true(json_object_object_get_ex(o, "previous_fingerprint", &v));
        json_object_put(o);

        free(frame);
        free(rot);
        keys_free(next);
        free(next_key);
        free(next_keys);
        free(next_dir);
        free(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_expiry),
                cmocka_unit_test(test_passphrase_protected_node),
                cmocka_unit_test(test_member_rotation_at_hub),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("lifecycle", tests, setup, teardown);
}
