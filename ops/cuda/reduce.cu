/*
 * ops/cuda/reduce.cu — the ONNX reductions on the device, float32 data:
 *   ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceSumSquare, ReduceL1, ReduceL2,
 *   ReduceLogSum, ReduceLogSumExp in every opset form the reference (ops/reduce.c) takes: axes as an
 *   attribute, or (from opset 13 for ReduceSum, 18 for the others) as a second input, which must then be
 *   a constant (the reduced axes decide the kernel; axes known only at run time stay with the host
 *   backends); keepdims, noop_with_empty_axes, negative axes, any rank;
 *   ArgMax, ArgMin (int64 indices), with select_last_index.
 * Anything the reference would refuse (repeated or out-of-range axes, an axes attribute where an input is
 * due, flags other than 0 / 1) is declined, so the reference reports it.
 *
 * Values, as the reference computes them:
 *   - Sum, Mean, SumSquare, L1, L2, LogSum, and LogSumExp's sum of exp(x - max) accumulate in double, and
 *     so does Prod's product; each result is rounded once to float after its last operation (divided by
 *     the count, sqrt, log, max + log). The terms meet in another order than the reference's sequential
 *     one (each lane sums its elements in index order, then the lanes' sums meet in a butterfly of warp
 *     shuffles, and chunks of a split reduction meet in chunk order): a sum in double of the same terms,
 *     so float results nearly always equal the reference's and otherwise differ in the last bit. The
 *     order is fixed by the sizes alone (never by the device or timing): the same bits on every run.
 *     (A product whose partial products leave double's range, beyond 1e308 or below 1e-308, can end
 *     otherwise than the reference's running product: inf or 0 where the order of the factors matters.
 *     A NaN these produce has the device's bits, not the input's.)
 *   - Max, Min, ArgMax, ArgMin select an element exactly as the reference's sequential scan does: the
 *     first NaN wins, else the largest (smallest), equal values going to the first index (the last with
 *     select_last_index). Every partial result carries its index, so that the order in which partials
 *     meet does not matter: Max over -0 and +0 gives the bits of the first of them, as the reference does.
 *   - LogSumExp takes the maximum m first (NaN wins); m infinite or NaN is the result itself (as the
 *     reference: +inf, -inf, NaN), else m + log(sum of exp(x - m)).
 *   - An empty reduction (a reduced axis of size 0, other outputs left) gives the reference's values:
 *     0 for Sum, SumSquare, L1, L2; NaN for Mean; 1 for Prod; -inf for Max, LogSum, LogSumExp; +inf for
 *     Min. ArgMax / ArgMin along an empty axis fail, as the reference does.
 *   - Empty axes with noop_with_empty_axes copy the input for Sum, Mean, Max, Min, Prod, LogSumExp and map
 *     each element for L1, L2, SumSquare, LogSum (the reference's one-element reductions).
 *
 * Work. At reshape the input's dims are seen without their size-1 axes and with neighbouring axes of the
 * same kind (reduced or kept) merged. One run of reduced axes gives an [outer, n, inner] input:
 *   - inner = 1 (a row reduction): a team per row, 4 to 32 lanes of a warp for rows of up to GROUP_MAX
 *     items and a block beyond, float4 loads where rows are whole float4s;
 *   - inner > 1: one thread per (outer, inner) column, neighbouring threads on neighbouring columns so
 *     that loads coalesce, each walking its column in order (so are rows of up to THREAD_ROW_MAX).
 * Few long reductions are split into chunks (a block per chunk of a row, a thread per chunk of a column)
 * whose partial results go to device scratch allocated at reshape; one more kernel combines each
 * reduction's chunks in a fixed order, a team per reduction (LogSumExp combines the chunks' maxima first,
 * then sums exp(x - max) over the chunks again). Reducing everything is a row reduction of one row, split.
 * Reduced axes that are not one run go through the input's index split over the kept and the reduced dims
 * (cuda_index.cuh's multiply-shift division where every index fits 31 bits): a team per output over its
 * reduced elements (split like rows), or, when the innermost axis is kept and outputs are many, a thread
 * per output with neighbouring threads on neighbouring elements. Offsets are 64-bit. Zero-size outputs
 * launch nothing; empty reductions launch one fill.
 */
#include "cuda_backend.h"
#include "cuda_index.cuh"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
extern const weft_cuda_op weft_cuda_op_reduce;
extern const weft_cuda_op weft_cuda_op_arg_reduce;
}

