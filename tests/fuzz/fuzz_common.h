/*
 * tests/fuzz/fuzz_common.h — what the libFuzzer harnesses share.
 *
 * Several readers (libpcap, the flow-log and label readers) take only a path, so each harness process
 * keeps one scratch file in a private temporary folder and rewrites it with every input. The folder
 * is removed at exit.
 */
#ifndef WEFT_FUZZ_COMMON_H
#define WEFT_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Writes data to this process's scratch file called `name` (a plain file name: some readers take
 * meaning from it, e.g. ustc-tfc2016's "Benign_<App>_<L4>.csv") and returns its path, or NULL when it
 * cannot be written (the harness then skips the input). The returned path stays valid until the next
 * call; the file stays until the process ends (at most 8 names per process). */
const char *fuzz_scratch_file(const char *name, const uint8_t *data, size_t size);

/* Splits the input at its first '\n': *head (NUL-terminated copy, malloc'd; free it) and the rest. When
 * there is no newline the whole input is the head and the rest is empty. Returns -1 when out of memory. */
int fuzz_split_line(const uint8_t *data, size_t size, char **head, const uint8_t **rest, size_t *rest_size);

/* A little-endian reader over the front of the input, for harnesses that take parameters from it: each
 * call consumes bytes while there are any and returns 0 past the end. */
typedef struct fuzz_bytes {
    const uint8_t *p;
    size_t n;
} fuzz_bytes;
uint8_t fuzz_u8(fuzz_bytes *b);
uint16_t fuzz_u16(fuzz_bytes *b);

#endif
