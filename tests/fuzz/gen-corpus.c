/* gen-corpus.c: writes the seed corpora of the fuzz targets, a handful of
 * small valid and near-valid inputs per target, made with the same fixed keys
 * the targets use (fuzz-common.h). Run once by hand when a format changes:
 *
 *   build-fuzz/tests/fuzz/gen-corpus tests/fuzz/corpus
 *
 * and commit the files it writes. Everything it makes is deterministic: fixed
 * keys, ids, nonces and times. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alert.h"
#include "hubkey.h"
#include "config.h"
#include "fuzz-common.h"
#include "keys.h"
#include "node-config.h"
#include "receipt.h"
#include "signal.h"

static const char *root;

static void put(const char *target, const char *name, const void *data, size_t len)
{
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", root, target);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                perror(path);
                exit(1);
        }
        snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
        f = fopen(path, "wb");
        if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
                perror(path);
                exit(1);
        }
}

/* A string literal with the zero bytes inside it, without the final one. */
#define PUT_LITERAL(target, name, lit) put(target, name, lit, sizeof(lit) - 1)

static void put_text(const char *target, const char *name, const char *text)
{
        put(target, name, text, strlen(text));
}

static void must(int r, const char *what)
{
        if (r < 0) {
                fprintf(stderr, "gen-corpus: %s: %s\n", what, strerror(-r));
                exit(1);
        }
}

static void set(struct signal *s, const char *field, const char *value)
{
        char err[200];

        if (signal_set(s, field, value, err, sizeof(err)) < 0) {
                fprintf(stderr, "gen-corpus: %s\n", err);
                exit(1);
        }
}

/* A deterministic signal: seed id n, a fixed creation time in the past. */
static void signal_minimal(struct signal *s, unsigned int n)
{
        memset(s, 0, sizeof(*s));
        fuzz_seed_id(n, s->id);
        s->created_ms = 1767225600000ull; /* 2026-01-01 */
        set(s, "material", "gallium");
        set(s, "event", "export-licensing");
        set(s, "severity", "high");
        set(s, "country", "CN");
}

static void signal_full(struct signal *s, unsigned int n)
{
        signal_minimal(s, n);
        set(s, "material", "germanium");
        set(s, "status", "in-effect");
        set(s, "stage", "processing");
        set(s, "start-date", "2026-11-17");
        set(s, "duration-days", "30");
        set(s, "impact", "confirmed");
        set(s, "share", "25-50");
        set(s, "volume", "40");
        set(s, "confidence", "high");
        set(s, "source", "supplier-notice");
        set(s, "note", "Supplier rations to 60% from December.");
        set(s, "note-consent", "note-may-be-shared");
}

static void seal(const struct signal *s, const struct keys_secret *member, uint8_t **frame,
                 size_t *len)
{
        static const uint8_t nonce[ENVELOPE_NONCE_BYTES] = { 1, 2, 3, 4, 5, 6, 7, 8 };

        must(envelope_seal(s, member, fuzz_keys()->hub.pub.payload, nonce, frame, len), "seal");
}

/* Envelopes: for fuzz-envelope and fuzz-hub-frame. */
static void gen_envelopes(void)
{
        static const char *const targets[] = { "envelope", "hub-frame" };
        const struct fuzz_keys *k = fuzz_keys();
        struct keys_secret stranger = k->member;
        struct signal s;
        uint8_t *frame, *plain, seed[32];
        size_t len, plain_len;

        memset(seed, 0x21, sizeof(seed));
        crypto_box_seed_keypair(stranger.pub.payload, stranger.payload_sk, seed);
        for (size_t t = 0; t < NMO_ARRAY_SIZE(targets); t++) {
                signal_minimal(&s, 1);
                seal(&s, &k->member, &frame, &len);
                put(targets[t], "valid-minimal", frame, len);
                put(targets[t], "truncated", frame, len / 2);
                frame[len - 1] ^= 0x01; /* the box's last byte: no longer authenticates */
                put(targets[t], "bad-box", frame, len);
                frame[1] = 2;           /* field 1 (version) = 2 */
                put(targets[t], "version-2", frame, len);
                free(frame);

                signal_full(&s, 2);
                seal(&s, &k->member, &frame, &len);
                put(targets[t], "valid-full", frame, len);
                free(frame);

                signal_minimal(&s, 3);
                seal(&s, &stranger, &frame, &len);
                put(targets[t], "sender-mismatch", frame, len);
                free(frame);

                /* A bare Signal: the targets also seal their input themselves. */
                signal_full(&s, 4);
                must(signal_pack(&s, &plain, &plain_len), "pack");
                put(targets[t], "signal-plain", plain, plain_len);
                free(plain);
                s.created_ms = 0;       /* packs, does not validate */
                must(signal_pack(&s, &plain, &plain_len), "pack");
                put(targets[t], "signal-plain-no-time", plain, plain_len);
                free(plain);
        }
}

