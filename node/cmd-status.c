/* cmd-status.c: `nmo-node status` shows what the outbox holds: counts, each
 * signal's state, attempts, last error, receipt or rejection, and the last
 * error the hub connection reported. Read-only; works while the agent runs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <sodium.h>

#include "node-cli.h"
#include "cmd.h"
#include "node.h"
#include "outbox.h"
#include "log.h"
#include "receipt.h"

static const char status_help[] =
        "Usage: nmo-node status --dir DIR [--json] [--id ID]\n"
        "\n"
        "Show the node's outbox: how many signals are queued, in flight, delivered\n"
        "and rejected, then one line per signal with its state, when it was queued,\n"
        "the attempts so far, and its last error, receipt or rejection reason. Also\n"
        "shows the fingerprint of the hub keys in use (two while the overlap of a hub\n"
        "key rotation runs) and the agent's connection to the hub: last_contact (last\n"
        "handshake, or loss of the connection), last_hub_error (why it cannot connect:\n"
        "hub not reachable, hub key mismatch, this node's key refused) and next_retry.\n"
        "Signal content is never shown: the outbox holds it sealed for the hub.\n"
        "\n"
        "Options:\n"
        "  -d, --dir DIR     the node directory\n"
        "  -j, --json        one JSON object: counts (queued, in_flight, delivered,\n"
        "                    rejected), hub_fingerprint, hub_previous_fingerprint and\n"
        "                    hub_previous_until (null unless a hub key rotation's\n"
        "                    overlap runs), last_contact, last_error and next_retry (the\n"
        "                    hub connection; null when none), last_hub_error {message,\n"
        "                    time} when set, and\n"
        "                    signals [{id, state, queued_at, attempts, next_attempt,\n"
        "                    last_error, receipt: null or {status, reason, detail,\n"
        "                    hub_time (the start of the hour the hub accepted it in),\n"
        "                    duplicate, signed (base64)}}]\n"
        "  -i, --id ID       only the signal ID (32 hex digits)\n"
        "  -v, --verbose     more log output\n"
        "  -q, --quiet       errors only\n"
        "  -h, --help        show this help\n"
        "\n"
        "Exit status: 0 success, 1 failure (or an unreadable record), 2 usage error.\n";

struct status_ctx {
        bool json;
        struct json_object *signals;    /* JSON form */
};

static struct json_object *json_time(uint64_t ms)
{
        char buf[32];

        util_format_time(ms, buf, sizeof(buf));
        return json_object_new_string(buf);
}

static struct json_object *json_text_or_null(const char *s)
{
        return s && s[0] ? json_object_new_string(s) : NULL;
}

static struct json_object *receipt_json(const struct outbox_entry *e)
{
        struct json_object *o = json_object_new_object();
        char *b64 = NULL;
        size_t b64_len;
        int r = -ENOMEM;

