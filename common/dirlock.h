/* dirlock.h: an exclusive lock on a directory for the life of a process: the
 * hub's `serve` (DIR/hub.lock) and the node's delivery agent
 * (DIR/outbox/agent.lock) hold one so that a second daemon on the same
 * directory refuses to start instead of writing beside the first.
 *
 * The lock is flock(2) on a lock file, so it is released by the kernel when
 * the process ends however it ends (no stale lock after a crash). The file
 * holds the holder's pid in decimal, for the message of whoever is refused. */
#pragma once

#include <sys/types.h>

#include "util.h"

/* Takes the lock on path (created 0600 if missing; not followed if a symlink)
 * without waiting. On success returns 0, *fd holds the lock until
 * dirlock_release() (or exit) and the file holds our pid. When another
 * process holds it, returns -EBUSY with *holder set to that process's pid
 * (0 when the file does not say). Other failures return a negative errno.
 * *fd is -1 on every failure. */
NMO_WUR int dirlock_take(const char *path, int *fd, pid_t *holder);

/* Tells without taking it whether a process holds the lock on path: 0 no
 * (also when path does not exist), -EBUSY yes with *holder as for
 * dirlock_take(), or another negative errno. */
NMO_WUR int dirlock_check(const char *path, pid_t *holder);

/* Releases a lock taken with dirlock_take(); accepts -1. The file stays (its
 * removal would race a process about to lock it). */
void dirlock_release(int fd);
