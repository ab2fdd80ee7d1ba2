/*
 * ops/index.c — ops that produce or consume positions: OneHot, NonZero, TopK, ArgMax, ArgMin, CumSum,
 * Unique.
 *
 * Typed loops are written once as macros over the element type and instantiated by WEFT_DISPATCH for
 * the numeric dtypes; TopK, ArgMax / ArgMin and CumSum compute float16 / bfloat16 in float32 (ops/widen.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"

/* --- helpers ---------------------------------------------------------------------------------------- */

/* NaN test that compiles (to 0) for integer types too. */
static inline bool nan_f(float x) { return isnan(x); }
static inline bool nan_d(double x) { return isnan(x); }
static inline bool nan_never(uint64_t x) { (void)x; return false; }
#define IS_NAN(x) _Generic((x), float: nan_f, double: nan_d, default: nan_never)(x)
/* Integer sums wrap (as the hardware does) instead of overflowing into undefined behaviour. */
#define W_ADD(a, b) _Generic((a), float: (a) + (b), double: (a) + (b), default: (uint64_t)(a) + (uint64_t)(b))

static int64_t prod(const int64_t *d, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= d[i];
    return p;
}

/* Numeric dtypes that compare and add: the integers, the floats including float16 / bfloat16. */
static bool arith_dtype(weft_dtype t) { return weft_dtype_is_float(t) || weft_dtype_is_integer(t); }

static weft_status need_arith(weft_infer_ctx *c, int i)
{
    if (!arith_dtype(c->in_dtype[i]))
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input %d: dtype %s is not supported", i,
                             weft_dtype_name(c->in_dtype[i]));
    return WEFT_OK;
}

static weft_status check_out_size(weft_infer_ctx *c, int o)
{
    if (c->out_shape[o].rank > WEFT_MAX_RANK)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "output rank %d exceeds the maximum of %d",
                             c->out_shape[o].rank, WEFT_MAX_RANK);
    if (weft_shape_numel(&c->out_shape[o]) == -2)
        return weft_op_error(c->node, WEFT_ERR_NOMEM, "output %d element count overflows int64", o);
    return WEFT_OK;
}

/* A single-element input read as int64 (integers exactly; floats truncated, saturating). */
static weft_status scalar_i64(const weft_node_info *n, const char *what, weft_dtype t, const weft_shape *s,
                              const void *data, int64_t *out)
{
    int64_t ne = weft_shape_numel(s);
    if (s->rank > 1 || (ne >= 0 && ne != 1))
        return weft_op_error(n, WEFT_ERR_SHAPE, "%s must be a scalar or a 1-element vector", what);
    if (!data || ne < 0) return WEFT_ERR_INTERNAL; /* caller checks for known data */
    if (weft_dtype_is_float(t) && isnan(weft_load_f64(t, data, 0)))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "%s is NaN", what);
    *out = weft_load_i64(t, data, 0);
    return WEFT_OK;
}

/* The same for a kernel's view. */
static weft_status view_scalar_i64(const weft_node_info *n, const char *what, const weft_tview *v, int64_t *out)
{
    weft_shape s = {v->rank};
    for (int i = 0; i < v->rank; i++) s.d[i] = weft_dim_num(v->dims[i]);
    return scalar_i64(n, what, v->dtype, &s, v->data, out);
}

/* --- OneHot ----------------------------------------------------------------------------------------- */

static weft_status onehot_depth(const weft_node_info *n, weft_dtype t, const weft_shape *s, const void *data,
                                int64_t *depth)
{
    weft_status st = scalar_i64(n, "depth", t, s, data, depth);
    if (st) return st;
    if (*depth < 0) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "depth %lld is negative", (long long)*depth);
    return WEFT_OK;
}

