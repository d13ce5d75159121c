/* cmd-alerts.c: `nmo-node alerts` subscribes to the hub's alert feed (feed.h),
 * keeps every verified alert in the outbox, and shows the stored alerts, newest
 * issued first; with --follow it goes on showing new alerts and revisions as
 * they arrive. Stored alerts are verified again before they are shown. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "node-cli.h"
#include "client.h"
#include "cmd.h"
#include "feed.h"
#include "log.h"
#include "node.h"
#include "outbox.h"

#define WAIT_MAX_S 3600u

static const char alerts_help[] =
        "Usage: nmo-node alerts --dir DIR [--follow] [--json] [--wait SECONDS]\n"
        "\n"
        "Show the alerts the hub has issued. Connects to the hub's alert feed over\n"
        "CurveZMQ with this member's key, keeps each alert whose signature verifies\n"
        "with the hub key in DIR/keys/hub.pub in the outbox, then prints every stored\n"
        "alert, newest issued first. An alert with a bad signature or a malformed\n"
        "body is reported on stderr and dropped. The hub sends the last 30 days of\n"
        "alerts to this node when it connects (to it alone, a few times a minute at\n"
        "most per member), then each new one; an alert is kept once per id, and a\n"
        "higher revision replaces a lower one. When the hub cannot be reached the\n"
        "stored alerts are shown.\n"
        "\n"
        "Each alert is shown as\n"
        "  [LEVEL] ISSUED  RULE  MATERIAL[/EVENT]  PERIOD (window START..END)\n"
        "    summary\n"
        "    reporters N, reports N, baseline X    (the figures that apply)\n"
        "\n"
        "Options:\n"
        "  -d, --dir DIR        the node directory\n"
        "  -f, --follow         after the stored alerts, print each new alert or new\n"
        "                       revision as it arrives, until SIGINT or SIGTERM\n"
        "  -j, --json           one JSON array of objects {id, revision, rule,\n"
        "                       material, event (null when none), level, period,\n"
        "                       window_start, window_end, issued, summary, reporters,\n"
        "                       reports, baseline (when present), verified}; with\n"
        "                       --follow, one such object per line (JSON Lines)\n"
        "  -w, --wait SECONDS   without --follow: wait at most SECONDS (1..3600,\n"
        "                       default 3) for the hub's alerts; the wait ends 0.5 s\n"
        "                       after the last one arrives\n"
        "  -v, --verbose        more log output\n"
        "  -q, --quiet          errors only\n"
        "  -h, --help           show this help\n"
        "\n"
        "The feed is [hub] alerts in DIR/node.conf; by default the hub endpoint with\n"
        "port + 1.\n"
        "\n"
        "When no alert arrives, stderr says why: \"hub not reachable\" (with the cause,\n"
        "e.g. connection refused), \"key not accepted\" (the hub refused this node's\n"
        "key: not enrolled, suspended or revoked) or \"hub key mismatch\" (keys/hub.pub\n"
        "is not the hub's key).\n"
        "\n"
        "Exit status: 0 success, also when the hub could not be reached (the stored\n"
        "alerts are shown, with a note on stderr); 1 the hub refused this node's key,\n"
        "the hub key did not match or the handshake failed, and no alert arrived (the\n"
        "stored alerts are still shown), or another failure; 2 usage error.\n";

struct printer {
        bool json;              /* JSON: an array (history) or lines (follow) */
        size_t blocks;          /* human blocks printed so far */
};

/* Stored alerts, verified again, for sorting. */
struct history {
        Nmo__AlertBody **items;
        size_t n;
        size_t cap;
        const uint8_t *sign_pk;
        const uint8_t *prev_pk; /* the hub's retired signing key, or NULL */
        size_t unverified;      /* stored, but no longer verifying */
};

static const char *text(const char *s)
{
        return s ? s : "";
}

static struct json_object *json_text(const char *s)
{
        return json_object_new_string(text(s));
}

