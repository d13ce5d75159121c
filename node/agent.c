/* agent.c: the delivery agent. See agent.h.
 *
 * One thread, one loop: zmq_poll() over the hub connection, its monitor, the
 * nudge socket and a signalfd; between polls the agent fills the window from
 * the outbox, records the receipts of the round in one transaction
 * (agent-replies.c) and puts signals whose reply is overdue back in the
 * queue. What the connection's monitor reports is handled in agent-link.c. */
#include "agent.h"

#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

#include "dirlock.h"
#include "log.h"
#include "notify.h"
#include "stopsig.h"
#include "client.h"
#include "hubrot.h"
#include "node.h"
#include "outbox.h"
#include "receipt.h"
#include "agent-state.h"

#define MONITOR_ENDPOINT "inproc://nmo-node-monitor"
#define MONITOR_EVENTS                                                                   \
        (ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |  \
         ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |         \
         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_CONNECT_RETRIED)
/* Nudges are empty frames; a few queued ones mean the same as one. The size
 * bound also applies to the ZMTP handshake's READY command, so it cannot be
 * tiny (16 bytes makes every handshake fail). */
#define NUDGE_HWM 16
#define NUDGE_MAX_SIZE 256
#define PLURAL(n) ((n) == 1 ? "" : "s")
/* The metrics' outbox counts are read again at least this often, for what
 * other processes write (a submit whose nudge was lost). */
#define METRICS_RECOUNT_MS 10000


struct flight *agent_flight_find(struct agent *a, const uint8_t id[SIGNAL_ID_BYTES])
{
        for (size_t i = 0; i < a->n_flights; i++)
                if (memcmp(a->flights[i].signal_id, id, SIGNAL_ID_BYTES) == 0)
                        return &a->flights[i];
        return NULL;
}

static bool flight_has_seq(struct agent *a, uint64_t seq)
{
        for (size_t i = 0; i < a->n_flights; i++)
                if (a->flights[i].seq == seq)
                        return true;
        return false;
}

void agent_flight_remove(struct agent *a, struct flight *f)
{
        *f = a->flights[--a->n_flights];
}



static int setup_dealer(struct agent *a)
{
        const struct node_config *cfg = a->cfg;
        const struct keys_secret *me = a->node->member;
        int64_t maxmsg = RECEIPT_MAX;
        int r;

        a->dealer = zmq_socket(a->ctx, ZMQ_DEALER);
        if (!a->dealer)
                return client_zmq_err();
        if ((r = client_set_int(a->dealer, ZMQ_LINGER, 0)) < 0 ||
            (r = client_set_int(a->dealer, ZMQ_IMMEDIATE, 1)) < 0 ||
            /* Lets tcp://[::1]:PORT and names with IPv6 addresses work too. */
            (r = client_set_int(a->dealer, ZMQ_IPV6, 1)) < 0 ||
            (r = client_set_int(a->dealer, ZMQ_SNDHWM, (int)cfg->hwm)) < 0 ||
            (r = client_set_int(a->dealer, ZMQ_RCVHWM, (int)cfg->hwm)) < 0 ||
            (r = client_set_int(a->dealer, ZMQ_HEARTBEAT_IVL, (int)cfg->heartbeat_ivl_ms)) < 0 ||
            (r = client_set_int(a->dealer, ZMQ_HEARTBEAT_TIMEOUT, (int)cfg->heartbeat_timeout_ms)) < 0 ||
            (r = client_set_int(a->dealer, ZMQ_RECONNECT_IVL, (int)cfg->reconnect_ivl_ms)) < 0 ||
            (r = client_set_int(a->dealer, ZMQ_RECONNECT_IVL_MAX, (int)cfg->reconnect_ivl_max_ms)) < 0)
                return r;
        if (zmq_setsockopt(a->dealer, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) < 0)
                return client_zmq_err();
        return client_curve_connect(a->ctx, a->dealer, a->node, me, cfg->hub_endpoint,
                                    MONITOR_ENDPOINT, MONITOR_EVENTS, &a->monitor);
}

