/* test_frame.c - unit tests of the frame parser (src/frame.h): validation, reason codes, uid/ts
 * extraction, and agreement of the scalar and AVX2 paths.
 *
 * Every input is copied into a buffer of exactly len + FRAME_PADDING bytes (so ASan catches reads
 * beyond the padding) and parsed several times with different padding contents and with every
 * implementation this CPU supports; all parses must agree, or the test fails.
 *
 * On a CPU without AVX2 (or with KUNIQ_TEST_NO_AVX2=1 in the environment, to see it happen) only
 * the scalar path runs, and the tests that exist for the AVX2 path (block and chunk boundaries)
 * print a SKIP line with the reason instead of passing on the scalar path alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avx2_skip.h"
#include "frame.h"
#include "frame_internal.h"

static const uint8_t paddings[] = {0x00, '"', '}', ']', ' ', 0xFF, '\\', '0'};

/* The AVX2 path's own verdict (before frame_parse's scalar fallback for invalid frames) must be
 * FRAME_NOT_JSON exactly when the frame is invalid, and the final status otherwise. */
static void check_avx2_raw(const frame_parser *p, const uint8_t *b, size_t len, frame_status want)
{
	frame f;
	frame_status raw = frame_parse_avx2(p, (const char *)b, len, &f);
	bool invalid = want == FRAME_NOT_JSON || want == FRAME_TOO_DEEP;
	if (invalid ? raw != FRAME_NOT_JSON : raw != want)
		fail_msg("AVX2 path alone says %s, the frame is %s", frame_status_name(raw),
		         frame_status_name(want));
}

/* Parses data[0..len) with the given keys; checks that all implementations and paddings agree.
 * On FRAME_OK, out->uid points into data. */
static frame_status parse_keys(const char *uid_key, const char *ts_key, const void *data,
                               size_t len, frame *out)
{
	frame_impl impls[] = {FRAME_IMPL_SCALAR, FRAME_IMPL_AVX2};
	uint8_t *b = malloc(len + FRAME_PADDING);
	assert_non_null(b);
	if (len)
		memcpy(b, data, len);
	frame_status first = FRAME_STATUS_COUNT;
	frame ref = {0};
	for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++) {
		if (impls[i] == FRAME_IMPL_AVX2 && !have_avx2())
			continue; /* reported by require_avx2 in the AVX2 tests */
		frame_parser p;
		assert_int_equal(frame_parser_init(&p, uid_key, ts_key, impls[i]), 0);
		assert_int_equal(p.impl, impls[i]);
		for (size_t k = 0; k < sizeof paddings; k++) {
			memset(b + len, paddings[k], FRAME_PADDING);
			frame f = {0};
			frame_status st = frame_parse(&p, (const char *)b, len, &f);
			if (first == FRAME_STATUS_COUNT) {
				first = st;
				ref = f;
			}
			if (st != first)
				fail_msg("impl %d padding 0x%02x: %s, first parse said %s",
				         impls[i], paddings[k], frame_status_name(st),
				         frame_status_name(first));
			if (impls[i] == FRAME_IMPL_AVX2)
				check_avx2_raw(&p, b, len, st);
			if (st == FRAME_OK) {
				assert_ptr_equal(f.uid, ref.uid);
				assert_int_equal(f.uid_len, ref.uid_len);
				assert_int_equal(f.ts, ref.ts);
			}
		}
	}
	if (first == FRAME_OK) {
		ref.uid = (const char *)data + (ref.uid - (const char *)b);
		*out = ref;
	}
	free(b);
	return first;
}

static frame_status parse_n(const void *data, size_t len, frame *out)
{
	return parse_keys("uid", "ts", data, len, out);
}

static frame_status parse(const char *s, frame *out)
{
	return parse_n(s, strlen(s), out);
}

