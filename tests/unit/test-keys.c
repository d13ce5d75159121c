/* test-keys.c: key generation, secret key files and public bundles, their
 * strict parser and fingerprints (keys/keys.c).
 *
 * Every must-fail case starts from a valid file and changes one thing, so a
 * refusal proves the parser caught that thing and nothing else. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "keys.h"
#include "util.h"
#include "unit-tmp.h"

static char tmp_dir[PATH_MAX];
static unsigned int file_seq;

/* A fresh path in the test directory (the caller frees it). */
static char *new_path(const char *tag)
{
        char name[64];
        char *p;

        snprintf(name, sizeof(name), "%s-%u", tag, file_seq++);
        p = util_path(tmp_dir, name);
        assert_non_null(p);
        return p;
}

static void write_text(const char *path, const char *text, size_t len, unsigned int mode)
{
        assert_int_equal(util_write_file(path, text, len, mode, false), 0);
}

static char *read_text(const char *path)
{
        char *data = NULL;
        size_t len = 0;

        assert_int_equal(util_read_file(path, 1 << 20, &data, &len), 0);
        return data;
}

/* A copy of text with the line that starts with "prefix" replaced by repl
 * (NULL deletes it) or, with keep, followed by repl (a repeated or added line). */
static char *edit_line(const char *text, const char *prefix, const char *repl, bool keep)
{
        size_t plen = strlen(prefix), cap = strlen(text) + (repl ? strlen(repl) : 0) + 4;
        char *out = calloc(1, cap);
        const char *line = text;
        bool found = false;

        assert_non_null(out);
        while (*line) {
                const char *nl = strchr(line, '\n');
                size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);

                if (!found && strncmp(line, prefix, plen) == 0) {
                        found = true;
                        if (keep)
                                strncat(out, line, n);
                        if (repl) {
                                strcat(out, repl);
                                strcat(out, "\n");
                        }
                } else {
                        strncat(out, line, n);
                }
                line += n;
        }
        if (!found)
                fail_msg("no line starting with \"%s\"", prefix);
        return out;
}

/* The base64 value of field in text, decoded into out (exactly len bytes). */
static void get_field(const char *text, const char *field, uint8_t *out, size_t len)
{
        char key[64];
        const char *p, *end;
        size_t got = 0;

        snprintf(key, sizeof(key), "\n%s: ", field);
        p = strstr(text, key);
        assert_non_null(p);
        p += strlen(key);
        assert_int_equal(sodium_base642bin(out, len, p, strcspn(p, "\n"), NULL, &got, &end,
                                           sodium_base64_VARIANT_ORIGINAL), 0);
        assert_int_equal(got, len);
}

/* "field: base64(bin)" */
static void b64_line(char *buf, size_t cap, const char *field, const uint8_t *bin, size_t len)
{
        char b64[sodium_base64_ENCODED_LEN(128, sodium_base64_VARIANT_ORIGINAL)];

        assert_true(len <= 128);
        sodium_bin2base64(b64, sizeof(b64), bin, len, sodium_base64_VARIANT_ORIGINAL);
        snprintf(buf, cap, "%s: %s", field, b64);
}

/* Expects text, parsed as a public bundle, to be refused with r. */
static void expect_parse_fail(const char *text, int r, const char *what)
{
        struct keys_public pk;
        char err[256] = "";
        int got = keys_parse_public(&pk, text, strlen(text), err, sizeof(err));

        if (got != r)
                fail_msg("%s: keys_parse_public returned %d, expected %d (%s)", what, got, r,
                         err);
        if (!err[0])
                fail_msg("%s: refused without a reason", what);
}

/* Expects text, written as a 0600 secret file, to be refused by keys_load_secret. */
static void expect_load_secret_fail(const char *text, int r, const char *what)
{
        struct keys_secret *sk = NULL;
        char err[256] = "";
        char *path = new_path("bad-secret");
        int got;

        write_text(path, text, strlen(text), 0600);
        got = keys_load_secret(&sk, path, err, sizeof(err));
        if (got != r)
                fail_msg("%s: keys_load_secret returned %d, expected %d (%s)", what, got, r,
                         err);
        assert_null(sk);
        if (!err[0])
                fail_msg("%s: refused without a reason", what);
        free(path);
}

/* A freshly generated hub or member, saved; returns the secret file's path and
 * its text, and the public bundle's text. */
struct saved {
        struct keys_secret *sk;
        char *secret_path, *public_path;
        char *secret_text, *public_text;
};

static void saved_make(struct saved *s, enum keys_role role, const char *name)
{
        memset(s, 0, sizeof(*s));
        assert_int_equal(keys_generate(&s->sk, role, name), 0);
        s->secret_path = new_path("secret");
        s->public_path = new_path("public");
        assert_int_equal(keys_save_secret(s->sk, s->secret_path), 0);
        assert_int_equal(keys_save_public(&s->sk->pub, s->public_path), 0);
        s->secret_text = read_text(s->secret_path);
        s->public_text = read_text(s->public_path);
}

static void saved_free(struct saved *s)
{
        keys_free(s->sk);
        free(s->secret_path);
        free(s->public_path);
        if (s->secret_text)
                sodium_memzero(s->secret_text, strlen(s->secret_text));
        free(s->secret_text);
        free(s->public_text);
}

static unsigned int file_mode(const char *path)
{
        struct stat st;

        assert_int_equal(stat(path, &st), 0);
        return (unsigned int)(st.st_mode & 07777);
}

