/*
 * tests/unit/test_losses_optim.c — the loss ops (ops/loss.c), the optimizer ops (ops/optim.c) and the
 * learning-rate schedules (ops/lr_schedule.c).
 *
 * Reference values come from PyTorch, in float64: tests/unit/gen_losses_optim.py writes the inputs and
 * what torch computes from them to tests/data/losses_optim_ref.txt. Loss values, optimizer steps,
 * clipping and schedules are compared with them; loss gradients are compared with torch's and, as every
 * gradient rule is (tests/unit/test_autodiff.c), with central finite differences of
 * L = sum(loss * W) (fixed random W) through compile and a session on the ref backend.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir_build.h"
#include "compiler/autodiff.h"
#include "compiler/plan.h"
#include "ops/lr_schedule.h"
#include "tests/unit/op_harness.h"

/* --- the reference file -------------------------------------------------------------------------- */

#define MAX_REFS 128

static struct ref {
    char name[64];
    int n;
    double *v;
} refs[MAX_REFS];
static int n_refs;

static void load_refs(void)
{
    size_t size;
    uint8_t *raw = wt_read_file("tests/data/losses_optim_ref.txt", &size);
    CU_ASSERT_FATAL(raw != NULL);
    char *text = malloc(size + 1); /* the file's bytes are not NUL-terminated */
    memcpy(text, raw, size);
    text[size] = 0;
    free(raw);
    char *line = text, *next;
    for (; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (line[0] == '#' || !line[0]) continue;
        CU_ASSERT_FATAL(n_refs < MAX_REFS);
        struct ref *r = &refs[n_refs++];
        int used = 0;
        CU_ASSERT_FATAL(sscanf(line, "%63s %d%n", r->name, &r->n, &used) == 2);
        r->v = malloc((size_t)(r->n + 1) * sizeof *r->v);
        char *p = line + used;
        for (int i = 0; i < r->n; i++) r->v[i] = strtod(p, &p);
    }
    free(text);
}

/* The values of reference `name`, which must hold n of them (n < 0: any count). */
static const double *ref(const char *name, int n)
{
    for (int i = 0; i < n_refs; i++)
        if (strcmp(refs[i].name, name) == 0) {
            if (n >= 0 && refs[i].n != n) fprintf(stderr, "\n  %s: %d values, %d expected\n", name, refs[i].n, n);
            CU_ASSERT_FATAL(n < 0 || refs[i].n == n);
            return refs[i].v;
        }
    fprintf(stderr, "\n  no reference '%s'\n", name);
    CU_FAIL_FATAL("missing reference");
    return NULL;
}

static int64_t *ref_i64(const char *name, int n)
{
    const double *v = ref(name, n);
    int64_t *o = malloc((size_t)n * sizeof *o);
    for (int i = 0; i < n; i++) o[i] = (int64_t)v[i];
    return o;
}

/* Every element within tol relative to max(1, |want|). */
static bool close_to(const char *what, const double *got, const double *want, int64_t n, double tol)
{
    for (int64_t i = 0; i < n; i++) {
        double err = fabs(got[i] - want[i]) / fmax(1.0, fabs(want[i]));
        if (!(err <= tol)) {
            fprintf(stderr, "\n  %s[%lld]: %.17g, PyTorch %.17g\n", what, (long long)i, got[i], want[i]);
            return false;
        }
    }
    return true;
}

/* --- one op, outside any graph ------------------------------------------------------------------- */

static weft_tensor f64(const double *v, int rank, const int64_t *dims) { return wt_tensor(WEFT_FLOAT64, v, rank, dims); }

/* Runs an ai.weft or ONNX op on float64 inputs, compares output 0 with reference `want`. */
static void expect_op(const char *domain, const char *op, const weft_attr *a, int na, const weft_tensor *in, int n_in,
                      const char *want, int n_want)
{
    weft_tensor out[2] = {{0}};
    weft_status st = wt_run_op_domain(domain, op, domain[0] ? 1 : 13, a, na, in, n_in, out, 1);
    if (st) fprintf(stderr, "\n  %s: %s\n", op, weft_last_error());
    CU_ASSERT_FATAL(st == WEFT_OK);
    CU_ASSERT_FATAL(out[0].dtype == WEFT_FLOAT64 && wt_numel(&out[0]) == n_want);
    CU_ASSERT(close_to(want, out[0].data, ref(want, n_want), n_want, 1e-13));
    wt_free_outputs(out, 1);
}

static const int64_t XD[3] = {3, 4, 2}, TD[2] = {3, 2}, CD[1] = {4};

