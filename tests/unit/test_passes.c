/*
 * tests/unit/test_passes.c — the fusion passes (compiler/pass_*.c).
 *
 *  - Every model of models/ (and models/patterns, models/weft_ops) with test data gives the same
 *    outputs compiled at -O1 (every pass) as at -O0 (none), within 1e-5 relative + 1e-6 absolute, on
 *    the ref backend: the unfused graph is the oracle.
 *  - Matchers that must say no: hand-built graphs where a rewrite would change results (a Gemm alpha
 *    that is not a power of two, a mean whose count clamps to 2, an edge-softmax eps that is not
 *    negligible, an elementwise intermediate that is a graph output, nodes that differ only in an
 *    attribute) keep their ops, and the ones that must say yes rewrite.
 *  - Shape inference through exporters' shape chains (compiler/symval.c): Reshape's 0 and -1, Range,
 *    Slice and Expand over run-time shape values keep symbolic dims where the element counts tell them, and give
 *    fresh symbols where they do not (a product of symbols, N + 1 against N, a length that may be
 *    negative).
 */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compiler/plan.h"

/* --- -O1 against -O0 on the models --------------------------------------------------------------- */

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted entries of `dir` starting with `prefix` (malloc'd; free each and the array). */
static char **list_dir(const char *dir, const char *prefix, int *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **v = NULL;
    int cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix))) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 32;
            char **p = realloc(v, (size_t)cap * sizeof *p);
            if (!p) break;
            v = p;
        }
        v[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (v) qsort(v, (size_t)*n, sizeof *v, cmp_str);
    return v;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static int n_compared, n_values;

/* Outputs of two runs agree: same dtype and dims, floats within rtol / atol, the rest exactly. */
static bool outputs_agree(const char *what, const weft_tensor *a, const weft_tensor *b, double rtol, double atol)
{
    if (a->dtype != b->dtype || a->rank != b->rank || memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0])) {
        fprintf(stderr, "\n%s: -O1 and -O0 give different dtypes or shapes\n", what);
        return false;
    }
    int64_t n = 1;
    for (int d = 0; d < a->rank; d++) n *= a->dims[d];
    bool fl = a->dtype == WEFT_FLOAT32 || a->dtype == WEFT_FLOAT64 || a->dtype == WEFT_FLOAT16;
    for (int64_t i = 0; i < n; i++) {
        double x = weft_load_f64(a->dtype, a->data, i), y = weft_load_f64(b->dtype, b->data, i);
        bool ok = fl ? ((isnan(x) && isnan(y)) || x == y || fabs(x - y) <= atol + rtol * fabs(y)) : x == y;
        if (!ok) {
            fprintf(stderr, "\n%s: element %lld is %.9g at -O1, %.9g at -O0\n", what, (long long)i, x, y);
            return false;
        }
    }
    n_values += (int)n;
    return true;
}

/* Runs one model on one data set at -O0 and -O1 and compares every output. */
static void compare_levels(const char *model_dir, const char *set)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", model_dir);
    weft_model *m = NULL;
    if (weft_model_load(path, &m) != WEFT_OK) {
        fprintf(stderr, "\ncannot load %s: %s\n", path, weft_last_error());
        CU_FAIL("model load");
        return;
    }
    weft_plan *p[2] = {NULL, NULL};
    weft_session *s[2] = {NULL, NULL};
    weft_tensor *in = NULL, *out[2] = {NULL, NULL};
    int n_in = 0, n_out = 0;
    bool ok = true;
    for (int lvl = 0; lvl < 2 && ok; lvl++) {
        weft_compile_options o = {"ref", lvl};
        ok = weft_compile(m, &o, &p[lvl]) == WEFT_OK && weft_session_create(p[lvl], &s[lvl]) == WEFT_OK;
        if (!ok) fprintf(stderr, "\n%s -O%d: %s\n", path, lvl, weft_last_error());
    }
    if (ok) {
        n_in = weft_plan_num_inputs(p[0]);
        n_out = weft_plan_num_outputs(p[0]);
        in = calloc((size_t)n_in + 1, sizeof *in);
        out[0] = calloc((size_t)n_out + 1, sizeof *out[0]);
        out[1] = calloc((size_t)n_out + 1, sizeof *out[1]);
        ok = in && out[0] && out[1] && n_out == weft_plan_num_outputs(p[1]);
        if (!ok) n_in = 0;
    }
    for (int i = 0; ok && i < n_in; i++) {
        weft_tensor info;
        snprintf(path, sizeof path, "%s/%s/input_%d.pb", model_dir, set, i);
        ok = weft_plan_input_info(p[0], i, &info) == WEFT_OK && weft_tensor_load(path, &in[i]) == WEFT_OK;
        if (ok) {
            free((char *)in[i].name);
            in[i].name = strdup(info.name);
        } else {
            fprintf(stderr, "\n%s: %s\n", path, weft_last_error());
        }
    }
    for (int lvl = 0; ok && lvl < 2; lvl++) {
        ok = weft_session_run(s[lvl], in, (size_t)n_in, out[lvl], (size_t)n_out) == WEFT_OK;
        if (!ok) fprintf(stderr, "\n%s/%s -O%d: %s\n", model_dir, set, lvl, weft_last_error());
    }
    /* cos(w t + b) of arguments in the hundreds turns one ulp of the argument (a Gemm's bias added
     * after its rounding instead of before) into more than 1e-6: the model suite's tolerance there */
    bool amplifies = strstr(model_dir, "time_encoder") != NULL;
    for (int j = 0; ok && j < n_out; j++) {
        char what[4200];
        snprintf(what, sizeof what, "%s/%s output %d", model_dir, set, j);
        ok = outputs_agree(what, &out[1][j], &out[0][j], amplifies ? 1e-4 : 1e-5, amplifies ? 1e-5 : 1e-6);
    }
    CU_ASSERT(ok);
    n_compared += ok;
    for (int i = 0; i < n_in; i++) weft_tensor_release(&in[i]);
    free(in);
    free(out[0]);
    free(out[1]);
    for (int lvl = 0; lvl < 2; lvl++) {
        weft_session_free(s[lvl]);
        weft_plan_free(p[lvl]);
    }
    weft_model_free(m);
}

