/*
 * compiler/pass_dense_fusion.c — everything around a FusedMatMul that can run in its epilogue.
 *
 *  - L2 normalisation: PyG's `F.normalize(y, p=2, dim=-1)` (SAGEConv normalize=True) exports as
 *    Div(y, Expand(Clip(ReduceL2(y, axes=[-1], keepdims=1), min=eps), Shape(y))) (dynamo: without the
 *    Expand, or Max(.., eps) for the Clip) and becomes L2Normalize(y, eps); following a FusedMatMul it
 *    becomes that FusedMatMul's normalize = 1. Bit for bit: the kernels square and sum in double, round
 *    the root to T, clamp and divide in T, as ReduceL2 / Clip / Div do.
 *  - Two FusedMatMuls added (SAGE's lin_l(aggregate) + lin_r(x)): one FusedMatMul with both terms,
 *    one sum over all the products (terms reading the same X with constant weights share one summed
 *    weight: "stacked" along K, never copied), one bias (the sum of both). This one changes roundings:
 *    the products are summed in double once instead of rounded per term.
 *  - A sum with a term that normalises or already has its bias: the term computes `acc + norm(..)` in
 *    its epilogue (acc = the rest of the sum), bit for bit the Add it replaces; a heterogeneous layer's
 *    per-edge-type results (an Add chain: pass_broadcast.c has made PyG's stack-and-sum one) become a
 *    chain of FusedMatMuls each adding the previous one's output, so no separate pass over memory sums
 *    them.
 *  - A constant bias added to a FusedMatMul without one, and an activation (Relu, LeakyRelu, Elu,
 *    Sigmoid, Tanh) of a FusedMatMul without one: its epilogue, bit for bit. GELU chains (exact and
 *    tanh forms, as exported) too: the epilogue evaluates GELU's formula in double and rounds once,
 *    where the chain rounded after each op (within a few ulp of T).
 * A FusedMatMul output something else reads (or a graph output, or a subgraph read) is never folded
 * into another node.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite.h"

#define MAX_TERMS 64

typedef struct fmm {
    int node;
    int terms;
    int x[MAX_TERMS], w[MAX_TERMS];
    bool trans[MAX_TERMS]; /* W stored [M, K] (attribute transpose) */
    int bias, acc;
    bool normalize;
    float eps;
    char act[16];
    bool has_alpha;
    float alpha;
} fmm;

/* v is output 0 of a FusedMatMul: its parts. */
static bool read_fmm(const weft_rw *r, int v, fmm *f)
{
    const weft_node *n = weft_rw_producer(r, v);
    if (!weft_rw_is_weft(n, "FusedMatMul") || n->outputs[0] != v) return false;
    weft_node_info info = weft_node_view(n);
    int64_t t = weft_attr_int(&info, "terms", 0);
    if (t < 1 || t > MAX_TERMS || n->n_inputs < 2 * t || n->n_inputs > 2 * t + 2) return false;
    memset(f, 0, sizeof *f);
    f->node = r->g->values[v].producer;
    f->terms = (int)t;
    const int64_t *tr = NULL;
    int n_tr = weft_attr_ints(&info, "transpose", &tr);
    if (weft_attr_find(&info, "transpose") && n_tr != f->terms) return false;
    for (int i = 0; i < f->terms; i++) {
        f->x[i] = n->inputs[2 * i];
        f->w[i] = n->inputs[2 * i + 1];
        f->trans[i] = n_tr > 0 && tr[i] == 1;
        if (f->x[i] < 0 || f->w[i] < 0) return false;
    }
    f->bias = n->n_inputs > 2 * t ? n->inputs[2 * t] : -1;
    f->acc = n->n_inputs > 2 * t + 1 ? n->inputs[2 * t + 1] : -1;
    f->normalize = weft_attr_int(&info, "normalize", 0) != 0;
    f->eps = weft_attr_float(&info, "eps", 1e-12f);
    const char *a = weft_attr_string(&info, "activation", "");
    if (strlen(a) >= sizeof f->act) return false;
    strcpy(f->act, a);
    const weft_attr *al = weft_attr_find(&info, "alpha");
    f->has_alpha = al != NULL;
    f->alpha = weft_attr_float(&info, "alpha", 0);
    return true;
}

