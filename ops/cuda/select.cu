/*
 * ops/cuda/select.cu — the cuda backend's comparisons, logic, selection and conversions:
 *   compare  Equal, Less, LessOrEqual, Greater, GreaterOrEqual of two float32, int32 or int64 operands
 *            (Equal also of two bool operands), bool result;
 *   logic    And, Or, Xor of two bool operands; Not; IsNaN and IsInf (detect_positive /
 *            detect_negative) of float32;
 *   where    Where: a bool condition choosing between X and Y of float32, int32, int64, bool, uint8 or
 *            int8;
 *   cast     Cast and CastLike between float32, int32, int64, bool, uint8 and int8.
 * Two- and three-operand ops broadcast as numpy (any ranks, cuda_bcast.cuh). Other dtypes (float64,
 * float16, strings, ...) are left to the host, and so are steps whose tensors are all small integer or
 * bool tensors of known size (shape arithmetic, weft_cuda_data_on_device).
 *
 * Values: every op is the reference's (ops/binary.c, ops/unary.c) element for element, bit for bit.
 *   - A comparison is one IEEE comparison (false with a NaN operand; -0 equals +0); bool operands of
 *     Equal compare as their bytes, as the reference compares them.
 *   - And / Or / Xor read a byte as true when it is not 0; Not writes !byte; IsInf is
 *     isinf(x) && (x > 0 ? detect_positive : detect_negative).
 *   - Where tests its condition byte against 0 and moves the chosen element's bits (the reference
 *     dispatches on the element size too), so NaN payloads and bool bytes pass unchanged.
 *   - Cast follows base/dtype.c's conversions through double / int64: float to integer truncates toward
 *     zero and saturates (NaN to 0, and to int64 the largest value is 9223372036854774784, the double
 *     the reference clamps to); float to bool is x != 0 (NaN is true); integers and bool convert to
 *     integers with two's-complement wrap-around, bool reads as 0 / 1 and any nonzero value becomes
 *     true; integers to float32 round once to nearest. A cast to the same dtype copies the bytes.
 *
 * Work: one kernel template per shape of work, written over the element function (whose operand and
 * result types it carries), instantiated per dtype. Operands of the output's element count and single
 * elements are read directly, four elements a thread when every such pointer is aligned to four
 * elements; other broadcasts walk the output's index (cuda_bcast.cuh). Zero-size tensors launch nothing.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_backend.h"
#include "cuda_bcast.cuh"

extern "C" {
extern const weft_cuda_op weft_cuda_op_compare;
extern const weft_cuda_op weft_cuda_op_logic;
extern const weft_cuda_op weft_cuda_op_where;
extern const weft_cuda_op weft_cuda_op_cast;
}

namespace {

constexpr int kThreads = 256;
constexpr int kMaxOps = 3; /* operands of an element function */

weft_status nomem() { return weft_error(WEFT_ERR_NOMEM, "out of memory"); }

bool onnx_op(const weft_step_desc *s) { return !s->def->domain || !s->def->domain[0]; }

template <size_t N> int name_index(const char *const (&names)[N], const char *name)
{
    for (size_t i = 0; i < N; i++)
        if (strcmp(names[i], name) == 0) return (int)i;
    return -1;
}

/* --- element functions ------------------------------------------------------------------------------ */

/* An element function takes N operands of types A, B, C (the unused ones are never read) and returns a
 * Y. Bool is stored as one byte: uint8_t. */
template <int N_, typename Y_, typename A_, typename B_ = uint8_t, typename C_ = uint8_t> struct Sig {
    static constexpr int N = N_;
    using Y = Y_;
    using A = A_;
    using B = B_;
    using C = C_;
};

