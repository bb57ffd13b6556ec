/* frame_avx2.c - the AVX2 frame parser: bitmask classification of 64-byte blocks, then a walk over
 * the structural positions only.
 *
 * How it works (the two-stage scheme of Langdale & Lemire, "Parsing Gigabytes of JSON per
 * Second", 2019, written afresh for a validate-and-extract parser):
 *
 * Stage 1 turns each 64-byte block into 64-bit masks (bit i = byte i):
 *  - backslashes B; escaped bytes E = bytes preceded by an odd run of backslashes. A backslash at
 *    an even offset from the start of its run escapes the next byte. Runs starting at even
 *    positions are isolated by adding their start bits to B (the carry clears the run); the
 *    escapers are then the even-position bits of those runs and the odd-position bits of the
 *    others. A byte escaped across the block boundary is carried as one bit.
 *  - quotes not escaped Q; in-string mask S = prefix-XOR of Q (one carry-less multiply by ~0),
 *    carried across blocks: S covers an opening quote and the string body, not the closing quote.
 *  - whitespace and the six structural characters, by two nibble-table lookups (vpshufb).
 *  - the structural positions: operators outside strings, opening quotes, and the first byte of
 *    every run of other bytes outside strings (numbers, literals, garbage).
 *  - errors, accumulated and checked when the frame ends: control characters in strings or
 *    outside them (but for whitespace), invalid escape characters, \u without four hex digits,
 *    UTF-8 errors (three nibble lookups classify every (previous byte, byte) pair into error
 *    rules; continuation bytes that the byte two or three back requires are checked apart), a
 *    string still open at the end.
 *    The bytes past len in the last block are replaced by spaces first.
 * The masks of up to CHUNK_BLOCKS blocks are expanded into an array of positions (tzcnt/blsr).
 *
 * Stage 2 is the state machine of frame_scalar.c, but it steps from structural position to
 * structural position: whitespace and string bodies are never looked at, except for the few
 * strings it needs (top-level keys, uid and ts values), whose end is found by stepping back over
 * whitespace from the next structural position. Numbers and literals are checked in place. When
 * the positions run out, stage 1 classifies the next chunk, so memory stays fixed whatever the
 * frame length.
 *
 * Any invalid frame is reported as FRAME_NOT_JSON without telling not_json from too_deep:
 * frame_parse() then asks the scalar parser for the exact reason (invalid frames are rare, and
 * this keeps the two paths' reasons identical by construction). Loads read at most 63 bytes past
 * len, inside FRAME_PADDING. All functions using AVX2 carry a target attribute, so the file needs
 * no special compiler flags and the CPU is checked at run time (frame_avx2_supported).
 */
#include "frame.h"
#include "frame_internal.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

/* gcc cannot see that refill() fills stage1.idx before NEXT() reads it */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#define TARGET __attribute__((target("avx2,pclmul,bmi,bmi2,popcnt")))

#define CHUNK_BLOCKS 16
#define IDX_CAP (CHUNK_BLOCKS * 64 + 16)

#define EVEN_BITS 0x5555555555555555ULL

bool frame_avx2_supported(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul") &&
	       __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
	       __builtin_cpu_supports("popcnt");
}

typedef struct stage1 {
	const uint8_t *buf;
	size_t len;
	size_t pos;              /* start of the next block to classify */
	uint64_t prev_x;         /* 1: the last byte of the previous block escapes the next one */
	uint64_t prev_in_string; /* all ones: the previous block ended inside a string */
	uint64_t prev_scalar;    /* 1: the previous block ended with a scalar byte */
	uint64_t err;            /* non-zero: an error was seen */
	uint64_t prev_nonascii;  /* non-zero: the previous block held a byte >= 0x80 */
	uint64_t hex_carry;      /* bytes of the next block that must be hex digits (after a \\u) */
	__m256i prev_half;       /* the last 32 bytes classified (for UTF-8 lookbehind) */
	__m256i utf8_err;        /* non-zero bytes: UTF-8 errors */
	uint32_t idx[IDX_CAP];   /* structural positions of the current chunk */
} stage1;

