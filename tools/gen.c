/* gen.c - kuniq-gen: a deterministic generator of JSON-lines log streams for kuniq.
 *
 * It writes frames with the shape of the public "unique users per minute" sample: ~2 KB JSON
 * objects with a top-level "uid" (19 lowercase hex chars drawn from a pool of users) and "ts"
 * (unix seconds, starting at 1468244384 and advancing by --step seconds with probability 1/--rate
 * per frame), 0-3 random keys before them, many after, values of every JSON type (strings with
 * escapes and raw Cyrillic UTF-8, arrays, nested objects whose keys are sometimes uid/ts) and
 * repeated keys. Options add delays, string timestamps, bit flips (any bit, either direction),
 * clock jumps, bursts separated by pauses, a burst of garbage timestamps and malformed frames of
 * many kinds (docs/generator.md lists them with the reason kuniq gives each).
 *
 * How it works:
 *  - Randomness comes from xoshiro256** seeded by splitmix64. At start-up a value pool (strings,
 *    arrays, objects) and the user pool are rendered once from the seed.
 *  - Frame i has two private generators seeded from (seed, i): a control generator that always
 *    draws the same fixed slots (clock advance, delay, string ts, bit flip, malformed, user...)
 *    whatever the options, and a body generator for the key/value layout. So two runs with the
 *    same seed that differ only in a probability (e.g. --bitflip-prob 0 vs 0.01) produce the same
 *    frames except those the probability touches: tests rely on this alignment. Garbage frames
 *    (--garbage-count) draw from generators of their own, so inserting them shifts no other
 *    frame's randomness.
 *  - Frames are assembled with memcpy from the pools directly into a large output buffer that is
 *    written with fwrite in multi-megabyte blocks (1,000,000 frames of 2 KB take about 1-2 s).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- PRNG: splitmix64 (seeding) and xoshiro256** (streams) ---- */

