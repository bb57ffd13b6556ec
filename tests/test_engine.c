/* Tests for engine.c: watermark emission, late frames, revisions, inputs, early results. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"

#define T0 1468244340LL /* a minute boundary */

typedef struct capture {
	result r[64];
	int n;
} capture;

static int cap_emit(void *ctx, const result *r)
{
	capture *c = ctx;
	assert_true(c->n < 64);
	c->r[c->n++] = *r;
	return 0;
}

static engine *make(capture *cap, unsigned kinds, int64_t lateness, bool update, int64_t early)
{
	engine_cfg cfg = {
	    .kinds = kinds,
	    .lateness = lateness,
	    .max_ahead = 300,
	    .jump_confirm = 1,
	    .max_pending = 1000,
	    .late_update = update,
	    .keep_closed = 3600,
	    .early = early,
	    .counter = {.mode = COUNTER_EXACT, .exact_limit = 1000000},
	};
	calendar_init(&cfg.cal, NULL);
	memset(cap, 0, sizeof(*cap));
	engine *e = engine_new(&cfg, (result_sink){.emit = cap_emit, .ctx = cap});
	assert_non_null(e);
	return e;
}

static const unsigned MINUTE = 1u << WINDOW_MINUTE;

static void test_ordered_rule(void **state)
{
	(void)state;
	capture cap;
	engine *e = make(&cap, MINUTE | (1u << WINDOW_HOUR), 0, false, 0);
	assert_int_equal(engine_input_add(e), 0);
	engine_frame(e, 0, T0 + 1, 1, 0);
	engine_frame(e, 0, T0 + 59, 2, 1);
	engine_frame(e, 0, T0 + 30, 1, 2);
	assert_int_equal(cap.n, 0);
	assert_int_equal(engine_input_safe_offset(e, 0), 0);
	engine_frame(e, 0, T0 + 60, 3, 3); /* ts >= end closes the minute */
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.r[0].kind, WINDOW_MINUTE);
	assert_int_equal(cap.r[0].start, T0);
	assert_int_equal(cap.r[0].end, T0 + 60);
	assert_int_equal(cap.r[0].uniques, 2);
	assert_int_equal(cap.r[0].frames, 3);
	assert_true(cap.r[0].exact);
	assert_true(cap.r[0].final);
	engine_finish(e);
	assert_int_equal(cap.n, 3); /* the second minute, then the hour */
	assert_int_equal(cap.r[1].kind, WINDOW_MINUTE);
	assert_int_equal(cap.r[1].uniques, 1);
	assert_int_equal(cap.r[2].kind, WINDOW_HOUR);
	assert_int_equal(cap.r[2].uniques, 3);
	assert_int_equal(cap.r[2].frames, 4);
	engine_free(e);
}

static void test_late_drop(void **state)
{
	(void)state;
	capture cap;
	engine *e = make(&cap, MINUTE | (1u << WINDOW_HOUR), 5, false, 0);
	engine_input_add(e);
	engine_frame(e, 0, T0 + 10, 1, 0);
	engine_frame(e, 0, T0 + 64, 2, 1);
	assert_int_equal(cap.n, 0);        /* watermark T0+59 */
	engine_frame(e, 0, T0 + 59, 3, 2); /* within lateness: counted */
	engine_frame(e, 0, T0 + 65, 2, 3); /* watermark T0+60: minute final */
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.r[0].frames, 2);
	engine_frame(e, 0, T0 + 20, 4, 4); /* late for the minute, on time for the hour */
	assert_int_equal(engine_get_stats(e)->late[WINDOW_MINUTE], 1);
	assert_int_equal(engine_get_stats(e)->late[WINDOW_HOUR], 0);
	engine_finish(e);
	assert_int_equal(cap.n, 3);
	assert_int_equal(cap.r[1].late, 1); /* records after the late frame carry the count */
	assert_int_equal(cap.r[2].uniques, 4);
	assert_int_equal(cap.r[2].late, 0);
	engine_free(e);
}

