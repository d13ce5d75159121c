/* test-analyst.c: nmo-analyst (analyst/) end to end. Builds an analytics
 * store in a temporary directory with cells of every kind (released, suppressed
 * by frequency and secondarily, a dominance-withheld volume, notes, countries,
 * months, a weekly series) and signed alerts, then runs the real nmo-analyst
 * binary (NMO_ANALYST) and checks its tables, JSON and CSV, its filters, its
 * refusals, and that it only reads: the data file is untouched and a writer
 * holding a transaction open does not stop it. The calendar helpers are also
 * tested directly. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <sodium.h>

#include "alert.h"
#include "analyst.h"
#include "analytics.h"
#include "date.h"
#include "keys.h"
#include "period.h"
#include "store.h"
#include "unit-tmp.h"
#include "vocab.h"

struct fixture {
        char dir[PATH_MAX];
        char store[PATH_MAX];   /* dir/analytics */
        char other[PATH_MAX];   /* a second temporary directory */
        const char *bin;
        struct analytics *an;
};

/* The two notes of the released gallium export-ban cell of 2026-W48: the
 * first needs quoting in CSV (comma and quotes), the second spans lines. */
static const char note1[] = "Port closed, \"again\", agents say";
static const char note2[] = "line one\nline two";

/* dir/name into buf. */
static void join(char *buf, size_t len, const char *dir, const char *name)
{
        int n = snprintf(buf, len, "%s/%s", dir, name);

        assert_true(n > 0 && (size_t)n < len);
}

/* ---- building the store ---- */

struct cell_spec {
        Nmo__Hub__CellKind kind;
        const char *material, *event, *country, *period;
        Nmo__Hub__Suppression suppression;
        bool final;
        uint32_t reporters, reports;
        Nmo__Hub__VolumeStatus volume_status;
        uint64_t volume_t;
        bool with_notes;
        bool values_anyway; /* a (broken) suppressed record that carries figures */
};

#define EW NMO__HUB__CELL_KIND__CELL_EVENT_WEEK
#define MW NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK
#define EM NMO__HUB__CELL_KIND__CELL_EVENT_MONTH
#define CW NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK
#define REL NMO__HUB__SUPPRESSION__SUPPRESSION_NONE
#define FREQ NMO__HUB__SUPPRESSION__SUPPRESSION_FREQUENCY
#define SEC NMO__HUB__SUPPRESSION__SUPPRESSION_SECONDARY
#define V_REL NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED
#define V_DOM NMO__HUB__VOLUME_STATUS__VOLUME_DOMINANCE
#define V_NONE NMO__HUB__VOLUME_STATUS__VOLUME_NOT_GIVEN

static const struct cell_spec cells[] = {
        /* event-week: 7 cells */
        { EW, "gallium", "export-ban", "", "2026-W48", REL, false, 5, 12, V_REL, 1200, true,
          false },
        { EW, "gallium", "strike", "", "2026-W48", FREQ, false, 2, 777, V_REL, 999, false, true },
        { EW, "gallium", "port-disruption", "", "2026-W48", SEC, false, 0, 0, V_NONE, 0, false,
          false },
        { EW, "gallium", "export-ban", "", "2026-W47", REL, true, 4, 7, V_DOM, 0, false, false },
        { EW, "germanium", "export-licensing", "", "2026-W46", REL, true, 3, 3, V_NONE, 0, false,
          false },
        { EW, "germanium", "export-ban", "", "2026-W40", REL, true, 3, 5, V_REL, 40, false, false },
        /* "released" with 2 reporters: a broken store; must be shown as suppressed */
        { EW, "tungsten", "strike", "", "2026-W45", REL, true, 2, 555, V_REL, 444, false, false },
        /* country-week: 2 cells */
        { CW, "gallium", "", "CN", "2026-W48", REL, false, 4, 9, V_REL, 800, false, false },
        { CW, "gallium", "", "RU", "2026-W48", FREQ, false, 0, 0, V_NONE, 0, false, false },
        /* event-month: 2 cells */
        { EM, "gallium", "export-ban", "", "2026-11", REL, false, 6, 19, V_REL, 2000, false,
          false },
        { EM, "gallium", "strike", "", "2026-10", SEC, true, 0, 0, V_NONE, 0, false, false },
        /* material-week: gallium W40..W48 without W42, W44 suppressed: 8 cells */
        { MW, "gallium", "", "", "2026-W40", REL, true, 3, 4, V_NONE, 0, false, false },
        { MW, "gallium", "", "", "2026-W41", REL, true, 5, 10, V_NONE, 0, false, false },
        { MW, "gallium", "", "", "2026-W43", REL, true, 4, 6, V_NONE, 0, false, false },
        { MW, "gallium", "", "", "2026-W44", FREQ, true, 0, 0, V_NONE, 0, false, false },
        { MW, "gallium", "", "", "2026-W45", REL, true, 3, 3, V_NONE, 0, false, false },
        { MW, "gallium", "", "", "2026-W46", REL, true, 6, 15, V_NONE, 0, false, false },
        { MW, "gallium", "", "", "2026-W47", REL, true, 4, 7, V_NONE, 0, false, false },
        { MW, "gallium", "", "", "2026-W48", REL, false, 7, 20, V_REL, 2100, false, false },
        /* material-week: germanium 2, tungsten 1 (suppressed only) */
        { MW, "germanium", "", "", "2026-W40", REL, true, 3, 5, V_NONE, 0, false, false },
        { MW, "germanium", "", "", "2026-W46", REL, true, 3, 3, V_NONE, 0, false, false },
        { MW, "tungsten", "", "", "2026-W45", FREQ, true, 0, 0, V_NONE, 0, false, false },
};

#define N_EVENT_WEEK 7
#define N_MATERIAL_WEEK 11

static void put_cell(MDB_txn *txn, struct analytics *an, const struct cell_spec *s)
{
        Nmo__Hub__Cell c = NMO__HUB__CELL__INIT;
        uint32_t severity[4], status[5] = { 0 }, share[6] = { 0 };
        char *notes[] = { (char *)note1, (char *)note2 };
        uint8_t key[ANALYTICS_KEY_MAX], *buf;
        size_t klen;
        MDB_val k, v;

        c.has_kind = 1;
        c.kind = s->kind;
        c.material = (char *)s->material;
        c.event = (char *)s->event;
        c.country = (char *)s->country;
        c.period = (char *)s->period;
        c.has_suppression = 1;
        c.suppression = s->suppression;
        c.has_final = 1;
        c.final = s->final;
        if (s->suppression == REL || s->values_anyway) {
                /* severity: the reports spread low..critical, the rest high */
                severity[0] = s->reports / 6;
                severity[1] = s->reports / 4;
                severity[3] = s->reports / 6;
                severity[2] = s->reports - severity[0] - severity[1] - severity[3];
                status[3] = s->reports;
                share[1] = s->reports;
                c.has_reporters = 1;
                c.reporters = s->reporters;
                c.has_reports = 1;
                c.reports = s->reports;
                c.n_severity = 4;
                c.severity = severity;
                c.n_status = 5;
                c.status = status;
                c.n_share = 6;
                c.share = share;
                c.has_volume_status = 1;
                c.volume_status = s->volume_status;
                if (s->volume_status == V_REL) {
                        c.has_volume_t = 1;
                        c.volume_t = s->volume_t;
                }
                if (s->with_notes) {
                        c.n_notes = 2;
                        c.notes = notes;
                }
        }
        assert_int_equal(analytics_cell_key(&c, key, &klen), 0);
        v.mv_size = nmo__hub__cell__get_packed_size(&c);
        buf = malloc(v.mv_size);
        assert_non_null(buf);
        nmo__hub__cell__pack(&c, buf);
        v.mv_data = buf;
        k.mv_size = klen;
        k.mv_data = key;
        assert_int_equal(mdb_put(txn, an->cells, &k, &v, 0), 0);
        free(buf);
}

