/* engine_state.c - the engine's part of a checkpoint, and its restoration (docs/state.md).
 *
 * Records (keys; values sealed by state.h):
 *   engine                     G, whether it ever dropped, the engine's counters
 *   closed/<kind>              the ring of the last emitted windows of a kind (written on change)
 *   task/<id>                  an input's watermark
 *   w/<owner>/<kind>/<start>   a window's header: end, frames, first offset, revision, flags,
 *                              how many base and delta records hold its counter, then its late
 *                              frames (absent in older checkpoints: 0)
 *   w/.../b<i>                 part i of the serialised counter (counter.h), BASE_PART bytes each
 *   w/.../d<i>                 delta i: items (u64) added to the exact set after the base
 * owner is the input's stable id (a Kafka partition) for open windows, "kept" for emitted windows
 * still corrected by late frames (--late update).
 *
 * How a counter is written incrementally. A window's first checkpoint writes its whole counter
 * (the base). Later ones, while the counter is an exact set, write only the items new since the
 * previous checkpoint (engine tracking logs them as counter_insert reports them), as one more
 * delta record; so a year window of a million users costs only its new users per checkpoint. The
 * base is rewritten (and the deltas deleted) when the counter became a sketch (its registers are
 * its state; a sketch is 16 KiB at the default precision), when MAX_DELTAS deltas piled up (so a
 * restore reads a bounded number of records), or when logging an item ran out of memory. A window
 * that leaves the engine (emitted, merged, dropped) has its records deleted at the next checkpoint
 * (engine_impl.h: the gone list). Restoring reads the base, then adds every delta's items.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_impl.h"

#define BASE_PART (512u * 1024u)  /* bytes of serialised counter per record (Kafka: < 1 MB) */
#define DELTA_ITEMS (64u * 1024u) /* items per delta record */
#define MAX_DELTAS 128

void engine_track(engine *e, bool on)
{
	e->track = on;
}

/* ---- writing ------------------------------------------------------------------------------- */

typedef struct writer {
	engine_ckpt *ck;
	state_buf b;
	int rc;
} writer;

static void put(writer *w, const char *key)
{
	if (w->rc)
		return;
	if (state_seal(&w->b, key) != 0 || w->ck->out.put(w->ck->out.ctx, key, w->b.p, w->b.n)) {
		w->rc = -1;
		return;
	}
	w->ck->records++;
	w->ck->bytes += w->b.n;
}

static void del(writer *w, const char *key)
{
	if (w->rc)
		return;
	if (w->ck->out.put(w->ck->out.ctx, key, NULL, 0)) {
		w->rc = -1;
		return;
	}
	w->ck->records++;
}

static void owner_str(char *buf, size_t n, int64_t id)
{
	if (id < 0)
		snprintf(buf, n, "kept");
	else
		snprintf(buf, n, "%" PRId64, id);
}

static void window_key(char *key, size_t n, int64_t owner, int k, int64_t start)
{
	char o[24];
	owner_str(o, sizeof o, owner);
	snprintf(key, n, "w/%s/%s/%" PRId64, o, window_kind_name((window_kind)k), start);
}

/* Deletes records sub/from .. sub/(to - 1) of a window key ("b" or "d"). */
static void del_range(writer *w, const char *wkey, char sub, uint32_t from, uint32_t to)
{
	char key[160];
	for (uint32_t i = from; i < to; i++) {
		snprintf(key, sizeof key, "%s/%c%" PRIu32, wkey, sub, i);
		del(w, key);
	}
}

/* Writes the whole counter as base parts; deletes the old extra parts and every delta. */
static void write_base(writer *w, window *win, const char *wkey, bool full)
{
	size_t need = counter_serialize(win->cnt, NULL, 0);
	uint8_t *ser = malloc(need ? need : 1);
	if (ser == NULL) {
		w->rc = -1;
		return;
	}
	counter_serialize(win->cnt, ser, need);
	uint32_t parts = (uint32_t)((need + BASE_PART - 1) / BASE_PART);
	char key[160];
	for (uint32_t i = 0; i < parts; i++) {
		size_t off = (size_t)i * BASE_PART,
		       len = need - off < BASE_PART ? need - off : BASE_PART;
		state_begin(&w->b, w->ck->identity);
		sb_bytes(&w->b, ser + off, len);
		snprintf(key, sizeof key, "%s/b%" PRIu32, wkey, i);
		put(w, key);
	}
	free(ser);
	if (!full && win->saved) {
		if (win->parts > parts)
			del_range(w, wkey, 'b', parts, win->parts);
		del_range(w, wkey, 'd', 0, win->deltas);
	}
	win->parts = parts;
	win->deltas = 0;
}

