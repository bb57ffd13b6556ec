/* state.c - sealed state values, their byte codecs and the record map (see state.h).
 *
 * Values: state_buf grows by doubling; the first failed allocation sets oom, after which appends
 * do nothing, so a writer checks once, at state_seal. All integers are little-endian whatever the
 * host. A sealed value is
 *   "KQS1" | identity u64 | payload | XXH3-64(key bytes, then every byte before this) u64
 * Hashing the key with the bytes makes a value copied under another key fail its checksum.
 * state_rd reads with bounds checks: a short read sets bad and yields zeros, so a decoder reads a
 * whole record and checks sr_done once at the end.
 *
 * The map: linear probing over a power-of-two slot table (load at most 3/4) of (hash, record)
 * pairs; each record is one allocation holding its key, a NUL, then its value, so a value of
 * length 0 still has a non-NULL address. Deleting shifts the following run of the probe sequence
 * back (no tombstones), so a map that sees many puts and deletes (a changelog topic read from
 * its start) never degrades. Iteration walks the slots; *pos is the next slot to look at.
 */
#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#define MAGIC "KQS1"
#define MAGIC_LEN 4
#define HEADER_LEN (MAGIC_LEN + 8) /* magic, identity */
#define SEAL_LEN 8                 /* the checksum */

/* ---- building values ---------------------------------------------------------------------- */

void state_buf_free(state_buf *b)
{
	free(b->p);
	*b = (state_buf){0};
}

void state_buf_reset(state_buf *b)
{
	b->n = 0;
	b->oom = false;
}

/* Makes room for n more bytes; false (and oom) when it cannot. */
static bool reserve(state_buf *b, size_t n)
{
	if (b->oom)
		return false;
	if (n <= b->cap - b->n)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->n < n) {
		if (cap > SIZE_MAX / 2) {
			b->oom = true;
			return false;
		}
		cap *= 2;
	}
	uint8_t *p = realloc(b->p, cap);
	if (p == NULL) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void sb_bytes(state_buf *b, const void *p, size_t n)
{
	if (n == 0 || !reserve(b, n))
		return;
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* Appends the low n bytes of v, least significant first. */
static void put_le(state_buf *b, uint64_t v, size_t n)
{
	uint8_t t[8];
	for (size_t i = 0; i < n; i++)
		t[i] = (uint8_t)(v >> (8 * i));
	sb_bytes(b, t, n);
}

void sb_u8(state_buf *b, uint8_t v)
{
	sb_bytes(b, &v, 1);
}

void sb_u32(state_buf *b, uint32_t v)
{
	put_le(b, v, 4);
}

void sb_u64(state_buf *b, uint64_t v)
{
	put_le(b, v, 8);
}

void sb_i64(state_buf *b, int64_t v)
{
	put_le(b, (uint64_t)v, 8);
}

void state_begin(state_buf *b, uint64_t identity)
{
	state_buf_reset(b);
	sb_bytes(b, MAGIC, MAGIC_LEN);
	sb_u64(b, identity);
}

/* XXH3-64 of the key's bytes followed by val[0..n). */
static uint64_t seal_hash(const char *key, const uint8_t *val, size_t n)
{
	XXH3_state_t st;
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, key, strlen(key));
	XXH3_64bits_update(&st, val, n);
	return XXH3_64bits_digest(&st);
}

int state_seal(state_buf *b, const char *key)
{
	if (b->oom)
		return -1;
	sb_u64(b, seal_hash(key, b->p, b->n));
	return b->oom ? -1 : 0;
}

/* ---- reading values ----------------------------------------------------------------------- */

/* The next n bytes, or NULL (and bad) when fewer remain or an earlier read was short. */
static const uint8_t *take(state_rd *r, size_t n)
{
	static const uint8_t none[1];
	if (r->bad || n > r->n - r->pos) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p ? r->p + r->pos : none;
	r->pos += n;
	return p;
}

