/* kafka_start.c - the -o option: parsing, and the offsets it gives partitions (kafka_start.h). */
#include "kafka_start.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal integer in [0, 2^62] making up all of s (2^62: far from the logical offsets). */
static bool parse_count(const char *s, int64_t *out)
{
	if (*s < '0' || *s > '9')
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end != '\0' || v > (1LL << 62))
		return false;
	*out = v;
	return true;
}

bool kafka_start_parse(const char *s, kafka_start *out)
{
	if (strcmp(s, "beginning") == 0) {
		*out = (kafka_start){KAFKA_START_BEGINNING, 0};
		return true;
	}
	if (strcmp(s, "end") == 0) {
		*out = (kafka_start){KAFKA_START_END, 0};
		return true;
	}
	if (s[0] == '@' || (s[0] == 's' && s[1] == '@')) { /* kcat also writes s@ts */
		out->kind = KAFKA_START_TIME;
		return parse_count(s + (s[0] == '@' ? 1 : 2), &out->value);
	}
	if (s[0] == '-') {
		out->kind = KAFKA_START_TAIL;
		return parse_count(s + 1, &out->value) && out->value > 0;
	}
	out->kind = KAFKA_START_OFFSET;
	return parse_count(s, &out->value);
}

bool kafka_start_exact(const kafka_start *s)
{
	return s->kind != KAFKA_START_BEGINNING && s->kind != KAFKA_START_END;
}

const char *kafka_start_reset(const kafka_start *s)
{
	return s->kind == KAFKA_START_BEGINNING ? "earliest" : "latest";
}

int kafka_start_resolve(rd_kafka_t *rk, const kafka_start *s, rd_kafka_topic_partition_list_t *l,
                        int timeout_ms, char *err, size_t errlen)
{
	for (int i = 0; i < l->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &l->elems[i];
		switch (s->kind) {
		case KAFKA_START_BEGINNING:
			tp->offset = RD_KAFKA_OFFSET_BEGINNING;
			break;
		case KAFKA_START_END:
			tp->offset = RD_KAFKA_OFFSET_END;
			break;
		case KAFKA_START_OFFSET:
			tp->offset = s->value;
			break;
		case KAFKA_START_TAIL:
			tp->offset = RD_KAFKA_OFFSET_TAIL(s->value);
			break;
		case KAFKA_START_TIME:
			tp->offset = s->value;
			break;
		}
	}
	if (s->kind != KAFKA_START_TIME || l->cnt == 0)
		return 0;
	rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, l, timeout_ms);
	for (int i = 0; !e && i < l->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &l->elems[i];
		if (tp->err)
			e = tp->err;
		else if (tp->offset < 0) /* no message at or after the time: the end */
			tp->offset = RD_KAFKA_OFFSET_END;
	}
	if (e) {
		snprintf(err, errlen, "-o @%" PRId64 ": looking up the offsets for the time: %s",
		         s->value, rd_kafka_err2str(e));
		return -1;
	}
	return 0;
}

const char *kafka_start_str(const kafka_start *s, char *buf, size_t len)
{
	switch (s->kind) {
	case KAFKA_START_END:
		snprintf(buf, len, "end");
		break;
	case KAFKA_START_BEGINNING:
		snprintf(buf, len, "beginning");
		break;
	case KAFKA_START_OFFSET:
		snprintf(buf, len, "%" PRId64, s->value);
		break;
	case KAFKA_START_TAIL:
		snprintf(buf, len, "-%" PRId64, s->value);
		break;
	case KAFKA_START_TIME:
		snprintf(buf, len, "@%" PRId64, s->value);
		break;
	}
	return buf;
}
