/* stdout_sink.c - results as JSON lines on stdout, flushed per record so a result is readable
 * as soon as it is final (records are rare next to frames: one per window). */
#include "stdout_sink.h"

#include <errno.h>
#include <string.h>

static int emit(void *ctx, const result *r)
{
	stdout_sink *s = ctx;
	char buf[512];
	size_t n = result_format_json(r, s->cal, buf, sizeof(buf) - 1);
	if (n >= sizeof(buf) - 1)
		return -1;
	buf[n++] = '\n';
	if (fwrite(buf, 1, n, s->out) != n || fflush(s->out) != 0) {
		if (!s->failed)
			fprintf(stderr, "kuniq: writing results: %s\n", strerror(errno));
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
