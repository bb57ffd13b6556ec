/* kafka_topic.c - create and inspect topics (see kafka_topic.h).
 *
 * Both use a short-lived client of their own: creation goes through the admin API
 * (CreateTopics; an existing topic is fine), the partition count through a metadata request.
 */
#include "kafka_topic.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static rd_kafka_t *client_new(const kafka_conn *conn, const char *id, char *err, size_t errlen)
{
	const kafka_kv defaults[] = {{"client.id", id}};
	rd_kafka_conf_t *conf = kafka_conf_new(conn, defaults, 1, err, errlen);
	if (!conf)
		return NULL;
	char why[512];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, errlen, "admin client: %s", why);
	}
	return rk;
}

int kafka_topic_create(const kafka_conn *conn, const char *topic, int partitions,
                       const kafka_kv *configs, size_t n, const char *what, char *err,
                       size_t errlen)
{
	rd_kafka_t *rk = client_new(conn, "kuniq-admin", err, errlen);
	if (!rk)
		return -1;
	int rc = -1;
	char why[512] = "bad config";
	rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, -1, why, sizeof why);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *opt =
	    rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	bool bad = !nt || rd_kafka_AdminOptions_set_request_timeout(opt, 30000, why, sizeof why);
	for (size_t i = 0; !bad && i < n; i++)
		bad = rd_kafka_NewTopic_set_config(nt, configs[i].key, configs[i].val) != 0;
	if (bad) {
		snprintf(err, errlen, "%s %s: %s", what, topic, why);
		goto out;
	}
	rd_kafka_CreateTopics(rk, &nt, 1, opt, q);
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 35000);
	if (!ev) {
		snprintf(err, errlen, "%s %s: no answer from the brokers", what, topic);
		goto out;
	}
	const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
	size_t nres = 0;
	const rd_kafka_topic_result_t **tr =
	    res ? rd_kafka_CreateTopics_result_topics(res, &nres) : NULL;
	rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
	if (!e && nres == 1)
		e = rd_kafka_topic_result_error(tr[0]);
	if (!e || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
		rc = 0;
	else
		snprintf(err, errlen, "cannot create %s %s: %s", what, topic,
		         nres == 1 && rd_kafka_topic_result_error_string(tr[0])
		             ? rd_kafka_topic_result_error_string(tr[0])
		             : rd_kafka_err2str(e));
	rd_kafka_event_destroy(ev);
out:
	rd_kafka_AdminOptions_destroy(opt);
	rd_kafka_queue_destroy(q);
	if (nt)
		rd_kafka_NewTopic_destroy(nt);
	rd_kafka_destroy(rk);
	return rc;
}

int kafka_topic_partitions(const kafka_conn *conn, const char *topic, double timeout_s, char *err,
                           size_t errlen)
{
	rd_kafka_t *rk = client_new(conn, "kuniq-metadata", err, errlen);
	if (!rk)
		return -1;
	rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
	double until = kafka_now() + timeout_s;
	int n = -1;
	snprintf(err, errlen, "topic %s: not found within %.0f s", topic, timeout_s);
	while (t && n < 0 && kafka_now() < until) {
		const struct rd_kafka_metadata *md = NULL;
		rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 5000);
		if (!e && md->topic_cnt == 1 && !md->topics[0].err &&
		    md->topics[0].partition_cnt > 0)
			n = md->topics[0].partition_cnt;
		else if (!e && md->topic_cnt == 1)
			snprintf(err, errlen, "topic %s: %s", topic,
			         rd_kafka_err2str(md->topics[0].err));
		else if (e)
			snprintf(err, errlen, "topic %s: metadata: %s", topic, rd_kafka_err2str(e));
		if (md)
			rd_kafka_metadata_destroy(md);
		if (n < 0)
			rd_kafka_poll(rk, 100);
	}
	if (t)
		rd_kafka_topic_destroy(t);
	rd_kafka_destroy(rk);
	return n;
}
