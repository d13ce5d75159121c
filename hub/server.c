/* server.c: see server.h. */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

#include "alert.h"
#include "db.h"

#include "aggregate.h"
#include "aggthread.h"
#include "analytics.h"
#include "conns.h"
#include "feedpub.h"
#include "ingest.h"
#include "keyrot.h"
#include "keys.h"
#include "log.h"
#include "member.h"
#include "metrics.h"
#include "notify.h"
#include "presence.h"
#include "records.h"
#include "reload.h"
#include "stopsig.h"
#include "store.h"
#include "zap.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
/* Stable in libzmq since 4.3 but still behind the draft header guard. */
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

/* How often the daemon logs its totals when it has been busy. */
#define HUB_REPORT_MS 60000
/* How often, at most, members' presence is written (presence.h). */
#define HUB_PRESENCE_MS 60000

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
        /* libzmq's default of 100 makes 5,000 nodes connecting at once (a
         * restart) wait for the kernel's SYN retries: tens of seconds. */
        if (!r && cfg->limits.backlog)
                r = set_int(sock, ZMQ_BACKLOG, (int)cfg->limits.backlog);
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

struct meta_read {
        struct hub_store *st;
        const char *name;
        uint64_t value;
};

static int read_meta(MDB_txn *txn, void *userdata)
{
        struct meta_read *m = userdata;

        return hub_store_meta_get(txn, m->st, m->name, &m->value);
}

/* A meta counter of the private store; 0 when it cannot be read. */
static uint64_t meta_value(struct hub_store *st, const char *name)
{
        struct meta_read m = { st, name, 0 };

        return hub_store_read(st, read_meta, &m) == 0 ? m.value : 0;
}

