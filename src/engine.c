/* engine.c - windows, the global watermark, emission (docs/semantics.md sections 4, 5, 7).
 *
 * How it works. Each input is a task with, per window kind, its own list of open windows
 * (window.c), its watermark (set by its event clock through engine_watermark) and whether it
 * holds G back. G is the minimum watermark over the inputs that hold it. A frame is added to the
 * window of each selected kind that holds its ts, unless that window is final (end <= G, or
 * closed): then the frame is late (section 5).
 *
 * When G advances, the windows with end <= G form a prefix of every task's sorted list; windows
 * of the same start from different tasks are merged (counter_merge) into one result and emitted.
 * With --late update, emitted windows move to a per-kind "kept" list for keep_closed seconds,
 * where late frames update them and mark them for re-emission with the next revision.
 *
 * G decreases only when an input rewinds (its clock moved back). Windows emitted above the new G
 * must stay closed, so every emission is also written into a per-kind ring of the last
 * ENGINE_CLOSED_MEMORY (start, end) pairs, searched only after such a decrease.
 *
 * Memory. Every counter reserves its bytes in the budget of cfg.counter (--memory-limit); an AUTO
 * counter turns into its sketch when its set cannot grow (counter.c). A window that loses users
 * anyway (an EXACT set past the budget, malloc failing, a window that cannot be created) fails
 * the engine: it emits nothing from then on and engine_failure says why, so no record ever
 * claims a count that misses users.
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_impl.h"

engine *engine_new(const engine_cfg *cfg, result_sink sink)
{
	engine *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->cfg = *cfg;
	e->sink = sink;
	for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
		if (!((cfg->kinds >> k) & 1u))
			continue;
		e->closed[k] = calloc(1, sizeof(closed_ring));
		if (e->closed[k] == NULL) {
			engine_free(e);
			return NULL;
		}
		e->closed[k]->max_end = INT64_MIN;
	}
	return e;
}

void engine_free(engine *e)
{
	if (e == NULL)
		return;
	for (int i = 0; i < e->ntasks; i++)
		for (int k = 0; k < WINDOW_KIND_COUNT; k++)
			window_list_free(&e->tasks[i].open[k]);
	for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
		window_list_free(&e->kept[k]);
		free(e->closed[k]);
	}
	free(e->tasks);
	free(e->gone);
	free(e);
}

int engine_input_add(engine *e)
{
	task *nt = realloc(e->tasks, sizeof(task) * (size_t)(e->ntasks + 1));
	if (nt == NULL)
		return -1;
	e->tasks = nt;
	task *t = &e->tasks[e->ntasks];
	memset(t, 0, sizeof(*t));
	t->role = ENGINE_HOLDS;
	return e->ntasks++;
}

static bool selected(const engine *e, int k)
{
	return (e->cfg.kinds >> k) & 1u;
}

/* ---- windows leaving ------------------------------------------------------------------------ */

/* Logs that w's records (if it has any) must be deleted at the next checkpoint. */
static void log_gone(engine *e, int owner, int k, const window *w)
{
	if (!w->saved)
		return;
	if (e->ngone == e->gone_cap) {
		size_t ncap = e->gone_cap ? e->gone_cap * 2 : 16;
		struct gone *ng = realloc(e->gone, sizeof(*ng) * ncap);
		if (ng == NULL) {
			e->gone_oom = true;
			return;
		}
		e->gone = ng;
		e->gone_cap = ncap;
	}
	e->gone[e->ngone++] = (struct gone){owner, k, w->start, w->parts, w->deltas};
}

void engine_window_gone(engine *e, int owner, int k, window *w)
{
	log_gone(e, owner, k, w);
	window_release(w);
}

/* Forgets that w is in the checkpoint (its records are deleted next time) but keeps its
 * counter: the window lives on under another owner, written whole by the next checkpoint. */
void engine_unsave(engine *e, int owner, int k, window *w)
{
	log_gone(e, owner, k, w);
	free(w->delta);
	w->delta = NULL;
	w->ndelta = w->delta_cap = 0;
	w->saved = false;
	w->parts = w->deltas = 0;
	w->dirty = true;
}

typedef struct kept_ctx {
	engine *e;
	int k;
} kept_ctx;

static void drop_kept(void *ctx, window *w)
{
	kept_ctx *c = ctx;
	engine_window_gone(c->e, -1, c->k, w);
}

/* ---- failure ----------------------------------------------------------------------------- */

