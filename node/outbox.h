/* outbox.h: the node's durable queue of sealed signals and their receipts.
 *
 * The outbox is an LMDB environment in DIR/outbox with five named databases:
 *   records  8-byte big-endian sequence (insertion order) -> Record (outbox.proto)
 *   index    16-byte signal id -> 8-byte sequence
 *   pending  sequence -> state (1 byte) and next attempt (8 bytes, big-endian ms),
 *            for the records still queued or in flight, so the agent's scans
 *            do not grow with the delivered history
 *   meta     name -> value ("last_hub_error": a HubError; "hub_link": a HubLink,
 *            the agent's connection for `status`; "sealing_key": the
 *            member payload public key envelopes must be sealed with, set by
 *            a key rotation)
 *   alerts   alert id (32 hex digits) -> the hub's SignedAlert bytes, as received
 *            and verified; the highest revision of each id (proto/alert.proto)
 *
 * Records are never deleted: a delivered or rejected signal stays visible with
 * its signed receipt. Every write is one durable LMDB transaction; when the map
 * is full the transaction is aborted, the map grown and the transaction retried;
 * when the disk is full, the write fails with -ENOSPC and nothing grows.
 * The outbox holds ciphertext only: callers hand it sealed envelopes.
 *
 * Several processes may open the same outbox: `submit` and `alerts` write,
 * `status` reads, and exactly one agent (OUTBOX_AGENT, guarded by a lock file)
 * delivers. An outbox made before the alerts database existed gains it at its
 * next writable open; read-only it simply has no alerts. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "signal.h"

struct receipt;

/* Largest record value read back from disk; a larger one is corrupt. */
#define OUTBOX_RECORD_MAX 16384
/* The agent's lock file inside the outbox directory (common/dirlock.h); it
 * holds the running agent's pid. */
#define OUTBOX_AGENT_LOCK "agent.lock"
/* Length of an alert id: 32 lower-case hex digits. */
#define OUTBOX_ALERT_ID_LEN 32
/* Initial LMDB map; it grows by doubling as needed, up to DB_MAP_MAX. */
#define OUTBOX_MAP_INITIAL ((size_t)16 << 20)
/* Largest last_error, detail and hub error texts kept. */
#define OUTBOX_TEXT_MAX 256
/* Length of a member payload public key (KEYS_KEY_BYTES). */
#define OUTBOX_KEY_BYTES 32
/* Former envelopes a record remembers across key rotations (the oldest go). */
#define OUTBOX_FORMER_MAX 8

enum outbox_state {
        OUTBOX_QUEUED = 1,
        OUTBOX_IN_FLIGHT = 2,
        OUTBOX_DELIVERED = 3,
        OUTBOX_REJECTED = 4,
};

enum outbox_flags {
        /* Read only: for `status`; works while an agent runs. */
        OUTBOX_READONLY = 1U << 0,
        /* The delivery agent: takes DIR/outbox/agent.lock (-EBUSY when another
         * agent holds it) and turns records left in flight back into queued
         * ones, due now (the hub answers a resend with the original receipt). */
        OUTBOX_AGENT = 1U << 1,
};

struct outbox;

/* A new signal for outbox_put_batch(). The pointers are borrowed. */
struct outbox_new {
        const uint8_t *signal_id;   /* SIGNAL_ID_BYTES */
        const uint8_t *envelope;    /* the sealed envelope frame */
        size_t envelope_len;
};

/* A queued record whose time has come, from outbox_next_due(). */
struct outbox_due {
        uint64_t seq;
        uint8_t signal_id[SIGNAL_ID_BYTES];
        uint8_t *envelope;          /* owned by the array; outbox_due_free() */
        size_t envelope_len;
        uint32_t attempts;
};

/* One record as outbox_foreach() and outbox_get() show it. The pointers are
 * valid only during the callback. */
