/*
 * ops/loss.c — the loss functions: cross-entropy (ONNX NegativeLogLikelihoodLoss and
 * SoftmaxCrossEntropyLoss, ai.weft SoftmaxCrossEntropy with label smoothing), ai.weft BCEWithLogits and
 * MSE, their gradient rules, and ai.weft CrossEntropyGrad, the op the cross-entropy rules emit.
 *
 * Cross-entropy. Input [N, C] or [N, C, d1, ..., dk] (scores or log-probabilities), target [N] or
 * [N, d1, ..., dk] of class indices, optional per-class weight [C]. With logp the input itself (NLL) or
 * its log-softmax over axis 1 (the softmax forms), eps the label smoothing (0 for the ONNX ops) and w
 * the weights (1 without the input), the loss of position (n, d) with class t is
 *     -(1 - eps) * w[t] * logp[t]  -  eps / C * sum_j w[j] * logp[j]      (0 when t == ignore_index)
 * which is PyTorch's F.cross_entropy. reduction: "none" keeps [N, d1, ...]; "sum" adds; "mean" divides
 * the sum by the sum of w[t] over the positions not ignored (their count without weights), the
 * smoothing term included. Computed in double; half-precision tensors are widened (ops/widen.c).
 *
 * Gradients: d loss / d logp[j] = -g * q[j] * w[j] with q = (1 - eps) * onehot(t) + eps / C and g the
 * gradient reaching the position (divided by the mean's denominator); through the softmax that is
 * g * (p[j] * sum_i q[i] w[i] - q[j] w[j]). One kernel (CrossEntropyGrad) computes both, as the
 * composition from ONNX ops would need a one-hot, a gather of the weights and a masked count.
 */
#include <math.h>
#include <string.h>

#include "grad.h"
#include "op.h"

enum { RED_NONE, RED_SUM, RED_MEAN };

static weft_status reduction_of(const weft_node_info *n, int *red)
{
    *red = RED_MEAN; /* set on every path, so no caller reads it unset */
    const char *r = weft_attr_string(n, "reduction", "mean");
    if (strcmp(r, "none") == 0) *red = RED_NONE;
    else if (strcmp(r, "sum") == 0) *red = RED_SUM;
    else if (strcmp(r, "mean") == 0) *red = RED_MEAN;
    else return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "reduction '%s' is not one of none, sum, mean", r);
    return WEFT_OK;
}

/* --- cross-entropy ------------------------------------------------------------------------------- */

/* The forms the cross-entropy kernels serve, told by each op's own wrappers (no type name looked up). */
enum xform {
    X_NLL,      /* ONNX NegativeLogLikelihoodLoss: input is logp; ignore_index only when given      */
    X_SCE,      /* ONNX SoftmaxCrossEntropyLoss: input is scores; ignore_index only when given      */
    X_WEFT_SCE, /* ai.weft SoftmaxCrossEntropy: scores; ignore_index defaults to -100 (PyTorch's)   */
    X_GRAD,     /* ai.weft CrossEntropyGrad: from_logits and ignore_index as its attributes say     */
};

typedef struct xent {
    int red;
    bool logits;      /* the input holds scores (log-softmax over axis 1 taken), else log-probabilities */
    bool has_ii;
    int64_t ii;
    double eps;       /* label smoothing */
} xent;

static weft_status xent_config(const weft_node_info *n, enum xform f, xent *x)
{
    weft_status st = reduction_of(n, &x->red);
    if (st) return st;
    x->logits = f == X_SCE || f == X_WEFT_SCE || (f == X_GRAD && weft_attr_int(n, "from_logits", 1));
    const weft_attr *iia = weft_attr_find(n, "ignore_index");
    x->has_ii = iia != NULL || f == X_WEFT_SCE;
    x->ii = iia ? iia->i : -100;
    x->eps = f == X_WEFT_SCE || f == X_GRAD ? weft_attr_float(n, "label_smoothing", 0.0f) : 0.0;
    if (!(x->eps >= 0 && x->eps <= 1))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "label_smoothing %g is not in [0, 1]", x->eps);
    return WEFT_OK;
}