static void test_cross_entropy_values(void)
{
    const double *x = ref("xent_x", 24), *w = ref("xent_w", 4);
    int64_t *t = ref_i64("xent_t", 6);
    const char *reds[3] = {"none", "sum", "mean"};
    int counts[3] = {6, 1, 1};
    struct { const char *name; bool weighted; float eps; } cases[] = {{"w_ls", 1, 0.125f}, {"w", 1, 0}, {"ls", 0, 0.25f}};
    for (int c = 0; c < 3; c++)
        for (int r = 0; r < 3; r++) {
            weft_attr a[2] = {wt_attr_string("reduction", reds[r]), wt_attr_float("label_smoothing", cases[c].eps)};
            weft_tensor in[3] = {f64(x, 3, XD), wt_tensor(WEFT_INT64, t, 2, TD),
                                 cases[c].weighted ? f64(w, 1, CD) : wt_absent()};
            char name[64];
            snprintf(name, sizeof name, "sce_%s_%s", cases[c].name, reds[r]);
            /* ignore_index left at its default, -100, as in PyTorch */
            expect_op("ai.weft", "SoftmaxCrossEntropy", a, 2, in, 3, name, counts[r]);
            if (cases[c].eps == 0) { /* the ONNX op gives the same without smoothing */
                weft_attr b[2] = {wt_attr_string("reduction", reds[r]), wt_attr_int("ignore_index", -100)};
                expect_op("", "SoftmaxCrossEntropyLoss", b, 2, in, 3, name, counts[r]);
            }
        }
    const double *lp = ref("nll_x", 24);
    for (int r = 0; r < 3; r++) {
        weft_attr b[2] = {wt_attr_string("reduction", reds[r]), wt_attr_int("ignore_index", -100)};
        weft_tensor in[3] = {f64(lp, 3, XD), wt_tensor(WEFT_INT64, t, 2, TD), f64(w, 1, CD)};
        char name[64];
        snprintf(name, sizeof name, "nll_w_%s", reds[r]);
        expect_op("", "NegativeLogLikelihoodLoss", b, 2, in, 3, name, counts[r]);
    }
    /* float32 runs the same kernel */
    float xf[24], wf[4];
    for (int i = 0; i < 24; i++) xf[i] = (float)x[i];
    for (int i = 0; i < 4; i++) wf[i] = (float)w[i];
    weft_attr a[1] = {wt_attr_float("label_smoothing", 0.125f)};
    weft_tensor in[3] = {wt_tensor(WEFT_FLOAT32, xf, 3, XD), wt_tensor(WEFT_INT64, t, 2, TD), wt_tensor(WEFT_FLOAT32, wf, 1, CD)};
    weft_tensor out[1] = {{0}};
    CU_ASSERT_FATAL(wt_run_op_domain("ai.weft", "SoftmaxCrossEntropy", 1, a, 1, in, 3, out, 1) == WEFT_OK);
    CU_ASSERT(out[0].dtype == WEFT_FLOAT32 && fabs(*(float *)out[0].data - ref("sce_w_ls_mean", 1)[0]) < 1e-5);
    wt_free_outputs(out, 1);
    /* errors: a target out of range, smoothing out of [0, 1] */
    t[0] = 4;
    weft_tensor bad[3] = {f64(x, 3, XD), wt_tensor(WEFT_INT64, t, 2, TD), wt_absent()};
    CU_ASSERT(wt_run_op_domain("ai.weft", "SoftmaxCrossEntropy", 1, NULL, 0, bad, 3, out, 1) == WEFT_ERR_INDEX);
    CU_ASSERT(strstr(weft_last_error(), "target 4 at position 0") != NULL);
    t[0] = 0;
    weft_attr ls = wt_attr_float("label_smoothing", 1.5f);
    CU_ASSERT(wt_run_op_domain("ai.weft", "SoftmaxCrossEntropy", 1, &ls, 1, bad, 3, out, 1) != WEFT_OK);
    CU_ASSERT(strstr(weft_last_error(), "label_smoothing") != NULL);
    free(t);
}

static void test_bce_mse_values(void)
{
    const int64_t D34[2] = {3, 4}, D4[1] = {4}, D23[2] = {2, 3};
    const double *x = ref("bce_x", 12), *t = ref("bce_t", 12), *w = ref("bce_w", 4), *pw = ref("bce_pw", 4);
    const char *reds[3] = {"none", "sum", "mean"};
    int counts[3] = {12, 1, 1};
    for (int r = 0; r < 3; r++) {
        weft_attr a = wt_attr_string("reduction", reds[r]);
        char name[64];
        weft_tensor in[4] = {f64(x, 2, D34), f64(t, 2, D34), f64(w, 1, D4), f64(pw, 1, D4)};
        snprintf(name, sizeof name, "bce_%s", reds[r]);
        expect_op("ai.weft", "BCEWithLogits", &a, 1, in, 4, name, counts[r]);
        snprintf(name, sizeof name, "bce_plain_%s", reds[r]);
        expect_op("ai.weft", "BCEWithLogits", &a, 1, in, 2, name, counts[r]);
        weft_tensor m[2] = {f64(ref("mse_x", 6), 2, D23), f64(ref("mse_t", 6), 2, D23)};
        snprintf(name, sizeof name, "mse_%s", reds[r]);
        expect_op("ai.weft", "MSE", &a, 1, m, 2, name, r ? 1 : 6);
    }
    /* stable for large logits: no overflow to inf, no log(0) */
    double big[2] = {800, -800}, tt[2] = {0, 1}, want = 800;
    weft_tensor in[2] = {f64(big, 1, (int64_t[]){2}), f64(tt, 1, (int64_t[]){2})}, out[1] = {{0}};
    CU_ASSERT_FATAL(wt_run_op_domain("ai.weft", "BCEWithLogits", 1, NULL, 0, in, 2, out, 1) == WEFT_OK);
    CU_ASSERT(close_to("bce(+-800)", out[0].data, &want, 1, 1e-15));
    wt_free_outputs(out, 1);
    /* a weight that would grow the input's shape is refused */
    double w5[5] = {0};
    weft_tensor bad[3] = {f64(x, 2, D34), f64(t, 2, D34), f64(w5, 1, (int64_t[]){5})};
    CU_ASSERT(wt_run_op_domain("ai.weft", "BCEWithLogits", 1, NULL, 0, bad, 3, out, 1) == WEFT_ERR_SHAPE);
}

