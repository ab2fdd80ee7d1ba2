/*
 * tests/unit/test_cuda_graph.c — the cuda backend's message-passing steps (ops/cuda/graph.cu, ops/cuda/csr.cu)
 * against `ref`: the CSR index built on the device, the segment reductions over it (CsrReduce,
 * SegmentReduce, CsrGatherReduce; sum, mean, max, min, mul), CsrEdgeSoftmax and EdgeSoftmax, LinkScore,
 * RowGather and ONNX Gather.
 *
 * Every case is a small graph (tests/unit/ir_build.h) compared by wt_cuda_compare (cuda_check.h) on random
 * inputs from a fixed seed, the cuda session run twice (the second run replays the captured graph). The
 * ai.weft CSR ops come both built directly (opt_level 0, their inputs uploaded) and as the compiler makes
 * them from SegmentReduce / EdgeSoftmax / Gather chains (opt_level 1). Shapes cover empty segments and
 * isolated nodes (N >> E), E >> N (rows long enough for the split path of ops/cuda/graph.cu), duplicate
 * edges, zero edges, int32 and int64 indices, rows of 1, 3, 4, 5, 7, 128 and 130 features, init rows
 * wider than src, weights per edge and per head. Indices out of range must fail the run with
 * WEFT_ERR_INDEX and a message naming the node; a CSR index handed to a reader with broken offsets or a
 * repeated edge, with WEFT_ERR_INVALID_ARGUMENT.
 *
 * Results are the reference's bits except where the device sums in another fixed order: rows of more than
 * 1024 edges (chunked), the edge softmax's sum of exponentials and LinkScore's dot products (double, then
 * rounded); those compare within a tolerance. The CSR index and the gathers compare exactly.
 *
 * Which steps the backend takes is checked without a GPU through the backend's `supports`, whenever the
 * build has the backend; the numerical suites skip without a device.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/backend.h"
#include "tests/unit/cuda_check.h"
#include "tests/unit/ir_build.h"

#define RTOL 1e-5
#define ATOL 1e-6
#define MAX_IN 8

static unsigned seed = 20250117u;

/* --- inputs ----------------------------------------------------------------------------------------- */

typedef struct inputs {
    weft_tensor t[MAX_IN];
    int n;
} inputs;

/* A named input tensor of fresh memory (freed by free_inputs); returns its data. */
static void *add_input(inputs *in, const char *name, weft_dtype dt, int rank, const int64_t *dims)
{
    CU_ASSERT_FATAL(in->n < MAX_IN);
    weft_tensor *t = &in->t[in->n++];
    memset(t, 0, sizeof *t);
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    t->name = name;
    t->dtype = dt;
    t->rank = rank;
    if (rank > 0) memcpy(t->dims, dims, (size_t)rank * sizeof dims[0]);
    t->nbytes = (size_t)n * weft_dtype_size(dt);
    t->data = calloc(n > 0 ? (size_t)n : 1, weft_dtype_size(dt));
    CU_ASSERT_FATAL(t->data != NULL);
    return t->data;
}

static void free_inputs(inputs *in)
{
    for (int i = 0; i < in->n; i++) free(in->t[i].data);
    in->n = 0;
}

static float *floats(inputs *in, const char *name, int rank, const int64_t *dims, float lo, float hi)
{
    float *x = add_input(in, name, WEFT_FLOAT32, rank, dims);
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    wt_fill_uniform(x, n, lo, hi, &seed);
    return x;
}

/* An index input of dtype dt (int32 / int64) holding v[0..n). */
static void index_input(inputs *in, const char *name, weft_dtype dt, const long long *v, int64_t n)
{
    void *x = add_input(in, name, dt, 1, &n);
    for (int64_t i = 0; i < n; i++) {
        if (dt == WEFT_INT32) ((int32_t *)x)[i] = (int32_t)v[i];
        else ((int64_t *)x)[i] = v[i];
    }
}

/* n random values in [lo, hi). */
static long long *rand_index(int64_t n, long long lo, long long hi)
{
    long long *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    CU_ASSERT_FATAL(v != NULL);
    wt_fill_index(v, n, hi - lo, &seed);
    for (int64_t i = 0; i < n; i++) v[i] += lo;
    return v;
}

/* The reference's CSR of dst (values in [0, N)): offsets [N + 1] and perm [E], a stable counting sort. */
static void host_csr(const long long *dst, int64_t E, int64_t N, long long *off, long long *perm)
{
    memset(off, 0, (size_t)(N + 1) * sizeof *off);
    for (int64_t e = 0; e < E; e++) off[dst[e] + 1]++;
    for (int64_t n = 0; n < N; n++) off[n + 1] += off[n];
    long long *cur = malloc((size_t)(N + 1) * sizeof *cur);
    CU_ASSERT_FATAL(cur != NULL);
    memcpy(cur, off, (size_t)(N + 1) * sizeof *cur);
    for (int64_t e = 0; e < E; e++) perm[cur[dst[e]]++] = e;
    free(cur);
}

/* --- the graphs -------------------------------------------------------------------------------------- */

typedef struct gcase {
    int64_t E, N, M, F;     /* edges, segments, source rows, features per row (0: rows are scalars) */
    int64_t H, D;           /* heads: rows [H, D] (H > 0), weights [E, H, 1] */
    weft_dtype it, it2;     /* index dtypes (destination, source) */
    const char *reduce;
    bool init, wide;        /* SegmentReduce's init form; a 2-D init 3 columns wider than src */
    bool gather, weight;    /* messages Gather(x, src_index), scaled by w */
    bool src, col;          /* CSR: src_index / num_src given; col output */
    int wrap, src_wrap;     /* CSR attributes, -1: absent */
    bool perm;              /* CsrGatherReduce: perm given */
    int axis, data_rank, idx_rank;
    int64_t data_dims[4], idx_dims[3];
    char label[200];
} gcase;

static int out_of(weft_graph *g, int first, int o) { return g->nodes[g->values[first].producer].outputs[o]; }

