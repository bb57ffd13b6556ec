/* kafka_source.c - frames from a Kafka topic into the engine (see kafka_source.h, docs/kafka.md).
 *
 * How it works. A high-level consumer (librdkafka, static group membership) subscribes to the
 * topic; its rebalance callback gives each newly seen partition an engine input, so every
 * partition has its own event clock and windows. The main loop takes messages in batches
 * (rd_kafka_consume_batch_queue on the consumer queue, which also serves the rebalance, error and
 * commit callbacks) and hands each batch to ingest (which parses it on several threads and applies
 * it in order). Between batches it:
 *  - tells ingest a partition is idle when it has reached its end (partition EOF event) and
 *    delivered no message for the idle timeout, and ticks the wall clock while some are idle
 *    (ingest decides whether each idle partition is live: docs/semantics.md section 6);
 *  - commits. Exactly once (cfg->txn): every checkpoint interval, the state of the assigned
 *    partitions (checkpoint.h) goes into the open transaction with their next offsets, and the
 *    transaction commits (kafka_commit.h); partitions are restored from the state read at start
 *    when first assigned. At least once: once a second, a snapshot of each partition's commit
 *    point min(safe offset, next offset) is taken with the output sink's sequence mark and
 *    committed (async) once every result emitted before it is delivered (commit_plan.h);
 *  - serves the output producer and watches for broker outages (kafka_health.h).
 * Per partition it remembers the next offset to read: a message below it (re-delivered after a
 * rebalance) is skipped, and a partition assigned again resumes there, so no frame is ever
 * counted twice by one process.
 */
#include "kafka_source.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "changelog.h"
#include "checkpoint.h"
#include "commit_plan.h"
#include "frame.h"
#include "kafka_conf.h"
#include "kafka_health.h"
#include "kafka_topic.h"
#include "partial.h"

#define BATCH 1024
#define POLL_MS 100
#define COMMIT_EVERY_S 1.0
#define REMIND_EVERY_S 10.0
#define FLUSH_ON_REVOKE_MS 10000
#define FLUSH_AT_EXIT_MS 30000
#define QUEUE_KBYTES "524288"
#define CLOSE_TIMEOUT_S 10

typedef struct part {
	int input; /* ingest input; -1 until first assigned */
	bool assigned;
	bool at_eof;     /* reached the partition's end, nothing read since */
	bool idle;       /* told ingest it is idle */
	bool finished;   /* --scale-out -e: read to its end and told so (ingest_finish_input) */
	commit_plan ofs; /* next offset to read, committed offset, snapshot */
	double last;     /* kafka_now() of its last message or of its assignment */
} part;

typedef struct ksrc {
	const kafka_source_cfg *cfg;
	ingest *in;
	kafka_sink *out;
	rd_kafka_t *rk;
	const char *topic;
	part *parts; /* indexed by partition id */
	int nparts;
	parse_item items[BATCH]; /* the frames of the batch in hand */
	size_t nitems;
	bool closing;
	bool ended; /* -e: every assigned partition was read to its end */
	int rc;
	/* commit snapshot */
	bool pending;
	uint64_t pending_mark;
	double next_commit;
	/* outage reporting */
	kafka_health health;
	int last_err; /* consumer error events: same error again is logged after 10 s */
	double last_err_at;
	kafka_source_stats st;
	/* exactly once (cfg->txn) */
	state_map *state; /* the committed state read at start: restores partitions as assigned */
	double next_ckpt;
	checkpoint_stats last_ckpt;
	uint64_t results_committed; /* results produced by committed transactions */
	/* --scale-out (cfg->merge) */
	int nmerge; /* partitions of the partials topic */
	state_buf pbuf;
	uint64_t partials_sent, partial_bytes, watermarks_sent;
	char tasks_in[256], tasks_merge[256]; /* the tasks held, as last logged */
	double next_merged_check;             /* -e: all_merged */
	stats_rdkafka rdstats;                /* librdkafka's latest statistics */
	stats_part *sparts;                   /* a stats snapshot's partitions */
} ksrc;

/* ---- partitions ---------------------------------------------------------------------------- */

static part *part_get(ksrc *k, int32_t id, bool create)
{
	if (id < 0)
		return NULL;
	if (id >= k->nparts) {
		if (!create)
			return NULL;
		int n = id + 1;
		part *np = realloc(k->parts, sizeof(part) * (size_t)n);
		if (!np)
			return NULL;
		for (int i = k->nparts; i < n; i++) {
			np[i] = (part){.input = -1};
			commit_plan_init(&np[i].ofs);
		}
		k->parts = np;
		k->nparts = n;
	}
	return &k->parts[id];
}

/* The partition's safe offset (commit_plan.h); a partition never given an input read nothing. */
static int64_t safe_offset(const ksrc *k, const part *p)
{
	return p->input < 0 ? INT64_MAX : ingest_safe_offset(k->in, p->input);
}

/* ---- commits ------------------------------------------------------------------------------- */

static void offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	(void)rk;
	ksrc *k = opaque;
	if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
		return;
	bool failed = err != RD_KAFKA_RESP_ERR_NO_ERROR;
	for (int i = 0; offsets && i < offsets->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &offsets->elems[i];
		part *p = part_get(k, tp->partition, false);
		if (tp->err) {
			failed = true;
			err = tp->err;
		} else if (p) {
			commit_plan_acked(&p->ofs, tp->offset);
		}
	}
	if (failed) {
		k->st.commit_fails++;
		if (k->st.commit_fails == 1 || k->st.commit_fails % 30 == 0)
			kafka_log("offset commit failed: %s (%" PRIu64 " failures so far; "
			          "retried, nothing is lost: uncommitted frames are read again "
			          "after a restart)",
			          rd_kafka_err2str(err), k->st.commit_fails);
	} else {
		k->st.commits++;
		kafka_health_up(&k->health);
	}
}

/* Commits the snapshot offsets of assigned partitions. sync: waits for the answer. */
static void commit_snapshot(ksrc *k, bool sync)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
	for (int i = 0; i < k->nparts; i++) {
		part *p = &k->parts[i];
		int64_t o = commit_plan_take(&p->ofs);
		if (p->assigned && o >= 0)
			rd_kafka_topic_partition_list_add(l, k->topic, i)->offset = o;
	}
	if (l->cnt) {
		rd_kafka_resp_err_t err = rd_kafka_commit(k->rk, l, sync ? 0 : 1);
		if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET && !sync)
			offset_commit_cb(k->rk, err, l, k);
	}
	rd_kafka_topic_partition_list_destroy(l);
	k->pending = false;
}

/* Takes a snapshot of commit points (only_revoking: partitions about to be revoked, else all
 * assigned ones). Returns true when there is something to commit. */
