/*
 * ops/scatter.c — ScatterElements, Scatter (its opset 9-10 name) and ScatterND.
 *
 * Both ops reduce to the same kernel: a list of destination offsets (one per update slice) into a copy
 * of `data`, and slices of `inner` elements of `updates` to combine there. ScatterElements is the case
 * inner = 1. The offsets are computed and bounds-checked first (into scratch), so a bad index fails
 * before the output is touched, and the typed loop is written once for every dtype.
 *
 * Duplicate indices are the normal case in message passing (E >> N): with a reduction they accumulate,
 * and with 'none' (left undefined by ONNX) updates are applied in index order, so the last one wins.
 * Reductions on float16 / bfloat16 compute in float32 (ops/widen.c) and round after every update, as
 * the type's own arithmetic does; 'none' only moves elements, whatever their dtype.
 */
#include <string.h>

#include "grad.h"
#include "op.h"

enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

static int64_t prod(const int64_t *d, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= d[i];
    return p;
}

/* The reduction attribute; -1 (with an error set) for an unknown name. */
static int reduction_of(const weft_node_info *n)
{
    const char *s = weft_attr_string(n, "reduction", "none");
    static const char *names[] = {"none", "add", "mul", "max", "min"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) return i;
    weft_op_error(n, WEFT_ERR_INVALID_MODEL, "unknown reduction '%s' (expected none, add, mul, max or min)", s);
    return -1;
}

/* Common type checks: data movable, indices int32/int64, updates of data's dtype; reductions need
 * arithmetic. */
static weft_status scatter_types(weft_infer_ctx *c)
{
    weft_dtype t = c->in_dtype[0];
    if (weft_dtype_size(t) == 0)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "data dtype %s is not supported", weft_dtype_name(t));
    if (c->in_dtype[1] != WEFT_INT32 && c->in_dtype[1] != WEFT_INT64)
        return weft_op_error(c->node, WEFT_ERR_TYPE, "indices must be int32 or int64, got %s",
                             weft_dtype_name(c->in_dtype[1]));
    if (c->in_dtype[2] != t)
        return weft_op_error(c->node, WEFT_ERR_TYPE, "updates dtype %s differs from data dtype %s",
                             weft_dtype_name(c->in_dtype[2]), weft_dtype_name(t));
    int red = reduction_of(c->node);
    if (red < 0) return WEFT_ERR_INVALID_MODEL;
    if (red != RED_NONE && (t == WEFT_BOOL || !(weft_dtype_is_float(t) || weft_dtype_is_integer(t))))
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "reduction on dtype %s is not supported",
                             weft_dtype_name(t));
    c->out_dtype[0] = t;
    c->out_shape[0] = c->in_shape[0];
    return WEFT_OK;
}

/* Integer add / mul wrap around (as two's complement hardware does) instead of overflowing into
 * undefined behaviour; floats use their own arithmetic. */
#define W_ADD(a, b) _Generic((a), float: (a) + (b), double: (a) + (b), default: (uint64_t)(a) + (uint64_t)(b))
#define W_MUL(a, b) _Generic((a), float: (a) * (b), double: (a) * (b), default: (uint64_t)(a) * (uint64_t)(b))
#define ID(x) (x)

/* ST rounds each combined value as it is stored (to half precision inside a widened float32 body). */
#define SCATTER_APPLY(T, ST)                                                                           \
    {                                                                                                  \
        T *o = out;                                                                                    \
        const T *u = upd;                                                                              \
        for (int64_t t = 0; t < n; t++) {                                                              \
            T *dst = o + off[t];                                                                       \
            const T *src = u + t * inner;                                                              \
            for (int64_t j = 0; j < inner; j++) {                                                      \
                T a = dst[j], b = src[j];                                                              \
                switch (red) {                                                                         \
                case RED_ADD: a = (T)W_ADD(a, b); break;                                               \
                case RED_MUL: a = (T)W_MUL(a, b); break;                                               \
                case RED_MAX: a = b > a ? b : a; break;                                                \
                default: a = b < a ? b : a; break;                                                     \
                }                                                                                      \
                dst[j] = ST(a);                                                                        \
            }                                                                                          \
        }                                                                                              \
    }
#define ROUND_HALF(x) weft_round_to(real, (x))