static void models_under(const char *root)
{
    int n = 0;
    char **names = list_dir(root, "", &n);
    for (int i = 0; i < n; i++) {
        char dir[2048], file[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
        snprintf(file, sizeof file, "%s/model.onnx", dir);
        struct stat st;
        if (!is_dir(dir) || stat(file, &st) != 0) continue;
        int ns = 0;
        char **sets = list_dir(dir, "test_data_set_", &ns);
        for (int k = 0; k < ns; k++) compare_levels(dir, sets[k]);
        free_list(sets, ns);
    }
    free_list(names, n);
}

static void test_models_o1_equals_o0(void)
{
    n_compared = n_values = 0;
    models_under("models");
    models_under("models/patterns");
    models_under("models/weft_ops");
    printf("(%d data sets, %d values) ", n_compared, n_values);
    CU_ASSERT(n_compared >= 40); /* the models are there: the check did run */
}

/* --- matchers on hand-built graphs --------------------------------------------------------------- */

typedef struct built {
    weft_symtab syms;
    weft_graph *g;
} built;

static int value(built *b, const char *name, weft_dtype t, int rank, const weft_dim *d, unsigned flags)
{
    int v = weft_graph_add_value(b->g, name);
    if (v < 0) return -1;
    b->g->values[v].dtype = t;
    b->g->values[v].shape.rank = rank;
    for (int i = 0; i < rank; i++) b->g->values[v].shape.d[i] = d[i];
    b->g->values[v].flags |= flags | WEFT_VALUE_TYPED;
    return v;
}

static int input(built *b, const char *name, weft_dtype t, int rank, const weft_dim *d)
{
    int v = value(b, name, t, rank, d, WEFT_VALUE_INPUT);
    int *in = realloc(b->g->inputs, (size_t)(b->g->n_inputs + 1) * sizeof *in);
    if (v < 0 || !in) return -1;
    b->g->inputs = in;
    b->g->inputs[b->g->n_inputs++] = v;
    return v;
}

static void output(built *b, int v)
{
    int *o = realloc(b->g->outputs, (size_t)(b->g->n_outputs + 1) * sizeof *o);
    if (!o) return;
    b->g->outputs = o;
    b->g->outputs[b->g->n_outputs++] = v;
    b->g->values[v].flags |= WEFT_VALUE_OUTPUT;
}

static int constant(built *b, const char *name, weft_dtype t, int rank, const weft_dim *d, const void *data, size_t nbytes)
{
    int v = value(b, name, t, rank, d, WEFT_VALUE_INITIALIZER);
    if (v < 0) return -1;
    weft_shape s = b->g->values[v].shape;
    return weft_value_set_data(&b->g->values[v], t, &s, data, nbytes) == WEFT_OK ? v : -1;
}

/* A node op(in...) -> a new value `out` (untyped: inference types it). */
static int node(built *b, const char *op, const char *domain, int opset, const int *in, int n_in, const char *out)
{
    int o = weft_graph_add_value(b->g, out);
    int n = weft_graph_add_node(b->g, op, domain, out, n_in, 1);
    if (o < 0 || n < 0) return -1;
    b->g->nodes[n].opset = opset;
    memcpy(b->g->nodes[n].inputs, in, (size_t)n_in * sizeof *in);
    b->g->nodes[n].outputs[0] = o;
    b->g->values[o].producer = n;
    return o;
}

static void attr_f(built *b, int v, const char *name, float f)
{
    weft_attr a = {.name = strdup(name), .type = WEFT_ATTR_FLOAT, .f = f};
    weft_node_add_attr(&b->g->nodes[b->g->values[v].producer], &a);
}

static void attr_i(built *b, int v, const char *name, int64_t i)
{
    weft_attr a = {.name = strdup(name), .type = WEFT_ATTR_INT, .i = i};
    weft_node_add_attr(&b->g->nodes[b->g->values[v].producer], &a);
}

static void attr_s(built *b, int v, const char *name, const char *s)
{
    weft_attr a = {.name = strdup(name), .type = WEFT_ATTR_STRING, .s = strdup(s), .s_len = strlen(s)};
    weft_node_add_attr(&b->g->nodes[b->g->values[v].producer], &a);
}

static void attr_ints(built *b, int v, const char *name, const int64_t *x, int n)
{
    weft_attr a = {.name = strdup(name), .type = WEFT_ATTR_INTS, .n = n, .ints = malloc((size_t)n * sizeof *x)};
    memcpy(a.ints, x, (size_t)n * sizeof *x);
    weft_node_add_attr(&b->g->nodes[b->g->values[v].producer], &a);
}

static bool begin(built *b)
{
    memset(b, 0, sizeof *b);
    b->g = weft_graph_new(NULL, &b->syms);
    return b->g != NULL;
}

static void end(built *b)
{
    weft_graph_free(b->g);
    weft_symtab_free(&b->syms);
}

/* Nodes of op (domain "" or "ai.weft") left after the passes. */
static int count_op(const weft_graph *g, const char *domain, const char *op)
{
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++) c += !strcmp(g->nodes[i].op_type, op) && !strcmp(g->nodes[i].domain, domain);
    return c;
}

static bool compile_built(built *b)
{
    weft_ir_resolve_ops(b->g, NULL);
    weft_status st = weft_compile_graph(b->g, 1, NULL, NULL);
    if (st) fprintf(stderr, "\ncompile: %s\n", weft_last_error());
    return st == WEFT_OK;
}

