/* feedpub.c: see feedpub.h.
 *
 * How XPUB_MANUAL is used (libzmq 4.3, src/xpub.cpp): each subscription
 * message a subscriber sends is passed up, with the connection's metadata
 * (User-Id, __fd), and receiving it makes that subscriber's pipe the "last
 * pipe"; ZMQ_SUBSCRIBE and ZMQ_UNSUBSCRIBE on the socket then apply to that
 * pipe alone, and nothing a subscriber sends takes effect otherwise. So a
 * catch-up is: receive the subscription, subscribe its pipe to the unique
 * topic, publish under it (only that pipe matches), unsubscribe. The last
 * pipe stays set until the next receive, and a pipe that ends meanwhile is
 * only compared by address when unsubscribed, never dereferenced. */
#include "feedpub.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert.h"
#include "hubkey.h"
#include "ingest.h"
#include "log.h"
#include "zap.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

/* Subscribers only send subscriptions, but libzmq applies the limit to the
 * CURVE handshake too, whose messages are a few hundred bytes. */
#define FEEDPUB_MAX_MESSAGE 1024

struct catchup_bucket {
        uint32_t member;
        double tokens;
        uint64_t last_ms;
};

struct hub_feed {
        void *ctx;
        void *sock;
        void *monitor;
        const struct keys_secret *hub;
        const struct hub_config *cfg;
        struct hub_conns *conns;
        char endpoint[HUB_ENDPOINT_MAX];
        struct catchup_bucket *buckets;
        size_t nbuckets, buckets_cap;
        uint64_t refused, limited, logged_ms;
};

static int set_int(void *sock, int opt, int value)
{
        return zmq_setsockopt(sock, opt, &value, sizeof(value)) < 0 ? -errno : 0;
}

static int bind_feed(struct hub_feed *f)
{
        int64_t max = FEEDPUB_MAX_MESSAGE;
        int r;

        f->sock = zmq_socket(f->ctx, ZMQ_XPUB);
        if (!f->sock)
                return -errno;
        r = set_int(f->sock, ZMQ_CURVE_SERVER, 1);
        if (!r && zmq_setsockopt(f->sock, ZMQ_CURVE_SECRETKEY, f->hub->transport_sk,
                                 KEYS_KEY_BYTES) < 0)
                r = -errno;
        if (!r && zmq_setsockopt(f->sock, ZMQ_ZAP_DOMAIN, HUB_ZAP_DOMAIN_FEED,
                                 strlen(HUB_ZAP_DOMAIN_FEED)) < 0)
                r = -errno;
        if (!r)
                r = set_int(f->sock, ZMQ_ZAP_ENFORCE_DOMAIN, 1);
        if (!r && zmq_setsockopt(f->sock, ZMQ_MAXMSGSIZE, &max, sizeof(max)) < 0)
                r = -errno;
        /* Every subscription comes up to the hub and none takes effect by itself. */
        if (!r)
                r = set_int(f->sock, ZMQ_XPUB_MANUAL, 1);
        if (!r)
                r = set_int(f->sock, ZMQ_SNDHWM, 1000);
        if (!r)
                r = set_int(f->sock, ZMQ_LINGER, 0);
        if (!r)
                r = set_int(f->sock, ZMQ_HANDSHAKE_IVL, (int)f->cfg->limits.handshake_ms);
        /* Every subscriber reconnects at once after a restart (server.c sizes it). */
        if (!r && f->cfg->limits.backlog)
                r = set_int(f->sock, ZMQ_BACKLOG, (int)f->cfg->limits.backlog);
        /* Before the bind, so that no connection goes uncounted. */
        if (!r)
                r = hub_conns_watch(f->conns, f->ctx, f->sock, HUB_CONN_FEED, &f->monitor);
        /* A socket just closed may hold the port for a moment. */
        for (int tries = 0; !r && tries < 200; tries++) {
                if (zmq_bind(f->sock, f->endpoint) == 0)
                        return 0;
                r = errno == EADDRINUSE ? 0 : -errno;
                if (!r)
                        usleep(10000);
        }
        if (!r)
                r = -EADDRINUSE;
        log_error("cannot open the alert feed on %s: %s", f->endpoint, zmq_strerror(-r));
        hub_conns_unwatch(f->conns, HUB_CONN_FEED);
        f->monitor = NULL;
        zmq_close(f->sock);
        f->sock = NULL;
        return r;
}

