/*
 * ops/cuda/rnn.c — the cuda backend's recurrent steps: ONNX RNN, GRU and LSTM (one entry for the three),
 * float32, with the semantics of the reference kernel (ops/rnn.c, geometry in ops/rnn_geom.h).
 *
 * Taken: directions forward, reverse and bidirectional; layout 0 and 1; B, initial_h, initial_c and the
 * LSTM's peepholes P each present or absent; any of the outputs Y, Y_h, Y_c; GRU linear_before_reset 0
 * and 1; clip; LSTM input_forget; the default activations (RNN Tanh; GRU Sigmoid, Tanh; LSTM Sigmoid,
 * Tanh, Tanh), also when the attribute lists them. W, R and B are device operands whether they are
 * constants or inputs of the run.
 * Left to the host: sequence_lens (each sequence's own length is data the host reads), other
 * activations, any dtype but float32, and malformed attributes (the reference kernel reports those).
 *
 * The work of a run (cuda_rnn.h; kernels in ops/cuda/rnn_cell.cu):
 *   - the state from initial_h / initial_c;
 *   - X W^T for every time step and both directions in one cuBLASLt product: X is [S * N, I] in either
 *     layout (rows in X's own order) and W [dirs, G*H, I] is the row-major [dirs * G * H, I] matrix, so
 *     the product is [S * N, dirs * G * H] into xw (device scratch of that size for the whole sequence:
 *     one large product instead of one small one per step);
 *   - per time step, h R^T for both directions as one strided-batch product (one call per direction
 *     where cuBLASLt declines the batch) into rh, then one cell kernel (GRU with linear_before_reset 0:
 *     a reset kernel, r . h times the candidate rows of R, then the cell kernel).
 * Row-major products as cuBLASLt's column-major ones (as ops/cuda/dense.c does): Y = X W^T is
 * Y^T = W X^T with W read through CUBLAS_OP_T; m is the output's columns, n its rows.
 * The biases, clip and activations are the cell kernel's, in double in the reference's order.
 *
 * Precision: cuBLASLt sums the products in float32 (CUBLAS_COMPUTE_32F, or TF32 where the session allows
 * it), the reference in double; the gate arithmetic and the state are double as the reference's are. With
 * weights of the usual size (PyTorch's +-1/sqrt(H)) the recurrence contracts and the results stay within
 * a few float roundings of the reference's (under 1e-6 absolute in tests/unit/test_cuda_rnn.c's cases);
 * with large recurrent weights (a chaotic tanh RNN) any two summation orders drift apart over the steps.
 *
 * Lifecycle. prepare reads the attributes (host only). reshape checks the bound sizes as the reference
 * does (the same errors), allocates the step's device scratch (xw, the products of one step, the state)
 * and makes the cuBLASLt descriptors and algorithms (one for operands on 16-byte boundaries, one for
 * any float alignment; run picks by the pointers). run only enqueues: kernel launches, cuBLASLt calls and
 * memsets on q->stream, so it can be captured into a CUDA Graph. Zero sequences, zero time steps
 * (Y_h and Y_c are zeros, as the reference gives) and X without columns (no input product) launch
 * nothing invalid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cuda_backend.h"
#include "cuda_rnn.h"

enum { IN_X, IN_W, IN_R, IN_B, IN_SEQ, IN_H0, IN_C0, IN_P };

/* Pointer alignment of the fast algorithm variant (as ops/cuda/dense.c). */
#define RN_ALIGN 16u
/* Alignment of the pieces of the scratch block. */
#define RN_PIECE 256u
#define RN_MAX_HIDDEN ((int64_t)1 << 40)

typedef struct rn_prep {
    int kind;          /* WEFT_CUDA_CELL_RNN / GRU / LSTM */
    int G;             /* gates: 1, 3, 4 */
    int dirs;
    bool reverse;
    int layout;
    int64_t hidden;    /* the attribute, or -1: R's last dim */
    bool has_clip;
    double clip;
    int lbr;           /* GRU */
    int input_forget;  /* LSTM */
} rn_prep;

/* One product, run as cuBLASLt's `count` strided batches, or `repeat` calls with the operands advanced by
 * the strides where cuBLASLt declines the batch. */
typedef struct rn_call {
    weft_cuda_lt_mm mm;
    int64_t count, repeat;
    int64_t stride_a, stride_b, stride_d; /* elements between directions */
} rn_call;

/* What a product computes: D[n x m] = B[n x k] A[m x k]^T in row-major terms. */
typedef struct rn_geom {
    int64_t m, n, k;
    int64_t count;
    int64_t stride_a, stride_b, stride_d;
} rn_geom;

typedef struct rn_state {
    bool nothing;              /* no sequences (or no units): every output is empty */
    bool has_b, has_h0, has_c0, has_p;
    int64_t state_n;           /* dirs * N * H */
    weft_cuda_rnn_cell cell;   /* geometry and scratch pointers; operands set per run */
    void *block;               /* the device scratch */
    bool proj;                 /* X has columns: the input product runs */
    rn_call call_proj, call_rec, call_rec2;
    bool made_proj, made_rec, made_rec2;
} rn_state;

/* --- attributes and which steps --------------------------------------------------------------------- */

static int kind_of(const weft_step_desc *s)
{
    const weft_op_def *d = s->def;
    if (!d || !d->name || (d->domain && d->domain[0] && strcmp(d->domain, "ai.onnx") != 0)) return -1;
    if (strcmp(d->name, "RNN") == 0) return WEFT_CUDA_CELL_RNN;
    if (strcmp(d->name, "GRU") == 0) return WEFT_CUDA_CELL_GRU;
    if (strcmp(d->name, "LSTM") == 0) return WEFT_CUDA_CELL_LSTM;
    return -1;
}

/* Reads the attributes as the reference kernel does; false for anything it would refuse (it reports the
 * error on the host) and for what this backend does not compute (activations other than the defaults). */
static bool read_attrs(const weft_node_info *n, int kind, rn_prep *p)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->G = kind == WEFT_CUDA_CELL_RNN ? 1 : kind == WEFT_CUDA_CELL_GRU ? 3 : 4;
    const weft_attr *at = weft_attr_find(n, "direction");
    const char *dir = "forward";
    if (at) {
        if (at->type != WEFT_ATTR_STRING || !at->s) return false;
        dir = at->s;
    }
    if (strcmp(dir, "forward") == 0) p->dirs = 1;
    else if (strcmp(dir, "reverse") == 0) p->dirs = 1, p->reverse = true;
    else if (strcmp(dir, "bidirectional") == 0) p->dirs = 2;
    else return false;

    int64_t layout = weft_attr_int(n, "layout", 0);
    if (layout != 0 && layout != 1) return false;
    if (layout == 1 && n->opset < 14) return false;
    p->layout = (int)layout;

    p->hidden = -1;
    if ((at = weft_attr_find(n, "hidden_size"))) {
        if (at->type != WEFT_ATTR_INT || at->i <= 0 || at->i > RN_MAX_HIDDEN) return false;
        p->hidden = at->i;
    }
    if ((at = weft_attr_find(n, "clip"))) {
        if (at->type != WEFT_ATTR_FLOAT && at->type != WEFT_ATTR_INT) return false;
        double c = weft_attr_float(n, "clip", 0);
        if (!(c >= 0)) return false;
        p->has_clip = true;
        p->clip = c;
    }
    if (kind == WEFT_CUDA_CELL_GRU) {
        int64_t v = weft_attr_int(n, "linear_before_reset", 0);
        if (v != 0 && v != 1) return false;
        p->lbr = (int)v;
    }
    if (kind == WEFT_CUDA_CELL_LSTM) {
        int64_t v = weft_attr_int(n, "input_forget", 0);
        if (v != 0 && v != 1) return false;
        p->input_forget = (int)v;
    }
    /* the defaults only, per direction: RNN Tanh; GRU Sigmoid, Tanh; LSTM Sigmoid, Tanh, Tanh (their
     * activation_alpha / activation_beta mean nothing) */
    int n_act = kind == WEFT_CUDA_CELL_RNN ? 1 : kind == WEFT_CUDA_CELL_GRU ? 2 : 3;
    if ((at = weft_attr_find(n, "activations"))) {
        if (at->type != WEFT_ATTR_STRINGS || at->n != n_act * p->dirs) return false;
        for (int i = 0; i < at->n; i++) {
            const char *want = kind != WEFT_CUDA_CELL_RNN && i % n_act == 0 ? "Sigmoid" : "Tanh";
            if (!at->strings || !at->strings[i] || strcasecmp(at->strings[i], want) != 0) return false;
        }
    }
    return true;
}

static bool known_not(weft_dim d, int64_t v) { return weft_dim_known(d) && d.v != v; }

static bool rn_supports(const weft_step_desc *s)
{
    int kind = kind_of(s);
    if (kind < 0 || !s->node) return false;
    rn_prep p;
    if (!read_attrs(s->node, kind, &p)) return false;
    int max_in = kind == WEFT_CUDA_CELL_LSTM ? 8 : 6, max_out = kind == WEFT_CUDA_CELL_LSTM ? 3 : 2;
    if (s->n_in < 3 || s->n_in > max_in || s->n_out > max_out) return false;
    static const int ranks[8] = {3, 3, 3, 2, 1, 3, 3, 2};
    for (int i = 0; i < s->n_in; i++) {
        weft_dtype t = s->in_dtype[i];
        if (t == WEFT_UNDEFINED && i >= 3) continue;
        if (i == IN_SEQ) return false; /* per-sequence lengths: the host */
        if (t != WEFT_FLOAT32 || s->in_shape[i].rank != ranks[i]) return false;
    }
    for (int o = 0; o < s->n_out; o++)
        if (s->out_dtype[o] != WEFT_FLOAT32 && s->out_dtype[o] != WEFT_UNDEFINED) return false;
    /* H, known at compile time (infer needs it too) */
    const weft_shape *xs = &s->in_shape[IN_X], *ws = &s->in_shape[IN_W], *rs = &s->in_shape[IN_R];
    int64_t H = p.hidden;
    if (H < 0) {
        if (!weft_dim_known(rs->d[2]) || rs->d[2].v <= 0 || rs->d[2].v > RN_MAX_HIDDEN) return false;
        H = rs->d[2].v;
    }
    int64_t GH = p.G * H;
    /* cuBLASLt's sizes are 32-bit */
    if (GH * p.dirs > INT32_MAX) return false;
    if (known_not(ws->d[0], p.dirs) || known_not(ws->d[1], GH) || known_not(rs->d[0], p.dirs) ||
        known_not(rs->d[1], GH) || known_not(rs->d[2], H))
        return false;
    if (weft_dim_known(xs->d[2]) && (xs->d[2].v > INT32_MAX || known_not(ws->d[2], xs->d[2].v))) return false;
    return true;
}

static weft_status rn_prepare(const weft_step_desc *s, void **prepared)
{
    *prepared = NULL;
    int kind = kind_of(s);
    rn_prep *p = calloc(1, sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    if (kind < 0 || !read_attrs(s->node, kind, p)) {
        free(p);
        return weft_op_error(s->node, WEFT_ERR_UNSUPPORTED, "the cuda backend's recurrent kernels do not take this step");
    }
    *prepared = p;
    return WEFT_OK;
}

/* --- cuBLASLt --------------------------------------------------------------------------------------- */

/* A column-major rows x cols layout (leading dimension rows), `count` times at `stride` elements. */
static cublasStatus_t layout(cublasLtMatrixLayout_t *l, int64_t rows, int64_t cols, int64_t count, int64_t stride)
{
    cublasStatus_t st = cublasLtMatrixLayoutCreate(l, CUDA_R_32F, (uint64_t)rows, (uint64_t)cols, rows);
    if (st) {
        *l = NULL;
        return st;
    }
    if (count <= 1) return st;
    int32_t n = (int32_t)count;
    st = cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &n, sizeof n);
    if (!st) st = cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride);
    return st;
}

/* The best algorithm for the call with operands on `align`-byte boundaries. */
static cublasStatus_t pick(weft_cuda_queue *q, rn_call *c, uint32_t align, cublasLtMatmulAlgo_t *algo)
{
    return weft_cuda_lt_pick(q, &c->mm, align, algo);
}

/* Descriptors and algorithms of D = B A^T (row-major; A stored [m x k], B [n x k], D [n x m]): cuBLASLt's
 * column-major D^T [m x n] = op(A) B^T with A read as the column-major [k x m] through CUBLAS_OP_T. */
static cublasStatus_t make_call(weft_cuda_queue *q, const rn_geom *g, rn_call *c)
{
    cublasComputeType_t ct = q->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    cublasStatus_t st = cublasLtMatmulDescCreate(&c->mm.desc, ct, CUDA_R_32F);
    if (st) {
        c->mm.desc = NULL;
        return st;
    }
    int32_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    st = cublasLtMatmulDescSetAttribute(c->mm.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    if (!st) st = cublasLtMatmulDescSetAttribute(c->mm.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    if (!st) st = layout(&c->mm.la, g->k, g->m, g->count, g->stride_a);
    if (!st) st = layout(&c->mm.lb, g->k, g->n, g->count, g->stride_b);
    if (!st) st = layout(&c->mm.ld, g->m, g->n, g->count, g->stride_d);
    if (st) return st;
    cublasStatus_t fast = pick(q, c, RN_ALIGN, &c->mm.algo[0]);
    st = pick(q, c, (uint32_t)sizeof(float), &c->mm.algo[1]);
    if (st) return st;
    if (fast) c->mm.algo[0] = c->mm.algo[1];
    return CUBLAS_STATUS_SUCCESS;
}

/* Makes call c for g; a batch cuBLASLt declines becomes one call per batch. */
static weft_status make_product(const weft_node_info *node, weft_cuda_queue *q, rn_geom g, rn_call *c, const char *what)
{
    c->count = g.count;
    c->repeat = 1;
    c->stride_a = g.stride_a;
    c->stride_b = g.stride_b;
    c->stride_d = g.stride_d;
    cublasStatus_t st = make_call(q, &g, c);
    if (st && g.count > 1) {
        weft_cuda_lt_mm_free(&c->mm);
        c->repeat = g.count;
        c->count = g.count = 1;
        st = make_call(q, &g, c);
    }
    if (st == CUBLAS_STATUS_NOT_SUPPORTED)
        return weft_op_error(node, WEFT_ERR_UNSUPPORTED, "cuBLASLt has no float32 algorithm for the %s ([%lld x %lld] x [%lld x %lld])",
                             what, (long long)g.n, (long long)g.k, (long long)g.k, (long long)g.m);
    return st ? weft_cuda_lt_error(node, st, what) : WEFT_OK;
}

static bool aligned(const void *p) { return ((uintptr_t)p & (RN_ALIGN - 1)) == 0; }

/* Enqueues call c: D = B A^T, for each direction. */
static weft_status product(const weft_node_info *node, weft_cuda_queue *q, const rn_call *c, const float *a, const float *b,
                           float *d)
{
    static const float one = 1.0f, zero = 0.0f;
    bool multi = c->count > 1 || c->repeat > 1;
    bool fast = aligned(a) && aligned(b) && aligned(d) &&
                (!multi || ((c->stride_a | c->stride_b | c->stride_d) & (RN_ALIGN / sizeof(float) - 1)) == 0);
    const cublasLtMatmulAlgo_t *algo = &c->mm.algo[fast ? 0 : 1];
    for (int64_t r = 0; r < c->repeat; r++) {
        cublasStatus_t st = cublasLtMatmul(q->lt, c->mm.desc, &one, a + r * c->stride_a, c->mm.la, b + r * c->stride_b, c->mm.lb, &zero,
                                           d + r * c->stride_d, c->mm.ld, d + r * c->stride_d, c->mm.ld, algo, q->lt_workspace,
                                           q->lt_workspace ? q->lt_workspace_bytes : 0, q->stream);
        if (st) return weft_cuda_lt_error(node, st, "matmul");
    }
    return WEFT_OK;
}

/* --- reshape ------------------------------------------------------------------------------------------ */

static void rn_release_state(void *state)
{
    rn_state *s = state;
    if (!s) return;
    if (s->made_proj) weft_cuda_lt_mm_free(&s->call_proj.mm);
    if (s->made_rec) weft_cuda_lt_mm_free(&s->call_rec.mm);
    if (s->made_rec2) weft_cuda_lt_mm_free(&s->call_rec2.mm);
    if (s->block) weft_cuda_free(s->block);
    free(s);
}

/* Adds a piece of `elems` elements of `size` bytes to a block of *total bytes: its offset, or SIZE_MAX on
 * overflow. */
static size_t piece(size_t *total, int64_t elems, size_t size)
{
    size_t bytes, at = (*total + RN_PIECE - 1) / RN_PIECE * RN_PIECE;
    if (elems < 0 || *total == SIZE_MAX || at < *total || __builtin_mul_overflow((size_t)elems, size, &bytes) ||
        __builtin_add_overflow(at, bytes, total)) {
        *total = SIZE_MAX;
        return SIZE_MAX;
    }
    return at;
}

static weft_status rn_check(const rn_prep *p, const weft_kernel_ctx *k, rn_state *s)
{
    const weft_tview *X = &k->in[IN_X], *W = &k->in[IN_W], *R = &k->in[IN_R];
    if (X->rank != 3 || W->rank != 3 || R->rank != 3)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "X, W and R must have rank 3");
    weft_cuda_rnn_cell *c = &s->cell;
    c->kind = p->kind;
    c->lbr = p->lbr;
    c->input_forget = p->input_forget;
    c->has_clip = p->has_clip;
    c->clip = p->clip;
    c->layout = p->layout;
    c->reverse = p->reverse;
    c->seq = X->dims[p->layout ? 1 : 0];
    c->batch = X->dims[p->layout ? 0 : 1];
    c->H = p->hidden >= 0 ? p->hidden : R->dims[2];
    c->dirs = p->dirs;
    const int64_t H = c->H, G = p->G, I = X->dims[2];
    if (W->dims[0] != c->dirs || W->dims[1] != G * H || W->dims[2] != I || R->dims[0] != c->dirs || R->dims[1] != G * H ||
        R->dims[2] != H)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "W or R does not match X, the direction and hidden_size");
    int64_t state_n, y_n;
    if (__builtin_mul_overflow(c->dirs * H, c->batch, &state_n) || __builtin_mul_overflow(state_n, c->seq, &y_n))
        return weft_op_error(k->node, WEFT_ERR_NOMEM, "output size overflows (seq %lld, batch %lld, hidden %lld)",
                             (long long)c->seq, (long long)c->batch, (long long)H);
    s->state_n = state_n;
    s->has_b = weft_kin_present(k, IN_B);
    s->has_h0 = weft_kin_present(k, IN_H0);
    s->has_c0 = p->kind == WEFT_CUDA_CELL_LSTM && weft_kin_present(k, IN_C0);
    s->has_p = p->kind == WEFT_CUDA_CELL_LSTM && weft_kin_present(k, IN_P);
    if ((s->has_b && k->in[IN_B].numel != c->dirs * 2 * G * H) || (s->has_h0 && k->in[IN_H0].numel != state_n) ||
        (s->has_c0 && k->in[IN_C0].numel != state_n) || (s->has_p && k->in[IN_P].numel != c->dirs * 3 * H))
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "an optional input's size does not match X and hidden_size");
    if (weft_kin_present(k, IN_SEQ))
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "cuda: sequence_lens is the host's to run");
    for (int o = 0; o < k->n_out && o < (p->kind == WEFT_CUDA_CELL_LSTM ? 3 : 2); o++) {
        const weft_tview *v = &k->out[o];
        if (v->dtype != WEFT_UNDEFINED && v->numel != (o == 0 ? y_n : state_n))
            return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output buffers do not match the inferred shapes");
    }
    return WEFT_OK;
}

