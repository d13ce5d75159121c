/* bench-util.h: what the benchmark programs share: clocks, strict option
 * parsing, member keys derived from one seed (so the enrolling step and the
 * load generators agree on thousands of members without key files), signals
 * of a fixed envelope size, a sealer that uses the member's precomputed key
 * (checked byte for byte against envelope_seal), the cheap reply look-up the
 * load generators do before they verify, percentiles and /proc readings.
 *
 * Nothing here is used by the hub or the node; the programs are measuring
 * tools that drive the real ones. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <json-c/json.h>
#include <sodium.h>

#include "envelope.h"
#include "keys.h"
#include "receipt.h"
#include "signal.h"

/* Envelope frame size the benchmark sends: "300-byte signals". */
#define BENCH_ENVELOPE_BYTES 300
#define BENCH_SEED_BYTES 32

/* Exit codes, as the project's tools: 0 ok, 1 failure, 2 usage. */
enum {
        BENCH_EXIT_OK = 0,
        BENCH_EXIT_FAIL = 1,
        BENCH_EXIT_USAGE = 2,
};

/* Monotonic time in seconds. */
double bench_now(void);

/* Sleeps for seconds (>= 0), resuming after signals. */
void bench_sleep(double seconds);

/* Parses a decimal number of seconds ("2", "0.5") within [min, max]. */
NMO_WUR int bench_parse_seconds(const char *s, double min, double max, double *out);

/* Prints "PROGRAM: message" and the hint to stderr; returns BENCH_EXIT_USAGE. */
int bench_usage(const char *program, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Raises the soft limit on open files to the hard limit; returns the new soft
 * limit, or a negative errno. */
NMO_WUR long bench_raise_nofile(void);

/* Reads the 32-byte seed of file path (at least 32 bytes, the first used). */
NMO_WUR int bench_read_seed(const char *path, uint8_t seed[BENCH_SEED_BYTES]);

/* Derives member index's transport and payload key pairs from seed, named
 * "bench-NNNNN". *ret lives in sodium_malloc() memory; free with keys_free(). */
NMO_WUR int bench_member_derive(struct keys_secret **ret, const uint8_t seed[BENCH_SEED_BYTES],
                                uint32_t index);

/* Seals signals of one member for the hub, all BENCH_ENVELOPE_BYTES long. */
struct bench_sealer {
        const struct keys_secret *member;          /* borrowed */
        uint8_t hub_payload[KEYS_KEY_BYTES];
        uint8_t key[crypto_box_BEFORENMBYTES];     /* crypto_box_beforenm(hub pk, member sk) */
        uint8_t key_id[ENVELOPE_KEY_ID_BYTES];
        size_t target;                             /* frame bytes */
};

/* Precomputes the shared key and checks that bench_seal() makes exactly the
 * bytes envelope_seal() makes for the same signal and nonce (-EPROTO if not). */
NMO_WUR int bench_sealer_init(struct bench_sealer *sl, const struct keys_secret *member,
                              const uint8_t hub_payload[KEYS_KEY_BYTES], size_t target);

/* Wipes the shared key. */
void bench_sealer_wipe(struct bench_sealer *sl);

/* Fills s with signal number k of simulated member number member, a fresh id,
 * the current time and a note sized so that its envelope is sl->target bytes.
 * Like a real company, each member reports on a profile of its own: 4
 * materials, 4 event types and 2 origin countries (32 combinations), spread
 * over the vocabularies so that members overlap and cells reach the
 * disclosure threshold; severities rotate. */
NMO_WUR int bench_signal(const struct bench_sealer *sl, uint32_t member, uint64_t k,
                         struct signal *s);

/* Seals s into a fresh frame (free()) as envelope_seal() would, but with the
 * precomputed key. nonce NULL: random. */
NMO_WUR int bench_seal(const struct bench_sealer *sl, const struct signal *s, const uint8_t *nonce,
                       uint8_t **frame, size_t *len);

/* Reads the signal id of a Reply frame without checking the signature (the
 * load generators match replies to frames when they arrive and verify every
 * receipt afterwards). Returns 0, or -EBADMSG. */
NMO_WUR int bench_reply_id(const uint8_t *frame, size_t len, uint8_t id[SIGNAL_ID_BYTES]);

/* Outcome of checking one reply as a node must (PROTOCOL.md 8.2). */
enum bench_check {
        BENCH_CHECK_ACCEPTED = 0,
        BENCH_CHECK_DUPLICATE = 1,
        BENCH_CHECK_REJECTED = 2,   /* valid, signed refusal */
        BENCH_CHECK_BAD = 3,        /* does not verify, or not for this frame/member */
};

/* Verifies a Reply frame with receipt_verify_cached() and checks that it answers
 * frame for member_payload. *reason gets the refusal reason. */
enum bench_check bench_check_reply(const uint8_t *reply, size_t reply_len, const uint8_t *frame,
                                   size_t frame_len, const uint8_t sign_pk[KEYS_KEY_BYTES],
                                   const uint8_t member_payload[KEYS_KEY_BYTES],
                                   struct receipt_cache *cache, int *reason);

/* The p-quantile (0..1) of n sorted values (nearest rank); 0 when n is 0. */
double bench_quantile(const double *sorted, size_t n, double p);

/* Sorts n doubles ascending. */
void bench_sort(double *v, size_t n);

/* A "kB" field of /proc/PID/status (VmRSS, VmHWM, RssAnon, RssFile); -1 when
 * unreadable. pid 0: this process. */
long bench_status_kib(pid_t pid, const char *field);

/* CPU seconds (user + system, all threads) used so far by process pid, read
 * from /proc/PID/stat; pid 0: this process, with getrusage(). -1 when
 * unreadable. The load generators print their own CPU per message with it,
 * and the server's when given its pid. */
double bench_cpu_seconds(pid_t pid);

/* Prints o as one line of JSON on stdout and drops the reference. */
void bench_print_json(json_object *o);

/* json-c helpers that take ownership of nothing but the new value. */
void bench_json_double(json_object *o, const char *key, double v);
void bench_json_int(json_object *o, const char *key, int64_t v);
void bench_json_string(json_object *o, const char *key, const char *v);
