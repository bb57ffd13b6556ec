/* kafka_health.c - broker outages (see kafka_health.h). */
#include "kafka_health.h"

#include <stdio.h>

#define PROBE_TIMEOUT_MS 1000

void kafka_health_init(kafka_health *h, const char *brokers)
{
	*h = (kafka_health){.brokers = brokers};
}

void kafka_health_down(kafka_health *h, const char *reason)
{
	if (h->down)
		return;
	h->down = true;
	h->since = h->reminded = h->probed = kafka_now();
	kafka_log("brokers %s unreachable (%s): waiting for them, reconnecting with backoff; "
	          "results and commits resume when they are back",
	          h->brokers, reason);
}

void kafka_health_up(kafka_health *h)
{
	if (!h->down)
		return;
	kafka_log("brokers reachable again after %.1f s", kafka_now() - h->since);
	h->down = false;
}

void kafka_health_suspect(kafka_health *h, const char *reason)
{
	if (h->down)
		return; /* already reported; reminders follow */
	h->suspect = true;
	snprintf(h->suspect_reason, sizeof h->suspect_reason, "%s", reason);
}

/* True when some broker answers a metadata request within PROBE_TIMEOUT_MS. */
static bool probe(rd_kafka_t *rk)
{
	const struct rd_kafka_metadata *md = NULL;
	if (rd_kafka_metadata(rk, 0, NULL, &md, PROBE_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	rd_kafka_metadata_destroy(md);
	return true;
}

void kafka_health_tick(kafka_health *h, rd_kafka_t *rk, double now)
{
	if (h->suspect && !h->down) {
		h->suspect = false;
		if (!probe(rk))
			kafka_health_down(h, h->suspect_reason);
		return;
	}
	h->suspect = false;
	if (!h->down)
		return;
	if (now - h->probed >= HEALTH_PROBE_S) {
		h->probed = now;
		if (probe(rk)) {
			kafka_health_up(h);
			return;
		}
	}
	kafka_health_remind(h, now);
}

void kafka_health_remind(kafka_health *h, double now)
{
	if (!h->down || now - h->reminded < HEALTH_REMIND_S)
		return;
	h->reminded = now;
	kafka_log("still waiting for brokers %s (unreachable for %.0f s)", h->brokers,
	          now - h->since);
}
