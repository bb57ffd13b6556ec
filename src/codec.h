/* codec.h - decompression of gzip and zstd input, recognised by its first bytes.
 *
 * A codec reads compressed bytes from a descriptor and hands out the decompressed stream.
 * Concatenated gzip members and zstd frames form one stream. Input that ends inside a member
 * or frame, or that does not decode, is an error naming the compressed byte offset where it
 * broke; the bytes decoded before it are handed out first. Ownership: codec_new returns a codec
 * the caller frees; the descriptor stays the caller's.
 */
#ifndef KUNIQ_CODEC_H
#define KUNIQ_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum codec_kind { CODEC_NONE = 0, CODEC_GZIP, CODEC_ZSTD } codec_kind;

/* Bytes codec_detect needs to decide (fewer only at the end of the input). */
#define CODEC_MAGIC_LEN 4

/* The format whose magic bytes start p[0..n): gzip 1f 8b, zstd 28 b5 2f fd; else CODEC_NONE. */
codec_kind codec_detect(const unsigned char *p, size_t n);
const char *codec_name(codec_kind k);

/* True while p[0..n) could still begin a magic, so more bytes are needed to decide. */
bool codec_undecided(const unsigned char *p, size_t n);

typedef struct codec codec;

/* A codec of kind k (not CODEC_NONE) whose input starts with the n bytes of head (already read
 * from the descriptor). Returns NULL when out of memory. */
codec *codec_new(codec_kind k, const unsigned char *head, size_t n);
void codec_free(codec *c);

/* Up to cap decompressed bytes into out, reading fd as needed. Returns how many (> 0), 0 at
 * the end of the input, CODEC_AGAIN when a read was interrupted by a signal, or CODEC_FAILED
 * with the reason (and compressed offset) in err. */
#define CODEC_AGAIN (-2)
#define CODEC_FAILED (-1)
ssize_t codec_read(codec *c, int fd, char *out, size_t cap, char *err, size_t errlen);

/* True when compressed bytes are buffered, so codec_read can go on without reading fd. */
bool codec_has_input(const codec *c);

/* Compressed bytes read from the descriptor so far (the head included). */
uint64_t codec_bytes_in(const codec *c);

#endif
