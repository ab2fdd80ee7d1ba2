/*
 * tests/unit/test_autodiff.c — reverse-mode autodiff (compiler/pass_autodiff.c) and the gradient rules
 * of ops/.
 *
 * Every rule is checked the same way: a small float64 graph around the op, the loss
 * L = sum_k ReduceSum(y_k * W_k) with fixed random W_k (so every output element matters), the
 * differentiated graph compiled and run as any graph on the ref backend, and each gradient element
 * compared with a central finite difference of L (h = 1e-6): |g - fd| / max(1, |fd|) < 1e-6.
 * Inputs are drawn away from 0 so that no piecewise op sits on its kink.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/autodiff.h"
#include "compiler/plan.h"
#include "ir_build.h"

/* --- building graphs ----------------------------------------------------------------------------- */

#define MAX_IN 8

typedef struct tc {
    weft_model m;
    int n_in;
    int in[MAX_IN];          /* graph inputs, in order */
    bool is_param[MAX_IN];
    weft_tensor data[MAX_IN];
    uint64_t rng;
} tc;

static double rnd(tc *t) /* uniform in [0, 1) */
{
    t->rng = t->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(t->rng >> 11) / 9007199254740992.0;
}

/* in [-1, -0.2] U [0.2, 1], or [0.2, 1.2] when positive */
static double draw(tc *t, bool positive)
{
    double v = 0.2 + 0.8 * rnd(t);
    if (positive) return v + 0.2 * rnd(t);
    return rnd(t) < 0.5 ? -v : v;
}

static void begin(tc *t)
{
    memset(t, 0, sizeof *t);
    t->m.graph = weft_graph_new(NULL, &t->m.syms);
    t->rng = 12345;
}

static void end(tc *t)
{
    for (int i = 0; i < t->n_in; i++) free(t->data[i].data);
    weft_graph_free(t->m.graph);
    weft_symtab_free(&t->m.syms);
}

static int add_input(tc *t, const char *name, weft_dtype dt, int rank, const int64_t *dims, bool param)
{
    CU_ASSERT_FATAL(t->n_in < MAX_IN);
    weft_graph *g = t->m.graph;
    int v = irb_input(g, name, dt, rank, dims);
    int k = t->n_in++;
    t->in[k] = v;
    t->is_param[k] = param;
    weft_tensor *x = &t->data[k];
    memset(x, 0, sizeof *x);
    x->name = g->values[v].name;
    x->dtype = dt;
    x->rank = rank;
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= x->dims[i] = dims[i];
    x->nbytes = (size_t)n * weft_dtype_size(dt);
    x->data = calloc(1, x->nbytes + 8);
    return v;
}

/* A float64 parameter (graph input) of random values. */
static int param_pos(tc *t, const char *name, int rank, const int64_t *dims, bool positive)
{
    int v = add_input(t, name, WEFT_FLOAT64, rank, dims, true);
    weft_tensor *x = &t->data[t->n_in - 1];
    for (size_t i = 0; i < x->nbytes / 8; i++) ((double *)x->data)[i] = draw(t, positive);
    return v;
}
static int param(tc *t, const char *name, int rank, const int64_t *dims) { return param_pos(t, name, rank, dims, false); }

/* An int64 graph input that is not a parameter. */
static int input_i64(tc *t, const char *name, int rank, const int64_t *dims, const int64_t *vals)
{
    int v = add_input(t, name, WEFT_INT64, rank, dims, false);
    memcpy(t->data[t->n_in - 1].data, vals, t->data[t->n_in - 1].nbytes);
    return v;
}

static int constant(tc *t, const char *name, weft_dtype dt, int rank, const int64_t *dims, const void *data)
{
    return irb_constant(t->m.graph, name, dt, rank, dims, data);
}
static int const_i64(tc *t, const char *name, int n, const int64_t *vals)
{
    int64_t d = n;
    return constant(t, name, WEFT_INT64, 1, &d, vals);
}

/* op(in...) writing n_out new values named out, out_1, ...; returns the first. */
static int node_n(tc *t, const char *op, const char *domain, int opset, const int *in, int n_in, const char *out, int n_out)
{
    return irb_node(t->m.graph, op, domain, opset, in, n_in, out, n_out);
}
static int node(tc *t, const char *op, const int *in, int n_in, const char *out)
{
    return node_n(t, op, "", 18, in, n_in, out, 1);
}
static int wnode(tc *t, const char *op, const int *in, int n_in, const char *out)
{
    return node_n(t, op, "ai.weft", 1, in, n_in, out, 1);
}

static void attr_i(tc *t, int v, const char *name, int64_t i) { irb_attr_i(t->m.graph, v, name, i); }
static void attr_f(tc *t, int v, const char *name, float f) { irb_attr_f(t->m.graph, v, name, f); }
static void attr_s(tc *t, int v, const char *name, const char *s) { irb_attr_s(t->m.graph, v, name, s); }
static void attr_ints(tc *t, int v, const char *name, int n, const int64_t *x) { irb_attr_ints(t->m.graph, v, name, n, x); }

/* --- the check ----------------------------------------------------------------------------------- */

static bool infer(tc *t)
{
    weft_ir_resolve_ops(t->m.graph, NULL);
    weft_status st = weft_pass_infer(t->m.graph, false, NULL);
    if (st) fprintf(stderr, "\ninfer: %s\n", weft_last_error());
    return st == WEFT_OK;
}

/* L = sum_k ReduceSum(ys[k] * W_k): the loss value. */
static int make_loss(tc *t, const int *ys, int n)
{
    CU_ASSERT_FATAL(infer(t));
    int loss = -1;
    for (int k = 0; k < n; k++) {
        const weft_value *y = &t->m.graph->values[ys[k]];
        CU_ASSERT_FATAL(weft_shape_known(&y->shape));
        CU_ASSERT_FATAL(y->dtype == WEFT_FLOAT64);
        int64_t dims[WEFT_MAX_RANK], numel = 1;
        int rank = y->shape.rank;
        for (int a = 0; a < rank; a++) numel *= dims[a] = y->shape.d[a].v;
        double *w = malloc((size_t)(numel + 1) * sizeof *w);
        for (int64_t i = 0; i < numel; i++) w[i] = draw(t, false);
        char name[64];
        snprintf(name, sizeof name, "W%d", k);
        int wv = constant(t, name, WEFT_FLOAT64, rank, dims, w);
        free(w);
        snprintf(name, sizeof name, "yw%d", k);
        int m = node(t, "Mul", (int[]){ys[k], wv}, 2, name);
        snprintf(name, sizeof name, "l%d", k);
        int l = node(t, "ReduceSum", &m, 1, name);
        attr_i(t, l, "keepdims", 0);
        if (loss < 0) loss = l;
        else {
            snprintf(name, sizeof name, "lsum%d", k);
            loss = node(t, "Add", (int[]){loss, l}, 2, name);
        }
    }
    CU_ASSERT_FATAL(infer(t));
    return loss;
}

