/* period.h: the one calendar of nmo-signal: ISO weeks and the months made of
 * them, in UTC, built on the day numbers of common/date.h.
 *
 * A week id is ISO-year * 100 + ISO-week (202648 is "2026-W48", Monday 23 to
 * Sunday 29 November 2026); a month id is year * 100 + month (202611 is
 * "2026-11"). An ISO week belongs to the year of its Thursday, so 1 to 3
 * January can be the previous year's last week (2027-01-01 is in 2026-W53) and
 * 29 to 31 December the next year's week 1 (2025-12-29 is in 2026-W01).
 *
 * A month is not the calendar month: it is the ISO weeks whose Thursday falls
 * in it (the rule ISO uses for years), four or five whole weeks from a Monday
 * to a Sunday. 2026-11 is 2026-W45..W48, Monday 2 to Sunday 29 November; its 30
 * November is in 2026-W49, which belongs to 2026-12. 2026-01 starts on Monday
 * 29 December 2025. So a month is a whole number of weeks and month figures
 * are sums of week figures. Epochs, the monthly cells, and the analyst's month
 * filters all use this month. An epoch is such a month: the span over which
 * one pseudonym key counts distinct reporters. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define PERIOD_WEEKS_MAX 5   /* weeks in one month */
#define PERIOD_STR_MAX 9     /* "YYYY-Www" and its NUL */

/* Week id of a day; month id of a day (the month of its week's Thursday). */
uint32_t period_week_of_day(int64_t day);
uint32_t period_month_of_day(int64_t day);
/* Monday of a week id (days since the epoch). */
int64_t period_week_monday(uint32_t week);
/* The week before / after a week id. */
uint32_t period_week_prev(uint32_t week);
uint32_t period_week_next(uint32_t week);
/* ISO weeks in ISO-year year: 52 or 53. */
unsigned int period_weeks_in_year(int64_t year);
/* The month (epoch) a week belongs to: the month of its Thursday. */
uint32_t period_month_of_week(uint32_t week);
/* The weeks of a month in order; returns how many (4 or 5). */
size_t period_month_weeks(uint32_t month, uint32_t weeks[PERIOD_WEEKS_MAX]);
/* The first day (Monday of its first week) and last day (Sunday of its last
 * week) of a month. */
void period_month_days(uint32_t month, int64_t *first, int64_t *last);
/* When a month's epoch starts: Monday 00:00 UTC of its first week, in ms. */
uint64_t period_month_start_ms(uint32_t month);
/* When a month's epoch ends: Monday 00:00 UTC after its last week, in ms. */
uint64_t period_month_end_ms(uint32_t month);
/* The month after a month id. */
uint32_t period_month_next(uint32_t month);

/* "2026-W48" / "2026-11" into buf (at least PERIOD_STR_MAX bytes). */
void period_week_str(uint32_t week, char *buf, size_t len);
void period_month_str(uint32_t month, char *buf, size_t len);

/* Parses a strict "YYYY-Www" (a week that exists in that ISO year: W53 only in
 * a year that has one) into a week id. 0 or -EINVAL. */
NMO_WUR int period_parse_week(const char *s, uint32_t *week);
/* Parses a strict "YYYY-MM" into a month id. 0 or -EINVAL. */
NMO_WUR int period_parse_month(const char *s, uint32_t *month);

/* Parses a period as the analytics store names them, a week "YYYY-Www" or a
 * month "YYYY-MM", into its first and last day: Monday..Sunday of the week,
 * or of the month's weeks (period_month_days). *is_week (may be NULL) tells
 * which form it was. 0 or -EINVAL; nothing is written on failure. */
NMO_WUR int period_range(const char *s, int64_t *first, int64_t *last, bool *is_week);
