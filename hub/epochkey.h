/* epochkey.h: the secret key of each epoch (a month of ISO weeks, period.h).
 *
 * Each epoch has a 32-byte secret in a file of its own, DIR/private/epochs/
 * MMMMMM.key (mode 0600, in a 0700 directory), outside LMDB so that it can be
 * destroyed for good: overwritten, synced and unlinked when the epoch closes.
 * Two keys are derived from it (crypto_kdf, context "nmoepoch"): one keys the
 * pseudonyms that replace member ids in the epoch's contributions, the other
 * seals the contributions. Once the file is gone nothing, not even the hub,
 * can link the epoch's contributions to members.
 *
 * The derived keys of the last few epochs used are cached in guarded memory.
 * The cache has its own lock: the ingest thread (new contributions) and the
 * aggregation thread (folds, recomputations, closes) both use it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sodium.h>

#include "util.h"

/* The keys derived from one epoch's secret. Callers get a copy and wipe it
 * (sodium_memzero) when done. */
struct hub_epoch_key {
        uint32_t month;          /* YYYYMM */
        uint8_t pseudonym_key[crypto_generichash_KEYBYTES];
        uint8_t seal_key[crypto_secretbox_KEYBYTES];
};

struct hub_epoch_keys;

/* Sets up the keys of the hub in hub_dir, creating DIR/private/epochs (0700)
 * when missing. *ret is fresh; free with hub_epoch_keys_free(). Returns 0,
 * -ENOMEM, or the negative errno of the directory's creation. */
NMO_WUR int hub_epoch_keys_new(struct hub_epoch_keys **ret, const char *hub_dir);

/* Wipes the cached keys and frees; accepts NULL. */
void hub_epoch_keys_free(struct hub_epoch_keys *ks);

/* Copies the keys of month into *out (the caller wipes it). With create, a
 * new random secret is written (O_EXCL, 0600) when the epoch has none yet.
 * Returns 0; -ENOENT when the file does not exist and create is false (the
 * epoch was closed, or its key lost); -EBADMSG when the file is damaged; or
 * another negative errno. Safe from any thread. */
NMO_WUR int hub_epoch_key_get(struct hub_epoch_keys *ks, uint32_t month, bool create,
                              struct hub_epoch_key *out);

/* Destroys the key of month: drops it from the cache, overwrites the file
 * with zeros, syncs it, unlinks it and syncs the directory. Returns 0 (also
 * when there was no file) or a negative errno (the file may remain). */
NMO_WUR int hub_epoch_key_destroy(struct hub_epoch_keys *ks, uint32_t month);

/* The path of the key file of month in hub_dir (fresh string, free()), or
 * NULL when out of memory. */
char *hub_epoch_key_path(const char *hub_dir, uint32_t month);
