/* util.c: see util.h. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

int util_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
        unsigned long long v;
        char *end = NULL;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno || !end || *end != '\0')
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *out = v;
        return 0;
}

int util_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
        uint64_t v;
        int r = util_parse_u64(s, min, max, &v);

        if (r < 0)
                return r;
        *out = (uint32_t)v;
        return 0;
}

uint64_t util_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t util_mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void util_format_time(uint64_t ms, char *buf, size_t len)
{
        time_t t = (time_t)(ms / 1000u);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, len, "?");
}

void util_hex(const uint8_t *in, size_t len, char *out)
{
        sodium_bin2hex(out, 2 * len + 1, in, len);
}

int util_unhex(const char *in, uint8_t *out, size_t len)
{
        size_t got = 0;
        const char *end = NULL;

        if (!in || strlen(in) != 2 * len)
                return -EINVAL;
        if (sodium_hex2bin(out, len, in, 2 * len, NULL, &got, &end) != 0 || got != len ||
            *end != '\0')
                return -EINVAL;
        return 0;
}

int util_mkdir_p(const char *dir, unsigned int mode)
{
        char buf[PATH_MAX];
        size_t n = strlen(dir);
        struct stat st;

        if (n == 0 || n >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, dir, n + 1);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0) {
                if (errno != EEXIST)
                        return -errno;
                if (stat(buf, &st) < 0)
                        return -errno;
                if (!S_ISDIR(st.st_mode))
                        return -ENOTDIR;
        }
        return 0;
}

static int fsync_parent(const char *path)
{
        char buf[PATH_MAX];
        char *slash;
        int fd, r = 0;

        if (strlen(path) >= sizeof(buf))
                return -ENAMETOOLONG;
        strcpy(buf, path);
        slash = strrchr(buf, '/');
        if (!slash)
                strcpy(buf, ".");
        else if (slash == buf)
                buf[1] = '\0';
        else
                *slash = '\0';
        fd = open(buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}

int util_write_file(const char *path, const void *data, size_t len, unsigned int mode,
                    bool exclusive)
{
        char tmp[PATH_MAX];
        const uint8_t *p = data;
        int fd = -1, r = -EIO;

        if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof(tmp))
                return -ENAMETOOLONG;
        if (exclusive && access(path, F_OK) == 0)
                return -EEXIST;
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        /* The umask must not widen or narrow what the caller asked for. */
        if (fchmod(fd, mode) < 0) {
                r = -errno;
                goto out;
        }
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto out;
                }
                p += n;
                len -= (size_t)n;
        }
        if (fsync(fd) < 0) {
                r = -errno;
                goto out;
        }
        if (close(fd) < 0) {
                fd = -1;
                r = -errno;
                goto out;
        }
        fd = -1;
        if (exclusive) {
                /* link() fails if path appeared meanwhile: creation stays exclusive. */
                if (link(tmp, path) < 0) {
                        r = -errno;
                        goto out;
                }
                (void)unlink(tmp);
        } else if (rename(tmp, path) < 0) {
                r = -errno;
                goto out;
        }
        return fsync_parent(path);
out:
        if (fd >= 0)
                close(fd);
        (void)unlink(tmp);
        return r;
}

int util_read_file(const char *path, size_t max, char **data, size_t *len)
{
        struct stat st;
        char *buf = NULL;
        size_t got = 0;
        int fd, r = -EIO;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                r = -EINVAL;
                goto out;
        }
        if ((uint64_t)st.st_size > max) {
                r = -EFBIG;
                goto out;
        }
        buf = malloc((size_t)st.st_size + 1);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        while (got < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto out;
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        buf[got] = '\0';
        *data = buf;
        *len = got;
        buf = NULL;
        r = 0;
out:
        free(buf);
        close(fd);
        return r;
}

void util_set_err(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        if (!err || errlen == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}

char *util_path(const char *dir, const char *name)
{
        size_t a = strlen(dir), b = strlen(name);
        char *p = malloc(a + b + 2);

        if (!p)
                return NULL;
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
        return p;
}

uint64_t util_backoff_ms(unsigned int attempt, uint64_t base_ms, uint64_t max_ms)
{
        uint64_t d = base_ms;

        while (attempt > 1 && d < max_ms) {
                d *= 2;
                attempt--;
        }
        if (d > max_ms)
                d = max_ms;
        /* Half fixed, half random: spreads a crowd of nodes after a hub restart. */
        return d / 2 + randombytes_uniform((uint32_t)(d / 2 + 1));
}

bool util_text_ok(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t i = 0;

        while (i < len) {
                unsigned char c = p[i];
                size_t n;
                uint32_t cp;

                if (c < 0x80) {
                        if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
                                return false;
                        i++;
                        continue;
                }
                if ((c & 0xe0) == 0xc0) {
                        n = 1;
                        cp = c & 0x1f;
                } else if ((c & 0xf0) == 0xe0) {
                        n = 2;
                        cp = c & 0x0f;
                } else if ((c & 0xf8) == 0xf0) {
                        n = 3;
                        cp = c & 0x07;
                } else {
                        return false;
                }
                if (i + n >= len)
                        return false;
                for (size_t k = 1; k <= n; k++) {
                        if ((p[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i + k] & 0x3f);
                }
                /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
                if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
                    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                        return false;
                if (cp >= 0x80 && cp < 0xa0)
                        return false;
                i += n + 1;
        }
        return true;
}
