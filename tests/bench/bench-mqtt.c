/* bench-mqtt.c: the peer the hub is compared with. --publishers MQTT
 * connections to a mosquitto broker over TLS with a client certificate
 * (libmosquitto, each connection on its own network thread), publishing
 * --payload-byte messages at QoS 1 and keeping up to --window of them
 * unacknowledged per connection. The broker's PUBACK is the acknowledgement;
 * there is no subscriber. Prints PUBACKs per second over the measured window
 * as one JSON object. */
#include <errno.h>
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <mosquitto.h>
#include <json-c/json.h>

#include "util.h"

static const char help[] =
        "Usage: bench-mqtt --port PORT --cafile FILE --cert FILE --key FILE\n"
        "                  [--publishers N] [--window W] [--payload BYTES]\n"
        "                  [--duration S] [--warmup S] [--topic TOPIC]\n"
        "\n"
        "Publishes QoS 1 messages to a broker on 127.0.0.1:PORT over TLS with a client\n"
        "certificate, N connections with W messages unacknowledged each, and prints\n"
        "{\"mode\": \"mqtt\", \"rate\": PUBACKS_PER_SECOND, ...} on stdout.\n"
        "\n"
        "  --port PORT        the broker's TLS listener on 127.0.0.1\n"
        "  --cafile FILE      CA certificate that signed the broker's certificate\n"
        "  --cert FILE        client certificate (PEM)\n"
        "  --key FILE         client key (PEM)\n"
        "  --publishers N     connections (default 50)\n"
        "  --window W         unacknowledged messages per connection (default 32)\n"
        "  --payload BYTES    message size (default 300)\n"
        "  --duration S       measured seconds (default 2)\n"
        "  --warmup S         seconds before measuring (default 0.5)\n"
        "  --topic TOPIC      topic prefix (default nmo/bench); connection i uses TOPIC/i\n"
        "  -h, --help         show this help\n"
        "\n"
        "Exit status: 0 measured, 1 failure, 2 usage error.\n";

struct shared {
        const uint8_t *payload;
        int payload_len;
        atomic_bool sending;
        double tstart, tend;     /* written before publishing starts */
};

struct publisher {
        struct shared *sh;
        struct mosquitto *m;
        char topic[128];
        atomic_int connected;    /* 0 waiting, 1 connected, -1 refused */
        atomic_int inflight;
        atomic_ullong acked;
        atomic_ullong measured;
        atomic_ullong errors;
};

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
        struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int parse_seconds(const char *s, double min, double max, double *out)
{
        char *end = NULL;
        double v;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno || !end || *end || v < min || v > max)
                return -EINVAL;
        *out = v;
        return 0;
}

static int usage(const char *msg)
{
        fprintf(stderr, "bench-mqtt: %s\nTry 'bench-mqtt --help'.\n", msg);
        return 2;
}

static void publish_one(struct publisher *p)
{
        atomic_fetch_add(&p->inflight, 1);
        if (mosquitto_publish(p->m, NULL, p->topic, p->sh->payload_len, p->sh->payload, 1,
                              false) != MOSQ_ERR_SUCCESS) {
                atomic_fetch_sub(&p->inflight, 1);
                atomic_fetch_add(&p->errors, 1);
        }
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
        struct publisher *p = obj;

        (void)m;
        atomic_store(&p->connected, rc == 0 ? 1 : -1);
}

