/* partial.c - encoding of the partial records (see partial.h, docs/scale-out.md).
 *
 * Key: "w/<kind>/<start>/<input>" for ITEMS and COUNTER, "wm/<input>" for WATERMARK (the key
 * is sealed into the value's checksum, so a value cannot be replayed under another window).
 * Value (sealed, state.h), after a type byte and the input partition (u32):
 *   ITEMS      kind u8, start i64, end i64, frames u64, n u32, n hashes u64
 *   COUNTER    kind u8, start i64, end i64, frames u64, len u32, counter_serialize bytes
 *   WATERMARK  flags u8 (1 = set, 2 = rewind), wm i64, role u8
 */
#include "partial.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "calendar.h"

int partial_partition(int kind, int64_t start, int n)
{
	uint64_t b[2] = {(uint64_t)kind, (uint64_t)start};
	return n > 0 ? (int)(XXH3_64bits(b, sizeof b) % (uint64_t)n) : 0;
}

static void window_head(const partial *p, state_buf *b)
{
	sb_u8(b, (uint8_t)p->kind);
	sb_i64(b, p->start);
	sb_i64(b, p->end);
	sb_u64(b, p->frames);
}

int partial_encode(const partial *p, uint64_t identity, state_buf *b, char *key, size_t keylen)
{
	state_begin(b, identity);
	sb_u8(b, (uint8_t)p->type);
	sb_u32(b, (uint32_t)p->input);
	if (p->type == PARTIAL_WATERMARK) {
		snprintf(key, keylen, "wm/%" PRId32, p->input);
		sb_u8(b, (uint8_t)(p->wm_set | p->rewind << 1));
		sb_i64(b, p->wm);
		sb_u8(b, p->role);
	} else {
		snprintf(key, keylen, "w/%s/%" PRId64 "/%" PRId32,
		         window_kind_name((window_kind)p->kind), p->start, p->input);
		window_head(p, b);
		if (p->type == PARTIAL_ITEMS) {
			sb_u32(b, p->nitems);
			for (uint32_t i = 0; i < p->nitems; i++)
				sb_u64(b, p->items[i]);
		} else {
			sb_u32(b, (uint32_t)p->serlen);
			sb_bytes(b, p->ser, p->serlen);
		}
	}
	return state_seal(b, key);
}

static const char *read_items(state_rd *r, partial *p, uint64_t **items, size_t *cap)
{
	uint32_t n = sr_u32(r);
	if (r->bad || n > PARTIAL_MAX_ITEMS || (size_t)n * 8 > r->n - r->pos)
		return "bad item count";
	if (n > *cap) {
		uint64_t *ni = realloc(*items, sizeof(uint64_t) * n);
		if (ni == NULL)
			return "out of memory";
		*items = ni;
		*cap = n;
	}
	for (uint32_t i = 0; i < n; i++)
		(*items)[i] = sr_u64(r);
	p->items = *items;
	p->nitems = n;
	return NULL;
}

const char *partial_read(const char *key, const uint8_t *val, size_t len, uint64_t identity,
                         partial *p, uint64_t **items, size_t *items_cap)
{
	state_rd r;
	const char *why = state_open(key, val, len, identity, &r);
	if (why)
		return why;
	*p = (partial){0};
	p->type = (partial_type)sr_u8(&r);
	p->input = (int32_t)sr_u32(&r);
	if (p->input < 0)
		return "bad input partition";
	if (p->type == PARTIAL_WATERMARK) {
		uint8_t f = sr_u8(&r);
		p->wm_set = f & 1;
		p->rewind = (f >> 1) & 1;
		p->wm = sr_i64(&r);
		p->role = sr_u8(&r);
		if (p->role > 2)
			return "bad role";
	} else if (p->type == PARTIAL_ITEMS || p->type == PARTIAL_COUNTER) {
		p->kind = sr_u8(&r);
		p->start = sr_i64(&r);
		p->end = sr_i64(&r);
		p->frames = sr_u64(&r);
		if (p->kind >= WINDOW_KIND_COUNT || p->end <= p->start)
			return "bad window";
		if (p->type == PARTIAL_ITEMS) {
			if ((why = read_items(&r, p, items, items_cap)) != NULL)
				return why;
		} else {
			p->serlen = sr_u32(&r);
			p->ser = sr_bytes(&r, p->serlen);
		}
	} else {
		return "unknown record type";
	}
	return sr_done(&r) ? NULL : "malformed";
}
