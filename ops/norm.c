/*
 * ops/norm.c — normalisation: Softmax, LogSoftmax, Hardmax, LpNormalization, LayerNormalization,
 * RMSNormalization, InstanceNormalization, GroupNormalization, MeanVarianceNormalization,
 * BatchNormalization (inference).
 *
 * Kernels are written for float and double and compute their statistics in double; float16 and
 * bfloat16 tensors are widened to float32 around the kernel by weft_math_run_widened (ops/widen.c).
 */
#include <math.h>
#include <string.h>

#include "grad.h"
#include "norm.h"
#include "op.h"

/* --- shared checks ------------------------------------------------------------------------------- */

static weft_status need_float(const weft_node_info *n, const weft_infer_ctx *c, int i)
{
    if (!weft_in_present(c, i)) return WEFT_OK;
    if (!weft_dtype_is_float(c->in_dtype[i]))
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input %d: dtype %s is not supported (floats only)", i,
                             weft_dtype_name(c->in_dtype[i]));
    return WEFT_OK;
}

/* Input i must be unidirectionally broadcastable to input 0 (the spec's rule for Scale / B). */
static weft_status check_unidir(weft_infer_ctx *c, int i)
{
    if (!weft_in_present(c, i)) return WEFT_OK;
    const weft_shape *x = &c->in_shape[0], *s = &c->in_shape[i];
    if (c->in_dtype[i] != c->in_dtype[0])
        return weft_op_error(c->node, WEFT_ERR_TYPE, "input %d is %s but input 0 is %s", i,
                             weft_dtype_name(c->in_dtype[i]), weft_dtype_name(c->in_dtype[0]));
    if (x->rank < 0 || s->rank < 0) return WEFT_OK;
    if (s->rank > x->rank)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d has rank %d, more than the input's %d", i,
                             s->rank, x->rank);
    for (int d = 0; d < s->rank; d++) {
        weft_dim a = s->d[d], b = x->d[x->rank - s->rank + d];
        if (weft_dim_known(a) && a.v != 1 && weft_dim_known(b) && a.v != b.v) {
            char s0[128], s1[128];
            weft_shape_format(s, s0, sizeof s0);
            weft_shape_format(x, s1, sizeof s1);
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d of shape %s does not broadcast to %s", i, s0, s1);
        }
    }
    return WEFT_OK;
}

/* Row-major walk over a shape that keeps, for up to 4 other tensors, the offset of the element that
 * broadcasts to the current position (stride 0 along broadcast axes). */
typedef struct {
    int rank;
    int64_t dims[WEFT_MAX_RANK], idx[WEFT_MAX_RANK];
    int64_t st[4][WEFT_MAX_RANK];
    int64_t off[4];
} bc_iter;

static void bc_init(bc_iter *it, const int64_t *dims, int rank)
{
    memset(it, 0, sizeof *it);
    it->rank = rank;
    memcpy(it->dims, dims, sizeof(int64_t) * (size_t)rank);
}

static void bc_next(bc_iter *it)
{
    for (int d = it->rank - 1; d >= 0; d--) {
        for (int t = 0; t < 4; t++) it->off[t] += it->st[t][d];
        if (++it->idx[d] < it->dims[d]) return;
        for (int t = 0; t < 4; t++) it->off[t] -= it->st[t][d] * it->dims[d];
        it->idx[d] = 0;
    }
}

/* --- Softmax, LogSoftmax, Hardmax ---------------------------------------------------------------- */

/* Splits x into outer x n x inner around the softmax axis: before opset 13 the input is coerced to 2-D
 * at `axis` (n spans every axis from it on); from 13 only that one axis. */
static weft_status softmax_axis(const weft_node_info *node, int rank, int *axis)
{
    bool legacy = node->opset < 13;
    int64_t a = weft_attr_int(node, "axis", legacy ? 1 : -1);
    if (rank == 0) return weft_op_error(node, WEFT_ERR_SHAPE, "input must have rank >= 1");
    return weft_axis(node, a, rank, false, axis);
}

static weft_status softmax_infer(weft_infer_ctx *c)
{
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0] = c->in_shape[0];
    weft_status st = need_float(c->node, c, 0);
    if (st) return st;
    if (c->in_shape[0].rank >= 0) {
        int axis;
        return softmax_axis(c->node, c->in_shape[0].rank, &axis);
    }
    return WEFT_OK;
}

