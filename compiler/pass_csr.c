/*
 * compiler/pass_csr.c — segment reductions over a CSR index, and gathers fused into them.
 *
 *  1. Every SegmentReduce(src, idx, N [, init]) becomes CsrReduce(src, CSR(idx, N)) and every
 *     EdgeSoftmax(s, idx, N) CsrEdgeSoftmax(s, CSR(idx, N)). The CSR (a stable counting sort by
 *     destination) is built once per distinct (index, N, wrapping): weft_rw_csr reuses one that exists,
 *     and CSE has already made equal indices one value. The init form keeps ScatterElements'
 *     convention (negative indices wrap: CSR's wrap = 1) and N is init's first dimension, found as a
 *     value the graph already has (the shape of a graph input) or as the matching entry of the shape
 *     tensor that made init. An all-zero init of a sum is dropped: a segment's sum then starts from its
 *     first row instead of from 0 + first row, which is the same number (but for the sign of a zero).
 *  2. A CsrReduce (sum, mean, max, min, no init) whose rows are Gather(x, src, axis 0) or
 *     RowGather(x, src) becomes CsrGatherReduce(x, offsets, col): the [E, F] messages are never made.
 *     The CSR gets the column of each position (src sorted along, checked once, Gather's negative
 *     indices wrapped; RowGather's refused as before). A gather something else reads stays for it.
 *     Rows scaled per edge — Mul(w, Gather(...)) with w of shape [E], [E, 1], [E, H] or [E, H, 1] for
 *     messages [E], [E, F], [E, H, F] (GCN's normalisation, GAT's attention) — pass w as the weight:
 *     the kernel forms w * x in T as the Mul did, then reduces in the same order.
 *
 * The readers of the CSR visit each segment's edges in edge order, so every result is what the
 * unfused chain computed (ops/weft_graph.c).
 */
#include <stdio.h>
#include <string.h>

#include "rewrite.h"

/* --- 1. SegmentReduce / EdgeSoftmax -> CSR form ------------------------------------------------- */

static weft_status lower_segment(weft_rw *r, int i, int *changed)
{
    weft_graph *g = r->g;
    const weft_node *n = &g->nodes[i];
    if (n->n_inputs < 2 || n->inputs[0] < 0 || n->inputs[1] < 0 || n->outputs[0] < 0) return WEFT_OK;
    int src = n->inputs[0], idx = n->inputs[1], out = n->outputs[0];
    int init = n->n_inputs >= 4 ? n->inputs[3] : -1, nseg = n->n_inputs >= 3 ? n->inputs[2] : -1;
    const char *red = weft_rw_reduce(n);
    if (strcmp(red, "sum") && strcmp(red, "mean") && strcmp(red, "max") && strcmp(red, "min") && strcmp(red, "mul"))
        return WEFT_OK;
    const weft_value *sv = &g->values[src], *iv = &g->values[idx];
    if (iv->shape.rank != 1 || sv->shape.rank < 1) return WEFT_OK;
    bool wrap = init >= 0;
    if (init >= 0) {
        if (g->values[init].shape.rank < 1 || g->values[init].dtype != sv->dtype) return WEFT_OK;
        nseg = weft_rw_dim_value(r, g->values[init].shape.d[0], init, 0);
        if (nseg < 0) return WEFT_OK;
        /* a sum from zeros of the output's own shape starts from its first row just as well (values may
         * have moved: look them up again) */
        const weft_shape *is = &g->values[init].shape, *ss = &g->values[src].shape;
        if (!strcmp(red, "sum") && weft_rw_filled(r, init, 0.0) && weft_rw_shape_eq(is, &g->values[out].shape)) {
            bool same_rows = is->rank == ss->rank;
            for (int d = 1; same_rows && d < is->rank; d++) same_rows = weft_dim_eq(is->d[d], ss->d[d]);
            if (same_rows) init = -1;
        }
    } else if (nseg < 0) {
        return WEFT_OK;
    }
    int offsets, perm, col;
    weft_status st = weft_rw_csr(r, idx, nseg, wrap, -1, -1, false, &offsets, &perm, &col);
    if (st) return st;
    int in[4] = {src, offsets, perm, init};
    return weft_rw_replace(r, i, "CsrReduce", "csr", in, init >= 0 ? 4 : 3, red, changed);
}

static weft_status lower_softmax(weft_rw *r, int i, int *changed)
{
    weft_graph *g = r->g;
    const weft_node *n = &g->nodes[i];
    if (n->n_inputs < 3 || n->inputs[0] < 0 || n->inputs[1] < 0 || n->inputs[2] < 0 || n->outputs[0] < 0) return WEFT_OK;
    if (g->values[n->inputs[1]].shape.rank != 1) return WEFT_OK;
    int s = n->inputs[0];
    int offsets, perm, col;
    weft_status st = weft_rw_csr(r, n->inputs[1], n->inputs[2], false, -1, -1, false, &offsets, &perm, &col);
    if (st) return st;
    int in[3] = {s, offsets, perm};
    return weft_rw_replace(r, i, "CsrEdgeSoftmax", "csr", in, 3, NULL, changed);
}

/* --- 2. gathers fused into the reduction --------------------------------------------------------- */

