/* test-calendar.c: the one date parser (common/date.c) and the one calendar
 * (analytics/period.c): strict YYYY-MM-DD, days <-> civil dates, ISO weeks at
 * the turn of the year, months made of the ISO weeks whose Thursday falls in
 * them, and that the analyst's month filter selects exactly the weeks of the
 * hub's monthly cells. The node's start-date goes through the same parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "analyst.h"
#include "date.h"
#include "period.h"
#include "signal.h"

static int64_t day_of(const char *s)
{
        int64_t day = INT64_MIN;

        assert_int_equal(date_parse(s, &day), 0);
        return day;
}

static uint32_t week_of(const char *s)
{
        return period_week_of_day(day_of(s));
}

static void test_parse_refuses(void **state)
{
        static const char *const bad[] = {
                "2030-+1-01", "2030-01- 1", " 2030-01-01", "2030-01-01 ", "2030-1-01",
                "2030-01-1", "2030-01-01x", "2030-02-30", "2030-02-29", "2030-13-01",
                "2030-00-10", "2030-01-00", "2030-04-31", "+2030-01-01", "-2030-01-01",
                "", "2030", "2030-01", "2030/01/01", "2030-01-01\n", "0000-01-01",
                "20300-01-01", "2030-001-01", "2030-01-+1", "2030--1-01", "2o30-01-01",
                "2030-0x-01", "\t2030-01-01",
        };
        int64_t day = 42;

        (void)state;
        for (size_t i = 0; i < NMO_ARRAY_SIZE(bad); i++) {
                if (date_parse(bad[i], &day) != -EINVAL)
                        fail_msg("date_parse accepted \"%s\"", bad[i]);
                assert_int_equal(day, 42); /* untouched on failure */
        }
        assert_int_equal(date_parse(NULL, &day), -EINVAL);
        /* A field's own range on top: a signal's start date is 1900..2199. */
        assert_int_equal(date_parse_range("1899-12-31", 1900, 2199, &day), -EINVAL);
        assert_int_equal(date_parse_range("2200-01-01", 1900, 2199, &day), -EINVAL);
        assert_int_equal(date_parse_range("1900-01-01", 1900, 2199, &day), 0);
        assert_int_equal(date_parse_range("2199-12-31", 1900, 2199, &day), 0);
}

static void test_parse_accepts(void **state)
{
        (void)state;
        assert_int_equal(day_of("1970-01-01"), 0);
        assert_int_equal(day_of("1969-12-31"), -1);
        assert_int_equal(day_of("2026-11-23"), 20780);
        assert_int_equal(day_of("2024-02-29") + 1, day_of("2024-03-01"));
        assert_int_equal(day_of("2000-02-29") + 1, day_of("2000-03-01"));
        assert_int_equal(day_of("0001-01-01"), -719162);
        assert_int_equal(day_of("9999-12-31"), 2932896);
        assert_int_equal(date_parse("1900-02-29", &(int64_t){ 0 }), -EINVAL);
        assert_int_equal(date_parse("2100-02-29", &(int64_t){ 0 }), -EINVAL);
}

/* Every day from 0001-01-01 to 9999-12-31 prints and parses back to itself,
 * and consecutive days are consecutive dates. */
static void test_days_civil_round_trip(void **state)
{
        int64_t first = day_of("0001-01-01"), last = day_of("9999-12-31"), back;
        int64_t py = 0;
        unsigned int pm = 0, pd = 0;
        char buf[16];

        (void)state;
        for (int64_t day = first; day <= last; day++) {
                int64_t y;
                unsigned int m, d;

                date_civil_from_days(day, &y, &m, &d);
                assert_int_equal(date_days_from_civil(y, m, d), day);
                if (day > first)
                        assert_true((y == py && m == pm && d == pd + 1) ||
                                    (y == py && m == pm + 1 && d == 1 &&
                                     pd == date_days_in_month(py, pm)) ||
                                    (y == py + 1 && m == 1 && d == 1 && pm == 12 && pd == 31));
                py = y;
                pm = m;
                pd = d;
                if (day % 97 == 0 || day == first || day == last) {
                        date_str(day, buf, sizeof(buf));
                        assert_int_equal(date_parse(buf, &back), 0);
                        assert_int_equal(back, day);
                }
        }
        assert_int_equal(date_weekday(0), 3);                     /* a Thursday */
        assert_int_equal(date_weekday(day_of("2026-11-23")), 0);  /* a Monday */
        assert_int_equal(date_weekday(-1), 2);
        assert_int_equal(date_day_of_ms(DATE_MS_PER_DAY - 1), 0);
        assert_int_equal(date_day_of_ms(DATE_MS_PER_DAY), 1);
}

