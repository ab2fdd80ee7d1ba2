/*
 * ops/cuda/index.cu — ONNX index ops on the device: GatherElements, GatherND (batch_dims 0 and more),
 * and the scatters ScatterElements (and its opset 9-10 name Scatter) and ScatterND with reduction none,
 * add, mul, max or min, as ops/gather.c and ops/scatter.c define them.
 *
 * Data: float32, and int32 / int64 / bool tensors sized by the graph (weft_cuda_data_on_device); bool
 * only moves (the reference refuses a reduction on it). Indices: int32 or int64, in [-n, n) for an axis
 * of size n, negative ones counted from the end. An index out of range is flagged (the session reports
 * the reference's kind of error naming the node) and nothing is read or written through it: a gather
 * writes zeros there, a scatter drops that update.
 *
 * Gathers only move bytes, so their kernels are written over an unsigned type of the element's size (or,
 * for GatherND's slices, of the widest unit the slices and buffers allow). GatherElements walks the
 * indices' shape once per element; dims of size 1 in the indices are dropped and neighbours whose data
 * rows are whole are merged on the host first, so the walk is short, with 32-bit divisions where every
 * position fits (cuda_index.cuh).
 *
 * Scatters. The reference copies data into the output and then applies the updates one after another in
 * index order: with duplicate targets the last update wins under 'none', and add / mul round in that
 * order. To give its bits without float atomics, a scatter here
 *   1. computes each update's target (its element, or for ScatterND its slice), checked (a bad one is
 *      flagged and marked -1),
 *   2. sorts the updates stably by target with the CSR builder's radix sort (ops/cuda/csr.h, runs form:
 *      nothing sized by data), so each target's updates form one run in index order,
 *   3. gives one thread to each (run, element of the slice): it writes the run's last update ('none') or
 *      folds the run's updates in order into the value already there, with the reference's expressions:
 *      integer add / mul wrap around, max is `b > a ? b : a` and min `b < a ? b : a` (so a NaN already
 *      in the output stays and a NaN update is passed over; ties keep the earlier value).
 * A target with many updates is walked by one thread: exact, at the cost of parallelism on such hubs.
 */
#include "cuda_backend.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csr.h"
#include "cuda_index.cuh"

extern "C" {
extern const weft_cuda_op weft_cuda_op_gather_elements;
extern const weft_cuda_op weft_cuda_op_gather_nd;
extern const weft_cuda_op weft_cuda_op_scatter;
}

