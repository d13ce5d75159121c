/* rotate.c: announcing a member's new keys to the hub and switching the node
 * to them. See rotate.h.
 *
 * The hub's answer is read from two places: the Reply to the announcement,
 * and the CurveZMQ handshake as the socket monitor reports it. A handshake
 * refused for the current key, followed by one accepted for the new key, is
 * how a rerun learns that an earlier announcement went through although its
 * reply never arrived or the node stopped before switching. */
#include "rotate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include <zmq.h>

#include "envelope.h"
#include "keys.h"
#include "log.h"
#include "client.h"
#include "node.h"
#include "outbox.h"

#define MONITOR_CURRENT "inproc://nmo-node-rotate-current"
#define MONITOR_NEXT "inproc://nmo-node-rotate-next"
#define MONITOR_EVENTS                                                                   \
        (ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |  \
         ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |         \
         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)

/* A DEALER to the hub with one set of member keys, and its monitor. */
struct link {
        void *dealer;
        void *monitor;
};

/* What link_wait() saw first. */
enum link_event {
        LINK_UP = 1,            /* handshake succeeded */
        LINK_REFUSED,           /* handshake refused: the hub does not take the key */
        LINK_PROTOCOL,          /* handshake failed otherwise */
        LINK_REPLY,             /* a frame from the hub */
        LINK_TIMEOUT,
};

static void link_close(struct link *l)
{
        if (l->dealer)
                (void)zmq_socket_monitor(l->dealer, NULL, 0);
        if (l->monitor)
                (void)zmq_close(l->monitor);
        if (l->dealer)
                (void)zmq_close(l->dealer);
        l->dealer = l->monitor = NULL;
}

static int link_open(struct link *l, void *ctx, const struct node *n,
                     const struct keys_secret *keys, const char *monitor_endpoint)
{
        const struct node_config *cfg = &n->cfg;
        int64_t maxmsg = RECEIPT_MAX;
        int r;

        l->dealer = zmq_socket(ctx, ZMQ_DEALER);
        if (!l->dealer)
                return client_zmq_err();
        if ((r = client_set_int(l->dealer, ZMQ_LINGER, 0)) < 0 ||
            (r = client_set_int(l->dealer, ZMQ_IMMEDIATE, 1)) < 0 ||
            (r = client_set_int(l->dealer, ZMQ_IPV6, 1)) < 0 ||
            (r = client_set_int(l->dealer, ZMQ_RECONNECT_IVL, (int)cfg->reconnect_ivl_ms)) < 0 ||
            (r = client_set_int(l->dealer, ZMQ_RECONNECT_IVL_MAX, (int)cfg->reconnect_ivl_max_ms)) < 0)
                return r;
        if (zmq_setsockopt(l->dealer, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) < 0)
                return client_zmq_err();
        return client_curve_connect(ctx, l->dealer, n, keys, cfg->hub_endpoint, monitor_endpoint,
                                    MONITOR_EVENTS, &l->monitor);
}

/* Receives one message of s into msg, dropping any further parts (*multipart
 * says there were some). 1 when received, 0 when nothing waits, or a
 * negative errno. */
static int recv_one(void *s, zmq_msg_t *msg, bool *multipart)
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
                bool more;

                *multipart = true;
                if (zmq_msg_init(&rest) < 0)
                        break;
                if (zmq_msg_recv(&rest, s, ZMQ_DONTWAIT) < 0) {
                        (void)zmq_msg_close(&rest);
                        break;
                }
                more = zmq_msg_more(&rest);
                (void)zmq_msg_close(&rest);
                if (!more)
                        break;
        }
        return 1;
}

/* Reads one monitor event; 1 with *event and *value, 0 when none waits or it
 * is too short, or a negative errno. (The monitor's second part, the
 * endpoint, is dropped.) */