/* Combines n slices of `inner` elements of upd into out at element offsets off[]. */
static weft_status scatter_apply(const weft_kernel_ctx *k, int red, const int64_t *off, int64_t n, int64_t inner)
{
    weft_dtype dt = k->out[0].dtype;
    void *out = k->out[0].data;
    const void *upd = k->in[2].data;
    if (n == 0 || inner == 0) return WEFT_OK;
    if (red == RED_NONE) {
        size_t es = weft_dtype_size(dt), row = (size_t)inner * es;
        for (int64_t t = 0; t < n; t++)
            memcpy((char *)out + (size_t)off[t] * es, (const char *)upd + (size_t)t * row, row);
        return WEFT_OK;
    }
    weft_dtype real = weft_widened_out_dtype(k, 0);
    if (dt == WEFT_FLOAT32 && real != WEFT_FLOAT32) {
        SCATTER_APPLY(float, ROUND_HALF)
        return WEFT_OK;
    }
#define WEFT_BODY(T) SCATTER_APPLY(T, ID)
    WEFT_DISPATCH(dt, WEFT_TYPES_NUMERIC, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

/* The output starts as a copy of data (unless the plan made them the same buffer). */
static void copy_data(weft_kernel_ctx *k)
{
    size_t nb = (size_t)k->in[0].numel * weft_dtype_size(k->in[0].dtype);
    if (nb && k->out[0].data != k->in[0].data) memcpy(k->out[0].data, k->in[0].data, nb);
}

/* Runs a scatter's body with scratch for n offsets: widened to float32 when it reduces half precision. */
static weft_status scatter_run(weft_kernel_ctx *k, int64_t n, weft_math_body body)
{
    size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(int64_t);
    int red = reduction_of(k->node);
    if (red < 0) return WEFT_ERR_INVALID_MODEL;
    if (red != RED_NONE) return weft_math_run_widened(k, bytes, body);
    void *off = k->scratch ? k->scratch(k->user, bytes) : NULL;
    if (!off) return weft_op_error(k->node, WEFT_ERR_NOMEM, "no scratch memory for %lld offsets", (long long)n);
    return body(k, off);
}

/* --- ScatterElements / Scatter -------------------------------------------------------------------- */

static weft_status scatter_elements_infer(weft_infer_ctx *c)
{
    weft_status st = scatter_types(c);
    if (st) return st;
    const weft_shape *ds = &c->in_shape[0], *is = &c->in_shape[1], *us = &c->in_shape[2];
    if (ds->rank == 0) return weft_op_error(c->node, WEFT_ERR_SHAPE, "data must have rank >= 1, got a scalar");
    if (ds->rank < 0) return WEFT_OK;
    int axis;
    if ((st = weft_axis(c->node, weft_attr_int(c->node, "axis", 0), ds->rank, false, &axis))) return st;
    if (is->rank >= 0 && is->rank != ds->rank)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "indices rank %d differs from data rank %d", is->rank,
                             ds->rank);
    if (is->rank >= 0 && us->rank >= 0) {
        if (us->rank != is->rank)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "updates rank %d differs from indices rank %d",
                                 us->rank, is->rank);
        for (int a = 0; a < is->rank; a++)
            if (weft_dim_known(is->d[a]) && weft_dim_known(us->d[a]) && is->d[a].v != us->d[a].v)
                return weft_op_error(c->node, WEFT_ERR_SHAPE, "updates dim %d (%lld) differs from indices (%lld)",
                                     a, (long long)us->d[a].v, (long long)is->d[a].v);
    }
    if (is->rank >= 0)
        for (int a = 0; a < ds->rank; a++)
            if (a != axis && weft_dim_known(ds->d[a]) && weft_dim_known(is->d[a]) && is->d[a].v > ds->d[a].v)
                return weft_op_error(c->node, WEFT_ERR_SHAPE, "indices dim %d (%lld) exceeds data dim (%lld)", a,
                                     (long long)is->d[a].v, (long long)ds->d[a].v);
    return WEFT_OK;
}

static weft_status scatter_elements_body(weft_kernel_ctx *k, void *scratch)
{
    const weft_tview *d = &k->in[0], *ix = &k->in[1], *up = &k->in[2];
    int r = d->rank, axis, red = reduction_of(k->node);
    if (red < 0) return WEFT_ERR_INVALID_MODEL;
    weft_status st = weft_axis(k->node, weft_attr_int(k->node, "axis", 0), r, false, &axis);
    if (st) return st;
    if (ix->rank != r || up->rank != r)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "indices and updates must have data's rank %d", r);
    for (int a = 0; a < r; a++) {
        if (up->dims[a] != ix->dims[a])
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "updates dim %d differs from indices", a);
        if (a != axis && ix->dims[a] > d->dims[a])
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "indices dim %d exceeds data dim", a);
    }
    int64_t *off = scratch;
    int64_t strides[WEFT_MAX_RANK], pos[WEFT_MAX_RANK] = {0}, v = 0;
    weft_strides(d->dims, r, strides);
    for (int64_t i = 0; i < ix->numel; i++) {
        if ((st = weft_index_fix(k->node, weft_index_at(ix, i), axis, d->dims[axis], &v))) return st;
        int64_t o = 0;
        for (int a = 0; a < r; a++) o += (a == axis ? v : pos[a]) * strides[a];
        off[i] = o;
        for (int a = r - 1; a >= 0; a--) {
            if (++pos[a] < ix->dims[a]) break;
            pos[a] = 0;
        }
    }
    copy_data(k);
    return scatter_apply(k, red, off, ix->numel, 1);
}

