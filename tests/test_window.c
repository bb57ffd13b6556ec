/* test_window.c - unit tests of a kind's open-window list (src/window.h): find (with its cached
 * last hit), insert keeping the list sorted by start whatever the insertion order, growth past
 * the initial capacity, pop_front handing over the window and its counter, drop_before freeing
 * exactly the windows that ended. Every list is checked against the plain model "the windows
 * inserted so far, sorted by start"; LeakSanitizer (make unit) catches a counter freed twice or
 * never. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counter.h"
#include "window.h"

/* An exact counter holding n distinct items (so each window's counter can be told apart). */
/* The drop callback: windows dropped are simply released. */
static void release(void *ctx, window *w)
{
	(void)ctx;
	window_release(w);
}

static counter *counter_of(uint64_t n)
{
	counter_cfg cfg = {.mode = COUNTER_EXACT};
	counter *c = counter_new(&cfg);
	assert_non_null(c);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(counter_add(c, 0x9e3779b97f4a7c15ULL * (i + 1)), 0);
	assert_int_equal(counter_count(c), n);
	return c;
}

/* Inserts [start, start + len) with a counter of `tag` items; checks the returned window. */
static window *insert(window_list *l, int64_t start, int64_t len, uint64_t tag)
{
	counter *c = counter_of(tag);
	window *w = window_list_insert(l, start, start + len, c);
	assert_non_null(w);
	assert_int_equal(w->start, start);
	assert_int_equal(w->end, start + len);
	assert_ptr_equal(w->cnt, c);
	/* a new window starts empty whatever the memory held before */
	assert_int_equal(w->frames, 0);
	assert_int_equal(w->first_offset, 0);
	assert_int_equal(w->revision, 0);
	assert_false(w->emitted);
	assert_false(w->changed);
	return w;
}

/* The list holds exactly the starts want[0..n) in this order, and sits within its capacity. */
static void expect_starts(const window_list *l, const int64_t *want, uint32_t n)
{
	assert_int_equal(l->n, n);
	assert_true(l->n <= l->cap);
	for (uint32_t i = 0; i < n; i++)
		if (l->w[i].start != want[i])
			fail_msg("window %u starts at %lld, want %lld", i, (long long)l->w[i].start,
			         (long long)want[i]);
}

static void test_empty(void **state)
{
	(void)state;
	window_list l = {0};
	assert_null(window_list_find(&l, 0));
	assert_null(window_list_find(&l, INT64_MIN));
	window_list_drop_before(&l, INT64_MAX, release,
	                        NULL); /* nothing to drop: no crash, still empty */
	assert_int_equal(l.n, 0);
	window_list_free(&l);
	window_list_free(&l); /* free leaves an empty list that can be freed again */
	assert_int_equal(l.n, 0);
	assert_null(l.w);
}

static void test_insert_keeps_order(void **state)
{
	(void)state;
	window_list l = {0};
	/* out of order: middle, front, back, between two, far front */
	insert(&l, 600, 60, 1);
	insert(&l, 480, 60, 2);
	insert(&l, 780, 60, 3);
	insert(&l, 660, 60, 4);
	insert(&l, 0, 60, 5);
	const int64_t want[] = {0, 480, 600, 660, 780};
	expect_starts(&l, want, 5);
	/* each window kept its own counter through the moves */
	const uint64_t tags[] = {5, 2, 1, 4, 3};
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(counter_count(l.w[i].cnt), tags[i]);
	window_list_free(&l);
	assert_int_equal(l.n, 0);
}

static void test_growth_past_capacity(void **state)
{
	(void)state;
	window_list l = {0};
	/* 100 windows inserted in a scrambled order (37 is coprime with 100) */
	for (int64_t i = 0; i < 100; i++) {
		int64_t k = (i * 37) % 100;
		insert(&l, k * 60, 60, (uint64_t)k + 1);
		assert_int_equal(l.n, (uint32_t)i + 1);
	}
	assert_true(l.cap >= 100);
	for (uint32_t i = 0; i < 100; i++) {
		assert_int_equal(l.w[i].start, (int64_t)i * 60);
		assert_int_equal(counter_count(l.w[i].cnt), i + 1);
	}
	/* every second of every window finds that window; the seconds between none */
	for (int64_t ts = 0; ts < 6000; ts += 7) {
		window *w = window_list_find(&l, ts);
		assert_non_null(w);
		assert_int_equal(w->start, ts / 60 * 60);
	}
	assert_null(window_list_find(&l, 6000));
	assert_null(window_list_find(&l, -1));
	window_list_free(&l);
}

static void test_find_bounds_and_cache(void **state)
{
	(void)state;
	window_list l = {0};
	/* windows of different lengths with a gap: [0,60) [60,3600) [7200,7260) */
	insert(&l, 60, 3540, 1);
	insert(&l, 7200, 60, 2);
	insert(&l, 0, 60, 3);
	assert_ptr_equal(window_list_find(&l, 0), &l.w[0]);
	assert_ptr_equal(window_list_find(&l, 59), &l.w[0]);
	assert_ptr_equal(window_list_find(&l, 60), &l.w[1]); /* end is exclusive */
	assert_ptr_equal(window_list_find(&l, 3599), &l.w[1]);
	assert_null(window_list_find(&l, 3600)); /* in the gap */
	assert_null(window_list_find(&l, 7199));
	assert_ptr_equal(window_list_find(&l, 7259), &l.w[2]);
	assert_null(window_list_find(&l, 7260));
	/* the cached hit is the last window found; a miss leaves it alone */
	assert_ptr_equal(window_list_find(&l, 30), &l.w[0]);
	assert_int_equal(l.last, 0);
	assert_null(window_list_find(&l, 5000));
	assert_int_equal(l.last, 0);
	assert_ptr_equal(window_list_find(&l, 7200), &l.w[2]);
	assert_int_equal(l.last, 2);
	/* an insert in front moves the cached window: find must still answer right */
	insert(&l, -60, 60, 4);
	assert_int_equal(l.w[l.last].start, -60); /* the new window is the cached one */
	assert_ptr_equal(window_list_find(&l, 7230), &l.w[3]);
	assert_ptr_equal(window_list_find(&l, -1), &l.w[0]);
	assert_ptr_equal(window_list_find(&l, 100), &l.w[2]);
	window_list_free(&l);
}

