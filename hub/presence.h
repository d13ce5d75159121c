/* presence.h: when each member was last connected, for the operator alone
 * (`nmo-hub stats`; never in the metrics, the analytics store or a log line
 * an analyst reads).
 *
 * The private store's presence database holds one record per member that
 * ever connected: the start of the UTC hour it was last seen connected, and
 * whether it held a connection (envelopes or alert feed) when the hub last
 * wrote. The hour, not the minute: receipts carry no finer time either
 * (ingest.h), so a member's presence says no more about when it reported than
 * its own receipts do. The hub loop writes at most once a minute and at a
 * reload (SIGHUP), and only when something changed; at start every "connected" left by a crash is
 * cleared, and at a clean stop every connected member is marked seen. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <lmdb.h>

#include "util.h"

struct hub_store;

#define HUB_PRESENCE_HOUR_MS 3600000ULL

/* One write transaction: members in connected[] are marked connected and seen
 * in the hour of now_ms; members in seen[] (connected or disconnected since
 * the last write) are marked seen in that hour; every other member still
 * marked connected is marked disconnected and seen in that hour, unless
 * starting is true (the hub just started: they are only marked
 * disconnected, their last hour kept). Arrays may repeat ids. Returns 0 or a
 * negative errno (logged by the caller). */
NMO_WUR int hub_presence_write(struct hub_store *st, const uint32_t *connected, size_t nconnected,
                               const uint32_t *seen, size_t nseen, uint64_t now_ms,
                               bool starting);

/* A member's record: -ENOENT when it never connected (or the store predates
 * presence records). */
NMO_WUR int hub_presence_get(MDB_txn *txn, struct hub_store *st, uint32_t member,
                             uint64_t *last_seen_ms, bool *connected);