TARGET static inline uint64_t mask64(__m256i lo, __m256i hi)
{
	return (uint64_t)(uint32_t)_mm256_movemask_epi8(lo) |
	       (uint64_t)(uint32_t)_mm256_movemask_epi8(hi) << 32;
}

TARGET static inline __m256i table16(const int8_t t[16])
{
	return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t));
}

/* v shifted towards higher positions by k bytes, the gap filled from the end of prev. */
#define PREV_BYTES(v, prev, k)                                                                     \
	_mm256_alignr_epi8((v), _mm256_permute2x128_si256((prev), (v), 0x21), 16 - (k))

/* UTF-8 error rules for the pair (previous byte, byte); bit r set in all three lookups = rule r:
 * 0x01 lead byte not followed by a continuation     0x02 ASCII followed by a continuation
 * 0x04 C0/C1 (overlong 2-byte) then continuation     0x08 E0 then 80..9F (overlong 3-byte)
 * 0x10 ED then A0..BF (UTF-16 surrogate)             0x20 F0 or F5..FF then 80..8F
 * 0x40 F4..FF then 90..BF (above U+10FFFF)           0x80 continuation after continuation */
static const int8_t utf8_prev_high[16] = {
    0x02,         0x02,         0x02,         0x02,         0x02, 0x02, 0x02, 0x02, /* ASCII */
    (int8_t)0x80, (int8_t)0x80, (int8_t)0x80, (int8_t)0x80, /* continuation */
    0x05,         0x01,         0x19,         0x61,         /* leads */
};
static const int8_t utf8_prev_low[16] = {
    (int8_t)0xAF, (int8_t)0x87, (int8_t)0x83, (int8_t)0x83, (int8_t)0xC3, (int8_t)0xE3,
    (int8_t)0xE3, (int8_t)0xE3, (int8_t)0xE3, (int8_t)0xE3, (int8_t)0xE3, (int8_t)0xE3,
    (int8_t)0xE3, (int8_t)0xF3, (int8_t)0xE3, (int8_t)0xE3,
};
static const int8_t utf8_cur_high[16] = {
    0x01,         0x01,         0x01,         0x01,         0x01, 0x01, 0x01, 0x01,
    (int8_t)0xAE, (int8_t)0xCE, (int8_t)0xD6, (int8_t)0xD6, 0x01, 0x01, 0x01, 0x01,
};

/* The UTF-8 errors of v, whose preceding 32 bytes are prev (non-zero bytes: errors). */
TARGET static inline __m256i utf8_errors(__m256i v, __m256i prev)
{
	const __m256i nib = _mm256_set1_epi8(0x0F);
	__m256i p1 = PREV_BYTES(v, prev, 1);
	__m256i rules = _mm256_and_si256(
	    _mm256_shuffle_epi8(table16(utf8_prev_high),
	                        _mm256_and_si256(_mm256_srli_epi16(p1, 4), nib)),
	    _mm256_shuffle_epi8(table16(utf8_prev_low), _mm256_and_si256(p1, nib)));
	rules = _mm256_and_si256(
	    rules, _mm256_shuffle_epi8(table16(utf8_cur_high),
	                               _mm256_and_si256(_mm256_srli_epi16(v, 4), nib)));
	/* a continuation is required here by a 3/4-byte lead two/three bytes back */
	__m256i p2 = PREV_BYTES(v, prev, 2), p3 = PREV_BYTES(v, prev, 3);
	__m256i need = _mm256_or_si256(_mm256_subs_epu8(p2, _mm256_set1_epi8((char)0xDF)),
	                               _mm256_subs_epu8(p3, _mm256_set1_epi8((char)0xEF)));
	need = _mm256_and_si256(_mm256_cmpgt_epi8(need, _mm256_setzero_si256()),
	                        _mm256_set1_epi8((char)0x80));
	return _mm256_xor_si256(rules, need);
}

