/* exaloglog.h - ExaLogLog distinct-count sketch, ELL(t=2, d=24): 2^p registers of 32 bits.
 *
 * See exaloglog.c for the representation, the estimator and the error. The add fast path is
 * inline (it is on the per-frame hot path); everything else is out of line.
 *
 * Ownership: ell_new returns a sketch the caller frees with ell_free; no function keeps a
 * pointer to its arguments.
 */
#ifndef KUNIQ_EXALOGLOG_H
#define KUNIQ_EXALOGLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELL_T 2  /* sub-bits: update values follow a geometric law of base 2^(1/4) */
#define ELL_D 24 /* history bits: which of the 24 values below the maximum were seen */
#define ELL_MIN_P 4
#define ELL_MAX_P 20
#define ELL_DMASK ((UINT32_C(1) << ELL_D) - 1)

typedef struct ell {
	int p;          /* precision: 2^p registers */
	uint32_t *regs; /* register i = (u << ELL_D) | history; owned */
} ell;

/* Returns an empty sketch, or NULL for a p outside [ELL_MIN_P, ELL_MAX_P] or out of memory. */
ell *ell_new(int p);
void ell_free(ell *s);
/* Returns an independent copy, or NULL when out of memory. */
ell *ell_clone(const ell *s);

/* The register update for update value k (see exaloglog.c). */
static inline uint32_t ell_update_register(uint32_t r, uint32_t k)
{
	uint32_t u = r >> ELL_D;
	if (k > u) {
		uint32_t delta = k - u;
		uint32_t hist = 0;
		if (u != 0 && delta <= ELL_D) {
			/* bit 0 of (hist << 1 | 1) is u itself; after the shift it sits at k - u -
			 * 1 */
			uint64_t seen = ((uint64_t)(r & ELL_DMASK) << 1) | 1;
			hist = (uint32_t)(seen << (delta - 1)) & ELL_DMASK;
		}
		return (k << ELL_D) | hist;
	}
	if (k < u && u - k <= ELL_D)
		return r | (UINT32_C(1) << (u - k - 1));
	return r;
}

/* Adds one 64-bit hash: the top p bits choose the register, the next 2 bits and the number of
 * leading zeros of the remaining bits form the update value. */
static inline void ell_add(ell *s, uint64_t hash)
{
	int p = s->p;
	size_t idx = (size_t)(hash >> (64 - p));
	uint32_t sub = (uint32_t)(hash >> (64 - p - ELL_T)) & ((1u << ELL_T) - 1);
	/* the sentinel bit caps nlz at 64 - p - t when the remaining bits are all zero */
	uint64_t rest = (hash << (p + ELL_T)) | (UINT64_C(1) << (p + ELL_T - 1));
	uint32_t nlz = (uint32_t)__builtin_clzll(rest);
	uint32_t k = (nlz << ELL_T) + sub + 1;
	uint32_t r = s->regs[idx];
	uint32_t nr = ell_update_register(r, k);
	if (nr != r)
		s->regs[idx] = nr;
}

/* Distinct count estimate (bias-corrected maximum likelihood). */
double ell_estimate(const ell *s);

/* Theoretical (asymptotic) relative standard error of ell_estimate at precision p. */
double ell_rse(int p);

/* dst := dst UNION src; both must have the same p (returns -1 otherwise, 0 on success). The
 * result equals the sketch of the union. */
int ell_merge(ell *dst, const ell *src);

/* Bytes of the register array of a sketch of precision p (also its serialised size). */
size_t ell_state_bytes(int p);
/* Heap bytes held by a sketch of precision p (struct + registers). */
size_t ell_memory(int p);

/* Writes the registers, 4 bytes each, little-endian, ell_state_bytes(p) bytes in all. */
void ell_store(const ell *s, uint8_t *out);
/* Reads registers written by ell_store into s (of the same p); len must be ell_state_bytes(p).
 * Returns 0, or -1 when len is wrong or a register holds a state no sequence of adds can
 * produce (s is then unspecified but safe to free). */
int ell_load(ell *s, const uint8_t *in, size_t len);

#endif
