/* Tests for parse_pool.c: a batch parsed on several threads gives, item by item, what ingest_frame
 * gives for the same frames (statuses, counts, and the windows the engine emits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "frame.h"
#include "ingest.h"
#include "parse_pool.h"

#define T0 1468244340LL /* a minute boundary */
#define MAX_FRAME 256
#define N 3000

typedef struct capture {
	result r[256];
	int n;
} capture;

static int cap_emit(void *ctx, const result *r)
{
	capture *c = ctx;
	assert_true(c->n < 256);
	c->r[c->n++] = *r;
	return 0;
}

static engine *make(capture *cap)
{
	engine_cfg cfg = {
	    .kinds = 1u << WINDOW_MINUTE,
	    .lateness = 5,
	    .max_ahead = 300,
	    .jump_confirm = 16,
	    .max_pending = 1000,
	    .keep_closed = 3600,
	    .counter = {.mode = COUNTER_EXACT, .exact_limit = 1000000},
	};
	calendar_init(&cfg.cal, NULL);
	memset(cap, 0, sizeof(*cap));
	engine *e = engine_new(&cfg, (result_sink){.emit = cap_emit, .ctx = cap});
	assert_non_null(e);
	assert_int_equal(engine_input_add(e), 0);
	return e;
}

/* Frame i of a mixed batch: mostly valid, with every kind of bad message among them. */
static char *make_frame(int i, size_t *len)
{
	char *b = malloc(MAX_FRAME * 2);
	assert_non_null(b);
	switch (i % 17) {
	case 3:
		*len = 0; /* empty */
		break;
	case 5:
		memset(b, 'x', MAX_FRAME + 10); /* too_long */
		*len = MAX_FRAME + 10;
		break;
	case 7:
		memset(b, ' ', MAX_FRAME + 10); /* blank and long: empty */
		*len = MAX_FRAME + 10;
		break;
	case 11:
		*len =
		    (size_t)snprintf(b, MAX_FRAME, "{\"uid\":\"u%d\",\"ts\":%lld", i, T0 + i / 20);
		break; /* not_json */
	case 13:
		*len = (size_t)snprintf(b, MAX_FRAME, "{\"uid\":\"u%d\",\"ts\":%lld}\r", i % 97,
		                        T0 + i / 20);
		break; /* valid, trailing \r */
	case 15: {     /* valid, exactly MAX_FRAME bytes before a trailing \r: not too long */
		int n =
		    snprintf(b, MAX_FRAME, "{\"uid\":\"u%d\",\"ts\":%lld}", i % 97, T0 + i / 20);
		memset(b + n, ' ', MAX_FRAME - (size_t)n);
		b[MAX_FRAME] = '\r';
		*len = MAX_FRAME + 1;
		break;
	}
	default:
		*len = (size_t)snprintf(b, MAX_FRAME, "{\"uid\":\"u%d\",\"ts\":%lld}", i % 97,
		                        T0 + i / 20);
	}
	return b;
}

static void run(int threads, bool via_ingest_frame, ingest *in, capture *cap, frame_status *st)
{
	frame_parser p;
	assert_int_equal(frame_parser_init(&p, "uid", "ts", FRAME_IMPL_AUTO), 0);
	engine *e = make(cap);
	ingest_init(in, &p, e);
	parse_pool *kp = parse_pool_new(&p, MAX_FRAME, threads);
	assert_non_null(kp);
	static parse_item items[N];
	char *frames[N];
	char *pad = calloc(1, MAX_FRAME * 2 + FRAME_PADDING);
	assert_non_null(pad);
	for (int i = 0; i < N; i++) {
		size_t len;
		frames[i] = make_frame(i, &len);
		items[i] = (parse_item){.buf = i == 1 ? NULL : frames[i],
		                        .len = i == 1 ? 0 : len,
		                        .input = 0,
		                        .offset = i};
	}
	if (via_ingest_frame) { /* the reference: one frame at a time, as the file source does */
		for (int i = 0; i < N; i++) {
			size_t len = items[i].len;
			size_t eff = len && items[i].buf[len - 1] == '\r' ? len - 1 : len;
			if (eff > MAX_FRAME) {
				ingest_too_long(in, len, ingest_blank(items[i].buf, len));
			} else {
				if (len)
					memcpy(pad, items[i].buf, len);
				ingest_frame(in, 0, pad, len, i);
			}
		}
	} else {
		/* batches of varied sizes, some below the parallel threshold */
		for (int i = 0, step = 1; i < N; i += step, step = step * 3 % 1000 + 7) {
			int n = i + step > N ? N - i : step;
			parse_pool_run(kp, items + i, (size_t)n);
			for (int j = i; j < i + n; j++) {
				st[j] = items[j].status;
				parse_pool_apply(in, &items[j]);
			}
		}
	}
	engine_finish(e);
	parse_pool_free(kp);
	engine_free(e);
	for (int i = 0; i < N; i++)
		free(frames[i]);
	free(pad);
}

static void test_threads_equal_ingest_frame(void **state)
{
	(void)state;
	ingest ref, got;
	capture cref, cgot;
	static frame_status st[N];
	run(1, true, &ref, &cref, st);
	for (int threads = 1; threads <= 4; threads++) {
		run(threads, false, &got, &cgot, st);
		assert_int_equal(got.frames_read, ref.frames_read);
		assert_int_equal(got.bytes, ref.bytes);
		for (int s = 0; s < FRAME_STATUS_COUNT; s++)
			assert_int_equal(got.rejected[s], ref.rejected[s]);
		assert_int_equal(cgot.n, cref.n);
		for (int i = 0; i < cref.n; i++) {
			assert_int_equal(cgot.r[i].start, cref.r[i].start);
			assert_int_equal(cgot.r[i].uniques, cref.r[i].uniques);
			assert_int_equal(cgot.r[i].frames, cref.r[i].frames);
		}
	}
	/* the mix holds every kind it was made with */
	assert_true(ref.rejected[FRAME_EMPTY] > 0 && ref.rejected[FRAME_TOO_LONG] > 0);
	assert_true(ref.rejected[FRAME_NOT_JSON] > 0);
	assert_true(cref.n > 2);
	assert_int_equal(st[1], FRAME_EMPTY); /* tombstone */
	assert_int_equal(st[5], FRAME_TOO_LONG);
	assert_int_equal(st[7], FRAME_EMPTY); /* long but blank */
	assert_int_equal(st[13], FRAME_OK);   /* trailing \r ignored */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_threads_equal_ingest_frame),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
