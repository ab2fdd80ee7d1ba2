/*
 * compiler/pass_attention.c — scaled dot-product attention as exporters spell it, into one ai.weft
 * FusedAttention (ops/weft_attention.c).
 *
 * PyTorch (nn.MultiheadAttention, hand-written attention) and `transformers` (eager BERT, GPT-2, ViT)
 * export attention as
 *     S = MatMul(Q, Kt)            Q [..., Sq, D], Kt [..., D, Sk]
 *     S = Mul(S, c) or Div(S, c)   c a scalar constant (optional)
 *     S = Add(S, mask)             mask broadcast with S (optional)
 *     P = Softmax(S, last axis)    (a Cast of P to its own dtype may follow)
 *     Y = MatMul(P, V)             V [..., Sk, Dv]
 * usually with Transposes around it: Q, K and V split into heads by Reshape + Transpose of [B, S, H, D],
 * and Y merged back by a Transpose before a Reshape. The chain becomes one FusedAttention whose kernel
 * never materialises S; a Transpose feeding Q, Kt or V, or reading Y, that nothing else reads is folded
 * into the op as a permuted view (q_perm, k_perm, v_perm, out_perm), so the heads are read and written
 * in place. Each intermediate value must be read only by the next op of the chain; values something
 * else reads (or graph outputs) are never folded away. Operands of rank 3 to 6, float32 / float64.
 * The ONNX Attention op (opset 23) becomes the same op when it has that form (lower_onnx, below).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../ops/weft_attention.h"
#include "rewrite.h"

static bool is_float(weft_dtype t) { return t == WEFT_FLOAT32 || t == WEFT_FLOAT64; }

/* Softmax over the last axis of a value of rank `rank` (before opset 13 the input is coerced to 2-D at
 * `axis`, which for the last axis is the same rows). */
static bool last_axis_softmax(const weft_node *n, int rank)
{
    int64_t axis = weft_rw_attr_i(n, "axis", n->opset < 13 ? 1 : -1);
    return axis == -1 || axis == rank - 1;
}

/* The Transpose producing v when v is read once (by the chain) and its perm has `rank` entries (copied
 * into perm), else NULL. */
static const weft_node *transpose_in(const weft_rw *r, int v, int rank, int64_t *perm)
{
    const weft_node *t = weft_rw_producer_is(r, v, "Transpose");
    if (!t || t->n_inputs != 1 || t->inputs[0] < 0 || !weft_rw_private(r, v, 1)) return NULL;
    weft_node_info ti = weft_node_view(t);
    const int64_t *p;
    if (weft_attr_ints(&ti, "perm", &p) != rank) return NULL;
    for (int i = 0; i < rank; i++) perm[i] = p[i];
    return t;
}

typedef struct attn_match {
    int q, kt, v, mask;         /* the op's inputs (mask -1: none) */
    int64_t perm[4][WEFT_ATTN_MAX_RANK];
    bool has_perm[4];
    bool has_scale, divide;
    float scale;
    int last;                   /* the node whose output the fused op writes */
} attn_match;

/* v = [Mul / Div by a scalar constant] of MatMul(Q, Kt), each value read once: Q, Kt and the scale into m. */
static bool scores(const weft_rw *r, int v, int rank, attn_match *m)
{
    const weft_graph *g = r->g;
    m->has_scale = m->divide = false;
    const weft_node *p = weft_rw_producer(r, v);
    if (p && (weft_rw_is(p, "Mul") || weft_rw_is(p, "Div")) && p->n_inputs == 2 && weft_rw_private(r, v, 1)) {
        bool div = weft_rw_is(p, "Div");
        int cur = -1;
        for (int side = div ? 1 : 0; side < 2 && cur < 0; side++) {
            double c;
            int o = p->inputs[1 - side];
            if (!weft_rw_scalar(r, p->inputs[side], &c) || o < 0) continue;
            if ((double)(float)c != c) continue; /* kept as a float attribute: exactly */
            if (!weft_rw_shape_eq(&g->values[o].shape, &g->values[v].shape)) continue;
            m->has_scale = true;
            m->divide = div;
            m->scale = (float)c;
            cur = o;
        }
        if (cur < 0) return false;
        v = cur;
    }
    const weft_node *mm = weft_rw_producer_is(r, v, "MatMul");
    if (!mm || mm->n_inputs != 2 || !weft_rw_private(r, v, 1)) return false;
    m->q = mm->inputs[0];
    m->kt = mm->inputs[1];
    return m->q >= 0 && m->kt >= 0 && g->values[m->q].shape.rank == rank && g->values[m->kt].shape.rank == rank &&
           g->values[m->q].dtype == g->values[v].dtype && g->values[m->kt].dtype == g->values[v].dtype;
}