static void check_round_trip(enum keys_role role)
{
        struct keys_secret *loaded = NULL;
        struct keys_public pub, from_secret;
        struct saved s;
        char err[256] = "";
        uint8_t zero[KEYS_SIGN_SECRET_BYTES] = { 0 };

        saved_make(&s, role, "acme-nl.prod_1");
        assert_int_equal(keys_load_secret(&loaded, s.secret_path, err, sizeof(err)), 0);
        assert_non_null(loaded);
        assert_true(keys_public_equal(&loaded->pub, &s.sk->pub));
        assert_int_equal(loaded->pub.role, role);
        assert_string_equal(loaded->pub.name, "acme-nl.prod_1");
        assert_memory_equal(loaded->transport_sk, s.sk->transport_sk, KEYS_KEY_BYTES);
        assert_memory_equal(loaded->payload_sk, s.sk->payload_sk, KEYS_KEY_BYTES);
        assert_memory_equal(loaded->sign_sk, s.sk->sign_sk, KEYS_SIGN_SECRET_BYTES);
        if (role == KEYS_ROLE_HUB) {
                uint8_t sig[crypto_sign_BYTES];

                assert_memory_not_equal(loaded->sign_sk, zero, KEYS_SIGN_SECRET_BYTES);
                /* The loaded signing key signs what the public key verifies. */
                crypto_sign_detached(sig, NULL, (const uint8_t *)"x", 1, loaded->sign_sk);
                assert_int_equal(crypto_sign_verify_detached(sig, (const uint8_t *)"x", 1,
                                                             loaded->pub.sign), 0);
                assert_non_null(strstr(s.public_text, "\nsign-public: "));
        } else {
                assert_memory_equal(loaded->sign_sk, zero, KEYS_SIGN_SECRET_BYTES);
                assert_memory_equal(loaded->pub.sign, zero, KEYS_KEY_BYTES);
                assert_null(strstr(s.public_text, "sign-"));
                assert_null(strstr(s.secret_text, "sign-"));
        }
        /* The public bundle and the public half of the secret file agree. */
        assert_int_equal(keys_load_public(&pub, s.public_path, err, sizeof(err)), 0);
        assert_true(keys_public_equal(&pub, &s.sk->pub));
        assert_string_equal(pub.name, "acme-nl.prod_1");
        assert_int_equal(keys_load_public_any(&from_secret, s.secret_path, err, sizeof(err)), 0);
        assert_true(keys_public_equal(&from_secret, &pub));
        /* The bundle holds no secret. */
        assert_null(strstr(s.public_text, "-secret"));
        assert_non_null(strstr(s.secret_text, "transport-secret: "));
        assert_non_null(strstr(s.secret_text, "payload-secret: "));
        keys_free(loaded);
        saved_free(&s);
}

static void test_round_trip_member(void **state)
{
        (void)state;
        check_round_trip(KEYS_ROLE_MEMBER);
}

static void test_round_trip_hub(void **state)
{
        (void)state;
        check_round_trip(KEYS_ROLE_HUB);
}

