/*
 * compiler/pass_mean.c — the mean aggregation PyG exports, as one reduction.
 *
 * `scatter(msgs, index, reduce='mean')` exports as a sum, a count and a division:
 *
 *     S = SegmentReduce_sum(msgs, idx, init = zeros[N, F...])         (message passing lowered these)
 *     C = SegmentReduce_sum(ones[E], idx, init = zeros[N])
 *     Q = Clip(C, min = 1)              (dynamo: Max(C, 1))
 *     out = Div(S, Expand(Reshape(Q, [-1, 1]), shape of S))   (or the [N, 1] broadcast directly)
 *
 * which becomes CsrReduce(msgs, CSR(idx, N), reduce = mean). The rewrite goes straight to the CSR form
 * because SegmentReduce's own `mean` takes no `init`, and without it SegmentReduce refuses the negative
 * indices the init form (ScatterElements') wraps; CSR keeps that convention with wrap = 1.
 *
 * Why the result is the same, bit for bit. For a segment n with edges e1 < e2 < ... < ek (k >= 1),
 * S[n] = ((0 + m_e1) + m_e2) + ... and the mean kernel's sum is (m_e1 + m_e2) + ..., the same
 * additions in the same order (0 + x = x for every x but -0, whose sign is all that can differ); C[n]
 * counts the edges exactly (k < 2^24 in float32, 2^53 in float64) and max(k, 1) = k, so both divide
 * the same sum by the same k in T. An empty segment gives 0 / max(0, 1) = 0 in the chain and 0 in the
 * kernel. Beyond 2^24 edges into one float32 segment the exported count saturates and the two differ
 * (the kernel's count is the exact one).
 *
 * Only the index, the segment count, the zeros, the ones and the clamp to 1 are required; the messages
 * may be anything (gathered rows, weighted rows). pass_csr.c then fuses a gather of the messages into
 * the reduction.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rewrite.h"

/* A SegmentReduce(sum) node writing v: its index in g->nodes, or -1. */
static int segment_sum(const weft_rw *r, int v)
{
    return weft_rw_producer_segment(r, v, "sum") ? r->g->values[v].producer : -1;
}

/* The segment count behind a SegmentReduce: *wrap says whether it is the init form; *nseg the count
 * value (made from init's first dim when needed). False when init is not zeros of the output's shape. */
static bool segments(weft_rw *r, int node, bool *wrap, int *nseg)
{
    const weft_node *n = &r->g->nodes[node];
    int init = n->n_inputs >= 4 ? n->inputs[3] : -1, out = n->outputs[0];
    if (init < 0) {
        *wrap = false;
        *nseg = n->n_inputs >= 3 ? n->inputs[2] : -1;
        return *nseg >= 0;
    }
    const weft_value *iv = &r->g->values[init];
    if (!weft_rw_filled(r, init, 0.0) || !weft_rw_shape_eq(&iv->shape, &r->g->values[out].shape) || iv->shape.rank < 1)
        return false;
    *wrap = true;
    *nseg = -2; /* made on demand: only once the match is certain */
    return true;
}

/* q is the per-segment count widened to S's rank: Reshape(Q, [-1 or N, 1, ...]) / Unsqueeze(Q, -1)
 * (possibly under an Expand to S's shape), or Q itself when S is 1-D. Returns Q, else -1. */
static int unwiden(const weft_rw *r, int q, const weft_shape *s)
{
    const weft_graph *g = r->g;
    const weft_node *e = weft_rw_producer_is(r, q, "Expand");
    if (e && e->n_inputs == 2 && weft_rw_shape_eq(&g->values[q].shape, s)) q = e->inputs[0];
    const weft_shape *qs = &g->values[q].shape;
    if (s->rank == 1) return qs->rank == 1 ? q : -1;
    if (qs->rank != s->rank || !weft_dim_eq(qs->d[0], s->d[0])) return -1;
    for (int d = 1; d < qs->rank; d++)
        if (!weft_dim_known(qs->d[d]) || qs->d[d].v != 1) return -1;
    const weft_node *p = weft_rw_producer(r, q);
    if (!(weft_rw_is(p, "Reshape") || weft_rw_is(p, "Unsqueeze")) || p->inputs[0] < 0) return -1;
    int c = p->inputs[0];
    const weft_shape *cs = &g->values[c].shape;
    /* the reshape keeps the count's order: [N] -> [N, 1, ...] (shapes already say so) */
    if (cs->rank != 1 || !weft_dim_eq(cs->d[0], s->d[0])) return -1;
    return c;
}

