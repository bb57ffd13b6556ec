/* Tests for clock.c: each rule of docs/semantics.md section 3 and 6 on hand-computed streams. The
 * expected frames and watermarks are worked out by hand in the comments, not by a second copy of
 * the rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"

#define T 1468244340LL
#define MAXREC 4096

typedef struct rec {
	int64_t added[MAXREC]; /* ts of added frames, in order */
	int nadded;
	int64_t wm[MAXREC]; /* watermarks, in order */
	bool rewind[MAXREC];
	int nwm;
} rec;

static void on_add(void *ctx, const clock_frame *f)
{
	rec *r = ctx;
	assert_true(r->nadded < MAXREC);
	r->added[r->nadded++] = f->ts;
}

static void on_wm(void *ctx, int64_t wm, bool rewind)
{
	rec *r = ctx;
	assert_true(r->nwm < MAXREC);
	r->wm[r->nwm] = wm;
	r->rewind[r->nwm++] = rewind;
}

/* L = 5, A = 300, J = 8 (K = 3, R = 16, S = 5), P = 4096 unless changed. */
static event_clock *make(rec *r, uint32_t confirm, uint32_t max_held)
{
	static event_clock c;
	memset(r, 0, sizeof(*r));
	clock_cfg cfg = {.lateness = 5, .max_ahead = 300, .confirm = confirm, .max_held = max_held};
	assert_int_equal(
	    clock_init(&c, &cfg, (clock_out){.ctx = r, .add = on_add, .watermark = on_wm}), 0);
	return &c;
}

static void offer(event_clock *c, int64_t ts, int64_t offset)
{
	clock_frame f = {ts, (uint64_t)ts, offset};
	clock_offer(c, &f);
}

/* n frames at ts, offsets from *off on. */
static void feed(event_clock *c, int64_t ts, int n, int64_t *off)
{
	for (int i = 0; i < n; i++)
		offer(c, ts, (*off)++);
}

static int64_t last_wm(const rec *r)
{
	assert_true(r->nwm > 0);
	return r->wm[r->nwm - 1];
}

/* Frame by frame: the first frame needs J = 8 supporters (clock unset), then steps need 3. */
static void test_start_and_steps(void **state)
{
	(void)state;
	rec r;
	event_clock *c = make(&r, 8, 4096);
	for (int i = 0; i < 8; i++)
		offer(c, T, i); /* frame 0 has 7 supporters: held */
	assert_false(c->set);
	assert_int_equal(r.nadded, 0);
	assert_int_equal(clock_min_offset(c), 0);
	offer(c, T, 8); /* frame 0: 8 supporters -> clock T; frames 0..8 are at T: all added */
	assert_true(c->set);
	assert_int_equal(c->now, T);
	assert_int_equal(r.nadded, 9);
	assert_int_equal(last_wm(&r), T - 5);
	assert_int_equal(clock_min_offset(c), INT64_MAX);
	/* a step: T+1 held until 3 later frames at or beyond it */
	offer(c, T + 1, 9);
	offer(c, T - 2, 10); /* behind the clock: added at once, no evidence against (within S) */
	assert_int_equal(r.nadded, 10);
	offer(c, T + 1, 11);
	offer(c, T + 2, 12);
	assert_int_equal(c->now, T);
	offer(c, T + 1, 13); /* frame 9: support 3 -> clock T+1; 9, 11, 13 added; 12 held */
	assert_int_equal(c->now, T + 1);
	assert_int_equal(r.nadded, 13);
	assert_int_equal(last_wm(&r), T - 4);
	assert_int_equal(c->nheld, 1);
	clock_finish(c); /* 12: support 1 >= against 0: added */
	assert_int_equal(r.nadded, 14);
	assert_int_equal(r.added[13], T + 2);
	assert_int_equal(c->rejected, 0);
	clock_free(c);
}