static void test_generate_unnamed(void **state)
{
        struct keys_secret *a = NULL, *b = NULL;
        char *text = NULL;

        (void)state;
        assert_int_equal(keys_generate(&a, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(keys_generate(&b, KEYS_ROLE_MEMBER, ""), 0);
        assert_string_equal(a->pub.name, "");
        assert_false(keys_public_equal(&a->pub, &b->pub));
        assert_int_equal(keys_format_public(&a->pub, &text), 0);
        assert_null(strstr(text, "name:"));
        free(text);
        keys_free(a);
        keys_free(b);
        keys_free(NULL);
        a = NULL;
        assert_int_equal(keys_generate(&a, KEYS_ROLE_HUB, "-bad"), -EINVAL);
        assert_null(a);
}

static void test_secret_file_mode(void **state)
{
        struct saved s;
        char *before, *after;
        mode_t old;

        (void)state;
        /* Even with a permissive umask the secret file is 0600. */
        old = umask(0);
        saved_make(&s, KEYS_ROLE_HUB, NULL);
        umask(old);
        assert_int_equal(file_mode(s.secret_path), 0600);
        assert_int_equal(file_mode(s.public_path), 0644);
        /* Created exclusively: a second save is refused and changes nothing. */
        before = read_text(s.secret_path);
        assert_int_equal(keys_save_secret(s.sk, s.secret_path), -EEXIST);
        after = read_text(s.secret_path);
        assert_string_equal(after, before);
        free(before);
        free(after);
        /* The public bundle may be replaced. */
        assert_int_equal(keys_save_public(&s.sk->pub, s.public_path), 0);
        saved_free(&s);
}

static void test_secret_mode_refused(void **state)
{
        static const unsigned int bad[] = { 0640, 0604, 0660, 0644, 0606, 0610, 0601, 0620, 0602 };
        struct keys_secret *sk = NULL;
        struct keys_public pk;
        struct saved s;
        char err[256];

        (void)state;
        saved_make(&s, KEYS_ROLE_MEMBER, NULL);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(bad); i++) {
                assert_int_equal(chmod(s.secret_path, bad[i]), 0);
                err[0] = '\0';
                assert_int_equal(keys_load_secret(&sk, s.secret_path, err, sizeof(err)), -EACCES);
                assert_null(sk);
                assert_non_null(strstr(err, "chmod 600"));
                /* Its public half can still be shown. */
                assert_int_equal(keys_load_public_any(&pk, s.secret_path, err, sizeof(err)), 0);
        }
        /* Owner-only modes are fine. */
        assert_int_equal(chmod(s.secret_path, 0400), 0);
        assert_int_equal(keys_load_secret(&sk, s.secret_path, err, sizeof(err)), 0);
        keys_free(sk);
        sk = NULL;
        assert_int_equal(chmod(s.secret_path, 0600), 0);
        assert_int_equal(keys_load_secret(&sk, s.secret_path, err, sizeof(err)), 0);
        keys_free(sk);
        saved_free(&s);
}

static void test_load_secret_from_public(void **state)
{
        struct keys_secret *sk = NULL;
        struct saved s;
        char err[256];

        (void)state;
        saved_make(&s, KEYS_ROLE_HUB, NULL);
        /* As saved (0644): refused for its mode first. */
        assert_int_equal(keys_load_secret(&sk, s.public_path, err, sizeof(err)), -EACCES);
        /* Private mode does not make a bundle a secret key file. */
        assert_int_equal(chmod(s.public_path, 0600), 0);
        err[0] = '\0';
        assert_int_equal(keys_load_secret(&sk, s.public_path, err, sizeof(err)), -EINVAL);
        assert_null(sk);
        assert_non_null(strstr(err, "public bundle"));
        /* Missing files and directories. */
        free(s.public_path);
        s.public_path = new_path("absent");
        assert_int_equal(keys_load_secret(&sk, s.public_path, err, sizeof(err)), -ENOENT);
        assert_int_equal(keys_load_secret(&sk, tmp_dir, err, sizeof(err)), -EINVAL);
        saved_free(&s);
}

static void test_parse_public(void **state)
{
        struct keys_public pk, again;
        struct saved s;
        char fp[KEYS_FINGERPRINT_LEN], fp2[KEYS_FINGERPRINT_LEN], err[256];
        char *text = NULL, *crlf, *p, *q;

        (void)state;
        saved_make(&s, KEYS_ROLE_HUB, "hub-1");
        assert_int_equal(keys_parse_public(&pk, s.public_text, strlen(s.public_text), err,
                                           sizeof(err)), 0);
        assert_true(keys_public_equal(&pk, &s.sk->pub));
        assert_string_equal(pk.name, "hub-1");
        /* Formatting what was parsed gives the same text back. */
        assert_int_equal(keys_format_public(&pk, &text), 0);
        assert_string_equal(text, s.public_text);
        free(text);
        /* The length bounds the text: it need not be NUL terminated. */
        text = malloc(strlen(s.public_text) + 10);
        assert_non_null(text);
        memcpy(text, s.public_text, strlen(s.public_text));
        memcpy(text + strlen(s.public_text), "junk:junk", 10);
        assert_int_equal(keys_parse_public(&again, text, strlen(s.public_text), err,
                                           sizeof(err)), 0);
        assert_true(keys_public_equal(&again, &pk));
        free(text);
        /* A bundle that went through a mail client: CRLF, extra blank and comment lines. */
        crlf = calloc(1, 2 * strlen(s.public_text) + 64);
        assert_non_null(crlf);
        for (p = s.public_text, q = crlf; *p; p++) {
                if (*p == '\n') {
                        *q++ = '\r';
                        *q++ = '\n';
                        if (p == s.public_text + strcspn(s.public_text, "\n"))
                                q += sprintf(q, "\r\n# a comment\r\n\r\n");
                } else {
                        *q++ = *p;
                }
        }
        assert_int_equal(keys_parse_public(&again, crlf, strlen(crlf), err, sizeof(err)), 0);
        assert_true(keys_public_equal(&again, &pk));
        free(crlf);
        /* The fingerprint line is optional. */
        text = edit_line(s.public_text, "fingerprint: ", NULL, false);
        assert_int_equal(keys_parse_public(&again, text, strlen(text), err, sizeof(err)), 0);
        assert_true(keys_public_equal(&again, &pk));
        free(text);
        keys_fingerprint(&pk, fp);
        keys_fingerprint(&s.sk->pub, fp2);
        assert_string_equal(fp, fp2);
        saved_free(&s);
}

/* Key pairs from fixed seeds, as tests/unit/kat-envelope.py makes them. */
static void kat_public(struct keys_public *pk, enum keys_role role)
{
        uint8_t seed[32], sk[64];

        memset(pk, 0, sizeof(*pk));
        pk->role = role;
        memset(seed, role == KEYS_ROLE_HUB ? 0x03 : 0x01, sizeof(seed));
        crypto_box_seed_keypair(pk->transport, sk, seed);
        memset(seed, role == KEYS_ROLE_HUB ? 0x04 : 0x02, sizeof(seed));
        crypto_box_seed_keypair(pk->payload, sk, seed);
        if (role == KEYS_ROLE_HUB) {
                memset(seed, 0x05, sizeof(seed));
                crypto_sign_seed_keypair(pk->sign, sk, seed);
        }
        sodium_memzero(sk, sizeof(sk));
}

static void test_fingerprint(void **state)
{
        static const char kat_bundle[] =
                "nmo-signal key v1\n"
                "# nmo-signal hub public key bundle. Safe to send; check the fingerprint by phone.\n"
                "role: hub\n"
                "kind: public\n"
                "name: kat-hub\n"
                "transport-public: deJw3ylSxXuoNnuoYYwXj5/lDbJ5nTBOdOkY2YVoYUY=\n"
                "payload-public: 7dA8regNKd5uoxOnSrNp9HMuyzZkkGa3i1st1mTLBBc=\n"
                "sign-public: bnoc3Smwt4/ROvTFWY/v9O8qlxZuPKby5Pv8zYBQW/E=\n"
                "fingerprint: 92ff-28bb-4b6b-ac61-afc1\n";
        struct keys_public member, hub, pk;
        struct saved s;
        char fp[KEYS_FINGERPRINT_LEN], fp2[KEYS_FINGERPRINT_LEN], err[256], *text = NULL;

        (void)state;
        /* Known answers (BLAKE2b-80 over context, role byte, keys). */
        kat_public(&member, KEYS_ROLE_MEMBER);
        kat_public(&hub, KEYS_ROLE_HUB);
        keys_fingerprint(&member, fp);
        assert_string_equal(fp, "34ad-b8f2-4401-a4e6-b1ed");
        keys_fingerprint(&hub, fp);
        assert_string_equal(fp, "92ff-28bb-4b6b-ac61-afc1");
        /* The name is a label: not part of the fingerprint. */
        snprintf(hub.name, sizeof(hub.name), "kat-hub");
        keys_fingerprint(&hub, fp2);
        assert_string_equal(fp, fp2);
        /* The exact bundle text. */
        assert_int_equal(keys_format_public(&hub, &text), 0);
        assert_string_equal(text, kat_bundle);
        free(text);
        assert_int_equal(keys_parse_public(&pk, kat_bundle, strlen(kat_bundle), err,
                                           sizeof(err)), 0);
        assert_true(keys_public_equal(&pk, &hub));
        /* The role is hashed: the same keys as a member give another print. */
        pk = member;
        pk.role = KEYS_ROLE_HUB;
        keys_fingerprint(&pk, fp);
        keys_fingerprint(&member, fp2);
        assert_string_not_equal(fp, fp2);

        /* Secret file and public bundle show the same, stable fingerprint. */
        saved_make(&s, KEYS_ROLE_HUB, NULL);
        keys_fingerprint(&s.sk->pub, fp);
        keys_fingerprint(&s.sk->pub, fp2);
        assert_string_equal(fp, fp2);
        assert_int_equal(strlen(fp), KEYS_FINGERPRINT_LEN - 1);
        for (int i = 0; i < KEYS_FINGERPRINT_LEN - 1; i++) {
                if (i % 5 == 4)
                        assert_int_equal(fp[i], '-');
                else
                        assert_non_null(strchr("0123456789abcdef", fp[i]));
        }
        assert_int_equal(keys_load_public_any(&pk, s.secret_path, err, sizeof(err)), 0);
        keys_fingerprint(&pk, fp2);
        assert_string_equal(fp, fp2);
        assert_int_equal(keys_load_public(&pk, s.public_path, err, sizeof(err)), 0);
        keys_fingerprint(&pk, fp2);
        assert_string_equal(fp, fp2);
        snprintf(err, sizeof(err), "\nfingerprint: %s\n", fp);
        assert_non_null(strstr(s.secret_text, err));
        assert_non_null(strstr(s.public_text, err));
        saved_free(&s);
}

static void test_bad_magic(void **state)
{
        static const char *const magic[] = {
                "nmo-signal key v2", "nmo-signal key v1 ", "NMO-signal key v1", "nmo-signal key",
                "# nmo-signal key v1", "role: hub",
        };
        struct saved s;

        (void)state;
        saved_make(&s, KEYS_ROLE_HUB, NULL);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(magic); i++) {
                char *t = edit_line(s.public_text, "nmo-signal key v1", magic[i], false);
                expect_parse_fail(t, -EBADMSG, magic[i]);
                free(t);
                t = edit_line(s.secret_text, "nmo-signal key v1", magic[i], false);
                expect_load_secret_fail(t, -EBADMSG, magic[i]);
                free(t);
        }
        /* No magic line at all. */
        {
                char *t = edit_line(s.public_text, "nmo-signal key v1", NULL, false);
                expect_parse_fail(t, -EBADMSG, "no magic");
                free(t);
        }
        saved_free(&s);
}