/* Gemm(A, B, C, alpha, transB=1): folded into FusedMatMul only when alpha is exact to fold. */
static void gemm_case(float alpha, bool want_fused)
{
    built b;
    CU_ASSERT_FATAL(begin(&b));
    int32_t n = weft_sym_intern(&b.syms, "N");
    weft_dim dn = {0, n}, d3 = weft_dim_num(3), d2 = weft_dim_num(2);
    float wv[6] = {1, 2, 3, 4, 5, 6}, cv[2] = {0.5f, -1};
    int a = input(&b, "a", WEFT_FLOAT32, 2, (weft_dim[]){dn, d3});
    int w = constant(&b, "w", WEFT_FLOAT32, 2, (weft_dim[]){d2, d3}, wv, sizeof wv);
    int c = constant(&b, "c", WEFT_FLOAT32, 1, &d2, cv, sizeof cv);
    int y = node(&b, "Gemm", "", 17, (int[]){a, w, c}, 3, "y");
    attr_f(&b, y, "alpha", alpha);
    attr_i(&b, y, "transB", 1);
    output(&b, y);
    CU_ASSERT_FATAL(compile_built(&b));
    CU_ASSERT_EQUAL(count_op(b.g, "ai.weft", "FusedMatMul"), want_fused);
    CU_ASSERT_EQUAL(count_op(b.g, "", "Gemm"), !want_fused);
    if (want_fused) { /* W' = alpha * B^T, [3, 2] */
        for (int i = 0; i < b.g->n_nodes; i++) {
            const weft_node *nd = &b.g->nodes[i];
            if (strcmp(nd->op_type, "FusedMatMul")) continue;
            const weft_value *wp = &b.g->values[nd->inputs[1]];
            CU_ASSERT_EQUAL(wp->shape.d[0].v, 3);
            CU_ASSERT_EQUAL(wp->shape.d[1].v, 2);
            const float *f = wp->data;
            for (int k = 0; k < 3; k++)
                for (int m = 0; m < 2; m++) CU_ASSERT_EQUAL(f[k * 2 + m], alpha * wv[m * 3 + k]);
        }
    }
    end(&b);
}

static void test_gemm_alpha(void)
{
    gemm_case(1.0f, true);
    gemm_case(2.0f, true);  /* a power of two: exact */
    gemm_case(0.3f, false); /* rounds differently: stays a Gemm */
}

/* Gemm(A, W, c) with W and c graph inputs (a training plan's parameters): FusedMatMul reading W as it
 * is (transpose = [transB]) with c as its bias, only when alpha and beta are 1; the same with MatMul + Add. */
static void live_case(bool matmul, int trans_b, float alpha, bool want_fused)
{
    built b;
    CU_ASSERT_FATAL(begin(&b));
    weft_dim dn = {0, weft_sym_intern(&b.syms, "N")}, d3 = weft_dim_num(3), d2 = weft_dim_num(2);
    int a = input(&b, "a", WEFT_FLOAT32, 2, (weft_dim[]){dn, d3});
    int w = input(&b, "w", WEFT_FLOAT32, 2, trans_b ? (weft_dim[]){d2, d3} : (weft_dim[]){d3, d2});
    int c = input(&b, "c", WEFT_FLOAT32, 1, &d2);
    int y;
    if (matmul) {
        int p = node(&b, "MatMul", "", 17, (int[]){a, w}, 2, "p");
        y = node(&b, "Add", "", 17, (int[]){p, c}, 2, "y");
    } else {
        y = node(&b, "Gemm", "", 17, (int[]){a, w, c}, 3, "y");
        attr_f(&b, y, "alpha", alpha);
        attr_i(&b, y, "transB", trans_b);
    }
    output(&b, y);
    CU_ASSERT_FATAL(compile_built(&b));
    CU_ASSERT_EQUAL(count_op(b.g, "ai.weft", "FusedMatMul"), want_fused);
    for (int i = 0; i < b.g->n_nodes; i++) {
        const weft_node *nd = &b.g->nodes[i];
        if (strcmp(nd->op_type, "FusedMatMul")) continue;
        CU_ASSERT_EQUAL(nd->inputs[1], w); /* read in place, never packed */
        CU_ASSERT_EQUAL(nd->n_inputs, 3);
        CU_ASSERT_EQUAL(nd->inputs[2], c);
        weft_node_info info = weft_node_view(nd);
        const int64_t *tr = NULL;
        int n_tr = weft_attr_ints(&info, "transpose", &tr);
        CU_ASSERT_EQUAL(n_tr > 0 && tr[0] == 1, trans_b);
    }
    end(&b);
}

static void test_dense_live_weights(void)
{
    live_case(false, 1, 1.0f, true);
    live_case(false, 0, 1.0f, true);
    live_case(false, 1, 2.0f, false); /* alpha cannot be folded into weights that change */
    live_case(true, 0, 1.0f, true);
}

/* Div(x, Expand(c [N, 1], Shape(x))) reads c itself; ReduceSum(Concat(Unsqueeze(t_i, 0)), [0]) becomes
 * Adds of the t_i; an Expand whose result the other operand does not match stays. */
static void test_broadcast(void)
{
    built b;
    CU_ASSERT_FATAL(begin(&b));
    weft_dim dn = {0, weft_sym_intern(&b.syms, "N")}, d4 = weft_dim_num(4), d1 = weft_dim_num(1);
    int x = input(&b, "x", WEFT_FLOAT32, 2, (weft_dim[]){dn, d4});
    int c = input(&b, "c", WEFT_FLOAT32, 2, (weft_dim[]){dn, d1});
    int r = input(&b, "r", WEFT_FLOAT32, 1, &d4);
    int sh = node(&b, "Shape", "", 17, &x, 1, "sh");
    int e = node(&b, "Expand", "", 17, (int[]){c, sh}, 2, "e");
    int y = node(&b, "Div", "", 17, (int[]){x, e}, 2, "y");
    output(&b, y);
    /* r [4] against the expanded c: the other operand is not the result's shape, so Expand stays */
    int z = node(&b, "Mul", "", 17, (int[]){r, e}, 2, "z");
    output(&b, z);
    int64_t zero = 0;
    int ax = constant(&b, "ax", WEFT_INT64, 1, &d1, &zero, 8);
    int t[3], u[3];
    for (int k = 0; k < 3; k++) {
        char nm[8];
        snprintf(nm, sizeof nm, "t%d", k);
        t[k] = input(&b, nm, WEFT_FLOAT32, 2, (weft_dim[]){dn, d4});
        snprintf(nm, sizeof nm, "u%d", k);
        u[k] = node(&b, "Unsqueeze", "", 17, (int[]){t[k], ax}, 2, nm);
    }
    int cat = node(&b, "Concat", "", 17, u, 3, "cat");
    attr_i(&b, cat, "axis", 0);
    int s = node(&b, "ReduceSum", "", 17, (int[]){cat, ax}, 2, "s");
    attr_i(&b, s, "keepdims", 0);
    output(&b, s);
    CU_ASSERT_FATAL(compile_built(&b));
    CU_ASSERT_EQUAL(count_op(b.g, "", "Concat"), 0);
    CU_ASSERT_EQUAL(count_op(b.g, "", "ReduceSum"), 0);
    CU_ASSERT_EQUAL(count_op(b.g, "", "Expand"), 1); /* the one Mul still needs */
    for (int i = 0; i < b.g->n_nodes; i++) {
        const weft_node *nd = &b.g->nodes[i];
        if (nd->n_outputs && nd->outputs[0] == y) CU_ASSERT_EQUAL(nd->inputs[1], c);
    }
    end(&b);
}

