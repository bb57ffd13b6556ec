/* clock.c - the event clock of one input (docs/semantics.md, section 3).
 *
 * How it works. Until the clock is set, the first C frames are held; the clock starts at the
 * lower median of their timestamps, so one garbage timestamp among the first frames cannot set
 * it. After that a frame more than A seconds ahead of the clock is a suspect (most likely a
 * bit flip): it is parked in a ring of at most P frames instead of moving the clock. C suspects
 * in a row mean the stream itself jumped (an outage, a replay of a later day): the clock moves
 * to the lower median of those C timestamps and all parked frames are processed again in their
 * arrival order, so no frame after a genuine jump is lost. Replays are iterative: if a replay
 * confirms another jump, the frames parked again are put in front of the rest of the replay
 * queue, which keeps arrival order without recursion.
 */
#include "clock.h"

#include <stdlib.h>
#include <string.h>

int clock_init(event_clock *c, int64_t max_ahead, uint32_t confirm, uint32_t max_pending)
{
	memset(c, 0, sizeof(*c));
	c->max_ahead = max_ahead;
	c->confirm = confirm ? confirm : 1;
	c->max_pending = max_pending ? max_pending : 1;
	c->startup = malloc(sizeof(clock_frame) * c->confirm);
	return c->startup ? 0 : -1;
}

void clock_free(event_clock *c)
{
	free(c->startup);
	free(c->pend);
	c->startup = c->pend = NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Lower median of n timestamps (n >= 1); ts[] is reordered. */
static int64_t lower_median(int64_t *ts, uint32_t n)
{
	qsort(ts, n, sizeof(*ts), cmp_i64);
	return ts[(n - 1) / 2];
}

static clock_frame *ring_at(const event_clock *c, uint32_t i)
{
	return &c->pend[(c->head + i) % c->cap];
}

static bool ring_grow(event_clock *c)
{
	uint32_t ncap = c->cap ? c->cap * 2 : 64;
	if (ncap > c->max_pending)
		ncap = c->max_pending;
	clock_frame *n = malloc(sizeof(*n) * ncap);
	if (n == NULL)
		return false;
	for (uint32_t i = 0; i < c->npend; i++)
		n[i] = *ring_at(c, i);
	free(c->pend);
	c->pend = n;
	c->cap = ncap;
	c->head = 0;
	return true;
}

static void ring_push(event_clock *c, const clock_frame *f)
{
	if (c->npend == c->max_pending) { /* full: drop the oldest */
		c->head = (c->head + 1) % c->cap;
		c->npend--;
		c->dropped++;
	} else if (c->npend == c->cap && !ring_grow(c)) {
		c->dropped++;
		c->oom = true;
		return;
	}
	*ring_at(c, c->npend) = *f;
	c->npend++;
}

/* Moves the ring's frames, then rest[0..nrest), into a new array (the replay queue). */
static clock_frame *ring_take(event_clock *c, const clock_frame *rest, size_t nrest, size_t *n)
{
	size_t total = c->npend + nrest;
	clock_frame *q = malloc(sizeof(*q) * (total ? total : 1));
	if (q == NULL) {
		c->dropped += total;
		c->oom = true;
		total = 0;
	} else {
		for (uint32_t i = 0; i < c->npend; i++)
			q[i] = *ring_at(c, i);
		if (nrest)
			memcpy(q + c->npend, rest, sizeof(*q) * nrest);
	}
	c->npend = 0;
	c->head = 0;
	*n = total;
	return q;
}

/* Step 2/3 for one frame. Returns true when it confirmed a jump. */
static bool offer_one(event_clock *c, const clock_frame *f, clock_release_fn fn, void *ctx)
{
	if (f->ts - c->now > c->max_ahead) {
		ring_push(c, f);
		if (++c->run < c->confirm || c->npend < c->confirm)
			return false;
		int64_t last[c->confirm];
		for (uint32_t i = 0; i < c->confirm; i++)
			last[i] = ring_at(c, c->npend - c->confirm + i)->ts;
		c->now = lower_median(last, c->confirm);
		c->run = 0;
		return true;
	}
	if (f->ts > c->now)
		c->now = f->ts;
	c->run = 0;
	fn(ctx, f);
	return false;
}

/* Processes frames in order; a confirmed jump puts the re-parked frames in front of the rest. */
static void process(event_clock *c, const clock_frame *in, size_t n, clock_release_fn fn, void *ctx)
{
	clock_frame *owned = NULL;
	const clock_frame *q = in;
	for (size_t i = 0; i < n; i++) {
		if (!offer_one(c, &q[i], fn, ctx))
			continue;
		size_t nq;
		clock_frame *next = ring_take(c, q + i + 1, n - i - 1, &nq);
		free(owned);
		owned = next;
		q = next;
		n = nq;
		i = (size_t)-1; /* restart at 0 */
	}
	free(owned);
}

void clock_start(event_clock *c, clock_release_fn fn, void *ctx)
{
	if (c->set || c->nstartup == 0)
		return;
	int64_t ts[c->nstartup];
	for (uint32_t i = 0; i < c->nstartup; i++)
		ts[i] = c->startup[i].ts;
	c->now = lower_median(ts, c->nstartup);
	c->set = true;
	uint32_t n = c->nstartup;
	c->nstartup = 0;
	process(c, c->startup, n, fn, ctx);
}

bool clock_offer(event_clock *c, const clock_frame *f, clock_release_fn fn, void *ctx)
{
	if (!c->set) {
		c->startup[c->nstartup++] = *f;
		if (c->nstartup == c->confirm)
			clock_start(c, fn, ctx);
		return false;
	}
	process(c, f, 1, fn, ctx);
	return f->ts - c->now > c->max_ahead;
}

void clock_finish(event_clock *c, clock_release_fn fn, void *ctx)
{
	clock_start(c, fn, ctx);
	c->dropped += c->npend;
	c->npend = 0;
	c->head = 0;
	c->run = 0;
}

void clock_follow(event_clock *c, int64_t wall)
{
	if (c->set && wall > c->now)
		c->now = wall;
}

int64_t clock_min_offset(const event_clock *c)
{
	int64_t m = INT64_MAX;
	if (c->nstartup && c->startup[0].offset < m)
		m = c->startup[0].offset;
	if (c->npend && ring_at(c, 0)->offset < m)
		m = ring_at(c, 0)->offset;
	return m;
}
