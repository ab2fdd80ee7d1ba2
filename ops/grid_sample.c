/*
 * ops/misc2.c — smaller ops: NonMaxSuppression, GridSample, Einsum, CumProd, Hann/Hamming/BlackmanWindow, RotaryEmbedding, LRN, ReverseSequence, Det, CenterCropPad,
 * MaxUnpool and ai.onnx.ml Binarizer.
 *
 * Arithmetic kernels are written for float / double (and integers where the op allows) and accumulate
 * in double; half precision is widened (ops/widen.c). Ops that only move data copy elements by size, so
 * they serve every dtype.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "window.h"

static weft_status need_float(const weft_infer_ctx *c, int i)
{
    if (!weft_dtype_is_float(c->in_dtype[i]))
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input %d: dtype %s is not supported (floats only)", i,
                             weft_dtype_name(c->in_dtype[i]));
    return WEFT_OK;
}

static weft_status need_index(const weft_infer_ctx *c, int i, const char *what)
{
    if (c->in_dtype[i] != WEFT_INT32 && c->in_dtype[i] != WEFT_INT64)
        return weft_op_error(c->node, WEFT_ERR_TYPE, "%s must be int32 or int64, not %s", what,
                             weft_dtype_name(c->in_dtype[i]));
    return WEFT_OK;
}

/* --- CumProd ------------------------------------------------------------------------------------- */

static weft_status cumprod_infer(weft_infer_ctx *c)
{
    weft_dtype dt = c->in_dtype[0];
    if (!weft_dtype_is_float(dt) && dt != WEFT_INT32 && dt != WEFT_INT64 && dt != WEFT_UINT32 && dt != WEFT_UINT64)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported", weft_dtype_name(dt));
    weft_status st = need_index(c, 1, "axis");
    if (st) return st;
    if (c->in_shape[1].rank > 1 || (c->in_shape[1].rank == 1 && weft_dim_known(c->in_shape[1].d[0]) && c->in_shape[1].d[0].v != 1))
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "axis must hold one value");
    return weft_infer_same_as_input0(c);
}

/* Products along the axis in T's own arithmetic (integers wrap as the spec's types do; unsigned so no UB). */
#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data;                                                                   \
        T *y = k->out[0].data;                                                                        \
        for (int64_t o = 0; o < outer; o++)                                                           \
            for (int64_t i = 0; i < inner; i++) {                                                     \
                T acc = 1;                                                                            \
                for (int64_t s = 0; s < n; s++) {                                                     \
                    int64_t j = rev ? n - 1 - s : s;                                                  \
                    int64_t at = (o * n + j) * inner + i;                                             \
                    if (excl) { y[at] = acc; acc = mul_##T(acc, x[at]); }                             \
                    else { acc = mul_##T(acc, x[at]); y[at] = acc; }                                  \
                }                                                                                     \
            }                                                                                         \
    }
static inline float mul_float(float a, float b) { return a * b; }
static inline double mul_double(double a, double b) { return a * b; }
static inline int32_t mul_int32_t(int32_t a, int32_t b) { return (int32_t)((uint32_t)a * (uint32_t)b); }
static inline int64_t mul_int64_t(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
static inline uint32_t mul_uint32_t(uint32_t a, uint32_t b) { return a * b; }
static inline uint64_t mul_uint64_t(uint64_t a, uint64_t b) { return a * b; }
#define CUMPROD_TYPES(X)                                                                              \
    WEFT_TYPES_FLOAT(X) X(WEFT_INT64, int64_t) X(WEFT_INT32, int32_t) X(WEFT_UINT64, uint64_t) X(WEFT_UINT32, uint32_t)
static weft_status cumprod_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    const weft_tview *x = &k->in[0];
    if (k->in[1].numel != 1) return weft_op_error(k->node, WEFT_ERR_SHAPE, "axis must hold one value");
    int axis;
    int64_t a = weft_load_i64(k->in[1].dtype, k->in[1].data, 0);
    if (x->rank == 0) return weft_op_error(k->node, WEFT_ERR_SHAPE, "input must have rank >= 1");
    weft_status st = weft_axis(k->node, a, x->rank, false, &axis);
    if (st) return st;
    bool excl = weft_attr_int(k->node, "exclusive", 0) != 0, rev = weft_attr_int(k->node, "reverse", 0) != 0;
    int64_t outer = 1, inner = 1, n = x->dims[axis];
    for (int d = 0; d < axis; d++) outer *= x->dims[d];
    for (int d = axis + 1; d < x->rank; d++) inner *= x->dims[d];
    WEFT_DISPATCH(x->dtype, CUMPROD_TYPES, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY
static weft_status cumprod_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, cumprod_body); }

/* --- RotaryEmbedding ----------------------------------------------------------------------------- */

/*
 * X is [B, H, S, D] or [B, S, H*D] (num_heads). The first rd = rotary_embedding_dim (default D) values of
 * each head rotate in pairs (x1, x2) — halves of the rd values, or even/odd neighbours when interleaved —
 * by the angle of position p: (x1 cos - x2 sin, x1 sin + x2 cos), with cos/sin = cache[p] ([P, rd/2], p
 * from position_ids [B, S]) or cache[b, s] ([B, S, rd/2], no position_ids). The rest pass through.
 */
typedef struct {
    bool three_d, interleaved, pos;
    int64_t B, H, S, D, rd, P;
} rope_geom;

static weft_status rope_geom_of(const weft_node_info *n, int rank, const int64_t *x, int crank, const int64_t *cd,
                                bool pos, rope_geom *g)
{
    memset(g, 0, sizeof *g);
    int64_t il = weft_attr_int(n, "interleaved", 0);
    if (il != 0 && il != 1) /* runtimes read other values differently: refuse them */
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "interleaved must be 0 or 1, got %lld", (long long)il);
    g->interleaved = il != 0;
    g->pos = pos;
    int64_t nh = weft_attr_int(n, "num_heads", 0);
    if (rank == 4) {
        g->B = x[0]; g->H = x[1]; g->S = x[2]; g->D = x[3];
    } else if (rank == 3) {
        if (nh < 1) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "3-D input needs num_heads >= 1");
        g->three_d = true;
        g->B = x[0]; g->S = x[1]; g->H = nh;
        if (x[2] % nh) return weft_op_error(n, WEFT_ERR_SHAPE, "hidden size %lld is not divisible by num_heads %lld", (long long)x[2], (long long)nh);
        g->D = x[2] / nh;
    } else return weft_op_error(n, WEFT_ERR_SHAPE, "input must have rank 3 or 4");
    int64_t rd = weft_attr_int(n, "rotary_embedding_dim", 0);
    g->rd = rd ? rd : g->D;
    if (g->rd < 0 || g->rd > g->D || g->rd % 2)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "rotary_embedding_dim %lld must be even and at most the head size %lld",
                             (long long)g->rd, (long long)g->D);
    if (pos) {
        if (crank != 2) return weft_op_error(n, WEFT_ERR_SHAPE, "with position_ids the caches must be [max position, rd/2]");
        g->P = cd[0];
    } else {
        if (crank != 3 || cd[0] != g->B || cd[1] != g->S)
            return weft_op_error(n, WEFT_ERR_SHAPE, "without position_ids the caches must be [B, S, rd/2]");
    }
    if (cd[crank - 1] != g->rd / 2)
        return weft_op_error(n, WEFT_ERR_SHAPE, "the caches' last dim %lld is not rotary_embedding_dim / 2 = %lld",
                             (long long)cd[crank - 1], (long long)(g->rd / 2));
    return WEFT_OK;
}

