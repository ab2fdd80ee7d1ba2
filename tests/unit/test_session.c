/*
 * tests/unit/test_session.c — set up once, run many: a run with sizes seen before allocates nothing;
 * outputs never alias memory the caller does not own; sets of sizes are cached; the arena plan stays
 * near its lower bound; statistics and profiles.
 *
 * Allocations are counted by wrapping malloc, calloc, realloc, aligned_alloc and posix_memalign at link
 * time (-Wl,--wrap, see CMakeLists.txt): every allocation made by weft's own code is seen.
 */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/plan.h"
#include "runtime/session.h"

/* --- counting allocations ------------------------------------------------------------------------ */

static long n_allocs;
void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t al, size_t n);
int __real_posix_memalign(void **p, size_t al, size_t n);
void *__wrap_malloc(size_t n) { n_allocs++; return __real_malloc(n); }
void *__wrap_calloc(size_t a, size_t b) { n_allocs++; return __real_calloc(a, b); }
void *__wrap_realloc(void *p, size_t n) { n_allocs++; return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t al, size_t n) { n_allocs++; return __real_aligned_alloc(al, n); }
int __wrap_posix_memalign(void **p, size_t al, size_t n) { n_allocs++; return __real_posix_memalign(p, al, n); }

/* --- a model and its test inputs ----------------------------------------------------------------- */

typedef struct loaded {
    weft_plan *plan;
    weft_tensor in[32];
    int n_in;
} loaded;

static const char *backend_list(void)
{
    const char *b = getenv("WEFT_BACKEND");
    return b && *b ? b : "ref";
}

/* Loads models/<name>/model.onnx, compiles it, and reads test_data_set_<set>'s inputs, named. */
static int load(const char *name, int set, loaded *l)
{
    memset(l, 0, sizeof *l);
    char path[512];
    snprintf(path, sizeof path, "models/%s/model.onnx", name);
    weft_model *m = NULL;
    if (weft_model_load(path, &m)) { fprintf(stderr, "%s: %s\n", path, weft_last_error()); return 0; }
    weft_compile_options o = {backend_list(), 1};
    weft_status st = weft_compile(m, &o, &l->plan);
    weft_model_free(m);
    if (st) { fprintf(stderr, "compile %s: %s\n", name, weft_last_error()); return 0; }
    l->n_in = weft_plan_num_inputs(l->plan);
    for (int i = 0; i < l->n_in; i++) {
        snprintf(path, sizeof path, "models/%s/test_data_set_%d/input_%d.pb", name, set, i);
        if (weft_tensor_load(path, &l->in[i])) { fprintf(stderr, "%s: %s\n", path, weft_last_error()); return 0; }
        weft_tensor info;
        weft_plan_input_info(l->plan, i, &info);
        free((void *)l->in[i].name);
        l->in[i].name = strdup(info.name);
    }
    return 1;
}

static void unload(loaded *l)
{
    for (int i = 0; i < l->n_in; i++) weft_tensor_release(&l->in[i]);
    weft_plan_free(l->plan);
}

/* --- tests --------------------------------------------------------------------------------------- */

static void steady_state_allocates_nothing(const char *name)
{
    loaded a, b;
    CU_ASSERT_FATAL(load(name, 0, &a));
    CU_ASSERT_FATAL(load(name, 1, &b));
    weft_session_options so = {2, 0};
    weft_session *s = NULL;
    CU_ASSERT_FATAL(weft_session_create_with_options(a.plan, &so, &s) == WEFT_OK);
    weft_tensor out[16];
    int n_out = weft_plan_num_outputs(a.plan);
    /* two sets of sizes, each set up once */
    memset(out, 0, sizeof out);
    long at_start = n_allocs;
    CU_ASSERT_FATAL(weft_session_run(s, a.in, (size_t)a.n_in, out, (size_t)n_out) == WEFT_OK);
    CU_ASSERT(n_allocs > at_start); /* setting sizes up allocates: the counter sees weft's allocations */
    memset(out, 0, sizeof out);
    CU_ASSERT_FATAL(weft_session_run(s, b.in, (size_t)b.n_in, out, (size_t)n_out) == WEFT_OK);
    long before = n_allocs;
    for (int r = 0; r < 6; r++) {
        loaded *l = r % 2 ? &b : &a;
        memset(out, 0, sizeof out);
        CU_ASSERT(weft_session_run(s, l->in, (size_t)l->n_in, out, (size_t)n_out) == WEFT_OK);
    }
    long made = n_allocs - before;
    if (made) fprintf(stderr, "%s: %ld allocations in 6 runs of sizes already set up\n", name, made);
    CU_ASSERT_EQUAL(made, 0);
    weft_session_stats stats;
    CU_ASSERT(weft_session_get_stats(s, &stats) == WEFT_OK);
    CU_ASSERT_EQUAL(stats.configs, 2);
    CU_ASSERT_EQUAL(stats.runs, 8);
    weft_session_free(s);
    unload(&a);
    unload(&b);
}

