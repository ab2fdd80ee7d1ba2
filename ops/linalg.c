/*
 * ops/linalg.c — dense algebra: MatMul (numpy semantics), MatMulInteger and Gemm.
 *
 * Both run one generic row kernel: for each output row i, acc[j] = sum_k a(i,k) * b(k,j) with an i-k-j
 * loop order (the inner loop walks a row of b and of acc: cache friendly for the plain layout), then an
 * epilogue (Gemm: alpha * acc + beta * C). a and b are addressed through strides, so transposed operands
 * need no copy. Floats accumulate in double; integers accumulate exactly in wrapping 64-bit arithmetic.
 * float16 / bfloat16 go through float32 (weft_math_run_widened, ops/widen.c).
 */
#include <math.h>
#include <string.h>

#include "grad.h"
#include "op.h"


static bool dtype_ok(weft_dtype t) { return weft_dtype_is_float(t) || weft_dtype_is_integer(t); }

/* One matrix product with its epilogue. */
typedef struct {
    int64_t M, N, K;
    int64_t sai, sak;   /* a(i,k) = a[i*sai + k*sak] */
    int64_t sbk, sbj;   /* b(k,j) = b[k*sbk + j*sbj] */
    bool gemm;
    double alpha, beta;
    const void *c;      /* Gemm's C or NULL; c(i,j) = c[i*sci + j*scj] */
    int64_t sci, scj;
} mm_job;

#define MM_IS_FLOAT(T) ((T)0.5 != (T)0)
#define MM_IS_SIGNED(T) ((T)-1 < (T)1) /* not "< 0": no always-false warning */
#define MM_U64(T, v) (MM_IS_SIGNED(T) ? (uint64_t)(int64_t)(v) : (uint64_t)(v))
#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *a = av, *b = bv, *cm = j->c;                                                         \
        T *y = yv;                                                                                    \
        for (int64_t i = 0; i < j->M; i++) {                                                          \
            if (MM_IS_FLOAT(T)) {                                                                     \
                double *acc = scratch;                                                                \
                for (int64_t q = 0; q < j->N; q++) acc[q] = 0;                                        \
                for (int64_t kk = 0; kk < j->K; kk++) {                                               \
                    double aik = (double)a[i * j->sai + kk * j->sak];                                 \
                    const T *br = b + kk * j->sbk;                                                    \
                    for (int64_t q = 0; q < j->N; q++) acc[q] += aik * (double)br[q * j->sbj];        \
                }                                                                                     \
                for (int64_t q = 0; q < j->N; q++) {                                                  \
                    double v = acc[q];                                                                \
                    if (j->gemm) {                                                                    \
                        v *= j->alpha;                                                                \
                        if (cm) v += j->beta * (double)cm[i * j->sci + q * j->scj];                   \
                    }                                                                                 \
                    y[i * j->N + q] = (T)v;                                                           \
                }                                                                                     \
            } else {                                                                                  \
                uint64_t *acc = scratch;                                                              \
                for (int64_t q = 0; q < j->N; q++) acc[q] = 0;                                        \
                for (int64_t kk = 0; kk < j->K; kk++) {                                               \
                    uint64_t aik = MM_U64(T, a[i * j->sai + kk * j->sak]);                            \
                    const T *br = b + kk * j->sbk;                                                    \
                    for (int64_t q = 0; q < j->N; q++) acc[q] += aik * MM_U64(T, br[q * j->sbj]);     \
                }                                                                                     \
                for (int64_t q = 0; q < j->N; q++) {                                                  \
                    uint64_t u = acc[q];                                                              \
                    if (j->gemm && !exact_scalars) {                                                  \
                        /* Fractional alpha / beta on integers: round through double, saturating. */  \
                        double v = j->alpha * (MM_IS_SIGNED(T) ? (double)(int64_t)u : (double)u);     \
                        if (cm) v += j->beta * (double)cm[i * j->sci + q * j->scj];                   \
                        weft_store_f64(dtype, yv, i * j->N + q, v);                                   \
                        continue;                                                                     \
                    }                                                                                 \
                    if (j->gemm) {                                                                    \
                        u *= (uint64_t)(int64_t)j->alpha;                                             \
                        if (cm) u += (uint64_t)(int64_t)j->beta * MM_U64(T, cm[i * j->sci + q * j->scj]); \
                    }                                                                                 \
                    y[i * j->N + q] = MM_IS_SIGNED(T) ? (T)(int64_t)u : (T)u;                         \
                }                                                                                     \
            }                                                                                         \
        }                                                                                             \
    }

