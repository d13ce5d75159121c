/* zap.c: see zap.h. */
#include "zap.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "db.h"
#include "keys.h"
#include "log.h"
#include "member.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_MAX_FRAMES 16

struct hub_zap {
        void *sock;
        struct hub_store *st;
        struct hub_conns *conns;
        pthread_t thread;
        bool started;
        /* Refusals are logged at most once a second; those in the second
         * after a logged one are counted, and the count logged when it ends. */
        uint64_t last_log_ms;
        uint64_t refused_quiet;
};

/* A second of refusals' width, in milliseconds. */
#define ZAP_LOG_EVERY_MS 1000

/* Looks up the client key; returns the ZAP status code and fills user_id. */
static const char *decide(struct hub_zap *z, const zmq_msg_t *f, size_t nf, char *user_id,
                          size_t ulen, const char **text)
{
        enum hub_conn_socket sock = HUB_CONN_ROUTER;
        struct hub_member m;
        MDB_txn *txn = NULL;
        char ip[64];
        size_t dlen;
        int r;

        if (nf < 6 || zmq_msg_size((zmq_msg_t *)&f[0]) != 3 ||
            memcmp(zmq_msg_data((zmq_msg_t *)&f[0]), "1.0", 3) != 0) {
                *text = "malformed ZAP request";
                return "500";
        }
        dlen = zmq_msg_size((zmq_msg_t *)&f[2]);
        if (dlen == strlen(HUB_ZAP_DOMAIN_FEED) &&
            memcmp(zmq_msg_data((zmq_msg_t *)&f[2]), HUB_ZAP_DOMAIN_FEED, dlen) == 0) {
                sock = HUB_CONN_FEED;
        } else if (dlen != strlen(HUB_ZAP_DOMAIN) ||
                   memcmp(zmq_msg_data((zmq_msg_t *)&f[2]), HUB_ZAP_DOMAIN, dlen) != 0) {
                *text = "wrong ZAP domain";
                return "400";
        }
        if (zmq_msg_size((zmq_msg_t *)&f[3]) >= sizeof(ip)) {
                *text = "malformed ZAP request";
                return "500";
        }
        memcpy(ip, zmq_msg_data((zmq_msg_t *)&f[3]), zmq_msg_size((zmq_msg_t *)&f[3]));
        ip[zmq_msg_size((zmq_msg_t *)&f[3])] = '\0';
        if (zmq_msg_size((zmq_msg_t *)&f[5]) != 5 ||
            memcmp(zmq_msg_data((zmq_msg_t *)&f[5]), "CURVE", 5) != 0 || nf != 7 ||
            zmq_msg_size((zmq_msg_t *)&f[6]) != KEYS_KEY_BYTES) {
                *text = "only CURVE is accepted";
                return "400";
        }
        r = db_txn_begin(z->st->env, MDB_RDONLY, &txn);
        if (r < 0) {
                *text = "member registry unavailable";
                return "500";
        }
        r = hub_member_by_transport(txn, z->st, zmq_msg_data((zmq_msg_t *)&f[6]), &m);
        db_txn_abort(txn);
        if (r == -ENOENT) {
                *text = "unknown key";
                return "400";
        }
        if (r < 0) {
                *text = "member registry unavailable";
                return "500";
        }
        if (m.state != HUB_MEMBER_ACTIVE) {
                *text = m.state == HUB_MEMBER_SUSPENDED ? "member suspended" : "member revoked";
                return "400";
        }
        if (hub_member_expired(&m, util_now_ms())) {
                *text = "member key expired";
                return "400";
        }
        /* Last, so that only a handshake that passes counts. */
        if (hub_conns_admit(z->conns, sock, m.id, ip) < 0) {
                *text = "too many connections for this member";
                return "400";
        }
        /* The member id and the first bytes of the key that passed, so that
         * every message can be checked against the member's current key. */
        snprintf(user_id, ulen, "%u:%02x%02x%02x%02x", m.id, m.transport[0], m.transport[1],
                 m.transport[2], m.transport[3]);
        *text = "OK";
        return "200";
}

/* Logs how many refusals went without a line of their own. */
static void flush_refusals(struct hub_zap *z)
{
        if (!z->refused_quiet)
                return;
        log_info("refused %llu more handshakes in the second after the last one logged",
                 (unsigned long long)z->refused_quiet);
        z->refused_quiet = 0;
}

static void note_refusal(struct hub_zap *z, const zmq_msg_t *address, const char *why)
{
        uint64_t now = util_mono_ms();
        char addr[64] = "?";
        size_t n = zmq_msg_size((zmq_msg_t *)address);

        if (n < sizeof(addr)) {
                memcpy(addr, zmq_msg_data((zmq_msg_t *)address), n);
                addr[n] = '\0';
        }
        if (z->last_log_ms && now - z->last_log_ms < ZAP_LOG_EVERY_MS) {
                z->refused_quiet++;
                return;
        }
        flush_refusals(z);
        log_info("refused handshake from %s: %s", addr, why);
        z->last_log_ms = now;
}

