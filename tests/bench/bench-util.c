/* bench-util.c: see bench-util.h. */
#include "bench-util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "envelope.pb-c.h"
#include "receipt.h"
#include "vocab.h"

/* An envelope is its plaintext plus 109 bytes: version (2), signal_id (18),
 * sender (34), hub_key_id (10), nonce (26) and the box's tag, 2-byte length
 * and MAC (19), for boxes of 128 to 16383 bytes. */
#define ENVELOPE_OVERHEAD 109
/* The note field: a 2-byte tag (field 17) and a 1-byte length below 128. */
#define NOTE_OVERHEAD 3

double bench_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_sleep(double seconds)
{
        struct timespec ts;

        if (seconds <= 0)
                return;
        ts.tv_sec = (time_t)seconds;
        ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int bench_parse_seconds(const char *s, double min, double max, double *out)
{
        char *end = NULL;
        double v;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno || !end || *end != '\0' || !isfinite(v))
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *out = v;
        return 0;
}

int bench_usage(const char *program, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "%s: ", program);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry '%s --help'.\n", program);
        return BENCH_EXIT_USAGE;
}

long bench_raise_nofile(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        return rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
}

int bench_read_seed(const char *path, uint8_t seed[BENCH_SEED_BYTES])
{
        FILE *f = fopen(path, "rbe");
        size_t n;

        if (!f)
                return -errno;
        n = fread(seed, 1, BENCH_SEED_BYTES, f);
        fclose(f);
        return n == BENCH_SEED_BYTES ? 0 : -EINVAL;
}

/* One 32-byte seed per (member, purpose): keyed BLAKE2b over both. */
static void derive_seed(const uint8_t seed[BENCH_SEED_BYTES], uint32_t index, uint8_t purpose,
                        uint8_t out[crypto_box_SEEDBYTES])
{
        uint8_t msg[5] = { (uint8_t)(index >> 24), (uint8_t)(index >> 16), (uint8_t)(index >> 8),
                           (uint8_t)index, purpose };

        crypto_generichash(out, crypto_box_SEEDBYTES, msg, sizeof(msg), seed, BENCH_SEED_BYTES);
}

int bench_member_derive(struct keys_secret **ret, const uint8_t seed[BENCH_SEED_BYTES],
                        uint32_t index)
{
        struct keys_secret *sk = sodium_malloc(sizeof(*sk));
        uint8_t s[crypto_box_SEEDBYTES];
        int r = -EINVAL;

        if (!sk)
                return -ENOMEM;
        sodium_memzero(sk, sizeof(*sk));
        sk->pub.role = KEYS_ROLE_MEMBER;
        snprintf(sk->pub.name, sizeof(sk->pub.name), "bench-%05u", index);
        derive_seed(seed, index, 1, s);
        if (crypto_box_seed_keypair(sk->pub.transport, sk->transport_sk, s) != 0)
                goto fail;
        derive_seed(seed, index, 2, s);
        if (crypto_box_seed_keypair(sk->pub.payload, sk->payload_sk, s) != 0)
                goto fail;
        sodium_memzero(s, sizeof(s));
        *ret = sk;
        return 0;
fail:
        sodium_memzero(s, sizeof(s));
        keys_free(sk);
        return r;
}

int bench_signal(const struct bench_sealer *sl, uint32_t member, uint64_t k, struct signal *s)
{
        static const uint32_t mat_step[4] = { 0, 7, 13, 23 }, ev_step[4] = { 0, 1, 3, 5 };
        static const char filler[] = "benchmark note: supply disruption reported by a simulated "
                                     "member node, padded to the envelope size of the run. ";
        uint8_t *plain = NULL;
        size_t plain0 = 0, want, n;
        char err[128];
        int r;

        signal_init(s);
        snprintf(s->material, sizeof(s->material), "%s",
                 vocab_materials[(member + mat_step[k % 4]) % vocab_materials_count].id);
        snprintf(s->event, sizeof(s->event), "%s",
                 vocab_events[(member / 2 + ev_step[(k / 4) % 4]) % vocab_events_count].id);
        snprintf(s->country, sizeof(s->country), "%s",
                 vocab_countries[(member / 5 + 3 * ((k / 16) % 2)) % vocab_countries_count].id);
        s->severity = (Nmo__Severity)(1 + k % 4);
        s->status = NMO__EVENT_STATUS__EVENT_STATUS_IN_EFFECT;
        s->stage = NMO__STAGE__STAGE_PROCESSING;
        snprintf(s->start_date, sizeof(s->start_date), "2026-01-15");
        s->duration_days = 30;
        s->impact = NMO__IMPACT__IMPACT_POTENTIAL;
        s->share = (Nmo__Share)2; /* "10-25" */
        s->volume_t = 1200;
        s->confidence = NMO__CONFIDENCE__CONFIDENCE_MEDIUM;
        s->source = NMO__SOURCE__SOURCE_SUPPLIER_NOTICE;
        r = signal_pack(s, &plain, &plain0);
        free(plain);
        if (r < 0)
                return r;
        want = sl->target > ENVELOPE_OVERHEAD + plain0 + NOTE_OVERHEAD
                       ? sl->target - ENVELOPE_OVERHEAD - plain0 - NOTE_OVERHEAD : 0;
        if (want >= 128)
                want--; /* the length takes 2 bytes from 128 on */
        n = 0;
        while (n < want && n < SIGNAL_NOTE_MAX) {
                size_t chunk = sizeof(filler) - 1;

                if (chunk > want - n)
                        chunk = want - n;
                memcpy(s->note + n, filler, chunk);
                n += chunk;
        }
        s->note[n] = '\0';
        return signal_validate(s, err, sizeof(err));
}