struct alert_spec {
        const char *id, *rule, *material, *event, *level, *period, *wstart, *wend, *issued;
        const char *summary;
        uint32_t reporters, reports;
        bool has_baseline;
        double baseline;
};

static const struct alert_spec alerts[] = {
        { "0123456789abcdef0123456789abcdef", "severity", "gallium", "", "critical", "2026-W48",
          "2026-W47", "2026-W48", "2026-11-27",
          "7 companies report high or critical severity for gallium, within 14 days", 7, 0,
          false, 0 },
        { "fedcba9876543210fedcba9876543210", "surge", "gallium", "", "warning", "2026-W46",
          "2026-W42", "2026-W46", "2026-11-19",
          "15 reports for gallium in 2026-W46 against a mean of 5.2 a week", 6, 15, true, 5.25 },
        { "00000000000000000000000000000001", "new-restriction", "germanium",
          "export-licensing", "warning", "2026-W46", "2026-W42", "2026-W46", "2026-11-18",
          "3 companies report a new export-licensing affecting germanium", 3, 3, false, 0 },
};

static void put_alert(MDB_txn *txn, struct analytics *an, const struct keys_secret *hub,
                      const struct alert_spec *s)
{
        Nmo__AlertBody b = NMO__ALERT_BODY__INIT;
        uint8_t *sig = NULL;
        size_t len = 0;
        MDB_val k, v;

        b.has_version = 1;
        b.version = 1;
        b.id = (char *)s->id;
        b.has_revision = 1;
        b.revision = 1;
        b.rule = (char *)s->rule;
        b.material = (char *)s->material;
        b.event = (char *)s->event;
        b.level = (char *)s->level;
        b.period = (char *)s->period;
        b.window_start = (char *)s->wstart;
        b.window_end = (char *)s->wend;
        b.issued = (char *)s->issued;
        b.summary = (char *)s->summary;
        if (s->reporters) {
                b.has_reporters = 1;
                b.reporters = s->reporters;
        }
        if (s->reports) {
                b.has_reports = 1;
                b.reports = s->reports;
        }
        b.has_baseline = s->has_baseline;
        b.baseline = s->baseline;
        assert_int_equal(alert_sign(&b, hub->sign_sk, &sig, &len), 0);
        k.mv_size = strlen(s->id);
        k.mv_data = (void *)s->id;
        v.mv_size = len;
        v.mv_data = sig;
        assert_int_equal(mdb_put(txn, an->alerts, &k, &v, 0), 0);
        free(sig);
}

static int group_setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        struct keys_secret *hub = NULL;
        MDB_txn *txn;

        assert_non_null(f);
        assert_true(sodium_init() >= 0);
        f->bin = getenv("NMO_ANALYST");
        assert_non_null(unit_tmp_make(f->dir, sizeof(f->dir), "analyst"));
        assert_non_null(unit_tmp_make(f->other, sizeof(f->other), "analyst-other"));
        join(f->store, sizeof(f->store), f->dir, "analytics");
        assert_int_equal(analytics_open(&f->an, f->store, false), 0);
        assert_int_equal(keys_generate(&hub, KEYS_ROLE_HUB, NULL), 0);
        assert_int_equal(mdb_txn_begin(f->an->env, NULL, 0, &txn), 0);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(cells); i++)
                put_cell(txn, f->an, &cells[i]);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(alerts); i++)
                put_alert(txn, f->an, hub, &alerts[i]);
        assert_int_equal(mdb_txn_commit(txn), 0);
        keys_free(hub);
        *state = f;
        return 0;
}

static int group_teardown(void **state)
{
        struct fixture *f = *state;

        analytics_free(f->an);
        /* NMO_TEST_KEEP=1 keeps the store, to try nmo-analyst on it by hand. */
        if (!getenv("NMO_TEST_KEEP")) {
                (void)unit_tmp_remove(f->dir);
                (void)unit_tmp_remove(f->other);
        } else {
                fprintf(stderr, "kept %s\n", f->dir);
        }
        free(f);
        return 0;
}

/* ---- running the binary ---- */

static char *slurp(const char *path)
{
        char *data = NULL;
        size_t len = 0;

        assert_int_equal(util_read_file(path, 16 << 20, &data, &len), 0);
        return data;
}

/* Runs nmo-analyst with the arguments (NULL-terminated) under LC_ALL=locale
 * (C when NULL); captures stdout and stderr. Returns the exit status. */
static int run_env(struct fixture *f, const char *locale, char **out, char **err, ...)
{
        const char *argv[40];
        char out_path[PATH_MAX], err_path[PATH_MAX];
        size_t n = 0;
        va_list ap;
        pid_t pid;
        int status;

        argv[n++] = f->bin;
        va_start(ap, err);
        for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *)) {
                assert_true(n < NMO_ARRAY_SIZE(argv) - 1);
                argv[n++] = a;
        }
        va_end(ap);
        argv[n] = NULL;
        join(out_path, sizeof(out_path), f->other, "stdout");
        join(err_path, sizeof(err_path), f->other, "stderr");
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

                if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
                        _exit(127);
                unsetenv("LC_CTYPE");
                unsetenv("LANG");
                setenv("LC_ALL", locale ? locale : "C", 1);
                execv(f->bin, (char *const *)argv);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        *out = slurp(out_path);
        *err = slurp(err_path);
        return WEXITSTATUS(status);
}

#define run(f, out, err, ...) run_env(f, NULL, out, err, __VA_ARGS__, (const char *)NULL)

/* Runs and parses stdout as JSON; asserts exit 0. */
static json_object *run_json(struct fixture *f, ...)
{
        const char *args[40];
        size_t n = 0;
        char *out, *err;
        json_object *j;
        va_list ap;

        va_start(ap, f);
        for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *))
                args[n++] = a;
        va_end(ap);
        for (size_t i = n; i < NMO_ARRAY_SIZE(args); i++)
                args[i] = NULL;
        assert_int_equal(run_env(f, NULL, &out, &err, args[0], args[1], args[2], args[3],
                                 args[4], args[5], args[6], args[7], args[8], args[9], args[10],
                                 args[11], (const char *)NULL),
                         0);
        j = json_tokener_parse(out);
        if (!j)
                fprintf(stderr, "not JSON: %s\n", out);
        assert_non_null(j);
        free(out);
        free(err);
        return j;
}

