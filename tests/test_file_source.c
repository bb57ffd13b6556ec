/* Tests for file_source.c: line splitting, long lines skipped in bounded memory, gzip, padding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "file_source.h"
#include "frame.h"

static char path[64];

static void write_file(const char *data, size_t n)
{
	strcpy(path, "/tmp/kuniq-test-source-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

/* One line at a time through source_next_batch. */
static source_event next_raw(source *s, const char **line, size_t *len, size_t *raw)
{
	source_item it;
	source_event ev;
	if (source_next_batch(s, -1, &it, 1, &ev) == 0)
		return ev;
	*line = it.line;
	*len = it.len;
	*raw = it.bytes;
	return it.kind;
}

static source_event next(source *s, const char **line, size_t *len)
{
	size_t raw;
	return next_raw(s, line, len, &raw);
}

static void test_lines_and_last_line(void **state)
{
	(void)state;
	static const char data[] = "a\nbb\r\n\n{\"x\":1}";
	write_file(data, sizeof(data) - 1);
	char err[128];
	source *s = source_open(path, 100, err, sizeof(err));
	assert_non_null(s);
	const char *l;
	size_t n, raw;
	assert_int_equal(next_raw(s, &l, &n, &raw), SOURCE_LINE);
	assert_int_equal(n, 1);
	assert_int_equal(raw, 2); /* the newline counts in the bytes read */
	assert_memory_equal(l, "a", 1);
	assert_int_equal(next_raw(s, &l, &n, &raw), SOURCE_LINE);
	assert_int_equal(n, 3); /* \r is the parser's whitespace / ingest's to strip */
	assert_int_equal(raw, 4);
	assert_int_equal(next_raw(s, &l, &n, &raw), SOURCE_LINE);
	assert_int_equal(n, 0);
	assert_int_equal(raw, 1);
	assert_int_equal(next_raw(s, &l, &n, &raw), SOURCE_LINE);
	assert_int_equal(n, 7);
	assert_int_equal(raw, 7); /* no final newline */
	assert_memory_equal(l, "{\"x\":1}", 7);
	assert_int_equal(next(s, &l, &n), SOURCE_EOF);
	source_close(s);
	unlink(path);
}

static void test_long_lines_skipped(void **state)
{
	(void)state;
	size_t big = 9u << 20; /* longer than the read block: skipped across reads */
	char *data = malloc(big + 64);
	memset(data, 'x', big + 64);
	memcpy(data, "ok\n", 3);
	data[3 + 200] = '\n'; /* 200-byte line: too long for max 100 */
	data[big + 10] = '\n';
	memcpy(data + big + 11, "end", 3);
	write_file(data, big + 14);
	free(data);
	char err[128];
	source *s = source_open(path, 100, err, sizeof(err));
	const char *l;
	size_t n;
	assert_int_equal(next(s, &l, &n), SOURCE_LINE);
	assert_int_equal(next(s, &l, &n), SOURCE_TOO_LONG);
	assert_int_equal(n, 200);
	assert_int_equal(next(s, &l, &n), SOURCE_TOO_LONG);
	assert_int_equal(n, big + 10 - 204);
	assert_int_equal(next(s, &l, &n), SOURCE_LINE);
	assert_int_equal(n, 3);
	assert_int_equal(next(s, &l, &n), SOURCE_EOF);
	source_close(s);
	unlink(path);
}

static void test_gzip_and_errors(void **state)
{
	(void)state;
	char gzpath[80];
	snprintf(gzpath, sizeof(gzpath), "/tmp/kuniq-test-source-%d.gz", (int)getpid());
	gzFile gz = gzopen(gzpath, "wb");
	for (int i = 0; i < 100000; i++)
		gzprintf(gz, "line %d\n", i);
	gzclose(gz);
	char err[128];
	source *s = source_open(gzpath, 100, err, sizeof(err));
	assert_non_null(s);
	const char *l;
	size_t n;
	int lines = 0;
	source_event ev;
	while ((ev = next(s, &l, &n)) == SOURCE_LINE) {
		char want[32];
		int wn = snprintf(want, sizeof(want), "line %d", lines++);
		assert_int_equal(n, wn);
		assert_memory_equal(l, want, n);
	}
	assert_int_equal(ev, SOURCE_EOF);
	assert_int_equal(lines, 100000);
	source_close(s);
	unlink(gzpath);
	assert_null(source_open("/nonexistent/kuniq", 100, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
}

/* Batches hand out buffered lines only; every line of a batch stays intact until the next call. */
static void test_batches(void **state)
{
	(void)state;
	size_t n = 300000, cap = n * 16, off = 0;
	char *data = malloc(cap);
	for (size_t i = 0; i < n; i++)
		off += (size_t)sprintf(data + off, i % 1000 == 7 ? "%zu%0200d\n" : "%zu\n", i, 0);
	write_file(data, off);
	free(data);
	char err[128];
	source *s = source_open(path, 100, err, sizeof(err));
	static source_item items[4096];
	size_t seen = 0, batches = 0, too_long = 0;
	source_event ev;
	size_t got;
	while ((got = source_next_batch(s, -1, items, 4096, &ev)) > 0) {
		batches++;
		for (size_t i = 0; i < got; i++, seen++) {
			if (seen % 1000 == 7) {
				assert_int_equal(items[i].kind, SOURCE_TOO_LONG);
				too_long++;
				continue;
			}
			char want[32];
			int wn = snprintf(want, sizeof(want), "%zu", seen);
			assert_int_equal(items[i].kind, SOURCE_LINE);
			assert_int_equal(items[i].len, wn);
			assert_memory_equal(items[i].line, want, (size_t)wn);
		}
	}
	assert_int_equal(ev, SOURCE_EOF);
	assert_int_equal(seen, n);
	assert_int_equal(too_long, 300);
	assert_true(batches > n / 4096);
	source_close(s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines_and_last_line),
	    cmocka_unit_test(test_long_lines_skipped),
	    cmocka_unit_test(test_gzip_and_errors),
	    cmocka_unit_test(test_batches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
