/* server.h: the hub daemon: the CurveZMQ ROUTER that nodes connect to, the
 * ZAP handler, and the loop that feeds the ingest pipeline in batches.
 *
 * Each turn of the loop takes every envelope waiting (up to the batch limit),
 * commits them in one transaction, then sends their receipts. While one batch
 * is being committed the next one queues in ZeroMQ, so under load the batches
 * grow and the cost of fsync is shared (group commit). SIGTERM or SIGINT: the
 * batch in hand is finished and answered, then the hub exits cleanly. SIGHUP:
 * hub.conf is read again and what can change while running is applied
 * (reload.h). */
#pragma once

#include "config.h"

/* Runs the hub of directory hub_dir with cfg until SIGTERM/SIGINT (the
 * caller holds the directory's lock, cli.h hub_cli_lock()). Returns 0
 * after a clean stop, or a negative errno when it could not start (and logs
 * why). */
NMO_WUR int hub_serve(const char *hub_dir, const struct hub_config *cfg);

/* Paths of the hub's key files inside hub_dir (fresh strings, free()). */
char *hub_secret_key_path(const char *hub_dir);
char *hub_public_key_path(const char *hub_dir);
