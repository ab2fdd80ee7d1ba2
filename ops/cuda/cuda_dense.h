/*
 * ops/cuda/cuda_dense.h — the part of a dense step's epilogue that cuBLASLt does not do exactly as the
 * reference does (ops/cuda/dense_epilogue.cu), launched by ops/cuda/dense.c after its matmuls.
 *
 * One pass over the output rows applies, in the reference's order (ops/dense/dense.h's parts):
 * Gemm's y = alpha * y + beta * C(i, j) (C broadcast through strides), + bias, the L2 row normalisation,
 * + acc, the activation. The arithmetic is ops/dense/dense.c's: Gemm's scaling in double rounded once,
 * bias and acc added in float, the norm's sum of squares in double with its root rounded to float, the
 * activation through ops/weft_fused.h in double rounded once.
 */
#ifndef WEFT_OPS_CUDA_DENSE_H
#define WEFT_OPS_CUDA_DENSE_H

#include <cuda_runtime_api.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the pass does, on float32 data in device memory. */
typedef struct weft_cuda_dense_epi {
    float *y;           /* rows x n, row-major */
    int64_t rows, n;
    unsigned parts;     /* WEFT_DENSE_EPI_* of ops/dense/dense.h */
    bool zero_in;       /* no product was computed (every K is 0): y is read as zeros, never loaded */
    /* WEFT_DENSE_EPI_C: y = alpha * y + beta * c[i * c_si + j * c_sj] (c NULL: y = alpha * y) */
    const float *c;
    int64_t c_si, c_sj;
    double alpha, beta;
    const float *bias;  /* WEFT_DENSE_EPI_BIAS: n elements */
    float eps;          /* WEFT_DENSE_EPI_NORM: y /= max(||row||_2, eps) */
    const float *acc;   /* WEFT_DENSE_EPI_ACC: rows x n */
    int act;            /* WEFT_DENSE_EPI_ACT: a WEFT_FUSED_* opcode, and its alpha */
    double act_alpha;
} weft_cuda_dense_epi;

/* Enqueues the pass on `stream` (nothing when rows or n is 0). The caller checks the launch with
 * weft_cuda_launched. */
void weft_cuda_dense_epilogue(const weft_cuda_dense_epi *e, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
