/*
 * ops/weft_domain.c — the `ai.weft` operators (schemas/ai.weft.md): SegmentReduce, RowGather,
 * EdgeSoftmax, TimeEncoding, GRUCell. Message passing lowers to these, so they are the kernels GNNs
 * spend their time in.
 */
#include <math.h>
#include <string.h>

#include "grad.h"
#include "op.h"

#define DOMAIN "ai.weft"

/* --- shared checks ------------------------------------------------------------------------------- */

static weft_status check_index_type(const weft_node_info *n, weft_dtype t, int input)
{
    if (t != WEFT_INT64 && t != WEFT_INT32)
        return weft_op_error(n, WEFT_ERR_TYPE, "input %d (index) must be int32 or int64, got %s", input, weft_dtype_name(t));
    return WEFT_OK;
}

/* Validates every index against [0, n) (or [-n, n) when `wrap`) before any output is written. */
static weft_status check_indices_wrap(const weft_node_info *node, const weft_tview *idx, int64_t n, bool wrap)
{
    for (int64_t e = 0; e < idx->numel; e++) {
        int64_t i = weft_load_i64(idx->dtype, idx->data, e);
        if (i < (wrap ? -n : 0) || i >= n)
            return weft_op_error(node, WEFT_ERR_INDEX, "index[%lld] = %lld is out of range [0, %lld)", (long long)e,
                                 (long long)i, (long long)n);
    }
    return WEFT_OK;
}

static weft_status check_indices(const weft_node_info *node, const weft_tview *idx, int64_t n)
{
    return check_indices_wrap(node, idx, n, false);
}

/* Index e of idx, with negative values counted from the end (only the init form allows them). */
static inline int64_t index_at(const weft_tview *idx, int64_t e, int64_t n)
{
    int64_t i = weft_load_i64(idx->dtype, idx->data, e);
    return i < 0 ? i + n : i;
}

/* The segment count from a scalar / [1] int64 input; -1 when unknown (compile time). */
static weft_status num_segments(weft_infer_ctx *c, int input, int64_t *out)
{
    *out = -1;
    if (!weft_in_present(c, input)) return WEFT_OK;
    int64_t v[1];
    const weft_shape *s = &c->in_shape[input];
    if (c->in_dtype[input] != WEFT_INT64 && c->in_dtype[input] != WEFT_INT32)
        return weft_op_error(c->node, WEFT_ERR_TYPE, "num_segments must be int64, got %s", weft_dtype_name(c->in_dtype[input]));
    /* An empty [0] would otherwise read as "unknown" and leave nothing for the kernel to read. */
    if (s->rank > 1 || (s->rank == 1 && weft_dim_known(s->d[0]) && s->d[0].v != 1))
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "num_segments must be a scalar or [1]");
    int n = weft_infer_int_values(c, input, v, 1);
    if (n == -2) return WEFT_ERR_SHAPE;
    if (n == 0) return weft_op_error(c->node, WEFT_ERR_SHAPE, "num_segments has no value");
    if (n == 1) {
        if (v[0] < 0) return weft_op_error(c->node, WEFT_ERR_SHAPE, "num_segments is negative (%lld)", (long long)v[0]);
        *out = v[0];
    }
    return WEFT_OK;
}

static int64_t row_size(const weft_tview *t)
{
    int64_t f = 1;
    for (int d = 1; d < t->rank; d++) f *= t->dims[d];
    return f;
}

/* --- SegmentReduce ------------------------------------------------------------------------------- */

enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_MUL };

static int reduce_kind(const weft_node_info *n)
{
    const char *r = weft_attr_string(n, "reduce", "sum");
    if (!strcmp(r, "sum") || !strcmp(r, "add")) return R_SUM;
    if (!strcmp(r, "mean")) return R_MEAN;
    if (!strcmp(r, "max")) return R_MAX;
    if (!strcmp(r, "min")) return R_MIN;
    if (!strcmp(r, "mul") || !strcmp(r, "prod")) return R_MUL;
    return -1;
}

