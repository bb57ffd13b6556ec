/* frame_internal.h - pieces shared by the frame parser's implementations (scalar, AVX2).
 *
 * Every implementation walks the frame once, validating it, and fills a frame_fields record with
 * what it saw at the top level of the object; frame_fields_finish() (frame.c) turns that record
 * into the final status with the precedence of docs/semantics.md. Key matching on decoded keys and
 * flooring of ts numbers are shared here so both paths give bit-identical answers.
 */
#ifndef KUNIQ_FRAME_INTERNAL_H
#define KUNIQ_FRAME_INTERNAL_H

#include "frame.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which configured field a top-level key names (both bits when uid and ts names are equal). */
enum { FIELD_UID = 1, FIELD_TS = 2 };

typedef struct frame_fields {
	unsigned uid_count; /* top-level keys equal to the uid name */
	unsigned ts_count;
	bool uid_bad; /* a uid value (any of them) was not a string */
	bool ts_bad;  /* a ts value (any of them) was not a number / 1..18 digits, or did not fit */
	const char *uid;
	size_t uid_len;
	int64_t ts;
} frame_fields;

/* Does the raw key (body between the quotes, a valid JSON string body) decode to name? escaped:
 * the raw key holds a backslash. */
bool frame_key_equals(const uint8_t *key, size_t len, bool escaped, const char *name,
                      size_t name_len);

/* Does the string whose body starts at raw (just after its opening quote) decode to name? Reads
 * up to the closing quote, never at or past end; the answer only matters for valid frames. */
bool frame_key_matches(const uint8_t *raw, const uint8_t *end, const char *name, size_t name_len);

/* Returns FIELD_* bits naming the key whose raw bytes (between the quotes) are key[0..len).
 * escaped: the raw key holds a backslash (then it is decoded before comparing). The raw key must
 * already be a valid JSON string body. */
unsigned frame_match_key(const frame_parser *p, const uint8_t *key, size_t len, bool escaped);

/* Floors the valid JSON number text num[0..len) into *ts. Returns false when the floored value
 * does not fit in an int64_t. */
bool frame_floor_number(const uint8_t *num, size_t len, int64_t *ts);

/* Reads a string ts: true and *ts when the raw string body is 1..18 ASCII digits. */
bool frame_digit_string(const uint8_t *s, size_t len, int64_t *ts);

/* Records the value of a top-level field. */
void frame_fields_string(frame_fields *f, unsigned which, const uint8_t *body, size_t len);
void frame_fields_number(frame_fields *f, unsigned which, const uint8_t *num, size_t len);
void frame_fields_other(frame_fields *f, unsigned which);

/* Final status for a frame that is valid JSON. top_is_object: the top-level value is an object. */
frame_status frame_fields_finish(const frame_fields *f, bool top_is_object, frame *out);

static inline bool frame_is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* Scans a number starting at s. Returns a pointer past it, or NULL when malformed. */
static inline const uint8_t *frame_scan_number(const uint8_t *s, const uint8_t *end)
{
	s += s < end && *s == '-';
	if (s >= end)
		return NULL;
	if (*s == '0') {
		s++;
	} else if (frame_is_digit(*s)) {
		while (s < end && frame_is_digit(*s))
			s++;
	} else {
		return NULL;
	}
	if (s < end && *s == '.') {
		s++;
		if (s >= end || !frame_is_digit(*s))
			return NULL;
		while (s < end && frame_is_digit(*s))
			s++;
	}
	if (s < end && (*s | 0x20) == 'e') {
		s++;
		s += s < end && (*s == '+' || *s == '-');
		if (s >= end || !frame_is_digit(*s))
			return NULL;
		while (s < end && frame_is_digit(*s))
			s++;
	}
	return s;
}

/* The implementations. Same contract as frame_parse. */
frame_status frame_parse_scalar(const frame_parser *p, const char *buf, size_t len, frame *out);
frame_status frame_parse_avx2(const frame_parser *p, const char *buf, size_t len, frame *out);
bool frame_avx2_supported(void);

#endif
