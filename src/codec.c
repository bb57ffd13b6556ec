/* codec.c - gzip (zlib's inflate) and zstd (libzstd's streaming decoder) input decompression.
 *
 * The codec keeps one buffer of compressed input, refilled from the descriptor only when empty,
 * and runs the decoder over it into the caller's buffer. A stream is "inside" a member (gzip) or
 * frame (zstd) from its first byte to its end; when a gzip member ends the decoder is reset for
 * the next one, and libzstd moves from frame to frame by itself. So the input may end only
 * between members; ending inside one is a truncation, reported with the offset where the input
 * ended. A decoding error is reported with the offset the decoder had reached. When an error
 * comes after some bytes were decoded in the same call, those bytes are returned first and the
 * error is kept for the next call, so everything decodable before the break is handed out.
 */
#include "codec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define IN_CAP (1u << 20)

struct codec {
	codec_kind kind;
	unsigned char *in;
	size_t in_pos, in_len;
	uint64_t in_base; /* compressed offset of in[0] */
	bool in_eof;
	bool inside; /* inside a member or frame */
	bool failed; /* err holds an error not reported yet */
	char err[256];
	z_stream z;
	bool z_ready;
	ZSTD_DStream *zs;
};

codec_kind codec_detect(const unsigned char *p, size_t n)
{
	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return CODEC_GZIP;
	if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
		return CODEC_ZSTD;
	return CODEC_NONE;
}

bool codec_undecided(const unsigned char *p, size_t n)
{
	static const unsigned char gz[] = {0x1f, 0x8b}, zs[] = {0x28, 0xb5, 0x2f, 0xfd};
	return (n < sizeof(gz) && memcmp(p, gz, n) == 0) ||
	       (n < sizeof(zs) && memcmp(p, zs, n) == 0);
}

const char *codec_name(codec_kind k)
{
	return k == CODEC_GZIP ? "gzip" : k == CODEC_ZSTD ? "zstd" : "plain";
}

codec *codec_new(codec_kind k, const unsigned char *head, size_t n)
{
	codec *c = calloc(1, sizeof(*c));
	if (c == NULL || n > IN_CAP || (c->in = malloc(IN_CAP)) == NULL)
		goto fail;
	c->kind = k;
	memcpy(c->in, head, n);
	c->in_len = n;
	if (k == CODEC_GZIP) {
		if (inflateInit2(&c->z, 16 + MAX_WBITS) != Z_OK) /* 16: gzip wrapper only */
			goto fail;
		c->z_ready = true;
	} else if ((c->zs = ZSTD_createDStream()) == NULL) {
		goto fail;
	}
	return c;
fail:
	codec_free(c);
	return NULL;
}

void codec_free(codec *c)
{
	if (c == NULL)
		return;
	if (c->z_ready)
		inflateEnd(&c->z);
	ZSTD_freeDStream(c->zs);
	free(c->in);
	free(c);
}

bool codec_has_input(const codec *c)
{
	return c->in_pos < c->in_len;
}

uint64_t codec_bytes_in(const codec *c)
{
	return c->in_base + c->in_len;
}

static void set_error(codec *c, const char *fmt, const char *why, uint64_t at)
{
	snprintf(c->err, sizeof(c->err), fmt, codec_name(c->kind), at, why);
	c->failed = true;
}

/* One gzip step: decodes from in[in_pos..) into out. Returns 0, or -1 (error set). */
static int gzip_step(codec *c, char *out, size_t cap, size_t *produced)
{
	z_stream *z = &c->z;
	z->next_in = c->in + c->in_pos;
	z->avail_in = (uInt)(c->in_len - c->in_pos);
	z->next_out = (Bytef *)out;
	z->avail_out = (uInt)cap;
	int r = inflate(z, Z_NO_FLUSH);
	size_t used = (size_t)(z->next_in - (c->in + c->in_pos));
	c->in_pos += used;
	*produced = cap - z->avail_out;
	if (used > 0 || *produced > 0)
		c->inside = true;
	if (r == Z_STREAM_END) {
		c->inside = false;
		inflateReset(z); /* the next member, if any, starts here */
		return 0;
	}
	if (r == Z_OK || r == Z_BUF_ERROR)
		return 0;
	set_error(c, "corrupt %s input at byte %" PRIu64 " (%s)", z->msg ? z->msg : "bad data",
	          c->in_base + c->in_pos);
	return -1;
}

static int zstd_step(codec *c, char *out, size_t cap, size_t *produced)
{
	ZSTD_inBuffer ib = {c->in + c->in_pos, c->in_len - c->in_pos, 0};
	ZSTD_outBuffer ob = {out, cap, 0};
	size_t r = ZSTD_decompressStream(c->zs, &ob, &ib);
	if (ZSTD_isError(r)) {
		set_error(c, "corrupt %s input at byte %" PRIu64 " (%s)", ZSTD_getErrorName(r),
		          c->in_base + c->in_pos + ib.pos);
		return -1;
	}
	c->in_pos += ib.pos;
	*produced = ob.pos;
	if (ib.pos > 0 || ob.pos > 0)
		c->inside = r != 0; /* 0: a frame ended and all of it was handed out */
	return 0;
}

/* Reads the next block of compressed input (the buffer is empty). Returns 0, CODEC_AGAIN or
 * CODEC_FAILED. */
static int refill(codec *c, int fd)
{
	c->in_base += c->in_len;
	c->in_pos = c->in_len = 0;
	ssize_t n = read(fd, c->in, IN_CAP);
	if (n < 0 && errno == EINTR)
		return CODEC_AGAIN;
	if (n < 0) {
		set_error(c, "reading %s input at byte %" PRIu64 ": %s", strerror(errno),
		          c->in_base);
		return CODEC_FAILED;
	}
	c->in_eof = n == 0;
	c->in_len = (size_t)n;
	return 0;
}

static ssize_t report(codec *c, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", c->err);
	return CODEC_FAILED;
}

ssize_t codec_read(codec *c, int fd, char *out, size_t cap, char *err, size_t errlen)
{
	size_t got = 0;
	while (got == 0 && !c->failed) {
		if (c->in_pos == c->in_len && !c->in_eof) {
			int r = refill(c, fd);
			if (r != 0)
				return r == CODEC_AGAIN ? CODEC_AGAIN : report(c, err, errlen);
		}
		size_t before = c->in_pos, produced = 0;
		int r = c->kind == CODEC_GZIP ? gzip_step(c, out, cap, &produced)
		                              : zstd_step(c, out, cap, &produced);
		got = produced;
		if (r != 0 || got > 0 || c->in_pos != before)
			continue;
		if (c->in_pos < c->in_len) { /* no progress with input left: cannot happen */
			set_error(c, "corrupt %s input at byte %" PRIu64 "%s", "",
			          c->in_base + c->in_pos);
		} else if (c->in_eof) {
			if (!c->inside)
				return 0;
			set_error(c,
			          "truncated %s input: it ends at byte %" PRIu64
			          " inside a compressed member%s",
			          "", c->in_base + c->in_len);
		}
	}
	if (got > 0)
		return (ssize_t)got;
	return report(c, err, errlen);
}
