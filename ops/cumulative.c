/*
 * ops/cumulative.c — cumulative products along an axis (CumProd), in the input type's own arithmetic.
 * Half precision is computed in float32 (ops/widen.c).
 */
#include "op.h"

static weft_status cumprod_infer(weft_infer_ctx *c)
{
    weft_dtype dt = c->in_dtype[0];
    if (!weft_dtype_is_float(dt) && dt != WEFT_INT32 && dt != WEFT_INT64 && dt != WEFT_UINT32 && dt != WEFT_UINT64)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported", weft_dtype_name(dt));
    weft_status st = weft_infer_need_index(c, 1, "axis");
    if (st) return st;
    if (c->in_shape[1].rank > 1 || (c->in_shape[1].rank == 1 && weft_dim_known(c->in_shape[1].d[0]) && c->in_shape[1].d[0].v != 1))
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "axis must hold one value");
    return weft_infer_same_as_input0(c);
}

/* Products along the axis in T's own arithmetic (integers wrap as the spec's types do; unsigned so no UB). */
#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data;                                                                   \
        T *y = k->out[0].data;                                                                        \
        for (int64_t o = 0; o < outer; o++)                                                           \
            for (int64_t i = 0; i < inner; i++) {                                                     \
                T acc = 1;                                                                            \
                for (int64_t s = 0; s < n; s++) {                                                     \
                    int64_t j = rev ? n - 1 - s : s;                                                  \
                    int64_t at = (o * n + j) * inner + i;                                             \
                    if (excl) { y[at] = acc; acc = mul_##T(acc, x[at]); }                             \
                    else { acc = mul_##T(acc, x[at]); y[at] = acc; }                                  \
                }                                                                                     \
            }                                                                                         \
    }
static inline float mul_float(float a, float b) { return a * b; }
static inline double mul_double(double a, double b) { return a * b; }
static inline int32_t mul_int32_t(int32_t a, int32_t b) { return (int32_t)((uint32_t)a * (uint32_t)b); }
static inline int64_t mul_int64_t(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
static inline uint32_t mul_uint32_t(uint32_t a, uint32_t b) { return a * b; }
static inline uint64_t mul_uint64_t(uint64_t a, uint64_t b) { return a * b; }
#define CUMPROD_TYPES(X)                                                                              \
    WEFT_TYPES_FLOAT(X) X(WEFT_INT64, int64_t) X(WEFT_INT32, int32_t) X(WEFT_UINT64, uint64_t) X(WEFT_UINT32, uint32_t)
static weft_status cumprod_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    const weft_tview *x = &k->in[0];
    if (k->in[1].numel != 1) return weft_op_error(k->node, WEFT_ERR_SHAPE, "axis must hold one value");
    int axis;
    int64_t a = weft_load_i64(k->in[1].dtype, k->in[1].data, 0);
    if (x->rank == 0) return weft_op_error(k->node, WEFT_ERR_SHAPE, "input must have rank >= 1");
    weft_status st = weft_axis(k->node, a, x->rank, false, &axis);
    if (st) return st;
    bool excl = weft_attr_int(k->node, "exclusive", 0) != 0, rev = weft_attr_int(k->node, "reverse", 0) != 0;
    int64_t outer = 1, inner = 1, n = x->dims[axis];
    for (int d = 0; d < axis; d++) outer *= x->dims[d];
    for (int d = axis + 1; d < x->rank; d++) inner *= x->dims[d];
    WEFT_DISPATCH(x->dtype, CUMPROD_TYPES, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY
static weft_status cumprod_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, cumprod_body); }

const weft_op_def weft_ops_cumulative[] = {
    {"CumProd", "", 26, 0, 2, 2, 1, 1, 0, cumprod_infer, cumprod_run},
};
const int weft_ops_cumulative_count = sizeof weft_ops_cumulative / sizeof weft_ops_cumulative[0];
