/* Tests for checkpoint.c, engine_state.c and clock_state.c: a run that is checkpointed
 * (incrementally, into a map standing for the compacted changelog topic) and "killed" at random
 * moments, then restored into a fresh engine and ingest and continued from the checkpoint's
 * position, emits exactly the results of an uninterrupted run; results emitted after the last
 * checkpoint before a kill are dropped (they belonged to the aborted transaction). Streams mix
 * two inputs, disorder, late frames, far-ahead garbage, windows that switch to the sketch, and
 * both --late modes. Also: corrupt, foreign and missing records are refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "checkpoint.h"
#include "ingest.h"
#include "results.h"

#define T0 1468244340LL
#define NFRAMES 6000
#define BATCH 50
#define IDENT 0x1234u

typedef struct stream {
	char text[NFRAMES][96];
	int input[NFRAMES];
} stream;

static void make_stream(stream *st, uint64_t seed)
{
	int64_t t = T0;
	for (int i = 0; i < NFRAMES; i++) {
		uint64_t r = rng(&seed);
		t += (int64_t)(r % 3); /* ~1 s per frame: a few hours */
		if (i % 2000 == 1999)
			t += 7200; /* a gap: the clock jumps, then settles */
		int64_t ts = t - (int64_t)((r >> 8) % 4);
		if ((r >> 16) % 97 == 0)
			ts = t - 400; /* late */
		if ((r >> 24) % 211 == 0)
			ts = t + 86400 * 30; /* garbage far ahead */
		unsigned uid = (unsigned)((r >> 32) % ((r >> 40) % 5 == 0 ? 5000 : 300));
		snprintf(st->text[i], sizeof st->text[i], "{\"uid\":\"u%u\",\"ts\":%lld}", uid,
		         (long long)ts);
		st->input[i] = (int)((r >> 48) % 2);
	}
}

typedef struct run {
	frame_parser parser;
	engine *eng;
	ingest in;
	int inputs[2];
} run;

static engine_cfg ecfg(bool update)
{
	engine_cfg ec = {.kinds = (1u << WINDOW_MINUTE) | (1u << WINDOW_HOUR) | (1u << WINDOW_DAY),
	                 .keep_closed = 3600,
	                 .late_update = update,
	                 .counter = {.mode = COUNTER_AUTO, .exact_limit = 200}};
	calendar_init(&ec.cal, NULL);
	return ec;
}

static void run_new(run *ru, bool update, results *rs)
{
	memset(ru, 0, sizeof(*ru));
	assert_int_equal(frame_parser_init(&ru->parser, "uid", "ts", FRAME_IMPL_AUTO), 0);
	engine_cfg ec = ecfg(update);
	ru->eng = engine_new(&ec, (result_sink){.emit = keep, .ctx = rs});
	assert_non_null(ru->eng);
	engine_track(ru->eng, true);
	ingest_cfg ic = {.parser = &ru->parser,
	                 .max_frame = 200,
	                 .threads = 1,
	                 .clock = {.lateness = 5, .max_ahead = 300, .confirm = 8, .max_held = 64}};
	char err[128];
	assert_int_equal(ingest_init(&ru->in, &ic, ru->eng, err, sizeof err), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(ru->inputs[i] = ingest_input_add(&ru->in), i);
}

static void run_free(run *ru)
{
	ingest_free(&ru->in);
	engine_free(ru->eng);
}

/* Frames [from, to) in batches of BATCH. */
static void feed(run *ru, stream *st, int from, int to)
{
	parse_item items[BATCH];
	for (int i = from; i < to; i += BATCH) {
		int n = to - i < BATCH ? to - i : BATCH;
		for (int j = 0; j < n; j++)
			items[j] = (parse_item){.buf = st->text[i + j],
			                        .len = strlen(st->text[i + j]),
			                        .input = st->input[i + j],
			                        .offset = i + j,
			                        .bytes = strlen(st->text[i + j])};
		ingest_batch(&ru->in, items, (size_t)n);
	}
}

static void checkpoint(run *ru, state_map *m, int next)
{
	checkpoint_input ins[2] = {{0, 0, {next, 0, 0}}, {1, 1, {next, 0, 0}}};
	checkpoint_stats cs;
	assert_int_equal(checkpoint_write(&ru->in, ins, 2, IDENT, state_map_sink(m), false, &cs),
	                 0);
}

/* Restores a fresh run from m; returns the position to continue from. */
static int restore(run *ru, state_map *m)
{
	char err[256];
	checkpoint_pos pos[2];
	int rc = checkpoint_restore(&ru->in, m, IDENT, err, sizeof err);
	if (rc != 0)
		fail_msg("restore: %s", err);
	for (int i = 0; i < 2; i++) {
		rc = checkpoint_restore_input(&ru->in, i, i, m, IDENT, &pos[i], err, sizeof err);
		if (rc != 0)
			fail_msg("restore input %d: %d %s", i, rc, err);
	}
	assert_int_equal(pos[0].a, pos[1].a);
	return (int)pos[0].a;
}

static void same(const results *a, const results *b)
{
	size_t n = a->n < b->n ? a->n : b->n;
	for (size_t i = 0; i < n; i++) {
		const result *x = &a->r[i], *y = &b->r[i];
		if (x->kind != y->kind || x->start != y->start || x->uniques != y->uniques ||
		    x->frames != y->frames || x->exact != y->exact || x->final != y->final ||
		    x->revision != y->revision || x->late != y->late)
			fail_msg("record %zu differs: kind %d/%d start %lld/%lld uniques %llu/%llu "
			         "frames %llu/%llu rev %u/%u late %llu/%llu",
			         i, x->kind, y->kind, (long long)x->start, (long long)y->start,
			         (unsigned long long)x->uniques, (unsigned long long)y->uniques,
			         (unsigned long long)x->frames, (unsigned long long)y->frames,
			         x->revision, y->revision, (unsigned long long)x->late,
			         (unsigned long long)y->late);
	}
	assert_int_equal(a->n, b->n);
}

static void kill_and_restore(bool update, uint64_t seed)
{
	static stream st;
	make_stream(&st, seed);
	results ra = {0}, rb = {0};
	run a, b;
	run_new(&a, update, &ra);
	feed(&a, &st, 0, NFRAMES);
	ingest_finish(&a.in);

	state_map *m = state_map_new();
	assert_non_null(m);
	run_new(&b, update, &rb);
	uint64_t s = seed * 7 + 1;
	int pos = 0, kills = 0;
	size_t committed = 0;
	bool saved = false;
	while (pos < NFRAMES) {
		int step = BATCH * (1 + (int)(rng(&s) % 12));
		int to = pos + step < NFRAMES ? pos + step : NFRAMES;
		feed(&b, &st, pos, to);
		pos = to;
		if (rng(&s) % 3 == 0) {
			checkpoint(&b, m, pos);
			committed = rb.n;
			saved = true;
		}
		if (rng(&s) % 4 == 0) {
			/* killed: what was emitted since the last commit is gone; restore */
			run_free(&b);
			rb.n = committed;
			run_new(&b, update, &rb);
			pos = saved ? restore(&b, m) : 0;
			kills++;
		}
	}
	ingest_finish(&b.in);
	same(&ra, &rb);
	assert_true(kills >= 2);
	/* the summary's counters too */
	assert_int_equal(a.in.frames_read, b.in.frames_read);
	assert_int_equal(ingest_ts_ahead(&a.in), ingest_ts_ahead(&b.in));
	for (int k = 0; k < WINDOW_KIND_COUNT; k++)
		assert_int_equal(engine_get_stats(a.eng)->late[k],
		                 engine_get_stats(b.eng)->late[k]);
	run_free(&a);
	run_free(&b);
	state_map_free(m);
	free(ra.r);
	free(rb.r);
}

static void test_kill_restore_drop(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 6; seed++)
		kill_and_restore(false, seed);
}

