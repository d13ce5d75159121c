/* bench-load.c: simulated member nodes that drive the real `nmo-hub serve`
 * with the real protocol: member key pairs enrolled in the hub's registry, a
 * CurveZMQ DEALER per node, envelopes sealed for the hub, and every receipt
 * checked with receipt_verify() as a node must (PROTOCOL.md 8.2).
 *
 * The client side is kept cheap so that the hub, not the load generator, is
 * measured on a small machine: envelopes are sealed into a pool before the
 * clock starts (with the member's precomputed key; the bytes are checked
 * against envelope_seal), and receipts are matched to their frames as they
 * arrive but their Ed25519 signatures are verified after the clock stops.
 *
 * Modes:
 *   enrol       add members 0..count-1 to the hub's store (before it starts)
 *   preload     push signals through the hub's own ingest path in-process
 *   throughput  closed loop, --window frames in flight per node
 *   latency     open loop at a fixed --rate across nodes
 *   connect     hold --nodes connections and read the hub's memory; with
 *               --reconnect, time them all back after the hub restarts */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "aggregate.h"
#include "analytics.h"
#include "bench-util.h"
#include "rng.h"
#include "config.h"
#include "ingest.h"
#include "log.h"
#include "member.h"
#include "receipt.h"
#include "store.h"

static const char help[] =
        "Usage: bench-load enrol --hub-dir DIR --seed FILE --count K\n"
        "       bench-load preload --hub-dir DIR --seed FILE --count M [--nodes N]\n"
        "                          [--batch B] [--no-aggregate] [--max-seconds S]\n"
        "       bench-load throughput --hub-dir DIR --seed FILE --endpoint EP [--nodes N]\n"
        "                          [--window W] [--duration S] [--warmup S] [--max-rate R]\n"
        "                          [--hub-pid PID]\n"
        "       bench-load latency --hub-dir DIR --seed FILE --endpoint EP --rate R\n"
        "                          [--nodes N] [--duration S] [--warmup S]\n"
        "       bench-load connect --hub-dir DIR --seed FILE --endpoint EP --nodes K\n"
        "                          [--hold S] [--hub-pid PID] [--timeout S]\n"
        "                          [--reconnect FILE]\n"
        "\n"
        "Simulated member nodes for the benchmark. Member i's keys are derived from\n"
        "the 32-byte seed in FILE, so enrol and the load modes agree on them. Each\n"
        "mode prints one JSON object on stdout.\n"
        "\n"
        "  enrol       enrols members 0..K-1 (named bench-NNNNN) directly in the store\n"
        "              of hub directory DIR; run it before the hub starts\n"
        "  preload     stores M signals from members 0..N-1 through the hub's ingest\n"
        "              pipeline in this process (the hub must not be running)\n"
        "  throughput  N nodes keep W envelopes in flight each; accepted receipts/s,\n"
        "              and this program's CPU per envelope (the hub's with --hub-pid)\n"
        "  latency     offers R envelopes/s in total, open loop; send-to-receipt\n"
        "              latency p50/p99/p99.9 in ms\n"
        "  connect     opens K connections (each sends one envelope and waits for its\n"
        "              receipt), holds them and samples the hub's VmRSS\n"
        "\n"
        "  --hub-dir DIR    hub directory (keys/hub.pub; the store for enrol, preload)\n"
        "  --seed FILE      32 random bytes shared by all modes\n"
        "  --endpoint EP    the hub, tcp://127.0.0.1:PORT\n"
        "  --nodes N        simulated nodes (default 50)\n"
        "  --first I        index of the first member used (default 0)\n"
        "  --count N        members to enrol, or signals to preload\n"
        "  --window W       envelopes in flight per node (default 32)\n"
        "  --duration S     measured seconds (default 2)\n"
        "  --warmup S       seconds before measuring (default 0.5)\n"
        "  --rate R         latency: offered envelopes per second in total\n"
        "  --max-rate R     throughput: size of the pre-sealed pool, in envelopes per\n"
        "                   second over the run (default 100000)\n"
        "  --batch B        preload: envelopes per group commit (default 4096)\n"
        "  --no-aggregate   preload: store and receipt only, no aggregation\n"
        "  --hold S         connect: seconds to hold the connections (default 3)\n"
        "  --hub-pid PID    connect: the hub process whose VmRSS is sampled;\n"
        "                   throughput: the hub whose CPU per envelope is reported\n"
        "  --timeout S      connect: longest wait for all receipts (default 60)\n"
        "  --reconnect FILE connect: after the hold, create FILE and wait (up to\n"
        "                   --timeout) for FILE.go, which the caller creates once it\n"
        "                   has stopped the hub and right before it starts it again;\n"
        "                   then every node sends one more envelope, and the time\n"
        "                   until all are answered is seconds_to_reconnect_all\n"
        "  --io-threads N   ZeroMQ I/O threads of the client (default 1)\n"
        "  --drain S        throughput, latency: how long replies still in flight are\n"
        "                   awaited after the measured window (default 10); later\n"
        "                   ones count as unanswered\n"
        "  --max-seconds S  preload: stop after the batch that passes S seconds and\n"
        "                   report the count stored (default: no limit)\n"
        "  -h, --help       show this help\n"
        "\n"
        "Exit status: 0 measured, 1 failure (also: any receipt that does not verify, or\n"
        "that does not answer the frame it names), 2 usage error.\n";

struct options {
        const char *hub_dir;
        const char *seed_file;
        const char *endpoint;
        const char *reconnect;
        uint32_t nodes;
        uint32_t first;
        uint64_t count;
        uint32_t window;
        double duration;
        double warmup;
        uint32_t rate;
        uint32_t max_rate;
        uint32_t batch;
        bool no_aggregate;
        double hold;
        uint32_t hub_pid;
        double timeout;
        uint32_t io_threads;
        double drain;
        double max_seconds;
};

/* One envelope of a node's pool and what became of it. */
struct frame {
        uint8_t *data;
        uint32_t len;
        uint8_t id[SIGNAL_ID_BYTES];
        double sent;            /* monotonic; 0: not sent */
        double answered;        /* 0: no reply */
        uint8_t *reply;
        uint16_t reply_len;
        uint8_t check;          /* enum bench_check, after verification */
        uint8_t reason;
};

