/* Tests for ingest.c: counting and rejection reasons, the range check before the clock, inputs
 * kept apart, and section 6 of docs/semantics.md (live inputs follow wall time and stop holding
 * the watermark; historical ones hold it; retired ones stop once idle). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "capture.h"
#include "ingest.h"

#define T0 1468244340LL /* a minute boundary, 2016 */

typedef struct fixture {
	frame_parser parser;
	capture cap;
	engine *eng;
	ingest in;
	char frames[64][128];
	parse_item items[64];
	int n;
} fixture;

static fixture fx;

static void setup(int threads)
{
	memset(&fx, 0, sizeof(fx));
	assert_int_equal(frame_parser_init(&fx.parser, "uid", "ts", FRAME_IMPL_AUTO), 0);
	engine_cfg ec = {.kinds = 1u << WINDOW_MINUTE,
	                 .keep_closed = 3600,
	                 .counter = {.mode = COUNTER_EXACT, .exact_limit = 1000000}};
	calendar_init(&ec.cal, NULL);
	fx.eng = engine_new(&ec, (result_sink){.emit = cap_emit, .ctx = &fx.cap});
	assert_non_null(fx.eng);
	ingest_cfg ic = {.parser = &fx.parser,
	                 .max_frame = 100,
	                 .threads = threads,
	                 .clock = {.lateness = 5, .max_ahead = 300, .confirm = 8, .max_held = 64}};
	char err[128];
	assert_int_equal(ingest_init(&fx.in, &ic, fx.eng, err, sizeof(err)), 0);
}

static void teardown(void)
{
	ingest_free(&fx.in);
	engine_free(fx.eng);
}

/* Queues one raw frame of an input (text as is; the parse pool copies it into padding). */
static void queue(int input, const char *text, int64_t offset)
{
	assert_true(fx.n < 64);
	snprintf(fx.frames[fx.n], sizeof(fx.frames[0]), "%s", text);
	size_t len = strlen(fx.frames[fx.n]);
	fx.items[fx.n] = (parse_item){
	    .buf = fx.frames[fx.n], .len = len, .input = input, .offset = offset, .bytes = len + 1};
	fx.n++;
}

static void queue_ts(int input, const char *uid, int64_t ts, int64_t offset)
{
	char b[96];
	snprintf(b, sizeof(b), "{\"uid\":\"%s\",\"ts\":%lld}", uid, (long long)ts);
	queue(input, b, offset);
}

static void flush(void)
{
	ingest_batch(&fx.in, fx.items, (size_t)fx.n);
	fx.n = 0;
}

static void test_counts_and_reasons(void **state)
{
	(void)state;
	setup(2);
	int in0 = ingest_input_add(&fx.in);
	assert_int_equal(in0, 0);
	queue(in0, "", 0);                          /* empty: 1 byte with its newline */
	queue(in0, "{\"uid\":\"a\"}", 1);           /* no_ts */
	queue(in0, "{\"uid\":\"a\",\"ts\":12}", 2); /* ts_range (before 2000) */
	queue(in0, "[1]", 3);                       /* not_object */
	queue_ts(in0, "a", T0 + 1, 4);
	queue_ts(in0, "b", T0 + 2, 5);
	flush();
	assert_int_equal(fx.in.frames_read, 6);
	assert_int_equal(fx.in.bytes, 1 + 12 + 20 + 4 + 28 + 28);
	assert_int_equal(fx.in.rejected[FRAME_EMPTY], 1);
	assert_int_equal(fx.in.rejected[FRAME_NO_TS], 1);
	assert_int_equal(fx.in.rejected[FRAME_NOT_OBJECT], 1);
	assert_int_equal(fx.in.ts_range, 1);
	assert_int_equal(ingest_safe_offset(&fx.in, in0), 4); /* both valid frames are held */
	ingest_finish(&fx.in);
	assert_int_equal(fx.cap.n, 1);
	assert_int_equal(fx.cap.r[0].uniques, 2);
	assert_int_equal(fx.cap.r[0].frames, 2);
	assert_int_equal(ingest_ts_ahead(&fx.in), 0);
	char line[1024];
	FILE *f = fmemopen(line, sizeof(line), "w");
	ingest_summary(&fx.in, 1u << WINDOW_MINUTE, 1.0, f);
	fclose(f);
	assert_non_null(strstr(line, "\"frames_read\":6,\"frames_valid\":2,"));
	assert_non_null(strstr(line, "\"ts_range\":1,\"ts_ahead\":0}"));
	assert_non_null(strstr(line, "\"bytes\":93,"));
	teardown();
}