static weft_status onehot_infer(weft_infer_ctx *c)
{
    weft_status st;
    if ((st = need_arith(c, 0)) || (st = need_arith(c, 1))) return st;
    weft_dtype vt = c->in_dtype[2];
    if (weft_dtype_size(vt) == 0)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "values dtype %s is not supported", weft_dtype_name(vt));
    const weft_shape *is = &c->in_shape[0], *ds = &c->in_shape[1], *vs = &c->in_shape[2];
    if (vs->rank >= 0 && (vs->rank != 1 || (weft_dim_known(vs->d[0]) && vs->d[0].v != 2)))
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "values must be a 2-element vector [off, on]");
    if (ds->rank > 1) return weft_op_error(c->node, WEFT_ERR_SHAPE, "depth must be a scalar or a 1-element vector");
    c->out_dtype[0] = vt;
    weft_shape *o = &c->out_shape[0];
    weft_dim depth;
    if (c->in_data[1] && weft_shape_known(ds)) {
        int64_t d;
        if ((st = onehot_depth(c->node, c->in_dtype[1], ds, c->in_data[1], &d))) return st;
        depth = weft_dim_num(d);
    } else {
        depth = weft_dim_unknown(c);
    }
    if (is->rank < 0) { o->rank = -1; return WEFT_OK; }
    int r = is->rank, axis;
    if ((st = weft_axis(c->node, weft_attr_int(c->node, "axis", -1), r, true, &axis))) return st;
    o->rank = r + 1;
    for (int a = 0, j = 0; a <= r; a++) o->d[a] = a == axis ? depth : is->d[j++];
    return check_out_size(c, 0);
}

static weft_status onehot_run(weft_kernel_ctx *k)
{
    const weft_tview *ix = &k->in[0], *dv = &k->in[1], *vals = &k->in[2];
    int64_t depth;
    weft_status st = view_scalar_i64(k->node, "depth", dv, &depth);
    if (st) return st;
    if (depth < 0) return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "depth is negative");
    if (vals->numel != 2) return weft_op_error(k->node, WEFT_ERR_SHAPE, "values must have 2 elements");
    int r = ix->rank, axis;
    if ((st = weft_axis(k->node, weft_attr_int(k->node, "axis", -1), r, true, &axis))) return st;
    int64_t pre = prod(ix->dims, 0, axis), post = prod(ix->dims, axis, r);
    size_t es = weft_dtype_size(vals->dtype);
    const char *off = vals->data, *on = off + es;
    char *y = k->out[0].data;
    for (int64_t i = 0; i < k->out[0].numel; i++) memcpy(y + (size_t)i * es, off, es);
    for (int64_t p = 0; p < pre; p++)
        for (int64_t s = 0; s < post; s++) {
            /* Per the spec, indices outside [-depth, depth) select nothing: the row stays all 'off'. */
            int64_t v = weft_load_i64(ix->dtype, ix->data, p * post + s);
            if (v < -depth || v >= depth) continue;
            if (v < 0) v += depth;
            memcpy(y + (size_t)((p * depth + v) * post + s) * es, on, es);
        }
    return WEFT_OK;
}

/* --- NonZero ---------------------------------------------------------------------------------------- */

/* Zero is compared as a number, so -0.0 is zero and NaN is not. */
static int64_t count_nonzero(weft_dtype t, const void *data, int64_t n)
{
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) c += weft_load_f64(t, data, i) != 0;
    return c;
}

static weft_status nonzero_infer(weft_infer_ctx *c)
{
    weft_dtype t = c->in_dtype[0];
    if (weft_dtype_size(t) == 0)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "dtype %s is not supported", weft_dtype_name(t));
    const weft_shape *s = &c->in_shape[0];
    weft_shape *o = &c->out_shape[0];
    c->out_dtype[0] = WEFT_INT64;
    o->rank = 2;
    /* A scalar counts as a 1-element vector (as numpy does). */
    o->d[0] = s->rank < 0 ? weft_dim_unknown(c) : weft_dim_num(s->rank > 0 ? s->rank : 1);
    int64_t n = weft_shape_numel(s);
    o->d[1] = c->in_data[0] && n >= 0 ? weft_dim_num(count_nonzero(t, c->in_data[0], n)) : weft_dim_unknown(c);
    return WEFT_OK;
}

