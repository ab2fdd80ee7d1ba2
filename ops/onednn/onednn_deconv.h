/*
 * ops/onednn/onednn_deconv.h — the `onednn` backend's ConvTranspose (ops/onednn/deconv.c), called by the
 * backend's table in ops/onednn/onednn.c.
 */
#ifndef WEFT_OPS_ONEDNN_DECONV_H
#define WEFT_OPS_ONEDNN_DECONV_H

#include "../backend.h"

/* ConvTranspose, float32, 1 to 3 spatial axes, weights of known shape. */
bool weft_dn_deconv_supports(const weft_step_desc *s);
weft_status weft_dn_deconv_prepare(const weft_step_desc *s, void **prepared);
weft_status weft_dn_deconv_reshape(const void *prepared, const weft_kernel_ctx *k, void **state);
weft_status weft_dn_deconv_run(const void *prepared, void *state, weft_kernel_ctx *k);
void weft_dn_deconv_release(void *prepared);
void weft_dn_deconv_release_state(void *state);

#endif