static void test_missing_field(void **state)
{
        static const char *const pub_fields[] = {
                "role: ", "kind: ", "transport-public: ", "payload-public: ", "sign-public: ",
        };
        static const char *const secret_fields[] = {
                "role: ", "kind: ", "transport-public: ", "transport-secret: ",
                "payload-public: ", "payload-secret: ", "sign-public: ", "sign-secret: ",
        };
        struct saved hub, member;

        (void)state;
        saved_make(&hub, KEYS_ROLE_HUB, NULL);
        saved_make(&member, KEYS_ROLE_MEMBER, NULL);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(pub_fields); i++) {
                char *t = edit_line(hub.public_text, pub_fields[i], NULL, false);
                expect_parse_fail(t, -EBADMSG, pub_fields[i]);
                free(t);
        }
        for (size_t i = 0; i < NMO_ARRAY_SIZE(secret_fields); i++) {
                char *t = edit_line(hub.secret_text, secret_fields[i], NULL, false);
                expect_load_secret_fail(t, -EBADMSG, secret_fields[i]);
                free(t);
        }
        for (size_t i = 0; i < 6; i++) {
                const char *f = secret_fields[i];
                char *t = edit_line(member.secret_text, f, NULL, false);
                expect_load_secret_fail(t, -EBADMSG, f);
                free(t);
        }
        /* Only the magic line. */
        expect_parse_fail("nmo-signal key v1\n", -EBADMSG, "magic only");
        saved_free(&hub);
        saved_free(&member);
}

static void test_repeated_field(void **state)
{
        static const char *const fields[] = {
                "nmo-signal key v1", "role: ", "kind: ", "name: ", "transport-public: ",
                "payload-public: ", "sign-public: ", "fingerprint: ",
        };
        static const char *const secret_fields[] = {
                "transport-secret: ", "payload-secret: ", "sign-secret: ",
        };
        struct saved s;

        (void)state;
        saved_make(&s, KEYS_ROLE_HUB, "dup");
        for (size_t i = 0; i < NMO_ARRAY_SIZE(fields); i++) {
                /* Repeat the line exactly as it is. */
                const char *line = strstr(s.public_text, fields[i]);
                char *copy, *t;

                assert_non_null(line);
                copy = strndup(line, strcspn(line, "\n"));
                t = edit_line(s.public_text, fields[i], copy, true);
                expect_parse_fail(t, -EBADMSG, fields[i]);
                free(t);
                free(copy);
        }
        for (size_t i = 0; i < NMO_ARRAY_SIZE(secret_fields); i++) {
                const char *line = strstr(s.secret_text, secret_fields[i]);
                char *copy, *t;

                assert_non_null(line);
                copy = strndup(line, strcspn(line, "\n"));
                t = edit_line(s.secret_text, secret_fields[i], copy, true);
                expect_load_secret_fail(t, -EBADMSG, secret_fields[i]);
                free(t);
                free(copy);
        }
        saved_free(&s);
}

static void test_unknown_field(void **state)
{
        static const char *const lines[] = {
                "colour: blue", "Role: hub", "role : hub", "transport_public: x",
                "payload-public:no-space", "just words", "sign-public",
        };
        struct saved hub, member;
        uint8_t key[KEYS_KEY_BYTES], sk64[KEYS_SIGN_SECRET_BYTES];
        char line[200], *t;

        (void)state;
        saved_make(&hub, KEYS_ROLE_HUB, NULL);
        saved_make(&member, KEYS_ROLE_MEMBER, NULL);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(lines); i++) {
                t = edit_line(hub.public_text, "role: ", lines[i], true);
                expect_parse_fail(t, -EBADMSG, lines[i]);
                free(t);
        }
        /* Fields known elsewhere but not in this kind of file. */
        get_field(hub.secret_text, "transport-secret", key, sizeof(key));
        b64_line(line, sizeof(line), "transport-secret", key, sizeof(key));
        t = edit_line(hub.public_text, "transport-public: ", line, true);
        expect_parse_fail(t, -EBADMSG, "secret field in a public bundle");
        free(t);
        get_field(hub.public_text, "sign-public", key, sizeof(key));
        b64_line(line, sizeof(line), "sign-public", key, sizeof(key));
        t = edit_line(member.public_text, "payload-public: ", line, true);
        expect_parse_fail(t, -EBADMSG, "sign-public in a member bundle");
        free(t);
        get_field(hub.secret_text, "sign-secret", sk64, sizeof(sk64));
        b64_line(line, sizeof(line), "sign-secret", sk64, sizeof(sk64));
        t = edit_line(member.secret_text, "payload-secret: ", line, true);
        expect_load_secret_fail(t, -EBADMSG, "sign-secret in a member secret file");
        free(t);
        sodium_memzero(sk64, sizeof(sk64));
        /* Bad values of the text fields. */
        t = edit_line(hub.public_text, "role: ", "role: admin", false);
        expect_parse_fail(t, -EBADMSG, "role admin");
        free(t);
        t = edit_line(hub.public_text, "kind: ", "kind: private", false);
        expect_parse_fail(t, -EBADMSG, "kind private");
        free(t);
        t = edit_line(hub.public_text, "role: ", "name: -dash", true);
        expect_parse_fail(t, -EBADMSG, "bad name");
        free(t);
        /* A hub bundle relabelled as a member's. */
        t = edit_line(hub.public_text, "role: ", "role: member", false);
        expect_parse_fail(t, -EBADMSG, "role changed");
        free(t);
        saved_free(&hub);
        saved_free(&member);
}

