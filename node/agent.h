/* agent.h: the delivery agent behind `nmo-node run`.
 *
 * One DEALER socket, a CurveZMQ client of the hub, carries one envelope per
 * frame; the hub answers each with one Reply frame holding a signed receipt.
 * The agent keeps at most `window` signals in flight, verifies every receipt
 * with the hub's signing key, and records the outcome in the outbox. Signals
 * without a reply in time, and temporary rejections, go back to the queue with
 * exponential backoff and jitter; hub downtime only delays delivery.
 *
 * A PULL socket on ipc://DIR/agent.sock takes nudges from `submit`; the outbox
 * is also re-scanned every second. SIGTERM and SIGINT (through a signalfd)
 * stop the agent cleanly: receipts already received are recorded and signals
 * in flight are queued again. SIGHUP reads node.conf again: [delivery] and
 * [log] apply at once, a changed [hub] endpoint at the next start (both
 * logged); a node.conf that does not parse is refused and the settings in use
 * stay. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct node;

struct agent_options {
        /* Stop once nothing is queued or in flight. Temporary rejections stay
         * queued, so this keeps trying until they clear (or timeout_ms). */
        bool once;
        /* With once: give up after this long (0: never) with -ETIMEDOUT. */
        uint64_t timeout_ms;
        /* -v or -q was given: node.conf's [log] level does not apply, also
         * not on a reload. */
        bool log_level_set;
};

/* Runs the agent for node n, whose configuration and keys are loaded. Returns
 * 0 after a signal or, with once, an empty queue; -ETIMEDOUT when once's
 * timeout passed first; -EBUSY when another agent runs on the same outbox;
 * another negative errno (logged) when the outbox or ZeroMQ fails. */
NMO_WUR int agent_run(struct node *n, const struct agent_options *opts);
