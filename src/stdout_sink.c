/* stdout_sink.c - results as JSON lines on stdout, flushed per record so a result is readable
 * as soon as it is final (records are rare next to frames: one per window).
 *
 * A write that fails with EPIPE means the reader went away (`kuniq | head -1`): with a stop flag
 * the sink sets it and stays silent, since nobody is left to read results. Any other failure
 * (ENOSPC on a full disk) is an error, reported once. */
#include "stdout_sink.h"

#include "log.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

static void reader_went_away(stdout_sink *s)
{
	s->reader_gone = true;
	if (s->stop)
		*s->stop = 1;
}

static int emit(void *ctx, const result *r)
{
	stdout_sink *s = ctx;
	char buf[512];
	size_t n = result_format_json(r, s->cal, buf, sizeof(buf) - 1);
	if (n >= sizeof(buf) - 1)
		return -1;
	buf[n++] = '\n';
	if (fwrite(buf, 1, n, s->out) != n || fflush(s->out) != 0) {
		int err = errno;
		if (err == EPIPE && s->stop)
			reader_went_away(s);
		else if (!s->failed)
			log_msg(LOG_ERROR, "writing results: %s", strerror(err));
		s->failed = 1;
		return -1;
	}
	return 0;
}

result_sink stdout_sink_make(stdout_sink *s, FILE *out, const calendar *cal)
{
	*s = (stdout_sink){.out = out, .cal = cal};
	return (result_sink){.emit = emit, .ctx = s};
}

void stdout_sink_stop_on_close(stdout_sink *s, volatile sig_atomic_t *stop)
{
	s->stop = stop;
}

bool stdout_sink_check_reader(stdout_sink *s)
{
	if (s->reader_gone || s->stop == NULL)
		return s->reader_gone;
	/* a pipe's write end reports POLLERR once its last reader closed */
	struct pollfd p = {.fd = fileno(s->out), .events = 0};
	if (p.fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLERR))
		reader_went_away(s);
	return s->reader_gone;
}
