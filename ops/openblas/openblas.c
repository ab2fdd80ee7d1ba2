/*
 * ops/openblas/openblas.c — the `openblas` backend: dense steps (MatMul with a 2-D B, Gemm, ai.weft
 * FusedMatMul; ops/dense/dense.h) through cblas_sgemm / cblas_dgemm, float32 and float64; the steps
 * weft's own CPU kernels take (ops/cpu/cpu.h: message passing, gathers, elementwise chains, ...) through
 * those kernels, the entry found once in prepare.
 *
 * The output is cut into blocks of rows, the same blocks whatever the thread count. Each block is one
 * GEMM per term followed at once by the epilogue (bias, normalize, acc, activation) while the block is
 * still in cache. Threads take whole blocks (OpenMP, static order) and each block's GEMM runs on one
 * thread: OpenBLAS's OpenMP build runs single-threaded inside a parallel region. On [20000 x 128] x
 * [128 x 128] this split measured faster than one GEMM threaded by OpenBLAS followed by a separate
 * epilogue pass, and it makes every result independent of the thread count.
 *
 * Constant weights stored N x K (Gemm's transB) are transposed once in prepare into K x N row-major;
 * OpenBLAS has no public packed-matrix interface, so K x N constants are read in place. Gemm's C is
 * copied into each block before its GEMM, which then adds alpha * A B to beta * C. A run allocates
 * nothing.
 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "../cpu/cpu.h"
#include "../dense/dense.h"

/* Bytes of output and input rows a block aims at: both fit a core's L2 with room for the packed W. */
#define OB_BLOCK_BYTES ((int64_t)192 << 10)

typedef struct ob_prep {
    /* a step that is not dense work: weft's own kernel (ops/cpu/) and its prepared object */
    const weft_cpu_op *cpu;
    void *cpu_prep;
    weft_dense_spec sp;
    void *w[WEFT_DENSE_MAX_TERMS];          /* K x N row-major copy of a constant stored N x K, else NULL */
    int64_t wk[WEFT_DENSE_MAX_TERMS], wn[WEFT_DENSE_MAX_TERMS];
} ob_prep;

typedef struct ob_state {
    weft_dense_dims d;
    int64_t block; /* rows per block */
} ob_state;

static bool ob_supports(const weft_step_desc *s)
{
    weft_dense_spec sp;
    return weft_dense_parse(s, &sp) || weft_cpu_find(s) != NULL;
}

static void ob_release(void *prepared)
{
    ob_prep *p = prepared;
    if (!p) return;
    if (p->cpu && p->cpu->release) p->cpu->release(p->cpu_prep);
    for (int t = 0; t < WEFT_DENSE_MAX_TERMS; t++) free(p->w[t]);
    free(p);
}

