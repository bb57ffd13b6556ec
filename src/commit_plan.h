/* commit_plan.h - which input offset of a Kafka partition may be committed, and when.
 *
 * The at-least-once rule of docs/kafka.md, kept apart from librdkafka so it can be tested alone:
 * a partition may be committed up to min(next offset to read, safe offset), the safe offset being
 * the lowest offset whose frame is not yet in an emitted result (ingest_safe_offset). A snapshot
 * of that point is taken with the output sink's mark and committed only once every result before
 * the mark is delivered; a committed offset never moves back.
 */
#ifndef KUNIQ_COMMIT_PLAN_H
#define KUNIQ_COMMIT_PLAN_H

#include <stdbool.h>
#include <stdint.h>

typedef struct commit_plan {
	int64_t next;      /* next offset to read (-1: none read yet) */
	int64_t committed; /* highest offset the broker acknowledged (-1: none) */
	int64_t snap;      /* offset in the pending snapshot (-1: none) */
} commit_plan;

void commit_plan_init(commit_plan *p);

/* A message at offset o was read. Returns false when o was read before (a re-delivery). */
bool commit_plan_read(commit_plan *p, int64_t o);

/* The offset up to which the partition may be committed (exclusive), or -1 when none was read. */
int64_t commit_plan_point(const commit_plan *p, int64_t safe);

/* Takes the snapshot: snap = the point when it is above the committed offset. Returns whether
 * there is something to commit. */
bool commit_plan_snapshot(commit_plan *p, int64_t safe);

/* The snapshot offset to commit now (or -1 when it is not above the committed offset); the
 * snapshot is cleared. */
int64_t commit_plan_take(commit_plan *p);

/* The broker acknowledged offset o. */
void commit_plan_acked(commit_plan *p, int64_t o);

#endif
