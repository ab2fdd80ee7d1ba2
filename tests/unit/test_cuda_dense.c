/*
 * tests/unit/test_cuda_dense.c — the cuda backend's dense steps (ops/cuda/dense.c: MatMul with a 2-D or a
 * batched B, Gemm, ai.weft FusedMatMul through cuBLASLt, with the epilogue pass of
 * ops/cuda/dense_epilogue.cu) against `ref`.
 *
 * Each case is one node built with tests/unit/ir_build.h and compared by wt_cuda_compare (cuda_check.h):
 * lowered for `cuda,ref` and for `ref`, run on the same random inputs (a fixed seed), outputs within
 * rtol 1e-4 + atol 1e-5 (cuBLASLt sums over k in float32 and in another order than ref's double sum).
 * Shapes cover zero rows, K = 0, N = 1, odd sizes and leading dims; weights are constants (uploaded once)
 * or inputs. Gemm: every transpose, alpha and beta (0 included), C absent, full, a row, a column, a
 * scalar. FusedMatMul: 1 to 3 terms (some with K = 0), transposed weights, bias, acc, normalize and each
 * activation, built directly and as the MatMul / Add / Relu / L2-normalisation chains the compiler fuses
 * at -O1. Batched MatMul: equal batches, a broadcast A, a broadcast B, an empty batch; batches broadcast
 * along some axes only go to the host and must still match. A whole model (models/sage_mean_ts18) runs
 * on `cuda,ref`, in float32 and with TF32 allowed.
 *
 * Which steps the backend takes (float32 only; batched forms it can stride) is checked without a GPU
 * through the backend's `supports`, whenever the build has the backend; the numerical suites skip
 * without a device.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/backend.h"
#include "tests/unit/cuda_check.h"
#include "tests/unit/ir_build.h"

#define MAX_IN 10
#define MAX_ATTRS 6
#define RTOL 1e-4
#define ATOL 1e-5

static unsigned seed = 20240611u;

/* --- one node, built and compared ----------------------------------------------------------------------- */

typedef struct operand {
    bool present;
    bool is_const; /* an initializer (uploaded once per plan) rather than a graph input */
    int rank;
    int64_t dims[WEFT_MAX_RANK];
} operand;

typedef struct attr {
    const char *name;
    char type; /* 'i', 'f', 's', 'I' (ints) */
    int64_t i;
    float f;
    const char *s;
    int n;
    int64_t ints[8];
} attr;

typedef struct node_case {
    const char *op, *domain;
    int opset;
    int n_in;
    operand in[MAX_IN];
    int n_attrs;
    attr at[MAX_ATTRS];
    int min_cuda_steps;
    char label[256];
    /* filled by run_case */
    float *data[MAX_IN];
    char names[MAX_IN][8];
} node_case;

static void build_node(weft_graph *g, void *user)
{
    node_case *c = user;
    int ins[MAX_IN];
    for (int i = 0; i < c->n_in; i++) {
        const operand *o = &c->in[i];
        if (!o->present) ins[i] = -1;
        else if (o->is_const) ins[i] = irb_constant(g, c->names[i], WEFT_FLOAT32, o->rank, o->dims, c->data[i]);
        else ins[i] = irb_input(g, c->names[i], WEFT_FLOAT32, o->rank, o->dims);
    }
    int y = irb_node(g, c->op, c->domain, c->opset, ins, c->n_in, "y", 1);
    for (int a = 0; a < c->n_attrs; a++) {
        const attr *t = &c->at[a];
        switch (t->type) {
        case 'i': irb_attr_i(g, y, t->name, t->i); break;
        case 'f': irb_attr_f(g, y, t->name, t->f); break;
        case 's': irb_attr_s(g, y, t->name, t->s); break;
        default: irb_attr_ints(g, y, t->name, t->n, t->ints); break;
        }
    }
    irb_output(g, y);
}

static int64_t numel(const operand *o)
{
    int64_t n = 1;
    for (int i = 0; i < o->rank; i++) n *= o->dims[i];
    return n;
}

static void add_attr(node_case *c, attr a) { c->at[c->n_attrs++] = a; }

