/* clock_state.c - an event clock's part of a checkpoint (docs/state.md): everything that decides
 * its next steps, so a restored clock continues exactly as the saved one would have. The held
 * frames keep their evidence counts; the frames far behind keep their arrival order.
 */
#include "clock.h"

#include <stdlib.h>

void clock_save(const event_clock *c, state_buf *b)
{
	sb_u8(b, c->set);
	sb_i64(b, c->now);
	sb_i64(b, c->wnow);
	sb_u32(b, c->settle);
	sb_i64(b, c->jump_at);
	sb_u64(b, c->rejected);
	sb_u64(b, c->oom);
	sb_u32(b, c->nheld);
	for (uint32_t i = 0; i < c->nheld; i++) {
		const held_frame *h = &c->held[i];
		sb_i64(b, h->f.ts);
		sb_u64(b, h->f.hash);
		sb_i64(b, h->f.offset);
		sb_u32(b, h->support);
		sb_u32(b, h->near);
		sb_u32(b, h->against);
	}
	sb_u32(b, c->nbehind);
	for (uint32_t i = 0; i < c->nbehind; i++) {
		sb_i64(b, c->behind[i].ts);
		sb_u64(b, c->behind[i].hash);
		sb_i64(b, c->behind[i].offset);
	}
}

static void read_frame(state_rd *r, clock_frame *f)
{
	f->ts = sr_i64(r);
	f->hash = sr_u64(r);
	f->offset = sr_i64(r);
}

int clock_load(event_clock *c, state_rd *r)
{
	c->set = sr_u8(r);
	c->now = sr_i64(r);
	c->wnow = sr_i64(r);
	c->settle = sr_u32(r);
	c->jump_at = sr_i64(r);
	c->rejected = sr_u64(r);
	c->oom = sr_u64(r);
	uint32_t nheld = sr_u32(r);
	if (r->bad || nheld > c->cfg.max_held)
		return -1;
	if (nheld > c->cap) {
		held_frame *h = realloc(c->held, sizeof(*h) * nheld);
		if (h == NULL)
			return -1;
		c->held = h;
		c->cap = nheld;
	}
	c->nheld = nheld;
	for (uint32_t i = 0; i < nheld; i++) {
		held_frame *h = &c->held[i];
		read_frame(r, &h->f);
		h->support = sr_u32(r);
		h->near = sr_u32(r);
		h->against = sr_u32(r);
	}
	uint32_t nbehind = sr_u32(r);
	if (r->bad || nbehind > c->cfg.confirm)
		return -1;
	c->nbehind = nbehind;
	for (uint32_t i = 0; i < nbehind; i++)
		read_frame(r, &c->behind[i]);
	return r->bad ? -1 : 0;
}
