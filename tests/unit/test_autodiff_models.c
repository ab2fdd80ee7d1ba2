/*
 * tests/unit/test_autodiff_models.c — whole reference models differentiated by weft_autodiff and
 * compared with PyTorch's gradients (models/export_grads.py writes models/<name>/grad_set_<k>/).
 *
 * Each model is loaded as exported, its float initializers become parameters (graph inputs fed with
 * their own values), the loss sum_j ReduceSum(output_j * weights_j) is added (the committed weights fed
 * as inputs), and the differentiated graph is compiled and run on the ref backend on test_data_set_<k>.
 * Every committed gradient element must satisfy
 *     |weft - torch| <= 1e-4 |torch| + 1e-5 max|torch over that parameter|
 * i.e. 1e-4 relative, with an absolute floor of 1e-5 of the parameter's largest gradient for entries
 * near zero (float32 sums of thousands of terms in another order cancel to that level there).
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compiler/autodiff.h"
#include "compiler/plan.h"

#define RTOL 1e-4
#define FLOOR 1e-5

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* value v becomes a graph output (the only one when `only`). */
static int add_node(weft_graph *g, const char *op, const int *in, int n_in, const char *out)
{
    int v = weft_graph_add_value(g, out), nd = weft_graph_add_node(g, op, "", out, n_in, 1);
    CU_ASSERT_FATAL(v >= 0 && nd >= 0);
    g->nodes[nd].opset = 18;
    memcpy(g->nodes[nd].inputs, in, (size_t)n_in * sizeof *in);
    g->nodes[nd].outputs[0] = v;
    g->values[v].producer = nd;
    return v;
}