enum { SM_SOFT, SM_LOG, SM_HARD };

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = x_->data;                                                                        \
        T *y = y_->data;                                                                              \
        for (int64_t o = 0; o < outer; o++)                                                           \
            for (int64_t in = 0; in < inner; in++) {                                                  \
                const T *xr = x + o * n * inner + in;                                                 \
                T *yr = y + o * n * inner + in;                                                       \
                int64_t arg = 0;                                                                      \
                double m = -INFINITY;                                                                 \
                for (int64_t j = 0; j < n; j++)                                                       \
                    if ((double)xr[j * inner] > m) { m = xr[j * inner]; arg = j; }                    \
                if (kind == SM_HARD) {                                                                \
                    /* 1 at the first maximum, 0 elsewhere. */                                        \
                    for (int64_t j = 0; j < n; j++) yr[j * inner] = (T)(j == arg);                    \
                    continue;                                                                         \
                }                                                                                     \
                double s = 0;                                                                         \
                for (int64_t j = 0; j < n; j++) s += exp((double)xr[j * inner] - m);                  \
                double ls = log(s);                                                                   \
                for (int64_t j = 0; j < n; j++) {                                                     \
                    double d = (double)xr[j * inner] - m;                                             \
                    yr[j * inner] = (T)(kind == SM_LOG ? d - ls : exp(d) / s);                        \
                }                                                                                     \
            }                                                                                         \
    }

/* The widened body of Softmax, LogSoftmax and Hardmax (`kind`); each op's own wrapper below passes its
 * kind, since weft_math_run_widened hands a body nothing but the context and the scratch. */
static weft_status softmax_body(weft_kernel_ctx *k, int kind)
{
    const weft_tview *x_ = &k->in[0];
    const weft_tview *y_ = &k->out[0];
    int axis;
    weft_status st = softmax_axis(k->node, x_->rank, &axis);
    if (st) return st;
    int64_t outer = 1, n = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= x_->dims[d];
    n = x_->dims[axis];
    for (int d = axis + 1; d < x_->rank; d++) inner *= x_->dims[d];
    if (k->node->opset < 13) { n *= inner; inner = 1; }
    if (n == 0 || outer == 0 || inner == 0) return WEFT_OK;
    WEFT_DISPATCH(x_->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

#define SOFTMAX_OP(fn, KIND)                                                                          \
    static weft_status body_##fn(weft_kernel_ctx *k, void *scratch)                                   \
    {                                                                                                 \
        (void)scratch;                                                                                \
        return softmax_body(k, KIND);                                                                 \
    }                                                                                                 \
    static weft_status run_##fn(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, body_##fn); }
SOFTMAX_OP(softmax, SM_SOFT)
SOFTMAX_OP(logsoftmax, SM_LOG)
SOFTMAX_OP(hardmax, SM_HARD)
#undef SOFTMAX_OP

/* --- moments over a set of axes: LayerNorm, RMSNorm, InstanceNorm, MVN ------------------------------ */

typedef enum { MOM_LAYER, MOM_RMS, MOM_INSTANCE, MOM_MVN } mom_kind;

/*
 * y = (x - mean) * inv * scale + bias, where mean and inv are statistics over the reduced axes (mask) of
 * each kept position:
 *   LAYER, INSTANCE: inv = 1 / sqrt(var + eps)
 *   RMS:             mean = 0, inv = 1 / sqrt(mean(x^2) + eps)
 *   MVN:             inv = 1 / (sqrt(var) + eps)   (the ONNX function adds eps to the deviation)
 * Statistics (2 doubles per kept position) live in scratch. scale / bias strides are broadcast strides
 * over x's shape. The variance is the mean of squared deviations (two passes): no cancellation.
 */
typedef struct {
    mom_kind kind;
    double eps;
    bool mask[WEFT_MAX_RANK];
    const weft_tview *x, *scale, *bias;
    int64_t sstr[WEFT_MAX_RANK], bstr[WEFT_MAX_RANK];
    weft_tview *y, *mean_out, *inv_out; /* the last two may be NULL */
} mom_job;

static int64_t kept_strides(const mom_job *j, int64_t *kstr)
{
    int64_t s = 1;
    for (int d = j->x->rank - 1; d >= 0; d--) {
        kstr[d] = j->mask[d] ? 0 : s;
        if (!j->mask[d]) s *= j->x->dims[d];
    }
    return s;
}

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = j->x->data;                                                                      \
        const T *sc = j->scale ? j->scale->data : NULL;                                               \
        const T *bi = j->bias ? j->bias->data : NULL;                                                 \
        T *y = j->y->data;                                                                            \
        bc_iter it;                                                                                   \
        bc_init(&it, j->x->dims, j->x->rank);                                                         \
        memcpy(it.st[0], kstr, sizeof kstr);                                                          \
        if (j->kind != MOM_RMS) {                                                                     \
            for (int64_t i = 0; i < n; i++, bc_next(&it)) mean[it.off[0]] += (double)x[i];            \
            for (int64_t q = 0; q < nkept; q++) mean[q] /= (double)nred;                              \
            bc_init(&it, j->x->dims, j->x->rank);                                                     \
            memcpy(it.st[0], kstr, sizeof kstr);                                                      \
        }                                                                                             \
        for (int64_t i = 0; i < n; i++, bc_next(&it)) {                                               \
            double d = (double)x[i] - mean[it.off[0]];                                                \
            inv[it.off[0]] += d * d;                                                                  \
        }                                                                                             \
        for (int64_t q = 0; q < nkept; q++) {                                                         \
            double var = inv[q] / (double)nred;                                                       \
            inv[q] = j->kind == MOM_MVN ? 1.0 / (sqrt(var) + j->eps) : 1.0 / sqrt(var + j->eps);      \
        }                                                                                             \
        bc_init(&it, j->x->dims, j->x->rank);                                                         \
        memcpy(it.st[0], kstr, sizeof kstr);                                                          \
        memcpy(it.st[1], j->sstr, sizeof j->sstr);                                                    \
        memcpy(it.st[2], j->bstr, sizeof j->bstr);                                                    \
        for (int64_t i = 0; i < n; i++, bc_next(&it)) {                                               \
            double v = ((double)x[i] - mean[it.off[0]]) * inv[it.off[0]];                             \
            if (sc) v *= (double)sc[it.off[1]];                                                       \
            if (bi) v += (double)bi[it.off[2]];                                                       \
            y[i] = (T)v;                                                                              \
        }                                                                                             \
    }

static weft_status moments_run(const weft_kernel_ctx *k, const mom_job *j, double *scratch)
{
    int64_t kstr[WEFT_MAX_RANK] = {0};
    int64_t nkept = kept_strides(j, kstr);
    int64_t n = j->x->numel;
    int64_t nred = nkept ? n / nkept : 0;
    if (n == 0) return WEFT_OK;
    double *mean = scratch, *inv = scratch + nkept;
    memset(scratch, 0, sizeof(double) * 2 * (size_t)nkept);
    WEFT_DISPATCH(j->x->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    for (int64_t q = 0; q < nkept; q++) {
        if (j->mean_out) weft_store_f64(j->mean_out->dtype, j->mean_out->data, q, mean[q]);
        if (j->inv_out) weft_store_f64(j->inv_out->dtype, j->inv_out->data, q, inv[q]);
    }
    return WEFT_OK;
}
#undef WEFT_BODY

static size_t moments_scratch(const weft_tview *x, const bool *mask)
{
    if (x->numel == 0) return 0; /* nothing to compute; the kept dims alone could be absurd */
    int64_t nkept = 1;
    for (int d = 0; d < x->rank; d++)
        if (!mask[d]) nkept *= x->dims[d];
    return (size_t)nkept * 2 * sizeof(double);
}

/* Scale / bias strides: unidirectional broadcast of input i onto x. */
static void unidir_strides(const weft_kernel_ctx *k, int i, int64_t *str)
{
    memset(str, 0, sizeof(int64_t) * WEFT_MAX_RANK);
    if (weft_kin_present(k, i))
        weft_broadcast_strides(k->in[i].dims, k->in[i].rank, k->in[0].dims, k->in[0].rank, str);
}

/* Run-time check of what infer checked with possibly symbolic dims. */
static weft_status check_unidir_run(const weft_kernel_ctx *k, int i)
{
    if (!weft_kin_present(k, i)) return WEFT_OK;
    const weft_tview *x = &k->in[0], *s = &k->in[i];
    if (s->dtype != x->dtype)
        return weft_op_error(k->node, WEFT_ERR_TYPE, "input %d is %s but input 0 is %s", i,
                             weft_dtype_name(s->dtype), weft_dtype_name(x->dtype));
    if (s->rank > x->rank)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d has rank %d, more than the input's %d", i, s->rank,
                             x->rank);
    for (int d = 0; d < s->rank; d++) {
        int64_t a = s->dims[d], b = x->dims[x->rank - s->rank + d];
        if (a != 1 && a != b)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d: dim %d is %lld, does not broadcast to %lld", i,
                                 d, (long long)a, (long long)b);
    }
    return WEFT_OK;
}

