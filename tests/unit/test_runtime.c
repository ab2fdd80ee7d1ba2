/*
 * tests/unit/test_runtime.c — the IR, the compiler's passes and sessions, on graphs built in C.
 */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/plan.h"
#include "runtime/session.h"

/* --- building models by hand --------------------------------------------------------------------- */

static weft_model *model_new(int opset)
{
    weft_model *m = calloc(1, sizeof *m);
    m->graph = weft_graph_new(NULL, &m->syms);
    m->ir_version = 8;
    m->opsets = calloc(1, sizeof *m->opsets);
    m->opsets[0].domain = strdup("");
    m->opsets[0].version = opset;
    m->n_opsets = 1;
    return m;
}

static int add_input(weft_model *m, const char *name, weft_dtype dt, int rank, const char *const *dims)
{
    weft_graph *g = m->graph;
    int v = weft_graph_add_value(g, name);
    weft_value *val = &g->values[v];
    val->dtype = dt;
    val->shape.rank = rank;
    for (int d = 0; d < rank; d++) {
        char *end;
        long n = strtol(dims[d], &end, 10);
        val->shape.d[d] = *end ? (weft_dim){0, weft_sym_intern(&m->syms, dims[d])} : weft_dim_num(n);
    }
    val->flags |= WEFT_VALUE_INPUT | WEFT_VALUE_TYPED;
    g->inputs = realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof(int));
    g->inputs[g->n_inputs++] = v;
    return v;
}

static int add_const_i64(weft_model *m, const char *name, int n, const int64_t *data)
{
    int v = weft_graph_add_value(m->graph, name);
    weft_shape s = {1, {{n, -1}}};
    weft_value_set_data(&m->graph->values[v], WEFT_INT64, &s, data, (size_t)n * 8);
    m->graph->values[v].flags |= WEFT_VALUE_INITIALIZER;
    return v;
}

static int value(weft_model *m, const char *name)
{
    int v = weft_graph_find_value(m->graph, name);
    return v >= 0 ? v : weft_graph_add_value(m->graph, name);
}

static int node(weft_model *m, const char *op, const char *in0, const char *in1, const char *out)
{
    weft_graph *g = m->graph;
    int a = in0 ? value(m, in0) : -1, b = in1 ? value(m, in1) : -1, o = value(m, out);
    int i = weft_graph_add_node(g, op, "", NULL, in1 ? 2 : 1, 1);
    g->nodes[i].inputs[0] = a;
    if (in1) g->nodes[i].inputs[1] = b;
    g->nodes[i].outputs[0] = o;
    g->nodes[i].opset = (int)m->opsets[0].version;
    return i;
}

static void mark_output(weft_model *m, const char *name)
{
    weft_graph *g = m->graph;
    g->outputs = realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof(int));
    g->outputs[g->n_outputs++] = value(m, name);
    g->values[value(m, name)].flags |= WEFT_VALUE_OUTPUT;
}

static void model_free(weft_model *m)
{
    weft_graph_free(m->graph);
    weft_symtab_free(&m->syms);
    free(m->opsets[0].domain);
    free(m->opsets);
    free(m);
}

static weft_tensor tensor_f32(const char *name, float *data, int rank, const int64_t *dims)
{
    weft_tensor t = {name, WEFT_FLOAT32, rank, {0}, data, 4};
    for (int d = 0; d < rank; d++) { t.dims[d] = dims[d]; t.nbytes *= (size_t)dims[d]; }
    return t;
}

/* y = relu(x + b) * x ; the chain exercises buffer reuse between temporaries */
static weft_model *chain_model(void)
{
    weft_model *m = model_new(17);
    const char *dims[] = {"N", "3"};
    add_input(m, "x", WEFT_FLOAT32, 2, dims);
    add_input(m, "b", WEFT_FLOAT32, 2, dims);
    node(m, "Add", "x", "b", "s");
    node(m, "Relu", "s", NULL, "r");
    node(m, "Mul", "r", "x", "y");
    node(m, "Neg", "y", NULL, "ny");
    node(m, "Neg", "ny", NULL, "out");
    mark_output(m, "out");
    return m;
}

