/*
 * compiler/symval.c — symbolic values of shape tensors.
 *
 * Exporters compute shapes at run time: `ConstantOfShape(Concat(Unsqueeze(Gather(Shape(x), 0)), [8]))`
 * builds zeros of shape [num_nodes, 8]. With symbolic dims these chains cannot fold to numbers, but
 * their *contents* are still known as dims: Shape(x) holds x's dims, numbers or symbols. This module
 * tracks those contents for small int tensors through the ops that shape chains use (Shape, Gather,
 * Slice, Concat, Unsqueeze, Squeeze, Reshape, Identity, Cast, constants) and then sharpens the output
 * shapes of the ops that take a shape input (Reshape, Expand, ConstantOfShape), which the ops' own
 * inference, seeing no numbers, leaves as fresh symbols.
 */
#include <stdlib.h>
#include <string.h>

#include "symval.h"

static bool is(const weft_node *n, const char *op) { return !n->domain[0] && strcmp(n->op_type, op) == 0; }

/* The symbolic contents of value v into *out; false when unknown. Constants are their own numbers. */
static bool get(const weft_symval *t, const weft_graph *g, int v, weft_symval *out)
{
    if (v < 0) return false;
    const weft_value *val = &g->values[v];
    if ((val->flags & WEFT_VALUE_CONST) && (val->dtype == WEFT_INT64 || val->dtype == WEFT_INT32) && val->shape.rank <= 1) {
        int64_t n = (int64_t)(val->nbytes / weft_dtype_size(val->dtype));
        if (n > WEFT_MAX_RANK) return false;
        out->len = (int)n;
        out->scalar = val->shape.rank == 0;
        for (int i = 0; i < out->len; i++) out->d[i] = weft_dim_num(weft_load_i64(val->dtype, val->data, i));
        return true;
    }
    if (t[v].len < 0) return false;
    *out = t[v];
    return true;
}

/* A known small int index from a constant, or false. */
static bool const_int(const weft_graph *g, int v, int64_t *out)
{
    if (v < 0) return false;
    const weft_value *val = &g->values[v];
    if (!(val->flags & WEFT_VALUE_CONST) || (val->dtype != WEFT_INT64 && val->dtype != WEFT_INT32)) return false;
    if (val->nbytes != weft_dtype_size(val->dtype)) return false;
    *out = weft_load_i64(val->dtype, val->data, 0);
    return true;
}

void weft_symval_propagate(weft_symval *t, const weft_graph *g, const weft_node *n)
{
    if (n->n_outputs < 1 || n->outputs[0] < 0) return;
    weft_symval *out = &t[n->outputs[0]];
    weft_symval r = {.len = -1};
    weft_node_info info = weft_node_view(n);
    if (is(n, "Shape") && n->inputs[0] >= 0) {
        const weft_shape *s = &g->values[n->inputs[0]].shape;
        if (s->rank < 0) return;
        int64_t start = weft_attr_int(&info, "start", 0), end = weft_attr_int(&info, "end", s->rank);
        if (start < 0) start += s->rank;
        if (end < 0) end += s->rank;
        if (start < 0) start = 0;
        if (end > s->rank) end = s->rank;
        r.len = 0;
        for (int64_t i = start; i < end; i++) r.d[r.len++] = s->d[i];
    } else if ((is(n, "Identity") || is(n, "Cast") || is(n, "Unsqueeze") || is(n, "Squeeze") || is(n, "Reshape")) && n->n_inputs >= 1) {
        weft_symval a;
        if (!get(t, g, n->inputs[0], &a)) return;
        if (is(n, "Cast") && weft_attr_int(&info, "to", 0) != WEFT_INT64 && weft_attr_int(&info, "to", 0) != WEFT_INT32) return;
        r = a;
        const weft_shape *os = &g->values[n->outputs[0]].shape;
        r.scalar = os->rank == 0;
        if (os->rank > 1) return; /* only scalars and vectors hold shapes */
    } else if (is(n, "Gather") && n->n_inputs == 2) {
        weft_symval a, ix;
        int64_t k;
        if (!get(t, g, n->inputs[0], &a) || weft_attr_int(&info, "axis", 0) != 0 || a.scalar) return;
        const weft_value *iv = &g->values[n->inputs[1]];
        if (!const_int(g, n->inputs[1], &k)) {
            /* a 1-D constant index list */
            if (!(iv->flags & WEFT_VALUE_CONST) || !get(t, g, n->inputs[1], &ix)) return;
            r.len = 0;
            for (int i = 0; i < ix.len; i++) {
                int64_t j = ix.d[i].v;
                if (j < 0) j += a.len;
                if (j < 0 || j >= a.len) return;
                r.d[r.len++] = a.d[j];
            }
            r.scalar = false;
        } else {
            if (k < 0) k += a.len;
            if (k < 0 || k >= a.len) return;
            r.len = 1;
            r.d[0] = a.d[k];
            r.scalar = iv->shape.rank == 0;
        }
    } else if (is(n, "Concat")) {
        if (weft_attr_int(&info, "axis", 0) != 0 && weft_attr_int(&info, "axis", 0) != -1) return;
        r.len = 0;
        for (int k = 0; k < n->n_inputs; k++) {
            weft_symval a;
            if (!get(t, g, n->inputs[k], &a) || r.len + a.len > WEFT_MAX_RANK) return;
            for (int i = 0; i < a.len; i++) r.d[r.len++] = a.d[i];
        }
    } else if (is(n, "Slice") && n->n_inputs >= 3) {
        weft_symval a;
        if (!get(t, g, n->inputs[0], &a)) return;
        int64_t s, e, step = 1;
        if (!const_int(g, n->inputs[1], &s) || !const_int(g, n->inputs[2], &e)) return;
        if (n->n_inputs >= 5 && n->inputs[4] >= 0 && (!const_int(g, n->inputs[4], &step) || step != 1)) return;
        if (s < 0) s += a.len;
        if (e < 0) e += a.len;
        if (s < 0) s = 0;
        if (e > a.len) e = a.len;
        r.len = 0;
        for (int64_t i = s; i < e; i++) r.d[r.len++] = a.d[i];
    } else {
        return;
    }
    *out = r;
}

