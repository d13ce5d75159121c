/* cmd-submit.c: `nmo-node submit` seals signals to the hub and queues them in
 * the outbox. It returns success only once the sealed envelopes are committed
 * durably; then it nudges a running agent.
 *
 * The plaintext signal exists only in memory here and is wiped after sealing:
 * the outbox receives ciphertext only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include <zmq.h>

#include "node-cli.h"
#include "cmd.h"
#include "envelope.h"
#include "jsonl.h"
#include "log.h"
#include "node.h"
#include "outbox.h"
#include "signal.h"

/* Option values of the signal fields: CLI_OPT_LONG + FIELD_BASE + index. */
#define FIELD_BASE 64

enum {
        OPT_FILE = CLI_OPT_LONG,
};

/* Sealed signals waiting for the one transaction. */
struct sealed {
        uint8_t id[SIGNAL_ID_BYTES];
        uint8_t *envelope;
        size_t len;
};

struct batch {
        struct sealed *items;
        size_t n;
        size_t cap;
        const struct node *node;
        const char *file;       /* name for messages */
        size_t bad;
};

static void batch_free(struct batch *b)
{
        for (size_t i = 0; i < b->n; i++)
                free(b->items[i].envelope);
        free(b->items);
        b->items = NULL;
        b->n = b->cap = 0;
}

static int batch_seal(struct batch *b, const struct signal *s)
{
        struct sealed *it;
        int r;

        if (b->n == b->cap) {
                size_t ncap = b->cap ? b->cap * 2 : 16;
                struct sealed *ni = realloc(b->items, ncap * sizeof(*ni));

                if (!ni)
                        return -ENOMEM;
                b->items = ni;
                b->cap = ncap;
        }
        it = &b->items[b->n];
        r = envelope_seal(s, b->node->member, b->node->hub.payload, NULL, &it->envelope,
                          &it->len);
        if (r < 0)
                return r;
        memcpy(it->id, s->id, SIGNAL_ID_BYTES);
        b->n++;
        return 0;
}

static void usage_fields(FILE *f)
{
        fputs("Signal fields (required ones marked *):\n", f);
        for (size_t i = 0; i < signal_fields_count; i++) {
                char opt[40];

                snprintf(opt, sizeof(opt), "--%s %s", signal_fields[i].name,
                         signal_fields[i].required ? "*" : "");
                fprintf(f, "  %-22s %s\n", opt, signal_fields[i].help);
        }
}

static void usage(void)
{
        fputs("Usage: nmo-node submit --dir DIR --material ID --event ID --severity LEVEL\n"
              "                       --country CC [FIELD OPTIONS]\n"
              "       nmo-node submit --dir DIR --file FILE\n"
              "\n"
              "Seal a supply-disruption signal for the hub and queue it durably in the\n"
              "node's outbox; the running agent (`nmo-node run`) delivers it. Prints the\n"
              "signal id (32 hex digits) once the signal is safely stored.\n"
              "\n", stdout);
        usage_fields(stdout);
        fputs("\n"
              "Options:\n"
              "  -d, --dir DIR          the node directory\n"
              "  -f, --file FILE        JSON Lines, one signal per line, keys named as the\n"
              "                         fields above ('-' reads stdin); all lines are\n"
              "                         checked first and nothing is queued if any is bad\n"
              "  -v, --verbose          more log output\n"
              "  -q, --quiet            errors only\n"
              "  -h, --help             show this help\n"
              "\n"
              "See `nmo-node vocabulary materials|events|countries` for the ids.\n"
              "\n"
              "Exit status: 0 queued, 1 failure (nothing queued), 2 usage error, 3 the\n"
              "disk holding DIR is full (nothing queued; free space and submit again).\n",
              stdout);
}

/* A full disk is the operator's to fix, not a bad signal: its own words and
 * exit status, so that a script can wait and submit again. */
static int disk_full(const struct node *n)
{
        cli_fail("%s: disk full: no space left on the file system holding the outbox; "
                 "nothing queued. Free space there and submit again.", n->outbox_path);
        return NODE_EXIT_DISK_FULL;
}

static int file_on_signal(void *userdata, size_t line, const struct signal *s)
{
        struct batch *b = userdata;
        int r;

        /* Once a line is bad nothing is queued: checking the rest is enough. */
        if (b->bad)
                return 0;
        r = batch_seal(b, s);
        if (r < 0) {
                fprintf(stderr, "%s:%zu: cannot seal the signal: %s\n", b->file, line,
                        r == -E2BIG ? "too large" : strerror(-r));
                b->bad++;
                return r == -E2BIG ? 0 : r;
        }
        return 0;
}

