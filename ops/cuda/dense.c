/*
 * ops/cuda/dense.c — the cuda backend's dense steps: MatMul with a 2-D B, Gemm and ai.weft FusedMatMul
 * (ops/dense/dense.h, the forms the CPU library backends take), and MatMul with a batched B, through
 * cuBLASLt; float32 only (float64 steps go to the host).
 *
 * Layout. weft's tensors are row-major; cuBLASLt's default order is column-major. A row-major [r x c]
 * matrix is the column-major [c x r] matrix with the same leading dimension, so Y = X W (row-major) is
 * computed as the column-major Y^T = W^T X^T: cuBLASLt's A is W, its B is X, its m is the output's
 * columns and its n the rows. A W stored transposed (Gemm's transB, FusedMatMul's transpose) or an X
 * stored transposed (Gemm's transA) is read through cuBLASLt's op; nothing is copied.
 *
 * What cuBLASLt does (only where its result is the reference's, up to the float32 sum over k):
 *   - Gemm's alpha and beta * C, when C is the full [M, N] matrix and alpha, beta are nonzero (with a
 *     zero scale BLAS does not read the operand, where the reference's 0 * NaN is NaN);
 *   - a bias (CUBLASLT_EPILOGUE_BIAS: alpha * sum + bias): FusedMatMul's bias, and Gemm's C when it is
 *     one contiguous row and beta is 1;
 *   - several FusedMatMul terms: each product after the first accumulates into the output (beta = 1),
 *     the bias on the last one, so it is added to the whole sum as the reference adds it.
 * The rest runs as one pass after the products (cuda_dense.h, dense_epilogue.cu): C broadcast along rows
 * or columns or a scalar, zero scales, the L2 row normalisation, acc and the activation. ReLU stays there
 * too: cuBLASLt's ReLU epilogues turn NaN into 0 where ONNX's Relu (and the reference) keep NaN, and
 * its GELU epilogue is not documented to be either of FusedMatMul's GELU formulas.
 *
 * MatMul with a batched B (numpy broadcasting of the batch dims) is taken when each operand's batch is
 * either the output's or all 1, which compile-time shapes must already show: one B for every batch makes
 * the batches of A rows of one product; one A for every batch is read with batch stride 0; otherwise
 * both are strided. Where cuBLASLt declines the strided batch, each batch is its own call. Broadcasts
 * along some batch axes only stay on the host.
 *
 * Precision: CUBLAS_COMPUTE_32F (float32 products and sums) unless the session allows TF32
 * (q->tf32: CUBLAS_COMPUTE_32F_FAST_TF32), chosen per session in reshape.
 *
 * Lifecycle. prepare reads the step (host only: constant weights are uploaded by the runtime and arrive
 * as device inputs like any other). reshape makes the descriptors for the bound sizes and asks
 * cuBLASLt's heuristic for an algorithm twice: one for operands on 16-byte boundaries (the arena's
 * blocks are 256-byte aligned) and one for any float alignment; run picks by the pointers it is given.
 * The workspace is the queue's (q->lt_workspace). run only enqueues: cublasLtMatmul calls on q->stream
 * and the epilogue launch, so a run can be captured into a CUDA Graph. Steps with no rows or no output
 * columns do nothing; terms with K = 0 contribute nothing (every K 0: the epilogue runs on zeros).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../dense/dense.h"
#include "cuda_backend.h"
#include "cuda_dense.h"

/* The pointer alignment of the fast algorithm variant: what vectorised and TMA loads need. */
#define CD_ALIGN 16u

enum { CD_DENSE, CD_BMM };

typedef struct cd_prep {
    int form;          /* CD_DENSE: the spec below; CD_BMM: MatMul with a batched B */
    weft_dense_spec sp;
} cd_prep;

/* One product in row-major terms: Y[rows x n] (+)= op(X)[rows x k] op(W)[k x n], `batch` times. */
typedef struct cd_geom {
    int64_t rows, n, k;
    bool trans_x, trans_w;  /* X stored [k x rows] / W stored [n x k] */
    int64_t batch;          /* > 1: strided batches */
    int64_t stride_x, stride_w, stride_y; /* elements between batches (0: the same matrix for each) */
} cd_geom;

enum { CD_C_OUT, CD_C_GEMM }; /* cuBLASLt's C operand: the output itself, or Gemm's C input */

