/* test-disclosure.c: disclosure control (hub/disclosure.c): the minimum
 * frequency rule, counting contributors not reports, the (2,85) dominance rule,
 * and secondary suppression, checked as arithmetic: for every released total,
 * the total minus its released parts must only ever reveal a set of parts that
 * is itself safe. A seeded random run checks the same on many tables. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "date.h"
#include "disclosure.h"
#include "period.h"

#define MONTH 202611u

static const struct dc_params params = { 3, 2, 85, 0 };
static uint32_t weeks[PERIOD_WEEKS_MAX];
static size_t nweeks;

static struct dc_contrib mk(uint8_t reporter, size_t week, const char *event, const char *country,
                            Nmo__Severity sev, uint64_t volume)
{
        struct dc_contrib c;

        memset(&c, 0, sizeof(c));
        c.reporter[0] = reporter;
        c.reporter[15] = 0xA5;
        c.week = weeks[week];
        strcpy(c.event, event);
        strcpy(c.country, country);
        c.reports = 1;
        c.severity[sev] = 1;
        c.volume_t = volume;
        return c;
}

static const struct dc_cell *find(const struct dc_result *r, Nmo__Hub__CellKind kind,
                                  uint32_t period, const char *event, const char *country)
{
        for (size_t i = 0; i < r->ncells; i++) {
                const struct dc_cell *c = &r->cells[i];
                if (c->kind == kind && c->period == period && strcmp(c->event, event) == 0 &&
                    strcmp(c->country, country) == 0)
                        return c;
        }
        return NULL;
}

static bool rel(const struct dc_cell *c)
{
        return c->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;
}

static bool vol_known(const struct dc_cell *c)
{
        return rel(c) && (c->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED ||
                          c->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_NOT_GIVEN);
}

/* Does contribution x fall in cell c? */
static bool in_cell(const struct dc_contrib *x, const struct dc_cell *c)
{
        switch (c->kind) {
        case NMO__HUB__CELL_KIND__CELL_EVENT_WEEK:
                return x->week == c->period && strcmp(x->event, c->event) == 0;
        case NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK:
                return x->week == c->period;
        case NMO__HUB__CELL_KIND__CELL_EVENT_MONTH:
                return strcmp(x->event, c->event) == 0;
        case NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK:
                return x->week == c->period && strcmp(x->country, c->country) == 0;
        default:
                return false;
        }
}

/* Reporters and per-reporter volume (max per cell, summed over cells) of a set
 * of cells, computed here independently of disclosure.c. */
static void union_of(const struct dc_contrib *cs, size_t n, const struct dc_cell **set, size_t k,
                     uint32_t *reporters, uint64_t vol[256])
{
        bool seen[256] = { false };

        memset(vol, 0, 256 * sizeof(vol[0]));
        *reporters = 0;
        for (size_t s = 0; s < k; s++) {
                uint64_t cellmax[256] = { 0 };

                for (size_t i = 0; i < n; i++) {
                        if (!in_cell(&cs[i], set[s]))
                                continue;
                        if (!seen[cs[i].reporter[0]]) {
                                seen[cs[i].reporter[0]] = true;
                                (*reporters)++;
                        }
                        if (cs[i].volume_t > cellmax[cs[i].reporter[0]])
                                cellmax[cs[i].reporter[0]] = cs[i].volume_t;
                }
                for (int r = 0; r < 256; r++)
                        vol[r] += cellmax[r];
        }
}

static bool volume_safe(const uint64_t vol[256])
{
        uint64_t total = 0, a = 0, b = 0;
        uint32_t givers = 0;

        for (int r = 0; r < 256; r++) {
                total += vol[r];
                givers += vol[r] > 0;
                if (vol[r] > a) {
                        b = a;
                        a = vol[r];
                } else if (vol[r] > b) {
                        b = vol[r];
                }
        }
        return givers == 0 || (givers >= 3 && (a + b) * 100 <= 85 * total);
}