static void test_bad_base64(void **state)
{
        static const char *const values[] = {
                "!!!!", "", " ", "AAAA", "not base64 at all",
        };
        struct saved s;
        uint8_t key[KEYS_KEY_BYTES];
        char b64[64], line[200], *t;
        size_t n;

        (void)state;
        saved_make(&s, KEYS_ROLE_HUB, NULL);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(values); i++) {
                snprintf(line, sizeof(line), "payload-public: %s", values[i]);
                t = edit_line(s.public_text, "payload-public: ", line, false);
                expect_parse_fail(t, -EBADMSG, values[i]);
                free(t);
        }
        /* Variants of the right key: URL-safe alphabet, no padding, whitespace. */
        get_field(s.public_text, "payload-public", key, sizeof(key));
        key[0] = 0xfb; /* so the encoding holds '+' or '/' */
        key[1] = 0xff;
        sodium_bin2base64(b64, sizeof(b64), key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
        assert_true(strpbrk(b64, "+/") != NULL);
        {
                char urlsafe[64], unpadded[64];

                sodium_bin2base64(urlsafe, sizeof(urlsafe), key, sizeof(key),
                                  sodium_base64_VARIANT_URLSAFE);
                sodium_bin2base64(unpadded, sizeof(unpadded), key, sizeof(key),
                                  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
                const char *forms[] = { urlsafe, unpadded };
                for (size_t i = 0; i < NMO_ARRAY_SIZE(forms); i++) {
                        snprintf(line, sizeof(line), "payload-public: %s", forms[i]);
                        t = edit_line(s.public_text, "payload-public: ", line, false);
                        expect_parse_fail(t, -EBADMSG, forms[i]);
                        free(t);
                }
        }
        n = strlen(b64);
        /* The last character before the '=' carries two padding bits: set one. */
        {
                static const char alphabet[] =
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                char odd[64];
                size_t v;

                snprintf(odd, sizeof(odd), "%s", b64);
                assert_int_equal(odd[n - 1], '=');
                v = (size_t)(strchr(alphabet, odd[n - 2]) - alphabet);
                odd[n - 2] = alphabet[v ^ 1];
                snprintf(line, sizeof(line), "payload-public: %s", odd);
                t = edit_line(s.public_text, "payload-public: ", line, false);
                expect_parse_fail(t, -EBADMSG, "padding bits set");
                free(t);
        }
        snprintf(line, sizeof(line), "payload-public: %s ", b64);
        t = edit_line(s.public_text, "payload-public: ", line, false);
        expect_parse_fail(t, -EBADMSG, "trailing space");
        free(t);
        snprintf(line, sizeof(line), "payload-public: %.*s %s", 8, b64, b64 + 8);
        t = edit_line(s.public_text, "payload-public: ", line, false);
        expect_parse_fail(t, -EBADMSG, "inner space");
        free(t);
        snprintf(line, sizeof(line), "payload-public: %.*s", (int)n - 1, b64);
        t = edit_line(s.public_text, "payload-public: ", line, false);
        expect_parse_fail(t, -EBADMSG, "padding cut");
        free(t);
        saved_free(&s);
}

static void test_wrong_key_length(void **state)
{
        static const struct {
                const char *field;
                size_t len;
        } cases[] = {
                { "transport-public", 31 }, { "transport-public", 33 }, { "payload-public", 0 },
                { "payload-public", 16 }, { "sign-public", 64 }, { "transport-secret", 31 },
                { "payload-secret", 33 }, { "sign-secret", 32 }, { "sign-secret", 63 },
                { "sign-secret", 65 },
        };
        struct saved s;
        uint8_t bytes[80];
        char line[200], prefix[64], *t;

        (void)state;
        saved_make(&s, KEYS_ROLE_HUB, NULL);
        randombytes_buf(bytes, sizeof(bytes));
        for (size_t i = 0; i < NMO_ARRAY_SIZE(cases); i++) {
                bool secret = strstr(cases[i].field, "secret") != NULL;

                b64_line(line, sizeof(line), cases[i].field, bytes, cases[i].len);
                snprintf(prefix, sizeof(prefix), "%s: ", cases[i].field);
                t = edit_line(secret ? s.secret_text : s.public_text, prefix, line, false);
                if (secret)
                        expect_load_secret_fail(t, -EBADMSG, line);
                else
                        expect_parse_fail(t, -EBADMSG, line);
                free(t);
        }
        saved_free(&s);
}

/* Flips one byte of a base64 field of text; returns the edited text. */
static char *flip_field_byte(const char *text, const char *field, size_t len, size_t at)
{
        uint8_t key[KEYS_SIGN_SECRET_BYTES];
        char line[200], prefix[64];

        get_field(text, field, key, len);
        key[at] ^= 0x10;
        b64_line(line, sizeof(line), field, key, len);
        sodium_memzero(key, sizeof(key));
        snprintf(prefix, sizeof(prefix), "%s: ", field);
        return edit_line(text, prefix, line, false);
}

static void test_public_secret_mismatch(void **state)
{
        static const struct {
                const char *field;
                size_t len;
                size_t at;
        } cases[] = {
                { "transport-secret", 32, 10 }, { "payload-secret", 32, 10 },
                { "transport-public", 32, 0 }, { "payload-public", 32, 31 },
                { "sign-public", 32, 5 },
                { "sign-secret", 64, 5 },  /* the seed half */
                { "sign-secret", 64, 40 }, /* the public half */
        };
        struct saved s;

        (void)state;
        saved_make(&s, KEYS_ROLE_HUB, NULL);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(cases); i++) {
                char *t = flip_field_byte(s.secret_text, cases[i].field, cases[i].len,
                                          cases[i].at);
                char what[80];

                /* Without the fingerprint line, so that the pair check itself is tested. */
                char *nofp = edit_line(t, "fingerprint: ", NULL, false);
                snprintf(what, sizeof(what), "%s byte %zu", cases[i].field, cases[i].at);
                expect_load_secret_fail(nofp, -EBADMSG, what);
                expect_parse_fail(nofp, -EBADMSG, what);
                expect_load_secret_fail(t, -EBADMSG, what);
                free(nofp);
                sodium_memzero(t, strlen(t));
                free(t);
        }
        saved_free(&s);
}

static void test_fingerprint_mismatch(void **state)
{
        struct saved s;
        char fp[KEYS_FINGERPRINT_LEN], line[100], upper[KEYS_FINGERPRINT_LEN], *t;
        const char *forms[6];
        char one_off[KEYS_FINGERPRINT_LEN], nodash[KEYS_FINGERPRINT_LEN], junk[64], cut[32];

        (void)state;
        saved_make(&s, KEYS_ROLE_HUB, NULL);
        keys_fingerprint(&s.sk->pub, fp);
        memcpy(one_off, fp, sizeof(fp));
        one_off[7] = one_off[7] == '0' ? '1' : '0';
        for (size_t i = 0; i < sizeof(fp); i++)
                upper[i] = (char)(fp[i] >= 'a' && fp[i] <= 'f' ? fp[i] - 32 : fp[i]);
        {
                size_t o = 0;
                for (size_t i = 0; fp[i]; i++)
                        if (fp[i] != '-')
                                nodash[o++] = fp[i];
                nodash[o] = '\0';
        }
        snprintf(junk, sizeof(junk), "%s-0000", fp);
        snprintf(cut, sizeof(cut), "%.19s", fp);
        forms[0] = one_off;
        forms[1] = upper;
        forms[2] = nodash;
        forms[3] = junk;
        forms[4] = cut;
        forms[5] = "";
        for (size_t i = 0; i < NMO_ARRAY_SIZE(forms); i++) {
                /* Skip a case that happens to equal the real one (upper case with no a-f). */
                if (strcmp(forms[i], fp) == 0)
                        continue;
                snprintf(line, sizeof(line), "fingerprint: %s", forms[i]);
                t = edit_line(s.public_text, "fingerprint: ", line, false);
                expect_parse_fail(t, -EBADMSG, line);
                free(t);
                t = edit_line(s.secret_text, "fingerprint: ", line, false);
                expect_load_secret_fail(t, -EBADMSG, line);
                sodium_memzero(t, strlen(t));
                free(t);
        }
        /* A correct fingerprint of other keys. */
        {
                struct saved other;
                char ofp[KEYS_FINGERPRINT_LEN];

                saved_make(&other, KEYS_ROLE_HUB, NULL);
                keys_fingerprint(&other.sk->pub, ofp);
                snprintf(line, sizeof(line), "fingerprint: %s", ofp);
                t = edit_line(s.public_text, "fingerprint: ", line, false);
                expect_parse_fail(t, -EBADMSG, "other keys' fingerprint");
                free(t);
                saved_free(&other);
        }
        saved_free(&s);
}

