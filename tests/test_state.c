/* Tests for state.c: sealed values round trip and every damaged one is rejected with its reason
 * (each byte flipped, each truncation, another key, another identity); bounded readers; the
 * record map with many keys (put, get, overwrite, delete, iteration, count and bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "state.h"

#define ID 0x1234567890abcdefULL

/* A value with one of each encoding, sealed for key. */
static void build(state_buf *b, const char *key)
{
	state_begin(b, ID);
	sb_u8(b, 0xab);
	sb_u32(b, 0xdeadbeef);
	sb_u64(b, 0x0102030405060708ULL);
	sb_i64(b, -42);
	sb_bytes(b, "hello", 5);
	assert_int_equal(state_seal(b, key), 0);
}

static void test_round_trip(void **state)
{
	(void)state;
	state_buf b = {0};
	build(&b, "ingest");
	assert_false(b.oom);
	assert_int_equal(b.n, 4 + 8 + 1 + 4 + 8 + 8 + 5 + 8);
	assert_memory_equal(b.p, "KQS1", 4);
	assert_int_equal(b.p[4], 0xef); /* identity, little-endian */
	assert_int_equal(b.p[12], 0xab);
	assert_int_equal(b.p[13], 0xef); /* u32 little-endian */
	assert_int_equal(b.p[16], 0xde);
	state_rd r;
	assert_null(state_open("ingest", b.p, b.n, ID, &r));
	assert_int_equal(r.n, 1 + 4 + 8 + 8 + 5);
	assert_int_equal(sr_u8(&r), 0xab);
	assert_int_equal(sr_u32(&r), 0xdeadbeef);
	assert_int_equal(sr_u64(&r), 0x0102030405060708ULL);
	assert_int_equal(sr_i64(&r), -42);
	assert_false(sr_done(&r));
	const uint8_t *p = sr_bytes(&r, 5);
	assert_non_null(p);
	assert_memory_equal(p, "hello", 5);
	assert_true(sr_done(&r));
	state_buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.n, 0);
}

static void test_empty_payload_and_reuse(void **state)
{
	(void)state;
	state_buf b = {0};
	build(&b, "k");
	state_begin(&b, ID); /* reuse: starts over */
	assert_int_equal(b.n, 12);
	assert_int_equal(state_seal(&b, ""), 0);
	state_rd r;
	assert_null(state_open("", b.p, b.n, ID, &r));
	assert_int_equal(r.n, 0);
	assert_true(sr_done(&r));
	assert_non_null(sr_bytes(&r, 0));
	assert_true(sr_done(&r));
	state_buf_free(&b);
}

static void test_every_flip_rejected(void **state)
{
	(void)state;
	state_buf b = {0};
	build(&b, "input/0");
	uint8_t *v = malloc(b.n);
	for (size_t i = 0; i < b.n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(v, b.p, b.n);
			v[i] ^= (uint8_t)(1u << bit);
			state_rd r;
			const char *why = state_open("input/0", v, b.n, ID, &r);
			assert_non_null(why);
			assert_string_equal(why, i < 4 ? "not a kuniq state record"
			                               : "checksum mismatch");
			assert_false(sr_done(&r));
		}
	}
	free(v);
	state_buf_free(&b);
}

static void test_every_truncation_rejected(void **state)
{
	(void)state;
	state_buf b = {0};
	build(&b, "input/0");
	for (size_t len = 0; len < b.n; len++) {
		state_rd r;
		const char *why = state_open("input/0", b.p, len, ID, &r);
		assert_non_null(why);
		assert_string_equal(why, len < 20 ? "truncated" : "checksum mismatch");
		assert_int_equal(sr_u8(&r), 0);
		assert_false(sr_done(&r));
	}
	state_rd r;
	assert_string_equal(state_open("input/0", NULL, 0, ID, &r), "truncated");
	/* a byte appended is as wrong as one missing */
	uint8_t *v = malloc(b.n + 1);
	memcpy(v, b.p, b.n);
	v[b.n] = 0;
	assert_string_equal(state_open("input/0", v, b.n + 1, ID, &r), "checksum mismatch");
	free(v);
	state_buf_free(&b);
}

static void test_wrong_key_and_identity(void **state)
{
	(void)state;
	state_buf b = {0};
	build(&b, "w/0/minute/60");
	state_rd r;
	assert_string_equal(state_open("w/0/minute/120", b.p, b.n, ID, &r), "checksum mismatch");
	assert_string_equal(state_open("w/0/minute/6", b.p, b.n, ID, &r), "checksum mismatch");
	assert_string_equal(state_open("", b.p, b.n, ID, &r), "checksum mismatch");
	assert_string_equal(state_open("w/0/minute/60", b.p, b.n, ID + 1, &r),
	                    "written by another configuration");
	assert_false(sr_done(&r));
	assert_null(state_open("w/0/minute/60", b.p, b.n, ID, &r));
	/* garbage of the right length */
	uint8_t junk[40];
	memset(junk, 'x', sizeof(junk));
	assert_string_equal(state_open("k", junk, sizeof(junk), ID, &r),
	                    "not a kuniq state record");
	state_buf_free(&b);
}