/* The subtraction check for one total and its parts. */
static void check_group(const struct dc_contrib *cs, size_t n, bool counts_known,
                        bool volume_known, const struct dc_cell **parts, size_t nparts)
{
        const struct dc_cell *hidden[64];
        size_t nh = 0;
        uint32_t reporters;
        uint64_t vol[256];

        if (counts_known) {
                uint64_t hidden_reports = 0;

                for (size_t i = 0; i < nparts; i++)
                        if (!rel(parts[i]) && parts[i]->reports > 0) {
                                hidden[nh++] = parts[i];
                                hidden_reports += parts[i]->reports;
                        }
                if (nh > 0) {
                        union_of(cs, n, hidden, nh, &reporters, vol);
                        if (reporters < 3)
                                fail_msg("total minus released parts reveals %llu reports of "
                                         "%u reporters", (unsigned long long)hidden_reports,
                                         reporters);
                }
        }
        nh = 0;
        if (volume_known) {
                for (size_t i = 0; i < nparts; i++)
                        if (!vol_known(parts[i]) && parts[i]->reports > 0)
                                hidden[nh++] = parts[i];
                if (nh > 0) {
                        union_of(cs, n, hidden, nh, &reporters, vol);
                        if (!volume_safe(vol))
                                fail_msg("total volume minus released parts reveals an unsafe "
                                         "volume");
                }
        }
}

/* Every total of the table: material-week over event-weeks and over
 * country-weeks, event-month over event-weeks, material-month (sum of all
 * material-weeks) over event-months. */
static void check_no_subtraction(const struct dc_contrib *cs, size_t n, const struct dc_result *r)
{
        const struct dc_cell *parts[256];
        size_t np;

        for (size_t i = 0; i < r->ncells; i++) {
                const struct dc_cell *t = &r->cells[i];

                if (t->kind == NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK) {
                        Nmo__Hub__CellKind kinds[2] = { NMO__HUB__CELL_KIND__CELL_EVENT_WEEK,
                                                        NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK };
                        for (int k = 0; k < 2; k++) {
                                np = 0;
                                for (size_t j = 0; j < r->ncells; j++)
                                        if (r->cells[j].kind == kinds[k] &&
                                            r->cells[j].period == t->period)
                                                parts[np++] = &r->cells[j];
                                check_group(cs, n, rel(t), vol_known(t), parts, np);
                        }
                }
                if (t->kind == NMO__HUB__CELL_KIND__CELL_EVENT_MONTH) {
                        np = 0;
                        for (size_t j = 0; j < r->ncells; j++)
                                if (r->cells[j].kind == NMO__HUB__CELL_KIND__CELL_EVENT_WEEK &&
                                    strcmp(r->cells[j].event, t->event) == 0)
                                        parts[np++] = &r->cells[j];
                        check_group(cs, n, rel(t), vol_known(t), parts, np);
                }
        }
        {
                bool counts = true, volume = true;

                np = 0;
                for (size_t j = 0; j < r->ncells; j++) {
                        if (r->cells[j].kind == NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK) {
                                counts &= rel(&r->cells[j]);
                                volume &= vol_known(&r->cells[j]);
                        }
                        if (r->cells[j].kind == NMO__HUB__CELL_KIND__CELL_EVENT_MONTH)
                                parts[np++] = &r->cells[j];
                }
                check_group(cs, n, counts, volume, parts, np);
        }
}

static int setup(void **state)
{
        (void)state;
        nweeks = period_month_weeks(MONTH, weeks);
        return nweeks >= 4 ? 0 : -1;
}

