/* metrics_topic.c - stats lines to a Kafka topic (see metrics_topic.h). */
#include "metrics_topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metrics_topic {
	rd_kafka_t *rk;
	char topic[256];
	char key[256];
	unsigned long failed;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	metrics_topic *t = opaque;
	if (m->err && t->failed++ == 0)
		kafka_log("warning: stats record to %s not delivered: %s (further failures are not "
		          "reported)",
		          t->topic, rd_kafka_err2str(m->err));
}

static void err_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	(void)err;
	(void)opaque;
	(void)reason; /* outages are reported by the run's own clients */
}

metrics_topic *metrics_topic_new(const kafka_conn *conn, const char *topic, const char *key,
                                 char *err, size_t errlen)
{
	metrics_topic *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(m->topic, sizeof m->topic, "%s", topic);
	snprintf(m->key, sizeof m->key, "%s", key);
	static const kafka_kv defaults[] = {{"client.id", "kuniq-metrics"}, {"linger.ms", "100"}};
	m->rk = kafka_producer_new(conn, defaults, 2, m, dr_cb, err_cb, err, errlen);
	if (m->rk == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

void metrics_topic_free(metrics_topic *m)
{
	if (m == NULL)
		return;
	rd_kafka_flush(m->rk, 5000);
	rd_kafka_destroy(m->rk);
	free(m);
}

void metrics_topic_publish(void *ctx, const char *json, size_t len)
{
	metrics_topic *m = ctx;
	rd_kafka_producev(m->rk, RD_KAFKA_V_TOPIC(m->topic),
	                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	                  RD_KAFKA_V_KEY(m->key, strlen(m->key)),
	                  RD_KAFKA_V_VALUE((void *)json, len), RD_KAFKA_V_END);
	rd_kafka_poll(m->rk, 0);
}