struct sim_node {
        struct keys_secret *sk;
        struct bench_sealer sl;
        void *sock;
        struct frame *pool;
        size_t npool;
        size_t next;            /* first unsent */
        size_t *flight;         /* pool indices in flight */
        size_t nflight, capflight;
        uint64_t unmatched;
        bool exhausted;
};

struct load {
        const struct options *o;
        struct keys_public hub;
        uint8_t seed[BENCH_SEED_BYTES];
        void *ctx;
        struct sim_node *nodes;
        uint32_t n;
        zmq_pollitem_t *items;
};

struct tally {
        uint64_t accepted, duplicates, rejected, bad, unanswered;
        uint64_t by_reason[16];
};

/* ---- set-up -------------------------------------------------------------- */

static int load_hub_public(struct load *ld)
{
        char err[512];
        char *path = util_path(ld->o->hub_dir, "keys/hub.pub");
        int r;

        if (!path)
                return -ENOMEM;
        r = keys_load_public(&ld->hub, path, err, sizeof(err));
        if (r < 0)
                fprintf(stderr, "bench-load: %s\n", err);
        free(path);
        return r;
}

static int set_int(void *sock, int opt, int v)
{
        return zmq_setsockopt(sock, opt, &v, sizeof(v)) < 0 ? -errno : 0;
}

static int node_socket(struct load *ld, struct sim_node *nd)
{
        int64_t max = RECEIPT_MAX;

        nd->sock = zmq_socket(ld->ctx, ZMQ_DEALER);
        if (!nd->sock ||
            zmq_setsockopt(nd->sock, ZMQ_CURVE_SERVERKEY, ld->hub.transport, KEYS_KEY_BYTES) < 0 ||
            zmq_setsockopt(nd->sock, ZMQ_CURVE_PUBLICKEY, nd->sk->pub.transport,
                           KEYS_KEY_BYTES) < 0 ||
            zmq_setsockopt(nd->sock, ZMQ_CURVE_SECRETKEY, nd->sk->transport_sk, KEYS_KEY_BYTES) < 0 ||
            zmq_setsockopt(nd->sock, ZMQ_MAXMSGSIZE, &max, sizeof(max)) < 0 ||
            set_int(nd->sock, ZMQ_LINGER, 0) < 0 || set_int(nd->sock, ZMQ_SNDHWM, 100000) < 0 ||
            set_int(nd->sock, ZMQ_RCVHWM, 100000) < 0 ||
            zmq_connect(nd->sock, ld->o->endpoint) < 0) {
                fprintf(stderr, "bench-load: client socket: %s\n", zmq_strerror(errno));
                return -errno;
        }
        return 0;
}

/* Derives n nodes' keys, seals pool envelopes each, opens their sockets. */
static int load_open(struct load *ld, uint32_t n, size_t pool, size_t capflight)
{
        int r;

        ld->n = n;
        ld->nodes = calloc(n, sizeof(*ld->nodes));
        ld->items = calloc(n, sizeof(*ld->items));
        if (!ld->nodes || !ld->items)
                return -ENOMEM;
        ld->ctx = zmq_ctx_new();
        if (!ld->ctx)
                return -errno;
        if (zmq_ctx_set(ld->ctx, ZMQ_MAX_SOCKETS, (int)n + 64) < 0 ||
            zmq_ctx_set(ld->ctx, ZMQ_IO_THREADS, (int)ld->o->io_threads) < 0)
                return -errno;
        for (uint32_t i = 0; i < n; i++) {
                struct sim_node *nd = &ld->nodes[i];

                r = bench_member_derive(&nd->sk, ld->seed, ld->o->first + i);
                if (r == 0)
                        r = bench_sealer_init(&nd->sl, nd->sk, ld->hub.payload,
                                              BENCH_ENVELOPE_BYTES);
                if (r < 0) {
                        fprintf(stderr, "bench-load: cannot set up node %u: %s\n", i,
                                strerror(-r));
                        return r;
                }
                nd->pool = calloc(pool, sizeof(*nd->pool));
                nd->flight = calloc(capflight, sizeof(*nd->flight));
                if (!nd->pool || !nd->flight)
                        return -ENOMEM;
                nd->npool = pool;
                nd->capflight = capflight;
                for (size_t k = 0; k < pool; k++) {
                        struct frame *f = &nd->pool[k];
                        struct signal s;
                        size_t len = 0;

                        r = bench_signal(&nd->sl, ld->o->first + i, k, &s);
                        if (r == 0)
                                r = bench_seal(&nd->sl, &s, NULL, &f->data, &len);
                        if (r < 0) {
                                fprintf(stderr, "bench-load: sealing failed: %s\n", strerror(-r));
                                return r;
                        }
                        f->len = (uint32_t)len;
                        memcpy(f->id, s.id, SIGNAL_ID_BYTES);
                }
        }
        /* Sockets last, so that sealing does not eat into the handshakes. */
        for (uint32_t i = 0; i < n; i++) {
                r = node_socket(ld, &ld->nodes[i]);
                if (r < 0)
                        return r;
                ld->items[i].socket = ld->nodes[i].sock;
                ld->items[i].events = ZMQ_POLLIN;
        }
        return 0;
}

static void load_close(struct load *ld)
{
        for (uint32_t i = 0; ld->nodes && i < ld->n; i++) {
                struct sim_node *nd = &ld->nodes[i];

                if (nd->sock)
                        zmq_close(nd->sock);
                for (size_t k = 0; nd->pool && k < nd->npool; k++) {
                        free(nd->pool[k].data);
                        free(nd->pool[k].reply);
                }
                free(nd->pool);
                free(nd->flight);
                bench_sealer_wipe(&nd->sl);
                keys_free(nd->sk);
        }
        if (ld->ctx)
                zmq_ctx_term(ld->ctx);
        free(ld->nodes);
        free(ld->items);
        sodium_memzero(ld->seed, sizeof(ld->seed));
}

/* ---- sending and receiving ----------------------------------------------- */

/* Sends the node's next pool envelope: 1 sent, 0 would block, -ENOSPC when
 * the pool is used up or the flight table is full. */
