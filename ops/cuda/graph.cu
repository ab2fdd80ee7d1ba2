/*
 * ops/cuda/graph.cu — message passing on the device: the readers of a CSR index (ai.weft CsrReduce,
 * CsrGatherReduce, CsrEdgeSoftmax), the public ops that build one first (SegmentReduce, EdgeSoftmax;
 * the builder is ops/cuda/csr.cu), LinkScore (SDDMM), RowGather and ONNX Gather; and the copy-bandwidth
 * probe of ops/cuda/cuda_probe.h.
 *
 * Segment reductions. A group of lanes (a warp for rows of 128 features and more, fewer lanes for
 * narrower rows) owns one destination row; its lanes own features (four at a time as float4 where the
 * rows allow: coalesced 512-byte reads of a 128-feature row) and walk the row's edges in position order,
 * four edges' loads in flight before they are folded in order. A row of up to LONG_ROW edges is thus
 * reduced exactly as the reference reduces it — first message copied (or init), then folded in edge
 * order, NaN winning max and min, mean divided once at the end, an empty row 0 (or init) — and gives its
 * bits. A longer row (a hub) would keep one group busy while the rest of the device idles: the row kernel
 * leaves it, marking how many chunks of CHUNK_MIN edges or more it takes, a scan numbers the chunks, one
 * group per chunk folds its edges into a partial row, and a last kernel folds each row's partials in chunk
 * order. That order is fixed by the row's degree alone, so results are the same on every run (no float
 * atomics anywhere), though a long row's sum may differ from the reference's sequential one by rounding.
 *
 * The readers trust a CSR's ranges only after checking them on the device, as the reference does on the
 * host (weft_cuda_csr_check, ops/cuda/csr.cu): offsets from 0 to E never decreasing, perm a permutation
 * of [0, E), col inside x. A failure is flagged (WEFT_CUDA_ERR_INDEX for a value out of range, _STRUCTURE
 * for broken offsets or a repeated edge) and the session reports it when the run ends; meanwhile every
 * read is clamped into range, so a broken index never leads outside a buffer.
 *
 * Edge softmax: one warp per segment, heads in turn: the maximum in double (NaN never raises it), the sum
 * of exp(s - max) in double per lane then across the warp in a fixed butterfly order, each output rounded
 * once — the reference's arithmetic, summed in another fixed order. LinkScore: a group per pair, each
 * product rounded to float and summed in double (per lane in feature order, then the fixed butterfly).
 */
#include <cub/cub.cuh>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csr.h"
#include "cuda_probe.h"

