/* runtime/graph_edit.c — see graph_edit.h. */
#include "graph_edit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/status.h"

static weft_status nomem(weft_gedit *e)
{
    if (!e->st) e->st = weft_error(WEFT_ERR_NOMEM, "out of memory");
    return e->st;
}

int weft_gedit_value(weft_gedit *e, const char *name)
{
    if (e->st) return -1;
    char buf[160];
    if (!name) snprintf(buf, sizeof buf, "%s__%d", e->prefix, e->serial++), name = buf;
    int v = weft_graph_add_value(e->g, name);
    if (v < 0) nomem(e);
    return v;
}

int weft_gedit_op(weft_gedit *e, const char *type, const char *domain, int opset, const int *in, int n_in,
                  const char *out)
{
    if (e->st) return -1;
    char name[160];
    snprintf(name, sizeof name, "%s/%s_%d", e->prefix, type, e->serial);
    int nd = weft_graph_add_node(e->g, type, domain, name, n_in, 1);
    int v = weft_gedit_value(e, out);
    if (nd < 0 || v < 0) {
        nomem(e);
        return -1;
    }
    weft_node *n = &e->g->nodes[nd];
    n->opset = opset;
    memcpy(n->inputs, in, (size_t)n_in * sizeof *in);
    n->outputs[0] = v;
    e->g->values[v].producer = nd;
    return v;
}

static void add_attr(weft_gedit *e, int v, weft_attr *a)
{
    if (e->st) return;
    size_t n = strlen(a->name) + 1;
    char *copy = malloc(n);
    if (!copy) {
        nomem(e);
        return;
    }
    memcpy(copy, a->name, n);
    a->name = copy;
    if (weft_node_add_attr(&e->g->nodes[e->g->values[v].producer], a)) {
        free(copy);
        nomem(e);
    }
}

void weft_gedit_attr_int(weft_gedit *e, int v, const char *name, int64_t i)
{
    weft_attr a = {.name = (char *)name, .type = WEFT_ATTR_INT, .i = i};
    add_attr(e, v, &a);
}

void weft_gedit_attr_float(weft_gedit *e, int v, const char *name, float f)
{
    weft_attr a = {.name = (char *)name, .type = WEFT_ATTR_FLOAT, .f = f};
    add_attr(e, v, &a);
}

int weft_gedit_input(weft_gedit *e, const char *name, weft_dtype dt, int rank, const weft_dim *dims)
{
    int v = weft_gedit_value(e, name);
    if (v < 0) return -1;
    weft_value *val = &e->g->values[v];
    val->dtype = dt;
    val->shape.rank = rank;
    for (int i = 0; i < rank; i++) val->shape.d[i] = dims[i];
    val->flags |= WEFT_VALUE_INPUT | WEFT_VALUE_TYPED;
    int *in = realloc(e->g->inputs, (size_t)(e->g->n_inputs + 1) * sizeof *in);
    if (!in) {
        nomem(e);
        return -1;
    }
    e->g->inputs = in;
    in[e->g->n_inputs++] = v;
    return v;
}

static int with_data(weft_gedit *e, const char *name, weft_dtype dt, int rank, const int64_t *dims, const void *data,
                     unsigned flags)
{
    int v = weft_gedit_value(e, name);
    if (v < 0) return -1;
    weft_shape s = {.rank = rank};
    size_t n = 1;
    for (int i = 0; i < rank; i++) s.d[i] = weft_dim_num(dims[i]), n *= (size_t)dims[i];
    weft_value *val = &e->g->values[v];
    val->flags |= WEFT_VALUE_TYPED | flags;
    if (weft_value_set_data(val, dt, &s, data, n * weft_dtype_size(dt))) nomem(e);
    return v;
}

int weft_gedit_constant(weft_gedit *e, const char *name, weft_dtype dt, int rank, const int64_t *dims,
                        const void *data)
{
    return with_data(e, name, dt, rank, dims, data, 0);
}

int weft_gedit_initializer(weft_gedit *e, const char *name, weft_dtype dt, int rank, const int64_t *dims,
                           const void *data)
{
    return with_data(e, name, dt, rank, dims, data, WEFT_VALUE_INITIALIZER);
}

uint64_t weft_splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

weft_status weft_gedit_model_copy(const weft_model *src, int extra_opsets, weft_model **out)
{
    *out = NULL;
    weft_model *m = calloc(1, sizeof *m);
    if (!m) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    bool ok = true;
    for (int i = 0; ok && i < src->syms.n; i++) ok = weft_sym_intern(&m->syms, src->syms.names[i]) >= 0;
    ok = ok && (m->graph = weft_graph_clone(src->graph, NULL)) != NULL;
    ok = ok && (m->opsets = calloc((size_t)(src->n_opsets + extra_opsets) + 1, sizeof *m->opsets)) != NULL;
    for (int i = 0; ok && i < src->n_opsets; i++) {
        m->opsets[i].version = src->opsets[i].version;
        ok = (m->opsets[i].domain = dupstr(src->opsets[i].domain)) != NULL;
        if (ok) m->n_opsets++;
    }
    if (!ok) {
        weft_model_free(m);
        return weft_error(WEFT_ERR_NOMEM, "out of memory");
    }
    m->graph->syms = &m->syms; /* the clone and the model's copy of the symbols go together */
    m->ir_version = src->ir_version;
    *out = m;
    return WEFT_OK;
}

int64_t weft_gedit_import(weft_gedit *e, weft_model *m, const char *domain, int64_t version)
{
    int64_t have = weft_model_opset(m, domain);
    if (have || e->st) return have;
    /* the room weft_gedit_model_copy left */
    if (!(m->opsets[m->n_opsets].domain = dupstr(domain))) {
        nomem(e);
        return 0;
    }
    m->opsets[m->n_opsets++].version = version;
    return version;
}

void weft_gedit_set_outputs(weft_gedit *e, const int *outs, int n)
{
    if (e->st) return;
    int *o = malloc((size_t)n * sizeof *o + 1);
    if (!o) {
        nomem(e);
        return;
    }
    for (int i = 0; i < e->g->n_outputs; i++) e->g->values[e->g->outputs[i]].flags &= ~(unsigned)WEFT_VALUE_OUTPUT;
    free(e->g->outputs);
    memcpy(o, outs, (size_t)n * sizeof *o);
    e->g->outputs = o;
    e->g->n_outputs = n;
    for (int i = 0; i < n; i++) e->g->values[o[i]].flags |= WEFT_VALUE_OUTPUT;
}
