/* main.c - wires kuniq together: options -> parser, sink <- engine <- ingest <- source.
 *
 * The only global is the signal flag (a signal handler can reach nothing else).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "engine.h"
#include "file_resume.h"
#include "file_source.h"
#include "frame.h"
#include "ingest.h"
#include "kafka_commit.h"
#include "kafka_sink.h"
#include "kafka_source.h"
#include "kafka_topic.h"
#include "merge_stage.h"
#include "parse_pool.h"
#include "stdout_sink.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: blocking reads return EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The pipeline of one run: results sink <- engine <- ingest. */
typedef struct pipeline {
	stdout_sink out;
	kafka_sink *ks;
	engine *eng;
	ingest in;
	bool in_ok;
} pipeline;

static void pipeline_free(pipeline *p)
{
	if (p->in_ok)
		ingest_free(&p->in);
	engine_free(p->eng);
	kafka_sink_free(p->ks);
	memset(p, 0, sizeof(*p));
}

/* Builds the pipeline on sink. Returns 0, or 1 (reported). */
static int pipeline_init(pipeline *p, const cli_config *cfg, const engine_cfg *ecfg,
                         const frame_parser *parser, result_sink sink)
{
	p->eng = engine_new(ecfg, sink);
	char err[256];
	ingest_cfg ic = {.parser = parser,
	                 .max_frame = cfg->max_frame,
	                 .threads = cfg->threads,
	                 .clock = cfg->clock};
	if (p->eng == NULL || ingest_init(&p->in, &ic, p->eng, err, sizeof(err)) != 0) {
		fprintf(stderr, "kuniq: %s\n", p->eng ? err : "out of memory");
		return 1;
	}
	p->in_ok = true;
	return 0;
}

/* The run's counter budget: --memory-limit, or the machine's default. */
static void budget_init(memory_budget *b, const cli_config *cfg)
{
	memory_budget_init(b, cfg->memory_limit ? cfg->memory_limit : memory_budget_default());
}

/* Reports why eng failed (a window lost users), if it did. Returns 1 then, else 0. */
static int report_failure(const engine *eng)
{
	const char *why = eng ? engine_failure(eng) : NULL;
	if (why == NULL)
		return 0;
	fprintf(stderr, "kuniq: error: %s\n", why);
	return 1;
}

/* The error first: the summary stays the last line of stderr. */
static int finish(const cli_config *cfg, pipeline *p, int rc, double t0)
{
	if (report_failure(p->eng))
		rc = rc ? rc : 1;
	ingest_summary(&p->in, cfg->engine.kinds, now_s() - t0, stderr);
	if (engine_get_stats(p->eng)->emit_errors)
		rc = rc ? rc : 1;
	pipeline_free(p);
	return rc;
}

/* ---- files and stdin ---------------------------------------------------------------------- */

static int run_files(const cli_config *cfg, const frame_parser *parser)
{
	pipeline p = {0};
	memory_budget budget;
	budget_init(&budget, cfg);
	engine_cfg ecfg = cfg->engine;
	ecfg.counter.budget = &budget;
	result_sink sink = stdout_sink_make(&p.out, stdout, &cfg->engine.cal);
	if (pipeline_init(&p, cfg, &ecfg, parser, sink) != 0) {
		pipeline_free(&p);
		return 1;
	}
	int input = ingest_input_add(&p.in);
	if (input < 0) {
		fprintf(stderr, "kuniq: out of memory\n");
		pipeline_free(&p);
		return 1;
	}
	file_resume fc;
	source_pos resume;
	int rc = file_resume_open(&fc, cfg, &p.in, input, &resume);
	if (rc != 0) {
		pipeline_free(&p);
		return rc;
	}
	install_signals();
	double t0 = now_s();
	source_run_cfg sc = {.files = cfg->files,
	                     .nfiles = cfg->nfiles,
	                     .max_frame = cfg->max_frame,
	                     .idle_timeout = cfg->idle_timeout,
	                     .input = input,
	                     .resume = fc.path ? &resume : NULL,
	                     .safe_point = fc.path ? file_resume_tick : NULL,
	                     .safe_ctx = &fc};
	rc = source_run(&sc, &p.in, &stop_requested);
	if (fc.path && stop_requested) {
		/* a stop with a checkpoint is a pause: open windows stay open for the resume */
		if (file_resume_save(&fc) != 0)
			rc = 1;
	} else {
		ingest_finish(&p.in);
		if (fc.path && rc == 0 && file_resume_save(&fc) != 0)
			rc = 1;
	}
	return finish(cfg, &p, rc, t0);
}

/* ---- Kafka -------------------------------------------------------------------------------- */

