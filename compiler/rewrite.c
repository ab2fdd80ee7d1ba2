/*
 * compiler/rewrite.c — the toolkit the fusion passes share (see rewrite.h).
 */
#include "rewrite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- tables -------------------------------------------------------------------------------------- */

static bool grow(weft_rw *r, int n_values)
{
    if (n_values <= r->cap) return true;
    int cap = r->cap ? r->cap : 64;
    while (cap < n_values) cap *= 2;
    int *rd = realloc(r->readers, (size_t)cap * sizeof *rd);
    if (!rd) return false;
    r->readers = rd;
    char *pn = realloc(r->pinned, (size_t)cap);
    if (!pn) return false;
    r->pinned = pn;
    memset(r->readers + r->cap, 0, (size_t)(cap - r->cap) * sizeof *rd);
    memset(r->pinned + r->cap, 0, (size_t)(cap - r->cap));
    r->cap = cap;
    return true;
}

static weft_status mark_pinned(int v, void *pinned)
{
    ((char *)pinned)[v] = 1;
    return WEFT_OK;
}

weft_status weft_rw_open(weft_rw *r, weft_graph *g)
{
    memset(r, 0, sizeof *r);
    r->g = g;
    if (!grow(r, g->n_values + 1)) {
        free(r->readers);
        free(r->pinned);
        return weft_error(WEFT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < g->n_outputs; i++) r->pinned[g->outputs[i]] = 1;
    weft_status st = WEFT_OK;
    for (int i = 0; i < g->n_nodes && !st; i++) {
        weft_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) r->readers[n->inputs[k]]++;
        st = weft_node_each_outer_read(g, n, mark_pinned, r->pinned); /* read by name from its subgraphs */
    }
    if (st) {
        free(r->readers);
        free(r->pinned);
    }
    return st;
}

weft_status weft_rw_close(weft_rw *r)
{
    weft_status st = WEFT_OK;
    if (r->added) st = weft_ir_toposort(r->g);
    if (!st) {
        /* dead-code elimination of this graph only: its nested graphs are visited on their own */
        bool *keep = malloc(((size_t)r->g->n_nodes + 1) * sizeof *keep);
        char *used = calloc((size_t)r->g->n_values + 1, 1);
        if (!keep || !used) {
            st = weft_error(WEFT_ERR_NOMEM, "out of memory");
        } else {
            weft_graph *g = r->g;
            int removed = 0;
            for (int v = 0; v < g->n_values && v < r->cap; v++) used[v] = r->pinned[v];
            for (int i = g->n_nodes - 1; i >= 0; i--) {
                const weft_node *n = &g->nodes[i];
                bool live = n->def && (n->def->flags & WEFT_OP_NO_FOLD);
                for (int o = 0; o < n->n_outputs && !live; o++) live = n->outputs[o] >= 0 && used[n->outputs[o]];
                keep[i] = live;
                removed += !live;
                if (!live) continue;
                for (int k = 0; k < n->n_inputs; k++)
                    if (n->inputs[k] >= 0) used[n->inputs[k]] = 1;
            }
            if (removed) weft_graph_remove_nodes(g, keep);
        }
        free(keep);
        free(used);
    }
    free(r->readers);
    free(r->pinned);
    r->readers = NULL;
    r->pinned = NULL;
    return st;
}

typedef struct each_ctx {
    weft_rw_fn fn;
    int total;
} each_ctx;

static weft_status each_one(weft_graph *g, void *user)
{
    each_ctx *c = user;
    weft_rw r;
    weft_status st = weft_rw_open(&r, g);
    if (st) return st;
    int changed = 0;
    st = c->fn(&r, &changed);
    weft_status st2 = weft_rw_close(&r);
    c->total += changed;
    return st ? st : st2;
}

weft_status weft_rw_each_graph(weft_graph *g, weft_rw_fn fn, int *changed)
{
    each_ctx c = {fn, 0};
    weft_status st = weft_graph_walk(g, each_one, &c);
    if (changed) *changed = c.total;
    return st;
}

