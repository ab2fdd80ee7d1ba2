/* compiler/ir.c — graphs, values, nodes, attributes, symbols; deep copy and topological order. */
#include "ir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dupstr(const char *s)
{
    if (!s) s = "";
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* --- symbols ------------------------------------------------------------------------------------- */

static int32_t sym_add(weft_symtab *t, char *name)
{
    if (!name) return -1;
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        char **p = realloc(t->names, (size_t)cap * sizeof *p);
        if (!p) { free(name); return -1; }
        t->names = p;
        t->cap = cap;
    }
    t->names[t->n] = name;
    return t->n++;
}

int32_t weft_sym_intern(weft_symtab *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->names[i], name) == 0) return i;
    /* a name of the form fresh symbols get (a plan file's, say): fresh names up to its number are checked */
    if (strncmp(name, "unk__", 5) == 0) {
        long k = strtol(name + 5, NULL, 10);
        if (k > t->fresh_check_below) t->fresh_check_below = k > INT32_MAX ? INT32_MAX : (int)k;
    }
    return sym_add(t, dupstr(name));
}

int32_t weft_sym_fresh(weft_symtab *t)
{
    char buf[48];
    snprintf(buf, sizeof buf, "unk__%d", t->n);
    for (int k = 1; t->n <= t->fresh_check_below; k++) { /* keep names unique: "unk__7" may be a model's own */
        bool taken = false;
        for (int i = 0; i < t->n && !taken; i++) taken = strcmp(t->names[i], buf) == 0;
        if (!taken) break;
        snprintf(buf, sizeof buf, "unk__%d_%d", t->n, k);
    }
    return sym_add(t, dupstr(buf));
}

const char *weft_sym_name(const weft_symtab *t, int32_t sym)
{
    return t && sym >= 0 && sym < t->n ? t->names[sym] : "?";
}

void weft_symtab_free(weft_symtab *t)
{
    for (int i = 0; i < t->n; i++) free(t->names[i]);
    free(t->names);
    memset(t, 0, sizeof *t);
}

void weft_shape_format_sym(const weft_shape *s, const weft_symtab *t, char *buf, size_t n)
{
    if (s->rank < 0) { snprintf(buf, n, "[?]"); return; }
    size_t k = 0;
    k += (size_t)snprintf(buf + k, k < n ? n - k : 0, "[");
    for (int i = 0; i < s->rank; i++) {
        const char *sep = i ? "," : "";
        if (weft_dim_known(s->d[i]))
            k += (size_t)snprintf(buf + k, k < n ? n - k : 0, "%s%lld", sep, (long long)s->d[i].v);
        else
            k += (size_t)snprintf(buf + k, k < n ? n - k : 0, s->d[i].v ? "%s%s%+lld" : "%s%s", sep,
                                  weft_sym_name(t, s->d[i].sym), (long long)s->d[i].v);
    }
    snprintf(buf + k, k < n ? n - k : 0, "]");
}

/* --- name hash ----------------------------------------------------------------------------------- */

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s) h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

static bool hash_rebuild(weft_graph *g, int cap)
{
    int *h = malloc((size_t)cap * sizeof *h);
    if (!h) return false;
    for (int i = 0; i < cap; i++) h[i] = -1;
    for (int v = 0; v < g->n_values; v++) {
        if (!g->values[v].name[0]) continue;
        uint32_t j = hash_str(g->values[v].name) & (uint32_t)(cap - 1);
        while (h[j] >= 0) j = (j + 1) & (uint32_t)(cap - 1);
        h[j] = v;
    }
    free(g->hash);
    g->hash = h;
    g->hash_cap = cap;
    return true;
}

int weft_graph_find_value(const weft_graph *g, const char *name)
{
    if (!name || !name[0] || !g->hash) return -1;
    uint32_t j = hash_str(name) & (uint32_t)(g->hash_cap - 1);
    while (g->hash[j] >= 0) {
        if (strcmp(g->values[g->hash[j]].name, name) == 0) return g->hash[j];
        j = (j + 1) & (uint32_t)(g->hash_cap - 1);
    }
    return -1;
}

/* --- graphs -------------------------------------------------------------------------------------- */