namespace {

constexpr int THREADS = 256;
constexpr int64_t LONG_ROW = 1024;    /* rows with more edges are split into chunks */
constexpr int64_t CHUNK_MIN = 256;    /* edges per chunk, at least */
constexpr int64_t CHUNKS_MAX = 1024;  /* chunks per row, at most (a longer row gets longer chunks) */

enum { K_SUM, K_MAX, K_MIN, K_MUL }; /* folds; mean is a sum divided at the end */

/* --- device helpers -------------------------------------------------------------------------------- */

__device__ __forceinline__ int64_t ld64(const int64_t *p) { return (int64_t)__ldg((const long long *)p); }

__device__ __forceinline__ int64_t ld_index(const void *p, bool wide, int64_t i)
{
    return wide ? (int64_t)__ldg((const long long *)p + i) : (int64_t)__ldg((const int *)p + i);
}

/* r when it indexes one of n rows, else row 0: reads stay in bounds whatever a broken index holds (the
 * checks flag it). */
__device__ __forceinline__ int64_t in_rows(int64_t r, int64_t n) { return (uint64_t)r < (uint64_t)n ? r : 0; }

template <typename VT> struct vec_width;
template <> struct vec_width<float> { static constexpr int W = 1; };
template <> struct vec_width<float4> { static constexpr int W = 4; };

template <typename VT> __device__ __forceinline__ VT vld(const float *p);
template <> __device__ __forceinline__ float vld<float>(const float *p) { return __ldg(p); }
template <> __device__ __forceinline__ float4 vld<float4>(const float *p) { return __ldg((const float4 *)p); }
/* init may be the output's own buffer: read it through the coherent path */
template <typename VT> __device__ __forceinline__ VT vld_plain(const float *p) { return *(const VT *)p; }
template <typename VT> __device__ __forceinline__ void vst(float *p, VT v) { *(VT *)p = v; }
template <typename VT> __device__ __forceinline__ VT vzero();
template <> __device__ __forceinline__ float vzero<float>() { return 0.0f; }
template <> __device__ __forceinline__ float4 vzero<float4>() { return make_float4(0.0f, 0.0f, 0.0f, 0.0f); }

/* SegmentReduce's folds (NaN wins max and min, as `v != v`). */
template <int K> __device__ __forceinline__ float fold1(float a, float v)
{
    if (K == K_SUM) return a + v;
    if (K == K_MUL) return a * v;
    if (K == K_MAX) return (v > a || v != v) ? v : a;
    return (v < a || v != v) ? v : a;
}
template <int K> __device__ __forceinline__ float fold(float a, float v) { return fold1<K>(a, v); }
template <int K> __device__ __forceinline__ float4 fold(float4 a, float4 v)
{
    return make_float4(fold1<K>(a.x, v.x), fold1<K>(a.y, v.y), fold1<K>(a.z, v.z), fold1<K>(a.w, v.w));
}
__device__ __forceinline__ float scale(float w, float v) { return w * v; }
__device__ __forceinline__ float4 scale(float w, float4 v) { return make_float4(w * v.x, w * v.y, w * v.z, w * v.w); }
__device__ __forceinline__ float vdiv(float a, float d) { return a / d; }
__device__ __forceinline__ float4 vdiv(float4 a, float d) { return make_float4(a.x / d, a.y / d, a.z / d, a.w / d); }

/* --- segment reductions ---------------------------------------------------------------------------- */

struct RedArgs {
    const float *src;     /* rows of F: src [E, F] (CsrReduce, SegmentReduce) or x [M, F] (CsrGatherReduce) */
    const int64_t *off;   /* [N + 1] */
    const int64_t *perm;  /* [E]: position j's row when col is NULL; the edge whose weight scales it */
    const int64_t *col;   /* [E]: position j's row of x (CsrGatherReduce), or NULL */
    const float *w;       /* [E, H]: element f of a message is scaled by w[edge, f / G]; or NULL */
    const float *init;    /* [N, Fo], or NULL */
    float *out;           /* [N, Fo] */
    int64_t N, E, M, F, Fo, H, G;
    bool mean;
    /* long rows; nch NULL: no row is split */
    int64_t *nch;         /* [N] chunks of row n, 0 for the rows the row kernel finished */
    int64_t *cbase;       /* [N] inclusive scan of nch */
    float *partial;       /* [tmax, F] */
    int64_t tmax;
};

/* Positions [j0, j1) of row n, clamped into [0, E]. */
__device__ __forceinline__ void row_range(const int64_t *off, int64_t n, int64_t E, int64_t &j0, int64_t &j1)
{
    const int64_t b = ld64(off + n), e = ld64(off + n + 1);
    j0 = b < 0 ? 0 : b > E ? E : b;
    j1 = e < j0 ? j0 : e > E ? E : e;
}

__device__ __forceinline__ int64_t chunk_len(int64_t deg)
{
    const int64_t c = (deg + CHUNKS_MAX - 1) / CHUNKS_MAX;
    return c > CHUNK_MIN ? c : CHUNK_MIN;
}
__device__ __forceinline__ int64_t chunk_count(int64_t deg)
{
    const int64_t c = chunk_len(deg);
    return (deg + c - 1) / c;
}

/* The message of position j at features [f, f + W) (head h of the row): the row's elements, scaled by
 * the edge's weight as the exported Mul did (w * x in float) when WT. */
template <typename VT, bool WT> __device__ __forceinline__ VT message(const RedArgs &a, int64_t j, int64_t f, int64_t h)
{
    const int64_t r = in_rows(ld64(a.col ? a.col + j : a.perm + j), a.M);
    VT v = vld<VT>(a.src + r * a.F + f);
    if (WT) v = scale(__ldg(a.w + in_rows(ld64(a.perm + j), a.E) * a.H + h), v);
    return v;
}

/* Folds positions [j, j1) into acc in order (have = false: the first message starts it; then j < j1).
 * Four messages are loaded before they are folded, so four rows are in flight per lane; the loop has no
 * branch between the loads (weighting is a template parameter). */
template <int K, typename VT, bool WT>
__device__ __forceinline__ VT fold_msgs(const RedArgs &a, int64_t j, int64_t j1, int64_t f, VT acc, bool have)
{
    const int64_t h = WT ? f / a.G : 0; /* a vector never straddles two heads (G % W == 0) */
    if (!have) acc = message<VT, WT>(a, j++, f, h);
    for (; j + 4 <= j1; j += 4) {
        const VT v0 = message<VT, WT>(a, j, f, h), v1 = message<VT, WT>(a, j + 1, f, h);
        const VT v2 = message<VT, WT>(a, j + 2, f, h), v3 = message<VT, WT>(a, j + 3, f, h);
        acc = fold<K>(acc, v0);
        acc = fold<K>(acc, v1);
        acc = fold<K>(acc, v2);
        acc = fold<K>(acc, v3);
    }
    for (; j < j1; j++) acc = fold<K>(acc, message<VT, WT>(a, j, f, h));
    return acc;
}

template <int K, typename VT>
__device__ __forceinline__ VT fold_range(const RedArgs &a, int64_t j, int64_t j1, int64_t f, VT acc, bool have)
{
    return a.w ? fold_msgs<K, VT, true>(a, j, j1, f, acc, have) : fold_msgs<K, VT, false>(a, j, j1, f, acc, have);
}

/* The columns of a 2-D init wider than the rows reduced into it: left as init has them. */
template <typename VT>
__device__ __forceinline__ void init_tail(const RedArgs &a, const float *ini, float *o, int lane, int gs)
{
    constexpr int W = vec_width<VT>::W;
    for (int64_t c = a.F / W + lane; c < a.Fo / W; c += gs) vst(o + c * W, vld_plain<VT>(ini + c * W));
}

/* One group of gs lanes per row; rows of more than LONG_ROW edges are left to the chunk kernels. */
template <int K, typename VT> __global__ void reduce_rows(RedArgs a, int gs)
{
    constexpr int W = vec_width<VT>::W;
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x / gs;
    const int lane = (int)(t % gs);
    const int64_t nC = a.F / W;
    for (int64_t n = t / gs; n < a.N; n += stride) {
        int64_t j0, j1;
        row_range(a.off, n, a.E, j0, j1);
        const int64_t deg = j1 - j0;
        if (a.nch) {
            const bool split = deg > LONG_ROW;
            if (lane == 0) a.nch[n] = split ? chunk_count(deg) : 0;
            if (split) continue;
        }
        float *o = a.out + n * a.Fo;
        const float *ini = a.init ? a.init + n * a.Fo : NULL;
        for (int64_t c = lane; c < nC; c += gs) {
            const int64_t f = c * W;
            VT acc = ini ? vld_plain<VT>(ini + f) : vzero<VT>();
            if (deg > 0) acc = fold_range<K, VT>(a, j0, j1, f, acc, ini != NULL);
            if (a.mean && !ini && deg > 1) acc = vdiv(acc, (float)deg);
            vst(o + f, acc);
        }
        if (ini) init_tail<VT>(a, ini, o, lane, gs);
    }
}

/* The row chunk q belongs to: the first n with cbase[n] > q (cbase[N - 1] > q). */
__device__ __forceinline__ int64_t chunk_row(const int64_t *cbase, int64_t N, int64_t q)
{
    int64_t lo = 0, hi = N - 1;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (ld64(cbase + mid) > q) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* One group per chunk of a long row: its edges folded in order into partial row q. */
template <int K, typename VT> __global__ void reduce_chunks(RedArgs a, int gs)
{
    constexpr int W = vec_width<VT>::W;
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x / gs;
    const int lane = (int)(t % gs);
    int64_t T = ld64(a.cbase + a.N - 1);
    if (T > a.tmax) T = a.tmax; /* only offsets that the checks refuse can count more */
    for (int64_t q = t / gs; q < T; q += stride) {
        const int64_t n = chunk_row(a.cbase, a.N, q);
        int64_t j0, j1;
        row_range(a.off, n, a.E, j0, j1);
        const int64_t len = chunk_len(j1 - j0), i = q - (ld64(a.cbase + n) - a.nch[n]);
        const int64_t p0 = j0 + i * len, p1 = p0 + len < j1 ? p0 + len : j1;
        if (p0 >= p1) continue;
        float *pr = a.partial + q * a.F;
        for (int64_t c = lane; c < a.F / W; c += gs) vst(pr + c * W, fold_range<K, VT>(a, p0, p1, c * W, vzero<VT>(), false));
    }
}

/* One group per long row: init (if any), then its partials folded in chunk order. */
template <int K, typename VT> __global__ void reduce_combine(RedArgs a, int gs)
{
    constexpr int W = vec_width<VT>::W;
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x / gs;
    const int lane = (int)(t % gs);
    for (int64_t n = t / gs; n < a.N; n += stride) {
        const int64_t cnt = a.nch[n];
        if (cnt == 0) continue;
        const int64_t q1 = ld64(a.cbase + n), q0 = q1 - cnt;
        if (q1 > a.tmax) continue;
        int64_t j0, j1;
        row_range(a.off, n, a.E, j0, j1);
        const int64_t deg = j1 - j0;
        float *o = a.out + n * a.Fo;
        const float *ini = a.init ? a.init + n * a.Fo : NULL;
        for (int64_t c = lane; c < a.F / W; c += gs) {
            const int64_t f = c * W;
            VT acc = ini ? vld_plain<VT>(ini + f) : vld<VT>(a.partial + q0 * a.F + f);
#pragma unroll 4
            for (int64_t q = ini ? q0 : q0 + 1; q < q1; q++) acc = fold<K>(acc, vld<VT>(a.partial + q * a.F + f));
            if (a.mean && !ini) acc = vdiv(acc, (float)deg);
            vst(o + f, acc);
        }
        if (ini) init_tail<VT>(a, ini, o, lane, gs);
    }
}

/* Scratch of the long-row path, sized at reshape. */
struct Split {
    int64_t *nch, *cbase;
    float *partial;
    int64_t tmax;
    void *temp;
    size_t temp_bytes;
};

weft_status alloc_n(void **p, int64_t n, size_t elem) { return weft_cuda_malloc((size_t)(n > 0 ? n : 0) * elem, p); }

/* No row can be long when E <= LONG_ROW (degrees are clamped into [0, E]); otherwise the chunks number at
 * most E / CHUNK_MIN + (rows of more than LONG_ROW edges) when offsets are what the checks accept. */
weft_status split_reserve(Split *sp, int64_t N, int64_t E, int64_t F)
{
    memset(sp, 0, sizeof *sp);
    if (N == 0 || E <= LONG_ROW) return WEFT_OK;
    sp->tmax = E / CHUNK_MIN + E / LONG_ROW + 2;
    weft_status s;
    if ((s = alloc_n((void **)&sp->nch, N, sizeof(int64_t))) || (s = alloc_n((void **)&sp->cbase, N, sizeof(int64_t))) ||
        (s = alloc_n((void **)&sp->partial, sp->tmax * (F > 0 ? F : 1), sizeof(float))))
        return s;
    cudaError_t e = cub::DeviceScan::InclusiveSum(NULL, sp->temp_bytes, (const int64_t *)NULL, (int64_t *)NULL, N, 0);
    if (e != cudaSuccess) return weft_cuda_status(e, "sizing the chunk scan");
    return weft_cuda_malloc(sp->temp_bytes, &sp->temp);
}

void split_release(Split *sp)
{
    void *p[] = {sp->nch, sp->cbase, sp->partial, sp->temp};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        if (p[i]) weft_cuda_free(p[i]);
    memset(sp, 0, sizeof *sp);
}

template <int K, typename VT>
weft_status reduce_launch(RedArgs a, int gs, const Split *sp, cudaStream_t st, const weft_node_info *node)
{
    weft_status s;
    const unsigned grid = weft_cuda_grid(a.N * gs, THREADS);
    reduce_rows<K, VT><<<grid, THREADS, 0, st>>>(a, gs);
    if ((s = weft_cuda_launched(node))) return s;
    if (!a.nch) return WEFT_OK;
    size_t bytes = sp->temp_bytes;
    cudaError_t e = cub::DeviceScan::InclusiveSum(sp->temp, bytes, (const int64_t *)a.nch, a.cbase, a.N, st);
    if (e != cudaSuccess) return weft_cuda_status(e, "numbering the chunks of long rows");
    reduce_chunks<K, VT><<<weft_cuda_grid(a.tmax * gs, THREADS), THREADS, 0, st>>>(a, gs);
    if ((s = weft_cuda_launched(node))) return s;
    reduce_combine<K, VT><<<grid, THREADS, 0, st>>>(a, gs);
    return weft_cuda_launched(node);
}

bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* Lanes per group: enough for the widest row's vectors, a power of two up to a warp. */
int group_size(int64_t vectors)
{
    int gs = 1;
    while (gs < 32 && gs < vectors) gs *= 2;
    return gs;
}

/* Enqueues the reduction `a` of kind K_* (mean: a.mean with K_SUM). */
weft_status reduce(RedArgs a, int kind, const Split *sp, cudaStream_t st, const weft_node_info *node)
{
    if (a.N == 0 || a.Fo == 0) return WEFT_OK;
    a.nch = sp->nch;
    a.cbase = sp->cbase;
    a.partial = sp->partial;
    a.tmax = sp->tmax;
    const bool v4 = a.F % 4 == 0 && a.Fo % 4 == 0 && aligned16(a.src) && aligned16(a.out) && (!a.init || aligned16(a.init)) &&
                    (!a.w || a.H == 1 || a.G % 4 == 0);
    const int gs = group_size(v4 ? a.Fo / 4 : a.Fo);
#define WEFT_REDUCE_CASE(K)                                                                                  \
    case K: return v4 ? reduce_launch<K, float4>(a, gs, sp, st, node) : reduce_launch<K, float>(a, gs, sp, st, node);
    switch (kind) {
        WEFT_REDUCE_CASE(K_SUM)
        WEFT_REDUCE_CASE(K_MAX)
        WEFT_REDUCE_CASE(K_MIN)
        WEFT_REDUCE_CASE(K_MUL)
    }
#undef WEFT_REDUCE_CASE
    return weft_op_error(node, WEFT_ERR_INTERNAL, "unknown reduction %d", kind);
}

/* --- edge softmax ----------------------------------------------------------------------------------- */

/* Segments: N rows of offsets, or the runs a build found (starts, their count on the device). */
struct Segs {
    const int64_t *off;
    int64_t N;
    const int64_t *starts, *nruns;
};

__global__ void edge_softmax(const float *s, float *o, const int64_t *perm, int64_t E, int64_t H, Segs g)
{
    const int lane = threadIdx.x & 31;
    const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5, nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    int64_t R = g.N;
    if (!g.off) {
        R = ld64(g.nruns);
        if (R > E) R = E;
    }
    /* a warp per segment: the loop and the shuffles are the same for its 32 lanes */
    for (int64_t r = warp; r < R; r += nwarps) {
        int64_t j0, j1;
        if (g.off) {
            row_range(g.off, r, E, j0, j1);
        } else {
            j0 = ld64(g.starts + r);
            j1 = r + 1 < R ? ld64(g.starts + r + 1) : E;
        }
        for (int64_t h = 0; h < H; h++) {
            double m = -INFINITY;
            for (int64_t j = j0 + lane; j < j1; j += 32) {
                const double x = __ldg(s + in_rows(ld64(perm + j), E) * H + h);
                if (x > m) m = x;
            }
            for (int d = 16; d > 0; d >>= 1) {
                const double y = __shfl_xor_sync(0xffffffffu, m, d);
                if (y > m) m = y;
            }
            double sum = 0;
            for (int64_t j = j0 + lane; j < j1; j += 32) sum += exp((double)__ldg(s + in_rows(ld64(perm + j), E) * H + h) - m);
            for (int d = 16; d > 0; d >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, d);
            for (int64_t j = j0 + lane; j < j1; j += 32) {
                const int64_t i = in_rows(ld64(perm + j), E) * H + h;
                o[i] = (float)(exp((double)__ldg(s + i) - m) / sum);
            }
        }
    }
}

weft_status softmax_launch(const float *s, float *o, const int64_t *perm, int64_t E, int64_t H, Segs g, int64_t segments,
                           cudaStream_t st, const weft_node_info *node)
{
    if (E == 0 || H == 0 || segments == 0) return WEFT_OK;
    edge_softmax<<<weft_cuda_grid(segments * 32, THREADS), THREADS, 0, st>>>(s, o, perm, E, H, g);
    return weft_cuda_launched(node);
}

/* --- LinkScore --------------------------------------------------------------------------------------- */

__device__ __forceinline__ void dot_add(double &s, float x, float y) { s += (double)(x * y); }
__device__ __forceinline__ void dot_add(double &s, float4 x, float4 y)
{
    s += (double)(x.x * y.x);
    s += (double)(x.y * y.y);
    s += (double)(x.z * y.z);
    s += (double)(x.w * y.w);
}

/* A group of gs lanes per pair; the warp's groups take consecutive pairs, so its loop and the shuffles
 * are the same for all 32 lanes. A pair with an index out of range gets 0 (and is flagged). */
template <typename VT>
__global__ void link_score(const float *A, const float *B, const void *ia, bool ia64, const void *ib, bool ib64, int64_t P,
                           int64_t F, int64_t Na, int64_t Nb, float *out, int gs, weft_cuda_err *err, int tag)
{
    constexpr int W = vec_width<VT>::W;
    const int lane = threadIdx.x & 31, sub = lane % gs, per_warp = 32 / gs;
    const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5, nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t base = warp * per_warp; base < P; base += nwarps * per_warp) {
        const int64_t p = base + lane / gs;
        double s = 0;
        bool ok = false;
        if (p < P) {
            const int64_t i = ld_index(ia, ia64, p), j = ld_index(ib, ib64, p);
            const bool oka = i >= -Na && i < Na, okb = j >= -Nb && j < Nb;
            if (sub == 0 && !oka) weft_cuda_flag(err, WEFT_CUDA_ERR_INDEX, tag, i, Na);
            else if (sub == 0 && !okb) weft_cuda_flag(err, WEFT_CUDA_ERR_INDEX, tag, j, Nb);
            ok = oka && okb;
            if (ok) {
                const float *ar = A + (i < 0 ? i + Na : i) * F, *br = B + (j < 0 ? j + Nb : j) * F;
                for (int64_t c = sub; c < F / W; c += gs) dot_add(s, vld<VT>(ar + c * W), vld<VT>(br + c * W));
            }
        }
        for (int d = gs >> 1; d > 0; d >>= 1) s += __shfl_xor_sync(0xffffffffu, s, d);
        if (p < P && sub == 0) out[p] = ok ? (float)s : 0.0f;
    }
}

/* --- gathers ------------------------------------------------------------------------------------------ */

/* Output row r = (o, j) of [outer, m, inner] is data row (o, idx[j]) of [outer, n, inner], in units UT
 * (16, 8 or 4 bytes); an index out of range is flagged and its row written as zeros. */
template <typename UT>
__global__ void gather_rows(const UT *data, UT *out, const void *idx, bool wide, int64_t outer, int64_t n, int64_t m,
                            int64_t inner, bool wrap, int gs, weft_cuda_err *err, int tag)
{
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x / gs;
    const int lane = (int)(t % gs);
    const int64_t rows = outer * m;
    for (int64_t r = t / gs; r < rows; r += stride) {
        const int64_t o = r / m, j = r - o * m;
        int64_t v = ld_index(idx, wide, j);
        const bool ok = v < n && v >= (wrap ? -n : 0);
        if (!ok && lane == 0) weft_cuda_flag(err, WEFT_CUDA_ERR_INDEX, tag, v, n);
        if (v < 0) v += n;
        UT *dst = out + r * inner;
        const UT *src = data + (o * n + (ok ? v : 0)) * inner;
        for (int64_t c = lane; c < inner; c += gs) dst[c] = ok ? __ldg(src + c) : UT();
    }
}

/* Only the check, for gathers whose output is empty (the reference checks the indices even then). */
__global__ void check_index(const void *idx, bool wide, int64_t m, int64_t n, bool wrap, weft_cuda_err *err, int tag)
{
    for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < m; j += (int64_t)gridDim.x * blockDim.x) {
        const int64_t v = ld_index(idx, wide, j);
        if (v >= n || v < (wrap ? -n : 0)) weft_cuda_flag(err, WEFT_CUDA_ERR_INDEX, tag, v, n);
    }
}