static weft_status run_plan(weft_session *s, tc *t, weft_tensor *out, int n_out)
{
    for (int i = 0; i < n_out; i++) memset(&out[i], 0, sizeof out[i]);
    return weft_session_run(s, t->data, (size_t)t->n_in, out, (size_t)n_out);
}

static int n_checked;

/* Differentiates L with respect to every parameter input and compares with finite differences. */
static void check_grads(tc *t, const int *ys, int n_y)
{
    int loss = make_loss(t, ys, n_y);
    weft_graph *g = t->m.graph;
    g->outputs = realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof *g->outputs);
    g->outputs[g->n_outputs++] = loss;
    g->values[loss].flags |= WEFT_VALUE_OUTPUT;
    int params[MAX_IN], grads[MAX_IN], np = 0, which[MAX_IN];
    for (int i = 0; i < t->n_in; i++)
        if (t->is_param[i]) { which[np] = i; params[np++] = t->in[i]; }
    weft_status st = weft_autodiff(g, loss, params, np, grads);
    if (st) fprintf(stderr, "\nautodiff: %s\n", weft_last_error());
    CU_ASSERT_FATAL(st == WEFT_OK);
    weft_plan *plan = NULL;
    weft_compile_options o = {"ref", 1};
    st = weft_compile(&t->m, &o, &plan);
    if (st) fprintf(stderr, "\ncompile: %s\n", weft_last_error());
    CU_ASSERT_FATAL(st == WEFT_OK);
    weft_session *s = NULL;
    CU_ASSERT_FATAL(weft_session_create(plan, &s) == WEFT_OK);
    weft_tensor out[1 + MAX_IN];
    st = run_plan(s, t, out, 1 + np);
    if (st) fprintf(stderr, "\nrun: %s\n", weft_last_error());
    CU_ASSERT_FATAL(st == WEFT_OK);
    double *ga[MAX_IN];
    for (int k = 0; k < np; k++) {
        const weft_tensor *x = &t->data[which[k]];
        CU_ASSERT_FATAL(out[1 + k].dtype == WEFT_FLOAT64 && out[1 + k].nbytes == x->nbytes);
        ga[k] = malloc(x->nbytes + 8);
        memcpy(ga[k], out[1 + k].data, x->nbytes);
    }
    const double h = 1e-6;
    double worst = 0;
    for (int k = 0; k < np; k++) {
        weft_tensor *x = &t->data[which[k]];
        double *xv = x->data;
        for (size_t i = 0; i < x->nbytes / 8; i++) {
            double x0 = xv[i], lp, lm;
            xv[i] = x0 + h;
            CU_ASSERT_FATAL(run_plan(s, t, out, 1) == WEFT_OK);
            lp = *(double *)out[0].data;
            xv[i] = x0 - h;
            CU_ASSERT_FATAL(run_plan(s, t, out, 1) == WEFT_OK);
            lm = *(double *)out[0].data;
            xv[i] = x0;
            double fd = (lp - lm) / (2 * h), err = fabs(ga[k][i] - fd) / fmax(1.0, fabs(fd));
            if (err > worst) worst = err;
            if (err >= 1e-6)
                fprintf(stderr, "\n  d L / d %s[%zu]: autodiff %.12g, finite difference %.12g\n", x->name, i, ga[k][i], fd);
            CU_ASSERT(err < 1e-6);
            n_checked++;
        }
        free(ga[k]);
    }
    weft_session_free(s);
    weft_plan_free(plan);
}

static void check1(tc *t, int y)
{
    check_grads(t, &y, 1);
    end(t);
}

/* Autodiff must fail with a message containing `what`. */
static void check_refused(tc *t, int y, const char *what)
{
    int loss = make_loss(t, &y, 1);
    int params[MAX_IN], grads[MAX_IN], np = 0;
    for (int i = 0; i < t->n_in; i++)
        if (t->is_param[i]) params[np++] = t->in[i];
    int n_nodes = t->m.graph->n_nodes, n_out = t->m.graph->n_outputs;
    weft_status st = weft_autodiff(t->m.graph, loss, params, np, grads);
    CU_ASSERT(st != WEFT_OK);
    if (st && !strstr(weft_last_error(), what)) fprintf(stderr, "\n  message: %s\n", weft_last_error());
    CU_ASSERT(st && strstr(weft_last_error(), what) != NULL);
    CU_ASSERT_EQUAL(t->m.graph->n_outputs, n_out);
    CU_ASSERT(t->m.graph->n_nodes <= n_nodes);
    end(t);
}

/* --- elementwise --------------------------------------------------------------------------------- */

static const int64_t D23[2] = {2, 3};

static void unary_case(const char *op, bool positive, const char *attr, float alpha)
{
    tc t;
    begin(&t);
    int x = param_pos(&t, "x", 2, D23, positive);
    int y = node(&t, op, &x, 1, "y");
    if (attr) attr_f(&t, y, attr, alpha);
    check1(&t, y);
}

static void test_unary(void)
{
    const char *ops[] = {"Neg", "Exp", "Sin", "Cos", "Tanh", "Sigmoid", "Relu", "Identity"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) unary_case(ops[i], false, NULL, 0);
    unary_case("Log", true, NULL, 0);
    unary_case("Sqrt", true, NULL, 0);
    unary_case("LeakyRelu", false, "alpha", 0.2f);
    unary_case("LeakyRelu", false, NULL, 0);
    unary_case("Elu", false, "alpha", 0.7f);
    tc t;
    begin(&t);
    int x = param(&t, "x", 2, D23);
    int y = node(&t, "Cast", &x, 1, "y");
    attr_i(&t, y, "to", WEFT_FLOAT64);
    check1(&t, y);
}

