/* bench-floors.c: the stage floors the end-to-end figure is compared with.
 * Each stage of the hub's path is measured alone, at its fastest:
 *
 *   lmdb   group commit into the hub's own store (hub_store_open/_write) with
 *          the hub's record layout: per signal a 20-byte key (member id and
 *          time-ordered signal id) with a SignalRecord-sized value, plus a
 *          journal entry (sequence key, sealed one-signal summary); durable
 *          commits (LMDB's default sync) of --batch signals; with
 *          --nometasync, one device flush a commit as `nmo-hub serve` opens
 *          its store (MDB_NOMETASYNC: a commit is durable once the next one
 *          has flushed, and the hub holds its replies until then).
 *   curve  CurveZMQ DEALER-to-ROUTER round trips over loopback, one
 *          acknowledgement per message, --nodes clients with --window
 *          messages in flight each; the ROUTER answers at once.
 *   open   envelope_open() with the precomputed shared key, one thread.
 *
 * Each prints one JSON object with its rate on stdout. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bench-util.h"
#include "db.h"
#include "receipt.h"
#include "store.h"

static const char help[] =
        "Usage: bench-floors lmdb --dir DIR [--duration S] [--batch N] [--nometasync]\n"
        "       bench-floors curve [--nodes N] [--window W] [--duration S] [--warmup S]\n"
        "                          [--payload BYTES] [--ack BYTES]\n"
        "       bench-floors open [--duration S]\n"
        "\n"
        "Measures one stage of the hub's path alone and prints one JSON object:\n"
        "{\"floor\": NAME, \"rate\": PER_SECOND, \"unit\": ..., ...}.\n"
        "\n"
        "  lmdb    durable group commits into a hub store made in DIR/private (DIR\n"
        "          must be empty or absent); rate in signals/s\n"
        "  curve   CurveZMQ round trips on 127.0.0.1, one ack per message; messages/s\n"
        "  open    envelope_open with a precomputed key; opens/s\n"
        "\n"
        "  --dir DIR        where the lmdb floor creates its store\n"
        "  --duration S     measured seconds (default 2)\n"
        "  --warmup S       curve: seconds before measuring (default 0.5)\n"
        "  --batch N        lmdb: signals per commit (default 64)\n"
        "  --nometasync     lmdb: one flush a commit (MDB_NOMETASYNC), as nmo-hub serve\n"
        "  --nodes N        curve: DEALER clients (default 50)\n"
        "  --window W       curve: messages in flight per client (default 32)\n"
        "  --payload BYTES  curve: message size (default 300)\n"
        "  --ack BYTES      curve: acknowledgement size (default 150)\n"
        "  -h, --help       show this help\n"
        "\n"
        "Exit status: 0 measured, 1 failure, 2 usage error.\n";

struct options {
        const char *dir;
        double duration;
        double warmup;
        uint32_t batch;
        bool nometasync;
        uint32_t nodes;
        uint32_t window;
        uint32_t payload;
        uint32_t ack;
};

/* ---- lmdb ---------------------------------------------------------------- */

/* The hub's records for one accepted signal: the dedup record (member id and
 * time-ordered signal id -> receipt body and time) and the journal entry
 * (sequence -> contributions key and sealed one-signal summary). */
#define LMDB_KEY_BYTES (4 + SIGNAL_ID_BYTES)
#define LMDB_VALUE_BYTES 130
#define LMDB_JOURNAL_BYTES 200

struct lmdb_batch {
        struct hub_store *st;
        uint32_t n;
        uint64_t seq;
        uint8_t (*keys)[LMDB_KEY_BYTES];
        uint8_t value[LMDB_VALUE_BYTES];
        uint8_t journal[LMDB_JOURNAL_BYTES];
};

