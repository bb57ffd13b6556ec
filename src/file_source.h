/* file_source.h - frames from files and stdin: one frame per line, gzip and zstd input
 * (recognised by their first bytes) decompressed.
 *
 * A source reads in large blocks into one buffer and hands out lines in place (no copy, no
 * allocation per line), each followed by at least FRAME_PADDING readable bytes. A line longer
 * than max_frame is skipped without being buffered and reported with its length, so memory stays
 * bounded whatever the input. Ownership: source_open returns a source the caller closes; a line
 * stays valid until the next source_next_batch call.
 */
#ifndef KUNIQ_FILE_SOURCE_H
#define KUNIQ_FILE_SOURCE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "parse_pool.h"

typedef enum source_event {
	SOURCE_LINE = 0,   /* *line, *len: one line without its '\n' */
	SOURCE_TOO_LONG,   /* *len: the skipped line's length */
	SOURCE_BLANK_LONG, /* same, but the line held only blanks (space, tab, CR): empty */
	SOURCE_IDLE,       /* nothing arrived within the timeout (pipes, terminals), or a signal */
	SOURCE_EOF,
	SOURCE_ERROR, /* reported on stderr */
	SOURCE_AGAIN, /* internal: source_next_batch needs a refill */
} source_event;

typedef struct source_item {
	source_event kind; /* SOURCE_LINE, SOURCE_TOO_LONG or SOURCE_BLANK_LONG */
	const char *line;  /* SOURCE_LINE: the line, FRAME_PADDING readable bytes after it */
	size_t len;
	size_t bytes; /* bytes it took in the input, its '\n' included */
} source_item;

typedef struct source source;

/* path "-" is stdin. Returns NULL with a message in err when the file cannot be opened. */
source *source_open(const char *path, size_t max_frame, char *err, size_t errlen);
void source_close(source *s);

/* Up to max lines that are already buffered (reading more only when none is), all valid until
 * the next call. timeout_ms < 0 blocks; otherwise a source that can stall (pipe, terminal, socket)
 * returns SOURCE_IDLE when no byte arrived within it. Returns how many; 0 with *ev = SOURCE_IDLE,
 * SOURCE_EOF or SOURCE_ERROR. */
size_t source_next_batch(source *s, int timeout_ms, source_item *items, size_t max,
                         source_event *ev);

/* Where a run over files stands: after the complete lines handed to ingest so far. */
typedef struct source_pos {
	int file;      /* index into the file list (0 for stdin) */
	uint64_t byte; /* bytes of that file consumed (decompressed bytes when compressed) */
	int64_t line;  /* the running line offset across files: the next line's ingest offset */
} source_pos;

typedef struct source_run_cfg {
	char **files; /* NULL/0 files: stdin */
	int nfiles;
	size_t max_frame;
	double idle_timeout; /* seconds, 0 = never idle */
	int input;           /* the ingest input the files form */
	/* NULL: from the start. Else files before resume->file are skipped (not opened), that file
	 * starts at resume->byte, and line offsets at resume->line. */
	const source_pos *resume;
	/* NULL: none. Called after every ingest_batch, and when a file was read to its end (pos =
	 * {next file, 0, line}), with the position just after the last line handed to ingest;
	 * non-zero stops the run (source_run returns 1). Called often: it must be cheap. */
	int (*safe_point)(void *ctx, const source_pos *pos);
	void *safe_ctx;
	/* NULL: none. Called after every batch handed to ingest and after every wait for input
	 * (at least once a second while waiting, with an idle timeout), with the bytes read so far
	 * over every file (compressed bytes for compressed files). Called often: it must be cheap.
	 */
	void (*watch)(void *ctx, uint64_t bytes_read);
	void *watch_ctx;
} source_run_cfg;

/* Reads every file in order as one input into ingest, handling idle time, until the end or until
 * *stop is set. Returns 0, or 1 when some file could not be read, or broke off (a truncated or
 * corrupt compressed file: its lines before the break are read; reported on stderr, with the
 * compressed byte offset; the other files are still read), when the resume position cannot be
 * reached (nothing is read: a pipe or stdin cannot be positioned, a file is shorter than the
 * position), or when safe_point stopped the run. */
int source_run(const source_run_cfg *cfg, ingest *in, volatile sig_atomic_t *stop);

/* True when path ("-": stdin) is a regular file, so a run over it can resume at a byte position;
 * false for pipes, FIFOs, terminals, sockets, and paths that cannot be examined. */
bool source_path_seekable(const char *path);

/* Bytes the files (NULL/0: stdin) hold from where reading starts, or 0 when unknown (a pipe). */
uint64_t source_total_bytes(char **files, int nfiles);

#endif