/* v = Gather(x, src, axis 0) or RowGather(x, src): x, src and whether src wraps. */
static bool gathered(const weft_rw *r, int v, int *x, int *src, bool *src_wrap)
{
    const weft_node *p = weft_rw_producer(r, v);
    if (weft_rw_gathers_rows(r, p)) *src_wrap = true;
    else if (weft_rw_is_weft(p, "RowGather") && p->n_inputs == 2 && p->inputs[0] >= 0 && p->inputs[1] >= 0) *src_wrap = false;
    else return false;
    const weft_value *xv = &r->g->values[p->inputs[0]], *sv = &r->g->values[p->inputs[1]];
    if (xv->shape.rank < 1 || sv->shape.rank != 1 || (sv->dtype != WEFT_INT64 && sv->dtype != WEFT_INT32)) return false;
    *x = p->inputs[0];
    *src = p->inputs[1];
    return true;
}

/* w scales the rows of gathered messages m ([E, ...]) edge by edge (or head by head) in a way
 * CsrGatherReduce's weight can say. */
static bool edge_weight(const weft_rw *r, int w, int m)
{
    const weft_shape *ws = &r->g->values[w].shape, *ms = &r->g->values[m].shape;
    if (r->g->values[w].dtype != r->g->values[m].dtype || ws->rank != ms->rank || ws->rank < 1 || ws->rank > 3) return false;
    if (!weft_dim_eq(ws->d[0], ms->d[0])) return false;
    bool one1 = ws->rank >= 2 && weft_dim_known(ws->d[1]) && ws->d[1].v == 1;
    if (ws->rank == 2) return one1 || weft_dim_eq(ws->d[1], ms->d[1]);
    if (ws->rank == 3) return weft_dim_known(ws->d[2]) && ws->d[2].v == 1 && (one1 || weft_dim_eq(ws->d[1], ms->d[1]));
    return true;
}

static weft_status fuse_gather(weft_rw *r, int i, int *changed)
{
    weft_graph *g = r->g;
    const weft_node *n = &g->nodes[i];
    if (n->n_inputs != 3 || n->inputs[0] < 0 || n->outputs[0] < 0) return WEFT_OK; /* no init */
    const char *red = weft_rw_reduce(n);
    if (strcmp(red, "sum") && strcmp(red, "mean") && strcmp(red, "max") && strcmp(red, "min")) return WEFT_OK;
    int msgs = n->inputs[0];
    weft_dtype t = g->values[msgs].dtype;
    if (t != WEFT_FLOAT32 && t != WEFT_FLOAT64) return WEFT_OK;
    int x, src, w = -1;
    bool src_wrap;
    if (!gathered(r, msgs, &x, &src, &src_wrap)) {
        /* weighted: Mul(w, gathered) / Mul(gathered, w), the product read only here */
        const weft_node *m = weft_rw_producer_is(r, msgs, "Mul");
        if (!m || m->n_inputs != 2 || !weft_rw_private(r, msgs, 1)) return WEFT_OK;
        for (int k = 0; k < 2 && w < 0; k++) {
            int a = m->inputs[k], b = m->inputs[1 - k];
            if (a >= 0 && b >= 0 && gathered(r, a, &x, &src, &src_wrap) && weft_rw_shape_eq(&g->values[a].shape, &g->values[msgs].shape) &&
                edge_weight(r, b, a))
                w = b;
        }
        if (w < 0) return WEFT_OK;
    }
    if (g->values[x].dtype != t) return WEFT_OK;
    /* the CSR this reduction reads, given the columns */
    const weft_node *csr = weft_rw_producer(r, n->inputs[1]);
    if (!weft_rw_is_weft(csr, "CSR") || csr->outputs[0] != n->inputs[1] || csr->outputs[1] != n->inputs[2]) return WEFT_OK;
    int idx = csr->inputs[0], nseg = csr->inputs[1];
    bool wrap = weft_rw_attr_i(csr, "wrap", 0) != 0;
    if (!weft_dim_eq(g->values[src].shape.d[0], g->values[idx].shape.d[0])) return WEFT_OK;
    int nsrc = weft_rw_dim_value(r, g->values[x].shape.d[0], x, 0);
    if (nsrc < 0) return WEFT_OK;
    int offsets, perm, col;
    weft_status st = weft_rw_csr(r, idx, nseg, wrap, src, nsrc, src_wrap, &offsets, &perm, &col);
    if (st) return st;
    int in[5] = {x, offsets, col, perm, w};
    return weft_rw_replace(r, i, "CsrGatherReduce", "gather", in, w >= 0 ? 5 : 3, red, changed);
}

static weft_status csr_graph(weft_rw *r, int *changed)
{
    if (!weft_rw_have("CSR") || !weft_rw_have("CsrReduce") || !weft_rw_have("CsrGatherReduce") ||
        !weft_rw_have("CsrEdgeSoftmax"))
        return WEFT_OK;
    weft_status st;
    int n0 = r->g->n_nodes;
    for (int i = 0; i < n0; i++) {
        const weft_node *n = &r->g->nodes[i];
        if (weft_rw_is_weft(n, "SegmentReduce") && (st = lower_segment(r, i, changed))) return st;
        if (weft_rw_is_weft(n, "EdgeSoftmax") && (st = lower_softmax(r, i, changed))) return st;
    }
    /* the reductions as they are now: those just made, and the means pass_mean.c made */
    return weft_rw_each_op(r, "ai.weft", "CsrReduce", fuse_gather, changed);
}

weft_status weft_pass_csr(weft_graph *g, int *changed) { return weft_rw_each_graph(g, csr_graph, changed); }
