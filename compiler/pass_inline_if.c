/*
 * compiler/pass_inline_if.c — an If whose condition is a constant is its taken branch.
 *
 * Exporters guard code with conditions that only depend on shapes (PyG: "if the edge index is empty";
 * `Equal(Size(Shape(x)), 0)`). Once inference has folded such a condition, the branch's nodes move into
 * the enclosing graph and the If disappears, so later passes (message-passing lowering) see through
 * it and the runtime no longer runs a subgraph. Names stay as they are: ONNX forbids a subgraph to
 * reuse a name of an enclosing scope, so a clash means a malformed model and the If is left alone.
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static const weft_graph *branch_of(const weft_node *n, bool cond)
{
    const char *want = cond ? "then_branch" : "else_branch";
    for (int a = 0; a < n->n_attrs; a++)
        if (strcmp(n->attrs[a].name, want) == 0) return n->attrs[a].g;
    return NULL;
}

/* True when every name the branch defines is free in g. */
static bool names_free(const weft_graph *g, const weft_graph *b)
{
    for (int v = 0; v < b->n_values; v++)
        if (!(b->values[v].flags & WEFT_VALUE_OUTER) && b->values[v].name[0] && weft_graph_find_value(g, b->values[v].name) >= 0)
            return false;
    return true;
}

/* Moves branch b of If node `at` into g. Returns false (g unchanged) when it cannot. */
static weft_status inline_branch(weft_graph *g, int at, const weft_graph *b, bool *done)
{
    *done = false;
    const weft_node *ifn = &g->nodes[at];
    if (b->n_outputs != ifn->n_outputs || !names_free(g, b)) return WEFT_OK;
    int *map = malloc(((size_t)b->n_values + 1) * sizeof(int));
    if (!map) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    weft_status st = WEFT_OK;
    /* values: outer references resolve to g's value of that name (an outer reference of g itself if
     * the name lives further out); the rest are created in g */
    for (int v = 0; v < b->n_values && !st; v++) {
        const weft_value *bv = &b->values[v];
        int gv = weft_graph_find_value(g, bv->name);
        if (bv->flags & WEFT_VALUE_OUTER) {
            if (gv < 0) {
                if ((gv = weft_graph_add_value(g, bv->name)) < 0) { st = WEFT_ERR_NOMEM; break; }
                g->values[gv].flags = WEFT_VALUE_OUTER | (bv->flags & WEFT_VALUE_TYPED);
                g->values[gv].dtype = bv->dtype;
                g->values[gv].shape = bv->shape;
            }
            map[v] = gv;
            continue;
        }
        if ((gv = weft_graph_add_value(g, bv->name)) < 0) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); break; }
        weft_value *nv = &g->values[gv];
        nv->dtype = bv->dtype;
        nv->shape = bv->shape;
        nv->flags = bv->flags & (WEFT_VALUE_CONST | WEFT_VALUE_TYPED | WEFT_VALUE_INITIALIZER);
        if (bv->data && (st = weft_value_set_data(nv, bv->dtype, &bv->shape, bv->data, bv->nbytes))) break;
        map[v] = gv;
    }
    /* nodes, then the If's outputs as Identity of the branch's outputs */
    for (int i = 0; i < b->n_nodes && !st; i++) {
        const weft_node *bn = &b->nodes[i];
        int k = weft_graph_add_node(g, bn->op_type, bn->domain, bn->name, bn->n_inputs, bn->n_outputs);
        if (k < 0) { st = WEFT_ERR_NOMEM; break; }
        weft_node *nn = &g->nodes[k];
        nn->opset = bn->opset;
        nn->def = bn->def;
        for (int j = 0; j < bn->n_inputs; j++) nn->inputs[j] = bn->inputs[j] < 0 ? -1 : map[bn->inputs[j]];
        for (int j = 0; j < bn->n_outputs; j++) nn->outputs[j] = bn->outputs[j] < 0 ? -1 : map[bn->outputs[j]];
        for (int a = 0; a < bn->n_attrs && !st; a++) {
            weft_attr copy;
            if (!weft_attr_copy(&copy, &bn->attrs[a], g)) st = weft_error(WEFT_ERR_NOMEM, "out of memory");
            else st = weft_node_add_attr(&g->nodes[k], &copy);
        }
    }
    for (int o = 0; o < b->n_outputs && !st; o++) {
        int out = g->nodes[at].outputs[o];
        if (out < 0) continue;
        int k = weft_graph_add_node(g, "Identity", "", NULL, 1, 1);
        if (k < 0) { st = WEFT_ERR_NOMEM; break; }
        weft_node *id = &g->nodes[k];
        id->inputs[0] = map[b->outputs[o]];
        id->outputs[0] = out;
        id->opset = g->nodes[at].opset;
        id->def = weft_op_find("", "Identity", id->opset);
        if (!id->def) st = weft_error(WEFT_ERR_INTERNAL, "Identity is not registered");
    }
    free(map);
    if (st) return st; /* g holds unreachable extra nodes only on allocation failure; compile fails */
    *done = true;
    return WEFT_OK;
}

static weft_status inline_graph(weft_graph *g, int *changed);

static weft_status inline_sub(weft_graph *sub, weft_attr *attr, void *changed) { return inline_graph(sub, changed); }

static weft_status inline_graph(weft_graph *g, int *changed)
{
    for (int i = 0; i < g->n_nodes; i++) {
        weft_node *n = &g->nodes[i];
        /* inner Ifs first: a branch moves out with its own constant-condition Ifs already inlined */
        weft_status st = weft_node_each_subgraph(n, inline_sub, changed);
        if (st) return st;
        if (strcmp(n->op_type, "If") || n->domain[0] || n->n_inputs < 1 || n->inputs[0] < 0) continue;
        const weft_value *c = &g->values[n->inputs[0]];
        if (!(c->flags & WEFT_VALUE_CONST) || c->nbytes < 1 || !(c->dtype == WEFT_BOOL || weft_dtype_is_integer(c->dtype))) continue;
        const weft_graph *b = branch_of(n, weft_load_i64(c->dtype, c->data, 0) != 0);
        if (!b) continue;
        bool done;
        st = inline_branch(g, i, b, &done);
        if (st) return st;
        if (!done) continue;
        bool *keep = malloc((size_t)g->n_nodes * sizeof(bool));
        if (!keep) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        for (int k = 0; k < g->n_nodes; k++) keep[k] = k != i;
        weft_graph_remove_nodes(g, keep);
        free(keep);
        (*changed)++;
        i--; /* the node now at i has not been looked at */
    }
    return WEFT_OK;
}

weft_status weft_pass_inline_if(weft_graph *g, int *changed)
{
    int c = 0;
    weft_status st = inline_graph(g, &c);
    if (changed) *changed = c;
    return st;
}
