/* test_counter.c - unit tests of the window counter: exact counts, configuration, merge
 * (commutative, idempotent, equal to counting the union), serialisation round trips and
 * rejection of corrupted bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "counter.h"

static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static counter *make(counter_mode mode, uint64_t limit, int precision)
{
	counter_cfg cfg = {.mode = mode, .exact_limit = limit, .precision = precision};
	counter *c = counter_new(&cfg);
	assert_non_null(c);
	return c;
}

/* Adds the n hashes of stream seed (items seed, seed+1, ... through splitmix). */
static void fill(counter *c, uint64_t seed, uint64_t n)
{
	uint64_t st = seed;
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(counter_add(c, splitmix(&st)), 0);
}

/* Serialises c into a fresh buffer; *len receives its size. */
static uint8_t *ser(const counter *c, size_t *len)
{
	size_t need = counter_serialize(c, NULL, 0);
	assert_true(need > 0);
	uint8_t *buf = malloc(need);
	assert_non_null(buf);
	assert_int_equal(counter_serialize(c, buf, need), need);
	*len = need;
	return buf;
}

static void assert_same_bytes(const counter *a, const counter *b)
{
	size_t la, lb;
	uint8_t *ba = ser(a, &la), *bb = ser(b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(ba, bb, la);
	free(ba);
	free(bb);
}

static void test_bad_cfg(void **state)
{
	(void)state;
	counter_cfg cfg = {.mode = COUNTER_EXACT, .precision = COUNTER_MAX_PRECISION + 1};
	assert_null(counter_new(&cfg));
	cfg.precision = COUNTER_MIN_PRECISION - 1;
	assert_null(counter_new(&cfg));
	cfg.precision = 0;
	cfg.mode = (counter_mode)7;
	assert_null(counter_new(&cfg));
}

static void test_exact_counts(void **state)
{
	(void)state;
	counter_mode modes[] = {COUNTER_EXACT, COUNTER_AUTO};
	for (size_t m = 0; m < 2; m++) {
		counter *c = make(modes[m], 0, 0);
		assert_int_equal(counter_count(c), 0);
		assert_true(counter_is_exact(c));
		fill(c, 1, 50000);
		fill(c, 1, 50000); /* duplicates */
		assert_int_equal(counter_add(c, 0), 0);
		assert_int_equal(counter_add(c, 0), 0);
		assert_int_equal(counter_count(c), 50001);
		assert_true(counter_is_exact(c));
		assert_true(counter_rse(c) == 0.0);
		assert_true(counter_memory(c) >= 50000 * 8);
		counter_free(c);
	}
	counter_free(NULL);
}

static void test_merge_exact(void **state)
{
	(void)state;
	counter *a = make(COUNTER_EXACT, 0, 0), *b = make(COUNTER_EXACT, 0, 0);
	counter *ab = make(COUNTER_EXACT, 0, 0), *u = make(COUNTER_EXACT, 0, 0);
	fill(a, 10, 3000);
	fill(b, 10, 1000); /* overlaps a's first 1000 */
	fill(b, 20, 2000);
	fill(u, 10, 3000);
	fill(u, 20, 2000);
	assert_int_equal(counter_merge(ab, a), 0);
	assert_int_equal(counter_merge(ab, b), 0);
	assert_int_equal(counter_count(ab), 5000);
	assert_same_bytes(ab, u); /* equals counting the union */
	counter *ba = make(COUNTER_EXACT, 0, 0);
	assert_int_equal(counter_merge(ba, b), 0);
	assert_int_equal(counter_merge(ba, a), 0);
	assert_same_bytes(ab, ba); /* commutative */
	assert_int_equal(counter_merge(ab, a), 0);
	assert_int_equal(counter_merge(ab, ab), 0);
	assert_same_bytes(ab, u); /* idempotent */
	counter_free(a);
	counter_free(b);
	counter_free(ab);
	counter_free(ba);
	counter_free(u);
}

static void roundtrip(const counter *c)
{
	size_t len;
	uint8_t *buf = ser(c, &len);
	counter *d = counter_deserialize(buf, len);
	assert_non_null(d);
	assert_int_equal(counter_count(d), counter_count(c));
	assert_int_equal(counter_is_exact(d), counter_is_exact(c));
	size_t len2;
	uint8_t *buf2 = ser(d, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	free(buf);
	free(buf2);
	counter_free(d);
}

static void test_serialize_roundtrip(void **state)
{
	(void)state;
	counter *c = make(COUNTER_EXACT, 0, 0);
	roundtrip(c);
	fill(c, 3, 10000);
	counter_add(c, 0);
	roundtrip(c);
	/* too small a buffer: reports the size, writes nothing */
	uint8_t small[16];
	memset(small, 0xa5, sizeof(small));
	assert_true(counter_serialize(c, small, sizeof(small)) > sizeof(small));
	for (size_t i = 0; i < sizeof(small); i++)
		assert_int_equal(small[i], 0xa5);
	/* insertion order does not matter */
	counter *d = make(COUNTER_EXACT, 0, 0);
	counter_add(d, 0);
	fill(d, 3, 10000);
	assert_same_bytes(c, d);
	counter_free(c);
	counter_free(d);
}

/* Every single-bit flip of every byte, every truncation and an extension must be rejected. */
static void check_corruptions(const counter *c)
{
	size_t len;
	uint8_t *buf = ser(c, &len);
	uint8_t *copy = malloc(len + 1);
	assert_non_null(copy);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(copy, buf, len);
			copy[i] ^= (uint8_t)(1u << bit);
			assert_null(counter_deserialize(copy, len));
		}
	}
	for (size_t l = 0; l < len; l++)
		assert_null(counter_deserialize(buf, l));
	memcpy(copy, buf, len);
	copy[len] = 0;
	assert_null(counter_deserialize(copy, len + 1));
	free(copy);
	free(buf);
}

static void test_corrupt_rejected(void **state)
{
	(void)state;
	counter *c = make(COUNTER_EXACT, 0, 0);
	check_corruptions(c);
	fill(c, 8, 300);
	check_corruptions(c);
	counter_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_cfg),          cmocka_unit_test(test_exact_counts),
	    cmocka_unit_test(test_merge_exact),      cmocka_unit_test(test_serialize_roundtrip),
	    cmocka_unit_test(test_corrupt_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
