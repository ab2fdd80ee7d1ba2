/*
 * ops/dense/dense.c — dense steps as the library-backed CPU backends see them (dense.h): reading a step,
 * checking its sizes, and the epilogue work weft does itself.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../cpu/vmath.h"
#include "dense.h"

/* Output elements below which an epilogue pass stays on the calling thread. */
#define DENSE_GRAIN ((int64_t)1 << 15)

static bool node_is(const weft_node_info *n, const char *domain, const char *op)
{
    const char *d = n->domain ? n->domain : "";
    return n->op_type && strcmp(d, domain) == 0 && strcmp(n->op_type, op) == 0;
}

static bool float_type(weft_dtype t) { return t == WEFT_FLOAT32 || t == WEFT_FLOAT64; }

/* A compile-time dim that is known to be past what BLAS indexes. */
static bool dim_too_big(weft_dim d) { return weft_dim_known(d) && d.v > INT32_MAX; }

static bool shape_ok(const weft_shape *s, int min_rank, int max_rank)
{
    if (s->rank < min_rank || s->rank > max_rank) return false; /* an unknown rank (-1) too */
    for (int i = 0; i < s->rank; i++)
        if (dim_too_big(s->d[i])) return false;
    return true;
}

static bool present(const weft_step_desc *s, int i) { return i < s->n_in && s->in_dtype[i] != WEFT_UNDEFINED; }

bool weft_dense_parse(const weft_step_desc *s, weft_dense_spec *out)
{
    weft_dense_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.bias = sp.acc = sp.c = -1;
    sp.act = WEFT_FUSED_IDENTITY;
    sp.alpha = sp.beta = 1.0f;
    const weft_node_info *n = s->node;
    if (!n || s->n_out != 1 || s->n_in < 2) return false;
    sp.dtype = s->in_dtype[0];
    if (!float_type(sp.dtype) || s->out_dtype[0] != sp.dtype) return false;
    if (node_is(n, "", "MatMul")) {
        if (s->n_in != 2) return false;
        sp.kind = WEFT_DENSE_MATMUL;
        sp.n_terms = 1;
        sp.term[0] = (weft_dense_term){0, 1, false, false};
        if (!shape_ok(&s->in_shape[0], 2, WEFT_MAX_RANK) || !shape_ok(&s->in_shape[1], 2, 2)) return false;
    } else if (node_is(n, "", "Gemm")) {
        if (s->n_in > 3) return false;
        sp.kind = WEFT_DENSE_GEMM;
        sp.n_terms = 1;
        sp.term[0] = (weft_dense_term){0, 1, weft_attr_int(n, "transA", 0) != 0, weft_attr_int(n, "transB", 0) != 0};
        sp.alpha = weft_attr_float(n, "alpha", 1.0f);
        sp.beta = weft_attr_float(n, "beta", 1.0f);
        if (!shape_ok(&s->in_shape[0], 2, 2) || !shape_ok(&s->in_shape[1], 2, 2)) return false;
        if (present(s, 2)) {
            sp.c = 2;
            if (!shape_ok(&s->in_shape[2], 0, 2)) return false;
        }
    } else if (node_is(n, "ai.weft", "FusedMatMul")) {
        int64_t terms = weft_attr_int(n, "terms", 1);
        if (terms < 1 || terms > WEFT_DENSE_MAX_TERMS || s->n_in < 2 * terms || s->n_in > 2 * terms + 2) return false;
        sp.kind = WEFT_DENSE_FUSED;
        sp.n_terms = (int)terms;
        const int64_t *tr = NULL;
        int n_tr = weft_attr_ints(n, "transpose", &tr);
        if (weft_attr_find(n, "transpose") && n_tr != terms) return false; /* the reference reports it */
        for (int t = 0; t < sp.n_terms; t++) {
            if (n_tr > 0 && tr[t] != 0 && tr[t] != 1) return false;
            sp.term[t] = (weft_dense_term){2 * t, 2 * t + 1, false, n_tr > 0 && tr[t] == 1};
            if (!shape_ok(&s->in_shape[2 * t], 1, WEFT_MAX_RANK) || !shape_ok(&s->in_shape[2 * t + 1], 2, 2)) return false;
        }
        int b = 2 * sp.n_terms;
        if (present(s, b)) sp.bias = b;
        if (present(s, b + 1)) sp.acc = b + 1;
        sp.normalize = weft_attr_int(n, "normalize", 0) != 0;
        sp.eps = weft_attr_float(n, "eps", 1e-12f);
        sp.act = weft_fused_activation(n, &sp.act_alpha); /* as the reference kernel reads it */
        if (sp.act == -2) return false;
    } else {
        return false;
    }
    for (int i = 0; i < s->n_in; i++)
        if (present(s, i) && s->in_dtype[i] != sp.dtype) return false;
    *out = sp;
    return true;
}