/* Writes the items logged since the last checkpoint as delta records. */
static void write_deltas(writer *w, window *win, const char *wkey)
{
	char key[160];
	for (uint32_t i = 0; i < win->ndelta; i += DELTA_ITEMS) {
		uint32_t n = win->ndelta - i < DELTA_ITEMS ? win->ndelta - i : DELTA_ITEMS;
		state_begin(&w->b, w->ck->identity);
		for (uint32_t j = 0; j < n; j++)
			sb_u64(&w->b, win->delta[i + j]);
		snprintf(key, sizeof key, "%s/d%" PRIu32, wkey, win->deltas++);
		put(w, key);
	}
}

static void write_window(writer *w, int64_t owner, int k, window *win)
{
	bool full = w->ck->full;
	if (!full && win->saved && !win->dirty && !win->rebase && win->ndelta == 0)
		return;
	char wkey[128];
	window_key(wkey, sizeof wkey, owner, k, win->start);
	bool base = full || !win->saved || win->rebase || !counter_is_exact(win->cnt) ||
	            win->deltas + (win->ndelta + DELTA_ITEMS - 1) / DELTA_ITEMS > MAX_DELTAS;
	if (base)
		write_base(w, win, wkey, full);
	else
		write_deltas(w, win, wkey);
	state_begin(&w->b, w->ck->identity);
	sb_i64(&w->b, win->end);
	sb_u64(&w->b, win->frames);
	sb_i64(&w->b, win->first_offset);
	sb_u32(&w->b, win->revision);
	sb_u8(&w->b, (uint8_t)(win->emitted | win->changed << 1));
	sb_u32(&w->b, win->parts);
	sb_u32(&w->b, win->deltas);
	sb_u64(&w->b, win->late);
	put(w, wkey);
	if (w->rc == 0) {
		win->saved = true;
		win->dirty = win->rebase = false;
		win->ndelta = 0;
	}
}

static void write_gone(writer *w, const struct gone *g)
{
	char wkey[128];
	window_key(wkey, sizeof wkey, g->owner, g->kind, g->start);
	del(w, wkey);
	del_range(w, wkey, 'b', 0, g->parts);
	del_range(w, wkey, 'd', 0, g->deltas);
}

static void write_globals(writer *w, engine *e)
{
	state_begin(&w->b, w->ck->identity);
	sb_u8(&w->b, (uint8_t)(e->g_set | e->g_dropped << 1));
	sb_i64(&w->b, e->g);
	for (int k = 0; k < WINDOW_KIND_COUNT; k++)
		sb_u64(&w->b, e->stats.late[k]);
	sb_u64(&w->b, e->stats.windows_emitted);
	sb_u64(&w->b, e->stats.emit_errors);
	sb_u64(&w->b, e->stats.oom);
	put(w, "engine");
	for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
		const closed_ring *r = e->closed[k];
		if (r == NULL || (!w->ck->full && !e->closed_dirty[k]))
			continue;
		state_begin(&w->b, w->ck->identity);
		sb_u32(&w->b, r->next);
		sb_u32(&w->b, r->n);
		sb_i64(&w->b, r->max_end);
		for (uint32_t i = 0; i < r->n; i++)
			sb_i64(&w->b, r->start[i]);
		char key[64];
		snprintf(key, sizeof key, "closed/%s", window_kind_name((window_kind)k));
		put(w, key);
		if (w->rc == 0)
			e->closed_dirty[k] = false;
	}
}

static void write_task(writer *w, const task *t, int64_t id)
{
	state_begin(&w->b, w->ck->identity);
	sb_u8(&w->b, t->wm_set);
	sb_i64(&w->b, t->wm);
	char key[48];
	snprintf(key, sizeof key, "task/%" PRId64, id);
	put(w, key);
}

