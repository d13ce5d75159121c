/* period.c: see period.h. The day arithmetic is common/date.c's. */
#include "period.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "date.h"

uint32_t period_week_of_day(int64_t day)
{
        int64_t thursday = day - date_weekday(day) + 3, y;
        unsigned int m, d;

        date_civil_from_days(thursday, &y, &m, &d);
        return (uint32_t)(y * 100 + (thursday - date_days_from_civil(y, 1, 1)) / 7 + 1);
}

uint32_t period_month_of_day(int64_t day)
{
        int64_t y;
        unsigned int m, d;

        date_civil_from_days(day, &y, &m, &d);
        return (uint32_t)(y * 100 + m);
}

/* Monday of ISO week 1: the week that holds 4 January. */
static int64_t week1_monday(int64_t year)
{
        int64_t jan4 = date_days_from_civil(year, 1, 4);

        return jan4 - date_weekday(jan4);
}

int64_t period_week_monday(uint32_t week)
{
        return week1_monday(week / 100) + (int64_t)(week % 100 - 1) * 7;
}

uint32_t period_week_prev(uint32_t week)
{
        return period_week_of_day(period_week_monday(week) - 7);
}

uint32_t period_week_next(uint32_t week)
{
        return period_week_of_day(period_week_monday(week) + 7);
}

unsigned int period_weeks_in_year(int64_t year)
{
        return (unsigned int)((week1_monday(year + 1) - week1_monday(year)) / 7);
}

uint32_t period_month_of_week(uint32_t week)
{
        return period_month_of_day(period_week_monday(week) + 3);
}

size_t period_month_weeks(uint32_t month, uint32_t weeks[PERIOD_WEEKS_MAX])
{
        int64_t first = date_days_from_civil(month / 100, month % 100, 1);
        int64_t thursday = first + (3 - (int64_t)date_weekday(first) + 7) % 7;
        size_t n = 0;

        while (n < PERIOD_WEEKS_MAX && period_month_of_day(thursday) == month) {
                weeks[n++] = period_week_of_day(thursday);
                thursday += 7;
        }
        return n;
}

void period_month_days(uint32_t month, int64_t *first, int64_t *last)
{
        uint32_t weeks[PERIOD_WEEKS_MAX];
        size_t n = period_month_weeks(month, weeks);

        *first = period_week_monday(weeks[0]);
        *last = period_week_monday(weeks[n - 1]) + 6;
}

uint64_t period_month_start_ms(uint32_t month)
{
        int64_t first, last;

        period_month_days(month, &first, &last);
        return (uint64_t)first * DATE_MS_PER_DAY;
}

uint64_t period_month_end_ms(uint32_t month)
{
        int64_t first, last;

        period_month_days(month, &first, &last);
        return (uint64_t)(last + 1) * DATE_MS_PER_DAY;
}

uint32_t period_month_next(uint32_t month)
{
        return month % 100 == 12 ? (month / 100 + 1) * 100 + 1 : month + 1;
}

void period_week_str(uint32_t week, char *buf, size_t len)
{
        snprintf(buf, len, "%04u-W%02u", week / 100, week % 100);
}

void period_month_str(uint32_t month, char *buf, size_t len)
{
        snprintf(buf, len, "%04u-%02u", month / 100, month % 100);
}

/* Exactly n ASCII digits at s, stopping at the first that is not one. */
static bool digits(const char *s, size_t n, unsigned int *out)
{
        unsigned int v = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (unsigned int)(s[i] - '0');
        }
        *out = v;
        return true;
}

int period_parse_week(const char *s, uint32_t *week)
{
        unsigned int y, w;

        if (!s || !digits(s, 4, &y) || s[4] != '-' || s[5] != 'W' || !digits(s + 6, 2, &w) ||
            s[8] != '\0')
                return -EINVAL;
        if (y < DATE_YEAR_MIN || y > DATE_YEAR_MAX || w < 1 || w > period_weeks_in_year(y))
                return -EINVAL;
        *week = y * 100 + w;
        return 0;
}

int period_parse_month(const char *s, uint32_t *month)
{
        unsigned int y, m;

        if (!s || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) || s[7] != '\0')
                return -EINVAL;
        if (y < DATE_YEAR_MIN || y > DATE_YEAR_MAX || m < 1 || m > 12)
                return -EINVAL;
        *month = y * 100 + m;
        return 0;
}

int period_range(const char *s, int64_t *first, int64_t *last, bool *is_week)
{
        uint32_t id;

        if (period_parse_week(s, &id) == 0) {
                *first = period_week_monday(id);
                *last = *first + 6;
                if (is_week)
                        *is_week = true;
                return 0;
        }
        if (period_parse_month(s, &id) == 0) {
                period_month_days(id, first, last);
                if (is_week)
                        *is_week = false;
                return 0;
        }
        return -EINVAL;
}
