/* kafka_start.h - where Kafka partitions start reading: the -o option (kcat's forms).
 *
 * -o beginning | end | OFFSET | -N | @TIMESTAMP_MS. It applies to partitions the group has no
 * committed position for (no committed offset, no state): a committed position always wins,
 * and an exact position (OFFSET, -N, @ts) given to a group that already has one is a usage
 * error (docs/kafka.md, "Where a run starts").
 */
#ifndef KUNIQ_KAFKA_START_H
#define KUNIQ_KAFKA_START_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

typedef enum kafka_start_kind {
	KAFKA_START_END = 0, /* the default: only what is produced from now on */
	KAFKA_START_BEGINNING,
	KAFKA_START_OFFSET, /* value: an absolute offset */
	KAFKA_START_TAIL,   /* value: N, the last N offsets of the partition */
	KAFKA_START_TIME,   /* value: ms; the first message with a timestamp >= value */
} kafka_start_kind;

typedef struct kafka_start {
	kafka_start_kind kind;
	int64_t value;
} kafka_start;

/* Parses an -o value. Returns false when s is none of the forms. */
bool kafka_start_parse(const char *s, kafka_start *out);

/* An exact position (OFFSET, -N, @ts), as opposed to beginning/end (auto.offset.reset). */
bool kafka_start_exact(const kafka_start *s);

/* The value of auto.offset.reset: "earliest" for beginning, else "latest". */
const char *kafka_start_reset(const kafka_start *s);

/* Sets the offset of every element of l to where s starts it (a timestamp is looked up with
 * rd_kafka_offsets_for_times; a time after the last message is the end). Returns 0, or -1 with
 * a message in err. */
int kafka_start_resolve(rd_kafka_t *rk, const kafka_start *s, rd_kafka_topic_partition_list_t *l,
                        int timeout_ms, char *err, size_t errlen);

/* s as given on the command line ("@1468244400000", "-100"...), into buf. */
const char *kafka_start_str(const kafka_start *s, char *buf, size_t len);

#endif