template <typename UT>
weft_status gather_launch(const void *data, void *out, const weft_tview *idx, int64_t outer, int64_t n, int64_t inner_bytes,
                          bool wrap, cudaStream_t st, const weft_node_info *node, weft_cuda_err *err, int tag)
{
    const int64_t inner = inner_bytes / (int64_t)sizeof(UT), m = idx->numel;
    const int gs = group_size(inner);
    gather_rows<UT><<<weft_cuda_grid(outer * m * gs, THREADS), THREADS, 0, st>>>((const UT *)data, (UT *)out, idx->data,
                                                                                idx->dtype == WEFT_INT64, outer, n, m,
                                                                                inner, wrap, gs, err, tag);
    return weft_cuda_launched(node);
}

/* Rows of `inner_bytes` from data [outer, n, ...] picked by idx along axis n, into out [outer, m, ...]. */
weft_status gather(const void *data, void *out, const weft_tview *idx, int64_t outer, int64_t n, int64_t inner_bytes, bool wrap,
                   weft_cuda_queue *q, const weft_node_info *node, int tag)
{
    const int64_t m = idx->numel;
    if (m == 0) return WEFT_OK;
    const bool wide = idx->dtype == WEFT_INT64;
    if (outer == 0) {
        check_index<<<weft_cuda_grid(m, THREADS), THREADS, 0, q->stream>>>(idx->data, wide, m, n, wrap, q->err, tag);
        return weft_cuda_launched(node);
    }
    const uintptr_t at = (uintptr_t)data | (uintptr_t)out;
    if (inner_bytes % 16 == 0 && at % 16 == 0)
        return gather_launch<float4>(data, out, idx, outer, n, inner_bytes, wrap, q->stream, node, q->err, tag);
    if (inner_bytes % 8 == 0 && at % 8 == 0)
        return gather_launch<float2>(data, out, idx, outer, n, inner_bytes, wrap, q->stream, node, q->err, tag);
    return gather_launch<float>(data, out, idx, outer, n, inner_bytes, wrap, q->stream, node, q->err, tag);
}