static weft_status rope_infer(weft_infer_ctx *c)
{
    weft_status st = need_float(c, 0);
    if (st) return st;
    for (int i = 1; i < 3; i++)
        if (c->in_dtype[i] != c->in_dtype[0])
            return weft_op_error(c->node, WEFT_ERR_TYPE, "input %d is %s but the input is %s", i,
                                 weft_dtype_name(c->in_dtype[i]), weft_dtype_name(c->in_dtype[0]));
    if (weft_in_present(c, 3) && (st = need_index(c, 3, "position_ids"))) return st;
    const weft_shape *x = &c->in_shape[0];
    if (x->rank >= 0 && x->rank != 3 && x->rank != 4)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input must have rank 3 or 4");
    if (x->rank == 3 && weft_attr_int(c->node, "num_heads", 0) < 1)
        return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "3-D input needs num_heads >= 1");
    return weft_infer_same_as_input0(c);
}

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data, *cs = k->in[1].data, *sn = k->in[2].data;                         \
        T *y = k->out[0].data;                                                                        \
        int64_t half = g.rd / 2;                                                                      \
        for (int64_t b = 0; b < g.B; b++)                                                             \
            for (int64_t h = 0; h < g.H; h++)                                                         \
                for (int64_t s = 0; s < g.S; s++) {                                                   \
                    int64_t base = g.three_d ? (b * g.S + s) * g.H * g.D + h * g.D                     \
                                             : ((b * g.H + h) * g.S + s) * g.D;                       \
                    int64_t crow;                                                                     \
                    if (g.pos) {                                                                      \
                        int64_t p = weft_load_i64(k->in[3].dtype, k->in[3].data, pstride ? b * g.S + s : s); \
                        if (p < 0 || p >= g.P)                                                        \
                            return weft_op_error(k->node, WEFT_ERR_INDEX,                             \
                                                 "position id %lld is out of range for a cache of %lld " \
                                                 "positions (axis 0)", (long long)p, (long long)g.P); \
                        crow = p * half;                                                              \
                    } else crow = (b * g.S + s) * half;                                               \
                    for (int64_t i = 0; i < half; i++) {                                              \
                        int64_t i1 = g.interleaved ? 2 * i : i, i2 = g.interleaved ? 2 * i + 1 : i + half; \
                        double x1 = x[base + i1], x2 = x[base + i2];                                  \
                        double co = cs[crow + i], si = sn[crow + i];                                  \
                        y[base + i1] = (T)(co * x1 - si * x2);                                        \
                        y[base + i2] = (T)(si * x1 + co * x2);                                        \
                    }                                                                                 \
                    for (int64_t i = g.rd; i < g.D; i++) y[base + i] = x[base + i];                   \
                }                                                                                     \
    }
static weft_status rope_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    bool pos = weft_kin_present(k, 3);
    rope_geom g;
    weft_status st = rope_geom_of(k->node, k->in[0].rank, k->in[0].dims, k->in[1].rank, k->in[1].dims, pos, &g);
    if (st) return st;
    for (int d = 0; d < k->in[1].rank; d++)
        if (k->in[2].rank != k->in[1].rank || k->in[2].dims[d] != k->in[1].dims[d])
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "cos_cache and sin_cache must have the same shape");
    bool pstride = false;
    if (pos) {
        /* position_ids: [B, S] (or [1, S] shared by the batch). */
        const weft_tview *p = &k->in[3];
        if (p->rank != 2 || (p->dims[0] != g.B && p->dims[0] != 1) || p->dims[1] != g.S)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "position_ids must be [B, S]");
        pstride = p->dims[0] == g.B && g.B != 1;
    }
    WEFT_DISPATCH(k->in[0].dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY
static weft_status rope_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, rope_body); }

/* --- LRN ----------------------------------------------------------------------------------------- */

static weft_status lrn_infer(weft_infer_ctx *c)
{
    weft_status st = need_float(c, 0);
    if (st) return st;
    int64_t size = weft_attr_int(c->node, "size", 0);
    if (size < 1) return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "attribute size must be >= 1");
    if (c->in_shape[0].rank >= 0 && c->in_shape[0].rank < 2)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input must have rank >= 2 ([N, C, ...])");
    return weft_infer_same_as_input0(c);
}

/* y = x / (bias + alpha / size * sum of x^2 over channels [c - floor((size-1)/2), c + ceil((size-1)/2)]) ^ beta */
#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data;                                                                   \
        T *y = k->out[0].data;                                                                        \
        for (int64_t b = 0; b < N; b++)                                                               \
            for (int64_t ch = 0; ch < C; ch++)                                                        \
                for (int64_t i = 0; i < inner; i++) {                                                 \
                    int64_t lo = ch - lo_w < 0 ? 0 : ch - lo_w, hi = ch + hi_w >= C ? C - 1 : ch + hi_w; \
                    double sq = 0;                                                                    \
                    for (int64_t q = lo; q <= hi; q++) {                                              \
                        double v = x[(b * C + q) * inner + i];                                        \
                        sq += v * v;                                                                  \
                    }                                                                                 \
                    int64_t at = (b * C + ch) * inner + i;                                            \
                    y[at] = (T)((double)x[at] / pow(bias + alpha / (double)size * sq, beta));         \
                }                                                                                     \
    }
static weft_status lrn_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    const weft_tview *xv = &k->in[0];
    int64_t size = weft_attr_int(k->node, "size", 1);
    double alpha = weft_attr_float(k->node, "alpha", 1e-4f), beta = weft_attr_float(k->node, "beta", 0.75f);
    double bias = weft_attr_float(k->node, "bias", 1.0f);
    int64_t lo_w = (size - 1) / 2, hi_w = size / 2; /* floor and ceil of (size - 1) / 2 */
    int64_t N = xv->dims[0], C = xv->dims[1], inner = 1;
    for (int d = 2; d < xv->rank; d++) inner *= xv->dims[d];
    WEFT_DISPATCH(xv->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY
static weft_status lrn_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, lrn_body); }

/* --- ReverseSequence ----------------------------------------------------------------------------- */

static weft_status revseq_axes(const weft_node_info *n, int rank, int *ta, int *ba)
{
    int64_t t = weft_attr_int(n, "time_axis", 0), b = weft_attr_int(n, "batch_axis", 1);
    if (rank < 2) return weft_op_error(n, WEFT_ERR_SHAPE, "input must have rank >= 2");
    if (!((t == 0 && b == 1) || (t == 1 && b == 0)))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "time_axis / batch_axis must be 0 / 1 or 1 / 0 (got %lld / %lld)",
                             (long long)t, (long long)b);
    *ta = (int)t;
    *ba = (int)b;
    return WEFT_OK;
}

static weft_status revseq_infer(weft_infer_ctx *c)
{
    weft_status st = need_index(c, 1, "sequence_lens");
    if (st) return st;
    if (c->in_shape[0].rank >= 0) {
        int ta, ba;
        if ((st = revseq_axes(c->node, c->in_shape[0].rank, &ta, &ba))) return st;
    }
    if (c->in_shape[1].rank >= 0 && c->in_shape[1].rank != 1)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "sequence_lens must be a vector");
    return weft_infer_same_as_input0(c);
}

static weft_status revseq_run(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0], *lens = &k->in[1];
    int ta = 0, ba = 0;
    weft_status st = revseq_axes(k->node, x->rank, &ta, &ba);
    if (st) return st;
    int64_t T = x->dims[ta], B = x->dims[ba], inner = 1;
    for (int d = 2; d < x->rank; d++) inner *= x->dims[d];
    if (lens->numel != B)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "sequence_lens has %lld values for batch %lld", (long long)lens->numel,
                             (long long)B);
    size_t es = weft_dtype_size(x->dtype);
    for (int64_t b = 0; b < B; b++) {
        int64_t L = weft_load_i64(lens->dtype, lens->data, b);
        if (L < 0 || L > T)
            return weft_op_error(k->node, WEFT_ERR_INDEX, "sequence_lens[%lld] = %lld is outside [0, %lld] (time axis %d)",
                                 (long long)b, (long long)L, (long long)T, ta);
        for (int64_t t = 0; t < T; t++) {
            int64_t src = t < L ? L - 1 - t : t;
            int64_t o = ta == 0 ? (t * B + b) : (b * T + t), i = ta == 0 ? (src * B + b) : (b * T + src);
            memcpy((char *)k->out[0].data + (size_t)(o * inner) * es, (const char *)x->data + (size_t)(i * inner) * es,
                   (size_t)inner * es);
        }
    }
    return WEFT_OK;
}

