/*
 * ops/cuda/movement.cu — the cuda backend's data movement: Reshape / Flatten / Squeeze / Unsqueeze /
 * Identity, Transpose, Concat and Expand. Copies move bits, so every result equals the reference's.
 *
 * What it takes: float32 data for Reshape and its kin, Concat and Expand (the forms of the CPU backends;
 * shape tensors and indices stay with the reference on the host, where the ops reading them run);
 * Transpose of any 1-, 2-, 4- or 8-byte dtype, as ops/cpu/transpose.c. The shape / axes inputs of
 * Reshape, Squeeze, Unsqueeze and Expand are host inputs that the kernels never read: the output's
 * dims, which infer worked out from them, are all a copy needs.
 *
 *   - Reshape and its kin: the output is the input's bytes, one device-to-device cudaMemcpyAsync (none
 *     when the plan gave both the same memory).
 *   - Every other copy is first described as dst[o(i)] = src[s(i)] over the output's index i split on a
 *     few dims, with strides on both sides; axes of size 1 are dropped and neighbouring axes that both
 *     sides walk as one are merged. A plan that comes down to one contiguous run is a cudaMemcpyAsync.
 *     Otherwise one kernel copies element by element (neighbouring threads neighbouring output
 *     elements), its elements widened up to 16 bytes when the innermost axis is contiguous on both
 *     sides and the pointers and sizes allow, the index split by 32-bit multiply-shift division when
 *     every offset is below 2^31.
 *   - Transpose: when the output's innermost axis is not contiguous in the input (a matrix transpose,
 *     NCHW <-> NHWC, the swap of the last two axes), 32 x 32 tiles of the plane made by that axis and
 *     the output axis that is contiguous in the input go through shared memory, so that both the reads
 *     and the writes are coalesced; the other output axes index the tiles. Otherwise (head splits and
 *     merges, [B, S, H, D] <-> [B, H, S, D]) the copy above reads and writes whole rows.
 *   - Concat: one copy per input into its columns of the output (outer rows x the input's chunk);
 *     Expand: one copy with stride 0 along the broadcast axes.
 * Zero-size tensors launch nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_backend.h"
#include "cuda_index.cuh"

extern "C" {
extern const weft_cuda_op weft_cuda_op_reshape;
extern const weft_cuda_op weft_cuda_op_transpose;
extern const weft_cuda_op weft_cuda_op_concat;
extern const weft_cuda_op weft_cuda_op_expand;
extern const weft_cuda_op weft_cuda_op_slice;
extern const weft_cuda_op weft_cuda_op_tile;
extern const weft_cuda_op weft_cuda_op_split;
extern const weft_cuda_op weft_cuda_op_constant_of_shape;
extern const weft_cuda_op weft_cuda_op_range;
#include "../movement.h"
}

namespace {

constexpr int kThreads = 256;
constexpr int kMaxRank = WEFT_MAX_RANK;
constexpr int kTile = 32;

bool is_op(const weft_step_desc *s, const char *name)
{
    return (!s->def->domain || !s->def->domain[0]) && strcmp(s->def->name, name) == 0;
}

weft_status nomem() { return weft_error(WEFT_ERR_NOMEM, "out of memory"); }

weft_status named(weft_status st, const weft_node_info *node)
{
    return st ? weft_error_wrap(st, "node '%s' (%s)", node->name, node->op_type) : WEFT_OK;
}

/* A device-to-device copy of n bytes on the queue (dst == src: nothing to do). */
weft_status copy_bytes(void *dst, const void *src, size_t n, cudaStream_t stream, const weft_node_info *node)
{
    if (n == 0 || dst == src) return WEFT_OK;
    return named(weft_cuda_status(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync"),
                 node);
}

/* --- strided copies ------------------------------------------------------------------------------ */

/* dst[sum c_a os_a] = src[sum c_a is_a] over the index c of dims (innermost last), in elements of
 * `es` bytes. rank 0 with n == 1: one element. */
struct CopyPlan {
    int rank;
    int es;
    int64_t n;
    int64_t dims[kMaxRank], is[kMaxRank], os[kMaxRank];
};

/* Drops axes of size 1 and merges neighbours that both sides walk as one axis. */
void plan_simplify(CopyPlan *p)
{
    int r = 0;
    p->n = 1;
    for (int a = 0; a < p->rank; a++) p->n *= p->dims[a];
    for (int a = 0; a < p->rank; a++) {
        if (p->dims[a] == 1) continue;
        if (r > 0 && p->is[r - 1] == p->is[a] * p->dims[a] && p->os[r - 1] == p->os[a] * p->dims[a]) {
            p->dims[r - 1] *= p->dims[a];
            p->is[r - 1] = p->is[a];
            p->os[r - 1] = p->os[a];
            continue;
        }
        p->dims[r] = p->dims[a];
        p->is[r] = p->is[a];
        p->os[r] = p->os[a];
        r++;
    }
    p->rank = r;
}

/* One contiguous run on both sides. */
bool plan_contiguous(const CopyPlan *p)
{
    return p->n <= 1 || (p->rank == 1 && p->is[0] == 1 && p->os[0] == 1);
}

/* The plan in elements of `f` times its own (f a power of two), when the innermost axis is
 * contiguous on both sides and f divides it and every other stride; else false. */
bool plan_widen(const CopyPlan *p, int f, CopyPlan *w)
{
    const int last = p->rank - 1;
    if (p->rank < 1 || p->is[last] != 1 || p->os[last] != 1 || p->dims[last] % f) return false;
    for (int a = 0; a < last; a++)
        if (p->is[a] % f || p->os[a] % f) return false;
    *w = *p;
    w->es = p->es * f;
    w->n = p->n / f;
    w->dims[last] /= f;
    for (int a = 0; a < last; a++) {
        w->is[a] /= f;
        w->os[a] /= f;
    }
    return true;
}

template <typename I> struct CopyArgs {
    const char *src;
    char *dst;
    I n;
    int rank;
    Dim<I> dim[kMaxRank];
    I is[kMaxRank], os[kMaxRank];
};

template <typename T, typename I>
__global__ void __launch_bounds__(kThreads) copy_kernel(const __grid_constant__ CopyArgs<I> p)
{
    const T *__restrict__ s = reinterpret_cast<const T *>(p.src);
    T *__restrict__ d = reinterpret_cast<T *>(p.dst);
    const I step = (I)gridDim.x * blockDim.x;
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += step) {
        I rem = i, si = 0, di = 0;
#pragma unroll
        for (int a = kMaxRank - 1; a >= 0; a--) {
            if (a < p.rank) {
                I c = rem;
                if (a > 0) {
                    const I q = p.dim[a].div(rem);
                    c = rem - q * p.dim[a].size();
                    rem = q;
                }
                si += c * p.is[a];
                di += c * p.os[a];
            }
        }
        d[di] = s[si];
    }
}

