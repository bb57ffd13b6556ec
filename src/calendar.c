/* calendar.c - window boundaries for minute, hour, day, ISO week, month and year.
 *
 * In UTC everything is arithmetic on days since 1970-01-01: a day number is converted to a civil
 * date (year, month, day) and back with the proleptic Gregorian rules (400-year eras of 146097
 * days, years starting in March so the leap day is the last day of the computed year), which
 * gets every leap year right without tables. ISO weeks start on Monday; 1970-01-01 was a
 * Thursday, so the Monday-based weekday of day number d is (d + 3) mod 7.
 *
 * In another zone the C library's zone database does the work: localtime_r gives the local date
 * of ts; the window starts at the first second of that local date (found by a binary search
 * over localtime_r, see local_midnight) and ends at the first second of the next period, so days
 * are 23 or 25 hours long across daylight-saving changes. The engine caches the current window per
 * kind, so these calls happen once per window, not once per frame.
 */
#include "calendar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *const kind_names[WINDOW_KIND_COUNT] = {"minute", "hour",  "day",
                                                          "week",   "month", "year"};

const char *window_kind_name(window_kind k)
{
	return (unsigned)k < WINDOW_KIND_COUNT ? kind_names[k] : "?";
}

int window_kind_parse(const char *name, size_t len)
{
	for (int k = 0; k < WINDOW_KIND_COUNT; k++)
		if (strlen(kind_names[k]) == len && memcmp(kind_names[k], name, len) == 0)
			return k;
	return -1;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Days since 1970-01-01 of the civil date y-m-d (m 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;                                  /* 0..399 */
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* 0..365 */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* 0..146096 */
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static void utc_window(window_kind k, int64_t ts, int64_t *start, int64_t *end)
{
	int64_t day = floor_div(ts, 86400), y;
	int m, d;
	switch (k) {
	case WINDOW_MINUTE:
		*start = floor_div(ts, 60) * 60;
		*end = *start + 60;
		return;
	case WINDOW_HOUR:
		*start = floor_div(ts, 3600) * 3600;
		*end = *start + 3600;
		return;
	case WINDOW_DAY:
		*start = day * 86400;
		*end = *start + 86400;
		return;
	case WINDOW_WEEK:
		day -= ((day + 3) % 7 + 7) % 7;
		*start = day * 86400;
		*end = *start + 7 * 86400;
		return;
	case WINDOW_MONTH:
		civil_from_days(day, &y, &m, &d);
		*start = days_from_civil(y, m, 1) * 86400;
		*end = days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * 86400;
		return;
	default:
		civil_from_days(day, &y, &m, &d);
		*start = days_from_civil(y, 1, 1) * 86400;
		*end = days_from_civil(y + 1, 1, 1) * 86400;
		return;
	}
}

static long date_key(const struct tm *tm)
{
	return ((long)tm->tm_year * 16 + tm->tm_mon) * 32 + tm->tm_mday;
}

/* The first instant of the given local date (fields may be out of range: normalised like
 * timegm). mktime is not used: for a midnight that happens twice (DST ending at 01:00) or not at
 * all (DST starting at 00:00) its answer depends on earlier calls. Local dates grow with time
 * and zone offsets stay within +-16 h, so a binary search over that span finds the first second
 * whose local date is the wanted one. */
static int64_t local_midnight(int year, int mon, int mday)
{
	struct tm want = {.tm_year = year, .tm_mon = mon, .tm_mday = mday};
	int64_t lo = (int64_t)timegm(&want) - 16 * 3600, hi = lo + 32 * 3600;
	long key = date_key(&want);
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		time_t t = (time_t)mid;
		struct tm lt;
		localtime_r(&t, &lt);
		if (date_key(&lt) >= key)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static void zone_window(window_kind k, int64_t ts, int64_t *start, int64_t *end)
{
	time_t t = (time_t)ts;
	struct tm lt;
	localtime_r(&t, &lt);
	int y = lt.tm_year, mo = lt.tm_mon, d = lt.tm_mday;
	switch (k) {
	case WINDOW_DAY:
		*start = local_midnight(y, mo, d);
		*end = local_midnight(y, mo, d + 1);
		break;
	case WINDOW_WEEK:
		d -= (lt.tm_wday + 6) % 7;
		*start = local_midnight(y, mo, d);
		*end = local_midnight(y, mo, d + 7);
		break;
	case WINDOW_MONTH:
		*start = local_midnight(y, mo, 1);
		*end = local_midnight(y, mo + 1, 1);
		break;
	default:
		*start = local_midnight(y, 0, 1);
		*end = local_midnight(y + 1, 0, 1);
		break;
	}
	/* A midnight that does not exist (DST change at 00:00) is moved by mktime; keep ts inside.
	 */
	if (*start > ts)
		*start = ts;
}

void calendar_window(const calendar *cal, window_kind k, int64_t ts, int64_t *start, int64_t *end)
{
	if (cal->utc || k == WINDOW_MINUTE || k == WINDOW_HOUR)
		utc_window(k, ts, start, end);
	else
		zone_window(k, ts, start, end);
}

int calendar_init(calendar *cal, const char *tz)
{
	memset(cal, 0, sizeof(*cal));
	if (tz == NULL || strcmp(tz, "UTC") == 0 || strcmp(tz, "Etc/UTC") == 0) {
		cal->utc = true;
		strcpy(cal->tz, "UTC");
		return 0;
	}
	char path[256];
	struct stat st;
	if (strlen(tz) >= sizeof(cal->tz) || strstr(tz, "..") != NULL || tz[0] == '/')
		return -1;
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return -1;
	strcpy(cal->tz, tz);
	setenv("TZ", tz, 1);
	tzset();
	return 0;
}

int calendar_iso(const calendar *cal, int64_t ts, char *buf)
{
	time_t t = (time_t)ts;
	struct tm tm;
	if (cal->utc) {
		gmtime_r(&t, &tm);
		return (int)strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	localtime_r(&t, &tm);
	int n = (int)strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	long off = tm.tm_gmtoff;
	char sign = off < 0 ? '-' : '+';
	off = off < 0 ? -off : off;
	return n + snprintf(buf + n, 32 - (size_t)n, "%c%02ld:%02ld", sign, off / 3600,
	                    (off / 60) % 60);
}
