/* test-rotation.c: `nmo-node rotate-keys` against the real hub: the hub takes
 * the new keys announced with the old ones, queued signals are re-sealed and
 * delivered once, the old keys stop working, and a run that was interrupted
 * (crash after the hub's acceptance, hub down) is finished by the next. */
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

#include "envelope.h"
#include "harness.h"
#include "util.h"

#define WAIT_MS 5000
#define MAX_SIGNALS 16

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

/* nmo-node rotate-keys --dir DIR --timeout SECONDS; returns the exit status. */
static int rotate(const char *dir, int seconds, char **out, char **err)
{
        char secs[16];

        snprintf(secs, sizeof(secs), "%d", seconds);
        {
                char *argv[] = { (char *)h_node_bin(), "rotate-keys", "--dir", (char *)dir,
                                 "--timeout", secs, NULL };
                return h_run(argv, out, err);
        }
}

/* `nmo-keys fingerprint` of DIR/NAME into fp. */
static void fingerprint_of(const char *dir, const char *name, char fp[KEYS_FINGERPRINT_LEN])
{
        char *path = util_path(dir, name), *out = NULL;
        char *argv[] = { (char *)h_keys_bin(), "fingerprint", path, NULL };

        assert_int_equal(h_run(argv, &out, NULL), 0);
        assert_true(strlen(out) >= KEYS_FINGERPRINT_LEN - 1);
        memcpy(fp, out, KEYS_FINGERPRINT_LEN - 1);
        fp[KEYS_FINGERPRINT_LEN - 1] = '\0';
        free(out);
        free(path);
}

/* A string member of `nmo-hub member show NAME --json`, into buf. */
static void member_field(const char *name, const char *key, char *buf, size_t len)
{
        char *argv[] = { (char *)h_hub_bin(), "member", "show", "--dir", hub.hub_dir,
                         (char *)name, "--json", NULL };
        json_object *o = h_run_json(argv), *v;

        assert_non_null(o);
        assert_true(json_object_object_get_ex(o, key, &v));
        snprintf(buf, len, "%s", json_object_get_string(v));
        json_object_put(o);
}

static char *read_text(const char *dir, const char *name)
{
        char *path = util_path(dir, name), *text = NULL;
        size_t len = 0;

        assert_int_equal(util_read_file(path, 65536, &text, &len), 0);
        free(path);
        return text;
}

static bool exists(const char *dir, const char *name)
{
        char *path = util_path(dir, name);
        bool yes = access(path, F_OK) == 0;

        free(path);
        return yes;
}

/* Copies DIR/keys/member.key and member.pub to a directory of their own, as
 * a raw client can use them (h_client_open). */
static char *keep_keys(const char *node_dir, const char *copy_name)
{
        char *copy = util_path(hub.dir, copy_name), *keys = util_path(copy, "keys");
        const char *files[] = { "member.key", "member.pub" };

        assert_int_equal(util_mkdir_p(keys, 0700), 0);
        for (size_t i = 0; i < 2; i++) {
                char *from = util_path(node_dir, "keys"), *text = read_text(from, files[i]);
                char *to = util_path(keys, files[i]);

                assert_int_equal(util_write_file(to, text, strlen(text), 0600, true), 0);
                free(text);
                free(to);
                free(from);
        }
        free(keys);
        return copy;
}

static void submit_n(const char *dir, int n, char ids[][SIGNAL_ID_HEX], int *count)
{
        static const char *materials[] = { "gallium", "germanium", "lithium", "nickel",
                                           "tungsten", "cobalt" };

        for (int i = 0; i < n; i++) {
                const char *id = h_node_submit(dir, materials[i % 6]);

                assert_non_null(id);
                assert_true(*count < MAX_SIGNALS);
                snprintf(ids[(*count)++], SIGNAL_ID_HEX, "%s", id);
        }
}

/* Every delivered receipt verifies with the hub's key and names old_pk for
 * the first n_old signal ids, new_pk for the others. Returns how many. */
