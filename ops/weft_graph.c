/*
 * ops/weft_graph.c — the message-passing operators the compiler generates (schemas/ai.weft.md,
 * "Operators the compiler generates"): CSR, CsrReduce, CsrGatherReduce, CsrEdgeSoftmax, LinkScore.
 *
 * CSR is the one place where edge indices are checked against their ranges; it sorts the edges by
 * destination (a stable counting sort) so that the readers walk each segment's edges contiguously, in
 * their original order. The readers therefore compute exactly what SegmentReduce / EdgeSoftmax
 * (ops/weft_domain.c) compute on the same edges, bit for bit: same first-row start, same accumulation
 * order, same NaN handling.
 *
 * The readers trust CSR's ranges but not its structure: a hand-written graph may hand them any int64
 * tensors, so before reading they check, in O(N + E), that offsets start at 0, never decrease and end at
 * E, that perm is a permutation of [0, E) and that col's values lie inside x. A broken index is an error,
 * never an out-of-bounds read or an output left unwritten.
 *
 * Inference of N (the segment count) in the readers: N + 1 is the length of `offsets`. When that length
 * is a number, N is that number minus one; when it is a symbol plus one (CSR's offsets, once the compiler
 * knows num_segments holds the symbol N), N is that symbol; otherwise N gets a fresh symbol. With
 * `init`, the output is init's shape, which keeps the model's own symbol.
 */
#include <math.h>
#include <string.h>

#include "grad.h"
#include "op.h"

#define DOMAIN "ai.weft"

/* --- shared: dtypes, shapes, reductions ---------------------------------------------------------- */

static weft_status need_int64(const weft_node_info *n, const weft_dtype *dt, int i, const char *name)
{
    if (dt[i] != WEFT_INT64)
        return weft_op_error(n, WEFT_ERR_TYPE, "input %d (%s) must be int64, got %s", i, name, weft_dtype_name(dt[i]));
    return WEFT_OK;
}

static weft_status need_index_type(const weft_node_info *n, const weft_dtype *dt, int i, const char *name)
{
    if (dt[i] != WEFT_INT64 && dt[i] != WEFT_INT32)
        return weft_op_error(n, WEFT_ERR_TYPE, "input %d (%s) must be int32 or int64, got %s", i, name,
                             weft_dtype_name(dt[i]));
    return WEFT_OK;
}

/* Rank must be 1 when known. */
static weft_status need_1d(const weft_node_info *n, const weft_shape *s, int i, const char *name)
{
    if (s->rank >= 0 && s->rank != 1)
        return weft_op_error(n, WEFT_ERR_SHAPE, "input %d (%s) must be 1-D, got rank %d", i, name, s->rank);
    return WEFT_OK;
}

static bool known_ne(weft_dim a, weft_dim b) { return weft_dim_known(a) && weft_dim_known(b) && a.v != b.v; }

/* Dimension 0 of two inputs must agree when both are numbers (e.g. rows of src and entries of perm). */
static weft_status same_rows(const weft_infer_ctx *c, int i, const char *ni, int j, const char *nj)
{
    const weft_shape *a = &c->in_shape[i], *b = &c->in_shape[j];
    if (a->rank >= 1 && b->rank >= 1 && known_ne(a->d[0], b->d[0]))
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d (%s) has %lld rows but input %d (%s) has %lld", i, ni,
                             (long long)a->d[0].v, j, nj, (long long)b->d[0].v);
    return WEFT_OK;
}

/* N from offsets' length: a number when the length is one, the symbol N when it is N + 1 (the shape
 * CSR's inference gives when num_segments holds a symbol), else a fresh symbol. */
static weft_status segments_dim(weft_infer_ctx *c, int input, weft_dim *n)
{
    const weft_shape *s = &c->in_shape[input];
    if (s->rank == 1 && weft_dim_known(s->d[0])) {
        if (s->d[0].v < 1)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d (offsets) must have N + 1 >= 1 entries, has 0", input);
        *n = weft_dim_num(s->d[0].v - 1);
    } else if (s->rank == 1 && s->d[0].v >= 1) {
        *n = weft_dim_add(s->d[0], -1);
    } else {
        *n = weft_dim_unknown(c);
    }
    return WEFT_OK;
}

/* A scalar or [1] count input (num_segments, num_src); *v = -1 when its value is not known yet. */
static weft_status count_input(weft_infer_ctx *c, int input, const char *name, int64_t *v)
{
    *v = -1;
    weft_status st = need_index_type(c->node, c->in_dtype, input, name);
    if (st) return st;
    const weft_shape *s = &c->in_shape[input];
    /* An empty [0] would otherwise read as "unknown" and leave nothing for the kernel to read. */
    if (s->rank > 1 || (s->rank == 1 && weft_dim_known(s->d[0]) && s->d[0].v != 1))
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d (%s) must be a scalar or [1]", input, name);
    int64_t x[1];
    int n = weft_infer_int_values(c, input, x, 1);
    if (n == -2) return WEFT_ERR_SHAPE;
    if (n == 0) return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d (%s) has no value", input, name);
    if (n == 1) {
        if (x[0] < 0)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d (%s) is negative (%lld)", input, name, (long long)x[0]);
        *v = x[0];
    }
    return WEFT_OK;
}

