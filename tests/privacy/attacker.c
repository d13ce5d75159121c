/* attacker.c: the analyst who keeps every snapshot, and the worst-case
 * attacker of the privacy suite (attacker.h). */
#include "attacker.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "audit.h"
#include "date.h"
#include "period.h"
#include "util.h"

static const char *const view_args[AT_VIEWS][3] = {
        { NULL },
        { "--rollup", "material", NULL },
        { "--rollup", "country", NULL },
        { "--by", "month", NULL },
};

static const char *analyst_bin(void)
{
        const char *p = getenv("NMO_ANALYST");

        return p && *p ? p : "nmo-analyst";
}

char *at_store(struct h_hub *h)
{
        return util_path(h->hub_dir, "analytics");
}

char *at_analyst(struct h_hub *h, const char *const *args)
{
        char *argv[16], *store = at_store(h), *out = NULL, *err = NULL;
        size_t n = 0;
        int rc;

        argv[n++] = (char *)analyst_bin();
        argv[n++] = "--store";
        argv[n++] = store;
        for (size_t i = 0; args[i] && n < 15; i++)
                argv[n++] = (char *)args[i];
        argv[n] = NULL;
        rc = h_run(argv, &out, &err);
        if (rc != 0)
                fail_msg("nmo-analyst %s failed (%d): %s", args[0], rc, err ? err : "");
        free(err);
        free(store);
        return out;
}

void at_watch_init(struct at_watch *w, struct h_hub *h)
{
        memset(w, 0, sizeof(*w));
        w->hub = h;
}

void at_watch_free(struct at_watch *w)
{
        for (size_t i = 0; i < w->ncells; i++)
                free(w->cells[i].json);
        free(w->cells);
        memset(w, 0, sizeof(*w));
}

static const char *jstr(json_object *o, const char *key)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return "";
        return json_object_get_string(v);
}

void at_key(char *buf, size_t len, const char *kind, const char *period, const char *material,
            const char *event, const char *country)
{
        snprintf(buf, len, "%s|%s|%s|%s|%s", kind, period, material, event, country);
}

const struct at_cell *at_watch_find(const struct at_watch *w, const char *key)
{
        for (size_t i = 0; i < w->ncells; i++)
                if (strcmp(w->cells[i].key, key) == 0)
                        return &w->cells[i];
        return NULL;
}

static void remember(struct at_watch *w, json_object *cell)
{
        char key[192];
        const char *js;
        json_object *fin;
        bool final = json_object_object_get_ex(cell, "final", &fin) &&
                     json_object_get_boolean(fin);
        struct at_cell *c;

        at_key(key, sizeof(key), jstr(cell, "kind"), jstr(cell, "period"), jstr(cell, "material"),
               jstr(cell, "event"), jstr(cell, "country"));
        /* "final" turns true when the epoch closes; everything else of a
         * published cell must stay as it was first shown. */
        json_object_object_del(cell, "final");
        js = json_object_to_json_string_ext(cell, JSON_C_TO_STRING_PLAIN);
        for (size_t i = 0; i < w->ncells; i++) {
                c = &w->cells[i];
                if (strcmp(c->key, key) != 0)
                        continue;
                if (strcmp(c->json, js) != 0) {
                        if (w->changes == 0)
                                snprintf(w->changed, sizeof(w->changed),
                                         "%s first %s, later %s", key, c->json, js);
                        w->changes++;
                }
                c->final |= final;
                return;
        }
        if (w->ncells == w->cap) {
                w->cap = w->cap ? w->cap * 2 : 64;
                w->cells = realloc(w->cells, w->cap * sizeof(*w->cells));
                assert_non_null(w->cells);
        }
        c = &w->cells[w->ncells++];
        memset(c, 0, sizeof(*c));
        snprintf(c->key, sizeof(c->key), "%s", key);
        c->json = strdup(js);
        assert_non_null(c->json);
        c->released = strcmp(jstr(cell, "status"), "released") == 0;
        c->final = final;
}

char *at_watch_poll(struct at_watch *w)
{
        char *all = strdup("");

        assert_non_null(all);
        for (int v = 0; v < AT_VIEWS; v++) {
                const char *args[6] = { "cells", "--json", NULL };
                char *out, *joined = NULL;
                json_object *arr;

                for (int i = 0; view_args[v][i]; i++)
                        args[2 + i] = view_args[v][i];
                out = at_analyst(w->hub, args);
                arr = json_tokener_parse(out);
                if (!arr || !json_object_is_type(arr, json_type_array))
                        fail_msg("nmo-analyst cells --json printed no JSON array: %s", out);
                for (size_t i = 0; i < json_object_array_length(arr); i++)
                        remember(w, json_object_array_get_idx(arr, i));
                json_object_put(arr);
                assert_true(asprintf(&joined, "%s%s\n", all, out) > 0);
                free(all);
                free(out);
                all = joined;
        }
        w->snapshots++;
        return all;
}