void engine_lose(engine *e, int k, int64_t start)
{
	e->stats.oom++;
	if (e->failure[0])
		return;
	char iso[40], lim[32];
	calendar_iso(&e->cfg.cal, start, iso);
	const memory_budget *b = e->cfg.counter.budget;
	if (b && b->refused)
		snprintf(
		    e->failure, sizeof e->failure,
		    "the exact count of the %s window starting %s does not fit in "
		    "--memory-limit %s (raise it, or use --mode auto to count past it with the "
		    "sketch)",
		    window_kind_name((window_kind)k), iso,
		    memory_budget_format(b->limit, lim, sizeof lim));
	else
		snprintf(e->failure, sizeof e->failure,
		         "out of memory counting the %s window starting %s: its count would miss "
		         "users (lower --memory-limit below what the machine can hold)",
		         window_kind_name((window_kind)k), iso);
}

const char *engine_failure(const engine *e)
{
	return e->failure[0] ? e->failure : NULL;
}

/* ---- emission ---------------------------------------------------------------------------- */

static void emit(engine *e, int k, const window *w, bool final, uint32_t revision)
{
	if (e->failure[0] || counter_lost(w->cnt))
		return; /* a count that misses users is never emitted */
	result r = {
	    .kind = (window_kind)k,
	    .start = w->start,
	    .end = w->end,
	    .uniques = counter_count(w->cnt),
	    .frames = w->frames,
	    .exact = counter_is_exact(w->cnt),
	    .error = counter_rse(w->cnt),
	    .final = final,
	    .revision = revision,
	    .late = e->stats.late[k],
	    .late_window = w->late,
	};
	e->stats.windows_emitted++;
	if (e->sink.emit(e->sink.ctx, &r) != 0)
		e->stats.emit_errors++;
}

/* Folds b into a (same window of kind k); b is released. */
static void absorb(engine *e, int k, window *a, window *b)
{
	if (counter_merge(a->cnt, b->cnt) != 0)
		engine_lose(e, k, a->start);
	a->frames += b->frames;
	a->late += b->late;
	if (b->first_offset < a->first_offset)
		a->first_offset = b->first_offset;
	window_release(b);
}

/* Takes the earliest window of kind k with end <= limit out of all tasks, merged. */
static bool take_final(engine *e, int k, int64_t limit, window *out)
{
	int64_t s = INT64_MAX;
	for (int i = 0; i < e->ntasks; i++) {
		window_list *l = &e->tasks[i].open[k];
		if (l->n && l->w[0].end <= limit && l->w[0].start < s)
			s = l->w[0].start;
	}
	if (s == INT64_MAX)
		return false;
	bool have = false;
	for (int i = 0; i < e->ntasks; i++) {
		window_list *l = &e->tasks[i].open[k];
		if (!l->n || l->w[0].start != s)
			continue;
		window w;
		window_list_pop_front(l, &w);
		engine_unsave(e, i, k, &w); /* the merged window is a new one */
		if (!have)
			*out = w;
		else
			absorb(e, k, out, &w);
		have = true;
	}
	return have;
}

static void keep(engine *e, int k, window *w)
{
	window *kw = window_list_insert(&e->kept[k], w->start, w->end, w->cnt);
	if (kw == NULL) {
		window_release(w);
		engine_lose(e, k, w->start); /* its late frames would revise a partial count */
		return;
	}
	kw->frames = w->frames;
	kw->late = w->late;
	kw->emitted = true;
	kw->dirty = true;
}

static void remember_closed(engine *e, int k, const window *w)
{
	closed_ring *r = e->closed[k];
	r->start[r->next] = w->start;
	r->next = (r->next + 1) % ENGINE_CLOSED_MEMORY;
	if (r->n < ENGINE_CLOSED_MEMORY)
		r->n++;
	if (w->end > r->max_end)
		r->max_end = w->end;
	e->closed_dirty[k] = true;
}

/* True when the window [start, end) of kind k was emitted and G has since dropped below end. */
bool engine_is_closed(const engine *e, int k, int64_t start, int64_t end)
{
	const closed_ring *r = e->closed[k];
	if (!e->g_dropped || end > r->max_end)
		return false;
	for (uint32_t i = 0; i < r->n; i++)
		if (r->start[i] == start)
			return true;
	return false;
}

static void emit_finals(engine *e, int64_t limit)
{
	for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
		window w;
		while (selected(e, k) && take_final(e, k, limit, &w)) {
			emit(e, k, &w, true, 0);
			remember_closed(e, k, &w);
			if (e->cfg.late_update && limit != INT64_MAX)
				keep(e, k, &w);
			else
				window_release(&w);
		}
	}
}

static void emit_revisions(engine *e)
{
	for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
		window_list *l = &e->kept[k];
		for (uint32_t i = 0; i < l->n; i++) {
			window *w = &l->w[i];
			if (!w->changed)
				continue;
			/* not emitted yet: created by a late frame; its first emission closes it */
			if (w->emitted)
				w->revision++;
			else
				remember_closed(e, k, w);
			emit(e, k, w, true, w->revision);
			w->emitted = true;
			w->changed = false;
			w->dirty = true;
		}
	}
}

