/* ingest.c - one frame's bytes to the engine: parse, count rejections, hash the uid.
 *
 * The uid is hashed with XXH3-64 (libxxhash); the engine and counters only ever see the hash.
 */
#include "ingest.h"

#include <inttypes.h>
#include <stdint.h>
#include <xxhash.h>

void ingest_init(ingest *in, const frame_parser *parser, engine *eng)
{
	*in = (ingest){.parser = parser, .eng = eng};
}

frame_status ingest_classify(const frame_parser *parser, size_t max_frame, const char *buf,
                             size_t len, int64_t *ts, uint64_t *hash)
{
	size_t eff = len && buf[len - 1] == '\r' ? len - 1 : len;
	if (eff > max_frame)
		return ingest_blank(buf, len) ? FRAME_EMPTY : FRAME_TOO_LONG;
	frame f;
	frame_status st = frame_parse(parser, buf, eff, &f);
	if (st == FRAME_OK) {
		*ts = f.ts;
		*hash = XXH3_64bits(f.uid, f.uid_len);
	}
	return st;
}

void ingest_count(ingest *in, frame_status st, uint64_t len, int input, int64_t ts, uint64_t hash,
                  int64_t offset)
{
	in->frames_read++;
	in->bytes += len;
	if (st != FRAME_OK)
		in->rejected[st]++;
	else
		engine_frame(in->eng, input, ts, hash, offset);
}

void ingest_frame(ingest *in, int input, const char *buf, size_t len, int64_t offset)
{
	int64_t ts = 0;
	uint64_t hash = 0;
	frame_status st = ingest_classify(in->parser, SIZE_MAX, buf, len, &ts, &hash);
	ingest_count(in, st, len, input, ts, hash, offset);
}

bool ingest_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

void ingest_too_long(ingest *in, uint64_t len, bool blank)
{
	ingest_count(in, blank ? FRAME_EMPTY : FRAME_TOO_LONG, len, 0, 0, 0, 0);
}

void ingest_summary(const ingest *in, unsigned kinds, double elapsed_s, FILE *f)
{
	const engine_stats *es = engine_get_stats(in->eng);
	uint64_t rejected = es->ts_range + es->ts_ahead;
	for (int s = 1; s < FRAME_STATUS_COUNT; s++)
		rejected += in->rejected[s];
	double secs = elapsed_s > 1e-9 ? elapsed_s : 1e-9;
	fprintf(f,
	        "{\"summary\":{\"frames_read\":%" PRIu64 ",\"frames_valid\":%" PRIu64
	        ",\"rejected\":{",
	        in->frames_read, in->frames_read - rejected);
	for (int s = 1; s < FRAME_STATUS_COUNT; s++)
		fprintf(f, "\"%s\":%" PRIu64 ",", frame_status_name((frame_status)s),
		        in->rejected[s]);
	fprintf(f, "\"ts_range\":%" PRIu64 ",\"ts_ahead\":%" PRIu64 "},\"late\":{", es->ts_range,
	        es->ts_ahead);
	const char *sep = "";
	for (int k = 0; k < WINDOW_KIND_COUNT; k++) {
		if (!((kinds >> k) & 1u))
			continue;
		fprintf(f, "%s\"%s\":%" PRIu64, sep, window_kind_name((window_kind)k), es->late[k]);
		sep = ",";
	}
	fprintf(f,
	        "},\"bytes\":%" PRIu64
	        ",\"elapsed_s\":%.3f,\"frames_per_s\":%.0f,\"mb_per_s\":%.1f,"
	        "\"windows_emitted\":%" PRIu64 ",\"emit_errors\":%" PRIu64
	        ",\"out_of_memory\":%" PRIu64 "}}\n",
	        in->bytes, elapsed_s, (double)in->frames_read / secs,
	        (double)in->bytes / secs / 1e6, es->windows_emitted, es->emit_errors, es->oom);
}