static weft_status segment_infer(weft_infer_ctx *c)
{
    weft_status st;
    int kind = reduce_kind(c->node);
    if (kind < 0)
        return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "reduce must be sum, mean, max, min or mul, got '%s'",
                             weft_attr_string(c->node, "reduce", ""));
    const weft_shape *src = &c->in_shape[0], *idx = &c->in_shape[1];
    if ((st = check_index_type(c->node, c->in_dtype[1], 1))) return st;
    if (src->rank == 0) return weft_op_error(c->node, WEFT_ERR_SHAPE, "src must have rank >= 1");
    if (idx->rank >= 0 && idx->rank != 1) return weft_op_error(c->node, WEFT_ERR_SHAPE, "index must be 1-D, got rank %d", idx->rank);
    if (src->rank > 0 && idx->rank == 1 && weft_dim_known(src->d[0]) && weft_dim_known(idx->d[0]) && src->d[0].v != idx->d[0].v)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "src has %lld rows but index has %lld entries", (long long)src->d[0].v,
                             (long long)idx->d[0].v);
    if (!weft_dtype_is_integer(c->in_dtype[0]) && c->in_dtype[0] != WEFT_FLOAT32 && c->in_dtype[0] != WEFT_FLOAT64 &&
        c->in_dtype[0] != WEFT_FLOAT16)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "src dtype %s is not supported", weft_dtype_name(c->in_dtype[0]));
    c->out_dtype[0] = c->in_dtype[0];
    if (weft_in_present(c, 3)) {
        const weft_shape *init = &c->in_shape[3];
        if (kind == R_MEAN) return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "reduce 'mean' cannot take an init input");
        if (c->in_dtype[3] != c->in_dtype[0]) return weft_op_error(c->node, WEFT_ERR_TYPE, "init and src differ in dtype");
        if (init->rank >= 0 && src->rank >= 0) {
            if (init->rank != src->rank) return weft_op_error(c->node, WEFT_ERR_SHAPE, "init and src differ in rank");
            for (int d = 1; d < init->rank; d++) {
                /* a 2-D init may be wider than src (schemas/ai.weft.md): its extra columns are kept */
                bool wider_ok = init->rank == 2 && weft_dim_known(init->d[d]) && weft_dim_known(src->d[d]) &&
                                init->d[d].v > src->d[d].v;
                if (weft_dim_known(init->d[d]) && weft_dim_known(src->d[d]) && init->d[d].v != src->d[d].v && !wider_ok)
                    return weft_op_error(c->node, WEFT_ERR_SHAPE, "init and src differ in dimension %d", d);
            }
        }
        c->out_shape[0] = *init;
        return WEFT_OK;
    }
    int64_t n;
    if ((st = num_segments(c, 2, &n))) return st;
    if (!weft_in_present(c, 2)) return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "num_segments or init is required");
    c->out_shape[0] = *src;
    if (src->rank > 0) c->out_shape[0].d[0] = n >= 0 ? weft_dim_num(n) : weft_dim_unknown(c);
    if (n > 0 && weft_shape_numel(&c->out_shape[0]) == -2) /* num_segments is a value: it can be absurd */
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "num_segments = %lld makes the output overflow", (long long)n);
    return WEFT_OK;
}

/* Sum and product wrap around for integers (as ONNX and numpy do) instead of overflowing, which would
 * be undefined behaviour for signed types; floats add and multiply as usual. */
#define SEG_ADD(T, a, b) _Generic((a), float: (a) + (b), double: (a) + (b), default: (T)((uint64_t)(a) + (uint64_t)(b)))
#define SEG_MUL(T, a, b) _Generic((a), float: (a) * (b), double: (a) * (b), default: (T)((uint64_t)(a) * (uint64_t)(b)))

/* The reduction, once per type. Without init, a segment's first row initialises it (so max/min are
 * of the rows themselves and empty segments stay 0); count[n] holds the segment sizes and is negated
 * once the segment has started. */
#define DEF_SEGMENT(E_, T)                                                                           \
    static void segment_##E_(const T *s, T *o, const weft_tview *idx, int64_t *count, int64_t E,      \
                             int64_t F, int64_t Fo, int64_t N, int kind, bool has_init)              \
    {                                                                                                \
        if (!has_init) memset(o, 0, (size_t)(N * Fo) * sizeof(T));                                   \
        for (int64_t e = 0; e < E; e++) {                                                            \
            int64_t n = index_at(idx, e, N);                                                         \
            T *a = o + n * Fo;                                                                       \
            const T *v = s + e * F;                                                                  \
            if (!has_init && count[n] > 0) {                                                         \
                memcpy(a, v, (size_t)F * sizeof(T));                                                 \
                count[n] = -count[n];                                                                \
                continue;                                                                            \
            }                                                                                        \
            switch (kind) {                                                                          \
            case R_SUM: case R_MEAN: for (int64_t f = 0; f < F; f++) a[f] = SEG_ADD(T, a[f], v[f]); break; \
            case R_MAX: for (int64_t f = 0; f < F; f++) if (v[f] > a[f] || v[f] != v[f]) a[f] = v[f]; break; \
            case R_MIN: for (int64_t f = 0; f < F; f++) if (v[f] < a[f] || v[f] != v[f]) a[f] = v[f]; break; \
            case R_MUL: for (int64_t f = 0; f < F; f++) a[f] = SEG_MUL(T, a[f], v[f]); break;           \
            }                                                                                        \
        }                                                                                            \
        if (!has_init && kind == R_MEAN)                                                             \
            for (int64_t n = 0; n < N; n++) {                                                        \
                int64_t c = count[n] < 0 ? -count[n] : count[n];                                     \
                if (c > 1)                                                                           \
                    for (int64_t f = 0; f < F; f++) o[n * Fo + f] = (T)(o[n * Fo + f] / (T)c);       \
            }                                                                                        \
    }
