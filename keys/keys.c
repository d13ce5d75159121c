/* keys.c: key generation, key files and fingerprints. See keys.h. */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#define KEYS_MAGIC "nmo-signal key v1"
#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL

#define PROTECTION_NAME "argon2id13"
#define SEALED_MAX (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + \
                    2 * KEYS_KEY_BYTES + KEYS_SIGN_SECRET_BYTES)

/* The passphrase protection of a secret file: the secrets sealed with a key
 * derived from the passphrase by Argon2id. */
struct protection {
        uint8_t salt[crypto_pwhash_SALTBYTES];
        unsigned long long opslimit;
        size_t memlimit;
        uint8_t sealed[SEALED_MAX];
        size_t sealed_len;
};

/* The secrets of sk in file order: transport, payload, and for a hub the
 * signing key. Returns their length. */
static size_t secrets_of(const struct keys_secret *sk, uint8_t out[2 * KEYS_KEY_BYTES +
                                                                   KEYS_SIGN_SECRET_BYTES])
{
        size_t n = 2 * KEYS_KEY_BYTES;

        memcpy(out, sk->transport_sk, KEYS_KEY_BYTES);
        memcpy(out + KEYS_KEY_BYTES, sk->payload_sk, KEYS_KEY_BYTES);
        if (sk->pub.role == KEYS_ROLE_HUB) {
                memcpy(out + n, sk->sign_sk, KEYS_SIGN_SECRET_BYTES);
                n += KEYS_SIGN_SECRET_BYTES;
        }
        return n;
}

const char *keys_role_name(enum keys_role role)
{
        return role == KEYS_ROLE_HUB ? "hub" : "member";
}

int keys_role_parse(const char *s, enum keys_role *role)
{
        if (strcmp(s, "member") == 0)
                *role = KEYS_ROLE_MEMBER;
        else if (strcmp(s, "hub") == 0)
                *role = KEYS_ROLE_HUB;
        else
                return -EINVAL;
        return 0;
}

bool keys_name_ok(const char *name)
{
        size_t n = strlen(name);

        if (n == 0 || n > KEYS_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9');
                if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
                        return false;
        }
        return true;
}

int keys_generate(struct keys_secret **ret, enum keys_role role, const char *name)
{
        struct keys_secret *sk;

        if (name && *name && !keys_name_ok(name))
                return -EINVAL;
        sk = sodium_malloc(sizeof(*sk));
        if (!sk)
                return -ENOMEM;
        sodium_memzero(sk, sizeof(*sk));
        sk->pub.role = role;
        if (name)
                snprintf(sk->pub.name, sizeof(sk->pub.name), "%s", name);
        /* CurveZMQ uses crypto_box key pairs; so does the payload seal. */
        crypto_box_keypair(sk->pub.transport, sk->transport_sk);
        crypto_box_keypair(sk->pub.payload, sk->payload_sk);
        if (role == KEYS_ROLE_HUB)
                crypto_sign_keypair(sk->pub.sign, sk->sign_sk);
        *ret = sk;
        return 0;
}

void keys_free(struct keys_secret *sk)
{
        if (!sk)
                return;
        sodium_memzero(sk, sizeof(*sk));
        sodium_free(sk);
}

void keys_fingerprint(const struct keys_public *pk, char out[KEYS_FINGERPRINT_LEN])
{
        static const char ctx[] = "nmo-signal fingerprint v1";
        crypto_generichash_state st;
        uint8_t h[10];
        uint8_t role = (uint8_t)pk->role;
        char hex[21];

        crypto_generichash_init(&st, NULL, 0, sizeof(h));
        crypto_generichash_update(&st, (const uint8_t *)ctx, sizeof(ctx) - 1);
        crypto_generichash_update(&st, &role, 1);
        crypto_generichash_update(&st, pk->transport, KEYS_KEY_BYTES);
        crypto_generichash_update(&st, pk->payload, KEYS_KEY_BYTES);
        if (pk->role == KEYS_ROLE_HUB)
                crypto_generichash_update(&st, pk->sign, KEYS_KEY_BYTES);
        crypto_generichash_final(&st, h, sizeof(h));
        util_hex(h, sizeof(h), hex);
        for (int g = 0, o = 0; g < 5; g++) {
                memcpy(out + o, hex + 4 * g, 4);
                o += 4;
                out[o++] = g < 4 ? '-' : '\0';
        }
}

