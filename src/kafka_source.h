/* kafka_source.h - frames from a Kafka topic: a librdkafka consumer group member feeding ingest.
 *
 * One ingest input per assigned partition; partition end + idle timeout -> ingest_idle, and wall
 * ticks while some are idle; input offsets committed manually, only below ingest_safe_offset and
 * only once the results emitted so far are delivered (so at least
 * once: a frame's offset is committed only when every window it counts in is in the output).
 * Revoked partitions keep their engine input and state (their windows are still emitted here);
 * a partition assigned again resumes at this process's own position, never re-reading a frame.
 * Behaviour in full, with the delivery guarantee: docs/kafka.md.
 *
 * Ownership: everything is borrowed; kafka_run returns with the consumer closed.
 */
#ifndef KUNIQ_KAFKA_SOURCE_H
#define KUNIQ_KAFKA_SOURCE_H

#include <signal.h>
#include <stdint.h>

#include "cli.h"
#include "ingest.h"
#include "kafka_sink.h"

typedef struct kafka_source_stats {
	uint64_t messages;   /* messages read (valid or not) */
	uint64_t tombstones; /* NULL-value messages (counted as "empty" by ingest too) */
	uint64_t skipped;    /* re-delivered offsets already read, or from unassigned partitions */
	uint64_t assigned;   /* partitions assigned (rebalances included) */
	uint64_t revoked;    /* partitions revoked or lost */
	uint64_t commits;    /* offset commits acknowledged by the broker */
	uint64_t commit_fails; /* offset commits that failed (retried at the next interval) */
} kafka_source_stats;

/* Consumes cfg->topic as member of cfg->group (default "kuniq") until *stop is set, a fatal
 * error, or (cfg->exit_at_end) every assigned partition is read to its end: that is the end of
 * input, where every open window is emitted before offsets are committed. Frames go to in. out is
 * the Kafka sink the engine emits to, or NULL when results go to stdio streams only (they are
 * flushed before each commit). On stop: the batch in hand is processed, results are flushed to the
 * output topic, safe offsets are committed, and the consumer leaves its group. Open windows are not
 * emitted (the next run recomputes them from the committed offsets): do not call ingest_finish
 * after it. Writes a one-line JSON summary of the Kafka counters to stderr. Returns 0; 1 on a
 * runtime failure (fatal producer error, results given up or left undelivered at exit); 2 on a
 * configuration error (bad -X, unknown property), all reported on stderr. */
int kafka_run(const cli_config *cfg, ingest *in, kafka_sink *out, volatile sig_atomic_t *stop);

#endif
