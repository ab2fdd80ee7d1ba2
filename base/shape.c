/* base/shape.c — shapes with symbols: element counts and printing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shape.h"

bool weft_shape_known(const weft_shape *s)
{
    if (s->rank < 0) return false;
    for (int i = 0; i < s->rank; i++)
        if (!weft_dim_known(s->d[i])) return false;
    return true;
}

int64_t weft_shape_numel(const weft_shape *s)
{
    if (!weft_shape_known(s)) return -1;
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i].v < 0) return -2;
        if (s->d[i].v != 0 && n > INT64_MAX / s->d[i].v) return -2;
        n *= s->d[i].v;
    }
    return n;
}

void weft_shape_format(const weft_shape *s, char *buf, size_t n)
{
    if (s->rank < 0) { snprintf(buf, n, "[?]"); return; }
    size_t k = 0;
    k += (size_t)snprintf(buf + k, k < n ? n - k : 0, "[");
    for (int i = 0; i < s->rank; i++) {
        if (weft_dim_known(s->d[i]))
            k += (size_t)snprintf(buf + k, k < n ? n - k : 0, "%s%lld", i ? "," : "", (long long)s->d[i].v);
        else
            k += (size_t)snprintf(buf + k, k < n ? n - k : 0, s->d[i].v ? "%s$%d%+lld" : "%s$%d", i ? "," : "", s->d[i].sym,
                                  (long long)s->d[i].v);
    }
    snprintf(buf + k, k < n ? n - k : 0, "]");
}