/* Random data for every operand, then the comparison (two cuda runs: the second replays the captured
 * graph). */
static void run_case(node_case *c)
{
    weft_tensor t[MAX_IN];
    int nt = 0;
    for (int i = 0; i < c->n_in; i++) {
        c->data[i] = NULL;
        if (!c->in[i].present) continue;
        snprintf(c->names[i], sizeof c->names[i], "in%d", i);
        int64_t n = numel(&c->in[i]);
        c->data[i] = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
        CU_ASSERT_FATAL(c->data[i] != NULL);
        wt_fill_uniform(c->data[i], n, -1.0f, 1.0f, &seed);
        if (c->in[i].is_const) continue;
        weft_tensor *x = &t[nt++];
        memset(x, 0, sizeof *x);
        x->name = c->names[i];
        x->dtype = WEFT_FLOAT32;
        x->rank = c->in[i].rank;
        memcpy(x->dims, c->in[i].dims, sizeof x->dims);
        x->data = c->data[i];
        x->nbytes = (size_t)n * sizeof(float);
    }
    wt_cuda_case k = {build_node, c, t, nt, RTOL, ATOL, 0, c->min_cuda_steps, 2};
    int r = wt_cuda_compare(&k);
    if (r) fprintf(stderr, "  case: %s\n", c->label);
    CU_ASSERT_EQUAL(r, 0);
    for (int i = 0; i < c->n_in; i++) free(c->data[i]);
}

static operand opd(bool is_const, int rank, const int64_t *dims)
{
    operand o = {true, is_const, rank, {0}};
    for (int i = 0; i < rank; i++) o.dims[i] = dims[i];
    return o;
}

static const operand absent = {false, false, 0, {0}};

/* --- MatMul with a 2-D B ---------------------------------------------------------------------------------- */

