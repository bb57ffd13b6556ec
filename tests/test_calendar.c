/* Tests for calendar.c: UTC windows against the C library's timegm, zones across DST. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "calendar.h"

static int64_t utc(int y, int mo, int d)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
	return (int64_t)timegm(&tm);
}

static void check(const calendar *cal, window_kind k, int64_t ts, int64_t s, int64_t e)
{
	int64_t gs, ge;
	calendar_window(cal, k, ts, &gs, &ge);
	assert_int_equal(gs, s);
	assert_int_equal(ge, e);
}

static void test_utc_known_dates(void **state)
{
	(void)state;
	calendar cal;
	assert_int_equal(calendar_init(&cal, NULL), 0);
	int64_t ts = 1468244384; /* 2016-07-11T13:39:44Z, a Monday */
	check(&cal, WINDOW_MINUTE, ts, 1468244340, 1468244400);
	check(&cal, WINDOW_HOUR, ts, 1468242000, 1468245600);
	check(&cal, WINDOW_DAY, ts, utc(2016, 7, 11), utc(2016, 7, 12));
	check(&cal, WINDOW_WEEK, ts, utc(2016, 7, 11), utc(2016, 7, 18));
	check(&cal, WINDOW_MONTH, ts, utc(2016, 7, 1), utc(2016, 8, 1));
	check(&cal, WINDOW_YEAR, ts, utc(2016, 1, 1), utc(2017, 1, 1));
	/* leap day, month of February in leap and common years, century rules */
	check(&cal, WINDOW_DAY, utc(2016, 2, 29) + 5, utc(2016, 2, 29), utc(2016, 3, 1));
	check(&cal, WINDOW_MONTH, utc(2016, 2, 29), utc(2016, 2, 1), utc(2016, 3, 1));
	check(&cal, WINDOW_MONTH, utc(2017, 2, 28), utc(2017, 2, 1), utc(2017, 3, 1));
	check(&cal, WINDOW_MONTH, utc(2000, 2, 29), utc(2000, 2, 1), utc(2000, 3, 1));
	check(&cal, WINDOW_MONTH, utc(2100, 2, 28) - 1, utc(2100, 2, 1), utc(2100, 3, 1));
	check(&cal, WINDOW_YEAR, utc(2020, 12, 31) + 86399, utc(2020, 1, 1), utc(2021, 1, 1));
	/* ISO week across a year boundary: 2021-01-01 is a Friday, week starts 2020-12-28 */
	check(&cal, WINDOW_WEEK, utc(2021, 1, 1), utc(2020, 12, 28), utc(2021, 1, 4));
	/* boundaries are half-open */
	check(&cal, WINDOW_DAY, utc(2016, 7, 12) - 1, utc(2016, 7, 11), utc(2016, 7, 12));
	check(&cal, WINDOW_DAY, utc(2016, 7, 12), utc(2016, 7, 12), utc(2016, 7, 13));
	/* before 1970 (floor division) */
	check(&cal, WINDOW_MINUTE, -1, -60, 0);
	check(&cal, WINDOW_DAY, -1, -86400, 0);
}

/* Every kind agrees with timegm over a century of pseudo-random instants. */
static void test_utc_against_libc(void **state)
{
	(void)state;
	calendar cal;
	calendar_init(&cal, "UTC");
	uint64_t x = 42;
	for (int i = 0; i < 200000; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		int64_t ts = 946684800 + (int64_t)((x >> 11) % (100ULL * 365 * 86400));
		time_t t = (time_t)ts;
		struct tm tm;
		gmtime_r(&t, &tm);
		int y = tm.tm_year + 1900, mo = tm.tm_mon + 1;
		int64_t day0 = utc(y, mo, tm.tm_mday);
		int wd = (tm.tm_wday + 6) % 7;
		check(&cal, WINDOW_DAY, ts, day0, day0 + 86400);
		check(&cal, WINDOW_WEEK, ts, day0 - wd * 86400, day0 + (7 - wd) * 86400);
		check(&cal, WINDOW_MONTH, ts, utc(y, mo, 1),
		      mo == 12 ? utc(y + 1, 1, 1) : utc(y, mo + 1, 1));
		check(&cal, WINDOW_YEAR, ts, utc(y, 1, 1), utc(y + 1, 1, 1));
	}
}

static void test_zone_dst(void **state)
{
	(void)state;
	calendar cal;
	assert_int_equal(calendar_init(&cal, "Europe/Zurich"), 0);
	/* 2016-03-27 is 23 h long, 2016-10-30 is 25 h long in Zurich */
	check(&cal, WINDOW_DAY, 1459033200 + 3600 * 12, 1459033200, 1459116000);
	check(&cal, WINDOW_DAY, 1477778400 + 3600 * 24, 1477778400, 1477868400);
	check(&cal, WINDOW_MONTH, 1456786800 - 1, 1454281200, 1456786800);
	check(&cal, WINDOW_YEAR, 1451602800, 1451602800, 1483225200);
	/* minute and hour stay on unix time */
	check(&cal, WINDOW_HOUR, 1459033200 + 5, 1459033200, 1459036800);
	char iso[40];
	calendar_iso(&cal, 1459033200, iso);
	assert_string_equal(iso, "2016-03-27T00:00:00+01:00");
	calendar_iso(&cal, 1459116000, iso);
	assert_string_equal(iso, "2016-03-28T00:00:00+02:00");
	assert_int_equal(calendar_init(&cal, "Nowhere/Atlantis"), -1);
	assert_int_equal(calendar_init(&cal, "../etc/passwd"), -1);
}

/* Havana: DST ends at 01:00 -> 00:00, so 2014-11-02 has two midnights; the day starts at the
 * first, whatever calendar calls came before (mktime's answer would depend on them). */
static void test_zone_double_midnight(void **state)
{
	(void)state;
	calendar cal;
	assert_int_equal(calendar_init(&cal, "America/Havana"), 0);
	int64_t s, e;
	for (int round = 0; round < 2; round++) {
		calendar_window(&cal, WINDOW_MONTH, 1414902000, &s, &e);
		assert_int_equal(s, 1414814400);
		check(&cal, WINDOW_DAY, 1414902000, 1414900800, 1414990800);
		check(&cal, WINDOW_DAY, 1414900800, 1414900800, 1414990800);
		check(&cal, WINDOW_DAY, 1414900799, 1414814400, 1414900800);
	}
}

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(window_kind_parse("week", 4), WINDOW_WEEK);
	assert_int_equal(window_kind_parse("weeks", 5), -1);
	assert_string_equal(window_kind_name(WINDOW_YEAR), "year");
	calendar cal;
	calendar_init(&cal, NULL);
	char iso[40];
	calendar_iso(&cal, 1468244340, iso);
	assert_string_equal(iso, "2016-07-11T13:39:00Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_utc_known_dates), cmocka_unit_test(test_utc_against_libc),
	    cmocka_unit_test(test_zone_dst),        cmocka_unit_test(test_zone_double_midnight),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