enum { CMP_EQ, CMP_LT, CMP_LE, CMP_GT, CMP_GE };
const char *const compare_names[] = {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"};

template <typename T> struct Compare : Sig<2, uint8_t, T, T> {
    int op;
    __device__ __forceinline__ uint8_t operator()(T a, T b, uint8_t) const
    {
        switch (op) {
        case CMP_EQ: return a == b;
        case CMP_LT: return a < b;
        case CMP_LE: return a <= b;
        case CMP_GT: return a > b;
        default: return a >= b;
        }
    }
};

enum { LG_AND, LG_OR, LG_XOR, LG_NOT, LG_ISNAN, LG_ISINF };
const char *const logic_names[] = {"And", "Or", "Xor", "Not", "IsNaN", "IsInf"};

struct Logic : Sig<2, uint8_t, uint8_t, uint8_t> {
    int op;
    __device__ __forceinline__ uint8_t operator()(uint8_t a, uint8_t b, uint8_t) const
    {
        const int x = a != 0, y = b != 0;
        return (uint8_t)(op == LG_AND ? x & y : op == LG_OR ? x | y : x ^ y);
    }
};

struct Not : Sig<1, uint8_t, uint8_t> {
    __device__ __forceinline__ uint8_t operator()(uint8_t a, uint8_t, uint8_t) const { return !a; }
};

struct FloatClass : Sig<1, uint8_t, float> {
    int op;
    bool pos, neg; /* IsInf's detect_positive / detect_negative */
    __device__ __forceinline__ uint8_t operator()(float x, uint8_t, uint8_t) const
    {
        if (op == LG_ISNAN) return isnan(x);
        return isinf(x) && ((x > 0 && pos) || (x < 0 && neg));
    }
};

/* Where on the element's bits: T is an unsigned type of the element's size. */
template <typename T> struct Select : Sig<3, T, uint8_t, T, T> {
    __device__ __forceinline__ T operator()(uint8_t c, T a, T b) const { return c ? a : b; }
};

/* Cast: the storage type and the reference's saturation bounds of each dtype taken (base/dtype.c's
 * SAT: v <= lo gives (T)lo, v >= hi gives (T)hi; int64's hi is the double below 2^63). */
template <int DT> struct Elem;
template <> struct Elem<WEFT_FLOAT32> { using T = float; };
template <> struct Elem<WEFT_BOOL> { using T = uint8_t; };
template <> struct Elem<WEFT_INT32> {
    using T = int32_t;
    static constexpr double lo = -2147483648.0, hi = 2147483647.0;
};
template <> struct Elem<WEFT_INT64> {
    using T = int64_t;
    static constexpr double lo = -9223372036854775808.0, hi = 9.2233720368547748e18;
};
template <> struct Elem<WEFT_UINT8> {
    using T = uint8_t;
    static constexpr double lo = 0.0, hi = 255.0;
};
template <> struct Elem<WEFT_INT8> {
    using T = int8_t;
    static constexpr double lo = -128.0, hi = 127.0;
};

template <int S, int D> struct Convert : Sig<1, typename Elem<D>::T, typename Elem<S>::T> {
    using Y = typename Elem<D>::T;
    using A = typename Elem<S>::T;
    static_assert(S != D, "a cast to the same dtype is a copy");
    __device__ __forceinline__ Y operator()(A v, uint8_t, uint8_t) const
    {
        if constexpr (S == WEFT_FLOAT32) {
            const double x = v; /* the reference converts through double (exact) */
            if constexpr (D == WEFT_BOOL) {
                return x != 0;
            } else {
                constexpr double lo = Elem<D>::lo, hi = Elem<D>::hi;
                return x != x ? (Y)0 : x <= lo ? (Y)lo : x >= hi ? (Y)hi : (Y)x;
            }
        } else {
            /* as weft_load_i64 reads it: bool as 0 / 1, uint8 zero-extended, the others sign-extended */
            const int64_t x = S == WEFT_BOOL ? (int64_t)(v != 0) : (int64_t)v;
            if constexpr (D == WEFT_FLOAT32) return (float)x; /* one rounding, to nearest */
            else if constexpr (D == WEFT_BOOL) return x != 0;
            else return (Y)x; /* two's-complement wrap-around */
        }
    }
};

/* --- kernels ---------------------------------------------------------------------------------------- */

/* Operands of the output's element count (step) or single elements. */
template <class F> struct Flat {
    F f;
    const typename F::A *a;
    const typename F::B *b;
    const typename F::C *c;
    typename F::Y *y;
    int64_t n;
    bool sa, sb, sc; /* true: the operand advances with the output; false: one element */
};

/* Four elements, aligned to four: one wide load or store. */
template <typename T> struct alignas(4 * sizeof(T)) Pack4 {
    T v[4];
};

template <typename T> __device__ __forceinline__ Pack4<T> load4(const T *x, bool step, int64_t q)
{
    if (step) return reinterpret_cast<const Pack4<T> *>(x)[q];
    const T v = x[0];
    Pack4<T> r;
#pragma unroll
    for (int j = 0; j < 4; j++) r.v[j] = v;
    return r;
}

template <class F, bool VEC> __global__ void __launch_bounds__(kThreads) flat_kernel(const Flat<F> p)
{
    using A = typename F::A;
    using B = typename F::B;
    using C = typename F::C;
    using Y = typename F::Y;
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t i0 = 0;
    if constexpr (VEC) {
        const int64_t n4 = p.n >> 2;
        for (int64_t q = t; q < n4; q += step) {
            const Pack4<A> a = load4(p.a, p.sa, q);
            Pack4<B> b = {};
            Pack4<C> c = {};
            if constexpr (F::N > 1) b = load4(p.b, p.sb, q);
            if constexpr (F::N > 2) c = load4(p.c, p.sc, q);
            Pack4<Y> r;
#pragma unroll
            for (int j = 0; j < 4; j++) r.v[j] = p.f(a.v[j], b.v[j], c.v[j]);
            reinterpret_cast<Pack4<Y> *>(p.y)[q] = r;
        }
        i0 = n4 << 2;
    }
    for (int64_t i = i0 + t; i < p.n; i += step) {
        const A a = p.a[p.sa ? i : 0];
        B b = B();
        C c = C();
        if constexpr (F::N > 1) b = p.b[p.sb ? i : 0];
        if constexpr (F::N > 2) c = p.c[p.sc ? i : 0];
        p.y[i] = p.f(a, b, c);
    }
}

/* Any broadcast: the output's index split over the walk. */
template <class F, typename I> struct Walked {
    F f;
    const typename F::A *a;
    const typename F::B *b;
    const typename F::C *c;
    typename F::Y *y;
    I n;
    BcastIdx<I, kMaxOps> w;
};

template <class F, typename I> __global__ void __launch_bounds__(kThreads) walk_kernel(const __grid_constant__ Walked<F, I> p)
{
    using B = typename F::B;
    using C = typename F::C;
    const I step = (I)gridDim.x * blockDim.x;
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += step) {
        I off[F::N];
        bcast_offsets<F::N>(p.w, i, off);
        B b = B();
        C c = C();
        if constexpr (F::N > 1) b = p.b[off[1]];
        if constexpr (F::N > 2) c = p.c[off[2]];
        p.y[i] = p.f(p.a[off[0]], b, c);
    }
}

/* --- plans and launches ----------------------------------------------------------------------------- */

/* What reshape works out for one step, whatever the element types: the output's size, how each operand
 * is read, and the walk when some operand needs it. */
struct Plan {
    int64_t n;
    int n_ops;
    bool step[kMaxOps]; /* the operand has the output's element count (else one element) */
    bool walk, wide;
    BcastIdx<uint32_t, kMaxOps> w32;
    BcastIdx<uint64_t, kMaxOps> w64;
};

/* Plans operands in[0..n_ops) onto the output, after checking that they broadcast to it. */
weft_status plan_make(const weft_kernel_ctx *k, const weft_tview *const *in, int n_ops, int first, Plan *p)
{
    const weft_tview *y = &k->out[0];
    weft_status st = bcast_check(k->node, in, n_ops, first, y);
    if (st) return st;
    memset(p, 0, sizeof *p);
    p->n = y->numel;
    p->n_ops = n_ops;
    p->wide = !bcast_small(p->n);
    for (int i = 0; i < n_ops; i++) {
        const int kind = bcast_kind(in[i], y);
        p->step[i] = kind == BCAST_DIRECT;
        p->walk |= kind == BCAST_WALK;
    }
    if (p->n > 0 && p->walk) {
        BcastWalk w;
        int64_t strides[kMaxOps * kBcastRank] = {0};
        bcast_walk_make(y, in, n_ops, &w, strides);
        if (p->wide) bcast_idx_fill(&p->w64, w, strides);
        else bcast_idx_fill(&p->w32, w, strides);
    }
    return WEFT_OK;
}

bool aligned(const void *ptr, size_t bytes) { return ((uintptr_t)ptr & (bytes - 1)) == 0; }

unsigned grid_for(int64_t items) { return weft_cuda_grid(items, kThreads); }

/* Enqueues y = f(a, b, c) over the plan (operands past F::N are ignored). */
template <class F>
weft_status launch(const Plan &pl, const F &f, const void *a, const void *b, const void *c, void *y,
                   const weft_kernel_ctx *k, cudaStream_t stream)
{
    using A = typename F::A;
    using B = typename F::B;
    using C = typename F::C;
    using Y = typename F::Y;
    if (pl.n == 0) return WEFT_OK;
    /* a one-operand op reads its operand at the output's index: only two or three operands walk */
    if constexpr (F::N > 1) {
        if (pl.walk && pl.wide) {
            const Walked<F, uint64_t> p = {f, (const A *)a, (const B *)b, (const C *)c, (Y *)y, (uint64_t)pl.n, pl.w64};
            walk_kernel<F, uint64_t><<<grid_for(pl.n), kThreads, 0, stream>>>(p);
            return weft_cuda_launched(k->node);
        }
        if (pl.walk) {
            const Walked<F, uint32_t> p = {f, (const A *)a, (const B *)b, (const C *)c, (Y *)y, (uint32_t)pl.n, pl.w32};
            walk_kernel<F, uint32_t><<<grid_for(pl.n), kThreads, 0, stream>>>(p);
            return weft_cuda_launched(k->node);
        }
    }
    const Flat<F> p = {f, (const A *)a, (const B *)b, (const C *)c, (Y *)y, pl.n, pl.step[0], F::N > 1 && pl.step[1],
                       F::N > 2 && pl.step[2]};
    bool vec = pl.n >= 4 && aligned(y, 4 * sizeof(Y)) && (!pl.step[0] || aligned(a, 4 * sizeof(A)));
    if (F::N > 1) vec = vec && (!pl.step[1] || aligned(b, 4 * sizeof(B)));
    if (F::N > 2) vec = vec && (!pl.step[2] || aligned(c, 4 * sizeof(C)));
    if (vec) flat_kernel<F, true><<<grid_for(pl.n >> 2), kThreads, 0, stream>>>(p);
    else flat_kernel<F, false><<<grid_for(pl.n), kThreads, 0, stream>>>(p);
    return weft_cuda_launched(k->node);
}

/* Whether the step belongs on the device: when its output or one of its first n_data inputs does
 * (cuda_backend.h's rule: float32 always; other dtypes when sized by the graph's symbols or large).
 * Comparisons and casts of small integer tensors of known size are shape arithmetic that host steps
 * read: they stay on the host. */
bool on_device(const weft_step_desc *s, int n_data)
{
    if (weft_cuda_data_on_device(s->out_dtype[0], &s->out_shape[0])) return true;
    for (int i = 0; i < n_data; i++)
        if (weft_cuda_data_on_device(s->in_dtype[i], &s->in_shape[i])) return true;
    return false;
}

/* The dtypes of this file. */
bool data_dtype(weft_dtype t)
{
    return t == WEFT_FLOAT32 || t == WEFT_INT32 || t == WEFT_INT64 || t == WEFT_BOOL || t == WEFT_UINT8 ||
           t == WEFT_INT8;
}

/* What prepare keeps: the op, the data dtype, and the attributes read. */
struct Prep {
    int op;
    weft_dtype dt, to; /* the data inputs' dtype; the output's (Cast) */
    bool pos, neg;     /* IsInf */
};

weft_status prep_new(int op, weft_dtype dt, weft_dtype to, void **prepared)
{
    Prep *p = (Prep *)calloc(1, sizeof *p);
    if (!p) return nomem();
    p->op = op;
    p->dt = dt;
    p->to = to;
    *prepared = p;
    return WEFT_OK;
}

/* Reshape of every entry: the real dtypes must be those prepared, then the plan over the data
 * operands in[first .. first + n_ops). */
weft_status reshape_common(const weft_kernel_ctx *k, int n_ops, int first, const weft_dtype *want, weft_dtype out_dt,
                           void **state)
{
    if (k->n_in < first + n_ops || k->n_out < 1)
        return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "%d inputs and an output are required", first + n_ops);
    for (int i = 0; i < first + n_ops; i++)
        if (k->in[i].dtype != want[i])
            return weft_op_error(k->node, WEFT_ERR_TYPE, "input %d has dtype %s, %s was expected", i,
                                 weft_dtype_name(k->in[i].dtype), weft_dtype_name(want[i]));
    if (k->out[0].dtype != out_dt)
        return weft_op_error(k->node, WEFT_ERR_TYPE, "the output has dtype %s, %s was expected",
                             weft_dtype_name(k->out[0].dtype), weft_dtype_name(out_dt));
    const weft_tview *in[kMaxOps] = {NULL, NULL, NULL};
    for (int i = 0; i < n_ops; i++) in[i] = &k->in[first + i];
    /* one operand is read at the output's index (the kernels never walk it) */
    if (n_ops == 1 && in[0]->numel != k->out[0].numel)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "the output must have the input's shape");
    Plan *pl = (Plan *)calloc(1, sizeof *pl);
    if (!pl) return nomem();
    weft_status st = plan_make(k, in, n_ops, first, pl);
    if (st) {
        free(pl);
        return st;
    }
    *state = pl;
    return WEFT_OK;
}

/* --- compare ---------------------------------------------------------------------------------------- */

bool compare_supports(const weft_step_desc *s)
{
    if (!onnx_op(s)) return false;
    const int op = name_index(compare_names, s->def->name);
    if (op < 0 || s->n_in != 2 || s->n_out != 1 || s->out_dtype[0] != WEFT_BOOL) return false;
    const weft_dtype t = s->in_dtype[0];
    if (s->in_dtype[1] != t) return false;
    return (t == WEFT_FLOAT32 || t == WEFT_INT32 || t == WEFT_INT64 || (t == WEFT_BOOL && op == CMP_EQ)) &&
           on_device(s, 2);
}

weft_status compare_prepare(const weft_step_desc *s, void **prepared)
{
    return prep_new(name_index(compare_names, s->def->name), s->in_dtype[0], WEFT_BOOL, prepared);
}

weft_status compare_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const Prep *p = (const Prep *)prepared;
    const weft_dtype want[2] = {p->dt, p->dt};
    return reshape_common(k, 2, 0, want, WEFT_BOOL, state);
}

template <typename T> weft_status compare_launch(const Prep *p, const Plan &pl, const weft_kernel_ctx *k, cudaStream_t st)
{
    Compare<T> f;
    f.op = p->op;
    return launch(pl, f, k->in[0].data, k->in[1].data, NULL, k->out[0].data, k, st);
}

weft_status compare_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const Prep *p = (const Prep *)prepared;
    const Plan &pl = *(const Plan *)state;
    switch (p->dt) {
    case WEFT_FLOAT32: return compare_launch<float>(p, pl, k, q->stream);
    case WEFT_INT32: return compare_launch<int32_t>(p, pl, k, q->stream);
    case WEFT_INT64: return compare_launch<int64_t>(p, pl, k, q->stream);
    case WEFT_BOOL: return compare_launch<uint8_t>(p, pl, k, q->stream); /* bytes, as the reference */
    default: return weft_op_unsupported_dtype(k, 0);
    }
}

/* --- logic ------------------------------------------------------------------------------------------ */

bool logic_supports(const weft_step_desc *s)
{
    if (!onnx_op(s)) return false;
    const int op = name_index(logic_names, s->def->name);
    if (op < 0 || s->n_out != 1 || s->out_dtype[0] != WEFT_BOOL) return false;
    if (op <= LG_XOR)
        return s->n_in == 2 && s->in_dtype[0] == WEFT_BOOL && s->in_dtype[1] == WEFT_BOOL && on_device(s, 2);
    return s->n_in == 1 && s->in_dtype[0] == (op == LG_NOT ? WEFT_BOOL : WEFT_FLOAT32) && on_device(s, 1);
}

weft_status logic_prepare(const weft_step_desc *s, void **prepared)
{
    const int op = name_index(logic_names, s->def->name);
    weft_status st = prep_new(op, s->in_dtype[0], WEFT_BOOL, prepared);
    if (st) return st;
    Prep *p = (Prep *)*prepared;
    /* the reference's defaults: both signs detected */
    p->pos = weft_attr_int(s->node, "detect_positive", 1) != 0;
    p->neg = weft_attr_int(s->node, "detect_negative", 1) != 0;
    return WEFT_OK;
}

weft_status logic_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const Prep *p = (const Prep *)prepared;
    const weft_dtype want[2] = {p->dt, p->dt};
    return reshape_common(k, p->op <= LG_XOR ? 2 : 1, 0, want, WEFT_BOOL, state);
}

weft_status logic_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const Prep *p = (const Prep *)prepared;
    const Plan &pl = *(const Plan *)state;
    const void *a = k->in[0].data;
    void *y = k->out[0].data;
    if (p->op <= LG_XOR) {
        Logic f;
        f.op = p->op;
        return launch(pl, f, a, k->in[1].data, NULL, y, k, q->stream);
    }
    if (p->op == LG_NOT) return launch(pl, Not(), a, NULL, NULL, y, k, q->stream);
    FloatClass f;
    f.op = p->op;
    f.pos = p->pos;
    f.neg = p->neg;
    return launch(pl, f, a, NULL, NULL, y, k, q->stream);
}

/* --- Where ------------------------------------------------------------------------------------------ */

bool where_supports(const weft_step_desc *s)
{
    if (!onnx_op(s) || strcmp(s->def->name, "Where") != 0 || s->n_in != 3 || s->n_out != 1) return false;
    const weft_dtype t = s->in_dtype[1];
    return s->in_dtype[0] == WEFT_BOOL && data_dtype(t) && s->in_dtype[2] == t && s->out_dtype[0] == t &&
           on_device(s, 3);
}

weft_status where_prepare(const weft_step_desc *s, void **prepared)
{
    return prep_new(0, s->in_dtype[1], s->in_dtype[1], prepared);
}

weft_status where_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const Prep *p = (const Prep *)prepared;
    const weft_dtype want[3] = {WEFT_BOOL, p->dt, p->dt};
    return reshape_common(k, 3, 0, want, p->dt, state);
}

weft_status where_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const Plan &pl = *(const Plan *)state;
    const void *c = k->in[0].data, *a = k->in[1].data, *b = k->in[2].data;
    void *y = k->out[0].data;
    switch (weft_dtype_size(k->out[0].dtype)) {
    case 1: return launch(pl, Select<uint8_t>(), c, a, b, y, k, q->stream);
    case 4: return launch(pl, Select<uint32_t>(), c, a, b, y, k, q->stream);
    case 8: return launch(pl, Select<uint64_t>(), c, a, b, y, k, q->stream);
    default: return weft_op_unsupported_dtype(k, 1);
    }
}

/* --- Cast, CastLike --------------------------------------------------------------------------------- */

typedef weft_status (*CastFn)(const Plan &pl, const weft_kernel_ctx *k, cudaStream_t stream);

template <int S, int D> weft_status cast_launch(const Plan &pl, const weft_kernel_ctx *k, cudaStream_t stream)
{
    return launch(pl, Convert<S, D>(), k->in[0].data, NULL, NULL, k->out[0].data, k, stream);
}

template <int S, int D> CastFn cast_pick()
{
    if constexpr (S == D) return NULL; /* a copy */
    else return &cast_launch<S, D>;
}

template <int S> CastFn cast_from(weft_dtype to)
{
    switch (to) {
    case WEFT_FLOAT32: return cast_pick<S, WEFT_FLOAT32>();
    case WEFT_INT32: return cast_pick<S, WEFT_INT32>();
    case WEFT_INT64: return cast_pick<S, WEFT_INT64>();
    case WEFT_BOOL: return cast_pick<S, WEFT_BOOL>();
    case WEFT_UINT8: return cast_pick<S, WEFT_UINT8>();
    case WEFT_INT8: return cast_pick<S, WEFT_INT8>();
    default: return NULL;
    }
}

CastFn cast_fn(weft_dtype from, weft_dtype to)
{
    switch (from) {
    case WEFT_FLOAT32: return cast_from<WEFT_FLOAT32>(to);
    case WEFT_INT32: return cast_from<WEFT_INT32>(to);
    case WEFT_INT64: return cast_from<WEFT_INT64>(to);
    case WEFT_BOOL: return cast_from<WEFT_BOOL>(to);
    case WEFT_UINT8: return cast_from<WEFT_UINT8>(to);
    case WEFT_INT8: return cast_from<WEFT_INT8>(to);
    default: return NULL;
    }
}

/* The target dtype: Cast's attribute `to`, CastLike's second input's dtype; WEFT_UNDEFINED when the
 * step is not one of them. */
weft_dtype cast_target(const weft_step_desc *s)
{
    if (!onnx_op(s)) return WEFT_UNDEFINED;
    if (strcmp(s->def->name, "Cast") == 0 && s->n_in == 1) {
        const weft_attr *a = weft_attr_find(s->node, "to");
        return a && a->type == WEFT_ATTR_INT ? (weft_dtype)a->i : WEFT_UNDEFINED;
    }
    if (strcmp(s->def->name, "CastLike") == 0 && s->n_in == 2) return s->in_dtype[1];
    return WEFT_UNDEFINED;
}

bool cast_supports(const weft_step_desc *s)
{
    const weft_dtype to = cast_target(s);
    return to != WEFT_UNDEFINED && s->n_out == 1 && data_dtype(s->in_dtype[0]) && data_dtype(to) &&
           s->out_dtype[0] == to && on_device(s, 1); /* CastLike's second input gives a dtype only */
}

weft_status cast_prepare(const weft_step_desc *s, void **prepared)
{
    return prep_new(0, s->in_dtype[0], cast_target(s), prepared);
}

weft_status cast_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const Prep *p = (const Prep *)prepared;
    const weft_dtype want[1] = {p->dt};
    return reshape_common(k, 1, 0, want, p->to, state);
}

weft_status cast_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const Prep *p = (const Prep *)prepared;
    const Plan &pl = *(const Plan *)state;
    if (pl.n == 0) return WEFT_OK;
    if (p->dt == p->to) { /* the reference copies the bytes */
        if (k->out[0].data == k->in[0].data) return WEFT_OK;
        weft_status st = weft_cuda_status(cudaMemcpyAsync(k->out[0].data, k->in[0].data,
                                                          (size_t)pl.n * weft_dtype_size(p->dt),
                                                          cudaMemcpyDeviceToDevice, q->stream),
                                          "cudaMemcpyAsync");
        return st ? weft_error_wrap(st, "node '%s' (%s)", k->node->name, k->node->op_type) : WEFT_OK;
    }
    const CastFn fn = cast_fn(p->dt, p->to);
    if (!fn) return weft_op_unsupported_dtype(k, 0);
    return fn(pl, k, q->stream);
}

} // namespace

/* --- the entries ------------------------------------------------------------------------------------ */

const weft_cuda_op weft_cuda_op_compare = {"", "Equal|Less|LessOrEqual|Greater|GreaterOrEqual", compare_supports,
                                           compare_prepare, compare_reshape, compare_run, NULL, NULL};
const weft_cuda_op weft_cuda_op_logic = {"", "And|Or|Xor|Not|IsNaN|IsInf", logic_supports, logic_prepare, logic_reshape,
                                         logic_run, NULL, NULL};
const weft_cuda_op weft_cuda_op_where = {"", "Where", where_supports, where_prepare, where_reshape, where_run, NULL, NULL};
const weft_cuda_op weft_cuda_op_cast = {"", "Cast|CastLike", cast_supports, cast_prepare, cast_reshape, cast_run, NULL,
                                        NULL};