namespace {

constexpr int THREADS = 256;
constexpr int MAXR = WEFT_MAX_RANK;

enum { R_NONE, R_ADD, R_MUL, R_MAX, R_MIN }; /* the reference's order of names */
const char *const reduction_names[] = {"none", "add", "mul", "max", "min"};

/* --- device helpers -------------------------------------------------------------------------------- */

__device__ __forceinline__ int64_t ld64(const int64_t *p) { return (int64_t)__ldg((const long long *)p); }

__device__ __forceinline__ int64_t ld_index(const void *p, bool wide, int64_t i)
{
    return wide ? (int64_t)__ldg((const long long *)p + i) : (int64_t)__ldg((const int *)p + i);
}

/* v checked against an axis of n (v in [-n, n)), made non-negative in *out; else flagged. */
__device__ __forceinline__ bool fix_index(int64_t v, int64_t n, int64_t *out, weft_cuda_err *err, int tag, bool report)
{
    if (v < -n || v >= n) {
        if (report) weft_cuda_flag(err, WEFT_CUDA_ERR_INDEX, tag, v, n);
        return false;
    }
    *out = v < 0 ? v + n : v;
    return true;
}

/* Positions of the indices' shape mapped to data offsets: flat index i over dims (outermost first) is a
 * position; its data offset is the sum of each coordinate times the data stride of that dim, the
 * coordinate along `axis` replaced by the index value. */
template <typename I> struct Walk {
    int rank, axis;
    int64_t n; /* the data's size along the axis */
    Dim<I> dim[MAXR];
    int64_t stride[MAXR];

    __device__ __forceinline__ int64_t offset(I i, int64_t v) const
    {
        int64_t off = 0;
        for (int a = rank - 1; a > 0; a--) {
            const I q = dim[a].div(i);
            off += (a == axis ? v : (int64_t)(i - q * dim[a].size())) * stride[a];
            i = q;
        }
        return off + (axis == 0 ? v : (int64_t)i) * stride[0];
    }
};

/* The walk of indices of shape idims over data of shape ddims (rank r): dims of size 1 off the axis
 * contribute nothing and are dropped; a dim off the axis whose indices span the data's rows under the
 * dim kept before it (that one's stride is this one's extent times its stride) is merged into it. */
template <typename I> void walk_make(Walk<I> *w, const int64_t *idims, const int64_t *ddims, int r, int axis)
{
    int64_t ds[MAXR], kd[MAXR], ks[MAXR];
    int64_t s = 1;
    for (int a = r - 1; a >= 0; a--) {
        ds[a] = s;
        s *= ddims[a];
    }
    int k = 0, kaxis = -1;
    for (int a = 0; a < r; a++) {
        if (a != axis && idims[a] == 1) continue;
        if (a != axis && k > 0 && k - 1 != kaxis && ks[k - 1] == idims[a] * ds[a]) {
            kd[k - 1] *= idims[a];
            ks[k - 1] = ds[a];
            continue;
        }
        if (a == axis) kaxis = k;
        kd[k] = idims[a];
        ks[k] = ds[a];
        k++;
    }
    memset(w, 0, sizeof *w);
    w->rank = k;
    w->axis = kaxis;
    w->n = ddims[axis];
    for (int j = 0; j < k; j++) {
        w->dim[j].set(kd[j]);
        w->stride[j] = ks[j];
    }
}

/* 32-bit walks where every flat position fits (the divisions of Div32 need positions below 2^31). */
bool fits32(int64_t n) { return n < ((int64_t)1 << 31); }

/* The m indexed dims of a tuple (GatherND, ScatterND). */
struct Tuple {
    int m;
    int64_t dims[MAXR];
};

/* The row-major position a tuple of m indices names among the tuple dims, or -1 (flagged). */
__device__ __forceinline__ int64_t tuple_offset(const void *idx, bool wide, int64_t base, const Tuple &t, weft_cuda_err *err,
                                                int tag, bool report)
{
    int64_t off = 0;
    for (int j = 0; j < t.m; j++) {
        int64_t v;
        if (!fix_index(ld_index(idx, wide, base + j), t.dims[j], &v, err, tag, report)) return -1;
        off = off * t.dims[j] + v;
    }
    return off;
}

/* --- GatherElements ------------------------------------------------------------------------------- */

/* out[i] = data[offset of position i with the axis coordinate idx[i]]; T: an unsigned type of the element's size. */
template <typename T, typename I>
__global__ void gather_elements(const T *__restrict__ data, T *__restrict__ out, const void *idx, bool wide, int64_t total,
                                Walk<I> w, weft_cuda_err *err, int tag)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t v;
        out[i] = fix_index(ld_index(idx, wide, i), w.n, &v, err, tag, true) ? __ldg(data + w.offset((I)i, v)) : T();
    }
}

/* --- GatherND -------------------------------------------------------------------------------------- */

struct NdRows {
    int64_t rows;      /* batches times tuples per batch: one output slice each */
    int64_t tuples;    /* tuples per batch */
    int64_t per_batch; /* units of a batch of data */
    int64_t slice;     /* units of a slice */
    Tuple t;           /* the dims after the batch dims that a tuple indexes */
};

/* A group of gs lanes per output slice: the tuple's slice of its batch of data, zeros when the tuple has
 * an index out of range. UT: the unit of the copy (16 to 1 bytes). */