bool keys_public_equal(const struct keys_public *a, const struct keys_public *b)
{
        return a->role == b->role &&
               sodium_memcmp(a->transport, b->transport, KEYS_KEY_BYTES) == 0 &&
               sodium_memcmp(a->payload, b->payload, KEYS_KEY_BYTES) == 0 &&
               sodium_memcmp(a->sign, b->sign, KEYS_KEY_BYTES) == 0;
}

int keys_x25519_class(const uint8_t key[KEYS_KEY_BYTES], uint8_t out[KEYS_KEY_BYTES])
{
        /* Clamped, this scalar is 2^254: a multiple of the cofactor, so a
         * point of small order added to the key changes nothing, and not a
         * multiple of the group's prime order, so keys of different classes
         * stay apart. X25519 ignores the top bit and reduces the coordinate
         * modulo 2^255 - 19, so encodings of one point agree too. With a
         * point of small order (all zeros among them) the output is all
         * zeros, which crypto_scalarmult() refuses. */
        static const uint8_t scalar[KEYS_KEY_BYTES] = { 1 };

        return crypto_scalarmult(out, scalar, key) == 0 ? 0 : -EINVAL;
}

bool keys_x25519_usable(const uint8_t key[KEYS_KEY_BYTES])
{
        uint8_t out[KEYS_KEY_BYTES];
        bool ok = keys_x25519_class(key, out) == 0;

        sodium_memzero(out, sizeof(out));
        return ok;
}

bool keys_x25519_same_class(const uint8_t a[KEYS_KEY_BYTES], const uint8_t b[KEYS_KEY_BYTES])
{
        uint8_t ca[KEYS_KEY_BYTES], cb[KEYS_KEY_BYTES];

        if (keys_x25519_class(a, ca) < 0 || keys_x25519_class(b, cb) < 0)
                return sodium_memcmp(a, b, KEYS_KEY_BYTES) == 0;
        return sodium_memcmp(ca, cb, KEYS_KEY_BYTES) == 0;
}

/* Says why key, named what, is not a usable X25519 public key. */
static int x25519_check(const uint8_t key[KEYS_KEY_BYTES], const char *what, char *err,
                        size_t errlen)
{
        if (keys_x25519_usable(key))
                return 0;
        if (sodium_is_zero(key, KEYS_KEY_BYTES))
                util_set_err(err, errlen, "%s is all zeros, not a usable public key", what);
        else
                util_set_err(err, errlen, "%s is a point of small order, not a usable public key "
                             "(every secret shared with it is predictable)", what);
        return -EINVAL;
}

int keys_public_check(const struct keys_public *pk, char *err, size_t errlen)
{
        int r;

        r = x25519_check(pk->transport, "transport-public", err, errlen);
        if (r == 0)
                r = x25519_check(pk->payload, "payload-public", err, errlen);
        if (r < 0)
                return r;
        /* One key for both jobs would let the transport handshake and the
         * payload seal stand in for each other (PROTOCOL.md 2.1); two keys of
         * one class (keys_x25519_class()) are one key to X25519. */
        if (keys_x25519_same_class(pk->transport, pk->payload)) {
                util_set_err(err, errlen, "transport-public and payload-public are the same key; "
                             "they must be two different keys");
                return -EINVAL;
        }
        if (pk->role == KEYS_ROLE_HUB && !crypto_core_ed25519_is_valid_point(pk->sign)) {
                util_set_err(err, errlen, "sign-public is not a usable Ed25519 public key "
                             "(all zeros, small order or not a point)");
                return -EINVAL;
        }
        return 0;
}

bool keys_public_share_key(const struct keys_public *a, const struct keys_public *b)
{
        const uint8_t *ka[2] = { a->transport, a->payload }, *kb[2] = { b->transport, b->payload };

        for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++)
                        if (keys_x25519_same_class(ka[i], kb[j]))
                                return true;
        return false;
}