/* The same at run time, where the value is always there. */
static weft_status count_value(const weft_kernel_ctx *k, int input, const char *name, int64_t *v)
{
    const weft_tview *t = &k->in[input];
    if (t->numel != 1)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d (%s) must hold one value, has %lld", input, name,
                             (long long)t->numel);
    *v = weft_load_i64(t->dtype, t->data, 0);
    if (*v < 0) return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d (%s) is negative (%lld)", input, name, (long long)*v);
    return WEFT_OK;
}

static int64_t row_size(const weft_tview *t)
{
    int64_t f = 1;
    for (int d = 1; d < t->rank; d++) f *= t->dims[d];
    return f;
}

enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_MUL };

/* SegmentReduce's names (ops/weft_domain.c), including its aliases; `allow_mul` off for
 * CsrGatherReduce, which the spec gives sum, mean, max and min. */
static int reduce_kind(const weft_node_info *n, bool allow_mul)
{
    const char *r = weft_attr_string(n, "reduce", "sum");
    if (!strcmp(r, "sum") || !strcmp(r, "add")) return R_SUM;
    if (!strcmp(r, "mean")) return R_MEAN;
    if (!strcmp(r, "max")) return R_MAX;
    if (!strcmp(r, "min")) return R_MIN;
    if (allow_mul && (!strcmp(r, "mul") || !strcmp(r, "prod"))) return R_MUL;
    return -1;
}

static weft_status bad_reduce(const weft_node_info *n, bool allow_mul)
{
    return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "reduce must be sum, mean, max, min%s, got '%s'",
                         allow_mul ? " or mul" : "", weft_attr_string(n, "reduce", ""));
}

/* Sum and product wrap around for integers (as SegmentReduce, ONNX and numpy do) instead of overflowing,
 * which would be undefined for signed types; floats add and multiply as usual. */
#define R_ADD(T, a, b)                                                                             \
    _Generic((T)0, float: (T)((a) + (b)), double: (T)((a) + (b)), default: (T)((uint64_t)(a) + (uint64_t)(b)))
#define R_MULT(T, a, b)                                                                            \
    _Generic((T)0, float: (T)((a) * (b)), double: (T)((a) * (b)), default: (T)((uint64_t)(a) * (uint64_t)(b)))

/* One row v folded into accumulator row a, SegmentReduce's way (NaN wins max and min). */
#define R_FOLD(T, kind, a, v, F)                                                                   \
    switch (kind) {                                                                                \
    case R_SUM: case R_MEAN: for (int64_t f = 0; f < (F); f++) (a)[f] = R_ADD(T, (a)[f], (v)[f]); break; \
    case R_MAX: for (int64_t f = 0; f < (F); f++) if ((v)[f] > (a)[f] || (v)[f] != (v)[f]) (a)[f] = (v)[f]; break; \
    case R_MIN: for (int64_t f = 0; f < (F); f++) if ((v)[f] < (a)[f] || (v)[f] != (v)[f]) (a)[f] = (v)[f]; break; \
    default: for (int64_t f = 0; f < (F); f++) (a)[f] = R_MULT(T, (a)[f], (v)[f]); break;                   \
    }

/* The types CsrReduce takes natively (float16 comes widened to float32). */
#define CSR_TYPES(X) X(WEFT_FLOAT32, float) X(WEFT_FLOAT64, double) X(WEFT_INT64, int64_t) X(WEFT_INT32, int32_t)

/* --- structure checks of a CSR index, at run time ------------------------------------------------ */

/* offsets: N + 1 >= 1 entries, offsets[0] = 0, never decreasing, offsets[N] = E. */
static weft_status check_offsets(const weft_kernel_ctx *k, int input, int64_t E)
{
    const weft_tview *o = &k->in[input];
    const int64_t *v = o->data;
    if (o->rank != 1 || o->numel < 1)
        return weft_op_error(k->node, WEFT_ERR_INVALID_ARGUMENT, "input %d (offsets) must be 1-D with N + 1 >= 1 entries",
                             input);
    if (v[0] != 0)
        return weft_op_error(k->node, WEFT_ERR_INVALID_ARGUMENT, "input %d (offsets): offsets[0] = %lld, must be 0", input,
                             (long long)v[0]);
    for (int64_t n = 1; n < o->numel; n++)
        if (v[n] < v[n - 1])
            return weft_op_error(k->node, WEFT_ERR_INVALID_ARGUMENT,
                                 "input %d (offsets) decreases: offsets[%lld] = %lld after offsets[%lld] = %lld", input,
                                 (long long)n, (long long)v[n], (long long)(n - 1), (long long)v[n - 1]);
    if (v[o->numel - 1] != E)
        return weft_op_error(k->node, WEFT_ERR_INVALID_ARGUMENT,
                             "input %d (offsets): offsets[%lld] = %lld, must equal the edge count %lld", input,
                             (long long)(o->numel - 1), (long long)v[o->numel - 1], (long long)E);
    return WEFT_OK;
}