/* The largest offset the plan reaches on either side, plus one. */
int64_t plan_extent(const CopyPlan *p)
{
    int64_t si = 0, di = 0;
    for (int a = 0; a < p->rank; a++) {
        si += (p->dims[a] - 1) * p->is[a];
        di += (p->dims[a] - 1) * p->os[a];
    }
    return (si > di ? si : di) + 1;
}

template <typename I> void copy_launch_as(const CopyPlan *p, const void *src, void *dst, cudaStream_t stream)
{
    CopyArgs<I> a;
    memset(&a, 0, sizeof a);
    a.src = (const char *)src;
    a.dst = (char *)dst;
    a.n = (I)p->n;
    a.rank = p->rank;
    for (int d = 0; d < kMaxRank; d++) {
        a.dim[d].set(d < p->rank ? p->dims[d] : 1);
        a.is[d] = d < p->rank ? (I)p->is[d] : 0;
        a.os[d] = d < p->rank ? (I)p->os[d] : 0;
    }
    const unsigned blocks = weft_cuda_grid(p->n, kThreads);
    switch (p->es) {
    case 1: copy_kernel<uint8_t, I><<<blocks, kThreads, 0, stream>>>(a); break;
    case 2: copy_kernel<uint16_t, I><<<blocks, kThreads, 0, stream>>>(a); break;
    case 4: copy_kernel<uint32_t, I><<<blocks, kThreads, 0, stream>>>(a); break;
    case 8: copy_kernel<uint2, I><<<blocks, kThreads, 0, stream>>>(a); break;
    default: copy_kernel<uint4, I><<<blocks, kThreads, 0, stream>>>(a); break;
    }
}

/* The plan in the widest elements (up to 16 bytes) that its sizes and both pointers' alignment allow. */
CopyPlan plan_widest(const CopyPlan *p, const void *src, const void *dst)
{
    CopyPlan w = *p;
    const uintptr_t addr = (uintptr_t)src | (uintptr_t)dst;
    for (int f = 16 / p->es; f > 1; f /= 2)
        if ((addr % ((uintptr_t)p->es * (uintptr_t)f)) == 0 && plan_widen(p, f, &w)) break;
    return w;
}

