/* metrics_topic.h - --metrics-topic: each stats JSON line also as a record of a Kafka topic (key
 * "<group>/<instance>", so a compacted topic keeps each process's latest figures), for teams
 * that feed dashboards from Kafka. A plain idempotent producer outside any transaction: stats
 * are not results, and a lost or repeated line is harmless.
 *
 * Ownership: metrics_topic_new returns an object the caller frees (flushing what is queued).
 */
#ifndef KUNIQ_METRICS_TOPIC_H
#define KUNIQ_METRICS_TOPIC_H

#include <stddef.h>

#include "kafka_conf.h"

typedef struct metrics_topic metrics_topic;

metrics_topic *metrics_topic_new(const kafka_conn *conn, const char *topic, const char *key,
                                 char *err, size_t errlen);
void metrics_topic_free(metrics_topic *m);

/* A stats_publish_fn (stats.h): ctx is the metrics_topic. */
void metrics_topic_publish(void *ctx, const char *json, size_t len);

#endif