static const int64_t shapes[][3] = {
    /* rows, K, N */
    {0, 5, 3}, {7, 0, 4}, {1, 1, 1}, {13, 17, 1}, {33, 65, 31}, {128, 64, 96}, {257, 3, 5}, {5, 200, 2}, {64, 128, 128},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

static void test_matmul(void)
{
    for (int s = 0; s < N_SHAPES; s++)
        for (int lead = 0; lead < 3; lead++) {
            int64_t r = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
            node_case c = {"MatMul", "", 17, 2};
            /* A [rows, K], [2, rows, K] or [3, 2, rows, K]: leading dims flattened into rows */
            int64_t ad[4] = {3, 2, r, K};
            int ar = 2 + lead;
            c.in[0] = opd(false, ar, ad + (4 - ar));
            c.in[1] = opd((s + lead) % 2 == 0, 2, (int64_t[]){K, N});
            c.min_cuda_steps = 1;
            snprintf(c.label, sizeof c.label, "MatMul A rank %d rows %lld K %lld N %lld, B %s", ar, (long long)r, (long long)K,
                     (long long)N, c.in[1].is_const ? "constant" : "input");
            run_case(&c);
        }
}

/* --- Gemm ----------------------------------------------------------------------------------------------- */

enum { C_NONE, C_FULL, C_ROW, C_ROW2, C_COL, C_SCALAR, C_ONE, N_C };
static const char *const c_names[N_C] = {"none", "[M,N]", "[N]", "[1,N]", "[M,1]", "[]", "[1,1]"};

static void test_gemm(void)
{
    static const float scales[][2] = {{1, 1}, {0.5f, 0.25f}, {-2, 1}, {1, 0}, {0, 1}, {1.5f, -0.75f}};
    static const int64_t gshapes[][3] = {{0, 4, 3}, {5, 0, 3}, {9, 7, 1}, {31, 33, 17}, {64, 65, 66}, {1, 9, 12}};
    int n = 0;
    for (int cv = 0; cv < N_C; cv++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int rep = 0; rep < 2; rep++, n++) {
                    const float *ab = scales[(n + rep * 3) % 6];
                    const int64_t *sh = gshapes[n % 6];
                    int64_t M = sh[0], K = sh[1], N = sh[2];
                    node_case c = {"Gemm", "", 13, cv == C_NONE ? 2 : 3};
                    c.in[0] = opd(false, 2, ta ? (int64_t[]){K, M} : (int64_t[]){M, K});
                    c.in[1] = opd(n % 3 != 0, 2, tb ? (int64_t[]){N, K} : (int64_t[]){K, N});
                    bool cc = n % 2 == 0;
                    switch (cv) {
                    case C_FULL: c.in[2] = opd(cc, 2, (int64_t[]){M, N}); break;
                    case C_ROW: c.in[2] = opd(cc, 1, (int64_t[]){N}); break;
                    case C_ROW2: c.in[2] = opd(cc, 2, (int64_t[]){1, N}); break;
                    case C_COL: c.in[2] = opd(cc, 2, (int64_t[]){M, 1}); break;
                    case C_SCALAR: c.in[2] = opd(cc, 0, NULL); break;
                    case C_ONE: c.in[2] = opd(cc, 2, (int64_t[]){1, 1}); break;
                    default: break;
                    }
                    add_attr(&c, (attr){"transA", 'i', ta});
                    add_attr(&c, (attr){"transB", 'i', tb});
                    add_attr(&c, (attr){"alpha", 'f', 0, ab[0]});
                    add_attr(&c, (attr){"beta", 'f', 0, ab[1]});
                    c.min_cuda_steps = 1;
                    snprintf(c.label, sizeof c.label, "Gemm M %lld K %lld N %lld transA %d transB %d alpha %g beta %g C %s",
                             (long long)M, (long long)K, (long long)N, ta, tb, ab[0], ab[1], c_names[cv]);
                    run_case(&c);
                }
}

/* --- FusedMatMul built directly ------------------------------------------------------------------------- */

static const char *const acts[] = {"", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "gelu", "gelu_tanh"};
#define N_ACTS 8

typedef struct fmm_opts {
    int terms;
    int64_t rows, N;
    int64_t K[3];
    bool trans[3], w_const[3];
    bool bias, acc, normalize;
    int act;
    bool act_alpha;
    int x_rank; /* 2, or 3 with the rows split [2, rows / 2] (rows even) */
} fmm_opts;

static void run_fused(const fmm_opts *o)
{
    node_case c = {"FusedMatMul", "ai.weft", 1, 2 * o->terms + (o->acc ? 2 : o->bias ? 1 : 0)};
    int64_t xd[3] = {2, o->rows / 2, 0};
    for (int t = 0; t < o->terms; t++) {
        if (o->x_rank == 3) {
            xd[2] = o->K[t];
            c.in[2 * t] = opd(false, 3, xd);
        } else {
            c.in[2 * t] = opd(false, 2, (int64_t[]){o->rows, o->K[t]});
        }
        c.in[2 * t + 1] = opd(o->w_const[t], 2, o->trans[t] ? (int64_t[]){o->N, o->K[t]} : (int64_t[]){o->K[t], o->N});
    }
    int b = 2 * o->terms;
    if (o->bias) c.in[b] = opd(o->w_const[0], 1, (int64_t[]){o->N});
    else if (o->acc) c.in[b] = absent;
    if (o->acc) c.in[b + 1] = o->x_rank == 3 ? opd(false, 3, (int64_t[]){2, o->rows / 2, o->N})
                                            : opd(false, 2, (int64_t[]){o->rows, o->N});
    add_attr(&c, (attr){"terms", 'i', o->terms});
    attr tr = {"transpose", 'I', .n = o->terms};
    bool any_trans = false;
    for (int t = 0; t < o->terms; t++) {
        tr.ints[t] = o->trans[t];
        any_trans |= o->trans[t];
    }
    if (any_trans) add_attr(&c, tr);
    if (o->normalize) add_attr(&c, (attr){"normalize", 'i', 1});
    if (acts[o->act][0]) add_attr(&c, (attr){"activation", 's', .s = acts[o->act]});
    if (o->act_alpha) add_attr(&c, (attr){"alpha", 'f', 0, o->act == 2 ? 0.2f : 0.7f});
    c.min_cuda_steps = 1;
    snprintf(c.label, sizeof c.label,
             "FusedMatMul terms %d rows %lld N %lld K %lld/%lld/%lld trans %d%d%d bias %d acc %d normalize %d act '%s'%s X rank %d",
             o->terms, (long long)o->rows, (long long)o->N, (long long)o->K[0], (long long)(o->terms > 1 ? o->K[1] : -1),
             (long long)(o->terms > 2 ? o->K[2] : -1), o->trans[0], o->trans[1], o->trans[2], o->bias, o->acc, o->normalize,
             acts[o->act], o->act_alpha ? " (alpha set)" : "", o->x_rank);
    run_case(&c);
}

static void test_fused_epilogues(void)
{
    /* every activation with and without normalize, over bias / acc combinations and shapes */
    static const int64_t fshapes[][2] = {{37, 19}, {64, 128}, {1, 1}, {16, 1}, {255, 33}, {0, 7}};
    int n = 0;
    for (int act = 0; act < N_ACTS; act++)
        for (int nz = 0; nz < 2; nz++)
            for (int ba = 0; ba < 4; ba++, n++) {
                fmm_opts o = {1};
                o.rows = fshapes[n % 6][0];
                o.N = fshapes[n % 6][1];
                o.K[0] = 1 + (int64_t)(n * 7 % 90);
                o.trans[0] = n % 3 == 1;
                o.w_const[0] = n % 2 == 0;
                o.bias = ba & 1;
                o.acc = (ba >> 1) & 1;
                o.normalize = nz;
                o.act = act;
                o.act_alpha = (act == 2 || act == 3) && n % 2;
                o.x_rank = o.rows % 2 == 0 && n % 4 == 3 ? 3 : 2;
                run_fused(&o);
            }
}

static void test_fused_terms(void)
{
    /* 1 to 3 terms, K 0 in some (all, even), transposed weights, each epilogue part */
    int n = 0;
    for (int terms = 1; terms <= 3; terms++)
        for (int rep = 0; rep < 8; rep++, n++) {
            fmm_opts o = {terms};
            o.rows = (int64_t[]){0, 1, 6, 29, 100, 300, 2, 48}[rep];
            o.N = (int64_t[]){5, 1, 64, 17, 3, 96, 40, 1}[rep];
            for (int t = 0; t < terms; t++) {
                o.K[t] = (n + t) % 5 == 0 ? 0 : 1 + (int64_t)((n * 13 + t * 29) % 120);
                if (rep == 7) o.K[t] = 0; /* every product empty: the epilogue of zeros */
                o.trans[t] = (n + t) % 2 == 1;
                o.w_const[t] = (n + t) % 3 != 0;
            }
            o.bias = rep % 2 == 0 || rep == 7;
            o.acc = rep % 3 != 1;
            o.normalize = rep % 4 >= 2;
            o.act = (n * 3) % N_ACTS;
            o.x_rank = o.rows % 2 == 0 && rep % 2 ? 3 : 2;
            run_fused(&o);
        }
}

/* --- chains the compiler fuses at -O1 --------------------------------------------------------------------- */

typedef struct chain_case {
    int kind; /* 0: Relu(X W + b); 1: Relu(A W1 + b + X W2); 2: L2-normalise(X W + b) */
    int64_t rows, K, K2, N;
    float *x, *a, *w, *w2, *b;
} chain_case;

static void build_chain(weft_graph *g, void *user)
{
    chain_case *c = user;
    int x = irb_input(g, "x", WEFT_FLOAT32, 2, (int64_t[]){c->rows, c->K});
    int w = irb_constant(g, "w", WEFT_FLOAT32, 2, (int64_t[]){c->K, c->N}, c->w);
    int b = irb_constant(g, "b", WEFT_FLOAT32, 1, (int64_t[]){c->N}, c->b);
    int y = irb_node(g, "MatMul", "", 17, (int[]){x, w}, 2, "mm", 1);
    y = irb_node(g, "Add", "", 17, (int[]){y, b}, 2, "add", 1);
    if (c->kind == 1) {
        int a = irb_input(g, "a", WEFT_FLOAT32, 2, (int64_t[]){c->rows, c->K2});
        int w2 = irb_constant(g, "w2", WEFT_FLOAT32, 2, (int64_t[]){c->K2, c->N}, c->w2);
        int y2 = irb_node(g, "MatMul", "", 17, (int[]){a, w2}, 2, "mm2", 1);
        y = irb_node(g, "Add", "", 17, (int[]){y, y2}, 2, "sum", 1);
    }
    if (c->kind <= 1) {
        y = irb_node(g, "Relu", "", 17, &y, 1, "relu", 1);
    } else {
        int nrm = irb_node(g, "ReduceL2", "", 17, &y, 1, "l2", 1);
        irb_attr_ints(g, nrm, "axes", 1, (int64_t[]){-1});
        irb_attr_i(g, nrm, "keepdims", 1);
        float eps = 1e-12f;
        int e = irb_constant(g, "eps", WEFT_FLOAT32, 0, (int64_t[]){1}, &eps);
        int cl = irb_node(g, "Clip", "", 17, (int[]){nrm, e}, 2, "clip", 1);
        y = irb_node(g, "Div", "", 17, (int[]){y, cl}, 2, "div", 1);
    }
    irb_output(g, y);
}

static float *rand_floats(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    CU_ASSERT_FATAL(p != NULL);
    wt_fill_uniform(p, n, -1.0f, 1.0f, &seed);
    return p;
}

static void test_fused_chains(void)
{
    static const int64_t cs[][4] = {{50, 16, 24, 32}, {0, 8, 8, 8}, {333, 64, 48, 1}, {7, 1, 3, 128}};
    for (int kind = 0; kind < 3; kind++)
        for (int s = 0; s < 4; s++) {
            chain_case c = {kind, cs[s][0], cs[s][1], cs[s][2], cs[s][3]};
            c.x = rand_floats(c.rows * c.K);
            c.a = rand_floats(c.rows * c.K2);
            c.w = rand_floats(c.K * c.N);
            c.w2 = rand_floats(c.K2 * c.N);
            c.b = rand_floats(c.N);
            weft_tensor in[2] = {{"x", WEFT_FLOAT32, 2, {c.rows, c.K}, c.x, (size_t)(c.rows * c.K) * sizeof(float)},
                                 {"a", WEFT_FLOAT32, 2, {c.rows, c.K2}, c.a, (size_t)(c.rows * c.K2) * sizeof(float)}};
            wt_cuda_case k = {build_chain, &c, in, kind == 1 ? 2 : 1, RTOL, ATOL, 1, 1, 2};
            int r = wt_cuda_compare(&k);
            if (r) fprintf(stderr, "  chain %d rows %lld K %lld K2 %lld N %lld\n", kind, (long long)c.rows, (long long)c.K,
                           (long long)c.K2, (long long)c.N);
            CU_ASSERT_EQUAL(r, 0);
            free(c.x);
            free(c.a);
            free(c.w);
            free(c.w2);
            free(c.b);
        }
}

/* --- MatMul with a batched B ------------------------------------------------------------------------------ */

static void test_batched_matmul(void)
{
    static const struct {
        int ra, rb;
        int64_t a[4], b[4];
        bool on_cuda; /* false: broadcast along some batch axes only (the host runs it) */
    } bs[] = {
        {4, 4, {2, 3, 5, 7}, {2, 3, 7, 4}, true},    /* equal batches */
        {2, 3, {5, 7}, {4, 7, 3}, true},              /* one A for every batch */
        {3, 3, {1, 6, 8}, {3, 8, 5}, true},           /* A's batch of 1 broadcast */
        {3, 3, {4, 6, 8}, {1, 8, 5}, true},           /* one B: the batches are rows */
        {4, 3, {3, 2, 4, 5}, {1, 5, 2}, true},        /* B's batch of 1 under two axes of A */
        {3, 4, {6, 9, 16}, {2, 6, 16, 33}, false},    /* A broadcast along the first axis only */
        {4, 4, {2, 1, 4, 5}, {1, 3, 5, 6}, false},    /* each broadcast along another axis */
        {3, 3, {0, 4, 5}, {0, 5, 3}, true},           /* no batches */
        {3, 3, {2, 4, 0}, {2, 0, 3}, true},           /* K = 0 */
        {3, 3, {2, 0, 5}, {2, 5, 3}, true},           /* M = 0 */
        {3, 3, {3, 1, 64}, {3, 64, 1}, true},         /* M = N = 1 */
        {3, 3, {8, 33, 65}, {8, 65, 31}, true},       /* odd sizes */
    };
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++)
        for (int wc = 0; wc < 2; wc++) {
            node_case c = {"MatMul", "", 17, 2};
            c.in[0] = opd(false, bs[i].ra, bs[i].a);
            c.in[1] = opd(wc == 1, bs[i].rb, bs[i].b);
            c.min_cuda_steps = bs[i].on_cuda ? 1 : 0;
            snprintf(c.label, sizeof c.label, "batched MatMul case %zu, B %s", i, wc ? "constant" : "input");
            run_case(&c);
        }
}

