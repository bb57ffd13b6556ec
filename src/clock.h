/* clock.h - the event clock of one input: start-up median, suspect (bit-flip) frames, jumps.
 *
 * Implements docs/semantics.md section 3. Frames go in with clock_offer in arrival order; every
 * frame the clock accepts is handed back, in the order the semantics define, to the release
 * callback, after the clock has moved for it. Ownership: the clock owns its buffers
 * (clock_free releases them); callbacks get pointers valid only during the call.
 */
#ifndef KUNIQ_CLOCK_H
#define KUNIQ_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

typedef struct clock_frame {
	int64_t ts;
	uint64_t hash;
	int64_t offset;
} clock_frame;

typedef void (*clock_release_fn)(void *ctx, const clock_frame *f);

typedef struct event_clock {
	int64_t now; /* the clock: largest accepted ts (valid when set) */
	bool set;
	int64_t max_ahead;    /* A */
	uint32_t confirm;     /* C */
	uint32_t max_pending; /* P */
	clock_frame *startup; /* up to C frames held before the clock is set */
	uint32_t nstartup;
	clock_frame *pend; /* ring of suspect frames, oldest at head */
	uint32_t head, npend, cap;
	uint32_t run;     /* consecutive suspects */
	uint64_t dropped; /* suspects rejected (ring overflow or end of input) */
	bool oom;         /* a buffer could not grow; frames were dropped and counted */
} event_clock;

/* Returns 0, or -1 when out of memory. */
int clock_init(event_clock *c, int64_t max_ahead, uint32_t confirm, uint32_t max_pending);
void clock_free(event_clock *c);

/* Offers one frame. Returns true when the frame ended up pending (suspect), false when it was
 * accepted (released now, or held in the start-up buffer). */
bool clock_offer(event_clock *c, const clock_frame *f, clock_release_fn fn, void *ctx);

/* Sets the clock from the start-up buffer now (idle input or end of input), if it holds frames. */
void clock_start(event_clock *c, clock_release_fn fn, void *ctx);

/* End of input: starts the clock if needed, then rejects every pending frame (counted in
 * dropped). */
void clock_finish(event_clock *c, clock_release_fn fn, void *ctx);

/* Wall time for an idle stream: now = max(now, wall) once the clock is set. */
void clock_follow(event_clock *c, int64_t wall);

/* Smallest offset among held frames (start-up and pending), or INT64_MAX. */
int64_t clock_min_offset(const event_clock *c);

#endif