static void close_feed(struct hub_feed *f)
{
        if (!f->sock)
                return;
        hub_conns_unwatch(f->conns, HUB_CONN_FEED);
        f->monitor = NULL;
        zmq_close(f->sock);
        f->sock = NULL;
}

int hub_feed_open(struct hub_feed **ret, void *ctx, const struct keys_secret *hub,
                  const struct hub_config *cfg, const char *endpoint, struct hub_conns *conns)
{
        struct hub_feed *f = calloc(1, sizeof(*f));
        int r;

        if (!f)
                return -ENOMEM;
        f->ctx = ctx;
        f->hub = hub;
        f->cfg = cfg;
        f->conns = conns;
        snprintf(f->endpoint, sizeof(f->endpoint), "%s", endpoint);
        r = bind_feed(f);
        if (r < 0) {
                free(f);
                return r;
        }
        *ret = f;
        return 0;
}

int hub_feed_reopen(struct hub_feed *f)
{
        close_feed(f);
        return bind_feed(f);
}

void *hub_feed_socket(const struct hub_feed *f)
{
        return f ? f->sock : NULL;
}

void *hub_feed_monitor(const struct hub_feed *f)
{
        return f ? f->monitor : NULL;
}

void hub_feed_free(struct hub_feed *f)
{
        if (!f)
                return;
        close_feed(f);
        free(f->buckets);
        free(f);
}

