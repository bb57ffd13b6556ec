/* kafka_sink.c - results to a Kafka topic through an idempotent producer (see kafka_sink.h).
 *
 * How delivery is tracked: each produced message carries its sequence number as the message
 * opaque. A ring of "done" flags indexed by sequence number (power-of-two capacity, doubled when
 * the number of messages in flight reaches it) records delivery reports, which may arrive out of
 * order across output partitions; `low`, the lowest sequence number not yet done, advances over
 * the done flags. A result is done when delivered, or when given up after a permanent error.
 *
 * Failed deliveries: the delivery report hands back key and value; on a retriable error they are
 * copied to a retry list (keeping their sequence number) and produced again by kafka_sink_poll,
 * at most once per second, so a long broker outage costs one retry round per second and one log
 * line per round, not a busy loop.
 */
#include "kafka_sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_conf.h"

typedef struct retry_msg {
	uint64_t seq;
	char *key;
	size_t key_len;
	char *val;
	size_t val_len;
	struct retry_msg *next;
} retry_msg;

struct kafka_sink {
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	calendar cal;
	result_sink also;
	char topic[256];
	/* delivery tracking */
	uint8_t *done; /* done[seq & (cap - 1)] */
	uint64_t cap;
	uint64_t low;  /* lowest sequence number not done */
	uint64_t next; /* next sequence number to hand out */
	/* retries */
	retry_msg *retry_head, *retry_tail;
	double next_retry; /* kafka_now() after which the retry list is produced again */
	uint64_t last_error_log;
	bool fatal;
	bool in_txn; /* rk is the transactional producer (kafka_commit.h), borrowed */
	kafka_sink_stats st;
};

/* Marks seq done and advances low. */
static void mark_done(kafka_sink *s, uint64_t seq)
{
	if (seq < s->low || seq >= s->next)
		return;
	s->done[seq & (s->cap - 1)] = 1;
	while (s->low < s->next && s->done[s->low & (s->cap - 1)]) {
		s->done[s->low & (s->cap - 1)] = 0;
		s->low++;
	}
}

/* Makes room for one more sequence number in flight. Returns -1 when out of memory. */
static int ring_reserve(kafka_sink *s)
{
	if (s->next - s->low < s->cap)
		return 0;
	uint64_t ncap = s->cap * 2;
	uint8_t *nd = calloc(ncap, 1);
	if (!nd)
		return -1;
	for (uint64_t q = s->low; q < s->next; q++)
		nd[q & (ncap - 1)] = s->done[q & (s->cap - 1)];
	free(s->done);
	s->done = nd;
	s->cap = ncap;
	return 0;
}

static bool permanent_error(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
	case RD_KAFKA_RESP_ERR__FATAL:
		return true;
	default:
		return false;
	}
}

static void queue_retry(kafka_sink *s, uint64_t seq, const rd_kafka_message_t *m)
{
	retry_msg *r = calloc(1, sizeof *r);
	char *key = malloc(m->key_len + 1);
	char *val = malloc(m->len + 1);
	if (!r || !key || !val) {
		free(r);
		free(key);
		free(val);
		kafka_log("error: out of memory keeping a result for retry: result lost");
		s->st.failed++;
		mark_done(s, seq);
		return;
	}
	if (m->key_len)
		memcpy(key, m->key, m->key_len);
	if (m->len)
		memcpy(val, m->payload, m->len);
	*r = (retry_msg){seq, key, m->key_len, val, m->len, NULL};
	if (s->retry_tail)
		s->retry_tail->next = r;
	else
		s->retry_head = r;
	s->retry_tail = r;
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	kafka_sink *s = opaque;
	uint64_t seq = (uint64_t)(uintptr_t)m->_private;
	if (!m->err) {
		s->st.delivered++;
		mark_done(s, seq);
		return;
	}
	int key_len = m->key_len > 64 ? 64 : (int)m->key_len;
	if (permanent_error(m->err) || s->fatal) {
		s->st.failed++;
		kafka_log("error: result %.*s not delivered to %s: %s (given up)", key_len,
		          (const char *)m->key, s->topic, rd_kafka_err2str(m->err));
		mark_done(s, seq);
		return;
	}
	if (s->st.retried == s->last_error_log || s->st.retried - s->last_error_log >= 100) {
		kafka_log(
		    "result %.*s not delivered to %s yet: %s; producing it again (%llu retried "
		    "so far)",
		    key_len, (const char *)m->key, s->topic, rd_kafka_err2str(m->err),
		    (unsigned long long)s->st.retried + 1);
		s->last_error_log = s->st.retried + 1;
	}
	queue_retry(s, seq, m);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	kafka_sink *s = opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char why[512];
		rd_kafka_resp_err_t ferr = rd_kafka_fatal_error(rk, why, sizeof why);
		s->fatal = true;
		kafka_log("error: output producer failed fatally: %s: %s", rd_kafka_err2name(ferr),
		          why);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
	    err == RD_KAFKA_RESP_ERR__RESOLVE)
		return; /* the consumer reports broker outages (same brokers) */
	kafka_log("output producer: %s: %s", rd_kafka_err2name(err), reason);
}

