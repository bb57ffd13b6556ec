/* Tests for cli.c: defaults, every option, rejected values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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
	assert_true(c.from_beginning);
	assert_true(c.exit_at_end);
	const char *pending[] = {"--jump-confirm", "4", "--max-pending", "4"};
	assert_int_equal(parse(&c, pending, 4), CLI_RUN);
	assert_int_equal(c.clock.max_held, 4);
	assert_string_equal(c.group, "kuniq");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_options),
	    cmocka_unit_test(test_rejections),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