/* Runs one product: av is M x K (through strides), bv K x N, yv M x N dense. scratch holds N 8-byte
 * accumulators. */
static weft_status mm_core(const weft_kernel_ctx *k, weft_dtype dtype, const mm_job *j, const void *av,
                           const void *bv, void *yv, void *scratch)
{
    /* alpha and beta that are small whole numbers keep integer Gemm exact. */
    bool exact_scalars = j->alpha == floor(j->alpha) && fabs(j->alpha) < 2147483648.0 &&
                         j->beta == floor(j->beta) && fabs(j->beta) < 2147483648.0;
    (void)exact_scalars;
    WEFT_DISPATCH(dtype, WEFT_TYPES_NUMERIC, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

/* --- MatMul ------------------------------------------------------------------------------------------ */

static weft_status matmul_infer(weft_infer_ctx *c)
{
    const weft_node_info *node = c->node;
    weft_dtype t = c->in_dtype[0];
    c->out_dtype[0] = t;
    if (!dtype_ok(t)) return weft_op_error(node, WEFT_ERR_UNSUPPORTED, "dtype %s is not supported", weft_dtype_name(t));
    if (c->in_dtype[1] != t)
        return weft_op_error(node, WEFT_ERR_TYPE, "inputs are %s and %s; they must match", weft_dtype_name(t),
                             weft_dtype_name(c->in_dtype[1]));
    const weft_shape *as = &c->in_shape[0], *bs = &c->in_shape[1];
    weft_shape *ys = &c->out_shape[0];
    if (as->rank == 0 || bs->rank == 0)
        return weft_op_error(node, WEFT_ERR_SHAPE, "MatMul inputs must have rank >= 1 (got %d and %d)", as->rank,
                             bs->rank);
    if (as->rank < 0 || bs->rank < 0) { ys->rank = -1; return WEFT_OK; }
    int ra = as->rank, rb = bs->rank;
    weft_dim ka = as->d[ra - 1], kb = rb == 1 ? bs->d[0] : bs->d[rb - 2];
    if (weft_dim_known(ka) && weft_dim_known(kb) && ka.v != kb.v) {
        char s0[128], s1[128];
        weft_shape_format(as, s0, sizeof s0);
        weft_shape_format(bs, s1, sizeof s1);
        return weft_op_error(node, WEFT_ERR_SHAPE, "inner dimensions differ: %s x %s (%lld vs %lld)", s0, s1,
                             (long long)ka.v, (long long)kb.v);
    }
    weft_shape ab = {ra > 2 ? ra - 2 : 0}, bb = {rb > 2 ? rb - 2 : 0}, out;
    for (int d = 0; d < ab.rank; d++) ab.d[d] = as->d[d];
    for (int d = 0; d < bb.rank; d++) bb.d[d] = bs->d[d];
    const weft_shape *both[2] = {&ab, &bb};
    weft_status st = weft_infer_broadcast(c, both, 2, &out);
    if (st) return st;
    if (ra >= 2) out.d[out.rank++] = as->d[ra - 2];
    if (rb >= 2) out.d[out.rank++] = bs->d[rb - 1];
    *ys = out;
    return WEFT_OK;
}

static weft_status matmul_body(weft_kernel_ctx *k, void *scratch)
{
    const weft_tview *A = &k->in[0], *B = &k->in[1], *Y = &k->out[0];
    int ra = A->rank, rb = B->rank;
    mm_job j = {0};
    j.M = ra >= 2 ? A->dims[ra - 2] : 1;
    j.K = A->dims[ra - 1];
    j.N = rb >= 2 ? B->dims[rb - 1] : 1;
    int64_t kb = rb >= 2 ? B->dims[rb - 2] : B->dims[0];
    if (kb != j.K)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "inner dimensions differ: %lld vs %lld", (long long)j.K,
                             (long long)kb);
    j.sai = j.K; j.sak = 1;
    j.sbk = j.N; j.sbj = 1;
    /* Batch axes: broadcast A's and B's leading axes against each other. */
    int na = ra > 2 ? ra - 2 : 0, nb = rb > 2 ? rb - 2 : 0, R = na > nb ? na : nb;
    int64_t bdims[WEFT_MAX_RANK] = {0}, sa[WEFT_MAX_RANK], sb[WEFT_MAX_RANK], nbatch = 1;
    for (int d = 0; d < R; d++) {
        int64_t x = d - (R - na) >= 0 ? A->dims[d - (R - na)] : 1;
        int64_t z = d - (R - nb) >= 0 ? B->dims[d - (R - nb)] : 1;
        if (x != z && x != 1 && z != 1)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "batch axis %d does not broadcast: %lld vs %lld", d,
                                 (long long)x, (long long)z);
        bdims[d] = x == 1 ? z : x;
        nbatch *= bdims[d];
    }
    if (nbatch * j.M * j.N != Y->numel)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output has %lld elements, expected %lld",
                             (long long)Y->numel, (long long)(nbatch * j.M * j.N));
    weft_broadcast_strides(A->dims, na, bdims, R, sa);
    weft_broadcast_strides(B->dims, nb, bdims, R, sb);
    size_t es = weft_dtype_size(A->dtype);
    int64_t idx[WEFT_MAX_RANK] = {0}, oa = 0, ob = 0;
    for (int64_t bi = 0; bi < nbatch; bi++) {
        weft_status st = mm_core(k, A->dtype, &j, (const char *)A->data + (size_t)(oa * j.M * j.K) * es,
                                 (const char *)B->data + (size_t)(ob * j.K * j.N) * es,
                                 (char *)Y->data + (size_t)(bi * j.M * j.N) * es, scratch);
        if (st) return st;
        for (int d = R - 1; d >= 0; d--) {
            oa += sa[d];
            ob += sb[d];
            if (++idx[d] < bdims[d]) break;
            oa -= sa[d] * bdims[d];
            ob -= sb[d] * bdims[d];
            idx[d] = 0;
        }
    }
    return WEFT_OK;
}