static weft_status nonzero_run(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    int64_t *y = k->out[0].data, nnz = k->out[0].dims[1], j = 0;
    int r = x->rank, R = r > 0 ? r : 1;
    if (k->out[0].dims[0] != R) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output shape mismatch");
    int64_t pos[WEFT_MAX_RANK] = {0};
    for (int64_t i = 0; i < x->numel; i++) {
        if (weft_load_f64(x->dtype, x->data, i) != 0) {
            if (j >= nnz) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "more non-zeros than inferred");
            for (int a = 0; a < R; a++) y[a * nnz + j] = r > 0 ? pos[a] : 0;
            j++;
        }
        for (int a = r - 1; a >= 0; a--) {
            if (++pos[a] < x->dims[a]) break;
            pos[a] = 0;
        }
    }
    if (j != nnz) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "fewer non-zeros than inferred");
    return WEFT_OK;
}

/* --- TopK ------------------------------------------------------------------------------------------- */

/* k: an attribute before opset 10, then a 1-element int64 input. Returns 1 when known, 0 when not. */
static weft_status topk_k(const weft_node_info *n, int n_in, const weft_dtype *dt, const weft_shape *s,
                          const void *const *data, int64_t *k, bool *known)
{
    *known = false;
    if (n->opset < 10) {
        const weft_attr *a = weft_attr_find(n, "k");
        if (!a || a->type != WEFT_ATTR_INT) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute k is required");
        *k = a->i;
        *known = true;
    } else {
        if (n_in < 2 || dt[1] == WEFT_UNDEFINED) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "input K is required");
        if (dt[1] != WEFT_INT64 && dt[1] != WEFT_INT32)
            return weft_op_error(n, WEFT_ERR_TYPE, "K must be int64, got %s", weft_dtype_name(dt[1]));
        if (s[1].rank > 1) return weft_op_error(n, WEFT_ERR_SHAPE, "K must be a 1-element vector");
        if (!data[1] || !weft_shape_known(&s[1])) return WEFT_OK;
        weft_status st = scalar_i64(n, "K", dt[1], &s[1], data[1], k);
        if (st) return st;
        *known = true;
    }
    if (*k < 0) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "k = %lld is negative", (long long)*k);
    return WEFT_OK;
}

static weft_status topk_infer(weft_infer_ctx *c)
{
    weft_status st = need_arith(c, 0);
    if (st) return st;
    int64_t kv = 0;
    bool known;
    if ((st = topk_k(c->node, c->n_in, c->in_dtype, c->in_shape, c->in_data, &kv, &known))) return st;
    int64_t largest = weft_attr_int(c->node, "largest", 1), sorted = weft_attr_int(c->node, "sorted", 1);
    if ((largest != 0 && largest != 1) || (sorted != 0 && sorted != 1))
        return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "largest and sorted must be 0 or 1");
    const weft_shape *xs = &c->in_shape[0];
    c->out_dtype[0] = c->in_dtype[0];
    c->out_dtype[1] = WEFT_INT64;
    c->out_shape[0].rank = c->out_shape[1].rank = -1;
    if (xs->rank < 0) return WEFT_OK;
    if (xs->rank == 0) return weft_op_error(c->node, WEFT_ERR_SHAPE, "input must have rank >= 1, got a scalar");
    int axis;
    if ((st = weft_axis(c->node, weft_attr_int(c->node, "axis", -1), xs->rank, false, &axis))) return st;
    weft_dim n = xs->d[axis];
    if (known && weft_dim_known(n) && kv > n.v)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "k = %lld exceeds axis %d of size %lld", (long long)kv, axis,
                             (long long)n.v);
    weft_shape o = *xs;
    o.d[axis] = known ? weft_dim_num(kv) : weft_dim_unknown(c);
    c->out_shape[0] = c->out_shape[1] = o;
    return WEFT_OK;
}

/* Orders positions of one slice (stride `post` from `base`) into idx[0..n): a stable bottom-up merge
 * sort, so among equal values the lower index comes first, as ONNX asks. NaN counts as the largest. */
