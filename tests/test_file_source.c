/* Tests for file_source.c: line splitting, long lines skipped in bounded memory, gzip and zstd
 * recognised by their first bytes (concatenated members, truncated and corrupt input), a CRLF
 * frame at the --max-frame boundary, padding;
 * source_run's resume positions and safe points (every reported position resumes to exactly the
 * remaining lines, plain and gzip files, a long line skipped across a read), and the inputs that
 * cannot resume (pipes, stdin on a pipe, files shorter than the position). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>

#include "file_source.h"
#include "frame.h"
#include "ingest.h"
#include "log_line.h"

static char path[64];

static void write_file(const char *data, size_t n)
{
	strcpy(path, "/tmp/kuniq-test-source-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

/* One line at a time through source_next_batch. */
static source_event next_raw(source *s, const char **line, size_t *len, size_t *raw)
{
	source_item it;
	source_event ev;
	if (source_next_batch(s, -1, &it, 1, &ev) == 0)
		return ev;
	*line = it.line;
	*len = it.len;
	*raw = it.bytes;
	return it.kind;
}

static source_event next(source *s, const char **line, size_t *len)
{
	size_t raw;
	return next_raw(s, line, len, &raw);
}

static void test_lines_and_last_line(void **state)
{
	(void)state;
	static const char data[] = "a\nbb\r\n\n{\"x\":1}";
	write_file(data, sizeof(data) - 1);
	char err[128];
	source *s = source_open(path, 100, err, sizeof(err));
	assert_non_null(s);
	const char *l;
	size_t n, raw;
	assert_int_equal(next_raw(s, &l, &n, &raw), SOURCE_LINE);
	assert_int_equal(n, 1);
	assert_int_equal(raw, 2); /* the newline counts in the bytes read */
	assert_memory_equal(l, "a", 1);
	assert_int_equal(next_raw(s, &l, &n, &raw), SOURCE_LINE);
	assert_int_equal(n, 3); /* \r is the parser's whitespace / ingest's to strip */
	assert_int_equal(raw, 4);
	assert_int_equal(next_raw(s, &l, &n, &raw), SOURCE_LINE);
	assert_int_equal(n, 0);
	assert_int_equal(raw, 1);
	assert_int_equal(next_raw(s, &l, &n, &raw), SOURCE_LINE);
	assert_int_equal(n, 7);
	assert_int_equal(raw, 7); /* no final newline */
	assert_memory_equal(l, "{\"x\":1}", 7);
	assert_int_equal(next(s, &l, &n), SOURCE_EOF);
	source_close(s);
	unlink(path);
}

static void test_long_lines_skipped(void **state)
{
	(void)state;
	size_t big = 9u << 20; /* longer than the read block: skipped across reads */
	char *data = malloc(big + 64);
	memset(data, 'x', big + 64);
	memcpy(data, "ok\n", 3);
	data[3 + 200] = '\n'; /* 200-byte line: too long for max 100 */
	data[big + 10] = '\n';
	memcpy(data + big + 11, "end", 3);
	write_file(data, big + 14);
	free(data);
	char err[128];
	source *s = source_open(path, 100, err, sizeof(err));
	const char *l;
	size_t n;
	assert_int_equal(next(s, &l, &n), SOURCE_LINE);
	assert_int_equal(next(s, &l, &n), SOURCE_TOO_LONG);
	assert_int_equal(n, 200);
	assert_int_equal(next(s, &l, &n), SOURCE_TOO_LONG);
	assert_int_equal(n, big + 10 - 204);
	assert_int_equal(next(s, &l, &n), SOURCE_LINE);
	assert_int_equal(n, 3);
	assert_int_equal(next(s, &l, &n), SOURCE_EOF);
	source_close(s);
	unlink(path);
}