int bench_seal(const struct bench_sealer *sl, const struct signal *s, const uint8_t *nonce,
               uint8_t **frame, size_t *len)
{
        Nmo__Envelope e = NMO__ENVELOPE__INIT;
        uint8_t n[ENVELOPE_NONCE_BYTES];
        uint8_t *plain = NULL, *box = NULL, *out = NULL;
        size_t plain_len = 0, out_len;
        int r;

        r = signal_pack(s, &plain, &plain_len);
        if (r < 0)
                return r;
        box = malloc(plain_len + crypto_box_MACBYTES);
        if (!box) {
                r = -ENOMEM;
                goto out;
        }
        if (nonce)
                memcpy(n, nonce, sizeof(n));
        else
                randombytes_buf(n, sizeof(n));
        if (crypto_box_easy_afternm(box, plain, plain_len, n, sl->key) != 0) {
                r = -EINVAL;
                goto out;
        }
        e.has_version = 1;
        e.version = 1;
        e.has_signal_id = 1;
        e.signal_id.data = (uint8_t *)s->id;
        e.signal_id.len = SIGNAL_ID_BYTES;
        e.has_sender = 1;
        e.sender.data = (uint8_t *)sl->member->pub.payload;
        e.sender.len = KEYS_KEY_BYTES;
        e.has_hub_key_id = 1;
        e.hub_key_id.data = (uint8_t *)sl->key_id;
        e.hub_key_id.len = ENVELOPE_KEY_ID_BYTES;
        e.has_nonce = 1;
        e.nonce.data = n;
        e.nonce.len = sizeof(n);
        e.has_box = 1;
        e.box.data = box;
        e.box.len = plain_len + crypto_box_MACBYTES;
        out_len = nmo__envelope__get_packed_size(&e);
        if (out_len > ENVELOPE_MAX) {
                r = -E2BIG;
                goto out;
        }
        out = malloc(out_len);
        if (!out) {
                r = -ENOMEM;
                goto out;
        }
        *len = nmo__envelope__pack(&e, out);
        *frame = out;
        r = 0;
out:
        if (plain) {
                sodium_memzero(plain, plain_len);
                free(plain);
        }
        free(box);
        return r;
}

int bench_sealer_init(struct bench_sealer *sl, const struct keys_secret *member,
                      const uint8_t hub_payload[KEYS_KEY_BYTES], size_t target)
{
        uint8_t nonce[ENVELOPE_NONCE_BYTES];
        uint8_t *a = NULL, *b = NULL;
        size_t alen = 0, blen = 0;
        struct signal s;
        int r;

        memset(sl, 0, sizeof(*sl));
        sl->member = member;
        sl->target = target;
        memcpy(sl->hub_payload, hub_payload, KEYS_KEY_BYTES);
        envelope_key_id(hub_payload, sl->key_id);
        if (crypto_box_beforenm(sl->key, hub_payload, member->payload_sk) != 0)
                return -EINVAL;
        /* The shortcut must not change a single byte of what goes on the wire. */
        randombytes_buf(nonce, sizeof(nonce));
        r = bench_signal(sl, 0, 0, &s);
        if (r == 0)
                r = bench_seal(sl, &s, nonce, &a, &alen);
        if (r == 0)
                r = envelope_seal(&s, member, hub_payload, nonce, &b, &blen);
        if (r == 0 && (alen != blen || memcmp(a, b, alen) != 0))
                r = -EPROTO;
        free(a);
        free(b);
        sodium_memzero(&s, sizeof(s));
        return r;
}

void bench_sealer_wipe(struct bench_sealer *sl)
{
        sodium_memzero(sl->key, sizeof(sl->key));
}

