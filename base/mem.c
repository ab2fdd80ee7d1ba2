/*
 * base/mem.c — host memory for tensors (see mem.h for why large blocks ask for huge pages).
 */
#define _DEFAULT_SOURCE /* madvise */
#include "mem.h"

#include <stdint.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define HUGE_PAGE ((size_t)2 << 20)

void *weft_mem_alloc(size_t bytes)
{
    size_t align = bytes >= WEFT_MEM_HUGE_MIN ? HUGE_PAGE : 64;
    if (bytes == 0) bytes = 1;
    if (bytes > SIZE_MAX - align) return NULL;
    size_t n = (bytes + align - 1) & ~(align - 1); /* aligned_alloc wants a multiple of the alignment */
    void *p = aligned_alloc(align, n);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    /* advice only: a kernel without transparent huge pages says EINVAL and nothing changes */
    if (p && align == HUGE_PAGE) (void)madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

void weft_mem_free(void *p) { free(p); }