/* Provisional results of every open window holding frames (merged across tasks). */
static void emit_early(engine *e)
{
	for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
		if (!selected(e, k))
			continue;
		int64_t prev = INT64_MIN;
		for (;;) {
			int64_t s = INT64_MAX; /* next start after prev, over all tasks */
			for (int i = 0; i < e->ntasks; i++) {
				window_list *l = &e->tasks[i].open[k];
				for (uint32_t j = 0; j < l->n; j++)
					if (l->w[j].start > prev && l->w[j].start < s)
						s = l->w[j].start;
			}
			if (s == INT64_MAX)
				break;
			prev = s;
			window sum = {0};
			sum.cnt = counter_new(&e->cfg.counter);
			if (sum.cnt == NULL) {
				e->stats.oom++;
				continue;
			}
			for (int i = 0; i < e->ntasks; i++) {
				window *w = window_list_find(&e->tasks[i].open[k], s);
				if (w == NULL)
					continue;
				sum.start = w->start;
				sum.end = w->end;
				sum.frames += w->frames;
				if (counter_merge(sum.cnt, w->cnt) != 0)
					e->stats.oom++; /* sum is lost: not emitted (provisional) */
			}
			if (sum.frames)
				emit(e, k, &sum, false, 0);
			counter_free(sum.cnt);
		}
	}
}

static void advance_to(engine *e, int64_t g)
{
	bool had = e->g_set;
	int64_t old = e->g;
	e->g = g;
	e->g_set = true;
	emit_finals(e, g);
	if (e->cfg.late_update) {
		emit_revisions(e);
		if (g != INT64_MAX)
			for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
				kept_ctx c = {e, k};
				window_list_drop_before(&e->kept[k], g - e->cfg.keep_closed,
				                        drop_kept, &c);
			}
	}
	int64_t E = e->cfg.early;
	if (E > 0 && had && g != INT64_MAX) {
		int64_t a = old / E - (old % E < 0), b = g / E - (g % E < 0);
		if (b > a)
			emit_early(e);
	}
}

/* G candidate: min watermark over the inputs that hold G; none holds: over the inputs that follow
 * wall time. False while an input that holds G has no watermark, or no input counts. */
static bool candidate(const engine *e, int64_t *out)
{
	int64_t m = INT64_MAX;
	bool any_hold = false, any = false;
	for (int i = 0; i < e->ntasks; i++) {
		const task *t = &e->tasks[i];
		if (t->role != ENGINE_HOLDS)
			continue;
		if (!t->wm_set)
			return false;
		any_hold = true;
		if (t->wm < m)
			m = t->wm;
	}
	for (int i = 0; !any_hold && i < e->ntasks; i++) {
		const task *t = &e->tasks[i];
		if (t->role != ENGINE_FOLLOWS || !t->wm_set)
			continue;
		any = true;
		if (t->wm < m)
			m = t->wm;
	}
	if (!any_hold && !any)
		return false;
	*out = m;
	return true;
}

void engine_maybe_advance(engine *e)
{
	int64_t c;
	if (e->cfg.combine)
		return; /* the merging stage decides */
	if (candidate(e, &c) && (!e->g_set || c > e->g))
		advance_to(e, c);
}

/* Adds one item to a window of kind k; with tracking on, logs it when new to an exact set. */
static inline void count(engine *e, int k, window *w, uint64_t hash)
{
	int r = counter_insert(w->cnt, hash);
	if (r < 0)
		engine_lose(e, k, w->start);
	else if (r > 0 && e->track)
		window_log_item(w, hash);
	w->frames++;
	w->dirty = true;
}

/* ---- adding frames ------------------------------------------------------------------------ */

static void add_late(engine *e, int k, int64_t ts, uint64_t hash)
{
	e->stats.late[k]++;
	if (!e->cfg.late_update)
		return;
	window *w = window_list_find(&e->kept[k], ts);
	if (w == NULL) {
		int64_t s, end;
		calendar_window(&e->cfg.cal, (window_kind)k, ts, &s, &end);
		if (end <= e->g - e->cfg.keep_closed || engine_is_closed(e, k, s, end))
			return;
		counter *c = counter_new(&e->cfg.counter);
		if (c == NULL || (w = window_list_insert(&e->kept[k], s, end, c)) == NULL) {
			counter_free(c);
			engine_lose(e, k, s);
			return;
		}
	}
	count(e, k, w, hash);
	w->late++;
	w->changed = true;
}

/* The frame's open window of kind k in task t, created when needed; NULL when the window is
 * already final (the frame is late for k) or memory ran out. */
