/* kafka_props.h - a file of librdkafka properties (-F FILE, as kcat -F).
 *
 * One key=value per line; blank lines and lines starting with '#' are ignored; whitespace around
 * the key and the value is dropped. Each property remembers its line, so that librdkafka's
 * refusal of one can name FILE:LINE. No librdkafka here: the properties are applied by
 * kafka_conf.c, before -X (so -X wins).
 */
#ifndef KUNIQ_KAFKA_PROPS_H
#define KUNIQ_KAFKA_PROPS_H

#include <stddef.h>

typedef struct kafka_props {
	const char *path; /* as given; NULL: no file */
	char *text;       /* the file's bytes, split in place; keys and values point into it */
	const char **keys, **vals;
	int *lines; /* 1-based line of each property */
	int n;
} kafka_props;

/* Reads and parses path into p (zeroed first). Returns 0, or -1 with "PATH:LINE: why" (or
 * "PATH: why") in err and p empty. */
int kafka_props_read(const char *path, kafka_props *p, char *err, size_t errlen);

/* The value of the last property named key, or NULL. */
const char *kafka_props_get(const kafka_props *p, const char *key);

void kafka_props_free(kafka_props *p);

#endif