/* LayerNormalization (X, Scale, B?) -> (Y, Mean?, InvStdDev?) and RMSNormalization (X, scale) -> Y. */
static weft_status layer_axis(const weft_node_info *node, int rank, int *axis)
{
    if (rank < 1) return weft_op_error(node, WEFT_ERR_SHAPE, "input must have rank >= 1");
    return weft_axis(node, weft_attr_int(node, "axis", -1), rank, false, axis);
}

static weft_status layernorm_infer(weft_infer_ctx *c)
{
    const weft_shape *xs = &c->in_shape[0];
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0] = *xs;
    weft_status st;
    for (int i = 0; i < c->n_in; i++)
        if ((st = need_float(c->node, c, i))) return st;
    if ((st = check_unidir(c, 1)) || (st = check_unidir(c, 2))) return st;
    int64_t stash = weft_attr_int(c->node, "stash_type", 1);
    if (stash != WEFT_FLOAT32 && stash != WEFT_FLOAT64)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "stash_type %lld is not supported", (long long)stash);
    int axis = 0;
    if (xs->rank >= 0 && (st = layer_axis(c->node, xs->rank, &axis))) return st;
    for (int o = 1; o < c->n_out && o < 3; o++) {
        /* Mean and InvStdDev: type U (float for the default stash_type), shape d[0..axis) + 1s. */
        c->out_dtype[o] = stash == WEFT_FLOAT64 ? WEFT_FLOAT64 : WEFT_FLOAT32;
        c->out_shape[o] = *xs;
        for (int d = axis; d < xs->rank; d++) c->out_shape[o].d[d] = weft_dim_num(1);
    }
    return WEFT_OK;
}

