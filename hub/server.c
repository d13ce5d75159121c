/* server.c: see server.h. */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zmq.h>

#include "alert.h"
#include "db.h"

#include "aggregate.h"
#include "analytics.h"
#include "conns.h"
#include "feedpub.h"
#include "ingest.h"
#include "keyrot.h"
#include "keys.h"
#include "log.h"
#include "reload.h"
#include "store.h"
#include "zap.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
/* Stable in libzmq since 4.3 but still behind the draft header guard. */
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

/* How often the daemon logs its totals when it has been busy. */
#define HUB_REPORT_MS 60000
/* How often epochs are checked for closing and stale readers cleared. */
#define HUB_HOUSEKEEPING_MS 60000
/* Longest a change waits before the analytics store shows it. One write
 * covers every material that changed, so the cost of its sync is shared. */
#define HUB_FLUSH_MS 500

char *hub_secret_key_path(const char *hub_dir)
{
        return util_path(hub_dir, "keys/hub.key");
}

char *hub_public_key_path(const char *hub_dir)
{
        return util_path(hub_dir, "keys/hub.pub");
}

struct msg_slot {
        zmq_msg_t id;
        zmq_msg_t body;
};

static int set_int(void *sock, int opt, int value)
{
        return zmq_setsockopt(sock, opt, &value, sizeof(value)) < 0 ? -errno : 0;
}

static int setup_router(void *sock, const struct keys_secret *hub, const struct hub_config *cfg)
{
        int64_t max = cfg->limits.max_message;
        int r;

        r = set_int(sock, ZMQ_CURVE_SERVER, 1);
        if (!r && zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, hub->transport_sk, KEYS_KEY_BYTES) < 0)
                r = -errno;
        if (!r && zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, HUB_ZAP_DOMAIN, strlen(HUB_ZAP_DOMAIN)) < 0)
                r = -errno;
        if (!r)
                r = set_int(sock, ZMQ_ZAP_ENFORCE_DOMAIN, 1);
        if (!r && zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max, sizeof(max)) < 0)
                r = -errno;
        if (!r)
                r = set_int(sock, ZMQ_RCVHWM, (int)cfg->limits.queue);
        /* Its own, smaller bound: a peer that leaves this many replies unread
         * is closed (send_reply), and costs the hub no more than that. */
        if (!r)
                r = set_int(sock, ZMQ_SNDHWM, (int)cfg->limits.reply_queue);
        /* A receipt for a peer that is gone is an error we see, not a silent drop. */
        if (!r)
                r = set_int(sock, ZMQ_ROUTER_MANDATORY, 1);
        if (!r)
                r = set_int(sock, ZMQ_HANDSHAKE_IVL, (int)cfg->limits.handshake_ms);
        if (!r)
                r = set_int(sock, ZMQ_HEARTBEAT_IVL, 10000);
        if (!r)
                r = set_int(sock, ZMQ_HEARTBEAT_TIMEOUT, 30000);
        if (!r)
                r = set_int(sock, ZMQ_LINGER, 2000);
        return r;
}

/* Receives one whole message from the router into slot; returns 1 when one was
 * read, 0 when none waits, or a negative errno. */
static int recv_one(void *router, struct msg_slot *slot, struct hub_item *it)
{
        const char *user;

        zmq_msg_init(&slot->id);
        zmq_msg_init(&slot->body);
        if (zmq_msg_recv(&slot->id, router, ZMQ_DONTWAIT) < 0) {
                int e = errno;
                zmq_msg_close(&slot->id);
                zmq_msg_close(&slot->body);
                return e == EAGAIN ? 0 : -e;
        }
        memset(it, 0, sizeof(*it));
        if (!zmq_msg_more(&slot->id) || zmq_msg_recv(&slot->body, router, 0) < 0) {
                /* A router always delivers identity then body; treat anything else
                 * as an empty, malformed message. */
                it->extra_parts = true;
        }
        /* More than one body frame: drain and refuse. */
        if (zmq_msg_more(&slot->body)) {
                zmq_msg_t extra;
                int more = 1;

                it->extra_parts = true;
                while (more) {
                        zmq_msg_init(&extra);
                        if (zmq_msg_recv(&extra, router, 0) < 0) {
                                zmq_msg_close(&extra);
                                break;
                        }
                        more = zmq_msg_more(&extra);
                        zmq_msg_close(&extra);
                }
        }
        user = zmq_msg_gets(&slot->body, "User-Id");
        if (!user || !hub_item_set_user(it, user))
                it->member_id = 0;
        it->frame = zmq_msg_data(&slot->body);
        it->len = zmq_msg_size(&slot->body);
        return 1;
}