static weft_status matmul_run(weft_kernel_ctx *k)
{
    if (!dtype_ok(k->in[0].dtype)) return weft_op_unsupported_dtype(k, 0);
    if (k->in[1].dtype != k->in[0].dtype) return weft_op_unsupported_dtype(k, 1);
    int rb = k->in[1].rank;
    int64_t N = rb >= 2 ? k->in[1].dims[rb - 1] : 1;
    return weft_math_run_widened(k, (size_t)(N > 0 ? N : 1) * 8, matmul_body);
}

/* --- MatMulInteger ------------------------------------------------------------------------------------ */

/* (A - a_zero_point) x (B - b_zero_point) over int8 / uint8, as int32: MatMul's shape rules. A zero point
 * is a scalar (per tensor) or 1-D: one per row of A, one per column of B. */
static bool is_byte(weft_dtype t) { return t == WEFT_INT8 || t == WEFT_UINT8; }

static weft_status zero_point_len(const weft_node_info *node, int i, int rank, bool *per_vec)
{
    if (rank > 1)
        return weft_op_error(node, WEFT_ERR_UNSUPPORTED, "input %d: only scalar or 1-D zero points are supported", i);
    *per_vec = rank == 1;
    return WEFT_OK;
}

static weft_status matmulint_infer(weft_infer_ctx *c)
{
    for (int i = 0; i < 4; i++) {
        if (!weft_in_present(c, i)) continue;
        if (!is_byte(c->in_dtype[i]))
            return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input %d: dtype %s is not supported (int8/uint8)", i,
                                 weft_dtype_name(c->in_dtype[i]));
        if (i >= 2 && c->in_dtype[i] != c->in_dtype[i - 2])
            return weft_op_error(c->node, WEFT_ERR_TYPE, "zero point %d is %s but its input is %s", i,
                                 weft_dtype_name(c->in_dtype[i]), weft_dtype_name(c->in_dtype[i - 2]));
        bool v;
        if (i >= 2 && c->in_shape[i].rank >= 0) {
            weft_status st = zero_point_len(c->node, i, c->in_shape[i].rank, &v);
            if (st) return st;
        }
    }
    /* Same shape rule as MatMul, with the output forced to int32. */
    weft_dtype as_int[2] = {WEFT_INT32, WEFT_INT32};
    const weft_dtype *orig = c->in_dtype;
    c->in_dtype = as_int;
    weft_status st = matmul_infer(c);
    c->in_dtype = orig;
    c->out_dtype[0] = WEFT_INT32;
    return st;
}

