/* frame.c - the frame parser's public face: set-up, dispatch to the scalar or AVX2 path, reason
 * names, and the parts of extraction both paths share.
 *
 * A parse is one left-to-right pass (frame_scalar.c or frame_avx2.c) that validates the frame and,
 * for every key of the top-level object, asks frame_match_key() whether it names the uid or ts
 * field. Values of matching keys are handed to frame_fields_*(), which keep counts and the last
 * value; frame_fields_finish() then applies the reason precedence of docs/semantics.md, in the
 * order of its table: not_object, then no_uid, bad_uid (any uid value is not a string), dup_uid,
 * then no_ts, bad_ts (any ts value is unusable), dup_ts.
 *
 * Keys are compared decoded: a key without a backslash is compared byte for byte; one with escapes
 * is decoded on the fly (\uXXXX and surrogate pairs to UTF-8) against the wanted name, without a
 * copy. A ts number is floored exactly from its decimal digits (no floating point): the digits are
 * read as one digit string with the decimal point moved by the exponent; the integer part must fit
 * in an int64_t, and a negative number with a non-zero fraction is lowered by one.
 */
#include "frame.h"
#include "frame_internal.h"

#include <string.h>

static const char *const status_names[FRAME_STATUS_COUNT] = {
    [FRAME_OK] = "ok",
    [FRAME_EMPTY] = "empty",
    [FRAME_TOO_LONG] = "too_long",
    [FRAME_NOT_JSON] = "not_json",
    [FRAME_TOO_DEEP] = "too_deep",
    [FRAME_NOT_OBJECT] = "not_object",
    [FRAME_NO_UID] = "no_uid",
    [FRAME_BAD_UID] = "bad_uid",
    [FRAME_DUP_UID] = "dup_uid",
    [FRAME_NO_TS] = "no_ts",
    [FRAME_BAD_TS] = "bad_ts",
    [FRAME_DUP_TS] = "dup_ts",
};

const char *frame_status_name(frame_status s)
{
	if ((unsigned)s >= FRAME_STATUS_COUNT)
		return "unknown";
	return status_names[s];
}

int frame_parser_init(frame_parser *p, const char *uid_key, const char *ts_key, frame_impl impl)
{
	p->uid_key = uid_key;
	p->uid_key_len = strlen(uid_key);
	p->ts_key = ts_key;
	p->ts_key_len = strlen(ts_key);
	switch (impl) {
	case FRAME_IMPL_AUTO:
		p->impl = frame_avx2_supported() ? FRAME_IMPL_AVX2 : FRAME_IMPL_SCALAR;
		return 0;
	case FRAME_IMPL_SCALAR:
		p->impl = FRAME_IMPL_SCALAR;
		return 0;
	case FRAME_IMPL_AVX2:
		if (!frame_avx2_supported())
			return -1;
		p->impl = FRAME_IMPL_AVX2;
		return 0;
	}
	return -1;
}

frame_status frame_parse(const frame_parser *p, const char *buf, size_t len, frame *out)
{
	if (p->impl == FRAME_IMPL_AVX2) {
		frame_status st = frame_parse_avx2(p, buf, len, out);
		if (st != FRAME_NOT_JSON)
			return st;
		/* invalid: the scalar parser tells not_json from too_deep (frame_avx2.c) */
	}
	return frame_parse_scalar(p, buf, len, out);
}

static unsigned hex_digit(uint8_t c)
{
	if (c <= '9')
		return c - '0';
	return (c | 0x20) - 'a' + 10;
}

static uint32_t hex4(const uint8_t *s)
{
	return hex_digit(s[0]) << 12 | hex_digit(s[1]) << 8 | hex_digit(s[2]) << 4 |
	       hex_digit(s[3]);
}