/* --- gradients through the autodiff pass --------------------------------------------------------- */

#define MAX_IN 8

typedef struct tc {
    weft_model m;
    int n_in;
    int in[MAX_IN];
    bool is_param[MAX_IN];
    weft_tensor data[MAX_IN];
    uint64_t rng;
} tc;

static double rnd(tc *t)
{
    t->rng = t->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(t->rng >> 11) / 9007199254740992.0;
}

static void begin(tc *t)
{
    memset(t, 0, sizeof *t);
    t->m.graph = weft_graph_new(NULL, &t->m.syms);
    t->rng = 4242;
}

static void end(tc *t)
{
    for (int i = 0; i < t->n_in; i++) free(t->data[i].data);
    weft_graph_free(t->m.graph);
    weft_symtab_free(&t->m.syms);
}

/* A float64 parameter (graph input) holding vals. */
static int param(tc *t, const char *name, int rank, const int64_t *dims, const double *vals)
{
    CU_ASSERT_FATAL(t->n_in < MAX_IN);
    weft_graph *g = t->m.graph;
    int v = irb_input(g, name, WEFT_FLOAT64, rank, dims);
    int k = t->n_in++;
    t->in[k] = v;
    t->is_param[k] = true;
    weft_tensor *x = &t->data[k];
    memset(x, 0, sizeof *x);
    x->name = g->values[v].name;
    x->dtype = WEFT_FLOAT64;
    x->rank = rank;
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= x->dims[i] = dims[i];
    x->nbytes = (size_t)n * 8;
    x->data = malloc(x->nbytes + 8);
    memcpy(x->data, vals, x->nbytes);
    return v;
}

static int constant(tc *t, const char *name, weft_dtype dt, int rank, const int64_t *dims, const void *data)
{
    return irb_constant(t->m.graph, name, dt, rank, dims, data);
}

static int node_n(tc *t, const char *op, const char *domain, const int *in, int n_in, const char *out, int n_out)
{
    return irb_node(t->m.graph, op, domain, domain[0] ? 1 : 18, in, n_in, out, n_out);
}

static void attr_i(tc *t, int v, const char *name, int64_t i) { irb_attr_i(t->m.graph, v, name, i); }
static void attr_f(tc *t, int v, const char *name, float f) { irb_attr_f(t->m.graph, v, name, f); }
static void attr_s(tc *t, int v, const char *name, const char *s) { irb_attr_s(t->m.graph, v, name, s); }

static bool infer(tc *t)
{
    weft_ir_resolve_ops(t->m.graph, NULL);
    weft_status st = weft_pass_infer(t->m.graph, false, NULL);
    if (st) fprintf(stderr, "\ninfer: %s\n", weft_last_error());
    return st == WEFT_OK;
}

