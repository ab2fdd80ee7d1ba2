/*
 * tests/unit/test_cuda_eltwise.c — the cuda backend's elementwise, row-wise and data-movement kernels
 * (ops/cuda/eltwise.cu, ops/cuda/movement.cu) against `ref`, one small graph at a time (cuda_check.h):
 * the ONNX one- and two-operand ops under every kind of broadcast (ranks 0 to 5, sizes that are not
 * multiples of 4, zero-size tensors), FusedElementwise programs written by hand (registers reused and
 * redefined, dead instructions, constants, alphas, 40 inputs of different shapes) and made by the
 * compiler from chains of ONNX ops at -O1, L2Normalize, Softmax / LogSoftmax along every axis (and the
 * opset 11 form), LayerNormalization with and without bias and its statistics, Transpose under many
 * permutations (and bool, int32, int64 data), Concat along every axis, Expand, and Reshape and its kin. Every case runs twice on the
 * device, the second time replaying the captured graph.
 *
 * Tolerances (atol + rtol * |ref|):
 *   - arithmetic, Max / Min, Relu-like ops, data movement, FusedElementwise programs of those: exact;
 *   - one-operand math ops and Pow (double on the device, rounded once): rtol 1e-6;
 *   - Softmax (float expf with the rounding of x - max corrected, sums in double): rtol 1e-6, atol
 *     1e-30 (outputs that underflow float); LogSoftmax: rtol 1e-6, atol 1e-12 (near zero, where the
 *     output is -log(1 + tiny), the sum's last bit in double depends on the order of its terms: the
 *     reference's own error there is ~2e-16 absolute);
 *   - LayerNormalization, L2Normalize (statistics in double, summed in another order): rtol 1e-6, and
 *     for LayerNormalization atol 1e-6 (outputs near zero, where x is close to the mean);
 *   - FusedElementwise with transcendental ops: rtol 1e-6, atol 1e-6 (differences of close values).
 * Inputs are random with fixed seeds. Without a GPU the suite prints one line and passes.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/ir.h"
#include "tests/unit/cuda_check.h"
#include "tests/unit/ir_build.h"

#define MAXIN 48
#define F32 WEFT_FLOAT32

/* --- random shapes --------------------------------------------------------------------------------- */

static unsigned fill_seed = 20240611u;

/* --- one node between graph inputs and outputs ----------------------------------------------------- */

typedef struct {
    const char *name;
    char type; /* 'i' int, 'f' float, 's' string, 'I' ints, 'F' floats */
    int64_t i;
    float f;
    const char *s;
    int n;
    const int64_t *ints;
    const float *floats;
} tattr;

typedef struct {
    const char *op, *domain;
    int opset;
    weft_dtype dtype;                 /* of the data inputs: float32 when 0 */
    int n_in;                         /* graph inputs x0, x1, ... */
    int rank[MAXIN];
    int64_t dims[MAXIN][WEFT_MAX_RANK];
    int n_const;                      /* int64 1-D constants after them (shapes, axes) */
    int const_n[4];
    int64_t const_v[4][WEFT_MAX_RANK];
    bool sym0;                        /* the inputs' first dims are symbols, as a graph's sizes are */
    int n_attr;
    tattr attr[4];
    int n_out;                        /* outputs y, y_1, ... (at least 1) */
} node_case;

static void attr_floats(weft_graph *g, int v, const char *name, int n, const float *x)
{
    weft_attr a = {.name = strdup(name), .type = WEFT_ATTR_FLOATS, .n = n, .floats = malloc((size_t)n * sizeof *x + 1)};
    CU_ASSERT_FATAL(a.name && a.floats);
    memcpy(a.floats, x, (size_t)n * sizeof *x);
    CU_ASSERT_FATAL(weft_node_add_attr(&g->nodes[g->values[v].producer], &a) == WEFT_OK);
}

static void set_attrs(weft_graph *g, int v, const tattr *at, int n)
{
    for (int k = 0; k < n; k++) {
        const tattr *a = &at[k];
        switch (a->type) {
        case 'i': irb_attr_i(g, v, a->name, a->i); break;
        case 'f': irb_attr_f(g, v, a->name, a->f); break;
        case 's': irb_attr_s(g, v, a->name, a->s); break;
        case 'I': irb_attr_ints(g, v, a->name, a->n, a->ints); break;
        default: attr_floats(g, v, a->name, a->n, a->floats); break;
        }
    }
}

static const char *const in_names[MAXIN] = {
    "x0",  "x1",  "x2",  "x3",  "x4",  "x5",  "x6",  "x7",  "x8",  "x9",  "x10", "x11", "x12", "x13", "x14", "x15",
    "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x29", "x30", "x31",
    "x32", "x33", "x34", "x35", "x36", "x37", "x38", "x39", "x40", "x41", "x42", "x43", "x44", "x45", "x46", "x47"};

static void build_node(weft_graph *g, void *user)
{
    const node_case *c = user;
    int in[MAXIN + 2];
    bool same0 = true;
    for (int i = 0; i < c->n_in; i++) same0 &= c->rank[i] >= 1 && c->dims[i][0] == c->dims[0][0];
    for (int i = 0; i < c->n_in; i++) {
        in[i] = irb_input(g, in_names[i], c->dtype ? c->dtype : F32, c->rank[i], c->dims[i]);
        if (c->sym0 && c->rank[i] >= 1) { /* one symbol where the sizes agree, one per input otherwise */
            char sym[16];
            snprintf(sym, sizeof sym, same0 ? "n" : "n%d", i);
            g->values[in[i]].shape.d[0] = (weft_dim){0, weft_sym_intern(g->syms, sym)};
        }
    }
    for (int i = 0; i < c->n_const; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        in[c->n_in + i] = irb_constant(g, name, WEFT_INT64, 1, (int64_t[]){c->const_n[i]}, c->const_v[i]);
    }
    int n_out = c->n_out > 0 ? c->n_out : 1;
    int y = irb_node(g, c->op, c->domain ? c->domain : "", c->opset, in, c->n_in + c->n_const, "y", n_out);
    set_attrs(g, y, c->attr, c->n_attr);
    irb_output(g, y);
    for (int o = 1; o < n_out; o++) {
        char name[16];
        snprintf(name, sizeof name, "y_%d", o);
        int v = weft_graph_find_value(g, name);
        CU_ASSERT_FATAL(v >= 0);
        irb_output(g, v);
    }
}

static int64_t numel_of(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int d = 0; d < rank; d++) n *= dims[d];
    return n;
}

