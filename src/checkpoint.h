/* checkpoint.h - a run's whole state as records (docs/state.md): the ingest counters, each
 * input's event clock and source position, and the engine's windows (engine_state.c).
 *
 * Sources decide when to checkpoint and where the records go (kafka_commit.c: the changelog
 * topic, in the transaction that commits the input offsets; main.c: a checkpoint file); this
 * file only says what the state is. Ownership: nothing is kept; maps and sinks are borrowed.
 */
#ifndef KUNIQ_CHECKPOINT_H
#define KUNIQ_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "state.h"

/* Where an input stands in its source. Kafka: a = next offset to read. Files: a = file index,
 * b = bytes of it consumed, c = line offset (file_source.h, source_pos). */
typedef struct checkpoint_pos {
	int64_t a;
	uint64_t b;
	int64_t c;
} checkpoint_pos;

typedef struct checkpoint_input {
	int input;  /* ingest input */
	int64_t id; /* stable id its records are keyed by (the Kafka partition; 0 for files) */
	checkpoint_pos pos; /* where to resume it */
} checkpoint_input;

/* The identity sealed into every record: a hash of the options that give the state its meaning
 * (window kinds and zone, --late, clock and counter settings, fields) and of the source (the
 * Kafka topic; "files"). State written under another identity is refused on restore. */
uint64_t checkpoint_identity(const engine_cfg *e, const clock_cfg *c, const char *uid_field,
                             const char *ts_field, const char *source);

typedef struct checkpoint_stats {
	uint64_t records; /* records written by the last checkpoint_write (deletions included) */
	uint64_t bytes;   /* their value bytes */
} checkpoint_stats;

/* Writes the state of the listed inputs (other inputs' records are left alone) and of the engine.
 * full: everything, for an empty store; else only what changed since the last call (deletions of
 * windows gone included). Returns 0, or -1 (out of memory, or out.put failed). */
int checkpoint_write(ingest *in, const checkpoint_input *inputs, size_t n, uint64_t identity,
                     state_sink out, bool full, checkpoint_stats *st);

/* Restores the global state (counters, engine). Returns 0 (also for an empty map), or -1 with a
 * reason in err. Call before restoring inputs. */
int checkpoint_restore(ingest *in, const state_map *m, uint64_t identity, char *err, size_t errlen);

/* The position of input id in m: 0 (*pos set), 1 when m holds nothing for id, -1 when its record
 * is bad. */
int checkpoint_input_pos(const state_map *m, int64_t id, uint64_t identity, checkpoint_pos *pos);

/* Restores input (a new, empty ingest input) from the records of id and sets *pos. Returns 0,
 * 1 when the map holds nothing for id (a fresh input), or -1 with a reason in err. */
int checkpoint_restore_input(ingest *in, int input, int64_t id, const state_map *m,
                             uint64_t identity, checkpoint_pos *pos, char *err, size_t errlen);

#endif