static void test_reader_bounds(void **state)
{
	(void)state;
	static const uint8_t bytes[] = {1, 2, 3, 4, 5, 6, 7};
	state_rd r = {.p = bytes, .n = sizeof(bytes)};
	assert_int_equal(sr_u32(&r), 0x04030201);
	assert_int_equal(sr_u64(&r), 0); /* only 3 left */
	assert_true(r.bad);
	assert_int_equal(sr_u8(&r), 0); /* every later read is 0, even one that would fit */
	assert_null(sr_bytes(&r, 0));
	assert_false(sr_done(&r));

	r = (state_rd){.p = bytes, .n = sizeof(bytes)};
	assert_null(sr_bytes(&r, SIZE_MAX)); /* no overflow in the bounds check */
	assert_true(r.bad);

	r = (state_rd){.p = bytes, .n = sizeof(bytes)};
	assert_non_null(sr_bytes(&r, 3));
	assert_int_equal(sr_u32(&r), 0x07060504);
	assert_true(sr_done(&r));
	assert_int_equal(sr_u8(&r), 0);
	assert_false(sr_done(&r));

	r = (state_rd){0}; /* nothing at all */
	assert_true(sr_done(&r));
	assert_int_equal(sr_i64(&r), 0);
	assert_false(sr_done(&r));
}

static void test_buf_encodings(void **state)
{
	(void)state;
	state_buf b = {0};
	sb_u32(&b, 1);
	sb_i64(&b, -1);
	sb_bytes(&b, NULL, 0);
	for (int i = 0; i < 100000; i++) /* growth */
		sb_u8(&b, (uint8_t)i);
	assert_false(b.oom);
	assert_int_equal(b.n, 4 + 8 + 100000);
	state_rd r = {.p = b.p, .n = b.n};
	assert_int_equal(sr_u32(&r), 1);
	assert_int_equal(sr_i64(&r), -1);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(sr_u8(&r), (uint8_t)i);
	assert_true(sr_done(&r));
	state_buf_reset(&b);
	assert_int_equal(b.n, 0);
	/* a failed append: oom, nothing appended from then on, the seal fails */
	b.oom = true;
	sb_u64(&b, 7);
	assert_int_equal(b.n, 0);
	assert_int_equal(state_seal(&b, "k"), -1);
	state_begin(&b, ID); /* begin resets oom */
	assert_false(b.oom);
	assert_int_equal(state_seal(&b, "k"), 0);
	state_buf_free(&b);
}

static void key_of(char *k, size_t n, int i)
{
	snprintf(k, n, "w/%d/minute/%d", i % 7, i * 60);
}

/* Value of key i, version v: length i % 37 (0 included), bytes from i and v. */
static size_t value_of(uint8_t *v, int i, int ver)
{
	size_t len = (size_t)(i % 37);
	for (size_t j = 0; j < len; j++)
		v[j] = (uint8_t)(i * 31 + (int)j * 7 + ver);
	return len;
}

static void check_map(const state_map *m, int n, int ver, bool (*present)(int))
{
	size_t count = 0, bytes = 0;
	for (int i = 0; i < n; i++) {
		char k[48];
		uint8_t want[64];
		key_of(k, sizeof(k), i);
		size_t len = 999;
		const uint8_t *v = state_map_get(m, k, &len);
		if (!present(i)) {
			assert_null(v);
			continue;
		}
		size_t wl = value_of(want, i, ver);
		assert_non_null(v); /* empty values too */
		assert_int_equal(len, wl);
		assert_memory_equal(v, want, wl);
		count++;
		bytes += strlen(k) + wl;
	}
	assert_int_equal(state_map_count(m), count);
	assert_int_equal(state_map_bytes(m), bytes);
	/* iteration: every present key exactly once, with its value */
	size_t pos = 0, seen = 0, seen_bytes = 0, len;
	const char *key;
	const uint8_t *val;
	while (state_map_next(m, &pos, &key, &val, &len)) {
		const uint8_t *g = state_map_get(m, key, NULL);
		assert_ptr_equal(g, val);
		seen++;
		seen_bytes += strlen(key) + len;
	}
	assert_false(state_map_next(m, &pos, &key, &val, &len)); /* stays at the end */
	assert_int_equal(seen, count);
	assert_int_equal(seen_bytes, bytes);
}

