/*
 * ops/reduce.c — the Reduce* family: Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare.
 *
 * One definition per op serves every opset: before the op's "axes as input" opset (13 for ReduceSum, 18
 * for the others) the axes come from an attribute, from then on from an optional second input together
 * with `noop_with_empty_axes`.
 *
 * One generic loop does every reduction: the input is seen as "kept" axes (one output element per
 * combination) and "reduced" axes (whose element offsets are precomputed once in scratch). Floats
 * accumulate in double; integers accumulate exactly in 64-bit two's complement (wrapping like numpy),
 * so an int64 sum is exact where a double would round. float16 / bfloat16 are widened to float32 by
 * weft_math_run_widened (ops/widen.c).
 */
#include <math.h>
#include <string.h>

#include "grad.h"
#include "op.h"


typedef enum {
    RED_SUM, RED_MEAN, RED_MAX, RED_MIN, RED_PROD, RED_L1, RED_L2, RED_LOGSUM, RED_LOGSUMEXP, RED_SUMSQ
} red_kind;

/* The first opset where `axes` is an input rather than an attribute. */
static int axes_input_opset(red_kind kind) { return kind == RED_SUM ? 13 : 18; }

/* Which axes a node reduces. */
typedef struct {
    bool noop;                    /* empty axes with noop_with_empty_axes: the identity */
    bool mask[WEFT_MAX_RANK];     /* mask[d]: axis d is reduced */
} red_axes;

/* Turns an axes list (n < 0: none given) into a mask, refusing out-of-range and repeated axes. */
static weft_status resolve_axes(const weft_node_info *node, int rank, const int64_t *axes, int n, bool noop_empty,
                                red_axes *ra)
{
    memset(ra, 0, sizeof *ra);
    if (n <= 0) {
        if (noop_empty) ra->noop = true;
        else
            for (int d = 0; d < rank; d++) ra->mask[d] = true;
        return WEFT_OK;
    }
    for (int i = 0; i < n; i++) {
        int a;
        weft_status st = weft_axis(node, axes[i], rank, false, &a);
        if (st) return st;
        if (ra->mask[a])
            return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "axis %lld is listed twice in axes",
                                 (long long)axes[i]);
        ra->mask[a] = true;
    }
    return WEFT_OK;
}

/* Checks the attribute/input form of axes for this opset; *from_input tells which one applies. */
static weft_status check_axes_form(const weft_node_info *node, red_kind kind, bool input_present, bool *from_input)
{
    int since = axes_input_opset(kind);
    *from_input = node->opset >= since;
    if (!*from_input && input_present)
        return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "axes is an input only from opset %d (model has %d)",
                             since, node->opset);
    if (*from_input && weft_attr_find(node, "axes"))
        return weft_op_error(node, WEFT_ERR_INVALID_MODEL,
                             "axes is an input from opset %d, not an attribute (model has %d)", since, node->opset);
    return WEFT_OK;
}

static bool dtype_ok(red_kind kind, weft_dtype t)
{
    if (weft_dtype_is_float(t) || weft_dtype_is_integer(t)) return true;
    /* bool makes sense for Max / Min only (any / all); ONNX allows it from opset 20. */
    return t == WEFT_BOOL && (kind == RED_MAX || kind == RED_MIN);
}

