/*
 * ops/loss.c — NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
 *
 * Input [N, C] or [N, C, d1, ..., dk] (scores or log-probabilities), target [N] or [N, d1, ..., dk] of class
 * indices, optional per-class weight [C]. The loss of position (n, d) with class t is
 *     -weight[t] * logp[n, t, d]      (weight 1 without the input; 0 when t == ignore_index)
 * where logp is the input itself (NLL) or its log-softmax over axis 1 (SCE, which can also return logp).
 * reduction: "none" keeps [N, d1, ...]; "sum" adds; "mean" divides the sum by the sum of the weights that
 * applied (the count of non-ignored positions without weights). Computed in double; half-precision
 * tensors are widened (ops/widen.c).
 */
#include <math.h>
#include <string.h>

#include "op.h"

enum { RED_NONE, RED_SUM, RED_MEAN };

static weft_status reduction_of(const weft_node_info *n, int *red)
{
    const char *r = weft_attr_string(n, "reduction", "mean");
    if (strcmp(r, "none") == 0) *red = RED_NONE;
    else if (strcmp(r, "sum") == 0) *red = RED_SUM;
    else if (strcmp(r, "mean") == 0) *red = RED_MEAN;
    else return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "reduction '%s' is not one of none, sum, mean", r);
    return WEFT_OK;
}

/* `sce`, here and in loss_body: the op is SoftmaxCrossEntropyLoss (else NegativeLogLikelihoodLoss), told
 * by the op's own wrappers at the end, so no type name is looked up. */
static weft_status loss_infer(weft_infer_ctx *c, bool sce)
{
    const weft_node_info *n = c->node;
    int red = RED_NONE;
    weft_status st = reduction_of(n, &red);
    if (st) return st;
    weft_dtype dt = c->in_dtype[0];
    if (!weft_dtype_is_float(dt))
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported (floats only)",
                             weft_dtype_name(dt));
    if (c->in_dtype[1] != WEFT_INT32 && c->in_dtype[1] != WEFT_INT64)
        return weft_op_error(n, WEFT_ERR_TYPE, "input 1 (target) must be int32 or int64, not %s",
                             weft_dtype_name(c->in_dtype[1]));
    if (weft_in_present(c, 2) && c->in_dtype[2] != dt)
        return weft_op_error(n, WEFT_ERR_TYPE, "input 2 (weight) is %s but input 0 is %s",
                             weft_dtype_name(c->in_dtype[2]), weft_dtype_name(dt));
    const weft_shape *x = &c->in_shape[0], *t = &c->in_shape[1];
    if (x->rank >= 0 && x->rank < 2) return weft_op_error(n, WEFT_ERR_SHAPE, "input must have rank >= 2 ([N, C, ...])");
    if (x->rank >= 0 && t->rank >= 0) {
        if (t->rank != x->rank - 1)
            return weft_op_error(n, WEFT_ERR_SHAPE, "target has rank %d; the input's rank %d needs %d", t->rank,
                                 x->rank, x->rank - 1);
        for (int d = 0; d < t->rank; d++) {
            weft_dim a = t->d[d], b = x->d[d == 0 ? 0 : d + 1];
            if (weft_dim_known(a) && weft_dim_known(b) && a.v != b.v)
                return weft_op_error(n, WEFT_ERR_SHAPE, "target dim %d is %lld but the input's is %lld", d,
                                     (long long)a.v, (long long)b.v);
        }
    }
    if (weft_in_present(c, 2) && c->in_shape[2].rank >= 0) {
        const weft_shape *w = &c->in_shape[2];
        if (w->rank != 1 || (x->rank >= 0 && weft_dim_known(w->d[0]) && weft_dim_known(x->d[1]) && w->d[0].v != x->d[1].v))
            return weft_op_error(n, WEFT_ERR_SHAPE, "weight must be a vector of one value per class");
    }
    c->out_dtype[0] = dt;
    if (red != RED_NONE) c->out_shape[0].rank = 0;
    else if (t->rank >= 0) c->out_shape[0] = *t;
    else if (x->rank >= 0) {
        c->out_shape[0].rank = x->rank - 1;
        c->out_shape[0].d[0] = x->d[0];
        for (int d = 2; d < x->rank; d++) c->out_shape[0].d[d - 1] = x->d[d];
    } else c->out_shape[0].rank = -1;
    if (c->n_out > 1) {
        if (!sce) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "only SoftmaxCrossEntropyLoss has a second output");
        c->out_dtype[1] = dt;
        c->out_shape[1] = *x;
    }
    return WEFT_OK;
}

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data;                                                                   \
        const T *w = weight ? weight->data : NULL;                                                    \
        T *y = k->out[0].data;                                                                        \
        T *lp = logp ? logp->data : NULL;                                                             \
        double sum = 0, wsum = 0;                                                                     \
        for (int64_t bn = 0; bn < N; bn++)                                                            \
            for (int64_t d = 0; d < D; d++) {                                                         \
                const T *xr = x + bn * C * D + d; /* class j at xr[j * D] */                          \
                double mx = -INFINITY, lse = 0;                                                       \
                if (sce) {                                                                            \
                    for (int64_t j = 0; j < C; j++)                                                   \
                        if ((double)xr[j * D] > mx) mx = xr[j * D];                                   \
                    for (int64_t j = 0; j < C; j++) lse += exp((double)xr[j * D] - mx);               \
                    lse = mx + log(lse);                                                              \
                    if (lp)                                                                           \
                        for (int64_t j = 0; j < C; j++)                                               \
                            lp[bn * C * D + j * D + d] = (T)((double)xr[j * D] - lse);                \
                }                                                                                     \
                int64_t t = weft_load_i64(tv->dtype, tv->data, bn * D + d);                           \
                double l = 0, wt = 0;                                                                 \
                if (!(has_ii && t == ii)) {                                                           \
                    if (t < 0 || t >= C)                                                              \
                        return weft_op_error(k->node, WEFT_ERR_INDEX,                                 \
                                             "target %lld at position %lld is out of range for %lld " \
                                             "classes (axis 1)",                                      \
                                             (long long)t, (long long)(bn * D + d), (long long)C);    \
                    wt = w ? (double)w[t] : 1.0;                                                      \
                    double v = (double)xr[t * D];                                                     \
                    if (sce) v -= lse;                                                                \
                    l = -v * wt;                                                                      \
                }                                                                                     \
                if (red == RED_NONE) y[bn * D + d] = (T)l;                                            \
                sum += l;                                                                             \
                wsum += wt;                                                                           \
            }                                                                                         \
        if (red == RED_SUM) y[0] = (T)sum;                                                            \
        /* All positions ignored (or weights summing to 0): 0 / 0, NaN, as the spec's formula gives. */ \
        if (red == RED_MEAN) y[0] = (T)(sum / wsum);                                                  \
    }

