/* frame_avx2.c - the AVX2 frame parser: bitmask classification of 64-byte blocks, then a
 * table-driven walk over the structural positions only.
 *
 * How it works (the two-stage scheme of Langdale & Lemire, "Parsing Gigabytes of JSON per
 * Second", 2019, written afresh for a validate-and-extract parser):
 *
 * Stage 1 turns each 64-byte block into 64-bit masks (bit i = byte i):
 *  - backslashes B; escaped bytes = bytes preceded by an odd run of backslashes. A backslash at
 *    an even offset from the start of its run escapes the next byte. Runs starting at even
 *    positions are isolated by adding their start bits to B (the carry clears the run); the
 *    escapers are then the even-position bits of those runs and the odd-position bits of the
 *    others. A byte escaped across the block boundary is carried as one bit.
 *  - quotes not escaped Q; in-string mask S = prefix-XOR of Q (one carry-less multiply by ~0),
 *    carried across blocks: S covers an opening quote and the string body, not the closing quote.
 *  - whitespace and the six structural characters, by nibble-table lookups (vpshufb).
 *  - the structural positions: brackets outside strings, opening quotes, and the first byte of
 *    every run of other bytes outside strings (numbers, literals, garbage). The separators ':'
 *    and ',' are not positions: the token after each one (its first non-whitespace byte) is
 *    marked in two masks per block instead, found by adding the separators' next bits to the
 *    whitespace mask (the carry crosses a whitespace run, and blocks). A separator followed by a
 *    separator or by the end of the frame is an error.
 *  - errors, accumulated and checked when the frame ends: control characters in strings or
 *    outside them (but for whitespace), escaped bytes that are not escape characters, \u not
 *    followed by four hex digits (one more nibble lookup), UTF-8 errors (three nibble lookups
 *    classify every (previous byte, byte) pair into error rules; the continuation bytes that a
 *    lead two or three bytes back requires are checked apart), a string still open at the end.
 *    These checks run on every block without branches: on frames that mix escapes and non-ASCII
 *    text everywhere, skipping them costs more in mispredictions than it saves.
 *    The bytes past len in the last block are replaced by spaces first.
 * The mask of each block is expanded into positions eight bits at a time through a 256-entry
 * table of bit positions (vpmovzxbd + add), without branches or a serial tzcnt/blsr chain.
 *
 * Stage 2 is a pushdown automaton over the positions. A token's class (one of { [ } ] " or
 * "scalar") comes from its first byte, and the separator before it (none, ':' or ',') from the
 * masks; the next state is a nibble of a 64-bit word per (separator, class), indexed by the state
 * (no table load on the dependency chain), as are the push/pop/key flags. The separator's own
 * transition is composed into those words at compile time, so stage 2 visits 40% fewer tokens
 * than a walk over separators would, at no extra step on the state chain.
 * Pushes are branch-free (a byte per level records object or array); a pop takes a branch and
 * reads the parent's kind. FRAME_MAX_DEPTH levels cost 1 KB of stack; deeper input fails. The
 * walk also lists, without branches, the chunk's scalar tokens and top-level keys. Then each
 * scalar is checked as a literal or a number followed by a delimiter (the number grammar is
 * followed on bit masks of one 32-byte load, without data-dependent branches), and each
 * top-level key goes through an 8-byte prefilter; the few that may name uid or ts are compared
 * decoded (frame.c) and the value after a match is recorded. When the positions run out, stage 1
 * classifies the next chunk (2 KB), so memory stays fixed whatever the frame length (about 25 KB
 * of stack).
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

#define TARGET __attribute__((target("avx2,pclmul,bmi,bmi2,popcnt")))

#define CHUNK_BLOCKS 32
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
	uint64_t hex_carry;      /* bytes of the next block that must be hex digits (of a \u) */
	uint64_t colon_carry;    /* 1: a ':' waits for its value in the next block */
	uint64_t comma_carry;    /* the same for ',' */
	size_t base;             /* the offset of the current chunk's first block */
	uint64_t after_colon[CHUNK_BLOCKS]; /* per block: tokens whose previous non-space is ':' */
	uint64_t after_comma[CHUNK_BLOCKS]; /* the same for ',' */
	uint64_t err;                       /* non-zero: an error was seen */
	__m256i prev_half;     /* the last 32 bytes classified (for UTF-8 lookbehind) */
	__m256i utf8_err;      /* non-zero bytes: UTF-8 errors */
	uint32_t idx[IDX_CAP]; /* structural positions of the current chunk */
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

