/* ingest.h - from one frame's raw bytes to the engine: parse, count rejections, hash the uid.
 *
 * Every source (files, stdin, Kafka) hands each frame to ingest_frame; ingest counts what it read
 * and why it rejected frames. Ownership: the parser and engine are borrowed.
 */
#ifndef KUNIQ_INGEST_H
#define KUNIQ_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine.h"
#include "frame.h"

typedef struct ingest {
	const frame_parser *parser;
	engine *eng;
	uint64_t frames_read;
	uint64_t bytes;
	uint64_t rejected[FRAME_STATUS_COUNT]; /* by parser reason (FRAME_OK unused) */
} ingest;

void ingest_init(ingest *in, const frame_parser *parser, engine *eng);

/* One frame of input `input` at position `offset`. buf must have FRAME_PADDING readable bytes
 * after buf[len]. A trailing "\r" is ignored. Same as ingest_classify then ingest_count. */
void ingest_frame(ingest *in, int input, const char *buf, size_t len, int64_t offset);

/* What one frame yields, without touching any state (safe on any thread): a frame longer than
 * max_frame once a trailing "\r" is removed is too_long (empty when blank), otherwise the
 * parser's verdict; for a valid frame *ts and *hash (XXH3-64 of the uid bytes). buf must have
 * FRAME_PADDING readable bytes after buf[len] unless it is too long. */
frame_status ingest_classify(const frame_parser *parser, size_t max_frame, const char *buf,
                             size_t len, int64_t *ts, uint64_t *hash);

/* Counts a classified frame of len bytes and hands a valid one to the engine. */
void ingest_count(ingest *in, frame_status st, uint64_t len, int input, int64_t ts, uint64_t hash,
                  int64_t offset);

/* A frame longer than the limit, skipped by the source without being buffered; blank: it held
 * only spaces, tabs and CRs (counted as empty, which takes precedence over too_long). */
void ingest_too_long(ingest *in, uint64_t len, bool blank);

/* True when p[0..n) holds only spaces, tabs and CRs (a blank line, whatever its length). */
bool ingest_blank(const char *p, size_t n);

/* Writes the one-line JSON summary (docs/semantics.md; issue 3) to f. */
void ingest_summary(const ingest *in, unsigned kinds, double elapsed_s, FILE *f);

#endif
