/* Tests for checkpoint_file.c: round trips (many records, empty and binary values, an empty
 * map), a missing file as a fresh start, and every damaged file refused without touching the map:
 * each truncation, each flipped byte, garbage, another version. A write replaces the old file and
 * leaves no temporary; a failed write leaves the old file as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "checkpoint_file.h"

static char dir[64], path[128], tmp[140];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/kuniq-test-ckfile-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ck", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(tmp); /* one test makes it a directory */
	unlink(tmp);
	assert_int_equal(rmdir(dir), 0);
	return 0;
}

/* Record i: key "k/<i>", value of i % 50 bytes (0 included) holding every byte value, NUL too. */
static void put_records(state_map *m, int n, int salt)
{
	uint8_t v[64];
	for (int i = 0; i < n; i++) {
		char k[32];
		snprintf(k, sizeof(k), "k/%d", i);
		size_t len = (size_t)(i % 50);
		for (size_t j = 0; j < len; j++)
			v[j] = (uint8_t)(i * 13 + (int)j * 101 + salt);
		assert_int_equal(state_map_put(m, k, v, len), 0);
	}
}

static void assert_maps_equal(const state_map *a, const state_map *b)
{
	assert_int_equal(state_map_count(a), state_map_count(b));
	assert_int_equal(state_map_bytes(a), state_map_bytes(b));
	size_t pos = 0, len, blen;
	const char *key;
	const uint8_t *val;
	while (state_map_next(a, &pos, &key, &val, &len)) {
		const uint8_t *bv = state_map_get(b, key, &blen);
		assert_non_null(bv);
		assert_int_equal(blen, len);
		assert_memory_equal(bv, val, len);
	}
}

static void write_raw(const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static uint8_t *read_raw(size_t *n)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t *p = malloc(1 << 20);
	*n = fread(p, 1, 1 << 20, f);
	assert_true(*n < (1 << 20));
	fclose(f);
	return p;
}

/* Reads path expecting a refusal whose message names the file and holds want (if not NULL). */
static void assert_refused(const char *want)
{
	state_map *m = state_map_new();
	char err[256] = "";
	assert_int_equal(checkpoint_file_read(path, m, err, sizeof(err)), -1);
	assert_int_equal(state_map_count(m), 0);
	assert_non_null(strstr(err, path));
	if (want != NULL && strstr(err, want) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", err, want);
	state_map_free(m);
}

static void test_round_trip(void **state)
{
	(void)state;
	state_map *m = state_map_new(), *r = state_map_new();
	put_records(m, 20000, 0);
	assert_int_equal(state_map_put(m, "", (const uint8_t *)"x", 1), 0); /* an empty key */
	char err[256];
	assert_int_equal(checkpoint_file_write(path, m, err, sizeof(err)), 0);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(checkpoint_file_read(path, r, err, sizeof(err)), 0);
	assert_maps_equal(m, r);
	assert_maps_equal(r, m);
	state_map_free(m);
	state_map_free(r);
}

static void test_empty_map(void **state)
{
	(void)state;
	state_map *m = state_map_new(), *r = state_map_new();
	char err[256];
	assert_int_equal(checkpoint_file_write(path, m, err, sizeof(err)), 0);
	size_t n;
	uint8_t *raw = read_raw(&n);
	assert_int_equal(n, 4 + 4 + 8 + 8);
	assert_memory_equal(raw, "KQCF\1\0\0\0", 8);
	free(raw);
	assert_int_equal(checkpoint_file_read(path, r, err, sizeof(err)), 0);
	assert_int_equal(state_map_count(r), 0);
	state_map_free(m);
	state_map_free(r);
}

static void test_missing_file(void **state)
{
	(void)state;
	state_map *m = state_map_new();
	char err[256] = "";
	assert_int_equal(checkpoint_file_read(path, m, err, sizeof(err)), 1);
	assert_int_equal(state_map_count(m), 0);
	state_map_free(m);
}

/* A small checkpoint's bytes. */
static uint8_t *small_file(size_t *n)
{
	state_map *m = state_map_new();
	put_records(m, 12, 7);
	char err[256];
	assert_int_equal(checkpoint_file_write(path, m, err, sizeof(err)), 0);
	state_map_free(m);
	return read_raw(n);
}

static void test_every_truncation(void **state)
{
	(void)state;
	size_t n;
	uint8_t *good = small_file(&n);
	for (size_t len = 0; len < n; len++) {
		write_raw(good, len);
		assert_refused("truncated");
	}
	write_raw(good, n);
	state_map *m = state_map_new();
	char err[256];
	assert_int_equal(checkpoint_file_read(path, m, err, sizeof(err)), 0);
	assert_int_equal(state_map_count(m), 12);
	state_map_free(m);
	free(good);
}

static void test_every_flip(void **state)
{
	(void)state;
	size_t n;
	uint8_t *good = small_file(&n);
	uint8_t *bad = malloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			memcpy(bad, good, n);
			bad[i] ^= (uint8_t)(1u << bit);
			write_raw(bad, n);
			assert_refused(i < 4   ? "not a kuniq checkpoint"
			               : i < 8 ? "unsupported version"
			                       : NULL);
		}
	}
	/* a flip inside the last value, and in the checksum: the structure is intact */
	memcpy(bad, good, n);
	bad[n - 9] ^= 0x10;
	write_raw(bad, n);
	assert_refused("checksum mismatch");
	memcpy(bad, good, n);
	bad[n - 1] ^= 0x01;
	write_raw(bad, n);
	assert_refused("checksum mismatch");
	/* a byte appended */
	memcpy(bad, good, n);
	bad[n] = 0;
	write_raw(bad, n + 1);
	assert_refused(NULL);
	free(bad);
	free(good);
}

