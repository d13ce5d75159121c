/* client.c: see client.h. */
#include "client.h"

#include <errno.h>
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
