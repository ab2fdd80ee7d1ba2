/*
 * compiler/pass_sddmm.c — link scores (the link-prediction decoder) as one LinkScore.
 *
 *     ReduceSum(Mul(Gather(a, ia), Gather(b, ib)), axes = [-1], keepdims = 0)  ->  LinkScore(a, b, ia, ib)
 *
 * (the dynamo exporter's GatherND(a, Unsqueeze(ia, -1)) too)
 *
 * a [Na, F] and b [Nb, F] (the same table or two), ia and ib [P] of the same length: the [P, F]
 * gathered rows and their product are never made. LinkScore wraps negative indices as Gather does.
 * The product of two floats is the same in either order, so Mul(Gather(b), Gather(a)) matches too.
 * The gathers stay when something else reads them.
 *
 * Bit for bit: the kernel rounds each product to T (the Mul) and sums them in double, f ascending,
 * rounding once, which is how ReduceSum's reference sums a row (ops/reduce.c).
 */
#include <stdio.h>
#include <string.h>

#include "rewrite.h"

/* idx1 = Unsqueeze(idx, 1 / -1) or Reshape(idx, [-1, 1]) of a 1-D idx: idx, else -1. */
static int column_of(const weft_rw *r, int idx1)
{
    const weft_node *p = weft_rw_producer(r, idx1);
    int64_t k[2];
    if (!p || p->n_inputs < 1 || p->inputs[0] < 0 || r->g->values[p->inputs[0]].shape.rank != 1) return -1;
    if (weft_rw_is(p, "Unsqueeze")) {
        weft_node_info info = weft_node_view(p);
        const int64_t *ax = NULL;
        int na = weft_attr_ints(&info, "axes", &ax);
        if (na < 0 && p->n_inputs >= 2 && (na = weft_rw_ints(r, p->inputs[1], k, 2)) >= 0) ax = k;
        return na == 1 && (ax[0] == 1 || ax[0] == -1) ? p->inputs[0] : -1;
    }
    if (weft_rw_is(p, "Reshape") && p->n_inputs == 2 && weft_rw_ints(r, p->inputs[1], k, 2) == 2 && k[0] == -1 && k[1] == 1)
        return p->inputs[0];
    return -1;
}

/* v = Gather(table [N, F], index [P], axis 0), or GatherND(table, index as a [P, 1] column) (the
 * dynamo form of h[index]; both wrap negative indices): table and index. */
static bool rows_of(const weft_rw *r, int v, int *table, int *index)
{
    const weft_node *p = weft_rw_producer(r, v);
    if (!p || p->n_inputs != 2 || p->inputs[0] < 0 || p->inputs[1] < 0) return false;
    int ix = -1;
    if (weft_rw_gathers_rows(r, p)) ix = p->inputs[1];
    else if (weft_rw_is(p, "GatherND") && weft_rw_attr_i(p, "batch_dims", 0) == 0) ix = column_of(r, p->inputs[1]);
    if (ix < 0) return false;
    const weft_value *t = &r->g->values[p->inputs[0]], *iv = &r->g->values[ix];
    if (t->shape.rank != 2 || iv->shape.rank != 1 || (iv->dtype != WEFT_INT64 && iv->dtype != WEFT_INT32)) return false;
    *table = p->inputs[0];
    *index = ix;
    return true;
}

static weft_status try_reduce(weft_rw *r, int i, int *changed)
{
    weft_graph *g = r->g;
    const weft_node *n = &g->nodes[i];
    if (n->n_inputs < 1 || n->inputs[0] < 0 || n->outputs[0] < 0) return WEFT_OK;
    if (weft_rw_attr_i(n, "keepdims", 1) != 0) return WEFT_OK;
    int prod = n->inputs[0];
    const weft_value *pv = &g->values[prod];
    if ((pv->dtype != WEFT_FLOAT32 && pv->dtype != WEFT_FLOAT64) || pv->shape.rank != 2) return WEFT_OK;
    int64_t axes[2];
    if (weft_rw_reduce_axes(r, n, 2, axes, 2) != 1 || axes[0] != 1) return WEFT_OK;
    const weft_node *m = weft_rw_producer_is(r, prod, "Mul");
    if (!m || m->n_inputs != 2 || !weft_rw_private(r, prod, 1)) return WEFT_OK;
    int a, ia, b, ib;
    if (!rows_of(r, m->inputs[0], &a, &ia) || !rows_of(r, m->inputs[1], &b, &ib)) return WEFT_OK;
    const weft_value *av = &g->values[a], *bv = &g->values[b];
    if (av->dtype != pv->dtype || bv->dtype != pv->dtype) return WEFT_OK;
    /* no broadcasting in the product: both [P, F] */
    if (!weft_rw_shape_eq(&g->values[m->inputs[0]].shape, &pv->shape) || !weft_rw_shape_eq(&g->values[m->inputs[1]].shape, &pv->shape))
        return WEFT_OK;
    int in[4] = {a, b, ia, ib};
    return weft_rw_replace(r, i, "LinkScore", "link_score", in, 4, NULL, changed);
}

static weft_status sddmm_graph(weft_rw *r, int *changed)
{
    if (!weft_rw_have("LinkScore")) return WEFT_OK;
    return weft_rw_each_op(r, "", "ReduceSum", try_reduce, changed);
}

weft_status weft_pass_sddmm(weft_graph *g, int *changed) { return weft_rw_each_graph(g, sddmm_graph, changed); }