/* The widened body of LayerNormalization and (`rms`) RMSNormalization. */
static weft_status layernorm_body_common(weft_kernel_ctx *k, void *scratch, bool rms)
{
    mom_job j = {0};
    int axis;
    weft_status st = layer_axis(k->node, k->in[0].rank, &axis);
    if (st) return st;
    j.kind = rms ? MOM_RMS : MOM_LAYER;
    j.eps = weft_attr_float(k->node, "epsilon", 1e-5f);
    for (int d = axis; d < k->in[0].rank; d++) j.mask[d] = true;
    j.x = &k->in[0];
    j.y = &k->out[0];
    j.scale = &k->in[1];
    unidir_strides(k, 1, j.sstr);
    if (!rms && weft_kin_present(k, 2)) {
        j.bias = &k->in[2];
        unidir_strides(k, 2, j.bstr);
    }
    if (!rms && k->n_out > 1 && k->out[1].dtype != WEFT_UNDEFINED) j.mean_out = &k->out[1];
    if (!rms && k->n_out > 2 && k->out[2].dtype != WEFT_UNDEFINED) j.inv_out = &k->out[2];
    return moments_run(k, &j, scratch);
}

static weft_status layernorm_body(weft_kernel_ctx *k, void *s) { return layernorm_body_common(k, s, false); }
static weft_status rmsnorm_body(weft_kernel_ctx *k, void *s) { return layernorm_body_common(k, s, true); }

/* The run of both: `body` is layernorm_body or rmsnorm_body, so the body knows which op it serves. */
static weft_status layernorm_run_common(weft_kernel_ctx *k, weft_math_body body)
{
    int axis;
    weft_status st = layer_axis(k->node, k->in[0].rank, &axis);
    if (st) return st;
    if ((st = check_unidir_run(k, 1)) || (st = check_unidir_run(k, 2))) return st;
    bool mask[WEFT_MAX_RANK] = {0};
    for (int d = axis; d < k->in[0].rank; d++) mask[d] = true;
    return weft_math_run_widened(k, moments_scratch(&k->in[0], mask), body);
}
static weft_status layernorm_run(weft_kernel_ctx *k) { return layernorm_run_common(k, layernorm_body); }
static weft_status rmsnorm_run(weft_kernel_ctx *k) { return layernorm_run_common(k, rmsnorm_body); }

/* InstanceNormalization (X[N,C,...], scale[C], B[C]): statistics over the spatial axes of each (n, c). */
static weft_status instancenorm_infer(weft_infer_ctx *c)
{
    weft_status st = weft_infer_same_as_input0(c);
    for (int i = 0; i < 3; i++)
        if ((st = need_float(c->node, c, i))) return st;
    const weft_shape *xs = &c->in_shape[0];
    if (xs->rank >= 0 && xs->rank < 3)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input must have rank >= 3 (N, C, D1, ...), got %d", xs->rank);
    for (int i = 1; i < 3; i++) {
        const weft_shape *s = &c->in_shape[i];
        if (c->in_dtype[i] != c->in_dtype[0])
            return weft_op_error(c->node, WEFT_ERR_TYPE, "input %d is %s but input 0 is %s", i,
                                 weft_dtype_name(c->in_dtype[i]), weft_dtype_name(c->in_dtype[0]));
        if (s->rank >= 0 && s->rank != 1)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d must be 1-D [C], got rank %d", i, s->rank);
        if (s->rank == 1 && xs->rank >= 0 && weft_dim_known(s->d[0]) && weft_dim_known(xs->d[1]) &&
            s->d[0].v != xs->d[1].v)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d has %lld entries for %lld channels", i,
                                 (long long)s->d[0].v, (long long)xs->d[1].v);
    }
    return WEFT_OK;
}

static weft_status instancenorm_body(weft_kernel_ctx *k, void *scratch)
{
    mom_job j = {0};
    j.kind = MOM_INSTANCE;
    j.eps = weft_attr_float(k->node, "epsilon", 1e-5f);
    for (int d = 2; d < k->in[0].rank; d++) j.mask[d] = true;
    j.x = &k->in[0];
    j.y = &k->out[0];
    j.scale = &k->in[1];
    j.bias = &k->in[2];
    j.sstr[1] = j.bstr[1] = 1; /* [C] lines up with axis 1 */
    return moments_run(k, &j, scratch);
}

