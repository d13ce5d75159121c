/* cmd-rotate.c: `nmo-node rotate-keys` replaces the member's keys: new keys
 * are made (or taken from an unfinished run), announced to the hub with the
 * current ones (rotate.h), and once the hub has them the queued signals are
 * re-sealed and the key files switched. The agent must not run meanwhile. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node-cli.h"
#include "cmd.h"
#include "keys.h"
#include "log.h"
#include "node.h"
#include "outbox.h"
#include "rotate.h"

/* The test hook's exit status: not 0, 1 or 2, so a test cannot mistake it. */
#define ROTATE_EXIT_TEST_CRASH 3
#define ROTATE_TIMEOUT_DEFAULT_S 30

static const char rotate_help[] =
        "Usage: nmo-node rotate-keys --dir DIR [--timeout SECONDS]\n"
        "\n"
        "Replace this member's keys. New keys are made in DIR/keys/member.key.next\n"
        "(protected with the passphrase of the current ones, when they have one) and\n"
        "announced to the hub in a message sealed and sent with the current keys. Once\n"
        "the hub's signed receipt accepts them, the queued signals are re-sealed with\n"
        "the new keys and member.key and member.pub are switched to them. The hub\n"
        "operator has nothing to do; the old keys stop working at once.\n"
        "\n"
        "Stop the agent first (nmo-node run refuses to start while a rotation is\n"
        "unfinished). A run that fails or is interrupted keeps member.key.next; run\n"
        "the command again: it announces the same new keys, or, when the hub took\n"
        "them already, only finishes the switch.\n"
        "\n"
        "Options:\n"
        "  -d, --dir DIR          the node directory\n"
        "      --timeout SECONDS  give up when the hub has not answered after SECONDS\n"
        "                         (default 30)\n"
        "  -v, --verbose          more log output\n"
        "  -q, --quiet            errors only\n"
        "  -h, --help             show this help\n"
        "\n"
        "A protected key's passphrase comes from NMO_PASSPHRASE_FILE, a systemd\n"
        "credential nmo-passphrase, or the terminal.\n"
        "\n"
        "Exit status: 0 keys rotated, 1 failure (agent running, hub refused the new\n"
        "keys or did not answer; member.key.next is kept for the next run), 2 usage\n"
        "error.\n";

/* Loads member.key, asking for its passphrase when it has one; *pass keeps it
 * (NULL when the key is not protected) for the new key file. */
static int load_current(const struct node *n, struct keys_secret **cur, char **pass,
                        size_t *passlen, char *err, size_t errlen)
{
        int r;

        r = keys_load_secret_pass(cur, n->member_key_path, NULL, 0, err, errlen);
        if (r == -ENOKEY) {
                r = keys_passphrase_get(pass, passlen, NULL, "Passphrase for the secret keys: ",
                                        err, errlen);
                if (r < 0)
                        return r;
                /* The same passphrase protects the new keys: it must open these. */
                r = keys_load_secret_pass(cur, n->member_key_path, *pass, *passlen, err, errlen);
        }
        if (r < 0)
                return r;
        if ((*cur)->pub.role != KEYS_ROLE_MEMBER) {
                util_set_err(err, errlen, "%s: not a member key file", n->member_key_path);
                return -EINVAL;
        }
        return 0;
}

/* The new keys: those of an unfinished rotation, or fresh ones saved to
 * member.key.next (exclusively, 0600, under pass when not NULL) before they
 * are ever announced. */
static int load_or_make_next(const struct node *n, const struct keys_secret *cur,
                             const char *pass, size_t passlen, struct keys_secret **next,
                             char *err, size_t errlen)
{
        int r = node_rotation_pending(n);

        if (r < 0) {
                util_set_err(err, errlen, "%s: %s", n->member_key_next_path, strerror(-r));
                return r;
        }
        if (r > 0) {
                r = keys_load_secret_pass(next, n->member_key_next_path, pass, passlen, err,
                                          errlen);
                if (r < 0)
                        return r;
                if ((*next)->pub.role != KEYS_ROLE_MEMBER) {
                        util_set_err(err, errlen, "%s: not a member key file",
                                     n->member_key_next_path);
                        return -EINVAL;
                }
                /* The hub refuses a key used before, the current ones too. */
                if (keys_public_share_key(&(*next)->pub, &cur->pub)) {
                        util_set_err(err, errlen, "%s reuses a current key; remove it and run "
                                     "again", n->member_key_next_path);
                        return -EINVAL;
                }
                log_info("resuming the unfinished rotation to the keys in %s",
                         n->member_key_next_path);
                return 0;
        }
        r = keys_generate(next, KEYS_ROLE_MEMBER, cur->pub.name[0] ? cur->pub.name : NULL);
        if (r < 0) {
                util_set_err(err, errlen, "cannot generate keys: %s", strerror(-r));
                return r;
        }
        r = keys_save_secret_protected(*next, n->member_key_next_path, pass, passlen);
        if (r < 0) {
                util_set_err(err, errlen, "%s: %s", n->member_key_next_path,
                             r == -EEXIST ? "appeared meanwhile; is another rotate-keys running?"
                                          : strerror(-r));
                return r;
        }
        log_info("new keys saved in %s", n->member_key_next_path);
        return 0;
}

