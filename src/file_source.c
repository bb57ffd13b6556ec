/* file_source.c - the file and stdin source: block reads, in-place lines, decompression, idle
 * detection.
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
 * drops the bytes before the position of a compressed file; a pipe cannot be positioned and is
 * refused.
 *
 * Compression is recognised by the input's first bytes, whatever its name (codec.h): the first
 * read takes just enough bytes to decide; plain input hands those bytes out first, compressed
 * input gives them to its codec. A line ending in "\r\n" may hold max_frame bytes before the
 * '\r' (the '\r' is not part of the frame).
 */
#include "file_source.h"

#include "log.h"

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

#include "codec.h"
#include "frame.h"

#define READ_BLOCK (4u << 20)

struct source {
	int fd;
	codec *codec;  /* NULL: plain input */
	bool probed;   /* the first bytes were examined */
	bool failed;   /* a read or decoding error was reported */
	bool pollable; /* can stall: pipe, terminal, socket */
	bool eof;
	unsigned char head[CODEC_MAGIC_LEN]; /* plain: first bytes read, not handed out yet */
	size_t head_n;
	uint64_t raw_in; /* plain: bytes of the descriptor read (or skipped by a resume) */
	bool skipping;
	bool skip_blank; /* every skipped byte so far was a blank */
	bool no_fill;    /* source_next_batch: lines are handed out, the buffer must not move */
	uint64_t skip_len;
	uint64_t skip_start; /* input offset of the line being skipped */
	uint64_t base;       /* input offset of buf[0] (decompressed when compressed) */
	size_t max_frame;
	char *buf;
	size_t cap, pos, end, scanned;
	char name[256];
};

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
	codec_free(s->codec);
	if (s->fd != STDIN_FILENO)
		close(s->fd);
	free(s->buf);
	free(s);
}

static int read_failed(source *s, const char *why)
{
	log_msg(LOG_ERROR, "%s: %s", s->name, why);
	s->failed = true;
	return CODEC_FAILED;
}

/* Reads the input's first bytes, as many as it takes to tell a compressed format, and starts a
 * codec when they are one. Returns 0, CODEC_AGAIN (a signal) or CODEC_FAILED (reported). */
static int probe(source *s)
{
	while (codec_undecided(s->head, s->head_n)) {
		ssize_t n = read(s->fd, s->head + s->head_n, CODEC_MAGIC_LEN - s->head_n);
		if (n < 0 && errno == EINTR)
			return CODEC_AGAIN;
		if (n < 0)
			return read_failed(s, strerror(errno));
		if (n == 0)
			break;
		s->head_n += (size_t)n;
		s->raw_in += (uint64_t)n;
	}
	s->probed = true;
	codec_kind k = codec_detect(s->head, s->head_n);
	if (k == CODEC_NONE)
		return 0;
	s->codec = codec_new(k, s->head, s->head_n);
	s->head_n = 0;
	return s->codec ? 0 : read_failed(s, "out of memory");
}

/* Up to want bytes of the (decompressed) input into dst. Returns how many, 0 at the end,
 * CODEC_AGAIN when a signal interrupted the read, or CODEC_FAILED (reported). */
static ssize_t read_input(source *s, char *dst, size_t want)
{
	if (s->failed)
		return CODEC_FAILED;
	if (!s->probed) {
		int r = probe(s);
		if (r != 0)
			return r;
	}
	if (s->codec) {
		char err[300];
		ssize_t n = codec_read(s->codec, s->fd, dst, want, err, sizeof(err));
		return n == CODEC_FAILED ? read_failed(s, err) : n;
	}
	if (s->head_n > 0) {
		size_t n = s->head_n < want ? s->head_n : want;
		memcpy(dst, s->head, n);
		memmove(s->head, s->head + n, s->head_n - n);
		s->head_n -= n;
		return (ssize_t)n;
	}
	ssize_t n = read(s->fd, dst, want);
	if (n < 0 && errno == EINTR)
		return CODEC_AGAIN;
	if (n < 0)
		return read_failed(s, strerror(errno));
	s->raw_in += (uint64_t)n;
	return n;
}

/* Bytes of the file read so far: compressed bytes for a compressed file. */
static uint64_t source_bytes_in(const source *s)
{
	return s->codec ? codec_bytes_in(s->codec) : s->raw_in;
}

/* True when reading may block: nothing is buffered before the descriptor. */
static bool must_wait(const source *s)
{
	return s->pollable && s->head_n == 0 && !(s->codec && codec_has_input(s->codec));
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
	if (must_wait(s) && timeout_ms >= 0) {
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		int r = poll(&p, 1, timeout_ms);
		if (r == 0 || (r < 0 && errno == EINTR))
			return SOURCE_IDLE;
	}
	size_t want = s->cap - s->end;
	if (want > READ_BLOCK)
		want = READ_BLOCK;
	ssize_t n = read_input(s, s->buf + s->end, want);
	if (n == CODEC_AGAIN)
		return SOURCE_IDLE;
	if (n < 0)
		return SOURCE_ERROR;
	if (n == 0)
		s->eof = true;
	s->end += (size_t)n;
	return SOURCE_LINE;
}

