/*
 * ops/cuda/csr.cu — CSR indices on the device: the builder and the checks of ops/cuda/csr.h, and the ai.weft
 * CSR op.
 *
 * A build is a stable sort of the edges by destination, in three steps on the session's stream:
 *   1. one pass over the index checks every value against its range (a bad one is flagged and its edge
 *      parked in a segment past the last, so nothing later reads or writes out of bounds), writes the
 *      sort keys (the wrapped destination, 32 or 64 bits) and the edge ids 0..E-1, and counts the edges
 *      of each segment with warp-aggregated integer atomics (a count does not depend on their order);
 *   2. CUB's radix sort orders the (destination, edge id) pairs over the bits N needs; it is an LSD sort,
 *      stable, so the edges of a segment stay in edge order and perm is the reference's;
 *   3. an exclusive scan of the counts gives offsets (offsets form), or the positions where the sorted
 *      destination changes are selected as the starts of runs (runs form, when N is known only at run).
 * Temporary storage for CUB is sized at reshape for every bit count a run may use, so run only enqueues.
 *
 * Readers handed an index (CsrReduce & co.) check it here first: offsets monotone from 0 to E, perm a
 * permutation (a bitmap of the edges seen, cleared every run), col inside x.
 *
 * The CSR op's col output is src_index read through perm (wrapped into [0, M)), checked as it is read.
 * The reference checks all of index before src_index; here index's check runs first in stream order, so
 * an index error is the one recorded when both are wrong.
 */
#include <cub/cub.cuh>

#include <stdlib.h>
#include <string.h>

#include "csr.h"

namespace {

constexpr int THREADS = 256;

__device__ __forceinline__ int64_t ld64(const int64_t *p) { return (int64_t)__ldg((const long long *)p); }

__device__ __forceinline__ int64_t ld_index(const void *p, bool wide, int64_t i)
{
    return wide ? (int64_t)__ldg((const long long *)p + i) : (int64_t)__ldg((const int *)p + i);
}

/* Step 1. The loop runs warp by warp (every lane takes the same trip count) so that the match has all
 * 32 lanes; lanes past the end carry the key `none`, which no counted edge has (counted keys are < N). */
template <typename KeyT>
__global__ void csr_keys(const void *index, bool wide, int64_t E, int64_t N, bool wrap, KeyT *keys, int64_t *ids,
                         unsigned long long *counts, weft_cuda_err *err, int tag)
{
    const KeyT none = (KeyT)~(KeyT)0;
    const int lane = threadIdx.x & 31;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t base = (int64_t)blockIdx.x * blockDim.x + (threadIdx.x & ~31); base < E; base += stride) {
        const int64_t e = base + lane;
        KeyT counted = none;
        if (e < E) {
            const int64_t v = ld_index(index, wide, e);
            const bool ok = v < N && v >= (wrap ? -N : 0);
            if (!ok) weft_cuda_flag(err, WEFT_CUDA_ERR_INDEX, tag, v, N);
            const KeyT key = ok ? (KeyT)(v < 0 ? v + N : v) : (KeyT)N;
            keys[e] = key;
            ids[e] = e;
            if (ok) counted = key;
        }
        if (counts) {
            const unsigned same = __match_any_sync(0xffffffffu, counted);
            if (counted != none && lane == __ffs(same) - 1) atomicAdd(&counts[counted], (unsigned long long)__popc(same));
        }
    }
}

/* Runs form: position e starts a run when its destination differs from the one before. */
template <typename KeyT>
__global__ void csr_heads(const KeyT *keys, int64_t E, unsigned char *heads)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < E; e += (int64_t)gridDim.x * blockDim.x)
        heads[e] = e == 0 || keys[e] != keys[e - 1];
}

