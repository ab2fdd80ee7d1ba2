/*
 * compiler/pass_channels_last.c — convolutional networks keep their activations channels-last.
 *
 * ONNX stores images channels-first ([N, C, H, W]); oneDNN's fastest float32 convolutions read and
 * write channels-last ([N, H, W, C]) or blocked layouts. Converted at every step, a CNN spends as much
 * time reordering as convolving. This pass rewrites the convolutions and pools of a graph with two or
 * more convolutions into ai.weft ChannelsLast (ops/weft_layout.c), and the ops between them that do not
 * care about the layout into the same ops on channels-last operands, so that a Transpose remains only
 * where a channels-last value meets a reader that wants channels-first (a Flatten, a Reshape, a graph
 * output) and where a channels-first value enters the chain (the input image).
 *
 * Which ops follow the layout:
 *  - wrapped (ChannelsLast): Conv, ai.weft FusedConv, MaxPool (without Indices), AveragePool,
 *    GlobalAveragePool, GlobalMaxPool, on rank 3 to 5 float inputs;
 *  - elementwise, when some input is already channels-last: the unary activations (input 0; Clip's
 *    bounds are scalars), and Add / Sub / Mul / Div / Max / Min / Sum / Mean whose every operand is a
 *    scalar or has the output's rank (permuting every operand the same way keeps broadcasting's meaning,
 *    which is what lets a squeeze-and-excitation scale [N, 1, 1, C] multiply [N, H, W, C]);
 *  - Concat along the channel axis (axis 1 becomes the last);
 *  - ReduceMean / Sum / Max / Min keeping their axes (dynamo's global pooling), the axes moved.
 * A value some other reader needs channels-first keeps its identity: a Transpose writes it from its
 * channels-last twin. A convolution or pool whose input is not channels-last reads it as it is
 * (x_channels_first): the image entering a CNN needs no Transpose. Constants entering an elementwise op
 * of the chain are transposed once by constant folding.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/weft_layout.h"
#include "rewrite.h"

enum { CL_NONE, CL_WRAP, CL_ELT };

static bool is_float(weft_dtype t) { return t == WEFT_FLOAT32 || t == WEFT_FLOAT64; }

static bool in_list(const char *op, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(op, *list) == 0) return true;
    return false;
}

static const char *const unary_ops[] = {"Relu", "LeakyRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
                                        "Elu", "Selu", "Celu", "Softplus", "Softsign", "Neg", "Abs", "Exp", "Erf",
                                        "Sqrt", "Identity", "Mish", "Gelu", "ThresholdedRelu", NULL};
static const char *const nary_ops[] = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", NULL};
static const char *const reduce_ops[] = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", NULL};

/* Where channels-first axis a of a rank-rk tensor sits channels-last. */
static int64_t cl_axis(int64_t a, int rk) { return a == 0 ? 0 : a == 1 ? rk - 1 : a - 1; }

/* The reduction reads its axes from input 1 (else from the attribute). */
static bool axes_input(const weft_node *n)
{
    return n->opset >= 18 || (strcmp(n->op_type, "ReduceSum") == 0 && n->opset >= 13);
}

typedef struct cl_pass {
    weft_rw *r;
    char *kind;  /* per node: CL_* */
    char *xfirst; /* per node: a wrapped op reading its input 0 channels-first (x_channels_first) */
    char *cl;    /* per value: a converted node will write it channels-last */
    int *twin;   /* per value: its channels-last twin, -1 until made */
    int n_nodes; /* nodes before the pass added any */
} cl_pass;

static int rank_of(const weft_graph *g, int v) { return v >= 0 ? g->values[v].shape.rank : -1; }

/* Value v holds one element (a scalar operand broadcasts the same in any layout). */
static bool one_element(const weft_graph *g, int v)
{
    const weft_shape *s = &g->values[v].shape;
    if (s->rank < 0) return false;
    for (int i = 0; i < s->rank; i++)
        if (!weft_dim_known(s->d[i]) || s->d[i].v != 1) return false;
    return true;
}