/* Scratch bytes check_perm needs for E edges: one bit each. */
static size_t perm_scratch(int64_t E) { return (size_t)(E / 8 + 1); }

/* perm: E entries, a permutation of [0, E) (so every edge is read, and every output row of
 * CsrEdgeSoftmax written, exactly once). `seen` holds perm_scratch(E) bytes. */
static weft_status check_perm(const weft_kernel_ctx *k, int input, int64_t E, uint8_t *seen)
{
    const weft_tview *p = &k->in[input];
    if (p->rank != 1 || p->numel != E)
        return weft_op_error(k->node, WEFT_ERR_INVALID_ARGUMENT, "input %d (perm) must be 1-D with E = %lld entries, has %lld",
                             input, (long long)E, (long long)p->numel);
    const int64_t *v = p->data;
    memset(seen, 0, perm_scratch(E));
    for (int64_t j = 0; j < E; j++) {
        if (v[j] < 0 || v[j] >= E)
            return weft_op_error(k->node, WEFT_ERR_INDEX, "input %d (perm): perm[%lld] = %lld is out of range [0, %lld)", input,
                                 (long long)j, (long long)v[j], (long long)E);
        if (seen[v[j] >> 3] & (1u << (v[j] & 7)))
            return weft_op_error(k->node, WEFT_ERR_INVALID_ARGUMENT,
                                 "input %d (perm): perm[%lld] = %lld repeats an edge (perm must be a permutation of [0, %lld))",
                                 input, (long long)j, (long long)v[j], (long long)E);
        seen[v[j] >> 3] |= (uint8_t)(1u << (v[j] & 7));
    }
    return WEFT_OK;
}

/* col: E entries in [0, M). */
static weft_status check_col(const weft_kernel_ctx *k, int input, int64_t E, int64_t M)
{
    const weft_tview *c = &k->in[input];
    if (c->rank != 1 || c->numel != E)
        return weft_op_error(k->node, WEFT_ERR_INVALID_ARGUMENT, "input %d (col) must be 1-D with E = %lld entries, has %lld",
                             input, (long long)E, (long long)c->numel);
    const int64_t *v = c->data;
    for (int64_t j = 0; j < E; j++)
        if (v[j] < 0 || v[j] >= M)
            return weft_op_error(k->node, WEFT_ERR_INDEX, "input %d (col): col[%lld] = %lld is out of range [0, %lld)", input,
                                 (long long)j, (long long)v[j], (long long)M);
    return WEFT_OK;
}

/* --- CSR ----------------------------------------------------------------------------------------- */

static weft_status csr_infer(weft_infer_ctx *c)
{
    weft_status st;
    const weft_node_info *n = c->node;
    int64_t wrap = weft_attr_int(n, "wrap", 0), src_wrap = weft_attr_int(n, "src_wrap", 1);
    if ((wrap != 0 && wrap != 1) || (src_wrap != 0 && src_wrap != 1))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attributes wrap and src_wrap must be 0 or 1");
    if ((st = need_index_type(n, c->in_dtype, 0, "index"))) return st;
    if ((st = need_1d(n, &c->in_shape[0], 0, "index"))) return st;
    if (!weft_in_present(c, 1)) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "input 1 (num_segments) is required");
    int64_t N;
    if ((st = count_input(c, 1, "num_segments", &N))) return st;
    bool has_src = weft_in_present(c, 2);
    if (has_src) {
        if ((st = need_index_type(n, c->in_dtype, 2, "src_index"))) return st;
        if ((st = need_1d(n, &c->in_shape[2], 2, "src_index"))) return st;
        if ((st = same_rows(c, 0, "index", 2, "src_index"))) return st;
        if (!weft_in_present(c, 3))
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "input 3 (num_src) is required with input 2 (src_index)");
        int64_t M;
        if ((st = count_input(c, 3, "num_src", &M))) return st;
    } else if (weft_in_present(c, 3)) {
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "input 3 (num_src) is given without input 2 (src_index)");
    }
    if (c->n_out > 2 && !has_src)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "output 2 (col) needs input 2 (src_index)");
    weft_dim E = c->in_shape[0].rank == 1 ? c->in_shape[0].d[0] : weft_dim_unknown(c);
    if (N >= INT64_MAX) return weft_op_error(n, WEFT_ERR_SHAPE, "num_segments = %lld is too large", (long long)N);
    for (int o = 0; o < c->n_out && o < 3; o++) {
        c->out_dtype[o] = WEFT_INT64;
        c->out_shape[o].rank = 1;
        c->out_shape[o].d[0] = o > 0 ? E : N >= 0 ? weft_dim_num(N + 1) : weft_dim_unknown(c);
    }
    return WEFT_OK;
}

/* Checks every value of an index input against [0, n) (or [-n, n) when `wrap`) before anything is
 * written, naming the input, the position and the value. */
