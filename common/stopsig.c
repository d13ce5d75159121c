/* stopsig.c: see stopsig.h. */
#include "stopsig.h"

#include <errno.h>
#include <sys/signalfd.h>

int util_stop_signalfd(sigset_t *old, bool *blocked, bool reload)
{
        sigset_t mask;
        int fd;

        *blocked = false;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (reload)
                sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, old) < 0)
                return -errno;
        *blocked = true;
        fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        return fd < 0 ? -errno : fd;
}
