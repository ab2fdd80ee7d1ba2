/*
 * ops/movement.h — shared pieces of the data-movement family (ops/movement*.c).
 *
 * The family's one exported table, weft_ops_movement, lives in ops/movement.c; the ops that copy
 * through index maps (ops/movement_copy.c) expose their infer/run functions here so the table can name
 * them. Every kernel here moves elements by weft_dtype_size(), so it serves every fixed-size dtype.
 */
#ifndef WEFT_OPS_MOVEMENT_H
#define WEFT_OPS_MOVEMENT_H

#include "op.h"

/* Views with up to twice the tensor rank (Tile pairs each axis with its repeat count). */
#define WEFT_MOVEMENT_MAX_AXES (2 * WEFT_MAX_RANK)

/* dst (dense, row-major over dims[0..rank)) <- src read at element offset soff + sum(idx[a]*sstride[a]).
 * Strides are in elements and may be zero or negative; the caller guarantees every read is in bounds. */
void weft_movement_copy_strided(void *dst, const void *src, size_t esz, int rank, const int64_t *dims,
                                const int64_t *sstrides, int64_t soff);

/* Reads integer input i (int32 or int64, at most `max` elements) of a kernel into out; sets *n. */
weft_status weft_movement_kernel_ints(const weft_kernel_ctx *k, int i, int64_t *out, int max, int *n);

/* weft_infer_int_values, but a zero-element input counts as known (0 values) even without data. */
int weft_movement_infer_ints(weft_infer_ctx *c, int i, int64_t *out, int max);

/* Slice's read of its input for the output's dims (attributes before opset 10, inputs 1..4 after:
 * those are host inputs on every backend): the element offset of the first element read and each
 * axis's stride, in elements (negative for a negative step). Checks the lists and the output's dims. */
weft_status weft_movement_slice_view(const weft_kernel_ctx *k, int64_t *off, int64_t *strides);
/* ConstantOfShape's fill value: its dtype and one element (float32 0 when the attribute is absent). */
weft_status weft_movement_constant_value(const weft_node_info *n, weft_dtype *dt, const void **val);
/* a * b into *out, false on int64 overflow or a negative operand. */
bool weft_movement_mul(int64_t a, int64_t b, int64_t *out);

/* A dim that is a * known factor b: a number when a is known, a fresh symbol otherwise (or a itself
 * when b == 1). Sets a WEFT_ERR_SHAPE error and returns false on overflow. */
bool weft_movement_dim_mul(weft_infer_ctx *c, weft_dim a, int64_t b, weft_dim *out);

/* Reshape's -1 at out->d[skip] from the input's dims and the output's others, which may be symbolic:
 * the common symbolic dims cancel and what is left must be a number or one symbolic dim. False when
 * it cannot be told (the value of out->d[skip] is not read). */
bool weft_movement_reshape_minus1(const weft_shape *in, const weft_shape *out, int skip, weft_dim *d);

/* After infer set output o: its byte size, when known, must fit int64 (value-made shapes such as
 * Range's or Tile's can be absurd). Returns WEFT_ERR_SHAPE with a message otherwise. */
weft_status weft_movement_check_bytes(weft_infer_ctx *c, int o);

#define WEFT_MOVEMENT_DECL(op)                                                                     \
    weft_status weft_movement_infer_##op(weft_infer_ctx *c);                                       \
    weft_status weft_movement_run_##op(weft_kernel_ctx *k);
WEFT_MOVEMENT_DECL(transpose)
WEFT_MOVEMENT_DECL(concat)
WEFT_MOVEMENT_DECL(split)
WEFT_MOVEMENT_DECL(slice)
WEFT_MOVEMENT_DECL(tile)
WEFT_MOVEMENT_DECL(expand)
WEFT_MOVEMENT_DECL(pad)
WEFT_MOVEMENT_DECL(depth_to_space)
WEFT_MOVEMENT_DECL(space_to_depth)
WEFT_MOVEMENT_DECL(compress)
#undef WEFT_MOVEMENT_DECL

#endif
