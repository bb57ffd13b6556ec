/* cli.c - command-line options (GNU long style) into a cli_config. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "Usage: kuniq [OPTIONS] [FILE...]\n"
    "Counts unique users per time window in JSON-lines frames; prints one JSON line per\n"
    "finished window. FILE: JSON lines; '-' or none = stdin; *.gz is decompressed.\n"
    "\n"
    "Windows and frames:\n"
    "  -w, --windows LIST      comma list of minute,hour,day,week,month,year (default minute)\n"
    "      --tz NAME           IANA zone for day/week/month/year windows (default UTC)\n"
    "      --uid-field NAME    top-level key of the user id (default uid)\n"
    "      --ts-field NAME     top-level key of the unix timestamp (default ts)\n"
    "      --max-frame BYTES   longer frames are rejected as too_long (default 65536)\n"
    "      --parser IMPL       auto|scalar|avx2 (default auto)\n"
    "      --threads N         threads parsing frames (default: one per CPU, at most 8)\n"
    "Event time (see README, 'When results are emitted'):\n"
    "      --lateness S        watermark = event clock - S (default 5)\n"
    "      --late MODE         drop|update: what late frames do (default drop)\n"
    "      --keep-closed S     update mode: how long closed windows stay correctable (3600)\n"
    "      --early S           provisional results of open windows every S s of event time\n"
    "      --idle-timeout S    wall seconds without frames before an input is idle; a live\n"
    "                          idle input follows wall time (default 10, 0 = never)\n"
    "      --max-ahead S       a move of more than S is a jump; also the live horizon (300)\n"
    "      --jump-confirm N    later frames needed to confirm a jump (default 8)\n"
    "      --max-pending N     frames held ahead of the clock at most (default 4096)\n"
    "Counting:\n"
    "      --mode MODE         exact|approx|auto (default auto)\n"
    "      --exact-limit N     auto: distinct users counted exactly per window (1000000)\n"
    "      --precision P       sketch precision 4..18: 2^P registers of 4 bytes (default 12)\n"
    "      --memory-limit SIZE memory of all counters together, e.g. 512M, 2G (default: half\n"
    "                          of the lowest of MemAvailable, cgroup limit, ulimit -v); auto\n"
    "                          turns a window into its sketch there, exact fails\n"
    "Kafka:\n"
    "  -b, --brokers LIST      read frames from Kafka (bootstrap servers)\n"
    "  -t, --topic NAME        input topic\n"
    "  -G, --group ID          consumer group (default kuniq)\n"
    "      --output-topic NAME write results to this topic (else stdout)\n"
    "  -o, --offset POS        where partitions the group has no committed position for\n"
    "                          start: beginning, end (default), OFFSET, -N (the last N),\n"
    "                          @TIMESTAMP_MS (first message at or after it). A committed\n"
    "                          position always wins; OFFSET, -N and @ts are refused (exit 2)\n"
    "                          when the group already has one: use a new group\n"
    "      --from-beginning    -o beginning\n"
    "  -e, --exit-at-end       stop once every assigned partition is read to its end: the\n"
    "                          end of input (every open window is emitted)\n"
    "      --stdout            also print results on stdout when writing to a topic\n"
    "      --instance-id ID    this process's id in the group (default 0): a restart with the\n"
    "                          same group and id takes over at once and fences the old one\n"
    "      --at-least-once     no state topic, no transactions (the default is exactly once)\n"
    "      --changelog-topic NAME  topic holding the state (default GROUP-kuniq-state)\n"
    "      --checkpoint-interval S seconds between commits of results, state and offsets\n"
    "                          (default 1; results become visible at commits)\n"
    "      --scale-out         share the work with the other processes of the group: one\n"
    "                          final record per window whatever their number (give every\n"
    "                          process this option and its own --instance-id)\n"
    "      --partials-topic NAME  internal topic of --scale-out (default GROUP-kuniq-partials)\n"
    "      --partials-partitions N  its partitions when created (default: the input topic's)\n"
    "Files:\n"
    "      --checkpoint FILE   save the state to FILE every --checkpoint-interval (default 10\n"
    "                          for files) and resume from it: a killed run goes on where its\n"
    "                          last checkpoint stood (regular files only, not pipes)\n"
    "      --progress          show progress on stderr (default: when it is a terminal)\n"
    "      --no-progress       never show progress\n"
    "  -X KEY=VALUE            librdkafka property, passed through (repeatable; wins over -F)\n"
    "  -X list                 print librdkafka's properties and exit\n"
    "  -F FILE                 librdkafka properties from FILE (key=value lines, # comments)\n"
    "Operations:\n"
    "      --stats-interval S  one JSON stats line on stderr every S seconds\n"
    "      --metrics [ADDR:]PORT  Prometheus text on GET /metrics (address 127.0.0.1 unless\n"
    "                          given)\n"
    "      --metrics-topic NAME  Kafka: the stats JSON also to this topic\n"
    "  -v, --verbose           more log lines (debug); -q, --quiet: errors and warnings only\n"
    "\n"
    "  -h, --help              this text\n"
    "  -V, --version           version\n";

enum {
	OPT_UID = 256,
	OPT_TS,
	OPT_TZ,
	OPT_MAX_FRAME,
	OPT_PARSER,
	OPT_THREADS,
	OPT_LATENESS,
	OPT_LATE,
	OPT_KEEP_CLOSED,
	OPT_EARLY,
	OPT_IDLE,
	OPT_MAX_AHEAD,
	OPT_JUMP_CONFIRM,
	OPT_MAX_PENDING,
	OPT_MODE,
	OPT_EXACT_LIMIT,
	OPT_PRECISION,
	OPT_OUTPUT_TOPIC,
	OPT_FROM_BEGINNING,
	OPT_STDOUT,
	OPT_INSTANCE,
	OPT_AT_LEAST_ONCE,
	OPT_EXACTLY_ONCE,
	OPT_CHANGELOG,
	OPT_CKPT_INTERVAL,
	OPT_CHECKPOINT,
	OPT_SCALE_OUT,
	OPT_STATS_INTERVAL,
	OPT_METRICS,
	OPT_METRICS_TOPIC,
	OPT_PARTIALS_TOPIC,
	OPT_PARTIALS_PARTS,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_MEMORY_LIMIT,
};

static const struct option long_opts[] = {
    {"windows", required_argument, NULL, 'w'},
    {"uid-field", required_argument, NULL, OPT_UID},
    {"ts-field", required_argument, NULL, OPT_TS},
    {"tz", required_argument, NULL, OPT_TZ},
    {"max-frame", required_argument, NULL, OPT_MAX_FRAME},
    {"parser", required_argument, NULL, OPT_PARSER},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"lateness", required_argument, NULL, OPT_LATENESS},
    {"late", required_argument, NULL, OPT_LATE},
    {"keep-closed", required_argument, NULL, OPT_KEEP_CLOSED},
    {"early", required_argument, NULL, OPT_EARLY},
    {"idle-timeout", required_argument, NULL, OPT_IDLE},
    {"max-ahead", required_argument, NULL, OPT_MAX_AHEAD},
    {"jump-confirm", required_argument, NULL, OPT_JUMP_CONFIRM},
    {"max-pending", required_argument, NULL, OPT_MAX_PENDING},
    {"mode", required_argument, NULL, OPT_MODE},
    {"exact-limit", required_argument, NULL, OPT_EXACT_LIMIT},
    {"precision", required_argument, NULL, OPT_PRECISION},
    {"memory-limit", required_argument, NULL, OPT_MEMORY_LIMIT},
    {"brokers", required_argument, NULL, 'b'},
    {"topic", required_argument, NULL, 't'},
    {"group", required_argument, NULL, 'G'},
    {"offset", required_argument, NULL, 'o'},
    {"output-topic", required_argument, NULL, OPT_OUTPUT_TOPIC},
    {"from-beginning", no_argument, NULL, OPT_FROM_BEGINNING},
    {"exit-at-end", no_argument, NULL, 'e'},
    {"stdout", no_argument, NULL, OPT_STDOUT},
    {"instance-id", required_argument, NULL, OPT_INSTANCE},
    {"at-least-once", no_argument, NULL, OPT_AT_LEAST_ONCE},
    {"exactly-once", no_argument, NULL, OPT_EXACTLY_ONCE},
    {"changelog-topic", required_argument, NULL, OPT_CHANGELOG},
    {"checkpoint-interval", required_argument, NULL, OPT_CKPT_INTERVAL},
    {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
    {"scale-out", no_argument, NULL, OPT_SCALE_OUT},
    {"stats-interval", required_argument, NULL, OPT_STATS_INTERVAL},
    {"metrics", required_argument, NULL, OPT_METRICS},
    {"metrics-topic", required_argument, NULL, OPT_METRICS_TOPIC},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"partials-topic", required_argument, NULL, OPT_PARTIALS_TOPIC},
    {"partials-partitions", required_argument, NULL, OPT_PARTIALS_PARTS},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static void defaults(cli_config *c)
{
	memset(c, 0, sizeof(*c));
	c->engine.kinds = 1u << WINDOW_MINUTE;
	c->clock.lateness = 5;
	c->clock.max_ahead = 300;
	c->clock.confirm = 8;
	c->clock.max_held = 4096;
	c->engine.keep_closed = 3600;
	c->engine.counter.mode = COUNTER_AUTO;
	c->engine.counter.exact_limit = 1000000;
	c->uid_field = "uid";
	c->ts_field = "ts";
	c->max_frame = 65536;
	c->idle_timeout = 10;
	c->parser = FRAME_IMPL_AUTO;
	c->group = "kuniq";
	c->instance_id = "0";
	c->exactly_once = true;
	c->checkpoint_interval = -1; /* unset: 1 s for Kafka, 10 s for files */
	c->progress = -1;
}

