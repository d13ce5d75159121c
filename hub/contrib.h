/* contrib.h: the contributions of an epoch, and their sealed format.
 *
 * A contribution is one summary (a Summary, store.proto) per reporter, week,
 * event and country of an epoch: counts of reports, severities, statuses and
 * shares, the largest volume, and notes shared with consent. The reporter is a
 * pseudonym keyed with the epoch's pseudonym key; the summary is sealed as
 * nonce (24 bytes) || crypto_secretbox(Summary) under the epoch's seal key
 * (epochkey.h). A journal entry (journal.h) holds one signal's summary in the
 * same format; folding adds it to the row of the same key.
 *
 * Rows live in the contributions database of the private store (store.h),
 * keyed u32 BE month || material || 0x00 || 8-byte keyed hash, so that the
 * rows of one (month, material) are adjacent and a key says nothing once the
 * epoch's key is destroyed. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <lmdb.h>

#include "disclosure.h"
#include "epochkey.h"
#include "signal.h"
#include "store.h"
#include "util.h"

/* Longest material name, with its terminating zero. */
#define HUB_MATERIAL_MAX 32
/* Longest key prefix of a (month, material), and longest row key. */
#define HUB_CONTRIB_PREFIX_MAX (4 + HUB_MATERIAL_MAX + 1)
#define HUB_CONTRIB_KEY_MAX (HUB_CONTRIB_PREFIX_MAX + 8)
/* Distinct notes a row keeps at most. */
#define HUB_CONTRIB_NOTES_MAX 16

/* One summary row in plain fields. */
struct hub_contrib_row {
        uint8_t pseudonym[DC_PSEUDONYM_BYTES];
        uint32_t week;
        char event[32];
        char country[3];
        uint32_t reports;
        uint32_t severity[5], status[5], share[6];
        uint64_t volume_t;
        char *notes[HUB_CONTRIB_NOTES_MAX];   /* owned copies */
        size_t nnotes;
        /* The sum (mod 2^32) of the random record keys of the signals in the
         * row: what the cell key method perturbs with (disclosure.h). It lives
         * with the contributions, so it is gone when the epoch closes. */
        uint32_t record_key;
};

/* Writes the key prefix of (month, material) to buf (HUB_CONTRIB_PREFIX_MAX
 * bytes; material shorter than HUB_MATERIAL_MAX) and returns its length. */
size_t hub_contrib_prefix(uint32_t month, const char *material, uint8_t *buf);

/* Opens a sealed summary (a row's value or a journal entry's) with the
 * epoch's key into *w (fresh; clear with hub_contrib_row_clear()). Returns 0,
 * -EBADMSG when it does not open or is not a valid summary (*w is then
 * empty), or -ENOMEM. */
NMO_WUR int hub_contrib_row_open(const struct hub_epoch_key *ek, const MDB_val *sealed,
                                 struct hub_contrib_row *w);

/* Seals w under the epoch's key, with a random nonce, into a fresh buffer
 * (*out, *len bytes; free()). Returns 0 or -ENOMEM. */
NMO_WUR int hub_contrib_row_seal(const struct hub_contrib_row *w, const struct hub_epoch_key *ek,
                                 uint8_t **out, size_t *len);

/* Adds what d counts to w (rows of the same key): counts and record keys add
 * up, the larger volume stays, new notes are added up to HUB_CONTRIB_NOTES_MAX. Returns 0 or
 * -ENOMEM (w is then partly merged; clear it). */
NMO_WUR int hub_contrib_row_merge(struct hub_contrib_row *w, const struct hub_contrib_row *d);

/* Frees a row's notes and wipes it. */
void hub_contrib_row_clear(struct hub_contrib_row *w);

/* The journal entry of signal s from member member_id arriving in week of
 * the epoch of ek: its row key (written to key, *klen bytes: the keyed hash
 * of member, week, event and country) and the signal as a summary of its own
 * (reporter pseudonym, one report; the note only when the reporter consented
 * to sharing it), sealed into a fresh buffer (*sealed, *slen bytes; free()).
 * Returns 0, -EINVAL when the material is too long, or -ENOMEM. */
NMO_WUR int hub_contrib_of_signal(const struct hub_epoch_key *ek, uint32_t week,
                                  uint32_t member_id, const struct signal *s,
                                  uint8_t key[HUB_CONTRIB_KEY_MAX], size_t *klen,
                                  uint8_t **sealed, size_t *slen);

/* Reads and opens every row of (month, material) in a read transaction on
 * the contributions environment. *rows (n of them) is fresh: free with
 * hub_contrib_rows_free(). Returns 0; -ENOENT when the epoch's key is gone;
 * -EBADMSG (logged) when a row does not open; or another negative errno. */
NMO_WUR int hub_contrib_load(struct hub_store *st, struct hub_epoch_keys *keys, uint32_t month,
                             const char *material, struct hub_contrib_row **rows, size_t *n);

/* Clears and frees n rows; accepts NULL. */
void hub_contrib_rows_free(struct hub_contrib_row *rows, size_t n);

/* The distinct materials with rows in month, in key order (*out fresh,
 * free()). Returns 0 or a negative errno. */
NMO_WUR int hub_contrib_materials(struct hub_store *st, uint32_t month,
                                  char (**out)[HUB_MATERIAL_MAX], size_t *n);

/* Deletes every row of month inside the caller's write transaction on the
 * contributions environment (ctxn). Returns 0 or a negative errno. */
NMO_WUR int hub_contrib_delete_epoch(MDB_txn *ctxn, struct hub_store *st, uint32_t month);
