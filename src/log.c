/* log.c - timestamped, levelled log lines on stderr (see log.h). */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static log_level max_level = LOG_INFO; /* the one process-wide setting (log.h) */

void log_set_level(log_level level)
{
	max_level = level;
}

log_level log_get_level(void)
{
	return max_level;
}

log_level log_level_of(const char *msg)
{
	if (strncmp(msg, "error", 5) == 0)
		return LOG_ERROR;
	if (strncmp(msg, "warning", 7) == 0)
		return LOG_WARN;
	return LOG_INFO;
}

void log_vmsg(log_level level, const char *fmt, va_list ap)
{
	if (level > max_level)
		return;
	static const char *const names[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char stamp[32], msg[1200];
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	vsnprintf(msg, sizeof msg, fmt, ap);
	fprintf(stderr, "%s.%03ldZ %s kuniq: %s\n", stamp, ts.tv_nsec / 1000000L, names[level],
	        msg);
}

void log_msg(log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
