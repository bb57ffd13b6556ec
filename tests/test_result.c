/* Tests for result.c and stdout_sink.c: the output record is exact JSON with every field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "result.h"
#include "stdout_sink.h"

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
	                         "\"revision\":0,\"late\":0}");
	result r = sample;
	r.kind = WINDOW_YEAR;
	r.exact = false;
	r.error = 0.0043;
	r.final = false;
	r.revision = 3;
	r.late = 17;
	result_format_json(&r, &cal, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"window\":\"year\""));
	assert_non_null(strstr(buf, "\"exact\":false,\"error\":0.0043,\"final\":false,"
	                            "\"revision\":3,\"late\":17}"));
	assert_true(result_format_json(&sample, &cal, buf, 10) > 10); /* truncation reported */
	assert_int_equal(result_format_key(&sample, buf, sizeof(buf)), 17);
	assert_string_equal(buf, "minute/1468244340");
}

static void test_stdout_sink(void **state)
{
	(void)state;
	calendar cal;
	calendar_init(&cal, NULL);
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	stdout_sink s;
	result_sink rs = stdout_sink_make(&s, f, &cal);
	assert_int_equal(rs.emit(rs.ctx, &sample), 0);
	assert_int_equal(rs.emit(rs.ctx, &sample), 0);
	fclose(f);
	assert_int_equal(len, 2 * (strchr(mem, '\n') - mem + 1));
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_stdout_sink),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