namespace {

constexpr int kThreads = 256;
constexpr int kMaxRank = WEFT_MAX_RANK;
constexpr unsigned FULL = 0xffffffffu;
constexpr int64_t GROUP_MAX = 2048;      /* a reduction of up to this many items gets lanes of a warp, else a block */
constexpr int64_t ROW_CHUNK = 4096;      /* elements a block reduces at least, when a row is split */
constexpr int64_t ROW_SPLIT_ROWS = 512;  /* fewer rows than this are split when long */
constexpr int64_t ROW_UNITS = 1024;      /* blocks a split row reduction aims at */
constexpr int64_t COL_CHUNK = 64;        /* elements a thread reduces at least, when a column is split */
constexpr int64_t COL_THREADS = 131072;  /* threads a split column reduction aims at */
constexpr int64_t GEN_COLS_MIN = 4096;   /* outputs from which a thread per output beats a team per output */
constexpr int64_t THREAD_ROW_MAX = 4;    /* rows this short get a thread each (a team would idle most lanes) */

enum Kind {
    K_SUM, K_MEAN, K_MAX, K_MIN, K_PROD, K_L1, K_L2, K_LOGSUM, K_LOGSUMEXP, K_SUMSQ, K_ARGMAX, K_ARGMIN
};
const char *const kind_names[] = {"ReduceSum", "ReduceMean", "ReduceMax",    "ReduceMin",       "ReduceProd",
                                  "ReduceL1",  "ReduceL2",   "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
                                  "ArgMax",    "ArgMin"};

/* What a kernel computes. */
struct RedP {
    int kind;
    bool ext;   /* a selection (Max, Min, ArgMax, ArgMin, and LogSumExp's maximum) */
    bool mx;    /* selecting the largest */
    bool last;  /* equal values go to the last index (ArgMax / ArgMin's select_last_index) */
    bool arg;   /* the output is the selected index (int64) */
    int64_t n;  /* elements per reduction */
};

/* A selected element and its index within its reduction. */
struct Ext {
    float v;
    long long i;
};

/* --- the arithmetic -------------------------------------------------------------------------------- */

/* The selection's identity: loses to every element (its index loses every tie). */
__device__ __forceinline__ Ext ext_id(const RedP &p)
{
    Ext e;
    e.v = p.mx ? -INFINITY : INFINITY;
    e.i = p.last ? -1 : INT64_MAX;
    return e;
}

/* Whether b is selected over a: the NaN of lowest index, else the larger (smaller), else the tie rule.
 * The choice depends on the two values and indices only, not on which comes first, so partial results
 * may meet in any order (and both lanes of a butterfly step pick the same). */
__device__ __forceinline__ bool ext_wins(const Ext &a, const Ext &b, const RedP &p)
{
    const bool an = a.v != a.v, bn = b.v != b.v;
    if (an || bn) return an && bn ? b.i < a.i : bn;
    if (b.v == a.v) return p.last ? b.i > a.i : b.i < a.i;
    return p.mx ? b.v > a.v : b.v < a.v;
}

__device__ __forceinline__ Ext ext_comb(const Ext &a, const Ext &b, const RedP &p) { return ext_wins(a, b, p) ? b : a; }

__device__ __forceinline__ Ext ext_of(float v, int64_t j)
{
    Ext e;
    e.v = v;
    e.i = (long long)j;
    return e;
}

__device__ __forceinline__ double d_id(int kind) { return kind == K_PROD ? 1.0 : 0.0; }

/* Folds element v into the running value s in double, as the reference does (m: LogSumExp's maximum). */
__device__ __forceinline__ void d_add(double &s, int kind, float v, float m)
{
    const double d = (double)v;
    switch (kind) {
    case K_PROD: s *= d; break;
    case K_L1: s += fabs(d); break;
    case K_L2:
    case K_SUMSQ: s += d * d; break;
    case K_LOGSUMEXP: s += exp(d - (double)m); break;
    default: s += d; break;
    }
}

__device__ __forceinline__ double d_comb(int kind, double a, double b) { return kind == K_PROD ? a * b : a + b; }

/* The reduction's last operation, rounded once to float (m: LogSumExp's maximum). */
__host__ __device__ __forceinline__ float d_finish(int kind, double s, float m, int64_t n)
{
    switch (kind) {
    case K_MEAN: return (float)(s / (double)n);
    case K_L2: return (float)sqrt(s);
    case K_LOGSUM: return (float)log(s);
    case K_LOGSUMEXP: return n == 0 ? -INFINITY : isinf(m) ? m : (float)((double)m + log(s));
    default: return (float)s;
    }
}

__device__ __forceinline__ void store_ext(void *y, int64_t o, const Ext &e, const RedP &p)
{
    if (p.arg) ((long long *)y)[o] = e.i;
    else ((float *)y)[o] = e.v;
}

__device__ __forceinline__ double shfl(double v, int o) { return __shfl_xor_sync(FULL, v, o); }
__device__ __forceinline__ Ext shfl(Ext v, int o)
{
    Ext r;
    r.v = __shfl_xor_sync(FULL, v.v, o);
    r.i = __shfl_xor_sync(FULL, v.i, o);
    return r;
}

/* --- teams ----------------------------------------------------------------------------------------- */

/* A team reduces one row at a time: its lanes split the row's elements and then combine their partial
 * results. Team kernels loop over the first row of the block's round, the same for all of a block's
 * threads, so every thread takes part in every combination (shuffles need the whole warp, the block's
 * combination the whole block); a team whose row lies past the end holds the identity and writes nothing.
 *
 * Group: G lanes of a warp per row (G a power of two up to 32); a butterfly of shuffles, in which both
 * lanes of a step combine the same two values, so every lane ends with the same bits. */
template <int G> struct Group {
    static __device__ __forceinline__ int lane() { return threadIdx.x & (G - 1); }
    static __device__ __forceinline__ int size() { return G; }
    static __device__ __forceinline__ int64_t sub() { return threadIdx.x / G; }
    static __device__ __forceinline__ int64_t per_block() { return blockDim.x / G; }
    template <class S, class C> static __device__ __forceinline__ S reduce(S v, S *, S, C comb)
    {
#pragma unroll
        for (int o = G / 2; o > 0; o >>= 1) v = comb(v, shfl(v, o));
        return v;
    }
};

/* A block per row: each warp combines its lanes, then every warp combines the warps' results in the same
 * order, so all threads get the same value without another barrier; the barrier in front keeps the
 * readers of a previous combination of `sh` ahead of this one's writers. */
struct Block {
    static __device__ __forceinline__ int lane() { return threadIdx.x; }
    static __device__ __forceinline__ int size() { return blockDim.x; }
    static __device__ __forceinline__ int64_t sub() { return 0; }
    static __device__ __forceinline__ int64_t per_block() { return 1; }
    template <class S, class C> static __device__ __forceinline__ S reduce(S v, S *sh, S id, C comb)
    {
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) v = comb(v, shfl(v, o));
        const int w = threadIdx.x >> 5, l = threadIdx.x & 31, nw = blockDim.x >> 5;
        __syncthreads();
        if (l == 0) sh[w] = v;
        __syncthreads();
        v = l < nw ? sh[l] : id;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) v = comb(v, shfl(v, o));
        return v;
    }
};