static void test_three_released_two_suppressed(void **state)
{
        struct dc_contrib c[5];
        struct dc_result r;
        const struct dc_cell *cell;

        (void)state;
        c[0] = mk(1, 0, "export-ban", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        c[1] = mk(2, 0, "export-ban", "CN", NMO__SEVERITY__SEVERITY_LOW, 0);
        c[2] = mk(3, 0, "export-ban", "CN", NMO__SEVERITY__SEVERITY_CRITICAL, 0);
        c[3] = mk(4, 1, "export-quota", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        c[4] = mk(5, 1, "export-quota", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        assert_int_equal(dc_compute(c, 5, MONTH, &params, NULL, &r), 0);
        cell = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "export-ban", "");
        assert_non_null(cell);
        assert_true(rel(cell));
        assert_int_equal(cell->reporters, 3);
        assert_int_equal(cell->reports, 3);
        assert_int_equal(cell->severity[NMO__SEVERITY__SEVERITY_HIGH], 1);
        assert_int_equal(cell->severity[NMO__SEVERITY__SEVERITY_CRITICAL], 1);
        cell = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[1], "export-quota", "");
        assert_non_null(cell);
        assert_int_equal(cell->suppression, NMO__HUB__SUPPRESSION__SUPPRESSION_FREQUENCY);
        assert_int_equal(cell->reporters, 2);
        check_no_subtraction(c, 5, &r);
        dc_result_free(&r);
}

static void test_one_member_ten_times_counts_once(void **state)
{
        struct dc_contrib c[12];
        struct dc_result r;
        const struct dc_cell *cell;

        (void)state;
        for (int i = 0; i < 10; i++)
                c[i] = mk(7, 0, "allocation", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        c[10] = mk(8, 0, "allocation", "CN", NMO__SEVERITY__SEVERITY_LOW, 0);
        assert_int_equal(dc_compute(c, 11, MONTH, &params, NULL, &r), 0);
        cell = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "allocation", "");
        assert_int_equal(cell->reporters, 2);
        assert_int_equal(cell->reports, 11);
        assert_false(rel(cell));
        dc_result_free(&r);

        /* A third company makes it safe: 3 reporters, 12 reports. */
        c[11] = mk(9, 0, "allocation", "CN", NMO__SEVERITY__SEVERITY_LOW, 0);
        assert_int_equal(dc_compute(c, 12, MONTH, &params, NULL, &r), 0);
        cell = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "allocation", "");
        assert_true(rel(cell));
        assert_int_equal(cell->reporters, 3);
        assert_int_equal(cell->reports, 12);
        dc_result_free(&r);
}

static void test_dominance(void **state)
{
        struct dc_contrib c[4];
        struct dc_result r;
        const struct dc_cell *cell;

        (void)state;
        /* One member holds 90% of the volume. */
        c[0] = mk(1, 0, "plant-outage", "ID", NMO__SEVERITY__SEVERITY_HIGH, 900);
        c[1] = mk(2, 0, "plant-outage", "ID", NMO__SEVERITY__SEVERITY_HIGH, 50);
        c[2] = mk(3, 0, "plant-outage", "ID", NMO__SEVERITY__SEVERITY_HIGH, 50);
        assert_int_equal(dc_compute(c, 3, MONTH, &params, NULL, &r), 0);
        cell = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "plant-outage", "");
        assert_true(rel(cell));
        assert_int_equal(cell->volume_status, NMO__HUB__VOLUME_STATUS__VOLUME_DOMINANCE);
        dc_result_free(&r);

        /* Exactly 85% for the two largest: allowed (the rule is "more than"). */
        c[0].volume_t = 45;
        c[1].volume_t = 40;
        c[2].volume_t = 15;
        assert_int_equal(dc_compute(c, 3, MONTH, &params, NULL, &r), 0);
        cell = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "plant-outage", "");
        assert_int_equal(cell->volume_status, NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED);
        assert_int_equal(cell->volume_t, 100);
        dc_result_free(&r);

        /* Two of three give a volume: the two hold all of it. */
        c[2].volume_t = 0;
        assert_int_equal(dc_compute(c, 3, MONTH, &params, NULL, &r), 0);
        cell = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "plant-outage", "");
        assert_int_not_equal(cell->volume_status, NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED);
        dc_result_free(&r);

        /* A member repeating its volume counts it once, not twice. */
        c[0].volume_t = 30;
        c[1].volume_t = 30;
        c[2].volume_t = 30;
        c[3] = c[0];
        assert_int_equal(dc_compute(c, 4, MONTH, &params, NULL, &r), 0);
        cell = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "plant-outage", "");
        assert_int_equal(cell->volume_t, 90);
        dc_result_free(&r);
}

