/* counter.h - a distinct counter for one window: exact while small, a sketch past a budget.
 *
 * Items are 64-bit hashes of the uid (XXH3_64bits). Modes: EXACT keeps a hash set forever;
 * APPROX is an ExaLogLog sketch from creation (16 KiB, RSE 0.54% at the default precision 12);
 * AUTO is exact until exact_limit distinct items, then converts its set into the sketch without
 * losing anything (counter.c, exaloglog.c).
 *
 * Memory: with a budget (memory_budget.h) every byte a counter holds is reserved there first. An
 * exact set that cannot grow (the budget refuses, or malloc fails) makes an AUTO counter switch to
 * its sketch at once, and makes an EXACT counter drop the item: the counter is then "lost" - never
 * exact again, counter_rse 1 - and counter_insert returns -1 so the caller can fail the run.
 *
 * Ownership: counter_new returns a counter the caller frees with counter_free; the budget of the
 * cfg is borrowed and must outlive the counter; no function keeps any other pointer.
 */
#ifndef KUNIQ_COUNTER_H
#define KUNIQ_COUNTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory_budget.h"

typedef enum counter_mode { COUNTER_AUTO = 0, COUNTER_EXACT, COUNTER_APPROX } counter_mode;

typedef struct counter_cfg {
	counter_mode mode;
	uint64_t exact_limit; /* AUTO: distinct items kept exactly before switching to the sketch;
	                       * 0 = COUNTER_DEFAULT_EXACT_LIMIT */
	int precision; /* sketch precision p (2^p registers); 0 = COUNTER_DEFAULT_PRECISION */
	memory_budget *budget; /* borrowed; NULL: unbounded */
} counter_cfg;

#define COUNTER_DEFAULT_EXACT_LIMIT 1000000
#define COUNTER_DEFAULT_PRECISION 12
#define COUNTER_MIN_PRECISION 4
#define COUNTER_MAX_PRECISION 18

typedef struct counter counter;

/* Returns NULL when out of memory (an EXACT counter: also when the budget refuses its struct) or
 * when cfg is invalid (mode, precision out of range). */
counter *counter_new(const counter_cfg *cfg);
void counter_free(counter *c);

/* Adds one item. Returns 0, or -1 when the item could not be kept (out of memory or budget, and
 * no sketch to fall back on): the counter stays valid but is lost (counter_lost). */
int counter_add(counter *c, uint64_t hash);
/* The same, returning 1 when the item was new to an exact set (0 when already there or when the
 * counter is a sketch), so a caller can log what changed (incremental checkpoints). */
int counter_insert(counter *c, uint64_t hash);
/* Optional: hints the CPU to fetch the memory counter_add(c, hash) will touch. */
void counter_prefetch(const counter *c, uint64_t hash);

uint64_t counter_count(const counter *c);
/* False for a sketch and for a lost counter. */
bool counter_is_exact(const counter *c);
/* True once an item could not be kept: counter_count is then only a lower bound. */
bool counter_lost(const counter *c);
/* Relative standard error of counter_count (0 when exact): the sketch's asymptotic value,
 * an upper bound in practice for counts below ~2^precision; 1 for a lost counter (unknown). */
double counter_rse(const counter *c);

/* dst := dst UNION src. Returns 0, or -1 on out of memory, on a sketch src of another precision,
 * or on a sketch src into an EXACT-mode dst (on -1, dst is valid, holds part of src and is lost).
 * An AUTO dst converts to the sketch when the union passes its limit or its budget. */
int counter_merge(counter *dst, const counter *src);

/* Iterates an exact set's items (pos starts at 0): true with *item set, false at the end, and
 * at once for a sketch. */
bool counter_next_item(const counter *c, size_t *pos, uint64_t *item);

/* Serialises into buf (cap bytes). Returns the number of bytes needed; writes only when it fits. */
size_t counter_serialize(const counter *c, uint8_t *buf, size_t cap);
/* Parses a serialisation (versioned, little-endian, XXH3-checksummed; see counter.c). Returns a
 * new counter, or NULL on any malformed/corrupt input. */
counter *counter_deserialize(const uint8_t *buf, size_t len);
/* The same, the counter's memory reserved in budget (NULL: none); also NULL when an EXACT set
 * does not fit in the budget. */
counter *counter_deserialize_in(const uint8_t *buf, size_t len, memory_budget *budget);

/* Bytes of heap held by the counter: exactly what it has reserved in its budget. */
size_t counter_memory(const counter *c);

#endif