/* --- where a reduction's elements are -------------------------------------------------------------- */

/* Rows of n contiguous elements (row r at r * n): f(j, x[r * n + j]) for j in [lo, hi) split over the
 * lanes; with VEC as float4 (n and lo, hi multiples of 4, x 16-byte aligned). */
template <bool VEC> struct Contig {
    int64_t n;
    __device__ __forceinline__ int64_t base(int64_t r) const { return r * n; }
    template <class F>
    __device__ __forceinline__ void each(const float *__restrict__ x, int64_t b, int64_t lo, int64_t hi, int lane,
                                         int size, F f) const
    {
        if (VEC) {
            const float4 *x4 = reinterpret_cast<const float4 *>(x + b);
            for (int64_t q = (lo >> 2) + lane; q < (hi >> 2); q += size) {
                const float4 v = x4[q];
                f(4 * q, v.x);
                f(4 * q + 1, v.y);
                f(4 * q + 2, v.z);
                f(4 * q + 3, v.w);
            }
        } else {
            for (int64_t j = lo + lane; j < hi; j += size) f(j, x[b + j]);
        }
    }
};

/* Any set of reduced axes: output r's first element is r split over the kept dims (kd, input strides ks,
 * outermost first), reduced element j at that plus j split over the reduced dims (rd, rs). */
template <typename I> struct Gen {
    int nk, nr;
    Dim<I> kd[kMaxRank], rd[kMaxRank];
    I ks[kMaxRank], rs[kMaxRank];

    /* Unrolled over kMaxRank so that the dims, read from a kernel parameter, are addressed with constant
     * indices. */
    static __device__ __forceinline__ I walk(const Dim<I> *d, const I *st, int r, I i)
    {
        I off = 0;
#pragma unroll
        for (int a = kMaxRank - 1; a >= 0; a--) {
            if (a < r) {
                if (a == 0) {
                    off += i * st[0];
                } else {
                    const I q = d[a].div(i);
                    off += (i - q * d[a].size()) * st[a];
                    i = q;
                }
            }
        }
        return off;
    }
    __device__ __forceinline__ int64_t base(int64_t r) const { return (int64_t)walk(kd, ks, nk, (I)r); }
    __device__ __forceinline__ int64_t off(int64_t j) const { return (int64_t)walk(rd, rs, nr, (I)j); }
    template <class F>
    __device__ __forceinline__ void each(const float *__restrict__ x, int64_t b, int64_t lo, int64_t hi, int lane,
                                         int size, F f) const
    {
        for (int64_t j = lo + lane; j < hi; j += size) f(j, x[b + off(j)]);
    }
};

/* --- team kernels ---------------------------------------------------------------------------------- */

/* One reduction per team. */
template <class Team, class Addr>
__global__ void __launch_bounds__(kThreads)
red_team(const float *__restrict__ x, void *__restrict__ y, const Addr ad, int64_t rows, const RedP p)
{
    __shared__ double shd[32];
    __shared__ Ext she[32];
    const int lane = Team::lane(), size = Team::size();
    const int64_t per = Team::per_block(), n = p.n;
    auto ecomb = [&](Ext a, Ext b) { return ext_comb(a, b, p); };
    auto dcomb = [&](double a, double b) { return d_comb(p.kind, a, b); };
    for (int64_t first = (int64_t)blockIdx.x * per; first < rows; first += (int64_t)gridDim.x * per) {
        const int64_t row = first + Team::sub();
        const bool on = row < rows;
        const int64_t b = on ? ad.base(row) : 0;
        float m = 0;
        if (p.ext) {
            Ext e = ext_id(p);
            if (on) ad.each(x, b, 0, n, lane, size, [&](int64_t j, float v) { e = ext_comb(e, ext_of(v, j), p); });
            e = Team::reduce(e, she, ext_id(p), ecomb);
            if (p.kind != K_LOGSUMEXP) {
                if (on && lane == 0) store_ext(y, row, e, p);
                continue;
            }
            m = e.v;
        }
        double s = d_id(p.kind);
        if (on && (p.kind != K_LOGSUMEXP || isfinite(m)))
            ad.each(x, b, 0, n, lane, size, [&](int64_t, float v) { d_add(s, p.kind, v, m); });
        s = Team::reduce(s, shd, d_id(p.kind), dcomb);
        if (on && lane == 0) ((float *)y)[row] = d_finish(p.kind, s, m, n);
    }
}

/* A split reduction's first pass: a block per chunk [c * len, c * len + len) of a row, its partial result
 * in pe (a selection) or ps. LogSumExp runs it twice: phase 0 the chunks' maxima, phase 1 their sums of
 * exp(x - m), m the row's maximum (pm, combined from phase 0's partials by red_combine). */