static void test_garbage_and_version(void **state)
{
	(void)state;
	static const char text[] = "{\"uid\":\"u1\",\"ts\":1468244340}\n";
	write_raw((const uint8_t *)text, sizeof(text) - 1);
	assert_refused("not a kuniq checkpoint");
	write_raw((const uint8_t *)"KQ", 2);
	assert_refused("truncated");
	write_raw((const uint8_t *)"XY", 2);
	assert_refused("not a kuniq checkpoint");
	uint8_t junk[4096];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof(junk); i++) {
		x = x * 1103515245u + 12345u;
		junk[i] = (uint8_t)(x >> 16);
	}
	memcpy(junk, "KQCF\1\0\0\0", 8); /* right header, then noise: huge counts and lengths */
	for (size_t len = 8; len <= sizeof(junk); len += 97) {
		write_raw(junk, len);
		assert_refused(NULL);
	}
	memset(junk + 8, 0xff, 16);
	write_raw(junk, 64);
	assert_refused(NULL);
	size_t n;
	uint8_t *good = small_file(&n);
	good[4] = 2;
	write_raw(good, n);
	assert_refused("unsupported version 2");
	free(good);
	/* a key holding a NUL, checksum correct: still refused */
	uint8_t rec[34] = {'K', 'Q', 'C', 'F', 1, 0, 0, 0, 1, 0, 0, 0,   0,
	                   0,   0,   0,   2,   0, 0, 0, 0, 0, 0, 0, 'a', 0};
	uint64_t sum = XXH3_64bits(rec, 26);
	for (int i = 0; i < 8; i++)
		rec[26 + i] = (uint8_t)(sum >> (8 * i));
	write_raw(rec, sizeof(rec));
	assert_refused("malformed");
	rec[25] = 'b'; /* the same record with a proper key is accepted */
	sum = XXH3_64bits(rec, 26);
	for (int i = 0; i < 8; i++)
		rec[26 + i] = (uint8_t)(sum >> (8 * i));
	write_raw(rec, sizeof(rec));
	state_map *m = state_map_new();
	char err[256];
	assert_int_equal(checkpoint_file_read(path, m, err, sizeof(err)), 0);
	size_t len;
	assert_non_null(state_map_get(m, "ab", &len));
	assert_int_equal(len, 0);
	state_map_free(m);
}

static void test_not_a_file(void **state)
{
	(void)state;
	assert_int_equal(mkdir(path, 0700), 0);
	assert_refused("Is a directory");
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0); /* refused at once, without waiting for a writer */
	assert_refused("not a regular file");
	assert_int_equal(unlink(path), 0);
}

static void test_replace(void **state)
{
	(void)state;
	state_map *a = state_map_new(), *b = state_map_new(), *r = state_map_new();
	put_records(a, 3000, 1);
	put_records(b, 10, 2);
	char err[256];
	assert_int_equal(checkpoint_file_write(path, a, err, sizeof(err)), 0);
	assert_int_equal(checkpoint_file_write(path, b, err, sizeof(err)), 0); /* shorter */
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(checkpoint_file_read(path, r, err, sizeof(err)), 0);
	assert_maps_equal(b, r);
	/* the temporary cannot be created: the write fails and the old file stays */
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(checkpoint_file_write(path, a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, tmp));
	assert_non_null(strstr(err, "Is a directory"));
	state_map_free(r);
	r = state_map_new();
	assert_int_equal(checkpoint_file_read(path, r, err, sizeof(err)), 0);
	assert_maps_equal(b, r);
	assert_int_equal(rmdir(tmp), 0);
	state_map_free(a);
	state_map_free(b);
	state_map_free(r);
}

static void test_write_errors(void **state)
{
	(void)state;
	state_map *m = state_map_new();
	put_records(m, 5, 0);
	char err[256], bad[160];
	snprintf(bad, sizeof(bad), "%s/no/such/dir/ck", dir);
	assert_int_equal(checkpoint_file_write(bad, m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, bad));
	assert_non_null(strstr(err, "No such file"));
	if (access("/dev/full", W_OK) == 0) { /* a full device: the write itself fails */
		char tmpdir[] = "/tmp/kuniq-test-full-XXXXXX";
		assert_non_null(mkdtemp(tmpdir));
		char p[80], t[90];
		snprintf(p, sizeof(p), "%s/ck", tmpdir);
		snprintf(t, sizeof(t), "%s.tmp", p);
		if (symlink("/dev/full", t) == 0) {
			assert_int_equal(checkpoint_file_write(p, m, err, sizeof(err)), -1);
			assert_non_null(strstr(err, "No space left"));
			unlink(t);
		}
		rmdir(tmpdir);
	}
	/* a relative path: the directory synced is "." */
	char cwd[512];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(checkpoint_file_write("ck", m, err, sizeof(err)), 0);
	assert_int_equal(chdir(cwd), 0);
	state_map *r = state_map_new();
	assert_int_equal(checkpoint_file_read(path, r, err, sizeof(err)), 0);
	assert_maps_equal(m, r);
	state_map_free(r);
	state_map_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_map, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_truncation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_flip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_and_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_a_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
