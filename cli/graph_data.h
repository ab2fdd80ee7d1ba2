/*
 * cli/graph_data.h — what the training commands (pretrain, finetune, predict) share: reading an input of
 * any format into a flow table, and keeping the graphs the builder makes as encoder inputs.
 */
#ifndef WEFT_CLI_GRAPH_DATA_H
#define WEFT_CLI_GRAPH_DATA_H

#include <stdbool.h>
#include <stddef.h>

#include "traffic/graph.h"
#include "traffic/report.h"
#include "weft.h"

/* One graph as the traffic encoder takes it: x_con, x_ip, then edge_index__<type> in the contract's
 * order (all owned), and each con node's flow as a global id (the input's offset + its table index). */
typedef struct cli_graph {
    weft_tensor t[2 + WEFT_EDGE_TYPES];
    size_t *flow;
    size_t n_con;
} cli_graph;

typedef struct cli_graphs {
    cli_graph *g;
    size_t n, cap;
    size_t offset; /* global id of the current input's first flow */
    bool oom;
} cli_graphs;

/* A weft_tgraph_fn: appends the graph to the cli_graphs `user` (copies; non-zero when memory runs out). */
int cli_graphs_add(const weft_tgraph *g, void *user);
void cli_graphs_free(cli_graphs *c);

/* The flows of one input: a capture, any flow log `weft flows` reads, or a flow CSV it wrote. Returns 0
 * or -1 with the reason in err. */
int cli_read_flows(const char *path, weft_flow_table *t, weft_read_report *rep, char *err, size_t errn);

#endif