uint32_t at_hub_week(struct h_hub *h)
{
        return period_week_of_day(date_day_of_ms(h_hub_now_ms(h)));
}

static const char *const severity_names[] = { "unspecified", "low", "medium", "high",
                                              "critical" };
static const char *const status_names[] = { NULL, "rumour", "announced", "in-effect", "ended" };
static const char *const share_names[] = { NULL, "<10", "10-25", "25-50", "50-75", ">75" };

void at_submit(struct h_hub *h, const char *node_dir, struct at_report *reps, size_t *n,
               const char *material, const char *event, const char *country, int severity,
               int status, int share, uint64_t volume, const char *note)
{
        char vol[32], *argv[32], *err = NULL;
        struct at_report *r = &reps[*n];
        size_t k = 0;
        int rc;

        assert_true(severity >= 1 && severity <= 4);
        argv[k++] = (char *)h_node_bin();
        argv[k++] = "submit";
        argv[k++] = "--dir";
        argv[k++] = (char *)node_dir;
        argv[k++] = "--material";
        argv[k++] = (char *)material;
        argv[k++] = "--event";
        argv[k++] = (char *)event;
        argv[k++] = "--severity";
        argv[k++] = (char *)severity_names[severity];
        argv[k++] = "--country";
        argv[k++] = (char *)country;
        if (status > 0) {
                argv[k++] = "--status";
                argv[k++] = (char *)status_names[status];
        }
        if (share > 0) {
                argv[k++] = "--share";
                argv[k++] = (char *)share_names[share];
        }
        if (volume > 0) {
                snprintf(vol, sizeof(vol), "%llu", (unsigned long long)volume);
                argv[k++] = "--volume";
                argv[k++] = vol;
        }
        if (note) {
                argv[k++] = "--note";
                argv[k++] = (char *)note;
                argv[k++] = "--note-consent";
                argv[k++] = "note-may-be-shared";
        }
        argv[k] = NULL;
        rc = h_run(argv, NULL, &err);
        if (rc != 0)
                fail_msg("nmo-node submit failed (%d): %s", rc, err ? err : "");
        free(err);
        memset(r, 0, sizeof(*r));
        snprintf(r->material, sizeof(r->material), "%s", material);
        snprintf(r->event, sizeof(r->event), "%s", event);
        snprintf(r->country, sizeof(r->country), "%s", country);
        r->week = at_hub_week(h);
        r->severity = severity;
        r->status = status;
        r->share = share;
        r->volume = volume;
        (*n)++;
}

/* ---- the worst-case attacker ---- */

/* The additive figures of a cell: reports, severity low..critical, status
 * unspecified..ended, share unspecified..>75. */
enum { Q_REPORTS = 0, Q_SEVERITY = 1, Q_STATUS = 5, Q_SHARE = 10, Q_COUNT = 16 };

static const char *const q_names[Q_COUNT] = {
        "reports", "severity low", "severity medium", "severity high", "severity critical",
        "status unspecified", "status rumour", "status announced", "status in-effect",
        "status ended", "share unspecified", "share <10", "share 10-25", "share 25-50",
        "share 50-75", "share >75",
};

enum kind { K_EW, K_MW, K_CW, K_EM };

/* A cell of the true table. */
struct tcell {
        enum kind kind;
        uint32_t week;          /* K_EW, K_MW, K_CW */
        char event[32];         /* K_EW, K_EM */
        char country[3];        /* K_CW */
        char key[192];
        double q[Q_COUNT];
        const struct at_cell *seen;
};

struct table {
        struct tcell *c;
        size_t n, cap;
};

static bool tcell_has(const struct tcell *c, const struct at_report *r)
{
        switch (c->kind) {
        case K_EW:
                return r->week == c->week && strcmp(r->event, c->event) == 0;
        case K_MW:
                return r->week == c->week;
        case K_CW:
                return r->week == c->week && strcmp(r->country, c->country) == 0;
        case K_EM:
                return strcmp(r->event, c->event) == 0;
        }
        return false;
}