/* --- Det ----------------------------------------------------------------------------------------- */

static weft_status det_infer(weft_infer_ctx *c)
{
    weft_status st = need_float(c, 0);
    if (st) return st;
    const weft_shape *x = &c->in_shape[0];
    c->out_dtype[0] = c->in_dtype[0];
    if (x->rank < 0) { c->out_shape[0].rank = -1; return WEFT_OK; }
    if (x->rank < 2) return weft_op_error(c->node, WEFT_ERR_SHAPE, "input must have rank >= 2 ([..., M, M])");
    weft_dim a = x->d[x->rank - 2], b = x->d[x->rank - 1];
    if (weft_dim_known(a) && weft_dim_known(b) && a.v != b.v)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "matrices must be square (got %lld x %lld)", (long long)a.v, (long long)b.v);
    c->out_shape[0].rank = x->rank - 2;
    for (int d = 0; d < x->rank - 2; d++) c->out_shape[0].d[d] = x->d[d];
    return WEFT_OK;
}

/* Gaussian elimination with partial pivoting in double (scratch: one M x M matrix). */
#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data;                                                                   \
        T *y = k->out[0].data;                                                                        \
        for (int64_t b = 0; b < batch; b++) {                                                         \
            for (int64_t i = 0; i < M * M; i++) a[i] = (double)x[b * M * M + i];                      \
            double det = 1;                                                                           \
            for (int64_t col = 0; col < M && det != 0; col++) {                                       \
                int64_t piv = col;                                                                    \
                for (int64_t r = col + 1; r < M; r++)                                                 \
                    if (fabs(a[r * M + col]) > fabs(a[piv * M + col])) piv = r;                       \
                if (a[piv * M + col] == 0) { det = 0; break; }                                        \
                if (piv != col) {                                                                     \
                    for (int64_t q = 0; q < M; q++) {                                                 \
                        double t = a[col * M + q]; a[col * M + q] = a[piv * M + q]; a[piv * M + q] = t; \
                    }                                                                                 \
                    det = -det;                                                                       \
                }                                                                                     \
                det *= a[col * M + col];                                                              \
                for (int64_t r = col + 1; r < M; r++) {                                               \
                    double f = a[r * M + col] / a[col * M + col];                                     \
                    for (int64_t q = col; q < M; q++) a[r * M + q] -= f * a[col * M + q];             \
                }                                                                                     \
            }                                                                                         \
            y[b] = (T)det;                                                                            \
        }                                                                                             \
    }
static weft_status det_body(weft_kernel_ctx *k, void *scratch)
{
    const weft_tview *x = &k->in[0];
    int64_t M = x->dims[x->rank - 1], batch = k->out[0].numel;
    double *a = scratch;
    if (M == 0) {
        for (int64_t b = 0; b < batch; b++) weft_store_f64(k->out[0].dtype, k->out[0].data, b, 1.0);
        return WEFT_OK;
    }
    WEFT_DISPATCH(x->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY
static weft_status det_run(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    int64_t M = x->dims[x->rank - 1];
    if (x->dims[x->rank - 2] != M) return weft_op_error(k->node, WEFT_ERR_SHAPE, "matrices must be square");
    if (M > ((int64_t)1 << 14)) return weft_op_error(k->node, WEFT_ERR_SHAPE, "matrix of size %lld is too large", (long long)M);
    return weft_math_run_widened(k, (size_t)(M * M + 1) * sizeof(double), det_body);
}

/* --- Binarizer (ai.onnx.ml) ---------------------------------------------------------------------- */

static weft_status binarizer_infer(weft_infer_ctx *c)
{
    weft_dtype dt = c->in_dtype[0];
    if (!weft_dtype_is_float(dt) && dt != WEFT_INT32 && dt != WEFT_INT64)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported", weft_dtype_name(dt));
    return weft_infer_same_as_input0(c);
}

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data;                                                                   \
        T *y = k->out[0].data;                                                                        \
        for (int64_t i = 0; i < k->in[0].numel; i++) y[i] = (T)((double)x[i] > th ? 1 : 0);           \
    }
static weft_status binarizer_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    double th = weft_attr_float(k->node, "threshold", 0.0f);
#define BIN_TYPES(X) WEFT_TYPES_FLOAT(X) X(WEFT_INT64, int64_t) X(WEFT_INT32, int32_t)
    WEFT_DISPATCH(k->in[0].dtype, BIN_TYPES, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY
static weft_status binarizer_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, binarizer_body); }

/* --- CenterCropPad ------------------------------------------------------------------------------- */

/* Target size per axis of x (rank r) from the shape input; *known false when its values are unknown. */
static weft_status ccp_targets(const weft_node_info *n, int r, const int64_t *shape, int ns, int64_t *tgt,
                               bool *listed)
{
    const int64_t *av;
    int na = weft_attr_ints(n, "axes", &av);
    int cnt = na < 0 ? r : na;
    if (ns != cnt) return weft_op_error(n, WEFT_ERR_SHAPE, "shape has %d values for %d axes", ns, cnt);
    for (int d = 0; d < r; d++) listed[d] = false;
    for (int i = 0; i < cnt; i++) {
        int ax = i;
        if (na >= 0) {
            weft_status st = weft_axis(n, av[i], r, false, &ax);
            if (st) return st;
        }
        if (listed[ax]) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "axis %d appears twice in axes", ax);
        if (shape[i] < 0) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "shape[%d] = %lld is negative", i, (long long)shape[i]);
        listed[ax] = true;
        tgt[ax] = shape[i];
    }
    return WEFT_OK;
}

static weft_status ccp_infer(weft_infer_ctx *c)
{
    weft_status st = need_index(c, 1, "shape");
    if (st) return st;
    const weft_shape *x = &c->in_shape[0];
    c->out_dtype[0] = c->in_dtype[0];
    weft_shape *y = &c->out_shape[0];
    if (x->rank < 0) { y->rank = -1; return WEFT_OK; }
    y->rank = x->rank;
    int64_t shape[WEFT_MAX_RANK], tgt[WEFT_MAX_RANK];
    bool listed[WEFT_MAX_RANK];
    int ns = weft_infer_int_values(c, 1, shape, WEFT_MAX_RANK);
    if (ns == -2) return WEFT_ERR_SHAPE;
    if (ns < 0) {
        for (int d = 0; d < x->rank; d++) y->d[d] = weft_dim_unknown(c);
        return WEFT_OK;
    }
    if ((st = ccp_targets(c->node, x->rank, shape, ns, tgt, listed))) return st;
    for (int d = 0; d < x->rank; d++) y->d[d] = listed[d] ? weft_dim_num(tgt[d]) : x->d[d];
    return WEFT_OK;
}

/* Crop: the window starts at floor((in - out) / 2); pad: the input starts at floor((out - in) / 2). */
static weft_status ccp_run(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    weft_tview *y = &k->out[0];
    int r = x->rank;
    int64_t shape[WEFT_MAX_RANK], tgt[WEFT_MAX_RANK];
    bool listed[WEFT_MAX_RANK];
    if (k->in[1].numel > WEFT_MAX_RANK) return weft_op_error(k->node, WEFT_ERR_SHAPE, "shape has too many values");
    for (int64_t i = 0; i < k->in[1].numel; i++) shape[i] = weft_load_i64(k->in[1].dtype, k->in[1].data, i);
    weft_status st = ccp_targets(k->node, r, shape, (int)k->in[1].numel, tgt, listed);
    if (st) return st;
    int64_t shift[WEFT_MAX_RANK], istr[WEFT_MAX_RANK];
    for (int d = 0; d < r; d++) {
        int64_t in = x->dims[d], out = y->dims[d];
        shift[d] = !listed[d] ? 0 : in >= out ? (in - out) / 2 : -((out - in) / 2);
    }
    weft_strides(x->dims, r, istr);
    size_t es = weft_dtype_size(x->dtype);
    int64_t idx[WEFT_MAX_RANK] = {0};
    for (int64_t o = 0; o < y->numel; o++) {
        int64_t src = 0;
        bool inside = true;
        for (int d = 0; d < r; d++) {
            int64_t p = idx[d] + shift[d];
            if (p < 0 || p >= x->dims[d]) inside = false;
            src += p * istr[d];
        }
        char *dst = (char *)y->data + (size_t)o * es;
        if (inside) memcpy(dst, (const char *)x->data + (size_t)src * es, es);
        else memset(dst, 0, es);
        for (int d = r - 1; d >= 0; d--) {
            if (++idx[d] < y->dims[d]) break;
            idx[d] = 0;
        }
    }
    return WEFT_OK;
}