static int check_receipts(const char *dir, char ids[][SIGNAL_ID_HEX], int n_ids, int n_old,
                          const struct keys_public *old_pk, const struct keys_public *new_pk)
{
        char *argv[] = { (char *)h_node_bin(), "status", "--dir", (char *)dir, "--json", NULL };
        char *hub_pub = util_path(hub.hub_dir, "keys/hub.pub"), err[256];
        json_object *st = h_run_json(argv), *sigs;
        struct keys_public hub_pk;
        int checked = 0;

        assert_int_equal(keys_load_public(&hub_pk, hub_pub, err, sizeof(err)), 0);
        assert_true(json_object_object_get_ex(st, "signals", &sigs));
        for (size_t i = 0; i < json_object_array_length(sigs); i++) {
                json_object *s = json_object_array_get_idx(sigs, i), *rec, *b64, *id;
                uint8_t bin[RECEIPT_MAX], want[SIGNAL_ID_BYTES];
                size_t bin_len = 0;
                const char *text;
                struct receipt r;
                int which = -1;

                assert_true(json_object_object_get_ex(s, "id", &id));
                for (int k = 0; k < n_ids; k++)
                        if (strcmp(ids[k], json_object_get_string(id)) == 0)
                                which = k;
                assert_true(which >= 0);
                assert_true(json_object_object_get_ex(s, "receipt", &rec));
                assert_true(json_object_object_get_ex(rec, "signed", &b64));
                text = json_object_get_string(b64);
                assert_int_equal(sodium_base642bin(bin, sizeof(bin), text, strlen(text), NULL,
                                                   &bin_len, NULL,
                                                   sodium_base64_VARIANT_ORIGINAL), 0);
                assert_int_equal(receipt_verify(bin, bin_len, hub_pk.sign, &r), 0);
                assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
                assert_int_equal(signal_id_parse(ids[which], want), 0);
                assert_memory_equal(r.signal_id, want, SIGNAL_ID_BYTES);
                assert_memory_equal(r.member_key,
                                    which < n_old ? old_pk->payload : new_pk->payload,
                                    KEYS_KEY_BYTES);
                checked++;
        }
        json_object_put(st);
        free(hub_pub);
        return checked;
}

static void load_pub(const char *dir, const char *name, struct keys_public *pk)
{
        char *path = util_path(dir, name), err[256];

        assert_int_equal(keys_load_public_any(pk, path, err, sizeof(err)), 0);
        free(path);
}

/* 3 delivered and 5 queued, then a rotation: the hub shows the new
 * fingerprint and the old one as previous; the 5 are delivered with the new
 * keys, nothing lost or doubled; the old keys no longer get in. */
