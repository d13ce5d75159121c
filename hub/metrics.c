/* metrics.c: see metrics.h. */
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "analytics.h"
#include "config.h"
#include "conns.h"
#include "journal.h"
#include "log.h"
#include "member.h"
#include "receipt.h"
#include "store.h"

/* Envelopes per committed batch; a batch holds at most [limits] batch. */
static const double batch_bounds[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000 };
/* Seconds a commit with its receipts' signatures takes. */
static const double commit_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,   0.25,   0.5,   1,    2.5,   5 };
#define BOUNDS_MAX 12

/* A few scrapers at once at most; a slow one is cut off. */
#define METRICS_CONNECTIONS 8
#define METRICS_TIMEOUT_S 10

struct histogram {
        const double *bounds;
        size_t nbounds;
        uint64_t buckets[BOUNDS_MAX];   /* not cumulative; summed when formatted */
        uint64_t count;
        double sum;
};

/* What the loop last read; under hub_metrics.lock. */
struct snapshot {
        bool collected;
        uint64_t accepted, duplicates, rejected, batches;
        uint64_t refusals[RECEIPT_REASON_LAST + 1];
        uint64_t members[3];            /* active, suspended, revoked */
        uint64_t connected, expiring, expired;
        bool has_backlog;
        uint64_t backlog;
        uint64_t used_bytes, map_bytes;
        uint64_t releases;
};

struct hub_metrics {
        struct MHD_Daemon *daemon;
        pthread_mutex_t lock;
        struct snapshot snap;
        struct histogram batch_size, commit_seconds;
};

static void observe(struct histogram *h, double v)
{
        size_t i;

        for (i = 0; i < h->nbounds && v > h->bounds[i]; i++)
                ;
        /* Beyond the last bound: only in +Inf, which is the count. */
        if (i < h->nbounds)
                h->buckets[i]++;
        h->count++;
        h->sum += v;
}

