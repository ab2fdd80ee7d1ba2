/*
 * compiler/pass_eltwise.c — chains of elementwise float ops as one FusedElementwise.
 *
 * A group is a set of elementwise nodes (Add, Sub, Mul, Div, Pow, two-input Max / Min, Neg, Abs, Relu,
 * LeakyRelu, Elu, Sigmoid, Tanh, Exp, Log, Sqrt, Reciprocal, Cos, Sin, Erf, Softplus, Gelu) of one
 * float dtype whose outputs all have the same shape, where every value passed between them is read
 * only inside the group (not a graph output, not read by a subgraph). The group's last node keeps its
 * output; its outside inputs become the FusedElementwise's inputs (each broadcastable to that shape,
 * as it was to the node reading it) and scalar constants that a float holds exactly become program
 * constants. Groups of one node are left alone.
 *
 * Bit for bit: each instruction is the ONNX op's own formula in the element type (ops/weft_fused.h),
 * applied in the order the nodes had, on the same operands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/weft_fused.h"
#include "rewrite.h"

#define MAX_GROUP 128

/* The opcode of an elementwise node this pass can fuse, or -1; *alpha its parameter. */
static int opcode(const weft_rw *r, const weft_node *n, float *alpha)
{
    static const struct { const char *op; int code; int n_in; } ops[] = {
        {"Add", WEFT_FUSED_ADD, 2}, {"Sub", WEFT_FUSED_SUB, 2}, {"Mul", WEFT_FUSED_MUL, 2}, {"Div", WEFT_FUSED_DIV, 2},
        {"Max", WEFT_FUSED_MAX, 2}, {"Min", WEFT_FUSED_MIN, 2}, {"Pow", WEFT_FUSED_POW, 2}, {"Neg", WEFT_FUSED_NEG, 1},
        {"Abs", WEFT_FUSED_ABS, 1}, {"Relu", WEFT_FUSED_RELU, 1}, {"LeakyRelu", WEFT_FUSED_LEAKY_RELU, 1},
        {"Elu", WEFT_FUSED_ELU, 1}, {"Sigmoid", WEFT_FUSED_SIGMOID, 1}, {"Tanh", WEFT_FUSED_TANH, 1},
        {"Exp", WEFT_FUSED_EXP, 1}, {"Log", WEFT_FUSED_LOG, 1}, {"Sqrt", WEFT_FUSED_SQRT, 1},
        {"Reciprocal", WEFT_FUSED_RECIPROCAL, 1}, {"Cos", WEFT_FUSED_COS, 1}, {"Sin", WEFT_FUSED_SIN, 1},
        {"Erf", WEFT_FUSED_ERF, 1}, {"Softplus", WEFT_FUSED_SOFTPLUS, 1}, {"Gelu", WEFT_FUSED_GELU, 1}};
    if (n->domain[0] || n->n_outputs != 1 || n->outputs[0] < 0) return -1;
    int k = 0, nk = (int)(sizeof ops / sizeof *ops);
    while (k < nk && strcmp(n->op_type, ops[k].op)) k++;
    if (k == nk || n->n_inputs != ops[k].n_in) return -1;
    const weft_value *out = &r->g->values[n->outputs[0]];
    if ((out->dtype != WEFT_FLOAT32 && out->dtype != WEFT_FLOAT64) || out->shape.rank < 0) return -1;
    for (int i = 0; i < n->n_inputs; i++)
        if (n->inputs[i] < 0 || r->g->values[n->inputs[i]].dtype != out->dtype || r->g->values[n->inputs[i]].shape.rank < 0)
            return -1;
    weft_node_info info = weft_node_view(n);
    *alpha = (float)weft_fused_default_alpha(ops[k].code);
    if (ops[k].code == WEFT_FUSED_LEAKY_RELU || ops[k].code == WEFT_FUSED_ELU)
        *alpha = weft_attr_float(&info, "alpha", *alpha);
    if (ops[k].code == WEFT_FUSED_GELU) {
        const char *a = weft_attr_string(&info, "approximate", "none");
        if (strcmp(a, "none") && strcmp(a, "tanh")) return -1;
        *alpha = strcmp(a, "tanh") == 0;
    }
    return ops[k].code;
}

typedef struct group {
    int node[MAX_GROUP];
    int n;
} group;

static bool in_group(const group *gr, int node)
{
    for (int i = 0; i < gr->n; i++)
        if (gr->node[i] == node) return true;
    return false;
}

/* Reads of v by the group's nodes. */
static int reads_in(const weft_graph *g, const group *gr, int v)
{
    int c = 0;
    for (int i = 0; i < gr->n; i++) {
        const weft_node *n = &g->nodes[gr->node[i]];
        for (int k = 0; k < n->n_inputs; k++) c += n->inputs[k] == v;
    }
    return c;
}

