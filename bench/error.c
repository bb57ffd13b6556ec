/* error.c - measures the estimation error of kuniq's sketch (the APPROX counter) over many
 * independent trials.
 *
 * Each trial feeds a fresh counter a stream of distinct 64-bit hashes (a splitmix64 sequence
 * from the trial's own seed: distinct and uniformly mixed, like XXH3 of distinct uids, and fast
 * enough for 1000 trials of 10^7 items) and records the estimate at every checkpoint 10, 100,
 * ..., max. Per checkpoint it prints the mean relative error (bias, with its standard error),
 * the observed relative standard deviation next to the theoretical RSE, and the 99th percentile
 * and maximum of |relative error|; --csv writes the same figures for bench/plot_error.py.
 *
 * usage: error [--trials T] [--max N] [--precision P] [--threads K] [--csv FILE]
 */
#include "counter.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

#define MAX_CP 12

typedef struct job {
	int precision;
	int ncp;
	uint64_t cp[MAX_CP]; /* checkpoints */
	int trials;
	int next;    /* next trial to run (guarded by lock) */
	double *est; /* est[cp * trials + trial] */
	pthread_mutex_t lock;
	int failed;
} job;

static int run_trial(job *j, int trial)
{
	counter_cfg cfg = {.mode = COUNTER_APPROX, .precision = j->precision};
	counter *c = counter_new(&cfg);
	if (!c)
		return -1;
	/* distinct seeds far apart: the streams never overlap in practice */
	uint64_t st = splitmix(&(uint64_t){(uint64_t)trial * 0x51afd7ed558ccd1dULL + 12345});
	uint64_t n = 0;
	for (int k = 0; k < j->ncp; k++) {
		for (; n < j->cp[k]; n++)
			counter_add(c, splitmix(&st));
		j->est[(size_t)k * (size_t)j->trials + (size_t)trial] = (double)counter_count(c);
	}
	counter_free(c);
	return 0;
}

static void *worker(void *arg)
{
	job *j = arg;
	for (;;) {
		pthread_mutex_lock(&j->lock);
		int t = j->next++;
		pthread_mutex_unlock(&j->lock);
		if (t >= j->trials)
			return NULL;
		if (run_trial(j, t) < 0) {
			pthread_mutex_lock(&j->lock);
			j->failed = 1;
			pthread_mutex_unlock(&j->lock);
		}
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Statistics of the relative errors of one checkpoint. */
typedef struct stats {
	double bias, bias_se, rsd, p99, max;
} stats;

static stats summarise(const double *est, int trials, uint64_t n)
{
	stats s = {0};
	double *abserr = malloc(sizeof(double) * (size_t)trials);
	double sum = 0, sum2 = 0;
	for (int i = 0; i < trials; i++) {
		double rel = est[i] / (double)n - 1;
		sum += rel;
		sum2 += rel * rel;
		abserr[i] = fabs(rel);
	}
	s.bias = sum / trials;
	double var = (sum2 - trials * s.bias * s.bias) / (trials > 1 ? trials - 1 : 1);
	s.rsd = sqrt(var > 0 ? var : 0);
	s.bias_se = s.rsd / sqrt(trials);
	qsort(abserr, (size_t)trials, sizeof(double), cmp_double);
	/* nearest-rank 99th percentile */
	int rank = (int)ceil(0.99 * trials);
	s.p99 = abserr[rank > 0 ? rank - 1 : 0];
	s.max = abserr[trials - 1];
	free(abserr);
	return s;
}

int main(int argc, char **argv)
{
	int trials = 1000, precision = COUNTER_DEFAULT_PRECISION, threads = 2;
	uint64_t max = 10000000;
	const char *csv = NULL;
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "usage: error [--trials T] [--max N] [--precision P] "
			                "[--threads K] [--csv FILE]\n");
			return 2;
		}
		if (!strcmp(a, "--trials"))
			trials = atoi(v);
		else if (!strcmp(a, "--max"))
			max = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--precision"))
			precision = atoi(v);
		else if (!strcmp(a, "--threads"))
			threads = atoi(v);
		else if (!strcmp(a, "--csv"))
			csv = v;
		else {
			fprintf(stderr, "error: unknown option %s\n", a);
			return 2;
		}
	}
	if (trials < 1 || threads < 1 || threads > 64 || max < 10) {
		fprintf(stderr, "error: bad arguments\n");
		return 2;
	}
	job j = {.precision = precision, .trials = trials};
	for (uint64_t n = 10; n <= max && j.ncp < MAX_CP; n *= 10)
		j.cp[j.ncp++] = n;
	j.est = calloc((size_t)j.ncp * (size_t)trials, sizeof(double));
	pthread_mutex_init(&j.lock, NULL);
	counter_cfg cfg = {.mode = COUNTER_APPROX, .precision = precision};
	counter *probe = counter_new(&cfg);
	if (!j.est || !probe) {
		fprintf(stderr, "error: bad precision or out of memory\n");
		return 1;
	}
	double theory = counter_rse(probe);
	size_t bytes = counter_serialize(probe, NULL, 0);
	counter_free(probe);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_t tid[64];
	for (int i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, worker, &j);
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (j.failed) {
		fprintf(stderr, "error: out of memory\n");
		return 1;
	}
	double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);

	printf("ExaLogLog(t=2,d=24) p=%d: %zu-byte serialisation, theoretical RSE %.4f%%; "
	       "%d trials per cardinality, %.1f s on %d threads\n\n",
	       precision, bytes, 100 * theory, trials, secs, threads);
	printf("| n | trials | bias (mean rel. error) | observed RSD | theory RSE | RSD/theory "
	       "| p99 abs rel. error | max abs rel. error |\n");
	printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	FILE *out = csv ? fopen(csv, "w") : NULL;
	if (csv && !out) {
		perror(csv);
		return 1;
	}
	if (out)
		fprintf(out, "sketch,precision,bytes,n,trials,bias,bias_se,rsd,theory,p99,max\n");
	for (int k = 0; k < j.ncp; k++) {
		stats s = summarise(j.est + (size_t)k * (size_t)trials, trials, j.cp[k]);
		printf(
		    "| %llu | %d | %+.4f%% ± %.4f%% | %.4f%% | %.4f%% | %.3f | %.4f%% | %.4f%% |\n",
		    (unsigned long long)j.cp[k], trials, 100 * s.bias, 100 * s.bias_se, 100 * s.rsd,
		    100 * theory, s.rsd / theory, 100 * s.p99, 100 * s.max);
		if (out)
			fprintf(out, "kuniq-ell,%d,%zu,%llu,%d,%.8g,%.8g,%.8g,%.8g,%.8g,%.8g\n",
			        precision, bytes, (unsigned long long)j.cp[k], trials, s.bias,
			        s.bias_se, s.rsd, theory, s.p99, s.max);
	}
	if (out)
		fclose(out);
	free(j.est);
	return 0;
}