static weft_status ob_prepare(const weft_step_desc *s, void **prepared)
{
    *prepared = NULL;
    ob_prep *p = calloc(1, sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    if (!weft_dense_parse(s, &p->sp)) {
        p->cpu = weft_cpu_find(s);
        weft_status st = !p->cpu        ? weft_op_error(s->node, WEFT_ERR_UNSUPPORTED, "the openblas backend does not take this step")
                         : p->cpu->prepare ? p->cpu->prepare(s, &p->cpu_prep)
                                           : WEFT_OK;
        if (st) {
            free(p);
            return st;
        }
        *prepared = p;
        return WEFT_OK;
    }
    for (int t = 0; t < p->sp.n_terms; t++) {
        const weft_dense_term *tm = &p->sp.term[t];
        const weft_shape *ws = &s->in_shape[tm->w];
        /* a constant already K x N is read where the plan keeps it; a transposed one is transposed once */
        if (!tm->trans_w || !s->in_const || !s->in_const[tm->w] || !weft_shape_known(ws)) continue;
        int64_t K = ws->d[1].v, N = ws->d[0].v;
        weft_status st = weft_dense_pack_kn(&p->sp, t, s->in_const[tm->w], K, N, &p->w[t]);
        if (st) {
            ob_release(p);
            return st;
        }
        p->wk[t] = K;
        p->wn[t] = N;
    }
    *prepared = p;
    return WEFT_OK;
}

static int64_t block_rows(const weft_dense_spec *sp, const weft_dense_dims *d)
{
    int64_t kmax = 0;
    for (int t = 0; t < sp->n_terms; t++) kmax = d->k[t] > kmax ? d->k[t] : kmax;
    int64_t per_row = (d->n + kmax) * (int64_t)weft_dtype_size(sp->dtype);
    int64_t b = per_row > 0 ? OB_BLOCK_BYTES / per_row : 1024;
    if (b < 16) b = 16;
    if (b > 1024) b = 1024;
    return b;
}

static weft_status bind(const ob_prep *p, const weft_kernel_ctx *k, ob_state *s)
{
    weft_status st = weft_dense_bind(&p->sp, k, &s->d);
    if (st) return st;
    for (int t = 0; t < p->sp.n_terms; t++)
        if (p->w[t] && (p->wk[t] != s->d.k[t] || p->wn[t] != s->d.n))
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d: constant weight is %lld x %lld, the step needs %lld x %lld",
                                 p->sp.term[t].w, (long long)p->wk[t], (long long)p->wn[t], (long long)s->d.k[t],
                                 (long long)s->d.n);
    s->block = block_rows(&p->sp, &s->d);
    return WEFT_OK;
}

static weft_status ob_reshape(const void *prepared, const weft_kernel_ctx *k, void **state)
{
    if (((const ob_prep *)prepared)->cpu) return WEFT_OK; /* weft's kernels keep no per-size state */
    ob_state *s = calloc(1, sizeof *s);
    if (!s) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    weft_status st = bind(prepared, k, s);
    if (st) {
        free(s);
        return st;
    }
    *state = s;
    return WEFT_OK;
}

static void ob_release_state(void *state) { free(state); }

/* One run's operands, shared by the blocks. */
typedef struct ob_job {
    const ob_prep *p;
    const weft_dense_dims *d;
    weft_dense_io io;
    const void *x[WEFT_DENSE_MAX_TERMS], *w[WEFT_DENSE_MAX_TERMS];
    bool w_trans[WEFT_DENSE_MAX_TERMS];
    unsigned parts; /* the epilogue left after the GEMMs */
    bool fill_c;    /* Gemm's C copied into the block first (the GEMM then scales it by beta) */
    bool any_gemm;  /* some term has K > 0 */
} ob_job;

/* cblas_?gemm for element type T. */
#define OB_GEMM(T) _Generic((T)0, float: cblas_sgemm, double: cblas_dgemm)

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        bool first = true;                                                                            \
        for (int t = 0; t < sp->n_terms; t++) {                                                       \
            blasint K = (blasint)d->k[t];                                                             \
            if (K == 0) continue;                                                                     \
            const weft_dense_term *tm = &sp->term[t];                                                 \
            const T *x = (const T *)j->x[t];                                                          \
            blasint lda;                                                                              \
            enum CBLAS_TRANSPOSE ta = CblasNoTrans, tb = j->w_trans[t] ? CblasTrans : CblasNoTrans;   \
            if (tm->trans_x) { /* A stored K x rows: the block is columns r0.. of it */               \
                x += r0;                                                                              \
                lda = (blasint)d->rows;                                                               \
                ta = CblasTrans;                                                                      \
            } else {                                                                                  \
                x += r0 * d->k[t];                                                                    \
                lda = K;                                                                              \
            }                                                                                         \
            T alpha = sp->kind == WEFT_DENSE_GEMM ? (T)sp->alpha : (T)1;                              \
            T beta = first ? (j->fill_c ? (T)sp->beta : (T)0) : (T)1;                                 \
            OB_GEMM(T)(CblasRowMajor, ta, tb, (blasint)(r1 - r0), (blasint)d->n, K, alpha, x, lda,    \
                       (const T *)j->w[t], j->w_trans[t] ? K : (blasint)d->n, beta, y + r0 * d->n,     \
                       (blasint)d->n);                                                                \
            first = false;                                                                            \
        }                                                                                             \
    }