int engine_checkpoint(engine *e, engine_ckpt *ck)
{
	writer w = {.ck = ck};
	if (e->gone_oom) {
		/* a departure was not logged: its records cannot be named. Fall back to a full
		 * checkpoint, which is correct only into an empty store (files); for a changelog
		 * the caller must fail */
		if (!ck->full)
			return -1;
		e->gone_oom = false;
	}
	for (size_t i = 0; !ck->full && i < e->ngone; i++)
		write_gone(&w, &e->gone[i]);
	if (w.rc == 0)
		e->ngone = 0;
	/* the counting stage of --scale-out keeps no global state, and its windows' contents
	 * are in the partials committed with the same transaction (engine_partial.c) */
	if (!e->cfg.combine)
		write_globals(&w, e);
	for (int i = 0; i < e->ntasks; i++) {
		if (ck->ids[i] < 0)
			continue;
		write_task(&w, &e->tasks[i], ck->ids[i]);
		for (int k = 0; !e->cfg.combine && k < WINDOW_KIND_COUNT; k++)
			for (uint32_t j = 0; j < e->tasks[i].open[k].n; j++)
				write_window(&w, ck->ids[i], k, &e->tasks[i].open[k].w[j]);
	}
	for (int k = 0; k < WINDOW_KIND_COUNT; k++)
		for (uint32_t j = 0; j < e->kept[k].n; j++)
			write_window(&w, -1, k, &e->kept[k].w[j]);
	state_buf_free(&w.b);
	return w.rc;
}

/* ---- restoring ----------------------------------------------------------------------------- */

typedef struct reader {
	const state_map *m;
	uint64_t identity;
	char *err;
	size_t errlen;
} reader;

/* Opens record key. Returns 1 when absent, 0 when valid (*r reads its payload), -1 (err set). */
static int open_rec(const reader *rd, const char *key, state_rd *r)
{
	return state_map_open(rd->m, key, rd->identity, r, rd->err, rd->errlen);
}

static int malformed(const reader *rd, const char *key)
{
	snprintf(rd->err, rd->errlen,
	         "record %s: malformed (checksum valid: written by another "
	         "version?)",
	         key);
	return -1;
}

static int kind_of(const char *name, size_t n)
{
	for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
		const char *kn = window_kind_name((window_kind)k);
		if (strlen(kn) == n && memcmp(kn, name, n) == 0)
			return k;
	}
	return -1;
}

/* The counter of window wkey: its base parts, then its deltas. */
static counter *load_counter(engine *e, const reader *rd, const char *wkey, uint32_t parts,
                             uint32_t deltas)
{
	char key[160];
	counter *c = NULL;
	state_buf ser = {0};
	state_rd r;
	for (uint32_t i = 0; i < parts; i++) {
		snprintf(key, sizeof key, "%s/b%" PRIu32, wkey, i);
		int rc = open_rec(rd, key, &r);
		if (rc == 1)
			snprintf(rd->err, rd->errlen, "record %s: missing", key);
		if (rc != 0)
			goto fail;
		sb_bytes(&ser, r.p + r.pos, r.n - r.pos);
	}
	if (ser.oom)
		goto oom;
	c = parts ? counter_deserialize_in(ser.p, ser.n, e->cfg.counter.budget)
	          : counter_new(&e->cfg.counter);
	if (c == NULL) {
		snprintf(rd->err, rd->errlen, "record %s/b*: not a valid counter", wkey);
		goto fail;
	}
	for (uint32_t i = 0; i < deltas; i++) {
		snprintf(key, sizeof key, "%s/d%" PRIu32, wkey, i);
		int rc = open_rec(rd, key, &r);
		if (rc == 1)
			snprintf(rd->err, rd->errlen, "record %s: missing", key);
		if (rc != 0)
			goto fail;
		if ((r.n - r.pos) % 8)
			goto bad;
		while (r.pos < r.n)
			if (counter_add(c, sr_u64(&r)) != 0)
				goto oom;
	}
	state_buf_free(&ser);
	return c;
bad:
	malformed(rd, key);
	goto fail;
oom:
	snprintf(rd->err, rd->errlen, "out of memory restoring %s", wkey);
fail:
	counter_free(c);
	state_buf_free(&ser);
	return NULL;
}

