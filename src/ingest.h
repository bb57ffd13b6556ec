/* ingest.h - the one way in: frames of every source go through ingest to the clocks and engine.
 *
 * Sources (file_source.c, kafka_source.c) hand ingest batches of raw frames; ingest parses them
 * on its parse pool, counts what it read and why it rejected frames, and offers each valid frame
 * to the event clock of its input (clock.h), which passes it on to the engine. Sources also tell
 * ingest when an input goes idle or is retired and tick the wall clock; ingest decides, per
 * input, whether it is live (its clock then follows wall time) and whether it holds the global
 * watermark (docs/semantics.md section 6).
 *
 * Ownership: ingest owns its parse pool and clocks; the parser and engine are borrowed and must
 * outlive it.
 */
#ifndef KUNIQ_INGEST_H
#define KUNIQ_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clock.h"
#include "engine.h"
#include "frame.h"
#include "parse_pool.h"

typedef struct ingest_cfg {
	const frame_parser *parser;
	size_t max_frame;
	int threads; /* parser threads, the caller's included */
	clock_cfg clock;
} ingest_cfg;

typedef struct ingest_input ingest_input;

typedef struct ingest {
	ingest_cfg cfg;
	engine *eng;
	parse_pool *pool;
	ingest_input **inputs;
	int ninputs;
	uint64_t frames_read;
	uint64_t bytes;
	uint64_t rejected[FRAME_STATUS_COUNT];    /* by parser reason (FRAME_OK unused) */
	uint64_t ts_range;                        /* valid frames outside [2000, 2100) */
	uint64_t frames_restored, bytes_restored; /* read by earlier runs (checkpoints): the rates
	                                           * of the summary count this run's only */
	uint64_t ts_ms_like; /* ts_range frames whose ts would be in range as milliseconds */
	bool warned;         /* the rejection warning was given */
	bool interrupted;    /* stopped before the end of input: the summary says so */
} ingest;

/* Returns 0, or -1 (message in err) when the parse pool cannot start. */
int ingest_init(ingest *in, const ingest_cfg *cfg, engine *eng, char *err, size_t errlen);
void ingest_free(ingest *in);

/* Adds an input (the files, or one Kafka partition). Returns its id, or -1 when out of memory. */
int ingest_input_add(ingest *in);

/* Parses items[0..n) (each names its input) and offers them in order. An input that delivers an
 * item is no longer idle. */
void ingest_batch(ingest *in, parse_item *items, size_t n);

/* The input delivered nothing for the idle timeout; wall = unix seconds now. */
void ingest_idle(ingest *in, int input, int64_t wall);

/* Once a second while some input is idle: live idle inputs follow wall time. */
void ingest_wall_tick(ingest *in, int64_t wall);

/* A retired input (a revoked Kafka partition) stops holding the watermark once idle. */
void ingest_retire(ingest *in, int input, bool retired);

/* Lowest offset of the input whose frame is not yet in an emitted result, or INT64_MAX. */
int64_t ingest_safe_offset(const ingest *in, int input);

/* End of input: every clock releases or rejects what it holds; every open window is emitted. */
void ingest_finish(ingest *in);

/* End of one input (--scale-out, -e): its clock releases or rejects what it holds and its
 * watermark becomes +infinity (the merging stage emits the windows). */
void ingest_finish_input(ingest *in, int input);

/* Forgets everything of an input (its clock and windows): a partition that left this process,
 * to be restored from the committed state if it comes back. Returns 0, or -1 when out of memory
 * (the input is then unusable). */
int ingest_input_reset(ingest *in, int input);

/* The event clock of an input, and its engine input id (checkpoints: checkpoint.c). */
event_clock *ingest_clock(ingest *in, int input);
int ingest_engine_input(const ingest *in, int input);

/* Once most frames are rejected (at least half of 1,000 or more), logs one warning naming the
 * main reason with a hint (a ts in milliseconds, a missing uid key, compressed input...). Called
 * by ingest_batch until it warned (a few additions per batch), and by the caller at the end. */
void ingest_check_rejects(ingest *in);

/* Frames rejected for any reason: by the parser, ts_range, ts_ahead (the summary's and the stats
 * lines' frames_valid is frames_read minus this). */
uint64_t ingest_rejected(const ingest *in);

/* Frames rejected as ts_ahead by all clocks. */
uint64_t ingest_ts_ahead(const ingest *in);

/* Writes the one-line JSON summary (docs/semantics.md) to f. */
void ingest_summary(const ingest *in, unsigned kinds, double elapsed_s, FILE *f);

#endif
