/* exactset.h - an exact set of 64-bit hashes: open addressing, linear probing, doubling.
 *
 * Items are XXH3_64bits values of uids, so they are already uniformly mixed: the slot of an item
 * is simply its low bits (item & (cap - 1)), no further mixing. Slot value 0 marks an empty slot;
 * the item 0 itself is kept in a flag (has_zero). The table doubles when an insert would take it
 * past 3/4 load, so it holds n items in at most 8 * next_pow2(4n/3) bytes (plus the old table
 * while a doubling copies it).
 *
 * The insert fast path is inline (it is on the hot path: every frame is added to up to six
 * windows); growing is out of line.
 *
 * Ownership: an exactset is a value the caller owns (embed it or put it on the stack);
 * exactset_init makes an empty set that holds no memory; exactset_free releases the table.
 */
#ifndef KUNIQ_EXACTSET_H
#define KUNIQ_EXACTSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct exactset {
	uint64_t *slots; /* cap slots; 0 = empty. NULL while cap == 0 */
	size_t cap;      /* 0 or a power of two */
	size_t used;     /* non-zero items stored in slots */
	bool has_zero;   /* whether the item 0 is in the set */
} exactset;

#define EXACTSET_MIN_CAP 64

void exactset_init(exactset *s);
void exactset_free(exactset *s);

/* Makes room for n items in total without further growth. Returns 0, or -1 on out of memory
 * (the set is unchanged). */
int exactset_reserve(exactset *s, size_t n);

/* True when adding one more non-zero item would grow the table. */
static inline bool exactset_full(const exactset *s)
{
	return (s->used + 1) * 4 > s->cap * 3;
}

/* Slow path of exactset_add: grows the table, then inserts. Same return values. */
int exactset_add_grow(exactset *s, uint64_t item);

/* Adds item. Returns 1 when it was new, 0 when already present, -1 on out of memory (the set is
 * unchanged). */
static inline int exactset_add(exactset *s, uint64_t item)
{
	if (item == 0) {
		int fresh = !s->has_zero;
		s->has_zero = true;
		return fresh;
	}
	/* grow when the insert could exceed 3/4 load (also covers cap == 0) */
	if (exactset_full(s))
		return exactset_add_grow(s, item);
	size_t mask = s->cap - 1;
	size_t i = (size_t)item & mask;
	for (;;) {
		uint64_t v = s->slots[i];
		if (v == item)
			return 0;
		if (v == 0) {
			s->slots[i] = item;
			s->used++;
			return 1;
		}
		i = (i + 1) & mask;
	}
}

/* Hints the CPU to fetch the slot of item (optional; call a few items ahead of exactset_add). */
static inline void exactset_prefetch(const exactset *s, uint64_t item)
{
	if (s->cap)
		__builtin_prefetch(&s->slots[(size_t)item & (s->cap - 1)]);
}

bool exactset_contains(const exactset *s, uint64_t item);

static inline size_t exactset_count(const exactset *s)
{
	return s->used + (s->has_zero ? 1 : 0);
}

/* Heap bytes held. */
static inline size_t exactset_memory(const exactset *s)
{
	return s->cap * sizeof(uint64_t);
}

/* Heap bytes a set of n items holds at most once grown (the table only, not a doubling copy). */
size_t exactset_bytes_for(size_t n);

/* Iteration: set *pos = 0, then call until it returns false. Yields every item once, in table
 * order (the item 0 first, when present). The set must not change during the iteration. */
bool exactset_next(const exactset *s, size_t *pos, uint64_t *item);

#endif