WEFT_TYPES_NUMERIC(DEF_SEGMENT)
#undef DEF_SEGMENT

/* scratch: the segment sizes. float16 runs widened (segment_run): it accumulates in float32. */
static weft_status segment_body(weft_kernel_ctx *k, void *scratch)
{
    const weft_tview *src = &k->in[0], *idx = &k->in[1];
    weft_tview *out = &k->out[0];
    int kind = reduce_kind(k->node);
    bool has_init = weft_kin_present(k, 3);
    int64_t N = out->dims[0], F = row_size(src), Fo = row_size(out), E = idx->numel;
    int64_t *count = scratch;
    memset(count, 0, (size_t)N * sizeof(int64_t));
    for (int64_t e = 0; e < E; e++) count[index_at(idx, e, N)]++;
    if (has_init) memcpy(out->data, k->in[3].data, (size_t)out->numel * weft_dtype_size(out->dtype));
    switch (out->dtype) {
#define CASE(E_, T) case E_: segment_##E_(src->data, out->data, idx, count, E, F, Fo, N, kind, has_init); break;
        WEFT_TYPES_NUMERIC(CASE)
#undef CASE
    default: return weft_op_unsupported_dtype(k, 0);
    }
    return WEFT_OK;
}

static weft_status segment_run(weft_kernel_ctx *k)
{
    const weft_tview *src = &k->in[0], *idx = &k->in[1];
    weft_tview *out = &k->out[0];
    bool has_init = weft_kin_present(k, 3);
    int64_t N = out->dims[0], F = row_size(src), Fo = row_size(out), E = idx->numel;
    if (src->dims[0] != E)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "src has %lld rows but index has %lld entries", (long long)src->dims[0],
                             (long long)E);
    /* With init, rows of a 2-D init may be wider than src's (ScatterElements leaves the rest alone). */
    if (Fo != F && !(has_init && out->rank == 2 && src->rank == 2 && F < Fo))
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "init rows (%lld) and src rows (%lld) differ in size", (long long)Fo,
                             (long long)F);
    weft_status st = check_indices_wrap(k->node, idx, N, has_init);
    if (st) return st;
    /* float16 accumulates in float32 (ops/widen.c): float16 sums lose too much */
    return weft_math_run_widened(k, (size_t)(N ? N : 1) * sizeof(int64_t), segment_body);
}

/* --- RowGather ----------------------------------------------------------------------------------- */

static weft_status rowgather_infer(weft_infer_ctx *c)
{
    weft_status st = check_index_type(c->node, c->in_dtype[1], 1);
    if (st) return st;
    const weft_shape *data = &c->in_shape[0], *idx = &c->in_shape[1];
    if (data->rank == 0) return weft_op_error(c->node, WEFT_ERR_SHAPE, "data must have rank >= 1");
    if (idx->rank >= 0 && idx->rank != 1) return weft_op_error(c->node, WEFT_ERR_SHAPE, "index must be 1-D, got rank %d", idx->rank);
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0] = *data;
    if (data->rank > 0) c->out_shape[0].d[0] = idx->rank == 1 ? idx->d[0] : weft_dim_unknown(c);
    return WEFT_OK;
}

static weft_status rowgather_run(weft_kernel_ctx *k)
{
    const weft_tview *data = &k->in[0], *idx = &k->in[1];
    weft_status st = check_indices(k->node, idx, data->dims[0]);
    if (st) return st;
    size_t row = (size_t)row_size(data) * weft_dtype_size(data->dtype);
    char *o = k->out[0].data;
    for (int64_t e = 0; e < idx->numel; e++) {
        int64_t i = weft_load_i64(idx->dtype, idx->data, e);
        if (row) memcpy(o + (size_t)e * row, (const char *)data->data + (size_t)i * row, row);
    }
    return WEFT_OK;
}

/* --- EdgeSoftmax --------------------------------------------------------------------------------- */

static weft_status edgesoftmax_infer(weft_infer_ctx *c)
{
    weft_status st = check_index_type(c->node, c->in_dtype[1], 1);
    if (st) return st;
    if (c->in_dtype[0] != WEFT_FLOAT32 && c->in_dtype[0] != WEFT_FLOAT64)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "scores must be float or double");
    const weft_shape *s = &c->in_shape[0];
    if (s->rank >= 0 && (s->rank < 1 || s->rank > 2))
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "scores must be [E] or [E, H], got rank %d", s->rank);
    const weft_shape *idx = &c->in_shape[1];
    if (idx->rank >= 0 && idx->rank != 1) return weft_op_error(c->node, WEFT_ERR_SHAPE, "index must be 1-D, got rank %d", idx->rank);
    if (s->rank >= 1 && idx->rank == 1 && weft_dim_known(s->d[0]) && weft_dim_known(idx->d[0]) && s->d[0].v != idx->d[0].v)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "scores have %lld rows but index has %lld entries", (long long)s->d[0].v,
                             (long long)idx->d[0].v);
    int64_t n;
    if ((st = num_segments(c, 2, &n))) return st;
    return weft_infer_same_as_input0(c);
}