template <class Addr>
__global__ void __launch_bounds__(kThreads)
red_part(const float *__restrict__ x, const Addr ad, int64_t rows, int64_t nch, int64_t len, const RedP p, int phase,
         double *__restrict__ ps, Ext *__restrict__ pe, const float *__restrict__ pm)
{
    __shared__ double shd[32];
    __shared__ Ext she[32];
    const int lane = Block::lane(), size = Block::size();
    const int64_t units = rows * nch, n = p.n;
    auto ecomb = [&](Ext a, Ext b) { return ext_comb(a, b, p); };
    auto dcomb = [&](double a, double b) { return d_comb(p.kind, a, b); };
    for (int64_t u = blockIdx.x; u < units; u += gridDim.x) {
        const int64_t row = u / nch, c = u - row * nch, lo = c * len, hi = lo + len < n ? lo + len : n;
        const int64_t b = ad.base(row);
        if (phase == 0 && p.ext) {
            Ext e = ext_id(p);
            ad.each(x, b, lo, hi, lane, size, [&](int64_t j, float v) { e = ext_comb(e, ext_of(v, j), p); });
            e = Block::reduce(e, she, ext_id(p), ecomb);
            if (lane == 0) pe[u] = e;
            continue;
        }
        const float m = phase == 1 ? pm[row] : 0.f;
        double s = d_id(p.kind);
        if (p.kind != K_LOGSUMEXP || isfinite(m))
            ad.each(x, b, lo, hi, lane, size, [&](int64_t, float v) { d_add(s, p.kind, v, m); });
        s = Block::reduce(s, shd, d_id(p.kind), dcomb);
        if (lane == 0) ps[u] = s;
    }
}

/* A split reduction's last pass: a team per reduction combines its nch partial results, partial k of
 * reduction r = (o, i) (o = r / inner, i = r % inner) at (o * nch + k) * inner + i: a row's chunks are
 * neighbours (inner = 1), a column's are inner apart (red_cols_part's layout). With `maxima` (LogSumExp,
 * between its two first passes) it only combines the chunks' maxima into pm. */
template <class Team>
__global__ void __launch_bounds__(kThreads)
red_combine(void *__restrict__ y, int64_t rows, int64_t nch, int64_t inner, const RedP p, const double *__restrict__ ps,
            const Ext *__restrict__ pe, float *__restrict__ pm, bool maxima)
{
    __shared__ double shd[32];
    __shared__ Ext she[32];
    const int lane = Team::lane(), size = Team::size();
    const int64_t per = Team::per_block();
    auto ecomb = [&](Ext a, Ext b) { return ext_comb(a, b, p); };
    auto dcomb = [&](double a, double b) { return d_comb(p.kind, a, b); };
    for (int64_t first = (int64_t)blockIdx.x * per; first < rows; first += (int64_t)gridDim.x * per) {
        const int64_t row = first + Team::sub();
        const bool on = row < rows;
        const int64_t o = on ? row / inner : 0, base = (o * nch) * inner + (on ? row - o * inner : 0);
        if (maxima || (p.ext && p.kind != K_LOGSUMEXP)) {
            Ext e = ext_id(p);
            if (on)
                for (int64_t k = lane; k < nch; k += size) e = ext_comb(e, pe[base + k * inner], p);
            e = Team::reduce(e, she, ext_id(p), ecomb);
            if (on && lane == 0) {
                if (maxima) pm[row] = e.v;
                else store_ext(y, row, e, p);
            }
            continue;
        }
        const float m = on && p.kind == K_LOGSUMEXP ? pm[row] : 0.f;
        double s = d_id(p.kind);
        if (on)
            for (int64_t k = lane; k < nch; k += size) s = d_comb(p.kind, s, ps[base + k * inner]);
        s = Team::reduce(s, shd, d_id(p.kind), dcomb);
        if (on && lane == 0) ((float *)y)[row] = d_finish(p.kind, s, m, p.n);
    }
}

/* --- column kernels -------------------------------------------------------------------------------- */

/* Element r of a column is at(r); the column's elements [lo, hi) folded in order. */
template <class A> __device__ __forceinline__ Ext seq_ext(A at, int64_t lo, int64_t hi, const RedP &p)
{
    Ext e = ext_id(p);
    for (int64_t r = lo; r < hi; r++) e = ext_comb(e, ext_of(at(r), r), p);
    return e;
}

template <class A> __device__ __forceinline__ double seq_d(A at, int64_t lo, int64_t hi, const RedP &p, float m)
{
    double s = d_id(p.kind);
    if (p.kind == K_LOGSUMEXP && !isfinite(m)) return s;
    for (int64_t r = lo; r < hi; r++) d_add(s, p.kind, at(r), m);
    return s;
}

/* The whole reduction of the column at(0 .. n) into y[o]. */
template <class A> __device__ __forceinline__ void seq_reduce(A at, void *y, int64_t o, const RedP &p)
{
    float m = 0;
    if (p.ext) {
        const Ext e = seq_ext(at, 0, p.n, p);
        if (p.kind != K_LOGSUMEXP) {
            store_ext(y, o, e, p);
            return;
        }
        m = e.v;
    }
    ((float *)y)[o] = d_finish(p.kind, seq_d(at, 0, p.n, p, m), m, p.n);
}

/* [outer, n, inner] reduced over n: a thread per column (o, i) (inner > 1, or short rows). */
__global__ void __launch_bounds__(kThreads)
red_cols(const float *__restrict__ x, void *__restrict__ y, int64_t outer, int64_t inner, const RedP p)
{
    const int64_t cols = outer * inner, n = p.n, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += step) {
        const int64_t o = c / inner, i = c - o * inner;
        const float *xc = x + o * n * inner + i;
        seq_reduce([&](int64_t r) { return xc[r * inner]; }, y, c, p);
    }
}

/* Split columns, first pass: a thread per (o, chunk, i), partial u = (o * nch + chunk) * inner + i, so
 * that neighbouring threads read and write neighbouring columns. Phases as red_part's. */
