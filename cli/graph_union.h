/*
 * cli/graph_union.h — several traffic graphs as one (PyG's Batch): the disjoint union, each graph's
 * con and ip nodes renumbered after those of the graphs before it, every edge type's indices shifted
 * by the count of its source / destination kind. The encoder's message passing never crosses from one
 * part to another, so a step over the union is the steps over its parts with one optimizer update:
 * `--batch-graphs` of the training commands.
 */
#ifndef WEFT_CLI_GRAPH_UNION_H
#define WEFT_CLI_GRAPH_UNION_H

#include "graph_data.h"

/* The union of gs[0..n) (n >= 1) into *out, whose tensors and flow ids it owns (cli_graph_union_free).
 * Returns 0, or -1 when memory runs out (out then holds nothing). */
int cli_graph_union(const cli_graph *const *gs, size_t n, cli_graph *out);
void cli_graph_union_free(cli_graph *g);

#endif