        if (!o)
                return NULL;
        b64_len = sodium_base64_ENCODED_LEN(e->signed_receipt_len, sodium_base64_VARIANT_ORIGINAL);
        b64 = malloc(b64_len);
        if (!b64)
                goto out;
        sodium_bin2base64(b64, b64_len, e->signed_receipt, e->signed_receipt_len,
                          sodium_base64_VARIANT_ORIGINAL);
        if (node_cli_json_add(o, "status", json_object_new_string(
                             e->receipt_status == NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED
                                     ? "accepted" : "rejected"), false) < 0 ||
            node_cli_json_add(o, "reason", json_object_new_string(reason_name(e->reason)),
                              false) < 0 ||
            node_cli_json_add(o, "detail", json_object_new_string(e->detail), false) < 0 ||
            node_cli_json_add(o, "hub_time", json_time(e->hub_time_ms), false) < 0 ||
            node_cli_json_add(o, "duplicate", json_object_new_boolean(e->duplicate), false) < 0 ||
            node_cli_json_add(o, "signed", json_object_new_string(b64), false) < 0)
                goto out;
        r = 0;
out:
        free(b64);
        if (r < 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static int entry_json(const struct outbox_entry *e, struct json_object **ret)
{
        struct json_object *o = json_object_new_object();
        struct json_object *rc = NULL;
        char hex[SIGNAL_ID_HEX];

        if (!o)
                return -ENOMEM;
        signal_id_hex(e->signal_id, hex);
        if (e->signed_receipt_len > 0) {
                rc = receipt_json(e);
                if (!rc)
                        goto fail;
        }
        if (node_cli_json_add(o, "id", json_object_new_string(hex), false) < 0 ||
            node_cli_json_add(o, "state", json_object_new_string(outbox_state_name(e->state)),
                              false) < 0 ||
            node_cli_json_add(o, "queued_at", json_time(e->queued_at_ms), false) < 0 ||
            node_cli_json_add(o, "attempts", json_object_new_int64(e->attempts), false) < 0 ||
            node_cli_json_add(o, "next_attempt", e->state == OUTBOX_QUEUED ? json_time(
                             e->next_attempt_ms ? e->next_attempt_ms : e->queued_at_ms) : NULL,
                         e->state != OUTBOX_QUEUED) < 0 ||
            node_cli_json_add(o, "last_error", json_text_or_null(e->last_error), true) < 0)
                goto fail;
        if (node_cli_json_add(o, "receipt", rc, true) < 0) {
                rc = NULL;
                goto fail;
        }
        *ret = o;
        return 0;
fail:
        json_object_put(rc);
        json_object_put(o);
        return -ENOMEM;
}

static void print_entry(const struct outbox_entry *e)
{
        char hex[SIGNAL_ID_HEX], queued[32], t[32];

        signal_id_hex(e->signal_id, hex);
        util_format_time(e->queued_at_ms, queued, sizeof(queued));
        printf("%-32s  %-9s  %-20s  %8u  ", hex, outbox_state_name(e->state), queued,
               e->attempts);
        switch (e->state) {
        case OUTBOX_DELIVERED:
                util_format_time(e->hub_time_ms, t, sizeof(t));
                printf("receipt: hub hour %s%s\n", t,
                       e->duplicate ? ", duplicate (stored before)" : "");
                break;
        case OUTBOX_REJECTED:
                printf("rejected: %s%s%s\n", reason_name(e->reason), e->detail[0] ? ": " : "",
                       e->detail);
                break;
        case OUTBOX_QUEUED:
                if (e->next_attempt_ms > util_now_ms()) {
                        util_format_time(e->next_attempt_ms, t, sizeof(t));
                        printf("%s%snext attempt %s\n", e->last_error,
                               e->last_error[0] ? "; " : "", t);
                } else {
                        printf("%s\n", e->last_error);
                }
                break;
        default:
                printf("%s\n", e->last_error);
                break;
        }
}

static int entry_fn(const struct outbox_entry *e, void *userdata)
{
        struct status_ctx *ctx = userdata;
        struct json_object *o = NULL;
        int r;

        if (!ctx->json) {
                print_entry(e);
                return 0;
        }
        r = entry_json(e, &o);
        if (r < 0)
                return r;
        if (json_object_array_add(ctx->signals, o) < 0) {
                json_object_put(o);
                return -ENOMEM;
        }
        return 0;
}

/* The hub key fingerprints this node trusts: the current one and, during a
 * hub key rotation's overlap, the retired one. hub_fp is "" when hub.pub
 * could not be read. */
struct hub_fps {
        char hub_fp[KEYS_FINGERPRINT_LEN];
        char prev_fp[KEYS_FINGERPRINT_LEN];     /* "" when none */
        uint64_t prev_until_ms;
};

static void hub_fps_get(struct node *n, struct hub_fps *fps)
{
        char err[256];

        memset(fps, 0, sizeof(*fps));
        if (node_load(n, NODE_LOAD_HUB, err, sizeof(err)) < 0) {
                log_warn("%s", err);
                return;
        }
        keys_fingerprint(&n->hub, fps->hub_fp);
        if (n->has_hub_prev) {
                keys_fingerprint(&n->hub_prev, fps->prev_fp);
                fps->prev_until_ms = n->hub_ann.overlap_until_ms;
        }
}

static int add_hub_fps(struct json_object *root, const struct hub_fps *fps)
{
        if (node_cli_json_add(root, "hub_fingerprint",
                              fps->hub_fp[0] ? json_object_new_string(fps->hub_fp) : NULL,
                              true) < 0 ||
            node_cli_json_add(root, "hub_previous_fingerprint",
                              fps->prev_fp[0] ? json_object_new_string(fps->prev_fp) : NULL,
                              true) < 0 ||
            node_cli_json_add(root, "hub_previous_until",
                              fps->prev_fp[0] ? json_time(fps->prev_until_ms) : NULL, true) < 0)
                return -ENOMEM;
        return 0;
}

static int print_json(struct outbox *ob, const struct outbox_counts *c, const char *hub_error,
                      uint64_t hub_error_ms, const struct outbox_hub_link *link,
                      const struct hub_fps *fps, const uint8_t *id, int *walk)
{
        struct status_ctx ctx = { true, NULL };
        struct json_object *root = json_object_new_object(), *he = NULL;
        int r = -ENOMEM;

        if (!root)
                return -ENOMEM;
        if (node_cli_json_add(root, "queued", json_object_new_uint64(c->queued), false) < 0 ||
            node_cli_json_add(root, "in_flight", json_object_new_uint64(c->in_flight), false) < 0 ||
            node_cli_json_add(root, "delivered", json_object_new_uint64(c->delivered), false) < 0 ||
            node_cli_json_add(root, "rejected", json_object_new_uint64(c->rejected), false) < 0 ||
            add_hub_fps(root, fps) < 0)
                goto out;
        /* The hub connection: null where there is nothing to say. */
        if (node_cli_json_add(root, "last_contact",
                              link->last_contact_ms ? json_time(link->last_contact_ms) : NULL,
                              true) < 0 ||
            node_cli_json_add(root, "last_error",
                              hub_error ? json_object_new_string(hub_error) : NULL, true) < 0 ||
            node_cli_json_add(root, "next_retry",
                              link->next_retry_ms ? json_time(link->next_retry_ms) : NULL,
                              true) < 0)
                goto out;
        if (hub_error) {
                he = json_object_new_object();
                if (!he ||
                    node_cli_json_add(he, "message", json_object_new_string(hub_error),
                                      false) < 0 ||
                    node_cli_json_add(he, "time", json_time(hub_error_ms), false) < 0) {
                        json_object_put(he);
                        goto out;
                }
                if (node_cli_json_add(root, "last_hub_error", he, false) < 0)
                        goto out;
        }
        ctx.signals = json_object_new_array();
        if (!ctx.signals)
                goto out;
        if (node_cli_json_add(root, "signals", ctx.signals, false) < 0)
                goto out;
        *walk = id ? outbox_get(ob, id, entry_fn, &ctx) : outbox_foreach(ob, entry_fn, &ctx);
        if (*walk == -ENOMEM)
                goto out;
        if (*walk < 0 && *walk != -EBADMSG && *walk != -ENOENT) {
                r = *walk;
                goto out;
        }
        puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
        r = 0;
out:
        json_object_put(root);
        return r;
}

int cmd_status(int argc, char **argv)
{
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "json", no_argument, NULL, 'j' },
                { "id", required_argument, NULL, 'i' },
                CLI_COMMON_OPTIONS,
                { NULL, 0, NULL, 0 },
        };
        const char *dir = NULL, *id_text = NULL;
        uint8_t id[SIGNAL_ID_BYTES];
        struct outbox_counts counts;
        struct hub_fps fps;
        struct outbox *ob = NULL;
        struct node *n = NULL;
        struct outbox_hub_link link;
        char hub_error[OUTBOX_TEXT_MAX + 1], t[32];
        uint64_t hub_error_ms = 0;
        bool json = false, have_hub_error;
        int c, r, walk = 0, verbosity = 0, ret = CLI_EXIT_FAIL;

        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":d:ji:" CLI_COMMON_SHORT, opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        dir = optarg;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'i':
                        id_text = optarg;
                        break;
                case 'h':
                        return cli_help(status_help);
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
        if (id_text && signal_id_parse(id_text, id) < 0)
                return cli_usage(argv[0], "--id: \"%s\" is not a signal id (32 hex digits)",
                                 id_text);