/* bitpos8[m]: the positions (0..7) of the set bits of m, one per byte from the lowest. */
static const uint64_t bitpos8[256] = {
    0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000001ULL, 0x0000000000000100ULL,
    0x0000000000000002ULL, 0x0000000000000200ULL, 0x0000000000000201ULL, 0x0000000000020100ULL,
    0x0000000000000003ULL, 0x0000000000000300ULL, 0x0000000000000301ULL, 0x0000000000030100ULL,
    0x0000000000000302ULL, 0x0000000000030200ULL, 0x0000000000030201ULL, 0x0000000003020100ULL,
    0x0000000000000004ULL, 0x0000000000000400ULL, 0x0000000000000401ULL, 0x0000000000040100ULL,
    0x0000000000000402ULL, 0x0000000000040200ULL, 0x0000000000040201ULL, 0x0000000004020100ULL,
    0x0000000000000403ULL, 0x0000000000040300ULL, 0x0000000000040301ULL, 0x0000000004030100ULL,
    0x0000000000040302ULL, 0x0000000004030200ULL, 0x0000000004030201ULL, 0x0000000403020100ULL,
    0x0000000000000005ULL, 0x0000000000000500ULL, 0x0000000000000501ULL, 0x0000000000050100ULL,
    0x0000000000000502ULL, 0x0000000000050200ULL, 0x0000000000050201ULL, 0x0000000005020100ULL,
    0x0000000000000503ULL, 0x0000000000050300ULL, 0x0000000000050301ULL, 0x0000000005030100ULL,
    0x0000000000050302ULL, 0x0000000005030200ULL, 0x0000000005030201ULL, 0x0000000503020100ULL,
    0x0000000000000504ULL, 0x0000000000050400ULL, 0x0000000000050401ULL, 0x0000000005040100ULL,
    0x0000000000050402ULL, 0x0000000005040200ULL, 0x0000000005040201ULL, 0x0000000504020100ULL,
    0x0000000000050403ULL, 0x0000000005040300ULL, 0x0000000005040301ULL, 0x0000000504030100ULL,
    0x0000000005040302ULL, 0x0000000504030200ULL, 0x0000000504030201ULL, 0x0000050403020100ULL,
    0x0000000000000006ULL, 0x0000000000000600ULL, 0x0000000000000601ULL, 0x0000000000060100ULL,
    0x0000000000000602ULL, 0x0000000000060200ULL, 0x0000000000060201ULL, 0x0000000006020100ULL,
    0x0000000000000603ULL, 0x0000000000060300ULL, 0x0000000000060301ULL, 0x0000000006030100ULL,
    0x0000000000060302ULL, 0x0000000006030200ULL, 0x0000000006030201ULL, 0x0000000603020100ULL,
    0x0000000000000604ULL, 0x0000000000060400ULL, 0x0000000000060401ULL, 0x0000000006040100ULL,
    0x0000000000060402ULL, 0x0000000006040200ULL, 0x0000000006040201ULL, 0x0000000604020100ULL,
    0x0000000000060403ULL, 0x0000000006040300ULL, 0x0000000006040301ULL, 0x0000000604030100ULL,
    0x0000000006040302ULL, 0x0000000604030200ULL, 0x0000000604030201ULL, 0x0000060403020100ULL,
    0x0000000000000605ULL, 0x0000000000060500ULL, 0x0000000000060501ULL, 0x0000000006050100ULL,
    0x0000000000060502ULL, 0x0000000006050200ULL, 0x0000000006050201ULL, 0x0000000605020100ULL,
    0x0000000000060503ULL, 0x0000000006050300ULL, 0x0000000006050301ULL, 0x0000000605030100ULL,
    0x0000000006050302ULL, 0x0000000605030200ULL, 0x0000000605030201ULL, 0x0000060503020100ULL,
    0x0000000000060504ULL, 0x0000000006050400ULL, 0x0000000006050401ULL, 0x0000000605040100ULL,
    0x0000000006050402ULL, 0x0000000605040200ULL, 0x0000000605040201ULL, 0x0000060504020100ULL,
    0x0000000006050403ULL, 0x0000000605040300ULL, 0x0000000605040301ULL, 0x0000060504030100ULL,
    0x0000000605040302ULL, 0x0000060504030200ULL, 0x0000060504030201ULL, 0x0006050403020100ULL,
    0x0000000000000007ULL, 0x0000000000000700ULL, 0x0000000000000701ULL, 0x0000000000070100ULL,
    0x0000000000000702ULL, 0x0000000000070200ULL, 0x0000000000070201ULL, 0x0000000007020100ULL,
    0x0000000000000703ULL, 0x0000000000070300ULL, 0x0000000000070301ULL, 0x0000000007030100ULL,
    0x0000000000070302ULL, 0x0000000007030200ULL, 0x0000000007030201ULL, 0x0000000703020100ULL,
    0x0000000000000704ULL, 0x0000000000070400ULL, 0x0000000000070401ULL, 0x0000000007040100ULL,
    0x0000000000070402ULL, 0x0000000007040200ULL, 0x0000000007040201ULL, 0x0000000704020100ULL,
    0x0000000000070403ULL, 0x0000000007040300ULL, 0x0000000007040301ULL, 0x0000000704030100ULL,
    0x0000000007040302ULL, 0x0000000704030200ULL, 0x0000000704030201ULL, 0x0000070403020100ULL,
    0x0000000000000705ULL, 0x0000000000070500ULL, 0x0000000000070501ULL, 0x0000000007050100ULL,
    0x0000000000070502ULL, 0x0000000007050200ULL, 0x0000000007050201ULL, 0x0000000705020100ULL,
    0x0000000000070503ULL, 0x0000000007050300ULL, 0x0000000007050301ULL, 0x0000000705030100ULL,
    0x0000000007050302ULL, 0x0000000705030200ULL, 0x0000000705030201ULL, 0x0000070503020100ULL,
    0x0000000000070504ULL, 0x0000000007050400ULL, 0x0000000007050401ULL, 0x0000000705040100ULL,
    0x0000000007050402ULL, 0x0000000705040200ULL, 0x0000000705040201ULL, 0x0000070504020100ULL,
    0x0000000007050403ULL, 0x0000000705040300ULL, 0x0000000705040301ULL, 0x0000070504030100ULL,
    0x0000000705040302ULL, 0x0000070504030200ULL, 0x0000070504030201ULL, 0x0007050403020100ULL,
    0x0000000000000706ULL, 0x0000000000070600ULL, 0x0000000000070601ULL, 0x0000000007060100ULL,
    0x0000000000070602ULL, 0x0000000007060200ULL, 0x0000000007060201ULL, 0x0000000706020100ULL,
    0x0000000000070603ULL, 0x0000000007060300ULL, 0x0000000007060301ULL, 0x0000000706030100ULL,
    0x0000000007060302ULL, 0x0000000706030200ULL, 0x0000000706030201ULL, 0x0000070603020100ULL,
    0x0000000000070604ULL, 0x0000000007060400ULL, 0x0000000007060401ULL, 0x0000000706040100ULL,
    0x0000000007060402ULL, 0x0000000706040200ULL, 0x0000000706040201ULL, 0x0000070604020100ULL,
    0x0000000007060403ULL, 0x0000000706040300ULL, 0x0000000706040301ULL, 0x0000070604030100ULL,
    0x0000000706040302ULL, 0x0000070604030200ULL, 0x0000070604030201ULL, 0x0007060403020100ULL,
    0x0000000000070605ULL, 0x0000000007060500ULL, 0x0000000007060501ULL, 0x0000000706050100ULL,
    0x0000000007060502ULL, 0x0000000706050200ULL, 0x0000000706050201ULL, 0x0000070605020100ULL,
    0x0000000007060503ULL, 0x0000000706050300ULL, 0x0000000706050301ULL, 0x0000070605030100ULL,
    0x0000000706050302ULL, 0x0000070605030200ULL, 0x0000070605030201ULL, 0x0007060503020100ULL,
    0x0000000007060504ULL, 0x0000000706050400ULL, 0x0000000706050401ULL, 0x0000070605040100ULL,
    0x0000000706050402ULL, 0x0000070605040200ULL, 0x0000070605040201ULL, 0x0007060504020100ULL,
    0x0000000706050403ULL, 0x0000070605040300ULL, 0x0000070605040301ULL, 0x0007060504030100ULL,
    0x0000070605040302ULL, 0x0007060504030200ULL, 0x0007060504030201ULL, 0x0706050403020100ULL,
};

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

