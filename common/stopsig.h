/* stopsig.h: how the node's daemon loops learn that they should stop (or,
 * SIGHUP, reload).
 * (Not in util.h: proto/signal.h must never stand in for <signal.h>.) */
#pragma once

#include <signal.h>
#include <stdbool.h>

#include "util.h"

/* Blocks SIGTERM and SIGINT (and SIGHUP with reload, for a loop that reloads
 * its configuration on it) in the calling thread (call it before ZeroMQ
 * starts its threads, so they inherit the mask and only the signalfd sees
 * them) and returns a non-blocking signalfd for them, or -errno. *old receives
 * the previous mask and *blocked says whether it must be restored
 * (sigprocmask(SIG_SETMASK, old, NULL)), also after a failure. */
NMO_WUR int util_stop_signalfd(sigset_t *old, bool *blocked, bool reload);