template <typename UT>
__global__ void gather_nd_rows(const UT *__restrict__ data, UT *__restrict__ out, const void *idx, bool wide, const __grid_constant__ NdRows g, int gs,
                               weft_cuda_err *err, int tag)
{
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x / gs;
    const int lane = (int)(t % gs);
    for (int64_t r = t / gs; r < g.rows; r += stride) {
        const int64_t off = tuple_offset(idx, wide, r * g.t.m, g.t, err, tag, lane == 0);
        UT *dst = out + r * g.slice;
        if (off < 0) {
            for (int64_t c = lane; c < g.slice; c += gs) dst[c] = UT();
            continue;
        }
        const UT *src = data + (r / g.tuples) * g.per_batch + off * g.slice;
        for (int64_t c = lane; c < g.slice; c += gs) dst[c] = __ldg(src + c);
    }
}

/* Only the checks, where the slices are empty (the reference checks every index even then): value i
 * indexes tuple dim i % m. */
__global__ void check_tuples(const void *idx, bool wide, int64_t total, const __grid_constant__ Tuple t, weft_cuda_err *err, int tag)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t v;
        fix_index(ld_index(idx, wide, i), t.dims[i % t.m], &v, err, tag, true);
    }
}

/* --- scatters -------------------------------------------------------------------------------------- */

/* ScatterElements: update i's target is the data element at position i with the axis coordinate idx[i]. */
template <typename I>
__global__ void element_targets(const void *idx, bool wide, int64_t E, Walk<I> w, int64_t *target, weft_cuda_err *err, int tag)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < E; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t v;
        target[i] = fix_index(ld_index(idx, wide, i), w.n, &v, err, tag, true) ? w.offset((I)i, v) : -1;
    }
}

/* ScatterND: update t's target is the slice its tuple of m indices names. */
__global__ void tuple_targets(const void *idx, bool wide, int64_t E, const __grid_constant__ Tuple tu, int64_t *target, weft_cuda_err *err,
                              int tag)
{
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < E; t += (int64_t)gridDim.x * blockDim.x)
        target[t] = tuple_offset(idx, wide, t * tu.m, tu, err, tag, true);
}

/* Integer add and mul wrap around as the reference's (they compute in uint64_t and truncate); floats use
 * their own arithmetic. */
template <typename T> struct Wrap { typedef T U; };
template <> struct Wrap<int> { typedef unsigned int U; };
template <> struct Wrap<long long> { typedef unsigned long long U; };

template <int RED, typename T> __device__ __forceinline__ T fold(T a, T b)
{
    typedef typename Wrap<T>::U U;
    if constexpr (RED == R_ADD) return (T)((U)a + (U)b);
    else if constexpr (RED == R_MUL) return (T)((U)a * (U)b);
    else if constexpr (RED == R_MAX) return b > a ? b : a;
    else return b < a ? b : a;
}

/* One thread per (run of updates with the same target, element of the slice). perm lists the updates
 * sorted stably by target, starts the first position of each run (nruns of them); the run of bad
 * updates (target -1) is skipped. 'none' (RED == R_NONE, T an unsigned type of the element's size)
 * writes the run's last update; the others fold the run in order into the output's value. */
template <int RED, typename T>
__global__ void scatter_runs(T *out, const T *__restrict__ upd, const int64_t *__restrict__ target, const int64_t *__restrict__ perm,
                             const int64_t *__restrict__ starts, const int64_t *__restrict__ nruns, int64_t E, int64_t slice,
                             int64_t N)
{
    int64_t R = ld64(nruns);
    if (R > E) R = E;
    const int64_t total = R * slice;
    for (int64_t w = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; w < total; w += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = w / slice, j = w - r * slice;
        int64_t p0 = ld64(starts + r), p1 = r + 1 < R ? ld64(starts + r + 1) : E;
        if (p0 < 0) p0 = 0;
        if (p1 > E) p1 = E;
        if (p0 >= p1) continue;
        const int64_t e0 = ld64(perm + p0);
        const int64_t slot = e0 >= 0 && e0 < E ? ld64(target + e0) : -1;
        if (slot < 0 || slot >= N) continue;
        T *dst = out + slot * slice + j;
        if constexpr (RED == R_NONE) {
            const int64_t e = ld64(perm + p1 - 1);
            if (e >= 0 && e < E) *dst = __ldg(upd + e * slice + j);
            continue;
        }
        T a = *dst;
        for (int64_t p = p0; p < p1; p++) {
            const int64_t e = ld64(perm + p);
            if (e >= 0 && e < E) a = fold<RED>(a, __ldg(upd + e * slice + j));
        }
        *dst = a;
    }
}

