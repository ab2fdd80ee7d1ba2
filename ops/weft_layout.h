/*
 * ops/weft_layout.h — ai.weft ChannelsLast (ops/weft_layout.c): which ops it wraps and how its
 * channels-last shapes map to the wrapped op's channels-first ones. Shared by the pass that makes it
 * (compiler/pass_channels_last.c) and the backends that run it natively (ops/onednn/conv.c).
 */
#ifndef WEFT_OPS_WEFT_LAYOUT_H
#define WEFT_OPS_WEFT_LAYOUT_H

#include "op.h"

/* True when ChannelsLast can wrap `domain`'s op `op` ("" or "ai.onnx" for the default domain); its
 * activation inputs (bit i: input i is channels-last under the wrapper) in *act_inputs when not NULL. */
bool weft_layout_wraps(const char *domain, const char *op, unsigned *act_inputs);
/* The wrapped op of a ChannelsLast node: a node info naming it (the same attributes), its definition,
 * its channels-last inputs (the wrapped op's activation inputs, less input 0 under x_channels_first).
 * WEFT_ERR_INVALID_MODEL when the attributes name no op it can wrap. */
weft_status weft_layout_inner(const weft_node_info *n, weft_node_info *inner, const weft_op_def **def,
                              unsigned *act_inputs);
/* [N, D1..Dk, C] -> [N, C, D1..Dk] and back (ranks below 3 are left as they are). */
void weft_layout_shape_to_first(const weft_shape *last, weft_shape *first);
void weft_layout_shape_to_last(const weft_shape *first, weft_shape *last);
void weft_layout_dims_to_first(int rank, const int64_t *last, int64_t *first);

#endif
