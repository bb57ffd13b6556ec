/* clock.c - the event clock of one input (docs/semantics.md, sections 3 and 6).
 *
 * How it works. The clock never trusts a single timestamp. A frame at or behind the clock is
 * counted at once (the common case: one comparison). A frame ahead of it is *held*, and every
 * later frame is evidence about it: a frame at or beyond its ts supports it, a frame more than
 * S = lateness behind it is against it. A held frame with enough support is confirmed: the clock
 * moves to it and every held frame it passed is counted, before the watermark moves, so a held
 * frame is never late. A held frame is confirmed when its supporters outnumber its contradictors
 * by K = 3 for a step (at most A ahead; only supporters at most A beyond it count, as a stream's
 * next frames are), by J for a jump. A held frame with R = 2J frames against
 * it is a corrupt timestamp: rejected as ts_ahead.
 *
 * Why this is robust. An in-order stream supports every held frame and contradicts none, whatever
 * its density, so it loses nothing. A timestamp flipped forward is contradicted by the frames
 * that follow; only other corrupt frames landing even further ahead could support it. A flipped
 * frame behind the clock never moves it.
 *
 * Jumps and false jumps. After a jump the watermark waits until R more frames came and the clock
 * moved more than L past where the jump landed (settle), so frames of the old position arriving
 * meanwhile still count, and a burst of garbage stamped with one time never settles. J frames in a
 * row more than A behind the clock move it back to their lower median (a false jump undone, or an
 * older period replayed); the watermark may then decrease, which the engine handles (closed
 * windows). Those frames wait in the behind buffer until the rewind or until a frame that is not
 * behind releases them.
 *
 * Cost: one pass over the held list per frame while it is not empty; it stays a few frames long
 * on real streams and is bounded by P.
 */
#include "clock.h"

#include <stdlib.h>
#include <string.h>

int clock_init(event_clock *c, const clock_cfg *cfg, clock_out out)
{
	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	if (c->cfg.confirm == 0)
		c->cfg.confirm = 1;
	if (c->cfg.max_held == 0)
		c->cfg.max_held = 1;
	c->out = out;
	c->behind = malloc(sizeof(clock_frame) * c->cfg.confirm);
	c->behind_ts = malloc(sizeof(int64_t) * c->cfg.confirm);
	if (!c->behind || !c->behind_ts) {
		clock_free(c);
		return -1;
	}
	return 0;
}

void clock_free(event_clock *c)
{
	free(c->held);
	free(c->behind);
	free(c->behind_ts);
	c->held = NULL;
	c->behind = NULL;
	c->behind_ts = NULL;
}

static uint32_t step_support(const event_clock *c)
{
	return c->cfg.confirm < 3 ? c->cfg.confirm : 3;
}

static void set_watermark(event_clock *c, bool rewind)
{
	c->out.watermark(c->out.ctx, c->wnow - c->cfg.lateness, rewind);
}

/* ---- the held list ------------------------------------------------------------------------- */

static void hold(event_clock *c, const clock_frame *f)
{
	if (c->nheld == c->cfg.max_held) { /* full: the oldest leaves, rejected */
		memmove(c->held, c->held + 1, sizeof(*c->held) * (c->nheld - 1));
		c->nheld--;
		c->rejected++;
	} else if (c->nheld == c->cap) {
		uint32_t ncap = c->cap ? c->cap * 2 : 16;
		if (ncap > c->cfg.max_held)
			ncap = c->cfg.max_held;
		held_frame *n = realloc(c->held, sizeof(*n) * ncap);
		if (n == NULL) {
			c->oom++;
			c->rejected++;
			return;
		}
		c->held = n;
		c->cap = ncap;
	}
	c->held[c->nheld++] = (held_frame){.f = *f};
}

/* Step 1: f is evidence about every held frame. Step 2: refuted frames leave, rejected. */
static void weigh(event_clock *c, int64_t ts)
{
	uint32_t refute = 2 * c->cfg.confirm, j = 0;
	for (uint32_t i = 0; i < c->nheld; i++) {
		held_frame *h = &c->held[i];
		if (ts >= h->f.ts) {
			h->support++;
			h->near += ts - h->f.ts <= c->cfg.max_ahead;
		} else if (ts < h->f.ts - c->cfg.lateness)
			h->against++;
		if (h->against >= refute) {
			c->rejected++;
			continue;
		}
		c->held[j++] = *h;
	}
	c->nheld = j;
}

/* Held frames with ts <= clock leave the list and are counted, in arrival order. */
static void release(event_clock *c)
{
	uint32_t j = 0;
	for (uint32_t i = 0; i < c->nheld; i++) {
		if (c->held[i].f.ts <= c->now)
			c->out.add(c->out.ctx, &c->held[i].f);
		else
			c->held[j++] = c->held[i];
	}
	c->nheld = j;
}

/* Moves the clock to a confirmed ts c (section 3, step 3). */
static void move_to(event_clock *c, int64_t ts)
{
	if (!c->set) {
		c->set = true;
		c->now = c->wnow = ts;
		c->settle = 0;
	} else if (ts > c->now + c->cfg.max_ahead) { /* a jump: the watermark waits */
		if (c->settle == 0) {
			c->settle = 2 * c->cfg.confirm;
			c->jump_at = ts;
		}
		c->now = ts;
	} else {
		c->now = ts;
		if (c->settle == 0)
			c->wnow = c->now;
	}
}