/* a op b for shapes sa, sb (broadcast both ways where they differ). */
static void binary_case(const char *op, int ra, const int64_t *sa, int rb, const int64_t *sb, bool positive)
{
    tc t;
    begin(&t);
    int a = param_pos(&t, "a", ra, sa, positive);
    int b = param_pos(&t, "b", rb, sb, positive);
    check1(&t, node(&t, op, (int[]){a, b}, 2, "y"));
}

static void test_binary(void)
{
    const char *ops[] = {"Add", "Sub", "Mul", "Div"};
    const int64_t s3[1] = {3}, s21[2] = {2, 1}, s13[2] = {1, 3}, s423[3] = {4, 2, 3};
    for (int i = 0; i < 4; i++) {
        binary_case(ops[i], 2, D23, 2, D23, false);
        binary_case(ops[i], 2, D23, 1, s3, false);   /* b broadcast along a new leading axis */
        binary_case(ops[i], 2, s21, 2, s13, false);  /* both broadcast */
        binary_case(ops[i], 3, s423, 2, s21, false); /* a new axis and a size-1 axis at once */
        binary_case(ops[i], 0, NULL, 2, D23, false); /* a scalar */
    }
    binary_case("Pow", 2, D23, 1, s3, true);
    /* Sum of three, Where with a fixed condition */
    tc t;
    begin(&t);
    int a = param(&t, "a", 2, D23), b = param(&t, "b", 1, s3), c = param(&t, "c", 2, s21);
    check1(&t, node(&t, "Sum", (int[]){a, b, c}, 3, "y"));
    begin(&t);
    a = param(&t, "a", 2, D23);
    b = param(&t, "b", 1, s3);
    bool cond[6] = {1, 0, 0, 1, 1, 0};
    int cv = constant(&t, "cond", WEFT_BOOL, 2, D23, cond);
    check1(&t, node(&t, "Where", (int[]){cv, a, b}, 3, "y"));
}

static int sum_sq(tc *t, int y);

/* Dimension a of value v becomes symbol `name` (the data keeps its size: the run-time value). */
static void symbolic(tc *t, int v, int a, const char *name)
{
    t->m.graph->values[v].shape.d[a] = (weft_dim){0, weft_sym_intern(&t->m.syms, name)};
}

/* Broadcasting between symbols the shapes do not relate: decided at run time, whether the symbolic
 * input was broadcast (its size 1) or not. */
static void test_binary_symbolic(void)
{
    tc t;
    for (int bcast = 0; bcast < 2; bcast++) { /* [a, 3] + [b, 3] with b = 4 or 1 at run time */
        begin(&t);
        int x = param(&t, "x", 2, (int64_t[]){4, 3}), y = param(&t, "y", 2, (int64_t[]){bcast ? 1 : 4, 3});
        symbolic(&t, x, 0, "a");
        symbolic(&t, y, 0, "b");
        check1(&t, sum_sq(&t, node(&t, "Add", (int[]){x, y}, 2, "z")));
    }
    /* [2, a, 3] * [b, 1]: a leading axis dropped, axis 1 (size 1) summed, b decided at run time (1) */
    begin(&t);
    int x = param(&t, "x", 3, (int64_t[]){2, 4, 3}), y = param(&t, "y", 2, (int64_t[]){1, 1});
    symbolic(&t, x, 1, "a");
    symbolic(&t, y, 0, "b");
    check1(&t, sum_sq(&t, node(&t, "Mul", (int[]){x, y}, 2, "z")));
    /* Where with the condition and y broadcast (b = 1 at run time) */
    begin(&t);
    x = param(&t, "x", 2, (int64_t[]){4, 3});
    y = param(&t, "y", 2, (int64_t[]){1, 3});
    int cond = node(&t, "Greater", (int[]){y, constant(&t, "zero", WEFT_FLOAT64, 0, NULL, (double[]){0.0})}, 2, "cond");
    symbolic(&t, x, 0, "a");
    symbolic(&t, y, 0, "b");
    check1(&t, sum_sq(&t, node(&t, "Where", (int[]){cond, x, y}, 3, "z")));
}

/* --- dense --------------------------------------------------------------------------------------- */

static void matmul_case(int ra, const int64_t *sa, int rb, const int64_t *sb)
{
    tc t;
    begin(&t);
    int a = param(&t, "a", ra, sa), b = param(&t, "b", rb, sb);
    check1(&t, node(&t, "MatMul", (int[]){a, b}, 2, "y"));
}

static void test_matmul(void)
{
    const int64_t s34[2] = {3, 4}, s223[3] = {2, 2, 3}, s234[3] = {2, 3, 4}, s3[1] = {3}, s1234[4] = {1, 2, 3, 4};
    matmul_case(2, D23, 2, s34);
    matmul_case(3, s223, 2, s34);    /* B broadcast over the batch */
    matmul_case(2, D23, 3, s234);    /* A broadcast over the batch */
    matmul_case(3, s223, 4, s1234);  /* both batched, a size-1 batch axis */
    matmul_case(2, D23, 1, s3);      /* a vector on the right */
}

static void gemm_case(int ta, int tb, float alpha, float beta, int rc, const int64_t *sc)
{
    tc t;
    begin(&t);
    const int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s34[2] = {3, 4}, s43[2] = {4, 3};
    int a = param(&t, "a", 2, ta ? s32 : s23), b = param(&t, "b", 2, tb ? s43 : s34);
    int in[3] = {a, b, -1}, n = 2;
    if (rc >= 0) in[n++] = param(&t, "c", rc, sc);
    int y = node(&t, "Gemm", in, n, "y");
    attr_i(&t, y, "transA", ta);
    attr_i(&t, y, "transB", tb);
    attr_f(&t, y, "alpha", alpha);
    attr_f(&t, y, "beta", beta);
    check1(&t, y);
}

static void test_gemm(void)
{
    const int64_t s4[1] = {4}, s24[2] = {2, 4}, s21[2] = {2, 1};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) gemm_case(ta, tb, 0.5f, 2.0f, 1, s4);
    gemm_case(0, 0, 1.0f, 1.0f, 2, s24);
    gemm_case(1, 0, 1.5f, -1.0f, 2, s21);
    gemm_case(0, 1, 1.0f, 1.0f, -1, NULL);
}