static void test_chain_runs_and_reuses_buffers(void)
{
    weft_model *m = chain_model();
    weft_plan *p = NULL;
    CU_ASSERT_EQUAL_FATAL(weft_compile(m, NULL, &p), WEFT_OK);
    model_free(m);
    /* five temporaries, at most three alive at once (inputs of a step and its output) */
    CU_ASSERT(p->n_buffers <= 3);
    weft_session *s = NULL;
    CU_ASSERT_EQUAL_FATAL(weft_session_create(p, &s), WEFT_OK);
    float x[6] = {1, -2, 3, -4, 5, -6}, b[6] = {0.5f, 0.5f, -4, 10, 0, 0};
    int64_t dims[2] = {2, 3};
    weft_tensor in[2] = {tensor_f32("x", x, 2, dims), tensor_f32("b", b, 2, dims)};
    weft_tensor out = {0};
    CU_ASSERT_EQUAL_FATAL(weft_session_run(s, in, 2, &out, 1), WEFT_OK);
    CU_ASSERT_STRING_EQUAL(out.name, "out");
    CU_ASSERT_EQUAL(out.rank, 2);
    CU_ASSERT_EQUAL(out.dims[0], 2);
    const float *y = out.data;
    for (int i = 0; i < 6; i++) {
        float r = x[i] + b[i] > 0 ? x[i] + b[i] : 0;
        CU_ASSERT_DOUBLE_EQUAL(y[i], r * x[i], 1e-6);
    }
    /* a second run with another N reuses the session */
    float x3[9] = {1, 1, 1, 2, 2, 2, 3, 3, 3}, b3[9] = {0};
    int64_t d3[2] = {3, 3};
    weft_tensor in3[2] = {tensor_f32("x", x3, 2, d3), tensor_f32("b", b3, 2, d3)};
    d3[1] = 3;
    CU_ASSERT_EQUAL_FATAL(weft_session_run(s, in3, 2, &out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out.dims[0], 3);
    CU_ASSERT_DOUBLE_EQUAL(((float *)out.data)[8], 9.0, 1e-6);
    weft_session_free(s);
    weft_plan_free(p);
}

static void test_binding_errors(void)
{
    weft_model *m = chain_model();
    weft_plan *p = NULL;
    CU_ASSERT_EQUAL_FATAL(weft_compile(m, NULL, &p), WEFT_OK);
    model_free(m);
    weft_session *s = NULL;
    CU_ASSERT_EQUAL_FATAL(weft_session_create(p, &s), WEFT_OK);
    float x[12] = {0};
    int64_t d23[2] = {2, 3}, d33[2] = {3, 3}, d24[2] = {2, 4};
    weft_tensor out = {0};
    /* symbol N set to 2 by x, 3 by b */
    weft_tensor bad_sym[2] = {tensor_f32("x", x, 2, d23), tensor_f32("b", x, 2, d33)};
    CU_ASSERT_EQUAL(weft_session_run(s, bad_sym, 2, &out, 1), WEFT_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "N"));
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "'b'"));
    /* static dim 3 given as 4 */
    weft_tensor bad_dim[2] = {tensor_f32("x", x, 2, d24), tensor_f32("b", x, 2, d24)};
    CU_ASSERT_EQUAL(weft_session_run(s, bad_dim, 2, &out, 1), WEFT_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "dimension 1"));
    /* missing input */
    CU_ASSERT_EQUAL(weft_session_run(s, bad_sym, 1, &out, 1), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "missing input 'b'"));
    /* unknown and duplicate names */
    weft_tensor unk[2] = {tensor_f32("x", x, 2, d23), tensor_f32("nope", x, 2, d23)};
    CU_ASSERT_EQUAL(weft_session_run(s, unk, 2, &out, 1), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "nope"));
    weft_tensor dup[2] = {tensor_f32("x", x, 2, d23), tensor_f32("x", x, 2, d23)};
    CU_ASSERT_EQUAL(weft_session_run(s, dup, 2, &out, 1), WEFT_ERR_INVALID_ARGUMENT);
    /* wrong dtype */
    weft_tensor wrong[2] = {tensor_f32("x", x, 2, d23), tensor_f32("b", x, 2, d23)};
    wrong[1].dtype = WEFT_INT32;
    CU_ASSERT_EQUAL(weft_session_run(s, wrong, 2, &out, 1), WEFT_ERR_TYPE);
    /* wrong byte count */
    weft_tensor shortb[2] = {tensor_f32("x", x, 2, d23), tensor_f32("b", x, 2, d23)};
    shortb[1].nbytes -= 4;
    CU_ASSERT_EQUAL(weft_session_run(s, shortb, 2, &out, 1), WEFT_ERR_INVALID_ARGUMENT);
    /* rank mismatch */
    weft_tensor rank1[2] = {tensor_f32("x", x, 1, d23), tensor_f32("b", x, 2, d23)};
    CU_ASSERT_EQUAL(weft_session_run(s, rank1, 2, &out, 1), WEFT_ERR_SHAPE);
    /* negative dims */
    int64_t dneg[2] = {-2, 3};
    weft_tensor neg[2] = {tensor_f32("x", x, 2, dneg), tensor_f32("b", x, 2, d23)};
    CU_ASSERT_EQUAL(weft_session_run(s, neg, 2, &out, 1), WEFT_ERR_SHAPE);
    /* still works afterwards */
    weft_tensor ok[2] = {tensor_f32("x", x, 2, d23), tensor_f32("b", x, 2, d23)};
    CU_ASSERT_EQUAL(weft_session_run(s, ok, 2, &out, 1), WEFT_OK);
    weft_session_free(s);
    weft_plan_free(p);
}