#define TOPK_BODY(T)                                                                                   \
    {                                                                                                  \
        const T *x = xv->data;                                                                         \
        T *vals = k->out[0].data;                                                                      \
        int64_t *outi = k->out[1].data;                                                                \
        for (int64_t p = 0; p < pre; p++)                                                              \
            for (int64_t s = 0; s < post; s++) {                                                       \
                const T *xs = x + p * n * post + s;                                                    \
                int64_t *a = idx, *b = tmp;                                                            \
                for (int64_t j = 0; j < n; j++) a[j] = j;                                              \
                for (int64_t w = 1; w < n; w *= 2) {                                                   \
                    for (int64_t lo = 0; lo < n; lo += 2 * w) {                                        \
                        int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;   \
                        int64_t i = lo, j = mid, t = lo;                                               \
                        while (i < mid && j < hi) {                                                    \
                            T u = xs[a[j] * post], v = xs[a[i] * post];                                \
                            bool before = largest ? ((IS_NAN(u) && !IS_NAN(v)) || u > v)               \
                                                  : ((IS_NAN(v) && !IS_NAN(u)) || u < v);              \
                            b[t++] = before ? a[j++] : a[i++];                                         \
                        }                                                                              \
                        while (i < mid) b[t++] = a[i++];                                               \
                        while (j < hi) b[t++] = a[j++];                                                \
                    }                                                                                  \
                    int64_t *sw = a;                                                                   \
                    a = b;                                                                             \
                    b = sw;                                                                            \
                }                                                                                      \
                for (int64_t j = 0; j < kk; j++) {                                                     \
                    vals[(p * kk + j) * post + s] = xs[a[j] * post];                                   \
                    outi[(p * kk + j) * post + s] = a[j];                                              \
                }                                                                                      \
            }                                                                                          \
    }

/* scratch: two lists of the axis's positions (checked by topk_run) */
static weft_status topk_body(weft_kernel_ctx *k, void *scratch)
{
    const weft_tview *xv = &k->in[0];
    int axis;
    weft_status st = weft_axis(k->node, weft_attr_int(k->node, "axis", -1), xv->rank, false, &axis);
    if (st) return st;
    int64_t n = xv->dims[axis], kk = k->out[0].dims[axis];
    bool largest = weft_attr_int(k->node, "largest", 1) != 0;
    int64_t pre = prod(xv->dims, 0, axis), post = prod(xv->dims, axis + 1, xv->rank);
    int64_t *idx = scratch, *tmp = idx + n;
#define WEFT_BODY(T) TOPK_BODY(T)
    WEFT_DISPATCH(xv->dtype, WEFT_TYPES_NUMERIC, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

static weft_status topk_run(weft_kernel_ctx *k)
{
    const weft_tview *xv = &k->in[0];
    int axis;
    weft_status st = weft_axis(k->node, weft_attr_int(k->node, "axis", -1), xv->rank, false, &axis);
    if (st) return st;
    int64_t n = xv->dims[axis], kk = k->out[0].dims[axis];
    if (kk > n) return weft_op_error(k->node, WEFT_ERR_SHAPE, "k = %lld exceeds axis size %lld", (long long)kk, (long long)n);
    if (k->out[0].numel == 0) return WEFT_OK;
    if ((uint64_t)n > SIZE_MAX / (2 * sizeof(int64_t)))
        return weft_op_error(k->node, WEFT_ERR_NOMEM, "no scratch memory to sort %lld values", (long long)n);
    return weft_math_run_widened(k, (size_t)n * 2 * sizeof(int64_t), topk_body);
}

/* --- ArgMax / ArgMin -------------------------------------------------------------------------------- */

static weft_status arg_infer(weft_infer_ctx *c)
{
    weft_status st = need_arith(c, 0);
    if (st) return st;
    const weft_shape *xs = &c->in_shape[0];
    weft_shape *o = &c->out_shape[0];
    c->out_dtype[0] = WEFT_INT64;
    if (xs->rank < 0) { o->rank = -1; return WEFT_OK; }
    if (xs->rank == 0) return weft_op_error(c->node, WEFT_ERR_SHAPE, "input must have rank >= 1, got a scalar");
    int axis;
    if ((st = weft_axis(c->node, weft_attr_int(c->node, "axis", 0), xs->rank, false, &axis))) return st;
    if (weft_dim_known(xs->d[axis]) && xs->d[axis].v == 0)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "axis %d is empty: no element to select", axis);
    /* Flags are 0 or 1; other values are read differently by different runtimes, so refuse them. */
    int64_t keepdims = weft_attr_int(c->node, "keepdims", 1), last = weft_attr_int(c->node, "select_last_index", 0);
    if (keepdims != 0 && keepdims != 1)
        return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "keepdims must be 0 or 1, got %lld", (long long)keepdims);
    if (last != 0 && last != 1)
        return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "select_last_index must be 0 or 1, got %lld",
                             (long long)last);
    bool keep = keepdims != 0;
    o->rank = 0;
    for (int a = 0; a < xs->rank; a++) {
        if (a != axis) o->d[o->rank++] = xs->d[a];
        else if (keep) o->d[o->rank++] = weft_dim_num(1);
    }
    return WEFT_OK;
}