/* L = sum_k ReduceSum(ys[k] * W_k), W_k random, or all ones when `unit`. */
static int make_loss(tc *t, const int *ys, int n, bool unit)
{
    CU_ASSERT_FATAL(infer(t));
    int loss = -1;
    for (int k = 0; k < n; k++) {
        const weft_value *y = &t->m.graph->values[ys[k]];
        CU_ASSERT_FATAL(weft_shape_known(&y->shape) && y->dtype == WEFT_FLOAT64);
        int64_t dims[WEFT_MAX_RANK], numel = 1;
        int rank = y->shape.rank;
        for (int a = 0; a < rank; a++) numel *= dims[a] = y->shape.d[a].v;
        double *w = malloc((size_t)(numel + 1) * sizeof *w);
        for (int64_t i = 0; i < numel; i++) w[i] = unit ? 1.0 : 0.2 + rnd(t);
        char name[64];
        snprintf(name, sizeof name, "W%d", k);
        int wv = constant(t, name, WEFT_FLOAT64, rank, dims, w);
        free(w);
        snprintf(name, sizeof name, "yw%d", k);
        int m = node_n(t, "Mul", "", (int[]){ys[k], wv}, 2, name, 1);
        snprintf(name, sizeof name, "l%d", k);
        int l = node_n(t, "ReduceSum", "", &m, 1, name, 1);
        attr_i(t, l, "keepdims", 0);
        if (loss < 0) loss = l;
        else {
            snprintf(name, sizeof name, "lsum%d", k);
            loss = node_n(t, "Add", "", (int[]){loss, l}, 2, name, 1);
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

/*
 * Differentiates L with respect to every parameter and compares each gradient element with a central
 * finite difference; when want[k] is given, parameter k's gradient is compared with it too (with
 * unit weights that is PyTorch's gradient of the loss).
 */
static void check_grads(tc *t, const int *ys, int n_y, bool unit, const double *const *want)
{
    int loss = make_loss(t, ys, n_y, unit);
    weft_graph *g = t->m.graph;
    g->outputs = realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof *g->outputs);
    g->outputs[g->n_outputs++] = loss;
    g->values[loss].flags |= WEFT_VALUE_OUTPUT;
    int params[MAX_IN], grads[MAX_IN];
    for (int i = 0; i < t->n_in; i++) params[i] = t->in[i];
    weft_status st = weft_autodiff(g, loss, params, t->n_in, grads);
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
    st = run_plan(s, t, out, 1 + t->n_in);
    if (st) fprintf(stderr, "\nrun: %s\n", weft_last_error());
    CU_ASSERT_FATAL(st == WEFT_OK);
    double *ga[MAX_IN];
    for (int k = 0; k < t->n_in; k++) {
        const weft_tensor *x = &t->data[k];
        CU_ASSERT_FATAL(out[1 + k].dtype == WEFT_FLOAT64 && out[1 + k].nbytes == x->nbytes);
        ga[k] = malloc(x->nbytes + 8);
        memcpy(ga[k], out[1 + k].data, x->nbytes);
        if (want && want[k]) CU_ASSERT(close_to(x->name, ga[k], want[k], (int64_t)(x->nbytes / 8), 1e-12));
    }
    const double h = 1e-6;
    for (int k = 0; k < t->n_in; k++) {
        weft_tensor *x = &t->data[k];
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
            if (err >= 1e-6)
                fprintf(stderr, "\n  d L / d %s[%zu]: autodiff %.12g, finite difference %.12g\n", x->name, i, ga[k][i], fd);
            CU_ASSERT(err < 1e-6);
        }
        free(ga[k]);
    }
    weft_session_free(s);
    weft_plan_free(plan);
    end(t);
}

/* A cross-entropy node on x [3, 4, 2] with PyTorch's targets (one position ignored), maybe weights. */
static int xent_node(tc *t, const char *domain, const char *op, const double *x, bool weighted, int n_out)
{
    int64_t *tv = ref_i64("xent_t", 6);
    int xv = param(t, "x", 3, XD, x);
    int tgt = constant(t, "target", WEFT_INT64, 2, TD, tv);
    free(tv);
    int in[3] = {xv, tgt, weighted ? constant(t, "weight", WEFT_FLOAT64, 1, CD, ref("xent_w", 4)) : -1};
    return node_n(t, op, domain, in, weighted ? 3 : 2, "loss", n_out);
}

static void test_cross_entropy_grads(void)
{
    const double *x = ref("xent_x", 24), *lp = ref("nll_x", 24);
    const char *reds[3] = {"none", "sum", "mean"};
    tc t;
    /* PyTorch's gradients of the mean losses */
    struct { const char *name; bool weighted; float eps; } cases[] = {{"w_ls", 1, 0.125f}, {"w", 1, 0}, {"ls", 0, 0.25f}};
    for (int c = 0; c < 3; c++) {
        char name[64];
        snprintf(name, sizeof name, "sce_%s_grad", cases[c].name);
        const double *want[1] = {ref(name, 24)};
        begin(&t);
        int y = xent_node(&t, "ai.weft", "SoftmaxCrossEntropy", x, cases[c].weighted, 1);
        attr_f(&t, y, "label_smoothing", cases[c].eps);
        check_grads(&t, &y, 1, true, want);
    }
    begin(&t);
    int y = xent_node(&t, "", "NegativeLogLikelihoodLoss", lp, true, 1);
    attr_i(&t, y, "ignore_index", -100);
    const double *want_nll[1] = {ref("nll_w_grad", 24)};
    check_grads(&t, &y, 1, true, want_nll);
    /* every reduction, with and without smoothing, against finite differences */
    for (int r = 0; r < 3; r++)
        for (int ls = 0; ls < 2; ls++) {
            begin(&t);
            y = xent_node(&t, "ai.weft", "SoftmaxCrossEntropy", x, r != 1, 1);
            attr_s(&t, y, "reduction", reds[r]);
            if (ls) attr_f(&t, y, "label_smoothing", 0.125f);
            check_grads(&t, &y, 1, false, NULL);
        }
    for (int r = 0; r < 3; r++) {
        begin(&t);
        y = xent_node(&t, "", "NegativeLogLikelihoodLoss", lp, r != 0, 1);
        attr_s(&t, y, "reduction", reds[r]);
        attr_i(&t, y, "ignore_index", -100);
        check_grads(&t, &y, 1, false, NULL);
    }
    /* the log-probabilities output used too (the ONNX op, without ignore_index: every target valid) */
    begin(&t);
    int64_t tv[6] = {0, 3, 2, 1, 1, 1};
    int xv = param(&t, "x", 3, XD, x);
    int tgt = constant(&t, "target", WEFT_INT64, 2, TD, tv);
    y = node_n(&t, "SoftmaxCrossEntropyLoss", "", (int[]){xv, tgt}, 2, "loss", 2);
    attr_s(&t, y, "reduction", "sum");
    check_grads(&t, (int[]){y, y + 1}, 2, false, NULL);
    begin(&t);
    y = xent_node(&t, "ai.weft", "SoftmaxCrossEntropy", x, true, 2);
    attr_f(&t, y, "label_smoothing", 0.25f);
    check_grads(&t, (int[]){y + 1}, 1, false, NULL); /* only the log-probabilities reach the loss */
}

static void test_bce_mse_grads(void)
{
    const int64_t D34[2] = {3, 4}, D4[1] = {4}, D23[2] = {2, 3};
    const double *x = ref("bce_x", 12), *t = ref("bce_t", 12), *w = ref("bce_w", 4), *pw = ref("bce_pw", 4);
    const char *reds[3] = {"none", "sum", "mean"};
    tc c;
    /* PyTorch's gradients of the mean loss, for the logits and the targets */
    begin(&c);
    int in[4] = {param(&c, "x", 2, D34, x), param(&c, "t", 2, D34, t), constant(&c, "w", WEFT_FLOAT64, 1, D4, w),
                 constant(&c, "pw", WEFT_FLOAT64, 1, D4, pw)};
    int y = node_n(&c, "BCEWithLogits", "ai.weft", in, 4, "loss", 1);
    const double *want[2] = {ref("bce_grad_x", 12), ref("bce_grad_t", 12)};
    check_grads(&c, &y, 1, true, want);
    /* all four inputs as parameters, each reduction; and the plain form */
    for (int r = 0; r < 3; r++)
        for (int full = 0; full < 2; full++) {
            begin(&c);
            int n = 2;
            in[0] = param(&c, "x", 2, D34, x);
            in[1] = param(&c, "t", 2, D34, t);
            if (full) {
                in[n++] = param(&c, "w", 1, D4, w);
                in[n++] = param(&c, "pw", 1, D4, pw);
            }
            y = node_n(&c, "BCEWithLogits", "ai.weft", in, n, "loss", 1);
            attr_s(&c, y, "reduction", reds[r]);
            check_grads(&c, &y, 1, false, NULL);
        }
    /* a per-element weight with a broadcast row, and pos_weight absent */
    begin(&c);
    double w31[3] = {0.5, 2, 1.25};
    in[0] = param(&c, "x", 2, D34, x);
    in[1] = param(&c, "t", 2, D34, t);
    in[2] = param(&c, "w", 2, (int64_t[]){3, 1}, w31);
    y = node_n(&c, "BCEWithLogits", "ai.weft", in, 3, "loss", 1);
    check_grads(&c, &y, 1, false, NULL);
    /* "mean" over a symbolic row count: the divisor is computed from the input's size at run time */
    for (int op = 0; op < 2; op++) {
        begin(&c);
        int xs = param(&c, "x", 2, D34, x), ts = param(&c, "t", 2, D34, t);
        int32_t sym = weft_sym_intern(&c.m.syms, "N");
        CU_ASSERT_FATAL(sym >= 0);
        c.m.graph->values[xs].shape.d[0] = c.m.graph->values[ts].shape.d[0] = (weft_dim){0, sym};
        y = node_n(&c, op ? "MSE" : "BCEWithLogits", "ai.weft", (int[]){xs, ts}, 2, "loss", 1);
        check_grads(&c, &y, 1, false, NULL);
    }
    for (int r = 0; r < 3; r++) {
        begin(&c);
        int m[2] = {param(&c, "x", 2, D23, ref("mse_x", 6)), param(&c, "t", 2, D23, ref("mse_t", 6))};
        y = node_n(&c, "MSE", "ai.weft", m, 2, "loss", 1);
        attr_s(&c, y, "reduction", reds[r]);
        check_grads(&c, &y, 1, false, NULL);
    }
}

/* --- optimizers ---------------------------------------------------------------------------------- */

static const int64_t PD[2] = {2, 3};

/* Five steps of `op` from PyTorch's start, with its gradients and learning rates; the state starts at
 * zeros. Compares the parameter after each step with reference `want`. */
static void optim_case(const char *op, const weft_attr *a, int na, int n_state, bool step_input, const char *want)
{
    const double *p0 = ref("opt_p0", 6), *g = ref("opt_g", 30), *lr = ref("opt_lr", 5), *w = ref(want, 30);
    double p[6], state[3][6] = {{0}};
    memcpy(p, p0, sizeof p);
    for (int s = 0; s < 5; s++) {
        double step = s + 1;
        weft_tensor in[7];
        int n = 0;
        in[n++] = f64(p, 2, PD);
        in[n++] = f64(g + 6 * s, 2, PD);
        in[n++] = f64(&lr[s], 0, NULL);
        bool adam = op[0] == 'A';
        if (adam) in[n++] = f64(&step, 0, NULL);
        for (int k = 0; k < n_state; k++) in[n++] = f64(state[k], 2, PD);
        if (!adam && step_input) {
            if (!n_state) in[n++] = wt_absent();
            in[n++] = f64(&step, 0, NULL);
        }
        weft_tensor out[4] = {{0}};
        weft_status st = wt_run_op_domain("ai.weft", op, 1, a, na, in, n, out, 1 + n_state);
        if (st) fprintf(stderr, "\n  %s: %s\n", op, weft_last_error());
        CU_ASSERT_FATAL(st == WEFT_OK);
        memcpy(p, out[0].data, sizeof p);
        for (int k = 0; k < n_state; k++) memcpy(state[k], out[1 + k].data, sizeof state[k]);
        wt_free_outputs(out, 1 + n_state);
        char what[64];
        snprintf(what, sizeof what, "%s step %d", want, s + 1);
        CU_ASSERT(close_to(what, p, w + 6 * s, 6, 1e-13));
    }
}

static void test_optimizers(void)
{
    const float eps = 0x1p-27f;
    weft_attr sgd[1] = {wt_attr_float("weight_decay", 0.0625f)};
    optim_case("SGD", sgd, 1, 0, false, "opt_sgd");
    optim_case("SGD", sgd, 1, 0, true, "opt_sgd");
    weft_attr mom[3] = {wt_attr_float("momentum", 0.875f), wt_attr_float("dampening", 0.25f),
                        wt_attr_float("weight_decay", 0.0625f)};
    optim_case("SGD", mom, 3, 1, true, "opt_sgd_mom");
    weft_attr nes[2] = {wt_attr_float("momentum", 0.875f), wt_attr_int("nesterov", 1)};
    optim_case("SGD", nes, 2, 1, true, "opt_sgd_nesterov");
    optim_case("SGD", nes, 2, 1, false, "opt_sgd_nesterov"); /* zero buffer, no dampening: the same */
    weft_attr adam[4] = {wt_attr_float("beta1", 0.875f), wt_attr_float("beta2", 0.984375f), wt_attr_float("epsilon", eps),
                         wt_attr_float("weight_decay", 0.0625f)};
    optim_case("Adam", adam, 4, 2, false, "opt_adam");
    weft_attr ams[4] = {wt_attr_float("beta1", 0.875f), wt_attr_float("beta2", 0.984375f), wt_attr_float("epsilon", eps),
                        wt_attr_int("amsgrad", 1)};
    optim_case("Adam", ams, 4, 3, false, "opt_adam_ams");
    weft_attr adamw[4] = {wt_attr_float("beta1", 0.875f), wt_attr_float("beta2", 0.984375f), wt_attr_float("epsilon", eps),
                          wt_attr_float("weight_decay", 0.25f)};
    optim_case("AdamW", adamw, 4, 2, false, "opt_adamw");

    /* errors: a momentum without its buffer output, a step before the first, a gradient of another shape */
    const double *p0 = ref("opt_p0", 6), *g = ref("opt_g", 30);
    double lr = 0.1, zero = 0, z[6] = {0};
    weft_tensor out[4] = {{0}};
    weft_tensor in[6] = {f64(p0, 2, PD), f64(g, 2, PD), f64(&lr, 0, NULL), f64(z, 2, PD)};
    CU_ASSERT(wt_run_op_domain("ai.weft", "SGD", 1, mom, 3, in, 4, out, 1) == WEFT_ERR_INVALID_MODEL);
    CU_ASSERT(strstr(weft_last_error(), "two outputs") != NULL);
    weft_tensor ain[6] = {f64(p0, 2, PD), f64(g, 2, PD), f64(&lr, 0, NULL), f64(&zero, 0, NULL), f64(z, 2, PD), f64(z, 2, PD)};
    CU_ASSERT(wt_run_op_domain("ai.weft", "Adam", 1, adam, 4, ain, 6, out, 3) != WEFT_OK);
    CU_ASSERT(strstr(weft_last_error(), "steps count from 1") != NULL);
    ain[1] = f64(g, 1, (int64_t[]){6});
    CU_ASSERT(wt_run_op_domain("ai.weft", "AdamW", 1, adam, 4, ain, 6, out, 3) == WEFT_ERR_SHAPE);
}

/* Outputs may share their inputs' buffers: Adam run with param_new, exp_avg_new and exp_avg_sq_new
 * written over param, exp_avg and exp_avg_sq gives PyTorch's steps. */
static void test_in_place(void)
{
    const double *p0 = ref("opt_p0", 6), *g = ref("opt_g", 30), *lr = ref("opt_lr", 5), *w = ref("opt_adamw", 30);
    const weft_op_def *def = weft_op_find("ai.weft", "AdamW", 1);
    CU_ASSERT_FATAL(def != NULL);
    weft_attr a[4] = {wt_attr_float("beta1", 0.875f), wt_attr_float("beta2", 0.984375f), wt_attr_float("epsilon", 0x1p-27f),
                      wt_attr_float("weight_decay", 0.25f)};
    weft_node_info info = {"adamw", "AdamW", "ai.weft", 1, 4, a};
    double p[6], m[6] = {0}, v[6] = {0}, step;
    memcpy(p, p0, sizeof p);
    wt_scratch sc = {0};
    for (int s = 0; s < 5; s++) {
        step = s + 1;
        weft_tensor in[6] = {f64(p, 2, PD), f64(g + 6 * s, 2, PD), f64(&lr[s], 0, NULL), f64(&step, 0, NULL),
                             f64(m, 2, PD), f64(v, 2, PD)};
        weft_tview iv[6], ov[3];
        for (int i = 0; i < 6; i++) iv[i] = wt_view(&in[i]);
        ov[0] = iv[0];
        ov[1] = iv[4];
        ov[2] = iv[5];
        weft_kernel_ctx k = {&info, 6, iv, 3, ov, wt_get_scratch, &sc, 1};
        CU_ASSERT_FATAL(def->run(&k) == WEFT_OK);
        CU_ASSERT(close_to("AdamW in place", p, w + 6 * s, 6, 1e-13));
    }
    free(sc.buf);
}

static void test_clip(void)
{
    const int64_t D[3][1] = {{6}, {4}, {1}};
    const double *g = ref("clip_g", 11);
    struct { const char *name; float max_norm, p; } cases[] = {
        {"clip_half", 0.5f, 2}, {"clip_big", 100, 2}, {"clip_inf", 0.5f, INFINITY}, {"clip_p3", 0.5f, 3}};
    for (int c = 0; c < 4; c++) {
        weft_attr a[2] = {wt_attr_float("max_norm", cases[c].max_norm), wt_attr_float("norm_type", cases[c].p)};
        /* the first gradient is [2, 3] in PyTorch: its shape does not matter here */
        weft_tensor in[3] = {f64(g, 1, D[0]), f64(g + 6, 1, D[1]), f64(g + 10, 1, D[2])}, out[4] = {{0}};
        CU_ASSERT_FATAL(wt_run_op_domain("ai.weft", "ClipByGlobalNorm", 1, a, 2, in, 3, out, 4) == WEFT_OK);
        const double *want = ref(cases[c].name, 12);
        CU_ASSERT(close_to(cases[c].name, out[0].data, want, 6, 1e-14));
        CU_ASSERT(close_to(cases[c].name, out[1].data, want + 6, 4, 1e-14));
        CU_ASSERT(close_to(cases[c].name, out[2].data, want + 10, 1, 1e-14));
        CU_ASSERT(out[3].rank == 0 && close_to("total norm", out[3].data, want + 11, 1, 1e-14));
        wt_free_outputs(out, 4);
    }
    weft_tensor in[2] = {f64(g, 1, D[0]), f64(g + 6, 1, D[1])}, out[4] = {{0}};
    CU_ASSERT(wt_run_op_domain("ai.weft", "ClipByGlobalNorm", 1, NULL, 0, in, 2, out, 2) == WEFT_ERR_INVALID_MODEL);
    CU_ASSERT(strstr(weft_last_error(), "2 gradients need 3 outputs") != NULL);
}

/* --- one plan: forward, loss, backward, clipping, update ------------------------------------------ */

/* A float64 graph input that is not differentiated (the learning rate, the step, optimizer state). */
static int input_f64(tc *t, const char *name, int rank, const int64_t *dims, const double *vals)
{
    int v = param(t, name, rank, dims, vals);
    t->is_param[t->n_in - 1] = false;
    return v;
}

static void add_output(weft_graph *g, int v)
{
    g->outputs = realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof *g->outputs);
    g->outputs[g->n_outputs++] = v;
    g->values[v].flags |= WEFT_VALUE_OUTPUT;
}