static weft_status matmulint_run(weft_kernel_ctx *k)
{
    const weft_tview *A = &k->in[0], *B = &k->in[1];
    if (!is_byte(A->dtype)) return weft_op_unsupported_dtype(k, 0);
    if (!is_byte(B->dtype)) return weft_op_unsupported_dtype(k, 1);
    if (A->rank < 1 || B->rank < 1) return weft_op_error(k->node, WEFT_ERR_SHAPE, "inputs must have rank >= 1");
    /* Rows of A and columns of B: what a 1-D zero point indexes. */
    int64_t M = A->rank >= 2 ? A->dims[A->rank - 2] : 1, K = A->dims[A->rank - 1];
    int64_t N = B->rank >= 2 ? B->dims[B->rank - 1] : 1;
    int64_t zp_len[2] = {M, N};
    for (int i = 2; i < 4; i++) {
        if (!weft_kin_present(k, i)) continue;
        bool v = false;
        weft_status st = zero_point_len(k->node, i, k->in[i].rank, &v);
        if (st) return st;
        if (k->in[i].dtype != k->in[i - 2].dtype) return weft_op_unsupported_dtype(k, i);
        /* One element (scalar or [1]) is per tensor; otherwise one per row / column. */
        if (k->in[i].numel != 1 && (!v || k->in[i].numel != zp_len[i - 2]))
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "zero point %d has %lld elements, expected 1 or %lld", i,
                                 (long long)k->in[i].numel, (long long)zp_len[i - 2]);
    }
    /* Subtract the zero points into int32 copies, then run MatMul's int32 path on them. */
    size_t na = (size_t)A->numel, nb = (size_t)B->numel;
    size_t acc = (size_t)(N > 0 ? N : 1) * 8;
    int32_t *buf = k->scratch(k->user, acc + (na + nb) * sizeof(int32_t));
    if (!buf) return weft_op_error(k->node, WEFT_ERR_NOMEM, "cannot allocate scratch");
    int32_t *a32 = (int32_t *)((char *)buf + acc), *b32 = a32 + na;
    for (size_t e = 0; e < na; e++) {
        int64_t row = ((int64_t)e / K) % M; /* numel > 0, so K, M > 0 */
        int64_t zp = 0;
        if (weft_kin_present(k, 2)) zp = weft_load_i64(k->in[2].dtype, k->in[2].data, k->in[2].numel == 1 ? 0 : row);
        a32[e] = (int32_t)(weft_load_i64(A->dtype, A->data, (int64_t)e) - zp);
    }
    for (size_t e = 0; e < nb; e++) {
        int64_t col = (int64_t)e % N;
        int64_t zp = 0;
        if (weft_kin_present(k, 3)) zp = weft_load_i64(k->in[3].dtype, k->in[3].data, k->in[3].numel == 1 ? 0 : col);
        b32[e] = (int32_t)(weft_load_i64(B->dtype, B->data, (int64_t)e) - zp);
    }
    weft_tview in[2] = {*A, *B};
    in[0].dtype = in[1].dtype = WEFT_INT32;
    in[0].data = a32;
    in[1].data = b32;
    weft_kernel_ctx sk = *k;
    sk.n_in = 2;
    sk.in = in;
    return matmul_body(&sk, buf);
}