weft_graph *weft_graph_new(weft_graph *parent, weft_symtab *syms)
{
    weft_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->parent = parent;
    g->syms = syms;
    g->name = dupstr("");
    if (!g->name || !hash_rebuild(g, 64)) { free(g->name); free(g); return NULL; }
    return g;
}

void weft_attr_clear(weft_attr *a)
{
    free(a->name);
    free(a->s);
    free(a->floats);
    free(a->ints);
    if (a->strings)
        for (int i = 0; i < a->n; i++) free(a->strings[i]);
    free(a->strings);
    if (a->t) {
        int nt = a->type == WEFT_ATTR_TENSORS ? a->n : 1;
        for (int i = 0; i < nt; i++) { free(a->t[i].data); free((char *)a->t[i].name); }
        free(a->t);
    }
    weft_graph_free(a->g);
    if (a->gs)
        for (int i = 0; i < a->n; i++) weft_graph_free(a->gs[i]);
    free(a->gs);
    memset(a, 0, sizeof *a);
}

static void node_clear(weft_node *n)
{
    free(n->name);
    free(n->op_type);
    free(n->domain);
    free(n->inputs);
    free(n->outputs);
    for (int i = 0; i < n->n_attrs; i++) weft_attr_clear(&n->attrs[i]);
    free(n->attrs);
}

void weft_graph_free(weft_graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_values; i++) { free(g->values[i].name); free(g->values[i].data); }
    for (int i = 0; i < g->n_nodes; i++) node_clear(&g->nodes[i]);
    free(g->values);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->hash);
    free(g->name);
    free(g);
}

int weft_graph_add_value(weft_graph *g, const char *name)
{
    if (name && name[0] && weft_graph_find_value(g, name) >= 0) {
        weft_error(WEFT_ERR_INVALID_MODEL, "value '%s' is defined twice", name);
        return -1;
    }
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? g->cap_values * 2 : 64;
        weft_value *p = realloc(g->values, (size_t)cap * sizeof *p);
        if (!p) { weft_error(WEFT_ERR_NOMEM, "out of memory adding value '%s'", name); return -1; }
        g->values = p;
        g->cap_values = cap;
    }
    weft_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = dupstr(name);
    v->producer = -1;
    v->shape.rank = -1;
    if (!v->name) { weft_error(WEFT_ERR_NOMEM, "out of memory"); return -1; }
    int idx = g->n_values++;
    /* keep the hash at most half full */
    if (2 * g->n_values > g->hash_cap) {
        if (!hash_rebuild(g, g->hash_cap * 2)) {
            g->n_values--;
            free(v->name);
            weft_error(WEFT_ERR_NOMEM, "out of memory");
            return -1;
        }
    } else if (v->name[0]) {
        uint32_t j = hash_str(v->name) & (uint32_t)(g->hash_cap - 1);
        while (g->hash[j] >= 0) j = (j + 1) & (uint32_t)(g->hash_cap - 1);
        g->hash[j] = idx;
    }
    return idx;
}

int weft_graph_add_node(weft_graph *g, const char *op_type, const char *domain, const char *name, int n_inputs,
                        int n_outputs)
{
    if (n_inputs < 0 || n_outputs < 0) {
        weft_error(WEFT_ERR_INVALID_MODEL, "node '%s': negative input/output count", name ? name : "");
        return -1;
    }
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        weft_node *p = realloc(g->nodes, (size_t)cap * sizeof *p);
        if (!p) { weft_error(WEFT_ERR_NOMEM, "out of memory adding node"); return -1; }
        g->nodes = p;
        g->cap_nodes = cap;
    }
    weft_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op_type = dupstr(op_type);
    n->domain = dupstr(domain && strcmp(domain, "ai.onnx") != 0 ? domain : "");
    if (name && name[0]) {
        n->name = dupstr(name);
    } else {
        char buf[96];
        snprintf(buf, sizeof buf, "%.64s_%d", op_type ? op_type : "node", g->n_nodes);
        n->name = dupstr(buf);
    }
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    n->inputs = malloc((size_t)(n_inputs ? n_inputs : 1) * sizeof(int));
    n->outputs = malloc((size_t)(n_outputs ? n_outputs : 1) * sizeof(int));
    if (!n->op_type || !n->domain || !n->name || !n->inputs || !n->outputs) {
        node_clear(n);
        weft_error(WEFT_ERR_NOMEM, "out of memory adding node");
        return -1;
    }
    for (int i = 0; i < n_inputs; i++) n->inputs[i] = -1;
    for (int i = 0; i < n_outputs; i++) n->outputs[i] = -1;
    return g->n_nodes++;
}