/* --- MaxUnpool ----------------------------------------------------------------------------------- */

/* Default output size per spatial axis: (in - 1) * stride + kernel - pad_begin - pad_end. */
static weft_status unpool_infer(weft_infer_ctx *c)
{
    const weft_node_info *n = c->node;
    if (c->in_dtype[1] != WEFT_INT64) return weft_op_error(n, WEFT_ERR_TYPE, "indices must be int64");
    c->out_dtype[0] = c->in_dtype[0];
    const weft_shape *x = &c->in_shape[0];
    weft_shape *y = &c->out_shape[0];
    if (x->rank < 0) { y->rank = -1; return WEFT_OK; }
    win_geom w;
    weft_status st = win_read(n, x->rank - 2, NULL, false, &w);
    if (st) return st;
    y->rank = x->rank;
    if (weft_in_present(c, 2)) {
        int64_t os[WEFT_MAX_RANK];
        int cnt = weft_infer_int_values(c, 2, os, WEFT_MAX_RANK);
        if (cnt == -2) return WEFT_ERR_SHAPE;
        for (int d = 0; d < x->rank; d++) y->d[d] = cnt < 0 ? weft_dim_unknown(c) : weft_dim_num(os[d]);
        if (cnt >= 0 && cnt != x->rank)
            return weft_op_error(n, WEFT_ERR_SHAPE, "output_shape has %d values for rank %d", cnt, x->rank);
        return WEFT_OK;
    }
    y->d[0] = x->d[0];
    y->d[1] = x->d[1];
    for (int i = 0; i < w.nsp; i++) {
        weft_dim d = x->d[i + 2];
        if (!weft_dim_known(d)) { y->d[i + 2] = weft_dim_unknown(c); continue; }
        int64_t o = (d.v - 1) * w.s[i] + w.k[i] - w.pb[i] - w.pe[i];
        if (o < 0) return weft_op_error(n, WEFT_ERR_SHAPE, "spatial axis %d: output size %lld is negative", i, (long long)o);
        y->d[i + 2] = weft_dim_num(o);
    }
    return WEFT_OK;
}

/*
 * Indices are flat positions in the default-size output (the MaxPool input they came from); with an
 * output_shape, that default-size block sits at the start of every axis of the larger output, the rest 0.
 */
static weft_status unpool_run(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0], *ind = &k->in[1];
    weft_tview *y = &k->out[0];
    int r = x->rank;
    if (ind->numel != x->numel) return weft_op_error(k->node, WEFT_ERR_SHAPE, "indices must have the input's shape");
    if (y->rank != r) return weft_op_error(k->node, WEFT_ERR_SHAPE, "output_shape must have the input's rank");
    win_geom w;
    weft_status st = win_read(k->node, r - 2, NULL, false, &w);
    if (st) return st;
    int64_t def[WEFT_MAX_RANK], dstr[WEFT_MAX_RANK], ystr[WEFT_MAX_RANK];
    def[0] = x->dims[0];
    def[1] = x->dims[1];
    for (int i = 0; i < w.nsp; i++) def[i + 2] = (x->dims[i + 2] - 1) * w.s[i] + w.k[i] - w.pb[i] - w.pe[i];
    for (int d = 0; d < r; d++)
        if (def[d] < 0 || def[d] > y->dims[d])
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "output axis %d (%lld) is smaller than the unpooled size %lld", d,
                                 (long long)y->dims[d], (long long)def[d]);
    weft_strides(def, r, dstr);
    weft_strides(y->dims, r, ystr);
    int64_t defn = 1;
    for (int d = 0; d < r; d++) defn *= def[d];
    size_t es = weft_dtype_size(x->dtype);
    memset(y->data, 0, (size_t)y->numel * es);
    const int64_t *iv = ind->data;
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t t = iv[i];
        if (t < 0 || t >= defn)
            return weft_op_error(k->node, WEFT_ERR_INDEX, "index %lld is outside the unpooled tensor of %lld elements",
                                 (long long)t, (long long)defn);
        int64_t rem = t, dst = 0;
        for (int d = 0; d < r; d++) {
            dst += rem / dstr[d] * ystr[d];
            rem %= dstr[d];
        }
        memcpy((char *)y->data + (size_t)dst * es, (const char *)x->data + (size_t)i * es, es);
    }
    return WEFT_OK;
}

/* --- Einsum -------------------------------------------------------------------------------------- */

/*
 * Labels: letters a-z A-Z are 0..51; the ellipsis's axes are 52 + j (right-aligned across the inputs, a
 * size of 1 broadcasting). Without "->" the output is the ellipsis then the letters used exactly once, in
 * ASCII order. Every output element sums, over all values of the labels missing from the output, the
 * product of the inputs' elements (a label repeated in one input reads its diagonal).
 */
enum { ES_LETTERS = 52, ES_MAX_LABELS = ES_LETTERS + WEFT_MAX_RANK, ES_MAX_IN = 8 };

typedef struct {
    int n_in, rank[ES_MAX_IN], lab[ES_MAX_IN][WEFT_MAX_RANK];
    int out_rank, out_lab[WEFT_MAX_RANK];
    int n_sum, sum_lab[ES_MAX_LABELS];
    int64_t size[ES_MAX_LABELS]; /* -1: not yet seen; -2: unknown (symbolic) */
} es_plan;

static int es_letter(char ch)
{
    if (ch >= 'a' && ch <= 'z') return ch - 'a';
    if (ch >= 'A' && ch <= 'Z') return 26 + ch - 'A';
    return -1;
}

/* Parses one term of `len` chars into labels; *ell: ellipsis position (-1 none), *n: letter count. */
static weft_status es_term(const weft_node_info *n, const char *t, size_t len, int *lab, int *nl, int *ell)
{
    *nl = 0;
    *ell = -1;
    for (size_t i = 0; i < len; i++) {
        if (t[i] == ' ') continue;
        if (t[i] == '.') {
            if (*ell >= 0 || i + 2 >= len || t[i + 1] != '.' || t[i + 2] != '.')
                return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "equation: malformed ellipsis");
            *ell = *nl;
            i += 2;
            continue;
        }
        int l = es_letter(t[i]);
        if (l < 0) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "equation: unexpected character '%c'", t[i]);
        if (*nl >= WEFT_MAX_RANK) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "equation: too many subscripts");
        lab[(*nl)++] = l;
    }
    return WEFT_OK;
}

