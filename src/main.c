/* main.c - wires kuniq together: options -> parser, sink <- engine <- ingest <- source.
 *
 * The only global is the signal flag (a signal handler can reach nothing else).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "engine.h"
#include "file_source.h"
#include "frame.h"
#include "ingest.h"
#include "kafka_sink.h"
#include "kafka_source.h"
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

static int run_files(const cli_config *cfg, ingest *in)
{
	int input = ingest_input_add(in);
	if (input < 0) {
		fprintf(stderr, "kuniq: out of memory\n");
		return 1;
	}
	source_run_cfg sc = {.files = cfg->files,
	                     .nfiles = cfg->nfiles,
	                     .max_frame = cfg->max_frame,
	                     .idle_timeout = cfg->idle_timeout,
	                     .input = input};
	int rc = source_run(&sc, in, &stop_requested);
	ingest_finish(in);
	return rc;
}

/* Kafka mode: results go to --output-topic (and stdout with --stdout) or to stdout. A stop is
 * not the end of the stream: open windows are not emitted, the next run recomputes them from the
 * committed offsets (docs/kafka.md). */
static int run_kafka(const cli_config *cfg, ingest *in, kafka_sink *ks)
{
	return kafka_run(cfg, in, ks, &stop_requested);
}

/* The sink results go to: stdout, or the Kafka output topic (also stdout with --stdout). */
static int make_sink(const cli_config *cfg, stdout_sink *out, kafka_sink **ks, result_sink *sink)
{
	*sink = stdout_sink_make(out, stdout, &cfg->engine.cal);
	*ks = NULL;
	if (!cfg->brokers || !cfg->output_topic)
		return 0;
	char err[512];
	result_sink also = cfg->stdout_in_kafka ? *sink : (result_sink){0};
	*ks = kafka_sink_new(cfg, &cfg->engine.cal, also, err, sizeof(err));
	if (*ks == NULL) {
		fprintf(stderr, "kuniq: kafka: %s\n", err);
		return 2;
	}
	*sink = kafka_sink_result_sink(*ks);
	return 0;
}

/* Builds the pipeline (sink <- engine <- ingest), runs the source, prints the summary. */
static int run(const cli_config *cfg, const frame_parser *parser)
{
	stdout_sink out;
	kafka_sink *ks;
	result_sink sink;
	int rc = make_sink(cfg, &out, &ks, &sink);
	if (rc != 0)
		return rc;
	engine *eng = engine_new(&cfg->engine, sink);
	ingest in;
	char err[256];
	ingest_cfg ic = {.parser = parser,
	                 .max_frame = cfg->max_frame,
	                 .threads = cfg->threads,
	                 .clock = cfg->clock};
	if (eng == NULL || ingest_init(&in, &ic, eng, err, sizeof(err)) != 0) {
		fprintf(stderr, "kuniq: %s\n", eng ? err : "out of memory");
		engine_free(eng);
		kafka_sink_free(ks);
		return 1;
	}
	install_signals();
	double t0 = now_s();
	rc = cfg->brokers ? run_kafka(cfg, &in, ks) : run_files(cfg, &in);
	ingest_summary(&in, cfg->engine.kinds, now_s() - t0, stderr);
	if (engine_get_stats(eng)->emit_errors)
		rc = rc ? rc : 1;
	ingest_free(&in);
	engine_free(eng);
	kafka_sink_free(ks);
	return rc;
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