struct counters {
        uint64_t unroutable;
        uint64_t send_dropped;
        struct hub_conns *conns;        /* to close a peer that does not read */
};

static void send_reply(void *router, struct msg_slot *slot, const struct hub_item *it,
                       struct counters *c)
{
        if (!it->reply)
                return;
        if (zmq_send(router, zmq_msg_data(&slot->id), zmq_msg_size(&slot->id),
                     ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
            zmq_send(router, it->reply, it->reply_len, ZMQ_DONTWAIT) < 0) {
                /* The node resends what it has no receipt for, and a repeat is
                 * answered with the original receipt, so nothing is lost. */
                if (errno == EHOSTUNREACH) {
                        c->unroutable++;
                } else {
                        c->send_dropped++;
                        /* Its queue is full: the peer does not read. */
                        if (errno == EAGAIN)
                                hub_conns_drop(c->conns, HUB_CONN_ROUTER, &slot->body,
                                               "it does not read its receipts");
                }
        }
}

/* A batch whose replies wait until its commit is durable. */
struct pending {
        struct msg_slot *slots;
        struct hub_item *items;
        size_t n;
};

/* Sends the replies of p (after a sync unless durable says its commit is
 * durable already) and empties it. When the sync fails the replies are
 * dropped: the nodes send again, and a repeat is answered from the store
 * once it is durable. */
static void release(void *router, struct hub_ingest *ig, struct pending *p, bool durable,
                    struct counters *c)
{
        int r = 0;

