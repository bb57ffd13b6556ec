/* engine.h - the event-time core: per-input event clocks, windows, counters and emission.
 *
 * An engine owns one task per input (stdin/files form one input; each Kafka partition is one).
 * A task holds its event clock (clock.h) and its open windows; when the global watermark (the
 * minimum over active inputs) passes a window's end, the tasks' counters for that window are
 * merged and the result is emitted to the sink. Behaviour: docs/semantics.md sections 3 to 7.
 *
 * Ownership: engine_new copies the config; the sink's ctx is borrowed and must outlive the engine.
 */
#ifndef KUNIQ_ENGINE_H
#define KUNIQ_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "calendar.h"
#include "counter.h"
#include "result.h"

typedef struct engine_cfg {
	unsigned kinds;        /* bit (1u << window_kind) per selected kind */
	calendar cal;          /* zone for calendar windows */
	int64_t lateness;      /* L, seconds */
	int64_t max_ahead;     /* A, seconds */
	uint32_t jump_confirm; /* C, frames */
	uint32_t max_pending;  /* P, frames */
	bool late_update;      /* --late update */
	int64_t keep_closed;   /* K, seconds */
	int64_t early;         /* E, seconds; 0 = off */
	counter_cfg counter;
} engine_cfg;

/* What happened to one frame handed to engine_frame. */
typedef enum engine_verdict {
	ENGINE_ACCEPTED = 0, /* counted (possibly late for some kinds), or held in start-up */
	ENGINE_PENDING,      /* suspect: held until a jump is confirmed or the input ends */
	ENGINE_TS_RANGE,     /* rejected: ts outside [2000, 2100) */
} engine_verdict;

typedef struct engine_stats {
	uint64_t late[WINDOW_KIND_COUNT]; /* frames late per kind */
	uint64_t ts_ahead;                /* pending frames rejected (dropped or at the end) */
	uint64_t ts_range;                /* frames rejected for their range */
	uint64_t windows_emitted;         /* records emitted, all kinds, revisions included */
	uint64_t emit_errors;             /* sink->emit returned -1 */
	uint64_t oom;                     /* counter additions that failed for memory */
} engine_stats;

typedef struct engine engine;

/* Returns NULL when out of memory. */
engine *engine_new(const engine_cfg *cfg, result_sink sink);
void engine_free(engine *e);

/* Adds an input (e.g. a Kafka partition) and returns its id (>= 0), or -1 when out of memory. */
int engine_input_add(engine *e);

/* Hands one valid frame of an input to the engine. hash = XXH3_64bits(uid bytes); offset is the
 * input's position of the frame (Kafka offset; line number for files), used by
 * engine_input_safe_offset. */
engine_verdict engine_frame(engine *e, int input, int64_t ts, uint64_t hash, int64_t offset);

/* Marks an input idle (no frame for the idle timeout) or active again (also implied by a frame). */
void engine_input_idle(engine *e, int input, bool idle);

/* Wall-clock tick: when every input is idle, clocks follow wall time (semantics section 6). */
void engine_wall_tick(engine *e, int64_t now);

/* Lowest offset of this input whose frame's effect is not yet in an emitted final result
 * (open windows, start-up and pending frames), or INT64_MAX when every frame handed so far is
 * emitted. Kafka commits offsets below it. */
int64_t engine_input_safe_offset(const engine *e, int input);

/* End of input: pending frames are rejected, every open window is emitted as final. */
void engine_finish(engine *e);

const engine_stats *engine_get_stats(const engine *e);

#endif
