/* format.c: see format.h. */
#include "format.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- text for terminals ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left) and its code point;
 * 0 when the bytes are not valid UTF-8. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
        uint32_t c;
        size_t len;

        if (s[0] < 0x80) {
                *cp = s[0];
                return 1;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                len = 2;
                c = s[0] & 0x1f;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                len = 3;
                c = s[0] & 0x0f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                len = 4;
                c = s[0] & 0x07;
        } else {
                return 0;
        }
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = c << 6 | (s[i] & 0x3f);
        }
        if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
            (len == 4 && (c < 0x10000 || c > 0x10ffff)))
                return 0;
        *cp = c;
        return len;
}

/* A copy of s that cannot drive a terminal: tabs and newlines become spaces,
 * other control characters (C0, DEL, C1) and bytes that are not UTF-8 become
 * visible escapes. NULL on allocation failure. */
char *format_term_safe(const char *s)
{
        const unsigned char *in = (const unsigned char *)(s ? s : "");
        size_t n = strlen((const char *)in), o = 0;
        char *out = malloc(n * 4 + 1); /* an escape is at most 4 bytes per input byte */

        if (!out)
                return NULL;
        for (size_t i = 0; i < n;) {
                uint32_t cp;
                size_t len = utf8_next(in + i, n - i, &cp);

                if (len == 0) {
                        o += (size_t)sprintf(out + o, "\\x%02x", in[i]);
                        i++;
                } else if (cp == '\t' || cp == '\n') {
                        out[o++] = ' ';
                        i++;
                } else if (cp < 0x20 || cp == 0x7f) {
                        o += (size_t)sprintf(out + o, "\\x%02x", (unsigned int)cp);
                        i++;
                } else if (cp >= 0x80 && cp <= 0x9f) {
                        o += (size_t)sprintf(out + o, "\\u%04x", (unsigned int)cp);
                        i += len;
                } else {
                        memcpy(out + o, in + i, len);
                        o += len;
                        i += len;
                }
        }
        out[o] = 0;
        return out;
}

/* Columns a UTF-8 string takes (one per code point; good for what we print). */
size_t format_text_width(const char *s)
{
        size_t w = 0;

        for (; s && *s; s++)
                if (((unsigned char)*s & 0xc0) != 0x80)
                        w++;
        return w;
}

/* Does the locale (LC_ALL, LC_CTYPE, LANG: the first one set) use UTF-8? */
bool format_utf8_locale(void)
{
        static const char *const vars[] = { "LC_ALL", "LC_CTYPE", "LANG" };

        for (size_t i = 0; i < NMO_ARRAY_SIZE(vars); i++) {
                const char *v = getenv(vars[i]);

                if (v && *v)
                        return strcasestr(v, "utf-8") || strcasestr(v, "utf8");
        }
        return false;
}

/* ---- aligned tables ---- */

void format_table_init(struct format_table *t, const char *const *head, const char *align,
                       size_t ncols)
{
        memset(t, 0, sizeof(*t));
        t->head = head;
        t->align = align;
        t->ncols = ncols;
}

void format_table_free(struct format_table *t)
{
        for (size_t i = 0; i < t->rows * t->ncols; i++)
                free(t->field[i]);
        for (size_t i = 0; i < t->rows; i++)
                free(t->extra[i]);
        free(t->field);
        free(t->extra);
        memset(t, 0, sizeof(*t));
}

/* Appends an empty row. */
int format_table_row(struct format_table *t)
{
        if (t->rows == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 64;
                char **f = realloc(t->field, cap * t->ncols * sizeof(*f));
                char **e;

                if (!f)
                        return -ENOMEM;
                t->field = f;
                e = realloc(t->extra, cap * sizeof(*e));
                if (!e)
                        return -ENOMEM;
                t->extra = e;
                t->cap = cap;
        }
        for (size_t c = 0; c < t->ncols; c++)
                t->field[t->rows * t->ncols + c] = NULL;
        t->extra[t->rows] = NULL;
        t->rows++;
        return 0;
}

/* Sets a column of the last row. */
int format_table_set(struct format_table *t, size_t col, const char *fmt, ...)
{
        char *raw = NULL, *safe;
        char **slot = &t->field[(t->rows - 1) * t->ncols + col];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&raw, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        safe = format_term_safe(raw);
        free(raw);
        if (!safe)
                return -ENOMEM;
        free(*slot);
        *slot = safe;
        return 0;
}

/* Adds lines under the last row: prefix, then text; every further line of a
 * multi-line text is indented to line up with the first. */
