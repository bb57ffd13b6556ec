/* sketch_redis.c - kuniq's sketch side by side with Redis's HyperLogLog on the same inputs.
 *
 * Each trial generates distinct uid-like strings (19 lowercase hex characters, the shape of the
 * sample stream's uids) from its own seed and gives every string both to Redis (PFADD into one
 * key per trial, batches of up to 1000, over a plain RESP connection) and to kuniq's APPROX
 * counters at precision 12 and 11 (XXH3_64bits of the same bytes, as kuniq does). At every
 * checkpoint 10, 100, ..., max it records PFCOUNT and our estimates. At the end it asks Redis for
 * STRLEN and MEMORY USAGE of a key holding max elements (its dense representation), prints a
 * table and writes a CSV (same columns as bench/error.c) for bench/plot_error.py. The wall time
 * spent in Redis round trips and in our adds is reported too (Redis's includes the protocol).
 *
 * usage: counter-redis PORT [--trials T] [--max N] [--csv FILE]
 */
#include "counter.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "bench_util.h"

#define MAX_CP 12
#define BATCH 1000
#define UID_LEN 19

typedef struct conn {
	int fd;
	char rbuf[1 << 16];
	size_t rlen, rpos;
	char *wbuf;
	size_t wlen, wcap;
} conn;

static void die(const char *what)
{
	fprintf(stderr, "counter-redis: %s\n", what);
	exit(1);
}

static void wput(conn *c, const void *p, size_t n)
{
	if (c->wlen + n > c->wcap) {
		c->wcap = (c->wlen + n) * 2;
		c->wbuf = realloc(c->wbuf, c->wcap);
		if (!c->wbuf)
			die("out of memory");
	}
	memcpy(c->wbuf + c->wlen, p, n);
	c->wlen += n;
}

static void wfmt_bulk(conn *c, const char *s, size_t n)
{
	char head[32];
	int k = snprintf(head, sizeof(head), "$%zu\r\n", n);
	wput(c, head, (size_t)k);
	wput(c, s, n);
	wput(c, "\r\n", 2);
}

static void wflush(conn *c)
{
	size_t off = 0;
	while (off < c->wlen) {
		ssize_t k = write(c->fd, c->wbuf + off, c->wlen - off);
		if (k <= 0)
			die("write to redis failed");
		off += (size_t)k;
	}
	c->wlen = 0;
}

static int rgetc(conn *c)
{
	if (c->rpos == c->rlen) {
		ssize_t k = read(c->fd, c->rbuf, sizeof(c->rbuf));
		if (k <= 0)
			die("read from redis failed");
		c->rlen = (size_t)k;
		c->rpos = 0;
	}
	return (unsigned char)c->rbuf[c->rpos++];
}

/* Reads one integer reply (":n\r\n"); any other reply is fatal. */
static long long read_int(conn *c)
{
	char line[256];
	size_t n = 0;
	int ch;
	while ((ch = rgetc(c)) != '\n')
		if (n < sizeof(line) - 1)
			line[n++] = (char)ch;
	line[n] = 0;
	if (line[0] != ':') {
		fprintf(stderr, "counter-redis: unexpected reply %s\n", line);
		exit(1);
	}
	return strtoll(line + 1, NULL, 10);
}

static long long command(conn *c, int argc, const char **argv)
{
	char head[32];
	int k = snprintf(head, sizeof(head), "*%d\r\n", argc);
	wput(c, head, (size_t)k);
	for (int i = 0; i < argc; i++)
		wfmt_bulk(c, argv[i], strlen(argv[i]));
	wflush(c);
	return read_int(c);
}

static void make_uid(uint64_t *st, char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t a = splitmix(st), b = splitmix(st);
	for (int i = 0; i < 3; i++)
		out[i] = hex[(a >> (4 * i)) & 15];
	for (int i = 0; i < 16; i++)
		out[3 + i] = hex[(b >> (4 * i)) & 15];
}