/* Integer in [lo, hi]; complains and returns false otherwise. */
static bool parse_int(const char *opt, const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "kuniq: --%s: expected an integer in [%lld, %lld], got '%s'\n", opt,
		        lo, hi, s);
		return false;
	}
	*out = v;
	return true;
}

static bool parse_seconds(const char *opt, const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !(v >= 0) || v > 1e9) {
		fprintf(stderr, "kuniq: --%s: expected seconds >= 0, got '%s'\n", opt, s);
		return false;
	}
	*out = v;
	return true;
}

static bool parse_windows(const char *list, unsigned *kinds)
{
	*kinds = 0;
	const char *p = list;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		int k = window_kind_parse(p, n);
		if (k < 0) {
			fprintf(stderr,
			        "kuniq: --windows: unknown window '%.*s' (minute, hour, day, week, "
			        "month, year)\n",
			        (int)n, p);
			return false;
		}
		*kinds |= 1u << k;
		if (!comma)
			return true;
		p = comma + 1;
	}
}

static bool parse_choice(const char *opt, const char *s, const char *const *names, int n, int *out)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return true;
		}
	fprintf(stderr, "kuniq: --%s: unknown value '%s'\n", opt, s);
	return false;
}

static bool parse_start(cli_config *c, const char *arg)
{
	c->start_set = true;
	if (kafka_start_parse(arg, &c->start))
		return true;
	fprintf(stderr,
	        "kuniq: -o: expected beginning, end, OFFSET, -N or @TIMESTAMP_MS, got '%s'\n", arg);
	return false;
}

