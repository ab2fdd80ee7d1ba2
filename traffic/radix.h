/* traffic/radix.h — stable LSD radix sort of 64-bit keys with 32-bit payloads (traffic/ internal). */
#ifndef WEFT_TRAFFIC_RADIX_H
#define WEFT_TRAFFIC_RADIX_H

#include <stddef.h>
#include <stdint.h>

/* Sorts key[0..n) ascending, moving val (may be NULL) along; equal keys keep their input order.
 * tk / tv: scratch of n elements each (tv only when val is given). Linear time: 16-bit digits, and a
 * pass whose digit is the same for every key is skipped. */
void weft_radix_sort_u64(uint64_t *key, uint32_t *val, size_t n, uint64_t *tk, uint32_t *tv);

/* A key whose unsigned order is the numeric order of finite doubles (and -0 before +0). */
static inline uint64_t weft_radix_double_key(double d)
{
    union {
        double d;
        uint64_t u;
    } v = {d};
    return (v.u >> 63) ? ~v.u : v.u | 0x8000000000000000ULL;
}

static inline double weft_radix_key_double(uint64_t k)
{
    union {
        double d;
        uint64_t u;
    } v;
    v.u = (k >> 63) ? k & 0x7fffffffffffffffULL : ~k;
    return v.d;
}

#endif
