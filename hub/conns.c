/* conns.c: see conns.h. */
#include "conns.h"

#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "log.h"

#define CONNS_EVENTS (ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_ACCEPT_FAILED)
/* Descriptors kept for the stores, the ZAP and monitor sockets and logs. */
#define CONNS_FD_RESERVE 64
/* Disconnections between two returns of freed memory to the system. */
#define CONNS_TRIM_AFTER 64
/* An admission that no connection took within the handshake time and this
 * much more is forgotten (its handshake failed after ZAP). */
#define CONNS_ADMIT_SLACK_MS 2000
#define CONNS_IP_MAX 64

enum conn_state {
        CONN_FREE = 0,
        CONN_HANDSHAKE,         /* accepted, no member admitted from its address yet */
        CONN_UP,                /* a member's */
        CONN_CLOSING,           /* shut by the hub; waiting for libzmq to close it */
};

struct conn {
        enum conn_state state;
        uint32_t member;
        uint64_t order;                 /* accept order */
        uint32_t messages;              /* messages seen from it (saturating) */
        struct sockaddr_storage peer;
        socklen_t peer_len;
        char ip[CONNS_IP_MAX];
        bool logged;                    /* its connection was logged */
};

/* One watched socket: its monitor and its connections by descriptor. */
struct table {
        struct conn *by_fd;
        size_t size;
        void *monitor;
        void *sock;
        unsigned int generation;
};

/* An admission by ZAP not yet matched to a connection. */
struct admission {
        enum hub_conn_socket s;
        uint32_t member;
        uint64_t at_ms;
        char ip[CONNS_IP_MAX];
};

struct member_count {
        uint32_t member;
        uint32_t live[HUB_CONN_SOCKETS];        /* matched connections */
        uint32_t admitted[HUB_CONN_SOCKETS];    /* admissions not yet matched */
};

struct hub_conns {
        const struct hub_limits *limits;
        uint32_t unauth_max;
        struct table t[HUB_CONN_SOCKETS];
        uint64_t next_order;
        size_t handshaking;
        uint64_t shed, shed_logged, accept_failed;
        uint64_t closed_since_trim;
        /* Shared with the ZAP thread, under lock: */
        pthread_mutex_t lock;
        struct member_count *members;
        size_t nmembers, members_cap;
        struct admission *admissions;
        size_t nadmissions, admissions_cap;
        /* Names members in the connection log lines (hub loop only). */
        int (*namer)(void *userdata, uint32_t member, char *name, size_t len);
        void *namer_data;
        /* Members that connected or disconnected since hub_conns_presence()
         * last took them (hub loop only). */
        uint32_t *seen;
        size_t nseen, seen_cap;
};

static const char *const socket_names[HUB_CONN_SOCKETS] = { "envelope", "alert feed" };

static void raise_fd_limit(void)
{
        struct rlimit rl;
        rlim_t before;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
                log_warn("cannot read the file descriptor limit: %s", strerror(errno));
                return;
        }
        before = rl.rlim_cur;
        if (rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
                        log_warn("cannot raise the file descriptor limit from %llu to %llu: %s",
                                 (unsigned long long)before, (unsigned long long)rl.rlim_max,
                                 strerror(errno));
                        return;
                }
                log_info("file descriptor limit raised from %llu to %llu",
                         (unsigned long long)before, (unsigned long long)rl.rlim_cur);
                return;
        }
        log_info("file descriptor limit: %llu", (unsigned long long)rl.rlim_cur);
}

static uint64_t fd_limit(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                return 1u << 20;
        return (uint64_t)rl.rlim_cur;
}

int hub_conns_new(struct hub_conns **ret, const struct hub_limits *limits)
{
        struct hub_conns *c = calloc(1, sizeof(*c));
        struct sigaction sa;
        uint64_t fds, quarter;

        if (!c)
                return -ENOMEM;
        /* libzmq writes with send(2) without MSG_NOSIGNAL; after shutdown(2)
         * of a connection that write must fail with EPIPE, not kill the hub. */
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_IGN;
        (void)sigaction(SIGPIPE, &sa, NULL);
        raise_fd_limit();
        c->limits = limits;
        c->unauth_max = limits->unauthenticated;
        fds = fd_limit();
        quarter = fds > CONNS_FD_RESERVE * 2 ? (fds - CONNS_FD_RESERVE) / 4 : 16;
        if (c->unauth_max > quarter) {
                c->unauth_max = (uint32_t)quarter;
                log_info("[limits] unauthenticated lowered from %u to %u: a quarter of the %llu "
                         "file descriptors", limits->unauthenticated, c->unauth_max,
                         (unsigned long long)fds);
        }
        pthread_mutex_init(&c->lock, NULL);
        *ret = c;
        return 0;
}