static void test_iso_weeks(void **state)
{
        char buf[PERIOD_STR_MAX];

        (void)state;
        /* Week 53: 2020 (which starts on a Wednesday in a leap year) and 2026
         * (which starts on a Thursday) have one; 2025 has not. */
        assert_int_equal(period_weeks_in_year(2020), 53);
        assert_int_equal(period_weeks_in_year(2026), 53);
        assert_int_equal(period_weeks_in_year(2015), 53);
        assert_int_equal(period_weeks_in_year(2025), 52);
        assert_int_equal(period_weeks_in_year(2024), 52);
        assert_int_equal(week_of("2020-12-31"), 202053);
        assert_int_equal(week_of("2021-01-03"), 202053); /* Jan 1-3: last year's week */
        assert_int_equal(week_of("2021-01-04"), 202101);
        assert_int_equal(week_of("2026-12-31"), 202653);
        assert_int_equal(week_of("2027-01-01"), 202653);
        assert_int_equal(week_of("2027-01-03"), 202653);
        assert_int_equal(week_of("2027-01-04"), 202701);
        assert_int_equal(period_week_next(202653), 202701);
        assert_int_equal(period_week_prev(202701), 202653);
        assert_int_equal(period_week_prev(202101), 202053);
        period_week_str(202653, buf, sizeof(buf));
        assert_string_equal(buf, "2026-W53");

        /* A year whose 1 January is a Thursday (2015, 2026): week 1 holds it and
         * starts on Monday 29 December of the year before, which with 30 and 31
         * December belongs to the new year's week 1. */
        assert_int_equal(period_week_monday(201501), day_of("2014-12-29"));
        assert_int_equal(period_week_monday(202601), day_of("2025-12-29"));
        assert_int_equal(week_of("2025-12-29"), 202601);
        assert_int_equal(week_of("2025-12-31"), 202601);
        assert_int_equal(week_of("2025-12-28"), 202552);
        /* A year whose first Thursday is 4 January (1 January a Monday: 2018,
         * 2024): week 1 starts on 1 January itself, and 1..3 January are in it,
         * not in the previous year's last week. */
        assert_int_equal(period_week_monday(202401), day_of("2024-01-01"));
        assert_int_equal(period_week_monday(201801), day_of("2018-01-01"));
        assert_int_equal(week_of("2024-01-03"), 202401);
        assert_int_equal(week_of("2023-12-31"), 202352);
        /* 1 January a Friday (2021) or a Sunday (2023): 1..3 January belong to
         * the previous year's last week. */
        assert_int_equal(week_of("2021-01-01"), 202053);
        assert_int_equal(week_of("2023-01-01"), 202252);
        assert_int_equal(week_of("2023-01-02"), 202301);
        /* 29..31 December in the next year's week 1 (2024-12-30 is 2025-W01). */
        assert_int_equal(week_of("2024-12-30"), 202501);
        assert_int_equal(week_of("2024-12-29"), 202452);
}

static void test_iso_months(void **state)
{
        uint32_t weeks[PERIOD_WEEKS_MAX];
        int64_t first, last;
        size_t n;

        (void)state;
        /* 2026-11: Thursdays 5, 12, 19, 26 November: W45..W48, Monday 2 to
         * Sunday 29 November. 30 November starts 2026-W49, whose Thursday is
         * 3 December: that week is December's. */
        n = period_month_weeks(202611, weeks);
        assert_int_equal(n, 4);
        assert_int_equal(weeks[0], 202645);
        assert_int_equal(weeks[3], 202648);
        period_month_days(202611, &first, &last);
        assert_int_equal(first, day_of("2026-11-02"));
        assert_int_equal(last, day_of("2026-11-29"));
        assert_int_equal(period_month_of_week(week_of("2026-11-30")), 202612);
        assert_int_equal(period_month_of_day(day_of("2026-11-30")), 202611);
        assert_int_equal(period_month_end_ms(202611), (uint64_t)day_of("2026-11-30") *
                                                              DATE_MS_PER_DAY);
        /* A week whose Monday and Thursday are in one month and Sunday in the
         * next (2026-W44, 26 October .. 1 November) is the first month's. */
        assert_int_equal(period_month_of_week(202644), 202610);
        /* A month whose first days are the previous month's last week: 1 March
         * 2026 is a Sunday, in 2026-W09 (Thursday 26 February). */
        assert_int_equal(period_month_of_week(week_of("2026-03-01")), 202602);
        /* Five weeks: 2024-02 (Thursdays 1..29 February), 29 January to 3 March;
         * 2026-01 (Thursdays 1..29 January), from Monday 29 December 2025. */
        n = period_month_weeks(202402, weeks);
        assert_int_equal(n, 5);
        assert_int_equal(weeks[0], 202405);
        assert_int_equal(weeks[4], 202409);
        period_month_days(202402, &first, &last);
        assert_int_equal(first, day_of("2024-01-29"));
        assert_int_equal(last, day_of("2024-03-03"));
        n = period_month_weeks(202601, weeks);
        assert_int_equal(n, 5);
        assert_int_equal(weeks[0], 202601);
        assert_int_equal(period_week_monday(weeks[0]), day_of("2025-12-29"));
        /* Week 53 of 2026 (Thursday 31 December) is December's, and 2027-01
         * starts on Monday 4 January. */
        n = period_month_weeks(202612, weeks);
        assert_int_equal(weeks[n - 1], 202653);
        period_month_days(202701, &first, &last);
        assert_int_equal(first, day_of("2027-01-04"));

        /* Over two centuries the months tile the weeks: each has 4 or 5
         * consecutive weeks that belong to it, and the next month starts the
         * week after. */
        for (uint32_t m = 190001; m < 210012; m = period_month_next(m)) {
                n = period_month_weeks(m, weeks);
                assert_true(n == 4 || n == 5);
                for (size_t i = 0; i < n; i++) {
                        assert_int_equal(period_month_of_week(weeks[i]), m);
                        if (i > 0)
                                assert_int_equal(weeks[i], period_week_next(weeks[i - 1]));
                }
                {
                        uint32_t next[PERIOD_WEEKS_MAX];

                        (void)period_month_weeks(period_month_next(m), next);
                        assert_int_equal(next[0], period_week_next(weeks[n - 1]));
                }
        }
}

