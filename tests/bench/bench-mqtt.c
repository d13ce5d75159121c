/* bench-mqtt.c: the peer the hub is compared with. --publishers MQTT 3.1.1
 * connections to a broker (Debian's mosquitto in ./bench.sh) over TLS with a
 * client certificate, publishing --payload-byte messages at QoS 1 and keeping
 * up to --window of them unacknowledged per connection. The broker's PUBACK
 * is the acknowledgement; there is no subscriber.
 *
 * The client is kept at least as lean as bench-load is for the hub, so that on
 * a small machine the broker, not the load generator, is measured: one thread
 * drives every connection from one poll() loop, non-blocking OpenSSL. It
 * speaks the three MQTT packets it needs itself (CONNECT, PUBLISH at QoS 1,
 * and reading CONNACK and PUBACK): a generic client library (libmosquitto)
 * writes each PUBLISH with its own SSL_write() and system call, which cost
 * this program ~18 us a message on the benchmark machine and the broker a TLS
 * record a message. Here the publishes that refill a window go out together
 * in as few TLS records as fit (as ZeroMQ batches the hub's frames); every
 * PUBLISH is still its own QoS 1 message with its own packet id and PUBACK.
 *
 * The program's own CPU per acknowledged message (getrusage) is printed with
 * the rate, and the broker's when --server-pid names it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bench-util.h"

static const char help[] =
        "Usage: bench-mqtt --port PORT --cafile FILE --cert FILE --key FILE\n"
        "                  [--publishers N] [--window W] [--payload BYTES]\n"
        "                  [--duration S] [--warmup S] [--topic TOPIC] [--server-pid PID]\n"
        "\n"
        "Publishes QoS 1 messages (MQTT 3.1.1) to a broker on 127.0.0.1:PORT over TLS\n"
        "with a client certificate, N connections with W messages unacknowledged each,\n"
        "all driven by one thread, and prints {\"mode\": \"mqtt\", \"rate\":\n"
        "PUBACKS_PER_SECOND, \"client_cpu_us_per_msg\": ..., ...} on stdout.\n"
        "\n"
        "  --port PORT        the broker's TLS listener on 127.0.0.1\n"
        "  --cafile FILE      CA certificate that signed the broker's certificate\n"
        "                     (which must name IP 127.0.0.1)\n"
        "  --cert FILE        client certificate (PEM)\n"
        "  --key FILE         client key (PEM)\n"
        "  --publishers N     connections (default 50)\n"
        "  --window W         unacknowledged messages per connection (default 32)\n"
        "  --payload BYTES    message size (default 300)\n"
        "  --duration S       measured seconds (default 2)\n"
        "  --warmup S         seconds before measuring (default 0.5)\n"
        "  --topic TOPIC      topic prefix (default nmo/bench); connection i uses TOPIC/i\n"
        "  --server-pid PID   the broker: its CPU per message is reported too\n"
        "  -h, --help         show this help\n"
        "\n"
        "Exit status: 0 measured, 1 failure (also: a message still unacknowledged 5 s\n"
        "after the window), 2 usage error.\n";

/* MQTT 3.1.1 fixed header types (section 2.2.1). */
enum {
        MQTT_CONNECT = 0x10,
        MQTT_CONNACK = 0x20,
        MQTT_PUBLISH_QOS1 = 0x32,
        MQTT_PUBACK = 0x40,
};

#define MQTT_KEEPALIVE_S 600    /* longer than any run: no PINGREQ needed */
#define READ_BUF 65536
#define WRITE_CHUNK 65536

struct run {
        double tstart, tend;    /* the measured window; publishing stops at tend */
        bool sending;
};

