/* period.h: ISO weeks, months and epochs, in UTC.
 *
 * A week id is ISO-year * 100 + ISO-week (202648 is "2026-W48"); a month id is
 * year * 100 + month (202611 is "2026-11"). Each ISO week belongs to the month
 * that holds its Thursday (the rule ISO uses for years), so a month is a whole
 * number of weeks and month figures are sums of week figures. An epoch is such
 * a month: the span over which one pseudonym key counts distinct reporters. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define PERIOD_MS_PER_DAY 86400000ULL
#define PERIOD_WEEKS_MAX 5   /* weeks in one month */

/* Days since 1970-01-01 of a time in ms. */
int64_t period_day_of_ms(uint64_t ms);
/* Week id of a day; month id of a day. */
uint32_t period_week_of_day(int64_t day);
uint32_t period_month_of_day(int64_t day);
/* Monday of a week id (days since the epoch). */
int64_t period_week_monday(uint32_t week);
/* The week before / after a week id. */
uint32_t period_week_prev(uint32_t week);
uint32_t period_week_next(uint32_t week);
/* The month (epoch) a week belongs to: the month of its Thursday. */
uint32_t period_month_of_week(uint32_t week);
/* The weeks of a month in order; returns how many (4 or 5). */
size_t period_month_weeks(uint32_t month, uint32_t weeks[PERIOD_WEEKS_MAX]);
/* When a month's epoch ends: Monday 00:00 UTC after its last week, in ms. */
uint64_t period_month_end_ms(uint32_t month);
/* The month after a month id. */
uint32_t period_month_next(uint32_t month);

/* "2026-W48" / "2026-11" into buf (at least 9 bytes). */
void period_week_str(uint32_t week, char *buf, size_t len);
void period_month_str(uint32_t month, char *buf, size_t len);
/* "YYYY-MM-DD" of a day into buf (at least 11 bytes). */
void period_day_str(int64_t day, char *buf, size_t len);
/* Parses "YYYY-MM-DD" into a day number; -EINVAL if not a real date. */
NMO_WUR int period_parse_day(const char *s, int64_t *day);
