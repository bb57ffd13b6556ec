/* exaloglog.c - ExaLogLog (Otmar Ertl, "ExaLogLog: Space-Efficient and Practical Approximate
 * Distinct Counting up to the Exa-Scale", EDBT 2025, arXiv:2402.13726), configuration t = 2,
 * d = 24, with the paper's bias-corrected maximum-likelihood estimator. Written from the paper's
 * description; the code is ours.
 *
 * Why: HyperLogLog keeps per register only the maximum of geometric update values. ExaLogLog
 * keeps the maximum of a finer distribution plus a bitmap of which of the d values just below the
 * maximum were also seen. ELL(2,24) reaches HyperLogLog's error with ~41% less memory (memory-
 * variance product 3.78 vs 6.49 for 6-bit HLL): 16 KiB at p = 12 give a relative standard error
 * of 0.537%, where Redis's 12 KiB dense HLL (p = 14) gives 0.81%.
 *
 * Representation. m = 2^p registers of 32 bits. For a 64-bit hash h:
 *   - register index i = the top p bits of h;
 *   - s = the next t = 2 bits, a uniform sub-value in 0..3;
 *   - z = the number of leading zeros of the remaining 64-p-2 bits (capped at 64-p-2 when they are
 *     all zero), geometric: P(z = j) = 2^-(j+1);
 *   - update value k = 4z + s + 1, so P(k) = 2^-phi(k) with phi(k) = min(3 + (k-1)/4, 64 - p):
 *     a staircase approximation of a geometric law of base b = 2^(1/4).
 * Register i holds u = the largest k seen (bits 31..24, 0 = empty) and a 24-bit history: bit j-1
 * is set when the value u - j was also seen (j = 1..24). An add raises u and shifts the history,
 * or sets one history bit, or changes nothing. Registers are order independent, so the sketch of
 * a set does not depend on insertion order, and the union of two sketches is computed register by
 * register (align the two histories at the larger u and OR them): merge equals sketching the
 * union, exactly. The largest u is 4 (65 - p - 2), which fits 8 bits for every p >= 4.
 *
 * Estimator. Under Poisson arrivals with n/m = lambda expected elements per register, each value
 * k of each register is seen independently with probability 1 - exp(-lambda 2^-phi(k)). A register
 * tells, for every k >= u - 24, whether k was seen (k > u: no; u: yes; below: its history bit);
 * values further below are unknown and drop out. The log-likelihood is therefore
 *     ln L(lambda) = -alpha lambda + sum_j beta_j ln(1 - exp(-lambda 2^-j))
 * with alpha = the sum over registers of 2^-phi(k) over the values known unseen (accumulated
 * exactly in integers), and beta_j = the number of values known seen with phi(k) = j (history bits
 * are counted a phi-group at a time with popcounts: ~60 us per estimate at p = 12). Its maximum
 * solves F(lambda) = sum_j beta_j psi(lambda 2^-j) - alpha lambda = 0 with psi(y) = y/(e^y - 1).
 * F is decreasing and the root lies in [B/(alpha + g/2), B/alpha] (B = sum beta_j, g = sum
 * beta_j 2^-j, from 1 - y/2 <= psi(y) <= 1); Newton's method from the lower end, safeguarded by
 * bisection, converges in a few steps. The estimate is m lambda / (1 + c/m), where c corrects the
 * first-order bias of the ML estimator: c = ln(b) (1 + 2x) zeta(3, 1+x) / zeta(2, 1+x)^2 with
 * x = b^-d / (b - 1) (Hurwitz zeta), 0.0911936 for ELL(2,24).
 *
 * Error. The asymptotic relative standard error is sqrt(ln(b) / zeta(2, 1+x)) / sqrt(m) =
 * 0.343758 / sqrt(m) (0.537% at p = 12). It holds from about n = m upwards; for small n the
 * estimate is much better (few registers collide). Constants computed with mpmath from the
 * paper's formulas; bench/error.c measures the observed error (docs/counting.md).
 */
#include "exaloglog.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ELL_RSE_CONST 0.34375838677455064 /* sqrt(ln b / zeta(2, 1+x)), t = 2, d = 24 */
#define ELL_BIAS_CONST 0.09119360205952270