/* --- a whole model ---------------------------------------------------------------------------------------- */

#define MODEL_DIR "models/sage_mean_ts18"

static weft_status run_model(const char *backend, int opt_level, int tf32, weft_tensor *in, float **out, int64_t *n_out,
                             int *on_cuda)
{
    weft_model *m = NULL;
    weft_plan *p = NULL;
    weft_session *s = NULL;
    weft_status st = weft_model_load(MODEL_DIR "/model.onnx", &m);
    weft_compile_options co = {backend, opt_level};
    if (!st) st = weft_compile(m, &co, &p);
    weft_model_free(m);
    weft_session_options so = {.threads = 1, .profile = 1, .allow_tf32 = tf32};
    if (!st) st = weft_session_create_with_options(p, &so, &s);
    weft_tensor o[1];
    memset(o, 0, sizeof o);
    if (!st) st = weft_session_run(s, in, 2, o, 1);
    if (!st) st = weft_session_run(s, in, 2, o, 1); /* the same sizes again */
    if (!st) {
        *n_out = (int64_t)(o[0].nbytes / sizeof(float));
        *out = malloc(o[0].nbytes ? o[0].nbytes : 1);
        memcpy(*out, o[0].data, o[0].nbytes);
        const weft_step_profile *prof;
        int n;
        *on_cuda = 0;
        if (weft_session_profile(s, &prof, &n) == WEFT_OK)
            for (int i = 0; i < n; i++) *on_cuda += prof[i].backend && strcmp(prof[i].backend, "cuda") == 0;
    }
    weft_session_free(s);
    weft_plan_free(p);
    return st;
}

