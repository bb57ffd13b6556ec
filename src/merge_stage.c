/* merge_stage.c - merge tasks of --scale-out (see merge_stage.h, docs/scale-out.md).
 *
 * Records of a task (under "m/<q>/", sealed with identity_of(q)): the engine's own records
 * (engine_state.c: its G, closed windows, every input's watermark in task/<i>, the windows in
 * w/0/...) and "pos": the next offset of partition q, then every input's role (u8 each).
 */
#include "merge_stage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

typedef struct merge_task {
	engine *eng; /* NULL: not held */
	int ninputs;
	int64_t next; /* next offset to read; -1: none read */
	uint64_t identity;
	merge_stats base; /* the engine's figures as restored: earlier runs' (not counted here) */
} merge_task;

struct merge_stage {
	engine_cfg cfg;
	result_sink sink;
	uint64_t identity;
	int ninputs;
	merge_task *tasks; /* indexed by partition */
	int ntasks;
	uint64_t *items; /* decoding buffer */
	size_t items_cap;
	merge_stats st;      /* records */
	merge_stats retired; /* engine figures of tasks dropped */
	char failure[256];   /* the first failure of a task dropped since (engine_failure) */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t identity_of(uint64_t identity, int q)
{
	uint64_t b[2] = {identity, (uint64_t)q};
	return XXH3_64bits(b, sizeof b);
}

merge_stage *merge_stage_new(const engine_cfg *cfg, result_sink sink, uint64_t identity,
                             int ninputs)
{
	merge_stage *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->cfg = *cfg;
	m->cfg.combine = false;
	m->sink = sink;
	m->identity = identity;
	m->ninputs = ninputs;
	return m;
}

const char *merge_stage_failure(const merge_stage *m)
{
	if (m == NULL)
		return NULL;
	if (m->failure[0])
		return m->failure;
	for (int q = 0; q < m->ntasks; q++) {
		const char *why = m->tasks[q].eng ? engine_failure(m->tasks[q].eng) : NULL;
		if (why)
			return why;
	}
	return NULL;
}

/* Adds what t's engine did in this run to *to. */
static void add_engine_stats(merge_stats *to, const merge_task *t)
{
	const engine_stats *es = engine_get_stats(t->eng);
	to->windows_emitted += es->windows_emitted - t->base.windows_emitted;
	for (int k = 0; k < WINDOW_KIND_COUNT; k++)
		to->late[k] += es->late[k] - t->base.late[k];
}

void merge_stage_revoke(merge_stage *m, int q)
{
	if (q < 0 || q >= m->ntasks || m->tasks[q].eng == NULL)
		return;
	add_engine_stats(&m->retired, &m->tasks[q]);
	const char *why = engine_failure(m->tasks[q].eng);
	if (why && !m->failure[0])
		snprintf(m->failure, sizeof m->failure, "%s", why);
	engine_free(m->tasks[q].eng);
	m->tasks[q] = (merge_task){.next = -1};
}

void merge_stage_free(merge_stage *m)
{
	if (m == NULL)
		return;
	for (int q = 0; q < m->ntasks; q++)
		engine_free(m->tasks[q].eng);
	free(m->tasks);
	free(m->items);
	free(m);
}

bool merge_stage_has(const merge_stage *m, int q)
{
	return q >= 0 && q < m->ntasks && m->tasks[q].eng != NULL;
}

int64_t merge_stage_next(const merge_stage *m, int q)
{
	return merge_stage_has(m, q) ? m->tasks[q].next : -1;
}

static merge_task *task_slot(merge_stage *m, int q)
{
	if (q >= m->ntasks) {
		merge_task *nt = realloc(m->tasks, sizeof(*nt) * (size_t)(q + 1));
		if (nt == NULL)
			return NULL;
		for (int i = m->ntasks; i <= q; i++)
			nt[i] = (merge_task){.next = -1};
		m->tasks = nt;
		m->ntasks = q + 1;
	}
	return &m->tasks[q];
}

const char *merge_stage_check(const merge_stage *m, const char *key, const uint8_t *val, size_t len)
{
	char *end;
	long q = strncmp(key, "m/", 2) == 0 ? strtol(key + 2, &end, 10) : -1;
	if (q < 0 || q > INT32_MAX || end == key + 2 || *end != '/')
		return "not a merge task's record";
	state_rd r;
	return state_open(end + 1, val, len, identity_of(m->identity, (int)q), &r);
}

int merge_stage_peek(const merge_stage *m, int q, const state_map *state, int64_t *next)
{
	char key[48];
	snprintf(key, sizeof key, "m/%d/pos", q);
	size_t len;
	const uint8_t *v = state ? state_map_get(state, key, &len) : NULL;
	if (v == NULL)
		return 1;
	state_rd r;
	if (state_open("pos", v, len, identity_of(m->identity, q), &r) != NULL)
		return -1;
	*next = sr_i64(&r);
	return r.bad ? -1 : 0;
}

bool merge_stage_peek_finished(const merge_stage *m, int q, const state_map *state)
{
	char key[48];
	snprintf(key, sizeof key, "m/%d/engine", q);
	size_t len;
	const uint8_t *v = state ? state_map_get(state, key, &len) : NULL;
	state_rd r;
	if (v == NULL || state_open("engine", v, len, identity_of(m->identity, q), &r) != NULL)
		return false;
	uint8_t flags = sr_u8(&r); /* engine_state.c: G set, G dropped; then G */
	int64_t g = sr_i64(&r);
	return !r.bad && (flags & 1) && g == INT64_MAX;
}

/* Gives t's engine inputs up to n (an input partition added to the topic). */
static int grow_inputs(merge_task *t, int n)
{
	while (t->ninputs < n) {
		if (engine_input_add(t->eng) < 0)
			return -1;
		t->ninputs++;
	}
	return 0;
}

/* Restores task t of partition q from its records in sub. Returns 0, or -1 with err. */
static int restore(merge_task *t, const state_map *sub, char *err, size_t errlen)
{
	state_rd r;
	int rc = state_map_open(sub, "pos", t->identity, &r, err, errlen);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	t->next = sr_i64(&r);
	uint32_t n = sr_u32(&r);
	const uint8_t *roles = sr_bytes(&r, n);
	if (!sr_done(&r) || n > (1u << 20) || grow_inputs(t, (int)n) != 0) {
		snprintf(err, errlen, "record pos: malformed");
		return -1;
	}
	if (engine_restore(t->eng, sub, t->identity, err, errlen) != 0)
		return -1;
	for (int i = 0; i < t->ninputs; i++)
		if (engine_restore_input(t->eng, i, i, sub, t->identity, err, errlen) < 0)
			return -1;
	engine_restore_roles(t->eng, roles, (int)n);
	return 0;
}

int merge_stage_assign(merge_stage *m, int q, const state_map *state, int64_t *next, char *err,
                       size_t errlen)
{
	merge_stage_revoke(m, q);
	merge_task *t = task_slot(m, q);
	if (t == NULL || (t->eng = engine_new(&m->cfg, m->sink)) == NULL) {
		snprintf(err, errlen, "out of memory for merge task %d", q);
		return -1;
	}
	engine_track(t->eng, true);
	t->identity = identity_of(m->identity, q);
	t->next = -1;
	int rc = grow_inputs(t, m->ninputs);
	if (rc != 0)
		snprintf(err, errlen, "out of memory for merge task %d", q);
	if (rc == 0 && state != NULL) {
		char prefix[32];
		snprintf(prefix, sizeof prefix, "m/%d/", q);
		state_map *sub = state_map_sub(state, prefix);
		if (sub == NULL) {
			snprintf(err, errlen, "out of memory restoring merge task %d", q);
			rc = -1;
		} else {
			char why[400];
			rc = restore(t, sub, why, sizeof why);
			if (rc != 0)
				snprintf(err, errlen, "merge task %d: %s", q, why);
			state_map_free(sub);
		}
	}
	if (rc != 0) {
		merge_stage_revoke(m, q);
		return -1;
	}
	t->base = (merge_stats){0};
	add_engine_stats(&t->base, t);
	*next = t->next;
	return 0;
}

int merge_stage_record(merge_stage *m, int q, int64_t offset, const char *key, const uint8_t *val,
                       size_t len, char *err, size_t errlen)
{
	if (!merge_stage_has(m, q))
		return 0;
	merge_task *t = &m->tasks[q];
	if (t->next >= 0 && offset < t->next) {
		m->st.stale++;
		return 0;
	}
	t->next = offset + 1;
	double t0 = now_s();
	partial p;
	const char *why = partial_read(key, val, len, m->identity, &p, &m->items, &m->items_cap);
	if (why == NULL && p.input >= t->ninputs && grow_inputs(t, p.input + 1) != 0)
		why = "out of memory";
	if (why == NULL && engine_merge_partial(t->eng, &p) != 0)
		why = "does not apply (window kind not counted, or counter corrupt)";
	if (why) {
		snprintf(err, errlen,
		         "partials record %s at offset %" PRId64 " of partition %d: %s", key,
		         offset, q, why);
		return -1;
	}
	if (p.type == PARTIAL_WATERMARK)
		m->st.watermarks++;
	else
		m->st.partials++;
	m->st.bytes += len;
	m->st.seconds += now_s() - t0;
	return 0;
}

static int checkpoint_task(merge_task *t, int q, state_sink out)
{
	char prefix[32];
	snprintf(prefix, sizeof prefix, "m/%d/", q);
	state_prefix px;
	state_sink s = state_prefix_sink(&px, out, prefix);
	int64_t *ids = malloc(sizeof(*ids) * (size_t)t->ninputs);
	if (ids == NULL)
		return -1;
	for (int i = 0; i < t->ninputs; i++)
		ids[i] = i;
	engine_ckpt ck = {.out = s, .identity = t->identity, .ids = ids};
	int rc = engine_checkpoint(t->eng, &ck);
	free(ids);
	if (rc != 0)
		return -1;
	state_buf b = {0};
	state_begin(&b, t->identity);
	sb_i64(&b, t->next);
	sb_u32(&b, (uint32_t)t->ninputs);
	for (int i = 0; i < t->ninputs; i++)
		sb_u8(&b, (uint8_t)engine_input_get_role(t->eng, i));
	rc = state_seal(&b, "pos") == 0 ? s.put(s.ctx, "pos", b.p, b.n) : -1;
	state_buf_free(&b);
	return rc;
}

int merge_stage_checkpoint(merge_stage *m, state_sink out)
{
	for (int q = 0; q < m->ntasks; q++)
		if (m->tasks[q].eng && checkpoint_task(&m->tasks[q], q, out) != 0)
			return -1;
	return 0;
}

bool merge_stage_finished(const merge_stage *m)
{
	for (int q = 0; q < m->ntasks; q++)
		if (m->tasks[q].eng && !engine_all_finished(m->tasks[q].eng))
			return false;
	return true;
}

void merge_stage_list(const merge_stage *m, char *buf, size_t n)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int q = 0; q < m->ntasks && used < n; q++)
		if (m->tasks[q].eng)
			used += (size_t)snprintf(buf + used, n - used, "%s%d", used ? "," : "", q);
	if (used == 0)
		snprintf(buf, n, "none");
}

merge_stats merge_stage_get_stats(const merge_stage *m)
{
	merge_stats s = m->st;
	s.windows_emitted += m->retired.windows_emitted;
	for (int k = 0; k < WINDOW_KIND_COUNT; k++)
		s.late[k] += m->retired.late[k];
	for (int q = 0; q < m->ntasks; q++)
		if (m->tasks[q].eng)
			add_engine_stats(&s, &m->tasks[q]);
	return s;
}

void merge_stage_usage(const merge_stage *m, uint64_t *windows, uint64_t *counter_bytes)
{
	*windows = *counter_bytes = 0;
	for (int q = 0; q < m->ntasks; q++) {
		if (!m->tasks[q].eng)
			continue;
		uint64_t w, b;
		engine_usage(m->tasks[q].eng, &w, &b);
		*windows += w;
		*counter_bytes += b;
	}
}