static weft_status scatter_elements_run(weft_kernel_ctx *k) { return scatter_run(k, k->in[1].numel, scatter_elements_body); }

/* --- ScatterND ------------------------------------------------------------------------------------- */

static weft_status scatter_nd_infer(weft_infer_ctx *c)
{
    weft_status st = scatter_types(c);
    if (st) return st;
    const weft_shape *ds = &c->in_shape[0], *is = &c->in_shape[1], *us = &c->in_shape[2];
    if (ds->rank == 0 || is->rank == 0)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "data and indices must have rank >= 1");
    if (ds->rank < 0 || is->rank < 0) return WEFT_OK;
    int q = is->rank;
    weft_dim md = is->d[q - 1];
    if (!weft_dim_known(md)) return WEFT_OK;
    if (md.v < 1 || md.v > ds->rank)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "indices last dim %lld must be in [1, %d]", (long long)md.v,
                             ds->rank);
    /* updates.shape must be indices.shape[:-1] + data.shape[m:] */
    int m = (int)md.v, ur = q - 1 + ds->rank - m;
    if (us->rank < 0) return WEFT_OK;
    if (us->rank != ur)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "updates rank %d should be %d (indices[:-1] + data[%d:])",
                             us->rank, ur, m);
    for (int a = 0; a < ur; a++) {
        weft_dim want = a < q - 1 ? is->d[a] : ds->d[m + a - (q - 1)];
        if (weft_dim_known(want) && weft_dim_known(us->d[a]) && want.v != us->d[a].v)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "updates dim %d is %lld, expected %lld", a,
                                 (long long)us->d[a].v, (long long)want.v);
    }
    return WEFT_OK;
}

static weft_status scatter_nd_body(weft_kernel_ctx *k, void *scratch)
{
    const weft_tview *d = &k->in[0], *ix = &k->in[1], *up = &k->in[2];
    int r = d->rank, q = ix->rank, red = reduction_of(k->node);
    if (red < 0) return WEFT_ERR_INVALID_MODEL;
    int m = (int)ix->dims[q - 1];
    if (m < 1 || m > r) return weft_op_error(k->node, WEFT_ERR_SHAPE, "indices last dim %d must be in [1, %d]", m, r);
    int64_t tuples = prod(ix->dims, 0, q - 1), slice = prod(d->dims, m, r);
    bool ok = up->rank == q - 1 + r - m;
    for (int a = 0; ok && a < up->rank; a++)
        ok = up->dims[a] == (a < q - 1 ? ix->dims[a] : d->dims[m + a - (q - 1)]);
    if (!ok) return weft_op_error(k->node, WEFT_ERR_SHAPE, "updates shape does not match indices[:-1] + data[%d:]", m);
    int64_t *off = scratch;
    weft_status st;
    int64_t v = 0;
    for (int64_t t = 0; t < tuples; t++) {
        int64_t o = 0;
        for (int j = 0; j < m; j++) {
            if ((st = weft_index_fix(k->node, weft_index_at(ix, t * m + j), j, d->dims[j], &v))) return st;
            o = o * d->dims[j] + v;
        }
        off[t] = o * slice;
    }
    copy_data(k);
    return scatter_apply(k, red, off, tuples, slice);
}

/* one offset per index tuple: the product of the indices' dims but the last */
static weft_status scatter_nd_run(weft_kernel_ctx *k)
{
    const weft_tview *ix = &k->in[1];
    return scatter_run(k, ix->rank > 0 ? prod(ix->dims, 0, ix->rank - 1) : 1, scatter_nd_body);
}

/* --- gradients (ops/grad.h) ----------------------------------------------------------------------- */

/* Scatter with reduction add: out = data + (updates added at indices), so d data = g and d updates =
 * g read back at the same indices (GatherElements / GatherND). With reduction none the written
 * positions no longer depend on data: its gradient has zeros scattered there. */