#define JSON(f, ...) run_json(f, __VA_ARGS__, (const char *)NULL)

static bool has_keys_exactly(json_object *o, const char *const *keys, size_t n)
{
        if ((size_t)json_object_object_length(o) != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!json_object_object_get_ex(o, keys[i], NULL))
                        return false;
        return true;
}

static const char *jstr(json_object *o, const char *key)
{
        json_object *v = NULL;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static int64_t jint(json_object *o, const char *key)
{
        json_object *v = NULL;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return -1;
        return json_object_get_int64(v);
}

static bool jnull(json_object *o, const char *key)
{
        json_object *v = (json_object *)1;

        return json_object_object_get_ex(o, key, &v) && v == NULL;
}

/* The object of a JSON array with these period, material and event/country. */
static json_object *find_cell(json_object *a, const char *period, const char *material,
                              const char *what)
{
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *o = json_object_array_get_idx(a, i);
                const char *e = jstr(o, "event") ? jstr(o, "event") : jstr(o, "country");

                if (strcmp(jstr(o, "period"), period) == 0 &&
                    strcmp(jstr(o, "material"), material) == 0 &&
                    ((!what && !e) || (what && e && strcmp(what, e) == 0)))
                        return o;
        }
        return NULL;
}

/* ---- a small RFC 4180 reader ---- */

struct csv {
        char **field;  /* all fields, row after row */
        size_t *width; /* fields per row */
        size_t nfields, nrows;
        bool open;     /* the last row still takes fields */
};

static void csv_free(struct csv *c)
{
        for (size_t i = 0; i < c->nfields; i++)
                free(c->field[i]);
        free(c->field);
        free(c->width);
}

static void csv_push(struct csv *c, const char *buf, size_t len, bool end_row)
{
        c->field = realloc(c->field, (c->nfields + 1) * sizeof(*c->field));
        assert_non_null(c->field);
        c->field[c->nfields] = strndup(buf, len);
        assert_non_null(c->field[c->nfields]);
        c->nfields++;
        if (!c->open) {
                c->width = realloc(c->width, (c->nrows + 1) * sizeof(*c->width));
                assert_non_null(c->width);
                c->width[c->nrows++] = 0;
                c->open = true;
        }
        c->width[c->nrows - 1]++;
        if (end_row)
                c->open = false;
}

/* Parses s; returns 0, or -1 on a malformed quote. */
static int csv_parse(const char *s, struct csv *c)
{
        char *buf = malloc(strlen(s) + 1);
        size_t len = 0;
        bool quoted = false, was_quoted = false, any = false;

        memset(c, 0, sizeof(*c));
        assert_non_null(buf);
        for (const char *p = s; *p; p++) {
                if (quoted) {
                        if (*p == '"' && p[1] == '"') {
                                buf[len++] = '"';
                                p++;
                        } else if (*p == '"') {
                                quoted = false;
                        } else {
                                buf[len++] = *p;
                        }
                        continue;
                }
                any = true;
                if (*p == '"') {
                        if (len > 0 || was_quoted) {
                                free(buf);
                                return -1; /* a quote inside an unquoted field */
                        }
                        quoted = was_quoted = true;
                } else if (*p == ',') {
                        csv_push(c, buf, len, false);
                        len = 0;
                        was_quoted = false;
                } else if (*p == '\n' || (*p == '\r' && p[1] == '\n')) {
                        if (*p == '\r')
                                p++;
                        csv_push(c, buf, len, true);
                        len = 0;
                        was_quoted = any = false;
                } else {
                        if (was_quoted) {
                                free(buf);
                                return -1; /* text after a closing quote */
                        }
                        buf[len++] = *p;
                }
        }
        if (quoted) {
                free(buf);
                return -1;
        }
        if (any)
                csv_push(c, buf, len, true);
        free(buf);
        return 0;
}

/* Field col of row, or NULL. */
static const char *csv_get(const struct csv *c, size_t row, size_t col)
{
        size_t off = 0;

        for (size_t r = 0; r < row; r++)
                off += c->width[r];
        return col < c->width[row] ? c->field[off + col] : NULL;
}

static size_t csv_col(const struct csv *c, const char *name)
{
        for (size_t i = 0; i < c->width[0]; i++)
                if (strcmp(c->field[i], name) == 0)
                        return i;
        fail_msg("no CSV column %s", name);
        return 0;
}

/* ---- tests ---- */

static void test_calendar(void **state)
{
        int64_t first, last, day;
        bool week;
        char buf[16];

        (void)state;
        assert_int_equal(date_parse("1970-01-01", &day), 0);
        assert_int_equal(day, 0);
        assert_int_equal(date_parse("2024-02-29", &day), 0);
        assert_int_equal(date_parse("2026-11-23", &day), 0);
        assert_int_equal(day, 20780);
        assert_int_equal(date_parse("2026-02-29", &day), -EINVAL);
        assert_int_equal(date_parse("2026-13-01", &day), -EINVAL);
        assert_int_equal(date_parse("2026-04-31", &day), -EINVAL);
        assert_int_equal(date_parse("2026-1-01", &day), -EINVAL);
        assert_int_equal(date_parse("2026-01-01x", &day), -EINVAL);
        assert_int_equal(date_parse("+026-01-01", &day), -EINVAL);
        assert_int_equal(date_parse("", &day), -EINVAL);
        /* 2026-W48: Monday 23 to Sunday 29 November */
        assert_int_equal(period_range("2026-W48", &first, &last, &week), 0);
        assert_true(week);
        assert_int_equal(first, 20780);
        assert_int_equal(last, 20786);
        /* 2020 had 53 weeks; 2020-W53 ends on Sunday 3 January 2021. 2026 has 53 too. */
        assert_int_equal(period_range("2020-W53", &first, &last, NULL), 0);
        assert_int_equal(date_parse("2021-01-03", &day), 0);
        assert_int_equal(last, day);
        assert_int_equal(period_range("2026-W53", &first, &last, NULL), 0);
        assert_int_equal(period_range("2025-W53", &first, &last, NULL), -EINVAL);
        assert_int_equal(period_range("2026-W00", &first, &last, NULL), -EINVAL);
        /* 2025-W01 starts on Monday 30 December 2024 */
        assert_int_equal(period_range("2025-W01", &first, &last, NULL), 0);
        assert_int_equal(date_parse("2024-12-30", &day), 0);
        assert_int_equal(first, day);
        /* A month is its ISO weeks: 2024-02 has five Thursdays (1..29 February),
         * so it runs from Monday 29 January to Sunday 3 March. */
        assert_int_equal(period_range("2024-02", &first, &last, &week), 0);
        assert_false(week);
        assert_int_equal(last - first, 34);
        assert_int_equal(period_range("2026-00", &first, &last, NULL), -EINVAL);
        assert_int_equal(period_range("2026-W4", &first, &last, NULL), -EINVAL);
        period_week_str(period_week_of_day(day), buf, sizeof(buf));
        assert_string_equal(buf, "2025-W01");
        assert_int_equal(date_parse("2027-01-01", &day), 0);
        period_week_str(period_week_of_day(day), buf, sizeof(buf));
        assert_string_equal(buf, "2026-W53");
}

