/*
 * tests/fuzz/fuzz_graph.c — the graph builders on the flows of a fuzzed flow CSV: weft_flow_csv_read,
 * weft_scaler_fit, weft_tgraph_build (the whole table), and the streaming reader and builder `weft graph`
 * uses (weft_flow_csv_open / next, weft_tgraph_stream_*).
 *
 * Input: 10 bytes of parameters (window, stride, origin, window_memory, graph_stride, flow_memory,
 * max_flows, max_flow_windows, stream options), then the flow CSV. Parameters stay small enough that
 * one input cannot ask for hours of windows (a cap the command line leaves to the user). Every graph is
 * checked: each edge joins nodes that exist, each con node names a flow of the table, features are
 * finite. When the flows come in start order on one time axis, the streaming builder must make the
 * graphs the whole-table builder makes (graph.h: "the same graphs, in the same order"); each graph is
 * compared through a digest of its sizes, edges and features.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "traffic/flow_csv.h"
#include "traffic/graph.h"

#define PARAM_BYTES 10
#define MAX_DIGESTS 4096

typedef struct graphs {
    const weft_flow_table *t; /* the whole-table build's table (the stream's graphs name their own) */
    uint64_t digest[MAX_DIGESTS];
    size_t n;
} graphs;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int check_graph(const weft_tgraph *g, void *user)
{
    graphs *gs = user;
    const weft_flow_table *t = g->table ? g->table : gs->t;
    uint64_t h = 1469598103934665603ull;
    h = fnv(h, &g->first_window, sizeof g->first_window);
    h = fnv(h, g->num_nodes, sizeof g->num_nodes);
    h = fnv(h, g->num_edges, sizeof g->num_edges);
    for (int e = 0; e < WEFT_EDGE_TYPES; e++) {
        size_t ns = g->num_nodes[weft_edge_type_src[e]], nd = g->num_nodes[weft_edge_type_dst[e]];
        const int64_t *ei = g->edge_index[e];
        size_t m = g->num_edges[e];
        for (size_t k = 0; k < m; k++)
            if (ei[k] < 0 || (size_t)ei[k] >= ns || ei[m + k] < 0 || (size_t)ei[m + k] >= nd) {
                fprintf(stderr, "graph %zu: edge %zu of %s joins %lld -> %lld, nodes %zu -> %zu\n", g->index, k,
                        weft_edge_type_names[e], (long long)ei[k], (long long)ei[m + k], ns, nd);
                abort();
            }
        if (m) h = fnv(h, ei, 2 * m * sizeof *ei);
    }
    for (size_t i = 0; i < g->num_nodes[WEFT_NODE_CON]; i++) {
        if (!t || g->con_flow[i] >= t->n || g->con_slice[i] < 0 || g->con_slice[i] >= g->n_slices) {
            fprintf(stderr, "graph %zu: con node %zu names flow %zu of %zu, slice %d of %d\n", g->index, i,
                    g->con_flow[i], t ? t->n : 0, g->con_slice[i], g->n_slices);
            abort();
        }
        for (int k = 0; k < WEFT_FEAT_CON_DIM; k++)
            if (!isfinite(g->x_con[i * WEFT_FEAT_CON_DIM + k])) {
                fprintf(stderr, "graph %zu: con node %zu feature %d is %g\n", g->index, i, k,
                        (double)g->x_con[i * WEFT_FEAT_CON_DIM + k]);
                abort();
            }
    }
    for (size_t i = 0; i < g->num_nodes[WEFT_NODE_IP]; i++) {
        if (g->ip_slice[i] < 0 || g->ip_slice[i] >= g->n_slices) abort();
        for (int k = 0; k < WEFT_FEAT_IP_DIM; k++)
            if (!isfinite(g->x_ip[i * WEFT_FEAT_IP_DIM + k])) abort();
    }
    if (g->num_nodes[WEFT_NODE_CON]) h = fnv(h, g->x_con, g->num_nodes[WEFT_NODE_CON] * WEFT_FEAT_CON_DIM * sizeof(float));
    if (g->num_nodes[WEFT_NODE_IP]) h = fnv(h, g->x_ip, g->num_nodes[WEFT_NODE_IP] * WEFT_FEAT_IP_DIM * sizeof(float));
    if (gs->n < MAX_DIGESTS) gs->digest[gs->n] = h;
    gs->n++;
    return 0;
}