static uint64_t member_changes(struct hub_store *st)
{
        return meta_value(st, HUB_META_MEMBER_CHANGES);
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

/* The daemon: what hub_server_new() sets up, in the order it does. */
struct hub_server {
        char *hub_dir;
        struct hub_config cfg;          /* as started: sockets and buffers */
        struct hub_config live;         /* in use; a reload changes some (reload.h) */
        int sfd;                        /* SIGTERM, SIGINT, SIGHUP */
        struct keys_secret *hub;
        struct hub_keyrot *kr;
        struct hub_store *st;
        struct analytics *an;
        struct hub_aggregate *ag;
        struct hub_ingest *ig;
        struct pending held, next;      /* replies waiting for durability; the batch in hand */
        struct counters c;
        struct hub_conns *conns;
        void *ctx, *router, *router_monitor, *pair;
        struct hub_zap *zap;
        struct hub_feed *feed;
        char alerts_ep[HUB_ENDPOINT_MAX];
        struct hub_aggthread *agg;
        struct hub_metrics *metrics;    /* [metrics] listen; NULL without */
        /* The loop's clocks and what it last saw. */
        uint64_t changes, last_tick, last_report, reported_batches, last_metrics;
        uint64_t last_presence, presence_hour;
        uint32_t presence_closed;
        bool stopping;
};

/* SIGHUP: hub.conf again; what may change while running is applied. */
static void presence_flush(struct hub_server *srv, bool starting, bool stopping);

static void reload(struct hub_server *srv)
{
        struct hub_config next;

        notify_reloading();
        if (hub_reload_config(srv->hub_dir, &srv->live, &next) == 0) {
                log_setup(NULL, (enum log_level)next.log_level);
                hub_ingest_set_rates(srv->ig, &next.limits);
                hub_aggregate_set_rules(srv->ag, &next.alerts);
                srv->live = next;
        }
        /* Serving either way: a refused hub.conf leaves the settings in use. */
        presence_flush(srv, false, false);
        notify_ready(NULL);
}

/* The hub's keys and the state of its last key rotation. Protected keys are
 * opened with one passphrase, asked for once (keys.h keys_passphrase_get():
 * $NMO_PASSPHRASE_FILE, the systemd credential nmo-passphrase, the terminal)
 * and wiped once they are open. */
static int open_keys(struct hub_server *srv)
{
        struct keys_unlock unlock = { 0 };
        char err[512], *key_path = hub_secret_key_path(srv->hub_dir);
        int r;

        if (!key_path)
                return -ENOMEM;
        r = keys_load_secret_unlock(&srv->hub, key_path, &unlock, err, sizeof(err));
        if (r < 0) {
                log_error("%s", err);
        } else if (srv->hub->pub.role != KEYS_ROLE_HUB) {
                log_error("%s is not a hub key", key_path);
                r = -EINVAL;
        } else {
                r = hub_keyrot_load(&srv->kr, srv->hub_dir, srv->hub, &unlock,
                                    util_now_ms(), err, sizeof(err));
                if (r < 0)
                        log_error("%s", err);
        }
        keys_unlock_clear(&unlock);
        free(key_path);
        return r;
}

/* The private and analytics stores, the aggregation and the ingest. */
static int open_stores(struct hub_server *srv)
{
        struct hub_alert_out *alerts = NULL;
        size_t nalerts = 0;
        char *an_path;
        int r;

        r = hub_store_open(&srv->st, srv->hub_dir, false);
        if (r < 0) {
                log_error("cannot open the private store in %s/private: %s", srv->hub_dir,
                          strerror(-r));
                return r;
        }
        /* From here on a commit flushes once and the next commit (or a sync)
         * makes it durable: the loop holds each batch's replies until then
         * (ingest.h). hub_ingest_new() makes what is there durable. */
        r = db_errno(mdb_env_set_flags(srv->st->env, MDB_NOMETASYNC, 1));
        if (r < 0) {
                log_error("cannot set up the private store: %s", strerror(-r));
                return r;
        }
        an_path = util_path(srv->hub_dir, "analytics");
        if (!an_path)
                return -ENOMEM;
        r = analytics_open(&srv->an, an_path, false);
        if (r < 0)
                log_error("cannot open the analytics store %s: %s", an_path, strerror(-r));
        free(an_path);
        if (r < 0)
                return r;
        r = hub_aggregate_new(&srv->ag, srv->hub_dir, srv->st, srv->an, srv->hub, &srv->cfg);
        if (r < 0) {
                log_error("cannot set up aggregation: %s", strerror(-r));
                return r;
        }
        r = hub_ingest_new(&srv->ig, srv->st, srv->hub, &srv->cfg.limits, srv->ag);
        if (r < 0) {
                log_error("cannot sync the private store: %s", strerror(-r));
                return r;
        }
        /* Close epochs that ended while the hub was down, and make the
         * analytics store equal a recount of the open epochs. */
        r = hub_aggregate_housekeeping(srv->ag, util_now_ms(), &alerts, &nalerts);
        hub_alert_out_free(alerts, nalerts);
        /* Taking signals matters more than current figures: serve anyway and
         * let the periodic housekeeping try again. */
        if (r < 0)
                log_error("cannot bring the analytics store up to date yet: %s", strerror(-r));
        hub_ingest_set_rotation(srv->ig, srv->kr->prev, srv->kr->ann, srv->kr->ann_len,
                                srv->kr->a.old_payload);
        return 0;
}

/* The listening ROUTER, bound, with its ZAP handler and connection watch. */
static int open_router(struct hub_server *srv)
{
        int r;

        r = hub_zap_start(&srv->zap, srv->ctx, srv->st, srv->conns);
        if (r < 0) {
                log_error("cannot start the ZAP handler: %s", strerror(-r));
                return r;
        }
        srv->router = zmq_socket(srv->ctx, ZMQ_ROUTER);
        if (!srv->router)
                return -errno;
        r = setup_router(srv->router, srv->hub, &srv->cfg);
        if (r < 0) {
                log_error("cannot configure the listening socket: %s", zmq_strerror(-r));
                return r;
        }
        r = hub_conns_watch(srv->conns, srv->ctx, srv->router, HUB_CONN_ROUTER,
                            &srv->router_monitor);
        if (r < 0) {
                log_error("cannot watch the listening socket: %s", zmq_strerror(-r));
                return r;
        }
        if (zmq_bind(srv->router, srv->cfg.listen) < 0) {
                r = -errno;
                log_error("cannot listen on %s: %s", srv->cfg.listen, zmq_strerror(-r));
                return r;
        }
        return 0;
}

/* The sockets, the alert feed and the aggregation thread. */
struct name_lookup {
        struct hub_store *st;
        uint32_t member;
        char *name;
        size_t len;
};

static int name_txn(MDB_txn *txn, void *userdata)
{
        struct name_lookup *nl = userdata;
        struct hub_member m;
        int r = hub_member_by_id(txn, nl->st, nl->member, &m);

        if (r == 0)
                snprintf(nl->name, nl->len, "%s", m.name);
        return r;
}

/* The connection log's names (conns.h). */
static int member_name(void *userdata, uint32_t member, char *name, size_t len)
{
        struct hub_server *srv = userdata;
        struct name_lookup nl = { srv->st, member, name, len };

        return hub_store_read(srv->st, name_txn, &nl);
}

static int open_sockets(struct hub_server *srv)
{
        int r;

        r = hub_config_alerts_endpoint(&srv->cfg, srv->alerts_ep);
        if (r < 0) {
                log_error("no alert feed endpoint can be derived from %s: set [alerts] listen",
                          srv->cfg.listen);
                return r;
        }
        r = hub_conns_new(&srv->conns, &srv->cfg.limits);
        if (r < 0)
                return r;
        hub_conns_set_namer(srv->conns, member_name, srv);
        srv->c.conns = srv->conns;
        srv->ctx = zmq_ctx_new();
        if (!srv->ctx)
                return -errno;
        r = open_router(srv);
        if (r < 0)
                return r;
        r = hub_feed_open(&srv->feed, srv->ctx, srv->hub, &srv->cfg, srv->alerts_ep,
                          srv->conns);
        if (r < 0)
                return r;
        srv->pair = zmq_socket(srv->ctx, ZMQ_PAIR);
        if (!srv->pair || zmq_bind(srv->pair, HUB_AGGTHREAD_ENDPOINT) < 0) {
                r = -errno;
                log_error("cannot set up the aggregation thread: %s", zmq_strerror(-r));
                return r;
        }
        r = hub_aggthread_start(&srv->agg, srv->ctx, srv->ag);
        if (r < 0)
                log_error("cannot start the aggregation thread");
        return r;
}

/* Twice the members ever enrolled (member ids are not reused), at least
 * floor, at most 1000000. */
static uint32_t members_times_two(struct hub_server *srv, uint64_t floor)
{
        uint64_t want = 2 * meta_value(srv->st, HUB_META_NEXT_MEMBER);

        if (want < floor)
                want = floor;
        return want > 1000000 ? 1000000 : (uint32_t)want;
}

/* [limits] backlog and unauthenticated 0: sized for every node reconnecting
 * at once after a restart. The listen queue takes them all, and the
 * handshakes that follow at once must not count as a flood, or the hub
 * closes the connections of the very members it let in. */
static void size_for_members(struct hub_server *srv)
{
        if (!srv->cfg.limits.backlog)
                srv->cfg.limits.backlog = members_times_two(srv, 4096);
        if (!srv->cfg.limits.unauthenticated)
                srv->cfg.limits.unauthenticated = members_times_two(srv, 512);
}

static int pending_alloc(struct pending *p, size_t batch)
{
        p->slots = calloc(batch, sizeof(*p->slots));
        p->items = calloc(batch, sizeof(*p->items));
        p->n = 0;
        return p->slots && p->items ? 0 : -ENOMEM;
}

int hub_server_new(struct hub_server **ret, const char *hub_dir, const struct hub_config *cfg)
{
        struct hub_server *srv = calloc(1, sizeof(*srv));
        sigset_t old;
        bool blocked = false;
        int r;

        if (!srv)
                return -ENOMEM;
        srv->sfd = -1;
        srv->cfg = *cfg;
        srv->live = *cfg;
        srv->hub_dir = strdup(hub_dir);
        /* Blocked before any thread starts, so only the signalfd sees them;
         * the daemon keeps them blocked for its life. */
        r = srv->hub_dir ? util_stop_signalfd(&old, &blocked, true) : -ENOMEM;
        if (r >= 0) {
                srv->sfd = r;
                r = 0;
        }
        if (r == 0)
                r = open_keys(srv);
        if (r == 0)
                r = open_stores(srv);
        if (r == 0)
                r = pending_alloc(&srv->held, cfg->limits.batch);
        if (r == 0)
                r = pending_alloc(&srv->next, cfg->limits.batch);
        if (r == 0) {
                size_for_members(srv);
                r = open_sockets(srv);
        }
        /* Last, so that its thread inherits the blocked signals. */
        if (r == 0 && srv->cfg.metrics_listen[0])
                r = hub_metrics_start(&srv->metrics, srv->cfg.metrics_listen);
        if (r < 0) {
                hub_server_free(srv);
                return r;
        }
        *ret = srv;
        return 0;
}

/* Reads the signal that woke the loop: SIGHUP reloads, the others stop. */
static void on_signal(struct hub_server *srv)
{
        struct signalfd_siginfo si;

        if (read(srv->sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
                return; /* nothing read: nothing to do */
        if (si.ssi_signo == SIGHUP) {
                reload(srv);
                return;
        }
        log_info("signal %u received: finishing what is in flight", si.ssi_signo);
        notify_stopping();
        srv->stopping = true;
}

/* Takes all that waits, up to the batch limit, into srv->next; also while
 * stopping, so what was received before the signal is answered. */
static size_t take_batch(struct hub_server *srv)
{
        struct pending *next = &srv->next;
        size_t n = 0;

        while (n < srv->cfg.limits.batch) {
                int got = recv_one(srv->router, &next->slots[n], &next->items[n]);

                if (got <= 0) {
                        if (got < 0 && got != -EINTR)
                                log_warn("receive failed: %s", zmq_strerror(-got));
                        break;
                }
                /* Sent before the hub closed its connection: not taken. */
                if (!hub_conns_message(srv->conns, HUB_CONN_ROUTER, &next->slots[n].body,
                                       next->items[n].member_id, NULL)) {
                        zmq_msg_close(&next->slots[n].id);
                        zmq_msg_close(&next->slots[n].body);
                        continue;
                }
                n++;
        }
        next->n = n;
        return n;
}

/* Commits the batch in hand; its replies wait until the next commit (or a
 * sync) makes it durable, while those of the batch before leave now. */
static void commit_batch(struct hub_server *srv)
{
        double t0 = hub_metrics_clock();
        /* Failures are answered inside: every item has a reply. */
        bool committed = hub_ingest_batch(srv->ig, srv->next.items, srv->next.n) == 0;

        if (committed)
                hub_metrics_batch(srv->metrics, srv->next.n,
                                  hub_metrics_clock() - t0);

        /* This commit made the held batch durable; if it failed, a sync must. */
        release(srv->router, srv->ig, &srv->held, committed, &srv->c);
        if (committed) {
                struct pending t = srv->held;

                srv->held = srv->next;
                srv->next = t;
        } else {
                /* Refusals only, nothing stored: answer now. */
                release(srv->router, srv->ig, &srv->next, true, &srv->c);
        }
}

/* Logs the totals when there was work since the last report. */
static void report(struct hub_server *srv)
{
        struct hub_ingest_totals t;

        hub_ingest_totals(srv->ig, &t);
        if (t.batches != srv->reported_batches)
                log_info("since start: %llu accepted, %llu duplicates, %llu rejected in %llu "
                         "commits; %llu receipts for disconnected nodes",
                         (unsigned long long)t.accepted, (unsigned long long)t.duplicates,
                         (unsigned long long)t.rejected, (unsigned long long)t.batches,
                         (unsigned long long)(srv->c.unroutable + srv->c.send_dropped));
        srv->reported_batches = t.batches;
        srv->last_report = util_mono_ms();
}

/* Writes members' presence when it changed: every connection or
 * disconnection since the last write, and the hour of those still connected
 * once it turns. starting: the hub just started and nobody is connected;
 * stopping: every connection ends now. A failure is logged and the next
 * write tries again with what it has then. */
static void presence_flush(struct hub_server *srv, bool starting, bool stopping)
{
        uint32_t *up = NULL, *seen = NULL, closed = 0;
        size_t nup = 0, nseen = 0;
        uint64_t now = util_now_ms(), hour = now - now % HUB_PRESENCE_HOUR_MS;
        int r;

        srv->last_presence = util_mono_ms();
        if (!starting && hub_conns_presence(srv->conns, &up, &nup, &seen, &nseen) < 0)
                return;
        /* Every connection ends: those marked connected are marked seen now
         * and disconnected (presence.h). */
        if (stopping)
                nup = 0;
        /* Unread: as at the last write (hours then wait for the next). */
        if (hub_records_stripped_through(srv->st, &closed) < 0)
                closed = srv->presence_closed;
        if (starting || stopping || nseen || (nup && hour != srv->presence_hour) ||
            closed != srv->presence_closed) {
                r = hub_presence_write(srv->hub_dir, up, nup, seen, nseen, now, starting,
                                       closed);
                if (r < 0) {
                        log_warn("cannot record members' presence: %s", strerror(-r));
                } else {
                        srv->presence_hour = hour;
                        srv->presence_closed = closed;
                }
        }
        free(up);
        free(seen);
}

/* What the loop does on every turn besides the batch. */
static int every_turn(struct hub_server *srv)
{
        int r;

        if (util_mono_ms() - srv->last_tick >= 1000) {
                hub_conns_tick(srv->conns);
                srv->last_tick = util_mono_ms();
        }
        overlap_check(srv->kr, srv->ig, srv->hub_dir);
        /* A suspension or revocation ends every subscription: all subscribers
         * reconnect through ZAP, and the refused stay out. */
        if (member_changes(srv->st) != srv->changes) {
                srv->changes = member_changes(srv->st);
                r = hub_feed_reopen(srv->feed);
                if (r < 0)
                        return r;
                log_info("member states changed: alert subscribers must authenticate again");
        }
        if (util_mono_ms() - srv->last_report >= HUB_REPORT_MS)
                report(srv);
        if (util_mono_ms() - srv->last_presence >= HUB_PRESENCE_MS)
                presence_flush(srv, false, false);
        if (srv->metrics && util_mono_ms() - srv->last_metrics >= 1000) {
                hub_metrics_collect(srv->metrics, srv->st, srv->an, srv->conns);
                srv->last_metrics = util_mono_ms();
        }
        return 0;
}

int hub_server_run(struct hub_server *srv)
{
        int r = 0;

        srv->changes = member_changes(srv->st);
        srv->last_tick = srv->last_report = util_mono_ms();
        log_info("serving on %s, alert feed on %s (hub directory %s)", srv->cfg.listen,
                 srv->alerts_ep, srv->hub_dir);
        {
                char status[2 * HUB_ENDPOINT_MAX + 64];

                snprintf(status, sizeof(status), "serving on %s, alert feed on %s",
                         srv->cfg.listen, srv->alerts_ep);
                notify_ready(status);
        }
        presence_flush(srv, true, false);
        while (!srv->stopping) {
                zmq_pollitem_t polls[6] = {
                        { srv->router, 0, ZMQ_POLLIN, 0 },
                        { NULL, srv->sfd, ZMQ_POLLIN, 0 },
                        { hub_feed_socket(srv->feed), 0, ZMQ_POLLIN, 0 },
                        { srv->pair, 0, ZMQ_POLLIN, 0 },
                        { srv->router_monitor, 0, ZMQ_POLLIN, 0 },
                        { hub_feed_monitor(srv->feed), 0, ZMQ_POLLIN, 0 },
                };

                /* Replies held for durability: look, do not wait. */
                if (zmq_poll(polls, 6, srv->held.n ? 0 : 1000) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        log_error("poll failed: %s", zmq_strerror(-r));
                        break;
                }
                if (polls[1].revents & ZMQ_POLLIN)
                        on_signal(srv);
                /* Connections first, so that each message finds its own. */
                hub_conns_events(srv->conns);
                if (take_batch(srv) > 0)
                        commit_batch(srv);
                else if (srv->held.n)
                        release(srv->router, srv->ig, &srv->held, false, &srv->c);
                if (polls[3].revents & ZMQ_POLLIN)
                        feed_forward(srv->pair, srv->feed);
                if (polls[2].revents & ZMQ_POLLIN)
                        hub_feed_subscriptions(srv->feed, srv->ag, srv->kr);
                r = every_turn(srv);
                if (r < 0)
                        break;
                notify_watchdog(util_mono_ms());
        }
        release(srv->router, srv->ig, &srv->held, false, &srv->c);
        presence_flush(srv, false, true);
        if (srv->stopping) {
                log_info("stopped cleanly");
                r = 0;
        }
        return r;
}

void hub_server_free(struct hub_server *srv)
{
        if (!srv)
                return;
        /* Its thread reads nothing of the rest, but stops serving first. */
        hub_metrics_stop(srv->metrics);
        /* The last flush, then its alerts, before the feed closes. */
        hub_aggthread_stop(srv->agg);
        if (srv->pair) {
                feed_forward(srv->pair, srv->feed);
                zmq_close(srv->pair);
        }
        hub_feed_free(srv->feed);
        if (srv->router) {
                hub_conns_unwatch(srv->conns, HUB_CONN_ROUTER);
                zmq_close(srv->router);
        }
        if (srv->ctx) {
                zmq_ctx_shutdown(srv->ctx);
                hub_zap_stop(srv->zap);
                zmq_ctx_term(srv->ctx);
        }
        hub_conns_free(srv->conns);
        free(srv->held.items);
        free(srv->held.slots);
        free(srv->next.items);
        free(srv->next.slots);
        hub_ingest_free(srv->ig);
        hub_aggregate_free(srv->ag);
        analytics_free(srv->an);
        hub_store_free(srv->st);
        hub_keyrot_free(srv->kr);
        keys_free(srv->hub);
        if (srv->sfd >= 0)
                close(srv->sfd);
        free(srv->hub_dir);
        free(srv);
}

int hub_serve(const char *hub_dir, const struct hub_config *cfg)
{
        struct hub_server *srv = NULL;
        int r = hub_server_new(&srv, hub_dir, cfg);

        if (r == 0)
                r = hub_server_run(srv);
        hub_server_free(srv);
        return r;
}