/* A FusedMatMul of f's parts writing what node `src` wrote (src retired), or, with src < 0, writing
 * value `out`. */
static weft_status emit_to(weft_rw *r, const fmm *f, int src, int out, const char *base, int *changed)
{
    int in[2 * MAX_TERMS + 2], n_in = 2 * f->terms;
    for (int i = 0; i < f->terms; i++) {
        in[2 * i] = f->x[i];
        in[2 * i + 1] = f->w[i];
    }
    if (f->bias >= 0 || f->acc >= 0) in[n_in++] = f->bias;
    if (f->acc >= 0) in[n_in++] = f->acc;
    char name[256];
    snprintf(name, sizeof name, "%.200s/fused", base);
    int k = weft_rw_node(r, "FusedMatMul", "ai.weft", 1, name, in, n_in, src < 0 ? &out : NULL, 1);
    if (k < 0) return WEFT_ERR_INTERNAL;
    weft_status st = weft_rw_set_int(r, k, "terms", f->terms);
    bool any_trans = false;
    int64_t tr[MAX_TERMS];
    for (int i = 0; i < f->terms; i++) any_trans |= (tr[i] = f->trans[i]) != 0;
    if (!st && any_trans) st = weft_rw_set_ints(r, k, "transpose", tr, f->terms);
    if (!st && f->normalize) st = weft_rw_set_int(r, k, "normalize", 1);
    if (!st && f->normalize && f->eps != 1e-12f) st = weft_rw_set_float(r, k, "eps", f->eps);
    if (!st && f->act[0]) st = weft_rw_set_string(r, k, "activation", f->act);
    if (!st && f->act[0] && f->has_alpha) st = weft_rw_set_float(r, k, "alpha", f->alpha);
    if (st) return st;
    if (src >= 0) weft_rw_take_over(r, k, src);
    (*changed)++;
    return WEFT_OK;
}

static weft_status emit(weft_rw *r, const fmm *f, int src, int *changed)
{
    char base[224];
    snprintf(base, sizeof base, "%s", r->g->nodes[src].name);
    return emit_to(r, f, src, -1, base, changed);
}

/* A FusedMatMul whose output only `reads` nodes read (and nothing else may see): its parts. */
static bool private_fmm(const weft_rw *r, int v, int reads, fmm *f) { return weft_rw_private(r, v, reads) && read_fmm(r, v, f); }

static bool plain(const fmm *f) { return !f->normalize && !f->act[0] && f->acc < 0; }


/* a + b of two constants of the same dtype and shape, as a new constant. */
static int const_sum(weft_rw *r, int a, int b, const char *tag)
{
    const weft_value *av = &r->g->values[a], *bv = &r->g->values[b];
    if (av->dtype != bv->dtype || av->nbytes != bv->nbytes || !weft_rw_shape_eq(&av->shape, &bv->shape)) return -1;
    size_t es = weft_dtype_size(av->dtype);
    void *buf = malloc(av->nbytes + 1);
    if (!buf) return -1;
    for (int64_t i = 0; i < (int64_t)(av->nbytes / es); i++)
        weft_store_f64(av->dtype, buf, i, weft_load_f64(av->dtype, av->data, i) + weft_load_f64(bv->dtype, bv->data, i));
    weft_shape s = av->shape;
    int v = weft_rw_constant(r, av->name, tag, av->dtype, &s, buf, av->nbytes);
    free(buf);
    return v;
}

/* --- L2 normalisation ---------------------------------------------------------------------------- */

/* Clip(R, eps) / Clip(R, eps, +inf) / Max(R, eps) / Max(eps, R): R and eps. */
static bool clamp_min(const weft_rw *r, int v, int *in, double *eps)
{
    const weft_node *p = weft_rw_producer(r, v);
    if (weft_rw_is(p, "Clip")) {
        weft_node_info info = weft_node_view(p);
        if (p->opset < 11) {
            if (!weft_attr_find(&info, "min") || weft_attr_find(&info, "max")) return false;
            *eps = weft_attr_float(&info, "min", 0);
            *in = p->inputs[0];
            return true;
        }
        double hi;
        if (p->n_inputs < 2 || !weft_rw_scalar(r, p->inputs[1], eps)) return false;
        if (p->n_inputs >= 3 && p->inputs[2] >= 0 && !(weft_rw_scalar(r, p->inputs[2], &hi) && hi == INFINITY)) return false;
        *in = p->inputs[0];
        return true;
    }
    if (weft_rw_is(p, "Max") && p->n_inputs == 2) {
        if (weft_rw_scalar(r, p->inputs[1], eps)) { *in = p->inputs[0]; return true; }
        if (weft_rw_scalar(r, p->inputs[0], eps)) { *in = p->inputs[1]; return true; }
    }
    return false;
}

