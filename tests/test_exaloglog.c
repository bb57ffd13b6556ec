/* test_exaloglog.c - unit tests of the ExaLogLog sketch: the register update against a slow
 * reference that remembers every update value, order independence, merge = sketch of the union,
 * the estimate as the likelihood's maximum (checked by an independent likelihood), accuracy at
 * fixed seeds, and rejection of unreachable register states on load. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exaloglog.h"

static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fill(ell *s, uint64_t seed, uint64_t n)
{
	uint64_t st = seed;
	for (uint64_t i = 0; i < n; i++)
		ell_add(s, splitmix(&st));
}

/* Reference: the update value of a hash, computed bit by bit. */
static uint32_t ref_value(uint64_t h, int p, size_t *idx)
{
	*idx = (size_t)(h >> (64 - p));
	uint32_t sub = (uint32_t)(h >> (62 - p)) & 3;
	uint32_t z = 0;
	for (int bit = 61 - p; bit >= 0 && !((h >> bit) & 1); bit--)
		z++;
	return 4 * z + sub + 1;
}

/* Reference register from the full set of seen values (seen[k] for k = 1..255). */
static uint32_t ref_register(const uint8_t *seen)
{
	uint32_t u = 0;
	for (uint32_t k = 1; k < 256; k++)
		if (seen[k])
			u = k;
	if (u == 0)
		return 0;
	uint32_t r = u << ELL_D;
	for (uint32_t j = 1; j <= ELL_D && j < u; j++)
		if (seen[u - j])
			r |= 1u << (j - 1);
	return r;
}

static void test_against_reference(void **state)
{
	(void)state;
	int ps[] = {4, 8, 12};
	for (size_t pi = 0; pi < 3; pi++) {
		int p = ps[pi];
		size_t m = (size_t)1 << p;
		ell *s = ell_new(p);
		assert_non_null(s);
		uint8_t *seen = calloc(m * 256, 1);
		assert_non_null(seen);
		uint64_t st = 77;
		for (int i = 0; i < 200000; i++) {
			uint64_t h = splitmix(&st);
			/* also exercise long runs of zeros (large update values) */
			if (i % 7 == 0)
				h &= ~0ULL << (i % 64);
			if (i % 11 == 0)
				h >>= i % 13;
			size_t idx;
			uint32_t k = ref_value(h, p, &idx);
			assert_true(k >= 1 && k <= (uint32_t)(65 - p - 2) * 4);
			seen[idx * 256 + k] = 1;
			ell_add(s, h);
		}
		for (size_t i = 0; i < m; i++)
			assert_int_equal(s->regs[i], ref_register(seen + i * 256));
		free(seen);
		ell_free(s);
	}
}

static void test_register_update(void **state)
{
	(void)state;
	uint32_t r = ell_update_register(0, 5);
	assert_int_equal(r, 5u << ELL_D);
	r = ell_update_register(r, 3); /* 5 - 3 = 2 -> bit 1 */
	assert_int_equal(r, (5u << ELL_D) | 2);
	r = ell_update_register(r, 5);
	assert_int_equal(r, (5u << ELL_D) | 2);
	r = ell_update_register(r, 7); /* 5 -> bit 1, 3 -> bit 3 */
	assert_int_equal(r, (7u << ELL_D) | 2 | 8);
	r = ell_update_register(r, 7 + ELL_D + 1); /* everything falls out of the history */
	assert_int_equal(r, (uint32_t)(7 + ELL_D + 1) << ELL_D);
	uint32_t u = r >> ELL_D;
	assert_int_equal(ell_update_register(r, u - ELL_D - 1), r); /* too far below: no trace */
	assert_int_equal(ell_update_register(r, u - ELL_D), r | (1u << (ELL_D - 1)));
}

static void test_order_independent(void **state)
{
	(void)state;
	enum { N = 20000 };
	uint64_t *h = malloc(N * sizeof(*h));
	assert_non_null(h);
	uint64_t st = 3;
	for (int i = 0; i < N; i++)
		h[i] = splitmix(&st);
	ell *a = ell_new(8), *b = ell_new(8);
	for (int i = 0; i < N; i++)
		ell_add(a, h[i]);
	for (int i = N - 1; i >= 0; i--) {
		ell_add(b, h[i]);
		ell_add(b, h[i]);
	}
	assert_memory_equal(a->regs, b->regs, ell_state_bytes(8));
	free(h);
	ell_free(a);
	ell_free(b);
}

static void test_merge(void **state)
{
	(void)state;
	int ps[] = {4, 12};
	for (size_t pi = 0; pi < 2; pi++) {
		int p = ps[pi];
		ell *a = ell_new(p), *b = ell_new(p), *u = ell_new(p);
		fill(a, 1, 30000);
		fill(b, 2, 5000);
		fill(b, 1, 1000);
		fill(u, 1, 30000);
		fill(u, 2, 5000);
		ell *ab = ell_clone(a), *ba = ell_clone(b);
		assert_int_equal(ell_merge(ab, b), 0);
		assert_int_equal(ell_merge(ba, a), 0);
		assert_memory_equal(ab->regs, u->regs,
		                    ell_state_bytes(p)); /* = sketch of the union */
		assert_memory_equal(ba->regs, u->regs, ell_state_bytes(p)); /* commutative */
		assert_int_equal(ell_merge(ab, ab), 0);
		assert_int_equal(ell_merge(ab, a), 0);
		assert_memory_equal(ab->regs, u->regs, ell_state_bytes(p)); /* idempotent */
		ell_free(a);
		ell_free(b);
		ell_free(u);
		ell_free(ab);
		ell_free(ba);
	}
	ell *x = ell_new(10), *y = ell_new(11);
	assert_int_equal(ell_merge(x, y), -1);
	ell_free(x);
	ell_free(y);
}

