/* memory_budget.c - the byte budget of the counters (see memory_budget.h).
 *
 * Accounting is a plain sum: reserve adds, release subtracts, and the peak is kept for the
 * summary. The default limit reads three ceilings the process lives under - MemAvailable from
 * /proc/meminfo, the cgroup limit (v2 memory.max, else v1 memory.limit_in_bytes) and the address
 * space limit (ulimit -v) - and takes half of the lowest: the other half is left to everything
 * that is not a counter (parser buffers, window lists, librdkafka) and to the doubling copy of a
 * growing exact set.
 */
#include "memory_budget.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

void memory_budget_init(memory_budget *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

static bool injected_failure(memory_budget *b)
{
	if (b->fail_at == 0)
		return false;
	if (--b->fail_at > 0)
		return false;
	b->injected++;
	return true;
}

int memory_budget_reserve(memory_budget *b, size_t n)
{
	if (injected_failure(b))
		return -1;
	if (n > b->limit || b->used > b->limit - n) {
		b->refused++;
		return -1;
	}
	memory_budget_force(b, n);
	return 0;
}

void memory_budget_force(memory_budget *b, size_t n)
{
	b->used += n;
	if (b->used > b->peak)
		b->peak = b->used;
}

void memory_budget_release(memory_budget *b, size_t n)
{
	b->used = n > b->used ? 0 : b->used - n;
}

int memory_budget_parse(const char *s, size_t *out)
{
	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	int shift = 0;
	const char *units = "KMGT";
	const char *u = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
	if (u != NULL) {
		shift = 10 * (int)(u - units + 1);
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || v == 0 || v > (SIZE_MAX >> shift))
		return -1;
	*out = (size_t)(v << shift);
	return 0;
}

/* The first number on the line of path that starts with key (the whole file when key is NULL),
 * times mult. Returns 0, or -1 when absent or not a number ("max"). */
static int read_number(const char *path, const char *key, unsigned long long mult,
                       unsigned long long *out)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	char line[256];
	int rc = -1;
	while (fgets(line, sizeof line, f)) {
		const char *p = line;
		if (key != NULL) {
			size_t kl = strlen(key);
			if (strncmp(line, key, kl) != 0)
				continue;
			p += kl;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (isdigit((unsigned char)*p)) {
			*out = strtoull(p, NULL, 10) * mult;
			rc = 0;
		}
		break;
	}
	fclose(f);
	return rc;
}

static void lower(unsigned long long *m, unsigned long long v)
{
	if (v > 0 && v < *m)
		*m = v;
}

size_t memory_budget_default(void)
{
	unsigned long long m = ~0ULL, v;
	if (read_number("/proc/meminfo", "MemAvailable:", 1024, &v) == 0)
		lower(&m, v);
	if (read_number("/sys/fs/cgroup/memory.max", NULL, 1, &v) == 0 ||
	    read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes", NULL, 1, &v) == 0)
		lower(&m, v);
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		lower(&m, (unsigned long long)rl.rlim_cur);
	if (m == ~0ULL)
		return (size_t)1 << 30;
	m /= 2;
	if (m < MEMORY_BUDGET_MIN_DEFAULT)
		m = MEMORY_BUDGET_MIN_DEFAULT;
	return m > SIZE_MAX ? SIZE_MAX : (size_t)m;
}

const char *memory_budget_format(size_t n, char *buf, size_t cap)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0 || v == (double)(unsigned long long)v)
		snprintf(buf, cap, "%.0f %s", v, unit[u]);
	else
		snprintf(buf, cap, "%.2f %s", v, unit[u]);
	return buf;
}