static bool match(const weft_rw *r, int i, attn_match *m)
{
    const weft_graph *g = r->g;
    const weft_node *sm = &g->nodes[i];
    memset(m, 0, sizeof *m);
    m->mask = -1;
    if (sm->n_inputs != 1 || sm->n_outputs != 1 || sm->inputs[0] < 0 || sm->outputs[0] < 0) return false;
    int x = sm->inputs[0];
    const weft_value *xv = &g->values[x];
    int rank = xv->shape.rank;
    weft_dtype dt = xv->dtype;
    if (rank < 3 || rank > WEFT_ATTN_MAX_RANK || !is_float(dt) || !last_axis_softmax(sm, rank)) return false;

    /* backwards: [Add mask] <- [Mul / Div scale] <- MatMul */
    const weft_node *p = weft_rw_producer_is(r, x, "Add");
    if (!scores(r, x, rank, m)) {
        if (!p || p->n_inputs != 2 || !weft_rw_private(r, x, 1)) return false;
        for (int side = 0; side < 2 && m->mask < 0; side++) {
            int o = p->inputs[1 - side];
            if (o < 0 || g->values[o].dtype != dt || g->values[o].shape.rank < 0 || g->values[o].shape.rank > rank) continue;
            if (scores(r, p->inputs[side], rank, m)) m->mask = o;
        }
        if (m->mask < 0) return false;
    }

    /* forwards: [Cast to its own dtype] -> MatMul(P, V) -> [Transpose] */
    int pv = sm->outputs[0];
    int rd = weft_rw_only_reader(r, pv);
    if (rd >= 0 && weft_rw_is(&g->nodes[rd], "Cast") && g->nodes[rd].n_outputs == 1 && g->nodes[rd].outputs[0] >= 0 &&
        g->values[g->nodes[rd].outputs[0]].dtype == dt) {
        pv = g->nodes[rd].outputs[0];
        rd = weft_rw_only_reader(r, pv);
    }
    if (rd < 0) return false;
    const weft_node *mm2 = &g->nodes[rd];
    if (!weft_rw_is(mm2, "MatMul") || mm2->n_inputs != 2 || mm2->inputs[0] != pv || mm2->inputs[1] == pv ||
        mm2->n_outputs != 1 || mm2->outputs[0] < 0)
        return false;
    m->v = mm2->inputs[1];
    if (m->v < 0 || g->values[m->v].shape.rank != rank || g->values[m->v].dtype != dt) return false;
    if (g->values[mm2->outputs[0]].shape.rank != rank) return false;
    m->last = rd;

    /* Transposes folded into the op */
    int *ops[3] = {&m->q, &m->kt, &m->v};
    for (int w = 0; w < 3; w++) {
        const weft_node *t = transpose_in(r, *ops[w], rank, m->perm[w]);
        if (!t) continue;
        m->has_perm[w] = true;
        *ops[w] = t->inputs[0];
    }
    int y = mm2->outputs[0];
    int tr = weft_rw_only_reader(r, y);
    if (tr >= 0 && weft_rw_is(&g->nodes[tr], "Transpose") && g->nodes[tr].n_outputs == 1 && g->nodes[tr].outputs[0] >= 0) {
        weft_node_info ti = weft_node_view(&g->nodes[tr]);
        const int64_t *pp;
        if (weft_attr_ints(&ti, "perm", &pp) == rank) {
            for (int k = 0; k < rank; k++) m->perm[WEFT_ATTN_OUT][k] = pp[k];
            m->has_perm[WEFT_ATTN_OUT] = true;
            m->last = tr;
        }
    }
    return true;
}

static weft_status fuse(weft_rw *r, int i, int *changed)
{
    attn_match m;
    if (!match(r, i, &m)) return WEFT_OK;
    weft_graph *g = r->g;
    int rank = g->values[g->nodes[i].inputs[0]].shape.rank;
    int in[4] = {m.q, m.kt, m.v, m.mask};
    char name[256];
    snprintf(name, sizeof name, "%.200s/attention", g->nodes[i].name);
    int k = weft_rw_node(r, "FusedAttention", "ai.weft", 1, name, in, m.mask >= 0 ? 4 : 3, NULL, 1);
    if (k < 0) return WEFT_ERR_INTERNAL;
    static const char *const names[4] = {"q_perm", "k_perm", "v_perm", "out_perm"};
    weft_status st = WEFT_OK;
    for (int w = 0; w < 4 && !st; w++)
        if (m.has_perm[w]) st = weft_rw_set_ints(r, k, names[w], m.perm[w], rank);
    if (!st && m.has_scale) st = weft_rw_set_float(r, k, "scale", m.scale);
    if (!st && m.divide) st = weft_rw_set_int(r, k, "scale_divides", 1);
    if (st) return st;
    weft_rw_take_over(r, k, m.last);
    (*changed)++;
    return WEFT_OK;
}

/* --- the ONNX Attention op ------------------------------------------------------------------------ */

