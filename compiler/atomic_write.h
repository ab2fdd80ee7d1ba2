/*
 * compiler/atomic_write.h — writing a file so that readers see the old contents or the new, never a
 * half-written file: a temporary file next to it, fsync, rename (plan files, checkpoints, exports).
 */
#ifndef WEFT_COMPILER_ATOMIC_WRITE_H
#define WEFT_COMPILER_ATOMIC_WRITE_H

#include <stddef.h>

#include "weft.h"

/* Writes the concatenation of parts[0..n) (lens[i] bytes each) to `path`, replacing the file if it
 * exists. The temporary file is created with mode 0666 less the umask; on failure it is removed and
 * `path` is left as it was. Messages name the path and the system's reason. */
weft_status weft_write_file_atomic(const char *path, const void *const *parts, const size_t *lens, int n);

#endif