/* Q = Clip(C, 1) / Clip(C, 1, +inf) / Max(C, 1) / Max(1, C): returns C, else -1. */
static int unclamp(const weft_rw *r, int q)
{
    const weft_node *p = weft_rw_producer(r, q);
    double x;
    if (weft_rw_is(p, "Clip")) {
        weft_node_info info = weft_node_view(p);
        if (p->opset < 11) {
            if (weft_attr_float(&info, "min", -1) != 1 || weft_attr_find(&info, "max")) return -1;
            return p->inputs[0];
        }
        if (p->n_inputs < 2 || !weft_rw_scalar(r, p->inputs[1], &x) || x != 1) return -1;
        if (p->n_inputs >= 3 && p->inputs[2] >= 0 && !(weft_rw_scalar(r, p->inputs[2], &x) && x == INFINITY)) return -1;
        return p->inputs[0];
    }
    if (weft_rw_is(p, "Max") && p->n_inputs == 2) {
        if (weft_rw_scalar(r, p->inputs[1], &x) && x == 1) return p->inputs[0];
        if (weft_rw_scalar(r, p->inputs[0], &x) && x == 1) return p->inputs[1];
    }
    return -1;
}

static weft_status try_div(weft_rw *r, int i, int *changed)
{
    weft_graph *g = r->g;
    const weft_node *d = &g->nodes[i];
    if (d->n_inputs != 2 || d->inputs[0] < 0 || d->inputs[1] < 0 || d->outputs[0] < 0) return WEFT_OK;
    int s = d->inputs[0];
    const weft_value *sv = &g->values[s];
    weft_dtype t = sv->dtype;
    if (t != WEFT_FLOAT32 && t != WEFT_FLOAT64) return WEFT_OK; /* float16 counts round from 2048 */
    if (!weft_rw_shape_eq(&g->values[d->outputs[0]].shape, &sv->shape) || sv->shape.rank < 1) return WEFT_OK;
    int sn = segment_sum(r, s);
    if (sn < 0) return WEFT_OK;
    int c = unwiden(r, d->inputs[1], &sv->shape);
    c = c < 0 ? -1 : unclamp(r, c);
    int cn = c < 0 ? -1 : segment_sum(r, c);
    if (cn < 0) return WEFT_OK;
    const weft_node *S = &g->nodes[sn], *C = &g->nodes[cn];
    int msgs = S->inputs[0], idx = S->inputs[1];
    if (C->inputs[1] != idx || g->values[c].dtype != t || g->values[c].shape.rank != 1) return WEFT_OK;
    if (g->values[C->inputs[0]].shape.rank != 1 || !weft_rw_filled(r, C->inputs[0], 1.0)) return WEFT_OK;
    const weft_value *mv = &g->values[msgs];
    if (mv->dtype != t || mv->shape.rank != sv->shape.rank) return WEFT_OK;
    for (int k = 1; k < mv->shape.rank; k++) /* no init wider than the messages */
        if (!weft_dim_eq(mv->shape.d[k], sv->shape.d[k])) return WEFT_OK;
    bool wrap_s, wrap_c;
    int nseg_s, nseg_c;
    if (!segments(r, sn, &wrap_s, &nseg_s) || !segments(r, cn, &wrap_c, &nseg_c)) return WEFT_OK;
    /* the count must count over the same segments */
    if (!weft_dim_eq(g->values[c].shape.d[0], sv->shape.d[0])) return WEFT_OK;
    /* negative indices: wrapped only where both reductions wrapped them (otherwise the chain fails on
     * them, and so does the fused form) */
    bool wrap = wrap_s && wrap_c;
    int nseg = wrap_s ? -2 : nseg_s;
    if (nseg == -2) {
        int init = g->nodes[sn].inputs[3];
        nseg = weft_rw_dim_value(r, g->values[init].shape.d[0], init, 0);
    }
    if (nseg < 0 && !wrap_c) nseg = nseg_c;
    if (nseg < 0) return WEFT_OK;
    int offsets, perm, col;
    weft_status st = weft_rw_csr(r, idx, nseg, wrap, -1, -1, false, &offsets, &perm, &col);
    if (st) return st;
    int in[3] = {msgs, offsets, perm};
    return weft_rw_replace(r, i, "CsrReduce", "mean", in, 3, "mean", changed);
}

static weft_status mean_graph(weft_rw *r, int *changed)
{
    if (!weft_rw_have("CSR") || !weft_rw_have("CsrReduce")) return WEFT_OK;
    return weft_rw_each_op(r, "", "Div", try_div, changed);
}

weft_status weft_pass_mean(weft_graph *g, int *changed) { return weft_rw_each_graph(g, mean_graph, changed); }