/*
 * loss = MSE(x W, y); its gradient (autodiff) clipped to norm 0.25 (ClipByGlobalNorm) and applied by
 * Adam, all in one plan. Five steps, each output (W_new, m_new, v_new) bound as the next step's input,
 * as a trainer does; the losses and W after each step compared with PyTorch's.
 */
static void test_training_plan(void)
{
    const int64_t XD2[2] = {4, 3}, YD[2] = {4, 2}, WD[2] = {3, 2};
    const double *lr = ref("opt_lr", 5), *want_w = ref("plan_w", 30), *want_loss = ref("plan_loss", 5);
    double zeros[6] = {0}, one = 1;
    tc t;
    begin(&t);
    int w = param(&t, "W", 2, WD, ref("plan_w0", 6));
    int lrv = input_f64(&t, "lr", 0, NULL, &lr[0]), step = input_f64(&t, "step", 0, NULL, &one);
    int m = input_f64(&t, "m", 2, WD, zeros), v = input_f64(&t, "v", 2, WD, zeros);
    int x = constant(&t, "x", WEFT_FLOAT64, 2, XD2, ref("plan_x", 12)), y = constant(&t, "y", WEFT_FLOAT64, 2, YD, ref("plan_y", 8));
    int loss = node_n(&t, "MSE", "ai.weft", (int[]){node_n(&t, "MatMul", "", (int[]){x, w}, 2, "xw", 1), y}, 2, "loss", 1);
    CU_ASSERT_FATAL(infer(&t));
    weft_graph *g = t.m.graph;
    add_output(g, loss);
    int grad;
    CU_ASSERT_FATAL(weft_autodiff(g, loss, &w, 1, &grad) == WEFT_OK);
    int clipped = node_n(&t, "ClipByGlobalNorm", "ai.weft", &grad, 1, "clipped", 2);
    attr_f(&t, clipped, "max_norm", 0.25f);
    int w_new = node_n(&t, "Adam", "ai.weft", (int[]){w, clipped, lrv, step, m, v}, 6, "W_new", 3);
    attr_f(&t, w_new, "beta1", 0.875f);
    attr_f(&t, w_new, "beta2", 0.984375f);
    attr_f(&t, w_new, "epsilon", 0x1p-27f);
    for (int o = 0; o < 3; o++) add_output(g, w_new + o);
    CU_ASSERT_FATAL(infer(&t));
    weft_plan *plan = NULL;
    weft_compile_options o = {"ref", 1};
    weft_status st = weft_compile(&t.m, &o, &plan);
    if (st) fprintf(stderr, "\ncompile: %s\n", weft_last_error());
    CU_ASSERT_FATAL(st == WEFT_OK);
    weft_session *s = NULL;
    CU_ASSERT_FATAL(weft_session_create(plan, &s) == WEFT_OK);
    for (int k = 0; k < 5; k++) {
        *(double *)t.data[1].data = lr[k];
        *(double *)t.data[2].data = k + 1;
        weft_tensor out[5];
        CU_ASSERT_FATAL(run_plan(s, &t, out, 5) == WEFT_OK);
        char what[64];
        snprintf(what, sizeof what, "loss at step %d", k + 1);
        CU_ASSERT(close_to(what, out[0].data, &want_loss[k], 1, 1e-13));
        snprintf(what, sizeof what, "W after step %d", k + 1);
        CU_ASSERT(close_to(what, out[2].data, want_w + 6 * k, 6, 1e-13));
        /* the rebinding: param_new, exp_avg_new, exp_avg_sq_new become W, m, v */
        memcpy(t.data[0].data, out[2].data, 48);
        memcpy(t.data[3].data, out[3].data, 48);
        memcpy(t.data[4].data, out[4].data, 48);
    }
    weft_session_free(s);
    weft_plan_free(plan);
    end(&t);
}