static weft_status rn_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const rn_prep *p = prepared;
    *state = NULL;
    rn_state *s = calloc(1, sizeof *s);
    if (!s) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    weft_status st = rn_check(p, k, s);
    if (st) goto fail;
    weft_cuda_rnn_cell *c = &s->cell;
    const int64_t H = c->H, GH = p->G * H, D = c->dirs, S = c->seq, N = c->batch, I = k->in[IN_X].dims[2];
    s->nothing = s->state_n == 0;
    if (s->nothing || S == 0) { /* nothing to compute: empty outputs, or zero states */
        *state = s;
        return WEFT_OK;
    }
    int64_t rows = S * N; /* no overflow: rows * dirs * H fit (state_n * seq was checked) */
    if (rows > INT32_MAX || N > INT32_MAX || I > INT32_MAX || D * GH > INT32_MAX) {
        st = weft_op_error(k->node, WEFT_ERR_UNSUPPORTED, "sizes beyond cuBLASLt's (seq %lld, batch %lld, input %lld)",
                           (long long)S, (long long)N, (long long)I);
        goto fail;
    }
    s->proj = I > 0;
    bool reset = p->kind == WEFT_CUDA_CELL_GRU && !p->lbr;
    size_t total = 0, at_xw = 0, at_rhf = 0, at_rh2 = 0, at_c = 0;
    int64_t xw_elems = 0;
    if (s->proj && __builtin_mul_overflow(rows, D * GH, &xw_elems)) total = SIZE_MAX;
    if (s->proj) at_xw = piece(&total, xw_elems, sizeof(float));
    size_t at_rh = piece(&total, D * N * GH, sizeof(float));
    size_t at_h = piece(&total, s->state_n, sizeof(double));
    size_t at_hf = piece(&total, s->state_n, sizeof(float));
    if (p->kind == WEFT_CUDA_CELL_LSTM) at_c = piece(&total, s->state_n, sizeof(double));
    if (reset) {
        at_rhf = piece(&total, s->state_n, sizeof(float));
        at_rh2 = piece(&total, s->state_n, sizeof(float));
    }
    if (total == SIZE_MAX) {
        st = weft_op_error(k->node, WEFT_ERR_NOMEM, "scratch size overflows (seq %lld, batch %lld, hidden %lld)", (long long)S,
                           (long long)N, (long long)H);
        goto fail;
    }
    if ((st = weft_cuda_malloc(total, &s->block))) goto fail;
    char *b = s->block;
    c->xw = s->proj ? (const float *)(b + at_xw) : NULL;
    c->rh = (const float *)(b + at_rh);
    c->h = (double *)(b + at_h);
    c->hf = (float *)(b + at_hf);
    c->c = p->kind == WEFT_CUDA_CELL_LSTM ? (double *)(b + at_c) : NULL;
    c->rhf = reset ? (float *)(b + at_rhf) : NULL;
    c->rh2 = reset ? (const float *)(b + at_rh2) : NULL;

    /* X [rows, I] times W [dirs * G * H, I]^T */
    if (s->proj) {
        rn_geom g = {D * GH, rows, I, 1, 0, 0, 0};
        s->made_proj = true;
        if ((st = make_product(k->node, q, g, &s->call_proj, "input product"))) goto fail;
    }
    /* per direction: h [N, H] times R [G * H, H]^T */
    rn_geom g = {GH, N, H, D, GH * H, N * H, N * GH};
    s->made_rec = true;
    if ((st = make_product(k->node, q, g, &s->call_rec, "recurrent product"))) goto fail;
    if (reset) {
        /* per direction: r . h [N, H] times R's candidate rows [H, H]^T */
        rn_geom g2 = {H, N, H, D, GH * H, N * H, N * H};
        s->made_rec2 = true;
        if ((st = make_product(k->node, q, g2, &s->call_rec2, "candidate product"))) goto fail;
    }
    *state = s;
    return WEFT_OK;
