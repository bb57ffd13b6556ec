/* Tests for engine.c: watermark emission, late frames, revisions, inputs that hold the watermark
 * or not, early results, and a watermark that decreases (closed windows). The tests play the
 * event clock themselves: frame() sets the input's watermark to its largest ts - lateness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "capture.h"
#include "engine.h"

#define T0 1468244340LL /* a minute boundary */

static int64_t lateness_, maxts_[4];

/* An ordered clock: the watermark follows the largest ts - lateness, then the frame is added. */
static void frame(engine *e, int input, int64_t ts, uint64_t hash, int64_t offset)
{
	if (ts > maxts_[input])
		maxts_[input] = ts;
	engine_watermark(e, input, maxts_[input] - lateness_, false);
	engine_add(e, input, ts, hash, offset);
}

static engine *make(capture *cap, unsigned kinds, int64_t lateness, bool update, int64_t early)
{
	lateness_ = lateness;
	memset(maxts_, 0, sizeof(maxts_));
	engine_cfg cfg = {
	    .kinds = kinds,
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
	frame(e, 0, T0 + 1, 1, 0);
	frame(e, 0, T0 + 59, 2, 1);
	frame(e, 0, T0 + 30, 1, 2);
	assert_int_equal(cap.n, 0);
	assert_int_equal(engine_input_safe_offset(e, 0), 0);
	frame(e, 0, T0 + 60, 3, 3); /* ts >= end closes the minute */
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
	frame(e, 0, T0 + 10, 1, 0);
	frame(e, 0, T0 + 64, 2, 1);
	assert_int_equal(cap.n, 0); /* watermark T0+59 */
	frame(e, 0, T0 + 59, 3, 2); /* within lateness: counted */
	frame(e, 0, T0 + 65, 2, 3); /* watermark T0+60: minute final */
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.r[0].frames, 2);
	frame(e, 0, T0 + 20, 4, 4); /* late for the minute, on time for the hour */
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
	frame(e, 0, T0 + 1, 1, 0);
	frame(e, 0, T0 + 61, 2, 1);
	assert_int_equal(cap.n, 1);
	frame(e, 0, T0 + 2, 9, 2);  /* late: corrects the closed minute */
	frame(e, 0, T0 - 30, 8, 3); /* late, window never emitted: created */
	assert_int_equal(cap.n, 1);
	frame(e, 0, T0 + 62, 2, 4); /* next advance re-emits */
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

static void test_inputs_merge_and_hold(void **state)
{
	(void)state;
	capture cap;
	engine *e = make(&cap, MINUTE, 0, false, 0);
	int a = engine_input_add(e), b = engine_input_add(e);
	frame(e, a, T0 + 1, 1, 0);
	frame(e, b, T0 + 2, 1, 0); /* same user on another partition */
	frame(e, b, T0 + 3, 2, 1);
	frame(e, a, T0 + 70, 3, 1);
	assert_int_equal(cap.n, 0); /* b holds the watermark back */
	assert_int_equal(engine_input_safe_offset(e, b), 0);
	engine_input_role(e, b, ENGINE_FREE); /* an input that no longer holds it */
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.r[0].uniques, 2);
	assert_int_equal(cap.r[0].frames, 3);
	assert_int_equal(engine_input_safe_offset(e, b), INT64_MAX);
	assert_int_equal(engine_input_safe_offset(e, a), 1);
	engine_input_role(e, a, ENGINE_FOLLOWS); /* nobody holds: the minimum over followers */
	engine_input_role(e, b, ENGINE_FOLLOWS);
	assert_int_equal(cap.n, 1);
	engine_watermark(e, b, T0 + 200, false); /* live inputs following wall time */
	assert_int_equal(cap.n, 1);              /* a is at T0 + 70 */
	engine_watermark(e, a, T0 + 200, false);
	assert_int_equal(cap.n, 2);
	assert_int_equal(cap.r[1].start, T0 + 60);
	engine_finish(e);
	assert_int_equal(cap.n, 2);
	engine_free(e);
}

/* An input that holds G but has no watermark yet keeps G undefined. */
static void test_new_input_holds_until_it_has_a_watermark(void **state)
{
	(void)state;
	capture cap;
	engine *e = make(&cap, MINUTE, 0, false, 0);
	int a = engine_input_add(e), b = engine_input_add(e);
	frame(e, a, T0 + 1, 1, 0);
	frame(e, a, T0 + 200, 1, 1);
	assert_int_equal(cap.n, 0);
	engine_watermark(e, b, T0 + 100, false);
	assert_int_equal(cap.n, 1); /* G = T0 + 100: the first minute */
	engine_free(e);
}

