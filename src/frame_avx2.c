/* frame_avx2.c - the AVX2 frame parser (placeholder: not yet written; AUTO selects scalar). */
#include "frame.h"
#include "frame_internal.h"

bool frame_avx2_supported(void)
{
	return false;
}

frame_status frame_parse_avx2(const frame_parser *p, const char *buf, size_t len, frame *out)
{
	return frame_parse_scalar(p, buf, len, out);
}