weft_status weft_rw_each_op(weft_rw *r, const char *domain, const char *op, weft_rw_node_fn fn, int *changed)
{
    int n0 = r->g->n_nodes;
    for (int i = 0; i < n0; i++) {
        const weft_node *n = &r->g->nodes[i]; /* looked up again each time: the calls may move the table */
        if (strcmp(n->domain, domain) != 0 || strcmp(n->op_type, op) != 0) continue;
        weft_status st = fn(r, i, changed);
        if (st) return st;
    }
    return WEFT_OK;
}

/* --- looking ------------------------------------------------------------------------------------- */

weft_node *weft_rw_producer(const weft_rw *r, int v)
{
    if (v < 0 || v >= r->g->n_values) return NULL;
    int p = r->g->values[v].producer;
    return p >= 0 ? &r->g->nodes[p] : NULL;
}

bool weft_rw_is(const weft_node *n, const char *op) { return n && !n->domain[0] && strcmp(n->op_type, op) == 0; }

bool weft_rw_is_weft(const weft_node *n, const char *op)
{
    return n && strcmp(n->domain, "ai.weft") == 0 && strcmp(n->op_type, op) == 0;
}

weft_node *weft_rw_producer_is(const weft_rw *r, int v, const char *op)
{
    weft_node *n = weft_rw_producer(r, v);
    return weft_rw_is(n, op) ? n : NULL;
}

bool weft_rw_private(const weft_rw *r, int v, int reads)
{
    return v >= 0 && v < r->cap && !r->pinned[v] && r->readers[v] == reads;
}

bool weft_rw_unread(const weft_rw *r, int v) { return weft_rw_private(r, v, 0); }

bool weft_rw_const(const weft_rw *r, int v)
{
    return v >= 0 && (r->g->values[v].flags & WEFT_VALUE_CONST) && r->g->values[v].data &&
           !(r->g->values[v].flags & WEFT_VALUE_INPUT);
}

static int64_t const_numel(const weft_value *val)
{
    size_t es = weft_dtype_size(val->dtype);
    return es ? (int64_t)(val->nbytes / es) : -1;
}

static bool numeric(weft_dtype t)
{
    switch (t) {
    case WEFT_FLOAT32: case WEFT_FLOAT64: case WEFT_FLOAT16: case WEFT_BFLOAT16: case WEFT_INT8: case WEFT_INT16:
    case WEFT_INT32: case WEFT_INT64: case WEFT_UINT8: case WEFT_UINT16: case WEFT_UINT32: case WEFT_UINT64:
        return true;
    default: return false;
    }
}

int weft_rw_only_reader(const weft_rw *r, int v)
{
    if (!weft_rw_private(r, v, 1)) return -1;
    const weft_graph *g = r->g;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] == v) return i;
    return -1;
}

bool weft_rw_scalar(const weft_rw *r, int v, double *out)
{
    if (!weft_rw_const(r, v)) return false;
    const weft_value *val = &r->g->values[v];
    if (!numeric(val->dtype) || const_numel(val) != 1) return false;
    *out = weft_load_f64(val->dtype, val->data, 0);
    return true;
}

int weft_rw_ints(const weft_rw *r, int v, int64_t *out, int max)
{
    if (!weft_rw_const(r, v)) return -1;
    const weft_value *val = &r->g->values[v];
    if (val->dtype != WEFT_INT64 && val->dtype != WEFT_INT32) return -1;
    int64_t n = const_numel(val);
    if (n < 0 || n > max) return -1;
    for (int64_t i = 0; i < n; i++) out[i] = weft_load_i64(val->dtype, val->data, i);
    return (int)n;
}