static weft_status instancenorm_run(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    if (x->rank < 3) return weft_op_error(k->node, WEFT_ERR_SHAPE, "input must have rank >= 3, got %d", x->rank);
    for (int i = 1; i < 3; i++)
        if (k->in[i].rank != 1 || k->in[i].dims[0] != x->dims[1] || k->in[i].dtype != x->dtype)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d must be a [%lld] %s vector", i,
                                 (long long)x->dims[1], weft_dtype_name(x->dtype));
    bool mask[WEFT_MAX_RANK] = {0};
    for (int d = 2; d < x->rank; d++) mask[d] = true;
    return weft_math_run_widened(k, moments_scratch(x, mask), instancenorm_body);
}

/* GroupNormalization (X[N,C,...], scale, bias): statistics per (n, group of C/num_groups channels). scale
 * and bias hold one value per group before opset 21, one per channel from 21. */
static weft_status groupnorm_params(const weft_node_info *node, int64_t C, int64_t *G, int64_t *plen)
{
    const weft_attr *a = weft_attr_find(node, "num_groups");
    if (!a || a->type != WEFT_ATTR_INT)
        return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "the num_groups attribute is required");
    *G = a->i;
    if (*G <= 0) return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "num_groups must be positive, got %lld", (long long)*G);
    if (C >= 0 && C % *G != 0)
        return weft_op_error(node, WEFT_ERR_SHAPE, "%lld channels do not split into %lld groups", (long long)C,
                             (long long)*G);
    *plen = node->opset >= 21 ? C : *G;
    return WEFT_OK;
}

static weft_status groupnorm_infer(weft_infer_ctx *c)
{
    weft_status st = weft_infer_same_as_input0(c);
    for (int i = 0; i < 3; i++)
        if ((st = need_float(c->node, c, i))) return st;
    const weft_shape *xs = &c->in_shape[0];
    if (xs->rank >= 0 && xs->rank < 2)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input must have rank >= 2 (N, C, ...), got %d", xs->rank);
    int64_t C = xs->rank >= 2 && weft_dim_known(xs->d[1]) ? xs->d[1].v : -1, G, plen;
    if ((st = groupnorm_params(c->node, C, &G, &plen))) return st;
    for (int i = 1; i < 3; i++) {
        const weft_shape *s = &c->in_shape[i];
        if (c->in_dtype[i] != c->in_dtype[0])
            return weft_op_error(c->node, WEFT_ERR_TYPE, "input %d is %s but input 0 is %s", i,
                                 weft_dtype_name(c->in_dtype[i]), weft_dtype_name(c->in_dtype[0]));
        if (s->rank >= 0 && s->rank != 1)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d must be 1-D, got rank %d", i, s->rank);
        if (s->rank == 1 && weft_dim_known(s->d[0]) && plen >= 0 && s->d[0].v != plen)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d has %lld entries, expected %lld", i,
                                 (long long)s->d[0].v, (long long)plen);
    }
    return WEFT_OK;
}

/* X seen as [N, G, C/G, spatial]: statistics over the last two axes. */
static void groupnorm_view(const weft_tview *x, int64_t G, weft_tview *v)
{
    int64_t S = 1;
    for (int d = 2; d < x->rank; d++) S *= x->dims[d];
    *v = *x;
    v->rank = 4;
    v->dims[0] = x->dims[0];
    v->dims[1] = G;
    v->dims[2] = x->dims[1] / G;
    v->dims[3] = S;
}

static weft_status groupnorm_body(weft_kernel_ctx *k, void *scratch)
{
    int64_t G, plen;
    weft_status st = groupnorm_params(k->node, k->in[0].dims[1], &G, &plen);
    if (st) return st;
    weft_tview xv, yv;
    groupnorm_view(&k->in[0], G, &xv);
    groupnorm_view(&k->out[0], G, &yv);
    mom_job j = {0};
    j.kind = MOM_INSTANCE;
    j.eps = weft_attr_float(k->node, "epsilon", 1e-5f);
    j.mask[2] = j.mask[3] = true;
    j.x = &xv;
    j.y = &yv;
    j.scale = &k->in[1];
    j.bias = &k->in[2];
    if (plen == G) {
        j.sstr[1] = j.bstr[1] = 1; /* per group */
        if (k->node->opset >= 21) j.sstr[2] = j.bstr[2] = 1; /* G == C: one channel per group */
    } else {
        j.sstr[1] = j.bstr[1] = xv.dims[2]; /* per channel: g * (C/G) + c */
        j.sstr[2] = j.bstr[2] = 1;
    }
    return moments_run(k, &j, scratch);
}

static weft_status groupnorm_run(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    if (x->rank < 2) return weft_op_error(k->node, WEFT_ERR_SHAPE, "input must have rank >= 2, got %d", x->rank);
    int64_t G = 0, plen = 0;
    weft_status st = groupnorm_params(k->node, x->dims[1], &G, &plen);
    if (st) return st;
    for (int i = 1; i < 3; i++)
        if (k->in[i].rank != 1 || k->in[i].numel != plen || k->in[i].dtype != x->dtype)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d must be a [%lld] %s vector", i, (long long)plen,
                                 weft_dtype_name(x->dtype));
    if (x->numel == 0) return WEFT_OK;
    return weft_math_run_widened(k, (size_t)(x->dims[0] * G) * 2 * sizeof(double), groupnorm_body);
}