        if (p->n == 0)
                return;
        if (!durable)
                r = hub_ingest_sync(ig);
        if (r < 0)
                log_error("cannot sync the private store: %s; %zu replies held back (the "
                          "nodes will send again)", strerror(-r), p->n);
        for (size_t i = 0; i < p->n; i++) {
                if (r == 0)
                        send_reply(router, &p->slots[i], &p->items[i], c);
                hub_item_clear(&p->items[i]);
                zmq_msg_close(&p->slots[i].id);
                zmq_msg_close(&p->slots[i].body);
        }
        p->n = 0;
}

/* Ends the overlap of a hub key rotation once its time has come. */
static void overlap_check(struct hub_keyrot *kr, struct hub_ingest *ig, const char *hub_dir)
{
        char when[32];
        int r;

        if (!kr->prev || util_now_ms() < kr->a.overlap_until_ms)
                return;
        hub_ingest_set_rotation(ig, NULL, kr->ann, kr->ann_len, kr->a.old_payload);
        r = hub_keyrot_retire(kr, hub_dir);
        util_format_time(kr->a.overlap_until_ms, when, sizeof(when));
        if (r < 0) {
                log_error("the overlap of the hub key rotation ended %s, but the previous keys "
                          "cannot be removed: %s; they are no longer used", when, strerror(-r));
                keys_free(kr->prev);
                kr->prev = NULL;
                return;
        }
        log_info("the overlap of the hub key rotation ended %s: previous keys destroyed; "
                 "envelopes sealed to them now get unknown-hub-key", when);
}

static int read_member_changes(MDB_txn *txn, void *userdata)
{
        uint64_t *v = userdata;
        struct hub_store *st = (struct hub_store *)(uintptr_t)v[1];

        return hub_store_meta_get(txn, st, HUB_META_MEMBER_CHANGES, &v[0]);
}

static uint64_t member_changes(struct hub_store *st)
{
        uint64_t v[2] = { 0, (uint64_t)(uintptr_t)st };

        return hub_store_read(st, read_member_changes, v) == 0 ? v[0] : 0;
}

/* The aggregation thread: recomputes what changed and closes epochs, away
 * from the loop that answers members, so a recomputation never delays a
 * receipt. New alerts go to the loop over an inproc PAIR, one frame each,
 * since only the loop may use the feed socket. */
#define AGGREGATOR_ENDPOINT "inproc://nmo-hub-aggregator"

struct aggregator {
        struct hub_aggregate *ag;
        void *ctx;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool stop;
        bool started;
};

static void aggregator_send(void *pair, struct hub_alert_out *alerts, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (zmq_send(pair, alerts[i].signed_alert, alerts[i].len, 0) < 0)
                        log_warn("alert not handed over: %s", zmq_strerror(errno));
        hub_alert_out_free(alerts, n);
}

/* The aggregation yields the CPU to the ingest (its lag is bounded by pacing
 * anyway), so that its folds and recomputations do not hold up receipts.
 * (Its I/O keeps the normal class: an idle-class commit would hold its
 * environment's writer while starved.) Best effort: a failure changes nothing. */
static void aggregator_yield(void)
{
        pid_t tid = (pid_t)syscall(SYS_gettid);

        if (setpriority(PRIO_PROCESS, (id_t)tid, 10) < 0)
                log_debug("aggregation thread keeps its CPU priority: %s", strerror(errno));
}

static void *aggregator_thread(void *arg)
{
        struct aggregator *a = arg;
        struct hub_alert_out *alerts = NULL;
        uint64_t last_housekeeping = util_mono_ms();
        size_t nalerts = 0;
        void *pair = zmq_socket(a->ctx, ZMQ_PAIR);
        int linger = 2000;
        bool stop = false;

        aggregator_yield();
        if (!pair || zmq_setsockopt(pair, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
            zmq_connect(pair, AGGREGATOR_ENDPOINT) < 0) {
                log_error("aggregation thread cannot reach the hub loop: %s",
                          zmq_strerror(errno));
                if (pair)
                        zmq_close(pair);
                return NULL;
        }
        while (!stop) {
                struct timespec until;

                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += (long)HUB_FLUSH_MS * 1000000L;
                until.tv_sec += until.tv_nsec / 1000000000L;
                until.tv_nsec %= 1000000000L;
                pthread_mutex_lock(&a->lock);
                if (!a->stop)
                        (void)pthread_cond_timedwait(&a->wake, &a->lock, &until);
                stop = a->stop;
                pthread_mutex_unlock(&a->lock);
                /* Also when stopping, then all of it: what was committed reaches
                 * the store. */
                if ((stop ? hub_aggregate_flush_all : hub_aggregate_flush)(a->ag, util_now_ms(),
                                                                          &alerts, &nalerts) < 0)
                        log_warn("analytics update deferred; will retry");
                aggregator_send(pair, alerts, nalerts);
                if (!stop && util_mono_ms() - last_housekeeping >= HUB_HOUSEKEEPING_MS) {
                        if (hub_aggregate_housekeeping(a->ag, util_now_ms(), false, &alerts,
                                                       &nalerts) < 0)
                                log_warn("housekeeping failed; will retry");
                        aggregator_send(pair, alerts, nalerts);
                        last_housekeeping = util_mono_ms();
                }
        }
        zmq_close(pair);
        return NULL;
}

static int aggregator_start(struct aggregator *a, void *ctx, struct hub_aggregate *ag)
{
        memset(a, 0, sizeof(*a));
        a->ag = ag;
        a->ctx = ctx;
        pthread_mutex_init(&a->lock, NULL);
        pthread_cond_init(&a->wake, NULL);
        if (pthread_create(&a->thread, NULL, aggregator_thread, a) != 0)
                return -EAGAIN;
        a->started = true;
        return 0;
}

/* Asks for a last flush and waits for the thread to end. */
static void aggregator_stop(struct aggregator *a)
{
        if (!a->started)
                return;
        pthread_mutex_lock(&a->lock);
        a->stop = true;
        pthread_cond_signal(&a->wake);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->thread, NULL);
        a->started = false;
}

/* Publishes every alert the aggregation thread handed over. */
static void feed_forward(void *pair, struct hub_feed *feed)
{
        zmq_msg_t m;

        for (;;) {
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, pair, ZMQ_DONTWAIT) < 0) {
                        zmq_msg_close(&m);
                        return;
                }
                hub_feed_publish(feed, zmq_msg_data(&m), zmq_msg_size(&m));
                zmq_msg_close(&m);
        }
}