static bool snapshot(ksrc *k, const rd_kafka_topic_partition_list_t *only)
{
	bool any = false;
	for (int i = 0; i < k->nparts; i++)
		k->parts[i].ofs.snap = -1;
	for (int i = 0; i < k->nparts; i++) {
		part *p = &k->parts[i];
		if (!p->assigned)
			continue;
		if (only && !rd_kafka_topic_partition_list_find(only, k->topic, i))
			continue;
		if (commit_plan_snapshot(&p->ofs, safe_offset(k, p)))
			any = true;
	}
	/* results on stdio streams are "delivered" once flushed */
	fflush(NULL);
	k->pending_mark = k->out ? kafka_sink_mark(k->out) : 0;
	k->pending = any;
	return any;
}

static bool snapshot_delivered(const ksrc *k)
{
	return !k->out || kafka_sink_delivered(k->out, k->pending_mark);
}

static void maybe_commit(ksrc *k, double now)
{
	if (now < k->next_commit)
		return;
	k->next_commit = now + COMMIT_EVERY_S;
	if (!k->pending && !snapshot(k, NULL))
		return;
	if (snapshot_delivered(k))
		commit_snapshot(k, false);
}

/* Flushes results and commits synchronously (revocation, exit). Returns 0 or -1. */
static int commit_now(ksrc *k, const rd_kafka_topic_partition_list_t *only, int flush_ms)
{
	if (k->out && kafka_sink_flush(k->out, flush_ms) != 0) {
		kafka_log(
		    "error: results undelivered: offsets not committed (those frames are read "
		    "again by the next run)");
		k->pending = false;
		return -1;
	}
	if (snapshot(k, only))
		commit_snapshot(k, true);
	return 0;
}

/* ---- exactly once (kafka_commit.h) ---------------------------------------------------------- */

/* A commit keeps failing for a retriable reason: the brokers are away (reported once, then
 * reminders), the commit is retried. */
static void commit_waiting(void *ctx, const char *why)
{
	ksrc *k = ctx;
	kafka_health_down(&k->health, why);
	kafka_health_tick(&k->health, k->rk, kafka_now());
}

/* ---- scale-out: the partials topic (docs/scale-out.md) ------------------------------------ */

static bool scale(const ksrc *k)
{
	return k->cfg->merge != NULL;
}

static bool is_partials(const ksrc *k, const rd_kafka_message_t *m)
{
	return scale(k) && m->rkt &&
	       strcmp(rd_kafka_topic_name(m->rkt), k->cfg->partials_topic) == 0;
}

/* A record of the partials topic, to its merge task. */
static void on_partial(ksrc *k, const rd_kafka_message_t *m)
{
	char key[128], err[512];
	size_t n = m->key && m->key_len < sizeof key ? m->key_len : 0;
	memcpy(key, m->key ? m->key : "", n);
	key[n] = '\0';
	if (merge_stage_record(k->cfg->merge, m->partition, m->offset, key, m->payload, m->len, err,
	                       sizeof err) != 0) {
		kafka_log("error: %s: refusing to go on (a corrupt record would make counts wrong)",
		          err);
		k->rc = KAFKA_FAILED;
	}
}

/* A partial record into the open transaction: a window's to its partition, a watermark to
 * every partition (each merge task needs every input's watermark). */
static int send_partial(void *ctx, const partial *p)
{
	ksrc *k = ctx;
	char key[96];
	if (partial_encode(p, k->cfg->identity, &k->pbuf, key, sizeof key) != 0)
		return -1;
	int from = 0, to = k->nmerge;
	if (p->type != PARTIAL_WATERMARK) {
		from = partial_partition(p->kind, p->start, k->nmerge);
		to = from + 1;
	}
	for (int q = from; q < to; q++)
		if (kafka_txn_send(k->cfg->txn, k->cfg->partials_topic, q, key, k->pbuf.p,
		                   k->pbuf.n) != 0)
			return -1;
	if (p->type == PARTIAL_WATERMARK)
		k->watermarks_sent += (uint64_t)(to - from);
	else
		k->partials_sent++;
	k->partial_bytes += (uint64_t)(to - from) * (k->pbuf.n + strlen(key));
	return 0;
}

/* Sends what every assigned partition counted since the last commit. */
static int flush_partials(ksrc *k)
{
	partial_sink ps = {.ctx = k, .put = send_partial};
	for (int i = 0; i < k->nparts; i++) {
		part *p = &k->parts[i];
		if (p->assigned && p->input >= 0 &&
		    engine_flush_partials(k->in->eng, ingest_engine_input(k->in, p->input), i,
		                          ps) != 0)
			return -1;
	}
	return 0;
}

static void add_merge_offsets(ksrc *k, rd_kafka_topic_partition_list_t *ofs)
{
	for (int q = 0; q < k->nmerge; q++) {
		int64_t next = merge_stage_next(k->cfg->merge, q);
		if (next >= 0)
			rd_kafka_topic_partition_list_add(ofs, k->cfg->partials_topic, q)->offset =
			    next;
	}
}

/* Writes the state of the assigned partitions and commits it with the results and offsets. */
static kafka_status eos_commit(ksrc *k)
{
	checkpoint_input *ins = malloc(sizeof(*ins) * (size_t)(k->nparts ? k->nparts : 1));
	rd_kafka_topic_partition_list_t *ofs = rd_kafka_topic_partition_list_new(4);
	size_t n = 0;
	for (int i = 0; ins && i < k->nparts; i++) {
		part *p = &k->parts[i];
		if (!p->assigned || p->input < 0)
			continue;
		ins[n++] = (checkpoint_input){p->input, i, {p->ofs.next, 0, 0}};
		if (p->ofs.next >= 0)
			rd_kafka_topic_partition_list_add(ofs, k->topic, i)->offset = p->ofs.next;
	}
	if (scale(k))
		add_merge_offsets(k, ofs);
	fflush(NULL); /* results on stdio streams go out before their state is committed */
	kafka_status st;
	state_sink sink = kafka_txn_state_sink(k->cfg->txn);
	if (!ins || (scale(k) && flush_partials(k) != 0) ||
	    checkpoint_write(k->in, ins, n, k->cfg->identity, sink, false, &k->last_ckpt) != 0 ||
	    (scale(k) && merge_stage_checkpoint(k->cfg->merge, sink) != 0)) {
		if (kafka_txn_fatal(k->cfg->txn)) {
			st = KAFKA_FAILED;
		} else {
			kafka_log(
			    "error: writing the checkpoint failed (out of memory?): aborting; "
			    "rebuilding from the committed state");
			kafka_txn_abort(k->cfg->txn);
			st = KAFKA_RESTART;
		}
	} else {
		st = kafka_txn_commit(k->cfg->txn, k->rk, ofs, commit_waiting, k);
		if (st == KAFKA_OK)
			kafka_health_up(&k->health);
	}
	free(ins);
	rd_kafka_topic_partition_list_destroy(ofs);
	if (st == KAFKA_OK) {
		k->st.commits++;
		if (k->out)
			k->results_committed = kafka_sink_get_stats(k->out)->produced;
	}
	return st;
}