/* The nudge socket is a convenience: without it the periodic re-scan still
 * picks up new submissions, so failures here are warnings. */
static void setup_pull(struct agent *a)
{
        int64_t maxmsg = NUDGE_MAX_SIZE;
        char *ep = NULL;
        int r;

        r = node_agent_endpoint(a->node, &ep);
        if (r < 0) {
                log_warn("%s: no nudge socket (%s); new signals are picked up within a second",
                         a->node->dir, strerror(-r));
                return;
        }
        a->pull = zmq_socket(a->ctx, ZMQ_PULL);
        if (!a->pull ||
            client_set_int(a->pull, ZMQ_LINGER, 0) < 0 || client_set_int(a->pull, ZMQ_RCVHWM, NUDGE_HWM) < 0 ||
            zmq_setsockopt(a->pull, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) < 0 ||
            zmq_bind(a->pull, ep) < 0) {
                log_warn("%s: cannot listen for nudges: %s; new signals are picked up within "
                         "a second", ep, zmq_strerror(zmq_errno()));
                if (a->pull)
                        (void)zmq_close(a->pull);
                a->pull = NULL;
                free(ep);
                return;
        }
        a->pull_endpoint = ep;
}

/* Sends due signals until the window is full or the socket would block, then
 * marks what went out in one transaction. */
static int fill_window(struct agent *a)
{
        struct outbox_due *due = NULL;
        size_t n = 0, sent = 0;
        uint64_t now;
        int events = 0;
        size_t len = sizeof(events);
        int r;

        if (a->n_flights >= a->cfg->window)
                return 0;
        /* With ZMQ_IMMEDIATE, POLLOUT means a hub connection is up and has room. */
        if (zmq_getsockopt(a->dealer, ZMQ_EVENTS, &events, &len) < 0)
                return client_zmq_err();
        if (!(events & ZMQ_POLLOUT))
                return 0;
        r = outbox_next_due(a->ob, util_now_ms(), a->cfg->window - a->n_flights, &due, &n);
        if (r < 0) {
                log_error("%s: cannot read the outbox: %s", a->node->outbox_path, strerror(-r));
                return r;
        }
        now = util_mono_ms();
        for (size_t i = 0; i < n && a->n_flights < a->cfg->window; i++) {
                struct flight *f;

                if (flight_has_seq(a, due[i].seq))
                        continue;
                if (zmq_send(a->dealer, due[i].envelope, due[i].envelope_len, ZMQ_DONTWAIT) < 0) {
                        if (zmq_errno() != EAGAIN && zmq_errno() != EINTR)
                                log_warn("sending to the hub failed: %s",
                                         zmq_strerror(zmq_errno()));
                        break;
                }
                f = &a->flights[a->n_flights++];
                f->seq = due[i].seq;
                memcpy(f->signal_id, due[i].signal_id, SIGNAL_ID_BYTES);
                f->deadline_ms = now + a->cfg->reply_timeout_ms;
                a->seqs[sent++] = due[i].seq;
                a->fig.sent++;
                if (due[i].attempts > 0)
                        a->fig.resends++;
        }
        outbox_due_free(due, n);
        if (sent == 0)
                return 0;
        a->recount = true;
        r = outbox_mark_in_flight(a->ob, a->seqs, sent);
        if (r < 0) {
                if (r != -ENOSPC) /* said once by the outbox */
                        log_error("%s: cannot record signals in flight: %s", a->node->outbox_path,
                                  strerror(-r));
                return r;
        }
        log_info("sent %zu signal%s to the hub (%zu in flight)", sent, PLURAL(sent), a->n_flights);
        return 0;
}

/* Receives one frame (and any further parts, which make it invalid). Returns
 * 1 with *msg filled, 0 when nothing is waiting, or a negative errno. */