/* bytes that may follow a number or literal */
static const bool delimiter[256] = {
    [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [','] = 1,
    [':'] = 1, ['['] = 1,  [']'] = 1,  ['{'] = 1,  ['}'] = 1,
};

static bool delim_at(const uint8_t *buf, size_t len, size_t k)
{
	return k >= len || delimiter[buf[k]];
}

/* Is the scalar token at buf[p] a literal or a number, followed by a delimiter or the end? */
static bool scalar_ok_slow(const uint8_t *buf, size_t p, size_t len)
{
	const uint8_t *s = buf + p;
	switch (*s) {
	case 't':
		return len - p >= 4 && memcmp(s, "true", 4) == 0 && delim_at(buf, len, p + 4);
	case 'f':
		return len - p >= 5 && memcmp(s, "false", 5) == 0 && delim_at(buf, len, p + 5);
	case 'n':
		return len - p >= 4 && memcmp(s, "null", 4) == 0 && delim_at(buf, len, p + 4);
	default: {
		const uint8_t *q = frame_scan_number(s, buf + len);
		return q && delim_at(buf, len, (size_t)(q - buf));
	}
	}
}

/* The same without data-dependent branches for tokens shorter than 32 bytes: the 32 bytes at p
 * are classified (digit, sign, point, exponent) into bit masks, and the number grammar
 * -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)? is followed by counting trailing digits from each part. */
TARGET static inline bool scalar_ok(const uint8_t *buf, size_t p, size_t len)
{
	const uint8_t *s = buf + p;
	size_t left = len - p;
	__m256i v = _mm256_loadu_si256((const __m256i *)s);
	__m256i d0 = _mm256_sub_epi8(v, _mm256_set1_epi8('0'));
	uint64_t avail = _bzhi_u64(~0ULL, (unsigned)(left < 32 ? left : 32));
	uint64_t dig = (uint32_t)_mm256_movemask_epi8(
	    _mm256_cmpeq_epi8(_mm256_min_epu8(d0, _mm256_set1_epi8(9)), d0));
	uint64_t minus =
	    (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('-')));
	uint64_t plus = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('+')));
	uint64_t dot = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('.')));
	uint64_t ex = (uint32_t)_mm256_movemask_epi8(
	    _mm256_cmpeq_epi8(_mm256_or_si256(v, _mm256_set1_epi8(0x20)), _mm256_set1_epi8('e')));
	dig &= avail;
	uint64_t len_num = _tzcnt_u64(~((dig | minus | plus | dot | ex) & avail));
	if (__builtin_expect(len_num >= 32, 0))
		return scalar_ok_slow(buf, p, len);
	uint64_t i0 = minus & 1;
	uint64_t a = i0 + _tzcnt_u64(~(dig >> i0)); /* end of the integer digits */
	bool ok = (a > i0) & !((s[i0] == '0') & (a > i0 + 1));
	uint64_t has_frac = (dot >> a) & 1, b = a + has_frac;
	uint64_t c = b + _tzcnt_u64(~(dig >> b)); /* end of the fraction digits */
	ok &= !has_frac | (c > b);
	uint64_t has_exp = (ex >> c) & 1, d = c + has_exp;
	uint64_t e0 = d + (has_exp & ((minus | plus) >> d));
	uint64_t f = e0 + _tzcnt_u64(~(dig >> e0)); /* end of the exponent digits */
	ok &= (!has_exp | (f > e0)) & (f == len_num) & delim_at(buf, len, p + f);
	uint64_t w;
	memcpy(&w, s, 8);
	bool lit =
	    (left >= 4 && (uint32_t)w == 0x65757274u && delim_at(buf, len, p + 4)) || /* true */
	    (left >= 4 && (uint32_t)w == 0x6c6c756eu && delim_at(buf, len, p + 4)) || /* null */
	    (left >= 5 && (w & 0xFFFFFFFFFFULL) == 0x65736c6166ULL &&
	     delim_at(buf, len, p + 5)); /* false */
	return ok | lit;
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
	uint64_t prev_scalar = s->prev_scalar, hex_carry = s->hex_carry, err = s->err;
	uint64_t colon_carry = s->colon_carry, comma_carry = s->comma_carry;
	s->base = pos;
	unsigned blk = 0;
	__m256i prev_half = s->prev_half, uerr = s->utf8_err;
	const __m256i wst = table16(ws_table), opt = table16(op_table);
	const __m256i eh = table16(esc_high), el = table16(esc_low);
	const __m256i c1f = _mm256_set1_epi8(0x1F), c20 = _mm256_set1_epi8(0x20);
	const __m256i nib = _mm256_set1_epi8(0x0F), z = _mm256_setzero_si256();
	uint32_t *o = s->idx;

	for (; pos < stop; pos += 64, blk++) {
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
		uint64_t x = escapers(bs & ~prev_x);
		uint64_t escaped = x << 1 | prev_x;
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

		/* escape characters and the hex digits of \u */
		__m256i lo_hi = _mm256_and_si256(_mm256_srli_epi16(lo, 4), nib);
		__m256i hi_hi = _mm256_and_si256(_mm256_srli_epi16(hi, 4), nib);
		__m256i cl = _mm256_and_si256(_mm256_shuffle_epi8(eh, lo_hi),
		                              _mm256_shuffle_epi8(el, _mm256_and_si256(lo, nib)));
		__m256i ch = _mm256_and_si256(_mm256_shuffle_epi8(eh, hi_hi),
		                              _mm256_shuffle_epi8(el, _mm256_and_si256(hi, nib)));
		const __m256i escbits = _mm256_set1_epi8(0x0F), hexbits = _mm256_set1_epi8(0x30);
		uint64_t not_esc = mask64(_mm256_cmpeq_epi8(_mm256_and_si256(cl, escbits), z),
		                          _mm256_cmpeq_epi8(_mm256_and_si256(ch, escbits), z));
		uint64_t not_hex = mask64(_mm256_cmpeq_epi8(_mm256_and_si256(cl, hexbits), z),
		                          _mm256_cmpeq_epi8(_mm256_and_si256(ch, hexbits), z));
		uint64_t u = escaped & mask64(_mm256_cmpeq_epi8(lo, _mm256_set1_epi8('u')),
		                              _mm256_cmpeq_epi8(hi, _mm256_set1_epi8('u')));
		err |= (escaped & not_esc) | ((spread4(u) | hex_carry) & not_hex);
		hex_carry = spread4(u >> 60) >> 4;

		/* UTF-8 */
		uerr = _mm256_or_si256(uerr, utf8_errors(lo, prev_half));
		uerr = _mm256_or_si256(uerr, utf8_errors(hi, lo));
		prev_half = hi;

		/* structural positions */
		uint64_t scalar = ~(ws | op | qt | in_str);
		uint64_t starts = scalar & ~(scalar << 1 | prev_scalar);
		prev_scalar = scalar >> 63;
		/* separators: the token after each ':' and ',' (the first byte that is not
		 * whitespace) is marked for stage 2, which then never sees the separators; a run of
		 * whitespace is crossed by a carry. A separator followed by a separator, or by the
		 * end of the frame, is an error. */
		/* of the operators , : [ ] { } only , and : lack bit 6, and only : has bit 4 */
		uint64_t bit6 = mask64(_mm256_slli_epi16(lo, 1), _mm256_slli_epi16(hi, 1));
		uint64_t bit4 = mask64(_mm256_slli_epi16(lo, 3), _mm256_slli_epi16(hi, 3));
		uint64_t sep = op & ~bit6 & ~in_str;
		uint64_t colon = sep & bit4, comma = sep & ~bit4;
		uint64_t wso = ws & ~in_str;
		uint64_t sc = colon << 1 | colon_carry, sm = comma << 1 | comma_carry;
		uint64_t rc, rm;
		colon_carry = __builtin_add_overflow(sc & wso, wso, &rc);
		comma_carry = __builtin_add_overflow(sm & wso, wso, &rm);
		uint64_t ac = (rc & ~wso) | (sc & ~wso), am = (rm & ~wso) | (sm & ~wso);
		colon_carry |= colon >> 63;
		comma_carry |= comma >> 63;
		err |= (ac | am) & (colon | comma);
		s->after_colon[blk] = ac;
		s->after_comma[blk] = am;
		uint64_t st = (op & ~sep & ~in_str) | (q & in_str) | starts;
		for (int k = 0; k < 8; k++) {
			unsigned m = (unsigned)(st >> (8 * k)) & 0xFF;
			__m256i v = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)bitpos8[m]));
			v = _mm256_add_epi32(v, _mm256_set1_epi32((int)(pos + 8 * (size_t)k)));
			_mm256_storeu_si256((__m256i *)o, v);
			o += _mm_popcnt_u32(m);
		}
	}

	if (pos >= len) { /* the frame is classified: final checks, then the sentinel */
		const uint8_t *e = buf + len;
		if (prev_in_string || hex_carry || colon_carry || comma_carry ||
		    (len >= 1 && e[-1] >= 0xC0) || (len >= 2 && e[-2] >= 0xE0) ||
		    (len >= 3 && e[-3] >= 0xF0))
			err |= 1;
		*o++ = (uint32_t)len;
	}
	s->pos = pos;
	s->prev_x = prev_x;
	s->prev_in_string = prev_in_string;
	s->prev_scalar = prev_scalar;
	s->hex_carry = hex_carry;
	s->colon_carry = colon_carry;
	s->comma_carry = comma_carry;
	s->err = err;
	s->prev_half = prev_half;
	s->utf8_err = uerr;
	return (uint32_t)(o - s->idx);
}