/* Step 3: while some held frame has enough support, the clock moves to the largest of them. */
static void confirm(event_clock *c)
{
	for (;;) {
		bool any = false;
		int64_t best = INT64_MIN;
		for (uint32_t i = 0; i < c->nheld; i++) {
			const held_frame *h = &c->held[i];
			bool jump = !c->set || h->f.ts > c->now + c->cfg.max_ahead;
			bool ok = jump ? h->support >= c->cfg.confirm + h->against
			               : h->near >= step_support(c) + h->against;
			if (ok && h->f.ts > best) {
				best = h->f.ts;
				any = true;
			}
		}
		if (!any)
			return;
		move_to(c, best);
		release(c);
		set_watermark(c, false);
	}
}

/* ---- placing frames -------------------------------------------------------------------------- */

/* Step 6. */
static void place(event_clock *c, const clock_frame *f)
{
	if (c->set && f->ts <= c->now)
		c->out.add(c->out.ctx, f);
	else
		hold(c, f);
}

static void place_behind(event_clock *c)
{
	uint32_t n = c->nbehind;
	c->nbehind = 0;
	for (uint32_t i = 0; i < n; i++)
		place(c, &c->behind[i]);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Step 4, B full: the stream moved back; the clock goes to the lower median of B. */
static void rewind(event_clock *c)
{
	uint32_t n = c->nbehind;
	int64_t *ts = c->behind_ts;
	for (uint32_t i = 0; i < n; i++)
		ts[i] = c->behind[i].ts;
	qsort(ts, n, sizeof(*ts), cmp_i64);
	/* held frames are the tail of the period the stream left: counted where they land */
	for (uint32_t i = 0; i < c->nheld; i++)
		c->out.add(c->out.ctx, &c->held[i].f);
	c->nheld = 0;
	c->now = c->wnow = ts[(n - 1) / 2];
	c->settle = 0;
	set_watermark(c, true);
	place_behind(c);
}

void clock_offer(event_clock *c, const clock_frame *f)
{
	int64_t ts = f->ts;
	bool far_behind = c->set && ts < c->now - c->cfg.max_ahead;
	if (c->nheld == 0 && c->nbehind == 0 && c->settle == 0 && c->set && ts <= c->now &&
	    !far_behind) {
		c->out.add(c->out.ctx, f); /* the common case: at or just behind the clock */
		return;
	}
	if (c->nheld) {
		weigh(c, ts);
		confirm(c);
		far_behind = c->set && ts < c->now - c->cfg.max_ahead;
	}
	if (far_behind) {
		c->behind[c->nbehind++] = *f;
		if (c->nbehind == c->cfg.confirm)
			rewind(c);
		return;
	}
	place_behind(c);
	if (c->settle > 1) {
		c->settle--;
	} else if (c->settle == 1 && c->now > c->jump_at + c->cfg.lateness) {
		c->settle = 0;
		c->wnow = c->now;
		set_watermark(c, false);
	}
	place(c, f);
}

/* ---- idleness and the end ------------------------------------------------------------------ */

bool clock_live(const event_clock *c, int64_t wall)
{
	int64_t a = c->cfg.max_ahead;
	if (c->set)
		return c->now >= wall - a;
	if (c->nheld == 0)
		return false;
	for (uint32_t i = 0; i < c->nheld; i++)
		if (c->held[i].f.ts < wall - a || c->held[i].f.ts > wall + a)
			return false;
	return true;
}

void clock_follow(event_clock *c, int64_t wall)
{
	if (!c->set || wall > c->now)
		c->now = wall;
	c->set = true;
	c->wnow = c->now;
	c->settle = 0;
	place_behind(c);
	release(c);
	set_watermark(c, false);
}

void clock_start(event_clock *c)
{
	if (c->set || c->nheld == 0)
		return;
	int64_t m = c->held[0].f.ts;
	for (uint32_t i = 1; i < c->nheld; i++)
		if (c->held[i].f.ts < m)
			m = c->held[i].f.ts;
	c->set = true;
	c->now = c->wnow = m;
	c->settle = 0;
	release(c);
	set_watermark(c, false);
}

void clock_finish(event_clock *c)
{
	place_behind(c);
	uint32_t n = c->nheld;
	c->nheld = 0;
	for (uint32_t i = 0; i < n; i++) {
		const held_frame *h = &c->held[i];
		if (h->against >= h->support + step_support(c)) {
			c->rejected++;
			continue;
		}
		if (!c->set || h->f.ts > c->now)
			c->now = h->f.ts;
		c->set = true;
		c->out.add(c->out.ctx, &h->f);
	}
}

int64_t clock_min_offset(const event_clock *c)
{
	int64_t m = INT64_MAX;
	for (uint32_t i = 0; i < c->nheld; i++)
		if (c->held[i].f.offset < m)
			m = c->held[i].f.offset;
	for (uint32_t i = 0; i < c->nbehind; i++)
		if (c->behind[i].offset < m)
			m = c->behind[i].offset;
	return m;
}