/* The textbook case: a released total, two released parts and one part of a
 * single reporter. total - a - b = c unless another part goes. */
static void test_secondary_suppression(void **state)
{
        struct dc_contrib c[7];
        struct dc_result r;
        const struct dc_cell *total, *a, *b, *lone;
        uint64_t revealed;

        (void)state;
        c[0] = mk(1, 0, "export-ban", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        c[1] = mk(2, 0, "export-ban", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        c[2] = mk(3, 0, "export-ban", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        c[3] = mk(4, 0, "export-quota", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        c[4] = mk(5, 0, "export-quota", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        c[5] = mk(6, 0, "export-quota", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        c[6] = mk(7, 0, "strike", "CN", NMO__SEVERITY__SEVERITY_CRITICAL, 0);
        assert_int_equal(dc_compute(c, 7, MONTH, &params, NULL, &r), 0);
        total = find(&r, NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK, weeks[0], "", "");
        a = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "export-ban", "");
        b = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "export-quota", "");
        lone = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "strike", "");
        assert_true(rel(total));
        assert_int_equal(lone->suppression, NMO__HUB__SUPPRESSION__SUPPRESSION_FREQUENCY);
        /* Exactly one of a, b is suppressed as secondary. */
        assert_true(rel(a) != rel(b));
        assert_true(a->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_SECONDARY ||
                    b->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_SECONDARY);
        /* The arithmetic a reader can do now reveals only a + lone together,
         * four reporters: safe. */
        revealed = total->reports - (rel(a) ? a->reports : 0) - (rel(b) ? b->reports : 0);
        assert_int_equal(revealed, 4);
        assert_int_not_equal(revealed, lone->reports);
        /* The country breakdown has one part (CN) equal to the total: fine. */
        check_no_subtraction(c, 7, &r);
        dc_result_free(&r);
}

/* Over the weeks of a month: month - released weeks must not give one week. */
static void test_secondary_over_weeks(void **state)
{
        struct dc_contrib c[4];
        struct dc_result r;
        const struct dc_cell *w0, *w1, *month;

        (void)state;
        c[0] = mk(1, 0, "export-tax", "CN", NMO__SEVERITY__SEVERITY_MEDIUM, 0);
        c[1] = mk(2, 0, "export-tax", "CN", NMO__SEVERITY__SEVERITY_MEDIUM, 0);
        c[2] = mk(3, 0, "export-tax", "CN", NMO__SEVERITY__SEVERITY_MEDIUM, 0);
        c[3] = mk(4, 1, "export-tax", "CN", NMO__SEVERITY__SEVERITY_MEDIUM, 0);
        assert_int_equal(dc_compute(c, 4, MONTH, &params, NULL, &r), 0);
        month = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_MONTH, MONTH, "export-tax", "");
        w0 = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "export-tax", "");
        w1 = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[1], "export-tax", "");
        assert_int_equal(w1->suppression, NMO__HUB__SUPPRESSION__SUPPRESSION_FREQUENCY);
        /* Either the first week or the month total had to go. */
        assert_false(rel(w0) && rel(month));
        check_no_subtraction(c, 4, &r);
        dc_result_free(&r);
}

/* Volumes: a released total volume minus released part volumes must not give
 * a part whose volume was suppressed by dominance. */
