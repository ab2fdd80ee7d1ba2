/*
 * compiler/pass_conv_fusion.c — what follows a convolution and can run inside it.
 *
 *  - BatchNormalization (inference, one output, constant parameters) reading a Conv with constant
 *    weights (and a constant bias or none) that nothing else reads: folded into the Conv's weights and
 *    bias, W' = W * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta per output
 *    channel, computed in double and rounded once to the weights' dtype. This changes roundings (the
 *    product and the normalisation are no longer rounded separately): float32 results move by a few ulp.
 *  - A Conv whose output only a residual Add reads (the other operand of the output's dtype and shape),
 *    and / or an activation of the result (Relu, LeakyRelu, Clip with constant bounds, Sigmoid,
 *    HardSigmoid, HardSwish, and x * Sigmoid(x) = SiLU): ai.weft FusedConv (schemas/ai.weft.md),
 *    `act(Conv(X, W, B) + acc)`, bit for bit the chain it replaces on the reference kernels.
 * Values something else reads (or graph outputs, or values a subgraph reads) are never folded away.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite.h"


static bool is_float(weft_dtype t) { return t == WEFT_FLOAT32 || t == WEFT_FLOAT64; }

/* --- BatchNormalization into the Conv before it ----------------------------------------------------- */

static weft_status fold_bn(weft_rw *r, int i, int *changed)
{
    weft_graph *g = r->g;
    const weft_node *bn = &g->nodes[i];
    if (bn->n_inputs != 5 || bn->n_outputs < 1) return WEFT_OK;
    for (int o = 1; o < bn->n_outputs; o++)
        if (bn->outputs[o] >= 0) return WEFT_OK;
    weft_node_info bi = weft_node_view(bn);
    if (weft_attr_int(&bi, "training_mode", 0) != 0) return WEFT_OK;
    if (bn->opset < 9 && weft_attr_int(&bi, "spatial", 1) == 0) return WEFT_OK;
    double eps = weft_attr_float(&bi, "epsilon", 1e-5f);
    int x = bn->inputs[0];
    const weft_node *cv = weft_rw_producer_is(r, x, "Conv");
    if (!cv || cv->outputs[0] != x || !weft_rw_private(r, x, 1) || cv->n_inputs < 2) return WEFT_OK;
    int ci = g->values[x].producer;
    int w = cv->inputs[1], b = cv->n_inputs > 2 ? cv->inputs[2] : -1;
    if (!weft_rw_const(r, w) || (b >= 0 && !weft_rw_const(r, b))) return WEFT_OK;
    const weft_value *wv = &g->values[w];
    if (!is_float(wv->dtype) || wv->shape.rank < 3 || !weft_shape_known(&wv->shape)) return WEFT_OK;
    int64_t M = wv->shape.d[0].v, per = 1;
    for (int d = 1; d < wv->shape.rank; d++) per *= wv->shape.d[d].v;
    if (b >= 0 && (g->values[b].dtype != wv->dtype || weft_shape_numel(&g->values[b].shape) != M)) return WEFT_OK;
    for (int k = 1; k < 5; k++) {
        int v = bn->inputs[k];
        if (!weft_rw_const(r, v) || !is_float(g->values[v].dtype) || weft_shape_numel(&g->values[v].shape) != M) return WEFT_OK;
    }
    weft_dtype dt = wv->dtype;
    size_t es = weft_dtype_size(dt);
    void *nw = malloc((size_t)(M * per) * es + 1), *nb = malloc((size_t)M * es + 1);
    if (!nw || !nb) {
        free(nw);
        free(nb);
        return weft_error(WEFT_ERR_NOMEM, "out of memory");
    }
    for (int64_t m = 0; m < M; m++) {
        double gamma = weft_load_f64(g->values[bn->inputs[1]].dtype, g->values[bn->inputs[1]].data, m);
        double beta = weft_load_f64(g->values[bn->inputs[2]].dtype, g->values[bn->inputs[2]].data, m);
        double mean = weft_load_f64(g->values[bn->inputs[3]].dtype, g->values[bn->inputs[3]].data, m);
        double var = weft_load_f64(g->values[bn->inputs[4]].dtype, g->values[bn->inputs[4]].data, m);
        double a = gamma / sqrt(var + eps);
        double b0 = b >= 0 ? weft_load_f64(dt, g->values[b].data, m) : 0.0;
        for (int64_t j = 0; j < per; j++)
            weft_store_f64(dt, nw, m * per + j, weft_load_f64(dt, wv->data, m * per + j) * a);
        weft_store_f64(dt, nb, m, (b0 - mean) * a + beta);
    }
    weft_shape bs = {.rank = 1};
    bs.d[0] = weft_dim_num(M);
    weft_shape ws = wv->shape;
    char base[224];
    snprintf(base, sizeof base, "%s", g->nodes[ci].name);
    int nwv = weft_rw_constant(r, base, "bn_folded_w", dt, &ws, nw, (size_t)(M * per) * es);
    int nbv = nwv < 0 ? -1 : weft_rw_constant(r, base, "bn_folded_b", dt, &bs, nb, (size_t)M * es);
    free(nw);
    free(nb);
    if (nwv < 0 || nbv < 0) return WEFT_ERR_NOMEM;
    weft_status st = weft_rw_set_input(r, ci, 1, nwv);
    if (!st) st = weft_rw_set_input(r, ci, 2, nbv);
    if (st) return st;
    weft_rw_take_over(r, ci, i);
    (*changed)++;
    return WEFT_OK;
}

