/* test-hub-passphrase.c: the hub's secret keys sealed under a passphrase,
 * with the real nmo-hub: `init --passphrase-file` protects them; `serve`
 * opens them from NMO_PASSPHRASE_FILE or from the systemd credential
 * nmo-passphrase ($CREDENTIALS_DIRECTORY, what LoadCredentialEncrypted=
 * gives), and refuses to start, saying why, without one or with a wrong one;
 * `rotate-keys` seals the new keys under the same passphrase, and serve
 * opens the current and the previous keys of the overlap with it. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "keys.h"
#include "receipt.h"
#include "signal.h"
#include "util.h"

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
        unsetenv("NMO_PASSPHRASE_FILE");
        unsetenv("CREDENTIALS_DIRECTORY");
        h_hub_destroy(&hub);
        return 0;
}

/* Writes text (and a newline) to dir/name, mode 0600; returns the path. */
static char *write_secret(const char *dir, const char *name, const char *text)
{
        char *path = util_path(dir, name), line[128];

        snprintf(line, sizeof(line), "%s\n", text);
        assert_int_equal(util_write_file(path, line, strlen(line), 0600, false), 0);
        return path;
}

/* `nmo-hub serve` that must not start: its exit status, *err its output. */
static int serve_refused(char **err)
{
        char *argv[] = { (char *)h_hub_bin(), "serve", "--dir", hub.hub_dir, NULL };
        char *out = NULL;
        int rc = h_run(argv, &out, err);

        free(out);
        return rc;
}

static void accepted_signal(const char *m)
{
        struct h_client c;
        uint8_t *frame = NULL, id[SIGNAL_ID_BYTES];
        struct receipt r;
        size_t len = 0;
        bool dup;

        h_client_open(&c, &hub, m);
        h_client_seal(&c, "gallium", &frame, &len, id);
        assert_int_equal(h_client_send(&c, frame, len, 5000, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        free(frame);
        h_client_close(&c);
}

/* The hub key file at path needs a passphrase: without one it is refused. */
static void assert_protected(const char *path)
{
        struct keys_secret *sk = NULL;
        char err[300];

        assert_int_equal(keys_load_secret(&sk, path, err, sizeof(err)), -ENOKEY);
}

static void test_serve_protected(void **state)
{
        char *key = util_path(hub.hub_dir, "keys/hub.key"), *err = NULL;
        char *pfile = write_secret(hub.dir, "pass", "correct horse battery");
        char *wrong = write_secret(hub.dir, "wrong", "not the passphrase");
        char *creds = util_path(hub.dir, "creds"), *cred;
        char *m = h_member_create(&hub, "pp-member", true);

        (void)state;
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        {
                char *argv[] = { (char *)h_keys_bin(), "protect", key, "--passphrase-file",
                                 pfile, NULL };
                char *out = NULL, *e = NULL;

                assert_int_equal(h_run(argv, &out, &e), 0);
                free(out);
                free(e);
        }
        assert_protected(key);

        /* No passphrase anywhere (and no terminal): refused, saying where it
         * may come from. */
        assert_int_equal(serve_refused(&err), 1);
        assert_non_null(strstr(err, "protected by a passphrase"));
        assert_non_null(strstr(err, "NMO_PASSPHRASE_FILE"));
        assert_non_null(strstr(err, "nmo-passphrase"));
        free(err);

        /* A wrong one. */
        setenv("NMO_PASSPHRASE_FILE", wrong, 1);
        assert_int_equal(serve_refused(&err), 1);
        assert_non_null(strstr(err, "wrong passphrase"));
        free(err);

        /* A passphrase file readable by others is refused too. */
        chmod(pfile, 0644);
        setenv("NMO_PASSPHRASE_FILE", pfile, 1);
        assert_int_equal(serve_refused(&err), 1);
        assert_non_null(strstr(err, "chmod 600"));
        free(err);
        chmod(pfile, 0600);

        /* From the file. */
        h_hub_start(&hub);
        accepted_signal(m);
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        unsetenv("NMO_PASSPHRASE_FILE");

        /* From the credential, as systemd gives it: a file nmo-passphrase in
         * $CREDENTIALS_DIRECTORY (mode 0400). */
        assert_int_equal(mkdir(creds, 0700), 0);
        cred = write_secret(creds, "nmo-passphrase", "correct horse battery");
        chmod(cred, 0400);
        setenv("CREDENTIALS_DIRECTORY", creds, 1);
        h_hub_start(&hub);
        accepted_signal(m);
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);

        /* Rotation: the next keys are sealed under the same passphrase, and
         * serve opens the current and the previous ones with it. */
        {
                char *argv[] = { (char *)h_hub_bin(), "rotate-keys", "--dir", hub.hub_dir,
                                 NULL };
                char *out = NULL, *e = NULL;

                assert_int_equal(h_run(argv, &out, &e), 0);
                free(out);
                free(e);
        }
        assert_protected(key);
        {
                char *prev = util_path(hub.hub_dir, "keys/hub-previous.key");

                assert_protected(prev);
                free(prev);
        }
        h_hub_start(&hub);
        assert_true(h_wait_port(hub.port, 5000));
        {
                char *log = NULL;
                size_t len = 0;

                assert_int_equal(util_read_file(hub.log, 64u << 20, &log, &len), 0);
                assert_non_null(strstr(log, "hub key rotation overlap until"));
                free(log);
        }
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        unsetenv("CREDENTIALS_DIRECTORY");
        free(cred);
        free(creds);
        free(m);
        free(key);
        free(pfile);
        free(wrong);
}

/* `nmo-hub init --passphrase-file` seals the keys from the start; a
 * passphrase file that cannot be read leaves no keys behind. */
static void test_init_protected(void **state)
{
        char *dir = util_path(hub.dir, "hub2"), *key = util_path(dir, "keys/hub.key");
        char *pfile = write_secret(hub.dir, "pass2", "another passphrase");
        char *missing = util_path(hub.dir, "no-such-file");
        char *out = NULL, *err = NULL;

        (void)state;
        {
                char *argv[] = { (char *)h_hub_bin(), "init", "--dir", dir, "--passphrase-file",
                                 missing, NULL };

                assert_int_equal(h_run(argv, &out, &err), 1);
                assert_non_null(strstr(err, "no-such-file"));
                assert_int_equal(access(key, F_OK), -1);
                free(out);
                free(err);
        }
        {
                char *argv[] = { (char *)h_hub_bin(), "init", "--dir", dir, "--passphrase-file",
                                 pfile, NULL };

                assert_int_equal(h_run(argv, &out, &err), 0);
                free(out);
                free(err);
        }
        assert_protected(key);
        {
                struct keys_secret *sk = NULL;
                char e[300];

                assert_int_equal(keys_load_secret_pass(&sk, key, "another passphrase", 18, e,
                                                       sizeof(e)),
                                 0);
                assert_int_equal(sk->pub.role, KEYS_ROLE_HUB);
                keys_free(sk);
        }
        free(dir);
        free(key);
        free(pfile);
        free(missing);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_serve_protected, setup, teardown),
                cmocka_unit_test_setup_teardown(test_init_protected, setup, teardown),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