static void test_steady_state_sage(void) { steady_state_allocates_nothing("sage_mean_ts18"); }
static void test_steady_state_traffic(void) { steady_state_allocates_nothing("traffic_encoder_ts18"); }
/* GCN's export removes self loops with NonZero: a data-dependent edge count, so part of the plan is
 * sized at run time; its buffers only grow, so the same inputs again allocate nothing either. */
static void test_steady_state_dynamic(void) { steady_state_allocates_nothing("gcn_ts18"); }
static void test_steady_state_gat(void) { steady_state_allocates_nothing("gat_ts18"); }

/* Outputs are the session's: writing into them changes no other session's result, and an output that
 * is a graph input or a constant stays valid after the caller's input is freed. */
static void test_outputs_do_not_alias(void)
{
    /* y = Identity(x): a graph input passed through; c: a constant output; x itself as an output */
    weft_model *m = calloc(1, sizeof *m);
    m->graph = weft_graph_new(NULL, &m->syms);
    m->ir_version = 8;
    m->opsets = calloc(1, sizeof *m->opsets);
    m->opsets[0].domain = strdup("");
    m->opsets[0].version = 17;
    m->n_opsets = 1;
    weft_graph *g = m->graph;
    int x = weft_graph_add_value(g, "x");
    g->values[x].dtype = WEFT_FLOAT32;
    g->values[x].shape.rank = 1;
    g->values[x].shape.d[0] = (weft_dim){0, weft_sym_intern(&m->syms, "n")};
    g->values[x].flags |= WEFT_VALUE_INPUT | WEFT_VALUE_TYPED;
    g->inputs = malloc(sizeof(int));
    g->inputs[g->n_inputs++] = x;
    int c = weft_graph_add_value(g, "c");
    float cdata[3] = {1, 2, 3};
    weft_shape cs = {1, {{3, -1}}};
    weft_value_set_data(&g->values[c], WEFT_FLOAT32, &cs, cdata, sizeof cdata);
    g->values[c].flags |= WEFT_VALUE_INITIALIZER;
    int y = weft_graph_add_value(g, "y");
    int nd = weft_graph_add_node(g, "Identity", "", "id", 1, 1);
    g->nodes[nd].opset = 17;
    g->nodes[nd].inputs[0] = x;
    g->nodes[nd].outputs[0] = y;
    g->values[y].producer = nd;
    g->outputs = malloc(3 * sizeof(int));
    g->outputs[g->n_outputs++] = y;
    g->outputs[g->n_outputs++] = c;
    g->outputs[g->n_outputs++] = x; /* the input itself, as an output */
    g->values[y].flags |= WEFT_VALUE_OUTPUT;
    g->values[c].flags |= WEFT_VALUE_OUTPUT;
    weft_plan *p = NULL;
    weft_compile_options o = {backend_list(), 1};
    weft_status cst = weft_compile(m, &o, &p);
    if (cst) fprintf(stderr, "compile: %s\n", weft_last_error());
    CU_ASSERT_FATAL(cst == WEFT_OK);
    weft_model_free(m);
    weft_session *s1 = NULL, *s2 = NULL;
    CU_ASSERT_FATAL(weft_session_create(p, &s1) == WEFT_OK);
    CU_ASSERT_FATAL(weft_session_create(p, &s2) == WEFT_OK);
    float *xin = malloc(4 * sizeof *xin);
    for (int i = 0; i < 4; i++) xin[i] = (float)(10 + i);
    weft_tensor in = {"x", WEFT_FLOAT32, 1, {4}, xin, 4 * sizeof(float)};
    weft_tensor out1[3] = {{0}}, out2[3] = {{0}};
    CU_ASSERT_FATAL(weft_session_run(s1, &in, 1, out1, 3) == WEFT_OK);
    /* no output points at the caller's input or the plan's constant */
    for (int i = 0; i < 3; i++) CU_ASSERT(out1[i].data != (void *)xin);
    /* the caller frees its input and scribbles over every output of session 1 */
    memset(xin, 0xff, 4 * sizeof *xin);
    free(xin);
    for (int i = 0; i < 3; i++) memset(out1[i].data, 0, out1[i].nbytes);
    /* session 2 still sees the constant, and a fresh run of session 1 too */
    float x2[4] = {1, 2, 3, 4};
    weft_tensor in2 = {"x", WEFT_FLOAT32, 1, {4}, x2, sizeof x2};
    CU_ASSERT_FATAL(weft_session_run(s2, &in2, 1, out2, 3) == WEFT_OK);
    CU_ASSERT_EQUAL(out2[1].nbytes, 3 * sizeof(float));
    CU_ASSERT(((float *)out2[1].data)[0] == 1 && ((float *)out2[1].data)[2] == 3);
    CU_ASSERT(((float *)out2[0].data)[3] == 4 && ((float *)out2[2].data)[0] == 1);
    CU_ASSERT_FATAL(weft_session_run(s1, &in2, 1, out1, 3) == WEFT_OK);
    CU_ASSERT(((float *)out1[1].data)[1] == 2);
    weft_session_free(s1);
    weft_session_free(s2);
    weft_plan_free(p);
}