static void test_help_version(void **state)
{
        struct fixture *f = *state;
        static const char *const cmds[] = { "cells", "alerts", "trend", "materials" };
        char *out, *err;

        if (!f->bin)
                skip();
        assert_int_equal(run(f, &out, &err, "--help"), 0);
        assert_non_null(strstr(out, "Usage: nmo-analyst --store DIR COMMAND"));
        assert_non_null(strstr(out, "at least 3 distinct companies"));
        assert_string_equal(err, "");
        free(out);
        free(err);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(cmds); i++) {
                assert_int_equal(run(f, &out, &err, cmds[i], "--help"), 0);
                assert_non_null(strstr(out, "Usage: nmo-analyst --store DIR"));
                assert_non_null(strstr(out, "Exit status"));
                free(out);
                free(err);
        }
        assert_int_equal(run(f, &out, &err, "cells", "--help"), 0);
        assert_non_null(strstr(out, "85%"));
        assert_non_null(strstr(out, "Secondary suppression"));
        assert_non_null(strstr(out, "REPORTERS"));
        free(out);
        free(err);
        assert_int_equal(run(f, &out, &err, "help", "trend"), 0);
        assert_non_null(strstr(out, "--weeks N"));
        free(out);
        free(err);
        assert_int_equal(run(f, &out, &err, "-V"), 0);
        assert_true(strncmp(out, "nmo-analyst ", 12) == 0);
        free(out);
        free(err);
}

static void test_cells_table(void **state)
{
        struct fixture *f = *state;
        char *out, *err, *line, *save = NULL;
        bool strike = false, port = false, tungsten = false;
        const char *w48, *w47, *w46;

        if (!f->bin)
                skip();
        assert_int_equal(run(f, &out, &err, "--store", f->store, "cells"), 0);
        /* No figure of a suppressed cell, whatever the record held. */
        assert_null(strstr(out, "777"));
        assert_null(strstr(out, "999"));
        assert_null(strstr(out, "555"));
        assert_null(strstr(out, "444"));
        /* The tool's guard against a "released" cell below the threshold. */
        assert_non_null(strstr(err, "fewer than 3 reporters"));
        assert_true(strncmp(out, "PERIOD", 6) == 0);
        assert_non_null(strstr(out, "REPORTERS"));
        assert_non_null(strstr(out, "L2 M3 H5 C2"));
        assert_non_null(strstr(out, "    note: Port closed, \"again\", agents say\n"));
        assert_non_null(strstr(out, "    note: line one\n          line two\n"));
        assert_non_null(strstr(out, "x: suppressed. A cell is released only with at least 3 "
                                    "distinct"));
        /* newest first */
        w48 = strstr(out, "2026-W48");
        w47 = strstr(out, "2026-W47");
        w46 = strstr(out, "2026-W46");
        assert_true(w48 && w47 && w46 && w48 < w47 && w47 < w46);
        for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (strstr(line, "2026-W48") && strstr(line, "strike")) {
                        strike = true;
                        assert_non_null(strstr(line, "suppressed  "));
                        assert_null(strpbrk(line + 8, "0123456789"));
                }
                if (strstr(line, "port-disruption")) {
                        port = true;
                        assert_non_null(strstr(line, "suppressed"));
                        assert_null(strpbrk(line + 8, "0123456789"));
                }
                if (strstr(line, "tungsten")) {
                        tungsten = true;
                        assert_non_null(strstr(line, "suppressed"));
                        assert_null(strpbrk(line + 8, "0123456789"));
                }
                if (strstr(line, "2026-W47") && strstr(line, "export-ban")) {
                        /* the dominance rule withheld the volume: x, not a number */
                        assert_non_null(strstr(line, " x  yes"));
                }
                if (strstr(line, "export-licensing"))
                        assert_non_null(strstr(line, " -  yes"));
        }
        assert_true(strike && port && tungsten);
        free(out);
        free(err);

        /* nothing matches: exit 0, said on stderr */
        assert_int_equal(run(f, &out, &err, "--store", f->store, "cells", "--material",
                             "cobalt"), 0);
        assert_string_equal(out, "");
        assert_non_null(strstr(err, "no cells match"));
        free(out);
        free(err);
}