static int read_event(struct link *l, uint16_t *event, uint32_t *value)
{
        zmq_msg_t msg;
        bool multipart;
        int r = recv_one(l->monitor, &msg, &multipart);

        if (r <= 0)
                return r;
        if (zmq_msg_size(&msg) < sizeof(*event) + sizeof(*value)) {
                (void)zmq_msg_close(&msg);
                return 0;
        }
        memcpy(event, zmq_msg_data(&msg), sizeof(*event));
        memcpy(value, (const uint8_t *)zmq_msg_data(&msg) + sizeof(*event), sizeof(*value));
        (void)zmq_msg_close(&msg);
        return 1;
}

/* Waits until deadline (monotonic ms) for the next event that matters on l.
 * A reply frame is copied into *reply (free()). Returns an enum link_event or
 * a negative errno. */
static int link_wait(struct link *l, uint64_t deadline, uint8_t **reply, size_t *reply_len)
{
        for (;;) {
                zmq_pollitem_t items[2] = {
                        { .socket = l->dealer, .events = ZMQ_POLLIN },
                        { .socket = l->monitor, .events = ZMQ_POLLIN },
                };
                uint64_t now = util_mono_ms();
                uint16_t event;
                uint32_t value;
                int r;

                if (now >= deadline)
                        return LINK_TIMEOUT;
                if (zmq_poll(items, 2, (long)(deadline - now)) < 0) {
                        if (zmq_errno() == EINTR)
                                continue;
                        return client_zmq_err();
                }
                /* A reply first: it may have come just before the connection
                 * it came on was dropped and refused again. */
                if (items[0].revents & ZMQ_POLLIN) {
                        zmq_msg_t msg;
                        bool multipart;

                        r = recv_one(l->dealer, &msg, &multipart);
                        if (r < 0)
                                return r;
                        if (r > 0 && multipart) {
                                log_warn("multi-part reply from the hub ignored");
                                (void)zmq_msg_close(&msg);
                        } else if (r > 0) {
                                *reply_len = zmq_msg_size(&msg);
                                *reply = malloc(*reply_len ? *reply_len : 1);
                                if (*reply)
                                        memcpy(*reply, zmq_msg_data(&msg), *reply_len);
                                (void)zmq_msg_close(&msg);
                                return *reply ? LINK_REPLY : -ENOMEM;
                        }
                }
                if (!(items[1].revents & ZMQ_POLLIN))
                        continue;
                r = read_event(l, &event, &value);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                switch (event) {
                case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
                        return LINK_UP;
                case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
                        log_debug("the hub refused the handshake (ZAP status %u)", value);
                        return LINK_REFUSED;
                case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
                        log_debug("handshake protocol error 0x%x", value);
                        return LINK_PROTOCOL;
                case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
                        log_debug("handshake failed (errno %u); retrying", value);
                        break;
                case ZMQ_EVENT_DISCONNECTED:
                        log_debug("connection to the hub lost; reconnecting");
                        break;
                default:
                        break;
                }
        }
}

/* Sends frame on l, waiting until deadline at most. */
static int link_send(struct link *l, const uint8_t *frame, size_t len, uint64_t deadline)
{
        uint64_t now = util_mono_ms();
        int r;

        if (now >= deadline)
                return -ETIMEDOUT;
        r = client_set_int(l->dealer, ZMQ_SNDTIMEO, (int)(deadline - now));
        if (r < 0)
                return r;
        return zmq_send(l->dealer, frame, len, 0) < 0 ? client_zmq_err() : 0;
}

/* The announcement in flight and what its receipt must say. */
struct announcement {
        uint8_t id[SIGNAL_ID_BYTES];
        uint8_t hash[ENVELOPE_HASH_BYTES];
        const uint8_t *member_pk;       /* the current payload key */
};

/* Is data the hub's signed answer to the announcement? 0 with rc filled,
 * or a negative errno (logged) for a frame to ignore. */
