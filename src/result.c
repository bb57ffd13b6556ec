/* result.c - the JSON form of one window result (docs/semantics.md, section 8). */
#include "result.h"

#include <inttypes.h>
#include <stdio.h>

size_t result_format_json(const result *r, const calendar *cal, char *buf, size_t cap)
{
	char iso[40];
	calendar_iso(cal, r->start, iso);
	int n = snprintf(buf, cap,
	                 "{\"window\":\"%s\",\"start\":%" PRId64 ",\"end\":%" PRId64
	                 ",\"start_iso\":\"%s\",\"uniques\":%" PRIu64 ",\"frames\":%" PRIu64
	                 ",\"exact\":%s,\"error\":%.6g,\"final\":%s,\"revision\":%" PRIu32
	                 ",\"late\":%" PRIu64 ",\"late_window\":%" PRIu64 "}",
	                 window_kind_name(r->kind), r->start, r->end, iso, r->uniques, r->frames,
	                 r->exact ? "true" : "false", r->exact ? 0.0 : r->error,
	                 r->final ? "true" : "false", r->revision, r->late, r->late_window);
	return n < 0 ? 0 : (size_t)n;
}

size_t result_format_key(const result *r, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/%" PRId64, window_kind_name(r->kind), r->start);
	return n < 0 ? 0 : (size_t)n;
}