static void test_secondary_volume(void **state)
{
        struct dc_contrib c[9];
        struct dc_result r;
        const struct dc_cell *total;

        (void)state;
        /* Part A: dominated by one member. Parts B, C: balanced. */
        c[0] = mk(1, 0, "plant-outage", "CN", NMO__SEVERITY__SEVERITY_LOW, 1000);
        c[1] = mk(2, 0, "plant-outage", "CN", NMO__SEVERITY__SEVERITY_LOW, 10);
        c[2] = mk(3, 0, "plant-outage", "CN", NMO__SEVERITY__SEVERITY_LOW, 10);
        c[3] = mk(4, 0, "strike", "CN", NMO__SEVERITY__SEVERITY_LOW, 100);
        c[4] = mk(5, 0, "strike", "CN", NMO__SEVERITY__SEVERITY_LOW, 100);
        c[5] = mk(6, 0, "strike", "CN", NMO__SEVERITY__SEVERITY_LOW, 100);
        c[6] = mk(7, 0, "accident", "CN", NMO__SEVERITY__SEVERITY_LOW, 300);
        c[7] = mk(8, 0, "accident", "CN", NMO__SEVERITY__SEVERITY_LOW, 300);
        c[8] = mk(9, 0, "accident", "CN", NMO__SEVERITY__SEVERITY_LOW, 300);
        assert_int_equal(dc_compute(c, 9, MONTH, &params, NULL, &r), 0);
        total = find(&r, NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK, weeks[0], "", "");
        assert_true(rel(total));
        assert_int_equal(find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "plant-outage",
                              "")->volume_status,
                         NMO__HUB__VOLUME_STATUS__VOLUME_DOMINANCE);
        check_no_subtraction(c, 9, &r);
        dc_result_free(&r);
}

static void test_bad_params(void **state)
{
        struct dc_params p = { 2, 2, 85, 0 };
        struct dc_contrib c = mk(1, 0, "export-ban", "CN", NMO__SEVERITY__SEVERITY_LOW, 0);
        struct dc_result r;

        (void)state;
        assert_int_equal(dc_compute(&c, 1, MONTH, &p, NULL, &r), -EINVAL);
        p.min_reporters = 3;
        p.dominance_k = 101;
        assert_int_equal(dc_compute(&c, 1, MONTH, &p, NULL, &r), -EINVAL);
        /* A contribution from another month is refused. */
        c.week = period_week_next(weeks[nweeks - 1]);
        assert_int_equal(dc_compute(&c, 1, MONTH, &params, NULL, &r), -EINVAL);
}

static uint32_t lcg(uint32_t *seed)
{
        *seed = *seed * 1103515245u + 12345u;
        return (*seed >> 16) & 0x7fff;
}

/* Many random tables: every released total stays safe against subtraction,
 * every released cell has at least 3 reporters, every released volume passes
 * dominance. */
static void test_random_tables(void **state)
{
        static const char *events[] = { "export-ban", "export-quota", "strike", "accident" };
        static const char *countries[] = { "CN", "ZA", "ID" };
        uint32_t seed = 12345;

        (void)state;
        for (int round = 0; round < 400; round++) {
                struct dc_contrib c[60];
                struct dc_result r;
                size_t n;

                n = 1 + lcg(&seed) % 60;
                for (size_t i = 0; i < n; i++) {
                        uint8_t who = (uint8_t)(1 + lcg(&seed) % 12);
                        size_t week = lcg(&seed) % nweeks;
                        const char *event = events[lcg(&seed) % 4];
                        const char *country = countries[lcg(&seed) % 3];
                        Nmo__Severity sev = (Nmo__Severity)(1 + lcg(&seed) % 4);
                        uint64_t vol = lcg(&seed) % 3 ? 0 : 1 + lcg(&seed) % 1000;

                        c[i] = mk(who, week, event, country, sev, vol);
                }
                assert_int_equal(dc_compute(c, n, MONTH, &params, NULL, &r), 0);
                for (size_t i = 0; i < r.ncells; i++) {
                        const struct dc_cell *cell = &r.cells[i];
                        const struct dc_cell *one[1] = { cell };
                        uint32_t reporters;
                        uint64_t vol[256];

                        union_of(c, n, one, 1, &reporters, vol);
                        assert_int_equal(reporters, cell->reporters);
                        if (rel(cell))
                                assert_true(cell->reporters >= 3);
                        if (rel(cell) &&
                            cell->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED)
                                assert_true(volume_safe(vol));
                }
                check_no_subtraction(c, n, &r);
                dc_result_free(&r);
        }
}