/* A line's frame length: its trailing '\r' is not part of the frame. */
static size_t frame_len(const char *line, size_t len)
{
	return len > 0 && line[len - 1] == '\r' ? len - 1 : len;
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
			if (frame_len(*line, *len) > s->max_frame)
				return parse_blank(*line, *len) ? SOURCE_BLANK_LONG
				                                : SOURCE_TOO_LONG;
			return SOURCE_LINE;
		} else if (s->end - s->pos > s->max_frame + 1) { /* + 1: a '\r' may end it */
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
	log_msg(LOG_ERROR,
	        "%s: cannot resume at byte %" PRIu64 ": not a regular file (a pipe cannot "
	        "be re-read; remove the checkpoint to start over)",
	        name, byte);
	return -1;
}

static int too_short(const char *name, uint64_t byte)
{
	log_msg(LOG_ERROR,
	        "%s is shorter than the checkpoint position %" PRIu64
	        ": not the file the checkpoint was taken from?",
	        name, byte);
	return -1;
}

/* Drops the first byte decompressed bytes of a compressed source. */
static int decoded_skip(source *s, uint64_t byte)
{
	for (uint64_t left = byte; left > 0;) {
		size_t want = left < READ_BLOCK ? (size_t)left : READ_BLOCK;
		ssize_t n = read_input(s, s->buf, want);
		if (n == CODEC_AGAIN)
			continue;
		if (n < 0)
			return -1;
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
	/* from where reading starts, as positions count (stdin need not be at 0) */
	off_t cur = lseek(s->fd, 0, SEEK_CUR);
	if (cur < 0)
		return cannot_resume(s->name, byte);
	if (probe(s) != 0)
		return -1;
	if (s->codec) {
		if (decoded_skip(s, byte) != 0)
			return -1;
	} else {
		if ((uint64_t)st.st_size < (uint64_t)cur ||
		    (uint64_t)st.st_size - (uint64_t)cur < byte)
			return too_short(s->name, byte);
		if (lseek(s->fd, cur + (off_t)byte, SEEK_SET) < 0) {
			log_msg(LOG_ERROR, "%s: %s", s->name, strerror(errno));
			return -1;
		}
		s->head_n = 0;
		s->raw_in = byte;
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
static void watch(const source_run_cfg *cfg, const source *s, uint64_t before)
{
	if (cfg->watch)
		cfg->watch(cfg->watch_ctx, before + source_bytes_in(s));
}

static int run_one(source *s, int file, const source_run_cfg *cfg, ingest *in, int64_t *offset,
                   uint64_t before, volatile sig_atomic_t *stop)
{
	source_item *lines = malloc(sizeof(*lines) * BATCH);
	parse_item *items = malloc(sizeof(*items) * BATCH);
	int rc = 0;
	if (lines == NULL || items == NULL) {
		log_msg(LOG_ERROR, "out of memory");
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
				watch(cfg, s, before);
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
		watch(cfg, s, before);
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
	log_msg(LOG_ERROR,
	        "the checkpoint position (file %d, byte %" PRIu64 ") is not in the %d "
	        "input(s) given: not the files the checkpoint was taken from?",
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
	uint64_t before = 0; /* input bytes of the files read before */
	for (int i = first; i < n && !*stop; i++) {
		uint64_t at = i == first && resume ? resume->byte : 0;
		char err[512];
		if (at > 0 && unseekable(files[i])) { /* before opening: a FIFO would block */
			cannot_resume(strcmp(files[i], "-") == 0 ? "stdin" : files[i], at);
			return 1;
		}
		source *s = source_open(files[i], cfg->max_frame, err, sizeof(err));
		if (s == NULL) {
			log_msg(LOG_ERROR, "%s", err);
			rc = 1;
			continue;
		}
		if (source_seek(s, at) != 0) {
			source_close(s);
			return 1;
		}
		int r = run_one(s, i, cfg, in, &offset, before, stop);
		before += source_bytes_in(s);
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

uint64_t source_total_bytes(char **files, int nfiles)
{
	uint64_t total = 0;
	struct stat st;
	for (int i = 0; i < (nfiles > 0 ? nfiles : 1); i++) {
		const char *f = nfiles > 0 ? files[i] : "-";
		bool in = strcmp(f, "-") == 0;
		if ((in ? fstat(STDIN_FILENO, &st) : stat(f, &st)) != 0 || !S_ISREG(st.st_mode))
			return 0;
		off_t at = in ? lseek(STDIN_FILENO, 0, SEEK_CUR) : 0;
		total += (uint64_t)st.st_size - (at > 0 && at <= st.st_size ? (uint64_t)at : 0);
	}
	return total;
}
