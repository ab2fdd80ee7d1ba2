/*
 * ops/cuda/dense_epilogue.cu — the epilogue pass of the cuda backend's dense steps (cuda_dense.h): what
 * follows the cuBLASLt products and is not one of cuBLASLt's exact epilogues.
 *
 * Without the row normalisation every element is independent: one grid-stride loop over rows x n.
 * With it, one warp owns a row: it applies the parts before the norm while summing the squares (in
 * double, per lane in column order, then a fixed shuffle tree read from lane 0, so every run and every
 * lane gets the same bits), then divides and applies the parts after the norm. A warp per row suits the
 * widths of graph layers (tens to hundreds of features); wider rows are correct, only less parallel.
 *
 * The arithmetic follows ops/dense/dense.c (the CPU backends' epilogue) and the reference kernel
 * (ops/weft_dense.c) operation for operation; the build compiles device code with -fmad=false, so no
 * multiply-add is contracted behind the formulas' back. The activations are ops/weft_fused.h's
 * formulas, evaluated in double and rounded once as the reference does.
 */
#include "../dense/dense.h"
#include "cuda_backend.h"
#include "cuda_dense.h"

namespace {

constexpr int kThreads = 256; /* a multiple of the warp size: the row kernel counts whole warps */

/* Gemm's scaling and C, then the bias: what comes before the norm. */
__device__ __forceinline__ float before_norm(const weft_cuda_dense_epi &e, int64_t i, int64_t j, float y)
{
    if (e.parts & WEFT_DENSE_EPI_C) {
        double v = e.alpha * (double)y;
        if (e.c) v += e.beta * (double)e.c[i * e.c_si + j * e.c_sj];
        y = (float)v;
    }
    if ((e.parts & WEFT_DENSE_EPI_BIAS) && e.bias) y = y + e.bias[j];
    return y;
}

/* + acc, then the activation: what comes after the norm. */
__device__ __forceinline__ float after_norm(const weft_cuda_dense_epi &e, int64_t i, int64_t j, float y)
{
    if ((e.parts & WEFT_DENSE_EPI_ACC) && e.acc) y = y + e.acc[i * e.n + j];
    if ((e.parts & WEFT_DENSE_EPI_ACT) && e.act != WEFT_FUSED_IDENTITY)
        y = (float)weft_fused_unary(e.act, (double)y, e.act_alpha);
    return y;
}

__global__ void __launch_bounds__(kThreads) epilogue_elementwise(weft_cuda_dense_epi e)
{
    const int64_t total = e.rows * e.n;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        const int64_t i = t / e.n, j = t - i * e.n;
        float y = e.zero_in ? 0.0f : e.y[t];
        y = before_norm(e, i, j, y);
        e.y[t] = after_norm(e, i, j, y);
    }
}

__global__ void __launch_bounds__(kThreads) epilogue_rows_norm(weft_cuda_dense_epi e)
{
    const unsigned full = 0xffffffffu;
    const int lane = (int)(threadIdx.x & 31);
    /* the loop over rows is uniform across a warp (i depends on the warp only), so every lane reaches
     * the shuffles together */
    const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t i = warp; i < e.rows; i += warps) {
        float *y = e.y + i * e.n;
        double ss = 0;
        for (int64_t j = lane; j < e.n; j += 32) {
            const float v = before_norm(e, i, j, e.zero_in ? 0.0f : y[j]);
            y[j] = v;
            ss += (double)v * (double)v;
        }
        for (int off = 16; off > 0; off >>= 1) ss += __shfl_down_sync(full, ss, off);
        ss = __shfl_sync(full, ss, 0);
        /* as ReduceL2 -> Clip(min = eps) -> Div: the root rounded to float, clamped in float (NaN stays) */
        const float nrm = (float)sqrt(ss), eps = e.eps;
        const float den = nrm < eps ? eps : nrm;
        for (int64_t j = lane; j < e.n; j += 32) y[j] = after_norm(e, i, j, y[j] / den);
    }
}

} // namespace

extern "C" void weft_cuda_dense_epilogue(const weft_cuda_dense_epi *e, cudaStream_t stream)
{
    if (e->rows <= 0 || e->n <= 0) return;
    if (e->parts & WEFT_DENSE_EPI_NORM)
        epilogue_rows_norm<<<weft_cuda_grid(e->rows * 32, kThreads), kThreads, 0, stream>>>(*e);
    else
        epilogue_elementwise<<<weft_cuda_grid(e->rows * e->n, kThreads), kThreads, 0, stream>>>(*e);
}
