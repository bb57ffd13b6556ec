/* kafka_commit.h - exactly-once: results, state and input offsets in one Kafka transaction.
 *
 * The guarantee. Between two commits, everything a run produces goes into one open transaction:
 * the result records (the output topic), the state records that describe the run after them
 * (the state topic, changelog.h) and, at commit, the next offset of every input partition
 * (sent with the consumer's group metadata, so the group coordinator fences a member that lost
 * its partitions). Either all of it becomes visible to read_committed readers or none of it does.
 * So the committed state always describes exactly the frames below the committed offsets, and
 * the committed results exactly the windows that state has emitted: after any crash, restoring
 * the state and reading on from the offsets reproduces what the lost transaction held, and no
 * result is visible twice.
 *
 * Zombies. The transactional id is fixed per (group, instance id): a new process initialising it
 * aborts whatever transaction the previous one left open and fences it: the old producer's next
 * call fails fatally (reported as "fenced"), so it can never commit again.
 *
 * Failures. A commit that fails in a way that needs an abort is aborted, and the run must be
 * rebuilt from the committed state (KAFKA_RESTART): in-memory state is then ahead of it. A fatal
 * error (fenced, or the producer failed) ends the run (KAFKA_FAILED). Retriable errors (brokers
 * briefly away) are retried until the transaction timeout.
 *
 * Ownership: kafka_txn_new returns a transaction the caller frees; the producer handle it lends
 * (kafka_txn_producer) lives as long as it.
 */
#ifndef KUNIQ_KAFKA_COMMIT_H
#define KUNIQ_KAFKA_COMMIT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kafka_conf.h"
#include "state.h"

typedef struct kafka_txn_stats {
	uint64_t commits;       /* transactions committed */
	uint64_t aborts;        /* transactions aborted */
	uint64_t state_records; /* state records produced (deletions included) */
	uint64_t state_bytes;   /* their key and value bytes */
	double commit_s;        /* time spent committing (send offsets + commit), in total */
	double max_commit_s;    /* the longest commit */
} kafka_txn_stats;

typedef struct kafka_txn kafka_txn;

/* Creates the transactional producer, initialises its transactions (fencing any older instance
 * with the same transactional_id; brokers that are down are waited for until *stop) and begins
 * the first one. Returns NULL with err on failure and *why_failed = KAFKA_CONFIG (a bad -X
 * property) or KAFKA_FAILED. */
kafka_txn *kafka_txn_new(const kafka_conn *conn, const char *transactional_id,
                         const char *state_topic, volatile sig_atomic_t *stop,
                         kafka_status *why_failed, char *err, size_t errlen);
void kafka_txn_free(kafka_txn *t);

/* The producer results are produced with (kafka_sink.h), inside the open transaction. */
rd_kafka_t *kafka_txn_producer(kafka_txn *t);

/* Records to the state topic, inside the open transaction. */
state_sink kafka_txn_state_sink(kafka_txn *t);

/* Produces one record (copied) to topic's partition inside the open transaction, waiting while
 * the producer's queue is full. Returns 0, or -1 (logged). */
int kafka_txn_send(kafka_txn *t, const char *topic, int32_t partition, const char *key,
                   const uint8_t *val, size_t len);

/* Serves the producer's callbacks. Non-blocking. */
void kafka_txn_poll(kafka_txn *t);

/* Sends offsets (next offset per input partition; may be empty) with consumer's group metadata,
 * commits the transaction and begins the next. While a retriable error (brokers away) repeats,
 * waiting(ctx, why) is called between attempts (may be NULL). KAFKA_OK, KAFKA_RESTART (aborted)
 * or KAFKA_FAILED (fatal: fenced). */
kafka_status kafka_txn_commit(kafka_txn *t, rd_kafka_t *consumer,
                              const rd_kafka_topic_partition_list_t *offsets,
                              void (*waiting)(void *ctx, const char *why), void *ctx);

/* Aborts the open transaction (nothing of it becomes visible). Best effort. */
void kafka_txn_abort(kafka_txn *t);

/* Fetches topic's metadata now, so the first transaction does not wait for it (about 1 s). */
void kafka_txn_warm(kafka_txn *t, const char *topic);

/* True after a fatal producer error (fenced by a newer instance, or failed): the run must end
 * without committing anything more. */
bool kafka_txn_fatal(kafka_txn *t);

const kafka_txn_stats *kafka_txn_get_stats(const kafka_txn *t);

#endif
