/* checkpoint_file.c - a state_map in a file, replaced atomically (see checkpoint_file.h).
 *
 * Format (integers little-endian):
 *   "KQCF"                magic
 *   u32 version           1
 *   u64 count             records that follow
 *   count records:        u32 key length, u32 value length, key bytes (no NUL), value bytes
 *   u64 checksum          XXH3-64 of every byte before it
 * Values are opaque here (sealed records, state.h). Keys hold no NUL byte.
 *
 * Writing streams the records through a 64 KiB buffer into "<path>.tmp", hashing as it goes,
 * then fsyncs it, renames it over path and fsyncs the directory so the rename itself is durable.
 * Reading loads the whole file (the map it fills holds as much anyway), checks magic, version and
 * checksum, then the record structure, and only then puts records into the map. When the
 * checksum fails, walking the records tells a file cut short ("truncated": the records claim
 * more bytes than there are) from one damaged in place ("checksum mismatch").
 */
#include "checkpoint_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#define MAGIC "KQCF"
#define VERSION 1u
#define HEAD_LEN 16 /* magic, version, count */
#define SUM_LEN 8
#define WBUF (64u << 10)

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct writer {
	int fd;
	int err; /* errno of the first failure, 0 while all is well */
	XXH3_state_t sum;
	size_t n;
	uint8_t buf[WBUF];
} writer;