static void test_cells_json(void **state)
{
        struct fixture *f = *state;
        static const char *const released_keys[] = {
                "kind", "period", "material", "event", "status", "final", "reporters",
                "reports", "severity", "event_status", "share", "volume_t", "volume_status",
                "notes",
        };
        static const char *const suppressed_keys[] = {
                "kind", "period", "material", "event", "status", "final", "suppression",
        };
        static const char *const severity_keys[] = { "low", "medium", "high", "critical" };
        static const char *const status_keys[] = { "rumour", "announced", "in_effect", "ended",
                                                   "unspecified" };
        static const char *const share_keys[] = { "<10", "10-25", "25-50", "50-75", ">75",
                                                  "unspecified" };
        json_object *a, *o, *v;

        if (!f->bin)
                skip();
        a = JSON(f, "--store", f->store, "cells", "--json");
        assert_true(json_object_is_type(a, json_type_array));
        assert_int_equal(json_object_array_length(a), N_EVENT_WEEK);
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                o = json_object_array_get_idx(a, i);
                assert_string_equal(jstr(o, "kind"), "event-week");
                if (strcmp(jstr(o, "status"), "released") == 0) {
                        assert_true(has_keys_exactly(o, released_keys,
                                                     NMO_ARRAY_SIZE(released_keys)));
                        assert_true(json_object_object_get_ex(o, "severity", &v));
                        assert_true(has_keys_exactly(v, severity_keys, 4));
                        assert_true(json_object_object_get_ex(o, "event_status", &v));
                        assert_true(has_keys_exactly(v, status_keys, 5));
                        assert_true(json_object_object_get_ex(o, "share", &v));
                        assert_true(has_keys_exactly(v, share_keys, 6));
                } else {
                        assert_string_equal(jstr(o, "status"), "suppressed");
                        assert_true(has_keys_exactly(o, suppressed_keys,
                                                     NMO_ARRAY_SIZE(suppressed_keys)));
                        assert_false(json_object_object_get_ex(o, "reporters", NULL));
                        assert_false(json_object_object_get_ex(o, "reports", NULL));
                        assert_false(json_object_object_get_ex(o, "volume_t", NULL));
                }
        }
        /* newest first: the first three are 2026-W48 */
        assert_string_equal(jstr(json_object_array_get_idx(a, 0), "period"), "2026-W48");
        assert_string_equal(jstr(json_object_array_get_idx(a, 2), "period"), "2026-W48");
        assert_string_equal(jstr(json_object_array_get_idx(a, 3), "period"), "2026-W47");

        o = find_cell(a, "2026-W48", "gallium", "export-ban");
        assert_non_null(o);
        assert_int_equal(jint(o, "reporters"), 5);
        assert_int_equal(jint(o, "reports"), 12);
        assert_int_equal(jint(o, "volume_t"), 1200);
        assert_string_equal(jstr(o, "volume_status"), "released");
        assert_true(json_object_object_get_ex(o, "severity", &v));
        assert_int_equal(jint(v, "low"), 2);
        assert_int_equal(jint(v, "high"), 5);
        assert_true(json_object_object_get_ex(o, "event_status", &v));
        assert_int_equal(jint(v, "in_effect"), 12);
        assert_int_equal(jint(v, "rumour"), 0);
        assert_true(json_object_object_get_ex(o, "share", &v));
        assert_int_equal(jint(v, "<10"), 12);
        assert_true(json_object_object_get_ex(o, "notes", &v));
        assert_int_equal(json_object_array_length(v), 2);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)), note1);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 1)), note2);
        assert_false(json_object_get_boolean(json_object_object_get(o, "final")));

        o = find_cell(a, "2026-W48", "gallium", "strike");
        assert_string_equal(jstr(o, "suppression"), "frequency");
        o = find_cell(a, "2026-W48", "gallium", "port-disruption");
        assert_string_equal(jstr(o, "suppression"), "secondary");
        o = find_cell(a, "2026-W45", "tungsten", "strike");
        assert_string_equal(jstr(o, "status"), "suppressed");

        o = find_cell(a, "2026-W47", "gallium", "export-ban");
        assert_true(jnull(o, "volume_t"));
        assert_string_equal(jstr(o, "volume_status"), "dominance");
        assert_true(json_object_get_boolean(json_object_object_get(o, "final")));
        o = find_cell(a, "2026-W46", "germanium", "export-licensing");
        assert_true(jnull(o, "volume_t"));
        assert_string_equal(jstr(o, "volume_status"), "not-given");
        json_object_put(a);
}

static void test_cells_csv(void **state)
{
        struct fixture *f = *state;
        char *out, *err;
        struct csv c;
        size_t notes, reporters, status, volume, period, event;
        bool seen_notes = false;

        if (!f->bin)
                skip();
        assert_int_equal(run(f, &out, &err, "--store", f->store, "cells", "--csv"), 0);
        assert_int_equal(csv_parse(out, &c), 0);
        assert_int_equal(c.nrows, 1 + N_EVENT_WEEK);
        for (size_t r = 0; r < c.nrows; r++)
                assert_int_equal(c.width[r], c.width[0]);
        assert_int_equal(c.width[0], 28);
        assert_string_equal(csv_get(&c, 0, 0), "kind");
        notes = csv_col(&c, "notes");
        reporters = csv_col(&c, "reporters");
        status = csv_col(&c, "status");
        volume = csv_col(&c, "volume_t");
        period = csv_col(&c, "period");
        event = csv_col(&c, "event");
        (void)csv_col(&c, "severity_critical");
        (void)csv_col(&c, "event_status_in_effect");
        (void)csv_col(&c, "share_gt75");
        for (size_t r = 1; r < c.nrows; r++) {
                if (strcmp(csv_get(&c, r, status), "suppressed") == 0) {
                        /* every value column empty */
                        for (size_t k = reporters; k < c.width[r]; k++)
                                assert_string_equal(csv_get(&c, r, k), "");
                        assert_string_not_equal(csv_get(&c, r, csv_col(&c, "suppression")), "");
                }
                if (strcmp(csv_get(&c, r, period), "2026-W48") == 0 &&
                    strcmp(csv_get(&c, r, event), "export-ban") == 0) {
                        char joined[256];

                        snprintf(joined, sizeof(joined), "%s | %s", note1, note2);
                        assert_string_equal(csv_get(&c, r, notes), joined);
                        assert_string_equal(csv_get(&c, r, volume), "1200");
                        assert_string_equal(csv_get(&c, r, reporters), "5");
                        seen_notes = true;
                }
        }
        assert_true(seen_notes);
        assert_null(strstr(out, "777"));
        csv_free(&c);
        free(out);
        free(err);
}

