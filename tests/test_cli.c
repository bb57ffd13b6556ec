/* Tests for cli.c: defaults, every option, rejected values, kcat's Kafka flags (-b -t -G -o -F
 * -X list). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"

static cli_status parse(cli_config *c, const char *const *args, int n)
{
	static char *argv[32]; /* cfg->files points into it */
	static char store[32][128];
	argv[0] = "kuniq";
	for (int i = 0; i < n; i++) {
		snprintf(store[i], sizeof(store[i]), "%s", args[i]);
		argv[i + 1] = store[i];
	}
	return cli_parse(n + 1, argv, c);
}

static void test_defaults(void **state)
{
	(void)state;
	cli_config c;
	assert_int_equal(parse(&c, NULL, 0), CLI_RUN);
	assert_int_equal(c.engine.kinds, 1u << WINDOW_MINUTE);
	assert_int_equal(c.clock.lateness, 5);
	assert_int_equal(c.clock.max_ahead, 300);
	assert_int_equal(c.clock.confirm, 8);
	assert_int_equal(c.clock.max_held, 4096);
	assert_false(c.engine.late_update);
	assert_int_equal(c.engine.counter.mode, COUNTER_AUTO);
	assert_int_equal(c.engine.counter.exact_limit, 1000000);
	assert_int_equal(c.max_frame, 65536);
	assert_true(c.idle_timeout == 10.0);
	assert_string_equal(c.uid_field, "uid");
	assert_int_equal(c.nfiles, 0);
	assert_null(c.brokers);
}

static void test_options(void **state)
{
	(void)state;
	cli_config c;
	const char *args[] = {"-w",       "minute,year,week", "--lateness",  "2",       "--late",
	                      "update",   "--early",          "30",          "--mode",  "approx",
	                      "--tz",     "Europe/Zurich",    "--uid-field", "user",    "-X",
	                      "acks=all", "--idle-timeout",   "0.5",         "a.jsonl", "-"};
	assert_int_equal(parse(&c, args, 20), CLI_RUN);
	assert_int_equal(c.engine.kinds,
	                 (1u << WINDOW_MINUTE) | (1u << WINDOW_YEAR) | (1u << WINDOW_WEEK));
	assert_int_equal(c.clock.lateness, 2);
	assert_true(c.engine.late_update);
	assert_int_equal(c.engine.early, 30);
	assert_int_equal(c.engine.counter.mode, COUNTER_APPROX);
	assert_string_equal(c.tz, "Europe/Zurich");
	assert_string_equal(c.uid_field, "user");
	assert_int_equal(c.nx, 1);
	assert_string_equal(c.x_keys[0], "acks");
	assert_string_equal(c.x_vals[0], "all");
	assert_true(c.idle_timeout == 0.5);
	assert_int_equal(c.nfiles, 2);
	assert_string_equal(c.files[1], "-");
}

static void test_rejections(void **state)
{
	(void)state;
	cli_config c;
	const char *bad[][2] = {
	    {"-w", "minute,fortnight"},
	    {"--lateness", "-1"},
	    {"--lateness", "5s"},
	    {"--late", "maybe"},
	    {"--mode", "fuzzy"},
	    {"-X", "novalue"},
	    {"--jump-confirm", "0"},
	    {"--parser", "neon"},
	    {"--topic", "t"},
	    {"--max-pending", "7"}, /* below the default --jump-confirm 8 */
	    {"-e", "file"},         /* -e is for Kafka */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(&c, bad[i], 2), CLI_EXIT_USAGE);
	const char *kafka_and_file[] = {"--brokers", "b", "--topic", "t", "file"};
	assert_int_equal(parse(&c, kafka_and_file, 5), CLI_EXIT_USAGE);
	const char *kafka[] = {"--brokers", "b", "--topic", "t", "--from-beginning", "-e"};
	assert_int_equal(parse(&c, kafka, 6), CLI_RUN);
	assert_int_equal(c.start.kind, KAFKA_START_BEGINNING);
	assert_true(c.exit_at_end);
	const char *pending[] = {"--jump-confirm", "4", "--max-pending", "4"};
	assert_int_equal(parse(&c, pending, 4), CLI_RUN);
	assert_int_equal(c.clock.max_held, 4);
	assert_string_equal(c.group, "kuniq");
}

static void test_kcat_aliases(void **state)
{
	(void)state;
	cli_config c;
	const char *args[] = {"-b", "h:1", "-t", "in", "-G", "grp", "-e"};
	assert_int_equal(parse(&c, args, 7), CLI_RUN);
	assert_string_equal(c.brokers, "h:1");
	assert_string_equal(c.topic, "in");
	assert_string_equal(c.group, "grp");
	assert_true(c.exit_at_end);
	assert_int_equal(c.start.kind, KAFKA_START_END); /* the default */
	assert_false(c.start_set);
	const char *longs[] = {"--brokers", "h:2", "--topic", "in2", "--group", "g2"};
	assert_int_equal(parse(&c, longs, 6), CLI_RUN);
	assert_string_equal(c.brokers, "h:2");
	assert_string_equal(c.topic, "in2");
	assert_string_equal(c.group, "g2");
}

/* -o VALUE on a Kafka command line: the status, and the start when it runs. */
static cli_status parse_o(cli_config *c, const char *value)
{
	const char *args[] = {"-b", "h:1", "-t", "in", "-o", value};
	return parse(c, args, 6);
}