TARGET static void stage1_init(stage1 *s, const uint8_t *buf, size_t len)
{
	s->buf = buf;
	s->len = len;
	s->pos = 0;
	s->prev_x = s->prev_in_string = s->prev_scalar = s->hex_carry = s->err = 0;
	s->colon_carry = s->comma_carry = 0;
	s->prev_half = s->utf8_err = _mm256_setzero_si256();
}

TARGET static bool stage1_failed(const stage1 *s)
{
	return s->err != 0 || !_mm256_testz_si256(s->utf8_err, s->utf8_err);
}

/* Stage 2: token classes and automaton states. */
enum { T_SCALAR, T_OBJ_OPEN, T_ARR_OPEN, T_OBJ_CLOSE, T_ARR_CLOSE, T_COLON, T_COMMA, T_STRING };
enum {
	S_ERR,       /* sticky */
	S_START,     /* the top-level value is next */
	S_DONE,      /* after the top-level value: only the end may follow */
	S_OBJ_FIRST, /* after {: a key or } */
	S_OBJ_KEY,   /* after , in an object: a key */
	S_OBJ_COLON, /* after a key */
	S_OBJ_VALUE, /* after : */
	S_OBJ_NEXT,  /* after a member: , or } */
	S_ARR_FIRST, /* after [: a value or ] */
	S_ARR_VALUE, /* after , in an array */
	S_ARR_NEXT,  /* after an element: , or ] */
};

