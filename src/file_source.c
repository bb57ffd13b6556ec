/* file_source.c - the file and stdin source: block reads, in-place lines, gzip, idle detection.
 *
 * The buffer holds [pos, end) unread bytes; memchr (vectorised in glibc) finds the next newline,
 * remembering how far it already looked so a long line is scanned once. When no newline is left,
 * the remainder moves to the front and the next block is read behind it. A line that outgrows
 * max_frame switches the source to skipping until its newline, counting its length.
 *
 * Positions for checkpoints cost nothing per line: base is the input offset of buf[0] (it moves
 * only when fill() shifts the buffer), so the bytes consumed by the lines handed out are
 * base + pos, or where the skipped line began while one is being skipped. source_run reads them
 * once per batch for its safe-point hook. Resuming seeks a regular file, or decompresses and
 * drops the bytes before the position of a .gz file; a pipe cannot be positioned and is refused.
 */
#include "file_source.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
	uint64_t skip_start; /* input offset of the line being skipped */
	uint64_t base;       /* input offset of buf[0] (decompressed for gz) */
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
		s->base += s->pos;
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
			s->skip_start = s->base + s->pos;
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

/* Input bytes taken by the items handed out so far (a line being skipped is not handed out). */
static uint64_t source_consumed(const source *s)
{
	return s->skipping ? s->skip_start : s->base + s->pos;
}

static int cannot_resume(const char *name, uint64_t byte)
{
	fprintf(stderr,
	        "kuniq: %s: cannot resume at byte %" PRIu64 ": not a regular file (a pipe cannot "
	        "be re-read; remove the checkpoint to start over)\n",
	        name, byte);
	return -1;
}

static int too_short(const char *name, uint64_t byte)
{
	fprintf(stderr,
	        "kuniq: %s is shorter than the checkpoint position %" PRIu64
	        ": not the file the checkpoint was taken from?\n",
	        name, byte);
	return -1;
}

/* Drops the first byte decompressed bytes of a gzip source. */
static int gz_skip(source *s, uint64_t byte)
{
	for (uint64_t left = byte; left > 0;) {
		unsigned want = left < READ_BLOCK ? (unsigned)left : READ_BLOCK;
		int n = gzread(s->gz, s->buf, want);
		if (n < 0) {
			int zerr;
			fprintf(stderr, "kuniq: %s: %s\n", s->name, gzerror(s->gz, &zerr));
			return -1;
		}
		if (n == 0)
			return too_short(s->name, byte);
		left -= (uint64_t)n;
	}
	return 0;
}

/* Positions a fresh source byte bytes into its input. Returns 0, or -1 (reported on stderr). */
static int source_seek(source *s, uint64_t byte)
{
	struct stat st;
	if (byte == 0)
		return 0;
	if (fstat(s->fd, &st) != 0 || !S_ISREG(st.st_mode))
		return cannot_resume(s->name, byte);
	if (s->gz) {
		if (gz_skip(s, byte) != 0)
			return -1;
	} else {
		/* from where reading starts, as positions count (stdin need not be at 0) */
		off_t cur = lseek(s->fd, 0, SEEK_CUR);
		if (cur < 0 || (uint64_t)st.st_size < (uint64_t)cur ||
		    (uint64_t)st.st_size - (uint64_t)cur < byte)
			return cur < 0 ? cannot_resume(s->name, byte) : too_short(s->name, byte);
		if (lseek(s->fd, (off_t)byte, SEEK_CUR) < 0) {
			fprintf(stderr, "kuniq: %s: %s\n", s->name, strerror(errno));
			return -1;
		}
	}
	s->base = byte;
	return 0;
}

bool source_path_seekable(const char *path)
{
	struct stat st;
	int r = strcmp(path, "-") == 0 ? fstat(STDIN_FILENO, &st) : stat(path, &st);
	return r == 0 && S_ISREG(st.st_mode);
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

enum { RUN_EOF = 0, RUN_ERROR = 1, RUN_HALTED = 2 /* safe_point said stop */ };

/* Reads one source (file index file) to its end, a buffered batch of lines at a time, handed to
 * ingest (which parses them on its threads and applies them in order). Returns a RUN_ value;
 * RUN_EOF also when *stop was set. */
static int run_one(source *s, int file, const source_run_cfg *cfg, ingest *in, int64_t *offset,
                   volatile sig_atomic_t *stop)
{
	source_item *lines = malloc(sizeof(*lines) * BATCH);
	parse_item *items = malloc(sizeof(*items) * BATCH);
	int rc = 0;
	if (lines == NULL || items == NULL) {
		fprintf(stderr, "kuniq: out of memory\n");
		rc = RUN_ERROR;
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
			rc = ev == SOURCE_EOF ? RUN_EOF : RUN_ERROR;
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
		if (cfg->safe_point) {
			source_pos p = {.file = file, .byte = source_consumed(s), .line = *offset};
			if (cfg->safe_point(cfg->safe_ctx, &p) != 0)
				rc = RUN_HALTED;
		}
	}
	free(lines);
	free(items);
	return rc;
}

/* True for an input that exists but cannot be positioned (a missing file is left to
 * source_open to report). */
static bool unseekable(const char *path)
{
	struct stat st;
	return (strcmp(path, "-") == 0 || stat(path, &st) == 0) && !source_path_seekable(path);
}

/* A resume position must lie in the files given (at the end of the last one at most). */
static bool resume_in_range(const source_pos *r, int n)
{
	if (r->file >= 0 && r->line >= 0 && (r->file < n || (r->file == n && r->byte == 0)))
		return true;
	fprintf(stderr,
	        "kuniq: the checkpoint position (file %d, byte %" PRIu64 ") is not in the %d "
	        "input(s) given: not the files the checkpoint was taken from?\n",
	        r->file + 1, r->byte, n);
	return false;
}

int source_run(const source_run_cfg *cfg, ingest *in, volatile sig_atomic_t *stop)
{
	static char *const stdin_only[] = {"-"};
	char *const *files = cfg->nfiles > 0 ? cfg->files : stdin_only;
	int n = cfg->nfiles > 0 ? cfg->nfiles : 1, rc = 0;
	const source_pos *resume = cfg->resume;
	if (resume && !resume_in_range(resume, n))
		return 1;
	int first = resume ? resume->file : 0;
	int64_t offset = resume ? resume->line : 0;
	for (int i = first; i < n && !*stop; i++) {
		uint64_t at = i == first && resume ? resume->byte : 0;
		char err[512];
		if (at > 0 && unseekable(files[i])) { /* before opening: a FIFO would block */
			cannot_resume(strcmp(files[i], "-") == 0 ? "stdin" : files[i], at);
			return 1;
		}
		source *s = source_open(files[i], cfg->max_frame, err, sizeof(err));
		if (s == NULL) {
			fprintf(stderr, "kuniq: %s\n", err);
			rc = 1;
			continue;
		}
		if (source_seek(s, at) != 0) {
			source_close(s);
			return 1;
		}
		int r = run_one(s, i, cfg, in, &offset, stop);
		source_close(s);
		if (r == RUN_HALTED)
			return 1;
		rc |= r;
		if (r == RUN_EOF && !*stop && cfg->safe_point) {
			source_pos p = {.file = i + 1, .byte = 0, .line = offset};
			if (cfg->safe_point(cfg->safe_ctx, &p) != 0)
				return 1;
		}
	}
	return rc;
}