/* One cublasLtMatmul call. */
typedef struct cd_call {
    int x, w;                      /* input positions of X and W */
    weft_cuda_lt_mm mm;            /* W, X and the output (also C's layout) */
    float alpha, beta;
    int c_src;                     /* CD_C_* */
    int bias;                      /* input position of the bias the call adds (CUBLASLT_EPILOGUE_BIAS), or -1 */
    /* made once, run `repeat` times with X, W and Y advanced by these many elements each time (a batch
     * cuBLASLt does not take as strided) */
    int64_t repeat, step_x, step_w, step_y;
} cd_call;

enum { CD_FILL_NONE, CD_FILL_ZERO };

typedef struct cd_state {
    int n_calls;
    cd_call call[WEFT_DENSE_MAX_TERMS];
    int fill;                /* CD_FILL_ZERO: no product runs and no epilogue writes: zero the output */
    weft_cuda_dense_epi epi; /* the pass after the products (epi.parts 0: none); pointers set per run */
    int epi_c, epi_bias, epi_acc; /* input positions the pass reads, or -1 */
    size_t out_bytes;
} cd_state;

/* --- which steps ---------------------------------------------------------------------------------------- */

static bool is_one(weft_dim d) { return weft_dim_known(d) && d.v == 1; }
static bool too_big(weft_dim d) { return weft_dim_known(d) && d.v > INT32_MAX; }

/* Batch axis i (of R, aligned from the right) of a shape whose last two dims are the matrix: a missing
 * leading axis reads as 1. */
static weft_dim batch_dim(const weft_shape *s, int i, int R)
{
    int a = i - (R - (s->rank - 2));
    return a < 0 ? weft_dim_num(1) : s->d[a];
}

/* Whether operand x's batch dims are all 1 (`one`: one matrix for every batch) or, at compile time
 * already, equal to the output's (`full`: a matrix per batch at a fixed stride), given the other
 * operand y. Anything else (broadcast along some batch axes only, or sizes only run time can tell)
 * is not a strided batch. */
static void batch_kind(const weft_shape *x, const weft_shape *y, int R, bool *one, bool *full)
{
    *one = *full = true;
    for (int i = 0; i < R; i++) {
        weft_dim dx = batch_dim(x, i, R), dy = batch_dim(y, i, R);
        if (!is_one(dx)) *one = false;
        if (!is_one(dy) && !weft_dim_eq(dx, dy)) *full = false;
    }
}

/* MatMul(A, B) with A of rank >= 2 and B of rank >= 3, float32, each operand's batch either all 1 or
 * the output's. */
static bool bmm_form(const weft_step_desc *s)
{
    const weft_node_info *n = s->node;
    if (!n || !n->op_type || strcmp(n->op_type, "MatMul") != 0 || (n->domain && n->domain[0])) return false;
    if (s->n_in != 2 || s->n_out != 1) return false;
    if (s->in_dtype[0] != WEFT_FLOAT32 || s->in_dtype[1] != WEFT_FLOAT32 || s->out_dtype[0] != WEFT_FLOAT32) return false;
    const weft_shape *a = &s->in_shape[0], *b = &s->in_shape[1];
    if (a->rank < 2 || b->rank < 3 || a->rank > WEFT_MAX_RANK || b->rank > WEFT_MAX_RANK) return false;
    if (too_big(a->d[a->rank - 2]) || too_big(a->d[a->rank - 1]) || too_big(b->d[b->rank - 1])) return false;
    int R = (a->rank > b->rank ? a->rank : b->rank) - 2;
    bool a_one, a_full, b_one, b_full;
    batch_kind(a, b, R, &a_one, &a_full);
    batch_kind(b, a, R, &b_one, &b_full);
    return (a_one || a_full) && (b_one || b_full);
}

static bool cd_supports(const weft_step_desc *s)
{
    weft_dense_spec sp;
    if (weft_dense_parse(s, &sp)) return sp.dtype == WEFT_FLOAT32;
    return bmm_form(s);
}