static void check_model(const char *name, int set)
{
    char path[512], dir[512];
    snprintf(dir, sizeof dir, "models/%s", name);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    weft_model *m = NULL;
    if (weft_model_load(path, &m)) { fprintf(stderr, "\n%s: %s\n", path, weft_last_error()); CU_FAIL("model does not load"); return; }
    weft_graph *g = m->graph;
    int n_data = g->n_inputs, n_outs = g->n_outputs;
    int cap = n_data + g->n_values + n_outs;
    weft_tensor *in = calloc((size_t)cap, sizeof *in);
    const char **own = calloc((size_t)n_data + 1, sizeof *own);
    int *params = calloc((size_t)g->n_values + 1, sizeof *params), np = 0;
    for (int i = 0; i < n_data; i++) {
        snprintf(path, sizeof path, "%s/test_data_set_%d/input_%d.pb", dir, set, i);
        CU_ASSERT_FATAL(weft_tensor_load(path, &in[i]) == WEFT_OK);
        own[i] = in[i].name; /* the file's own, released with it */
        in[i].name = g->values[g->inputs[i]].name;
    }
    int n_in = n_data;
    for (int v = 0; v < g->n_values; v++) { /* initializers become inputs, their data the input's */
        weft_value *x = &g->values[v];
        if (!(x->flags & WEFT_VALUE_INITIALIZER) || x->dtype != WEFT_FLOAT32) continue;
        weft_tensor *t = &in[n_in++];
        t->name = x->name;
        t->dtype = x->dtype;
        t->rank = x->shape.rank;
        for (int a = 0; a < t->rank; a++) t->dims[a] = x->shape.d[a].v;
        t->data = x->data;
        t->nbytes = x->nbytes;
        x->data = NULL;
        x->nbytes = 0;
        x->flags = (x->flags & ~(unsigned)(WEFT_VALUE_INITIALIZER | WEFT_VALUE_CONST)) | WEFT_VALUE_INPUT;
        g->inputs = realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof *g->inputs);
        g->inputs[g->n_inputs++] = v;
        params[np++] = v;
    }
    /* the loss; the committed weights are inputs typed as the outputs are (symbolic sizes included),
     * so that nothing is broadcast in the loss */
    weft_ir_resolve_ops(g, NULL);
    weft_status st = weft_pass_infer(g, false, NULL);
    if (st) fprintf(stderr, "\n%s: infer: %s\n", name, weft_last_error());
    CU_ASSERT_FATAL(st == WEFT_OK);
    int loss = -1;
    for (int j = 0; j < n_outs; j++) {
        weft_tensor *w = &in[n_in];
        snprintf(path, sizeof path, "%s/grad_set_%d/weights_%d.pb", dir, set, j);
        CU_ASSERT_FATAL(weft_tensor_load(path, w) == WEFT_OK);
        free((void *)w->name);
        char nm[64];
        snprintf(nm, sizeof nm, "loss_weights_%d", j);
        w->name = strdup(nm);
        int out = g->outputs[j];
        int wv = weft_graph_add_value(g, nm);
        g->values[wv].dtype = g->values[out].dtype;
        g->values[wv].shape = g->values[out].shape;
        g->values[wv].flags |= WEFT_VALUE_INPUT | WEFT_VALUE_TYPED;
        g->inputs = realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof *g->inputs);
        g->inputs[g->n_inputs++] = wv;
        n_in++;
        g->values[out].flags &= ~(unsigned)WEFT_VALUE_OUTPUT;
        snprintf(nm, sizeof nm, "loss_mul_%d", j);
        int mv = add_node(g, "Mul", (int[]){out, wv}, 2, nm);
        snprintf(nm, sizeof nm, "loss_sum_%d", j);
        int sv = add_node(g, "ReduceSum", &mv, 1, nm);
        weft_attr kd = {.name = strdup("keepdims"), .type = WEFT_ATTR_INT, .i = 0};
        weft_node_add_attr(&g->nodes[g->values[sv].producer], &kd);
        snprintf(nm, sizeof nm, "loss_%d", j);
        loss = loss < 0 ? sv : add_node(g, "Add", (int[]){loss, sv}, 2, nm);
    }
    g->n_outputs = 1;
    g->outputs[0] = loss;
    g->values[loss].flags |= WEFT_VALUE_OUTPUT;
    weft_ir_resolve_ops(g, NULL);
    st = weft_pass_infer(g, false, NULL);
    if (st) fprintf(stderr, "\n%s: infer: %s\n", name, weft_last_error());
    CU_ASSERT_FATAL(st == WEFT_OK);
    int *grads = calloc((size_t)np + 1, sizeof *grads);
    st = weft_autodiff(g, loss, params, np, grads);
    if (st) fprintf(stderr, "\n%s: autodiff: %s\n", name, weft_last_error());
    CU_ASSERT_FATAL(st == WEFT_OK);
    weft_plan *plan = NULL;
    weft_compile_options o = {"ref", 1};
    st = weft_compile(m, &o, &plan);
    if (st) fprintf(stderr, "\n%s: compile: %s\n", name, weft_last_error());
    CU_ASSERT_FATAL(st == WEFT_OK);
    weft_session *s = NULL;
    CU_ASSERT_FATAL(weft_session_create(plan, &s) == WEFT_OK);
    weft_tensor *res = calloc((size_t)np + 1, sizeof *res);
    st = weft_session_run(s, in, (size_t)n_in, res, (size_t)(1 + np));
    if (st) fprintf(stderr, "\n%s: run: %s\n", name, weft_last_error());
    CU_ASSERT_FATAL(st == WEFT_OK);

    /* the comparison */
    double worst = 0;
    int n_ref = 0;
    long n_el = 0;
    for (int k = 0;; k++) {
        snprintf(path, sizeof path, "%s/grad_set_%d/grad_%d.pb", dir, set, k);
        if (!exists(path)) break;
        weft_tensor ref, pos = {0};
        CU_ASSERT_FATAL(weft_tensor_load(path, &ref) == WEFT_OK);
        snprintf(path, sizeof path, "%s/grad_set_%d/sample_%d.pb", dir, set, k);
        bool sampled = exists(path);
        if (sampled) CU_ASSERT_FATAL(weft_tensor_load(path, &pos) == WEFT_OK);
        int p = -1;
        for (int i = 0; i < np; i++)
            if (!strcmp(g->values[params[i]].name, ref.name)) p = i;
        if (p < 0) fprintf(stderr, "\n%s: no parameter named '%s'\n", name, ref.name);
        CU_ASSERT_FATAL(p >= 0);
        const weft_tensor *got = &res[1 + p];
        CU_ASSERT_FATAL(got->dtype == WEFT_FLOAT32 && got->nbytes == in[n_data + p].nbytes);
        const float *r = ref.data, *a = got->data;
        size_t n = ref.nbytes / 4;
        double scale = 0;
        for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(r[i]));
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t at = sampled ? ((const int64_t *)pos.data)[i] : (int64_t)i;
            CU_ASSERT_FATAL(at >= 0 && (size_t)at < got->nbytes / 4);
            double d = fabs((double)a[at] - r[i]), e = d / (fabs(r[i]) + FLOOR / RTOL * scale + 1e-30);
            if (e > worst) worst = e;
            if (d > RTOL * fabs(r[i]) + FLOOR * scale && bad++ < 3)
                fprintf(stderr, "\n  %s: d loss / d %s[%lld]: weft %.8g, PyTorch %.8g\n", name, ref.name, (long long)at,
                        a[at], r[i]);
            n_el++;
        }
        CU_ASSERT(bad == 0);
        n_ref++;
        weft_tensor_release(&ref);
        if (sampled) weft_tensor_release(&pos);
    }
    CU_ASSERT(n_ref > 0); /* (dynamo exports hold float constants too: parameters without a reference) */
    printf("\n    %s: %d parameters, %ld gradient elements, worst |weft - torch| / (|torch| + %g max|torch|) = %.3g ",
           name, n_ref, n_el, FLOOR / RTOL, worst);

    free(res);
    weft_session_free(s);
    weft_plan_free(plan);
    for (int k = n_data; k < n_data + np; k++) free(in[k].data);
    for (int k = n_data + np; k < n_in; k++) weft_tensor_release(&in[k]);
    for (int i = 0; i < n_data; i++) {
        in[i].name = own[i];
        weft_tensor_release(&in[i]);
    }
    free(in);
    free(own);
    free(params);
    free(grads);
    weft_model_free(m);
}

