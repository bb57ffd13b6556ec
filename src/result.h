/* result.h - one emitted window result and its JSON form (docs/semantics.md, section 8).
 *
 * Every sink (stdout, Kafka) writes the same JSON produced by result_format_json.
 */
#ifndef KUNIQ_RESULT_H
#define KUNIQ_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calendar.h"

typedef struct result {
	window_kind kind;
	int64_t start, end; /* unix seconds, end exclusive */
	uint64_t uniques;
	uint64_t frames;
	bool exact;
	double error; /* relative standard error of uniques; 0 when exact */
	bool final;
	uint32_t revision;
	uint64_t late;        /* late frames of this kind so far (every window of the kind) */
	uint64_t late_window; /* late frames counted in this window (its revisions) */
} result;

/* Writes one JSON object (no newline) into buf. Returns the length it needs (like snprintf);
 * the output is complete only when the return value is < cap. */
size_t result_format_json(const result *r, const calendar *cal, char *buf, size_t cap);

/* Writes the Kafka message key "<window>/<start>". Same return convention. */
size_t result_format_key(const result *r, char *buf, size_t cap);

/* A consumer of results. emit returns 0, or -1 when the result could not be delivered (the sink
 * reports the reason itself, once). */
typedef struct result_sink {
	int (*emit)(void *ctx, const result *r);
	void *ctx;
} result_sink;

#endif