/* Largest update value at precision p: z <= 64 - p - t, s <= 3. */
static uint32_t ell_max_k(int p)
{
	return (uint32_t)(65 - p - ELL_T) << ELL_T;
}

ell *ell_new(int p)
{
	if (p < ELL_MIN_P || p > ELL_MAX_P)
		return NULL;
	ell *s = malloc(sizeof(*s));
	if (!s)
		return NULL;
	s->p = p;
	s->regs = calloc((size_t)1 << p, sizeof(uint32_t));
	if (!s->regs) {
		free(s);
		return NULL;
	}
	return s;
}

void ell_free(ell *s)
{
	if (!s)
		return;
	free(s->regs);
	free(s);
}

ell *ell_clone(const ell *s)
{
	ell *c = ell_new(s->p);
	if (c)
		memcpy(c->regs, s->regs, ell_state_bytes(s->p));
	return c;
}

size_t ell_state_bytes(int p)
{
	return ((size_t)1 << p) * sizeof(uint32_t);
}

size_t ell_memory(int p)
{
	return sizeof(ell) + ell_state_bytes(p);
}

double ell_rse(int p)
{
	return ELL_RSE_CONST / sqrt((double)((size_t)1 << p));
}

/* ---- merge ---- */

/* Aligns register b (u_b <= u_a) to a's maximum and ORs it in. */
static uint32_t merge_lower(uint32_t a, uint32_t b)
{
	uint32_t ua = a >> ELL_D, ub = b >> ELL_D;
	if (ub == 0)
		return a;
	if (ua == ub)
		return a | b;
	uint32_t delta = ua - ub;
	if (delta > ELL_D)
		return a;
	uint64_t seen = ((uint64_t)(b & ELL_DMASK) << 1) | 1; /* bit 0 = u_b */
	return a | ((uint32_t)(seen << (delta - 1)) & ELL_DMASK);
}

int ell_merge(ell *dst, const ell *src)
{
	if (dst->p != src->p)
		return -1;
	size_t m = (size_t)1 << dst->p;
	for (size_t i = 0; i < m; i++) {
		uint32_t a = dst->regs[i], b = src->regs[i];
		dst->regs[i] = (a >> ELL_D) >= (b >> ELL_D) ? merge_lower(a, b) : merge_lower(b, a);
	}
	return 0;
}

/* ---- estimation ---- */

/* phi(k): the update value k has probability 2^-phi(k). */
static int ell_phi(uint32_t k, int p)
{
	int v = ELL_T + 1 + (int)((k - 1) >> ELL_T);
	return v < 64 - p ? v : 64 - p;
}

/* psi(y) = y / (e^y - 1) and its derivative. */
static void psi(double y, double *f, double *df)
{
	if (y < 1e-4) {
		*f = 1 - y / 2 + y * y / 12;
		*df = -0.5 + y / 6;
	} else if (y > 700) {
		*f = 0;
		*df = 0;
	} else {
		double em = expm1(y);
		*f = y / em;
		*df = (em - y * (em + 1)) / (em * em);
	}
}

/* Solves sum_j beta[j] psi(x 2^-j) = alpha x for x (j = 0..63). */
static double solve_ml(double alpha, const uint32_t beta[64])
{
	double b = 0, g = 0;
	for (int j = 0; j < 64; j++) {
		b += beta[j];
		g += ldexp(beta[j], -j);
	}
	if (b == 0)
		return 0;
	if (alpha == 0)
		return INFINITY;
	double lo = b / (alpha + g / 2), hi = b / alpha, x = lo;
	for (int iter = 0; iter < 200; iter++) {
		double f = -alpha * x, df = -alpha;
		for (int j = 0; j < 64; j++) {
			if (!beta[j])
				continue;
			double w = ldexp(1.0, -j), v, dv;
			psi(x * w, &v, &dv);
			f += beta[j] * v;
			df += beta[j] * w * dv;
		}
		if (f > 0)
			lo = x;
		else
			hi = x;
		double next = df < 0 ? x - f / df : (lo + hi) / 2;
		if (!(next > lo && next < hi))
			next = (lo + hi) / 2;
		if (fabs(next - x) <= 1e-14 * x || hi - lo <= 1e-14 * hi)
			return next;
		x = next;
	}
	return x;
}

