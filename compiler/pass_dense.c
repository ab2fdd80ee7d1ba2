/*
 * compiler/pass_dense.c — dense layers in one form: `MatMul(X, W) [+ bias]` and `Gemm(A, B, C)` with
 * constant weights become `ai.weft.FusedMatMul(X, W', bias)`, W' a constant in [K, M] row-major layout
 * (Gemm's transB transposes it here, at compile time, instead of in every run).
 *
 * Weights computed at run time — a training plan's parameters, which are inputs, and the gradients'
 * products — take the same form without packing: W is read as it is, a transB weight through
 * FusedMatMul's `transpose`, and the bias may be any [M] value. Only exact forms are taken there (alpha
 * and beta 1, a bias of rank 1), since nothing can be scaled at compile time.
 *
 * Exactness. FusedMatMul's reference sums the products in double, k ascending, rounds once to T and
 * then adds the bias in T (ops/weft_dense.c), which is exactly MatMul followed by Add. Gemm computes
 * alpha * (A B) + beta * C in double and rounds once; here alpha is folded into W' and beta into the
 * bias only where that is exact (alpha, beta powers of two and every scaled element representable:
 * scaling by a power of two commutes with every rounding of the sum), and the bias is then added after
 * the rounding instead of before: the two differ by at most one rounding of the result (an ulp). Gemm
 * with transA, a C that is not a row vector, or scales that are not exact stays a Gemm.
 *
 * Weights only the Gemm reads are packed in place (the plan carries one copy); weights something else
 * reads too stay as they are, next to a packed copy.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite.h"

static bool float_dtype(weft_dtype t) { return t == WEFT_FLOAT32 || t == WEFT_FLOAT64; }

/* s * x is exact in dtype t for every element of data (s a power of two, nothing overflows or falls
 * into the subnormals); writes the scaled copy into out. */
static bool scale_exact(weft_dtype t, const void *data, int64_t n, double s, void *out)
{
    int e;
    if (!(s > 0 || s < 0) || fabs(frexp(s, &e)) != 0.5) return false;
    for (int64_t i = 0; i < n; i++) {
        double x = weft_load_f64(t, data, i);
        weft_store_f64(t, out, i, x * s);
        double y = weft_load_f64(t, out, i);
        if (!isfinite(y) && isfinite(x)) return false;
        if (y / s != x && !(isnan(x) && isnan(y))) return false;
        double lim = t == WEFT_FLOAT32 ? 1.17549435e-38 : 2.2250738585072014e-308;
        if (y != 0 && fabs(y) < lim) return false;
    }
    return true;
}

/* A constant bias of M elements for a [.., M] result: [M], or [1, ..., 1, M] of rank <= out_rank. */
static bool bias_shape(const weft_value *b, int64_t M, int out_rank)
{
    if (b->shape.rank < 1 || b->shape.rank > out_rank || !weft_shape_known(&b->shape)) return false;
    for (int d = 0; d + 1 < b->shape.rank; d++)
        if (b->shape.d[d].v != 1) return false;
    return b->shape.d[b->shape.rank - 1].v == M;
}

typedef struct dense {
    int x, w;   /* X and the [K, M] weight constant (or a run-time [K, M] / [M, K] weight) */
    int bias;   /* [M] value or -1 */
    int last;   /* the node whose output the FusedMatMul writes */
    bool trans; /* w is a run-time [M, K] weight */
} dense;


/* An Add(y, b) / Add(b, y) reading the private y with a constant bias (or, with `live`, any [M]
 * value): its node index, bias value. */
static int bias_add(weft_rw *r, int y, int64_t M, int *bias, bool live)
{
    const weft_graph *g = r->g;
    if (!weft_rw_private(r, y, 1)) return -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const weft_node *n = &g->nodes[i];
        if (!weft_rw_is(n, "Add") || n->n_inputs != 2 || (n->inputs[0] != y && n->inputs[1] != y)) continue;
        int b = n->inputs[0] == y ? n->inputs[1] : n->inputs[0];
        const weft_value *bv = &g->values[b], *yv = &g->values[y];
        if (b == y || !(weft_rw_const(r, b) || (live && bv->shape.rank == 1))) return -1;
        if (bv->dtype != yv->dtype || !bias_shape(bv, M, yv->shape.rank) || n->outputs[0] < 0) return -1;
        if (!weft_rw_shape_eq(&g->values[n->outputs[0]].shape, &yv->shape)) return -1;
        *bias = b;
        return i;
    }
    return -1;
}