weft_status weft_node_add_attr(weft_node *n, weft_attr *a)
{
    weft_attr *p = realloc(n->attrs, (size_t)(n->n_attrs + 1) * sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory adding attribute");
    n->attrs = p;
    n->attrs[n->n_attrs++] = *a;
    memset(a, 0, sizeof *a);
    return WEFT_OK;
}

weft_node_info weft_node_view(const weft_node *n)
{
    weft_node_info i = {n->name, n->op_type, n->domain, n->opset, n->n_attrs, n->attrs};
    return i;
}

weft_status weft_value_set_data(weft_value *v, weft_dtype dtype, const weft_shape *shape, const void *data,
                                size_t nbytes)
{
    void *p = malloc(nbytes ? nbytes : 1);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory for constant '%s' (%zu bytes)", v->name, nbytes);
    if (nbytes) memcpy(p, data, nbytes);
    free(v->data);
    v->data = p;
    v->nbytes = nbytes;
    v->dtype = dtype;
    v->shape = *shape;
    v->flags |= WEFT_VALUE_CONST | WEFT_VALUE_TYPED;
    return WEFT_OK;
}

const weft_value *weft_graph_lookup_scoped(const weft_graph *g, const char *name, const weft_graph **owner)
{
    for (; g; g = g->parent) {
        int i = weft_graph_find_value(g, name);
        if (i >= 0 && !(g->values[i].flags & WEFT_VALUE_OUTER)) {
            if (owner) *owner = g;
            return &g->values[i];
        }
    }
    return NULL;
}

/* --- deep copy ----------------------------------------------------------------------------------- */

static void *dupmem(const void *p, size_t n)
{
    if (!p) return NULL;
    void *q = malloc(n ? n : 1);
    if (q && n) memcpy(q, p, n);
    return q;
}

bool weft_attr_copy(weft_attr *dst, const weft_attr *src, weft_graph *owner)
{
    memset(dst, 0, sizeof *dst);
    dst->name = dupstr(src->name);
    dst->type = src->type;
    dst->f = src->f;
    dst->i = src->i;
    dst->n = src->n;
    dst->s_len = src->s_len;
    bool ok = dst->name != NULL;
    if (src->s) ok &= (dst->s = dupmem(src->s, src->s_len + 1)) != NULL;
    if (src->floats) ok &= (dst->floats = dupmem(src->floats, (size_t)src->n * sizeof(float))) != NULL;
    if (src->ints) ok &= (dst->ints = dupmem(src->ints, (size_t)src->n * sizeof(int64_t))) != NULL;
    if (src->strings) {
        ok &= (dst->strings = calloc((size_t)src->n + 1, sizeof(char *))) != NULL;
        for (int i = 0; ok && i < src->n; i++) ok &= (dst->strings[i] = dupstr(src->strings[i])) != NULL;
    }
    if (src->t) {
        int nt = src->type == WEFT_ATTR_TENSORS ? src->n : 1;
        ok &= (dst->t = calloc((size_t)(nt ? nt : 1), sizeof(weft_tensor))) != NULL;
        for (int i = 0; ok && i < nt; i++) {
            dst->t[i] = src->t[i];
            dst->t[i].name = src->t[i].name ? dupstr(src->t[i].name) : NULL;
            dst->t[i].data = dupmem(src->t[i].data, src->t[i].nbytes);
            ok &= src->t[i].data == NULL || dst->t[i].data != NULL;
        }
    }
    if (src->g) ok &= (dst->g = weft_graph_clone(src->g, owner)) != NULL;
    if (src->gs) {
        ok &= (dst->gs = calloc((size_t)(src->n ? src->n : 1), sizeof(weft_graph *))) != NULL;
        for (int i = 0; ok && i < src->n; i++) ok &= (dst->gs[i] = weft_graph_clone(src->gs[i], owner)) != NULL;
    }
    if (!ok) weft_attr_clear(dst);
    return ok;
}

weft_graph *weft_graph_clone(const weft_graph *g, weft_graph *parent)
{
    weft_graph *c = weft_graph_new(parent, g->syms);
    if (!c) return NULL;
    free(c->name);
    c->name = dupstr(g->name);
    for (int i = 0; i < g->n_values; i++) {
        const weft_value *v = &g->values[i];
        if (weft_graph_add_value(c, v->name) < 0) goto fail;
        weft_value *d = &c->values[i];
        d->dtype = v->dtype;
        d->shape = v->shape;
        d->flags = v->flags;
        d->producer = v->producer;
        d->nbytes = v->nbytes;
        if (v->data && !(d->data = dupmem(v->data, v->nbytes))) goto fail;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const weft_node *n = &g->nodes[i];
        if (weft_graph_add_node(c, n->op_type, n->domain, n->name, n->n_inputs, n->n_outputs) < 0) goto fail;
        weft_node *d = &c->nodes[i];
        d->opset = n->opset;
        d->def = n->def;
        memcpy(d->inputs, n->inputs, (size_t)n->n_inputs * sizeof(int));
        memcpy(d->outputs, n->outputs, (size_t)n->n_outputs * sizeof(int));
        if (n->n_attrs) {
            d->attrs = calloc((size_t)n->n_attrs, sizeof(weft_attr));
            if (!d->attrs) goto fail;
            for (int a = 0; a < n->n_attrs; a++) {
                if (!weft_attr_copy(&d->attrs[a], &n->attrs[a], c)) goto fail;
                d->n_attrs = a + 1;
            }
        }
    }
    c->inputs = dupmem(g->inputs, (size_t)g->n_inputs * sizeof(int));
    c->outputs = dupmem(g->outputs, (size_t)g->n_outputs * sizeof(int));
    c->n_inputs = g->n_inputs;
    c->n_outputs = g->n_outputs;
    if ((g->n_inputs && !c->inputs) || (g->n_outputs && !c->outputs)) goto fail;
    return c;
fail:
    weft_graph_free(c);
    weft_error(WEFT_ERR_NOMEM, "out of memory copying graph");
    return NULL;
}

/* --- op resolution and order --------------------------------------------------------------------- */

static weft_status resolve_graph(weft_graph *g, void *user)
{
    int *bad = user;
    for (int i = 0; i < g->n_nodes; i++) {
        weft_node *n = &g->nodes[i];
        n->def = weft_op_find(n->domain, n->op_type, n->opset);
        if (!n->def) (*bad)++;
    }
    return WEFT_OK;
}

void weft_ir_resolve_ops(weft_graph *g, int *n_unsupported)
{
    int bad = 0;
    weft_graph_walk(g, resolve_graph, &bad);
    if (n_unsupported) *n_unsupported = bad;
}

/* A growing list of value indices: a node's dependencies while sorting. */
typedef struct dep_list {
    int *v;
    int n, cap;
} dep_list;

static weft_status dep_push(int value, void *user)
{
    dep_list *d = user;
    if (d->n == d->cap) {
        int nc = d->cap ? d->cap * 2 : 64;
        int *p = realloc(d->v, (size_t)nc * sizeof(int));
        if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        d->v = p;
        d->cap = nc;
    }
    d->v[d->n++] = value;
    return WEFT_OK;
}

/* Kahn's algorithm over value producers, visiting ready nodes in their original order so that an
 * already-sorted graph keeps its order. A node depends on its inputs and on the values its subgraphs
 * read from this graph by name. */
weft_status weft_ir_toposort(weft_graph *g)
{
    if (g->n_nodes < 0 || g->n_values < 0) return weft_error(WEFT_ERR_INTERNAL, "corrupt graph");
    int N = g->n_nodes, V = g->n_values;
    int *producer = malloc((size_t)(V ? V : 1) * sizeof(int));
    int *pending = calloc((size_t)(N ? N : 1), sizeof(int));
    int *order = malloc((size_t)(N ? N : 1) * sizeof(int));
    int *dep_start = calloc((size_t)N + 1, sizeof(int));
    dep_list deps = {0};
    int *users_start = calloc((size_t)V + 1, sizeof(int));
    int *users = NULL;
    weft_status st = WEFT_OK;
    if (!producer || !pending || !order || !users_start || !dep_start) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    for (int v = 0; v < V; v++) producer[v] = -1;
    for (int i = 0; i < N; i++)
        for (int o = 0; o < g->nodes[i].n_outputs; o++) {
            int v = g->nodes[i].outputs[o];
            if (v < 0) continue;
            if (v >= V) { st = weft_error(WEFT_ERR_INTERNAL, "node '%s': output index out of range", g->nodes[i].name); goto done; }
            if (producer[v] >= 0) {
                st = weft_error(WEFT_ERR_INVALID_MODEL, "value '%s' is produced by both node '%s' and node '%s'",
                                g->values[v].name, g->nodes[producer[v]].name, g->nodes[i].name);
                goto done;
            }
            producer[v] = i;
        }
    /* every node's dependencies, flattened (CSR) */
    for (int i = 0; i < N; i++) {
        const weft_node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_inputs; k++) {
            int v = nd->inputs[k];
            if (v < 0) continue;
            const weft_value *val = &g->values[v];
            if (producer[v] < 0 && !(val->flags & (WEFT_VALUE_INPUT | WEFT_VALUE_CONST | WEFT_VALUE_OUTER))) {
                st = weft_error(WEFT_ERR_INVALID_MODEL, "node '%s' reads '%s', which no node, input or initializer defines",
                                nd->name, val->name);
                goto done;
            }
            if ((st = dep_push(v, &deps))) goto done;
        }
        if ((st = weft_node_each_outer_read(g, &g->nodes[i], dep_push, &deps))) goto done;
        dep_start[i + 1] = deps.n;
    }
    int total = 0;
    for (int i = 0; i < N; i++)
        for (int j = dep_start[i]; j < dep_start[i + 1]; j++) {
            int v = deps.v[j];
            if (producer[v] >= 0) { pending[i]++; users_start[v + 1]++; total++; }
        }
    for (int v = 0; v < V; v++) users_start[v + 1] += users_start[v];
    users = malloc((size_t)(total ? total : 1) * sizeof(int));
    int *fill = calloc((size_t)(V ? V : 1), sizeof(int));
    if (!users || !fill) { free(fill); st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    for (int i = 0; i < N; i++)
        for (int j = dep_start[i]; j < dep_start[i + 1]; j++) {
            int v = deps.v[j];
            if (producer[v] >= 0) users[users_start[v] + fill[v]++] = i;
        }
    free(fill);
    int done_n = 0;
    char *emitted = calloc((size_t)(N ? N : 1), 1);
    int *queue = malloc((size_t)(N ? N : 1) * sizeof(int));
    if (!emitted || !queue) { free(emitted); free(queue); st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    int qh = 0, qt = 0;
    for (int i = 0; i < N; i++)
        if (pending[i] == 0) queue[qt++] = i;
    while (qh < qt) {
        int i = queue[qh++];
        order[done_n++] = i;
        emitted[i] = 1;
        for (int o = 0; o < g->nodes[i].n_outputs; o++) {
            int v = g->nodes[i].outputs[o];
            if (v < 0) continue;
            for (int u = users_start[v]; u < users_start[v + 1]; u++)
                if (--pending[users[u]] == 0) queue[qt++] = users[u];
        }
    }
    free(queue);
    if (done_n < N) {
        int culprit = 0;
        while (culprit < N && emitted[culprit]) culprit++;
        free(emitted);
        st = weft_error(WEFT_ERR_INVALID_MODEL, "the graph has a cycle through node '%s'", g->nodes[culprit].name);
        goto done;
    }
    free(emitted);
    weft_node *sorted = malloc((size_t)(N > 0 ? N : 1) * sizeof *sorted);
    if (!sorted) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    for (int k = 0; k < N; k++) sorted[k] = g->nodes[order[k]];
    if (N > 0) memcpy(g->nodes, sorted, (size_t)N * sizeof *sorted);
    free(sorted);
    for (int v = 0; v < V; v++) g->values[v].producer = -1;
    for (int i = 0; i < N; i++)
        for (int o = 0; o < g->nodes[i].n_outputs; o++)
            if (g->nodes[i].outputs[o] >= 0) g->values[g->nodes[i].outputs[o]].producer = i;
done:
    free(producer);
    free(pending);
    free(order);
    free(dep_start);
    free(deps.v);
    free(users_start);
    free(users);
    return st;
}

int64_t weft_model_opset(const struct weft_model *m, const char *domain)
{
    if (!domain || strcmp(domain, "ai.onnx") == 0) domain = "";
    for (int i = 0; i < m->n_opsets; i++)
        if (strcmp(m->opsets[i].domain, domain) == 0) return m->opsets[i].version;
    return 0;
}

void weft_graph_remove_nodes(weft_graph *g, const bool *keep)
{
    int w = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (keep[i]) g->nodes[w++] = g->nodes[i];
        else node_clear(&g->nodes[i]);
    }
    g->n_nodes = w;
    for (int v = 0; v < g->n_values; v++) g->values[v].producer = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int o = 0; o < g->nodes[i].n_outputs; o++)
            if (g->nodes[i].outputs[o] >= 0) g->values[g->nodes[i].outputs[o]].producer = i;
}