/* Whether the kernel may index the plan with 32 bits: every element and offset below 2^31. */
bool plan_small(const CopyPlan *p) { return p->n < ((int64_t)1 << 31) && plan_extent(p) <= ((int64_t)1 << 31); }

/* Runs a simplified plan from src to dst (device pointers) on the queue. */
weft_status copy_run(const CopyPlan *p, const void *src, void *dst, cudaStream_t stream, const weft_node_info *node)
{
    if (p->n == 0) return WEFT_OK;
    if (plan_contiguous(p)) return copy_bytes(dst, src, (size_t)p->n * (size_t)p->es, stream, node);
    const CopyPlan w = plan_widest(p, src, dst);
    if (plan_small(&w)) copy_launch_as<uint32_t>(&w, src, dst, stream);
    else copy_launch_as<uint64_t>(&w, src, dst, stream);
    return weft_cuda_launched(node);
}

/* --- Reshape, Flatten, Squeeze, Unsqueeze, Identity ---------------------------------------------- */

bool reshape_supports(const weft_step_desc *s)
{
    static const char *const names[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"};
    bool known = false;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) known |= is_op(s, names[i]);
    return known && s->n_in >= 1 && s->n_out == 1 && s->in_dtype[0] == s->out_dtype[0] &&
           weft_cuda_data_on_device(s->out_dtype[0], &s->out_shape[0]);
}

weft_status reshape_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const weft_tview *x = &k->in[0], *y = &k->out[0];
    if (x->numel != y->numel || x->dtype != y->dtype)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output does not match the input's size or dtype");
    const size_t nb = (size_t)y->numel * weft_dtype_size(y->dtype);
    const char *xs = (const char *)x->data;
    char *ys = (char *)y->data;
    /* memmove's partial overlap has no device-to-device copy: the planner gives a view the same memory
     * or its own */
    if (nb && xs != ys && xs < ys + nb && ys < xs + nb)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "input and output overlap in part");
    return copy_bytes(ys, xs, nb, q->stream, k->node);
}

/* --- Transpose ----------------------------------------------------------------------------------- */

struct TrPrep {
    int rank;
    int perm[kMaxRank];
};

/* The permutation as the reference reads it (`perm`, or the axes reversed); false when it is not one. */
bool tr_perm(const weft_node_info *node, int rank, int *perm)
{
    const int64_t *p;
    const int np = weft_attr_ints(node, "perm", &p);
    if (np < 0) {
        for (int i = 0; i < rank; i++) perm[i] = rank - 1 - i;
        return true;
    }
    if (np != rank) return false;
    bool seen[kMaxRank] = {false};
    for (int i = 0; i < np; i++) {
        if (p[i] < 0 || p[i] >= rank || seen[p[i]]) return false;
        seen[p[i]] = true;
        perm[i] = (int)p[i];
    }
    return true;
}

bool tr_supports(const weft_step_desc *s)
{
    if (!is_op(s, "Transpose") || s->n_in != 1 || s->n_out != 1 || s->out_dtype[0] != s->in_dtype[0]) return false;
    const size_t es = weft_dtype_size(s->in_dtype[0]);
    const int rank = s->in_shape[0].rank;
    int perm[kMaxRank];
    return (es == 1 || es == 2 || es == 4 || es == 8) && s->in_dtype[0] != WEFT_STRING && rank >= 0 &&
           rank <= kMaxRank && tr_perm(s->node, rank, perm); /* else the reference reports what is wrong */
}

weft_status tr_prepare(const weft_step_desc *s, void **prepared)
{
    TrPrep *p = (TrPrep *)calloc(1, sizeof *p);
    if (!p) return nomem();
    p->rank = s->in_shape[0].rank;
    if (!tr_perm(s->node, p->rank, p->perm)) {
        free(p);
        return weft_op_error(s->node, WEFT_ERR_SHAPE, "perm is not a permutation of the input's axes");
    }
    *prepared = p;
    return WEFT_OK;
}

/* Tiles of the plane (output axis a, contiguous in the input; the output's last axis), the other
 * output axes numbering the planes. */
struct TileArgs {
    const char *src;
    char *dst;
    int64_t A, L, isL, osA;
    int64_t tiles_a, tiles_l, total;
    int nb;
    int64_t bdims[kMaxRank], bis[kMaxRank], bos[kMaxRank];
};