static void test_cells_filters(void **state)
{
        struct fixture *f = *state;
        json_object *a, *o;

        if (!f->bin)
                skip();
        a = JSON(f, "--store", f->store, "cells", "--json", "--material", "germanium");
        assert_int_equal(json_object_array_length(a), 2);
        json_object_put(a);
        /* --store after the command */
        a = JSON(f, "cells", "--event", "export-ban", "--json", "--store", f->store);
        assert_int_equal(json_object_array_length(a), 3);
        json_object_put(a);
        /* exactly 2026-W48 */
        a = JSON(f, "--store", f->store, "cells", "--json", "--from", "2026-11-23", "--to",
                 "2026-11-29");
        assert_int_equal(json_object_array_length(a), 3);
        json_object_put(a);
        /* one day inside a week selects the week */
        a = JSON(f, "--store", f->store, "cells", "--json", "--from", "2026-11-25", "--to",
                 "2026-11-25");
        assert_int_equal(json_object_array_length(a), 3);
        json_object_put(a);
        /* the Sunday before 2026-W48 ends 2026-W47 */
        a = JSON(f, "--store", f->store, "cells", "--json", "--from", "2026-11-22", "--to",
                 "2026-11-22");
        assert_int_equal(json_object_array_length(a), 1);
        assert_string_equal(jstr(json_object_array_get_idx(a, 0), "period"), "2026-W47");
        json_object_put(a);
        a = JSON(f, "--store", f->store, "cells", "--json", "--to", "2026-10-31");
        assert_int_equal(json_object_array_length(a), 1); /* germanium W40 */
        json_object_put(a);
        a = JSON(f, "--store", f->store, "cells", "--json", "--from", "2026-W46", "--to",
                 "2026-W46", "--material", "germanium", "--event", "export-licensing");
        assert_int_equal(json_object_array_length(a), 1);
        json_object_put(a);

        a = JSON(f, "--store", f->store, "cells", "--json", "--by", "month");
        assert_int_equal(json_object_array_length(a), 2);
        o = json_object_array_get_idx(a, 0);
        assert_string_equal(jstr(o, "kind"), "event-month");
        assert_string_equal(jstr(o, "period"), "2026-11");
        assert_int_equal(jint(o, "reports"), 19);
        assert_string_equal(jstr(json_object_array_get_idx(a, 1), "suppression"), "secondary");
        json_object_put(a);
        /* A month is its ISO weeks, as the hub counts monthly cells: 2026-11 is
         * 2026-W45..W48 and ends on Sunday 29 November; 30 November is in
         * 2026-W49, which belongs to 2026-12. */
        a = JSON(f, "--store", f->store, "cells", "--json", "--by", "month", "--from",
                 "2026-11-29");
        assert_int_equal(json_object_array_length(a), 1);
        json_object_put(a);
        a = JSON(f, "--store", f->store, "cells", "--json", "--by", "month", "--from",
                 "2026-11-30");
        assert_int_equal(json_object_array_length(a), 0);
        json_object_put(a);
        /* --to 2026-10 (through Sunday 1 November, the end of 2026-W44) takes
         * 2026-10 and not 2026-11, which starts on Monday 2 November. */
        a = JSON(f, "--store", f->store, "cells", "--json", "--by", "month", "--to",
                 "2026-10");
        assert_int_equal(json_object_array_length(a), 1);
        assert_string_equal(jstr(json_object_array_get_idx(a, 0), "period"), "2026-10");
        json_object_put(a);

        a = JSON(f, "--store", f->store, "cells", "--json", "--rollup", "country");
        assert_int_equal(json_object_array_length(a), 2);
        o = find_cell(a, "2026-W48", "gallium", "CN");
        assert_non_null(o);
        assert_string_equal(jstr(o, "country"), "CN");
        assert_true(jnull(o, "event"));
        assert_int_equal(jint(o, "volume_t"), 800);
        o = find_cell(a, "2026-W48", "gallium", "RU");
        assert_non_null(o);
        assert_string_equal(jstr(o, "status"), "suppressed");
        assert_false(json_object_object_get_ex(o, "reports", NULL));
        json_object_put(a);
        a = JSON(f, "--store", f->store, "cells", "--json", "--rollup", "country", "--country",
                 "cn");
        assert_int_equal(json_object_array_length(a), 1);
        json_object_put(a);

        a = JSON(f, "--store", f->store, "cells", "--json", "--rollup", "material");
        assert_int_equal(json_object_array_length(a), N_MATERIAL_WEEK);
        o = json_object_array_get_idx(a, 0);
        assert_string_equal(jstr(o, "kind"), "material-week");
        assert_true(jnull(o, "event"));
        assert_false(json_object_object_get_ex(o, "country", NULL));
        json_object_put(a);
}

static void test_cells_tables_other_kinds(void **state)
{
        struct fixture *f = *state;
        char *out, *err;

        if (!f->bin)
                skip();
        assert_int_equal(run(f, &out, &err, "--store", f->store, "cells", "--rollup", "country"),
                         0);
        assert_non_null(strstr(out, "COUNTRY"));
        assert_non_null(strstr(out, " CN "));
        free(out);
        free(err);
        assert_int_equal(run(f, &out, &err, "--store", f->store, "cells", "--rollup",
                             "material"), 0);
        assert_null(strstr(out, "EVENT"));
        assert_non_null(strstr(out, "2100"));
        free(out);
        free(err);
}

static void test_alerts(void **state)
{
        struct fixture *f = *state;
        static const char *const keys[] = { "id", "revision", "rule", "material", "event",
                                            "level", "period", "window_start", "window_end",
                                            "issued", "summary", "reporters", "reports" };
        json_object *a, *o, *v;
        char *out, *err;
        struct csv c;

        if (!f->bin)
                skip();
        a = JSON(f, "--store", f->store, "alerts", "--json");
        assert_int_equal(json_object_array_length(a), 3);
        o = json_object_array_get_idx(a, 0);
        assert_true(has_keys_exactly(o, keys, NMO_ARRAY_SIZE(keys)));
        assert_string_equal(jstr(o, "issued"), "2026-11-27");
        assert_string_equal(jstr(o, "rule"), "severity");
        assert_true(jnull(o, "event"));
        assert_true(jnull(o, "reports"));
        assert_int_equal(jint(o, "reporters"), 7);
        assert_int_equal(jint(o, "revision"), 1);
        o = json_object_array_get_idx(a, 1);
        assert_string_equal(jstr(o, "rule"), "surge");
        assert_true(json_object_object_get_ex(o, "baseline", &v));
        assert_true(json_object_get_double(v) > 5.24 && json_object_get_double(v) < 5.26);
        o = json_object_array_get_idx(a, 2);
        assert_string_equal(jstr(o, "event"), "export-licensing");
        assert_string_equal(jstr(o, "issued"), "2026-11-18");
        json_object_put(a);

        a = JSON(f, "--store", f->store, "alerts", "--json", "--since", "2026-11-19");
        assert_int_equal(json_object_array_length(a), 2);
        json_object_put(a);
        a = JSON(f, "--store", f->store, "alerts", "--json", "--since", "2026-12-01");
        assert_int_equal(json_object_array_length(a), 0);
        json_object_put(a);

        assert_int_equal(run(f, &out, &err, "--store", f->store, "alerts"), 0);
        assert_true(strncmp(out, "ISSUED", 6) == 0);
        assert_non_null(strstr(out, "2026-W48 (2026-W47..2026-W48)"));
        assert_true(strstr(out, "2026-11-27") < strstr(out, "2026-11-18"));
        free(out);
        free(err);
        assert_int_equal(run(f, &out, &err, "--store", f->store, "alerts", "--since",
                             "2030-01-01"), 0);
        assert_non_null(strstr(err, "no alerts match"));
        free(out);
        free(err);
        assert_int_equal(run(f, &out, &err, "--store", f->store, "alerts", "--csv"), 0);
        assert_int_equal(csv_parse(out, &c), 0);
        assert_int_equal(c.nrows, 4);
        assert_string_equal(csv_get(&c, 1, csv_col(&c, "summary")), alerts[0].summary);
        assert_string_equal(csv_get(&c, 2, csv_col(&c, "baseline")), "5.25");
        csv_free(&c);
        free(out);
        free(err);
}

