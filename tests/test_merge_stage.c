/* Tests for the two stages of --scale-out (engine_partial.c, partial.c, merge_stage.c): a stream
 * of four input partitions counted by two "processes" (counting stages) whose partials go through
 * queues standing for the partials topic's partitions to three merge tasks, gives exactly the
 * records of one engine fed everything: same windows, same counts, exact or sketch (bit for bit
 * the same estimate), once each. Also with kills: a merge task checkpointed into a map standing
 * for the changelog and killed at random moments (results after its checkpoint are dropped, as
 * the aborted transaction's would be) and restored from the map; a counting process killed after
 * a commit, forgetting its windows (it sends users again) and re-reading its frames since. And:
 * partial records survive encoding, any flipped bit is refused, and window keys spread over
 * partitions deterministically. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "merge_stage.h"
#include "partial.h"
#include "results.h"

#define T0 1468244340LL
#define NFRAMES 20000
#define NIN 4 /* input partitions */
#define NQ 3  /* partials partitions */
#define LATENESS 5
#define IDENT 0x5151u

typedef struct frame {
	int input;
	int64_t ts;
	uint64_t hash;
} frame;

/* Frames over about two hours, disordered within the lateness (none is late). */
static frame *make_stream(uint64_t seed, unsigned users)
{
	frame *f = calloc(NFRAMES, sizeof(*f));
	assert_non_null(f);
	int64_t t = T0;
	for (int i = 0; i < NFRAMES; i++) {
		uint64_t r = rng(&seed);
		if (r % 3 == 0)
			t++;
		f[i].input = (int)((r >> 8) % NIN);
		f[i].ts = t - (int64_t)((r >> 16) % (LATENESS - 1));
		f[i].hash = rng(&(uint64_t){(r >> 24) % users + 1});
	}
	return f;
}

static engine_cfg cfg_of(uint64_t exact_limit)
{
	engine_cfg c = {.kinds = (1u << WINDOW_MINUTE) | (1u << WINDOW_HOUR)};
	c.counter.mode = COUNTER_AUTO;
	c.counter.exact_limit = exact_limit;
	assert_int_equal(calendar_init(&c.cal, NULL), 0);
	return c;
}

/* ---- one engine fed everything: the reference ---------------------------------------------- */

static void reference(const frame *f, engine_cfg cfg, results *out)
{
	engine *e = engine_new(&cfg, (result_sink){.emit = keep, .ctx = out});
	assert_non_null(e);
	int64_t wm[NIN];
	for (int i = 0; i < NIN; i++) {
		assert_int_equal(engine_input_add(e), i);
		wm[i] = INT64_MIN;
	}
	for (int i = 0; i < NFRAMES; i++) {
		engine_add(e, f[i].input, f[i].ts, f[i].hash, i);
		if (f[i].ts - LATENESS > wm[f[i].input]) {
			wm[f[i].input] = f[i].ts - LATENESS;
			engine_watermark(e, f[i].input, wm[f[i].input], false);
		}
	}
	engine_finish(e);
	engine_free(e);
}

/* ---- the two stages ------------------------------------------------------------------------- */

typedef struct rec {
	char key[96];
	uint8_t *val;
	size_t len;
} rec;

typedef struct topic {
	rec *r[NQ];
	size_t n[NQ], cap[NQ];
	size_t read[NQ]; /* next offset the merge task reads */
	state_buf b;
} topic;

static void topic_put(topic *t, int q, const char *key, const state_buf *b)
{
	if (t->n[q] == t->cap[q]) {
		t->cap[q] = t->cap[q] ? t->cap[q] * 2 : 64;
		t->r[q] = realloc(t->r[q], sizeof(rec) * t->cap[q]);
		assert_non_null(t->r[q]);
	}
	rec *r = &t->r[q][t->n[q]++];
	snprintf(r->key, sizeof r->key, "%s", key);
	r->val = malloc(b->n);
	assert_non_null(r->val);
	memcpy(r->val, b->p, b->n);
	r->len = b->n;
}

static int send(void *ctx, const partial *p)
{
	topic *t = ctx;
	char key[96];
	if (partial_encode(p, IDENT, &t->b, key, sizeof key) != 0)
		return -1;
	if (p->type == PARTIAL_WATERMARK)
		for (int q = 0; q < NQ; q++)
			topic_put(t, q, key, &t->b);
	else
		topic_put(t, partial_partition(p->kind, p->start, NQ), key, &t->b);
	return 0;
}

static void topic_free(topic *t)
{
	for (int q = 0; q < NQ; q++) {
		for (size_t i = 0; i < t->n[q]; i++)
			free(t->r[q][i].val);
		free(t->r[q]);
	}
	state_buf_free(&t->b);
}