double hub_metrics_clock(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void hub_metrics_batch(struct hub_metrics *m, size_t n, double seconds)
{
        if (!m)
                return;
        pthread_mutex_lock(&m->lock);
        observe(&m->batch_size, (double)n);
        observe(&m->commit_seconds, seconds);
        m->snap.batches++;
        pthread_mutex_unlock(&m->lock);
}

struct collect_ctx {
        struct hub_store *st;
        struct snapshot s;
        uint64_t now;
};

static int count_expiry(const struct hub_member *mb, void *userdata)
{
        struct collect_ctx *c = userdata;

        /* As `nmo-hub stats` counts them. */
        if (mb->state != HUB_MEMBER_ACTIVE || !mb->expires_ms)
                return 0;
        if (hub_member_expired(mb, c->now))
                c->s.expired++;
        else if (mb->expires_ms - c->now < HUB_MEMBER_EXPIRY_WARN_MS)
                c->s.expiring++;
        return 0;
}

static int collect_txn(MDB_txn *txn, void *userdata)
{
        struct collect_ctx *c = userdata;
        uint64_t counts[4];
        MDB_envinfo info;
        MDB_stat env_stat;
        int r;

        r = hub_store_meta_get(txn, c->st, HUB_META_SIGNALS, &c->s.accepted);
        if (r == 0)
                r = hub_store_meta_get(txn, c->st, HUB_META_DUPLICATES, &c->s.duplicates);
        if (r == 0)
                r = hub_store_meta_get(txn, c->st, HUB_META_REJECTED, &c->s.rejected);
        for (int reason = 1; r == 0 && reason <= RECEIPT_REASON_LAST; reason++) {
                char name[64];

                snprintf(name, sizeof(name), "%s.%s", HUB_META_REJECTED,
                         reason_name((Nmo__Reason)reason));
                r = hub_store_meta_get(txn, c->st, name, &c->s.refusals[reason]);
        }
        if (r == 0)
                r = hub_member_count(txn, c->st, counts);
        if (r < 0)
                return r;
        c->s.members[0] = counts[HUB_MEMBER_ACTIVE];
        c->s.members[1] = counts[HUB_MEMBER_SUSPENDED];
        c->s.members[2] = counts[HUB_MEMBER_REVOKED];
        c->now = util_now_ms();
        r = hub_member_foreach(txn, c->st, count_expiry, c);
        if (r < 0)
                return r;
        if (mdb_env_info(c->st->env, &info) == 0 && mdb_env_stat(c->st->env, &env_stat) == 0) {
                c->s.used_bytes = (uint64_t)(info.me_last_pgno + 1) * env_stat.ms_psize;
                c->s.map_bytes = (uint64_t)info.me_mapsize;
        }
        if (c->st->cenv && hub_journal_backlog(c->st, txn, &c->s.backlog) == 0)
                c->s.has_backlog = true;
        return 0;
}

static int count_release(const Nmo__Hub__Release *rel, void *userdata)
{
        uint64_t *n = userdata;

        (void)rel;
        (*n)++;
        return 0;
}

void hub_metrics_collect(struct hub_metrics *m, struct hub_store *st, struct analytics *an,
                         struct hub_conns *conns)
{
        struct collect_ctx c;
        uint64_t releases = 0;
        bool have_releases;
        int r;

        if (!m)
                return;
        memset(&c, 0, sizeof(c));
        c.st = st;
        /* Read outside the lock: the HTTP thread waits only for the copy. */
        r = hub_store_read(st, collect_txn, &c);
        if (r < 0)
                log_debug("metrics: cannot read the private store: %s", strerror(-r));
        have_releases = an && analytics_foreach_release(an, count_release, &releases) == 0;
        c.s.connected = conns ? hub_conns_members_connected(conns) : 0;
        pthread_mutex_lock(&m->lock);
        c.s.batches = m->snap.batches;
        if (!have_releases)
                releases = m->snap.releases;
        c.s.releases = releases;
        if (r == 0) {
                c.s.collected = true;
                m->snap = c.s;
        } else {
                m->snap.connected = c.s.connected;
                m->snap.releases = releases;
        }
        pthread_mutex_unlock(&m->lock);
}

static void put_header(FILE *f, const char *name, const char *type, const char *help)
{
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_value(FILE *f, const char *name, const char *type, const char *help,
                      uint64_t v)
{
        put_header(f, name, type, help);
        fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static void put_histogram(FILE *f, const char *name, const char *help,
                          const struct histogram *h)
{
        uint64_t cum = 0;

        put_header(f, name, "histogram", help);
        for (size_t i = 0; i < h->nbounds; i++) {
                cum += h->buckets[i];
                fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
                        (unsigned long long)cum);
        }
        fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
        fprintf(f, "%s_sum %.9g\n", name, h->sum);
        fprintf(f, "%s_count %llu\n", name, (unsigned long long)h->count);
}

int hub_metrics_format(struct hub_metrics *m, char **out, size_t *len)
{
        static const char *const states[3] = { "active", "suspended", "revoked" };
        struct histogram batch_size, commit_seconds;
        struct snapshot s;
        char *buf = NULL;
        size_t n = 0;
        FILE *f;

        pthread_mutex_lock(&m->lock);
        s = m->snap;
        batch_size = m->batch_size;
        commit_seconds = m->commit_seconds;
        pthread_mutex_unlock(&m->lock);
        f = open_memstream(&buf, &n);
        if (!f)
                return -ENOMEM;
        put_value(f, "nmo_hub_signals_accepted_total", "counter",
                  "Signals stored (signals_stored of nmo-hub stats).", s.accepted);
        put_value(f, "nmo_hub_duplicates_total", "counter",
                  "Repeated envelopes answered with their original receipt.", s.duplicates);
        put_header(f, "nmo_hub_refusals_total", "counter",
                   "Envelopes refused, by the reason their receipt names.");
        for (int reason = 1; reason <= RECEIPT_REASON_LAST; reason++)
                fprintf(f, "nmo_hub_refusals_total{reason=\"%s\"} %llu\n",
                        reason_name((Nmo__Reason)reason),
                        (unsigned long long)s.refusals[reason]);
        put_value(f, "nmo_hub_batches_total", "counter",
                  "Batches committed since this nmo-hub serve started.", s.batches);
        put_header(f, "nmo_hub_members", "gauge", "Members in the registry, by state.");
        for (size_t i = 0; i < 3; i++)
                fprintf(f, "nmo_hub_members{state=\"%s\"} %llu\n", states[i],
                        (unsigned long long)s.members[i]);
        put_value(f, "nmo_hub_members_connected", "gauge",
                  "Distinct members holding an admitted connection.", s.connected);
        put_value(f, "nmo_hub_members_key_expiring_30d", "gauge",
                  "Active members whose key expires within 30 days.", s.expiring);
        put_value(f, "nmo_hub_members_key_expired", "gauge",
                  "Active members whose key has expired.", s.expired);
        put_histogram(f, "nmo_hub_batch_size", "Envelopes per committed batch.", &batch_size);
        put_histogram(f, "nmo_hub_commit_seconds",
                      "Seconds to commit a batch and sign its receipts.", &commit_seconds);
        if (s.has_backlog)
                put_value(f, "nmo_hub_aggregation_backlog", "gauge",
                          "Accepted signals the aggregation has not counted yet.", s.backlog);
        put_value(f, "nmo_hub_store_used_bytes", "gauge",
                  "Bytes of the private store in use.", s.used_bytes);
        put_value(f, "nmo_hub_store_map_bytes", "gauge",
                  "Size of the private store's memory map (its largest size).", s.map_bytes);
        put_value(f, "nmo_hub_releases_total", "counter",
                  "Releases of aggregate figures so far.", s.releases);
        if (fclose(f) != 0 || !buf) {
                free(buf);
                return -ENOMEM;
        }
        *out = buf;
        *len = n;
        return 0;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode,
                             const char *content_type)
{
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
        enum MHD_Result ret;

        if (!resp) {
                if (mode == MHD_RESPMEM_MUST_FREE)
                        free(body);
                return MHD_NO;
        }
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
        static const char not_found[] = "only /metrics is served here\n";
        static const char not_allowed[] = "only GET and HEAD\n";
        static const char failed[] = "out of memory\n";
        struct hub_metrics *m = cls;
        char *body = NULL;
        size_t len = 0;

        (void)version;
        (void)upload_data;
        /* A body is not asked for: drop it, answer at its end. */
        if (*upload_data_size) {
                *upload_data_size = 0;
                return MHD_YES;
        }
        (void)con_cls;
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
                return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, (char *)not_allowed,
                             sizeof(not_allowed) - 1, MHD_RESPMEM_PERSISTENT,
                             "text/plain; charset=utf-8");
        if (strcmp(url, "/metrics") != 0)
                return reply(conn, MHD_HTTP_NOT_FOUND, (char *)not_found, sizeof(not_found) - 1,
                             MHD_RESPMEM_PERSISTENT, "text/plain; charset=utf-8");
        if (hub_metrics_format(m, &body, &len) < 0)
                return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, (char *)failed,
                             sizeof(failed) - 1, MHD_RESPMEM_PERSISTENT,
                             "text/plain; charset=utf-8");
        return reply(conn, MHD_HTTP_OK, body, len, MHD_RESPMEM_MUST_FREE,
                     "text/plain; version=0.0.4; charset=utf-8");
}

