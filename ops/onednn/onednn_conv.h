/*
 * ops/onednn/onednn_conv.h — the `onednn` backend's convolution, pooling and batch-norm steps
 * (ops/onednn/conv.c), called by the backend's table in ops/onednn/onednn.c.
 */
#ifndef WEFT_OPS_ONEDNN_CONV_H
#define WEFT_OPS_ONEDNN_CONV_H

#include "../backend.h"

/* Conv and ai.weft FusedConv (1-D to 3-D), MaxPool without Indices, AveragePool, GlobalAveragePool,
 * GlobalMaxPool, BatchNormalization (inference): float32 with known ranks. */
bool weft_dn_conv_supports(const weft_step_desc *s);
weft_status weft_dn_conv_prepare(const weft_step_desc *s, void **prepared);
weft_status weft_dn_conv_reshape(const void *prepared, const weft_kernel_ctx *k, void **state);
weft_status weft_dn_conv_run(const void *prepared, void *state, weft_kernel_ctx *k);
void weft_dn_conv_release(void *prepared);
void weft_dn_conv_release_state(void *state);

#endif