/* Two dims known to be equal (the same number, or the same symbol). */
static bool same_dim(weft_dim a, weft_dim b)
{
    return weft_dim_known(a) ? weft_dim_known(b) && a.v == b.v : !weft_dim_known(b) && a.sym == b.sym && a.v == b.v;
}

/* ONNX Attention (opset 23) in the form FusedAttention computes: 4-D Q [B, H, S, Dh], K [B, H, L, Dh],
 * V [B, H, L, Dv] with as many key / value heads as query heads, no past key / value (so the causal
 * rule masks key j > query i), no softcap, no non-pad lengths, an additive mask (of Q's dtype) broadcast over [B, H, S, L] or none,
 * only Y read. K is read transposed in place (k_perm), the scale is the attribute or 1 / sqrt(Dh). */
static weft_status lower_onnx(weft_rw *r, int i, int *changed)
{
    weft_graph *g = r->g;
    const weft_node *n = &g->nodes[i];
    if (n->n_inputs < 3 || n->n_outputs < 1 || n->outputs[0] < 0) return WEFT_OK;
    for (int k = 4; k < n->n_inputs; k++)
        if (n->inputs[k] >= 0) return WEFT_OK; /* past key / value, non-pad lengths */
    for (int o = 1; o < n->n_outputs; o++)
        if (n->outputs[o] >= 0 && !weft_rw_unread(r, n->outputs[o])) return WEFT_OK;
    weft_node_info info = weft_node_view(n);
    /* is_causal other than 0 / 1 stays with the op, whose kernel refuses it (runtimes disagree on it) */
    int64_t is_causal = weft_attr_int(&info, "is_causal", 0);
    if (weft_attr_float(&info, "softcap", 0.0f) != 0.0f || (is_causal != 0 && is_causal != 1)) return WEFT_OK;
    bool causal = is_causal == 1;
    int q = n->inputs[0], k = n->inputs[1], v = n->inputs[2], mask = n->n_inputs > 3 ? n->inputs[3] : -1;
    if (q < 0 || k < 0 || v < 0) return WEFT_OK;
    const weft_shape *qs = &g->values[q].shape, *ks = &g->values[k].shape, *vs = &g->values[v].shape;
    weft_dtype dt = g->values[q].dtype;
    if (!is_float(dt) || g->values[k].dtype != dt || g->values[v].dtype != dt) return WEFT_OK;
    if (qs->rank != 4 || ks->rank != 4 || vs->rank != 4) return WEFT_OK;
    if (!same_dim(qs->d[1], ks->d[1]) || !same_dim(qs->d[1], vs->d[1]) || !same_dim(ks->d[2], vs->d[2])) return WEFT_OK;
    if (mask >= 0) {
        /* every mask dim (right-aligned) is the scores' [B, H, S, L] dim or 1: the op's own broadcasting
         * rule, which Add's would widen */
        const weft_shape *ms = &g->values[mask].shape;
        if (g->values[mask].dtype != dt || ms->rank < 1 || ms->rank > 4) return WEFT_OK;
        weft_dim target[4] = {qs->d[0], qs->d[1], qs->d[2], ks->d[2]};
        for (int d = 0; d < ms->rank; d++) {
            weft_dim md = ms->d[d], td = target[4 - ms->rank + d];
            if (!same_dim(md, td) && !(weft_dim_known(md) && md.v == 1)) return WEFT_OK;
        }
    }
    float scale;
    if (weft_attr_find(&info, "scale")) {
        scale = weft_attr_float(&info, "scale", 1.0f);
    } else {
        if (!weft_dim_known(qs->d[3]) || qs->d[3].v < 1) return WEFT_OK;
        scale = (float)(1.0 / sqrt((double)qs->d[3].v));
    }
    int in[4] = {q, k, v, mask};
    char name[256];
    snprintf(name, sizeof name, "%.200s/fused", n->name);
    int f = weft_rw_node(r, "FusedAttention", "ai.weft", 1, name, in, mask >= 0 ? 4 : 3, NULL, 1);
    if (f < 0) return WEFT_ERR_INTERNAL;
    static const int64_t kt[4] = {0, 1, 3, 2};
    weft_status st = weft_rw_set_ints(r, f, "k_perm", kt, 4);
    if (!st) st = weft_rw_set_float(r, f, "scale", scale);
    if (!st && causal) st = weft_rw_set_int(r, f, "causal", 1);
    if (st) return st;
    weft_rw_take_over(r, f, i);
    (*changed)++;
    return WEFT_OK;
}

static weft_status attention_graph(weft_rw *r, int *changed)
{
    if (!weft_rw_have("FusedAttention")) return WEFT_OK;
    weft_status st = weft_rw_each_op(r, "", "Softmax", fuse, changed);
    return st ? st : weft_rw_each_op(r, "", "Attention", lower_onnx, changed);
}

weft_status weft_pass_attention(weft_graph *g, int *changed)
{
    int c = 0;
    weft_status st = weft_rw_each_graph(g, attention_graph, &c);
    if (changed) *changed = c;
    return st;
}