/* col[j] = src_index[perm[j]] wrapped into [0, M), checked; without col (or perm) only the check. */
__global__ void csr_cols(const int64_t *perm, int64_t E, const void *src, bool wide, int64_t M, bool wrap, int64_t *col,
                         weft_cuda_err *err, int tag)
{
    for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < E; j += (int64_t)gridDim.x * blockDim.x) {
        const int64_t e = perm ? perm[j] : j;
        const int64_t v = ld_index(src, wide, e);
        const bool ok = v < M && v >= (wrap ? -M : 0);
        if (!ok) weft_cuda_flag(err, WEFT_CUDA_ERR_INDEX, tag, v, M);
        if (col) col[j] = ok ? (v < 0 ? v + M : v) : 0;
    }
}

/* The checks of an index a reader is handed (weft_cuda_csr_check). offsets: offsets[0] = 0, never
 * decreasing, offsets[N] = E. */
__global__ void check_offsets(const int64_t *off, int64_t N, int64_t E, weft_cuda_err *err, int tag)
{
    for (int64_t n = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; n <= N; n += (int64_t)gridDim.x * blockDim.x) {
        const int64_t v = ld64(off + n);
        bool bad = n == 0 ? v != 0 : v < ld64(off + n - 1);
        if (n == N && v != E) bad = true;
        if (bad) weft_cuda_flag(err, WEFT_CUDA_ERR_STRUCTURE, tag, n, N + 1);
    }
}

/* col: values in [0, M); perm: values in [0, E), none twice (`seen`: E bits, cleared before). */
__global__ void check_edges(const int64_t *perm, const int64_t *col, int64_t E, int64_t M, unsigned *seen,
                            weft_cuda_err *err, int tag)
{
    for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < E; j += (int64_t)gridDim.x * blockDim.x) {
        if (col) {
            const int64_t c = ld64(col + j);
            if (c < 0 || c >= M) weft_cuda_flag(err, WEFT_CUDA_ERR_INDEX, tag, c, M);
        }
        if (perm) {
            const int64_t p = ld64(perm + j);
            if (p < 0 || p >= E) {
                weft_cuda_flag(err, WEFT_CUDA_ERR_INDEX, tag, p, E);
            } else {
                const unsigned bit = 1u << (p & 31);
                if (atomicOr(&seen[p >> 5], bit) & bit) weft_cuda_flag(err, WEFT_CUDA_ERR_STRUCTURE, tag, j, E);
            }
        }
    }
}

/* Bits a key must hold: values 0..N (N itself parks bad edges). */
int key_bits(int64_t N)
{
    int b = 1;
    while (b < 64 && ((uint64_t)N >> b) != 0) b++;
    return b;
}

template <typename KeyT>
cudaError_t sort_pairs(void *temp, size_t &bytes, const KeyT *kin, KeyT *kout, const int64_t *vin, int64_t *vout,
                       int64_t E, int end_bit, cudaStream_t s)
{
    return cub::DeviceRadixSort::SortPairs(temp, bytes, kin, kout, vin, vout, E, 0, end_bit, s);
}

/* The most temporary storage a sort of E pairs with keys of KeyT may ask for, over bit counts 1..max:
 * the runs form picks its bit count only at run. */
template <typename KeyT>
weft_status sort_temp(int64_t E, int bits_lo, int bits_hi, size_t *bytes)
{
    for (int b = bits_lo; b <= bits_hi; b++) {
        size_t n = 0;
        cudaError_t e = sort_pairs<KeyT>(NULL, n, (const KeyT *)NULL, (KeyT *)NULL, NULL, NULL, E, b, 0);
        if (e != cudaSuccess) return weft_cuda_status(e, "sizing the CSR sort");
        if (n > *bytes) *bytes = n;
    }
    return WEFT_OK;
}

weft_status alloc_n(void **p, int64_t n, size_t elem) { return weft_cuda_malloc((size_t)(n > 0 ? n : 0) * elem, p); }