static bool parse_props(cli_config *c, const char *path)
{
	char err[512];
	if (c->props.path) {
		fprintf(stderr, "kuniq: -F: one properties file at most\n");
		return false;
	}
	if (kafka_props_read(path, &c->props, err, sizeof err) != 0) {
		fprintf(stderr, "kuniq: -F %s\n", err);
		return false;
	}
	return true;
}

static bool parse_x(cli_config *c, char *kv)
{
	if (strcmp(kv, "list") == 0) {
		c->x_list = true;
		return true;
	}
	char *eq = strchr(kv, '=');
	if (eq == NULL || eq == kv || c->nx == CLI_MAX_X) {
		fprintf(stderr, "kuniq: -X: expected KEY=VALUE (at most %d), got '%s'\n", CLI_MAX_X,
		        kv);
		return false;
	}
	*eq = '\0';
	c->x_keys[c->nx] = kv;
	c->x_vals[c->nx++] = eq + 1;
	return true;
}

static bool apply(cli_config *c, int opt, char *arg)
{
	static const char *const late_names[] = {"drop", "update"};
	static const char *const mode_names[] = {"auto", "exact", "approx"};
	static const char *const parser_names[] = {"auto", "scalar", "avx2"};
	engine_cfg *e = &c->engine;
	long long v = 0;
	int choice = 0;
	bool ok = true;
	switch (opt) {
	case 'w':
		return parse_windows(arg, &e->kinds);
	case 'X':
		return parse_x(c, arg);
	case OPT_UID:
		c->uid_field = arg;
		return true;
	case OPT_TS:
		c->ts_field = arg;
		return true;
	case OPT_TZ:
		c->tz = arg;
		return true;
	case OPT_MAX_FRAME:
		ok = parse_int("max-frame", arg, 16, 1LL << 30, &v);
		c->max_frame = (size_t)v;
		return ok;
	case OPT_PARSER:
		ok = parse_choice("parser", arg, parser_names, 3, &choice);
		c->parser = (frame_impl)choice;
		return ok;
	case OPT_THREADS:
		ok = parse_int("threads", arg, 1, 64, &v);
		c->threads = (int)v;
		return ok;
	case OPT_LATENESS:
		ok = parse_int("lateness", arg, 0, 1LL << 32, &v);
		c->clock.lateness = v;
		return ok;
	case OPT_LATE:
		ok = parse_choice("late", arg, late_names, 2, &choice);
		e->late_update = choice == 1;
		return ok;
	case OPT_KEEP_CLOSED:
		ok = parse_int("keep-closed", arg, 0, 1LL << 32, &v);
		e->keep_closed = v;
		return ok;
	case OPT_EARLY:
		ok = parse_int("early", arg, 0, 1LL << 32, &v);
		e->early = v;
		return ok;
	case OPT_IDLE:
		return parse_seconds("idle-timeout", arg, &c->idle_timeout);
	case OPT_MAX_AHEAD:
		ok = parse_int("max-ahead", arg, 0, 1LL << 32, &v);
		c->clock.max_ahead = v;
		return ok;
	case OPT_JUMP_CONFIRM:
		ok = parse_int("jump-confirm", arg, 1, 4096, &v);
		c->clock.confirm = (uint32_t)v;
		return ok;
	case OPT_MAX_PENDING:
		ok = parse_int("max-pending", arg, 1, 1LL << 20, &v);
		c->clock.max_held = (uint32_t)v;
		return ok;
	case OPT_MODE:
		ok = parse_choice("mode", arg, mode_names, 3, &choice);
		e->counter.mode = (counter_mode)choice;
		return ok;
	case OPT_EXACT_LIMIT:
		ok = parse_int("exact-limit", arg, 1, 1LL << 40, &v);
		e->counter.exact_limit = (uint64_t)v;
		return ok;
	case OPT_PRECISION:
		ok = parse_int("precision", arg, COUNTER_MIN_PRECISION, COUNTER_MAX_PRECISION, &v);
		e->counter.precision = (int)v;
		return ok;
	case OPT_MEMORY_LIMIT:
		if (memory_budget_parse(arg, &c->memory_limit) != 0) {
			fprintf(stderr,
			        "kuniq: --memory-limit: '%s' is not a size (e.g. 512M, 2G)\n", arg);
			return false;
		}
		return true;
	case 'b':
		c->brokers = arg;
		return true;
	case 't':
		c->topic = arg;
		return true;
	case 'G':
		c->group = arg;
		return true;
	case 'o':
		return parse_start(c, arg);
	case 'F':
		return parse_props(c, arg);
	case OPT_OUTPUT_TOPIC:
		c->output_topic = arg;
		return true;
	case 'e':
		c->exit_at_end = true;
		return true;
	case OPT_FROM_BEGINNING:
		c->start = (kafka_start){KAFKA_START_BEGINNING, 0};
		c->start_set = true;
		return true;
	case OPT_STDOUT:
		c->stdout_in_kafka = true;
		return true;
	case OPT_INSTANCE:
		c->instance_id = arg;
		return true;
	case OPT_AT_LEAST_ONCE:
		c->exactly_once = false;
		return true;
	case OPT_EXACTLY_ONCE:
		c->exactly_once = true;
		return true;
	case OPT_CHANGELOG:
		c->changelog_topic = arg;
		return true;
	case OPT_CKPT_INTERVAL:
		ok = parse_seconds("checkpoint-interval", arg, &c->checkpoint_interval);
		if (ok && c->checkpoint_interval < 0.01) {
			fprintf(stderr, "kuniq: --checkpoint-interval: at least 0.01 s\n");
			ok = false;
		}
		return ok;
	case OPT_CHECKPOINT:
		c->checkpoint = arg;
		return true;
	case OPT_SCALE_OUT:
		c->scale_out = true;
		return true;
	case OPT_STATS_INTERVAL:
		ok = parse_seconds("stats-interval", arg, &c->stats_interval);
		if (ok && c->stats_interval < 0.1) {
			fprintf(stderr, "kuniq: --stats-interval: at least 0.1 s\n");
			ok = false;
		}
		return ok;
	case OPT_METRICS:
		c->metrics = arg;
		return true;
	case OPT_METRICS_TOPIC:
		c->metrics_topic = arg;
		return true;
	case 'v':
		c->verbosity++;
		return true;
	case 'q':
		c->verbosity--;
		return true;
	case OPT_PARTIALS_TOPIC:
		c->partials_topic = arg;
		return true;
	case OPT_PARTIALS_PARTS:
		ok = parse_int("partials-partitions", arg, 1, 100000, &v);
		c->partials_partitions = (int)v;
		return ok;
	case OPT_PROGRESS:
	case OPT_NO_PROGRESS:
		c->progress = opt == OPT_PROGRESS;
		return true;
	default:
		return false;
	}
}

