/*
 * ops/norm.h — what the normalisation kernels share with the backends (ops/norm.c).
 */
#ifndef WEFT_OPS_NORM_H
#define WEFT_OPS_NORM_H

#include "op.h"

/* BatchNormalization (inference) as y = x * a[c] + b[c]: a = scale / sqrt(var + epsilon) and
 * b = B - mean * a for the n channels, in double, from the node's inputs 1..4 (scale, B, mean, var, of
 * any float type) and its epsilon. The reference kernel and the backends compute the same numbers. */
void weft_batchnorm_coefficients(const weft_kernel_ctx *k, int64_t n, double *a, double *b);

#endif