static void flush(writer *w)
{
	for (size_t off = 0; w->err == 0 && off < w->n;) {
		ssize_t r = write(w->fd, w->buf + off, w->n - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			w->err = r < 0 ? errno : EIO;
		else
			off += (size_t)r;
	}
	w->n = 0;
}

/* Appends bytes to the file; hashed unless it is the checksum itself. */
static void emit(writer *w, const void *p, size_t n, bool hashed)
{
	if (hashed)
		XXH3_64bits_update(&w->sum, p, n);
	const uint8_t *b = p;
	while (n > 0 && w->err == 0) {
		size_t k = WBUF - w->n < n ? WBUF - w->n : n;
		memcpy(w->buf + w->n, b, k);
		w->n += k;
		b += k;
		n -= k;
		if (w->n == WBUF)
			flush(w);
	}
}

static void emit_le(writer *w, uint64_t v, size_t n)
{
	uint8_t t[8];
	for (size_t i = 0; i < n; i++)
		t[i] = (uint8_t)(v >> (8 * i));
	emit(w, t, n, true);
}

/* Header, records, checksum. Returns 0, or -1 with w->err set. */
static int write_all(writer *w, const state_map *m)
{
	XXH3_64bits_reset(&w->sum);
	emit(w, MAGIC, 4, true);
	emit_le(w, VERSION, 4);
	emit_le(w, state_map_count(m), 8);
	size_t pos = 0, len;
	const char *key;
	const uint8_t *val;
	while (w->err == 0 && state_map_next(m, &pos, &key, &val, &len)) {
		size_t klen = strlen(key);
		if (klen > UINT32_MAX || len > UINT32_MAX) {
			w->err = EFBIG;
			break;
		}
		emit_le(w, klen, 4);
		emit_le(w, len, 4);
		emit(w, key, klen, true);
		emit(w, val, len, true);
	}
	uint64_t sum = XXH3_64bits_digest(&w->sum);
	uint8_t t[8];
	for (int i = 0; i < 8; i++)
		t[i] = (uint8_t)(sum >> (8 * i));
	emit(w, t, 8, false);
	flush(w);
	return w->err ? -1 : 0;
}

/* fsync of the directory holding path, so a rename in it survives a crash. */
static int sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir =
	    slash == NULL ? strdup(".") : strndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (dir == NULL)
		return -1;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	int rc =
	    fsync(fd) == 0 || errno == EINVAL ? 0 : -1; /* EINVAL: cannot sync a directory here */
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int checkpoint_file_write(const char *path, const state_map *m, char *err, size_t errlen)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 5);
	writer *w = aligned_alloc(_Alignof(writer), sizeof(writer)); /* XXH3_state_t: 64 */
	int rc = -1;
	if (tmp == NULL || w == NULL) {
		snprintf(err, errlen, "%s: cannot write: out of memory", path);
		goto out;
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp", 5);
	*w = (writer){.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
	if (w->fd < 0) {
		snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(w, m) == 0 && fsync(w->fd) != 0)
		w->err = errno;
	if (w->err != 0) {
		snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(w->err));
		close(w->fd);
		unlink(tmp);
		goto out;
	}
	if (close(w->fd) != 0) {
		snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: cannot replace it with %s: %s", path, tmp,
		         strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (sync_dir(path) != 0) {
		snprintf(err, errlen, "%s: written, but its directory cannot be synced: %s", path,
		         strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	free(w);
	return rc;
}

/* ---- reading ------------------------------------------------------------------------------ */

static uint64_t le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Walks the records of buf[HEAD_LEN, end), putting them into m unless m is NULL. Returns NULL,
 * or why the records do not fit. */
static const char *walk(const uint8_t *buf, size_t end, state_map *m)
{
	uint64_t count = le(buf + 8, 8);
	size_t pos = HEAD_LEN;
	char *key = NULL;
	const char *why = NULL;
	for (uint64_t i = 0; why == NULL && i < count; i++) {
		if (end - pos < 8) {
			why = "truncated";
			break;
		}
		size_t klen = (size_t)le(buf + pos, 4), vlen = (size_t)le(buf + pos + 4, 4);
		pos += 8;
		if (end - pos < klen || end - pos - klen < vlen) {
			why = "truncated";
			break;
		}
		const uint8_t *k = buf + pos, *v = k + klen;
		pos += klen + vlen;
		if (memchr(k, '\0', klen) != NULL) {
			why = "malformed record (a key holds a NUL byte)";
		} else if (m != NULL) {
			char *kb = realloc(key, klen + 1);
			if (kb == NULL) {
				why = "out of memory";
				break;
			}
			key = kb;
			memcpy(key, k, klen);
			key[klen] = '\0';
			if (state_map_put(m, key, v, vlen) != 0)
				why = "out of memory";
		}
	}
	free(key);
	if (why == NULL && pos != end)
		why = "malformed (bytes after the last record)";
	return why;
}

/* Checks the whole file image; fills m only when every check passed. */
static const char *parse(const uint8_t *buf, size_t n, state_map *m, char *tmp, size_t tmplen)
{
	if (memcmp(buf, MAGIC, n < 4 ? n : 4) != 0)
		return "not a kuniq checkpoint";
	if (n < 8)
		return "truncated";
	uint32_t version = (uint32_t)le(buf + 4, 4);
	if (version != VERSION) {
		snprintf(tmp, tmplen,
		         "unsupported version %" PRIu32 " (this kuniq reads version %u)", version,
		         VERSION);
		return tmp;
	}
	if (n < HEAD_LEN + SUM_LEN)
		return "truncated";
	size_t end = n - SUM_LEN;
	if (XXH3_64bits(buf, end) != le(buf + end, 8)) {
		const char *why = walk(buf, end, NULL);
		return why && strcmp(why, "truncated") == 0 ? why : "checksum mismatch";
	}
	const char *why = walk(buf, end, NULL);
	return why ? why : walk(buf, end, m);
}

/* Reads the whole file into *buf (*n bytes). Returns 0, or -1 with errno set. */
static int slurp(int fd, uint8_t **buf, size_t *n)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		return -1;
	}
	if ((uint64_t)st.st_size > SIZE_MAX - 1) {
		errno = EFBIG;
		return -1;
	}
	size_t cap = (size_t)st.st_size, got = 0;
	uint8_t *p = malloc(cap + 1);
	if (p == NULL)
		return -1;
	while (got < cap) {
		ssize_t r = read(fd, p + got, cap - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(p);
			errno = e;
			return -1;
		}
		if (r == 0)
			break; /* shrank meanwhile: what is there is judged as is */
		got += (size_t)r;
	}
	*buf = p;
	*n = got;
	return 0;
}

int checkpoint_file_read(const char *path, state_map *m, char *err, size_t errlen)
{
	/* O_NONBLOCK: a FIFO named as the checkpoint must not hang the open */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return 1;
	uint8_t *buf = NULL;
	size_t n = 0;
	if (fd < 0 || slurp(fd, &buf, &n) != 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot read checkpoint: %s", path,
		         e == EINVAL ? "not a regular file" : strerror(e));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	char tmp[96];
	const char *why = parse(buf, n, m, tmp, sizeof(tmp));
	free(buf);
	if (why != NULL) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	return 0;
}