/* --- the table's entries ---------------------------------------------------------------------------- */

struct gprep {
    int kind;   /* K_* */
    bool mean;
    int64_t axis;
};

/* Per session and sizes: the step's tag and its device scratch. */
struct gstate {
    int tag;
    bool has_build;
    weft_cuda_csr build;   /* SegmentReduce, EdgeSoftmax */
    int64_t *offsets;      /* SegmentReduce: [N + 1] */
    unsigned *seen;        /* readers: weft_cuda_csr_seen_bytes(E) */
    Split split;
    int axis;              /* Gather: normalised */
};

bool is_op(const weft_step_desc *s, const char *domain, const char *name)
{
    return !strcmp(s->node->domain, domain) && !strcmp(s->node->op_type, name);
}
bool is_index(weft_dtype t) { return t == WEFT_INT32 || t == WEFT_INT64; }
bool present(const weft_step_desc *s, int i) { return i < s->n_in && s->in_dtype[i] != WEFT_UNDEFINED; }
/* absent, or of dtype t */
bool absent_or(const weft_step_desc *s, int i, weft_dtype t) { return !present(s, i) || s->in_dtype[i] == t; }

int64_t row_size(const weft_tview *t)
{
    int64_t f = 1;
    for (int d = 1; d < t->rank; d++) f *= t->dims[d];
    return f;
}