/* Appends "name: base64(bin)\n" to buf at *off. */
static int put_b64(char *buf, size_t cap, size_t *off, const char *name, const uint8_t *bin,
                   size_t len)
{
        char b64[sodium_base64_ENCODED_LEN(SEALED_MAX, B64_VARIANT)];
        int n;

        sodium_bin2base64(b64, sizeof(b64), bin, len, B64_VARIANT);
        n = snprintf(buf + *off, cap - *off, "%s: %s\n", name, b64);
        sodium_memzero(b64, sizeof(b64));
        if (n < 0 || (size_t)n >= cap - *off)
                return -ENOBUFS;
        *off += (size_t)n;
        return 0;
}

static int put_line(char *buf, size_t cap, size_t *off, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int put_line(char *buf, size_t cap, size_t *off, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf + *off, cap - *off, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= cap - *off)
                return -ENOBUFS;
        *off += (size_t)n;
        return 0;
}

static int format_keys(const struct keys_public *pk, const struct keys_secret *sk,
                       const struct protection *prot, char *buf, size_t cap, size_t *len)
{
        char fp[KEYS_FINGERPRINT_LEN];
        size_t off = 0;
        int r;

        /* Never write a bundle that every reader must refuse. */
        r = keys_public_check(pk, NULL, 0);
        if (r < 0)
                return r;
        keys_fingerprint(pk, fp);
        r = put_line(buf, cap, &off,
                     KEYS_MAGIC "\n"
                     "# nmo-signal %s %s key%s\n"
                     "role: %s\n"
                     "kind: %s\n",
                     keys_role_name(pk->role), sk ? "secret" : "public",
                     sk ? ". Keep this file private (mode 0600); never send it."
                        : " bundle. Safe to send; check the fingerprint by phone.",
                     keys_role_name(pk->role), sk ? "secret" : "public");
        if (!r && pk->name[0])
                r = put_line(buf, cap, &off, "name: %s\n", pk->name);
        if (!r)
                r = put_b64(buf, cap, &off, "transport-public", pk->transport, KEYS_KEY_BYTES);
        if (!r && sk && !prot)
                r = put_b64(buf, cap, &off, "transport-secret", sk->transport_sk, KEYS_KEY_BYTES);
        if (!r)
                r = put_b64(buf, cap, &off, "payload-public", pk->payload, KEYS_KEY_BYTES);
        if (!r && sk && !prot)
                r = put_b64(buf, cap, &off, "payload-secret", sk->payload_sk, KEYS_KEY_BYTES);
        if (!r && pk->role == KEYS_ROLE_HUB)
                r = put_b64(buf, cap, &off, "sign-public", pk->sign, KEYS_KEY_BYTES);
        if (!r && sk && !prot && pk->role == KEYS_ROLE_HUB)
                r = put_b64(buf, cap, &off, "sign-secret", sk->sign_sk, KEYS_SIGN_SECRET_BYTES);
        if (!r && sk && prot) {
                r = put_line(buf, cap, &off, "protection: " PROTECTION_NAME "\n");
                if (!r)
                        r = put_b64(buf, cap, &off, "kdf-salt", prot->salt, sizeof(prot->salt));
                if (!r)
                        r = put_line(buf, cap, &off, "kdf-opslimit: %llu\nkdf-memlimit: %zu\n",
                                     prot->opslimit, prot->memlimit);
                if (!r)
                        r = put_b64(buf, cap, &off, "sealed-secrets", prot->sealed,
                                    prot->sealed_len);
        }
        if (!r)
                r = put_line(buf, cap, &off, "fingerprint: %s\n", fp);
        *len = off;
        return r;
}

int keys_format_public(const struct keys_public *pk, char **text)
{
        char *buf = malloc(KEYS_FILE_MAX);
        size_t len = 0;
        int r;

        if (!buf)
                return -ENOMEM;
        r = format_keys(pk, NULL, NULL, buf, KEYS_FILE_MAX, &len);
        if (r < 0) {
                free(buf);
                return r;
        }
        *text = buf;
        return 0;
}

