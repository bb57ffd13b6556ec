/* kafka_conf.c - librdkafka configuration from the command line, and the Kafka log helpers.
 *
 * librdkafka's own log lines (warnings and worse) are routed through kafka_log so that every
 * Kafka message on stderr has the same prefix; debug chatter (level > 5) is dropped unless the
 * user asked for it with -X debug=....
 */
#include "kafka_conf.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void kafka_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	log_msg(log_level_of(line), "kafka: %s", line);
}

double kafka_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double kafka_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	/* connection failures also reach the error callbacks, which report outages once */
	if (level > 7 || strcmp(fac, "FAIL") == 0)
		return;
	/* a fresh broker's coordinators are loading: librdkafka retries by itself */
	if (strcmp(fac, "GETPID") == 0 && strstr(buf, "retrying"))
		return;
	kafka_log("%s%s: %s", level <= 3 ? "error: " : level <= 4 ? "warning: " : "", fac, buf);
}

static int set(rd_kafka_conf_t *conf, const char *key, const char *val, char *err, size_t errlen)
{
	char why[512];
	if (rd_kafka_conf_set(conf, key, val, why, sizeof why) == RD_KAFKA_CONF_OK)
		return 0;
	snprintf(err, errlen, "%s=%s: %s", key, val, why);
	return -1;
}

/* The -F file's properties; a refused one is named by its file and line. */
static int set_props(rd_kafka_conf_t *conf, const kafka_props *p, char *err, size_t errlen)
{
	char why[512];
	for (int i = 0; i < p->n; i++) {
		if (rd_kafka_conf_set(conf, p->keys[i], p->vals[i], why, sizeof why) ==
		    RD_KAFKA_CONF_OK)
			continue;
		snprintf(err, errlen, "%s:%d: %s=%s: %s", p->path, p->lines[i], p->keys[i],
		         p->vals[i], why);
		return -1;
	}
	return 0;
}

int kafka_conf_list(void)
{
	rd_kafka_conf_properties_show(stdout);
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	fprintf(stderr, "kuniq: -X list: writing to stdout failed\n");
	return -1;
}

rd_kafka_conf_t *kafka_conf_new(const kafka_conn *conn, const kafka_kv *defaults, size_t n,
                                char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (!conf) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rd_kafka_conf_set_log_cb(conf, log_cb);
	/* librdkafka logs at syslog level 6 (info) by default: keep its warnings and errors, and
	 * its debug-level lines too with -v (log.h) */
	if (set(conf, "log_level", log_get_level() >= LOG_DEBUG ? "7" : "4", err, errlen))
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (set(conf, defaults[i].key, defaults[i].val, err, errlen))
			goto fail;
	if (conn->props && set_props(conf, conn->props, err, errlen))
		goto fail;
	if (set(conf, "bootstrap.servers", conn->brokers, err, errlen))
		goto fail;
	for (int i = 0; i < conn->nx; i++)
		if (set(conf, conn->x_keys[i], conn->x_vals[i], err, errlen))
			goto fail;
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

rd_kafka_t *kafka_producer_new(const kafka_conn *conn, const kafka_kv *defaults, size_t n,
                               void *opaque,
                               void (*dr_msg_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                               void (*error_cb)(rd_kafka_t *, int, const char *, void *), char *err,
                               size_t errlen)
{
	rd_kafka_conf_t *conf = kafka_conf_new(conn, defaults, n, err, errlen);
	if (!conf)
		return NULL;
	rd_kafka_conf_set_opaque(conf, opaque);
	rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	char why[512];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, errlen, "producer: %s", why);
	}
	return rk;
}
