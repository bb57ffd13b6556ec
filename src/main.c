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
#include "kafka_conf.h"
#include "kafka_sink.h"
#include "kafka_source.h"
#include "kafka_topic.h"
#include "log.h"
#include "merge_stage.h"
#include "metrics_http.h"
#include "metrics_topic.h"
#include "parse_pool.h"
#include "progress.h"
#include "stats.h"
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
		log_msg(LOG_ERROR, "%s", p->eng ? err : "out of memory");
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
	log_msg(LOG_ERROR, "error: %s", why);
	return 1;
}

/* The error first: the summary stays the last line of stderr. */
static int finish(const cli_config *cfg, pipeline *p, int rc, double t0, stats_reporter *stats)
{
	if (report_failure(p->eng))
		rc = rc ? rc : 1;
	ingest_check_rejects(&p->in);
	if (stats)
		stats_report(stats, &(stats_snapshot){.in = &p->in}, now_s());
	ingest_summary(&p->in, cfg->engine.kinds, now_s() - t0, stderr);
	if (engine_get_stats(p->eng)->emit_errors && !p->out.reader_gone)
		rc = rc ? rc : 1;
	pipeline_free(p);
	return rc;
}

/* ---- files and stdin ---------------------------------------------------------------------- */

/* What runs beside the reading of files: the progress line, and noticing that the reader of
 * stdout went away while no result is written. */
typedef struct files_watch {
	progress prog;
	stdout_sink *out;
	const ingest *in;
	stats_reporter *stats; /* --stats-interval, --metrics: NULL = none */
} files_watch;

static void on_watch(void *ctx, uint64_t bytes_read)
{
	files_watch *w = ctx;
	progress_update(&w->prog, bytes_read, w->in->frames_read);
	stdout_sink_check_reader(w->out);
	double now = now_s();
	if (stats_due(w->stats, now))
		stats_report(w->stats, &(stats_snapshot){.in = w->in}, now);
}

/* How a file run ends once reading stopped. Returns the exit status so far. */
static int end_files(pipeline *p, file_resume *fc, int rc)
{
	if (p->out.reader_gone)
		return rc; /* nobody reads results any more; the last checkpoint stays as it is */
	if (fc->path && stop_requested) {
		/* a stop with a checkpoint is a pause: open windows stay open for the resume */
		return file_resume_save(fc) != 0 ? 1 : rc;
	}
	if (stop_requested) {
		/* interrupted: what was counted so far, not final */
		p->in.interrupted = true;
		engine_emit_open(p->eng);
		return rc;
	}
	ingest_finish(&p->in);
	if (fc->path && rc == 0 && file_resume_save(fc) != 0)
		rc = 1;
	return rc;
}

static int run_files(const cli_config *cfg, const frame_parser *parser, stats_reporter *stats)
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
		log_msg(LOG_ERROR, "out of memory");
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
	stdout_sink_stop_on_close(&p.out, &stop_requested);
	files_watch w = {.out = &p.out, .in = &p.in, .stats = stats};
	progress_start(&w.prog, stderr, cfg->progress, source_total_bytes(cfg->files, cfg->nfiles));
	double t0 = now_s();
	source_run_cfg sc = {.files = cfg->files,
	                     .nfiles = cfg->nfiles,
	                     .max_frame = cfg->max_frame,
	                     .idle_timeout = cfg->idle_timeout,
	                     .input = input,
	                     .resume = fc.path ? &resume : NULL,
	                     .safe_point = fc.path ? file_resume_tick : NULL,
	                     .safe_ctx = &fc,
	                     .watch = on_watch,
	                     .watch_ctx = &w};
	rc = source_run(&sc, &p.in, &stop_requested);
	progress_end(&w.prog);
	rc = end_files(&p, &fc, rc);
	return finish(cfg, &p, rc, t0, stats);
}

/* ---- Kafka -------------------------------------------------------------------------------- */

/* One Kafka run over a fresh pipeline (and, exactly once, a fresh transactional producer).
 * *start_owned: the group's committed positions are this process's (kafka_source_cfg). */
