/* sketch.c - throughput of kuniq's counters, next to peers measured in the same run.
 *
 *   - sketch adds/s: counter_add on an APPROX counter (p = 12) and the inline ell_add, against a
 *     textbook HyperLogLog add (p = 14, one byte per register, max of leading zeros + 1) written
 *     here as the cheapest possible peer;
 *   - count/s: counter_count (the ML estimate) of a p = 12 sketch;
 *   - exact set adds/s: exactset_add with distinct sets of 10^3 .. 10^7 items, each item added 8
 *     times in random order (like a window where users come back), and all-new inserts (growth),
 *     against C++ std::unordered_set<uint64_t> on the same arrays (bench/sketch_peer.cc);
 *   - AUTO conversion: time to turn a 10^6-item set into the sketch; memory per item.
 * Hashes are pre-generated (splitmix64), so hashing is not measured. Best of 3 runs.
 *
 * usage: counter-sketch
 */
#include "counter.h"
#include "exactset.h"
#include "exaloglog.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

/* bench/sketch_peer.cc */
void *peer_set_new(void);
void peer_set_free(void *s);
size_t peer_set_add_all(void *s, const uint64_t *h, size_t n);

/* Textbook HyperLogLog add: 2^14 byte registers, rank = leading zeros + 1. */
typedef struct hll {
	uint8_t reg[1 << 14];
} hll;

static void hll_add(hll *h, uint64_t x)
{
	size_t idx = (size_t)(x >> 50);
	uint8_t rank = (uint8_t)(__builtin_clzll((x << 14) | (UINT64_C(1) << 13)) + 1);
	if (rank > h->reg[idx])
		h->reg[idx] = rank;
}

static volatile uint64_t sink;

static double bench_sketch(const uint64_t *h, size_t n, int kind)
{
	double best = 1e9;
	for (int rep = 0; rep < 3; rep++) {
		counter_cfg cfg = {.mode = COUNTER_APPROX};
		counter *c = counter_new(&cfg);
		ell *e = ell_new(12);
		hll *x = calloc(1, sizeof(*x));
		double t0 = now();
		if (kind == 0)
			for (size_t i = 0; i < n; i++)
				counter_add(c, h[i]);
		else if (kind == 1)
			for (size_t i = 0; i < n; i++)
				ell_add(e, h[i]);
		else
			for (size_t i = 0; i < n; i++)
				hll_add(x, h[i]);
		double dt = now() - t0;
		sink += e->regs[1] + x->reg[1] + counter_count(c);
		best = dt < best ? dt : best;
		counter_free(c);
		ell_free(e);
		free(x);
	}
	return (double)n / best;
}

/* a[] = the distinct items, each `reps` times, shuffled. */
static uint64_t *repeated(size_t distinct, int reps, uint64_t seed)
{
	size_t n = distinct * (size_t)reps;
	uint64_t *a = malloc(n * sizeof(*a));
	if (!a)
		return NULL;
	uint64_t st = seed;
	for (size_t i = 0; i < distinct; i++) {
		uint64_t v = splitmix(&st);
		for (int r = 0; r < reps; r++)
			a[(size_t)r * distinct + i] = v;
	}
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(splitmix(&st) % (i + 1));
		uint64_t t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
	return a;
}

static void bench_sets(size_t distinct, int reps)
{
	size_t n = distinct * (size_t)reps;
	uint64_t *a = repeated(distinct, reps, distinct * 31 + (size_t)reps);
	if (!a)
		return;
	double best_ours = 1e9, best_peer = 1e9;
	size_t mem = 0;
	for (int rep = 0; rep < 3; rep++) {
		exactset s;
		exactset_init(&s);
		double t0 = now();
		for (size_t i = 0; i < n; i++)
			exactset_add(&s, a[i]);
		double dt = now() - t0;
		best_ours = dt < best_ours ? dt : best_ours;
		if (exactset_count(&s) != distinct)
			printf("  (count mismatch: %zu)\n", exactset_count(&s));
		mem = exactset_memory(&s);
		exactset_free(&s);
		void *p = peer_set_new();
		t0 = now();
		size_t pc = peer_set_add_all(p, a, n);
		dt = now() - t0;
		best_peer = dt < best_peer ? dt : best_peer;
		if (pc != distinct)
			printf("  (peer count mismatch: %zu)\n", pc);
		peer_set_free(p);
	}
	printf("| %zu | %d | %.1f | %.1f | %.2f | %.1f |\n", distinct, reps, n / best_ours / 1e6,
	       n / best_peer / 1e6, best_peer / best_ours, (double)mem / (double)distinct);
	free(a);
}

int main(void)
{
	const size_t n = 1 << 24;
	uint64_t *h = malloc(n * sizeof(*h));
	if (!h)
		return 1;
	uint64_t st = 42;
	for (size_t i = 0; i < n; i++)
		h[i] = splitmix(&st);

	printf("## Sketch adds (%zu distinct pre-generated hashes, best of 3)\n\n", n);
	double c_add = bench_sketch(h, n, 0), e_add = bench_sketch(h, n, 1),
	       x_add = bench_sketch(h, n, 2);
	printf("| add path | M adds/s | ratio to textbook HLL |\n|---|---:|---:|\n");
	printf("| counter_add, APPROX p=12 (16 KiB) | %.1f | %.2f |\n", c_add / 1e6, c_add / x_add);
	printf("| ell_add inline, p=12 | %.1f | %.2f |\n", e_add / 1e6, e_add / x_add);
	printf("| textbook HLL add, p=14 (peer) | %.1f | 1.00 |\n\n", x_add / 1e6);

	counter_cfg cfg = {.mode = COUNTER_APPROX};
	counter *c = counter_new(&cfg);
	for (size_t i = 0; i < 1000000; i++)
		counter_add(c, h[i]);
	int counts = 2000;
	double t0 = now();
	for (int i = 0; i < counts; i++)
		sink += counter_count(c);
	double dt = now() - t0;
	printf("counter_count of a p=12 sketch (ML estimate): %.1f us per count, %.0f counts/s\n\n",
	       1e6 * dt / counts, counts / dt);
	counter_free(c);

	printf(
	    "## Exact set adds (each distinct item added `reps` times, shuffled; best of 3)\n\n");
	printf(
	    "| distinct | reps | exactset M adds/s | std::unordered_set M adds/s | ratio | bytes "
	    "per item |\n|---:|---:|---:|---:|---:|---:|\n");
	bench_sets(1000, 8);
	bench_sets(100000, 8);
	bench_sets(1000000, 8);
	bench_sets(10000000, 1);
	printf("\n");

	cfg.mode = COUNTER_AUTO;
	cfg.exact_limit = 1000000;
	c = counter_new(&cfg);
	for (size_t i = 0; i < 1000000; i++)
		counter_add(c, h[i]);
	size_t before = counter_memory(c);
	t0 = now();
	counter_add(c, h[1000000]);
	dt = now() - t0;
	printf(
	    "AUTO conversion at the default limit (10^6 items -> sketch): %.1f ms; memory %zu -> "
	    "%zu bytes\n",
	    1e3 * dt, before, counter_memory(c));
	counter_free(c);
	free(h);
	return 0;
}
