/* analyst.c: see analyst.h. The four commands of nmo-analyst (cells, alerts,
 * trend, materials), the calendar arithmetic they share (ISO weeks and months
 * as day numbers), and the three output forms: aligned tables for people,
 * JSON and RFC 4180 CSV for scripts.
 *
 * Everything read from the store is treated as untrusted on the way out: text
 * is made safe for a terminal before it reaches a table, and no value of a
 * suppressed cell is ever copied out of the store record. */
#include "analyst.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <json-c/json.h>
#include <sodium.h>

#include "alert.h"
#include "analytics.h"
#include "vocab.h"

#define TREND_WEEKS_DEFAULT 12
#define TREND_WEEKS_MAX 520
#define TREND_BAR_WIDTH 40
#define PERIOD_MAX 16

enum out_format {
        OUT_TABLE,
        OUT_JSON,
        OUT_CSV,
};

/* In every help text. */
#define DISCLOSURE_RULE                                                                   \
        "Disclosure rule: a cell is released only when at least 3 distinct companies\n"   \
        "reported in it (the hub may be configured to require more), and its volume\n"    \
        "only when no two companies hold more than 85% of it. Secondary suppression\n"    \
        "withholds some safe cells too, so that no released total minus its released\n"   \
        "parts reveals a suppressed cell. A suppressed cell is shown as x and carries\n"   \
        "no figures in any output.\n"

/* ---- calendar: days since 1970-01-01, proleptic Gregorian ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
        return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

/* Howard Hinnant's days_from_civil. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = floor_div(y, 400);
        yoe = y - era * 400;
        doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
        int64_t era, doe, yoe, doy, mp;

        z += 719468;
        era = floor_div(z, 146097);
        doe = z - era * 146097;
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        *d = (int)(doy - (153 * mp + 2) / 5 + 1);
        *m = (int)(mp < 10 ? mp + 3 : mp - 9);
        *y = yoe + era * 400 + (*m <= 2);
}

/* Monday 0 .. Sunday 6; 1970-01-01 was a Thursday. */
static int weekday(int64_t day)
{
        return (int)(((day + 3) % 7 + 7) % 7);
}

/* Monday of ISO week 1: the week that holds 4 January. */
static int64_t iso_week1_monday(int64_t year)
{
        int64_t jan4 = days_from_civil(year, 1, 4);

        return jan4 - weekday(jan4);
}

static int iso_weeks_in_year(int64_t year)
{
        return (int)((iso_week1_monday(year + 1) - iso_week1_monday(year)) / 7);
}

static int days_in_month(int64_t year, int month)
{
        int64_t next = month == 12 ? days_from_civil(year + 1, 1, 1)
                                   : days_from_civil(year, month + 1, 1);

        return (int)(next - days_from_civil(year, month, 1));
}

/* An ISO week belongs to the year of its Thursday. */
static void iso_week_of(int64_t day, int64_t *year, int *week)
{
        int64_t thursday = day - weekday(day) + 3;
        int m, d;

        civil_from_days(thursday, year, &m, &d);
        *week = (int)((thursday - iso_week1_monday(*year)) / 7) + 1;
}

/* Parses exactly n decimal digits. */
static bool digits(const char *s, size_t n, int *out)
{
        int v = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        *out = v;
        return true;
}

int analyst_parse_date(const char *s, int64_t *day)
{
        int y, m, d;

        if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) ||
            !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d))
                return -EINVAL;
        if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
                return -EINVAL;
        *day = days_from_civil(y, m, d);
        return 0;
}

int analyst_period_range(const char *period, int64_t *first, int64_t *last, bool *is_week)
{
        size_t n = period ? strlen(period) : 0;
        int y, w, m;

        if (n == 8 && period[4] == '-' && period[5] == 'W' && digits(period, 4, &y) &&
            digits(period + 6, 2, &w)) {
                if (y < 1 || w < 1 || w > iso_weeks_in_year(y))
                        return -EINVAL;
                *first = iso_week1_monday(y) + (int64_t)(w - 1) * 7;
                *last = *first + 6;
                if (is_week)
                        *is_week = true;
                return 0;
        }
        if (n == 7 && period[4] == '-' && digits(period, 4, &y) && digits(period + 5, 2, &m)) {
                if (y < 1 || m < 1 || m > 12)
                        return -EINVAL;
                *first = days_from_civil(y, m, 1);
                *last = *first + days_in_month(y, m) - 1;
                if (is_week)
                        *is_week = false;
                return 0;
        }
        return -EINVAL;
}

void analyst_week_of(int64_t day, char *buf, size_t len)
{
        int64_t y;
        int w;

        iso_week_of(day, &y, &w);
        snprintf(buf, len, "%04lld-W%02d", (long long)y, w);
}

static int64_t today(void)
{
        return floor_div((int64_t)time(NULL), 86400);
}

/* A --from/--to/--since bound: a date, or a whole week or month (its first day
 * for a lower bound, its last for an upper one). */
NMO_WUR static int parse_bound(const char *s, bool upper, int64_t *day)
{
        int64_t first, last;

        if (analyst_parse_date(s, day) == 0)
                return 0;
        if (analyst_period_range(s, &first, &last, NULL) < 0)
                return -EINVAL;
        *day = upper ? last : first;
        return 0;
}

/* ---- messages ---- */

int analyst_usage_error(const char *cmd, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "nmo-analyst%s%s: ", cmd ? " " : "", cmd ? cmd : "");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'nmo-analyst%s%s --help'.\n", cmd ? " " : "", cmd ? cmd : "");
        return ANALYST_EXIT_USAGE;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "nmo-analyst: " and the message on one line to stderr; returns
 * ANALYST_EXIT_FAIL. */
static int fail(const char *fmt, ...)
{
        va_list ap;

        fputs("nmo-analyst: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return ANALYST_EXIT_FAIL;
}

/* Flushes stdout; a full disk or closed pipe is a failure, not a silent loss. */
static int finish_output(void)
{
        if (fflush(stdout) != 0 || ferror(stdout))
                return fail("cannot write the output: %s", strerror(errno ? errno : EIO));
        return ANALYST_EXIT_OK;
}

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
static char *term_safe(const char *s)
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
static size_t text_width(const char *s)
{
        size_t w = 0;

        for (; s && *s; s++)
                if (((unsigned char)*s & 0xc0) != 0x80)
                        w++;
        return w;
}

/* Does the locale (LC_ALL, LC_CTYPE, LANG: the first one set) use UTF-8? */
static bool utf8_locale(void)
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

struct table {
        size_t ncols;
        const char *const *head;
        const char *align;  /* 'l' or 'r' per column */
        char **field;       /* rows x ncols, terminal-safe, owned; NULL prints empty */
        char **extra;       /* per row: lines printed under it, owned, or NULL */
        size_t rows, cap;
};

static void table_init(struct table *t, const char *const *head, const char *align,
                       size_t ncols)
{
        memset(t, 0, sizeof(*t));
        t->head = head;
        t->align = align;
        t->ncols = ncols;
}

static void table_free(struct table *t)
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
NMO_WUR static int table_row(struct table *t)
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
__attribute__((format(printf, 3, 4))) NMO_WUR static int table_set(struct table *t, size_t col,
                                                                   const char *fmt, ...)
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
        safe = term_safe(raw);
        free(raw);
        if (!safe)
                return -ENOMEM;
        free(*slot);
        *slot = safe;
        return 0;
}

/* Adds lines under the last row: prefix, then text; every further line of a
 * multi-line text is indented to line up with the first. */
