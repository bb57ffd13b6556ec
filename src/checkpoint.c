/* checkpoint.c - a run's whole state as records (see checkpoint.h, docs/state.md).
 *
 * Records of this file (the engine adds its own, engine_state.c):
 *   ingest         frames read, bytes, rejections by reason (the summary's totals)
 *   input/<id>     an input's source position, then its event clock (clock_state.c)
 * So a restored run's summary and results count every frame once across restarts.
 */
#include "checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

uint64_t checkpoint_identity(const engine_cfg *e, const clock_cfg *c, const char *uid_field,
                             const char *ts_field, const char *source)
{
	char s[1024];
	snprintf(s, sizeof s,
	         "kuniq-state-1|kinds=%u|tz=%s|late_update=%d|keep=%" PRId64 "|counter=%d,%" PRIu64
	         ",%d|clock=%" PRId64 ",%" PRId64 ",%u,%u|uid=%s|ts=%s|src=%s",
	         e->kinds, e->cal.tz, e->late_update, e->keep_closed, (int)e->counter.mode,
	         e->counter.exact_limit, e->counter.precision, c->lateness, c->max_ahead,
	         c->confirm, c->max_held, uid_field ? uid_field : "uid", ts_field ? ts_field : "ts",
	         source ? source : "");
	return XXH3_64bits(s, strlen(s));
}

static int put(state_sink out, state_buf *b, const char *key, checkpoint_stats *st)
{
	if (state_seal(b, key) != 0 || out.put(out.ctx, key, b->p, b->n) != 0)
		return -1;
	st->records++;
	st->bytes += b->n;
	return 0;
}

int checkpoint_write(ingest *in, const checkpoint_input *inputs, size_t n, uint64_t identity,
                     state_sink out, bool full, checkpoint_stats *st)
{
	*st = (checkpoint_stats){0};
	state_buf b = {0};
	int rc = 0;
	/* the counting stage of --scale-out keeps no global state: other processes count too */
	bool globals = !engine_is_combining(in->eng);
	state_begin(&b, identity);
	sb_u64(&b, in->frames_read);
	sb_u64(&b, in->bytes);
	sb_u64(&b, in->ts_range);
	sb_u32(&b, FRAME_STATUS_COUNT);
	for (int s = 0; s < FRAME_STATUS_COUNT; s++)
		sb_u64(&b, in->rejected[s]);
	if (globals)
		rc |= put(out, &b, "ingest", st);
	int64_t *ids = malloc(sizeof(*ids) * (size_t)(in->ninputs ? in->ninputs : 1));
	if (ids == NULL)
		rc = -1;
	for (int i = 0; ids && i < in->ninputs; i++)
		ids[i] = -1;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const checkpoint_input *ci = &inputs[i];
		ids[ingest_engine_input(in, ci->input)] = ci->id;
		state_begin(&b, identity);
		sb_i64(&b, ci->pos.a);
		sb_u64(&b, ci->pos.b);
		sb_i64(&b, ci->pos.c);
		clock_save(ingest_clock(in, ci->input), &b);
		char key[48];
		snprintf(key, sizeof key, "input/%" PRId64, ci->id);
		rc |= put(out, &b, key, st);
	}
	state_buf_free(&b);
	if (rc == 0) {
		engine_ckpt ck = {.out = out, .identity = identity, .ids = ids, .full = full};
		rc = engine_checkpoint(in->eng, &ck);
		st->records += ck.records;
		st->bytes += ck.bytes;
	}
	free(ids);
	return rc;
}

int checkpoint_restore(ingest *in, const state_map *m, uint64_t identity, char *err, size_t errlen)
{
	state_rd r;
	int rc = state_map_open(m, "ingest", identity, &r, err, errlen);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		in->frames_read = sr_u64(&r);
		in->bytes = sr_u64(&r);
		in->ts_range = sr_u64(&r);
		uint32_t ns = sr_u32(&r);
		if (ns != FRAME_STATUS_COUNT) {
			snprintf(err, errlen, "record ingest: malformed");
			return -1;
		}
		for (int s = 0; s < FRAME_STATUS_COUNT; s++)
			in->rejected[s] = sr_u64(&r);
		if (!sr_done(&r)) {
			snprintf(err, errlen, "record ingest: malformed");
			return -1;
		}
		in->frames_restored = in->frames_read;
		in->bytes_restored = in->bytes;
	}
	return engine_restore(in->eng, m, identity, err, errlen);
}

int checkpoint_input_pos(const state_map *m, int64_t id, uint64_t identity, checkpoint_pos *pos)
{
	char key[48], err[8];
	snprintf(key, sizeof key, "input/%" PRId64, id);
	state_rd r;
	int rc = state_map_open(m, key, identity, &r, err, sizeof err);
	if (rc != 0)
		return rc;
	pos->a = sr_i64(&r);
	pos->b = sr_u64(&r);
	pos->c = sr_i64(&r);
	return r.bad ? -1 : 0;
}

int checkpoint_restore_input(ingest *in, int input, int64_t id, const state_map *m,
                             uint64_t identity, checkpoint_pos *pos, char *err, size_t errlen)
{
	char key[48];
	snprintf(key, sizeof key, "input/%" PRId64, id);
	state_rd r;
	int rc = state_map_open(m, key, identity, &r, err, errlen);
	if (rc != 0)
		return rc;
	pos->a = sr_i64(&r);
	pos->b = sr_u64(&r);
	pos->c = sr_i64(&r);
	if (clock_load(ingest_clock(in, input), &r) != 0 || !sr_done(&r)) {
		snprintf(err, errlen, "record %s: malformed", key);
		return -1;
	}
	rc = engine_restore_input(in->eng, ingest_engine_input(in, input), id, m, identity, err,
	                          errlen);
	if (rc == 1) {
		snprintf(err, errlen, "record task/%" PRId64 ": missing", id);
		return -1;
	}
	return rc;
}