/* Builds the plan for inputs of ranks/dims (dims entries -1 when unknown). */
static weft_status es_plan_make(const weft_node_info *n, int n_in, const int *ranks, const int64_t (*dims)[WEFT_MAX_RANK],
                                es_plan *p)
{
    const char *eq = weft_attr_string(n, "equation", NULL);
    if (!eq) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute equation is required");
    if (n_in > ES_MAX_IN) return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "more than %d inputs", ES_MAX_IN);
    memset(p, 0, sizeof *p);
    for (int l = 0; l < ES_MAX_LABELS; l++) p->size[l] = -1;
    p->n_in = n_in;
    const char *arrow = strstr(eq, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - eq) : strlen(eq);
    int E = 0, letters[ES_MAX_IN][WEFT_MAX_RANK], nls[ES_MAX_IN], ells[ES_MAX_IN];
    int count[ES_LETTERS] = {0};
    const char *t = eq;
    for (int i = 0; i < n_in; i++) {
        const char *end = memchr(t, ',', lhs_len - (size_t)(t - eq));
        size_t len = end ? (size_t)(end - t) : lhs_len - (size_t)(t - eq);
        if (!end && i != n_in - 1) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "equation has fewer terms than the %d inputs", n_in);
        weft_status st = es_term(n, t, len, letters[i], &nls[i], &ells[i]);
        if (st) return st;
        int ne = ranks[i] - nls[i];
        if (ne < 0 || (ells[i] < 0 && ne != 0))
            return weft_op_error(n, WEFT_ERR_SHAPE, "input %d has rank %d but its term has %d subscripts", i, ranks[i], nls[i]);
        if (ne > E) E = ne;
        for (int j = 0; j < nls[i]; j++) count[letters[i][j]]++;
        t = end ? end + 1 : t + len;
    }
    if (memchr(t, ',', lhs_len - (size_t)(t - eq))) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "equation has more terms than inputs");
    /* Input labels and sizes. */
    for (int i = 0; i < n_in; i++) {
        int ne = ranks[i] - nls[i], k = 0;
        for (int j = 0; j <= nls[i]; j++) {
            if (j == ells[i])
                for (int e = 0; e < ne; e++) p->lab[i][k++] = ES_LETTERS + E - ne + e;
            if (j < nls[i]) p->lab[i][k++] = letters[i][j];
        }
        p->rank[i] = ranks[i];
        for (int a = 0; a < ranks[i]; a++) {
            int l = p->lab[i][a];
            int64_t d = dims[i][a];
            if (d < 0) { if (p->size[l] == -1) p->size[l] = -2; continue; }
            if (p->size[l] < 0) p->size[l] = d;
            else if (p->size[l] != d) {
                /* Ellipsis axes broadcast: a 1 takes the other size. */
                if (l >= ES_LETTERS && d == 1) continue;
                if (l >= ES_LETTERS && p->size[l] == 1) { p->size[l] = d; continue; }
                return weft_op_error(n, WEFT_ERR_SHAPE, "subscript of input %d axis %d has size %lld, elsewhere %lld", i, a,
                                     (long long)d, (long long)p->size[l]);
            }
        }
    }
    /* Output labels. */
    bool in_out[ES_MAX_LABELS] = {false};
    if (arrow) {
        int ol[WEFT_MAX_RANK], nol, oell;
        weft_status st = es_term(n, arrow + 2, strlen(arrow + 2), ol, &nol, &oell);
        if (st) return st;
        /* Without an ellipsis in the output, the ellipsis's axes are summed. */
        for (int j = 0; j <= nol; j++) {
            if (j == oell)
                for (int e = 0; e < E; e++) p->out_lab[p->out_rank++] = ES_LETTERS + e;
            if (j < nol) {
                if (!count[ol[j]]) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "output subscript '%c' is not an input's", arrow[2 + j]);
                if (in_out[ol[j]]) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "output subscript repeated");
                p->out_lab[p->out_rank++] = ol[j];
                in_out[ol[j]] = true;
            }
            if (p->out_rank > WEFT_MAX_RANK) return weft_op_error(n, WEFT_ERR_SHAPE, "output rank too large");
        }
        for (int e = 0; e < E; e++) if (oell >= 0) in_out[ES_LETTERS + e] = true;
    } else {
        for (int e = 0; e < E; e++) { p->out_lab[p->out_rank++] = ES_LETTERS + e; in_out[ES_LETTERS + e] = true; }
        static const char ascii[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        for (int c = 0; ascii[c]; c++) {
            int l = es_letter(ascii[c]);
            if (count[l] == 1) {
                if (p->out_rank >= WEFT_MAX_RANK) return weft_op_error(n, WEFT_ERR_SHAPE, "output rank too large");
                p->out_lab[p->out_rank++] = l;
                in_out[l] = true;
            }
        }
    }
    for (int l = 0; l < ES_MAX_LABELS; l++)
        if (p->size[l] != -1 && !in_out[l]) p->sum_lab[p->n_sum++] = l;
    return WEFT_OK;
}

static weft_status einsum_infer(weft_infer_ctx *c)
{
    weft_dtype dt = c->in_dtype[0];
    if (!weft_dtype_is_float(dt))
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported (floats only)", weft_dtype_name(dt));
    int ranks[ES_MAX_IN];
    int64_t dims[ES_MAX_IN][WEFT_MAX_RANK];
    if (c->n_in > ES_MAX_IN) return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "more than %d inputs", ES_MAX_IN);
    c->out_dtype[0] = dt;
    for (int i = 0; i < c->n_in; i++) {
        if (c->in_dtype[i] != dt)
            return weft_op_error(c->node, WEFT_ERR_TYPE, "input %d is %s but input 0 is %s", i,
                                 weft_dtype_name(c->in_dtype[i]), weft_dtype_name(dt));
        if (c->in_shape[i].rank < 0) { c->out_shape[0].rank = -1; return WEFT_OK; }
        ranks[i] = c->in_shape[i].rank;
        for (int a = 0; a < ranks[i]; a++) dims[i][a] = weft_dim_known(c->in_shape[i].d[a]) ? c->in_shape[i].d[a].v : -1;
    }
    es_plan p;
    weft_status st = es_plan_make(c->node, c->n_in, ranks, (const int64_t(*)[WEFT_MAX_RANK])dims, &p);
    if (st) return st;
    c->out_shape[0].rank = p.out_rank;
    for (int a = 0; a < p.out_rank; a++) {
        int64_t s = p.size[p.out_lab[a]];
        c->out_shape[0].d[a] = s >= 0 ? weft_dim_num(s) : weft_dim_unknown(c);
    }
    return WEFT_OK;
}

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        T *y = k->out[0].data;                                                                        \
        int64_t idx[ES_MAX_LABELS] = {0};                                                             \
        for (int64_t o = 0; o < k->out[0].numel; o++) {                                               \
            int64_t rem = o;                                                                          \
            for (int a = p.out_rank - 1; a >= 0; a--) {                                               \
                int64_t s = p.size[p.out_lab[a]];                                                     \
                idx[p.out_lab[a]] = rem % s;                                                          \
                rem /= s;                                                                             \
            }                                                                                         \
            for (int q = 0; q < p.n_sum; q++) idx[p.sum_lab[q]] = 0;                                  \
            double acc = 0;                                                                           \
            for (int64_t t = 0; t < nsum; t++) {                                                      \
                double prod = 1;                                                                      \
                for (int i = 0; i < p.n_in; i++) {                                                    \
                    int64_t off = 0;                                                                  \
                    for (int a = 0; a < p.rank[i]; a++) off += idx[p.lab[i][a]] * str[i][a];          \
                    prod *= (double)((const T *)k->in[i].data)[off];                                  \
                }                                                                                     \
                acc += prod;                                                                          \
                for (int q = p.n_sum - 1; q >= 0; q--) {                                              \
                    if (++idx[p.sum_lab[q]] < p.size[p.sum_lab[q]]) break;                            \
                    idx[p.sum_lab[q]] = 0;                                                            \
                }                                                                                     \
            }                                                                                         \
            y[o] = (T)acc;                                                                            \
        }                                                                                             \
    }
static weft_status einsum_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    int ranks[ES_MAX_IN];
    int64_t dims[ES_MAX_IN][WEFT_MAX_RANK], str[ES_MAX_IN][WEFT_MAX_RANK];
    for (int i = 0; i < k->n_in && i < ES_MAX_IN; i++) {
        ranks[i] = k->in[i].rank;
        memcpy(dims[i], k->in[i].dims, sizeof dims[i]);
    }
    es_plan p;
    weft_status st = es_plan_make(k->node, k->n_in, ranks, (const int64_t(*)[WEFT_MAX_RANK])dims, &p);
    if (st) return st;
    int64_t nsum = 1;
    for (int q = 0; q < p.n_sum; q++) nsum *= p.size[p.sum_lab[q]];
    for (int i = 0; i < p.n_in; i++) {
        weft_strides(dims[i], ranks[i], str[i]);
        /* A broadcast (size 1) ellipsis axis always reads index 0. */
        for (int a = 0; a < ranks[i]; a++) if (dims[i][a] == 1) str[i][a] = 0;
    }
    WEFT_DISPATCH(k->in[0].dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY
static weft_status einsum_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, einsum_body); }