/* The `reduce` attribute as SegmentReduce reads it; -1 when unknown. */
int reduce_kind(const weft_node_info *n, bool *mean)
{
    const char *r = weft_attr_string(n, "reduce", "sum");
    *mean = !strcmp(r, "mean");
    if (!strcmp(r, "sum") || !strcmp(r, "add") || *mean) return K_SUM;
    if (!strcmp(r, "max")) return K_MAX;
    if (!strcmp(r, "min")) return K_MIN;
    if (!strcmp(r, "mul") || !strcmp(r, "prod")) return K_MUL;
    return -1;
}

weft_status prep_new(gprep **out)
{
    *out = (gprep *)calloc(1, sizeof **out);
    return *out ? WEFT_OK : weft_error(WEFT_ERR_NOMEM, "out of memory");
}

weft_status reduce_prepare(const weft_step_desc *s, void **prepared)
{
    gprep *p;
    weft_status st = prep_new(&p);
    if (st) return st;
    p->kind = reduce_kind(s->node, &p->mean);
    *prepared = p;
    return WEFT_OK;
}

weft_status state_new(const weft_kernel_ctx *k, weft_cuda_queue *q, gstate **out)
{
    gstate *st = (gstate *)calloc(1, sizeof *st);
    if (!st) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    st->tag = weft_cuda_tag(q, k->node);
    *out = st;
    return WEFT_OK;
}

void state_release(void *state)
{
    gstate *st = (gstate *)state;
    if (!st) return;
    if (st->has_build) weft_cuda_csr_release(&st->build);
    if (st->offsets) weft_cuda_free(st->offsets);
    if (st->seen) weft_cuda_free(st->seen);
    split_release(&st->split);
    free(st);
}

/* Ends a reshape: the state on success, released on failure. */
weft_status reshape_done(gstate *st, weft_status s, void **state)
{
    if (s) {
        state_release(st);
        return s;
    }
    *state = st;
    return WEFT_OK;
}

weft_status seen_reserve(gstate *st, int64_t E) { return weft_cuda_malloc(weft_cuda_csr_seen_bytes(E), (void **)&st->seen); }

/* Rows of a 2-D init may be wider than src's (ScatterElements' form); otherwise equal. */
bool widths_ok(const weft_tview *src, const weft_tview *out, bool has_init)
{
    int64_t F = row_size(src), Fo = row_size(out);
    return Fo == F || (has_init && out->rank == 2 && src->rank == 2 && F < Fo);
}

/* --- CsrReduce --- */

bool csr_reduce_supports(const weft_step_desc *s)
{
    bool mean;
    if (!is_op(s, "ai.weft", "CsrReduce") || s->n_in < 3 || s->n_out != 1) return false;
    if (s->in_dtype[0] != WEFT_FLOAT32 || s->in_dtype[1] != WEFT_INT64 || s->in_dtype[2] != WEFT_INT64) return false;
    if (!absent_or(s, 3, WEFT_FLOAT32) || s->out_dtype[0] != WEFT_FLOAT32 || s->in_shape[0].rank == 0) return false;
    int kind = reduce_kind(s->node, &mean);
    return kind >= 0 && !(mean && present(s, 3));
}

weft_status csr_reduce_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const weft_tview *src = &k->in[0], *off = &k->in[1], *perm = &k->in[2], *out = &k->out[0];
    bool has_init = weft_kin_present(k, 3);
    if (src->rank < 1 || off->rank != 1 || off->numel < 1)
        return weft_op_error(k->node, WEFT_ERR_INVALID_ARGUMENT, "input 1 (offsets) must be 1-D with N + 1 >= 1 entries");
    int64_t N = off->numel - 1, E = src->dims[0];
    if (perm->rank != 1 || perm->numel != E)
        return weft_op_error(k->node, WEFT_ERR_INVALID_ARGUMENT, "input 2 (perm) must be 1-D with E = %lld entries, has %lld",
                             (long long)E, (long long)perm->numel);
    if (out->rank < 1 || out->dims[0] != N)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "output has %lld rows, offsets give N = %lld",
                             (long long)(out->rank ? out->dims[0] : 0), (long long)N);
    if (!widths_ok(src, out, has_init))
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "init rows (%lld) and src rows (%lld) differ in size",
                             (long long)row_size(out), (long long)row_size(src));
    if (has_init && k->in[3].numel != out->numel)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "input 3 (init) has %lld elements, the output %lld",
                             (long long)k->in[3].numel, (long long)out->numel);
    gstate *st;
    weft_status s = state_new(k, q, &st);
    if (s) return s;
    if (!(s = seen_reserve(st, E))) s = split_reserve(&st->split, N, E, row_size(src));
    return reshape_done(st, s, state);
}

weft_status csr_reduce_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const gprep *p = (const gprep *)prepared;
    gstate *st = (gstate *)state;
    const weft_tview *src = &k->in[0];
    bool has_init = weft_kin_present(k, 3);
    int64_t N = k->in[1].numel - 1, E = src->dims[0];
    const int64_t *off = (const int64_t *)k->in[1].data, *perm = (const int64_t *)k->in[2].data;
    weft_status s = weft_cuda_csr_check(q, k->node, st->tag, off, N, E, perm, NULL, 0, st->seen);
    if (s) return s;
    RedArgs a = {};
    a.src = (const float *)src->data;
    a.off = off;
    a.perm = perm;
    a.init = has_init ? (const float *)k->in[3].data : NULL;
    a.out = (float *)k->out[0].data;
    a.N = N;
    a.E = E;
    a.M = E;
    a.F = row_size(src);
    a.Fo = row_size(&k->out[0]);
    a.H = 1;
    a.G = 1;
    a.mean = p->mean && !has_init;
    return reduce(a, p->kind, &st->split, q->stream, k->node);
}

/* --- CsrGatherReduce --- */

bool gather_reduce_supports(const weft_step_desc *s)
{
    bool mean;
    if (!is_op(s, "ai.weft", "CsrGatherReduce") || s->n_in < 3 || s->n_out != 1) return false;
    if (s->in_dtype[0] != WEFT_FLOAT32 || s->in_dtype[1] != WEFT_INT64 || s->in_dtype[2] != WEFT_INT64) return false;
    if (!absent_or(s, 3, WEFT_INT64) || !absent_or(s, 4, WEFT_FLOAT32) || (present(s, 4) && !present(s, 3))) return false;
    if (s->out_dtype[0] != WEFT_FLOAT32 || s->in_shape[0].rank == 0) return false;
    int kind = reduce_kind(s->node, &mean);
    return kind >= 0 && kind != K_MUL;
}