/* One Kafka run over a fresh pipeline (and, exactly once, a fresh transactional producer). */
static kafka_status kafka_once(const cli_config *cfg, const frame_parser *parser)
{
	kafka_conn conn = {cfg->brokers, cfg->x_keys, cfg->x_vals, cfg->nx};
	char state_topic[512], tid[512], err[512];
	snprintf(state_topic, sizeof state_topic, "%s",
	         cfg->changelog_topic ? cfg->changelog_topic : "");
	if (!cfg->changelog_topic)
		snprintf(state_topic, sizeof state_topic, "%s-kuniq-state", cfg->group);
	snprintf(tid, sizeof tid, "kuniq-%s-%s", cfg->group, cfg->instance_id);
	kafka_txn *txn = NULL;
	kafka_status why;
	if (cfg->exactly_once && (txn = kafka_txn_new(&conn, tid, state_topic, &stop_requested,
	                                              &why, err, sizeof err)) == NULL) {
		fprintf(stderr, "kuniq: kafka: error: %s\n", err);
		return why;
	}
	pipeline p = {0};
	result_sink sink = stdout_sink_make(&p.out, stdout, &cfg->engine.cal);
	if (cfg->output_topic) {
		result_sink also = cfg->stdout_in_kafka ? sink : (result_sink){0};
		p.ks = kafka_sink_new(&conn, cfg->output_topic, &cfg->engine.cal, also,
		                      txn ? kafka_txn_producer(txn) : NULL, err, sizeof err);
		if (p.ks == NULL) {
			fprintf(stderr, "kuniq: kafka: %s\n", err);
			kafka_txn_free(txn);
			return KAFKA_CONFIG;
		}
		sink = kafka_sink_result_sink(p.ks);
	}
	/* one budget for every counter of the run: both stages of --scale-out */
	memory_budget budget;
	budget_init(&budget, cfg);
	engine_cfg mcfg = cfg->engine;
	mcfg.counter.budget = &budget;
	/* --scale-out: this pipeline is the counting stage; the merging stage emits */
	engine_cfg ecfg = mcfg;
	ecfg.combine = cfg->scale_out;
	char ident_src[600], partials[512];
	snprintf(ident_src, sizeof ident_src, "%s%s", cfg->topic,
	         cfg->scale_out ? "|scale-out" : "");
	snprintf(partials, sizeof partials, "%s", cfg->partials_topic ? cfg->partials_topic : "");
	if (!cfg->partials_topic)
		snprintf(partials, sizeof partials, "%s-kuniq-partials", cfg->group);
	uint64_t identity = checkpoint_identity(&cfg->engine, &cfg->clock, cfg->uid_field,
	                                        cfg->ts_field, ident_src);
	merge_stage *merge = NULL;
	int ninputs = 0;
	if (cfg->scale_out &&
	    (ninputs = kafka_topic_partitions(&conn, cfg->topic, 60, err, sizeof err)) < 0) {
		fprintf(stderr, "kuniq: kafka: error: %s\n", err);
		kafka_txn_free(txn);
		kafka_sink_free(p.ks);
		return KAFKA_FAILED;
	}
	if (pipeline_init(&p, cfg, &ecfg, parser, sink) != 0 ||
	    (cfg->scale_out && (merge = merge_stage_new(&mcfg, sink, identity, ninputs)) == NULL)) {
		if (p.in_ok)
			fprintf(stderr, "kuniq: out of memory\n");
		pipeline_free(&p);
		kafka_txn_free(txn);
		return KAFKA_FAILED;
	}
	engine_track(p.eng, txn != NULL);
	kafka_source_cfg kc = {
	    .conn = conn,
	    .topic = cfg->topic,
	    .group = cfg->group,
	    .instance_id = cfg->instance_id,
	    .from_beginning = cfg->from_beginning,
	    .exit_at_end = cfg->exit_at_end,
	    .idle_timeout = cfg->idle_timeout,
	    .txn = txn,
	    .state_topic = state_topic,
	    .output_topic = cfg->output_topic,
	    .checkpoint_interval = cfg->checkpoint_interval > 0 ? cfg->checkpoint_interval : 1.0,
	    .identity = identity,
	    .merge = merge,
	    .partials_topic = partials,
	    .partials_partitions =
	        cfg->partials_partitions > 0 ? cfg->partials_partitions : ninputs,
	};
	double t0 = now_s();
	kafka_status st = kafka_run(&kc, &p.in, p.ks, &stop_requested);
	if (st == KAFKA_RESTART && !stop_requested) {
		pipeline_free(&p); /* the summary comes from the run that ends */
	} else {
		if (merge_stage_failure(merge) && st == KAFKA_OK) {
			fprintf(stderr, "kuniq: error: %s\n", merge_stage_failure(merge));
			st = KAFKA_FAILED;
		}
		st = (kafka_status)finish(cfg, &p, (int)st, t0);
	}
	merge_stage_free(merge);
	kafka_txn_free(txn);
	return st;
}

/* Kafka mode: runs until the end; a run that must be rebuilt from the committed state
 * (exactly once: an aborted transaction, a partition that moved) is started again. */
static int run_kafka(const cli_config *cfg, const frame_parser *parser)
{
	install_signals();
	for (int restarts = 0;; restarts++) {
		kafka_status st = kafka_once(cfg, parser);
		if (st != KAFKA_RESTART || stop_requested)
			return st == KAFKA_OK ? 0 : st == KAFKA_CONFIG ? 2 : 1;
		fprintf(stderr, "kuniq: kafka: restarting from the committed state (%d)\n",
		        restarts + 1);
		sleep(restarts < 5 ? 1 : 5);
	}
}

static int run(const cli_config *cfg, const frame_parser *parser)
{
	return cfg->brokers ? run_kafka(cfg, parser) : run_files(cfg, parser);
}

int main(int argc, char **argv)
{
	cli_config cfg;
	switch (cli_parse(argc, argv, &cfg)) {
	case CLI_EXIT_OK:
		return 0;
	case CLI_EXIT_USAGE:
		return 2;
	default:
		break;
	}
	if (calendar_init(&cfg.engine.cal, cfg.tz) != 0) {
		fprintf(stderr, "kuniq: --tz: unknown time zone '%s'\n", cfg.tz);
		return 2;
	}
	frame_parser parser;
	if (frame_parser_init(&parser, cfg.uid_field, cfg.ts_field, cfg.parser) != 0) {
		fprintf(stderr, "kuniq: --parser: not supported by this CPU\n");
		return 2;
	}
	if (cfg.threads == 0)
		cfg.threads = parse_pool_default_threads();
	return run(&cfg, &parser);
}