static weft_status try_l2(weft_rw *r, int i, int *changed)
{
    weft_graph *g = r->g;
    const weft_node *d = &g->nodes[i];
    if (d->n_inputs != 2 || d->inputs[0] < 0 || d->inputs[1] < 0 || d->outputs[0] < 0) return WEFT_OK;
    int y = d->inputs[0], q = d->inputs[1];
    const weft_value *yv = &g->values[y];
    if ((yv->dtype != WEFT_FLOAT32 && yv->dtype != WEFT_FLOAT64) || yv->shape.rank < 1) return WEFT_OK;
    if (!weft_rw_shape_eq(&g->values[d->outputs[0]].shape, &yv->shape)) return WEFT_OK;
    const weft_node *e = weft_rw_producer_is(r, q, "Expand");
    if (e && e->n_inputs == 2 && weft_rw_shape_eq(&g->values[q].shape, &yv->shape)) q = e->inputs[0];
    int rd;
    double eps;
    if (!clamp_min(r, q, &rd, &eps)) return WEFT_OK;
    const weft_node *red = weft_rw_producer_is(r, rd, "ReduceL2");
    if (!red || red->inputs[0] != y || weft_rw_attr_i(red, "keepdims", 1) != 1) return WEFT_OK;
    /* a norm something else reads too (a training plan's backward pass) is computed anyway: dividing
     * by it costs less than normalising again */
    if (!weft_rw_private(r, rd, 1) || !weft_rw_private(r, q, 1)) return WEFT_OK;
    int64_t axes[2];
    int rank = yv->shape.rank;
    if (weft_rw_reduce_axes(r, red, rank, axes, 2) != 1 || axes[0] != rank - 1) {
        if (!(rank == 1 && weft_rw_reduce_axes(r, red, rank, axes, 2) == 0)) return WEFT_OK;
    }
    /* the norm is [.., 1]: what the division broadcasts, row by row */
    const weft_shape *qs = &g->values[q].shape;
    if (qs->rank != rank || !weft_dim_known(qs->d[rank - 1]) || qs->d[rank - 1].v != 1) return WEFT_OK;
    for (int k = 0; k + 1 < rank; k++)
        if (!weft_dim_eq(qs->d[k], yv->shape.d[k])) return WEFT_OK;
    /* eps travels as a float attribute and is rounded to T by the kernel, as the constant was */
    if (!(eps >= 0) || (double)(float)eps != eps) return WEFT_OK;
    char name[256];
    snprintf(name, sizeof name, "%.200s/l2_normalize", d->name);
    int k = weft_rw_node(r, "L2Normalize", "ai.weft", 1, name, &y, 1, NULL, 1);
    if (k < 0) return WEFT_ERR_INTERNAL;
    weft_status st = weft_rw_set_float(r, k, "eps", (float)eps);
    if (st) return st;
    weft_rw_take_over(r, k, i);
    (*changed)++;
    return WEFT_OK;
}

/* L2Normalize of a FusedMatMul's own output -> its normalize = 1. */
static weft_status try_l2_fold(weft_rw *r, int i, int *changed)
{
    const weft_node *n = &r->g->nodes[i];
    fmm f;
    if (n->n_inputs != 1 || n->inputs[0] < 0 || n->outputs[0] < 0 || !private_fmm(r, n->inputs[0], 1, &f) || !plain(&f))
        return WEFT_OK;
    f.normalize = true;
    weft_node_info info = weft_node_view(n);
    f.eps = weft_attr_float(&info, "eps", 1e-12f);
    return emit(r, &f, i, changed);
}

/* --- sums ---------------------------------------------------------------------------------------- */