void hub_conns_free(struct hub_conns *c)
{
        if (!c)
                return;
        for (int s = 0; s < HUB_CONN_SOCKETS; s++) {
                hub_conns_unwatch(c, (enum hub_conn_socket)s);
                free(c->t[s].by_fd);
        }
        free(c->members);
        free(c->admissions);
        free(c->seen);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

/* The count of member, added when absent; NULL when out of memory. Under lock. */
static struct member_count *member_get(struct hub_conns *c, uint32_t member, bool add)
{
        for (size_t i = 0; i < c->nmembers; i++)
                if (c->members[i].member == member)
                        return &c->members[i];
        if (!add)
                return NULL;
        if (c->nmembers == c->members_cap) {
                size_t n = c->members_cap ? c->members_cap * 2 : 64;
                struct member_count *m = realloc(c->members, n * sizeof(*m));

                if (!m)
                        return NULL;
                c->members = m;
                c->members_cap = n;
        }
        memset(&c->members[c->nmembers], 0, sizeof(c->members[0]));
        c->members[c->nmembers].member = member;
        return &c->members[c->nmembers++];
}

/* Drops a member's entry once it counts nothing. Under lock. */
static void member_tidy(struct hub_conns *c, struct member_count *m)
{
        for (int s = 0; s < HUB_CONN_SOCKETS; s++)
                if (m->live[s] || m->admitted[s])
                        return;
        *m = c->members[--c->nmembers];
}

int hub_conns_presence(struct hub_conns *c, uint32_t **connected, size_t *nconnected,
                       uint32_t **seen, size_t *nseen)
{
        uint32_t *up;
        size_t n = 0;

        pthread_mutex_lock(&c->lock);
        up = malloc((c->nmembers ? c->nmembers : 1) * sizeof(*up));
        if (!up) {
                pthread_mutex_unlock(&c->lock);
                return -ENOMEM;
        }
        for (size_t i = 0; i < c->nmembers; i++)
                if (c->members[i].live[HUB_CONN_ROUTER] || c->members[i].live[HUB_CONN_FEED])
                        up[n++] = c->members[i].member;
        pthread_mutex_unlock(&c->lock);
        *connected = up;
        *nconnected = n;
        *seen = c->seen;
        *nseen = c->nseen;
        c->seen = NULL;
        c->nseen = c->seen_cap = 0;
        return 0;
}

uint32_t hub_conns_members_connected(struct hub_conns *c)
{
        uint32_t n = 0;

        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->nmembers; i++)
                if (c->members[i].live[HUB_CONN_ROUTER] || c->members[i].live[HUB_CONN_FEED])
                        n++;
        pthread_mutex_unlock(&c->lock);
        return n;
}

int hub_conns_admit(struct hub_conns *c, enum hub_conn_socket s, uint32_t member, const char *ip)
{
        struct member_count *m;
        int r = 0;

        pthread_mutex_lock(&c->lock);
        m = member_get(c, member, true);
        if (!m) {
                /* Out of memory: admit uncounted rather than lock members out. */
                goto out;
        }
        if (m->live[s] + m->admitted[s] >= c->limits->member_connections) {
                r = -EUSERS;
                goto out;
        }
        if (c->nadmissions == c->admissions_cap) {
                size_t n = c->admissions_cap ? c->admissions_cap * 2 : 64;
                struct admission *a = realloc(c->admissions, n * sizeof(*a));

                if (!a)
                        goto out;
                c->admissions = a;
                c->admissions_cap = n;
        }
        c->admissions[c->nadmissions] = (struct admission){ s, member, util_mono_ms(), "" };
        snprintf(c->admissions[c->nadmissions].ip, CONNS_IP_MAX, "%s", ip);
        c->nadmissions++;
        m->admitted[s]++;
out:
        if (m)
                member_tidy(c, m);
        pthread_mutex_unlock(&c->lock);
        return r;
}

