/* counter.c - a window's distinct counter: an exact hash set, or past a budget a sketch.
 *
 * Representations: while exact, the counter is an exactset of the 64-bit uid hashes (exact up to
 * hash collisions: n distinct uids collide with expected n(n-1)/2^65 pairs). Once sketching, it
 * is an ExaLogLog sketch (exaloglog.c) and the set is freed.
 *   - COUNTER_EXACT: always the set.
 *   - COUNTER_APPROX: always the sketch, from creation.
 *   - COUNTER_AUTO: the set while it holds at most exact_limit items; the first add of a new item
 *     beyond that converts: every item of the set is added to a new sketch (nothing seen is lost),
 *     then the set is freed. So a window holds at most the set for exact_limit items
 *     (exactset_bytes_for) plus, during the conversion only, the sketch (16 KiB at p = 12).
 *
 * Memory budget (memory_budget.h). The counter reserves its struct at creation, a table before
 * every growth (the new table while the old one is still held; the old one is released once
 * copied) and a sketch before creating it, and releases each when it frees it: the budget's
 * `used` is the sum of counter_memory. When a table cannot grow (the budget refuses or calloc
 * fails), the counter that needs to grow decides for itself: AUTO converts to the sketch now -
 * the sketch of the set plus the new item, which is bit for bit what an APPROX counter fed the
 * same items holds, so only the sketch's documented error is added - and EXACT drops the item and
 * is marked lost. Sketches and the structs of AUTO/APPROX counters are forced into the budget
 * (counted, never refused): refusing them would lose items, and their number is bounded by the
 * open windows, not by the stream. A lost counter is never exact again.
 *
 * Serialisation (version 1, all integers little-endian):
 *   0  4  magic "KUQC"
 *   4  1  version = 1
 *   5  1  mode (counter_mode)
 *   6  1  representation: 0 = exact set, 1 = sketch
 *   7  1  precision p
 *   8  8  exact_limit
 *  16  8  n: exact = number of items, sketch = number of payload bytes (4 * 2^p)
 *  24     payload: exact = the n items as u64, strictly increasing; sketch = its registers as u32
 *  end 8  XXH3_64bits of every byte before it
 * The exact payload is sorted, so equal sets serialise to equal bytes whatever their history.
 * Deserialisation checks everything: magic, version, checksum, lengths, mode and representation
 * consistency (an AUTO set holds at most exact_limit items), order, and register validity.
 */
#include "counter.h"

#include "exactset.h"
#include "exaloglog.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SER_MAGIC "KUQC"
#define SER_VERSION 1
#define SER_HEADER 24
#define SER_TRAILER 8
#define REPR_EXACT 0
#define REPR_SKETCH 1

struct counter {
	counter_cfg cfg; /* normalised: exact_limit and precision filled in */
	exactset set;    /* the items while exact (sk == NULL) */
	ell *sk;         /* the sketch once sketching, else NULL */
	bool lost;       /* an item could not be kept: the count is a lower bound */
};

static bool cfg_normalise(const counter_cfg *in, counter_cfg *out)
{
	*out = *in;
	if (out->mode != COUNTER_AUTO && out->mode != COUNTER_EXACT && out->mode != COUNTER_APPROX)
		return false;
	if (out->exact_limit == 0)
		out->exact_limit = COUNTER_DEFAULT_EXACT_LIMIT;
	if (out->precision == 0)
		out->precision = COUNTER_DEFAULT_PRECISION;
	return out->precision >= COUNTER_MIN_PRECISION && out->precision <= COUNTER_MAX_PRECISION;
}

static int reserve(memory_budget *b, size_t n)
{
	return b ? memory_budget_reserve(b, n) : 0;
}

static void force(memory_budget *b, size_t n)
{
	if (b)
		memory_budget_force(b, n);
}

static void release(memory_budget *b, size_t n)
{
	if (b)
		memory_budget_release(b, n);
}

/* A new sketch of precision p, its memory forced into b. */
static ell *new_sketch(memory_budget *b, int p)
{
	ell *sk = ell_new(p);
	if (sk)
		force(b, ell_memory(p));
	return sk;
}

counter *counter_new(const counter_cfg *cfg)
{
	counter_cfg norm;
	if (!cfg_normalise(cfg, &norm))
		return NULL;
	if (norm.mode == COUNTER_EXACT) {
		if (reserve(norm.budget, sizeof(counter)) < 0)
			return NULL;
	} else {
		force(norm.budget, sizeof(counter));
	}
	counter *c = malloc(sizeof(*c));
	if (!c) {
		release(norm.budget, sizeof(counter));
		return NULL;
	}
	c->cfg = norm;
	exactset_init(&c->set);
	c->sk = NULL;
	c->lost = false;
	if (norm.mode == COUNTER_APPROX && !(c->sk = new_sketch(norm.budget, norm.precision))) {
		counter_free(c);
		return NULL;
	}
	return c;
}

