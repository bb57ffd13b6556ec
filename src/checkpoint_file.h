/* checkpoint_file.h - a checkpoint kept in a file (--checkpoint FILE): one state_map, written
 * whole and atomically, read back whole.
 *
 * The file is replaced by rename, so a crash at any moment leaves either the old checkpoint or
 * the new one, never a mix; reading checks the file's own checksum before any record is taken
 * (the values are sealed records of state.h and are checked again when used). The format is
 * described in checkpoint_file.c. Ownership: the map is borrowed.
 */
#ifndef KUNIQ_CHECKPOINT_FILE_H
#define KUNIQ_CHECKPOINT_FILE_H

#include <stddef.h>

#include "state.h"

/* Writes every record of m to path: to "<path>.tmp", fsync, rename over path, fsync of the
 * directory. Returns 0, or -1 with a message naming the file and the system's reason in err (the
 * old file, if any, is then left as it was). */
int checkpoint_file_write(const char *path, const state_map *m, char *err, size_t errlen);

/* Puts every record of the file at path into m. Returns 0, 1 when the file does not exist (a
 * fresh start; m untouched), or -1 with a message naming the file and what is wrong with it
 * (unreadable, not a checkpoint, unsupported version, truncated, checksum mismatch) in err; m is
 * then untouched unless memory ran out part way. */
int checkpoint_file_read(const char *path, state_map *m, char *err, size_t errlen);

#endif