static void test_rotation_keeps_the_queue(void **state)
{
        char *node = h_node_create(&hub, "rotor", true), *old = NULL, *out = NULL, *err = NULL;
        char ids[MAX_SIGNALS][SIGNAL_ID_HEX];
        char old_fp[KEYS_FINGERPRINT_LEN], new_fp[KEYS_FINGERPRINT_LEN], shown[64];
        struct keys_public old_pk, new_pk;
        struct h_client c;
        struct receipt r;
        uint8_t *frame = NULL;
        size_t len = 0;
        int count = 0;
        bool dup;

        (void)state;
        submit_n(node, 3, ids, &count);
        assert_int_equal(h_node_run_once(node, 30), 0);
        assert_int_equal(h_node_count(node, "delivered"), 3);
        submit_n(node, 5, ids, &count);
        assert_int_equal(h_node_count(node, "queued"), 5);

        old = keep_keys(node, "rotor-old-keys");
        fingerprint_of(node, "keys/member.pub", old_fp);
        load_pub(node, "keys/member.pub", &old_pk);

        assert_int_equal(rotate(node, 30, &out, &err), 0);
        assert_non_null(strstr(out, "nothing to send to the operator"));
        assert_non_null(strstr(out, "re-sealed:            5 queued signals"));
        fingerprint_of(node, "keys/member.pub", new_fp);
        assert_string_not_equal(new_fp, old_fp);
        assert_non_null(strstr(out, new_fp));
        /* The secret file is the new one, and nothing of the rotation is left. */
        load_pub(node, "keys/member.pub", &new_pk);
        {
                struct keys_public from_secret;

                load_pub(node, "keys/member.key", &from_secret);
                assert_true(keys_public_equal(&from_secret, &new_pk));
        }
        assert_false(exists(node, "keys/member.key.next"));
        member_field("rotor", "fingerprint", shown, sizeof(shown));
        assert_string_equal(shown, new_fp);
        member_field("rotor", "previous_fingerprint", shown, sizeof(shown));
        assert_string_equal(shown, old_fp);

        /* All 5 delivered with the new keys, each stored once. */
        assert_int_equal(h_node_run_once(node, 30), 0);
        assert_int_equal(h_node_count(node, "delivered"), 8);
        assert_int_equal(h_node_count(node, "queued"), 0);
        assert_int_equal(h_node_count(node, "rejected"), 0);
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), 8);
        assert_int_equal(check_receipts(node, ids, count, 3, &old_pk, &new_pk), 8);

        /* The old keys fail the handshake: no reply at all. */
        h_client_open(&c, &hub, old);
        h_client_seal(&c, "nickel", &frame, &len, NULL);
        assert_int_equal(h_client_send(&c, frame, len, 2000, &r, &dup), -ETIMEDOUT);
        h_client_close(&c);
        free(frame);
        /* The new ones work. */
        h_client_open(&c, &hub, node);
        h_client_seal(&c, "nickel", &frame, &len, NULL);
        assert_int_equal(h_client_send(&c, frame, len, WAIT_MS, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        h_client_close(&c);
        free(frame);

        free(out);
        free(err);
        free(old);
        free(node);
}

/* With the agent running, rotate-keys refuses and changes nothing. */
static void test_refused_while_the_agent_runs(void **state)
{
        char *node = h_node_create(&hub, "busy", true), *log = util_path(hub.dir, "busy.log");
        char *before = NULL, *after = NULL, *err = NULL, fp[KEYS_FINGERPRINT_LEN];
        char shown[64];
        char *argv[] = { (char *)h_node_bin(), "run", "--dir", node, NULL };
        pid_t agent;
        int waited = 0;

        (void)state;
        before = read_text(node, "keys/member.key");
        fingerprint_of(node, "keys/member.pub", fp);
        agent = h_spawn(argv, log);
        /* The agent takes its lock before it listens for nudges. */
        while (!exists(node, "agent.sock") && waited < WAIT_MS) {
                usleep(50000);
                waited += 50;
        }
        assert_true(exists(node, "agent.sock"));

        assert_int_equal(rotate(node, 5, NULL, &err), 1);
        assert_non_null(strstr(err, "the agent is running; stop it first"));
        after = read_text(node, "keys/member.key");
        assert_string_equal(before, after);
        assert_false(exists(node, "keys/member.key.next"));
        member_field("busy", "fingerprint", shown, sizeof(shown));
        assert_string_equal(shown, fp);
        assert_int_equal(h_stop(agent, SIGTERM), 0);

        free(before);
        free(after);
        free(err);
        free(log);
        free(node);
}

/* A crash after the hub accepted the new keys and before the node switched:
 * `run` refuses to start, and the next rotate-keys finishes the switch. */
static void test_crash_after_announce(void **state)
{
        char *node = h_node_create(&hub, "crashy", true), *err = NULL, *out = NULL;
        char *before = NULL, *after = NULL;
        char ids[MAX_SIGNALS][SIGNAL_ID_HEX];
        char old_fp[KEYS_FINGERPRINT_LEN], next_fp[KEYS_FINGERPRINT_LEN], fp[KEYS_FINGERPRINT_LEN];
        char shown[64];
        struct keys_public old_pk, new_pk;
        int count = 0;

        (void)state;
        submit_n(node, 1, ids, &count);
        assert_int_equal(h_node_run_once(node, 30), 0);
        submit_n(node, 3, ids, &count);
        fingerprint_of(node, "keys/member.pub", old_fp);
        load_pub(node, "keys/member.pub", &old_pk);
        before = read_text(node, "keys/member.key");

        setenv("NMO_TEST_CRASH_AFTER_ANNOUNCE", "1", 1);
        assert_int_equal(rotate(node, 30, NULL, NULL), 3);
        unsetenv("NMO_TEST_CRASH_AFTER_ANNOUNCE");
        /* The hub has switched; the node has not. */
        assert_true(exists(node, "keys/member.key.next"));
        after = read_text(node, "keys/member.key");
        assert_string_equal(before, after);
        fingerprint_of(node, "keys/member.key.next", next_fp);
        member_field("crashy", "fingerprint", shown, sizeof(shown));
        assert_string_equal(shown, next_fp);
        assert_int_equal(h_node_count(node, "queued"), 3);
        {
                char *argv[] = { (char *)h_node_bin(), "run", "--dir", node, "--once", NULL };

                free(err);
                err = NULL;
                assert_int_equal(h_run(argv, NULL, &err), 1);
                assert_non_null(strstr(err, "a key rotation is unfinished: run nmo-node "
                                            "rotate-keys --dir"));
        }

        /* The rerun: the current key is refused, the new one taken. */
        assert_int_equal(rotate(node, 30, &out, NULL), 0);
        assert_non_null(strstr(out, "re-sealed:            3 queued signals"));
        assert_false(exists(node, "keys/member.key.next"));
        fingerprint_of(node, "keys/member.pub", fp);
        assert_string_equal(fp, next_fp);
        load_pub(node, "keys/member.pub", &new_pk);
        assert_int_equal(h_node_run_once(node, 30), 0);
        assert_int_equal(h_node_count(node, "delivered"), 4);
        assert_int_equal(check_receipts(node, ids, count, 1, &old_pk, &new_pk), 4);
        member_field("crashy", "previous_fingerprint", shown, sizeof(shown));
        assert_string_equal(shown, old_fp);

        free(before);
        free(after);
        free(out);
        free(err);
        free(node);
}

/* Hub down: rotate-keys gives up after --timeout, keys unchanged and the new
 * ones kept; with the hub back, a rerun completes with the same new keys. */
static void test_hub_down(void **state)
{
        char *node = h_node_create(&hub, "patient", true), *err = NULL, *before = NULL;
        char *after = NULL;
        char ids[MAX_SIGNALS][SIGNAL_ID_HEX];
        char next_fp[KEYS_FINGERPRINT_LEN], fp[KEYS_FINGERPRINT_LEN], again[KEYS_FINGERPRINT_LEN];
        uint64_t start;
        int count = 0;

        (void)state;
        submit_n(node, 2, ids, &count);
        before = read_text(node, "keys/member.key");
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);

        start = util_mono_ms();
        assert_int_equal(rotate(node, 3, NULL, &err), 1);
        assert_true(util_mono_ms() - start >= 3000);
        assert_non_null(strstr(err, "hub not reachable"));
        after = read_text(node, "keys/member.key");
        assert_string_equal(before, after);
        assert_true(exists(node, "keys/member.key.next"));
        fingerprint_of(node, "keys/member.key.next", next_fp);
        /* Still down: the same new keys, not another set. */
        assert_int_equal(rotate(node, 1, NULL, NULL), 1);
        fingerprint_of(node, "keys/member.key.next", again);
        assert_string_equal(again, next_fp);

        h_hub_start(&hub);
        assert_int_equal(rotate(node, 30, NULL, NULL), 0);
        fingerprint_of(node, "keys/member.pub", fp);
        assert_string_equal(fp, next_fp);
        assert_int_equal(h_node_run_once(node, 30), 0);
        assert_int_equal(h_node_count(node, "delivered"), 2);

        free(before);
        free(after);
        free(err);
        free(node);
}