/* The same flows through the streaming reader and builder; returns 0 when it ran to the end. */
static int stream_graphs(const char *path, const weft_tgraph_params *p, const weft_scaler *sc, double reorder,
                         bool new_axis, graphs *out)
{
    char err[512];
    weft_read_report r;
    weft_report_init(&r);
    weft_flow_csv_reader *rd = weft_flow_csv_open(path, &r, err, sizeof err);
    if (!rd) return -1;
    weft_flow_table strings;
    weft_flow_table_init(&strings);
    weft_tgraph_stats st;
    int rc = -1;
    weft_tgraph_stream *g = weft_tgraph_stream_new(p, sc, reorder, new_axis, check_graph, out, &st, err, sizeof err);
    if (g) {
        weft_flow f;
        int k;
        rc = 0;
        while (rc == 0 && (k = weft_flow_csv_next(rd, &f, &strings, err, sizeof err)) == 1)
            rc = weft_tgraph_stream_push(g, &f, err, sizeof err);
        if (rc == 0 && k < 0) rc = -1;
        if (rc == 0) rc = weft_tgraph_stream_flush(g, err, sizeof err);
        weft_tgraph_stream_free(g);
    }
    weft_flow_csv_close(rd);
    weft_flow_table_free(&strings);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < PARAM_BYTES) return 0;
    fuzz_bytes b = {data, PARAM_BYTES};
    weft_tgraph_params p;
    weft_tgraph_params_default(&p);
    uint8_t w = fuzz_u8(&b);
    p.window = w == 255 ? 0.0 : w == 254 ? -1.0 : w == 253 ? NAN : 0.25 * (1 + w); /* the last: refused */
    uint8_t s = fuzz_u8(&b);
    p.stride = s == 255 ? -1.0 : 0.25 * s;
    uint8_t o = fuzz_u8(&b);
    p.origin = o == 0 ? NAN : (double)o * 1e8; /* 0: the default, else a fixed start (often far off) */
    p.window_memory = fuzz_u8(&b) % 9;          /* 0: refused */
    p.graph_stride = fuzz_u8(&b) % 10;
    p.flow_memory = fuzz_u8(&b) % 25;
    p.max_flows = fuzz_u8(&b);
    p.max_flow_windows = fuzz_u16(&b) % 512;
    if (!p.max_flow_windows) p.max_flow_windows = 512; /* never unlimited: see above */
    uint8_t so = fuzz_u8(&b);
    double reorder = (so & 0x7f) * 0.5; /* seconds of reordering the stream allows */
    bool new_axis = so & 0x80;

    const char *path = fuzz_scratch_file("flows.csv", data + PARAM_BYTES, size - PARAM_BYTES);
    if (!path) return 0;
    weft_flow_table t;
    weft_flow_table_init(&t);
    weft_read_report r;
    weft_report_init(&r);
    char err[512];
    weft_scaler sc;
    static graphs whole, streamed;
    whole.n = streamed.n = 0;
    whole.t = &t;
    streamed.t = NULL;
    if (weft_flow_csv_read(path, &t, &r, err, sizeof err) == 0 && t.n &&
        weft_scaler_fit(&sc, t.flows, t.n, 0.03, 0.97, err, sizeof err) == 0) {
        weft_tgraph_stats st;
        int rw = weft_tgraph_build(&t, &p, &sc, check_graph, &whole, &st, err, sizeof err);
        int rs = stream_graphs(path, &p, &sc, reorder, new_axis, &streamed);
        bool in_order = true;
        for (size_t i = 1; i < t.n && in_order; i++) in_order = t.flows[i].start >= t.flows[i - 1].start;
        if (rw == 0 && rs == 0 && in_order && whole.n <= MAX_DIGESTS) {
            if (whole.n != streamed.n) {
                fprintf(stderr, "the whole-table builder made %zu graphs, the streaming one %zu\n", whole.n, streamed.n);
                abort();
            }
            for (size_t i = 0; i < whole.n; i++)
                if (whole.digest[i] != streamed.digest[i]) {
                    fprintf(stderr, "graph %zu differs between the whole-table and the streaming builder\n", i);
                    abort();
                }
        }
    }
    weft_flow_table_free(&t);
    return 0;
}