static weft_status bn_graph(weft_rw *r, int *changed)
{
    return weft_rw_each_op(r, "", "BatchNormalization", fold_bn, changed);
}

/* --- Conv + residual Add + activation -> FusedConv -------------------------------------------------- */

typedef struct act_match {
    const char *name; /* FusedConv's activation */
    bool has_alpha, has_beta;
    float alpha, beta;
    int last;         /* the node whose output the fused node writes */
} act_match;

/* An activation reading v (v private to it): its FusedConv form. */
static bool match_act(const weft_rw *r, int v, act_match *m)
{
    const weft_graph *g = r->g;
    memset(m, 0, sizeof *m);
    /* SiLU: Mul(v, Sigmoid(v)), v read by both */
    if (weft_rw_private(r, v, 2)) {
        int sig = -1, mul = -1;
        for (int i = 0; i < g->n_nodes; i++) {
            const weft_node *n = &g->nodes[i];
            for (int k = 0; k < n->n_inputs; k++)
                if (n->inputs[k] == v) {
                    if (weft_rw_is(n, "Sigmoid")) sig = i;
                    else if (weft_rw_is(n, "Mul") && n->n_inputs == 2) mul = i;
                }
        }
        if (sig < 0 || mul < 0) return false;
        int s = g->nodes[sig].outputs[0];
        const weft_node *mn = &g->nodes[mul];
        if (!weft_rw_private(r, s, 1)) return false;
        if (!((mn->inputs[0] == v && mn->inputs[1] == s) || (mn->inputs[1] == v && mn->inputs[0] == s))) return false;
        m->name = "silu";
        m->last = mul;
        return true;
    }
    int i = weft_rw_only_reader(r, v);
    if (i < 0) return false;
    const weft_node *n = &g->nodes[i];
    if (n->n_outputs < 1 || n->inputs[0] != v) return false;
    weft_node_info info = weft_node_view(n);
    m->last = i;
    if (weft_rw_is(n, "Relu")) m->name = "relu";
    else if (weft_rw_is(n, "Sigmoid")) m->name = "sigmoid";
    else if (weft_rw_is(n, "HardSwish")) m->name = "hard_swish";
    else if (weft_rw_is(n, "LeakyRelu")) {
        m->name = "leaky_relu";
        m->has_alpha = true;
        m->alpha = weft_attr_float(&info, "alpha", 0.01f);
    } else if (weft_rw_is(n, "HardSigmoid")) {
        m->name = "hard_sigmoid";
        m->has_alpha = m->has_beta = true;
        m->alpha = weft_attr_float(&info, "alpha", 0.2f);
        m->beta = weft_attr_float(&info, "beta", 0.5f);
    } else if (weft_rw_is(n, "Clip")) {
        m->name = "clip";
        if (n->opset < 11) {
            const weft_attr *lo = weft_attr_find(&info, "min"), *hi = weft_attr_find(&info, "max");
            if (lo) m->has_alpha = true, m->alpha = lo->f;
            if (hi) m->has_beta = true, m->beta = hi->f;
        } else {
            double lo, hi;
            if (n->n_inputs > 1 && n->inputs[1] >= 0) {
                if (!weft_rw_scalar(r, n->inputs[1], &lo)) return false;
                m->has_alpha = true;
                m->alpha = (float)lo;
                if ((double)m->alpha != lo) return false;
            }
            if (n->n_inputs > 2 && n->inputs[2] >= 0) {
                if (!weft_rw_scalar(r, n->inputs[2], &hi)) return false;
                m->has_beta = true;
                m->beta = (float)hi;
                if ((double)m->beta != hi) return false;
            }
        }
    } else {
        return false;
    }
    return true;
}