/* Hands one message to librdkafka, waiting while its queue is full. Returns 0 or -1 (reported). */
static int produce(kafka_sink *s, uint64_t seq, const char *key, size_t key_len, const char *val,
                   size_t val_len)
{
	for (;;) {
		if (rd_kafka_produce(s->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
		                     (void *)val, val_len, key, key_len,
		                     (void *)(uintptr_t)seq) == 0)
			return 0;
		rd_kafka_resp_err_t err = rd_kafka_last_error();
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			rd_kafka_poll(s->rk, 50);
			continue;
		}
		kafka_log("error: result %.*s not produced to %s: %s (given up)", (int)key_len, key,
		          s->topic, rd_kafka_err2str(err));
		s->st.failed++;
		return -1;
	}
}

static int emit(void *ctx, const result *r)
{
	kafka_sink *s = ctx;
	char key[64], val[512];
	size_t kl = result_format_key(r, key, sizeof key);
	size_t vl = result_format_json(r, &s->cal, val, sizeof val);
	int rc = 0;
	if (kl >= sizeof key || vl >= sizeof val) {
		kafka_log("error: result does not fit its buffer (key %zu, value %zu bytes)", kl,
		          vl);
		s->st.failed++;
		rc = -1;
	} else if (s->fatal) {
		s->st.failed++;
		rc = -1;
	} else if (ring_reserve(s) != 0) {
		kafka_log("error: out of memory tracking deliveries");
		s->st.failed++;
		rc = -1;
	} else {
		uint64_t seq = s->next++;
		s->st.produced++;
		if (produce(s, seq, key, kl, val, vl) != 0) {
			mark_done(s, seq);
			rc = -1;
		} else if (s->in_txn) {
			mark_done(s, seq); /* delivered (or not) with its transaction */
		}
	}
	if (s->also.emit && s->also.emit(s->also.ctx, r) != 0)
		rc = -1;
	return rc;
}

kafka_sink *kafka_sink_new(const kafka_conn *conn, const char *topic, const calendar *cal,
                           result_sink also, rd_kafka_t *txn_producer, char *err, size_t errlen)
{
	static const kafka_kv defaults[] = {
	    {"client.id", "kuniq-producer"},
	    {"enable.idempotence", "true"},
	    {"linger.ms", "5"},
	};
	kafka_sink *s = calloc(1, sizeof *s);
	if (!s || !(s->done = calloc(1024, 1))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cap = 1024;
	s->cal = *cal;
	s->also = also;
	snprintf(s->topic, sizeof s->topic, "%s", topic);
	if (txn_producer) {
		s->rk = txn_producer;
		s->in_txn = true;
		goto topic;
	}
	s->rk = kafka_producer_new(conn, defaults, sizeof defaults / sizeof defaults[0], s,
	                           dr_msg_cb, error_cb, err, errlen);
	if (!s->rk)
		goto fail;
topic:
	s->rkt = rd_kafka_topic_new(s->rk, topic, NULL);
	if (!s->rkt) {
		snprintf(err, errlen, "output topic %s: %s", topic,
		         rd_kafka_err2str(rd_kafka_last_error()));
		goto fail;
	}
	return s;
fail:
	kafka_sink_free(s);
	return NULL;
}

result_sink kafka_sink_result_sink(kafka_sink *s)
{
	return (result_sink){.emit = emit, .ctx = s};
}

uint64_t kafka_sink_mark(const kafka_sink *s)
{
	return s->next;
}

bool kafka_sink_delivered(const kafka_sink *s, uint64_t mark)
{
	return s->low >= mark;
}

void kafka_sink_poll(kafka_sink *s)
{
	if (s->in_txn)
		return; /* the transaction serves its producer */
	rd_kafka_poll(s->rk, 0);
	if (!s->retry_head || kafka_now() < s->next_retry)
		return;
	s->next_retry = kafka_now() + 1.0;
	retry_msg *r = s->retry_head;
	s->retry_head = s->retry_tail = NULL;
	while (r) {
		retry_msg *nx = r->next;
		s->st.retried++;
		if (s->fatal || produce(s, r->seq, r->key, r->key_len, r->val, r->val_len) != 0) {
			if (s->fatal)
				s->st.failed++;
			mark_done(s, r->seq);
		}
		free(r->key);
		free(r->val);
		free(r);
		r = nx;
	}
}

int kafka_sink_flush(kafka_sink *s, int timeout_ms)
{
	double deadline = kafka_now() + timeout_ms / 1000.0;
	while (s->low < s->next) {
		double left = deadline - kafka_now();
		if (left <= 0)
			break;
		if (s->retry_head)
			s->next_retry = 0;
		kafka_sink_poll(s);
		rd_kafka_poll(s->rk, left > 0.1 ? 100 : (int)(left * 1000) + 1);
	}
	if (s->low < s->next) {
		kafka_log("error: %llu result(s) not delivered to %s after waiting %d ms",
		          (unsigned long long)(s->next - s->low), s->topic, timeout_ms);
		return -1;
	}
	return 0;
}

bool kafka_sink_fatal(const kafka_sink *s)
{
	return s->fatal;
}

const kafka_sink_stats *kafka_sink_get_stats(const kafka_sink *s)
{
	return &s->st;
}

void kafka_sink_free(kafka_sink *s)
{
	if (!s)
		return;
	if (s->rkt)
		rd_kafka_topic_destroy(s->rkt);
	if (s->rk && !s->in_txn)
		rd_kafka_destroy(s->rk); /* drops what is still queued: flush first */
	while (s->retry_head) {
		retry_msg *nx = s->retry_head->next;
		free(s->retry_head->key);
		free(s->retry_head->val);
		free(s->retry_head);
		s->retry_head = nx;
	}
	free(s->done);
	free(s);
}
