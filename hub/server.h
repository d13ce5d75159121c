/* server.h: the hub daemon: the CurveZMQ ROUTER that nodes connect to, the
 * ZAP handler, and the loop that feeds the ingest pipeline in batches.
 *
 * Each turn of the loop takes every envelope waiting (up to the batch limit),
 * commits them in one transaction, then sends their receipts. While one batch
 * is being committed the next one queues in ZeroMQ, so under load the batches
 * grow and the cost of fsync is shared (group commit). (Opening the next batch
 * in this thread while a second one commits, ingest.h's two stages, measured
 * no better on two shared cores: interleaved medians within the noise.)
 * SIGTERM or SIGINT: the
 * batch in hand is finished and answered, then the hub exits cleanly. SIGHUP:
 * hub.conf is read again and what can change while running is applied
 * (reload.h). */
#pragma once

#include "config.h"

struct hub_server;

/* Sets up the hub of directory hub_dir with cfg (copied), in this order:
 * SIGTERM, SIGINT and SIGHUP blocked in every thread and read from a
 * signalfd; the hub's keys and its last key rotation; the private store
 * (meta syncs deferred), the analytics store, the aggregation and the ingest;
 * epochs that ended while the hub was down closed and the open ones
 * recounted (a failure there is logged, and the hub serves anyway); the
 * ZAP handler, the listening ROUTER bound to cfg->listen, the alert feed
 * (both with the listen backlog of [limits] backlog, and [limits]
 * unauthenticated: 0 sizes them for twice the members ever enrolled, at least
 * 4096 and 512) and the aggregation thread (aggthread.h). The caller holds the directory's lock
 * (cli.h hub_cli_lock()). Returns 0, or a negative errno when the hub cannot
 * start (logged; everything set up so far is torn down). */
NMO_WUR int hub_server_new(struct hub_server **ret, const char *hub_dir,
                           const struct hub_config *cfg);

/* Serves until SIGTERM or SIGINT: the batch in hand is finished and
 * answered, and 0 returned. Returns a negative errno when the loop cannot go
 * on (poll failed, the feed cannot be reopened; logged). */
NMO_WUR int hub_server_run(struct hub_server *srv);

/* Stops the aggregation thread after a last flush of everything dirty,
 * publishes its last alerts, closes the sockets and the stores, wipes the
 * keys and frees; accepts NULL and a server that hub_server_new() left
 * half-built. */
void hub_server_free(struct hub_server *srv);

/* hub_server_new(), hub_server_run(), hub_server_free(): returns 0 after a
 * clean stop, or a negative errno. */
NMO_WUR int hub_serve(const char *hub_dir, const struct hub_config *cfg);

/* Paths of the hub's key files inside hub_dir (fresh strings, free()). */
char *hub_secret_key_path(const char *hub_dir);
char *hub_public_key_path(const char *hub_dir);
