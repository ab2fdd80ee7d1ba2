/*
 * compiler/pass_dce.c — dead-code elimination: drops nodes none of whose outputs is read by another
 * node, by a subgraph (through an outer-scope reference) or by the caller (a graph output).
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* Marks value `v` in `used` (indexed by the graph's values). */
static weft_status mark_used(int v, void *used)
{
    ((char *)used)[v] = 1;
    return WEFT_OK;
}

static weft_status dce_graph(weft_graph *g, void *user)
{
    int *changed = user;
    char *used = calloc((size_t)g->n_values + 1, 1);
    bool *keep = malloc(((size_t)g->n_nodes + 1) * sizeof(bool));
    if (!used || !keep) { free(used); free(keep); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
    for (int i = 0; i < g->n_outputs; i++) used[g->outputs[i]] = 1;
    for (int i = 0; i < g->n_nodes; i++) keep[i] = false;
    /* Nodes are sorted: one backward sweep settles liveness. */
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        weft_node *n = &g->nodes[i];
        bool live = (n->def && (n->def->flags & WEFT_OP_NO_FOLD));
        for (int o = 0; o < n->n_outputs && !live; o++)
            if (n->outputs[o] >= 0 && used[n->outputs[o]]) live = true;
        if (!live) continue;
        keep[i] = true;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) used[n->inputs[k]] = 1;
        weft_node_each_outer_read(g, n, mark_used, used); /* values its subgraphs read by name */
    }
    int removed = 0;
    for (int i = 0; i < g->n_nodes; i++) removed += !keep[i];
    if (removed) weft_graph_remove_nodes(g, keep);
    free(used);
    free(keep);
    *changed += removed;
    /* and inside the subgraphs that remain */
    return weft_graph_each_subgraph(g, dce_graph, changed);
}

weft_status weft_pass_dce(weft_graph *g, int *changed)
{
    int c = 0;
    weft_status st = dce_graph(g, &c);
    if (changed) *changed = c;
    return st;
}
