/* feed.c: the alert feed subscriber. See feed.h.
 *
 * One thread, one loop: zmq_poll() over the SUB socket, its monitor and a
 * signalfd. Each round reads up to cfg.alert_batch messages, checks them, and
 * stores the good ones in one outbox transaction (a catch-up of alerts already
 * held writes nothing and costs no fsync). */
#include "feed.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <sodium.h>
#include <zmq.h>

#include "log.h"
#include "stopsig.h"
#include "client.h"
#include "hubkey.h"
#include "hubrot.h"
#include "node.h"
#include "outbox.h"

#define MONITOR_ENDPOINT "inproc://nmo-node-feed-monitor"
#define MONITOR_EVENTS                                                                   \
        (ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |  \
         ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |         \
         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
/* A SignedAlert and the frame's slack; the bound also covers the ZMTP
 * handshake's READY command, which is far smaller. */
#define FEED_MAX_FRAME (ALERT_MAX + 64)

struct feed {
        struct node *node;
        const struct node_config *cfg;
        struct outbox *ob;
        const struct feed_options *opts;
        struct feed_result *res;
        void *ctx;
        void *sub;
        void *monitor;
        int sigfd;
        bool connected;
        uint64_t quiet_at;              /* monotonic; 0: not yet */
        /* This subscriber's catch-up topic (PROTOCOL.md 14.5), drawn at random
         * so that nobody else can ask for it or receive it. */
        uint8_t catchup[ALERT_CATCHUP_LEN];
        /* One round's good alerts (cfg.alert_batch entries each): */
        zmq_msg_t *frames;
        Nmo__AlertBody **bodies;
        struct outbox_alert *batch;
        bool *stored;
        char last_problem[400];         /* the connection problem logged last */
};

/* Printable UTF-8 on one line: what a terminal and a JSON reader can take. */
static bool text_ok(const char *s)
{
        size_t len;

        if (!s)
                return true;
        len = strlen(s);
        return len <= ALERT_MAX && util_text_ok(s, len) && !memchr(s, '\n', len) &&
               !memchr(s, '\t', len);
}

int feed_check_alert(const uint8_t *buf, size_t len, const uint8_t sign_pk[KEYS_KEY_BYTES],
                     Nmo__AlertBody **body)
{
        Nmo__AlertBody *b = NULL;
        int r;

        *body = NULL;
        r = alert_verify(buf, len, sign_pk, &b);
        if (r < 0)
                return r;
        if (!outbox_alert_id_ok(b->id) || !b->has_revision || b->revision < 1 ||
            !text_ok(b->rule) || !text_ok(b->material) || !text_ok(b->event) ||
            !text_ok(b->level) || !text_ok(b->period) || !text_ok(b->window_start) ||
            !text_ok(b->window_end) || !text_ok(b->issued) || !text_ok(b->summary) ||
            (b->has_baseline && (!isfinite(b->baseline) || b->baseline < 0))) {
                nmo__alert_body__free_unpacked(b, NULL);
                return -EBADMSG;
        }
        *body = b;
        return 0;
}

/* Logs a connection problem once per change (follow mode only: a one-shot
 * run reports through feed_result). */
static void note_problem(struct feed *f, const char *text)
{
        if (!f->opts->follow || strcmp(text, f->last_problem) == 0)
                return;
        log_error("%s", text);
        snprintf(f->last_problem, sizeof(f->last_problem), "%s", text);
}

static int setup_sub(struct feed *f)
{
        const struct node_config *cfg = f->cfg;
        const struct keys_secret *me = f->node->member;
        int64_t maxmsg = FEED_MAX_FRAME;
        int r;

        f->sub = zmq_socket(f->ctx, ZMQ_SUB);
        if (!f->sub)
                return client_zmq_err();
        if ((r = client_set_int(f->sub, ZMQ_LINGER, 0)) < 0 ||
            (r = client_set_int(f->sub, ZMQ_IPV6, 1)) < 0 ||
            (r = client_set_int(f->sub, ZMQ_RCVHWM, (int)cfg->alert_hwm)) < 0 ||
            (r = client_set_int(f->sub, ZMQ_HEARTBEAT_IVL, (int)cfg->heartbeat_ivl_ms)) < 0 ||
            (r = client_set_int(f->sub, ZMQ_HEARTBEAT_TIMEOUT, (int)cfg->heartbeat_timeout_ms)) < 0 ||
            (r = client_set_int(f->sub, ZMQ_RECONNECT_IVL, (int)cfg->reconnect_ivl_ms)) < 0 ||
            (r = client_set_int(f->sub, ZMQ_RECONNECT_IVL_MAX, (int)cfg->reconnect_ivl_max_ms)) < 0)
                return r;
        if (zmq_setsockopt(f->sub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) < 0)
                return client_zmq_err();
        /* Live alerts, and the catch-up for this subscriber alone (its hub
         * key announcement first, then the recent alerts). libzmq sends both
         * again on every reconnection. */
        f->catchup[0] = (uint8_t)ALERT_CATCHUP_MARK;
        randombytes_buf(f->catchup + 1, ALERT_CATCHUP_NONCE);
        if (zmq_setsockopt(f->sub, ZMQ_SUBSCRIBE, ALERT_TOPIC, strlen(ALERT_TOPIC)) < 0 ||
            zmq_setsockopt(f->sub, ZMQ_SUBSCRIBE, f->catchup, sizeof(f->catchup)) < 0)
                return client_zmq_err();
        return client_curve_connect(f->ctx, f->sub, f->node, me, cfg->alerts_endpoint,
                                    MONITOR_ENDPOINT, MONITOR_EVENTS, &f->monitor);
}

/* Receives one whole message: its first frame into topic, its second (if
 * any) into payload, further frames dropped; *parts counts them all. Returns
 * 1 with both messages initialised (the caller closes them), 0 when nothing
 * is waiting, or a negative errno. */
static int recv_message(void *s, zmq_msg_t *topic, zmq_msg_t *payload, size_t *parts)
{
        bool more;

        *parts = 0;
        if (zmq_msg_init(topic) < 0)
                return client_zmq_err();
        if (zmq_msg_recv(topic, s, ZMQ_DONTWAIT) < 0) {
                int e = zmq_errno();

                (void)zmq_msg_close(topic);
                return e == EAGAIN || e == EINTR ? 0 : -e;
        }
        (void)zmq_msg_init(payload); /* cannot fail: no allocation */
        *parts = 1;
        more = zmq_msg_more(topic);
        /* Parts of a message arrive together, so they are all here now. */
        while (more) {
                zmq_msg_t rest, *into = *parts == 1 ? payload : &rest;

                if (into == &rest)
                        (void)zmq_msg_init(&rest);
                if (zmq_msg_recv(into, s, ZMQ_DONTWAIT) < 0) {
                        if (into == &rest)
                                (void)zmq_msg_close(&rest);
                        break;
                }
                (*parts)++;
                more = zmq_msg_more(into);
                if (into == &rest)
                        (void)zmq_msg_close(&rest);
        }
        return 1;
}

/* Is topic exactly this subscriber's catch-up topic followed by kind? */
static bool is_catchup(const struct feed *f, zmq_msg_t *topic, const char *kind)
{
        size_t klen = strlen(kind);
        const uint8_t *t = zmq_msg_data(topic);

        return zmq_msg_size(topic) == sizeof(f->catchup) + klen &&
               memcmp(t, f->catchup, sizeof(f->catchup)) == 0 &&
               memcmp(t + sizeof(f->catchup), kind, klen) == 0;
}

/* Checks one message; true with *body set for a good alert. */
static bool check_message(struct feed *f, zmq_msg_t *topic, zmq_msg_t *payload, size_t parts,
                          Nmo__AlertBody **body)
{
        size_t tlen = strlen(ALERT_TOPIC);
        int r;

        *body = NULL;
        if (parts != 2) {
                log_warn("ignored a message of %zu frame%s on the alert feed (an alert has 2: "
                         "topic and alert)", parts, parts == 1 ? "" : "s");
                return false;
        }
        /* SUB filters by prefix: "alerts" would pass it. */
        if ((zmq_msg_size(topic) != tlen || memcmp(zmq_msg_data(topic), ALERT_TOPIC, tlen) != 0) &&
            !is_catchup(f, topic, ALERT_TOPIC)) {
                log_warn("ignored a message with an unexpected topic on the alert feed");
                return false;
        }
        r = feed_check_alert(zmq_msg_data(payload), zmq_msg_size(payload), f->node->hub.sign,
                             body);
        /* Issued before the hub's key rotation, during its overlap. */
        if (r == -EKEYREJECTED && f->node->has_hub_prev)
                r = feed_check_alert(zmq_msg_data(payload), zmq_msg_size(payload),
                                     f->node->hub_prev.sign, body);
        if (r == -EKEYREJECTED)
                log_warn("ignored an alert with a bad signature (not signed by the hub key "
                         "in %s)", f->node->hub_pub_path);
        else if (r == -ENOMEM)
                log_warn("ignored an alert: out of memory while checking it");
        else if (r < 0)
                log_warn("ignored a malformed alert (%zu bytes)", zmq_msg_size(payload));
        return r == 0;
}

/* Is this message the hub's key announcement (this subscriber's catch-up
 * topic then HUBKEY_TOPIC, exactly)? Then it is handled here: verified
 * against the hub signing key this node holds and adopted, or ignored with a
 * warning. */
static bool take_announcement(struct feed *f, zmq_msg_t *topic, zmq_msg_t *payload, size_t parts,
                              int *fatal)
{
        char err[256];
        int r;

        *fatal = 0;
        if (!is_catchup(f, topic, HUBKEY_TOPIC))
                return false;
        if (parts != 2) {
                log_warn("ignored a hub key announcement of %zu frames on the alert feed", parts);
                return true;
        }
        r = hubrot_handle(f->node, f->ob, zmq_msg_data(payload), zmq_msg_size(payload), false,
                          NULL, err, sizeof(err));
        if (r == -EKEYREJECTED || r == -EBADMSG || r == -EPROTO)
                log_warn("hub key announcement on the alert feed ignored: %s", err);
        else if (r < 0) {
                log_error("cannot adopt the hub's new keys: %s", err);
                *fatal = r;
        }
        return true;
}

/* Reads the messages waiting now (up to cfg.alert_batch), stores the good
 * alerts in one transaction and hands the new ones to on_alert. */
static int handle_messages(struct feed *f)
{
        size_t n = 0;
        int r = 0;

        while (n < f->cfg->alert_batch) {
                zmq_msg_t topic;
                size_t parts;

                r = recv_message(f->sub, &topic, &f->frames[n], &parts);
                if (r <= 0)
                        break;
                f->quiet_at = util_mono_ms() + f->cfg->alert_quiet_ms;
                if (take_announcement(f, &topic, &f->frames[n], parts, &r)) {
                        (void)zmq_msg_close(&topic);
                        (void)zmq_msg_close(&f->frames[n]);
                        if (r < 0)
                                break;
                        continue;
                }
                if (!check_message(f, &topic, &f->frames[n], parts, &f->bodies[n])) {
                        f->res->ignored++;
                        (void)zmq_msg_close(&topic);
                        (void)zmq_msg_close(&f->frames[n]);
                        continue;
                }
                (void)zmq_msg_close(&topic);
                f->batch[n] = (struct outbox_alert){ f->bodies[n]->id, f->bodies[n]->revision,
                                                     zmq_msg_data(&f->frames[n]),
                                                     zmq_msg_size(&f->frames[n]) };
                n++;
        }
        if (r < 0) {
                log_error("receiving from the alert feed failed: %s", zmq_strerror(-r));
                goto out;
        }
        if (n == 0)
                goto out;
        r = outbox_put_alerts(f->ob, f->batch, n, f->stored);
        if (r < 0) {
                log_error("%s: cannot store alerts: %s", f->node->outbox_path, strerror(-r));
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                f->res->received++;
                if (!f->stored[i]) {
                        log_debug("alert %s revision %u: already held", f->bodies[i]->id,
                                  f->bodies[i]->revision);
                        continue;
                }
                f->res->stored++;
                log_debug("alert %s revision %u stored", f->bodies[i]->id,
                          f->bodies[i]->revision);
                if (f->opts->on_alert) {
                        r = f->opts->on_alert(f->bodies[i], f->opts->userdata);
                        if (r < 0)
                                goto out;
                }
        }
out:
        for (size_t i = 0; i < n; i++) {
                nmo__alert_body__free_unpacked(f->bodies[i], NULL);
                f->bodies[i] = NULL;
                (void)zmq_msg_close(&f->frames[i]);
        }
        return r < 0 ? r : 0;
}

static void handle_monitor(struct feed *f)
{
        const char *ep = f->cfg->alerts_endpoint;

        for (;;) {
                zmq_msg_t msg, extra;
                size_t parts;
                uint16_t event;
                uint32_t value;
                char text[400];

                if (recv_message(f->monitor, &msg, &extra, &parts) <= 0)
                        return;
                (void)zmq_msg_close(&extra);
                if (zmq_msg_size(&msg) < 6) {
                        (void)zmq_msg_close(&msg);
                        continue;
                }
                memcpy(&event, zmq_msg_data(&msg), sizeof(event));
                memcpy(&value, (uint8_t *)zmq_msg_data(&msg) + 2, sizeof(value));
                (void)zmq_msg_close(&msg);

                switch (event) {
                case ZMQ_EVENT_CONNECTED:
                        f->res->reached = true;
                        log_debug("TCP connection to %s up; handshake next", ep);
                        break;
                case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
                        if (!f->connected) {
                                if (f->opts->follow)
                                        log_info("connected to the alert feed at %s", ep);
                                else
                                        log_debug("connected to the alert feed at %s", ep);
                        }
                        f->connected = true;
                        f->res->connected = true;
                        f->last_problem[0] = '\0';
                        /* The catch-up follows the subscription at once; when
                         * the hub has no alerts, nothing comes at all. */
                        if (!f->quiet_at)
                                f->quiet_at = util_mono_ms() + f->cfg->alert_quiet_ms;
                        break;
                case ZMQ_EVENT_DISCONNECTED:
                        /* The hub rebinds its feed when it suspends or revokes
                         * a member: every subscriber reconnects. */
                        if (f->connected && f->opts->follow)
                                log_info("the alert feed closed the connection; reconnecting");
                        f->connected = false;
                        break;
                case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
                        f->connected = false;
                        f->res->refused = true;
                        snprintf(text, sizeof(text), "the hub refused this node's key on the "
                                 "alert feed: not enrolled, suspended or revoked; ask the hub "
                                 "operator (ZAP status %u)", value);
                        note_problem(f, text);
                        break;
                case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
                        f->connected = false;
                        f->res->protocol_error = true;
                        snprintf(text, sizeof(text), "handshake with the alert feed at %s "
                                 "failed (protocol error 0x%x): check [hub] alerts in node.conf "
                                 "and keys/hub.pub", ep, value);
                        note_problem(f, text);
                        break;
                case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
                        /* The hub drops a HELLO it cannot open: sealed to
                         * another key than its own. */
                        f->connected = false;
                        f->res->key_mismatch = true;
                        log_debug("handshake with the alert feed failed (errno %u); retrying",
                                  value);
                        break;
                default:
                        break;
                }
        }
}

static void feed_close(struct feed *f)
{
        if (f->sub)
                (void)zmq_socket_monitor(f->sub, NULL, 0);
        if (f->monitor)
                (void)zmq_close(f->monitor);
        if (f->sub)
                (void)zmq_close(f->sub);
        if (f->ctx)
                (void)zmq_ctx_term(f->ctx);
        if (f->sigfd >= 0)
                close(f->sigfd);
        free(f->frames);
        free(f->bodies);
        free(f->batch);
        free(f->stored);
}

/* How long to poll: until the next deadline of a one-shot run, or forever. */
static long poll_timeout(const struct feed *f, uint64_t deadline, uint64_t now)
{
        uint64_t end = deadline;

        if (f->opts->follow)
                return -1;
        if (f->quiet_at && f->quiet_at < end)
                end = f->quiet_at;
        return end > now ? (long)(end - now) : 0;
}

int feed_run(struct node *n, struct outbox *ob, const struct feed_options *opts,
             struct feed_result *res)
{
        struct feed f;
        sigset_t old_mask;
        uint64_t deadline;
        bool mask_set = false;
        int r;

        memset(res, 0, sizeof(*res));
        memset(&f, 0, sizeof(f));
        f.node = n;
        f.cfg = &n->cfg;
        f.ob = ob;
        f.opts = opts;
        f.res = res;
        f.sigfd = -1;

        if (!n->cfg.alerts_endpoint[0] || n->cfg.alert_batch == 0)
                return -EINVAL;
        f.sigfd = util_stop_signalfd(&old_mask, &mask_set, false);
        if (f.sigfd < 0) {
                r = f.sigfd;
                log_error("signalfd: %s", strerror(-r));
                goto out;
        }

        r = -ENOMEM;
        f.frames = calloc(f.cfg->alert_batch, sizeof(*f.frames));
        f.bodies = calloc(f.cfg->alert_batch, sizeof(*f.bodies));
        f.batch = calloc(f.cfg->alert_batch, sizeof(*f.batch));
        f.stored = calloc(f.cfg->alert_batch, sizeof(*f.stored));
        if (!f.frames || !f.bodies || !f.batch || !f.stored)
                goto out;

        f.ctx = zmq_ctx_new();
        if (!f.ctx) {
                r = client_zmq_err();
                goto out;
        }
        r = setup_sub(&f);
        if (r < 0) {
                log_error("cannot subscribe to the alert feed: %s", zmq_strerror(-r));
                goto out;
        }

        deadline = util_mono_ms() + opts->wait_ms;
        for (;;) {
                zmq_pollitem_t items[3] = {
                        { .socket = f.sub, .events = ZMQ_POLLIN },
                        { .socket = f.monitor, .events = ZMQ_POLLIN },
                        { .fd = f.sigfd, .events = ZMQ_POLLIN },
                };
                uint64_t now = util_mono_ms();

                if (!opts->follow) {
                        if (now >= deadline || (f.quiet_at && now >= f.quiet_at))
                                break;
                        /* A refusal is the hub's answer; waiting changes nothing. */
                        if ((res->refused || res->protocol_error) && res->received == 0 &&
                            !f.connected)
                                break;
                }
                if (zmq_poll(items, 3, poll_timeout(&f, deadline, now)) < 0) {
                        if (zmq_errno() == EINTR)
                                continue;
                        r = client_zmq_err();
                        log_error("zmq_poll: %s", zmq_strerror(-r));
                        goto out;
                }
                if (items[2].revents & ZMQ_POLLIN) {
                        struct signalfd_siginfo si;

                        if (read(f.sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                                log_debug("%s received; stopping", strsignal((int)si.ssi_signo));
                        res->interrupted = true;
                        break;
                }
                if (items[1].revents & ZMQ_POLLIN)
                        handle_monitor(&f);
                if (items[0].revents & ZMQ_POLLIN) {
                        r = handle_messages(&f);
                        if (r < 0)
                                goto out;
                }
        }
        r = 0;
out:
        feed_close(&f);
        if (mask_set)
                (void)sigprocmask(SIG_SETMASK, &old_mask, NULL);
        return r;
}
