/* parse_jansson.c - peer benchmark: jansson (a typical C DOM parser) doing kuniq's extraction.
 *
 * Usage: parse_jansson FILE [SECONDS]
 * Loads FILE (JSON lines), then parses every frame with json_loadb repeatedly for about SECONDS
 * (default 2) of thread CPU time, keeping the best pass, and takes the top-level uid (string) and
 * ts (integer, real floored, or digit string). Prints the columns of parse_bench.c:
 *   jansson <MB/s> <frames/s> <valid frames> <sum of ts + uid length>
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int ts_of(json_t *ts, int64_t *v)
{
	if (json_is_integer(ts)) {
		*v = (int64_t)json_integer_value(ts);
		return 1;
	}
	if (json_is_real(ts)) {
		*v = (int64_t)floor(json_real_value(ts));
		return 1;
	}
	if (!json_is_string(ts))
		return 0;
	const char *s = json_string_value(ts);
	size_t n = json_string_length(ts);
	if (n < 1 || n > 18)
		return 0;
	int64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: parse_jansson FILE [SECONDS]\n");
		return 2;
	}
	double seconds = argc > 2 ? atof(argv[2]) : 2.0;
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *b = malloc((size_t)n + 1);
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
		return 1;
	fclose(f);
	size_t cap = 1024, cnt = 0;
	size_t *off = malloc(cap * sizeof *off), *len = malloc(cap * sizeof *len);
	for (size_t at = 0; at < (size_t)n;) {
		const char *nl = memchr(b + at, '\n', (size_t)n - at);
		size_t e = nl ? (size_t)(nl - b) : (size_t)n;
		if (cnt == cap) {
			cap *= 2;
			off = realloc(off, cap * sizeof *off);
			len = realloc(len, cap * sizeof *len);
		}
		off[cnt] = at;
		len[cnt++] = e - at - (e > at && b[e - 1] == '\r');
		at = e + 1;
	}
	double best = 1e30, spent = 0;
	uint64_t ok = 0, sum = 0;
	while (spent < seconds) {
		ok = sum = 0;
		double t0 = cpu_now();
		for (size_t i = 0; i < cnt; i++) {
			json_error_t err;
			json_t *root = json_loadb(b + off[i], len[i], JSON_ALLOW_NUL, &err);
			if (!root)
				continue;
			json_t *uid = json_object_get(root, "uid");
			int64_t ts;
			if (json_is_string(uid) && ts_of(json_object_get(root, "ts"), &ts)) {
				ok++;
				sum += (uint64_t)ts + json_string_length(uid);
			}
			json_decref(root);
		}
		double t = cpu_now() - t0;
		spent += t;
		if (t < best)
			best = t;
	}
	printf("jansson %.1f %.0f %llu %llu\n", (double)n / best / 1e6, (double)cnt / best,
	       (unsigned long long)ok, (unsigned long long)sum);
	free(b);
	free(off);
	free(len);
	return 0;
}