/* --- host side: shared --------------------------------------------------------------------------------- */

bool is_op(const weft_step_desc *s, const char *name) { return !s->node->domain[0] && !strcmp(s->node->op_type, name); }
bool is_index(weft_dtype t) { return t == WEFT_INT32 || t == WEFT_INT64; }

/* Data of dtype dt that belongs on the device: float32, or int32 / int64 / bool sized by the graph (the
 * data or the output). */
bool data_ok(const weft_step_desc *s, weft_dtype dt)
{
    if (dt != WEFT_FLOAT32 && dt != WEFT_INT32 && dt != WEFT_INT64 && dt != WEFT_BOOL) return false;
    return weft_cuda_data_on_device(dt, &s->in_shape[0]) || weft_cuda_data_on_device(dt, &s->out_shape[0]);
}

int reduction_of(const weft_node_info *n)
{
    const char *r = weft_attr_string(n, "reduction", "none");
    for (int i = 0; i < 5; i++)
        if (!strcmp(r, reduction_names[i])) return i;
    return -1;
}

int64_t prod(const int64_t *d, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= d[i];
    return p;
}

struct iprep {
    int64_t axis, batch_dims;
    int red;
    bool nd; /* ScatterND */
};

weft_status prepare(const weft_step_desc *s, void **prepared)
{
    iprep *p = (iprep *)calloc(1, sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    p->axis = weft_attr_int(s->node, "axis", 0);
    p->batch_dims = weft_attr_int(s->node, "batch_dims", 0);
    p->red = reduction_of(s->node);
    p->nd = is_op(s, "ScatterND");
    *prepared = p;
    return WEFT_OK;
}

/* Per session and sizes: the geometry found at reshape (run sees the same dims) and the scatters' scratch. */
struct istate {
    int tag;
    bool small;         /* 32-bit walk */
    Walk<uint32_t> w32;
    Walk<uint64_t> w64;
    NdRows nd;          /* GatherND */
    Tuple tu;           /* ScatterND */
    int64_t total;      /* GatherElements: elements; GatherND: index values */
    /* scatters */
    int64_t E, slice, N;
    int64_t *target;    /* [E] */
    bool has_csr;
    weft_cuda_csr csr;
};

void state_release(void *state)
{
    istate *st = (istate *)state;
    if (!st) return;
    if (st->has_csr) weft_cuda_csr_release(&st->csr);
    if (st->target) weft_cuda_free(st->target);
    free(st);
}

weft_status state_new(const weft_kernel_ctx *k, weft_cuda_queue *q, istate **out)
{
    istate *st = (istate *)calloc(1, sizeof *st);
    if (!st) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    st->tag = weft_cuda_tag(q, k->node);
    *out = st;
    return WEFT_OK;
}

/* Ends a reshape: the state on success, released on failure. */
weft_status reshape_done(istate *st, weft_status s, void **state)
{
    if (s) {
        state_release(st);
        return s;
    }
    *state = st;
    return WEFT_OK;
}

weft_status check_out(const weft_kernel_ctx *k, int64_t numel)
{
    if (k->out[0].numel != numel || k->out[0].dtype != k->in[0].dtype)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output has %lld elements, expected %lld", (long long)k->out[0].numel,
                             (long long)numel);
    return WEFT_OK;
}

