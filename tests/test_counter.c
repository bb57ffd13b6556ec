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
#include "exactset.h"
#include "exaloglog.h"

#include <math.h>
#include <xxhash.h>

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

/* Compares the sketch payloads of two serialisations (headers differ in the mode byte). */
static void assert_same_sketch(const counter *a, const counter *b)
{
	size_t la, lb;
	uint8_t *ba = ser(a, &la), *bb = ser(b, &lb);
	assert_int_equal(ba[6], 1);
	assert_int_equal(bb[6], 1);
	assert_int_equal(la, lb);
	assert_memory_equal(ba + 16, bb + 16, la - 24);
	free(ba);
	free(bb);
}

/* The sketch's relative standard error at precision p, from the formula of docs/counting.md
 * (0.343758 / sqrt(2^p)), not from the code under test. */
static double rse_formula(int p)
{
	return 0.34375838677455064 / sqrt((double)(1u << p));
}

/* counter_count(c) is within k_se standard errors (of the default precision 12) of n. */
static void assert_within(const counter *c, uint64_t n, double k_se)
{
	double rel = (double)counter_count(c) / (double)n - 1;
	if (fabs(rel) > k_se * rse_formula(12))
		fail_msg("count %llu for %llu items: off by %.4f %%, beyond %.1f standard errors",
		         (unsigned long long)counter_count(c), (unsigned long long)n, 100 * rel,
		         k_se);
}

static void test_approx(void **state)
{
	(void)state;
	counter *c = make(COUNTER_APPROX, 0, 0);
	assert_false(counter_is_exact(c));
	assert_int_equal(counter_count(c), 0);
	assert_true(fabs(counter_rse(c) - rse_formula(12)) < 1e-12);
	assert_true(fabs(rse_formula(12) - 0.005371) < 1e-6); /* docs/counting.md: 0.537 % */
	fill(c, 4, 200000);
	fill(c, 4, 1000);
	assert_within(c, 200000, 4);
	assert_true(counter_memory(c) <= sizeof(void *) * 16 + ell_memory(12));
	counter_free(c);
	counter *d = make(COUNTER_APPROX, 0, 14);
	assert_true(fabs(counter_rse(d) - rse_formula(14)) < 1e-12);
	counter_free(d);
}

/* AUTO: exact up to the limit, then the sketch holds exactly what an APPROX counter fed the same
 * items holds; memory never exceeds the set's budget plus the sketch. */
static void test_auto_conversion(void **state)
{
	(void)state;
	const uint64_t limit = 5000;
	counter *a = make(COUNTER_AUTO, limit, 0), *x = make(COUNTER_APPROX, 0, 0);
	size_t budget = 256 + exactset_bytes_for(limit) + ell_memory(12);
	uint64_t st = 21;
	for (uint64_t i = 0; i < limit; i++) {
		uint64_t h = splitmix(&st);
		assert_int_equal(counter_add(a, h), 0);
		counter_add(x, h);
		assert_true(counter_memory(a) <= budget);
	}
	assert_true(counter_is_exact(a));
	assert_int_equal(counter_count(a), limit);
	/* a duplicate at the limit does not convert */
	uint64_t st0 = 21;
	assert_int_equal(counter_add(a, splitmix(&st0)), 0);
	assert_true(counter_is_exact(a));
	/* the next new item does */
	for (uint64_t i = 0; i < 100000; i++) {
		uint64_t h = splitmix(&st);
		assert_int_equal(counter_add(a, h), 0);
		counter_add(x, h);
		assert_true(counter_memory(a) <= budget);
		if (i == 0) {
			assert_false(counter_is_exact(a));
			assert_within(a, limit + 1, 1); /* nothing lost in the conversion */
		}
	}
	assert_same_sketch(a, x);
	assert_within(a, limit + 100000, 4);
	assert_true(fabs(counter_rse(a) - rse_formula(12)) < 1e-12);
	counter_free(a);
	counter_free(x);
}

/* merge of every representation pair equals counting the union; commutative; idempotent. */
static void test_merge_mixed(void **state)
{
	(void)state;
	/* a: AUTO sketch (past its limit), b: AUTO exact, s: APPROX */
	counter *a = make(COUNTER_AUTO, 1000, 0), *b = make(COUNTER_AUTO, 1000, 0);
	counter *s = make(COUNTER_APPROX, 0, 0), *u = make(COUNTER_APPROX, 0, 0);
	fill(a, 1, 4000);
	fill(b, 2, 800);
	fill(s, 3, 9000);
	fill(u, 1, 4000);
	fill(u, 2, 800);
	fill(u, 3, 9000);
	assert_false(counter_is_exact(a));
	assert_true(counter_is_exact(b));
	counter *order[6][3] = {{a, b, s}, {a, s, b}, {b, a, s}, {b, s, a}, {s, a, b}, {s, b, a}};
	for (int o = 0; o < 6; o++) {
		counter *m = make(COUNTER_AUTO, 1000, 0);
		for (int i = 0; i < 3; i++)
			assert_int_equal(counter_merge(m, order[o][i]), 0);
		assert_same_sketch(m, u);
		assert_int_equal(counter_merge(m, a), 0); /* idempotent */
		assert_int_equal(counter_merge(m, m), 0);
		assert_same_sketch(m, u);
		counter_free(m);
	}
	/* two exact AUTO sets whose union passes the limit convert */
	counter *e1 = make(COUNTER_AUTO, 1000, 0), *e2 = make(COUNTER_AUTO, 1000, 0);
	counter *ue = make(COUNTER_APPROX, 0, 0);
	fill(e1, 5, 700);
	fill(e2, 6, 700);
	fill(ue, 5, 700);
	fill(ue, 6, 700);
	assert_int_equal(counter_merge(e1, e2), 0);
	assert_false(counter_is_exact(e1));
	assert_same_sketch(e1, ue);
	/* incompatible: a sketch into an EXACT counter, or another precision */
	counter *ex = make(COUNTER_EXACT, 0, 0), *p14 = make(COUNTER_APPROX, 0, 14);
	assert_int_equal(counter_merge(ex, s), -1);
	assert_int_equal(counter_merge(s, p14), -1);
	assert_int_equal(counter_merge(ex, b), 0); /* exact into exact is fine */
	assert_int_equal(counter_count(ex), 800);
	counter *list[] = {a, b, s, u, e1, e2, ue, ex, p14};
	for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++)
		counter_free(list[i]);
}

