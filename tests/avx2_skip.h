/* avx2_skip.h - for the parser tests (test_frame.c, test_conformance.c): whether the AVX2 path can
 * be compared on this CPU, and the visible SKIP line when it cannot. Include after <cmocka.h>.
 *
 * KUNIQ_TEST_NO_AVX2=1 in the environment makes the tests behave as on a CPU without AVX2 (to see
 * the SKIP lines on any machine). */
#ifndef KUNIQ_TEST_AVX2_SKIP_H
#define KUNIQ_TEST_AVX2_SKIP_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The CPU has what frame_parser_init requires for FRAME_IMPL_AVX2 (AVX2, PCLMUL, BMI2) and
 * KUNIQ_TEST_NO_AVX2 is not set. */
static inline bool have_avx2(void)
{
	const char *off = getenv("KUNIQ_TEST_NO_AVX2");
	if (off && *off && strcmp(off, "0") != 0)
		return false;
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul") &&
	       __builtin_cpu_supports("bmi2");
}

/* Called at the end of a test whose scalar checks have run: when the AVX2 path could not run
 * too, prints a SKIP line naming the test and the reason, and marks the test skipped. */
static inline void require_avx2(const char *test)
{
	if (have_avx2())
		return;
	print_message("SKIP %s: this CPU has no AVX2/PCLMUL/BMI2 (or KUNIQ_TEST_NO_AVX2 is set): "
	              "the AVX2 parser was not compared, only the scalar one ran\n",
	              test);
	skip();
}

#endif
