/* aggthread.c: see aggthread.h. */
#include "aggthread.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zmq.h>

#include "audit.h"
#include "log.h"

/* Longest an accepted signal waits before it is counted (folded into the
 * contributions), and how late after its point in the calendar a release
 * comes at most. */
#define HUB_FLUSH_MS 500
/* How often interrupted epoch closes are finished and stale readers cleared. */
#define HUB_HOUSEKEEPING_MS 60000

struct hub_aggthread {
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
        struct hub_aggthread *a = arg;
        struct hub_alert_out *alerts = NULL;
        uint64_t last_housekeeping = util_mono_ms();
        size_t nalerts = 0;
        void *pair = zmq_socket(a->ctx, ZMQ_PAIR);
        int linger = 2000;
        bool stop = false;

        aggregator_yield();
        if (!pair || zmq_setsockopt(pair, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
            zmq_connect(pair, HUB_AGGTHREAD_ENDPOINT) < 0) {
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
                /* Also when stopping: what was committed reaches the
                 * contributions. */
                if (hub_aggregate_flush(a->ag, util_now_ms(), &alerts, &nalerts) < 0)
                        log_warn("analytics update deferred; will retry");
                aggregator_send(pair, alerts, nalerts);
                if (!stop && util_mono_ms() - last_housekeeping >= HUB_HOUSEKEEPING_MS) {
                        if (hub_aggregate_housekeeping(a->ag, util_now_ms(), &alerts,
                                                       &nalerts) < 0)
                                log_warn("housekeeping failed; will retry");
                        aggregator_send(pair, alerts, nalerts);
                        last_housekeeping = util_mono_ms();
                }
        }
        zmq_close(pair);
        audit_thread_done();
        return NULL;
}

int hub_aggthread_start(struct hub_aggthread **ret, void *ctx, struct hub_aggregate *ag)
{
        struct hub_aggthread *a = calloc(1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        a->ag = ag;
        a->ctx = ctx;
        pthread_mutex_init(&a->lock, NULL);
        pthread_cond_init(&a->wake, NULL);
        if (pthread_create(&a->thread, NULL, aggregator_thread, a) != 0) {
                hub_aggthread_stop(a);
                return -EAGAIN;
        }
        a->started = true;
        *ret = a;
        return 0;
}

void hub_aggthread_stop(struct hub_aggthread *a)
{
        if (!a)
                return;
        if (a->started) {
                pthread_mutex_lock(&a->lock);
                a->stop = true;
                pthread_cond_signal(&a->wake);
                pthread_mutex_unlock(&a->lock);
                pthread_join(a->thread, NULL);
        }
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->lock);
        free(a);
}
