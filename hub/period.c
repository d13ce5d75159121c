/* period.c: see period.h. Civil-date arithmetic after Howard Hinnant's
 * days_from_civil / civil_from_days, valid for the proleptic Gregorian calendar. */
#include "period.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
        int64_t era;
        unsigned yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = (unsigned)(y - era * 400);
        doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
        int64_t era;
        unsigned doe, yoe, doy, mp;

        z += 719468;
        era = (z >= 0 ? z : z - 146096) / 146097;
        doe = (unsigned)(z - era * 146097);
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        *y = (int64_t)yoe + era * 400;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        *d = doy - (153 * mp + 2) / 5 + 1;
        *m = mp + (mp < 10 ? 3 : -9);
        *y += *m <= 2;
}

/* Monday = 0 ... Sunday = 6; 1970-01-01 was a Thursday. */
static unsigned weekday(int64_t day)
{
        int64_t w = (day + 3) % 7;

        return (unsigned)(w < 0 ? w + 7 : w);
}

int64_t period_day_of_ms(uint64_t ms)
{
        return (int64_t)(ms / PERIOD_MS_PER_DAY);
}

uint32_t period_week_of_day(int64_t day)
{
        int64_t thursday = day - weekday(day) + 3, y;
        unsigned m, d;

        civil_from_days(thursday, &y, &m, &d);
        return (uint32_t)(y * 100 + (thursday - days_from_civil(y, 1, 1)) / 7 + 1);
}

uint32_t period_month_of_day(int64_t day)
{
        int64_t y;
        unsigned m, d;

        civil_from_days(day, &y, &m, &d);
        return (uint32_t)(y * 100 + m);
}

int64_t period_week_monday(uint32_t week)
{
        int64_t jan4 = days_from_civil(week / 100, 1, 4);

        return jan4 - weekday(jan4) + (int64_t)(week % 100 - 1) * 7;
}

uint32_t period_week_prev(uint32_t week)
{
        return period_week_of_day(period_week_monday(week) - 7);
}

uint32_t period_week_next(uint32_t week)
{
        return period_week_of_day(period_week_monday(week) + 7);
}

uint32_t period_month_of_week(uint32_t week)
{
        return period_month_of_day(period_week_monday(week) + 3);
}

size_t period_month_weeks(uint32_t month, uint32_t weeks[PERIOD_WEEKS_MAX])
{
        int64_t first = days_from_civil(month / 100, month % 100, 1);
        int64_t thursday = first + (3 - (int64_t)weekday(first) + 7) % 7;
        size_t n = 0;

        while (n < PERIOD_WEEKS_MAX && period_month_of_day(thursday) == month) {
                weeks[n++] = period_week_of_day(thursday);
                thursday += 7;
        }
        return n;
}

uint64_t period_month_end_ms(uint32_t month)
{
        uint32_t weeks[PERIOD_WEEKS_MAX];
        size_t n = period_month_weeks(month, weeks);

        return (uint64_t)(period_week_monday(weeks[n - 1]) + 7) * PERIOD_MS_PER_DAY;
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

void period_day_str(int64_t day, char *buf, size_t len)
{
        int64_t y;
        unsigned m, d;

        civil_from_days(day, &y, &m, &d);
        snprintf(buf, len, "%04lld-%02u-%02u", (long long)y, m, d);
}

int period_parse_day(const char *s, int64_t *day)
{
        unsigned y, m, d;
        int n = 0;
        int64_t z, yy;
        unsigned mm, dd;

        if (!s || strlen(s) != 10 || sscanf(s, "%4u-%2u-%2u%n", &y, &m, &d, &n) != 3 || n != 10 ||
            s[4] != '-' || s[7] != '-')
                return -EINVAL;
        if (y < 1900 || y > 2199 || m < 1 || m > 12 || d < 1 || d > 31)
                return -EINVAL;
        z = days_from_civil(y, m, d);
        civil_from_days(z, &yy, &mm, &dd);
        if (yy != y || mm != m || dd != d)
                return -EINVAL;
        *day = z;
        return 0;
}