weft_status weft_node_each_subgraph(weft_node *n, weft_subgraph_fn fn, void *user)
{
    for (int a = 0; a < n->n_attrs; a++) {
        weft_attr *at = &n->attrs[a];
        weft_status st;
        if (at->g && (st = fn(at->g, at, user))) return st;
        for (int k = 0; at->gs && k < at->n; k++)
            if (at->gs[k] && (st = fn(at->gs[k], at, user))) return st;
    }
    return WEFT_OK;
}

/* A weft_graph_fn and its argument, for the visitors built on weft_node_each_subgraph. */
typedef struct graph_fn_ctx {
    weft_graph_fn fn;
    void *user;
} graph_fn_ctx;

static weft_status call_on_sub(weft_graph *sub, weft_attr *attr, void *user)
{
    const graph_fn_ctx *c = user;
    return c->fn(sub, c->user);
}

weft_status weft_graph_each_subgraph(weft_graph *g, weft_graph_fn fn, void *user)
{
    graph_fn_ctx c = {fn, user};
    for (int i = 0; i < g->n_nodes; i++) {
        weft_status st = weft_node_each_subgraph(&g->nodes[i], call_on_sub, &c);
        if (st) return st;
    }
    return WEFT_OK;
}

static weft_status walk_one(weft_graph *g, void *user)
{
    const graph_fn_ctx *w = user;
    weft_status st = w->fn(g, w->user);
    return st ? st : weft_graph_each_subgraph(g, walk_one, (void *)w);
}

