/* Tests for commit_plan.c: the at-least-once commit rule of one Kafka partition, without a
 * broker: never past the next offset to read, never past the safe offset, never backwards,
 * re-deliveries recognised. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "commit_plan.h"

static void test_nothing_read(void **state)
{
	(void)state;
	commit_plan p;
	commit_plan_init(&p);
	assert_int_equal(commit_plan_point(&p, INT64_MAX), -1);
	assert_false(commit_plan_snapshot(&p, INT64_MAX));
	assert_int_equal(commit_plan_take(&p), -1);
}

static void test_point_is_min_of_next_and_safe(void **state)
{
	(void)state;
	commit_plan p;
	commit_plan_init(&p);
	for (int64_t o = 100; o < 110; o++)
		assert_true(commit_plan_read(&p, o));
	assert_int_equal(p.next, 110);
	assert_int_equal(commit_plan_point(&p, INT64_MAX), 110); /* everything emitted */
	assert_int_equal(commit_plan_point(&p, 104), 104); /* offset 104 counts in an open window */
	assert_int_equal(commit_plan_point(&p, 200), 110); /* never past what was read */
}

static void test_redelivery_skipped(void **state)
{
	(void)state;
	commit_plan p;
	commit_plan_init(&p);
	assert_true(commit_plan_read(&p, 5));
	assert_true(commit_plan_read(&p, 6));
	assert_false(commit_plan_read(&p, 5)); /* re-delivered after a rebalance */
	assert_false(commit_plan_read(&p, 6));
	assert_true(commit_plan_read(&p, 9)); /* a gap (compaction, transaction markers) */
	assert_int_equal(p.next, 10);
}

static void test_snapshot_never_backwards(void **state)
{
	(void)state;
	commit_plan p;
	commit_plan_init(&p);
	for (int64_t o = 0; o < 50; o++)
		commit_plan_read(&p, o);
	assert_true(commit_plan_snapshot(&p, 30));
	assert_int_equal(commit_plan_take(&p), 30);
	assert_int_equal(p.snap, -1);
	commit_plan_acked(&p, 30);
	/* the safe offset went down (a rewind reopened nothing emitted, but a held frame is older):
	 * no snapshot below what is committed */
	assert_false(commit_plan_snapshot(&p, 20));
	assert_int_equal(commit_plan_take(&p), -1);
	assert_false(commit_plan_snapshot(&p, 30)); /* equal: nothing new */
	assert_true(commit_plan_snapshot(&p, 45));
	commit_plan_acked(&p, 25); /* a late acknowledgement of an older commit */
	assert_int_equal(p.committed, 30);
	assert_int_equal(commit_plan_take(&p), 45);
}

static void test_ack_between_snapshot_and_take(void **state)
{
	(void)state;
	commit_plan p;
	commit_plan_init(&p);
	for (int64_t o = 0; o < 10; o++)
		commit_plan_read(&p, o);
	assert_true(commit_plan_snapshot(&p, 8));
	commit_plan_acked(&p, 9); /* a synchronous commit at revocation got further meanwhile */
	assert_int_equal(commit_plan_take(&p), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nothing_read),
	    cmocka_unit_test(test_point_is_min_of_next_and_safe),
	    cmocka_unit_test(test_redelivery_skipped),
	    cmocka_unit_test(test_snapshot_never_backwards),
	    cmocka_unit_test(test_ack_between_snapshot_and_take),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