/* Two inputs, each with its own clock: one frame flipped far ahead on input 1 moves nothing. */
static void test_inputs_are_separate(void **state)
{
	(void)state;
	setup(1);
	int a = ingest_input_add(&fx.in), b = ingest_input_add(&fx.in);
	for (int i = 0; i < 12; i++) {
		queue_ts(a, "a", T0 + 10 + i, i);
		queue_ts(b, "b", T0 + 10 + i, i);
	}
	queue_ts(b, "x", T0 + (1LL << 24), 12);
	for (int i = 0; i < 20; i++)
		queue_ts(b, "b", T0 + 22, 13 + i);
	flush();
	assert_int_equal(fx.cap.n, 0);
	ingest_finish(&fx.in);
	assert_int_equal(ingest_ts_ahead(&fx.in), 1);
	assert_int_equal(fx.cap.n, 1);
	assert_int_equal(fx.cap.r[0].frames, 44);
	assert_int_equal(fx.cap.r[0].uniques, 2);
	teardown();
}

/* A historical input that goes idle holds the watermark; a live one follows wall time. */
static void test_idle_live_and_historical(void **state)
{
	(void)state;
	setup(1);
	int hist = ingest_input_add(&fx.in), live = ingest_input_add(&fx.in);
	int64_t wall = T0 + 10LL * 365 * 86400; /* ten years later */
	for (int i = 0; i < 12; i++)
		queue_ts(hist, "h", T0 + i, i);
	for (int i = 0; i < 12; i++)
		queue_ts(live, "l", wall - 30 + i, i);
	flush();
	assert_int_equal(fx.cap.n, 0);
	ingest_idle(&fx.in, live, wall);
	ingest_idle(&fx.in, hist, wall);
	ingest_wall_tick(&fx.in, wall + 100);
	/* the live input follows wall time, but the historical one still holds G at T0 */
	assert_int_equal(fx.cap.n, 0);
	ingest_retire(&fx.in, hist, true);
	ingest_wall_tick(&fx.in, wall + 101); /* retired and idle: holds nothing */
	assert_true(fx.cap.n >= 2);           /* both minutes of hist, then live's */
	assert_int_equal(fx.cap.r[0].start, T0);
	/* hist: frame 0 confirmed by frames 1..8 (J = 8), then steps (K = 3) up to frame 8; frames
	 * 9..11 are still held, above the safe offset */
	assert_int_equal(fx.cap.r[0].frames, 9);
	assert_int_equal(ingest_safe_offset(&fx.in, hist), 9);
	teardown();
}

/* A live input alone: idle, its minute comes out on the wall tick, not at the end. */
static void test_live_input_emits_on_wall_time(void **state)
{
	(void)state;
	setup(1);
	int in0 = ingest_input_add(&fx.in);
	int64_t wall = T0 + 10LL * 365 * 86400;
	int64_t m = wall - wall % 60;
	queue_ts(in0, "a", m + 1, 0); /* one frame: held (nothing confirms it) */
	flush();
	ingest_idle(&fx.in, in0, m + 20);
	assert_int_equal(fx.cap.n, 0); /* the frame is counted, the minute still open */
	ingest_wall_tick(&fx.in, m + 66);
	assert_int_equal(fx.cap.n, 1);
	assert_int_equal(fx.cap.r[0].start, m);
	assert_int_equal(fx.cap.r[0].frames, 1);
	/* a frame after the pause wakes it; still on time (its minute is open) */
	queue_ts(in0, "b", m + 67, 1);
	flush();
	ingest_finish(&fx.in);
	assert_int_equal(fx.cap.n, 2);
	assert_int_equal(engine_get_stats(fx.eng)->late[WINDOW_MINUTE], 0);
	teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counts_and_reasons),
	    cmocka_unit_test(test_inputs_are_separate),
	    cmocka_unit_test(test_idle_live_and_historical),
	    cmocka_unit_test(test_live_input_emits_on_wall_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