template <typename T>
__global__ void __launch_bounds__(kTile * 8) tile_kernel(const __grid_constant__ TileArgs p)
{
    __shared__ T tile[kTile][kTile + 1]; /* [l][a]; the extra column keeps the column reads off one bank */
    const T *__restrict__ src = reinterpret_cast<const T *>(p.src);
    T *__restrict__ dst = reinterpret_cast<T *>(p.dst);
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t per_plane = p.tiles_a * p.tiles_l;
    for (int64_t t = blockIdx.x; t < p.total; t += gridDim.x) { /* the same t for the whole block */
        int64_t b = t / per_plane;
        const int64_t r = t - b * per_plane, ta = r / p.tiles_l, tl = r - ta * p.tiles_l;
        int64_t ib = 0, ob = 0;
#pragma unroll
        for (int d = kMaxRank - 1; d >= 0; d--) {
            if (d < p.nb) {
                const int64_t q = b / p.bdims[d], c = b - q * p.bdims[d];
                ib += c * p.bis[d];
                ob += c * p.bos[d];
                b = q;
            }
        }
        const int64_t a0 = ta * kTile, l0 = tl * kTile;
        for (int k = ty; k < kTile; k += 8) { /* reads along a: contiguous in the input */
            const int64_t l = l0 + k, a = a0 + tx;
            if (l < p.L && a < p.A) tile[k][tx] = src[ib + a + l * p.isL];
        }
        __syncthreads();
        for (int k = ty; k < kTile; k += 8) { /* writes along l: contiguous in the output */
            const int64_t a = a0 + k, l = l0 + tx;
            if (a < p.A && l < p.L) dst[ob + a * p.osA + l] = tile[tx][k];
        }
        __syncthreads();
    }
}

struct TrState {
    bool tiled;
    CopyPlan plan; /* !tiled */
    TileArgs tiles; /* tiled: pointers set at run */
    int es;
};

weft_status tr_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const TrPrep *p = (const TrPrep *)prepared;
    const weft_tview *x = &k->in[0], *y = &k->out[0];
    if (x->rank != p->rank || y->rank != p->rank || x->dtype != y->dtype)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "input of rank %d for a permutation of %d axes", x->rank, p->rank);
    TrState *s = (TrState *)calloc(1, sizeof *s);
    if (!s) return nomem();
    s->es = (int)weft_dtype_size(x->dtype);
    int64_t xs[kMaxRank], ys[kMaxRank];
    weft_strides(x->dims, x->rank, xs);
    weft_strides(y->dims, y->rank, ys);
    CopyPlan *c = &s->plan;
    c->rank = x->rank;
    c->es = s->es;
    for (int i = 0; i < x->rank; i++) {
        c->dims[i] = x->dims[p->perm[i]];
        c->is[i] = xs[p->perm[i]];
        c->os[i] = ys[i];
    }
    plan_simplify(c);
    const int last = c->rank - 1;
    if (c->n > 1 && c->rank >= 2 && c->is[last] != 1) {
        int a = 0;
        while (a < last && c->is[a] != 1) a++; /* the input's innermost axis: there is one (see above) */
        TileArgs *t = &s->tiles;
        s->tiled = a < last;
        t->A = c->dims[a];
        t->L = c->dims[last];
        t->isL = c->is[last];
        t->osA = c->os[a];
        t->tiles_a = (t->A + kTile - 1) / kTile;
        t->tiles_l = (t->L + kTile - 1) / kTile;
        t->nb = 0;
        int64_t planes = 1;
        for (int d = 0; d < last; d++) {
            if (d == a) continue;
            t->bdims[t->nb] = c->dims[d];
            t->bis[t->nb] = c->is[d];
            t->bos[t->nb] = c->os[d];
            planes *= c->dims[d];
            t->nb++;
        }
        t->total = planes * t->tiles_a * t->tiles_l;
    }
    *state = s;
    return WEFT_OK;
}

weft_status tr_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const TrState *s = (const TrState *)state;
    if (!s->tiled) return copy_run(&s->plan, k->in[0].data, k->out[0].data, q->stream, k->node);
    TileArgs t = s->tiles;
    t.src = (const char *)k->in[0].data;
    t.dst = (char *)k->out[0].data;
    const dim3 block(kTile, 8);
    const unsigned blocks = weft_cuda_grid(t.total, 1);
    switch (s->es) {
    case 1: tile_kernel<uint8_t><<<blocks, block, 0, q->stream>>>(t); break;
    case 2: tile_kernel<uint16_t><<<blocks, block, 0, q->stream>>>(t); break;
    case 4: tile_kernel<uint32_t><<<blocks, block, 0, q->stream>>>(t); break;
    default: tile_kernel<uint2><<<blocks, block, 0, q->stream>>>(t); break;
    }
    return weft_cuda_launched(k->node);
}