static weft_status reduce_infer(weft_infer_ctx *c, red_kind kind)
{
    const weft_node_info *node = c->node;
    weft_dtype t = c->in_dtype[0];
    c->out_dtype[0] = t;
    if (!dtype_ok(kind, t))
        return weft_op_error(node, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported", weft_dtype_name(t));
    bool from_input;
    weft_status st = check_axes_form(node, kind, weft_in_present(c, 1), &from_input);
    if (st) return st;
    int64_t keepdims = weft_attr_int(node, "keepdims", 1);
    int64_t noop_attr = weft_attr_int(node, "noop_with_empty_axes", 0);
    /* Flags are 0 or 1; other values are read differently by different runtimes, so refuse them. */
    if (keepdims != 0 && keepdims != 1)
        return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "keepdims must be 0 or 1, got %lld", (long long)keepdims);
    if (noop_attr != 0 && noop_attr != 1)
        return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "noop_with_empty_axes must be 0 or 1, got %lld",
                             (long long)noop_attr);
    bool noop_empty = from_input && noop_attr != 0;
    const weft_shape *xs = &c->in_shape[0];
    weft_shape *ys = &c->out_shape[0];
    if (from_input && weft_in_present(c, 1)) {
        weft_dtype at = c->in_dtype[1];
        if (at != WEFT_INT64 && at != WEFT_INT32)
            return weft_op_error(node, WEFT_ERR_TYPE, "axes must be int64, got %s", weft_dtype_name(at));
        if (c->in_shape[1].rank > 1)
            return weft_op_error(node, WEFT_ERR_SHAPE, "axes must be 1-D, got rank %d", c->in_shape[1].rank);
    }
    if (xs->rank < 0) { ys->rank = -1; return WEFT_OK; }
    int r = xs->rank;

    int64_t axes[WEFT_MAX_RANK];
    int n = -1;
    if (from_input) {
        if (weft_in_present(c, 1)) {
            const weft_shape *as = &c->in_shape[1];
            bool len_known = as->rank == 1 && weft_dim_known(as->d[0]);
            if (len_known && as->d[0].v > r)
                return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "axes has %lld entries for an input of rank %d",
                                     (long long)as->d[0].v, r);
            n = weft_infer_int_values(c, 1, axes, WEFT_MAX_RANK);
            if (n == -2) return WEFT_ERR_SHAPE;
            if (n == -1) {
                /* Axes unknown until run time. With keepdims the rank survives; without, only the count of
                 * axes (if known) tells the rank. */
                if (len_known && as->d[0].v == 0) {
                    n = 0; /* empty: decided below without data */
                } else {
                    if (keepdims) {
                        ys->rank = r;
                        for (int d = 0; d < r; d++) ys->d[d] = weft_dim_unknown(c);
                    } else if (len_known) {
                        ys->rank = r - (int)as->d[0].v;
                        for (int d = 0; d < ys->rank; d++) ys->d[d] = weft_dim_unknown(c);
                    } else {
                        ys->rank = -1;
                    }
                    return WEFT_OK;
                }
            }
        }
    } else {
        const int64_t *av;
        n = weft_attr_ints(node, "axes", &av);
        if (n > WEFT_MAX_RANK)
            return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "axes has %d entries for an input of rank %d", n, r);
        for (int i = 0; i < n; i++) axes[i] = av[i];
    }
    red_axes ra;
    st = resolve_axes(node, r, axes, n, noop_empty, &ra);
    if (st) return st;
    if (ra.noop) { *ys = *xs; return WEFT_OK; }
    ys->rank = 0;
    for (int d = 0; d < r; d++) {
        if (!ra.mask[d]) ys->d[ys->rank++] = xs->d[d];
        else if (keepdims) ys->d[ys->rank++] = weft_dim_num(1);
    }
    return WEFT_OK;
}

/* Reads the axes at run time (input or attribute) into a mask. */
static weft_status run_axes(const weft_kernel_ctx *k, red_kind kind, red_axes *ra)
{
    bool from_input;
    weft_status st = check_axes_form(k->node, kind, weft_kin_present(k, 1), &from_input);
    if (st) return st;
    int r = k->in[0].rank;
    int64_t axes[WEFT_MAX_RANK];
    int n = -1;
    bool noop_empty = false;
    if (from_input) {
        noop_empty = weft_attr_int(k->node, "noop_with_empty_axes", 0) != 0;
        if (weft_kin_present(k, 1)) {
            const weft_tview *a = &k->in[1];
            if (a->dtype != WEFT_INT64 && a->dtype != WEFT_INT32)
                return weft_op_error(k->node, WEFT_ERR_TYPE, "axes must be int64, got %s", weft_dtype_name(a->dtype));
            if (a->numel > r)
                return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "axes has %lld entries for an input of rank %d",
                                     (long long)a->numel, r);
            n = (int)a->numel;
            for (int i = 0; i < n; i++) axes[i] = weft_load_i64(a->dtype, a->data, i);
        }
    } else {
        const int64_t *av;
        n = weft_attr_ints(k->node, "axes", &av);
        if (n > r)
            return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "axes has %d entries for an input of rank %d", n, r);
        for (int i = 0; i < n; i++) axes[i] = av[i];
    }
    return resolve_axes(k->node, r, axes, n, noop_empty, ra);
}

/* The reduction as loops: output element o reads input base(o) + roff[j] for j < nred. */
typedef struct {
    red_kind kind;
    int nk;                        /* kept axes, outermost first */
    int64_t kdim[WEFT_MAX_RANK];
    int64_t kstr[WEFT_MAX_RANK];   /* their input strides */
    int64_t nout, nred;
    red_axes ra;
} red_plan;

