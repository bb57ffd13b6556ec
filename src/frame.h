/* frame.h - the frame parser: validates one frame as JSON and extracts its top-level uid and ts.
 *
 * Contract (docs/semantics.md, section 1):
 *  - the whole frame is validated as RFC 8259 JSON (UTF-8, escapes, numbers, literals, nesting up
 *    to FRAME_MAX_DEPTH, nothing after the value but whitespace);
 *  - the top level must be an object holding exactly one uid key with a string value and exactly
 *    one ts key with a number (floored) or a 1..18 digit string value;
 *  - uid is returned as the raw bytes between its quotes (escapes not decoded), pointing into buf.
 *  - The caller guarantees FRAME_PADDING readable bytes after buf[len] (their content is
 *    irrelevant); the parser never writes to buf and never allocates.
 */
#ifndef KUNIQ_FRAME_H
#define KUNIQ_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_PADDING 64
#define FRAME_MAX_DEPTH 1024

typedef enum frame_status {
	FRAME_OK = 0,
	FRAME_EMPTY,
	FRAME_TOO_LONG, /* never returned by the parser: set by sources */
	FRAME_NOT_JSON,
	FRAME_TOO_DEEP,
	FRAME_NOT_OBJECT,
	FRAME_NO_UID,
	FRAME_BAD_UID,
	FRAME_DUP_UID,
	FRAME_NO_TS,
	FRAME_BAD_TS,
	FRAME_DUP_TS,
	FRAME_STATUS_COUNT
} frame_status;

typedef enum frame_impl {
	FRAME_IMPL_AUTO = 0, /* best the CPU supports */
	FRAME_IMPL_SCALAR,
	FRAME_IMPL_AVX2,
} frame_impl;

typedef struct frame {
	const char *uid; /* points into the parsed buffer */
	size_t uid_len;
	int64_t ts;
} frame;

typedef struct frame_parser {
	const char *uid_key; /* not owned; must outlive the parser */
	size_t uid_key_len;
	const char *ts_key; /* not owned */
	size_t ts_key_len;
	frame_impl impl; /* resolved: never FRAME_IMPL_AUTO after init */
} frame_parser;

/* Sets up a parser for the given key names. Returns 0, or -1 when impl is not supported by this
 * CPU (FRAME_IMPL_AUTO always succeeds). */
int frame_parser_init(frame_parser *p, const char *uid_key, const char *ts_key, frame_impl impl);

frame_status frame_parse(const frame_parser *p, const char *buf, size_t len, frame *out);

/* Stable lower-case reason name ("not_json", ...) for summaries. */
const char *frame_status_name(frame_status s);

#endif