/* --- reductions and normalisations --------------------------------------------------------------- */

static void reduce_case(const char *op, int opset, int n_axes, const int64_t *axes, int keepdims, bool as_attr)
{
    tc t;
    begin(&t);
    const int64_t s234[3] = {2, 3, 4};
    int x = param(&t, "x", 3, s234);
    int in[2] = {x, -1}, n = 1;
    if (n_axes && !as_attr) in[n++] = const_i64(&t, "axes", n_axes, axes);
    int y = node_n(&t, op, "", opset, in, n, "y", 1);
    if (n_axes && as_attr) attr_ints(&t, y, "axes", n_axes, axes);
    if (keepdims >= 0) attr_i(&t, y, "keepdims", keepdims);
    check1(&t, y);
}

static void test_reduce(void)
{
    const int64_t a2[1] = {2};
    reduce_case("ReduceMax", 18, 1, a2, 0, false);
    reduce_case("ReduceMin", 18, 0, NULL, 1, false);
    reduce_case("ReduceMax", 13, 2, (int64_t[]){0, 1}, 1, true);
    const int64_t a1[1] = {1}, a02[2] = {0, -1};
    const char *ops[] = {"ReduceSum", "ReduceMean", "ReduceL2"};
    for (int i = 0; i < 3; i++) {
        reduce_case(ops[i], 18, 1, a1, 0, false);
        reduce_case(ops[i], 18, 2, a02, 1, false);
        reduce_case(ops[i], 18, 0, NULL, 0, false); /* every axis */
        reduce_case(ops[i], 11, 2, a02, 0, true);   /* axes as an attribute */
    }
}

static void softmax_case(const char *op, int opset, int axis)
{
    tc t;
    begin(&t);
    const int64_t s234[3] = {2, 3, 4};
    int x = param(&t, "x", 3, s234);
    int y = node_n(&t, op, "", opset, &x, 1, "y", 1);
    attr_i(&t, y, "axis", axis);
    check1(&t, y);
}

static void lpnorm_case(int p, int axis, bool zero_row)
{
    tc t;
    begin(&t);
    const int64_t s34[2] = {3, 4};
    int x = param(&t, "x", 2, s34);
    if (zero_row) /* a row of zeros: the output there is 0, and so is its gradient */
        for (int j = 0; j < 4; j++) ((double *)t.data[0].data)[4 + j] = 0.0;
    int y = node_n(&t, "LpNormalization", "", 18, &x, 1, "y", 1);
    attr_i(&t, y, "p", p);
    attr_i(&t, y, "axis", axis);
    if (!zero_row) { check1(&t, y); return; }
    /* finite differences across the kink at 0 mean nothing: check the rest and the zeros by hand */
    int loss = make_loss(&t, &y, 1);
    weft_graph *g = t.m.graph;
    g->outputs = realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof *g->outputs);
    g->outputs[g->n_outputs++] = loss;
    g->values[loss].flags |= WEFT_VALUE_OUTPUT;
    int grads[1];
    CU_ASSERT_FATAL(weft_autodiff(g, loss, &x, 1, grads) == WEFT_OK);
    weft_plan *plan = NULL;
    weft_compile_options o = {"ref", 1};
    CU_ASSERT_FATAL(weft_compile(&t.m, &o, &plan) == WEFT_OK);
    weft_session *s = NULL;
    CU_ASSERT_FATAL(weft_session_create(plan, &s) == WEFT_OK);
    weft_tensor out[2];
    CU_ASSERT_FATAL(run_plan(s, &t, out, 2) == WEFT_OK);
    const double *gx = out[1].data;
    for (int i = 0; i < 12; i++) {
        CU_ASSERT(isfinite(gx[i]));
        if (i >= 4 && i < 8) CU_ASSERT(gx[i] == 0.0);
    }
    weft_session_free(s);
    weft_plan_free(plan);
    end(&t);
}

/* F.normalize as an exporter may write it: LpNormalization (p 2 and 1, either axis) */
static void test_lpnorm(void)
{
    lpnorm_case(2, -1, false);
    lpnorm_case(2, 0, false);
    lpnorm_case(1, 1, false);
    lpnorm_case(2, 1, true);
}

static void test_softmax(void)
{
    softmax_case("Softmax", 13, -1);
    softmax_case("Softmax", 13, 1);
    softmax_case("Softmax", 11, 1); /* before 13: over every axis from `axis` on */
    softmax_case("LogSoftmax", 13, -1);
    softmax_case("LogSoftmax", 13, 0);
    softmax_case("LogSoftmax", 11, 1);
}

/* --- movement ------------------------------------------------------------------------------------ */

static void test_movement(void)
{
    const int64_t s234[3] = {2, 3, 4};
    tc t;
    /* Transpose */
    begin(&t);
    int x = param(&t, "x", 3, s234);
    int y = node(&t, "Transpose", &x, 1, "y");
    attr_ints(&t, y, "perm", 3, (int64_t[]){1, 2, 0});
    check1(&t, y);
    /* Reshape */
    begin(&t);
    x = param(&t, "x", 3, s234);
    check1(&t, node(&t, "Reshape", (int[]){x, const_i64(&t, "shape", 2, (int64_t[]){4, -1})}, 2, "y"));
    /* Flatten */
    begin(&t);
    x = param(&t, "x", 3, s234);
    y = node(&t, "Flatten", &x, 1, "y");
    attr_i(&t, y, "axis", 2);
    check1(&t, y);
    /* Unsqueeze, then Squeeze */
    begin(&t);
    x = param(&t, "x", 3, s234);
    y = node(&t, "Unsqueeze", (int[]){x, const_i64(&t, "ax", 1, (int64_t[]){1})}, 2, "u");
    check1(&t, node(&t, "Squeeze", (int[]){y, const_i64(&t, "ax2", 1, (int64_t[]){1})}, 2, "y"));
    /* Concat of three along axis 1 */
    begin(&t);
    int a = param(&t, "a", 2, D23), b = param(&t, "b", 2, (int64_t[]){2, 1}), c = param(&t, "c", 2, (int64_t[]){2, 2});
    y = node(&t, "Concat", (int[]){a, b, c}, 3, "y");
    attr_i(&t, y, "axis", -1);
    check1(&t, y);
    /* Split in three, one part unused by the loss */
    begin(&t);
    x = param(&t, "x", 3, s234);
    y = node_n(&t, "Split", "", 18, (int[]){x, const_i64(&t, "sp", 3, (int64_t[]){1, 2, 1})}, 2, "y", 3);
    attr_i(&t, y, "axis", 2);
    check_grads(&t, (int[]){y, y + 2}, 2);
    end(&t);
    /* Slice with a negative start, two axes */
    begin(&t);
    x = param(&t, "x", 3, s234);
    int st = const_i64(&t, "st", 2, (int64_t[]){1, -3}), en = const_i64(&t, "en", 2, (int64_t[]){3, 100});
    int ax = const_i64(&t, "ax", 2, (int64_t[]){1, 2});
    check1(&t, node(&t, "Slice", (int[]){x, st, en, ax}, 4, "y"));
    /* Expand */
    begin(&t);
    x = param(&t, "x", 2, (int64_t[]){3, 1});
    check1(&t, node(&t, "Expand", (int[]){x, const_i64(&t, "sh", 3, (int64_t[]){2, 3, 4})}, 2, "y"));
}