static void file_on_error(void *userdata, size_t line, const char *message)
{
        struct batch *b = userdata;

        b->bad++;
        fprintf(stderr, "%s:%zu: %s\n", b->file, line, message);
}

/* How long closing may wait to hand the nudge over. With a linger of 0 the
 * frame is dropped before the ipc connection even completes (seen every time),
 * so a short bound replaces it; the agent's one-second re-scan covers a loss. */
#define NUDGE_LINGER_MS 100

/* Tells a running agent that there is work; never waits beyond
 * NUDGE_LINGER_MS, ignores failure. */
static void nudge_agent(const struct node *n)
{
        void *ctx = NULL, *push = NULL;
        char *ep = NULL;
        int linger = NUDGE_LINGER_MS;

        if (node_agent_endpoint(n, &ep) < 0)
                return;
        /* No socket file: no agent listening, nothing to tell. */
        if (access(ep + strlen("ipc://"), F_OK) < 0)
                goto out;
        ctx = zmq_ctx_new();
        if (!ctx)
                goto out;
        push = zmq_socket(ctx, ZMQ_PUSH);
        if (!push || zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
            zmq_connect(push, ep) < 0)
                goto out;
        if (zmq_send(push, "", 0, ZMQ_DONTWAIT) < 0)
                log_debug("agent nudge not sent: %s", zmq_strerror(zmq_errno()));
out:
        if (push)
                (void)zmq_close(push);
        if (ctx)
                (void)zmq_ctx_term(ctx);
        free(ep);
}

static int read_options_signal(struct batch *b, const char **values)
{
        struct signal s;
        char err[256];
        int r;

        signal_init(&s);
        for (size_t i = 0; i < signal_fields_count; i++) {
                if (!values[i])
                        continue;
                r = signal_set(&s, signal_fields[i].name, values[i], err, sizeof(err));
                if (r < 0) {
                        cli_fail("--%s", err);
                        goto out;
                }
        }
        r = signal_validate(&s, err, sizeof(err));
        if (r < 0) {
                cli_fail("%s", err);
                goto out;
        }
        r = batch_seal(b, &s);
        if (r < 0)
                cli_fail("cannot seal the signal: %s", r == -E2BIG ? "too large" : strerror(-r));
out:
        sodium_memzero(&s, sizeof(s));
        return r;
}

static int read_file_signals(struct batch *b, const char *file)
{
        struct jsonl_callbacks cb = { file_on_signal, file_on_error, b };
        FILE *f = stdin;
        size_t count = 0;
        int r;

        b->file = strcmp(file, "-") == 0 ? "stdin" : file;
        if (strcmp(file, "-") != 0) {
                f = fopen(file, "re");
                if (!f) {
                        r = -errno;
                        cli_fail("%s: %s", file, strerror(-r));
                        return r;
                }
        }
        r = jsonl_parse_file(f, &cb, &count);
        if (f != stdin)
                fclose(f);
        if (r == -EIO)
                cli_fail("%s: read error", b->file);
        else if (r == -ENOMEM)
                cli_fail("out of memory");
        else if (r < 0 || b->bad)
                cli_fail("%s: %zu bad line%s; nothing queued", b->file, b->bad,
                         b->bad == 1 ? "" : "s");
        return r < 0 ? r : b->bad ? -EINVAL : 0;
}