static void describe(const char *what, const node_case *c)
{
    fprintf(stderr, "  failing case (%s): %s opset %d, %s%s,", what, c->op, c->opset, weft_dtype_name(c->dtype ? c->dtype : F32),
            c->sym0 ? " (first dims symbols)" : "");
    for (int i = 0; i < c->n_in; i++) {
        fprintf(stderr, " [");
        for (int d = 0; d < c->rank[i]; d++) fprintf(stderr, "%s%lld", d ? "," : "", (long long)c->dims[i][d]);
        fprintf(stderr, "]");
    }
    for (int k = 0; k < c->n_attr; k++) {
        const tattr *a = &c->attr[k];
        if (a->type == 'i') fprintf(stderr, " %s=%lld", a->name, (long long)a->i);
        else if (a->type == 'I') {
            fprintf(stderr, " %s=(", a->name);
            for (int j = 0; j < a->n; j++) fprintf(stderr, "%s%lld", j ? "," : "", (long long)a->ints[j]);
            fprintf(stderr, ")");
        } else if (a->type == 's') fprintf(stderr, " %s=%s", a->name, a->s);
    }
    fprintf(stderr, "\n");
}

/* Random inputs as the graph names them: floats in [lo, hi) (zeros when `zeros`); other dtypes (data
 * movement) random values (bool 0 or 1). */
static void make_inputs(weft_tensor *in, int n, weft_dtype dt, const int *rank, const int64_t (*dims)[WEFT_MAX_RANK],
                        float lo, float hi, bool zeros)
{
    if (!dt) dt = F32;
    const size_t es = weft_dtype_size(dt);
    for (int i = 0; i < n; i++) {
        int64_t m = numel_of(rank[i], dims[i]);
        in[i] = (weft_tensor){.name = in_names[i], .dtype = dt, .rank = rank[i], .nbytes = (size_t)m * es};
        memcpy(in[i].dims, dims[i], sizeof(int64_t) * (size_t)rank[i]);
        in[i].data = calloc((size_t)(m > 0 ? m : 1), es);
        CU_ASSERT_FATAL(in[i].data != NULL);
        if (zeros) continue;
        if (dt == F32) {
            wt_fill_uniform(in[i].data, m, lo, hi, &fill_seed);
        } else {
            uint8_t *b = in[i].data;
            for (size_t j = 0; j < (size_t)m * es; j++) b[j] = dt == WEFT_BOOL ? (uint8_t)(wt_rnd() & 1) : (uint8_t)wt_rnd();
        }
    }
}

static void free_inputs(weft_tensor *in, int n)
{
    for (int i = 0; i < n; i++) free(in[i].data);
}

/* Runs graph `build` (inputs of the given shapes) on ref and on cuda,ref; 0 when they agree. */
static int compare(wt_graph_fn build, void *user, int n_in, weft_dtype dt, const int *rank,
                   const int64_t (*dims)[WEFT_MAX_RANK], float lo, float hi, bool zeros, double rtol, double atol,
                   int opt_level, int min_steps)
{
    weft_tensor in[MAXIN];
    make_inputs(in, n_in, dt, rank, dims, lo, hi, zeros);
    wt_cuda_case c = {.build = build, .user = user, .in = in, .n_in = n_in, .rtol = rtol, .atol = atol,
                      .opt_level = opt_level, .min_cuda_steps = min_steps, .runs = 2};
    int r = wt_cuda_compare(&c);
    free_inputs(in, n_in);
    return r;
}

static int failures;

static void check_node(const char *what, const node_case *c, float lo, float hi, double rtol, double atol)
{
    int r = compare(build_node, (void *)c, c->n_in, c->dtype, c->rank, (const int64_t(*)[WEFT_MAX_RANK])c->dims, lo, hi,
                    false, rtol, atol, 0, 1);
    CU_ASSERT(r == 0);
    if (r) {
        describe(what, c);
        failures++;
    }
}

/* x0 of out's shape or broadcastable to it: a random trailing part with some dims set to 1. */
static void rnd_bcast_shape(int R, const int64_t *out, int *rank, int64_t *dims)
{
    *rank = R - (int)wt_rnd_int(R + 1);
    for (int d = 0; d < *rank; d++) dims[d] = wt_rnd_int(3) == 0 ? 1 : out[d + R - *rank];
}

/* --- two operands ---------------------------------------------------------------------------------- */

static node_case two(const char *op, int ra, const int64_t *a, int rb, const int64_t *b)
{
    node_case c = {.op = op, .opset = 13, .n_in = 2, .rank = {ra, rb}, .n_out = 1};
    memcpy(c.dims[0], a, sizeof(int64_t) * (size_t)ra);
    memcpy(c.dims[1], b, sizeof(int64_t) * (size_t)rb);
    return c;
}

static void test_binary(void)
{
    static const struct { int ra; int64_t a[5]; int rb; int64_t b[5]; } shapes[] = {
        {2, {17, 33}, 2, {17, 33}},        /* same shape, odd size */
        {0, {0}, 0, {0}},                  /* rank 0 */
        {0, {0}, 2, {5, 3}},               /* scalar and tensor */
        {2, {5, 3}, 1, {1}},               /* a single element of rank 1 */
        {3, {4, 1, 6}, 2, {3, 1}},         /* both broadcast */
        {4, {2, 3, 4, 5}, 1, {5}},         /* a row */
        {2, {257, 130}, 2, {257, 1}},      /* a column */
        {2, {7, 1}, 2, {1, 9}},            /* outer product */
        {5, {3, 1, 5, 1, 2}, 5, {1, 4, 1, 6, 1}}, /* alternating */
        {5, {6, 5, 4, 3, 2}, 5, {6, 1, 4, 1, 2}}, /* middle axes */
        {3, {1, 7, 1}, 3, {5, 7, 3}},
        {1, {1029}, 1, {1029}},            /* float4 and a tail */
        {2, {1000, 333}, 1, {333}},
        {2, {256, 1024}, 2, {256, 1024}},  /* large, vectorised */
        {2, {0, 3}, 1, {3}},               /* zero-size */
        {1, {0}, 0, {0}},
        {3, {2, 0, 4}, 3, {2, 1, 4}},
    };
    static const struct { const char *op; float lo, hi; double rtol; } ops[] = {
        {"Add", -3, 3, 0}, {"Sub", -3, 3, 0}, {"Mul", -3, 3, 0}, {"Div", 0.5f, 3, 0},
        {"Max", -3, 3, 0}, {"Min", -3, 3, 0}, {"Pow", 0.1f, 2, 1e-6},
    };
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            node_case c = two(ops[o].op, shapes[s].ra, shapes[s].a, shapes[s].rb, shapes[s].b);
            check_node("binary", &c, ops[o].lo, ops[o].hi, ops[o].rtol, 0);
            c = two(ops[o].op, shapes[s].rb, shapes[s].b, shapes[s].ra, shapes[s].a); /* the other way round */
            check_node("binary, swapped", &c, ops[o].lo, ops[o].hi, ops[o].rtol, 0);
        }
        for (int t = 0; t < 30; t++) { /* random broadcasts of ranks 0 to 5 */
            int R = (int)wt_rnd_int(6);
            int64_t out[5];
            for (int d = 0; d < R; d++) out[d] = wt_rnd_dim(true);
            node_case c = {.op = ops[o].op, .opset = 13, .n_in = 2, .n_out = 1};
            rnd_bcast_shape(R, out, &c.rank[0], c.dims[0]);
            rnd_bcast_shape(R, out, &c.rank[1], c.dims[1]);
            check_node("binary, random", &c, ops[o].lo, ops[o].hi, ops[o].rtol, 0);
        }
    }
}

/* --- one operand ----------------------------------------------------------------------------------- */

static void test_unary(void)
{
    static const struct { const char *op; float lo, hi; double rtol; int opset; tattr attr; } ops[] = {
        {"Neg", -4, 4, 0, 13, {0}},
        {"Abs", -4, 4, 0, 13, {0}},
        {"Relu", -4, 4, 0, 14, {0}},
        {"LeakyRelu", -4, 4, 0, 16, {0}},
        {"LeakyRelu", -4, 4, 0, 16, {.name = "alpha", .type = 'f', .f = 0.2f}},
        {"Elu", -4, 4, 1e-6, 6, {0}},
        {"Elu", -4, 4, 1e-6, 6, {.name = "alpha", .type = 'f', .f = 0.5f}},
        {"Sigmoid", -20, 20, 1e-6, 13, {0}},
        {"Tanh", -4, 4, 1e-6, 13, {0}},
        {"Exp", -20, 20, 1e-6, 13, {0}},
        {"Log", 0.01f, 100, 1e-6, 13, {0}},
        {"Sqrt", 0, 100, 0, 13, {0}},
        {"Reciprocal", 0.25f, 4, 0, 13, {0}},
        {"Cos", -10, 10, 1e-6, 7, {0}},
        {"Sin", -10, 10, 1e-6, 7, {0}},
        {"Erf", -3, 3, 1e-6, 13, {0}},
        {"Softplus", -30, 30, 1e-6, 1, {0}},
        {"Gelu", -5, 5, 1e-6, 20, {0}},
        {"Gelu", -5, 5, 1e-6, 20, {.name = "approximate", .type = 's', .s = "tanh"}},
    };
    static const struct { int rank; int64_t dims[5]; } shapes[] = {
        {0, {0}}, {1, {1029}}, {2, {64, 65}}, {4, {4, 4, 4, 4}}, {2, {0, 4}}, {1, {3}}, {2, {512, 1000}},
    };
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0] + 5; s++) {
            node_case c = {.op = ops[o].op, .opset = ops[o].opset, .n_in = 1, .n_out = 1};
            if (s < sizeof shapes / sizeof shapes[0]) {
                c.rank[0] = shapes[s].rank;
                memcpy(c.dims[0], shapes[s].dims, sizeof shapes[s].dims);
            } else {
                c.rank[0] = (int)wt_rnd_int(6);
                for (int d = 0; d < c.rank[0]; d++) c.dims[0][d] = wt_rnd_dim(true);
            }
            if (ops[o].attr.name) c.attr[c.n_attr++] = ops[o].attr;
            /* transcendental results can underflow float: a tiny atol */
            check_node("unary", &c, ops[o].lo, ops[o].hi, ops[o].rtol, ops[o].rtol ? 1e-30 : 0);
        }
}

/* --- FusedElementwise ------------------------------------------------------------------------------ */

/* Programs of ops/cpu's tests. exact: r3 = x0 * x1; r4 = r3 + c0; r4 = max(r4, x2) (dst is an operand);
 * r5 = relu(r4); r6 = leaky(r5 - x0); r7 = abs(r6) / sqrt(|x1| + c1); r8 = -min(r7, reciprocal(x2));
 * plus a dead instruction (r10 = exp(x0), never read) and a register written twice (r9). */
static const int64_t prog_exact[] = {2, 3, 0, 1,   17, 10, 0, 0,  0, 4, 3, -1,  4, 4, 4, 2,  12, 5, 4, 0,
                                     1, 6, 5, 0,   13, 6, 6, 0,   11, 6, 6, 0,  11, 9, 1, 0, 0, 9, 9, -2,
                                     19, 9, 9, 0,  3, 7, 6, 9,    20, 9, 2, 0,  5, 8, 7, 9,  10, 8, 8, 0};
static const float prog_exact_consts[] = {0.25f, 1.5f};
/* transcendental: elu, sigmoid, tanh, exp, then log, cos, sin, erf, softplus, gelu (both forms), pow */
static const int64_t prog_trans[] = {14, 3, 0, 0,   15, 4, 1, 0,   16, 5, 2, 0,    17, 6, 3, 0,    0, 6, 6, 4,
                                     2, 6, 6, 5,    11, 7, 0, 0,   18, 8, 7, 0,    21, 9, 8, 0,    22, 10, 9, 0,
                                     23, 11, 10, 0, 24, 12, 11, 0, 25, 13, 12, 0,  25, 14, 13, 0,  6, 15, 7, 1,
                                     0, 16, 15, 14, 0, 16, 16, 6};

static node_case fused(int n_in, const int *rank, const int64_t (*dims)[3], const int64_t *code, int n_code)
{
    node_case c = {.op = "FusedElementwise", .domain = "ai.weft", .opset = 1, .n_in = n_in, .n_out = 1};
    for (int i = 0; i < n_in; i++) {
        c.rank[i] = rank[i];
        memcpy(c.dims[i], dims[i], sizeof(int64_t) * (size_t)rank[i]);
    }
    c.attr[c.n_attr++] = (tattr){.name = "program", .type = 'I', .n = n_code, .ints = code};
    return c;
}