__global__ void __launch_bounds__(kThreads)
red_cols_part(const float *__restrict__ x, int64_t outer, int64_t inner, int64_t nch, int64_t len, const RedP p,
              int phase, double *__restrict__ ps, Ext *__restrict__ pe, const float *__restrict__ pm)
{
    const int64_t units = outer * nch * inner, n = p.n, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t u = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; u < units; u += step) {
        const int64_t t = u / inner, i = u - t * inner, o = t / nch, c = t - o * nch;
        const int64_t lo = c * len, hi = lo + len < n ? lo + len : n;
        const float *xc = x + o * n * inner + i;
        auto at = [&](int64_t r) { return xc[r * inner]; };
        if (phase == 0 && p.ext) {
            pe[u] = seq_ext(at, lo, hi, p);
            continue;
        }
        ps[u] = seq_d(at, lo, hi, p, phase == 1 ? pm[o * inner + i] : 0.f);
    }
}

/* Any set of reduced axes, innermost axis kept: a thread per output. */
template <typename I>
__global__ void __launch_bounds__(kThreads)
red_gen_cols(const float *__restrict__ x, void *__restrict__ y, const Gen<I> ad, int64_t rows, const RedP p)
{
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t o = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; o < rows; o += step) {
        const int64_t b = ad.base(o);
        seq_reduce([&](int64_t j) { return x[b + ad.off(j)]; }, y, o, p);
    }
}

__global__ void __launch_bounds__(kThreads) red_fill(float *__restrict__ y, int64_t n, float v)
{
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) y[i] = v;
}

/* --- host side ------------------------------------------------------------------------------------- */

weft_status nomem() { return weft_error(WEFT_ERR_NOMEM, "out of memory"); }

bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

bool is_onnx(const weft_step_desc *s) { return !s->def->domain || !s->def->domain[0]; }

/* The Reduce* kind of a step, or -1. */
int reduce_kind(const weft_step_desc *s)
{
    if (!is_onnx(s)) return -1;
    for (int k = K_SUM; k <= K_SUMSQ; k++)
        if (strcmp(s->def->name, kind_names[k]) == 0) return k;
    return -1;
}

/* The first opset where axes is an input rather than an attribute. */
int axes_input_opset(int kind) { return kind == K_SUM ? 13 : 18; }

bool flag_ok(const weft_node_info *n, const char *name, int64_t def)
{
    const int64_t v = weft_attr_int(n, name, def);
    return v == 0 || v == 1;
}

/* The reduced axes of a Reduce* step as compile time knows them (ops/reduce.c's resolve_axes on the
 * attribute or the constant axes input): false when the reference would refuse the node or the axes are
 * not known before the run. */
bool reduce_axes(const weft_step_desc *s, int kind, bool *mask, bool *noop)
{
    const weft_node_info *node = s->node;
    const int rank = s->in_shape[0].rank;
    memset(mask, 0, sizeof(bool) * kMaxRank);
    *noop = false;
    if (rank < 0 || rank > kMaxRank) return false;
    if (!flag_ok(node, "keepdims", 1) || !flag_ok(node, "noop_with_empty_axes", 0)) return false;
    const bool from_input = node->opset >= axes_input_opset(kind);
    const bool present = s->n_in > 1 && s->in_dtype[1] != WEFT_UNDEFINED;
    if (!from_input && present) return false;
    if (from_input && weft_attr_find(node, "axes")) return false;
    int64_t axes[kMaxRank];
    int n = -1;
    bool noop_empty = false;
    if (from_input) {
        noop_empty = weft_attr_int(node, "noop_with_empty_axes", 0) != 0;
        if (present) {
            const weft_shape *as = &s->in_shape[1];
            const weft_dtype at = s->in_dtype[1];
            if ((at != WEFT_INT64 && at != WEFT_INT32) || !s->in_const || !s->in_const[1]) return false;
            if (as->rank > 1 || (as->rank == 1 && !weft_dim_known(as->d[0]))) return false;
            const int64_t count = as->rank == 0 ? 1 : as->d[0].v;
            if (count > rank) return false;
            n = (int)count;
            for (int i = 0; i < n; i++) axes[i] = weft_load_i64(at, s->in_const[1], i);
        }
    } else {
        const int64_t *av;
        n = weft_attr_ints(node, "axes", &av);
        if (n > rank) return false;
        for (int i = 0; i < n; i++) axes[i] = av[i];
    }
    if (n <= 0) {
        if (noop_empty) *noop = true;
        else
            for (int d = 0; d < rank; d++) mask[d] = true;
        return true;
    }
    for (int i = 0; i < n; i++) {
        if (axes[i] < -rank || axes[i] >= rank) return false;
        const int a = (int)(axes[i] < 0 ? axes[i] + rank : axes[i]);
        if (mask[a]) return false;
        mask[a] = true;
    }
    return true;
}

struct RedPrep {
    int kind;
    int rank;
    bool mask[kMaxRank];
    bool copy; /* empty axes with noop_with_empty_axes, a reduction whose one-element result is the element */
    bool last; /* ArgMax / ArgMin: select_last_index */
};

bool reduce_supports(const weft_step_desc *s)
{
    const int kind = reduce_kind(s);
    if (kind < 0 || s->n_in < 1 || s->n_out != 1) return false;
    if (s->in_dtype[0] != WEFT_FLOAT32 || s->out_dtype[0] != WEFT_FLOAT32) return false;
    bool mask[kMaxRank], noop;
    return reduce_axes(s, kind, mask, &noop);
}

weft_status reduce_prepare(const weft_step_desc *s, void **prepared)
{
    RedPrep *p = (RedPrep *)calloc(1, sizeof *p);
    if (!p) return nomem();
    p->kind = reduce_kind(s);
    p->rank = s->in_shape[0].rank;
    bool noop = false;
    if (p->kind < 0 || !reduce_axes(s, p->kind, p->mask, &noop)) {
        free(p);
        return weft_op_error(s->node, WEFT_ERR_UNSUPPORTED, "cuda: this form of the reduction is not taken");
    }
    /* the reference copies for these; the others map each element through their one-element reduction */
    p->copy = noop && (p->kind == K_SUM || p->kind == K_MEAN || p->kind == K_MAX || p->kind == K_MIN ||
                       p->kind == K_PROD || p->kind == K_LOGSUMEXP);
    *prepared = p;
    return WEFT_OK;
}