/* Checks input x (scores), t (targets) and w (weights) at inputs xi, xi + 1, xi + 2. */
static weft_status xent_check_inputs(weft_infer_ctx *c, int xi)
{
    const weft_node_info *n = c->node;
    weft_dtype dt = c->in_dtype[xi];
    if (!weft_dtype_is_float(dt))
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input %d: dtype %s is not supported (floats only)", xi,
                             weft_dtype_name(dt));
    if (c->in_dtype[xi + 1] != WEFT_INT32 && c->in_dtype[xi + 1] != WEFT_INT64)
        return weft_op_error(n, WEFT_ERR_TYPE, "input %d (target) must be int32 or int64, not %s", xi + 1,
                             weft_dtype_name(c->in_dtype[xi + 1]));
    if (weft_in_present(c, xi + 2) && c->in_dtype[xi + 2] != dt)
        return weft_op_error(n, WEFT_ERR_TYPE, "input %d (weight) is %s but input %d is %s", xi + 2,
                             weft_dtype_name(c->in_dtype[xi + 2]), xi, weft_dtype_name(dt));
    const weft_shape *x = &c->in_shape[xi], *t = &c->in_shape[xi + 1];
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
    if (weft_in_present(c, xi + 2) && c->in_shape[xi + 2].rank >= 0) {
        const weft_shape *w = &c->in_shape[xi + 2];
        if (w->rank != 1 || (x->rank >= 0 && weft_dim_known(w->d[0]) && weft_dim_known(x->d[1]) && w->d[0].v != x->d[1].v))
            return weft_op_error(n, WEFT_ERR_SHAPE, "weight must be a vector of one value per class");
    }
    return WEFT_OK;
}

static weft_status xent_infer(weft_infer_ctx *c, enum xform f)
{
    const weft_node_info *n = c->node;
    xent cfg;
    weft_status st = xent_config(n, f, &cfg);
    if (!st) st = xent_check_inputs(c, 0);
    if (st) return st;
    const weft_shape *x = &c->in_shape[0], *t = &c->in_shape[1];
    c->out_dtype[0] = c->in_dtype[0];
    if (cfg.red != RED_NONE) c->out_shape[0].rank = 0;
    else if (t->rank >= 0) c->out_shape[0] = *t;
    else if (x->rank >= 0) {
        c->out_shape[0].rank = x->rank - 1;
        c->out_shape[0].d[0] = x->d[0];
        for (int d = 2; d < x->rank; d++) c->out_shape[0].d[d - 1] = x->d[d];
    } else c->out_shape[0].rank = -1;
    if (c->n_out > 1) {
        if (f == X_NLL) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "only the softmax forms have a second output");
        c->out_dtype[1] = c->in_dtype[0];
        c->out_shape[1] = *x;
    }
    return WEFT_OK;
}

/* The sizes of a cross-entropy input: N, C and D (the product of the dims after C). */
static void xent_dims(const weft_tview *x, int64_t *N, int64_t *C, int64_t *D)
{
    *N = x->dims[0];
    *C = x->dims[1];
    *D = 1;
    for (int d = 2; d < x->rank; d++) *D *= x->dims[d];
}

static weft_status bad_target(const weft_node_info *n, int64_t t, int64_t pos, int64_t C)
{
    return weft_op_error(n, WEFT_ERR_INDEX, "target %lld at position %lld is out of range for %lld classes (axis 1)",
                         (long long)t, (long long)pos, (long long)C);
}

/*
 * Shared by the forward and the gradient kernel: for position (bn, d) of x (class j at xr[j * D]),
 * lse (the log-sum-exp when cfg.logits, else 0) and, when smoothing, wlp = sum_j w[j] * logp[j] and
 * wall = sum_j w[j].
 */
