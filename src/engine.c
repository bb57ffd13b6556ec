/* engine.c - event-time core: tasks (one per input), the global watermark, emission.
 *
 * How it works. Each input is a task with its own event clock (clock.c) and, per window kind,
 * its own list of open windows (window.c). A frame released by the task's clock first lets the
 * global watermark G = min over active inputs of (clock - lateness) advance, then is added to
 * the window of each selected kind that holds its ts, unless that window is already final
 * (end <= G): then the frame is late (docs/semantics.md, sections 4 and 5).
 *
 * When G advances, the windows with end <= G form a prefix of every task's sorted list; windows
 * of the same start from different tasks are merged (counter_merge) into one result and emitted.
 * With --late update, emitted windows move to a per-kind "kept" list for keep_closed seconds,
 * where late frames update them and mark them for re-emission with the next revision.
 */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "window.h"

#define TS_MIN 946684800LL  /* 2000-01-01T00:00:00Z */
#define TS_MAX 4102444800LL /* 2100-01-01T00:00:00Z, exclusive */

typedef struct task {
	event_clock clk;
	bool idle;
	window_list open[WINDOW_KIND_COUNT];
} task;

struct engine {
	engine_cfg cfg;
	result_sink sink;
	task *tasks;
	int ntasks;
	bool g_set;
	int64_t g;
	window_list kept[WINDOW_KIND_COUNT]; /* --late update: emitted windows still correctable */
	engine_stats stats;
	task *releasing; /* task whose clock is releasing frames (context of on_release) */
};

engine *engine_new(const engine_cfg *cfg, result_sink sink)
{
	engine *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->cfg = *cfg;
	e->sink = sink;
	return e;
}

void engine_free(engine *e)
{
	if (e == NULL)
		return;
	for (int i = 0; i < e->ntasks; i++) {
		clock_free(&e->tasks[i].clk);
		for (int k = 0; k < WINDOW_KIND_COUNT; k++)
			window_list_free(&e->tasks[i].open[k]);
	}
	for (int k = 0; k < WINDOW_KIND_COUNT; k++)
		window_list_free(&e->kept[k]);
	free(e->tasks);
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
	if (clock_init(&t->clk, e->cfg.max_ahead, e->cfg.jump_confirm, e->cfg.max_pending) != 0)
		return -1;
	return e->ntasks++;
}

static bool selected(const engine *e, int k)
{
	return (e->cfg.kinds >> k) & 1u;
}

/* ---- emission ---------------------------------------------------------------------------- */

static void emit(engine *e, int k, const window *w, bool final, uint32_t revision)
{
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
	};
	e->stats.windows_emitted++;
	if (e->sink.emit(e->sink.ctx, &r) != 0)
		e->stats.emit_errors++;
}

/* Folds b into a (same window); b's counter is freed. */
static void absorb(engine *e, window *a, window *b)
{
	if (counter_merge(a->cnt, b->cnt) != 0)
		e->stats.oom++;
	a->frames += b->frames;
	if (b->first_offset < a->first_offset)
		a->first_offset = b->first_offset;
	counter_free(b->cnt);
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
		if (!have)
			*out = w;
		else
			absorb(e, out, &w);
		have = true;
	}
	return have;
}

static void keep(engine *e, int k, window *w)
{
	window *kw = window_list_insert(&e->kept[k], w->start, w->end, w->cnt);
	if (kw == NULL) {
		counter_free(w->cnt);
		e->stats.oom++;
		return;
	}
	kw->frames = w->frames;
	kw->emitted = true;
}

static void emit_finals(engine *e, int64_t limit)
{
	for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
		window w;
		while (selected(e, k) && take_final(e, k, limit, &w)) {
			emit(e, k, &w, true, 0);
			if (e->cfg.late_update && limit != INT64_MAX)
				keep(e, k, &w);
			else
				counter_free(w.cnt);
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
			if (w->emitted)
				w->revision++;
			emit(e, k, w, true, w->revision);
			w->emitted = true;
			w->changed = false;
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
					e->stats.oom++;
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
			for (int k = 0; k < WINDOW_KIND_COUNT; k++)
				window_list_drop_before(&e->kept[k], g - e->cfg.keep_closed);
	}
	int64_t E = e->cfg.early;
	if (E > 0 && had && g != INT64_MAX) {
		int64_t a = old / E - (old % E < 0), b = g / E - (g % E < 0);
		if (b > a)
			emit_early(e);
	}
}

/* G candidate: min watermark over active inputs; all idle: over every started input. */
static bool candidate(const engine *e, int64_t *out)
{
	int64_t m = INT64_MAX;
	bool any_active = false, any = false;
	for (int i = 0; i < e->ntasks; i++) {
		const task *t = &e->tasks[i];
		if (t->idle)
			continue;
		any_active = true;
		if (!t->clk.set)
			return false;
		if (t->clk.now - e->cfg.lateness < m)
			m = t->clk.now - e->cfg.lateness;
	}
	for (int i = 0; !any_active && i < e->ntasks; i++) {
		const task *t = &e->tasks[i];
		if (t->clk.set && t->clk.now - e->cfg.lateness < m)
			m = t->clk.now - e->cfg.lateness;
		any |= t->clk.set;
	}
	if (!any_active && !any)
		return false;
	*out = m;
	return true;
}