        if (node_new(&n, dir) < 0)
                return cli_fail("out of memory");
        r = outbox_open(&ob, n->outbox_path, OUTBOX_READONLY, 0);
        if (r < 0) {
                cli_fail("%s: %s", n->outbox_path,
                         r == -ENOENT ? "no outbox here (run `nmo-node init` first)"
                                      : strerror(-r));
                goto out;
        }
        r = outbox_counts(ob, &counts);
        if (r < 0 && r != -EBADMSG) {
                cli_fail("%s: cannot read the outbox: %s", n->outbox_path, strerror(-r));
                goto out;
        }
        r = outbox_get_hub_error(ob, hub_error, sizeof(hub_error), &hub_error_ms);
        if (r < 0 && r != -ENOENT) {
                cli_fail("%s: cannot read the last hub error: %s", n->outbox_path, strerror(-r));
                goto out;
        }
        have_hub_error = r == 0;
        r = outbox_get_hub_link(ob, &link);
        if (r < 0 && r != -ENOENT) {
                cli_fail("%s: cannot read the hub connection state: %s", n->outbox_path,
                         strerror(-r));
                goto out;
        }
        /* A next retry only while an error stands: connected otherwise. */
        if (!have_hub_error)
                link.next_retry_ms = 0;
        hub_fps_get(n, &fps);