/* --- sizes ------------------------------------------------------------------------------------------ */

static int64_t lead_rows(const weft_tview *v)
{
    int64_t r = 1;
    for (int i = 0; i + 1 < v->rank; i++) r *= v->dims[i];
    return r;
}

static weft_status check_dtypes(const weft_dense_spec *sp, const weft_kernel_ctx *k)
{
    for (int i = 0; i < k->n_in; i++)
        if (weft_kin_present(k, i) && k->in[i].dtype != sp->dtype) return weft_op_unsupported_dtype(k, i);
    if (k->n_out < 1 || k->out[0].dtype != sp->dtype)
        return weft_op_error(k->node, WEFT_ERR_TYPE, "output is not %s", weft_dtype_name(sp->dtype));
    return WEFT_OK;
}

static weft_status bind_gemm(const weft_dense_spec *sp, const weft_kernel_ctx *k, weft_dense_dims *d)
{
    const weft_tview *A = &k->in[0], *B = &k->in[1];
    if (A->rank != 2 || B->rank != 2)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "A and B must be 2-D (got ranks %d and %d)", A->rank, B->rank);
    bool ta = sp->term[0].trans_x, tb = sp->term[0].trans_w;
    d->rows = A->dims[ta ? 1 : 0];
    d->k[0] = A->dims[ta ? 0 : 1];
    d->n = B->dims[tb ? 0 : 1];
    int64_t kb = B->dims[tb ? 1 : 0];
    if (kb != d->k[0])
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "inner dimensions differ: A gives K = %lld, B gives %lld",
                             (long long)d->k[0], (long long)kb);
    if (ta && d->rows > INT32_MAX)
        return weft_op_error(k->node, WEFT_ERR_UNSUPPORTED, "transposed A with %lld columns is too large",
                             (long long)d->rows);
    d->c_si = d->c_sj = 0;
    d->c_row_vector = true;
    if (sp->c >= 0 && weft_kin_present(k, sp->c)) {
        const weft_tview *C = &k->in[sp->c];
        int64_t want[2] = {d->rows, d->n}, cd[2] = {1, 1};
        if (C->rank > 2) return weft_op_error(k->node, WEFT_ERR_SHAPE, "C must have rank <= 2, got %d", C->rank);
        for (int i = 0; i < C->rank; i++) cd[2 - C->rank + i] = C->dims[i];
        for (int i = 0; i < 2; i++)
            if (cd[i] != 1 && cd[i] != want[i])
                return weft_op_error(k->node, WEFT_ERR_SHAPE, "C's dim %d is %lld, does not broadcast to %lld",
                                     i - (2 - C->rank), (long long)cd[i], (long long)want[i]);
        d->c_si = cd[0] == 1 ? 0 : cd[1];
        d->c_sj = cd[1] == 1 ? 0 : 1;
        d->c_row_vector = cd[0] == 1;
    }
    return WEFT_OK;
}

