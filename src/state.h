/* state.h - a run's state as keyed records: the sealed envelope, byte codecs, the record map.
 *
 * A checkpoint is a set of (key, value) records (checkpoint.c names them); the same records go
 * to a compacted Kafka changelog topic (changelog.c) or to a checkpoint file (checkpoint_file.c).
 * A NULL value deletes its key (a Kafka tombstone). Restoring reads every record into a
 * state_map (the latest value per key wins, deletions applied), then rebuilds from the map.
 *
 * Every value is sealed (state_seal): "KQS1", the run's identity (a hash of the options that give
 * the state its meaning: windows, zone, clock and counter settings, fields), the payload, then
 * XXH3-64 of the key and every byte before it. state_open rejects a value that is truncated,
 * corrupted, moved to another key, or written by another configuration, with a reason.
 *
 * Ownership: a state_map owns copies of its keys and values; pointers it returns stay valid until
 * the map changes or is freed. state_buf owns its bytes (state_buf_free).
 */
#ifndef KUNIQ_STATE_H
#define KUNIQ_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where checkpoint records go. put returns 0, or -1 (the checkpoint fails). val NULL: delete. */
typedef struct state_sink {
	void *ctx;
	int (*put)(void *ctx, const char *key, const uint8_t *val, size_t len);
} state_sink;

/* ---- building values ---------------------------------------------------------------------- */

typedef struct state_buf {
	uint8_t *p;
	size_t n, cap;
	bool oom; /* an append failed: the buffer is incomplete */
} state_buf;

void state_buf_free(state_buf *b);
void state_buf_reset(state_buf *b);
void sb_u8(state_buf *b, uint8_t v);
void sb_u32(state_buf *b, uint32_t v);
void sb_u64(state_buf *b, uint64_t v);
void sb_i64(state_buf *b, int64_t v);
void sb_bytes(state_buf *b, const void *p, size_t n);

/* Starts a sealed value: reset, magic, identity. */
void state_begin(state_buf *b, uint64_t identity);
/* Ends it: appends the checksum over key and value. Returns 0, or -1 when out of memory. */
int state_seal(state_buf *b, const char *key);

/* ---- reading values ----------------------------------------------------------------------- */

typedef struct state_rd {
	const uint8_t *p;
	size_t n, pos;
	bool bad; /* read past the end: every later read returns 0 */
} state_rd;

uint8_t sr_u8(state_rd *r);
uint32_t sr_u32(state_rd *r);
uint64_t sr_u64(state_rd *r);
int64_t sr_i64(state_rd *r);
/* n bytes in place, or NULL (and bad) when fewer remain. */
const uint8_t *sr_bytes(state_rd *r, size_t n);
/* True when every byte was read and nothing was short. */
bool sr_done(const state_rd *r);

/* Checks a sealed value of key; on success *payload reads the bytes between identity and
 * checksum. Returns NULL, or a static reason ("checksum mismatch", "written by another
 * configuration", ...). */
const char *state_open(const char *key, const uint8_t *val, size_t len, uint64_t identity,
                       state_rd *payload);

/* ---- the record map ----------------------------------------------------------------------- */

typedef struct state_map state_map;

state_map *state_map_new(void);
void state_map_free(state_map *m);
/* Sets key to a copy of val (len bytes), or deletes it when val is NULL. Returns 0, or -1 when
 * out of memory. */
int state_map_put(state_map *m, const char *key, const uint8_t *val, size_t len);
const uint8_t *state_map_get(const state_map *m, const char *key, size_t *len);
/* Iteration in no particular order: *pos = 0, then call until false. */
bool state_map_next(const state_map *m, size_t *pos, const char **key, const uint8_t **val,
                    size_t *len);
size_t state_map_count(const state_map *m);
size_t state_map_bytes(const state_map *m); /* keys + values */

/* Opens the sealed record key of m (state_open). Returns 1 when m has no such key, 0 when it is
 * valid (*payload reads it), -1 with "record <key>: <reason>" in err. */
int state_map_open(const state_map *m, const char *key, uint64_t identity, state_rd *payload,
                   char *err, size_t errlen);

/* A state_sink that puts records into a map (full snapshots: files, tests). */
state_sink state_map_sink(state_map *m);

/* A namespace inside a store: records put through it get prefix before their key (the value is
 * sealed under the key without it, and the caller seals with an identity of its own for the
 * namespace, so a record cannot move between namespaces). */
typedef struct state_prefix {
	state_sink inner;
	char prefix[64];
} state_prefix;
state_sink state_prefix_sink(state_prefix *p, state_sink inner, const char *prefix);

/* A new map of m's records under prefix, with the prefix cut from their keys, or NULL when out of
 * memory. */
state_map *state_map_sub(const state_map *m, const char *prefix);

#endif