        if (json) {
                r = print_json(ob, &counts, have_hub_error ? hub_error : NULL, hub_error_ms,
                               &link, &fps, id_text ? id : NULL, &walk);
                if (r < 0) {
                        cli_fail("%s: %s", n->outbox_path, strerror(-r));
                        goto out;
                }
        } else {
                struct status_ctx ctx = { false, NULL };

                printf("%llu queued, %llu in flight, %llu delivered, %llu rejected\n",
                       (unsigned long long)counts.queued, (unsigned long long)counts.in_flight,
                       (unsigned long long)counts.delivered, (unsigned long long)counts.rejected);
                if (fps.hub_fp[0])
                        printf("hub_fingerprint: %s\n", fps.hub_fp);
                if (fps.prev_fp[0]) {
                        util_format_time(fps.prev_until_ms, t, sizeof(t));
                        printf("hub_previous_fingerprint: %s (retired by a hub key rotation; "
                               "trusted until %s)\n", fps.prev_fp, t);
                }
                if (link.last_contact_ms) {
                        util_format_time(link.last_contact_ms, t, sizeof(t));
                        printf("last_contact: %s\n", t);
                } else {
                        printf("last_contact: never\n");
                }
                if (have_hub_error) {
                        util_format_time(hub_error_ms, t, sizeof(t));
                        printf("last_hub_error: %s (%s)\n", hub_error, t);
                }
                if (link.next_retry_ms) {
                        util_format_time(link.next_retry_ms, t, sizeof(t));
                        printf("next_retry: %s%s\n", t,
                               link.next_retry_ms + 60000 < util_now_ms()
                                       ? " (past: is nmo-node run running?)" : "");
                }
                if (counts.queued + counts.in_flight + counts.delivered + counts.rejected > 0 ||
                    id_text) {
                        printf("\n%-32s  %-9s  %-20s  %8s  %s\n", "ID", "STATE", "QUEUED-AT",
                               "ATTEMPTS", "LAST ERROR / RECEIPT / REJECTION");
                        walk = id_text ? outbox_get(ob, id, entry_fn, &ctx)
                                       : outbox_foreach(ob, entry_fn, &ctx);
                }
                if (fflush(stdout) != 0) {
                        cli_fail("writing the status failed: %s", strerror(errno));
                        goto out;
                }
        }
        if (walk == -ENOENT) {
                cli_fail("%s: no signal %s in the outbox", n->outbox_path, id_text);
                goto out;
        }
        if (walk == -EBADMSG) {
                cli_fail("%s: the outbox holds unreadable records (shown above are the "
                         "readable ones)", n->outbox_path);
                goto out;
        }
        if (walk < 0) {
                cli_fail("%s: cannot read the outbox: %s", n->outbox_path, strerror(-walk));
                goto out;
        }
        ret = CLI_EXIT_OK;
out:
        outbox_free(ob);
        node_free(n);
        return ret;
}