/* Appends b's terms to a's (a term whose X a already reads with a constant W: the W summed). */
static bool merge_terms(weft_rw *r, fmm *a, const fmm *b)
{
    for (int j = 0; j < b->terms; j++) {
        int k = 0;
        while (k < a->terms && !(a->x[k] == b->x[j] && weft_rw_const(r, a->w[k]) && weft_rw_const(r, b->w[j]) && !a->trans[k] &&
                                 !b->trans[j]))
            k++;
        if (k < a->terms) {
            int w = const_sum(r, a->w[k], b->w[j], "stacked");
            if (w < 0) return false;
            a->w[k] = w;
            continue;
        }
        if (a->terms == MAX_TERMS) return false;
        a->x[a->terms] = b->x[j];
        a->trans[a->terms] = b->trans[j];
        a->w[a->terms++] = b->w[j];
    }
    if (a->bias >= 0 && b->bias >= 0) {
        if (!weft_rw_const(r, a->bias) || !weft_rw_const(r, b->bias) || (a->bias = const_sum(r, a->bias, b->bias, "bias")) < 0) return false;
    } else if (b->bias >= 0) {
        a->bias = b->bias;
    }
    return true;
}

static weft_status try_add(weft_rw *r, int i, int *changed)
{
    weft_graph *g = r->g;
    const weft_node *n = &g->nodes[i];
    if (n->n_inputs != 2 || n->inputs[0] < 0 || n->inputs[1] < 0 || n->outputs[0] < 0 || n->inputs[0] == n->inputs[1])
        return WEFT_OK;
    int a = n->inputs[0], b = n->inputs[1];
    const weft_shape *os = &g->values[n->outputs[0]].shape;
    bool sa = weft_rw_shape_eq(&g->values[a].shape, os), sb = weft_rw_shape_eq(&g->values[b].shape, os);
    fmm fa, fb;
    bool ha = private_fmm(r, a, 1, &fa), hb = private_fmm(r, b, 1, &fb);
    /* two plain FusedMatMuls: one, with all the terms */
    if (ha && hb && sa && sb && plain(&fa) && plain(&fb) && g->values[fa.x[0]].shape.rank == g->values[fb.x[0]].shape.rank) {
        if (fa.terms + fb.terms <= MAX_TERMS && merge_terms(r, &fa, &fb)) return emit(r, &fa, i, changed);
        return WEFT_OK;
    }
    /* a plain FusedMatMul without a bias plus a constant row: the bias */
    for (int k = 0; k < 2; k++) {
        fmm f;
        int y = n->inputs[k], c = n->inputs[1 - k];
        if (!private_fmm(r, y, 1, &f) || !plain(&f) || f.bias >= 0 || !weft_rw_const(r, c)) continue;
        const weft_value *cv = &g->values[c];
        const weft_shape *ys = &g->values[y].shape;
        if (cv->dtype != g->values[y].dtype || cv->shape.rank != 1 || !weft_rw_shape_eq(ys, os) || ys->rank < 1 ||
            !weft_dim_eq(cv->shape.d[0], ys->d[ys->rank - 1]))
            continue;
        f.bias = c;
        return emit(r, &f, i, changed);
    }
    /* one term of the sum computes acc + (its own result): the Add, bit for bit */
    if (!sa || !sb) return WEFT_OK;
    if (hb && !fb.act[0] && fb.acc < 0) {
        fb.acc = a;
        return emit(r, &fb, i, changed);
    }
    if (ha && !fa.act[0] && fa.acc < 0) {
        fa.acc = b;
        return emit(r, &fa, i, changed);
    }
    return WEFT_OK;
}

/* --- activations --------------------------------------------------------------------------------- */

/* GELU as the exporters spell it (nn.GELU / F.gelu, transformers' GELU and NewGELU):
 *   exact: x * 0.5 * (1 + Erf(x / sqrt 2))             (or x * (1 / sqrt 2) inside the Erf)
 *   tanh:  x * 0.5 * (1 + Tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))   (x^3 as Pow(x, 3) or x * x * x)
 * with the products in any order and association. A product tree is read as its factors: the leaves
 * of nested Muls whose inner values nothing else reads, the scalar constants multiplied together. */

#define GELU_MAX_FACTORS 8

typedef struct factors {
    int v[GELU_MAX_FACTORS];
    int n;
    double c;     /* the constants' product */
    int x_reads;  /* leaves equal to the x being matched */
    bool ok;
} factors;