template <typename KeyT>
weft_status build_keys(weft_cuda_csr *c, weft_cuda_queue *q, const weft_node_info *node, int tag, const void *index,
                       bool index64, int64_t N, bool wrap, int64_t *offsets, int64_t *perm)
{
    cudaStream_t st = q->stream;
    const int64_t E = c->E;
    weft_status s;
    cudaError_t e;
    if (c->counts && (e = cudaMemsetAsync(c->counts, 0, (size_t)(N + 1) * sizeof *c->counts, st)) != cudaSuccess)
        return weft_cuda_status(e, "clearing CSR counts");
    if (E > 0) {
        csr_keys<KeyT><<<weft_cuda_grid(E, THREADS), THREADS, 0, st>>>(index, index64, E, N, wrap, (KeyT *)c->keys,
                                                                           c->ids, c->counts, q->err, tag);
        if ((s = weft_cuda_launched(node))) return s;
        size_t bytes = c->temp_bytes;
        int bits = c->N >= 0 ? c->end_bit : key_bits(N);
        if ((e = sort_pairs<KeyT>(c->temp, bytes, (const KeyT *)c->keys, (KeyT *)c->keys_sorted, c->ids, perm, E, bits, st)) !=
            cudaSuccess)
            return weft_cuda_status(e, "sorting edges by destination");
    }
    if (c->N >= 0) {
        size_t bytes = c->temp_bytes;
        if ((e = cub::DeviceScan::ExclusiveSum(c->temp, bytes, (const unsigned long long *)c->counts, offsets, N + 1, st)) != cudaSuccess)
            return weft_cuda_status(e, "CSR offsets");
        return WEFT_OK;
    }
    if (E == 0) {
        if ((e = cudaMemsetAsync(c->nruns, 0, sizeof *c->nruns, st)) != cudaSuccess) return weft_cuda_status(e, "CSR runs");
        return WEFT_OK;
    }
    csr_heads<KeyT><<<weft_cuda_grid(E, THREADS), THREADS, 0, st>>>((const KeyT *)c->keys_sorted, E, c->heads);
    if ((s = weft_cuda_launched(node))) return s;
    size_t bytes = c->temp_bytes;
    if ((e = cub::DeviceSelect::Flagged(c->temp, bytes, (const int64_t *)c->ids, (const unsigned char *)c->heads, c->starts,
                                          c->nruns, E, st)) != cudaSuccess)
        return weft_cuda_status(e, "CSR runs");
    return WEFT_OK;
}

} // namespace

weft_status weft_cuda_csr_reserve(weft_cuda_csr *c, int64_t E, int64_t N, bool own_perm)
{
    memset(c, 0, sizeof *c);
    c->E = E;
    c->N = N;
    weft_status s;
    size_t bytes = 0;
    if (N >= 0) {
        c->key64 = (uint64_t)N > 0xffffffffull;
        c->end_bit = key_bits(N);
        s = c->key64 ? sort_temp<unsigned long long>(E, c->end_bit, c->end_bit, &bytes)
                     : sort_temp<unsigned int>(E, c->end_bit, c->end_bit, &bytes);
        if (s) return s;
        size_t n = 0;
        cudaError_t e = cub::DeviceScan::ExclusiveSum(NULL, n, (const unsigned long long *)NULL, (int64_t *)NULL, N + 1, 0);
        if (e != cudaSuccess) return weft_cuda_status(e, "sizing the CSR scan");
        if (n > bytes) bytes = n;
        if ((s = alloc_n((void **)&c->counts, N + 1, sizeof *c->counts))) return s;
    } else {
        c->key64 = true; /* room for either width: the run picks */
        if ((s = sort_temp<unsigned int>(E, 1, 32, &bytes)) || (s = sort_temp<unsigned long long>(E, 1, 64, &bytes))) return s;
        size_t n = 0;
        cudaError_t e = cub::DeviceSelect::Flagged(NULL, n, (const int64_t *)NULL, (const unsigned char *)NULL,
                                                   (int64_t *)NULL, (int64_t *)NULL, E, 0);
        if (e != cudaSuccess) return weft_cuda_status(e, "sizing the CSR runs");
        if (n > bytes) bytes = n;
        if ((s = alloc_n((void **)&c->heads, E, 1)) || (s = alloc_n((void **)&c->starts, E, sizeof(int64_t))) ||
            (s = alloc_n((void **)&c->nruns, 1, sizeof(int64_t))))
            return s;
    }
    size_t ks = c->key64 ? 8 : 4;
    if ((s = alloc_n(&c->keys, E, ks)) || (s = alloc_n(&c->keys_sorted, E, ks)) ||
        (s = alloc_n((void **)&c->ids, E, sizeof(int64_t))))
        return s;
    if (own_perm && (s = alloc_n((void **)&c->perm, E, sizeof(int64_t)))) return s;
    c->temp_bytes = bytes;
    return weft_cuda_malloc(bytes, &c->temp);
}

