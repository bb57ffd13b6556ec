/* kafka_props.c - a properties file for librdkafka: read, split into key=value (kafka_props.h). */
#include "kafka_props.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BYTES (1 << 20) /* a properties file, not a data file */

/* Why the n bytes read into buf (NULL: no memory) are not a properties file, or NULL. */
static const char *refuse(const char *buf, size_t n, bool read_error)
{
	if (buf == NULL)
		return "out of memory";
	if (read_error)
		return "read error";
	if (n > MAX_BYTES)
		return "longer than 1 MB: not a properties file";
	if (memchr(buf, '\0', n) != NULL)
		return "holds NUL bytes: not a properties file";
	return NULL;
}

static char *slurp(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(MAX_BYTES + 1);
	size_t n = buf ? fread(buf, 1, MAX_BYTES + 1, f) : 0;
	const char *why = refuse(buf, n, ferror(f) != 0);
	fclose(f);
	if (why) {
		snprintf(err, errlen, "%s: %s", path, why);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* s without leading and trailing whitespace (trailing cut in place). */
static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static int add(kafka_props *p, const char *key, const char *val, int line)
{
	int cap = p->n + 1;
	const char **k = realloc(p->keys, sizeof(*k) * (size_t)cap);
	if (k)
		p->keys = k;
	const char **v = realloc(p->vals, sizeof(*v) * (size_t)cap);
	if (v)
		p->vals = v;
	int *l = realloc(p->lines, sizeof(*l) * (size_t)cap);
	if (l)
		p->lines = l;
	if (!k || !v || !l)
		return -1;
	p->keys[p->n] = key;
	p->vals[p->n] = val;
	p->lines[p->n++] = line;
	return 0;
}

/* One line: nothing, or a property. Returns 0 or -1 (err set). */
static int parse_line(kafka_props *p, char *raw, int line, char *err, size_t errlen)
{
	char *s = trim(raw);
	if (*s == '\0' || *s == '#')
		return 0;
	char *eq = strchr(s, '=');
	if (eq)
		*eq = '\0';
	char *key = eq ? trim(s) : s;
	if (!eq || *key == '\0') {
		if (eq)
			*eq = '=';
		snprintf(err, errlen, "%s:%d: expected key=value, got '%.80s'", p->path, line, s);
		return -1;
	}
	if (add(p, key, trim(eq + 1), line) != 0) {
		snprintf(err, errlen, "%s: out of memory", p->path);
		return -1;
	}
	return 0;
}

int kafka_props_read(const char *path, kafka_props *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->path = path;
	if ((p->text = slurp(path, err, errlen)) == NULL)
		return -1;
	char *s = p->text;
	for (int line = 1; s; line++) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = '\0';
		if (parse_line(p, s, line, err, errlen) != 0) {
			kafka_props_free(p);
			return -1;
		}
		s = nl ? nl + 1 : NULL;
	}
	return 0;
}

const char *kafka_props_get(const kafka_props *p, const char *key)
{
	for (int i = p->n - 1; i >= 0; i--)
		if (strcmp(p->keys[i], key) == 0)
			return p->vals[i];
	return NULL;
}

void kafka_props_free(kafka_props *p)
{
	free(p->text);
	free(p->keys);
	free(p->vals);
	free(p->lines);
	memset(p, 0, sizeof(*p));
}
