/* kafka_parse.h - parses a batch of frames on several threads; the caller applies the results in
 * order.
 *
 * The frame parser is the costly part of consuming (the engine is cheap), and a consumer gets
 * frames in batches, so a batch is cut into equal slices parsed at once by the calling thread and
 * by worker threads; each result keeps the place of its frame. What one frame yields is exactly
 * what ingest_frame would do with it: too_long when longer than max_frame (a trailing "\r" not
 * counted; empty if blank, as ingest_too_long), otherwise frame_parse of the frame without its
 * trailing "\r", and for a valid frame its ts and XXH3-64 of its uid bytes. The caller then counts
 * the statuses and hands valid frames to the engine in batch order (kafka_parse_apply), so results
 * do not depend on the threads.
 *
 * Ownership: the parser is borrowed and must outlive the pool; items belong to the caller.
 */
#ifndef KUNIQ_KAFKA_PARSE_H
#define KUNIQ_KAFKA_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "ingest.h"

typedef struct kafka_parse_item {
	/* in */
	const char *buf; /* the frame (no padding needed); NULL = tombstone, parsed as empty */
	size_t len;
	int input; /* engine input */
	int64_t offset;
	/* out */
	frame_status status;
	int64_t ts;
	uint64_t hash;
} kafka_parse_item;

typedef struct kafka_parse kafka_parse;

/* threads: how many threads parse a batch, the caller's included (1 = no worker thread).
 * Returns NULL when out of memory or when a thread cannot be started. */
kafka_parse *kafka_parse_new(const frame_parser *parser, size_t max_frame, int threads);
void kafka_parse_free(kafka_parse *kp);

/* Fills the out fields of items[0..n). */
void kafka_parse_run(kafka_parse *kp, kafka_parse_item *items, size_t n);

/* Counts one parsed item in `in` and hands a valid frame to in's engine, as ingest_frame does. */
void kafka_parse_apply(ingest *in, const kafka_parse_item *it);

/* A thread count for this machine: its online processors, at most 8 (on 2 cores, with the
 * broker on the same machine, 2 threads read 1M frames in 2.5-3.0 s, 1 thread in 3.0-3.1 s). */
int kafka_parse_default_threads(void);

#endif