static bool all(int i)
{
	(void)i;
	return true;
}

static bool not_third(int i)
{
	return i % 3 != 0;
}

static void test_map_many(void **state)
{
	(void)state;
	enum { N = 100000 };
	state_map *m = state_map_new();
	assert_non_null(m);
	assert_int_equal(state_map_count(m), 0);
	assert_null(state_map_get(m, "nothing", NULL));
	assert_int_equal(state_map_put(m, "nothing", NULL, 0), 0); /* deleting from empty */
	size_t pos = 0, len;
	const char *key;
	const uint8_t *val;
	assert_false(state_map_next(m, &pos, &key, &val, &len));

	uint8_t v[64];
	char k[48];
	for (int i = 0; i < N; i++) {
		key_of(k, sizeof(k), i);
		assert_int_equal(state_map_put(m, k, v, value_of(v, i, 0)), 0);
	}
	check_map(m, N, 0, all);
	for (int i = 0; i < N; i++) { /* overwrite: new values, same count */
		key_of(k, sizeof(k), i);
		assert_int_equal(state_map_put(m, k, v, value_of(v, i, 1)), 0);
	}
	check_map(m, N, 1, all);
	for (int i = 0; i < N; i += 3) { /* delete a third, twice (the second is a no-op) */
		key_of(k, sizeof(k), i);
		assert_int_equal(state_map_put(m, k, NULL, 0), 0);
		assert_int_equal(state_map_put(m, k, NULL, 0), 0);
	}
	check_map(m, N, 1, not_third);
	for (int i = 0; i < N; i += 3) { /* and put them back */
		key_of(k, sizeof(k), i);
		assert_int_equal(state_map_put(m, k, v, value_of(v, i, 1)), 0);
	}
	check_map(m, N, 1, all);
	for (int i = 0; i < N; i++) {
		key_of(k, sizeof(k), i);
		assert_int_equal(state_map_put(m, k, NULL, 0), 0);
	}
	assert_int_equal(state_map_count(m), 0);
	assert_int_equal(state_map_bytes(m), 0);
	pos = 0;
	assert_false(state_map_next(m, &pos, &key, &val, &len));
	state_map_free(m);
	state_map_free(NULL);
}

/* Churn: many puts and deletes of a sliding set of keys (a changelog read from its start). */
static void test_map_churn(void **state)
{
	(void)state;
	state_map *m = state_map_new();
	char k[48];
	uint8_t v[8] = {0};
	for (int i = 0; i < 200000; i++) {
		snprintf(k, sizeof(k), "d/%d", i);
		assert_int_equal(state_map_put(m, k, v, sizeof(v)), 0);
		if (i >= 1000) {
			snprintf(k, sizeof(k), "d/%d", i - 1000);
			assert_int_equal(state_map_put(m, k, NULL, 0), 0);
		}
	}
	assert_int_equal(state_map_count(m), 1000);
	for (int i = 199000; i < 200000; i++) {
		snprintf(k, sizeof(k), "d/%d", i);
		assert_non_null(state_map_get(m, k, NULL));
	}
	snprintf(k, sizeof(k), "d/%d", 198999);
	assert_null(state_map_get(m, k, NULL));
	state_map_free(m);
}

static void test_map_sink(void **state)
{
	(void)state;
	state_map *m = state_map_new();
	state_sink s = state_map_sink(m);
	state_buf b = {0};
	build(&b, "ingest");
	assert_int_equal(s.put(s.ctx, "ingest", b.p, b.n), 0);
	assert_int_equal(s.put(s.ctx, "empty", (const uint8_t *)"", 0), 0);
	size_t len;
	const uint8_t *v = state_map_get(m, "ingest", &len);
	assert_int_equal(len, b.n);
	state_rd r;
	assert_null(state_open("ingest", v, len, ID, &r)); /* the copy opens like the original */
	assert_non_null(state_map_get(m, "empty", &len));
	assert_int_equal(len, 0);
	assert_int_equal(state_map_bytes(m), 6 + b.n + 5);
	assert_int_equal(s.put(s.ctx, "ingest", NULL, 0), 0);
	assert_null(state_map_get(m, "ingest", &len));
	assert_int_equal(state_map_count(m), 1);
	state_buf_free(&b);
	state_map_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_empty_payload_and_reuse),
	    cmocka_unit_test(test_every_flip_rejected),
	    cmocka_unit_test(test_every_truncation_rejected),
	    cmocka_unit_test(test_wrong_key_and_identity),
	    cmocka_unit_test(test_reader_bounds),
	    cmocka_unit_test(test_buf_encodings),
	    cmocka_unit_test(test_map_many),
	    cmocka_unit_test(test_map_churn),
	    cmocka_unit_test(test_map_sink),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