static void test_trend(void **state)
{
        struct fixture *f = *state;
        char *out, *err;
        json_object *a, *o;

        if (!f->bin)
                skip();
        assert_int_equal(run_env(f, "C.UTF-8", &out, &err, "--store", f->store, "trend",
                                 "--material", "gallium", "--weeks", "9", (const char *)NULL),
                         0);
        assert_non_null(strstr(out, "2026-W40  "));
        assert_non_null(strstr(out, "2026-W42  ·\n"));
        assert_non_null(strstr(out, "2026-W44  x suppressed\n"));
        assert_non_null(strstr(out, "█ 20 (7 reporters)\n"));
        assert_null(strstr(out, "2026-W39"));
        assert_true(strstr(out, "2026-W40") < strstr(out, "2026-W48"));
        free(out);
        free(err);
        /* no UTF-8 locale: plain ASCII */
        assert_int_equal(run_env(f, "C", &out, &err, "--store", f->store, "trend", "--material",
                                 "gallium", "--weeks", "9", (const char *)NULL),
                         0);
        assert_non_null(strstr(out, "# 20 (7 reporters)\n"));
        assert_non_null(strstr(out, "2026-W42  .\n"));
        assert_null(strstr(out, "█"));
        free(out);
        free(err);
        /* the window ends at the store's newest week, also for a quiet material */
        a = JSON(f, "--store", f->store, "trend", "--material", "germanium", "--json");
        assert_int_equal(json_object_array_length(a), 12);
        o = json_object_array_get_idx(a, 11);
        assert_string_equal(jstr(o, "period"), "2026-W48");
        assert_string_equal(jstr(o, "status"), "none");
        assert_true(jnull(o, "reports"));
        o = json_object_array_get_idx(a, 9);
        assert_string_equal(jstr(o, "period"), "2026-W46");
        assert_string_equal(jstr(o, "status"), "released");
        assert_int_equal(jint(o, "reports"), 3);
        assert_int_equal(jint(o, "reporters"), 3);
        json_object_put(a);
        a = JSON(f, "--store", f->store, "trend", "--material", "gallium", "--weeks", "9",
                 "--json");
        o = json_object_array_get_idx(a, 4);
        assert_string_equal(jstr(o, "period"), "2026-W44");
        assert_string_equal(jstr(o, "status"), "suppressed");
        assert_true(jnull(o, "reports"));
        assert_true(jnull(o, "reporters"));
        json_object_put(a);
}

static void test_materials(void **state)
{
        struct fixture *f = *state;
        char *out, *err, *line, *save = NULL;
        json_object *a, *o;
        int row = 0;

        if (!f->bin)
                skip();
        assert_int_equal(run(f, &out, &err, "--store", f->store, "materials"), 0);
        for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), row++) {
                if (row == 0)
                        assert_true(strncmp(line, "MATERIAL", 8) == 0);
                if (row == 1)
                        assert_non_null(strstr(line, "gallium") && strstr(line, "2026-W48") &&
                                        strstr(line, " 20"));
                if (row == 2)
                        assert_non_null(strstr(line, "germanium") && strstr(line, "2026-W46"));
                if (row == 3)
                        assert_non_null(strstr(line, "tungsten") && strstr(line, "suppressed"));
                if (row == 4)
                        assert_non_null(strstr(line, "aluminium") && strstr(line, " -"));
        }
        assert_int_equal(row, 1 + (int)vocab_materials_count);
        free(out);
        free(err);
        a = JSON(f, "--store", f->store, "materials", "--json");
        assert_int_equal(json_object_array_length(a), vocab_materials_count);
        o = json_object_array_get_idx(a, 0);
        assert_string_equal(jstr(o, "material"), "gallium");
        assert_string_equal(jstr(o, "name"), "Gallium");
        assert_int_equal(jint(o, "reports"), 20);
        o = json_object_array_get_idx(a, 2);
        assert_string_equal(jstr(o, "status"), "suppressed");
        assert_true(jnull(o, "reports"));
        o = json_object_array_get_idx(a, 3);
        assert_string_equal(jstr(o, "status"), "none");
        assert_true(jnull(o, "period"));
        json_object_put(a);
}

static void expect(struct fixture *f, int code, const char *needle, ...)
{
        const char *args[16];
        size_t n = 0;
        char *out, *err;
        va_list ap;

        va_start(ap, needle);
        for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *))
                args[n++] = a;
        va_end(ap);
        for (size_t i = n; i < NMO_ARRAY_SIZE(args); i++)
                args[i] = NULL;
        assert_int_equal(run_env(f, NULL, &out, &err, args[0], args[1], args[2], args[3],
                                 args[4], args[5], args[6], args[7], args[8], args[9],
                                 (const char *)NULL),
                         code);
        if (!strstr(err, needle))
                fail_msg("stderr '%s' lacks '%s'", err, needle);
        assert_string_equal(out, "");
        free(out);
        free(err);
}

#define EXPECT(f, code, needle, ...) expect(f, code, needle, __VA_ARGS__, (const char *)NULL)

static void test_refusals(void **state)
{
        struct fixture *f = *state;
        struct hub_store *st = NULL;
        char missing[PATH_MAX], private_dir[PATH_MAX];

        if (!f->bin)
                skip();
        /* no such directory */
        join(missing, sizeof(missing), f->other, "nowhere");
        EXPECT(f, 1, "no analytics store at", "--store", missing, "cells");
        /* the hub's private store: an LMDB environment, but never the analysts' */
        assert_int_equal(hub_store_open(&st, f->other, false), 0);
        hub_store_free(st);
        join(private_dir, sizeof(private_dir), f->other, "private");
        EXPECT(f, 1, "private store", "--store", private_dir, "cells");
        EXPECT(f, 1, "private store", "--store", private_dir, "materials");
        /* a directory that holds no store */
        EXPECT(f, 1, "is not an analytics store", "--store", f->other, "cells");

        /* usage errors: exit 2 */
        EXPECT(f, 2, "--from '2026-02-30'", "--store", f->store, "cells", "--from", "2026-02-30");
        EXPECT(f, 2, "--to '2026-13-01'", "--store", f->store, "cells", "--to", "2026-13-01");
        EXPECT(f, 2, "'yesterday'", "--store", f->store, "cells", "--from", "yesterday");
        EXPECT(f, 2, "is after", "--store", f->store, "cells", "--from", "2026-11-02", "--to",
               "2026-11-01");
        EXPECT(f, 2, "--since '2026-11-1'", "--store", f->store, "alerts", "--since", "2026-11-1");
        EXPECT(f, 2, "unknown material 'unobtainium'", "--store", f->store, "cells",
               "--material", "unobtainium");
        EXPECT(f, 2, "did you mean 'gallium'", "--store", f->store, "cells", "--material",
               "Gallium");
        EXPECT(f, 2, "unknown material 'unobtainium'", "--store", f->store, "trend",
               "--material", "unobtainium");
        EXPECT(f, 2, "unknown event type 'meteor'", "--store", f->store, "cells", "--event",
               "meteor");
        EXPECT(f, 2, "unknown country code 'XX'", "--store", f->store, "cells", "--rollup",
               "country", "--country", "XX");
        EXPECT(f, 2, "--rollup country", "--store", f->store, "cells", "--country", "CN");
        EXPECT(f, 2, "unknown command 'cels'", "--store", f->store, "cels");
        EXPECT(f, 2, "missing command", "--store", f->store);
        EXPECT(f, 2, "--store DIR is required", "cells");
        EXPECT(f, 2, "cannot be combined", "--store", f->store, "cells", "--json", "--csv");
        EXPECT(f, 2, "--by takes week or month", "--store", f->store, "cells", "--by", "day");
        EXPECT(f, 2, "--weeks", "--store", f->store, "trend", "--material", "gallium",
               "--weeks", "0");
        EXPECT(f, 2, "--material ID is required", "--store", f->store, "trend");
        EXPECT(f, 2, "unknown option '--csv'", "--store", f->store, "materials", "--csv");
        EXPECT(f, 2, "unexpected argument", "--store", f->store, "alerts", "extra");
}

