/* stats.c - periodic stats: the JSON line, Prometheus text, librdkafka's totals (see stats.h).
 *
 * Both renderings come from one snapshot, so the JSON line, /metrics and the topic always tell
 * the same figures. Counters are totals since the start of the run (restored ones included, like
 * the summary); rates are over the last interval. Memory is the counters' heap (what grows with
 * users) and the process's resident set (/proc/self/statm).
 */
#include "stats.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct stats_reporter {
	double interval; /* JSON lines; 0: none */
	FILE *out;
	metrics_http *http;
	stats_publish_fn publish;
	void *publish_ctx;
	double next, last; /* monotonic seconds: next report due, last report */
	double start;
	uint64_t last_frames, last_bytes;
	bool started;
};

/* ---- a growable text buffer ------------------------------------------------------------------ */

typedef struct text {
	char *p;
	size_t n, cap;
	bool oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int w = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
		va_end(ap);
		if (w < 0 || t->oom)
			return;
		if (t->p && t->n + (size_t)w < t->cap) {
			t->n += (size_t)w;
			return;
		}
		size_t ncap = (t->cap ? t->cap * 2 : 4096) + (size_t)w;
		char *np = realloc(t->p, ncap);
		if (np == NULL) {
			t->oom = true;
			return;
		}
		t->p = np;
		t->cap = ncap;
	}
}

/* ---- the reporter ------------------------------------------------------------------------ */

stats_reporter *stats_reporter_new(double interval, FILE *out, metrics_http *http)
{
	stats_reporter *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->interval = interval;
	r->out = out;
	r->http = http;
	return r;
}

void stats_reporter_free(stats_reporter *r)
{
	free(r);
}

void stats_reporter_publish(stats_reporter *r, stats_publish_fn fn, void *ctx)
{
	r->publish = fn;
	r->publish_ctx = ctx;
}

static double period(const stats_reporter *r)
{
	return r->interval > 0 ? r->interval : 1.0;
}

bool stats_due(const stats_reporter *r, double now)
{
	return r != NULL && (!r->started || now >= r->next);
}

/* ---- figures ------------------------------------------------------------------------------ */

typedef struct figures {
	uint64_t rejected, open_windows, counter_bytes, rss_bytes, windows_emitted;
	uint64_t late[WINDOW_KIND_COUNT];
	bool g_set;
	int64_t g;
	double frames_per_s, mb_per_s, uptime_s;
} figures;