static int64_t row_dims(const gcase *c, int64_t lead, int64_t *dims)
{
    dims[0] = lead;
    if (c->H > 0) {
        dims[1] = c->H;
        dims[2] = c->D;
        return 3;
    }
    if (c->F > 0) {
        dims[1] = c->F;
        return 2;
    }
    return 1;
}

static void build_csr(weft_graph *g, void *user)
{
    gcase *c = user;
    int64_t E = c->E;
    int in[4] = {irb_input(g, "index", c->it, 1, &E), irb_constant(g, "num_segments", WEFT_INT64, 0, NULL, &c->N), -1, -1};
    if (c->src) {
        in[2] = irb_input(g, "src_index", c->it2, 1, &E);
        in[3] = irb_constant(g, "num_src", WEFT_INT64, 0, NULL, &c->M);
    }
    int n_out = c->col ? 3 : 2;
    int y = irb_node(g, "CSR", "ai.weft", 1, in, c->src ? 4 : 2, "csr", n_out);
    if (c->wrap >= 0) irb_attr_i(g, y, "wrap", c->wrap);
    if (c->src_wrap >= 0) irb_attr_i(g, y, "src_wrap", c->src_wrap);
    for (int o = 0; o < n_out; o++) irb_output(g, out_of(g, y, o));
}

/* SegmentReduce(messages, index, N [, init]); messages are src, or Gather(x, src_index) [scaled by w]. */
static void build_segment(weft_graph *g, void *user)
{
    gcase *c = user;
    int64_t E = c->E, d[4];
    int msgs;
    if (c->gather) {
        int r = (int)row_dims(c, c->M, d);
        int x = irb_input(g, "x", WEFT_FLOAT32, r, d);
        msgs = irb_node(g, "Gather", "", 17, (int[]){x, irb_input(g, "src_index", c->it2, 1, &E)}, 2, "msgs", 1);
        if (c->weight) {
            int64_t wd[3] = {E, c->H > 0 ? c->H : 1, 1};
            int w = irb_input(g, "w", WEFT_FLOAT32, c->H > 0 ? 3 : 2, wd);
            msgs = irb_node(g, "Mul", "", 17, (int[]){w, msgs}, 2, "scaled", 1);
        }
    } else {
        int r = (int)row_dims(c, E, d);
        msgs = irb_input(g, "src", WEFT_FLOAT32, r, d);
    }
    int in[4] = {msgs, irb_input(g, "index", c->it, 1, &E), -1, -1};
    if (c->init) {
        int r = (int)row_dims(c, c->N, d);
        if (c->wide) d[1] += 3;
        in[3] = irb_input(g, "init", WEFT_FLOAT32, r, d);
    } else {
        in[2] = irb_constant(g, "num_segments", WEFT_INT64, 0, NULL, &c->N);
    }
    int y = irb_node(g, "SegmentReduce", "ai.weft", 1, in, c->init ? 4 : 3, "seg", 1);
    irb_attr_s(g, y, "reduce", c->reduce);
    irb_output(g, y);
}

/* CsrReduce / CsrGatherReduce / CsrEdgeSoftmax on an index given as inputs. */
static void build_reader(weft_graph *g, void *user)
{
    gcase *c = user;
    int64_t E = c->E, N1 = c->N + 1, d[4];
    int off = irb_input(g, "offsets", WEFT_INT64, 1, &N1), y;
    if (c->gather) {
        int r = (int)row_dims(c, c->M, d);
        int in[5] = {irb_input(g, "x", WEFT_FLOAT32, r, d), off, irb_input(g, "col", WEFT_INT64, 1, &E), -1, -1};
        if (c->perm) in[3] = irb_input(g, "perm", WEFT_INT64, 1, &E);
        if (c->weight) {
            int64_t wd[3] = {E, c->H > 0 ? c->H : 1, 1};
            in[4] = irb_input(g, "w", WEFT_FLOAT32, c->H > 0 ? 3 : 1, wd);
        }
        y = irb_node(g, "CsrGatherReduce", "ai.weft", 1, in, c->weight ? 5 : c->perm ? 4 : 3, "gred", 1);
        irb_attr_s(g, y, "reduce", c->reduce);
    } else if (c->reduce) {
        int r = (int)row_dims(c, E, d);
        int in[4] = {irb_input(g, "src", WEFT_FLOAT32, r, d), off, irb_input(g, "perm", WEFT_INT64, 1, &E), -1};
        if (c->init) {
            r = (int)row_dims(c, c->N, d);
            if (c->wide) d[1] += 3;
            in[3] = irb_input(g, "init", WEFT_FLOAT32, r, d);
        }
        y = irb_node(g, "CsrReduce", "ai.weft", 1, in, c->init ? 4 : 3, "red", 1);
        irb_attr_s(g, y, "reduce", c->reduce);
    } else {
        int64_t sd[2] = {E, c->H};
        int in[3] = {irb_input(g, "scores", WEFT_FLOAT32, c->H > 0 ? 2 : 1, sd), off, irb_input(g, "perm", WEFT_INT64, 1, &E)};
        y = irb_node(g, "CsrEdgeSoftmax", "ai.weft", 1, in, 3, "cesm", 1);
    }
    irb_output(g, y);
}

static void build_edge_softmax(weft_graph *g, void *user)
{
    gcase *c = user;
    int64_t E = c->E, sd[2] = {E, c->H};
    int in[3] = {irb_input(g, "scores", WEFT_FLOAT32, c->H > 0 ? 2 : 1, sd), irb_input(g, "index", c->it, 1, &E),
                 irb_constant(g, "num_segments", WEFT_INT64, 0, NULL, &c->N)};
    irb_output(g, irb_node(g, "EdgeSoftmax", "ai.weft", 1, in, 3, "esm", 1));
}

static void build_link(weft_graph *g, void *user)
{
    gcase *c = user;
    int64_t P = c->E, ad[2] = {c->N, c->F}, bd[2] = {c->M, c->F};
    int in[4] = {irb_input(g, "a", WEFT_FLOAT32, 2, ad), irb_input(g, "b", WEFT_FLOAT32, 2, bd), irb_input(g, "ia", c->it, 1, &P),
                 irb_input(g, "ib", c->it2, 1, &P)};
    irb_output(g, irb_node(g, "LinkScore", "ai.weft", 1, in, 4, "link", 1));
}

