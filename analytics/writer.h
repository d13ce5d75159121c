/* writer.h: writing the analytics store (analytics.h), for the hub's
 * aggregation only. The analyst never calls these: it opens the store
 * read-only.
 *
 * Every call works inside a write transaction txn that the caller began on
 * an->env (the hub writes all of one recomputation in one transaction, and
 * grows the map and retries when it is full), and changes nothing when it
 * fails; the caller aborts the transaction then. None of them commits. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <lmdb.h>

#include "alert.pb-c.h"
#include "analytics.pb-c.h"
#include "util.h"

struct analytics;

/* The length of an alert id: 32 lower-case hex digits, no NUL. */
#define ANALYTICS_ALERT_ID_LEN 32


/* Calls fn with every cell of material whose period is month or one of its
 * weeks, decoded, in key order, inside txn. A negative return from fn stops
 * the walk and is returned; -EBADMSG when a cell does not decode. */
NMO_WUR int analytics_month_cells(MDB_txn *txn, struct analytics *an, const char *material,
                                  uint32_t month, int (*fn)(const Nmo__Hub__Cell *, void *),
                                  void *userdata);

/* The id the next release takes: one more than the last (1 for the first). */
NMO_WUR int analytics_release_next_id(MDB_txn *txn, struct analytics *an, uint32_t *id);

/* Stores rel in the ledger of releases under rel->id (set, not 0: -EINVAL).
 * 0, -ENOMEM or a negative errno from LMDB. */
NMO_WUR int analytics_put_release(MDB_txn *txn, struct analytics *an,
                                  const Nmo__Hub__Release *rel);

/* Stores cell c under its key (analytics_cell_key), replacing the cell
 * that had it. The store's promise is checked here, where it is kept: a
 * suppressed cell carries its kind, names, period, suppression and final flag
 * and nothing else; one that carries a figure or a note is refused with
 * -EINVAL and nothing is written. -E2BIG when the names do not fit a key;
 * -ENOMEM; other negative errnos from LMDB. c stays the caller's. */
NMO_WUR int analytics_put_cell(MDB_txn *txn, struct analytics *an,
                               const Nmo__Hub__Cell *c);

/* The reports of the released cell (kind, material, period, event; event
 * NULL or "" for the kinds without one). 0 when there is no such cell, when
 * it is suppressed, or when it cannot be read: the alert rules treat all of
 * them as "nothing reported". */
uint32_t analytics_released_reports(MDB_txn *txn, struct analytics *an,
                                    Nmo__Hub__CellKind kind, const char *material,
                                    const char *period, const char *event);

/* Reads the alert stored under id (ANALYTICS_ALERT_ID_LEN characters) and
 * decodes its body into *body, which the caller frees with
 * nmo__alert_body__free_unpacked. Returns 0; -ENOENT when there is none;
 * -EBADMSG when the record or its body does not decode (*body is NULL then);
 * other negative errnos from LMDB. */
NMO_WUR int analytics_get_alert(MDB_txn *txn, struct analytics *an, const char *id,
                                Nmo__AlertBody **body);

/* Stores the signed alert (len bytes, alert.h's SignedAlert) under id,
 * replacing an earlier revision. The bytes stay the caller's. 0 or a
 * negative errno from LMDB. */
NMO_WUR int analytics_put_alert(MDB_txn *txn, struct analytics *an, const char *id,
                                const uint8_t *signed_alert, size_t len);
