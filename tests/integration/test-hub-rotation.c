/* test-hub-rotation.c: `nmo-hub rotate-keys` against the real hub and
 * nodes: signals queued while the hub was down and sealed to the old key are
 * delivered once after the rotation; the node adopts the new hub bundle from
 * the announcement in the hub's reply; receipts after that verify with the new
 * key; old-key envelopes are accepted during the overlap and refused with
 * unknown-hub-key after it (where an up-to-date node still re-seals and
 * delivers); a forged announcement changes nothing; and the hub destroys the
 * previous keys when the overlap has ended. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
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
#include "hubkey.h"
#include "util.h"

#define MAX_SIGNALS 16
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

static void load_pub(const char *dir, const char *name, struct keys_public *pk)
{
        char *path = util_path(dir, name), err[256];

        assert_int_equal(keys_load_public(pk, path, err, sizeof(err)), 0);
        free(path);
}

static bool exists(const char *dir, const char *name)
{
        char *path = util_path(dir, name);
        bool yes = access(path, F_OK) == 0;

        free(path);
        return yes;
}

static void read_bytes(const char *dir, const char *name, char **data, size_t *len)
{
        char *path = util_path(dir, name);

        assert_int_equal(util_read_file(path, 65536, data, len), 0);
        free(path);
}

static void write_bytes(const char *dir, const char *name, const void *data, size_t len)
{
        char *path = util_path(dir, name);

        assert_int_equal(util_write_file(path, data, len, 0644, false), 0);
        free(path);
}

/* nmo-hub rotate-keys --dir HUB EXTRA...; returns the exit status. */
static int rotate(const char *extra1, const char *extra2, char **out, char **err)
{
        char *argv[] = { (char *)h_hub_bin(), "rotate-keys", "--dir", hub.hub_dir,
                         (char *)extra1, (char *)extra2, NULL };

        return h_run(argv, out, err);
}

/* nmo-node run --once --timeout SECONDS; its log into *log. */
static int run_for(const char *dir, const char *seconds, char **log)
{
        char *argv[] = { (char *)h_node_bin(), "run", "--dir", (char *)dir, "--once",
                         "--timeout", (char *)seconds, "-v", NULL };

        return h_run(argv, NULL, log);
}

static int run_once(const char *dir, char **log)
{
        return run_for(dir, "30", log);
}

static void submit_n(const char *dir, int n, char ids[][SIGNAL_ID_HEX], int *count)
{
        static const char *materials[] = { "gallium", "germanium", "lithium", "nickel" };

        for (int i = 0; i < n; i++) {
                const char *id = h_node_submit(dir, materials[i % 4]);

                assert_non_null(id);
                assert_true(*count < MAX_SIGNALS);
                snprintf(ids[(*count)++], SIGNAL_ID_HEX, "%s", id);
        }
}

/* The status JSON of a node (caller json_object_put). */
static json_object *status_of(const char *dir)
{
        char *argv[] = { (char *)h_node_bin(), "status", "--dir", (char *)dir, "--json", NULL };
        json_object *st = h_run_json(argv);

        assert_non_null(st);
        return st;
}

static const char *json_str(json_object *o, const char *key)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !v)
                return NULL;
        return json_object_get_string(v);
}

/* Checks the receipt of every signal of ids at dir: delivered, and its
 * signature verifies with sign_pk (ids[first..n)). */
static void check_receipts(const char *dir, char ids[][SIGNAL_ID_HEX], int first, int n,
                           const uint8_t *sign_pk)
{
        json_object *st = status_of(dir), *sigs;
        int found = 0;

        assert_true(json_object_object_get_ex(st, "signals", &sigs));
        for (size_t i = 0; i < json_object_array_length(sigs); i++) {
                json_object *s = json_object_array_get_idx(sigs, i), *rec;
                uint8_t bin[RECEIPT_MAX];
                size_t bin_len = 0;
                const char *id = json_str(s, "id"), *b64;
                struct receipt r;
                bool wanted = false;

                for (int k = first; k < first + n; k++)
                        wanted |= strcmp(ids[k], id) == 0;
                if (!wanted)
                        continue;
                assert_string_equal(json_str(s, "state"), "delivered");
                assert_true(json_object_object_get_ex(s, "receipt", &rec));
                b64 = json_str(rec, "signed");
                assert_non_null(b64);
                assert_int_equal(sodium_base642bin(bin, sizeof(bin), b64, strlen(b64), NULL,
                                                   &bin_len, NULL,
                                                   sodium_base64_VARIANT_ORIGINAL), 0);
                assert_int_equal(receipt_verify(bin, bin_len, sign_pk, &r), 0);
                assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
                found++;
        }
        assert_int_equal(found, n);
        json_object_put(st);
}

