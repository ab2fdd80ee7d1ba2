/*
 * compiler/pass_broadcast.c — copies exporters write that the reading op does not need.
 *
 *  - An Expand feeding Add / Sub / Mul / Div whose other operand already has the result's shape: the
 *    op broadcasts the unexpanded value itself (PyG's mean divides by its counts expanded to [N, F]).
 *    The same numbers, without an [N, F] copy — and, in a training plan, without the copy's gradient
 *    (a sum back over the broadcast axes).
 *  - PyG's stack-and-sum of a heterogeneous layer's per-edge-type results,
 *    ReduceSum(Concat(Unsqueeze(t_1, 0), ..., Unsqueeze(t_k, 0), axis 0), axes = [0], keepdims = 0),
 *    as the Add chain ((t_1 + t_2) + ...) + t_k: no [k, N, F] stack and no gradient that expands the
 *    sum back into one and slices it apart. This one changes roundings: ReduceSum adds in double and
 *    rounds once, the chain rounds each addition to T (as dense fusion's accumulation chain does).
 *
 * Both rewrite only ops that have gradient rules, so they also run before autodiff
 * (weft_compile_graph_differentiable).
 */
#include <stdio.h>
#include <string.h>

#include "rewrite.h"

#define MAX_STACK 64

static bool is_binary_arith(const weft_node *n)
{
    return weft_rw_is(n, "Add") || weft_rw_is(n, "Sub") || weft_rw_is(n, "Mul") || weft_rw_is(n, "Div");
}

/* Add / Sub / Mul / Div(.., Expand(x, s), ..) with the other operand of the result's shape: reads x. */
static weft_status try_expand(weft_rw *r, int i, int *changed)
{
    weft_graph *g = r->g;
    const weft_node *n = &g->nodes[i];
    if (!is_binary_arith(n) || n->n_inputs != 2 || n->outputs[0] < 0 || n->inputs[0] < 0 || n->inputs[1] < 0)
        return WEFT_OK;
    const weft_shape *os = &g->values[n->outputs[0]].shape;
    if (os->rank < 0) return WEFT_OK;
    for (int k = 0; k < 2; k++) {
        int e = n->inputs[k], other = n->inputs[1 - k];
        const weft_node *p = weft_rw_producer_is(r, e, "Expand");
        if (!p || p->n_inputs != 2 || p->inputs[0] < 0) continue;
        int x = p->inputs[0];
        const weft_value *xv = &g->values[x];
        if (xv->dtype != g->values[e].dtype || xv->shape.rank < 0 || xv->shape.rank > os->rank) continue;
        if (!weft_rw_shape_eq(&g->values[other].shape, os) || !weft_rw_shape_eq(&g->values[e].shape, os)) continue;
        /* x broadcasts to the result by itself: each of its dims is 1 or the result's */
        bool fits = true;
        for (int d = 0; fits && d < xv->shape.rank; d++) {
            weft_dim xd = xv->shape.d[d], od = os->d[os->rank - xv->shape.rank + d];
            fits = (weft_dim_known(xd) && xd.v == 1) || weft_dim_eq(xd, od);
        }
        if (!fits) continue;
        weft_status st = weft_rw_set_input(r, i, k, x);
        if (st) return st;
        (*changed)++;
        return WEFT_OK;
    }
    return WEFT_OK;
}

/* x = Unsqueeze(t, axis 0) read only by the stack: t, else -1. */
static int unstacked(const weft_rw *r, int x)
{
    const weft_node *u = weft_rw_producer_is(r, x, "Unsqueeze");
    if (!u || u->inputs[0] < 0 || !weft_rw_private(r, x, 1)) return -1;
    weft_node_info info = weft_node_view(u);
    const int64_t *ax = NULL;
    int64_t buf[2];
    int na = weft_attr_ints(&info, "axes", &ax);
    if (na < 0 && u->n_inputs >= 2) {
        na = weft_rw_ints(r, u->inputs[1], buf, 2);
        ax = buf;
    }
    return na == 1 && ax[0] == 0 ? u->inputs[0] : -1;
}

static weft_status try_stack_sum(weft_rw *r, int i, int *changed)
{
    weft_graph *g = r->g;
    const weft_node *n = &g->nodes[i];
    if (!weft_rw_is(n, "ReduceSum") || n->n_inputs < 1 || n->inputs[0] < 0 || n->outputs[0] < 0 ||
        weft_rw_attr_i(n, "keepdims", 1) != 0)
        return WEFT_OK;
    int stack = n->inputs[0];
    const weft_node *c = weft_rw_producer_is(r, stack, "Concat");
    if (!c || c->n_inputs < 2 || c->n_inputs > MAX_STACK || weft_rw_attr_i(c, "axis", 0) != 0 || !weft_rw_private(r, stack, 1))
        return WEFT_OK;
    int64_t axes[2];
    int rank = g->values[stack].shape.rank;
    if (rank < 2 || weft_rw_reduce_axes(r, n, rank, axes, 2) != 1 || axes[0] != 0) return WEFT_OK;
    weft_shape os = g->values[n->outputs[0]].shape; /* values move as new ones are added */
    weft_dtype dt = g->values[n->outputs[0]].dtype;
    int t[MAX_STACK], k = c->n_inputs;
    for (int j = 0; j < k; j++)
        if ((t[j] = unstacked(r, c->inputs[j])) < 0 || !weft_rw_shape_eq(&g->values[t[j]].shape, &os)) return WEFT_OK;
    char name[256];
    snprintf(name, sizeof name, "%.200s/stack_sum", n->name);
    int acc = t[0];
    for (int j = 1; j < k; j++) {
        int in[2] = {acc, t[j]}, out = -1;
        if (j < k - 1 && (out = weft_rw_value(r, g->values[n->outputs[0]].name, "partial", dt, &os)) < 0)
            return WEFT_ERR_INTERNAL;
        int a = weft_rw_node(r, "Add", "", 14, name, in, 2, j < k - 1 ? &out : NULL, 1);
        if (a < 0) return WEFT_ERR_INTERNAL;
        if (j == k - 1) weft_rw_take_over(r, a, i);
        else acc = out;
    }
    (*changed)++;
    return WEFT_OK;
}

static weft_status broadcast_graph(weft_rw *r, int *changed)
{
    int n0 = r->g->n_nodes;
    for (int i = 0; i < n0; i++) {
        weft_status st = try_expand(r, i, changed);
        if (!st) st = try_stack_sum(r, i, changed);
        if (st) return st;
    }
    return WEFT_OK;
}

weft_status weft_pass_broadcast(weft_graph *g, int *changed) { return weft_rw_each_graph(g, broadcast_graph, changed); }
