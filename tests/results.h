/* results.h - for unit tests: a growable list of the result records an engine emits (keep() is
 * its result_sink emit), and a seeded 64-bit random generator (splitmix64) for streams that
 * are the same on every run. Include after <cmocka.h>. */
#ifndef KUNIQ_TEST_RESULTS_H
#define KUNIQ_TEST_RESULTS_H

#include <stdint.h>
#include <stdlib.h>

#include "result.h"

typedef struct results {
	result *r;
	size_t n, cap;
} results;

static inline int keep(void *ctx, const result *r)
{
	results *rs = ctx;
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 256;
		rs->r = realloc(rs->r, sizeof(*rs->r) * rs->cap);
		assert_non_null(rs->r);
	}
	rs->r[rs->n++] = *r;
	return 0;
}

static inline uint64_t rng(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	uint64_t z = *s;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

#endif
