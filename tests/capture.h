/* capture.h - a result sink for unit tests that keeps the records it is given (up to 64).
 * Include after <cmocka.h>. */
#ifndef KUNIQ_TEST_CAPTURE_H
#define KUNIQ_TEST_CAPTURE_H

#include "result.h"

typedef struct capture {
	result r[64];
	int n;
} capture;

static inline int cap_emit(void *ctx, const result *r)
{
	capture *c = ctx;
	assert_true(c->n < 64);
	c->r[c->n++] = *r;
	return 0;
}

#endif