/* The partials topic: deleted after a week like any topic (a merge task reads it within
 * seconds); its partition count, if it existed, is the one used. */
static int create_partials(ksrc *k, char *err, size_t errlen)
{
	const kafka_source_cfg *c = k->cfg;
	static const kafka_kv configs[] = {{"cleanup.policy", "delete"}};
	if (kafka_topic_create(&c->conn, c->partials_topic, c->partials_partitions, configs, 1,
	                       "partials topic", err, errlen) != 0 ||
	    (k->nmerge = kafka_topic_partitions(&c->conn, c->partials_topic, 30, err, errlen)) < 0)
		return -1;
	kafka_txn_warm(c->txn, c->partials_topic);
	return 0;
}

/* Reads the committed state, checks every record, restores the global part. */
static kafka_status eos_restore(ksrc *k)
{
	const kafka_source_cfg *c = k->cfg;
	char err[512];
	changelog_stats cs;
	k->state = state_map_new();
	if (!k->state) {
		kafka_log("error: out of memory");
		return KAFKA_FAILED;
	}
	if (scale(k) && create_partials(k, err, sizeof err) != 0) {
		kafka_log("error: %s", err);
		return KAFKA_FAILED;
	}
	if (changelog_create(&c->conn, c->state_topic, err, sizeof err) != 0 ||
	    changelog_read(&c->conn, c->state_topic, k->state, &cs, 120, err, sizeof err) != 0) {
		kafka_log("error: %s", err);
		return KAFKA_FAILED;
	}
	kafka_txn_warm(c->txn, c->state_topic);
	if (c->output_topic)
		kafka_txn_warm(c->txn, c->output_topic);
	size_t pos = 0, len;
	const char *key;
	const uint8_t *val;
	state_rd r;
	while (state_map_next(k->state, &pos, &key, &val, &len)) {
		const char *why = scale(k) && strncmp(key, "m/", 2) == 0
		                      ? merge_stage_check(c->merge, key, val, len)
		                      : state_open(key, val, len, c->identity, &r);
		if (why) {
			kafka_log(
			    "error: changelog topic %s: record %s is corrupt or foreign (%s): "
			    "refusing to start, since counts restored from it could be wrong. If "
			    "the topic belongs to another configuration, use another --group or "
			    "--changelog-topic; to start over, delete the changelog topic and the "
			    "group",
			    c->state_topic, key, why);
			return KAFKA_FAILED;
		}
	}
	if (!scale(k) && checkpoint_restore(k->in, k->state, c->identity, err, sizeof err) != 0) {
		kafka_log("error: changelog topic %s: %s: refusing to start", c->state_topic, err);
		return KAFKA_FAILED;
	}
	kafka_log("state restored from %s: %zu records, %.1f MB in %.2f s", c->state_topic,
	          state_map_count(k->state), (double)state_map_bytes(k->state) / 1e6, cs.seconds);
	return KAFKA_OK;
}

/* A partition assigned for the first time in this run: its state from the changelog. */
static void restore_part(ksrc *k, part *p, int32_t id)
{
	checkpoint_pos pos;
	char err[512];
	int rc = checkpoint_restore_input(k->in, p->input, id, k->state, k->cfg->identity, &pos,
	                                  err, sizeof err);
	if (rc < 0) {
		kafka_log("error: changelog topic %s: %s: refusing to go on", k->cfg->state_topic,
		          err);
		k->rc = KAFKA_FAILED;
	} else if (rc == 0 && pos.a >= 0) {
		p->ofs.next = pos.a;
	}
}

/* A partition assigned again: the state in memory is still the committed one only if nobody
 * committed the partition since (another process in the group). */
static void check_still_ours(ksrc *k, part *p, int32_t id)
{
	if (p->ofs.next < 0)
		return;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, k->topic, id);
	rd_kafka_resp_err_t e = rd_kafka_committed(k->rk, l, 10000);
	int64_t c = l->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(l);
	if (e || c != p->ofs.next) {
		kafka_log("partition %" PRId32 " was committed elsewhere meanwhile (%" PRId64
		          " vs %" PRId64 "): rebuilding from the committed state",
		          id, c, p->ofs.next);
		k->rc = KAFKA_RESTART;
	}
}

static void eos_maybe_commit(ksrc *k, double now)
{
	if (now < k->next_ckpt)
		return;
	k->next_ckpt = now + k->cfg->checkpoint_interval;
	k->rc = (int)eos_commit(k);
}

/* ---- scale-out: tasks moving between processes (docs/scale-out.md) --------------------------- */

static bool is_partials_tp(const ksrc *k, const rd_kafka_topic_partition_t *tp)
{
	return scale(k) && strcmp(tp->topic, k->cfg->partials_topic) == 0;
}

/* Where k->state says a partition resumes: 0 (*pos set), 1 (nothing for it), -1 (bad record). */
static int stored_pos(ksrc *k, const rd_kafka_topic_partition_t *tp, int64_t *pos)
{
	if (is_partials_tp(k, tp))
		return merge_stage_peek(k->cfg->merge, tp->partition, k->state, pos);
	checkpoint_pos cp;
	int rc = checkpoint_input_pos(k->state, tp->partition, k->cfg->identity, &cp);
	*pos = cp.a;
	return rc;
}

/* True when k->state holds, for every partition of l, the position of its committed offset:
 * the state committed with that offset, not an older one. */