static void test_sage_mean_ts17(void) { check_model("sage_mean_ts17", 0); }
static void test_sage_mean_dynamo18(void) { check_model("sage_mean_dynamo18", 0); }
static void test_gcn_ts17(void) { check_model("gcn_ts17", 0); }
static void test_gcn_dynamo18(void) { check_model("gcn_dynamo18", 0); }
static void test_gat_ts17(void) { check_model("gat_ts17", 0); }
static void test_gat_ts18(void) { check_model("gat_ts18", 0); }
static void test_gru_temporal_ts17(void) { check_model("gru_temporal_ts17", 1); }
static void test_gru_temporal_dynamo18(void) { check_model("gru_temporal_dynamo18", 1); }
static void test_time_encoder_ts17(void) { check_model("time_encoder_ts17", 1); }
static void test_time_encoder_dynamo18(void) { check_model("time_encoder_dynamo18", 1); }
static void test_traffic_encoder_ts17(void) { check_model("traffic_encoder_ts17", 3); }
static void test_traffic_encoder_dynamo18(void) { check_model("traffic_encoder_dynamo18", 3); }
static void test_graphconv_ts17(void) { check_model("graphconv_ts17", 1); }
static void test_graphconv_dynamo18(void) { check_model("graphconv_dynamo18", 1); }
/* (no sage_max_ts17: the TorchScript export of PyG's max aggregation starts its scatter from zeros, so
 * each segment's value is max(0, its max) where eager takes the max itself (models/MANIFEST): another
 * function than PyTorch's, whose gradients it cannot match) */