/* --- Concat -------------------------------------------------------------------------------------- */

bool concat_supports(const weft_step_desc *s)
{
    if (!is_op(s, "Concat") || s->n_in < 1 || s->n_out != 1 || !weft_cuda_data_on_device(s->out_dtype[0], &s->out_shape[0]))
        return false;
    for (int i = 0; i < s->n_in; i++)
        if (s->in_dtype[i] != s->out_dtype[0]) return false;
    const weft_attr *a = weft_attr_find(s->node, "axis");
    const int rank = s->out_shape[0].rank;
    return a && a->type == WEFT_ATTR_INT && rank >= 1 && a->i >= -rank && a->i < rank;
}

struct ConcatState {
    int n;
    CopyPlan *part;   /* per input: its rows into the output's columns */
    int64_t *offset;  /* per input: where its columns start in the output, in bytes */
};

void concat_release_state(void *state)
{
    ConcatState *s = (ConcatState *)state;
    if (!s) return;
    free(s->part);
    free(s->offset);
    free(s);
}

/* Concat and Split: the whole tensor `whole` against its pieces along `axis` (Concat's inputs, Split's
 * outputs). Each piece is a copy of outer rows of its chunk of columns, from the pieces into the whole
 * (`into_whole`, Concat) or out of it (Split); offset[i] is where piece i's columns start in the
 * whole's rows, in bytes. */
weft_status pieces_reshape(const weft_kernel_ctx *k, const weft_tview *whole, const weft_tview *piece, int n,
                           bool into_whole, void **state)
{
    int axis;
    weft_status st = weft_axis(k->node, weft_attr_int(k->node, "axis", 0), whole->rank, false, &axis);
    if (st) return st;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= whole->dims[d];
    for (int d = axis + 1; d < whole->rank; d++) inner *= whole->dims[d];
    const int64_t row = whole->dims[axis] * inner;
    const int es = (int)weft_dtype_size(whole->dtype);
    ConcatState *s = (ConcatState *)calloc(1, sizeof *s);
    if (!s) return nomem();
    s->n = n;
    s->part = (CopyPlan *)calloc((size_t)n, sizeof *s->part);
    s->offset = (int64_t *)calloc((size_t)n, sizeof *s->offset);
    if (!s->part || !s->offset) {
        concat_release_state(s);
        return nomem();
    }
    const char *what = into_whole ? "input" : "output";
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        const weft_tview *x = &piece[i];
        bool ok = x->rank == whole->rank && x->dtype == whole->dtype;
        for (int d = 0; ok && d < whole->rank; d++) ok = d == axis || x->dims[d] == whole->dims[d];
        if (!ok) {
            concat_release_state(s);
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "%s %d does not fit along the other axes", what, i);
        }
        const int64_t chunk = x->dims[axis] * inner;
        CopyPlan *c = &s->part[i];
        c->rank = 2;
        c->es = es;
        c->dims[0] = outer;
        c->dims[1] = chunk;
        c->is[0] = into_whole ? chunk : row;
        c->os[0] = into_whole ? row : chunk;
        c->is[1] = c->os[1] = 1;
        plan_simplify(c);
        s->offset[i] = at * es;
        at += chunk;
    }
    if (at != row) {
        concat_release_state(s);
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "the %ss fill %lld of %lld columns along the axis", what,
                             (long long)at, (long long)row);
    }
    *state = s;
    return WEFT_OK;
}

weft_status concat_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    return pieces_reshape(k, &k->out[0], k->in, k->n_in, true, state);
}

weft_status concat_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const ConcatState *s = (const ConcatState *)state;
    char *y = (char *)k->out[0].data;
    for (int i = 0; i < s->n; i++) {
        weft_status st = copy_run(&s->part[i], k->in[i].data, y + s->offset[i], q->stream, k->node);
        if (st) return st;
    }
    return WEFT_OK;
}

/* --- Expand -------------------------------------------------------------------------------------- */

bool expand_supports(const weft_step_desc *s)
{
    return is_op(s, "Expand") && s->n_in == 2 && s->n_out == 1 && s->in_dtype[0] == s->out_dtype[0] &&
           weft_cuda_data_on_device(s->out_dtype[0], &s->out_shape[0]);
}