NMO_WUR static int table_extra(struct table *t, const char *prefix, const char *text)
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
                safe = term_safe(line);
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
static void table_line(const struct table *t, const size_t *width, const char *const *fields,
                       FILE *f)
{
        size_t pending = 0;

        for (size_t c = 0; c < t->ncols; c++) {
                const char *s = fields[c] ? fields[c] : "";
                size_t w = text_width(s);

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

NMO_WUR static int table_print(const struct table *t, FILE *f)
{
        size_t *width = calloc(t->ncols, sizeof(*width));

        if (!width)
                return -ENOMEM;
        for (size_t c = 0; c < t->ncols; c++) {
                width[c] = text_width(t->head[c]);
                for (size_t r = 0; r < t->rows; r++) {
                        size_t w = text_width(t->field[r * t->ncols + c]);

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

static void csv_field(FILE *f, const char *s, bool first)
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

static void csv_u64(FILE *f, uint64_t v)
{
        fprintf(f, ",%llu", (unsigned long long)v);
}

static void csv_header(FILE *f, const char *const *names, size_t n)
{
        for (size_t i = 0; i < n; i++)
                csv_field(f, names[i], i == 0);
}

/* ---- JSON ---- */

static json_object *json_str_or_null(const char *s)
{
        return s && *s ? json_object_new_string(s) : NULL;
}

NMO_WUR static int print_json(json_object *o)
{
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE);

        if (!s)
                return -ENOMEM;
        puts(s);
        return 0;
}

/* ---- the store ---- */

static bool file_exists(const char *dir, const char *name)
{
        char *p = util_path(dir, name);
        struct stat st;
        bool ok = p && stat(p, &st) == 0;

        free(p);
        return ok;
}

/* Explains why dir did not open as an analytics store, on one line. */
static void explain_open_error(const char *dir, int r)
{
        char *copy = strdup(dir), *slash, *base, *parent = NULL;
        bool hub_dir, in_hub_dir, has_data, has_store_below, private_store;

        if (!copy) {
                fail("cannot open the analytics store at %s: %s", dir, strerror(ENOMEM));
                return;
        }
        /* The directory's own name and its parent, without trailing slashes. */
        for (size_t n = strlen(copy); n > 1 && copy[n - 1] == '/'; n--)
                copy[n - 1] = 0;
        slash = strrchr(copy, '/');
        base = slash ? slash + 1 : copy;
        if (slash == copy) {
                parent = "/";
        } else if (slash) {
                *slash = 0;
                parent = copy;
        } else {
                parent = ".";
        }
        hub_dir = file_exists(dir, "hub.conf");
        in_hub_dir = file_exists(parent, "hub.conf");
        has_data = file_exists(dir, "data.mdb");
        has_store_below = file_exists(dir, "analytics/data.mdb");
        private_store = strcmp(base, "private") == 0 || (in_hub_dir && has_data);

        if (r == -ENOENT) {
                fail("no analytics store at %s (no such directory)", dir);
        } else if (r == -ENOTDIR) {
                fail("no analytics store at %s (not a directory); point --store at "
                     "HUB_DIR/analytics", dir);
        } else if ((r == -EMEDIUMTYPE || r == -EACCES || r == -EPERM) && private_store) {
                if (in_hub_dir)
                        fail("%s is not an analytics store: it looks like the hub's private "
                             "store, which analysts never open; use --store %s/analytics",
                             dir, parent);
                else
                        fail("%s is not an analytics store: it looks like the hub's private "
                             "store, which analysts never open; point --store at "
                             "HUB_DIR/analytics", dir);
        } else if (r == -EMEDIUMTYPE && has_store_below) {
                fail("%s is not an analytics store, but holds one; use --store %s/analytics",
                     dir, dir);
        } else if (r == -EMEDIUMTYPE && hub_dir) {
                fail("%s is a hub directory, not its analytics store; use --store "
                     "%s/analytics", dir, dir);
        } else if (r == -EMEDIUMTYPE && in_hub_dir) {
                fail("%s is not an analytics store; use --store %s/analytics", dir, parent);
        } else if (r == -EMEDIUMTYPE) {
                fail("%s is not an analytics store; point --store at HUB_DIR/analytics", dir);
        } else if (r == -EACCES || r == -EPERM) {
                fail("permission denied opening the analytics store at %s: analysts need to "
                     "be in the group that owns it (the hub keeps it group-readable: "
                     "directory 0750, data.mdb 0640, lock.mdb 0660, which readers write to "
                     "register); ask the hub's administrator, then log in again", dir);
        } else if (r == -EPROTO) {
                fail("cannot open the analytics store at %s: it was written by an "
                     "incompatible version of LMDB", dir);
        } else if (r == -EIO) {
                fail("cannot open the analytics store at %s: it is damaged or unreadable "
                     "(input/output error)", dir);
        } else {
                fail("cannot open the analytics store at %s: %s", dir, strerror(-r));
        }
        free(copy);
}

NMO_WUR static int store_open(const char *dir, struct hub_analytics **an)
{
        int r = hub_analytics_open(an, dir, true);

        if (r < 0)
                explain_open_error(dir, r);
        return r;
}

/* Reports a failed walk of the store. what: the command's extra detail for
 * -EBADMSG (may be empty). */
static int store_read_failed(const char *dir, int r, const char *what)
{
        if (r == -ENOMEM)
                return fail("out of memory");
        if (r == -EBADMSG)
                return fail("the analytics store at %s holds a damaged record%s%s; ask the "
                            "hub's administrator", dir, what && *what ? ": " : "",
                            what ? what : "");
        return fail("cannot read the analytics store at %s: %s", dir, strerror(-r));
}

/* Is this store record released? A cell that claims to be released with
 * fewer reporters than any hub may release is a bug upstream: it is treated
 * as suppressed, never shown. */
static bool cell_released(const Nmo__Hub__Cell *c, size_t *guarded)
{
        if (c->has_suppression && c->suppression != NMO__HUB__SUPPRESSION__SUPPRESSION_NONE)
                return false;
        if (!c->has_reporters || c->reporters < ANALYST_MIN_REPORTERS) {
                (*guarded)++;
                return false;
        }
        return true;
}

static void warn_guarded(size_t n)
{
        if (n)
                fprintf(stderr, "nmo-analyst: warning: %zu cell%s marked released in the store "
                        "had fewer than %d reporters and %s shown as suppressed; tell the "
                        "hub's administrator\n", n, n == 1 ? "" : "s", ANALYST_MIN_REPORTERS,
                        n == 1 ? "is" : "are");
}

static bool is_week_kind(Nmo__Hub__CellKind k)
{
        return k == NMO__HUB__CELL_KIND__CELL_EVENT_WEEK ||
               k == NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK ||
               k == NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK;
}

/* The period of a cell of a kind we know, checked against the kind. */
NMO_WUR static int cell_period(const Nmo__Hub__Cell *c, int64_t *first, int64_t *last, char *bad,
                       size_t badlen)
{
        bool week;

        if (analyst_period_range(c->period, first, last, &week) == 0 &&
            week == is_week_kind(c->kind))
                return 0;
        if (bad) {
                char *p = term_safe(c->period ? c->period : "");

                snprintf(bad, badlen, "a cell (%s) with the malformed period '%.20s'",
                         hub_analytics_kind_name(c->kind), p ? p : "?");
                free(p);
        }
        return -EBADMSG;
}

/* ---- cells ---- */

/* A cell as the tool keeps it. Value fields are zero for suppressed cells:
 * they are never copied from the store record. */
struct cell {
        Nmo__Hub__CellKind kind;
        char *material, *event, *country, *period;
        int64_t first_day, last_day;
        Nmo__Hub__Suppression suppression; /* NONE: released */
        bool final;
        uint32_t reporters, reports;
        uint32_t severity[4]; /* low, medium, high, critical */
        uint32_t status[5];   /* unspecified, rumour, announced, in-effect, ended */
        uint32_t share[6];    /* unspecified, <10, 10-25, 25-50, 50-75, >75 */
        Nmo__Hub__VolumeStatus volume_status;
        uint64_t volume_t;
        char **notes;
        size_t n_notes;
};

struct cell_list {
        struct cell *v;
        size_t n, cap;
        size_t guarded;
        char bad[160];
};

struct cell_query {
        Nmo__Hub__CellKind kind;
        const char *material, *event, *country; /* NULL: any */
        int64_t from, to;                       /* days, inclusive */
};

/* A count of the store's arrays in the order the output names them. */
struct count_field {
        const char *json;
        const char *csv;
        unsigned int index;
};

static const struct count_field severity_fields[] = {
        { "low", "severity_low", 0 },
        { "medium", "severity_medium", 1 },
        { "high", "severity_high", 2 },
        { "critical", "severity_critical", 3 },
};

static const struct count_field status_fields[] = {
        { "rumour", "event_status_rumour", 1 },
        { "announced", "event_status_announced", 2 },
        { "in_effect", "event_status_in_effect", 3 },
        { "ended", "event_status_ended", 4 },
        { "unspecified", "event_status_unspecified", 0 },
};

static const struct count_field share_fields[] = {
        { "<10", "share_lt10", 1 },
        { "10-25", "share_10_25", 2 },
        { "25-50", "share_25_50", 3 },
        { "50-75", "share_50_75", 4 },
        { ">75", "share_gt75", 5 },
        { "unspecified", "share_unspecified", 0 },
};

static const char *volume_status_name(Nmo__Hub__VolumeStatus s)
{
        switch (s) {
        case NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED:
                return "released";
        case NMO__HUB__VOLUME_STATUS__VOLUME_NOT_GIVEN:
                return "not-given";
        default:
                return "dominance";
        }
}

static void cell_clear(struct cell *c)
{
        free(c->material);
        free(c->event);
        free(c->country);
        free(c->period);
        for (size_t i = 0; i < c->n_notes; i++)
                free(c->notes[i]);
        free(c->notes);
        memset(c, 0, sizeof(*c));
}

static void cell_list_clear(struct cell_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                cell_clear(&l->v[i]);
        free(l->v);
        memset(l, 0, sizeof(*l));
}

static void copy_counts(uint32_t *dst, size_t n, const uint32_t *src, size_t n_src)
{
        for (size_t i = 0; i < n; i++)
                dst[i] = i < n_src ? src[i] : 0;
}

NMO_WUR static int cell_copy(struct cell *d, const Nmo__Hub__Cell *c, bool released)
{
        d->kind = c->kind;
        d->material = strdup(c->material ? c->material : "");
        d->event = strdup(c->event ? c->event : "");
        d->country = strdup(c->country ? c->country : "");
        d->period = strdup(c->period ? c->period : "");
        if (!d->material || !d->event || !d->country || !d->period)
                return -ENOMEM;
        d->final = c->has_final && c->final;
        if (!released) {
                d->suppression = c->has_suppression && c->suppression !=
                                 NMO__HUB__SUPPRESSION__SUPPRESSION_NONE
                                         ? c->suppression
                                         : NMO__HUB__SUPPRESSION__SUPPRESSION_FREQUENCY;
                return 0; /* no value leaves a suppressed cell */
        }
        d->suppression = NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;
        d->reporters = c->reporters;
        d->reports = c->has_reports ? c->reports : 0;
        copy_counts(d->severity, NMO_ARRAY_SIZE(d->severity), c->severity, c->n_severity);
        copy_counts(d->status, NMO_ARRAY_SIZE(d->status), c->status, c->n_status);
        copy_counts(d->share, NMO_ARRAY_SIZE(d->share), c->share, c->n_share);
        d->volume_status = c->has_volume_status ? c->volume_status
                                                : NMO__HUB__VOLUME_STATUS__VOLUME_NOT_GIVEN;
        if (d->volume_status != NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED &&
            d->volume_status != NMO__HUB__VOLUME_STATUS__VOLUME_NOT_GIVEN)
                d->volume_status = NMO__HUB__VOLUME_STATUS__VOLUME_DOMINANCE;
        if (d->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED)
                d->volume_t = c->volume_t;
        if (c->n_notes) {
                d->notes = calloc(c->n_notes, sizeof(*d->notes));
                if (!d->notes)
                        return -ENOMEM;
                for (size_t i = 0; i < c->n_notes; i++) {
                        d->notes[i] = strdup(c->notes[i] ? c->notes[i] : "");
                        if (!d->notes[i])
                                return -ENOMEM;
                        d->n_notes++;
                }
        }
        return 0;
}

struct collect_ctx {
        const struct cell_query *q;
        struct cell_list *list;
};

static int collect_cell(const Nmo__Hub__Cell *c, void *userdata)
{
        struct collect_ctx *x = userdata;
        const struct cell_query *q = x->q;
        struct cell_list *l = x->list;
        int64_t first, last;
        bool released;
        int r;

        if (c->kind != q->kind)
                return 0;
        if ((q->material && strcmp(q->material, c->material ? c->material : "") != 0) ||
            (q->event && strcmp(q->event, c->event ? c->event : "") != 0) ||
            (q->country && strcmp(q->country, c->country ? c->country : "") != 0))
                return 0;
        r = cell_period(c, &first, &last, l->bad, sizeof(l->bad));
        if (r < 0)
                return r;
        if (last < q->from || first > q->to)
                return 0;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 64;
                struct cell *v = realloc(l->v, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        released = cell_released(c, &l->guarded);
        memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
        /* Counted before the copy, so a half-built cell is freed with the list. */
        l->n++;
        l->v[l->n - 1].first_day = first;
        l->v[l->n - 1].last_day = last;
        return cell_copy(&l->v[l->n - 1], c, released);
}

NMO_WUR static int cells_collect(struct hub_analytics *an, const struct cell_query *q,
                                 struct cell_list *l)
{
        struct collect_ctx x = { q, l };

        return hub_analytics_foreach_cell(an, q->material, collect_cell, &x);
}

/* Newest period first, then material, event and country. */
static int cell_cmp(const void *a, const void *b)
{
        const struct cell *x = a, *y = b;
        int r;

        if (x->first_day != y->first_day)
                return x->first_day < y->first_day ? 1 : -1;
        r = strcmp(x->material, y->material);
        if (r == 0)
                r = strcmp(x->event, y->event);
        if (r == 0)
                r = strcmp(x->country, y->country);
        return r;
}

static json_object *counts_json(const struct count_field *f, size_t n, const uint32_t *v)
{
        json_object *o = json_object_new_object();

        for (size_t i = 0; o && i < n; i++)
                json_object_object_add(o, f[i].json, json_object_new_int64(v[f[i].index]));
        return o;
}

static json_object *cell_json(const void *item)
{
        const struct cell *c = item;
        json_object *o = json_object_new_object(), *notes;
        bool released = c->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;

        if (!o)
                return NULL;
        json_object_object_add(o, "kind", json_object_new_string(hub_analytics_kind_name(c->kind)));
        json_object_object_add(o, "period", json_object_new_string(c->period));
        json_object_object_add(o, "material", json_object_new_string(c->material));
        json_object_object_add(o, "event", c->kind == NMO__HUB__CELL_KIND__CELL_EVENT_WEEK ||
                                                   c->kind == NMO__HUB__CELL_KIND__CELL_EVENT_MONTH
                                           ? json_object_new_string(c->event)
                                           : NULL);
        if (c->kind == NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK)
                json_object_object_add(o, "country", json_object_new_string(c->country));
        json_object_object_add(o, "status",
                               json_object_new_string(released ? "released" : "suppressed"));
        json_object_object_add(o, "final", json_object_new_boolean(c->final));
        if (!released) {
                json_object_object_add(o, "suppression", json_object_new_string(
                                               hub_analytics_suppression_name(c->suppression)));
                return o;
        }
        json_object_object_add(o, "reporters", json_object_new_int64(c->reporters));
        json_object_object_add(o, "reports", json_object_new_int64(c->reports));
        json_object_object_add(o, "severity", counts_json(severity_fields,
                                                          NMO_ARRAY_SIZE(severity_fields),
                                                          c->severity));
        json_object_object_add(o, "event_status", counts_json(status_fields,
                                                              NMO_ARRAY_SIZE(status_fields),
                                                              c->status));
        json_object_object_add(o, "share", counts_json(share_fields, NMO_ARRAY_SIZE(share_fields),
                                                       c->share));
        json_object_object_add(o, "volume_t",
                               c->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED
                                       ? json_object_new_uint64(c->volume_t)
                                       : NULL);
        json_object_object_add(o, "volume_status",
                               json_object_new_string(volume_status_name(c->volume_status)));
        notes = json_object_new_array();
        for (size_t i = 0; notes && i < c->n_notes; i++)
                json_object_array_add(notes, json_object_new_string(c->notes[i]));
        json_object_object_add(o, "notes", notes);
        return o;
}

/* Prints n items of size bytes as one JSON array, each made by to_json. */
NMO_WUR static int print_json_array(const void *items, size_t n, size_t size,
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
        r = print_json(a);
out:
        json_object_put(a);
        return r;
}

NMO_WUR static int cells_print_json(const struct cell_list *l)
{
        return print_json_array(l->v, l->n, sizeof(*l->v), cell_json);
}

NMO_WUR static int cells_print_csv(const struct cell_list *l)
{
        static const char *const head[] = { "kind", "period", "material", "event", "country",
                                            "status", "suppression", "final", "reporters",
                                            "reports" };

        csv_header(stdout, head, NMO_ARRAY_SIZE(head));
        for (size_t i = 0; i < NMO_ARRAY_SIZE(severity_fields); i++)
                csv_field(stdout, severity_fields[i].csv, false);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(status_fields); i++)
                csv_field(stdout, status_fields[i].csv, false);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(share_fields); i++)
                csv_field(stdout, share_fields[i].csv, false);
        fputs(",volume_t,volume_status,notes\n", stdout);
        for (size_t i = 0; i < l->n; i++) {
                const struct cell *c = &l->v[i];
                bool released = c->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;
                size_t nvalues = 2 + NMO_ARRAY_SIZE(severity_fields) +
                                 NMO_ARRAY_SIZE(status_fields) + NMO_ARRAY_SIZE(share_fields) +
                                 3;

                csv_field(stdout, hub_analytics_kind_name(c->kind), true);
                csv_field(stdout, c->period, false);
                csv_field(stdout, c->material, false);
                csv_field(stdout, c->event, false);
                csv_field(stdout, c->country, false);
                csv_field(stdout, released ? "released" : "suppressed", false);
                csv_field(stdout, released ? NULL : hub_analytics_suppression_name(c->suppression),
                          false);
                csv_field(stdout, c->final ? "true" : "false", false);
                if (!released) {
                        for (size_t k = 0; k < nvalues; k++)
                                fputc(',', stdout);
                        fputc('\n', stdout);
                        continue;
                }
                csv_u64(stdout, c->reporters);
                csv_u64(stdout, c->reports);
                for (size_t k = 0; k < NMO_ARRAY_SIZE(severity_fields); k++)
                        csv_u64(stdout, c->severity[severity_fields[k].index]);
                for (size_t k = 0; k < NMO_ARRAY_SIZE(status_fields); k++)
                        csv_u64(stdout, c->status[status_fields[k].index]);
                for (size_t k = 0; k < NMO_ARRAY_SIZE(share_fields); k++)
                        csv_u64(stdout, c->share[share_fields[k].index]);
                if (c->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED)
                        csv_u64(stdout, c->volume_t);
                else
                        fputc(',', stdout);
                csv_field(stdout, volume_status_name(c->volume_status), false);
                fputc(',', stdout);
                if (c->n_notes) {
                        size_t len = 0;
                        char *joined;

                        for (size_t k = 0; k < c->n_notes; k++)
                                len += strlen(c->notes[k]) + 3;
                        joined = malloc(len + 1);
                        if (!joined)
                                return -ENOMEM;
                        joined[0] = 0;
                        for (size_t k = 0; k < c->n_notes; k++) {
                                if (k)
                                        strcat(joined, " | ");
                                strcat(joined, c->notes[k]);
                        }
                        csv_field(stdout, joined, true);
                        free(joined);
                }
                fputc('\n', stdout);
        }
        return 0;
}

NMO_WUR static int cells_print_table(const struct cell_list *l)
{
        static const char *const head_event[] = { "PERIOD", "MATERIAL", "EVENT", "STATUS",
                                                  "REPORTERS", "REPORTS", "SEVERITY", "VOLUME",
                                                  "FINAL" };
        static const char *const head_country[] = { "PERIOD", "MATERIAL", "COUNTRY", "STATUS",
                                                    "REPORTERS", "REPORTS", "SEVERITY",
                                                    "VOLUME", "FINAL" };
        static const char *const head_material[] = { "PERIOD", "MATERIAL", "STATUS",
                                                     "REPORTERS", "REPORTS", "SEVERITY",
                                                     "VOLUME", "FINAL" };
        Nmo__Hub__CellKind kind = l->v[0].kind;
        bool has_third = kind != NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK;
        struct table t;
        int r = 0;

        if (!has_third)
                table_init(&t, head_material, "lllrrlrl", NMO_ARRAY_SIZE(head_material));
        else if (kind == NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK)
                table_init(&t, head_country, "llllrrlrl", NMO_ARRAY_SIZE(head_country));
        else
                table_init(&t, head_event, "llllrrlrl", NMO_ARRAY_SIZE(head_event));
        for (size_t i = 0; r == 0 && i < l->n; i++) {
                const struct cell *c = &l->v[i];
                bool released = c->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;
                size_t col = 0;

                r = table_row(&t);
                if (r == 0)
                        r = table_set(&t, col++, "%s", c->period);
                if (r == 0)
                        r = table_set(&t, col++, "%s", c->material);
                if (r == 0 && has_third)
                        r = table_set(&t, col++, "%s",
                                      kind == NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK ? c->country
                                                                                     : c->event);
                if (r == 0)
                        r = table_set(&t, col++, "%s", released ? "released" : "suppressed");
                if (r == 0 && !released) {
                        for (int k = 0; r == 0 && k < 4; k++)
                                r = table_set(&t, col++, "x");
                } else if (r == 0) {
                        r = table_set(&t, col++, "%u", c->reporters);
                        if (r == 0)
                                r = table_set(&t, col++, "%u", c->reports);
                        if (r == 0)
                                r = table_set(&t, col++, "L%u M%u H%u C%u", c->severity[0],
                                              c->severity[1], c->severity[2], c->severity[3]);
                        if (r == 0 && c->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED)
                                r = table_set(&t, col++, "%llu", (unsigned long long)c->volume_t);
                        else if (r == 0 && c->volume_status ==
                                                   NMO__HUB__VOLUME_STATUS__VOLUME_NOT_GIVEN)
                                r = table_set(&t, col++, "-");
                        else if (r == 0)
                                r = table_set(&t, col++, "x"); /* withheld: dominance */
                }
                if (r == 0)
                        r = table_set(&t, col++, "%s", c->final ? "yes" : "no");
                for (size_t k = 0; r == 0 && released && k < c->n_notes; k++)
                        r = table_extra(&t, "    note: ", c->notes[k]);
        }
        if (r == 0)
                r = table_print(&t, stdout);
        table_free(&t);
        if (r < 0)
                return r;
        fputs("\nx: suppressed. A cell is released only with at least 3 distinct reporting\n"
              "companies, a volume only when no two companies hold more than 85% of it, and\n"
              "secondary suppression withholds further cells so totals cannot reveal them.\n"
              "-: no volume given. VOLUME in tonnes per year. FINAL yes: figures are final.\n",
              stdout);
        return 0;
}

static const char cells_help[] =
        "Usage: nmo-analyst --store DIR cells [OPTIONS]\n"
        "\n"
        "Lists cells: what members reported about a material and an event type (or an\n"
        "origin country, or all events) in one ISO week or month, as released by the\n"
        "hub's disclosure control, newest period first.\n"
        "\n"
        "Options:\n"
        "  --material ID       only this material ('nmo-analyst materials' lists them)\n"
        "  --event ID          only this event type (export-ban, strike, ...)\n"
        "  --country CC        only this origin country (ISO 3166-1 alpha-2, e.g. CN);\n"
        "                      needs --rollup country\n"
        "  --from WHEN         only periods that end on or after WHEN\n"
        "  --to WHEN           only periods that start on or before WHEN\n"
        "                      WHEN is a date (YYYY-MM-DD), or a whole ISO week\n"
        "                      (YYYY-Www) or month (YYYY-MM): from its first day, to\n"
        "                      its last. A week matches when its Monday..Sunday\n"
        "                      overlaps the range, a month when any of its days does.\n"
        "  --by week|month     cells per material, event type and ISO week (default) or\n"
        "                      month\n"
        "  --rollup material   per material and week, all event types together\n"
        "  --rollup country    per material, origin country and week\n"
        "  --json              a JSON array, one object per cell (see below)\n"
        "  --csv               CSV (RFC 4180) with a header row\n"
        "  --store DIR         the analytics store, HUB_DIR/analytics (also accepted\n"
        "                      before the command)\n"
        "  -h, --help          this help\n"
        "\n"
        "Columns:\n"
        "  PERIOD     ISO week (2026-W48: Monday to Sunday) or month (2026-11)\n"
        "  MATERIAL   material id\n"
        "  EVENT      event type id; COUNTRY with --rollup country; none with\n"
        "             --rollup material\n"
        "  STATUS     released, or suppressed by the disclosure rule\n"
        "  REPORTERS  distinct reporting companies\n"
        "  REPORTS    signals reported\n"
        "  SEVERITY   reports by severity: L low, M medium, H high, C critical\n"
        "  VOLUME     affected volume summed over the reports, tonnes per year; x when\n"
        "             the dominance rule withholds it, - when no reporter gave one\n"
        "  FINAL      yes when the period is closed and its figures will not change\n"
        "Notes that reporters consented to share are printed indented under their cell.\n"
        "A suppressed cell shows x in every value column.\n"
        "\n"
        "JSON: kind (event-week, event-month, material-week, country-week), period,\n"
        "material, event (null for roll-ups), country (country cells only), status\n"
        "(released, suppressed) and final. A released cell adds reporters, reports,\n"
        "severity {low, medium, high, critical}, event_status {rumour, announced,\n"
        "in_effect, ended, unspecified}, share (of the reporter's supply affected)\n"
        "{<10, 10-25, 25-50, 50-75, >75, unspecified}, volume_t (null unless\n"
        "released), volume_status (released, dominance, not-given) and notes. A\n"
        "suppressed cell adds only suppression (frequency, secondary).\n"
        "CSV: the same, flattened: severity_low.., event_status_rumour..,\n"
        "share_lt10, share_10_25, .., share_gt75, share_unspecified; notes joined with\n"
        "\" | \". The value columns of a suppressed row are empty.\n"
        "\n"
        DISCLOSURE_RULE
        "\n"
        "Exit status: 0 success, also when no cell matches (the table form says so on\n"
        "stderr; JSON prints []); 1 failure (store missing, unreadable or damaged);\n"
        "2 usage error, including an unknown material, event type or country and a\n"
        "malformed date.\n";

/* Checks an id against a vocabulary; on failure prints a usage error naming it. */
static bool check_material(const char *cmd, const char *id)
{
        if (vocab_material(id))
                return true;
        for (size_t i = 0; i < vocab_materials_count; i++)
                if (strcasecmp(id, vocab_materials[i].id) == 0 ||
                    strcasecmp(id, vocab_materials[i].name) == 0) {
                        analyst_usage_error(cmd, "unknown material '%s'; did you mean '%s'?", id,
                                            vocab_materials[i].id);
                        return false;
                }
        analyst_usage_error(cmd, "unknown material '%s'; 'nmo-analyst materials' lists the "
                            "material ids", id);
        return false;
}

static bool check_event(const char *cmd, const char *id)
{
        char list[1024];
        size_t o = 0;

        if (vocab_event(id))
                return true;
        for (size_t i = 0; i < vocab_events_count; i++)
                if (strcasecmp(id, vocab_events[i].id) == 0) {
                        analyst_usage_error(cmd, "unknown event type '%s'; did you mean '%s'?",
                                            id, vocab_events[i].id);
                        return false;
                }
        list[0] = 0;
        for (size_t i = 0; i < vocab_events_count && o < sizeof(list); i++)
                o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
                                      vocab_events[i].id);
        analyst_usage_error(cmd, "unknown event type '%s'; the event types are: %s", id, list);
        return false;
}

/* Country codes are case-insensitive on input; *out is the vocabulary's spelling. */
static bool check_country(const char *cmd, const char *id, const char **out)
{
        for (size_t i = 0; i < vocab_countries_count; i++)
                if (strcasecmp(id, vocab_countries[i].id) == 0) {
                        *out = vocab_countries[i].id;
                        return true;
                }
        analyst_usage_error(cmd, "unknown country code '%s'; use an ISO 3166-1 alpha-2 code "
                            "such as CN or CD", id);
        return false;
}

static bool check_store(const char *cmd, const char *store)
{
        if (store)
                return true;
        analyst_usage_error(cmd, "--store DIR is required (the hub's analytics store, "
                            "HUB_DIR/analytics)");
        return false;
}

/* Parses --json / --csv into *out; false (after a usage error) when both. */
static bool set_format(const char *cmd, enum out_format *out, enum out_format f)
{
        if (*out != OUT_TABLE && *out != f) {
                analyst_usage_error(cmd, "--json and --csv cannot be combined");
                return false;
        }
        *out = f;
        return true;
}

enum {
        OPT_STORE = 0x100,
        OPT_MATERIAL,
        OPT_EVENT,
        OPT_COUNTRY,
        OPT_FROM,
        OPT_TO,
        OPT_BY,
        OPT_ROLLUP,
        OPT_JSON,
        OPT_CSV,
        OPT_SINCE,
        OPT_WEEKS,
};

static int cmd_cells(int argc, char **argv, const char *store)
{
        static const struct option opts[] = {
                { "store", required_argument, NULL, OPT_STORE },
                { "material", required_argument, NULL, OPT_MATERIAL },
                { "event", required_argument, NULL, OPT_EVENT },
                { "country", required_argument, NULL, OPT_COUNTRY },
                { "from", required_argument, NULL, OPT_FROM },
                { "to", required_argument, NULL, OPT_TO },
                { "by", required_argument, NULL, OPT_BY },
                { "rollup", required_argument, NULL, OPT_ROLLUP },
                { "json", no_argument, NULL, OPT_JSON },
                { "csv", no_argument, NULL, OPT_CSV },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        struct cell_query q = { NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, NULL, NULL, NULL,
                                INT64_MIN, INT64_MAX };
        struct hub_analytics *an = NULL;
        struct cell_list l;
        enum out_format fmt = OUT_TABLE;
        const char *by = NULL, *rollup = NULL, *from = NULL, *to = NULL;
        int c, r, ret = ANALYST_EXIT_FAIL;

        memset(&l, 0, sizeof(l));
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case OPT_STORE:
                        store = optarg;
                        break;
                case OPT_MATERIAL:
                        q.material = optarg;
                        break;
                case OPT_EVENT:
                        q.event = optarg;
                        break;
                case OPT_COUNTRY:
                        q.country = optarg;
                        break;
                case OPT_FROM:
                        from = optarg;
                        break;
                case OPT_TO:
                        to = optarg;
                        break;
                case OPT_BY:
                        by = optarg;
                        break;
                case OPT_ROLLUP:
                        rollup = optarg;
                        break;
                case OPT_JSON:
                case OPT_CSV:
                        if (!set_format("cells", &fmt, c == OPT_JSON ? OUT_JSON : OUT_CSV))
                                return ANALYST_EXIT_USAGE;
                        break;
                case 'h':
                        fputs(cells_help, stdout);
                        return ANALYST_EXIT_OK;
                default:
                        fputs("Try 'nmo-analyst cells --help'.\n", stderr);
                        return ANALYST_EXIT_USAGE;
                }
        }
        if (optind < argc)
                return analyst_usage_error("cells", "unexpected argument '%s'", argv[optind]);
        if (by && strcmp(by, "week") != 0 && strcmp(by, "month") != 0)
                return analyst_usage_error("cells", "--by takes week or month, not '%s'", by);
        if (rollup && strcmp(rollup, "material") != 0 && strcmp(rollup, "country") != 0)
                return analyst_usage_error("cells", "--rollup takes material or country, not "
                                           "'%s'", rollup);
        if (rollup && by && strcmp(by, "month") == 0)
                return analyst_usage_error("cells", "roll-ups are weekly: --by month cannot be "
                                           "combined with --rollup");
        if (rollup && q.event)
                return analyst_usage_error("cells", "--event cannot be combined with --rollup "
                                           "%s (roll-ups add up all event types)", rollup);
        if (q.country && !(rollup && strcmp(rollup, "country") == 0))
                return analyst_usage_error("cells", "--country selects country cells: add "
                                           "--rollup country");
        if (q.material && !check_material("cells", q.material))
                return ANALYST_EXIT_USAGE;
        if (q.event && !check_event("cells", q.event))
                return ANALYST_EXIT_USAGE;
        if (q.country && !check_country("cells", q.country, &q.country))
                return ANALYST_EXIT_USAGE;
        if (from && parse_bound(from, false, &q.from) < 0)
                return analyst_usage_error("cells", "--from '%s' is not a date (YYYY-MM-DD), "
                                           "ISO week (YYYY-Www) or month (YYYY-MM)", from);
        if (to && parse_bound(to, true, &q.to) < 0)
                return analyst_usage_error("cells", "--to '%s' is not a date (YYYY-MM-DD), "
                                           "ISO week (YYYY-Www) or month (YYYY-MM)", to);
        if (q.from > q.to)
                return analyst_usage_error("cells", "--from %s is after --to %s", from, to);
        if (!check_store("cells", store))
                return ANALYST_EXIT_USAGE;
        if (rollup)
                q.kind = strcmp(rollup, "material") == 0
                                 ? NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK
                                 : NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK;
        else if (by && strcmp(by, "month") == 0)
                q.kind = NMO__HUB__CELL_KIND__CELL_EVENT_MONTH;

        if (store_open(store, &an) < 0)
                return ANALYST_EXIT_FAIL;
        r = cells_collect(an, &q, &l);
        if (r < 0) {
                ret = store_read_failed(store, r, l.bad);
                goto out;
        }
        if (l.n) /* l.v is NULL when nothing matched */
                qsort(l.v, l.n, sizeof(*l.v), cell_cmp);
        if (fmt == OUT_JSON) {
                r = cells_print_json(&l);
        } else if (fmt == OUT_CSV) {
                r = cells_print_csv(&l);
        } else if (l.n == 0) {
                fputs("no cells match\n", stderr);
        } else {
                r = cells_print_table(&l);
        }
        if (r < 0) {
                ret = fail("out of memory");
                goto out;
        }
        warn_guarded(l.guarded);
        ret = finish_output();
out:
        cell_list_clear(&l);
        hub_analytics_free(an);
        return ret;
}

/* ---- alerts ---- */

struct alert {
        char *id, *rule, *material, *event, *level, *period, *window_start, *window_end;
        char *issued, *summary;
        uint32_t revision, reporters, reports;
        bool has_baseline;
        double baseline;
};

struct alert_list {
        struct alert *v;
        size_t n, cap;
        int64_t since;
        char bad[160];
};

static void alert_clear(struct alert *a)
{
        free(a->id);
        free(a->rule);
        free(a->material);
        free(a->event);
        free(a->level);
        free(a->period);
        free(a->window_start);
        free(a->window_end);
        free(a->issued);
        free(a->summary);
        memset(a, 0, sizeof(*a));
}

static void alert_list_clear(struct alert_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                alert_clear(&l->v[i]);
        free(l->v);
        memset(l, 0, sizeof(*l));
}

/* Copies s (NULL and "" stay NULL). */
NMO_WUR static int dup_opt(char **dst, const char *s)
{
        *dst = NULL;
        if (!s || !*s)
                return 0;
        *dst = strdup(s);
        return *dst ? 0 : -ENOMEM;
}

/* What is wrong with a stored alert, or NULL when it is well formed. The
 * signature is the members' to verify; here the bytes must decode into what
 * the hub signs. */
static const char *alert_problem(const uint8_t *buf, size_t len, const Nmo__AlertBody *b)
{
        Nmo__SignedAlert *sa;
        bool signed_ok;
        int64_t day;

        if (len > ALERT_MAX)
                return "larger than an alert can be";
        sa = nmo__signed_alert__unpack(NULL, len, buf);
        signed_ok = sa && sa->has_signature && sa->signature.len == crypto_sign_BYTES;
        if (sa)
                nmo__signed_alert__free_unpacked(sa, NULL);
        if (!signed_ok)
                return "no signature";
        if (!b->has_version || b->version != 1)
                return "unknown version";
        if (!b->id || !*b->id || !b->rule || !*b->rule || !b->material || !*b->material ||
            !b->level || !*b->level)
                return "id, rule, material or level missing";
        if (analyst_parse_date(b->issued, &day) < 0)
                return "no valid issued date";
        return NULL;
}

static int collect_alert(const uint8_t *buf, size_t len, const Nmo__AlertBody *b,
                         void *userdata)
{
        struct alert_list *l = userdata;
        const char *problem = alert_problem(buf, len, b);
        struct alert *a;
        int64_t day;
        int r;

        if (problem) {
                char *id = term_safe(b->id ? b->id : "");

                snprintf(l->bad, sizeof(l->bad), "an alert (id '%.40s') with %s",
                         id ? id : "?", problem);
                free(id);
                return -EBADMSG;
        }
        if (analyst_parse_date(b->issued, &day) < 0 || day < l->since)
                return 0;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 32;
                struct alert *v = realloc(l->v, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        a = &l->v[l->n++];
        memset(a, 0, sizeof(*a));
        a->revision = b->has_revision ? b->revision : 0;
        a->reporters = b->has_reporters ? b->reporters : 0;
        a->reports = b->has_reports ? b->reports : 0;
        a->has_baseline = b->has_baseline;
        a->baseline = b->baseline;
        r = dup_opt(&a->id, b->id);
        if (r == 0)
                r = dup_opt(&a->rule, b->rule);
        if (r == 0)
                r = dup_opt(&a->material, b->material);
        if (r == 0)
                r = dup_opt(&a->event, b->event);
        if (r == 0)
                r = dup_opt(&a->level, b->level);
        if (r == 0)
                r = dup_opt(&a->period, b->period);
        if (r == 0)
                r = dup_opt(&a->window_start, b->window_start);
        if (r == 0)
                r = dup_opt(&a->window_end, b->window_end);
        if (r == 0)
                r = dup_opt(&a->issued, b->issued);
        if (r == 0)
                r = dup_opt(&a->summary, b->summary);
        return r;
}

static int strcmp_null(const char *a, const char *b)
{
        return strcmp(a ? a : "", b ? b : "");
}

static int level_rank(const char *level)
{
        return level && strcmp(level, "critical") == 0 ? 0 : 1;
}

/* Newest issued first, then newest period, critical before warning, then by
 * material, rule and event (the id last, for a stable order). */
static int alert_cmp(const void *pa, const void *pb)
{
        const struct alert *a = pa, *b = pb;
        int r = strcmp_null(b->issued, a->issued);

        if (r == 0)
                r = strcmp_null(b->period, a->period);
        if (r == 0)
                r = level_rank(a->level) - level_rank(b->level);
        if (r == 0)
                r = strcmp_null(a->material, b->material);
        if (r == 0)
                r = strcmp_null(a->rule, b->rule);
        if (r == 0)
                r = strcmp_null(a->event, b->event);
        if (r == 0)
                r = strcmp_null(a->id, b->id);
        return r;
}

static json_object *alert_json(const void *item)
{
        const struct alert *a = item;
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_object_object_add(o, "id", json_object_new_string(a->id));
        json_object_object_add(o, "revision", json_object_new_int64(a->revision));
        json_object_object_add(o, "rule", json_object_new_string(a->rule));
        json_object_object_add(o, "material", json_object_new_string(a->material));
        json_object_object_add(o, "event", json_str_or_null(a->event));
        json_object_object_add(o, "level", json_object_new_string(a->level));
        json_object_object_add(o, "period", json_str_or_null(a->period));
        json_object_object_add(o, "window_start", json_str_or_null(a->window_start));
        json_object_object_add(o, "window_end", json_str_or_null(a->window_end));
        json_object_object_add(o, "issued", json_object_new_string(a->issued));
        json_object_object_add(o, "summary", json_str_or_null(a->summary));
        json_object_object_add(o, "reporters",
                               a->reporters ? json_object_new_int64(a->reporters) : NULL);
        json_object_object_add(o, "reports",
                               a->reports ? json_object_new_int64(a->reports) : NULL);
        if (a->has_baseline) {
                char num[32];

                snprintf(num, sizeof(num), "%.6g", a->baseline);
                json_object_object_add(o, "baseline", json_object_new_double_s(a->baseline, num));
        }
        return o;
}

NMO_WUR static int alerts_print_json(const struct alert_list *l)
{
        return print_json_array(l->v, l->n, sizeof(*l->v), alert_json);
}

static void alerts_print_csv(const struct alert_list *l)
{
        static const char *const head[] = { "id", "revision", "rule", "material", "event",
                                            "level", "period", "window_start", "window_end",
                                            "issued", "summary", "reporters", "reports",
                                            "baseline" };

        csv_header(stdout, head, NMO_ARRAY_SIZE(head));
        fputc('\n', stdout);
        for (size_t i = 0; i < l->n; i++) {
                const struct alert *a = &l->v[i];

                csv_field(stdout, a->id, true);
                csv_u64(stdout, a->revision);
                csv_field(stdout, a->rule, false);
                csv_field(stdout, a->material, false);
                csv_field(stdout, a->event, false);
                csv_field(stdout, a->level, false);
                csv_field(stdout, a->period, false);
                csv_field(stdout, a->window_start, false);
                csv_field(stdout, a->window_end, false);
                csv_field(stdout, a->issued, false);
                csv_field(stdout, a->summary, false);
                if (a->reporters)
                        csv_u64(stdout, a->reporters);
                else
                        fputc(',', stdout);
                if (a->reports)
                        csv_u64(stdout, a->reports);
                else
                        fputc(',', stdout);
                if (a->has_baseline)
                        printf(",%.6g", a->baseline);
                else
                        fputc(',', stdout);
                fputc('\n', stdout);
        }
}

NMO_WUR static int alerts_print_table(const struct alert_list *l)
{
        static const char *const head[] = { "ISSUED", "LEVEL", "RULE", "MATERIAL", "EVENT",
                                            "PERIOD/WINDOW", "SUMMARY" };
        struct table t;
        int r = 0;

        table_init(&t, head, "lllllll", NMO_ARRAY_SIZE(head));
        for (size_t i = 0; r == 0 && i < l->n; i++) {
                const struct alert *a = &l->v[i];
                bool window = a->window_start && a->window_end &&
                              !(strcmp_null(a->window_start, a->period) == 0 &&
                                strcmp_null(a->window_end, a->period) == 0);

                r = table_row(&t);
                if (r == 0)
                        r = table_set(&t, 0, "%s", a->issued);
                if (r == 0)
                        r = table_set(&t, 1, "%s", a->level);
                if (r == 0)
                        r = table_set(&t, 2, "%s", a->rule);
                if (r == 0)
                        r = table_set(&t, 3, "%s", a->material);
                if (r == 0)
                        r = table_set(&t, 4, "%s", a->event ? a->event : "-");
                if (r == 0 && window)
                        r = table_set(&t, 5, "%s (%s..%s)", a->period ? a->period : "-",
                                      a->window_start, a->window_end);
                else if (r == 0)
                        r = table_set(&t, 5, "%s", a->period ? a->period : "-");
                if (r == 0)
                        r = table_set(&t, 6, "%s", a->summary ? a->summary : "");
        }
        if (r == 0)
                r = table_print(&t, stdout);
        table_free(&t);
        return r;
}

static const char alerts_help[] =
        "Usage: nmo-analyst --store DIR alerts [OPTIONS]\n"
        "\n"
        "Lists the alerts the hub issued to members (the latest revision of each),\n"
        "newest first; within a day critical before warning, then by material. Every\n"
        "alert rests on released figures only.\n"
        "\n"
        "Options:\n"
        "  --since WHEN   only alerts issued on or after WHEN: a date (YYYY-MM-DD), or\n"
        "                 the first day of an ISO week (YYYY-Www) or month (YYYY-MM)\n"
        "  --json         a JSON array, one object per alert\n"
        "  --csv          CSV (RFC 4180) with a header row\n"
        "  --store DIR    the analytics store, HUB_DIR/analytics (also accepted before\n"
        "                 the command)\n"
        "  -h, --help     this help\n"
        "\n"
        "Columns:\n"
        "  ISSUED         the hub's day of issue (never a finer time)\n"
        "  LEVEL          warning or critical\n"
        "  RULE           severity (many high or critical reports), surge (reports\n"
        "                 well above the baseline), new-restriction (a trade measure)\n"
        "  MATERIAL       material id\n"
        "  EVENT          event type id, or - for material-wide rules\n"
        "  PERIOD/WINDOW  ISO week of the trigger, and the weeks the rule looked at\n"
        "  SUMMARY        one sentence\n"
        "\n"
        "JSON and CSV: id, revision, rule, material, event (null when material-wide),\n"
        "level, period, window_start, window_end, issued, summary, reporters and\n"
        "reports (the released figures behind the alert; null when the rule uses\n"
        "none), baseline (surge: mean weekly reports over the baseline weeks; only\n"
        "when present).\n"
        "\n"
        "The signatures are for members to verify; this command checks that every\n"
        "stored alert decodes and fails on one that does not.\n"
        "\n"
        DISCLOSURE_RULE
        "\n"
        "Exit status: 0 success, also when no alert matches; 1 failure; 2 usage error.\n";

static int cmd_alerts(int argc, char **argv, const char *store)
{
        static const struct option opts[] = {
                { "store", required_argument, NULL, OPT_STORE },
                { "since", required_argument, NULL, OPT_SINCE },
                { "json", no_argument, NULL, OPT_JSON },
                { "csv", no_argument, NULL, OPT_CSV },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        struct hub_analytics *an = NULL;
        struct alert_list l;
        enum out_format fmt = OUT_TABLE;
        const char *since = NULL;
        int c, r, ret = ANALYST_EXIT_FAIL;

        memset(&l, 0, sizeof(l));
        l.since = INT64_MIN;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case OPT_STORE:
                        store = optarg;
                        break;
                case OPT_SINCE:
                        since = optarg;
                        break;
                case OPT_JSON:
                case OPT_CSV:
                        if (!set_format("alerts", &fmt, c == OPT_JSON ? OUT_JSON : OUT_CSV))
                                return ANALYST_EXIT_USAGE;
                        break;
                case 'h':
                        fputs(alerts_help, stdout);
                        return ANALYST_EXIT_OK;
                default:
                        fputs("Try 'nmo-analyst alerts --help'.\n", stderr);
                        return ANALYST_EXIT_USAGE;
                }
        }
        if (optind < argc)
                return analyst_usage_error("alerts", "unexpected argument '%s'", argv[optind]);
        if (since && parse_bound(since, false, &l.since) < 0)
                return analyst_usage_error("alerts", "--since '%s' is not a date (YYYY-MM-DD), "
                                           "ISO week (YYYY-Www) or month (YYYY-MM)", since);
        if (!check_store("alerts", store))
                return ANALYST_EXIT_USAGE;
        if (store_open(store, &an) < 0)
                return ANALYST_EXIT_FAIL;
        r = hub_analytics_foreach_alert(an, collect_alert, &l);
        if (r < 0) {
                ret = store_read_failed(store, r, l.bad[0] ? l.bad : "an alert that does not "
                                                                     "decode");
                goto out;
        }
        if (l.n) /* l.v is NULL when nothing matched */
                qsort(l.v, l.n, sizeof(*l.v), alert_cmp);
        if (fmt == OUT_JSON)
                r = alerts_print_json(&l);
        else if (fmt == OUT_CSV)
                alerts_print_csv(&l);
        else if (l.n == 0)
                fputs("no alerts match\n", stderr);
        else
                r = alerts_print_table(&l);
        if (r < 0) {
                ret = fail("out of memory");
                goto out;
        }
        ret = finish_output();
out:
        alert_list_clear(&l);
        hub_analytics_free(an);
        return ret;
}

/* ---- trend ---- */

struct newest_ctx {
        int64_t newest;
        bool any;
        char bad[160];
};

static int find_newest_week(const Nmo__Hub__Cell *c, void *userdata)
{
        struct newest_ctx *x = userdata;
        int64_t first, last;
        int r;

        if (!is_week_kind(c->kind))
                return 0;
        r = cell_period(c, &first, &last, x->bad, sizeof(x->bad));
        if (r < 0)
                return r;
        if (!x->any || first > x->newest)
                x->newest = first;
        x->any = true;
        return 0;
}

/* The bar for value of max, TREND_BAR_WIDTH columns wide at most, in eighths
 * of a block with UTF-8, in '#' without; at least one mark for any value. */
static void print_bar(uint32_t value, uint32_t max, bool utf8)
{
        static const char *const eighths[] = { "", "▏", "▎", "▍", "▌", "▋", "▊", "▉" };

        if (!value || !max)
                return;
        if (utf8) {
                uint64_t e = ((uint64_t)value * TREND_BAR_WIDTH * 8 + max / 2) / max;

                if (e == 0)
                        e = 1;
                for (uint64_t i = 0; i < e / 8; i++)
                        fputs("█", stdout);
                fputs(eighths[e % 8], stdout);
        } else {
                uint64_t n = ((uint64_t)value * TREND_BAR_WIDTH + max / 2) / max;

                if (n == 0)
                        n = 1;
                for (uint64_t i = 0; i < n; i++)
                        fputc('#', stdout);
        }
        fputc(' ', stdout);
}

static const char trend_help[] =
        "Usage: nmo-analyst --store DIR trend --material ID [OPTIONS]\n"
        "\n"
        "Charts the reports per ISO week about one material, all event types together\n"
        "(the material roll-up cells), over the last N weeks up to the newest week in\n"
        "the store (this week when the store is empty), oldest first:\n"
        "\n"
        "  2026-W47  ██████████████ 7 (4 reporters)\n"
        "  2026-W48  ████████████████████████ 12 (5 reporters)\n"
        "\n"
        "A suppressed week shows 'x suppressed', a week without reports '·'. The bars\n"
        "use UTF-8 block characters when LC_ALL, LC_CTYPE or LANG names a UTF-8 locale,\n"
        "and '#' and '.' otherwise.\n"
        "\n"
        "Options:\n"
        "  --material ID   the material (required; 'nmo-analyst materials' lists them)\n"
        "  --weeks N       how many weeks, 1 to 520 (default 12)\n"
        "  --json          a JSON array, oldest week first, of {period, status\n"
        "                  (released, suppressed, none), reports, reporters}; reports\n"
        "                  and reporters are null unless released\n"
        "  --store DIR     the analytics store, HUB_DIR/analytics (also accepted\n"
        "                  before the command)\n"
        "  -h, --help      this help\n"
        "\n"
        DISCLOSURE_RULE
        "\n"
        "Exit status: 0 success; 1 failure; 2 usage error, including an unknown\n"
        "material.\n";

static int cmd_trend(int argc, char **argv, const char *store)
{
        static const struct option opts[] = {
                { "store", required_argument, NULL, OPT_STORE },
                { "material", required_argument, NULL, OPT_MATERIAL },
                { "weeks", required_argument, NULL, OPT_WEEKS },
                { "json", no_argument, NULL, OPT_JSON },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        struct cell_query q = { NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK, NULL, NULL, NULL,
                                INT64_MIN, INT64_MAX };
        struct hub_analytics *an = NULL;
        struct newest_ctx newest;
        struct cell_list l;
        json_object *arr = NULL;
        uint32_t weeks = TREND_WEEKS_DEFAULT, max = 0;
        bool json = false, utf8 = utf8_locale();
        char first_week[PERIOD_MAX], last_week[PERIOD_MAX];
        int c, r, ret = ANALYST_EXIT_FAIL;

        memset(&l, 0, sizeof(l));
        memset(&newest, 0, sizeof(newest));
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case OPT_STORE:
                        store = optarg;
                        break;
                case OPT_MATERIAL:
                        q.material = optarg;
                        break;
                case OPT_WEEKS:
                        if (util_parse_u32(optarg, 1, TREND_WEEKS_MAX, &weeks) < 0)
                                return analyst_usage_error("trend", "--weeks takes a whole "
                                                           "number from 1 to %d, not '%s'",
                                                           TREND_WEEKS_MAX, optarg);
                        break;
                case OPT_JSON:
                        json = true;
                        break;
                case 'h':
                        fputs(trend_help, stdout);
                        return ANALYST_EXIT_OK;
                default:
                        fputs("Try 'nmo-analyst trend --help'.\n", stderr);
                        return ANALYST_EXIT_USAGE;
                }
        }
        if (optind < argc)
                return analyst_usage_error("trend", "unexpected argument '%s'", argv[optind]);
        if (!q.material)
                return analyst_usage_error("trend", "--material ID is required");
        if (!check_material("trend", q.material))
                return ANALYST_EXIT_USAGE;
        if (!check_store("trend", store))
                return ANALYST_EXIT_USAGE;
        if (store_open(store, &an) < 0)
                return ANALYST_EXIT_FAIL;
        r = hub_analytics_foreach_cell(an, NULL, find_newest_week, &newest);
        if (r < 0) {
                ret = store_read_failed(store, r, newest.bad);
                goto out;
        }
        if (!newest.any) {
                int64_t now = today();

                newest.newest = now - weekday(now);
        }
        q.to = newest.newest + 6;
        q.from = newest.newest - (int64_t)(weeks - 1) * 7;
        r = cells_collect(an, &q, &l);
        if (r < 0) {
                ret = store_read_failed(store, r, l.bad);
                goto out;
        }
        for (size_t i = 0; i < l.n; i++)
                if (l.v[i].suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE &&
                    l.v[i].reports > max)
                        max = l.v[i].reports;
        analyst_week_of(q.from, first_week, sizeof(first_week));
        analyst_week_of(newest.newest, last_week, sizeof(last_week));
        if (json) {
                arr = json_object_new_array();
                if (!arr) {
                        ret = fail("out of memory");
                        goto out;
                }
        } else {
                printf("%s (%s): reports per ISO week, %s to %s\n", q.material,
                       vocab_material(q.material)->name, first_week, last_week);
        }
        for (uint32_t w = 0; w < weeks; w++) {
                int64_t monday = q.from + (int64_t)w * 7;
                const struct cell *cell = NULL;
                char period[PERIOD_MAX];

                analyst_week_of(monday, period, sizeof(period));
                for (size_t i = 0; i < l.n && !cell; i++)
                        if (l.v[i].first_day == monday)
                                cell = &l.v[i];
                if (json) {
                        json_object *o = json_object_new_object();
                        bool released = cell && cell->suppression ==
                                                        NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;

                        if (!o || json_object_array_add(arr, o) < 0) {
                                json_object_put(o);
                                ret = fail("out of memory");
                                goto out;
                        }
                        json_object_object_add(o, "period", json_object_new_string(period));
                        json_object_object_add(o, "status", json_object_new_string(
                                                       !cell ? "none"
                                                       : released ? "released"
                                                                  : "suppressed"));
                        json_object_object_add(o, "reports", released
                                                       ? json_object_new_int64(cell->reports)
                                                       : NULL);
                        json_object_object_add(o, "reporters", released
                                                       ? json_object_new_int64(cell->reporters)
                                                       : NULL);
                        continue;
                }
                printf("%s  ", period);
                if (!cell) {
                        fputs(utf8 ? "·\n" : ".\n", stdout);
                } else if (cell->suppression != NMO__HUB__SUPPRESSION__SUPPRESSION_NONE) {
                        fputs("x suppressed\n", stdout);
                } else {
                        print_bar(cell->reports, max, utf8);
                        printf("%u (%u reporters)\n", cell->reports, cell->reporters);
                }
        }
        if (json) {
                if (print_json(arr) < 0) {
                        ret = fail("out of memory");
                        goto out;
                }
        } else {
                printf("\nx: suppressed (fewer than 3 reporting companies, or secondary "
                       "suppression); %s: no reports.\n", utf8 ? "·" : ".");
        }
        warn_guarded(l.guarded);
        ret = finish_output();
out:
        json_object_put(arr);
        cell_list_clear(&l);
        hub_analytics_free(an);
        return ret;
}