#define XENT_POSITION(T)                                                                              \
    double mx = -INFINITY, lse = 0, wlp = 0, wall = 0;                                                \
    if (cfg.logits) {                                                                                 \
        for (int64_t j = 0; j < C; j++)                                                               \
            if ((double)xr[j * D] > mx) mx = xr[j * D];                                               \
        for (int64_t j = 0; j < C; j++) lse += exp((double)xr[j * D] - mx);                           \
        lse = mx + log(lse);                                                                          \
    }                                                                                                 \
    if (cfg.eps > 0)                                                                                  \
        for (int64_t j = 0; j < C; j++) {                                                             \
            double wj = w ? (double)w[j] : 1.0;                                                       \
            wlp += wj * ((double)xr[j * D] - lse);                                                    \
            wall += wj;                                                                               \
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
                const T *xr = x + bn * C * D + d;                                                     \
                XENT_POSITION(T)                                                                      \
                (void)wall;                                                                           \
                if (lp)                                                                               \
                    for (int64_t j = 0; j < C; j++) lp[bn * C * D + j * D + d] = (T)((double)xr[j * D] - lse); \
                int64_t t = weft_load_i64(tv->dtype, tv->data, bn * D + d);                           \
                double l = 0, wt = 0;                                                                 \
                if (!(cfg.has_ii && t == cfg.ii)) {                                                   \
                    if (t < 0 || t >= C) return bad_target(k->node, t, bn * D + d, C);                \
                    wt = w ? (double)w[t] : 1.0;                                                      \
                    l = -(1 - cfg.eps) * wt * ((double)xr[t * D] - lse);                              \
                    if (cfg.eps > 0) l -= cfg.eps / (double)C * wlp;                                  \
                }                                                                                     \
                if (cfg.red == RED_NONE) y[bn * D + d] = (T)l;                                        \
                sum += l;                                                                             \
                wsum += wt;                                                                           \
            }                                                                                         \
        if (cfg.red == RED_SUM) y[0] = (T)sum;                                                        \
        /* All positions ignored (or weights summing to 0): 0 / 0, NaN, as the spec's formula gives. */ \
        if (cfg.red == RED_MEAN) y[0] = (T)(sum / wsum);                                              \
    }

static weft_status xent_body(weft_kernel_ctx *k, enum xform f)
{
    xent cfg;
    weft_status st = xent_config(k->node, f, &cfg);
    if (st) return st;
    const weft_tview *xv = &k->in[0], *tv = &k->in[1];
    const weft_tview *weight = weft_kin_present(k, 2) ? &k->in[2] : NULL;
    const weft_tview *logp = k->n_out > 1 && k->out[1].dtype != WEFT_UNDEFINED ? &k->out[1] : NULL;
    int64_t N, C, D;
    xent_dims(xv, &N, &C, &D);
    WEFT_DISPATCH(xv->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

/* CrossEntropyGrad(dloss, x, target, weight?) -> dx: the gradient of the loss with respect to x. */
static weft_status xent_grad_infer(weft_infer_ctx *c)
{
    xent cfg;
    weft_status st = xent_config(c->node, X_GRAD, &cfg);
    if (!st) st = xent_check_inputs(c, 1);
    if (st) return st;
    if (c->in_dtype[0] != c->in_dtype[1])
        return weft_op_error(c->node, WEFT_ERR_TYPE, "input 0 (dloss) is %s but input 1 is %s",
                             weft_dtype_name(c->in_dtype[0]), weft_dtype_name(c->in_dtype[1]));
    if (cfg.red != RED_NONE && c->in_shape[0].rank > 0 && weft_shape_numel(&c->in_shape[0]) != 1)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input 0 (dloss) must be a scalar for a reduced loss");
    c->out_dtype[0] = c->in_dtype[1];
    c->out_shape[0] = c->in_shape[1];
    return WEFT_OK;
}

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *gl = k->in[0].data, *x = k->in[1].data;                                              \
        const T *w = weight ? weight->data : NULL;                                                    \
        T *dx = k->out[0].data;                                                                       \
        double scale = 1;                                                                             \
        if (cfg.red == RED_MEAN) {                                                                    \
            double wsum = 0;                                                                          \
            for (int64_t p = 0; p < N * D; p++) {                                                     \
                int64_t t = weft_load_i64(tv->dtype, tv->data, p);                                    \
                if (cfg.has_ii && t == cfg.ii) continue;                                              \
                if (t < 0 || t >= C) return bad_target(k->node, t, p, C);                             \
                wsum += w ? (double)w[t] : 1.0;                                                       \
            }                                                                                         \
            scale = 1 / wsum;                                                                         \
        }                                                                                             \
        for (int64_t bn = 0; bn < N; bn++)                                                            \
            for (int64_t d = 0; d < D; d++) {                                                         \
                const T *xr = x + bn * C * D + d;                                                     \
                T *dr = dx + bn * C * D + d;                                                          \
                int64_t t = weft_load_i64(tv->dtype, tv->data, bn * D + d);                           \
                if (cfg.has_ii && t == cfg.ii) {                                                      \
                    for (int64_t j = 0; j < C; j++) dr[j * D] = 0;                                    \
                    continue;                                                                         \
                }                                                                                     \
                if (t < 0 || t >= C) return bad_target(k->node, t, bn * D + d, C);                    \
                XENT_POSITION(T)                                                                      \
                (void)wlp;                                                                            \
                double g = scale * (double)gl[cfg.red == RED_NONE ? bn * D + d : 0];                  \
                double wt = w ? (double)w[t] : 1.0, e = cfg.eps / (double)C;                          \
                double s = (1 - cfg.eps) * wt + e * wall; /* sum_j q[j] w[j] */                       \
                for (int64_t j = 0; j < C; j++) {                                                     \
                    double qw = e * (w ? (double)w[j] : 1.0) + (j == t ? (1 - cfg.eps) * wt : 0.0);   \
                    double v = cfg.logits ? exp((double)xr[j * D] - lse) * s - qw : -qw;              \
                    dr[j * D] = (T)(g * v);                                                           \
                }                                                                                     \
            }                                                                                         \
    }

static weft_status xent_grad_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    xent cfg;
    weft_status st = xent_config(k->node, X_GRAD, &cfg);
    if (st) return st;
    const weft_tview *xv = &k->in[1], *tv = &k->in[2];
    const weft_tview *weight = weft_kin_present(k, 3) ? &k->in[3] : NULL;
    int64_t N, C, D;
    xent_dims(xv, &N, &C, &D);
    WEFT_DISPATCH(xv->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 1));
    return WEFT_OK;
}
#undef WEFT_BODY
#undef XENT_POSITION

