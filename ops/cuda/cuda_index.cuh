/*
 * ops/cuda/cuda_index.cuh — walking a flat element index over a tensor's dims on the device, shared by
 * the elementwise (eltwise.cu) and data-movement (movement.cu) kernels.
 *
 * Index arithmetic is the cost of a broadcast or strided kernel: a division per dim per element. Where
 * every index fits 31 bits the division is a multiply and a shift (Div32), set up once on the host;
 * larger tensors fall back to 64-bit division. Dim<uint32_t> / Dim<uint64_t> let one kernel template
 * serve both.
 */
#ifndef WEFT_OPS_CUDA_INDEX_CUH
#define WEFT_OPS_CUDA_INDEX_CUH

#include <stdint.h>

namespace {

/* Division of a 32-bit index below 2^31 by a fixed divisor d in [1, 2^31] with a multiply and a shift
 * (Granlund and Montgomery): s = ceil(log2 d), m = floor(2^32 (2^s - d) / d) + 1, and then
 * n / d = (umulhi(n, m) + n) >> s, where the sum stays below 2^32 because n < 2^31. */
struct Div32 {
    uint32_t d, m, s;
};

inline Div32 div32_make(int64_t d)
{
    if (d < 1) d = 1;
    uint32_t s = 0;
    while (s < 31 && ((int64_t)1 << s) < d) s++;
    uint64_t m = (((uint64_t)1 << 32) * (((uint64_t)1 << s) - (uint64_t)d)) / (uint64_t)d + 1;
    Div32 v = {(uint32_t)d, (uint32_t)m, s};
    return v;
}

__host__ __device__ __forceinline__ uint32_t div32(const Div32 &v, uint32_t n)
{
#ifdef __CUDA_ARCH__
    uint32_t hi = __umulhi(n, v.m);
#else
    uint32_t hi = (uint32_t)(((uint64_t)n * v.m) >> 32);
#endif
    return (hi + n) >> v.s;
}

/* A dim of an index walk, for 32-bit (multiply-shift) or 64-bit (plain) division. */
template <typename I> struct Dim;
template <> struct Dim<uint32_t> {
    Div32 v;
    void set(int64_t d) { v = div32_make(d); }
    __device__ __forceinline__ uint32_t div(uint32_t n) const { return div32(v, n); }
    __device__ __forceinline__ uint32_t size() const { return v.d; }
};
template <> struct Dim<uint64_t> {
    uint64_t d;
    void set(int64_t x) { d = (uint64_t)(x < 1 ? 1 : x); }
    __device__ __forceinline__ uint64_t div(uint64_t n) const { return n / d; }
    __device__ __forceinline__ uint64_t size() const { return d; }
};

} // namespace

#endif
