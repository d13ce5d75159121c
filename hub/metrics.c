/* metrics.c: see metrics.h. */
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics.h"
#include "conns.h"
#include "journal.h"
#include "log.h"
#include "member.h"
#include "promhttp.h"
#include "receipt.h"
#include "store.h"

/* Envelopes per committed batch; a batch holds at most [limits] batch. */
static const double batch_bounds[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000 };
/* Seconds a commit with its receipts' signatures takes. */
static const double commit_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,   0.25,   0.5,   1,    2.5,   5 };
#define BOUNDS_MAX 12

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
        struct promhttp *http;
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

static void put_histogram(FILE *f, const char *name, const char *help,
                          const struct histogram *h)
{
        uint64_t cum = 0;

        promhttp_put_header(f, name, "histogram", help);
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
        promhttp_put_value(f, "nmo_hub_signals_accepted_total", "counter",
                  "Signals stored (signals_stored of nmo-hub stats).", s.accepted);
        promhttp_put_value(f, "nmo_hub_duplicates_total", "counter",
                  "Repeated envelopes answered with their original receipt.", s.duplicates);
        promhttp_put_header(f, "nmo_hub_refusals_total", "counter",
                   "Envelopes refused, by the reason their receipt names.");
        for (int reason = 1; reason <= RECEIPT_REASON_LAST; reason++)
                fprintf(f, "nmo_hub_refusals_total{reason=\"%s\"} %llu\n",
                        reason_name((Nmo__Reason)reason),
                        (unsigned long long)s.refusals[reason]);
        promhttp_put_value(f, "nmo_hub_batches_total", "counter",
                  "Batches committed since this nmo-hub serve started.", s.batches);
        promhttp_put_header(f, "nmo_hub_members", "gauge", "Members in the registry, by state.");
        for (size_t i = 0; i < 3; i++)
                fprintf(f, "nmo_hub_members{state=\"%s\"} %llu\n", states[i],
                        (unsigned long long)s.members[i]);
        promhttp_put_value(f, "nmo_hub_members_connected", "gauge",
                  "Distinct members holding an admitted connection.", s.connected);
        promhttp_put_value(f, "nmo_hub_members_key_expiring_30d", "gauge",
                  "Active members whose key expires within 30 days.", s.expiring);
        promhttp_put_value(f, "nmo_hub_members_key_expired", "gauge",
                  "Active members whose key has expired.", s.expired);
        put_histogram(f, "nmo_hub_batch_size", "Envelopes per committed batch.", &batch_size);
        put_histogram(f, "nmo_hub_commit_seconds",
                      "Seconds to commit a batch and sign its receipts.", &commit_seconds);
        if (s.has_backlog)
                promhttp_put_value(f, "nmo_hub_aggregation_backlog", "gauge",
                          "Accepted signals the aggregation has not counted yet.", s.backlog);
        promhttp_put_value(f, "nmo_hub_store_used_bytes", "gauge",
                  "Bytes of the private store in use.", s.used_bytes);
        promhttp_put_value(f, "nmo_hub_store_map_bytes", "gauge",
                  "Size of the private store's memory map (its largest size).", s.map_bytes);
        promhttp_put_value(f, "nmo_hub_releases_total", "counter",
                  "Releases of aggregate figures so far.", s.releases);
        if (fclose(f) != 0 || !buf) {
                free(buf);
                return -ENOMEM;
        }
        *out = buf;
        *len = n;
        return 0;
}

/* promhttp_format_fn: the HTTP thread's view of the snapshot. */
static int format_cb(void *userdata, char **out, size_t *len)
{
        return hub_metrics_format(userdata, out, len);
}

int hub_metrics_start(struct hub_metrics **ret, const char *listen_on)
{
        struct hub_metrics *m = calloc(1, sizeof(*m));
        int r;

        if (!m)
                return -ENOMEM;
        pthread_mutex_init(&m->lock, NULL);
        m->batch_size.bounds = batch_bounds;
        m->batch_size.nbounds = NMO_ARRAY_SIZE(batch_bounds);
        m->commit_seconds.bounds = commit_bounds;
        m->commit_seconds.nbounds = NMO_ARRAY_SIZE(commit_bounds);
        r = promhttp_start(&m->http, listen_on, format_cb, m);
        if (r < 0) {
                pthread_mutex_destroy(&m->lock);
                free(m);
                return r;
        }
        *ret = m;
        return 0;
}

void hub_metrics_stop(struct hub_metrics *m)
{
        if (!m)
                return;
        /* The HTTP thread is gone before the lock it takes. */
        promhttp_stop(m->http);
        pthread_mutex_destroy(&m->lock);
        free(m);
}
