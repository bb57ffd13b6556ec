/* bench_util.h - what the C benchmarks share: a splitmix64 stream of well-mixed 64-bit values
 * (what XXH3 of distinct uids looks like to a counter) and a monotonic clock in seconds. */
#ifndef KUNIQ_BENCH_UTIL_H
#define KUNIQ_BENCH_UTIL_H

#include <stdint.h>
#include <time.h>

static inline uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif
