/*
 * ops/cuda/eltwise.cu — the cuda backend's elementwise and row-wise kernels, float32 data:
 *   ai.weft  FusedElementwise (any program ops/weft_fused.h defines, up to FE_MAX_IN inputs),
 *            L2Normalize;
 *   ONNX     Add, Sub, Mul, Div, Pow, Max / Min of two inputs (numpy broadcasting, any ranks);
 *            Neg, Abs, Relu, LeakyRelu, Elu, Sigmoid, Tanh, Exp, Log, Sqrt, Reciprocal, Cos, Sin, Erf,
 *            Softplus, Gelu (the one-operand ops whose formulas weft_fused.h shares with ops/unary.c);
 *            Softmax / LogSoftmax along any axis (and before opset 13, over every axis from `axis` on);
 *            LayerNormalization over the axes from `axis` on, with a scale and an optional bias that
 *            are a row vector or a single element, and the optional Mean / InvStdDev outputs.
 *
 * Values. Every element goes through weft_fused.h's functions compiled for the device: the arithmetic
 * and Max / Min in float (one IEEE operation: the reference's bits; the build passes -fmad=false so no
 * product is fused into an add), the one-operand ops and Pow in double rounded once to float. CUDA's
 * double functions are within 1-2 ulp of double of glibc's, so float results nearly always equal the
 * reference's and otherwise differ in the last bit.
 * Row statistics (LayerNormalization's mean and variance, L2Normalize's sum of squares, Softmax's sum)
 * are kept in double: each thread sums its elements in index order, then the partial sums meet in a
 * butterfly of warp shuffles (and, for a block per row, once more across warps through shared memory),
 * always in the same order. Results are the same bits on every run and within a few ulp of double of
 * the reference's sequential sums before the final rounding. Softmax evaluates exp in float (expf,
 * 2 ulp, corrected for the rounding of x - max so that small outputs keep their relative accuracy) and
 * sums in double: within 1e-6 relative of the reference's double computation. LogSoftmax subtracts in
 * double: within a few ulp, except near zero, where the output is -log(1 + tiny) and the last bit of the
 * sum in double (which depends on the order of its terms, the reference's too) is 2e-16 absolute.
 *
 * Work. Elementwise kernels are grid-stride loops; operands of the output's shape and single elements
 * are read directly (float4 when everything is 16-byte aligned), other broadcasts through the output's
 * index split over its dims (size-1 axes dropped and neighbouring axes merged first, as ops/binary.c
 * plans its walk) with strides precomputed at reshape and passed by value; the split uses 32-bit
 * multiply-shift division when the tensor has fewer than 2^31 elements. Row ops give a row to a group
 * of 4 to 32 lanes of a warp for rows of up to ROW_GROUP_MAX elements and to a block beyond; Softmax
 * along an axis that is not the last gives each thread one (outer, inner) column, neighbouring threads
 * neighbouring columns, so that every pass over the axis is coalesced. Zero-size tensors launch nothing.
 *
 * FusedElementwise is interpreted on the device: prepare compiles the program once (instructions whose
 * result nothing reads are dropped, the registers renamed so that values share slots once dead, at most
 * 256 live values), reshape uploads it with the broadcast strides, and each thread keeps its slots in
 * shared memory (slot s of thread t at s * blockDim + t: no bank conflicts) and runs the program for
 * its elements, the instructions read by every lane at once.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_backend.h"
#include "cuda_bcast.cuh"

extern "C" {
#include "../weft_fused.h"

extern const weft_cuda_op weft_cuda_op_fused_elementwise;
extern const weft_cuda_op weft_cuda_op_binary;
extern const weft_cuda_op weft_cuda_op_unary;
extern const weft_cuda_op weft_cuda_op_l2_normalize;
extern const weft_cuda_op weft_cuda_op_softmax;
extern const weft_cuda_op weft_cuda_op_layer_norm;
}

namespace {

constexpr int kThreads = 256;             /* threads of every block of this file */
constexpr int kMaxRank = WEFT_MAX_RANK;
constexpr int FE_MAX_IN = 128;            /* FusedElementwise inputs (the compiler's groups have <= 127) */
constexpr int64_t ROW_GROUP_MAX = 2048;   /* longer rows get a block each */
constexpr unsigned FULL = 0xffffffffu;

/* --- shared pieces ------------------------------------------------------------------------------- */

bool is_op(const weft_step_desc *s, const char *domain, const char *name)
{
    const char *d = s->def->domain ? s->def->domain : "";
    return strcmp(d, domain) == 0 && strcmp(s->def->name, name) == 0;
}

weft_status nomem() { return weft_error(WEFT_ERR_NOMEM, "out of memory"); }

bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

int64_t prod(const int64_t *d, int lo, int hi)
{
    int64_t p = 1;
    for (int i = lo; i < hi; i++) p *= d[i];
    return p;
}

/* Every input must broadcast to the output (infer checked it with dims that may have been symbols). */
weft_status check_broadcast(const weft_kernel_ctx *k, int n_in)
{
    const weft_tview *y = &k->out[0];
    for (int i = 0; i < n_in; i++)
        if (k->in[i].dtype != WEFT_FLOAT32) return weft_op_error(k->node, WEFT_ERR_TYPE, "input %d must be float32", i);
    if (y->dtype != WEFT_FLOAT32) return weft_op_error(k->node, WEFT_ERR_TYPE, "output 0 must be float32");
    for (int i = 0; i < n_in; i++) {
        const weft_tview *x = &k->in[i];
        weft_status st = bcast_check(k->node, &x, 1, i, y);
        if (st) return st;
    }
    return WEFT_OK;
}

/* Grid of a grid-stride loop over `items` with kThreads threads a block. */
unsigned grid_for(int64_t items) { return weft_cuda_grid(items, kThreads); }

/* --- one and two operands ------------------------------------------------------------------------ */

struct NamedOp {
    const char *name;
    int op;
};

const NamedOp binary_ops[] = {{"Add", WEFT_FUSED_ADD}, {"Sub", WEFT_FUSED_SUB}, {"Mul", WEFT_FUSED_MUL},
                              {"Div", WEFT_FUSED_DIV}, {"Pow", WEFT_FUSED_POW}, {"Max", WEFT_FUSED_MAX},
                              {"Min", WEFT_FUSED_MIN}};

const NamedOp unary_ops[] = {
    {"Neg", WEFT_FUSED_NEG},         {"Abs", WEFT_FUSED_ABS},   {"Relu", WEFT_FUSED_RELU},
    {"LeakyRelu", WEFT_FUSED_LEAKY_RELU}, {"Elu", WEFT_FUSED_ELU}, {"Sigmoid", WEFT_FUSED_SIGMOID},
    {"Tanh", WEFT_FUSED_TANH},       {"Exp", WEFT_FUSED_EXP},   {"Log", WEFT_FUSED_LOG},
    {"Sqrt", WEFT_FUSED_SQRT},       {"Reciprocal", WEFT_FUSED_RECIPROCAL}, {"Cos", WEFT_FUSED_COS},
    {"Sin", WEFT_FUSED_SIN},         {"Erf", WEFT_FUSED_ERF},   {"Softplus", WEFT_FUSED_SOFTPLUS},
    {"Gelu", WEFT_FUSED_GELU}};

template <size_t N> int find_op(const NamedOp (&ops)[N], const weft_step_desc *s)
{
    if (s->def->domain && s->def->domain[0]) return -1;
    for (size_t i = 0; i < N; i++)
        if (strcmp(ops[i].name, s->def->name) == 0) return ops[i].op;
    return -1;
}

struct EwPrep {
    int op;
    double alpha;
};

void ew_release(void *p) { free(p); }

/* a op b for a two-operand opcode of weft_fused.h, in float */
__device__ __forceinline__ float bin_apply(int op, float a, float b) { return weft_fused_binary_f32(op, a, b); }

template <int KA, int KB, bool VEC>
__global__ void __launch_bounds__(kThreads)
bin_contig(const float *__restrict__ a, const float *__restrict__ b, float *__restrict__ y, int64_t n, int op)
{
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    float as = 0.f, bs = 0.f;
    if (KA == BCAST_SCALAR) as = a[0];
    if (KB == BCAST_SCALAR) bs = b[0];
    int64_t i0 = 0;
    if (VEC) {
        const int64_t n4 = n >> 2;
        for (int64_t i = t; i < n4; i += step) {
            float4 va = KA == BCAST_DIRECT ? reinterpret_cast<const float4 *>(a)[i] : make_float4(as, as, as, as);
            float4 vb = KB == BCAST_DIRECT ? reinterpret_cast<const float4 *>(b)[i] : make_float4(bs, bs, bs, bs);
            float4 r;
            r.x = bin_apply(op, va.x, vb.x);
            r.y = bin_apply(op, va.y, vb.y);
            r.z = bin_apply(op, va.z, vb.z);
            r.w = bin_apply(op, va.w, vb.w);
            reinterpret_cast<float4 *>(y)[i] = r;
        }
        i0 = n4 << 2;
    }
    for (int64_t i = i0 + t; i < n; i += step)
        y[i] = bin_apply(op, KA == BCAST_DIRECT ? a[i] : as, KB == BCAST_DIRECT ? b[i] : bs);
}

template <typename I> struct BinArgs {
    const float *a, *b;
    float *y;
    I n;
    int op;
    BcastIdx<I, 2> w;
};

template <typename I>
__global__ void __launch_bounds__(kThreads) bin_bcast(const __grid_constant__ BinArgs<I> p)
{
    const I step = (I)gridDim.x * blockDim.x;
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += step) {
        I off[2];
        bcast_offsets<2>(p.w, i, off);
        p.y[i] = bin_apply(p.op, p.a[off[0]], p.b[off[1]]);
    }
}

bool binary_supports(const weft_step_desc *s)
{
    int op = find_op(binary_ops, s);
    return op >= 0 && s->n_in == 2 && s->n_out == 1 && s->in_dtype[0] == WEFT_FLOAT32 &&
           s->in_dtype[1] == WEFT_FLOAT32 && s->out_dtype[0] == WEFT_FLOAT32;
}

weft_status binary_prepare(const weft_step_desc *s, void **prepared)
{
    EwPrep *p = (EwPrep *)calloc(1, sizeof *p);
    if (!p) return nomem();
    p->op = find_op(binary_ops, s);
    *prepared = p;
    return WEFT_OK;
}

struct BinState {
    int64_t n;
    int ka, kb;
    bool wide;
    BinArgs<uint32_t> a32;
    BinArgs<uint64_t> a64;
};

template <typename I> void bin_args_fill(BinArgs<I> *p, const BcastWalk &w, const int64_t *st, int64_t n, int op)
{
    p->n = (I)n;
    p->op = op;
    bcast_idx_fill(&p->w, w, st);
}

weft_status binary_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const EwPrep *pp = (const EwPrep *)prepared;
    if (k->n_in != 2) return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "two inputs are required");
    weft_status st = check_broadcast(k, 2);
    if (st) return st;
    BinState *s = (BinState *)calloc(1, sizeof *s);
    if (!s) return nomem();
    const weft_tview *y = &k->out[0];
    s->n = y->numel;
    s->ka = bcast_kind(&k->in[0], y);
    s->kb = bcast_kind(&k->in[1], y);
    s->wide = !bcast_small(s->n);
    if (s->n > 0 && (s->ka == BCAST_WALK || s->kb == BCAST_WALK)) {
        const weft_tview *in[2] = {&k->in[0], &k->in[1]};
        BcastWalk w;
        int64_t strides[2 * kMaxRank];
        bcast_walk_make(y, in, 2, &w, strides);
        if (s->wide) bin_args_fill(&s->a64, w, strides, s->n, pp->op);
        else bin_args_fill(&s->a32, w, strides, s->n, pp->op);
    }
    *state = s;
    return WEFT_OK;
}

template <int KA, int KB>
void launch_contig(bool vec, const float *a, const float *b, float *y, int64_t n, int op, cudaStream_t stream)
{
    if (vec) bin_contig<KA, KB, true><<<grid_for((n + 3) / 4), kThreads, 0, stream>>>(a, b, y, n, op);
    else bin_contig<KA, KB, false><<<grid_for(n), kThreads, 0, stream>>>(a, b, y, n, op);
}

weft_status binary_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const EwPrep *pp = (const EwPrep *)prepared;
    const BinState *s = (const BinState *)state;
    if (s->n == 0) return WEFT_OK;
    const float *a = (const float *)k->in[0].data, *b = (const float *)k->in[1].data;
    float *y = (float *)k->out[0].data;
    if (s->ka != BCAST_WALK && s->kb != BCAST_WALK) {
        bool vec = aligned16(y) && (s->ka != BCAST_DIRECT || aligned16(a)) && (s->kb != BCAST_DIRECT || aligned16(b));
        if (s->ka == BCAST_DIRECT && s->kb == BCAST_DIRECT) launch_contig<BCAST_DIRECT, BCAST_DIRECT>(vec, a, b, y, s->n, pp->op, q->stream);
        else if (s->ka == BCAST_DIRECT) launch_contig<BCAST_DIRECT, BCAST_SCALAR>(vec, a, b, y, s->n, pp->op, q->stream);
        else if (s->kb == BCAST_DIRECT) launch_contig<BCAST_SCALAR, BCAST_DIRECT>(vec, a, b, y, s->n, pp->op, q->stream);
        else launch_contig<BCAST_SCALAR, BCAST_SCALAR>(vec, a, b, y, s->n, pp->op, q->stream);
    } else if (s->wide) {
        BinArgs<uint64_t> p = s->a64;
        p.a = a;
        p.b = b;
        p.y = y;
        bin_bcast<uint64_t><<<grid_for(s->n), kThreads, 0, q->stream>>>(p);
    } else {
        BinArgs<uint32_t> p = s->a32;
        p.a = a;
        p.b = b;
        p.y = y;
        bin_bcast<uint32_t><<<grid_for(s->n), kThreads, 0, q->stream>>>(p);
    }
    return weft_cuda_launched(k->node);
}

template <bool VEC>
__global__ void __launch_bounds__(kThreads)
un_kernel(const float *__restrict__ x, float *__restrict__ y, int64_t n, int op, double alpha)
{
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t i0 = 0;
    if (VEC) {
        const int64_t n4 = n >> 2;
        for (int64_t i = t; i < n4; i += step) {
            float4 v = reinterpret_cast<const float4 *>(x)[i], r;
            r.x = (float)weft_fused_unary(op, (double)v.x, alpha);
            r.y = (float)weft_fused_unary(op, (double)v.y, alpha);
            r.z = (float)weft_fused_unary(op, (double)v.z, alpha);
            r.w = (float)weft_fused_unary(op, (double)v.w, alpha);
            reinterpret_cast<float4 *>(y)[i] = r;
        }
        i0 = n4 << 2;
    }
    for (int64_t i = i0 + t; i < n; i += step) y[i] = (float)weft_fused_unary(op, (double)x[i], alpha);
}

bool unary_supports(const weft_step_desc *s)
{
    int op = find_op(unary_ops, s);
    if (op < 0 || s->n_in != 1 || s->n_out != 1 || s->in_dtype[0] != WEFT_FLOAT32 || s->out_dtype[0] != WEFT_FLOAT32)
        return false;
    if (op == WEFT_FUSED_GELU) {
        const char *a = weft_attr_string(s->node, "approximate", "none");
        return strcmp(a, "none") == 0 || strcmp(a, "tanh") == 0;
    }
    return true;
}

weft_status unary_prepare(const weft_step_desc *s, void **prepared)
{
    EwPrep *p = (EwPrep *)calloc(1, sizeof *p);
    if (!p) return nomem();
    p->op = find_op(unary_ops, s);
    /* the reference's defaults, read as float as ops/unary.c reads them */
    if (p->op == WEFT_FUSED_LEAKY_RELU) p->alpha = weft_attr_float(s->node, "alpha", 0.01f);
    if (p->op == WEFT_FUSED_ELU) p->alpha = weft_attr_float(s->node, "alpha", 1.0f);
    if (p->op == WEFT_FUSED_GELU) p->alpha = strcmp(weft_attr_string(s->node, "approximate", "none"), "tanh") == 0;
    *prepared = p;
    return WEFT_OK;
}

weft_status unary_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const EwPrep *pp = (const EwPrep *)prepared;
    const weft_tview *x = &k->in[0];
    weft_tview *y = &k->out[0];
    if (x->dtype != WEFT_FLOAT32 || y->dtype != WEFT_FLOAT32 || x->numel != y->numel)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "the output must be the input's float32 shape");
    const int64_t n = x->numel;
    if (n == 0) return WEFT_OK;
    const float *xp = (const float *)x->data;
    float *yp = (float *)y->data;
    if (aligned16(xp) && aligned16(yp))
        un_kernel<true><<<grid_for((n + 3) / 4), kThreads, 0, q->stream>>>(xp, yp, n, pp->op, pp->alpha);
    else
        un_kernel<false><<<grid_for(n), kThreads, 0, q->stream>>>(xp, yp, n, pp->op, pp->alpha);
    return weft_cuda_launched(k->node);
}

/* --- FusedElementwise ---------------------------------------------------------------------------- */

/* A compiled instruction: operands are slots (>= 0) or constants (-1 - c); dst is the slot the result
 * goes to (the last instruction writes the output instead). */
struct FeInsn {
    float alpha; /* the instruction's alpha (a float attribute or a float default: exact) */
    int16_t a, b;
    uint8_t op, dst;
    uint8_t pad[2];
};
static_assert(sizeof(FeInsn) == 12, "FeInsn layout");

struct FePrep {
    int n_inputs, n_insns, n_slots, n_consts;
    int in_slot[FE_MAX_IN]; /* -1: the program never reads the input */
    FeInsn *insn;
    float *consts;
};

void fe_release(void *prepared)
{
    FePrep *p = (FePrep *)prepared;
    if (!p) return;
    free(p->insn);
    free(p->consts);
    free(p);
}

bool fe_supports(const weft_step_desc *s)
{
    if (!is_op(s, "ai.weft", "FusedElementwise") || s->n_in < 1 || s->n_in > FE_MAX_IN || s->n_out != 1) return false;
    for (int i = 0; i < s->n_in; i++)
        if (s->in_dtype[i] != WEFT_FLOAT32) return false;
    if (s->out_dtype[0] != WEFT_FLOAT32) return false;
    /* constants are addressed by 16-bit operands */
    const weft_attr *ca = weft_attr_find(s->node, "constants");
    return !ca || ca->type != WEFT_ATTR_FLOATS || ca->n <= 32767;
}

/* Compiles a validated program: values (inputs, then one per instruction) numbered in order, the
 * instructions no result depends on dropped, each value given the lowest free slot when it is made
 * and its slot freed after its last reader has read it (a result may take the slot of an operand it
 * consumes). At any moment every live value sits in a distinct register of the original program, so
 * at most WEFT_FUSED_MAX_REGS slots are in use. */
weft_status fe_compile(const weft_fused_program *pg, FePrep *p)
{
    const int n_in = pg->n_inputs, n = pg->n_insns, nv = n_in + n;
    int *work = (int *)malloc(sizeof(int) * (size_t)(2 * n + 3 * nv));
    p->insn = (FeInsn *)calloc((size_t)n, sizeof(FeInsn));
    p->consts = (float *)malloc(sizeof(float) * (size_t)(pg->n_consts > 0 ? pg->n_consts : 1));
    if (!work || !p->insn || !p->consts) {
        free(work);
        return nomem();
    }
    int *va = work, *vb = va + n, *need = vb + n, *last = need + nv, *slot = last + nv;
    int cur[WEFT_FUSED_MAX_REGS];
    for (int r = 0; r < WEFT_FUSED_MAX_REGS; r++) cur[r] = r < n_in ? r : -1;
    for (int i = 0; i < n; i++) {
        const int64_t *c = pg->code + 4 * i;
        va[i] = c[2] >= 0 ? cur[c[2]] : (int)c[2];
        vb[i] = weft_fused_is_binary(c[0]) ? (c[3] >= 0 ? cur[c[3]] : (int)c[3]) : va[i];
        cur[c[1]] = n_in + i;
    }
    for (int v = 0; v < nv; v++) {
        need[v] = 0;
        last[v] = -1;
        slot[v] = -1;
    }
    need[nv - 1] = 1;
    for (int i = n - 1; i >= 0; i--) {
        if (!need[n_in + i]) continue;
        if (va[i] >= 0) need[va[i]] = 1;
        if (vb[i] >= 0) need[vb[i]] = 1;
    }
    for (int i = 0; i < n; i++) {
        if (!need[n_in + i]) continue;
        if (va[i] >= 0) last[va[i]] = i;
        if (vb[i] >= 0) last[vb[i]] = i;
    }
    bool used[WEFT_FUSED_MAX_REGS] = {false};
    int n_slots = 0;
    auto take = [&]() {
        int s = 0;
        while (used[s]) s++; /* fewer than WEFT_FUSED_MAX_REGS live values (see above) */
        used[s] = true;
        if (s + 1 > n_slots) n_slots = s + 1;
        return s;
    };
    p->n_inputs = n_in;
    for (int r = 0; r < n_in; r++) p->in_slot[r] = need[r] ? (slot[r] = take()) : -1;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (!need[n_in + i]) continue;
        FeInsn in;
        memset(&in, 0, sizeof in);
        in.op = (uint8_t)pg->code[4 * i];
        in.alpha = (float)weft_fused_alpha(pg, i);
        in.a = (int16_t)(va[i] >= 0 ? slot[va[i]] : va[i]);
        in.b = (int16_t)(vb[i] >= 0 ? slot[vb[i]] : vb[i]);
        if (va[i] >= 0 && last[va[i]] == i) used[slot[va[i]]] = false;
        if (vb[i] >= 0 && vb[i] != va[i] && last[vb[i]] == i) used[slot[vb[i]]] = false;
        if (i < n - 1) in.dst = (uint8_t)(slot[n_in + i] = take());
        p->insn[m++] = in;
    }
    free(work);
    p->n_insns = m;
    p->n_slots = n_slots;
    p->n_consts = pg->n_consts;
    if (pg->n_consts) memcpy(p->consts, pg->consts, sizeof(float) * (size_t)pg->n_consts);
    return WEFT_OK;
}

weft_status fe_prepare(const weft_step_desc *s, void **prepared)
{
    weft_fused_program pg;
    weft_status st = weft_fused_program_read(s->node, s->n_in, &pg);
    if (st) return st;
    FePrep *p = (FePrep *)calloc(1, sizeof *p);
    if (!p) return nomem();
    if ((st = fe_compile(&pg, p))) {
        fe_release(p);
        return st;
    }
    *prepared = p;
    return WEFT_OK;
}

template <typename I> struct FeArgs {
    const FeInsn *code;
    const float *consts;
    const I *strides; /* kMaxRank per broadcast input, in load order */
    float *y;
    I n;
    int n_insns, n_load, rank;
    Dim<I> dim[kMaxRank];
    const float *x[FE_MAX_IN]; /* the inputs the program reads, in load order */
    uint8_t kind[FE_MAX_IN], slot[FE_MAX_IN], sidx[FE_MAX_IN];
};

__device__ __forceinline__ float fe_apply(int op, float a, float b, float alpha)
{
    if (weft_fused_is_binary(op)) return weft_fused_binary_f32(op, a, b);
    return (float)weft_fused_unary(op, (double)a, (double)alpha);
}

template <typename I, bool BCAST>
__global__ void __launch_bounds__(kThreads) fe_kernel(const __grid_constant__ FeArgs<I> p)
{
    extern __shared__ float fe_slots[];
    float *reg = fe_slots + threadIdx.x;
    const unsigned bd = blockDim.x;
    const I step = (I)gridDim.x * blockDim.x;
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += step) {
        I c[kMaxRank];
        if (BCAST) bcast_split<I>(p.dim, p.rank, i, c);
        for (int j = 0; j < p.n_load; j++) {
            const int kd = p.kind[j];
            I off = 0;
            if (kd == BCAST_DIRECT) {
                off = i;
            } else if (BCAST && kd == BCAST_WALK) {
                const I *s = p.strides + (size_t)p.sidx[j] * kMaxRank;
#pragma unroll
                for (int d = 0; d < kMaxRank; d++)
                    if (d < p.rank) off += c[d] * s[d];
            }
            reg[p.slot[j] * bd] = p.x[j][off];
        }
        float r = 0.f;
        for (int q = 0; q < p.n_insns; q++) {
            const FeInsn in = p.code[q];
            const float a = in.a >= 0 ? reg[in.a * bd] : p.consts[-1 - in.a];
            const float b = in.b >= 0 ? reg[in.b * bd] : p.consts[-1 - in.b];
            r = fe_apply(in.op, a, b, in.alpha);
            if (q + 1 < p.n_insns) reg[in.dst * bd] = r;
        }
        p.y[i] = r;
    }
}

struct FeState {
    void *dev; /* instructions, constants, broadcast strides */
    int64_t n;
    bool wide, bcast;
    int threads;
    size_t smem;
    int n_load;
    int load_in[FE_MAX_IN]; /* the kernel input of each load */
    FeArgs<uint32_t> a32;
    FeArgs<uint64_t> a64;
};

void fe_release_state(void *state)
{
    FeState *s = (FeState *)state;
    if (!s) return;
    weft_cuda_free(s->dev);
    free(s);
}

size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Fills the arguments but for the data pointers (set at run) and uploads what they point to. */
template <typename I>
weft_status fe_args_fill(const FePrep *p, FeState *s, const weft_kernel_ctx *k, FeArgs<I> *a, weft_cuda_queue *q)
{
    const weft_tview *y = &k->out[0];
    const weft_tview *in[FE_MAX_IN];
    for (int i = 0; i < p->n_inputs; i++) in[i] = &k->in[i];
    BcastWalk w;
    int64_t *st = (int64_t *)malloc(sizeof(int64_t) * kMaxRank * (size_t)p->n_inputs);
    if (!st) return nomem();
    bcast_walk_make(y, in, p->n_inputs, &w, st);
    a->n = (I)s->n;
    a->n_insns = p->n_insns;
    a->rank = w.rank;
    for (int d = 0; d < kMaxRank; d++) a->dim[d].set(d < w.rank ? w.dims[d] : 1);
    int n_bcast = 0;
    s->n_load = 0;
    for (int i = 0; i < p->n_inputs; i++) {
        if (p->in_slot[i] < 0) continue;
        const int j = s->n_load++;
        s->load_in[j] = i;
        a->slot[j] = (uint8_t)p->in_slot[i];
        a->kind[j] = (uint8_t)bcast_kind(in[i], y);
        a->sidx[j] = 0;
        if (a->kind[j] == BCAST_WALK) a->sidx[j] = (uint8_t)n_bcast++;
    }
    a->n_load = s->n_load;
    s->bcast = n_bcast > 0;
    const size_t code_b = round16(sizeof(FeInsn) * (size_t)p->n_insns), const_b = round16(sizeof(float) * (size_t)p->n_consts);
    const size_t str_b = sizeof(I) * kMaxRank * (size_t)n_bcast, total = code_b + const_b + str_b;
    char *host = (char *)calloc(1, total);
    if (!host) {
        free(st);
        return nomem();
    }
    memcpy(host, p->insn, sizeof(FeInsn) * (size_t)p->n_insns);
    if (p->n_consts) memcpy(host + code_b, p->consts, sizeof(float) * (size_t)p->n_consts);
    I *hs = (I *)(host + code_b + const_b);
    for (int j = 0; j < s->n_load; j++) {
        if (a->kind[j] != BCAST_WALK) continue;
        const int i = s->load_in[j];
        for (int d = 0; d < kMaxRank; d++) hs[(size_t)a->sidx[j] * kMaxRank + d] = d < w.rank ? (I)st[i * kMaxRank + d] : 0;
    }
    free(st);
    weft_status rc = weft_cuda_malloc(total, &s->dev);
    if (!rc) {
        /* from pageable memory: the call returns once `host` has been staged, and the kernels that
         * read the copy come later on the same stream */
        rc = weft_cuda_status(cudaMemcpyAsync(s->dev, host, total, cudaMemcpyHostToDevice, q->stream),
                              "uploading FusedElementwise's program");
    }
    free(host);
    if (rc) return weft_error_wrap(rc, "node '%s' (%s)", k->node->name, k->node->op_type);
    const char *base = (const char *)s->dev;
    a->code = (const FeInsn *)base;
    a->consts = (const float *)(base + code_b);
    a->strides = (const I *)(base + code_b + const_b);
    return WEFT_OK;
}

weft_status fe_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const FePrep *p = (const FePrep *)prepared;
    if (k->n_in != p->n_inputs)
        return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "%d inputs for a program of %d", k->n_in, p->n_inputs);
    weft_status st = check_broadcast(k, k->n_in);
    if (st) return st;
    FeState *s = (FeState *)calloc(1, sizeof *s);
    if (!s) return nomem();
    s->n = k->out[0].numel;
    s->wide = !bcast_small(s->n);
    /* the slots of a block fill at most 32 KiB of shared memory */
    s->threads = kThreads;
    while (s->threads > 32 && (size_t)p->n_slots * (size_t)s->threads * sizeof(float) > 32768) s->threads /= 2;
    s->smem = (size_t)p->n_slots * (size_t)s->threads * sizeof(float);
    if (s->n > 0) {
        st = s->wide ? fe_args_fill(p, s, k, &s->a64, q) : fe_args_fill(p, s, k, &s->a32, q);
        if (st) {
            fe_release_state(s);
            return st;
        }
    }
    *state = s;
    return WEFT_OK;
}

template <typename I> void fe_launch(const FeState *s, FeArgs<I> a, const weft_kernel_ctx *k, cudaStream_t stream)
{
    for (int j = 0; j < s->n_load; j++) a.x[j] = (const float *)k->in[s->load_in[j]].data;
    a.y = (float *)k->out[0].data;
    const unsigned blocks = weft_cuda_grid(s->n, s->threads);
    if (s->bcast) fe_kernel<I, true><<<blocks, s->threads, s->smem, stream>>>(a);
    else fe_kernel<I, false><<<blocks, s->threads, s->smem, stream>>>(a);
}

weft_status fe_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const FeState *s = (const FeState *)state;
    if (s->n == 0) return WEFT_OK;
    if (s->wide) fe_launch(s, s->a64, k, q->stream);
    else fe_launch(s, s->a32, k, q->stream);
    return weft_cuda_launched(k->node);
}

/* --- rows: teams and reductions ------------------------------------------------------------------ */

__device__ __forceinline__ double dmax(double a, double b) { return b > a ? b : a; }

/* A team works on one row at a time: its lanes split the row's elements and reduce their partial
 * results. Every row kernel loops over `base`, the first row of the block's round, which is the same for
 * all of the block's threads, so every thread takes part in every reduction (shuffles need the whole
 * warp, the block's reduction the whole block); a team whose row lies past the end computes nothing and
 * writes nothing.
 *
 * Group: G lanes of a warp per row (G a power of two up to 32), blockDim / G rows per block. The
 * butterfly gives every lane the same bits: each step adds the same two values on both sides. */
template <int G> struct Group {
    static __device__ __forceinline__ int lane() { return threadIdx.x & (G - 1); }
    static __device__ __forceinline__ int size() { return G; }
    static __device__ __forceinline__ int64_t sub() { return threadIdx.x / G; }
    static __device__ __forceinline__ int64_t rows_per_block() { return blockDim.x / G; }
    static __device__ __forceinline__ double sum(double v, double *)
    {
#pragma unroll
        for (int o = G / 2; o > 0; o >>= 1) v += __shfl_xor_sync(FULL, v, o);
        return v;
    }
    static __device__ __forceinline__ double max(double v, double *)
    {
#pragma unroll
        for (int o = G / 2; o > 0; o >>= 1) v = dmax(v, __shfl_xor_sync(FULL, v, o));
        return v;
    }
};

/* A block per row. Each warp reduces its lanes, then every warp reduces the warps' results in the same
 * order, so all threads get the same value without another barrier; the barrier in front keeps a
 * previous reduction's readers of `sh` ahead of this one's writers. */
struct Block {
    static __device__ __forceinline__ int lane() { return threadIdx.x; }
    static __device__ __forceinline__ int size() { return blockDim.x; }
    static __device__ __forceinline__ int64_t sub() { return 0; }
    static __device__ __forceinline__ int64_t rows_per_block() { return 1; }
    template <bool MAX> static __device__ __forceinline__ double reduce(double v, double *sh)
    {
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            double u = __shfl_xor_sync(FULL, v, o);
            v = MAX ? dmax(v, u) : v + u;
        }
        const int w = threadIdx.x >> 5, l = threadIdx.x & 31, nw = blockDim.x >> 5;
        __syncthreads();
        if (l == 0) sh[w] = v;
        __syncthreads();
        v = l < nw ? sh[l] : (MAX ? -INFINITY : 0.0);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            double u = __shfl_xor_sync(FULL, v, o);
            v = MAX ? dmax(v, u) : v + u;
        }
        return v;
    }
    static __device__ __forceinline__ double sum(double v, double *sh) { return reduce<false>(v, sh); }
    static __device__ __forceinline__ double max(double v, double *sh) { return reduce<true>(v, sh); }
};

/* f(j, x[j]) for the row's elements j = lane, lane + size, ... (float4 chunks when VEC). */
template <bool VEC, class F>
__device__ __forceinline__ void row_each(const float *x, int64_t n, int lane, int size, F f)
{
    if (VEC) {
        const float4 *x4 = reinterpret_cast<const float4 *>(x);
        for (int64_t j = lane; j < (n >> 2); j += size) {
            const float4 v = x4[j];
            f(4 * j, v.x);
            f(4 * j + 1, v.y);
            f(4 * j + 2, v.z);
            f(4 * j + 3, v.w);
        }
    } else {
        for (int64_t j = lane; j < n; j += size) f(j, x[j]);
    }
}

/* y[j] = f(j, x[j]) over the row, as row_each splits it. */
template <bool VEC, class F>
__device__ __forceinline__ void row_map(const float *x, float *y, int64_t n, int lane, int size, F f)
{
    if (VEC) {
        const float4 *x4 = reinterpret_cast<const float4 *>(x);
        float4 *y4 = reinterpret_cast<float4 *>(y);
        for (int64_t j = lane; j < (n >> 2); j += size) {
            const float4 v = x4[j];
            float4 r;
            r.x = f(4 * j, v.x);
            r.y = f(4 * j + 1, v.y);
            r.z = f(4 * j + 2, v.z);
            r.w = f(4 * j + 3, v.w);
            y4[j] = r;
        }
    } else {
        for (int64_t j = lane; j < n; j += size) y[j] = f(j, x[j]);
    }
}

/* How a row op is launched: g lanes per row (4 to 32), or a block per row (g = 0). */
struct RowPlan {
    int g;
    unsigned blocks;
};

RowPlan row_plan(int64_t rows, int64_t n, bool vec)
{
    RowPlan r;
    if (n > ROW_GROUP_MAX) {
        r.g = 0;
        r.blocks = weft_cuda_grid(rows, 1);
        return r;
    }
    const int64_t items = vec ? n / 4 : n;
    r.g = 4;
    while (r.g < 32 && 2 * r.g <= items) r.g *= 2;
    r.blocks = weft_cuda_grid(rows, kThreads / r.g);
    return r;
}

/* Launches KERNEL<Team, VEC> for a row plan (KERNEL a template of two parameters). */
#define ROW_LAUNCH(KERNEL, plan, vec, stream, ...)                                                 \
    do {                                                                                           \
        switch ((plan).g) {                                                                        \
        case 4:                                                                                    \
            if (vec) KERNEL<Group<4>, true><<<(plan).blocks, kThreads, 0, stream>>>(__VA_ARGS__);    \
            else KERNEL<Group<4>, false><<<(plan).blocks, kThreads, 0, stream>>>(__VA_ARGS__);       \
            break;                                                                                 \
        case 8:                                                                                    \
            if (vec) KERNEL<Group<8>, true><<<(plan).blocks, kThreads, 0, stream>>>(__VA_ARGS__);    \
            else KERNEL<Group<8>, false><<<(plan).blocks, kThreads, 0, stream>>>(__VA_ARGS__);       \
            break;                                                                                 \
        case 16:                                                                                   \
            if (vec) KERNEL<Group<16>, true><<<(plan).blocks, kThreads, 0, stream>>>(__VA_ARGS__);   \
            else KERNEL<Group<16>, false><<<(plan).blocks, kThreads, 0, stream>>>(__VA_ARGS__);      \
            break;                                                                                 \
        case 32:                                                                                   \
            if (vec) KERNEL<Group<32>, true><<<(plan).blocks, kThreads, 0, stream>>>(__VA_ARGS__);   \
            else KERNEL<Group<32>, false><<<(plan).blocks, kThreads, 0, stream>>>(__VA_ARGS__);      \
            break;                                                                                 \
        default:                                                                                   \
            if (vec) KERNEL<Block, true><<<(plan).blocks, kThreads, 0, stream>>>(__VA_ARGS__);       \
            else KERNEL<Block, false><<<(plan).blocks, kThreads, 0, stream>>>(__VA_ARGS__);          \
            break;                                                                                 \
        }                                                                                          \
    } while (0)

/* --- L2Normalize --------------------------------------------------------------------------------- */

template <class Team, bool VEC>
__global__ void __launch_bounds__(kThreads)
l2_rows(const float *__restrict__ x, float *__restrict__ y, int64_t rows, int64_t n, float eps)
{
    __shared__ double sh[32];
    const int lane = Team::lane(), size = Team::size();
    const int64_t per = Team::rows_per_block();
    for (int64_t base = (int64_t)blockIdx.x * per; base < rows; base += (int64_t)gridDim.x * per) {
        const int64_t row = base + Team::sub();
        const bool on = row < rows;
        const float *xr = x + (on ? row : 0) * n;
        double ss = 0;
        if (on) row_each<VEC>(xr, n, lane, size, [&](int64_t, float v) { ss += (double)v * (double)v; });
        ss = Team::sum(ss, sh);
        const float nrm = (float)sqrt(ss), d = nrm < eps ? eps : nrm; /* NaN stays */
        if (on) row_map<VEC>(xr, y + row * n, n, lane, size, [&](int64_t, float v) { return v / d; });
    }
}

struct L2Prep {
    float eps;
};

bool l2_supports(const weft_step_desc *s)
{
    return is_op(s, "ai.weft", "L2Normalize") && s->n_in == 1 && s->n_out == 1 && s->in_dtype[0] == WEFT_FLOAT32 &&
           s->out_dtype[0] == WEFT_FLOAT32;
}

weft_status l2_prepare(const weft_step_desc *s, void **prepared)
{
    L2Prep *p = (L2Prep *)calloc(1, sizeof *p);
    if (!p) return nomem();
    p->eps = weft_attr_float(s->node, "eps", 1e-12f);
    *prepared = p;
    return WEFT_OK;
}

weft_status l2_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const L2Prep *p = (const L2Prep *)prepared;
    const weft_tview *x = &k->in[0];
    if (x->rank < 1) return weft_op_error(k->node, WEFT_ERR_SHAPE, "input 0 (x) must have rank >= 1");
    const int64_t n = x->dims[x->rank - 1];
    if (n == 0 || x->numel == 0) return WEFT_OK;
    const int64_t rows = x->numel / n;
    const float *xp = (const float *)x->data;
    float *yp = (float *)k->out[0].data;
    const bool vec = n % 4 == 0 && aligned16(xp) && aligned16(yp);
    const RowPlan plan = row_plan(rows, n, vec);
    ROW_LAUNCH(l2_rows, plan, vec, q->stream, xp, yp, rows, n, p->eps);
    return weft_cuda_launched(k->node);
}

/* --- Softmax, LogSoftmax ------------------------------------------------------------------------- */

/* exp(x - m) in float: expf of x - m rounded to float, times 1 + the rounding error (x - m is exact in
 * double), so that the result keeps expf's relative accuracy however far x lies below m. */
__device__ __forceinline__ float sm_exp(float x, float m)
{
    const double d = (double)x - (double)m;
    const float dh = (float)d;
    const float dl = isfinite(dh) ? (float)(d - (double)dh) : 0.f;
    const float e = expf(dh);
    return e + e * dl;
}

template <class Team, bool VEC>
__global__ void __launch_bounds__(kThreads)
sm_rows(const float *__restrict__ x, float *__restrict__ y, int64_t rows, int64_t n, bool lg)
{
    __shared__ double sh[32];
    const int lane = Team::lane(), size = Team::size();
    const int64_t per = Team::rows_per_block();
    for (int64_t base = (int64_t)blockIdx.x * per; base < rows; base += (int64_t)gridDim.x * per) {
        const int64_t row = base + Team::sub();
        const bool on = row < rows;
        const float *xr = x + (on ? row : 0) * n;
        float m = -INFINITY; /* NaN never wins: the maximum of the others, as the reference's */
        if (on) row_each<VEC>(xr, n, lane, size, [&](int64_t, float v) { m = v > m ? v : m; });
        const float mx = (float)Team::max((double)m, sh);
        double s = 0;
        if (on) row_each<VEC>(xr, n, lane, size, [&](int64_t, float v) { s += (double)sm_exp(v, mx); });
        s = Team::sum(s, sh);
        if (!on) continue;
        float *yr = y + row * n;
        if (lg) {
            const double ls = log(s);
            row_map<VEC>(xr, yr, n, lane, size, [&](int64_t, float v) { return (float)(((double)v - (double)mx) - ls); });
        } else {
            const double inv = 1.0 / s;
            row_map<VEC>(xr, yr, n, lane, size, [&](int64_t, float v) { return (float)((double)sm_exp(v, mx) * inv); });
        }
    }
}

/* Along an axis with `inner` > 1 elements after it: one thread per (outer, inner) column. */
__global__ void __launch_bounds__(kThreads)
sm_cols(const float *__restrict__ x, float *__restrict__ y, int64_t outer, int64_t n, int64_t inner, bool lg)
{
    const int64_t cols = outer * inner, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += step) {
        const int64_t o = c / inner, in = c - o * inner;
        const float *xc = x + o * n * inner + in;
        float *yc = y + o * n * inner + in;
        float m = -INFINITY;
        for (int64_t j = 0; j < n; j++) {
            const float v = xc[j * inner];
            m = v > m ? v : m;
        }
        double s = 0;
        for (int64_t j = 0; j < n; j++) s += (double)sm_exp(xc[j * inner], m);
        if (lg) {
            const double ls = log(s);
            for (int64_t j = 0; j < n; j++) yc[j * inner] = (float)(((double)xc[j * inner] - (double)m) - ls);
        } else {
            const double inv = 1.0 / s;
            for (int64_t j = 0; j < n; j++) yc[j * inner] = (float)((double)sm_exp(xc[j * inner], m) * inv);
        }
    }
}

struct SmPrep {
    bool lg, legacy;
    int64_t axis;
};

bool sm_supports(const weft_step_desc *s)
{
    if (!is_op(s, "", "Softmax") && !is_op(s, "", "LogSoftmax")) return false;
    if (s->n_in != 1 || s->n_out != 1 || s->in_dtype[0] != WEFT_FLOAT32 || s->out_dtype[0] != WEFT_FLOAT32) return false;
    const int rank = s->in_shape[0].rank;
    const int64_t axis = weft_attr_int(s->node, "axis", s->node->opset < 13 ? 1 : -1);
    return rank >= 1 && axis >= -rank && axis < rank; /* else the reference reports it */
}

weft_status sm_prepare(const weft_step_desc *s, void **prepared)
{
    SmPrep *p = (SmPrep *)calloc(1, sizeof *p);
    if (!p) return nomem();
    p->lg = is_op(s, "", "LogSoftmax");
    p->legacy = s->node->opset < 13; /* the input coerced to 2-D at axis */
    p->axis = weft_attr_int(s->node, "axis", p->legacy ? 1 : -1);
    *prepared = p;
    return WEFT_OK;
}

struct SmState {
    int64_t outer, n, inner;
};

weft_status sm_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const SmPrep *p = (const SmPrep *)prepared;
    const weft_tview *x = &k->in[0];
    if (x->rank < 1) return weft_op_error(k->node, WEFT_ERR_SHAPE, "input must have rank >= 1");
    int axis;
    weft_status st = weft_axis(k->node, p->axis, x->rank, false, &axis);
    if (st) return st;
    if (k->out[0].numel != x->numel || k->out[0].dtype != WEFT_FLOAT32)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "the output must be the input's float32 shape");
    SmState *s = (SmState *)calloc(1, sizeof *s);
    if (!s) return nomem();
    s->outer = prod(x->dims, 0, axis);
    s->n = x->dims[axis];
    s->inner = prod(x->dims, axis + 1, x->rank);
    if (p->legacy) {
        s->n *= s->inner;
        s->inner = 1;
    }
    *state = s;
    return WEFT_OK;
}

weft_status sm_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const SmPrep *p = (const SmPrep *)prepared;
    const SmState *s = (const SmState *)state;
    if (s->outer == 0 || s->n == 0 || s->inner == 0) return WEFT_OK;
    const float *xp = (const float *)k->in[0].data;
    float *yp = (float *)k->out[0].data;
    if (s->inner > 1) {
        sm_cols<<<grid_for(s->outer * s->inner), kThreads, 0, q->stream>>>(xp, yp, s->outer, s->n, s->inner, p->lg);
    } else {
        const bool vec = s->n % 4 == 0 && aligned16(xp) && aligned16(yp);
        const RowPlan plan = row_plan(s->outer, s->n, vec);
        ROW_LAUNCH(sm_rows, plan, vec, q->stream, xp, yp, s->outer, s->n, p->lg);
    }
    return weft_cuda_launched(k->node);
}

/* --- LayerNormalization -------------------------------------------------------------------------- */

struct LnArgs {
    const float *x, *scale, *bias; /* bias NULL when absent */
    float *y;
    void *mean, *inv;              /* NULL when not asked for; float or double (stats_f64) */
    int64_t rows, n;
    double eps;
    bool scale_row, bias_row, stats_f64;
};

/* The reference's arithmetic: mean and variance in double (two passes), inv = 1 / sqrt(var + eps),
 * y = (x - mean) * inv * scale + bias in double, rounded once. */
template <class Team, bool VEC>
__global__ void __launch_bounds__(kThreads) ln_rows(const LnArgs p)
{
    __shared__ double sh[32];
    const int lane = Team::lane(), size = Team::size();
    const float *__restrict__ sc = p.scale;
    const float *__restrict__ bi = p.bias;
    const int64_t n = p.n, rows = p.rows, per = Team::rows_per_block();
    const bool scale_row = p.scale_row, bias_row = p.bias_row;
    const double eps = p.eps;
    for (int64_t base = (int64_t)blockIdx.x * per; base < rows; base += (int64_t)gridDim.x * per) {
        const int64_t row = base + Team::sub();
        const bool on = row < rows;
        const float *xr = p.x + (on ? row : 0) * n;
        double s = 0;
        if (on) row_each<VEC>(xr, n, lane, size, [&](int64_t, float v) { s += (double)v; });
        const double mean = Team::sum(s, sh) / (double)n;
        double q = 0;
        if (on)
            row_each<VEC>(xr, n, lane, size, [&](int64_t, float v) {
                const double d = (double)v - mean;
                q += d * d;
            });
        const double var = Team::sum(q, sh) / (double)n;
        const double inv = 1.0 / sqrt(var + eps);
        if (!on) continue;
        row_map<VEC>(xr, p.y + row * n, n, lane, size, [&](int64_t j, float v) {
            double r = ((double)v - mean) * inv;
            r *= (double)sc[scale_row ? j : 0];
            if (bi) r += (double)bi[bias_row ? j : 0];
            return (float)r;
        });
        if (lane == 0) {
            if (p.mean) {
                if (p.stats_f64) ((double *)p.mean)[row] = mean;
                else ((float *)p.mean)[row] = (float)mean;
            }
            if (p.inv) {
                if (p.stats_f64) ((double *)p.inv)[row] = inv;
                else ((float *)p.inv)[row] = (float)inv;
            }
        }
    }
}

