/* test_conformance.c - the frame parser against JSONTestSuite and the fuzzer's regression inputs.
 *
 * Every case of ../shared/conformance/JSONTestSuite/test_parsing (override: $KUNIQ_JSONTESTSUITE)
 * is parsed twice, with every implementation this CPU has (they must agree):
 *  - wrapped: as the value of an extra top-level key of a valid frame,
 *    {"uid":"u","ts":1468244384,"x":<case bytes>} - y_ cases must give FRAME_OK, n_ cases must not;
 *  - bare: the case bytes alone - y_ cases must be valid JSON (any status but empty, not_json and
 *    too_deep), n_ cases must be rejected as empty, not_json or too_deep.
 * i_ cases are only required not to crash and to agree across implementations; `--report` prints
 * what they give (the table in docs/parser.md).
 *
 * Each file fuzz/regressions/<status>-<name> (override: $KUNIQ_FRAME_REGRESSIONS) is a frame that
 * once made the differential fuzzer fail; it must parse to <status> (a frame_status_name) with
 * every implementation.
 *
 * Nothing is skipped silently. The suite lives outside the repository: when ../shared itself is
 * absent (a clone of the repository alone) the suite test prints one SKIP line naming it; any
 * other missing directory, or $KUNIQ_JSONTESTSUITE naming a missing one, fails. The regression
 * directory must hold at least the inputs committed with it. On a CPU without AVX2 (or with
 * KUNIQ_TEST_NO_AVX2=1) only the scalar path runs, and each test prints a SKIP line saying so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avx2_skip.h"
#include "frame.h"
#include "frame_internal.h"

#define SHARED_DIR "../shared"
#define SUITE_DIR SHARED_DIR "/conformance/JSONTestSuite/test_parsing"
#define REGRESSION_DIR "fuzz/regressions"
#define WRAP_HEAD "{\"uid\":\"u\",\"ts\":1468244384,\"x\":"
#define WRAP_TAIL "}"

static bool report;

typedef struct file_list {
	char **names;
	size_t n;
} file_list;

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the regular entries of dir that start with prefix (NULL: all but dotfiles). */
static file_list list_dir(const char *dir, const char *prefix)
{
	file_list l = {0};
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("cannot open %s (run from the repository root)", dir);
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || (prefix && strncmp(e->d_name, prefix, strlen(prefix))))
			continue;
		if (l.n == cap) {
			cap = cap ? cap * 2 : 64;
			l.names = realloc(l.names, cap * sizeof *l.names);
			assert_non_null(l.names);
		}
		l.names[l.n] = strdup(e->d_name);
		assert_non_null(l.names[l.n++]);
	}
	closedir(d);
	if (l.n)
		qsort(l.names, l.n, sizeof *l.names, cmp_names);
	return l;
}

static void free_list(file_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
}

/* Reads dir/name into a buffer with room for the wrapper and FRAME_PADDING bytes. */
static char *read_case(const char *dir, const char *name, size_t *len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	char *b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* Parses data with every available implementation (buffer of exactly len + FRAME_PADDING).
 * wrapped: data is a wrapped case, whose uid and ts are checked. */
static frame_status parse_all(const char *data, size_t len, const char *what, bool wrapped)
{
	frame_impl impls[] = {FRAME_IMPL_SCALAR, FRAME_IMPL_AVX2};
	char *b = malloc(len + FRAME_PADDING);
	assert_non_null(b);
	memcpy(b, data, len);
	memset(b + len, '"', FRAME_PADDING);
	frame_status first = FRAME_STATUS_COUNT;
	for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++) {
		if (impls[i] == FRAME_IMPL_AVX2 && !have_avx2())
			continue; /* reported by require_avx2 */
		frame_parser p;
		assert_int_equal(frame_parser_init(&p, "uid", "ts", impls[i]), 0);
		frame f;
		frame_status st = frame_parse(&p, b, len, &f);
		if (impls[i] == FRAME_IMPL_AVX2) {
			/* the AVX2 verdict before frame_parse's scalar fallback for invalid frames
			 */
			frame_status raw = frame_parse_avx2(&p, b, len, &f);
			bool invalid = st == FRAME_NOT_JSON || st == FRAME_TOO_DEEP;
			if (invalid ? raw != FRAME_NOT_JSON : raw != st)
				fail_msg("%s: AVX2 path alone says %s, the frame is %s", what,
				         frame_status_name(raw), frame_status_name(st));
		}
		if (first == FRAME_STATUS_COUNT)
			first = st;
		else if (st != first)
			fail_msg("%s: implementations disagree: %s vs %s", what,
			         frame_status_name(first), frame_status_name(st));
		if (wrapped && st == FRAME_OK &&
		    (f.uid_len != 1 || f.uid[0] != 'u' || f.ts != 1468244384))
			fail_msg("%s: wrong uid/ts extracted", what);
	}
	free(b);
	return first;
}

