/*
 * compiler/pass_identity.c — readers of an Identity read its input instead.
 *
 * Exporters emit Identity for renames, and inlining a branch adds one per branch output. They cost a
 * copy at run time and hide patterns from the passes that follow (an Identity between an Expand and a
 * ScatterElements breaks the message-passing match). An Identity stays only where its output is a
 * graph output or is read by name from a subgraph; dead-code elimination removes the rest.
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* Marks value `v` in `pinned` (indexed by the graph's values). */
static weft_status pin(int v, void *pinned)
{
    ((char *)pinned)[v] = 1;
    return WEFT_OK;
}

static weft_status bypass_graph(weft_graph *g, void *user)
{
    int *changed = user;
    char *pinned = calloc((size_t)g->n_values + 1, 1);
    int *source = malloc(((size_t)g->n_values + 1) * sizeof(int));
    if (!pinned || !source) { free(pinned); free(source); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
    for (int i = 0; i < g->n_outputs; i++) pinned[g->outputs[i]] = 1;
    /* values read by name from inside the subgraphs of g's nodes */
    for (int i = 0; i < g->n_nodes; i++) weft_node_each_outer_read(g, &g->nodes[i], pin, pinned);
    /* source[v]: the value v is a copy of (itself when not an Identity output); nodes are sorted, so
     * one forward sweep follows chains */
    for (int v = 0; v < g->n_values; v++) source[v] = v;
    for (int i = 0; i < g->n_nodes; i++) {
        weft_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0 && source[n->inputs[k]] != n->inputs[k]) {
                n->inputs[k] = source[n->inputs[k]];
                (*changed)++;
            }
        if (strcmp(n->op_type, "Identity") || n->domain[0] || n->n_inputs != 1 || n->n_outputs != 1) continue;
        int in = n->inputs[0], out = n->outputs[0];
        if (in < 0 || out < 0 || pinned[out]) continue;
        source[out] = in;
    }
    free(pinned);
    free(source);
    return weft_graph_each_subgraph(g, bypass_graph, changed);
}

weft_status weft_pass_identity(weft_graph *g, int *changed)
{
    int c = 0;
    weft_status st = bypass_graph(g, &c);
    if (changed) *changed = c;
    return st;
}