static void run_block(const ob_job *j, int64_t r0, int64_t r1)
{
    const weft_dense_spec *sp = &j->p->sp;
    const weft_dense_dims *d = j->d;
    if (!j->any_gemm) {
        weft_dense_fill(sp, d, &j->io, false, r0, r1);
    } else {
        if (j->fill_c) weft_dense_fill(sp, d, &j->io, true, r0, r1);
        switch (sp->dtype) {
        case WEFT_FLOAT32: {
            float *y = j->io.y;
            WEFT_BODY(float)
        } break;
        case WEFT_FLOAT64: {
            double *y = j->io.y;
            WEFT_BODY(double)
        } break;
        default: break;
        }
    }
    weft_dense_epilogue(sp, d, &j->io, j->parts, r0, r1);
}
#undef WEFT_BODY

static weft_status ob_run(const void *prepared, void *state, weft_kernel_ctx *k)
{
    const ob_prep *p = prepared;
    if (p->cpu) return p->cpu->run(p->cpu_prep, k);
    const weft_dense_spec *sp = &p->sp;
    ob_state local, *s = state;
    if (!s) { /* a caller that skipped reshape: bind here (no allocation) */
        weft_status st = bind(p, k, &local);
        if (st) return st;
        s = &local;
    }
    const weft_dense_dims *d = &s->d;
    if (d->rows == 0 || d->n == 0) return WEFT_OK;
    ob_job j;
    memset(&j, 0, sizeof j);
    j.p = p;
    j.d = d;
    j.io.y = k->out[0].data;
    if (sp->bias >= 0 && weft_kin_present(k, sp->bias)) j.io.bias = k->in[sp->bias].data;
    if (sp->acc >= 0 && weft_kin_present(k, sp->acc)) j.io.acc = k->in[sp->acc].data;
    if (sp->c >= 0 && weft_kin_present(k, sp->c)) j.io.c = k->in[sp->c].data;
    for (int t = 0; t < sp->n_terms; t++) {
        j.x[t] = k->in[sp->term[t].x].data;
        j.w[t] = p->w[t] ? p->w[t] : k->in[sp->term[t].w].data;
        j.w_trans[t] = !p->w[t] && sp->term[t].trans_w;
        j.any_gemm |= d->k[t] > 0;
    }
    j.parts = weft_dense_all_parts(sp);
    if (j.any_gemm && sp->kind == WEFT_DENSE_GEMM) {
        /* the GEMM itself computes alpha * A B + beta * C */
        j.fill_c = j.io.c != NULL;
        j.parts &= ~(unsigned)WEFT_DENSE_EPI_C;
    }
    int64_t nb = (d->rows + s->block - 1) / s->block;
    int threads = weft_kthreads(k);
    int nt = (int64_t)threads < nb ? threads : (int)nb;
    (void)nt; /* read only by the pragma, which a compiler building no OpenMP code ignores */
    /* One block (a small product): OpenBLAS may thread it itself, over k->threads. */
    weft_cpu_set_threads(threads);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t b = 0; b < nb; b++) {
        int64_t r0 = b * s->block, r1 = r0 + s->block < d->rows ? r0 + s->block : d->rows;
        run_block(&j, r0, r1);
    }
    return WEFT_OK;
}

const weft_backend weft_backend_openblas = {
    .name = "openblas",
    .buft = &weft_buffer_host,
    .supports = ob_supports,
    .prepare = ob_prepare,
    .reshape = ob_reshape,
    .run = ob_run,
    .release = ob_release,
    .release_state = ob_release_state,
};