static int node_send(struct sim_node *nd, double now)
{
        struct frame *f;

        if (nd->next >= nd->npool || nd->nflight >= nd->capflight) {
                if (nd->next >= nd->npool)
                        nd->exhausted = true;
                return -ENOSPC;
        }
        f = &nd->pool[nd->next];
        if (zmq_send(nd->sock, f->data, f->len, ZMQ_DONTWAIT) < 0)
                return errno == EAGAIN ? 0 : -errno;
        f->sent = now;
        nd->flight[nd->nflight++] = nd->next;
        nd->next++;
        return 1;
}

/* Matches one reply to the frame in flight that it names. */
static void node_reply(struct sim_node *nd, const uint8_t *buf, size_t len, double now)
{
        uint8_t id[SIGNAL_ID_BYTES];

        if (bench_reply_id(buf, len, id) == 0) {
                for (size_t j = 0; j < nd->nflight; j++) {
                        struct frame *f = &nd->pool[nd->flight[j]];

                        if (memcmp(f->id, id, SIGNAL_ID_BYTES) != 0)
                                continue;
                        f->answered = now;
                        f->reply = malloc(len);
                        if (f->reply) {
                                memcpy(f->reply, buf, len);
                                f->reply_len = (uint16_t)len;
                        }
                        nd->flight[j] = nd->flight[--nd->nflight];
                        return;
                }
        }
        nd->unmatched++;
}

/* Receives whatever waits on node i; returns the number of replies. */
static size_t node_drain(struct sim_node *nd, double now)
{
        uint8_t buf[RECEIPT_MAX + 1];
        size_t got = 0;
        int n;

        /* Bounded: at most the frames in flight plus a few strays. */
        for (size_t guard = 0; guard < nd->capflight + 64; guard++) {
                n = zmq_recv(nd->sock, buf, sizeof(buf), ZMQ_DONTWAIT);
                if (n < 0)
                        break;
                node_reply(nd, buf, n > RECEIPT_MAX ? RECEIPT_MAX + 1 : (size_t)n, now);
                got++;
        }
        return got;
}

static size_t load_in_flight(const struct load *ld)
{
        size_t total = 0;

        for (uint32_t i = 0; i < ld->n; i++)
                total += ld->nodes[i].nflight;
        return total;
}

/* Every node sends one envelope and waits for its receipt: the CURVE
 * handshakes are done before the clock starts. */
static int load_handshake(struct load *ld, double timeout)
{
        double t0 = bench_now(), now = t0;

        for (uint32_t i = 0; i < ld->n; i++)
                if (node_send(&ld->nodes[i], now) != 1)
                        return -EIO;
        while (load_in_flight(ld) > 0 && now - t0 < timeout) {
                if (zmq_poll(ld->items, (int)ld->n, 100) < 0 && errno != EINTR)
                        return -errno;
                now = bench_now();
                for (uint32_t i = 0; i < ld->n; i++)
                        if (ld->items[i].revents & ZMQ_POLLIN)
                                (void)node_drain(&ld->nodes[i], now);
        }
        return load_in_flight(ld) == 0 ? 0 : -ETIMEDOUT;
}

/* ---- verification after the clock stopped --------------------------------- */

struct verify_job {
        struct load *ld;
        uint32_t from, step;
};

static void *verify_run(void *arg)
{
        struct verify_job *job = arg;
        struct load *ld = job->ld;
        struct receipt_cache cache;

        memset(&cache, 0, sizeof(cache));
        for (uint32_t i = job->from; i < ld->n; i += job->step) {
                struct sim_node *nd = &ld->nodes[i];

                for (size_t k = 0; k < nd->next; k++) {
                        struct frame *f = &nd->pool[k];
                        int reason = 0;

                        if (!f->reply) {
                                f->check = BENCH_CHECK_BAD;
                                continue;
                        }
                        f->check = (uint8_t)bench_check_reply(f->reply, f->reply_len, f->data,
                                                              f->len, ld->hub.sign,
                                                              nd->sk->pub.payload, &cache,
                                                              &reason);
                        f->reason = (uint8_t)reason;
                }
        }
        return NULL;
}

/* Verifies every receipt received, on two threads. */
static void load_verify(struct load *ld)
{
        struct verify_job jobs[2] = { { ld, 0, 2 }, { ld, 1, 2 } };
        pthread_t t;
        bool threaded = pthread_create(&t, NULL, verify_run, &jobs[1]) == 0;

        if (!threaded)
                jobs[0].step = 1;
        verify_run(&jobs[0]);
        if (threaded)
                pthread_join(t, NULL);
}

/* Counts outcomes over all frames sent; the frames answered within [from, to)
 * and accepted (not duplicates) go to *in_window. */
static void load_tally(const struct load *ld, struct tally *t, double from, double to,
                       uint64_t *in_window)
{
        memset(t, 0, sizeof(*t));
        *in_window = 0;
        for (uint32_t i = 0; i < ld->n; i++) {
                const struct sim_node *nd = &ld->nodes[i];

                t->bad += nd->unmatched;
                for (size_t k = 0; k < nd->next; k++) {
                        const struct frame *f = &nd->pool[k];

                        if (!f->reply) {
                                t->unanswered++;
                                continue;
                        }
                        switch (f->check) {
                        case BENCH_CHECK_ACCEPTED:
                                t->accepted++;
                                if (f->answered >= from && f->answered < to)
                                        (*in_window)++;
                                break;
                        case BENCH_CHECK_DUPLICATE:
                                t->duplicates++;
                                break;
                        case BENCH_CHECK_REJECTED:
                                t->rejected++;
                                t->by_reason[f->reason < 16 ? f->reason : 15]++;
                                break;
                        default:
                                t->bad++;
                        }
                }
        }
}

static void tally_json(json_object *j, const struct tally *t)
{
        json_object *reasons = json_object_new_object();

        bench_json_int(j, "accepted", (int64_t)t->accepted);
        bench_json_int(j, "duplicates", (int64_t)t->duplicates);
        bench_json_int(j, "rejected", (int64_t)t->rejected);
        bench_json_int(j, "verify_failures", (int64_t)t->bad);
        bench_json_int(j, "unanswered", (int64_t)t->unanswered);
        for (int i = 0; i < 16; i++)
                if (t->by_reason[i])
                        bench_json_int(reasons, reason_name((Nmo__Reason)i),
                                       (int64_t)t->by_reason[i]);
        json_object_object_add(j, "rejected_by_reason", reasons);
}

