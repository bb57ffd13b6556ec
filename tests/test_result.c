/* Tests for result.c: the output record is exact JSON with every field, the Kafka key, and the
 * snprintf-like length convention (the stdout sink's bytes: test_stdout_sink.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "result.h"

static const result sample = {
    .kind = WINDOW_MINUTE,
    .start = 1468244340,
    .end = 1468244400,
    .uniques = 41230,
    .frames = 59987,
    .exact = true,
    .final = true,
};

static void test_json(void **state)
{
	(void)state;
	calendar cal;
	calendar_init(&cal, NULL);
	char buf[512];
	size_t n = result_format_json(&sample, &cal, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_string_equal(buf, "{\"window\":\"minute\",\"start\":1468244340,\"end\":1468244400,"
	                         "\"start_iso\":\"2016-07-11T13:39:00Z\",\"uniques\":41230,"
	                         "\"frames\":59987,\"exact\":true,\"error\":0,\"final\":true,"
	                         "\"revision\":0,\"late\":0,\"late_window\":0}");
	result r = sample;
	r.kind = WINDOW_YEAR;
	r.exact = false;
	r.error = 0.0043;
	r.final = false;
	r.revision = 3;
	r.late = 17;
	r.late_window = 5;
	const char *want = "{\"window\":\"year\",\"start\":1468244340,\"end\":1468244400,"
	                   "\"start_iso\":\"2016-07-11T13:39:00Z\",\"uniques\":41230,"
	                   "\"frames\":59987,\"exact\":false,\"error\":0.0043,\"final\":false,"
	                   "\"revision\":3,\"late\":17,\"late_window\":5}";
	assert_int_equal(result_format_json(&r, &cal, buf, sizeof(buf)), strlen(want));
	assert_string_equal(buf, want);
	/* an exact record prints error 0 whatever the field holds */
	r.exact = true;
	result_format_json(&r, &cal, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"exact\":true,\"error\":0,\"final\""));
	/* truncation: the needed length is returned, the output is cut and terminated */
	size_t full = result_format_json(&sample, &cal, buf, sizeof(buf));
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(result_format_json(&sample, &cal, buf, 10), full);
	assert_string_equal(buf, "{\"window\"");
	assert_int_equal(result_format_key(&sample, buf, 4), 17);
	assert_string_equal(buf, "min");
	assert_int_equal(result_format_key(&sample, buf, sizeof(buf)), 17);
	assert_string_equal(buf, "minute/1468244340");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
