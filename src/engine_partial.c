/* engine_partial.c - the engine's two roles when processes share the work (--scale-out,
 * docs/scale-out.md).
 *
 * Counting stage (engine_cfg.combine). Every input partition this process is assigned counts its
 * frames in its own windows as usual, but nothing is emitted or late here: at each commit,
 * engine_flush_partials sends each window's news as partial records (partial.h) - the users new to
 * its exact set since the last commit (the same log incremental checkpoints use) and the frames
 * counted since, or the whole counter once it is a sketch - then the input's watermark and role.
 * A window stays (so a user seen again is not sent again) until the input's own watermark passes
 * its end; a frame that comes later for it opens a fresh window, whose partial the merging stage
 * judges on time or late. Nothing of these windows needs checkpointing: everything they counted
 * is in partials committed with the input offsets.
 *
 * Merging stage. One engine per partition of the partials topic, with one input per input
 * partition of the topic counted. engine_merge_partial adds a window's partial to that window
 * (kept in input 0's lists; the other inputs only carry watermarks) or, when the window is already
 * final, counts its frames as late exactly as a frame would be (section 5 of docs/semantics.md);
 * a WATERMARK sets the input's watermark and role, and G, the minimum over the inputs that hold
 * it, emits windows exactly as in one process. Watermarks only move back when the counting stage
 * says its clock did (rewind): a stale watermark from a restored task is ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_impl.h"

/* ---- counting stage ------------------------------------------------------------------------ */

static int send_items(partial_sink out, partial *p, const uint64_t *items, size_t n)
{
	size_t i = 0;
	do {
		size_t m = n - i < PARTIAL_MAX_ITEMS ? n - i : PARTIAL_MAX_ITEMS;
		p->items = items + i;
		p->nitems = (uint32_t)m;
		if (out.put(out.ctx, p) != 0)
			return -1;
		p->frames = 0; /* the frames go with the first record only */
		i += m;
	} while (i < n);
	return 0;
}

/* An exact set whose news were not logged (out of memory): all its items again. */
static int send_all_items(partial_sink out, partial *p, const counter *c)
{
	uint64_t *buf = malloc(sizeof(uint64_t) * PARTIAL_MAX_ITEMS);
	if (buf == NULL)
		return -1;
	size_t pos = 0, n = 0;
	uint64_t item;
	int rc = 0;
	bool sent = false;
	for (;;) {
		bool more = counter_next_item(c, &pos, &item);
		if (more)
			buf[n++] = item;
		if ((n == PARTIAL_MAX_ITEMS || !more) && (n || !sent)) {
			if ((rc = send_items(out, p, buf, n)) != 0)
				break;
			sent = true;
			n = 0;
		}
		if (!more)
			break;
	}
	free(buf);
	return rc;
}

static int send_counter(partial_sink out, partial *p, const counter *c)
{
	size_t need = counter_serialize(c, NULL, 0);
	uint8_t *ser = malloc(need);
	if (ser == NULL)
		return -1;
	counter_serialize(c, ser, need);
	p->type = PARTIAL_COUNTER;
	p->ser = ser;
	p->serlen = need;
	int rc = out.put(out.ctx, p);
	free(ser);
	return rc;
}

static int flush_window(partial_sink out, int32_t id, int k, window *w)
{
	if (!w->dirty && !w->rebase && w->ndelta == 0 && w->frames == 0)
		return 0;
	partial p = {.type = PARTIAL_ITEMS,
	             .input = id,
	             .kind = k,
	             .start = w->start,
	             .end = w->end,
	             .frames = w->frames};
	int rc;
	if (!counter_is_exact(w->cnt))
		rc = send_counter(out, &p, w->cnt);
	else if (w->rebase)
		rc = send_all_items(out, &p, w->cnt);
	else
		rc = send_items(out, &p, w->delta, w->ndelta);
	if (rc == 0) {
		w->frames = 0;
		w->ndelta = 0;
		w->dirty = w->rebase = false;
	}
	return rc;
}

static void forget(void *ctx, window *w)
{
	(void)ctx;
	window_release(w);
}

static int flush_watermark(partial_sink out, int32_t id, task *t)
{
	if (t->pub_valid && t->pub_wm_set == t->wm_set && t->pub_wm == t->wm &&
	    t->pub_role == t->role && !t->rewound)
		return 0;
	partial p = {.type = PARTIAL_WATERMARK,
	             .input = id,
	             .wm_set = t->wm_set,
	             .wm = t->wm,
	             .role = (uint8_t)t->role,
	             .rewind = t->rewound};
	if (out.put(out.ctx, &p) != 0)
		return -1;
	t->pub_valid = true;
	t->pub_wm_set = t->wm_set;
	t->pub_wm = t->wm;
	t->pub_role = t->role;
	t->rewound = false;
	return 0;
}

int engine_flush_partials(engine *e, int input, int32_t id, partial_sink out)
{
	task *t = &e->tasks[input];
	for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
		window_list *l = &t->open[k];
		for (uint32_t i = 0; i < l->n; i++)
			if (flush_window(out, id, k, &l->w[i]) != 0)
				return -1;
		if (t->wm_set)
			window_list_drop_before(l, t->wm == INT64_MAX ? INT64_MAX : t->wm + 1,
			                        forget, NULL);
	}
	return flush_watermark(out, id, t);
}

bool engine_is_combining(const engine *e)
{
	return e->cfg.combine;
}