/* Waits up to ms for text to appear in the file at path. */
static bool wait_for_text(const char *path, const char *text, int ms)
{
        for (int waited = 0; waited <= ms; waited += 50) {
                char *data = NULL;
                size_t len = 0;
                bool found = util_read_file(path, 1 << 20, &data, &len) == 0 &&
                             strstr(data, text) != NULL;

                free(data);
                if (found)
                        return true;
                usleep(50000);
        }
        return false;
}

/* A signal the hub stored before the rotation whose receipt the node never
 * got: re-sealed and sent again, the hub answers with the original receipt,
 * which names the old key and the old envelope, and the node accepts it. */
static void test_stored_before_rotation(void **state)
{
        char *node = h_node_create(&hub, "lossy", true), *log = util_path(hub.dir, "lossy.log");
        char *argv[] = { (char *)h_node_bin(), "run", "--dir", node, NULL };
        char ids[MAX_SIGNALS][SIGNAL_ID_HEX];
        struct keys_public old_pk, new_pk;
        int64_t stored = h_hub_stat(&hub, "signals_stored");
        int count = 0, waited = 0;
        pid_t agent;

        (void)state;
        load_pub(node, "keys/member.pub", &old_pk);
        agent = h_spawn(argv, log);
        assert_true(wait_for_text(log, "connected to the hub", WAIT_MS));
        /* The hub frozen, the agent sends and dies before any reply. */
        assert_int_equal(kill(hub.pid, SIGSTOP), 0);
        submit_n(node, 1, ids, &count);
        assert_true(wait_for_text(log, "sent 1 signal", WAIT_MS));
        (void)h_stop(agent, SIGKILL);
        assert_int_equal(kill(hub.pid, SIGCONT), 0);
        while (h_hub_stat(&hub, "signals_stored") < stored + 1 && waited < WAIT_MS) {
                usleep(50000);
                waited += 50;
        }
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), stored + 1);
        assert_int_equal(h_node_count(node, "in_flight"), 1);

        assert_int_equal(rotate(node, 30, NULL, NULL), 0);
        load_pub(node, "keys/member.pub", &new_pk);
        assert_int_equal(h_node_run_once(node, 30), 0);
        assert_int_equal(h_node_count(node, "delivered"), 1);
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), stored + 1);
        /* The receipt kept is the original one, with the old key. */
        assert_int_equal(check_receipts(node, ids, count, 1, &old_pk, &new_pk), 1);

        free(log);
        free(node);
}