static weft_status cd_prepare(const weft_step_desc *s, void **prepared)
{
    *prepared = NULL;
    cd_prep *p = calloc(1, sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    if (weft_dense_parse(s, &p->sp) && p->sp.dtype == WEFT_FLOAT32) {
        p->form = CD_DENSE;
    } else if (bmm_form(s)) {
        p->form = CD_BMM;
    } else {
        free(p);
        return weft_op_error(s->node, WEFT_ERR_UNSUPPORTED, "the cuda backend's dense kernels do not take this step");
    }
    *prepared = p;
    return WEFT_OK;
}

/* --- descriptors ---------------------------------------------------------------------------------------- */

static void cd_release_state(void *state)
{
    cd_state *s = state;
    if (!s) return;
    for (int i = 0; i < s->n_calls; i++) weft_cuda_lt_mm_free(&s->call[i].mm);
    free(s);
}

/* A column-major layout of rows x cols (leading dimension ld), strided `batch` times. */
static cublasStatus_t layout(cublasLtMatrixLayout_t *l, int64_t rows, int64_t cols, int64_t ld, const cd_geom *g,
                             int64_t stride)
{
    cublasStatus_t st = cublasLtMatrixLayoutCreate(l, CUDA_R_32F, (uint64_t)rows, (uint64_t)cols, ld);
    if (st || g->batch <= 1) return st;
    int32_t count = (int32_t)g->batch;
    st = cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count);
    if (!st) st = cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride);
    return st;
}

/* The best algorithm for the call with operands on `align`-byte boundaries. CUBLAS_STATUS_NOT_SUPPORTED
 * when cuBLASLt has none. The heuristic reads the bias pointer for its alignment only (it does not
 * dereference it): a stand-in aligned to exactly `align` bytes until run sets the real one. */
static cublasStatus_t pick(weft_cuda_queue *q, cd_call *c, uint32_t align, cublasLtMatmulAlgo_t *algo)
{
    if (c->bias >= 0) {
        const void *stand_in = (const void *)(((uintptr_t)1 << 20) + align);
        cublasStatus_t st = cublasLtMatmulDescSetAttribute(c->mm.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &stand_in, sizeof stand_in);
        if (st) return st;
    }
    return weft_cuda_lt_pick(q, &c->mm, align, algo);
}

/* Makes call c for geometry g: its descriptors (with the bias epilogue when c->bias >= 0) and its two
 * algorithms. */
