/* stats.h - what a run reports while it works: a JSON line on stderr every --stats-interval
 * seconds, the same figures as Prometheus text for --metrics (metrics_http.h), and optionally
 * the JSON to a Kafka topic (--metrics-topic).
 *
 * Sources (file and Kafka) ask stats_due() between batches and, when it is time, describe where
 * they stand in a stats_snapshot; stats_report renders it. Rates are per interval (the figures
 * since the previous report). The figures and their names: docs/operations.md.
 *
 * Ownership: the reporter borrows its FILE, its HTTP server and its publish callback; snapshots
 * are borrowed for the call.
 */
#ifndef KUNIQ_STATS_H
#define KUNIQ_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ingest.h"
#include "merge_stage.h"
#include "metrics_http.h"

/* One Kafka partition being read. */
typedef struct stats_part {
	int32_t id;
	int64_t position; /* next offset to read; -1: none yet */
	int64_t end;      /* the partition's end (high watermark) as last seen; -1: unknown */
	bool wm_set;
	int64_t watermark; /* its event-time watermark, unix seconds */
	bool idle;
} stats_part;

/* librdkafka's own statistics (statistics.interval.ms), totals of the client. */
typedef struct stats_rdkafka {
	bool set;
	int64_t rx, rx_bytes, rxmsgs, tx, tx_bytes, txmsgs, replyq, msg_cnt;
} stats_rdkafka;

typedef struct stats_snapshot {
	const ingest *in;         /* frames, bytes, rejections; its engine: late, windows, memory */
	const merge_stage *merge; /* --scale-out: the merge tasks' windows and late frames */
	const char *topic;        /* Kafka: the input topic; NULL for files */
	const stats_part *parts;  /* Kafka: the assigned partitions */
	int nparts;
	bool has_results;           /* results produced/delivered below are known (Kafka sink) */
	uint64_t results_produced;  /* records handed to the output */
	uint64_t results_delivered; /* acknowledged (exactly once: committed) */
	const stats_rdkafka *rdkafka;
} stats_snapshot;

typedef struct stats_reporter stats_reporter;

/* publish(ctx, json, len): the JSON line (without newline) for --metrics-topic; may be NULL. */
typedef void (*stats_publish_fn)(void *ctx, const char *json, size_t len);

/* interval: seconds between JSON lines on out (0: none; the HTTP server, if any, is refreshed
 * every second then). Returns NULL when out of memory. */
stats_reporter *stats_reporter_new(double interval, FILE *out, metrics_http *http);
void stats_reporter_free(stats_reporter *r);
void stats_reporter_publish(stats_reporter *r, stats_publish_fn fn, void *ctx);

/* True when a report is due at now (monotonic seconds); false for a NULL reporter. */
bool stats_due(const stats_reporter *r, double now);

/* Renders s: the JSON line to out and the publish callback, the Prometheus text to the server. */
void stats_report(stats_reporter *r, const stats_snapshot *s, double now);

/* Parses the totals of one librdkafka statistics JSON document into *out. */
void stats_rdkafka_parse(const char *json, size_t len, stats_rdkafka *out);

#endif