static bool state_matches(ksrc *k, const rd_kafka_topic_partition_list_t *l, bool report)
{
	rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(l);
	for (int i = 0; i < c->cnt; i++)
		c->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
	bool ok = rd_kafka_committed(k->rk, c, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR;
	for (int i = 0; ok && i < c->cnt; i++) {
		int64_t have = -1, want = c->elems[i].offset;
		int rc = stored_pos(k, &c->elems[i], &have);
		if (rc < 0 || (want >= 0 && (rc == 1 || have != want))) {
			ok = false;
			if (report)
				kafka_log("partition %" PRId32 " of %s: committed offset %" PRId64
				          ", the changelog's state %s %" PRId64,
				          c->elems[i].partition, c->elems[i].topic, want,
				          rc ? "has none" : "is at", have);
		}
	}
	rd_kafka_topic_partition_list_destroy(c);
	return ok;
}

/* Replaces k->state by the changelog as committed now. Returns 0, or -1 with err (k->state is
 * then unchanged). */
static int reread_state(ksrc *k, char *err, size_t errlen)
{
	changelog_stats cs;
	state_map *m = state_map_new();
	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (changelog_read(&k->cfg->conn, k->cfg->state_topic, m, &cs, 60, err, errlen) != 0) {
		state_map_free(m);
		return -1;
	}
	state_map_free(k->state);
	k->state = m;
	return 0;
}

/* Makes k->state hold the committed state of every partition of l, reading the changelog again
 * until it does (the markers of the transaction that committed an offset can land on the
 * changelog a moment after the offset is visible). Returns 0, or -1 (logged). */
static int fresh_state(ksrc *k, const rd_kafka_topic_partition_list_t *l)
{
	const kafka_source_cfg *c = k->cfg;
	double until = kafka_now() + 30;
	for (int attempt = 0;; attempt++) {
		if (k->state && state_matches(k, l, false))
			return 0;
		if (kafka_now() > until) {
			state_matches(k, l, true);
			kafka_log(
			    "error: changelog topic %s does not hold the state committed with the "
			    "offsets of group %s (was the group used without --scale-out, or the "
			    "changelog deleted?): refusing to go on",
			    c->state_topic, c->group);
			return -1;
		}
		if (attempt)
			usleep(200000);
		char err[512];
		if (reread_state(k, err, sizeof err) != 0) {
			kafka_log("error: %s", err);
			return -1;
		}
	}
}

static void log_tasks(ksrc *k)
{
	char *in = k->tasks_in, *mg = k->tasks_merge;
	size_t used = 0, cap = sizeof k->tasks_in;
	in[0] = '\0';
	for (int i = 0; i < k->nparts && used < cap; i++)
		if (k->parts[i].assigned)
			used += (size_t)snprintf(in + used, cap - used, "%s%d", used ? "," : "", i);
	merge_stage_list(k->cfg->merge, mg, sizeof k->tasks_merge);
	kafka_log("tasks: counting %s partitions %s; merging %s partitions %s", k->topic,
	          used ? in : "none", k->cfg->partials_topic, mg);
	if (strcmp(mg, "none") == 0)
		mg[0] = '\0';
}

/* Partitions of both topics assigned: each task restored from the committed state. */
static void scale_assign(ksrc *k, rd_kafka_topic_partition_list_t *l, double now)
{
	if (fresh_state(k, l) != 0) {
		k->rc = KAFKA_FAILED;
		return;
	}
	char err[512];
	for (int i = 0; i < l->cnt && k->rc == 0; i++) {
		rd_kafka_topic_partition_t *tp = &l->elems[i];
		if (is_partials_tp(k, tp)) {
			int64_t next;
			if (merge_stage_assign(k->cfg->merge, tp->partition, k->state, &next, err,
			                       sizeof err) != 0) {
				kafka_log("error: changelog topic %s: %s: refusing to go on",
				          k->cfg->state_topic, err);
				k->rc = KAFKA_FAILED;
			}
			tp->offset = next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
			continue;
		}
		part *p = part_get(k, tp->partition, true);
		bool ok = p != NULL;
		if (ok && p->input < 0)
			ok = (p->input = ingest_input_add(k->in)) >= 0;
		else if (ok)
			ok = ingest_input_reset(k->in, p->input) == 0;
		if (!ok) {
			kafka_log("error: out of memory for partition %" PRId32, tp->partition);
			k->rc = KAFKA_FAILED;
			return;
		}
		commit_plan_init(&p->ofs);
		restore_part(k, p, tp->partition);
		if (p->ofs.next >= 0)
			tp->offset = p->ofs.next;
		p->assigned = true;
		p->at_eof = p->idle = p->finished = false;
		p->last = now;
		k->st.assigned++;
	}
	/* restored: the map (the whole group's state) is read again at the next assignment */
	state_map_free(k->state);
	k->state = NULL;
}

/* Partitions of both topics revoked (their state already committed): forgotten here. */
static void scale_revoke(ksrc *k, const rd_kafka_topic_partition_list_t *l)
{
	for (int i = 0; i < l->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &l->elems[i];
		if (is_partials_tp(k, tp)) {
			merge_stage_revoke(k->cfg->merge, tp->partition);
			continue;
		}
		part *p = part_get(k, tp->partition, false);
		if (!p || !p->assigned)
			continue;
		p->assigned = false;
		if (ingest_input_reset(k->in, p->input) != 0 && k->rc == 0)
			k->rc = KAFKA_FAILED;
		commit_plan_init(&p->ofs);
		k->st.revoked++;
	}
}

/* -e: every merge task of the group has emitted every window: those held here by their state in
 * memory, the others by the committed state (read again at most once a second). A process that
 * holds no merge task must not leave before: a task moving between two others could be left
 * to nobody. */
static bool all_merged(ksrc *k)
{
	double now = kafka_now();
	if (now < k->next_merged_check)
		return false;
	k->next_merged_check = now + 2.0;
	bool need = false;
	for (int q = 0; q < k->nmerge; q++)
		need |= !merge_stage_has(k->cfg->merge, q);
	if (!need)
		return true;
	char err[512];
	if (reread_state(k, err, sizeof err) != 0)
		return false; /* asked again at the next check */
	for (int q = 0; q < k->nmerge; q++)
		if (!merge_stage_has(k->cfg->merge, q) &&
		    !merge_stage_peek_finished(k->cfg->merge, q, k->state))
			return false;
	return true;
}

/* -e: this process's input partitions are read to their end and, once told so, every window of
 * the group is out. */
static bool scale_done(ksrc *k)
{
	for (int i = 0; i < k->nparts; i++)
		if (k->parts[i].assigned && !k->parts[i].at_eof)
			return false;
	bool told = false;
	for (int i = 0; i < k->nparts; i++) {
		part *p = &k->parts[i];
		if (p->assigned && !p->finished) {
			ingest_finish_input(k->in, p->input);
			p->finished = told = true;
		}
	}
	/* a process still waiting for an assignment is done too once every window is out: a
	 * static member that left holds its partitions until its session times out */
	if (told)
		k->next_ckpt = 0; /* the merge tasks wait for these ends: commit them now */
	if (told || !merge_stage_finished(k->cfg->merge))
		return false;
	return all_merged(k);
}

/* Without --scale-out one process must count every partition: another member of the group
 * would make both emit partial counts. */
static void check_whole_topic(ksrc *k)
{
	int mine = 0;
	for (int i = 0; i < k->nparts; i++)
		mine += k->parts[i].assigned;
	char err[256];
	int all = kafka_topic_partitions(&k->cfg->conn, k->topic, 10, err, sizeof err);
	if (all > 0 && mine < all) {
		kafka_log(
		    "error: this process was assigned %d of the %d partitions of %s: another "
		    "process shares group %s. Its counts and this one's would each be partial: "
		    "run every process of the group with --scale-out (or give each its own "
		    "--group)",
		    mine, all, k->topic, k->cfg->group);
		k->rc = KAFKA_CONFIG;
	}
}

/* ---- where partitions start (-o; kafka_start.h) ---------------------------------------------- */

/* "a, b, c" of the partitions of l, into buf. */
static const char *partition_names(const rd_kafka_topic_partition_list_t *l, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; i < l->cnt && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%" PRId32, i ? ", " : "",
		                         l->elems[i].partition);
	return buf;
}

