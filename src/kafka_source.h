/* kafka_source.h - frames from a Kafka topic: a librdkafka consumer group member feeding ingest.
 *
 * One ingest input per assigned partition; partition end + idle timeout -> ingest_idle, and wall
 * ticks while some are idle. Exactly once (the default) or at least once, as kafka_run says;
 * behaviour in full, with the guarantees: docs/kafka.md and docs/state.md.
 *
 * Ownership: everything is borrowed; kafka_run returns with the consumer closed.
 */
#ifndef KUNIQ_KAFKA_SOURCE_H
#define KUNIQ_KAFKA_SOURCE_H

#include <signal.h>
#include <stdint.h>

#include "ingest.h"
#include "kafka_commit.h"
#include "kafka_conf.h"
#include "kafka_sink.h"
#include "kafka_start.h"
#include "merge_stage.h"
#include "stats.h"

typedef struct kafka_source_stats {
	uint64_t messages;   /* messages read (valid or not) */
	uint64_t tombstones; /* NULL-value messages (counted as "empty" by ingest too) */
	uint64_t skipped;    /* re-delivered offsets already read, or from unassigned partitions */
	uint64_t assigned;   /* partitions assigned (rebalances included) */
	uint64_t revoked;    /* partitions revoked or lost */
	uint64_t commits;    /* offset commits acknowledged by the broker */
	uint64_t commit_fails; /* offset commits that failed (retried at the next interval) */
} kafka_source_stats;

typedef struct kafka_source_cfg {
	kafka_conn conn;
	const char *topic;
	const char *group; /* consumer group */
	const char
	    *instance_id;  /* static membership: group.instance.id = "<group>-<instance_id>" */
	kafka_start start; /* -o: where partitions the group has no position for start */
	/* the group's committed positions are this process's: set once the first assignment is
	 * checked against an exact -o (shared by the runs of one process: a rebuild resumes) */
	bool *start_owned;
	bool exit_at_end; /* -e: every assigned partition at its end is the end of input */
	double idle_timeout;
	/* exactly once (kafka_commit.h): NULL = at least once (docs/kafka.md) */
	kafka_txn *txn;
	const char *state_topic;
	const char *output_topic;   /* where results go (NULL: stdio), warmed up before the first
	                             * transaction */
	double checkpoint_interval; /* seconds between commits */
	uint64_t identity;          /* checkpoint_identity of the run */
	/* --scale-out (docs/scale-out.md; needs txn): ingest's engine is the counting stage
	 * (engine_cfg.combine), merge the merging stage; NULL = one process counts everything */
	merge_stage *merge;
	const char *partials_topic;
	int partials_partitions; /* created with this many when absent */
	stats_reporter *stats;   /* --stats-interval, --metrics: NULL = none */
	double stats_interval;   /* seconds (librdkafka's statistics.interval.ms follows it) */
} kafka_source_cfg;

/* Consumes cfg->topic as member of cfg->group until *stop is set, a fatal error, or
 * (cfg->exit_at_end) every assigned partition is read to its end: that is the end of input, where
 * every open window is emitted before the last commit. Frames go to in. out is the Kafka sink the
 * engine emits to, or NULL when results go to stdio streams only.
 *
 * Exactly once (cfg->txn): first restores the committed state from cfg->state_topic (the global
 * part at once, each partition's part when it is assigned, resuming at its committed position),
 * then every cfg->checkpoint_interval commits results, state and offsets in one transaction
 * (kafka_commit.h); also on revocation and at the end. A stop commits and leaves open windows
 * open: the next run restores them. in must be fresh (nothing restored or counted yet).
 *
 * At least once: offsets are committed only below frames still in open windows and once the
 * results before them are delivered; a stop does not emit open windows, the next run recomputes
 * them from the committed offsets.
 *
 * Writes a one-line JSON summary of the Kafka counters to stderr. Returns KAFKA_OK, KAFKA_FAILED
 * (fatal producer error, fenced, corrupt state, results undelivered), KAFKA_CONFIG (bad -X),
 * or KAFKA_RESTART (exactly once: the state in memory is not the committed one any more; the
 * caller rebuilds ingest and engine and runs again). Do not call ingest_finish after it. */
kafka_status kafka_run(const kafka_source_cfg *cfg, ingest *in, kafka_sink *out,
                       volatile sig_atomic_t *stop);

#endif
