/*
 * compiler/symval.c — symbolic values of shape tensors.
 *
 * Exporters compute shapes at run time: `ConstantOfShape(Concat(Unsqueeze(Gather(Shape(x), 0)), [8]))`
 * builds zeros of shape [num_nodes, 8]. With symbolic dims these chains cannot fold to numbers, but
 * their *contents* are still known as dims: Shape(x) holds x's dims, numbers or symbols. This module
 * tracks those contents for small int tensors through the ops that shape chains use (Shape, Gather,
 * Slice, Concat, Unsqueeze, Squeeze, Reshape, Identity, Cast, constants, and the Equal / Where pair
 * that exporters use to replace -1s in a shape) and then sharpens the output shapes of the ops that
 * take a shape input (Reshape, with its 0s and -1, Expand, ConstantOfShape), a size (Range) or bounds
 * (Slice), which the ops' own inference, seeing no numbers, leaves as fresh symbols.
 *
 * A symbolic entry is always a dim, never negative: `N + v` is at least v. Bool tensors (Equal's
 * output) hold 0 and 1.
 */
#include <stdlib.h>
#include <string.h>

#include "symval.h"
#include "../ops/movement.h"

static bool is(const weft_node *n, const char *op) { return !n->domain[0] && strcmp(n->op_type, op) == 0; }

