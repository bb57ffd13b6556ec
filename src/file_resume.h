/* file_resume.h - --checkpoint FILE: runs over files that resume where they were killed.
 *
 * Every --checkpoint-interval seconds (at a safe point of the file source: between batches), the
 * whole state (checkpoint.h) with the input position and the length of the results written to
 * stdout goes to FILE, atomically (checkpoint_file.h). A new run with the same FILE restores it
 * and reads on from the position; when stdout is a regular file, results written after the
 * checkpoint are cut off first, so they are not repeated. Inputs must be regular files: a pipe
 * cannot be read again.
 *
 * Ownership: the file_resume borrows cfg, ingest and stdout; it holds no memory between calls.
 */
#ifndef KUNIQ_FILE_RESUME_H
#define KUNIQ_FILE_RESUME_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "file_source.h"
#include "ingest.h"

typedef struct file_resume {
	const char *path; /* NULL: no checkpoints */
	ingest *in;
	int input;
	uint64_t identity;
	double interval, next;
	source_pos pos; /* the last safe position */
	uint64_t saves;
} file_resume;

/* Sets up fc for cfg->checkpoint (off when NULL); restores a checkpoint found there into in and
 * sets *resume. Returns 0, or an exit status (1: unreadable or foreign checkpoint, 2: an input
 * that cannot resume), reported on stderr. */
int file_resume_open(file_resume *fc, const cli_config *cfg, ingest *in, int input,
                     source_pos *resume);

/* The file source's safe point (source_run_cfg.safe_point): saves when the interval passed. */
int file_resume_tick(void *ctx, const source_pos *pos);

/* Saves now. Returns 0, or -1 (reported). */
int file_resume_save(file_resume *fc);

#endif