struct conn {
        SSL *ssl;
        int fd;
        uint8_t *tmpl;          /* one PUBLISH, packet id at tmpl[id_at] */
        size_t tmpl_len, id_at;
        uint8_t *out;           /* window * tmpl_len, compacted as it is written */
        size_t out_len, out_off;
        int retry_len;          /* a failed SSL_write to repeat with the same length */
        bool want_write;
        uint8_t in[READ_BUF];
        size_t in_len;
        uint16_t next_id;
        uint32_t inflight;
        uint64_t acked, measured;
};

static void ssl_errors(const char *what)
{
        unsigned long e;
        char buf[256];

        fprintf(stderr, "bench-mqtt: %s", what);
        while ((e = ERR_get_error()) != 0) {
                ERR_error_string_n(e, buf, sizeof(buf));
                fprintf(stderr, ": %s", buf);
        }
        fputc('\n', stderr);
}

/* Writes an MQTT remaining length (variable byte integer); returns its size. */
static size_t put_varint(uint8_t *p, size_t v)
{
        size_t n = 0;

        do {
                p[n] = (uint8_t)(v % 128);
                v /= 128;
                if (v)
                        p[n] |= 0x80;
                n++;
        } while (v && n < 4);
        return n;
}

static void put_str(uint8_t *p, size_t *at, const char *s)
{
        size_t len = strlen(s);

        p[(*at)++] = (uint8_t)(len >> 8);
        p[(*at)++] = (uint8_t)len;
        memcpy(p + *at, s, len);
        *at += len;
}

/* The PUBLISH every message of this connection is, but for its packet id. */
static int conn_template(struct conn *c, const char *topic, const uint8_t *payload, size_t len)
{
        size_t rem = 2 + strlen(topic) + 2 + len, at = 1;

        c->tmpl = malloc(rem + 5);
        if (!c->tmpl)
                return -ENOMEM;
        c->tmpl[0] = MQTT_PUBLISH_QOS1;
        at += put_varint(c->tmpl + 1, rem);
        put_str(c->tmpl, &at, topic);
        c->id_at = at;
        at += 2;
        memcpy(c->tmpl + at, payload, len);
        c->tmpl_len = at + len;
        return 0;
}

/* Appends k publishes to the connection's pending output. What is pending
 * is never more than the window: it is all in flight. */
static void conn_queue(struct conn *c, uint32_t k)
{
        if (c->out_off) {
                memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
                c->out_len -= c->out_off;
                c->out_off = 0;
        }
        for (uint32_t i = 0; i < k; i++) {
                uint8_t *p = c->out + c->out_len;

                /* Ids cycle through 1..65535; at most --window are in flight. */
                if (++c->next_id == 0)
                        c->next_id = 1;
                memcpy(p, c->tmpl, c->tmpl_len);
                p[c->id_at] = (uint8_t)(c->next_id >> 8);
                p[c->id_at + 1] = (uint8_t)c->next_id;
                c->out_len += c->tmpl_len;
                c->inflight++;
        }
}

/* Writes what is pending until the socket would block: 0, or -EIO. */
static int conn_flush(struct conn *c)
{
        c->want_write = false;
        while (c->out_off < c->out_len) {
                size_t left = c->out_len - c->out_off;
                int len = c->retry_len ? c->retry_len
                                       : (int)(left < WRITE_CHUNK ? left : WRITE_CHUNK);
                int n = SSL_write(c->ssl, c->out + c->out_off, len);

                if (n <= 0) {
                        int e = SSL_get_error(c->ssl, n);

                        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
                                ssl_errors("SSL_write");
                                return -EIO;
                        }
                        c->retry_len = len;
                        c->want_write = e == SSL_ERROR_WANT_WRITE;
                        return 0;
                }
                c->retry_len = 0;
                c->out_off += (size_t)n;
        }
        c->out_off = 0;
        c->out_len = 0;
        return 0;
}

/* Reads and handles what the broker sent: 0, or -EIO when the connection
 * failed or the broker sent something this client did not ask for. */