/* Sends one frame with the raw client and returns the raw Reply. */
static void raw_exchange(struct h_client *c, const uint8_t *frame, size_t len, uint8_t *reply,
                         size_t *reply_len)
{
        zmq_pollitem_t pi = { c->sock, 0, ZMQ_POLLIN, 0 };
        int n;

        assert_true(zmq_send(c->sock, frame, len, 0) == (int)len);
        assert_true(zmq_poll(&pi, 1, WAIT_MS) == 1);
        n = zmq_recv(c->sock, reply, RECEIPT_MAX, 0);
        assert_true(n > 0 && n <= RECEIPT_MAX);
        *reply_len = (size_t)n;
}

/* Seals a signal to the hub key in c->hub, sends it and checks the reply:
 * signed by sign_pk, with status/reason, and the announcement attached. */
static void old_key_envelope(struct h_client *c, const uint8_t *sign_pk, Nmo__ReceiptStatus status,
                             Nmo__Reason reason, const struct keys_public *new_pk)
{
        uint8_t id[SIGNAL_ID_BYTES], reply[RECEIPT_MAX], *frame = NULL, *sr = NULL, *ann = NULL;
        size_t len = 0, reply_len = 0, sr_len = 0, ann_len = 0;
        struct hubkey_announcement a;
        struct receipt r;
        bool dup;

        h_client_seal(c, "tungsten", &frame, &len, id);
        raw_exchange(c, frame, len, reply, &reply_len);
        assert_int_equal(reply_unpack(reply, reply_len, &dup, &sr, &sr_len), 0);
        assert_int_equal(receipt_verify(sr, sr_len, sign_pk, &r), 0);
        assert_int_equal(r.status, status);
        assert_int_equal(r.reason, reason);
        assert_memory_equal(r.signal_id, id, SIGNAL_ID_BYTES);
        assert_int_equal(hubkey_reply_get(reply, reply_len, &ann, &ann_len), 0);
        assert_non_null(ann);
        assert_int_equal(hubkey_verify(ann, ann_len, c->hub.sign, &a), 0);
        assert_memory_equal(a.new_payload, new_pk->payload, KEYS_KEY_BYTES);
        assert_memory_equal(a.new_sign, new_pk->sign, KEYS_KEY_BYTES);
        free(ann);
        free(sr);
        free(frame);
}

/* An announcement of the hub's real new keys, but signed by another "old"
 * key than the one members hold. */
static void forge_announcement(const struct keys_public *old_pk, uint8_t **out, size_t *len)
{
        char *path = util_path(hub.hub_dir, "keys/hub.key"), err[256];
        struct keys_secret *real_new = NULL, *attacker = NULL;
        struct hubkey_announcement a;

        assert_int_equal(keys_load_secret(&real_new, path, err, sizeof(err)), 0);
        assert_int_equal(keys_generate(&attacker, KEYS_ROLE_HUB, NULL), 0);
        memset(&a, 0, sizeof(a));
        memcpy(a.old_payload, old_pk->payload, KEYS_KEY_BYTES);
        memcpy(a.old_sign, attacker->pub.sign, KEYS_KEY_BYTES);
        memcpy(a.new_transport, real_new->pub.transport, KEYS_KEY_BYTES);
        memcpy(a.new_payload, real_new->pub.payload, KEYS_KEY_BYTES);
        memcpy(a.new_sign, real_new->pub.sign, KEYS_KEY_BYTES);
        a.created_ms = util_now_ms();
        a.overlap_until_ms = a.created_ms + 86400000u;
        assert_int_equal(hubkey_sign(&a, attacker->sign_sk, real_new->sign_sk, out, len), 0);
        keys_free(real_new);
        keys_free(attacker);
        free(path);
}

