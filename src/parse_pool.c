/* parse_pool.c - a batch of frames parsed on several threads (see parse_pool.h).
 *
 * How it works: threads - 1 workers wait on a condition variable for a new batch (a generation
 * counter); parse_pool_run publishes the batch, parses slice 0 itself, then waits until every
 * worker has parsed its slice. Slice i of n items is [i*n/T, (i+1)*n/T). A frame without padding
 * (a Kafka payload) is first copied into the thread's scratch buffer (max_frame + FRAME_PADDING
 * bytes: the parser reads up to FRAME_PADDING bytes past the end); a padded one (a line in the
 * file source's buffer) is parsed in place. Small batches are parsed by the caller
 * alone: waking workers costs more than it saves.
 */
#include "parse_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define MIN_PARALLEL 64 /* items below which one thread parses the batch */

typedef struct worker {
	struct parse_pool *kp;
	int index;
	pthread_t tid;
} worker;

struct parse_pool {
	const frame_parser *parser;
	size_t max_frame;
	int threads;
	char **scratch; /* one per thread */
	worker *workers;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	uint64_t gen;
	int pending;
	bool quit;
	parse_item *items;
	size_t n;
};

bool parse_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

frame_status parse_classify(const frame_parser *parser, size_t max_frame, const char *buf,
                            size_t len, int64_t *ts, uint64_t *hash)
{
	size_t eff = len && buf[len - 1] == '\r' ? len - 1 : len;
	if (eff > max_frame)
		return parse_blank(buf, len) ? FRAME_EMPTY : FRAME_TOO_LONG;
	frame f;
	frame_status st = frame_parse(parser, buf, eff, &f);
	if (st == FRAME_OK) {
		*ts = f.ts;
		*hash = XXH3_64bits(f.uid, f.uid_len);
	}
	return st;
}

static void parse_one(const parse_pool *kp, char *scratch, parse_item *it)
{
	it->ts = 0;
	it->hash = 0;
	if (it->preset != FRAME_OK) {
		it->status = it->preset;
		return;
	}
	size_t len = it->buf ? it->len : 0;
	const char *buf = it->buf ? it->buf : "";
	if (!it->padded && len && len <= kp->max_frame + 1) { /* +1: a trailing \r is dropped */
		memcpy(scratch, buf, len);
		buf = scratch;
	}
	it->status =
	    parse_classify(kp->parser, kp->max_frame, len ? buf : scratch, len, &it->ts, &it->hash);
}

static void parse_slice(parse_pool *kp, int i)
{
	size_t from = kp->n * (size_t)i / (size_t)kp->threads;
	size_t to = kp->n * (size_t)(i + 1) / (size_t)kp->threads;
	for (size_t j = from; j < to; j++)
		parse_one(kp, kp->scratch[i], &kp->items[j]);
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	parse_pool *kp = w->kp;
	uint64_t seen = 0;
	pthread_mutex_lock(&kp->mu);
	for (;;) {
		while (kp->gen == seen && !kp->quit)
			pthread_cond_wait(&kp->go, &kp->mu);
		if (kp->quit)
			break;
		seen = kp->gen;
		pthread_mutex_unlock(&kp->mu);
		parse_slice(kp, w->index);
		pthread_mutex_lock(&kp->mu);
		if (--kp->pending == 0)
			pthread_cond_signal(&kp->done);
	}
	pthread_mutex_unlock(&kp->mu);
	return NULL;
}

parse_pool *parse_pool_new(const frame_parser *parser, size_t max_frame, int threads)
{
	parse_pool *kp = calloc(1, sizeof(*kp));
	if (kp == NULL)
		return NULL;
	kp->parser = parser;
	kp->max_frame = max_frame;
	kp->threads = threads < 1 ? 1 : threads;
	pthread_mutex_init(&kp->mu, NULL);
	pthread_cond_init(&kp->go, NULL);
	pthread_cond_init(&kp->done, NULL);
	kp->scratch = calloc((size_t)kp->threads, sizeof(char *));
	kp->workers = calloc((size_t)kp->threads, sizeof(worker));
	if (kp->scratch == NULL || kp->workers == NULL)
		goto fail;
	for (int i = 0; i < kp->threads; i++)
		if ((kp->scratch[i] = calloc(1, max_frame + 1 + FRAME_PADDING)) == NULL)
			goto fail;
	for (int i = 1; i < kp->threads; i++) {
		kp->workers[i] = (worker){kp, i, 0};
		if (pthread_create(&kp->workers[i].tid, NULL, worker_main, &kp->workers[i]) != 0)
			goto fail;
		kp->started = i;
	}
	return kp;
fail:
	parse_pool_free(kp);
	return NULL;
}

void parse_pool_free(parse_pool *kp)
{
	if (kp == NULL)
		return;
	pthread_mutex_lock(&kp->mu);
	kp->quit = true;
	pthread_cond_broadcast(&kp->go);
	pthread_mutex_unlock(&kp->mu);
	for (int i = 1; i <= kp->started; i++)
		pthread_join(kp->workers[i].tid, NULL);
	for (int i = 0; kp->scratch && i < kp->threads; i++)
		free(kp->scratch[i]);
	free(kp->scratch);
	free(kp->workers);
	pthread_cond_destroy(&kp->go);
	pthread_cond_destroy(&kp->done);
	pthread_mutex_destroy(&kp->mu);
	free(kp);
}

void parse_pool_run(parse_pool *kp, parse_item *items, size_t n)
{
	if (kp->threads == 1 || n < MIN_PARALLEL) {
		for (size_t j = 0; j < n; j++)
			parse_one(kp, kp->scratch[0], &items[j]);
		return;
	}
	pthread_mutex_lock(&kp->mu);
	kp->items = items;
	kp->n = n;
	kp->pending = kp->threads - 1;
	kp->gen++;
	pthread_cond_broadcast(&kp->go);
	pthread_mutex_unlock(&kp->mu);
	parse_slice(kp, 0);
	pthread_mutex_lock(&kp->mu);
	while (kp->pending > 0)
		pthread_cond_wait(&kp->done, &kp->mu);
	pthread_mutex_unlock(&kp->mu);
}

int parse_pool_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}