weft_status expand_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const weft_tview *x = &k->in[0], *y = &k->out[0];
    if (x->rank > y->rank) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output rank below input rank");
    for (int i = 0; i < x->rank; i++) {
        const int64_t d = x->dims[i], od = y->dims[i + y->rank - x->rank];
        if (d != od && d != 1)
            return weft_op_error(k->node, WEFT_ERR_INTERNAL, "input axis %d (%lld) does not broadcast to %lld", i,
                                 (long long)d, (long long)od);
    }
    CopyPlan *c = (CopyPlan *)calloc(1, sizeof *c);
    if (!c) return nomem();
    c->rank = y->rank;
    c->es = (int)weft_dtype_size(y->dtype);
    for (int d = 0; d < y->rank; d++) c->dims[d] = y->dims[d];
    weft_broadcast_strides(x->dims, x->rank, y->dims, y->rank, c->is);
    weft_strides(y->dims, y->rank, c->os);
    plan_simplify(c);
    *state = c;
    return WEFT_OK;
}

weft_status plan_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    return copy_run((const CopyPlan *)state, k->in[0].data, k->out[0].data, q->stream, k->node);
}

/* --- Slice --------------------------------------------------------------------------------------- */

/* The slice lists are host inputs (or attributes before opset 10): run reads them, as the reference
 * does (ops/movement.h's weft_movement_slice_view), and copies through the strided plan. Steps must be
 * constants above zero, known at lowering: the copy kernel walks offsets upwards from the first element
 * read. A reversed slice runs on the host. */
bool slice_supports(const weft_step_desc *s)
{
    if (!is_op(s, "Slice") || s->n_in < 1 || s->n_out != 1 || s->in_dtype[0] != s->out_dtype[0] ||
        !weft_cuda_data_on_device(s->out_dtype[0], &s->out_shape[0]) || s->in_shape[0].rank < 0 ||
        s->in_shape[0].rank > kMaxRank)
        return false;
    if (s->node->opset < 10 || s->n_in < 5 || s->in_dtype[4] == WEFT_UNDEFINED) return true; /* steps of 1 */
    const void *steps = s->in_const[4];
    const weft_shape *ss = &s->in_shape[4];
    if (!steps || ss->rank != 1 || !weft_dim_known(ss->d[0])) return false;
    for (int64_t i = 0; i < ss->d[0].v; i++) {
        const int64_t v = s->in_dtype[4] == WEFT_INT64 ? ((const int64_t *)steps)[i]
                          : s->in_dtype[4] == WEFT_INT32 ? ((const int32_t *)steps)[i] : 0;
        if (v <= 0) return false;
    }
    return true;
}

weft_status slice_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const weft_tview *x = &k->in[0], *y = &k->out[0];
    int64_t off, ss[kMaxRank], ys[kMaxRank];
    weft_status st = weft_movement_slice_view(k, &off, ss);
    if (st) return st;
    CopyPlan c;
    memset(&c, 0, sizeof c);
    c.rank = y->rank;
    c.es = (int)weft_dtype_size(y->dtype);
    weft_strides(y->dims, y->rank, ys);
    for (int a = 0; a < y->rank; a++) {
        if (ss[a] < 0 && y->dims[a] > 1)
            return weft_op_error(k->node, WEFT_ERR_INTERNAL, "a reversed slice reached the device kernel");
        c.dims[a] = y->dims[a];
        c.is[a] = ss[a] < 0 ? 0 : ss[a];
        c.os[a] = ys[a];
    }
    plan_simplify(&c);
    if (c.n == 0) return WEFT_OK;
    return copy_run(&c, (const char *)x->data + off * c.es, y->data, q->stream, k->node);
}

/* --- Tile ---------------------------------------------------------------------------------------- */

/* The output seen as [rep0, d0, rep1, d1, ...] reading the input with stride 0 along each repeat
 * (the reference's view); the input's rank is at most half the plan's so that both fit. */
bool tile_supports(const weft_step_desc *s)
{
    return is_op(s, "Tile") && s->n_in == 2 && s->n_out == 1 && s->in_dtype[0] == s->out_dtype[0] &&
           weft_cuda_data_on_device(s->out_dtype[0], &s->out_shape[0]) && s->in_shape[0].rank >= 0 &&
           2 * s->in_shape[0].rank <= kMaxRank;
}