static void build_gather(weft_graph *g, void *user)
{
    gcase *c = user;
    int in[2] = {irb_input(g, "data", WEFT_FLOAT32, c->data_rank, c->data_dims), irb_input(g, "idx", c->it, c->idx_rank, c->idx_dims)};
    int y;
    if (c->axis == 100) {
        y = irb_node(g, "RowGather", "ai.weft", 1, in, 2, "rg", 1);
    } else {
        y = irb_node(g, "Gather", "", 17, in, 2, "gat", 1);
        irb_attr_i(g, y, "axis", c->axis);
    }
    irb_output(g, y);
}

/* --- running a case ------------------------------------------------------------------------------------ */

static void compare(gcase *c, wt_graph_fn build, inputs *in, double rtol, double atol, int opt, int min_steps)
{
    wt_cuda_case k = {build, c, in->t, in->n, rtol, atol, opt, min_steps, 2};
    int r = wt_cuda_compare(&k);
    if (r) fprintf(stderr, "  case: %s (opt_level %d)\n", c->label, opt);
    CU_ASSERT_EQUAL(r, 0);
}

static void expect_error(gcase *c, wt_graph_fn build, inputs *in, int opt, weft_status want, const char *node)
{
    wt_cuda_case k = {build, c, in->t, in->n, RTOL, ATOL, opt, 1, 2};
    int r = wt_cuda_expect_error(&k, want, node);
    if (r) fprintf(stderr, "  case: %s (opt_level %d)\n", c->label, opt);
    CU_ASSERT_EQUAL(r, 0);
}

static void expect_index_error(gcase *c, wt_graph_fn build, inputs *in, int opt, const char *node)
{
    expect_error(c, build, in, opt, WEFT_ERR_INDEX, node);
}

static gcase base_case(int64_t E, int64_t N)
{
    gcase c;
    memset(&c, 0, sizeof c);
    c.E = E;
    c.N = N;
    c.M = N;
    c.it = c.it2 = WEFT_INT64;
    c.wrap = c.src_wrap = -1;
    return c;
}

/* (E, N) pairs: no edge, one, duplicates (E >> N), isolated nodes (N >> E), rows long enough to be split
 * into chunks (E / N > 1024), and a mid-sized graph. */
static const int64_t SIZES[][2] = {{0, 5}, {1, 1}, {300, 7}, {40, 500}, {6000, 3}, {20000, 4000}};
#define N_SIZES ((int)(sizeof SIZES / sizeof SIZES[0]))

/* --- CSR ------------------------------------------------------------------------------------------------ */

static void test_csr(void)
{
    for (int s = 0; s < N_SIZES; s++)
        for (int v = 0; v < 6; v++) {
            gcase c = base_case(SIZES[s][0], SIZES[s][1]);
            c.it = v & 1 ? WEFT_INT32 : WEFT_INT64;
            c.it2 = v & 2 ? WEFT_INT32 : WEFT_INT64;
            c.src = v >= 2;
            c.col = v >= 4;
            c.M = 3 + s; /* few sources: duplicate (src, dst) pairs */
            bool wrap = v == 3 || v == 5;
            if (wrap) c.wrap = 1;
            if (v == 4) c.src_wrap = 0;
            snprintf(c.label, sizeof c.label, "CSR E %lld N %lld variant %d", (long long)c.E, (long long)c.N, v);
            inputs in = {0};
            long long *dst = rand_index(c.E, wrap ? -c.N : 0, c.N);
            index_input(&in, "index", c.it, dst, c.E);
            long long *src = rand_index(c.E, c.src_wrap == 0 ? 0 : -c.M, c.M);
            if (c.src) index_input(&in, "src_index", c.it2, src, c.E);
            compare(&c, build_csr, &in, 0, 0, 0, 1);
            free(dst);
            free(src);
            free_inputs(&in);
        }
}