/* The numeric host of a peer address, as ZAP's address frame has it. */
static void peer_ip(const struct sockaddr_storage *sa, socklen_t len, char ip[CONNS_IP_MAX])
{
        if (getnameinfo((const struct sockaddr *)sa, len, ip, CONNS_IP_MAX, NULL, 0,
                        NI_NUMERICHOST) != 0)
                snprintf(ip, CONNS_IP_MAX, "?");
}

/* Is fd still the connection recorded in e (same peer address and port)? */
static bool same_peer(int fd, const struct conn *e)
{
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);

        return getpeername(fd, (struct sockaddr *)&sa, &len) == 0 && len == e->peer_len &&
               memcmp(&sa, &e->peer, len) == 0;
}

/* Stops counting e, in handshake or against its member. */
static void conn_uncount(struct hub_conns *c, enum hub_conn_socket s, struct conn *e)
{
        if (e->state == CONN_HANDSHAKE)
                c->handshaking--;
        if (e->state == CONN_UP && e->member) {
                struct member_count *m;

                pthread_mutex_lock(&c->lock);
                m = member_get(c, e->member, false);
                if (m && m->live[s] > 0)
                        m->live[s]--;
                if (m)
                        member_tidy(c, m);
                pthread_mutex_unlock(&c->lock);
        }
}

/* Forgets e. */
static void conn_release(struct hub_conns *c, enum hub_conn_socket s, struct conn *e)
{
        conn_uncount(c, s, e);
        memset(e, 0, sizeof(*e));
}

/* Shuts the connection on fd (see conns.h); true when it was. */
static bool conn_shut(struct hub_conns *c, enum hub_conn_socket s, int fd)
{
        struct conn *e = &c->t[s].by_fd[fd];

        if (!same_peer(fd, e) || shutdown(fd, SHUT_RDWR) < 0)
                return false;
        /* Closing: it no longer counts against its member or the handshakes. */
        conn_uncount(c, s, e);
        e->state = CONN_CLOSING;
        e->member = 0;
        return true;
}

static struct conn *conn_at(struct hub_conns *c, enum hub_conn_socket s, int fd, bool grow)
{
        struct table *t = &c->t[s];

        if (fd < 0)
                return NULL;
        if ((size_t)fd >= t->size) {
                size_t n = t->size ? t->size : 256;
                struct conn *p;

                if (!grow)
                        return NULL;
                while (n <= (size_t)fd)
                        n *= 2;
                p = realloc(t->by_fd, n * sizeof(*p));
                if (!p)
                        return NULL;
                memset(p + t->size, 0, (n - t->size) * sizeof(*p));
                t->by_fd = p;
                t->size = n;
        }
        return &t->by_fd[fd];
}

void hub_conns_set_namer(struct hub_conns *c,
                         int (*namer)(void *userdata, uint32_t member, char *name, size_t len),
                         void *userdata)
{
        c->namer = namer;
        c->namer_data = userdata;
}

/* Logs that member connected to or disconnected from socket s: by name
 * (falling back to the id), never with anything it sent. */
static void log_conn(struct hub_conns *c, enum hub_conn_socket s, uint32_t member,
                     const char *ip, bool up)
{
        char name[64];

        /* Remembered for the presence records; when memory is short the
         * member's next connection or the next write's connected list
         * records it instead. */
        if (c->nseen == c->seen_cap) {
                size_t cap = c->seen_cap ? 2 * c->seen_cap : 64;
                uint32_t *grown = realloc(c->seen, cap * sizeof(*grown));

                if (grown) {
                        c->seen = grown;
                        c->seen_cap = cap;
                }
        }
        if (c->nseen < c->seen_cap)
                c->seen[c->nseen++] = member;
        if (!c->namer || c->namer(c->namer_data, member, name, sizeof(name)) < 0)
                snprintf(name, sizeof(name), "#%u", member);
        if (up)
                log_info("member %s connected to the %s socket from %s", name, socket_names[s],
                         ip);
        else
                log_info("member %s disconnected from the %s socket", name, socket_names[s]);
}