static double load_mean_envelope(const struct load *ld)
{
        uint64_t bytes = 0, n = 0;

        for (uint32_t i = 0; i < ld->n; i++)
                for (size_t k = 0; k < ld->nodes[i].npool && k < 16; k++) {
                        bytes += ld->nodes[i].pool[k].len;
                        n++;
                }
        return n ? (double)bytes / (double)n : 0;
}

/* ---- modes ---------------------------------------------------------------- */

static int mode_throughput(struct load *ld)
{
        const struct options *o = ld->o;
        size_t pool = (size_t)ceil((double)o->max_rate * (o->warmup + o->duration + 1.0) /
                                   o->nodes) + o->window + 1;
        double t0, t1, tstart, tend, now, last = 0, cpu0, cpu1, hub0 = -1, hub1 = -1;
        uint64_t measured = 0, answered;
        bool exhausted = false;
        struct tally t;
        json_object *j;
        int r;

        r = load_open(ld, o->nodes, pool, o->window);
        if (r < 0)
                return r;
        r = load_handshake(ld, 30);
        if (r < 0) {
                fprintf(stderr, "bench-load: the hub did not answer every node: %s\n",
                        strerror(-r));
                return r;
        }
        cpu0 = bench_cpu_seconds(0);
        if (o->hub_pid)
                hub0 = bench_cpu_seconds((pid_t)o->hub_pid);
        t0 = bench_now();
        tstart = t0 + o->warmup;
        tend = tstart + o->duration;
        for (uint32_t i = 0; i < ld->n; i++)
                while (node_send(&ld->nodes[i], t0) == 1)
                        ;
        now = t0;
        /* Sending stops at tend; what is in flight then may take --drain more. */
        while (now < tend + o->drain) {
                double left = tend - now;
                long ms = left > 0 ? (long)(left * 1000.0) + 1 : 100;

                if (zmq_poll(ld->items, (int)ld->n, ms > 100 ? 100 : ms) < 0 && errno != EINTR)
                        return -errno;
                now = bench_now();
                for (uint32_t i = 0; i < ld->n; i++) {
                        struct sim_node *nd = &ld->nodes[i];

                        if (!(ld->items[i].revents & ZMQ_POLLIN))
                                continue;
                        if (node_drain(nd, now) > 0 && now < tend)
                                while (node_send(nd, now) == 1)
                                        ;
                }
                if (now >= tend && load_in_flight(ld) == 0)
                        break;
        }
        /* CPU from the first send to the last reply; verification comes after. */
        cpu1 = bench_cpu_seconds(0);
        if (o->hub_pid)
                hub1 = bench_cpu_seconds((pid_t)o->hub_pid);
        t1 = bench_now();
        for (uint32_t i = 0; i < ld->n; i++) {
                exhausted |= ld->nodes[i].exhausted;
                for (size_t k = 1; k < ld->nodes[i].next; k++)
                        if (ld->nodes[i].pool[k].answered > last)
                                last = ld->nodes[i].pool[k].answered;
        }
        load_verify(ld);
        load_tally(ld, &t, tstart, tend, &measured);
        j = json_object_new_object();
        bench_json_string(j, "mode", "throughput");
        bench_json_double(j, "rate", (double)measured / o->duration);
        bench_json_string(j, "unit", "accepted receipts/s");
        bench_json_int(j, "nodes", o->nodes);
        bench_json_int(j, "window", o->window);
        bench_json_double(j, "seconds", o->duration);
        bench_json_double(j, "envelope_bytes", load_mean_envelope(ld));
        bench_json_int(j, "in_window", (int64_t)measured);
        /* Everything accepted after the handshakes over the time it took: the
         * figure to look at when the hub is too slow to fill the window. */
        bench_json_double(j, "rate_overall",
                          last > t0 && t.accepted > ld->n
                                  ? (double)(t.accepted - ld->n) / (last - t0) : 0);
        json_object_object_add(j, "pool_exhausted", json_object_new_boolean(exhausted));
        answered = t.accepted + t.duplicates + t.rejected;
        answered = answered > ld->n ? answered - ld->n : 0;
        bench_json_double(j, "client_cpu_us_per_msg",
                          answered ? (cpu1 - cpu0) * 1e6 / (double)answered : 0);
        bench_json_double(j, "client_cpu_share", (cpu1 - cpu0) / (t1 - t0));
        if (hub0 >= 0 && hub1 >= 0) {
                bench_json_double(j, "server_cpu_us_per_msg",
                                  answered ? (hub1 - hub0) * 1e6 / (double)answered : 0);
                bench_json_double(j, "server_cpu_share", (hub1 - hub0) / (t1 - t0));
        }
        tally_json(j, &t);
        bench_print_json(j);
        if (exhausted)
                fprintf(stderr, "bench-load: the pre-sealed pool ran out; raise --max-rate\n");
        if (t.unanswered)
                fprintf(stderr, "bench-load: %llu envelopes unanswered %.1f s after the window\n",
                        (unsigned long long)t.unanswered, o->drain);
        return t.bad ? -EPROTO : 0;
}