/* NaN wins (the first one, as numpy's argmax/argmin); ties go to the first index unless
 * select_last_index. */
#define ARG_BODY(T)                                                                                    \
    {                                                                                                  \
        const T *x = xv->data;                                                                         \
        for (int64_t p = 0; p < pre; p++)                                                              \
            for (int64_t s = 0; s < post; s++) {                                                       \
                const T *xs = x + p * n * post + s;                                                   \
                int64_t best = 0;                                                                      \
                T bv = xs[0];                                                                          \
                for (int64_t j = 1; j < n; j++) {                                                      \
                    T v = xs[j * post];                                                                \
                    if (IS_NAN(bv)) break;                                                             \
                    if (IS_NAN(v) || (is_max ? v > bv : v < bv) || (last && v == bv)) {                \
                        best = j;                                                                      \
                        bv = v;                                                                        \
                    }                                                                                  \
                }                                                                                      \
                y[p * post + s] = best;                                                                \
            }                                                                                          \
    }

static weft_status arg_body(weft_kernel_ctx *k, bool is_max)
{
    const weft_tview *xv = &k->in[0];
    int axis;
    weft_status st = weft_axis(k->node, weft_attr_int(k->node, "axis", 0), xv->rank, false, &axis);
    if (st) return st;
    int64_t n = xv->dims[axis], pre = prod(xv->dims, 0, axis), post = prod(xv->dims, axis + 1, xv->rank);
    if (n == 0) return weft_op_error(k->node, WEFT_ERR_SHAPE, "axis %d is empty: no element to select", axis);
    bool last = weft_attr_int(k->node, "select_last_index", 0) != 0;
    int64_t *y = k->out[0].data;
#define WEFT_BODY(T) ARG_BODY(T)
    WEFT_DISPATCH(xv->dtype, WEFT_TYPES_NUMERIC, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

static weft_status argmax_body(weft_kernel_ctx *k, void *scratch) { return arg_body(k, true); }
static weft_status argmin_body(weft_kernel_ctx *k, void *scratch) { return arg_body(k, false); }
static weft_status argmax_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, argmax_body); }
static weft_status argmin_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, argmin_body); }

/* --- CumSum ----------------------------------------------------------------------------------------- */

static weft_status cumsum_infer(weft_infer_ctx *c)
{
    weft_status st = need_arith(c, 0);
    if (st) return st;
    if (c->in_dtype[1] != WEFT_INT32 && c->in_dtype[1] != WEFT_INT64)
        return weft_op_error(c->node, WEFT_ERR_TYPE, "axis must be int32 or int64, got %s",
                             weft_dtype_name(c->in_dtype[1]));
    const weft_shape *xs = &c->in_shape[0], *as = &c->in_shape[1];
    if (as->rank > 1) return weft_op_error(c->node, WEFT_ERR_SHAPE, "axis must be a scalar or a 1-element vector");
    if (xs->rank == 0) return weft_op_error(c->node, WEFT_ERR_SHAPE, "input must have rank >= 1, got a scalar");
    if (c->in_data[1] && weft_shape_known(as) && xs->rank > 0) {
        int64_t a;
        int axis;
        if ((st = scalar_i64(c->node, "axis", c->in_dtype[1], as, c->in_data[1], &a))) return st;
        if ((st = weft_axis(c->node, a, xs->rank, false, &axis))) return st;
    }
    return weft_infer_same_as_input0(c);
}