static void test_fused_programs(void)
{
    static const struct { int rank[3]; int64_t dims[3][3]; } shapes[] = {
        {{3, 3, 3}, {{30, 20, 77}, {30, 20, 77}, {30, 20, 77}}}, /* same shapes */
        {{3, 3, 3}, {{30, 20, 77}, {1, 1, 77}, {30, 20, 1}}},    /* a row, a column */
        {{3, 3, 0}, {{30, 1, 77}, {1, 20, 1}, {0}}},             /* general broadcast and a scalar */
        {{3, 1, 3}, {{1, 1, 3}, {1}, {1, 1, 3}}},                /* tiny */
        {{0, 0, 0}, {{0}, {0}, {0}}},                            /* rank 0 */
        {{2, 1, 2}, {{0, 5}, {5}, {1, 5}}},                      /* zero-size */
        {{2, 2, 2}, {{1000, 257}, {1000, 257}, {1000, 257}}},    /* large */
    };
    float alphas[18];
    const int n_trans = (int)(sizeof prog_trans / sizeof prog_trans[0]) / 4;
    for (int i = 0; i < n_trans; i++) alphas[i] = 0.7f;
    alphas[12] = 0; /* gelu, erf form */
    alphas[13] = 1; /* gelu, tanh form */
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        node_case c = fused(3, shapes[s].rank, shapes[s].dims, prog_exact, (int)(sizeof prog_exact / sizeof prog_exact[0]));
        c.attr[c.n_attr++] = (tattr){.name = "constants", .type = 'F', .n = 2, .floats = prog_exact_consts};
        check_node("FusedElementwise, exact ops", &c, -2, 2, 0, 0);
        /* the transcendental program wants a positive x1 (pow's exponent base is |x0|) */
        c = fused(3, shapes[s].rank, shapes[s].dims, prog_trans, 4 * n_trans);
        c.attr[c.n_attr++] = (tattr){.name = "alphas", .type = 'F', .n = n_trans, .floats = alphas};
        check_node("FusedElementwise, transcendental ops", &c, -2, 2, 1e-6, 1e-6);
        c = fused(3, shapes[s].rank, shapes[s].dims, prog_trans, 4 * (n_trans - 4));
        check_node("FusedElementwise, default alphas", &c, -2, 2, 1e-6, 1e-6);
    }
    /* 40 inputs of six shapes broadcasting to [6, 5, 7], folded into one value by Add, Mul, Sub, Max */
    enum { N = 40 };
    static const int ranks[6] = {3, 1, 2, 3, 1, 0};
    static const int64_t dims6[6][3] = {{6, 5, 7}, {7}, {5, 1}, {6, 1, 1}, {1}, {0}};
    node_case c = {.op = "FusedElementwise", .domain = "ai.weft", .opset = 1, .n_in = N, .n_out = 1};
    static int64_t code[4 * N];
    int q = 0;
    for (int i = 0; i < N; i++) {
        c.rank[i] = ranks[i % 6];
        memcpy(c.dims[i], dims6[i % 6], sizeof dims6[0]);
        if (i == 0) continue;
        int64_t op = (int64_t[]){0, 2, 1, 4}[i % 4];
        code[4 * q] = op;
        code[4 * q + 1] = N + (q % 3);             /* three registers reused round-robin */
        code[4 * q + 2] = q == 0 ? 0 : N + ((q - 1) % 3);
        code[4 * q + 3] = i;
        q++;
    }
    c.attr[c.n_attr++] = (tattr){.name = "program", .type = 'I', .n = 4 * q, .ints = code};
    check_node("FusedElementwise, 40 inputs", &c, -1, 1, 0, 0);
}

/* Chains of ONNX ops that -O1 fuses into one FusedElementwise. */
typedef struct {
    int kind;
    int rank[3];
    int64_t dims[3][WEFT_MAX_RANK];
} chain_case;

static int node1(weft_graph *g, const char *op, int opset, int x, const char *out)
{
    return irb_node(g, op, "", opset, &x, 1, out, 1);
}

static int node2(weft_graph *g, const char *op, int a, int b, const char *out)
{
    return irb_node(g, op, "", 13, (int[]){a, b}, 2, out, 1);
}

static void build_chain(weft_graph *g, void *user)
{
    const chain_case *c = user;
    int x[3];
    for (int i = 0; i < 3; i++) x[i] = irb_input(g, in_names[i], F32, c->rank[i], c->dims[i]);
    int y;
    if (c->kind == 0) { /* Add -> Relu -> Mul -> Sigmoid */
        int a = node2(g, "Add", x[0], x[1], "a");
        int r = node1(g, "Relu", 14, a, "r");
        int m = node2(g, "Mul", r, x[2], "m");
        y = node1(g, "Sigmoid", 13, m, "y");
    } else if (c->kind == 1) { /* with scalar constants: Tanh((x0 + 0.5) * x1) - 0.25 * x2 */
        const float half = 0.5f, quarter = 0.25f;
        int h = irb_constant(g, "half", F32, 0, NULL, &half), k = irb_constant(g, "quarter", F32, 0, NULL, &quarter);
        int a = node2(g, "Add", x[0], h, "a");
        int m = node2(g, "Mul", a, x[1], "m");
        int t = node1(g, "Tanh", 13, m, "t");
        int s = node2(g, "Mul", k, x[2], "s");
        y = node2(g, "Sub", t, s, "y");
    } else if (c->kind == 2) { /* x0 * x1 - x2, then every one-operand op in a row */
        int v = node2(g, "Mul", x[0], x[1], "m");
        v = node2(g, "Sub", v, x[2], "d");
        v = node1(g, "Tanh", 20, v, "t");
        v = node1(g, "LeakyRelu", 20, v, "l");
        irb_attr_f(g, v, "alpha", 0.3f);
        v = node1(g, "Elu", 20, v, "e");
        irb_attr_f(g, v, "alpha", 0.7f);
        v = node1(g, "Cos", 20, v, "c");
        v = node1(g, "Sin", 20, v, "s");
        v = node1(g, "Erf", 20, v, "f");
        v = node1(g, "Softplus", 20, v, "p");
        v = node1(g, "Gelu", 20, v, "g");
        irb_attr_s(g, v, "approximate", "tanh");
        v = node1(g, "Gelu", 20, v, "g2");
        v = node1(g, "Neg", 20, v, "n");
        v = node1(g, "Abs", 20, v, "b");
        v = node1(g, "Sqrt", 20, v, "q");
        v = node1(g, "Exp", 20, v, "x");
        y = node1(g, "Log", 20, v, "y");
    } else { /* Min(Max((x0 ^ x1 - x2) / Sqrt(x2), x0), Reciprocal(x2)) */
        int p = node2(g, "Pow", x[0], x[1], "p");
        int s = node2(g, "Sub", p, x[2], "s");
        int q = node1(g, "Sqrt", 13, x[2], "q");
        int d = node2(g, "Div", s, q, "d");
        int m = node2(g, "Max", d, x[0], "m");
        int r = node1(g, "Reciprocal", 13, x[2], "r");
        y = node2(g, "Min", m, r, "y");
    }
    irb_output(g, y);
}

static void test_fused_chains(void)
{
    static const struct { int rank[3]; int64_t dims[3][3]; } shapes[] = {
        {{2, 1, 2}, {{64, 33}, {33}, {64, 1}}},
        {{3, 3, 3}, {{4, 5, 6}, {4, 5, 6}, {4, 5, 6}}},
        {{1, 0, 1}, {{1029}, {0}, {1}}},
        {{2, 2, 2}, {{0, 7}, {1, 7}, {0, 1}}},
    };
    for (int kind = 0; kind < 4; kind++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            chain_case c = {.kind = kind};
            memcpy(c.rank, shapes[s].rank, sizeof c.rank);
            for (int i = 0; i < 3; i++) memcpy(c.dims[i], shapes[s].dims[i], sizeof shapes[s].dims[i]);
            float lo = kind == 3 ? 0.1f : -2, hi = 2;
            int r = compare(build_chain, &c, 3, F32, c.rank, (const int64_t(*)[WEFT_MAX_RANK])c.dims, lo, hi, false,
                            1e-6, 1e-6, 1, 1);
            CU_ASSERT(r == 0);
            if (r) fprintf(stderr, "  failing chain %d, shapes %zu\n", kind, s);
        }
}