/* out = Div(S, Reshape(Clip(C, lo), [-1, 1])) with S, C segment sums over idx from zeros. */
static void mean_case(float lo, bool same_index, bool want_mean)
{
    built b;
    CU_ASSERT_FATAL(begin(&b));
    weft_dim dn = {0, weft_sym_intern(&b.syms, "N")}, de = {0, weft_sym_intern(&b.syms, "E")}, d4 = weft_dim_num(4);
    int x = input(&b, "x", WEFT_FLOAT32, 2, (weft_dim[]){de, d4});
    int h = input(&b, "h", WEFT_FLOAT32, 2, (weft_dim[]){dn, d4}); /* gives N a value */
    int idx = input(&b, "idx", WEFT_INT64, 1, &de);
    int idx2 = input(&b, "idx2", WEFT_INT64, 1, &de);
    int shape = node(&b, "Shape", "", 17, &h, 1, "hshape");
    int zeros = node(&b, "ConstantOfShape", "", 17, &shape, 1, "zeros");
    int sh1 = node(&b, "Shape", "", 17, &idx, 1, "eshape");
    int ones_src = node(&b, "ConstantOfShape", "", 17, &sh1, 1, "ones");
    {
        float one = 1;
        weft_tensor *t = calloc(1, sizeof *t);
        t->dtype = WEFT_FLOAT32;
        t->rank = 1;
        t->dims[0] = 1;
        t->data = malloc(4);
        memcpy(t->data, &one, 4);
        t->nbytes = 4;
        weft_attr a = {.name = strdup("value"), .type = WEFT_ATTR_TENSOR, .t = t};
        weft_node_add_attr(&b.g->nodes[b.g->values[ones_src].producer], &a);
    }
    int64_t zero1 = 0, one1 = 1, m1[2] = {-1, 1};
    weft_dim d1 = weft_dim_num(1), d2 = weft_dim_num(2);
    int k0 = constant(&b, "k0", WEFT_INT64, 1, &d1, &zero1, 8), k1 = constant(&b, "k1", WEFT_INT64, 1, &d1, &one1, 8);
    int nshape = node(&b, "Slice", "", 17, (int[]){shape, k0, k1}, 3, "nshape");
    int zeros1 = node(&b, "ConstantOfShape", "", 17, &nshape, 1, "zeros1");
    int s = node(&b, "SegmentReduce", "ai.weft", 1, (int[]){x, idx, -1, zeros}, 4, "s");
    int c = node(&b, "SegmentReduce", "ai.weft", 1, (int[]){ones_src, same_index ? idx : idx2, -1, zeros1}, 4, "c");
    int lov = constant(&b, "lo", WEFT_FLOAT32, 0, NULL, &lo, 4);
    int q = node(&b, "Clip", "", 17, (int[]){c, lov}, 2, "q");
    int rs = constant(&b, "rs", WEFT_INT64, 1, &d2, m1, 16);
    int q2 = node(&b, "Reshape", "", 17, (int[]){q, rs}, 2, "q2");
    int out = node(&b, "Div", "", 17, (int[]){s, q2}, 2, "out");
    output(&b, out);
    CU_ASSERT_FATAL(compile_built(&b));
    int means = 0;
    for (int i = 0; i < b.g->n_nodes; i++) {
        const weft_node *nd = &b.g->nodes[i];
        if (strcmp(nd->op_type, "CsrReduce")) continue;
        weft_node_info info = weft_node_view(nd);
        means += !strcmp(weft_attr_string(&info, "reduce", ""), "mean");
    }
    CU_ASSERT_EQUAL(means, want_mean);
    CU_ASSERT_EQUAL(count_op(b.g, "", "Div"), !want_mean);
    end(&b);
}

static void test_mean_matcher(void)
{
    mean_case(1.0f, true, true);
    mean_case(2.0f, true, false);  /* a clamp to 2 is not a mean */
    mean_case(1.0f, false, false); /* counted over another index */
}

/* y1 = LeakyRelu(x, a1), y2 = LeakyRelu(x, a2): merged only when the attributes agree. */
static void test_cse_attributes(void)
{
    for (int same = 0; same < 2; same++) {
        built b;
        CU_ASSERT_FATAL(begin(&b));
        weft_dim d = weft_dim_num(5);
        int x = input(&b, "x", WEFT_FLOAT32, 1, &d);
        int y1 = node(&b, "LeakyRelu", "", 17, &x, 1, "y1");
        attr_f(&b, y1, "alpha", 0.1f);
        int y2 = node(&b, "LeakyRelu", "", 17, &x, 1, "y2");
        attr_f(&b, y2, "alpha", same ? 0.1f : 0.2f);
        int z = node(&b, "Sub", "", 17, (int[]){y1, y2}, 2, "z");
        output(&b, z);
        CU_ASSERT_FATAL(compile_built(&b));
        /* everything ends in one FusedElementwise: two instructions (LeakyRelu, Sub(y, y)) when the
         * LeakyRelus were merged, three when they were not */
        CU_ASSERT_EQUAL_FATAL(b.g->n_nodes, 1);
        weft_node_info info = weft_node_view(&b.g->nodes[0]);
        const int64_t *prog = NULL;
        CU_ASSERT_EQUAL(weft_attr_ints(&info, "program", &prog), same ? 8 : 12);
        end(&b);
    }
}

/* GELU chains after a MatMul + bias fold into FusedMatMul's activation: the exact form (Div by sqrt 2,
 * Erf, Add 1, Mul x, Mul 0.5), the tanh form with Pow(x, 3) and with x * x * x, and through a Reshape;
 * a chain with another constant (0.6 instead of 0.5) stays a FusedElementwise. */