static int by_index(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* A scalar constant a float holds exactly in dtype t: its value. */
static bool program_constant(const weft_rw *r, int v, weft_dtype t, float *out)
{
    double x;
    if (r->g->values[v].dtype != t || !weft_rw_scalar(r, v, &x)) return false;
    float f = (float)x;
    if ((double)f != x && !(x != x)) return false;
    *out = f;
    return true;
}

static weft_status emit(weft_rw *r, group *gr, int root, int *changed)
{
    weft_graph *g = r->g;
    qsort(gr->node, (size_t)gr->n, sizeof *gr->node, by_index); /* the graph is sorted: index order runs */
    weft_dtype t = g->values[g->nodes[root].outputs[0]].dtype;
    int inputs[WEFT_FUSED_MAX_REGS], n_in = 0, n_const = 0;
    float consts[WEFT_FUSED_MAX_REGS], alphas[MAX_GROUP];
    int64_t code[4 * MAX_GROUP];
    int reg_of_node[MAX_GROUP];
    bool any_alpha = false;
    /* outside inputs first: registers 0 .. n_in-1 */
    for (int i = 0; i < gr->n; i++) {
        const weft_node *n = &g->nodes[gr->node[i]];
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k], p = g->values[v].producer;
            float c;
            if ((p >= 0 && in_group(gr, p)) || program_constant(r, v, t, &c)) continue;
            int j = 0;
            while (j < n_in && inputs[j] != v) j++;
            if (j == n_in) {
                if (n_in == WEFT_FUSED_MAX_REGS - MAX_GROUP - 1) return WEFT_OK;
                inputs[n_in++] = v;
            }
        }
    }
    if (n_in == 0) return WEFT_OK; /* all constants: folding's business */
    for (int i = 0; i < gr->n; i++) {
        const weft_node *n = &g->nodes[gr->node[i]];
        float alpha;
        int op = opcode(r, n, &alpha), operand[2] = {0, 0};
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k], p = g->values[v].producer;
            float c;
            if (p >= 0 && in_group(gr, p)) {
                int j = 0;
                while (gr->node[j] != p) j++;
                operand[k] = reg_of_node[j];
            } else if (program_constant(r, v, t, &c)) {
                int j = 0;
                while (j < n_const && memcmp(&consts[j], &c, sizeof c)) j++;
                if (j == n_const) consts[n_const++] = c;
                operand[k] = -1 - j;
            } else {
                int j = 0;
                while (inputs[j] != v) j++;
                operand[k] = j;
            }
        }
        reg_of_node[i] = n_in + i;
        code[4 * i] = op;
        code[4 * i + 1] = n_in + i;
        code[4 * i + 2] = operand[0];
        code[4 * i + 3] = n->n_inputs == 2 ? operand[1] : operand[0];
        alphas[i] = alpha;
        any_alpha |= alpha != (float)weft_fused_default_alpha(op);
    }
    char name[256];
    snprintf(name, sizeof name, "%.200s/fused_elementwise", g->nodes[root].name);
    int k = weft_rw_node(r, "FusedElementwise", "ai.weft", 1, name, inputs, n_in, NULL, 1);
    if (k < 0) return WEFT_ERR_INTERNAL;
    weft_status st = weft_rw_set_ints(r, k, "program", code, 4 * gr->n);
    if (!st && n_const) st = weft_rw_set_floats(r, k, "constants", consts, n_const);
    if (!st && any_alpha) st = weft_rw_set_floats(r, k, "alphas", alphas, gr->n);
    if (st) return st;
    weft_rw_take_over(r, k, root);
    (*changed)++;
    return WEFT_OK;
}

static weft_status eltwise_graph(weft_rw *r, int *changed)
{
    if (!weft_rw_have("FusedElementwise")) return WEFT_OK;
    weft_graph *g = r->g;
    int n0 = g->n_nodes;
    char *taken = calloc((size_t)n0 + 1, 1);
    if (!taken) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    weft_status st = WEFT_OK;
    /* from the last node up: a root is a fusable node not swallowed by a group below it */
    for (int root = n0 - 1; root >= 0 && !st; root--) {
        float alpha;
        if (taken[root] || opcode(r, &g->nodes[root], &alpha) < 0) continue;
        const weft_shape s = g->values[g->nodes[root].outputs[0]].shape;
        group gr = {.node = {root}, .n = 1};
        taken[root] = 1;
        for (bool grew = true; grew && gr.n < MAX_GROUP;) {
            grew = false;
            for (int i = 0; i < gr.n && gr.n < MAX_GROUP; i++) {
                const weft_node *n = &g->nodes[gr.node[i]];
                for (int k = 0; k < n->n_inputs && gr.n < MAX_GROUP; k++) {
                    int v = n->inputs[k], p = v >= 0 ? g->values[v].producer : -1;
                    if (p < 0 || p >= n0 || taken[p] || opcode(r, &g->nodes[p], &alpha) < 0) continue;
                    if (!weft_rw_shape_eq(&g->values[v].shape, &s) || g->values[v].dtype != g->values[g->nodes[root].outputs[0]].dtype)
                        continue;
                    if (r->pinned[v] || r->readers[v] != reads_in(g, &gr, v)) continue; /* read outside too */
                    gr.node[gr.n++] = p;
                    taken[p] = 1;
                    grew = true;
                }
            }
        }
        if (gr.n >= 2) st = emit(r, &gr, root, changed);
    }
    free(taken);
    return st;
}

weft_status weft_pass_eltwise(weft_graph *g, int *changed) { return weft_rw_each_graph(g, eltwise_graph, changed); }