static const uint8_t token_class[256] = {
    ['{'] = T_OBJ_OPEN, ['['] = T_ARR_OPEN, ['}'] = T_OBJ_CLOSE, [']'] = T_ARR_CLOSE,
    [':'] = T_COLON,    [','] = T_COMMA,    ['"'] = T_STRING, /* anything else: T_SCALAR */
};

#define NIB(state, v) ((uint64_t)(v) << (4 * (state)))
/* the states where a value may start, and the state after that value */
#define VALUE_STATES(v)                                                                            \
	(NIB(S_START, v) | NIB(S_OBJ_VALUE, v) | NIB(S_ARR_FIRST, v) | NIB(S_ARR_VALUE, v))
#define AFTER_VALUE                                                                                \
	(NIB(S_START, S_DONE) | NIB(S_OBJ_VALUE, S_OBJ_NEXT) | NIB(S_ARR_FIRST, S_ARR_NEXT) |      \
	 NIB(S_ARR_VALUE, S_ARR_NEXT))

/* The automaton without separators, per token class: nibble s of NS_x = the state after a token
 * of class x in state s (pops aside); nibble s of FL_x = 1 when the token opens a container in
 * state s, 2 when it closes one, 4 when it is a key (a string where a key is due). */
#define NS_SCALAR AFTER_VALUE
#define NS_OBJ_OPEN VALUE_STATES(S_OBJ_FIRST)
#define NS_ARR_OPEN VALUE_STATES(S_ARR_FIRST)
#define NS_STRING (AFTER_VALUE | NIB(S_OBJ_FIRST, S_OBJ_COLON) | NIB(S_OBJ_KEY, S_OBJ_COLON))
#define FL_OPEN VALUE_STATES(1)
#define FL_OBJ_CLOSE (NIB(S_OBJ_FIRST, 2) | NIB(S_OBJ_NEXT, 2))
#define FL_ARR_CLOSE (NIB(S_ARR_FIRST, 2) | NIB(S_ARR_NEXT, 2))
#define FL_STRING (NIB(S_OBJ_FIRST, 4) | NIB(S_OBJ_KEY, 4))