static void test_cycle_and_undefined_are_refused(void)
{
    weft_model *m = model_new(17);
    const char *dims[] = {"2"};
    add_input(m, "x", WEFT_FLOAT32, 1, dims);
    node(m, "Add", "x", "c", "a");
    node(m, "Relu", "a", NULL, "c");
    mark_output(m, "c");
    weft_plan *p = NULL;
    CU_ASSERT_EQUAL(weft_compile(m, NULL, &p), WEFT_ERR_INVALID_MODEL);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "cycle"));
    CU_ASSERT_PTR_NULL(p);
    model_free(m);

    m = model_new(17);
    add_input(m, "x", WEFT_FLOAT32, 1, dims);
    node(m, "Add", "x", "ghost", "a");
    mark_output(m, "a");
    CU_ASSERT_EQUAL(weft_compile(m, NULL, &p), WEFT_ERR_INVALID_MODEL);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "ghost"));
    model_free(m);
}

static void test_unknown_op_and_backend(void)
{
    weft_model *m = model_new(17);
    const char *dims[] = {"2"};
    add_input(m, "x", WEFT_FLOAT32, 1, dims);
    node(m, "FrobnicateTensor", "x", NULL, "y");
    mark_output(m, "y");
    weft_plan *p = NULL;
    CU_ASSERT_EQUAL(weft_compile(m, NULL, &p), WEFT_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "FrobnicateTensor"));
    weft_compile_options o = {"tpu", 1};
    CU_ASSERT_EQUAL(weft_compile(m, &o, &p), WEFT_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "tpu"));
    model_free(m);
}

/* Shape -> Gather -> Reshape over a symbolic dim cannot fold; over static dims it folds away. */
static void test_folding_shape_chain(void)
{
    weft_model *m = model_new(17);
    const char *dims[] = {"4", "6"};
    add_input(m, "x", WEFT_FLOAT32, 2, dims);
    int64_t target[2] = {3, 8};
    add_const_i64(m, "t", 2, target);
    node(m, "Shape", "x", NULL, "sx");
    node(m, "Add", "t", "t", "t2"); /* constant: folds */
    node(m, "Reshape", "x", "t", "y");
    mark_output(m, "y");
    mark_output(m, "t2");
    weft_plan *p = NULL;
    CU_ASSERT_EQUAL_FATAL(weft_compile(m, NULL, &p), WEFT_OK);
    model_free(m);
    /* Shape's output is dead, Add is folded: one step is left */
    CU_ASSERT_EQUAL(p->n_steps, 1);
    CU_ASSERT_EQUAL(p->slots[p->outputs[1]].kind, WEFT_SLOT_CONST);
    weft_tensor info;
    CU_ASSERT_EQUAL(weft_plan_output_info(p, 0, &info), WEFT_OK);
    CU_ASSERT_EQUAL(info.rank, 2);
    CU_ASSERT_EQUAL(info.dims[0], 3);
    CU_ASSERT_EQUAL(info.dims[1], 8);
    weft_session *s;
    CU_ASSERT_EQUAL_FATAL(weft_session_create(p, &s), WEFT_OK);
    float x[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    int64_t d[2] = {4, 6};
    weft_tensor in = tensor_f32("x", x, 2, d);
    weft_tensor out[2] = {{0}};
    CU_ASSERT_EQUAL_FATAL(weft_session_run(s, &in, 1, out, 2), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].dims[0], 3);
    CU_ASSERT_EQUAL(((float *)out[0].data)[23], 23.0f);
    CU_ASSERT_EQUAL(((int64_t *)out[1].data)[1], 16);
    weft_session_free(s);
    weft_plan_free(p);
}