static void on_accepted(struct hub_conns *c, enum hub_conn_socket s, int fd)
{
        struct conn *e = conn_at(c, s, fd, true);

        if (!e)
                return;
        /* The disconnection of the descriptor's last user was not seen. */
        if (e->state != CONN_FREE)
                conn_release(c, s, e);
        e->peer_len = sizeof(e->peer);
        if (getpeername(fd, (struct sockaddr *)&e->peer, &e->peer_len) < 0)
                return; /* gone already */
        peer_ip(&e->peer, e->peer_len, e->ip);
        e->state = CONN_HANDSHAKE;
        e->order = ++c->next_order;
        c->handshaking++;
}

static void on_disconnected(struct hub_conns *c, enum hub_conn_socket s, int fd)
{
        struct conn *e = conn_at(c, s, fd, false);

        if (!e || e->state == CONN_FREE)
                return;
        if (e->state == CONN_UP && e->member)
                log_conn(c, s, e->member, e->ip, false);
        conn_release(c, s, e);
        c->closed_since_trim++;
}

/* Reads the waiting events of one monitor. */
static void read_events(struct hub_conns *c, enum hub_conn_socket s)
{
        void *mon = c->t[s].monitor;

        while (mon) {
                zmq_msg_t ev, addr;
                uint16_t event;
                uint32_t value;
                bool ok;

                zmq_msg_init(&ev);
                if (zmq_msg_recv(&ev, mon, ZMQ_DONTWAIT) < 0) {
                        zmq_msg_close(&ev);
                        return;
                }
                ok = zmq_msg_size(&ev) == 6;
                if (ok) {
                        memcpy(&event, zmq_msg_data(&ev), sizeof(event));
                        memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, sizeof(value));
                }
                /* The second frame, the endpoint, is not needed. */
                while (zmq_msg_more(&ev)) {
                        zmq_msg_init(&addr);
                        if (zmq_msg_recv(&addr, mon, ZMQ_DONTWAIT) < 0) {
                                zmq_msg_close(&addr);
                                break;
                        }
                        zmq_msg_close(&ev);
                        ev = addr;
                }
                zmq_msg_close(&ev);
                if (!ok)
                        continue;
                if (event == ZMQ_EVENT_ACCEPTED)
                        on_accepted(c, s, (int)value);
                else if (event == ZMQ_EVENT_DISCONNECTED)
                        on_disconnected(c, s, (int)value);
                else if (event == ZMQ_EVENT_ACCEPT_FAILED)
                        c->accept_failed++;
        }
}

static int by_order(const void *a, const void *b)
{
        const struct conn *x = *(struct conn *const *)a, *y = *(struct conn *const *)b;

        return x->order < y->order ? -1 : x->order > y->order;
}

/* Gives each admission the oldest connection in handshake from its address.
 * The connections in handshake are gathered once, oldest first, so that a
 * storm of reconnections costs admissions x handshakes, not x descriptors. */
static void match_admissions(struct hub_conns *c)
{
        struct conn **hs[HUB_CONN_SOCKETS] = { NULL, NULL };
        size_t nhs[HUB_CONN_SOCKETS] = { 0, 0 }, kept = 0;

        for (int s = 0; s < HUB_CONN_SOCKETS; s++) {
                struct table *t = &c->t[s];

                hs[s] = malloc((c->handshaking + 1) * sizeof(*hs[s]));
                if (!hs[s])
                        goto out;
                for (size_t fd = 0; fd < t->size && nhs[s] < c->handshaking; fd++)
                        if (t->by_fd[fd].state == CONN_HANDSHAKE)
                                hs[s][nhs[s]++] = &t->by_fd[fd];
                qsort(hs[s], nhs[s], sizeof(*hs[s]), by_order);
        }
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->nadmissions; i++) {
                struct admission *a = &c->admissions[i];
                struct conn *best = NULL;
                struct member_count *m;

                for (size_t k = 0; k < nhs[a->s] && !best; k++)
                        if (hs[a->s][k]->state == CONN_HANDSHAKE &&
                            strcmp(hs[a->s][k]->ip, a->ip) == 0)
                                best = hs[a->s][k];
                if (!best) {
                        /* Its ACCEPTED event is not read yet. */
                        c->admissions[kept++] = *a;
                        continue;
                }
                best->state = CONN_UP;
                best->member = a->member;
                best->logged = false;
                c->handshaking--;
                m = member_get(c, a->member, true);
                if (m) {
                        m->admitted[a->s]--;
                        m->live[a->s]++;
                }
        }
        c->nadmissions = kept;
        pthread_mutex_unlock(&c->lock);
        /* Outside the lock: naming reads the registry. */
        for (int s = 0; s < HUB_CONN_SOCKETS; s++)
                for (size_t k = 0; k < nhs[s]; k++)
                        if (hs[s][k]->state == CONN_UP && !hs[s][k]->logged) {
                                hs[s][k]->logged = true;
                                log_conn(c, (enum hub_conn_socket)s, hs[s][k]->member,
                                         hs[s][k]->ip, true);
                        }