static void test_hub_rotation(void **state)
{
        char *a_dir = h_node_create(&hub, "alpha", true);
        char *b_dir = h_node_create(&hub, "beta", true);
        char *f_dir = h_node_create(&hub, "phi", true);
        char *c_dir = h_node_create(&hub, "gamma", true);
        char ids[MAX_SIGNALS][SIGNAL_ID_HEX], old_fp[KEYS_FINGERPRINT_LEN];
        char new_fp[KEYS_FINGERPRINT_LEN], node_fp[KEYS_FINGERPRINT_LEN];
        char *out = NULL, *err = NULL, *log = NULL, *real_ann = NULL, *hub_log = NULL;
        uint8_t *forged = NULL;
        size_t real_len = 0, forged_len = 0, log_len = 0;
        struct keys_public old_pk, new_pk, pk;
        struct h_client c;
        json_object *st;
        int count = 0, a_first, a_later, b_first, f_first;

        (void)state;
        load_pub(hub.hub_dir, "keys/hub.pub", &old_pk);
        keys_fingerprint(&old_pk, old_fp);

        /* The hub is down while members queue signals sealed to its old key. */
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        a_first = count;
        submit_n(a_dir, 4, ids, &count);
        b_first = count;
        submit_n(b_dir, 2, ids, &count);
        f_first = count;
        submit_n(f_dir, 2, ids, &count);

        assert_int_equal(rotate("--overlap-days", "30", &out, &err), 0);
        assert_non_null(strstr(out, "new hub fingerprint"));
        assert_non_null(strstr(out, "restart the hub"));
        free(out);
        free(err);
        load_pub(hub.hub_dir, "keys/hub.pub", &new_pk);
        keys_fingerprint(&new_pk, new_fp);
        assert_string_not_equal(old_fp, new_fp);
        assert_memory_equal(old_pk.transport, new_pk.transport, KEYS_KEY_BYTES);
        assert_memory_not_equal(old_pk.payload, new_pk.payload, KEYS_KEY_BYTES);
        assert_memory_not_equal(old_pk.sign, new_pk.sign, KEYS_KEY_BYTES);
        assert_true(exists(hub.hub_dir, "keys/hub-previous.key"));
        /* A second rotation during the overlap is refused, clearly. */
        assert_int_equal(rotate(NULL, NULL, &out, &err), 1);
        assert_non_null(strstr(err, "--force"));
        free(out);
        free(err);

        /* A forged announcement (the real new keys, signed by another key)
         * in the hub's replies: phi ignores it and changes nothing; as its
         * receipts are signed by a key it does not trust yet, its signals
         * simply stay queued, nothing lost and nothing refused. */
        read_bytes(hub.hub_dir, "keys/hub-announcement", &real_ann, &real_len);
        forge_announcement(&old_pk, &forged, &forged_len);
        write_bytes(hub.hub_dir, "keys/hub-announcement", forged, forged_len);
        h_hub_start(&hub);
        assert_int_equal(run_for(f_dir, "3", &log), 1);
        assert_non_null(strstr(log, "announcement in a reply ignored"));
        assert_null(strstr(log, "adopted"));
        free(log);
        load_pub(f_dir, "keys/hub.pub", &pk);
        assert_true(keys_public_equal(&pk, &old_pk));
        assert_false(exists(f_dir, "keys/hub-announcement"));
        assert_false(exists(f_dir, "keys/hub-previous.pub"));
        st = status_of(f_dir);
        assert_int_equal(h_json_int(st, "queued") + h_json_int(st, "in_flight"), 2);
        assert_string_equal(json_str(st, "hub_fingerprint"), old_fp);
        assert_null(json_str(st, "hub_previous_fingerprint"));
        json_object_put(st);
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        write_bytes(hub.hub_dir, "keys/hub-announcement", real_ann, real_len);

        /* With the real announcement phi adopts and delivers, once. */
        h_hub_start(&hub);
        assert_int_equal(run_once(f_dir, NULL), 0);
        load_pub(f_dir, "keys/hub.pub", &pk);
        assert_true(keys_public_equal(&pk, &new_pk));
        check_receipts(f_dir, ids, f_first, 2, old_pk.sign);
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), 2);

        /* alpha delivers its queue and adopts the new keys. */
        assert_int_equal(run_once(a_dir, &log), 0);
        assert_non_null(strstr(log, "the hub rotated its keys: adopted fingerprint"));
        free(log);
        load_pub(a_dir, "keys/hub.pub", &pk);
        keys_fingerprint(&pk, node_fp);
        assert_string_equal(node_fp, new_fp);
        load_pub(a_dir, "keys/hub-previous.pub", &pk);
        assert_true(keys_public_equal(&pk, &old_pk));
        st = status_of(a_dir);
        assert_string_equal(json_str(st, "hub_fingerprint"), new_fp);
        assert_string_equal(json_str(st, "hub_previous_fingerprint"), old_fp);
        assert_int_equal(h_json_int(st, "delivered"), 4);
        json_object_put(st);
        /* Stored before the adoption under the old key's overlap: old receipts. */
        check_receipts(a_dir, ids, a_first, 4, old_pk.sign);
        /* After the adoption: sealed to the new key, receipts by the new key. */
        a_later = count;
        submit_n(a_dir, 2, ids, &count);
        assert_int_equal(run_once(a_dir, NULL), 0);
        check_receipts(a_dir, ids, a_later, 2, new_pk.sign);
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), 8);

        /* A raw member still sealing to the old key: accepted in the overlap,
         * receipt by the old key, announcement attached. */
        h_client_open(&c, &hub, c_dir);
        memcpy(c.hub.payload, old_pk.payload, KEYS_KEY_BYTES);
        memcpy(c.hub.sign, old_pk.sign, KEYS_KEY_BYTES);
        old_key_envelope(&c, old_pk.sign, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED,
                         NMO__REASON__REASON_NONE, &new_pk);
        h_client_close(&c);
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), 9);

        /* The overlap ends: the old key is destroyed; old-key envelopes get
         * unknown-hub-key, signed by the new key, with the announcement. */
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        assert_int_equal(rotate("--end-overlap", NULL, &out, &err), 0);
        free(out);
        free(err);
        assert_false(exists(hub.hub_dir, "keys/hub-previous.key"));
        h_hub_start(&hub);
        h_client_open(&c, &hub, c_dir);
        memcpy(c.hub.payload, old_pk.payload, KEYS_KEY_BYTES);
        memcpy(c.hub.sign, old_pk.sign, KEYS_KEY_BYTES);
        old_key_envelope(&c, new_pk.sign, NMO__RECEIPT_STATUS__RECEIPT_REJECTED,
                         NMO__REASON__REASON_UNKNOWN_HUB_KEY, &new_pk);
        h_client_close(&c);
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), 9);

        /* beta slept through the whole overlap: refused unknown-hub-key, it
         * still verifies the announcement with the old key, re-seals and
         * delivers both signals once. */
        assert_int_equal(run_once(b_dir, &log), 0);
        assert_non_null(strstr(log, "adopted fingerprint"));
        free(log);
        load_pub(b_dir, "keys/hub.pub", &pk);
        assert_true(keys_public_equal(&pk, &new_pk));
        check_receipts(b_dir, ids, b_first, 2, new_pk.sign);
        st = status_of(b_dir);
        assert_int_equal(h_json_int(st, "rejected"), 0);
        json_object_put(st);
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), 11);
        assert_true(h_hub_stat(&hub, "rejected") >= 3); /* all unknown-hub-key */

        /* gamma, which only listened to the alert feed, learns the keys there. */
        {
                char *argv[] = { (char *)h_node_bin(), "alerts", "--dir", c_dir, "--wait", "2",
                                 NULL };

                assert_int_equal(h_run(argv, NULL, &log), 0);
                assert_non_null(strstr(log, "adopted fingerprint"));
                free(log);
                load_pub(c_dir, "keys/hub.pub", &pk);
                assert_true(keys_public_equal(&pk, &new_pk));
        }

        /* A rotation with no overlap: the hub destroys the previous keys at
         * its next start, with one log line. */
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        assert_int_equal(rotate("--overlap-days", "0", &out, &err), 0);
        free(out);
        free(err);
        assert_true(exists(hub.hub_dir, "keys/hub-previous.key"));
        h_hub_start(&hub);
        assert_false(exists(hub.hub_dir, "keys/hub-previous.key"));
        assert_int_equal(util_read_file(hub.log, 1 << 20, &hub_log, &log_len), 0);
        assert_non_null(strstr(hub_log, "previous keys destroyed"));
        free(hub_log);

        free(real_ann);
        free(forged);
        free(a_dir);
        free(b_dir);
        free(c_dir);
        free(f_dir);
}

