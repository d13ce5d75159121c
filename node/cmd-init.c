/* cmd-init.c: `nmo-node init` creates a node directory: member keys, a copy of
 * the hub's public bundle, node.conf and an empty outbox. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>

#include "node-cli.h"
#include "cmd.h"
#include "node-config.h"
#include "keys.h"
#include "node.h"
#include "outbox.h"

static const char init_help[] =
        "Usage: nmo-node init --dir DIR --hub tcp://HOST:PORT --hub-pub FILE [OPTIONS]\n"
        "\n"
        "Create a node directory: generate this member's keys (DIR/keys/member.key,\n"
        "mode 0600), copy the hub's public bundle, write DIR/node.conf and create the\n"
        "outbox. Refuses a directory that already has member keys.\n"
        "\n"
        "Options:\n"
        "  -d, --dir DIR              the node directory (created, mode 0700)\n"
        "      --hub ENDPOINT         the hub, tcp://HOST:PORT\n"
        "      --alerts ENDPOINT      the hub's alert feed, tcp://HOST:PORT (default:\n"
        "                             the --hub endpoint with port + 1)\n"
        "      --hub-pub FILE         the hub's public bundle, as the hub operator sent it\n"
        "      --hub-fingerprint FP   refuse FILE unless its fingerprint is FP\n"
        "  -n, --name NAME            a label for this member's keys\n"
        "      --passphrase-file FILE protect the secret keys with the passphrase on\n"
        "                             the first line of FILE (mode 0600); the other\n"
        "                             commands then read it from NMO_PASSPHRASE_FILE,\n"
        "                             a systemd credential nmo-passphrase, or ask\n"
        "      --passphrase           protect the secret keys; ask for the passphrase\n"
        "  -v, --verbose              more log output\n"
        "  -q, --quiet                errors only\n"
        "  -h, --help                 show this help\n"
        "\n"
        "Send DIR/keys/member.pub to the hub operator, then compare both fingerprints\n"
        "with them by phone.\n"
        "\n"
        "Exit status: 0 success, 1 failure, 2 usage error.\n";

/* Compares fingerprints ignoring case, spaces and dashes. */
static bool fingerprint_equal(const char *a, const char *b)
{
        for (;;) {
                while (*a == '-' || *a == ' ')
                        a++;
                while (*b == '-' || *b == ' ')
                        b++;
                if (!*a || !*b)
                        return !*a && !*b;
                if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
                        return false;
                a++;
                b++;
        }
}

