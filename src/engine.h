/* engine.h - windows, counters, the global watermark and emission (docs/semantics.md 4, 5, 7).
 *
 * The engine counts frames in windows and emits results; it knows nothing of clocks. Each input
 * (stdin/files form one input; each Kafka partition is one) tells it its watermark (from its
 * event clock, clock.h) and whether it holds the global watermark G back; when G passes a
 * window's end, the inputs' counters for that window are merged and the result is emitted.
 *
 * Ownership: engine_new copies the config; the sink's ctx is borrowed and must outlive the engine.
 */
#ifndef KUNIQ_ENGINE_H
#define KUNIQ_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "calendar.h"
#include "counter.h"
#include "partial.h"
#include "result.h"
#include "state.h"

typedef struct engine_cfg {
	unsigned kinds;      /* bit (1u << window_kind) per selected kind */
	calendar cal;        /* zone for calendar windows */
	bool late_update;    /* --late update */
	int64_t keep_closed; /* K, seconds */
	int64_t early;       /* E, seconds; 0 = off */
	counter_cfg counter; /* its budget (borrowed) bounds every counter of the engine */
	bool combine; /* counting stage of --scale-out: nothing is emitted or late here; windows
	               * are sent on as partials (engine_flush_partials) */
} engine_cfg;

typedef struct engine_stats {
	uint64_t late[WINDOW_KIND_COUNT]; /* frames late per kind */
	uint64_t windows_emitted;         /* records emitted, all kinds, revisions included */
	uint64_t emit_errors;             /* sink->emit returned -1 */
	uint64_t oom;                     /* counter additions that failed for memory */
} engine_stats;

/* How many emitted windows of each kind the engine remembers as closed (section 4). */
#define ENGINE_CLOSED_MEMORY 4096

typedef struct engine engine;

/* Returns NULL when out of memory. */
engine *engine_new(const engine_cfg *cfg, result_sink sink);
void engine_free(engine *e);

/* Adds an input; it holds G (ENGINE_HOLDS) and has no watermark yet. Returns its id (>= 0), or -1
 * when out of memory. */
int engine_input_add(engine *e);

/* Counts one frame of an input in its windows (or as late). hash = XXH3-64 of the uid bytes;
 * offset is the input's position of the frame (engine_input_safe_offset). */
void engine_add(engine *e, int input, int64_t ts, uint64_t hash, int64_t offset);

/* The input's watermark is now wm. G advances when it can; with rewind, G may also decrease. */
void engine_watermark(engine *e, int input, int64_t wm, bool rewind);

/* What an input's watermark does to G (section 6). */
typedef enum engine_role {
	ENGINE_HOLDS = 0, /* G is at most its watermark (active inputs, idle historical ones) */
	ENGINE_FOLLOWS,   /* live idle input following wall time: counts only when none holds */
	ENGINE_FREE,      /* idle without frames, or retired: does not count */
} engine_role;

void engine_input_role(engine *e, int input, engine_role role);

/* Lowest offset of this input whose frame is counted in an open window, or INT64_MAX. */
int64_t engine_input_safe_offset(const engine *e, int input);

/* End of input: every open window is emitted as final. */
void engine_finish(engine *e);

/* Stopped before the end of input (SIGINT/SIGTERM): every open window holding frames is
 * emitted with final false and what it counted so far (revision 0); windows stay open. */
void engine_emit_open(engine *e);

const engine_stats *engine_get_stats(const engine *e);

/* What the engine holds (stats.h): its windows (open and kept, every input and kind) and the
 * heap bytes of their counters. */
void engine_usage(const engine *e, uint64_t *windows, uint64_t *counter_bytes);
/* G (false while unset), and an input's watermark (false while unset). */
bool engine_get_watermark(const engine *e, int64_t *g);
/* The selected window kinds (engine_cfg.kinds). */
unsigned engine_get_kinds(const engine *e);
bool engine_input_watermark(const engine *e, int input, int64_t *wm);
/* NULL, or why the run must fail: a window lost users (an exact set past the memory budget, or
 * out of memory). Once failed, the engine emits nothing more: no record can claim a count it
 * does not have. */
const char *engine_failure(const engine *e);

/* ---- scale-out (engine_partial.c, docs/scale-out.md) -------------------------------------- */

/* Where engine_flush_partials sends its records. put returns 0, or -1 (the commit must fail). */
typedef struct partial_sink {
	void *ctx;
	int (*put)(void *ctx, const struct partial *p);
} partial_sink;

/* Counting stage (cfg.combine): sends what input counted since the last call (new users and
 * frames per window, or whole counters) and then its watermark, as records of input partition
 * id; windows that end at or before the watermark are then forgotten. Returns 0 or -1. */
int engine_flush_partials(engine *e, int input, int32_t id, partial_sink out);

/* True for the counting stage (cfg.combine). */
bool engine_is_combining(const engine *e);

/* Counting stage: the input is read to its end (-e): its watermark becomes +infinity. */
void engine_input_finish(engine *e, int input);

/* Counting stage: forgets everything of the input (a partition that left this process). */
void engine_input_clear(engine *e, int input);

/* Merging stage: applies one partial record (partial.h) of input partition p->input; every
 * window lives in input 0's lists. Returns 0, or -1 when the input is unknown or a COUNTER does
 * not parse. */
int engine_merge_partial(engine *e, const struct partial *p);

/* True once every input's watermark is +infinity and every window is out. */
bool engine_all_finished(const engine *e);

/* Merging stage: the inputs' roles as saved (roles[i] for input i < n), set without advancing G
 * (restoring them one by one could pass through an assignment that advances it). */
void engine_restore_roles(engine *e, const uint8_t *roles, int n);
/* Merging stage: the role of input i (to save it). */
engine_role engine_input_get_role(const engine *e, int i);

/* ---- checkpoints (engine_state.c; record layout in docs/state.md) --------------------------- */

/* With on, items new to exact sets are logged so checkpoints can write only what changed. */
void engine_track(engine *e, bool on);

typedef struct engine_ckpt {
	state_sink out;
	uint64_t identity;
	const int64_t *ids; /* per engine input: the stable id its records are keyed by (a Kafka
	                     * partition), or -1: not written (a partition this process lost) */
	bool full;          /* write everything (a fresh snapshot: files); else what changed */
	uint64_t records;   /* out: records written (deletions included) */
	uint64_t bytes;     /* out: value bytes written */
} engine_ckpt;

/* Writes the engine's records. Returns 0, or -1 when out of memory or out.put failed (the
 * checkpoint is then unusable: the caller must not commit it). */
int engine_checkpoint(engine *e, engine_ckpt *ck);

/* Restores the engine's global records (watermark, closed windows, corrected windows, counters)
 * from m. Returns 0 (also when m holds none: a fresh start), or -1 with a reason in err. */
int engine_restore(engine *e, const state_map *m, uint64_t identity, char *err, size_t errlen);

/* Restores the records of one input (its watermark, its open windows) keyed by id. Returns 0,
 * 1 when m holds nothing for id, or -1 with a reason in err. */
int engine_restore_input(engine *e, int input, int64_t id, const state_map *m, uint64_t identity,
                         char *err, size_t errlen);

#endif