static weft_status edgesoftmax_run(weft_kernel_ctx *k)
{
    const weft_tview *sc = &k->in[0], *idx = &k->in[1];
    if (k->in[2].numel != 1) return weft_op_error(k->node, WEFT_ERR_SHAPE, "num_segments must hold one value");
    int64_t N = weft_load_i64(k->in[2].dtype, k->in[2].data, 0), E = sc->dims[0], H = sc->rank == 2 ? sc->dims[1] : 1;
    if (idx->numel != E)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "scores have %lld rows but index has %lld entries", (long long)E,
                             (long long)idx->numel);
    if (N < 0) return weft_op_error(k->node, WEFT_ERR_SHAPE, "num_segments is negative");
    weft_status st = check_indices(k->node, idx, N);
    if (st) return st;
    if ((uint64_t)N > SIZE_MAX / 2 / sizeof(double) / (uint64_t)(H ? H : 1))
        return weft_op_error(k->node, WEFT_ERR_NOMEM, "num_segments too large");
    double *mx = k->scratch(k->user, (size_t)(N * H * 2 + 1) * sizeof(double));
    if (!mx) return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of scratch memory");
    double *sum = mx + N * H;
    for (int64_t i = 0; i < N * H; i++) { mx[i] = -INFINITY; sum[i] = 0; }
#define WEFT_BODY(T)                                                                                 \
    {                                                                                                \
        const T *s = sc->data;                                                                       \
        T *o = k->out[0].data;                                                                       \
        for (int64_t e = 0; e < E; e++) {                                                            \
            int64_t n = weft_load_i64(idx->dtype, idx->data, e);                                     \
            for (int64_t h = 0; h < H; h++)                                                          \
                if (s[e * H + h] > mx[n * H + h]) mx[n * H + h] = s[e * H + h];                      \
        }                                                                                            \
        for (int64_t e = 0; e < E; e++) {                                                            \
            int64_t n = weft_load_i64(idx->dtype, idx->data, e);                                     \
            for (int64_t h = 0; h < H; h++) sum[n * H + h] += exp((double)s[e * H + h] - mx[n * H + h]); \
        }                                                                                            \
        for (int64_t e = 0; e < E; e++) {                                                            \
            int64_t n = weft_load_i64(idx->dtype, idx->data, e);                                     \
            for (int64_t h = 0; h < H; h++)                                                          \
                o[e * H + h] = (T)(exp((double)s[e * H + h] - mx[n * H + h]) / sum[n * H + h]);      \
        }                                                                                            \
    }
    WEFT_DISPATCH(sc->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

/* --- TimeEncoding -------------------------------------------------------------------------------- */

static weft_status timeenc_infer(weft_infer_ctx *c)
{
    weft_dtype t = c->in_dtype[0];
    if (t != WEFT_FLOAT32 && t != WEFT_FLOAT64) return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "t must be float or double");
    if (c->in_dtype[1] != t || c->in_dtype[2] != t) return weft_op_error(c->node, WEFT_ERR_TYPE, "t, w and b must share a dtype");
    const weft_shape *w = &c->in_shape[1], *b = &c->in_shape[2], *ts = &c->in_shape[0];
    if ((w->rank >= 0 && w->rank != 1) || (b->rank >= 0 && b->rank != 1))
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "w and b must be 1-D");
    if (w->rank == 1 && b->rank == 1 && weft_dim_known(w->d[0]) && weft_dim_known(b->d[0]) && w->d[0].v != b->d[0].v)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "w has %lld entries, b %lld", (long long)w->d[0].v, (long long)b->d[0].v);
    if (ts->rank >= WEFT_MAX_RANK) return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "t has too high a rank");
    c->out_dtype[0] = t;
    c->out_shape[0] = *ts;
    if (ts->rank >= 0) c->out_shape[0].d[ts->rank] = w->rank == 1 ? w->d[0] : weft_dim_unknown(c), c->out_shape[0].rank++;
    return WEFT_OK;
}