typedef struct series {
	const char *name;
	int precision;
	size_t bytes;
	double theory;
	double *est; /* est[cp * trials + trial] */
} series;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void report(const series *s, int ncp, const uint64_t *cp, int trials, FILE *csv)
{
	double *abserr = malloc(sizeof(double) * (size_t)trials);
	for (int k = 0; k < ncp; k++) {
		double sum = 0, sum2 = 0;
		for (int t = 0; t < trials; t++) {
			double rel =
			    s->est[(size_t)k * (size_t)trials + (size_t)t] / (double)cp[k] - 1;
			sum += rel;
			sum2 += rel * rel;
			abserr[t] = fabs(rel);
		}
		double bias = sum / trials;
		double var = (sum2 - trials * bias * bias) / (trials > 1 ? trials - 1 : 1);
		double rsd = sqrt(var > 0 ? var : 0);
		qsort(abserr, (size_t)trials, sizeof(double), cmp_double);
		int rank = (int)ceil(0.99 * trials);
		double p99 = abserr[rank > 0 ? rank - 1 : 0], mx = abserr[trials - 1];
		printf("| %s | %zu | %llu | %d | %+.4f%% | %.4f%% | %.4f%% | %.4f%% | %.4f%% |\n",
		       s->name, s->bytes, (unsigned long long)cp[k], trials, 100 * bias, 100 * rsd,
		       100 * s->theory, 100 * p99, 100 * mx);
		if (csv)
			fprintf(csv, "%s,%d,%zu,%llu,%d,%.8g,%.8g,%.8g,%.8g,%.8g,%.8g\n", s->name,
			        s->precision, s->bytes, (unsigned long long)cp[k], trials, bias,
			        rsd / sqrt(trials), rsd, s->theory, p99, mx);
	}
	free(abserr);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: counter-redis PORT [--trials T] [--max N] [--csv FILE]\n");
		return 2;
	}
	int port = atoi(argv[1]), trials = 100;
	uint64_t max = 1000000;
	const char *csvpath = NULL;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--trials"))
			trials = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--max"))
			max = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--csv"))
			csvpath = argv[i + 1];
		else
			die("unknown option");
	}
	uint64_t cp[MAX_CP];
	int ncp = 0;
	for (uint64_t n = 10; n <= max && ncp < MAX_CP; n *= 10)
		cp[ncp++] = n;
	if (trials < 1 || ncp == 0)
		die("bad arguments");

	conn c = {0};
	c.fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("cannot connect to redis");

	int precisions[2] = {12, 11};
	series s[3] = {{.name = "redis-hll", .precision = 14, .theory = 1.04 / 128}};
	counter *ours[2];
	for (int i = 0; i < 2; i++) {
		counter_cfg cfg = {.mode = COUNTER_APPROX, .precision = precisions[i]};
		counter *probe = counter_new(&cfg);
		s[1 + i].name = "kuniq-ell";
		s[1 + i].precision = precisions[i];
		s[1 + i].theory = counter_rse(probe);
		s[1 + i].bytes = counter_serialize(probe, NULL, 0);
		counter_free(probe);
	}
	for (int i = 0; i < 3; i++) {
		s[i].est = calloc((size_t)ncp * (size_t)trials, sizeof(double));
		if (!s[i].est)
			die("out of memory");
	}

	double t_redis = 0, t_ours = 0;
	uint64_t adds = 0;
	char key[64], uids[BATCH][UID_LEN];
	long long strlen_bytes = 0, mem_usage = 0;
	for (int t = 0; t < trials; t++) {
		snprintf(key, sizeof(key), "kuniq-bench:%d", t);
		const char *del[] = {"DEL", key};
		command(&c, 2, del);
		for (int i = 0; i < 2; i++) {
			counter_cfg cfg = {.mode = COUNTER_APPROX, .precision = precisions[i]};
			ours[i] = counter_new(&cfg);
		}
		uint64_t st = (uint64_t)t * 0x2545f4914f6cdd1dULL + 777, n = 0;
		for (int k = 0; k < ncp; k++) {
			while (n < cp[k]) {
				size_t b = cp[k] - n < BATCH ? (size_t)(cp[k] - n) : BATCH;
				for (size_t i = 0; i < b; i++)
					make_uid(&st, uids[i]);
				double t0 = now();
				char head[32];
				int hl = snprintf(head, sizeof(head), "*%zu\r\n", b + 2);
				wput(&c, head, (size_t)hl);
				wfmt_bulk(&c, "PFADD", 5);
				wfmt_bulk(&c, key, strlen(key));
				for (size_t i = 0; i < b; i++)
					wfmt_bulk(&c, uids[i], UID_LEN);
				wflush(&c);
				read_int(&c);
				double t1 = now();
				for (int o = 0; o < 2; o++)
					for (size_t i = 0; i < b; i++)
						counter_add(ours[o], XXH3_64bits(uids[i], UID_LEN));
				t_ours += now() - t1;
				t_redis += t1 - t0;
				n += b;
				adds += b;
			}
			const char *pfcount[] = {"PFCOUNT", key};
			size_t at = (size_t)k * (size_t)trials + (size_t)t;
			s[0].est[at] = (double)command(&c, 2, pfcount);
			for (int o = 0; o < 2; o++)
				s[1 + o].est[at] = (double)counter_count(ours[o]);
		}
		if (t == 0) {
			const char *sl[] = {"STRLEN", key};
			const char *mu[] = {"MEMORY", "USAGE", key};
			strlen_bytes = command(&c, 2, sl);
			mem_usage = command(&c, 3, mu);
		}
		command(&c, 2, del);
		for (int o = 0; o < 2; o++)
			counter_free(ours[o]);
	}
	close(c.fd);
	s[0].bytes = (size_t)strlen_bytes;

	printf("Redis HLL key holding %llu elements: STRLEN %lld bytes, MEMORY USAGE %lld bytes\n",
	       (unsigned long long)cp[ncp - 1], strlen_bytes, mem_usage);
	printf("adds: %.2f M elements/s into Redis (PFADD batches of %d over loopback, protocol "
	       "included); %.2f M elements/s into kuniq (XXH3 + add, each of 2 sketches)\n\n",
	       (double)adds / t_redis / 1e6, BATCH, 2 * (double)adds / t_ours / 1e6);
	printf(
	    "| sketch | bytes | n | trials | bias | observed RSD | theory RSE | p99 abs rel. err "
	    "| max abs rel. err |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	FILE *csv = csvpath ? fopen(csvpath, "w") : NULL;
	if (csv)
		fprintf(csv, "sketch,precision,bytes,n,trials,bias,bias_se,rsd,theory,p99,max\n");
	for (int i = 0; i < 3; i++)
		report(&s[i], ncp, cp, trials, csv);
	if (csv)
		fclose(csv);
	for (int i = 0; i < 3; i++)
		free(s[i].est);
	free(c.wbuf);
	return 0;
}