static void test_periods(void **state)
{
        char buf[16];
        int64_t day;

        (void)state;
        /* 2026-11-28 is a Saturday in ISO week 48; its Thursday is 11-26. */
        assert_int_equal(date_parse("2026-11-28", &day), 0);
        assert_int_equal(period_week_of_day(day), 202648);
        assert_int_equal(period_month_of_week(202648), 202611);
        period_week_str(202648, buf, sizeof(buf));
        assert_string_equal(buf, "2026-W48");
        /* 2026-W53 exists (2026 starts on a Thursday) and belongs to December. */
        assert_int_equal(date_parse("2026-12-31", &day), 0);
        assert_int_equal(period_week_of_day(day), 202653);
        assert_int_equal(period_week_next(202653), 202701);
        assert_int_equal(period_week_prev(202701), 202653);
        /* 2027-01-01 is a Friday in 2026-W53. */
        assert_int_equal(date_parse("2027-01-01", &day), 0);
        assert_int_equal(period_week_of_day(day), 202653);
        /* The weeks of November 2026 and when its epoch ends. */
        assert_int_equal(nweeks, 4);
        assert_int_equal(weeks[0], 202645);
        assert_int_equal(weeks[3], 202648);
        date_str(date_day_of_ms(period_month_end_ms(MONTH)), buf, sizeof(buf));
        assert_string_equal(buf, "2026-11-30");
        assert_int_equal(date_parse("2026-02-29", &day), -EINVAL);
        assert_int_equal(date_parse("2024-02-29", &day), 0);
        assert_int_equal(date_parse("2026-1-01", &day), -EINVAL);
}


/* ---- over time: the ledger and protection intervals ---- */

static const struct dc_params protect = { 3, 2, 85, 2 };

/* A ledger for tests: cells an earlier release published (released[] as
 * released, suppressed[] as suppressed), and the weeks this release may
 * publish (with final, the month's cells too). */
struct test_ledger {
        const struct dc_cell *released[16], *suppressed[16];
        size_t nreleased, nsuppressed;
        uint32_t weeks[PERIOD_WEEKS_MAX];
        size_t nweeks;
        bool final;
};

static bool same_cell(const struct dc_cell *a, const struct dc_cell *b)
{
        return a->kind == b->kind && a->period == b->period && strcmp(a->event, b->event) == 0 &&
               strcmp(a->country, b->country) == 0;
}

static bool tl_lookup(void *u, const struct dc_cell *c, Nmo__Hub__Suppression *supp,
                      Nmo__Hub__VolumeStatus *vol)
{
        const struct test_ledger *l = u;

        for (size_t i = 0; i < l->nreleased; i++)
                if (same_cell(l->released[i], c)) {
                        *supp = NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;
                        *vol = l->released[i]->volume_status;
                        return true;
                }
        for (size_t i = 0; i < l->nsuppressed; i++)
                if (same_cell(l->suppressed[i], c)) {
                        *supp = l->suppressed[i]->suppression;
                        return true;
                }
        return false;
}

static bool tl_in_scope(void *u, const struct dc_cell *c)
{
        const struct test_ledger *l = u;

        if (c->kind == NMO__HUB__CELL_KIND__CELL_EVENT_MONTH)
                return l->final;
        for (size_t i = 0; i < l->nweeks; i++)
                if (l->weeks[i] == c->period)
                        return true;
        return false;
}