/* The activation inputs of node i under the conversion (bit k: input k is read channels-last). */
static unsigned act_inputs(const cl_pass *c, int i)
{
    const weft_node *n = &c->r->g->nodes[i];
    unsigned m = 0;
    if (c->kind[i] == CL_WRAP) {
        weft_layout_wraps(n->domain, n->op_type, &m);
        if (c->xfirst[i]) m &= ~1u;
    } else if (c->kind[i] == CL_ELT) {
        if (in_list(n->op_type, unary_ops) || in_list(n->op_type, reduce_ops)) return 1u;
        for (int k = 0; k < n->n_inputs && k < 32; k++)
            if (n->inputs[k] >= 0 && !one_element(c->r->g, n->inputs[k])) m |= 1u << k;
    }
    return m;
}

static int wrap_kind(const weft_rw *r, const weft_node *n)
{
    unsigned act;
    if (!n->def || !weft_layout_wraps(n->domain, n->op_type, &act)) return CL_NONE;
    for (int o = 1; o < n->n_outputs; o++)
        if (n->outputs[o] >= 0) return CL_NONE; /* MaxPool's Indices: channels-first by definition */
    if (n->n_inputs < 1 || n->n_outputs < 1 || n->outputs[0] < 0) return CL_NONE;
    int x = n->inputs[0];
    int rk = rank_of(r->g, x);
    if (x < 0 || rk < 3 || rk > 5 || !is_float(r->g->values[x].dtype)) return CL_NONE;
    if (rank_of(r->g, n->outputs[0]) != rk) return CL_NONE;
    for (int k = 1; k < n->n_inputs && k < 32; k++)
        if ((act >> k & 1u) && n->inputs[k] >= 0 && rank_of(r->g, n->inputs[k]) != rk) return CL_NONE;
    return CL_WRAP;
}

/* Node i can follow the layout of its channels-last inputs (decided in order, so c->cl holds its
 * producers' decisions). */
static int elt_kind(const cl_pass *c, const weft_node *n)
{
    const weft_graph *g = c->r->g;
    if (n->domain[0] || n->n_outputs != 1 || n->outputs[0] < 0 || n->n_inputs < 1) return CL_NONE;
    int y = n->outputs[0], rk = rank_of(g, y);
    if (rk < 3 || rk > 5 || !is_float(g->values[y].dtype)) return CL_NONE;
    if (in_list(n->op_type, unary_ops)) {
        if (n->inputs[0] < 0 || !c->cl[n->inputs[0]] || rank_of(g, n->inputs[0]) != rk) return CL_NONE;
        for (int k = 1; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0 && !one_element(g, n->inputs[k])) return CL_NONE;
        return CL_ELT;
    }
    if (in_list(n->op_type, reduce_ops)) {
        /* a reduction keeping its axes (dynamo's AdaptiveAvgPool2d(1) is ReduceMean over [2, 3]): the
         * same reduction over the axes' channels-last positions */
        int64_t ax[WEFT_MAX_RANK];
        if (n->inputs[0] < 0 || !c->cl[n->inputs[0]] || rank_of(g, n->inputs[0]) != rk) return CL_NONE;
        if (weft_rw_attr_i(n, "keepdims", 1) != 1 || weft_rw_attr_i(n, "noop_with_empty_axes", 0) != 0) return CL_NONE;
        return weft_rw_reduce_axes(c->r, n, rk, ax, WEFT_MAX_RANK) >= 0 ? CL_ELT : CL_NONE;
    }
    bool concat = strcmp(n->op_type, "Concat") == 0;
    if (!concat && !in_list(n->op_type, nary_ops)) return CL_NONE;
    if (concat) {
        int64_t axis = weft_rw_attr_i(n, "axis", 0);
        if (axis != 1 && axis != 1 - rk) return CL_NONE;
    }
    bool any = false;
    for (int k = 0; k < n->n_inputs; k++) {
        int v = n->inputs[k];
        if (v < 0) return CL_NONE;
        if (!concat && one_element(g, v)) continue;
        if (rank_of(g, v) != rk) return CL_NONE;
        any |= c->cl[v] != 0;
    }
    return any ? CL_ELT : CL_NONE;
}

static void perm_to_last(int rk, int64_t *p)
{
    p[0] = 0;
    for (int i = 1; i < rk - 1; i++) p[i] = i + 1;
    p[rk - 1] = 1;
}

static void perm_to_first(int rk, int64_t *p)
{
    p[0] = 0;
    p[1] = rk - 1;
    for (int i = 2; i < rk; i++) p[i] = i - 1;
}

