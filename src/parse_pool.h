/* parse_pool.h - parses a batch of frames on several threads; the caller applies the results in
 * order (ingest.c).
 *
 * The frame parser is the costly part of counting (the engine is cheap), and both sources get
 * frames in batches (a Kafka fetch, a file's read block), so a batch is cut into equal slices
 * parsed at once by the calling thread and by worker threads; each result keeps the place of its
 * frame. What one frame yields is exactly parse_classify's verdict. The caller (ingest_batch)
 * then counts the statuses and offers valid frames to their clocks in batch order, so results do
 * not depend on the threads.
 *
 * Ownership: the parser is borrowed and must outlive the pool; items belong to the caller.
 */
#ifndef KUNIQ_PARSE_POOL_H
#define KUNIQ_PARSE_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

typedef struct parse_item {
	/* in */
	const char *buf; /* the frame; NULL = tombstone, parsed as empty */
	size_t len;
	bool padded;         /* FRAME_PADDING readable bytes follow buf[len]: parsed in place */
	frame_status preset; /* not FRAME_OK: already decided by the source (no parsing) */
	int input;           /* the ingest input it belongs to */
	int64_t offset;
	uint64_t bytes; /* bytes it took in the input (line end included), for the summary */
	/* out */
	frame_status status;
	int64_t ts;
	uint64_t hash;
} parse_item;

typedef struct parse_pool parse_pool;

/* threads: how many threads parse a batch, the caller's included (1 = no worker thread).
 * Returns NULL when out of memory or when a thread cannot be started. */
parse_pool *parse_pool_new(const frame_parser *parser, size_t max_frame, int threads);
void parse_pool_free(parse_pool *kp);

/* Fills the out fields of items[0..n). */
void parse_pool_run(parse_pool *kp, parse_item *items, size_t n);

/* What one frame yields, without touching any state (safe on any thread): a frame longer than
 * max_frame once a trailing "\r" is removed is too_long (empty when blank), otherwise the
 * parser's verdict; for a valid frame *ts and *hash (XXH3-64 of the uid bytes). buf must have
 * FRAME_PADDING readable bytes after buf[len] unless it is too long. */
frame_status parse_classify(const frame_parser *parser, size_t max_frame, const char *buf,
                            size_t len, int64_t *ts, uint64_t *hash);

/* True when p[0..n) holds only spaces, tabs and CRs (a blank line, whatever its length). */
bool parse_blank(const char *p, size_t n);

/* A thread count for this machine: its online processors, at most 8. */
int parse_pool_default_threads(void);

#endif