typedef struct rng {
	uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Uniform in [0, n), n > 0 (the modulo bias is irrelevant here). */
static uint64_t rng_below(rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

/* True with probability p, decided by the random word x. */
static bool chance(uint64_t x, double p)
{
	if (p <= 0)
		return false;
	if (p >= 1)
		return true;
	return (double)(x >> 11) * 0x1.0p-53 < p;
}

/* ---- a growable byte buffer ---- */

typedef struct buf {
	char *p;
	size_t len, cap;
} buf;

static int buf_reserve(buf *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + extra)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

/* Appenders assume buf_reserve was called for enough room (frames reserve generously). */
static void put(buf *b, const void *s, size_t n)
{
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void puts_(buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putc_(buf *b, char c)
{
	b->p[b->len++] = c;
}

static void put_i64(buf *b, int64_t v)
{
	char tmp[24];
	int n = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		putc_(b, '-');
	while (n)
		putc_(b, tmp[--n]);
}

/* ---- options ---- */

typedef struct gen_cfg {
	uint64_t count;
	double rate;
	int64_t step;
	uint64_t users;
	int64_t start;
	int64_t max_seconds; /* < 0: unlimited */
	int64_t delay;
	double delay_prob;
	uint64_t seed;
	bool crlf;
	size_t frame_size;
	double string_ts_prob;
	double float_ts_prob;
	double bitflip_prob;
	int bitflip_lo, bitflip_hi; /* bits flipped: lo..hi of the 32-bit ts */
	int bitflip_dir;            /* FLIP_ANY (xor), FLIP_UP (+2^k), FLIP_DOWN (-2^k) */
	double malformed_prob;
	size_t long_line_bytes;
	uint64_t jump_at; /* 0: no jump */
	int64_t jump_by;
	uint64_t pause_every; /* 0: no pauses */
	int64_t pause;
	uint64_t garbage_at;
	uint64_t garbage_count; /* 0: no garbage burst */
	int64_t garbage_ts;
	const char *uid_key;
	const char *ts_key;
} gen_cfg;

enum { FLIP_ANY, FLIP_UP, FLIP_DOWN };

/* ---- value pools, rendered once from the seed ---- */

#define POOL_N 1024

enum { POOL_STRING = 0, POOL_ARRAY, POOL_OBJECT, POOL_SMALL, POOL_KINDS };

typedef struct pool {
	buf arena;
	size_t off[POOL_KINDS][POOL_N];
	uint32_t len[POOL_KINDS][POOL_N];
} pool;

static const char *const WORDS[] = {
    "alpha", "beta",  "gamma", "delta",  "mobile", "desktop", "click",  "view",
    "login", "error", "ok",    "Zurich", "Berlin", "session", "banner", "checkout",
    "42",    "x",     "",      "a b c",  "http:",  "user",    "uid",    "ts",
};
static const char *const ESCAPES[] = {
    "\\\"",    "\\\\",    "\\/",     "\\b",     "\\f",     "\\n",
    "\\r",     "\\t",     "\\u00e9", "\\u041f", "\\u0000", "\\ud83d\\ude00",
    "\\u20AC", "\\u0022",
};
static const char *const UTF8[] = {
    "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", /* привет */
    "\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0", /* Москва */
    ("\xd0\xbf\xd0\xbe\xd0\xbb\xd1\x8c\xd0\xb7\xd0\xbe\xd0\xb2\xd0\xb0\xd1\x82\xd0\xb5\xd0\xbb\xd1"
     "\x8c"),                   /* пользователь */
    "\xc3\xa9t\xc3\xa9",        /* été */
    "\xe2\x82\xac",             /* € */
    "\xf0\x9f\x98\x80",         /* 😀 */
    "\xe6\x97\xa5\xe6\x9c\xac", /* 日本 */
};
/* Top-level key names (repeats within a frame are intended). Never the uid/ts names. */
static const char *const KEYS[] = {
    "user_agent",
    "ip",
    "referrer",
    "url",
    "event",
    "page",
    "device",
    "country",
    "lang",
    "screen",
    "session",
    "events",
    "tags",
    "meta",
    "props",
    "payload",
    "user",
    "UID",
    "Ts",
    "uid_",
    "tss",
    "\\u043a\\u043b\\u044e\\u0447",
    "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87",
    "k\\\"ey",
    "",
    "a b",
    "\\/path",
    "value",
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void render_value(rng *r, buf *b, int depth, const gen_cfg *cfg, bool small);

static void render_string(rng *r, buf *b, int pieces)
{
	putc_(b, '"');
	for (int i = 0; i < pieces; i++) {
		uint64_t k = rng_below(r, 10);
		if (k < 5)
			puts_(b, WORDS[rng_below(r, NELEM(WORDS))]);
		else if (k < 7)
			puts_(b, ESCAPES[rng_below(r, NELEM(ESCAPES))]);
		else if (k < 9)
			puts_(b, UTF8[rng_below(r, NELEM(UTF8))]);
		else
			putc_(b, ' ');
	}
	putc_(b, '"');
}

static void render_number(rng *r, buf *b)
{
	switch (rng_below(r, 7)) {
	case 0:
		put_i64(b, (int64_t)rng_below(r, 1000));
		break;
	case 1:
		put_i64(b, -(int64_t)rng_below(r, 100000));
		break;
	case 2:
		put_i64(b, (int64_t)(rng_next(r) >> 2));
		break;
	case 3:
		put_i64(b, (int64_t)rng_below(r, 100000));
		putc_(b, '.');
		put_i64(b, (int64_t)rng_below(r, 1000000));
		break;
	case 4:
		put_i64(b, (int64_t)rng_below(r, 10));
		puts_(b, rng_below(r, 2) ? ".5e" : "E");
		puts_(b, rng_below(r, 2) ? "-" : "+");
		put_i64(b, (int64_t)rng_below(r, 300));
		break;
	case 5:
		puts_(b, rng_below(r, 2) ? "-0.0" : "0");
		break;
	default:
		puts_(b, "1e400"); /* valid JSON, overflows a double */
		break;
	}
}

static void render_uid_like(rng *r, buf *b)
{
	static const char hex[] = "0123456789abcdef";
	putc_(b, '"');
	for (int i = 0; i < 19; i++)
		putc_(b, hex[rng_below(r, 16)]);
	putc_(b, '"');
}

/* A key inside a nested object: sometimes uid/ts (the configured names or the defaults). */
static void render_nested_key(rng *r, buf *b, const gen_cfg *cfg)
{
	uint64_t k = rng_below(r, 8);
	putc_(b, '"');
	if (k == 0)
		puts_(b, cfg->uid_key);
	else if (k == 1)
		puts_(b, cfg->ts_key);
	else if (k == 2)
		puts_(b, rng_below(r, 2) ? "uid" : "ts");
	else
		puts_(b, KEYS[rng_below(r, NELEM(KEYS))]);
	putc_(b, '"');
}

static void render_value(rng *r, buf *b, int depth, const gen_cfg *cfg, bool small)
{
	buf_reserve(b, 4096);
	uint64_t k = rng_below(r, depth > 0 ? 10 : 7);
	bool spaced = rng_below(r, 8) == 0;
	const char *sep = spaced ? ", " : ",";
	const char *colon = spaced ? " : " : ":";
	switch (k) {
	case 0:
	case 1:
		render_number(r, b);
		break;
	case 2:
		puts_(b, rng_below(r, 3) == 0 ? "null" : rng_below(r, 2) ? "true" : "false");
		break;
	case 3:
		render_uid_like(r, b);
		break;
	case 4:
	case 5:
	case 6:
		render_string(r, b, 1 + (int)rng_below(r, small ? 3 : 8));
		break;
	case 7:
	case 8: {
		int n = (int)rng_below(r, small ? 3 : 6);
		putc_(b, '[');
		for (int i = 0; i < n; i++) {
			if (i)
				puts_(b, sep);
			render_value(r, b, depth - 1, cfg, small);
		}
		putc_(b, ']');
		break;
	}
	default: {
		int n = (int)rng_below(r, small ? 3 : 6);
		putc_(b, '{');
		for (int i = 0; i < n; i++) {
			if (i)
				puts_(b, sep);
			render_nested_key(r, b, cfg);
			puts_(b, colon);
			render_value(r, b, depth - 1, cfg, small);
		}
		putc_(b, '}');
		break;
	}
	}
}

/* Renders one pool entry of the given kind: a string, an array or an object (depth <= 3). */
static void render_pool_entry(rng *r, buf *b, int kind, const gen_cfg *cfg)
{
	buf_reserve(b, 65536);
	switch (kind) {
	case POOL_STRING:
		render_string(r, b, 1 + (int)rng_below(r, 12));
		break;
	case POOL_ARRAY:
	case POOL_OBJECT: {
		/* Force the container kind by retrying the top-level choice. */
		size_t mark = b->len;
		for (;;) {
			b->len = mark;
			render_value(r, b, 3, cfg, false);
			char c = b->p[mark];
			if ((kind == POOL_ARRAY && c == '[') || (kind == POOL_OBJECT && c == '{'))
				break;
		}
		break;
	}
	default:
		render_value(r, b, 1, cfg, true);
		break;
	}
}

static int pool_build(pool *p, const gen_cfg *cfg)
{
	rng r;
	rng_seed(&r, cfg->seed ^ 0x5eed0f9001ull);
	for (int k = 0; k < POOL_KINDS; k++) {
		for (int i = 0; i < POOL_N; i++) {
			if (buf_reserve(&p->arena, 65536))
				return -1;
			size_t start = p->arena.len;
			render_pool_entry(&r, &p->arena, k, cfg);
			/* Keep containers of a reasonable size so frames stay near their target. */
			if (p->arena.len - start > 600) {
				p->arena.len = start;
				i--;
				continue;
			}
			p->off[k][i] = start;
			p->len[k][i] = (uint32_t)(p->arena.len - start);
		}
	}
	return 0;
}

static void put_pool(buf *b, const pool *p, int kind, uint64_t x)
{
	size_t i = x % POOL_N;
	put(b, p->arena.p + p->off[kind][i], p->len[kind][i]);
}

/* ---- users ---- */

static void put_hex(char *dst, uint64_t v, int n)
{
	static const char hex[] = "0123456789abcdef";
	for (int i = n - 1; i >= 0; i--) {
		dst[i] = hex[v & 15];
		v >>= 4;
	}
}

/* users * 19 bytes: uid = 3 hex chars + 16 hex chars. */
static char *users_build(const gen_cfg *cfg)
{
	if (cfg->users == 0)
		return NULL;
	char *u = malloc(cfg->users * 19);
	if (!u)
		return NULL;
	rng r;
	rng_seed(&r, cfg->seed ^ 0x05e25ull);
	for (uint64_t i = 0; i < cfg->users; i++) {
		put_hex(u + i * 19, rng_next(&r), 3);
		put_hex(u + i * 19 + 3, rng_next(&r), 16);
	}
	return u;
}

/* ---- frames ---- */

/* Control slots drawn for every frame, whatever the options (see the header comment). */
enum {
	SLOT_ADVANCE,
	SLOT_DELAY,
	SLOT_DELAY_AMOUNT,
	SLOT_STRING_TS,
	SLOT_FLIP,
	SLOT_FLIP_BIT,
	SLOT_MALFORMED,
	SLOT_MALFORMED_KIND,
	SLOT_USER,
	SLOT_FLOAT_TS,
	SLOT_RANDOM_UID_HI,
	SLOT_RANDOM_UID_LO,
	SLOT_ORDER,
	SLOT_VARIANT,
	SLOT_COUNT
};

/* What a frame's builder should do differently from a clean frame (malformed kinds). */
typedef struct frame_spec {
	const char *uid; /* 19 bytes */
	int64_t ts;
	bool string_ts;
	bool float_ts;
	bool uid_first;
	bool omit_uid, omit_ts;
	const char *uid_value;   /* raw JSON replacing the uid string, or NULL */
	const char *ts_value;    /* raw JSON replacing the ts value, or NULL */
	const char *dup_uid_key; /* raw key text of a second uid member, or NULL */
	bool dup_ts;
	const char *inject; /* raw member ("key":value) inserted after the first member */
	size_t inject_len;
	size_t pad_to;  /* > 0: add a long string member so the frame is about this long */
	int64_t ref_ts; /* the clean ts: the layout sizes the frame as if ts were written so */
} frame_spec;

static void put_member_sep(buf *b, bool *first)
{
	if (!*first)
		putc_(b, ',');
	*first = false;
}

static void put_uid_member(buf *b, const frame_spec *fs, const gen_cfg *cfg, bool *first,
                           bool escaped_key)
{
	put_member_sep(b, first);
	putc_(b, '"');
	if (escaped_key && strcmp(cfg->uid_key, "uid") == 0)
		puts_(b, "u\\u0069d");
	else
		puts_(b, cfg->uid_key);
	puts_(b, "\":");
	if (fs->uid_value) {
		puts_(b, fs->uid_value);
	} else {
		putc_(b, '"');
		put(b, fs->uid, 19);
		putc_(b, '"');
	}
}

static void put_ts_value(buf *b, const frame_spec *fs, int64_t ts)
{
	if (fs->ts_value) {
		puts_(b, fs->ts_value);
	} else if (fs->string_ts) {
		putc_(b, '"');
		put_i64(b, ts);
		putc_(b, '"');
	} else if (fs->float_ts && ts >= 1000000000 && ts < 10000000000) {
		/* 1468244384 -> 1.468244384e9 or 1468244384.75: both floor to ts */
		char tmp[24];
		int n = snprintf(tmp, sizeof tmp, "%" PRId64, ts);
		if (ts % 2) {
			putc_(b, tmp[0]);
			putc_(b, '.');
			put(b, tmp + 1, (size_t)n - 1);
			puts_(b, "e9");
		} else {
			put(b, tmp, (size_t)n);
			puts_(b, ".75");
		}
	} else {
		put_i64(b, ts);
	}
}

static size_t digits(int64_t v)
{
	size_t n = v < 0 ? 2 : 1;
	for (uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; u >= 10; u /= 10)
		n++;
	return n;
}

/* Writes the ts member; returns how much longer its value is than the plain ref_ts (so that a
 * flipped, delayed, string or fractional ts leaves the rest of the frame's layout unchanged). */
static ptrdiff_t put_ts_member(buf *b, const frame_spec *fs, const gen_cfg *cfg, bool *first)
{
	put_member_sep(b, first);
	putc_(b, '"');
	puts_(b, cfg->ts_key);
	puts_(b, "\":");
	size_t at = b->len;
	put_ts_value(b, fs, fs->ts);
	return (ptrdiff_t)(b->len - at) - (ptrdiff_t)digits(fs->ref_ts);
}

static void put_random_member(buf *b, rng *r, const pool *p, const gen_cfg *cfg, bool *first,
                              bool small)
{
	const char *key = KEYS[rng_below(r, NELEM(KEYS))];
	if (strcmp(key, cfg->uid_key) == 0 || strcmp(key, cfg->ts_key) == 0)
		key = "value"; /* top-level uid/ts only where the frame spec says */
	put_member_sep(b, first);
	putc_(b, '"');
	puts_(b, key);
	puts_(b, "\":");
	uint64_t k = rng_below(r, 20);
	if (small || k < 6)
		put_pool(b, p, POOL_SMALL, rng_next(r));
	else if (k < 12)
		put_pool(b, p, POOL_STRING, rng_next(r));
	else if (k < 16)
		put_pool(b, p, POOL_ARRAY, rng_next(r));
	else
		put_pool(b, p, POOL_OBJECT, rng_next(r));
}

/* Appends one frame (without line end) following fs; returns the offset where it starts. */
static size_t build_frame(buf *b, rng *r, const pool *p, const gen_cfg *cfg, const frame_spec *fs)
{
	size_t start = b->len;
	size_t target = cfg->frame_size;
	target = target * 3 / 4 + (size_t)rng_below(r, target / 2 + 1);
	bool escaped_key = rng_below(r, 200) == 0;
	bool first = true;
	ptrdiff_t ts_extra = 0;

	putc_(b, '{');
	int pre = (int)rng_below(r, 4);
	for (int i = 0; i < pre; i++)
		put_random_member(b, r, p, cfg, &first, b->len - start + 200 > target);
	if (fs->inject) {
		put_member_sep(b, &first);
		put(b, fs->inject, fs->inject_len);
	}
	for (int part = 0; part < 2; part++) {
		bool uid_now = (part == 0) == fs->uid_first;
		if (uid_now && !fs->omit_uid)
			put_uid_member(b, fs, cfg, &first, escaped_key);
		if (!uid_now && !fs->omit_ts)
			ts_extra = put_ts_member(b, fs, cfg, &first);
		if (part == 0 && rng_below(r, 8) == 0)
			put_random_member(b, r, p, cfg, &first, true);
	}
	if (fs->dup_uid_key) {
		put_member_sep(b, &first);
		puts_(b, fs->dup_uid_key);
		putc_(b, ':');
		render_uid_like(r, b);
	}
	if (fs->dup_ts) {
		put_member_sep(b, &first);
		putc_(b, '"');
		puts_(b, cfg->ts_key);
		puts_(b, "\":");
		put_ts_value(b, fs, fs->ts + 1);
	}
	/* Sizes as if the ts were the clean one (ts_extra): the same members whatever its form. */
	while ((size_t)((ptrdiff_t)(b->len - start) - ts_extra) + 40 < target)
		put_random_member(b, r, p, cfg, &first,
		                  (size_t)((ptrdiff_t)(b->len - start) - ts_extra) + 400 > target);
	if (fs->pad_to > b->len - start + 16) {
		size_t n = fs->pad_to - (b->len - start) - 16;
		put_member_sep(b, &first);
		puts_(b, "\"pad\":\"");
		memset(b->p + b->len, 'x', n);
		b->len += n;
		putc_(b, '"');
	}
	putc_(b, '}');
	return start;
}

/* Malformed kinds; docs/generator.md gives the reason kuniq should report for each. */
enum {
	BAD_TRUNCATED,
	BAD_GARBAGE,
	BAD_NUL_IN_STRING,
	BAD_UTF8,
	BAD_EMPTY,
	BAD_WHITESPACE,
	BAD_TOP_ARRAY,
	BAD_TOP_SCALAR,
	BAD_NO_UID,
	BAD_NO_TS,
	BAD_UID_TYPE,
	BAD_TS_TYPE,
	BAD_DUP_UID,
	BAD_DUP_TS,
	BAD_TRAILING,
	BAD_ESCAPE,
	BAD_DEEP_2000,
	BAD_DEEP_1100_VALUE,
	BAD_TS_RANGE,
	BAD_NAN,
	BAD_NUMBER,
	BAD_CONTROL_CHAR,
	BAD_SYNTAX,
	BAD_DEEP_100000, /* rare kinds last */
	BAD_LONG_LINE,
	BAD_KINDS
};
#define BAD_COMMON BAD_DEEP_100000

static const char *pick(rng *r, const char *const *a, size_t n)
{
	return a[rng_below(r, n)];
}

static int emit_deep(buf *b, size_t depth, bool closed, bool in_value, const frame_spec *fs,
                     const gen_cfg *cfg)
{
	if (buf_reserve(b, depth * 2 + 256))
		return -1;
	if (in_value) {
		puts_(b, "{\"");
		puts_(b, cfg->uid_key);
		puts_(b, "\":\"");
		put(b, fs->uid, 19);
		puts_(b, "\",\"");
		puts_(b, cfg->ts_key);
		puts_(b, "\":");
		put_i64(b, fs->ts);
		puts_(b, ",\"deep\":");
	}
	memset(b->p + b->len, '[', depth);
	b->len += depth;
	if (closed) {
		memset(b->p + b->len, ']', depth);
		b->len += depth;
		if (in_value)
			putc_(b, '}');
	}
	return 0;
}

/* Appends one malformed frame of the given kind. Returns 0 or -1 (out of memory). */
static int build_malformed(buf *b, rng *r, const pool *p, const gen_cfg *cfg, frame_spec *fs,
                           int kind)
{
	static const char *const top_scalars[] = {
	    "\"just a string\"", "42", "-1.5e3", "true", "null", "\"{\\\"uid\\\":\\\"x\\\"}\""};
	static const char *const uid_types[] = {"12345",     "null", "true", "{\"id\":\"abc\"}",
	                                        "[\"abc\"]", "1.5"};
	static const char *const ts_types[] = {"true",
	                                       "false",
	                                       "{\"s\":1468244384}",
	                                       "\"12a\"",
	                                       "null",
	                                       "[1468244384]",
	                                       "\"-5\"",
	                                       "\"\"",
	                                       "\" 1468244384\"",
	                                       "\"1e9\"",
	                                       "\"1468244384.5\"",
	                                       "\"14682\\u00344384\"",
	                                       "\"1234567890123456789\"",
	                                       "1e30",
	                                       "-1e30",
	                                       "99999999999999999999"};
	static const char *const ts_ranges[] = {"0",          "-1468244384", "946684799",
	                                        "4102444800", "900000000",   "\"946684799\"",
	                                        "5000000000", "-0.5"};
	static const char *const bad_escapes[] = {"\"k\":\"a\\xb\"",   "\"k\":\"\\u12G4\"",
	                                          "\"k\":\"\\U0041\"", "\"k\":\"\\'\"",
	                                          "\"k\\q\":1",        "\"k\":\"\\u00e\""};
	static const char *const nans[] = {"\"k\":NaN",     "\"k\":Infinity", "\"k\":-Infinity",
	                                   "\"k\":[1,NaN]", "\"k\":nan",      "\"k\":undefined"};
	static const char *const numbers[] = {"\"k\":012",  "\"k\":1.",    "\"k\":.5",
	                                      "\"k\":+1",   "\"k\":-",     "\"k\":1e",
	                                      "\"k\":0x10", "\"k\":1.5e+", "\"k\":--1"};
	static const char *const syntax[] = {"'k':1",         "k:1",        "\"k\":1,",
	                                     "\"k\" 1",       "\"k\":[1,]", "\"k\":[1 2]",
	                                     "\"k\":{\"a\"}", "\"k\":tru",  "\"k\":{,}"};
	static const char *const trailers[] = {" x", "}", "{}", ",", "\"", " 1", "\x01", "]"};
	static const char *const bad_utf8[] = {
	    "\xff", "\xc0\xaf",        "\xed\xa0\x80", "\xe2\x82", "\xf8\x88\x80\x80\x80",
	    "\x80", "\xf4\x90\x80\x80"};
	char inject[128];

	if (buf_reserve(b, 8192 + cfg->frame_size * 2))
		return -1;
	switch (kind) {
	case BAD_TRUNCATED: {
		size_t start = build_frame(b, r, p, cfg, fs);
		size_t n = b->len - start;
		b->len = start + 1 + (size_t)rng_below(r, n - 1);
		break;
	}
	case BAD_GARBAGE: {
		static const char first[] = {'\0', (char)0xff, 'x', '\x01', (char)0xc3, '#'};
		size_t n = 1 + (size_t)rng_below(r, 300);
		putc_(b, first[rng_below(r, sizeof first)]);
		for (size_t i = 1; i < n; i++) {
			char c = (char)rng_next(r);
			if (c == '\n' || c == '\r')
				c = '\0';
			putc_(b, c);
		}
		break;
	}
	case BAD_NUL_IN_STRING:
		memcpy(inject, "\"note\":\"ab\0cd\"", 14);
		fs->inject = inject;
		fs->inject_len = 14;
		build_frame(b, r, p, cfg, fs);
		break;
	case BAD_UTF8:
		snprintf(inject, sizeof inject, "\"note\":\"ab%scd\"", pick(r, bad_utf8, 7));
		fs->inject = inject;
		fs->inject_len = strlen(inject);
		build_frame(b, r, p, cfg, fs);
		break;
	case BAD_EMPTY:
		break;
	case BAD_WHITESPACE: {
		size_t n = 1 + (size_t)rng_below(r, 8);
		for (size_t i = 0; i < n; i++)
			putc_(b, rng_below(r, 2) ? ' ' : '\t');
		break;
	}
	case BAD_TOP_ARRAY:
		putc_(b, '[');
		build_frame(b, r, p, cfg, fs);
		putc_(b, ']');
		break;
	case BAD_TOP_SCALAR:
		puts_(b, pick(r, top_scalars, NELEM(top_scalars)));
		break;
	case BAD_NO_UID:
		fs->omit_uid = true;
		build_frame(b, r, p, cfg, fs);
		break;
	case BAD_NO_TS:
		fs->omit_ts = true;
		build_frame(b, r, p, cfg, fs);
		break;
	case BAD_UID_TYPE:
		fs->uid_value = pick(r, uid_types, NELEM(uid_types));
		build_frame(b, r, p, cfg, fs);
		break;
	case BAD_TS_TYPE:
		fs->ts_value = pick(r, ts_types, NELEM(ts_types));
		build_frame(b, r, p, cfg, fs);
		break;
	case BAD_DUP_UID:
		fs->dup_uid_key =
		    strcmp(cfg->uid_key, "uid") == 0 && rng_below(r, 2) ? "\"u\\u0069d\"" : NULL;
		if (!fs->dup_uid_key) {
			snprintf(inject, sizeof inject, "\"%s\"", cfg->uid_key);
			fs->dup_uid_key = inject;
		}
		build_frame(b, r, p, cfg, fs);
		break;
	case BAD_DUP_TS:
		fs->dup_ts = true;
		build_frame(b, r, p, cfg, fs);
		break;
	case BAD_TRAILING:
		build_frame(b, r, p, cfg, fs);
		puts_(b, pick(r, trailers, NELEM(trailers)));
		break;
	case BAD_ESCAPE:
		fs->inject = pick(r, bad_escapes, NELEM(bad_escapes));
		fs->inject_len = strlen(fs->inject);
		build_frame(b, r, p, cfg, fs);
		break;
	case BAD_DEEP_2000:
		return emit_deep(b, 2000, rng_below(r, 2), false, fs, cfg);
	case BAD_DEEP_1100_VALUE:
		return emit_deep(b, 1100, true, true, fs, cfg);
	case BAD_TS_RANGE:
		fs->ts_value = pick(r, ts_ranges, NELEM(ts_ranges));
		build_frame(b, r, p, cfg, fs);
		break;
	case BAD_NAN:
		fs->inject = pick(r, nans, NELEM(nans));
		fs->inject_len = strlen(fs->inject);
		build_frame(b, r, p, cfg, fs);
		break;
	case BAD_NUMBER:
		fs->inject = pick(r, numbers, NELEM(numbers));
		fs->inject_len = strlen(fs->inject);
		build_frame(b, r, p, cfg, fs);
		break;
	case BAD_CONTROL_CHAR: {
		static const char ctl[] = {'\t', '\x01', '\x1f', '\b'};
		int c = ctl[rng_below(r, 4)];
		snprintf(inject, sizeof inject, "\"note\":\"a%cb\"", c);
		fs->inject = inject;
		fs->inject_len = strlen(inject);
		build_frame(b, r, p, cfg, fs);
		break;
	}
	case BAD_SYNTAX:
		fs->inject = pick(r, syntax, NELEM(syntax));
		fs->inject_len = strlen(fs->inject);
		build_frame(b, r, p, cfg, fs);
		break;
	case BAD_DEEP_100000:
		return emit_deep(b, 100000, false, false, fs, cfg);
	default: /* BAD_LONG_LINE */
		if (buf_reserve(b, cfg->long_line_bytes + 8192))
			return -1;
		fs->pad_to = cfg->long_line_bytes;
		build_frame(b, r, p, cfg, fs);
		break;
	}
	return 0;
}

static int pick_malformed_kind(uint64_t x)
{
	/* The two big kinds are chosen once in 64 malformed frames each. */
	uint64_t k = x % 64;
	if (k == 0)
		return BAD_DEEP_100000;
	if (k == 1)
		return BAD_LONG_LINE;
	return (int)((x >> 8) % BAD_COMMON);
}

typedef struct gen_state {
	gen_cfg cfg;
	pool pool;
	char *users;
	buf out;
	int64_t clock;
} gen_state;

static int flush_out(buf *out)
{
	if (out->len && fwrite(out->p, 1, out->len, stdout) != out->len)
		return -1;
	out->len = 0;
	return 0;
}

/* The ts of a bit-flipped frame: one bit k in lo..hi chosen by x; FLIP_ANY xors it in the 32-bit
 * ts (so the direction depends on the bit's value), FLIP_UP adds 2^k, FLIP_DOWN subtracts it. */
static int64_t flip_ts(const gen_cfg *cfg, int64_t ts, uint64_t x)
{
	int k = cfg->bitflip_lo + (int)(x % (uint64_t)(cfg->bitflip_hi - cfg->bitflip_lo + 1));
	int64_t bit = (int64_t)1 << k;
	if (cfg->bitflip_dir == FLIP_UP)
		return ts + bit;
	if (cfg->bitflip_dir == FLIP_DOWN)
		return ts - bit;
	return (int64_t)((uint32_t)ts ^ (uint32_t)bit);
}

/* Ends the frame just built and writes the buffer out when it is large. */
static int end_line(gen_state *g)
{
	if (g->cfg.crlf)
		putc_(&g->out, '\r');
	putc_(&g->out, '\n');
	return g->out.len >= (4u << 20) ? flush_out(&g->out) : 0;
}

/* Garbage frame j of the burst: a clean-looking frame with ts --garbage-ts and a fresh random
 * uid, from generators of its own (seeded from the seed and j, apart from the regular frames). */
static int garbage_frame(gen_state *g, uint64_t j)
{
	const gen_cfg *cfg = &g->cfg;
	uint64_t x = j * 0x9E6C63D0676A9A99ull ^ cfg->seed ^ 0x6a7ba6e5ull;
	rng ctl, body;
	rng_seed(&ctl, splitmix64(&x));
	rng_seed(&body, splitmix64(&x));
	char uid[19];
	put_hex(uid, rng_next(&ctl), 3);
	put_hex(uid + 3, rng_next(&ctl), 16);
	frame_spec fs = {.uid = uid,
	                 .ts = cfg->garbage_ts,
	                 .ref_ts = cfg->garbage_ts,
	                 .uid_first = rng_next(&ctl) & 1};
	if (buf_reserve(&g->out, 65536 + cfg->frame_size * 4))
		return -1;
	build_frame(&g->out, &body, &g->pool, cfg, &fs);
	return end_line(g);
}

static int garbage_burst(gen_state *g)
{
	for (uint64_t j = 0; j < g->cfg.garbage_count; j++)
		if (garbage_frame(g, j))
			return -1;
	return 0;
}

static int generate(gen_state *g)
{
	const gen_cfg *cfg = &g->cfg;
	bool garbage_done = cfg->garbage_count == 0;
	g->clock = cfg->start;
	for (uint64_t i = 0; i < cfg->count; i++) {
		uint64_t x = i * 0xD1B54A32D192ED03ull ^ cfg->seed;
		rng ctl, body;
		rng_seed(&ctl, splitmix64(&x));
		rng_seed(&body, splitmix64(&x));
		uint64_t slot[SLOT_COUNT];
		for (int s = 0; s < SLOT_COUNT; s++)
			slot[s] = rng_next(&ctl);

		if (i > 0 && chance(slot[SLOT_ADVANCE], 1.0 / cfg->rate))
			g->clock += cfg->step;
		if (cfg->pause_every && i > 0 && i % cfg->pause_every == 0)
			g->clock += cfg->pause;
		if (cfg->jump_at && i == cfg->jump_at)
			g->clock += cfg->jump_by;
		if (cfg->max_seconds >= 0 && g->clock - cfg->start >= cfg->max_seconds)
			break;
		if (!garbage_done && i == cfg->garbage_at) {
			garbage_done = true;
			if (garbage_burst(g))
				return -1;
		}

		frame_spec fs = {0};
		char uid[19];
		if (g->users) {
			memcpy(uid, g->users + (slot[SLOT_USER] % cfg->users) * 19, 19);
		} else {
			put_hex(uid, slot[SLOT_RANDOM_UID_HI], 3);
			put_hex(uid + 3, slot[SLOT_RANDOM_UID_LO], 16);
		}
		fs.uid = uid;
		fs.ts = fs.ref_ts = g->clock;
		if (cfg->delay > 0 && chance(slot[SLOT_DELAY], cfg->delay_prob))
			fs.ts -= 1 + (int64_t)(slot[SLOT_DELAY_AMOUNT] % (uint64_t)cfg->delay);
		if (chance(slot[SLOT_FLIP], cfg->bitflip_prob))
			fs.ts = flip_ts(cfg, fs.ts, slot[SLOT_FLIP_BIT]);
		fs.string_ts = chance(slot[SLOT_STRING_TS], cfg->string_ts_prob);
		fs.float_ts = chance(slot[SLOT_FLOAT_TS], cfg->float_ts_prob);
		fs.uid_first = slot[SLOT_ORDER] & 1;

		if (buf_reserve(&g->out, 65536 + cfg->frame_size * 4))
			return -1;
		if (chance(slot[SLOT_MALFORMED], cfg->malformed_prob)) {
			if (build_malformed(&g->out, &body, &g->pool, cfg, &fs,
			                    pick_malformed_kind(slot[SLOT_MALFORMED_KIND])))
				return -1;
		} else {
			build_frame(&g->out, &body, &g->pool, cfg, &fs);
		}
		if (end_line(g))
			return -1;
	}
	/* --garbage-at beyond the frames written: the burst ends the stream. */
	if (!garbage_done && garbage_burst(g))
		return -1;
	return flush_out(&g->out);
}

static void usage(FILE *f)
{
	fputs(
	    "Usage: kuniq-gen [OPTIONS] > stream.jsonl\n"
	    "Writes a deterministic JSON-lines stream shaped like the 'unique users per minute'\n"
	    "sample (docs/generator.md).\n\n"
	    "  --count N            frames to write (default 1000000)\n"
	    "  --rate R             frames per event-second: ts advances with probability 1/R\n"
	    "                       per frame (default 1000)\n"
	    "  --step S             seconds per advance (default 1)\n"
	    "  --users N            size of the user pool (default 100000; 0 = random uids)\n"
	    "  --start TS           first ts (default 1468244384)\n"
	    "  --max-seconds S      stop when ts - start >= S\n"
	    "  --delay D            a delayed frame's ts is 1..D s older than the clock\n"
	    "  --delay-prob P       probability that a frame is delayed (default 0)\n"
	    "  --seed N             random seed (default 1)\n"
	    "  --crlf               end lines with \\r\\n\n"
	    "  --frame-size BYTES   approximate frame size (default 2000)\n"
	    "  --string-ts-prob P   probability of a string ts (\"1468244384\")\n"
	    "  --float-ts-prob P    probability of a fractional ts (1468244384.75, 1.468244385e9)\n"
	    "  --bitflip-prob P     probability of flipping one bit of the ts (default 0)\n"
	    "  --bitflip-bits LO-HI the bits a flip chooses from, uniformly (default 0-31)\n"
	    "  --bitflip-dir D      any: xor the bit of the 32-bit ts (default); up: add 2^bit;\n"
	    "                       down: subtract 2^bit\n"
	    "  --malformed-prob P   probability of replacing a frame by a malformed one\n"
	    "  --long-line-bytes N  size of the rare overlong malformed line (default 100000)\n"
	    "  --jump-at N          from frame N on, the clock is --jump-by seconds ahead\n"
	    "  --jump-by S          size of that jump (default 86400)\n"
	    "  --pause-every N      every N frames the clock jumps --pause seconds (bursts)\n"
	    "  --pause S            length of those pauses (default 3600)\n"
	    "  --garbage-at N       insert the garbage burst before frame N (default 0)\n"
	    "  --garbage-count M    frames in the garbage burst (default 0), extra to --count\n"
	    "  --garbage-ts T       ts of every garbage frame (default 4070908800, 2099-01-01)\n"
	    "  --uid-key NAME       name of the uid key (default uid)\n"
	    "  --ts-key NAME        name of the ts key (default ts)\n"
	    "  --help               this text\n",
	    f);
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return -1;
	*v = x;
	return 0;
}

static int parse_i64(const char *s, int64_t *v)
{
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*v = x;
	return 0;
}

static int parse_prob(const char *s, double *v)
{
	char *end;
	errno = 0;
	double x = strtod(s, &end);
	if (errno || end == s || *end || !(x >= 0 && x <= 1))
		return -1;
	*v = x;
	return 0;
}

/* "LO-HI" with 0 <= LO <= HI <= 31 (a single "K" means K-K). */
static int parse_bit_range(const char *s, int *lo, int *hi)
{
	char *end;
	errno = 0;
	long a = strtol(s, &end, 10), b = a;
	if (errno || end == s || *s == '-' || *s == '+')
		return -1;
	if (*end == '-') {
		const char *t = end + 1;
		if (*t == '-' || *t == '+')
			return -1;
		b = strtol(t, &end, 10);
		if (errno || end == t)
			return -1;
	}
	if (*end || a < 0 || b > 31 || a > b)
		return -1;
	*lo = (int)a;
	*hi = (int)b;
	return 0;
}

static int parse_args(int argc, char **argv, gen_cfg *cfg)
{
	enum {
		O_COUNT = 256,
		O_RATE,
		O_STEP,
		O_USERS,
		O_START,
		O_MAXSEC,
		O_DELAY,
		O_DELAYP,
		O_SEED,
		O_CRLF,
		O_FSIZE,
		O_STRTS,
		O_FLOATTS,
		O_FLIP,
		O_MAL,
		O_LONG,
		O_JUMPAT,
		O_JUMPBY,
		O_UIDKEY,
		O_TSKEY,
		O_FLIPBITS,
		O_FLIPDIR,
		O_PAUSEEVERY,
		O_PAUSE,
		O_GARBAT,
		O_GARBCOUNT,
		O_GARBTS,
		O_HELP
	};
	static const struct option opts[] = {
	    {"count", required_argument, 0, O_COUNT},
	    {"rate", required_argument, 0, O_RATE},
	    {"step", required_argument, 0, O_STEP},
	    {"users", required_argument, 0, O_USERS},
	    {"start", required_argument, 0, O_START},
	    {"max-seconds", required_argument, 0, O_MAXSEC},
	    {"delay", required_argument, 0, O_DELAY},
	    {"delay-prob", required_argument, 0, O_DELAYP},
	    {"seed", required_argument, 0, O_SEED},
	    {"crlf", no_argument, 0, O_CRLF},
	    {"frame-size", required_argument, 0, O_FSIZE},
	    {"string-ts-prob", required_argument, 0, O_STRTS},
	    {"float-ts-prob", required_argument, 0, O_FLOATTS},
	    {"bitflip-prob", required_argument, 0, O_FLIP},
	    {"malformed-prob", required_argument, 0, O_MAL},
	    {"long-line-bytes", required_argument, 0, O_LONG},
	    {"jump-at", required_argument, 0, O_JUMPAT},
	    {"jump-by", required_argument, 0, O_JUMPBY},
	    {"uid-key", required_argument, 0, O_UIDKEY},
	    {"ts-key", required_argument, 0, O_TSKEY},
	    {"bitflip-bits", required_argument, 0, O_FLIPBITS},
	    {"bitflip-dir", required_argument, 0, O_FLIPDIR},
	    {"pause-every", required_argument, 0, O_PAUSEEVERY},
	    {"pause", required_argument, 0, O_PAUSE},
	    {"garbage-at", required_argument, 0, O_GARBAT},
	    {"garbage-count", required_argument, 0, O_GARBCOUNT},
	    {"garbage-ts", required_argument, 0, O_GARBTS},
	    {"help", no_argument, 0, O_HELP},
	    {0, 0, 0, 0},
	};
	int c, bad = 0;
	uint64_t u;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_COUNT:
			bad |= parse_u64(optarg, &cfg->count);
			break;
		case O_RATE: {
			char *end;
			cfg->rate = strtod(optarg, &end);
			bad |= (end == optarg || *end || !(cfg->rate >= 1)) ? -1 : 0;
			break;
		}
		case O_STEP:
			bad |= parse_i64(optarg, &cfg->step);
			break;
		case O_USERS:
			bad |= parse_u64(optarg, &cfg->users);
			break;
		case O_START:
			bad |= parse_i64(optarg, &cfg->start);
			break;
		case O_MAXSEC:
			bad |= parse_i64(optarg, &cfg->max_seconds);
			break;
		case O_DELAY:
			bad |= parse_i64(optarg, &cfg->delay);
			break;
		case O_DELAYP:
			bad |= parse_prob(optarg, &cfg->delay_prob);
			break;
		case O_SEED:
			bad |= parse_u64(optarg, &cfg->seed);
			break;
		case O_CRLF:
			cfg->crlf = true;
			break;
		case O_FSIZE:
			bad |= parse_u64(optarg, &u);
			cfg->frame_size = (size_t)u;
			bad |= (u < 16 || u > (1u << 24)) ? -1 : 0;
			break;
		case O_STRTS:
			bad |= parse_prob(optarg, &cfg->string_ts_prob);
			break;
		case O_FLOATTS:
			bad |= parse_prob(optarg, &cfg->float_ts_prob);
			break;
		case O_FLIP:
			bad |= parse_prob(optarg, &cfg->bitflip_prob);
			break;
		case O_MAL:
			bad |= parse_prob(optarg, &cfg->malformed_prob);
			break;
		case O_LONG:
			bad |= parse_u64(optarg, &u);
			cfg->long_line_bytes = (size_t)u;
			bad |= (u > (1ull << 32)) ? -1 : 0;
			break;
		case O_JUMPAT:
			bad |= parse_u64(optarg, &cfg->jump_at);
			break;
		case O_JUMPBY:
			bad |= parse_i64(optarg, &cfg->jump_by);
			break;
		case O_UIDKEY:
			cfg->uid_key = optarg;
			break;
		case O_TSKEY:
			cfg->ts_key = optarg;
			break;
		case O_FLIPBITS:
			bad |= parse_bit_range(optarg, &cfg->bitflip_lo, &cfg->bitflip_hi);
			break;
		case O_FLIPDIR:
			if (strcmp(optarg, "any") == 0)
				cfg->bitflip_dir = FLIP_ANY;
			else if (strcmp(optarg, "up") == 0)
				cfg->bitflip_dir = FLIP_UP;
			else if (strcmp(optarg, "down") == 0)
				cfg->bitflip_dir = FLIP_DOWN;
			else
				bad = -1;
			break;
		case O_PAUSEEVERY:
			bad |= parse_u64(optarg, &cfg->pause_every);
			break;
		case O_PAUSE:
			bad |= parse_i64(optarg, &cfg->pause);
			break;
		case O_GARBAT:
			bad |= parse_u64(optarg, &cfg->garbage_at);
			break;
		case O_GARBCOUNT:
			bad |= parse_u64(optarg, &cfg->garbage_count);
			break;
		case O_GARBTS:
			bad |= parse_i64(optarg, &cfg->garbage_ts);
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
		if (bad) {
			fprintf(stderr, "kuniq-gen: bad value for --%s: %s\n",
			        opts[c - O_COUNT].name, optarg);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kuniq-gen: unexpected argument: %s\n", argv[optind]);
		return -1;
	}
	if (strlen(cfg->uid_key) > 64 || strlen(cfg->ts_key) > 64 || strchr(cfg->uid_key, '"') ||
	    strchr(cfg->ts_key, '"') || strchr(cfg->uid_key, '\\') || strchr(cfg->ts_key, '\\')) {
		fputs("kuniq-gen: key names must be plain (no quote or backslash, <= 64 bytes)\n",
		      stderr);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	gen_state g = {
	    .cfg =
	        {
	            .count = 1000000,
	            .rate = 1000,
	            .step = 1,
	            .users = 100000,
	            .start = 1468244384,
	            .max_seconds = -1,
	            .seed = 1,
	            .frame_size = 2000,
	            .long_line_bytes = 100000,
	            .jump_by = 86400,
	            .bitflip_lo = 0,
	            .bitflip_hi = 31,
	            .bitflip_dir = FLIP_ANY,
	            .pause = 3600,
	            .garbage_ts = 4070908800,
	            .uid_key = "uid",
	            .ts_key = "ts",
	        },
	};
	if (parse_args(argc, argv, &g.cfg)) {
		usage(stderr);
		return 2;
	}
	int rc = 0;
	if (pool_build(&g.pool, &g.cfg) || (g.cfg.users && !(g.users = users_build(&g.cfg)))) {
		fputs("kuniq-gen: out of memory\n", stderr);
		rc = 1;
	} else if (generate(&g)) {
		fprintf(stderr, "kuniq-gen: write failed: %s\n", strerror(errno));
		rc = 1;
	}
	free(g.users);
	free(g.pool.arena.p);
	free(g.out.p);
	return rc;
}