/* --- Gemm -------------------------------------------------------------------------------------------- */

static weft_status gemm_infer(weft_infer_ctx *c)
{
    const weft_node_info *node = c->node;
    weft_dtype t = c->in_dtype[0];
    c->out_dtype[0] = t;
    c->out_shape[0].rank = 2;
    if (!dtype_ok(t)) return weft_op_error(node, WEFT_ERR_UNSUPPORTED, "dtype %s is not supported", weft_dtype_name(t));
    for (int i = 1; i < 3; i++)
        if (weft_in_present(c, i) && c->in_dtype[i] != t)
            return weft_op_error(node, WEFT_ERR_TYPE, "input %d is %s but input 0 is %s", i,
                                 weft_dtype_name(c->in_dtype[i]), weft_dtype_name(t));
    if (!weft_in_present(c, 2) && node->opset < 11)
        return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "input C is required before opset 11");
    const weft_shape *as = &c->in_shape[0], *bs = &c->in_shape[1];
    /* An unknown rank at compile time (an If whose branches differ in rank, as PyG's exported
     * scatter has) is checked when the model runs, where every rank is known. */
    weft_shape ua, ub;
    if (as->rank < 0) {
        ua.rank = 2;
        ua.d[0] = weft_dim_unknown(c);
        ua.d[1] = weft_dim_unknown(c);
        as = &ua;
    }
    if (bs->rank < 0) {
        ub.rank = 2;
        ub.d[0] = weft_dim_unknown(c);
        ub.d[1] = weft_dim_unknown(c);
        bs = &ub;
    }
    if (as->rank != 2 || bs->rank != 2)
        return weft_op_error(node, WEFT_ERR_SHAPE, "A and B must be 2-D (got ranks %d and %d)", as->rank, bs->rank);
    bool ta = weft_attr_int(node, "transA", 0) != 0, tb = weft_attr_int(node, "transB", 0) != 0;
    weft_dim M = as->d[ta ? 1 : 0], K = as->d[ta ? 0 : 1], Kb = bs->d[tb ? 1 : 0], N = bs->d[tb ? 0 : 1];
    if (weft_dim_known(K) && weft_dim_known(Kb) && K.v != Kb.v)
        return weft_op_error(node, WEFT_ERR_SHAPE, "inner dimensions differ: %lld vs %lld", (long long)K.v,
                             (long long)Kb.v);
    if (weft_in_present(c, 2)) {
        const weft_shape *cs = &c->in_shape[2];
        if (cs->rank > 2)
            return weft_op_error(node, WEFT_ERR_SHAPE, "C must have rank <= 2, got %d", cs->rank);
        weft_dim want[2] = {M, N};
        for (int d = 0; d < cs->rank; d++) {
            weft_dim cd = cs->d[d], w = want[2 - cs->rank + d];
            if (weft_dim_known(cd) && cd.v != 1 && weft_dim_known(w) && cd.v != w.v)
                return weft_op_error(node, WEFT_ERR_SHAPE, "C's dim %d is %lld, does not broadcast to %lld", d,
                                     (long long)cd.v, (long long)w.v);
        }
    }
    c->out_shape[0].d[0] = M;
    c->out_shape[0].d[1] = N;
    return WEFT_OK;
}