void counter_free(counter *c)
{
	if (!c)
		return;
	release(c->cfg.budget, counter_memory(c));
	exactset_free(&c->set);
	ell_free(c->sk);
	free(c);
}

/* Moves the set into a new sketch. Returns 0, or -1 on out of memory (c unchanged). */
static int to_sketch(counter *c)
{
	ell *sk = new_sketch(c->cfg.budget, c->cfg.precision);
	if (!sk)
		return -1;
	size_t pos = 0;
	uint64_t item;
	while (exactset_next(&c->set, &pos, &item))
		ell_add(sk, item);
	release(c->cfg.budget, exactset_memory(&c->set));
	exactset_free(&c->set);
	c->sk = sk;
	return 0;
}

/* Grows the set's table to hold n non-zero items, within the budget. Returns 0, or -1 when the
 * budget refuses or calloc fails (the set and the budget unchanged). */
static int grow_set(counter *c, size_t n)
{
	size_t had = exactset_memory(&c->set);
	size_t need = exactset_bytes_for(n);
	if (need <= had)
		return 0;
	if (need == 0 || reserve(c->cfg.budget, need) < 0)
		return -1;
	if (exactset_reserve(&c->set, n) < 0) {
		release(c->cfg.budget, need);
		return -1;
	}
	release(c->cfg.budget, had);
	return 0;
}

/* The set cannot take hash: AUTO switches to the sketch, anything else loses the item. */
static int set_full(counter *c, uint64_t hash)
{
	if (c->cfg.mode == COUNTER_AUTO && to_sketch(c) == 0) {
		ell_add(c->sk, hash);
		return 0;
	}
	c->lost = true;
	return -1;
}

bool counter_next_item(const counter *c, size_t *pos, uint64_t *item)
{
	return !c->sk && exactset_next(&c->set, pos, item);
}

int counter_add(counter *c, uint64_t hash)
{
	return counter_insert(c, hash) < 0 ? -1 : 0;
}

int counter_insert(counter *c, uint64_t hash)
{
	if (c->sk) {
		ell_add(c->sk, hash);
		return 0;
	}
	if (c->cfg.mode == COUNTER_AUTO && exactset_count(&c->set) >= c->cfg.exact_limit &&
	    !exactset_contains(&c->set, hash))
		return set_full(c, hash);
	/* the table grows here, within the budget, so exactset_add never allocates */
	if (hash != 0 && exactset_full(&c->set) && !exactset_contains(&c->set, hash) &&
	    grow_set(c, c->set.used + 1) < 0)
		return set_full(c, hash);
	return exactset_add(&c->set, hash);
}

void counter_prefetch(const counter *c, uint64_t hash)
{
	if (c->sk)
		__builtin_prefetch(&c->sk->regs[hash >> (64 - c->sk->p)]);
	else
		exactset_prefetch(&c->set, hash);
}

uint64_t counter_count(const counter *c)
{
	if (!c->sk)
		return exactset_count(&c->set);
	double e = ell_estimate(c->sk);
	if (!(e < 18446744073709549568.0)) /* largest double below 2^64; also catches inf/nan */
		return UINT64_MAX;
	return (uint64_t)llround(e);
}

bool counter_is_exact(const counter *c)
{
	return c->sk == NULL && !c->lost;
}

bool counter_lost(const counter *c)
{
	return c->lost;
}

double counter_rse(const counter *c)
{
	if (c->lost)
		return 1.0;
	return c->sk ? ell_rse(c->sk->p) : 0.0;
}

static int merge_sketch(counter *dst, const counter *src)
{
	if (src->sk->p != dst->cfg.precision)
		return -1;
	if (!dst->sk) {
		if (dst->cfg.mode == COUNTER_EXACT)
			return -1; /* an exact counter cannot absorb a sketch */
		if (to_sketch(dst) < 0)
			return -1;
	}
	return ell_merge(dst->sk, src->sk);
}

int counter_merge(counter *dst, const counter *src)
{
	if (dst == src)
		return 0;
	if (src->lost)
		dst->lost = true;
	if (src->sk) {
		if (merge_sketch(dst, src) < 0) {
			dst->lost = true;
			return -1;
		}
		return 0;
	}
	/* one growth for the union's upper bound when it fits; else item by item */
	if (!dst->sk && dst->cfg.mode != COUNTER_AUTO)
		(void)grow_set(dst, dst->set.used + src->set.used);
	size_t pos = 0;
	uint64_t item;
	while (exactset_next(&src->set, &pos, &item))
		if (counter_add(dst, item) < 0)
			return -1;
	return 0;
}