static int alert_json(const Nmo__AlertBody *b, struct json_object **ret)
{
        struct json_object *o = json_object_new_object();
        bool event = b->event && b->event[0];

        if (!o)
                return -ENOMEM;
        if (node_cli_json_add(o, "id", json_text(b->id), false) < 0 ||
            node_cli_json_add(o, "revision", json_object_new_int64(b->revision), false) < 0 ||
            node_cli_json_add(o, "rule", json_text(b->rule), false) < 0 ||
            node_cli_json_add(o, "material", json_text(b->material), false) < 0 ||
            node_cli_json_add(o, "event", event ? json_text(b->event) : NULL, !event) < 0 ||
            node_cli_json_add(o, "level", json_text(b->level), false) < 0 ||
            node_cli_json_add(o, "period", json_text(b->period), false) < 0 ||
            node_cli_json_add(o, "window_start", json_text(b->window_start), false) < 0 ||
            node_cli_json_add(o, "window_end", json_text(b->window_end), false) < 0 ||
            node_cli_json_add(o, "issued", json_text(b->issued), false) < 0 ||
            node_cli_json_add(o, "summary", json_text(b->summary), false) < 0 ||
            node_cli_json_add(o, "reporters", json_object_new_int64(b->reporters), false) < 0 ||
            node_cli_json_add(o, "reports", json_object_new_int64(b->reports), false) < 0 ||
            (b->has_baseline &&
             node_cli_json_add(o, "baseline", json_object_new_double(b->baseline), false) < 0) ||
            node_cli_json_add(o, "verified", json_object_new_boolean(1), false) < 0) {
                json_object_put(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}

static const char *json_text_of(struct json_object *o)
{
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
}

static void print_block(struct printer *p, const Nmo__AlertBody *b)
{
        const char *sep = "";

        if (p->blocks++ > 0)
                putchar('\n');
        printf("[");
        for (const char *c = text(b->level); *c; c++)
                putchar(toupper((unsigned char)*c));
        printf("] %s  %s  %s%s%s", text(b->issued), text(b->rule), text(b->material),
               b->event && b->event[0] ? "/" : "", text(b->event));
        if (b->period && b->period[0])
                printf("  %s", b->period);
        if (b->window_start && b->window_start[0] && b->window_end && b->window_end[0])
                printf(" (window %s..%s)", b->window_start, b->window_end);
        putchar('\n');
        if (b->summary && b->summary[0])
                printf("  %s\n", b->summary);
        if (b->reporters == 0 && b->reports == 0 && !b->has_baseline)
                return;
        printf("  ");
        if (b->reporters) {
                printf("reporters %u", b->reporters);
                sep = ", ";
        }
        if (b->reports) {
                printf("%sreports %u", sep, b->reports);
                sep = ", ";
        }
        if (b->has_baseline)
                printf("%sbaseline %g", sep, b->baseline);
        putchar('\n');
}

/* One alert as --follow shows it: a block, or a JSON line. */
static int print_one(struct printer *p, const Nmo__AlertBody *b)
{
        struct json_object *o = NULL;
        int r;

        if (p->json) {
                r = alert_json(b, &o);
                if (r < 0)
                        return r;
                puts(json_text_of(o));
                json_object_put(o);
        } else {
                print_block(p, b);
        }
        /* A reader of a pipe sees each alert when it comes. */
        if (fflush(stdout) != 0)
                return -errno;
        return 0;
}

static int on_alert(const Nmo__AlertBody *b, void *userdata)
{
        return print_one(userdata, b);
}

static int collect_fn(const uint8_t *buf, size_t len, void *userdata)
{
        struct history *h = userdata;
        Nmo__AlertBody *b = NULL;
        int r;

        r = feed_check_alert(buf, len, h->sign_pk, &b);
        /* Stored before the hub rotated its keys: the announcement this node
         * adopted was signed by that key, so its alerts stay trusted. */
        if (r == -EKEYREJECTED && h->prev_pk)
                r = feed_check_alert(buf, len, h->prev_pk, &b);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                h->unverified++;
                return 0;
        }
        if (h->n == h->cap) {
                size_t ncap = h->cap ? h->cap * 2 : 32;
                Nmo__AlertBody **ni = realloc(h->items, ncap * sizeof(*ni));

                if (!ni) {
                        nmo__alert_body__free_unpacked(b, NULL);
                        return -ENOMEM;
                }
                h->items = ni;
                h->cap = ncap;
        }
        h->items[h->n++] = b;
        return 0;
}

/* Newest issued first; then the later period, then by id, so that the order
 * is the same on every run. */
static int newest_first(const void *x, const void *y)
{
        const Nmo__AlertBody *a = *(Nmo__AlertBody *const *)x;
        const Nmo__AlertBody *b = *(Nmo__AlertBody *const *)y;
        int c = strcmp(text(b->issued), text(a->issued));

        if (c == 0)
                c = strcmp(text(b->period), text(a->period));
        if (c == 0)
                c = strcmp(text(a->id), text(b->id));
        return c;
}

static void history_free(struct history *h)
{
        for (size_t i = 0; i < h->n; i++)
                nmo__alert_body__free_unpacked(h->items[i], NULL);
        free(h->items);
        h->items = NULL;
        h->n = h->cap = 0;
}

/* Prints the stored alerts: blocks, one JSON array, or (follow) JSON lines. */
static int print_history(struct node *n, struct outbox *ob, struct printer *p, bool follow)
{
        struct history h = { NULL, 0, 0, n->hub.sign, n->has_hub_ann ? n->hub_ann.old_sign : NULL,
                             0 };
        struct json_object *arr = NULL;
        int r, walk;

        walk = outbox_foreach_alert(ob, collect_fn, &h);
        if (walk < 0 && walk != -EBADMSG) {
                r = walk;
                log_error("%s: cannot read the stored alerts: %s", n->outbox_path,
                          strerror(-r));
                goto out;
        }
        if (walk == -EBADMSG)
                log_warn("%s: unreadable stored alerts skipped", n->outbox_path);
        if (h.unverified)
                log_warn("%zu stored alert%s not shown: %s not verify with the hub key in %s",
                         h.unverified, h.unverified == 1 ? "" : "s",
                         h.unverified == 1 ? "it does" : "they do", n->hub_pub_path);
        if (h.n) /* h.items is NULL when nothing is stored */
                qsort(h.items, h.n, sizeof(*h.items), newest_first);

        if (p->json && !follow) {
                r = -ENOMEM;
                arr = json_object_new_array();
                if (!arr)
                        goto out;
                for (size_t i = 0; i < h.n; i++) {
                        struct json_object *o = NULL;

                        r = alert_json(h.items[i], &o);
                        if (r < 0)
                                goto out;
                        if (json_object_array_add(arr, o) < 0) {
                                json_object_put(o);
                                r = -ENOMEM;
                                goto out;
                        }
                }
                puts(json_text_of(arr));
        } else {
                for (size_t i = 0; i < h.n; i++) {
                        r = print_one(p, h.items[i]);
                        if (r < 0)
                                goto out;
                }
                if (h.n == 0 && !follow)
                        puts("no alerts");
        }
        r = fflush(stdout) != 0 ? -errno : 0;
out:
        json_object_put(arr);
        history_free(&h);
        return r;
}

int cmd_alerts(int argc, char **argv)
{
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "follow", no_argument, NULL, 'f' },
                { "json", no_argument, NULL, 'j' },
                { "wait", required_argument, NULL, 'w' },
                CLI_COMMON_OPTIONS,
                { NULL, 0, NULL, 0 },
        };
        const char *dir = NULL, *wait = NULL;
        struct printer printer = { false, 0 };
        struct feed_options fo = { false, 0, NULL, NULL };
        struct feed_result res;
        struct outbox *ob = NULL;
        struct node *n = NULL;
        char err[512];
        uint32_t secs = 0;
        int c, r, verbosity = 0, ret = CLI_EXIT_FAIL;

        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":d:fjw:" CLI_COMMON_SHORT, opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        dir = optarg;
                        break;
                case 'f':
                        fo.follow = true;
                        break;
                case 'j':
                        printer.json = true;
                        break;
                case 'w':
                        wait = optarg;
                        break;
                case 'h':
                        return cli_help(alerts_help);
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
        if (wait) {
                if (fo.follow)
                        return cli_usage(argv[0], "--wait is for a one-off look; --follow "
                                         "waits until stopped");
                if (util_parse_u32(wait, 1, WAIT_MAX_S, &secs) < 0)
                        return cli_usage(argv[0], "--wait: \"%s\" is not a whole number of "
                                         "seconds from 1 to %u", wait, WAIT_MAX_S);
        }

        if (node_new(&n, dir) < 0)
                return cli_fail("out of memory");
        r = node_load(n, NODE_LOAD_CONFIG | NODE_LOAD_KEYS, err, sizeof(err));
        if (r < 0) {
                cli_fail("%s%s", err, r == -ENOENT ? " (run `nmo-node init` first)" : "");
                goto out;
        }
        if (!n->cfg.alerts_endpoint[0]) {
                cli_fail("%s: [hub] alerts is not set, and the endpoint's port has no port + 1 "
                         "to default to; add `alerts = tcp://HOST:PORT`", n->conf_path);
                goto out;
        }
        fo.wait_ms = wait ? secs * 1000ull : n->cfg.alert_wait_ms;
        r = outbox_open(&ob, n->outbox_path, 0, 0);
        if (r < 0) {
                cli_fail("%s: cannot open the outbox: %s", n->outbox_path, strerror(-r));
                goto out;
        }

        if (fo.follow) {
                sigset_t stop, old;

                /* Held from before the history is shown, so that a SIGINT or
                 * SIGTERM sent once it is seen waits for feed_run()'s signalfd
                 * and ends the run cleanly instead of killing it. */
                sigemptyset(&stop);
                sigaddset(&stop, SIGINT);
                sigaddset(&stop, SIGTERM);
                (void)sigprocmask(SIG_BLOCK, &stop, &old);
                if (print_history(n, ob, &printer, true) < 0) {
                        (void)sigprocmask(SIG_SETMASK, &old, NULL);
                        cli_fail("%s: cannot show the stored alerts", n->dir);
                        goto out;
                }
                fo.on_alert = on_alert;
                fo.userdata = &printer;
                r = feed_run(n, ob, &fo, &res);
                (void)sigprocmask(SIG_SETMASK, &old, NULL);
                if (r < 0) {
                        cli_fail("%s: the alert feed stopped: %s", n->dir, strerror(-r));
                        goto out;
                }
                ret = CLI_EXIT_OK;
                goto out;
        }

        r = feed_run(n, ob, &fo, &res);
        if (r < 0) {
                cli_fail("%s: the alert feed failed: %s", n->dir, strerror(-r));
                goto out;
        }
        if (print_history(n, ob, &printer, false) < 0) {
                cli_fail("%s: cannot show the stored alerts", n->dir);
                goto out;
        }
        ret = CLI_EXIT_OK;
        if (res.received > 0 || res.connected || res.interrupted)
                goto out;
        if (res.refused) {
                cli_fail("key not accepted: the hub refused this node's key on the alert feed "
                         "(not enrolled, suspended or revoked; ask the hub operator); showing "
                         "stored alerts");
                ret = CLI_EXIT_FAIL;
        } else if (res.key_mismatch) {
                cli_fail("hub key mismatch: alert feed at %s: " CLIENT_KEY_MISMATCH_TEXT
                         "; showing stored alerts", n->cfg.alerts_endpoint);
                ret = CLI_EXIT_FAIL;
        } else if (res.protocol_error) {
                cli_fail("handshake with the alert feed at %s failed: check [hub] alerts in %s "
                         "and %s; showing stored alerts", n->cfg.alerts_endpoint, n->conf_path,
                         n->hub_pub_path);
                ret = CLI_EXIT_FAIL;
        } else {
                log_warn("hub not reachable: alert feed at %s: %s; showing stored alerts",
                         n->cfg.alerts_endpoint,
                         res.reached ? "no answer to the handshake"
                                     : client_probe_text(client_probe(n->cfg.alerts_endpoint,
                                                                      300)));
        }
out:
        outbox_free(ob);
        node_free(n);
        return ret;
}
