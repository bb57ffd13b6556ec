/* exactset.c - the exact hash set behind exact counting (see exactset.h for the layout).
 *
 * Linear probing over a power-of-two table keyed by the item's low bits. Growth allocates a
 * table twice as large and re-inserts every item (items are never deleted, so there are no
 * tombstones). Load stays in (3/8, 3/4] after the first growth, which keeps the expected probe
 * count of a lookup near 2.5 at worst (Knuth's 1/2 (1 + 1/(1-a)^2) for a miss at a = 3/4).
 */
#include "exactset.h"

#include <stdlib.h>

void exactset_init(exactset *s)
{
	s->slots = NULL;
	s->cap = 0;
	s->used = 0;
	s->has_zero = false;
}

void exactset_free(exactset *s)
{
	free(s->slots);
	exactset_init(s);
}

/* Smallest power-of-two capacity (>= EXACTSET_MIN_CAP) holding n non-zero items at <= 3/4 load. */
static size_t cap_for(size_t n)
{
	size_t cap = EXACTSET_MIN_CAP;
	while (n * 4 > cap * 3) {
		if (cap > SIZE_MAX / 2 / sizeof(uint64_t))
			return 0;
		cap *= 2;
	}
	return cap;
}

size_t exactset_bytes_for(size_t n)
{
	return n ? cap_for(n) * sizeof(uint64_t) : 0;
}

static void insert_new(uint64_t *slots, size_t mask, uint64_t item)
{
	size_t i = (size_t)item & mask;
	while (slots[i] != 0)
		i = (i + 1) & mask;
	slots[i] = item;
}

static int rehash(exactset *s, size_t cap)
{
	uint64_t *slots = calloc(cap, sizeof(uint64_t));
	if (!slots)
		return -1;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i])
			insert_new(slots, cap - 1, s->slots[i]);
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

int exactset_reserve(exactset *s, size_t n)
{
	size_t cap = cap_for(n);
	if (!cap)
		return -1;
	if (cap <= s->cap)
		return 0;
	return rehash(s, cap);
}

int exactset_add_grow(exactset *s, uint64_t item)
{
	if (s->cap && exactset_contains(s, item))
		return 0;
	if (exactset_reserve(s, s->used + 1) < 0)
		return -1;
	insert_new(s->slots, s->cap - 1, item);
	s->used++;
	return 1;
}

bool exactset_contains(const exactset *s, uint64_t item)
{
	if (item == 0)
		return s->has_zero;
	if (s->cap == 0)
		return false;
	size_t mask = s->cap - 1;
	for (size_t i = (size_t)item & mask;; i = (i + 1) & mask) {
		if (s->slots[i] == item)
			return true;
		if (s->slots[i] == 0)
			return false;
	}
}

bool exactset_next(const exactset *s, size_t *pos, uint64_t *item)
{
	if (*pos == 0) {
		*pos = 1;
		if (s->has_zero) {
			*item = 0;
			return true;
		}
	}
	while (*pos - 1 < s->cap) {
		uint64_t v = s->slots[*pos - 1];
		(*pos)++;
		if (v) {
			*item = v;
			return true;
		}
	}
	return false;
}