static weft_status bind_terms(const weft_dense_spec *sp, const weft_kernel_ctx *k, weft_dense_dims *d)
{
    for (int t = 0; t < sp->n_terms; t++) {
        const weft_tview *X = &k->in[sp->term[t].x], *W = &k->in[sp->term[t].w];
        if (X->rank < 1 || (sp->kind == WEFT_DENSE_MATMUL && X->rank < 2))
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d has rank %d", sp->term[t].x, X->rank);
        if (W->rank != 2)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d must be 2-D, got rank %d", sp->term[t].w, W->rank);
        int64_t rows = lead_rows(X), K = X->dims[X->rank - 1];
        int kd = sp->term[t].trans_w, md = !kd; /* W's K and M dims */
        if (t == 0) {
            d->rows = rows;
            d->n = W->dims[md];
        } else {
            const weft_tview *X0 = &k->in[sp->term[0].x];
            bool same = X->rank == X0->rank;
            for (int i = 0; same && i + 1 < X->rank; i++) same = X->dims[i] == X0->dims[i];
            if (!same)
                return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d: leading dims differ from input %d's",
                                     sp->term[t].x, sp->term[0].x);
        }
        if (W->dims[kd] != K)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "inner dimensions differ: input %d gives K = %lld, input %d has %lld",
                                 sp->term[t].x, (long long)K, sp->term[t].w, (long long)W->dims[kd]);
        if (W->dims[md] != d->n)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d has M = %lld, input %d has %lld",
                                 sp->term[t].w, (long long)W->dims[md], sp->term[0].w, (long long)d->n);
        d->k[t] = K;
    }
    return WEFT_OK;
}

weft_status weft_dense_bind(const weft_dense_spec *sp, const weft_kernel_ctx *k, weft_dense_dims *d)
{
    memset(d, 0, sizeof *d);
    weft_status st = check_dtypes(sp, k);
    if (st) return st;
    for (int t = 0; t < sp->n_terms; t++)
        if (!weft_kin_present(k, sp->term[t].x) || !weft_kin_present(k, sp->term[t].w))
            return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "term %d has an absent operand", t);
    st = sp->kind == WEFT_DENSE_GEMM ? bind_gemm(sp, k, d) : bind_terms(sp, k, d);
    if (st) return st;
    if (sp->bias >= 0 && weft_kin_present(k, sp->bias) && k->in[sp->bias].numel != d->n)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "bias has %lld elements, expected %lld",
                             (long long)k->in[sp->bias].numel, (long long)d->n);
    if (sp->acc >= 0 && weft_kin_present(k, sp->acc) && k->in[sp->acc].numel != d->rows * d->n)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "acc has %lld elements, expected %lld x %lld",
                             (long long)k->in[sp->acc].numel, (long long)d->rows, (long long)d->n);
    if (k->out[0].numel != d->rows * d->n)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output has %lld elements, expected %lld x %lld",
                             (long long)k->out[0].numel, (long long)d->rows, (long long)d->n);
    if (d->n > INT32_MAX) return weft_op_error(k->node, WEFT_ERR_UNSUPPORTED, "%lld output columns are too many", (long long)d->n);
    for (int t = 0; t < sp->n_terms; t++)
        if (d->k[t] > INT32_MAX)
            return weft_op_error(k->node, WEFT_ERR_UNSUPPORTED, "inner dimension %lld is too large", (long long)d->k[t]);
    return WEFT_OK;
}

/* --- epilogues -------------------------------------------------------------------------------------- */

unsigned weft_dense_all_parts(const weft_dense_spec *sp)
{
    unsigned p = 0;
    if (sp->kind == WEFT_DENSE_GEMM && (sp->alpha != 1.0f || sp->c >= 0)) p |= WEFT_DENSE_EPI_C;
    if (sp->bias >= 0) p |= WEFT_DENSE_EPI_BIAS;
    if (sp->normalize) p |= WEFT_DENSE_EPI_NORM;
    if (sp->acc >= 0) p |= WEFT_DENSE_EPI_ACC;
    if (sp->act != WEFT_FUSED_IDENTITY) p |= WEFT_DENSE_EPI_ACT;
    return p;
}

