/*
 * compiler/pass_dce.c — dead-code elimination: drops nodes none of whose outputs is read by another
 * node, by a subgraph (through an outer-scope reference) or by the caller (a graph output).
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* Marks, in `used` (indexed by g's values), every value of g that subgraph `sub` (or its own nested
 * subgraphs) reads by name. */
static void mark_outer_uses(const weft_graph *g, const weft_graph *sub, char *used)
{
    for (int v = 0; v < sub->n_values; v++) {
        if (!(sub->values[v].flags & WEFT_VALUE_OUTER)) continue;
        int i = weft_graph_find_value(g, sub->values[v].name);
        if (i >= 0) used[i] = 1;
    }
    for (int i = 0; i < sub->n_nodes; i++)
        for (int a = 0; a < sub->nodes[i].n_attrs; a++) {
            const weft_attr *at = &sub->nodes[i].attrs[a];
            if (at->g) mark_outer_uses(g, at->g, used);
            for (int k = 0; at->gs && k < at->n; k++) mark_outer_uses(g, at->gs[k], used);
        }
}

static weft_status dce_graph(weft_graph *g, int *changed)
{
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
        for (int a = 0; a < n->n_attrs; a++) {
            if (n->attrs[a].g) mark_outer_uses(g, n->attrs[a].g, used);
            for (int k = 0; n->attrs[a].gs && k < n->attrs[a].n; k++) mark_outer_uses(g, n->attrs[a].gs[k], used);
        }
    }
    int removed = 0;
    for (int i = 0; i < g->n_nodes; i++) removed += !keep[i];
    if (removed) weft_graph_remove_nodes(g, keep);
    free(used);
    free(keep);
    if (changed) *changed += removed;
    /* and inside the subgraphs that remain */
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_attrs; a++) {
            weft_attr *at = &g->nodes[i].attrs[a];
            weft_status st;
            if (at->g && (st = dce_graph(at->g, changed))) return st;
            for (int k = 0; at->gs && k < at->n; k++)
                if ((st = dce_graph(at->gs[k], changed))) return st;
        }
    return WEFT_OK;
}

weft_status weft_pass_dce(weft_graph *g, int *changed)
{
    int c = 0;
    weft_status st = dce_graph(g, &c);
    if (changed) *changed = c;
    return st;
}