static weft_status timeenc_run(weft_kernel_ctx *k)
{
    int64_t n = k->in[0].numel, D = k->in[1].numel;
    if (k->in[2].numel != D) return weft_op_error(k->node, WEFT_ERR_SHAPE, "w and b differ in length");
#define WEFT_BODY(T)                                                                                 \
    {                                                                                                \
        const T *t = k->in[0].data, *w = k->in[1].data, *b = k->in[2].data;                          \
        T *o = k->out[0].data;                                                                       \
        for (int64_t i = 0; i < n; i++)                                                              \
            for (int64_t d = 0; d < D; d++) o[i * D + d] = (T)cos((double)t[i] * w[d] + b[d]);       \
    }
    WEFT_DISPATCH(k->in[0].dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

/* --- GRUCell ------------------------------------------------------------------------------------- */

static weft_status grucell_infer(weft_infer_ctx *c)
{
    weft_dtype t = c->in_dtype[0];
    if (t != WEFT_FLOAT32 && t != WEFT_FLOAT64) return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "x must be float or double");
    for (int i = 1; i < c->n_in; i++)
        if (weft_in_present(c, i) && c->in_dtype[i] != t)
            return weft_op_error(c->node, WEFT_ERR_TYPE, "input %d has dtype %s, x has %s", i, weft_dtype_name(c->in_dtype[i]),
                                 weft_dtype_name(t));
    const weft_shape *x = &c->in_shape[0], *h = &c->in_shape[1], *wi = &c->in_shape[2], *wh = &c->in_shape[3];
    static const int want_rank[6] = {2, 2, 2, 2, 1, 1};
    for (int i = 0; i < c->n_in && i < 6; i++)
        if (weft_in_present(c, i) && c->in_shape[i].rank >= 0 && c->in_shape[i].rank != want_rank[i])
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d must have rank %d, got %d", i, want_rank[i], c->in_shape[i].rank);
#define KNOWN_NE(a, b) (weft_dim_known(a) && weft_dim_known(b) && (a).v != (b).v)
    if (x->rank == 2 && h->rank == 2 && KNOWN_NE(x->d[0], h->d[0]))
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "x and h differ in batch size");
    if (h->rank == 2 && wi->rank == 2 && weft_dim_known(h->d[1]) && weft_dim_known(wi->d[0]) && wi->d[0].v != 3 * h->d[1].v)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "w_ih must have 3*H = %lld rows, has %lld", (long long)(3 * h->d[1].v),
                             (long long)wi->d[0].v);
    if (x->rank == 2 && wi->rank == 2 && KNOWN_NE(x->d[1], wi->d[1]))
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "w_ih must have I columns");
    if (h->rank == 2 && wh->rank == 2 && (KNOWN_NE(h->d[1], wh->d[1]) || (weft_dim_known(h->d[1]) && weft_dim_known(wh->d[0]) && wh->d[0].v != 3 * h->d[1].v)))
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "w_hh must be [3H, H]");
#undef KNOWN_NE
    c->out_dtype[0] = t;
    c->out_shape[0] = *h;
    return WEFT_OK;
}

static weft_status grucell_run(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0], *h = &k->in[1], *wi = &k->in[2], *wh = &k->in[3];
    int64_t B = x->dims[0], I = x->dims[1], H = h->dims[1];
    if (h->dims[0] != B || wi->dims[0] != 3 * H || wi->dims[1] != I || wh->dims[0] != 3 * H || wh->dims[1] != H)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "inconsistent shapes");
    bool has_bi = weft_kin_present(k, 4), has_bh = weft_kin_present(k, 5);
    if ((has_bi && k->in[4].numel != 3 * H) || (has_bh && k->in[5].numel != 3 * H))
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "biases must have 3*H entries");
    double *g = k->scratch(k->user, (size_t)(6 * H + 1) * sizeof(double));
    if (!g) return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of scratch memory");