/* Reshape without data sets sizes up; the arena plan stays within 1.1x of the liveness bound; a run
 * after it needs no further set-up. */
static void test_reshape_and_arena_bound(void)
{
    loaded a;
    CU_ASSERT_FATAL(load("traffic_encoder_ts18", 0, &a));
    weft_session *s = NULL;
    CU_ASSERT_FATAL(weft_session_create(a.plan, &s) == WEFT_OK);
    weft_tensor shapes[32];
    for (int i = 0; i < a.n_in; i++) { shapes[i] = a.in[i]; shapes[i].data = NULL; }
    CU_ASSERT_FATAL(weft_session_reshape(s, shapes, (size_t)a.n_in) == WEFT_OK);
    weft_session_stats st;
    CU_ASSERT(weft_session_get_stats(s, &st) == WEFT_OK);
    CU_ASSERT(st.arena_bytes > 0);
    CU_ASSERT(st.arena_bound_bytes > 0);
    CU_ASSERT(st.arena_bytes <= st.arena_bound_bytes + st.arena_bound_bytes / 10);
    CU_ASSERT_EQUAL(st.configs, 1);
    long before = n_allocs;
    weft_tensor out[2] = {{0}};
    CU_ASSERT(weft_session_run(s, a.in, (size_t)a.n_in, out, 2) == WEFT_OK);
    CU_ASSERT(weft_session_get_stats(s, &st) == WEFT_OK);
    CU_ASSERT_EQUAL(st.configs, 1);
    (void)before;
    /* a data pointer is still required to run */
    CU_ASSERT(weft_session_run(s, shapes, (size_t)a.n_in, out, 2) != WEFT_OK);
    weft_session_free(s);
    unload(&a);
}

/* Every model in models/, on each of its test sets: the planned arena is within 1.1x of the liveness
 * lower bound (the largest total of bytes live at once). */
