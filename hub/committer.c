/* committer.c: see committer.h. */
#include "committer.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct hub_committer {
        struct hub_ingest *ig;
        pthread_t thread;
        bool started;
        int efd;                        /* readable: done or stage freed */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        /* All below under lock. */
        struct hub_commit_job *staged;  /* waiting for the thread */
        struct hub_commit_job *busy;    /* being committed or synced */
        struct hub_commit_job *held;    /* committed, not durable yet */
        struct hub_commit_job *done, **done_tail;
        bool opening;                   /* the loop is opening a batch */
        bool draining;                  /* sync the held batch now */
        bool stop;
};

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Tells the loop; under lock. */
static void wake_loop(struct hub_committer *c)
{
        uint64_t one = 1;

        /* Only fails when the counter is full, and then it is readable anyway. */
        if (write(c->efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
                return;
}

static void push_done(struct hub_committer *c, struct hub_commit_job *job)
{
        job->next = NULL;
        *c->done_tail = job;
        c->done_tail = &job->next;
        wake_loop(c);
}

static void *committer_main(void *arg)
{
        struct hub_committer *c = arg;

        pthread_mutex_lock(&c->lock);
        for (;;) {
                struct hub_commit_job *job;
                double t0;
                int r;

                if (c->staged) {
                        job = c->busy = c->staged;
                        c->staged = NULL;
                        wake_loop(c);   /* the stage is free */
                        pthread_mutex_unlock(&c->lock);
                        t0 = now_s();
                        r = hub_ingest_commit(c->ig, job->items, job->n);
                        job->seconds = now_s() - t0;
                        job->committed = r;
                        job->synced = 0;
                        pthread_mutex_lock(&c->lock);
                        c->busy = NULL;
                        if (r == 0) {
                                /* This commit's flush made the held batch durable. */
                                if (c->held)
                                        push_done(c, c->held);
                                c->held = job;
                        } else {
                                /* Refusals only, nothing stored: answered now. The
                                 * held batch still needs a flush. */
                                push_done(c, job);
                        }
                        pthread_cond_broadcast(&c->cond);
                        continue;
                }
                /* Nothing staged: flush now, unless a batch is being opened
                 * whose commit will flush anyway. */
                if (c->held && (!c->opening || c->draining || c->stop)) {
                        job = c->busy = c->held;
                        c->held = NULL;
                        pthread_mutex_unlock(&c->lock);
                        r = hub_ingest_sync(c->ig);
                        pthread_mutex_lock(&c->lock);
                        c->busy = NULL;
                        job->synced = r;
                        push_done(c, job);
                        pthread_cond_broadcast(&c->cond);
                        continue;
                }
                if (c->stop)
                        break;
                pthread_cond_wait(&c->cond, &c->lock);
        }
        pthread_mutex_unlock(&c->lock);
        return NULL;
}

int hub_committer_start(struct hub_committer **ret, struct hub_ingest *ig)
{
        struct hub_committer *c = calloc(1, sizeof(*c));
        int r;

        if (!c)
                return -ENOMEM;
        c->ig = ig;
        c->done_tail = &c->done;
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->cond, NULL);
        c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->efd < 0) {
                r = -errno;
                hub_committer_free(c);
                return r;
        }
        r = pthread_create(&c->thread, NULL, committer_main, c);
        if (r != 0) {
                hub_committer_free(c);
                return -EAGAIN;
        }
        c->started = true;
        *ret = c;
        return 0;
}

int hub_committer_fd(const struct hub_committer *c)
{
        return c->efd;
}

bool hub_committer_can_stage(struct hub_committer *c)
{
        bool can;

        pthread_mutex_lock(&c->lock);
        can = c->staged == NULL;
        pthread_mutex_unlock(&c->lock);
        return can;
}

void hub_committer_opening(struct hub_committer *c, bool opening)
{
        pthread_mutex_lock(&c->lock);
        c->opening = opening;
        if (!opening)
                pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
}

void hub_committer_stage(struct hub_committer *c, struct hub_commit_job *job)
{
        pthread_mutex_lock(&c->lock);
        c->staged = job;
        c->opening = false;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
}

struct hub_commit_job *hub_committer_done(struct hub_committer *c)
{
        struct hub_commit_job *job;
        uint64_t count;

        pthread_mutex_lock(&c->lock);
        job = c->done;
        if (job) {
                c->done = job->next;
                if (!c->done)
                        c->done_tail = &c->done;
                job->next = NULL;
        } else if (read(c->efd, &count, sizeof(count)) < 0) {
                /* Nothing to clear (EAGAIN): nothing to do. */
        }
        pthread_mutex_unlock(&c->lock);
        return job;
}

void hub_committer_drain(struct hub_committer *c)
{
        pthread_mutex_lock(&c->lock);
        c->draining = true;
        pthread_cond_broadcast(&c->cond);
        while (c->staged || c->busy || c->held)
                pthread_cond_wait(&c->cond, &c->lock);
        c->draining = false;
        pthread_mutex_unlock(&c->lock);
}

void hub_committer_free(struct hub_committer *c)
{
        if (!c)
                return;
        if (c->started) {
                hub_committer_drain(c);
                pthread_mutex_lock(&c->lock);
                c->stop = true;
                pthread_cond_broadcast(&c->cond);
                pthread_mutex_unlock(&c->lock);
                pthread_join(c->thread, NULL);
        }
        if (c->efd >= 0)
                close(c->efd);
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        free(c);
}