bool arg_supports(const weft_step_desc *s)
{
    if (!is_onnx(s) || (strcmp(s->def->name, "ArgMax") != 0 && strcmp(s->def->name, "ArgMin") != 0)) return false;
    if (s->n_in != 1 || s->n_out != 1 || s->in_dtype[0] != WEFT_FLOAT32 || s->out_dtype[0] != WEFT_INT64) return false;
    const int rank = s->in_shape[0].rank;
    if (rank < 1 || rank > kMaxRank) return false;
    if (!flag_ok(s->node, "keepdims", 1) || !flag_ok(s->node, "select_last_index", 0)) return false;
    const int64_t axis = weft_attr_int(s->node, "axis", 0);
    if (axis < -rank || axis >= rank) return false;
    const weft_dim d = s->in_shape[0].d[axis < 0 ? axis + rank : axis];
    return !(weft_dim_known(d) && d.v == 0); /* the reference reports an empty axis */
}

weft_status arg_prepare(const weft_step_desc *s, void **prepared)
{
    RedPrep *p = (RedPrep *)calloc(1, sizeof *p);
    if (!p) return nomem();
    p->kind = strcmp(s->def->name, "ArgMax") == 0 ? K_ARGMAX : K_ARGMIN;
    p->rank = s->in_shape[0].rank;
    int64_t axis = weft_attr_int(s->node, "axis", 0);
    if (axis < 0) axis += p->rank;
    if (axis < 0 || axis >= p->rank) {
        free(p);
        return weft_op_error(s->node, WEFT_ERR_UNSUPPORTED, "cuda: axis out of range");
    }
    p->mask[axis] = true;
    p->last = weft_attr_int(s->node, "select_last_index", 0) != 0;
    *prepared = p;
    return WEFT_OK;
}

enum Path { P_NONE, P_COPY, P_FILL, P_ROWS, P_COLS, P_GEN_TEAM, P_GEN_COLS };

struct RedState {
    int path;
    RedP p;
    int64_t rows;    /* reductions (ROWS, GEN_*); COLS: outer */
    int64_t inner;   /* COLS */
    int64_t nch;     /* chunks per reduction (1: not split) */
    int64_t len;     /* elements per chunk */
    bool row_vec;    /* ROWS: rows and chunks of whole float4s */
    bool wide;       /* GEN_*: 64-bit index walk */
    Gen<uint32_t> g32;
    Gen<uint64_t> g64;
    float fill;      /* FILL */
    int64_t n_out;   /* FILL, COPY: elements */
    void *scratch;   /* split partials: ps, pe, then pm */
    double *ps;      /* per chunk: sums */
    Ext *pe;         /* per chunk: selections */
    float *pm;       /* per reduction: LogSumExp's maximum */
};

void red_release_state(void *state)
{
    RedState *s = (RedState *)state;
    if (!s) return;
    if (s->scratch) weft_cuda_free(s->scratch);
    free(s);
}

/* The value of an empty reduction. */
float empty_value(int kind)
{
    switch (kind) {
    case K_MAX: return -INFINITY;
    case K_MIN: return INFINITY;
    case K_MEAN: return NAN; /* 0 / 0 */
    default: return d_finish(kind, kind == K_PROD ? 1.0 : 0.0, -INFINITY, 0);
    }
}

/* A team's lanes for a reduction of `items` items: 4 to 32, or 0 for a block. */
int team_for(int64_t items)
{
    if (items > GROUP_MAX) return 0;
    int g = 4;
    while (g < 32 && 2 * g <= items) g *= 2;
    return g;
}

/* Chunks for a team reduction of rows x n (len a multiple of 4, so float4 rows stay float4 chunks). */
void split_rows(RedState *s, int64_t rows, int64_t n)
{
    s->nch = 1;
    s->len = n;
    if (rows >= ROW_SPLIT_ROWS || n < 2 * ROW_CHUNK) return;
    const int64_t a = ceil_div(n, ROW_CHUNK), b = ceil_div(ROW_UNITS, rows), c = a < b ? a : b;
    if (c < 2) return;
    s->len = (ceil_div(n, c) + 3) & ~(int64_t)3;
    s->nch = ceil_div(n, s->len);
}

/* Chunks for a thread reduction of cols columns of n: enough threads for the device. */
void split_cols(RedState *s, int64_t cols, int64_t n)
{
    s->nch = 1;
    s->len = n;
    if (cols >= COL_THREADS / 2 || n < 2 * COL_CHUNK) return;
    const int64_t a = ceil_div(n, COL_CHUNK), b = ceil_div(COL_THREADS, cols), c = a < b ? a : b;
    if (c < 2) return;
    s->len = ceil_div(n, c);
    s->nch = ceil_div(n, s->len);
}

template <typename I> void gen_fill(Gen<I> *g, int ng, const int64_t *gsz, const bool *gred)
{
    memset(g, 0, sizeof *g);
    int64_t stride = 1;
    int64_t st[kMaxRank];
    for (int i = ng - 1; i >= 0; i--) {
        st[i] = stride;
        stride *= gsz[i];
    }
    for (int i = 0; i < ng; i++) {
        if (gred[i]) {
            g->rd[g->nr].set(gsz[i]);
            g->rs[g->nr++] = (I)st[i];
        } else {
            g->kd[g->nk].set(gsz[i]);
            g->ks[g->nk++] = (I)st[i];
        }
    }
}