/* n bytes little-endian, 0 when short. */
static uint64_t get_le(state_rd *r, size_t n)
{
	const uint8_t *p = take(r, n);
	uint64_t v = 0;
	for (size_t i = 0; p && i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

uint8_t sr_u8(state_rd *r)
{
	return (uint8_t)get_le(r, 1);
}

uint32_t sr_u32(state_rd *r)
{
	return (uint32_t)get_le(r, 4);
}

uint64_t sr_u64(state_rd *r)
{
	return get_le(r, 8);
}

int64_t sr_i64(state_rd *r)
{
	return (int64_t)get_le(r, 8);
}

const uint8_t *sr_bytes(state_rd *r, size_t n)
{
	return take(r, n);
}

bool sr_done(const state_rd *r)
{
	return !r->bad && r->pos == r->n;
}

static uint64_t load_le64(const uint8_t *p)
{
	state_rd r = {.p = p, .n = 8};
	return sr_u64(&r);
}

const char *state_open(const char *key, const uint8_t *val, size_t len, uint64_t identity,
                       state_rd *payload)
{
	*payload = (state_rd){.bad = true}; /* nothing to read unless the value is accepted */
	if (val == NULL || len < HEADER_LEN + SEAL_LEN)
		return "truncated";
	if (memcmp(val, MAGIC, MAGIC_LEN) != 0)
		return "not a kuniq state record";
	size_t body = len - SEAL_LEN;
	if (seal_hash(key, val, body) != load_le64(val + body))
		return "checksum mismatch";
	if (load_le64(val + MAGIC_LEN) != identity)
		return "written by another configuration";
	*payload = (state_rd){.p = val + HEADER_LEN, .n = body - HEADER_LEN};
	return NULL;
}

/* ---- the record map ----------------------------------------------------------------------- */

typedef struct record {
	size_t klen, vlen;
	char data[]; /* key, NUL, value */
} record;

typedef struct slot {
	uint64_t hash;
	record *rec; /* NULL: empty */
} slot;

struct state_map {
	slot *slots;
	size_t cap; /* a power of two, or 0 before the first put */
	size_t count;
	size_t bytes; /* keys + values */
};

#define MAP_MIN_CAP 64

state_map *state_map_new(void)
{
	return calloc(1, sizeof(state_map));
}

void state_map_free(state_map *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].rec);
	free(m->slots);
	free(m);
}

static uint64_t key_hash(const char *key, size_t klen)
{
	return XXH3_64bits(key, klen);
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find(const state_map *m, const char *key, size_t klen, uint64_t h)
{
	size_t mask = m->cap - 1, i = (size_t)h & mask;
	for (;; i = (i + 1) & mask) {
		const slot *s = &m->slots[i];
		if (s->rec == NULL ||
		    (s->hash == h && s->rec->klen == klen && memcmp(s->rec->data, key, klen) == 0))
			return i;
	}
}

/* Rehashes every record into a table of cap slots. */
static int resize(state_map *m, size_t cap)
{
	slot *old = m->slots, *slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return -1;
	size_t old_cap = m->cap;
	m->slots = slots;
	m->cap = cap;
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i].rec != NULL)
			slots[find(m, old[i].rec->data, old[i].rec->klen, old[i].hash)] = old[i];
	}
	free(old);
	return 0;
}

/* Room for one more record at a load of at most 3/4. */
static int grow_for_one(state_map *m)
{
	if (m->cap != 0 && (m->count + 1) * 4 <= m->cap * 3)
		return 0;
	size_t cap = m->cap ? m->cap * 2 : MAP_MIN_CAP;
	if (cap > SIZE_MAX / 2 / sizeof(slot))
		return -1;
	return resize(m, cap);
}

static record *record_new(const char *key, size_t klen, const uint8_t *val, size_t vlen)
{
	if (vlen > SIZE_MAX - sizeof(record) - klen - 1)
		return NULL;
	record *r = malloc(sizeof(*r) + klen + 1 + vlen);
	if (r == NULL)
		return NULL;
	r->klen = klen;
	r->vlen = vlen;
	memcpy(r->data, key, klen + 1);
	if (vlen)
		memcpy(r->data + klen + 1, val, vlen);
	return r;
}

/* Empties slot i, moving later records of its probe run back so every lookup still finds them. */
static void remove_at(state_map *m, size_t i)
{
	size_t mask = m->cap - 1;
	record *r = m->slots[i].rec;
	m->bytes -= r->klen + r->vlen;
	m->count--;
	free(r);
	m->slots[i].rec = NULL;
	for (size_t j = (i + 1) & mask; m->slots[j].rec != NULL; j = (j + 1) & mask) {
		size_t home = (size_t)m->slots[j].hash & mask;
		/* j's record may fill the hole at i unless its home lies cyclically in (i, j] */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		m->slots[i] = m->slots[j];
		m->slots[j].rec = NULL;
		i = j;
	}
}

