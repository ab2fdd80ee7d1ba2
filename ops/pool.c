/*
 * ops/pool.c — pooling: MaxPool (with its Indices output), AveragePool, LpPool and the global forms
 * GlobalMaxPool, GlobalAveragePool, GlobalLpPool.
 *
 * Every pool slides a window (ops/window.h) over the spatial axes of an [N, C, D1, ..., Dk] input. Pad
 * positions never hold values: MaxPool ignores them, AveragePool divides by the number of real elements
 * (or, with count_include_pad, of the positions inside the padded extent), LpPool counts them as 0.
 * Averages and norms are accumulated in double; half-precision inputs are widened (ops/widen.c).
 */
#include <math.h>
#include <string.h>

#include "op.h"
#include "window.h"

enum { POOL_MAX, POOL_AVG, POOL_LP };

/* Which pool a step runs: each op's own wrappers (POOL_OP, at the end) pass theirs to the generic infer
 * and body, so a step knows its op without looking up its type name. */
typedef struct {
    int kind;
    bool global;
} pool_kind;

/* The geometry of node n over an input of spatial dims `sp` (entries < 0: unknown). */
static weft_status pool_geom(const weft_node_info *n, pool_kind pk, int nsp, const int64_t *sp, win_geom *w)
{
    if (pk.global) {
        memset(w, 0, sizeof *w);
        w->nsp = nsp;
        for (int i = 0; i < nsp; i++) { w->k[i] = sp[i] < 0 ? 1 : sp[i]; w->s[i] = w->d[i] = 1; }
        w->auto_pad = WIN_VALID;
        return WEFT_OK;
    }
    /* ceil_mode arrived with opset 10 (MaxPool, AveragePool) and 18 (LpPool); accept it throughout. */
    weft_status st = win_read(n, nsp, NULL, true, w);
    if (st) return st;
    if (pk.kind != POOL_MAX && weft_attr_find(n, "storage_order"))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "storage_order is an attribute of MaxPool only");
    return WEFT_OK;
}

static weft_status pool_infer(weft_infer_ctx *c, pool_kind pk)
{
    weft_dtype dt = c->in_dtype[0];
    bool ok = weft_dtype_is_float(dt) ||
              (pk.kind == POOL_MAX && !pk.global && (dt == WEFT_INT8 || dt == WEFT_UINT8));
    if (!ok)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported", weft_dtype_name(dt));
    c->out_dtype[0] = dt;
    if (c->n_out > 1) {
        if (pk.kind != POOL_MAX || pk.global)
            return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "only MaxPool has a second output");
        c->out_dtype[1] = WEFT_INT64;
    }
    const weft_shape *x = &c->in_shape[0];
    if (x->rank < 0) {
        for (int o = 0; o < c->n_out; o++) c->out_shape[o].rank = -1;
        return WEFT_OK;
    }
    int nsp = x->rank - 2;
    int64_t sp[WEFT_MAX_RANK] = {0};
    for (int i = 0; i < nsp; i++) sp[i] = weft_dim_known(x->d[i + 2]) ? x->d[i + 2].v : -1;
    win_geom w;
    weft_status st = pool_geom(c->node, pk, nsp, sp, &w);
    if (st) return st;
    weft_shape y;
    y.rank = x->rank;
    y.d[0] = x->d[0];
    y.d[1] = x->d[1];
    for (int i = 0; i < nsp; i++) {
        if (pk.global) { y.d[i + 2] = weft_dim_num(1); continue; }
        if (sp[i] < 0) { y.d[i + 2] = weft_dim_unknown(c); continue; }
        int64_t o = 0, pb, pe;
        if ((st = win_axis(c->node, &w, i, sp[i], &o, &pb, &pe))) return st;
        y.d[i + 2] = weft_dim_num(o);
    }
    for (int o = 0; o < c->n_out; o++) c->out_shape[o] = y;
    return WEFT_OK;
}

/* Everything one pooling kernel needs, per spatial axis. */
typedef struct {
    int nsp;
    int64_t in[WEFT_MAX_RANK], out[WEFT_MAX_RANK];
    int64_t pb[WEFT_MAX_RANK], pe[WEFT_MAX_RANK];
    int64_t in_plane, out_plane, taps;
    int64_t colmaj[WEFT_MAX_RANK]; /* strides of the spatial axes in column-major order (storage_order 1) */
} pool_plan;

