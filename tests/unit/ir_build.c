/* tests/unit/ir_build.c — see ir_build.h. */
#include "ir_build.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int irb_typed(weft_graph *g, const char *name, weft_dtype dt, int rank, const int64_t *dims, unsigned flags)
{
    int v = weft_graph_add_value(g, name);
    CU_ASSERT_FATAL(v >= 0);
    g->values[v].dtype = dt;
    g->values[v].shape.rank = rank;
    for (int i = 0; i < rank; i++) g->values[v].shape.d[i] = weft_dim_num(dims[i]);
    g->values[v].flags |= flags | WEFT_VALUE_TYPED;
    return v;
}

int irb_input(weft_graph *g, const char *name, weft_dtype dt, int rank, const int64_t *dims)
{
    int v = irb_typed(g, name, dt, rank, dims, WEFT_VALUE_INPUT);
    int *in = realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof *in);
    CU_ASSERT_FATAL(in != NULL);
    g->inputs = in;
    g->inputs[g->n_inputs++] = v;
    return v;
}

int irb_constant(weft_graph *g, const char *name, weft_dtype dt, int rank, const int64_t *dims, const void *data)
{
    int v = irb_typed(g, name, dt, rank, dims, WEFT_VALUE_INITIALIZER);
    weft_shape s = g->values[v].shape;
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    CU_ASSERT_FATAL(weft_value_set_data(&g->values[v], dt, &s, data, (size_t)n * weft_dtype_size(dt)) == WEFT_OK);
    return v;
}

int irb_node(weft_graph *g, const char *op, const char *domain, int opset, const int *in, int n_in, const char *out,
             int n_out)
{
    int first = -1;
    int nd = weft_graph_add_node(g, op, domain, out, n_in, n_out);
    CU_ASSERT_FATAL(nd >= 0);
    g->nodes[nd].opset = opset;
    memcpy(g->nodes[nd].inputs, in, (size_t)n_in * sizeof *in);
    for (int o = 0; o < n_out; o++) {
        char name[128];
        if (o) snprintf(name, sizeof name, "%s_%d", out, o);
        else snprintf(name, sizeof name, "%s", out);
        int v = weft_graph_add_value(g, name);
        CU_ASSERT_FATAL(v >= 0);
        g->nodes[nd].outputs[o] = v;
        g->values[v].producer = nd;
        if (!o) first = v;
    }
    return first;
}

static weft_node *producer(weft_graph *g, int v) { return &g->nodes[g->values[v].producer]; }

void irb_attr_i(weft_graph *g, int v, const char *name, int64_t i)
{
    weft_attr a = {.name = strdup(name), .type = WEFT_ATTR_INT, .i = i};
    CU_ASSERT_FATAL(weft_node_add_attr(producer(g, v), &a) == WEFT_OK);
}

void irb_attr_f(weft_graph *g, int v, const char *name, float f)
{
    weft_attr a = {.name = strdup(name), .type = WEFT_ATTR_FLOAT, .f = f};
    CU_ASSERT_FATAL(weft_node_add_attr(producer(g, v), &a) == WEFT_OK);
}

void irb_attr_s(weft_graph *g, int v, const char *name, const char *s)
{
    weft_attr a = {.name = strdup(name), .type = WEFT_ATTR_STRING, .s = strdup(s), .s_len = strlen(s)};
    CU_ASSERT_FATAL(weft_node_add_attr(producer(g, v), &a) == WEFT_OK);
}

void irb_attr_ints(weft_graph *g, int v, const char *name, int n, const int64_t *x)
{
    weft_attr a = {.name = strdup(name), .type = WEFT_ATTR_INTS, .n = n, .ints = malloc((size_t)n * sizeof *x + 1)};
    memcpy(a.ints, x, (size_t)n * sizeof *x);
    CU_ASSERT_FATAL(weft_node_add_attr(producer(g, v), &a) == WEFT_OK);
}

void irb_output(weft_graph *g, int v)
{
    int *o = realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof *o);
    CU_ASSERT_FATAL(o != NULL);
    g->outputs = o;
    g->outputs[g->n_outputs++] = v;
    g->values[v].flags |= WEFT_VALUE_OUTPUT;
}