/* A member's announced new keys, for fuzz-envelope only: in fuzz-hub-frame an
 * accepted rotation would replace the member's keys for the rest of the run. */
static void gen_rotations(void)
{
        Nmo__KeyRotation kr = NMO__KEY_ROTATION__INIT;
        uint8_t id[SIGNAL_ID_BYTES], seed[32], sk[KEYS_KEY_BYTES];
        uint8_t transport[KEYS_KEY_BYTES], payload[KEYS_KEY_BYTES], plain[256], *frame;
        size_t plain_len, len;

        fuzz_seed_id(8, id);
        memset(seed, 0x31, sizeof(seed));
        crypto_box_seed_keypair(transport, sk, seed);
        memset(seed, 0x32, sizeof(seed));
        crypto_box_seed_keypair(payload, sk, seed);
        kr.has_version = 1;
        kr.version = 1;
        kr.has_id = 1;
        kr.id.data = id;
        kr.id.len = sizeof(id);
        kr.has_new_transport = 1;
        kr.new_transport.data = transport;
        kr.new_transport.len = sizeof(transport);
        kr.has_new_payload = 1;
        kr.new_payload.data = payload;
        kr.new_payload.len = sizeof(payload);
        kr.has_created_ms = 1;
        kr.created_ms = 1767225600000ull;
        plain_len = nmo__key_rotation__pack(&kr, plain);
        put("envelope", "rotation-plain", plain, plain_len);
        must(fuzz_seal_raw(plain, plain_len, NMO__ENVELOPE_KIND__ENVELOPE_KEY_ROTATION, id, &frame,
                           &len), "seal rotation");
        put("envelope", "rotation-valid", frame, len);
        free(frame);
        memset(payload, 0, sizeof(payload)); /* no usable key */
        plain_len = nmo__key_rotation__pack(&kr, plain);
        must(fuzz_seal_raw(plain, plain_len, NMO__ENVELOPE_KIND__ENVELOPE_KEY_ROTATION, id, &frame,
                           &len), "seal rotation");
        put("envelope", "rotation-zero-key", frame, len);
        free(frame);
}

static void gen_signals(void)
{
        struct signal s;
        uint8_t *buf;
        size_t len;

        signal_minimal(&s, 5);
        must(signal_pack(&s, &buf, &len), "pack");
        put("signal", "valid-minimal", buf, len);
        free(buf);
        signal_full(&s, 6);
        must(signal_pack(&s, &buf, &len), "pack");
        put("signal", "valid-full", buf, len);
        free(buf);
        s.severity = 9;         /* out of the enum's range */
        must(signal_pack(&s, &buf, &len), "pack");
        put("signal", "bad-severity", buf, len);
        free(buf);
        signal_minimal(&s, 7);
        snprintf(s.material, sizeof(s.material), "unobtainium");
        must(signal_pack(&s, &buf, &len), "pack");
        put("signal", "unknown-material", buf, len);
        free(buf);
        /* field NUL value, for signal_set() */
        PUT_LITERAL("signal", "set-share", "share\0lt10");
        PUT_LITERAL("signal", "set-date", "start-date\0" "2028-02-29");
        PUT_LITERAL("signal", "set-volume", "volume\0" "100000000");
        PUT_LITERAL("signal", "set-note", "note\0line one\nline two");
}