static bool filled(const weft_rw *r, int v, double x, int depth)
{
    if (v < 0 || depth > 8) return false;
    const weft_value *val = &r->g->values[v];
    if (weft_rw_const(r, v)) {
        if (!numeric(val->dtype)) return false;
        int64_t n = const_numel(val);
        for (int64_t i = 0; i < n; i++)
            if (weft_load_f64(val->dtype, val->data, i) != x) return false;
        return true;
    }
    const weft_node *p = weft_rw_producer(r, v);
    if (!p || p->domain[0] || p->n_inputs < 1) return false;
    if (weft_rw_is(p, "ConstantOfShape")) {
        weft_node_info info = weft_node_view(p);
        const weft_attr *a = weft_attr_find(&info, "value");
        if (!a) return x == 0;
        if (a->type != WEFT_ATTR_TENSOR || !a->t || !a->t->data || !numeric(a->t->dtype) ||
            a->t->nbytes < weft_dtype_size(a->t->dtype))
            return false;
        return weft_load_f64(a->t->dtype, a->t->data, 0) == x;
    }
    static const char *const views[] = {"Expand", "Slice", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity", "Tile"};
    for (size_t i = 0; i < sizeof views / sizeof *views; i++)
        if (weft_rw_is(p, views[i])) return filled(r, p->inputs[0], x, depth + 1);
    return false;
}

bool weft_rw_filled(const weft_rw *r, int v, double x) { return filled(r, v, x, 0); }

bool weft_rw_shape_eq(const weft_shape *a, const weft_shape *b)
{
    if (a->rank < 0 || a->rank != b->rank) return false;
    for (int d = 0; d < a->rank; d++)
        if (!weft_dim_eq(a->d[d], b->d[d])) return false;
    return true;
}

int64_t weft_rw_attr_i(const weft_node *n, const char *name, int64_t def)
{
    weft_node_info info = weft_node_view(n);
    return weft_attr_int(&info, name, def);
}

const char *weft_rw_reduce(const weft_node *n)
{
    weft_node_info info = weft_node_view(n);
    const char *red = weft_attr_string(&info, "reduce", "sum");
    if (!strcmp(red, "add")) return "sum";
    if (!strcmp(red, "prod")) return "mul";
    return red;
}

weft_node *weft_rw_producer_segment(const weft_rw *r, int v, const char *red)
{
    weft_node *n = weft_rw_producer(r, v);
    if (!weft_rw_is_weft(n, "SegmentReduce") || n->n_inputs < 2 || n->inputs[0] < 0 || n->inputs[1] < 0) return NULL;
    return strcmp(weft_rw_reduce(n), red) == 0 ? n : NULL;
}

bool weft_rw_gathers_rows(const weft_rw *r, const weft_node *p)
{
    if (!weft_rw_is(p, "Gather") || p->n_inputs != 2 || p->inputs[0] < 0 || p->inputs[1] < 0) return false;
    int64_t axis = weft_rw_attr_i(p, "axis", 0), rank = r->g->values[p->inputs[0]].shape.rank;
    return axis == 0 || (axis < 0 && axis + rank == 0);
}

int weft_rw_reduce_axes(const weft_rw *r, const weft_node *n, int rank, int64_t *axes, int max)
{
    weft_node_info info = weft_node_view(n);
    const int64_t *attr = NULL;
    int na = weft_attr_ints(&info, "axes", &attr);
    int64_t buf[WEFT_MAX_RANK];
    if (na >= 0) {
        if (na > WEFT_MAX_RANK) return -1;
        memcpy(buf, attr, (size_t)na * sizeof *buf);
    } else if (n->n_inputs >= 2 && n->inputs[1] >= 0) {
        na = weft_rw_ints(r, n->inputs[1], buf, WEFT_MAX_RANK);
        if (na < 0) return -1;
    } else {
        return 0;
    }
    if (na > max) return -1;
    for (int i = 0; i < na; i++) {
        int64_t a = buf[i] < 0 ? buf[i] + rank : buf[i];
        if (a < 0 || a >= rank) return -1;
        axes[i] = a;
    }
    return na;
}

/* --- editing ------------------------------------------------------------------------------------- */

bool weft_rw_have(const char *op) { return weft_op_find("ai.weft", op, 1) != NULL; }

int weft_rw_value(weft_rw *r, const char *base, const char *tag, weft_dtype dt, const weft_shape *s)
{
    char name[256];
    snprintf(name, sizeof name, "%.180s/%s", base ? base : "", tag);
    for (int k = 2; weft_graph_find_value(r->g, name) >= 0 && k < 1000000; k++)
        snprintf(name, sizeof name, "%.180s/%s_%d", base ? base : "", tag, k);
    int v = weft_graph_add_value(r->g, name);
    if (v < 0) return -1;
    if (!grow(r, r->g->n_values + 1)) {
        weft_error(WEFT_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (dt != WEFT_UNDEFINED && s) {
        r->g->values[v].dtype = dt;
        r->g->values[v].shape = *s;
        r->g->values[v].flags |= WEFT_VALUE_TYPED;
    }
    return v;
}

int weft_rw_constant(weft_rw *r, const char *base, const char *tag, weft_dtype dt, const weft_shape *s,
                     const void *data, size_t nbytes)
{
    int v = weft_rw_value(r, base, tag, WEFT_UNDEFINED, NULL);
    if (v < 0) return -1;
    if (weft_value_set_data(&r->g->values[v], dt, s, data, nbytes)) return -1;
    return v;
}

int weft_rw_const_i64(weft_rw *r, const char *base, const char *tag, const int64_t *v, int n, bool scalar)
{
    weft_shape s = {0};
    s.rank = scalar ? 0 : 1;
    s.d[0] = weft_dim_num(n);
    return weft_rw_constant(r, base, tag, WEFT_INT64, &s, v, (size_t)n * sizeof *v);
}

static const weft_op_def *find_def(weft_rw *r, const char *domain, const char *op, int opset)
{
    for (int i = 0; i < r->n_defs; i++)
        if (r->defs[i].opset == opset && !strcmp(r->defs[i].op, op) && !strcmp(r->defs[i].domain, domain)) return r->defs[i].def;
    const weft_op_def *def = weft_op_find(domain, op, opset);
    if (strlen(domain) >= sizeof r->defs[0].domain || strlen(op) >= sizeof r->defs[0].op) return def;
    int k = r->n_defs < 8 ? r->n_defs++ : 7;
    snprintf(r->defs[k].domain, sizeof r->defs[k].domain, "%s", domain);
    snprintf(r->defs[k].op, sizeof r->defs[k].op, "%s", op);
    r->defs[k].opset = opset;
    r->defs[k].def = def;
    return def;
}

int weft_rw_node(weft_rw *r, const char *op, const char *domain, int opset, const char *name, const int *in,
                 int n_in, const int *out, int n_out)
{
    const weft_op_def *def = find_def(r, domain, op, opset);
    if (!def) {
        weft_error(WEFT_ERR_INTERNAL, "%s%s%s (opset %d) is not registered", domain, domain[0] ? "." : "", op, opset);
        return -1;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%.200s", name);
    int i = weft_graph_add_node(r->g, op, domain, buf, n_in, n_out);
    if (i < 0) return -1;
    weft_node *n = &r->g->nodes[i];
    n->opset = opset;
    n->def = def;
    for (int k = 0; k < n_in; k++) {
        n->inputs[k] = in[k];
        if (in[k] >= 0) r->readers[in[k]]++;
    }
    for (int k = 0; k < n_out; k++) {
        n->outputs[k] = out ? out[k] : -1;
        if (n->outputs[k] >= 0) r->g->values[n->outputs[k]].producer = i;
    }
    r->added = true;
    return i;
}

static bool retirable(const weft_rw *r, const weft_node *p)
{
    if (!p->def || (p->def->flags & (WEFT_OP_NO_FOLD | WEFT_OP_CONTROL_FLOW))) return false;
    for (int a = 0; a < p->n_attrs; a++)
        if (p->attrs[a].g || p->attrs[a].gs) return false;
    for (int o = 0; o < p->n_outputs; o++) {
        int v = p->outputs[o];
        if (v >= 0 && (r->pinned[v] || r->readers[v] > 0)) return false;
    }
    return true;
}

void weft_rw_retire(weft_rw *r, int i)
{
    weft_graph *g = r->g;
    /* an explicit stack: chains can be long */
    int cap = 16, n = 0;
    int *stack = malloc((size_t)cap * sizeof *stack);
    if (!stack) return; /* nothing is lost: dead-code elimination removes what stays */
    stack[n++] = i;
    while (n) {
        int j = stack[--n];
        weft_node *nd = &g->nodes[j];
        for (int o = 0; o < nd->n_outputs; o++) {
            int v = nd->outputs[o];
            if (v >= 0 && g->values[v].producer == j) g->values[v].producer = -1;
            nd->outputs[o] = -1;
        }
        for (int k = 0; k < nd->n_inputs; k++) {
            int v = nd->inputs[k];
            nd->inputs[k] = -1;
            if (v < 0) continue;
            r->readers[v]--;
            int p = g->values[v].producer;
            if (p < 0 || r->readers[v] > 0 || r->pinned[v] || !retirable(r, &g->nodes[p])) continue;
            if (n == cap) {
                int *s2 = realloc(stack, (size_t)cap * 2 * sizeof *s2);
                if (!s2) continue;
                stack = s2;
                cap *= 2;
            }
            stack[n++] = p;
        }
    }
    free(stack);
}

void weft_rw_take_over(weft_rw *r, int dst, int src)
{
    weft_graph *g = r->g;
    weft_node *s = &g->nodes[src], *d = &g->nodes[dst];
    for (int o = 0; o < s->n_outputs && o < d->n_outputs; o++) {
        int v = s->outputs[o];
        s->outputs[o] = -1;
        d->outputs[o] = v;
        if (v >= 0) g->values[v].producer = dst;
    }
    weft_rw_retire(r, src);
    r->added = true;
}

weft_status weft_rw_replace(weft_rw *r, int i, const char *op, const char *tag, const int *in, int n_in,
                            const char *reduce, int *changed)
{
    char name[256];
    snprintf(name, sizeof name, "%.200s/%s", r->g->nodes[i].name, tag);
    int k = weft_rw_node(r, op, "ai.weft", 1, name, in, n_in, NULL, 1);
    if (k < 0) return WEFT_ERR_INTERNAL;
    weft_status st;
    if (reduce && (st = weft_rw_set_string(r, k, "reduce", reduce))) return st;
    weft_rw_take_over(r, k, i);
    (*changed)++;
    return WEFT_OK;
}

int weft_rw_redirect(weft_rw *r, int from, int to)
{
    int changed = 0;
    if (from == to) return 0;
    for (int i = 0; i < r->g->n_nodes; i++) {
        weft_node *n = &r->g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] == from) {
                n->inputs[k] = to;
                r->readers[from]--;
                r->readers[to]++;
                changed++;
            }
    }
    if (changed) r->added = true; /* `to` may be defined after some of its new readers */
    return changed;
}

weft_status weft_rw_set_input(weft_rw *r, int i, int k, int v)
{
    weft_node *n = &r->g->nodes[i];
    if (k >= n->n_inputs) {
        int *in = realloc(n->inputs, (size_t)(k + 1) * sizeof *in);
        if (!in) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        for (int j = n->n_inputs; j <= k; j++) in[j] = -1;
        n->inputs = in;
        n->n_inputs = k + 1;
    }
    if (n->inputs[k] >= 0) r->readers[n->inputs[k]]--;
    n->inputs[k] = v;
    if (v >= 0) r->readers[v]++;
    r->added = true;
    return WEFT_OK;
}

static weft_status set_attr(weft_rw *r, int i, weft_attr *a)
{
    weft_node *n = &r->g->nodes[i];
    if (!a->name) { weft_attr_clear(a); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
    for (int k = 0; k < n->n_attrs; k++)
        if (strcmp(n->attrs[k].name, a->name) == 0) {
            weft_attr_clear(&n->attrs[k]);
            n->attrs[k] = *a;
            return WEFT_OK;
        }
    weft_status st = weft_node_add_attr(n, a);
    if (st) weft_attr_clear(a);
    return st;
}

weft_status weft_rw_set_int(weft_rw *r, int i, const char *name, int64_t v)
{
    weft_attr a = {.name = strdup(name), .type = WEFT_ATTR_INT, .i = v};
    return set_attr(r, i, &a);
}

weft_status weft_rw_set_float(weft_rw *r, int i, const char *name, float v)
{
    weft_attr a = {.name = strdup(name), .type = WEFT_ATTR_FLOAT, .f = v};
    return set_attr(r, i, &a);
}

weft_status weft_rw_set_string(weft_rw *r, int i, const char *name, const char *v)
{
    weft_attr a = {.name = strdup(name), .type = WEFT_ATTR_STRING, .s = strdup(v), .s_len = strlen(v)};
    if (!a.s) { weft_attr_clear(&a); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
    return set_attr(r, i, &a);
}

weft_status weft_rw_set_ints(weft_rw *r, int i, const char *name, const int64_t *v, int n)
{
    weft_attr a = {.name = strdup(name), .type = WEFT_ATTR_INTS, .n = n, .ints = malloc((size_t)(n ? n : 1) * sizeof(int64_t))};
    if (!a.ints) { weft_attr_clear(&a); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
    if (n) memcpy(a.ints, v, (size_t)n * sizeof *v);
    return set_attr(r, i, &a);
}

weft_status weft_rw_set_floats(weft_rw *r, int i, const char *name, const float *v, int n)
{
    weft_attr a = {.name = strdup(name), .type = WEFT_ATTR_FLOATS, .n = n, .floats = malloc((size_t)(n ? n : 1) * sizeof(float))};
    if (!a.floats) { weft_attr_clear(&a); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
    if (n) memcpy(a.floats, v, (size_t)n * sizeof *v);
    return set_attr(r, i, &a);
}

weft_status weft_rw_copy_attrs(weft_rw *r, int dst, int src)
{
    for (int a = 0; a < r->g->nodes[src].n_attrs; a++) {
        const weft_attr *at = &r->g->nodes[src].attrs[a];
        weft_status st = WEFT_OK;
        switch (at->type) {
        case WEFT_ATTR_INT: st = weft_rw_set_int(r, dst, at->name, at->i); break;
        case WEFT_ATTR_FLOAT: st = weft_rw_set_float(r, dst, at->name, at->f); break;
        case WEFT_ATTR_STRING: st = weft_rw_set_string(r, dst, at->name, at->s); break;
        case WEFT_ATTR_INTS: st = weft_rw_set_ints(r, dst, at->name, at->ints, at->n); break;
        case WEFT_ATTR_FLOATS: st = weft_rw_set_floats(r, dst, at->name, at->floats, at->n); break;
        default: return WEFT_ERR_UNSUPPORTED;
        }
        if (st) return st;
    }
    return WEFT_OK;
}

/* --- sizes and indices --------------------------------------------------------------------------- */

/* The single axis a Shape node's start/end window selects, or -1. */
static int shape_window_axis(const weft_node *n, int rank)
{
    int64_t s = weft_rw_attr_i(n, "start", 0), e = weft_rw_attr_i(n, "end", rank);
    if (s < 0) s += rank;
    if (e < 0) e += rank;
    if (s < 0) s = 0;
    if (e > rank) e = rank;
    return e - s == 1 ? (int)s : -1;
}

bool weft_rw_dim_of(const weft_rw *r, int v, weft_dim *d)
{
    if (v < 0) return false;
    const weft_value *val = &r->g->values[v];
    int64_t x[2];
    if (weft_rw_ints(r, v, x, 2) == 1) { *d = weft_dim_num(x[0]); return true; }
    const weft_node *p = weft_rw_producer(r, v);
    if (weft_rw_is(p, "Shape") && p->inputs[0] >= 0) {
        const weft_shape *s = &r->g->values[p->inputs[0]].shape;
        int a = s->rank >= 0 ? shape_window_axis(p, s->rank) : -1;
        if (a < 0) return false;
        *d = s->d[a];
        return true;
    }
    if (weft_rw_is(p, "Gather") && p->n_inputs == 2 && weft_rw_attr_i(p, "axis", 0) == 0 && val->shape.rank <= 1) {
        int64_t k;
        if (weft_rw_ints(r, p->inputs[1], &k, 1) != 1) return false;
        /* an entry of a ConstantOfShape's shape input: the filled tensor's dim */
        int t = p->inputs[0];
        for (int i = 0; i < r->g->n_nodes; i++) {
            const weft_node *c = &r->g->nodes[i];
            if (!weft_rw_is(c, "ConstantOfShape") || c->inputs[0] != t || c->outputs[0] < 0) continue;
            const weft_shape *s = &r->g->values[c->outputs[0]].shape;
            if (k < 0) k += s->rank;
            if (k < 0 || k >= s->rank) return false;
            *d = s->d[k];
            return true;
        }
        const weft_node *sh = weft_rw_producer(r, t);
        weft_node_info si = sh ? weft_node_view(sh) : (weft_node_info){0};
        if (weft_rw_is(sh, "Shape") && sh->inputs[0] >= 0 && !weft_attr_find(&si, "start") && !weft_attr_find(&si, "end")) {
            const weft_shape *s = &r->g->values[sh->inputs[0]].shape;
            if (k < 0) k += s->rank;
            if (k < 0 || k >= s->rank) return false;
            *d = s->d[k];
            return true;
        }
    }
    return false;
}

int weft_rw_dim_value(weft_rw *r, weft_dim d, int hint, int hint_axis)
{
    weft_graph *g = r->g;
    if (weft_dim_known(d)) {
        /* reuse a constant [1] of the same number this toolkit made before */
        for (int v = 0; v < g->n_values; v++) {
            weft_dim e;
            const weft_value *val = &g->values[v];
            if (weft_rw_const(r, v) && val->dtype == WEFT_INT64 && val->shape.rank == 1 && weft_rw_dim_of(r, v, &e) &&
                weft_dim_eq(d, e) && strstr(val->name, "/dim"))
                return v;
        }
        return weft_rw_const_i64(r, "weft", "dim", &d.v, 1, false);
    }
    /* an existing Shape(x, start=a, end=a+1) holding d */
    for (int i = 0; i < g->n_nodes; i++) {
        const weft_node *n = &g->nodes[i];
        weft_dim e;
        if (weft_rw_is(n, "Shape") && n->outputs[0] >= 0 && n->n_attrs && weft_rw_dim_of(r, n->outputs[0], &e) &&
            weft_dim_eq(d, e))
            return n->outputs[0];
    }
    int src = -1, axis = -1;
    for (int i = 0; i < g->n_inputs && src < 0; i++) {
        const weft_value *val = &g->values[g->inputs[i]];
        if (!(val->flags & WEFT_VALUE_TYPED)) continue;
        for (int a = 0; a < val->shape.rank; a++)
            if (weft_dim_eq(val->shape.d[a], d)) { src = g->inputs[i]; axis = a; break; }
    }
    if (src < 0 && hint >= 0 && hint_axis >= 0 && hint_axis < g->values[hint].shape.rank &&
        weft_dim_eq(g->values[hint].shape.d[hint_axis], d)) {
        const weft_node *c = weft_rw_producer_is(r, hint, "ConstantOfShape");
        if (c && c->inputs[0] >= 0 && g->values[c->inputs[0]].dtype == WEFT_INT64) {
            /* Gather(shape, [axis]): the entry of the shape tensor, a [1] */
            int64_t ax = hint_axis;
            int t = c->inputs[0];
            int k = weft_rw_const_i64(r, g->values[hint].name, "axis", &ax, 1, false);
            weft_shape s1 = {.rank = 1, .d = {weft_dim_num(1)}};
            int out = k < 0 ? -1 : weft_rw_value(r, g->values[hint].name, "dim", WEFT_INT64, &s1);
            if (out < 0) return -1;
            int in[2] = {t, k};
            return weft_rw_node(r, "Gather", "", 13, g->values[out].name, in, 2, &out, 1) < 0 ? -1 : out;
        }
        src = hint;
        axis = hint_axis;
    }
    if (src < 0) return -1;
    weft_shape s1 = {.rank = 1, .d = {weft_dim_num(1)}};
    int out = weft_rw_value(r, g->values[src].name, "dim", WEFT_INT64, &s1);
    if (out < 0) return -1;
    int n = weft_rw_node(r, "Shape", "", 15, g->values[out].name, &src, 1, &out, 1);
    if (n < 0 || weft_rw_set_int(r, n, "start", axis) || weft_rw_set_int(r, n, "end", axis + 1)) return -1;
    return out;
}

/* Two int64 count values that hold the same number. */
static bool same_count(const weft_rw *r, int a, int b)
{
    if (a == b) return true;
    weft_dim x, y;
    return weft_rw_dim_of(r, a, &x) && weft_rw_dim_of(r, b, &y) && weft_dim_eq(x, y);
}

weft_status weft_rw_csr(weft_rw *r, int idx, int nseg, bool wrap, int src_idx, int nsrc, bool src_wrap, int *offsets,
                        int *perm, int *col)
{
    weft_graph *g = r->g;
    *offsets = *perm = *col = -1;
    /* first choice: a CSR with exactly these columns (or any, when none are asked for); second: one
     * without columns, which gets them */
    int found = -1, bare = -1;
    for (int i = 0; i < g->n_nodes && found < 0; i++) {
        const weft_node *n = &g->nodes[i];
        if (!weft_rw_is_weft(n, "CSR") || n->n_inputs < 2 || n->inputs[0] != idx || n->n_outputs < 2) continue;
        if (n->outputs[0] < 0 || n->outputs[1] < 0) continue;
        if ((weft_rw_attr_i(n, "wrap", 0) != 0) != wrap || !same_count(r, n->inputs[1], nseg)) continue;
        bool has_src = n->n_inputs >= 4 && n->inputs[2] >= 0 && n->n_outputs >= 3 && n->outputs[2] >= 0;
        if (src_idx < 0) found = i;
        else if (!has_src && bare < 0) bare = i;
        else if (has_src && n->inputs[2] == src_idx && same_count(r, n->inputs[3], nsrc) &&
                 (weft_rw_attr_i(n, "src_wrap", 1) != 0) == src_wrap)
            found = i;
    }
    if (found < 0) found = bare;
    const char *iname = g->values[idx].name; /* the name stays put when the value table moves */
    const weft_shape *ish = &g->values[idx].shape;
    weft_shape es = {.rank = 1, .d = {ish->rank == 1 ? ish->d[0] : (weft_dim){0, weft_sym_fresh(g->syms)}}};
    if (found < 0) {
        weft_dim nd;
        weft_shape os = {.rank = 1};
        os.d[0] = weft_rw_dim_of(r, nseg, &nd) && weft_dim_known(nd) ? weft_dim_num(nd.v + 1)
                                                                       : (weft_dim){0, weft_sym_fresh(g->syms)};
        int out[3];
        out[0] = weft_rw_value(r, iname, "csr_offsets", WEFT_INT64, &os);
        out[1] = out[0] < 0 ? -1 : weft_rw_value(r, iname, "csr_perm", WEFT_INT64, &es);
        if (out[1] < 0) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        int in[2] = {idx, nseg};
        char name[256];
        snprintf(name, sizeof name, "%.200s/CSR", iname);
        found = weft_rw_node(r, "CSR", "ai.weft", 1, name, in, 2, out, 2);
        if (found < 0) return WEFT_ERR_INTERNAL;
        if (weft_rw_set_int(r, found, "wrap", wrap)) return WEFT_ERR_NOMEM;
    }
    weft_node *n = &g->nodes[found];
    *offsets = n->outputs[0];
    *perm = n->outputs[1];
    if (src_idx < 0) return WEFT_OK;
    if (n->n_inputs >= 4 && n->inputs[2] >= 0) { /* already has the columns */
        *col = n->outputs[2];
        return WEFT_OK;
    }
    /* give it the columns */
    int c = weft_rw_value(r, iname, "csr_col", WEFT_INT64, &es);
    if (c < 0) return WEFT_ERR_NOMEM;
    weft_status st;
    if ((st = weft_rw_set_input(r, found, 2, src_idx)) || (st = weft_rw_set_input(r, found, 3, nsrc))) return st;
    n = &g->nodes[found];
    if (n->n_outputs < 3) {
        int *o = realloc(n->outputs, 3 * sizeof *o);
        if (!o) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        o[2] = -1;
        n->outputs = o;
        n->n_outputs = 3;
    }
    n->outputs[2] = c;
    g->values[c].producer = found;
    if ((st = weft_rw_set_int(r, found, "src_wrap", src_wrap))) return st;
    *col = c;
    return WEFT_OK;
}