/* ---- materials ---- */

struct material_row {
        const struct vocab_entry *e;
        bool released, suppressed;  /* has a released / a suppressed week cell */
        int64_t released_day, suppressed_day;
        uint32_t reports;           /* of the newest released week */
        char released_period[PERIOD_MAX], suppressed_period[PERIOD_MAX];
};

struct materials_ctx {
        struct material_row *rows;
        size_t guarded;
        char bad[160];
};

static int material_activity(const Nmo__Hub__Cell *c, void *userdata)
{
        struct materials_ctx *x = userdata;
        const struct vocab_entry *e;
        struct material_row *m;
        int64_t first, last;
        int r;

        if (c->kind != NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK)
                return 0;
        e = vocab_material(c->material);
        if (!e)
                return 0; /* a material this build's vocabulary does not know */
        r = cell_period(c, &first, &last, x->bad, sizeof(x->bad));
        if (r < 0)
                return r;
        m = &x->rows[e - vocab_materials];
        if (cell_released(c, &x->guarded)) {
                if (!m->released || first > m->released_day) {
                        m->released = true;
                        m->released_day = first;
                        m->reports = c->has_reports ? c->reports : 0;
                        snprintf(m->released_period, sizeof(m->released_period), "%s",
                                 c->period);
                }
        } else if (!m->suppressed || first > m->suppressed_day) {
                m->suppressed = true;
                m->suppressed_day = first;
                snprintf(m->suppressed_period, sizeof(m->suppressed_period), "%s", c->period);
        }
        return 0;
}

