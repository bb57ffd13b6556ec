/* file_source.c - the file and stdin source: block reads, in-place lines, gzip, idle detection.
 *
 * The buffer holds [pos, end) unread bytes; memchr (vectorised in glibc) finds the next newline,
 * remembering how far it already looked so a long line is scanned once. When no newline is left,
 * the remainder moves to the front and the next block is read behind it. A line that outgrows
 * max_frame switches the source to skipping until its newline, counting its length.
 */
#include "file_source.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "frame.h"

#define READ_BLOCK (4u << 20)

struct source {
	int fd;
	gzFile gz;
	bool pollable; /* can stall: pipe, terminal, socket */
	bool eof;
	bool skipping;
	bool skip_blank; /* every skipped byte so far was a blank */
	bool no_fill;    /* source_next_batch: lines are handed out, the buffer must not move */
	uint64_t skip_len;
	size_t max_frame;
	char *buf;
	size_t cap, pos, end, scanned;
	char name[256];
};

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && strcmp(s + n - m, suf) == 0;
}

source *source_open(const char *path, size_t max_frame, char *err, size_t errlen)
{
	bool is_stdin = strcmp(path, "-") == 0;
	int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	source *s = calloc(1, sizeof(*s));
	size_t cap = READ_BLOCK + max_frame + 1;
	char *buf = malloc(cap + FRAME_PADDING);
	if (s == NULL || buf == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	memset(buf + cap, 0, FRAME_PADDING);
	struct stat st;
	s->fd = fd;
	s->pollable = fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode);
	s->max_frame = max_frame;
	s->buf = buf;
	s->cap = cap;
	snprintf(s->name, sizeof(s->name), "%s", is_stdin ? "stdin" : path);
	if (has_suffix(path, ".gz")) {
		s->gz = gzdopen(is_stdin ? dup(fd) : fd, "rb");
		if (s->gz == NULL) {
			snprintf(err, errlen, "%s: cannot start gzip decoding", path);
			goto fail;
		}
		gzbuffer(s->gz, 1u << 20);
		s->pollable = false;
	}
	return s;
fail:
	free(buf);
	free(s);
	if (!is_stdin)
		close(fd);
	return NULL;
}

void source_close(source *s)
{
	if (s == NULL)
		return;
	if (s->gz)
		gzclose(s->gz); /* closes the descriptor it was given */
	else if (s->fd != STDIN_FILENO)
		close(s->fd);
	free(s->buf);
	free(s);
}

/* Reads more bytes behind end. Returns SOURCE_LINE when bytes (or EOF) came, else IDLE/ERROR. */
static source_event fill(source *s, int timeout_ms)
{
	if (s->pos > 0) {
		memmove(s->buf, s->buf + s->pos, s->end - s->pos);
		s->end -= s->pos;
		s->scanned -= s->pos;
		s->pos = 0;
	}
	if (s->pollable && timeout_ms >= 0) {
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		int r = poll(&p, 1, timeout_ms);
		if (r == 0 || (r < 0 && errno == EINTR))
			return SOURCE_IDLE;
	}
	size_t want = s->cap - s->end;
	if (want > READ_BLOCK)
		want = READ_BLOCK;
	ssize_t n;
	if (s->gz) {
		n = gzread(s->gz, s->buf + s->end, (unsigned)want);
		if (n < 0) {
			int zerr;
			fprintf(stderr, "kuniq: %s: %s\n", s->name, gzerror(s->gz, &zerr));
			return SOURCE_ERROR;
		}
	} else {
		n = read(s->fd, s->buf + s->end, want);
		if (n < 0 && errno == EINTR)
			return SOURCE_IDLE;
		if (n < 0) {
			fprintf(stderr, "kuniq: %s: %s\n", s->name, strerror(errno));
			return SOURCE_ERROR;
		}
	}
	if (n == 0)
		s->eof = true;
	s->end += (size_t)n;
	return SOURCE_LINE;
}

/* Next line; *raw: the bytes it took in the input, its '\n' included. */
static source_event source_next(source *s, int timeout_ms, const char **line, size_t *len,
                                size_t *raw)
{
	for (;;) {
		char *from = s->buf + s->scanned;
		char *nl = memchr(from, '\n', s->end - s->scanned);
		if (s->skipping) {
			size_t upto = nl ? (size_t)(nl - s->buf) : s->end;
			s->skip_blank =
			    s->skip_blank && parse_blank(s->buf + s->pos, upto - s->pos);
			s->skip_len += upto - s->pos;
			s->pos = s->scanned = nl ? upto + 1 : s->end;
			if (nl || (s->eof && s->pos == s->end)) {
				s->skipping = false;
				*len = (size_t)s->skip_len;
				*raw = *len + (nl != NULL);
				return s->skip_blank ? SOURCE_BLANK_LONG : SOURCE_TOO_LONG;
			}
		} else if (nl || (s->eof && s->end > s->pos)) {
			size_t stop = nl ? (size_t)(nl - s->buf) : s->end;
			*line = s->buf + s->pos;
			*len = stop - s->pos;
			*raw = *len + (nl != NULL);
			s->pos = s->scanned = nl ? stop + 1 : stop;
			if (*len > s->max_frame)
				return parse_blank(*line, *len) ? SOURCE_BLANK_LONG
				                                : SOURCE_TOO_LONG;
			return SOURCE_LINE;
		} else if (s->end - s->pos > s->max_frame) {
			s->skipping = true;
			s->skip_blank = true;
			s->skip_len = 0;
			continue;
		} else {
			s->scanned = s->end;
		}
		if (s->eof)
			return SOURCE_EOF;
		if (s->no_fill)
			return SOURCE_AGAIN;
		source_event ev = fill(s, timeout_ms);
		if (ev != SOURCE_LINE)
			return ev;
	}
}