/* Protected keys stay protected, under the same passphrase. */
static void test_protected_keys(void **state)
{
        char *dir = util_path(hub.dir, "guarded");
        char *hub_pub = util_path(hub.hub_dir, "keys/hub.pub");
        char *pfile = util_path(hub.dir, "guarded-passphrase"), *key = NULL, *err = NULL;
        char *member_pub = util_path(dir, "keys/member.pub");
        char ids[MAX_SIGNALS][SIGNAL_ID_HEX];
        int count = 0;

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
                char *argv[] = { (char *)h_hub_bin(), "member", "add", "--dir", hub.hub_dir,
                                 "--name", "guarded", "--pub", member_pub, NULL };
                assert_int_equal(h_run(argv, NULL, NULL), 0);
        }
        setenv("NMO_PASSPHRASE_FILE", pfile, 1);
        submit_n(dir, 2, ids, &count);
        /* Without the passphrase nothing happens, not even new keys. */
        unsetenv("NMO_PASSPHRASE_FILE");
        assert_int_equal(rotate(dir, 10, NULL, &err), 1);
        assert_non_null(strstr(err, "passphrase"));
        assert_false(exists(dir, "keys/member.key.next"));

        setenv("NMO_PASSPHRASE_FILE", pfile, 1);
        assert_int_equal(rotate(dir, 30, NULL, NULL), 0);
        key = read_text(dir, "keys/member.key");
        assert_non_null(strstr(key, "protection: argon2id13"));
        assert_null(strstr(key, "payload-secret"));
        assert_int_equal(h_node_run_once(dir, 30), 0);
        assert_int_equal(h_node_count(dir, "delivered"), 2);
        unsetenv("NMO_PASSPHRASE_FILE");

        free(key);
        free(err);
        free(member_pub);
        free(pfile);
        free(hub_pub);
        free(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rotation_keeps_the_queue),
                cmocka_unit_test(test_refused_while_the_agent_runs),
                cmocka_unit_test(test_crash_after_announce),
                cmocka_unit_test(test_hub_down),
                cmocka_unit_test(test_protected_keys),
                cmocka_unit_test(test_stored_before_rotation),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("rotation", tests, setup, teardown);
}