static void test_nul_oversized_empty(void **state)
{
        struct keys_secret *sk = NULL;
        struct keys_public pk;
        struct saved s;
        char err[256], *big, *path;
        size_t n;

        (void)state;
        saved_make(&s, KEYS_ROLE_MEMBER, NULL);
        n = strlen(s.secret_text);

        /* NUL byte: in the text, and in a file (the rest of it is a valid key file). */
        {
                char *t = strdup(s.public_text);
                size_t m = strlen(t);
                t[strcspn(t, "\n") + 1] = '\0';
                assert_int_equal(keys_parse_public(&pk, t, m, err, sizeof(err)), -EBADMSG);
                free(t);
                t = malloc(n + 1);
                memcpy(t, s.secret_text, n);
                t[n] = '\0'; /* the NUL is part of the file */
                path = new_path("nul");
                write_text(path, t, n + 1, 0600);
                assert_int_equal(keys_load_secret(&sk, path, err, sizeof(err)), -EBADMSG);
                assert_int_equal(keys_load_public(&pk, path, err, sizeof(err)), -EBADMSG);
                assert_null(sk);
                free(path);
                sodium_memzero(t, n);
                free(t);
        }
        /* Oversized: a valid file padded with comments past KEYS_FILE_MAX. Exactly
         * KEYS_FILE_MAX bytes is still fine. */
        big = malloc(KEYS_FILE_MAX + 2);
        assert_non_null(big);
        memcpy(big, s.secret_text, n);
        memset(big + n, '#', KEYS_FILE_MAX - n);
        big[KEYS_FILE_MAX - 1] = '\n';
        big[n] = '#';
        big[n - 1] = '\n';
        path = new_path("max");
        write_text(path, big, KEYS_FILE_MAX, 0600);
        assert_int_equal(keys_load_secret(&sk, path, err, sizeof(err)), 0);
        keys_free(sk);
        sk = NULL;
        assert_int_equal(keys_parse_public(&pk, big, KEYS_FILE_MAX, err, sizeof(err)), 0);
        free(path);
        big[KEYS_FILE_MAX] = '\n';
        path = new_path("big");
        write_text(path, big, KEYS_FILE_MAX + 1, 0600);
        assert_int_equal(keys_load_secret(&sk, path, err, sizeof(err)), -EFBIG);
        assert_int_equal(keys_load_public(&pk, path, err, sizeof(err)), -EFBIG);
        assert_int_equal(keys_parse_public(&pk, big, KEYS_FILE_MAX + 1, err, sizeof(err)),
                         -EFBIG);
        assert_null(sk);
        free(path);
        sodium_memzero(big, KEYS_FILE_MAX + 2);
        free(big);

        /* Empty, and nothing but newlines. */
        path = new_path("empty");
        write_text(path, "", 0, 0600);
        assert_int_equal(keys_load_secret(&sk, path, err, sizeof(err)), -EBADMSG);
        assert_int_equal(keys_load_public(&pk, path, err, sizeof(err)), -EBADMSG);
        assert_null(sk);
        free(path);
        expect_parse_fail("", -EBADMSG, "empty");
        expect_parse_fail("\n\n\n", -EBADMSG, "newlines");
        saved_free(&s);
}

/* Secret files protected by a passphrase: round trip for both roles, the
 * passphrase is needed and checked, the file holds no secret in clear, and a
 * touched sealed field or KDF parameter fails. */
static void test_passphrase(void **state)
{
        static const char pass[] = "correct horse battery";
        enum keys_role roles[2] = { KEYS_ROLE_MEMBER, KEYS_ROLE_HUB };
        char err[256];

        (void)state;
        for (int i = 0; i < 2; i++) {
                struct keys_secret *sk = NULL, *back = NULL;
                char *path = new_path("protected"), *text, *edited, b64[64], *pfile;

                assert_int_equal(keys_generate(&sk, roles[i], "guarded"), 0);
                assert_int_equal(keys_save_secret_protected(sk, path, pass, strlen(pass)), 0);
                text = read_text(path);
                assert_non_null(strstr(text, "protection: argon2id13"));
                assert_null(strstr(text, "payload-secret"));
                sodium_bin2base64(b64, sizeof(b64), sk->payload_sk, KEYS_KEY_BYTES,
                                  sodium_base64_VARIANT_ORIGINAL);
                assert_null(strstr(text, b64));

                /* Without the passphrase: -ENOKEY and a clear word. */
                assert_int_equal(keys_load_secret(&back, path, err, sizeof(err)), -ENOKEY);
                assert_non_null(strstr(err, "passphrase"));
                assert_int_equal(keys_load_secret_pass(&back, path, "wrong", 5, err, sizeof(err)),
                                 -EKEYREJECTED);
                assert_null(back);
                assert_int_equal(keys_load_secret_pass(&back, path, pass, strlen(pass), err,
                                                       sizeof(err)),
                                 0);
                assert_true(keys_public_equal(&back->pub, &sk->pub));
                assert_memory_equal(back->payload_sk, sk->payload_sk, KEYS_KEY_BYTES);
                assert_memory_equal(back->transport_sk, sk->transport_sk, KEYS_KEY_BYTES);
                if (roles[i] == KEYS_ROLE_HUB)
                        assert_memory_equal(back->sign_sk, sk->sign_sk, KEYS_SIGN_SECRET_BYTES);
                keys_free(back);
                back = NULL;

                /* The public half still loads without it. */
                {
                        struct keys_public pk;
                        assert_int_equal(keys_load_public_any(&pk, path, err, sizeof(err)), 0);
                        assert_true(keys_public_equal(&pk, &sk->pub));
                }

                /* Through a passphrase file, which must be private. */
                pfile = new_path("pass");
                write_text(pfile, "correct horse battery\n", 22, 0644);
                assert_int_equal(keys_load_secret_auto(&back, path, pfile, err, sizeof(err)),
                                 -EACCES);
                assert_int_equal(chmod(pfile, 0600), 0);
                assert_int_equal(keys_load_secret_auto(&back, path, pfile, err, sizeof(err)), 0);
                keys_free(back);
                back = NULL;

                /* A touched KDF parameter or sealed field fails. */
                edited = edit_line(text, "kdf-opslimit: ", "kdf-opslimit: 3", false);
                write_text(path, edited, strlen(edited), 0600);
                assert_int_equal(keys_load_secret_pass(&back, path, pass, strlen(pass), err,
                                                       sizeof(err)),
                                 -EKEYREJECTED);
                free(edited);
                edited = edit_line(text, "kdf-memlimit: ", "kdf-memlimit: 99999999999", false);
                write_text(path, edited, strlen(edited), 0600);
                assert_int_equal(keys_load_secret_pass(&back, path, pass, strlen(pass), err,
                                                       sizeof(err)),
                                 -EBADMSG);
                free(edited);
                edited = edit_line(text, "sealed-secrets: ", NULL, false);
                write_text(path, edited, strlen(edited), 0600);
                assert_int_equal(keys_load_secret_pass(&back, path, pass, strlen(pass), err,
                                                       sizeof(err)),
                                 -EBADMSG);
                free(edited);
                assert_null(back);
                free(text);
                free(path);
                free(pfile);
                keys_free(sk);
        }
}