static void expect_status(const char *s, frame_status want)
{
	frame f;
	frame_status st = parse(s, &f);
	if (st != want)
		fail_msg("%s: got %s, want %s", s, frame_status_name(st), frame_status_name(want));
}

static void expect_ok(const char *s, const char *uid, int64_t ts)
{
	frame f = {0};
	frame_status st = parse(s, &f);
	if (st != FRAME_OK)
		fail_msg("%s: got %s, want ok", s, frame_status_name(st));
	if (f.uid_len != strlen(uid) || memcmp(f.uid, uid, f.uid_len) != 0)
		fail_msg("%s: uid '%.*s', want '%s'", s, (int)f.uid_len, f.uid, uid);
	if (f.ts != ts)
		fail_msg("%s: ts %lld, want %lld", s, (long long)f.ts, (long long)ts);
}

/* Wraps v as the value of an extra key of a valid frame. */
static void expect_embedded(const char *v, frame_status want)
{
	char buf[512];
	snprintf(buf, sizeof buf, "{\"uid\":\"u\",\"ts\":1468244384,\"x\":%s}", v);
	expect_status(buf, want);
}

static void test_status_names(void **state)
{
	(void)state;
	const char *names[] = {"ok",       "empty",      "too_long", "not_json",
	                       "too_deep", "not_object", "no_uid",   "bad_uid",
	                       "dup_uid",  "no_ts",      "bad_ts",   "dup_ts"};
	assert_int_equal(sizeof names / sizeof names[0], FRAME_STATUS_COUNT);
	for (int i = 0; i < FRAME_STATUS_COUNT; i++)
		assert_string_equal(frame_status_name((frame_status)i), names[i]);
	assert_string_equal(frame_status_name(FRAME_STATUS_COUNT), "unknown");
}

static void test_init(void **state)
{
	(void)state;
	frame_parser p;
	assert_int_equal(frame_parser_init(&p, "user", "time", FRAME_IMPL_AUTO), 0);
	assert_true(p.impl == FRAME_IMPL_SCALAR || p.impl == FRAME_IMPL_AVX2);
	assert_int_equal(p.uid_key_len, 4);
	assert_int_equal(p.ts_key_len, 4);
	assert_int_equal(frame_parser_init(&p, "uid", "ts", FRAME_IMPL_SCALAR), 0);
	assert_int_equal(p.impl, FRAME_IMPL_SCALAR);
	assert_int_equal(frame_parser_init(&p, "uid", "ts", (frame_impl)77), -1);
	__builtin_cpu_init();
	bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul") &&
	            __builtin_cpu_supports("bmi2");
	assert_int_equal(frame_parser_init(&p, "uid", "ts", FRAME_IMPL_AVX2), avx2 ? 0 : -1);
	if (avx2) {
		assert_int_equal(p.impl, FRAME_IMPL_AVX2);
		assert_int_equal(frame_parser_init(&p, "uid", "ts", FRAME_IMPL_AUTO), 0);
		assert_int_equal(p.impl, FRAME_IMPL_AVX2);
	}
}

static void test_valid_basic(void **state)
{
	(void)state;
	expect_ok("{\"uid\":\"abc\",\"ts\":1468244384}", "abc", 1468244384);
	expect_ok("{\"ts\":1468244384,\"uid\":\"abc\"}", "abc", 1468244384); /* key order */
	expect_ok(" \t{ \"uid\" : \"abc\" , \"ts\" : 1 } \r\n\t ", "abc", 1);
	expect_ok("{\"uid\":\"\",\"ts\":0}", "", 0);
	expect_ok("{\"a\":1,\"a\":2,\"uid\":\"x\",\"b\":[],\"ts\":5,\"b\":{}}", "x", 5);
	expect_ok("{\"uid\":\"abc\",\"ts\":1468244384}\r", "abc", 1468244384);
}