static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long size = 0, res = 0;
	if (f == NULL)
		return 0;
	int n = fscanf(f, "%llu %llu", &size, &res);
	fclose(f);
	return n == 2 ? (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void gather(stats_reporter *r, const stats_snapshot *s, double now, figures *f)
{
	const ingest *in = s->in;
	*f = (figures){0};
	f->rejected = ingest_rejected(in);
	const engine_stats *es = engine_get_stats(in->eng);
	for (int k = 0; k < WINDOW_KIND_COUNT; k++)
		f->late[k] = es->late[k];
	f->windows_emitted = es->windows_emitted;
	engine_usage(in->eng, &f->open_windows, &f->counter_bytes);
	f->g_set = engine_get_watermark(in->eng, &f->g);
	if (s->merge) {
		merge_stats ms = merge_stage_get_stats(s->merge);
		uint64_t w, b;
		merge_stage_usage(s->merge, &w, &b);
		f->open_windows += w;
		f->counter_bytes += b;
		f->windows_emitted += ms.windows_emitted;
		for (int k = 0; k < WINDOW_KIND_COUNT; k++)
			f->late[k] += ms.late[k];
	}
	f->rss_bytes = rss_bytes();
	double dt = r->started ? now - r->last : 0;
	if (dt > 1e-6) {
		f->frames_per_s = (double)(in->frames_read - r->last_frames) / dt;
		f->mb_per_s = (double)(in->bytes - r->last_bytes) / dt / 1e6;
	}
	f->uptime_s = now - r->start;
}

/* ---- JSON -------------------------------------------------------------------------------- */

static void json(text *t, const stats_snapshot *s, const figures *f, unsigned kinds)
{
	const ingest *in = s->in;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char stamp[32];
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	put(t,
	    "{\"stats\":{\"time\":\"%s\",\"uptime_s\":%.1f,\"frames\":%" PRIu64
	    ",\"bytes\":%" PRIu64
	    ",\"frames_per_s\":%.0f,\"mb_per_s\":%.1f,\"frames_valid\":%" PRIu64 ",\"rejected\":{",
	    stamp, f->uptime_s, in->frames_read, in->bytes, f->frames_per_s, f->mb_per_s,
	    in->frames_read - f->rejected);
	for (int i = 1; i < FRAME_STATUS_COUNT; i++)
		put(t, "\"%s\":%" PRIu64 ",", frame_status_name((frame_status)i), in->rejected[i]);
	put(t, "\"ts_range\":%" PRIu64 ",\"ts_ahead\":%" PRIu64 "},\"late\":{", in->ts_range,
	    ingest_ts_ahead(in));
	const char *sep = "";
	for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
		if (!((kinds >> k) & 1u))
			continue;
		put(t, "%s\"%s\":%" PRIu64, sep, window_kind_name((window_kind)k), f->late[k]);
		sep = ",";
	}
	put(t,
	    "},\"open_windows\":%" PRIu64 ",\"counter_bytes\":%" PRIu64 ",\"rss_bytes\":%" PRIu64
	    ",\"windows_emitted\":%" PRIu64,
	    f->open_windows, f->counter_bytes, f->rss_bytes, f->windows_emitted);
	if (f->g_set && !s->merge && f->g != INT64_MAX)
		put(t, ",\"watermark\":%" PRId64, f->g);
	if (s->has_results)
		put(t, ",\"results_produced\":%" PRIu64 ",\"results_delivered\":%" PRIu64,
		    s->results_produced, s->results_delivered);
	if (s->topic) {
		put(t, ",\"partitions\":[");
		for (int i = 0; i < s->nparts; i++) {
			const stats_part *p = &s->parts[i];
			put(t,
			    "%s{\"partition\":%" PRId32 ",\"position\":%" PRId64
			    ",\"end\":%" PRId64,
			    i ? "," : "", p->id, p->position, p->end);
			if (p->end >= 0 && p->position >= 0)
				put(t, ",\"lag\":%" PRId64, p->end - p->position);
			if (p->wm_set)
				put(t, ",\"watermark\":%" PRId64, p->watermark);
			put(t, ",\"idle\":%s}", p->idle ? "true" : "false");
		}
		put(t, "]");
	}
	const stats_rdkafka *k = s->rdkafka;
	if (k && k->set)
		put(t,
		    ",\"rdkafka\":{\"rx\":%" PRId64 ",\"rx_bytes\":%" PRId64 ",\"rxmsgs\":%" PRId64
		    ",\"tx\":%" PRId64 ",\"tx_bytes\":%" PRId64 ",\"txmsgs\":%" PRId64
		    ",\"replyq\":%" PRId64 ",\"msg_cnt\":%" PRId64 "}",
		    k->rx, k->rx_bytes, k->rxmsgs, k->tx, k->tx_bytes, k->txmsgs, k->replyq,
		    k->msg_cnt);
	put(t, "}}");
}

/* ---- Prometheus -------------------------------------------------------------------------- */

static void metric(text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP kuniq_%s %s\n# TYPE kuniq_%s %s\n", name, help, name, type);
}