/* One frame a day: every frame held until 8 later ones, the watermark R = 16 frames later. */
static void test_sparse_days(void **state)
{
	(void)state;
	rec r;
	event_clock *c = make(&r, 8, 4096);
	for (int i = 0; i < 100; i++) {
		offer(c, T + 86400LL * i, i);
		/* never late: the watermark stays below every frame not yet added */
		for (int w = 0; w < r.nwm; w++)
			assert_true(r.wm[w] < T + 86400LL * (r.nadded) || r.nadded == i + 1);
	}
	/* frame i is confirmed by frames i+1..i+8: when frame 8 arrives, the clock is at frame 0 */
	assert_true(r.nadded >= 100 - 9);
	clock_finish(c);
	assert_int_equal(r.nadded, 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(r.added[i], T + 86400LL * i); /* in order, all of them */
	assert_int_equal(c->rejected, 0);
	for (int w = 1; w < r.nwm; w++)
		assert_true(r.wm[w] >= r.wm[w - 1]); /* no rewind on an ordered stream */
	clock_free(c);
}

/* A dense stream, one frame flipped forward by 2^k for every k from 3 to 31: never moves the
 * clock, rejected after R = 16 frames against it; every clean frame added. */
static void test_forward_flip_rejected(void **state)
{
	(void)state;
	for (int k = 3; k < 32; k++) {
		rec r;
		event_clock *c = make(&r, 8, 4096);
		int64_t off = 0;
		feed(c, T, 20, &off);
		int64_t before = c->now;
		offer(c, T + (1LL << k), off++);
		for (int i = 0; i < 40; i++) {
			offer(c, T + i / 10, off++);
			assert_true(c->now <= T + 4); /* the clean stream's own front */
		}
		assert_true(c->now >= before);
		assert_int_equal(c->rejected, 1);
		clock_finish(c);
		assert_int_equal(r.nadded, 60);
		for (int w = 0; w < r.nwm; w++)
			assert_true(r.wm[w] <= T + 3 - 5);
		clock_free(c);
	}
}

/* Flipped by +2 (within S): confirmed only once the stream itself reaches T+2. */
static void test_small_flip_waits_for_the_stream(void **state)
{
	(void)state;
	rec r;
	event_clock *c = make(&r, 8, 4096);
	for (int i = 0; i < 10; i++)
		offer(c, T, i);
	offer(c, T + 2, 10);
	for (int i = 0; i < 20; i++)
		offer(c, T + 1, 11 + i);
	assert_int_equal(c->now, T + 1);
	assert_int_equal(c->nheld, 1); /* T+2: no support yet, nothing against */
	offer(c, T + 2, 40);
	offer(c, T + 2, 41);
	offer(c, T + 3, 42);
	assert_int_equal(c->now, T + 2);
	assert_int_equal(c->rejected, 0);
	clock_free(c);
}

/* A step is supported only by frames at most A beyond it: a run of corrupt frames far ahead
 * cannot confirm a small flip; the stream's own next frames do. */
static void test_step_needs_near_support(void **state)
{
	(void)state;
	rec r;
	event_clock *c = make(&r, 8, 4096);
	for (int i = 0; i < 10; i++)
		offer(c, T, i);
	offer(c, T + 64, 10); /* a step-sized flip */
	for (int i = 0; i < 5; i++)
		offer(c, T + 100000 + i, 11 + i); /* far beyond: support, not near support */
	assert_int_equal(c->now, T);
	offer(c, T + 64, 16);
	offer(c, T + 65, 17);
	offer(c, T + 70, 18); /* 3 near supporters, nothing against: confirmed */
	assert_int_equal(c->now, T + 64);
	clock_free(c);
}

/* A backward flip is added where it lands (the engine decides if it is late); the clock stays. */
static void test_backward_flip(void **state)
{
	(void)state;
	rec r;
	event_clock *c = make(&r, 8, 4096);
	for (int i = 0; i < 10; i++)
		offer(c, T, i);
	int n = r.nadded;
	offer(c, T - (1LL << 20), 10); /* far behind: waits in B (1 < J) */
	assert_int_equal(r.nadded, n);
	assert_int_equal(clock_min_offset(c), 10);
	offer(c, T, 11); /* not behind: B is placed first, then this frame */
	assert_int_equal(r.nadded, n + 2);
	assert_int_equal(r.added[n], T - (1LL << 20));
	assert_int_equal(c->now, T);
	clock_free(c);
}

/* A genuine jump by a day: followed after J frames beyond it; the watermark waits R frames, so
 * frames of the old position arriving meanwhile stay on time. */
static void test_genuine_jump_settles(void **state)
{
	(void)state;
	rec r;
	event_clock *c = make(&r, 8, 4096);
	int64_t off = 0, D = 86400;
	feed(c, T, 20, &off);
	feed(c, T + D, 8, &off);
	assert_int_equal(c->now, T); /* the first jump frame has 7 supporters */
	offer(c, T + D, off++);
	assert_int_equal(c->now, T + D);
	assert_int_equal(last_wm(&r), T - 5); /* not settled */
	assert_int_equal(c->settle, 15);      /* R = 16, and the confirming frame counts */
	offer(c, T + 3, off++);               /* a straggler: far behind, waits in B */
	feed(c, T + D, 14, &off);
	assert_int_equal(last_wm(&r), T - 5);
	assert_int_equal(c->settle, 1);
	offer(c, T + D, off++); /* R frames, but the stream has not moved on from T+D yet */
	assert_int_equal(c->settle, 1);
	for (int i = 0; i < 30; i++) /* the stream moves on: T+D .. T+D+9 */
		offer(c, T + D + i / 3, off++);
	assert_int_equal(c->settle, 0);
	assert_true(last_wm(&r) > T + D - 5);
	for (int w = 0; w < r.nwm; w++)
		assert_false(r.rewind[w]);
	clock_finish(c);
	assert_int_equal(r.nadded, (int)off);
	assert_int_equal(c->rejected, 0);
	clock_free(c);
}

/* 16 garbage frames stamped 2099, then the stream carries on: the false jump is undone after
 * J = 8 frames; the watermark never passed the stream; no clean frame lost. */
static void test_false_jump_undone(void **state)
{
	(void)state;
	rec r;
	event_clock *c = make(&r, 8, 4096);
	int64_t off = 0, G = 4070908800LL; /* 2099-01-01 */
	feed(c, T, 20, &off);
	feed(c, G, 16, &off);
	assert_int_equal(c->now, G);
	feed(c, T + 1, 7, &off);
	assert_int_equal(c->now, G);
	offer(c, T + 1, off++); /* the 8th frame behind: rewind to their lower median */
	assert_int_equal(c->now, T + 1);
	for (int w = 0; w < r.nwm; w++)
		assert_true(r.wm[w] <= T + 1 - 5);
	feed(c, T + 2, 30, &off);
	assert_int_equal(c->now, T + 2);
	clock_finish(c);
	assert_int_equal(r.nadded, (int)off); /* the burst too: counted where it landed */
	clock_free(c);
}

/* A burst of one time never settles, however long: 100 garbage frames, then the stream. */
static void test_constant_burst_never_settles(void **state)
{
	(void)state;
	rec r;
	event_clock *c = make(&r, 8, 4096);
	int64_t off = 0, G = T + 365LL * 86400;
	feed(c, T, 20, &off);
	feed(c, G, 100, &off);
	assert_int_equal(c->now, G);
	assert_int_equal(c->settle, 1);
	assert_int_equal(last_wm(&r), T - 5);
	feed(c, T + 1, 8, &off);
	assert_int_equal(c->now, T + 1);
	for (int w = 0; w < r.nwm; w++)
		assert_true(r.wm[w] <= T + 1 - 5);
	clock_free(c);
}

/* A burst of J + R = 24 frames whose times advance by more than L moves the watermark; J frames
 * of the old position then rewind it (a watermark lower than before, flagged as a rewind). */
static void test_long_false_jump_rewinds(void **state)
{
	(void)state;
	rec r;
	event_clock *c = make(&r, 8, 4096);
	int64_t off = 0, G = T + 365LL * 86400;
	feed(c, T, 20, &off);
	for (int i = 0; i < 24; i++)
		offer(c, G + i, off++);
	assert_true(last_wm(&r) > G);
	feed(c, T + 1, 8, &off);
	assert_int_equal(c->now, T + 1);
	assert_int_equal(last_wm(&r), T + 1 - 5);
	assert_true(r.rewind[r.nwm - 1]);
	clock_free(c);
}

/* A frame every 150 s (more than A / K apart): steps never gather 3 near supporters, the clock
 * moves by jumps, and the watermark still follows within J + R frames (the stream moved on from
 * where the first jump landed). */
static void test_sparse_jumps_settle(void **state)
{
	(void)state;
	rec r;
	event_clock *c = make(&r, 8, 4096);
	for (int i = 0; i < 60; i++) {
		offer(c, T + 150LL * i, i);
		if (i >= 8 + 16 + 8)
			assert_true(last_wm(&r) >= T + 150LL * (i - 8 - 16 - 8));
	}
	assert_int_equal(c->rejected, 0);
	clock_free(c);
}

/* End of input: the newest frames of an ordered stream are held; one frame delayed past them
 * contradicts them, which is not enough to reject them. */
static void test_finish_keeps_newest_after_a_delayed_frame(void **state)
{
	(void)state;
	rec r;
	event_clock *c = make(&r, 8, 4096);
	for (int i = 0; i < 10; i++)
		offer(c, T + i, i);
	offer(c, T, 10); /* delayed by 9 s: against T+7, T+8, T+9 */
	clock_finish(c);
	assert_int_equal(c->rejected, 0);
	assert_int_equal(r.nadded, 11);
	clock_free(c);
}

/* A rewind (an older period replayed after a newer one) first counts the newer period's frames
 * still held: nothing contradicts them but the replay. */
static void test_rewind_counts_held_frames(void **state)
{
	(void)state;
	rec r;
	event_clock *c = make(&r, 8, 4096);
	int64_t D = 86400, off = 0;
	for (int i = 0; i < 30; i++)
		offer(c, T + D + i, off++);
	int held = (int)c->nheld;
	assert_true(held > 0);
	for (int i = 0; i < 8; i++)
		offer(c, T + i, off++);
	assert_int_equal(c->now, T + 3); /* lower median of T .. T+7 */
	assert_int_equal(c->rejected, 0);
	clock_finish(c);
	assert_int_equal(r.nadded, 38);
	assert_int_equal(c->rejected, 0);
	clock_free(c);
}

/* Frames held at most P: the oldest is pushed out and rejected. */
static void test_held_bound(void **state)
{
	(void)state;
	rec r;
	event_clock *c = make(&r, 8, 4);
	for (int i = 0; i < 6; i++)
		offer(c, T - i, i); /* decreasing: nobody supports the older frames */
	assert_int_equal(c->nheld, 4);
	assert_int_equal(c->rejected, 2);
	clock_free(c);
}

/* Live and historical idleness (section 6). */
static void test_live_and_historical(void **state)
{
	(void)state;
	rec r;
	int64_t wall = T + 1000;
	event_clock *c = make(&r, 8, 4096);
	assert_false(clock_live(c, wall)); /* no frame */
	offer(c, wall - 3, 0);             /* one live frame: held, clock unset */
	assert_true(clock_live(c, wall));
	clock_follow(c, wall);
	assert_int_equal(r.nadded, 1);
	assert_int_equal(c->now, wall);
	assert_int_equal(last_wm(&r), wall - 5);
	clock_free(c);

	c = make(&r, 8, 4096);
	offer(c, T, 0); /* history: a frame of 2016 */
	offer(c, T + 60, 1);
	assert_false(clock_live(c, wall + 86400 * 3650LL));
	clock_start(c); /* the clock starts at the smallest held frame */
	assert_true(c->set);
	assert_int_equal(c->now, T);
	assert_int_equal(r.nadded, 1);
	assert_int_equal(c->nheld, 1);
	assert_int_equal(last_wm(&r), T - 5);
	clock_free(c);

	c = make(&r, 8, 4096);
	offer(c, wall, 0);
	offer(c, wall - 7200, 1); /* one held frame outside the live horizon */
	assert_false(clock_live(c, wall));
	clock_free(c);
}

/* End of input: held frames with more support than contradiction are added, others rejected. */
static void test_finish(void **state)
{
	(void)state;
	rec r;
	event_clock *c = make(&r, 8, 4096);
	for (int i = 0; i < 10; i++)
		offer(c, T, i);
	offer(c, T + 5000, 10); /* then 3 frames against it */
	offer(c, T, 11);
	offer(c, T, 12);
	offer(c, T, 13);
	offer(c, T + 50, 14); /* the last frame: no evidence either way */
	clock_finish(c);
	assert_int_equal(c->rejected, 1);
	assert_int_equal(r.added[r.nadded - 1], T + 50);
	assert_int_equal(r.nadded, 14);
	clock_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_start_and_steps),
	    cmocka_unit_test(test_sparse_days),
	    cmocka_unit_test(test_forward_flip_rejected),
	    cmocka_unit_test(test_small_flip_waits_for_the_stream),
	    cmocka_unit_test(test_step_needs_near_support),
	    cmocka_unit_test(test_backward_flip),
	    cmocka_unit_test(test_genuine_jump_settles),
	    cmocka_unit_test(test_false_jump_undone),
	    cmocka_unit_test(test_constant_burst_never_settles),
	    cmocka_unit_test(test_long_false_jump_rewinds),
	    cmocka_unit_test(test_sparse_jumps_settle),
	    cmocka_unit_test(test_finish_keeps_newest_after_a_delayed_frame),
	    cmocka_unit_test(test_rewind_counts_held_frames),
	    cmocka_unit_test(test_held_bound),
	    cmocka_unit_test(test_live_and_historical),
	    cmocka_unit_test(test_finish),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