static void plan_reduction(const weft_tview *x, const red_axes *ra, red_kind kind, red_plan *p)
{
    int64_t str[WEFT_MAX_RANK];
    weft_strides(x->dims, x->rank, str);
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->ra = *ra;
    p->nout = 1;
    p->nred = 1;
    for (int d = 0; d < x->rank; d++) {
        if (ra->mask[d]) {
            p->nred *= x->dims[d];
        } else {
            p->kdim[p->nk] = x->dims[d];
            p->kstr[p->nk++] = str[d];
            p->nout *= x->dims[d];
        }
    }
}

/* Offsets (relative to an output's base) of every reduced element, in row-major order. */
static void fill_reduced_offsets(const weft_tview *x, const red_axes *ra, int64_t *roff, int64_t nred)
{
    int64_t str[WEFT_MAX_RANK], idx[WEFT_MAX_RANK] = {0}, off = 0;
    weft_strides(x->dims, x->rank, str);
    for (int64_t j = 0; j < nred; j++) {
        roff[j] = off;
        for (int d = x->rank - 1; d >= 0; d--) {
            if (!ra->mask[d]) continue;
            if (++idx[d] < x->dims[d]) { off += str[d]; break; }
            off -= str[d] * (x->dims[d] - 1);
            idx[d] = 0;
        }
    }
}

/*
 * The generic reduction over a type T. Integer Sum/Mean/Prod/SumSquare/L1 and integer Max/Min stay
 * exact; everything else (all float work, and the integer ops that end in sqrt / log) runs in double.
 */
#define RED_IS_FLOAT(T) ((T)0.5 != (T)0)
#define RED_IS_SIGNED(T) ((T)-1 < (T)1) /* not "< 0": no always-false warning */
#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = xv;                                                                              \
        T *y = yv;                                                                                    \
        const bool exact = !RED_IS_FLOAT(T) && kind != RED_L2 && kind != RED_LOGSUM &&                \
                           kind != RED_LOGSUMEXP;                                                     \
        int64_t kidx[WEFT_MAX_RANK] = {0}, base = 0;                                                  \
        for (int64_t o = 0; o < p->nout; o++) {                                                       \
            if (exact && (kind == RED_MAX || kind == RED_MIN)) {                                      \
                /* Identity of an empty max / min: the type's lowest / highest value. */              \
                uint64_t sb = (uint64_t)1 << (sizeof(T) * 8 - 1);                                     \
                T lo = RED_IS_SIGNED(T) ? (T)(int64_t)sb : (T)0;                                      \
                T hi = RED_IS_SIGNED(T) ? (T)(int64_t)(sb - 1) : (T)~(uint64_t)0;                     \
                T a = kind == RED_MAX ? lo : hi;                                                      \
                for (int64_t j = 0; j < p->nred; j++) {                                               \
                    T v = x[base + roff[j]];                                                          \
                    if (kind == RED_MAX ? v > a : v < a) a = v;                                       \
                }                                                                                     \
                y[o] = a;                                                                             \
            } else if (exact) {                                                                       \
                /* Wrapping 64-bit arithmetic: defined in C, and what numpy does on overflow. */      \
                uint64_t a = kind == RED_PROD ? 1 : 0;                                                \
                for (int64_t j = 0; j < p->nred; j++) {                                               \
                    T v = x[base + roff[j]];                                                          \
                    uint64_t u = RED_IS_SIGNED(T) ? (uint64_t)(int64_t)v : (uint64_t)v;               \
                    if (kind == RED_L1 && RED_IS_SIGNED(T) && (int64_t)u < 0) u = (uint64_t)0 - u;             \
                    if (kind == RED_PROD) a *= u;                                                     \
                    else if (kind == RED_SUMSQ) a += u * u;                                           \
                    else a += u;                                                                      \
                }                                                                                     \
                if (kind == RED_MEAN) {                                                               \
                    /* Integer mean truncates toward zero; an empty integer mean is 0 (no NaN). */    \
                    if (p->nred == 0) a = 0;                                                          \
                    else if (RED_IS_SIGNED(T)) a = (uint64_t)((int64_t)a / p->nred);                  \
                    else a /= (uint64_t)p->nred;                                                      \
                }                                                                                     \
                y[o] = RED_IS_SIGNED(T) ? (T)(int64_t)a : (T)a;                                       \
            } else {                                                                                  \
                double a;                                                                             \
                switch (kind) {                                                                       \
                case RED_MAX: a = -INFINITY; break;                                                   \
                case RED_MIN: a = INFINITY; break;                                                    \
                case RED_PROD: a = 1; break;                                                          \
                default: a = 0; break;                                                                \
                }                                                                                     \
                double m = -INFINITY;                                                                 \
                if (kind == RED_LOGSUMEXP) {                                                          \
                    /* Subtract the largest term so exp cannot overflow. */                           \
                    for (int64_t j = 0; j < p->nred; j++) {                                           \
                        double v = (double)x[base + roff[j]];                                         \
                        if (v > m || v != v) m = v;                                                   \
                        if (m != m) break;                                                            \
                    }                                                                                 \
                }                                                                                     \
                for (int64_t j = 0; j < p->nred; j++) {                                               \
                    double v = (double)x[base + roff[j]];                                             \
                    switch (kind) {                                                                   \
                    case RED_MAX: if (v > a || v != v) a = v; break;                                  \
                    case RED_MIN: if (v < a || v != v) a = v; break;                                  \
                    case RED_PROD: a *= v; break;                                                     \
                    case RED_L1: a += fabs(v); break;                                                 \
                    case RED_L2: case RED_SUMSQ: a += v * v; break;                                   \
                    case RED_LOGSUMEXP: a += exp(v - m); break;                                       \
                    default: a += v; break;                                                           \
                    }                                                                                 \
                    if ((kind == RED_MAX || kind == RED_MIN) && a != a) break; /* NaN sticks */       \
                }                                                                                     \
                switch (kind) {                                                                       \
                case RED_MEAN: a /= (double)p->nred; break;                                           \
                case RED_L2: a = sqrt(a); break;                                                      \
                case RED_LOGSUM: a = log(a); break;                                                   \
                case RED_LOGSUMEXP: a = p->nred == 0 ? -INFINITY : isinf(m) ? m : m + log(a); break;  \
                default: break;                                                                       \
                }                                                                                     \
                weft_store_f64(dtype, yv, o, a); /* saturates for integer outputs */                 \
            }                                                                                         \
            for (int d = p->nk - 1; d >= 0; d--) {                                                    \
                if (++kidx[d] < p->kdim[d]) { base += p->kstr[d]; break; }                            \
                base -= p->kstr[d] * (p->kdim[d] - 1);                                                \
                kidx[d] = 0;                                                                          \
            }                                                                                         \
        }                                                                                             \
        (void)y;                                                                                      \
    }