static bool material_active(const struct material_row *m, int64_t *day)
{
        if (m->released)
                *day = m->released_day;
        else if (m->suppressed)
                *day = m->suppressed_day;
        return m->released || m->suppressed;
}

/* Active materials first, newest first; then the rest; ties by id. */
static int material_cmp(const void *pa, const void *pb)
{
        const struct material_row *a = pa, *b = pb;
        int64_t da = 0, db = 0;
        bool aa = material_active(a, &da), ab = material_active(b, &db);

        if (aa != ab)
                return aa ? -1 : 1;
        if (aa && da != db)
                return da > db ? -1 : 1;
        return strcmp(a->e->id, b->e->id);
}

static const char materials_help[] =
        "Usage: nmo-analyst --store DIR materials [OPTIONS]\n"
        "\n"
        "Lists every material of the vocabulary (the EU Critical Raw Materials Act's\n"
        "critical and strategic raw materials) with its latest activity: materials\n"
        "with reports first, newest first, then the others alphabetically.\n"
        "\n"
        "Options:\n"
        "  --json         a JSON array of {material, name, status (released,\n"
        "                 suppressed, none), period, reports}\n"
        "  --store DIR    the analytics store, HUB_DIR/analytics (also accepted before\n"
        "                 the command)\n"
        "  -h, --help     this help\n"
        "\n"
        "Columns:\n"
        "  MATERIAL   the id to use with --material\n"
        "  NAME       the name in the regulation\n"
        "  LATEST     the newest ISO week with a released roll-up cell (all event\n"
        "             types); when every week with reports was suppressed, the newest\n"
        "             of those; - when there were none\n"
        "  REPORTS    reports in that week, or 'suppressed'\n"
        "\n"
        DISCLOSURE_RULE
        "\n"
        "Exit status: 0 success; 1 failure; 2 usage error.\n";

