/*
 * ops/det.c — determinants of square matrices (Det), by Gaussian elimination with partial pivoting in
 * double. Half precision is computed in float32 (ops/widen.c).
 */
#include <math.h>

#include "op.h"

static weft_status det_infer(weft_infer_ctx *c)
{
    weft_status st = weft_infer_need_float(c, 0);
    if (st) return st;
    const weft_shape *x = &c->in_shape[0];
    c->out_dtype[0] = c->in_dtype[0];
    if (x->rank < 0) { c->out_shape[0].rank = -1; return WEFT_OK; }
    if (x->rank < 2) return weft_op_error(c->node, WEFT_ERR_SHAPE, "input must have rank >= 2 ([..., M, M])");
    weft_dim a = x->d[x->rank - 2], b = x->d[x->rank - 1];
    if (weft_dim_known(a) && weft_dim_known(b) && a.v != b.v)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "matrices must be square (got %lld x %lld)", (long long)a.v, (long long)b.v);
    c->out_shape[0].rank = x->rank - 2;
    for (int d = 0; d < x->rank - 2; d++) c->out_shape[0].d[d] = x->d[d];
    return WEFT_OK;
}

/* Gaussian elimination with partial pivoting in double (scratch: one M x M matrix). */
#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data;                                                                   \
        T *y = k->out[0].data;                                                                        \
        for (int64_t b = 0; b < batch; b++) {                                                         \
            for (int64_t i = 0; i < M * M; i++) a[i] = (double)x[b * M * M + i];                      \
            double det = 1;                                                                           \
            for (int64_t col = 0; col < M && det != 0; col++) {                                       \
                int64_t piv = col;                                                                    \
                for (int64_t r = col + 1; r < M; r++)                                                 \
                    if (fabs(a[r * M + col]) > fabs(a[piv * M + col])) piv = r;                       \
                if (a[piv * M + col] == 0) { det = 0; break; }                                        \
                if (piv != col) {                                                                     \
                    for (int64_t q = 0; q < M; q++) {                                                 \
                        double t = a[col * M + q]; a[col * M + q] = a[piv * M + q]; a[piv * M + q] = t; \
                    }                                                                                 \
                    det = -det;                                                                       \
                }                                                                                     \
                det *= a[col * M + col];                                                              \
                for (int64_t r = col + 1; r < M; r++) {                                               \
                    double f = a[r * M + col] / a[col * M + col];                                     \
                    for (int64_t q = col; q < M; q++) a[r * M + q] -= f * a[col * M + q];             \
                }                                                                                     \
            }                                                                                         \
            y[b] = (T)det;                                                                            \
        }                                                                                             \
    }
static weft_status det_body(weft_kernel_ctx *k, void *scratch)
{
    const weft_tview *x = &k->in[0];
    int64_t M = x->dims[x->rank - 1], batch = k->out[0].numel;
    double *a = scratch;
    if (M == 0) {
        for (int64_t b = 0; b < batch; b++) weft_store_f64(k->out[0].dtype, k->out[0].data, b, 1.0);
        return WEFT_OK;
    }
    WEFT_DISPATCH(x->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY
static weft_status det_run(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    int64_t M = x->dims[x->rank - 1];
    if (x->dims[x->rank - 2] != M) return weft_op_error(k->node, WEFT_ERR_SHAPE, "matrices must be square");
    if (M > ((int64_t)1 << 14)) return weft_op_error(k->node, WEFT_ERR_SHAPE, "matrix of size %lld is too large", (long long)M);
    return weft_math_run_widened(k, (size_t)(M * M + 1) * sizeof(double), det_body);
}

const weft_op_def weft_ops_det[] = {
    {"Det", "", 11, 0, 1, 1, 1, 1, 0, det_infer, det_run},
};
const int weft_ops_det_count = sizeof weft_ops_det / sizeof weft_ops_det[0];
