/*
 * ops/lrn.c — local response normalisation across channels (LRN), accumulated in double. Half
 * precision is computed in float32 (ops/widen.c).
 */
#include <math.h>

#include "op.h"

static weft_status lrn_infer(weft_infer_ctx *c)
{
    weft_status st = weft_infer_need_float(c, 0);
    if (st) return st;
    int64_t size = weft_attr_int(c->node, "size", 0);
    if (size < 1) return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "attribute size must be >= 1");
    if (c->in_shape[0].rank >= 0 && c->in_shape[0].rank < 2)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input must have rank >= 2 ([N, C, ...])");
    return weft_infer_same_as_input0(c);
}

/* y = x / (bias + alpha / size * sum of x^2 over channels [c - floor((size-1)/2), c + ceil((size-1)/2)]) ^ beta */
#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data;                                                                   \
        T *y = k->out[0].data;                                                                        \
        for (int64_t b = 0; b < N; b++)                                                               \
            for (int64_t ch = 0; ch < C; ch++)                                                        \
                for (int64_t i = 0; i < inner; i++) {                                                 \
                    int64_t lo = ch - lo_w < 0 ? 0 : ch - lo_w, hi = ch + hi_w >= C ? C - 1 : ch + hi_w; \
                    double sq = 0;                                                                    \
                    for (int64_t q = lo; q <= hi; q++) {                                              \
                        double v = x[(b * C + q) * inner + i];                                        \
                        sq += v * v;                                                                  \
                    }                                                                                 \
                    int64_t at = (b * C + ch) * inner + i;                                            \
                    y[at] = (T)((double)x[at] / pow(bias + alpha / (double)size * sq, beta));         \
                }                                                                                     \
    }
static weft_status lrn_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    const weft_tview *xv = &k->in[0];
    int64_t size = weft_attr_int(k->node, "size", 1);
    double alpha = weft_attr_float(k->node, "alpha", 1e-4f), beta = weft_attr_float(k->node, "beta", 0.75f);
    double bias = weft_attr_float(k->node, "bias", 1.0f);
    int64_t lo_w = (size - 1) / 2, hi_w = size / 2; /* floor and ceil of (size - 1) / 2 */
    int64_t N = xv->dims[0], C = xv->dims[1], inner = 1;
    for (int d = 2; d < xv->rank; d++) inner *= xv->dims[d];
    WEFT_DISPATCH(xv->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY
static weft_status lrn_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, lrn_body); }

const weft_op_def weft_ops_lrn[] = {
    {"LRN", "", 1, 0, 1, 1, 1, 1, 0, lrn_infer, lrn_run},
};
const int weft_ops_lrn_count = sizeof weft_ops_lrn / sizeof weft_ops_lrn[0];
