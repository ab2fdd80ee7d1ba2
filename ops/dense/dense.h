/*
 * ops/dense/dense.h — what the library-backed CPU backends (ops/onednn/, ops/openblas/) share about dense
 * steps: which steps are dense work of the form rows x K times K x N plus an epilogue, their shapes
 * at run time, and weft's own code for the parts a library does not do.
 *
 * Three ops take this form:
 *   - MatMul with a 2-D B: A's leading dims flattened to rows (A rank >= 2);
 *   - Gemm: out = alpha * op(A) op(B) + beta * C, C broadcast to [M, N] (unidirectionally);
 *   - ai.weft FusedMatMul: out = act(acc + norm(sum_i X_i W_i + bias)) (schemas/ai.weft.md).
 * A step is read once (`weft_dense_parse`, at lowering and in prepare); its sizes are checked against
 * the bound operands (`weft_dense_bind`) when a session sets up or runs it.
 *
 * Epilogues run on a range of output rows so that a backend can apply them to a block while it is in
 * cache, or over all rows in one parallel pass. Each row is computed the same way whatever the
 * split, so results do not depend on the thread count.
 */
#ifndef WEFT_OPS_DENSE_H
#define WEFT_OPS_DENSE_H

#include "../backend.h"
#include "../weft_fused.h"

/* FusedMatMul terms a backend takes (more go to ref). */
#define WEFT_DENSE_MAX_TERMS 8

typedef enum weft_dense_kind { WEFT_DENSE_MATMUL, WEFT_DENSE_GEMM, WEFT_DENSE_FUSED } weft_dense_kind;

/* One product X W: input positions and, for Gemm, whether the operand is stored transposed. */
typedef struct weft_dense_term {
    int x, w;
    bool trans_x, trans_w;
} weft_dense_term;

/* What a dense step asks for, read from its node. */
typedef struct weft_dense_spec {
    weft_dense_kind kind;
    weft_dtype dtype; /* float32 or float64 */
    int n_terms;
    weft_dense_term term[WEFT_DENSE_MAX_TERMS];
    int bias;         /* FusedMatMul: input position of bias, or -1 */
    int acc;          /* FusedMatMul: input position of acc, or -1 */
    int c;            /* Gemm: input position of C, or -1 */
    float alpha, beta; /* Gemm's */
    bool normalize;
    float eps;
    int act;          /* a WEFT_FUSED_* opcode (ops/weft_fused.h), WEFT_FUSED_IDENTITY for none */
    double act_alpha; /* LeakyReLU's slope or ELU's alpha */
} weft_dense_spec;

/* Reads step s as a dense step. False (nothing allocated, no error set) when it is not one of the
 * three forms, or when compile-time shapes already show something this code does not take: a rank
 * that is unknown or not the form's, a dtype other than float32 / float64, operands of mixed dtypes,
 * an unknown activation, more than WEFT_DENSE_MAX_TERMS terms, or a dim past what BLAS indexes
 * (INT32_MAX). */
bool weft_dense_parse(const weft_step_desc *s, weft_dense_spec *out);

/* The sizes of one binding: out is rows x n, term i is rows x k[i] times k[i] x n. */
typedef struct weft_dense_dims {
    int64_t rows, n;
    int64_t k[WEFT_DENSE_MAX_TERMS];
    /* Gemm's C: element (i, j) of its broadcast is C[i * c_si + j * c_sj] (0 along broadcast axes). */
    int64_t c_si, c_sj;
    bool c_row_vector; /* C is the same for every row (c_si == 0) */
} weft_dense_dims;

/* Checks the operands of k (dims only: data may not be bound yet) against the spec and fills d. A
 * mismatch is WEFT_ERR_SHAPE naming the input and dimension; a size past what BLAS indexes is
 * WEFT_ERR_UNSUPPORTED. */
weft_status weft_dense_bind(const weft_dense_spec *sp, const weft_kernel_ctx *k, weft_dense_dims *d);

/* --- weft's share of the work ----------------------------------------------------------------------- */

/* Parts of an epilogue, applied in this order to each row: */
enum {
    WEFT_DENSE_EPI_C = 1u << 0,    /* Gemm: y = alpha * y + beta * C */
    WEFT_DENSE_EPI_BIAS = 1u << 1, /* y += bias */
    WEFT_DENSE_EPI_NORM = 1u << 2, /* y /= max(||y||_2, eps) (when the spec asks for it) */
    WEFT_DENSE_EPI_ACC = 1u << 3,  /* y += acc */
    WEFT_DENSE_EPI_ACT = 1u << 4,  /* y = act(y) */
};

/* The data of one run. */
typedef struct weft_dense_io {
    void *y;          /* rows x n, row-major */
    const void *bias; /* n elements */
    const void *acc;  /* rows x n */
    const void *c;    /* Gemm's C, read through c_si / c_sj */
} weft_dense_io;

/* The parts of `parts` the spec has, on rows [r0, r1). */
void weft_dense_epilogue(const weft_dense_spec *sp, const weft_dense_dims *d, const weft_dense_io *io,
                         unsigned parts, int64_t r0, int64_t r1);
/* Rows [r0, r1) of y set to zero (from_c false) or to Gemm's C broadcast (from_c true). */
void weft_dense_fill(const weft_dense_spec *sp, const weft_dense_dims *d, const weft_dense_io *io, bool from_c,
                     int64_t r0, int64_t r1);
/* The same over all rows, split by rows over at most `threads` OpenMP threads. */
void weft_dense_epilogue_par(const weft_dense_spec *sp, const weft_dense_dims *d, const weft_dense_io *io,
                             unsigned parts, int threads);
void weft_dense_fill_par(const weft_dense_spec *sp, const weft_dense_dims *d, const weft_dense_io *io, bool from_c,
                         int threads);

/* Every part the spec has after the products (what a backend applies itself when the library does
 * none of it). */
unsigned weft_dense_all_parts(const weft_dense_spec *sp);

/* Gemm's beta * C as one row of n elements, when C is the same for every row (d->c_row_vector): the
 * bias a library adds. `out` holds n elements of the spec's dtype. */
void weft_dense_c_row(const weft_dense_spec *sp, const weft_dense_dims *d, const void *c, void *out);

/* A constant W of term t (K x N, or N x K when trans_w) copied into a fresh K x N row-major buffer
 * (malloc'd, 64-byte aligned; free() it). */
weft_status weft_dense_pack_kn(const weft_dense_spec *sp, int t, const void *w, int64_t K, int64_t N, void **out);


#endif
