/*
 * ops/window_transpose.h — the geometry of one spatial axis of ONNX ConvTranspose: the output size and
 * the leading pad from output_padding, output_shape, pads and auto_pad, as the spec computes them. Shared
 * by the reference kernel (ops/conv.c) and the onednn backend's deconvolution (ops/onednn/deconv.c).
 *
 * Only static helpers: each including file gets its own copy.
 */
#ifndef WEFT_OPS_WINDOW_TRANSPOSE_H
#define WEFT_OPS_WINDOW_TRANSPOSE_H

#include "window.h"

/*
 * Axis i of ConvTranspose node n with window w (win_read, the kernel from the weights) for an input of
 * size `in`: the output size (*out) and the pad removed before the output (*pb). Output position o
 * receives input position j through tap t when j * stride + t * dilation - *pb == o. The pad after the
 * output is what is left, (in - 1) * stride + span + output_padding - *pb - *out, and may be negative
 * (output_shape asking for more than the input covers: the extra positions get the bias alone).
 */
static inline weft_status win_transpose_axis(const weft_node_info *n, const win_geom *w, int i, int64_t in,
                                             int64_t *out, int64_t *pb)
{
    const int64_t *op, *os, *pads;
    int nop = weft_attr_ints(n, "output_padding", &op);
    int nos = weft_attr_ints(n, "output_shape", &os);
    int npads = weft_attr_ints(n, "pads", &pads);
    int nsp = w->nsp;
    if (nop >= 0 && nop != nsp && nop != 2 * nsp)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "output_padding has %d values for %d spatial axes", nop, nsp);
    int64_t opad = nop >= 0 ? op[i] : 0;
    if (opad < 0 || opad >= (w->s[i] > w->d[i] ? w->s[i] : w->d[i]))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL,
                             "output_padding[%d] = %lld must be smaller than the stride or the dilation", i,
                             (long long)opad);
    int64_t span = win_span(w, i);
    int64_t full = w->s[i] * (in - 1) + opad + span; /* output size before any padding is removed */
    if (in == 0) full = 0;
    int64_t target = -1;
    if (nos >= 0) {
        if (nos != nsp && nos != nsp + 2)
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "output_shape has %d values for %d spatial axes", nos, nsp);
        target = os[nos - nsp + i];
    } else if (w->auto_pad == WIN_SAME_UPPER || w->auto_pad == WIN_SAME_LOWER) {
        target = in * w->s[i];
    }
    if (target < 0 || (npads >= 0 && w->auto_pad == WIN_NOTSET && nos < 0)) {
        *pb = w->pb[i];
        *out = full - w->pb[i] - w->pe[i];
    } else if (npads >= 0 && w->auto_pad == WIN_NOTSET) {
        /* Both pads and output_shape: the pads place the output, output_shape sizes it. */
        *pb = w->pb[i];
        *out = target;
    } else {
        /* total < 0 when output_shape asks for more than the input covers: the extra lands at the end,
         * so halve with floor division (C's / truncates toward zero). */
        int64_t total = full - target;
        int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
        *pb = w->auto_pad == WIN_SAME_UPPER ? half : total - half;
        *out = target;
    }
    if (*out < 0)
        return weft_op_error(n, WEFT_ERR_SHAPE, "spatial axis %d: the output size %lld is negative", i,
                             (long long)*out);
    return WEFT_OK;
}

#endif
