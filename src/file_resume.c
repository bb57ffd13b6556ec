/* file_resume.c - --checkpoint FILE for file inputs (see file_resume.h, docs/state.md).
 *
 * A checkpoint is a full snapshot: the records of checkpoint_write(full) into a fresh map, plus
 * "stdout" (how many bytes of results stdout held), written to FILE by checkpoint_file_write
 * (temporary file, fsync, rename). So a kill at any instruction leaves either the previous
 * checkpoint or the new one, never a mix.
 */
#include "file_resume.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "checkpoint_file.h"

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Bytes of results on stdout, or -1 when it is not a regular file. */
static int64_t stdout_length(void)
{
	struct stat st;
	fflush(stdout);
	if (fstat(STDOUT_FILENO, &st) != 0 || !S_ISREG(st.st_mode))
		return -1;
	off_t o = lseek(STDOUT_FILENO, 0, SEEK_CUR);
	return o < 0 ? -1 : (int64_t)o;
}

/* Cuts stdout back to len bytes (results written after the checkpoint). */
static void stdout_rewind(const char *path, int64_t len)
{
	struct stat st;
	if (fstat(STDOUT_FILENO, &st) != 0 || !S_ISREG(st.st_mode)) {
		log_msg(LOG_WARN,
		        "%s: resuming; stdout is not a regular file, so results "
		        "written after the checkpoint may appear again",
		        path);
		return;
	}
	if (len < 0) {
		log_msg(LOG_WARN,
		        "%s: resuming; the checkpointed run's stdout was not a regular "
		        "file, so results it wrote after the checkpoint may appear again",
		        path);
		return;
	}
	if (st.st_size < len) {
		log_msg(LOG_WARN,
		        "%s: resuming; stdout holds %lld bytes, less than the %lld "
		        "it held at the checkpoint (opened with '>' instead of '>>'?): "
		        "results before the checkpoint are not written again",
		        path, (long long)st.st_size, (long long)len);
		return;
	}
	if (st.st_size > len) {
		if (ftruncate(STDOUT_FILENO, len) != 0) {
			log_msg(LOG_ERROR, "%s: cannot cut stdout back: %s", path, strerror(errno));
			return;
		}
		log_msg(LOG_INFO,
		        "%s: resuming; removed %lld bytes of results written "
		        "after the checkpoint (they are written again)",
		        path, (long long)(st.st_size - len));
	}
	lseek(STDOUT_FILENO, len, SEEK_SET);
}

static int restore(file_resume *fc, state_map *m, source_pos *resume)
{
	char err[512];
	checkpoint_pos pos;
	int rc = checkpoint_restore(fc->in, m, fc->identity, err, sizeof err);
	if (rc == 0)
		rc = checkpoint_restore_input(fc->in, fc->input, 0, m, fc->identity, &pos, err,
		                              sizeof err);
	if (rc == 1)
		snprintf(err, sizeof err, "no input record");
	if (rc != 0) {
		log_msg(LOG_ERROR,
		        "%s: %s: refusing to resume (a checkpoint of a run with other "
		        "options, or damaged; remove it to start over)",
		        fc->path, err);
		return 1;
	}
	*resume = (source_pos){.file = (int)pos.a, .byte = pos.b, .line = pos.c};
	fc->pos = *resume;
	size_t len;
	const uint8_t *v = state_map_get(m, "stdout", &len);
	state_rd r;
	int64_t out = -1;
	if (v && state_open("stdout", v, len, fc->identity, &r) == NULL)
		out = sr_i64(&r);
	stdout_rewind(fc->path, out);
	log_msg(LOG_INFO, "%s: resuming at file %d, byte %llu (line %lld)", fc->path, resume->file,
	        (unsigned long long)resume->byte, (long long)resume->line);
	return 0;
}

int file_resume_open(file_resume *fc, const cli_config *cfg, ingest *in, int input,
                     source_pos *resume)
{
	*fc = (file_resume){.path = cfg->checkpoint, .in = in, .input = input};
	*resume = (source_pos){0};
	if (!fc->path)
		return 0;
	for (int i = 0; i < (cfg->nfiles ? cfg->nfiles : 1); i++) {
		const char *f = cfg->nfiles ? cfg->files[i] : "-";
		if (!source_path_seekable(f)) {
			fprintf(
			    stderr,
			    "kuniq: --checkpoint: %s is not a regular file: a pipe cannot be read "
			    "again, so a run over it cannot resume\n",
			    strcmp(f, "-") ? f : "stdin");
			return 2;
		}
	}
	fc->identity =
	    checkpoint_identity(&cfg->engine, &cfg->clock, cfg->uid_field, cfg->ts_field, "files");
	fc->interval = cfg->checkpoint_interval > 0 ? cfg->checkpoint_interval : 10.0;
	fc->next = mono() + fc->interval;
	state_map *m = state_map_new();
	char err[512];
	int rc = m ? checkpoint_file_read(fc->path, m, err, sizeof err) : -1;
	if (rc < 0)
		log_msg(LOG_ERROR, "%s", m ? err : "out of memory");
	else if (rc == 0)
		rc = restore(fc, m, resume);
	else
		rc = 0; /* no checkpoint yet: a fresh start */
	state_map_free(m);
	return rc < 0 ? 1 : rc;
}

int file_resume_save(file_resume *fc)
{
	if (engine_failure(fc->in->eng))
		return -1; /* counts that miss users are never saved (main reports why) */
	state_map *m = state_map_new();
	state_buf b = {0};
	char err[512];
	checkpoint_input ci = {fc->input, 0, {fc->pos.file, fc->pos.byte, fc->pos.line}};
	checkpoint_stats st;
	int rc =
	    m ? checkpoint_write(fc->in, &ci, 1, fc->identity, state_map_sink(m), true, &st) : -1;
	if (rc == 0) {
		state_begin(&b, fc->identity);
		sb_i64(&b, stdout_length());
		rc = state_seal(&b, "stdout") == 0 && state_map_put(m, "stdout", b.p, b.n) == 0
		         ? 0
		         : -1;
	}
	if (rc != 0)
		log_msg(LOG_ERROR, "%s: out of memory writing the checkpoint", fc->path);
	else if ((rc = checkpoint_file_write(fc->path, m, err, sizeof err)) != 0)
		log_msg(LOG_ERROR, "%s", err);
	else
		fc->saves++;
	state_buf_free(&b);
	state_map_free(m);
	return rc;
}

int file_resume_tick(void *ctx, const source_pos *pos)
{
	file_resume *fc = ctx;
	fc->pos = *pos;
	if (fc->interval <= 0 || mono() < fc->next)
		return 0;
	fc->next = mono() + fc->interval;
	return file_resume_save(fc);
}
