/* stdout_sink.h - results as JSON lines on a stdio stream. */
#ifndef KUNIQ_STDOUT_SINK_H
#define KUNIQ_STDOUT_SINK_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "result.h"

typedef struct stdout_sink {
	FILE *out;           /* borrowed */
	const calendar *cal; /* borrowed */
	int failed;          /* a write failed (reported once, unless the reader went away) */
	bool reader_gone;    /* EPIPE: the reader of the stream closed it */
	volatile sig_atomic_t *stop; /* borrowed, or NULL (stdout_sink_stop_on_close) */
} stdout_sink;

/* A result_sink writing to s (which must outlive it). */
result_sink stdout_sink_make(stdout_sink *s, FILE *out, const calendar *cal);

/* When the reader of the stream goes away (EPIPE), set *stop and say nothing: the run ends
 * quietly. Without it, EPIPE is reported like any write error. */
void stdout_sink_stop_on_close(stdout_sink *s, volatile sig_atomic_t *stop);

/* Checks, without writing, whether the stream is a pipe whose reader went away (so a run that
 * emits nothing for a while still ends at once); on a yes, acts as on EPIPE. Returns
 * s->reader_gone. */
bool stdout_sink_check_reader(stdout_sink *s);

#endif
