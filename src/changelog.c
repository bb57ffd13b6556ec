/* changelog.c - create and read the state topic (see changelog.h).
 *
 * Reading: a consumer outside any group, isolation.level=read_committed, assigned partition 0 from
 * the beginning, reads until librdkafka reports the partition's end (for a read_committed
 * consumer, the last stable offset: records of aborted or still open transactions are never
 * returned). kafka_commit.c initialises its transactional producer first, which aborts whatever
 * transaction a previous instance left open, so the end is reached promptly.
 */
#include "changelog.h"

#include "kafka_topic.h"

#include <stdio.h>
#include <string.h>

#define READ_BATCH 1024

int changelog_create(const kafka_conn *conn, const char *topic, char *err, size_t errlen)
{
	/* small segments: compaction never touches the active segment, and a restore reads
	 * everything not compacted yet; a live run writes a few records a second for years */
	static const kafka_kv configs[] = {
	    {"cleanup.policy", "compact"},
	    {"segment.bytes", "67108864"},
	    {"segment.ms", "3600000"},
	    {"min.cleanable.dirty.ratio", "0.2"},
	};
	return kafka_topic_create(conn, topic, 1, configs, sizeof configs / sizeof configs[0],
	                          "changelog topic", err, errlen);
}

static rd_kafka_t *reader_new(const kafka_conn *conn, char *err, size_t errlen)
{
	static const kafka_kv defaults[] = {
	    {"client.id", "kuniq-state-reader"},
	    {"group.id", "kuniq-state-reader"}, /* required by librdkafka; never joined */
	    {"enable.auto.commit", "false"},
	    {"enable.partition.eof", "true"},
	    {"isolation.level", "read_committed"},
	    {"auto.offset.reset", "earliest"},
	    /* the end of an empty or fully read partition is known after a fetch wait */
	    {"fetch.wait.max.ms", "20"},
	};
	rd_kafka_conf_t *conf =
	    kafka_conf_new(conn, defaults, sizeof defaults / sizeof defaults[0], err, errlen);
	if (!conf)
		return NULL;
	char why[512];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, errlen, "state reader: %s", why);
	}
	return rk;
}

/* One message: a record into m, the end, or an error. Returns 1 at the end, 0, or -1. */
static int take(const rd_kafka_message_t *m, state_map *map, changelog_stats *st, char *err,
                size_t errlen)
{
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		return 1;
	if (m->err) {
		/* transient errors (a broker restarting) are retried by librdkafka */
		if (m->err == RD_KAFKA_RESP_ERR__TRANSPORT ||
		    m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
			return 0;
		snprintf(err, errlen, "reading state: %s", rd_kafka_message_errstr(m));
		return -1;
	}
	char key[256];
	if (!m->key || m->key_len == 0 || m->key_len >= sizeof key) {
		snprintf(err, errlen,
		         "state record at offset %lld: bad key (not a kuniq changelog topic?)",
		         (long long)m->offset);
		return -1;
	}
	memcpy(key, m->key, m->key_len);
	key[m->key_len] = '\0';
	if (state_map_put(map, key, m->payload, m->len) != 0) {
		snprintf(err, errlen, "out of memory reading state");
		return -1;
	}
	st->records++;
	st->bytes += m->key_len + m->len;
	return 0;
}

int changelog_read(const kafka_conn *conn, const char *topic, state_map *m, changelog_stats *st,
                   double timeout_s, char *err, size_t errlen)
{
	*st = (changelog_stats){0};
	double t0 = kafka_now();
	rd_kafka_t *rk = reader_new(conn, err, errlen);
	if (!rk)
		return -1;
	int64_t lo = 0, hi = 0;
	rd_kafka_resp_err_t we = rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, 10000);
	/* a topic created a moment ago may have no leader yet: ask again briefly rather than fall
	 * back to reading it, which waits for librdkafka's next metadata refresh */
	for (int i = 0; we && i < 40; i++) {
		rd_kafka_poll(rk, 25);
		we = rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, 10000);
	}
	if (!we && hi <= lo) { /* empty: nothing to wait for */
		rd_kafka_destroy(rk);
		st->seconds = kafka_now() - t0;
		return 0;
	}
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	int rc = e ? -1 : 0;
	if (e)
		snprintf(err, errlen, "reading state: %s", rd_kafka_err2str(e));
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
	rd_kafka_message_t *msgs[READ_BATCH];
	double last = kafka_now();
	while (rc == 0) {
		ssize_t n = rd_kafka_consume_batch_queue(q, 200, msgs, READ_BATCH);
		int r = 0;
		for (ssize_t i = 0; i < n; i++) {
			if (r == 0)
				r = take(msgs[i], m, st, err, errlen);
			rd_kafka_message_destroy(msgs[i]);
		}
		if (r != 0) {
			rc = r < 0 ? -1 : 0;
			break;
		}
		if (n > 0)
			last = kafka_now();
		else if (kafka_now() - last > timeout_s) {
			snprintf(err, errlen, "reading changelog topic %s: no progress for %.0f s",
			         topic, timeout_s);
			rc = -1;
		}
	}
	rd_kafka_queue_destroy(q);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	st->seconds = kafka_now() - t0;
	return rc;
}