static frame_status parse_wrapped(const char *data, size_t len, const char *what)
{
	size_t hl = strlen(WRAP_HEAD), tl = strlen(WRAP_TAIL);
	char *w = malloc(hl + len + tl);
	assert_non_null(w);
	memcpy(w, WRAP_HEAD, hl);
	memcpy(w + hl, data, len);
	memcpy(w + hl + len, WRAP_TAIL, tl);
	frame_status st = parse_all(w, hl + len + tl, what, true);
	free(w);
	return st;
}

static bool bare_rejected(frame_status st)
{
	return st == FRAME_EMPTY || st == FRAME_NOT_JSON || st == FRAME_TOO_DEEP;
}

static const char *suite_dir(void)
{
	const char *d = getenv("KUNIQ_JSONTESTSUITE");
	return d && *d ? d : SUITE_DIR;
}

/* Runs every case with the given prefix; want_valid: 1 (y_), 0 (n_), -1 (i_: report only). */
static void run_cases(const char *prefix, int want_valid, size_t min_cases)
{
	file_list l = list_dir(suite_dir(), prefix);
	if (l.n < min_cases)
		fail_msg("%s: only %zu %s cases", suite_dir(), l.n, prefix);
	size_t bad = 0;
	for (size_t i = 0; i < l.n; i++) {
		size_t len;
		char *data = read_case(suite_dir(), l.names[i], &len);
		frame_status wrapped = parse_wrapped(data, len, l.names[i]);
		frame_status bare = parse_all(data, len, l.names[i], false);
		bool ok = true;
		if (want_valid == 1)
			ok = wrapped == FRAME_OK && !bare_rejected(bare);
		else if (want_valid == 0)
			ok = wrapped != FRAME_OK && bare_rejected(bare);
		if (!ok) {
			print_error("%s: wrapped %s, bare %s\n", l.names[i],
			            frame_status_name(wrapped), frame_status_name(bare));
			bad++;
		}
		if (report && want_valid == -1)
			printf("| `%s` | %s | %s |\n", l.names[i],
			       wrapped == FRAME_OK ? "accepted" : "rejected",
			       frame_status_name(bare));
		free(data);
	}
	free_list(&l);
	if (bad)
		fail_msg("%zu %s cases failed", bad, prefix);
}

static void test_json_test_suite(void **state)
{
	(void)state;
	const char *env = getenv("KUNIQ_JSONTESTSUITE");
	if (!(env && *env) && access(SHARED_DIR, F_OK) != 0) {
		print_message("SKIP test_json_test_suite: %s is absent (a clone of the repository "
		              "alone): the JSONTestSuite cases were not run\n",
		              SHARED_DIR);
		skip();
	}
	run_cases("y_", 1, 90);
	run_cases("n_", 0, 180);
	if (report)
		printf("| case | wrapped | bare |\n|---|---|---|\n");
	run_cases("i_", -1, 30);
	require_avx2("test_json_test_suite");
}

static void test_regressions(void **state)
{
	(void)state;
	const char *dir = getenv("KUNIQ_FRAME_REGRESSIONS");
	bool own = !dir || !*dir;
	if (own)
		dir = REGRESSION_DIR;
	file_list l = list_dir(dir, NULL);
	if (l.n == 0)
		fail_msg("%s: no regression input", dir);
	/* the repository's directory holds at least the inputs committed with it (docs/parser.md)
	 */
	static const char *const known[] = {"ok-avx2-chunk-without-structurals", "ok-minimal"};
	for (size_t k = 0; own && k < sizeof known / sizeof known[0]; k++) {
		bool found = false;
		for (size_t i = 0; i < l.n; i++)
			found |= strcmp(l.names[i], known[k]) == 0;
		if (!found)
			fail_msg("%s: %s is missing (%zu inputs found)", dir, known[k], l.n);
	}
	size_t bad = 0;
	for (size_t i = 0; i < l.n; i++) {
		const char *dash = strchr(l.names[i], '-');
		if (!dash)
			fail_msg("%s/%s: name must be <status>-<anything>", dir, l.names[i]);
		size_t len;
		char *data = read_case(dir, l.names[i], &len);
		frame_status st = parse_all(data, len, l.names[i], false);
		const char *got = frame_status_name(st);
		if (strlen(got) != (size_t)(dash - l.names[i]) ||
		    strncmp(got, l.names[i], strlen(got))) {
			print_error("%s: got %s\n", l.names[i], got);
			bad++;
		}
		free(data);
	}
	free_list(&l);
	if (bad)
		fail_msg("%zu regression inputs failed", bad);
	require_avx2("test_regressions");
}

int main(int argc, char **argv)
{
	report = argc > 1 && strcmp(argv[1], "--report") == 0;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_test_suite),
	    cmocka_unit_test(test_regressions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
