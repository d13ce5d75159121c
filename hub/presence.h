/* presence.h: when each member was last connected, for the operator alone
 * (`nmo-hub stats`; never in the metrics, the analytics store or a log line
 * an analyst reads).
 *
 * The file DIR/private/presence (mode 0600) holds one line per member that
 * ever connected: its id, the start of the UTC hour it was last seen
 * connected, and whether it held a connection (envelopes or alert feed) when
 * the hub last wrote. The hour, not the minute: receipts carry no finer time
 * either (ingest.h). Once an epoch has closed (its signal records cut down,
 * records.h), an hour in it becomes the epoch's start: no record then ties a
 * member to a time finer than the epoch, not even to the week of the
 * released cells. The file is replaced whole (written aside, fsync, rename),
 * so no earlier version of it stays behind inside it, as freed pages of an
 * LMDB file would.
 *
 * Only the hub loop writes it: at most once a minute and at a reload
 * (SIGHUP), when something changed or another epoch closed; at start every
 * "connected" left by a crash is cleared, and at a clean stop every
 * connected member is marked seen. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct hub_store;

#define HUB_PRESENCE_HOUR_MS 3600000ULL
#define HUB_PRESENCE_FILE "presence"

struct hub_presence {
        uint32_t member;
        uint64_t ms;            /* an hour's start, or an epoch's (epoch) */
        bool connected;
        bool epoch;
};

/* Rewrites hub_dir's presence file: members in connected[] are marked
 * connected and seen in the hour of now_ms; members in seen[] (connected or
 * disconnected since the last write) are marked seen in that hour; every
 * other member still marked connected is marked disconnected and seen in
 * that hour, unless starting (the hub just started: they are only marked
 * disconnected). Hours of epochs through closed_through (yyyymm, 0: none)
 * become their epoch's start. Arrays may repeat ids. Returns 0 or a negative
 * errno (the file is then as it was). */
NMO_WUR int hub_presence_write(const char *hub_dir, const uint32_t *connected, size_t nconnected,
                               const uint32_t *seen, size_t nseen, uint64_t now_ms,
                               bool starting, uint32_t closed_through);

/* Reads hub_dir's presence file into a fresh array (free()); none (*n 0)
 * when there is no file yet. Lines that do not parse are skipped. */
NMO_WUR int hub_presence_read(const char *hub_dir, struct hub_presence **list, size_t *n);
