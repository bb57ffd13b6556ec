/* memory_budget.h - a byte budget shared by every counter of a run (--memory-limit).
 *
 * Counters reserve the heap they are about to hold (their struct, an exact set's table before it
 * grows, a sketch's registers) and release it when they free it, so `used` is at every moment the
 * sum of counter_memory over the live counters. A reservation beyond the limit is refused; what
 * the counter does then depends on its mode (counter.h): AUTO turns the set into its sketch,
 * EXACT fails. Sketches are bounded by the number of open windows, not by the budget: they are
 * reserved with memory_budget_force, which counts them but never refuses.
 *
 * Not thread-safe: a budget belongs to one thread (the engine's, which also runs the --scale-out
 * merge tasks). Ownership: a value the caller owns; counters borrow it, so it must outlive them.
 */
#ifndef KUNIQ_MEMORY_BUDGET_H
#define KUNIQ_MEMORY_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct memory_budget {
	size_t limit;     /* bytes; SIZE_MAX: unlimited */
	size_t used;      /* bytes reserved now */
	size_t peak;      /* largest `used` so far */
	uint64_t refused; /* reservations refused because of the limit */
	/* tests only: the fail_at-th reservation from now (1 = the next) fails as if malloc had
	 * failed (counted in `injected`, not in `refused`); 0 = off */
	uint64_t fail_at;
	uint64_t injected;
} memory_budget;

/* Default when --memory-limit is not given: half of the smallest of MemAvailable, the cgroup
 * memory limit and RLIMIT_AS, at least MEMORY_BUDGET_MIN_DEFAULT; 1 GiB when none is known. */
#define MEMORY_BUDGET_MIN_DEFAULT ((size_t)64 << 20)

void memory_budget_init(memory_budget *b, size_t limit);

/* Reserves n bytes. Returns 0, or -1 when used + n would pass the limit or a test injection
 * fired (nothing reserved). */
int memory_budget_reserve(memory_budget *b, size_t n);
/* Reserves n bytes whatever the limit (the limit may be passed). */
void memory_budget_force(memory_budget *b, size_t n);
void memory_budget_release(memory_budget *b, size_t n);

/* Parses a size: digits with an optional K, M, G or T suffix (powers of 1024; an optional
 * trailing 'B' or 'iB' is accepted). Returns 0, or -1 on a malformed, zero or overflowing size. */
int memory_budget_parse(const char *s, size_t *out);

/* The default limit for this machine (see MEMORY_BUDGET_MIN_DEFAULT). */
size_t memory_budget_default(void);

/* Writes a size for people ("512 MiB", "1.50 GiB", "4096 B"). Returns buf. */
const char *memory_budget_format(size_t n, char *buf, size_t cap);

#endif