#define CUM_BODY(T)                                                                                    \
    {                                                                                                  \
        const T *x = xv->data;                                                                         \
        T *y = k->out[0].data;                                                                         \
        for (int64_t p = 0; p < pre; p++)                                                              \
            for (int64_t s = 0; s < post; s++) {                                                       \
                T acc = 0;                                                                             \
                for (int64_t jj = 0; jj < n; jj++) {                                                   \
                    int64_t e = p * n * post + (reverse ? n - 1 - jj : jj) * post + s;                 \
                    T v = x[e];                                                                        \
                    if (exclusive) y[e] = acc;                                                         \
                    acc = (T)W_ADD(acc, v);                                                            \
                    if (!exclusive) y[e] = acc;                                                        \
                }                                                                                      \
            }                                                                                          \
    }

static weft_status cumsum_body(weft_kernel_ctx *k, void *scratch)
{
    const weft_tview *xv = &k->in[0];
    int64_t a;
    int axis;
    weft_status st = view_scalar_i64(k->node, "axis", &k->in[1], &a);
    if (st || (st = weft_axis(k->node, a, xv->rank, false, &axis))) return st;
    bool exclusive = weft_attr_int(k->node, "exclusive", 0) != 0, reverse = weft_attr_int(k->node, "reverse", 0) != 0;
    int64_t n = xv->dims[axis], pre = prod(xv->dims, 0, axis), post = prod(xv->dims, axis + 1, xv->rank);
#define WEFT_BODY(T) CUM_BODY(T)
    WEFT_DISPATCH(xv->dtype, WEFT_TYPES_NUMERIC, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

/* float16 / bfloat16 accumulate in float32; each output is that running sum rounded once */
static weft_status cumsum_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, cumsum_body); }


/* --- Unique ----------------------------------------------------------------------------------------- */

/*
 * X is viewed as [pre, n, post] around the axis (without an axis: [1, numel, 1]); the n slices are
 * compared lexicographically over (pre, post), as numpy's unique does after moving the axis to the
 * front. A stable merge sort of the slice positions puts equal slices next to each other with the first
 * occurrence leading, so groups, first indices and counts fall out of one pass. NaN sorts last and NaNs
 * are equal to each other.
 */
typedef struct {
    weft_dtype t;
    const void *d;
    int64_t pre, n, post;
} uq_view;

static int cmp_elem(weft_dtype t, const void *d, int64_t i, int64_t j)
{
#define CMP3(a, b) (IS_NAN(a) ? (IS_NAN(b) ? 0 : 1) : IS_NAN(b) ? -1 : (a) < (b) ? -1 : (a) > (b) ? 1 : 0)
#define WEFT_BODY(T)                                                                                   \
    {                                                                                                  \
        T a = ((const T *)d)[i], b = ((const T *)d)[j];                                                \
        return CMP3(a, b);                                                                             \
    }
    WEFT_DISPATCH(t, WEFT_TYPES_NUMERIC, break);
#undef WEFT_BODY
    if (t == WEFT_BOOL) return (((const uint8_t *)d)[i] != 0) - (((const uint8_t *)d)[j] != 0);
    float a = (float)weft_load_f64(t, d, i), b = (float)weft_load_f64(t, d, j); /* float16, bfloat16 */
    return CMP3(a, b);
#undef CMP3
}

static int cmp_slice(const uq_view *v, int64_t a, int64_t b)
{
    for (int64_t p = 0; p < v->pre; p++)
        for (int64_t s = 0; s < v->post; s++) {
            int c = cmp_elem(v->t, v->d, (p * v->n + a) * v->post + s, (p * v->n + b) * v->post + s);
            if (c) return c;
        }
    return 0;
}

/* Sorts slice positions (perm, using tmp; both of n) and returns the number of distinct slices. When
 * grp is given, grp[j] = group (in sorted order) of slice j. */