/* G decreases only on a rewind; windows emitted above the new G stay closed. */
static void test_rewind_keeps_emitted_windows_closed(void **state)
{
	(void)state;
	capture cap;
	engine *e = make(&cap, MINUTE, 0, false, 0);
	engine_input_add(e);
	engine_watermark(e, 0, T0, false);
	engine_add(e, 0, T0 + 10, 1, 0);
	engine_watermark(e, 0, T0 + 100000, false); /* a false jump: the minute T0 is emitted */
	assert_int_equal(cap.n, 1);
	engine_watermark(e, 0, T0 + 20, false); /* lower, not a rewind: ignored */
	engine_add(e, 0, T0 + 30, 2, 1);
	assert_int_equal(engine_get_stats(e)->late[WINDOW_MINUTE], 1);
	engine_watermark(e, 0, T0 + 20, true); /* the rewind */
	engine_add(e, 0, T0 + 40, 3, 2);       /* minute T0 was emitted: still late */
	assert_int_equal(engine_get_stats(e)->late[WINDOW_MINUTE], 2);
	engine_add(e, 0, T0 + 70, 4, 3); /* minute T0+60 never was: counted */
	assert_int_equal(engine_get_stats(e)->late[WINDOW_MINUTE], 2);
	engine_watermark(e, 0, T0 + 120, false);
	assert_int_equal(cap.n, 2);
	assert_int_equal(cap.r[1].start, T0 + 60);
	assert_int_equal(cap.r[1].frames, 1);
	engine_finish(e);
	engine_free(e);
}

static void test_early(void **state)
{
	(void)state;
	capture cap;
	engine *e = make(&cap, 1u << WINDOW_HOUR, 0, false, 10);
	engine_input_add(e);
	frame(e, 0, T0 + 1, 1, 0);
	frame(e, 0, T0 + 5, 2, 1);
	assert_int_equal(cap.n, 0);
	frame(e, 0, T0 + 12, 2, 2); /* crosses T0 + 10: provisional hour */
	assert_int_equal(cap.n, 1);
	assert_false(cap.r[0].final);
	assert_int_equal(cap.r[0].uniques, 2);
	assert_int_equal(cap.r[0].frames, 2);
	engine_finish(e);
	assert_int_equal(cap.n, 2);
	assert_true(cap.r[1].final);
	assert_int_equal(cap.r[1].frames, 3);
	engine_free(e);
}

/* An interrupted run: open windows come out with final false and their counts so far, twice
 * if asked twice (they stay open), and a window already final is not emitted again. */
static void test_emit_open(void **state)
{
	(void)state;
	capture cap;
	engine *e = make(&cap, MINUTE | (1u << WINDOW_HOUR), 0, false, 0);
	assert_int_equal(engine_input_add(e), 0);
	frame(e, 0, T0 + 1, 1, 0);
	frame(e, 0, T0 + 61, 2, 1); /* the first minute is final */
	frame(e, 0, T0 + 62, 3, 2);
	assert_int_equal(cap.n, 1);
	assert_true(cap.r[0].final);
	for (int round = 0; round < 2; round++) {
		engine_emit_open(e);
		assert_int_equal(cap.n, 3 + 2 * round);
		const result *m = &cap.r[1 + 2 * round], *h = &cap.r[2 + 2 * round];
		assert_int_equal(m->kind, WINDOW_MINUTE);
		assert_int_equal(m->start, T0 + 60);
		assert_int_equal(m->frames, 2);
		assert_int_equal(m->uniques, 2);
		assert_false(m->final);
		assert_int_equal(m->revision, 0);
		assert_int_equal(h->kind, WINDOW_HOUR);
		assert_int_equal(h->frames, 3);
		assert_false(h->final);
	}
	engine_free(e);
}

/* An engine whose counters share budget b (mode m). */
static engine *make_budget(capture *cap, counter_mode m, memory_budget *b, bool update)
{
	lateness_ = 0;
	memset(maxts_, 0, sizeof(maxts_));
	engine_cfg cfg = {
	    .kinds = MINUTE,
	    .late_update = update,
	    .keep_closed = 3600,
	    .counter = {.mode = m, .budget = b},
	};
	calendar_init(&cfg.cal, NULL);
	memset(cap, 0, sizeof(*cap));
	engine *e = engine_new(&cfg, (result_sink){.emit = cap_emit, .ctx = cap});
	assert_non_null(e);
	assert_int_equal(engine_input_add(e), 0);
	return e;
}

/* EXACT past --memory-limit: the engine fails naming the limit and emits nothing after; the
 * window that was complete before is out, the one that lost users is not. */
