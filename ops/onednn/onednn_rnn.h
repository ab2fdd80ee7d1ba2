/*
 * ops/onednn/onednn_rnn.h — the `onednn` backend's recurrent steps (ops/onednn/rnn.c): ONNX LSTM and GRU
 * as oneDNN RNN primitives, called by the backend's table in ops/onednn/onednn.c.
 */
#ifndef WEFT_OPS_ONEDNN_RNN_H
#define WEFT_OPS_ONEDNN_RNN_H

#include "../backend.h"

/* LSTM and GRU (default domain), float32, with X, W and R of rank 3. What oneDNN cannot compute (other
 * activations, clip, peepholes, input_forget, shorter sequence_lens) runs the reference kernel. */
bool weft_dn_rnn_supports(const weft_step_desc *s);
weft_status weft_dn_rnn_prepare(const weft_step_desc *s, void **prepared);
weft_status weft_dn_rnn_reshape(const void *prepared, const weft_kernel_ctx *k, void **state);
weft_status weft_dn_rnn_run(const void *prepared, void *state, weft_kernel_ctx *k);
void weft_dn_rnn_release(void *prepared);
void weft_dn_rnn_release_state(void *state);

#endif