void walk_set(istate *st, const int64_t *idims, const int64_t *ddims, int r, int axis, int64_t positions)
{
    st->small = fits32(positions);
    if (st->small) walk_make(&st->w32, idims, ddims, r, axis);
    else walk_make(&st->w64, idims, ddims, r, axis);
}

/* --- GatherElements ------------------------------------------------------------------------------- */

bool gather_elements_supports(const weft_step_desc *s)
{
    if (!is_op(s, "GatherElements") || s->n_in != 2 || s->n_out != 1) return false;
    const weft_dtype dt = s->in_dtype[0];
    const int rank = s->in_shape[0].rank;
    const int64_t axis = weft_attr_int(s->node, "axis", 0);
    return data_ok(s, dt) && is_index(s->in_dtype[1]) && s->out_dtype[0] == dt && rank >= 1 && rank <= MAXR && axis >= -rank &&
           axis < rank;
}

/* The reference's shape checks: indices of data's rank, no larger off the axis. */
weft_status gather_elements_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const iprep *p = (const iprep *)prepared;
    const weft_tview *d = &k->in[0], *ix = &k->in[1];
    int axis;
    weft_status s = weft_axis(k->node, p->axis, d->rank, false, &axis);
    if (s) return s;
    if (ix->rank != d->rank) return weft_op_error(k->node, WEFT_ERR_SHAPE, "indices rank differs from data rank");
    for (int a = 0; a < d->rank; a++)
        if (a != axis && ix->dims[a] > d->dims[a]) return weft_op_error(k->node, WEFT_ERR_SHAPE, "indices dim %d exceeds data dim", a);
    if ((s = check_out(k, ix->numel))) return s;
    istate *st;
    if ((s = state_new(k, q, &st))) return s;
    st->total = ix->numel;
    walk_set(st, ix->dims, d->dims, d->rank, axis, ix->numel);
    *state = st;
    return WEFT_OK;
}

template <typename T>
weft_status gather_elements_launch(const istate *st, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const weft_tview *ix = &k->in[1];
    const bool wide = ix->dtype == WEFT_INT64;
    const unsigned grid = weft_cuda_grid(st->total, THREADS);
    if (st->small)
        gather_elements<T, uint32_t><<<grid, THREADS, 0, q->stream>>>((const T *)k->in[0].data, (T *)k->out[0].data, ix->data, wide,
                                                                       st->total, st->w32, q->err, st->tag);
    else
        gather_elements<T, uint64_t><<<grid, THREADS, 0, q->stream>>>((const T *)k->in[0].data, (T *)k->out[0].data, ix->data, wide,
                                                                       st->total, st->w64, q->err, st->tag);
    return weft_cuda_launched(k->node);
}

weft_status gather_elements_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const istate *st = (const istate *)state;
    if (st->total == 0) return WEFT_OK;
    switch (weft_dtype_size(k->in[0].dtype)) {
    case 1: return gather_elements_launch<unsigned char>(st, k, q);
    case 4: return gather_elements_launch<unsigned int>(st, k, q);
    case 8: return gather_elements_launch<unsigned long long>(st, k, q);
    }
    return weft_op_unsupported_dtype(k, 0);
}

/* --- GatherND -------------------------------------------------------------------------------------- */

bool gather_nd_supports(const weft_step_desc *s)
{
    if (!is_op(s, "GatherND") || s->n_in != 2 || s->n_out != 1) return false;
    const weft_dtype dt = s->in_dtype[0];
    const int rank = s->in_shape[0].rank;
    const int64_t b = weft_attr_int(s->node, "batch_dims", 0);
    return data_ok(s, dt) && is_index(s->in_dtype[1]) && s->out_dtype[0] == dt && rank >= 1 && rank <= MAXR && b >= 0 && b < rank;
}

