/* keyrot.h: rotation of the hub's payload and signing keys with an overlap
 * period (PROTOCOL.md section 16; `nmo-hub rotate-keys`).
 *
 * Files in DIR/keys:
 *   hub.key               the current secret keys (after a rotation: the new ones)
 *   hub.pub               the current public bundle
 *   hub-previous.key      the retired secret keys, kept (0600) until the
 *                         overlap ends, then overwritten and removed
 *   hub-announcement      the SignedHubKeyAnnouncement (public): old and new
 *                         public keys, the end of the overlap, signed by the
 *                         old and by the new signing key; kept until the
 *                         next rotation, so that members who slept through
 *                         the whole overlap still learn the new keys
 *   hub.key.next          the new secret keys while a rotation is being
 *                         written; its presence means the rotation is
 *                         unfinished (serve refuses to start, rotate-keys
 *                         finishes it)
 *
 * The transport (CurveZMQ) key is not rotated: members connect as before. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hubkey.h"
#include "keys.h"

/* The overlap nmo-hub rotate-keys uses unless told otherwise. */
#define HUB_KEYROT_DEFAULT_DAYS 30
#define HUB_KEYROT_MAX_DAYS 365

/* What the serving hub knows about the last rotation. */
struct hub_keyrot {
        struct keys_secret *prev;       /* retired keys during the overlap, else NULL */
        uint8_t *ann;                   /* SignedHubKeyAnnouncement bytes, or NULL */
        size_t ann_len;
        struct hubkey_announcement a;   /* decoded ann (zero when none) */
};

/* Loads the rotation state of hub_dir for the current keys cur: the
 * announcement when it names cur as the new keys (otherwise it is ignored
 * with a warning), and hub-previous.key while now_ms is before the end of
 * the overlap. A previous key whose overlap has ended is overwritten and
 * removed here, with one log line. -EAGAIN (err says what to do) when an
 * unfinished rotation is found. *ret is fresh (hub_keyrot_free()); with no
 * rotation it holds neither key nor announcement. A passphrase-protected
 * previous key is opened with u's passphrase (keys.h keys_unlock). */
NMO_WUR int hub_keyrot_load(struct hub_keyrot **ret, const char *hub_dir,
                            const struct keys_secret *cur, struct keys_unlock *u,
                            uint64_t now_ms, char *err, size_t errlen);

/* Wipes and frees; accepts NULL. */
void hub_keyrot_free(struct hub_keyrot *kr);

/* Ends the overlap now: overwrites and removes hub-previous.key and frees
 * kr->prev (kr may be NULL: only the file). The announcement stays. */
NMO_WUR int hub_keyrot_retire(struct hub_keyrot *kr, const char *hub_dir);

/* The outcome of hub_keyrot_rotate(), for the operator's message. */
struct hub_keyrot_result {
        char old_fingerprint[KEYS_FINGERPRINT_LEN];
        char new_fingerprint[KEYS_FINGERPRINT_LEN];
        uint64_t overlap_until_ms;
        bool resumed;                   /* an interrupted rotation was finished */
};

/* Rotates the keys of hub_dir: new payload and signing key pairs, the
 * transport key kept. Order (each step durable before the next):
 * hub.key.next, hub-announcement, hub-previous.key (a hard link to the
 * current hub.key), hub.pub, then hub.key.next renamed over hub.key. A run
 * stopped anywhere is finished by the next one. With an overlap still
 * running, refuses with -EBUSY unless force (which retires the previous key
 * first). overlap_ms may be 0 (the old keys retire at the hub's next start).
 * Protected keys are opened with u's passphrase, and the new keys are
 * protected by the same one (unprotected when the current keys are not).
 * err says why on failure. */
NMO_WUR int hub_keyrot_rotate(const char *hub_dir, uint64_t overlap_ms, bool force,
                              uint64_t now_ms, struct keys_unlock *u,
                              struct hub_keyrot_result *res, char *err, size_t errlen);

/* Paths of the files above inside hub_dir (fresh strings, free()). */
char *hub_keyrot_previous_path(const char *hub_dir);
char *hub_keyrot_announcement_path(const char *hub_dir);
char *hub_keyrot_next_path(const char *hub_dir);
