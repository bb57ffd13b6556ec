/* ingest.c - frames from the sources to the clocks and the engine (see ingest.h).
 *
 * Each input has an event clock whose output is bound to (engine, input id): the clock adds
 * frames and sets the watermark of exactly that engine input. The range check (2000..2100) is
 * done here, before the clock, so an impossible timestamp is never evidence about others.
 */
#include "ingest.h"

#include "log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define TS_MIN 946684800LL  /* 2000-01-01T00:00:00Z */
#define TS_MAX 4102444800LL /* 2100-01-01T00:00:00Z, exclusive */

struct ingest_input {
	engine *eng;
	int id;
	event_clock clk;
	bool idle;
	bool retired;
};

static void input_add(void *ctx, const clock_frame *f)
{
	ingest_input *p = ctx;
	engine_add(p->eng, p->id, f->ts, f->hash, f->offset);
}

static void input_watermark(void *ctx, int64_t wm, bool rewind)
{
	ingest_input *p = ctx;
	engine_watermark(p->eng, p->id, wm, rewind);
}

int ingest_init(ingest *in, const ingest_cfg *cfg, engine *eng, char *err, size_t errlen)
{
	*in = (ingest){.cfg = *cfg, .eng = eng};
	in->pool = parse_pool_new(cfg->parser, cfg->max_frame, cfg->threads);
	if (in->pool == NULL) {
		snprintf(err, errlen, "cannot start %d parser thread(s)", cfg->threads);
		return -1;
	}
	return 0;
}

void ingest_free(ingest *in)
{
	for (int i = 0; i < in->ninputs; i++) {
		clock_free(&in->inputs[i]->clk);
		free(in->inputs[i]);
	}
	free(in->inputs);
	parse_pool_free(in->pool);
	in->inputs = NULL;
	in->pool = NULL;
	in->ninputs = 0;
}

int ingest_input_add(ingest *in)
{
	ingest_input **n = realloc(in->inputs, sizeof(*n) * (size_t)(in->ninputs + 1));
	if (n == NULL)
		return -1;
	in->inputs = n;
	ingest_input *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -1;
	p->eng = in->eng;
	if ((p->id = engine_input_add(in->eng)) < 0 ||
	    clock_init(&p->clk, &in->cfg.clock,
	               (clock_out){.ctx = p, .add = input_add, .watermark = input_watermark}) !=
	        0) {
		free(p);
		return -1;
	}
	in->inputs[in->ninputs] = p;
	return in->ninputs++;
}

static void wake(ingest *in, ingest_input *p)
{
	p->idle = false;
	engine_input_role(in->eng, p->id, ENGINE_HOLDS);
}

void ingest_batch(ingest *in, parse_item *items, size_t n)
{
	parse_pool_run(in->pool, items, n);
	for (size_t i = 0; i < n; i++) {
		const parse_item *it = &items[i];
		ingest_input *p = in->inputs[it->input];
		if (p->idle)
			wake(in, p);
		in->frames_read++;
		in->bytes += it->bytes;
		if (it->status != FRAME_OK) {
			in->rejected[it->status]++;
		} else if (it->ts < TS_MIN || it->ts >= TS_MAX) {
			in->ts_range++;
			if (it->ts >= TS_MIN * 1000 && it->ts < TS_MAX * 1000)
				in->ts_ms_like++;
		} else {
			clock_frame f = {it->ts, it->hash, it->offset};
			clock_offer(&p->clk, &f);
		}
	}
	if (!in->warned)
		ingest_check_rejects(in);
}

/* Section 6 for one idle input: live ones follow wall time, historical ones hold G. */
static void idle_step(ingest *in, ingest_input *p, int64_t wall)
{
	engine_role role;
	if (p->retired) {
		role = ENGINE_FREE;
	} else if (clock_live(&p->clk, wall)) {
		clock_follow(&p->clk, wall);
		role = ENGINE_FOLLOWS;
	} else {
		clock_start(&p->clk);
		role = p->clk.set ? ENGINE_HOLDS : ENGINE_FREE;
	}
	engine_input_role(in->eng, p->id, role);
}

void ingest_idle(ingest *in, int input, int64_t wall)
{
	ingest_input *p = in->inputs[input];
	p->idle = true;
	idle_step(in, p, wall);
}

void ingest_wall_tick(ingest *in, int64_t wall)
{
	for (int i = 0; i < in->ninputs; i++)
		if (in->inputs[i]->idle)
			idle_step(in, in->inputs[i], wall);
}

void ingest_retire(ingest *in, int input, bool retired)
{
	in->inputs[input]->retired = retired;
}

int64_t ingest_safe_offset(const ingest *in, int input)
{
	const ingest_input *p = in->inputs[input];
	int64_t a = clock_min_offset(&p->clk), b = engine_input_safe_offset(in->eng, p->id);
	return a < b ? a : b;
}

void ingest_finish(ingest *in)
{
	for (int i = 0; i < in->ninputs; i++)
		clock_finish(&in->inputs[i]->clk);
	engine_finish(in->eng);
}