/* Explains an outcome other than the hub taking the new keys; returns 1. */
static int explain_failure(const struct node *n, const struct rotate_result *res,
                           uint64_t secs)
{
        const struct receipt *rc = &res->receipt;

        switch (res->outcome) {
        case ROTATE_REJECTED:
                return cli_fail("the hub rejected the new keys: %s%s%s%s (the new keys stay in "
                                "%s for the next run)", reason_name(rc->reason),
                                rc->detail[0] ? ": " : "", rc->detail,
                                reason_is_temporary(rc->reason) ? "; try again later" : "",
                                n->member_key_next_path);
        case ROTATE_REFUSED_BOTH:
                return cli_fail("the hub refuses both the current and the new key; ask the hub "
                                "operator");
        case ROTATE_PROTOCOL_ERROR:
                return cli_fail("handshake with the hub failed (protocol error): check the "
                                "endpoint in %s and %s", n->conf_path, n->hub_pub_path);
        case ROTATE_NO_REPLY:
                return cli_fail("hub not reachable: no reply to the key rotation within %llu "
                                "seconds; run again (the new keys stay in %s, and the next run "
                                "finds out whether the hub took them)",
                                (unsigned long long)secs, n->member_key_next_path);
        case ROTATE_UNREACHABLE:
        default:
                return cli_fail("hub not reachable at %s within %llu seconds; nothing changed "
                                "(the new keys stay in %s for the next run)",
                                n->cfg.hub_endpoint, (unsigned long long)secs,
                                n->member_key_next_path);
        }
}

int cmd_rotate(int argc, char **argv)
{
        enum { OPT_TIMEOUT = CLI_OPT_LONG };
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "timeout", required_argument, NULL, OPT_TIMEOUT },
                CLI_COMMON_OPTIONS,
                { NULL, 0, NULL, 0 },
        };
        const char *dir = NULL, *timeout = NULL;
        char err[512], old_fp[KEYS_FINGERPRINT_LEN], new_fp[KEYS_FINGERPRINT_LEN];
        struct keys_secret *cur = NULL, *next = NULL;
        struct rotate_result res;
        struct outbox *ob = NULL;
        struct node *n = NULL;
        char *pass = NULL;
        size_t passlen = 0, resealed = 0;
        uint64_t secs = ROTATE_TIMEOUT_DEFAULT_S;
        int c, r, verbosity = 0, ret = CLI_EXIT_FAIL;

        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":d:" CLI_COMMON_SHORT, opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        dir = optarg;
                        break;
                case OPT_TIMEOUT:
                        timeout = optarg;
                        break;
                case 'h':
                        return cli_help(rotate_help);
                default:
                        if (cli_verbosity_option(c, &verbosity))
                                break;
                        return cli_bad_option(argv[0], argv, c);
                }
        }
        cli_log_setup(verbosity);
        if (optind != argc)
                return cli_unexpected(argv[0], argv[optind]);
        if (!dir)
                return cli_usage(argv[0], "--dir is required");
        if (timeout && util_parse_u64(timeout, 1, 86400, &secs) < 0)
                return cli_usage(argv[0], "--timeout: \"%s\" is not a whole number of seconds "
                                 "from 1 to 86400", timeout);

        if (node_new(&n, dir) < 0)
                return cli_fail("out of memory");
        r = node_load(n, NODE_LOAD_CONFIG | NODE_LOAD_HUB, err, sizeof(err));
        if (r < 0) {
                cli_fail("%s%s", err, r == -ENOENT ? " (run `nmo-node init` first)" : "");
                goto out;
        }
        /* The agent lock, held to the end: nothing sends the queue meanwhile. */
        r = outbox_open(&ob, n->outbox_path, OUTBOX_AGENT, 0);
        if (r == -EBUSY) {
                cli_fail("the agent is running; stop it first (e.g. systemctl stop nmo-node), "
                         "then rotate");
                goto out;
        }
        if (r < 0) {
                cli_fail("%s: cannot open the outbox: %s", n->outbox_path, strerror(-r));
                goto out;
        }
        r = load_current(n, &cur, &pass, &passlen, err, sizeof(err));
        if (r >= 0)
                r = load_or_make_next(n, cur, pass, passlen, &next, err, sizeof(err));
        if (r < 0) {
                cli_fail("%s", err);
                goto out;
        }
        keys_fingerprint(&cur->pub, old_fp);
        keys_fingerprint(&next->pub, new_fp);
        log_info("rotating the member keys from %s to %s", old_fp, new_fp);

        r = rotate_announce(n, cur, next, secs * 1000u, &res);
        if (r < 0) {
                cli_fail("cannot talk to the hub: %s", strerror(-r));
                goto out;
        }
        if (res.outcome == ROTATE_ACCEPTED) {
                log_info("the hub accepted the new keys");
                /* Test hook, read nowhere else: stops as a crash between the
                 * hub's acceptance and the local switch would, so that
                 * tests/integration/test-rotation.c can show the next run
                 * finishing the rotation. */
                if (getenv("NMO_TEST_CRASH_AFTER_ANNOUNCE")) {
                        ret = ROTATE_EXIT_TEST_CRASH;
                        goto out;
                }
        } else if (res.outcome == ROTATE_HUB_HAS_NEXT) {
                log_info("the hub has the new keys already (an earlier run announced them); "
                         "finishing the switch");
        } else {
                explain_failure(n, &res, secs);
                goto out;
        }

        r = rotate_finish(n, ob, cur, next, &resealed, err, sizeof(err));
        if (r < 0) {
                cli_fail("%s; the hub has the new keys: run nmo-node rotate-keys again to "
                         "finish", err);
                goto out;
        }
        printf("member keys rotated\n"
               "previous fingerprint: %s\n"
               "new fingerprint:      %s\n"
               "re-sealed:            %zu queued signal%s\n"
               "\n"
               "The hub has the new keys already; nothing to send to the operator. The old\n"
               "keys no longer work.\n",
               old_fp, new_fp, resealed, resealed == 1 ? "" : "s");
        ret = CLI_EXIT_OK;
out:
        keys_free(cur);
        keys_free(next);
        keys_passphrase_free(pass);
        outbox_free(ob);
        node_free(n);
        return ret;
}