static void test_nested_ignored(void **state)
{
	(void)state;
	expect_ok(
	    "{\"n\":{\"uid\":1,\"ts\":\"x\"},\"uid\":\"top\",\"ts\":7,\"m\":[{\"uid\":\"in\"}]}",
	    "top", 7);
	expect_ok("{\"n\":{\"uid\":\"a\",\"uid\":\"b\",\"ts\":1,\"ts\":2},\"uid\":\"t\",\"ts\":3}",
	          "t", 3);
	expect_status("{\"n\":{\"uid\":\"a\"},\"ts\":1}", FRAME_NO_UID);
	expect_status("{\"n\":{\"ts\":1},\"uid\":\"a\"}", FRAME_NO_TS);
	expect_status("[{\"uid\":\"a\",\"ts\":1}]", FRAME_NOT_OBJECT);
}

static void test_reasons(void **state)
{
	(void)state;
	expect_status("", FRAME_EMPTY);
	expect_status(" \t\r\n ", FRAME_EMPTY);
	expect_status("\f", FRAME_NOT_JSON);
	expect_status("{", FRAME_NOT_JSON);
	expect_status("{\"uid\":\"a\",\"ts\":1", FRAME_NOT_JSON);
	expect_status("{\"uid\":\"a\",\"ts\":1}}", FRAME_NOT_JSON);
	expect_status("{\"uid\":\"a\",\"ts\":1} x", FRAME_NOT_JSON);
	expect_status("{\"uid\":\"a\",\"ts\":1}{}", FRAME_NOT_JSON);
	expect_status("[1", FRAME_NOT_JSON); /* not_json takes precedence over not_object */
	expect_status("[]", FRAME_NOT_OBJECT);
	expect_status("\"uid\"", FRAME_NOT_OBJECT);
	expect_status("1468244384", FRAME_NOT_OBJECT);
	expect_status("null", FRAME_NOT_OBJECT);
	expect_status("{}", FRAME_NO_UID);
	expect_status("{\"ts\":1}", FRAME_NO_UID);
	expect_status("{\"uid\":1,\"ts\":1}", FRAME_BAD_UID);
	expect_status("{\"uid\":null,\"ts\":1}", FRAME_BAD_UID);
	expect_status("{\"uid\":true}", FRAME_BAD_UID); /* uid errors before ts errors */
	expect_status("{\"uid\":[\"a\"],\"ts\":1}", FRAME_BAD_UID);
	expect_status("{\"uid\":{\"a\":\"b\"},\"ts\":1}", FRAME_BAD_UID);
	expect_status("{\"uid\":\"a\",\"uid\":\"a\",\"ts\":1}", FRAME_DUP_UID);
	expect_status("{\"uid\":1,\"uid\":\"a\",\"ts\":1}", FRAME_BAD_UID); /* bad before dup */
	expect_status("{\"uid\":\"a\",\"uid\":[],\"ts\":1}", FRAME_BAD_UID);
	expect_status("{\"uid\":\"a\"}", FRAME_NO_TS);
	expect_status("{\"uid\":\"a\",\"ts\":null}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"a\",\"ts\":false}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"a\",\"ts\":[1]}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"a\",\"ts\":{}}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"a\",\"ts\":1,\"ts\":1}", FRAME_DUP_TS);
	expect_status("{\"uid\":\"a\",\"ts\":1,\"ts\":\"x\"}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"a\",\"ts\":1e400,\"ts\":1}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"a\",\"ts\":\"1\",\"ts\":1.5}", FRAME_DUP_TS);
	expect_status("{\"ts\":1,\"uid\":\"a\",\"ts\":2,\"uid\":\"b\"}", FRAME_DUP_UID);
}