out:
        free(hs[0]);
        free(hs[1]);
}

/* Closes the oldest connections in handshake beyond the limit. */
static void shed(struct hub_conns *c)
{
        while (c->handshaking > c->unauth_max) {
                struct conn *oldest = NULL;
                enum hub_conn_socket os = HUB_CONN_ROUTER;
                int ofd = -1;

                for (int s = 0; s < HUB_CONN_SOCKETS; s++) {
                        struct table *t = &c->t[s];

                        for (size_t fd = 0; fd < t->size; fd++) {
                                struct conn *e = &t->by_fd[fd];

                                if (e->state == CONN_HANDSHAKE &&
                                    (!oldest || e->order < oldest->order)) {
                                        oldest = e;
                                        os = (enum hub_conn_socket)s;
                                        ofd = (int)fd;
                                }
                        }
                }
                if (!oldest)
                        return;
                if (!conn_shut(c, os, ofd)) {
                        /* Already gone; its DISCONNECTED event is on its way. */
                        conn_release(c, os, oldest);
                        continue;
                }
                c->shed++;
        }
}

void hub_conns_events(struct hub_conns *c)
{
        bool admitted;

        for (int s = 0; s < HUB_CONN_SOCKETS; s++)
                read_events(c, (enum hub_conn_socket)s);
        pthread_mutex_lock(&c->lock);
        admitted = c->nadmissions > 0;
        pthread_mutex_unlock(&c->lock);
        if (admitted)
                match_admissions(c);
        shed(c);
}