/* Public keys of small order (X25519 with them gives all zeros): zero, one,
 * a point of order 8, and p - 1. */
static const uint8_t small_order[][KEYS_KEY_BYTES] = {
        { 0 },
        { 1 },
        { 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
          0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 },
        { 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
};

/* Expects keys_public_check() to refuse pk with a reason that contains want. */
static void expect_check_fail(const struct keys_public *pk, const char *want)
{
        char err[256] = "";

        assert_int_equal(keys_public_check(pk, err, sizeof(err)), -EINVAL);
        if (!strstr(err, want))
                fail_msg("refusal \"%s\" does not say \"%s\"", err, want);
}

/* Unusable keys and a bundle whose two keys are one are refused by the
 * shared check, when a bundle is read and when one is written. */
static void test_unusable_keys(void **state)
{
        struct saved s;
        struct keys_public pk;
        char line[200], *t, *t2, err[256];
        char *text = NULL, *path;

        (void)state;
        saved_make(&s, KEYS_ROLE_HUB, NULL);
        assert_int_equal(keys_public_check(&s.sk->pub, err, sizeof(err)), 0);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(small_order); i++) {
                assert_false(keys_x25519_usable(small_order[i]));
                pk = s.sk->pub;
                memcpy(pk.payload, small_order[i], KEYS_KEY_BYTES);
                expect_check_fail(&pk, "payload-public");
                pk = s.sk->pub;
                memcpy(pk.transport, small_order[i], KEYS_KEY_BYTES);
                expect_check_fail(&pk, "transport-public");
        }
        assert_true(keys_x25519_usable(s.sk->pub.payload));
        pk = s.sk->pub;
        memset(pk.payload, 0, KEYS_KEY_BYTES);
        expect_check_fail(&pk, "all zeros");
        pk = s.sk->pub;
        memcpy(pk.payload, pk.transport, KEYS_KEY_BYTES);
        expect_check_fail(&pk, "same key");
        pk = s.sk->pub;
        memset(pk.sign, 0, KEYS_KEY_BYTES);
        expect_check_fail(&pk, "sign-public");
        /* Nothing writes such a bundle. */
        assert_int_equal(keys_format_public(&pk, &text), -EINVAL);
        assert_null(text);

        /* Nor reads one: an all-zero payload key, and one key twice. */
        t = edit_line(s.public_text, "fingerprint: ", NULL, false);
        b64_line(line, sizeof(line), "payload-public", small_order[0], KEYS_KEY_BYTES);
        t2 = edit_line(t, "payload-public: ", line, false);
        expect_parse_fail(t2, -EINVAL, "all-zero payload key");
        path = new_path("zero-payload");
        write_text(path, t2, strlen(t2), 0644);
        assert_int_equal(keys_load_public(&pk, path, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "payload-public is all zeros"));
        free(path);
        free(t2);
        b64_line(line, sizeof(line), "payload-public", s.sk->pub.transport, KEYS_KEY_BYTES);
        t2 = edit_line(t, "payload-public: ", line, false);
        expect_parse_fail(t2, -EINVAL, "transport key equal to payload key");
        free(t2);
        b64_line(line, sizeof(line), "sign-public", small_order[1], KEYS_KEY_BYTES);
        t2 = edit_line(t, "sign-public: ", line, false);
        expect_parse_fail(t2, -EINVAL, "small-order signing key");
        free(t2);
        free(t);
        saved_free(&s);
}

/* A secret key file where a public bundle belongs is refused, with a warning
 * that its secrets may have leaked; nmo-keys show still reads its public half. */
static void test_secret_as_bundle(void **state)
{
        enum keys_role roles[] = { KEYS_ROLE_MEMBER, KEYS_ROLE_HUB };
        struct keys_public pk;
        char err[512];

        (void)state;
        for (size_t i = 0; i < NMO_ARRAY_SIZE(roles); i++) {
                struct saved s;

                saved_make(&s, roles[i], NULL);
                err[0] = '\0';
                assert_int_equal(keys_load_public(&pk, s.secret_path, err, sizeof(err)), -EPERM);
                assert_non_null(strstr(err, "secret key file"));
                assert_non_null(strstr(err, "leaked"));
                assert_non_null(strstr(err, "rotate"));
                assert_int_equal(keys_load_public_any(&pk, s.secret_path, err, sizeof(err)), 0);
                assert_true(keys_public_equal(&pk, &s.sk->pub));
                assert_int_equal(keys_load_public(&pk, s.public_path, err, sizeof(err)), 0);
                saved_free(&s);
        }
}