/*
 * Visits the taps of output position `o` (a multi-index `oi`) and calls TAP(off, inb, inpad, sidx) with
 * the input's plane offset and whether the tap is inside the input / inside the padded extent.
 */
#define POOL_TAPS(TAP)                                                                                \
    do {                                                                                              \
        int64_t ki[WEFT_MAX_RANK] = {0};                                                              \
        for (int64_t t = 0; t < P->taps; t++) {                                                       \
            int64_t off = 0, cm = 0;                                                                  \
            bool inb = true, inpad = true;                                                            \
            for (int a = 0; a < P->nsp; a++) {                                                        \
                int64_t pos = oi[a] * w->s[a] - P->pb[a] + ki[a] * w->d[a];                            \
                if (pos < 0 || pos >= P->in[a]) inb = false;                                          \
                if (pos >= P->in[a] + P->pe[a]) inpad = false;                                        \
                off = off * P->in[a] + pos;                                                           \
                cm += pos * P->colmaj[a];                                                             \
            }                                                                                         \
            TAP(off, inb, inpad, cm);                                                                 \
            for (int a = P->nsp - 1; a >= 0; a--) {                                                   \
                if (++ki[a] < w->k[a]) break;                                                         \
                ki[a] = 0;                                                                            \
            }                                                                                         \
        }                                                                                             \
    } while (0)

static void next_index(int64_t *oi, const int64_t *dims, int n)
{
    for (int a = n - 1; a >= 0; a--) {
        if (++oi[a] < dims[a]) return;
        oi[a] = 0;
    }
}

#define MAX_TAP(off, inb, inpad, cm)                                                                  \
    (void)inpad;                                                                                      \
    if (inb && (!found || xp[off] > best)) {                                                          \
        best = xp[off];                                                                               \
        found = true;                                                                                 \
        barg = storage_order ? cm : off;                                                              \
    }

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data;                                                                   \
        T *y = k->out[0].data;                                                                        \
        for (int64_t pl = 0; pl < planes; pl++) {                                                     \
            const T *xp = x + pl * P->in_plane;                                                       \
            int64_t oi[WEFT_MAX_RANK] = {0};                                                          \
            for (int64_t o = 0; o < P->out_plane; o++, next_index(oi, P->out, P->nsp)) {              \
                T best = 0;                                                                           \
                bool found = false;                                                                   \
                int64_t barg = 0;                                                                     \
                POOL_TAPS(MAX_TAP);                                                                   \
                /* A window wholly in the padding (pads >= kernel) yields 0. */                        \
                y[pl * P->out_plane + o] = best;                                                      \
                if (ind) ind[pl * P->out_plane + o] = pl * P->in_plane + barg;                        \
            }                                                                                         \
        }                                                                                             \
    }
static weft_status max_body(weft_kernel_ctx *k, const pool_plan *P, const win_geom *w, int64_t planes)
{
    int64_t *ind = k->n_out > 1 && k->out[1].dtype != WEFT_UNDEFINED ? k->out[1].data : NULL;
    int64_t storage_order = weft_attr_int(k->node, "storage_order", 0);
    if (storage_order != 0 && storage_order != 1)
        return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "storage_order must be 0 or 1");
    WEFT_DISPATCH(k->in[0].dtype, WEFT_TYPES_NUMERIC, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

#define AVG_TAP(off, inb, inpad, cm)                                                                  \
    (void)(cm);                                                                                       \
    if (inb) {                                                                                        \
        double v = (double)xp[off];                                                                   \
        acc += lp ? pow(fabs(v), p) : v;                                                              \
        cnt++;                                                                                        \
    } else if (inpad)                                                                                 \
        cnt_pad++;

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data;                                                                   \
        T *y = k->out[0].data;                                                                        \
        for (int64_t pl = 0; pl < planes; pl++) {                                                     \
            const T *xp = x + pl * P->in_plane;                                                       \
            int64_t oi[WEFT_MAX_RANK] = {0};                                                          \
            for (int64_t o = 0; o < P->out_plane; o++, next_index(oi, P->out, P->nsp)) {              \
                double acc = 0;                                                                       \
                int64_t cnt = 0, cnt_pad = 0;                                                         \
                POOL_TAPS(AVG_TAP);                                                                   \
                double r;                                                                             \
                if (lp) r = pow(acc, 1.0 / p);                                                        \
                else r = acc / (double)(count_pad ? cnt + cnt_pad : cnt);                             \
                y[pl * P->out_plane + o] = (T)r;                                                      \
            }                                                                                         \
        }                                                                                             \
    }