static void test_kill_restore_update(void **state)
{
	(void)state;
	for (uint64_t seed = 11; seed <= 16; seed++)
		kill_and_restore(true, seed);
}

/* A map holding one checkpoint of a short run. */
static state_map *one_checkpoint(void)
{
	static stream st;
	make_stream(&st, 99);
	results rs = {0};
	run r;
	run_new(&r, false, &rs);
	feed(&r, &st, 0, 1000);
	state_map *m = state_map_new();
	checkpoint(&r, m, 1000);
	run_free(&r);
	free(rs.r);
	return m;
}

static int try_restore(state_map *m, uint64_t ident, char *err, size_t len)
{
	results rs = {0};
	run r;
	run_new(&r, false, &rs);
	checkpoint_pos pos;
	int rc = checkpoint_restore(&r.in, m, ident, err, len);
	for (int i = 0; rc == 0 && i < 2; i++)
		rc = checkpoint_restore_input(&r.in, i, i, m, ident, &pos, err, len);
	run_free(&r);
	free(rs.r);
	return rc;
}

static void test_bad_records_refused(void **state)
{
	(void)state;
	char err[256];
	state_map *m = one_checkpoint();
	assert_int_equal(try_restore(m, IDENT, err, sizeof err), 0);
	assert_int_equal(try_restore(m, IDENT + 1, err, sizeof err), -1);
	assert_non_null(strstr(err, "another configuration"));
	/* every record, one byte flipped in the middle: refused, naming the record */
	size_t pos = 0, len;
	const char *key;
	const uint8_t *val;
	int n = 0;
	while (state_map_next(m, &pos, &key, &val, &len)) {
		state_map *c = state_map_new();
		size_t p2 = 0, l2;
		const char *k2;
		const uint8_t *v2;
		while (state_map_next(m, &p2, &k2, &v2, &l2)) {
			uint8_t *copy = malloc(l2);
			memcpy(copy, v2, l2);
			if (strcmp(k2, key) == 0)
				copy[l2 / 2] ^= 0x10;
			state_map_put(c, k2, copy, l2);
			free(copy);
		}
		assert_int_equal(try_restore(c, IDENT, err, sizeof err), -1);
		assert_non_null(strstr(err, key));
		state_map_free(c);
		n++;
	}
	assert_true(n > 5);
	/* a missing part of a window */
	pos = 0;
	while (state_map_next(m, &pos, &key, &val, &len))
		if (strncmp(key, "w/", 2) == 0 && strstr(key, "/b0")) {
			char k[160];
			snprintf(k, sizeof k, "%s", key);
			state_map_put(m, k, NULL, 0);
			break;
		}
	assert_int_equal(try_restore(m, IDENT, err, sizeof err), -1);
	assert_non_null(strstr(err, "missing"));
	state_map_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kill_restore_drop),
	    cmocka_unit_test(test_kill_restore_update),
	    cmocka_unit_test(test_bad_records_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
