/*
 * ops/cuda/cuda_bcast.cuh — numpy broadcasting of a few operands onto an output: the walk planned once
 * on the host (at reshape) and followed on the device, for elementwise kernels of any element types.
 *
 * The plan is ops/binary.c's: output axes of size 1 are dropped and neighbouring axes that every operand
 * reads as one axis (contiguously, or broadcast along both) are merged, so that a row broadcast over a
 * matrix is two axes whatever the ranks were. A kernel then splits the output's flat index over the
 * walk's dims (cuda_index.cuh's Dim: 32-bit multiply-shift division when the output has fewer than
 * 2^31 elements) and adds up each operand's strides, which travel by value in the kernel's parameters.
 * Operands of the output's element count (read at the output's index) and single elements need no walk:
 * bcast_kind tells them apart, so that the common cases skip the division altogether.
 */
#ifndef WEFT_OPS_CUDA_BCAST_CUH
#define WEFT_OPS_CUDA_BCAST_CUH

#include <stdint.h>

#include "cuda_backend.h"
#include "cuda_index.cuh"

namespace {

constexpr int kBcastRank = WEFT_MAX_RANK;

/* How an operand meets the output: element for element, one element, or through the walk. */
enum { BCAST_DIRECT = 0, BCAST_SCALAR = 1, BCAST_WALK = 2 };

inline int bcast_kind(const weft_tview *t, const weft_tview *out)
{
    if (t->numel == out->numel) return BCAST_DIRECT; /* broadcastable and as large: the output's layout */
    if (t->numel == 1) return BCAST_SCALAR;
    return BCAST_WALK;
}

/* Every operand must broadcast to the output (infer checked it with dims that may have been symbols).
 * `first` is the input index of in[0], for the message. */
inline weft_status bcast_check(const weft_node_info *node, const weft_tview *const *in, int n, int first,
                               const weft_tview *out)
{
    for (int k = 0; k < n; k++) {
        const weft_tview *x = in[k];
        if (x->rank > out->rank)
            return weft_op_error(node, WEFT_ERR_SHAPE, "input %d has rank %d, the output %d", first + k, x->rank,
                                 out->rank);
        for (int d = 0; d < x->rank; d++) {
            const int64_t v = x->dims[d], o = out->dims[d + out->rank - x->rank];
            if (v != o && v != 1)
                return weft_op_error(node, WEFT_ERR_SHAPE, "input %d: dimension %d is %lld, the output's %lld",
                                     first + k, d, (long long)v, (long long)o);
        }
    }
    return WEFT_OK;
}

/* Flat offsets of every operand fit 32 bits: each operand broadcasts to the output, so none has more
 * elements than the output. */
inline bool bcast_small(int64_t n) { return n < ((int64_t)1 << 31); }

/* The walk over the output's dims: at least one axis. */
struct BcastWalk {
    int rank;
    int64_t dims[kBcastRank];
};

/* Makes the walk for n operands; st[k * kBcastRank + a] is operand k's stride along walk axis a (0 where
 * it is broadcast). Any n: each operand's strides are worked out when they are needed. */
inline void bcast_walk_make(const weft_tview *out, const weft_tview *const *in, int n, BcastWalk *w, int64_t *st)
{
    const int R = out->rank;
    int64_t full[kBcastRank];
    w->rank = 0;
    for (int a = 0; a < R; a++) {
        if (out->dims[a] == 1) continue;
        bool merge = w->rank > 0;
        const int last = w->rank - 1;
        for (int k = 0; k < n && merge; k++) {
            weft_broadcast_strides(in[k]->dims, in[k]->rank, out->dims, R, full);
            if (st[k * kBcastRank + last] != full[a] * out->dims[a]) merge = false;
        }
        const int at = merge ? last : w->rank;
        if (merge) w->dims[last] *= out->dims[a];
        else w->dims[w->rank++] = out->dims[a];
        for (int k = 0; k < n; k++) {
            weft_broadcast_strides(in[k]->dims, in[k]->rank, out->dims, R, full);
            st[k * kBcastRank + at] = full[a];
        }
    }
    if (w->rank == 0) { /* a single element */
        w->rank = 1;
        w->dims[0] = 1;
        for (int k = 0; k < n; k++) st[k * kBcastRank] = 0;
    }
}

/* The walk as a kernel reads it, for N operands with index type I (uint32_t or uint64_t). */
template <typename I, int N> struct BcastIdx {
    int rank;
    Dim<I> dim[kBcastRank];
    I st[N][kBcastRank];
};

/* Fills idx from a walk made for at least N operands (axes past the rank: size 1, stride 0). */
template <typename I, int N> void bcast_idx_fill(BcastIdx<I, N> *idx, const BcastWalk &w, const int64_t *st)
{
    idx->rank = w.rank;
    for (int d = 0; d < kBcastRank; d++) {
        idx->dim[d].set(d < w.rank ? w.dims[d] : 1);
        for (int k = 0; k < N; k++) idx->st[k][d] = d < w.rank ? (I)st[k * kBcastRank + d] : 0;
    }
}

/* Splits output element i over dims[0..rank) (innermost last) into c[], for kernels whose strides do
 * not fit their parameters (one split, then a dot product per operand). Unrolled over kBcastRank so
 * that dims read from a kernel parameter are addressed with constant indices. */
template <typename I>
__device__ __forceinline__ void bcast_split(const Dim<I> *dim, int rank, I i, I (&c)[kBcastRank])
{
#pragma unroll
    for (int d = kBcastRank - 1; d >= 0; d--) {
        if (d < rank) {
            if (d == 0) {
                c[0] = i;
            } else {
                const I q = dim[d].div(i);
                c[d] = i - q * dim[d].size();
                i = q;
            }
        } else {
            c[d] = 0;
        }
    }
}

/* The offsets in each of the first M (<= N) operands of output element i. Unrolled over kBcastRank so
 * that the dims, read from a kernel parameter, are addressed with constant indices. */
template <int M, typename I, int N>
__device__ __forceinline__ void bcast_offsets(const BcastIdx<I, N> &w, I i, I (&off)[M])
{
    static_assert(M <= N, "more offsets than the walk has operands");
#pragma unroll
    for (int k = 0; k < M; k++) off[k] = 0;
#pragma unroll
    for (int d = kBcastRank - 1; d >= 0; d--) {
        if (d < w.rank) {
            I c = i;
            if (d > 0) {
                const I q = w.dim[d].div(i);
                c = i - q * w.dim[d].size();
                i = q;
            }
#pragma unroll
            for (int k = 0; k < M; k++) off[k] += c * w.st[k][d];
        }
    }
}

} // namespace

#endif
