/* test_stdout_sink.c - unit tests of the stdout sink (src/stdout_sink.h): the exact bytes it
 * writes for hand-made records (one JSON object and one '\n' per record, every field, UTC and
 * zone offsets), that each record is flushed as it is emitted, that a failing stream makes
 * emit return -1 with the reason reported once on stderr, and that a reader that went away
 * (EPIPE) stops the run quietly while a full disk (ENOSPC) stays an error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log_line.h"
#include "result.h"
#include "stdout_sink.h"

static const result minute = {
    .kind = WINDOW_MINUTE,
    .start = 1468244340,
    .end = 1468244400,
    .uniques = 41230,
    .frames = 59987,
    .exact = true,
    .final = true,
};

#define MINUTE_LINE                                                                                \
	"{\"window\":\"minute\",\"start\":1468244340,\"end\":1468244400,"                          \
	"\"start_iso\":\"2016-07-11T13:39:00Z\",\"uniques\":41230,\"frames\":59987,"               \
	"\"exact\":true,\"error\":0,\"final\":true,\"revision\":0,\"late\":0,\"late_window\":0}\n"

/* A memory stream and a sink writing to it. */
typedef struct mem_out {
	char *buf;
	size_t len;
	FILE *f;
	stdout_sink s;
	result_sink rs;
} mem_out;

static void mem_open(mem_out *m, const calendar *cal)
{
	m->buf = NULL;
	m->len = 0;
	m->f = open_memstream(&m->buf, &m->len);
	assert_non_null(m->f);
	m->rs = stdout_sink_make(&m->s, m->f, cal);
	assert_ptr_equal(m->rs.ctx, &m->s);
	assert_ptr_equal(m->s.out, m->f);
	assert_int_equal(m->s.failed, 0);
}

/* Emits r and checks that the stream now holds exactly want (the sink flushes every record, so
 * the bytes are there before the stream is closed). */
static void emit_expect(mem_out *m, const result *r, const char *want)
{
	assert_int_equal(m->rs.emit(m->rs.ctx, r), 0);
	if (m->len != strlen(want) || memcmp(m->buf, want, m->len) != 0)
		fail_msg("sink wrote\n%.*s\nwant\n%s", (int)m->len, m->buf, want);
}

static void mem_close(mem_out *m)
{
	assert_int_equal(fclose(m->f), 0);
	free(m->buf);
}

static void test_exact_record_bytes(void **state)
{
	(void)state;
	calendar cal;
	assert_int_equal(calendar_init(&cal, NULL), 0);
	mem_out m;
	mem_open(&m, &cal);
	emit_expect(&m, &minute, MINUTE_LINE);
	/* a second record is appended after the first, byte for byte */
	emit_expect(&m, &minute, MINUTE_LINE MINUTE_LINE);
	mem_close(&m);
}

static void test_every_field_bytes(void **state)
{
	(void)state;
	calendar cal;
	assert_int_equal(calendar_init(&cal, "UTC"), 0);
	mem_out m;
	mem_open(&m, &cal);
	/* a sketch record: error printed with 6 significant digits; provisional, revised, late */
	result r = {.kind = WINDOW_YEAR,
	            .start = 1451606400,
	            .end = 1483228800,
	            .uniques = 18446744073709551615ULL,
	            .frames = 9007199254740993ULL,
	            .exact = false,
	            .error = 0.34375838677455064 / 64, /* the sketch's RSE at p = 12 */
	            .final = false,
	            .revision = 4294967295U,
	            .late = 17,
	            .late_window = 18446744073709551615ULL};
	emit_expect(&m, &r,
	            "{\"window\":\"year\",\"start\":1451606400,\"end\":1483228800,"
	            "\"start_iso\":\"2016-01-01T00:00:00Z\",\"uniques\":18446744073709551615,"
	            "\"frames\":9007199254740993,\"exact\":false,\"error\":0.00537122,"
	            "\"final\":false,\"revision\":4294967295,\"late\":17,"
	            "\"late_window\":18446744073709551615}\n");
	mem_close(&m);

	/* an exact record prints error 0 whatever the field holds; a start before 1970 */
	mem_open(&m, &cal);
	result h = {.kind = WINDOW_HOUR,
	            .start = -3600,
	            .end = 0,
	            .uniques = 0,
	            .frames = 1,
	            .exact = true,
	            .error = 0.5,
	            .final = true,
	            .revision = 1,
	            .late = 0};
	emit_expect(&m, &h,
	            "{\"window\":\"hour\",\"start\":-3600,\"end\":0,"
	            "\"start_iso\":\"1969-12-31T23:00:00Z\",\"uniques\":0,\"frames\":1,"
	            "\"exact\":true,\"error\":0,\"final\":true,\"revision\":1,\"late\":0,\"late_"
	            "window\":0}\n");
	mem_close(&m);
}