/* |got - want| <= rtol * (|want| + max |want|) everywhere. */
static bool close_to(const float *got, const float *want, int64_t n, double rtol, const char *what)
{
    double maxabs = 0;
    for (int64_t i = 0; i < n; i++) maxabs = fmax(maxabs, fabs((double)want[i]));
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - (double)want[i]) <= rtol * (fabs((double)want[i]) + maxabs))) {
            fprintf(stderr, "  %s: element %lld is %.9g, expected %.9g\n", what, (long long)i, got[i], want[i]);
            return false;
        }
    return true;
}

static void test_model(void)
{
    static const char *const names[] = {"x", "edge_index"};
    weft_tensor in[2];
    const char *loaded[2];
    for (int i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path, MODEL_DIR "/test_data_set_0/input_%d.pb", i);
        weft_status st = weft_tensor_load(path, &in[i]);
        if (st) fprintf(stderr, "  %s: %s\n", path, weft_last_error());
        CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
        loaded[i] = in[i].name;
        in[i].name = names[i];
    }
    for (int opt = 0; opt <= 1; opt++) {
        float *want = NULL;
        int64_t n_want = 0;
        int unused;
        weft_status st = run_model("ref", opt, 0, in, &want, &n_want, &unused);
        if (st) fprintf(stderr, "  ref: %s\n", weft_last_error());
        CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
        for (int tf32 = 0; tf32 <= 1; tf32++) {
            float *got = NULL;
            int64_t n = 0;
            int on = 0;
            st = run_model("cuda,ref", opt, tf32, in, &got, &n, &on);
            if (st) fprintf(stderr, "  cuda,ref -O%d tf32 %d: %s\n", opt, tf32, weft_last_error());
            CU_ASSERT_EQUAL(st, WEFT_OK);
            if (st) continue;
            CU_ASSERT(on >= 2); /* the model's dense steps at least */
            CU_ASSERT_EQUAL(n, n_want);
            char what[64];
            snprintf(what, sizeof what, "model -O%d, tf32 %d", opt, tf32);
            /* TF32 keeps 10 bits of each operand's mantissa: about 1e-3 relative per product */
            if (n == n_want) CU_ASSERT(close_to(got, want, n, tf32 ? 1e-2 : 1e-4, what));
            free(got);
        }
        free(want);
    }
    for (int i = 0; i < 2; i++) {
        in[i].name = loaded[i];
        weft_tensor_release(&in[i]);
    }
}