static int cmd_materials(int argc, char **argv, const char *store)
{
        static const struct option opts[] = {
                { "store", required_argument, NULL, OPT_STORE },
                { "json", no_argument, NULL, OPT_JSON },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        static const char *const head[] = { "MATERIAL", "NAME", "LATEST", "REPORTS" };
        struct hub_analytics *an = NULL;
        struct materials_ctx x;
        struct table t;
        json_object *arr = NULL;
        bool json = false;
        int c, r, ret = ANALYST_EXIT_FAIL;

        memset(&x, 0, sizeof(x));
        table_init(&t, head, "lllr", NMO_ARRAY_SIZE(head));
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case OPT_STORE:
                        store = optarg;
                        break;
                case OPT_JSON:
                        json = true;
                        break;
                case 'h':
                        fputs(materials_help, stdout);
                        return ANALYST_EXIT_OK;
                default:
                        fputs("Try 'nmo-analyst materials --help'.\n", stderr);
                        return ANALYST_EXIT_USAGE;
                }
        }
        if (optind < argc)
                return analyst_usage_error("materials", "unexpected argument '%s'",
                                           argv[optind]);
        if (!check_store("materials", store))
                return ANALYST_EXIT_USAGE;
        x.rows = calloc(vocab_materials_count, sizeof(*x.rows));
        if (!x.rows)
                return fail("out of memory");
        for (size_t i = 0; i < vocab_materials_count; i++)
                x.rows[i].e = &vocab_materials[i];
        if (store_open(store, &an) < 0)
                goto out;
        r = hub_analytics_foreach_cell(an, NULL, material_activity, &x);
        if (r < 0) {
                ret = store_read_failed(store, r, x.bad);
                goto out;
        }
        qsort(x.rows, vocab_materials_count, sizeof(*x.rows), material_cmp);
        if (json) {
                arr = json_object_new_array();
                if (!arr) {
                        ret = fail("out of memory");
                        goto out;
                }
        }
        r = 0;
        for (size_t i = 0; r == 0 && i < vocab_materials_count; i++) {
                const struct material_row *m = &x.rows[i];

                if (json) {
                        json_object *o = json_object_new_object();

                        if (!o || json_object_array_add(arr, o) < 0) {
                                json_object_put(o);
                                r = -ENOMEM;
                                break;
                        }
                        json_object_object_add(o, "material", json_object_new_string(m->e->id));
                        json_object_object_add(o, "name", json_object_new_string(m->e->name));
                        json_object_object_add(o, "status", json_object_new_string(
                                                       m->released     ? "released"
                                                       : m->suppressed ? "suppressed"
                                                                       : "none"));
                        json_object_object_add(o, "period",
                                               m->released ? json_object_new_string(
                                                                     m->released_period)
                                               : m->suppressed ? json_object_new_string(
                                                                         m->suppressed_period)
                                                               : NULL);
                        json_object_object_add(o, "reports",
                                               m->released ? json_object_new_int64(m->reports)
                                                           : NULL);
                        continue;
                }
                r = table_row(&t);
                if (r == 0)
                        r = table_set(&t, 0, "%s", m->e->id);
                if (r == 0)
                        r = table_set(&t, 1, "%s", m->e->name);
                if (r == 0 && m->released) {
                        r = table_set(&t, 2, "%s", m->released_period);
                        if (r == 0)
                                r = table_set(&t, 3, "%u", m->reports);
                } else if (r == 0 && m->suppressed) {
                        r = table_set(&t, 2, "%s", m->suppressed_period);
                        if (r == 0)
                                r = table_set(&t, 3, "suppressed");
                } else if (r == 0) {
                        r = table_set(&t, 2, "-");
                }
        }
        if (r == 0)
                r = json ? print_json(arr) : table_print(&t, stdout);
        if (r < 0) {
                ret = fail("out of memory");
                goto out;
        }
        warn_guarded(x.guarded);
        ret = finish_output();