static const int8_t ws_table[16] = {' ', -1,   -1,   -1, -1, -1,   -1, -1,
                                    -1,  '\t', '\n', -1, -1, '\r', -1, -1};
/* indexed by the low nibble of (byte | 0x20): , : [ ] { } all map onto one of , : { } */
static const int8_t op_table[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ':', '{', ',', '}', 0, 0};
/* Escape classes by nibble lookups (both lookups share the bit): bits 0-3 valid escape
 * characters " \ / b f n r t u (one bit per high nibble 2, 5, 6, 7); bit 4 digits; bit 5 a-f A-F.
 */
static const int8_t esc_high[16] = {0, 0, 0x01, 0x10, 0x20, 0x02, 0x24, 0x08,
                                    0, 0, 0,    0,    0,    0,    0,    0};
static const int8_t esc_low[16] = {0x10, 0x30, 0x3D, 0x30, 0x38, 0x38, 0x34, 0x10,
                                   0x10, 0x10, 0,    0,    0x02, 0,    0x04, 0x01};
/* Escapers among the backslashes b (none escaped from the previous block). */
static inline uint64_t escapers(uint64_t b)
{
	uint64_t starts = b & ~(b << 1);
	uint64_t even_runs = b & ~(b + (starts & EVEN_BITS));
	return (even_runs & EVEN_BITS) | (b & ~even_runs & ~EVEN_BITS);
}

/* Spreads each bit of u over the four positions after it (the hex digits of a \u escape). */
static inline uint64_t spread4(uint64_t u)
{
	return u << 1 | u << 2 | u << 3 | u << 4;
}

/* Error bits of the block (lo, hi) for escapes: escaped bytes that are not escape characters, and
 * bytes that must be a hex digit (need: after a \u) but are not. */
TARGET static inline uint64_t escape_errors(__m256i lo, __m256i hi, uint64_t escaped, uint64_t need)
{
	const __m256i nib = _mm256_set1_epi8(0x0F), z = _mm256_setzero_si256();
	const __m256i eh = table16(esc_high), el = table16(esc_low);
	const __m256i escbits = _mm256_set1_epi8(0x0F), hexbits = _mm256_set1_epi8(0x30);
	__m256i cl = _mm256_and_si256(
	    _mm256_shuffle_epi8(eh, _mm256_and_si256(_mm256_srli_epi16(lo, 4), nib)),
	    _mm256_shuffle_epi8(el, _mm256_and_si256(lo, nib)));
	__m256i ch = _mm256_and_si256(
	    _mm256_shuffle_epi8(eh, _mm256_and_si256(_mm256_srli_epi16(hi, 4), nib)),
	    _mm256_shuffle_epi8(el, _mm256_and_si256(hi, nib)));
	uint64_t not_esc = mask64(_mm256_cmpeq_epi8(_mm256_and_si256(cl, escbits), z),
	                          _mm256_cmpeq_epi8(_mm256_and_si256(ch, escbits), z));
	uint64_t not_hex = mask64(_mm256_cmpeq_epi8(_mm256_and_si256(cl, hexbits), z),
	                          _mm256_cmpeq_epi8(_mm256_and_si256(ch, hexbits), z));
	return (escaped & not_esc) | (need & not_hex);
}

/* Classifies up to CHUNK_BLOCKS blocks from s->pos into s->idx; returns the number of positions.
 * When the frame is done, the last position is the sentinel len (and stays so on later calls). */