/* --- which steps the backend takes (no GPU needed) -------------------------------------------------------- */

typedef struct desc_case {
    weft_node_info node;
    weft_attr attrs[2];
    weft_dtype idt[MAX_IN], odt[1];
    weft_shape ish[MAX_IN], osh[1];
    const void *cdata[MAX_IN];
    weft_step_desc d;
} desc_case;

static weft_dim num(int64_t v) { return weft_dim_num(v); }
static weft_dim sym(int32_t s) { weft_dim d = {0, s}; return d; }

static weft_shape shp(int rank, const weft_dim *d)
{
    weft_shape s = {rank};
    for (int i = 0; i < rank; i++) s.d[i] = d[i];
    return s;
}

/* Whether the cuda backend takes op(ins) of dtype dt with output shape out. */
static bool takes(const char *domain, const char *op, int opset, weft_dtype dt, int n_in, const weft_shape *ins,
                  weft_shape out, int n_attrs, const weft_attr *attrs)
{
    const weft_backend *be = weft_backend_find("cuda");
    desc_case c;
    memset(&c, 0, sizeof c);
    c.node = (weft_node_info){"step", op, domain, opset, n_attrs, attrs};
    for (int i = 0; i < n_in; i++) {
        c.idt[i] = dt;
        c.ish[i] = ins[i];
    }
    c.odt[0] = dt;
    c.osh[0] = out;
    c.d = (weft_step_desc){weft_op_find(domain, op, opset), &c.node, n_in, 1, c.idt, c.ish, c.cdata, c.odt, c.osh};
    CU_ASSERT_FATAL(c.d.def != NULL);
    return be->supports(&c.d);
}