typedef struct scaled {
	engine_cfg cfg;
	engine *count[2]; /* process p counts inputs p and p + 2 */
	int64_t wm[NIN];
	topic t;
	merge_stage *m;
	results *out;
	state_map *changelog;
	size_t kept; /* results committed with the last merge checkpoint */
} scaled;

static int owner(int input)
{
	return input % 2;
}

static void new_merge(scaled *s)
{
	s->m = merge_stage_new(&s->cfg, (result_sink){.emit = keep, .ctx = s->out}, IDENT, NIN);
	assert_non_null(s->m);
	for (int q = 0; q < NQ; q++) {
		int64_t next;
		char err[256];
		int rc = merge_stage_assign(s->m, q, s->changelog, &next, err, sizeof err);
		if (rc != 0)
			fail_msg("restoring merge task %d: %s", q, err);
		s->t.read[q] = next < 0 ? 0 : (size_t)next;
	}
}

static void commit(scaled *s)
{
	partial_sink ps = {.ctx = &s->t, .put = send};
	for (int i = 0; i < NIN; i++)
		assert_int_equal(engine_flush_partials(s->count[owner(i)], i, i, ps), 0);
}

/* The merge tasks read what is committed; at random moments they checkpoint, or die and are
 * restored from their last checkpoint. */
static void merge(scaled *s, uint64_t *seed, bool kills)
{
	for (int q = 0; q < NQ; q++)
		for (; s->t.read[q] < s->t.n[q]; s->t.read[q]++) {
			const rec *r = &s->t.r[q][s->t.read[q]];
			char err[256];
			assert_int_equal(merge_stage_record(s->m, q, (int64_t)s->t.read[q], r->key,
			                                    r->val, r->len, err, sizeof err),
			                 0);
		}
	uint64_t r = rng(seed);
	if (r % 4 == 0) {
		assert_int_equal(merge_stage_checkpoint(s->m, state_map_sink(s->changelog)), 0);
		s->kept = s->out->n;
	} else if (kills && r % 7 == 0) {
		merge_stage_free(s->m);
		s->out->n = s->kept;
		new_merge(s);
	}
}

static void scaled_run(const frame *f, engine_cfg cfg, results *out, uint64_t seed, bool kills)
{
	scaled s = {.cfg = cfg, .out = out};
	engine_cfg c1 = cfg;
	c1.combine = true;
	for (int p = 0; p < 2; p++) {
		s.count[p] = engine_new(&c1, (result_sink){0});
		assert_non_null(s.count[p]);
		engine_track(s.count[p], true);
		for (int i = 0; i < NIN; i++)
			assert_int_equal(engine_input_add(s.count[p]), i);
	}
	for (int i = 0; i < NIN; i++)
		s.wm[i] = INT64_MIN;
	s.changelog = state_map_new(); /* incremental checkpoints: the compacted topic */
	assert_non_null(s.changelog);
	new_merge(&s);
	int last_commit = 0;
	for (int i = 0; i < NFRAMES; i++) {
		int in = f[i].input;
		engine_add(s.count[owner(in)], in, f[i].ts, f[i].hash, i);
		if (f[i].ts - LATENESS > s.wm[in]) {
			s.wm[in] = f[i].ts - LATENESS;
			engine_watermark(s.count[owner(in)], in, s.wm[in], false);
		}
		uint64_t r = rng(&seed);
		if (r % 300 == 0) {
			commit(&s);
			last_commit = i + 1;
			merge(&s, &seed, kills);
		} else if (kills && r % 1000 == 1) {
			/* counting process p dies: its windows are gone, its frames since the last
			 * commit are read again (its clock, restored, keeps its watermark) */
			int p = (int)((r >> 20) % 2);
			for (int j = 0; j < NIN; j++)
				if (owner(j) == p) {
					engine_input_clear(s.count[p], j);
					if (s.wm[j] != INT64_MIN)
						engine_watermark(s.count[p], j, s.wm[j], false);
				}
			for (int j = last_commit; j <= i; j++)
				if (owner(f[j].input) == p)
					engine_add(s.count[p], f[j].input, f[j].ts, f[j].hash, j);
		}
	}
	for (int i = 0; i < NIN; i++)
		engine_input_finish(s.count[owner(i)], i);
	commit(&s);
	merge(&s, &seed, false);
	assert_true(merge_stage_finished(s.m));
	for (int p = 0; p < 2; p++)
		engine_free(s.count[p]);
	merge_stage_free(s.m);
	state_map_free(s.changelog);
	topic_free(&s.t);
}