struct LnPrep {
    int64_t axis;
    double eps;
};

/* Whether operand t (compile-time shape) broadcast onto x is one element, or a row vector over x's
 * axes from `axis` on (1s before): the forms the kernel takes. */
bool ln_form_desc(const weft_shape *t, const weft_shape *x, int axis)
{
    if (t->rank < 0 || t->rank > x->rank) return false;
    bool one = true;
    for (int d = 0; d < t->rank; d++) one &= weft_dim_known(t->d[d]) && t->d[d].v == 1;
    if (one) return true;
    for (int d = 0; d < x->rank; d++) {
        const int td = d - (x->rank - t->rank);
        const weft_dim v = td < 0 ? weft_dim_num(1) : t->d[td];
        if (d < axis ? !(weft_dim_known(v) && v.v == 1) : !weft_dim_eq(v, x->d[d])) return false;
    }
    return true;
}

/* The same on the real dims: *row says which form. */
bool ln_form(const weft_tview *t, const weft_tview *x, int axis, bool *row)
{
    if (t->rank > x->rank) return false;
    if (t->numel == 1) {
        *row = false;
        return true;
    }
    for (int d = 0; d < x->rank; d++) {
        const int td = d - (x->rank - t->rank);
        const int64_t v = td < 0 ? 1 : t->dims[td];
        if (d < axis ? v != 1 : v != x->dims[d]) return false;
    }
    *row = true;
    return true;
}

bool ln_supports(const weft_step_desc *s)
{
    if (!is_op(s, "", "LayerNormalization") || s->n_in < 2 || s->n_in > 3 || s->n_out < 1 || s->n_out > 3) return false;
    if (s->in_dtype[0] != WEFT_FLOAT32 || s->in_dtype[1] != WEFT_FLOAT32 || s->out_dtype[0] != WEFT_FLOAT32) return false;
    const bool has_b = s->n_in > 2 && s->in_dtype[2] != WEFT_UNDEFINED;
    if (has_b && s->in_dtype[2] != WEFT_FLOAT32) return false;
    const int64_t stash = weft_attr_int(s->node, "stash_type", 1);
    if (stash != WEFT_FLOAT32 && stash != WEFT_FLOAT64) return false;
    for (int o = 1; o < s->n_out; o++)
        if (s->out_dtype[o] != WEFT_UNDEFINED && s->out_dtype[o] != (weft_dtype)stash) return false;
    const weft_shape *xs = &s->in_shape[0];
    const int64_t axis = weft_attr_int(s->node, "axis", -1);
    if (xs->rank < 1 || axis < -xs->rank || axis >= xs->rank) return false;
    const int a = (int)(axis < 0 ? axis + xs->rank : axis);
    return ln_form_desc(&s->in_shape[1], xs, a) && (!has_b || ln_form_desc(&s->in_shape[2], xs, a));
}

weft_status ln_prepare(const weft_step_desc *s, void **prepared)
{
    LnPrep *p = (LnPrep *)calloc(1, sizeof *p);
    if (!p) return nomem();
    p->axis = weft_attr_int(s->node, "axis", -1);
    p->eps = weft_attr_float(s->node, "epsilon", 1e-5f);
    *prepared = p;
    return WEFT_OK;
}

struct LnState {
    LnArgs a; /* pointers set at run */
    bool has_b, want_mean, want_inv;
};

weft_status ln_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const LnPrep *p = (const LnPrep *)prepared;
    const weft_tview *x = &k->in[0];
    int axis;
    if (x->rank < 1) return weft_op_error(k->node, WEFT_ERR_SHAPE, "input must have rank >= 1");
    weft_status st = weft_axis(k->node, p->axis, x->rank, false, &axis);
    if (st) return st;
    LnState *s = (LnState *)calloc(1, sizeof *s);
    if (!s) return nomem();
    s->has_b = weft_kin_present(k, 2);
    s->a.rows = prod(x->dims, 0, axis);
    s->a.n = prod(x->dims, axis, x->rank);
    s->a.eps = p->eps;
    if (!ln_form(&k->in[1], x, axis, &s->a.scale_row) || (s->has_b && !ln_form(&k->in[2], x, axis, &s->a.bias_row))) {
        free(s);
        return weft_op_error(k->node, WEFT_ERR_UNSUPPORTED,
                             "scale and bias must be row vectors over the normalised axes or single elements");
    }
    s->want_mean = k->n_out > 1 && k->out[1].dtype != WEFT_UNDEFINED;
    s->want_inv = k->n_out > 2 && k->out[2].dtype != WEFT_UNDEFINED;
    s->a.stats_f64 = (s->want_mean && k->out[1].dtype == WEFT_FLOAT64) || (s->want_inv && k->out[2].dtype == WEFT_FLOAT64);
    *state = s;
    return WEFT_OK;
}

weft_status ln_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const LnState *s = (const LnState *)state;
    if (k->in[0].numel == 0) return WEFT_OK; /* the reference writes nothing either, statistics included */
    LnArgs a = s->a;
    a.x = (const float *)k->in[0].data;
    a.scale = (const float *)k->in[1].data;
    a.bias = s->has_b ? (const float *)k->in[2].data : NULL;
    a.y = (float *)k->out[0].data;
    a.mean = s->want_mean ? k->out[1].data : NULL;
    a.inv = s->want_inv ? k->out[2].data : NULL;
    const bool vec = a.n % 4 == 0 && aligned16(a.x) && aligned16(a.y);
    const RowPlan plan = row_plan(a.rows, a.n, vec);
    ROW_LAUNCH(ln_rows, plan, vec, q->stream, a);
    return weft_cuda_launched(k->node);
}

} /* namespace */

/* --- the entries --------------------------------------------------------------------------------- */

const weft_cuda_op weft_cuda_op_fused_elementwise = {"ai.weft", "FusedElementwise", fe_supports, fe_prepare,
                                                     fe_reshape, fe_run, fe_release, fe_release_state};
const weft_cuda_op weft_cuda_op_binary = {"", "Add|Sub|Mul|Div|Pow|Max|Min", binary_supports, binary_prepare,
                                          binary_reshape, binary_run, ew_release, NULL};
const weft_cuda_op weft_cuda_op_unary = {"", "Neg|Abs|Relu|LeakyRelu|Elu|Sigmoid|Tanh|Exp|Log|Sqrt|Reciprocal|Cos|Sin|Erf|Softplus|Gelu",
                                         unary_supports, unary_prepare, NULL, unary_run, ew_release, NULL};
const weft_cuda_op weft_cuda_op_l2_normalize = {"ai.weft", "L2Normalize", l2_supports, l2_prepare, NULL, l2_run, NULL, NULL};
const weft_cuda_op weft_cuda_op_softmax = {"", "Softmax|LogSoftmax", sm_supports, sm_prepare, sm_reshape, sm_run, NULL, NULL};
const weft_cuda_op weft_cuda_op_layer_norm = {"", "LayerNormalization", ln_supports, ln_prepare, ln_reshape, ln_run, NULL, NULL};