/* Restores window record wkey of kind k into list l. Returns 0 or -1. */
static int load_window(engine *e, const reader *rd, const char *wkey, int k, int64_t start,
                       window_list *l)
{
	state_rd r;
	if (open_rec(rd, wkey, &r) != 0)
		return -1;
	int64_t end = sr_i64(&r);
	uint64_t frames = sr_u64(&r);
	int64_t first = sr_i64(&r);
	uint32_t rev = sr_u32(&r);
	uint8_t flags = sr_u8(&r);
	uint32_t parts = sr_u32(&r), deltas = sr_u32(&r);
	uint64_t late = r.pos < r.n ? sr_u64(&r) : 0; /* absent before late_window */
	if (!sr_done(&r) || end <= start || window_list_find(l, start) != NULL)
		return malformed(rd, wkey);
	counter *c = load_counter(e, rd, wkey, parts, deltas);
	if (c == NULL)
		return -1;
	window *w = window_list_insert(l, start, end, c);
	if (w == NULL) {
		counter_free(c);
		snprintf(rd->err, rd->errlen, "out of memory restoring %s", wkey);
		return -1;
	}
	(void)k;
	w->frames = frames;
	w->first_offset = first;
	w->revision = rev;
	w->late = late;
	w->emitted = flags & 1;
	w->changed = (flags >> 1) & 1;
	w->saved = true;
	w->parts = parts;
	w->deltas = deltas;
	return 0;
}

/* Restores every window of owner (an id, or "kept") into lists[kind]. */
static int load_windows(engine *e, const reader *rd, const char *owner, window_list *lists)
{
	char prefix[32];
	int plen = snprintf(prefix, sizeof prefix, "w/%s/", owner);
	size_t pos = 0, len;
	const char *key;
	const uint8_t *val;
	while (state_map_next(rd->m, &pos, &key, &val, &len)) {
		if (strncmp(key, prefix, (size_t)plen) != 0)
			continue;
		const char *kn = key + plen, *slash = strchr(kn, '/');
		if (slash == NULL)
			return malformed(rd, key);
		if (strchr(slash + 1, '/') != NULL)
			continue; /* a base or delta part: read with its header */
		int k = kind_of(kn, (size_t)(slash - kn));
		char *endp;
		long long start = strtoll(slash + 1, &endp, 10);
		if (k < 0 || *endp != '\0' || !((e->cfg.kinds >> k) & 1u))
			return malformed(rd, key);
		if (load_window(e, rd, key, k, start, &lists[k]) != 0)
			return -1;
	}
	return 0;
}

static int load_closed(engine *e, const reader *rd, int k)
{
	char key[64];
	snprintf(key, sizeof key, "closed/%s", window_kind_name((window_kind)k));
	state_rd r;
	int rc = open_rec(rd, key, &r);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	closed_ring *ring = e->closed[k];
	if (ring == NULL)
		return malformed(rd, key);
	ring->next = sr_u32(&r);
	ring->n = sr_u32(&r);
	ring->max_end = sr_i64(&r);
	if (ring->n > ENGINE_CLOSED_MEMORY || ring->next >= ENGINE_CLOSED_MEMORY)
		return malformed(rd, key);
	for (uint32_t i = 0; i < ring->n; i++)
		ring->start[i] = sr_i64(&r);
	return sr_done(&r) ? 0 : malformed(rd, key);
}

int engine_restore(engine *e, const state_map *m, uint64_t identity, char *err, size_t errlen)
{
	reader rd = {m, identity, err, errlen};
	state_rd r;
	int rc = open_rec(&rd, "engine", &r);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	uint8_t flags = sr_u8(&r);
	e->g_set = flags & 1;
	e->g_dropped = (flags >> 1) & 1;
	e->g = sr_i64(&r);
	for (int k = 0; k < WINDOW_KIND_COUNT; k++)
		e->stats.late[k] = sr_u64(&r);
	e->stats.windows_emitted = sr_u64(&r);
	e->stats.emit_errors = sr_u64(&r);
	e->stats.oom = sr_u64(&r);
	if (!sr_done(&r))
		return malformed(&rd, "engine");
	for (int k = 0; k < WINDOW_KIND_COUNT; k++)
		if (load_closed(e, &rd, k) != 0)
			return -1;
	return load_windows(e, &rd, "kept", e->kept);
}

int engine_restore_input(engine *e, int input, int64_t id, const state_map *m, uint64_t identity,
                         char *err, size_t errlen)
{
	reader rd = {m, identity, err, errlen};
	char key[48];
	snprintf(key, sizeof key, "task/%" PRId64, id);
	state_rd r;
	int rc = open_rec(&rd, key, &r);
	if (rc != 0)
		return rc;
	task *t = &e->tasks[input];
	t->wm_set = sr_u8(&r);
	t->wm = sr_i64(&r);
	if (!sr_done(&r))
		return malformed(&rd, key);
	char owner[24];
	owner_str(owner, sizeof owner, id);
	return load_windows(e, &rd, owner, t->open);
}