static void test_ts_forms(void **state)
{
	(void)state;
	expect_ok("{\"uid\":\"u\",\"ts\":1468244384}", "u", 1468244384);
	expect_ok("{\"uid\":\"u\",\"ts\":1468244384.9}", "u", 1468244384);
	expect_ok("{\"uid\":\"u\",\"ts\":1.468244384e9}", "u", 1468244384);
	expect_ok("{\"uid\":\"u\",\"ts\":1.4682443849E+9}", "u", 1468244384);
	expect_ok("{\"uid\":\"u\",\"ts\":14682443840e-1}", "u", 1468244384);
	expect_ok("{\"uid\":\"u\",\"ts\":\"1468244384\"}", "u", 1468244384);
	expect_ok("{\"uid\":\"u\",\"ts\":\"0001468244384\"}", "u", 1468244384);
	expect_ok("{\"uid\":\"u\",\"ts\":\"999999999999999999\"}", "u", 999999999999999999);
	expect_ok("{\"uid\":\"u\",\"ts\":-1}", "u", -1);
	expect_ok("{\"uid\":\"u\",\"ts\":-0.5}", "u", -1);
	expect_ok("{\"uid\":\"u\",\"ts\":-0}", "u", 0);
	expect_ok("{\"uid\":\"u\",\"ts\":-0.0e7}", "u", 0);
	expect_ok("{\"uid\":\"u\",\"ts\":0.999}", "u", 0);
	expect_ok("{\"uid\":\"u\",\"ts\":1e-400}", "u", 0);
	expect_ok("{\"uid\":\"u\",\"ts\":-1e-400}", "u", -1);
	expect_ok("{\"uid\":\"u\",\"ts\":1e-99999999999999999999999}", "u", 0);
	expect_ok("{\"uid\":\"u\",\"ts\":1e18}", "u", 1000000000000000000);
	expect_ok("{\"uid\":\"u\",\"ts\":9223372036854775807}", "u", INT64_MAX);
	expect_ok("{\"uid\":\"u\",\"ts\":9223372036854775807.99}", "u", INT64_MAX);
	expect_ok("{\"uid\":\"u\",\"ts\":-9223372036854775808}", "u", INT64_MIN);
	expect_ok("{\"uid\":\"u\",\"ts\":-9223372036854775807.5}", "u", INT64_MIN);
	expect_ok("{\"uid\":\"u\",\"ts\":0.00009223372036854775807e23}", "u", INT64_MAX);
	expect_ok("{\"uid\":\"u\",\"ts\":123456789012345678901234567890e-20}", "u", 1234567890);
	expect_ok("{\"uid\":\"u\",\"ts\":1468244384.00000000000000000000001}", "u", 1468244384);
	expect_ok("{\"uid\":\"u\",\"ts\":-1468244384.00000000000000000000001}", "u", -1468244385);
	expect_ok("{\"uid\":\"u\",\"ts\":100000000000000000000e-3}", "u", 100000000000000000);
	expect_status("{\"uid\":\"u\",\"ts\":9223372036854775808}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"u\",\"ts\":-9223372036854775808.5}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"u\",\"ts\":-9223372036854775809}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"u\",\"ts\":1e19}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"u\",\"ts\":1E400}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"u\",\"ts\":1e99999999999999999999999}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"u\",\"ts\":\"\"}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"u\",\"ts\":\"1234567890123456789\"}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"u\",\"ts\":\"-1\"}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"u\",\"ts\":\"+1\"}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"u\",\"ts\":\" 1\"}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"u\",\"ts\":\"1.5\"}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"u\",\"ts\":\"\\u0031\"}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"u\",\"ts\":\"1e9\"}", FRAME_BAD_TS);
	expect_status("{\"uid\":\"u\",\"ts\":\"\xd9\xa1\"}", FRAME_BAD_TS); /* Arabic-Indic one */
}

