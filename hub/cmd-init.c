/* cmd-init.c: `nmo-hub init`: creates a hub directory: keys, config, store. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analytics.h"
#include "hub-cli.h"
#include "config.h"
#include "dirlock.h"
#include "keys.h"
#include "server.h"
#include "store.h"

static const char help[] =
        "Usage: nmo-hub init --dir DIR [--listen tcp://HOST:PORT] [--alerts-listen EP]\n"
        "                    [--name NAME] [--passphrase | --passphrase-file FILE]\n"
        "\n"
        "Creates a hub directory: the hub's secret keys (DIR/keys/hub.key, mode 0600),\n"
        "its public bundle (DIR/keys/hub.pub, to send to every member), the config\n"
        "DIR/hub.conf and the private store DIR/private. Refuses to overwrite keys, and\n"
        "exits 1 naming its pid while 'nmo-hub serve' runs on DIR.\n"
        "\n"
        "  --dir DIR        hub directory (created with mode 0700)\n"
        "  --listen EP      endpoint to serve on (default " HUB_DEFAULT_LISTEN ")\n"
        "  --alerts-listen EP  endpoint of the alert feed (default: the host of --listen,\n"
        "                   its port plus one)\n"
        "  --name NAME      label in the public bundle (default gdn-hub)\n"
        "  --passphrase-file FILE  protect the hub's secret keys with the passphrase on\n"
        "                   the first line of FILE (mode 0600); serve and rotate-keys\n"
        "                   then read it from NMO_PASSPHRASE_FILE, the systemd\n"
        "                   credential nmo-passphrase (LoadCredentialEncrypted=), or ask\n"
        "  --passphrase     protect the hub's secret keys; ask for the passphrase\n"
        "  -v, --verbose    more log output\n"
        "  -q, --quiet      errors only\n"
        "  -h, --help       show this help\n";

int hub_cmd_init(int argc, char **argv)
{
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "listen", required_argument, NULL, 'l' },
                { "alerts-listen", required_argument, NULL, 'a' },
                { "name", required_argument, NULL, 'n' },
                { "passphrase-file", required_argument, NULL, 'P' },
                { "passphrase", no_argument, NULL, 'p' },
                CLI_COMMON_OPTIONS,
                { NULL, 0, NULL, 0 },
        };
        struct keys_secret *sk = NULL;
        struct hub_store *st = NULL;
        struct hub_config cfg;
        const char *dir = NULL, *name = "gdn-hub", *pass_file = NULL;
        char *pass = NULL;
        size_t plen = 0;
        bool protect = false;
        char fp[KEYS_FINGERPRINT_LEN], *keydir = NULL, *sec = NULL, *pub = NULL;
        int c, r, ret = CLI_EXIT_FAIL, lock_fd = -1, verbosity = 0;

        hub_config_defaults(&cfg);
        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":" CLI_COMMON_SHORT, opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        dir = optarg;
                        break;
                case 'l':
                        if (!hub_config_endpoint_ok(optarg))
                                return cli_usage("init", "--listen must be tcp://HOST:PORT");
                        snprintf(cfg.listen, sizeof(cfg.listen), "%s", optarg);
                        break;
                case 'a':
                        if (!hub_config_endpoint_ok(optarg))
                                return cli_usage("init", "--alerts-listen must be "
                                                 "tcp://HOST:PORT");
                        snprintf(cfg.alerts_listen, sizeof(cfg.alerts_listen), "%s", optarg);
                        break;
                case 'n':
                        if (!keys_name_ok(optarg))
                                return cli_usage("init", "--name: letters, digits, '.', "
                                                 "'_' or '-'");
                        name = optarg;
                        break;
                case 'P':
                        pass_file = optarg;
                        protect = true;
                        break;
                case 'p':
                        protect = true;
                        break;
                case 'h':
                        return cli_help(help);
                default:
                        if (cli_verbosity_option(c, &verbosity))
                                break;
                        return cli_bad_option("init", argv, c);
                }
        }
        cli_log_setup(verbosity);
        if (optind != argc)
                return cli_unexpected("init", argv[optind]);
        if (!dir)
                return cli_required("init", "--dir DIR");
        keydir = util_path(dir, "keys");
        sec = hub_secret_key_path(dir);
        pub = hub_public_key_path(dir);
        if (!keydir || !sec || !pub)
                goto out;
        r = util_mkdir_p(dir, 0700);
        if (r < 0) {
                fprintf(stderr, "nmo-hub init: cannot create %s: %s\n", dir, strerror(-r));
                goto out;
        }
        /* Held while the directory is made, so that a hub started meanwhile
         * waits for a whole one; a running hub is named. */
        if (hub_cli_lock(dir, "init", &lock_fd) < 0)
                goto out;
        if (access(sec, F_OK) == 0) {
                fprintf(stderr, "nmo-hub init: %s already exists; this directory has a hub. "
                        "Refusing to replace its keys.\n", sec);
                goto out;
        }
        r = util_mkdir_p(keydir, 0700);
        if (r < 0) {
                fprintf(stderr, "nmo-hub init: cannot create %s: %s\n", keydir, strerror(-r));
                goto out;
        }
        if (protect) {
                char why[300] = "";

                r = keys_passphrase_new(&pass, &plen, pass_file, why, sizeof(why));
                if (r < 0) {
                        fprintf(stderr, "nmo-hub init: %s\n", why);
                        goto out;
                }
        }
        r = keys_generate(&sk, KEYS_ROLE_HUB, name);
        if (r == 0)
                r = keys_save_secret_protected(sk, sec, pass, plen);
        if (r == 0)
                r = keys_save_public(&sk->pub, pub);
        if (r < 0) {
                fprintf(stderr, "nmo-hub init: cannot write the hub keys: %s\n", strerror(-r));
                goto out;
        }
        r = hub_config_write(&cfg, dir);
        if (r < 0 && r != -EEXIST) {
                fprintf(stderr, "nmo-hub init: cannot write %s/hub.conf: %s\n", dir,
                        strerror(-r));
                goto out;
        }
        r = hub_store_open(&st, dir, false);
        if (r < 0) {
                fprintf(stderr, "nmo-hub init: cannot create the private store: %s\n",
                        strerror(-r));
                goto out;
        }
        {
                struct analytics *an = NULL;
                char *an_path = util_path(dir, "analytics");

                r = an_path ? analytics_open(&an, an_path, false) : -ENOMEM;
                analytics_free(an);
                free(an_path);
                if (r < 0) {
                        fprintf(stderr, "nmo-hub init: cannot create the analytics store: %s\n",
                                strerror(-r));
                        goto out;
                }
        }
        keys_fingerprint(&sk->pub, fp);
        printf("hub directory:   %s\n"
               "public bundle:   %s  (send this file to every member)\n"
               "fingerprint:     %s  (members compare this by phone)\n"
               "analytics store: %s/analytics  (what analysts open, read-only)\n"
               "serve with:      nmo-hub serve --dir %s\n", dir, pub, fp, dir, dir);
        ret = CLI_EXIT_OK;
out:
        keys_passphrase_free(pass);
        hub_store_free(st);
        dirlock_release(lock_fd);
        keys_free(sk);
        free(keydir);
        free(sec);
        free(pub);
        return ret;
}