/* --- rows: L2Normalize, Softmax, LayerNormalization ------------------------------------------------ */

static const struct { int rank; int64_t dims[5]; } row_shapes[] = {
    {1, {1}},          {1, {7}},       {2, {5, 7}},        {2, {300, 3}},   {2, {64, 768}},   {2, {33, 2048}},
    {2, {3, 2049}},    {2, {2, 5000}}, {3, {2, 3, 4096}},  {3, {4, 6, 10}}, {2, {0, 8}},      {2, {8, 0}},
    {4, {2, 3, 5, 4}}, {5, {2, 1, 3, 2, 9}}, {2, {1000, 128}},
};
#define N_ROW_SHAPES (sizeof row_shapes / sizeof row_shapes[0])

static node_case one_row(const char *op, const char *domain, int opset, int i)
{
    node_case c = {.op = op, .domain = domain, .opset = opset, .n_in = 1, .rank = {row_shapes[i].rank}, .n_out = 1};
    memcpy(c.dims[0], row_shapes[i].dims, sizeof row_shapes[i].dims);
    return c;
}

static void test_l2_normalize(void)
{
    for (size_t s = 0; s < N_ROW_SHAPES; s++) {
        node_case c = one_row("L2Normalize", "ai.weft", 1, (int)s);
        check_node("L2Normalize", &c, -3, 3, 1e-6, 0);
        /* rows whose norm is below eps: the clamp */
        c.attr[c.n_attr++] = (tattr){.name = "eps", .type = 'f', .f = 1e-3f};
        check_node("L2Normalize, clamped", &c, -1e-4f, 1e-4f, 1e-6, 0);
    }
    /* zero rows give zeros */
    node_case c = one_row("L2Normalize", "ai.weft", 1, 2);
    int r = compare(build_node, &c, 1, F32, c.rank, (const int64_t(*)[WEFT_MAX_RANK])c.dims, 0, 0, true, 0, 0, 0, 1);
    CU_ASSERT(r == 0);
}

static void test_softmax(void)
{
    static const char *const ops[] = {"Softmax", "LogSoftmax"};
    for (int o = 0; o < 2; o++) {
        const double atol = o ? 1e-12 : 1e-30;
        for (size_t s = 0; s < N_ROW_SHAPES; s++) {
            const int rank = row_shapes[s].rank;
            for (int axis = -rank; axis < rank; axis++) { /* every axis, both spellings */
                node_case c = one_row(ops[o], "", 13, (int)s);
                c.attr[c.n_attr++] = (tattr){.name = "axis", .type = 'i', .i = axis};
                check_node("Softmax", &c, -5, 5, 1e-6, atol);
                if (axis >= 0) {
                    check_node("Softmax, wide range", &c, -60, 60, 1e-6, atol);
                    c.opset = 11; /* the input coerced to 2-D at axis */
                    check_node("Softmax, opset 11", &c, -5, 5, 1e-6, atol);
                }
            }
            node_case c = one_row(ops[o], "", 13, (int)s); /* the default axis: -1, and 1 before opset 13 */
            check_node("Softmax, default axis", &c, -5, 5, 1e-6, atol);
            c.opset = 11;
            if (rank >= 2) check_node("Softmax, opset 11 default axis", &c, -5, 5, 1e-6, atol);
        }
        for (int t = 0; t < 20; t++) {
            node_case c = {.op = ops[o], .opset = 13, .n_in = 1, .rank = {1 + (int)wt_rnd_int(5)}, .n_out = 1};
            for (int d = 0; d < c.rank[0]; d++) c.dims[0][d] = wt_rnd_dim(true);
            c.attr[c.n_attr++] = (tattr){.name = "axis", .type = 'i', .i = wt_rnd_int(c.rank[0])};
            check_node("Softmax, random", &c, -8, 8, 1e-6, atol);
        }
    }
}

static void test_layer_norm(void)
{
    for (size_t s = 0; s < N_ROW_SHAPES; s++) {
        const int rank = row_shapes[s].rank;
        for (int axis = -rank; axis < rank; axis++) {
            const int a = axis < 0 ? axis + rank : axis;
            for (int form = 0; form < 4; form++) {
                /* form 0: scale and bias rows over the normalised axes; 1: no bias; 2: rows with leading 1s,
                 * statistics asked for; 3: single elements */
                node_case c = one_row("LayerNormalization", "", 17, (int)s);
                c.n_in = form == 1 ? 2 : 3;
                for (int i = 1; i < c.n_in; i++) {
                    if (form == 3) {
                        c.rank[i] = i == 1 ? 0 : 1;
                        c.dims[i][0] = 1;
                    } else if (form == 2) {
                        c.rank[i] = rank;
                        for (int d = 0; d < rank; d++) c.dims[i][d] = d < a ? 1 : row_shapes[s].dims[d];
                    } else {
                        c.rank[i] = rank - a;
                        memcpy(c.dims[i], row_shapes[s].dims + a, sizeof(int64_t) * (size_t)(rank - a));
                    }
                }
                c.attr[c.n_attr++] = (tattr){.name = "axis", .type = 'i', .i = axis};
                if (form == 2) {
                    c.n_out = 3;
                    c.attr[c.n_attr++] = (tattr){.name = "epsilon", .type = 'f', .f = 1e-3f};
                }
                /* empty rows leave the statistics unwritten (as the reference): no statistics then */
                if (numel_of(rank, row_shapes[s].dims) == 0) c.n_out = 1;
                check_node("LayerNormalization", &c, -3, 3, 1e-6, 1e-6);
            }
        }
    }
    /* statistics in float64 (stash_type 11) */
    node_case c = one_row("LayerNormalization", "", 17, 4);
    c.n_in = 3;
    c.rank[1] = c.rank[2] = 1;
    c.dims[1][0] = c.dims[2][0] = 768;
    c.n_out = 3;
    c.attr[c.n_attr++] = (tattr){.name = "stash_type", .type = 'i', .i = 11};
    check_node("LayerNormalization, float64 statistics", &c, -3, 3, 1e-6, 1e-6);
    /* a scale that varies along the kept axes is another form: the step stays with ref, still right */
    c = one_row("LayerNormalization", "", 17, 2);
    c.n_in = 2;
    c.rank[1] = 2;
    c.dims[1][0] = 5;
    c.dims[1][1] = 1;
    int r = compare(build_node, &c, 2, F32, c.rank, (const int64_t(*)[WEFT_MAX_RANK])c.dims, -3, 3, false, 1e-6, 1e-6,
                    0, 0);
    CU_ASSERT(r == 0);
}

/* --- data movement --------------------------------------------------------------------------------- */

