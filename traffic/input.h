/*
 * traffic/input.h — opening an input the way users name it: a path, "-" for standard input, and files
 * compressed with gzip or zstd, told apart by their first bytes (not by their name), decompressed as
 * they are read. Every reader of captures and flow files goes through here, so each of them takes all
 * of these forms, and nothing is ever decompressed to a temporary file or held whole in memory.
 */
#ifndef WEFT_TRAFFIC_INPUT_H
#define WEFT_TRAFFIC_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum weft_compression { WEFT_COMP_NONE = 0, WEFT_COMP_GZIP, WEFT_COMP_ZSTD } weft_compression;

/* Opens `path` ("-": standard input) for reading, decompressing when it starts with a gzip or zstd
 * magic number. Returns NULL with a message in err (naming the path) when it cannot be opened.
 * `comp` (may be NULL) receives what was found. A stream that turns out to be damaged later fails its
 * read with errno EIO (ferror is set), so readers report it as a file cut short. */
FILE *weft_input_open(const char *path, weft_compression *comp, char *err, size_t errn);

/* Reads the first n bytes of the (decompressed) input at `path` into buf, for telling formats apart
 * before the input is opened for good. Returns the bytes read (fewer at the end of the input), or -1
 * with a message in err — always for "-": standard input can be read once only. */
long weft_input_peek(const char *path, void *buf, size_t n, char *err, size_t errn);

/* "" , "gzip", "zstd". */
const char *weft_compression_name(weft_compression c);

#endif