static void test_uid_raw(void **state)
{
	(void)state;
	expect_ok("{\"uid\":\"a\\u0062\",\"ts\":1}", "a\\u0062", 1);
	expect_ok("{\"uid\":\"a\\\"b\\\\\",\"ts\":1}", "a\\\"b\\\\", 1);
	expect_ok("{\"uid\":\"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\",\"ts\":1}",
	          "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", 1);
	expect_ok("{\"uid\":\"\\ud83d\\ude00\xf0\x9f\x98\x80\",\"ts\":1}",
	          "\\ud83d\\ude00\xf0\x9f\x98\x80", 1);
	expect_ok("{\"uid\":\"a6f0123456789abcd\",\"ts\":1468244384}", "a6f0123456789abcd",
	          1468244384);
}

static void test_escaped_keys(void **state)
{
	(void)state;
	expect_ok("{\"u\\u0069d\":\"a\",\"\\u0074\\u0073\":1}", "a", 1);
	expect_ok("{\"\\u0075\\u0069\\u0064\":\"a\",\"t\\u0073\":\"12\"}", "a", 12);
	expect_status("{\"uid\":\"a\",\"u\\u0069d\":\"b\",\"ts\":1}", FRAME_DUP_UID);
	expect_status("{\"uid\\u0000\":\"a\",\"ts\":1}", FRAME_NO_UID);
	expect_status("{\"u\\\\id\":\"a\",\"ts\":1}", FRAME_NO_UID);
	expect_status("{\"ui\":\"a\",\"uidd\":\"a\",\"UID\":\"a\",\"ts\":1}", FRAME_NO_UID);
	expect_status("{\"uid\\ud800\":\"a\",\"ts\":1}", FRAME_NO_UID);

	frame f;
	/* non-ASCII configured names, written raw and escaped (incl. a surrogate pair) */
	const char *k1 = "{\"\\u044e\\u0438\\u0434\":\"a\",\"\\ud83d\\udd52\":5}";
	assert_int_equal(
	    parse_keys("\xd1\x8e\xd0\xb8\xd0\xb4", "\xf0\x9f\x95\x92", k1, strlen(k1), &f),
	    FRAME_OK);
	assert_int_equal(f.ts, 5);
	const char *k2 = "{\"\xd1\x8e\xd0\xb8\xd0\xb4\":\"a\",\"\xf0\x9f\x95\x92\":5}";
	assert_int_equal(
	    parse_keys("\xd1\x8e\xd0\xb8\xd0\xb4", "\xf0\x9f\x95\x92", k2, strlen(k2), &f),
	    FRAME_OK);
	const char *k3 = "{\"user\":\"a\",\"time\":\"5\",\"uid\":1,\"ts\":\"x\"}";
	assert_int_equal(parse_keys("user", "time", k3, strlen(k3), &f), FRAME_OK);
	assert_int_equal(f.ts, 5);
	const char *k4 = "{\"u\":\"a\",\"t\\/\":1}";
	assert_int_equal(parse_keys("u", "t/", k4, strlen(k4), &f), FRAME_OK);
}

static void test_nul_bytes(void **state)
{
	(void)state;
	frame f;
	static const char in_string[] = "{\"uid\":\"a\0b\",\"ts\":1}";
	static const char after[] = "{\"uid\":\"ab\",\"ts\":1}\0";
	static const char before[] = "\0{\"uid\":\"ab\",\"ts\":1}";
	static const char only[] = "\0";
	assert_int_equal(parse_n(in_string, sizeof in_string - 1, &f), FRAME_NOT_JSON);
	assert_int_equal(parse_n(after, sizeof after - 1, &f), FRAME_NOT_JSON);
	assert_int_equal(parse_n(before, sizeof before - 1, &f), FRAME_NOT_JSON);
	assert_int_equal(parse_n(only, 1, &f), FRAME_NOT_JSON);
	expect_ok("{\"uid\":\"a\\u0000b\",\"ts\":1}", "a\\u0000b", 1);
}