size_t source_next_batch(source *s, int timeout_ms, source_item *items, size_t max,
                         source_event *ev)
{
	size_t n = 0;
	*ev = SOURCE_LINE;
	while (n < max) {
		s->no_fill = n > 0; /* refilling would move the lines already handed out */
		source_item *it = &items[n];
		source_event e = source_next(s, timeout_ms, &it->line, &it->len, &it->bytes);
		s->no_fill = false;
		if (e != SOURCE_LINE && e != SOURCE_TOO_LONG && e != SOURCE_BLANK_LONG) {
			if (n == 0)
				*ev = e;
			break;
		}
		it->kind = e;
		n++;
	}
	return n;
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Idle handling. Reading the clock per frame would cost more than the rest of the loop, so
 * the idle timer starts when a wait for input begins: a source only waits (polls) once its
 * buffer holds no complete line, i.e. right after the last frame that arrived. While waiting,
 * polls last at most a second so the engine's clock can follow wall time once idle. */
typedef struct idle_state {
	double since; /* start of the current wait, or < 0 while frames flow */
	bool idle;    /* the engine was told the input is idle */
} idle_state;

static int poll_timeout(const source_run_cfg *cfg, const idle_state *st)
{
	if (cfg->idle_timeout <= 0)
		return -1;
	double left =
	    st->since < 0 ? cfg->idle_timeout : cfg->idle_timeout - (mono_now() - st->since);
	if (left <= 0)
		return 1000;
	return left > 1.0 ? 1000 : (int)(left * 1000) + 1;
}

static void on_wait(const source_run_cfg *cfg, ingest *in, idle_state *st, int waited_ms)
{
	double now = mono_now();
	if (st->since < 0)
		st->since = now - waited_ms / 1000.0;
	if (cfg->idle_timeout <= 0 || now - st->since < cfg->idle_timeout)
		return;
	int64_t wall = (int64_t)time(NULL);
	if (!st->idle)
		ingest_idle(in, cfg->input, wall);
	else
		ingest_wall_tick(in, wall);
	st->idle = true;
}

#define BATCH 4096

/* Reads one source to its end, a buffered batch of lines at a time, handed to ingest (which
 * parses them on its threads and applies them in order). */
static int run_one(source *s, const source_run_cfg *cfg, ingest *in, int64_t *offset,
                   volatile sig_atomic_t *stop)
{
	source_item *lines = malloc(sizeof(*lines) * BATCH);
	parse_item *items = malloc(sizeof(*items) * BATCH);
	int rc = 0;
	if (lines == NULL || items == NULL) {
		fprintf(stderr, "kuniq: out of memory\n");
		rc = 1;
	}
	idle_state st = {.since = -1, .idle = false};
	while (rc == 0 && !*stop) {
		int timeout = poll_timeout(cfg, &st);
		source_event ev;
		size_t n = source_next_batch(s, timeout, lines, BATCH, &ev);
		if (n == 0) {
			if (ev == SOURCE_IDLE) {
				on_wait(cfg, in, &st, timeout);
				continue;
			}
			rc = ev == SOURCE_EOF ? 0 : 1;
			break;
		}
		for (size_t i = 0; i < n; i++) {
			source_event k = lines[i].kind;
			items[i] = (parse_item){
			    .buf = lines[i].line,
			    .len = lines[i].len,
			    .padded = true,
			    .preset = k == SOURCE_LINE         ? FRAME_OK
			              : k == SOURCE_BLANK_LONG ? FRAME_EMPTY
			                                       : FRAME_TOO_LONG,
			    .input = cfg->input,
			    .offset = (*offset)++,
			    .bytes = lines[i].bytes,
			};
			if (k != SOURCE_LINE)
				items[i].buf = NULL; /* skipped bytes; len still counts them */
		}
		ingest_batch(in, items, n);
		st.since = -1;
		st.idle = false;
	}
	free(lines);
	free(items);
	return rc;
}

int source_run(const source_run_cfg *cfg, ingest *in, volatile sig_atomic_t *stop)
{
	static char *const stdin_only[] = {"-"};
	char *const *files = cfg->nfiles > 0 ? cfg->files : stdin_only;
	int n = cfg->nfiles > 0 ? cfg->nfiles : 1, rc = 0;
	int64_t offset = 0;
	for (int i = 0; i < n && !*stop; i++) {
		char err[512];
		source *s = source_open(files[i], cfg->max_frame, err, sizeof(err));
		if (s == NULL) {
			fprintf(stderr, "kuniq: %s\n", err);
			rc = 1;
			continue;
		}
		rc |= run_one(s, cfg, in, &offset, stop);
		source_close(s);
	}
	return rc;
}
