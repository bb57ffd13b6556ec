/* kafka_health.h - broker outages: noticed once, reported once, reminded, and their end seen.
 *
 * Shared by the Kafka source (consumer errors, lost connections, commits that keep failing) and
 * the transactional producer (brokers down at start), so an outage is reported the same way
 * whoever notices it: "brokers X unreachable (reason): waiting for them", a reminder every
 * HEALTH_REMIND_S, and "brokers reachable again after N s".
 *
 * A lost connection is only a suspicion (librdkafka drops idle connections, and does not always
 * say "all brokers down"): kafka_health_tick confirms it with a metadata request, and while the
 * brokers are down probes every HEALTH_PROBE_S, since an idle client gets no other sign that they
 * are back. Ownership: a plain value; the handle passed to tick is borrowed.
 */
#ifndef KUNIQ_KAFKA_HEALTH_H
#define KUNIQ_KAFKA_HEALTH_H

#include <stdbool.h>

#include "kafka_conf.h"

#define HEALTH_REMIND_S 10.0
#define HEALTH_PROBE_S 2.0

typedef struct kafka_health {
	const char *brokers;
	bool down;
	double since, reminded, probed;
	bool suspect; /* a connection was lost: probe at the next tick */
	char suspect_reason[256];
} kafka_health;

void kafka_health_init(kafka_health *h, const char *brokers);

/* The brokers are unreachable (reported once per outage). */
void kafka_health_down(kafka_health *h, const char *reason);

/* Something answered: the outage, if any, is over (reported). */
void kafka_health_up(kafka_health *h);

/* A connection was lost: checked at the next tick. */
void kafka_health_suspect(kafka_health *h, const char *reason);

/* Confirms suspicions, probes while down, reminds. rk: any client of the brokers. */
void kafka_health_tick(kafka_health *h, rd_kafka_t *rk, double now);

/* Only the reminder, every HEALTH_REMIND_S while down (for callers that learn the end of the
 * outage otherwise). */
void kafka_health_remind(kafka_health *h, double now);

#endif