/* Independent log-likelihood of lambda (= n/m) from the registers, per the value model. */
static double loglik(const ell *s, double lambda)
{
	int p = s->p;
	size_t m = (size_t)1 << p;
	uint32_t kmax = (uint32_t)(65 - p - 2) * 4;
	double ll = 0;
	for (size_t i = 0; i < m; i++) {
		uint32_t r = s->regs[i], u = r >> ELL_D;
		for (uint32_t k = 1; k <= kmax; k++) {
			uint32_t z = (k - 1) / 4;
			double pk =
			    (z < (uint32_t)(62 - p) ? ldexp(1, -(int)z - 1) : ldexp(1, -(int)z)) /
			    4;
			int known_seen = -1; /* -1 unknown, 0 unseen, 1 seen */
			if (u == 0 || k > u)
				known_seen = 0;
			else if (k == u)
				known_seen = 1;
			else if (u - k <= ELL_D)
				known_seen = (r >> (u - k - 1)) & 1;
			if (known_seen == 0)
				ll -= lambda * pk;
			else if (known_seen == 1)
				ll += log1p(-exp(-lambda * pk));
		}
	}
	return ll;
}

static void test_estimate_is_ml(void **state)
{
	(void)state;
	uint64_t ns[] = {3, 500, 20000, 3000000};
	for (size_t t = 0; t < 4; t++) {
		ell *s = ell_new(8);
		fill(s, 11 + t, ns[t]);
		double m = 256;
		double lambda = ell_estimate(s) * (1 + 0.0911936020595227 / m) / m;
		double l0 = loglik(s, lambda);
		assert_true(loglik(s, lambda * (1 + 1e-3)) < l0);
		assert_true(loglik(s, lambda * (1 - 1e-3)) < l0);
		ell_free(s);
	}
}

static void test_accuracy(void **state)
{
	(void)state;
	ell *s = ell_new(12);
	assert_true(ell_estimate(s) == 0.0);
	ell_add(s, 12345);
	assert_true(fabs(ell_estimate(s) - 1) < 0.01);
	ell_free(s);
	/* the stated error, from the formula of docs/counting.md: 0.343758 / sqrt(2^p) */
	assert_true(fabs(ell_rse(12) - 0.34375838677455064 / 64) < 1e-12);
	assert_true(fabs(ell_rse(8) - 0.34375838677455064 / 16) < 1e-12);
	s = ell_new(12);
	uint64_t n = 0, targets[] = {10, 100, 1000, 10000, 100000, 1000000};
	uint64_t st = 5;
	for (size_t t = 0; t < 6; t++) {
		for (; n < targets[t]; n++)
			ell_add(s, splitmix(&st));
		double rel = ell_estimate(s) / (double)n - 1;
		/* a fixed seed: deterministic, and well inside 4 standard errors */
		assert_true(fabs(rel) < 4 * ell_rse(12));
	}
	ell_free(s);
	/* the mean over independent sketches is unbiased within its own standard error */
	double sum = 0;
	enum { TRIALS = 40, N = 20000 };
	for (int i = 0; i < TRIALS; i++) {
		ell *e = ell_new(8);
		fill(e, 1000 + (uint64_t)i, N);
		sum += ell_estimate(e) / N - 1;
		ell_free(e);
	}
	assert_true(fabs(sum / TRIALS) < 4 * ell_rse(8) / sqrt(TRIALS));
}

static void test_store_load(void **state)
{
	(void)state;
	assert_null(ell_new(ELL_MIN_P - 1));
	assert_null(ell_new(ELL_MAX_P + 1));
	ell *s = ell_new(6), *t = ell_new(6);
	fill(s, 9, 3000);
	size_t len = ell_state_bytes(6);
	assert_int_equal(len, 256);
	uint8_t buf[256];
	ell_store(s, buf);
	assert_int_equal(buf[0], s->regs[0] & 0xff); /* little-endian */
	assert_int_equal(buf[3], s->regs[0] >> 24);
	assert_int_equal(ell_load(t, buf, len), 0);
	assert_memory_equal(s->regs, t->regs, len);
	assert_int_equal(ell_load(t, buf, len - 1), -1);
	uint8_t bad[256];
	/* empty register with history bits */
	memset(bad, 0, sizeof(bad));
	bad[0] = 1;
	assert_int_equal(ell_load(t, bad, len), -1);
	/* u above the largest update value at p = 6: 4 * (65 - 6 - 2) = 228 */
	memset(bad, 0, sizeof(bad));
	bad[3] = 229;
	assert_int_equal(ell_load(t, bad, len), -1);
	bad[3] = 228;
	assert_int_equal(ell_load(t, bad, len), 0);
	/* u = 2 with a history bit for the value 0 */
	memset(bad, 0, sizeof(bad));
	bad[3] = 2;
	bad[0] = 2;
	assert_int_equal(ell_load(t, bad, len), -1);
	bad[0] = 1; /* value 1 seen: fine */
	assert_int_equal(ell_load(t, bad, len), 0);
	ell_free(s);
	ell_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_register_update),   cmocka_unit_test(test_against_reference),
	    cmocka_unit_test(test_order_independent), cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_estimate_is_ml),    cmocka_unit_test(test_accuracy),
	    cmocka_unit_test(test_store_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