static int check_reply(const struct node *n, const struct announcement *an,
                       const uint8_t *data, size_t len, struct receipt *rc)
{
        struct reply rp;
        int r;

        r = reply_decode(data, len, &rp);
        if (r < 0) {
                reply_free(&rp);
                log_warn("malformed reply from the hub (%zu bytes) ignored", len);
                return r;
        }
        r = reply_verify(&rp, n->hub.sign, NULL, rc);
        reply_free(&rp);
        if (r < 0) {
                log_warn("reply from the hub with %s ignored",
                         r == -EKEYREJECTED ? "a bad signature" : "a malformed receipt");
                return r;
        }
        if (!rc->has_id || sodium_memcmp(rc->signal_id, an->id, SIGNAL_ID_BYTES) != 0 ||
            sodium_memcmp(rc->envelope_hash, an->hash, ENVELOPE_HASH_BYTES) != 0 ||
            sodium_memcmp(rc->member_key, an->member_pk, KEYS_KEY_BYTES) != 0) {
                log_warn("a receipt that is not for this key rotation ignored");
                return -EBADMSG;
        }
        if (rc->status != NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED &&
            rc->status != NMO__RECEIPT_STATUS__RECEIPT_REJECTED) {
                log_warn("a receipt without a status ignored");
                return -EBADMSG;
        }
        return 0;
}

/* Sends the announcement with the current keys and waits for its receipt.
 * *refused is set when the hub refuses the current transport key. */
static int announce_current(void *ctx, const struct node *n, const struct keys_secret *cur,
                            const struct keys_secret *next, uint64_t deadline,
                            struct rotate_result *res, bool *refused)
{
        struct announcement an = { .member_pk = cur->pub.payload };
        struct link l = { NULL, NULL };
        uint8_t *frame = NULL;
        size_t len = 0;
        bool sent = false;
        int r;

        *refused = false;
        r = envelope_seal_rotation(cur, &next->pub, n->hub.payload, an.id, &frame, &len);
        if (r < 0) {
                log_error("cannot seal the key rotation: %s", strerror(-r));
                return r;
        }
        envelope_hash(frame, len, an.hash);
        r = link_open(&l, ctx, n, cur, MONITOR_CURRENT);
        if (r < 0)
                goto out;
        for (;;) {
                uint8_t *reply = NULL;
                size_t reply_len = 0;

                r = link_wait(&l, deadline, &reply, &reply_len);
                if (r < 0)
                        goto out;
                switch (r) {
                case LINK_UP:
                        /* Also after a reconnection: a handshake with the old
                         * key means the hub has not switched yet, and a repeat
                         * of the same rotation is answered like the first. */
                        log_info("connected to the hub with the current keys; announcing the "
                                 "new keys");
                        r = link_send(&l, frame, len, deadline);
                        if (r < 0 && r != -EAGAIN && r != -EINTR)
                                goto out;
                        sent = sent || r == 0;
                        break;
                case LINK_REPLY:
                        r = check_reply(n, &an, reply, reply_len, &res->receipt);
                        free(reply);
                        if (r == 0) {
                                res->outcome = res->receipt.status ==
                                                               NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED
                                                       ? ROTATE_ACCEPTED
                                                       : ROTATE_REJECTED;
                                goto out;
                        }
                        break;
                case LINK_REFUSED:
                        *refused = true;
                        r = 0;
                        goto out;
                case LINK_PROTOCOL:
                        res->outcome = ROTATE_PROTOCOL_ERROR;
                        r = 0;
                        goto out;
                case LINK_TIMEOUT:
                default:
                        res->outcome = sent ? ROTATE_NO_REPLY : ROTATE_UNREACHABLE;
                        r = 0;
                        goto out;
                }
        }
out:
        link_close(&l);
        free(frame);
        return r;
}

/* Does the hub take the new transport key? Only the handshake is needed. */
static int probe_next(void *ctx, const struct node *n, const struct keys_secret *next,
                      uint64_t deadline, struct rotate_result *res)
{
        struct link l = { NULL, NULL };
        int r;

        r = link_open(&l, ctx, n, next, MONITOR_NEXT);
        if (r < 0)
                goto out;
        for (;;) {
                uint8_t *reply = NULL;
                size_t reply_len = 0;

                r = link_wait(&l, deadline, &reply, &reply_len);
                free(reply); /* nothing was sent: nothing to answer */
                if (r < 0)
                        goto out;
                if (r == LINK_REPLY)
                        continue;
                res->outcome = r == LINK_UP        ? ROTATE_HUB_HAS_NEXT
                               : r == LINK_REFUSED  ? ROTATE_REFUSED_BOTH
                               : r == LINK_PROTOCOL ? ROTATE_PROTOCOL_ERROR
                                                    : ROTATE_UNREACHABLE;
                r = 0;
                goto out;
        }
out:
        link_close(&l);
        return r;
}

