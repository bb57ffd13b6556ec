/* fuzz_clock.c - libFuzzer target for the event clock (src/clock.c): any sequence of timestamps,
 * idle ticks and an end, under any clock parameters, must keep these invariants:
 *  - conservation: every frame offered is, at any moment, exactly one of added (once), rejected,
 *    held, or behind; after the end, only added or rejected;
 *  - the watermark never decreases except on a call flagged as a rewind;
 *  - no held frame is at or behind the clock (they are counted as soon as it passes them);
 *  - held and behind stay within their bounds (P and J).
 * Input: 4 bytes of parameters, then 3 bytes per operation (an opcode and a 16-bit amount). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define BASE 1468244340LL

typedef struct state {
	uint64_t added;
	bool wm_set;
	int64_t wm;
	uint8_t *added_flag; /* per offset: added already (a frame added twice aborts) */
	size_t n;
} state;

static void on_add(void *ctx, const clock_frame *f)
{
	state *s = ctx;
	if (f->offset < 0 || (size_t)f->offset >= s->n || s->added_flag[f->offset])
		abort(); /* added twice, or a frame never offered */
	s->added_flag[f->offset] = 1;
	s->added++;
}

static void on_wm(void *ctx, int64_t wm, bool rewind)
{
	state *s = ctx;
	if (s->wm_set && wm < s->wm && !rewind)
		abort(); /* the watermark went back without a rewind */
	s->wm = wm;
	s->wm_set = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	clock_cfg cfg = {.lateness = data[0] % 11,
	                 .max_ahead = 1 + data[1] * 4,
	                 .confirm = 1 + data[2] % 16,
	                 .max_held = 0};
	cfg.max_held = cfg.confirm + data[3] % 64;
	size_t nops = (size - 4) / 3;
	state s = {.n = nops};
	s.added_flag = calloc(nops + 1, 1);
	if (s.added_flag == NULL)
		return 0;
	event_clock c;
	if (clock_init(&c, &cfg, (clock_out){.ctx = &s, .add = on_add, .watermark = on_wm}) != 0) {
		free(s.added_flag);
		return 0;
	}
	int64_t ts = BASE, wall = BASE, offered = 0;
	for (size_t i = 0; i < nops; i++) {
		const uint8_t *op = data + 4 + 3 * i;
		int64_t amount = (int64_t)(op[1] | (op[2] << 8));
		switch (op[0] % 8) {
		case 0: /* a frame a little ahead */
			ts += amount % 8;
			break;
		case 1: /* a frame a little behind (a delay) */
			ts -= amount % 16;
			break;
		case 2: /* a jump forward */
			ts += amount;
			break;
		case 3: /* a jump back */
			ts -= amount;
			break;
		case 4: /* a bit flip of the current ts, frame only */
		{
			clock_frame f = {ts ^ (1LL << (amount % 31)), 0, offered};
			clock_offer(&c, &f);
			offered++;
			goto check;
		}
		case 5: /* idle tick near the stream's time (live) or far from it */
			wall = (amount & 1) ? ts + amount % 600 : ts + 86400LL * 365;
			if (clock_live(&c, wall))
				clock_follow(&c, wall);
			else
				clock_start(&c);
			goto check;
		default: /* a frame at the current ts */
			break;
		}
		{
			clock_frame f = {ts, 0, offered};
			clock_offer(&c, &f);
			offered++;
		}
	check:
		if (c.nheld > cfg.max_held || c.nbehind >= cfg.confirm)
			abort(); /* bounds */
		if ((int64_t)(s.added + c.rejected + c.nheld + c.nbehind) != offered)
			abort(); /* conservation */
		for (uint32_t j = 0; j < c.nheld; j++)
			if (c.set && c.held[j].f.ts <= c.now)
				abort(); /* a held frame the clock has passed */
	}
	clock_finish(&c);
	if (c.nheld != 0 || c.nbehind != 0 || (int64_t)(s.added + c.rejected) != offered)
		abort();
	clock_free(&c);
	free(s.added_flag);
	return 0;
}