#define WEFT_BODY(T)                                                                                 \
    {                                                                                                \
        const T *X = x->data, *Hp = h->data, *Wi = wi->data, *Wh = wh->data;                         \
        const T *bi = has_bi ? k->in[4].data : NULL, *bh = has_bh ? k->in[5].data : NULL;            \
        T *o = k->out[0].data;                                                                       \
        for (int64_t b = 0; b < B; b++) {                                                            \
            double *gi = g, *gh = g + 3 * H;                                                         \
            for (int64_t j = 0; j < 3 * H; j++) {                                                    \
                double si = bi ? bi[j] : 0, sh = bh ? bh[j] : 0;                                     \
                for (int64_t i = 0; i < I; i++) si += (double)X[b * I + i] * Wi[j * I + i];          \
                for (int64_t i = 0; i < H; i++) sh += (double)Hp[b * H + i] * Wh[j * H + i];         \
                gi[j] = si;                                                                          \
                gh[j] = sh;                                                                          \
            }                                                                                        \
            for (int64_t j = 0; j < H; j++) {                                                        \
                double r = 1 / (1 + exp(-(gi[j] + gh[j])));                                          \
                double z = 1 / (1 + exp(-(gi[H + j] + gh[H + j])));                                  \
                double n = tanh(gi[2 * H + j] + r * gh[2 * H + j]);                                  \
                o[b * H + j] = (T)((1 - z) * n + z * Hp[b * H + j]);                                 \
            }                                                                                        \
        }                                                                                            \
    }
    WEFT_DISPATCH(x->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

/* --- gradients (ops/grad.h) ----------------------------------------------------------------------- */

/* An int64 [1] value holding dimension 0 of input i. */
static int rows_of(weft_grad_ctx *c, int i)
{
    weft_dim d = c->in_shape[i].d[0];
    if (weft_dim_known(d)) return weft_grad_i64s(c, &d.v, 1);
    weft_attr at[2] = {weft_grad_attr_int("start", 0), weft_grad_attr_int("end", 1)};
    return weft_grad_op(c, "Shape", &c->in[i], 1, at, 2);
}

/* SegmentReduce max / min: each output element is one row's (or init's) and its gradient goes to that one,
 * the one the kernels keep: init on a tie (they replace only on a strict improvement), else the first row
 * of the segment in edge order, found as the least flat position among the rows equal to the result
 * (a SegmentReduce min over positions), so g is passed on exactly once and deterministically. */
static weft_status segment_extremum_grad(weft_grad_ctx *c, bool init)
{
    int g = weft_grad_dout(c, 0), z = weft_grad_scalar(c, 0.0);
    int from_init = init ? weft_grad_op2(c, "Equal", c->in[3], c->out[0]) : -1;
    if (init && c->want[3]) {
        int in[3] = {from_init, g, z};
        weft_grad_to(c, 3, weft_grad_op(c, "Where", in, 3, NULL, 0));
    }
    if (!c->want[0]) return c->st;
    const weft_shape *ss = &c->in_shape[0], *so = &c->out_shape[0];
    for (int a = 1; a < ss->rank; a++)
        if (a >= so->rank || !weft_dim_eq(ss->d[a], so->d[a]))
            return weft_grad_fail(c, WEFT_ERR_UNSUPPORTED, "init with more columns than src");
    /* per row, its segment's value: Gather in the init form (negative indices wrap), else RowGather */
#define PER_ROW(v) (init ? weft_grad_op(c, "Gather", (int[]){(v), c->in[1]}, 2, NULL, 0) \
                         : weft_grad_op_in(c, "ai.weft", "RowGather", (int[]){(v), c->in[1]}, 2, NULL, 0))
    int cand = weft_grad_op2(c, "Equal", c->in[0], PER_ROW(c->out[0]));
    if (init) cand = weft_grad_op2(c, "And", cand, weft_grad_op1(c, "Not", PER_ROW(from_init)));
    int pos = weft_grad_positions(c, c->in[0], ss), big = weft_grad_i64(c, INT64_MAX);
    int w3[3] = {cand, pos, big};
    int cpos = weft_grad_op(c, "Where", w3, 3, NULL, 0);
    weft_attr mn = weft_grad_attr_string("reduce", "min");
    int first;
    if (init) {
        int sin[4] = {cpos, c->in[1], -1, weft_grad_op2(c, "Expand", big, weft_grad_shape_of(c, c->out[0], so))};
        first = weft_grad_op_in(c, "ai.weft", "SegmentReduce", sin, 4, &mn, 1);
    } else {
        int sin[3] = {cpos, c->in[1], c->in[2]};
        first = weft_grad_op_in(c, "ai.weft", "SegmentReduce", sin, 3, &mn, 1);
    }
    int wins = weft_grad_op2(c, "Equal", PER_ROW(first), pos);
    int w[3] = {wins, PER_ROW(g), z};
    weft_grad_to(c, 0, weft_grad_op(c, "Where", w, 3, NULL, 0));
#undef PER_ROW
    return c->st;
}

/* SegmentReduce and RowGather are each other's adjoints: a row gathered from segment n sends its
 * gradient back into n (a sum), and a row summed into segment n receives n's gradient (a gather).
 * mean divides by the segment's row count, gathered per row (a row's segment has at least that row). */