/* A [M] copy of a bias constant (the op takes exactly [M]), scaled by s. -1 if not exact. */
static int bias_const(weft_rw *r, int b, int64_t M, double s)
{
    const weft_value *bv = &r->g->values[b];
    if (s == 1 && bv->shape.rank == 1) return b;
    size_t es = weft_dtype_size(bv->dtype);
    void *buf = malloc((size_t)M * es + 1);
    if (!buf) return -1;
    int64_t n = (int64_t)(bv->nbytes / es);
    bool ok = true;
    if (n == M) ok = scale_exact(bv->dtype, bv->data, M, s, buf);
    else if (n == 1) {
        double x = weft_load_f64(bv->dtype, bv->data, 0);
        for (int64_t i = 0; i < M; i++) weft_store_f64(bv->dtype, buf, i, x);
        ok = scale_exact(bv->dtype, buf, M, s, buf);
    } else ok = false;
    int v = -1;
    weft_shape sh = {.rank = 1, .d = {weft_dim_num(M)}};
    if (ok) v = weft_rw_constant(r, bv->name, "bias", bv->dtype, &sh, buf, (size_t)M * es);
    free(buf);
    return v;
}

static weft_status emit(weft_rw *r, const dense *d, const char *name, int *changed)
{
    int in[3] = {d->x, d->w, d->bias};
    int i = weft_rw_node(r, "FusedMatMul", "ai.weft", 1, name, in, d->bias >= 0 ? 3 : 2, NULL, 1);
    if (i < 0) return WEFT_ERR_INTERNAL;
    weft_status st = weft_rw_set_int(r, i, "terms", 1);
    if (!st && d->trans) st = weft_rw_set_ints(r, i, "transpose", (const int64_t[]){1}, 1);
    if (st) return st;
    weft_rw_take_over(r, i, d->last);
    (*changed)++;
    return WEFT_OK;
}

/* MatMul(X, W const [K, M]) with X of rank >= 2. */
static weft_status try_matmul(weft_rw *r, int i, int *changed)
{
    const weft_graph *g = r->g;
    const weft_node *n = &g->nodes[i];
    if (n->n_inputs != 2 || n->inputs[0] < 0 || n->inputs[1] < 0 || n->outputs[0] < 0) return WEFT_OK;
    const weft_value *x = &g->values[n->inputs[0]], *w = &g->values[n->inputs[1]];
    if (!float_dtype(x->dtype) || w->dtype != x->dtype || x->shape.rank < 2) return WEFT_OK;
    if (w->shape.rank != 2 || !weft_shape_known(&w->shape)) return WEFT_OK;
    bool live = !weft_rw_const(r, n->inputs[1]);
    dense d = {n->inputs[0], n->inputs[1], -1, i, false};
    char name[256];
    snprintf(name, sizeof name, "%.200s/fused", n->name);
    int b, add = bias_add(r, n->outputs[0], w->shape.d[1].v, &b, live);
    if (add >= 0 && (d.bias = bias_const(r, b, w->shape.d[1].v, 1.0)) >= 0) d.last = add;
    return emit(r, &d, name, changed);
}

/* Gemm(A, B, C) with transA = 0 and B computed at run time: alpha = beta = 1, C absent or [M]. */
static weft_status try_gemm_live(weft_rw *r, int i, bool tb, double alpha, double beta, int *changed)
{
    const weft_graph *g = r->g;
    const weft_node *n = &g->nodes[i];
    const weft_value *bv = &g->values[n->inputs[1]];
    int64_t M = bv->shape.d[tb ? 0 : 1].v;
    int c = n->n_inputs >= 3 ? n->inputs[2] : -1;
    if (alpha != 1 || (c >= 0 && beta != 1)) return WEFT_OK;
    if (c >= 0) {
        const weft_value *cv = &g->values[c];
        if (cv->dtype != bv->dtype || cv->shape.rank != 1 || !weft_shape_known(&cv->shape) || cv->shape.d[0].v != M)
            return WEFT_OK;
    }
    dense d = {n->inputs[0], n->inputs[1], c, i, tb};
    char name[256];
    snprintf(name, sizeof name, "%.200s/fused", n->name);
    int b, add;
    if (d.bias < 0 && (add = bias_add(r, n->outputs[0], M, &b, true)) >= 0) d.bias = b, d.last = add;
    return emit(r, &d, name, changed);
}