static window *open_window(engine *e, task *t, int k, const frame_ref *f)
{
	window *w = window_list_find(&t->open[k], f->ts);
	if (w != NULL)
		return w;
	int64_t s, end;
	calendar_window(&e->cfg.cal, (window_kind)k, f->ts, &s, &end);
	if (e->g_set && (end <= e->g || engine_is_closed(e, k, s, end))) {
		add_late(e, k, f->ts, f->hash);
		return NULL;
	}
	window kw;
	if (e->cfg.late_update && (w = window_list_find(&e->kept[k], f->ts)) != NULL) {
		if (w->emitted) {
			add_late(e, k, f->ts, f->hash);
			return NULL;
		}
		/* created by a late frame, not emitted yet, and on time again after a rewind: the
		 * same window, open again */
		window_list_remove(&e->kept[k], w, &kw);
		engine_unsave(e, -1, k, &kw);
		if ((w = window_list_insert(&t->open[k], s, end, kw.cnt)) == NULL) {
			counter_free(kw.cnt);
			engine_lose(e, k, s);
			return NULL;
		}
		w->frames = kw.frames;
		w->late = kw.late;
		w->first_offset = f->offset;
		w->dirty = true;
		return w;
	}
	counter *c = counter_new(&e->cfg.counter);
	if (c == NULL || (w = window_list_insert(&t->open[k], s, end, c)) == NULL) {
		counter_free(c);
		engine_lose(e, k, s);
		return NULL;
	}
	w->first_offset = f->offset;
	return w;
}

/* Two passes: find every kind's window and prefetch the counter slot, then add, so the cache
 * misses of up to six sets overlap instead of following one another. */
static void add(engine *e, task *t, const frame_ref *f)
{
	window *ws[WINDOW_KIND_COUNT];
	int ks[WINDOW_KIND_COUNT];
	int n = 0;
	for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
		if (!selected(e, k))
			continue;
		window *w = open_window(e, t, k, f);
		if (w == NULL)
			continue;
		counter_prefetch(w->cnt, f->hash);
		ks[n] = k;
		ws[n++] = w;
	}
	for (int i = 0; i < n; i++)
		count(e, ks[i], ws[i], f->hash);
}

void engine_add(engine *e, int input, int64_t ts, uint64_t hash, int64_t offset)
{
	frame_ref f = {ts, hash, offset};
	add(e, &e->tasks[input], &f);
}

void engine_watermark(engine *e, int input, int64_t wm, bool rewind)
{
	task *t = &e->tasks[input];
	t->rewound |= rewind;
	t->wm = wm;
	t->wm_set = true;
	int64_t c;
	if (rewind && e->g_set && candidate(e, &c) && c < e->g) {
		e->g = c;
		e->g_dropped = true;
		return;
	}
	engine_maybe_advance(e);
}

void engine_input_role(engine *e, int input, engine_role role)
{
	e->tasks[input].role = role;
	engine_maybe_advance(e);
}

int64_t engine_input_safe_offset(const engine *e, int input)
{
	const task *t = &e->tasks[input];
	int64_t m = INT64_MAX;
	for (int k = 0; k < WINDOW_KIND_COUNT; k++)
		for (uint32_t i = 0; i < t->open[k].n; i++)
			if (t->open[k].w[i].first_offset < m)
				m = t->open[k].w[i].first_offset;
	return m;
}

void engine_finish(engine *e)
{
	if (e->cfg.combine)
		return; /* kafka_source finishes each input (engine_input_finish) */
	advance_to(e, INT64_MAX);
}

void engine_emit_open(engine *e)
{
	if (!e->cfg.combine)
		emit_early(e); /* the provisional results of --early: the same records */
}

const engine_stats *engine_get_stats(const engine *e)
{
	return &e->stats;
}

static void list_usage(const window_list *l, uint64_t *windows, uint64_t *bytes)
{
	*windows += l->n;
	for (uint32_t i = 0; i < l->n; i++)
		*bytes += counter_memory(l->w[i].cnt);
}

void engine_usage(const engine *e, uint64_t *windows, uint64_t *counter_bytes)
{
	*windows = *counter_bytes = 0;
	for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
		for (int i = 0; i < e->ntasks; i++)
			list_usage(&e->tasks[i].open[k], windows, counter_bytes);
		list_usage(&e->kept[k], windows, counter_bytes);
	}
}

bool engine_get_watermark(const engine *e, int64_t *g)
{
	*g = e->g;
	return e->g_set;
}

bool engine_input_watermark(const engine *e, int input, int64_t *wm)
{
	*wm = e->tasks[input].wm;
	return e->tasks[input].wm_set;
}

unsigned engine_get_kinds(const engine *e)
{
	return e->cfg.kinds;
}