/* Heads of a weight: [E] and [E, 1] scale the whole row (1), [E, H] and [E, H, 1] head h of it (H);
 * -1 for any other shape. */
int64_t weight_heads(const weft_tview *w)
{
    if (w->rank < 1 || w->rank > 3 || (w->rank == 3 && w->dims[2] != 1)) return -1;
    return w->rank == 1 ? 1 : w->dims[1];
}

weft_status gather_reduce_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const weft_tview *x = &k->in[0], *off = &k->in[1], *col = &k->in[2], *out = &k->out[0];
    bool has_perm = weft_kin_present(k, 3), has_w = weft_kin_present(k, 4);
    if (x->rank < 1 || off->rank != 1 || off->numel < 1)
        return weft_op_error(k->node, WEFT_ERR_INVALID_ARGUMENT, "input 1 (offsets) must be 1-D with N + 1 >= 1 entries");
    int64_t N = off->numel - 1, E = col->numel, R = row_size(x);
    if (col->rank != 1) return weft_op_error(k->node, WEFT_ERR_INVALID_ARGUMENT, "input 2 (col) must be 1-D");
    if (out->rank < 1 || out->dims[0] != N || out->numel != N * R)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "output must be [N = %lld, x's row]", (long long)N);
    if (has_perm && (k->in[3].rank != 1 || k->in[3].numel != E))
        return weft_op_error(k->node, WEFT_ERR_INVALID_ARGUMENT, "input 3 (perm) must be 1-D with E = %lld entries, has %lld",
                             (long long)E, (long long)k->in[3].numel);
    if (has_w) {
        const weft_tview *w = &k->in[4];
        int64_t H = weight_heads(w);
        if (!has_perm) return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "input 4 (weight) needs input 3 (perm)");
        if (H < 0 || w->dims[0] != E)
            return weft_op_error(k->node, WEFT_ERR_SHAPE,
                                 "input 4 (weight) must be [E], [E, 1], [E, H] or [E, H, 1] with E = %lld", (long long)E);
        if (H != 1 && (x->rank < 2 || x->dims[1] != H))
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input 4 (weight) has %lld heads but input 0 (x) is not [M, %lld, ...]",
                                 (long long)H, (long long)H);
    }
    gstate *st;
    weft_status s = state_new(k, q, &st);
    if (s) return s;
    if (!(s = seen_reserve(st, E))) s = split_reserve(&st->split, N, E, R);
    return reshape_done(st, s, state);
}

weft_status gather_reduce_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const gprep *p = (const gprep *)prepared;
    gstate *st = (gstate *)state;
    const weft_tview *x = &k->in[0];
    bool has_perm = weft_kin_present(k, 3), has_w = weft_kin_present(k, 4);
    int64_t N = k->in[1].numel - 1, E = k->in[2].numel, M = x->dims[0], R = row_size(x);
    const int64_t *off = (const int64_t *)k->in[1].data, *col = (const int64_t *)k->in[2].data;
    const int64_t *perm = has_perm ? (const int64_t *)k->in[3].data : NULL;
    weft_status s = weft_cuda_csr_check(q, k->node, st->tag, off, N, E, perm, col, M, st->seen);
    if (s) return s;
    if (M == 0 && E > 0) return WEFT_OK; /* every col is out of range: flagged, nothing to read */
    RedArgs a = {};
    a.src = (const float *)x->data;
    a.off = off;
    a.perm = perm;
    a.col = col;
    a.out = (float *)k->out[0].data;
    a.N = N;
    a.E = E;
    a.M = M;
    a.F = R;
    a.Fo = R;
    a.H = 1;
    a.G = R > 0 ? R : 1;
    if (has_w) {
        a.w = (const float *)k->in[4].data;
        a.H = weight_heads(&k->in[4]);
        a.G = a.H > 0 && R > 0 ? R / a.H : 1;
    }
    a.mean = p->mean;
    return reduce(a, p->kind, &st->split, q->stream, k->node);
}

/* --- SegmentReduce --- */

bool segment_reduce_supports(const weft_step_desc *s)
{
    bool mean;
    if (!is_op(s, "ai.weft", "SegmentReduce") || s->n_in < 2 || s->n_out != 1) return false;
    if (s->in_dtype[0] != WEFT_FLOAT32 || !is_index(s->in_dtype[1]) || !absent_or(s, 3, WEFT_FLOAT32)) return false;
    if (s->out_dtype[0] != WEFT_FLOAT32 || s->in_shape[0].rank == 0) return false;
    int kind = reduce_kind(s->node, &mean);
    return kind >= 0 && !(mean && present(s, 3));
}

weft_status segment_reduce_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const weft_tview *src = &k->in[0], *idx = &k->in[1], *out = &k->out[0];
    bool has_init = weft_kin_present(k, 3);
    if (src->rank < 1 || out->rank < 1) return weft_op_error(k->node, WEFT_ERR_SHAPE, "src must have rank >= 1");
    int64_t N = out->dims[0], E = idx->numel;
    if (src->dims[0] != E)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "src has %lld rows but index has %lld entries", (long long)src->dims[0],
                             (long long)E);
    if (!widths_ok(src, out, has_init))
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "init rows (%lld) and src rows (%lld) differ in size",
                             (long long)row_size(out), (long long)row_size(src));
    if (has_init && k->in[3].numel != out->numel)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "init has %lld elements, the output %lld", (long long)k->in[3].numel,
                             (long long)out->numel);
    gstate *st;
    weft_status s = state_new(k, q, &st);
    if (s) return s;
    st->has_build = true;
    if (!(s = weft_cuda_csr_reserve(&st->build, E, N, true)) && !(s = alloc_n((void **)&st->offsets, N + 1, sizeof(int64_t))))
        s = split_reserve(&st->split, N, E, row_size(src));
    return reshape_done(st, s, state);
}

weft_status segment_reduce_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const gprep *p = (const gprep *)prepared;
    gstate *st = (gstate *)state;
    const weft_tview *src = &k->in[0], *idx = &k->in[1];
    bool has_init = weft_kin_present(k, 3);
    int64_t N = k->out[0].dims[0], E = idx->numel;
    /* the init form takes indices in [-N, N), as ScatterElements does */
    weft_status s = weft_cuda_csr_build(&st->build, q, k->node, st->tag, idx->data, idx->dtype == WEFT_INT64, N, has_init,
                                        st->offsets, NULL);
    if (s) return s;
    RedArgs a = {};
    a.src = (const float *)src->data;
    a.off = st->offsets;
    a.perm = weft_cuda_csr_perm(&st->build, NULL);
    a.init = has_init ? (const float *)k->in[3].data : NULL;
    a.out = (float *)k->out[0].data;
    a.N = N;
    a.E = E;
    a.M = E;
    a.F = row_size(src);
    a.Fo = row_size(&k->out[0]);
    a.H = 1;
    a.G = 1;
    a.mean = p->mean && !has_init;
    return reduce(a, p->kind, &st->split, q->stream, k->node);
}