static weft_status csr_check_index(const weft_kernel_ctx *k, int input, const char *name, int64_t n, bool wrap)
{
    const weft_tview *t = &k->in[input];
    for (int64_t e = 0; e < t->numel; e++) {
        int64_t v = weft_index_at(t, e);
        if (v < (wrap ? -n : 0) || v >= n)
            return weft_op_error(k->node, WEFT_ERR_INDEX, "input %d (%s): %s[%lld] = %lld is out of range [%lld, %lld)", input,
                                 name, name, (long long)e, (long long)v, (long long)(wrap ? -n : 0), (long long)n);
    }
    return WEFT_OK;
}

static inline int64_t wrapped(const weft_tview *t, int64_t e, int64_t n)
{
    int64_t v = weft_index_at(t, e);
    return v < 0 ? v + n : v;
}

static weft_status csr_run(weft_kernel_ctx *k)
{
    weft_status st;
    const weft_tview *idx = &k->in[0];
    bool wrap = weft_attr_int(k->node, "wrap", 0) != 0, src_wrap = weft_attr_int(k->node, "src_wrap", 1) != 0;
    int64_t N = 0, M = 0, E = idx->numel;
    bool has_src = weft_kin_present(k, 2);
    if ((st = count_value(k, 1, "num_segments", &N))) return st;
    if (k->out[0].numel != N + 1 || k->out[1].numel != E)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "outputs do not have N + 1 and E entries");
    if ((st = csr_check_index(k, 0, "index", N, wrap))) return st;
    if (has_src) {
        if (k->in[2].numel != E)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input 2 (src_index) has %lld entries, input 0 (index) %lld",
                                 (long long)k->in[2].numel, (long long)E);
        if ((st = count_value(k, 3, "num_src", &M))) return st;
        if ((st = csr_check_index(k, 2, "src_index", M, src_wrap))) return st;
    }
    /* Counting sort without scratch: count into off[n + 1], prefix-sum so off[n] is where segment n
     * starts, place each edge at off[n]++ (edge order within a segment: stable), after which off[n]
     * holds segment n's end; shifting by one restores the starts. */
    int64_t *off = k->out[0].data, *perm = k->out[1].data;
    memset(off, 0, (size_t)(N + 1) * sizeof(int64_t));
    for (int64_t e = 0; e < E; e++) off[wrapped(idx, e, N) + 1]++;
    for (int64_t n = 0; n < N; n++) off[n + 1] += off[n];
    for (int64_t e = 0; e < E; e++) perm[off[wrapped(idx, e, N)]++] = e;
    for (int64_t n = N; n > 0; n--) off[n] = off[n - 1];
    off[0] = 0;
    if (has_src && k->n_out > 2) {
        int64_t *col = k->out[2].data;
        for (int64_t j = 0; j < E; j++) col[j] = wrapped(&k->in[2], perm[j], M);
    }
    return WEFT_OK;
}

/* --- CsrReduce ----------------------------------------------------------------------------------- */

static weft_status csr_reduce_infer(weft_infer_ctx *c)
{
    weft_status st;
    const weft_node_info *n = c->node;
    int kind = reduce_kind(n, true);
    if (kind < 0) return bad_reduce(n, true);
    weft_dtype t = c->in_dtype[0];
    if (t != WEFT_FLOAT32 && t != WEFT_FLOAT64 && t != WEFT_FLOAT16 && t != WEFT_INT32 && t != WEFT_INT64)
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input 0 (src): dtype %s is not supported", weft_dtype_name(t));
    const weft_shape *src = &c->in_shape[0];
    if (src->rank == 0) return weft_op_error(n, WEFT_ERR_SHAPE, "input 0 (src) must have rank >= 1");
    if ((st = need_int64(n, c->in_dtype, 1, "offsets")) || (st = need_1d(n, &c->in_shape[1], 1, "offsets"))) return st;
    if ((st = need_int64(n, c->in_dtype, 2, "perm")) || (st = need_1d(n, &c->in_shape[2], 2, "perm"))) return st;
    if ((st = same_rows(c, 0, "src", 2, "perm"))) return st;
    weft_dim N;
    if ((st = segments_dim(c, 1, &N))) return st;
    c->out_dtype[0] = t;
    if (weft_in_present(c, 3)) {
        const weft_shape *init = &c->in_shape[3];
        if (kind == R_MEAN) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "reduce 'mean' cannot take an init input");
        if (c->in_dtype[3] != t)
            return weft_op_error(n, WEFT_ERR_TYPE, "input 3 (init) has dtype %s, src has %s", weft_dtype_name(c->in_dtype[3]),
                                 weft_dtype_name(t));
        if (init->rank >= 0 && src->rank >= 0) {
            if (init->rank != src->rank)
                return weft_op_error(n, WEFT_ERR_SHAPE, "input 3 (init) has rank %d, src has %d", init->rank, src->rank);
            for (int d = 1; d < init->rank; d++) {
                weft_dim a = init->d[d], b = src->d[d];
                /* a 2-D init may be wider than src: its extra columns are left as they are */
                bool wider_ok = init->rank == 2 && weft_dim_known(a) && weft_dim_known(b) && a.v > b.v;
                if (known_ne(a, b) && !wider_ok)
                    return weft_op_error(n, WEFT_ERR_SHAPE, "input 3 (init) has %lld in dimension %d, src has %lld",
                                         (long long)a.v, d, (long long)b.v);
            }
        }
        if (init->rank >= 1 && known_ne(init->d[0], N))
            return weft_op_error(n, WEFT_ERR_SHAPE, "input 3 (init) has %lld rows, offsets give N = %lld",
                                 (long long)init->d[0].v, (long long)N.v);
        c->out_shape[0] = *init;
        return WEFT_OK;
    }
    c->out_shape[0] = *src;
    if (src->rank > 0) c->out_shape[0].d[0] = N;
    return WEFT_OK;
}