static weft_status xent_grad_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, xent_grad_body); }

/* The rule of all three forward forms: CrossEntropyGrad for the loss, and for the log-probabilities
 * output of the softmax forms the log-softmax backward, dx = dlp - softmax(x) * sum_j dlp[j]. */
static weft_status xent_grad(weft_grad_ctx *c, enum xform f)
{
    if (c->n_in > 2 && c->in[2] >= 0 && c->want[2])
        return weft_grad_fail(c, WEFT_ERR_UNSUPPORTED, "no gradient with respect to the class weights "
                                                       "(make them a constant)");
    if (!c->want[0]) return c->st;
    xent cfg;
    weft_status st = xent_config(c->node, f, &cfg);
    if (st) return c->st = st;
    weft_attr a[4];
    int na = 0;
    a[na++] = weft_grad_attr_string("reduction", weft_attr_string(c->node, "reduction", "mean"));
    a[na++] = weft_grad_attr_int("from_logits", cfg.logits);
    a[na++] = weft_grad_attr_float("label_smoothing", (float)cfg.eps);
    if (cfg.has_ii) a[na++] = weft_grad_attr_int("ignore_index", cfg.ii);
    if (c->dout[0] >= 0) {
        int in[4] = {c->dout[0], c->in[0], c->in[1], c->n_in > 2 ? c->in[2] : -1};
        weft_grad_to(c, 0, weft_grad_op_in(c, "ai.weft", "CrossEntropyGrad", in, 4, a, na));
    }
    if (cfg.logits && c->n_out > 1 && c->dout[1] >= 0) {
        int dlp = c->dout[1];
        int64_t axis = 1;
        int total = weft_grad_reduce_sum(c, dlp, &axis, 1, true);
        int p = weft_grad_op1(c, "Exp", c->out[1]);
        weft_grad_to(c, 0, weft_grad_op2(c, "Sub", dlp, weft_grad_op2(c, "Mul", p, total)));
    }
    return c->st;
}

/* --- BCEWithLogits ------------------------------------------------------------------------------- */

/* Input i (optional, called `what`) must broadcast to x's shape without growing it. */
static weft_status check_fits(weft_infer_ctx *c, int i, const char *what)
{
    if (!weft_in_present(c, i)) return WEFT_OK;
    const weft_node_info *n = c->node;
    if (c->in_dtype[i] != c->in_dtype[0])
        return weft_op_error(n, WEFT_ERR_TYPE, "input %d (%s) is %s but input 0 is %s", i, what,
                             weft_dtype_name(c->in_dtype[i]), weft_dtype_name(c->in_dtype[0]));
    const weft_shape *x = &c->in_shape[0], *s = &c->in_shape[i];
    if (x->rank < 0 || s->rank < 0) return WEFT_OK;
    if (s->rank > x->rank)
        return weft_op_error(n, WEFT_ERR_SHAPE, "input %d (%s) has rank %d, more than the input's %d", i, what,
                             s->rank, x->rank);
    for (int a = 0; a < s->rank; a++) {
        weft_dim ds = s->d[a], dx = x->d[x->rank - s->rank + a];
        if (weft_dim_known(ds) && ds.v != 1 && weft_dim_known(dx) && ds.v != dx.v)
            return weft_op_error(n, WEFT_ERR_SHAPE, "input %d (%s): dim %d is %lld, which does not broadcast to "
                                 "the input's %lld", i, what, a, (long long)ds.v, (long long)dx.v);
    }
    return WEFT_OK;
}