/* A PUBACK: count it and keep the window full while the clock runs. */
static void on_publish(struct mosquitto *m, void *obj, int mid)
{
        struct publisher *p = obj;
        double now = now_s();

        (void)m;
        (void)mid;
        atomic_fetch_sub(&p->inflight, 1);
        atomic_fetch_add(&p->acked, 1);
        if (now >= p->sh->tstart && now < p->sh->tend)
                atomic_fetch_add(&p->measured, 1);
        if (now < p->sh->tend && atomic_load(&p->sh->sending))
                publish_one(p);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "port", required_argument, NULL, 'P' },
                { "cafile", required_argument, NULL, 'C' },
                { "cert", required_argument, NULL, 'c' },
                { "key", required_argument, NULL, 'k' },
                { "publishers", required_argument, NULL, 'n' },
                { "window", required_argument, NULL, 'w' },
                { "payload", required_argument, NULL, 'p' },
                { "duration", required_argument, NULL, 't' },
                { "warmup", required_argument, NULL, 'u' },
                { "topic", required_argument, NULL, 'T' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        const char *cafile = NULL, *cert = NULL, *key = NULL, *topic = "nmo/bench";
        uint32_t port = 0, npub = 50, window = 32, payload_len = 300;
        double duration = 2.0, warmup = 0.5, t0, deadline;
        struct publisher *pubs = NULL;
        struct shared sh;
        uint8_t *payload = NULL;
        unsigned long long acked = 0, measured = 0, errors = 0;
        uint32_t connected = 0;
        json_object *j;
        int c, rc, status = 1;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'P':
                        if (util_parse_u32(optarg, 1, 65535, &port) < 0)
                                return usage("--port: 1 to 65535");
                        break;
                case 'C':
                        cafile = optarg;
                        break;
                case 'c':
                        cert = optarg;
                        break;
                case 'k':
                        key = optarg;
                        break;
                case 'n':
                        if (util_parse_u32(optarg, 1, 10000, &npub) < 0)
                                return usage("--publishers: 1 to 10000");
                        break;
                case 'w':
                        if (util_parse_u32(optarg, 1, 65535, &window) < 0)
                                return usage("--window: 1 to 65535");
                        break;
                case 'p':
                        if (util_parse_u32(optarg, 1, 1 << 20, &payload_len) < 0)
                                return usage("--payload: 1 to 1048576");
                        break;
                case 't':
                        if (parse_seconds(optarg, 0.1, 3600, &duration) < 0)
                                return usage("--duration: 0.1 to 3600");
                        break;
                case 'u':
                        if (parse_seconds(optarg, 0, 600, &warmup) < 0)
                                return usage("--warmup: 0 to 600");
                        break;
                case 'T':
                        if (strlen(optarg) > 100 || strpbrk(optarg, "+#"))
                                return usage("--topic: at most 100 characters, no wildcards");
                        topic = optarg;
                        break;
                case 'h':
                        fputs(help, stdout);
                        return 0;
                default:
                        return 2;
                }
        }
        if (optind != argc)
                return usage("unexpected argument");
        if (!port || !cafile || !cert || !key)
                return usage("--port, --cafile, --cert and --key are required");

        mosquitto_lib_init();
        memset(&sh, 0, sizeof(sh));
        payload = malloc(payload_len);
        pubs = calloc(npub, sizeof(*pubs));
        if (!payload || !pubs)
                goto out;
        for (uint32_t i = 0; i < payload_len; i++)
                payload[i] = (uint8_t)(i * 31u + 7u);
        sh.payload = payload;
        sh.payload_len = (int)payload_len;
        atomic_init(&sh.sending, false);
        sh.tstart = 1e300;
        sh.tend = 1e300;
        for (uint32_t i = 0; i < npub; i++) {
                struct publisher *p = &pubs[i];
                char id[64];

                p->sh = &sh;
                snprintf(p->topic, sizeof(p->topic), "%s/%u", topic, i);
                snprintf(id, sizeof(id), "nmo-bench-%u", i);
                p->m = mosquitto_new(id, true, p);
                if (!p->m) {
                        fprintf(stderr, "bench-mqtt: mosquitto_new failed\n");
                        goto out;
                }
                mosquitto_connect_callback_set(p->m, on_connect);
                mosquitto_publish_callback_set(p->m, on_publish);
                /* No client-side cap: the window is kept by this program. */
                rc = mosquitto_max_inflight_messages_set(p->m, 0);
                if (rc == MOSQ_ERR_SUCCESS)
                        rc = mosquitto_tls_set(p->m, cafile, NULL, cert, key, NULL);
                if (rc == MOSQ_ERR_SUCCESS)
                        rc = mosquitto_tls_opts_set(p->m, 1, NULL, NULL);
                if (rc == MOSQ_ERR_SUCCESS)
                        rc = mosquitto_connect_async(p->m, "127.0.0.1", (int)port, 60);
                if (rc == MOSQ_ERR_SUCCESS)
                        rc = mosquitto_loop_start(p->m);
                if (rc != MOSQ_ERR_SUCCESS) {
                        fprintf(stderr, "bench-mqtt: connection %u: %s\n", i,
                                mosquitto_strerror(rc));
                        goto out;
                }
        }
        /* Bounded wait for every TLS connection and CONNACK. */
        deadline = now_s() + 15;
        while (now_s() < deadline) {
                connected = 0;
                for (uint32_t i = 0; i < npub; i++) {
                        int s = atomic_load(&pubs[i].connected);

                        if (s < 0) {
                                fprintf(stderr, "bench-mqtt: the broker refused connection %u\n",
                                        i);
                                goto out;
                        }
                        connected += s == 1;
                }
                if (connected == npub)
                        break;
                sleep_s(0.01);
        }
        if (connected != npub) {
                fprintf(stderr, "bench-mqtt: %u of %u connections came up\n", connected, npub);
                goto out;
        }
        t0 = now_s();
        sh.tstart = t0 + warmup;
        sh.tend = sh.tstart + duration;
        atomic_store(&sh.sending, true);
        for (uint32_t i = 0; i < npub; i++)
                for (uint32_t w = 0; w < window; w++)
                        publish_one(&pubs[i]);
        sleep_s(sh.tend - now_s());
        atomic_store(&sh.sending, false);
        /* What is in flight gets up to 5 s to be acknowledged. */
        deadline = now_s() + 5;
        while (now_s() < deadline) {
                int left = 0;

                for (uint32_t i = 0; i < npub; i++)
                        left += atomic_load(&pubs[i].inflight);
                if (left <= 0)
                        break;
                sleep_s(0.01);
        }
        for (uint32_t i = 0; i < npub; i++) {
                acked += atomic_load(&pubs[i].acked);
                measured += atomic_load(&pubs[i].measured);
                errors += atomic_load(&pubs[i].errors);
        }
        j = json_object_new_object();
        json_object_object_add(j, "mode", json_object_new_string("mqtt"));
        json_object_object_add(j, "rate", json_object_new_double((double)measured / duration));
        json_object_object_add(j, "unit", json_object_new_string("PUBACKs/s"));
        json_object_object_add(j, "publishers", json_object_new_int64(npub));
        json_object_object_add(j, "window", json_object_new_int64(window));
        json_object_object_add(j, "payload", json_object_new_int64(payload_len));
        json_object_object_add(j, "qos", json_object_new_int(1));
        json_object_object_add(j, "seconds", json_object_new_double(duration));
        json_object_object_add(j, "acked", json_object_new_int64((int64_t)acked));
        json_object_object_add(j, "publish_errors", json_object_new_int64((int64_t)errors));
        puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(j);
        status = errors ? 1 : 0;
out:
        for (uint32_t i = 0; pubs && i < npub; i++) {
                if (!pubs[i].m)
                        continue;
                /* A connection that never came up keeps its thread retrying:
                 * only a connected one ends its loop on disconnect. */
                mosquitto_disconnect(pubs[i].m);
                mosquitto_loop_stop(pubs[i].m, atomic_load(&pubs[i].connected) != 1);
                mosquitto_destroy(pubs[i].m);
        }
        free(pubs);
        free(payload);
        mosquitto_lib_cleanup();
        return status;
}