static int mode_latency(struct load *ld)
{
        const struct options *o = ld->o;
        uint64_t total = (uint64_t)ceil((double)o->rate * (o->warmup + o->duration));
        size_t pool = (size_t)(total / o->nodes) + 3;
        double t0, tstart, tend, now, *lat = NULL;
        uint64_t k = 0, backlog = 0, sent_in_window = 0;
        size_t nlat = 0;
        struct tally t;
        uint64_t measured;
        json_object *j;
        int r;

        r = load_open(ld, o->nodes, pool, pool);
        if (r < 0)
                return r;
        r = load_handshake(ld, 30);
        if (r < 0) {
                fprintf(stderr, "bench-load: the hub did not answer every node: %s\n",
                        strerror(-r));
                return r;
        }
        t0 = bench_now();
        tstart = t0 + o->warmup;
        tend = t0 + (double)total / o->rate;
        now = t0;
        /* Bounded: sending ends with the schedule, waiting --drain after it. */
        while (now < tend + o->drain) {
                double due;
                long ms;

                while (k < total && t0 + (double)k / o->rate <= now) {
                        struct sim_node *nd = &ld->nodes[k % ld->n];

                        if (node_send(nd, now) != 1) {
                                /* Would block: the send is late, not skipped. */
                                backlog++;
                                break;
                        }
                        k++;
                }
                if (k >= total && load_in_flight(ld) == 0)
                        break;
                due = k < total ? t0 + (double)k / o->rate - now : 0.1;
                ms = due <= 0 ? 0 : (long)ceil(due * 1000.0);
                if (zmq_poll(ld->items, (int)ld->n, ms > 100 ? 100 : ms) < 0 && errno != EINTR)
                        return -errno;
                now = bench_now();
                for (uint32_t i = 0; i < ld->n; i++)
                        if (ld->items[i].revents & ZMQ_POLLIN)
                                (void)node_drain(&ld->nodes[i], now);
        }
        load_verify(ld);
        load_tally(ld, &t, 0, 1e300, &measured);
        lat = calloc(total + 1, sizeof(*lat));
        if (!lat)
                return -ENOMEM;
        for (uint32_t i = 0; i < ld->n; i++) {
                const struct sim_node *nd = &ld->nodes[i];

                for (size_t f = 1; f < nd->next; f++) {
                        const struct frame *fr = &nd->pool[f];

                        if (fr->sent < tstart)
                                continue;
                        sent_in_window++;
                        /* One never answered counts with the time waited for
                         * it, a lower bound, so that it still moves the tail. */
                        if (fr->reply && fr->check == BENCH_CHECK_ACCEPTED && nlat <= total)
                                lat[nlat++] = (fr->answered - fr->sent) * 1000.0;
                        else if (!fr->reply && nlat <= total)
                                lat[nlat++] = (now - fr->sent) * 1000.0;
                }
        }
        bench_sort(lat, nlat);
        j = json_object_new_object();
        bench_json_string(j, "mode", "latency");
        bench_json_int(j, "offered_rate", o->rate);
        bench_json_double(j, "sent_rate", (double)sent_in_window / (tend - tstart));
        bench_json_int(j, "nodes", o->nodes);
        bench_json_double(j, "seconds", tend - tstart);
        bench_json_int(j, "measured", (int64_t)nlat);
        bench_json_double(j, "p50_ms", bench_quantile(lat, nlat, 0.50));
        bench_json_double(j, "p99_ms", bench_quantile(lat, nlat, 0.99));
        bench_json_double(j, "p999_ms", bench_quantile(lat, nlat, 0.999));
        bench_json_double(j, "max_ms", nlat ? lat[nlat - 1] : 0);
        bench_json_int(j, "late_sends", (int64_t)backlog);
        tally_json(j, &t);
        bench_print_json(j);
        free(lat);
        if (t.unanswered)
                fprintf(stderr, "bench-load: %llu envelopes unanswered %.1f s after the schedule\n",
                        (unsigned long long)t.unanswered, o->drain);
        return t.bad ? -EPROTO : 0;
}

/* --reconnect: says that every node is connected by creating the file, waits
 * for FILE.go (the hub has stopped and is being started again), then has
 * every node send its second envelope (ZeroMQ queues it until the node's
 * connection is back) and times until all are answered. *seconds: -1 when
 * not all were answered within --timeout. */
static int connect_again(struct load *ld, size_t *answered, double *seconds)
{
        const struct options *o = ld->o;
        size_t plen = strlen(o->reconnect);
        char *go = malloc(plen + 4);
        bool *sent = calloc(ld->n, sizeof(*sent));
        double t0, now;
        size_t nsent = 0;
        FILE *f;
        int r = -ENOMEM;

        if (!go || !sent)
                goto out;
        memcpy(go, o->reconnect, plen);
        memcpy(go + plen, ".go", 4);
        f = fopen(o->reconnect, "we");
        if (!f || fclose(f) != 0) {
                r = -errno;
                fprintf(stderr, "bench-load: cannot create %s: %s\n", o->reconnect,
                        strerror(errno));
                goto out;
        }
        t0 = bench_now();
        while (access(go, F_OK) != 0) {
                if (bench_now() - t0 > o->timeout) {
                        fprintf(stderr, "bench-load: %s did not appear\n", go);
                        r = -ETIMEDOUT;
                        goto out;
                }
                bench_sleep(0.005);
        }
        t0 = bench_now();
        now = t0;
        *answered = 0;
        while (*answered < ld->n && now - t0 < o->timeout) {
                for (uint32_t i = 0; nsent < ld->n && i < ld->n; i++) {
                        if (sent[i])
                                continue;
                        r = node_send(&ld->nodes[i], now);
                        if (r < 0)
                                goto out;
                        sent[i] = r == 1;
                        nsent += r == 1;
                }
                bench_sleep(0.02);
                now = bench_now();
                for (uint32_t i = 0; i < ld->n; i++)
                        if (sent[i] && ld->nodes[i].nflight)
                                *answered += node_drain(&ld->nodes[i], now) > 0;
        }
        *seconds = *answered == ld->n ? now - t0 : -1;
        r = 0;
out:
        free(go);
        free(sent);
        return r;
}