static void gen_receipts(void)
{
        const struct fuzz_keys *k = fuzz_keys();
        Nmo__ReceiptBody b = NMO__RECEIPT_BODY__INIT;
        struct receipt r;
        uint8_t *sr, *reply, body[512];
        size_t sr_len, reply_len, body_len;

        memset(&r, 0, sizeof(r));
        r.has_id = true;
        fuzz_seed_id(1, r.signal_id);
        r.status = NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED;
        r.hub_time_ms = 1794999600000ull; /* an hour's start, as hubs send it */
        memset(r.envelope_hash, 0x5a, sizeof(r.envelope_hash));
        memcpy(r.member_key, k->member.pub.payload, KEYS_KEY_BYTES);
        must(receipt_sign(&r, k->hub.sign_sk, &sr, &sr_len), "receipt_sign");
        put("receipt", "signed-accepted", sr, sr_len);
        must(reply_pack(false, sr, sr_len, &reply, &reply_len), "reply_pack");
        put("receipt", "reply-accepted", reply, reply_len);
        free(reply);
        must(reply_pack(true, sr, sr_len, &reply, &reply_len), "reply_pack");
        put("receipt", "reply-duplicate", reply, reply_len);
        free(reply);
        sr[sr_len - 1] ^= 0x80; /* the signature's last byte */
        put("receipt", "signed-bad-signature", sr, sr_len);
        free(sr);

        /* The batch form: three receipts under one root; the reply of leaf 1. */
        {
                uint8_t *bodies[3], *frames[3];
                size_t lens[3], flens[3];
                bool dup[3] = { false, true, false };

                for (int i = 0; i < 3; i++) {
                        r.envelope_hash[0] = (uint8_t)i;
                        must(receipt_body_pack(&r, &bodies[i], &lens[i]), "receipt_body_pack");
                }
                must(receipt_sign_batch(bodies, lens, dup, 3, k->hub.sign_sk, frames, flens),
                     "receipt_sign_batch");
                put("receipt", "reply-batch-duplicate", frames[1], flens[1]);
                put("receipt", "reply-batch-last", frames[2], flens[2]);
                for (int i = 0; i < 3; i++) {
                        free(bodies[i]);
                        free(frames[i]);
                }
        }

        r.status = NMO__RECEIPT_STATUS__RECEIPT_REJECTED;
        r.reason = NMO__REASON__REASON_CLOCK_SKEW;
        snprintf(r.detail, sizeof(r.detail), "signal dated 1200 s ahead of the hub clock");
        must(receipt_sign(&r, k->hub.sign_sk, &sr, &sr_len), "receipt_sign");
        put("receipt", "signed-rejected", sr, sr_len);
        must(reply_pack(false, sr, sr_len, &reply, &reply_len), "reply_pack");
        put("receipt", "reply-rejected", reply, reply_len);
        free(reply);
        free(sr);

        /* A bare ReceiptBody: the target also signs its input itself. */
        b.has_version = 1;
        b.version = 1;
        b.has_signal_id = 1;
        b.signal_id.data = r.signal_id;
        b.signal_id.len = SIGNAL_ID_BYTES;
        b.has_status = 1;
        b.status = NMO__RECEIPT_STATUS__RECEIPT_REJECTED;
        b.has_reason = 1;
        b.reason = NMO__REASON__REASON_RATE_LIMITED;
        b.detail = "member above its rate limit; retry later";
        b.has_hub_time_ms = 1;
        b.hub_time_ms = r.hub_time_ms;
        b.has_envelope_hash = 1;
        b.envelope_hash.data = r.envelope_hash;
        b.envelope_hash.len = ENVELOPE_HASH_BYTES;
        b.has_member_key = 1;
        b.member_key.data = r.member_key;
        b.member_key.len = KEYS_KEY_BYTES;
        body_len = nmo__receipt_body__pack(&b, body);
        put("receipt", "body-rejected", body, body_len);
}

static void gen_keyfiles(void)
{
        const struct fuzz_keys *k = fuzz_keys();
        char *text, *p;

        must(keys_format_public(&k->hub.pub, &text), "format");
        put_text("keyfile", "hub.pub", text);
        /* A changed key no longer matches the fingerprint line. */
        p = strstr(text, "payload-public: ");
        if (p)
                p[16] = p[16] == 'A' ? 'B' : 'A';
        put_text("keyfile", "hub-fingerprint-mismatch.pub", text);
        put("keyfile", "hub-truncated.pub", text, strlen(text) / 2);
        free(text);
        must(keys_format_public(&k->member.pub, &text), "format");
        put_text("keyfile", "member.pub", text);
        free(text);
}

/* A secret key file (keys_parse_public() takes its public half too). These
 * fixed keys guard nothing: they exist only for the fuzz targets. */
static void gen_secret_keyfile(void)
{
        char dir[] = "/tmp/nmo-gen-corpus-XXXXXX", path[4096], *text = NULL;
        size_t len = 0;

        if (!mkdtemp(dir))
                must(-errno, "mkdtemp");
        snprintf(path, sizeof(path), "%s/member.key", dir);
        must(keys_save_secret(&fuzz_keys()->member, path), "keys_save_secret");
        must(util_read_file(path, KEYS_FILE_MAX, &text, &len), "read member.key");
        put("keyfile", "member.key", text, len);
        free(text);
        (void)remove(path);
        (void)remove(dir);
}