int keys_save_public(const struct keys_public *pk, const char *path)
{
        char *text = NULL;
        int r = keys_format_public(pk, &text);

        if (r < 0)
                return r;
        r = util_write_file(path, text, strlen(text), 0644, false);
        free(text);
        return r;
}

int keys_save_secret(const struct keys_secret *sk, const char *path)
{
        return keys_save_secret_protected(sk, path, NULL, 0);
}

int keys_save_secret_protected(const struct keys_secret *sk, const char *path, const char *pass,
                               size_t passlen)
{
        struct protection *prot = NULL;
        uint8_t *key = NULL, *plain = NULL;
        char *buf = sodium_malloc(KEYS_FILE_MAX);
        size_t len = 0, plen;
        int r = -ENOMEM;

        if (!buf)
                return -ENOMEM;
        if (pass) {
                prot = sodium_malloc(sizeof(*prot));
                key = sodium_malloc(crypto_secretbox_KEYBYTES);
                plain = sodium_malloc(2 * KEYS_KEY_BYTES + KEYS_SIGN_SECRET_BYTES);
                if (!prot || !key || !plain)
                        goto out;
                randombytes_buf(prot->salt, sizeof(prot->salt));
                prot->opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
                prot->memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
                if (crypto_pwhash(key, crypto_secretbox_KEYBYTES, pass, passlen, prot->salt,
                                  prot->opslimit, prot->memlimit,
                                  crypto_pwhash_ALG_ARGON2ID13) != 0)
                        goto out; /* out of memory for the KDF */
                plen = secrets_of(sk, plain);
                randombytes_buf(prot->sealed, crypto_secretbox_NONCEBYTES);
                crypto_secretbox_easy(prot->sealed + crypto_secretbox_NONCEBYTES, plain, plen,
                                      prot->sealed, key);
                prot->sealed_len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plen;
        }
        r = format_keys(&sk->pub, sk, prot, buf, KEYS_FILE_MAX, &len);
        if (r == 0)
                r = util_write_file(path, buf, len, 0600, true);
out:
        sodium_memzero(buf, KEYS_FILE_MAX);
        sodium_free(buf);
        if (prot)
                sodium_free(prot);
        if (key)
                sodium_free(key);
        if (plain)
                sodium_free(plain);
        return r;
}

/* Which fields a parse saw; each may appear once. */
enum {
        F_ROLE = 1U << 0,
        F_KIND = 1U << 1,
        F_NAME = 1U << 2,
        F_TPUB = 1U << 3,
        F_TSEC = 1U << 4,
        F_PPUB = 1U << 5,
        F_PSEC = 1U << 6,
        F_SPUB = 1U << 7,
        F_SSEC = 1U << 8,
        F_FP = 1U << 9,
        F_PROT = 1U << 10,
        F_SALT = 1U << 11,
        F_OPS = 1U << 12,
        F_MEM = 1U << 13,
        F_SEALED = 1U << 14,
};


static int get_b64(const char *val, uint8_t *out, size_t len)
{
        size_t got = 0;
        const char *end = NULL;

        if (sodium_base642bin(out, len, val, strlen(val), NULL, &got, &end, B64_VARIANT) != 0 ||
            got != len || *end != '\0')
                return -EBADMSG;
        return 0;
}

/* Parses text (a writable, NUL-terminated copy that this function scribbles on)
 * into pk and, when sk is not NULL, the secrets too (then the file must be a
 * secret file). *was_secret (may be NULL) tells whether it was one. */