static void test_pop_front_hands_over(void **state)
{
	(void)state;
	window_list l = {0};
	insert(&l, 120, 60, 7);
	window *w = insert(&l, 60, 60, 9);
	w->frames = 42;
	w->first_offset = 1234;
	w->revision = 3;
	w->emitted = true;
	w->changed = true;
	counter *c9 = w->cnt;
	assert_ptr_equal(window_list_find(&l, 150), &l.w[1]); /* cache on the second window */
	window out;
	window_list_pop_front(&l, &out);
	assert_int_equal(out.start, 60);
	assert_int_equal(out.end, 120);
	assert_ptr_equal(out.cnt, c9); /* the counter is the caller's now */
	assert_int_equal(out.frames, 42);
	assert_int_equal(out.first_offset, 1234);
	assert_int_equal(out.revision, 3);
	assert_true(out.emitted && out.changed);
	const int64_t want[] = {120};
	expect_starts(&l, want, 1);
	/* the cache no longer points past the end or at the moved window */
	assert_ptr_equal(window_list_find(&l, 150), &l.w[0]);
	assert_null(window_list_find(&l, 60));
	counter_free(out.cnt);
	window_list_pop_front(&l, &out);
	assert_int_equal(l.n, 0);
	assert_int_equal(out.start, 120);
	assert_int_equal(counter_count(out.cnt), 7);
	assert_null(window_list_find(&l, 150));
	counter_free(out.cnt);
	/* an emptied list takes windows again */
	insert(&l, 0, 60, 1);
	assert_ptr_equal(window_list_find(&l, 0), &l.w[0]);
	window_list_free(&l);
}

static void test_drop_before(void **state)
{
	(void)state;
	window_list l = {0};
	for (int64_t s = 0; s < 600; s += 60)
		insert(&l, s, 60, 1);
	window_list_drop_before(&l, 59, release, NULL); /* [0,60) has not ended at 59 */
	assert_int_equal(l.n, 10);
	window_list_drop_before(&l, 60, release, NULL); /* end <= t: ended */
	const int64_t want1[] = {60, 120, 180, 240, 300, 360, 420, 480, 540};
	expect_starts(&l, want1, 9);
	window_list_drop_before(&l, 299, release, NULL);
	const int64_t want2[] = {240, 300, 360, 420, 480, 540};
	expect_starts(&l, want2, 6);
	assert_ptr_equal(window_list_find(&l, 250), &l.w[0]);
	assert_null(window_list_find(&l, 239));
	/* only a prefix is dropped: a long window in front holds the later ones back */
	insert(&l, 0, 1000, 1);
	window_list_drop_before(&l, 600, release, NULL);
	assert_int_equal(l.n, 7);
	assert_int_equal(l.w[0].start, 0);
	window_list_drop_before(&l, 1000, release, NULL);
	assert_int_equal(l.n, 0);
	assert_null(window_list_find(&l, 500));
	window_list_free(&l);
}

/* A random walk of inserts, pops and drops against a plain model (sorted starts). */
static void test_random_against_model(void **state)
{
	(void)state;
	window_list l = {0};
	int64_t model[256];
	uint32_t n = 0;
	uint64_t rng = 88172645463325252ULL;
	for (int step = 0; step < 20000; step++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		unsigned op = (unsigned)(rng % 8);
		int64_t s = (int64_t)((rng >> 8) % 200) * 60;
		if (op < 5 && n < 256) {
			if (window_list_find(&l, s) != NULL)
				continue; /* windows of one kind never overlap */
			insert(&l, s, 60, 1);
			uint32_t i = n;
			while (i > 0 && model[i - 1] > s) {
				model[i] = model[i - 1];
				i--;
			}
			model[i] = s;
			n++;
		} else if (op == 5 && n > 0) {
			window out;
			window_list_pop_front(&l, &out);
			assert_int_equal(out.start, model[0]);
			counter_free(out.cnt);
			memmove(model, model + 1, sizeof(model[0]) * --n);
		} else if (op == 6) {
			window_list_drop_before(&l, s, release, NULL);
			uint32_t k = 0;
			while (k < n && model[k] + 60 <= s)
				k++;
			memmove(model, model + k, sizeof(model[0]) * (n - k));
			n -= k;
		} else {
			window *w = window_list_find(&l, s + 59);
			bool in = false;
			for (uint32_t i = 0; i < n; i++)
				in |= model[i] == s;
			assert_true(in ? w != NULL && w->start == s : w == NULL);
		}
		expect_starts(&l, model, n);
	}
	window_list_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_insert_keeps_order),
	    cmocka_unit_test(test_growth_past_capacity),
	    cmocka_unit_test(test_find_bounds_and_cache),
	    cmocka_unit_test(test_pop_front_hands_over),
	    cmocka_unit_test(test_drop_before),
	    cmocka_unit_test(test_random_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
