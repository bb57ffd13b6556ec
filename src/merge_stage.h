/* merge_stage.h - the merging stage of --scale-out: one merge task per partition of the internal
 * partials topic this process is assigned (docs/scale-out.md).
 *
 * A merge task is an engine (engine_partial.c) with one input per input partition of the counted
 * topic; it reads the partials of its partition in order (partial.h), merges each window's
 * partials, tracks every input partition's watermark and emits a window's one final record when
 * the minimum of those watermarks passes its end, exactly as a single process would. Its state
 * (windows, watermarks, roles, its next offset) is written by merge_stage_checkpoint under the
 * keys "m/<partition>/..." of the changelog, sealed with an identity of its own, in the
 * transaction that commits its offset; a task assigned to another process resumes from there.
 *
 * Ownership: the stage owns its engines; the result sink's ctx is borrowed.
 */
#ifndef KUNIQ_MERGE_STAGE_H
#define KUNIQ_MERGE_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "result.h"
#include "state.h"

typedef struct merge_stats {
	uint64_t partials;   /* window records merged */
	uint64_t watermarks; /* watermark records applied */
	uint64_t bytes;      /* their value bytes */
	uint64_t stale;      /* records below a task's position (read again after a rebalance) */
	uint64_t windows_emitted;
	uint64_t late[WINDOW_KIND_COUNT];
	double seconds; /* spent merging and emitting */
} merge_stats;

typedef struct merge_stage merge_stage;

/* cfg: the run's engine settings (cfg->combine is ignored); ninputs: partitions of the counted
 * topic. Returns NULL when out of memory. */
merge_stage *merge_stage_new(const engine_cfg *cfg, result_sink sink, uint64_t identity,
                             int ninputs);
void merge_stage_free(merge_stage *m);

/* NULL (also for m NULL), or why a merge task's engine failed (engine_failure): the run must
 * fail. A task revoked after failing still counts. */
const char *merge_stage_failure(const merge_stage *m);

/* Takes partition q, restored from its records in state (NULL or none: a fresh task). *next is
 * the offset to resume at, -1 for the partition's beginning. Returns 0, or -1 with err. */
int merge_stage_assign(merge_stage *m, int q, const state_map *state, int64_t *next, char *err,
                       size_t errlen);
/* Checks a record of the merging stage ("m/<q>/..."): NULL, or what is wrong with it. */
const char *merge_stage_check(const merge_stage *m, const char *key, const uint8_t *val,
                              size_t len);

/* The offset partition q's task resumes at according to state: 0 (*next set), 1 when state holds
 * nothing for q, -1 when its record is bad. */
int merge_stage_peek(const merge_stage *m, int q, const state_map *state, int64_t *next);

/* True when state says partition q's task has emitted every window (every input partition
 * finished, -e). */
bool merge_stage_peek_finished(const merge_stage *m, int q, const state_map *state);

/* Drops partition q's task (its state is in the last committed checkpoint). */
void merge_stage_revoke(merge_stage *m, int q);
bool merge_stage_has(const merge_stage *m, int q);
/* Next offset of q to read (-1: none read yet). */
int64_t merge_stage_next(const merge_stage *m, int q);

/* One record of partition q at offset. Returns 0 (applied or stale), or -1 with err (a corrupt
 * or foreign record: the run must stop). */
int merge_stage_record(merge_stage *m, int q, int64_t offset, const char *key, const uint8_t *val,
                       size_t len, char *err, size_t errlen);

/* Writes every held task's changed state. Returns 0, or -1 (the commit must fail). */
int merge_stage_checkpoint(merge_stage *m, state_sink out);

/* True when every held task has emitted every window and every input partition is finished
 * (-e); also true when no task is held. */
bool merge_stage_finished(const merge_stage *m);

/* Writes the held partitions as "a,b,c" (or "none") into buf. */
void merge_stage_list(const merge_stage *m, char *buf, size_t n);

/* The windows the held tasks keep and their counters' heap bytes. */
void merge_stage_usage(const merge_stage *m, uint64_t *windows, uint64_t *counter_bytes);

/* Totals over every task this run held. */
merge_stats merge_stage_get_stats(const merge_stage *m);

#endif
