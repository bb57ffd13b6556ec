/* kafka_topic.h - the topics kuniq creates and inspects: the state topic (changelog.h) and the
 * partials topic of --scale-out (docs/scale-out.md).
 *
 * Ownership: nothing is kept; clients are created and destroyed inside each call.
 */
#ifndef KUNIQ_KAFKA_TOPIC_H
#define KUNIQ_KAFKA_TOPIC_H

#include <stddef.h>

#include "kafka_conf.h"

/* Creates topic with partitions and the n topic configs unless it exists. what names the topic's
 * role in messages ("changelog topic"). Returns 0, or -1 with err. */
int kafka_topic_create(const kafka_conn *conn, const char *topic, int partitions,
                       const kafka_kv *configs, size_t n, const char *what, char *err,
                       size_t errlen);

/* The number of partitions of topic as the brokers know it (waits up to timeout_s for the topic
 * to exist). Returns it, or -1 with err. */
int kafka_topic_partitions(const kafka_conn *conn, const char *topic, double timeout_s, char *err,
                           size_t errlen);

#endif
