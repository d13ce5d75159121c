/* promhttp.c: see promhttp.h. */
#include "promhttp.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dlfcn.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "log.h"

/* A few scrapers at once at most; a slow one is cut off. */
#define PROMHTTP_CONNECTIONS 8
#define PROMHTTP_TIMEOUT_S 10

struct promhttp {
        struct MHD_Daemon *daemon;
        promhttp_format_fn format;
        void *userdata;
};

int promhttp_parse_listen(const char *s, struct sockaddr_storage *addr, unsigned int *addr_len)
{
        char host[INET6_ADDRSTRLEN + 2];
        const char *colon = strrchr(s, ':');
        struct sockaddr_storage ss;
        uint32_t port;
        size_t hlen;

        if (!colon || colon == s || util_parse_u32(colon + 1, 1, 65535, &port) < 0)
                return -EINVAL;
        hlen = (size_t)(colon - s);
        if (hlen >= sizeof(host))
                return -EINVAL;
        memcpy(host, s, hlen);
        host[hlen] = '\0';
        memset(&ss, 0, sizeof(ss));
        if (host[0] == '[') {
                struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

                /* Brackets, so that the port's colon is not the address's. */
                if (hlen < 3 || host[hlen - 1] != ']')
                        return -EINVAL;
                host[hlen - 1] = '\0';
                if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
                        return -EINVAL;
                a6->sin6_family = AF_INET6;
                a6->sin6_port = htons((uint16_t)port);
                if (addr_len)
                        *addr_len = sizeof(*a6);
        } else {
                struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

                /* A literal only: no name lookup at start, no "*" that would
                 * put an unauthenticated endpoint on every interface unasked. */
                if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
                        return -EINVAL;
                a4->sin_family = AF_INET;
                a4->sin_port = htons((uint16_t)port);
                if (addr_len)
                        *addr_len = sizeof(*a4);
        }
        if (addr)
                *addr = ss;
        return 0;
}

/* libmicrohttpd is loaded only when an endpoint is started: linked, it
 * brings GnuTLS and its libraries into every process, some 2.5 MiB of an idle
 * node agent's memory, though most never serve metrics. Its soname, as
 * Debian's libmicrohttpd12 installs it. */
#define PROMHTTP_LIBRARY "libmicrohttpd.so.12"

static struct {
        struct MHD_Daemon *(*start_daemon)(unsigned int, uint16_t, MHD_AcceptPolicyCallback,
                                           void *, MHD_AccessHandlerCallback, void *, ...);
        void (*stop_daemon)(struct MHD_Daemon *);
        struct MHD_Response *(*create_response_from_buffer)(size_t, void *,
                                                            enum MHD_ResponseMemoryMode);
        enum MHD_Result (*add_response_header)(struct MHD_Response *, const char *,
                                               const char *);
        enum MHD_Result (*queue_response)(struct MHD_Connection *, unsigned int,
                                          struct MHD_Response *);
        void (*destroy_response)(struct MHD_Response *);
        char error[256];
        int status;             /* 0 loaded, else a negative errno */
} mhd;

static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;

/* Looks up name in lib into *fn; false (with mhd.error set) when missing. */
static bool mhd_symbol(void *lib, const char *name, void *fn)
{
        void *sym = dlsym(lib, name);

        if (!sym) {
                snprintf(mhd.error, sizeof(mhd.error), "%s has no %s", PROMHTTP_LIBRARY, name);
                return false;
        }
        /* POSIX: a function's address round-trips through void *. */
        memcpy(fn, &sym, sizeof(sym));
        return true;
}

static void mhd_load(void)
{
        /* Kept for the life of the process (never dlclose()d). */
        void *lib = dlopen(PROMHTTP_LIBRARY, RTLD_NOW | RTLD_LOCAL);
        const char *why;

        if (!lib) {
                why = dlerror();
                snprintf(mhd.error, sizeof(mhd.error), "%s", why ? why : PROMHTTP_LIBRARY);
                mhd.status = -ENOENT;
                return;
        }
        if (!mhd_symbol(lib, "MHD_start_daemon", &mhd.start_daemon) ||
            !mhd_symbol(lib, "MHD_stop_daemon", &mhd.stop_daemon) ||
            !mhd_symbol(lib, "MHD_create_response_from_buffer",
                        &mhd.create_response_from_buffer) ||
            !mhd_symbol(lib, "MHD_add_response_header", &mhd.add_response_header) ||
            !mhd_symbol(lib, "MHD_queue_response", &mhd.queue_response) ||
            !mhd_symbol(lib, "MHD_destroy_response", &mhd.destroy_response))
                mhd.status = -ENOSYS;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode,
                             const char *content_type)
{
        struct MHD_Response *resp = mhd.create_response_from_buffer(len, body, mode);
        enum MHD_Result ret;

        if (!resp) {
                if (mode == MHD_RESPMEM_MUST_FREE)
                        free(body);
                return MHD_NO;
        }
        (void)mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        ret = mhd.queue_response(conn, status, resp);
        mhd.destroy_response(resp);
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
        struct promhttp *h = cls;
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
        if (h->format(h->userdata, &body, &len) < 0)
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

        if (promhttp_parse_listen(listen_on, &addr, &addr_len) < 0) {
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

int promhttp_start(struct promhttp **ret, const char *listen_on, promhttp_format_fn format,
                   void *userdata)
{
        struct promhttp *h = calloc(1, sizeof(*h));
        int fd = -1, r;

        if (!h)
                return -ENOMEM;
        h->format = format;
        h->userdata = userdata;
        (void)pthread_once(&mhd_once, mhd_load);
        if (mhd.status < 0) {
                log_error("cannot serve metrics on %s: %s (install the package "
                          "libmicrohttpd12)", listen_on, mhd.error);
                r = mhd.status;
                goto cleanup;
        }
        r = open_listener(listen_on, &fd);
        if (r < 0)
                goto cleanup;
        h->daemon = mhd.start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL,
                                     NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, fd,
                                     MHD_OPTION_CONNECTION_LIMIT,
                                     (unsigned int)PROMHTTP_CONNECTIONS,
                                     MHD_OPTION_CONNECTION_TIMEOUT,
                                     (unsigned int)PROMHTTP_TIMEOUT_S, MHD_OPTION_END);
        if (!h->daemon) {
                log_error("cannot serve metrics on %s: libmicrohttpd did not start", listen_on);
                close(fd);
                r = -EIO;
                goto cleanup;
        }
        log_info("metrics on http://%s/metrics", listen_on);
        *ret = h;
        return 0;
cleanup:
        free(h);
        return r;
}

void promhttp_stop(struct promhttp *h)
{
        if (!h)
                return;
        /* Joins the HTTP thread and closes the listening socket too. */
        mhd.stop_daemon(h->daemon);
        free(h);
}

void promhttp_put_header(FILE *f, const char *name, const char *type, const char *help)
{
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void promhttp_put_value(FILE *f, const char *name, const char *type, const char *help,
                        uint64_t v)
{
        promhttp_put_header(f, name, type, help);
        fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}