static weft_status gemm_body(weft_kernel_ctx *k, void *scratch)
{
    const weft_tview *A = &k->in[0], *B = &k->in[1];
    bool ta = weft_attr_int(k->node, "transA", 0) != 0, tb = weft_attr_int(k->node, "transB", 0) != 0;
    mm_job j = {0};
    j.gemm = true;
    j.alpha = weft_attr_float(k->node, "alpha", 1.0f);
    j.beta = weft_attr_float(k->node, "beta", 1.0f);
    j.M = A->dims[ta ? 1 : 0];
    j.K = A->dims[ta ? 0 : 1];
    j.N = B->dims[tb ? 0 : 1];
    int64_t kb = B->dims[tb ? 1 : 0];
    if (kb != j.K)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "inner dimensions differ: %lld vs %lld", (long long)j.K,
                             (long long)kb);
    /* A is stored [M,K] (or [K,M] when transposed), B [K,N] (or [N,K]). */
    j.sai = ta ? 1 : j.K; j.sak = ta ? j.M : 1;
    j.sbk = tb ? 1 : j.N; j.sbj = tb ? j.K : 1;
    if (weft_kin_present(k, 2)) {
        const weft_tview *C = &k->in[2];
        int64_t want[2] = {j.M, j.N}, cd[2] = {1, 1};
        if (C->rank > 2) return weft_op_error(k->node, WEFT_ERR_SHAPE, "C must have rank <= 2, got %d", C->rank);
        for (int d = 0; d < C->rank; d++) cd[2 - C->rank + d] = C->dims[d];
        for (int d = 0; d < 2; d++)
            if (cd[d] != 1 && cd[d] != want[d])
                return weft_op_error(k->node, WEFT_ERR_SHAPE, "C's dim %d is %lld, does not broadcast to %lld", d,
                                     (long long)cd[d], (long long)want[d]);
        j.c = C->data;
        j.sci = cd[0] == 1 ? 0 : cd[1];
        j.scj = cd[1] == 1 ? 0 : 1;
    }
    if (k->out[0].numel != j.M * j.N)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output has %lld elements, expected %lld",
                             (long long)k->out[0].numel, (long long)(j.M * j.N));
    return mm_core(k, A->dtype, &j, A->data, B->data, k->out[0].data, scratch);
}

static weft_status gemm_run(weft_kernel_ctx *k)
{
    for (int i = 0; i < 3; i++)
        if (weft_kin_present(k, i) && (!dtype_ok(k->in[i].dtype) || k->in[i].dtype != k->in[0].dtype))
            return weft_op_unsupported_dtype(k, i);
    if (k->in[0].rank != 2 || k->in[1].rank != 2)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "A and B must be 2-D");
    bool tb = weft_attr_int(k->node, "transB", 0) != 0;
    int64_t N = k->in[1].dims[tb ? 0 : 1];
    return weft_math_run_widened(k, (size_t)(N > 0 ? N : 1) * 8, gemm_body);
}

/* --- gradients (ops/grad.h) ----------------------------------------------------------------------- */

/* v with its last two axes swapped. */
static int swap_last2(weft_grad_ctx *c, int v, int rank)
{
    int64_t perm[WEFT_MAX_RANK];
    for (int a = 0; a < rank; a++) perm[a] = a;
    perm[rank - 2] = rank - 1;
    perm[rank - 1] = rank - 2;
    return weft_grad_transpose(c, v, perm, rank);
}

/* The shape a batched product's gradient has before the batch axes are summed: the output's batch
 * axes, then the operand's own last two. */
static weft_shape batched(const weft_shape *out, int out_batch, const weft_shape *op)
{
    weft_shape s = {out_batch + 2};
    for (int a = 0; a < out_batch; a++) s.d[a] = out->d[a];
    s.d[out_batch] = op->d[op->rank - 2];
    s.d[out_batch + 1] = op->d[op->rank - 1];
    return s;
}

/* Gemm(p, q) with these transpositions and alpha. */
static int gemm2(weft_grad_ctx *c, int p, int q, int ta, int tb, float alpha)
{
    weft_attr at[3] = {weft_grad_attr_int("transA", ta), weft_grad_attr_int("transB", tb),
                       weft_grad_attr_float("alpha", alpha)};
    int in[2] = {p, q};
    return weft_grad_op(c, "Gemm", in, 2, at, 3);
}

/* y = a b (batched, broadcast): da = g b^T, db = a^T g, each summed over the batch axes its operand
 * was broadcast along. A vector b ([K]) is a column whose axis the output lost. */