#define DENSE_ACT_LOOP(T, op)                                                                         \
    for (int64_t j = 0; j < n; j++) y[j] = (T)weft_fused_unary((op), (double)y[j], al);

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *bias = io->bias, *acc = io->acc, *c = io->c;                                         \
        const int64_t n = d->n;                                                                       \
        for (int64_t i = r0; i < r1; i++) {                                                           \
            T *y = (T *)io->y + i * n;                                                                \
            if (parts & WEFT_DENSE_EPI_C) {                                                           \
                const double al = sp->alpha, be = sp->beta;                                           \
                if (c) {                                                                              \
                    const T *ci = c + i * d->c_si;                                                    \
                    for (int64_t j = 0; j < n; j++) y[j] = (T)(al * (double)y[j] + be * (double)ci[j * d->c_sj]); \
                } else {                                                                              \
                    for (int64_t j = 0; j < n; j++) y[j] = (T)(al * (double)y[j]);                    \
                }                                                                                     \
            }                                                                                         \
            if ((parts & WEFT_DENSE_EPI_BIAS) && bias)                                                \
                for (int64_t j = 0; j < n; j++) y[j] += bias[j];                                      \
            if ((parts & WEFT_DENSE_EPI_NORM) && sp->normalize) {                                     \
                double ss = 0;                                                                        \
                for (int64_t j = 0; j < n; j++) ss += (double)y[j] * (double)y[j];                    \
                /* as ReduceL2 -> Clip(min = eps) -> Div: the root rounded to T, clamped in T */     \
                const T nrm = (T)sqrt(ss), e = (T)sp->eps;                                            \
                const T den = nrm < e ? e : nrm;                                                      \
                for (int64_t j = 0; j < n; j++) y[j] /= den;                                          \
            }                                                                                         \
            if ((parts & WEFT_DENSE_EPI_ACC) && acc) {                                                \
                const T *a = acc + i * n;                                                             \
                for (int64_t j = 0; j < n; j++) y[j] += a[j];                                         \
            }                                                                                         \
            if ((parts & WEFT_DENSE_EPI_ACT) && sp->act != WEFT_FUSED_IDENTITY) {                     \
                /* the reference kernel's formulas (ops/weft_fused.h): in double, rounded once; one   \
                 * loop per activation so that each inlines to straight-line code */                  \
                const double al = sp->act_alpha;                                                      \
                switch (sp->act) {                                                                    \
                case WEFT_FUSED_RELU: DENSE_ACT_LOOP(T, WEFT_FUSED_RELU) break;                       \
                case WEFT_FUSED_LEAKY_RELU: DENSE_ACT_LOOP(T, WEFT_FUSED_LEAKY_RELU) break;           \
                case WEFT_FUSED_ELU: DENSE_ACT_LOOP(T, WEFT_FUSED_ELU) break;                         \
                case WEFT_FUSED_SIGMOID: DENSE_ACT_LOOP(T, WEFT_FUSED_SIGMOID) break;                 \
                case WEFT_FUSED_TANH: DENSE_ACT_LOOP(T, WEFT_FUSED_TANH) break;                       \
                case WEFT_FUSED_GELU: /* the reference's formulas with vmath.h's vectorisable erf / tanh */ \
                    if (al != 0)                                                                      \
                        for (int64_t j = 0; j < n; j++) {                                             \
                            const double v = (double)y[j];                                            \
                            y[j] = (T)(0.5 * v * (1.0 + weft_vtanh(0.79788456080286535588 * (v + 0.044715 * v * v * v)))); \
                        }                                                                             \
                    else                                                                              \
                        for (int64_t j = 0; j < n; j++) {                                             \
                            const double v = (double)y[j];                                            \
                            y[j] = (T)(0.5 * v * (1.0 + weft_verf(v * 0.70710678118654752440)));      \
                        }                                                                             \
                    break;                                                                            \
                default: DENSE_ACT_LOOP(T, sp->act) break;                                            \
                }                                                                                     \
            }                                                                                         \
        }                                                                                             \
    }

void weft_dense_epilogue(const weft_dense_spec *sp, const weft_dense_dims *d, const weft_dense_io *io,
                         unsigned parts, int64_t r0, int64_t r1)
{
    WEFT_DISPATCH(sp->dtype, WEFT_TYPES_FLOAT, return);
}
#undef WEFT_BODY
#undef DENSE_ACT_LOOP

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *c = io->c;                                                                           \
        const int64_t n = d->n;                                                                       \
        for (int64_t i = r0; i < r1; i++) {                                                           \
            T *y = (T *)io->y + i * n;                                                                \
            if (!from_c || !c) {                                                                      \
                memset(y, 0, (size_t)n * sizeof(T));                                                  \
            } else {                                                                                  \
                const T *ci = c + i * d->c_si;                                                        \
                for (int64_t j = 0; j < n; j++) y[j] = ci[j * d->c_sj];                               \
            }                                                                                         \
        }                                                                                             \
    }