/* An interrupted rotation (hub.key.next left behind) keeps serve from
 * starting with a clear message, and the next rotate-keys finishes it. */
static void test_interrupted_rotation(void **state)
{
        char *next = util_path(hub.hub_dir, "keys/hub.key.next");
        char *argv[] = { (char *)h_hub_bin(), "serve", "--dir", hub.hub_dir, NULL };
        char *out = NULL, *err = NULL, *text = NULL;
        struct keys_public before, after;
        struct keys_secret *k = NULL;
        size_t len = 0;

        (void)state;
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        load_pub(hub.hub_dir, "keys/hub.pub", &before);
        /* Keys that were never announced: a crash before the announcement. */
        assert_int_equal(keys_generate(&k, KEYS_ROLE_HUB, NULL), 0);
        assert_int_equal(keys_save_secret(k, next), 0);
        keys_free(k);
        assert_int_equal(h_run(argv, &out, &err), 1);
        assert_non_null(strstr(err, "rotate-keys"));
        free(out);
        free(err);
        assert_int_equal(rotate(NULL, NULL, &out, &err), 0);
        free(out);
        free(err);
        assert_int_equal(access(next, F_OK), -1);
        load_pub(hub.hub_dir, "keys/hub.pub", &after);
        assert_false(keys_public_equal(&before, &after));
        read_bytes(hub.hub_dir, "keys/hub-announcement", &text, &len);
        {
                struct hubkey_announcement a;

                assert_int_equal(hubkey_verify((uint8_t *)text, len, before.sign, &a), 0);
                assert_memory_equal(a.new_payload, after.payload, KEYS_KEY_BYTES);
        }
        free(text);
        h_hub_start(&hub);
        free(next);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_hub_rotation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_interrupted_rotation, setup, teardown),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("hub-rotation", tests, NULL, NULL);
}
