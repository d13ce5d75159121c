/* jsonl.c: JSON Lines into signals, with json-c. See jsonl.h. */
#include "jsonl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <sodium.h>

/* A signal object has no nesting; deeper input is refused early. */
#define JSONL_DEPTH 4

static const struct signal_field *field_named(const char *name)
{
        for (size_t i = 0; i < signal_fields_count; i++)
                if (strcmp(signal_fields[i].name, name) == 0)
                        return &signal_fields[i];
        return NULL;
}

static bool numeric_field(const char *name)
{
        return strcmp(name, "duration-days") == 0 || strcmp(name, "volume") == 0;
}

/* Sets one field from a JSON value; the value must be a string, or a whole
 * number for the numeric fields. */
static int set_value(struct signal *s, const char *key, struct json_object *val, char *err,
                     size_t errlen)
{
        char num[24];

        if (!field_named(key)) {
                util_set_err(err, errlen, "unknown key \"%.40s\"", key);
                return -EINVAL;
        }
        if (json_object_is_type(val, json_type_string)) {
                const char *text = json_object_get_string(val);

                if ((size_t)json_object_get_string_len(val) != strlen(text)) {
                        util_set_err(err, errlen, "%s: NUL character in the value", key);
                        return -EINVAL;
                }
                return signal_set(s, key, text, err, errlen);
        }
        if (numeric_field(key) && json_object_is_type(val, json_type_int)) {
                if (json_object_get_int64(val) < 0) {
                        util_set_err(err, errlen, "%s: must be a positive whole number", key);
                        return -EINVAL;
                }
                snprintf(num, sizeof(num), "%" PRIu64, json_object_get_uint64(val));
                return signal_set(s, key, num, err, errlen);
        }
        util_set_err(err, errlen, "%s: expected a string%s", key,
                numeric_field(key) ? " or a whole number" : "");
        return -EINVAL;
}

int jsonl_parse_line(const char *line, size_t len, struct signal *s, char *err, size_t errlen)
{
        struct json_tokener *tok = NULL;
        struct json_object *obj = NULL;
        char *copy = NULL;
        int r = -EINVAL;

        signal_init(s);
        if (len > JSONL_LINE_MAX) {
                util_set_err(err, errlen, "line longer than %d bytes", JSONL_LINE_MAX);
                return -EINVAL;
        }
        if (memchr(line, '\0', len)) {
                util_set_err(err, errlen, "NUL byte in the line");
                return -EINVAL;
        }
        /* json-c wants the terminating NUL in the length to finish the input. */
        copy = malloc(len + 1);
        tok = json_tokener_new_ex(JSONL_DEPTH);
        if (!copy || !tok) {
                util_set_err(err, errlen, "out of memory");
                r = -ENOMEM;
                goto out;
        }
        memcpy(copy, line, len);
        copy[len] = '\0';
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        obj = json_tokener_parse_ex(tok, copy, (int)len + 1);
        if (!obj) {
                util_set_err(err, errlen, "not valid JSON: %s",
                        json_tokener_error_desc(json_tokener_get_error(tok)));
                goto out;
        }
        if (!json_object_is_type(obj, json_type_object)) {
                util_set_err(err, errlen, "not a JSON object");
                goto out;
        }
        {
                json_object_object_foreach(obj, key, val) {
                        r = set_value(s, key, val, err, errlen);
                        if (r < 0)
                                goto out;
                }
        }
        r = signal_validate(s, err, errlen);
out:
        json_object_put(obj);
        json_tokener_free(tok);
        if (copy) {
                sodium_memzero(copy, len + 1);
                free(copy);
        }
        return r;
}

/* Splits input into lines across calls; shared by the buffer and FILE forms. */
struct splitter {
        const struct jsonl_callbacks *cb;
        char line[JSONL_LINE_MAX + 1];
        size_t len;             /* bytes of the current line kept */
        bool overlong;          /* the current line passed JSONL_LINE_MAX */
        bool pending;           /* a line has started */
        size_t lineno;          /* number of the current line */
        size_t good;
        size_t bad;
        bool too_many;
        int stop;               /* a callback's failure */
};