int rotate_announce(const struct node *n, const struct keys_secret *cur,
                    const struct keys_secret *next, uint64_t timeout_ms,
                    struct rotate_result *res)
{
        uint64_t deadline = util_mono_ms() + timeout_ms;
        bool refused = false;
        void *ctx;
        int r;

        memset(res, 0, sizeof(*res));
        ctx = zmq_ctx_new();
        if (!ctx)
                return client_zmq_err();
        r = announce_current(ctx, n, cur, next, deadline, res, &refused);
        if (r == 0 && refused) {
                /* Refused: maybe an earlier run's announcement went through and
                 * the node stopped before switching. */
                log_info("the hub refuses the current keys; checking whether it has the new "
                         "ones");
                r = probe_next(ctx, n, next, deadline, res);
        }
        (void)zmq_ctx_term(ctx);
        return r;
}

struct reseal_ctx {
        const struct keys_secret *cur;
        const struct keys_secret *next;
        const uint8_t *hub_payload_pk;
};

static int reseal_one(const uint8_t id[SIGNAL_ID_BYTES], const uint8_t *envelope, size_t len,
                      uint8_t **out, size_t *out_len, void *userdata)
{
        const struct reseal_ctx *ctx = userdata;
        int r = envelope_reseal(envelope, len, ctx->cur, ctx->next, ctx->hub_payload_pk, out,
                                out_len);

        if (r == -EBADMSG) {
                char hex[SIGNAL_ID_HEX];

                /* Not this member's: the hub would refuse it with either key,
                 * and refusing the whole rotation for it would strand the node. */
                signal_id_hex(id, hex);
                log_warn("signal %s: the queued envelope is not sealed with this member's "
                         "keys; left as it is", hex);
                return -EALREADY;
        }
        return r;
}

/* Makes a rename in dir durable. */
static int sync_dir(const char *dir)
{
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = 0;

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}

int rotate_finish(const struct node *n, struct outbox *ob, const struct keys_secret *cur,
                  const struct keys_secret *next, size_t *resealed, char *err, size_t errlen)
{
        struct reseal_ctx ctx = { cur, next, n->hub.payload };
        size_t done = 0, kept = 0;
        int r;

        /* First the queue: once member.key is the new one, the old secret
         * key that opens these envelopes is gone. */
        r = outbox_reseal_pending(ob, cur->pub.payload, next->pub.payload, reseal_one, &ctx, &done,
                                  &kept);
        if (r < 0) {
                util_set_err(err, errlen, "%s: cannot re-seal the queued signals: %s",
                             n->outbox_path, strerror(-r));
                return r;
        }
        log_info("%zu queued signal%s re-sealed with the new keys, %zu kept as they were", done,
                 done == 1 ? "" : "s", kept);
        r = keys_save_public(&next->pub, n->member_pub_path);
        if (r < 0) {
                util_set_err(err, errlen, "%s: %s", n->member_pub_path, strerror(-r));
                return r;
        }
        /* The switch itself: rename is atomic, and it replaces the old secret
         * key file. */
        if (rename(n->member_key_next_path, n->member_key_path) < 0) {
                r = -errno;
                util_set_err(err, errlen, "%s: cannot rename to %s: %s",
                             n->member_key_next_path, n->member_key_path, strerror(-r));
                return r;
        }
        r = sync_dir(n->keys_dir);
        if (r < 0) {
                util_set_err(err, errlen, "%s: %s", n->keys_dir, strerror(-r));
                return r;
        }
        if (resealed)
                *resealed = done;
        return 0;
}