static void maybe_advance(engine *e)
{
	int64_t c;
	if (candidate(e, &c) && (!e->g_set || c > e->g))
		advance_to(e, c);
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
		if (end <= e->g - e->cfg.keep_closed)
			return;
		counter *c = counter_new(&e->cfg.counter);
		if (c == NULL || (w = window_list_insert(&e->kept[k], s, end, c)) == NULL) {
			counter_free(c);
			e->stats.oom++;
			return;
		}
	}
	if (counter_add(w->cnt, hash) != 0)
		e->stats.oom++;
	w->frames++;
	w->changed = true;
}

/* The frame's open window of kind k in task t, created when needed; NULL when the window is
 * already final (the frame is late for k) or memory ran out. */
static window *open_window(engine *e, task *t, int k, const clock_frame *f)
{
	window *w = window_list_find(&t->open[k], f->ts);
	if (w != NULL)
		return w;
	int64_t s, end;
	calendar_window(&e->cfg.cal, (window_kind)k, f->ts, &s, &end);
	if (e->g_set && end <= e->g) {
		add_late(e, k, f->ts, f->hash);
		return NULL;
	}
	counter *c = counter_new(&e->cfg.counter);
	if (c == NULL || (w = window_list_insert(&t->open[k], s, end, c)) == NULL) {
		counter_free(c);
		e->stats.oom++;
		return NULL;
	}
	w->first_offset = f->offset;
	return w;
}

/* Two passes: find every kind's window and prefetch the counter slot, then add, so the cache
 * misses of up to six sets overlap instead of following one another. */
static void add(engine *e, task *t, const clock_frame *f)
{
	window *ws[WINDOW_KIND_COUNT];
	int n = 0;
	for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
		if (!selected(e, k))
			continue;
		window *w = open_window(e, t, k, f);
		if (w == NULL)
			continue;
		counter_prefetch(w->cnt, f->hash);
		ws[n++] = w;
	}
	for (int i = 0; i < n; i++) {
		if (counter_add(ws[i]->cnt, f->hash) != 0)
			e->stats.oom++;
		ws[i]->frames++;
	}
}

static void on_release(void *ctx, const clock_frame *f)
{
	engine *e = ctx;
	maybe_advance(e);
	add(e, e->releasing, f);
}

static void settle(engine *e, task *t, uint64_t dropped_before)
{
	e->stats.ts_ahead += t->clk.dropped - dropped_before;
	e->releasing = NULL;
}

engine_verdict engine_frame(engine *e, int input, int64_t ts, uint64_t hash, int64_t offset)
{
	if (ts < TS_MIN || ts >= TS_MAX) {
		e->stats.ts_range++;
		return ENGINE_TS_RANGE;
	}
	task *t = &e->tasks[input];
	t->idle = false;
	clock_frame f = {ts, hash, offset};
	uint64_t before = t->clk.dropped;
	e->releasing = t;
	bool pending = clock_offer(&t->clk, &f, on_release, e);
	settle(e, t, before);
	return pending ? ENGINE_PENDING : ENGINE_ACCEPTED;
}

void engine_input_idle(engine *e, int input, bool idle)
{
	task *t = &e->tasks[input];
	if (idle && !t->clk.set) {
		uint64_t before = t->clk.dropped;
		e->releasing = t;
		clock_start(&t->clk, on_release, e);
		settle(e, t, before);
	}
	t->idle = idle;
	maybe_advance(e);
}

void engine_wall_tick(engine *e, int64_t now)
{
	for (int i = 0; i < e->ntasks; i++)
		if (!e->tasks[i].idle)
			return;
	for (int i = 0; i < e->ntasks; i++)
		clock_follow(&e->tasks[i].clk, now);
	maybe_advance(e);
}

int64_t engine_input_safe_offset(const engine *e, int input)
{
	const task *t = &e->tasks[input];
	int64_t m = clock_min_offset(&t->clk);
	for (int k = 0; k < WINDOW_KIND_COUNT; k++)
		for (uint32_t i = 0; i < t->open[k].n; i++)
			if (t->open[k].w[i].first_offset < m)
				m = t->open[k].w[i].first_offset;
	return m;
}

void engine_finish(engine *e)
{
	for (int i = 0; i < e->ntasks; i++) {
		task *t = &e->tasks[i];
		uint64_t before = t->clk.dropped;
		e->releasing = t;
		clock_finish(&t->clk, on_release, e);
		settle(e, t, before);
	}
	advance_to(e, INT64_MAX);
}

const engine_stats *engine_get_stats(const engine *e)
{
	return &e->stats;
}