static void report(struct splitter *sp, const char *msg)
{
        sp->bad++;
        if (sp->cb->on_error)
                sp->cb->on_error(sp->cb->userdata, sp->lineno, msg);
}

static bool blank(const char *p, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
                        return false;
        return true;
}

static void end_line(struct splitter *sp)
{
        char err[256];
        struct signal s;
        size_t len = sp->len;
        int r;

        sp->pending = false;
        if (sp->overlong) {
                sp->overlong = false;
                sp->len = 0;
                snprintf(err, sizeof(err), "line longer than %d bytes", JSONL_LINE_MAX);
                report(sp, err);
                return;
        }
        sp->len = 0;
        if (len > 0 && sp->line[len - 1] == '\r')
                len--;
        if (blank(sp->line, len))
                return;
        r = jsonl_parse_line(sp->line, len, &s, err, sizeof(err));
        if (r == -ENOMEM)
                sp->stop = r;
        else if (r < 0)
                report(sp, err);
        else {
                sp->good++;
                if (sp->cb->on_signal) {
                        r = sp->cb->on_signal(sp->cb->userdata, sp->lineno, &s);
                        if (r < 0)
                                sp->stop = r;
                }
        }
        sodium_memzero(&s, sizeof(s));
}

/* Feeds n bytes; returns false once parsing must stop. */
static bool feed(struct splitter *sp, const char *data, size_t n)
{
        while (n > 0 && !sp->stop && !sp->too_many) {
                const char *nl = memchr(data, '\n', n);
                size_t take = nl ? (size_t)(nl - data) : n;

                if (!sp->pending) {
                        sp->pending = true;
                        sp->lineno++;
                        if (sp->lineno > JSONL_LINES_MAX) {
                                sp->too_many = true;
                                report(sp, "more than 100000 lines; split the file");
                                break;
                        }
                }
                if (!sp->overlong) {
                        /* One byte of slack for a '\r' before the newline. */
                        if (sp->len + take > JSONL_LINE_MAX + 1) {
                                sp->overlong = true;
                        } else {
                                memcpy(sp->line + sp->len, data, take);
                                sp->len += take;
                        }
                }
                data += take;
                n -= take;
                if (nl) {
                        if (sp->len == JSONL_LINE_MAX + 1 && sp->line[JSONL_LINE_MAX] != '\r')
                                sp->overlong = true;
                        end_line(sp);
                        data++;
                        n--;
                }
        }
        return !sp->stop && !sp->too_many;
}

static int finish(struct splitter *sp, size_t *count)
{
        int r;

        if (!sp->stop && !sp->too_many && sp->pending) {
                if (sp->len == JSONL_LINE_MAX + 1 && sp->line[JSONL_LINE_MAX] != '\r')
                        sp->overlong = true;
                end_line(sp);
        }
        if (count)
                *count = sp->good;
        if (sp->stop)
                r = sp->stop;
        else
                r = sp->bad ? -EINVAL : 0;
        sodium_memzero(sp->line, sizeof(sp->line));
        return r;
}

static struct splitter *splitter_new(const struct jsonl_callbacks *cb)
{
        struct splitter *sp = calloc(1, sizeof(*sp));

        if (sp)
                sp->cb = cb;
        return sp;
}

int jsonl_parse(const char *buf, size_t len, const struct jsonl_callbacks *cb, size_t *count)
{
        struct splitter *sp = splitter_new(cb);
        int r;

        if (!sp)
                return -ENOMEM;
        (void)feed(sp, buf, len);
        r = finish(sp, count);
        free(sp);
        return r;
}

int jsonl_parse_file(FILE *f, const struct jsonl_callbacks *cb, size_t *count)
{
        struct splitter *sp = splitter_new(cb);
        char buf[16384];
        int r = 0;

        if (!sp)
                return -ENOMEM;
        for (;;) {
                size_t n = fread(buf, 1, sizeof(buf), f);

                if (n > 0 && !feed(sp, buf, n))
                        break;
                if (n < sizeof(buf)) {
                        if (ferror(f))
                                r = -EIO;
                        break;
                }
        }
        sodium_memzero(buf, sizeof(buf));
        if (r == 0)
                r = finish(sp, count);
        else
                sodium_memzero(sp->line, sizeof(sp->line));
        free(sp);
        return r;
}
