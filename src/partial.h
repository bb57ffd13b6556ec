/* partial.h - the records that carry counts from the counting stage to the merging stage when
 * several processes share the work (--scale-out; docs/scale-out.md).
 *
 * Three kinds of record go to the internal partials topic:
 *  - ITEMS: users new to a window of one input partition since the last commit (their 64-bit
 *    hashes) and the frames counted there since then;
 *  - COUNTER: the same as a whole serialised counter (counter.h), for a window whose counter is a
 *    sketch or could not log its new users;
 *  - WATERMARK: an input partition's watermark and role (engine.h), sent to every partition of the
 *    topic after that input's window records of the same commit.
 * All partials of one window go to one partition (partial_partition), so one merge task sees
 * them all; merging is a set union, so a record sent twice (after a restart) changes nothing but
 * the frame counts, which are only ever sent once (in the transaction that commits their input
 * offsets). Values are sealed like state records (state.h): identity and checksum.
 *
 * Ownership: partial_read points into the value it was given and into the caller's item buffer.
 */
#ifndef KUNIQ_PARTIAL_H
#define KUNIQ_PARTIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

typedef enum partial_type {
	PARTIAL_ITEMS = 1,
	PARTIAL_COUNTER = 2,
	PARTIAL_WATERMARK = 3,
} partial_type;

/* Items per ITEMS record: 512 KiB of hashes, under Kafka's default 1 MB message limit. */
#define PARTIAL_MAX_ITEMS (64u * 1024u)

typedef struct partial {
	partial_type type;
	int32_t input; /* the input partition it comes from */
	/* ITEMS, COUNTER */
	int kind;
	int64_t start, end;
	uint64_t frames;       /* frames counted in the window since the last commit */
	const uint64_t *items; /* ITEMS: nitems hashes */
	uint32_t nitems;
	const uint8_t *ser; /* COUNTER: counter_serialize bytes */
	size_t serlen;
	/* WATERMARK */
	bool wm_set;
	int64_t wm;
	uint8_t role; /* engine_role */
	bool rewind;  /* the input's clock moved back since the last WATERMARK */
} partial;

/* The partition (of n) where the window (kind, start) meets its partials. */
int partial_partition(int kind, int64_t start, int n);

/* Encodes p into b (sealed with identity) and its key into key (keylen bytes). Returns 0, or -1
 * when out of memory. */
int partial_encode(const partial *p, uint64_t identity, state_buf *b, char *key, size_t keylen);

/* Decodes a record. items is a growable buffer the item hashes are copied into (the caller frees
 * *items). Returns NULL, or what is wrong with the record. */
const char *partial_read(const char *key, const uint8_t *val, size_t len, uint64_t identity,
                         partial *p, uint64_t **items, size_t *items_cap);

#endif