static kafka_status kafka_once(const cli_config *cfg, const frame_parser *parser, bool *start_owned,
                               stats_reporter *stats)
{
	kafka_conn conn = {cfg->brokers, cfg->x_keys, cfg->x_vals, cfg->nx, &cfg->props};
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
		log_msg(LOG_ERROR, "kafka: error: %s", err);
		return why;
	}
	pipeline p = {0};
	result_sink sink = stdout_sink_make(&p.out, stdout, &cfg->engine.cal);
	if (cfg->output_topic) {
		result_sink also = cfg->stdout_in_kafka ? sink : (result_sink){0};
		p.ks = kafka_sink_new(&conn, cfg->output_topic, &cfg->engine.cal, also,
		                      txn ? kafka_txn_producer(txn) : NULL, err, sizeof err);
		if (p.ks == NULL) {
			log_msg(LOG_ERROR, "kafka: %s", err);
			kafka_txn_free(txn);
			return KAFKA_CONFIG;
		}
		sink = kafka_sink_result_sink(p.ks);
	} else {
		/* results on stdout only: a reader that goes away (| head) ends the run quietly */
		stdout_sink_stop_on_close(&p.out, &stop_requested);
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
		log_msg(LOG_ERROR, "kafka: error: %s", err);
		kafka_txn_free(txn);
		kafka_sink_free(p.ks);
		return KAFKA_FAILED;
	}
	if (pipeline_init(&p, cfg, &ecfg, parser, sink) != 0 ||
	    (cfg->scale_out && (merge = merge_stage_new(&mcfg, sink, identity, ninputs)) == NULL)) {
		if (p.in_ok)
			log_msg(LOG_ERROR, "out of memory");
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
	    .start = cfg->start,
	    .start_owned = start_owned,
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
	    .stats = stats,
	    .stats_interval = cfg->stats_interval,
	};
	double t0 = now_s();
	kafka_status st = kafka_run(&kc, &p.in, p.ks, &stop_requested);
	if (st == KAFKA_RESTART && !stop_requested) {
		pipeline_free(&p); /* the summary comes from the run that ends */
	} else {
		if (merge_stage_failure(merge) && st == KAFKA_OK) {
			log_msg(LOG_ERROR, "error: %s", merge_stage_failure(merge));
			st = KAFKA_FAILED;
		}
		st = (kafka_status)finish(cfg, &p, (int)st, t0, NULL);
	}
	merge_stage_free(merge);
	kafka_txn_free(txn);
	return st;
}

/* Kafka mode: runs until the end; a run that must be rebuilt from the committed state
 * (exactly once: an aborted transaction, a partition that moved) is started again. */
static int run_kafka(const cli_config *cfg, const frame_parser *parser, stats_reporter *stats)
{
	install_signals();
	bool start_owned = false;
	for (int restarts = 0;; restarts++) {
		kafka_status st = kafka_once(cfg, parser, &start_owned, stats);
		if (st != KAFKA_RESTART || stop_requested)
			return st == KAFKA_OK ? 0 : st == KAFKA_CONFIG ? 2 : 1;
		log_msg(LOG_WARN, "kafka: restarting from the committed state (%d)", restarts + 1);
		sleep(restarts < 5 ? 1 : 5);
	}
}

/* The operations side of a run (--stats-interval, --metrics, --metrics-topic), then the run. */
static int run(const cli_config *cfg, const frame_parser *parser)
{
	char err[512];
	metrics_http *http = NULL;
	metrics_topic *mt = NULL;
	stats_reporter *stats = NULL;
	int rc = 1;
	if (cfg->metrics && (http = metrics_http_start(cfg->metrics, err, sizeof err)) == NULL) {
		log_msg(LOG_ERROR, "error: %s", err);
		return 2;
	}
	if (cfg->metrics_topic) {
		kafka_conn conn = {cfg->brokers, cfg->x_keys, cfg->x_vals, cfg->nx, &cfg->props};
		char key[512];
		snprintf(key, sizeof key, "%s/%s", cfg->group, cfg->instance_id);
		if ((mt = metrics_topic_new(&conn, cfg->metrics_topic, key, err, sizeof err)) ==
		    NULL) {
			log_msg(LOG_ERROR, "error: --metrics-topic: %s", err);
			rc = 2;
			goto out;
		}
	}
	if ((cfg->stats_interval > 0 || http || mt) &&
	    (stats = stats_reporter_new(cfg->stats_interval, stderr, http)) == NULL) {
		log_msg(LOG_ERROR, "error: out of memory");
		goto out;
	}
	if (mt)
		stats_reporter_publish(stats, metrics_topic_publish, mt);
	if (http)
		log_msg(LOG_INFO, "metrics: GET /metrics on %s (port %d)", cfg->metrics,
		        metrics_http_port(http));
	rc = cfg->brokers ? run_kafka(cfg, parser, stats) : run_files(cfg, parser, stats);
out:
	stats_reporter_free(stats);
	metrics_topic_free(mt);
	metrics_http_stop(http);
	return rc;
}

/* A parsed command line to its exit status. */
static int run_parsed(cli_config *cfg, cli_status st)
{
	switch (st) {
	case CLI_EXIT_OK:
		return 0;
	case CLI_EXIT_USAGE:
		return 2;
	case CLI_LIST_PROPERTIES:
		return kafka_conf_list() == 0 ? 0 : 1;
	default:
		break;
	}
	if (calendar_init(&cfg->engine.cal, cfg->tz) != 0) {
		log_msg(LOG_ERROR, "--tz: unknown time zone '%s'", cfg->tz);
		return 2;
	}
	frame_parser parser;
	if (frame_parser_init(&parser, cfg->uid_field, cfg->ts_field, cfg->parser) != 0) {
		log_msg(LOG_ERROR, "--parser: not supported by this CPU");
		return 2;
	}
	if (cfg->threads == 0)
		cfg->threads = parse_pool_default_threads();
	int level = LOG_INFO + cfg->verbosity;
	log_set_level(level < LOG_ERROR   ? LOG_ERROR
	              : level > LOG_DEBUG ? LOG_DEBUG
	                                  : (log_level)level);
	return run(cfg, &parser);
}

int main(int argc, char **argv)
{
	cli_config cfg;
	cli_status st = cli_parse(argc, argv, &cfg);
	int rc = run_parsed(&cfg, st);
	cli_free(&cfg);
	return rc;
}