int hub_conns_watch(struct hub_conns *c, void *ctx, void *sock, enum hub_conn_socket s,
                    void **monitor)
{
        struct table *t = &c->t[s];
        char ep[64];
        int hwm = 0, linger = 0;

        hub_conns_unwatch(c, s);
        snprintf(ep, sizeof(ep), "inproc://nmo-hub-conns-%d-%u", (int)s, ++t->generation);
        if (zmq_socket_monitor(sock, ep, CONNS_EVENTS) < 0)
                return -errno;
        t->monitor = zmq_socket(ctx, ZMQ_PAIR);
        if (!t->monitor)
                return -errno;
        /* Unbounded: a lost ACCEPTED or DISCONNECTED would leave a count wrong. */
        if (zmq_setsockopt(t->monitor, ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0 ||
            zmq_setsockopt(t->monitor, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
            zmq_connect(t->monitor, ep) < 0) {
                int r = -errno;

                zmq_close(t->monitor);
                t->monitor = NULL;
                return r;
        }
        t->sock = sock;
        *monitor = t->monitor;
        return 0;
}

static void table_forget(struct hub_conns *c, enum hub_conn_socket s)
{
        struct table *t = &c->t[s];
        size_t kept = 0;

        for (size_t fd = 0; fd < t->size; fd++)
                if (t->by_fd[fd].state != CONN_FREE)
                        conn_release(c, s, &t->by_fd[fd]);
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->nadmissions; i++) {
                struct member_count *m;

                if (c->admissions[i].s != s) {
                        c->admissions[kept++] = c->admissions[i];
                        continue;
                }
                m = member_get(c, c->admissions[i].member, false);
                if (m && m->admitted[s] > 0)
                        m->admitted[s]--;
                if (m)
                        member_tidy(c, m);
        }
        c->nadmissions = kept;
        pthread_mutex_unlock(&c->lock);
}

void hub_conns_unwatch(struct hub_conns *c, enum hub_conn_socket s)
{
        struct table *t = &c->t[s];

        if (t->sock)
                (void)zmq_socket_monitor(t->sock, NULL, 0);
        if (t->monitor)
                zmq_close(t->monitor);
        t->monitor = NULL;
        t->sock = NULL;
        table_forget(c, s);
}

/* A connection still counted in handshake speaks for member: it takes that
 * member's oldest admission from its address (or, when another connection
 * took it, counts as the member's without one). */
static void take_admission(struct hub_conns *c, enum hub_conn_socket s, struct conn *e,
                           uint32_t member)
{
        struct member_count *m;
        size_t i;

        pthread_mutex_lock(&c->lock);
        for (i = 0; i < c->nadmissions; i++)
                if (c->admissions[i].s == s && c->admissions[i].member == member &&
                    strcmp(c->admissions[i].ip, e->ip) == 0)
                        break;
        m = member_get(c, member, true);
        if (i < c->nadmissions) {
                memmove(&c->admissions[i], &c->admissions[i + 1],
                        (c->nadmissions - i - 1) * sizeof(c->admissions[0]));
                c->nadmissions--;
                if (m && m->admitted[s] > 0)
                        m->admitted[s]--;
        }
        if (m)
                m->live[s]++;
        pthread_mutex_unlock(&c->lock);
        e->state = CONN_UP;
        e->member = member;
        c->handshaking--;
}

bool hub_conns_message(struct hub_conns *c, enum hub_conn_socket s, const zmq_msg_t *msg,
                       uint32_t member, uint32_t *count)
{
        struct conn *e = conn_at(c, s, zmq_msg_get(msg, ZMQ_SRCFD), false);
        struct member_count *m;

        if (count)
                *count = 1;
        if (!e)
                return true;
        if (e->state == CONN_CLOSING)
                return false;
        if (e->messages < UINT32_MAX)
                e->messages++;
        if (count)
                *count = e->messages;
        if (e->state == CONN_HANDSHAKE && member) {
                take_admission(c, s, e, member);
                return true;
        }
        if (e->state != CONN_UP || !member || e->member == member)
                return true;
        /* Two members handshook from one address at once and the admissions
         * were matched the other way round: the message says whose it is. */
        pthread_mutex_lock(&c->lock);
        m = member_get(c, e->member, false);
        if (m && m->live[s] > 0)
                m->live[s]--;
        if (m)
                member_tidy(c, m);
        m = member_get(c, member, true);
        if (m)
                m->live[s]++;
        pthread_mutex_unlock(&c->lock);
        e->member = member;
        return true;
}

void hub_conns_drop(struct hub_conns *c, enum hub_conn_socket s, const zmq_msg_t *msg,
                    const char *why)
{
        int fd = zmq_msg_get(msg, ZMQ_SRCFD);
        struct conn *e = conn_at(c, s, fd, false);
        uint32_t member;

        if (!e || e->state == CONN_FREE || e->state == CONN_CLOSING)
                return;
        member = e->member;
        if (conn_shut(c, s, fd))
                log_warn("closed a connection of member %u to the %s socket: %s", member,
                         socket_names[s], why);
}

void hub_conns_tick(struct hub_conns *c)
{
        uint64_t now = util_mono_ms(), ttl = c->limits->handshake_ms + CONNS_ADMIT_SLACK_MS;
        size_t kept = 0;

        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->nadmissions; i++) {
                struct admission *a = &c->admissions[i];
                struct member_count *m;

                if (now - a->at_ms < ttl) {
                        c->admissions[kept++] = *a;
                        continue;
                }
                m = member_get(c, a->member, false);
                if (m && m->admitted[a->s] > 0)
                        m->admitted[a->s]--;
                if (m)
                        member_tidy(c, m);
        }
        c->nadmissions = kept;
        pthread_mutex_unlock(&c->lock);
        if (c->shed != c->shed_logged) {
                log_warn("closed %llu connections that had not finished the handshake ([limits] "
                         "unauthenticated = %u)", (unsigned long long)(c->shed - c->shed_logged),
                         c->unauth_max);
                c->closed_since_trim += c->shed - c->shed_logged;
                c->shed_logged = c->shed;
        }
        if (c->accept_failed) {
                log_error("%llu connections could not be accepted (out of file descriptors?)",
                          (unsigned long long)c->accept_failed);
                c->accept_failed = 0;
        }
        /* Closed connections leave their buffers in malloc's free lists;
         * after a storm of them, give the memory back. */
        if (c->closed_since_trim >= CONNS_TRIM_AFTER) {
                (void)malloc_trim(0);
                c->closed_since_trim = 0;
        }
}