/* --- CsrEdgeSoftmax and EdgeSoftmax --- */

bool scores_rank_ok(const weft_step_desc *s) { return s->in_shape[0].rank < 0 || s->in_shape[0].rank == 1 || s->in_shape[0].rank == 2; }

bool csr_softmax_supports(const weft_step_desc *s)
{
    return is_op(s, "ai.weft", "CsrEdgeSoftmax") && s->n_in == 3 && s->n_out == 1 && s->in_dtype[0] == WEFT_FLOAT32 &&
           s->in_dtype[1] == WEFT_INT64 && s->in_dtype[2] == WEFT_INT64 && s->out_dtype[0] == WEFT_FLOAT32 && scores_rank_ok(s);
}

weft_status scores_shape(const weft_kernel_ctx *k, int64_t *E, int64_t *H)
{
    const weft_tview *sc = &k->in[0];
    if (sc->rank < 1 || sc->rank > 2 || k->out[0].numel != sc->numel)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "input 0 (scores) must be [E] or [E, H]");
    *E = sc->dims[0];
    *H = sc->rank == 2 ? sc->dims[1] : 1;
    return WEFT_OK;
}

weft_status csr_softmax_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    int64_t E, H;
    weft_status s = scores_shape(k, &E, &H);
    if (s) return s;
    if (k->in[1].rank != 1 || k->in[1].numel < 1)
        return weft_op_error(k->node, WEFT_ERR_INVALID_ARGUMENT, "input 1 (offsets) must be 1-D with N + 1 >= 1 entries");
    if (k->in[2].rank != 1 || k->in[2].numel != E)
        return weft_op_error(k->node, WEFT_ERR_INVALID_ARGUMENT, "input 2 (perm) must be 1-D with E = %lld entries, has %lld",
                             (long long)E, (long long)k->in[2].numel);
    gstate *st;
    if ((s = state_new(k, q, &st))) return s;
    return reshape_done(st, seen_reserve(st, E), state);
}

weft_status csr_softmax_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    gstate *st = (gstate *)state;
    int64_t E, H, N = k->in[1].numel - 1;
    weft_status s = scores_shape(k, &E, &H);
    if (s) return s;
    const int64_t *off = (const int64_t *)k->in[1].data, *perm = (const int64_t *)k->in[2].data;
    if ((s = weft_cuda_csr_check(q, k->node, st->tag, off, N, E, perm, NULL, 0, st->seen))) return s;
    Segs g = {off, N, NULL, NULL};
    return softmax_launch((const float *)k->in[0].data, (float *)k->out[0].data, perm, E, H, g, N, q->stream, k->node);
}

bool edge_softmax_supports(const weft_step_desc *s)
{
    return is_op(s, "ai.weft", "EdgeSoftmax") && s->n_in == 3 && s->n_out == 1 && s->in_dtype[0] == WEFT_FLOAT32 &&
           is_index(s->in_dtype[1]) && is_index(s->in_dtype[2]) && s->out_dtype[0] == WEFT_FLOAT32 && scores_rank_ok(s);
}

weft_status edge_softmax_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    int64_t E, H;
    weft_status s = scores_shape(k, &E, &H);
    if (s) return s;
    if (k->in[1].numel != E)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "scores have %lld rows but index has %lld entries", (long long)E,
                             (long long)k->in[1].numel);
    gstate *st;
    if ((s = state_new(k, q, &st))) return s;
    st->has_build = true;
    /* num_segments is a host value that does not size anything: the segments are found as runs */
    return reshape_done(st, weft_cuda_csr_reserve(&st->build, E, -1, true), state);
}

weft_status edge_softmax_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    gstate *st = (gstate *)state;
    int64_t E, H;
    weft_status s = scores_shape(k, &E, &H);
    if (s) return s;
    const weft_tview *ns = &k->in[2], *idx = &k->in[1];
    if (ns->numel != 1) return weft_op_error(k->node, WEFT_ERR_SHAPE, "num_segments must hold one value");
    int64_t N = weft_load_i64(ns->dtype, ns->data, 0);
    if (N < 0) return weft_op_error(k->node, WEFT_ERR_SHAPE, "num_segments is negative");
    if ((s = weft_cuda_csr_build(&st->build, q, k->node, st->tag, idx->data, idx->dtype == WEFT_INT64, N, false, NULL, NULL)))
        return s;
    Segs g = {NULL, 0, st->build.starts, st->build.nruns};
    return softmax_launch((const float *)k->in[0].data, (float *)k->out[0].data, weft_cuda_csr_perm(&st->build, NULL), E, H, g,
                          E, q->stream, k->node);
}

/* --- LinkScore --- */

bool link_supports(const weft_step_desc *s)
{
    return is_op(s, "ai.weft", "LinkScore") && s->n_in == 4 && s->n_out == 1 && s->in_dtype[0] == WEFT_FLOAT32 &&
           s->in_dtype[1] == WEFT_FLOAT32 && is_index(s->in_dtype[2]) && is_index(s->in_dtype[3]) &&
           s->out_dtype[0] == WEFT_FLOAT32;
}

weft_status link_shapes(const weft_kernel_ctx *k)
{
    const weft_tview *a = &k->in[0], *b = &k->in[1], *ia = &k->in[2], *ib = &k->in[3];
    if (a->rank != 2 || b->rank != 2 || b->dims[1] != a->dims[1] || ib->numel != ia->numel || k->out[0].numel != ia->numel)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "ia and ib must have P entries and a, b the same F");
    return WEFT_OK;
}

weft_status plain_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    gstate *st;
    weft_status s = state_new(k, q, &st);
    if (!s) *state = st;
    return s;
}

weft_status link_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    weft_status s = link_shapes(k);
    return s ? s : plain_reshape(prepared, k, q, state);
}

weft_status link_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const gstate *st = (const gstate *)state;
    const weft_tview *a = &k->in[0], *b = &k->in[1], *ia = &k->in[2], *ib = &k->in[3];
    int64_t P = ia->numel, F = a->dims[1];
    if (P == 0) return WEFT_OK;
    const bool v4 = F % 4 == 0 && aligned16(a->data) && aligned16(b->data);
    const int gs = group_size(v4 ? F / 4 : F);
    const unsigned grid = weft_cuda_grid((P + 32 / gs - 1) / (32 / gs) * 32, THREADS);
    bool ia64 = ia->dtype == WEFT_INT64, ib64 = ib->dtype == WEFT_INT64;
    if (v4)
        link_score<float4><<<grid, THREADS, 0, q->stream>>>((const float *)a->data, (const float *)b->data, ia->data, ia64, ib->data,
                                                            ib64, P, F, a->dims[0], b->dims[0], (float *)k->out[0].data, gs,
                                                            q->err, st->tag);
    else
        link_score<float><<<grid, THREADS, 0, q->stream>>>((const float *)a->data, (const float *)b->data, ia->data, ia64, ib->data,
                                                           ib64, P, F, a->dims[0], b->dims[0], (float *)k->out[0].data, gs,
                                                           q->err, st->tag);
    return weft_cuda_launched(k->node);
}