int agent_recv_frame(void *s, zmq_msg_t *msg, bool *multipart)
{
        *multipart = false;
        if (zmq_msg_init(msg) < 0)
                return client_zmq_err();
        if (zmq_msg_recv(msg, s, ZMQ_DONTWAIT) < 0) {
                int e = zmq_errno();

                (void)zmq_msg_close(msg);
                return e == EAGAIN || e == EINTR ? 0 : -e;
        }
        while (zmq_msg_more(msg)) {
                zmq_msg_t rest;

                *multipart = true;
                if (zmq_msg_init(&rest) < 0)
                        break;
                if (zmq_msg_recv(&rest, s, ZMQ_DONTWAIT) < 0) {
                        (void)zmq_msg_close(&rest);
                        break;
                }
                if (!zmq_msg_more(&rest)) {
                        (void)zmq_msg_close(&rest);
                        break;
                }
                (void)zmq_msg_close(&rest);
        }
        return 1;
}

/* Everything in flight goes back in the queue, due now: after the hub's
 * keys changed the re-sealed envelopes are the ones to send. */
int agent_requeue_flights(struct agent *a)
{
        int r;

        if (a->n_flights == 0)
                return 0;
        for (size_t i = 0; i < a->n_flights; i++)
                a->seqs[i] = a->flights[i].seq;
        r = outbox_requeue(a->ob, a->seqs, a->n_flights, util_now_ms(), NULL, NULL);
        if (r < 0) {
                log_error("%s: cannot queue signals again: %s", a->node->outbox_path,
                          strerror(-r));
                return r;
        }
        a->n_flights = 0;
        a->scan_now = true;
        a->recount = true;
        return 0;
}



static void drain_nudges(struct agent *a)
{
        for (int i = 0; i < NUDGE_HWM; i++) {
                zmq_msg_t msg;
                bool multipart;

                if (agent_recv_frame(a->pull, &msg, &multipart) <= 0)
                        break;
                (void)zmq_msg_close(&msg);
        }
        log_debug("nudged: new signals in the outbox");
        a->scan_now = true;
        a->recount = true;
}

/* Puts signals whose reply is overdue back in the queue, with backoff. */
static int expire_flights(struct agent *a, uint64_t now)
{
        char why[96];
        size_t n = 0;
        int r;

        for (size_t i = 0; i < a->n_flights; i++)
                if (a->flights[i].deadline_ms <= now)
                        a->seqs[n++] = a->flights[i].seq;
        if (n == 0)
                return 0;
        a->recount = true;
        snprintf(why, sizeof(why), "no reply from the hub within %u ms", a->cfg->reply_timeout_ms);
        r = outbox_requeue(a->ob, a->seqs, n, util_now_ms(), &a->bo, why);
        if (r < 0) {
                /* Kept in flight here too, and tried again a rescan later (a full
                 * disk has been reported once already). */
                for (size_t i = 0; i < a->n_flights; i++)
                        if (a->flights[i].deadline_ms <= now)
                                a->flights[i].deadline_ms = now + a->cfg->rescan_ms;
                if (r != -ENOSPC)
                        log_error("%s: cannot queue signals again: %s", a->node->outbox_path,
                                  strerror(-r));
                return r;
        }
        for (size_t i = 0; i < a->n_flights;) {
                if (a->flights[i].deadline_ms <= now)
                        agent_flight_remove(a, &a->flights[i]);
                else
                        i++;
        }
        log_info("%zu signal%s got no reply in time; queued again with backoff (%zu in "
                 "flight)", n, PLURAL(n), a->n_flights);
        return 0;
}

/* On the way out: record what already arrived, and queue what is in flight so
 * the next run sends it at once. */
