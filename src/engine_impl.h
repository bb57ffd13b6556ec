/* engine_impl.h - the engine's representation, shared by engine.c (counting, emission) and
 * engine_state.c (checkpoints). Nothing else includes it.
 */
#ifndef KUNIQ_ENGINE_IMPL_H
#define KUNIQ_ENGINE_IMPL_H

#include "engine.h"
#include "window.h"

typedef struct task {
	window_list open[WINDOW_KIND_COUNT];
	engine_role role;
	bool wm_set; /* wm is valid */
	int64_t wm;
	/* scale-out, counting stage: what the last WATERMARK record said */
	bool rewound; /* the watermark moved back since */
	bool pub_valid, pub_wm_set;
	int64_t pub_wm;
	engine_role pub_role;
} task;

/* A frame as the engine sees it. */
typedef struct frame_ref {
	int64_t ts;
	uint64_t hash;
	int64_t offset;
} frame_ref;

/* The last emitted windows of one kind (section 4, closed windows). */
typedef struct closed_ring {
	int64_t start[ENGINE_CLOSED_MEMORY];
	uint32_t next, n;
	int64_t max_end; /* largest end ever emitted */
} closed_ring;

struct engine {
	engine_cfg cfg;
	result_sink sink;
	task *tasks;
	int ntasks;
	bool g_set;
	int64_t g;
	bool g_dropped;                      /* G decreased once: closed windows may lie above it */
	window_list kept[WINDOW_KIND_COUNT]; /* --late update: emitted windows still correctable */
	closed_ring *closed[WINDOW_KIND_COUNT]; /* selected kinds only */
	engine_stats stats;
	/* checkpoints (engine_state.c) */
	bool track; /* log items new to exact sets, for incremental checkpoints */
	bool closed_dirty[WINDOW_KIND_COUNT];
	struct gone *gone; /* saved windows that left: their records are deleted next time */
	size_t ngone, gone_cap;
	bool gone_oom; /* a departure could not be logged: the next checkpoint is full */
	/* a window lost users (out of memory, or an exact set past --memory-limit): from then on
	 * nothing is emitted and the run fails with this reason (engine_failure) */
	char failure[256];
};

/* A saved window that left the engine (owner: input id, or -1 for the kept list). */
struct gone {
	int owner;
	int kind;
	int64_t start;
	uint32_t parts, deltas;
};

/* True when the window [start, end) of kind k was emitted and G has since dropped below end. */
bool engine_is_closed(const engine *e, int k, int64_t start, int64_t end);

/* Forgets that w is in the checkpoint but keeps its counter (it lives on under another owner). */
void engine_unsave(engine *e, int owner, int k, window *w);

/* Tries to advance G (after a watermark or role changed). */
void engine_maybe_advance(engine *e);

/* Window [start, ...) of kind k lost users (counter_insert/counter_merge failed, or it could
 * not be created): counted in stats.oom; the first such loss fails the engine. */
void engine_lose(engine *e, int k, int64_t start);

/* Hands a window that leaves the engine to the checkpoint log, then releases it. */
void engine_window_gone(engine *e, int owner, int k, window *w);

#endif
