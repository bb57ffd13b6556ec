/* progress.h - a one-line progress display of a file run on stderr.
 *
 * Bytes read of the total (compressed bytes for compressed files), frames, rates and, when the
 * total is known, the percentage and the time left. On a terminal the line is redrawn in place
 * a few times a second and erased at the end; forced onto something else (--progress into a
 * file), each update is a line of its own and nothing is erased.
 */
#ifndef KUNIQ_PROGRESS_H
#define KUNIQ_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct progress {
	FILE *out;       /* borrowed; NULL: off */
	bool tty;        /* redraw in place */
	uint64_t total;  /* bytes; 0: unknown (stdin, a pipe) */
	double t0, next; /* monotonic seconds: the start, the next update */
	bool drawn;      /* a line is on the terminal */
} progress;

/* mode: 1 on, 0 off, -1 on when out is a terminal. total: 0 when unknown. */
void progress_start(progress *p, FILE *out, int mode, uint64_t total);

/* Redraws when the last update is a quarter of a second old. Cheap otherwise. */
void progress_update(progress *p, uint64_t bytes, uint64_t frames);

/* Erases the line (terminal). */
void progress_end(progress *p);

/* The text of one update (no line end) into buf; returns its length as snprintf does. */
int progress_format(char *buf, size_t cap, uint64_t bytes, uint64_t total, uint64_t frames,
                    double secs);

#endif
