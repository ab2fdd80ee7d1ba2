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

/* Marks values of g read by name from inside the subgraphs of g's nodes. */
static void mark_named_reads(const weft_graph *g, const weft_graph *sub, char *read)
{
    for (int v = 0; v < sub->n_values; v++)
        if (sub->values[v].flags & WEFT_VALUE_OUTER) {
            int i = weft_graph_find_value(g, sub->values[v].name);
            if (i >= 0) read[i] = 1;
        }
    for (int i = 0; i < sub->n_nodes; i++)
        for (int a = 0; a < sub->nodes[i].n_attrs; a++) {
            const weft_attr *at = &sub->nodes[i].attrs[a];
            if (at->g) mark_named_reads(g, at->g, read);
            for (int k = 0; at->gs && k < at->n; k++) mark_named_reads(g, at->gs[k], read);
        }
}

static weft_status bypass_graph(weft_graph *g, int *changed)
{
    char *pinned = calloc((size_t)g->n_values + 1, 1);
    int *source = malloc(((size_t)g->n_values + 1) * sizeof(int));
    if (!pinned || !source) { free(pinned); free(source); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
    for (int i = 0; i < g->n_outputs; i++) pinned[g->outputs[i]] = 1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_attrs; a++) {
            const weft_attr *at = &g->nodes[i].attrs[a];
            if (at->g) mark_named_reads(g, at->g, pinned);
            for (int k = 0; at->gs && k < at->n; k++) mark_named_reads(g, at->gs[k], pinned);
        }
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
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_attrs; a++) {
            weft_attr *at = &g->nodes[i].attrs[a];
            weft_status st;
            if (at->g && (st = bypass_graph(at->g, changed))) return st;
            for (int k = 0; at->gs && k < at->n; k++)
                if ((st = bypass_graph(at->gs[k], changed))) return st;
        }
    return WEFT_OK;
}

weft_status weft_pass_identity(weft_graph *g, int *changed)
{
    int c = 0;
    weft_status st = bypass_graph(g, &c);
    if (changed) *changed = c;
    return st;
}
