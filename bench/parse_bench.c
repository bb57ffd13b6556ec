/* parse_bench.c - in-memory throughput of kuniq's frame parser (scalar and AVX2 paths).
 *
 * Usage: parse_bench FILE [SECONDS [ONLY]]   (ONLY: run just the implementation of that name)
 * Loads FILE (JSON lines) into memory, splits it into frames once, then for each implementation
 * parses every frame repeatedly for about SECONDS (default 2) and keeps the best of the passes.
 * Prints one line per implementation:
 *   <name> <MB/s> <frames/s> <valid frames> <sum of ts of valid frames>
 * MB/s counts the file's bytes (newlines included) so it compares with whole-file peers
 * (bench/parse.sh); the last two columns let the script check every peer extracted the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frame.h"

typedef struct span {
	uint32_t off, len;
} span;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static char *load(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *b = malloc((size_t)n + FRAME_PADDING);
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	memset(b + n, 0, FRAME_PADDING);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static span *split(const char *b, size_t len, size_t *count)
{
	size_t cap = 1024, n = 0;
	span *s = malloc(cap * sizeof *s);
	for (size_t at = 0; at < len;) {
		const char *nl = memchr(b + at, '\n', len - at);
		size_t e = nl ? (size_t)(nl - b) : len, l = e - at;
		if (l && b[e - 1] == '\r')
			l--;
		if (n == cap)
			s = realloc(s, (cap *= 2) * sizeof *s);
		s[n++] = (span){(uint32_t)at, (uint32_t)l};
		at = e + 1;
	}
	*count = n;
	return s;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: parse_bench FILE [SECONDS]\n");
		return 2;
	}
	double seconds = argc > 2 ? atof(argv[2]) : 2.0;
	size_t len, n;
	char *b = load(argv[1], &len);
	span *s = split(b, len, &n);
	const struct {
		const char *name;
		frame_impl impl;
	} impls[] = {{"kuniq-scalar", FRAME_IMPL_SCALAR}, {"kuniq-avx2", FRAME_IMPL_AVX2}};
	const char *only = argc > 3 ? argv[3] : NULL;
	for (size_t k = 0; k < sizeof impls / sizeof impls[0]; k++) {
		if (only && strcmp(only, impls[k].name) != 0)
			continue;
		frame_parser p;
		if (frame_parser_init(&p, "uid", "ts", impls[k].impl) != 0) {
			printf("%s unsupported\n", impls[k].name);
			continue;
		}
		double best = 1e30, spent = 0;
		uint64_t ok = 0, tsum = 0;
		while (spent < seconds) {
			ok = tsum = 0;
			double t0 = now();
			for (size_t i = 0; i < n; i++) {
				frame f;
				if (frame_parse(&p, b + s[i].off, s[i].len, &f) == FRAME_OK) {
					ok++;
					tsum += (uint64_t)f.ts + f.uid_len;
				}
			}
			double t = now() - t0;
			spent += t;
			if (t < best)
				best = t;
		}
		printf("%s %.1f %.0f %llu %llu\n", impls[k].name, (double)len / best / 1e6,
		       (double)n / best, (unsigned long long)ok, (unsigned long long)tsum);
	}
	free(s);
	free(b);
	return 0;
}
