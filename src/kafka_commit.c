/* kafka_commit.c - the transaction that commits results, state and offsets together (see
 * kafka_commit.h for the guarantee; docs/kafka.md for the operator's view).
 *
 * How it works: one librdkafka transactional producer (enable.idempotence and transactional.id
 * implied). After init_transactions the producer always has a transaction open: kafka_txn_new
 * begins the first, every commit begins the next, so results emitted at any moment land in one.
 * Each librdkafka call's error is classified the way librdkafka documents: fatal (fenced: stop),
 * needs abort (abort, then the caller rebuilds from the committed state), retriable (call again
 * after a short pause, until RETRY_FOR_S).
 */
#include "kafka_commit.h"

#include "kafka_health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CALL_TIMEOUT_MS 30000
#define RETRY_FOR_S 120.0
#define INIT_TIMEOUT_MS 5000

struct kafka_txn {
	rd_kafka_t *rk;
	char state_topic[256];
	bool open; /* a transaction is open */
	kafka_txn_stats st;
};

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char why[512];
		rd_kafka_resp_err_t f = rd_kafka_fatal_error(rk, why, sizeof why);
		kafka_log(
		    "error: transactional producer failed fatally: %s: %s%s", rd_kafka_err2name(f),
		    why,
		    f == RD_KAFKA_RESP_ERR__FENCED || f == RD_KAFKA_RESP_ERR_PRODUCER_FENCED
		        ? " (fenced: a newer kuniq with the same group and instance id took over)"
		        : "");
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
	    err == RD_KAFKA_RESP_ERR__RESOLVE)
		return; /* the consumer reports broker outages (same brokers) */
	kafka_log("producer: %s: %s", rd_kafka_err2name(err), reason);
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	/* a failed message fails the commit of its transaction, which is then aborted */
	if (m->err)
		kafka_log("message to %s not delivered: %s (its transaction will abort)",
		          rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
}

/* Classifies err (consumed). Returns KAFKA_OK to retry, KAFKA_RESTART or KAFKA_FAILED. */
static kafka_status classify(kafka_txn *t, rd_kafka_error_t *err, const char *what)
{
	kafka_status s;
	if (rd_kafka_error_is_fatal(err)) {
		rd_kafka_resp_err_t c = rd_kafka_error_code(err);
		bool fenced = c == RD_KAFKA_RESP_ERR__FENCED ||
		              c == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
		              c == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
		kafka_log("error: %s: %s%s", what, rd_kafka_error_string(err),
		          fenced
		              ? " (fenced: a newer kuniq with the same group and instance id took "
		                "over; this one stops without committing)"
		              : "");
		s = KAFKA_FAILED;
	} else if (rd_kafka_error_txn_requires_abort(err)) {
		kafka_log("%s: %s: aborting the transaction; rebuilding from the committed state",
		          what, rd_kafka_error_string(err));
		kafka_txn_abort(t);
		s = KAFKA_RESTART;
	} else if (rd_kafka_error_is_retriable(err)) {
		s = KAFKA_OK;
	} else {
		kafka_log("%s: %s: aborting the transaction; rebuilding from the committed state",
		          what, rd_kafka_error_string(err));
		kafka_txn_abort(t);
		s = KAFKA_RESTART;
	}
	rd_kafka_error_destroy(err);
	return s;
}

static rd_kafka_error_t *call_send(kafka_txn *t, rd_kafka_t *c,
                                   const rd_kafka_topic_partition_list_t *offsets)
{
	rd_kafka_consumer_group_metadata_t *md = rd_kafka_consumer_group_metadata(c);
	rd_kafka_error_t *e =
	    rd_kafka_send_offsets_to_transaction(t->rk, offsets, md, CALL_TIMEOUT_MS);
	rd_kafka_consumer_group_metadata_destroy(md);
	return e;
}