static weft_status bce_infer(weft_infer_ctx *c)
{
    const weft_node_info *n = c->node;
    int red;
    weft_status st = reduction_of(n, &red);
    if (st) return st;
    if (!weft_dtype_is_float(c->in_dtype[0]))
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported (floats only)",
                             weft_dtype_name(c->in_dtype[0]));
    if (c->in_dtype[1] != c->in_dtype[0])
        return weft_op_error(n, WEFT_ERR_TYPE, "input 1 (targets) is %s but input 0 is %s",
                             weft_dtype_name(c->in_dtype[1]), weft_dtype_name(c->in_dtype[0]));
    const weft_shape *x = &c->in_shape[0], *t = &c->in_shape[1];
    if (x->rank >= 0 && t->rank >= 0) {
        bool same = x->rank == t->rank;
        for (int a = 0; same && a < x->rank; a++)
            if (weft_dim_known(x->d[a]) && weft_dim_known(t->d[a]) && x->d[a].v != t->d[a].v) same = false;
        if (!same) return weft_op_error(n, WEFT_ERR_SHAPE, "targets must have the input's shape");
    }
    if ((st = check_fits(c, 2, "weight")) || (st = check_fits(c, 3, "pos_weight"))) return st;
    c->out_dtype[0] = c->in_dtype[0];
    if (red == RED_NONE) c->out_shape[0] = *x;
    else c->out_shape[0].rank = 0;
    return WEFT_OK;
}

/* Element offset into a tensor broadcast to x's shape (strides from weft_broadcast_strides). */
static int64_t bcast_at(int64_t i, const weft_tview *x, const int64_t *strides)
{
    int64_t off = 0;
    for (int a = x->rank - 1; a >= 0; a--) {
        off += (i % x->dims[a]) * strides[a];
        i /= x->dims[a];
    }
    return off;
}

/* The numerically stable form: (1 - t) x + lw (log(1 + exp(-|x|)) + max(-x, 0)), lw = 1 + (pw - 1) t,
 * which without pos_weight is max(x, 0) - x t + log(1 + exp(-|x|)) (PyTorch's). */
#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = xv->data, *t = k->in[1].data;                                                    \
        const T *w = wv ? wv->data : NULL, *pw = pv ? pv->data : NULL;                                \
        T *y = k->out[0].data;                                                                        \
        double sum = 0;                                                                               \
        for (int64_t i = 0; i < xv->numel; i++) {                                                     \
            double xi = x[i], ti = t[i];                                                              \
            double sp = log1p(exp(-fabs(xi))) + fmax(-xi, 0.0); /* softplus(-x) */                    \
            double lw = pw ? 1 + ((double)pw[bcast_at(i, xv, ps)] - 1) * ti : 1.0;                    \
            double l = (1 - ti) * xi + lw * sp;                                                       \
            if (w) l *= (double)w[bcast_at(i, xv, ws)];                                               \
            if (red == RED_NONE) y[i] = (T)l;                                                         \
            sum += l;                                                                                 \
        }                                                                                             \
        if (red == RED_SUM) y[0] = (T)sum;                                                            \
        if (red == RED_MEAN) y[0] = (T)(sum / (double)xv->numel);                                     \
    }

static weft_status bce_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    int red;
    weft_status st = reduction_of(k->node, &red);
    if (st) return st;
    const weft_tview *xv = &k->in[0];
    const weft_tview *wv = weft_kin_present(k, 2) ? &k->in[2] : NULL, *pv = weft_kin_present(k, 3) ? &k->in[3] : NULL;
    int64_t ws[WEFT_MAX_RANK], ps[WEFT_MAX_RANK];
    if (wv) weft_broadcast_strides(wv->dims, wv->rank, xv->dims, xv->rank, ws);
    if (pv) weft_broadcast_strides(pv->dims, pv->rank, xv->dims, xv->rank, ps);
    WEFT_DISPATCH(xv->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

static weft_status bce_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, bce_body); }

