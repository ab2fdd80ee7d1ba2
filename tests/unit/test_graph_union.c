/*
 * tests/unit/test_graph_union.c — the disjoint union of traffic graphs (cli/graph_union.c, the training
 * commands' --batch-graphs): the paper's encoder (models/traffic_encoder_ts17) run on the union gives,
 * row for row, what it gives on each graph alone, so message passing never crosses from one part to
 * another; node features, flow ids and edge indices land where the offsets say.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/graph_union.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const int64_t feat[WEFT_NODE_TYPES] = {WEFT_FEAT_CON_DIM, WEFT_FEAT_IP_DIM};
static char names[WEFT_EDGE_TYPES][64];

/* A random graph of nc con and ni ip nodes with up to 3 edges per node of each type. */
static void random_graph(cli_graph *g, int64_t nc, int64_t ni, size_t first_flow)
{
    memset(g, 0, sizeof *g);
    int64_t n[WEFT_NODE_TYPES] = {nc, ni};
    for (int t = 0; t < WEFT_NODE_TYPES; t++) {
        weft_tensor *x = &g->t[t];
        *x = (weft_tensor){.name = t ? "x_ip" : "x_con", .dtype = WEFT_FLOAT32, .rank = 2, .dims = {n[t], feat[t]}};
        x->nbytes = (size_t)(n[t] * feat[t]) * sizeof(float);
        x->data = malloc(x->nbytes + 1);
        for (int64_t i = 0; i < n[t] * feat[t]; i++) ((float *)x->data)[i] = (float)(rnd() % 1000) / 1000.0f;
    }
    g->n_con = (size_t)nc;
    g->flow = malloc((size_t)(nc + 1) * sizeof *g->flow);
    for (int64_t i = 0; i < nc; i++) g->flow[i] = first_flow + (size_t)i;
    for (int e = 0; e < WEFT_EDGE_TYPES; e++) {
        snprintf(names[e], sizeof names[e], "edge_index__%s", weft_edge_type_names[e]);
        int64_t ns = n[weft_edge_type_src[e]], nd = n[weft_edge_type_dst[e]], E = ns && nd ? (int64_t)(rnd() % (uint64_t)(3 * ns + 1)) : 0;
        weft_tensor *x = &g->t[2 + e];
        *x = (weft_tensor){.name = names[e], .dtype = WEFT_INT64, .rank = 2, .dims = {2, E}, .nbytes = (size_t)(2 * E) * 8};
        int64_t *d = x->data = malloc(x->nbytes + 8);
        for (int64_t j = 0; j < E; j++) {
            d[j] = (int64_t)(rnd() % (uint64_t)ns);
            d[E + j] = (int64_t)(rnd() % (uint64_t)nd);
        }
    }
}

/* The encoder's h_con and h_ip for graph g (malloc'd copies). */
static void encode(weft_session *s, const cli_graph *g, float **h_con, float **h_ip)
{
    weft_tensor out[2] = {{.name = "h_con"}, {.name = "h_ip"}};
    CU_ASSERT_EQUAL_FATAL(weft_session_run(s, g->t, 2 + WEFT_EDGE_TYPES, out, 2), WEFT_OK);
    *h_con = malloc(out[0].nbytes + 1);
    *h_ip = malloc(out[1].nbytes + 1);
    memcpy(*h_con, out[0].data, out[0].nbytes);
    memcpy(*h_ip, out[1].data, out[1].nbytes);
}

static void test_union_equals_parts(void)
{
    weft_model *m = NULL;
    CU_ASSERT_EQUAL_FATAL(weft_model_load("models/traffic_encoder_ts17/model.onnx", &m), WEFT_OK);
    weft_plan *p = NULL;
    weft_compile_options co = {"ref", 1};
    CU_ASSERT_EQUAL_FATAL(weft_compile(m, &co, &p), WEFT_OK);
    weft_session *s = NULL;
    CU_ASSERT_EQUAL_FATAL(weft_session_create(p, &s), WEFT_OK);
    /* three graphs, one of them without ip nodes' edges to speak of, and the union */
    enum { K = 3 };
    const int64_t nc[K] = {17, 1, 40}, ni[K] = {5, 3, 9};
    cli_graph g[K], u;
    const cli_graph *parts[K];
    size_t flows = 0;
    for (int k = 0; k < K; k++) {
        random_graph(&g[k], nc[k], ni[k], flows);
        flows += (size_t)nc[k];
        parts[k] = &g[k];
    }
    CU_ASSERT_EQUAL_FATAL(cli_graph_union(parts, K, &u), 0);
    CU_ASSERT_EQUAL(u.n_con, (size_t)(17 + 1 + 40));
    CU_ASSERT_EQUAL(u.t[1].dims[0], 5 + 3 + 9);
    for (size_t i = 0; i < u.n_con; i++) CU_ASSERT_EQUAL(u.flow[i], i);
    float *uc, *ui;
    encode(s, &u, &uc, &ui);
    int64_t at[WEFT_NODE_TYPES] = {0, 0};
    const int64_t H = 128;
    double worst = 0;
    for (int k = 0; k < K; k++) {
        float *hc, *hi;
        encode(s, &g[k], &hc, &hi);
        for (int64_t i = 0; i < nc[k] * H; i++) worst = fmax(worst, fabs((double)hc[i] - uc[at[0] * H + i]));
        for (int64_t i = 0; i < ni[k] * H; i++) worst = fmax(worst, fabs((double)hi[i] - ui[at[1] * H + i]));
        at[0] += nc[k];
        at[1] += ni[k];
        free(hc);
        free(hi);
    }
    /* the same rows through the same kernels: equal up to summation order within a row */
    CU_ASSERT(worst <= 1e-5);
    if (worst > 1e-5) fprintf(stderr, "\n  largest difference %g\n", worst);
    free(uc);
    free(ui);
    cli_graph_union_free(&u);
    for (int k = 0; k < K; k++) cli_graph_union_free(&g[k]);
    weft_session_free(s);
    weft_plan_free(p);
    weft_model_free(m);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("graph union", NULL, NULL);
    CU_add_test(s, "the encoder on a union equals it on each part", test_union_equals_parts);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