static void test_strings(void **state)
{
	(void)state;
	expect_embedded("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD834\\uDD1E\"", FRAME_OK);
	expect_embedded("\"\\ud800\"", FRAME_OK); /* lone surrogates: accepted (i_ cases) */
	expect_embedded("\"\\udc00\\ud800\"", FRAME_OK);
	expect_embedded("\"\x7f\"", FRAME_OK);
	expect_embedded("\"\\x\"", FRAME_NOT_JSON);
	expect_embedded("\"\\'\"", FRAME_NOT_JSON);
	expect_embedded("\"\\u12\"", FRAME_NOT_JSON);
	expect_embedded("\"\\u12g4\"", FRAME_NOT_JSON);
	expect_embedded("\"\\U0041\"", FRAME_NOT_JSON);
	expect_embedded("\"\\", FRAME_NOT_JSON);
	expect_embedded("\"abc", FRAME_NOT_JSON);
	expect_embedded("\"a\tb\"", FRAME_NOT_JSON);
	expect_embedded("\"a\nb\"", FRAME_NOT_JSON);
	expect_embedded("\"\x1f\"", FRAME_NOT_JSON);
	expect_embedded("'a'", FRAME_NOT_JSON);
}

static void test_utf8(void **state)
{
	(void)state;
	expect_embedded(
	    "\"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xd0\xbc\xd0\xb8\xd1\x80\"",
	    FRAME_OK);
	expect_embedded(
	    "\"\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf"
	    "\xbf \xed\x9f\xbf \xee\x80\x80\"",
	    FRAME_OK);
	const char *bad[] = {
	    "\"\xc0\x80\"",
	    "\"\xc1\xbf\"",
	    "\"\xe0\x80\x80\"",
	    "\"\xe0\x9f\xbf\"",
	    "\"\xf0\x80\x80\x80\"",
	    "\"\xf0\x8f\xbf\xbf\"",
	    "\"\xed\xa0\x80\"",
	    "\"\xed\xbf\xbf\"",
	    "\"\xf4\x90\x80\x80\"",
	    "\"\xf5\x80\x80\x80\"",
	    "\"\xff\"",
	    "\"\x80\"",
	    "\"\xbf\"",
	    "\"\xc2\"",
	    "\"\xc2x\"",
	    "\"\xe2\x82\"",
	    "\"\xe2\x82x\"",
	    "\"\xf0\x9f\x98\"",
	    "\"\xf0\x9f\x98x\"",
	    "\"\xc2\xc2\x80\"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_embedded(bad[i], FRAME_NOT_JSON);
	expect_status("\xef\xbb\xbf{\"uid\":\"a\",\"ts\":1}", FRAME_NOT_JSON); /* BOM */
	expect_status("{\"uid\":\"a\",\"ts\":1,\xd0\x9f:1}", FRAME_NOT_JSON);
}

static void test_numbers(void **state)
{
	(void)state;
	const char *good[] = {
	    "0",   "-0",   "1",    "-1",  "123",    "1.5",    "-0.0",
	    "1e5", "1E+5", "1e-5", "0e0", "1.0E-0", "1e0001", "12345678901234567890123"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		expect_embedded(good[i], FRAME_OK);
	const char *bad[] = {"01",       "-01",       "00",   "1.",    ".1",  "+1",  "-",
	                     "1e",       "1e+",       "1e-",  "1.e5",  "0x1", "NaN", "-NaN",
	                     "Infinity", "-Infinity", "1ee5", "1.5.5", "--1", "- 1", "1 2",
	                     "0.e1",     "2.",        "-.5",  "1_000"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_embedded(bad[i], FRAME_NOT_JSON);
}

static void test_literals_structure(void **state)
{
	(void)state;
	const char *good[] = {"true",
	                      "false",
	                      "null",
	                      "[]",
	                      "{}",
	                      "[1,[2,{\"a\":[null]}]]",
	                      "{\"a\":{\"b\":{}}}",
	                      " [ 1 , 2 ] ",
	                      "{\"\":0}"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		expect_embedded(good[i], FRAME_OK);
	const char *bad[] = {"tru",        "truex",      "True",  "nul", "nulll",   "fals",
	                     "[1,]",       "[,1]",       "[1 2]", "{,}", "{\"a\"}", "{\"a\":}",
	                     "{\"a\":1,}", "{1:2}",      "[}",    "{]",  "",        "]",
	                     "{\"a\" 1}",  "{\"a\"::1}", "[1]]",  "}"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_embedded(bad[i], FRAME_NOT_JSON);
}

static char *nested(size_t n, const char *open, const char *mid, const char *close)
{
	size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
	char *s = malloc(n * (lo + lc) + lm + 64);
	assert_non_null(s);
	char *w = s + sprintf(s, "{\"uid\":\"u\",\"ts\":1,\"x\":");
	for (size_t i = 0; i < n; i++, w += lo)
		memcpy(w, open, lo);
	memcpy(w, mid, lm);
	w += lm;
	for (size_t i = 0; i < n; i++, w += lc)
		memcpy(w, close, lc);
	strcpy(w, "}");
	return s;
}

static void test_depth(void **state)
{
	(void)state;
	/* the top-level object is level 1 */
	char *s = nested(FRAME_MAX_DEPTH - 1, "[", "1", "]");
	expect_status(s, FRAME_OK);
	free(s);
	s = nested(FRAME_MAX_DEPTH, "[", "1", "]");
	expect_status(s, FRAME_TOO_DEEP);
	free(s);
	s = nested(FRAME_MAX_DEPTH - 1, "{\"a\":", "{}", "}");
	expect_status(s, FRAME_TOO_DEEP);
	free(s);
	s = nested(FRAME_MAX_DEPTH - 2, "{\"a\":", "{}", "}");
	expect_status(s, FRAME_OK);
	free(s);
	s = nested(FRAME_MAX_DEPTH - 1, "[{\"b\":", "[]", "}]");
	expect_status(s, FRAME_TOO_DEEP);
	free(s);

	size_t n = 100000;
	char *open = malloc(n);
	assert_non_null(open);
	memset(open, '[', n);
	frame f;
	assert_int_equal(parse_n(open, n, &f), FRAME_TOO_DEEP);
	memset(open, '{', n);
	assert_int_equal(parse_n(open, n, &f), FRAME_NOT_JSON);
	free(open);
	/* a syntax error met before the depth limit wins */
	expect_status("[x[[[", FRAME_NOT_JSON);
}

/* The parser must not take content from the padding: a frame cut anywhere is never valid. */
static void test_truncation(void **state)
{
	(void)state;
	const char *s =
	    "{\"uid\":\"ab\\\"c\xd0\x9f\",\"ts\":1468244384.5e0,\"n\":[true,{\"k\":null}]}";
	size_t n = strlen(s);
	frame f;
	for (size_t i = 0; i < n; i++) {
		frame_status st = parse_n(s, i, &f);
		assert_true(st == FRAME_NOT_JSON || (i == 0 && st == FRAME_EMPTY));
	}
	assert_int_equal(parse_n(s, n, &f), FRAME_OK);
}

/* A ~2 KB generator-like frame: many keys, escapes, Cyrillic, nested uid/ts keys. */
static void test_long_frame(void **state)
{
	(void)state;
	char buf[4096];
	int w = sprintf(buf, "{\"k0\":true,\"uid\":\"a3f0123456789abcd\"");
	for (int i = 0; w < 2000; i++)
		w += sprintf(buf + w,
		             ",\"key%d\":\"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
		             "\\\"q\\\" \\\\ / \\b\\f\\n\\r\\t\",\"n%d\":{\"uid\":%d,\"ts\":\"x\"},"
		             "\"a%d\":[1,-2.5e3,false,null]",
		             i, i, i, i);
	sprintf(buf + w, ",\"ts\":1468244384}");
	expect_ok(buf, "a3f0123456789abcd", 1468244384);
}

/* Every pattern at every alignment against the 64-byte blocks of the AVX2 path. */
static void test_block_boundaries(void **state)
{
	(void)state;
	static const struct {
		const char *v;
		frame_status want;
	} pats[] = {
	    {"\"\\u00e9\\ud83d\\ude00\"", FRAME_OK},
	    {"\"\\\\\\\\\\\"\"", FRAME_OK},
	    {"\"\\\\\"", FRAME_OK},
	    {"\"\xd0\x9f\xf0\x9f\x98\x80\xe2\x82\xac\"", FRAME_OK},
	    {"[1.5e-3,true,null,{\"a\":[]},false,-0]", FRAME_OK},
	    {"\"\\u00g9\"", FRAME_NOT_JSON},
	    {"\"\\ud83\"", FRAME_NOT_JSON},
	    {"\"\\q\"", FRAME_NOT_JSON},
	    {"\"\xe2\x82\"", FRAME_NOT_JSON},
	    {"\"\xed\xa0\x80\"", FRAME_NOT_JSON},
	    {"\"a\x01\"", FRAME_NOT_JSON},
	    {"\"\\\\\\\"", FRAME_NOT_JSON},
	    {"tru", FRAME_NOT_JSON},
	    {"[1.]", FRAME_NOT_JSON},
	    {"1\"", FRAME_NOT_JSON},
	};
	char buf[512];
	for (int shift = 0; shift < 140; shift++)
		for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
			int n = sprintf(buf, "{\"uid\":\"u\",\"ts\":1,\"p\":\"%*s\",\"x\":%s}",
			                shift, "", pats[i].v);
			frame f;
			frame_status st = parse_n(buf, (size_t)n, &f);
			if (st != pats[i].want)
				fail_msg("shift %d, %s: got %s", shift, pats[i].v,
				         frame_status_name(st));
		}
	require_avx2("test_block_boundaries");
}

/* Strings longer than the AVX2 path's chunk of blocks, so that whole chunks hold no structural. */
static void test_long_strings(void **state)
{
	(void)state;
	static const char *units[] = {"a", "[", "]",    "{",    "}",       ",",
	                              ":", " ", "\\\\", "\\\"", "\xd0\x9f"};
	static const size_t lens[] = {900,  1000, 1020, 1023, 1024, 1025, 1030,
	                              2040, 2047, 2048, 2049, 3000, 5000, 70000};
	for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
		char *b = malloc(lens[k] + 128);
		assert_non_null(b);
		size_t w = (size_t)sprintf(b, "{\"uid\":\"u\",\"s\":\"");
		for (size_t i = 0; w < lens[k]; i++)
			w += (size_t)sprintf(b + w, "%s", units[i % 11]);
		size_t body_end = w;
		frame f;
		w = body_end + (size_t)sprintf(b + body_end, "\",\"ts\":1}");
		expect_ok(b, "u", 1);
		w = body_end + (size_t)sprintf(b + body_end, "\",\"ts\":[1]}");
		assert_int_equal(parse_n(b, w, &f), FRAME_BAD_TS);
		b[20] = '\x01'; /* a control character early in the long string */
		assert_int_equal(parse_n(b, w, &f), FRAME_NOT_JSON);
		free(b);
	}
	require_avx2("test_long_strings");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_names),
	    cmocka_unit_test(test_init),
	    cmocka_unit_test(test_valid_basic),
	    cmocka_unit_test(test_nested_ignored),
	    cmocka_unit_test(test_reasons),
	    cmocka_unit_test(test_ts_forms),
	    cmocka_unit_test(test_uid_raw),
	    cmocka_unit_test(test_escaped_keys),
	    cmocka_unit_test(test_nul_bytes),
	    cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_literals_structure),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_long_frame),
	    cmocka_unit_test(test_block_boundaries),
	    cmocka_unit_test(test_long_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