static void prometheus(text *t, const stats_snapshot *s, const figures *f, unsigned kinds)
{
	const ingest *in = s->in;
	metric(t, "frames_total", "counter", "Frames read (valid or not).");
	put(t, "kuniq_frames_total %" PRIu64 "\n", in->frames_read);
	metric(t, "bytes_total", "counter", "Bytes of frames read.");
	put(t, "kuniq_bytes_total %" PRIu64 "\n", in->bytes);
	metric(t, "frames_rejected_total", "counter", "Frames rejected, by reason.");
	for (int i = 1; i < FRAME_STATUS_COUNT; i++)
		put(t, "kuniq_frames_rejected_total{reason=\"%s\"} %" PRIu64 "\n",
		    frame_status_name((frame_status)i), in->rejected[i]);
	put(t, "kuniq_frames_rejected_total{reason=\"ts_range\"} %" PRIu64 "\n", in->ts_range);
	put(t, "kuniq_frames_rejected_total{reason=\"ts_ahead\"} %" PRIu64 "\n",
	    ingest_ts_ahead(in));
	metric(t, "frames_late_total", "counter", "Frames late for a window, by window kind.");
	for (int k = 0; k < WINDOW_KIND_COUNT; k++)
		if ((kinds >> k) & 1u)
			put(t, "kuniq_frames_late_total{window=\"%s\"} %" PRIu64 "\n",
			    window_kind_name((window_kind)k), f->late[k]);
	metric(t, "open_windows", "gauge", "Windows held in memory.");
	put(t, "kuniq_open_windows %" PRIu64 "\n", f->open_windows);
	metric(t, "counter_bytes", "gauge", "Heap bytes of the windows' counters.");
	put(t, "kuniq_counter_bytes %" PRIu64 "\n", f->counter_bytes);
	metric(t, "resident_bytes", "gauge", "Resident memory of the process.");
	put(t, "kuniq_resident_bytes %" PRIu64 "\n", f->rss_bytes);
	metric(t, "windows_emitted_total", "counter", "Result records emitted.");
	put(t, "kuniq_windows_emitted_total %" PRIu64 "\n", f->windows_emitted);
	metric(t, "uptime_seconds", "gauge", "Seconds since the run started.");
	put(t, "kuniq_uptime_seconds %.1f\n", f->uptime_s);
	if (f->g_set && !s->merge && f->g != INT64_MAX) {
		metric(t, "watermark_seconds", "gauge", "Event-time watermark (unix seconds).");
		put(t, "kuniq_watermark_seconds %" PRId64 "\n", f->g);
	}
	if (s->has_results) {
		metric(t, "results_delivered_total", "counter",
		       "Result records acknowledged by the output (exactly once: committed).");
		put(t, "kuniq_results_delivered_total %" PRIu64 "\n", s->results_delivered);
	}
	if (s->topic && s->nparts) {
		metric(t, "partition_lag", "gauge", "Messages between the position and the end.");
		for (int i = 0; i < s->nparts; i++) {
			const stats_part *p = &s->parts[i];
			if (p->end >= 0 && p->position >= 0)
				put(t,
				    "kuniq_partition_lag{topic=\"%s\",partition=\"%" PRId32
				    "\"} %" PRId64 "\n",
				    s->topic, p->id, p->end - p->position);
		}
		metric(t, "partition_watermark_seconds", "gauge",
		       "Event-time watermark of a partition (unix seconds).");
		for (int i = 0; i < s->nparts; i++) {
			const stats_part *p = &s->parts[i];
			if (p->wm_set && p->watermark != INT64_MAX)
				put(t,
				    "kuniq_partition_watermark_seconds{topic=\"%s\",partition="
				    "\"%" PRId32 "\"} %" PRId64 "\n",
				    s->topic, p->id, p->watermark);
		}
	}
	const stats_rdkafka *k = s->rdkafka;
	if (k && k->set) {
		metric(t, "rdkafka_rx_bytes_total", "counter", "Bytes received from brokers.");
		put(t, "kuniq_rdkafka_rx_bytes_total %" PRId64 "\n", k->rx_bytes);
		metric(t, "rdkafka_tx_bytes_total", "counter", "Bytes sent to brokers.");
		put(t, "kuniq_rdkafka_tx_bytes_total %" PRId64 "\n", k->tx_bytes);
		metric(t, "rdkafka_replyq", "gauge",
		       "Operations waiting in the client's reply queue.");
		put(t, "kuniq_rdkafka_replyq %" PRId64 "\n", k->replyq);
	}
}

void stats_report(stats_reporter *r, const stats_snapshot *s, double now)
{
	if (!r->started) {
		r->start = now;
		r->last = now;
	}
	figures f;
	gather(r, s, now, &f);
	unsigned kinds = engine_get_kinds(s->in->eng);
	text t = {0};
	if (r->interval > 0 || r->publish) {
		json(&t, s, &f, kinds);
		if (!t.oom && r->interval > 0 && r->out) {
			fprintf(r->out, "%s\n", t.p);
			fflush(r->out);
		}
		if (!t.oom && r->publish)
			r->publish(r->publish_ctx, t.p, t.n);
	}
	if (r->http) {
		t.n = 0;
		prometheus(&t, s, &f, kinds);
		if (!t.oom)
			metrics_http_set(r->http, t.p, t.n);
	}
	free(t.p);
	r->started = true;
	r->last = now;
	r->next = now + period(r);
	r->last_frames = s->in->frames_read;
	r->last_bytes = s->in->bytes;
}

/* ---- librdkafka's statistics --------------------------------------------------------------- */

/* The number after "key": at the document's top level (nested objects, where brokers and
 * topics repeat the same names, are skipped). */
static int64_t top_field(const char *json, size_t len, const char *key)
{
	size_t klen = strlen(key);
	int depth = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char c = json[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == '"') {
			if (depth == 1 && i + klen + 2 < len &&
			    memcmp(json + i + 1, key, klen) == 0 && json[i + 1 + klen] == '"' &&
			    json[i + 2 + klen] == ':')
				return strtoll(json + i + 3 + klen, NULL, 10);
			in_str = true;
		}
	}
	return 0;
}

void stats_rdkafka_parse(const char *json, size_t len, stats_rdkafka *out)
{
	out->rx = top_field(json, len, "rx");
	out->rx_bytes = top_field(json, len, "rx_bytes");
	out->rxmsgs = top_field(json, len, "rxmsgs");
	out->tx = top_field(json, len, "tx");
	out->tx_bytes = top_field(json, len, "tx_bytes");
	out->txmsgs = top_field(json, len, "txmsgs");
	out->replyq = top_field(json, len, "replyq");
	out->msg_cnt = top_field(json, len, "msg_cnt");
	out->set = true;
}