/* The symbolic contents of value v into *out; false when unknown. Constants are their own numbers. */
static bool get(const weft_symval *t, const weft_graph *g, int v, weft_symval *out)
{
    if (v < 0) return false;
    const weft_value *val = &g->values[v];
    if ((val->flags & WEFT_VALUE_CONST) && (val->dtype == WEFT_INT64 || val->dtype == WEFT_INT32 || val->dtype == WEFT_BOOL) &&
        val->shape.rank <= 1) {
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

/* Whether two entries are equal: 1, 0, or -1 when that depends on a symbol's value. */
static int dims_equal(weft_dim x, weft_dim y)
{
    if (weft_dim_known(x) && weft_dim_known(y)) return x.v == y.v;
    if (weft_dim_eq(x, y)) return 1;
    if (x.sym == y.sym) return 0; /* N + 1 is never N */
    if (weft_dim_known(x) && x.v < y.v) return 0; /* y = M + v >= v */
    if (weft_dim_known(y) && y.v < x.v) return 0;
    return -1;
}

/* The length of an elementwise result of 1-D (or scalar) operands, each of that length or of 1:
 * r->len and r->scalar (all operands scalars); false if they do not broadcast so. c may be NULL. */
static bool broadcast_len(weft_symval *r, const weft_symval *a, const weft_symval *b, const weft_symval *c)
{
    const weft_symval *ops[3] = {a, b, c};
    r->len = 1;
    r->scalar = true;
    for (int k = 0; k < 3 && ops[k]; k++) {
        if (ops[k]->len != 1 && r->len != 1 && ops[k]->len != r->len) return false;
        if (ops[k]->len != 1) r->len = ops[k]->len;
        r->scalar &= ops[k]->scalar;
    }
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
    } else if (is(n, "Equal") && n->n_inputs == 2) {
        weft_symval a, b;
        if (!get(t, g, n->inputs[0], &a) || !get(t, g, n->inputs[1], &b)) return;
        if (!broadcast_len(&r, &a, &b, NULL)) return;
        for (int i = 0; i < r.len; i++) {
            weft_dim x = a.d[a.len == 1 ? 0 : i], y = b.d[b.len == 1 ? 0 : i];
            int e = dims_equal(x, y);
            if (e < 0) return;
            r.d[i] = weft_dim_num(e);
        }
    } else if (is(n, "Where") && n->n_inputs == 3) {
        weft_symval c, a, b;
        if (!get(t, g, n->inputs[0], &c) || !get(t, g, n->inputs[1], &a) || !get(t, g, n->inputs[2], &b)) return;
        if (!broadcast_len(&r, &c, &a, &b)) return;
        for (int i = 0; i < r.len; i++) {
            weft_dim k = c.d[c.len == 1 ? 0 : i];
            if (!weft_dim_known(k)) return;
            r.d[i] = k.v ? a.d[a.len == 1 ? 0 : i] : b.d[b.len == 1 ? 0 : i];
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

/* Range(start, limit, delta)'s length max(ceil((limit - start) / delta), 0) when the scalars' symbolic
 * values tell it: all numbers, or delta 1 with limit - start a symbol plus a number >= 0 (so never
 * negative), or with limit and start the same symbol. */
static void refine_range(const weft_symval *t, weft_graph *g, const weft_node *n)
{
    weft_symval a[3];
    for (int i = 0; i < 3; i++)
        if (!get(t, g, n->inputs[i], &a[i]) || a[i].len != 1) return;
    weft_shape *o = &g->values[n->outputs[0]].shape;
    if (o->rank != 1 || weft_dim_known(o->d[0])) return;
    weft_dim s = a[0].d[0], l = a[1].d[0], dl = a[2].d[0];
    if (!weft_dim_known(dl) || dl.v == 0) return;
    if (weft_dim_known(s) && weft_dim_known(l)) {
        /* |values| stay far from overflow: they came from dims and small constants */
        if (s.v < -((int64_t)1 << 61) || s.v > ((int64_t)1 << 61) || l.v < -((int64_t)1 << 61) || l.v > ((int64_t)1 << 61))
            return;
        int64_t span = l.v - s.v, q;
        if (dl.v > 0) q = span > 0 ? (span + dl.v - 1) / dl.v : 0;
        else q = span < 0 ? (-span + -dl.v - 1) / -dl.v : 0;
        o->d[0] = weft_dim_num(q);
    } else if (dl.v == 1 && weft_dim_known(s) && !weft_dim_known(l) && l.v - s.v >= 0) {
        o->d[0] = weft_dim_add(l, -s.v);
    } else if (dl.v == 1 && !weft_dim_known(s) && s.sym == l.sym) {
        o->d[0] = weft_dim_num(l.v > s.v ? l.v - s.v : 0);
    }
}

/* Slice (opset 10+) with run-time starts / ends: an axis it does not slice keeps its dim, and so does
 * one sliced from 0 with step 1 to the dim itself (x[:, :x.shape[1]]) or past any size. */
static void refine_slice(const weft_symval *t, weft_graph *g, const weft_node *n)
{
    if (n->inputs[0] < 0) return;
    const weft_shape *in = &g->values[n->inputs[0]].shape;
    weft_shape *o = &g->values[n->outputs[0]].shape;
    if (in->rank < 0 || o->rank != in->rank) return;
    weft_symval st, en, ax, sp;
    if (!get(t, g, n->inputs[1], &st) || !get(t, g, n->inputs[2], &en) || st.len != en.len) return;
    bool has_ax = n->n_inputs > 3 && n->inputs[3] >= 0, has_sp = n->n_inputs > 4 && n->inputs[4] >= 0;
    if ((has_ax && (!get(t, g, n->inputs[3], &ax) || ax.len != st.len)) ||
        (has_sp && (!get(t, g, n->inputs[4], &sp) || sp.len != st.len)))
        return;
    int axis_of[WEFT_MAX_RANK];
    bool sliced[WEFT_MAX_RANK] = {false};
    for (int i = 0; i < st.len; i++) {
        int64_t a = i;
        if (has_ax) {
            if (!weft_dim_known(ax.d[i])) return;
            a = ax.d[i].v < 0 ? ax.d[i].v + in->rank : ax.d[i].v;
        }
        if (a < 0 || a >= in->rank || sliced[a]) return; /* the op's own checks report it */
        sliced[a] = true;
        axis_of[i] = (int)a;
    }
    for (int a = 0; a < in->rank; a++)
        if (!sliced[a] && !weft_dim_known(o->d[a])) o->d[a] = in->d[a];
    for (int i = 0; i < st.len; i++) {
        int a = axis_of[i];
        weft_dim s = st.d[i], e = en.d[i];
        if (weft_dim_known(o->d[a]) || (has_sp && (!weft_dim_known(sp.d[i]) || sp.d[i].v != 1))) continue;
        if (!weft_dim_known(s) || s.v != 0) continue;
        if (weft_dim_eq(e, in->d[a]) || (weft_dim_known(e) && e.v >= (int64_t)1 << 62)) o->d[a] = in->d[a];
    }
}

void weft_symval_refine(const weft_symval *t, weft_graph *g, const weft_node *n)
{
    if (n->n_outputs < 1 || n->outputs[0] < 0) return;
    if (is_weft(n, "CSR") || is_weft(n, "SegmentReduce")) {
        refine_segments(t, g, n);
        return;
    }
    if (is(n, "Range")) {
        if (n->n_inputs == 3) refine_range(t, g, n);
        return;
    }
    if (is(n, "Slice")) {
        if (n->opset >= 10 && n->n_inputs >= 3) refine_slice(t, g, n);
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
        int minus1 = -1, n_minus1 = 0;
        for (int i = 0; i < s.len; i++) {
            weft_dim d = s.d[i];
            if (weft_dim_known(d) && d.v == -1) minus1 = i, n_minus1++;
            if (weft_dim_known(o->d[i])) continue;
            if (!weft_dim_known(d)) o->d[i] = d;
            else if (d.v == 0 && !allowzero && in && in->rank > i) o->d[i] = in->d[i];
            else if (d.v > 0) o->d[i] = d;
        }
        /* The -1 once the other dims are known: the element counts, with symbols, must agree. */
        weft_dim d;
        if (n_minus1 == 1 && !weft_dim_known(o->d[minus1]) && in && in->rank >= 0 &&
            weft_movement_reshape_minus1(in, o, minus1, &d))
            o->d[minus1] = d;
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