static weft_status avg_body(weft_kernel_ctx *k, const pool_plan *P, const win_geom *w, int64_t planes, bool lp)
{
    double p = 2;
    if (lp) {
        const weft_attr *pa = weft_attr_find(k->node, "p");
        if (pa) p = pa->type == WEFT_ATTR_FLOAT ? pa->f : (double)pa->i;
        if (!(p > 0) || !isfinite(p))
            return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "p = %g must be a positive number", p);
    }
    int64_t count_pad = weft_attr_int(k->node, "count_include_pad", 0);
    WEFT_DISPATCH(k->in[0].dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

static weft_status pool_body(weft_kernel_ctx *k, pool_kind pk)
{
    const weft_tview *x = &k->in[0];
    int nsp = x->rank - 2;
    win_geom w;
    weft_status st = pool_geom(k->node, pk, nsp, x->dims + 2, &w);
    if (st) return st;
    pool_plan P;
    memset(&P, 0, sizeof P);
    P.nsp = nsp;
    P.in_plane = P.out_plane = P.taps = 1;
    for (int i = 0; i < nsp; i++) {
        P.in[i] = x->dims[i + 2];
        if ((st = win_axis(k->node, &w, i, P.in[i], &P.out[i], &P.pb[i], &P.pe[i]))) return st;
        if (pk.global) P.out[i] = 1;
        P.in_plane *= P.in[i];
        P.out_plane *= P.out[i];
        P.taps *= w.k[i];
    }
    /* Column-major strides: the first spatial axis varies fastest. */
    int64_t s = 1;
    for (int i = 0; i < nsp; i++) { P.colmaj[i] = s; s *= P.in[i]; }
    int64_t planes = x->dims[0] * x->dims[1];
    if (planes == 0 || P.out_plane == 0) return WEFT_OK;
    if (P.in_plane == 0)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "cannot pool over an empty spatial extent");
    if (pk.kind == POOL_MAX) return max_body(k, &P, &w, planes);
    return avg_body(k, &P, &w, planes, pk.kind == POOL_LP);
}

#define POOL_OP(fn, KIND, GLOBAL)                                                                     \
    static weft_status infer_##fn(weft_infer_ctx *c) { return pool_infer(c, (pool_kind){KIND, GLOBAL}); } \
    static weft_status body_##fn(weft_kernel_ctx *k, void *scratch)                                   \
    {                                                                                                 \
        (void)scratch;                                                                                \
        return pool_body(k, (pool_kind){KIND, GLOBAL});                                               \
    }                                                                                                 \
    static weft_status run_##fn(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, body_##fn); }
POOL_OP(maxpool, POOL_MAX, false)
POOL_OP(avgpool, POOL_AVG, false)
POOL_OP(lppool, POOL_LP, false)
POOL_OP(gmaxpool, POOL_MAX, true)
POOL_OP(gavgpool, POOL_AVG, true)
POOL_OP(glppool, POOL_LP, true)
#undef POOL_OP

const weft_op_def weft_ops_pool[] = {
    {"MaxPool", "", 1, 0, 1, 1, 1, 2, 0, infer_maxpool, run_maxpool},
    {"AveragePool", "", 1, 0, 1, 1, 1, 1, 0, infer_avgpool, run_avgpool},
    {"LpPool", "", 1, 0, 1, 1, 1, 1, 0, infer_lppool, run_lppool},
    {"GlobalMaxPool", "", 1, 0, 1, 1, 1, 1, 0, infer_gmaxpool, run_gmaxpool},
    {"GlobalAveragePool", "", 1, 0, 1, 1, 1, 1, 0, infer_gavgpool, run_gavgpool},
    {"GlobalLpPool", "", 1, 0, 1, 1, 1, 1, 0, infer_glppool, run_glppool},
};
const int weft_ops_pool_count = sizeof weft_ops_pool / sizeof weft_ops_pool[0];
