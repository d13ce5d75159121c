/* keys.h: the key pairs of members and of the hub, their text files and their
 * fingerprints.
 *
 * A member holds a transport key pair (Curve25519, used by CurveZMQ) and a
 * payload key pair (X25519, used to seal signals to the hub). The hub holds the
 * same two plus an Ed25519 signing key pair for receipts and alerts.
 *
 * Secret keys live in sodium_malloc() memory and are wiped when freed. Secret key
 * files are created exclusively with mode 0600 and refused when group or others
 * can read them. Public bundles are plain text that is safe to mail; their
 * fingerprint is short enough to read over the phone. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define KEYS_KEY_BYTES 32
#define KEYS_SIGN_SECRET_BYTES 64
#define KEYS_NAME_MAX 63
/* "xxxx-xxxx-xxxx-xxxx-xxxx" and its NUL. */
#define KEYS_FINGERPRINT_LEN 25
/* Largest key file read; real ones are well under 1 KiB. */
#define KEYS_FILE_MAX 8192

enum keys_role {
        KEYS_ROLE_MEMBER = 1,
        KEYS_ROLE_HUB = 2,
};

struct keys_public {
        enum keys_role role;
        char name[KEYS_NAME_MAX + 1];            /* label, may be empty */
        uint8_t transport[KEYS_KEY_BYTES];       /* CurveZMQ public key */
        uint8_t payload[KEYS_KEY_BYTES];         /* X25519, sealing target / sender */
        uint8_t sign[KEYS_KEY_BYTES];            /* Ed25519, hub only (zero for members) */
};

struct keys_secret {
        struct keys_public pub;
        uint8_t transport_sk[KEYS_KEY_BYTES];
        uint8_t payload_sk[KEYS_KEY_BYTES];
        uint8_t sign_sk[KEYS_SIGN_SECRET_BYTES]; /* hub only */
};

/* Returns "member" or "hub"; keys_role_parse() the reverse (-EINVAL). */
const char *keys_role_name(enum keys_role role);
NMO_WUR int keys_role_parse(const char *s, enum keys_role *role);

/* Is name a valid label: 1..63 of [A-Za-z0-9._-], starting with a letter or digit? */
bool keys_name_ok(const char *name);

/* Generates fresh key pairs for role into sodium_malloc() memory. name may be
 * NULL. Free with keys_free(). */
NMO_WUR int keys_generate(struct keys_secret **ret, enum keys_role role, const char *name);

/* Wipes and frees; accepts NULL. */
void keys_free(struct keys_secret *sk);

/* Writes the secret key file: created exclusively (-EEXIST if present), 0600. */
NMO_WUR int keys_save_secret(const struct keys_secret *sk, const char *path);

/* The same, with the secrets sealed under a key derived from the passphrase
 * (Argon2id, libsodium's crypto_pwhash) when pass is not NULL. */
NMO_WUR int keys_save_secret_protected(const struct keys_secret *sk, const char *path,
                                       const char *pass, size_t passlen);

/* Writes the public bundle (0644), replacing an existing file. */
NMO_WUR int keys_save_public(const struct keys_public *pk, const char *path);

/* Formats the public bundle text into a fresh string the caller frees. */
NMO_WUR int keys_format_public(const struct keys_public *pk, char **text);

/* Loads a secret key file. Refuses files readable by group or others (-EACCES),
 * malformed files (-EBADMSG), files whose public halves do not match their
 * secrets (-EBADMSG) and keys that fail keys_public_check() (-EINVAL). On failure err (may be NULL) says why in one line. */
NMO_WUR int keys_load_secret(struct keys_secret **ret, const char *path, char *err,
                             size_t errlen);

/* The same for a file that may be protected by a passphrase. A protected file
 * loaded without one gives -ENOKEY; a wrong passphrase -EKEYREJECTED. */
NMO_WUR int keys_load_secret_pass(struct keys_secret **ret, const char *path, const char *pass,
                                  size_t passlen, char *err, size_t errlen);

/* Finds the passphrase of a protected secret key file, in this order: the file
 * named by file (when not NULL), the file named by $NMO_PASSPHRASE_FILE,
 * $CREDENTIALS_DIRECTORY/nmo-passphrase (a systemd credential), and a prompt
 * on the controlling terminal (when prompt is not NULL and there is one). A
 * passphrase file holds the passphrase on its first line and must not be
 * readable by group or others. *pass is sodium_malloc() memory: free with
 * keys_passphrase_free(). -ENOKEY when no source has one. */