struct outbox_entry {
        uint64_t seq;
        uint8_t signal_id[SIGNAL_ID_BYTES];
        enum outbox_state state;
        uint64_t queued_at_ms;
        uint32_t attempts;
        uint64_t next_attempt_ms;
        const char *last_error;           /* "" when none */
        size_t envelope_len;
        /* Final states only (signed_receipt_len 0 otherwise): */
        const uint8_t *signed_receipt;
        size_t signed_receipt_len;
        bool duplicate;
        int receipt_status;               /* Nmo__ReceiptStatus */
        int reason;                       /* Nmo__Reason */
        const char *detail;               /* "" when none */
        uint64_t hub_time_ms;             /* the start of the hour the hub decided in */
};

/* Called per record; return 0 to go on, > 0 to stop (returned as is), < 0 to
 * fail (returned as is). */
typedef int (*outbox_entry_fn)(const struct outbox_entry *e, void *userdata);

/* How long a signal waits before its next attempt: util_backoff_ms(attempts,
 * min_ms, max_ms). */
struct outbox_backoff {
        uint64_t min_ms;
        uint64_t max_ms;
};

/* A hub receipt for outbox_apply_receipts(). The caller has verified the
 * signature (receipt_verify()) and compared member_key with its own; the
 * outbox checks the signal id and the envelope hash against what it stored. */
struct outbox_receipt {
        const struct receipt *receipt;
        const uint8_t *signed_receipt;    /* the SignedReceipt bytes, kept as proof */
        size_t signed_len;
        bool duplicate;                   /* Reply.duplicate */
        /* member_key is not the node's current payload key. Such a receipt
         * applies only to an envelope a key rotation replaced
         * (outbox_reseal_pending()) that was sealed with that key and has that
         * hash: the hub's answer to a signal it stored before the rotation. */
        bool former_key;
};

/* A verified alert for outbox_put_alerts(). The pointers are borrowed. */
struct outbox_alert {
        const char *id;                 /* AlertBody.id: OUTBOX_ALERT_ID_LEN hex digits */
        uint32_t revision;              /* AlertBody.revision */
        const uint8_t *signed_alert;    /* the SignedAlert bytes, at most ALERT_MAX */
        size_t len;
};

/* Called per stored alert with its SignedAlert bytes (valid only during the
 * call); return as for outbox_entry_fn. */
typedef int (*outbox_alert_fn)(const uint8_t *signed_alert, size_t len, void *userdata);

struct outbox_counts {
        uint64_t queued;
        uint64_t in_flight;
        uint64_t delivered;
        uint64_t rejected;
        /* queued_at_ms of the oldest record still queued or in flight (the
         * oldest without a final receipt); 0 when there is none. */
        uint64_t oldest_pending_ms;
};

/* Opens (creating unless OUTBOX_READONLY) the outbox in directory dir (usually
 * DIR/outbox). flags: enum outbox_flags. mapsize: initial map size, 0 for
 * OUTBOX_MAP_INITIAL (tests pass a tiny one). On success *ret owns the outbox;
 * free it with outbox_free(). Returns -ENOENT when a read-only open finds no
 * outbox, -EBUSY when OUTBOX_AGENT finds another agent. */
NMO_WUR int outbox_open(struct outbox **ret, const char *dir, unsigned int flags, size_t mapsize);

/* Closes the outbox and releases the agent lock; accepts NULL. */
void outbox_free(struct outbox *ob);

/* Stores n new signals as queued (due now) in one transaction, all or nothing:
 * an id already in the outbox (or twice in the batch) fails the whole batch
 * with -EEXIST. now_ms is the queued-at time. */
NMO_WUR int outbox_put_batch(struct outbox *ob, const struct outbox_new *items, size_t n,
                             uint64_t now_ms);

/* As outbox_put_batch(), for envelopes sealed with the member payload key
 * member_pk (OUTBOX_KEY_BYTES): when a key rotation has recorded another key
 * as the one to seal with (outbox_reseal_pending()), nothing is written and
 * the result is -ESTALE. This is how a submit that loaded the keys before a
 * rotation finished is kept from queueing envelopes the hub would refuse; the
 * check and the write are one transaction. */
