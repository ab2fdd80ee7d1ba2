/* cli/graph_union.c — the disjoint union of traffic graphs (see graph_union.h). */
#include "graph_union.h"

#include <stdlib.h>
#include <string.h>

void cli_graph_union_free(cli_graph *g)
{
    for (int i = 0; i < 2 + WEFT_EDGE_TYPES; i++) free(g->t[i].data);
    free(g->flow);
    memset(g, 0, sizeof *g);
}

int cli_graph_union(const cli_graph *const *gs, size_t n, cli_graph *out)
{
    memset(out, 0, sizeof *out);
    /* node counts per kind (x_con, x_ip rows) and edges per type */
    int64_t nodes[WEFT_NODE_TYPES] = {0}, edges[WEFT_EDGE_TYPES] = {0};
    for (size_t k = 0; k < n; k++) {
        for (int t = 0; t < WEFT_NODE_TYPES; t++) nodes[t] += gs[k]->t[t].dims[0];
        for (int e = 0; e < WEFT_EDGE_TYPES; e++) edges[e] += gs[k]->t[2 + e].dims[1];
    }
    bool ok = true;
    for (int i = 0; i < 2 + WEFT_EDGE_TYPES; i++) {
        const weft_tensor *f = &gs[0]->t[i];
        weft_tensor *t = &out->t[i];
        *t = *f; /* name, dtype, rank, the feature width */
        if (i < WEFT_NODE_TYPES) t->dims[0] = nodes[i];
        else t->dims[1] = edges[i - 2];
        t->nbytes = weft_dtype_size(t->dtype);
        for (int d = 0; d < t->rank; d++) t->nbytes *= (size_t)t->dims[d];
        t->data = malloc(t->nbytes ? t->nbytes : 1);
        ok = ok && t->data;
    }
    out->n_con = (size_t)nodes[WEFT_NODE_CON];
    out->flow = malloc((out->n_con + 1) * sizeof *out->flow);
    if (!ok || !out->flow) {
        cli_graph_union_free(out);
        return -1;
    }
    int64_t at_node[WEFT_NODE_TYPES] = {0}, at_edge[WEFT_EDGE_TYPES] = {0};
    for (size_t k = 0; k < n; k++) {
        const cli_graph *g = gs[k];
        for (int t = 0; t < WEFT_NODE_TYPES; t++) {
            size_t row = g->t[t].dims[0] ? g->t[t].nbytes / (size_t)g->t[t].dims[0] : 0;
            if (g->t[t].nbytes) memcpy((char *)out->t[t].data + (size_t)at_node[t] * row, g->t[t].data, g->t[t].nbytes);
        }
        if (g->n_con) memcpy(out->flow + at_node[WEFT_NODE_CON], g->flow, g->n_con * sizeof *g->flow);
        for (int e = 0; e < WEFT_EDGE_TYPES; e++) {
            const int64_t *src = g->t[2 + e].data;
            int64_t E = g->t[2 + e].dims[1], *dst = out->t[2 + e].data, Eo = edges[e];
            int64_t so = at_node[weft_edge_type_src[e]], d_o = at_node[weft_edge_type_dst[e]];
            for (int64_t j = 0; j < E; j++) {
                dst[at_edge[e] + j] = src[j] + so;          /* row 0: sources */
                dst[Eo + at_edge[e] + j] = src[E + j] + d_o; /* row 1: destinations */
            }
            at_edge[e] += E;
        }
        for (int t = 0; t < WEFT_NODE_TYPES; t++) at_node[t] += g->t[t].dims[0];
    }
    return 0;
}
