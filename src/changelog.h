/* changelog.h - the compacted Kafka topic that holds kuniq's state (docs/state.md).
 *
 * One partition, cleanup.policy=compact: the latest record per key is the state, a tombstone
 * deletes a key. Records are written only inside the transactions of kafka_commit.c, so a reader
 * with isolation.level=read_committed sees exactly the state of the last committed transaction.
 *
 * Ownership: changelog_read fills a caller-owned map; nothing is kept.
 */
#ifndef KUNIQ_CHANGELOG_H
#define KUNIQ_CHANGELOG_H

#include <stddef.h>
#include <stdint.h>

#include "kafka_conf.h"
#include "state.h"

typedef struct changelog_stats {
	uint64_t records; /* records read (tombstones included) */
	uint64_t bytes;   /* key and value bytes read */
	double seconds;   /* time to read to the end */
} changelog_stats;

/* Creates topic (compacted, one partition) unless it exists. Returns 0, or -1 with err. */
int changelog_create(const kafka_conn *conn, const char *topic, char *err, size_t errlen);

/* Reads every committed record of topic into m (latest value per key, tombstones applied).
 * Returns 0, or -1 with err (unreachable brokers for timeout_s, out of memory). */
int changelog_read(const kafka_conn *conn, const char *topic, state_map *m, changelog_stats *st,
                   double timeout_s, char *err, size_t errlen);

#endif