NMO_WUR int outbox_put_sealed(struct outbox *ob, const struct outbox_new *items, size_t n,
                              uint64_t now_ms, const uint8_t *member_pk);

/* Finds up to max queued records whose next attempt is at or before now_ms, in
 * outbox order. *ret receives a fresh array of *n entries (NULL when none),
 * which the caller frees with outbox_due_free(). Corrupt records are skipped
 * with a warning. */
NMO_WUR int outbox_next_due(struct outbox *ob, uint64_t now_ms, size_t max,
                            struct outbox_due **ret, size_t *n);

/* Frees an array from outbox_next_due(); accepts NULL. */
void outbox_due_free(struct outbox_due *due, size_t n);

/* Marks the queued records with these sequences in flight and counts an
 * attempt for each, in one transaction. Records no longer queued are left
 * alone. */
NMO_WUR int outbox_mark_in_flight(struct outbox *ob, const uint64_t *seqs, size_t n);

/* Puts in-flight records back in the queue, in one transaction: with bo, due
 * after util_backoff_ms(attempts) from now_ms and with last_error set to why
 * (may be NULL); with bo NULL, due at once and last_error untouched (used when
 * the agent stops). Records not in flight are left alone. */
NMO_WUR int outbox_requeue(struct outbox *ob, const uint64_t *seqs, size_t n, uint64_t now_ms,
                           const struct outbox_backoff *bo, const char *why);

/* Applies n verified receipts in one transaction:
 *   accepted               -> delivered, receipt kept
 *   rejected, temporary    -> queued again after backoff, last_error "reason: detail"
 *   rejected, otherwise    -> rejected, reason, detail and receipt kept
 * results[i] (results may be NULL) receives 0 when receipt i was applied,
 * -ENOENT when no record has its signal id, -EALREADY when the record is
 * already final, -EPROTO when its envelope hash is neither that of the stored
 * envelope nor that of one of the record's former envelopes (sealed with the
 * same member key and replaced by a hub key rotation), -EKEYREJECTED when a
 * former_key receipt matches none of the record's former envelopes (hash and
 * key), -ESTALE when a receipt for a former envelope is a refusal (the
 * current envelope is sent and judged by itself), -EBADMSG when the stored
 * record is corrupt. Applying any receipt clears the last hub error. Returns 0 once
 * the transaction is committed. */
NMO_WUR int outbox_apply_receipts(struct outbox *ob, const struct outbox_receipt *rs, size_t n,
                                  uint64_t now_ms, const struct outbox_backoff *bo,
                                  int *results);

/* Makes the replacement of one envelope for outbox_reseal_pending(): id is
 * the record's signal id, envelope the stored frame (both valid only during
 * the call). Returns 0 with *out set to a fresh frame (malloc(); the outbox
 * frees it) of *out_len bytes, at most ENVELOPE_MAX; -EALREADY to keep the
 * stored envelope as it is (sealed with the new keys already, or not one to
 * re-seal); any other negative errno to abandon the whole transaction. */
typedef int (*outbox_reseal_fn)(const uint8_t id[SIGNAL_ID_BYTES], const uint8_t *envelope,
                                size_t len, uint8_t **out, size_t *out_len, void *userdata);

/* Re-seals the outbox for a member key rotation, in one write transaction,
 * all or nothing: the envelope of every queued or in-flight record is
 * replaced by what fn makes of it; the signal id, state, attempts and times
 * stay, and delivered and rejected records keep their envelope and receipt.
 * A replaced envelope that had been sent (attempts > 0) is remembered by hash
 * with old_pk, the payload key that sealed it (OUTBOX_FORMER_MAX per record),
 * so that the hub's receipt for it still applies (struct outbox_receipt,
 * former_key). new_pk becomes the outbox's sealing key: outbox_put_sealed()
 * refuses envelopes sealed with any other from now on. Both keys are
 * OUTBOX_KEY_BYTES long.
 *
 * Running it again is harmless: fn answers -EALREADY for what is done.
 * resealed and kept (either may be NULL) receive the number of envelopes
 * replaced and kept. Returns 0 once committed, or what fn or LMDB failed
 * with. */