weft_status tile_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const weft_tview *x = &k->in[0], *y = &k->out[0];
    if (x->rank != y->rank || 2 * x->rank > kMaxRank)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output rank %d for an input of rank %d", y->rank, x->rank);
    CopyPlan *c = (CopyPlan *)calloc(1, sizeof *c);
    if (!c) return nomem();
    int64_t xs[kMaxRank], ys[kMaxRank];
    weft_strides(x->dims, x->rank, xs);
    weft_strides(y->dims, y->rank, ys);
    c->rank = 2 * x->rank;
    c->es = (int)weft_dtype_size(y->dtype);
    for (int a = 0; a < x->rank; a++) {
        if (x->dims[a] == 0 ? y->dims[a] != 0 : y->dims[a] % x->dims[a] != 0) {
            free(c);
            return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output size on axis %d is not a multiple", a);
        }
        c->dims[2 * a] = x->dims[a] ? y->dims[a] / x->dims[a] : 0;
        c->is[2 * a] = 0;
        c->os[2 * a] = x->dims[a] * ys[a];
        c->dims[2 * a + 1] = x->dims[a];
        c->is[2 * a + 1] = xs[a];
        c->os[2 * a + 1] = ys[a];
    }
    plan_simplify(c);
    *state = c;
    return WEFT_OK;
}

/* --- Split --------------------------------------------------------------------------------------- */

bool split_supports(const weft_step_desc *s)
{
    if (!is_op(s, "Split") || s->n_in < 1 || s->n_out < 1 || !weft_cuda_data_on_device(s->in_dtype[0], &s->in_shape[0]))
        return false;
    for (int i = 0; i < s->n_out; i++)
        if (s->out_dtype[i] != s->in_dtype[0]) return false;
    const weft_attr *a = weft_attr_find(s->node, "axis");
    const int rank = s->in_shape[0].rank;
    return rank >= 1 && (!a || (a->type == WEFT_ATTR_INT && a->i >= -rank && a->i < rank));
}

/* Concat's pieces read the other way: each output's rows come from its columns of the input. */
weft_status split_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    return pieces_reshape(k, &k->in[0], k->out, k->n_out, false, state);
}

weft_status split_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const ConcatState *s = (const ConcatState *)state;
    const char *x = (const char *)k->in[0].data;
    for (int i = 0; i < s->n; i++) {
        weft_status st = copy_run(&s->part[i], x + s->offset[i], k->out[i].data, q->stream, k->node);
        if (st) return st;
    }
    return WEFT_OK;
}

/* --- ConstantOfShape and Range: outputs made on the device --------------------------------------- */

/* y[i] = v for i < n: the value's bytes are passed by value; zero fills are a memset. */
template <typename T> __global__ void __launch_bounds__(kThreads) fill_kernel(T *y, int64_t n, T v)
{
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) y[i] = v;
}

template <typename T> weft_status fill_as(void *y, int64_t n, const void *v, cudaStream_t stream, const weft_node_info *node)
{
    T x;
    memcpy(&x, v, sizeof x);
    fill_kernel<T><<<weft_cuda_grid(n, kThreads), kThreads, 0, stream>>>((T *)y, n, x);
    return weft_cuda_launched(node);
}

bool constant_of_shape_supports(const weft_step_desc *s)
{
    if (!is_op(s, "ConstantOfShape") || s->n_in != 1 || s->n_out != 1) return false;
    const size_t es = weft_dtype_size(s->out_dtype[0]);
    return (es == 1 || es == 2 || es == 4 || es == 8) && weft_cuda_data_on_device(s->out_dtype[0], &s->out_shape[0]);
}

weft_status constant_of_shape_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const weft_tview *y = &k->out[0];
    weft_dtype dt;
    const void *v;
    weft_status st = weft_movement_constant_value(k->node, &dt, &v);
    if (st) return st;
    if (dt != y->dtype) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output dtype differs from the value's");
    if (y->numel == 0) return WEFT_OK;
    const size_t es = weft_dtype_size(dt);
    bool zero = true;
    for (size_t i = 0; i < es; i++) zero &= ((const unsigned char *)v)[i] == 0;
    if (zero)
        return named(weft_cuda_status(cudaMemsetAsync(y->data, 0, (size_t)y->numel * es, q->stream), "cudaMemsetAsync"),
                     k->node);
    switch (es) {
    case 1: return fill_as<uint8_t>(y->data, y->numel, v, q->stream, k->node);
    case 2: return fill_as<uint16_t>(y->data, y->numel, v, q->stream, k->node);
    case 4: return fill_as<uint32_t>(y->data, y->numel, v, q->stream, k->node);
    default: return fill_as<unsigned long long>(y->data, y->numel, v, q->stream, k->node);
    }
}