/* --- HannWindow, HammingWindow, BlackmanWindow ----------------------------------------------------- */

/* w[n] for n in [0, size) over D = size (periodic) or size - 1 (symmetric), in output_datatype. */
static weft_status window_infer(weft_infer_ctx *c)
{
    const weft_node_info *n = c->node;
    weft_status st = need_index(c, 0, "size");
    if (st) return st;
    if (c->in_shape[0].rank > 0 && !(c->in_shape[0].rank == 1 && weft_dim_known(c->in_shape[0].d[0]) && c->in_shape[0].d[0].v == 1))
        return weft_op_error(n, WEFT_ERR_SHAPE, "size must be a scalar");
    int64_t odt = weft_attr_int(n, "output_datatype", WEFT_FLOAT32);
    weft_dtype dt = (weft_dtype)odt;
    if (odt < 0 || odt > 64 || (!weft_dtype_is_float(dt) && !weft_dtype_is_integer(dt)))
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "output_datatype %lld is not supported", (long long)odt);
    c->out_dtype[0] = dt;
    c->out_shape[0].rank = 1;
    int64_t size;
    int cnt = weft_infer_int_values(c, 0, &size, 1);
    if (cnt == -2) return WEFT_ERR_SHAPE;
    if (cnt < 0) { c->out_shape[0].d[0] = weft_dim_unknown(c); return WEFT_OK; }
    if (cnt != 1 || size < 0 || size > ((int64_t)1 << 40))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "size must be one value >= 0");
    c->out_shape[0].d[0] = weft_dim_num(size);
    return WEFT_OK;
}

static weft_status window_run(weft_kernel_ctx *k)
{
    weft_tview *y = &k->out[0];
    int64_t N = y->numel;
    double D = weft_attr_int(k->node, "periodic", 1) ? (double)N : (double)(N - 1);
    const char *op = k->node->op_type;
    for (int64_t i = 0; i < N; i++) {
        double t = 2 * M_PI * (double)i / D, v;
        if (strcmp(op, "HannWindow") == 0) v = 0.5 - 0.5 * cos(t);
        else if (strcmp(op, "HammingWindow") == 0) v = 25.0 / 46.0 - (1 - 25.0 / 46.0) * cos(t);
        else v = 0.42 - 0.5 * cos(t) + 0.08 * cos(2 * t);
        weft_store_f64(y->dtype, y->data, i, v);
    }
    return WEFT_OK;
}

/* --- GridSample ---------------------------------------------------------------------------------- */

/*
 * X [N, C, D1..Dk], grid [N, O1..Ok, k] of normalised coordinates in [-1, 1] (the last component indexes
 * the last axis) -> Y [N, C, O1..Ok]. A coordinate g maps to (g + 1) / 2 * (d - 1) with align_corners,
 * else ((g + 1) * d - 1) / 2 (rounded to float, as the spec's reference does). nearest rounds half to
 * even; linear and cubic (Keys, a = -0.75) take 2 or 4 taps per axis. A coordinate outside the border
 * ([0, d-1] with align_corners, else [-0.5, d-0.5]) is clamped (border) or reflected (reflection); taps
 * outside the input then read 0 (zeros), the edge (border) or their reflection.
 */
enum { GS_NEAREST, GS_LINEAR, GS_CUBIC };
enum { GP_ZEROS, GP_BORDER, GP_REFLECTION };

static weft_status gs_attrs(const weft_node_info *n, int *mode, int *pad)
{
    const char *m = weft_attr_string(n, "mode", n->opset >= 20 ? "linear" : "bilinear");
    if (strcmp(m, "nearest") == 0) *mode = GS_NEAREST;
    else if (strcmp(m, "linear") == 0 || strcmp(m, "bilinear") == 0) *mode = GS_LINEAR;
    else if (strcmp(m, "cubic") == 0 || strcmp(m, "bicubic") == 0) *mode = GS_CUBIC;
    else return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "mode '%s' is not nearest, linear or cubic", m);
    const char *p = weft_attr_string(n, "padding_mode", "zeros");
    if (strcmp(p, "zeros") == 0) *pad = GP_ZEROS;
    else if (strcmp(p, "border") == 0) *pad = GP_BORDER;
    else if (strcmp(p, "reflection") == 0) *pad = GP_REFLECTION;
    else return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "padding_mode '%s' is not zeros, border or reflection", p);
    return WEFT_OK;
}

static weft_status gs_infer(weft_infer_ctx *c)
{
    int mode, pad;
    weft_status st = gs_attrs(c->node, &mode, &pad);
    if (st) return st;
    if ((st = need_float(c, 0)) || (st = need_float(c, 1))) return st;
    const weft_shape *x = &c->in_shape[0], *g = &c->in_shape[1];
    c->out_dtype[0] = c->in_dtype[0];
    if (x->rank < 0 || g->rank < 0) { c->out_shape[0].rank = x->rank >= 0 ? x->rank : g->rank; for (int d = 0; d < c->out_shape[0].rank; d++) c->out_shape[0].d[d] = weft_dim_unknown(c); return WEFT_OK; }
    if (x->rank < 3 || g->rank != x->rank)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "X must be [N, C, spatial...] and grid [N, spatial..., k] of the same rank");
    if (weft_dim_known(g->d[g->rank - 1]) && g->d[g->rank - 1].v != x->rank - 2)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "grid's last dim must be %d", x->rank - 2);
    if (weft_dim_known(x->d[0]) && weft_dim_known(g->d[0]) && x->d[0].v != g->d[0].v)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "X and grid disagree on the batch");
    weft_shape *y = &c->out_shape[0];
    y->rank = x->rank;
    y->d[0] = x->d[0];
    y->d[1] = x->d[1];
    for (int d = 2; d < x->rank; d++) y->d[d] = g->d[d - 1];
    return WEFT_OK;
}

static double gs_reflect(double x, double lo, double hi)
{
    double rng = hi - lo;
    if (rng <= 0) return lo;
    if (x < lo) {
        double dx = lo - x;
        int64_t k = (int64_t)(dx / rng);
        double r = dx - (double)k * rng;
        return k % 2 == 0 ? lo + r : hi - r;
    }
    if (x > hi) {
        double dx = x - hi;
        int64_t k = (int64_t)(dx / rng);
        double r = dx - (double)k * rng;
        return k % 2 == 0 ? hi - r : lo + r;
    }
    return x;
}

