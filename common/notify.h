/* notify.h: telling systemd how a daemon is doing (sd_notify(3)), for units
 * of Type=notify with a watchdog: ready, reloading, stopping, a one-line
 * status, and the watchdog's keep-alive. Outside systemd (no
 * NOTIFY_SOCKET) every call does nothing. */
#pragma once

#include <stdint.h>

/* The daemon serves: READY=1 with status as STATUS= (may be NULL). */
void notify_ready(const char *status);

/* A reload began (RELOADING=1); notify_ready() says it ended. */
void notify_reloading(void);

/* The daemon is stopping (STOPPING=1). */
void notify_stopping(void);

/* STATUS= for `systemctl status`. */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sends WATCHDOG=1 when the unit has a watchdog (WatchdogSec=) and half of
 * its interval has passed since the last one; now_ms is a monotonic clock.
 * Call it from the daemon's loop at least once a second. */
void notify_watchdog(uint64_t now_ms);