static void test_transpose(void)
{
    static const struct { int rank; int64_t dims[5]; int64_t perm[5]; } cases[] = {
        {2, {64, 64}, {1, 0}},
        {2, {33, 65}, {1, 0}},              /* partial tiles */
        {3, {3, 130, 257}, {0, 2, 1}},      /* the last two axes */
        {4, {2, 32, 7, 9}, {0, 2, 3, 1}},   /* NCHW -> NHWC */
        {4, {2, 7, 9, 32}, {0, 3, 1, 2}},   /* NHWC -> NCHW */
        {4, {2, 5, 4, 16}, {0, 2, 1, 3}},   /* heads: rows copied */
        {3, {5, 6, 7}, {2, 1, 0}},
        {3, {1, 1, 9}, {2, 0, 1}},
        {5, {2, 3, 4, 5, 6}, {4, 2, 0, 3, 1}},
        {1, {1029}, {0}},
        {2, {0, 5}, {1, 0}},
        {3, {4, 0, 3}, {2, 1, 0}},
        {2, {1, 1}, {1, 0}},
    };
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        node_case c = {.op = "Transpose", .opset = 13, .n_in = 1, .rank = {cases[s].rank}, .n_out = 1};
        memcpy(c.dims[0], cases[s].dims, sizeof cases[s].dims);
        c.attr[c.n_attr++] = (tattr){.name = "perm", .type = 'I', .n = cases[s].rank, .ints = cases[s].perm};
        check_node("Transpose", &c, -9, 9, 0, 0);
    }
    static int64_t perms[60][5];
    for (int t = 0; t < 60; t++) { /* random shapes and permutations, ranks 0 to 5 */
        node_case c = {.op = "Transpose", .opset = 13, .n_in = 1, .rank = {(int)wt_rnd_int(6)}, .n_out = 1};
        const int rank = c.rank[0];
        for (int d = 0; d < rank; d++) c.dims[0][d] = wt_rnd_dim(true);
        for (int d = 0; d < rank; d++) perms[t][d] = d;
        for (int d = rank - 1; d > 0; d--) {
            int j = (int)wt_rnd_int(d + 1);
            int64_t v = perms[t][d];
            perms[t][d] = perms[t][j];
            perms[t][j] = v;
        }
        if (t % 5) c.attr[c.n_attr++] = (tattr){.name = "perm", .type = 'I', .n = rank, .ints = perms[t]};
        check_node("Transpose, random", &c, -9, 9, 0, 0); /* every fifth: no perm, the axes reversed */
        /* any element size: the tiles and copies of 1, 4 and 8 bytes */
        static const weft_dtype other[3] = {WEFT_BOOL, WEFT_INT32, WEFT_INT64};
        c.dtype = other[t % 3];
        check_node("Transpose, random, not float32", &c, 0, 0, 0, 0);
    }
}

static void test_concat(void)
{
    for (int t = 0; t < 80; t++) {
        const int rank = 1 + (int)wt_rnd_int(5), axis = (int)wt_rnd_int(rank);
        node_case c = {.op = "Concat", .opset = 13, .n_in = 1 + (int)wt_rnd_int(4), .n_out = 1};
        int64_t base[5];
        for (int d = 0; d < rank; d++) base[d] = wt_rnd_dim(t % 10 == 0);
        for (int i = 0; i < c.n_in; i++) {
            c.rank[i] = rank;
            memcpy(c.dims[i], base, sizeof base);
            c.dims[i][axis] = wt_rnd_int(4) == 0 ? 0 : 1 + wt_rnd_int(9); /* some inputs empty along the axis */
        }
        c.attr[c.n_attr++] = (tattr){.name = "axis", .type = 'i', .i = t % 2 ? axis : axis - rank};
        check_node("Concat", &c, -9, 9, 0, 0);
    }
    /* large rows: whole-row copies, widened */
    node_case c = {.op = "Concat", .opset = 13, .n_in = 3, .rank = {2, 2, 2}, .n_out = 1,
                   .dims = {{128, 256}, {128, 512}, {128, 4}}};
    c.attr[c.n_attr++] = (tattr){.name = "axis", .type = 'i', .i = 1};
    check_node("Concat, wide rows", &c, -9, 9, 0, 0);
}

static void test_expand(void)
{
    static const struct { int rx; int64_t x[5]; int ns; int64_t shape[5]; } cases[] = {
        {1, {1}, 2, {4, 5}},          {1, {5}, 2, {4, 5}},           {2, {4, 1}, 2, {4, 5}},
        {2, {3, 1}, 3, {2, 1, 6}},    {0, {0}, 3, {2, 3, 4}},        {3, {1, 3, 1}, 4, {2, 3, 3, 5}},
        {2, {6, 7}, 2, {6, 7}},       {2, {1, 1}, 2, {0, 4}},        {1, {1029}, 2, {3, 1029}},
        {3, {1, 1, 256}, 3, {8, 16, 256}}, {2, {1, 5}, 1, {1}},
    };
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        node_case c = {.op = "Expand", .opset = 13, .n_in = 1, .rank = {cases[s].rx}, .n_const = 1,
                       .const_n = {cases[s].ns}, .n_out = 1};
        memcpy(c.dims[0], cases[s].x, sizeof cases[s].x);
        memcpy(c.const_v[0], cases[s].shape, sizeof cases[s].shape);
        check_node("Expand", &c, -9, 9, 0, 0);
    }
    for (int t = 0; t < 30; t++) {
        const int R = (int)wt_rnd_int(6);
        int64_t out[5];
        for (int d = 0; d < R; d++) out[d] = wt_rnd_dim(true);
        node_case c = {.op = "Expand", .opset = 13, .n_in = 1, .n_const = 1, .const_n = {R}, .n_out = 1};
        rnd_bcast_shape(R, out, &c.rank[0], c.dims[0]);
        memcpy(c.const_v[0], out, sizeof out);
        if (R == 0) { /* a 1-D shape input of length 0 cannot be built here: a scalar to [1] */
            c.const_n[0] = 1;
            c.const_v[0][0] = 1;
        }
        check_node("Expand, random", &c, -9, 9, 0, 0);
    }
}