static void gs_cubic(double t, double *w)
{
    const double A = -0.75;
    double a = t + 1, b = t, c = 1 - t, d = 2 - t;
    w[0] = ((A * a - 5 * A) * a + 8 * A) * a - 4 * A;
    w[1] = ((A + 2) * b - (A + 3)) * b * b + 1;
    w[2] = ((A + 2) * c - (A + 3)) * c * c + 1;
    w[3] = ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
}

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data, *gr = k->in[1].data;                                              \
        T *y = k->out[0].data;                                                                        \
        for (int64_t b = 0; b < N; b++)                                                               \
            for (int64_t o = 0; o < out_plane; o++) {                                                 \
                const T *gp = gr + (b * out_plane + o) * nsp;                                         \
                /* Per axis: first tap, tap count, weights. */                                        \
                int64_t first[WEFT_MAX_RANK], ntap[WEFT_MAX_RANK];                                    \
                double w[WEFT_MAX_RANK][4];                                                           \
                for (int a = 0; a < nsp; a++) {                                                       \
                    double dim = (double)in[a], g = (double)gp[nsp - 1 - a];                          \
                    double v = (float)(align ? (g + 1) / 2 * (dim - 1) : ((g + 1) * dim - 1) / 2);    \
                    double lo = align ? 0 : -0.5, hi = align ? dim - 1 : dim - 0.5;                   \
                    /* NaN / inf count as outside; |v| <= 1e15 keeps gs_reflect's period count and    \
                     * the tap indices below within int64 (float coordinates that large have no      \
                     * fraction left anyway). */                                                     \
                    if (!isfinite(v)) v = lo - 4;                                                     \
                    else if (v < -1e15) v = -1e15;                                                    \
                    else if (v > 1e15) v = 1e15;                                                      \
                    if (mode == GS_NEAREST) v = nearbyint(v);                                         \
                    if (v < lo || v > hi) {                                                           \
                        if (pad == GP_BORDER) v = v < 0 ? 0 : v > dim - 1 ? dim - 1 : v;              \
                        else if (pad == GP_REFLECTION) v = gs_reflect(v, lo, hi);                     \
                    }                                                                                 \
                    /* Zeros padding: a few pixels out reads nothing, as does any farther. */         \
                    if (v < lo - 4) v = lo - 4;                                                       \
                    else if (v > hi + 4) v = hi + 4;                                                  \
                    if (mode == GS_NEAREST) {                                                         \
                        first[a] = (int64_t)v; ntap[a] = 1; w[a][0] = 1;                              \
                    } else {                                                                          \
                        double f = floor(v), t = v - f;                                               \
                        if (mode == GS_LINEAR) { first[a] = (int64_t)f; ntap[a] = 2; w[a][0] = 1 - t; w[a][1] = t; } \
                        else { first[a] = (int64_t)f - 1; ntap[a] = 4; gs_cubic(t, w[a]); }           \
                    }                                                                                 \
                }                                                                                     \
                int64_t ntaps = 1;                                                                    \
                for (int a = 0; a < nsp; a++) ntaps *= ntap[a];                                       \
                for (int64_t ch = 0; ch < C; ch++) {                                                  \
                    const T *xp = x + (b * C + ch) * in_plane;                                        \
                    double acc = 0;                                                                   \
                    int64_t ti[WEFT_MAX_RANK] = {0};                                                  \
                    for (int64_t t = 0; t < ntaps; t++) {                                             \
                        double wt = 1;                                                                \
                        int64_t off = 0;                                                              \
                        bool zero = false;                                                            \
                        for (int a = 0; a < nsp; a++) {                                               \
                            int64_t i = first[a] + ti[a];                                             \
                            wt *= w[a][ti[a]];                                                        \
                            if (i < 0 || i >= in[a]) {                                                \
                                if (pad == GP_ZEROS) zero = true;                                     \
                                else if (pad == GP_BORDER) i = i < 0 ? 0 : in[a] - 1;                 \
                                else {                                                                \
                                    double lo = align ? 0 : -0.5, hi = align ? (double)in[a] - 1 : (double)in[a] - 0.5; \
                                    i = (int64_t)gs_reflect((double)i, lo, hi);                       \
                                    i = i < 0 ? 0 : i >= in[a] ? in[a] - 1 : i;                       \
                                }                                                                     \
                            }                                                                         \
                            off = off * in[a] + i;                                                    \
                        }                                                                             \
                        if (!zero) acc += wt * (double)xp[off];                                       \
                        for (int a = nsp - 1; a >= 0; a--) {                                          \
                            if (++ti[a] < ntap[a]) break;                                             \
                            ti[a] = 0;                                                                \
                        }                                                                             \
                    }                                                                                 \
                    y[(b * C + ch) * out_plane + o] = (T)acc;                                         \
                }                                                                                     \
            }                                                                                         \
    }
static weft_status gs_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    int mode, pad;
    weft_status st = gs_attrs(k->node, &mode, &pad);
    if (st) return st;
    const weft_tview *xv = &k->in[0], *gv = &k->in[1];
    if (xv->dtype != gv->dtype)
        return weft_op_error(k->node, WEFT_ERR_UNSUPPORTED, "X (%s) and grid (%s) of different dtypes are not supported",
                             weft_dtype_name(xv->dtype), weft_dtype_name(gv->dtype));
    int nsp = xv->rank - 2;
    bool align = weft_attr_int(k->node, "align_corners", 0) != 0;
    int64_t N = xv->dims[0], C = xv->dims[1], in[WEFT_MAX_RANK], in_plane = 1, out_plane = 1;
    for (int a = 0; a < nsp; a++) {
        in[a] = xv->dims[a + 2];
        in_plane *= in[a];
        out_plane *= gv->dims[a + 1];
    }
    if (in_plane == 0 && k->out[0].numel > 0)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "cannot sample an empty input");
    WEFT_DISPATCH(xv->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY
static weft_status gs_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, gs_body); }

/* --- NonMaxSuppression ---------------------------------------------------------------------------- */

/*
 * boxes [B, S, 4], scores [B, C, S]; optional scalars max_output_boxes_per_class (absent or 0: nothing),
 * iou_threshold, score_threshold. Per (batch, class), boxes are visited by score, highest first (ties:
 * lower index first), skipping scores not above score_threshold when it is given; a box is kept unless
 * its IoU with an already kept box of the class exceeds iou_threshold, until max_output boxes are kept.
 * Output [kept, 3] rows (batch, class, box) in that order. center_point_box 0: [y1, x1, y2, x2] with the
 * corners in either order; 1: [x_center, y_center, width, height].
 */
typedef struct {
    int64_t B, S, C, max_out;
    double iou, score_th;
    bool has_score_th, center;
} nms_args;

static void nms_extent(const nms_args *a, const double *b, double *x0, double *x1, double *y0, double *y1)
{
    if (a->center) {
        *x0 = b[0] - b[2] / 2; *x1 = b[0] + b[2] / 2;
        *y0 = b[1] - b[3] / 2; *y1 = b[1] + b[3] / 2;
    } else {
        *x0 = fmin(b[1], b[3]); *x1 = fmax(b[1], b[3]);
        *y0 = fmin(b[0], b[2]); *y1 = fmax(b[0], b[2]);
    }
}

static bool nms_suppress(const nms_args *a, const double *p, const double *q)
{
    double ax0, ax1, ay0, ay1, bx0, bx1, by0, by1;
    nms_extent(a, p, &ax0, &ax1, &ay0, &ay1);
    nms_extent(a, q, &bx0, &bx1, &by0, &by1);
    double ix = fmin(ax1, bx1) - fmax(ax0, bx0), iy = fmin(ay1, by1) - fmax(ay0, by0);
    if (ix <= 0 || iy <= 0) return false;
    double inter = ix * iy, a1 = (ax1 - ax0) * (ay1 - ay0), a2 = (bx1 - bx0) * (by1 - by0), uni = a1 + a2 - inter;
    if (a1 <= 0 || a2 <= 0 || uni <= 0) return false;
    return inter / uni > a->iou;
}

/*
 * Runs the selection over boxes / scores (double loaders by dtype); `kept` holds up to S indices of one
 * class. Writes rows to `out` when not NULL. Returns the number of rows.
 */
static int64_t nms_select(const nms_args *a, weft_dtype bt, const void *boxes, weft_dtype st, const void *scores,
                          int64_t *kept, int64_t *out)
{
    int64_t rows = 0;
    for (int64_t b = 0; b < a->B; b++)
        for (int64_t c = 0; c < a->C; c++) {
            int64_t nk = 0;
            const int64_t sbase = (b * a->C + c) * a->S;
            double prev_s = INFINITY;
            int64_t prev_i = -1;
            while (nk < a->max_out) {
                /* The next candidate: best (score, -index) strictly after the previous one. */
                int64_t best = -1;
                double bs = 0;
                for (int64_t i = 0; i < a->S; i++) {
                    double sc = weft_load_f64(st, scores, sbase + i);
                    if (a->has_score_th && !(sc > a->score_th)) continue;
                    bool after = sc < prev_s || (sc == prev_s && i > prev_i);
                    if (!after) continue;
                    if (best < 0 || sc > bs) { best = i; bs = sc; }
                }
                if (best < 0) break;
                prev_s = bs;
                prev_i = best;
                double p[4], q[4];
                for (int j = 0; j < 4; j++) p[j] = weft_load_f64(bt, boxes, (b * a->S + best) * 4 + j);
                bool keep = true;
                for (int64_t t = 0; t < nk && keep; t++) {
                    for (int j = 0; j < 4; j++) q[j] = weft_load_f64(bt, boxes, (b * a->S + kept[t]) * 4 + j);
                    if (nms_suppress(a, p, q)) keep = false;
                }
                if (!keep) continue;
                kept[nk++] = best;
                if (out) { out[rows * 3] = b; out[rows * 3 + 1] = c; out[rows * 3 + 2] = best; }
                rows++;
            }
        }
    return rows;
}