static weft_status loss_body(weft_kernel_ctx *k, bool sce)
{
    int red = RED_NONE;
    weft_status st = reduction_of(k->node, &red);
    if (st) return st;
    const weft_tview *xv = &k->in[0], *tv = &k->in[1];
    const weft_tview *weight = weft_kin_present(k, 2) ? &k->in[2] : NULL;
    const weft_tview *logp = k->n_out > 1 && k->out[1].dtype != WEFT_UNDEFINED ? &k->out[1] : NULL;
    const weft_attr *iia = weft_attr_find(k->node, "ignore_index");
    bool has_ii = iia != NULL;
    int64_t ii = iia ? iia->i : 0;
    int64_t N = xv->dims[0], C = xv->dims[1], D = 1;
    for (int d = 2; d < xv->rank; d++) D *= xv->dims[d];
    WEFT_DISPATCH(xv->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

#define LOSS_OP(fn, SCE)                                                                              \
    static weft_status infer_##fn(weft_infer_ctx *c) { return loss_infer(c, SCE); }                   \
    static weft_status body_##fn(weft_kernel_ctx *k, void *scratch)                                   \
    {                                                                                                 \
        (void)scratch;                                                                                \
        return loss_body(k, SCE);                                                                     \
    }                                                                                                 \
    static weft_status run_##fn(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, body_##fn); }
LOSS_OP(nll, false)
LOSS_OP(sce, true)
#undef LOSS_OP

const weft_op_def weft_ops_loss[] = {
    {"NegativeLogLikelihoodLoss", "", 12, 0, 2, 3, 1, 1, 0, infer_nll, run_nll},
    {"SoftmaxCrossEntropyLoss", "", 12, 0, 2, 3, 1, 2, 0, infer_sce, run_sce},
};
const int weft_ops_loss_count = sizeof weft_ops_loss / sizeof weft_ops_loss[0];
