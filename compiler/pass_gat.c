/*
 * compiler/pass_gat.c — the edge softmax GAT exports, as one CsrEdgeSoftmax.
 *
 * PyG's `softmax(s, index)` exports (after message passing lowered its scatters) as
 *
 *     M   = SegmentReduce_max(s, idx, init = A)       A: zeros, or the max of zeros and min(s) (the
 *                                                     TorchScript form of include_self = False)
 *     Ex  = Exp(s - Gather(M, idx))
 *     D   = SegmentReduce_sum(Ex, idx, init = zeros)
 *     out = Ex / Gather(D + 1e-16, idx)
 *
 * which becomes CsrEdgeSoftmax(s, CSR(idx, N)) (straight to the CSR form, as pass_mean.c does, because
 * EdgeSoftmax has no form that wraps negative indices the way the init form of the scatters and the
 * Gathers do; CSR's wrap keeps it).
 *
 * How close the two are. The kernel subtracts each segment's true maximum m; the chain subtracts
 * m' = max(m, 0) (or m itself when A is absent or its init is the lowest value). Softmax does not depend
 * on the shift mathematically; numerically the two agree to a few ulps, except where the exported form
 * itself loses the result: a segment whose scores are all below about -87 (float32) makes every
 * exp(s - 0) underflow in the chain, not in the kernel. With the true maximum subtracted the sum is at
 * least 1, so the chain's + 1e-16 changes no bit (it is below half an ulp of 1 in float32 and in
 * float64); an eps of half an ulp or more keeps the chain as it is.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rewrite.h"

/* A SegmentReduce with reduce `red` over index idx writing v: its node, else NULL. */
static const weft_node *segment(const weft_rw *r, int v, const char *red, int idx)
{
    const weft_node *n = weft_rw_producer_segment(r, v, red);
    return n && n->inputs[1] == idx ? n : NULL;
}

static int init_of(const weft_node *n) { return n->n_inputs >= 4 ? n->inputs[3] : -1; }

/* v = Gather(table, idx, axis 0): returns table, else -1. */
static int gather_by(const weft_rw *r, int v, int idx)
{
    const weft_node *p = weft_rw_producer(r, v);
    return weft_rw_gathers_rows(r, p) && p->inputs[1] == idx ? p->inputs[0] : -1;
}

static weft_status try_div(weft_rw *r, int i, int *changed)
{
    weft_graph *g = r->g;
    const weft_node *d = &g->nodes[i];
    if (d->n_inputs != 2 || d->inputs[0] < 0 || d->inputs[1] < 0 || d->outputs[0] < 0) return WEFT_OK;
    int ex = d->inputs[0];
    const weft_node *e = weft_rw_producer_is(r, ex, "Exp");
    const weft_node *sub = e ? weft_rw_producer_is(r, e->inputs[0], "Sub") : NULL;
    if (!sub || sub->n_inputs != 2 || sub->inputs[0] < 0 || sub->inputs[1] < 0) return WEFT_OK;
    int s = sub->inputs[0];
    const weft_value *sv = &g->values[s];
    if ((sv->dtype != WEFT_FLOAT32 && sv->dtype != WEFT_FLOAT64) || sv->shape.rank < 1 || sv->shape.rank > 2) return WEFT_OK;
    if (!weft_rw_shape_eq(&g->values[ex].shape, &sv->shape) || !weft_rw_shape_eq(&g->values[d->outputs[0]].shape, &sv->shape))
        return WEFT_OK;
    /* the maximum: M[idx] subtracted */
    const weft_node *gm = weft_rw_producer_is(r, sub->inputs[1], "Gather");
    if (!gm || gm->n_inputs != 2) return WEFT_OK;
    int idx = gm->inputs[1];
    if (idx < 0 || g->values[idx].shape.rank != 1 || !weft_dim_eq(g->values[idx].shape.d[0], sv->shape.d[0])) return WEFT_OK;
    int m = gather_by(r, sub->inputs[1], idx);
    const weft_node *M = m < 0 ? NULL : segment(r, m, "max", idx);
    if (!M || M->inputs[0] != s) return WEFT_OK;
    bool wrap = init_of(M) >= 0;
    int a = init_of(M);
    if (a >= 0 && !weft_rw_filled(r, a, 0.0)) { /* the include_self = False form: max(zeros, anything) */
        const weft_node *A = segment(r, a, "max", idx);
        if (!A || (init_of(A) >= 0 && !weft_rw_filled(r, init_of(A), 0.0))) return WEFT_OK;
        wrap = wrap && init_of(A) >= 0;
    }
    /* the sum: Gather(D [+ eps], idx) */
    int dd = gather_by(r, d->inputs[1], idx);
    if (dd < 0) return WEFT_OK;
    const weft_node *add = weft_rw_producer_is(r, dd, "Add");
    if (add && add->n_inputs == 2) {
        double eps, half_ulp = sv->dtype == WEFT_FLOAT32 ? 0x1p-24 : 0x1p-53;
        int k = weft_rw_scalar(r, add->inputs[1], &eps) ? 0 : weft_rw_scalar(r, add->inputs[0], &eps) ? 1 : -1;
        if (k < 0 || !(eps >= 0 && eps < half_ulp)) return WEFT_OK;
        dd = add->inputs[k];
        if (!weft_rw_shape_eq(&g->values[add->outputs[0]].shape, &g->values[dd].shape)) return WEFT_OK;
    }
    const weft_node *D = segment(r, dd, "sum", idx);
    if (!D || D->inputs[0] != ex) return WEFT_OK;
    int dinit = init_of(D), nseg;
    if (dinit >= 0) {
        const weft_value *iv = &g->values[dinit];
        if (!weft_rw_filled(r, dinit, 0.0) || !weft_rw_shape_eq(&iv->shape, &g->values[dd].shape)) return WEFT_OK;
        nseg = weft_rw_dim_value(r, iv->shape.d[0], dinit, 0);
    } else {
        nseg = D->n_inputs >= 3 ? D->inputs[2] : -1;
        wrap = false;
    }
    if (nseg < 0) return WEFT_OK;
    int offsets, perm, col;
    weft_status st = weft_rw_csr(r, idx, nseg, wrap, -1, -1, false, &offsets, &perm, &col);
    if (st) return st;
    int in[3] = {s, offsets, perm};
    return weft_rw_replace(r, i, "CsrEdgeSoftmax", "edge_softmax", in, 3, NULL, changed);
}

static weft_status gat_graph(weft_rw *r, int *changed)
{
    if (!weft_rw_have("CSR") || !weft_rw_have("CsrEdgeSoftmax")) return WEFT_OK;
    return weft_rw_each_op(r, "", "Div", try_div, changed);
}

weft_status weft_pass_gat(weft_graph *g, int *changed) { return weft_rw_each_graph(g, gat_graph, changed); }
