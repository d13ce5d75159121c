/* format.h: the output forms of nmo-analyst: aligned tables for people,
 * RFC 4180 CSV and JSON for scripts, and the terminal sanitiser.
 *
 * Everything read from the store is untrusted on the way out: table fields
 * and lines go through format_term_safe, so member text cannot drive a
 * terminal; CSV fields that a spreadsheet would run as a formula are
 * quoted with a leading apostrophe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <json-c/json.h>

#include "util.h"

/* A copy of s (NULL: "") that cannot drive a terminal: tabs and newlines
 * become spaces, other control characters (C0, DEL, C1) and bytes that are
 * not UTF-8 become visible escapes (\xNN, \uNNNN). The caller frees it; NULL
 * on allocation failure. */
char *format_term_safe(const char *s);

/* Columns a UTF-8 string takes (one per code point; good for what we print). */
size_t format_text_width(const char *s);

/* Does the locale (LC_ALL, LC_CTYPE, LANG: the first one set) use UTF-8? */
bool format_utf8_locale(void);

/* An aligned table: a header row, rows of terminal-safe fields, and lines
 * printed under a row (notes). */
struct format_table {
        size_t ncols;
        const char *const *head;
        const char *align;  /* 'l' or 'r' per column */
        char **field;       /* rows x ncols, terminal-safe, owned; NULL prints empty */
        char **extra;       /* per row: lines printed under it, owned, or NULL */
        size_t rows, cap;
};

/* Starts an empty table of ncols columns; head and align (one 'l' or 'r' per
 * column) are the caller's and must outlive it. */
void format_table_init(struct format_table *t, const char *const *head, const char *align,
                       size_t ncols);
/* Frees what the table owns; it can be initialised again. */
void format_table_free(struct format_table *t);
/* Appends an empty row. 0 or -ENOMEM. */
NMO_WUR int format_table_row(struct format_table *t);
/* Sets column col of the last row to the formatted text, made terminal-safe.
 * 0 or -ENOMEM. */
__attribute__((format(printf, 3, 4))) NMO_WUR int format_table_set(struct format_table *t,
                                                                   size_t col,
                                                                   const char *fmt, ...);
/* Adds lines under the last row: prefix, then text (terminal-safe); every
 * further line of a multi-line text is indented to line up with the first.
 * 0 or -ENOMEM. */
NMO_WUR int format_table_extra(struct format_table *t, const char *prefix, const char *text);
/* Prints the table to f, columns two spaces apart, without trailing blanks.
 * 0 or -ENOMEM. */
NMO_WUR int format_table_print(const struct format_table *t, FILE *f);

/* Writes one CSV field (preceded by a comma unless first); NULL writes an
 * empty field. */
void format_csv_field(FILE *f, const char *s, bool first);
/* Writes ",v". */
void format_csv_u64(FILE *f, uint64_t v);
/* Writes the n names as fields (no line end). */
void format_csv_header(FILE *f, const char *const *names, size_t n);

/* A JSON string of s, or NULL (JSON null) when s is NULL or empty. */
json_object *format_json_str_or_null(const char *s);
/* Prints o pretty to stdout, with a newline. 0 or -ENOMEM. */
NMO_WUR int format_print_json(json_object *o);
/* Prints n items of size bytes as one JSON array, each made by to_json (which
 * returns a new object, or NULL for out of memory). 0 or -ENOMEM. */
NMO_WUR int format_print_json_array(const void *items, size_t n, size_t size,
                                    json_object *(*to_json)(const void *item));