weft_status gather_nd_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const iprep *p = (const iprep *)prepared;
    const weft_tview *d = &k->in[0], *ix = &k->in[1];
    const int r = d->rank, qr = ix->rank;
    const int64_t b = p->batch_dims, m = qr >= 1 ? ix->dims[qr - 1] : 0;
    if (b < 0 || b >= r || b >= qr || m < 1 || m > r - b)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "indices shape does not fit data");
    for (int a = 0; a < b; a++)
        if (d->dims[a] != ix->dims[a]) return weft_op_error(k->node, WEFT_ERR_SHAPE, "batch dim %d differs", a);
    istate *st;
    weft_status s = state_new(k, q, &st);
    if (s) return s;
    const int bi = (int)b, mi = (int)m;
    NdRows &g = st->nd;
    g.tuples = prod(ix->dims, bi, qr - 1);
    g.rows = prod(d->dims, 0, bi) * g.tuples;
    g.per_batch = prod(d->dims, bi, r);
    g.slice = prod(d->dims, bi + mi, r);
    g.t.m = mi;
    for (int j = 0; j < mi; j++) g.t.dims[j] = d->dims[bi + j];
    st->total = ix->numel;
    return reshape_done(st, check_out(k, g.rows * g.slice), state);
}

int lanes_for(int64_t units)
{
    int gs = 1;
    while (gs < 32 && gs < units) gs *= 2;
    return gs;
}

template <typename UT>
weft_status gather_nd_launch(const istate *st, const weft_kernel_ctx *k, weft_cuda_queue *q, int64_t es)
{
    NdRows g = st->nd;
    const int64_t u = (int64_t)sizeof(UT); /* divides a slice's bytes, so a batch's too (whole slices) */
    g.slice = g.slice * es / u;
    g.per_batch = g.per_batch * es / u;
    const int gs = lanes_for(g.slice);
    const weft_tview *ix = &k->in[1];
    gather_nd_rows<UT><<<weft_cuda_grid(g.rows * gs, THREADS), THREADS, 0, q->stream>>>(
        (const UT *)k->in[0].data, (UT *)k->out[0].data, ix->data, ix->dtype == WEFT_INT64, g, gs, q->err, st->tag);
    return weft_cuda_launched(k->node);
}

weft_status gather_nd_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const istate *st = (const istate *)state;
    const weft_tview *ix = &k->in[1];
    if (st->total == 0) return WEFT_OK;
    if (st->nd.slice == 0) {
        check_tuples<<<weft_cuda_grid(st->total, THREADS), THREADS, 0, q->stream>>>(ix->data, ix->dtype == WEFT_INT64, st->total,
                                                                                    st->nd.t, q->err, st->tag);
        return weft_cuda_launched(k->node);
    }
    /* the widest unit that divides a slice's bytes and both buffers' alignment */
    const int64_t es = (int64_t)weft_dtype_size(k->in[0].dtype), row = st->nd.slice * es;
    const uintptr_t at = (uintptr_t)k->in[0].data | (uintptr_t)k->out[0].data;
    if (row % 16 == 0 && at % 16 == 0) return gather_nd_launch<uint4>(st, k, q, es);
    if (row % 8 == 0 && at % 8 == 0) return gather_nd_launch<uint2>(st, k, q, es);
    if (row % 4 == 0 && at % 4 == 0) return gather_nd_launch<unsigned int>(st, k, q, es);
    if (row % 2 == 0 && at % 2 == 0) return gather_nd_launch<unsigned short>(st, k, q, es);
    return gather_nd_launch<unsigned char>(st, k, q, es);
}

/* --- ScatterElements / Scatter / ScatterND ---------------------------------------------------------------- */