int state_map_put(state_map *m, const char *key, const uint8_t *val, size_t len)
{
	size_t klen = strlen(key);
	uint64_t h = key_hash(key, klen);
	if (val == NULL) {
		if (m->cap != 0) {
			size_t i = find(m, key, klen, h);
			if (m->slots[i].rec != NULL)
				remove_at(m, i);
		}
		return 0;
	}
	record *r = record_new(key, klen, val, len);
	if (r == NULL)
		return -1;
	size_t i = m->cap ? find(m, key, klen, h) : 0;
	if (m->cap != 0 && m->slots[i].rec != NULL) { /* overwrite in place */
		m->bytes -= m->slots[i].rec->vlen;
		m->bytes += len;
		free(m->slots[i].rec);
		m->slots[i].rec = r;
		return 0;
	}
	if (grow_for_one(m) != 0) {
		free(r);
		return -1;
	}
	i = find(m, key, klen, h);
	m->slots[i] = (slot){.hash = h, .rec = r};
	m->count++;
	m->bytes += klen + len;
	return 0;
}

const uint8_t *state_map_get(const state_map *m, const char *key, size_t *len)
{
	if (m->cap == 0)
		return NULL;
	size_t klen = strlen(key);
	const record *r = m->slots[find(m, key, klen, key_hash(key, klen))].rec;
	if (r == NULL)
		return NULL;
	if (len)
		*len = r->vlen;
	return (const uint8_t *)r->data + r->klen + 1;
}

bool state_map_next(const state_map *m, size_t *pos, const char **key, const uint8_t **val,
                    size_t *len)
{
	for (size_t i = *pos; i < m->cap; i++) {
		const record *r = m->slots[i].rec;
		if (r == NULL)
			continue;
		*pos = i + 1;
		*key = r->data;
		*val = (const uint8_t *)r->data + r->klen + 1;
		*len = r->vlen;
		return true;
	}
	*pos = m->cap;
	return false;
}

size_t state_map_count(const state_map *m)
{
	return m->count;
}

size_t state_map_bytes(const state_map *m)
{
	return m->bytes;
}

static int map_sink_put(void *ctx, const char *key, const uint8_t *val, size_t len)
{
	return state_map_put(ctx, key, val, len);
}

state_sink state_map_sink(state_map *m)
{
	return (state_sink){.ctx = m, .put = map_sink_put};
}

static int prefix_put(void *ctx, const char *key, const uint8_t *val, size_t len)
{
	state_prefix *p = ctx;
	char full[320];
	if ((size_t)snprintf(full, sizeof full, "%s%s", p->prefix, key) >= sizeof full)
		return -1;
	return p->inner.put(p->inner.ctx, full, val, len);
}

state_sink state_prefix_sink(state_prefix *p, state_sink inner, const char *prefix)
{
	p->inner = inner;
	snprintf(p->prefix, sizeof p->prefix, "%s", prefix);
	return (state_sink){.ctx = p, .put = prefix_put};
}

state_map *state_map_sub(const state_map *m, const char *prefix)
{
	state_map *sub = state_map_new();
	size_t pos = 0, len, plen = strlen(prefix);
	const char *key;
	const uint8_t *val;
	while (sub && state_map_next(m, &pos, &key, &val, &len))
		if (strncmp(key, prefix, plen) == 0 &&
		    state_map_put(sub, key + plen, val, len) != 0) {
			state_map_free(sub);
			sub = NULL;
		}
	return sub;
}

int state_map_open(const state_map *m, const char *key, uint64_t identity, state_rd *payload,
                   char *err, size_t errlen)
{
	size_t len;
	const uint8_t *v = state_map_get(m, key, &len);
	if (v == NULL)
		return 1;
	const char *why = state_open(key, v, len, identity, payload);
	if (why) {
		snprintf(err, errlen, "record %s: %s", key, why);
		return -1;
	}
	return 0;
}