/* The cell of (kind, week, event, country), added when new. */
static struct tcell *table_cell(struct table *t, enum kind kind, uint32_t week, const char *event,
                                const char *country)
{
        struct tcell *c;

        for (size_t i = 0; i < t->n; i++) {
                c = &t->c[i];
                if (c->kind == kind && c->week == week && strcmp(c->event, event) == 0 &&
                    strcmp(c->country, country) == 0)
                        return c;
        }
        if (t->n == t->cap) {
                t->cap = t->cap ? t->cap * 2 : 64;
                t->c = realloc(t->c, t->cap * sizeof(*t->c));
                assert_non_null(t->c);
        }
        c = &t->c[t->n++];
        memset(c, 0, sizeof(*c));
        c->kind = kind;
        c->week = week;
        snprintf(c->event, sizeof(c->event), "%s", event);
        snprintf(c->country, sizeof(c->country), "%s", country);
        return c;
}

/* Adds total = sum of the cells of t matching (kind, week or any, event or any). */
static void add_sum(struct audit *a, const struct table *t, int total, enum kind kind,
                    uint32_t week, const char *event)
{
        int *parts = calloc(t->n + 1, sizeof(*parts));
        size_t np = 0;

        assert_non_null(parts);
        for (size_t i = 0; i < t->n; i++) {
                const struct tcell *c = &t->c[i];

                if (c->kind != kind || (week && c->week != week) ||
                    (event && strcmp(c->event, event) != 0))
                        continue;
                parts[np++] = (int)i;
        }
        if (np > 0)
                assert_int_equal(audit_add_sum(a, total, parts, np), 0);
        free(parts);
}

static json_object *seen_json(const struct at_cell *s)
{
        json_object *o = json_tokener_parse(s->json);

        assert_non_null(o);
        return o;
}

static int64_t jint(json_object *o, const char *a, const char *b)
{
        json_object *v;

        if (!json_object_object_get_ex(o, a, &v))
                return -1;
        if (b && !json_object_object_get_ex(v, b, &v))
                return -1;
        return json_object_get_int64(v);
}

/* Was the cell suppressed for its own sake (too few reporters)? Those are
 * the cells whose figures must stay protected; a cell withheld to protect
 * another is safe in itself (it may even follow from released figures). */
static bool primary(const struct at_cell *s)
{
        json_object *o = seen_json(s), *v;
        bool p = json_object_object_get_ex(o, "suppression", &v) &&
                 strcmp(json_object_get_string(v), "frequency") == 0;

        json_object_put(o);
        return p;
}