static int shut_down(struct agent *a)
{
        int r = 0;

        if (a->dealer && a->ob)
                r = agent_handle_replies(a);
        if (a->n_flights > 0 && a->ob) {
                int q;

                for (size_t i = 0; i < a->n_flights; i++)
                        a->seqs[i] = a->flights[i].seq;
                q = outbox_requeue(a->ob, a->seqs, a->n_flights, util_now_ms(), NULL, NULL);
                if (q < 0) {
                        log_error("%s: cannot queue in-flight signals again: %s; the next run "
                                  "will", a->node->outbox_path, strerror(-q));
                        r = r < 0 ? r : q;
                } else {
                        log_info("stopping: %zu signal%s in flight queued again", a->n_flights,
                                 PLURAL(a->n_flights));
                }
                a->n_flights = 0;
        }
        return r;
}

/* Hands the figures to the metrics endpoint, at most about once a second;
 * the outbox is counted (a full read) only when the agent changed it or
 * METRICS_RECOUNT_MS passed. A count that fails keeps the last one. */
static void metrics_collect(struct agent *a, uint64_t now)
{
        if (!a->metrics || (a->metrics_at_ms && now - a->metrics_at_ms < 1000))
                return;
        a->metrics_at_ms = now;
        if (a->recount || !a->fig.counted || now - a->counted_at_ms >= METRICS_RECOUNT_MS) {
                struct outbox_counts c;
                int r = outbox_counts(a->ob, &c);

                /* -EBADMSG: counted all but a corrupt record, as status does. */
                if (r == 0 || r == -EBADMSG) {
                        a->fig.counts = c;
                        a->fig.counted = true;
                        a->recount = false;
                        a->counted_at_ms = now;
                } else {
                        log_debug("metrics: cannot count the outbox: %s", strerror(-r));
                }
        }
        a->fig.last_contact_ms = a->link.last_contact_ms;
        a->fig.hub_up = a->connected;
        node_metrics_update(a->metrics, &a->fig);
}

static void agent_close(struct agent *a)
{
        /* First: its thread reads nothing of ours, but goes before the rest. */
        node_metrics_stop(a->metrics);
        if (a->dealer)
                (void)zmq_socket_monitor(a->dealer, NULL, 0);
        if (a->monitor)
                (void)zmq_close(a->monitor);
        if (a->dealer)
                (void)zmq_close(a->dealer);
        if (a->pull) {
                (void)zmq_unbind(a->pull, a->pull_endpoint);
                (void)zmq_close(a->pull);
                /* libzmq leaves the socket file; no stale one for submit to find. */
                (void)unlink(a->pull_endpoint + strlen("ipc://"));
        }
        free(a->pull_endpoint);
        if (a->ctx)
                (void)zmq_ctx_term(a->ctx);
        outbox_free(a->ob);
        if (a->sigfd >= 0)
                close(a->sigfd);
        free(a->flights);
        free(a->incoming);
        free(a->batch);
        free(a->results);
        free(a->seqs);
}

/* The settings of node.conf, and whether a running agent applies a change. */
static const struct {
        const char *name;
        size_t offset;
        bool endpoint;          /* a string, else a uint32_t */
        bool live;
} reload_settings[] = {
        { "[hub] endpoint", offsetof(struct node_config, hub_endpoint), true, false },
        { "[hub] alerts", offsetof(struct node_config, alerts_endpoint), true, false },
        { "window", offsetof(struct node_config, window), false, true },
        { "reply_timeout_ms", offsetof(struct node_config, reply_timeout_ms), false, true },
        { "retry_min_ms", offsetof(struct node_config, retry_min_ms), false, true },
        { "retry_max_ms", offsetof(struct node_config, retry_max_ms), false, true },
        { "[log] level", offsetof(struct node_config, log_level), false, true },
        { "[metrics] listen", offsetof(struct node_config, metrics_listen), true, false },
};