weft_status red_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const RedPrep *pp = (const RedPrep *)prepared;
    const weft_tview *x = &k->in[0], *y = &k->out[0];
    const bool arg = pp->kind == K_ARGMAX || pp->kind == K_ARGMIN;
    if (x->rank != pp->rank || x->dtype != WEFT_FLOAT32 || y->dtype != (arg ? WEFT_INT64 : WEFT_FLOAT32))
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "cuda: operands differ from those the step was prepared for");
    int64_t nout = 1, nred = 1;
    for (int d = 0; d < x->rank; d++) {
        if (pp->mask[d]) nred *= x->dims[d];
        else nout *= x->dims[d];
    }
    if (arg)
        for (int d = 0; d < x->rank; d++)
            if (pp->mask[d] && x->dims[d] == 0)
                return weft_op_error(k->node, WEFT_ERR_SHAPE, "axis %d is empty: no element to select", d);
    if (pp->copy) nout = x->numel;
    if (nout != y->numel)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output has %lld elements, expected %lld", (long long)y->numel,
                             (long long)nout);
    RedState *s = (RedState *)calloc(1, sizeof *s);
    if (!s) return nomem();
    s->n_out = nout;
    s->nch = 1;
    RedP &p = s->p;
    p.kind = pp->kind;
    p.ext = pp->kind == K_MAX || pp->kind == K_MIN || pp->kind == K_LOGSUMEXP || arg;
    p.mx = pp->kind == K_MAX || pp->kind == K_LOGSUMEXP || pp->kind == K_ARGMAX;
    p.last = pp->last;
    p.arg = arg;
    p.n = nred;
    if (nout == 0) {
        s->path = P_NONE;
    } else if (pp->copy) {
        s->path = P_COPY;
    } else if (nred == 0) {
        s->path = P_FILL;
        s->fill = empty_value(pp->kind);
    } else {
        /* size-1 axes dropped, neighbours of the same kind merged */
        int64_t gsz[kMaxRank];
        bool gred[kMaxRank];
        int ng = 0, nrg = 0, r = -1;
        for (int d = 0; d < x->rank; d++) {
            if (x->dims[d] == 1) continue;
            if (ng > 0 && gred[ng - 1] == pp->mask[d]) {
                gsz[ng - 1] *= x->dims[d];
                continue;
            }
            gsz[ng] = x->dims[d];
            gred[ng] = pp->mask[d];
            if (gred[ng]) {
                nrg++;
                r = ng;
            }
            ng++;
        }
        if (nrg <= 1) {
            int64_t outer = 1, inner = 1;
            for (int i = 0; i < ng; i++) {
                if (i == r) continue;
                if (r < 0 || i < r) outer *= gsz[i];
                else inner *= gsz[i];
            }
            if (r < 0) { /* nothing reduced: every output its own element, one thread each */
                inner = outer;
                outer = 1;
            }
            if (inner == 1 && nred > THREAD_ROW_MAX) {
                s->path = P_ROWS;
                s->rows = outer;
                split_rows(s, outer, nred);
                s->row_vec = nred % 4 == 0 && (s->nch == 1 || s->len % 4 == 0);
            } else {
                s->path = P_COLS;
                s->rows = outer;
                s->inner = inner;
                split_cols(s, outer * inner, nred);
            }
        } else {
            s->wide = x->numel >= ((int64_t)1 << 31);
            if (s->wide) gen_fill(&s->g64, ng, gsz, gred);
            else gen_fill(&s->g32, ng, gsz, gred);
            s->rows = nout;
            if (!gred[ng - 1] && nout >= GEN_COLS_MIN) {
                s->path = P_GEN_COLS;
            } else {
                s->path = P_GEN_TEAM;
                split_rows(s, nout, nred);
            }
        }
        if (s->nch > 1) {
            const int64_t reds = s->rows * (s->path == P_COLS ? s->inner : 1), units = reds * s->nch;
            const size_t bytes = (size_t)units * (sizeof(double) + sizeof(Ext)) + (size_t)reds * sizeof(float);
            weft_status st = weft_cuda_malloc(bytes, &s->scratch);
            if (st) {
                free(s);
                return st;
            }
            s->ps = (double *)s->scratch;
            s->pe = (Ext *)((char *)s->scratch + (size_t)units * sizeof(double));
            s->pm = (float *)((char *)s->pe + (size_t)units * sizeof(Ext));
        }
    }
    *state = s;
    return WEFT_OK;
}

/* A team kernel for g lanes per team (0: a block) over `rows` reductions. */
template <class Addr>
void launch_team(int g, const float *x, void *y, const Addr &ad, int64_t rows, const RedP &p, cudaStream_t st)
{
    switch (g) {
    case 4: red_team<Group<4>, Addr><<<weft_cuda_grid(rows, kThreads / 4), kThreads, 0, st>>>(x, y, ad, rows, p); break;
    case 8: red_team<Group<8>, Addr><<<weft_cuda_grid(rows, kThreads / 8), kThreads, 0, st>>>(x, y, ad, rows, p); break;
    case 16: red_team<Group<16>, Addr><<<weft_cuda_grid(rows, kThreads / 16), kThreads, 0, st>>>(x, y, ad, rows, p); break;
    case 32: red_team<Group<32>, Addr><<<weft_cuda_grid(rows, kThreads / 32), kThreads, 0, st>>>(x, y, ad, rows, p); break;
    default: red_team<Block, Addr><<<weft_cuda_grid(rows, 1), kThreads, 0, st>>>(x, y, ad, rows, p); break;
    }
}

