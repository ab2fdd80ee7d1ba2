/* tests/unit/test_traffic_graph_stream.c — graphs built while flows arrive are the graphs built from
 * the whole table: same tensors, same order, same statistics; bounded flows held; time axes and late
 * flows. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traffic/graph.h"

/* Every graph folded into one FNV-1a hash, rows of con nodes included. */
typedef struct digest {
    uint64_t h;
    size_t graphs;
} digest;

static void mix(digest *d, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        d->h ^= b[i];
        d->h *= 1099511628211ULL;
    }
}

static int on_graph(const weft_tgraph *g, void *user)
{
    digest *d = user;
    d->graphs++;
    mix(d, &g->index, sizeof g->index);
    mix(d, &g->first_window, sizeof g->first_window);
    mix(d, &g->t0, sizeof g->t0);
    mix(d, g->num_nodes, sizeof g->num_nodes);
    mix(d, g->window_flows, (size_t)g->n_slices * sizeof *g->window_flows);
    mix(d, g->x_con, g->num_nodes[WEFT_NODE_CON] * WEFT_FEAT_CON_DIM * sizeof(float));
    mix(d, g->x_ip, g->num_nodes[WEFT_NODE_IP] * WEFT_FEAT_IP_DIM * sizeof(float));
    for (int e = 0; e < WEFT_EDGE_TYPES; e++) mix(d, g->edge_index[e], g->num_edges[e] * 2 * sizeof(int64_t));
    for (size_t i = 0; i < g->num_nodes[WEFT_NODE_CON]; i++) {
        uint64_t row = g->flow_rows ? g->flow_rows[g->con_flow[i]] : g->con_flow[i];
        mix(d, &row, sizeof row);
    }
    return 0;
}

static uint64_t rng = 88172645463325252ULL;
static double urand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* n flows over `span` seconds among a few dozen hosts; some long, some repeated 5-tuples; start times
 * sorted, then (jitter > 0) moved back by up to `jitter` seconds. */
static void make_flows(weft_flow_table *t, size_t n, double span, double jitter)
{
    weft_flow_table_init(t);
    for (size_t i = 0; i < n; i++) {
        weft_flow f;
        memset(&f, 0, sizeof f);
        weft_ip_from_v4(&f.src, 0x0a000000u + (uint32_t)(urand() * 40));
        weft_ip_from_v4(&f.dst, 0x0a000100u + (uint32_t)(urand() * 25));
        f.sport = (uint16_t)(1024 + (int)(urand() * 8));
        f.dport = (uint16_t)(urand() < 0.5 ? 443 : 53);
        f.proto = f.dport == 53 ? 17 : 6;
        f.ip_version = 4;
        f.start = 1.7e9 + span * (double)i / (double)n;
        double r = urand();
        f.duration = r < 0.05 ? urand() * 200 : r < 0.3 ? 0 : urand() * 4;
        f.has_stats = true;
        f.fwd.packets = 1 + (uint64_t)(urand() * 20);
        f.fwd.bytes = f.fwd.packets * 60;
        f.fwd.min_size = f.fwd.max_size = 60;
        f.bwd.packets = (uint64_t)(urand() * 5);
        f.bwd.bytes = f.bwd.packets * 1000;
        f.bwd.min_size = f.bwd.max_size = f.bwd.packets ? 1000 : 0;
        f.fwd.first = f.start, f.fwd.last = f.start + f.duration;
        CU_ASSERT_EQUAL_FATAL(weft_flow_table_push(t, &f), 0);
    }
    if (jitter > 0)
        for (size_t i = 0; i < n; i++) t->flows[i].start -= urand() * jitter;
}

static digest batch(const weft_flow_table *t, const weft_tgraph_params *p, const weft_scaler *sc, weft_tgraph_stats *st)
{
    digest d = {1469598103934665603ULL, 0};
    char err[256];
    CU_ASSERT_EQUAL(weft_tgraph_build(t, p, sc, on_graph, &d, st, err, sizeof err), 0);
    return d;
}

