/*
 * ops/onednn/onednn_bmm.h — the `onednn` backend's batched MatMul (ops/onednn/bmm.c), called by the
 * backend's table in ops/onednn/onednn.c.
 */
#ifndef WEFT_OPS_ONEDNN_BMM_H
#define WEFT_OPS_ONEDNN_BMM_H

#include "../backend.h"

/* ONNX MatMul, float32, A of rank >= 2 and B of rank >= 3 (at most 12). */
bool weft_dn_bmm_supports(const weft_step_desc *s);
weft_status weft_dn_bmm_prepare(const weft_step_desc *s, void **prepared);
weft_status weft_dn_bmm_reshape(const void *prepared, const weft_kernel_ctx *k, void **state);
weft_status weft_dn_bmm_run(const void *prepared, void *state, weft_kernel_ctx *k);
void weft_dn_bmm_release(void *prepared);
void weft_dn_bmm_release_state(void *state);

#endif