static int lmdb_txn(MDB_txn *txn, void *userdata)
{
        struct lmdb_batch *b = userdata;

        for (uint32_t i = 0; i < b->n; i++) {
                MDB_val k = { LMDB_KEY_BYTES, b->keys[i] }, v = { sizeof(b->value), b->value };
                MDB_val jv = { sizeof(b->journal), b->journal };
                uint8_t jkey[8];
                MDB_val jk = { sizeof(jkey), jkey };
                int r;

                hub_store_put_u64(jkey, b->seq + i + 1);
                r = db_errno(mdb_put(txn, b->st->signals, &k, &v, MDB_NOOVERWRITE));
                if (r == 0)
                        r = db_errno(mdb_put(txn, b->st->journal, &jk, &jv, MDB_NOOVERWRITE));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int floor_lmdb(const struct options *o)
{
        struct lmdb_batch b;
        uint64_t signals = 0, commits = 0;
        double t0, t1;
        json_object *j;
        int r;

        memset(&b, 0, sizeof(b));
        b.n = o->batch;
        b.keys = calloc(o->batch, sizeof(*b.keys));
        if (!b.keys) {
                r = -ENOMEM;
                goto out;
        }
        r = util_mkdir_p(o->dir, 0700);
        if (r == 0)
                r = hub_store_open(&b.st, o->dir, false);
        if (r == 0 && o->nometasync)
                r = db_errno(mdb_env_set_flags(b.st->env, MDB_NOMETASYNC, 1));
        if (r < 0) {
                fprintf(stderr, "bench-floors: cannot open a store in %s: %s\n", o->dir,
                        strerror(-r));
                goto out;
        }
        randombytes_buf(b.value, sizeof(b.value));
        randombytes_buf(b.journal, sizeof(b.journal));
        t0 = bench_now();
        t1 = t0;
        /* Bounded by time, and by count as a guard. */
        while (t1 - t0 < o->duration && commits < 100000000u) {
                for (uint32_t i = 0; i < b.n; i++) {
                        hub_store_put_u32(b.keys[i], 1 + (uint32_t)(signals + i) % 50);
                        signal_new_id(b.keys[i] + 4, util_now_ms());
                }
                b.seq = signals;
                r = hub_store_write(b.st, lmdb_txn, &b);
                if (r < 0) {
                        fprintf(stderr, "bench-floors: commit failed: %s\n", strerror(-r));
                        goto out;
                }
                signals += b.n;
                commits++;
                t1 = bench_now();
        }
        j = json_object_new_object();
        bench_json_string(j, "floor", "lmdb");
        bench_json_double(j, "rate", (double)signals / (t1 - t0));
        bench_json_string(j, "unit", "signals/s");
        bench_json_int(j, "signals", (int64_t)signals);
        bench_json_int(j, "commits", (int64_t)commits);
        bench_json_int(j, "batch", o->batch);
        json_object_object_add(j, "nometasync", json_object_new_boolean(o->nometasync));
        bench_json_double(j, "seconds", t1 - t0);
        bench_json_double(j, "commit_ms", commits ? (t1 - t0) * 1000.0 / (double)commits : 0);
        bench_print_json(j);
        r = 0;
out:
        hub_store_free(b.st);
        free(b.keys);
        return r;
}

/* ---- curve --------------------------------------------------------------- */

struct echo_server {
        void *ctx;
        void *router;
        size_t ack;
        atomic_bool stop;
        pthread_t thread;
        int error;
};

static void *echo_run(void *arg)
{
        struct echo_server *es = arg;
        uint8_t *ack = calloc(1, es->ack);

        if (!ack) {
                es->error = -ENOMEM;
                return NULL;
        }
        while (!atomic_load(&es->stop)) {
                zmq_pollitem_t pi = { es->router, 0, ZMQ_POLLIN, 0 };

                if (zmq_poll(&pi, 1, 100) < 0) {
                        if (errno == EINTR)
                                continue;
                        es->error = -errno;
                        break;
                }
                for (int burst = 0; burst < 4096; burst++) {
                        zmq_msg_t id, body;

                        zmq_msg_init(&id);
                        if (zmq_msg_recv(&id, es->router, ZMQ_DONTWAIT) < 0) {
                                zmq_msg_close(&id);
                                break;
                        }
                        zmq_msg_init(&body);
                        if (zmq_msg_recv(&body, es->router, 0) < 0 ||
                            zmq_msg_send(&id, es->router, ZMQ_SNDMORE) < 0 ||
                            zmq_send(es->router, ack, es->ack, 0) < 0) {
                                zmq_msg_close(&id);
                                zmq_msg_close(&body);
                                continue;
                        }
                        zmq_msg_close(&body);
                }
        }
        free(ack);
        return NULL;
}

static int set_int(void *sock, int opt, int v)
{
        return zmq_setsockopt(sock, opt, &v, sizeof(v)) < 0 ? -errno : 0;
}

static int floor_curve(const struct options *o)
{
        struct echo_server es;
        uint8_t server_pk[32], server_sk[32], client_pk[32], client_sk[32];
        char endpoint[128];
        size_t eplen = sizeof(endpoint);
        void *ctx = NULL, **socks = NULL;
        zmq_pollitem_t *items = NULL;
        uint32_t *inflight = NULL;
        uint8_t *payload = NULL, buf[4096];
        uint64_t acked = 0, measured = 0, sent = 0;
        double t0, tstart, tend, now;
        bool started = false;
        json_object *j;
        int r = -ENOMEM;

        memset(&es, 0, sizeof(es));
        atomic_init(&es.stop, false);
        es.ack = o->ack;
        crypto_box_keypair(server_pk, server_sk);
        crypto_box_keypair(client_pk, client_sk);
        es.ctx = zmq_ctx_new();
        ctx = zmq_ctx_new();
        socks = calloc(o->nodes, sizeof(*socks));
        items = calloc(o->nodes, sizeof(*items));
        inflight = calloc(o->nodes, sizeof(*inflight));
        payload = malloc(o->payload);
        if (!es.ctx || !ctx || !socks || !items || !inflight || !payload)
                goto out;
        randombytes_buf(payload, o->payload);
        es.router = zmq_socket(es.ctx, ZMQ_ROUTER);
        if (!es.router || set_int(es.router, ZMQ_CURVE_SERVER, 1) < 0 ||
            zmq_setsockopt(es.router, ZMQ_CURVE_SECRETKEY, server_sk, 32) < 0 ||
            set_int(es.router, ZMQ_RCVHWM, 10000) < 0 || set_int(es.router, ZMQ_SNDHWM, 10000) < 0 ||
            set_int(es.router, ZMQ_LINGER, 0) < 0 ||
            zmq_bind(es.router, "tcp://127.0.0.1:*") < 0 ||
            zmq_getsockopt(es.router, ZMQ_LAST_ENDPOINT, endpoint, &eplen) < 0) {
                r = -errno;
                fprintf(stderr, "bench-floors: server socket: %s\n", zmq_strerror(errno));
                goto out;
        }
        r = -pthread_create(&es.thread, NULL, echo_run, &es);
        if (r < 0)
                goto out;
        for (uint32_t i = 0; i < o->nodes; i++) {
                socks[i] = zmq_socket(ctx, ZMQ_DEALER);
                if (!socks[i] || zmq_setsockopt(socks[i], ZMQ_CURVE_SERVERKEY, server_pk, 32) < 0 ||
                    zmq_setsockopt(socks[i], ZMQ_CURVE_PUBLICKEY, client_pk, 32) < 0 ||
                    zmq_setsockopt(socks[i], ZMQ_CURVE_SECRETKEY, client_sk, 32) < 0 ||
                    set_int(socks[i], ZMQ_LINGER, 0) < 0 || zmq_connect(socks[i], endpoint) < 0) {
                        r = -errno;
                        fprintf(stderr, "bench-floors: client socket: %s\n", zmq_strerror(errno));
                        goto stop;
                }
                items[i].socket = socks[i];
                items[i].events = ZMQ_POLLIN;
        }
        t0 = bench_now();
        tstart = t0 + o->warmup;
        tend = tstart + o->duration;
        for (uint32_t i = 0; i < o->nodes; i++)
                for (uint32_t w = 0; w < o->window; w++)
                        if (zmq_send(socks[i], payload, o->payload, ZMQ_DONTWAIT) >= 0) {
                                inflight[i]++;
                                sent++;
                        }
        now = t0;
        /* Bounded by time: sending stops at tend, draining 2 s after. */
        while (now < tend + 2.0) {
                uint64_t left = 0;
                long ms = (long)((tend - now) * 1000.0) + 1;

                if (zmq_poll(items, (int)o->nodes, ms > 100 ? 100 : (ms < 1 ? 1 : ms)) < 0 &&
                    errno != EINTR) {
                        r = -errno;
                        goto stop;
                }
                now = bench_now();
                if (!started && now >= tstart) {
                        started = true;
                        measured = 0;
                }
                for (uint32_t i = 0; i < o->nodes; i++) {
                        while (zmq_recv(socks[i], buf, sizeof(buf), ZMQ_DONTWAIT) >= 0) {
                                inflight[i]--;
                                acked++;
                                if (started && now < tend)
                                        measured++;
                                if (now < tend &&
                                    zmq_send(socks[i], payload, o->payload, ZMQ_DONTWAIT) >= 0) {
                                        inflight[i]++;
                                        sent++;
                                }
                        }
                        left += inflight[i];
                }
                if (now >= tend && left == 0)
                        break;
        }
        j = json_object_new_object();
        bench_json_string(j, "floor", "curve");
        bench_json_double(j, "rate", (double)measured / o->duration);
        bench_json_string(j, "unit", "messages/s");
        bench_json_int(j, "nodes", o->nodes);
        bench_json_int(j, "window", o->window);
        bench_json_int(j, "payload", o->payload);
        bench_json_int(j, "ack", o->ack);
        bench_json_int(j, "acked", (int64_t)acked);
        bench_json_int(j, "sent", (int64_t)sent);
        bench_json_double(j, "seconds", o->duration);
        bench_print_json(j);
        r = 0;
stop:
        atomic_store(&es.stop, true);
        pthread_join(es.thread, NULL);
out:
        for (uint32_t i = 0; socks && i < o->nodes; i++)
                if (socks[i])
                        zmq_close(socks[i]);
        if (es.router)
                zmq_close(es.router);
        if (ctx)
                zmq_ctx_term(ctx);
        if (es.ctx)
                zmq_ctx_term(es.ctx);
        sodium_memzero(server_sk, sizeof(server_sk));
        sodium_memzero(client_sk, sizeof(client_sk));
        free(socks);
        free(items);
        free(inflight);
        free(payload);
        return r;
}

/* ---- open ---------------------------------------------------------------- */

#define OPEN_POOL 1024

static int floor_open(const struct options *o)
{
        struct keys_secret *hub = NULL, *member = NULL;
        struct bench_sealer sl;
        struct envelope_opener op;
        uint8_t key[crypto_box_BEFORENMBYTES], key_id[ENVELOPE_KEY_ID_BYTES];
        uint8_t *frames[OPEN_POOL];
        size_t lens[OPEN_POOL], bytes = 0;
        uint64_t opened = 0;
        double t0, t1;
        json_object *j;
        int r;

        memset(frames, 0, sizeof(frames));
        memset(&sl, 0, sizeof(sl));
        r = keys_generate(&hub, KEYS_ROLE_HUB, "bench-hub");
        if (r == 0)
                r = keys_generate(&member, KEYS_ROLE_MEMBER, "bench-member");
        if (r == 0)
                r = bench_sealer_init(&sl, member, hub->pub.payload, BENCH_ENVELOPE_BYTES);
        for (size_t i = 0; r == 0 && i < OPEN_POOL; i++) {
                struct signal s;

                r = bench_signal(&sl, 0, i, &s);
                if (r == 0)
                        r = bench_seal(&sl, &s, NULL, &frames[i], &lens[i]);
                if (r == 0)
                        bytes += lens[i];
        }
        if (r < 0) {
                fprintf(stderr, "bench-floors: cannot seal envelopes: %s\n", strerror(-r));
                goto out;
        }
        /* What the hub holds per member: crypto_box_beforenm(member pk, hub sk). */
        if (crypto_box_beforenm(key, member->pub.payload, hub->payload_sk) != 0) {
                r = -EINVAL;
                goto out;
        }
        envelope_key_id(hub->pub.payload, key_id);
        op.member_payload_pk = member->pub.payload;
        op.shared_key = key;
        op.hub_key_id = key_id;
        t0 = bench_now();
        t1 = t0;
        while (t1 - t0 < o->duration && opened < 1000000000u) {
                for (size_t i = 0; i < OPEN_POOL; i++) {
                        struct signal s;
                        uint8_t id[SIGNAL_ID_BYTES];
                        bool has_id;
                        Nmo__Reason reason = envelope_open(frames[i], lens[i], &op, &s, id,
                                                           &has_id, NULL, 0);

                        if (reason != NMO__REASON__REASON_NONE) {
                                fprintf(stderr, "bench-floors: envelope refused: %s\n",
                                        reason_name(reason));
                                r = -EPROTO;
                                goto out;
                        }
                }
                opened += OPEN_POOL;
                t1 = bench_now();
        }
        j = json_object_new_object();
        bench_json_string(j, "floor", "open");
        bench_json_double(j, "rate", (double)opened / (t1 - t0));
        bench_json_string(j, "unit", "opens/s");
        bench_json_int(j, "opened", (int64_t)opened);
        bench_json_double(j, "envelope_bytes", (double)bytes / OPEN_POOL);
        bench_json_double(j, "seconds", t1 - t0);
        bench_print_json(j);
        r = 0;
out:
        for (size_t i = 0; i < OPEN_POOL; i++)
                free(frames[i]);
        sodium_memzero(key, sizeof(key));
        bench_sealer_wipe(&sl);
        keys_free(hub);
        keys_free(member);
        return r;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "duration", required_argument, NULL, 't' },
                { "warmup", required_argument, NULL, 'u' },
                { "batch", required_argument, NULL, 'b' },
                { "nometasync", no_argument, NULL, 'M' },
                { "nodes", required_argument, NULL, 'n' },
                { "window", required_argument, NULL, 'w' },
                { "payload", required_argument, NULL, 'p' },
                { "ack", required_argument, NULL, 'a' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        struct options o = { NULL, 2.0, 0.5, 64, false, 50, 32, BENCH_ENVELOPE_BYTES, 150 };
        const char *mode;
        int c, r;

        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                fputs(help, stdout);
                return BENCH_EXIT_OK;
        }
        if (argc < 2 || argv[1][0] == '-')
                return bench_usage("bench-floors", "name a floor: lmdb, curve or open");
        mode = argv[1];
        optind = 2;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        o.dir = optarg;
                        break;
                case 't':
                        if (bench_parse_seconds(optarg, 0.1, 3600, &o.duration) < 0)
                                return bench_usage("bench-floors", "--duration: 0.1 to 3600");
                        break;
                case 'u':
                        if (bench_parse_seconds(optarg, 0, 600, &o.warmup) < 0)
                                return bench_usage("bench-floors", "--warmup: 0 to 600");
                        break;
                case 'M':
                        o.nometasync = true;
                        break;
                case 'b':
                        if (util_parse_u32(optarg, 1, 65536, &o.batch) < 0)
                                return bench_usage("bench-floors", "--batch: 1 to 65536");
                        break;
                case 'n':
                        if (util_parse_u32(optarg, 1, 10000, &o.nodes) < 0)
                                return bench_usage("bench-floors", "--nodes: 1 to 10000");
                        break;
                case 'w':
                        if (util_parse_u32(optarg, 1, 1000, &o.window) < 0)
                                return bench_usage("bench-floors", "--window: 1 to 1000");
                        break;
                case 'p':
                        if (util_parse_u32(optarg, 1, 65536, &o.payload) < 0)
                                return bench_usage("bench-floors", "--payload: 1 to 65536");
                        break;
                case 'a':
                        if (util_parse_u32(optarg, 1, 4096, &o.ack) < 0)
                                return bench_usage("bench-floors", "--ack: 1 to 4096");
                        break;
                case 'h':
                        fputs(help, stdout);
                        return BENCH_EXIT_OK;
                default:
                        return BENCH_EXIT_USAGE;
                }
        }
        if (optind != argc)
                return bench_usage("bench-floors", "unexpected argument '%s'", argv[optind]);
        if (sodium_init() < 0) {
                fprintf(stderr, "bench-floors: libsodium failed to initialise\n");
                return BENCH_EXIT_FAIL;
        }
        if (strcmp(mode, "lmdb") == 0) {
                if (!o.dir)
                        return bench_usage("bench-floors", "lmdb needs --dir DIR");
                r = floor_lmdb(&o);
        } else if (strcmp(mode, "curve") == 0) {
                r = floor_curve(&o);
        } else if (strcmp(mode, "open") == 0) {
                r = floor_open(&o);
        } else {
                return bench_usage("bench-floors", "unknown floor '%s'", mode);
        }
        return r == 0 ? BENCH_EXIT_OK : BENCH_EXIT_FAIL;
}
