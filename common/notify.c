/* notify.c: see notify.h. */
#include "notify.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

static uint64_t watchdog_half_ms;       /* 0: no watchdog, or not looked yet */
static uint64_t watchdog_last_ms;
static bool watchdog_known;

void notify_ready(const char *status)
{
        if (status)
                (void)sd_notifyf(0, "READY=1\nSTATUS=%s", status);
        else
                (void)sd_notify(0, "READY=1");
}

void notify_reloading(void)
{
        (void)sd_notify(0, "RELOADING=1");
}

void notify_stopping(void)
{
        (void)sd_notify(0, "STOPPING=1");
}

void notify_status(const char *fmt, ...)
{
        char buf[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        (void)sd_notifyf(0, "STATUS=%s", buf);
}

void notify_watchdog(uint64_t now_ms)
{
        if (!watchdog_known) {
                uint64_t usec = 0;

                /* > 0: enabled for this process, usec its interval. */
                if (sd_watchdog_enabled(0, &usec) > 0)
                        watchdog_half_ms = usec / 2000;
                watchdog_known = true;
        }
        if (!watchdog_half_ms || now_ms - watchdog_last_ms < watchdog_half_ms)
                return;
        watchdog_last_ms = now_ms;
        (void)sd_notify(0, "WATCHDOG=1");
}