/* The partitions of news (first seen here, no state) that the group has no committed offset
 * for: returned as a new list; those it has one for are added to held. NULL: failed (logged). */
static rd_kafka_topic_partition_list_t *
without_position(ksrc *k, const rd_kafka_topic_partition_list_t *news,
                 rd_kafka_topic_partition_list_t *held)
{
	rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(news);
	for (int i = 0; i < c->cnt; i++)
		c->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
	rd_kafka_resp_err_t e = rd_kafka_committed(k->rk, c, 10000);
	if (e) {
		kafka_log("error: reading the committed offsets of group %s: %s", k->cfg->group,
		          rd_kafka_err2str(e));
		rd_kafka_topic_partition_list_destroy(c);
		return NULL;
	}
	rd_kafka_topic_partition_list_t *todo = rd_kafka_topic_partition_list_new(c->cnt);
	for (int i = 0; i < c->cnt; i++)
		rd_kafka_topic_partition_list_add(c->elems[i].offset >= 0 ? held : todo, k->topic,
		                                  c->elems[i].partition);
	rd_kafka_topic_partition_list_destroy(c);
	return todo;
}

/* An exact -o (OFFSET, -N, @ts) for the newly assigned partitions news of l: each without a
 * committed position starts there (its offset set in l). A partition with one resumes there,
 * and at the first assignment of the process that is a usage error: -o cannot move a group
 * that has committed positions (docs/kafka.md, "Where a run starts"). held: the partitions of
 * l restored from the state. */
static void apply_start(ksrc *k, rd_kafka_topic_partition_list_t *l,
                        const rd_kafka_topic_partition_list_t *news,
                        rd_kafka_topic_partition_list_t *held)
{
	const kafka_source_cfg *c = k->cfg;
	char spec[64], names[256], err[512];
	kafka_start_str(&c->start, spec, sizeof spec);
	rd_kafka_topic_partition_list_t *todo = without_position(k, news, held);
	if (!todo) {
		k->rc = KAFKA_FAILED;
		return;
	}
	if (held->cnt && !*c->start_owned) {
		kafka_log("error: -o %s: group %s already has committed positions for partition(s) "
		          "%s of %s, where it resumes (its state and offsets); -o only chooses "
		          "where a group without them starts. Drop -o to resume, or use a new "
		          "--group to start at %s",
		          spec, c->group, partition_names(held, names, sizeof names), k->topic,
		          spec);
		k->rc = KAFKA_CONFIG;
	} else if (kafka_start_resolve(k->rk, &c->start, todo, 10000, err, sizeof err) != 0) {
		kafka_log("error: %s", err);
		k->rc = KAFKA_FAILED;
	} else {
		for (int i = 0; i < todo->cnt; i++)
			rd_kafka_topic_partition_list_find(l, k->topic, todo->elems[i].partition)
			    ->offset = todo->elems[i].offset;
		if (todo->cnt)
			kafka_log("-o %s: partition(s) %s of %s start there", spec,
			          partition_names(todo, names, sizeof names), k->topic);
		*c->start_owned = true;
	}
	rd_kafka_topic_partition_list_destroy(todo);
}

/* ---- rebalancing ---------------------------------------------------------------------------- */

static void on_assign(ksrc *k, rd_kafka_topic_partition_list_t *l, double now)
{
	kafka_health_up(&k->health); /* an assignment needs the group coordinator */
	if (scale(k)) {
		scale_assign(k, l, now);
		log_tasks(k);
		return;
	}
	rd_kafka_topic_partition_list_t *news = rd_kafka_topic_partition_list_new(l->cnt);
	rd_kafka_topic_partition_list_t *held = rd_kafka_topic_partition_list_new(l->cnt);
	for (int i = 0; i < l->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &l->elems[i];
		part *p = part_get(k, tp->partition, true);
		if (!p) {
			kafka_log("error: out of memory for partition %" PRId32, tp->partition);
			k->rc = 1;
			continue;
		}
		bool fresh = p->input < 0;
		if (fresh)
			rd_kafka_topic_partition_list_add(news, k->topic, tp->partition);
		if (p->input < 0 && (p->input = ingest_input_add(k->in)) < 0) {
			kafka_log("error: out of memory for partition %" PRId32, tp->partition);
			k->rc = 1;
			continue;
		}
		if (k->cfg->txn && fresh)
			restore_part(k, p, tp->partition);
		else if (k->cfg->txn)
			check_still_ours(k, p, tp->partition);
		if (p->ofs.next >= 0)
			tp->offset = p->ofs.next; /* resume where this process stopped reading */
		p->assigned = true;
		p->at_eof = false;
		p->last = now;
		ingest_retire(k->in, p->input, false);
		k->st.assigned++;
	}
	/* those restored from the state have a position; the others may start at -o */
	for (int i = news->cnt - 1; i >= 0; i--) {
		part *p = part_get(k, news->elems[i].partition, false);
		if (p && p->ofs.next >= 0) {
			rd_kafka_topic_partition_list_add(held, k->topic, news->elems[i].partition);
			rd_kafka_topic_partition_list_del_by_idx(news, i);
		}
	}
	if (k->rc == 0 && kafka_start_exact(&k->cfg->start) && (news->cnt || held->cnt))
		apply_start(k, l, news, held);
	rd_kafka_topic_partition_list_destroy(news);
	rd_kafka_topic_partition_list_destroy(held);
	kafka_log("assigned %d partition(s) of %s", l->cnt, k->topic);
	check_whole_topic(k);
}