static void test_sage_max_dynamo18(void) { check_model("sage_max_dynamo18", 1); }
static void test_traffic_classifier_ts17(void) { check_model("traffic_classifier_ts17", 3); }
static void test_traffic_classifier_dynamo18(void) { check_model("traffic_classifier_dynamo18", 3); }
static void test_traffic_linkpred_ts17(void) { check_model("traffic_linkpred_ts17", 3); }
static void test_traffic_linkpred_dynamo18(void) { check_model("traffic_linkpred_dynamo18", 3); }

/* models/weft_ops: each family's ai.weft export and its standard twin, on test set 1 (small) */
static const char *const weft_ops_models[] = {
    "weft_ops/gat_std", "weft_ops/gat_weft", "weft_ops/gru_cell_std", "weft_ops/gru_cell_weft",
    "weft_ops/sage_max_weft", "weft_ops/sage_mean_std", "weft_ops/sage_mean_weft", "weft_ops/time_encoder_std",
    "weft_ops/time_encoder_weft", "weft_ops/traffic_encoder_std", "weft_ops/traffic_encoder_weft",
};
#define WEFT_OPS_TEST(k) static void test_weft_ops_##k(void) { check_model(weft_ops_models[k], 1); }
WEFT_OPS_TEST(0) WEFT_OPS_TEST(1) WEFT_OPS_TEST(2) WEFT_OPS_TEST(3) WEFT_OPS_TEST(4) WEFT_OPS_TEST(5)
WEFT_OPS_TEST(6) WEFT_OPS_TEST(7) WEFT_OPS_TEST(8) WEFT_OPS_TEST(9) WEFT_OPS_TEST(10)
static void (*const weft_ops_tests[])(void) = {
    test_weft_ops_0, test_weft_ops_1, test_weft_ops_2, test_weft_ops_3, test_weft_ops_4, test_weft_ops_5,
    test_weft_ops_6, test_weft_ops_7, test_weft_ops_8, test_weft_ops_9, test_weft_ops_10,
};

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("autodiff of whole models against PyTorch", NULL, NULL);
    CU_add_test(s, "sage_mean_ts17", test_sage_mean_ts17);
    CU_add_test(s, "sage_mean_dynamo18", test_sage_mean_dynamo18);
    CU_add_test(s, "gcn_ts17", test_gcn_ts17);
    CU_add_test(s, "gcn_dynamo18", test_gcn_dynamo18);
    CU_add_test(s, "gat_ts17 (its Ifs inlined)", test_gat_ts17);
    CU_add_test(s, "gat_ts18", test_gat_ts18);
    CU_add_test(s, "gru_temporal_ts17 (GRU)", test_gru_temporal_ts17);
    CU_add_test(s, "gru_temporal_dynamo18", test_gru_temporal_dynamo18);
    CU_add_test(s, "time_encoder_ts17", test_time_encoder_ts17);
    CU_add_test(s, "time_encoder_dynamo18", test_time_encoder_dynamo18);
    CU_add_test(s, "traffic_encoder_ts17", test_traffic_encoder_ts17);
    CU_add_test(s, "traffic_encoder_dynamo18", test_traffic_encoder_dynamo18);
    CU_add_test(s, "graphconv_ts17", test_graphconv_ts17);
    CU_add_test(s, "graphconv_dynamo18", test_graphconv_dynamo18);
    CU_add_test(s, "sage_max_dynamo18", test_sage_max_dynamo18);
    CU_add_test(s, "traffic_classifier_ts17", test_traffic_classifier_ts17);
    CU_add_test(s, "traffic_classifier_dynamo18", test_traffic_classifier_dynamo18);
    CU_add_test(s, "traffic_linkpred_ts17", test_traffic_linkpred_ts17);
    CU_add_test(s, "traffic_linkpred_dynamo18", test_traffic_linkpred_dynamo18);
    for (size_t k = 0; k < sizeof weft_ops_models / sizeof *weft_ops_models; k++)
        CU_add_test(s, weft_ops_models[k], weft_ops_tests[k]);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