/* One plan, many sessions on many threads. */
struct job {
    const weft_plan *p;
    int seed;
    int ok;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    weft_session *s;
    if (weft_session_create(j->p, &s)) return NULL;
    j->ok = 1;
    for (int it = 0; it < 200; it++) {
        int64_t n = 1 + (j->seed + it) % 7;
        float x[21], b[21];
        for (int i = 0; i < n * 3; i++) { x[i] = (float)(i + j->seed); b[i] = (float)(it % 3) - 1; }
        int64_t d[2] = {n, 3};
        weft_tensor in[2] = {tensor_f32("x", x, 2, d), tensor_f32("b", b, 2, d)};
        weft_tensor out = {0};
        if (weft_session_run(s, in, 2, &out, 1)) { j->ok = 0; break; }
        for (int i = 0; i < n * 3; i++) {
            float r = x[i] + b[i] > 0 ? x[i] + b[i] : 0;
            if (((float *)out.data)[i] != r * x[i]) j->ok = 0;
        }
    }
    weft_session_free(s);
    return NULL;
}

static void test_threads_share_a_plan(void)
{
    weft_model *m = chain_model();
    weft_plan *p = NULL;
    CU_ASSERT_EQUAL_FATAL(weft_compile(m, NULL, &p), WEFT_OK);
    model_free(m);
    pthread_t th[4];
    struct job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct job){p, i * 5, 0};
        pthread_create(&th[i], NULL, worker, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT(jobs[i].ok);
    }
    weft_plan_free(p);
}

static void test_ir_hash_and_clone(void)
{
    weft_symtab syms = {0};
    weft_graph *g = weft_graph_new(NULL, &syms);
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "v%d", i);
        CU_ASSERT_EQUAL(weft_graph_add_value(g, name), i);
    }
    CU_ASSERT_EQUAL(weft_graph_add_value(g, "v10"), -1); /* duplicate */
    CU_ASSERT_EQUAL(weft_graph_find_value(g, "v999"), 999);
    CU_ASSERT_EQUAL(weft_graph_find_value(g, "v1000"), -1);
    weft_graph *c = weft_graph_clone(g, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(weft_graph_find_value(c, "v500"), 500);
    CU_ASSERT_EQUAL(weft_sym_intern(&syms, "N"), weft_sym_intern(&syms, "N"));
    CU_ASSERT_NOT_EQUAL(weft_sym_fresh(&syms), weft_sym_fresh(&syms));
    weft_graph_free(c);
    weft_graph_free(g);
    weft_symtab_free(&syms);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("runtime", NULL, NULL);
    CU_add_test(s, "ir hash and clone", test_ir_hash_and_clone);
    CU_add_test(s, "chain runs and reuses buffers", test_chain_runs_and_reuses_buffers);
    CU_add_test(s, "binding errors", test_binding_errors);
    CU_add_test(s, "cycle and undefined refused", test_cycle_and_undefined_are_refused);
    CU_add_test(s, "unknown op and backend", test_unknown_op_and_backend);
    CU_add_test(s, "folding shape chain", test_folding_shape_chain);
    CU_add_test(s, "threads share a plan", test_threads_share_a_plan);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