void engine_input_finish(engine *e, int input)
{
	engine_watermark(e, input, INT64_MAX, false);
}

void engine_input_clear(engine *e, int input)
{
	task *t = &e->tasks[input];
	for (int k = 0; k < WINDOW_KIND_COUNT; k++)
		window_list_free(&t->open[k]);
	memset(t, 0, sizeof(*t));
	t->role = ENGINE_HOLDS;
}

/* ---- merging stage ------------------------------------------------------------------------- */

/* Adds the partial's users to w (logging those new to an exact set for checkpoints). */
static int add_to(engine *e, window *w, const partial *p)
{
	w->frames += p->frames;
	w->dirty = true;
	if (p->type == PARTIAL_COUNTER) {
		counter *c = counter_deserialize_in(p->ser, p->serlen, e->cfg.counter.budget);
		if (c == NULL)
			return -1;
		if (counter_merge(w->cnt, c) != 0)
			engine_lose(e, p->kind, w->start);
		counter_free(c);
		w->rebase =
		    true; /* the new users were not logged: the next checkpoint writes all */
		return 0;
	}
	for (uint32_t i = 0; i < p->nitems; i++) {
		int r = counter_insert(w->cnt, p->items[i]);
		if (r < 0)
			engine_lose(e, p->kind, w->start);
		else if (r > 0 && e->track)
			window_log_item(w, p->items[i]);
	}
	return 0;
}

/* The window of a partial that came after the window was final: its frames are late
 * (section 5); with --late update they correct the kept window. */
static int merge_late(engine *e, const partial *p)
{
	int k = p->kind;
	e->stats.late[k] += p->frames;
	if (!e->cfg.late_update)
		return 0;
	window *w = window_list_find(&e->kept[k], p->start);
	if (w == NULL) {
		if (p->end <= e->g - e->cfg.keep_closed || engine_is_closed(e, k, p->start, p->end))
			return 0;
		counter *c = counter_new(&e->cfg.counter);
		if (c == NULL ||
		    (w = window_list_insert(&e->kept[k], p->start, p->end, c)) == NULL) {
			counter_free(c);
			engine_lose(e, k, p->start);
			return 0;
		}
	}
	w->changed = true;
	w->late += p->frames;
	return add_to(e, w, p);
}

/* The open window of the partial, created when needed; NULL with *late set when the window is
 * already final, NULL with *late clear when memory ran out (the loss is recorded). */
static window *merge_window(engine *e, const partial *p, bool *late)
{
	int k = p->kind;
	window_list *l = &e->tasks[0].open[k];
	window *w = window_list_find(l, p->start);
	*late = false;
	if (w != NULL)
		return w;
	if (e->g_set && (p->end <= e->g || engine_is_closed(e, k, p->start, p->end))) {
		*late = true;
		return NULL;
	}
	if (e->cfg.late_update && (w = window_list_find(&e->kept[k], p->start)) != NULL) {
		if (w->emitted) {
			*late = true;
			return NULL;
		}
		window kw; /* created by a late partial, open again after a rewind */
		window_list_remove(&e->kept[k], w, &kw);
		engine_unsave(e, -1, k, &kw);
		if ((w = window_list_insert(l, p->start, p->end, kw.cnt)) == NULL) {
			counter_free(kw.cnt);
			engine_lose(e, k, p->start);
			return NULL;
		}
		w->frames = kw.frames;
		w->late = kw.late;
		w->dirty = true;
		return w;
	}
	counter *c = counter_new(&e->cfg.counter);
	if (c == NULL || (w = window_list_insert(l, p->start, p->end, c)) == NULL) {
		counter_free(c);
		engine_lose(e, k, p->start);
		return NULL;
	}
	w->first_offset = 0;
	return w;
}

static void merge_watermark(engine *e, const partial *p)
{
	task *t = &e->tasks[p->input];
	if (p->wm_set) {
		bool back = t->wm_set && p->wm < t->wm;
		if (!back)
			engine_watermark(e, p->input, p->wm, false);
		else if (p->rewind)
			engine_watermark(e, p->input, p->wm, true);
	}
	if ((engine_role)p->role != t->role)
		engine_input_role(e, p->input, (engine_role)p->role);
}

int engine_merge_partial(engine *e, const partial *p)
{
	if (p->input < 0 || p->input >= e->ntasks)
		return -1;
	if (p->type == PARTIAL_WATERMARK) {
		merge_watermark(e, p);
		return 0;
	}
	if (!((e->cfg.kinds >> p->kind) & 1u))
		return -1;
	bool late;
	window *w = merge_window(e, p, &late);
	if (w == NULL)
		return late ? merge_late(e, p) : 0; /* else out of memory: the loss is recorded */
	return add_to(e, w, p);
}

bool engine_all_finished(const engine *e)
{
	if (!e->g_set || e->g != INT64_MAX)
		return false;
	for (int k = 0; k < WINDOW_KIND_COUNT; k++)
		if (e->tasks[0].open[k].n)
			return false;
	return true;
}

void engine_restore_roles(engine *e, const uint8_t *roles, int n)
{
	for (int i = 0; i < n && i < e->ntasks; i++)
		e->tasks[i].role = roles[i] <= ENGINE_FREE ? (engine_role)roles[i] : ENGINE_HOLDS;
}

engine_role engine_input_get_role(const engine *e, int i)
{
	return e->tasks[i].role;
}