static int conn_read(struct conn *c, const struct run *run, double now)
{
        for (;;) {
                size_t at = 0;
                int n = SSL_read(c->ssl, c->in + c->in_len, (int)(sizeof(c->in) - c->in_len));

                if (n <= 0) {
                        int e = SSL_get_error(c->ssl, n);

                        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                                return 0;
                        ssl_errors(e == SSL_ERROR_ZERO_RETURN ? "the broker closed a connection"
                                                              : "SSL_read");
                        return -EIO;
                }
                c->in_len += (size_t)n;
                /* Whole packets: PUBACK (4 bytes) is all a publisher gets. */
                while (c->in_len - at >= 2) {
                        uint8_t type = c->in[at], rem = c->in[at + 1];

                        if (rem & 0x80 || (type != MQTT_PUBACK && type != 0xd0)) {
                                fprintf(stderr, "bench-mqtt: unexpected packet 0x%02x\n", type);
                                return -EIO;
                        }
                        if (c->in_len - at < 2u + rem)
                                break;
                        if (type == MQTT_PUBACK) {
                                c->acked++;
                                c->inflight -= c->inflight > 0;
                                if (now >= run->tstart && now < run->tend)
                                        c->measured++;
                        }
                        at += 2u + rem;
                }
                memmove(c->in, c->in + at, c->in_len - at);
                c->in_len -= at;
        }
}

/* TCP, TLS with the client certificate, CONNECT and CONNACK, blocking; then
 * the socket is made non-blocking. */
static int conn_open(struct conn *c, SSL_CTX *ctx, uint32_t port, uint32_t index)
{
        struct sockaddr_in sa;
        uint8_t pkt[128], ack[4];
        char id[32];
        size_t at, rem;
        int one = 1, got = 0;

        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
                int e = errno;

                fprintf(stderr, "bench-mqtt: connect to 127.0.0.1:%u: %s\n", port, strerror(e));
                return -e;
        }
        c->ssl = SSL_new(ctx);
        if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) ||
            !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1") ||
            SSL_connect(c->ssl) != 1) {
                ssl_errors("TLS handshake");
                return -EPROTO;
        }
        /* CONNECT: protocol "MQTT" level 4, clean session, client id. */
        snprintf(id, sizeof(id), "nmo-bench-%u", index);
        rem = 10 + 2 + strlen(id);
        pkt[0] = MQTT_CONNECT;
        at = 1 + put_varint(pkt + 1, rem);
        put_str(pkt, &at, "MQTT");
        pkt[at++] = 4;
        pkt[at++] = 0x02;
        pkt[at++] = MQTT_KEEPALIVE_S >> 8;
        pkt[at++] = MQTT_KEEPALIVE_S & 0xff;
        put_str(pkt, &at, id);
        if (SSL_write(c->ssl, pkt, (int)at) != (int)at) {
                ssl_errors("CONNECT");
                return -EIO;
        }
        while (got < 4) {
                int n = SSL_read(c->ssl, ack + got, 4 - got);

                if (n <= 0) {
                        ssl_errors("CONNACK");
                        return -EIO;
                }
                got += n;
        }
        if (ack[0] != MQTT_CONNACK || ack[1] != 2 || ack[3] != 0) {
                fprintf(stderr, "bench-mqtt: the broker refused connection %u (code %u)\n",
                        index, ack[3]);
                return -EACCES;
        }
        if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0)
                return -errno;
        /* A write that would block is repeated from where the output moved to. */
        SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        return 0;
}

static void conn_close(struct conn *c)
{
        if (c->ssl) {
                (void)SSL_shutdown(c->ssl);
                SSL_free(c->ssl);
        }
        if (c->fd >= 0)
                close(c->fd);
        free(c->tmpl);
        free(c->out);
}

/* One pass of the event loop: waits up to timeout_ms, reads every ready
 * connection, refills its window while the clock runs and writes. */