static bool takes_matmul(weft_dtype dt, weft_shape a, weft_shape b, weft_shape y)
{
    weft_shape in[2] = {a, b};
    return takes("", "MatMul", 17, dt, 2, in, y, 0, NULL);
}

static void test_supports(void)
{
    if (!weft_backend_find("cuda")) return;
    const int64_t M = 6, K = 8, N = 5;
    weft_shape a2 = shp(2, (weft_dim[]){sym(0), num(K)}), b2 = shp(2, (weft_dim[]){num(K), num(N)});
    weft_shape y2 = shp(2, (weft_dim[]){sym(0), num(N)});
    /* float32 dense work is taken, float64 left to the host */
    CU_ASSERT(takes_matmul(WEFT_FLOAT32, a2, b2, y2));
    CU_ASSERT(!takes_matmul(WEFT_FLOAT64, a2, b2, y2));
    weft_shape g3[3] = {a2, b2, shp(1, (weft_dim[]){num(N)})};
    CU_ASSERT(takes("", "Gemm", 13, WEFT_FLOAT32, 3, g3, y2, 0, NULL));
    CU_ASSERT(!takes("", "Gemm", 13, WEFT_FLOAT64, 3, g3, y2, 0, NULL));
    weft_attr terms = {.name = "terms", .type = WEFT_ATTR_INT, .i = 1};
    weft_shape f3[3] = {a2, b2, shp(1, (weft_dim[]){num(N)})};
    CU_ASSERT(takes("ai.weft", "FusedMatMul", 1, WEFT_FLOAT32, 3, f3, y2, 1, &terms));
    CU_ASSERT(!takes("ai.weft", "FusedMatMul", 1, WEFT_FLOAT64, 3, f3, y2, 1, &terms));

    /* batched B: strided when each operand's batch is the output's or all 1 */
    weft_shape ya = shp(4, (weft_dim[]){num(2), num(3), num(M), num(N)});
    CU_ASSERT(takes_matmul(WEFT_FLOAT32, shp(4, (weft_dim[]){num(2), num(3), num(M), num(K)}),
                           shp(4, (weft_dim[]){num(2), num(3), num(K), num(N)}), ya));
    CU_ASSERT(!takes_matmul(WEFT_FLOAT64, shp(4, (weft_dim[]){num(2), num(3), num(M), num(K)}),
                            shp(4, (weft_dim[]){num(2), num(3), num(K), num(N)}), ya));
    CU_ASSERT(takes_matmul(WEFT_FLOAT32, shp(2, (weft_dim[]){num(M), num(K)}), shp(4, (weft_dim[]){num(2), num(3), num(K), num(N)}),
                           ya));
    CU_ASSERT(takes_matmul(WEFT_FLOAT32, shp(4, (weft_dim[]){num(2), num(3), num(M), num(K)}), shp(3, (weft_dim[]){num(1), num(K), num(N)}),
                           ya));
    CU_ASSERT(!takes_matmul(WEFT_FLOAT32, shp(4, (weft_dim[]){num(2), num(1), num(M), num(K)}),
                            shp(4, (weft_dim[]){num(1), num(3), num(K), num(N)}), ya));
    CU_ASSERT(!takes_matmul(WEFT_FLOAT32, shp(3, (weft_dim[]){num(3), num(M), num(K)}),
                            shp(4, (weft_dim[]){num(2), num(3), num(K), num(N)}), ya));
    /* symbols: the same symbol is the same size; two symbols may differ (one may be 1) at run time */
    weft_shape ys = shp(3, (weft_dim[]){sym(1), num(M), num(N)});
    CU_ASSERT(takes_matmul(WEFT_FLOAT32, shp(3, (weft_dim[]){sym(1), num(M), num(K)}), shp(3, (weft_dim[]){sym(1), num(K), num(N)}), ys));
    CU_ASSERT(!takes_matmul(WEFT_FLOAT32, shp(3, (weft_dim[]){sym(1), num(M), num(K)}), shp(3, (weft_dim[]){sym(2), num(K), num(N)}), ys));
    CU_ASSERT(takes_matmul(WEFT_FLOAT32, shp(3, (weft_dim[]){num(1), num(M), num(K)}), shp(3, (weft_dim[]){sym(1), num(K), num(N)}), ys));
    CU_ASSERT(!takes_matmul(WEFT_FLOAT32, shp(3, (weft_dim[]){num(4), num(M), num(K)}), shp(3, (weft_dim[]){sym(1), num(K), num(N)}), ys));
    /* 1-D operands: the host */
    CU_ASSERT(!takes_matmul(WEFT_FLOAT32, shp(1, (weft_dim[]){num(K)}), shp(3, (weft_dim[]){num(2), num(K), num(N)}),
                            shp(2, (weft_dim[]){num(2), num(N)})));
    CU_ASSERT(!takes_matmul(WEFT_FLOAT32, shp(3, (weft_dim[]){num(2), num(M), num(K)}), shp(1, (weft_dim[]){num(K)}),
                            shp(2, (weft_dim[]){num(2), num(M)})));
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    bool skip = wt_cuda_skip("cuda dense");
    if (skip && !weft_backend_find("cuda")) {
        CU_cleanup_registry();
        return 0;
    }
    CU_pSuite s = CU_add_suite("cuda dense: supports", NULL, NULL);
    CU_add_test(s, "float32 only, strided batches only", test_supports);
    if (!skip) {
        s = CU_add_suite("cuda dense", NULL, NULL);
        CU_add_test(s, "MatMul with a 2-D B", test_matmul);
        CU_add_test(s, "Gemm: transposes, scales, every C", test_gemm);
        CU_add_test(s, "FusedMatMul epilogues", test_fused_epilogues);
        CU_add_test(s, "FusedMatMul terms", test_fused_terms);
        CU_add_test(s, "FusedMatMul from -O1 chains", test_fused_chains);
        CU_add_test(s, "MatMul with a batched B", test_batched_matmul);
        if (!wt_cuda_placement_only()) CU_add_test(s, "whole model", test_model); /* runs its own sessions */
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int fails = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
