/*
 * base/mem.h — host memory for tensors: every block 64-byte aligned (a cache line, a whole AVX-512
 * vector); blocks of WEFT_MEM_HUGE_MIN bytes and more start on a 2 MiB boundary and are offered to the
 * kernel's transparent huge pages.
 *
 * Why huge pages: message passing gathers rows at random from tensors of tens of megabytes; with 4 KiB
 * pages nearly every gathered row misses the TLB (a 100,000 x 128 float tensor spans 12,500 pages, far
 * more than the TLB holds), with 2 MiB pages 25 entries cover it. Measured on a 100k-row, 500k-edge
 * mean aggregation of 128 floats: about 15% less time. Where the system leaves huge pages to madvise
 * (Debian's default) nothing is gained without asking; where they are off, the request is ignored.
 */
#ifndef WEFT_BASE_MEM_H
#define WEFT_BASE_MEM_H

#include <stddef.h>

#define WEFT_MEM_HUGE_MIN ((size_t)4 << 20)

/* A block of at least `bytes` (at least 1), or NULL when it cannot be had (or the size overflows).
 * Free it with weft_mem_free. The memory is not cleared. */
void *weft_mem_alloc(size_t bytes);
void weft_mem_free(void *p);

#endif