NMO_WUR int keys_passphrase_get(char **pass, size_t *len, const char *file, const char *prompt,
                                char *err, size_t errlen);
void keys_passphrase_free(char *pass);

/* A new passphrase: from the file pass_file (once), or asked twice on the
 * terminal (-EINVAL "the passphrases differ" when they do). Free with
 * keys_passphrase_free(). */
NMO_WUR int keys_passphrase_new(char **pass, size_t *len, const char *pass_file, char *err,
                                size_t errlen);

/* A passphrase asked for at most once and kept (in locked memory) for the
 * next secret key files a process opens: a daemon that holds several (the
 * hub's current, next and previous keys) and opens them again later, when
 * the terminal or the credential is gone. Zero-initialise; file is the
 * --passphrase-file (NULL: keys_passphrase_get()'s other sources). */
struct keys_unlock {
        const char *file;
        char *pass;
        size_t len;
};

/* Loads a secret key file with u's passphrase, obtaining it first when the
 * file is protected and u has none yet. */
NMO_WUR int keys_load_secret_unlock(struct keys_secret **ret, const char *path,
                                    struct keys_unlock *u, char *err, size_t errlen);

/* Wipes and frees u's passphrase. */
void keys_unlock_clear(struct keys_unlock *u);

/* Loads a secret key file, asking keys_passphrase_get() (with passphrase_file
 * and a terminal prompt) only when the file is protected. */
NMO_WUR int keys_load_secret_auto(struct keys_secret **ret, const char *path,
                                  const char *passphrase_file, char *err, size_t errlen);

/* Loads a public bundle, for every option that takes one. A fingerprint
 * line, when present, must match the keys, and the keys must pass
 * keys_public_check() (-EINVAL). A secret key file is refused with -EPERM: err
 * then says so and that its secrets may have leaked, since whoever gave it
 * where a bundle belongs may have copied or sent it. */
NMO_WUR int keys_load_public(struct keys_public *pk, const char *path, char *err, size_t errlen);

/* The same, but the public half of a secret key file is taken too (for
 * nmo-keys show and fingerprint, which print a secret file's bundle). */
NMO_WUR int keys_load_public_any(struct keys_public *pk, const char *path, char *err,
                                 size_t errlen);

/* Parses public bundle text of len bytes (need not be NUL terminated); the
 * text of a secret file gives its public half. The keys must pass
 * keys_public_check() (-EINVAL). */
NMO_WUR int keys_parse_public(struct keys_public *pk, const char *text, size_t len, char *err,
                              size_t errlen);

/* The short fingerprint of the public keys: 20 hex digits in groups of four. */
void keys_fingerprint(const struct keys_public *pk, char out[KEYS_FINGERPRINT_LEN]);

/* Is key a usable X25519 (Curve25519) public key: not all zeros and not a
 * point of small order, with which every shared secret is predictable? */
bool keys_x25519_usable(const uint8_t key[KEYS_KEY_BYTES]);

/* The class of an X25519 public key, into out: X25519 of it with a fixed
 * scalar. Keys of one class give the same shared secret with every secret
 * key, although their bytes differ: another encoding of the same point (the
 * top bit set, a coordinate of 2^255 - 19 or more), its negative, or the
 * point plus one of small order (u and 1/u are such a pair, computable by
 * anyone from a public key). A box sealed with one opens with the other, so
 * the uniqueness of members' keys is by class. Returns 0, or -EINVAL for a
 * key that is not usable (keys_x25519_usable()). */
NMO_WUR int keys_x25519_class(const uint8_t key[KEYS_KEY_BYTES], uint8_t out[KEYS_KEY_BYTES]);

/* Are a and b of one class (both usable), or byte for byte equal? */
bool keys_x25519_same_class(const uint8_t a[KEYS_KEY_BYTES], const uint8_t b[KEYS_KEY_BYTES]);

/* The one check every door applies to public keys (bundles read or written,
 * enrolment, key rotations announced to the hub): transport and payload keys
 * usable (keys_x25519_usable()) and different from each other (PROTOCOL.md
 * 2.1), and a hub's signing key a valid Ed25519 point of large order.
 * Returns 0, or -EINVAL with err (may be NULL) naming the key that is wrong. */
NMO_WUR int keys_public_check(const struct keys_public *pk, char *err, size_t errlen);

/* Does any transport or payload key of a equal one of b (in either job)? */
bool keys_public_share_key(const struct keys_public *a, const struct keys_public *b);

/* Constant-time equality of two public key sets (role and keys; not the name). */
bool keys_public_equal(const struct keys_public *a, const struct keys_public *b);