/* The listening socket, made here so that a bind failure has its errno. */
static int open_listener(const char *listen_on, int *fd_out)
{
        struct sockaddr_storage addr;
        unsigned int addr_len = 0;
        int fd, one = 1, r;

        if (hub_config_metrics_addr(listen_on, &addr, &addr_len) < 0) {
                log_error("[metrics] listen: '%s' is not ADDRESS:PORT", listen_on);
                return -EINVAL;
        }
        fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                r = -errno;
                log_error("cannot serve metrics on %s: %s", listen_on, strerror(-r));
                return r;
        }
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&addr, addr_len) < 0 || listen(fd, 16) < 0) {
                r = -errno;
                log_error("cannot serve metrics on %s: %s", listen_on, strerror(-r));
                close(fd);
                return r;
        }
        *fd_out = fd;
        return 0;
}

int hub_metrics_start(struct hub_metrics **ret, const char *listen_on)
{
        struct hub_metrics *m = calloc(1, sizeof(*m));
        int fd = -1, r;

        if (!m)
                return -ENOMEM;
        pthread_mutex_init(&m->lock, NULL);
        m->batch_size.bounds = batch_bounds;
        m->batch_size.nbounds = NMO_ARRAY_SIZE(batch_bounds);
        m->commit_seconds.bounds = commit_bounds;
        m->commit_seconds.nbounds = NMO_ARRAY_SIZE(commit_bounds);
        r = open_listener(listen_on, &fd);
        if (r < 0)
                goto cleanup;
        m->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL,
                                     NULL, on_request, m, MHD_OPTION_LISTEN_SOCKET, fd,
                                     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_CONNECTIONS,
                                     MHD_OPTION_CONNECTION_TIMEOUT,
                                     (unsigned int)METRICS_TIMEOUT_S, MHD_OPTION_END);
        if (!m->daemon) {
                log_error("cannot serve metrics on %s: libmicrohttpd did not start", listen_on);
                close(fd);
                r = -EIO;
                goto cleanup;
        }
        log_info("metrics on http://%s/metrics", listen_on);
        *ret = m;
        return 0;
cleanup:
        pthread_mutex_destroy(&m->lock);
        free(m);
        return r;
}

void hub_metrics_stop(struct hub_metrics *m)
{
        if (!m)
                return;
        /* Closes the listening socket too. */
        MHD_stop_daemon(m->daemon);
        pthread_mutex_destroy(&m->lock);
        free(m);
}