/* --- RowGather and Gather --- */

bool row_gather_supports(const weft_step_desc *s)
{
    return is_op(s, "ai.weft", "RowGather") && s->n_in == 2 && s->n_out == 1 && s->in_dtype[0] == WEFT_FLOAT32 &&
           is_index(s->in_dtype[1]) && s->out_dtype[0] == WEFT_FLOAT32 && s->in_shape[0].rank != 0;
}

weft_status row_gather_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const gstate *st = (const gstate *)state;
    const weft_tview *data = &k->in[0], *idx = &k->in[1];
    if (data->rank < 1 || k->out[0].numel != idx->numel * row_size(data))
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "data must have rank >= 1 and the output [index, data's row]");
    return gather(data->data, k->out[0].data, idx, 1, data->dims[0], row_size(data) * (int64_t)sizeof(float), false, q, k->node,
                  st->tag);
}

bool gather_supports(const weft_step_desc *s)
{
    if (!is_op(s, "", "Gather") || s->n_in != 2 || s->n_out != 1) return false;
    /* a row copy, whatever the element: float32 values, and int32 / int64 (the rows of an edge index that
     * PyG exports gather before its scatters) */
    const weft_dtype dt = s->in_dtype[0];
    if ((dt != WEFT_FLOAT32 && dt != WEFT_INT32 && dt != WEFT_INT64) || !is_index(s->in_dtype[1]) || s->out_dtype[0] != dt)
        return false;
    int rank = s->in_shape[0].rank;
    int64_t axis = weft_attr_int(s->node, "axis", 0);
    return rank >= 1 && axis >= -rank && axis < rank;
}

weft_status gather_prepare(const weft_step_desc *s, void **prepared)
{
    gprep *p;
    weft_status st = prep_new(&p);
    if (st) return st;
    p->axis = weft_attr_int(s->node, "axis", 0);
    *prepared = p;
    return WEFT_OK;
}

weft_status gather_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const gprep *p = (const gprep *)prepared;
    int axis;
    weft_status s = weft_axis(k->node, p->axis, k->in[0].rank, false, &axis);
    if (s) return s;
    gstate *st;
    if ((s = state_new(k, q, &st))) return s;
    st->axis = axis;
    *state = st;
    return WEFT_OK;
}

weft_status gather_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const gstate *st = (const gstate *)state;
    const weft_tview *d = &k->in[0], *idx = &k->in[1];
    int64_t outer = 1, inner = 1;
    for (int a = 0; a < st->axis; a++) outer *= d->dims[a];
    for (int a = st->axis + 1; a < d->rank; a++) inner *= d->dims[a];
    if (k->out[0].numel != outer * idx->numel * inner)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "output has %lld elements, expected %lld", (long long)k->out[0].numel,
                             (long long)(outer * idx->numel * inner));
    /* ONNX: indices in [-n, n), negative ones counted from the end */
    return gather(d->data, k->out[0].data, idx, outer, d->dims[st->axis], inner * (int64_t)weft_dtype_size(d->dtype), true, q,
                  k->node, st->tag);
}

/* --- the copy-bandwidth probe ------------------------------------------------------------------------ */

__global__ void probe_copy(const float4 *__restrict__ src, float4 *__restrict__ dst, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = __ldg(src + i);
}

} // namespace

extern "C" weft_status weft_cuda_copy_bandwidth(size_t bytes, int reps, double *gbps)
{
    *gbps = 0;
    const int64_t n = (int64_t)(bytes / 16);
    if (n == 0 || reps < 1) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "copy bandwidth: %zu bytes, %d repetitions", bytes, reps);
    void *a = NULL, *b = NULL;
    cudaStream_t st = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    float ms = 0;
    const unsigned grid = weft_cuda_grid(n, THREADS);
    cudaError_t e = cudaMalloc(&a, (size_t)n * 16);
    if (e == cudaSuccess) e = cudaMalloc(&b, (size_t)n * 16);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking);
    if (e == cudaSuccess) e = cudaEventCreate(&e0);
    if (e == cudaSuccess) e = cudaEventCreate(&e1);
    if (e == cudaSuccess) e = cudaMemsetAsync(a, 0, (size_t)n * 16, st);
    if (e == cudaSuccess) {
        probe_copy<<<grid, THREADS, 0, st>>>((const float4 *)a, (float4 *)b, n); /* warm-up */
        e = cudaEventRecord(e0, st);
    }
    for (int r = 0; e == cudaSuccess && r < reps; r++) {
        probe_copy<<<grid, THREADS, 0, st>>>((const float4 *)a, (float4 *)b, n);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess) e = cudaEventRecord(e1, st);
    if (e == cudaSuccess) e = cudaEventSynchronize(e1);
    if (e == cudaSuccess) e = cudaEventElapsedTime(&ms, e0, e1);
    if (e == cudaSuccess && ms > 0) *gbps = 2.0 * (double)n * 16.0 * reps / ((double)ms * 1e-3) / 1e9;
    if (e1) cudaEventDestroy(e1);
    if (e0) cudaEventDestroy(e0);
    if (st) cudaStreamDestroy(st);
    if (b) cudaFree(b);
    if (a) cudaFree(a);
    return weft_cuda_status(e, "copy bandwidth");
}

#define WEFT_CUDA_GRAPH_OP(x, dom, name, sup, prep, resh, run)                                                        \
    extern "C" const weft_cuda_op weft_cuda_op_##x = {dom, name, sup, prep, resh, run, NULL, state_release};

WEFT_CUDA_GRAPH_OP(csr_reduce, "ai.weft", "CsrReduce", csr_reduce_supports, reduce_prepare, csr_reduce_reshape, csr_reduce_run)
WEFT_CUDA_GRAPH_OP(csr_gather_reduce, "ai.weft", "CsrGatherReduce", gather_reduce_supports, reduce_prepare, gather_reduce_reshape,
                   gather_reduce_run)
WEFT_CUDA_GRAPH_OP(csr_edge_softmax, "ai.weft", "CsrEdgeSoftmax", csr_softmax_supports, NULL, csr_softmax_reshape, csr_softmax_run)
WEFT_CUDA_GRAPH_OP(link_score, "ai.weft", "LinkScore", link_supports, NULL, link_reshape, link_run)
WEFT_CUDA_GRAPH_OP(segment_reduce, "ai.weft", "SegmentReduce", segment_reduce_supports, reduce_prepare, segment_reduce_reshape,
                   segment_reduce_run)
WEFT_CUDA_GRAPH_OP(row_gather, "ai.weft", "RowGather", row_gather_supports, NULL, plain_reshape, row_gather_run)
WEFT_CUDA_GRAPH_OP(edge_softmax, "ai.weft", "EdgeSoftmax", edge_softmax_supports, NULL, edge_softmax_reshape, edge_softmax_run)
WEFT_CUDA_GRAPH_OP(gather, "", "Gather", gather_supports, gather_prepare, gather_reshape, gather_run)
#undef WEFT_CUDA_GRAPH_OP