static int parse_keys(char *text, struct keys_public *pk, struct keys_secret *sk,
                      const char *pass, size_t passlen, bool *was_secret, char *err,
                      size_t errlen)
{
        struct keys_public p;
        struct protection prot;
        /* Zeroed: a member file has no sign-secret, and its copy must not carry
         * whatever the stack held before. */
        uint8_t tsec[KEYS_KEY_BYTES] = { 0 }, psec[KEYS_KEY_BYTES] = { 0 };
        uint8_t ssec[KEYS_SIGN_SECRET_BYTES] = { 0 };
        const char *fp = NULL;
        char *save = NULL, *line;
        unsigned int seen = 0, lineno = 0;
        bool secret = false;
        int r = -EBADMSG;

        memset(&p, 0, sizeof(p));
        memset(&prot, 0, sizeof(prot));
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *colon, *val;
                unsigned int flag;

                lineno++;
                line[strcspn(line, "\r")] = '\0';
                if (lineno == 1) {
                        if (strcmp(line, KEYS_MAGIC) != 0) {
                                util_set_err(err, errlen, "not an nmo-signal key file (first line "
                                        "must be \"" KEYS_MAGIC "\")");
                                goto out;
                        }
                        continue;
                }
                if (line[0] == '#' || line[0] == '\0')
                        continue;
                colon = strstr(line, ": ");
                if (!colon) {
                        util_set_err(err, errlen, "line %u: expected \"field: value\"", lineno);
                        goto out;
                }
                *colon = '\0';
                val = colon + 2;
                if (strcmp(line, "role") == 0) {
                        flag = F_ROLE;
                        if (keys_role_parse(val, &p.role) < 0) {
                                util_set_err(err, errlen, "line %u: unknown role", lineno);
                                goto out;
                        }
                } else if (strcmp(line, "kind") == 0) {
                        flag = F_KIND;
                        if (strcmp(val, "secret") == 0)
                                secret = true;
                        else if (strcmp(val, "public") != 0) {
                                util_set_err(err, errlen, "line %u: kind must be secret or public",
                                        lineno);
                                goto out;
                        }
                } else if (strcmp(line, "name") == 0) {
                        flag = F_NAME;
                        if (!keys_name_ok(val)) {
                                util_set_err(err, errlen, "line %u: invalid name", lineno);
                                goto out;
                        }
                        snprintf(p.name, sizeof(p.name), "%s", val);
                } else if (strcmp(line, "fingerprint") == 0) {
                        flag = F_FP;
                        fp = val;
                } else if (strcmp(line, "protection") == 0) {
                        flag = F_PROT;
                        if (strcmp(val, PROTECTION_NAME) != 0) {
                                util_set_err(err, errlen, "line %u: unknown protection \"%.40s\"",
                                             lineno, val);
                                goto out;
                        }
                } else if (strcmp(line, "kdf-salt") == 0) {
                        flag = F_SALT;
                        if (get_b64(val, prot.salt, sizeof(prot.salt)) < 0) {
                                util_set_err(err, errlen, "line %u: bad kdf-salt", lineno);
                                goto out;
                        }
                } else if (strcmp(line, "kdf-opslimit") == 0 || strcmp(line, "kdf-memlimit") == 0) {
                        bool ops = line[4] == 'o';
                        uint64_t v;

                        flag = ops ? F_OPS : F_MEM;
                        /* Bounded, so a crafted file cannot make loading take hours or
                         * all memory. */
                        if (util_parse_u64(val, ops ? crypto_pwhash_OPSLIMIT_MIN : 8192,
                                           ops ? 20 : (uint64_t)1 << 30, &v) < 0) {
                                util_set_err(err, errlen, "line %u: %s out of range", lineno,
                                             line);
                                goto out;
                        }
                        if (ops)
                                prot.opslimit = v;
                        else
                                prot.memlimit = (size_t)v;
                } else if (strcmp(line, "sealed-secrets") == 0) {
                        size_t got = 0;
                        const char *end = NULL;

                        flag = F_SEALED;
                        if (sodium_base642bin(prot.sealed, sizeof(prot.sealed), val, strlen(val),
                                              NULL, &got, &end, B64_VARIANT) != 0 ||
                            *end != '\0' ||
                            got < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
                                util_set_err(err, errlen, "line %u: bad sealed-secrets", lineno);
                                goto out;
                        }
                        prot.sealed_len = got;
                } else {
                        static const struct {
                                const char *name;
                                unsigned int flag;
                                size_t len;
                        } fields[] = {
                                { "transport-public", F_TPUB, KEYS_KEY_BYTES },
                                { "transport-secret", F_TSEC, KEYS_KEY_BYTES },
                                { "payload-public", F_PPUB, KEYS_KEY_BYTES },
                                { "payload-secret", F_PSEC, KEYS_KEY_BYTES },
                                { "sign-public", F_SPUB, KEYS_KEY_BYTES },
                                { "sign-secret", F_SSEC, KEYS_SIGN_SECRET_BYTES },
                        };
                        uint8_t *dst[] = { p.transport, tsec, p.payload, psec, p.sign, ssec };
                        size_t i;

                        for (i = 0; i < NMO_ARRAY_SIZE(fields); i++)
                                if (strcmp(line, fields[i].name) == 0)
                                        break;
                        if (i == NMO_ARRAY_SIZE(fields)) {
                                util_set_err(err, errlen, "line %u: unknown field \"%.40s\"", lineno,
                                        line);
                                goto out;
                        }
                        flag = fields[i].flag;
                        if (get_b64(val, dst[i], fields[i].len) < 0) {
                                util_set_err(err, errlen, "line %u: %s is not a valid base64 key",
                                        lineno, fields[i].name);
                                goto out;
                        }
                }
                if (seen & flag) {
                        util_set_err(err, errlen, "line %u: field repeated", lineno);
                        goto out;
                }
                seen |= flag;
        }
        if (lineno == 0) {
                util_set_err(err, errlen, "empty key file");
                goto out;
        }
        {
                unsigned int need = F_ROLE | F_KIND | F_TPUB | F_PPUB;
                unsigned int allow = need | F_NAME | F_FP;

                if (p.role == KEYS_ROLE_HUB) {
                        need |= F_SPUB;
                        allow |= F_SPUB;
                }
                if (secret && (seen & F_PROT)) {
                        need |= F_PROT | F_SALT | F_OPS | F_MEM | F_SEALED;
                        allow |= need;
                } else if (secret) {
                        need |= F_TSEC | F_PSEC | (p.role == KEYS_ROLE_HUB ? F_SSEC : 0);
                        allow |= need;
                }
                if ((seen & need) != need) {
                        util_set_err(err, errlen, "missing fields for a %s %s key file",
                                keys_role_name(p.role), secret ? "secret" : "public");
                        goto out;
                }
                if (seen & ~allow) {
                        util_set_err(err, errlen, "fields that a %s %s key file does not have",
                                keys_role_name(p.role), secret ? "secret" : "public");
                        goto out;
                }
        }
        if (secret && (seen & F_PROT) && sk) {
                uint8_t *key, *plain;
                size_t want = 2 * KEYS_KEY_BYTES +
                              (p.role == KEYS_ROLE_HUB ? KEYS_SIGN_SECRET_BYTES : 0);
                bool opened;

                if (!pass) {
                        util_set_err(err, errlen, "the secret keys are protected by a passphrase");
                        r = -ENOKEY;
                        goto out;
                }
                if (prot.sealed_len != crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES +
                                               want) {
                        util_set_err(err, errlen, "sealed-secrets has the wrong length");
                        goto out;
                }
                key = sodium_malloc(crypto_secretbox_KEYBYTES);
                plain = sodium_malloc(want);
                if (!key || !plain) {
                        if (key)
                                sodium_free(key);
                        if (plain)
                                sodium_free(plain);
                        r = -ENOMEM;
                        goto out;
                }
                opened = crypto_pwhash(key, crypto_secretbox_KEYBYTES, pass, passlen, prot.salt,
                                       prot.opslimit, prot.memlimit,
                                       crypto_pwhash_ALG_ARGON2ID13) == 0 &&
                         crypto_secretbox_open_easy(plain,
                                                    prot.sealed + crypto_secretbox_NONCEBYTES,
                                                    prot.sealed_len - crypto_secretbox_NONCEBYTES,
                                                    prot.sealed, key) == 0;
                if (opened) {
                        memcpy(tsec, plain, KEYS_KEY_BYTES);
                        memcpy(psec, plain + KEYS_KEY_BYTES, KEYS_KEY_BYTES);
                        if (p.role == KEYS_ROLE_HUB)
                                memcpy(ssec, plain + 2 * KEYS_KEY_BYTES, KEYS_SIGN_SECRET_BYTES);
                }
                sodium_free(key);
                sodium_free(plain);
                if (!opened) {
                        util_set_err(err, errlen, "wrong passphrase (or a damaged file)");
                        r = -EKEYREJECTED;
                        goto out;
                }
        }
        if (secret && (sk || !(seen & F_PROT))) {
                uint8_t derived[KEYS_KEY_BYTES], sign_derived[KEYS_SIGN_SECRET_BYTES];
                bool ok = crypto_scalarmult_base(derived, tsec) == 0 &&
                          sodium_memcmp(derived, p.transport, KEYS_KEY_BYTES) == 0 &&
                          crypto_scalarmult_base(derived, psec) == 0 &&
                          sodium_memcmp(derived, p.payload, KEYS_KEY_BYTES) == 0;
                /* An Ed25519 secret key is seed || public key: derive both halves
                 * from the seed, or a damaged seed would go unnoticed. */
                if (ok && p.role == KEYS_ROLE_HUB)
                        ok = crypto_sign_seed_keypair(derived, sign_derived, ssec) == 0 &&
                             sodium_memcmp(sign_derived, ssec, KEYS_SIGN_SECRET_BYTES) == 0 &&
                             sodium_memcmp(derived, p.sign, KEYS_KEY_BYTES) == 0;
                sodium_memzero(derived, sizeof(derived));
                sodium_memzero(sign_derived, sizeof(sign_derived));
                if (!ok) {
                        util_set_err(err, errlen, "public keys do not match the secret keys "
                                "(damaged file?)");
                        goto out;
                }
        }
        if (seen & F_FP) {
                char want[KEYS_FINGERPRINT_LEN];

                keys_fingerprint(&p, want);
                /* Compared whole: a prefix of the line is not a match. */
                if (strcmp(want, fp) != 0) {
                        util_set_err(err, errlen, "fingerprint line does not match the keys "
                                "(damaged or altered file?)");
                        goto out;
                }
        }
        if (keys_public_check(&p, err, errlen) < 0) {
                r = -EINVAL;
                goto out;
        }
        if (sk) {
                if (!secret) {
                        util_set_err(err, errlen, "this is a public bundle, not a secret key file");
                        r = -EINVAL;
                        goto out;
                }
                memcpy(sk->transport_sk, tsec, sizeof(tsec));
                memcpy(sk->payload_sk, psec, sizeof(psec));
                memcpy(sk->sign_sk, ssec, sizeof(ssec));
                sk->pub = p;
        }
        *pk = p;
        if (was_secret)
                *was_secret = secret;
        r = 0;