static void test_read_only(void **state)
{
        struct fixture *f = *state;
        static const char *const cmds[][4] = {
                { "cells", NULL }, { "cells", "--json", NULL }, { "alerts", NULL },
                { "trend", "--material", "gallium", NULL }, { "materials", NULL },
        };
        Nmo__Hub__Cell c = NMO__HUB__CELL__INIT;
        char data[PATH_MAX], *out, *err;
        uint8_t key[ANALYTICS_KEY_MAX], buf[256];
        struct stat before, after;
        MDB_txn *txn;
        MDB_val k, v;
        size_t klen;
        json_object *a;

        if (!f->bin)
                skip();
        join(data, sizeof(data), f->store, "data.mdb");
        assert_int_equal(stat(data, &before), 0);
        usleep(20000); /* past the file system's timestamp granularity */
        for (size_t i = 0; i < NMO_ARRAY_SIZE(cmds); i++) {
                assert_int_equal(run(f, &out, &err, "--store", f->store, cmds[i][0], cmds[i][1],
                                     cmds[i][2], cmds[i][3]),
                                 0);
                free(out);
                free(err);
        }
        assert_int_equal(stat(data, &after), 0);
        assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
        assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
        assert_int_equal(before.st_size, after.st_size);

        /* A writer (the hub) holds a transaction with an uncommitted cell. */
        assert_int_equal(mdb_txn_begin(f->an->env, NULL, 0, &txn), 0);
        c.has_kind = 1;
        c.kind = EW;
        c.material = "cobalt";
        c.event = "strike";
        c.country = "";
        c.period = "2026-W48";
        c.has_suppression = 1;
        c.suppression = FREQ;
        assert_int_equal(analytics_cell_key(&c, key, &klen), 0);
        v.mv_size = nmo__hub__cell__pack(&c, buf);
        v.mv_data = buf;
        k.mv_size = klen;
        k.mv_data = key;
        assert_int_equal(mdb_put(txn, f->an->cells, &k, &v, 0), 0);
        a = JSON(f, "--store", f->store, "cells", "--json");
        assert_int_equal(json_object_array_length(a), N_EVENT_WEEK); /* not the uncommitted one */
        json_object_put(a);
        a = JSON(f, "--store", f->store, "materials", "--json");
        json_object_put(a);
        mdb_txn_abort(txn);
}

/* Text from the store cannot drive the analyst's terminal, and damaged
 * records are reported, not skipped or shown half-read. */
static void test_hostile_and_damaged(void **state)
{
        struct fixture *f = *state;
        static const struct cell_spec ok = { EW, "cobalt", "strike", "", "2026-W10", REL, false,
                                             3, 3, V_NONE, 0, false, false };
        static const struct cell_spec bad = { EW, "cobalt", "strike", "", "2026-W60", REL, false,
                                              3, 3, V_NONE, 0, false, false };
        Nmo__Hub__Cell c = NMO__HUB__CELL__INIT;
        char dir[PATH_MAX], *out, *err, *note = "red \x1b[31m alert \x1b]0;title\x07 \xc2\x9b end";
        uint8_t key[ANALYTICS_KEY_MAX], buf[512];
        struct analytics *an = NULL;
        MDB_txn *txn;
        MDB_val k, v;
        size_t klen;

        if (!f->bin)
                skip();
        join(dir, sizeof(dir), f->other, "odd-analytics");
        assert_int_equal(analytics_open(&an, dir, false), 0);
        assert_int_equal(mdb_txn_begin(an->env, NULL, 0, &txn), 0);
        put_cell(txn, an, &ok);
        /* the same cell again, with a note full of terminal control sequences */
        c.has_kind = 1;
        c.kind = EW;
        c.material = "cobalt";
        c.event = "strike";
        c.country = "";
        c.period = "2026-W10";
        c.has_suppression = 1;
        c.suppression = REL;
        c.has_reporters = 1;
        c.reporters = 3;
        c.has_reports = 1;
        c.reports = 3;
        c.n_notes = 1;
        c.notes = &note;
        assert_int_equal(analytics_cell_key(&c, key, &klen), 0);
        v.mv_size = nmo__hub__cell__pack(&c, buf);
        v.mv_data = buf;
        k.mv_size = klen;
        k.mv_data = key;
        assert_int_equal(mdb_put(txn, an->cells, &k, &v, 0), 0);
        assert_int_equal(mdb_txn_commit(txn), 0);
        assert_int_equal(run(f, &out, &err, "--store", dir, "cells"), 0);
        assert_null(strchr(out, 0x1b));
        assert_null(strchr(out, 0x07));
        assert_null(strstr(out, "\xc2\x9b"));
        assert_non_null(strstr(out, "note: red \\x1b[31m alert \\x1b]0;title\\x07 \\u009b end"));
        free(out);
        free(err);
        /* JSON keeps the text, escaped by the JSON library */
        assert_int_equal(run(f, &out, &err, "--store", dir, "cells", "--json"), 0);
        assert_null(strchr(out, 0x1b));
        free(out);
        free(err);

        /* a cell whose period no calendar has */
        assert_int_equal(mdb_txn_begin(an->env, NULL, 0, &txn), 0);
        put_cell(txn, an, &bad);
        assert_int_equal(mdb_txn_commit(txn), 0);
        EXPECT(f, 1, "damaged record: a cell (event-week) with the malformed period '2026-W60'",
               "--store", dir, "cells");
        EXPECT(f, 1, "damaged record", "--store", dir, "trend", "--material", "cobalt");
        /* a stored alert that does not decode */
        EXPECT(f, 0, "no alerts match", "--store", dir, "alerts");
        assert_int_equal(mdb_txn_begin(an->env, NULL, 0, &txn), 0);
        k.mv_size = 32;
        k.mv_data = "0123456789abcdef0123456789abcdef";
        v.mv_size = 5;
        v.mv_data = "\xff\xff\xff\xff\xff";
        assert_int_equal(mdb_put(txn, an->alerts, &k, &v, 0), 0);
        assert_int_equal(mdb_txn_commit(txn), 0);
        EXPECT(f, 1, "damaged record: an alert that does not decode", "--store", dir, "alerts");
        analytics_free(an);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_calendar),
                cmocka_unit_test(test_help_version),
                cmocka_unit_test(test_cells_table),
                cmocka_unit_test(test_cells_json),
                cmocka_unit_test(test_cells_csv),
                cmocka_unit_test(test_cells_filters),
                cmocka_unit_test(test_cells_tables_other_kinds),
                cmocka_unit_test(test_alerts),
                cmocka_unit_test(test_trend),
                cmocka_unit_test(test_materials),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_read_only),
                cmocka_unit_test(test_hostile_and_damaged),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