static void test_gelu_activation(void)
{
    for (int form = 0; form < 5; form++) {
        built b;
        CU_ASSERT_FATAL(begin(&b));
        weft_dim d4 = weft_dim_num(4), d6 = weft_dim_num(6);
        float w[36], bias[6];
        for (int i = 0; i < 36; i++) w[i] = (float)(i % 7) * 0.1f - 0.3f;
        for (int i = 0; i < 6; i++) bias[i] = 0.05f * (float)i;
        int x = input(&b, "x", WEFT_FLOAT32, 2, (weft_dim[]){d4, d6});
        int wv = constant(&b, "w", WEFT_FLOAT32, 2, (weft_dim[]){d6, d6}, w, sizeof w);
        int bv = constant(&b, "b", WEFT_FLOAT32, 1, &d6, bias, sizeof bias);
        int h = node(&b, "MatMul", "", 17, (int[]){x, wv}, 2, "h");
        h = node(&b, "Add", "", 17, (int[]){h, bv}, 2, "hb");
        if (form == 3) {
            int64_t shape[3] = {2, 2, 6};
            weft_dim d3 = weft_dim_num(3);
            h = node(&b, "Reshape", "", 17, (int[]){h, constant(&b, "shape", WEFT_INT64, 1, &d3, shape, sizeof shape)}, 2, "hr");
        }
        float half = form == 4 ? 0.6f : 0.5f, one = 1.0f, sqrt2 = 1.41421354f, k = 0.797884583f, c3 = 0.0447149985f, three = 3.0f;
        int vh = constant(&b, "half", WEFT_FLOAT32, 0, NULL, &half, 4), v1 = constant(&b, "one", WEFT_FLOAT32, 0, NULL, &one, 4);
        int y;
        if (form == 0 || form == 4) {
            int t = node(&b, "Div", "", 17, (int[]){h, constant(&b, "sqrt2", WEFT_FLOAT32, 0, NULL, &sqrt2, 4)}, 2, "t");
            t = node(&b, "Erf", "", 17, &t, 1, "erf");
            t = node(&b, "Add", "", 17, (int[]){t, v1}, 2, "p1");
            t = node(&b, "Mul", "", 17, (int[]){h, t}, 2, "xm");
            y = node(&b, "Mul", "", 17, (int[]){t, vh}, 2, "y");
        } else {
            int cube;
            if (form == 2) {
                cube = node(&b, "Mul", "", 17, (int[]){h, h}, 2, "sq");
                cube = node(&b, "Mul", "", 17, (int[]){cube, h}, 2, "cube");
            } else {
                cube = node(&b, "Pow", "", 17, (int[]){h, constant(&b, "three", WEFT_FLOAT32, 0, NULL, &three, 4)}, 2, "cube");
            }
            int t = node(&b, "Mul", "", 17, (int[]){cube, constant(&b, "c3", WEFT_FLOAT32, 0, NULL, &c3, 4)}, 2, "t3");
            t = node(&b, "Add", "", 17, (int[]){h, t}, 2, "inner");
            t = node(&b, "Mul", "", 17, (int[]){t, constant(&b, "k", WEFT_FLOAT32, 0, NULL, &k, 4)}, 2, "scaled");
            t = node(&b, "Tanh", "", 17, &t, 1, "th");
            t = node(&b, "Add", "", 17, (int[]){t, v1}, 2, "p1");
            int xh = node(&b, "Mul", "", 17, (int[]){h, vh}, 2, "xh");
            y = node(&b, "Mul", "", 17, (int[]){xh, t}, 2, "y");
        }
        output(&b, y);
        CU_ASSERT_FATAL(compile_built(&b));
        const char *want = form == 4 ? "" : form == 0 ? "gelu" : "gelu_tanh";
        int n_fmm = count_op(b.g, "ai.weft", "FusedMatMul");
        CU_ASSERT_EQUAL(n_fmm, 1);
        for (int i = 0; i < b.g->n_nodes; i++) {
            if (strcmp(b.g->nodes[i].op_type, "FusedMatMul") != 0) continue;
            weft_node_info info = weft_node_view(&b.g->nodes[i]);
            if (strcmp(weft_attr_string(&info, "activation", ""), want) != 0)
                fprintf(stderr, "\n  GELU form %d: activation '%s', expected '%s'", form, weft_attr_string(&info, "activation", ""), want);
            CU_ASSERT_STRING_EQUAL(weft_attr_string(&info, "activation", ""), want);
        }
        CU_ASSERT_EQUAL(count_op(b.g, "ai.weft", "FusedElementwise"), form == 4 ? 1 : 0);
        end(&b);
    }
}

/* Transpose pairs: x [2, 3, 4, 5] -> (0, 2, 3, 1) -> (0, 3, 1, 2) is x again (the readers read x); ->
 * (0, 2, 3, 1) -> (1, 0, 2, 3) is one Transpose (2, 0, 3, 1); a pair ending in a graph output keeps a
 * (copying) Transpose. */
static void test_transpose_pairs(void)
{
    for (int form = 0; form < 3; form++) {
        built b;
        CU_ASSERT_FATAL(begin(&b));
        weft_dim d[4] = {weft_dim_num(2), weft_dim_num(3), weft_dim_num(4), weft_dim_num(5)};
        int x = input(&b, "x", WEFT_FLOAT32, 4, d);
        static const int64_t p1[4] = {0, 2, 3, 1}, back[4] = {0, 3, 1, 2}, other[4] = {1, 0, 2, 3};
        int t1 = node(&b, "Transpose", "", 17, &x, 1, "t1");
        attr_ints(&b, t1, "perm", p1, 4);
        int t2 = node(&b, "Transpose", "", 17, &t1, 1, "t2");
        attr_ints(&b, t2, "perm", form == 1 ? other : back, 4);
        if (form == 2) {
            output(&b, t2);
        } else {
            int r = node(&b, "Relu", "", 17, &t2, 1, "r");
            output(&b, r);
        }
        CU_ASSERT_FATAL(compile_built(&b));
        int n_tr = count_op(b.g, "", "Transpose");
        CU_ASSERT_EQUAL(n_tr, form == 0 ? 0 : 1);
        for (int i = 0; i < b.g->n_nodes; i++) {
            if (strcmp(b.g->nodes[i].op_type, "Transpose") != 0) continue;
            weft_node_info info = weft_node_view(&b.g->nodes[i]);
            const int64_t *perm = NULL;
            CU_ASSERT_EQUAL_FATAL(weft_attr_ints(&info, "perm", &perm), 4);
            CU_ASSERT_EQUAL(b.g->nodes[i].inputs[0], x); /* the pair reads x once */
            static const int64_t composed[4] = {2, 0, 3, 1}, identity[4] = {0, 1, 2, 3};
            CU_ASSERT(memcmp(perm, form == 1 ? composed : identity, sizeof composed) == 0);
        }
        end(&b);
    }
}

