/* calendar.h - window kinds and their boundaries, in UTC or in an IANA time zone.
 *
 * minute and hour windows are aligned on unix time; day, week (ISO, Monday), month and year
 * windows start at local midnight of the zone given to calendar_init (NULL or "UTC": UTC).
 */
#ifndef KUNIQ_CALENDAR_H
#define KUNIQ_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum window_kind {
	WINDOW_MINUTE = 0,
	WINDOW_HOUR,
	WINDOW_DAY,
	WINDOW_WEEK,
	WINDOW_MONTH,
	WINDOW_YEAR,
	WINDOW_KIND_COUNT
} window_kind;

typedef struct calendar {
	bool utc;    /* true: pure arithmetic, no zone lookups */
	char tz[64]; /* zone name, "UTC" when utc */
} calendar;

/* Returns 0, or -1 when the zone is unknown (no file under /usr/share/zoneinfo). Selecting a
 * non-UTC zone sets the process's TZ environment variable (the C library's zone state is
 * process-wide): call it once, before any thread starts. */
int calendar_init(calendar *cal, const char *tz);

/* The window of kind k holding ts: *start <= ts < *end. */
void calendar_window(const calendar *cal, window_kind k, int64_t ts, int64_t *start, int64_t *end);

/* "minute", "hour", ... ; and the reverse (returns -1 when unknown). */
const char *window_kind_name(window_kind k);
int window_kind_parse(const char *name, size_t len);

/* ISO 8601 form of ts in the calendar's zone ("2016-07-11T13:39:00Z" or "...+02:00"). Returns the
 * length written (buf must hold at least 32 bytes). */
int calendar_iso(const calendar *cal, int64_t ts, char *buf);

#endif