/* One snapshot pins suppressed cells: three events with one report each
 * (suppressed), one with three companies, all in one week. The threshold rule
 * alone releases the week's total and the big event (the three small cells
 * together have 3 reporters), and then total minus released part leaves 3
 * reports over 3 listed cells: each exactly 1. The interval audit must see
 * that and withhold more. */
static void test_intervals_one_snapshot(void **state)
{
        struct dc_contrib c[6];
        struct dc_result r;
        const struct dc_cell *big, *mw;

        (void)state;
        c[0] = mk(1, 0, "strike", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        c[1] = mk(2, 0, "flood", "CN", NMO__SEVERITY__SEVERITY_LOW, 0);
        c[2] = mk(3, 0, "fire", "CN", NMO__SEVERITY__SEVERITY_LOW, 0);
        c[3] = mk(4, 0, "export-ban", "CN", NMO__SEVERITY__SEVERITY_LOW, 0);
        c[4] = mk(5, 0, "export-ban", "CN", NMO__SEVERITY__SEVERITY_LOW, 0);
        c[5] = mk(6, 0, "export-ban", "CN", NMO__SEVERITY__SEVERITY_LOW, 0);
        /* Without the audit: pinned. */
        assert_int_equal(dc_compute(c, 6, MONTH, &params, NULL, &r), 0);
        big = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "export-ban", "");
        mw = find(&r, NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK, weeks[0], "", "");
        assert_true(rel(big) && rel(mw));
        dc_result_free(&r);
        /* With it: the big event or the total is withheld too. */
        assert_int_equal(dc_compute(c, 6, MONTH, &protect, NULL, &r), 0);
        big = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "export-ban", "");
        mw = find(&r, NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK, weeks[0], "", "");
        assert_false(rel(big) && rel(mw));
        /* The country cell is the week's total again: both or neither. */
        assert_false(rel(find(&r, NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK, weeks[0], "", "CN")) &&
                     !rel(mw) && rel(big));
        dc_result_free(&r);
}

/* An earlier release is not undone, and is taken into account: week 1's
 * export-ban cell (three companies) was released; in week 2 a fourth company
 * reports the same event alone (suppressed). At the epoch's final release the
 * month's export-ban cell has 4 companies and passes the threshold, but month
 * minus the released week 1 gives week 2's single report exactly: the month
 * cell must be withheld, and week 1 stays released. */
static void test_intervals_across_releases(void **state)
{
        struct dc_contrib c[4];
        struct dc_result first, r;
        struct test_ledger tl;
        struct dc_ledger l = { tl_lookup, tl_in_scope, &tl };
        const struct dc_cell *w1, *em;

        (void)state;
        c[0] = mk(1, 0, "export-ban", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        c[1] = mk(2, 0, "export-ban", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        c[2] = mk(3, 0, "export-ban", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        c[3] = mk(4, 1, "export-ban", "CN", NMO__SEVERITY__SEVERITY_CRITICAL, 0);
        /* Release 1: week 1 only. */
        memset(&tl, 0, sizeof(tl));
        tl.weeks[tl.nweeks++] = weeks[0];
        assert_int_equal(dc_compute(c, 3, MONTH, &protect, &l, &first), 0);
        w1 = find(&first, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "export-ban", "");
        assert_true(rel(w1) && w1->fate == DC_NEW);
        assert_int_equal(find(&first, NMO__HUB__CELL_KIND__CELL_EVENT_MONTH, MONTH, "export-ban",
                              "")->fate, DC_UNPUBLISHED);
        /* The final release: what release 1 published is in the ledger. */
        memset(&tl, 0, sizeof(tl));
        for (size_t i = 0; i < first.ncells; i++) {
                if (first.cells[i].fate != DC_NEW)
                        continue;
                if (rel(&first.cells[i]))
                        tl.released[tl.nreleased++] = &first.cells[i];
                else
                        tl.suppressed[tl.nsuppressed++] = &first.cells[i];
        }
        for (size_t i = 1; i < nweeks; i++)
                tl.weeks[tl.nweeks++] = weeks[i];
        tl.final = true;
        assert_int_equal(dc_compute(c, 4, MONTH, &protect, &l, &r), 0);
        w1 = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "export-ban", "");
        assert_true(rel(w1) && w1->fate == DC_RELEASED);
        assert_false(rel(find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[1], "export-ban",
                              "")));
        em = find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_MONTH, MONTH, "export-ban", "");
        assert_int_equal(em->reporters, 4);
        assert_false(rel(em));
        assert_int_equal(em->fate, DC_NEW);
        dc_result_free(&r);
        /* Without a ledger (all recomputed at once, as before releases had
         * one) the rules would rather withhold week 1, which is public. */
        assert_int_equal(dc_compute(c, 4, MONTH, &protect, NULL, &r), 0);
        assert_false(rel(find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, weeks[0], "export-ban",
                              "")) &&
                     !rel(find(&r, NMO__HUB__CELL_KIND__CELL_EVENT_MONTH, MONTH, "export-ban",
                               "")));
        dc_result_free(&r);
        dc_result_free(&first);
}