static void test_period_strings(void **state)
{
        static const char *const bad[] = {
                "2025-W53", "2026-W00", "2026-W54", "2026-W4", "2026-w48", "2026-W48x",
                " 2026-W48", "2026-W+8", "2026-13", "2026-00", "2026-1", "2026-+1", "2026-11 ",
                "", "2026", "2026-11-01",
        };
        int64_t first, last;
        uint32_t id;
        bool week;

        (void)state;
        for (size_t i = 0; i < NMO_ARRAY_SIZE(bad); i++)
                if (period_range(bad[i], &first, &last, NULL) != -EINVAL)
                        fail_msg("period_range accepted \"%s\"", bad[i]);
        assert_int_equal(period_parse_week("2026-W53", &id), 0);
        assert_int_equal(id, 202653);
        assert_int_equal(period_parse_week("2020-W53", &id), 0);
        assert_int_equal(period_parse_month("2026-11", &id), 0);
        assert_int_equal(id, 202611);
        assert_int_equal(period_range("2026-W48", &first, &last, &week), 0);
        assert_true(week);
        assert_int_equal(first, day_of("2026-11-23"));
        assert_int_equal(last, day_of("2026-11-29"));
        assert_int_equal(period_range("2026-11", &first, &last, &week), 0);
        assert_false(week);
        assert_int_equal(first, day_of("2026-11-02"));
        assert_int_equal(last, day_of("2026-11-29"));
}

/* The analyst's --from/--to month bounds select, by overlap of Monday..Sunday,
 * exactly the weeks the hub sums into that month's cells (and its event-month
 * cell is the one month that overlaps). */
static void test_analyst_month_is_hub_month(void **state)
{
        (void)state;
        for (uint32_t m = 201901; m < 203101; m = period_month_next(m)) {
                uint32_t weeks[PERIOD_WEEKS_MAX], w;
                size_t n = period_month_weeks(m, weeks), k = 0;
                int64_t from, to, f2, l2;
                char s[PERIOD_STR_MAX];

                period_month_str(m, s, sizeof(s));
                assert_int_equal(analyst_parse_bound(s, false, &from), 0);
                assert_int_equal(analyst_parse_bound(s, true, &to), 0);
                /* Every week that overlaps from..to, in order. */
                for (w = period_week_of_day(from - 14); period_week_monday(w) <= to + 14;
                     w = period_week_next(w)) {
                        int64_t mon = period_week_monday(w);

                        if (mon + 6 < from || mon > to)
                                continue;
                        assert_true(k < n);
                        assert_int_equal(w, weeks[k]);
                        k++;
                }
                assert_int_equal(k, n);
                /* Months next to it do not overlap it. */
                period_month_str(period_month_next(m), s, sizeof(s));
                assert_int_equal(period_range(s, &f2, &l2, NULL), 0);
                assert_int_equal(f2, to + 1);
        }
}

/* The node's start-date uses the same parser: the lax forms are refused. */
static void test_signal_start_date(void **state)
{
        static const char *const bad[] = { "2030-+1-01", "2030-01- 1", " 2030-01-01",
                                           "2030-02-30", "1899-12-31", "2200-01-01" };
        struct signal s;
        char err[256];

        (void)state;
        memset(&s, 0, sizeof(s));
        for (size_t i = 0; i < NMO_ARRAY_SIZE(bad); i++)
                if (signal_set(&s, "start-date", bad[i], err, sizeof(err)) != -EINVAL)
                        fail_msg("start-date \"%s\" accepted", bad[i]);
        assert_int_equal(signal_set(&s, "start-date", "2030-01-01", err, sizeof(err)), 0);
        assert_string_equal(s.start_date, "2030-01-01");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_refuses),
                cmocka_unit_test(test_parse_accepts),
                cmocka_unit_test(test_days_civil_round_trip),
                cmocka_unit_test(test_iso_weeks),
                cmocka_unit_test(test_iso_months),
                cmocka_unit_test(test_period_strings),
                cmocka_unit_test(test_analyst_month_is_hub_month),
                cmocka_unit_test(test_signal_start_date),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