/* Arguments from shapes and the optional scalar inputs (data pointers may be NULL: unknown). */
static weft_status nms_args_of(const weft_node_info *n, int n_in, const weft_dtype *dt, const void *const *data,
                               const int64_t *bdims, const int64_t *sdims, nms_args *a, bool *known)
{
    memset(a, 0, sizeof *a);
    *known = true;
    int64_t cpb = weft_attr_int(n, "center_point_box", 0);
    if (cpb != 0 && cpb != 1) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "center_point_box must be 0 or 1");
    a->center = cpb == 1;
    a->B = bdims[0]; a->S = bdims[1]; a->C = sdims[1];
    if (bdims[2] != 4) return weft_op_error(n, WEFT_ERR_SHAPE, "boxes must be [B, S, 4]");
    if (sdims[0] != a->B || sdims[2] != a->S)
        return weft_op_error(n, WEFT_ERR_SHAPE, "scores must be [B, C, S] for boxes [%lld, %lld, 4]", (long long)a->B, (long long)a->S);
    for (int i = 2; i < 5; i++) {
        if (i >= n_in || dt[i] == WEFT_UNDEFINED) continue;
        if (!data[i]) { *known = false; continue; }
        if (i == 2) {
            if (dt[i] != WEFT_INT64) return weft_op_error(n, WEFT_ERR_TYPE, "max_output_boxes_per_class must be int64");
            int64_t m = weft_load_i64(dt[i], data[i], 0);
            a->max_out = m < 0 ? 0 : m;
        } else {
            if (!weft_dtype_is_float(dt[i])) return weft_op_error(n, WEFT_ERR_TYPE, "input %d must be a float scalar", i);
            double v = weft_load_f64(dt[i], data[i], 0);
            if (i == 3) a->iou = v;
            else { a->score_th = v; a->has_score_th = true; }
        }
    }
    if (a->iou < 0 || a->iou > 1) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "iou_threshold %g is outside [0, 1]", a->iou);
    return WEFT_OK;
}

static weft_status nms_infer(weft_infer_ctx *c)
{
    const weft_node_info *n = c->node;
    weft_status st;
    if ((st = need_float(c, 0)) || (st = need_float(c, 1))) return st;
    c->out_dtype[0] = WEFT_INT64;
    c->out_shape[0].rank = 2;
    c->out_shape[0].d[1] = weft_dim_num(3);
    c->out_shape[0].d[0] = weft_dim_unknown(c);
    const weft_shape *bs = &c->in_shape[0], *ss = &c->in_shape[1];
    if (bs->rank >= 0 && bs->rank != 3) return weft_op_error(n, WEFT_ERR_SHAPE, "boxes must be [B, S, 4]");
    if (ss->rank >= 0 && ss->rank != 3) return weft_op_error(n, WEFT_ERR_SHAPE, "scores must be [B, C, S]");
    for (int i = 2; i < 5; i++)
        if (weft_in_present(c, i) && c->in_shape[i].rank >= 0 && weft_shape_numel(&c->in_shape[i]) > 1)
            return weft_op_error(n, WEFT_ERR_SHAPE, "input %d must hold one value", i);
    if (!weft_shape_known(bs) || !weft_shape_known(ss) || !c->in_data[0] || !c->in_data[1]) return WEFT_OK;
    int64_t bd[3], sd[3];
    for (int d = 0; d < 3; d++) { bd[d] = bs->d[d].v; sd[d] = ss->d[d].v; }
    /* Empty optional scalars count as absent. */
    weft_dtype dts[5];
    const void *data[5];
    for (int i = 0; i < 5; i++) {
        dts[i] = i < c->n_in ? c->in_dtype[i] : WEFT_UNDEFINED;
        data[i] = i < c->n_in ? c->in_data[i] : NULL;
        if (i >= 2 && dts[i] != WEFT_UNDEFINED && weft_shape_numel(&c->in_shape[i]) == 0) dts[i] = WEFT_UNDEFINED;
    }
    nms_args a;
    bool known;
    if ((st = nms_args_of(n, c->n_in, dts, data, bd, sd, &a, &known))) return st;
    if (!known) return WEFT_OK;
    void *owned;
    int64_t *kept = weft_infer_scratch(c, (size_t)(a.S > 0 ? a.S : 1) * sizeof(int64_t), &owned);
    if (!kept) return weft_op_error(n, WEFT_ERR_NOMEM, "out of memory");
    int64_t rows = nms_select(&a, c->in_dtype[0], c->in_data[0], c->in_dtype[1], c->in_data[1], kept, NULL);
    free(owned);
    c->out_shape[0].d[0] = weft_dim_num(rows);
    return WEFT_OK;
}

static weft_status nms_run(weft_kernel_ctx *k)
{
    weft_dtype dts[5];
    const void *data[5];
    for (int i = 0; i < 5; i++) {
        bool pres = weft_kin_present(k, i) && k->in[i].numel > 0;
        dts[i] = pres ? k->in[i].dtype : WEFT_UNDEFINED;
        data[i] = pres ? k->in[i].data : NULL;
    }
    nms_args a;
    bool known;
    weft_status st = nms_args_of(k->node, k->n_in, dts, data, k->in[0].dims, k->in[1].dims, &a, &known);
    if (st) return st;
    int64_t *kept = k->scratch(k->user, (size_t)(a.S > 0 ? a.S : 1) * sizeof(int64_t));
    if (!kept) return weft_op_error(k->node, WEFT_ERR_NOMEM, "cannot allocate scratch");
    /* Count first so a disagreement with the inferred shape cannot write out of bounds. */
    int64_t rows = nms_select(&a, k->in[0].dtype, k->in[0].data, k->in[1].dtype, k->in[1].data, kept, NULL);
    if (rows != k->out[0].dims[0])
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "%lld boxes selected but %lld inferred", (long long)rows,
                             (long long)k->out[0].dims[0]);
    nms_select(&a, k->in[0].dtype, k->in[0].data, k->in[1].dtype, k->in[1].data, kept, k->out[0].data);
    return WEFT_OK;
}

const weft_op_def weft_ops_misc2[] = {
    {"NonMaxSuppression", "", 10, 0, 2, 5, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, nms_infer, nms_run},
    {"GridSample", "", 16, 0, 2, 2, 1, 1, 0, gs_infer, gs_run},
    {"HannWindow", "", 17, 0, 1, 1, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, window_infer, window_run},
    {"HammingWindow", "", 17, 0, 1, 1, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, window_infer, window_run},
    {"BlackmanWindow", "", 17, 0, 1, 1, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, window_infer, window_run},
    {"Einsum", "", 12, 0, 1, -1, 1, 1, 0, einsum_infer, einsum_run},
    {"CumProd", "", 26, 0, 2, 2, 1, 1, 0, cumprod_infer, cumprod_run},
    {"RotaryEmbedding", "", 23, 0, 3, 4, 1, 1, 0, rope_infer, rope_run},
    {"LRN", "", 1, 0, 1, 1, 1, 1, 0, lrn_infer, lrn_run},
    {"ReverseSequence", "", 10, 0, 2, 2, 1, 1, 0, revseq_infer, revseq_run},
    {"Det", "", 11, 0, 1, 1, 1, 1, 0, det_infer, det_run},
    {"CenterCropPad", "", 18, 0, 2, 2, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, ccp_infer, ccp_run},
    {"MaxUnpool", "", 9, 0, 2, 3, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, unpool_infer, unpool_run},
    {"Binarizer", "ai.onnx.ml", 1, 0, 1, 1, 1, 1, 0, binarizer_infer, binarizer_run},
};
const int weft_ops_misc2_count = sizeof weft_ops_misc2 / sizeof weft_ops_misc2[0];
