/* util.h: small helpers shared by every part of nmo-signal: strict number
 * parsing, clocks, hex, files written atomically, and directory set-up.
 *
 * Error convention (the whole project): functions return 0 or a negative errno. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define NMO_WUR __attribute__((warn_unused_result))
#define NMO_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Parses a whole decimal string into *out, within [min, max]. Leading or
 * trailing junk, signs and overflow are refused with -EINVAL or -ERANGE. */
NMO_WUR int util_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
NMO_WUR int util_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);

/* Wall-clock milliseconds since the Unix epoch, and monotonic milliseconds. */
uint64_t util_now_ms(void);
uint64_t util_mono_ms(void);

/* Formats ms since the epoch as "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes). */
void util_format_time(uint64_t ms, char *buf, size_t len);

/* Lower-case hex of len bytes into out, which must hold 2*len+1 bytes. */
void util_hex(const uint8_t *in, size_t len, char *out);
/* Parses exactly 2*len hex digits into out. Returns -EINVAL otherwise. */
NMO_WUR int util_unhex(const char *in, uint8_t *out, size_t len);

/* Creates dir (and its parents) with mode; an existing directory is fine. */
NMO_WUR int util_mkdir_p(const char *dir, unsigned int mode);

/* Writes len bytes to path through a temporary file, fsync and rename, with
 * mode. With exclusive, an existing path is refused with -EEXIST. */
NMO_WUR int util_write_file(const char *path, const void *data, size_t len,
                            unsigned int mode, bool exclusive);

/* Reads a whole regular file of at most max bytes into a fresh buffer (NUL
 * terminated, not counted in *len). The caller frees it. -EFBIG when larger. */
NMO_WUR int util_read_file(const char *path, size_t max, char **data, size_t *len);

/* Formats a one-line error message into err (errlen bytes); err may be NULL. */
void util_set_err(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Joins dir and name into a fresh string; NULL on allocation failure. */
char *util_path(const char *dir, const char *name);

/* Milliseconds to wait for retry number attempt (1-based): exponential from
 * base_ms up to max_ms, with full jitter in the upper half. */
uint64_t util_backoff_ms(unsigned int attempt, uint64_t base_ms, uint64_t max_ms);

/* Is s valid UTF-8 with no control characters other than tab and newline? */
bool util_text_ok(const char *s, size_t len);
