/* clock.h - the event clock of one input: decides when event time moves (docs/semantics.md 3, 6).
 *
 * Frames go in with clock_offer in arrival order. The clock hands every frame it accepts to
 * out.add (to be counted in its windows) and tells out.watermark when the input's watermark
 * changes; it never reaches into the engine otherwise. Ownership: the clock owns its buffers
 * (clock_free releases them); out.ctx is borrowed; frames passed to out.add are valid only during
 * the call.
 */
#ifndef KUNIQ_CLOCK_H
#define KUNIQ_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "state.h"

typedef struct clock_frame {
	int64_t ts;
	uint64_t hash;
	int64_t offset; /* the input's position of the frame (Kafka offset, line number) */
} clock_frame;

/* Where the clock's decisions go (the engine, through ingest). */
typedef struct clock_out {
	void *ctx;
	void (*add)(void *ctx, const clock_frame *f); /* count f in its windows */
	/* the input's watermark is now wm; rewind: it may be lower than before (section 3, step 4)
	 */
	void (*watermark)(void *ctx, int64_t wm, bool rewind);
} clock_out;

typedef struct clock_cfg {
	int64_t lateness;  /* L, seconds; also the tolerance S */
	int64_t max_ahead; /* A, seconds */
	uint32_t confirm;  /* J, frames */
	uint32_t max_held; /* P, frames */
} clock_cfg;

typedef struct held_frame {
	clock_frame f;
	uint32_t support; /* later frames at or beyond its ts */
	uint32_t near;    /* those of them at most A beyond it */
	uint32_t against; /* later frames more than S behind it */
} held_frame;

typedef struct event_clock {
	clock_cfg cfg;
	clock_out out;
	bool set;
	int64_t now;      /* the clock (valid when set) */
	int64_t wnow;     /* the clock the watermark follows */
	uint32_t settle;  /* frames until a jump settles; 0 = settled */
	int64_t jump_at;  /* where the first unsettled jump landed: settling needs the clock past
	                   * it + L */
	held_frame *held; /* frames ahead of the clock, arrival order */
	uint32_t nheld, cap;
	clock_frame *behind; /* frames far behind the clock, arrival order (at most J) */
	uint32_t nbehind;
	int64_t *behind_ts; /* scratch for a rewind: the timestamps of behind, sorted (J) */
	uint64_t rejected;  /* ts_ahead: refuted, pushed out of a full held list, or at the end */
	uint64_t oom;       /* frames dropped because the held list could not grow */
} event_clock;

/* Returns 0, or -1 when out of memory. */
int clock_init(event_clock *c, const clock_cfg *cfg, clock_out out);
void clock_free(event_clock *c);

/* One valid, in-range frame (section 3, steps 1 to 6). */
void clock_offer(event_clock *c, const clock_frame *f);

/* Idle input (section 6): true when its event time tracks the wall clock. */
bool clock_live(const event_clock *c, int64_t wall);

/* Idle live input: the clock follows wall time. */
void clock_follow(event_clock *c, int64_t wall);

/* Idle historical input whose clock is unset: starts it at the smallest held ts. */
void clock_start(event_clock *c);

/* End of input: frames behind are placed, held frames added or rejected. */
void clock_finish(event_clock *c);

/* Smallest offset among frames the clock holds (held and behind), or INT64_MAX. */
int64_t clock_min_offset(const event_clock *c);

/* Checkpoints (clock_state.c): appends the clock's state to b; clock_load reads it back into a
 * clock initialised with the same configuration. clock_load returns 0, or -1 when the bytes are
 * malformed or exceed the configuration's bounds. */
void clock_save(const event_clock *c, state_buf *b);
int clock_load(event_clock *c, state_rd *r);

#endif