weft_status weft_graph_walk(weft_graph *g, weft_graph_fn fn, void *user)
{
    graph_fn_ctx w = {fn, user};
    return walk_one(g, &w);
}

static weft_status walk_sub(weft_graph *sub, weft_attr *attr, void *user)
{
    return walk_one(sub, user);
}

weft_status weft_node_walk(weft_node *n, weft_graph_fn fn, void *user)
{
    graph_fn_ctx w = {fn, user};
    return weft_node_each_subgraph(n, walk_sub, &w);
}

typedef struct outer_read_ctx {
    const weft_graph *g;
    weft_value_fn fn;
    void *user;
} outer_read_ctx;

static weft_status outer_reads_of(weft_graph *sub, void *user)
{
    const outer_read_ctx *c = user;
    for (int v = 0; v < sub->n_values; v++) {
        if (!(sub->values[v].flags & WEFT_VALUE_OUTER)) continue;
        int i = weft_graph_find_value(c->g, sub->values[v].name);
        weft_status st;
        if (i >= 0 && (st = c->fn(i, c->user))) return st;
    }
    return WEFT_OK;
}

weft_status weft_node_each_outer_read(const weft_graph *g, weft_node *n, weft_value_fn fn, void *user)
{
    outer_read_ctx c = {g, fn, user};
    return weft_node_walk(n, outer_reads_of, &c);
}