static void test_offsets(void **state)
{
	(void)state;
	cli_config c;
	const struct {
		const char *arg;
		kafka_start_kind kind;
		int64_t value;
	} good[] = {
	    {"beginning", KAFKA_START_BEGINNING, 0},
	    {"end", KAFKA_START_END, 0},
	    {"0", KAFKA_START_OFFSET, 0},
	    {"1234", KAFKA_START_OFFSET, 1234},
	    {"-1", KAFKA_START_TAIL, 1},
	    {"-500", KAFKA_START_TAIL, 500},
	    {"@1468244400000", KAFKA_START_TIME, 1468244400000},
	    {"s@1468244400000", KAFKA_START_TIME, 1468244400000},
	    {"@0", KAFKA_START_TIME, 0},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(parse_o(&c, good[i].arg), CLI_RUN);
		assert_int_equal(c.start.kind, good[i].kind);
		assert_true(c.start.value == good[i].value);
		assert_true(c.start_set);
		char buf[64];
		if (strncmp(good[i].arg, "s@", 2) != 0) /* s@ is shown as @ */
			assert_string_equal(kafka_start_str(&c.start, buf, sizeof buf),
			                    good[i].arg);
	}
	const char *bad[] = {"",    "begin", "-0",  "-",    "--5", "@",    "@-5",
	                     "12x", "+3",    "1e3", "@1.5", " 7",  "end ", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_o(&c, bad[i]), CLI_EXIT_USAGE);
	/* --from-beginning is -o beginning; the last of them wins */
	const char *fb[] = {"-b", "h", "-t", "in", "-o", "end", "--from-beginning"};
	assert_int_equal(parse(&c, fb, 7), CLI_RUN);
	assert_int_equal(c.start.kind, KAFKA_START_BEGINNING);
	/* -o is for Kafka; --scale-out takes beginning or end only */
	const char *files[] = {"-o", "beginning", "f.jsonl"};
	assert_int_equal(parse(&c, files, 3), CLI_EXIT_USAGE);
	const char *scale[] = {"-b", "h", "-t", "in", "--scale-out", "-o", "-5"};
	assert_int_equal(parse(&c, scale, 7), CLI_EXIT_USAGE);
	scale[6] = "beginning";
	assert_int_equal(parse(&c, scale, 7), CLI_RUN);
}

/* Writes text to a new temporary file; returns its path (static buffer). */
static const char *temp_file(const char *text)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/kuniq-test-cli-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_properties_file(void **state)
{
	(void)state;
	cli_config c;
	const char *path = temp_file("# a comment\n"
	                             "\n"
	                             "client.id = from-file\r\n"
	                             "  # indented comment\n"
	                             "bootstrap.servers=h:9\n"
	                             "sasl.password=a=b\n"
	                             "   \t\n"
	                             "acks=all");
	const char *args[] = {"-F", path, "-t", "in", "-X", "client.id=x"};
	assert_int_equal(parse(&c, args, 6), CLI_RUN);
	assert_int_equal(c.props.n, 4);
	assert_string_equal(c.props.keys[0], "client.id");
	assert_string_equal(c.props.vals[0], "from-file");
	assert_int_equal(c.props.lines[0], 3);
	assert_string_equal(c.props.vals[2], "a=b"); /* split at the first '=' */
	assert_int_equal(c.props.lines[3], 8);
	assert_string_equal(c.brokers, "h:9"); /* Kafka mode from the file, as kcat */
	assert_int_equal(c.nx, 1);             /* -X is kept apart: applied after the file */
	cli_free(&c);
	const char *with_b[] = {"-F", path, "-b", "cmd:1", "-t", "in"};
	assert_int_equal(parse(&c, with_b, 6), CLI_RUN);
	assert_string_equal(c.brokers, "cmd:1"); /* -b wins */
	cli_free(&c);
	unlink(path);

	const char *bad[] = {"client.id=a\nno equals sign here\n", "=value\n", " = x\n"};
	const int bad_line[] = {2, 1, 1};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		path = temp_file(bad[i]);
		const char *a[] = {"-b", "h", "-t", "in", "-F", path};
		/* the error names the file and the line */
		char line[80];
		snprintf(line, sizeof line, "%s:%d:", path, bad_line[i]);
		FILE *saved = stderr, *capture = tmpfile();
		stderr = capture;
		cli_status st = parse(&c, a, 6);
		stderr = saved;
		char text[512] = {0};
		rewind(capture);
		size_t n = fread(text, 1, sizeof text - 1, capture);
		fclose(capture);
		text[n] = '\0';
		assert_int_equal(st, CLI_EXIT_USAGE);
		assert_non_null(strstr(text, line));
		cli_free(&c);
		unlink(path);
	}
	const char *missing[] = {"-b", "h", "-t", "in", "-F", "/nonexistent/kuniq.properties"};
	assert_int_equal(parse(&c, missing, 6), CLI_EXIT_USAGE);
	cli_free(&c);
}

static void test_x_list(void **state)
{
	(void)state;
	cli_config c;
	const char *args[] = {"-X", "list"};
	assert_int_equal(parse(&c, args, 2), CLI_LIST_PROPERTIES);
	const char *dump[] = {"-X", "dump"}; /* not supported: not KEY=VALUE */
	assert_int_equal(parse(&c, dump, 2), CLI_EXIT_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),   cmocka_unit_test(test_options),
	    cmocka_unit_test(test_rejections), cmocka_unit_test(test_kcat_aliases),
	    cmocka_unit_test(test_offsets),    cmocka_unit_test(test_properties_file),
	    cmocka_unit_test(test_x_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