void weft_cuda_csr_release(weft_cuda_csr *c)
{
    void *p[] = {c->keys, c->keys_sorted, c->ids, c->perm, c->counts, c->heads, c->starts, c->nruns, c->temp};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        if (p[i]) weft_cuda_free(p[i]);
    memset(c, 0, sizeof *c);
}

weft_status weft_cuda_csr_build(weft_cuda_csr *c, weft_cuda_queue *q, const weft_node_info *node, int tag,
                                const void *index, bool index64, int64_t N, bool wrap, int64_t *offsets, int64_t *perm)
{
    if (!perm) perm = c->perm;
    if (c->N >= 0 && N != c->N)
        return weft_op_error(node, WEFT_ERR_INTERNAL, "num_segments is %lld at run but %lld at reshape", (long long)N,
                             (long long)c->N);
    /* the runs form's keys are wide enough for N and the parked value N itself */
    bool wide = c->N >= 0 ? c->key64 : (uint64_t)N > 0xffffffffull;
    return wide ? build_keys<unsigned long long>(c, q, node, tag, index, index64, N, wrap, offsets, perm)
                : build_keys<unsigned int>(c, q, node, tag, index, index64, N, wrap, offsets, perm);
}

weft_status weft_cuda_csr_check(weft_cuda_queue *q, const weft_node_info *node, int tag, const int64_t *offsets, int64_t N,
                                int64_t E, const int64_t *perm, const int64_t *col, int64_t M, unsigned *seen)
{
    weft_status s;
    check_offsets<<<weft_cuda_grid(N + 1, THREADS), THREADS, 0, q->stream>>>(offsets, N, E, q->err, tag);
    if ((s = weft_cuda_launched(node))) return s;
    if (E == 0 || (!perm && !col)) return WEFT_OK;
    if (perm) {
        cudaError_t e = cudaMemsetAsync(seen, 0, weft_cuda_csr_seen_bytes(E), q->stream);
        if (e != cudaSuccess) return weft_cuda_status(e, "clearing the perm check");
    }
    check_edges<<<weft_cuda_grid(E, THREADS), THREADS, 0, q->stream>>>(perm, col, E, M, seen, q->err, tag);
    return weft_cuda_launched(node);
}

/* --- the ai.weft CSR op ---------------------------------------------------------------------------- */