size_t at_attack(const struct at_watch *w, const struct at_report *reps, size_t n,
                 const char *material, uint32_t month, double protection)
{
        static const char *const kind_names[] = { "event-week", "material-week", "country-week",
                                                  "event-month" };
        struct table t = { NULL, 0, 0 };
        char mstr[PERIOD_STR_MAX], wstr[PERIOD_STR_MAX], problems[4096] = "";
        size_t nproblems = 0, hidden = 0;
        uint32_t weeks[PERIOD_WEEKS_MAX];
        size_t nweeks = period_month_weeks(month, weeks);

        period_month_str(month, mstr, sizeof(mstr));
        /* The true table of material in the epoch. */
        for (size_t i = 0; i < n; i++) {
                const struct at_report *r = &reps[i];

                if (strcmp(r->material, material) != 0 || period_month_of_week(r->week) != month)
                        continue;
                table_cell(&t, K_EW, r->week, r->event, "");
                table_cell(&t, K_MW, r->week, "", "");
                table_cell(&t, K_CW, r->week, "", r->country);
                table_cell(&t, K_EM, 0, r->event, "");
        }
        for (size_t i = 0; i < t.n; i++) {
                struct tcell *c = &t.c[i];

                if (c->kind == K_EM)
                        snprintf(wstr, sizeof(wstr), "%s", mstr);
                else
                        period_week_str(c->week, wstr, sizeof(wstr));
                at_key(c->key, sizeof(c->key), kind_names[c->kind], wstr, material, c->event,
                       c->country);
                for (size_t j = 0; j < n; j++) {
                        const struct at_report *r = &reps[j];

                        if (strcmp(r->material, material) != 0 || !tcell_has(c, r) ||
                            period_month_of_week(r->week) != month)
                                continue;
                        c->q[Q_REPORTS]++;
                        c->q[Q_SEVERITY + r->severity - 1]++;
                        c->q[Q_STATUS + r->status]++;
                        c->q[Q_SHARE + r->share]++;
                }
                c->seen = at_watch_find(w, c->key);
                /* The published figures must be the truth plus bounded noise:
                 * else this model of the table is not the hub's. */
                if (c->seen && c->seen->released) {
                        json_object *o = seen_json(c->seen);
                        int64_t rep = jint(o, "reports", NULL);

                        if (rep < 0 || fabs((double)rep - c->q[Q_REPORTS]) > 2.0)
                                fail_msg("%s: published reports %lld, true %g", c->key,
                                         (long long)rep, c->q[Q_REPORTS]);
                        json_object_put(o);
                }
        }
        /* Every cell the analyst saw of this material and epoch is one of them. */
        for (size_t i = 0; i < w->ncells; i++) {
                const struct at_cell *s = &w->cells[i];
                char pfx[64];
                bool ours = false, inmonth = false;

                snprintf(pfx, sizeof(pfx), "|%s|", material);
                if (!strstr(s->key, pfx))
                        continue;
                for (size_t k = 0; k < nweeks; k++) {
                        period_week_str(weeks[k], wstr, sizeof(wstr));
                        inmonth |= strstr(s->key, wstr) != NULL;
                }
                inmonth |= strstr(s->key, mstr) != NULL;
                for (size_t k = 0; k < t.n; k++)
                        ours |= strcmp(t.c[k].key, s->key) == 0;
                if (inmonth && !ours)
                        fail_msg("the analyst saw %s, which no scripted report makes", s->key);
        }

        for (int q = 0; q < Q_COUNT; q++) {
                struct audit *a = NULL;
                double *lo = calloc(t.n + 1, sizeof(double)), *hi = calloc(t.n + 1, sizeof(double));
                int total, r;

                assert_non_null(lo);
                assert_non_null(hi);
                assert_int_equal(audit_new(&a), 0);
                for (size_t i = 0; i < t.n; i++) {
                        const struct tcell *c = &t.c[i];
                        enum audit_state st = !c->seen        ? AUDIT_FREE
                                              : c->seen->released ? AUDIT_KNOWN
                                                                  : AUDIT_HIDDEN;
                        double lower = st == AUDIT_HIDDEN && q == Q_REPORTS ? 1.0 : 0.0;

                        assert_int_equal(audit_add_cell(a, st, c->q[q], lower, AUDIT_NO_UPPER),
                                         (int)i);
                }
                /* The month's total: no view shows it, a reader adds it up. */
                total = audit_add_cell(a, AUDIT_FREE, 0, 0, AUDIT_NO_UPPER);
                assert_int_equal(total, (int)t.n);
                for (size_t i = 0; i < t.n; i++) {
                        const struct tcell *c = &t.c[i];

                        if (c->kind == K_MW) {
                                add_sum(a, &t, (int)i, K_EW, c->week, NULL);
                                add_sum(a, &t, (int)i, K_CW, c->week, NULL);
                        } else if (c->kind == K_EM) {
                                add_sum(a, &t, (int)i, K_EW, 0, c->event);
                        }
                }
                add_sum(a, &t, total, K_MW, 0, NULL);
                add_sum(a, &t, total, K_EM, 0, NULL);
                r = audit_intervals(a, lo, hi);
                if (r != 0)
                        fail_msg("the attacker's linear program for %s failed: %d", q_names[q], r);
                for (size_t i = 0; i < t.n; i++) {
                        const struct tcell *c = &t.c[i];
                        bool bad;

                        if (!c->seen || c->seen->released)
                                continue;
                        if (q == Q_REPORTS)
                                hidden++;
                        if (isinf(hi[i]) || !primary(c->seen))
                                continue;
                        bad = q == Q_REPORTS ? hi[i] - lo[i] < protection - 1e-6
                                             : hi[i] - lo[i] < 0.5 && hi[i] > 0.5;
                        if (!bad)
                                continue;
                        if (nproblems++ < 8) {
                                size_t len = strlen(problems);

                                snprintf(problems + len, sizeof(problems) - len,
                                         "\n  %s: %s in [%g, %g] (true %g)", c->key, q_names[q],
                                         lo[i], hi[i], c->q[q]);
                        }
                }
                audit_free(a);
                free(lo);
                free(hi);
        }
        if (nproblems > 0) {
                /* The published pattern, for whoever reads the failure. */
                size_t len = strlen(problems);

                snprintf(problems + len, sizeof(problems) - len, "\n  published:");
                for (size_t i = 0; i < t.n; i++) {
                        const struct tcell *c = &t.c[i];

                        len = strlen(problems);
                        snprintf(problems + len, sizeof(problems) - len, "\n    %s %s (true "
                                 "reports %g)", c->key,
                                 !c->seen ? "not published" : c->seen->released ? "released"
                                                                                : "suppressed",
                                 c->q[Q_REPORTS]);
                }
        }
        free(t.c);
        if (nproblems > 0)
                fail_msg("the worst-case attacker narrows %zu figure(s) of suppressed cells of "
                         "%s:%s", nproblems, material, problems);
        return hidden;
}
