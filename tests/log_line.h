/* log_line.h - for unit tests that capture stderr: checks that a captured text is one log line
 * of log.c ("<YYYY-MM-DDTHH:MM:SS.mmmZ> <LEVEL> kuniq: ...") and returns its body from "kuniq:".
 * Include after <cmocka.h>. */
#ifndef KUNIQ_TEST_LOG_LINE_H
#define KUNIQ_TEST_LOG_LINE_H

#include <ctype.h>
#include <string.h>

static inline const char *log_body(const char *line)
{
	/* 2026-12-03T14:40:01.123Z ERROR kuniq: ... */
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
	size_t n = sizeof(shape) - 1;
	assert_true(strlen(line) > n + 6);
	for (size_t i = 0; i < n; i++)
		assert_true(shape[i] == 'd' ? isdigit((unsigned char)line[i]) != 0
		                            : line[i] == shape[i]);
	const char *level = line + n;
	assert_true(strncmp(level, "ERROR ", 6) == 0 || strncmp(level, "WARN  ", 6) == 0 ||
	            strncmp(level, "INFO  ", 6) == 0 || strncmp(level, "DEBUG ", 6) == 0);
	return level + 6;
}

#endif