int format_table_extra(struct format_table *t, const char *prefix, const char *text)
{
        char **slot = &t->extra[t->rows - 1];
        size_t indent = strlen(prefix);
        char *buf = NULL, *copy = strdup(text ? text : ""), *line, *next;
        size_t len = 0;
        FILE *m;
        int r = -ENOMEM;

        if (!copy)
                return -ENOMEM;
        m = open_memstream(&buf, &len);
        if (!m)
                goto out;
        if (*slot)
                fputs(*slot, m);
        for (line = copy; line; line = next) {
                char *safe;

                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                safe = format_term_safe(line);
                if (!safe) {
                        fclose(m);
                        goto out;
                }
                if (line == copy)
                        fprintf(m, "%s%s\n", prefix, safe);
                else
                        fprintf(m, "%*s%s\n", (int)indent, "", safe);
                free(safe);
        }
        if (fclose(m) != 0)
                goto out;
        free(*slot);
        *slot = buf;
        buf = NULL;
        r = 0;
out:
        free(buf);
        free(copy);
        return r;
}

/* Prints one line of fields padded to widths, two spaces apart, without
 * trailing blanks. */
static void table_line(const struct format_table *t, const size_t *width, const char *const *fields,
                       FILE *f)
{
        size_t pending = 0;

        for (size_t c = 0; c < t->ncols; c++) {
                const char *s = fields[c] ? fields[c] : "";
                size_t w = format_text_width(s);

                if (c > 0)
                        pending += 2;
                if (t->align[c] == 'r')
                        pending += width[c] - w;
                if (w > 0) {
                        fprintf(f, "%*s%s", (int)pending, "", s);
                        pending = 0;
                }
                if (t->align[c] != 'r')
                        pending += width[c] - w;
        }
        fputc('\n', f);
}

int format_table_print(const struct format_table *t, FILE *f)
{
        size_t *width = calloc(t->ncols, sizeof(*width));

        if (!width)
                return -ENOMEM;
        for (size_t c = 0; c < t->ncols; c++) {
                width[c] = format_text_width(t->head[c]);
                for (size_t r = 0; r < t->rows; r++) {
                        size_t w = format_text_width(t->field[r * t->ncols + c]);

                        if (w > width[c])
                                width[c] = w;
                }
        }
        table_line(t, width, t->head, f);
        for (size_t r = 0; r < t->rows; r++) {
                table_line(t, width, (const char *const *)&t->field[r * t->ncols], f);
                if (t->extra[r])
                        fputs(t->extra[r], f);
        }
        free(width);
        return 0;
}

/* ---- CSV (RFC 4180) ---- */

void format_csv_field(FILE *f, const char *s, bool first)
{
        /* A spreadsheet runs a field that starts with one of these as a
         * formula; free text from members must never do that. The leading
         * apostrophe is the usual guard and shows as nothing in a sheet. */
        bool formula;

        if (!first)
                fputc(',', f);
        if (!s)
                return;
        formula = *s == '=' || *s == '+' || *s == '-' || *s == '@' || *s == '\t' || *s == '\r';
        if (!formula && !strpbrk(s, ",\"\r\n")) {
                fputs(s, f);
                return;
        }
        fputc('"', f);
        if (formula)
                fputc('\'', f);
        for (; *s; s++) {
                if (*s == '"')
                        fputc('"', f);
                fputc(*s, f);
        }
        fputc('"', f);
}

void format_csv_u64(FILE *f, uint64_t v)
{
        fprintf(f, ",%llu", (unsigned long long)v);
}

void format_csv_header(FILE *f, const char *const *names, size_t n)
{
        for (size_t i = 0; i < n; i++)
                format_csv_field(f, names[i], i == 0);
}

/* ---- JSON ---- */

json_object *format_json_str_or_null(const char *s)
{
        return s && *s ? json_object_new_string(s) : NULL;
}

int format_print_json(json_object *o)
{
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE);

        if (!s)
                return -ENOMEM;
        puts(s);
        return 0;
}

/* Prints n items of size bytes as one JSON array, each made by to_json. */
int format_print_json_array(const void *items, size_t n, size_t size,
                            json_object *(*to_json)(const void *item))
{
        json_object *a = json_object_new_array();
        int r = -ENOMEM;

        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *o = to_json((const char *)items + i * size);

                if (!o || json_object_array_add(a, o) < 0) {
                        json_object_put(o);
                        goto out;
                }
        }
        r = format_print_json(a);
out:
        json_object_put(a);
        return r;
}