static void test_zone_offsets(void **state)
{
	(void)state;
	calendar cal;
	assert_int_equal(calendar_init(&cal, "Europe/Zurich"), 0);
	mem_out m;
	mem_open(&m, &cal);
	/* summer (+02:00) and winter (+01:00) days of Zurich, and a week starting on a Monday */
	result d = {.kind = WINDOW_DAY,
	            .start = 1468188000,
	            .end = 1468274400,
	            .uniques = 5,
	            .frames = 6,
	            .exact = true,
	            .final = true};
	result w = d;
	w.kind = WINDOW_WEEK;
	w.start = 1483916400; /* 2017-01-09T00:00:00+01:00 */
	w.end = 1484521200;
	emit_expect(&m, &d,
	            "{\"window\":\"day\",\"start\":1468188000,\"end\":1468274400,"
	            "\"start_iso\":\"2016-07-11T00:00:00+02:00\",\"uniques\":5,\"frames\":6,"
	            "\"exact\":true,\"error\":0,\"final\":true,\"revision\":0,\"late\":0,\"late_"
	            "window\":0}\n");
	size_t first = m.len;
	assert_int_equal(m.rs.emit(m.rs.ctx, &w), 0);
	const char *want_w =
	    "{\"window\":\"week\",\"start\":1483916400,\"end\":1484521200,"
	    "\"start_iso\":\"2017-01-09T00:00:00+01:00\",\"uniques\":5,\"frames\":6,"
	    "\"exact\":true,\"error\":0,\"final\":true,\"revision\":0,\"late\":0,\"late_window\":0}"
	    "\n";
	assert_int_equal(m.len - first, strlen(want_w));
	assert_memory_equal(m.buf + first, want_w, strlen(want_w));
	mem_close(&m);
}

/* Runs fn with stderr sent to a temporary file; returns what was written there (caller frees). */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	fn(arg);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	long n = ftell(tmp);
	assert_true(n >= 0);
	rewind(tmp);
	char *s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, tmp), (size_t)n);
	fclose(tmp);
	return s;
}

typedef struct full_run {
	stdout_sink s;
	int rc[3];
} full_run;

static void emit_three(void *arg)
{
	full_run *r = arg;
	result_sink rs = {0};
	FILE *f = fopen("/dev/full", "w");
	assert_non_null(f);
	rs = stdout_sink_make(&r->s, f, &(calendar){.utc = true, .tz = "UTC"});
	for (int i = 0; i < 3; i++)
		r->rc[i] = rs.emit(rs.ctx, &minute);
	fclose(f);
}

static void test_write_error_reported_once(void **state)
{
	(void)state;
	full_run r = {0};
	char *err = capture_stderr(emit_three, &r);
	/* every record fails (the flush after each one reaches the device) */
	assert_int_equal(r.rc[0], -1);
	assert_int_equal(r.rc[1], -1);
	assert_int_equal(r.rc[2], -1);
	assert_int_equal(r.s.failed, 1);
	assert_string_equal(log_body(err), "kuniq: writing results: No space left on device\n");
	free(err);
}

/* The reader went away (EPIPE): with a stop flag, the sink sets it and says nothing; a check
 * without writing sees it too. Without a flag, EPIPE is an error like any other. */
typedef struct pipe_run {
	stdout_sink s;
	volatile sig_atomic_t stop;
	bool with_stop, check_first, seen;
	int rc;
} pipe_run;

static void emit_to_closed_pipe(void *arg)
{
	pipe_run *r = arg;
	int p[2];
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	FILE *f = fdopen(p[1], "w");
	assert_non_null(f);
	result_sink rs = stdout_sink_make(&r->s, f, &(calendar){.utc = true, .tz = "UTC"});
	if (r->with_stop)
		stdout_sink_stop_on_close(&r->s, &r->stop);
	if (r->check_first)
		r->seen = stdout_sink_check_reader(&r->s);
	r->rc = rs.emit(rs.ctx, &minute);
	fclose(f);
}

static void test_reader_gone(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN); /* as kuniq does: writes fail with EPIPE */
	pipe_run r = {.with_stop = true};
	char *err = capture_stderr(emit_to_closed_pipe, &r);
	assert_int_equal(r.rc, -1);
	assert_true(r.s.reader_gone);
	assert_int_equal(r.stop, 1);
	assert_string_equal(err, "");
	free(err);

	pipe_run c = {.with_stop = true, .check_first = true};
	err = capture_stderr(emit_to_closed_pipe, &c);
	assert_true(c.seen);
	assert_int_equal(c.stop, 1);
	assert_string_equal(err, "");
	free(err);

	pipe_run plain = {0};
	err = capture_stderr(emit_to_closed_pipe, &plain);
	assert_int_equal(plain.rc, -1);
	assert_false(plain.s.reader_gone);
	assert_string_equal(log_body(err), "kuniq: writing results: Broken pipe\n");
	free(err);
}

/* A full disk is an error even with a stop flag: reported, and the run is not stopped. */
static void emit_full_with_stop(void *arg)
{
	pipe_run *r = arg;
	FILE *f = fopen("/dev/full", "w");
	assert_non_null(f);
	result_sink rs = stdout_sink_make(&r->s, f, &(calendar){.utc = true, .tz = "UTC"});
	stdout_sink_stop_on_close(&r->s, &r->stop);
	r->seen = stdout_sink_check_reader(&r->s);
	r->rc = rs.emit(rs.ctx, &minute);
	rs.emit(rs.ctx, &minute);
	fclose(f);
}

static void test_enospc_is_an_error(void **state)
{
	(void)state;
	pipe_run r = {0};
	char *err = capture_stderr(emit_full_with_stop, &r);
	assert_false(r.seen);
	assert_int_equal(r.rc, -1);
	assert_false(r.s.reader_gone);
	assert_int_equal(r.stop, 0);
	assert_string_equal(log_body(err), "kuniq: writing results: No space left on device\n");
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact_record_bytes),
	    cmocka_unit_test(test_every_field_bytes),
	    cmocka_unit_test(test_write_error_reported_once),
	    cmocka_unit_test(test_zone_offsets),
	    cmocka_unit_test(test_reader_gone),
	    cmocka_unit_test(test_enospc_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