static bool check(const cli_config *c)
{
	if (c->brokers && !c->topic) {
		fprintf(stderr, "kuniq: --brokers needs --topic\n");
		return false;
	}
	if (!c->brokers && (c->topic || c->output_topic)) {
		fprintf(stderr, "kuniq: --topic/--output-topic need --brokers\n");
		return false;
	}
	if (c->brokers && c->nfiles > 0) {
		fprintf(stderr, "kuniq: FILE arguments and --brokers exclude each other\n");
		return false;
	}
	if (c->exit_at_end && !c->brokers) {
		fprintf(stderr, "kuniq: -e/--exit-at-end is for Kafka (--brokers); files end by "
		                "themselves\n");
		return false;
	}
	if (c->start_set && !c->brokers) {
		fprintf(stderr, "kuniq: -o/--from-beginning are for Kafka (--brokers)\n");
		return false;
	}
	if (c->scale_out && kafka_start_exact(&c->start)) {
		fprintf(stderr, "kuniq: --scale-out: -o takes beginning or end only (the processes "
		                "of a group take partitions over from each other at any time)\n");
		return false;
	}
	if (c->checkpoint && c->brokers) {
		fprintf(stderr, "kuniq: --checkpoint is for files; in Kafka mode the state is kept "
		                "in the changelog topic\n");
		return false;
	}
	if (c->scale_out && (!c->brokers || !c->exactly_once)) {
		fprintf(stderr, "kuniq: --scale-out needs --brokers and exactly-once mode (its "
		                "stages meet in Kafka transactions)\n");
		return false;
	}
	if (c->metrics_topic && !c->brokers) {
		fprintf(stderr, "kuniq: --metrics-topic needs --brokers\n");
		return false;
	}
	if ((c->partials_topic || c->partials_partitions) && !c->scale_out) {
		fprintf(stderr, "kuniq: --partials-topic/--partials-partitions need --scale-out\n");
		return false;
	}
	if (c->clock.max_held < c->clock.confirm) {
		fprintf(stderr,
		        "kuniq: --max-pending must be at least --jump-confirm (a frame needs "
		        "that many later frames to be confirmed)\n");
		return false;
	}
	return true;
}