/* A Transpose of v into a new value (to channels-last when `to_last`); the new value, or -1. */
static int transpose(cl_pass *c, int v, bool to_last)
{
    weft_rw *r = c->r;
    const weft_value *val = &r->g->values[v];
    int rk = val->shape.rank;
    weft_shape s;
    if (to_last) weft_layout_shape_to_last(&val->shape, &s);
    else weft_layout_shape_to_first(&val->shape, &s);
    char base[224];
    snprintf(base, sizeof base, "%.200s", val->name);
    int out = weft_rw_value(r, base, to_last ? "nhwc" : "nchw", val->dtype, &s);
    if (out < 0) return -1;
    char name[256];
    snprintf(name, sizeof name, "%.200s/%s", base, to_last ? "to_channels_last" : "to_channels_first");
    int t = weft_rw_node(r, "Transpose", "", 13, name, &v, 1, &out, 1);
    int64_t perm[WEFT_MAX_RANK];
    if (to_last) perm_to_last(rk, perm);
    else perm_to_first(rk, perm);
    if (t < 0 || weft_rw_set_ints(r, t, "perm", perm, rk)) return -1;
    return out;
}

/* v channels-last: its twin, made by a Transpose the first time a converted node reads a value that
 * was not written channels-last. */
static int get_cl(cl_pass *c, int v)
{
    if (c->twin[v] < 0) c->twin[v] = transpose(c, v, true);
    return c->twin[v];
}

/* Some reader of v (or the graph) needs it channels-first. */
static bool needs_first(const cl_pass *c, int v)
{
    const weft_graph *g = c->r->g;
    if (c->r->pinned[v]) return true;
    for (int j = 0; j < c->n_nodes; j++) { /* readers come later in the order: none is converted yet */
        const weft_node *n = &g->nodes[j];
        unsigned m = act_inputs(c, j);
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] == v && !(k < 32 && (m >> k & 1u))) return true;
    }
    return false;
}

static weft_status convert(cl_pass *c, int i)
{
    weft_rw *r = c->r;
    weft_graph *g = r->g;
    unsigned m = act_inputs(c, i);
    int n_in = g->nodes[i].n_inputs;
    int in[32];
    if (n_in > 32) return WEFT_OK;
    for (int k = 0; k < n_in; k++) {
        int v = g->nodes[i].inputs[k];
        in[k] = v >= 0 && (m >> k & 1u) ? get_cl(c, v) : v;
        if (v >= 0 && (m >> k & 1u) && in[k] < 0) return WEFT_ERR_NOMEM;
    }
    int y = g->nodes[i].outputs[0];
    weft_shape ys;
    weft_layout_shape_to_last(&g->values[y].shape, &ys);
    char base[224], name[256];
    snprintf(base, sizeof base, "%.200s", g->values[y].name);
    /* a reduction's axes, moved to their channels-last positions (none given: every axis, as before) */
    int64_t axes[WEFT_MAX_RANK];
    int n_axes = 0;
    if (c->kind[i] == CL_ELT && in_list(g->nodes[i].op_type, reduce_ops)) {
        if ((n_axes = weft_rw_reduce_axes(r, &g->nodes[i], ys.rank, axes, WEFT_MAX_RANK)) < 0) return WEFT_ERR_INTERNAL;
        for (int a = 0; a < n_axes; a++) axes[a] = cl_axis(axes[a], ys.rank);
        if (n_axes && axes_input(&g->nodes[i]) && n_in > 1) {
            if ((in[1] = weft_rw_const_i64(r, base, "axes_nhwc", axes, n_axes, false)) < 0) return WEFT_ERR_NOMEM;
            n_axes = 0; /* given by the input */
        }
    }
    int tw = weft_rw_value(r, base, "nhwc", g->values[y].dtype, &ys);
    if (tw < 0) return WEFT_ERR_NOMEM;
    snprintf(name, sizeof name, "%.200s/channels_last", g->nodes[i].name);
    int k;
    if (c->kind[i] == CL_WRAP) {
        k = weft_rw_node(r, "ChannelsLast", "ai.weft", 1, name, in, n_in, &tw, 1);
    } else {
        char op[64], dom[64];
        snprintf(op, sizeof op, "%s", g->nodes[i].op_type);
        snprintf(dom, sizeof dom, "%s", g->nodes[i].domain);
        k = weft_rw_node(r, op, dom, g->nodes[i].opset, name, in, n_in, &tw, 1);
    }
    if (k < 0) return WEFT_ERR_INTERNAL;
    weft_status st = weft_rw_copy_attrs(r, k, i);
    if (st) return st;
    const weft_node *old = &g->nodes[i];
    if (c->kind[i] == CL_WRAP) {
        char op[64], dom[64];
        snprintf(op, sizeof op, "%s", old->op_type);
        snprintf(dom, sizeof dom, "%s", strcmp(old->domain, "ai.onnx") == 0 ? "" : old->domain);
        int opset = old->opset;
        if ((st = weft_rw_set_string(r, k, "op", op)) || (st = weft_rw_set_string(r, k, "op_domain", dom)) ||
            (st = weft_rw_set_int(r, k, "op_opset", opset)) ||
            (c->xfirst[i] && (st = weft_rw_set_int(r, k, "x_channels_first", 1))))
            return st;
    } else if (strcmp(old->op_type, "Concat") == 0) {
        if ((st = weft_rw_set_int(r, k, "axis", ys.rank - 1))) return st;
    } else if (n_axes > 0 && (st = weft_rw_set_ints(r, k, "axes", axes, n_axes))) {
        return st;
    }
    c->twin[y] = tw;
    if (needs_first(c, y)) {
        int64_t perm[WEFT_MAX_RANK];
        perm_to_first(ys.rank, perm);
        snprintf(name, sizeof name, "%.200s/to_channels_first", base);
        int t = weft_rw_node(r, "Transpose", "", 13, name, &tw, 1, NULL, 1);
        if (t < 0 || weft_rw_set_ints(r, t, "perm", perm, ys.rank)) return WEFT_ERR_INTERNAL;
        weft_rw_take_over(r, t, i);
    } else {
        weft_rw_retire(r, i);
    }
    return WEFT_OK;
}