/* The severity count of a week leaves out a week before it that is not
 * released: two companies at high severity in week 1 (suppressed), three in
 * week 2 of which one high. */
static void test_high_reporters_released_weeks_only(void **state)
{
        struct dc_contrib c[5];
        struct dc_result r;
        const struct dc_cell *mw2;

        (void)state;
        c[0] = mk(1, 0, "strike", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        c[1] = mk(2, 0, "strike", "CN", NMO__SEVERITY__SEVERITY_CRITICAL, 0);
        c[2] = mk(3, 1, "strike", "CN", NMO__SEVERITY__SEVERITY_HIGH, 0);
        c[3] = mk(4, 1, "strike", "CN", NMO__SEVERITY__SEVERITY_LOW, 0);
        c[4] = mk(5, 1, "strike", "CN", NMO__SEVERITY__SEVERITY_LOW, 0);
        assert_int_equal(dc_compute(c, 5, MONTH, &params, NULL, &r), 0);
        assert_false(rel(find(&r, NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK, weeks[0], "", "")));
        mw2 = find(&r, NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK, weeks[1], "", "");
        assert_true(rel(mw2));
        assert_int_equal(mw2->reporters_high, 0);
        dc_result_free(&r);
}

/* Cell keys: the sum of the contributions' record keys. */
static void test_cell_keys(void **state)
{
        struct dc_contrib c[3];
        struct dc_result r;

        (void)state;
        for (int i = 0; i < 3; i++) {
                c[i] = mk((uint8_t)(i + 1), 0, "strike", "CN", NMO__SEVERITY__SEVERITY_LOW,
                          100 * (uint64_t)(i + 1));
                c[i].record_key = 0x80000000u + (uint32_t)i;
        }
        assert_int_equal(dc_compute(c, 3, MONTH, &params, NULL, &r), 0);
        for (size_t i = 0; i < r.ncells; i++) {
                assert_int_equal(r.cells[i].cell_key, 0x80000000u * 3u + 3u);
                assert_int_equal(r.cells[i].volume_max, 300);
        }
        dc_result_free(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_periods),
                cmocka_unit_test(test_three_released_two_suppressed),
                cmocka_unit_test(test_one_member_ten_times_counts_once),
                cmocka_unit_test(test_dominance),
                cmocka_unit_test(test_secondary_suppression),
                cmocka_unit_test(test_secondary_over_weeks),
                cmocka_unit_test(test_secondary_volume),
                cmocka_unit_test(test_bad_params),
                cmocka_unit_test(test_random_tables),
                cmocka_unit_test(test_intervals_one_snapshot),
                cmocka_unit_test(test_intervals_across_releases),
                cmocka_unit_test(test_high_reporters_released_weeks_only),
                cmocka_unit_test(test_cell_keys),
        };

        return cmocka_run_group_tests_name("disclosure", tests, setup, NULL);
}