/* red_combine over `rows` reductions of nch partials each (see there for `inner` and `maxima`). */
void launch_combine(const RedState *s, void *y, int64_t rows, int64_t inner, bool maxima, cudaStream_t st)
{
    const int64_t nch = s->nch;
    const RedP &p = s->p;
    switch (team_for(nch)) {
    case 4: red_combine<Group<4>><<<weft_cuda_grid(rows, kThreads / 4), kThreads, 0, st>>>(y, rows, nch, inner, p, s->ps, s->pe, s->pm, maxima); break;
    case 8: red_combine<Group<8>><<<weft_cuda_grid(rows, kThreads / 8), kThreads, 0, st>>>(y, rows, nch, inner, p, s->ps, s->pe, s->pm, maxima); break;
    case 16: red_combine<Group<16>><<<weft_cuda_grid(rows, kThreads / 16), kThreads, 0, st>>>(y, rows, nch, inner, p, s->ps, s->pe, s->pm, maxima); break;
    case 32: red_combine<Group<32>><<<weft_cuda_grid(rows, kThreads / 32), kThreads, 0, st>>>(y, rows, nch, inner, p, s->ps, s->pe, s->pm, maxima); break;
    default: red_combine<Block><<<weft_cuda_grid(rows, 1), kThreads, 0, st>>>(y, rows, nch, inner, p, s->ps, s->pe, s->pm, maxima); break;
    }
}

/* A team reduction of s->rows rows: whole, or split into chunks and combined. */
template <class Addr>
void run_team(const RedState *s, const float *x, void *y, const Addr &ad, int64_t items, cudaStream_t st)
{
    if (s->nch == 1) {
        launch_team(team_for(items), x, y, ad, s->rows, s->p, st);
        return;
    }
    const unsigned grid = weft_cuda_grid(s->rows * s->nch, 1);
    red_part<Addr><<<grid, kThreads, 0, st>>>(x, ad, s->rows, s->nch, s->len, s->p, 0, s->ps, s->pe, s->pm);
    if (s->p.kind == K_LOGSUMEXP) {
        launch_combine(s, y, s->rows, 1, true, st);
        red_part<Addr><<<grid, kThreads, 0, st>>>(x, ad, s->rows, s->nch, s->len, s->p, 1, s->ps, s->pe, s->pm);
    }
    launch_combine(s, y, s->rows, 1, false, st);
}

weft_status red_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const RedState *s = (const RedState *)state;
    const float *x = (const float *)k->in[0].data;
    void *y = k->out[0].data;
    cudaStream_t st = q->stream;
    switch (s->path) {
    case P_NONE: return WEFT_OK;
    case P_COPY: {
        if ((const void *)x == y) return WEFT_OK;
        const cudaError_t e = cudaMemcpyAsync(y, x, (size_t)s->n_out * sizeof(float), cudaMemcpyDeviceToDevice, st);
        weft_status rc = weft_cuda_status(e, "cudaMemcpyAsync");
        return rc ? weft_error_wrap(rc, "node '%s' (%s)", k->node->name, k->node->op_type) : WEFT_OK;
    }
    case P_FILL:
        red_fill<<<weft_cuda_grid(s->n_out, kThreads), kThreads, 0, st>>>((float *)y, s->n_out, s->fill);
        break;
    case P_ROWS: {
        const bool vec = s->row_vec && aligned16(x);
        if (vec) {
            Contig<true> ad = {s->p.n};
            run_team(s, x, y, ad, s->p.n / 4, st);
        } else {
            Contig<false> ad = {s->p.n};
            run_team(s, x, y, ad, s->p.n, st);
        }
        break;
    }
    case P_GEN_TEAM:
        if (s->wide) run_team(s, x, y, s->g64, s->p.n, st);
        else run_team(s, x, y, s->g32, s->p.n, st);
        break;
    case P_COLS: {
        const int64_t cols = s->rows * s->inner;
        if (s->nch == 1) {
            red_cols<<<weft_cuda_grid(cols, kThreads), kThreads, 0, st>>>(x, y, s->rows, s->inner, s->p);
            break;
        }
        const unsigned grid = weft_cuda_grid(cols * s->nch, kThreads);
        red_cols_part<<<grid, kThreads, 0, st>>>(x, s->rows, s->inner, s->nch, s->len, s->p, 0, s->ps, s->pe, s->pm);
        if (s->p.kind == K_LOGSUMEXP) {
            launch_combine(s, y, cols, s->inner, true, st);
            red_cols_part<<<grid, kThreads, 0, st>>>(x, s->rows, s->inner, s->nch, s->len, s->p, 1, s->ps, s->pe, s->pm);
        }
        launch_combine(s, y, cols, s->inner, false, st);
        break;
    }
    case P_GEN_COLS:
        if (s->wide) red_gen_cols<uint64_t><<<weft_cuda_grid(s->rows, kThreads), kThreads, 0, st>>>(x, y, s->g64, s->rows, s->p);
        else red_gen_cols<uint32_t><<<weft_cuda_grid(s->rows, kThreads), kThreads, 0, st>>>(x, y, s->g32, s->rows, s->p);
        break;
    default: return weft_op_error(k->node, WEFT_ERR_INTERNAL, "cuda: unknown reduction plan");
    }
    return weft_cuda_launched(k->node);
}

} /* namespace */

const weft_cuda_op weft_cuda_op_reduce = {"", "ReduceSum|ReduceMean|ReduceMax|ReduceMin|ReduceProd|ReduceL1|ReduceL2|"
                                              "ReduceLogSum|ReduceLogSumExp|ReduceSumSquare",
                                          reduce_supports, reduce_prepare, red_reshape, red_run, NULL, red_release_state};
const weft_cuda_op weft_cuda_op_arg_reduce = {"", "ArgMax|ArgMin", arg_supports, arg_prepare, red_reshape, red_run, NULL,
                                              red_release_state};