static size_t utf8_encode(uint32_t cp, uint8_t *o)
{
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xC0 | cp >> 6);
		o[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (uint8_t)(0xE0 | cp >> 12);
		o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (uint8_t)(0xF0 | cp >> 18);
	o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/* Decodes one escape at s (s[0] == '\\', the escape is valid and ends before end) into o.
 * Returns the UTF-8 length, or 0 for a lone surrogate (no UTF-8 form). *s is advanced. */
static size_t decode_escape(const uint8_t **s, const uint8_t *end, uint8_t *o)
{
	const uint8_t *k = *s;
	uint8_t c = k[1];
	*s = k + 2;
	switch (c) {
	case 'b':
		o[0] = '\b';
		return 1;
	case 'f':
		o[0] = '\f';
		return 1;
	case 'n':
		o[0] = '\n';
		return 1;
	case 'r':
		o[0] = '\r';
		return 1;
	case 't':
		o[0] = '\t';
		return 1;
	case 'u':
		break;
	default: /* " \ / */
		o[0] = c;
		return 1;
	}
	uint32_t cp = hex4(k + 2);
	k += 6;
	if (cp >= 0xD800 && cp < 0xDC00 && end - k >= 6 && k[0] == '\\' && k[1] == 'u') {
		uint32_t lo = hex4(k + 2);
		if (lo >= 0xDC00 && lo < 0xE000) {
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			k += 6;
		}
	}
	*s = k;
	if (cp >= 0xD800 && cp < 0xE000)
		return 0;
	return utf8_encode(cp, o);
}

/* Compares the decoded form of the raw key k[0..len) with want[0..wlen). */
static bool escaped_key_equals(const uint8_t *k, size_t len, const char *want, size_t wlen)
{
	const uint8_t *end = k + len;
	size_t w = 0;
	while (k < end) {
		uint8_t tmp[4];
		size_t n = 1;
		if (*k != '\\') {
			tmp[0] = *k++;
		} else {
			n = decode_escape(&k, end, tmp);
			if (n == 0) /* a lone surrogate never equals a UTF-8 name */
				return false;
		}
		if (wlen - w < n || memcmp(want + w, tmp, n) != 0)
			return false;
		w += n;
	}
	return w == wlen;
}

bool frame_key_equals(const uint8_t *key, size_t len, bool escaped, const char *name,
                      size_t name_len)
{
	if (!escaped)
		return len == name_len && memcmp(key, name, len) == 0;
	return escaped_key_equals(key, len, name, name_len);
}

bool frame_key_matches(const uint8_t *raw, const uint8_t *end, const char *name, size_t name_len)
{
	const uint8_t *want = (const uint8_t *)name, *wend = want + name_len;
	while (raw < end) {
		if (*raw == '"')
			return want == wend;
		if (*raw != '\\') {
			if (want == wend || *want++ != *raw++)
				return false;
			continue;
		}
		if (end - raw < 6 && (end - raw < 2 || raw[1] == 'u'))
			return false; /* a cut escape: the frame is invalid anyway */
		uint8_t tmp[4];
		size_t n = decode_escape(&raw, end, tmp);
		if (n == 0 || (size_t)(wend - want) < n)
			return false;
		for (size_t i = 0; i < n; i++)
			if (*want++ != tmp[i])
				return false;
	}
	return false;
}

unsigned frame_match_key(const frame_parser *p, const uint8_t *key, size_t len, bool escaped)
{
	unsigned m = 0;
	if (frame_key_equals(key, len, escaped, p->uid_key, p->uid_key_len))
		m |= FIELD_UID;
	if (frame_key_equals(key, len, escaped, p->ts_key, p->ts_key_len))
		m |= FIELD_TS;
	return m;
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* The k-th digit of the mantissa made of ip[0..ni) followed by fp[..]. */
static unsigned mantissa_digit(const uint8_t *ip, size_t ni, const uint8_t *fp, size_t k)
{
	return (unsigned)((k < ni ? ip[k] : fp[k - ni]) - '0');
}

bool frame_floor_number(const uint8_t *num, size_t len, int64_t *ts)
{
	const uint8_t *s = num, *end = num + len;
	bool neg = *s == '-';
	s += neg;
	const uint8_t *ip = s;
	while (s < end && is_digit(*s))
		s++;
	size_t ni = (size_t)(s - ip), nf = 0;
	const uint8_t *fp = s;
	if (s < end && *s == '.') {
		fp = ++s;
		while (s < end && is_digit(*s))
			s++;
		nf = (size_t)(s - fp);
	}
	int64_t exp = 0;
	if (s < end) { /* e or E */
		s++;
		bool eneg = *s == '-';
		s += *s == '-' || *s == '+';
		for (; s < end; s++)
			if (exp < 1000000000)
				exp = exp * 10 + (*s - '0');
		if (eneg)
			exp = -exp;
	}
	if (nf == 0 && exp == 0 && ni <= 18) {
		int64_t v = 0;
		for (size_t i = 0; i < ni; i++)
			v = v * 10 + (ip[i] - '0');
		*ts = neg ? -v : v;
		return true;
	}
	size_t n = ni + nf, lz = 0;
	while (lz < n && mantissa_digit(ip, ni, fp, lz) == 0)
		lz++;
	if (lz == n) {
		*ts = 0;
		return true;
	}
	/* value = 0.D * 10^point, D = the mantissa digits from lz on (D[0] != 0) */
	int64_t point = (int64_t)ni - (int64_t)lz + exp;
	if (point <= 0) {
		*ts = neg ? -1 : 0;
		return true;
	}
	if (point > 19)
		return false;
	uint64_t v = 0;
	for (size_t k = lz; k < lz + (size_t)point; k++)
		v = v * 10 + (k < n ? mantissa_digit(ip, ni, fp, k) : 0);
	bool frac = false;
	for (size_t k = lz + (size_t)point; k < n && !frac; k++)
		frac = mantissa_digit(ip, ni, fp, k) != 0;
	if (!neg) {
		if (v > (uint64_t)INT64_MAX)
			return false;
		*ts = (int64_t)v;
		return true;
	}
	v += frac;
	if (v > (uint64_t)INT64_MAX + 1)
		return false;
	*ts = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	return true;
}

bool frame_digit_string(const uint8_t *s, size_t len, int64_t *ts)
{
	if (len < 1 || len > 18)
		return false;
	int64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ts = v;
	return true;
}

void frame_fields_string(frame_fields *f, unsigned which, const uint8_t *body, size_t len)
{
	if (which & FIELD_UID) {
		f->uid = (const char *)body;
		f->uid_len = len;
	}
	if ((which & FIELD_TS) && !frame_digit_string(body, len, &f->ts))
		f->ts_bad = true;
}

void frame_fields_number(frame_fields *f, unsigned which, const uint8_t *num, size_t len)
{
	if (which & FIELD_UID)
		f->uid_bad = true;
	if ((which & FIELD_TS) && !frame_floor_number(num, len, &f->ts))
		f->ts_bad = true;
}

void frame_fields_other(frame_fields *f, unsigned which)
{
	if (which & FIELD_UID)
		f->uid_bad = true;
	if (which & FIELD_TS)
		f->ts_bad = true;
}

frame_status frame_fields_finish(const frame_fields *f, bool top_is_object, frame *out)
{
	if (!top_is_object)
		return FRAME_NOT_OBJECT;
	if (f->uid_count == 0)
		return FRAME_NO_UID;
	if (f->uid_bad)
		return FRAME_BAD_UID;
	if (f->uid_count > 1)
		return FRAME_DUP_UID;
	if (f->ts_count == 0)
		return FRAME_NO_TS;
	if (f->ts_bad)
		return FRAME_BAD_TS;
	if (f->ts_count > 1)
		return FRAME_DUP_TS;
	out->uid = f->uid;
	out->uid_len = f->uid_len;
	out->ts = f->ts;
	return FRAME_OK;
}