/* Milliseconds until the second of the last logged refusal closes, when
 * refusals wait to be summed up; -1 otherwise (wait for requests only). */
static long summary_due_in(const struct hub_zap *z)
{
        uint64_t now = util_mono_ms();

        if (!z->refused_quiet)
                return -1;
        if (now - z->last_log_ms >= ZAP_LOG_EVERY_MS)
                return 0;
        return (long)(z->last_log_ms + ZAP_LOG_EVERY_MS - now);
}

static int send_str(void *sock, const char *s, int flags)
{
        return zmq_send(sock, s, strlen(s), flags) < 0 ? -errno : 0;
}

static void *zap_thread(void *arg)
{
        struct hub_zap *z = arg;
        zmq_msg_t f[ZAP_MAX_FRAMES];

        for (;;) {
                size_t nf = 0;
                bool more = true, failed = false;
                const char *code, *text = "";
                char user_id[32] = "";
                zmq_pollitem_t item = { z->sock, 0, ZMQ_POLLIN, 0 };
                int ready = zmq_poll(&item, 1, summary_due_in(z));

                if (ready < 0 && errno == ETERM)
                        break;
                if (ready <= 0) {
                        /* The second closed with nothing more coming. */
                        if (summary_due_in(z) == 0) {
                                flush_refusals(z);
                                z->last_log_ms = 0;
                        }
                        continue;
                }

                while (more) {
                        zmq_msg_t scratch, *m = nf < ZAP_MAX_FRAMES ? &f[nf] : &scratch;

                        zmq_msg_init(m);
                        if (zmq_msg_recv(m, z->sock, 0) < 0) {
                                zmq_msg_close(m);
                                failed = true;
                                break;
                        }
                        more = zmq_msg_more(m);
                        if (m == &scratch)
                                zmq_msg_close(m);
                        else
                                nf++;
                }
                if (failed) {
                        for (size_t i = 0; i < nf; i++)
                                zmq_msg_close(&f[i]);
                        if (errno == ETERM)
                                break;
                        continue;
                }
                if (nf < 2) {
                        for (size_t i = 0; i < nf; i++)
                                zmq_msg_close(&f[i]);
                        continue;
                }
                code = decide(z, f, nf, user_id, sizeof(user_id), &text);
                if (strcmp(code, "200") != 0 && nf >= 4)
                        note_refusal(z, &f[3], text);
                /* Reply: version, request id, status code, status text, user id, metadata. */
                if (send_str(z->sock, "1.0", ZMQ_SNDMORE) < 0 ||
                    zmq_send(z->sock, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE) < 0 ||
                    send_str(z->sock, code, ZMQ_SNDMORE) < 0 ||
                    send_str(z->sock, text, ZMQ_SNDMORE) < 0 ||
                    send_str(z->sock, user_id, ZMQ_SNDMORE) < 0 ||
                    zmq_send(z->sock, "", 0, 0) < 0) {
                        if (errno == ETERM) {
                                for (size_t i = 0; i < nf; i++)
                                        zmq_msg_close(&f[i]);
                                break;
                        }
                        log_warn("cannot answer a ZAP request: %s", zmq_strerror(errno));
                }
                for (size_t i = 0; i < nf; i++)
                        zmq_msg_close(&f[i]);
        }
        flush_refusals(z);
        zmq_close(z->sock);
        z->sock = NULL;
        return NULL;
}

int hub_zap_start(struct hub_zap **ret, void *ctx, struct hub_store *st,
                  struct hub_conns *conns)
{
        struct hub_zap *z = calloc(1, sizeof(*z));
        int linger = 0, r;

        if (!z)
                return -ENOMEM;
        z->st = st;
        z->conns = conns;
        z->sock = zmq_socket(ctx, ZMQ_REP);
        if (!z->sock) {
                r = -errno;
                goto fail;
        }
        if (zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
            zmq_bind(z->sock, ZAP_ENDPOINT) < 0) {
                r = -errno;
                goto fail;
        }
        /* The socket moves to the thread; pthread_create is a full barrier. */
        r = -pthread_create(&z->thread, NULL, zap_thread, z);
        if (r < 0)
                goto fail;
        z->started = true;
        *ret = z;
        return 0;
fail:
        if (z->sock)
                zmq_close(z->sock);
        free(z);
        return r;
}

void hub_zap_stop(struct hub_zap *z)
{
        if (!z)
                return;
        if (z->started)
                pthread_join(z->thread, NULL);
        free(z);
}