static void test_sketch_roundtrip(void **state)
{
	(void)state;
	counter *c = make(COUNTER_APPROX, 0, 0);
	roundtrip(c);
	fill(c, 7, 50000);
	roundtrip(c);
	counter *a = make(COUNTER_AUTO, 100, 10);
	fill(a, 7, 5000);
	roundtrip(a);
	counter_free(a);
	counter_free(c);
}

static void test_sketch_corrupt_rejected(void **state)
{
	(void)state;
	counter *c = make(COUNTER_APPROX, 0, COUNTER_MIN_PRECISION);
	fill(c, 8, 300);
	check_corruptions(c);
	counter_free(c);
	/* every byte of a default-precision sketch, one flip each */
	c = make(COUNTER_AUTO, 10, 0);
	fill(c, 8, 3000);
	size_t len;
	uint8_t *buf = ser(c, &len);
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x10;
		assert_null(counter_deserialize(buf, len));
		buf[i] ^= 0x10;
	}
	counter *d = counter_deserialize(buf, len);
	assert_non_null(d);
	counter_free(d);
	free(buf);
	counter_free(c);
}

/* Recomputes the checksum so that only the content checks stand between bytes and a counter. */
static void reseal(uint8_t *buf, size_t len)
{
	uint64_t h = XXH3_64bits(buf, len - 8);
	for (int i = 0; i < 8; i++)
		buf[len - 8 + i] = (uint8_t)(h >> (8 * i));
}

static void expect_rejected(const uint8_t *orig, size_t len, size_t at, uint8_t value)
{
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	memcpy(buf, orig, len);
	buf[at] = value;
	reseal(buf, len);
	assert_null(counter_deserialize(buf, len));
	free(buf);
}

static void test_bad_content_rejected(void **state)
{
	(void)state;
	counter *e = make(COUNTER_AUTO, 3, 0);
	fill(e, 1, 3);
	size_t len;
	uint8_t *buf = ser(e, &len);
	reseal(buf, len);
	counter *ok = counter_deserialize(buf, len);
	assert_non_null(ok); /* resealing alone changes nothing */
	counter_free(ok);
	expect_rejected(buf, len, 4, 2);  /* unknown version */
	expect_rejected(buf, len, 5, 3);  /* unknown mode */
	expect_rejected(buf, len, 5, 2);  /* APPROX holding a set */
	expect_rejected(buf, len, 6, 2);  /* unknown representation */
	expect_rejected(buf, len, 6, 1);  /* a sketch of the wrong length */
	expect_rejected(buf, len, 7, 0);  /* precision not normalised */
	expect_rejected(buf, len, 7, 99); /* precision out of range */
	expect_rejected(buf, len, 8, 2);  /* AUTO limit 2 holding 3 items */
	expect_rejected(buf, len, 16, 2); /* count disagrees with the length */
	assert_true(buf[24 + 7] > 0);
	expect_rejected(buf, len, 24 + 8 + 7, 0); /* items out of order */
	free(buf);
	counter_free(e);
	counter *s = make(COUNTER_APPROX, 0, 4);
	fill(s, 1, 100);
	buf = ser(s, &len);
	expect_rejected(buf, len, 5, 1);        /* EXACT holding a sketch */
	expect_rejected(buf, len, 7, 5);        /* precision disagrees with the length */
	expect_rejected(buf, len, 24 + 3, 250); /* unreachable register */
	free(buf);
	counter_free(s);
	assert_null(counter_deserialize(NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_cfg),
	    cmocka_unit_test(test_exact_counts),
	    cmocka_unit_test(test_merge_exact),
	    cmocka_unit_test(test_serialize_roundtrip),
	    cmocka_unit_test(test_corrupt_rejected),
	    cmocka_unit_test(test_approx),
	    cmocka_unit_test(test_auto_conversion),
	    cmocka_unit_test(test_merge_mixed),
	    cmocka_unit_test(test_sketch_roundtrip),
	    cmocka_unit_test(test_sketch_corrupt_rejected),
	    cmocka_unit_test(test_bad_content_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