static void test_reshape_family(void)
{
    struct {
        const char *op;
        int opset, rank;
        int64_t dims[5];
        int n_const, cn;
        int64_t cv[5];
        tattr attr;
    } cases[] = {
        {"Reshape", 14, 2, {6, 4}, 1, 2, {3, 8}, {0}},
        {"Reshape", 14, 3, {2, 3, 4}, 1, 3, {0, -1, 2}, {0}},
        {"Reshape", 14, 2, {0, 5}, 1, 2, {5, 0}, {.name = "allowzero", .type = 'i', .i = 1}},
        {"Reshape", 14, 1, {1029}, 1, 3, {3, 7, 49}, {0}},
        {"Flatten", 13, 4, {2, 3, 4, 5}, 0, 0, {0}, {.name = "axis", .type = 'i', .i = 2}},
        {"Flatten", 13, 3, {2, 3, 4}, 0, 0, {0}, {0}},
        {"Squeeze", 13, 3, {3, 1, 4}, 1, 1, {1}, {0}},
        {"Squeeze", 11, 4, {1, 3, 1, 4}, 0, 0, {0}, {0}},
        {"Unsqueeze", 13, 2, {3, 4}, 1, 2, {0, 3}, {0}},
        {"Identity", 16, 3, {2, 5, 7}, 0, 0, {0}, {0}},
        {"Identity", 16, 0, {0}, 0, 0, {0}, {0}},
    };
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        node_case c = {.op = cases[s].op, .opset = cases[s].opset, .n_in = 1, .rank = {cases[s].rank},
                       .n_const = cases[s].n_const, .const_n = {cases[s].cn}, .n_out = 1};
        memcpy(c.dims[0], cases[s].dims, sizeof cases[s].dims);
        memcpy(c.const_v[0], cases[s].cv, sizeof cases[s].cv);
        if (cases[s].attr.name) c.attr[c.n_attr++] = cases[s].attr;
        check_node("Reshape family", &c, -9, 9, 0, 0);
    }
}

/* Random slices: any axes, starts and ends in and out of range (negative, INT64_MIN / MAX), steps of 1
 * to 3; the opset 9 attribute form and the input form without steps; float32, and int64 / bool data
 * sized by a symbol. */
static void test_slice(void)
{
    static const weft_dtype dts[3] = {F32, WEFT_INT64, WEFT_BOOL};
    for (int t = 0; t < 90; t++) {
        const int rank = 1 + (int)wt_rnd_int(4);
        node_case c = {.op = "Slice", .opset = 13, .n_in = 1, .rank = {rank}, .n_out = 1, .dtype = dts[t % 3],
                       .sym0 = t % 3 != 0};
        for (int d = 0; d < rank; d++) c.dims[0][d] = wt_rnd_dim(true) + (t % 7 == 0 ? 40 : 0);
        int axes[WEFT_MAX_RANK];
        for (int d = 0; d < rank; d++) axes[d] = d;
        for (int d = rank - 1; d > 0; d--) {
            int j = (int)wt_rnd_int(d + 1), v = axes[d];
            axes[d] = axes[j];
            axes[j] = v;
        }
        const int na = 1 + (int)wt_rnd_int(rank);
        const bool v1 = t % 4 == 3, no_steps = t % 4 == 2;
        c.n_const = v1 ? 0 : no_steps ? 3 : 4;
        for (int k = 0; k < 4; k++) c.const_n[k] = na;
        for (int i = 0; i < na; i++) {
            const int64_t n = c.dims[0][axes[i]];
            int64_t a = wt_rnd_int(n + 3) - (wt_rnd_int(3) == 0 ? n + 1 : 0), b = wt_rnd_int(n + 4) - (wt_rnd_int(3) == 0 ? n : 0);
            if (wt_rnd_int(6) == 0) b = INT64_MAX;
            if (wt_rnd_int(9) == 0) a = INT64_MIN;
            c.const_v[0][i] = a;
            c.const_v[1][i] = b;
            c.const_v[2][i] = wt_rnd_int(2) ? axes[i] : axes[i] - rank;
            c.const_v[3][i] = 1 + wt_rnd_int(3);
        }
        if (v1) {
            c.opset = 9;
            c.attr[c.n_attr++] = (tattr){.name = "starts", .type = 'I', .n = na, .ints = c.const_v[0]};
            c.attr[c.n_attr++] = (tattr){.name = "ends", .type = 'I', .n = na, .ints = c.const_v[1]};
            c.attr[c.n_attr++] = (tattr){.name = "axes", .type = 'I', .n = na, .ints = c.const_v[2]};
        }
        check_node("Slice, random", &c, -9, 9, 0, 0);
    }
}

static void test_tile(void)
{
    static const weft_dtype dts[3] = {F32, WEFT_INT64, WEFT_INT32};
    static int64_t reps[40][4];
    for (int t = 0; t < 40; t++) {
        const int rank = 1 + (int)wt_rnd_int(4);
        node_case c = {.op = "Tile", .opset = 13, .n_in = 1, .rank = {rank}, .n_const = 1, .const_n = {rank},
                       .n_out = 1, .dtype = dts[t % 3], .sym0 = t % 3 != 0};
        for (int d = 0; d < rank; d++) {
            c.dims[0][d] = wt_rnd_dim(true);
            reps[t][d] = wt_rnd_int(8) == 0 ? 0 : 1 + wt_rnd_int(3);
        }
        if (c.sym0 && reps[t][0] == 0) reps[t][0] = 2; /* an empty output has known size: the host's */
        memcpy(c.const_v[0], reps[t], sizeof reps[t]);
        check_node("Tile, random", &c, -9, 9, 0, 0);
    }
    /* GCN's self-loops: [1, N] tiled to [2, N] */
    node_case c = {.op = "Tile", .opset = 13, .n_in = 1, .rank = {2}, .dims = {{1, 1000}}, .n_const = 1,
                   .const_n = {2}, .const_v = {{2, 1}}, .n_out = 1, .dtype = WEFT_INT64, .sym0 = false};
    c.dims[0][1] = 5000; /* known and large: on the device */
    check_node("Tile, edge index", &c, 0, 0, 0, 0);
}

static void test_split(void)
{
    static const weft_dtype dts[3] = {F32, WEFT_INT64, WEFT_BOOL};
    for (int t = 0; t < 60; t++) {
        const int rank = 1 + (int)wt_rnd_int(4), axis = (int)wt_rnd_int(rank), n = 1 + (int)wt_rnd_int(4);
        node_case c = {.op = "Split", .opset = 13, .n_in = 1, .rank = {rank}, .n_out = n, .dtype = dts[t % 3],
                       .sym0 = t % 3 != 0};
        for (int d = 0; d < rank; d++) c.dims[0][d] = wt_rnd_dim(false);
        c.attr[c.n_attr++] = (tattr){.name = "axis", .type = 'i', .i = t % 2 ? axis : axis - rank};
        if (t % 3 == 2) { /* equal parts (opset 11) */
            c.opset = 11;
            c.dims[0][axis] = n * (1 + wt_rnd_int(4));
        } else { /* sizes from a constant, some of them 0 */
            int64_t sum = 0;
            c.n_const = 1;
            c.const_n[0] = n;
            for (int i = 0; i < n; i++) sum += c.const_v[0][i] = wt_rnd_int(5) == 0 ? 0 : wt_rnd_int(6);
            c.dims[0][axis] = sum;
        }
        check_node("Split, random", &c, -9, 9, 0, 0);
    }
}

/* ConstantOfShape with a value attribute of dtype dt (no attribute: float32 zeros) into [3, k]. */
typedef struct {
    weft_dtype dt;
    int64_t k;
    double v;
} cos_case;

