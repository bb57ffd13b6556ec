/* stdout_sink.h - results as JSON lines on a stdio stream. */
#ifndef KUNIQ_STDOUT_SINK_H
#define KUNIQ_STDOUT_SINK_H

#include <stdio.h>

#include "result.h"

typedef struct stdout_sink {
	FILE *out;           /* borrowed */
	const calendar *cal; /* borrowed */
	int failed;          /* a write failed (reported once) */
} stdout_sink;

/* A result_sink writing to s (which must outlive it). */
result_sink stdout_sink_make(stdout_sink *s, FILE *out, const calendar *cal);

#endif
