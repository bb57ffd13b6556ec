/* log.h - kuniq's log lines on stderr: an ISO 8601 UTC timestamp, a level, then the message.
 *
 *   2026-12-03T14:40:01.123Z INFO  kuniq: kafka: assigned 4 partition(s) of in
 *
 * -q shows errors and warnings only, -v adds debug lines. The level is the one process-wide
 * setting of this file (set once by main before anything logs); each line is written with one
 * call, so lines from librdkafka's threads do not interleave. Data lines (the JSON summary and
 * stats lines) are not log lines: they are written as they are.
 */
#ifndef KUNIQ_LOG_H
#define KUNIQ_LOG_H

#include <stdarg.h>

typedef enum log_level {
	LOG_ERROR = 0,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
} log_level;

/* Lines above level are dropped (default LOG_INFO). */
void log_set_level(log_level level);
log_level log_get_level(void);

/* One line: "<timestamp> <LEVEL> kuniq: <message>". */
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(log_level level, const char *fmt, va_list ap);

/* The level a message announces by its start ("error: ..." ERROR, "warning: ..." WARN, else
 * INFO), for the call sites that write it into the text. */
log_level log_level_of(const char *msg);

#endif