static weft_status scatter_grad(weft_grad_ctx *c, const char *gather)
{
    const char *red = weft_attr_string(c->node, "reduction", "none");
    bool add = !strcmp(red, "add");
    if (!add && strcmp(red, "none"))
        return weft_grad_fail(c, WEFT_ERR_UNSUPPORTED, "reduction '%s' (add and none have rules)", red);
    int g = weft_grad_dout(c, 0);
    if (c->want[0]) {
        if (add) weft_grad_to(c, 0, g);
        else {
            int in[3] = {g, c->in[1], weft_grad_zeros_like(c, c->in[2], &c->in_shape[2])};
            weft_attr at[1] = {weft_grad_attr_int("axis", weft_attr_int(c->node, "axis", 0))};
            weft_grad_to(c, 0, weft_grad_op(c, c->node->op_type, in, 3, at, strcmp(gather, "GatherND") ? 1 : 0));
        }
    }
    if (c->want[2]) {
        weft_attr ax = weft_grad_attr_int("axis", weft_attr_int(c->node, "axis", 0));
        int in[2] = {g, c->in[1]};
        weft_grad_to(c, 2, weft_grad_op(c, gather, in, 2, &ax, strcmp(gather, "GatherND") ? 1 : 0));
    }
    return c->st;
}
/* ScatterElements with reduction max / min: each output element is data's or one update's, and its
 * gradient goes to that one. data keeps ties (the kernels replace only on a strict improvement); among
 * equal updates the first in update order wins, found as the least position scattered with reduction
 * min, so the choice is deterministic and g is passed on exactly once. */
static weft_status scatter_extremum_grad(weft_grad_ctx *c)
{
    weft_attr ax = weft_grad_attr_int("axis", weft_attr_int(c->node, "axis", 0));
    int g = weft_grad_dout(c, 0), z = weft_grad_scalar(c, 0.0);
    int from_data = weft_grad_op2(c, "Equal", c->in[0], c->out[0]);
    if (c->want[0]) {
        int in[3] = {from_data, g, z};
        weft_grad_to(c, 0, weft_grad_op(c, "Where", in, 3, NULL, 0));
    }
    if (!c->want[2]) return c->st;
    int gi[2] = {c->out[0], c->in[1]};
    int at_out = weft_grad_op(c, "GatherElements", gi, 2, &ax, 1);
    gi[0] = from_data;
    int data_kept = weft_grad_op(c, "GatherElements", gi, 2, &ax, 1);
    int cand_mask = weft_grad_op2(c, "And", weft_grad_op2(c, "Equal", c->in[2], at_out), weft_grad_op1(c, "Not", data_kept));
    int pos = weft_grad_positions(c, c->in[2], &c->in_shape[2]), big = weft_grad_i64(c, INT64_MAX);
    int win[3] = {cand_mask, pos, big};
    int cand = weft_grad_op(c, "Where", win, 3, NULL, 0);
    int sin[3] = {weft_grad_op2(c, "Expand", big, weft_grad_shape_of(c, c->in[0], &c->in_shape[0])), c->in[1], cand};
    weft_attr at[2] = {ax, weft_grad_attr_string("reduction", "min")};
    int first = weft_grad_op(c, "ScatterElements", sin, 3, at, 2);
    gi[0] = first;
    int wins = weft_grad_op2(c, "Equal", weft_grad_op(c, "GatherElements", gi, 2, &ax, 1), pos);
    gi[0] = g;
    int w[3] = {wins, weft_grad_op(c, "GatherElements", gi, 2, &ax, 1), z};
    weft_grad_to(c, 2, weft_grad_op(c, "Where", w, 3, NULL, 0));
    return c->st;
}

static weft_status grad_scatter_elements(weft_grad_ctx *c)
{
    const char *red = weft_attr_string(c->node, "reduction", "none");
    if (!strcmp(red, "max") || !strcmp(red, "min")) return scatter_extremum_grad(c);
    return scatter_grad(c, "GatherElements");
}
static weft_status grad_scatter_nd(weft_grad_ctx *c) { return scatter_grad(c, "GatherND"); }

const weft_op_def weft_ops_scatter[] = {
    {"Scatter", "", 9, 10, 3, 3, 1, 1, 0, scatter_elements_infer, scatter_elements_run},
    {"ScatterElements", "", 11, 0, 3, 3, 1, 1, 0, scatter_elements_infer, scatter_elements_run, 0, grad_scatter_elements},
    {"ScatterND", "", 11, 0, 3, 3, 1, 1, 0, scatter_nd_infer, scatter_nd_run, 0, grad_scatter_nd},
};
const int weft_ops_scatter_count = sizeof weft_ops_scatter / sizeof weft_ops_scatter[0];