static int mode_connect(struct load *ld)
{
        const struct options *o = ld->o;
        long rss = -1, anon = -1, file = -1, before = -1;
        double t0, t1, now, back = -1;
        size_t answered = 0, reanswered = 0;
        struct tally t;
        uint64_t measured;
        json_object *j;
        int r;

        if (o->hub_pid)
                before = bench_status_kib((pid_t)o->hub_pid, "VmRSS");
        r = load_open(ld, o->nodes, o->reconnect ? 2 : 1, 1);
        if (r < 0)
                return r;
        t0 = bench_now();
        now = t0;
        for (uint32_t i = 0; i < ld->n; i++)
                if (node_send(&ld->nodes[i], now) != 1)
                        return -EIO;
        /* Polling thousands of sockets at once costs more than trying each. */
        while (answered < ld->n && now - t0 < o->timeout) {
                bench_sleep(0.02);
                now = bench_now();
                for (uint32_t i = 0; i < ld->n; i++)
                        if (ld->nodes[i].nflight)
                                answered += node_drain(&ld->nodes[i], now) > 0;
        }
        t1 = bench_now();
        /* Hold every connection while sampling the hub's memory. */
        while (now - t1 < o->hold) {
                if (o->hub_pid) {
                        long v = bench_status_kib((pid_t)o->hub_pid, "VmRSS");

                        if (v > rss) {
                                rss = v;
                                anon = bench_status_kib((pid_t)o->hub_pid, "RssAnon");
                                file = bench_status_kib((pid_t)o->hub_pid, "RssFile");
                        }
                }
                bench_sleep(0.2);
                now = bench_now();
        }
        if (o->reconnect && answered == ld->n) {
                r = connect_again(ld, &reanswered, &back);
                if (r < 0)
                        return r;
        }
        load_verify(ld);
        load_tally(ld, &t, 0, 1e300, &measured);
        j = json_object_new_object();
        bench_json_string(j, "mode", "connect");
        bench_json_int(j, "nodes", o->nodes);
        bench_json_int(j, "answered", (int64_t)answered);
        bench_json_double(j, "seconds_to_answer_all", t1 - t0);
        bench_json_int(j, "hub_rss_before_kib", before);
        bench_json_int(j, "hub_rss_kib", rss);
        bench_json_int(j, "hub_rss_anon_kib", anon);
        bench_json_int(j, "hub_rss_file_kib", file);
        bench_json_int(j, "client_rss_kib", bench_status_kib(0, "VmRSS"));
        if (o->reconnect) {
                bench_json_int(j, "reconnected", (int64_t)reanswered);
                bench_json_double(j, "seconds_to_reconnect_all", back);
        }
        tally_json(j, &t);
        bench_print_json(j);
        if (o->reconnect && reanswered != ld->n)
                return -ETIMEDOUT;
        return answered == ld->n && t.bad == 0 ? 0 : -EPROTO;
}

/* enrol: members first..first+count-1 straight into the registry. */
struct enrol_job {
        struct hub_store *st;
        struct keys_public *pub;
        uint64_t n;
        uint64_t now_ms;
};

static int enrol_txn(MDB_txn *txn, void *userdata)
{
        struct enrol_job *e = userdata;

        for (uint64_t i = 0; i < e->n; i++) {
                struct hub_member m;
                int r = hub_member_add(txn, e->st, e->pub[i].name, &e->pub[i], e->now_ms, &m);

                if (r < 0)
                        return r;
        }
        return 0;
}

static int mode_enrol(struct load *ld)
{
        const struct options *o = ld->o;
        struct enrol_job e = { NULL, NULL, o->count, util_now_ms() };
        double t0 = bench_now();
        json_object *j;
        int r;

        e.pub = calloc(o->count, sizeof(*e.pub));
        if (!e.pub)
                return -ENOMEM;
        for (uint64_t i = 0; i < o->count; i++) {
                struct keys_secret *sk = NULL;

                r = bench_member_derive(&sk, ld->seed, o->first + (uint32_t)i);
                if (r < 0)
                        goto out;
                e.pub[i] = sk->pub;
                keys_free(sk);
        }
        r = hub_store_open(&e.st, o->hub_dir, false);
        if (r < 0) {
                fprintf(stderr, "bench-load: cannot open the store of %s: %s\n", o->hub_dir,
                        strerror(-r));
                goto out;
        }
        r = hub_store_write(e.st, enrol_txn, &e);
        if (r < 0) {
                fprintf(stderr, "bench-load: enrolment failed: %s\n", strerror(-r));
                goto out;
        }
        j = json_object_new_object();
        bench_json_string(j, "mode", "enrol");
        bench_json_int(j, "members", (int64_t)o->count);
        bench_json_double(j, "seconds", bench_now() - t0);
        bench_print_json(j);
out:
        hub_store_free(e.st);
        free(e.pub);
        return r;
}

/* preload: the hub's own ingest pipeline, in this process, in big batches. */
struct member_ids {
        struct hub_store *st;
        struct sim_node *nodes;
        uint32_t *ids;
        uint32_t n;
};

static int lookup_ids(MDB_txn *txn, void *userdata)
{
        struct member_ids *m = userdata;

        for (uint32_t i = 0; i < m->n; i++) {
                struct hub_member hm;
                int r = hub_member_by_transport(txn, m->st, m->nodes[i].sk->pub.transport, &hm);

                if (r < 0)
                        return r;
                m->ids[i] = hm.id;
        }
        return 0;
}

