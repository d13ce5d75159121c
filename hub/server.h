/* server.h: the hub daemon: the CurveZMQ ROUTER that nodes connect to, the
 * ZAP handler, and the loop that feeds the ingest pipeline in batches.
 *
 * The loop and a commit thread (committer.h) work as a pipeline. Whenever the
 * commit thread's stage is free, the loop takes every envelope waiting (up to
 * the batch limit), opens it (ingest.h hub_ingest_open(): decrypted and
 * checked, outside any write transaction) and stages the batch; the commit
 * thread commits it in one LMDB transaction with one device flush
 * (hub_ingest_commit()), which also makes the batch before durable. So while
 * the disk flushes one batch, the next is received and opened, and what
 * arrives meanwhile queues in ZeroMQ: under load the batches grow and a flush
 * is shared (group commit); with little in flight a batch is committed as
 * soon as the disk is free, with whatever has arrived, and synced at once
 * when nothing follows. A batch's receipts leave, from the loop, only once
 * the batch is durable. SIGTERM or SIGINT: every batch taken is finished and
 * answered, then the hub exits cleanly. SIGHUP:
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
 * commit thread (committer.h); the ZAP handler, the listening ROUTER bound to
 * cfg->listen, the alert feed (both with the listen backlog of [limits]
 * backlog, 0: twice the members ever enrolled, at least 4096) and the
 * aggregation thread (aggthread.h). The caller holds the directory's lock
 * (cli.h hub_cli_lock()). Returns 0, or a negative errno when the hub cannot
 * start (logged; everything set up so far is torn down). */
NMO_WUR int hub_server_new(struct hub_server **ret, const char *hub_dir,
                           const struct hub_config *cfg);

/* Serves until SIGTERM or SIGINT: the batches in flight are finished and
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