static void gen_hub_configs(void)
{
        struct hub_config cfg;
        char dir[] = "/tmp/nmo-gen-corpus-XXXXXX", path[4096], *text = NULL;
        size_t len = 0;

        hub_config_defaults(&cfg);
        snprintf(cfg.listen, sizeof(cfg.listen), "tcp://0.0.0.0:7750");
        if (!mkdtemp(dir))
                must(-errno, "mkdtemp");
        must(hub_config_write(&cfg, dir), "hub_config_write");
        snprintf(path, sizeof(path), "%s/hub.conf", dir);
        must(util_read_file(path, HUB_CONF_MAX, &text, &len), "read hub.conf");
        put("hub-config", "default.conf", text, len);
        free(text);
        (void)remove(path);
        (void)remove(dir);
        put_text("hub-config", "small.conf",
                 "[hub]\nlisten = tcp://127.0.0.1:7750\n[limits]\nbatch = 64\n"
                 "[privacy]\nmin_reporters = 5\n[alerts]\nlisten = tcp://*:7751\n");
        put_text("hub-config", "min-reporters-2.conf", "[privacy]\nmin_reporters = 2\n");
        put_text("hub-config", "unknown-key.conf", "[limits]\nspeed = 9\n");
        put_text("hub-config", "bad-endpoint.conf", "[hub]\nlisten = udp://x\n");
        put_text("hub-config", "syntax.conf", "[limits\nqueue 5\n");
}

static void gen_node_configs(void)
{
        struct node_config cfg;
        char *text;

        node_config_defaults(&cfg);
        snprintf(cfg.hub_endpoint, sizeof(cfg.hub_endpoint), "tcp://hub.example.nl:7750");
        must(node_config_format(&cfg, &text), "format");
        put_text("node-config", "default.conf", text);
        free(text);
        snprintf(cfg.alerts_endpoint, sizeof(cfg.alerts_endpoint), "tcp://[::1]:7751");
        must(node_config_format(&cfg, &text), "format");
        put_text("node-config", "ipv6-alerts.conf", text);
        free(text);
        snprintf(cfg.metrics_listen, sizeof(cfg.metrics_listen), "[::1]:9751");
        must(node_config_format(&cfg, &text), "format");
        put_text("node-config", "metrics.conf", text);
        free(text);
        put_text("node-config", "bad-metrics.conf",
                 "[hub]\nendpoint = tcp://a:1\n[metrics]\nlisten = localhost:9751\n");
        put_text("node-config", "minimal.conf", "[hub]\nendpoint = tcp://10.0.0.1:65535\n");
        put_text("node-config", "twice.conf",
                 "[hub]\nendpoint = tcp://a:1\n  endpoint = tcp://b:2\n");
        put_text("node-config", "same-port.conf",
                 "[hub]\nendpoint = tcp://a:1\nalerts = tcp://a:1\n");
        put_text("node-config", "retry.conf", "[hub]\nendpoint = tcp://a:1\n[delivery]\n"
                 "retry_min_ms = 500\nretry_max_ms = 100\n");
        put_text("node-config", "no-hub.conf", "[delivery]\nwindow = 2000\n");
}

static void gen_jsonl(void)
{
        put_text("jsonl", "two-lines.jsonl",
                 "{\"material\": \"gallium\", \"event\": \"export-licensing\", \"severity\": "
                 "\"high\", \"country\": \"CN\", \"status\": \"in-effect\", \"share\": \"25-50\", "
                 "\"volume\": 30, \"start-date\": \"2026-11-18\"}\n"
                 "{\"material\": \"nickel\", \"event\": \"plant-outage\", \"severity\": "
                 "\"medium\", \"country\": \"ID\", \"duration-days\": 30, \"note\": \"kiln "
                 "down\", \"note-consent\": \"note-may-be-shared\"}\n");
        put_text("jsonl", "crlf-blank.jsonl",
                 "\r\n{\"material\": \"tungsten\", \"event\": \"export-ban\", \"severity\": "
                 "\"critical\", \"country\": \"CN\"}\r\n\n");
        put_text("jsonl", "bad-lines.jsonl",
                 "{\"material\": \"gallium\"}\n[1, 2]\n{\"volume\": -1}\n{\"x\": 1}\nnot json\n"
                 "{\"material\": \"gallium\", \"event\": \"export-ban\", \"severity\": \"low\", "
                 "\"country\": \"cn\"}\n");
        put_text("jsonl", "nested.jsonl", "{\"note\": {\"a\": [[[[1]]]]}}\n");
}