/* sum(y^2): a loss input of known shape when y's size is only known at run time. */
static int sum_sq(tc *t, int y)
{
    int r = node(t, "ReduceSum", (int[]){node(t, "Mul", (int[]){y, y}, 2, "yy")}, 1, "sumsq");
    attr_i(t, r, "keepdims", 0);
    return r;
}

/* Slice whose box is only known at run time (bounds computed from a Shape, as exporters write them),
 * with steps other than 1 (negative too), and the opset-1 attribute form. */
static void test_slice_runtime(void)
{
    const int64_t s56[2] = {5, 6};
    tc t;
    /* ends = Shape(x)[0:1] - 1 at run time, step 2 on axis 1 */
    begin(&t);
    int x = param(&t, "x", 2, s56);
    int sh = node(&t, "Shape", &x, 1, "sh");
    int one = const_i64(&t, "one", 1, (int64_t[]){1});
    int n0 = node(&t, "Slice", (int[]){sh, const_i64(&t, "z", 1, (int64_t[]){0}), one}, 3, "n0");
    int e0 = node(&t, "Sub", (int[]){n0, one}, 2, "e0");
    int st = const_i64(&t, "st", 2, (int64_t[]){1, 0});
    int en = node(&t, "Concat", (int[]){e0, const_i64(&t, "e1", 1, (int64_t[]){100})}, 2, "en");
    attr_i(&t, en, "axis", 0);
    int ax = const_i64(&t, "ax", 2, (int64_t[]){0, 1}), sp = const_i64(&t, "sp", 2, (int64_t[]){1, 2});
    check1(&t, sum_sq(&t, node(&t, "Slice", (int[]){x, st, en, ax, sp}, 5, "y")));
    /* constant bounds, a negative step */
    begin(&t);
    x = param(&t, "x", 2, s56);
    st = const_i64(&t, "st", 1, (int64_t[]){-1});
    en = const_i64(&t, "en", 1, (int64_t[]){-100});
    ax = const_i64(&t, "ax", 1, (int64_t[]){1});
    sp = const_i64(&t, "sp", 1, (int64_t[]){-2});
    check1(&t, node(&t, "Slice", (int[]){x, st, en, ax, sp}, 5, "y"));
    /* starts as a graph input (not a constant) */
    begin(&t);
    x = param(&t, "x", 2, s56);
    st = input_i64(&t, "st", 1, (int64_t[]){1}, (int64_t[]){2});
    int y = node(&t, "Slice", (int[]){x, st, const_i64(&t, "en", 1, (int64_t[]){5}),
                                      const_i64(&t, "ax", 1, (int64_t[]){1})}, 4, "y");
    check1(&t, sum_sq(&t, y));
}

/* --- piecewise: Clip, Max, Min, PRelu, Mean ------------------------------------------------------ */

static void test_piecewise(void)
{
    tc t;
    const int64_t s3[1] = {3}, s21[2] = {2, 1};
    /* Clip with both bounds as parameters (inputs drawn away from them) */
    begin(&t);
    int x = param(&t, "x", 2, D23);
    int lo = constant(&t, "lo", WEFT_FLOAT64, 0, NULL, (double[]){-0.5});
    int hi = param(&t, "hi", 0, NULL);
    t.data[t.n_in - 1].nbytes = 8;
    ((double *)t.data[t.n_in - 1].data)[0] = 0.55;
    check1(&t, node(&t, "Clip", (int[]){x, lo, hi}, 3, "y"));
    begin(&t);
    x = param(&t, "x", 2, D23);
    lo = param(&t, "lo", 1, (int64_t[]){1});
    ((double *)t.data[t.n_in - 1].data)[0] = -0.1;
    check1(&t, node(&t, "Clip", (int[]){x, lo}, 2, "y"));
    /* Clip before opset 11: attribute bounds */
    begin(&t);
    x = param(&t, "x", 2, D23);
    int y = node_n(&t, "Clip", "", 6, &x, 1, "y", 1);
    attr_f(&t, y, "min", -0.5f);
    attr_f(&t, y, "max", 0.5f);
    check1(&t, y);
    /* Max and Min of three, broadcast */
    const char *ops[2] = {"Max", "Min"};
    for (int i = 0; i < 2; i++) {
        begin(&t);
        int a = param(&t, "a", 2, D23), b = param(&t, "b", 1, s3), c = param(&t, "c", 2, s21);
        check1(&t, node(&t, ops[i], (int[]){a, b, c}, 3, "y"));
    }
    /* Max(x, eps) as clamp(min=eps) is exported, eps a constant */
    begin(&t);
    x = param(&t, "x", 2, D23);
    check1(&t, node(&t, "Max", (int[]){x, constant(&t, "eps", WEFT_FLOAT64, 0, NULL, (double[]){0.1})}, 2, "y"));
    /* PRelu with a slope per column */
    begin(&t);
    x = param(&t, "x", 2, D23);
    int slope = param(&t, "slope", 1, s3);
    check1(&t, node(&t, "PRelu", (int[]){x, slope}, 2, "y"));
    /* Mean */
    begin(&t);
    int a = param(&t, "a", 2, D23), b = param(&t, "b", 1, s3);
    check1(&t, node(&t, "Mean", (int[]){a, b}, 2, "y"));
}