static void test_csr_errors(void)
{
    struct { long long bad; bool src; int wrap, src_wrap; const char *what; } cases[] = {
        {9, false, -1, -1, "index = N"},
        {-1, false, -1, -1, "negative index without wrap"},
        {-10, false, 1, -1, "index below -N with wrap"},
        {4, true, -1, -1, "src_index = M"},
        {-1, true, -1, 0, "negative src_index with src_wrap 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gcase c = base_case(500, 9);
        c.M = 4;
        c.src = c.col = cases[i].src;
        c.wrap = cases[i].wrap;
        c.src_wrap = cases[i].src_wrap;
        c.it = i & 1 ? WEFT_INT32 : WEFT_INT64;
        snprintf(c.label, sizeof c.label, "CSR: %s", cases[i].what);
        inputs in = {0};
        long long *dst = rand_index(c.E, 0, c.N), *src = rand_index(c.E, 0, c.M);
        (cases[i].src ? src : dst)[321] = cases[i].bad;
        index_input(&in, "index", c.it, dst, c.E);
        if (c.src) index_input(&in, "src_index", c.it2, src, c.E);
        expect_index_error(&c, build_csr, &in, 0, "csr");
        free(dst);
        free(src);
        free_inputs(&in);
    }
}

/* --- segment reductions -------------------------------------------------------------------------------- */

static const char *const KINDS[] = {"sum", "mean", "max", "min", "mul"};
static const int64_t WIDTHS[] = {0, 1, 3, 4, 7, 128, 130};
#define N_WIDTHS ((int)(sizeof WIDTHS / sizeof WIDTHS[0]))

/* Values near 1 for products (long rows stay finite), else in [-1, 1). Sums of split rows differ from the
 * reference's order by rounding. */
static void seg_bounds(const gcase *c, float *lo, float *hi, double *rtol, double *atol)
{
    bool mul = !strcmp(c->reduce, "mul");
    *lo = mul ? 0.999f : -1.0f;
    *hi = mul ? 1.001f : 1.0f;
    bool split = c->E / (c->N ? c->N : 1) > 512;
    *rtol = split ? 1e-4 : RTOL;
    *atol = split ? 1e-3 : ATOL;
}

static void test_segment_reduce(void)
{
    int t = 0;
    for (int s = 0; s < N_SIZES; s++)
        for (int k = 0; k < 5; k++)
            for (int w = 0; w < N_WIDTHS; w++, t++) {
                gcase c = base_case(SIZES[s][0], SIZES[s][1]);
                c.reduce = KINDS[k];
                c.F = WIDTHS[w];
                c.it = t & 1 ? WEFT_INT32 : WEFT_INT64;
                /* the init form (not for mean): every third case, a wider init every sixth */
                c.init = k != 1 && t % 3 == 0;
                c.wide = c.init && c.F > 0 && t % 6 == 0;
                snprintf(c.label, sizeof c.label, "SegmentReduce %s E %lld N %lld F %lld%s%s %s", c.reduce, (long long)c.E,
                         (long long)c.N, (long long)c.F, c.init ? " init" : "", c.wide ? " (wider)" : "",
                         c.it == WEFT_INT32 ? "int32" : "int64");
                float lo, hi;
                double rtol, atol;
                seg_bounds(&c, &lo, &hi, &rtol, &atol);
                inputs in = {0};
                int64_t d[4];
                int r = (int)row_dims(&c, c.E, d);
                floats(&in, "src", r, d, lo, hi);
                /* the init form wraps negative indices */
                long long *dst = rand_index(c.E, c.init ? -c.N : 0, c.N);
                index_input(&in, "index", c.it, dst, c.E);
                if (c.init) {
                    r = (int)row_dims(&c, c.N, d);
                    if (c.wide) d[1] += 3;
                    floats(&in, "init", r, d, lo, hi);
                }
                /* SegmentReduce on the device, then the compiler's CSR + CsrReduce */
                compare(&c, build_segment, &in, rtol, atol, 0, 1);
                if (w % 3 == 0 || s == 4) compare(&c, build_segment, &in, rtol, atol, 1, 1);
                free(dst);
                free_inputs(&in);
            }
}

static void test_segment_errors(void)
{
    struct { long long bad; bool init; const char *what; } cases[] = {
        {50, false, "index = N"}, {-1, false, "negative index without init"}, {-51, true, "index below -N with init"},
        {50, true, "index = N with init"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int opt = 0; opt < 2; opt++) {
            gcase c = base_case(2000, 50);
            c.reduce = "sum";
            c.F = 5;
            c.init = cases[i].init;
            c.it = i & 1 ? WEFT_INT32 : WEFT_INT64;
            snprintf(c.label, sizeof c.label, "SegmentReduce: %s", cases[i].what);
            inputs in = {0};
            int64_t d[2] = {c.E, c.F}, di[2] = {c.N, c.F};
            floats(&in, "src", 2, d, -1, 1);
            long long *dst = rand_index(c.E, 0, c.N);
            dst[1234] = cases[i].bad;
            index_input(&in, "index", c.it, dst, c.E);
            if (c.init) floats(&in, "init", 2, di, -1, 1);
            /* at -O1 the CSR step the compiler made checks the index: it is named after the index (the
             * init form is lowered only where the compiler finds N as a value) */
            expect_index_error(&c, build_segment, &in, opt, !opt ? "seg" : c.init ? NULL : "index/CSR");
            free(dst);
            free_inputs(&in);
        }
}

/* CsrReduce, CsrGatherReduce and CsrEdgeSoftmax on a valid index made on the host, uploaded as inputs. */
static void test_csr_readers(void)
{
    int t = 0;
    for (int s = 0; s < N_SIZES; s++)
        for (int k = 0; k < 5; k++, t++) {
            int64_t F = WIDTHS[(t * 3) % N_WIDTHS];
            gcase c = base_case(SIZES[s][0], SIZES[s][1]);
            c.F = F;
            c.M = 2 + s * 3;
            long long *dst = rand_index(c.E, 0, c.N), *src = rand_index(c.E, 0, c.M);
            long long *off = malloc((size_t)(c.N + 1) * sizeof *off), *perm = malloc((size_t)(c.E + 1) * sizeof *perm);
            long long *col = malloc((size_t)(c.E + 1) * sizeof *col);
            CU_ASSERT_FATAL(off && perm && col);
            host_csr(dst, c.E, c.N, off, perm);
            for (int64_t j = 0; j < c.E; j++) col[j] = src[perm[j]];
            float lo, hi;
            double rtol, atol;
            int64_t d[4];
            /* CsrReduce (with init every other case; wider when F allows) */
            c.reduce = KINDS[k];
            c.init = k != 1 && t % 2 == 0;
            c.wide = c.init && F > 0 && t % 4 == 0;
            seg_bounds(&c, &lo, &hi, &rtol, &atol);
            snprintf(c.label, sizeof c.label, "CsrReduce %s E %lld N %lld F %lld%s", c.reduce, (long long)c.E, (long long)c.N,
                     (long long)F, c.init ? " init" : "");
            inputs in = {0};
            floats(&in, "src", (int)row_dims(&c, c.E, d), d, lo, hi);
            index_input(&in, "offsets", WEFT_INT64, off, c.N + 1);
            index_input(&in, "perm", WEFT_INT64, perm, c.E);
            if (c.init) {
                int r = (int)row_dims(&c, c.N, d);
                if (c.wide) d[1] += 3;
                floats(&in, "init", r, d, lo, hi);
            }
            compare(&c, build_reader, &in, rtol, atol, 0, 1);
            free_inputs(&in);
            /* CsrGatherReduce: plain, with perm, weighted per edge, weighted per head */
            if (k < 4) {
                c.init = c.wide = false;
                c.gather = true;
                c.perm = t % 4 != 0;
                c.weight = c.perm && t % 3 != 0;
                if (c.weight && t % 2) {
                    c.H = 2;
                    c.D = F > 0 ? F : 3;
                }
                snprintf(c.label, sizeof c.label, "CsrGatherReduce %s E %lld N %lld rows [%lld, %lld]%s%s", c.reduce,
                         (long long)c.E, (long long)c.N, (long long)(c.H ? c.H : F), (long long)c.D, c.perm ? " perm" : "",
                         c.weight ? " weight" : "");
                floats(&in, "x", (int)row_dims(&c, c.M, d), d, -1, 1);
                index_input(&in, "offsets", WEFT_INT64, off, c.N + 1);
                index_input(&in, "col", WEFT_INT64, col, c.E);
                if (c.perm) index_input(&in, "perm", WEFT_INT64, perm, c.E);
                if (c.weight) {
                    int64_t wd[3] = {c.E, c.H > 0 ? c.H : 1, 1};
                    floats(&in, "w", c.H > 0 ? 3 : 1, wd, -1, 1);
                }
                compare(&c, build_reader, &in, rtol, atol, 0, 1);
                free_inputs(&in);
            }
            /* CsrEdgeSoftmax over [E] and [E, 3] scores */
            gcase e = base_case(c.E, c.N);
            e.H = k % 2 ? 3 : 0;
            snprintf(e.label, sizeof e.label, "CsrEdgeSoftmax E %lld N %lld H %lld", (long long)e.E, (long long)e.N, (long long)e.H);
            int64_t sd[2] = {e.E, e.H};
            floats(&in, "scores", e.H ? 2 : 1, sd, -4, 4);
            index_input(&in, "offsets", WEFT_INT64, off, e.N + 1);
            index_input(&in, "perm", WEFT_INT64, perm, e.E);
            compare(&e, build_reader, &in, RTOL, ATOL, 0, 1);
            free_inputs(&in);
            free(dst);
            free(src);
            free(off);
            free(perm);
            free(col);
        }
}

/* Readers handed an index with a value out of range, or a broken one. */
static void test_csr_reader_errors(void)
{
    gcase c = base_case(700, 20);
    c.M = 9;
    c.F = 6;
    long long *dst = rand_index(c.E, 0, c.N), *src = rand_index(c.E, 0, c.M);
    long long *off = malloc((size_t)(c.N + 1) * sizeof *off), *perm = malloc((size_t)c.E * sizeof *perm);
    long long *col = malloc((size_t)c.E * sizeof *col);
    CU_ASSERT_FATAL(off && perm && col);
    host_csr(dst, c.E, c.N, off, perm);
    for (int64_t j = 0; j < c.E; j++) col[j] = src[perm[j]];
    int64_t d[2] = {c.E, c.F}, dx[2] = {c.M, c.F};
    inputs in = {0};
    /* CsrReduce: perm holds E */
    c.reduce = "max";
    snprintf(c.label, sizeof c.label, "CsrReduce: perm out of range");
    long long keep = perm[100];
    perm[100] = c.E;
    floats(&in, "src", 2, d, -1, 1);
    index_input(&in, "offsets", WEFT_INT64, off, c.N + 1);
    index_input(&in, "perm", WEFT_INT64, perm, c.E);
    expect_index_error(&c, build_reader, &in, 0, "red");
    free_inputs(&in);
    /* CsrEdgeSoftmax: the same perm */
    gcase e = base_case(c.E, c.N);
    snprintf(e.label, sizeof e.label, "CsrEdgeSoftmax: perm out of range");
    floats(&in, "scores", 1, &e.E, -1, 1);
    index_input(&in, "offsets", WEFT_INT64, off, e.N + 1);
    index_input(&in, "perm", WEFT_INT64, perm, e.E);
    expect_index_error(&e, build_reader, &in, 0, "cesm");
    free_inputs(&in);
    perm[100] = keep;
    /* broken structure (WEFT_ERR_INVALID_ARGUMENT, as the reference says): offsets decreasing, offsets not
     * ending at E, perm repeating an edge */
    for (int i = 0; i < 3; i++) {
        static const char *const what[] = {"offsets decrease", "offsets end early", "perm repeats an edge"};
        snprintf(c.label, sizeof c.label, "CsrReduce: %s", what[i]);
        long long keep_off = off[c.N / 2], keep_end = off[c.N], keep_perm = perm[200];
        if (i == 0) off[c.N / 2] = off[c.N / 2 + 1] + 1;
        if (i == 1) off[c.N] = c.E - 1;
        if (i == 2) perm[200] = perm[201];
        floats(&in, "src", 2, d, -1, 1);
        index_input(&in, "offsets", WEFT_INT64, off, c.N + 1);
        index_input(&in, "perm", WEFT_INT64, perm, c.E);
        expect_error(&c, build_reader, &in, 0, WEFT_ERR_INVALID_ARGUMENT, "red");
        free_inputs(&in);
        off[c.N / 2] = keep_off;
        off[c.N] = keep_end;
        perm[200] = keep_perm;
    }
    /* CsrGatherReduce: col holds M, then -1 */
    c.gather = true;
    c.reduce = "sum";
    for (int i = 0; i < 2; i++) {
        snprintf(c.label, sizeof c.label, "CsrGatherReduce: col %s", i ? "negative" : "= M");
        long long keep_col = col[555];
        col[555] = i ? -1 : c.M;
        floats(&in, "x", 2, dx, -1, 1);
        index_input(&in, "offsets", WEFT_INT64, off, c.N + 1);
        index_input(&in, "col", WEFT_INT64, col, c.E);
        expect_index_error(&c, build_reader, &in, 0, "gred");
        free_inputs(&in);
        col[555] = keep_col;
    }
    free(dst);
    free(src);
    free(off);
    free(perm);
    free(col);
}

/* SegmentReduce(Gather(x, src) [* w], dst, N) at -O1: the compiler makes CSR + CsrGatherReduce. */
static void test_gather_reduce_chains(void)
{
    int t = 0;
    for (int s = 0; s < N_SIZES; s++)
        for (int k = 0; k < 4; k++)
            for (int v = 0; v < 3; v++, t++) {
                gcase c = base_case(SIZES[s][0], SIZES[s][1]);
                c.reduce = KINDS[k];
                c.M = 2 + (s * 7) % 11;
                c.gather = true;
                c.weight = v > 0;
                c.F = WIDTHS[1 + t % (N_WIDTHS - 1)];
                if (v == 2) {
                    c.H = 4;
                    c.D = c.F;
                }
                c.it = t & 1 ? WEFT_INT32 : WEFT_INT64;
                c.it2 = t & 2 ? WEFT_INT32 : WEFT_INT64;
                snprintf(c.label, sizeof c.label, "Gather + SegmentReduce %s E %lld N %lld F %lld H %lld%s", c.reduce,
                         (long long)c.E, (long long)c.N, (long long)c.F, (long long)c.H, c.weight ? " weighted" : "");
                float lo, hi;
                double rtol, atol;
                seg_bounds(&c, &lo, &hi, &rtol, &atol);
                inputs in = {0};
                int64_t d[4];
                floats(&in, "x", (int)row_dims(&c, c.M, d), d, -1, 1);
                long long *src = rand_index(c.E, -c.M, c.M), *dst = rand_index(c.E, 0, c.N);
                index_input(&in, "src_index", c.it2, src, c.E);
                if (c.weight) {
                    int64_t wd[3] = {c.E, c.H > 0 ? c.H : 1, 1};
                    floats(&in, "w", c.H > 0 ? 3 : 2, wd, -1, 1);
                }
                index_input(&in, "index", c.it, dst, c.E);
                compare(&c, build_segment, &in, rtol, atol, 1, 2);
                free(src);
                free(dst);
                free_inputs(&in);
            }
}

/* --- edge softmax ---------------------------------------------------------------------------------------- */

static void test_edge_softmax(void)
{
    for (int s = 0; s < N_SIZES; s++)
        for (int v = 0; v < 4; v++) {
            gcase c = base_case(SIZES[s][0], SIZES[s][1]);
            c.H = v & 1 ? 3 : 0;
            c.it = v & 2 ? WEFT_INT32 : WEFT_INT64;
            snprintf(c.label, sizeof c.label, "EdgeSoftmax E %lld N %lld H %lld %s", (long long)c.E, (long long)c.N,
                     (long long)c.H, c.it == WEFT_INT32 ? "int32" : "int64");
            inputs in = {0};
            int64_t sd[2] = {c.E, c.H};
            floats(&in, "scores", c.H ? 2 : 1, sd, -8, 8);
            long long *dst = rand_index(c.E, 0, c.N);
            index_input(&in, "index", c.it, dst, c.E);
            compare(&c, build_edge_softmax, &in, RTOL, ATOL, 0, 1);
            compare(&c, build_edge_softmax, &in, RTOL, ATOL, 1, 2);
            free(dst);
            free_inputs(&in);
        }
    for (int opt = 0; opt < 2; opt++) {
        gcase c = base_case(900, 30);
        snprintf(c.label, sizeof c.label, "EdgeSoftmax: index out of range");
        inputs in = {0};
        floats(&in, "scores", 1, &c.E, -1, 1);
        long long *dst = rand_index(c.E, 0, c.N);
        dst[17] = opt ? -1 : c.N;
        index_input(&in, "index", c.it, dst, c.E);
        expect_index_error(&c, build_edge_softmax, &in, opt, opt ? "index/CSR" : "esm");
        free(dst);
        free_inputs(&in);
    }
}

/* --- LinkScore ------------------------------------------------------------------------------------------- */

static void test_link_score(void)
{
    static const int64_t F[] = {1, 3, 4, 16, 64, 128, 130};
    static const int64_t P[] = {0, 1, 37, 5000};
    int t = 0;
    for (int p = 0; p < 4; p++)
        for (int f = 0; f < 7; f++, t++) {
            gcase c = base_case(P[p], 11 + f);
            c.M = 5 + p;
            c.F = F[f];
            c.it = t & 1 ? WEFT_INT32 : WEFT_INT64;
            c.it2 = t & 2 ? WEFT_INT32 : WEFT_INT64;
            snprintf(c.label, sizeof c.label, "LinkScore P %lld F %lld", (long long)c.E, (long long)c.F);
            inputs in = {0};
            int64_t ad[2] = {c.N, c.F}, bd[2] = {c.M, c.F};
            floats(&in, "a", 2, ad, -1, 1);
            floats(&in, "b", 2, bd, -1, 1);
            /* Gather's convention: negative indices count from the end */
            long long *ia = rand_index(c.E, -c.N, c.N), *ib = rand_index(c.E, -c.M, c.M);
            index_input(&in, "ia", c.it, ia, c.E);
            index_input(&in, "ib", c.it2, ib, c.E);
            compare(&c, build_link, &in, RTOL, ATOL, 0, 1);
            free(ia);
            free(ib);
            free_inputs(&in);
        }
    for (int side = 0; side < 2; side++) {
        gcase c = base_case(300, 10);
        c.M = 6;
        c.F = 8;
        snprintf(c.label, sizeof c.label, "LinkScore: %s out of range", side ? "ib" : "ia");
        inputs in = {0};
        int64_t ad[2] = {c.N, c.F}, bd[2] = {c.M, c.F};
        floats(&in, "a", 2, ad, -1, 1);
        floats(&in, "b", 2, bd, -1, 1);
        long long *ia = rand_index(c.E, 0, c.N), *ib = rand_index(c.E, 0, c.M);
        if (side) ib[99] = -c.M - 1;
        else ia[99] = c.N;
        index_input(&in, "ia", c.it, ia, c.E);
        index_input(&in, "ib", c.it2, ib, c.E);
        expect_index_error(&c, build_link, &in, 0, "link");
        free(ia);
        free(ib);
        free_inputs(&in);
    }
}

/* --- gathers ----------------------------------------------------------------------------------------------- */

static void gather_case(int64_t n, const int64_t *rest, int rest_rank, int axis, int idx_rank, const int64_t *idx_dims,
                        weft_dtype it, long long bad)
{
    gcase c = base_case(0, 0);
    c.axis = axis;
    c.it = it;
    c.data_rank = 1 + rest_rank;
    c.data_dims[0] = n;
    memcpy(c.data_dims + 1, rest, (size_t)rest_rank * sizeof *rest);
    c.idx_rank = idx_rank;
    if (idx_rank > 0) memcpy(c.idx_dims, idx_dims, (size_t)idx_rank * sizeof *idx_dims);
    int64_t m = 1;
    for (int i = 0; i < idx_rank; i++) m *= idx_dims[i];
    int ax = axis == 100 ? 0 : axis < 0 ? axis + c.data_rank : axis;
    int64_t len = c.data_dims[ax];
    snprintf(c.label, sizeof c.label, "%s axis %d, data rank %d ([%lld, ...]), %lld indices%s", axis == 100 ? "RowGather" : "Gather",
             axis == 100 ? 0 : axis, c.data_rank, (long long)n, (long long)m, bad ? " with one out of range" : "");
    inputs in = {0};
    floats(&in, "data", c.data_rank, c.data_dims, -1, 1);
    /* Gather takes negative indices, RowGather does not */
    long long *v = rand_index(m, axis == 100 ? 0 : -len, len);
    if (bad && m > 0) v[m / 2] = bad;
    void *x = add_input(&in, "idx", it, idx_rank, idx_dims);
    for (int64_t i = 0; i < m; i++) {
        if (it == WEFT_INT32) ((int32_t *)x)[i] = (int32_t)v[i];
        else ((int64_t *)x)[i] = v[i];
    }
    if (bad) expect_index_error(&c, build_gather, &in, 0, axis == 100 ? "rg" : "gat");
    else compare(&c, build_gather, &in, 0, 0, 0, 1);
    free(v);
    free_inputs(&in);
}

static void test_gathers(void)
{
    static const int64_t F[] = {1, 3, 4, 5, 128, 130};
    for (int f = 0; f < 6; f++)
        for (int k = 0; k < 2; k++) {
            weft_dtype it = k ? WEFT_INT32 : WEFT_INT64;
            int64_t m1[1] = {257}, m2[2] = {7, 9}, m0[1] = {0};
            gather_case(40, &F[f], 1, 100, 1, m1, it, 0);                            /* RowGather [n, F] */
            gather_case(40, (int64_t[]){2, F[f]}, 2, 100, 1, m1, it, 0);             /* RowGather [n, 2, F] */
            gather_case(40, &F[f], 1, 0, 2, m2, it, 0);                               /* Gather axis 0, [7, 9] indices */
            gather_case(6, (int64_t[]){F[f], 3}, 2, 1, 1, m1, it, 0);                /* Gather axis 1 */
            gather_case(6, (int64_t[]){5, F[f]}, 2, -1, 2, m2, it, 0);               /* Gather axis -1 */
            gather_case(40, &F[f], 1, 0, 0, NULL, it, 0);                             /* a scalar index */
            gather_case(40, &F[f], 1, k ? 100 : 0, 1, m0, it, 0);                    /* no index */
        }
    int64_t m1[1] = {300}, f5[1] = {5};
    gather_case(40, f5, 1, 100, 1, m1, WEFT_INT64, 40);
    gather_case(40, f5, 1, 100, 1, m1, WEFT_INT32, -1);
    gather_case(40, f5, 1, 0, 1, m1, WEFT_INT64, -41);
    gather_case(40, f5, 1, 0, 1, m1, WEFT_INT32, 40);
    gather_case(6, (int64_t[]){5, 3}, 2, 1, 1, m1, WEFT_INT64, 5);
    gather_case(0, f5, 1, 0, 1, m1, WEFT_INT64, 1); /* every index is out of range of an empty axis */
}

/* --- which steps the backend takes (no GPU needed) -------------------------------------------------------- */

typedef struct desc_case {
    weft_node_info node;
    weft_attr attrs[2];
    weft_dtype idt[MAX_IN], odt[3];
    weft_shape ish[MAX_IN], osh[3];
    const void *cdata[MAX_IN];
    weft_step_desc d;
} desc_case;

static weft_shape shp1(int rank, int64_t d0, int64_t d1)
{
    weft_shape s = {rank};
    if (rank > 0) s.d[0] = weft_dim_num(d0);
    if (rank > 1) s.d[1] = weft_dim_num(d1);
    return s;
}

/* Whether the cuda backend takes op(inputs of dtypes dt[], rank-2 [8, 4] data, 1-D indices). `ranks`
 * gives each input's rank (0: a scalar; -1: absent). */
static bool takes(const char *domain, const char *op, int n_in, const weft_dtype *dt, const int *ranks, int n_out,
                  weft_dtype out_dt, const char *attr, const char *sval, int64_t ival)
{
    const weft_backend *be = weft_backend_find("cuda");
    desc_case c;
    memset(&c, 0, sizeof c);
    int n_attrs = 0;
    if (attr) {
        c.attrs[0] = sval ? (weft_attr){.name = (char *)attr, .type = WEFT_ATTR_STRING, .s = (char *)sval, .s_len = strlen(sval)}
                          : (weft_attr){.name = (char *)attr, .type = WEFT_ATTR_INT, .i = ival};
        n_attrs = 1;
    }
    c.node = (weft_node_info){"step", op, domain, domain[0] ? 1 : 17, n_attrs, c.attrs};
    for (int i = 0; i < n_in; i++) {
        c.idt[i] = ranks[i] < 0 ? WEFT_UNDEFINED : dt[i];
        c.ish[i] = shp1(ranks[i] < 0 ? 0 : ranks[i], 8, 4);
    }
    for (int o = 0; o < n_out; o++) {
        c.odt[o] = out_dt;
        c.osh[o] = shp1(2, 8, 4);
    }
    c.d = (weft_step_desc){weft_op_find(domain, op, c.node.opset), &c.node, n_in, n_out, c.idt, c.ish, c.cdata, c.odt, c.osh};
    CU_ASSERT_FATAL(c.d.def != NULL);
    return be->supports(&c.d);
}

static void test_supports(void)
{
    if (!weft_backend_find("cuda")) return;
    const weft_dtype F32 = WEFT_FLOAT32, F64 = WEFT_FLOAT64, I64 = WEFT_INT64, I32 = WEFT_INT32;
    /* CSR: int32 / int64 indices */
    CU_ASSERT(takes("ai.weft", "CSR", 2, (weft_dtype[]){I32, I64}, (int[]){1, 0}, 2, I64, NULL, NULL, 0));
    CU_ASSERT(takes("ai.weft", "CSR", 4, (weft_dtype[]){I64, I64, I32, I64}, (int[]){1, 0, 1, 0}, 3, I64, NULL, NULL, 0));
    /* reductions: float32 rows, every reduce of the op */
    for (int k = 0; k < 5; k++) {
        CU_ASSERT(takes("ai.weft", "CsrReduce", 3, (weft_dtype[]){F32, I64, I64}, (int[]){2, 1, 1}, 1, F32, "reduce", KINDS[k], 0));
        CU_ASSERT(takes("ai.weft", "SegmentReduce", 3, (weft_dtype[]){F32, I32, I64}, (int[]){2, 1, 0}, 1, F32, "reduce", KINDS[k], 0));
        CU_ASSERT(!takes("ai.weft", "CsrReduce", 3, (weft_dtype[]){F64, I64, I64}, (int[]){2, 1, 1}, 1, F64, "reduce", KINDS[k], 0));
        CU_ASSERT(takes("ai.weft", "CsrGatherReduce", 3, (weft_dtype[]){F32, I64, I64}, (int[]){2, 1, 1}, 1, F32, "reduce", KINDS[k],
                        0) == (k != 4));
    }
    CU_ASSERT(!takes("ai.weft", "SegmentReduce", 3, (weft_dtype[]){F64, I64, I64}, (int[]){2, 1, 0}, 1, F64, "reduce", "sum", 0));
    CU_ASSERT(!takes("ai.weft", "CsrReduce", 3, (weft_dtype[]){F32, I64, I64}, (int[]){2, 1, 1}, 1, F32, "reduce", "median", 0));
    /* weighted gather-reduce */
    CU_ASSERT(takes("ai.weft", "CsrGatherReduce", 5, (weft_dtype[]){F32, I64, I64, I64, F32}, (int[]){2, 1, 1, 1, 1}, 1, F32,
                    "reduce", "mean", 0));
    CU_ASSERT(!takes("ai.weft", "CsrGatherReduce", 5, (weft_dtype[]){F64, I64, I64, I64, F64}, (int[]){2, 1, 1, 1, 1}, 1, F64,
                     "reduce", "mean", 0));
    /* softmax, scores, gathers */
    CU_ASSERT(takes("ai.weft", "CsrEdgeSoftmax", 3, (weft_dtype[]){F32, I64, I64}, (int[]){2, 1, 1}, 1, F32, NULL, NULL, 0));
    CU_ASSERT(!takes("ai.weft", "CsrEdgeSoftmax", 3, (weft_dtype[]){F64, I64, I64}, (int[]){2, 1, 1}, 1, F64, NULL, NULL, 0));
    CU_ASSERT(takes("ai.weft", "EdgeSoftmax", 3, (weft_dtype[]){F32, I32, I64}, (int[]){1, 1, 0}, 1, F32, NULL, NULL, 0));
    CU_ASSERT(takes("ai.weft", "LinkScore", 4, (weft_dtype[]){F32, F32, I32, I64}, (int[]){2, 2, 1, 1}, 1, F32, NULL, NULL, 0));
    CU_ASSERT(!takes("ai.weft", "LinkScore", 4, (weft_dtype[]){F64, F64, I32, I64}, (int[]){2, 2, 1, 1}, 1, F64, NULL, NULL, 0));
    CU_ASSERT(takes("ai.weft", "RowGather", 2, (weft_dtype[]){F32, I32}, (int[]){2, 1}, 1, F32, NULL, NULL, 0));
    CU_ASSERT(takes("", "Gather", 2, (weft_dtype[]){F32, I64}, (int[]){2, 1}, 1, F32, "axis", NULL, 1));
    CU_ASSERT(takes("", "Gather", 2, (weft_dtype[]){F32, I64}, (int[]){2, 1}, 1, F32, "axis", NULL, -2));
    /* int32 / int64 data too: an edge index's rows are gathered on the device */
    CU_ASSERT(takes("", "Gather", 2, (weft_dtype[]){I64, I64}, (int[]){2, 1}, 1, I64, "axis", NULL, 0));
    CU_ASSERT(takes("", "Gather", 2, (weft_dtype[]){I32, I32}, (int[]){2, 1}, 1, I32, "axis", NULL, 0));
    CU_ASSERT(!takes("", "Gather", 2, (weft_dtype[]){WEFT_BOOL, I64}, (int[]){2, 1}, 1, WEFT_BOOL, "axis", NULL, 0));
    CU_ASSERT(!takes("", "Gather", 2, (weft_dtype[]){F64, I64}, (int[]){2, 1}, 1, F64, "axis", NULL, 0));
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    bool skip = wt_cuda_skip("cuda graph");
    if (skip && !weft_backend_find("cuda")) {
        CU_cleanup_registry();
        return 0;
    }
    CU_pSuite s = CU_add_suite("cuda graph: supports", NULL, NULL);
    CU_add_test(s, "float32 rows, int32 / int64 indices", test_supports);
    if (!skip) {
        s = CU_add_suite("cuda graph", NULL, NULL);
        CU_add_test(s, "CSR", test_csr);
        CU_add_test(s, "CSR: indices out of range", test_csr_errors);
        CU_add_test(s, "SegmentReduce, and CSR + CsrReduce at -O1", test_segment_reduce);
        CU_add_test(s, "SegmentReduce: indices out of range", test_segment_errors);
        CU_add_test(s, "CsrReduce, CsrGatherReduce, CsrEdgeSoftmax on uploaded indices", test_csr_readers);
        CU_add_test(s, "CSR readers: indices out of range", test_csr_reader_errors);
        CU_add_test(s, "Gather + SegmentReduce chains at -O1", test_gather_reduce_chains);
        CU_add_test(s, "EdgeSoftmax", test_edge_softmax);
        CU_add_test(s, "LinkScore", test_link_score);
        CU_add_test(s, "RowGather and Gather", test_gathers);
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int fails = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