namespace {

typedef struct {
    bool wrap, src_wrap;
} csr_prep;

typedef struct {
    int tag;
    weft_cuda_csr b;
} csr_state;

bool is_index(weft_dtype t) { return t == WEFT_INT32 || t == WEFT_INT64; }

bool csr_supports(const weft_step_desc *s)
{
    if (strcmp(s->node->domain, "ai.weft") || strcmp(s->node->op_type, "CSR") || s->n_in < 2 || s->n_out < 2) return false;
    if (!is_index(s->in_dtype[0]) || !is_index(s->in_dtype[1])) return false;
    bool has_src = s->n_in > 2 && s->in_dtype[2] != WEFT_UNDEFINED;
    if (has_src && (!is_index(s->in_dtype[2]) || s->n_in < 4 || !is_index(s->in_dtype[3]))) return false;
    for (int o = 0; o < s->n_out && o < 3; o++)
        if (s->out_dtype[o] != WEFT_INT64 && !(o == 2 && s->out_dtype[o] == WEFT_UNDEFINED)) return false;
    return true;
}

weft_status csr_prepare(const weft_step_desc *s, void **prepared)
{
    csr_prep *p = (csr_prep *)calloc(1, sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    p->wrap = weft_attr_int(s->node, "wrap", 0) != 0;
    p->src_wrap = weft_attr_int(s->node, "src_wrap", 1) != 0;
    *prepared = p;
    return WEFT_OK;
}

void csr_release_state(void *state)
{
    csr_state *st = (csr_state *)state;
    if (!st) return;
    weft_cuda_csr_release(&st->b);
    free(st);
}

weft_status csr_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    int64_t E = k->in[0].numel, N = k->out[0].numel - 1;
    if (N < 0 || k->out[1].numel != E)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "outputs do not have N + 1 and E entries");
    csr_state *st = (csr_state *)calloc(1, sizeof *st);
    if (!st) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    st->tag = weft_cuda_tag(q, k->node);
    /* perm is written straight into the output */
    weft_status s = weft_cuda_csr_reserve(&st->b, E, N, false);
    if (s) {
        csr_release_state(st);
        return s;
    }
    *state = st;
    return WEFT_OK;
}

/* A count input (host memory): one value, not negative, as the reference reads it. */
weft_status count_value(const weft_kernel_ctx *k, int input, const char *name, int64_t *v)
{
    const weft_tview *t = &k->in[input];
    if (t->numel != 1)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d (%s) must hold one value, has %lld", input, name,
                             (long long)t->numel);
    *v = weft_load_i64(t->dtype, t->data, 0);
    if (*v < 0) return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d (%s) is negative (%lld)", input, name, (long long)*v);
    return WEFT_OK;
}

weft_status csr_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const csr_prep *p = (const csr_prep *)prepared;
    csr_state *st = (csr_state *)state;
    const weft_tview *idx = &k->in[0];
    bool has_src = k->n_in > 2 && k->in[2].dtype != WEFT_UNDEFINED;
    bool has_col = k->n_out > 2 && k->out[2].dtype != WEFT_UNDEFINED;
    int64_t E = idx->numel, N = 0, M = 0;
    weft_status s;
    if ((s = count_value(k, 1, "num_segments", &N))) return s;
    if (has_col && !has_src) return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "output 2 (col) needs input 2 (src_index)");
    if (has_src) {
        if (k->in[2].numel != E)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input 2 (src_index) has %lld entries, input 0 (index) %lld",
                                 (long long)k->in[2].numel, (long long)E);
        if (k->n_in < 4 || k->in[3].dtype == WEFT_UNDEFINED)
            return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "input 3 (num_src) is required with input 2 (src_index)");
        if ((s = count_value(k, 3, "num_src", &M))) return s;
    }
    int64_t *perm = (int64_t *)k->out[1].data;
    if ((s = weft_cuda_csr_build(&st->b, q, k->node, st->tag, idx->data, idx->dtype == WEFT_INT64, N, p->wrap,
                                 (int64_t *)k->out[0].data, perm)))
        return s;
    if (has_src && E > 0) {
        csr_cols<<<weft_cuda_grid(E, THREADS), THREADS, 0, q->stream>>>(has_col ? perm : NULL, E, k->in[2].data,
                                                                         k->in[2].dtype == WEFT_INT64, M, p->src_wrap,
                                                                         has_col ? (int64_t *)k->out[2].data : NULL,
                                                                         q->err, st->tag);
        if ((s = weft_cuda_launched(k->node))) return s;
    }
    return WEFT_OK;
}

} // namespace

extern "C" const weft_cuda_op weft_cuda_op_csr = {"ai.weft", "CSR", csr_supports, csr_prepare, csr_reshape, csr_run, NULL,
                                                   csr_release_state};