/* The history bits of a register with maximum u, grouped by the phi of the value they stand
 * for: 24 consecutive values span at most 7 groups of 4. Bits for values below 1 are in no mask. */
typedef struct hist_groups {
	uint32_t mask[7];
	uint8_t phi[7];
	uint8_t bits[7]; /* bits in mask */
	uint8_t n;
} hist_groups;

static void group_history(uint32_t u, const uint8_t *phi, hist_groups *g)
{
	g->n = 0;
	for (uint32_t j = 1; j <= ELL_D && j < u; j++) {
		uint8_t f = phi[u - j];
		if (g->n == 0 || g->phi[g->n - 1] != f) {
			g->phi[g->n] = f;
			g->mask[g->n] = 0;
			g->bits[g->n] = 0;
			g->n++;
		}
		g->mask[g->n - 1] |= UINT32_C(1) << (j - 1);
		g->bits[g->n - 1]++;
	}
}

double ell_estimate(const ell *s)
{
	int p = s->p;
	int q = 64 - p; /* alpha unit: 2^-q, the smallest value probability */
	uint32_t kmax = ell_max_k(p);
	uint8_t phi[256];
	uint64_t tail[257]; /* tail[u] = sum over k > u of 2^(q - phi(k)) */
	tail[kmax] = 0;
	for (uint32_t k = kmax; k >= 1; k--) {
		phi[k] = (uint8_t)ell_phi(k, p);
		tail[k - 1] = tail[k] + (UINT64_C(1) << (q - phi[k]));
	}
	hist_groups groups[256];
	for (uint32_t u = 1; u <= kmax; u++)
		group_history(u, phi, &groups[u]);
	uint32_t beta[64] = {0};
	double alpha = 0;
	size_t m = (size_t)1 << p;
	for (size_t i = 0; i < m; i++) {
		uint32_t r = s->regs[i];
		uint32_t u = r >> ELL_D;
		uint64_t a = tail[u];
		if (u) {
			beta[phi[u]]++;
			const hist_groups *g = &groups[u];
			for (int k = 0; k < g->n; k++) {
				uint32_t seen = (uint32_t)__builtin_popcount(r & g->mask[k]);
				beta[g->phi[k]] += seen;
				a += (uint64_t)(g->bits[k] - seen) << (q - g->phi[k]);
			}
		}
		alpha += (double)a;
	}
	double lambda = solve_ml(ldexp(alpha, -q), beta);
	return (double)m * lambda / (1 + ELL_BIAS_CONST / (double)m);
}

/* ---- storage ---- */

void ell_store(const ell *s, uint8_t *out)
{
	size_t m = (size_t)1 << s->p;
	for (size_t i = 0; i < m; i++) {
		uint32_t r = s->regs[i];
		out[4 * i] = (uint8_t)r;
		out[4 * i + 1] = (uint8_t)(r >> 8);
		out[4 * i + 2] = (uint8_t)(r >> 16);
		out[4 * i + 3] = (uint8_t)(r >> 24);
	}
}

/* A register is reachable iff u <= kmax, an empty register is 0, and no history bit stands for a
 * value below 1. */
static bool register_valid(uint32_t r, uint32_t kmax)
{
	uint32_t u = r >> ELL_D;
	if (u == 0)
		return r == 0;
	if (u > kmax)
		return false;
	return u - 1 >= ELL_D || ((r & ELL_DMASK) >> (u - 1)) == 0;
}

int ell_load(ell *s, const uint8_t *in, size_t len)
{
	if (len != ell_state_bytes(s->p))
		return -1;
	size_t m = (size_t)1 << s->p;
	uint32_t kmax = ell_max_k(s->p);
	for (size_t i = 0; i < m; i++) {
		uint32_t r = (uint32_t)in[4 * i] | (uint32_t)in[4 * i + 1] << 8 |
		             (uint32_t)in[4 * i + 2] << 16 | (uint32_t)in[4 * i + 3] << 24;
		if (!register_valid(r, kmax))
			return -1;
		s->regs[i] = r;
	}
	return 0;
}
