/* frame_scalar.c - the portable frame parser: one pass over the bytes, no recursion, no tree.
 *
 * How it works: a goto state machine with three states - "value" (a value starts here), "key" (an
 * object key starts here) and "after" (a value just ended: expect , ] } or the end). Containers
 * are tracked by a depth counter and a bit stack (one bit per level: object or array), so
 * FRAME_MAX_DEPTH levels cost 128 bytes of stack and deeper input is a clean FRAME_TOO_DEEP.
 * While at depth 1 of a top-level object, each key is matched against the uid/ts names and the
 * following value is recorded in a frame_fields (frame.c), which decides the final status.
 *
 * Strings are scanned eight bytes at a time (SWAR): one 64-bit word yields a mask of the bytes
 * that need attention (quote, backslash, control character, non-ASCII); plain ASCII runs are
 * skipped without per-byte branches. Non-ASCII sequences are validated as UTF-8 (RFC 3629: no
 * overlongs, no UTF-16 surrogates, nothing above U+10FFFF). Escapes are checked (\uXXXX needs
 * four hex digits; unpaired surrogate escapes are accepted, as the RFC 8259 grammar does).
 * Word loads may read up to 7 bytes past the end of the frame, inside FRAME_PADDING.
 */
#include "frame.h"
#include "frame_internal.h"