/* --- gather, scatter, segments ------------------------------------------------------------------- */

static void test_gather(void)
{
    tc t;
    const int64_t s43[2] = {4, 3};
    /* Gather rows with a 2-D index holding repeats and a negative value */
    begin(&t);
    int x = param(&t, "x", 2, s43);
    int idx = constant(&t, "idx", WEFT_INT64, 2, (int64_t[]){2, 3}, (int64_t[]){0, 2, 2, -1, 0, 1});
    check1(&t, node(&t, "Gather", (int[]){x, idx}, 2, "y"));
    /* GatherND of rows and of single elements, with repeats */
    begin(&t);
    x = param(&t, "x", 2, s43);
    idx = constant(&t, "idx", WEFT_INT64, 2, (int64_t[]){3, 1}, (int64_t[]){2, 0, 2});
    check1(&t, node(&t, "GatherND", (int[]){x, idx}, 2, "y"));
    begin(&t);
    x = param(&t, "x", 2, s43);
    idx = constant(&t, "idx", WEFT_INT64, 2, (int64_t[]){3, 2}, (int64_t[]){1, 2, 3, 0, 1, 2});
    check1(&t, node(&t, "GatherND", (int[]){x, idx}, 2, "y"));
    /* RowGather */
    begin(&t);
    x = param(&t, "x", 2, s43);
    idx = const_i64(&t, "idx", 5, (int64_t[]){3, 0, 3, 1, 3});
    check1(&t, wnode(&t, "RowGather", (int[]){x, idx}, 2, "y"));
    /* SegmentReduce sum and mean over 5 edges into 4 segments (segment 2 empty) */
    for (int mean = 0; mean < 2; mean++) {
        begin(&t);
        x = param(&t, "x", 2, (int64_t[]){5, 3});
        idx = const_i64(&t, "idx", 5, (int64_t[]){1, 0, 3, 1, 1});
        int n = constant(&t, "n", WEFT_INT64, 0, NULL, (int64_t[]){4});
        int y = wnode(&t, "SegmentReduce", (int[]){x, idx, n}, 3, "y");
        attr_s(&t, y, "reduce", mean ? "mean" : "sum");
        check1(&t, y);
    }
    /* SegmentReduce max and min: the gradient goes to the row that won (distinct values: no ties) */
    for (int mx = 0; mx < 2; mx++) {
        begin(&t);
        x = param(&t, "x", 2, (int64_t[]){5, 3});
        idx = const_i64(&t, "idx", 5, (int64_t[]){1, 0, 3, 1, 1});
        int n = constant(&t, "n", WEFT_INT64, 0, NULL, (int64_t[]){4});
        int y = wnode(&t, "SegmentReduce", (int[]){x, idx, n}, 3, "y");
        attr_s(&t, y, "reduce", mx ? "max" : "min");
        check1(&t, y);
        /* with init: init keeps its place where it is the extremum */
        begin(&t);
        x = param(&t, "x", 2, (int64_t[]){5, 3});
        int init0 = param(&t, "init", 2, s43);
        idx = const_i64(&t, "idx", 5, (int64_t[]){1, 0, -1, 1, 1});
        y = wnode(&t, "SegmentReduce", (int[]){x, idx, -1, init0}, 4, "y");
        attr_s(&t, y, "reduce", mx ? "max" : "min");
        check1(&t, y);
    }
    /* SegmentReduce with init (the ScatterElements form: negative indices wrap) */
    begin(&t);
    x = param(&t, "x", 2, (int64_t[]){5, 3});
    int init = param(&t, "init", 2, s43);
    idx = const_i64(&t, "idx", 5, (int64_t[]){1, 0, -1, 1, 1});
    check1(&t, wnode(&t, "SegmentReduce", (int[]){x, idx, -1, init}, 4, "y"));
    /* LinkScore between two tables (repeats, a negative index, a row never used), and within one */
    begin(&t);
    x = param(&t, "a", 2, s43);
    int b5 = param(&t, "b", 2, (int64_t[]){5, 3});
    int ia = const_i64(&t, "ia", 6, (int64_t[]){0, 2, 2, -1, 0, 1}), ib = const_i64(&t, "ib", 6, (int64_t[]){4, 0, 1, 1, -2, 4});
    check1(&t, wnode(&t, "LinkScore", (int[]){x, b5, ia, ib}, 4, "y"));
    begin(&t);
    x = param(&t, "a", 2, s43);
    ia = const_i64(&t, "ia", 5, (int64_t[]){0, 2, 3, 3, 1});
    ib = const_i64(&t, "ib", 5, (int64_t[]){1, 2, 0, 3, 1});
    check1(&t, wnode(&t, "LinkScore", (int[]){x, x, ia, ib}, 4, "y"));
    /* EdgeSoftmax over [E] and [E, H] scores into 4 segments (one empty) */
    for (int h = 1; h < 3; h++) {
        begin(&t);
        x = param(&t, "x", h, (int64_t[]){6, 2});
        idx = const_i64(&t, "idx", 6, (int64_t[]){1, 0, 3, 1, 1, 3});
        int n = constant(&t, "n", WEFT_INT64, 0, NULL, (int64_t[]){4});
        check1(&t, wnode(&t, "EdgeSoftmax", (int[]){x, idx, n}, 3, "y"));
    }
    /* TimeEncoding of [2, 3] times with parameters w and b */
    begin(&t);
    x = param(&t, "t", 2, D23);
    int w = param(&t, "w", 1, (int64_t[]){4}), b = param(&t, "b", 1, (int64_t[]){4});
    check1(&t, wnode(&t, "TimeEncoding", (int[]){x, w, b}, 3, "y"));
    /* ScatterElements(add) along axis 0, as PyG exports its scatter */
    begin(&t);
    int data = param(&t, "data", 2, s43), upd = param(&t, "upd", 2, (int64_t[]){5, 3});
    int64_t iv[15];
    for (int i = 0; i < 15; i++) iv[i] = (int64_t[]){1, 0, 3, 1, 1}[i / 3];
    idx = constant(&t, "idx", WEFT_INT64, 2, (int64_t[]){5, 3}, iv);
    int y = node(&t, "ScatterElements", (int[]){data, idx, upd}, 3, "y");
    attr_s(&t, y, "reduction", "add");
    check1(&t, y);
    /* ScatterElements(max / min) along axis 0 and 1; data keeps some positions, none hit others */
    for (int r = 0; r < 4; r++) {
        begin(&t);
        int axis = r / 2;
        int64_t rows = axis ? 4 : 5, iv2[15];
        data = param(&t, "data", 2, s43);
        upd = param(&t, "upd", 2, (int64_t[]){rows, 3});
        for (int i = 0; i < 15; i++) iv2[i] = axis ? (int64_t[]){2, 0, 0, 1, 2}[i % 5] : (int64_t[]){1, 0, 3, 1, 1}[i / 3];
        idx = constant(&t, "idx", WEFT_INT64, 2, (int64_t[]){rows, 3}, iv2);
        y = node(&t, "ScatterElements", (int[]){data, idx, upd}, 3, "y");
        attr_s(&t, y, "reduction", r % 2 ? "min" : "max");
        attr_i(&t, y, "axis", axis);
        check1(&t, y);
    }
    /* ScatterND(add) of rows */
    begin(&t);
    data = param(&t, "data", 2, s43);
    upd = param(&t, "upd", 2, (int64_t[]){3, 3});
    idx = constant(&t, "idx", WEFT_INT64, 2, (int64_t[]){3, 1}, (int64_t[]){2, 0, 2});
    y = node(&t, "ScatterND", (int[]){data, idx, upd}, 3, "y");
    attr_s(&t, y, "reduction", "add");
    check1(&t, y);
}