static cublasStatus_t make_call(weft_cuda_queue *q, const cd_geom *g, cd_call *c)
{
    cublasComputeType_t ct = q->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    cublasStatus_t st = cublasLtMatmulDescCreate(&c->mm.desc, ct, CUDA_R_32F);
    if (st) {
        c->mm.desc = NULL;
        return st;
    }
    int32_t ta = g->trans_w ? CUBLAS_OP_T : CUBLAS_OP_N, tb = g->trans_x ? CUBLAS_OP_T : CUBLAS_OP_N;
    uint32_t epi = c->bias >= 0 ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    st = cublasLtMatmulDescSetAttribute(c->mm.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    if (!st) st = cublasLtMatmulDescSetAttribute(c->mm.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    if (!st) st = cublasLtMatmulDescSetAttribute(c->mm.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
    /* column-major views: W as [n x k] (ld n), or [k x n] (ld k) stored transposed; X as [k x rows]
     * (ld k), or [rows x k] (ld rows) stored transposed; Y as [n x rows] (ld n) */
    if (!st) st = g->trans_w ? layout(&c->mm.la, g->k, g->n, g->k, g, g->stride_w) : layout(&c->mm.la, g->n, g->k, g->n, g, g->stride_w);
    if (!st) st = g->trans_x ? layout(&c->mm.lb, g->rows, g->k, g->rows, g, g->stride_x)
                             : layout(&c->mm.lb, g->k, g->rows, g->k, g, g->stride_x);
    if (!st) st = layout(&c->mm.ld, g->n, g->rows, g->n, g, g->stride_y);
    if (st) return st;
    /* the fast variant when cuBLASLt has one, else the general one for both */
    cublasStatus_t fast = pick(q, c, CD_ALIGN, &c->mm.algo[0]);
    st = pick(q, c, (uint32_t)sizeof(float), &c->mm.algo[1]);
    if (st) return st;
    if (fast) c->mm.algo[0] = c->mm.algo[1];
    return CUBLAS_STATUS_SUCCESS;
}

/* Makes call c, first with its bias epilogue and, when cuBLASLt declines that, without it: *bias_fused
 * says which. */
static weft_status make_call_or_unfuse(const weft_node_info *node, weft_cuda_queue *q, const cd_geom *g, cd_call *c,
                                       bool *bias_fused)
{
    *bias_fused = c->bias >= 0;
    cublasStatus_t st = make_call(q, g, c);
    if (st != CUBLAS_STATUS_SUCCESS && c->bias >= 0) {
        weft_cuda_lt_mm_free(&c->mm);
        c->bias = -1;
        *bias_fused = false;
        st = make_call(q, g, c);
    }
    if (st == CUBLAS_STATUS_NOT_SUPPORTED)
        return weft_op_error(node, WEFT_ERR_UNSUPPORTED, "cuBLASLt has no float32 algorithm for [%lld x %lld] x [%lld x %lld]%s",
                             (long long)g->rows, (long long)g->k, (long long)g->k, (long long)g->n,
                             g->batch > 1 ? " batched" : "");
    return st ? weft_cuda_lt_error(node, st, "setting up a matmul") : WEFT_OK;
}

/* --- reshape: MatMul, Gemm, FusedMatMul ----------------------------------------------------------------- */

/* Gemm's C is the whole [rows x n] output shape in row-major order (no broadcast). */
static bool c_full(const weft_dense_dims *d)
{
    return (d->rows <= 1 || d->c_si == d->n) && (d->n <= 1 || d->c_sj == 1);
}

static weft_status reshape_dense(const cd_prep *p, const weft_kernel_ctx *k, weft_cuda_queue *q, cd_state *s)
{
    const weft_dense_spec *sp = &p->sp;
    weft_dense_dims d;
    weft_status st = weft_dense_bind(sp, k, &d);
    if (st) return st;
    if (d.rows > INT32_MAX)
        return weft_op_error(k->node, WEFT_ERR_UNSUPPORTED, "%lld rows are more than cuBLASLt takes in one product",
                             (long long)d.rows);
    weft_cuda_dense_epi *e = &s->epi;
    e->rows = d.rows;
    e->n = d.n;
    e->c_si = d.c_si;
    e->c_sj = d.c_sj;
    e->alpha = 1.0;
    e->beta = 1.0;
    e->eps = sp->eps;
    e->act = sp->act;
    e->act_alpha = sp->act_alpha;
    s->out_bytes = (size_t)d.rows * (size_t)d.n * sizeof(float);
    bool has_c = sp->c >= 0 && weft_kin_present(k, sp->c);
    bool has_bias = sp->bias >= 0 && weft_kin_present(k, sp->bias);
    s->epi_c = has_c ? sp->c : -1;
    s->epi_bias = has_bias ? sp->bias : -1;
    s->epi_acc = sp->acc >= 0 && weft_kin_present(k, sp->acc) ? sp->acc : -1;
    if (d.rows == 0 || d.n == 0) return WEFT_OK; /* nothing to compute */

    int active[WEFT_DENSE_MAX_TERMS], na = 0;
    for (int t = 0; t < sp->n_terms; t++)
        if (d.k[t] > 0) active[na++] = t;
    unsigned parts = weft_dense_all_parts(sp);
    if (na == 0) { /* every product is empty: the epilogue of zeros */
        if (!parts) {
            s->fill = CD_FILL_ZERO;
            return WEFT_OK;
        }
        e->zero_in = true;
        if (sp->kind == WEFT_DENSE_GEMM) {
            e->alpha = sp->alpha;
            e->beta = sp->beta;
        }
        e->parts = parts;
        return WEFT_OK;
    }

    /* what the last call adds as cuBLASLt's bias (-1: none), and Gemm's scales and C */
    int lt_bias = -1;
    float alpha = 1.0f, beta_c = 0.0f;
    int c_src = CD_C_OUT;
    if (sp->kind == WEFT_DENSE_GEMM) {
        parts &= ~(unsigned)WEFT_DENSE_EPI_C;
        if (sp->alpha == 0.0f) {
            /* the pass computes 0 * product + beta * C, NaN and infinities included */
            parts |= WEFT_DENSE_EPI_C;
            e->alpha = 0.0;
            e->beta = sp->beta;
        } else {
            alpha = sp->alpha;
            if (!has_c) {
                /* alpha * product alone */
            } else if (sp->beta == 0.0f) {
                parts |= WEFT_DENSE_EPI_C; /* y + 0 * C: what the reference computes */
                e->alpha = 1.0;
                e->beta = 0.0;
            } else if (c_full(&d)) {
                beta_c = sp->beta;
                c_src = CD_C_GEMM;
            } else if (d.c_si == 0 && d.c_sj == 1 && sp->beta == 1.0f) {
                lt_bias = sp->c; /* one row added to every row: cuBLASLt's bias */
            } else {
                parts |= WEFT_DENSE_EPI_C;
                e->alpha = 1.0;
                e->beta = sp->beta;
            }
        }
    } else if (has_bias) {
        lt_bias = sp->bias;
        parts &= ~(unsigned)WEFT_DENSE_EPI_BIAS;
    }

    for (int a = 0; a < na; a++) {
        int t = active[a];
        cd_call *c = &s->call[s->n_calls];
        c->x = sp->term[t].x;
        c->w = sp->term[t].w;
        c->alpha = alpha;
        c->beta = a == 0 ? beta_c : 1.0f; /* later terms accumulate onto the output */
        c->c_src = a == 0 ? c_src : CD_C_OUT;
        c->bias = a == na - 1 ? lt_bias : -1;
        c->repeat = 1;
        cd_geom g = {d.rows, d.n, d.k[t], sp->term[t].trans_x, sp->term[t].trans_w, 1, 0, 0, 0};
        bool fused = false;
        st = make_call_or_unfuse(k->node, q, &g, c, &fused);
        s->n_calls++; /* counted even on failure: release_state frees what was made */
        if (st) return st;
        if (lt_bias >= 0 && a == na - 1 && !fused) {
            /* no algorithm with the bias epilogue: the pass adds it */
            if (sp->kind == WEFT_DENSE_GEMM) {
                parts |= WEFT_DENSE_EPI_C;
                e->alpha = 1.0;
                e->beta = 1.0;
            } else {
                parts |= WEFT_DENSE_EPI_BIAS;
            }
        }
    }
    e->parts = parts;
    return WEFT_OK;
}

/* --- reshape: MatMul with a batched B ------------------------------------------------------------------- */

static weft_status reshape_bmm(const weft_kernel_ctx *k, weft_cuda_queue *q, cd_state *s)
{
    const weft_tview *A = &k->in[0], *B = &k->in[1], *Y = &k->out[0];
    if (A->rank < 2 || B->rank < 3 || A->dtype != WEFT_FLOAT32 || B->dtype != WEFT_FLOAT32 || Y->dtype != WEFT_FLOAT32)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "batched MatMul: operands are not float32 of ranks >= 2 and >= 3");
    int R = (A->rank > B->rank ? A->rank : B->rank) - 2;
    int64_t M = A->dims[A->rank - 2], K = A->dims[A->rank - 1], Kb = B->dims[B->rank - 2], N = B->dims[B->rank - 1];
    if (K != Kb)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "inner dimensions differ: %lld vs %lld", (long long)K, (long long)Kb);
    if (Y->rank != R + 2)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "batched MatMul: output has rank %d, expected %d", Y->rank, R + 2);
    bool a_one = true, a_full = true, b_one = true, b_full = true;
    int64_t batch = 1;
    for (int i = 0; i < R; i++) {
        int ia = i - (R - (A->rank - 2)), ib = i - (R - (B->rank - 2));
        int64_t da = ia < 0 ? 1 : A->dims[ia], db = ib < 0 ? 1 : B->dims[ib], dy = Y->dims[i];
        a_one &= da == 1;
        b_one &= db == 1;
        a_full &= da == dy;
        b_full &= db == dy;
        batch *= dy;
    }
    if (!(a_one || a_full) || !(b_one || b_full))
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "batched MatMul: the batch dims of A and B do not broadcast as compiled");
    if (Y->dims[R] != M || Y->dims[R + 1] != N)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "batched MatMul: output is not [..., %lld, %lld]", (long long)M,
                             (long long)N);
    s->out_bytes = (size_t)Y->numel * sizeof(float);
    if (batch == 0 || M == 0 || N == 0) return WEFT_OK;
    if (K == 0) {
        s->fill = CD_FILL_ZERO;
        return WEFT_OK;
    }
    cd_geom g = {M, N, K, false, false, batch, M * K, K * N, M * N};
    if (b_one) { /* one B for every batch: the batches of A are rows of one product */
        g.rows = batch * M;
        g.batch = 1;
    } else if (a_one) {
        g.stride_x = 0;
    }
    if (g.rows > INT32_MAX || g.n > INT32_MAX || g.k > INT32_MAX || g.batch > INT32_MAX)
        return weft_op_error(k->node, WEFT_ERR_UNSUPPORTED, "batched MatMul of %lld x [%lld x %lld] x [%lld x %lld] is too large",
                             (long long)g.batch, (long long)g.rows, (long long)K, (long long)K, (long long)N);
    cd_call *c = &s->call[0];
    c->x = 0;
    c->w = 1;
    c->alpha = 1.0f;
    c->beta = 0.0f;
    c->c_src = CD_C_OUT;
    c->bias = -1;
    c->repeat = 1;
    bool fused;
    s->n_calls = 1;
    weft_status st = make_call_or_unfuse(k->node, q, &g, c, &fused);
    if (st && g.batch > 1) {
        /* cuBLASLt declines the strided batch (an operand repeated with stride 0): one product per batch */
        weft_cuda_lt_mm_free(&c->mm);
        c->repeat = g.batch;
        c->step_x = g.stride_x;
        c->step_w = g.stride_w;
        c->step_y = g.stride_y;
        g.batch = 1;
        st = make_call_or_unfuse(k->node, q, &g, c, &fused);
    }
    return st;
}

