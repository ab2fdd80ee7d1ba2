/*
 * ops/binarizer.c — ai.onnx.ml Binarizer: 1 where x > threshold, else 0, in the input's dtype. Half
 * precision is computed in float32 (ops/widen.c).
 */
#include "op.h"

static weft_status binarizer_infer(weft_infer_ctx *c)
{
    weft_dtype dt = c->in_dtype[0];
    if (!weft_dtype_is_float(dt) && dt != WEFT_INT32 && dt != WEFT_INT64)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported", weft_dtype_name(dt));
    return weft_infer_same_as_input0(c);
}

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data;                                                                   \
        T *y = k->out[0].data;                                                                        \
        for (int64_t i = 0; i < k->in[0].numel; i++) y[i] = (T)((double)x[i] > th ? 1 : 0);           \
    }
static weft_status binarizer_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    double th = weft_attr_float(k->node, "threshold", 0.0f);
#define BIN_TYPES(X) WEFT_TYPES_FLOAT(X) X(WEFT_INT64, int64_t) X(WEFT_INT32, int32_t)
    WEFT_DISPATCH(k->in[0].dtype, BIN_TYPES, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY
static weft_status binarizer_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, binarizer_body); }

const weft_op_def weft_ops_binarizer[] = {
    {"Binarizer", "ai.onnx.ml", 1, 0, 1, 1, 1, 1, 0, binarizer_infer, binarizer_run},
};
const int weft_ops_binarizer_count = sizeof weft_ops_binarizer / sizeof weft_ops_binarizer[0];