static void build_cos(weft_graph *g, void *user)
{
    const cos_case *c = user;
    int64_t shape[2] = {3, c->k};
    int in = irb_constant(g, "shape", WEFT_INT64, 1, (int64_t[]){2}, shape);
    int y = irb_node(g, "ConstantOfShape", "", 9, &in, 1, "y", 1);
    irb_output(g, y);
    if (!c->dt) return;
    weft_tensor *t = calloc(1, sizeof *t);
    CU_ASSERT_FATAL(t != NULL);
    t->dtype = c->dt;
    t->rank = 1;
    t->dims[0] = 1;
    t->nbytes = weft_dtype_size(c->dt);
    t->data = calloc(1, 8);
    CU_ASSERT_FATAL(t->data != NULL);
    if (c->dt == F32) *(float *)t->data = (float)c->v;
    else if (c->dt == WEFT_INT64) *(int64_t *)t->data = (int64_t)c->v;
    else if (c->dt == WEFT_INT32) *(int32_t *)t->data = (int32_t)c->v;
    else *(uint8_t *)t->data = (uint8_t)c->v;
    weft_attr a = {.name = strdup("value"), .type = WEFT_ATTR_TENSOR, .t = t};
    CU_ASSERT_FATAL(a.name != NULL);
    CU_ASSERT_FATAL(weft_node_add_attr(&g->nodes[g->values[y].producer], &a) == WEFT_OK);
}

/* Range: start, limit and delta as constants (kept as they are at -O0), output sizes over 64 for
 * the integer forms so that the output belongs on the device. */
typedef struct {
    weft_dtype dt;
    double start, limit, delta;
} range_case;

static void build_range(weft_graph *g, void *user)
{
    const range_case *c = user;
    const double v[3] = {c->start, c->limit, c->delta};
    int in[3];
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof name, "r%d", i);
        int64_t i64 = (int64_t)v[i];
        int32_t i32 = (int32_t)v[i];
        float f = (float)v[i];
        const void *p = c->dt == F32 ? (const void *)&f : c->dt == WEFT_INT32 ? (const void *)&i32 : (const void *)&i64;
        in[i] = irb_constant(g, name, c->dt, 0, NULL, p);
    }
    irb_output(g, irb_node(g, "Range", "", 11, in, 3, "y", 1));
}

static void test_made_on_device(void)
{
    static const cos_case cos[] = {{0, 1031, 0}, {F32, 1031, 2.5}, {F32, 0, 2.5}, {WEFT_INT64, 2000, -7},
                                   {WEFT_INT32, 2000, 0}, {WEFT_BOOL, 2000, 1}};
    for (size_t i = 0; i < sizeof cos / sizeof cos[0]; i++) {
        wt_cuda_case c = {.build = build_cos, .user = (void *)&cos[i], .opt_level = 0, .min_cuda_steps = 1, .runs = 2};
        int r = wt_cuda_compare(&c);
        CU_ASSERT(r == 0);
        if (r) fprintf(stderr, "  failing case: ConstantOfShape %zu\n", i);
    }
    static const range_case ranges[] = {{F32, -13, 4000, 0.75},        {F32, 1, 1, 1},
                                        {WEFT_INT64, -5, 20000, 3},     {WEFT_INT64, 9000, -1, -2},
                                        {WEFT_INT32, 3, -20000, -2}};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        wt_cuda_case c = {.build = build_range, .user = (void *)&ranges[i], .opt_level = 0,
                          .min_cuda_steps = ranges[i].start == ranges[i].limit ? 0 : 1, .runs = 2};
        int r = wt_cuda_compare(&c);
        CU_ASSERT(r == 0);
        if (r) fprintf(stderr, "  failing case: Range %zu\n", i);
    }
}

/* Reshape, Concat and Expand of int64 and bool data sized by a symbol (edge indices, masks). */
static void test_movement_dtypes(void)
{
    static const weft_dtype dts[2] = {WEFT_INT64, WEFT_BOOL};
    for (int t = 0; t < 20; t++) {
        node_case c = {.op = "Concat", .opset = 13, .n_in = 2, .rank = {2, 2}, .n_out = 1, .dtype = dts[t % 2],
                       .sym0 = true};
        c.dims[0][0] = c.dims[1][0] = 2;
        c.dims[0][1] = wt_rnd_dim(true);
        c.dims[1][1] = wt_rnd_dim(true);
        c.attr[c.n_attr++] = (tattr){.name = "axis", .type = 'i', .i = 1};
        check_node("Concat, edge indices", &c, 0, 0, 0, 0);
        node_case e = {.op = "Expand", .opset = 13, .n_in = 1, .rank = {2}, .dims = {{1 + wt_rnd_int(7), 1}},
                       .n_const = 1, .const_n = {3}, .const_v = {{2, 1, 5}}, .n_out = 1, .dtype = dts[t % 2],
                       .sym0 = true};
        check_node("Expand, symbol-sized", &e, 0, 0, 0, 0);
        node_case q = {.op = "Squeeze", .opset = 13, .n_in = 1, .rank = {2}, .dims = {{1 + wt_rnd_int(40), 1}},
                       .n_const = 1, .const_n = {1}, .const_v = {{1}}, .n_out = 1, .dtype = dts[t % 2], .sym0 = true};
        check_node("Squeeze, symbol-sized", &q, 0, 0, 0, 0);
    }
}

int main(void)
{
    wt_rnd_seed(0x9E3779B97F4A7C15ull);
    if (wt_cuda_skip("test_cuda_eltwise")) return 0;
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("cuda_eltwise", NULL, NULL);
    CU_add_test(s, "Add, Sub, Mul, Div, Max, Min, Pow under broadcasting", test_binary);
    CU_add_test(s, "one-operand ops", test_unary);
    CU_add_test(s, "FusedElementwise programs", test_fused_programs);
    CU_add_test(s, "FusedElementwise made from ONNX chains at -O1", test_fused_chains);
    CU_add_test(s, "L2Normalize", test_l2_normalize);
    CU_add_test(s, "Softmax and LogSoftmax along every axis", test_softmax);
    CU_add_test(s, "LayerNormalization", test_layer_norm);
    CU_add_test(s, "Transpose", test_transpose);
    CU_add_test(s, "Concat", test_concat);
    CU_add_test(s, "Expand", test_expand);
    CU_add_test(s, "Reshape, Flatten, Squeeze, Unsqueeze, Identity", test_reshape_family);
    CU_add_test(s, "Slice", test_slice);
    CU_add_test(s, "Tile", test_tile);
    CU_add_test(s, "Split", test_split);
    CU_add_test(s, "ConstantOfShape and Range", test_made_on_device);
    CU_add_test(s, "Reshape, Concat, Expand of int64 and bool data", test_movement_dtypes);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int fails = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    if (failures) fprintf(stderr, "test_cuda_eltwise: %d cases differ from ref\n", failures);
    return fails ? 1 : 0;
}