/* The loss's gradient g as it reaches each element: dout itself ("none", or the scalar of "sum", which
 * Mul broadcasts), or divided by the element count for "mean". */
static int elementwise_dout(weft_grad_ctx *c)
{
    int red = RED_MEAN;
    weft_status st = reduction_of(c->node, &red);
    if (st) { c->st = st; return -1; }
    int g = weft_grad_dout(c, 0);
    if (red != RED_MEAN) return g;
    int64_t n = weft_shape_numel(&c->in_shape[0]);
    if (n >= 0) return weft_grad_op2(c, "Div", g, weft_grad_scalar(c, (double)n));
    weft_attr to = weft_grad_attr_int("to", c->dtype);
    int size = weft_grad_op1(c, "Size", c->in[0]);
    return weft_grad_op2(c, "Div", g, weft_grad_op(c, "Cast", &size, 1, &to, 1));
}

/*
 * With lw = 1 + (pw - 1) t and sp = softplus(-x):
 *   d/dx = w ((1 - t) - lw (1 - sigmoid(x)))   (w (sigmoid(x) - t) without pos_weight)
 *   d/dt = w (-x + (pw - 1) sp)
 *   d/dw = the unweighted loss,  d/dpw = w t sp
 */
static weft_status bce_grad(weft_grad_ctx *c)
{
    int x = c->in[0], t = c->in[1];
    int w = c->n_in > 2 ? c->in[2] : -1, pw = c->n_in > 3 ? c->in[3] : -1;
    int g = elementwise_dout(c);
    int gw = w >= 0 ? weft_grad_op2(c, "Mul", g, w) : g;
    int one = weft_grad_scalar(c, 1.0);
    int pw1 = pw >= 0 ? weft_grad_op2(c, "Sub", pw, one) : -1;
    int sp = -1;
    if ((c->want[1] && pw >= 0) || (pw >= 0 && c->want[3])) sp = weft_grad_op1(c, "Softplus", weft_grad_op1(c, "Neg", x));
    if (c->want[0]) {
        int sig = weft_grad_op1(c, "Sigmoid", x), d;
        if (pw < 0) d = weft_grad_op2(c, "Sub", sig, t);
        else {
            int lw = weft_grad_op2(c, "Add", one, weft_grad_op2(c, "Mul", pw1, t));
            d = weft_grad_op2(c, "Sub", weft_grad_op2(c, "Sub", one, t),
                              weft_grad_op2(c, "Mul", lw, weft_grad_op2(c, "Sub", one, sig)));
        }
        weft_grad_to(c, 0, weft_grad_op2(c, "Mul", gw, d));
    }
    if (c->want[1]) {
        int d = weft_grad_op1(c, "Neg", x);
        if (pw >= 0) d = weft_grad_op2(c, "Add", d, weft_grad_op2(c, "Mul", pw1, sp));
        weft_grad_to(c, 1, weft_grad_op2(c, "Mul", gw, d));
    }
    if (w >= 0 && c->want[2]) {
        weft_attr none = weft_grad_attr_string("reduction", "none");
        int in[4] = {x, t, -1, pw};
        int raw = weft_grad_op_in(c, "ai.weft", "BCEWithLogits", in, 4, &none, 1);
        weft_grad_to_bcast(c, 2, weft_grad_op2(c, "Mul", g, raw), &c->in_shape[0]);
    }
    if (pw >= 0 && c->want[3])
        weft_grad_to_bcast(c, 3, weft_grad_op2(c, "Mul", gw, weft_grad_op2(c, "Mul", t, sp)), &c->in_shape[0]);
    return c->st;
}

/* --- MSE ----------------------------------------------------------------------------------------- */