static void put_alert(const char *name, const Nmo__AlertBody *b)
{
        uint8_t *sa, body[ALERT_MAX];
        char bname[128];
        size_t len;

        must(alert_sign(b, fuzz_keys()->hub.sign_sk, &sa, &len), "alert_sign");
        put("alert", name, sa, len);
        free(sa);
        /* The bare AlertBody: the target also signs its input itself. */
        len = nmo__alert_body__pack(b, body);
        snprintf(bname, sizeof(bname), "body-%s", name);
        put("alert", bname, body, len);
}

static void gen_alerts(void)
{
        Nmo__AlertBody b = NMO__ALERT_BODY__INIT;

        b.has_version = 1;
        b.version = 1;
        b.id = "00112233445566778899aabbccddeeff";
        b.has_revision = 1;
        b.revision = 1;
        b.rule = "surge";
        b.material = "gallium";
        b.event = "export-licensing";
        b.level = "critical";
        b.period = "2026-W48";
        b.window_start = "2026-W40";
        b.window_end = "2026-W48";
        b.issued = "2026-11-27";
        b.summary = "Gallium export licensing reports rose above their baseline.";
        b.has_reporters = 1;
        b.reporters = 4;
        b.has_reports = 1;
        b.reports = 11;
        b.has_baseline = 1;
        b.baseline = 2.5;
        put_alert("surge", &b);
        b.revision = 0;
        put_alert("revision-0", &b);
        b.revision = 2;
        b.summary = "two\nlines";
        put_alert("two-lines", &b);
        b.summary = "ok";
        b.id = "0011";
        put_alert("short-id", &b);
}

/* Hub key announcements signed with the fuzz hub key as both the old and
 * the new key (so that both signatures verify in the target), its body, and
 * a Reply carrying one. */
static void gen_announcements(void)
{
        const struct fuzz_keys *k = fuzz_keys();
        struct hubkey_announcement a;
        uint8_t *ann = NULL, *sr = NULL, *frame = NULL;
        size_t len = 0, srlen = 0, flen = 0;
        Nmo__SignedHubKeyAnnouncement *sa;
        struct receipt r;

        memset(&a, 0, sizeof(a));
        memcpy(a.old_payload, k->hub.pub.payload, KEYS_KEY_BYTES);
        memcpy(a.old_sign, k->hub.pub.sign, KEYS_KEY_BYTES);
        memcpy(a.new_transport, k->hub.pub.transport, KEYS_KEY_BYTES);
        memcpy(a.new_payload, k->member.pub.payload, KEYS_KEY_BYTES);
        memcpy(a.new_sign, k->hub.pub.sign, KEYS_KEY_BYTES);
        a.created_ms = 1735689600000u;
        a.overlap_until_ms = 1738281600000u;
        must(hubkey_sign(&a, k->hub.sign_sk, k->hub.sign_sk, &ann, &len), "hubkey_sign");
        put("announcement", "signed", ann, len);
        sa = nmo__signed_hub_key_announcement__unpack(NULL, len, ann);
        if (!sa)
                must(-EBADMSG, "unpack");
        put("announcement", "body", sa->body.data, sa->body.len);
        nmo__signed_hub_key_announcement__free_unpacked(sa, NULL);
        memset(&r, 0, sizeof(r));
        r.status = NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED;
        must(receipt_sign(&r, k->hub.sign_sk, &sr, &srlen), "receipt_sign");
        must(hubkey_reply_pack(false, sr, srlen, ann, len, &frame, &flen), "hubkey_reply_pack");
        put("announcement", "reply", frame, flen);
        free(frame);
        free(sr);
        free(ann);
}

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: gen-corpus DIR   (tests/fuzz/corpus)\n");
                return 2;
        }
        root = argv[1];
        (void)fuzz_keys();
        gen_envelopes();
        gen_rotations();
        gen_signals();
        gen_receipts();
        gen_keyfiles();
        gen_secret_keyfile();
        gen_hub_configs();
        gen_node_configs();
        gen_jsonl();
        gen_alerts();
        gen_announcements();
        return 0;
}
