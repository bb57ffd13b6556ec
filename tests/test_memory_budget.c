/* test_memory_budget.c - the counters' memory budget: sizes parsed, reservations refused past the
 * limit, accounting equal to the byte to what counters report (counter_memory), an AUTO counter
 * turning into the very sketch an APPROX counter holds when its set cannot grow, an EXACT counter
 * that cannot grow never claiming exact, and allocation failures injected through the budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "counter.h"
#include "exactset.h"
#include "exaloglog.h"
#include "memory_budget.h"

static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static counter *make(counter_mode mode, memory_budget *b)
{
	counter_cfg cfg = {.mode = mode, .budget = b};
	counter *c = counter_new(&cfg);
	assert_non_null(c);
	return c;
}

/* Adds n items of stream seed; returns how many counter_add refused. */
static uint64_t fill(counter *c, uint64_t seed, uint64_t n)
{
	uint64_t st = seed, failed = 0;
	for (uint64_t i = 0; i < n; i++)
		failed += counter_add(c, splitmix(&st)) != 0;
	return failed;
}

static void test_parse(void **state)
{
	(void)state;
	size_t v;
	assert_int_equal(memory_budget_parse("512M", &v), 0);
	assert_int_equal(v, (size_t)512 << 20);
	assert_int_equal(memory_budget_parse("2G", &v), 0);
	assert_int_equal(v, (size_t)2 << 30);
	assert_int_equal(memory_budget_parse("1500000000", &v), 0);
	assert_int_equal(v, 1500000000);
	assert_int_equal(memory_budget_parse("8MiB", &v), 0);
	assert_int_equal(v, (size_t)8 << 20);
	assert_int_equal(memory_budget_parse("64k", &v), 0);
	assert_int_equal(v, 65536);
	const char *bad[] = {"",         "M", "0", "-1", "12X", "1.5G", "99999999999999999999",
	                     "16777216T"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(memory_budget_parse(bad[i], &v), -1);
	assert_true(memory_budget_default() >= MEMORY_BUDGET_MIN_DEFAULT);
}

static void test_reserve_release(void **state)
{
	(void)state;
	memory_budget b;
	memory_budget_init(&b, 1000);
	assert_int_equal(memory_budget_reserve(&b, 600), 0);
	assert_int_equal(memory_budget_reserve(&b, 401), -1);
	assert_int_equal(b.refused, 1);
	assert_int_equal(memory_budget_reserve(&b, 400), 0);
	assert_int_equal(b.used, 1000);
	memory_budget_force(&b, 24);
	assert_int_equal(b.used, 1024);
	memory_budget_release(&b, 1024);
	assert_int_equal(b.used, 0);
	assert_int_equal(b.peak, 1024);
	assert_int_equal(memory_budget_reserve(&b, SIZE_MAX), -1);
	b.fail_at = 2; /* the second reservation from now fails */
	assert_int_equal(memory_budget_reserve(&b, 1), 0);
	assert_int_equal(memory_budget_reserve(&b, 1), -1);
	assert_int_equal(memory_budget_reserve(&b, 1), 0);
	assert_int_equal(b.injected, 1);
	assert_int_equal(b.refused, 2);
}

/* The budget holds exactly the sum of counter_memory, in every mode, through growth, conversion
 * and merges, and returns to 0 when every counter is freed. */
static void test_accounting_exact(void **state)
{
	(void)state;
	memory_budget b;
	memory_budget_init(&b, SIZE_MAX);
	counter *ex = make(COUNTER_EXACT, &b), *ap = make(COUNTER_APPROX, &b);
	counter_cfg acfg = {.mode = COUNTER_AUTO, .exact_limit = 5000, .budget = &b};
	counter *au = counter_new(&acfg);
	assert_non_null(au);
	assert_int_equal(b.used, counter_memory(ex) + counter_memory(ap) + counter_memory(au));
	for (uint64_t n = 1; n <= 20000; n *= 3) {
		fill(ex, n, n);
		fill(ap, n, n);
		fill(au, n, n);
		assert_int_equal(b.used,
		                 counter_memory(ex) + counter_memory(ap) + counter_memory(au));
	}
	assert_false(counter_is_exact(au)); /* past its exact limit */
	counter *m = make(COUNTER_EXACT, &b);
	assert_int_equal(counter_merge(m, ex), 0);
	assert_int_equal(counter_count(m), counter_count(ex));
	assert_int_equal(b.used, counter_memory(ex) + counter_memory(ap) + counter_memory(au) +
	                             counter_memory(m));
	size_t need = counter_serialize(ex, NULL, 0);
	uint8_t *buf = malloc(need);
	assert_non_null(buf);
	counter_serialize(ex, buf, need);
	counter *d = counter_deserialize_in(buf, need, &b);
	assert_non_null(d);
	assert_int_equal(b.used, counter_memory(ex) + counter_memory(ap) + counter_memory(au) +
	                             counter_memory(m) + counter_memory(d));
	free(buf);
	counter_free(d);
	counter_free(m);
	counter_free(ex);
	counter_free(ap);
	counter_free(au);
	assert_int_equal(b.used, 0);
	assert_true(b.peak > 0);
}

/* AUTO under a limit its set outgrows: the counter becomes the sketch an APPROX counter fed the
 * same items holds, bit for bit (same estimate; same registers: same serialised payload). */
static void test_auto_degrades_to_sketch(void **state)
{
	(void)state;
	memory_budget b;
	memory_budget_init(&b, 256 << 10); /* a set of ~24,000 items at most */
	counter *au = make(COUNTER_AUTO, &b);
	counter *ap = make(COUNTER_APPROX, NULL);
	assert_int_equal(fill(au, 7, 100000), 0);
	fill(ap, 7, 100000);
	assert_false(counter_is_exact(au));
	assert_false(counter_lost(au));
	assert_int_equal(counter_count(au), counter_count(ap));
	assert_true(counter_rse(au) == counter_rse(ap));
	size_t la = counter_serialize(au, NULL, 0), lp = counter_serialize(ap, NULL, 0);
	assert_int_equal(la, lp);
	uint8_t *ba = malloc(la), *bp = malloc(lp);
	counter_serialize(au, ba, la);
	counter_serialize(ap, bp, lp);
	assert_memory_equal(ba + 24, bp + 24, la - 32); /* the registers (header says the mode) */
	free(ba);
	free(bp);
	assert_true(b.refused > 0);
	assert_int_equal(b.used, counter_memory(au));
	assert_true(b.peak <= 256 << 10);
	counter_free(au);
	counter_free(ap);
	assert_int_equal(b.used, 0);
}

/* EXACT past the limit: the item is refused, the counter is lost and never claims exact. */
static void test_exact_refused(void **state)
{
	(void)state;
	memory_budget b;
	memory_budget_init(&b, 64 << 10);
	counter *ex = make(COUNTER_EXACT, &b);
	uint64_t failed = fill(ex, 3, 20000);
	assert_true(failed > 0);
	assert_true(counter_lost(ex));
	assert_false(counter_is_exact(ex));
	assert_true(counter_rse(ex) == 1.0);
	assert_true(counter_count(ex) < 20000);
	assert_true(b.used <= 64 << 10);
	assert_int_equal(b.used, counter_memory(ex));
	/* a merge into another exact counter carries the loss */
	counter *m = make(COUNTER_EXACT, NULL);
	counter_merge(m, ex);
	assert_false(counter_is_exact(m));
	counter_free(m);
	counter_free(ex);
	assert_int_equal(b.used, 0);
	/* the struct of a new EXACT counter is refused too when nothing is left */
	memory_budget_init(&b, 8);
	counter_cfg cfg = {.mode = COUNTER_EXACT, .budget = &b};
	assert_null(counter_new(&cfg));
}

/* A simulated allocation failure (the budget's test injection) at every growth in turn: AUTO
 * always ends as the APPROX sketch, EXACT never says exact with a wrong count. */
static void test_injected_failure(void **state)
{
	(void)state;
	counter *ap = make(COUNTER_APPROX, NULL);
	fill(ap, 11, 5000);
	for (uint64_t at = 1; at <= 9; at++) {
		memory_budget b;
		memory_budget_init(&b, SIZE_MAX);
		counter *au = make(COUNTER_AUTO, &b), *ex = make(COUNTER_EXACT, &b);
		b.fail_at = at; /* counts the reservations of both counters */
		assert_int_equal(fill(au, 11, 5000), 0);
		uint64_t failed = fill(ex, 11, 5000);
		if (b.injected) {
			assert_true(!counter_is_exact(au) || !counter_is_exact(ex));
		}
		if (!counter_is_exact(au))
			assert_int_equal(counter_count(au), counter_count(ap));
		else
			assert_int_equal(counter_count(au), 5000);
		if (counter_is_exact(ex))
			assert_int_equal(counter_count(ex), 5000);
		else
			assert_true(failed > 0 && counter_lost(ex));
		assert_int_equal(b.used, counter_memory(au) + counter_memory(ex));
		counter_free(au);
		counter_free(ex);
	}
	counter_free(ap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_reserve_release),
	    cmocka_unit_test(test_accounting_exact),
	    cmocka_unit_test(test_auto_degrades_to_sketch),
	    cmocka_unit_test(test_exact_refused),
	    cmocka_unit_test(test_injected_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
