/* fuzz_counter.c - libFuzzer target for counter_deserialize: arbitrary bytes must be rejected or
 * parsed, never crash; whatever parses must serialise back to the very same bytes (the format is
 * canonical) and survive count and merge.
 *
 * Build and run: make fuzz-counter (FUZZ_COUNTER_TIME seconds, default 60).
 */
#include "counter.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* half the inputs get a valid checksum so the content checks are reached too */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (size >= 32 && (data[0] & 1)) {
		memcpy(buf, "KUQC\x01", 5);
		uint64_t h = XXH3_64bits(buf, size - 8);
		for (int i = 0; i < 8; i++)
			buf[size - 8 + i] = (uint8_t)(h >> (8 * i));
	}
	counter *c = counter_deserialize(buf, size);
	if (c) {
		size_t need = counter_serialize(c, NULL, 0);
		uint8_t *out = malloc(need);
		if (out && counter_serialize(c, out, need) == need &&
		    (need != size || memcmp(out, buf, size) != 0))
			abort(); /* not canonical */
		free(out);
		(void)counter_count(c);
		counter *d = counter_deserialize(buf, size);
		if (!d || counter_merge(d, c) < 0 || counter_count(d) != counter_count(c))
			abort(); /* merge with itself must be idempotent */
		counter_free(d);
		counter_free(c);
	}
	free(buf);
	return 0;
}