static weft_status csr_reduce_body(weft_kernel_ctx *k, void *scratch)
{
    const weft_tview *src = &k->in[0];
    weft_tview *out = &k->out[0];
    int kind = reduce_kind(k->node, true);
    bool has_init = weft_kin_present(k, 3);
    int64_t E = src->dims[0], F = row_size(src), Fo = row_size(out), N = k->in[1].numel - 1;
    weft_status st;
    if ((st = check_offsets(k, 1, E))) return st;
    if ((st = check_perm(k, 2, E, scratch))) return st;
    if (out->dims[0] != N)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "output has %lld rows, offsets give N = %lld", (long long)out->dims[0],
                             (long long)N);
    if (Fo != F && !(has_init && out->rank == 2 && src->rank == 2 && F < Fo))
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "init rows (%lld) and src rows (%lld) differ in size", (long long)Fo,
                             (long long)F);
    if (has_init && k->in[3].numel != out->numel)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "input 3 (init) has %lld elements, the output %lld",
                             (long long)k->in[3].numel, (long long)out->numel);
    const int64_t *off = k->in[1].data, *perm = k->in[2].data;
    if (has_init && out->numel) memcpy(out->data, k->in[3].data, (size_t)out->numel * weft_dtype_size(out->dtype));
    /* Segment n's rows in position order: the edges of n in edge order, as SegmentReduce visits them.
     * Without init the first row starts the segment (so max / min are of the rows themselves) and an
     * empty segment is 0; mean divides the sum by the row count. */
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *s = src->data;                                                                    \
        T *o = out->data;                                                                          \
        for (int64_t n = 0; n < N; n++) {                                                          \
            T *a = o + n * Fo;                                                                     \
            int64_t j = off[n], end = off[n + 1];                                                  \
            if (!has_init) {                                                                       \
                if (j == end) { memset(a, 0, (size_t)F * sizeof(T)); continue; }                   \
                memcpy(a, s + perm[j] * F, (size_t)F * sizeof(T));                                 \
                j++;                                                                               \
            }                                                                                      \
            for (; j < end; j++) {                                                                 \
                const T *v = s + perm[j] * F;                                                      \
                R_FOLD(T, kind, a, v, F)                                                           \
            }                                                                                      \
            int64_t cnt = off[n + 1] - off[n];                                                     \
            if (!has_init && kind == R_MEAN && cnt > 1)                                            \
                for (int64_t f = 0; f < F; f++) a[f] = (T)(a[f] / (T)cnt);                         \
        }                                                                                          \
    }
    WEFT_DISPATCH(out->dtype, CSR_TYPES, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

static weft_status csr_reduce_run(weft_kernel_ctx *k)
{
    /* float16 accumulates in float32 and is rounded once, as SegmentReduce does */
    return weft_math_run_widened(k, perm_scratch(k->in[2].numel), csr_reduce_body);
}

/* --- CsrGatherReduce ----------------------------------------------------------------------------- */

/* Elements of weight per edge: weight [E] and [E, 1] give 1 (the whole row scaled), [E, H] and [E, H, 1]
 * give H (head h of the row scaled by weight[e, h]); -1 for any other shape. */
static int64_t weight_heads(const int64_t *dims, int rank)
{
    if (rank < 1 || rank > 3) return -1;
    if (rank == 3 && dims[2] != 1) return -1;
    return rank == 1 ? 1 : dims[1];
}

static weft_status gather_reduce_infer(weft_infer_ctx *c)
{
    weft_status st;
    const weft_node_info *n = c->node;
    if (reduce_kind(n, false) < 0) return bad_reduce(n, false);
    weft_dtype t = c->in_dtype[0];
    if (t != WEFT_FLOAT32 && t != WEFT_FLOAT64)
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input 0 (x): dtype %s is not supported (float32, float64)",
                             weft_dtype_name(t));
    const weft_shape *x = &c->in_shape[0];
    if (x->rank == 0) return weft_op_error(n, WEFT_ERR_SHAPE, "input 0 (x) must have rank >= 1");
    if ((st = need_int64(n, c->in_dtype, 1, "offsets")) || (st = need_1d(n, &c->in_shape[1], 1, "offsets"))) return st;
    if ((st = need_int64(n, c->in_dtype, 2, "col")) || (st = need_1d(n, &c->in_shape[2], 2, "col"))) return st;
    bool has_perm = weft_in_present(c, 3), has_w = weft_in_present(c, 4);
    if (has_perm) {
        if ((st = need_int64(n, c->in_dtype, 3, "perm")) || (st = need_1d(n, &c->in_shape[3], 3, "perm"))) return st;
        if ((st = same_rows(c, 2, "col", 3, "perm"))) return st;
    }
    if (has_w) {
        if (!has_perm) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "input 4 (weight) needs input 3 (perm)");
        if (c->in_dtype[4] != t)
            return weft_op_error(n, WEFT_ERR_TYPE, "input 4 (weight) has dtype %s, x has %s", weft_dtype_name(c->in_dtype[4]),
                                 weft_dtype_name(t));
        const weft_shape *w = &c->in_shape[4];
        if (w->rank >= 0) {
            if (w->rank < 1 || w->rank > 3 || (w->rank == 3 && known_ne(w->d[2], weft_dim_num(1))))
                return weft_op_error(n, WEFT_ERR_SHAPE, "input 4 (weight) must be [E], [E, 1], [E, H] or [E, H, 1]");
            if ((st = same_rows(c, 2, "col", 4, "weight"))) return st;
            /* H > 1 scales heads: x must be [M, H, ...] */
            if (w->rank >= 2 && weft_dim_known(w->d[1]) && w->d[1].v != 1 && x->rank >= 0 &&
                (x->rank < 2 || known_ne(w->d[1], x->d[1])))
                return weft_op_error(n, WEFT_ERR_SHAPE,
                                     "input 4 (weight) scales H heads, so input 0 (x) must be [M, H, ...] with the same H");
        }
    }
    weft_dim N;
    if ((st = segments_dim(c, 1, &N))) return st;
    c->out_dtype[0] = t;
    c->out_shape[0] = *x;
    if (x->rank > 0) c->out_shape[0].d[0] = N;
    return WEFT_OK;
}

