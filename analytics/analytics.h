/* analytics.h: the analytics store, DIR/analytics: an LMDB environment of its
 * own that holds only what disclosure control released. The hub's aggregation
 * writes it (writer.h); analysts open it read-only with the reader here (LMDB
 * lets them read while the hub writes). Its records are analytics.proto's.
 *
 * Named databases:
 *   cells   material 0x00 kind(1 byte) period 0x00 event 0x00 country 0x00 -> Cell
 *   alerts  alert id (32 hex)                                               -> SignedAlert
 *   releases  u32 BE release id                                             -> Release
 *   meta    "format"                                                        -> "nmo-analytics 1"
 *
 * Nothing in it names or links to a member: no member id, name, key,
 * fingerprint, network address, exact time or pseudonym. Files are group
 * readable (directory 0750, data 0640, lock file 0660) so that an analysts'
 * group can be given access without access to the private store. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <lmdb.h>

#include "alert.pb-c.h"
#include "analytics.pb-c.h"
#include "util.h"

#define ANALYTICS_FORMAT "nmo-analytics 1"
#define ANALYTICS_KEY_MAX 128

struct analytics {
        MDB_env *env;
        MDB_dbi cells;
        MDB_dbi alerts;
        MDB_dbi meta;
        MDB_dbi releases;
        bool has_releases;      /* a store written before releases has none */
        bool readonly;
};

/* Opens the analytics store in directory dir (for the hub: HUB_DIR/analytics,
 * created unless readonly). A directory that is not an analytics store (the
 * private store, say) is refused with -EMEDIUMTYPE; one that does not exist
 * with -ENOENT. */
NMO_WUR int analytics_open(struct analytics **ret, const char *dir, bool readonly);

/* Closes; accepts NULL. */
void analytics_free(struct analytics *an);

/* Builds the cells key of c into buf (ANALYTICS_KEY_MAX bytes). */
NMO_WUR int analytics_cell_key(const Nmo__Hub__Cell *c, uint8_t *buf, size_t *len);

/* Calls fn for every cell (of material, when not NULL) in key order. The cell
 * is only valid during the call. A negative return from fn stops the walk. */
NMO_WUR int analytics_foreach_cell(struct analytics *an, const char *material,
                                   int (*fn)(const Nmo__Hub__Cell *, void *),
                                   void *userdata);

/* Calls fn for every stored alert with its signed bytes and decoded body. */
NMO_WUR int analytics_foreach_alert(struct analytics *an,
                                    int (*fn)(const uint8_t *signed_alert, size_t len,
                                              const Nmo__AlertBody *body, void *),
                                    void *userdata);

/* Calls fn for every release in order (none for a store that has never had
 * one). The record is only valid during the call; a negative return from fn
 * stops the walk. */
NMO_WUR int analytics_foreach_release(struct analytics *an,
                                      int (*fn)(const Nmo__Hub__Release *, void *),
                                      void *userdata);

/* Names: "event-week", "material-week", "event-month", "country-week";
 * "released", "suppressed"; and the reasons "frequency", "secondary". */
const char *analytics_kind_name(Nmo__Hub__CellKind kind);
const char *analytics_suppression_name(Nmo__Hub__Suppression s);