bool scatter_supports(const weft_step_desc *s)
{
    const bool nd = is_op(s, "ScatterND");
    if (!(nd || is_op(s, "ScatterElements") || is_op(s, "Scatter")) || s->n_in != 3 || s->n_out != 1) return false;
    const weft_dtype dt = s->in_dtype[0];
    const int rank = s->in_shape[0].rank, red = reduction_of(s->node);
    if (!data_ok(s, dt) || !is_index(s->in_dtype[1]) || s->in_dtype[2] != dt || s->out_dtype[0] != dt) return false;
    if (red < 0 || (dt == WEFT_BOOL && red != R_NONE) || rank < 1 || rank > MAXR) return false;
    const int64_t axis = weft_attr_int(s->node, "axis", 0);
    return nd || (axis >= -rank && axis < rank);
}

/* The reference's shape checks; the number of updates E (index elements, or tuples), the elements each
 * one covers and the targets there are (data elements, or slices). */
weft_status scatter_shapes(const iprep *p, const weft_kernel_ctx *k, istate *st)
{
    const weft_tview *d = &k->in[0], *ix = &k->in[1], *up = &k->in[2];
    const int r = d->rank;
    if (!p->nd) {
        int axis;
        weft_status s = weft_axis(k->node, p->axis, r, false, &axis);
        if (s) return s;
        if (ix->rank != r || up->rank != r)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "indices and updates must have data's rank %d", r);
        for (int a = 0; a < r; a++) {
            if (up->dims[a] != ix->dims[a]) return weft_op_error(k->node, WEFT_ERR_SHAPE, "updates dim %d differs from indices", a);
            if (a != axis && ix->dims[a] > d->dims[a])
                return weft_op_error(k->node, WEFT_ERR_SHAPE, "indices dim %d exceeds data dim", a);
        }
        st->E = ix->numel;
        st->slice = 1;
        st->N = d->numel;
        walk_set(st, ix->dims, d->dims, r, axis, ix->numel);
        return WEFT_OK;
    }
    const int qr = ix->rank;
    if (qr < 1) return weft_op_error(k->node, WEFT_ERR_SHAPE, "indices must have rank >= 1");
    const int64_t m = ix->dims[qr - 1];
    if (m < 1 || m > r) return weft_op_error(k->node, WEFT_ERR_SHAPE, "indices last dim %lld must be in [1, %d]", (long long)m, r);
    const int mi = (int)m;
    bool ok = up->rank == qr - 1 + r - mi;
    for (int a = 0; ok && a < up->rank; a++) ok = up->dims[a] == (a < qr - 1 ? ix->dims[a] : d->dims[mi + a - (qr - 1)]);
    if (!ok) return weft_op_error(k->node, WEFT_ERR_SHAPE, "updates shape does not match indices[:-1] + data[%d:]", mi);
    st->E = prod(ix->dims, 0, qr - 1);
    st->slice = prod(d->dims, mi, r);
    st->N = prod(d->dims, 0, mi);
    st->tu.m = mi;
    for (int j = 0; j < mi; j++) st->tu.dims[j] = d->dims[j];
    return WEFT_OK;
}

weft_status scatter_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const iprep *p = (const iprep *)prepared;
    if (p->red < 0) return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "unknown reduction");
    weft_status s = check_out(k, k->in[0].numel);
    if (s) return s;
    istate *st;
    if ((s = state_new(k, q, &st))) return s;
    if ((s = scatter_shapes(p, k, st))) return reshape_done(st, s, state);
    if (st->E > 0) s = weft_cuda_malloc((size_t)st->E * sizeof(int64_t), (void **)&st->target);
    /* the sort only where something can be written (a target holds elements) */
    if (!s && st->E > 0 && st->slice > 0 && st->N > 0) {
        st->has_csr = true;
        s = weft_cuda_csr_reserve(&st->csr, st->E, -1, true);
    }
    return reshape_done(st, s, state);
}

template <int RED, typename T>
weft_status scatter_runs_launch(const istate *st, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const weft_cuda_csr *c = &st->csr;
    scatter_runs<RED, T><<<weft_cuda_grid(st->E * st->slice, THREADS), THREADS, 0, q->stream>>>(
        (T *)k->out[0].data, (const T *)k->in[2].data, st->target, weft_cuda_csr_perm(c, NULL), c->starts, c->nruns, st->E, st->slice,
        st->N);
    return weft_cuda_launched(k->node);
}

