/* kafka_sink.h - results to a Kafka topic through an idempotent librdkafka producer.
 *
 * Each result becomes one message: value = result_format_json, key = result_format_key
 * ("minute/1468244340"), so a compacted topic keeps the latest result per window. Every message
 * gets a sequence number; the sink knows the lowest sequence number not yet delivered, which lets
 * the Kafka source commit input offsets only once the results they produced are in the output
 * topic (kafka_sink_mark / kafka_sink_delivered).
 *
 * Delivery failures: librdkafka retries internally (idempotent: no duplicates); a message that
 * still fails with a retriable error (e.g. the broker was down longer than message.timeout.ms) is
 * produced again by the sink, counted and reported on stderr; a permanent error (message too
 * large, not authorised) is counted, reported and given up. A fatal producer error stops the sink
 * (kafka_sink_fatal) and every later emit fails.
 *
 * Ownership: kafka_sink_new copies what it needs from cfg and cal; `also` (may have emit == NULL)
 * is borrowed and must outlive the sink. The result_sink from kafka_sink_result_sink borrows the
 * sink. kafka_sink_free flushes nothing: call kafka_sink_flush first.
 */
#ifndef KUNIQ_KAFKA_SINK_H
#define KUNIQ_KAFKA_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calendar.h"
#include "kafka_conf.h"
#include "result.h"

typedef struct kafka_sink_stats {
	uint64_t produced;  /* results handed to the producer */
	uint64_t delivered; /* delivery reports without error */
	uint64_t retried;   /* messages produced again after a failed delivery */
	uint64_t failed;    /* given up: permanent error or fatal producer error (reported) */
} kafka_sink_stats;

typedef struct kafka_sink kafka_sink;

/* Creates the producer for topic (conn: brokers and -X pairs). `also` is a second sink every
 * result is also given to (e.g. stdout with --stdout); pass {0} for none. With txn_producer
 * (exactly-once, kafka_commit.h) results are produced with it, borrowed, inside its open
 * transaction: delivery is then the transaction's business (the mark/delivered/flush calls below
 * report everything delivered). Returns NULL with a message in err (always terminated) on a
 * configuration error. */
kafka_sink *kafka_sink_new(const kafka_conn *conn, const char *topic, const calendar *cal,
                           result_sink also, rd_kafka_t *txn_producer, char *err, size_t errlen);

/* The result_sink to hand to engine_new. */
result_sink kafka_sink_result_sink(kafka_sink *s);

/* Sequence number the next result will get. Every result emitted before this call has a smaller
 * one. */
uint64_t kafka_sink_mark(const kafka_sink *s);

/* True when every result with a sequence number below mark is delivered or given up (reported). */
bool kafka_sink_delivered(const kafka_sink *s, uint64_t mark);

/* Serves delivery reports and produces failed messages again (after a backoff). Non-blocking;
 * call it often. */
void kafka_sink_poll(kafka_sink *s);

/* Waits up to timeout_ms for every result to be delivered. Returns 0 when all are, else -1
 * (after reporting how many are still undelivered). */
int kafka_sink_flush(kafka_sink *s, int timeout_ms);

/* True after a fatal producer error (reported on stderr); no result is delivered after it. */
bool kafka_sink_fatal(const kafka_sink *s);

const kafka_sink_stats *kafka_sink_get_stats(const kafka_sink *s);

void kafka_sink_free(kafka_sink *s);

#endif
