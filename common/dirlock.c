/* dirlock.c: see dirlock.h. */
#include "dirlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* The pid the holder wrote, or 0 when the file says nothing usable. */
static pid_t read_holder(int fd)
{
        char buf[32];
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        uint32_t pid = 0;

        if (n <= 0)
                return 0;
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        if (util_parse_u32(buf, 1, INT32_MAX, &pid) < 0)
                return 0;
        return (pid_t)pid;
}

int dirlock_take(const char *path, int *fd, pid_t *holder)
{
        char buf[32];
        int len, r, f;

        *fd = -1;
        *holder = 0;
        f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (f < 0)
                return -errno;
        if (flock(f, LOCK_EX | LOCK_NB) < 0) {
                r = errno == EWOULDBLOCK ? -EBUSY : -errno;
                if (r == -EBUSY)
                        *holder = read_holder(f);
                goto fail;
        }
        /* The pid is a courtesy for the refused; the lock is the flock. */
        len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
        if (ftruncate(f, 0) < 0 || pwrite(f, buf, (size_t)len, 0) != len) {
                r = -errno;
                goto fail;
        }
        *fd = f;
        return 0;
fail:
        close(f);
        return r;
}

int dirlock_check(const char *path, pid_t *holder)
{
        int f, r = 0;

        *holder = 0;
        f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (f < 0)
                return errno == ENOENT ? 0 : -errno;
        /* A shared lock is refused exactly while someone holds it exclusively. */
        if (flock(f, LOCK_SH | LOCK_NB) < 0) {
                r = errno == EWOULDBLOCK ? -EBUSY : -errno;
                if (r == -EBUSY)
                        *holder = read_holder(f);
        }
        close(f); /* releases the shared lock, if taken */
        return r;
}

void dirlock_release(int fd)
{
        if (fd >= 0)
                close(fd);
}