out:
        sodium_memzero(tsec, sizeof(tsec));
        sodium_memzero(psec, sizeof(psec));
        sodium_memzero(ssec, sizeof(ssec));
        sodium_memzero(&prot, sizeof(prot));
        return r;
}

int keys_parse_public(struct keys_public *pk, const char *text, size_t len, char *err,
                      size_t errlen)
{
        char *copy;
        int r;

        if (len > KEYS_FILE_MAX) {
                util_set_err(err, errlen, "key file larger than %d bytes", KEYS_FILE_MAX);
                return -EFBIG;
        }
        if (memchr(text, '\0', len)) {
                util_set_err(err, errlen, "key file contains a NUL byte");
                return -EBADMSG;
        }
        /* The text may be a secret file: keep its copy in guarded memory. */
        copy = sodium_malloc(len + 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, text, len);
        copy[len] = '\0';
        r = parse_keys(copy, pk, NULL, NULL, 0, NULL, err, errlen);
        sodium_memzero(copy, len + 1);
        sodium_free(copy);
        return r;
}

/* Reads a key file of at most KEYS_FILE_MAX bytes into sodium_malloc() memory. */
static int read_key_file(const char *path, bool secret, char **ret, size_t *len, char *err,
                         size_t errlen)
{
        struct stat st;
        char *buf = NULL;
        size_t got = 0;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                util_set_err(err, errlen, "%s: %s", path, strerror(errno));
                return r;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                util_set_err(err, errlen, "%s: not a regular file", path);
                r = -EINVAL;
                goto out;
        }
        if (secret && (st.st_mode & 077)) {
                util_set_err(err, errlen, "%s: secret key file is accessible by group or others "
                        "(mode %03o); run: chmod 600 %s", path,
                        (unsigned int)(st.st_mode & 0777), path);
                r = -EACCES;
                goto out;
        }
        if (st.st_size > KEYS_FILE_MAX) {
                util_set_err(err, errlen, "%s: larger than %d bytes, not a key file", path,
                        KEYS_FILE_MAX);
                r = -EFBIG;
                goto out;
        }
        buf = sodium_malloc((size_t)st.st_size + 1);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        while (got < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        util_set_err(err, errlen, "%s: %s", path, strerror(errno));
                        goto out;
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        buf[got] = '\0';
        if (memchr(buf, '\0', got)) {
                util_set_err(err, errlen, "%s: contains a NUL byte, not a key file", path);
                r = -EBADMSG;
                goto out;
        }
        *ret = buf;
        *len = got;
        buf = NULL;
        r = 0;
out:
        if (buf) {
                sodium_memzero(buf, (size_t)st.st_size + 1);
                sodium_free(buf);
        }
        close(fd);
        return r;
}

