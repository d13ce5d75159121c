/* client.c: see client.h. */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"

int client_zmq_err(void)
{
        int e = zmq_errno();

        return e > 0 ? -e : -EIO;
}

int client_set_int(void *sock, int opt, int value)
{
        return zmq_setsockopt(sock, opt, &value, sizeof(value)) < 0 ? client_zmq_err() : 0;
}

int client_curve_connect(void *ctx, void *sock, const struct node *n,
                         const struct keys_secret *keys, const char *endpoint,
                         const char *monitor_endpoint, int events, void **monitor)
{
        int r;

        if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, n->hub.transport, KEYS_KEY_BYTES) < 0 ||
            zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, keys->pub.transport, KEYS_KEY_BYTES) < 0 ||
            zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, keys->transport_sk, KEYS_KEY_BYTES) < 0)
                return client_zmq_err();
        /* The monitor must exist before the connection, or its first events are lost. */
        if (zmq_socket_monitor(sock, monitor_endpoint, events) < 0)
                return client_zmq_err();
        *monitor = zmq_socket(ctx, ZMQ_PAIR);
        if (!*monitor)
                return client_zmq_err();
        if ((r = client_set_int(*monitor, ZMQ_LINGER, 0)) < 0)
                return r;
        if (zmq_connect(*monitor, monitor_endpoint) < 0)
                return client_zmq_err();
        if (zmq_connect(sock, endpoint) < 0) {
                r = client_zmq_err();
                log_error("%s: cannot connect to %s: %s", n->conf_path, endpoint,
                          zmq_strerror(-r));
                return r;
        }
        return 0;
}

/* Connects a non-blocking socket to ai; 0, or a negative errno. */
static int probe_one(const struct addrinfo *ai, int timeout_ms)
{
        struct pollfd p;
        socklen_t len = sizeof(int);
        int fd, e = 0, r;

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
                return -errno;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
                r = 0;
                goto out;
        }
        if (errno != EINPROGRESS) {
                r = -errno;
                goto out;
        }
        p = (struct pollfd){ .fd = fd, .events = POLLOUT };
        r = poll(&p, 1, timeout_ms);
        if (r == 0) {
                r = -ETIMEDOUT;
                goto out;
        }
        if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0) {
                r = -errno;
                goto out;
        }
        r = -e;
out:
        close(fd);
        return r;
}

int client_probe(const char *endpoint, int timeout_ms)
{
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
        char host[256];
        const char *h, *colon;
        size_t hlen;
        int r;

        if (strncmp(endpoint, "tcp://", 6) != 0)
                return -EINVAL;
        h = endpoint + 6;
        colon = strrchr(h, ':');
        if (!colon)
                return -EINVAL;
        hlen = (size_t)(colon - h);
        if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
                h++;
                hlen -= 2;
        }
        if (hlen == 0 || hlen >= sizeof(host))
                return -EINVAL;
        memcpy(host, h, hlen);
        host[hlen] = '\0';
        if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
                return -ENXIO;
        r = probe_one(res, timeout_ms);
        freeaddrinfo(res);
        return r;
}

const char *client_probe_text(int r)
{
        switch (r) {
        case 0:
                return "the TCP connection opens but ZeroMQ cannot use it";
        case -ECONNREFUSED:
                return "connection refused (is nmo-hub serve running there?)";
        case -ETIMEDOUT:
                return "no answer (the host is down or a firewall drops the port)";
        case -EHOSTUNREACH:
        case -ENETUNREACH:
                return "host unreachable";
        case -ENXIO:
                return "the host name does not resolve";
        default:
                return strerror(-r);
        }
}