static weft_status fuse_conv(weft_rw *r, int i, int *changed)
{
    weft_graph *g = r->g;
    const weft_node *cv = &g->nodes[i];
    if (cv->n_inputs < 2 || cv->n_outputs != 1 || cv->outputs[0] < 0) return WEFT_OK;
    int y = cv->outputs[0];
    weft_dtype dt = g->values[y].dtype;
    if (!is_float(dt)) return WEFT_OK;
    int cur = y, acc = -1, last = -1;
    /* a residual Add */
    int a = weft_rw_only_reader(r, cur);
    if (a >= 0 && weft_rw_is(&g->nodes[a], "Add") && g->nodes[a].n_inputs == 2) {
        const weft_node *an = &g->nodes[a];
        int o = an->inputs[0] == cur ? an->inputs[1] : an->inputs[0];
        if (o >= 0 && o != cur && g->values[o].dtype == dt &&
            weft_rw_shape_eq(&g->values[o].shape, &g->values[cur].shape) &&
            weft_rw_shape_eq(&g->values[an->outputs[0]].shape, &g->values[cur].shape)) {
            acc = o;
            last = a;
            cur = an->outputs[0];
        }
    }
    act_match m;
    bool act = match_act(r, cur, &m);
    if (act) last = m.last;
    if (last < 0) return WEFT_OK;
    int in[4] = {cv->inputs[0], cv->inputs[1], cv->n_inputs > 2 ? cv->inputs[2] : -1, acc};
    char name[256];
    snprintf(name, sizeof name, "%.200s/fused", cv->name);
    int k = weft_rw_node(r, "FusedConv", "ai.weft", 1, name, in, acc >= 0 ? 4 : in[2] >= 0 ? 3 : 2, NULL, 1);
    if (k < 0) return WEFT_ERR_INTERNAL;
    weft_status st = weft_rw_copy_attrs(r, k, i);
    if (st == WEFT_ERR_UNSUPPORTED) {
        /* an attribute of a kind Conv does not have: leave the chain as it is */
        weft_error_clear();
        return WEFT_OK;
    }
    if (!st && act) st = weft_rw_set_string(r, k, "activation", m.name);
    if (!st && act && m.has_alpha) st = weft_rw_set_float(r, k, "alpha", m.alpha);
    if (!st && act && m.has_beta) st = weft_rw_set_float(r, k, "beta", m.beta);
    if (st) return st;
    weft_rw_take_over(r, k, last);
    (*changed)++;
    return WEFT_OK;
}

static weft_status conv_graph(weft_rw *r, int *changed)
{
    if (!weft_rw_have("FusedConv")) return WEFT_OK;
    return weft_rw_each_op(r, "", "Conv", fuse_conv, changed);
}

weft_status weft_pass_conv_fusion(weft_graph *g, int *changed)
{
    int c = 0;
    weft_status st = weft_rw_each_graph(g, bn_graph, &c);
    if (!st) st = weft_rw_each_graph(g, conv_graph, &c);
    if (changed) *changed = c;
    return st;
}
