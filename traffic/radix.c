/* traffic/radix.c — see radix.h. */
#include "radix.h"

#include <stdlib.h>
#include <string.h>

void weft_radix_sort_u64(uint64_t *key, uint32_t *val, size_t n, uint64_t *tk, uint32_t *tv)
{
    if (n < 2) return;
    if (n <= 64) { /* small: a stable insertion sort beats clearing digit counts */
        for (size_t i = 1; i < n; i++) {
            uint64_t k = key[i];
            uint32_t v = val ? val[i] : 0;
            size_t j = i;
            for (; j > 0 && key[j - 1] > k; j--) {
                key[j] = key[j - 1];
                if (val) val[j] = val[j - 1];
            }
            key[j] = k;
            if (val) val[j] = v;
        }
        return;
    }
    /* Small inputs use 8-bit digits so clearing the counts does not dominate. */
    int bits = n < 65536 ? 8 : 16;
    size_t nd = (size_t)1 << bits, mask = nd - 1;
    size_t small[256];
    size_t *cnt = bits == 8 ? small : malloc(nd * sizeof *cnt);
    if (!cnt) { /* no memory for the counts: 8-bit digits on the stack still work */
        bits = 8, nd = 256, mask = 255;
        cnt = small;
    }
    uint64_t *ks = key, *kd = tk;
    uint32_t *vs = val, *vd = tv;
    for (int shift = 0; shift < 64; shift += bits) {
        memset(cnt, 0, nd * sizeof *cnt);
        for (size_t i = 0; i < n; i++) cnt[(ks[i] >> shift) & mask]++;
        if (cnt[(ks[0] >> shift) & mask] == n) continue; /* every key has this digit */
        size_t sum = 0;
        for (size_t d = 0; d < nd; d++) {
            size_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t at = cnt[(ks[i] >> shift) & mask]++;
            kd[at] = ks[i];
            if (vs) vd[at] = vs[i];
        }
        uint64_t *k2 = ks;
        ks = kd, kd = k2;
        uint32_t *v2 = vs;
        vs = vd, vd = v2;
    }
    if (cnt != small) free(cnt);
    if (ks != key) {
        memcpy(key, ks, n * sizeof *key);
        if (val) memcpy(val, vs, n * sizeof *val);
    }
}