static void test_gzip_and_errors(void **state)
{
	(void)state;
	char gzpath[80];
	snprintf(gzpath, sizeof(gzpath), "/tmp/kuniq-test-source-%d.gz", (int)getpid());
	gzFile gz = gzopen(gzpath, "wb");
	for (int i = 0; i < 100000; i++)
		gzprintf(gz, "line %d\n", i);
	gzclose(gz);
	char err[128];
	source *s = source_open(gzpath, 100, err, sizeof(err));
	assert_non_null(s);
	const char *l;
	size_t n;
	int lines = 0;
	source_event ev;
	while ((ev = next(s, &l, &n)) == SOURCE_LINE) {
		char want[32];
		int wn = snprintf(want, sizeof(want), "line %d", lines++);
		assert_int_equal(n, wn);
		assert_memory_equal(l, want, n);
	}
	assert_int_equal(ev, SOURCE_EOF);
	assert_int_equal(lines, 100000);
	source_close(s);
	unlink(gzpath);
	assert_null(source_open("/nonexistent/kuniq", 100, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
}

/* Batches hand out buffered lines only; every line of a batch stays intact until the next call. */
static void test_batches(void **state)
{
	(void)state;
	size_t n = 300000, cap = n * 16, off = 0;
	char *data = malloc(cap);
	for (size_t i = 0; i < n; i++)
		off += (size_t)sprintf(data + off, i % 1000 == 7 ? "%zu%0200d\n" : "%zu\n", i, 0);
	write_file(data, off);
	free(data);
	char err[128];
	source *s = source_open(path, 100, err, sizeof(err));
	static source_item items[4096];
	size_t seen = 0, batches = 0, too_long = 0;
	source_event ev;
	size_t got;
	while ((got = source_next_batch(s, -1, items, 4096, &ev)) > 0) {
		batches++;
		for (size_t i = 0; i < got; i++, seen++) {
			if (seen % 1000 == 7) {
				assert_int_equal(items[i].kind, SOURCE_TOO_LONG);
				too_long++;
				continue;
			}
			char want[32];
			int wn = snprintf(want, sizeof(want), "%zu", seen);
			assert_int_equal(items[i].kind, SOURCE_LINE);
			assert_int_equal(items[i].len, wn);
			assert_memory_equal(items[i].line, want, (size_t)wn);
		}
	}
	assert_int_equal(ev, SOURCE_EOF);
	assert_int_equal(seen, n);
	assert_int_equal(too_long, 300);
	assert_true(batches > n / 4096);
	source_close(s);
	unlink(path);
}

/* ---- compressed input: recognised by its first bytes; truncated and corrupt input ------------ */

/* "line 0\n" ... "line <n-1>\n" gzip-compressed into buf (one member); returns its size. */
static size_t gzip_lines(unsigned char *buf, size_t cap, int from, int n)
{
	z_stream z = {0};
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
	                 Z_OK);
	size_t len = 0;
	char *text = malloc((size_t)n * 16 + 1);
	for (int i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "line %d\n", from + i);
	z.next_in = (Bytef *)text;
	z.avail_in = (uInt)len;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t out = z.total_out;
	deflateEnd(&z);
	free(text);
	return out;
}

/* Reads every line of path ("line 0", "line 1", ... in order) with stderr captured into msg.
 * Returns the event that ended the reading; *lines: how many lines were read. */
static source_event read_lines(const char *p, int *lines, char *msg, size_t cap)
{
	char tmpl[] = "/tmp/kuniq-test-stderr-XXXXXX";
	int fd = mkstemp(tmpl);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	char err[128];
	source *s = source_open(p, 100, err, sizeof(err));
	assert_non_null(s);
	const char *l;
	size_t n;
	source_event ev;
	*lines = 0;
	while ((ev = next(s, &l, &n)) == SOURCE_LINE) {
		char want[32];
		int wn = snprintf(want, sizeof(want), "line %d", (*lines)++);
		assert_int_equal(n, wn);
		assert_memory_equal(l, want, n);
	}
	source_close(s);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ssize_t got = pread(fd, msg, cap - 1, 0);
	msg[got > 0 ? got : 0] = '\0';
	close(fd);
	unlink(tmpl);
	return ev;
}

/* gzip and zstd are recognised by their magic bytes, not by the file's name; concatenated gzip
 * members are one stream. */
static void test_compressed_by_magic(void **state)
{
	(void)state;
	size_t cap = 1u << 20;
	unsigned char *buf = malloc(cap);
	size_t a = gzip_lines(buf, cap, 0, 30000);
	size_t b = gzip_lines(buf + a, cap - a, 30000, 20000); /* a second member */
	write_file((char *)buf, a + b);
	char msg[512];
	int lines;
	assert_int_equal(read_lines(path, &lines, msg, sizeof(msg)), SOURCE_EOF);
	assert_int_equal(lines, 50000);
	assert_string_equal(msg, "");
	unlink(path);

	char *text = malloc(cap);
	size_t len = 0;
	for (int i = 0; i < 40000; i++)
		len += (size_t)sprintf(text + len, "line %d\n", i);
	size_t z = ZSTD_compress(buf, cap, text, len, 3);
	assert_false(ZSTD_isError(z));
	write_file((char *)buf, z);
	assert_int_equal(read_lines(path, &lines, msg, sizeof(msg)), SOURCE_EOF);
	assert_int_equal(lines, 40000);
	unlink(path);

	/* plain text that starts like a magic is plain */
	write_file("line 0\n", 7);
	assert_int_equal(read_lines(path, &lines, msg, sizeof(msg)), SOURCE_EOF);
	assert_int_equal(lines, 1);
	unlink(path);
	free(text);
	free(buf);
}

/* A truncated or corrupt compressed file: the lines before the break are read, then an error
 * naming the file and the compressed byte offset. */
static void test_compressed_broken(void **state)
{
	(void)state;
	size_t cap = 1u << 20;
	unsigned char *buf = malloc(cap);
	size_t n = gzip_lines(buf, cap, 0, 60000);
	size_t cut = n / 2;
	write_file((char *)buf, cut);
	char msg[512], want[256];
	int lines;
	assert_int_equal(read_lines(path, &lines, msg, sizeof(msg)), SOURCE_ERROR);
	assert_true(lines > 10000 && lines < 60000);
	snprintf(
	    want, sizeof(want),
	    "kuniq: %s: truncated gzip input: it ends at byte %zu inside a compressed member\n",
	    path, cut);
	assert_string_equal(log_body(msg), want);
	unlink(path);

	/* a complete member, then a damaged one: every line of the first is read */
	size_t first = gzip_lines(buf, cap, 0, 1000);
	size_t second = gzip_lines(buf + first, cap - first, 1000, 1000);
	buf[first + 3] = 0xff; /* reserved flag bits of the second header */
	write_file((char *)buf, first + second);
	assert_int_equal(read_lines(path, &lines, msg, sizeof(msg)), SOURCE_ERROR);
	assert_int_equal(lines, 1000);
	snprintf(want, sizeof(want), "kuniq: %s: corrupt gzip input at byte %zu", path, first + 4);
	assert_non_null(strstr(msg, want));
	unlink(path);

	/* zstd cut short */
	char *text = malloc(cap);
	size_t len = 0;
	for (int i = 0; i < 40000; i++)
		len += (size_t)sprintf(text + len, "line %d\n", i);
	size_t z = ZSTD_compress(buf, cap, text, len, 3);
	write_file((char *)buf, z - 10);
	assert_int_equal(read_lines(path, &lines, msg, sizeof(msg)), SOURCE_ERROR);
	assert_true(lines > 0 && lines < 40000);
	snprintf(want, sizeof(want), "kuniq: %s: truncated zstd input: it ends at byte %zu", path,
	         z - 10);
	assert_non_null(strstr(msg, want));
	unlink(path);
	free(text);
	free(buf);
}

/* A line of max_frame bytes before "\r\n" is a frame; one byte more is too long (also when
 * the line is the last, without '\n'). */
static void test_crlf_at_max_frame(void **state)
{
	(void)state;
	static const char data[] = "0123456789\r\n0123456789A\r\n0123456789\r";
	write_file(data, sizeof(data) - 1);
	char err[128];
	source *s = source_open(path, 10, err, sizeof(err));
	const char *l;
	size_t n;
	assert_int_equal(next(s, &l, &n), SOURCE_LINE);
	assert_int_equal(n, 11);
	assert_int_equal(next(s, &l, &n), SOURCE_TOO_LONG);
	assert_int_equal(n, 12);
	assert_int_equal(next(s, &l, &n), SOURCE_LINE);
	assert_int_equal(n, 11);
	assert_int_equal(next(s, &l, &n), SOURCE_EOF);
	source_close(s);
	unlink(path);
}

/* ---- source_run: resume positions and safe points --------------------------------------- */

#define T0 1468244340LL /* a minute boundary, 2016 */
#define MAX_FRAME 4096
#define NFILES 3
#define MAX_LINES 8000

/* The test input: three files (plain, gzip, plain without a final newline). Line i of the run
 * (counted across files) is either a valid frame of uid u<i> at T0 + 60 i, alone in its minute,
 * or a line too long for MAX_FRAME; so the windows emitted tell exactly which lines were read. */
typedef struct corpus {
	char dir[64];
	char name[NFILES][96];
	char *files[NFILES];
	int nlines, first[NFILES + 1]; /* lines of file f: first[f] .. first[f + 1] - 1 */
	uint64_t start[MAX_LINES];     /* line's first byte in its file (decompressed) */
	uint64_t bytes[MAX_LINES];     /* its bytes, '\n' included */
	bool valid[MAX_LINES];
	uint64_t size[NFILES]; /* decompressed */
	uint64_t straddle;     /* the long line read across the first 4 MiB read of file 0 */
} corpus;

static corpus cx;

/* Appends line i to buf (*n bytes so far); *long_line: make it too long, of that length. */
static void gen_line(char *buf, size_t *n, int i, size_t long_line)
{
	if (long_line) {
		memset(buf + *n, 'y', long_line);
		*n += long_line;
	} else {
		int pad = (i * 7919) % 3000;
		*n += (size_t)sprintf(buf + *n, "{\"uid\":\"u%d\",\"ts\":%lld,\"pad\":\"%0*d\"}", i,
		                      T0 + 60LL * i, pad, 0);
	}
}

/* File f holds lines [first, first + count); returns its bytes in a new buffer. */
static char *gen_file(int f, int count, bool final_newline, bool straddle, size_t *len)
{
	size_t cap = (size_t)count * 3200 + 64 * 1024;
	char *buf = malloc(cap);
	size_t n = 0;
	for (int k = 0; k < count; k++) {
		int i = cx.nlines++;
		assert_true(i < MAX_LINES);
		size_t long_line = 0;
		if (straddle && cx.straddle == 0 && n >= (4u << 20) - 8000 &&
		    n < (4u << 20) - 5000) {
			long_line = 20000; /* starts > MAX_FRAME before the end of the first read */
			cx.straddle = (uint64_t)i;
		} else if (i % 97 == 50) {
			long_line = MAX_FRAME + 1 + (size_t)(i % 300);
		}
		cx.start[i] = n;
		gen_line(buf, &n, i, long_line);
		if (final_newline || k + 1 < count)
			buf[n++] = '\n';
		cx.bytes[i] = n - cx.start[i];
		cx.valid[i] = long_line == 0;
		assert_true(n < cap);
	}
	cx.size[f] = n;
	*len = n;
	return buf;
}

static int corpus_setup(void **state)
{
	(void)state;
	memset(&cx, 0, sizeof(cx));
	strcpy(cx.dir, "/tmp/kuniq-test-resume-XXXXXX");
	assert_non_null(mkdtemp(cx.dir));
	static const char *names[NFILES] = {"a.jsonl", "b.jsonl.gz", "c.jsonl"};
	static const int counts[NFILES] = {3600, 1500, 7};
	for (int f = 0; f < NFILES; f++) {
		snprintf(cx.name[f], sizeof(cx.name[f]), "%s/%s", cx.dir, names[f]);
		cx.files[f] = cx.name[f];
		cx.first[f] = cx.nlines;
		size_t len;
		char *data = gen_file(f, counts[f], f != 2, f == 0, &len);
		if (f == 1) {
			gzFile gz = gzopen(cx.name[f], "wb");
			assert_int_equal(gzwrite(gz, data, (unsigned)len), (int)len);
			gzclose(gz);
		} else {
			FILE *fp = fopen(cx.name[f], "wb");
			assert_int_equal(fwrite(data, 1, len, fp), len);
			fclose(fp);
		}
		free(data);
	}
	cx.first[NFILES] = cx.nlines;
	assert_true(cx.size[0] > (5u << 20)); /* more than one read */
	assert_true(cx.straddle > 0);
	return 0;
}

static int corpus_teardown(void **state)
{
	(void)state;
	for (int f = 0; f < NFILES; f++)
		unlink(cx.name[f]);
	rmdir(cx.dir);
	return 0;
}

/* One run of source_run over the corpus into a real ingest and engine. */
typedef struct run {
	uint8_t frames[MAX_LINES]; /* frames counted in line i's window */
	int windows;
	source_pos pos[64]; /* safe points reported */
	int npos;
	int stop_after; /* safe point that stops the run (1-based), 0: none */
	uint64_t frames_read, bytes, too_long;
	int rc;
} run;

static int run_emit(void *ctx, const result *r)
{
	run *ru = ctx;
	int64_t i = (r->start - T0) / 60;
	assert_true(r->kind == WINDOW_MINUTE && i >= 0 && i < cx.nlines && r->start == T0 + 60 * i);
	assert_int_equal(r->uniques, 1);
	ru->frames[i] += (uint8_t)r->frames;
	ru->windows++;
	return 0;
}

static int run_safe_point(void *ctx, const source_pos *p)
{
	run *ru = ctx;
	assert_true(ru->npos < 64);
	ru->pos[ru->npos++] = *p;
	return ru->stop_after > 0 && ru->npos == ru->stop_after;
}

static void do_run(run *ru, char **files, int nfiles, const source_pos *resume)
{
	frame_parser parser;
	assert_int_equal(frame_parser_init(&parser, "uid", "ts", FRAME_IMPL_AUTO), 0);
	engine_cfg ec = {.kinds = 1u << WINDOW_MINUTE,
	                 .keep_closed = 3600,
	                 .counter = {.mode = COUNTER_EXACT, .exact_limit = 1000000}};
	calendar_init(&ec.cal, NULL);
	engine *eng = engine_new(&ec, (result_sink){.emit = run_emit, .ctx = ru});
	assert_non_null(eng);
	ingest in;
	ingest_cfg ic = {.parser = &parser,
	                 .max_frame = MAX_FRAME,
	                 .threads = 2,
	                 .clock = {.lateness = 5, .max_ahead = 300, .confirm = 8, .max_held = 64}};
	char err[128];
	assert_int_equal(ingest_init(&in, &ic, eng, err, sizeof(err)), 0);
	int input = ingest_input_add(&in);
	assert_true(input >= 0);
	source_run_cfg cfg = {.files = files,
	                      .nfiles = nfiles,
	                      .max_frame = MAX_FRAME,
	                      .input = input,
	                      .resume = resume,
	                      .safe_point = run_safe_point,
	                      .safe_ctx = ru};
	volatile sig_atomic_t stop = 0;
	ru->rc = source_run(&cfg, &in, &stop);
	ingest_finish(&in);
	ru->frames_read = in.frames_read;
	ru->bytes = in.bytes;
	ru->too_long = in.rejected[FRAME_TOO_LONG];
	ingest_free(&in);
	engine_free(eng);
}

/* Bytes of lines [from, nlines). */
static uint64_t bytes_from(int from)
{
	uint64_t b = 0;
	for (int i = from; i < cx.nlines; i++)
		b += cx.bytes[i];
	return b;
}

/* The global index of the line at position p (p must be at a line start or a file's end). */
static int line_at(const source_pos *p)
{
	if (p->file >= NFILES)
		return cx.nlines;
	for (int i = cx.first[p->file]; i < cx.first[p->file + 1]; i++)
		if (cx.start[i] == p->byte)
			return i;
	assert_int_equal(p->byte, cx.size[p->file]);
	return cx.first[p->file + 1];
}

/* A run resumed at p read exactly lines [p->line, nlines), each once, and ended at the end. */
static void check_rest(const run *ru, const source_pos *p)
{
	int from = (int)p->line;
	assert_int_equal(ru->rc, 0);
	assert_int_equal(line_at(p), from); /* the byte position is that line's start */
	uint64_t valid = 0, too_long = 0;
	for (int i = 0; i < cx.nlines; i++) {
		if (i < from || !cx.valid[i]) {
			if (ru->frames[i] != 0)
				fail_msg("resumed at line %d: line %d was read", from, i);
			too_long += i >= from;
			continue;
		}
		if (ru->frames[i] != 1)
			fail_msg("resumed at line %d: line %d counted %d times", from, i,
			         ru->frames[i]);
		valid++;
	}
	assert_int_equal(ru->windows, valid);
	assert_int_equal(ru->too_long, too_long);
	assert_int_equal(ru->frames_read, cx.nlines - from);
	assert_int_equal(ru->bytes, bytes_from(from));
	if (ru->npos == 0) { /* nothing left to open: no safe point */
		assert_int_equal(p->file, NFILES);
		return;
	}
	const source_pos *last = &ru->pos[ru->npos - 1];
	assert_int_equal(last->file, NFILES);
	assert_int_equal(last->byte, 0);
	assert_int_equal(last->line, cx.nlines);
}

static void test_run_whole(void **state)
{
	(void)state;
	run *ru = calloc(1, sizeof(*ru));
	do_run(ru, cx.files, NFILES, NULL);
	source_pos start = {0, 0, 0};
	check_rest(ru, &start);
	/* safe points: increasing, each at a line start, a file's end reported as the next file */
	int prev_line = -1, ends = 0;
	for (int k = 0; k < ru->npos; k++) {
		const source_pos *p = &ru->pos[k];
		assert_true(p->line > prev_line || (p->byte == 0 && p->line == prev_line));
		assert_int_equal(line_at(p), p->line);
		ends += p->byte == 0;
		prev_line = (int)p->line;
	}
	assert_int_equal(ends, NFILES);
	/* one batch ended inside the long line read across the first 4 MiB read of file 0: the
	 * position is that line's start, not the bytes skipped so far */
	bool at_straddle = false;
	for (int k = 0; k < ru->npos; k++)
		at_straddle |= ru->pos[k].file == 0 && ru->pos[k].line == (int64_t)cx.straddle;
	assert_true(at_straddle);
	free(ru);
}

/* Resuming at every safe point of a whole run reads exactly what that run read after it. */
static void test_resume_every_safe_point(void **state)
{
	(void)state;
	run *whole = calloc(1, sizeof(*whole));
	do_run(whole, cx.files, NFILES, NULL);
	assert_true(whole->npos >= 6);
	for (int k = 0; k < whole->npos; k++) {
		run *ru = calloc(1, sizeof(*ru));
		do_run(ru, cx.files, NFILES, &whole->pos[k]);
		check_rest(ru, &whole->pos[k]);
		/* and reports the same safe points from there on */
		assert_int_equal(ru->npos, whole->npos - k - 1);
		for (int j = 0; j < ru->npos; j++) {
			const source_pos *a = &ru->pos[j], *b = &whole->pos[k + 1 + j];
			assert_int_equal(a->file, b->file);
			assert_int_equal(a->byte, b->byte);
			assert_int_equal(a->line, b->line);
		}
		free(ru);
	}
	free(whole);
}

static source_pos pos_of_line(int i)
{
	int f = 0;
	while (i >= cx.first[f + 1])
		f++;
	return (source_pos){.file = f, .byte = cx.start[i], .line = i};
}

static void test_resume_positions(void **state)
{
	(void)state;
	source_pos ps[] = {
	    pos_of_line(1),                    /* after the first line */
	    pos_of_line(1234),                 /* mid-file */
	    pos_of_line(50),                   /* a too-long line */
	    pos_of_line((int)cx.straddle),     /* the line across the first read */
	    pos_of_line((int)cx.straddle + 1), /* just after it */
	    {.file = 0, .byte = cx.size[0], .line = cx.first[1]}, /* file 0 at its end */
	    {.file = 1, .byte = 0, .line = cx.first[1]},          /* the boundary */
	    pos_of_line(cx.first[1] + 1),                         /* into the gzip file */
	    pos_of_line(cx.first[1] + 777),
	    pos_of_line(cx.first[2] - 1),                       /* the gzip file's last line */
	    pos_of_line(cx.first[2] + 3),                       /* the third file */
	    pos_of_line(cx.nlines - 1),                         /* its last line, no newline */
	    {.file = 2, .byte = cx.size[2], .line = cx.nlines}, /* the very end */
	    {.file = NFILES, .byte = 0, .line = cx.nlines},     /* past the last file */
	};
	for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
		run *ru = calloc(1, sizeof(*ru));
		do_run(ru, cx.files, NFILES, &ps[k]);
		check_rest(ru, &ps[k]);
		free(ru);
	}
}