/* Separators never reach stage 2: each token comes with the separator before it (none, ':' or
 * ','), whose transition SEP_x is composed into the token's words at compile time. */
#define SEP_NONE 0xFEDCBA9876543210ULL
#define SEP_COLON NIB(S_OBJ_COLON, S_OBJ_VALUE)
#define SEP_COMMA (NIB(S_OBJ_NEXT, S_OBJ_KEY) | NIB(S_ARR_NEXT, S_ARR_VALUE))
#define NIB_AT(w, s) (((w) >> (4 * (s))) & 15)
#define COMPOSE1(sep, w, s) (NIB_AT(w, NIB_AT(sep, s)) << (4 * (s)))
#define COMPOSE4(sep, w, s)                                                                        \
	(COMPOSE1(sep, w, s) | COMPOSE1(sep, w, (s) + 1) | COMPOSE1(sep, w, (s) + 2) |             \
	 COMPOSE1(sep, w, (s) + 3))
#define COMPOSE(sep, w)                                                                            \
	(COMPOSE4(sep, w, 0) | COMPOSE4(sep, w, 4) | COMPOSE4(sep, w, 8) | COMPOSE4(sep, w, 12))
#define TOKENS(k, sep, w)                                                                          \
	[8 * (k) + T_SCALAR] = COMPOSE(sep, w##_SCALAR),                                           \
	           [8 * (k) + T_OBJ_OPEN] = COMPOSE(sep, w##_OBJ_OPEN),                            \
	           [8 * (k) + T_ARR_OPEN] = COMPOSE(sep, w##_ARR_OPEN),                            \
	           [8 * (k) + T_OBJ_CLOSE] = COMPOSE(sep, w##_OBJ_CLOSE),                          \
	           [8 * (k) + T_ARR_CLOSE] = COMPOSE(sep, w##_ARR_CLOSE),                          \
	           [8 * (k) + T_STRING] = COMPOSE(sep, w##_STRING)
#define NS_OBJ_CLOSE 0ULL
#define NS_ARR_CLOSE 0ULL
#define FL_SCALAR 0ULL
#define FL_OBJ_OPEN FL_OPEN
#define FL_ARR_OPEN FL_OPEN

/* next_state[sep * 8 + class], flags[sep * 8 + class]: the words above, separator included
 * (sep 3, both separators, only comes with an error that stage 1 reports: all zero, S_ERR) */
static const uint64_t next_state[32] = {
    TOKENS(0, SEP_NONE, NS),
    TOKENS(1, SEP_COLON, NS),
    TOKENS(2, SEP_COMMA, NS),
};
static const uint64_t flags[32] = {
    TOKENS(0, SEP_NONE, FL),
    TOKENS(1, SEP_COLON, FL),
    TOKENS(2, SEP_COMMA, FL),
};

/* Just past the closing quote of the string whose body starts at s (or end). */
static const uint8_t *string_close(const uint8_t *s, const uint8_t *end)
{
	while (s < end && *s != '"')
		s += *s == '\\' ? 2 : 1;
	return s < end ? s : end;
}

/* Records the value at buf[pos] (class cls) of a top-level uid/ts key. */
static void take_value(frame_fields *f, unsigned want, const uint8_t *buf, size_t len, size_t pos,
                       unsigned cls)
{
	const uint8_t *s = buf + pos, *end = buf + len;
	if (cls == T_STRING) {
		const uint8_t *q = string_close(s + 1, end);
		frame_fields_string(f, want, s + 1, (size_t)(q - s - 1));
	} else if (cls == T_SCALAR && *s != 't' && *s != 'f' && *s != 'n') {
		const uint8_t *q = frame_scan_number(s, end);
		if (q)
			frame_fields_number(f, want, s, (size_t)(q - s));
	} else {
		frame_fields_other(f, want);
	}
}

/* Handles a top-level key at pos (a valid frame assumed; reads stay before end): counts it when
 * it names the uid or ts field and records the value that follows. */
static void take_key(const frame_parser *p, frame_fields *f, const uint8_t *buf, size_t len,
                     size_t pos)
{
	const uint8_t *end = buf + len, *k = buf + pos + 1;
	unsigned want = 0;
	if (frame_key_matches(k, end, p->uid_key, p->uid_key_len)) {
		want |= FIELD_UID;
		f->uid_count++;
	}
	if (frame_key_matches(k, end, p->ts_key, p->ts_key_len)) {
		want |= FIELD_TS;
		f->ts_count++;
	}
	if (!want)
		return;
	const uint8_t *v = string_close(k, end); /* then whitespace and the colon */
	while (++v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r' || *v == ':'))
		;
	if (v < end)
		take_value(f, want, buf, len, (size_t)(v - buf), token_class[*v]);
}

/* A quick test of whether a top-level key may equal a configured name, on the first 8 raw bytes
 * of the key. For a name of at most 7 bytes without a backslash, the key can only equal it raw
 * (the name's bytes, then the closing quote) or with an escape within its first len bytes
 * (before the first escape, raw and decoded bytes agree). Other names: a key whose first raw
 * byte is the name's first byte or a backslash. */
typedef struct key_filter {
	bool short_plain;
	uint64_t word, mask; /* short_plain: the raw form and the bytes it covers */
	uint64_t bs_mask;    /* short_plain: the first len bytes */
	uint8_t first;       /* otherwise: the first raw byte */
} key_filter;

static key_filter key_filter_of(const char *name, size_t len)
{
	key_filter k = {0};
	k.first = len ? (uint8_t)name[0] : '"';
	k.short_plain = len <= 7 && memchr(name, '\\', len) == NULL;
	if (k.short_plain) {
		for (size_t i = 0; i < len; i++)
			k.word |= (uint64_t)(uint8_t)name[i] << (8 * i);
		k.word |= (uint64_t)'"' << (8 * len);
		k.mask = len == 7 ? ~0ULL : (1ULL << (8 * (len + 1))) - 1;
		k.bs_mask = len ? (1ULL << (8 * len)) - 1 : 0;
	}
	return k;
}

static inline __attribute__((always_inline)) bool key_may_be(const key_filter *k, uint64_t word)
{
	if (!k->short_plain)
		return (uint8_t)word == k->first || (uint8_t)word == '\\';
	uint64_t b = (word ^ 0x5C5C5C5C5C5C5C5CULL) & k->bs_mask; /* zero bytes: backslashes */
	bool backslash =
	    ((b - 0x0101010101010101ULL) & ~b & 0x8080808080808080ULL & k->bs_mask) != 0;
	return (word & k->mask) == k->word || backslash;
}

/* The automaton's state between chunks. */
typedef struct walker {
	unsigned state, depth;
	uint8_t is_obj[FRAME_MAX_DEPTH + 1]; /* is_obj[d]: the container at depth d+1 */
} walker;

/* Runs the automaton over the positions cur[0..n) of one chunk. Appends the positions of
 * top-level keys to keys and of scalar tokens to scalars (their counts into *nk, *ns). Returns
 * false when nesting exceeds FRAME_MAX_DEPTH. Kept out of line: a small function keeps all its
 * variables in registers. */
__attribute__((noinline)) static bool walk_chunk(walker *w, const uint8_t *buf, const stage1 *s1,
                                                 uint32_t n, uint32_t *keys, uint32_t *nk,
                                                 uint32_t *scalars, uint32_t *ns)
{
	const uint32_t *cur = s1->idx;
	const uint32_t base = (uint32_t)s1->base;
	unsigned state = w->state, depth = w->depth;
	uint32_t k = 0, m = 0;
	const uint32_t *lim = cur + n;
	while (cur < lim) {
		uint32_t pos = *cur++;
		unsigned cls = token_class[buf[pos]];
		uint32_t rel = pos - base;
		unsigned sep = (unsigned)(s1->after_colon[rel >> 6] >> (rel & 63)) & 1;
		sep |= ((unsigned)(s1->after_comma[rel >> 6] >> (rel & 63)) & 1) << 1;
		unsigned ti = sep * 8 + cls;
		unsigned s4 = state * 4;
		unsigned next = (unsigned)(next_state[ti] >> s4) & 15;
		unsigned fl = (unsigned)(flags[ti] >> s4) & 15;
		keys[k] = pos;
		k += (fl >> 2) & (depth == 1);
		scalars[m] = pos;
		m += cls == T_SCALAR;
		if (fl & 2) { /* close */
			depth--;
			state =
			    depth == 0 ? S_DONE : (w->is_obj[depth - 1] ? S_OBJ_NEXT : S_ARR_NEXT);
			continue;
		}
		w->is_obj[depth] = cls == T_OBJ_OPEN; /* a dead slot unless this opens */
		depth += fl & 1;
		state = next;
		if (__builtin_expect(depth > FRAME_MAX_DEPTH, 0))
			return false;
	}
	w->state = state;
	w->depth = depth;
	*nk = k;
	*ns = m;
	return true;
}

TARGET frame_status frame_parse_avx2(const frame_parser *p, const char *cbuf, size_t len,
                                     frame *out)
{
	if (len >= UINT32_MAX - 64)
		return frame_parse_scalar(p, cbuf, len, out);
	const uint8_t *buf = (const uint8_t *)cbuf;
	stage1 st;
	stage1_init(&st, buf, len);
	const key_filter fu = key_filter_of(p->uid_key, p->uid_key_len);
	const key_filter ft = key_filter_of(p->ts_key, p->ts_key_len);

	walker w;
	w.state = S_START;
	w.depth = 0;
	w.is_obj[0] = 0;
	uint32_t keys[IDX_CAP], scalars[IDX_CAP]; /* the chunk's top-level keys and scalars */
	bool bad = false;
	frame_fields f = {0};
	for (;;) {
		uint32_t n = classify_chunk(&st), nk, ns;
		bool last = st.pos >= len;
		if (!walk_chunk(&w, buf, &st, n - last, keys, &nk, scalars, &ns))
			return FRAME_NOT_JSON;
		for (uint32_t i = 0; i < ns; i++)
			bad |= !scalar_ok(buf, scalars[i], len);
		for (uint32_t i = 0; i < nk; i++) {
			uint64_t word;
			memcpy(&word, buf + keys[i] + 1, 8);
			if ((int)key_may_be(&fu, word) | (int)key_may_be(&ft, word))
				take_key(p, &f, buf, len, keys[i]);
		}
		if (last)
			break;
	}
	if (bad || stage1_failed(&st))
		return FRAME_NOT_JSON;
	if (w.state == S_START)
		return FRAME_EMPTY;
	if (w.state != S_DONE)
		return FRAME_NOT_JSON;
	return frame_fields_finish(&f, w.is_obj[0], out);
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