static void on_revoke(ksrc *k, rd_kafka_topic_partition_list_t *l, bool lost)
{
	if (k->cfg->txn && !k->closing && k->rc == 0) {
		/* their state and offsets are committed before anyone else may take them; lost
		 * partitions may already be someone else's: this process's state is stale */
		if (lost) {
			kafka_log(
			    "partitions lost (session timed out?): rebuilding from the committed "
			    "state");
			kafka_txn_abort(k->cfg->txn);
			k->rc = KAFKA_RESTART;
		} else {
			k->rc = (int)eos_commit(k);
		}
	} else if (!k->cfg->txn && !lost && !k->closing)
		commit_now(k, l, FLUSH_ON_REVOKE_MS);
	if (scale(k)) {
		scale_revoke(k, l);
		if (!k->closing)
			log_tasks(k);
		return;
	}
	k->pending = false; /* a snapshot may name revoked partitions: never commit those later */
	int held = 0;
	for (int i = 0; i < l->cnt; i++) {
		part *p = part_get(k, l->elems[i].partition, false);
		if (!p || !p->assigned)
			continue;
		if (!k->closing) {
			int64_t c = commit_plan_point(&p->ofs, safe_offset(k, p));
			if (c >= 0 && c < p->ofs.next)
				held++;
		}
		/* it stays active (its clock still holds the watermark back) until it has
		 * delivered nothing for the idle timeout, like a partition at its end: marking it
		 * idle at once would let an eager rebalance (revoke all, assign all again) advance
		 * the watermark past partitions that have not delivered their first frames yet */
		p->assigned = false;
		p->at_eof = false;
		ingest_retire(k->in, p->input, true);
		k->st.revoked++;
	}
	if (k->closing)
		return;
	kafka_log("%s %d partition(s) of %s%s", lost ? "lost" : "revoked", l->cnt, k->topic,
	          held ? "; frames read past their committed offsets stay counted here (this "
	                 "process resumes after them if the partitions come back; another consumer "
	                 "would read and count them again)"
	               : "");
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *l, void *opaque)
{
	ksrc *k = opaque;
	bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	rd_kafka_error_t *e = NULL;
	rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		on_assign(k, l, kafka_now());
		if (coop)
			e = rd_kafka_incremental_assign(rk, l);
		else
			aerr = rd_kafka_assign(rk, l);
	} else {
		if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
			on_revoke(k, l, rd_kafka_assignment_lost(rk));
		else
			kafka_log("rebalance error: %s", rd_kafka_err2str(err));
		if (coop)
			e = rd_kafka_incremental_unassign(rk, l);
		else
			aerr = rd_kafka_assign(rk, NULL);
	}
	if (e) {
		kafka_log("error: partition (un)assignment failed: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	} else if (aerr) {
		kafka_log("error: partition (un)assignment failed: %s", rd_kafka_err2str(aerr));
	}
}

/* ---- errors and outages --------------------------------------------------------------------- */

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	ksrc *k = opaque;
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		kafka_health_down(&k->health, reason);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char why[512];
		rd_kafka_resp_err_t ferr = rd_kafka_fatal_error(rk, why, sizeof why);
		kafka_log("error: consumer failed fatally: %s: %s", rd_kafka_err2name(ferr), why);
		k->rc = 1;
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__RESOLVE) {
		if (k->health.down)
			return; /* already reported; reminders follow */
		kafka_health_suspect(&k->health, reason);
	}
	kafka_log("%s: %s",
	          err == RD_KAFKA_RESP_ERR__TRANSPORT ? "connection" : rd_kafka_err2name(err),
	          reason);
}

/* An error or event delivered in place of a message. */
static void on_event(ksrc *k, const rd_kafka_message_t *m)
{
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		if (is_partials(k, m))
			return;
		part *p = part_get(k, m->partition, false);
		if (p && p->assigned)
			p->at_eof = true;
		kafka_health_up(&k->health);
		return;
	}
	double now = kafka_now();
	if ((int)m->err == k->last_err && now - k->last_err_at < REMIND_EVERY_S)
		return;
	k->last_err = (int)m->err;
	k->last_err_at = now;
	if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
		kafka_log("topic %s: %s; waiting for it", k->topic, rd_kafka_message_errstr(m));
	else
		kafka_log("consumer: %s: %s", rd_kafka_err2name(m->err),
		          rd_kafka_message_errstr(m));
}

/* ---- frames -------------------------------------------------------------------------------- */

/* One message: events are handled at once; a frame's partition bookkeeping is done here and the
 * frame queued in k->items for the parse pool. */
static void on_message(ksrc *k, const rd_kafka_message_t *m, double now)
{
	if (m->err) {
		on_event(k, m);
		return;
	}
	if (is_partials(k, m)) {
		on_partial(k, m);
		return;
	}
	part *p = part_get(k, m->partition, false);
	if (!p || !p->assigned || !commit_plan_read(&p->ofs, m->offset)) {
		k->st.skipped++; /* stale: already read, or not ours any more */
		return;
	}
	p->last = now;
	p->at_eof = false;
	p->idle = false; /* ingest wakes the input with this item */
	k->st.messages++;
	if (!m->payload)
		k->st.tombstones++;
	k->items[k->nitems++] = (parse_item){.buf = m->payload,
	                                     .len = m->len,
	                                     .input = p->input,
	                                     .offset = m->offset,
	                                     .bytes = m->payload ? m->len : 0};
}

/* A batch: bookkeeping in order, then the frames to ingest. */
static void on_batch(ksrc *k, rd_kafka_message_t **msgs, size_t n, double now)
{
	k->nitems = 0;
	for (size_t i = 0; i < n; i++)
		on_message(k, msgs[i], now);
	ingest_batch(k->in, k->items, k->nitems);
}

/* Idle partitions and wall time (docs/semantics.md, section 6). */
static void tick(ksrc *k, double now)
{
	double t = k->cfg->idle_timeout;
	if (t <= 0)
		return;
	int64_t wall = (int64_t)kafka_wall();
	bool any = false;
	for (int i = 0; i < k->nparts; i++) {
		part *p = &k->parts[i];
		/* revoked partitions (not assigned) deliver nothing: idle after the timeout */
		if (!p->idle && !p->finished && p->input >= 0 && (p->at_eof || !p->assigned) &&
		    now - p->last >= t) {
			p->idle = true;
			ingest_idle(k->in, p->input, wall);
		}
		any |= p->idle;
	}
	if (any)
		ingest_wall_tick(k->in, wall);
}

/* ---- the run ------------------------------------------------------------------------------- */

/* ---- stats (stats.h) ------------------------------------------------------------------------ */

static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	(void)rk;
	stats_rdkafka_parse(json, len, &((ksrc *)opaque)->rdstats);
	return 0; /* librdkafka frees json */
}

