/* cli/graph_data.c — see graph_data.h. */
#include "graph_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traffic/features.h"
#include "traffic/flow_csv.h"
#include "traffic/log_readers.h"
#include "traffic/pcap_reader.h"

/* "edge_index__<type>": the encoder's input names, shared by every graph */
static char edge_input[WEFT_EDGE_TYPES][64];

static void *dup_bytes(const void *p, size_t n)
{
    void *d = malloc(n ? n : 1);
    if (d && n) memcpy(d, p, n);
    return d;
}

int cli_graphs_add(const weft_tgraph *g, void *user)
{
    cli_graphs *c = user;
    if (!edge_input[0][0])
        for (int e = 0; e < WEFT_EDGE_TYPES; e++)
            snprintf(edge_input[e], sizeof edge_input[e], "edge_index__%s", weft_edge_type_names[e]);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        cli_graph *a = realloc(c->g, cap * sizeof *a);
        if (!a) return c->oom = true, 1;
        c->g = a;
        c->cap = cap;
    }
    cli_graph *gt = &c->g[c->n++];
    memset(gt, 0, sizeof *gt);
    size_t nc = g->num_nodes[WEFT_NODE_CON], ni = g->num_nodes[WEFT_NODE_IP];
    gt->t[0] = (weft_tensor){.name = "x_con", .dtype = WEFT_FLOAT32, .rank = 2, .dims = {(int64_t)nc, WEFT_FEAT_CON_DIM},
                             .nbytes = nc * WEFT_FEAT_CON_DIM * sizeof(float)};
    gt->t[1] = (weft_tensor){.name = "x_ip", .dtype = WEFT_FLOAT32, .rank = 2, .dims = {(int64_t)ni, WEFT_FEAT_IP_DIM},
                             .nbytes = ni * WEFT_FEAT_IP_DIM * sizeof(float)};
    gt->t[0].data = dup_bytes(g->x_con, gt->t[0].nbytes);
    gt->t[1].data = dup_bytes(g->x_ip, gt->t[1].nbytes);
    gt->flow = malloc((nc + 1) * sizeof *gt->flow);
    gt->n_con = nc;
    bool ok = gt->t[0].data && gt->t[1].data && gt->flow;
    for (size_t i = 0; ok && i < nc; i++) gt->flow[i] = c->offset + g->con_flow[i];
    for (int e = 0; e < WEFT_EDGE_TYPES; e++) {
        weft_tensor *x = &gt->t[2 + e];
        *x = (weft_tensor){.name = edge_input[e], .dtype = WEFT_INT64, .rank = 2, .dims = {2, (int64_t)g->num_edges[e]},
                           .nbytes = 2 * g->num_edges[e] * sizeof(int64_t)};
        x->data = dup_bytes(g->edge_index[e], x->nbytes);
        ok = ok && x->data;
    }
    if (!ok) return c->oom = true, 1;
    return 0;
}

void cli_graphs_free(cli_graphs *c)
{
    for (size_t k = 0; k < c->n; k++) {
        for (int i = 0; i < 2 + WEFT_EDGE_TYPES; i++) free(c->g[k].t[i].data);
        free(c->g[k].flow);
    }
    free(c->g);
    memset(c, 0, sizeof *c);
}

int cli_read_flows(const char *path, weft_flow_table *t, weft_read_report *rep, char *err, size_t errn)
{
    char why[512];
    weft_input_format f = weft_format_detect(path, false, why, sizeof why);
    if (f == WEFT_FMT_PCAP) return weft_pcap_read_file(path, NULL, t, rep, err, errn);
    if (f != WEFT_FMT_AUTO && f != WEFT_FMT_CSV) return weft_log_read_file(path, f, NULL, t, rep, err, errn);
    /* what 'weft flows' writes, or else the reason the format could not be told */
    if (weft_flow_csv_read(path, t, rep, err, errn) == 0) return 0;
    snprintf(err, errn, "%s", why);
    return -1;
}