fail:
    rn_release_state(s);
    return st;
}

/* --- run ---------------------------------------------------------------------------------------------- */

static float *out_data(const weft_kernel_ctx *k, int o) { return o < k->n_out ? (float *)k->out[o].data : NULL; }

static weft_status rn_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    const rn_prep *p = prepared;
    rn_state *s = state;
    if (!s) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "cuda rnn: run before reshape");
    if (s->nothing) return WEFT_OK;
    float *y = out_data(k, 0), *yh = out_data(k, 1), *yc = p->kind == WEFT_CUDA_CELL_LSTM ? out_data(k, 2) : NULL;
    weft_cuda_rnn_cell c = s->cell;
    if (c.seq == 0) {
        /* no step ran: the reference gives zeros, whatever the initial states */
        float *zero[2] = {yh, yc};
        for (int i = 0; i < 2; i++) {
            if (!zero[i]) continue;
            cudaError_t e = cudaMemsetAsync(zero[i], 0, (size_t)s->state_n * sizeof(float), q->stream);
            if (e != cudaSuccess)
                return weft_op_error(k->node, WEFT_ERR_INTERNAL, "cuda: clearing a final state: %s", cudaGetErrorString(e));
        }
        return WEFT_OK;
    }
    const float *x = k->in[IN_X].data, *w = k->in[IN_W].data, *r = k->in[IN_R].data;
    c.bias = s->has_b ? (const float *)k->in[IN_B].data : NULL;
    c.h0 = s->has_h0 ? (const float *)k->in[IN_H0].data : NULL;
    c.c0 = s->has_c0 ? (const float *)k->in[IN_C0].data : NULL;
    c.peep = s->has_p ? (const float *)k->in[IN_P].data : NULL;
    c.y = y;
    c.yh = c.yc = NULL;
    weft_status st;
    weft_cuda_rnn_init(&c, q->stream);
    if ((st = weft_cuda_launched(k->node))) return st;
    if (s->proj && (st = product(k->node, q, &s->call_proj, w, x, (float *)c.xw))) return st;
    /* GRU with linear_before_reset 0: the candidate's rows of R in direction 0 */
    const float *r_cand = c.rhf ? r + 2 * c.H * c.H : NULL;
    for (int64_t t = 0; t < c.seq; t++) {
        if ((st = product(k->node, q, &s->call_rec, r, c.hf, (float *)c.rh))) return st;
        if (c.rhf) {
            weft_cuda_rnn_reset(&c, t, q->stream);
            if ((st = weft_cuda_launched(k->node))) return st;
            if ((st = product(k->node, q, &s->call_rec2, r_cand, c.rhf, (float *)c.rh2))) return st;
        }
        if (t == c.seq - 1) {
            c.yh = yh;
            c.yc = yc;
        }
        weft_cuda_rnn_step(&c, t, q->stream);
        if ((st = weft_cuda_launched(k->node))) return st;
    }
    return WEFT_OK;
}

static void rn_release(void *prepared) { free(prepared); }

const weft_cuda_op weft_cuda_op_rnn = {
    .domain = "",
    .name = "RNN, GRU, LSTM",
    .supports = rn_supports,
    .prepare = rn_prepare,
    .reshape = rn_reshape,
    .run = rn_run,
    .release = rn_release,
    .release_state = rn_release_state,
};
