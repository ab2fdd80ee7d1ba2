/*
 * compiler/sha256.h — SHA-256 (FIPS 180-4), incremental, for the checksums of plan files.
 */
#ifndef WEFT_COMPILER_SHA256_H
#define WEFT_COMPILER_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct weft_sha256 {
    uint32_t h[8];
    uint64_t bytes;   /* message length so far */
    uint8_t buf[64];  /* a partial block */
    size_t fill;
} weft_sha256;

void weft_sha256_init(weft_sha256 *c);
void weft_sha256_update(weft_sha256 *c, const void *data, size_t n);
void weft_sha256_final(weft_sha256 *c, uint8_t out[32]);
/* Hash with the portable rounds even where the processor has SHA instructions (for tests). */
void weft_sha256_force_portable(bool on);
/* The digest of one buffer. */
void weft_sha256_digest(const void *data, size_t n, uint8_t out[32]);

#endif