/* MeanVarianceNormalization: axes attribute, default [0, 2, 3]. */
static weft_status mvn_axes(const weft_node_info *node, int rank, bool *mask)
{
    static const int64_t def[3] = {0, 2, 3};
    const int64_t *axes;
    int n = weft_attr_ints(node, "axes", &axes);
    if (n < 0) { axes = def; n = 3; }
    memset(mask, 0, sizeof(bool) * WEFT_MAX_RANK);
    for (int i = 0; i < n; i++) {
        int a;
        weft_status st = weft_axis(node, axes[i], rank, false, &a);
        if (st) return st;
        if (mask[a])
            return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "axis %lld is listed twice in axes", (long long)axes[i]);
        mask[a] = true;
    }
    return WEFT_OK;
}

static weft_status mvn_infer(weft_infer_ctx *c)
{
    weft_status st = weft_infer_same_as_input0(c);
    if ((st = need_float(c->node, c, 0))) return st;
    bool mask[WEFT_MAX_RANK];
    if (c->in_shape[0].rank >= 0) return mvn_axes(c->node, c->in_shape[0].rank, mask);
    return WEFT_OK;
}

static weft_status mvn_body(weft_kernel_ctx *k, void *scratch)
{
    mom_job j = {0};
    j.kind = MOM_MVN;
    j.eps = 1e-9; /* the constant of the ONNX function body */
    weft_status st = mvn_axes(k->node, k->in[0].rank, j.mask);
    if (st) return st;
    j.x = &k->in[0];
    j.y = &k->out[0];
    return moments_run(k, &j, scratch);
}

static weft_status mvn_run(weft_kernel_ctx *k)
{
    bool mask[WEFT_MAX_RANK];
    weft_status st = mvn_axes(k->node, k->in[0].rank, mask);
    if (st) return st;
    return weft_math_run_widened(k, moments_scratch(&k->in[0], mask), mvn_body);
}

/* --- LpNormalization ----------------------------------------------------------------------------- */

static weft_status lp_params(const weft_node_info *node, int rank, int *axis, int *p)
{
    int64_t pv = weft_attr_int(node, "p", 2);
    if (pv != 1 && pv != 2)
        return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "p must be 1 or 2, got %lld", (long long)pv);
    *p = (int)pv;
    if (rank < 1) return weft_op_error(node, WEFT_ERR_SHAPE, "input must have rank >= 1");
    return weft_axis(node, weft_attr_int(node, "axis", -1), rank, false, axis);
}

static weft_status lpnorm_infer(weft_infer_ctx *c)
{
    weft_status st = weft_infer_same_as_input0(c);
    if ((st = need_float(c->node, c, 0))) return st;
    int axis, p;
    if (c->in_shape[0].rank >= 0) return lp_params(c->node, c->in_shape[0].rank, &axis, &p);
    int64_t pv = weft_attr_int(c->node, "p", 2);
    if (pv != 1 && pv != 2)
        return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "p must be 1 or 2, got %lld", (long long)pv);
    return WEFT_OK;
}

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = xv->data;                                                                        \
        T *y = yv->data;                                                                              \
        for (int64_t o = 0; o < outer; o++)                                                           \
            for (int64_t in = 0; in < inner; in++) {                                                  \
                int64_t b = o * n * inner + in;                                                       \
                double s = 0;                                                                         \
                for (int64_t j = 0; j < n; j++) {                                                     \
                    double v = (double)x[b + j * inner];                                              \
                    s += p == 1 ? fabs(v) : v * v;                                                    \
                }                                                                                     \
                if (p == 2) s = sqrt(s);                                                              \
                /* A zero norm gives zeros (opset 22 spells this out) rather than 0/0. */             \
                for (int64_t j = 0; j < n; j++)                                                       \
                    y[b + j * inner] = s == 0 ? (T)0 : (T)((double)x[b + j * inner] / s);             \
            }                                                                                         \
    }

static weft_status lpnorm_body(weft_kernel_ctx *k, void *scratch)
{
    const weft_tview *xv = &k->in[0], *yv = &k->out[0];
    int axis, p = 0;
    weft_status st = lp_params(k->node, xv->rank, &axis, &p);
    if (st) return st;
    int64_t outer = 1, n = xv->dims[axis], inner = 1;
    for (int d = 0; d < axis; d++) outer *= xv->dims[d];
    for (int d = axis + 1; d < xv->rank; d++) inner *= xv->dims[d];
    WEFT_DISPATCH(xv->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

static weft_status lpnorm_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, lpnorm_body); }

/* --- BatchNormalization (inference) -------------------------------------------------------------- */

