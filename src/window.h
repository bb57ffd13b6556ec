/* window.h - the open windows of one kind: a short list sorted by start.
 *
 * With lateness L and look-ahead A, an input holds about (L + A) / length + 2 open windows of a
 * kind, so a sorted array with a cached last hit is the fastest map: almost every frame hits the
 * cached window. Ownership: the list owns its windows and their counters.
 */
#ifndef KUNIQ_WINDOW_H
#define KUNIQ_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "counter.h"

typedef struct window {
	int64_t start, end;
	counter *cnt; /* owned */
	uint64_t frames;
	uint64_t late;        /* frames counted here after it was final (--late update) */
	int64_t first_offset; /* offset of the first frame added (inputs' offsets only grow) */
	uint32_t revision;    /* kept windows: revisions emitted so far */
	bool emitted;         /* kept windows: revision 0 is out */
	bool changed;         /* kept windows: late frames since the last emission */
	/* checkpoints (engine_state.c): what the last checkpoint holds of this window */
	bool dirty;      /* changed since the last checkpoint */
	bool saved;      /* its records are in the checkpoint */
	bool rebase;     /* the next checkpoint rewrites the whole counter */
	uint32_t parts;  /* base records (the serialised counter, in parts) */
	uint32_t deltas; /* delta records (items added since the base) */
	uint64_t *delta; /* items new to the exact set since the last checkpoint (owned) */
	uint32_t ndelta, delta_cap;
} window;

typedef struct window_list {
	window *w;
	uint32_t n, cap;
	uint32_t last; /* index of the last hit */
} window_list;

void window_list_free(window_list *l);

/* The window holding ts, or NULL. */
static inline window *window_list_find(window_list *l, int64_t ts)
{
	if (l->last < l->n) {
		window *w = &l->w[l->last];
		if (ts >= w->start && ts < w->end)
			return w;
	}
	for (uint32_t i = 0; i < l->n; i++)
		if (ts >= l->w[i].start && ts < l->w[i].end) {
			l->last = i;
			return &l->w[i];
		}
	return NULL;
}

/* Inserts a new window [start, end) owning cnt, keeping the list sorted. Returns it, or NULL when
 * out of memory (cnt is then not taken). */
window *window_list_insert(window_list *l, int64_t start, int64_t end, counter *cnt);

/* Removes window w (which must be in l), handing its contents (and counter) to *out. */
void window_list_remove(window_list *l, window *w, window *out);

/* Removes the first window, handing its contents (and counter) to *out. */
void window_list_pop_front(window_list *l, window *out);

/* Frees what a window owns (counter, delta log) once it is out of its list. */
void window_release(window *w);

/* Logs item as new since the last checkpoint. Returns 0, or -1 when out of memory (the window is
 * then marked for a full rewrite instead). */
int window_log_item(window *w, uint64_t item);

/* Removes windows with end <= t, handing each to gone(ctx, w) (which must release it). */
void window_list_drop_before(window_list *l, int64_t t, void (*gone)(void *ctx, window *w),
                             void *ctx);

#endif
