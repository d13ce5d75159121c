/* jsonl.h: signals from JSON Lines, the input of `nmo-node submit --file`.
 *
 * One JSON object per line; its keys are the signal field names of
 * signal_fields[] (proto/signal.h), its values strings (whole numbers are also
 * accepted for duration-days and volume). Blank lines are skipped. Lines longer
 * than JSONL_LINE_MAX bytes and input of more than JSONL_LINES_MAX lines are
 * refused. Every bad line is reported with its number, so a whole file can be
 * fixed in one go. */
#pragma once

#include <stddef.h>
#include <stdio.h>

#include "util.h"
#include "signal.h"

#define JSONL_LINE_MAX 8192
#define JSONL_LINES_MAX 100000

/* Called with each good line's signal (initialised, set and validated). The
 * signal belongs to the parser and is wiped after the call. Return 0 to go on,
 * a negative errno to stop parsing with that result. */
typedef int (*jsonl_signal_fn)(void *userdata, size_t line, const struct signal *s);

/* Called once per bad line with a one-line message (no file name). */
typedef void (*jsonl_error_fn)(void *userdata, size_t line, const char *message);

struct jsonl_callbacks {
        jsonl_signal_fn on_signal;
        jsonl_error_fn on_error;
        void *userdata;
};

/* Parses one line (len bytes, no newline, need not be NUL terminated) into s.
 * Returns 0, or -EINVAL with the reason in err. */
NMO_WUR int jsonl_parse_line(const char *line, size_t len, struct signal *s, char *err,
                             size_t errlen);

/* Parses a whole buffer of JSON Lines. Returns 0 when every line was good,
 * -EINVAL when at least one was reported bad (including too many lines), or
 * what on_signal returned. *count (may be NULL) receives the good lines. */
NMO_WUR int jsonl_parse(const char *buf, size_t len, const struct jsonl_callbacks *cb,
                        size_t *count);

/* The same, reading f to its end in bounded memory (a line is never held
 * beyond JSONL_LINE_MAX bytes). Read errors return -EIO. */
NMO_WUR int jsonl_parse_file(FILE *f, const struct jsonl_callbacks *cb, size_t *count);
