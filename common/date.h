/* date.h: the one date parser and civil-date arithmetic of nmo-signal, in UTC.
 *
 * A day is counted as days since 1970-01-01 (negative before it) in the
 * proleptic Gregorian calendar. Dates are written "YYYY-MM-DD" and nothing
 * else: exactly four, two and two ASCII digits with two dashes, no sign, no
 * space, nothing after, and a date that exists (2030-02-30 does not). Every
 * program parses dates here: the node's start-date, the hub's --expires, the
 * analyst's --from/--to/--since; the ISO-week calendar (analytics/period.h)
 * is built on these conversions. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* The years date_parse accepts: all that four digits can write but year 0. */
#define DATE_YEAR_MIN 1
#define DATE_YEAR_MAX 9999

#define DATE_MS_PER_DAY 86400000ULL

/* Days since 1970-01-01 of year y, month m (1..12), day d (1..31). The inputs
 * are not checked: 2030-02-30 gives the day of 2030-03-02. */
int64_t date_days_from_civil(int64_t y, unsigned int m, unsigned int d);

/* Year, month (1..12) and day of the month (1..31) of a day number. */
void date_civil_from_days(int64_t day, int64_t *y, unsigned int *m, unsigned int *d);

/* Monday 0 .. Sunday 6 of a day number. */
unsigned int date_weekday(int64_t day);

/* Days in month m (1..12) of year y. */
unsigned int date_days_in_month(int64_t y, unsigned int m);

/* Days since 1970-01-01 of a time in ms since the epoch (rounded down). */
int64_t date_day_of_ms(uint64_t ms);

/* Parses a strict "YYYY-MM-DD" of a year DATE_YEAR_MIN..DATE_YEAR_MAX into a
 * day number. Returns 0, or -EINVAL (s NULL, malformed, or no such date);
 * *day is only written on success. */
NMO_WUR int date_parse(const char *s, int64_t *day);

/* As date_parse, but the year must also be within year_min..year_max (a
 * field's own documented range, such as a signal's start date). */
NMO_WUR int date_parse_range(const char *s, int year_min, int year_max, int64_t *day);

/* Writes "YYYY-MM-DD" of a day into buf (at least 11 bytes). */
void date_str(int64_t day, char *buf, size_t len);