void cli_free(cli_config *cfg)
{
	kafka_props_free(&cfg->props);
}

cli_status cli_parse(int argc, char **argv, cli_config *cfg)
{
	defaults(cfg);
	optind = 0; /* glibc: a full re-initialisation (an earlier parse may have stopped midway) */
	int opt;
	while ((opt = getopt_long(argc, argv, "w:X:F:b:t:G:o:ehVvq", long_opts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage_text, stdout);
			return CLI_EXIT_OK;
		}
		if (opt == 'V') {
			printf("kuniq %s\n", KUNIQ_VERSION);
			return CLI_EXIT_OK;
		}
		if (opt == '?' || !apply(cfg, opt, optarg)) {
			fputs("Try 'kuniq --help'.\n", stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (cfg->x_list)
		return CLI_LIST_PROPERTIES;
	cfg->files = argv + optind;
	cfg->nfiles = argc - optind;
	if (!cfg->brokers) /* kcat: the brokers may come from the -F file */
		cfg->brokers = kafka_props_get(&cfg->props, "bootstrap.servers");
	if (!cfg->brokers)
		cfg->brokers = kafka_props_get(&cfg->props, "metadata.broker.list");
	if (!check(cfg)) {
		fputs("Try 'kuniq --help'.\n", stderr);
		return CLI_EXIT_USAGE;
	}
	return CLI_RUN;
}