/* Range's element i: start + i * delta, as the reference computes it (ops/movement.c): in double
 * rounded once for float32; in wrapping unsigned arithmetic for integers, which lands on the exact
 * in-range value even where i * delta alone would overflow. */
__global__ void __launch_bounds__(kThreads) range_float_kernel(float *y, int64_t n, double start, double delta)
{
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step)
        y[i] = (float)__dadd_rn(start, __dmul_rn((double)i, delta));
}

template <typename T> __global__ void __launch_bounds__(kThreads) range_int_kernel(T *y, int64_t n, uint64_t start, uint64_t delta)
{
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step)
        y[i] = (T)(int64_t)(start + (uint64_t)i * delta);
}

bool range_supports(const weft_step_desc *s)
{
    const weft_dtype t = s->out_dtype[0];
    if (!is_op(s, "Range") || s->n_in != 3 || s->n_out != 1 || !(t == WEFT_FLOAT32 || t == WEFT_INT32 || t == WEFT_INT64))
        return false;
    for (int i = 0; i < 3; i++)
        if (s->in_dtype[i] != t) return false;
    return weft_cuda_data_on_device(t, &s->out_shape[0]);
}

/* The three scalars are host inputs: read here, passed to the kernel by value. */
weft_status range_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const weft_tview *y = &k->out[0];
    const weft_dtype t = y->dtype;
    for (int i = 0; i < 3; i++)
        if (k->in[i].numel != 1 || k->in[i].dtype != t)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d must be one element of the common dtype", i);
    if (y->numel == 0) return WEFT_OK;
    const unsigned blocks = weft_cuda_grid(y->numel, kThreads);
    if (t == WEFT_FLOAT32) {
        const double start = *(const float *)k->in[0].data, delta = *(const float *)k->in[2].data;
        range_float_kernel<<<blocks, kThreads, 0, q->stream>>>((float *)y->data, y->numel, start, delta);
    } else if (t == WEFT_INT32) {
        const uint64_t start = (uint64_t)(int64_t)*(const int32_t *)k->in[0].data,
                       delta = (uint64_t)(int64_t)*(const int32_t *)k->in[2].data;
        range_int_kernel<int32_t><<<blocks, kThreads, 0, q->stream>>>((int32_t *)y->data, y->numel, start, delta);
    } else {
        const uint64_t start = (uint64_t)*(const int64_t *)k->in[0].data, delta = (uint64_t)*(const int64_t *)k->in[2].data;
        range_int_kernel<int64_t><<<blocks, kThreads, 0, q->stream>>>((int64_t *)y->data, y->numel, start, delta);
    }
    return weft_cuda_launched(k->node);
}

} /* namespace */

/* --- the entries --------------------------------------------------------------------------------- */

const weft_cuda_op weft_cuda_op_reshape = {"", "Reshape|Flatten|Squeeze|Unsqueeze|Identity", reshape_supports, NULL,
                                           NULL, reshape_run, NULL, NULL};
const weft_cuda_op weft_cuda_op_transpose = {"", "Transpose", tr_supports, tr_prepare, tr_reshape, tr_run, NULL, NULL};
const weft_cuda_op weft_cuda_op_concat = {"", "Concat", concat_supports, NULL, concat_reshape, concat_run, NULL,
                                          concat_release_state};
const weft_cuda_op weft_cuda_op_expand = {"", "Expand", expand_supports, NULL, expand_reshape, plan_run, NULL, NULL};
const weft_cuda_op weft_cuda_op_slice = {"", "Slice", slice_supports, NULL, NULL, slice_run, NULL, NULL};
const weft_cuda_op weft_cuda_op_tile = {"", "Tile", tile_supports, NULL, tile_reshape, plan_run, NULL, NULL};
const weft_cuda_op weft_cuda_op_split = {"", "Split", split_supports, NULL, split_reshape, split_run, NULL,
                                         concat_release_state};
const weft_cuda_op weft_cuda_op_constant_of_shape = {"", "ConstantOfShape", constant_of_shape_supports, NULL, NULL,
                                                     constant_of_shape_run, NULL, NULL};
const weft_cuda_op weft_cuda_op_range = {"", "Range", range_supports, NULL, NULL, range_run, NULL, NULL};