static weft_status mse_infer(weft_infer_ctx *c)
{
    int red;
    weft_status st = reduction_of(c->node, &red);
    if (st) return st;
    if (!weft_dtype_is_float(c->in_dtype[0]))
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported (floats only)",
                             weft_dtype_name(c->in_dtype[0]));
    if (c->in_dtype[1] != c->in_dtype[0])
        return weft_op_error(c->node, WEFT_ERR_TYPE, "input 1 (target) is %s but input 0 is %s",
                             weft_dtype_name(c->in_dtype[1]), weft_dtype_name(c->in_dtype[0]));
    const weft_shape *x = &c->in_shape[0], *t = &c->in_shape[1];
    /* Same shapes only: PyTorch broadcasts here with a warning, as a mismatch is nearly always a bug. */
    if (x->rank >= 0 && t->rank >= 0) {
        bool same = x->rank == t->rank;
        for (int a = 0; same && a < x->rank; a++)
            if (weft_dim_known(x->d[a]) && weft_dim_known(t->d[a]) && x->d[a].v != t->d[a].v) same = false;
        if (!same) return weft_op_error(c->node, WEFT_ERR_SHAPE, "target must have the input's shape");
    }
    c->out_dtype[0] = c->in_dtype[0];
    if (red == RED_NONE) c->out_shape[0] = *x;
    else c->out_shape[0].rank = 0;
    return WEFT_OK;
}

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data, *t = k->in[1].data;                                               \
        T *y = k->out[0].data;                                                                        \
        double sum = 0;                                                                               \
        for (int64_t i = 0; i < k->in[0].numel; i++) {                                                \
            double d = (double)x[i] - (double)t[i];                                                   \
            if (red == RED_NONE) y[i] = (T)(d * d);                                                   \
            sum += d * d;                                                                             \
        }                                                                                             \
        if (red == RED_SUM) y[0] = (T)sum;                                                            \
        if (red == RED_MEAN) y[0] = (T)(sum / (double)k->in[0].numel);                                \
    }

static weft_status mse_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    int red;
    weft_status st = reduction_of(k->node, &red);
    if (st) return st;
    WEFT_DISPATCH(k->in[0].dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

static weft_status mse_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, mse_body); }

/* d/dx = 2 (x - t) g, d/dt = -d/dx. */
static weft_status mse_grad(weft_grad_ctx *c)
{
    int g = elementwise_dout(c);
    int d = weft_grad_op2(c, "Mul", weft_grad_op2(c, "Mul", g, weft_grad_scalar(c, 2.0)),
                          weft_grad_op2(c, "Sub", c->in[0], c->in[1]));
    weft_grad_to(c, 0, d);
    if (c->want[1]) weft_grad_to(c, 1, weft_grad_op1(c, "Neg", d));
    return c->st;
}

/* --- the table ----------------------------------------------------------------------------------- */

#define XENT_OP(fn, FORM)                                                                             \
    static weft_status infer_##fn(weft_infer_ctx *c) { return xent_infer(c, FORM); }                  \
    static weft_status body_##fn(weft_kernel_ctx *k, void *scratch)                                   \
    {                                                                                                 \
        (void)scratch;                                                                                \
        return xent_body(k, FORM);                                                                    \
    }                                                                                                 \
    static weft_status run_##fn(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, body_##fn); } \
    static weft_status grad_##fn(weft_grad_ctx *c) { return xent_grad(c, FORM); }
XENT_OP(nll, X_NLL)
XENT_OP(sce, X_SCE)
XENT_OP(wsce, X_WEFT_SCE)
#undef XENT_OP

const weft_op_def weft_ops_loss[] = {
    {"NegativeLogLikelihoodLoss", "", 12, 0, 2, 3, 1, 1, 0, infer_nll, run_nll, 0, grad_nll},
    {"SoftmaxCrossEntropyLoss", "", 12, 0, 2, 3, 1, 2, 0, infer_sce, run_sce, 0, grad_sce},
    {"SoftmaxCrossEntropy", "ai.weft", 1, 0, 2, 3, 1, 2, 0, infer_wsce, run_wsce, 0, grad_wsce},
    {"CrossEntropyGrad", "ai.weft", 1, 0, 3, 4, 1, 1, 0, xent_grad_infer, xent_grad_run},
    {"BCEWithLogits", "ai.weft", 1, 0, 2, 4, 1, 1, 0, bce_infer, bce_run, 0, bce_grad},
    {"MSE", "ai.weft", 1, 0, 2, 2, 1, 1, 0, mse_infer, mse_run, 0, mse_grad},
};
const int weft_ops_loss_count = sizeof weft_ops_loss / sizeof weft_ops_loss[0];