NMO_WUR int outbox_reseal_pending(struct outbox *ob, const uint8_t *old_pk, const uint8_t *new_pk,
                                  outbox_reseal_fn fn, void *userdata, size_t *resealed,
                                  size_t *kept);

/* Counts the records per state (a full scan; -EBADMSG if a record is corrupt,
 * after counting the rest). */
NMO_WUR int outbox_counts(struct outbox *ob, struct outbox_counts *c);

/* Counts the records still queued or in flight (cheap). Either pointer may be NULL. */
NMO_WUR int outbox_pending(struct outbox *ob, uint64_t *queued, uint64_t *in_flight);

/* Calls fn for every record in outbox order inside one read transaction.
 * Corrupt records are skipped and make the result -EBADMSG once the others
 * have been visited; a non-zero return of fn stops the walk and is returned. */
NMO_WUR int outbox_foreach(struct outbox *ob, outbox_entry_fn fn, void *userdata);

/* Calls fn for the record of signal id. -ENOENT when there is none, -EBADMSG
 * when it is corrupt; otherwise what fn returns. */
NMO_WUR int outbox_get(struct outbox *ob, const uint8_t id[SIGNAL_ID_BYTES], outbox_entry_fn fn,
                       void *userdata);

/* Records why the hub refused this node (message, at most OUTBOX_TEXT_MAX
 * bytes kept) and when; message NULL clears it. */
NMO_WUR int outbox_set_hub_error(struct outbox *ob, const char *message, uint64_t time_ms);

/* Reads the last hub error into buf (len bytes, NUL terminated) and its time.
 * -ENOENT when none is recorded. */
NMO_WUR int outbox_get_hub_error(struct outbox *ob, char *buf, size_t len, uint64_t *time_ms);

/* The agent's connection to the hub (wall-clock ms; 0: unknown or none). */
struct outbox_hub_link {
        uint64_t last_contact_ms;       /* last handshake with the hub, or loss of it */
        uint64_t next_retry_ms;         /* next attempt to connect; 0 while connected */
};

/* Records the agent's connection state (meta "hub_link"), replacing what was
 * there. -EROFS on a read-only outbox. */
NMO_WUR int outbox_set_hub_link(struct outbox *ob, const struct outbox_hub_link *link);

/* Reads what outbox_set_hub_link() recorded; -ENOENT when nothing is. */
NMO_WUR int outbox_get_hub_link(struct outbox *ob, struct outbox_hub_link *link);

/* "queued", "in-flight", "delivered", "rejected" (or "unknown"). */
const char *outbox_state_name(enum outbox_state state);

/* Is id an alert id: exactly OUTBOX_ALERT_ID_LEN lower-case hex digits? */
bool outbox_alert_id_ok(const char *id);

/* Stores n verified alerts in one transaction. Each replaces what the outbox
 * holds for its id only when its revision is higher (a stored value that no
 * longer decodes counts as revision 0); an equal or lower revision leaves the
 * stored one. stored[i] (stored may be NULL) says whether alert i was written.
 * -EINVAL (nothing written) when an id is not OUTBOX_ALERT_ID_LEN lower-case
 * hex digits or a length is 0 or above ALERT_MAX. The caller has verified each
 * alert's signature (alert_verify()); the outbox keeps the bytes as proof. */
NMO_WUR int outbox_put_alerts(struct outbox *ob, const struct outbox_alert *alerts, size_t n,
                              bool *stored);

/* Calls fn for every stored alert in id order inside one read transaction.
 * Values of a wrong size are skipped and make the result -EBADMSG once the
 * others have been visited; a non-zero return of fn stops the walk and is
 * returned. The bytes are as received: callers verify them again before
 * trusting them. */
NMO_WUR int outbox_foreach_alert(struct outbox *ob, outbox_alert_fn fn, void *userdata);
