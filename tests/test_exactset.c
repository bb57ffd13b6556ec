/* test_exactset.c - unit tests of the exact hash set: counts, duplicates, the item 0, growth,
 * clustering and wrap-around, iteration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "exactset.h"

static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void test_empty(void **state)
{
	(void)state;
	exactset s;
	exactset_init(&s);
	assert_int_equal(exactset_count(&s), 0);
	assert_false(exactset_contains(&s, 0));
	assert_false(exactset_contains(&s, 42));
	assert_int_equal(exactset_memory(&s), 0);
	size_t pos = 0;
	uint64_t item;
	assert_false(exactset_next(&s, &pos, &item));
	exactset_free(&s);
}

static void test_zero_and_duplicates(void **state)
{
	(void)state;
	exactset s;
	exactset_init(&s);
	assert_int_equal(exactset_add(&s, 0), 1);
	assert_int_equal(exactset_add(&s, 0), 0);
	assert_int_equal(exactset_count(&s), 1);
	assert_int_equal(exactset_add(&s, 7), 1);
	assert_int_equal(exactset_add(&s, 7), 0);
	assert_int_equal(exactset_add(&s, UINT64_MAX), 1);
	assert_int_equal(exactset_count(&s), 3);
	assert_true(exactset_contains(&s, 0));
	assert_true(exactset_contains(&s, 7));
	assert_true(exactset_contains(&s, UINT64_MAX));
	assert_false(exactset_contains(&s, 8));
	exactset_free(&s);
}

static void test_many_random(void **state)
{
	(void)state;
	const size_t n = 300000;
	exactset s;
	exactset_init(&s);
	uint64_t st = 1;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(exactset_add(&s, splitmix(&st)), 1);
	assert_int_equal(exactset_count(&s), n);
	/* load never exceeds 3/4 */
	assert_true(s.used * 4 <= s.cap * 3);
	assert_true(exactset_memory(&s) <= exactset_bytes_for(n));
	st = 1;
	for (size_t i = 0; i < n; i++) {
		uint64_t h = splitmix(&st);
		assert_true(exactset_contains(&s, h));
		assert_int_equal(exactset_add(&s, h), 0);
	}
	assert_int_equal(exactset_count(&s), n);
	for (size_t i = 0; i < 1000; i++)
		assert_false(exactset_contains(&s, splitmix(&st)));
	exactset_free(&s);
}

/* Items sharing their low bits form one long cluster that wraps around the end of the table. */
static void test_clusters_wrap(void **state)
{
	(void)state;
	exactset s;
	exactset_init(&s);
	const uint64_t n = 5000;
	for (uint64_t i = 1; i <= n; i++)
		assert_int_equal(exactset_add(&s, (i << 40) | 0xffffffffULL), 1);
	for (uint64_t i = 1; i <= n; i++) {
		assert_true(exactset_contains(&s, (i << 40) | 0xffffffffULL));
		assert_int_equal(exactset_add(&s, (i << 40) | 0xffffffffULL), 0);
	}
	assert_false(exactset_contains(&s, ((n + 1) << 40) | 0xffffffffULL));
	assert_int_equal(exactset_count(&s), n);
	exactset_free(&s);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static void test_iteration(void **state)
{
	(void)state;
	exactset s;
	exactset_init(&s);
	const size_t n = 10000;
	uint64_t *want = malloc((n + 1) * sizeof(*want));
	uint64_t *got = malloc((n + 1) * sizeof(*got));
	assert_non_null(want);
	assert_non_null(got);
	uint64_t st = 99;
	for (size_t i = 0; i < n; i++) {
		want[i] = splitmix(&st);
		exactset_add(&s, want[i]);
		exactset_add(&s, want[i]);
	}
	want[n] = 0;
	exactset_add(&s, 0);
	size_t pos = 0, k = 0;
	uint64_t item;
	while (exactset_next(&s, &pos, &item)) {
		assert_true(k < n + 1);
		got[k++] = item;
	}
	assert_int_equal(k, n + 1);
	qsort(want, n + 1, sizeof(*want), cmp_u64);
	qsort(got, n + 1, sizeof(*got), cmp_u64);
	assert_memory_equal(want, got, (n + 1) * sizeof(*want));
	free(want);
	free(got);
	exactset_free(&s);
}

static void test_reserve(void **state)
{
	(void)state;
	exactset s;
	exactset_init(&s);
	assert_int_equal(exactset_reserve(&s, 1000), 0);
	size_t cap = s.cap;
	assert_true(cap * 3 >= 1000 * 4);
	uint64_t st = 5;
	for (int i = 0; i < 1000; i++)
		exactset_add(&s, splitmix(&st));
	assert_int_equal(s.cap, cap); /* no growth within the reservation */
	assert_int_equal(exactset_count(&s), 1000);
	assert_int_equal(exactset_reserve(&s, 10), 0); /* never shrinks */
	assert_int_equal(s.cap, cap);
	exactset_free(&s);
	assert_int_equal(exactset_bytes_for(0), 0);
	assert_int_equal(exactset_bytes_for(48), EXACTSET_MIN_CAP * 8);
	assert_int_equal(exactset_bytes_for(49), 2 * EXACTSET_MIN_CAP * 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),       cmocka_unit_test(test_zero_and_duplicates),
	    cmocka_unit_test(test_many_random), cmocka_unit_test(test_clusters_wrap),
	    cmocka_unit_test(test_iteration),   cmocka_unit_test(test_reserve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