static kafka_status begin(kafka_txn *t)
{
	rd_kafka_error_t *e = rd_kafka_begin_transaction(t->rk);
	if (e) {
		kafka_log("error: cannot begin a transaction: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		return KAFKA_FAILED;
	}
	t->open = true;
	return KAFKA_OK;
}

kafka_txn *kafka_txn_new(const kafka_conn *conn, const char *transactional_id,
                         const char *state_topic, volatile sig_atomic_t *stop,
                         kafka_status *why_failed, char *err, size_t errlen)
{
	*why_failed = KAFKA_CONFIG;
	const kafka_kv defaults[] = {
	    {"client.id", "kuniq-producer"},
	    {"transactional.id", transactional_id},
	    {"linger.ms", "5"},
	    /* a transaction begun right after a commit meets CONCURRENT_TRANSACTIONS while the
	     * coordinator writes the markers: retry soon, not after the default 100 ms */
	    {"retry.backoff.ms", "20"},
	};
	kafka_txn *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(t->state_topic, sizeof t->state_topic, "%s", state_topic);
	t->rk = kafka_producer_new(conn, defaults, sizeof defaults / sizeof defaults[0], t,
	                           dr_msg_cb, error_cb, err, errlen);
	if (!t->rk)
		goto fail;
	/* brokers that are down at start are waited for, like the consumer waits for them */
	*why_failed = KAFKA_FAILED;
	kafka_health h;
	kafka_health_init(&h, conn->brokers);
	for (;;) {
		rd_kafka_error_t *e = rd_kafka_init_transactions(t->rk, INIT_TIMEOUT_MS);
		if (!e)
			break;
		bool again = rd_kafka_error_is_retriable(e) && !*stop;
		snprintf(err, errlen, "initialising transactions (transactional.id %s): %s",
		         transactional_id, rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		if (!again)
			goto fail;
		kafka_health_down(&h, err);
		kafka_health_remind(&h, kafka_now());
	}
	kafka_health_up(&h);
	if (begin(t) != KAFKA_OK) {
		snprintf(err, errlen, "cannot begin the first transaction");
		goto fail;
	}
	return t;
fail:
	kafka_txn_free(t);
	return NULL;
}

void kafka_txn_free(kafka_txn *t)
{
	if (!t)
		return;
	if (t->rk) {
		if (t->open && !kafka_txn_fatal(t))
			kafka_txn_abort(t);
		rd_kafka_destroy(t->rk);
	}
	free(t);
}

rd_kafka_t *kafka_txn_producer(kafka_txn *t)
{
	return t->rk;
}

int kafka_txn_send(kafka_txn *t, const char *topic, int32_t partition, const char *key,
                   const uint8_t *val, size_t len)
{
	for (;;) {
		rd_kafka_resp_err_t e = rd_kafka_producev(
		    t->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, strlen(key)),
		    RD_KAFKA_V_VALUE((void *)val, val ? len : 0), RD_KAFKA_V_END);
		if (!e)
			return 0;
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			kafka_log("error: record %s to %s not produced: %s", key, topic,
			          rd_kafka_err2str(e));
			return -1;
		}
		rd_kafka_poll(t->rk, 50);
	}
}

static int put_state(void *ctx, const char *key, const uint8_t *val, size_t len)
{
	kafka_txn *t = ctx;
	if (kafka_txn_send(t, t->state_topic, 0, key, val, len) != 0)
		return -1;
	t->st.state_records++;
	t->st.state_bytes += strlen(key) + (val ? len : 0);
	return 0;
}

state_sink kafka_txn_state_sink(kafka_txn *t)
{
	return (state_sink){.ctx = t, .put = put_state};
}

void kafka_txn_poll(kafka_txn *t)
{
	rd_kafka_poll(t->rk, 0);
}

kafka_status kafka_txn_commit(kafka_txn *t, rd_kafka_t *consumer,
                              const rd_kafka_topic_partition_list_t *offsets,
                              void (*waiting)(void *ctx, const char *why), void *ctx)
{
	double t0 = kafka_now(), until = t0 + RETRY_FOR_S;
	kafka_status s = KAFKA_OK;
	bool sent = !offsets || offsets->cnt == 0;
	for (;;) {
		rd_kafka_error_t *e = sent ? rd_kafka_commit_transaction(t->rk, INIT_TIMEOUT_MS)
		                           : call_send(t, consumer, offsets);
		if (!e && sent)
			break;
		if (!e) {
			sent = true;
			continue;
		}
		const char *what = sent ? "committing the transaction" : "sending offsets";
		char why[512];
		snprintf(why, sizeof why, "%s: %s", what, rd_kafka_error_string(e));
		if ((s = classify(t, e, what)) != KAFKA_OK)
			return s;
		if (waiting)
			waiting(ctx, why);
		if (kafka_now() > until) {
			kafka_log("%s: still failing after %.0f s: aborting; rebuilding from the "
			          "committed state",
			          what, RETRY_FOR_S);
			kafka_txn_abort(t);
			return KAFKA_RESTART;
		}
		usleep(200000);
	}
	t->open = false;
	double dt = kafka_now() - t0;
	t->st.commits++;
	t->st.commit_s += dt;
	if (dt > t->st.max_commit_s)
		t->st.max_commit_s = dt;
	return begin(t);
}

void kafka_txn_abort(kafka_txn *t)
{
	if (!t->open)
		return;
	rd_kafka_error_t *e = rd_kafka_abort_transaction(t->rk, CALL_TIMEOUT_MS);
	if (e) {
		kafka_log("aborting the transaction: %s (its records stay invisible to "
		          "read_committed readers either way)",
		          rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	t->open = false;
	t->st.aborts++;
}

void kafka_txn_warm(kafka_txn *t, const char *topic)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(t->rk, topic, NULL);
	const struct rd_kafka_metadata *md = NULL;
	if (rkt && rd_kafka_metadata(t->rk, 0, rkt, &md, CALL_TIMEOUT_MS) == 0)
		rd_kafka_metadata_destroy(md);
	if (rkt)
		rd_kafka_topic_destroy(rkt);
}

bool kafka_txn_fatal(kafka_txn *t)
{
	char why[8];
	return rd_kafka_fatal_error(t->rk, why, sizeof why) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

const kafka_txn_stats *kafka_txn_get_stats(const kafka_txn *t)
{
	return &t->st;
}
