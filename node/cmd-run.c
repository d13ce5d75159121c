/* cmd-run.c: `nmo-node run` starts the delivery agent (agent.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "node-cli.h"
#include "log.h"
#include "cmd.h"
#include "node.h"

static const char run_help[] =
        "Usage: nmo-node run --dir DIR [--once [--timeout SECONDS]]\n"
        "\n"
        "Deliver the queued signals of a node to its hub over CurveZMQ and record the\n"
        "hub's signed receipts in the outbox. Runs until SIGTERM or SIGINT; signals\n"
        "are kept and retried with backoff while the hub is unreachable. Logs go to\n"
        "stderr and never contain signal content. A hub that cannot be reached or\n"
        "refuses the node is logged once with the cause, retried with backoff and\n"
        "shown by `nmo-node status` (last_error, next retry).\n"
        "\n"
        "SIGHUP (systemctl reload) reads DIR/node.conf again: [delivery] (window,\n"
        "reply_timeout_ms, retry_min_ms, retry_max_ms) and [log] level apply at once,\n"
        "with one log line saying what changed (or \"nothing changed\"); a changed\n"
        "[hub] endpoint or alerts is logged as waiting for a restart. A node.conf that\n"
        "does not parse is refused with an error line and the settings in use stay.\n"
        "\n"
        "With [metrics] listen = ADDRESS:PORT in DIR/node.conf (off by default) the\n"
        "agent answers GET /metrics there in the Prometheus text format: the counts\n"
        "of `nmo-node status`, the oldest pending signal's age, the last receipt and\n"
        "last contact with the hub, whether the hub connection is up, and signals\n"
        "sent, resent and receipts recorded since start (see nmo-node(8)). No\n"
        "authentication: keep it on loopback. An address that cannot be bound stops\n"
        "the start.\n"
        "\n"
        "Options:\n"
        "  -d, --dir DIR          the node directory\n"
        "      --once             exit once nothing is queued or in flight; delivered\n"
        "                         and rejected signals are final, but temporary\n"
        "                         rejections (suspended member, rate limit, clock skew,\n"
        "                         hub store busy) stay queued, so --once keeps trying\n"
        "                         until they clear\n"
        "      --timeout SECONDS  with --once: give up after SECONDS and exit 1 if\n"
        "                         signals are still queued or in flight\n"
        "  -v, --verbose          more log output (overrides [log] level)\n"
        "  -q, --quiet            errors only (overrides [log] level)\n"
        "  -h, --help             show this help\n"
        "\n"
        "Refuses to start while a key rotation is unfinished (DIR/keys/member.key.next\n"
        "exists): finish it with nmo-node rotate-keys first.\n"
        "\n"
        "Delivery limits are set in DIR/node.conf ([delivery] window, reply_timeout_ms,\n"
        "retry_min_ms, retry_max_ms; [metrics] listen; [log] level: error, warning,\n"
        "info or debug).\n"
        "\n"
        "Exit status: 0 stopped cleanly or (--once) nothing left, 1 failure or\n"
        "--timeout reached, 2 usage error.\n";

int cmd_run(int argc, char **argv)
{
        enum { OPT_ONCE = CLI_OPT_LONG, OPT_TIMEOUT };
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "once", no_argument, NULL, OPT_ONCE },
                { "timeout", required_argument, NULL, OPT_TIMEOUT },
                CLI_COMMON_OPTIONS,
                { NULL, 0, NULL, 0 },
        };
        struct agent_options ao = { false, 0, false };
        const char *dir = NULL, *timeout = NULL;
        struct node *n = NULL;
        char err[512];
        uint64_t secs = 0;
        int c, r, verbosity = 0, ret = CLI_EXIT_FAIL;

        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":d:" CLI_COMMON_SHORT, opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        dir = optarg;
                        break;
                case OPT_ONCE:
                        ao.once = true;
                        break;
                case OPT_TIMEOUT:
                        timeout = optarg;
                        break;
                case 'h':
                        return cli_help(run_help);
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
        if (timeout) {
                if (!ao.once)
                        return cli_usage(argv[0], "--timeout needs --once");
                if (util_parse_u64(timeout, 1, 31536000, &secs) < 0)
                        return cli_usage(argv[0], "--timeout: \"%s\" is not a whole number of "
                                         "seconds from 1 to 31536000", timeout);
                ao.timeout_ms = secs * 1000u;
        }

        if (node_new(&n, dir) < 0)
                return cli_fail("out of memory");
        /* Half-way through a rotation the hub may hold the new keys while
         * member.key is still the old one; rotate-keys sorts that out. */
        r = node_rotation_pending(n);
        if (r != 0) {
                if (r > 0)
                        cli_fail("a key rotation is unfinished: run nmo-node rotate-keys --dir %s",
                                 dir);
                else
                        cli_fail("%s: %s", n->member_key_next_path, strerror(-r));
                goto out;
        }
        r = node_load(n, NODE_LOAD_CONFIG | NODE_LOAD_KEYS, err, sizeof(err));
        if (r < 0) {
                cli_fail("%s%s", err, r == -ENOENT ? " (run `nmo-node init` first)" : "");
                goto out;
        }
        /* -v and -q win over node.conf's [log] level. */
        ao.log_level_set = verbosity != 0;
        if (!ao.log_level_set)
                log_setup(NULL, (enum log_level)n->cfg.log_level);
        r = agent_run(n, &ao);
        if (r == -ETIMEDOUT)
                cli_fail("--timeout: signals still queued or in flight after %llu seconds "
                         "(kept in the outbox; see `nmo-node status`)", (unsigned long long)secs);
        else if (r < 0)
                cli_fail("%s: the agent stopped: %s", n->dir, strerror(-r));
        else
                ret = CLI_EXIT_OK;
out:
        node_free(n);
        return ret;
}
