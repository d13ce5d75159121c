/* aggregate.h: from accepted signals to released cells and alerts.
 *
 * Inside the ingest transaction each accepted signal becomes a contribution of
 * its epoch (the month of ISO weeks it arrived in): the member id is replaced
 * by a pseudonym keyed with the epoch's secret key, the signal gets a random
 * record key (the cell key method, perturb.h), and the record is encrypted
 * with a key derived from the epoch's (epochkey.h, contrib.h). The ingest
 * only appends it to the journal (journal.h: one small sequential write, so a
 * group commit touches few pages); hub_aggregate_flush() folds the journal
 * into the contribution rows (one summary per member, week, event and
 * country) in transactions of the aggregation thread.
 *
 * Figures are released on a calendar, not as signals arrive: a week's cells
 * once the week has ended plus [release] delay_hours, the month's cells with
 * the epoch's final release. A release computes disclosure control
 * (disclosure.h) with what earlier releases published as fixed (the ledger:
 * the analytics store's cells and Release records), writes the new cells with
 * the cell key method's noise and a Release record in one transaction, and
 * evaluates the alert rules over what it published. A released week never
 * takes another signal (epochs.h).
 *
 * With the epoch's final release its signal records are cut down to the
 * month (records.h), its contributions deleted and its key file overwritten
 * and unlinked: from then on nothing, not even the hub, can link that epoch's
 * contributions to members. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <lmdb.h>

#include "analytics.h"
#include "config.h"
#include "keys.h"
#include "signal.h"
#include "store.h"

struct hub_aggregate;
struct hub_epoch_key;

/* A signed alert, new or revised, to publish. */
struct hub_alert_out {
        uint8_t *signed_alert;   /* SignedAlert bytes (free()) */
        size_t len;
};

/* Sets up aggregation for the hub in hub_dir over its open private store and
 * analytics store (both borrowed). */
NMO_WUR int hub_aggregate_new(struct hub_aggregate **ret, const char *hub_dir,
                              struct hub_store *st, struct analytics *an,
                              const struct keys_secret *hub, const struct hub_config *cfg);

/* Wipes cached epoch keys and frees; accepts NULL. */
void hub_aggregate_free(struct hub_aggregate *ag);

/* Adds signal s from member member_id, arriving at now_ms and stored as
 * sequence seq (unique and increasing: the journal's key), as a contribution:
 * opens its epoch when new (a clock stepped back into a closed epoch counts
 * in the next open one), and appends it to the journal, inside the caller's
 * write transaction on the private store. */
NMO_WUR int hub_aggregate_add(struct hub_aggregate *ag, MDB_txn *txn, uint32_t member_id,
                              uint64_t seq, const struct signal *s, uint64_t now_ms);

/* The epoch a signal arriving at now_ms counts in (opened when new, as
 * hub_aggregate_add() opens it) and its keys, for the signal's dedup record
 * (records.h), inside the caller's write transaction: *month, and *ek (the
 * caller wipes it). Returns 0 or a negative errno. */
NMO_WUR int hub_aggregate_record_key(struct hub_aggregate *ag, MDB_txn *txn, uint64_t now_ms,
                                     uint32_t *month, struct hub_epoch_key *ek);

/* The keys of epoch month into *ek (the caller wipes it): -ENOENT once the
 * epoch has closed and its key is destroyed (epochkey.h). */
NMO_WUR int hub_aggregate_epoch_key(struct hub_aggregate *ag, uint32_t month,
                                    struct hub_epoch_key *ek);

/* The journal the signals go to (journal.h), owned by the aggregation; the
 * ingest trims it and tells it how far the store is durable. */
struct hub_journal *hub_aggregate_journal(struct hub_aggregate *ag);

/* hub_journal_durable() on the aggregation's journal. */
void hub_aggregate_durable(struct hub_aggregate *ag, uint64_t seq);

/* Folds the journal into the contributions, then releases whatever the
 * calendar says is due by now_ms (closing an epoch with its final release).
 * New alerts are returned for publishing (*alerts: free with
 * hub_alert_out_free). */
NMO_WUR int hub_aggregate_flush(struct hub_aggregate *ag, uint64_t now_ms,
                                struct hub_alert_out **alerts, size_t *nalerts);

/* Finishes any epoch close a crash interrupted (signal records cut down to
 * the epoch, contributions deleted, key destroyed), then flushes: whatever
 * release is due by now_ms, possibly several after downtime, each dated at
 * its point in the calendar. Nothing is recounted at start-up: released
 * figures never change, and a due release is computed from the
 * contributions with the same noise every time. */
NMO_WUR int hub_aggregate_housekeeping(struct hub_aggregate *ag, uint64_t now_ms,
                                       struct hub_alert_out **alerts, size_t *nalerts);

/* Signed alerts issued within the last days days (for a new subscriber). */
/* Evaluates alerts with rules from the next recomputation on (a reload);
 * safe while the aggregation thread runs. */
void hub_aggregate_set_rules(struct hub_aggregate *ag, const struct hub_alert_rules *rules);

NMO_WUR int hub_aggregate_recent_alerts(struct hub_aggregate *ag, uint64_t now_ms,
                                        unsigned int days, struct hub_alert_out **alerts,
                                        size_t *nalerts);

void hub_alert_out_free(struct hub_alert_out *alerts, size_t n);

/* The path of an epoch's key file (fresh string): hub_epoch_key_path(). */
char *hub_aggregate_key_path(const char *hub_dir, uint32_t month);