void weft_dense_fill(const weft_dense_spec *sp, const weft_dense_dims *d, const weft_dense_io *io, bool from_c,
                     int64_t r0, int64_t r1)
{
    WEFT_DISPATCH(sp->dtype, WEFT_TYPES_FLOAT, return);
}
#undef WEFT_BODY

/* Threads for a pass over all rows: enough work for each, at most `threads`. */
static int pass_threads(const weft_dense_dims *d, int threads)
{
    int64_t work = d->rows * (d->n > 0 ? d->n : 1);
    int64_t m = work / DENSE_GRAIN;
    if (m < 1) m = 1;
    if (threads < 1) threads = 1;
    return m < threads ? (int)m : threads;
}

/* Rows of part t of nt: [*b, *e), sizes differing by at most one. */
static void part(int64_t rows, int t, int nt, int64_t *b, int64_t *e)
{
    int64_t q = rows / nt, r = rows % nt;
    *b = t * q + (t < r ? t : r);
    *e = *b + q + (t < r ? 1 : 0);
}

enum { PASS_EPILOGUE, PASS_FILL };

static void pass_par(int what, const weft_dense_spec *sp, const weft_dense_dims *d, const weft_dense_io *io,
                     unsigned parts, bool from_c, int threads)
{
    int nt = pass_threads(d, threads);
#pragma omp parallel for num_threads(nt) schedule(static, 1) if (nt > 1)
    for (int t = 0; t < nt; t++) {
        int64_t b, e;
        part(d->rows, t, nt, &b, &e);
        if (what == PASS_EPILOGUE) weft_dense_epilogue(sp, d, io, parts, b, e);
        else weft_dense_fill(sp, d, io, from_c, b, e);
    }
}

void weft_dense_epilogue_par(const weft_dense_spec *sp, const weft_dense_dims *d, const weft_dense_io *io,
                             unsigned parts, int threads)
{
    if (parts) pass_par(PASS_EPILOGUE, sp, d, io, parts, false, threads);
}

void weft_dense_fill_par(const weft_dense_spec *sp, const weft_dense_dims *d, const weft_dense_io *io, bool from_c,
                         int threads)
{
    pass_par(PASS_FILL, sp, d, io, 0, from_c, threads);
}

/* --- operands prepared once ------------------------------------------------------------------------- */

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        T *o = out;                                                                                   \
        const T *cc = c;                                                                              \
        for (int64_t j = 0; j < d->n; j++) o[j] = (T)((double)sp->beta * (double)cc[j * d->c_sj]);    \
    }

void weft_dense_c_row(const weft_dense_spec *sp, const weft_dense_dims *d, const void *c, void *out)
{
    WEFT_DISPATCH(sp->dtype, WEFT_TYPES_FLOAT, return);
}
#undef WEFT_BODY

weft_status weft_dense_pack_kn(const weft_dense_spec *sp, int t, const void *w, int64_t K, int64_t N, void **out)
{
    size_t es = weft_dtype_size(sp->dtype), bytes = (size_t)K * (size_t)N * es;
    size_t alloc = (bytes + 63) & ~(size_t)63;
    *out = aligned_alloc(64, alloc ? alloc : 64);
    if (!*out) return weft_error(WEFT_ERR_NOMEM, "out of memory packing a %lld x %lld weight", (long long)K, (long long)N);
    if (!sp->term[t].trans_w) {
        if (bytes) memcpy(*out, w, bytes);
        return WEFT_OK;
    }
    /* stored N x K: transposed here once, so every run reads K x N rows */
    for (int64_t kk = 0; kk < K; kk++)
        for (int64_t j = 0; j < N; j++)
            memcpy((char *)*out + (size_t)(kk * N + j) * es, (const char *)w + (size_t)(j * K + kk) * es, es);
    return WEFT_OK;
}