/* Exp(Neg(Abs(x))) with Neg's output a graph output: Neg and Exp cannot fuse across it. */
static void test_eltwise_stops_at_outputs(void)
{
    for (int pin = 0; pin < 2; pin++) {
        built b;
        CU_ASSERT_FATAL(begin(&b));
        weft_dim d = weft_dim_num(5);
        int x = input(&b, "x", WEFT_FLOAT32, 1, &d);
        int a = node(&b, "Abs", "", 17, &x, 1, "a");
        int n = node(&b, "Neg", "", 17, &a, 1, "n");
        int e = node(&b, "Exp", "", 17, &n, 1, "e");
        output(&b, e);
        if (pin) output(&b, n);
        CU_ASSERT_FATAL(compile_built(&b));
        CU_ASSERT_EQUAL(count_op(b.g, "ai.weft", "FusedElementwise"), pin ? 1 : 1);
        CU_ASSERT_EQUAL(count_op(b.g, "", "Exp"), pin ? 1 : 0);
        CU_ASSERT_EQUAL(b.g->n_nodes, pin ? 2 : 1);
        /* the pinned value is still written */
        bool written = false;
        for (int i = 0; i < b.g->n_nodes; i++) written |= b.g->nodes[i].outputs[0] == n;
        CU_ASSERT(!pin || written);
        end(&b);
    }
}

/* The exported edge softmax with a given eps: fused only when eps cannot change the sum. */
static void softmax_case(float eps, bool want)
{
    built b;
    CU_ASSERT_FATAL(begin(&b));
    weft_dim dn = {0, weft_sym_intern(&b.syms, "N")}, de = {0, weft_sym_intern(&b.syms, "E")};
    int s = input(&b, "s", WEFT_FLOAT32, 1, &de);
    int idx = input(&b, "idx", WEFT_INT64, 1, &de);
    int h = input(&b, "h", WEFT_FLOAT32, 1, &dn);
    int shape = node(&b, "Shape", "", 17, &h, 1, "hshape");
    int zeros = node(&b, "ConstantOfShape", "", 17, &shape, 1, "zeros");
    int m = node(&b, "SegmentReduce", "ai.weft", 1, (int[]){s, idx, -1, zeros}, 4, "m");
    attr_s(&b, m, "reduce", "max");
    int gm = node(&b, "Gather", "", 17, (int[]){m, idx}, 2, "gm");
    int sub = node(&b, "Sub", "", 17, (int[]){s, gm}, 2, "sub");
    int ex = node(&b, "Exp", "", 17, &sub, 1, "ex");
    int d = node(&b, "SegmentReduce", "ai.weft", 1, (int[]){ex, idx, -1, zeros}, 4, "d");
    int ev = constant(&b, "eps", WEFT_FLOAT32, 0, NULL, &eps, 4);
    int d2 = node(&b, "Add", "", 17, (int[]){d, ev}, 2, "d2");
    int gd = node(&b, "Gather", "", 17, (int[]){d2, idx}, 2, "gd");
    int out = node(&b, "Div", "", 17, (int[]){ex, gd}, 2, "out");
    output(&b, out);
    CU_ASSERT_FATAL(compile_built(&b));
    CU_ASSERT_EQUAL(count_op(b.g, "ai.weft", "CsrEdgeSoftmax"), want);
    end(&b);
}

static void test_softmax_eps(void)
{
    softmax_case(1e-16f, true);
    softmax_case(1e-3f, false); /* would change the sum */
}

/* --- symbolic shapes through shape chains (compiler/symval.c) ------------------------------------ */

/* The shape of v after inference (no folding: the chains stay as nodes) as "[batch,seq,4,16]", with
 * fresh symbols as "?". */
static void shape_str(built *b, int v, char *buf, size_t n)
{
    const weft_shape *s = &b->g->values[v].shape;
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < s->rank && k < n; i++) {
        weft_dim d = s->d[i];
        const char *nm = weft_dim_known(d) ? NULL : weft_sym_name(&b->syms, d.sym);
        if (weft_dim_known(d)) k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)d.v);
        else if (!strncmp(nm, "unk__", 5)) k += (size_t)snprintf(buf + k, n - k, "%s?", i ? "," : "");
        else if (d.v) k += (size_t)snprintf(buf + k, n - k, "%s%s+%lld", i ? "," : "", nm, (long long)d.v);
        else k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? "," : "", nm);
    }
    if (k < n) snprintf(buf + k, n - k, "]");
}

static bool infer_built(built *b, bool fold)
{
    weft_ir_resolve_ops(b->g, NULL);
    weft_status st = weft_pass_infer(b->g, fold, NULL);
    if (st) fprintf(stderr, "\ninfer: %s\n", weft_last_error());
    return st == WEFT_OK;
}

#define CHECK_SHAPE(b, v, want)                                                                                 \
    do {                                                                                                       \
        char got_[160];                                                                                        \
        shape_str(b, v, got_, sizeof got_);                                                                    \
        if (strcmp(got_, want)) fprintf(stderr, "\n%s:%d: shape %s, expected %s\n", __FILE__, __LINE__, got_, want); \
        CU_ASSERT_STRING_EQUAL(got_, want);                                                                    \
    } while (0)

static int i64s(built *b, const char *name, int n, const int64_t *v)
{
    weft_dim d = weft_dim_num(n);
    return constant(b, name, WEFT_INT64, 1, &d, v, (size_t)n * 8);
}

static int i64_scalar(built *b, const char *name, int64_t v) { return constant(b, name, WEFT_INT64, 0, NULL, &v, 8); }

/* Shape(x)[i] as a 1-element vector. */
static int dim_of(built *b, int x, int64_t i, const char *name)
{
    char nm[64];
    snprintf(nm, sizeof nm, "%s_shape", name);
    int sh = node(b, "Shape", "", 17, &x, 1, nm);
    snprintf(nm, sizeof nm, "%s_ix", name);
    int ix = i64s(b, nm, 1, &i);
    return node(b, "Gather", "", 17, (int[]){sh, ix}, 2, name);
}