static weft_status cd_reshape(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state)
{
    const cd_prep *p = prepared;
    *state = NULL;
    cd_state *s = calloc(1, sizeof *s);
    if (!s) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    s->epi_c = s->epi_bias = s->epi_acc = -1;
    weft_status st = p->form == CD_BMM ? reshape_bmm(k, q, s) : reshape_dense(p, k, q, s);
    if (st) {
        cd_release_state(s);
        return st;
    }
    *state = s;
    return WEFT_OK;
}

/* --- run ------------------------------------------------------------------------------------------------ */

static bool aligned(const void *p) { return ((uintptr_t)p & (CD_ALIGN - 1)) == 0; }

static const float *in_data(const weft_kernel_ctx *k, int i) { return i >= 0 ? (const float *)k->in[i].data : NULL; }

static weft_status cd_run(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q)
{
    (void)prepared;
    cd_state *s = state;
    if (!s) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "cuda dense: run before reshape");
    float *y = k->out[0].data;
    if (s->fill == CD_FILL_ZERO && s->out_bytes) {
        cudaError_t e = cudaMemsetAsync(y, 0, s->out_bytes, q->stream);
        if (e != cudaSuccess)
            return weft_op_error(k->node, WEFT_ERR_INTERNAL, "cuda: clearing the output: %s", cudaGetErrorString(e));
    }
    for (int i = 0; i < s->n_calls; i++) {
        cd_call *c = &s->call[i];
        const void *bias = c->bias >= 0 ? k->in[c->bias].data : NULL;
        if (bias) {
            cublasStatus_t st = cublasLtMatmulDescSetAttribute(c->mm.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
            if (st) return weft_cuda_lt_error(k->node, st, "setting the bias");
        }
        for (int64_t r = 0; r < c->repeat; r++) {
            const float *x = in_data(k, c->x) + r * c->step_x, *w = in_data(k, c->w) + r * c->step_w;
            float *yr = y + r * c->step_y;
            const float *cm = c->c_src == CD_C_GEMM ? in_data(k, s->epi_c) : yr;
            int v = aligned(x) && aligned(w) && aligned(cm) && aligned(yr) && (!bias || aligned(bias)) ? 0 : 1;
            cublasStatus_t st = cublasLtMatmul(q->lt, c->mm.desc, &c->alpha, w, c->mm.la, x, c->mm.lb, &c->beta, cm, c->mm.ld, yr, c->mm.ld,
                                               &c->mm.algo[v], q->lt_workspace, q->lt_workspace ? q->lt_workspace_bytes : 0, q->stream);
            if (st) return weft_cuda_lt_error(k->node, st, "matmul");
        }
    }
    if (s->epi.parts) {
        weft_cuda_dense_epi e = s->epi;
        e.y = y;
        e.c = in_data(k, s->epi_c);
        e.bias = in_data(k, s->epi_bias);
        e.acc = in_data(k, s->epi_acc);
        weft_cuda_dense_epilogue(&e, q->stream);
        return weft_cuda_launched(k->node);
    }
    return WEFT_OK;
}

static void cd_release(void *prepared) { free(prepared); }

const weft_cuda_op weft_cuda_op_dense = {
    .domain = "",
    .name = "MatMul, Gemm, ai.weft.FusedMatMul",
    .supports = cd_supports,
    .prepare = cd_prepare,
    .reshape = cd_reshape,
    .run = cd_run,
    .release = cd_release,
    .release_state = cd_release_state,
};
