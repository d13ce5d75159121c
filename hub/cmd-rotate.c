/* cmd-rotate.c: `nmo-hub rotate-keys`: new payload and signing keys for the
 * hub, announced to members signed with the old ones (keyrot.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub-cli.h"
#include "dirlock.h"
#include "keyrot.h"
#include "server.h"

static const char help[] =
        "Usage: nmo-hub rotate-keys --dir DIR [--overlap-days N] [--force]\n"
        "       nmo-hub rotate-keys --dir DIR --end-overlap\n"
        "\n"
        "Replaces the hub's payload key (what members seal signals to) and signing key\n"
        "(receipts and alerts) with new ones. The transport (CurveZMQ) key stays, so\n"
        "members keep connecting. The old secret keys are kept as\n"
        "DIR/keys/hub-previous.key (0600) for the overlap: until it ends the hub still\n"
        "opens envelopes sealed to the old key, answers them with receipts signed by the\n"
        "old key and attaches the announcement DIR/keys/hub-announcement (the new public\n"
        "keys, signed by the old and the new signing key), from which members' nodes\n"
        "adopt the new keys by themselves. The alert feed sends it to subscribers too.\n"
        "When the overlap has ended the hub destroys the old keys at its next start (or\n"
        "while it runs); envelopes sealed to them then get unknown-hub-key, with the\n"
        "announcement attached so that an up-to-date node still re-seals and resends.\n"
        "\n"
        "Stop the hub first: rotate-keys refuses to run while 'nmo-hub serve' runs on DIR\n"
        "(it names its pid); start the hub again afterwards. An interrupted run is\n"
        "finished by running the command again; until then 'serve' refuses to start.\n"
        "\n"
        "  --dir DIR          hub directory made by 'nmo-hub init'\n"
        "  --overlap-days N   days the old keys keep working (default 30, 0..365; 0: they\n"
        "                     are retired when the hub next starts)\n"
        "  --force            rotate although the overlap of the last rotation still runs\n"
        "                     (its previous keys are destroyed first)\n"
        "  --end-overlap      end the running overlap now: destroy hub-previous.key\n"
        "                     (hub stopped; start it again afterwards)\n"
        "  -v, --verbose      more log output\n"
        "  -q, --quiet        errors only\n"
        "  -h, --help         show this help\n"
        "\n"
        "Exit status: 0 rotated, 1 failure (also: an overlap is running, or the hub is\n"
        "running), 2 usage error.\n";

static int rotate(const char *dir, uint32_t days, bool force, bool end);

int hub_cmd_rotate(int argc, char **argv)
{
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "overlap-days", required_argument, NULL, 'o' },
                { "force", no_argument, NULL, 'f' },
                { "end-overlap", no_argument, NULL, 'e' },
                CLI_COMMON_OPTIONS,
                { NULL, 0, NULL, 0 },
        };
        const char *dir = NULL;
        uint32_t days = HUB_KEYROT_DEFAULT_DAYS;
        bool force = false, end = false, days_set = false;
        int c, r, lock_fd = -1, verbosity = 0;

        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":" CLI_COMMON_SHORT, opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        dir = optarg;
                        break;
                case 'o':
                        if (util_parse_u32(optarg, 0, HUB_KEYROT_MAX_DAYS, &days) < 0)
                                return cli_usage("rotate-keys", "--overlap-days takes a "
                                                 "number of days, 0 to 365");
                        days_set = true;
                        break;
                case 'f':
                        force = true;
                        break;
                case 'e':
                        end = true;
                        break;
                case 'h':
                        return cli_help(help);
                default:
                        if (cli_verbosity_option(c, &verbosity))
                                break;
                        return cli_bad_option("rotate-keys", argv, c);
                }
        }
        cli_log_setup(verbosity);
        if (optind != argc)
                return cli_unexpected("rotate-keys", argv[optind]);
        if (!dir)
                return cli_required("rotate-keys", "--dir DIR");
        if (end && (force || days_set))
                return cli_usage("rotate-keys", "--end-overlap takes no other option");
        /* A running hub retires keys by itself and holds the current ones:
         * the files must not change under it. */
        if (hub_cli_lock(dir, "rotate-keys", &lock_fd) < 0)
                return CLI_EXIT_FAIL;
        r = rotate(dir, days, force, end);
        dirlock_release(lock_fd);
        return r;
}

static int rotate(const char *dir, uint32_t days, bool force, bool end)
{
        struct hub_keyrot_result res;
        struct keys_unlock unlock = { 0 };
        char err[768], when[32], *pub = NULL;
        int r;

        if (end) {
                r = hub_keyrot_retire(NULL, dir);
                if (r < 0) {
                        fprintf(stderr, "nmo-hub rotate-keys: cannot destroy the previous "
                                "keys in %s/keys: %s\n", dir, strerror(-r));
                        return CLI_EXIT_FAIL;
                }
                printf("previous hub keys destroyed: envelopes sealed to them get "
                       "unknown-hub-key from the hub's next start on.\n"
                       "restart the hub:  nmo-hub serve --dir %s\n", dir);
                return CLI_EXIT_OK;
        }
        r = hub_keyrot_rotate(dir, (uint64_t)days * 86400000u, force, util_now_ms(), &unlock,
                              &res, err, sizeof(err));
        keys_unlock_clear(&unlock);
        if (r < 0) {
                fprintf(stderr, "nmo-hub rotate-keys: %s\n", err);
                return CLI_EXIT_FAIL;
        }
        pub = hub_public_key_path(dir);
        util_format_time(res.overlap_until_ms, when, sizeof(when));
        printf("%s"
               "new hub fingerprint: %s  (was %s)\n"
               "public bundle:       %s\n"
               "overlap until:       %s  (old keys still accepted until then)\n"
               "\n"
               "Now:\n"
               "  1. restart the hub (stopped for the rotation): nmo-hub serve --dir %s;\n"
               "  2. nothing else for members whose nodes connect during the overlap: their\n"
               "     nodes verify the announcement with the old key and adopt the new one;\n"
               "  3. send the new public bundle to members whose nodes stay offline for the\n"
               "     whole overlap or run an older nmo-node, and read them the new fingerprint.\n",
               res.resumed ? "an interrupted rotation was finished\n" : "", res.new_fingerprint,
               res.old_fingerprint, pub ? pub : "DIR/keys/hub.pub", when, dir);
        free(pub);
        return CLI_EXIT_OK;
}