static int mode_preload(struct load *ld)
{
        const struct options *o = ld->o;
        struct keys_secret *hub = NULL;
        struct hub_store *st = NULL;
        struct analytics *an = NULL;
        struct hub_aggregate *ag = NULL;
        struct hub_ingest *ig = NULL;
        struct hub_item *items = NULL;
        struct hub_config cfg;
        struct member_ids mids = { NULL, NULL, NULL, 0 };
        struct hub_alert_out *alerts = NULL;
        size_t nalerts = 0;
        char err[512], *key_path = NULL, *an_path = NULL;
        uint64_t done = 0, refused = 0, k = 0;
        double t0, last = 0, last_flush = 0;
        json_object *j;
        int r = -ENOMEM;

        key_path = util_path(o->hub_dir, "keys/hub.key");
        an_path = util_path(o->hub_dir, "analytics");
        items = calloc(o->batch, sizeof(*items));
        ld->n = o->nodes;
        ld->nodes = calloc(o->nodes, sizeof(*ld->nodes));
        mids.ids = calloc(o->nodes, sizeof(*mids.ids));
        if (!key_path || !an_path || !items || !ld->nodes || !mids.ids)
                goto out;
        r = keys_load_secret(&hub, key_path, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "bench-load: %s\n", err);
                goto out;
        }
        hub_config_defaults(&cfg);
        r = hub_config_load(&cfg, o->hub_dir, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "bench-load: %s\n", err);
                goto out;
        }
        /* Preloading is not a member sending: no rate limit applies. */
        cfg.limits.member_rate = 1000000;
        cfg.limits.member_burst = 10000000;
        for (uint32_t i = 0; i < o->nodes; i++) {
                r = bench_member_derive(&ld->nodes[i].sk, ld->seed, o->first + i);
                if (r == 0)
                        r = bench_sealer_init(&ld->nodes[i].sl, ld->nodes[i].sk, hub->pub.payload,
                                              BENCH_ENVELOPE_BYTES);
                if (r < 0)
                        goto out;
        }
        r = hub_store_open(&st, o->hub_dir, false);
        if (r < 0) {
                fprintf(stderr, "bench-load: cannot open the store: %s\n", strerror(-r));
                goto out;
        }
        mids.st = st;
        mids.nodes = ld->nodes;
        mids.n = o->nodes;
        r = hub_store_read(st, lookup_ids, &mids);
        if (r < 0) {
                fprintf(stderr, "bench-load: members not enrolled (run enrol first): %s\n",
                        strerror(-r));
                goto out;
        }
        if (!o->no_aggregate) {
                r = analytics_open(&an, an_path, false);
                if (r == 0)
                        r = hub_aggregate_new(&ag, o->hub_dir, st, an, hub, &cfg);
                if (r < 0) {
                        fprintf(stderr, "bench-load: cannot set up aggregation: %s\n",
                                strerror(-r));
                        goto out;
                }
        }
        r = hub_ingest_new(&ig, st, hub, &cfg.limits, ag);
        if (r < 0)
                goto out;
        t0 = bench_now();
        /* Bounded by count and by --max-seconds: every batch stores or fails. */
        while (done < o->count && (o->max_seconds <= 0 || bench_now() - t0 < o->max_seconds)) {
                size_t n = o->count - done < o->batch ? (size_t)(o->count - done) : o->batch;

                for (size_t i = 0; i < n; i++, k++) {
                        uint32_t node = (uint32_t)(k % o->nodes);
                        struct signal s;
                        uint8_t *frame = NULL;
                        size_t len = 0;

                        r = bench_signal(&ld->nodes[node].sl, node, k / o->nodes, &s);
                        if (r == 0)
                                r = bench_seal(&ld->nodes[node].sl, &s, NULL, &frame, &len);
                        if (r < 0)
                                goto out;
                        memset(&items[i], 0, sizeof(items[i]));
                        items[i].member_id = mids.ids[node];
                        items[i].frame = frame;
                        items[i].len = len;
                }
                r = hub_ingest_batch(ig, items, n);
                for (size_t i = 0; i < n; i++) {
                        if (items[i].outcome != HUB_OUTCOME_ACCEPTED)
                                refused++;
                        free((void *)items[i].frame);
                        items[i].frame = NULL;
                        hub_item_clear(&items[i]);
                }
                if (r < 0 || refused) {
                        fprintf(stderr, "bench-load: preload refused %llu signals: %s\n",
                                (unsigned long long)refused, r < 0 ? strerror(-r) : "refusals");
                        r = r < 0 ? r : -EPROTO;
                        goto out;
                }
                done += n;
                /* Folded and counted as the daemon's aggregation thread does,
                 * about twice a second. */
                if (ag && bench_now() - last_flush >= 0.5) {
                        r = hub_aggregate_flush(ag, util_now_ms(), &alerts, &nalerts);
                        hub_alert_out_free(alerts, nalerts);
                        alerts = NULL;
                        nalerts = 0;
                        if (r < 0)
                                goto out;
                        last_flush = bench_now();
                }
                if (bench_now() - last >= 10) {
                        last = bench_now();
                        fprintf(stderr, "bench-load: preloaded %llu of %llu (%.0f/s)\n",
                                (unsigned long long)done, (unsigned long long)o->count,
                                (double)done / (last - t0 + 1e-9));
                }
        }
        /* What the daemon does after commits; it also recounts at start-up. */
        if (ag) {
                r = hub_aggregate_flush(ag, util_now_ms(), &alerts, &nalerts);
                hub_alert_out_free(alerts, nalerts);
                if (r < 0)
                        goto out;
        }
        j = json_object_new_object();
        bench_json_string(j, "mode", "preload");
        bench_json_int(j, "count", (int64_t)done);
        bench_json_int(j, "requested", (int64_t)o->count);
        json_object_object_add(j, "complete", json_object_new_boolean(done == o->count));
        bench_json_int(j, "members", o->nodes);
        bench_json_double(j, "seconds", bench_now() - t0);
        bench_json_double(j, "rate", (double)done / (bench_now() - t0));
        json_object_object_add(j, "aggregate", json_object_new_boolean(!o->no_aggregate));
        bench_print_json(j);
        r = 0;