/* Reshape whose shape is Concat(pieces) of run-time dims and constants, as exporters write it. */
static void test_symbolic_reshape(void)
{
    for (int fold = 0; fold < 2; fold++) {
        built b;
        CU_ASSERT_FATAL(begin(&b));
        weft_dim batch = {0, weft_sym_intern(&b.syms, "batch")}, seq = {0, weft_sym_intern(&b.syms, "seq")};
        weft_dim n1 = {1, weft_sym_intern(&b.syms, "N")}, n = {0, n1.sym};
        int x = input(&b, "x", WEFT_FLOAT32, 3, (weft_dim[]){batch, seq, weft_dim_num(64)});
        int img = input(&b, "img", WEFT_FLOAT32, 4, (weft_dim[]){batch, weft_dim_num(64), weft_dim_num(4), weft_dim_num(4)});
        int ids = input(&b, "ids", WEFT_INT64, 2, (weft_dim[]){batch, seq});
        int p = input(&b, "p", WEFT_FLOAT32, 2, (weft_dim[]){n1, weft_dim_num(4)});
        int q = input(&b, "q", WEFT_FLOAT32, 1, &n);
        int db = dim_of(&b, x, 0, "db"), ds = dim_of(&b, x, 1, "ds");
        int64_t m1 = -1, c16 = 16, c0 = 0, c64 = 64;
        int k_m1 = i64s(&b, "k_m1", 1, &m1), k_16 = i64s(&b, "k_16", 1, &c16), k_0 = i64s(&b, "k_0", 1, &c0);
        int k_64 = i64s(&b, "k_64", 1, &c64);
        /* view(batch, seq, -1, 16): the head count */
        int s1 = node(&b, "Concat", "", 17, (int[]){db, ds, k_m1, k_16}, 4, "s1");
        attr_i(&b, s1, "axis", 0);
        int heads = node(&b, "Reshape", "", 17, (int[]){x, s1}, 2, "heads");
        /* [batch,64,4,4] -> Shape[0:2] ++ [-1] */
        int64_t z = 0, two = 2;
        int ish = node(&b, "Shape", "", 17, &img, 1, "ish");
        int sl = node(&b, "Slice", "", 17, (int[]){ish, i64s(&b, "sl0", 1, &z), i64s(&b, "sl2", 1, &two)}, 3, "sl");
        int s2 = node(&b, "Concat", "", 17, (int[]){sl, k_m1}, 2, "s2");
        attr_i(&b, s2, "axis", 0);
        int flat = node(&b, "Reshape", "", 17, (int[]){img, s2}, 2, "flat");
        /* [0, seq, -1]: 0 copies batch, the -1 is 64 */
        int s3 = node(&b, "Concat", "", 17, (int[]){k_0, ds, k_m1}, 3, "s3");
        attr_i(&b, s3, "axis", 0);
        int same = node(&b, "Reshape", "", 17, (int[]){x, s3}, 2, "same");
        /* ids.view(-1, seq): the -1 is the one symbol left, batch */
        int s4 = node(&b, "Concat", "", 17, (int[]){k_m1, ds}, 2, "s4");
        attr_i(&b, s4, "axis", 0);
        int ids2 = node(&b, "Reshape", "", 17, (int[]){ids, s4}, 2, "ids2");
        /* x.view(-1, 64): batch * seq has no one symbol: a fresh one */
        int s5 = node(&b, "Concat", "", 17, (int[]){k_m1, k_64}, 2, "s5");
        attr_i(&b, s5, "axis", 0);
        int rows = node(&b, "Reshape", "", 17, (int[]){x, s5}, 2, "rows");
        /* x.view(batch, -1, 16): 4 * seq: fresh */
        int s6 = node(&b, "Concat", "", 17, (int[]){db, k_m1, k_16}, 3, "s6");
        attr_i(&b, s6, "axis", 0);
        int mixed = node(&b, "Reshape", "", 17, (int[]){x, s6}, 2, "mixed");
        /* p [N+1, 4] to [N, -1]: N + 1 does not cancel N */
        int dn = dim_of(&b, q, 0, "dn");
        int s7 = node(&b, "Concat", "", 17, (int[]){dn, k_m1}, 2, "s7");
        attr_i(&b, s7, "axis", 0);
        int off = node(&b, "Reshape", "", 17, (int[]){p, s7}, 2, "off");
        /* the same with a constant shape: the op's own inference, [N+1, 4] to [-1, 2] is 2N + 2: fresh */
        int s8 = i64s(&b, "s8", 2, (int64_t[]){-1, 2});
        int off2 = node(&b, "Reshape", "", 17, (int[]){p, s8}, 2, "off2");
        /* and [N+1, 4] to [-1, 4] is N + 1 */
        int s9 = i64s(&b, "s9", 2, (int64_t[]){-1, 4});
        int keep = node(&b, "Reshape", "", 17, (int[]){p, s9}, 2, "keep");
        /* constant shape with a symbolic input: [batch, seq, 64] to [0, 0, -1, 16] */
        int s10 = i64s(&b, "s10", 4, (int64_t[]){0, 0, -1, 16});
        int heads2 = node(&b, "Reshape", "", 17, (int[]){x, s10}, 2, "heads2");
        int outs[] = {heads, flat, same, ids2, rows, mixed, off, off2, keep, heads2};
        for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) output(&b, outs[i]);
        CU_ASSERT_FATAL(infer_built(&b, fold));
        CHECK_SHAPE(&b, heads, "[batch,seq,4,16]");
        CHECK_SHAPE(&b, flat, "[batch,64,16]");
        CHECK_SHAPE(&b, same, "[batch,seq,64]");
        CHECK_SHAPE(&b, ids2, "[batch,seq]");
        CHECK_SHAPE(&b, rows, "[?,64]");
        CHECK_SHAPE(&b, mixed, "[batch,?,16]");
        CHECK_SHAPE(&b, off, "[N,?]");
        CHECK_SHAPE(&b, off2, "[?,2]");
        CHECK_SHAPE(&b, keep, "[N+1,4]");
        CHECK_SHAPE(&b, heads2, "[batch,seq,4,16]");
        end(&b);
    }
}

/* Range over run-time scalars, Slice to run-time ends, and Expand through the Equal / Where that
 * replaces -1 by 1. */