/* Gemm(A, B const, C) with transA = 0. */
static weft_status try_gemm(weft_rw *r, int i, int *changed)
{
    weft_graph *g = r->g;
    const weft_node *n = &g->nodes[i];
    if (n->n_inputs < 2 || n->inputs[0] < 0 || n->inputs[1] < 0 || n->outputs[0] < 0) return WEFT_OK;
    weft_node_info info = weft_node_view(n);
    if (weft_attr_int(&info, "transA", 0) != 0) return WEFT_OK;
    bool tb = weft_attr_int(&info, "transB", 0) != 0;
    double alpha = weft_attr_float(&info, "alpha", 1.0f), beta = weft_attr_float(&info, "beta", 1.0f);
    const weft_value *a = &g->values[n->inputs[0]], *bv = &g->values[n->inputs[1]];
    if (!float_dtype(a->dtype) || bv->dtype != a->dtype || a->shape.rank != 2) return WEFT_OK;
    if (bv->shape.rank != 2 || !weft_shape_known(&bv->shape)) return WEFT_OK;
    if (!weft_rw_const(r, n->inputs[1])) return try_gemm_live(r, i, tb, alpha, beta, changed);
    int64_t K = bv->shape.d[tb ? 1 : 0].v, M = bv->shape.d[tb ? 0 : 1].v;
    int c = n->n_inputs >= 3 ? n->inputs[2] : -1;
    const weft_value *cv = c >= 0 ? &g->values[c] : NULL;
    if (cv && (!(cv->flags & WEFT_VALUE_CONST) || !cv->data || (cv->flags & WEFT_VALUE_INPUT) || cv->dtype != a->dtype))
        return WEFT_OK;
    if (cv && beta != 0 && !(bias_shape(cv, M, 2) || cv->nbytes == weft_dtype_size(cv->dtype))) return WEFT_OK;
    if (cv && beta == 0) { /* beta * C is 0 unless C holds an infinity or NaN */
        for (int64_t k = 0; k < (int64_t)(cv->nbytes / weft_dtype_size(cv->dtype)); k++)
            if (!isfinite(weft_load_f64(cv->dtype, cv->data, k))) return WEFT_OK;
    }
    /* bias = beta * C first: it is the small one to throw away when alpha turns out inexact */
    int bias = -1;
    if (c >= 0 && beta != 0 && (bias = bias_const(r, c, M, beta)) < 0) return WEFT_OK;
    n = &g->nodes[i];
    bv = &g->values[n->inputs[1]];
    /* W' = alpha * B (transposed when transB), [K, M] */
    size_t es = weft_dtype_size(bv->dtype);
    int w = n->inputs[1];
    if (tb || alpha != 1) {
        void *buf = malloc((size_t)(K * M) * es + 1), *t = malloc((size_t)(K * M) * es + 1);
        bool ok = buf && t;
        if (ok && !tb) {
            memcpy(t, bv->data, (size_t)(K * M) * es);
        } else if (ok && es == 4) {
            const uint32_t *src = bv->data;
            uint32_t *dst = t;
            for (int64_t m = 0; m < M; m++)
                for (int64_t k = 0; k < K; k++) dst[k * M + m] = src[m * K + k];
        } else if (ok) {
            const uint64_t *src = bv->data;
            uint64_t *dst = t;
            for (int64_t m = 0; m < M; m++)
                for (int64_t k = 0; k < K; k++) dst[k * M + m] = src[m * K + k];
        }
        if (ok) {
            ok = alpha == 1 ? (memcpy(buf, t, (size_t)(K * M) * es), true) : scale_exact(bv->dtype, t, K * M, alpha, buf);
        }
        weft_shape ws = {.rank = 2, .d = {weft_dim_num(K), weft_dim_num(M)}};
        if (ok && weft_rw_private(r, w, 1)) {
            /* only this Gemm reads the weights: packed where they are, so the plan keeps one copy */
            weft_value *wv = &g->values[w];
            memcpy(wv->data, buf, (size_t)(K * M) * es);
            wv->shape = ws;
        } else if (ok) {
            w = weft_rw_constant(r, bv->name, tb ? "packed_KxM" : "scaled", bv->dtype, &ws, buf, (size_t)(K * M) * es);
        }
        free(buf);
        free(t);
        if (!ok) return WEFT_OK;
        if (w < 0) return weft_error(WEFT_ERR_NOMEM, "out of memory packing the weights of node '%s'", g->nodes[i].name);
    }
    n = &g->nodes[i];
    dense d = {n->inputs[0], w, bias, i, false};
    char name[256];
    snprintf(name, sizeof name, "%.200s/fused", g->nodes[i].name);
    int b, add;
    if (d.bias < 0 && (add = bias_add(r, g->nodes[i].outputs[0], M, &b, false)) >= 0 && (d.bias = bias_const(r, b, M, 1.0)) >= 0)
        d.last = add;
    return emit(r, &d, name, changed);
}

static weft_status dense_graph(weft_rw *r, int *changed)
{
    if (!weft_rw_have("FusedMatMul")) return WEFT_OK;
    int n0 = r->g->n_nodes; /* the nodes made here are already in the new form */
    for (int i = 0; i < n0; i++) {
        const weft_node *n = &r->g->nodes[i];
        weft_status st = WEFT_OK;
        if (weft_rw_is(n, "MatMul")) st = try_matmul(r, i, changed);
        else if (weft_rw_is(n, "Gemm")) st = try_gemm(r, i, changed);
        if (st) return st;
    }
    return WEFT_OK;
}

weft_status weft_pass_dense(weft_graph *g, int *changed) { return weft_rw_each_graph(g, dense_graph, changed); }