TARGET static uint32_t classify_chunk(stage1 *s)
{
	const uint8_t *buf = s->buf;
	const size_t len = s->len;
	size_t pos = s->pos;
	if (pos >= len) { /* called again after the end: the sentinel again */
		s->idx[0] = (uint32_t)len;
		return 1;
	}
	const size_t stop = len - pos > CHUNK_BLOCKS * 64 ? pos + CHUNK_BLOCKS * 64 : len;
	uint64_t prev_x = s->prev_x, prev_in_string = s->prev_in_string;
	uint64_t prev_scalar = s->prev_scalar, err = s->err, prev_nonascii = s->prev_nonascii;
	uint64_t hex_carry = s->hex_carry;
	__m256i prev_half = s->prev_half, uerr = s->utf8_err;
	const __m256i wst = table16(ws_table), opt = table16(op_table);
	const __m256i c1f = _mm256_set1_epi8(0x1F), c20 = _mm256_set1_epi8(0x20);
	uint32_t *o = s->idx;

	for (; pos < stop; pos += 64) {
		__m256i lo = _mm256_loadu_si256((const __m256i *)(buf + pos));
		__m256i hi = _mm256_loadu_si256((const __m256i *)(buf + pos + 32));
		if (len - pos < 64) { /* the last block: bytes past len become spaces */
			const __m256i iota = _mm256_setr_epi8(
			    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
			    20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
			const __m256i n = _mm256_set1_epi8((char)(len - pos));
			lo = _mm256_blendv_epi8(c20, lo, _mm256_cmpgt_epi8(n, iota));
			hi = _mm256_blendv_epi8(c20, hi,
			                        _mm256_cmpgt_epi8(n, _mm256_add_epi8(iota, c20)));
		}

		/* escapes and strings */
		uint64_t bs = mask64(_mm256_cmpeq_epi8(lo, _mm256_set1_epi8('\\')),
		                     _mm256_cmpeq_epi8(hi, _mm256_set1_epi8('\\')));
		uint64_t escaped = prev_x;
		uint64_t x = escapers(bs & ~prev_x);
		escaped |= x << 1;
		prev_x = x >> 63;
		uint64_t qt = mask64(_mm256_cmpeq_epi8(lo, _mm256_set1_epi8('"')),
		                     _mm256_cmpeq_epi8(hi, _mm256_set1_epi8('"')));
		uint64_t q = qt & ~escaped;
		uint64_t in_str =
		    (uint64_t)_mm_cvtsi128_si64(_mm_clmulepi64_si128(
		        _mm_cvtsi64_si128((long long)q), _mm_set1_epi8((char)0xFF), 0)) ^
		    prev_in_string;
		prev_in_string = (uint64_t)((int64_t)in_str >> 63);

		/* character classes */
		uint64_t ws = mask64(_mm256_cmpeq_epi8(_mm256_shuffle_epi8(wst, lo), lo),
		                     _mm256_cmpeq_epi8(_mm256_shuffle_epi8(wst, hi), hi));
		__m256i lo20 = _mm256_or_si256(lo, c20), hi20 = _mm256_or_si256(hi, c20);
		uint64_t op = mask64(_mm256_cmpeq_epi8(_mm256_shuffle_epi8(opt, lo20), lo20),
		                     _mm256_cmpeq_epi8(_mm256_shuffle_epi8(opt, hi20), hi20));
		uint64_t ctrl = mask64(_mm256_cmpeq_epi8(_mm256_max_epu8(lo, c1f), c1f),
		                       _mm256_cmpeq_epi8(_mm256_max_epu8(hi, c1f), c1f));
		err |= ctrl & (~ws | in_str);
		if (escaped | hex_carry) {
			uint64_t u = escaped & mask64(_mm256_cmpeq_epi8(lo, _mm256_set1_epi8('u')),
			                              _mm256_cmpeq_epi8(hi, _mm256_set1_epi8('u')));
			err |= escape_errors(lo, hi, escaped, spread4(u) | hex_carry);
			hex_carry = spread4(u >> 60) >> 4;
		}

		/* UTF-8 */
		uint64_t nonascii = mask64(lo, hi);
		if (nonascii | prev_nonascii) {
			uerr = _mm256_or_si256(uerr, utf8_errors(lo, prev_half));
			uerr = _mm256_or_si256(uerr, utf8_errors(hi, lo));
		}
		prev_nonascii = nonascii;
		prev_half = hi;

		/* structural positions */
		uint64_t scalar = ~(ws | op | qt | in_str);
		uint64_t starts = scalar & ~(scalar << 1 | prev_scalar);
		prev_scalar = scalar >> 63;
		uint64_t st = (op & ~in_str) | (q & in_str) | starts;
		uint32_t cnt = (uint32_t)_mm_popcnt_u64(st), base = (uint32_t)pos;
		uint32_t *w = o;
		for (int k = 0; k < 8; k++, st = _blsr_u64(st)) /* branch-free for the usual few */
			w[k] = base + (uint32_t)_tzcnt_u64(st);
		if (cnt > 8) {
			for (int k = 8; k < 16; k++, st = _blsr_u64(st))
				w[k] = base + (uint32_t)_tzcnt_u64(st);
			for (w += 16; st; st = _blsr_u64(st))
				*w++ = base + (uint32_t)_tzcnt_u64(st);
		}
		o += cnt;
	}

	if (pos >= len) { /* the frame is classified: final checks, then the sentinel */
		const uint8_t *e = buf + len;
		if (prev_in_string || hex_carry || (len >= 1 && e[-1] >= 0xC0) ||
		    (len >= 2 && e[-2] >= 0xE0) || (len >= 3 && e[-3] >= 0xF0))
			err |= 1;
		*o++ = (uint32_t)len;
	}
	s->pos = pos;
	s->prev_x = prev_x;
	s->prev_in_string = prev_in_string;
	s->prev_scalar = prev_scalar;
	s->hex_carry = hex_carry;
	s->err = err;
	s->prev_nonascii = prev_nonascii;
	s->prev_half = prev_half;
	s->utf8_err = uerr;
	return (uint32_t)(o - s->idx);
}

TARGET static void stage1_init(stage1 *s, const uint8_t *buf, size_t len)
{
	s->buf = buf;
	s->len = len;
	s->pos = 0;
	s->prev_x = s->prev_in_string = s->prev_scalar = s->err = s->prev_nonascii = 0;
	s->hex_carry = 0;
	s->prev_half = s->utf8_err = _mm256_setzero_si256();
}

TARGET static bool stage1_failed(const stage1 *s)
{
	return s->err != 0 || !_mm256_testz_si256(s->utf8_err, s->utf8_err);
}

/* bytes that may follow a number or literal */
static const bool delimiter[256] = {
    [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [','] = 1,
    [':'] = 1, ['['] = 1,  [']'] = 1,  ['{'] = 1,  ['}'] = 1,
};

static bool delim_at(const uint8_t *buf, size_t len, size_t k)
{
	return k >= len || delimiter[buf[k]];
}

/* End (closing quote) of the string opening at pos, given the next structural position. */
static const uint8_t *string_end(const uint8_t *buf, uint32_t pos, uint32_t next)
{
	const uint8_t *e = buf + next - 1;
	while (e > buf + pos && (*e == ' ' || *e == '\n' || *e == '\r' || *e == '\t'))
		e--;
	return e > buf + pos && *e == '"' ? e : NULL;
}

/* Next structural position into x; classifies the next chunk when the current one is used up. */
#define NEXT(x)                                                                                    \
	do {                                                                                       \
		while (cur == lim) { /* a chunk can be all string */                               \
			lim = st.idx + classify_chunk(&st);                                        \
			cur = st.idx;                                                              \
		}                                                                                  \
		(x) = *cur++;                                                                      \
	} while (0)
#define CH(x) ((x) < len ? buf[(x)] : 0)
#define FAIL() return FRAME_NOT_JSON

TARGET frame_status frame_parse_avx2(const frame_parser *p, const char *cbuf, size_t len,
                                     frame *out)
{
	if (len >= UINT32_MAX - 64)
		return frame_parse_scalar(p, cbuf, len, out);
	const uint8_t *buf = (const uint8_t *)cbuf, *end = buf + len;
	stage1 st;
	stage1_init(&st, buf, len);
	const uint32_t *cur = st.idx, *lim = st.idx;
	/* the first raw byte of a key equal to the uid/ts name, when not a backslash */
	const uint8_t uid0 = p->uid_key_len ? (uint8_t)p->uid_key[0] : '"';
	const uint8_t ts0 = p->ts_key_len ? (uint8_t)p->ts_key[0] : '"';

	uint8_t is_obj[FRAME_MAX_DEPTH];
	unsigned depth = 0, want = 0;
	bool in_obj = false;
	frame_fields f = {0};
	uint32_t pos, next;
	const uint8_t *q;
	NEXT(pos);
	if (pos == len)
		return stage1_failed(&st) ? FRAME_NOT_JSON : FRAME_EMPTY;
	const bool top_obj = buf[pos] == '{';

value:
	switch (CH(pos)) {
	case '{':
	case '[':
		if (depth == FRAME_MAX_DEPTH)
			FAIL();
		if (want)
			frame_fields_other(&f, want);
		want = 0;
		in_obj = buf[pos] == '{';
		is_obj[depth++] = in_obj;
		NEXT(pos);
		if (CH(pos) == (in_obj ? '}' : ']'))
			goto close;
		if (in_obj)
			goto key;
		goto value;
	case '"':
		NEXT(next);
		if (want) {
			q = string_end(buf, pos, next);
			if (!q)
				FAIL();
			frame_fields_string(&f, want, buf + pos + 1, (size_t)(q - buf - pos - 1));
			want = 0;
		}
		pos = next;
		goto after;
	case 't':
		if (len - pos < 4 || memcmp(buf + pos, "true", 4) != 0 ||
		    !delim_at(buf, len, pos + 4))
			FAIL();
		goto other;
	case 'f':
		if (len - pos < 5 || memcmp(buf + pos, "false", 5) != 0 ||
		    !delim_at(buf, len, pos + 5))
			FAIL();
		goto other;
	case 'n':
		if (len - pos < 4 || memcmp(buf + pos, "null", 4) != 0 ||
		    !delim_at(buf, len, pos + 4))
			FAIL();
	other:
		if (want)
			frame_fields_other(&f, want);
		want = 0;
		NEXT(pos);
		goto after;
	default:
		q = frame_scan_number(buf + pos, end);
		if (!q || (q < end && !delimiter[*q]))
			FAIL();
		if (want)
			frame_fields_number(&f, want, buf + pos, (size_t)(q - buf - pos));
		want = 0;
		NEXT(pos);
		goto after;
	}

close: /* the container at depth closed at pos */
	depth--;
	in_obj = depth && is_obj[depth - 1];
	NEXT(pos);

after: /* pos: the structural after a value */
	if (depth == 0) {
		if (pos != len || stage1_failed(&st))
			FAIL();
		return frame_fields_finish(&f, top_obj, out);
	}
	if (CH(pos) == ',') {
		NEXT(pos);
		if (in_obj)
			goto key;
		goto value;
	}
	if (CH(pos) != (in_obj ? '}' : ']'))
		FAIL();
	goto close;

key: /* pos: where a key must start */
	if (CH(pos) != '"')
		FAIL();
	NEXT(next);
	if (CH(next) != ':')
		FAIL();
	if (depth == 1 && top_obj) {
		uint8_t c0 = buf[pos + 1];
		if ((c0 == uid0 || c0 == '\\') &&
		    frame_key_matches(buf + pos + 1, end, p->uid_key, p->uid_key_len)) {
			want |= FIELD_UID;
			f.uid_count++;
		}
		if ((c0 == ts0 || c0 == '\\') &&
		    frame_key_matches(buf + pos + 1, end, p->ts_key, p->ts_key_len)) {
			want |= FIELD_TS;
			f.ts_count++;
		}
	}
	NEXT(pos);
	goto value;
}

#else /* not x86-64: the scalar parser only */

bool frame_avx2_supported(void)
{
	return false;
}

frame_status frame_parse_avx2(const frame_parser *p, const char *buf, size_t len, frame *out)
{
	return frame_parse_scalar(p, buf, len, out);
}

#endif