static void test_symbolic_range_expand(void)
{
    for (int fold = 0; fold < 2; fold++) {
        built b;
        CU_ASSERT_FATAL(begin(&b));
        weft_dim batch = {0, weft_sym_intern(&b.syms, "batch")}, seq = {0, weft_sym_intern(&b.syms, "seq")};
        int x = input(&b, "x", WEFT_FLOAT32, 2, (weft_dim[]){batch, seq});
        int sh = node(&b, "Shape", "", 17, &x, 1, "sh");
        int k1 = i64_scalar(&b, "k1", 1);
        int len = node(&b, "Gather", "", 17, (int[]){sh, k1}, 2, "len"); /* scalar seq */
        int z = i64_scalar(&b, "z", 0), one = i64_scalar(&b, "one", 1), two = i64_scalar(&b, "two", 2);
        int r0 = node(&b, "Range", "", 17, (int[]){z, len, one}, 3, "r0");
        int r1 = node(&b, "Range", "", 17, (int[]){two, len, one}, 3, "r1"); /* seq - 2 may be negative */
        int r2 = node(&b, "Range", "", 17, (int[]){z, len, two}, 3, "r2");  /* ceil(seq / 2) */
        int r3 = node(&b, "Range", "", 17, (int[]){len, len, one}, 3, "r3"); /* empty */
        int lenc = node(&b, "Cast", "", 17, &len, 1, "lenc");
        attr_i(&b, lenc, "to", WEFT_INT64);
        int r4 = node(&b, "Range", "", 17, (int[]){z, lenc, one}, 3, "r4");
        /* cls.expand(batch, -1, -1) as torch exports it */
        int64_t c1 = 1;
        weft_dim d1 = weft_dim_num(1), d64 = weft_dim_num(64);
        float zf[64] = {0};
        int cls = constant(&b, "cls", WEFT_FLOAT32, 3, (weft_dim[]){d1, d1, d64}, zf, sizeof zf);
        int k0v = i64s(&b, "k0v", 1, (int64_t[]){0});
        int db = node(&b, "Gather", "", 17, (int[]){sh, k0v}, 2, "db");
        int mm = i64s(&b, "mm", 2, (int64_t[]){-1, -1});
        int tgt = node(&b, "Concat", "", 17, (int[]){db, mm}, 2, "tgt");
        attr_i(&b, tgt, "axis", 0);
        int neg = i64s(&b, "neg", 3, (int64_t[]){-1, -1, -1});
        int eq = node(&b, "Equal", "", 17, (int[]){tgt, neg}, 2, "eq");
        int ones = i64s(&b, "ones", 3, (int64_t[]){1, 1, 1});
        int wh = node(&b, "Where", "", 17, (int[]){eq, ones, tgt}, 3, "wh");
        int ex = node(&b, "Expand", "", 17, (int[]){cls, wh}, 2, "ex");
        /* Equal of two unrelated symbols is not known: neither is the target built on it */
        int y = input(&b, "y", WEFT_FLOAT32, 1, (weft_dim[]){{0, weft_sym_intern(&b.syms, "other")}});
        int ysh = node(&b, "Shape", "", 17, &y, 1, "ysh");
        int eq2 = node(&b, "Equal", "", 17, (int[]){db, ysh}, 2, "eq2");
        int pick = node(&b, "Where", "", 17, (int[]){eq2, i64s(&b, "c1", 1, &c1), db}, 3, "pick");
        int pk = node(&b, "Concat", "", 17, (int[]){pick, i64s(&b, "c1b", 1, &c1), i64s(&b, "c64", 1, (int64_t[]){64})}, 3, "pk");
        attr_i(&b, pk, "axis", 0);
        int ex2 = node(&b, "Expand", "", 17, (int[]){cls, pk}, 2, "ex2");
        /* Slices to a run-time end on axis 1: x[:, :seq] is x; pos[:, :seq] of a [1, 128] buffer is
         * min(seq, 128): unknown, but the axis it does not slice keeps its 1 */
        int lv = node(&b, "Unsqueeze", "", 17, (int[]){len, k0v}, 2, "lv");
        int sx = node(&b, "Slice", "", 17, (int[]){x, k0v, lv, i64s(&b, "ax1", 1, &c1)}, 4, "sx");
        int64_t pos_data[128] = {0};
        int pos = constant(&b, "pos", WEFT_INT64, 2, (weft_dim[]){d1, weft_dim_num(128)}, pos_data, sizeof pos_data);
        int sp = node(&b, "Slice", "", 17, (int[]){pos, k0v, lv, i64s(&b, "ax1b", 1, &c1)}, 4, "sp");
        int outs[] = {r0, r1, r2, r3, r4, ex, ex2, sx, sp};
        for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) output(&b, outs[i]);
        CU_ASSERT_FATAL(infer_built(&b, fold));
        CHECK_SHAPE(&b, r0, "[seq]");
        CHECK_SHAPE(&b, r1, "[?]");
        CHECK_SHAPE(&b, r2, "[?]");
        CHECK_SHAPE(&b, r3, "[0]");
        CHECK_SHAPE(&b, r4, "[seq]");
        CHECK_SHAPE(&b, ex, "[batch,1,64]");
        CHECK_SHAPE(&b, ex2, "[?,?,?]"); /* the whole target is unknown */
        CHECK_SHAPE(&b, sx, "[batch,seq]");
        CHECK_SHAPE(&b, sp, "[1,?]");
        end(&b);
    }
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("passes", NULL, NULL);
    CU_add_test(s, "dense layers with run-time weights", test_dense_live_weights);
    CU_add_test(s, "broadcasts and stacks read as they are", test_broadcast);
    CU_add_test(s, "Gemm alpha folded only when exact", test_gemm_alpha);
    CU_add_test(s, "mean: only the sum / clamp(count, 1) over one index", test_mean_matcher);
    CU_add_test(s, "CSE merges only equal attributes", test_cse_attributes);
    CU_add_test(s, "Transpose pairs read their input once", test_transpose_pairs);
    CU_add_test(s, "GELU chains become FusedMatMul's activation", test_gelu_activation);
    CU_add_test(s, "elementwise fusion stops at graph outputs", test_eltwise_stops_at_outputs);
    CU_add_test(s, "edge softmax: eps below half an ulp only", test_softmax_eps);
    CU_add_test(s, "Reshape's 0 and -1 with symbolic dims", test_symbolic_reshape);
    CU_add_test(s, "Range, Slice and Expand over run-time shape values", test_symbolic_range_expand);
    CU_add_test(s, "every model: -O1 equals -O0", test_models_o1_equals_o0);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