static weft_status cl_graph(weft_rw *r, int *changed)
{
    weft_graph *g = r->g;
    if (!weft_rw_have("ChannelsLast")) return WEFT_OK;
    int n_nodes = g->n_nodes;
    cl_pass c = {r, calloc((size_t)n_nodes + 1, 1), calloc((size_t)n_nodes + 1, 1), calloc((size_t)g->n_values + 1, 1),
                 malloc(((size_t)g->n_values + 1) * sizeof(int)), n_nodes};
    weft_status st = WEFT_OK;
    if (!c.kind || !c.xfirst || !c.cl || !c.twin) {
        st = weft_error(WEFT_ERR_NOMEM, "out of memory");
        goto done;
    }
    int n_values = g->n_values;
    for (int v = 0; v < n_values; v++) c.twin[v] = -1;
    int convs = 0;
    for (int i = 0; i < n_nodes; i++) {
        const weft_node *n = &g->nodes[i];
        c.kind[i] = (char)wrap_kind(r, n);
        if (c.kind[i] == CL_NONE) c.kind[i] = (char)elt_kind(&c, n);
        if (c.kind[i] == CL_NONE) continue;
        /* a chain's first convolution or pool reads its input as it is (oneDNN converts while it reads):
         * no Transpose where the chain starts */
        if (c.kind[i] == CL_WRAP && !c.cl[n->inputs[0]]) c.xfirst[i] = 1;
        c.cl[n->outputs[0]] = 1;
        if (c.kind[i] == CL_WRAP && (weft_rw_is(n, "Conv") || weft_rw_is_weft(n, "FusedConv"))) convs++;
    }
    /* one convolution gains nothing: its own reorders cost what the Transposes would */
    if (convs < 2) goto done;
    for (int i = 0; i < n_nodes && !st; i++) {
        if (c.kind[i] == CL_NONE) continue;
        if ((st = convert(&c, i)) == WEFT_OK) (*changed)++;
    }
done:
    free(c.kind);
    free(c.xfirst);
    free(c.cl);
    free(c.twin);
    return st;
}

weft_status weft_pass_channels_last(weft_graph *g, int *changed)
{
    int c = 0;
    weft_status st = weft_rw_each_graph(g, cl_graph, &c);
    if (changed) *changed = c;
    return st;
}