static weft_status grad_segment(weft_grad_ctx *c)
{
    const char *red = weft_attr_string(c->node, "reduce", "sum");
    bool init = c->n_in > 3 && c->in[3] >= 0, mean = !strcmp(red, "mean");
    if (!strcmp(red, "max") || !strcmp(red, "min")) return segment_extremum_grad(c, init);
    if (!mean && strcmp(red, "sum") && strcmp(red, "add"))
        return weft_grad_fail(c, WEFT_ERR_UNSUPPORTED, "reduce '%s' (sum, mean, max and min have rules)", red);
    int g = weft_grad_dout(c, 0);
    if (init && c->want[3]) weft_grad_to(c, 3, g);
    if (!c->want[0]) return c->st;
    const weft_shape *ss = &c->in_shape[0], *so = &c->out_shape[0];
    for (int a = 1; a < ss->rank; a++)
        if (a >= so->rank || !weft_dim_eq(ss->d[a], so->d[a]))
            return weft_grad_fail(c, WEFT_ERR_UNSUPPORTED, "init with more columns than src");
    int in[2] = {g, c->in[1]};
    /* the init form wraps negative indices: Gather does too, RowGather refuses them */
    int rows = init ? weft_grad_op(c, "Gather", in, 2, NULL, 0) : weft_grad_op_in(c, "ai.weft", "RowGather", in, 2, NULL, 0);
    if (mean) {
        int ones = weft_grad_op2(c, "Expand", weft_grad_scalar(c, 1.0), weft_grad_op1(c, "Shape", c->in[1]));
        weft_attr sum = weft_grad_attr_string("reduce", "sum");
        int cin[3] = {ones, c->in[1], c->in[2]};
        int counts = weft_grad_op_in(c, "ai.weft", "SegmentReduce", cin, 3, &sum, 1);
        int gin[2] = {counts, c->in[1]};
        int per_row = weft_grad_op_in(c, "ai.weft", "RowGather", gin, 2, NULL, 0);
        if (ss->rank > 1) { /* [E] -> [E, 1, ...] */
            int64_t axes[WEFT_MAX_RANK];
            for (int a = 1; a < ss->rank; a++) axes[a - 1] = a;
            per_row = weft_grad_op2(c, "Unsqueeze", per_row, weft_grad_i64s(c, axes, ss->rank - 1));
        }
        rows = weft_grad_op2(c, "Div", rows, per_row);
    }
    weft_grad_to(c, 0, rows);
    return c->st;
}

static weft_status grad_rowgather(weft_grad_ctx *c)
{
    weft_attr sum = weft_grad_attr_string("reduce", "sum");
    int in[3] = {weft_grad_dout(c, 0), c->in[1], rows_of(c, 0)};
    weft_grad_to(c, 0, weft_grad_op_in(c, "ai.weft", "SegmentReduce", in, 3, &sum, 1));
    return c->st;
}

/* y = softmax of the scores within each segment: ds = y (g - sum over the segment of g y), the sum
 * gathered back to each edge. */
static weft_status grad_edgesoftmax(weft_grad_ctx *c)
{
    int g = weft_grad_dout(c, 0), y = c->out[0];
    int gy = weft_grad_op2(c, "Mul", g, y);
    weft_attr sum = weft_grad_attr_string("reduce", "sum");
    int sin[3] = {gy, c->in[1], c->in[2]};
    int seg = weft_grad_op_in(c, "ai.weft", "SegmentReduce", sin, 3, &sum, 1);
    int gin[2] = {seg, c->in[1]};
    int back = weft_grad_op_in(c, "ai.weft", "RowGather", gin, 2, NULL, 0);
    weft_grad_to(c, 0, weft_grad_op2(c, "Mul", y, weft_grad_op2(c, "Sub", g, back)));
    return c->st;
}

/* y[..., d] = cos(t w_d + b_d): with s = -g sin(t w + b), dt = sum_d s w, dw = sum over t of s t,
 * db = sum over t of s. */
static weft_status grad_timeenc(weft_grad_ctx *c)
{
    int rank = c->in_shape[0].rank;
    if (rank < 0) return weft_grad_fail(c, WEFT_ERR_SHAPE, "the rank of t is unknown");
    int64_t last = -1, lead[WEFT_MAX_RANK];
    for (int a = 0; a < rank; a++) lead[a] = a;
    int t1 = weft_grad_op2(c, "Unsqueeze", c->in[0], weft_grad_i64s(c, &last, 1));
    int arg = weft_grad_op2(c, "Add", weft_grad_op2(c, "Mul", t1, c->in[1]), c->in[2]);
    int sg = weft_grad_op1(c, "Neg", weft_grad_op2(c, "Mul", weft_grad_dout(c, 0), weft_grad_op1(c, "Sin", arg)));
    if (c->want[0]) weft_grad_to(c, 0, weft_grad_reduce_sum(c, weft_grad_op2(c, "Mul", sg, c->in[1]), &last, 1, false));
    if (c->want[1]) weft_grad_to(c, 1, weft_grad_reduce_sum(c, weft_grad_op2(c, "Mul", sg, t1), lead, rank, false));
    if (c->want[2]) weft_grad_to(c, 2, weft_grad_reduce_sum(c, sg, lead, rank, false));
    return c->st;
}

/* GRUCell (gates r, z, n): the step is recomputed from its inputs,
 *     a_i = x W_ih^T + b_ih, a_h = h W_hh^T + b_hh (each split into r, z, n blocks of H columns),
 *     r = sigmoid(a_ir + a_hr), z = sigmoid(a_iz + a_hz), n = tanh(a_in + r a_hn), h' = (1 - z) n + z h,
 * and with g = dL/dh':
 *     dn = g (1 - z) (1 - n^2), dz = g (h - n) z (1 - z), dr = dn a_hn r (1 - r),
 *     da_i = [dr, dz, dn], da_h = [dr, dz, dn r],
 *     dx = da_i W_ih, dh = g z + da_h W_hh, dW_ih = da_i^T x, dW_hh = da_h^T h,
 *     db_ih = sum over the batch of da_i, db_hh = sum over the batch of da_h. */