void ingest_finish_input(ingest *in, int input)
{
	ingest_input *p = in->inputs[input];
	clock_finish(&p->clk);
	engine_input_finish(in->eng, p->id);
}

int ingest_input_reset(ingest *in, int input)
{
	ingest_input *p = in->inputs[input];
	clock_free(&p->clk);
	engine_input_clear(in->eng, p->id);
	p->idle = p->retired = false;
	return clock_init(&p->clk, &in->cfg.clock,
	                  (clock_out){.ctx = p, .add = input_add, .watermark = input_watermark});
}

event_clock *ingest_clock(ingest *in, int input)
{
	return &in->inputs[input]->clk;
}

int ingest_engine_input(const ingest *in, int input)
{
	return in->inputs[input]->id;
}

/* The main reason frames are rejected and what usually causes it. */
static const char *hint(const ingest *in, const char **reason)
{
	uint64_t best = in->ts_range;
	*reason = "ts_range";
	for (int s = 1; s < FRAME_STATUS_COUNT; s++)
		if (in->rejected[s] > best) {
			best = in->rejected[s];
			*reason = frame_status_name((frame_status)s);
		}
	if (strcmp(*reason, "ts_range") == 0)
		return in->ts_ms_like * 2 > in->ts_range
		           ? "ts looks like milliseconds since the epoch; kuniq reads unix seconds"
		           : "ts is outside 2000..2100: is it unix seconds?";
	if (strcmp(*reason, "not_json") == 0)
		return "is the input JSON lines (not compressed, not another format)?";
	if (strcmp(*reason, "no_uid") == 0 || strcmp(*reason, "bad_uid") == 0)
		return "the user id is not a top-level string \"uid\": see --uid-field";
	if (strcmp(*reason, "no_ts") == 0 || strcmp(*reason, "bad_ts") == 0)
		return "the timestamp is not a top-level \"ts\" of unix seconds: see --ts-field";
	if (strcmp(*reason, "too_long") == 0)
		return "frames are longer than --max-frame";
	return "see the rejected counts in the summary";
}

void ingest_check_rejects(ingest *in)
{
	uint64_t rejected = ingest_rejected(in) - ingest_ts_ahead(in); /* what frames say */
	if (in->warned || in->frames_read < 1000 || rejected * 2 < in->frames_read)
		return;
	in->warned = true;
	const char *reason, *why = hint(in, &reason);
	log_msg(LOG_WARN,
	        "warning: %" PRIu64 " of %" PRIu64 " frames rejected so far, mostly %s: %s",
	        rejected, in->frames_read, reason, why);
}

uint64_t ingest_rejected(const ingest *in)
{
	uint64_t n = in->ts_range + ingest_ts_ahead(in);
	for (int s = 1; s < FRAME_STATUS_COUNT; s++)
		n += in->rejected[s];
	return n;
}

uint64_t ingest_ts_ahead(const ingest *in)
{
	uint64_t n = 0;
	for (int i = 0; i < in->ninputs; i++)
		n += in->inputs[i]->clk.rejected;
	return n;
}

void ingest_summary(const ingest *in, unsigned kinds, double elapsed_s, FILE *f)
{
	const engine_stats *es = engine_get_stats(in->eng);
	uint64_t ts_ahead = ingest_ts_ahead(in), rejected = ingest_rejected(in), oom = es->oom;
	for (int i = 0; i < in->ninputs; i++)
		oom += in->inputs[i]->clk.oom;
	double secs = elapsed_s > 1e-9 ? elapsed_s : 1e-9;
	fprintf(f,
	        "{\"summary\":{\"frames_read\":%" PRIu64 ",\"frames_valid\":%" PRIu64
	        ",\"rejected\":{",
	        in->frames_read, in->frames_read - rejected);
	for (int s = 1; s < FRAME_STATUS_COUNT; s++)
		fprintf(f, "\"%s\":%" PRIu64 ",", frame_status_name((frame_status)s),
		        in->rejected[s]);
	fprintf(f, "\"ts_range\":%" PRIu64 ",\"ts_ahead\":%" PRIu64 "},\"late\":{", in->ts_range,
	        ts_ahead);
	const char *sep = "";
	for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
		if (!((kinds >> k) & 1u))
			continue;
		fprintf(f, "%s\"%s\":%" PRIu64, sep, window_kind_name((window_kind)k), es->late[k]);
		sep = ",";
	}
	fprintf(f,
	        "},\"bytes\":%" PRIu64
	        ",\"elapsed_s\":%.3f,\"frames_per_s\":%.0f,\"mb_per_s\":%.1f,"
	        "\"windows_emitted\":%" PRIu64 ",\"emit_errors\":%" PRIu64
	        ",\"out_of_memory\":%" PRIu64 "%s}}\n",
	        in->bytes, elapsed_s, (double)(in->frames_read - in->frames_restored) / secs,
	        (double)(in->bytes - in->bytes_restored) / secs / 1e6, es->windows_emitted,
	        es->emit_errors, oom, in->interrupted ? ",\"interrupted\":true" : "");
}