static int64_t uq_groups(const uq_view *v, int64_t *perm, int64_t *tmp, int64_t *grp)
{
    int64_t n = v->n, *a = perm, *b = tmp;
    for (int64_t j = 0; j < n; j++) a[j] = j;
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, t = lo;
            while (i < mid && j < hi) b[t++] = cmp_slice(v, a[j], a[i]) < 0 ? a[j++] : a[i++];
            while (i < mid) b[t++] = a[i++];
            while (j < hi) b[t++] = a[j++];
        }
        int64_t *sw = a;
        a = b;
        b = sw;
    }
    int64_t g = -1;
    for (int64_t r = 0; r < n; r++) {
        if (r == 0 || cmp_slice(v, a[r - 1], a[r]) != 0) g++;
        if (grp) grp[a[r]] = g;
    }
    return g + 1;
}

/* Resolves the axis (or its absence) into the [pre, n, post] view. */
static weft_status uq_view_of(const weft_node_info *node, weft_dtype t, const void *d, int rank, const int64_t *dims,
                              uq_view *v, int *axis_out)
{
    v->t = t;
    v->d = d;
    const weft_attr *ax = weft_attr_find(node, "axis");
    *axis_out = -1;
    if (!ax) {
        v->pre = v->post = 1;
        v->n = prod(dims, 0, rank);
        return WEFT_OK;
    }
    weft_status st = weft_axis(node, ax->i, rank, false, axis_out);
    if (st) return st;
    v->pre = prod(dims, 0, *axis_out);
    v->n = dims[*axis_out];
    v->post = prod(dims, *axis_out + 1, rank);
    return WEFT_OK;
}

static weft_status unique_infer(weft_infer_ctx *c)
{
    weft_dtype t = c->in_dtype[0];
    if (!arith_dtype(t) && t != WEFT_BOOL)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "dtype %s is not supported", weft_dtype_name(t));
    int64_t srt = weft_attr_int(c->node, "sorted", 1);
    if (srt != 0 && srt != 1) return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "sorted must be 0 or 1");
    const weft_shape *xs = &c->in_shape[0];
    const weft_attr *ax = weft_attr_find(c->node, "axis");
    if (ax && ax->type != WEFT_ATTR_INT) return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "axis must be an int");
    c->out_dtype[0] = t;
    for (int o = 1; o < c->n_out; o++) c->out_dtype[o] = WEFT_INT64;
    /* U, the number of distinct slices, needs the data; without it every output length is a symbol. */
    weft_dim u;
    if (c->in_data[0] && weft_shape_known(xs)) {
        int64_t dims[WEFT_MAX_RANK];
        for (int a = 0; a < xs->rank; a++) dims[a] = xs->d[a].v;
        uq_view v;
        int axis;
        weft_status st = uq_view_of(c->node, t, c->in_data[0], xs->rank, dims, &v, &axis);
        if (st) return st;
        void *owned;
        int64_t *buf = weft_infer_scratch(c, (size_t)(v.n > 0 ? v.n : 1) * 2 * sizeof(int64_t), &owned);
        if (!buf) return weft_op_error(c->node, WEFT_ERR_NOMEM, "out of memory sorting %lld slices", (long long)v.n);
        u = weft_dim_num(uq_groups(&v, buf, buf + v.n, NULL));
        free(owned);
    } else {
        u = weft_dim_unknown(c);
    }
    weft_shape *y = &c->out_shape[0];
    if (!ax) {
        y->rank = 1;
        y->d[0] = u;
    } else if (xs->rank < 0) {
        y->rank = -1;
    } else {
        int axis;
        weft_status st = weft_axis(c->node, ax->i, xs->rank, false, &axis);
        if (st) return st;
        *y = *xs;
        y->d[axis] = u;
    }
    /* indices and counts have one entry per distinct slice, inverse_indices one per input slice. */
    for (int o = 1; o < c->n_out; o++) {
        c->out_shape[o].rank = 1;
        c->out_shape[o].d[0] = u;
    }
    if (c->n_out > 2) {
        weft_dim n;
        int axis;
        if (!ax) {
            int64_t ne = weft_shape_numel(xs);
            n = ne >= 0 ? weft_dim_num(ne) : weft_dim_unknown(c);
        } else if (xs->rank >= 0 && weft_axis(c->node, ax->i, xs->rank, false, &axis) == WEFT_OK) {
            n = xs->d[axis];
        } else {
            n = weft_dim_unknown(c);
        }
        c->out_shape[2].d[0] = n;
    }
    return WEFT_OK;
}