static void describe_change(char *buf, size_t len, const char *name, const char *from,
                            const char *to, bool endpoint)
{
        static const char *const levels[] = { "error", "warning", "info", "debug" };
        size_t used = strlen(buf);
        uint32_t x, y;

        if (used >= len - 1)
                return;
        if (endpoint) {
                snprintf(buf + used, len - used, "%s%s %s -> %s", used ? ", " : "", name, from,
                         to);
                return;
        }
        memcpy(&x, from, sizeof(x));
        memcpy(&y, to, sizeof(y));
        if (strcmp(name, "[log] level") == 0 && x < 4 && y < 4)
                snprintf(buf + used, len - used, "%s%s %s -> %s", used ? ", " : "", name,
                         levels[x], levels[y]);
        else
                snprintf(buf + used, len - used, "%s%s %u -> %u", used ? ", " : "", name, x, y);
}

/* SIGHUP: node.conf again. [delivery] and [log] apply at once (a smaller
 * window lets what is in flight finish); the hub endpoints are bound to the
 * sockets and wait for a restart. A node.conf that does not parse changes
 * nothing. Returns 0, or -ENOMEM when a larger window cannot be had. */
static int reload(struct agent *a)
{
        struct node_config next, *cur = &a->node->cfg;
        char err[512], applied[512] = "", fixed[768] = "";

        if (node_config_load(&next, a->node->conf_path, err, sizeof(err)) < 0) {
                log_error("reload refused: %s; the settings in use stay", err);
                return 0;
        }
        if (a->log_level_set)
                next.log_level = cur->log_level;
        if (next.window > a->cap) {
                struct flight *f = realloc(a->flights, next.window * sizeof(*f));
                uint64_t *q;

                if (!f)
                        return -ENOMEM;
                a->flights = f;
                q = realloc(a->seqs, next.window * sizeof(*q));
                if (!q)
                        return -ENOMEM;
                a->seqs = q;
                a->cap = next.window;
        }
        for (size_t i = 0; i < NMO_ARRAY_SIZE(reload_settings); i++) {
                char *from = (char *)cur + reload_settings[i].offset;
                const char *to = (const char *)&next + reload_settings[i].offset;
                size_t size = reload_settings[i].endpoint ? NODE_ENDPOINT_MAX + 1
                                                          : sizeof(uint32_t);

                if (reload_settings[i].endpoint ? strcmp(from, to) == 0
                                                : memcmp(from, to, size) == 0)
                        continue;
                describe_change(reload_settings[i].live ? applied : fixed,
                                reload_settings[i].live ? sizeof(applied) : sizeof(fixed),
                                reload_settings[i].name, from, to, reload_settings[i].endpoint);
                if (reload_settings[i].live)
                        memcpy(from, to, size);
        }
        a->bo.min_ms = cur->retry_min_ms;
        a->bo.max_ms = cur->retry_max_ms;
        log_setup(NULL, (enum log_level)cur->log_level);
        log_info("reloaded %s: %s%s", a->node->conf_path, applied[0] ? "applied " : "",
                 applied[0] ? applied : fixed[0] ? "nothing applied now" : "nothing changed");
        if (fixed[0])
                log_warn("%s: changed but applied only at a restart of nmo-node run (still "
                         "using the old values): %s", a->node->conf_path, fixed);
        a->scan_now = true;
        return 0;
}

/* Names the agent that holds the lock, when its lock file says. */
static void log_busy(const struct node *n)
{
        char *path = util_path(n->outbox_path, OUTBOX_AGENT_LOCK);
        pid_t holder = 0;

        if (path && dirlock_check(path, &holder) == -EBUSY && holder > 0)
                log_error("%s: another agent (pid %ld) is already running for this node",
                          n->outbox_path, (long)holder);
        else
                log_error("%s: another agent is already running for this node",
                          n->outbox_path);
        free(path);
}

/* A full disk stops the outbox's writes, not the agent: db_write() said so
 * once, what was not recorded is done again (a receipt the hub sends again,
 * a signal sent again) and the agent tries on at its next turn. */
static int keep_going(int r)
{
        return r == -ENOSPC ? 0 : r;
}

