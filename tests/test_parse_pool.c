/* Tests for parse_pool.c: a batch parsed on several threads gives, item by item, exactly what
 * parse_classify gives for each frame alone (status, ts, uid hash), whatever the batch sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "parse_pool.h"

#define T0 1468244340LL /* a minute boundary */
#define MAX_FRAME 256
#define N 3000

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

typedef struct verdict {
	frame_status st;
	int64_t ts;
	uint64_t hash;
} verdict;

/* The reference: each frame classified alone, copied into a padded buffer. */
static void reference(const frame_parser *p, char **frames, const size_t *lens, verdict *v)
{
	char *pad = calloc(1, MAX_FRAME * 2 + FRAME_PADDING);
	assert_non_null(pad);
	for (int i = 0; i < N; i++) {
		v[i] = (verdict){0};
		if (lens[i])
			memcpy(pad, frames[i], lens[i]);
		v[i].st = parse_classify(p, MAX_FRAME, pad, lens[i], &v[i].ts, &v[i].hash);
	}
	free(pad);
}

static void test_threads_equal_one_by_one(void **state)
{
	(void)state;
	frame_parser p;
	assert_int_equal(frame_parser_init(&p, "uid", "ts", FRAME_IMPL_AUTO), 0);
	static char *frames[N];
	static size_t lens[N];
	static verdict ref[N];
	static parse_item items[N];
	for (int i = 0; i < N; i++)
		frames[i] = make_frame(i, &lens[i]);
	lens[1] = 0; /* a tombstone (NULL payload) below */
	reference(&p, frames, lens, ref);
	for (int threads = 1; threads <= 4; threads++) {
		parse_pool *kp = parse_pool_new(&p, MAX_FRAME, threads);
		assert_non_null(kp);
		for (int i = 0; i < N; i++)
			items[i] = (parse_item){.buf = i == 1 ? NULL : frames[i], .len = lens[i]};
		/* batches of varied sizes, some below the parallel threshold */
		for (int i = 0, step = 1; i < N; i += step, step = step * 3 % 1000 + 7) {
			int n = i + step > N ? N - i : step;
			parse_pool_run(kp, items + i, (size_t)n);
		}
		for (int i = 0; i < N; i++) {
			assert_int_equal(items[i].status, ref[i].st);
			if (ref[i].st == FRAME_OK) {
				assert_int_equal(items[i].ts, ref[i].ts);
				assert_int_equal(items[i].hash, ref[i].hash);
			}
		}
		parse_pool_free(kp);
	}
	/* the mix holds every kind it was made with */
	assert_int_equal(ref[1].st, FRAME_EMPTY); /* tombstone */
	assert_int_equal(ref[5].st, FRAME_TOO_LONG);
	assert_int_equal(ref[7].st, FRAME_EMPTY); /* long but blank */
	assert_int_equal(ref[11].st, FRAME_NOT_JSON);
	assert_int_equal(ref[13].st, FRAME_OK); /* trailing \r ignored */
	assert_int_equal(ref[15].st, FRAME_OK); /* MAX_FRAME bytes, then \r */
	assert_int_equal(ref[13].ts, T0 + 13 / 20);
	for (int i = 0; i < N; i++)
		free(frames[i]);
}

static void test_blank(void **state)
{
	(void)state;
	assert_true(parse_blank(" \t\r ", 4));
	assert_true(parse_blank("", 0));
	assert_false(parse_blank("  x", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_threads_equal_one_by_one),
	    cmocka_unit_test(test_blank),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