static weft_status grad_matmul(weft_grad_ctx *c)
{
    const weft_shape *sa = &c->in_shape[0], *sb = &c->in_shape[1], *so = &c->out_shape[0];
    int ra = sa->rank, rb = sb->rank, g = weft_grad_dout(c, 0);
    if (ra < 2) return weft_grad_fail(c, WEFT_ERR_UNSUPPORTED, "MatMul with a vector on the left (rank %d)", ra);
    if (rb == 1) {
        int64_t last = -1;
        int gc = weft_grad_op2(c, "Unsqueeze", g, weft_grad_i64s(c, &last, 1)); /* [..., M, 1] */
        if (c->want[0]) { /* da[..., m, k] = g[..., m] b[k] */
            weft_shape from = *so;
            from.d[from.rank++] = sb->d[0];
            weft_grad_to_bcast(c, 0, weft_grad_op2(c, "Mul", gc, c->in[1]), &from);
        }
        if (c->want[1]) { /* db[k] = sum over the batch and m of a[..., m, k] g[..., m] */
            int p = weft_grad_op2(c, "MatMul", swap_last2(c, c->in[0], ra), gc); /* [..., K, 1] */
            weft_shape from = {ra, {{0}}}, to = {2, {sb->d[0], weft_dim_num(1)}};
            for (int a = 0; a < ra - 2; a++) from.d[a] = so->d[a];
            from.d[ra - 2] = sb->d[0];
            from.d[ra - 1] = weft_dim_num(1);
            int r = weft_grad_unbroadcast(c, p, &from, &to);
            weft_grad_to(c, 1, weft_grad_op2(c, "Squeeze", r, weft_grad_i64s(c, &last, 1)));
        }
        return c->st;
    }
    if (ra == 2 && rb == 2) { /* one Gemm each: the transposition is the kernel's, not a copy */
        if (c->want[0]) weft_grad_to(c, 0, gemm2(c, g, c->in[1], 0, 1, 1.0f));
        if (c->want[1]) weft_grad_to(c, 1, gemm2(c, c->in[0], g, 1, 0, 1.0f));
        return c->st;
    }
    int nb = so->rank - 2;
    if (c->want[0]) {
        weft_shape from = batched(so, nb, sa);
        weft_grad_to_bcast(c, 0, weft_grad_op2(c, "MatMul", g, swap_last2(c, c->in[1], rb)), &from);
    }
    if (c->want[1]) {
        weft_shape from = batched(so, nb, sb);
        weft_grad_to_bcast(c, 1, weft_grad_op2(c, "MatMul", swap_last2(c, c->in[0], ra), g), &from);
    }
    return c->st;
}

/* y = alpha op(a) op(b) + beta c. With A = op(a), B = op(b): dA = alpha g B^T and dB = alpha A^T g,
 * each written as one Gemm of the operands as stored: transposing back where a or b was transposed. */
static weft_status grad_gemm(weft_grad_ctx *c)
{
    int ta = (int)weft_attr_int(c->node, "transA", 0), tb = (int)weft_attr_int(c->node, "transB", 0);
    float alpha = weft_attr_float(c->node, "alpha", 1.0f), beta = weft_attr_float(c->node, "beta", 1.0f);
    int g = weft_grad_dout(c, 0), a = c->in[0], b = c->in[1];
    if (c->want[0]) weft_grad_to(c, 0, ta ? gemm2(c, b, g, tb, 1, alpha) : gemm2(c, g, b, 0, !tb, alpha));
    if (c->want[1]) weft_grad_to(c, 1, tb ? gemm2(c, g, a, 1, ta, alpha) : gemm2(c, a, g, !ta, 0, alpha));
    if (c->n_in > 2 && c->want[2]) {
        int gc = beta == 1.0f ? g : weft_grad_op2(c, "Mul", g, weft_grad_scalar(c, beta));
        weft_grad_to_bcast(c, 2, gc, &c->out_shape[0]);
    }
    return c->st;
}

const weft_op_def weft_ops_linalg[] = {
    {"MatMul", "", 1, 0, 2, 2, 1, 1, 0, matmul_infer, matmul_run, 0, grad_matmul},
    {"Gemm", "", 1, 0, 2, 3, 1, 1, 0, gemm_infer, gemm_run, 0, grad_gemm},
    {"MatMulInteger", "", 10, 0, 2, 4, 1, 1, 0, matmulint_infer, matmulint_run},
};
const int weft_ops_linalg_count = sizeof weft_ops_linalg / sizeof weft_ops_linalg[0];