static weft_status reduce_core(const weft_kernel_ctx *k, const red_plan *p, const int64_t *roff)
{
    red_kind kind = p->kind;
    weft_dtype dtype = k->in[0].dtype;
    const void *xv = k->in[0].data;
    void *yv = k->out[0].data;
    /* bool is one byte 0/1: as uint8, max is "any" and min is "all". */
    weft_dtype dt = dtype == WEFT_BOOL ? WEFT_UINT8 : dtype;
    if (dtype == WEFT_BOOL) dtype = WEFT_UINT8;
    WEFT_DISPATCH(dt, WEFT_TYPES_NUMERIC, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

/* The widened body for a reduction of `kind`; each op's own body_* wrapper (RED_OP) passes its kind,
 * since weft_math_run_widened hands a body nothing but the context and the scratch. */
static weft_status reduce_body(weft_kernel_ctx *k, void *scratch, red_kind kind)
{
    red_axes ra;
    weft_status st = run_axes(k, kind, &ra);
    if (st) return st;
    /* No axes with noop_with_empty_axes reduces nothing, but each element still goes through the
     * reduction's own map (ONNX's reference and ONNX Runtime agree: ReduceL2 gives |x|, ReduceSumSquare
     * x*x, ReduceLogSum log x). Only the reductions whose one-element result is the element copy. */
    if (ra.noop && (kind == RED_SUM || kind == RED_MEAN || kind == RED_MAX || kind == RED_MIN ||
                    kind == RED_PROD || kind == RED_LOGSUMEXP)) {
        memcpy(k->out[0].data, k->in[0].data, (size_t)k->in[0].numel * weft_dtype_size(k->in[0].dtype));
        return WEFT_OK;
    }
    red_plan p;
    plan_reduction(&k->in[0], &ra, kind, &p);
    if (p.nout != k->out[0].numel)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output has %lld elements, expected %lld",
                             (long long)k->out[0].numel, (long long)p.nout);
    if (p.nout == 0) return WEFT_OK;
    fill_reduced_offsets(&k->in[0], &ra, scratch, p.nred);
    return reduce_core(k, &p, scratch);
}

static weft_status reduce_run(weft_kernel_ctx *k, red_kind kind, weft_math_body body)
{
    const weft_tview *x = &k->in[0];
    if (!dtype_ok(kind, x->dtype)) return weft_op_unsupported_dtype(k, 0);
    /* Scratch: one offset per reduced element (at most the whole input). */
    int64_t nred = 1;
    red_axes ra;
    weft_status st = run_axes(k, kind, &ra);
    if (st) return st;
    for (int d = 0; d < x->rank; d++)
        if (ra.mask[d]) nred *= x->dims[d];
    return weft_math_run_widened(k, (size_t)nred * sizeof(int64_t), body);
}

#define RED_OP(fn, KIND)                                                                              \
    static weft_status infer_##fn(weft_infer_ctx *c) { return reduce_infer(c, KIND); }                \
    static weft_status body_##fn(weft_kernel_ctx *k, void *s) { return reduce_body(k, s, KIND); }     \
    static weft_status run_##fn(weft_kernel_ctx *k) { return reduce_run(k, KIND, body_##fn); }
RED_OP(sum, RED_SUM)
RED_OP(mean, RED_MEAN)
RED_OP(max, RED_MAX)
RED_OP(min, RED_MIN)
RED_OP(prod, RED_PROD)
RED_OP(l1, RED_L1)
RED_OP(l2, RED_L2)
RED_OP(logsum, RED_LOGSUM)
RED_OP(logsumexp, RED_LOGSUMEXP)
RED_OP(sumsq, RED_SUMSQ)
#undef RED_OP

/* --- gradients (ops/grad.h) ----------------------------------------------------------------------- */

/* The axes a Reduce* node reduced, normalised, in *axes; the count (the rank for "every axis"), or 0
 * for the identity (empty axes with noop_with_empty_axes), -1 on error. */
static int grad_axes(weft_grad_ctx *c, red_kind kind, int64_t *axes)
{
    int rank = c->in_shape[0].rank, n;
    if (c->node->opset >= axes_input_opset(kind)) {
        n = c->n_in > 1 && c->in[1] >= 0 ? weft_grad_const_ints(c, 1, axes, WEFT_MAX_RANK) : 0;
        if (n < 0) return -1;
        if (n == 0 && weft_attr_int(c->node, "noop_with_empty_axes", 0)) return 0;
    } else {
        const int64_t *at = NULL;
        n = weft_attr_ints(c->node, "axes", &at);
        if (n < 0 || n > WEFT_MAX_RANK) n = 0;
        for (int i = 0; i < n; i++) axes[i] = at[i];
    }
    if (n == 0) {
        for (int a = 0; a < rank; a++) axes[a] = a;
        return rank;
    }
    for (int i = 0; i < n; i++) axes[i] = axes[i] < 0 ? axes[i] + rank : axes[i];
    return n;
}

/* v (a value of the output's shape) with the reduced axes put back as size 1 (when keepdims was 0). */
static int grad_keep(weft_grad_ctx *c, int v, const int64_t *axes, int n)
{
    if (weft_attr_int(c->node, "keepdims", 1)) return v;
    int in[2] = {v, weft_grad_i64s(c, axes, n)};
    return weft_grad_op(c, "Unsqueeze", in, 2, NULL, 0);
}

/* dx = g broadcast back over the reduced axes, times 1 / count for ReduceMean, x / y for ReduceL2. */
static weft_status grad_reduce(weft_grad_ctx *c, red_kind kind)
{
    int64_t axes[WEFT_MAX_RANK];
    int n = grad_axes(c, kind, axes);
    if (n < 0) return c->st;
    int g = weft_grad_dout(c, 0);
    if (n == 0) { weft_grad_to(c, 0, g); return c->st; }
    g = grad_keep(c, g, axes, n);
    if (kind == RED_SUM) {
        weft_grad_to(c, 0, weft_grad_op2(c, "Expand", g, weft_grad_shape_of(c, c->in[0], &c->in_shape[0])));
    } else if (kind == RED_MEAN) {
        int64_t count = 1;
        for (int i = 0; i < n; i++) {
            weft_dim d = c->in_shape[0].d[axes[i]];
            count = weft_dim_known(d) && count >= 0 ? count * d.v : -1;
        }
        int k;
        if (count >= 0) k = weft_grad_scalar(c, (double)count);
        else { /* symbolic: the count is size(x) / size(y), at run time */
            weft_attr to = weft_grad_attr_int("to", c->dtype);
            int q = weft_grad_op2(c, "Div", weft_grad_op1(c, "Size", c->in[0]), weft_grad_op1(c, "Size", c->out[0]));
            k = weft_grad_op(c, "Cast", &q, 1, &to, 1);
        }
        int e = weft_grad_op2(c, "Expand", weft_grad_op2(c, "Div", g, k), weft_grad_shape_of(c, c->in[0], &c->in_shape[0]));
        weft_grad_to(c, 0, e);
    } else { /* L2: d sqrt(sum x^2) / dx = x / y */
        int y = grad_keep(c, c->out[0], axes, n);
        weft_grad_to(c, 0, weft_grad_op2(c, "Mul", c->in[0], weft_grad_op2(c, "Div", g, y)));
    }
    return c->st;
}
/* ReduceMax / ReduceMin: the gradient is shared evenly among the elements equal to the extremum (as
 * PyTorch's amax / amin share it), so that ties stay symmetric and the shares add up to g. */
static weft_status grad_extremum(weft_grad_ctx *c, red_kind kind)
{
    int64_t axes[WEFT_MAX_RANK];
    int n = grad_axes(c, kind, axes);
    if (n < 0) return c->st;
    int g = weft_grad_dout(c, 0);
    if (n == 0) { weft_grad_to(c, 0, g); return c->st; }
    g = grad_keep(c, g, axes, n);
    int y = grad_keep(c, c->out[0], axes, n);
    weft_attr to = weft_grad_attr_int("to", c->dtype), kd = weft_grad_attr_int("keepdims", 1);
    int eq = weft_grad_op2(c, "Equal", c->in[0], y);
    int hit = weft_grad_op(c, "Cast", &eq, 1, &to, 1);
    int cin[2] = {hit, weft_grad_i64s(c, axes, n)};
    int count = weft_grad_op(c, "ReduceSum", cin, 2, &kd, 1);
    weft_grad_to(c, 0, weft_grad_op2(c, "Mul", hit, weft_grad_op2(c, "Div", g, count)));
    return c->st;
}
static weft_status grad_max(weft_grad_ctx *c) { return grad_extremum(c, RED_MAX); }
static weft_status grad_min(weft_grad_ctx *c) { return grad_extremum(c, RED_MIN); }
static weft_status grad_sum(weft_grad_ctx *c) { return grad_reduce(c, RED_SUM); }
static weft_status grad_mean(weft_grad_ctx *c) { return grad_reduce(c, RED_MEAN); }
static weft_status grad_l2(weft_grad_ctx *c) { return grad_reduce(c, RED_L2); }
/* no rules yet */
#define grad_prod NULL
#define grad_l1 NULL
#define grad_logsum NULL
#define grad_logsumexp NULL
#define grad_sumsq NULL

/* Two ranges per op: with axes as an attribute the output shape follows from shapes alone; once axes is
 * an input (opset 13 for ReduceSum, 18 for the others) it depends on that input's values. */
#define RED_DEF(name, fn, since)                                                                      \
    {name, "", 1, (since) - 1, 1, 1, 1, 1, 0, infer_##fn, run_##fn, 0, grad_##fn},                   \
    {name, "", since, 0, 1, 2, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, infer_##fn, run_##fn, 0, grad_##fn}
const weft_op_def weft_ops_reduce[] = {
    RED_DEF("ReduceSum", sum, 13),          RED_DEF("ReduceMean", mean, 18),
    RED_DEF("ReduceMax", max, 18),          RED_DEF("ReduceMin", min, 18),
    RED_DEF("ReduceProd", prod, 18),        RED_DEF("ReduceL1", l1, 18),
    RED_DEF("ReduceL2", l2, 18),            RED_DEF("ReduceLogSum", logsum, 18),
    RED_DEF("ReduceLogSumExp", logsumexp, 18), RED_DEF("ReduceSumSquare", sumsq, 18),
};
#undef RED_DEF
const int weft_ops_reduce_count = sizeof weft_ops_reduce / sizeof weft_ops_reduce[0];