/* Statistics are per channel (axis 1); with the opset-7 `spatial = 0` they are per (channel, position). */
static int64_t bn_param_len(const weft_node_info *node, const int64_t *dims, int rank)
{
    int64_t len = dims[1];
    if (node->opset < 9 && weft_attr_int(node, "spatial", 1) == 0)
        for (int d = 2; d < rank; d++) len *= dims[d];
    return len;
}

static weft_status bn_mode(const weft_node_info *node, int n_out)
{
    if (node->opset >= 14 && weft_attr_int(node, "training_mode", 0) != 0)
        return weft_op_error(node, WEFT_ERR_UNSUPPORTED, "training_mode=1 is not supported (inference only)");
    if (n_out > 1)
        return weft_op_error(node, WEFT_ERR_UNSUPPORTED,
                             "%d outputs request training statistics; only inference (1 output) is supported", n_out);
    return WEFT_OK;
}

static weft_status batchnorm_infer(weft_infer_ctx *c)
{
    weft_status st = weft_infer_same_as_input0(c);
    for (int o = 1; o < c->n_out; o++) { c->out_dtype[o] = c->in_dtype[3]; c->out_shape[o] = c->in_shape[3]; }
    for (int i = 0; i < 5; i++)
        if ((st = need_float(c->node, c, i))) return st;
    if ((st = bn_mode(c->node, c->n_out))) return st;
    const weft_shape *xs = &c->in_shape[0];
    if (xs->rank >= 0 && xs->rank < 2)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input must have rank >= 2 (N, C, ...), got %d", xs->rank);
    bool spatial = !(c->node->opset < 9 && weft_attr_int(c->node, "spatial", 1) == 0);
    for (int i = 1; i < 5; i++) {
        const weft_shape *s = &c->in_shape[i];
        if (spatial && s->rank >= 0 && s->rank != 1)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d must be 1-D [C], got rank %d", i, s->rank);
        if (spatial && s->rank == 1 && xs->rank >= 2 && weft_dim_known(s->d[0]) && weft_dim_known(xs->d[1]) &&
            s->d[0].v != xs->d[1].v)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d has %lld entries for %lld channels", i,
                                 (long long)s->d[0].v, (long long)xs->d[1].v);
    }
    return WEFT_OK;
}

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = xv->data;                                                                        \
        T *y = k->out[0].data;                                                                        \
        for (int64_t i = 0; i < xv->numel; i++) {                                                     \
            int64_t q = (i / inner_y) % plen;                                                         \
            y[i] = (T)((double)x[i] * a[q] + b[q]);                                                   \
        }                                                                                             \
    }

void weft_batchnorm_coefficients(const weft_kernel_ctx *k, int64_t n, double *a, double *b)
{
    double eps = weft_attr_float(k->node, "epsilon", 1e-5f);
    for (int64_t q = 0; q < n; q++) {
        double sc = weft_load_f64(k->in[1].dtype, k->in[1].data, q);
        double bi = weft_load_f64(k->in[2].dtype, k->in[2].data, q);
        double mu = weft_load_f64(k->in[3].dtype, k->in[3].data, q);
        double var = weft_load_f64(k->in[4].dtype, k->in[4].data, q);
        a[q] = sc / sqrt(var + eps);
        b[q] = bi - mu * a[q];
    }
}

