/* counter.c - a window's distinct counter: an exact hash set, or past a budget a sketch.
 *
 * Representation: while exact, the counter is an exactset of the 64-bit uid hashes (exact up to
 * hash collisions). The sketch representation lands with issue 5; until then every mode counts
 * exactly.
 *
 * Serialisation (version 1, all integers little-endian):
 *   0  4  magic "KUQC"
 *   4  1  version = 1
 *   5  1  mode (counter_mode)
 *   6  1  representation: 0 = exact set, 1 = sketch
 *   7  1  precision p
 *   8  8  exact_limit
 *  16  8  n: exact = number of items, sketch = number of payload bytes
 *  24     payload: exact = the n items as u64, strictly increasing; sketch = its state bytes
 *  end 8  XXH3_64bits of every byte before it
 * The exact payload is sorted, so equal sets serialise to equal bytes whatever their history.
 */
#include "counter.h"

#include "exactset.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SER_MAGIC "KUQC"
#define SER_VERSION 1
#define SER_HEADER 24
#define SER_TRAILER 8
#define REPR_EXACT 0

struct counter {
	counter_cfg cfg; /* normalised: exact_limit and precision filled in */
	exactset set;
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

counter *counter_new(const counter_cfg *cfg)
{
	counter_cfg norm;
	if (!cfg_normalise(cfg, &norm))
		return NULL;
	counter *c = malloc(sizeof(*c));
	if (!c)
		return NULL;
	c->cfg = norm;
	exactset_init(&c->set);
	return c;
}

void counter_free(counter *c)
{
	if (!c)
		return;
	exactset_free(&c->set);
	free(c);
}

int counter_add(counter *c, uint64_t hash)
{
	return exactset_add(&c->set, hash) < 0 ? -1 : 0;
}

uint64_t counter_count(const counter *c)
{
	return exactset_count(&c->set);
}

bool counter_is_exact(const counter *c)
{
	(void)c;
	return true;
}

double counter_rse(const counter *c)
{
	(void)c;
	return 0.0;
}

int counter_merge(counter *dst, const counter *src)
{
	if (dst == src)
		return 0;
	if (exactset_reserve(&dst->set, dst->set.used + src->set.used) < 0)
		return -1;
	size_t pos = 0;
	uint64_t item;
	while (exactset_next(&src->set, &pos, &item))
		if (exactset_add(&dst->set, item) < 0)
			return -1;
	return 0;
}

size_t counter_memory(const counter *c)
{
	return sizeof(*c) + exactset_memory(&c->set);
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
	uint64_t n = exactset_count(&c->set);
	size_t need = SER_HEADER + (size_t)n * 8 + SER_TRAILER;
	if (need > cap)
		return need;
	memcpy(buf, SER_MAGIC, 4);
	buf[4] = SER_VERSION;
	buf[5] = (uint8_t)c->cfg.mode;
	buf[6] = REPR_EXACT;
	buf[7] = (uint8_t)c->cfg.precision;
	put_u64(buf + 8, c->cfg.exact_limit);
	put_u64(buf + 16, n);
	uint8_t *p = buf + SER_HEADER;
	size_t pos = 0;
	uint64_t item;
	while (exactset_next(&c->set, &pos, &item)) {
		put_u64(p, item);
		p += 8;
	}
	qsort(buf + SER_HEADER, (size_t)n, 8, cmp_le64);
	put_u64(p, XXH3_64bits(buf, need - SER_TRAILER));
	return need;
}

counter *counter_deserialize(const uint8_t *buf, size_t len)
{
	if (len < SER_HEADER + SER_TRAILER || memcmp(buf, SER_MAGIC, 4) != 0 ||
	    buf[4] != SER_VERSION)
		return NULL;
	if (get_u64(buf + len - SER_TRAILER) != XXH3_64bits(buf, len - SER_TRAILER))
		return NULL;
	uint64_t n = get_u64(buf + 16);
	if (buf[6] != REPR_EXACT || n > (len - SER_HEADER - SER_TRAILER) / 8 ||
	    SER_HEADER + n * 8 + SER_TRAILER != len)
		return NULL;
	counter_cfg cfg = {
	    .mode = (counter_mode)buf[5], .exact_limit = get_u64(buf + 8), .precision = buf[7]};
	if (cfg.exact_limit == 0 || cfg.precision == 0)
		return NULL; /* a serialisation always holds the normalised values */
	counter *c = counter_new(&cfg);
	if (!c)
		return NULL;
	if (exactset_reserve(&c->set, (size_t)n) < 0)
		goto fail;
	const uint8_t *p = buf + SER_HEADER;
	for (uint64_t i = 0; i < n; i++, p += 8) {
		uint64_t item = get_u64(p);
		if (i > 0 && item <= get_u64(p - 8))
			goto fail; /* not strictly increasing: not canonical */
		if (exactset_add(&c->set, item) < 0)
			goto fail;
	}
	return c;
fail:
	counter_free(c);
	return NULL;
}