static void collect(const weft_rw *r, int v, int x, bool top, factors *f)
{
    double c;
    const weft_node *m = weft_rw_producer_is(r, v, "Mul");
    if (v != x && m && m->n_inputs == 2 && (top || weft_rw_private(r, v, 1))) {
        collect(r, m->inputs[0], x, false, f);
        collect(r, m->inputs[1], x, false, f);
    } else if (v != x && weft_rw_scalar(r, v, &c)) {
        f->c *= c;
    } else if (f->n < GELU_MAX_FACTORS && v >= 0) {
        f->x_reads += v == x;
        f->v[f->n++] = v;
    } else {
        f->ok = false;
    }
}

static factors factors_of(const weft_rw *r, int v, int x)
{
    factors f = {.c = 1.0, .ok = true};
    collect(r, v, x, true, &f);
    return f;
}

static bool near(double a, double b) { return fabs(a - b) <= 1e-6 * fabs(b); }

/* v = Add(1, g(u)) (either order, v read once) with g the default-domain op `fn`: u, else -1. */
static int one_plus(const weft_rw *r, int v, const char *fn)
{
    const weft_node *a = weft_rw_producer_is(r, v, "Add");
    if (!a || a->n_inputs != 2 || !weft_rw_private(r, v, 1)) return -1;
    for (int k = 0; k < 2; k++) {
        double one;
        const weft_node *g = weft_rw_producer_is(r, a->inputs[1 - k], fn);
        if (weft_rw_scalar(r, a->inputs[k], &one) && one == 1.0 && g && g->n_inputs >= 1 &&
            weft_rw_private(r, a->inputs[1 - k], 1))
            return g->inputs[0];
    }
    return -1;
}

/* The chain reading x that computes GELU and ends at value y: "gelu" or "gelu_tanh", with the number
 * of times the chain reads x; NULL when y is not one. */
static const char *gelu_form(const weft_rw *r, int y, int x, int *x_reads)
{
    factors top = factors_of(r, y, x);
    if (!top.ok || top.n != 2 || top.x_reads != 1 || !near(top.c, 0.5)) return NULL;
    int other = top.v[0] == x ? top.v[1] : top.v[0];
    int u = one_plus(r, other, "Erf");
    if (u >= 0) { /* Erf(x / sqrt 2) or Erf(x * (1 / sqrt 2)) */
        const weft_node *d = weft_rw_producer_is(r, u, "Div");
        double c;
        if (d && d->n_inputs == 2 && d->inputs[0] == x && weft_rw_private(r, u, 1) && weft_rw_scalar(r, d->inputs[1], &c) &&
            near(c, 1.4142135623730951)) {
            *x_reads = 2;
            return "gelu";
        }
        factors in = factors_of(r, u, x);
        if (in.ok && in.n == 1 && in.x_reads == 1 && weft_rw_private(r, u, 1) && near(in.c, 0.7071067811865476)) {
            *x_reads = 2;
            return "gelu";
        }
        return NULL;
    }
    u = one_plus(r, other, "Tanh");
    if (u < 0 || !weft_rw_private(r, u, 1)) return NULL;
    factors in = factors_of(r, u, x); /* sqrt(2 / pi) * (x + 0.044715 x^3) */
    if (!in.ok || in.n != 1 || in.x_reads != 0 || !near(in.c, 0.7978845608028654)) return NULL;
    const weft_node *add = weft_rw_producer_is(r, in.v[0], "Add");
    if (!add || add->n_inputs != 2 || !weft_rw_private(r, in.v[0], 1)) return NULL;
    for (int k = 0; k < 2; k++) {
        if (add->inputs[k] != x) continue;
        int cube = add->inputs[1 - k];
        factors cf = factors_of(r, cube, x);
        if (!cf.ok || !weft_rw_private(r, cube, 1)) continue;
        if (cf.n == 3 && cf.x_reads == 3 && near(cf.c, 0.044715)) {
            *x_reads = 5;
            return "gelu_tanh";
        }
        const weft_node *pw = cf.n == 1 ? weft_rw_producer_is(r, cf.v[0], "Pow") : NULL;
        double e;
        if (pw && pw->n_inputs == 2 && pw->inputs[0] == x && weft_rw_private(r, cf.v[0], 1) &&
            weft_rw_scalar(r, pw->inputs[1], &e) && e == 3.0 && near(cf.c, 0.044715)) {
            *x_reads = 3;
            return "gelu_tanh";
        }
    }
    return NULL;
}