out:
        json_object_put(arr);
        table_free(&t);
        free(x.rows);
        hub_analytics_free(an);
        return ret;
}

/* ---- the command table ---- */

const struct analyst_command analyst_commands[] = {
        { "cells", cmd_cells, "released and suppressed cells: table, JSON or CSV" },
        { "alerts", cmd_alerts, "the alerts the hub issued" },
        { "trend", cmd_trend, "reports per week for one material, as a small chart" },
        { "materials", cmd_materials, "every material and its latest activity" },
};
const size_t analyst_commands_count = NMO_ARRAY_SIZE(analyst_commands);

const struct analyst_command *analyst_command_find(const char *name)
{
        for (size_t i = 0; i < analyst_commands_count; i++)
                if (strcmp(name, analyst_commands[i].name) == 0)
                        return &analyst_commands[i];
        return NULL;
}

const char analyst_help[] =
        "Usage: nmo-analyst --store DIR COMMAND [OPTIONS]\n"
        "\n"
        "Reads the GDN hub's analytics store: the figures that disclosure control\n"
        "released, and the alerts the hub issued. Nothing in it names or links to a\n"
        "member. The store is opened read-only, so this is safe while the hub runs.\n"
        "\n"
        "Commands:\n"
        "  cells      released and suppressed cells: table, JSON or CSV\n"
        "  alerts     the alerts the hub issued\n"
        "  trend      reports per week for one material, as a small chart\n"
        "  materials  every material and its latest activity\n"
        "\n"
        "Options:\n"
        "  --store DIR    the hub's analytics store, HUB_DIR/analytics (required; also\n"
        "                 accepted after the command). Analysts need to be in the\n"
        "                 group that owns it.\n"
        "  -h, --help     this help; 'nmo-analyst COMMAND --help' (or 'nmo-analyst\n"
        "                 help COMMAND') explains a command and its columns\n"
        "  -V, --version  print the version\n"
        "\n"
        DISCLOSURE_RULE
        "\n"
        "Exit status: 0 success (also when nothing matches), 1 failure (the store is\n"
        "missing, not an analytics store, unreadable or damaged), 2 usage error\n"
        "(unknown command or option, malformed date, unknown material, event type or\n"
        "country).\n";
