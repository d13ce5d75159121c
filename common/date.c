/* date.c: see date.h. Civil-date arithmetic after Howard Hinnant's
 * days_from_civil / civil_from_days, valid for the proleptic Gregorian
 * calendar on the whole int64 day range we use. */
#include "date.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

static int64_t floor_div(int64_t a, int64_t b)
{
        return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

int64_t date_days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = floor_div(y, 400);
        yoe = y - era * 400;
        doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

void date_civil_from_days(int64_t day, int64_t *y, unsigned int *m, unsigned int *d)
{
        int64_t z = day + 719468, era, doe, yoe, doy, mp;

        era = floor_div(z, 146097);
        doe = z - era * 146097;
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        *d = (unsigned int)(doy - (153 * mp + 2) / 5 + 1);
        *m = (unsigned int)(mp < 10 ? mp + 3 : mp - 9);
        *y = yoe + era * 400 + (*m <= 2);
}

unsigned int date_weekday(int64_t day)
{
        /* 1970-01-01 was a Thursday (3). */
        return (unsigned int)(((day + 3) % 7 + 7) % 7);
}

unsigned int date_days_in_month(int64_t y, unsigned int m)
{
        int64_t next = m == 12 ? date_days_from_civil(y + 1, 1, 1)
                               : date_days_from_civil(y, m + 1, 1);

        return (unsigned int)(next - date_days_from_civil(y, m, 1));
}

int64_t date_day_of_ms(uint64_t ms)
{
        return (int64_t)(ms / DATE_MS_PER_DAY);
}

/* Exactly n ASCII digits at s; no sign, no space (which sscanf and strtoul
 * would let through). */
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

int date_parse_range(const char *s, int year_min, int year_max, int64_t *day)
{
        unsigned int y, m, d;

        if (!s)
                return -EINVAL;
        /* Each position checked in order, so the string ends at s[10] and a
         * shorter one stops at its NUL (not a digit, not a dash). */
        if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) || s[7] != '-' ||
            !digits(s + 8, 2, &d) || s[10] != '\0')
                return -EINVAL;
        if ((int)y < year_min || (int)y > year_max || y < DATE_YEAR_MIN || y > DATE_YEAR_MAX)
                return -EINVAL;
        if (m < 1 || m > 12 || d < 1 || d > date_days_in_month(y, m))
                return -EINVAL;
        *day = date_days_from_civil(y, m, d);
        return 0;
}

int date_parse(const char *s, int64_t *day)
{
        return date_parse_range(s, DATE_YEAR_MIN, DATE_YEAR_MAX, day);
}

void date_str(int64_t day, char *buf, size_t len)
{
        int64_t y;
        unsigned int m, d;

        date_civil_from_days(day, &y, &m, &d);
        snprintf(buf, len, "%04lld-%02u-%02u", (long long)y, m, d);
}