/* A GELU chain ending at Mul node i over a FusedMatMul without an activation: its epilogue. */
static weft_status try_gelu(weft_rw *r, int i, int *changed)
{
    const weft_node *n = &r->g->nodes[i];
    if (n->n_inputs != 2 || n->outputs[0] < 0) return WEFT_OK;
    /* the candidate x: a FusedMatMul output among the top product's factors */
    factors top = factors_of(r, n->outputs[0], -2);
    int y = n->outputs[0];
    for (int k = 0; k < top.n; k++) {
        fmm f;
        int x = top.v[k], reads = 0;
        if (read_fmm(r, x, &f)) {
            const char *form = f.act[0] ? NULL : gelu_form(r, y, x, &reads);
            if (!form || !private_fmm(r, x, reads, &f)) continue;
            strcpy(f.act, form);
            f.has_alpha = false;
            return emit(r, &f, i, changed);
        }
        /* GELU of a reshaped product (GPT-2's Conv1D): the activation moves before the Reshape, which
         * then writes the chain's value */
        const weft_node *rs = weft_rw_producer_is(r, x, "Reshape");
        if (!rs || rs->n_inputs < 1 || rs->inputs[0] < 0 || !private_fmm(r, rs->inputs[0], 1, &f) || f.act[0]) continue;
        const char *form = gelu_form(r, y, x, &reads);
        if (!form || !weft_rw_private(r, x, reads)) continue;
        strcpy(f.act, form);
        f.has_alpha = false;
        char base[224];
        snprintf(base, sizeof base, "%s", r->g->nodes[f.node].name);
        int rsi = r->g->values[x].producer;
        weft_status st = emit_to(r, &f, f.node, -1, base, changed);
        if (st) return st;
        weft_rw_take_over(r, rsi, i); /* the Reshape writes the chain's value; the chain is retired */
        return WEFT_OK;
    }
    return WEFT_OK;
}

static weft_status try_activation(weft_rw *r, int i, const char *act, int *changed)
{
    const weft_node *n = &r->g->nodes[i];
    fmm f;
    if (n->n_inputs != 1 || n->inputs[0] < 0 || n->outputs[0] < 0 || !private_fmm(r, n->inputs[0], 1, &f) || f.act[0])
        return WEFT_OK;
    strcpy(f.act, act);
    weft_node_info info = weft_node_view(n);
    const weft_attr *al = weft_attr_find(&info, "alpha");
    f.has_alpha = al != NULL;
    f.alpha = weft_attr_float(&info, "alpha", 0);
    return emit(r, &f, i, changed);
}

static weft_status fusion_graph(weft_rw *r, int *changed)
{
    if (!weft_rw_have("FusedMatMul") || !weft_rw_have("L2Normalize")) return WEFT_OK;
    static const struct { const char *op, *act; } acts[] = {
        {"Relu", "relu"}, {"LeakyRelu", "leaky_relu"}, {"Elu", "elu"}, {"Sigmoid", "sigmoid"}, {"Tanh", "tanh"}};
    /* a rewrite can enable another one upstream of where the sweep is: sweep until nothing changes */
    for (int round = 0; round < 16; round++) {
        int c = 0;
        for (int i = 0; i < r->g->n_nodes; i++) {
            const weft_node *n = &r->g->nodes[i];
            weft_status st = WEFT_OK;
            if (weft_rw_is(n, "Div")) st = try_l2(r, i, &c);
            else if (weft_rw_is_weft(n, "L2Normalize")) st = try_l2_fold(r, i, &c);
            else if (weft_rw_is(n, "Add")) st = try_add(r, i, &c);
            else if (weft_rw_is(n, "Mul")) st = try_gelu(r, i, &c);
            else
                for (size_t k = 0; k < sizeof acts / sizeof *acts; k++)
                    if (weft_rw_is(n, acts[k].op)) st = try_activation(r, i, acts[k].act, &c);
            if (st) return st;
        }
        *changed += c;
        if (!c) break;
    }
    return WEFT_OK;
}

weft_status weft_pass_dense_fusion(weft_graph *g, int *changed)
{
    return weft_rw_each_graph(g, fusion_graph, changed);
}