size_t counter_memory(const counter *c)
{
	return sizeof(*c) + exactset_memory(&c->set) + (c->sk ? ell_memory(c->sk->p) : 0);
}

/* ---- serialisation ---- */

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int cmp_le64(const void *a, const void *b)
{
	uint64_t x = get_u64(a), y = get_u64(b);
	return (x > y) - (x < y);
}

size_t counter_serialize(const counter *c, uint8_t *buf, size_t cap)
{
	uint64_t n = c->sk ? ell_state_bytes(c->sk->p) : exactset_count(&c->set);
	size_t payload = c->sk ? (size_t)n : (size_t)n * 8;
	size_t need = SER_HEADER + payload + SER_TRAILER;
	if (need > cap)
		return need;
	memcpy(buf, SER_MAGIC, 4);
	buf[4] = SER_VERSION;
	buf[5] = (uint8_t)c->cfg.mode;
	buf[6] = c->sk ? REPR_SKETCH : REPR_EXACT;
	buf[7] = (uint8_t)c->cfg.precision;
	put_u64(buf + 8, c->cfg.exact_limit);
	put_u64(buf + 16, n);
	uint8_t *p = buf + SER_HEADER;
	if (c->sk) {
		ell_store(c->sk, p);
	} else {
		size_t pos = 0;
		uint64_t item;
		uint8_t *q = p;
		while (exactset_next(&c->set, &pos, &item)) {
			put_u64(q, item);
			q += 8;
		}
		qsort(p, (size_t)n, 8, cmp_le64);
	}
	put_u64(p + payload, XXH3_64bits(buf, need - SER_TRAILER));
	return need;
}

static counter *load_exact(counter *c, const uint8_t *p, uint64_t n)
{
	if (c->cfg.mode == COUNTER_APPROX ||
	    (c->cfg.mode == COUNTER_AUTO && n > c->cfg.exact_limit))
		return NULL; /* such a counter would be a sketch */
	if (n > 0 && grow_set(c, (size_t)n) < 0)
		return NULL;
	for (uint64_t i = 0; i < n; i++, p += 8) {
		uint64_t item = get_u64(p);
		if (i > 0 && item <= get_u64(p - 8))
			return NULL; /* not strictly increasing: not canonical */
		if (exactset_add(&c->set, item) < 0)
			return NULL;
	}
	return c;
}

static counter *load_sketch(counter *c, const uint8_t *p, uint64_t n)
{
	if (c->cfg.mode == COUNTER_EXACT || n != ell_state_bytes(c->cfg.precision))
		return NULL;
	if (!c->sk && !(c->sk = new_sketch(c->cfg.budget, c->cfg.precision)))
		return NULL;
	if (ell_load(c->sk, p, (size_t)n) < 0)
		return NULL;
	return c;
}

counter *counter_deserialize(const uint8_t *buf, size_t len)
{
	return counter_deserialize_in(buf, len, NULL);
}

counter *counter_deserialize_in(const uint8_t *buf, size_t len, memory_budget *budget)
{
	if (!buf || len < SER_HEADER + SER_TRAILER || memcmp(buf, SER_MAGIC, 4) != 0 ||
	    buf[4] != SER_VERSION)
		return NULL;
	if (get_u64(buf + len - SER_TRAILER) != XXH3_64bits(buf, len - SER_TRAILER))
		return NULL;
	uint64_t n = get_u64(buf + 16);
	uint64_t room = len - SER_HEADER - SER_TRAILER;
	uint8_t repr = buf[6];
	if (repr == REPR_EXACT ? (n > room / 8 || n * 8 != room)
	                       : (repr != REPR_SKETCH || n != room))
		return NULL;
	counter_cfg cfg = {.mode = (counter_mode)buf[5],
	                   .exact_limit = get_u64(buf + 8),
	                   .precision = buf[7],
	                   .budget = budget};
	if (cfg.exact_limit == 0 || cfg.precision == 0)
		return NULL; /* a serialisation always holds the normalised values */
	counter *c = counter_new(&cfg);
	if (!c)
		return NULL;
	const uint8_t *payload = buf + SER_HEADER;
	if (!(repr == REPR_EXACT ? load_exact(c, payload, n) : load_sketch(c, payload, n))) {
		counter_free(c);
		return NULL;
	}
	return c;
}