static void report_stats(ksrc *k, double now)
{
	stats_part *np = realloc(k->sparts, sizeof(*np) * (size_t)(k->nparts ? k->nparts : 1));
	if (np == NULL)
		return;
	k->sparts = np;
	int n = 0;
	for (int i = 0; i < k->nparts; i++) {
		const part *p = &k->parts[i];
		if (!p->assigned || p->input < 0)
			continue;
		stats_part *sp = &np[n++];
		int64_t lo = -1, hi = -1;
		if (rd_kafka_get_watermark_offsets(k->rk, k->topic, i, &lo, &hi) != 0)
			hi = -1;
		*sp = (stats_part){.id = i, .position = p->ofs.next, .end = hi, .idle = p->idle};
		sp->wm_set = engine_input_watermark(
		    k->in->eng, ingest_engine_input(k->in, p->input), &sp->watermark);
	}
	stats_snapshot s = {.in = k->in,
	                    .merge = k->cfg->merge,
	                    .topic = k->topic,
	                    .parts = np,
	                    .nparts = n,
	                    .rdkafka = &k->rdstats};
	if (k->out) {
		const kafka_sink_stats *o = kafka_sink_get_stats(k->out);
		s.has_results = true;
		s.results_produced = o->produced;
		s.results_delivered = k->cfg->txn ? k->results_committed : o->delivered;
	}
	stats_report(k->cfg->stats, &s, now);
}

static rd_kafka_t *consumer_new(ksrc *k)
{
	const kafka_source_cfg *cfg = k->cfg;
	char instance[512], stats_ms[32];
	snprintf(instance, sizeof instance, "%s-%s", cfg->group, cfg->instance_id);
	snprintf(stats_ms, sizeof stats_ms, "%d",
	         cfg->stats ? (int)(cfg->stats_interval > 0 ? cfg->stats_interval * 1000 : 1000)
	                    : 0);
	const kafka_kv defaults[] = {
	    {"group.id", cfg->group},
	    /* static membership: a restarted process with the same instance id gets its
	     * partitions back at once instead of after the session timeout */
	    {"group.instance.id", instance},
	    {"isolation.level", "read_committed"},
	    {"client.id", "kuniq"},
	    {"enable.auto.commit", "false"},
	    {"enable.auto.offset.store", "false"},
	    {"enable.partition.eof", "true"},
	    /* where partitions without a committed position start: -o beginning or end (exact
	     * -o positions are given to those partitions at their assignment: apply_start) */
	    {"auto.offset.reset", kafka_start_reset(&cfg->start)},
	    /* librdkafka 2.0 stops fetching for up to 1 s once its prefetch queue reaches these
	     * limits (fetch.queue.backoff.ms only came with 2.1): in a replay, where fetching
	     * outruns parsing, the defaults (100000 messages, 64 MB) cost a 1 s stall every
	     * 64 MB. The queue must hold about 1 s of frames; override with -X for less memory */
	    {"queued.min.messages", "1000000"},
	    {"queued.max.messages.kbytes", QUEUE_KBYTES},
	    /* scale-out: merge tasks wait for partials committed a moment ago; a fetch that
	     * finds nothing new should come back sooner than the default 500 ms */
	    {"fetch.wait.max.ms", cfg->merge ? "100" : "500"},
	    /* scale-out: a member learns of a rebalance at its next heartbeat (default 3 s), and
	     * every member waits for the slowest: processes joining or leaving share the work
	     * sooner */
	    {"heartbeat.interval.ms", cfg->merge ? "500" : "3000"},
	    /* stats lines fold in librdkafka's own totals */
	    {"statistics.interval.ms", stats_ms},
	};
	char err[512];
	rd_kafka_conf_t *conf = kafka_conf_new(
	    &cfg->conn, defaults, sizeof defaults / sizeof defaults[0], err, sizeof err);
	if (!conf) {
		kafka_log("error: %s", err);
		return NULL;
	}
	rd_kafka_conf_set_opaque(conf, k);
	rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	rd_kafka_conf_set_offset_commit_cb(conf, offset_commit_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_stats_cb(conf, stats_cb);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		kafka_log("error: consumer: %s", err);
	}
	return rk;
}

/* Leaves the group and destroys the consumer. rd_kafka_consumer_close can wait forever for an
 * unreachable group coordinator, so the close runs in the background (close_queue) and is given
 * up after CLOSE_TIMEOUT_S: the group then drops this member after session.timeout.ms. */