int keys_load_secret(struct keys_secret **ret, const char *path, char *err, size_t errlen)
{
        return keys_load_secret_pass(ret, path, NULL, 0, err, errlen);
}

int keys_load_secret_pass(struct keys_secret **ret, const char *path, const char *pass,
                          size_t passlen, char *err, size_t errlen)
{
        struct keys_secret *sk = NULL;
        struct keys_public pk;
        char *text = NULL;
        char why[200] = "";
        size_t len = 0;
        int r;

        r = read_key_file(path, true, &text, &len, err, errlen);
        if (r < 0)
                return r;
        sk = sodium_malloc(sizeof(*sk));
        if (!sk) {
                r = -ENOMEM;
                goto out;
        }
        sodium_memzero(sk, sizeof(*sk));
        r = parse_keys(text, &pk, sk, pass, passlen, NULL, why, sizeof(why));
        if (r < 0) {
                util_set_err(err, errlen, "%s: %s", path, why);
                goto out;
        }
        *ret = sk;
        sk = NULL;
out:
        keys_free(sk);
        sodium_memzero(text, len + 1);
        sodium_free(text);
        return r;
}

/* Loads the public keys of path; a secret key file only when allow_secret. */
static int load_public(struct keys_public *pk, const char *path, bool allow_secret, char *err,
                       size_t errlen)
{
        char *text = NULL;
        char why[200] = "";
        size_t len = 0;
        bool secret = false;
        int r;

        r = read_key_file(path, false, &text, &len, err, errlen);
        if (r < 0)
                return r;
        r = parse_keys(text, pk, NULL, NULL, 0, &secret, why, sizeof(why));
        if (r < 0)
                util_set_err(err, errlen, "%s: %s", path, why);
        if (r == 0 && secret && !allow_secret) {
                /* Whoever handed this file over has handed over the secrets. */
                util_set_err(err, errlen, "%s: this is a secret key file, not a public bundle; "
                             "give the public bundle (.pub) instead. If this file was copied "
                             "or sent anywhere, its secret keys may have leaked: rotate them",
                             path);
                memset(pk, 0, sizeof(*pk));
                r = -EPERM;
        }
        sodium_memzero(text, len + 1);
        sodium_free(text);
        return r;
}

int keys_load_public(struct keys_public *pk, const char *path, char *err, size_t errlen)
{
        return load_public(pk, path, false, err, errlen);
}

int keys_load_public_any(struct keys_public *pk, const char *path, char *err, size_t errlen)
{
        return load_public(pk, path, true, err, errlen);
}