static int gru_affine(weft_grad_ctx *c, int x, int w, int b)
{
    weft_attr tb = weft_grad_attr_int("transB", 1);
    int in[3] = {x, w, b};
    return weft_grad_op(c, "Gemm", in, b >= 0 ? 3 : 2, &tb, 1);
}

static weft_status grad_grucell(weft_grad_ctx *c)
{
    int x = c->in[0], h = c->in[1], wi = c->in[2], wh = c->in[3];
    int bi = c->n_in > 4 ? c->in[4] : -1, bh = c->n_in > 5 ? c->in[5] : -1;
    int g = weft_grad_dout(c, 0);
    weft_attr three = weft_grad_attr_int("num_outputs", 3), ax1 = weft_grad_attr_int("axis", 1);
    weft_attr split[2] = {ax1, three};
    int ai[3], ah[3];
    weft_grad_op_n(c, "Split", (int[]){gru_affine(c, x, wi, bi)}, 1, split, 2, ai, 3);
    weft_grad_op_n(c, "Split", (int[]){gru_affine(c, h, wh, bh)}, 1, split, 2, ah, 3);
    int r = weft_grad_op1(c, "Sigmoid", weft_grad_op2(c, "Add", ai[0], ah[0]));
    int z = weft_grad_op1(c, "Sigmoid", weft_grad_op2(c, "Add", ai[1], ah[1]));
    int n = weft_grad_op1(c, "Tanh", weft_grad_op2(c, "Add", ai[2], weft_grad_op2(c, "Mul", r, ah[2])));
    int one = weft_grad_scalar(c, 1.0);
    int dn = weft_grad_op2(c, "Mul", weft_grad_op2(c, "Mul", g, weft_grad_op2(c, "Sub", one, z)),
                           weft_grad_op2(c, "Sub", one, weft_grad_op2(c, "Mul", n, n)));
    int dz = weft_grad_op2(c, "Mul", weft_grad_op2(c, "Mul", g, weft_grad_op2(c, "Sub", h, n)),
                           weft_grad_op2(c, "Mul", z, weft_grad_op2(c, "Sub", one, z)));
    int dr = weft_grad_op2(c, "Mul", weft_grad_op2(c, "Mul", dn, ah[2]),
                           weft_grad_op2(c, "Mul", r, weft_grad_op2(c, "Sub", one, r)));
    int dai = weft_grad_op(c, "Concat", (int[]){dr, dz, dn}, 3, &ax1, 1);
    int dah = weft_grad_op(c, "Concat", (int[]){dr, dz, weft_grad_op2(c, "Mul", dn, r)}, 3, &ax1, 1);
    weft_attr ta = weft_grad_attr_int("transA", 1);
    int64_t batch = 0;
    if (c->want[0]) weft_grad_to(c, 0, weft_grad_op2(c, "MatMul", dai, wi));
    if (c->want[1]) weft_grad_to(c, 1, weft_grad_op2(c, "Add", weft_grad_op2(c, "Mul", g, z), weft_grad_op2(c, "MatMul", dah, wh)));
    if (c->want[2]) weft_grad_to(c, 2, weft_grad_op(c, "Gemm", (int[]){dai, x}, 2, &ta, 1));
    if (c->want[3]) weft_grad_to(c, 3, weft_grad_op(c, "Gemm", (int[]){dah, h}, 2, &ta, 1));
    if (bi >= 0 && c->want[4]) weft_grad_to(c, 4, weft_grad_reduce_sum(c, dai, &batch, 1, false));
    if (bh >= 0 && c->want[5]) weft_grad_to(c, 5, weft_grad_reduce_sum(c, dah, &batch, 1, false));
    return c->st;
}

const weft_op_def weft_ops_weft[] = {
    {"SegmentReduce", DOMAIN, 1, 0, 2, 4, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, segment_infer, segment_run, 0x4, grad_segment},
    {"RowGather", DOMAIN, 1, 0, 2, 2, 1, 1, 0, rowgather_infer, rowgather_run, 0, grad_rowgather},
    {"EdgeSoftmax", DOMAIN, 1, 0, 3, 3, 1, 1, 0, edgesoftmax_infer, edgesoftmax_run, 0x4, grad_edgesoftmax},
    {"TimeEncoding", DOMAIN, 1, 0, 3, 3, 1, 1, 0, timeenc_infer, timeenc_run, 0, grad_timeenc},
    {"GRUCell", DOMAIN, 1, 0, 4, 6, 1, 1, 0, grucell_infer, grucell_run, 0, grad_grucell},
};
const int weft_ops_weft_count = sizeof weft_ops_weft / sizeof weft_ops_weft[0];