/* --- recurrent ---------------------------------------------------------------------------------- */

/* GRU of seq 3, batch 2, input 3, hidden 2 (W, R, B, initial_h random; sequence_lens when `lens`),
 * differentiated through Y and Y_h (or Y_h alone). */
static void gru_case(const char *dir, int lbr, int layout, float clip, bool bias, bool h0, bool lens, bool use_y)
{
    tc t;
    begin(&t);
    const int64_t S = 3, Bt = 2, I = 3, H = 2, D = strcmp(dir, "bidirectional") ? 1 : 2;
    int64_t xs[3] = {layout ? Bt : S, layout ? S : Bt, I}, hs[3] = {layout ? Bt : D, layout ? D : Bt, H};
    int in[6] = {-1, -1, -1, -1, -1, -1};
    in[0] = param(&t, "x", 3, xs);
    in[1] = param(&t, "w", 3, (int64_t[]){D, 3 * H, I});
    in[2] = param(&t, "r", 3, (int64_t[]){D, 3 * H, H});
    if (bias) in[3] = param(&t, "b", 2, (int64_t[]){D, 6 * H});
    if (lens) in[4] = input_i64(&t, "lens", 1, (int64_t[]){Bt}, (int64_t[]){2, 3});
    if (h0) in[5] = param(&t, "h0", 3, hs);
    int n = h0 ? 6 : lens ? 5 : bias ? 4 : 3;
    int y = node_n(&t, "GRU", "", 14, in, n, "y", 2);
    attr_s(&t, y, "direction", dir);
    attr_i(&t, y, "hidden_size", H);
    attr_i(&t, y, "linear_before_reset", lbr);
    if (layout) attr_i(&t, y, "layout", layout);
    if (clip > 0) attr_f(&t, y, "clip", clip);
    if (use_y) check_grads(&t, (int[]){y, y + 1}, 2);
    else check_grads(&t, (int[]){y + 1}, 1);
    end(&t);
}

static void test_gru(void)
{
    gru_case("forward", 1, 0, 0, true, true, false, true);       /* as PyTorch exports nn.GRU */
    gru_case("forward", 0, 0, 0, true, true, false, true);
    gru_case("reverse", 1, 0, 0, true, true, true, true);        /* per-entry lengths, read backwards */
    gru_case("forward", 0, 0, 0, true, true, true, false);       /* through Y_h alone */
    gru_case("bidirectional", 1, 1, 0, true, true, true, true);  /* layout 1 */
    gru_case("bidirectional", 0, 0, 0, false, false, false, true); /* no B, no initial_h */
    gru_case("forward", 1, 0, 0.7f, true, true, false, true);    /* a clip that cuts some gates */
}

/* ai.weft GRUCell of batch 3, input 4, hidden 2: every input a parameter; b_ih, b_hh or both absent. */
static void grucell_case(bool b_ih, bool b_hh)
{
    tc t;
    begin(&t);
    const int64_t B = 3, I = 4, H = 2;
    int in[6] = {-1, -1, -1, -1, -1, -1};
    in[0] = param(&t, "x", 2, (int64_t[]){B, I});
    in[1] = param(&t, "h", 2, (int64_t[]){B, H});
    in[2] = param(&t, "w_ih", 2, (int64_t[]){3 * H, I});
    in[3] = param(&t, "w_hh", 2, (int64_t[]){3 * H, H});
    if (b_ih) in[4] = param(&t, "b_ih", 1, (int64_t[]){3 * H});
    if (b_hh) in[5] = param(&t, "b_hh", 1, (int64_t[]){3 * H});
    check1(&t, node_n(&t, "GRUCell", "ai.weft", 1, in, b_hh ? 6 : b_ih ? 5 : 4, "y", 1));
}

static void test_grucell(void)
{
    grucell_case(true, true);
    grucell_case(false, false);
    grucell_case(false, true);
    /* two steps sharing the weights (as an unrolled GRUCell is exported): their gradients summed */
    tc t;
    begin(&t);
    const int64_t B = 2, I = 3, H = 2;
    int x0 = param(&t, "x0", 2, (int64_t[]){B, I}), x1 = param(&t, "x1", 2, (int64_t[]){B, I});
    int h = param(&t, "h", 2, (int64_t[]){B, H});
    int wi = param(&t, "w_ih", 2, (int64_t[]){3 * H, I}), wh = param(&t, "w_hh", 2, (int64_t[]){3 * H, H});
    int bi = param(&t, "b_ih", 1, (int64_t[]){3 * H}), bh = param(&t, "b_hh", 1, (int64_t[]){3 * H});
    int h1 = wnode(&t, "GRUCell", (int[]){x0, h, wi, wh, bi, bh}, 6, "h1");
    check1(&t, wnode(&t, "GRUCell", (int[]){x1, h1, wi, wh, bi, bh}, 6, "h2"));
}