static weft_status unique_run(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    uq_view v;
    int axis;
    weft_status st = uq_view_of(k->node, x->dtype, x->data, x->rank, x->dims, &v, &axis);
    if (st) return st;
    int64_t n = v.n;
    int64_t *perm = k->scratch ? k->scratch(k->user, (size_t)(n > 0 ? n : 1) * 4 * sizeof(int64_t)) : NULL;
    if (!perm) return weft_op_error(k->node, WEFT_ERR_NOMEM, "no scratch memory to sort %lld slices", (long long)n);
    int64_t *tmp = perm + n, *grp = tmp + n, *pos = grp + n, *first = tmp; /* first reuses tmp after sorting */
    int64_t u = uq_groups(&v, perm, tmp, grp);
    /* Each group's first slice: the lowest position that maps to it. */
    for (int64_t j = 0; j < n; j++) first[j] = -1;
    for (int64_t j = 0; j < n; j++)
        if (first[grp[j]] < 0) first[grp[j]] = j;
    int64_t yu = axis < 0 ? k->out[0].dims[0] : k->out[0].dims[axis];
    if (yu != u) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output has %lld slices, found %lld", (long long)yu, (long long)u);
    /* Output order: sorted, or by first occurrence. */
    if (weft_attr_int(k->node, "sorted", 1)) {
        for (int64_t g = 0; g < u; g++) pos[g] = g;
    } else {
        int64_t c = 0;
        for (int64_t j = 0; j < n; j++)
            if (first[grp[j]] == j) pos[grp[j]] = c++;
    }
    size_t es = weft_dtype_size(x->dtype);
    char *y = k->out[0].data;
    for (int64_t g = 0; g < u; g++)
        for (int64_t p = 0; p < v.pre; p++)
            memcpy(y + (size_t)((p * u + pos[g]) * v.post) * es,
                   (const char *)x->data + (size_t)((p * n + first[g]) * v.post) * es, (size_t)v.post * es);
    int64_t *idx = k->n_out > 1 ? k->out[1].data : NULL, *inv = k->n_out > 2 ? k->out[2].data : NULL;
    int64_t *cnt = k->n_out > 3 ? k->out[3].data : NULL;
    if (idx && k->out[1].dtype != WEFT_UNDEFINED)
        for (int64_t g = 0; g < u; g++) idx[pos[g]] = first[g];
    if (inv && k->out[2].dtype != WEFT_UNDEFINED)
        for (int64_t j = 0; j < n; j++) inv[j] = pos[grp[j]];
    if (cnt && k->out[3].dtype != WEFT_UNDEFINED) {
        for (int64_t g = 0; g < u; g++) cnt[g] = 0;
        for (int64_t j = 0; j < n; j++) cnt[pos[grp[j]]]++;
    }
    return WEFT_OK;
}

const weft_op_def weft_ops_index[] = {
    {"OneHot", "", 9, 0, 3, 3, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, onehot_infer, onehot_run, 0x2},
    {"NonZero", "", 9, 0, 1, 1, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, nonzero_infer, nonzero_run},
    {"TopK", "", 1, 0, 1, 2, 2, 2, WEFT_OP_VALUE_DEPENDENT_SHAPE, topk_infer, topk_run, 0x2},
    {"ArgMax", "", 1, 0, 1, 1, 1, 1, 0, arg_infer, argmax_run},
    {"ArgMin", "", 1, 0, 1, 1, 1, 1, 0, arg_infer, argmin_run},
    {"CumSum", "", 11, 0, 2, 2, 1, 1, 0, cumsum_infer, cumsum_run},
    {"Unique", "", 11, 0, 1, 1, 1, 4, WEFT_OP_VALUE_DEPENDENT_SHAPE, unique_infer, unique_run},
};
const int weft_ops_index_count = sizeof weft_ops_index / sizeof weft_ops_index[0];