/* A safe point that returns non-zero stops the run at once. */
static void test_safe_point_stops(void **state)
{
	(void)state;
	run *ru = calloc(1, sizeof(*ru));
	ru->stop_after = 2;
	do_run(ru, cx.files, NFILES, NULL);
	assert_int_equal(ru->rc, 1);
	assert_int_equal(ru->npos, 2);
	assert_int_equal(ru->frames_read, ru->pos[1].line);
	free(ru);
}

/* Runs source_run with stderr captured into msg. */
static void run_capturing(run *ru, char **files, int nfiles, const source_pos *resume, char *msg,
                          size_t cap)
{
	char tmpl[] = "/tmp/kuniq-test-stderr-XXXXXX";
	int fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	do_run(ru, files, nfiles, resume);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ssize_t n = pread(fd, msg, cap - 1, 0);
	msg[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(tmpl);
}

static void assert_contains(const char *s, const char *want)
{
	if (strstr(s, want) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", s, want);
}

static void test_resume_refused(void **state)
{
	(void)state;
	char msg[1024];
	run *ru = calloc(1, sizeof(*ru));
	/* a FIFO: refused before opening (which would wait for a writer) */
	char fifo[128];
	snprintf(fifo, sizeof(fifo), "%s/fifo", cx.dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_false(source_path_seekable(fifo));
	char *ff[] = {fifo};
	source_pos p = {.file = 0, .byte = 10, .line = 1};
	run_capturing(ru, ff, 1, &p, msg, sizeof(msg));
	assert_int_equal(ru->rc, 1);
	assert_int_equal(ru->frames_read, 0);
	assert_contains(msg, "cannot resume at byte 10: not a regular file (a pipe cannot be "
	                     "re-read; remove the checkpoint to start over)");
	assert_contains(msg, fifo);
	unlink(fifo);

	/* stdin on a pipe */
	int pp[2];
	assert_int_equal(pipe(pp), 0);
	assert_int_equal(write(pp[1], "x\n", 2), 2);
	close(pp[1]);
	int saved_in = dup(STDIN_FILENO);
	dup2(pp[0], STDIN_FILENO);
	close(pp[0]);
	assert_false(source_path_seekable("-"));
	memset(ru, 0, sizeof(*ru));
	run_capturing(ru, NULL, 0, &p, msg, sizeof(msg));
	assert_int_equal(ru->rc, 1);
	assert_int_equal(ru->frames_read, 0);
	assert_contains(msg, "kuniq: stdin: cannot resume at byte 10");
	/* a pipe at byte 0 is fine: nothing of it was read */
	memset(ru, 0, sizeof(*ru));
	source_pos zero = {.file = 0, .byte = 0, .line = 5};
	do_run(ru, NULL, 0, &zero);
	assert_int_equal(ru->rc, 0);
	assert_int_equal(ru->frames_read, 1);
	assert_int_equal(ru->pos[ru->npos - 1].line, 6);
	dup2(saved_in, STDIN_FILENO);
	close(saved_in);

	/* stdin redirected from a regular file can resume */
	int fd = open(cx.name[2], O_RDONLY);
	saved_in = dup(STDIN_FILENO);
	dup2(fd, STDIN_FILENO);
	close(fd);
	assert_true(source_path_seekable("-"));
	memset(ru, 0, sizeof(*ru));
	source_pos in2 = {.file = 0, .byte = cx.start[cx.first[2] + 3], .line = 42};
	do_run(ru, NULL, 0, &in2);
	dup2(saved_in, STDIN_FILENO);
	close(saved_in);
	assert_int_equal(ru->rc, 0);
	assert_int_equal(ru->frames_read, cx.nlines - (cx.first[2] + 3));
	assert_int_equal(ru->pos[ru->npos - 1].line, 42 + (cx.nlines - (cx.first[2] + 3)));

	/* files shorter than the position: plain and gzip */
	for (int f = 0; f < 2; f++) {
		memset(ru, 0, sizeof(*ru));
		source_pos beyond = {.file = f, .byte = cx.size[f] + 1, .line = 9};
		run_capturing(ru, cx.files, NFILES, &beyond, msg, sizeof(msg));
		assert_int_equal(ru->rc, 1);
		assert_int_equal(ru->frames_read, 0);
		char want[256];
		snprintf(want, sizeof(want),
		         "kuniq: %s is shorter than the checkpoint position %llu: not the file the "
		         "checkpoint was taken from?",
		         cx.name[f], (unsigned long long)beyond.byte);
		assert_contains(msg, want);
	}

	/* a position outside the files given */
	source_pos bad[] = {{.file = NFILES, .byte = 1, .line = 0},
	                    {.file = NFILES + 1, .byte = 0, .line = 0},
	                    {.file = -1, .byte = 0, .line = 0}};
	for (size_t k = 0; k < 3; k++) {
		memset(ru, 0, sizeof(*ru));
		run_capturing(ru, cx.files, NFILES, &bad[k], msg, sizeof(msg));
		assert_int_equal(ru->rc, 1);
		assert_int_equal(ru->frames_read, 0);
		assert_contains(msg, "not the files the checkpoint was taken from?");
	}
	free(ru);
}

static void test_path_seekable(void **state)
{
	(void)state;
	assert_true(source_path_seekable(cx.name[0]));
	assert_true(source_path_seekable(cx.name[1]));
	assert_false(source_path_seekable(cx.dir));
	assert_false(source_path_seekable("/nonexistent/kuniq"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines_and_last_line),
	    cmocka_unit_test(test_long_lines_skipped),
	    cmocka_unit_test(test_gzip_and_errors),
	    cmocka_unit_test(test_batches),
	    cmocka_unit_test(test_compressed_by_magic),
	    cmocka_unit_test(test_compressed_broken),
	    cmocka_unit_test(test_crlf_at_max_frame),
	    cmocka_unit_test_setup_teardown(test_run_whole, corpus_setup, corpus_teardown),
	    cmocka_unit_test_setup_teardown(test_resume_every_safe_point, corpus_setup,
	                                    corpus_teardown),
	    cmocka_unit_test_setup_teardown(test_resume_positions, corpus_setup, corpus_teardown),
	    cmocka_unit_test_setup_teardown(test_safe_point_stops, corpus_setup, corpus_teardown),
	    cmocka_unit_test_setup_teardown(test_resume_refused, corpus_setup, corpus_teardown),
	    cmocka_unit_test_setup_teardown(test_path_seekable, corpus_setup, corpus_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