static void test_name_ok(void **state)
{
        static const char *const good[] = {
                "a", "Z", "0", "acme", "Acme-NL_01.prod", "0day", "a.", "a-", "a_",
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_",
        };
        static const char *const bad[] = {
                "", "-a", ".a", "_a", "a b", "a/b", "a:b", "a\n", "a\tb", " a", "a ",
                "caf\xc3\xa9", "a@b", "a+b", "../x",
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_x",
        };
        enum keys_role role;

        (void)state;
        assert_int_equal(strlen(good[NMO_ARRAY_SIZE(good) - 1]), KEYS_NAME_MAX);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(good); i++)
                if (!keys_name_ok(good[i]))
                        fail_msg("refused good name \"%s\"", good[i]);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(bad); i++)
                if (keys_name_ok(bad[i]))
                        fail_msg("accepted bad name \"%s\"", bad[i]);
        assert_int_equal(keys_role_parse("member", &role), 0);
        assert_int_equal(role, KEYS_ROLE_MEMBER);
        assert_int_equal(keys_role_parse("hub", &role), 0);
        assert_int_equal(role, KEYS_ROLE_HUB);
        assert_int_equal(keys_role_parse("Hub", &role), -EINVAL);
        assert_int_equal(keys_role_parse("", &role), -EINVAL);
        assert_string_equal(keys_role_name(KEYS_ROLE_MEMBER), "member");
        assert_string_equal(keys_role_name(KEYS_ROLE_HUB), "hub");
}

/* A public key u (from nmo-keys generate) and 1/u mod 2^255 - 19: the point
 * plus the point of order 2, which anyone computes from a public key. */
static const uint8_t class_u[KEYS_KEY_BYTES] = {
        0xb9, 0xdf, 0xbf, 0xc9, 0x84, 0x87, 0x8c, 0x74, 0x76, 0x50, 0x76, 0x1d, 0x4b, 0x5c, 0x42, 0x3e,
        0x16, 0x2e, 0x2a, 0xe6, 0x53, 0xb1, 0x1f, 0x79, 0x97, 0xd7, 0x2b, 0xd3, 0xf7, 0xaa, 0x6d, 0x71,
};
static const uint8_t class_inv[KEYS_KEY_BYTES] = {
        0x8c, 0x9e, 0x61, 0x62, 0xba, 0x97, 0x26, 0x9c, 0x43, 0x76, 0x99, 0xb2, 0x54, 0x09, 0x9f, 0xb7,
        0x9c, 0x3d, 0x8b, 0x0b, 0xcd, 0x69, 0x50, 0x9f, 0xc9, 0x68, 0xbf, 0x8e, 0xa6, 0x3b, 0xde, 0x47,
};

/* Keys X25519 cannot tell apart give one shared secret with every secret
 * key, so a box sealed under one opens under the other: they are one class,
 * and every check of uniqueness must see them as one key. */
static void test_x25519_classes(void **state)
{
        uint8_t top[KEYS_KEY_BYTES], sk[KEYS_KEY_BYTES], s1[KEYS_KEY_BYTES], s2[KEYS_KEY_BYTES];
        uint8_t c1[KEYS_KEY_BYTES], c2[KEYS_KEY_BYTES];
        struct keys_secret *other = NULL;
        struct keys_public pk;

        (void)state;
        memcpy(top, class_u, KEYS_KEY_BYTES);
        top[31] |= 0x80; /* the bit X25519 ignores */
        assert_true(keys_x25519_usable(class_u));
        assert_true(keys_x25519_usable(class_inv));
        assert_true(keys_x25519_usable(top));
        assert_memory_not_equal(class_u, class_inv, KEYS_KEY_BYTES);
        /* Why it matters: the hub's secret gives the same shared secret. */
        for (int i = 0; i < 8; i++) {
                randombytes_buf(sk, sizeof(sk));
                assert_int_equal(crypto_scalarmult(s1, sk, class_u), 0);
                assert_int_equal(crypto_scalarmult(s2, sk, class_inv), 0);
                assert_memory_equal(s1, s2, KEYS_KEY_BYTES);
                assert_int_equal(crypto_scalarmult(s2, sk, top), 0);
                assert_memory_equal(s1, s2, KEYS_KEY_BYTES);
        }
        assert_int_equal(keys_x25519_class(class_u, c1), 0);
        assert_int_equal(keys_x25519_class(class_inv, c2), 0);
        assert_memory_equal(c1, c2, KEYS_KEY_BYTES);
        assert_true(keys_x25519_same_class(class_u, top));
        assert_true(keys_x25519_same_class(class_u, class_inv));
        assert_int_equal(keys_generate(&other, KEYS_ROLE_MEMBER, NULL), 0);
        assert_false(keys_x25519_same_class(class_u, other->pub.payload));
        assert_false(keys_x25519_same_class(other->pub.transport, other->pub.payload));
        /* Small order has no class. */
        memset(top, 0, sizeof(top));
        assert_int_equal(keys_x25519_class(top, c1), -EINVAL);
        /* A bundle whose two keys are one class is one key for both jobs. */
        pk = other->pub;
        memcpy(pk.transport, class_u, KEYS_KEY_BYTES);
        memcpy(pk.payload, class_inv, KEYS_KEY_BYTES);
        assert_int_equal(keys_public_check(&pk, NULL, 0), -EINVAL);
        memcpy(pk.payload, other->pub.payload, KEYS_KEY_BYTES);
        assert_int_equal(keys_public_check(&pk, NULL, 0), 0);
        keys_free(other);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip_member),
                cmocka_unit_test(test_round_trip_hub),
                cmocka_unit_test(test_generate_unnamed),
                cmocka_unit_test(test_secret_file_mode),
                cmocka_unit_test(test_secret_mode_refused),
                cmocka_unit_test(test_load_secret_from_public),
                cmocka_unit_test(test_parse_public),
                cmocka_unit_test(test_fingerprint),
                cmocka_unit_test(test_bad_magic),
                cmocka_unit_test(test_missing_field),
                cmocka_unit_test(test_repeated_field),
                cmocka_unit_test(test_unknown_field),
                cmocka_unit_test(test_bad_base64),
                cmocka_unit_test(test_wrong_key_length),
                cmocka_unit_test(test_public_secret_mismatch),
                cmocka_unit_test(test_fingerprint_mismatch),
                cmocka_unit_test(test_nul_oversized_empty),
                cmocka_unit_test(test_name_ok),
                cmocka_unit_test(test_unusable_keys),
                cmocka_unit_test(test_x25519_classes),
                cmocka_unit_test(test_secret_as_bundle),
                cmocka_unit_test(test_passphrase),
        };
        int r;

        if (sodium_init() < 0)
                return 1;
        if (!unit_tmp_make(tmp_dir, sizeof(tmp_dir), "keys"))
                return 1;
        r = cmocka_run_group_tests(tests, NULL, NULL);
        if (unit_tmp_remove(tmp_dir) < 0)
                fprintf(stderr, "test-keys: could not remove %s\n", tmp_dir);
        return r;
}