static digest stream(const weft_flow_table *t, const weft_tgraph_params *p, const weft_scaler *sc, double reorder,
                     bool axes, weft_tgraph_stats *st)
{
    digest d = {1469598103934665603ULL, 0};
    char err[256];
    weft_tgraph_stream *g = weft_tgraph_stream_new(p, sc, reorder, axes, on_graph, &d, st, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    for (size_t i = 0; i < t->n; i++) CU_ASSERT_EQUAL_FATAL(weft_tgraph_stream_push(g, &t->flows[i], err, sizeof err), 0);
    CU_ASSERT_EQUAL(weft_tgraph_stream_flush(g, err, sizeof err), 0);
    weft_tgraph_stream_free(g);
    return d;
}

static void same_stats(const weft_tgraph_stats *a, const weft_tgraph_stats *b)
{
    CU_ASSERT_EQUAL(a->flows, b->flows);
    CU_ASSERT_EQUAL(a->flows_skipped, b->flows_skipped);
    CU_ASSERT_EQUAL(a->flows_clipped, b->flows_clipped);
    CU_ASSERT_EQUAL(a->windows_clipped, b->windows_clipped);
    CU_ASSERT_EQUAL(a->memberships, b->memberships);
    CU_ASSERT_EQUAL(a->windows, b->windows);
    CU_ASSERT_EQUAL(a->windows_dropped, b->windows_dropped);
    CU_ASSERT_EQUAL(a->graphs, b->graphs);
}

static void test_same_graphs(void)
{
    weft_flow_table t;
    make_flows(&t, 60000, 3000, 0);
    weft_scaler sc;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(weft_scaler_fit(&sc, t.flows, t.n, 0.03, 0.97, err, sizeof err), 0);
    struct {
        double window, stride;
        int wm, gs, fm;
        size_t max_flows;
        int64_t mfw;
    } cases[] = {
        {5, 0, 5, 0, 20, 10000, 17280}, /* the reference configuration */
        {5, 0, 5, 2, 20, 10000, 17280}, /* overlapping graphs */
        {2, 1, 3, 1, 4, 60, 17280},     /* overlapping windows, busy windows dropped */
        {1, 0, 4, 3, 2, 10000, 7},      /* long flows cut */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        weft_tgraph_params p;
        weft_tgraph_params_default(&p);
        p.window = cases[c].window, p.stride = cases[c].stride, p.window_memory = cases[c].wm;
        p.graph_stride = cases[c].gs, p.flow_memory = cases[c].fm, p.max_flows = cases[c].max_flows;
        p.max_flow_windows = cases[c].mfw;
        weft_tgraph_stats a, b;
        digest da = batch(&t, &p, &sc, &a), db = stream(&t, &p, &sc, 0, true, &b);
        CU_ASSERT(da.graphs > 100);
        CU_ASSERT_EQUAL(da.graphs, db.graphs);
        CU_ASSERT_EQUAL(da.h, db.h);
        same_stats(&a, &b);
        CU_ASSERT_EQUAL(b.axes, 1);
        CU_ASSERT_EQUAL(b.flows_late, 0);
        /* held: the flows of the windows in flight (and the long ones), far fewer than all */
        CU_ASSERT(b.peak_flows_held < t.n / 2);
        if (c == 2) CU_ASSERT(a.windows_dropped > 0);
        if (c == 3) CU_ASSERT(a.flows_clipped > 0);
    }
    weft_flow_table_free(&t);
}

/* Start times that run back less than the reorder allowance land exactly where the whole table puts
 * them; further back, a flow is counted late (merge) or begins a new axis (per input). */
static void test_reorder_and_axes(void)
{
    weft_flow_table t;
    make_flows(&t, 20000, 2000, 30);
    weft_scaler sc;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(weft_scaler_fit(&sc, t.flows, t.n, 0.03, 0.97, err, sizeof err), 0);
    weft_tgraph_params p;
    weft_tgraph_params_default(&p);
    weft_tgraph_stats a, b;
    digest da = batch(&t, &p, &sc, &a), db = stream(&t, &p, &sc, 60, false, &b);
    CU_ASSERT_EQUAL(da.h, db.h);
    CU_ASSERT_EQUAL(da.graphs, db.graphs);
    same_stats(&a, &b);
    CU_ASSERT_EQUAL(b.flows_late, 0);
    /* no allowance: the jitter makes late flows, counted, and no crash */
    stream(&t, &p, &sc, 0, false, &b);
    CU_ASSERT(b.flows_late > 0);
    CU_ASSERT_EQUAL(b.axes, 1);

    /* two captures one after the other, the second a day earlier: two axes, each as if alone */
    weft_flow_table one, two;
    make_flows(&one, 3000, 600, 0);
    make_flows(&two, 3000, 600, 0);
    for (size_t i = 0; i < two.n; i++) two.flows[i].start -= 86400;
    weft_flow_table both;
    weft_flow_table_init(&both);
    for (size_t i = 0; i < one.n; i++) weft_flow_table_push(&both, &one.flows[i]);
    for (size_t i = 0; i < two.n; i++) weft_flow_table_push(&both, &two.flows[i]);
    weft_tgraph_stats s1, s2, sb;
    digest d1 = batch(&one, &p, &sc, &s1), d2 = batch(&two, &p, &sc, &s2);
    digest dboth = stream(&both, &p, &sc, 60, true, &sb);
    CU_ASSERT_EQUAL(sb.axes, 2);
    CU_ASSERT_EQUAL(sb.graphs, s1.graphs + s2.graphs);
    CU_ASSERT_EQUAL(dboth.graphs, d1.graphs + d2.graphs);
    CU_ASSERT_EQUAL(sb.flows, s1.flows + s2.flows);
    /* merged instead: one axis, the second capture's flows all late */
    stream(&both, &p, &sc, 60, false, &sb);
    CU_ASSERT_EQUAL(sb.axes, 1);
    CU_ASSERT_EQUAL(sb.flows_late, two.n);
    weft_flow_table_free(&one);
    weft_flow_table_free(&two);
    weft_flow_table_free(&both);
    weft_flow_table_free(&t);
}

/* Broken flows (negative or non-finite times) are skipped and counted once, never held. */
static void test_bad_flows(void)
{
    weft_flow_table t;
    make_flows(&t, 5000, 500, 0);
    weft_scaler sc;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(weft_scaler_fit(&sc, t.flows, t.n, 0.03, 0.97, err, sizeof err), 0);
    t.flows[10].duration = -1;
    t.flows[20].duration = NAN;
    t.flows[30].duration = 1e300;
    weft_tgraph_params p;
    weft_tgraph_params_default(&p);
    weft_tgraph_stats a, b;
    digest da = batch(&t, &p, &sc, &a), db = stream(&t, &p, &sc, 0, true, &b);
    CU_ASSERT_EQUAL(da.h, db.h);
    same_stats(&a, &b);
    CU_ASSERT_EQUAL(b.flows_skipped, 3);
    /* bad parameters are an error, not a stream */
    weft_tgraph_params q = p;
    q.window_memory = 0;
    digest d = {0, 0};
    CU_ASSERT_PTR_NULL(weft_tgraph_stream_new(&q, &sc, 0, true, on_graph, &d, &b, err, sizeof err));
    CU_ASSERT_PTR_NULL(weft_tgraph_stream_new(&p, &sc, -1, true, on_graph, &d, &b, err, sizeof err));
    weft_flow_table_free(&t);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("traffic_graph_stream", NULL, NULL);
    CU_add_test(s, "streamed graphs equal the whole table's", test_same_graphs);
    CU_add_test(s, "reorder allowance, late flows, time axes", test_reorder_and_axes);
    CU_add_test(s, "broken flows skipped once", test_bad_flows);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned f = CU_get_number_of_failures();
    CU_cleanup_registry();
    return f ? 1 : 0;
}