/* --- schedules ----------------------------------------------------------------------------------- */

static void expect_schedule(const weft_lr_schedule *s, const char *want, int n)
{
    CU_ASSERT_FATAL(weft_lr_schedule_check(s) == WEFT_OK);
    const double *w = ref(want, n);
    double got[32];
    for (int k = 0; k < n; k++) got[k] = weft_lr_at(s, k);
    CU_ASSERT(close_to(want, got, w, n, 1e-14));
}

static void test_schedules(void)
{
    weft_lr_schedule s = {.base_lr = 0.5, .warmup_steps = 4, .warmup_start_factor = 0.25};
    expect_schedule(&s, "sched_linear", 8);
    s = (weft_lr_schedule){.base_lr = 0.5, .decay = WEFT_LR_COSINE, .decay_steps = 10, .min_lr = 0.01};
    expect_schedule(&s, "sched_cosine", 11);
    CU_ASSERT(weft_lr_at(&s, 25) == 0.01); /* held at the floor after the decay */
    s = (weft_lr_schedule){.base_lr = 0.5, .decay = WEFT_LR_STEP, .step_size = 3, .gamma = 0.5};
    expect_schedule(&s, "sched_step", 10);
    s = (weft_lr_schedule){.base_lr = 0.5, .warmup_steps = 4, .warmup_start_factor = 0.25, .decay = WEFT_LR_COSINE,
                           .decay_steps = 10, .min_lr = 0.01};
    expect_schedule(&s, "sched_warm_cosine", 15);
    s = (weft_lr_schedule){.base_lr = 0.5, .warmup_steps = 4, .warmup_start_factor = 0.25, .decay = WEFT_LR_STEP,
                           .step_size = 3, .gamma = 0.5};
    expect_schedule(&s, "sched_warm_step", 14);
    s.step_size = 0;
    CU_ASSERT(weft_lr_schedule_check(&s) == WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT(strstr(weft_last_error(), "step_size") != NULL);
    s = (weft_lr_schedule){.base_lr = 0.5, .decay = WEFT_LR_COSINE, .decay_steps = 10, .min_lr = 0.9};
    CU_ASSERT(weft_lr_schedule_check(&s) == WEFT_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("losses and optimizers", NULL, NULL);
    CU_add_test(s, "reference file", load_refs);
    CU_add_test(s, "cross-entropy values (PyTorch)", test_cross_entropy_values);
    CU_add_test(s, "BCEWithLogits, MSE values (PyTorch)", test_bce_mse_values);
    CU_add_test(s, "cross-entropy gradients", test_cross_entropy_grads);
    CU_add_test(s, "BCEWithLogits, MSE gradients", test_bce_mse_grads);
    CU_add_test(s, "SGD, Adam, AdamW: five steps (PyTorch)", test_optimizers);
    CU_add_test(s, "updates in place", test_in_place);
    CU_add_test(s, "ClipByGlobalNorm (PyTorch)", test_clip);
    CU_add_test(s, "one training plan: loss, gradient, clipping, Adam (PyTorch)", test_training_plan);
    CU_add_test(s, "learning-rate schedules (PyTorch)", test_schedules);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    for (int i = 0; i < n_refs; i++) free(refs[i].v);
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