static int loop_once(struct conn *conns, struct pollfd *fds, uint32_t n, uint32_t window,
                     const struct run *run, int timeout_ms)
{
        double now;

        for (uint32_t i = 0; i < n; i++) {
                fds[i].fd = conns[i].fd;
                fds[i].events = POLLIN | (conns[i].want_write ? POLLOUT : 0);
                fds[i].revents = 0;
        }
        if (poll(fds, n, timeout_ms) < 0 && errno != EINTR)
                return -errno;
        now = bench_now();
        for (uint32_t i = 0; i < n; i++) {
                struct conn *c = &conns[i];

                if (!fds[i].revents)
                        continue;
                if ((fds[i].revents & (POLLIN | POLLERR | POLLHUP)) && conn_read(c, run, now) < 0)
                        return -EIO;
                if (run->sending && now < run->tend && c->inflight < window)
                        conn_queue(c, window - c->inflight);
                if (c->out_len && conn_flush(c) < 0)
                        return -EIO;
        }
        return 0;
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
                { "server-pid", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        const char *cafile = NULL, *cert = NULL, *key = NULL, *topic = "nmo/bench";
        uint32_t port = 0, npub = 50, window = 32, payload_len = 300, server_pid = 0, left = 0;
        double duration = 2.0, warmup = 0.5, t0, t1, deadline, cpu0, cpu1, srv0 = -1, srv1 = -1;
        struct conn *conns = NULL;
        struct pollfd *fds = NULL;
        SSL_CTX *ctx = NULL;
        struct run run;
        uint8_t *payload = NULL;
        uint64_t acked = 0, measured = 0;
        json_object *j;
        long nofile;
        int c, status = BENCH_EXIT_FAIL;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'P':
                        if (util_parse_u32(optarg, 1, 65535, &port) < 0)
                                return bench_usage("bench-mqtt", "--port: 1 to 65535");
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
                                return bench_usage("bench-mqtt", "--publishers: 1 to 10000");
                        break;
                case 'w':
                        /* Packet ids are 16 bits: no more in flight than there are. */
                        if (util_parse_u32(optarg, 1, 65535, &window) < 0)
                                return bench_usage("bench-mqtt", "--window: 1 to 65535");
                        break;
                case 'p':
                        if (util_parse_u32(optarg, 1, 65536, &payload_len) < 0)
                                return bench_usage("bench-mqtt", "--payload: 1 to 65536");
                        break;
                case 't':
                        if (bench_parse_seconds(optarg, 0.1, 3600, &duration) < 0)
                                return bench_usage("bench-mqtt", "--duration: 0.1 to 3600");
                        break;
                case 'u':
                        if (bench_parse_seconds(optarg, 0, 600, &warmup) < 0)
                                return bench_usage("bench-mqtt", "--warmup: 0 to 600");
                        break;
                case 'T':
                        if (strlen(optarg) > 100 || strpbrk(optarg, "+#"))
                                return bench_usage("bench-mqtt", "--topic: at most 100 "
                                                   "characters, no wildcards");
                        topic = optarg;
                        break;
                case 's':
                        if (util_parse_u32(optarg, 1, 4194304, &server_pid) < 0)
                                return bench_usage("bench-mqtt", "--server-pid: a process id");
                        break;
                case 'h':
                        fputs(help, stdout);
                        return BENCH_EXIT_OK;
                default:
                        return BENCH_EXIT_USAGE;
                }
        }
        if (optind != argc)
                return bench_usage("bench-mqtt", "unexpected argument '%s'", argv[optind]);
        if (!port || !cafile || !cert || !key)
                return bench_usage("bench-mqtt", "--port, --cafile, --cert and --key are "
                                   "required");
        nofile = bench_raise_nofile();
        if (nofile > 0 && (long)npub + 64 > nofile)
                return bench_usage("bench-mqtt", "--publishers: more than the open file limit");

        memset(&run, 0, sizeof(run));
        payload = malloc(payload_len);
        conns = calloc(npub, sizeof(*conns));
        fds = calloc(npub, sizeof(*fds));
        if (!payload || !conns || !fds)
                goto out;
        for (uint32_t i = 0; i < payload_len; i++)
                payload[i] = (uint8_t)(i * 31u + 7u);
        for (uint32_t i = 0; i < npub; i++)
                conns[i].fd = -1;
        ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx || SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1 ||
            SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
                ssl_errors("TLS set-up");
                goto out;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        /* The broker sends a TLS record a PUBACK: read them many a system call. */
        SSL_CTX_set_read_ahead(ctx, 1);
        for (uint32_t i = 0; i < npub; i++) {
                struct conn *cn = &conns[i];
                char t[128];

                snprintf(t, sizeof(t), "%s/%u", topic, i);
                if (conn_template(cn, t, payload, payload_len) < 0)
                        goto out;
                cn->out = malloc((size_t)window * cn->tmpl_len);
                if (!cn->out || conn_open(cn, ctx, port, i) < 0)
                        goto out;
        }
        cpu0 = bench_cpu_seconds(0);
        if (server_pid)
                srv0 = bench_cpu_seconds((pid_t)server_pid);
        t0 = bench_now();
        run.tstart = t0 + warmup;
        run.tend = run.tstart + duration;
        run.sending = true;
        for (uint32_t i = 0; i < npub; i++) {
                conn_queue(&conns[i], window);
                if (conn_flush(&conns[i]) < 0)
                        goto out;
        }
        while (bench_now() < run.tend)
                if (loop_once(conns, fds, npub, window, &run, 100) < 0)
                        goto out;
        run.sending = false;
        /* What is in flight gets up to 5 s to be acknowledged. */
        deadline = bench_now() + 5;
        do {
                left = 0;
                for (uint32_t i = 0; i < npub; i++)
                        left += conns[i].inflight;
                if (left && loop_once(conns, fds, npub, window, &run, 100) < 0)
                        goto out;
        } while (left && bench_now() < deadline);
        t1 = bench_now();
        cpu1 = bench_cpu_seconds(0);
        if (server_pid)
                srv1 = bench_cpu_seconds((pid_t)server_pid);
        for (uint32_t i = 0; i < npub; i++) {
                acked += conns[i].acked;
                measured += conns[i].measured;
        }
        j = json_object_new_object();
        bench_json_string(j, "mode", "mqtt");
        bench_json_double(j, "rate", (double)measured / duration);
        bench_json_string(j, "unit", "PUBACKs/s");
        bench_json_int(j, "publishers", npub);
        bench_json_int(j, "window", window);
        bench_json_int(j, "payload", payload_len);
        bench_json_int(j, "qos", 1);
        bench_json_double(j, "seconds", duration);
        bench_json_int(j, "acked", (int64_t)acked);
        bench_json_int(j, "unacknowledged", left);
        /* CPU over everything from the first publish to the last PUBACK. */
        bench_json_double(j, "client_cpu_us_per_msg",
                          acked ? (cpu1 - cpu0) * 1e6 / (double)acked : 0);
        bench_json_double(j, "client_cpu_share", (cpu1 - cpu0) / (t1 - t0));
        if (srv0 >= 0 && srv1 >= 0) {
                bench_json_double(j, "server_cpu_us_per_msg",
                                  acked ? (srv1 - srv0) * 1e6 / (double)acked : 0);
                bench_json_double(j, "server_cpu_share", (srv1 - srv0) / (t1 - t0));
        }
        bench_print_json(j);
        if (left)
                fprintf(stderr, "bench-mqtt: %u messages unacknowledged 5 s after the window\n",
                        left);
        status = left ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
out:
        for (uint32_t i = 0; conns && i < npub; i++)
                conn_close(&conns[i]);
        SSL_CTX_free(ctx);
        free(fds);
        free(conns);
        free(payload);
        return status;
}
