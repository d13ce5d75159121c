/* cmd-serve.c: `nmo-hub serve`: runs the daemon. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "hub-cli.h"
#include "dirlock.h"
#include "config.h"
#include "log.h"
#include "server.h"

static const char help[] =
        "Usage: nmo-hub serve --dir DIR [--listen EP] [--alerts-listen EP] [-v|-q]\n"
        "\n"
        "Runs the hub: admits enrolled, active members over CurveZMQ, opens and checks\n"
        "each signal, stores it once in DIR/private and answers with a signed receipt\n"
        "after the store is durable. Logs go to stderr; they never hold signal content.\n"
        "SIGTERM or SIGINT: what is in flight is committed and answered, then exit 0.\n"
        "SIGHUP (systemctl reload): DIR/hub.conf is read again and what can change\n"
        "while running is applied at once: [log] level, [limits] member_rate and\n"
        "member_burst, the [alerts] rules. One line says what changed (or \"nothing\n"
        "changed\"); another names changed settings that wait for a restart (listen\n"
        "addresses, max_message, queue, batch, handshake_ms, [privacy], [release]).\n"
        "A hub.conf that does not parse is refused with an error line; the settings\n"
        "in use stay.\n"
        "Only one serve runs on a DIR: a second one exits 1 naming the first's pid.\n"
        "\n"
        "  --dir DIR        hub directory made by 'nmo-hub init'\n"
        "  --listen EP      endpoint, overriding [hub] listen in DIR/hub.conf\n"
        "  --alerts-listen EP  alert feed endpoint, overriding [alerts] listen\n"
        "  -v, --verbose    log each batch (overrides [log] level in hub.conf)\n"
        "  -q, --quiet      log errors only (overrides [log] level)\n"
        "  -h, --help       show this help\n"
        "\n"
        "Limits ([limits] in DIR/hub.conf): max_message (bytes, larger frames\n"
        "disconnect the peer), queue (messages per direction), batch (envelopes per\n"
        "commit), member_rate and member_burst (envelopes per second per member),\n"
        "handshake_ms (time to finish the CURVE handshake), reply_queue (receipts a\n"
        "connection may leave unread before it is closed), member_connections\n"
        "(connections per member key on each socket), unauthenticated (connections\n"
        "in the handshake; the oldest beyond it is closed; 0: twice the members, at\n"
        "least 512), backlog (connections the kernel queues on each listening\n"
        "socket; 0: twice the members, at least 4096). The file descriptor limit\n"
        "is raised to the hard limit at start.\n"
        "The alert feed listens on [alerts] listen, by default the host of the\n"
        "listen endpoint with its port plus one.\n"
        "Disclosure control ([privacy]): min_reporters (at least 3), dominance_n and\n"
        "dominance_k; sensitive (materials) with sensitive_min_reporters,\n"
        "sensitive_dominance_n and sensitive_dominance_k, stricter; protection_reports\n"
        "(the range of reports a cell suppressed for too few reporters keeps against\n"
        "all releases); noise_max, noise_variance, noise_volume (the cell key method's\n"
        "noise on released figures). Release calendar ([release]): delay_hours: a\n"
        "week's figures and alerts are released once it has ended (Monday 00:00 UTC)\n"
        "plus this many hours, and never change after. Alert rules ([alerts]):\n"
        "severity_reporters, surge_percent, surge_weeks, surge_min_reports,\n"
        "new_restriction. Epochs (months of ISO weeks) close on their own with their\n"
        "last release: the month's cells are released, the contributions deleted and\n"
        "the epoch's pseudonym key destroyed.\n";

int hub_cmd_serve(int argc, char **argv)
{
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "listen", required_argument, NULL, 'l' },
                { "alerts-listen", required_argument, NULL, 'a' },
                { "verbose", no_argument, NULL, 'v' },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        struct hub_config cfg;
        const char *dir = NULL, *listen = NULL, *alerts = NULL;
        enum log_level level = LOG_LEVEL_INFO;
        bool level_set = false;
        char err[512];
        int c, r, lock_fd = -1;

        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":vqh", opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        dir = optarg;
                        break;
                case 'l':
                        if (!hub_config_endpoint_ok(optarg))
                                return cli_usage("serve", "--listen must be tcp://HOST:PORT");
                        listen = optarg;
                        break;
                case 'a':
                        if (!hub_config_endpoint_ok(optarg))
                                return cli_usage("serve", "--alerts-listen must be "
                                                 "tcp://HOST:PORT");
                        alerts = optarg;
                        break;
                case 'v':
                        level = LOG_LEVEL_DEBUG;
                        level_set = true;
                        break;
                case 'q':
                        level = LOG_LEVEL_ERROR;
                        level_set = true;
                        break;
                case 'h':
                        return cli_help(help);
                default:
                        return cli_bad_option("serve", argv, c);
                }
        }
        if (optind != argc)
                return cli_unexpected("serve", argv[optind]);
        if (!dir)
                return cli_required("serve", "--dir DIR");
        log_setup("nmo-hub", level);
        hub_config_defaults(&cfg);
        if (hub_config_load(&cfg, dir, err, sizeof(err)) < 0) {
                log_error("%s/%s", dir, err);
                return CLI_EXIT_FAIL;
        }
        if (listen)
                snprintf(cfg.listen, sizeof(cfg.listen), "%s", listen);
        if (alerts)
                snprintf(cfg.alerts_listen, sizeof(cfg.alerts_listen), "%s", alerts);
        cfg.listen_set = listen != NULL;
        cfg.alerts_listen_set = alerts != NULL;
        if (level_set)
                cfg.log_level = level;
        cfg.log_level_set = level_set;
        log_setup("nmo-hub", (enum log_level)cfg.log_level);
        /* Before anything is opened for writing, and for the life of the hub:
         * a second hub on the same directory would write beside this one. */
        if (hub_cli_lock(dir, "serve", &lock_fd) < 0)
                return CLI_EXIT_FAIL;
        r = hub_serve(dir, &cfg);
        dirlock_release(lock_fd);
        return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