static uint64_t min_u64(uint64_t x, uint64_t y)
{
        return x < y ? x : y;
}

int agent_run(struct node *n, const struct agent_options *opts)
{
        struct agent a;
        sigset_t old_mask;
        uint64_t start, queued = 0, in_flight = 0;
        bool mask_set = false;
        int r;

        memset(&a, 0, sizeof(a));
        a.node = n;
        a.cfg = &n->cfg;
        a.sigfd = -1;
        a.bo.min_ms = n->cfg.retry_min_ms;
        a.bo.max_ms = n->cfg.retry_max_ms;

        a.sigfd = util_stop_signalfd(&old_mask, &mask_set, true);
        if (a.sigfd < 0) {
                r = a.sigfd;
                log_error("signalfd: %s", strerror(-r));
                goto out;
        }

        r = -ENOMEM;
        a.log_level_set = opts->log_level_set;
        a.cap = a.cfg->window;
        a.flights = calloc(a.cap, sizeof(*a.flights));
        a.seqs = calloc(a.cap, sizeof(*a.seqs));
        a.incoming = calloc(a.cfg->replies_per_round, sizeof(*a.incoming));
        a.batch = calloc(a.cfg->replies_per_round, sizeof(*a.batch));
        a.results = calloc(a.cfg->replies_per_round, sizeof(*a.results));
        if (!a.flights || !a.seqs || !a.incoming || !a.batch || !a.results)
                goto out;

        r = outbox_open(&a.ob, n->outbox_path, OUTBOX_AGENT, 0);
        if (r < 0) {
                if (r == -EBUSY)
                        log_busy(n);
                else
                        log_error("%s: cannot open the outbox: %s", n->outbox_path,
                                  strerror(-r));
                goto out;
        }
        if (outbox_get_hub_error(a.ob, a.hub_error, sizeof(a.hub_error), NULL) < 0)
                a.hub_error[0] = '\0';
        /* Keeps the last contact of earlier runs; a retry is due at once. */
        if (outbox_get_hub_link(a.ob, &a.link) < 0)
                memset(&a.link, 0, sizeof(a.link));
        /* An adoption of new hub keys stopped before the queue was re-sealed,
         * or signals submitted with the old bundle meanwhile: finish now. */
        if (n->has_hub_ann) {
                size_t resealed = 0;

                r = hubrot_reseal(n, a.ob, &resealed);
                if (r < 0) {
                        log_error("%s: cannot re-seal queued signals to the hub's new key: %s",
                                  n->outbox_path, strerror(-r));
                        goto out;
                }
                if (resealed)
                        log_info("%zu queued signal%s re-sealed to the hub's new payload key",
                                 resealed, PLURAL(resealed));
        }

        /* Before the hub connection: a metrics address that cannot be bound
         * stops the start, said once, rather than going unnoticed. */
        if (n->cfg.metrics_listen[0]) {
                r = node_metrics_start(&a.metrics, n->cfg.metrics_listen);
                if (r < 0)
                        goto out;
        }

        a.ctx = zmq_ctx_new();
        if (!a.ctx) {
                r = client_zmq_err();
                goto out;
        }
        r = setup_dealer(&a);
        if (r < 0) {
                log_error("cannot set up the hub connection: %s", zmq_strerror(-r));
                goto out;
        }
        setup_pull(&a);

        r = outbox_pending(a.ob, &queued, &in_flight);
        if (r < 0)
                goto out;
        log_info("agent running: hub %s, window %u, %llu signals queued", a.cfg->hub_endpoint,
                 a.cfg->window, (unsigned long long)queued);
        {
                char status[NODE_ENDPOINT_MAX + 64];

                snprintf(status, sizeof(status), "delivering to %s", a.cfg->hub_endpoint);
                notify_ready(status);
        }

        start = util_mono_ms();
        a.scan_now = true;
        metrics_collect(&a, start);
        for (;;) {
                zmq_pollitem_t items[4];
                uint64_t now = util_mono_ms(), wait;
                int nitems = 0, ipull = -1;

                if (opts->once) {
                        r = outbox_pending(a.ob, &queued, &in_flight);
                        if (r < 0)
                                goto out;
                        if (queued + in_flight == 0 && a.n_flights == 0) {
                                log_info("nothing left to deliver");
                                break;
                        }
                        if (opts->timeout_ms && now - start >= opts->timeout_ms) {
                                r = -ETIMEDOUT;
                                break;
                        }
                }
                agent_link_reconnect_due(&a, now);
                if (a.scan_now || now >= a.next_scan_ms) {
                        r = keep_going(fill_window(&a));
                        if (r < 0)
                                goto out;
                        a.scan_now = false;
                        a.next_scan_ms = now + a.cfg->rescan_ms;
                }

                wait = a.next_scan_ms > now ? a.next_scan_ms - now : 0;
                if (a.detached)
                        wait = min_u64(wait, a.reconnect_at_ms > now ? a.reconnect_at_ms - now : 0);
                for (size_t i = 0; i < a.n_flights; i++)
                        wait = min_u64(wait, a.flights[i].deadline_ms > now
                                                     ? a.flights[i].deadline_ms - now : 0);
                if (opts->once && opts->timeout_ms) {
                        uint64_t end = start + opts->timeout_ms;
                        wait = min_u64(wait, end > now ? end - now : 0);
                }
                /* Awake at least once a second, for systemd's watchdog. */
                notify_watchdog(now);
                wait = min_u64(wait, 1000);

                items[nitems++] = (zmq_pollitem_t){ .socket = a.dealer, .events = ZMQ_POLLIN };
                items[nitems++] = (zmq_pollitem_t){ .socket = a.monitor, .events = ZMQ_POLLIN };
                items[nitems++] = (zmq_pollitem_t){ .fd = a.sigfd, .events = ZMQ_POLLIN };
                if (a.pull) {
                        ipull = nitems;
                        items[nitems++] = (zmq_pollitem_t){ .socket = a.pull,
                                                            .events = ZMQ_POLLIN };
                }
                if (zmq_poll(items, nitems, (long)wait) < 0) {
                        if (zmq_errno() == EINTR)
                                continue;
                        r = client_zmq_err();
                        log_error("zmq_poll: %s", zmq_strerror(-r));
                        goto out;
                }
                if (items[2].revents & ZMQ_POLLIN) {
                        struct signalfd_siginfo si;

                        if (read(a.sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si)) {
                                a.stop = true;
                        } else if (si.ssi_signo == SIGHUP) {
                                notify_reloading();
                                r = reload(&a);
                                if (r < 0)
                                        goto out;
                                notify_ready(NULL);
                        } else {
                                log_info("%s received; stopping", strsignal((int)si.ssi_signo));
                                notify_stopping();
                                a.stop = true;
                        }
                }
                if (items[1].revents & ZMQ_POLLIN) {
                        r = keep_going(agent_link_monitor(&a));
                        if (r < 0)
                                goto out;
                }
                if (items[0].revents & ZMQ_POLLIN) {
                        r = keep_going(agent_handle_replies(&a));
                        if (r < 0)
                                goto out;
                }
                if (ipull >= 0 && (items[ipull].revents & ZMQ_POLLIN))
                        drain_nudges(&a);
                r = keep_going(expire_flights(&a, util_mono_ms()));
                if (r < 0)
                        goto out;
                metrics_collect(&a, util_mono_ms());
                if (a.stop) {
                        r = 0;
                        break;
                }
        }
        {
                int s = shut_down(&a);

                if (r == 0)
                        r = s;
        }
out:
        agent_close(&a);
        if (mask_set)
                (void)sigprocmask(SIG_SETMASK, &old_mask, NULL);
        return r;
}
