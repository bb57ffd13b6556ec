/* kafka_conf.h - librdkafka configuration shared by the Kafka source and sink, and their logging.
 *
 * A configuration is built in three layers, later ones winning: bootstrap.servers from --brokers,
 * the caller's defaults, then every -X key=value from the command line (as kcat does). librdkafka
 * log lines and errors go to stderr prefixed "kuniq: kafka: ".
 */
#ifndef KUNIQ_KAFKA_CONF_H
#define KUNIQ_KAFKA_CONF_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "cli.h"

typedef struct kafka_kv {
	const char *key, *val;
} kafka_kv;

/* defaults: n key/value pairs. Returns a new conf (the caller owns it until rd_kafka_new takes
 * it) or NULL with a message in err. */
rd_kafka_conf_t *kafka_conf_new(const cli_config *cfg, const kafka_kv *defaults, size_t n,
                                char *err, size_t errlen);

/* printf-like line on stderr: "kuniq: kafka: <message>\n". */
void kafka_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic and wall-clock time in seconds. */
double kafka_now(void);
double kafka_wall(void);

#endif
