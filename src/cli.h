/* cli.h - command-line options into a config. Parsing only: nothing is opened here but the
 * -F properties file (read at once, so that its errors are usage errors naming its lines). */
#ifndef KUNIQ_CLI_H
#define KUNIQ_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "clock.h"
#include "engine.h"
#include "frame.h"
#include "kafka_props.h"
#include "kafka_start.h"

#define CLI_MAX_X 64

typedef struct cli_config {
	engine_cfg engine;
	clock_cfg clock;
	const char *tz; /* NULL = UTC */
	const char *uid_field;
	const char *ts_field;
	size_t max_frame;    /* bytes */
	double idle_timeout; /* seconds, 0 = off */
	frame_impl parser;
	int threads;         /* parser threads; 0 = one per online CPU (at most 8) */
	size_t memory_limit; /* --memory-limit, bytes; 0 = memory_budget_default() */
	/* inputs */
	char **files; /* argv slice, not owned; nfiles == 0 means stdin */
	int nfiles;
	/* Kafka */
	const char *brokers; /* NULL = not in Kafka mode */
	const char *topic;
	const char *group;
	const char *output_topic;
	kafka_start start;       /* -o (--from-beginning: -o beginning); default end */
	bool start_set;          /* -o or --from-beginning was given */
	bool x_list;             /* -X list */
	bool exit_at_end;        /* -e: every assigned partition at its end is the end of input */
	bool stdout_in_kafka;    /* --stdout: also print results when writing to a Kafka topic */
	const char *instance_id; /* static membership and transactional id (default "0") */
	bool exactly_once;       /* default; --at-least-once clears it */
	const char *changelog_topic; /* NULL: "<group>-kuniq-state" */
	double checkpoint_interval;  /* seconds; < 0: the mode's default */
	bool scale_out;              /* two stages over Kafka (docs/scale-out.md) */
	const char *partials_topic;  /* NULL: "<group>-kuniq-partials" */
	int partials_partitions;     /* 0: the input topic's */
	double stats_interval;       /* seconds between stats lines; 0: none */
	const char *metrics;         /* --metrics [ADDR:]PORT, or NULL */
	const char *metrics_topic;   /* --metrics-topic, or NULL */
	int verbosity;               /* -v: +1, -q: -1 */
	const char *checkpoint;      /* --checkpoint FILE (files), or NULL */
	int progress; /* files: 1 --progress, 0 --no-progress, -1 when stderr is a terminal */
	const char *x_keys[CLI_MAX_X]; /* -X key=value, split; point into argv (value after '=') */
	const char *x_vals[CLI_MAX_X];
	int nx;
	kafka_props props; /* -F FILE: applied before -X; owned (cli_free) */
} cli_config;

typedef enum cli_status {
	CLI_RUN = 0,
	CLI_EXIT_OK,
	CLI_EXIT_USAGE,
	CLI_LIST_PROPERTIES, /* -X list: print librdkafka's properties and exit 0 */
} cli_status;

/* Parses argv into cfg. Writes --help/--version text to stdout and errors to stderr.
 * -X values are split in place (argv strings are modified). cfg must be freed with cli_free
 * whatever the status. */
cli_status cli_parse(int argc, char **argv, cli_config *cfg);

void cli_free(cli_config *cfg);

#endif