int cmd_init(int argc, char **argv)
{
        enum { OPT_HUB = CLI_OPT_LONG, OPT_ALERTS, OPT_HUB_PUB, OPT_HUB_FP, OPT_PASS_FILE,
               OPT_PASS };
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "hub", required_argument, NULL, OPT_HUB },
                { "alerts", required_argument, NULL, OPT_ALERTS },
                { "passphrase-file", required_argument, NULL, OPT_PASS_FILE },
                { "passphrase", no_argument, NULL, OPT_PASS },
                { "hub-pub", required_argument, NULL, OPT_HUB_PUB },
                { "hub-fingerprint", required_argument, NULL, OPT_HUB_FP },
                { "name", required_argument, NULL, 'n' },
                CLI_COMMON_OPTIONS,
                { NULL, 0, NULL, 0 },
        };
        const char *dir = NULL, *endpoint = NULL, *alerts = NULL, *hub_pub = NULL, *hub_fp = NULL;
        const char *pass_file = NULL;
        bool protect = false;
        const char *name = NULL;
        char err[512], member_fp[KEYS_FINGERPRINT_LEN], hub_fp_real[KEYS_FINGERPRINT_LEN];
        struct keys_secret *member = NULL;
        struct keys_public hub;
        struct outbox *ob = NULL;
        struct node *n = NULL;
        char *conf = NULL;
        struct stat st;
        int c, r, verbosity = 0, ret = CLI_EXIT_FAIL;

        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":d:n:" CLI_COMMON_SHORT, opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        dir = optarg;
                        break;
                case OPT_HUB:
                        endpoint = optarg;
                        break;
                case OPT_ALERTS:
                        alerts = optarg;
                        break;
                case OPT_HUB_PUB:
                        hub_pub = optarg;
                        break;
                case OPT_HUB_FP:
                        hub_fp = optarg;
                        break;
                case OPT_PASS_FILE:
                        pass_file = optarg;
                        protect = true;
                        break;
                case OPT_PASS:
                        protect = true;
                        break;
                case 'n':
                        name = optarg;
                        break;
                case 'h':
                        return cli_help(init_help);
                default:
                        if (cli_verbosity_option(c, &verbosity))
                                break;
                        return cli_bad_option(argv[0], argv, c);
                }
        }
        cli_log_setup(verbosity);
        if (optind != argc)
                return cli_unexpected(argv[0], argv[optind]);
        if (!dir || !endpoint || !hub_pub)
                return cli_usage(argv[0], "--dir, --hub and --hub-pub are required");
        if (!node_endpoint_ok(endpoint))
                return cli_usage(argv[0], "--hub: \"%s\" is not tcp://HOST:PORT", endpoint);
        if (alerts && !node_endpoint_ok(alerts))
                return cli_usage(argv[0], "--alerts: \"%s\" is not tcp://HOST:PORT", alerts);
        if (alerts && strcmp(alerts, endpoint) == 0)
                return cli_usage(argv[0], "--alerts: the hub publishes alerts on a port of "
                                 "their own, not on the --hub endpoint");
        if (name && !keys_name_ok(name))
                return cli_usage(argv[0], "--name: 1 to 63 letters, digits, '.', '_' or '-', "
                                 "starting with a letter or digit");

        r = keys_load_public(&hub, hub_pub, err, sizeof(err));
        if (r < 0)
                return cli_fail("%s", err);
        if (hub.role != KEYS_ROLE_HUB)
                return cli_fail("%s: a %s bundle, not the hub's", hub_pub,
                                keys_role_name(hub.role));
        keys_fingerprint(&hub, hub_fp_real);
        if (hub_fp && !fingerprint_equal(hub_fp, hub_fp_real))
                return cli_fail("%s: fingerprint %s does not match --hub-fingerprint %s; "
                                "refusing (check the file with the hub operator)", hub_pub,
                                hub_fp_real, hub_fp);

        if (node_new(&n, dir) < 0)
                return cli_fail("out of memory");
        if (lstat(n->member_key_path, &st) == 0) {
                cli_fail("%s already exists; refusing to replace this node's keys",
                         n->member_key_path);
                goto out;
        }
        if (errno != ENOENT && errno != ENOTDIR) {
                cli_fail("%s: %s", n->member_key_path, strerror(errno));
                goto out;
        }
        r = util_mkdir_p(dir, 0700);
        if (r >= 0)
                r = util_mkdir_p(n->keys_dir, 0700);
        if (r < 0) {
                cli_fail("%s: cannot create the directory: %s", dir, strerror(-r));
                goto out;
        }

        snprintf(n->cfg.hub_endpoint, sizeof(n->cfg.hub_endpoint), "%s", endpoint);
        if (alerts)
                snprintf(n->cfg.alerts_endpoint, sizeof(n->cfg.alerts_endpoint), "%s", alerts);
        r = node_config_format(&n->cfg, &conf);
        if (r >= 0)
                r = util_write_file(n->conf_path, conf, strlen(conf), 0644, false);
        if (r < 0) {
                cli_fail("%s: %s", n->conf_path, strerror(-r));
                goto out;
        }
        r = keys_save_public(&hub, n->hub_pub_path);
        if (r < 0) {
                cli_fail("%s: %s", n->hub_pub_path, strerror(-r));
                goto out;
        }
        r = outbox_open(&ob, n->outbox_path, 0, 0);
        if (r < 0) {
                cli_fail("%s: cannot create the outbox: %s", n->outbox_path, strerror(-r));
                goto out;
        }
        outbox_free(ob);
        ob = NULL;

        /* The secret key file last: a failure before it leaves a directory that
         * init can simply be run on again. */
        r = keys_generate(&member, KEYS_ROLE_MEMBER, name);
        if (r < 0) {
                cli_fail("cannot generate keys: %s", strerror(-r));
                goto out;
        }
        r = keys_save_public(&member->pub, n->member_pub_path);
        if (r < 0) {
                cli_fail("%s: %s", n->member_pub_path, strerror(-r));
                goto out;
        }
        if (protect) {
                char *pass = NULL, why[300] = "";
                size_t plen = 0;

                r = keys_passphrase_new(&pass, &plen, pass_file, why, sizeof(why));
                if (r < 0) {
                        cli_fail("%s", why);
                } else {
                        r = keys_save_secret_protected(member, n->member_key_path, pass, plen);
                        if (r < 0)
                                cli_fail("%s: %s", n->member_key_path,
                                         r == -EEXIST ? "already exists; refusing to replace it"
                                                      : strerror(-r));
                }
                keys_passphrase_free(pass);
                if (r < 0)
                        goto out;
        } else {
                r = keys_save_secret(member, n->member_key_path);
        }
        if (r < 0) {
                cli_fail("%s: %s", n->member_key_path,
                         r == -EEXIST ? "already exists; refusing to replace it" : strerror(-r));
                goto out;
        }
        keys_fingerprint(&member->pub, member_fp);
        printf("node initialised in %s\n"
               "\n"
               "member public bundle: %s\n"
               "  send this file to the hub operator to be enrolled\n"
               "member fingerprint:   %s\n"
               "hub fingerprint:      %s\n"
               "\n"
               "Call the hub operator and compare both fingerprints by phone before\n"
               "submitting signals.\n",
               dir, n->member_pub_path, member_fp, hub_fp_real);
        ret = CLI_EXIT_OK;
out:
        keys_free(member);
        outbox_free(ob);
        free(conf);
        node_free(n);
        return ret;
}