static weft_status gather_reduce_run(weft_kernel_ctx *k)
{
    weft_status st;
    const weft_tview *x = &k->in[0], *colv = &k->in[2];
    weft_tview *out = &k->out[0];
    int kind = reduce_kind(k->node, false);
    bool has_perm = weft_kin_present(k, 3), has_w = weft_kin_present(k, 4);
    int64_t E = colv->numel, N = k->in[1].numel - 1, M = x->dims[0], R = row_size(x), H = 1;
    if ((st = check_offsets(k, 1, E))) return st;
    if ((st = check_col(k, 2, E, M))) return st;
    if (out->dims[0] != N || out->numel != N * R)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "output must be [N = %lld, x's row], has %lld rows", (long long)N,
                             (long long)out->dims[0]);
    if (has_w) {
        const weft_tview *w = &k->in[4];
        H = weight_heads(w->dims, w->rank);
        if (H < 0 || w->dims[0] != E)
            return weft_op_error(k->node, WEFT_ERR_SHAPE,
                                 "input 4 (weight) must be [E], [E, 1], [E, H] or [E, H, 1] with E = %lld", (long long)E);
        if (H != 1 && (x->rank < 2 || x->dims[1] != H))
            return weft_op_error(k->node, WEFT_ERR_SHAPE,
                                 "input 4 (weight) has %lld heads but input 0 (x) is not [M, %lld, ...]", (long long)H,
                                 (long long)H);
    }
    uint8_t *seen = NULL;
    if (has_perm) {
        if (!(seen = k->scratch(k->user, perm_scratch(E))))
            return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of scratch memory");
        if ((st = check_perm(k, 3, E, seen))) return st;
    }
    const int64_t *off = k->in[1].data, *col = colv->data, *perm = has_perm ? k->in[3].data : NULL;
    const int64_t G = H ? R / H : 0; /* elements of x's row that one weight scales */
    /* Row j of the messages is w[perm[j]] * x[col[j]] (in T, as the exported Mul computes it); the
     * messages of a segment fold SegmentReduce's way: the first one starts it, NaN wins max / min, an
     * empty segment is 0, mean divides by the count. */
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *xs = x->data, *w = has_w ? (const T *)k->in[4].data : NULL;                       \
        T *o = out->data;                                                                          \
        for (int64_t n = 0; n < N; n++) {                                                          \
            T *a = o + n * R;                                                                      \
            int64_t j0 = off[n], j1 = off[n + 1];                                                  \
            if (j0 == j1) { memset(a, 0, (size_t)R * sizeof(T)); continue; }                       \
            for (int64_t j = j0; j < j1; j++) {                                                    \
                const T *xr = xs + col[j] * R;                                                     \
                for (int64_t h = 0; h < H; h++) {                                                  \
                    const T wv = w ? w[perm[j] * H + h] : (T)1;                                    \
                    T *ah = a + h * G;                                                             \
                    const T *xh = xr + h * G;                                                      \
                    for (int64_t g = 0; g < G; g++) {                                              \
                        T v = w ? (T)(wv * xh[g]) : xh[g];                                         \
                        if (j == j0) ah[g] = v;                                                    \
                        else if (kind == R_SUM || kind == R_MEAN) ah[g] = ah[g] + v;               \
                        else if (kind == R_MAX) { if (v > ah[g] || v != v) ah[g] = v; }            \
                        else if (v < ah[g] || v != v) ah[g] = v;                                   \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
            if (kind == R_MEAN && j1 - j0 > 1)                                                     \
                for (int64_t f = 0; f < R; f++) a[f] = (T)(a[f] / (T)(j1 - j0));                   \
        }                                                                                          \
    }
    WEFT_DISPATCH(x->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

/* --- CsrEdgeSoftmax ------------------------------------------------------------------------------ */

static weft_status csr_softmax_infer(weft_infer_ctx *c)
{
    weft_status st;
    const weft_node_info *n = c->node;
    weft_dtype t = c->in_dtype[0];
    if (t != WEFT_FLOAT32 && t != WEFT_FLOAT64)
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input 0 (scores): dtype %s is not supported (float32, float64)",
                             weft_dtype_name(t));
    const weft_shape *s = &c->in_shape[0];
    if (s->rank >= 0 && (s->rank < 1 || s->rank > 2))
        return weft_op_error(n, WEFT_ERR_SHAPE, "input 0 (scores) must be [E] or [E, H], got rank %d", s->rank);
    if ((st = need_int64(n, c->in_dtype, 1, "offsets")) || (st = need_1d(n, &c->in_shape[1], 1, "offsets"))) return st;
    if ((st = need_int64(n, c->in_dtype, 2, "perm")) || (st = need_1d(n, &c->in_shape[2], 2, "perm"))) return st;
    if ((st = same_rows(c, 0, "scores", 2, "perm"))) return st;
    weft_dim N;
    if ((st = segments_dim(c, 1, &N))) return st;
    return weft_infer_same_as_input0(c);
}

static weft_status csr_softmax_run(weft_kernel_ctx *k)
{
    weft_status st;
    const weft_tview *sc = &k->in[0];
    int64_t E = sc->dims[0], H = sc->rank == 2 ? sc->dims[1] : 1, N = k->in[1].numel - 1;
    if ((st = check_offsets(k, 1, E))) return st;
    if ((uint64_t)H > SIZE_MAX / 4 / sizeof(double)) return weft_op_error(k->node, WEFT_ERR_NOMEM, "too many heads");
    size_t nh = (size_t)(H ? H : 1) * 2 * sizeof(double);
    double *mx = k->scratch(k->user, nh + perm_scratch(E));
    if (!mx) return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of scratch memory");
    double *sum = mx + H;
    if ((st = check_perm(k, 2, E, (uint8_t *)mx + nh))) return st;
    const int64_t *off = k->in[1].data, *perm = k->in[2].data;
    /* EdgeSoftmax's arithmetic per segment and head: the maximum in double, the sum of exp(s - max) in
     * double in position (= edge) order, each output rounded once. */
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *s = sc->data;                                                                     \
        T *o = k->out[0].data;                                                                     \
        for (int64_t n = 0; n < N; n++) {                                                          \
            int64_t j0 = off[n], j1 = off[n + 1];                                                  \
            for (int64_t h = 0; h < H; h++) { mx[h] = -INFINITY; sum[h] = 0; }                     \
            for (int64_t j = j0; j < j1; j++)                                                      \
                for (int64_t h = 0; h < H; h++)                                                    \
                    if (s[perm[j] * H + h] > mx[h]) mx[h] = s[perm[j] * H + h];                    \
            for (int64_t j = j0; j < j1; j++)                                                      \
                for (int64_t h = 0; h < H; h++) sum[h] += exp((double)s[perm[j] * H + h] - mx[h]); \
            for (int64_t j = j0; j < j1; j++)                                                      \
                for (int64_t h = 0; h < H; h++) {                                                  \
                    int64_t i = perm[j] * H + h;                                                   \
                    o[i] = (T)(exp((double)s[i] - mx[h]) / sum[h]);                                \
                }                                                                                  \
        }                                                                                          \
    }
    WEFT_DISPATCH(sc->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

/* --- LinkScore ----------------------------------------------------------------------------------- */

static weft_status link_infer(weft_infer_ctx *c)
{
    weft_status st;
    const weft_node_info *n = c->node;
    weft_dtype t = c->in_dtype[0];
    if (t != WEFT_FLOAT32 && t != WEFT_FLOAT64)
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input 0 (a): dtype %s is not supported (float32, float64)",
                             weft_dtype_name(t));
    if (c->in_dtype[1] != t)
        return weft_op_error(n, WEFT_ERR_TYPE, "input 1 (b) has dtype %s, a has %s", weft_dtype_name(c->in_dtype[1]),
                             weft_dtype_name(t));
    const weft_shape *a = &c->in_shape[0], *b = &c->in_shape[1];
    if ((a->rank >= 0 && a->rank != 2) || (b->rank >= 0 && b->rank != 2))
        return weft_op_error(n, WEFT_ERR_SHAPE, "inputs 0 (a) and 1 (b) must be 2-D [rows, F]");
    if (a->rank == 2 && b->rank == 2 && known_ne(a->d[1], b->d[1]))
        return weft_op_error(n, WEFT_ERR_SHAPE, "a has F = %lld, b has F = %lld", (long long)a->d[1].v, (long long)b->d[1].v);
    if ((st = need_index_type(n, c->in_dtype, 2, "ia")) || (st = need_1d(n, &c->in_shape[2], 2, "ia"))) return st;
    if ((st = need_index_type(n, c->in_dtype, 3, "ib")) || (st = need_1d(n, &c->in_shape[3], 3, "ib"))) return st;
    if ((st = same_rows(c, 2, "ia", 3, "ib"))) return st;
    c->out_dtype[0] = t;
    c->out_shape[0].rank = 1;
    const weft_shape *ia = &c->in_shape[2], *ib = &c->in_shape[3];
    c->out_shape[0].d[0] = ia->rank == 1 ? ia->d[0] : ib->rank == 1 ? ib->d[0] : weft_dim_unknown(c);
    return WEFT_OK;
}

static weft_status link_run(weft_kernel_ctx *k)
{
    weft_status st;
    const weft_tview *a = &k->in[0], *b = &k->in[1], *ia = &k->in[2], *ib = &k->in[3];
    int64_t P = ia->numel, F = a->dims[1], Na = a->dims[0], Nb = b->dims[0];
    if (ib->numel != P || b->dims[1] != F || k->out[0].numel != P)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "ia and ib must have P entries and a, b the same F");
    /* Gather's convention: [-rows, rows), negative from the end; checked before anything is written */
    if ((st = csr_check_index(k, 2, "ia", Na, true)) || (st = csr_check_index(k, 3, "ib", Nb, true))) return st;
    /* Each product rounded to T (the exported Mul), the sum over f in order in double and rounded once
     * (the exported ReduceSum). */
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *A = a->data, *B = b->data;                                                        \
        T *o = k->out[0].data;                                                                     \
        for (int64_t p = 0; p < P; p++) {                                                          \
            const T *ar = A + wrapped(ia, p, Na) * F, *br = B + wrapped(ib, p, Nb) * F;            \
            double s = 0;                                                                          \
            for (int64_t f = 0; f < F; f++) s += (double)(T)(ar[f] * br[f]);                       \
            o[p] = (T)s;                                                                           \
        }                                                                                          \
    }
    WEFT_DISPATCH(a->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

/* out[p] = <a[ia[p]], b[ib[p]]>: a's row ia[p] receives g[p] b[ib[p]] (and b's row ib[p] g[p] a[ia[p]]),
 * a gather of the other side's rows scaled by the score's gradient, summed into the rows by index: a
 * SegmentReduce into zeros (its init form wraps negative indices, as LinkScore does), which the CSR
 * pass turns into one weighted gather-reduce without the [P, F] rows. */
static weft_status grad_link(weft_grad_ctx *c)
{
    /* g as a [P, 1] column, P written as the score's own length: the gradient's shape comes back from
     * the loss through ops that may lose its symbol, and the CSR pass fuses the scaled gather only
     * where the shapes provably agree */
    int64_t one = 1;
    weft_attr ax = weft_grad_attr_int("axis", 0);
    int cat[2] = {weft_grad_shape_of(c, c->out[0], &c->out_shape[0]), weft_grad_i64s(c, &one, 1)};
    int gcol = weft_grad_op2(c, "Reshape", weft_grad_dout(c, 0), weft_grad_op(c, "Concat", cat, 2, &ax, 1));
    weft_attr sum = weft_grad_attr_string("reduce", "sum");
    for (int side = 0; side < 2; side++) {
        if (!c->want[side]) continue;
        int other = c->in[1 - side], idx_other = c->in[3 - side], idx = c->in[2 + side];
        int rows = weft_grad_op2(c, "Mul", gcol, weft_grad_op2(c, "Gather", other, idx_other));
        int in[4] = {rows, idx, -1, weft_grad_zeros_like(c, c->in[side], &c->in_shape[side])};
        weft_grad_to(c, side, weft_grad_op_in(c, "ai.weft", "SegmentReduce", in, 4, &sum, 1));
    }
    return c->st;
}

/* --- the table ----------------------------------------------------------------------------------- */

const weft_op_def weft_ops_weft_graph[] = {
    /* CSR reads num_segments (its output's length) and num_src on the host */
    {"CSR", DOMAIN, 1, 0, 2, 4, 2, 3, WEFT_OP_VALUE_DEPENDENT_SHAPE, csr_infer, csr_run, (1u << 1) | (1u << 3)},
    {"CsrReduce", DOMAIN, 1, 0, 3, 4, 1, 1, 0, csr_reduce_infer, csr_reduce_run, 0},
    {"CsrGatherReduce", DOMAIN, 1, 0, 3, 5, 1, 1, 0, gather_reduce_infer, gather_reduce_run, 0},
    {"CsrEdgeSoftmax", DOMAIN, 1, 0, 3, 3, 1, 1, 0, csr_softmax_infer, csr_softmax_run, 0},
    {"LinkScore", DOMAIN, 1, 0, 4, 4, 1, 1, 0, link_infer, link_run, 0, grad_link},
};
const int weft_ops_weft_graph_count = sizeof weft_ops_weft_graph / sizeof weft_ops_weft_graph[0];