int cmd_submit(int argc, char **argv)
{
        static const struct option fixed[] = {
                { "dir", required_argument, NULL, 'd' },
                { "file", required_argument, NULL, 'f' },
                CLI_COMMON_OPTIONS,
        };
        const size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
        struct option *opts = NULL;
        const char **values = NULL;
        struct outbox_new *items = NULL;
        struct batch b = { 0 };
        struct outbox *ob = NULL;
        struct node *n = NULL;
        const char *dir = NULL, *file = NULL;
        char err[512];
        bool any_field = false;
        int c, r, verbosity = 0, ret = CLI_EXIT_FAIL;

        /* The field options are exactly signal_fields[], so help and parsing
         * follow proto/signal.h. */
        opts = calloc(signal_fields_count + nfixed + 1, sizeof(*opts));
        values = calloc(signal_fields_count, sizeof(*values));
        if (!opts || !values) {
                ret = cli_fail("out of memory");
                goto out;
        }
        for (size_t i = 0; i < signal_fields_count; i++)
                opts[i] = (struct option){ signal_fields[i].name, required_argument, NULL,
                                           CLI_OPT_LONG + FIELD_BASE + (int)i };
        memcpy(opts + signal_fields_count, fixed, sizeof(fixed));

        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":d:f:" CLI_COMMON_SHORT, opts, NULL)) != -1) {
                size_t fi = (size_t)(c - CLI_OPT_LONG - FIELD_BASE);

                if (c >= CLI_OPT_LONG + FIELD_BASE && fi < signal_fields_count) {
                        if (values[fi]) {
                                ret = cli_usage(argv[0], "--%s given twice",
                                                signal_fields[fi].name);
                                goto out;
                        }
                        values[fi] = optarg;
                        any_field = true;
                        continue;
                }
                switch (c) {
                case 'd':
                        dir = optarg;
                        break;
                case 'f':
                        file = optarg;
                        break;
                case 'h':
                        usage();
                        ret = CLI_EXIT_OK;
                        goto out;
                default:
                        if (cli_verbosity_option(c, &verbosity))
                                break;
                        ret = cli_bad_option(argv[0], argv, c);
                        goto out;
                }
        }
        cli_log_setup(verbosity);
        if (optind != argc) {
                ret = cli_unexpected(argv[0], argv[optind]);
                goto out;
        }
        if (!dir) {
                ret = cli_usage(argv[0], "--dir is required");
                goto out;
        }
        if (file && any_field) {
                ret = cli_usage(argv[0], "--file cannot be combined with field options");
                goto out;
        }
        if (!file && !any_field) {
                ret = cli_usage(argv[0], "give the signal as field options (--material ...) "
                                "or --file FILE");
                goto out;
        }

        if (node_new(&n, dir) < 0) {
                ret = cli_fail("out of memory");
                goto out;
        }
        r = node_load(n, NODE_LOAD_KEYS, err, sizeof(err));
        if (r < 0) {
                cli_fail("%s%s", err, r == -ENOENT ? " (run `nmo-node init` first)" : "");
                goto out;
        }
        b.node = n;
        r = file ? read_file_signals(&b, file) : read_options_signal(&b, values);
        if (r < 0)
                goto out;

        if (b.n > 0) {
                items = calloc(b.n, sizeof(*items));
                if (!items) {
                        ret = cli_fail("out of memory");
                        goto out;
                }
                for (size_t i = 0; i < b.n; i++)
                        items[i] = (struct outbox_new){ b.items[i].id, b.items[i].envelope,
                                                        b.items[i].len };
                r = outbox_open(&ob, n->outbox_path, 0, 0);
                if (r == -ENOSPC) {
                        ret = disk_full(n);
                        goto out;
                }
                if (r < 0) {
                        cli_fail("%s: cannot open the outbox: %s", n->outbox_path,
                                 strerror(-r));
                        goto out;
                }
                r = outbox_put_sealed(ob, items, b.n, util_now_ms(), n->member->pub.payload);
                if (r == -ESTALE) {
                        /* A rotation re-sealed the outbox after this command
                         * loaded the keys: these envelopes carry the old ones. */
                        cli_fail("%s: the member keys were rotated meanwhile; nothing queued. %s",
                                 n->outbox_path,
                                 node_rotation_pending(n) > 0
                                         ? "Finish the rotation with nmo-node rotate-keys, "
                                           "then submit again."
                                         : "Submit again.");
                        goto out;
                }
                if (r == -ENOSPC) {
                        ret = disk_full(n);
                        goto out;
                }
                if (r < 0) {
                        cli_fail("%s: cannot queue: %s; nothing queued", n->outbox_path,
                                 r == -EEXIST ? "a signal id is already in the outbox"
                                              : strerror(-r));
                        goto out;
                }
                outbox_free(ob);
                ob = NULL;
        }
        /* Durable now: say so. */
        for (size_t i = 0; i < b.n; i++) {
                char hex[SIGNAL_ID_HEX];

                signal_id_hex(b.items[i].id, hex);
                printf("%s\n", hex);
        }
        if (fflush(stdout) != 0) {
                cli_fail("writing the signal ids failed: %s (the signals are queued)",
                         strerror(errno));
                goto out;
        }
        if (file)
                fprintf(stderr, "queued %zu signals\n", b.n); /* fixed form for scripts */
        if (b.n > 0)
                nudge_agent(n);
        ret = CLI_EXIT_OK;
out:
        outbox_free(ob);
        free(items);
        batch_free(&b);
        node_free(n);
        free(values);
        free(opts);
        return ret;
}