static int block_signals(sigset_t *set)
{
        sigemptyset(set);
        sigaddset(set, SIGTERM);
        sigaddset(set, SIGINT);
        sigaddset(set, SIGHUP);
        /* Blocked before any thread starts, so only the signalfd sees them. */
        return -pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* SIGHUP: hub.conf again; what may change while running is applied. */
static void reload(const char *hub_dir, struct hub_config *live, struct hub_ingest *ig,
                   struct hub_aggregate *ag)
{
        struct hub_config next;

        if (hub_reload_config(hub_dir, live, &next) < 0)
                return;
        log_setup(NULL, (enum log_level)next.log_level);
        hub_ingest_set_rates(ig, &next.limits);
        hub_aggregate_set_rules(ag, &next.alerts);
        *live = next;
}

int hub_serve(const char *hub_dir, const struct hub_config *cfg)
{
        /* The settings in use; a reload changes some (reload.h). */
        struct hub_config live = *cfg;
        struct keys_secret *hub = NULL;
        struct hub_keyrot *kr = NULL;
        struct hub_store *st = NULL;
        struct hub_ingest *ig = NULL;
        struct hub_analytics *an = NULL;
        struct hub_aggregate *ag = NULL;
        struct hub_alert_out *alerts = NULL;
        size_t nalerts = 0;
        struct hub_zap *zap = NULL;
        struct pending held = { NULL, NULL, 0 }, next = { NULL, NULL, 0 };
        struct counters c = { 0, 0, NULL };
        struct hub_conns *conns = NULL;
        struct hub_feed *feed = NULL;
        void *ctx = NULL, *router = NULL, *router_monitor = NULL;
        char err[512], *key_path = NULL, *an_path = NULL, alerts_ep[HUB_ENDPOINT_MAX];
        uint64_t last_tick = util_mono_ms();
        struct aggregator agg = { 0 };
        void *pair = NULL;
        uint64_t changes = 0;
        uint64_t last_report = util_mono_ms(), reported_batches = 0;
        bool stopping = false;
        sigset_t set;
        int sfd = -1, r;

        r = block_signals(&set);
        if (r < 0)
                return r;
        sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0)
                return -errno;
        key_path = hub_secret_key_path(hub_dir);
        if (!key_path) {
                r = -ENOMEM;
                goto out;
        }
        r = keys_load_secret(&hub, key_path, err, sizeof(err));
        if (r < 0) {
                log_error("%s", err);
                goto out;
        }
        if (hub->pub.role != KEYS_ROLE_HUB) {
                log_error("%s is not a hub key", key_path);
                r = -EINVAL;
                goto out;
        }
        r = hub_keyrot_load(&kr, hub_dir, hub, util_now_ms(), err, sizeof(err));
        if (r < 0) {
                log_error("%s", err);
                goto out;
        }
        r = hub_store_open(&st, hub_dir, false);
        if (r < 0) {
                log_error("cannot open the private store in %s/private: %s", hub_dir,
                          strerror(-r));
                goto out;
        }
        /* From here on a commit flushes once and the next commit (or a sync)
         * makes it durable: the loop below holds each batch's replies until
         * then (ingest.h). hub_ingest_new() makes what is there durable. */
        r = db_errno(mdb_env_set_flags(st->env, MDB_NOMETASYNC, 1));
        if (r < 0) {
                log_error("cannot set up the private store: %s", strerror(-r));
                goto out;
        }
        an_path = util_path(hub_dir, "analytics");
        if (!an_path) {
                r = -ENOMEM;
                goto out;
        }
        r = hub_analytics_open(&an, an_path, false);
        if (r < 0) {
                log_error("cannot open the analytics store %s: %s", an_path, strerror(-r));
                goto out;
        }
        r = hub_aggregate_new(&ag, hub_dir, st, an, hub, cfg);
        if (r < 0) {
                log_error("cannot set up aggregation: %s", strerror(-r));
                goto out;
        }
        r = hub_ingest_new(&ig, st, hub, &cfg->limits, ag);
        if (r < 0) {
                log_error("cannot sync the private store: %s", strerror(-r));
                goto out;
        }
        /* Close epochs that ended while the hub was down, and make the
         * analytics store equal a recount of the open epochs. */
        r = hub_aggregate_housekeeping(ag, util_now_ms(), true, &alerts, &nalerts);
        hub_alert_out_free(alerts, nalerts);
        /* Taking signals matters more than current figures: serve anyway and
         * let the periodic housekeeping try again. */
        if (r < 0)
                log_error("cannot bring the analytics store up to date yet: %s", strerror(-r));
        hub_ingest_set_rotation(ig, kr->prev, kr->ann, kr->ann_len, kr->a.old_payload);
        held.slots = calloc(cfg->limits.batch, sizeof(*held.slots));
        held.items = calloc(cfg->limits.batch, sizeof(*held.items));
        next.slots = calloc(cfg->limits.batch, sizeof(*next.slots));
        next.items = calloc(cfg->limits.batch, sizeof(*next.items));
        if (!held.slots || !held.items || !next.slots || !next.items) {
                r = -ENOMEM;
                goto out;
        }
        r = hub_config_alerts_endpoint(cfg, alerts_ep);
        if (r < 0) {
                log_error("no alert feed endpoint can be derived from %s: set [alerts] listen",
                          cfg->listen);
                goto out;
        }
        r = hub_conns_new(&conns, &cfg->limits);
        if (r < 0)
                goto out;
        c.conns = conns;
        ctx = zmq_ctx_new();
        if (!ctx) {
                r = -errno;
                goto out;
        }
        r = hub_zap_start(&zap, ctx, st, conns);
        if (r < 0) {
                log_error("cannot start the ZAP handler: %s", strerror(-r));
                goto out;
        }
        router = zmq_socket(ctx, ZMQ_ROUTER);
        if (!router) {
                r = -errno;
                goto out;
        }
        r = setup_router(router, hub, cfg);
        if (r < 0) {
                log_error("cannot configure the listening socket: %s", zmq_strerror(-r));
                goto out;
        }
        r = hub_conns_watch(conns, ctx, router, HUB_CONN_ROUTER, &router_monitor);
        if (r < 0) {
                log_error("cannot watch the listening socket: %s", zmq_strerror(-r));
                goto out;
        }
        if (zmq_bind(router, cfg->listen) < 0) {
                r = -errno;
                log_error("cannot listen on %s: %s", cfg->listen, zmq_strerror(errno));
                goto out;
        }
        r = hub_feed_open(&feed, ctx, hub, cfg, alerts_ep, conns);
        if (r < 0)
                goto out;
        pair = zmq_socket(ctx, ZMQ_PAIR);
        if (!pair || zmq_bind(pair, AGGREGATOR_ENDPOINT) < 0) {
                r = -errno;
                log_error("cannot set up the aggregation thread: %s", zmq_strerror(errno));
                goto out;
        }
        r = aggregator_start(&agg, ctx, ag);
        if (r < 0) {
                log_error("cannot start the aggregation thread");
                goto out;
        }
        changes = member_changes(st);
        log_info("serving on %s, alert feed on %s (hub directory %s)", cfg->listen, alerts_ep,
                 hub_dir);

        while (!stopping) {
                zmq_pollitem_t polls[6] = {
                        { router, 0, ZMQ_POLLIN, 0 },
                        { NULL, sfd, ZMQ_POLLIN, 0 },
                        { hub_feed_socket(feed), 0, ZMQ_POLLIN, 0 },
                        { pair, 0, ZMQ_POLLIN, 0 },
                        { router_monitor, 0, ZMQ_POLLIN, 0 },
                        { hub_feed_monitor(feed), 0, ZMQ_POLLIN, 0 },
                };
                size_t n = 0;

                /* Replies held for durability: look, do not wait. */
                if (zmq_poll(polls, 6, held.n ? 0 : 1000) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        log_error("poll failed: %s", zmq_strerror(errno));
                        break;
                }
                if (polls[1].revents & ZMQ_POLLIN) {
                        struct signalfd_siginfo si;

                        if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si)) {
                                /* Nothing read: nothing to do. */
                        } else if (si.ssi_signo == SIGHUP) {
                                reload(hub_dir, &live, ig, ag);
                        } else {
                                log_info("signal %u received: finishing what is in flight",
                                         si.ssi_signo);
                                stopping = true;
                        }
                }
                /* Connections first, so that each message finds its own. */
                hub_conns_events(conns);
                /* Take all that waits, up to the batch limit; also while stopping,
                 * so what was received before the signal is answered. */
                while (n < cfg->limits.batch) {
                        int got = recv_one(router, &next.slots[n], &next.items[n]);
                        if (got <= 0) {
                                if (got < 0 && got != -EINTR)
                                        log_warn("receive failed: %s", zmq_strerror(-got));
                                break;
                        }
                        /* Sent before the hub closed its connection: not taken. */
                        if (!hub_conns_message(conns, HUB_CONN_ROUTER, &next.slots[n].body,
                                               next.items[n].member_id, NULL)) {
                                zmq_msg_close(&next.slots[n].id);
                                zmq_msg_close(&next.slots[n].body);
                                continue;
                        }
                        n++;
                }
                next.n = n;
                if (n > 0) {
                        /* Failures are answered inside: every item has a reply. */
                        int committed = hub_ingest_batch(ig, next.items, n) == 0;

                        /* This commit made the held batch durable; if it failed,
                         * a sync must. */
                        release(router, ig, &held, committed, &c);
                        if (committed) {
                                struct pending t = held;

                                held = next;
                                next = t;
                        } else {
                                /* Refusals only, nothing stored: answer now. */
                                release(router, ig, &next, true, &c);
                        }
                } else if (held.n) {
                        release(router, ig, &held, false, &c);
                }
                if (polls[3].revents & ZMQ_POLLIN)
                        feed_forward(pair, feed);
                if (polls[2].revents & ZMQ_POLLIN)
                        hub_feed_subscriptions(feed, ag, kr);
                if (util_mono_ms() - last_tick >= 1000) {
                        hub_conns_tick(conns);
                        last_tick = util_mono_ms();
                }
                overlap_check(kr, ig, hub_dir);
                /* A suspension or revocation ends every subscription: all
                 * subscribers reconnect through ZAP, and the refused stay out. */
                if (member_changes(st) != changes) {
                        changes = member_changes(st);
                        r = hub_feed_reopen(feed);
                        if (r < 0)
                                break;
                        log_info("member states changed: alert subscribers must authenticate "
                                 "again");
                }
                if (util_mono_ms() - last_report >= HUB_REPORT_MS) {
                        struct hub_ingest_totals t;

                        hub_ingest_totals(ig, &t);
                        if (t.batches != reported_batches)
                                log_info("since start: %llu accepted, %llu duplicates, %llu "
                                         "rejected in %llu commits; %llu receipts for "
                                         "disconnected nodes", (unsigned long long)t.accepted,
                                         (unsigned long long)t.duplicates,
                                         (unsigned long long)t.rejected,
                                         (unsigned long long)t.batches,
                                         (unsigned long long)(c.unroutable + c.send_dropped));
                        reported_batches = t.batches;
                        last_report = util_mono_ms();
                }
        }
        release(router, ig, &held, false, &c);
        if (stopping) {
                log_info("stopped cleanly");
                r = 0;
        }
out:
        /* The last flush, then its alerts, before the feed closes. */
        aggregator_stop(&agg);
        if (pair) {
                feed_forward(pair, feed);
                zmq_close(pair);
        }
        hub_feed_free(feed);
        if (router) {
                hub_conns_unwatch(conns, HUB_CONN_ROUTER);
                zmq_close(router);
        }
        if (ctx) {
                zmq_ctx_shutdown(ctx);
                hub_zap_stop(zap);
                zmq_ctx_term(ctx);
        }
        hub_conns_free(conns);
        free(held.items);
        free(held.slots);
        free(next.items);
        free(next.slots);
        hub_ingest_free(ig);
        hub_aggregate_free(ag);
        hub_analytics_free(an);
        free(an_path);
        hub_store_free(st);
        hub_keyrot_free(kr);
        keys_free(hub);
        free(key_path);
        if (sfd >= 0)
                close(sfd);
        return r;
}
