/* kafka_conf.h - librdkafka configuration shared by the Kafka source and sink, and their logging.
 *
 * A configuration is built in layers, later ones winning: the caller's defaults, the -F properties
 * file, bootstrap.servers from --brokers, then every -X key=value from the command line (as kcat
 * does). librdkafka
 * log lines and errors go to stderr prefixed "kuniq: kafka: ".
 */
#ifndef KUNIQ_KAFKA_CONF_H
#define KUNIQ_KAFKA_CONF_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "kafka_props.h"

/* How to reach the brokers: what every Kafka client of kuniq shares (from the command line). */
typedef struct kafka_conn {
	const char *brokers;
	const char *const *x_keys; /* -X key=value pairs, applied last */
	const char *const *x_vals;
	int nx;
	const kafka_props *props; /* -F FILE (NULL: none), applied before -X */
} kafka_conn;

/* What a Kafka run ends with; main maps it to an exit status. */
typedef enum kafka_status {
	KAFKA_OK = 0,
	KAFKA_FAILED = 1, /* a runtime failure, reported on stderr */
	KAFKA_CONFIG = 2, /* a configuration error, reported on stderr */
	KAFKA_RESTART =
	    3, /* state in memory is no longer the committed one (an aborted transaction,
	        * a partition that moved): rebuild everything from the committed state */
} kafka_status;

typedef struct kafka_kv {
	const char *key, *val;
} kafka_kv;

/* defaults: n key/value pairs. Returns a new conf (the caller owns it until rd_kafka_new takes
 * it) or NULL with a message in err. */
rd_kafka_conf_t *kafka_conf_new(const kafka_conn *conn, const kafka_kv *defaults, size_t n,
                                char *err, size_t errlen);

/* A producer on conn with defaults, opaque and its two callbacks. Returns NULL with err. */
rd_kafka_t *kafka_producer_new(const kafka_conn *conn, const kafka_kv *defaults, size_t n,
                               void *opaque,
                               void (*dr_msg_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                               void (*error_cb)(rd_kafka_t *, int, const char *, void *), char *err,
                               size_t errlen);

/* -X list: librdkafka's configuration properties on stdout. Returns 0, or -1 (reported). */
int kafka_conf_list(void);

/* printf-like line on stderr: "kuniq: kafka: <message>\n". */
void kafka_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic and wall-clock time in seconds. */
double kafka_now(void);
double kafka_wall(void);

#endif