static weft_status batchnorm_body(weft_kernel_ctx *k, void *scratch)
{
    const weft_tview *xv = &k->in[0];
    int64_t plen = bn_param_len(k->node, xv->dims, xv->rank);
    /* Parameters may have their own float type (T1, T2 from opset 15): read them as doubles and fold
     * into y = x * a + b with a = scale / sqrt(var + eps), b = B - mean * a. */
    double *a = scratch, *b = a + plen;
    weft_batchnorm_coefficients(k, plen, a, b);
    /* Element i's parameter: channel-major index over the elements sharing it. */
    int64_t inner_y = 1;
    if (plen == xv->dims[1])
        for (int d = 2; d < xv->rank; d++) inner_y *= xv->dims[d];
    if (plen == 0) return WEFT_OK;
    WEFT_DISPATCH(xv->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

static weft_status batchnorm_run(weft_kernel_ctx *k)
{
    weft_status st = bn_mode(k->node, k->n_out);
    if (st) return st;
    const weft_tview *x = &k->in[0];
    if (x->rank < 2) return weft_op_error(k->node, WEFT_ERR_SHAPE, "input must have rank >= 2, got %d", x->rank);
    int64_t plen = bn_param_len(k->node, x->dims, x->rank);
    for (int i = 1; i < 5; i++)
        if (k->in[i].numel != plen || !weft_dtype_is_float(k->in[i].dtype))
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d must hold %lld floats, got %lld %s", i,
                                 (long long)plen, (long long)k->in[i].numel, weft_dtype_name(k->in[i].dtype));
    return weft_math_run_widened(k, (size_t)(2 * plen + 1) * sizeof(double), batchnorm_body);
}

/* --- gradients (ops/grad.h) ----------------------------------------------------------------------- */

/* The axes a (Log)Softmax normalises over: `axis` alone from opset 13, every axis from it on before
 * (the input was seen as a 2-D matrix). */
static int softmax_axes(weft_grad_ctx *c, int64_t *axes)
{
    int rank = c->in_shape[0].rank, a;
    bool v13 = c->node->opset >= 13;
    if (weft_axis(c->node, weft_attr_int(c->node, "axis", v13 ? -1 : 1), rank, false, &a)) {
        c->st = WEFT_ERR_INVALID_MODEL;
        return 0;
    }
    int n = 0;
    for (int k = a; k < (v13 ? a + 1 : rank); k++) axes[n++] = k;
    return n;
}

/* y = softmax(x): dx = y * (g - sum(g * y)) over the softmax axes. */
static weft_status grad_softmax(weft_grad_ctx *c)
{
    int64_t axes[WEFT_MAX_RANK];
    int n = softmax_axes(c, axes), g = weft_grad_dout(c, 0), y = c->out[0];
    int s = weft_grad_reduce_sum(c, weft_grad_op2(c, "Mul", g, y), axes, n, true);
    weft_grad_to(c, 0, weft_grad_op2(c, "Mul", y, weft_grad_op2(c, "Sub", g, s)));
    return c->st;
}

/* y = log softmax(x): dx = g - exp(y) * sum(g). */
static weft_status grad_logsoftmax(weft_grad_ctx *c)
{
    int64_t axes[WEFT_MAX_RANK];
    int n = softmax_axes(c, axes), g = weft_grad_dout(c, 0);
    int s = weft_grad_reduce_sum(c, g, axes, n, true);
    weft_grad_to(c, 0, weft_grad_op2(c, "Sub", g, weft_grad_op2(c, "Mul", weft_grad_op1(c, "Exp", c->out[0]), s)));
    return c->st;
}

/* y = x / |x|_p along `axis`, n = |x|_p: dx = (g - d * sum(g * y)) / n with d = y for p = 2 and
 * sign(x) for p = 1. Where the norm is 0 the kernel writes zeros whatever x is, and so does the
 * gradient (rather than the infinities of dividing by it). */
static weft_status grad_lpnorm(weft_grad_ctx *c)
{
    int axis = 0, p = 2;
    weft_status st = lp_params(c->node, c->in_shape[0].rank, &axis, &p);
    if (st) return c->st = st;
    int64_t ax = axis;
    int x = c->in[0], y = c->out[0], g = weft_grad_dout(c, 0);
    weft_attr kd = weft_grad_attr_int("keepdims", 1);
    int nin[2] = {x, weft_grad_i64s(c, &ax, 1)};
    int norm = weft_grad_op(c, p == 2 ? "ReduceL2" : "ReduceL1", nin, 2, &kd, 1);
    int s = weft_grad_reduce_sum(c, weft_grad_op2(c, "Mul", g, y), &ax, 1, true);
    int d = p == 2 ? y : weft_grad_op1(c, "Sign", x);
    int dx = weft_grad_op2(c, "Div", weft_grad_op2(c, "Sub", g, weft_grad_op2(c, "Mul", d, s)), norm);
    int zero = weft_grad_scalar(c, 0.0);
    int win[3] = {weft_grad_op2(c, "Equal", norm, zero), zero, dx};
    weft_grad_to(c, 0, weft_grad_op(c, "Where", win, 3, NULL, 0));
    return c->st;
}

/* --- the table ------------------------------------------------------------------------------------ */

const weft_op_def weft_ops_norm[] = {
    {"Softmax", "", 1, 0, 1, 1, 1, 1, 0, softmax_infer, run_softmax, 0, grad_softmax},
    {"LogSoftmax", "", 1, 0, 1, 1, 1, 1, 0, softmax_infer, run_logsoftmax, 0, grad_logsoftmax},
    {"Hardmax", "", 1, 0, 1, 1, 1, 1, 0, softmax_infer, run_hardmax},
    {"LpNormalization", "", 1, 0, 1, 1, 1, 1, 0, lpnorm_infer, lpnorm_run, 0, grad_lpnorm},
    {"LayerNormalization", "", 17, 0, 2, 3, 1, 3, 0, layernorm_infer, layernorm_run},
    {"RMSNormalization", "", 23, 0, 2, 2, 1, 1, 0, layernorm_infer, rmsnorm_run},
    {"InstanceNormalization", "", 1, 0, 3, 3, 1, 1, 0, instancenorm_infer, instancenorm_run},
    {"GroupNormalization", "", 18, 0, 3, 3, 1, 1, 0, groupnorm_infer, groupnorm_run},
    {"MeanVarianceNormalization", "", 1, 0, 1, 1, 1, 1, 0, mvn_infer, mvn_run},
    {"BatchNormalization", "", 1, 0, 5, 5, 1, 5, 0, batchnorm_infer, batchnorm_run},
};
const int weft_ops_norm_count = sizeof weft_ops_norm / sizeof weft_ops_norm[0];