static void test_exact_budget_fails(void **state)
{
	(void)state;
	capture cap;
	memory_budget b;
	memory_budget_init(&b, 64 << 10);
	engine *e = make_budget(&cap, COUNTER_EXACT, &b, false);
	for (uint64_t i = 1; i <= 100; i++)
		frame(e, 0, T0 + 1, i, (int64_t)i);
	for (uint64_t i = 1; i <= 20000; i++)
		frame(e, 0, T0 + 61, i * 7919, (int64_t)i);
	assert_int_equal(cap.n, 1); /* the first minute, exact and complete */
	assert_true(cap.r[0].exact);
	assert_int_equal(cap.r[0].uniques, 100);
	assert_non_null(engine_failure(e));
	assert_non_null(strstr(engine_failure(e), "--memory-limit 64 KiB"));
	assert_non_null(strstr(engine_failure(e), "2016-07-11T13:40:00Z"));
	engine_finish(e);
	assert_int_equal(cap.n, 1); /* nothing more: the second minute misses users */
	assert_true(engine_get_stats(e)->oom > 0);
	engine_free(e);
	assert_int_equal(b.used, 0);
}

/* AUTO past the limit: the window is emitted as the sketch, and nothing fails. */
static void test_auto_budget_sketch(void **state)
{
	(void)state;
	capture cap;
	memory_budget b;
	memory_budget_init(&b, 64 << 10);
	engine *e = make_budget(&cap, COUNTER_AUTO, &b, false);
	for (uint64_t i = 1; i <= 20000; i++) {
		uint64_t h = i * 0x9e3779b97f4a7c15ULL; /* mixed, as uid hashes are */
		h = (h ^ (h >> 31)) * 0xbf58476d1ce4e5b9ULL;
		frame(e, 0, T0 + 1, h ^ (h >> 29), (int64_t)i);
	}
	engine_finish(e);
	assert_null(engine_failure(e));
	assert_int_equal(cap.n, 1);
	assert_false(cap.r[0].exact);
	assert_true(cap.r[0].error > 0.005 && cap.r[0].error < 0.006);
	assert_true(cap.r[0].uniques > 19000 && cap.r[0].uniques < 21000);
	engine_free(e);
}

/* An allocation failure (injected through the budget) for an exact set: never an exact record. */
static void test_injected_failure_never_exact(void **state)
{
	(void)state;
	capture cap;
	memory_budget b;
	memory_budget_init(&b, SIZE_MAX);
	engine *e = make_budget(&cap, COUNTER_EXACT, &b, false);
	b.fail_at = 3;
	for (uint64_t i = 1; i <= 1000; i++)
		frame(e, 0, T0 + 1, i, (int64_t)i);
	engine_finish(e);
	assert_int_equal(b.injected, 1);
	assert_non_null(engine_failure(e));
	assert_non_null(strstr(engine_failure(e), "out of memory"));
	for (int i = 0; i < cap.n; i++)
		assert_false(cap.r[i].exact && cap.r[i].uniques != 1000);
	assert_int_equal(cap.n, 0);
	engine_free(e);
}

/* late_window: a window's own late frames, in its revisions; `late` stays the kind's total. */
static void test_late_window(void **state)
{
	(void)state;
	capture cap;
	engine *e = make_budget(&cap, COUNTER_EXACT, NULL, true);
	frame(e, 0, T0 + 1, 1, 0);
	frame(e, 0, T0 + 61, 2, 1);  /* minute 0 final */
	frame(e, 0, T0 + 121, 3, 2); /* minute 1 final */
	assert_int_equal(cap.n, 2);
	assert_int_equal(cap.r[0].late_window, 0);
	engine_add(e, 0, T0 + 5, 4, 3);  /* late for minute 0 */
	engine_add(e, 0, T0 + 6, 5, 4);  /* late for minute 0 */
	engine_add(e, 0, T0 + 65, 6, 5); /* late for minute 1 */
	frame(e, 0, T0 + 181, 7, 6);     /* revisions out */
	assert_int_equal(cap.n, 5);
	assert_int_equal(cap.r[2].start, T0 + 120);
	assert_int_equal(cap.r[3].start, T0);
	assert_int_equal(cap.r[3].revision, 1);
	assert_int_equal(cap.r[3].late_window, 2);
	assert_int_equal(cap.r[3].late, 3);
	assert_int_equal(cap.r[4].start, T0 + 60);
	assert_int_equal(cap.r[4].late_window, 1);
	assert_int_equal(cap.r[4].late, 3);
	engine_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact_budget_fails),
	    cmocka_unit_test(test_auto_budget_sketch),
	    cmocka_unit_test(test_injected_failure_never_exact),
	    cmocka_unit_test(test_late_window),
	    cmocka_unit_test(test_ordered_rule),
	    cmocka_unit_test(test_late_drop),
	    cmocka_unit_test(test_late_update_revisions),
	    cmocka_unit_test(test_inputs_merge_and_hold),
	    cmocka_unit_test(test_new_input_holds_until_it_has_a_watermark),
	    cmocka_unit_test(test_rewind_keeps_emitted_windows_closed),
	    cmocka_unit_test(test_early),
	    cmocka_unit_test(test_emit_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
