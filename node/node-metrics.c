/* node-metrics.c: see node-metrics.h. */
#include "node-metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promhttp.h"

struct node_metrics {
        struct promhttp *http;
        pthread_mutex_t lock;
        struct node_metrics_figures fig;        /* under lock */
};

void node_metrics_update(struct node_metrics *m, const struct node_metrics_figures *f)
{
        if (!m)
                return;
        pthread_mutex_lock(&m->lock);
        m->fig = *f;
        pthread_mutex_unlock(&m->lock);
}

/* Milliseconds as seconds, exactly. */
static void put_seconds(FILE *f, const char *name, const char *help, uint64_t ms)
{
        promhttp_put_header(f, name, "gauge", help);
        fprintf(f, "%s %llu.%03u\n", name, (unsigned long long)(ms / 1000),
                (unsigned int)(ms % 1000));
}

int node_metrics_format(struct node_metrics *m, uint64_t now_ms, char **out, size_t *len)
{
        struct node_metrics_figures s;
        uint64_t oldest;
        char *buf = NULL;
        size_t n = 0;
        FILE *f;

        pthread_mutex_lock(&m->lock);
        s = m->fig;
        pthread_mutex_unlock(&m->lock);
        oldest = s.counts.oldest_pending_ms;
        f = open_memstream(&buf, &n);
        if (!f)
                return -ENOMEM;
        promhttp_put_value(f, "nmo_node_signals_queued", "gauge",
                  "Signals waiting to be sent (queued of nmo-node status).", s.counts.queued);
        promhttp_put_value(f, "nmo_node_signals_in_flight", "gauge",
                  "Signals sent and not yet answered (in_flight of nmo-node status).",
                  s.counts.in_flight);
        promhttp_put_value(f, "nmo_node_signals_delivered", "gauge",
                  "Signals the hub accepted, receipt kept (delivered of nmo-node status).",
                  s.counts.delivered);
        promhttp_put_value(f, "nmo_node_signals_rejected", "gauge",
                  "Signals the hub refused for good (rejected of nmo-node status).",
                  s.counts.rejected);
        /* A clock stepped back does not make a negative age. */
        put_seconds(f, "nmo_node_oldest_pending_age_seconds",
                    "Age of the oldest signal queued or in flight, 0 when none.",
                    oldest && now_ms > oldest ? now_ms - oldest : 0);
        put_seconds(f, "nmo_node_last_receipt_timestamp_seconds",
                    "Unix time this agent last recorded a receipt, 0 before the first.",
                    s.last_receipt_ms);
        put_seconds(f, "nmo_node_hub_last_contact_timestamp_seconds",
                    "Unix time of the last handshake with the hub or loss of it (last_contact "
                    "of nmo-node status), 0 when never.", s.last_contact_ms);
        promhttp_put_value(f, "nmo_node_hub_connected", "gauge",
                  "1 while the connection to the hub is up (handshake done), else 0.",
                  s.hub_up ? 1 : 0);
        promhttp_put_value(f, "nmo_node_signals_sent_total", "counter",
                  "Envelopes sent to the hub since this agent started, resends included.",
                  s.sent);
        promhttp_put_value(f, "nmo_node_resends_total", "counter",
                  "Envelopes sent again after an earlier attempt, since this agent started.",
                  s.resends);
        promhttp_put_value(f, "nmo_node_receipts_total", "counter",
                  "Hub receipts recorded in the outbox since this agent started.", s.receipts);
        if (fclose(f) != 0 || !buf) {
                free(buf);
                return -ENOMEM;
        }
        *out = buf;
        *len = n;
        return 0;
}

/* promhttp_format_fn: the HTTP thread's view of the figures. */
static int format_cb(void *userdata, char **out, size_t *len)
{
        return node_metrics_format(userdata, util_now_ms(), out, len);
}

int node_metrics_start(struct node_metrics **ret, const char *listen_on)
{
        struct node_metrics *m = calloc(1, sizeof(*m));
        int r;

        if (!m)
                return -ENOMEM;
        pthread_mutex_init(&m->lock, NULL);
        r = promhttp_start(&m->http, listen_on, format_cb, m);
        if (r < 0) {
                pthread_mutex_destroy(&m->lock);
                free(m);
                return r;
        }
        *ret = m;
        return 0;
}

void node_metrics_stop(struct node_metrics *m)
{
        if (!m)
                return;
        /* The HTTP thread is gone before the lock it takes. */
        promhttp_stop(m->http);
        pthread_mutex_destroy(&m->lock);
        free(m);
}