int bench_reply_id(const uint8_t *frame, size_t len, uint8_t id[SIGNAL_ID_BYTES])
{
        Nmo__Reply *rp = NULL;
        Nmo__ReceiptBody *b = NULL;
        int r = -EBADMSG;

        if (len > RECEIPT_MAX)
                return -EBADMSG;
        rp = nmo__reply__unpack(NULL, len, frame);
        if (!rp || !rp->receipt || !rp->receipt->has_body)
                goto out;
        b = nmo__receipt_body__unpack(NULL, rp->receipt->body.len, rp->receipt->body.data);
        if (!b || !b->has_signal_id || b->signal_id.len != SIGNAL_ID_BYTES)
                goto out;
        memcpy(id, b->signal_id.data, SIGNAL_ID_BYTES);
        r = 0;
out:
        if (b)
                nmo__receipt_body__free_unpacked(b, NULL);
        if (rp)
                nmo__reply__free_unpacked(rp, NULL);
        return r;
}

enum bench_check bench_check_reply(const uint8_t *reply, size_t reply_len, const uint8_t *frame,
                                   size_t frame_len, const uint8_t sign_pk[KEYS_KEY_BYTES],
                                   const uint8_t member_payload[KEYS_KEY_BYTES],
                                   struct receipt_cache *cache, int *reason)
{
        uint8_t *signed_receipt = NULL, hash[ENVELOPE_HASH_BYTES], id[SIGNAL_ID_BYTES];
        size_t signed_len = 0;
        struct receipt r;
        bool duplicate = false;
        enum bench_check c = BENCH_CHECK_BAD;

        *reason = 0;
        if (reply_unpack(reply, reply_len, &duplicate, &signed_receipt, &signed_len) < 0)
                return BENCH_CHECK_BAD;
        if (receipt_verify_cached(signed_receipt, signed_len, sign_pk, cache, &r) < 0)
                goto out;
        envelope_hash(frame, frame_len, hash);
        if (!envelope_peek_id(frame, frame_len, id) || !r.has_id ||
            memcmp(r.signal_id, id, SIGNAL_ID_BYTES) != 0 ||
            memcmp(r.member_key, member_payload, KEYS_KEY_BYTES) != 0 ||
            memcmp(r.envelope_hash, hash, ENVELOPE_HASH_BYTES) != 0)
                goto out;
        if (r.status == NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED)
                c = duplicate ? BENCH_CHECK_DUPLICATE : BENCH_CHECK_ACCEPTED;
        else {
                c = BENCH_CHECK_REJECTED;
                *reason = (int)r.reason;
        }
out:
        free(signed_receipt);
        return c;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

void bench_sort(double *v, size_t n)
{
        if (n > 1)
                qsort(v, n, sizeof(*v), cmp_double);
}

double bench_quantile(const double *sorted, size_t n, double p)
{
        size_t rank;

        if (n == 0)
                return 0;
        rank = (size_t)ceil(p * (double)n);
        if (rank < 1)
                rank = 1;
        if (rank > n)
                rank = n;
        return sorted[rank - 1];
}

long bench_status_kib(pid_t pid, const char *field)
{
        char path[64], line[256];
        size_t flen = strlen(field);
        long v = -1;
        FILE *f;

        if (pid > 0)
                snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        else
                snprintf(path, sizeof(path), "/proc/self/status");
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f)) {
                char *end = NULL;
                long x;

                if (strncmp(line, field, flen) != 0 || line[flen] != ':')
                        continue;
                errno = 0;
                x = strtol(line + flen + 1, &end, 10);
                if (!errno && end != line + flen + 1)
                        v = x;
                break;
        }
        fclose(f);
        return v;
}

double bench_cpu_seconds(pid_t pid)
{
        char path[64], buf[1024], *p, *end;
        unsigned long long ticks = 0;
        long hz = sysconf(_SC_CLK_TCK);
        struct rusage ru;
        ssize_t n;
        int fd;

        if (pid == 0) {
                if (getrusage(RUSAGE_SELF, &ru) < 0)
                        return -1;
                return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        }
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0 || hz <= 0)
                return -1;
        buf[n] = '\0';
        /* The command name may hold spaces and parentheses: fields count
         * from the last ')'. utime and stime are fields 14 and 15. */
        p = strrchr(buf, ')');
        for (int field = 2; p && field < 14; field++)
                p = strchr(p + 1, ' ');
        for (int i = 0; p && i < 2; i++) {
                errno = 0;
                ticks += strtoull(p + 1, &end, 10);
                if (errno || end == p + 1)
                        return -1;
                p = end;
        }
        return p ? (double)ticks / (double)hz : -1;
}

void bench_print_json(json_object *o)
{
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
        fflush(stdout);
        json_object_put(o);
}

void bench_json_double(json_object *o, const char *key, double v)
{
        json_object_object_add(o, key, json_object_new_double(isfinite(v) ? v : 0.0));
}

void bench_json_int(json_object *o, const char *key, int64_t v)
{
        json_object_object_add(o, key, json_object_new_int64(v));
}

void bench_json_string(json_object *o, const char *key, const char *v)
{
        json_object_object_add(o, key, json_object_new_string(v));
}
