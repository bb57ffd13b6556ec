/* Tests for clock.c: start-up median, suspects, jump confirmation, pending overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"

typedef struct seen {
	int64_t ts[256];
	int64_t clock_at[256];
	int n;
	int offered;
	event_clock *c;
} seen;

static void record(void *ctx, const clock_frame *f)
{
	seen *s = ctx;
	s->clock_at[s->n] = s->c->now;
	s->ts[s->n++] = f->ts;
}

static void offer(event_clock *c, seen *s, int64_t ts)
{
	clock_frame f = {.ts = ts, .hash = (uint64_t)ts, .offset = s->offered++};
	clock_offer(c, &f, record, s);
}

static void test_startup_median_ignores_garbage(void **state)
{
	(void)state;
	event_clock c;
	seen s = {.c = &c};
	assert_int_equal(clock_init(&c, 300, 4, 100), 0);
	offer(&c, &s, 2000000000); /* a bit flip first */
	offer(&c, &s, 1000);
	offer(&c, &s, 1002);
	assert_false(c.set);
	assert_int_equal(s.n, 0);
	offer(&c, &s, 1001);
	assert_true(c.set);
	assert_int_equal(c.now, 1002); /* median 1001, then 1002 moved it */
	/* the flip is pending, the others released in arrival order */
	assert_int_equal(s.n, 3);
	assert_int_equal(s.ts[0], 1000);
	assert_int_equal(s.ts[1], 1002);
	assert_int_equal(s.ts[2], 1001);
	assert_int_equal(c.npend, 1);
	clock_finish(&c, record, &s);
	assert_int_equal(c.dropped, 1);
	clock_free(&c);
}

static void test_suspect_does_not_move_clock(void **state)
{
	(void)state;
	event_clock c;
	seen s = {.c = &c};
	clock_init(&c, 300, 3, 100);
	for (int i = 0; i < 3; i++)
		offer(&c, &s, 1000 + i);
	offer(&c, &s, 1000 + 1024 * 8); /* flipped */
	assert_int_equal(c.now, 1002);
	offer(&c, &s, 1003);
	offer(&c, &s, 1300); /* exactly A ahead of 1003 is not suspect... */
	assert_int_equal(c.now, 1300);
	offer(&c, &s, 1601); /* ...one more second is */
	assert_int_equal(c.now, 1300);
	assert_int_equal(c.npend, 2);
	offer(&c, &s, 10); /* far behind: released, late is the engine's business */
	assert_int_equal(s.ts[s.n - 1], 10);
	clock_free(&c);
}

static void test_jump_confirmed_and_replayed(void **state)
{
	(void)state;
	event_clock c;
	seen s = {.c = &c};
	clock_init(&c, 300, 3, 100);
	for (int i = 0; i < 3; i++)
		offer(&c, &s, 1000 + i);
	int before = s.n;
	offer(&c, &s, 87650); /* pending: far ahead of 1003 */
	offer(&c, &s, 1003);  /* breaks the run */
	offer(&c, &s, 87400);
	offer(&c, &s, 87401);
	assert_int_equal(s.n, before + 1);
	offer(&c, &s, 87399); /* third in a row: jump to median(87400, 87401, 87399) */
	assert_int_equal(c.npend, 0);
	assert_int_equal(c.now, 87650);
	/* replay in arrival order, every frame released */
	assert_int_equal(s.n, before + 5);
	assert_int_equal(s.ts[before + 1], 87650);
	assert_int_equal(s.ts[before + 2], 87400);
	assert_int_equal(s.ts[before + 4], 87399);
	/* 87650 is within A of the new clock 87400: replayed first, it moves the clock */
	assert_int_equal(s.clock_at[before + 1], 87650);
	offer(&c, &s, 99999); /* still far ahead after a jump: pending again */
	assert_int_equal(c.npend, 1);
	clock_free(&c);
}

static void test_pending_overflow_drops_oldest(void **state)
{
	(void)state;
	event_clock c;
	seen s = {.c = &c};
	clock_init(&c, 10, 1000, 4);
	offer(&c, &s, 100);
	clock_start(&c, record, &s);
	for (int i = 0; i < 10; i++)
		offer(&c, &s, 5000 + i * 1000);
	assert_int_equal(c.npend, 4);
	assert_int_equal(c.dropped, 6);
	assert_int_equal(clock_min_offset(&c), 7); /* offsets 1..10 offered, 4 kept */
	clock_finish(&c, record, &s);
	assert_int_equal(c.dropped, 10);
	assert_int_equal(clock_min_offset(&c), INT64_MAX);
	clock_free(&c);
}

static void test_follow_wall(void **state)
{
	(void)state;
	event_clock c;
	seen s = {.c = &c};
	clock_init(&c, 10, 2, 4);
	clock_follow(&c, 5000); /* unset: no effect */
	assert_false(c.set);
	offer(&c, &s, 100);
	clock_start(&c, record, &s);
	clock_follow(&c, 5000);
	assert_int_equal(c.now, 5000);
	clock_follow(&c, 10);
	assert_int_equal(c.now, 5000);
	clock_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_startup_median_ignores_garbage),
	    cmocka_unit_test(test_suspect_does_not_move_clock),
	    cmocka_unit_test(test_jump_confirmed_and_replayed),
	    cmocka_unit_test(test_pending_overflow_drops_oldest),
	    cmocka_unit_test(test_follow_wall),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