static void close_consumer(ksrc *k)
{
	rd_kafka_queue_t *cq = rd_kafka_queue_new(k->rk);
	rd_kafka_error_t *e = rd_kafka_consumer_close_queue(k->rk, cq);
	if (e) {
		kafka_log("leaving the group failed: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	double deadline = kafka_now() + CLOSE_TIMEOUT_S;
	while (!e && !rd_kafka_consumer_closed(k->rk)) {
		if (kafka_now() > deadline) {
			kafka_log("leaving the group timed out after %d s (brokers unreachable?): "
			          "closing anyway",
			          CLOSE_TIMEOUT_S);
			break;
		}
		rd_kafka_event_t *ev = rd_kafka_queue_poll(cq, POLL_MS);
		if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE) {
			if (strcmp(rd_kafka_rebalance_protocol(k->rk), "COOPERATIVE") == 0) {
				rd_kafka_error_t *ue = rd_kafka_incremental_unassign(
				    k->rk, rd_kafka_event_topic_partition_list(ev));
				if (ue)
					rd_kafka_error_destroy(ue);
			} else {
				rd_kafka_assign(k->rk, NULL);
			}
		}
		if (ev)
			rd_kafka_event_destroy(ev);
	}
	bool closed = rd_kafka_consumer_closed(k->rk);
	rd_kafka_queue_destroy(cq);
	rd_kafka_destroy_flags(k->rk, closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

static void print_stats(ksrc *k)
{
	const kafka_source_stats *s = &k->st;
	fprintf(stderr,
	        "{\"kafka\":{\"messages\":%" PRIu64 ",\"tombstones\":%" PRIu64
	        ",\"skipped\":%" PRIu64 ",\"partitions_assigned\":%" PRIu64
	        ",\"partitions_revoked\":%" PRIu64 ",\"commits\":%" PRIu64
	        ",\"commit_failures\":%" PRIu64,
	        s->messages, s->tombstones, s->skipped, s->assigned, s->revoked, s->commits,
	        s->commit_fails);
	if (k->out) {
		const kafka_sink_stats *o = kafka_sink_get_stats(k->out);
		fprintf(stderr,
		        ",\"results_produced\":%" PRIu64 ",\"results_delivered\":%" PRIu64
		        ",\"results_retried\":%" PRIu64 ",\"results_failed\":%" PRIu64,
		        o->produced, k->cfg->txn ? k->results_committed : o->delivered, o->retried,
		        o->failed);
	}
	if (k->cfg->txn) {
		const kafka_txn_stats *t = kafka_txn_get_stats(k->cfg->txn);
		fprintf(stderr,
		        ",\"transactions\":%" PRIu64 ",\"aborts\":%" PRIu64
		        ",\"state_records\":%" PRIu64 ",\"state_bytes\":%" PRIu64
		        ",\"commit_ms_avg\":%.1f,\"commit_ms_max\":%.1f",
		        t->commits, t->aborts, t->state_records, t->state_bytes,
		        t->commits ? t->commit_s * 1e3 / (double)t->commits : 0.0,
		        t->max_commit_s * 1e3);
	}
	if (scale(k)) {
		merge_stats ms = merge_stage_get_stats(k->cfg->merge);
		fprintf(stderr,
		        ",\"scale_out\":{\"input_partitions\":[%s],\"merge_partitions\":[%s],"
		        "\"partials_sent\":%" PRIu64 ",\"watermarks_sent\":%" PRIu64
		        ",\"partial_bytes\":%" PRIu64 ",\"partials_merged\":%" PRIu64
		        ",\"watermarks_merged\":%" PRIu64 ",\"partial_bytes_merged\":%" PRIu64
		        ",\"merge_s\":%.3f,\"windows_emitted\":%" PRIu64 "}",
		        k->tasks_in, k->tasks_merge, k->partials_sent, k->watermarks_sent,
		        k->partial_bytes, ms.partials, ms.watermarks, ms.bytes, ms.seconds,
		        ms.windows_emitted);
	}
	fprintf(stderr, "}}\n");
}

/* -e: true once some partition is assigned and every assigned one is at its end. */
static bool all_at_end(const ksrc *k)
{
	int assigned = 0;
	for (int i = 0; i < k->nparts; i++) {
		if (!k->parts[i].assigned)
			continue;
		if (!k->parts[i].at_eof)
			return false;
		assigned++;
	}
	return assigned > 0;
}

/* True once a window lost users for lack of memory (engine_failure): the run stops at once and
 * commits nothing more, so no offset past the lost frames is ever committed. */
static bool lost_users(const ksrc *k)
{
	return engine_failure(k->in->eng) || merge_stage_failure(k->cfg->merge);
}

static void consume(ksrc *k, volatile sig_atomic_t *stop)
{
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(k->rk);
	rd_kafka_message_t *msgs[BATCH];
	while (!*stop && k->rc == 0 && !k->ended) {
		ssize_t n = rd_kafka_consume_batch_queue(q, POLL_MS, msgs, BATCH);
		double now = kafka_now();
		if (n > 0)
			kafka_health_up(&k->health);
		if (n > 0)
			on_batch(k, msgs, (size_t)n, now);
		for (ssize_t i = 0; i < n; i++)
			rd_kafka_message_destroy(msgs[i]);
		if (k->out) {
			kafka_sink_poll(k->out);
			if (kafka_sink_fatal(k->out)) {
				kafka_log("error: stopping: the output producer failed; offsets of "
				          "undelivered results are not committed");
				k->rc = 1;
			}
		}
		tick(k, now);
		if (lost_users(k)) {
			kafka_log(
			    "error: stopping: a window lost users for lack of memory; nothing "
			    "more is committed");
			k->rc = KAFKA_FAILED; /* main reports why */
		}
		if (k->cfg->txn) {
			kafka_txn_poll(k->cfg->txn);
			if (kafka_txn_fatal(k->cfg->txn))
				k->rc = KAFKA_FAILED; /* fenced: stop at once, commit nothing */
			if (k->rc == 0)
				eos_maybe_commit(k, now);
		} else if (k->rc == 0) {
			maybe_commit(k, now);
		}
		kafka_health_tick(&k->health, k->rk, now);
		if (stats_due(k->cfg->stats, now))
			report_stats(k, now);
		if (k->cfg->exit_at_end && n <= 0 && (scale(k) ? scale_done(k) : all_at_end(k)))
			k->ended = true;
	}
	rd_kafka_queue_destroy(q);
}

kafka_status kafka_run(const kafka_source_cfg *cfg, ingest *in, kafka_sink *out,
                       volatile sig_atomic_t *stop)
{
	ksrc k = {.cfg = cfg, .in = in, .out = out, .topic = cfg->topic};
	kafka_health_init(&k.health, cfg->conn.brokers);
	if (!cfg->topic) {
		kafka_log("error: --topic is required with --brokers");
		return KAFKA_CONFIG;
	}
	k.rk = consumer_new(&k);
	if (!k.rk)
		return KAFKA_CONFIG;
	/* restored before joining the group: a refusal leaves no member behind */
	if (cfg->txn && (k.rc = (int)eos_restore(&k)) != KAFKA_OK) {
		rd_kafka_destroy_flags(k.rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
		state_map_free(k.state);
		return (kafka_status)k.rc;
	}
	k.next_ckpt = kafka_now() + cfg->checkpoint_interval;
	rd_kafka_poll_set_consumer(k.rk);
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, cfg->topic, RD_KAFKA_PARTITION_UA);
	if (scale(&k))
		rd_kafka_topic_partition_list_add(sub, cfg->partials_topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t err = rd_kafka_subscribe(k.rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (err) {
		kafka_log("error: subscribe to %s: %s", cfg->topic, rd_kafka_err2str(err));
		k.rc = 2;
	} else {
		kafka_log("consuming %s from %s as group %s, instance %s (%s%s)", cfg->topic,
		          cfg->conn.brokers, cfg->group, cfg->instance_id,
		          cfg->txn ? "exactly once" : "at least once",
		          scale(&k) ? ", scale-out" : "");
		consume(&k, stop);
	}
	/* drain: the batch in hand is processed; deliver results, commit what is safe, leave */
	if (k.ended && scale(&k)) {
		kafka_log("every partition of %s read to its end and every window emitted",
		          k.topic);
	} else if (k.ended) {
		kafka_log("every assigned partition read to its end: emitting every open window");
		ingest_finish(in);
	}
	if (cfg->txn && k.rc == 0) {
		if (*stop)
			kafka_log("stopping: committing results, state and offsets");
		k.rc = (int)eos_commit(&k);
	} else if (!cfg->txn && k.rc != 2 && !lost_users(&k)) {
		if (*stop)
			kafka_log("stopping: flushing results and committing offsets");
		if (commit_now(&k, NULL, FLUSH_AT_EXIT_MS) != 0 && k.rc == 0)
			k.rc = 1;
	}
	if (cfg->stats)
		report_stats(&k, kafka_now()); /* the last line: the figures of the summary */
	k.closing = true;
	close_consumer(&k);
	if (out && kafka_sink_flush(out, FLUSH_ON_REVOKE_MS) != 0 && k.rc == 0)
		k.rc = 1; /* nothing should be left; reported by the flush */
	if (out && kafka_sink_get_stats(out)->failed && k.rc == 0)
		k.rc = 1; /* results given up (each reported on stderr) */
	print_stats(&k);
	free(k.parts);
	state_map_free(k.state);
	state_buf_free(&k.pbuf);
	free(k.sparts);
	return (kafka_status)k.rc;
}