/* 'none' moves bits (an unsigned type of the element's size); the reductions compute in the dtype. */
template <int RED> weft_status scatter_apply(const istate *st, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const weft_dtype dt = k->in[0].dtype;
    if constexpr (RED == R_NONE) {
        switch (weft_dtype_size(dt)) {
        case 1: return scatter_runs_launch<RED, unsigned char>(st, k, q);
        case 4: return scatter_runs_launch<RED, unsigned int>(st, k, q);
        case 8: return scatter_runs_launch<RED, unsigned long long>(st, k, q);
        }
    } else {
        switch (dt) {
        case WEFT_FLOAT32: return scatter_runs_launch<RED, float>(st, k, q);
        case WEFT_INT32: return scatter_runs_launch<RED, int>(st, k, q);
        case WEFT_INT64: return scatter_runs_launch<RED, long long>(st, k, q);
        default: break;
        }
    }
    return weft_op_unsupported_dtype(k, 0);
}

weft_status scatter_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const iprep *p = (const iprep *)prepared;
    istate *st = (istate *)state;
    const weft_tview *d = &k->in[0], *ix = &k->in[1];
    const bool wide = ix->dtype == WEFT_INT64;
    /* the output starts as data (unless the plan made them one buffer) */
    const size_t nb = (size_t)d->numel * weft_dtype_size(d->dtype);
    if (nb && k->out[0].data != d->data) {
        cudaError_t e = cudaMemcpyAsync(k->out[0].data, d->data, nb, cudaMemcpyDeviceToDevice, q->stream);
        if (e != cudaSuccess) return weft_cuda_status(e, "copying data into the scatter's output");
    }
    if (st->E == 0) return WEFT_OK;
    const unsigned grid = weft_cuda_grid(st->E, THREADS);
    if (p->nd)
        tuple_targets<<<grid, THREADS, 0, q->stream>>>(ix->data, wide, st->E, st->tu, st->target, q->err, st->tag);
    else if (st->small)
        element_targets<uint32_t><<<grid, THREADS, 0, q->stream>>>(ix->data, wide, st->E, st->w32, st->target, q->err, st->tag);
    else
        element_targets<uint64_t><<<grid, THREADS, 0, q->stream>>>(ix->data, wide, st->E, st->w64, st->target, q->err, st->tag);
    weft_status s = weft_cuda_launched(k->node);
    if (s || !st->has_csr) return s;
    /* bad targets (-1) are flagged again by the build, after the flag above: the record keeps the first */
    if ((s = weft_cuda_csr_build(&st->csr, q, k->node, st->tag, st->target, true, st->N, false, NULL, NULL))) return s;
    switch (p->red) {
    case R_NONE: return scatter_apply<R_NONE>(st, k, q);
    case R_ADD: return scatter_apply<R_ADD>(st, k, q);
    case R_MUL: return scatter_apply<R_MUL>(st, k, q);
    case R_MAX: return scatter_apply<R_MAX>(st, k, q);
    case R_MIN: return scatter_apply<R_MIN>(st, k, q);
    }
    return weft_op_error(k->node, WEFT_ERR_INTERNAL, "unknown reduction %d", p->red);
}

} // namespace

const weft_cuda_op weft_cuda_op_gather_elements = {"", "GatherElements", gather_elements_supports, prepare, gather_elements_reshape,
                                                   gather_elements_run, NULL, state_release};
const weft_cuda_op weft_cuda_op_gather_nd = {"", "GatherND", gather_nd_supports, prepare, gather_nd_reshape, gather_nd_run, NULL,
                                             state_release};
const weft_cuda_op weft_cuda_op_scatter = {"", "ScatterElements|Scatter|ScatterND", scatter_supports, prepare, scatter_reshape,
                                           scatter_run, NULL, state_release};
