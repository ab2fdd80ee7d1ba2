/*
 * ops/weft_conv.h — ai.weft FusedConv's epilogue (schemas/ai.weft.md), shared by its reference kernel
 * (ops/weft_conv.c) and the backends that run the convolution themselves (ops/onednn/).
 */
#ifndef WEFT_OPS_WEFT_CONV_H
#define WEFT_OPS_WEFT_CONV_H

#include "op.h"

enum {
    WEFT_CONV_ACT_NONE,
    WEFT_CONV_ACT_RELU,
    WEFT_CONV_ACT_LEAKY_RELU,   /* alpha: the slope (default 0.01) */
    WEFT_CONV_ACT_CLIP,         /* alpha, beta: min and max (default -inf, +inf) */
    WEFT_CONV_ACT_SIGMOID,
    WEFT_CONV_ACT_HARD_SIGMOID, /* alpha * x + beta clamped to [0, 1] (default 0.2, 0.5) */
    WEFT_CONV_ACT_HARD_SWISH,
    WEFT_CONV_ACT_SILU,         /* x * sigmoid(x) */
};

typedef struct weft_conv_epilogue {
    int act;           /* WEFT_CONV_ACT_* */
    double alpha, beta; /* as float attributes, widened */
} weft_conv_epilogue;

/* Reads a FusedConv node's activation and its parameters; an unknown activation is
 * WEFT_ERR_INVALID_MODEL. */
weft_status weft_conv_epilogue_read(const weft_node_info *n, weft_conv_epilogue *e);
/* y[i] = act(y[i] + acc[i]) (acc may be NULL) for i < n, as the reference kernel computes it; dt is
 * float32 or float64. */
void weft_conv_epilogue_apply(const weft_conv_epilogue *e, weft_dtype dt, void *y, const void *acc, int64_t n);

#endif