static bool is_weft(const weft_node *n, const char *op) { return strcmp(n->domain, "ai.weft") == 0 && strcmp(n->op_type, op) == 0; }

/* Segment counts: CSR's offsets are [num_segments + 1]; SegmentReduce's output without init has
 * num_segments rows. */
static void refine_segments(const weft_symval *t, weft_graph *g, const weft_node *n)
{
    weft_symval s;
    if (n->n_inputs < 2 || !get(t, g, n->inputs[1], &s) || s.len != 1) return;
    bool csr = is_weft(n, "CSR");
    if (!csr && n->n_inputs > 3 && n->inputs[3] >= 0) return; /* SegmentReduce with init: init's shape */
    weft_shape *o = &g->values[n->outputs[0]].shape;
    if (o->rank >= 1 && !weft_dim_known(o->d[0])) o->d[0] = csr ? weft_dim_add(s.d[0], 1) : s.d[0];
}

void weft_symval_refine(const weft_symval *t, weft_graph *g, const weft_node *n)
{
    if (n->n_outputs < 1 || n->outputs[0] < 0) return;
    if (is_weft(n, "CSR") || is_weft(n, "SegmentReduce")) {
        refine_segments(t, g, n);
        return;
    }
    int shape_in = is(n, "ConstantOfShape") ? 0 : (is(n, "Reshape") || is(n, "Expand")) ? 1 : -1;
    if (shape_in < 0 || n->n_inputs <= shape_in) return;
    weft_symval s;
    weft_value *ov = &g->values[n->outputs[0]];
    if (!get(t, g, n->inputs[shape_in], &s) || ov->shape.rank < 0) return;
    const weft_shape *in = n->inputs[0] >= 0 ? &g->values[n->inputs[0]].shape : NULL;
    weft_shape *o = &ov->shape;
    if (is(n, "ConstantOfShape")) {
        if (o->rank != s.len) return;
        for (int i = 0; i < s.len; i++)
            if (!weft_dim_known(o->d[i])) o->d[i] = s.d[i];
    } else if (is(n, "Reshape")) {
        if (o->rank != s.len) return;
        weft_node_info info = weft_node_view(n);
        bool allowzero = weft_attr_int(&info, "allowzero", 0) != 0;
        for (int i = 0; i < s.len; i++) {
            if (weft_dim_known(o->d[i])) continue;
            weft_dim d = s.d[i];
            if (!weft_dim_known(d)) o->d[i] = d;
            else if (d.v == 0 && !allowzero && in && in->rank > i) o->d[i] = in->d[i];
            else if (d.v > 0) o->d[i] = d;
        }
    } else { /* Expand: broadcast of the input's shape with the target */
        if (!in || in->rank < 0) return;
        int R = o->rank;
        if (R != (s.len > in->rank ? s.len : in->rank)) return;
        for (int i = 0; i < R; i++) {
            if (weft_dim_known(o->d[i])) continue;
            int a = i - (R - in->rank), b = i - (R - s.len);
            weft_dim x = a >= 0 ? in->d[a] : weft_dim_num(1), y = b >= 0 ? s.d[b] : weft_dim_num(1);
            if (weft_dim_known(x) && x.v == 1) o->d[i] = y;
            else if (weft_dim_known(y) && y.v == 1) o->d[i] = x;
            else if (weft_dim_eq(x, y)) o->d[i] = x;
        }
    }
}