out:
        hub_ingest_free(ig);
        hub_aggregate_free(ag);
        analytics_free(an);
        hub_store_free(st);
        keys_free(hub);
        free(items);
        free(mids.ids);
        free(key_path);
        free(an_path);
        return r;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "hub-dir", required_argument, NULL, 'D' },
                { "seed", required_argument, NULL, 'S' },
                { "endpoint", required_argument, NULL, 'e' },
                { "nodes", required_argument, NULL, 'n' },
                { "first", required_argument, NULL, 'f' },
                { "count", required_argument, NULL, 'c' },
                { "window", required_argument, NULL, 'w' },
                { "duration", required_argument, NULL, 't' },
                { "warmup", required_argument, NULL, 'u' },
                { "rate", required_argument, NULL, 'r' },
                { "max-rate", required_argument, NULL, 'm' },
                { "batch", required_argument, NULL, 'b' },
                { "no-aggregate", no_argument, NULL, 'A' },
                { "hold", required_argument, NULL, 'H' },
                { "hub-pid", required_argument, NULL, 'p' },
                { "timeout", required_argument, NULL, 'T' },
                { "io-threads", required_argument, NULL, 'i' },
                { "drain", required_argument, NULL, 'R' },
                { "max-seconds", required_argument, NULL, 'M' },
                { "reconnect", required_argument, NULL, 'X' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        struct options o = { NULL, NULL, NULL, NULL, 50, 0, 0, 32, 2.0, 0.5, 0, 100000, 4096, false,
                             3.0, 0, 60.0, 1, 10.0, 0 };
        struct load ld;
        const char *mode;
        bool needs_endpoint;
        long nofile;
        int c, r;

        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                fputs(help, stdout);
                return BENCH_EXIT_OK;
        }
        if (argc < 2 || argv[1][0] == '-')
                return bench_usage("bench-load", "name a mode: enrol, preload, throughput, "
                                   "latency or connect");
        mode = argv[1];
        optind = 2;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'D':
                        o.hub_dir = optarg;
                        break;
                case 'S':
                        o.seed_file = optarg;
                        break;
                case 'e':
                        if (strncmp(optarg, "tcp://127.0.0.1:", 16) != 0)
                                return bench_usage("bench-load", "--endpoint must be "
                                                   "tcp://127.0.0.1:PORT");
                        o.endpoint = optarg;
                        break;
                case 'n':
                        if (util_parse_u32(optarg, 1, 20000, &o.nodes) < 0)
                                return bench_usage("bench-load", "--nodes: 1 to 20000");
                        break;
                case 'f':
                        if (util_parse_u32(optarg, 0, 1000000, &o.first) < 0)
                                return bench_usage("bench-load", "--first: 0 to 1000000");
                        break;
                case 'c':
                        if (util_parse_u64(optarg, 1, 100000000, &o.count) < 0)
                                return bench_usage("bench-load", "--count: 1 to 100000000");
                        break;
                case 'w':
                        if (util_parse_u32(optarg, 1, 10000, &o.window) < 0)
                                return bench_usage("bench-load", "--window: 1 to 10000");
                        break;
                case 't':
                        if (bench_parse_seconds(optarg, 0.1, 3600, &o.duration) < 0)
                                return bench_usage("bench-load", "--duration: 0.1 to 3600");
                        break;
                case 'u':
                        if (bench_parse_seconds(optarg, 0, 600, &o.warmup) < 0)
                                return bench_usage("bench-load", "--warmup: 0 to 600");
                        break;
                case 'r':
                        if (util_parse_u32(optarg, 1, 10000000, &o.rate) < 0)
                                return bench_usage("bench-load", "--rate: 1 to 10000000");
                        break;
                case 'm':
                        if (util_parse_u32(optarg, 1, 10000000, &o.max_rate) < 0)
                                return bench_usage("bench-load", "--max-rate: 1 to 10000000");
                        break;
                case 'b':
                        if (util_parse_u32(optarg, 1, 65536, &o.batch) < 0)
                                return bench_usage("bench-load", "--batch: 1 to 65536");
                        break;
                case 'A':
                        o.no_aggregate = true;
                        break;
                case 'H':
                        if (bench_parse_seconds(optarg, 0, 3600, &o.hold) < 0)
                                return bench_usage("bench-load", "--hold: 0 to 3600");
                        break;
                case 'p':
                        if (util_parse_u32(optarg, 1, 4194304, &o.hub_pid) < 0)
                                return bench_usage("bench-load", "--hub-pid: a process id");
                        break;
                case 'T':
                        if (bench_parse_seconds(optarg, 1, 3600, &o.timeout) < 0)
                                return bench_usage("bench-load", "--timeout: 1 to 3600");
                        break;
                case 'i':
                        if (util_parse_u32(optarg, 1, 16, &o.io_threads) < 0)
                                return bench_usage("bench-load", "--io-threads: 1 to 16");
                        break;
                case 'R':
                        if (bench_parse_seconds(optarg, 0, 600, &o.drain) < 0)
                                return bench_usage("bench-load", "--drain: 0 to 600");
                        break;
                case 'M':
                        if (bench_parse_seconds(optarg, 1, 86400, &o.max_seconds) < 0)
                                return bench_usage("bench-load", "--max-seconds: 1 to 86400");
                        break;
                case 'X':
                        o.reconnect = optarg;
                        break;
                case 'h':
                        fputs(help, stdout);
                        return BENCH_EXIT_OK;
                default:
                        return BENCH_EXIT_USAGE;
                }
        }
        if (optind != argc)
                return bench_usage("bench-load", "unexpected argument '%s'", argv[optind]);
        if (strcmp(mode, "enrol") && strcmp(mode, "preload") && strcmp(mode, "throughput") &&
            strcmp(mode, "latency") && strcmp(mode, "connect"))
                return bench_usage("bench-load", "unknown mode '%s'", mode);
        if (!o.hub_dir || !o.seed_file)
                return bench_usage("bench-load", "--hub-dir and --seed are required");
        needs_endpoint = strcmp(mode, "enrol") && strcmp(mode, "preload");
        if (needs_endpoint && !o.endpoint)
                return bench_usage("bench-load", "%s needs --endpoint", mode);
        if ((!strcmp(mode, "enrol") || !strcmp(mode, "preload")) && !o.count)
                return bench_usage("bench-load", "%s needs --count", mode);
        if (!strcmp(mode, "latency") && !o.rate)
                return bench_usage("bench-load", "latency needs --rate");
        /* The hub's code logs its own progress at info level; keep errors. */
        log_setup("bench-load", LOG_LEVEL_WARN);
        /* preload runs the hub's ingest in this process: with the hub's
         * generator (rng.h), and the load modes draw nonces as cheaply. */
        if (rng_install() < 0 || sodium_init() < 0) {
                fprintf(stderr, "bench-load: libsodium failed to initialise\n");
                return BENCH_EXIT_FAIL;
        }
        nofile = bench_raise_nofile();
        if (nofile > 0 && !strcmp(mode, "connect") && (long)o.nodes * 2 + 64 > nofile)
                fprintf(stderr, "bench-load: %u connections need about %u open files; the "
                        "limit is %ld\n", o.nodes, o.nodes * 2 + 64, nofile);
        memset(&ld, 0, sizeof(ld));
        ld.o = &o;
        r = bench_read_seed(o.seed_file, ld.seed);
        if (r < 0) {
                fprintf(stderr, "bench-load: cannot read 32 bytes from %s\n", o.seed_file);
                return BENCH_EXIT_FAIL;
        }
        if (!strcmp(mode, "enrol")) {
                r = mode_enrol(&ld);
        } else if (!strcmp(mode, "preload")) {
                r = mode_preload(&ld);
        } else {
                r = load_hub_public(&ld);
                if (r == 0 && !strcmp(mode, "throughput"))
                        r = mode_throughput(&ld);
                else if (r == 0 && !strcmp(mode, "latency"))
                        r = mode_latency(&ld);
                else if (r == 0)
                        r = mode_connect(&ld);
        }
        if (r < 0)
                fprintf(stderr, "bench-load: %s failed: %s\n", mode, strerror(-r));
        load_close(&ld);
        return r == 0 ? BENCH_EXIT_OK : BENCH_EXIT_FAIL;
}