/* --- control flow ------------------------------------------------------------------------------- */

/* A branch graph of If node `at` computing op(x) (x read from the enclosing graph). */
static void add_branch(tc *t, int at, const char *attr, const char *op, const char *out)
{
    weft_graph *g = t->m.graph, *b = weft_graph_new(g, &t->m.syms);
    CU_ASSERT_FATAL(b != NULL);
    int x = weft_graph_add_value(b, "x");
    CU_ASSERT_FATAL(x >= 0);
    b->values[x].flags |= WEFT_VALUE_OUTER;
    int y = irb_node(b, op, "", 18, (int[]){x, x}, strcmp(op, "Mul") ? 1 : 2, out, 1);
    irb_output(b, y);
    weft_attr a = {.name = strdup(attr), .type = WEFT_ATTR_GRAPH, .g = b};
    CU_ASSERT_FATAL(weft_node_add_attr(&g->nodes[g->values[at].producer], &a) == WEFT_OK);
}

static void test_if(void)
{
    tc t;
    /* a condition on x's rank (as PyG's exports write them): the branch taken is differentiated */
    for (int then = 0; then < 2; then++) {
        begin(&t);
        int x = param(&t, "x", 2, D23);
        int rank = node(&t, "Size", (int[]){node(&t, "Shape", &x, 1, "shape")}, 1, "rank");
        int k = constant(&t, "k", WEFT_INT64, 0, NULL, (int64_t[]){then ? 2 : 3});
        int y = node(&t, "If", (int[]){node(&t, "Equal", (int[]){rank, k}, 2, "cond")}, 1, "y");
        add_branch(&t, y, "then_branch", "Mul", "x_sq");
        add_branch(&t, y, "else_branch", "Sin", "x_sin");
        check1(&t, node(&t, "Neg", &y, 1, "z"));
    }
    /* a condition only known at run time: refused, naming the If */
    begin(&t);
    param(&t, "x", 2, D23); /* read by the branches by name */
    int flag = input_i64(&t, "flag", 0, NULL, (int64_t[]){1});
    int y = node(&t, "If", (int[]){node(&t, "Equal", (int[]){flag, constant(&t, "one", WEFT_INT64, 0, NULL, (int64_t[]){1})}, 2, "cond")},
                 1, "the_if");
    add_branch(&t, y, "then_branch", "Mul", "x_sq");
    add_branch(&t, y, "else_branch", "Sin", "x_sin");
    check_refused(&t, y, "node 'the_if' (If)");
}

/* --- the pass itself ----------------------------------------------------------------------------- */

static void test_paths(void)
{
    tc t;
    /* a value read three times: the gradients are summed */
    begin(&t);
    int x = param(&t, "x", 2, D23), w = param(&t, "w", 1, (int64_t[]){3});
    int sq = node(&t, "Mul", (int[]){x, x}, 2, "sq");
    int y = node(&t, "Add", (int[]){sq, node(&t, "Mul", (int[]){x, w}, 2, "xw")}, 2, "y");
    check1(&t, y);
    /* an integer graph input (the index) gets no gradient; a parameter the loss ignores gets zeros */
    begin(&t);
    x = param(&t, "x", 2, (int64_t[]){4, 3});
    param(&t, "unused", 1, (int64_t[]){2});
    int idx = input_i64(&t, "idx", 1, (int64_t[]){3}, (int64_t[]){2, 2, 0});
    check1(&t, node(&t, "Gather", (int[]){x, idx}, 2, "y"));
    /* an op without a rule off the path (on a constant) is fine */
    begin(&t);
    x = param(&t, "x", 2, D23);
    double cv[6] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
    int c = constant(&t, "c", WEFT_FLOAT64, 2, D23, cv);
    int e = node(&t, "Erf", &c, 1, "erf_of_constant");
    check1(&t, node(&t, "Mul", (int[]){x, e}, 2, "y"));
    /* an op without a rule on the path: refused, naming the node and the op */
    begin(&t);
    x = param(&t, "x", 2, D23);
    e = node(&t, "Erf", &x, 1, "the_erf");
    check_refused(&t, node(&t, "Neg", &e, 1, "y"), "node 'the_erf' (Erf)");
    /* a rule that refuses its case: named too, and the graph's outputs are left as they were */
    begin(&t);
    x = param(&t, "x", 2, D23);
    y = wnode(&t, "SegmentReduce", (int[]){x, const_i64(&t, "idx", 2, (int64_t[]){0, 1}),
                                           constant(&t, "n", WEFT_INT64, 0, NULL, (int64_t[]){2})}, 3, "seg_max");
    attr_s(&t, y, "reduce", "mul");
    check_refused(&t, y, "seg_max");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("autodiff", NULL, NULL);
    CU_add_test(s, "unary ops", test_unary);
    CU_add_test(s, "binary ops, broadcasting", test_binary);
    CU_add_test(s, "broadcasting between unrelated symbols", test_binary_symbolic);
    CU_add_test(s, "MatMul", test_matmul);
    CU_add_test(s, "Gemm", test_gemm);
    CU_add_test(s, "ReduceSum / Mean / L2", test_reduce);
    CU_add_test(s, "Softmax, LogSoftmax", test_softmax);
    CU_add_test(s, "LpNormalization", test_lpnorm);
    CU_add_test(s, "movement ops", test_movement);
    CU_add_test(s, "Slice with bounds known at run time, steps", test_slice_runtime);
    CU_add_test(s, "Clip, Max, Min, PRelu, Mean", test_piecewise);
    CU_add_test(s, "Gather, RowGather, SegmentReduce, LinkScore, Scatter", test_gather);
    CU_add_test(s, "GRU", test_gru);
    CU_add_test(s, "ai.weft GRUCell", test_grucell);
    CU_add_test(s, "If with a condition folding decides", test_if);
    CU_add_test(s, "paths: sums, indices, ops without rules", test_paths);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    printf("(%d gradient elements checked)\n", n_checked);
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
