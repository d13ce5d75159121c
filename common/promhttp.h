/* promhttp.h: a Prometheus endpoint, shared by nmo-hub and nmo-node ([metrics]
 * listen): GET (or HEAD) /metrics answered with the text exposition format
 * 0.0.4 by libmicrohttpd on a thread of its own. Any other path is 404, any
 * other method 405. At most a few scrapers at once; one that stalls is cut
 * off after a timeout.
 *
 * Threads: the format callback runs on the HTTP thread. It must not touch
 * what the caller's loop owns; the daemons hand it a snapshot under a mutex
 * (hub/metrics.h, node/node-metrics.h). There is no authentication: the
 * address is a literal, bound to that address only, never every interface
 * unasked. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

struct promhttp;
struct sockaddr_storage;

/* Writes the exposition text into a fresh NUL-terminated buffer (*out,
 * malloc()ed; *len without the NUL) that the server frees. Returns 0 or a
 * negative errno (answered with 500). Called on the HTTP thread. */
typedef int (*promhttp_format_fn)(void *userdata, char **out, size_t *len);

/* Parses a [metrics] listen value: an IPv4 address or a bracketed IPv6
 * address, a colon and a port from 1 to 65535 ("127.0.0.1:9750",
 * "[::1]:9750"); no names, no "*". Fills *addr (sockaddr_in or sockaddr_in6,
 * *addr_len its size) when addr is not NULL. Returns 0 or -EINVAL. */
NMO_WUR int promhttp_parse_listen(const char *s, struct sockaddr_storage *addr,
                                  unsigned int *addr_len);

/* Starts serving GET /metrics on listen_on (promhttp_parse_listen()) with
 * format(userdata) for the body. The calling thread's signal mask is the HTTP
 * thread's. On success *ret owns the server (promhttp_stop()). Returns 0, or
 * a negative errno, logged: -EINVAL for a bad address, the errno of a socket
 * that cannot be bound, -EIO when libmicrohttpd cannot start. */
NMO_WUR int promhttp_start(struct promhttp **ret, const char *listen_on,
                           promhttp_format_fn format, void *userdata);

/* Writes a metric's HELP and TYPE lines to f. */
void promhttp_put_header(FILE *f, const char *name, const char *type, const char *help);

/* Writes a metric without labels: its HELP and TYPE lines and the value. */
void promhttp_put_value(FILE *f, const char *name, const char *type, const char *help,
                        uint64_t v);

/* Stops the HTTP thread, closes the socket and frees; accepts NULL. When it
 * returns, format is not running and will not be called again. */
void promhttp_stop(struct promhttp *h);
