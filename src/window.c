/* window.c - a kind's open windows as a sorted array (see window.h). */
#include "window.h"

#include <stdlib.h>
#include <string.h>

void window_release(window *w)
{
	counter_free(w->cnt);
	free(w->delta);
	w->cnt = NULL;
	w->delta = NULL;
	w->ndelta = w->delta_cap = 0;
}

int window_log_item(window *w, uint64_t item)
{
	if (w->rebase)
		return 0; /* the whole counter is rewritten anyway */
	if (w->ndelta == w->delta_cap) {
		uint32_t ncap = w->delta_cap ? w->delta_cap * 2 : 64;
		uint64_t *nd = realloc(w->delta, sizeof(*nd) * ncap);
		if (nd == NULL) {
			w->rebase = true;
			return -1;
		}
		w->delta = nd;
		w->delta_cap = ncap;
	}
	w->delta[w->ndelta++] = item;
	return 0;
}

void window_list_free(window_list *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		window_release(&l->w[i]);
	free(l->w);
	memset(l, 0, sizeof(*l));
}

window *window_list_insert(window_list *l, int64_t start, int64_t end, counter *cnt)
{
	if (l->n == l->cap) {
		uint32_t ncap = l->cap ? l->cap * 2 : 4;
		window *nw = realloc(l->w, sizeof(*nw) * ncap);
		if (nw == NULL)
			return NULL;
		l->w = nw;
		l->cap = ncap;
	}
	uint32_t i = l->n;
	while (i > 0 && l->w[i - 1].start > start)
		i--;
	memmove(&l->w[i + 1], &l->w[i], sizeof(window) * (l->n - i));
	l->n++;
	memset(&l->w[i], 0, sizeof(window));
	l->w[i].start = start;
	l->w[i].end = end;
	l->w[i].cnt = cnt;
	l->last = i;
	return &l->w[i];
}

void window_list_remove(window_list *l, window *w, window *out)
{
	uint32_t i = (uint32_t)(w - l->w);
	*out = *w;
	l->n--;
	memmove(&l->w[i], &l->w[i + 1], sizeof(window) * (l->n - i));
	l->last = 0;
}

void window_list_pop_front(window_list *l, window *out)
{
	window_list_remove(l, &l->w[0], out);
}

void window_list_drop_before(window_list *l, int64_t t, void (*gone)(void *ctx, window *w),
                             void *ctx)
{
	window w;
	while (l->n > 0 && l->w[0].end <= t) {
		window_list_pop_front(l, &w);
		gone(ctx, &w);
	}
}
