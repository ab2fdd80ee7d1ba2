/*
 * base/shape.h — dimensions that are numbers or symbols, and shapes made of them.
 */
#ifndef WEFT_BASE_SHAPE_H
#define WEFT_BASE_SHAPE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft.h"

/* --- shapes with symbols ------------------------------------------------------------------------- */

/* A dimension: a known size (sym < 0, v >= 0) or a symbol plus a constant (sym >= 0: the size is the
 * symbol's value + v; v is 0 but for sizes such as a CSR index's N + 1). Unknown sizes are fresh
 * symbols, so "unknown" is just a symbol nobody else shares. */
typedef struct weft_dim {
    int64_t v;
    int32_t sym;
} weft_dim;

/* rank < 0: rank unknown. */
typedef struct weft_shape {
    int rank;
    weft_dim d[WEFT_MAX_RANK];
} weft_shape;

static inline weft_dim weft_dim_num(int64_t v) { weft_dim d = {v, -1}; return d; }
static inline bool weft_dim_known(weft_dim d) { return d.sym < 0; }
static inline bool weft_dim_eq(weft_dim a, weft_dim b)
{
    return a.sym < 0 ? (b.sym < 0 && a.v == b.v) : (a.sym == b.sym && a.v == b.v);
}
/* d + k (a number stays a number, a symbol keeps its symbol). */
static inline weft_dim weft_dim_add(weft_dim d, int64_t k)
{
    d.v += k;
    return d;
}
bool weft_shape_known(const weft_shape *s);        /* rank known and every dim a number */
int64_t weft_shape_numel(const weft_shape *s);     /* -1 unless known; -2 if it overflows int64 */
void weft_shape_format(const weft_shape *s, char *buf, size_t n); /* "[N,3]"; symbols as names if set */

#endif