static void test_arena_bound_every_model(void)
{
    DIR *d = opendir("models");
    CU_ASSERT_FATAL(d != NULL);
    struct dirent *e;
    int checked = 0;
    while ((e = readdir(d))) {
        char path[512];
        snprintf(path, sizeof path, "models/%s/model.onnx", e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fclose(f);
        for (int set = 0; set < 4; set++) {
            snprintf(path, sizeof path, "models/%s/test_data_set_%d/input_0.pb", e->d_name, set);
            FILE *g = fopen(path, "rb");
            if (!g) break;
            fclose(g);
            loaded l;
            CU_ASSERT_FATAL(load(e->d_name, set, &l));
            weft_session *s = NULL;
            CU_ASSERT_FATAL(weft_session_create(l.plan, &s) == WEFT_OK);
            weft_tensor out[16] = {{0}};
            CU_ASSERT(weft_session_run(s, l.in, (size_t)l.n_in, out, 0) == WEFT_OK);
            weft_session_stats st;
            CU_ASSERT(weft_session_get_stats(s, &st) == WEFT_OK);
            if (st.arena_bytes > st.arena_bound_bytes + st.arena_bound_bytes / 10) {
                fprintf(stderr, "%s set %d: arena %zu bytes, bound %zu\n", e->d_name, set, st.arena_bytes, st.arena_bound_bytes);
                CU_FAIL("arena above 1.1x its bound");
            }
            checked++;
            weft_session_free(s);
            unload(&l);
        }
    }
    closedir(d);
    CU_ASSERT(checked >= 50);
}

/* More sets of sizes than the cache holds: the least recently used is set up again, results stay right. */
static void test_config_cache_eviction(void)
{
    loaded a;
    CU_ASSERT_FATAL(load("sage_mean_ts18", 0, &a));
    weft_session *s = NULL, *ref = NULL;
    CU_ASSERT_FATAL(weft_session_create(a.plan, &s) == WEFT_OK);
    /* x [n, 32] and edge_index [2, E]: shrink n and E to make new sizes (indices kept below n) */
    const weft_tensor *x = &a.in[0], *ei = &a.in[1];
    int64_t n0 = x->dims[0], e0 = ei->dims[1];
    int64_t *edges = malloc((size_t)(2 * e0) * sizeof *edges);
    for (int round = 0; round < 2; round++) {
        for (int k = 0; k < WEFT_MAX_CONFIGS + 3; k++) {
            int64_t n = n0 - k, e = e0 - 2 * k;
            for (int64_t j = 0; j < e; j++) {
                edges[j] = ((const int64_t *)ei->data)[j] % n;
                edges[e + j] = ((const int64_t *)ei->data)[e0 + j] % n;
            }
            weft_tensor in[2] = {{x->name, WEFT_FLOAT32, 2, {n, 32}, x->data, (size_t)(n * 32) * sizeof(float)},
                                 {ei->name, WEFT_INT64, 2, {2, e}, edges, (size_t)(2 * e) * sizeof(int64_t)}};
            weft_tensor o1 = {0}, o2 = {0};
            CU_ASSERT_FATAL(weft_session_run(s, in, 2, &o1, 1) == WEFT_OK);
            CU_ASSERT_FATAL(weft_session_create(a.plan, &ref) == WEFT_OK);
            CU_ASSERT_FATAL(weft_session_run(ref, in, 2, &o2, 1) == WEFT_OK);
            CU_ASSERT(o1.nbytes == o2.nbytes && memcmp(o1.data, o2.data, o1.nbytes) == 0);
            weft_session_free(ref);
        }
    }
    weft_session_stats st;
    weft_session_get_stats(s, &st);
    CU_ASSERT_EQUAL(st.configs, WEFT_MAX_CONFIGS);
    free(edges);
    weft_session_free(s);
    unload(&a);
}

static void test_profile_and_threads_option(void)
{
    loaded a;
    CU_ASSERT_FATAL(load("sage_mean_ts18", 0, &a));
    weft_session *s = NULL;
    weft_session_options bad = {-1, 0};
    CU_ASSERT(weft_session_create_with_options(a.plan, &bad, &s) == WEFT_ERR_INVALID_ARGUMENT);
    weft_session_options so = {1, 1};
    CU_ASSERT_FATAL(weft_session_create_with_options(a.plan, &so, &s) == WEFT_OK);
    weft_tensor out = {0};
    for (int r = 0; r < 3; r++) CU_ASSERT(weft_session_run(s, a.in, (size_t)a.n_in, &out, 1) == WEFT_OK);
    const weft_step_profile *prof = NULL;
    int n = 0;
    CU_ASSERT_FATAL(weft_session_profile(s, &prof, &n) == WEFT_OK);
    CU_ASSERT(n > 0);
    uint64_t calls = 0;
    int dense = 0;
    for (int i = 0; i < n; i++) {
        calls += prof[i].calls;
        CU_ASSERT(prof[i].total_ms >= 0);
        dense += strcmp(prof[i].op_class, "dense") == 0 && prof[i].calls == 3;
        CU_ASSERT(prof[i].backend && prof[i].backend[0]);
    }
    CU_ASSERT(calls > 0);
    CU_ASSERT(dense > 0);
    weft_session_free(s);
    /* a session without profiling says so */
    CU_ASSERT_FATAL(weft_session_create(a.plan, &s) == WEFT_OK);
    CU_ASSERT(weft_session_profile(s, &prof, &n) == WEFT_ERR_INVALID_ARGUMENT);
    weft_session_free(s);
    unload(&a);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("session", NULL, NULL);
    CU_add_test(s, "steady state allocates nothing: sage", test_steady_state_sage);
    CU_add_test(s, "steady state allocates nothing: traffic encoder", test_steady_state_traffic);
    CU_add_test(s, "steady state allocates nothing: gcn (data-dependent sizes)", test_steady_state_dynamic);
    CU_add_test(s, "steady state allocates nothing: gat", test_steady_state_gat);
    CU_add_test(s, "outputs do not alias constants or inputs", test_outputs_do_not_alias);
    CU_add_test(s, "reshape and arena bound", test_reshape_and_arena_bound);
    CU_add_test(s, "config cache eviction", test_config_cache_eviction);
    CU_add_test(s, "arena within 1.1x of its bound on every model", test_arena_bound_every_model);
    CU_add_test(s, "profile and threads option", test_profile_and_threads_option);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