#include <string.h>

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static const uint8_t *skip_ws(const uint8_t *s, const uint8_t *end)
{
	while (s < end && is_ws(*s))
		s++;
	return s;
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(uint8_t c)
{
	return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Mask with the high bit set in the first byte of v that is '"', '\\', < 0x20 or >= 0x80 (bytes
 * above a flagged one may be flagged spuriously; only the lowest flag is used). */
static uint64_t stop_mask(uint64_t v)
{
	uint64_t q = v ^ (ONES * '"'), b = v ^ (ONES * '\\');
	uint64_t zq = (q - ONES) & ~q, zb = (b - ONES) & ~b;
	uint64_t ctl = (v - ONES * 0x20) & ~v;
	return (zq | zb | ctl | v) & HIGHS;
}

/* Validates one UTF-8 sequence starting at s (s[0] >= 0x80). Returns its length, or 0. */
static size_t utf8_seq(const uint8_t *s, const uint8_t *end)
{
	uint8_t c = s[0];
	size_t n;
	uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0; /* overlong */
		else if (c == 0xED)
			hi = 0x9F; /* surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90; /* overlong */
		else if (c == 0xF4)
			hi = 0x8F; /* > U+10FFFF */
	} else {
		return 0;
	}
	if ((size_t)(end - s) < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

/* Scans a string body starting at s (just after the opening quote). Returns a pointer to the
 * closing quote, or NULL when the string is invalid or unterminated. *escaped is set when the body
 * holds a backslash. */
static const uint8_t *scan_string(const uint8_t *s, const uint8_t *end, bool *escaped)
{
	for (;;) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		uint64_t m = 0;
		while (s < end && (m = stop_mask(load64(s))) == 0)
			s += 8;
		if (s >= end)
			return NULL;
		s += __builtin_ctzll(m) >> 3;
#else
		while (s < end && *s != '"' && *s != '\\' && *s >= 0x20 && *s < 0x80)
			s++;
#endif
		if (s >= end)
			return NULL;
		uint8_t c = *s;
		if (c == '"')
			return s;
		if (c == '\\') {
			*escaped = true;
			if (end - s < 2)
				return NULL;
			switch (s[1]) {
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				s += 2;
				continue;
			case 'u':
				if (end - s < 6 || !is_hex(s[2]) || !is_hex(s[3]) ||
				    !is_hex(s[4]) || !is_hex(s[5]))
					return NULL;
				s += 6;
				continue;
			default:
				return NULL;
			}
		}
		if (c < 0x20)
			return NULL;
		size_t n = utf8_seq(s, end);
		if (n == 0)
			return NULL;
		s += n;
	}
}

static bool literal(const uint8_t *s, const uint8_t *end, const char *word, size_t n)
{
	return (size_t)(end - s) >= n && memcmp(s, word, n) == 0;
}

frame_status frame_parse_scalar(const frame_parser *p, const char *buf, size_t len, frame *out)
{
	const uint8_t *s = (const uint8_t *)buf, *end = s + len;
	uint64_t is_obj[FRAME_MAX_DEPTH / 64 + 1]; /* bit d: level d+1 is an object */
	unsigned depth = 0, want = 0;
	frame_fields f = {0};
	const uint8_t *q;
	bool escaped;

	s = skip_ws(s, end);
	if (s == end)
		return FRAME_EMPTY;
	const bool top_obj = *s == '{';

value: /* s: first byte of a value (whitespace skipped) */
	if (s >= end)
		return FRAME_NOT_JSON;
	switch (*s) {
	case '{':
	case '[':
		if (depth == FRAME_MAX_DEPTH)
			return FRAME_TOO_DEEP;
		if (want)
			frame_fields_other(&f, want);
		want = 0;
		if (*s == '{')
			is_obj[depth / 64] |= 1ULL << (depth % 64);
		else
			is_obj[depth / 64] &= ~(1ULL << (depth % 64));
		depth++;
		s = skip_ws(s + 1, end);
		if (s < end &&
		    *s == (is_obj[(depth - 1) / 64] >> ((depth - 1) % 64) & 1 ? '}' : ']')) {
			s++;
			depth--;
			goto after;
		}
		if (is_obj[(depth - 1) / 64] >> ((depth - 1) % 64) & 1)
			goto key;
		goto value;
	case '"':
		escaped = false;
		q = scan_string(s + 1, end, &escaped);
		if (!q)
			return FRAME_NOT_JSON;
		if (want)
			frame_fields_string(&f, want, s + 1, (size_t)(q - s - 1));
		s = q + 1;
		break;
	case 't':
		if (!literal(s, end, "true", 4))
			return FRAME_NOT_JSON;
		s += 4;
		goto scalar_other;
	case 'f':
		if (!literal(s, end, "false", 5))
			return FRAME_NOT_JSON;
		s += 5;
		goto scalar_other;
	case 'n':
		if (!literal(s, end, "null", 4))
			return FRAME_NOT_JSON;
		s += 4;
	scalar_other:
		if (want)
			frame_fields_other(&f, want);
		break;
	default:
		q = frame_scan_number(s, end);
		if (!q)
			return FRAME_NOT_JSON;
		if (want)
			frame_fields_number(&f, want, s, (size_t)(q - s));
		s = q;
		break;
	}
	want = 0;

after: /* a value ended at s */
	s = skip_ws(s, end);
	if (depth == 0) {
		if (s != end)
			return FRAME_NOT_JSON;
		return frame_fields_finish(&f, top_obj, out);
	}
	if (s >= end)
		return FRAME_NOT_JSON;
	if (is_obj[(depth - 1) / 64] >> ((depth - 1) % 64) & 1) {
		if (*s == ',') {
			s = skip_ws(s + 1, end);
			goto key;
		}
		if (*s != '}')
			return FRAME_NOT_JSON;
	} else {
		if (*s == ',') {
			s = skip_ws(s + 1, end);
			goto value;
		}
		if (*s != ']')
			return FRAME_NOT_JSON;
	}
	s++;
	depth--;
	goto after;

key: /* s: where a key must start (whitespace skipped) */
	if (s >= end || *s != '"')
		return FRAME_NOT_JSON;
	escaped = false;
	q = scan_string(s + 1, end, &escaped);
	if (!q)
		return FRAME_NOT_JSON;
	if (depth == 1 && top_obj) {
		want = frame_match_key(p, s + 1, (size_t)(q - s - 1), escaped);
		f.uid_count += (want & FIELD_UID) != 0;
		f.ts_count += (want & FIELD_TS) != 0;
	}
	s = skip_ws(q + 1, end);
	if (s >= end || *s != ':')
		return FRAME_NOT_JSON;
	s = skip_ws(s + 1, end);
	goto value;
}