static void test_late_update_revisions(void **state)
{
	(void)state;
	capture cap;
	engine *e = make(&cap, MINUTE, 0, true, 0);
	engine_input_add(e);
	engine_frame(e, 0, T0 + 1, 1, 0);
	engine_frame(e, 0, T0 + 61, 2, 1);
	assert_int_equal(cap.n, 1);
	engine_frame(e, 0, T0 + 2, 9, 2);  /* late: corrects the closed minute */
	engine_frame(e, 0, T0 - 30, 8, 3); /* late, window never emitted: created */
	assert_int_equal(cap.n, 1);
	engine_frame(e, 0, T0 + 62, 2, 4); /* next advance re-emits */
	assert_int_equal(cap.n, 3);
	assert_int_equal(cap.r[1].start, T0 - 60);
	assert_int_equal(cap.r[1].revision, 0);
	assert_int_equal(cap.r[1].uniques, 1);
	assert_int_equal(cap.r[2].start, T0);
	assert_int_equal(cap.r[2].revision, 1);
	assert_int_equal(cap.r[2].uniques, 2);
	assert_int_equal(cap.r[2].frames, 2);
	assert_int_equal(cap.r[2].late, 2);
	engine_finish(e);
	engine_free(e);
}

static void test_inputs_merge_and_idle(void **state)
{
	(void)state;
	capture cap;
	engine *e = make(&cap, MINUTE, 0, false, 0);
	int a = engine_input_add(e), b = engine_input_add(e);
	engine_frame(e, a, T0 + 1, 1, 0);
	engine_frame(e, b, T0 + 2, 1, 0); /* same user on another partition */
	engine_frame(e, b, T0 + 3, 2, 1);
	engine_frame(e, a, T0 + 70, 3, 1);
	assert_int_equal(cap.n, 0); /* b holds the watermark back */
	assert_int_equal(engine_input_safe_offset(e, b), 0);
	engine_input_idle(e, b, true); /* an idle input stops holding it */
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.r[0].uniques, 2);
	assert_int_equal(cap.r[0].frames, 3);
	assert_int_equal(engine_input_safe_offset(e, b), INT64_MAX);
	assert_int_equal(engine_input_safe_offset(e, a), 1);
	engine_input_idle(e, a, true);
	engine_wall_tick(e, T0 + 200); /* all idle: clocks follow wall time */
	assert_int_equal(cap.n, 2);
	assert_int_equal(cap.r[1].start, T0 + 60);
	engine_finish(e);
	assert_int_equal(cap.n, 2);
	engine_free(e);
}

static void test_early_and_range(void **state)
{
	(void)state;
	capture cap;
	engine *e = make(&cap, 1u << WINDOW_HOUR, 0, false, 10);
	engine_input_add(e);
	assert_int_equal(engine_frame(e, 0, 12, 1, 0), ENGINE_TS_RANGE);
	assert_int_equal(engine_frame(e, 0, 4102444800LL, 1, 0), ENGINE_TS_RANGE);
	engine_frame(e, 0, T0 + 1, 1, 0);
	engine_frame(e, 0, T0 + 5, 2, 1);
	assert_int_equal(cap.n, 0);
	engine_frame(e, 0, T0 + 12, 2, 2); /* crosses T0 + 10: provisional hour */
	assert_int_equal(cap.n, 1);
	assert_false(cap.r[0].final);
	assert_int_equal(cap.r[0].uniques, 2);
	assert_int_equal(cap.r[0].frames, 2);
	engine_finish(e);
	assert_int_equal(cap.n, 2);
	assert_true(cap.r[1].final);
	assert_int_equal(cap.r[1].frames, 3);
	assert_int_equal(engine_get_stats(e)->ts_range, 2);
	engine_free(e);
}

static void test_suspect_held_then_rejected(void **state)
{
	(void)state;
	capture cap;
	engine_cfg cfg = {.kinds = MINUTE,
	                  .max_ahead = 300,
	                  .jump_confirm = 3,
	                  .max_pending = 10,
	                  .counter = {.mode = COUNTER_EXACT}};
	calendar_init(&cfg.cal, NULL);
	memset(&cap, 0, sizeof(cap));
	engine *e = engine_new(&cfg, (result_sink){.emit = cap_emit, .ctx = &cap});
	engine_input_add(e);
	for (int i = 0; i < 3; i++)
		engine_frame(e, 0, T0 + i, (uint64_t)i, i);
	assert_int_equal(engine_frame(e, 0, T0 + (1 << 20), 7, 3), ENGINE_PENDING);
	assert_int_equal(cap.n, 0); /* the flip closed nothing */
	engine_frame(e, 0, T0 + 4, 1, 4);
	engine_finish(e);
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.r[0].frames, 4);
	assert_int_equal(engine_get_stats(e)->ts_ahead, 1);
	engine_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ordered_rule),
	    cmocka_unit_test(test_late_drop),
	    cmocka_unit_test(test_late_update_revisions),
	    cmocka_unit_test(test_inputs_merge_and_idle),
	    cmocka_unit_test(test_early_and_range),
	    cmocka_unit_test(test_suspect_held_then_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