static int by_window(const void *a, const void *b)
{
	const result *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

static void assert_same(results *a, results *b)
{
	qsort(a->r, a->n, sizeof(result), by_window);
	qsort(b->r, b->n, sizeof(result), by_window);
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		const result *x = &a->r[i], *y = &b->r[i];
		assert_int_equal(x->kind, y->kind);
		assert_int_equal(x->start, y->start);
		assert_int_equal(x->uniques, y->uniques);
		assert_int_equal(x->frames, y->frames);
		assert_int_equal(x->exact, y->exact);
		assert_true(y->final);
		assert_int_equal(y->late, 0);
	}
}

static void check(uint64_t exact_limit, unsigned users, bool kills, bool want_sketch)
{
	for (uint64_t seed = 1; seed <= 4; seed++) {
		frame *f = make_stream(seed, users);
		results ref = {0}, got = {0};
		reference(f, cfg_of(exact_limit), &ref);
		scaled_run(f, cfg_of(exact_limit), &got, seed * 77, kills);
		assert_same(&ref, &got);
		bool sketch = false;
		for (size_t i = 0; i < ref.n; i++)
			sketch |= !ref.r[i].exact;
		assert_int_equal(sketch, want_sketch);
		free(ref.r);
		free(got.r);
		free(f);
	}
}

static void test_exact_windows_equal_one_engine(void **st)
{
	(void)st;
	check(1000000, 500, false, false);
}

static void test_sketch_windows_bit_for_bit(void **st)
{
	(void)st;
	check(200, 20000, false, true);
}

static void test_kills_of_either_stage(void **st)
{
	(void)st;
	check(1000000, 500, true, false);
	check(200, 20000, true, true);
}

/* ---- the record format ---------------------------------------------------------------------- */

static void test_records_round_trip_and_refuse_damage(void **st)
{
	(void)st;
	uint64_t items[3] = {1, 2, 0xffffffffffffffffULL};
	partial p = {.type = PARTIAL_ITEMS,
	             .input = 7,
	             .kind = WINDOW_HOUR,
	             .start = T0,
	             .end = T0 + 3600,
	             .frames = 42,
	             .items = items,
	             .nitems = 3};
	state_buf b = {0};
	char key[96];
	assert_int_equal(partial_encode(&p, IDENT, &b, key, sizeof key), 0);
	uint64_t *buf = NULL;
	size_t cap = 0;
	partial q;
	assert_null(partial_read(key, b.p, b.n, IDENT, &q, &buf, &cap));
	assert_int_equal(q.input, 7);
	assert_int_equal(q.frames, 42);
	assert_int_equal(q.nitems, 3);
	assert_memory_equal(q.items, items, sizeof items);
	assert_non_null(partial_read(key, b.p, b.n, IDENT + 1, &q, &buf, &cap));      /* foreign */
	assert_non_null(partial_read("w/hour/0/7", b.p, b.n, IDENT, &q, &buf, &cap)); /* moved */
	for (size_t i = 0; i < b.n * 8; i++) {
		b.p[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_non_null(partial_read(key, b.p, b.n, IDENT, &q, &buf, &cap));
		b.p[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	for (size_t n = 0; n < b.n; n++)
		assert_non_null(partial_read(key, b.p, n, IDENT, &q, &buf, &cap));
	partial w = {.type = PARTIAL_WATERMARK, .input = 3, .wm_set = true, .wm = T0, .role = 1};
	assert_int_equal(partial_encode(&w, IDENT, &b, key, sizeof key), 0);
	assert_null(partial_read(key, b.p, b.n, IDENT, &q, &buf, &cap));
	assert_int_equal(q.type, PARTIAL_WATERMARK);
	assert_int_equal(q.wm, T0);
	assert_int_equal(q.role, 1);
	free(buf);
	state_buf_free(&b);
}

static void test_windows_spread_over_partitions(void **st)
{
	(void)st;
	int seen[NQ] = {0};
	for (int64_t s = 0; s < 600; s++) {
		int q = partial_partition(WINDOW_MINUTE, T0 + 60 * s, NQ);
		assert_true(q >= 0 && q < NQ);
		assert_int_equal(q, partial_partition(WINDOW_MINUTE, T0 + 60 * s, NQ));
		seen[q]++;
	}
	for (int q = 0; q < NQ; q++)
		assert_true(seen[q] > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact_windows_equal_one_engine),
	    cmocka_unit_test(test_sketch_windows_bit_for_bit),
	    cmocka_unit_test(test_kills_of_either_stage),
	    cmocka_unit_test(test_records_round_trip_and_refuse_damage),
	    cmocka_unit_test(test_windows_spread_over_partitions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