/* Sends one message of two frames: topic (tlen bytes), then data. */
static int send_two(void *sock, const void *topic, size_t tlen, const void *data, size_t len)
{
        if (zmq_send(sock, topic, tlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
            zmq_send(sock, data, len, ZMQ_DONTWAIT) < 0)
                return -errno;
        return 0;
}

void hub_feed_publish(struct hub_feed *f, const uint8_t *signed_alert, size_t len)
{
        int r;

        if (!f || !f->sock)
                return;
        r = send_two(f->sock, ALERT_TOPIC, strlen(ALERT_TOPIC), signed_alert, len);
        if (r < 0)
                log_warn("alert not published: %s", zmq_strerror(-r));
}

/* Takes a token of member's catch-up bucket; false when it is empty. */
static bool catchup_allowed(struct hub_feed *f, uint32_t member)
{
        uint64_t now = util_mono_ms();
        struct catchup_bucket *b = NULL;

        for (size_t i = 0; i < f->nbuckets && !b; i++)
                if (f->buckets[i].member == member)
                        b = &f->buckets[i];
        if (!b) {
                if (f->nbuckets == f->buckets_cap) {
                        size_t n = f->buckets_cap ? f->buckets_cap * 2 : 64;
                        struct catchup_bucket *p = realloc(f->buckets, n * sizeof(*p));

                        if (!p)
                                return false;
                        f->buckets = p;
                        f->buckets_cap = n;
                }
                b = &f->buckets[f->nbuckets++];
                *b = (struct catchup_bucket){ member, FEEDPUB_CATCHUP_BURST, now };
        }
        b->tokens += (double)(now - b->last_ms) / FEEDPUB_CATCHUP_EVERY_MS;
        if (b->tokens > FEEDPUB_CATCHUP_BURST)
                b->tokens = FEEDPUB_CATCHUP_BURST;
        b->last_ms = now;
        if (b->tokens < 1.0)
                return false;
        b->tokens -= 1.0;
        return true;
}

/* Publishes the catch-up under topic (ALERT_CATCHUP_LEN bytes), to the
 * subscriber whose subscription was received last. */
static void catch_up(struct hub_feed *f, const uint8_t *topic, struct hub_aggregate *ag,
                     const struct hub_keyrot *kr)
{
        uint8_t t[ALERT_CATCHUP_LEN + 16];
        struct hub_alert_out *alerts = NULL;
        size_t n = 0;
        int r = 0;

        if (zmq_setsockopt(f->sock, ZMQ_SUBSCRIBE, topic, ALERT_CATCHUP_LEN) < 0) {
                log_warn("cannot start a catch-up: %s", zmq_strerror(errno));
                return;
        }
        memcpy(t, topic, ALERT_CATCHUP_LEN);
        if (kr->ann) {
                memcpy(t + ALERT_CATCHUP_LEN, HUBKEY_TOPIC, strlen(HUBKEY_TOPIC));
                r = send_two(f->sock, t, ALERT_CATCHUP_LEN + strlen(HUBKEY_TOPIC), kr->ann,
                             kr->ann_len);
        }
        if (r == 0 && hub_aggregate_recent_alerts(ag, util_now_ms(), FEEDPUB_CATCHUP_DAYS,
                                                  &alerts, &n) == 0) {
                memcpy(t + ALERT_CATCHUP_LEN, ALERT_TOPIC, strlen(ALERT_TOPIC));
                for (size_t i = 0; i < n && r == 0; i++)
                        r = send_two(f->sock, t, ALERT_CATCHUP_LEN + strlen(ALERT_TOPIC),
                                     alerts[i].signed_alert, alerts[i].len);
                hub_alert_out_free(alerts, n);
        }
        if (r < 0)
                log_warn("catch-up cut short: %s", zmq_strerror(-r));
        /* Only this subscriber ever had the topic; it needs it no longer. */
        (void)zmq_setsockopt(f->sock, ZMQ_UNSUBSCRIBE, topic, ALERT_CATCHUP_LEN);
}

/* One subscription message m (1 byte subscribe/cancel, then the topic). */
static void on_subscription(struct hub_feed *f, zmq_msg_t *m, struct hub_aggregate *ag,
                            const struct hub_keyrot *kr)
{
        const uint8_t *d = zmq_msg_data(m);
        size_t n = zmq_msg_size(m), alen = strlen(ALERT_TOPIC);
        const char *user = zmq_msg_gets(m, "User-Id");
        struct hub_item who;
        uint32_t count = 0;

        memset(&who, 0, sizeof(who));
        if (!user || !hub_item_set_user(&who, user))
                who.member_id = 0;
        if (!hub_conns_message(f->conns, HUB_CONN_FEED, m, who.member_id, &count))
                return;
        if (count > FEEDPUB_MAX_SUBSCRIPTIONS) {
                hub_conns_drop(f->conns, HUB_CONN_FEED, m, "more subscriptions than a node "
                               "sends");
                return;
        }
        if (n < 1 || (d[0] != 0 && d[0] != 1))
                return;
        if (n - 1 == alen && memcmp(d + 1, ALERT_TOPIC, alen) == 0) {
                if (zmq_setsockopt(f->sock, d[0] ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, ALERT_TOPIC,
                                   alen) < 0)
                        log_warn("subscription not applied: %s", zmq_strerror(errno));
                return;
        }
        if (d[0] == 1 && n - 1 == ALERT_CATCHUP_LEN && d[1] == (uint8_t)ALERT_CATCHUP_MARK &&
            who.member_id) {
                if (catchup_allowed(f, who.member_id))
                        catch_up(f, d + 1, ag, kr);
                else
                        f->limited++;
                return;
        }
        /* Withdrawals of catch-up topics are expected (the hub withdrew them
         * already); anything else takes no effect. */
        if (d[0] == 1)
                f->refused++;
}

void hub_feed_subscriptions(struct hub_feed *f, struct hub_aggregate *ag,
                            const struct hub_keyrot *kr)
{
        zmq_msg_t m;

        if (!f || !f->sock)
                return;
        /* Each one is acted on before the next receive: that receive moves
         * libzmq's last pipe to another subscriber. */
        for (;;) {
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, f->sock, ZMQ_DONTWAIT) < 0) {
                        zmq_msg_close(&m);
                        break;
                }
                on_subscription(f, &m, ag, kr);
                zmq_msg_close(&m);
        }
        if ((f->refused || f->limited) && util_mono_ms() - f->logged_ms >= 60000) {
                log_info("alert feed: %llu subscriptions to no valid topic ignored, %llu "
                         "catch-ups over a member's rate ignored",
                         (unsigned long long)f->refused, (unsigned long long)f->limited);
                f->refused = f->limited = 0;
                f->logged_ms = util_mono_ms();
        }
}
