/*
 * compiler/pass_cse.c — common-subexpression elimination.
 *
 * Exporters repeat work per layer: every SAGE layer gathers row 0 and row 1 of the same edge_index,
 * every GCN layer rebuilds the same self-loop edge list, every layer makes its own copy of the scalar
 * constants. Sharing them is what lets the later passes build one CSR index per distinct edge index.
 *
 * Three kinds of values are merged, in node order (so the value kept is always the one defined first):
 *  - constants with the same dtype, shape and bytes (not float parameters: a trainable initializer
 *    keeps its identity; integer and bool initializers are never trained);
 *  - small integer tensors whose contents inference knows symbolically and finds equal
 *    (`Shape(x)[0]` and `Shape(relu(x W))[0]` both hold num_nodes), see compiler/symval.c;
 *  - outputs of nodes with the same op, domain, opset, attributes and (already merged) inputs. Nodes
 *    with side effects or randomness (WEFT_OP_NO_FOLD), control flow and subgraph attributes are left
 *    alone.
 * Readers of a merged value read the kept one; graph outputs and values read by subgraphs keep their
 * producers. Each graph is handled on its own (values never cross into a subgraph by this pass).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite.h"
#include "symval.h"

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t fnv_str(uint64_t h, const char *s) { return fnv(h, s, strlen(s) + 1); }

/* --- attributes ---------------------------------------------------------------------------------- */

static bool tensor_eq(const weft_tensor *a, const weft_tensor *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank || a->nbytes != b->nbytes) return false;
    if (memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0])) return false;
    return a->nbytes == 0 || (a->data && b->data && memcmp(a->data, b->data, a->nbytes) == 0);
}

static bool attr_eq(const weft_attr *a, const weft_attr *b)
{
    if (a->type != b->type || a->n != b->n) return false;
    switch (a->type) {
    case WEFT_ATTR_INT: return a->i == b->i;
    case WEFT_ATTR_FLOAT: return memcmp(&a->f, &b->f, sizeof a->f) == 0;
    case WEFT_ATTR_STRING: return a->s_len == b->s_len && memcmp(a->s, b->s, a->s_len) == 0;
    case WEFT_ATTR_INTS: return a->n == 0 || memcmp(a->ints, b->ints, (size_t)a->n * sizeof *a->ints) == 0;
    case WEFT_ATTR_FLOATS: return a->n == 0 || memcmp(a->floats, b->floats, (size_t)a->n * sizeof *a->floats) == 0;
    case WEFT_ATTR_STRINGS:
        for (int i = 0; i < a->n; i++)
            if (strcmp(a->strings[i], b->strings[i])) return false;
        return true;
    case WEFT_ATTR_TENSOR: return a->t && b->t && tensor_eq(a->t, b->t);
    case WEFT_ATTR_TENSORS:
        for (int i = 0; i < a->n; i++)
            if (!tensor_eq(&a->t[i], &b->t[i])) return false;
        return true;
    default: return false; /* graphs, sparse tensors, type protos: never merged */
    }
}

/* Same attributes, in any order. */
static bool attrs_eq(const weft_node *a, const weft_node *b)
{
    if (a->n_attrs != b->n_attrs) return false;
    for (int i = 0; i < a->n_attrs; i++) {
        int j = 0;
        while (j < b->n_attrs && strcmp(a->attrs[i].name, b->attrs[j].name)) j++;
        if (j == b->n_attrs || !attr_eq(&a->attrs[i], &b->attrs[j])) return false;
    }
    return true;
}

static bool mergeable_node(const weft_node *n)
{
    if (!n->def || (n->def->flags & (WEFT_OP_NO_FOLD | WEFT_OP_CONTROL_FLOW)) || n->n_outputs < 1) return false;
    for (int a = 0; a < n->n_attrs; a++) {
        weft_attr_type t = n->attrs[a].type;
        if (t == WEFT_ATTR_GRAPH || t == WEFT_ATTR_GRAPHS || t == WEFT_ATTR_SPARSE_TENSOR ||
            t == WEFT_ATTR_SPARSE_TENSORS || t == WEFT_ATTR_TYPE_PROTO || t == WEFT_ATTR_TYPE_PROTOS)
            return false;
    }
    return true;
}

static bool mergeable_const(const weft_value *v)
{
    if (!(v->flags & WEFT_VALUE_CONST) || !v->data || (v->flags & (WEFT_VALUE_INPUT | WEFT_VALUE_OUTER))) return false;
    if (!(v->flags & WEFT_VALUE_INITIALIZER)) return true;
    switch (v->dtype) {
    case WEFT_INT8: case WEFT_INT16: case WEFT_INT32: case WEFT_INT64: case WEFT_UINT8: case WEFT_UINT16:
    case WEFT_UINT32: case WEFT_UINT64: case WEFT_BOOL:
        return true;
    default: return false;
    }
}

/* --- the table of kept values and nodes (hash, then a full comparison on equal hashes) ---------- */

typedef struct entry {
    uint64_t h;
    int id;
} entry;

/* Open addressing on the hash: lookups walk only the entries whose hash collides in the slot. */
typedef struct table {
    entry *e;   /* cap slots; id < 0: empty */
    int n, cap;
} table;

static bool table_grow(table *t)
{
    int cap = t->cap ? 2 * t->cap : 256;
    entry *e = malloc((size_t)cap * sizeof *e);
    if (!e) return false;
    for (int i = 0; i < cap; i++) e[i].id = -1;
    for (int i = 0; i < t->cap; i++) {
        if (t->e[i].id < 0) continue;
        size_t j = (size_t)t->e[i].h & (size_t)(cap - 1);
        while (e[j].id >= 0) j = (j + 1) & (size_t)(cap - 1);
        e[j] = t->e[i];
    }
    free(t->e);
    t->e = e;
    t->cap = cap;
    return true;
}

static bool table_add(table *t, uint64_t h, int id)
{
    if (2 * (t->n + 1) > t->cap && !table_grow(t)) return false;
    size_t j = (size_t)h & (size_t)(t->cap - 1);
    while (t->e[j].id >= 0) j = (j + 1) & (size_t)(t->cap - 1);
    t->e[j] = (entry){h, id};
    t->n++;
    return true;
}

/* Walks the entries with hash h: *pos starts at -1; returns the next id, or -1 at the end. */
static int table_next(const table *t, uint64_t h, long *pos)
{
    if (!t->cap) return -1;
    size_t j = *pos < 0 ? (size_t)h & (size_t)(t->cap - 1) : ((size_t)*pos + 1) & (size_t)(t->cap - 1);
    for (; t->e[j].id >= 0; j = (j + 1) & (size_t)(t->cap - 1))
        if (t->e[j].h == h) {
            *pos = (long)j;
            return t->e[j].id;
        }
    return -1;
}

/* A symbolic integer vector: what inference knows of a small int tensor. */
typedef struct symkey {
    weft_dtype dtype;
    bool scalar;
    weft_symval s;
} symkey;

static bool symkey_of(const weft_graph *g, const weft_symval *sv, int v, symkey *k)
{
    const weft_value *val = &g->values[v];
    if (val->dtype != WEFT_INT64 && val->dtype != WEFT_INT32) return false;
    if (val->shape.rank > 1 || val->shape.rank < 0) return false;
    memset(k, 0, sizeof *k);
    k->dtype = val->dtype;
    k->scalar = val->shape.rank == 0;
    if (val->flags & WEFT_VALUE_CONST) {
        if (!val->data || (val->flags & WEFT_VALUE_INPUT)) return false;
        int64_t n = (int64_t)(val->nbytes / weft_dtype_size(val->dtype));
        if (n > WEFT_MAX_RANK || (k->scalar && n != 1)) return false;
        k->s.len = (int)n;
        for (int i = 0; i < k->s.len; i++) k->s.d[i] = weft_dim_num(weft_load_i64(val->dtype, val->data, i));
        return true;
    }
    if (sv[v].len < 0 || (k->scalar && sv[v].len != 1)) return false;
    k->s.len = sv[v].len;
    for (int i = 0; i < k->s.len; i++) k->s.d[i] = sv[v].d[i];
    return true;
}

static uint64_t symkey_hash(const symkey *k)
{
    uint64_t h = 1469598103934665603ull;
    h = fnv(h, &k->dtype, sizeof k->dtype);
    h = fnv(h, &k->scalar, sizeof k->scalar);
    h = fnv(h, &k->s.len, sizeof k->s.len);
    for (int i = 0; i < k->s.len; i++) {
        h = fnv(h, &k->s.d[i].sym, sizeof k->s.d[i].sym);
        if (k->s.d[i].sym < 0) h = fnv(h, &k->s.d[i].v, sizeof k->s.d[i].v);
    }
    return h;
}

static bool symkey_eq(const symkey *a, const symkey *b)
{
    if (a->dtype != b->dtype || a->scalar != b->scalar || a->s.len != b->s.len) return false;
    for (int i = 0; i < a->s.len; i++)
        if (!weft_dim_eq(a->s.d[i], b->s.d[i])) return false;
    return true;
}

static uint64_t node_hash(const weft_node *n)
{
    uint64_t h = 1469598103934665603ull;
    h = fnv_str(h, n->op_type);
    h = fnv_str(h, n->domain);
    h = fnv(h, &n->opset, sizeof n->opset);
    h = fnv(h, &n->n_inputs, sizeof n->n_inputs);
    h = fnv(h, &n->n_outputs, sizeof n->n_outputs);
    for (int k = 0; k < n->n_inputs; k++) h = fnv(h, &n->inputs[k], sizeof n->inputs[k]);
    return h;
}

static bool node_eq(const weft_node *a, const weft_node *b)
{
    if (a->def != b->def || a->opset != b->opset || a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs) return false;
    if (strcmp(a->op_type, b->op_type) || strcmp(a->domain, b->domain)) return false;
    if (memcmp(a->inputs, b->inputs, (size_t)a->n_inputs * sizeof *a->inputs)) return false;
    /* an unused optional output on one side only: the other may not have computed it */
    for (int o = 0; o < a->n_outputs; o++)
        if ((a->outputs[o] < 0) != (b->outputs[o] < 0)) return false;
    return attrs_eq(a, b);
}

/* --- views that change nothing ------------------------------------------------------------------ */

/* The input of a node whose output is its input unchanged: a Reshape, Expand, Flatten or Cast to the
 * same dtype whose output has the input's own shape (symbol for symbol), or a Slice that keeps every
 * element (steps of 1, same shape). -1 otherwise. */
static int noop_view(const weft_graph *g, const weft_node *n)
{
    if (n->domain[0] || n->n_inputs < 1 || n->inputs[0] < 0 || n->n_outputs != 1 || n->outputs[0] < 0) return -1;
    const weft_value *in = &g->values[n->inputs[0]], *out = &g->values[n->outputs[0]];
    if (in->dtype != out->dtype || !weft_rw_shape_eq(&in->shape, &out->shape)) return -1;
    const char *op = n->op_type;
    if (!strcmp(op, "Reshape") || !strcmp(op, "Expand") || !strcmp(op, "Flatten") || !strcmp(op, "Cast")) return n->inputs[0];
    if (!strcmp(op, "Slice") && n->n_inputs >= 3) {
        if (n->n_inputs >= 5 && n->inputs[4] >= 0) {
            const weft_value *st = &g->values[n->inputs[4]];
            if (!(st->flags & WEFT_VALUE_CONST) || !st->data) return -1;
            for (int64_t i = 0; i < (int64_t)(st->nbytes / weft_dtype_size(st->dtype)); i++)
                if (weft_load_i64(st->dtype, st->data, i) != 1) return -1;
        }
        return n->inputs[0];
    }
    return -1;
}

/* --- symbols ------------------------------------------------------------------------------------- */

/* Two values found equal have equal shapes, so symbols inference made apart (the unk__ dims of a
 * layer's copy of the edge list) name the same size: each such symbol is replaced by its partner's dim
 * everywhere, so that later passes (and inference, which keeps a shape it already has) see one size.
 * Only fresh symbols are replaced; two different named symbols are left as they are. */
typedef struct symmap {
    weft_dim *to; /* per symbol: what it stands for (sym = itself when unmapped) */
    int n;
} symmap;

static bool fresh_sym(const weft_symtab *t, int32_t s) { return strncmp(weft_sym_name(t, s), "unk__", 5) == 0; }

static weft_dim resolve_dim(const symmap *m, weft_dim d)
{
    for (int guard = 0; !weft_dim_known(d) && d.sym < m->n && guard < m->n; guard++) {
        weft_dim e = m->to[d.sym];
        if (weft_dim_eq(e, d)) break;
        d = e;
    }
    return d;
}

static bool unify(symmap *m, const weft_symtab *t, weft_dim a, weft_dim b)
{
    a = resolve_dim(m, a);
    b = resolve_dim(m, b);
    if (weft_dim_eq(a, b)) return false;
    if (weft_dim_known(a) && weft_dim_known(b)) return false;
    /* map the fresh one onto the other */
    if (!weft_dim_known(a) && fresh_sym(t, a.sym) && a.sym < m->n) { m->to[a.sym] = b; return true; }
    if (!weft_dim_known(b) && fresh_sym(t, b.sym) && b.sym < m->n) { m->to[b.sym] = a; return true; }
    return false;
}

static weft_status apply_syms(weft_graph *g, void *user)
{
    const symmap *m = user;
    for (int v = 0; v < g->n_values; v++) {
        weft_shape *s = &g->values[v].shape;
        for (int d = 0; d < s->rank; d++) s->d[d] = resolve_dim(m, s->d[d]);
    }
    return WEFT_OK;
}

/* --- the pass ------------------------------------------------------------------------------------ */

static weft_status cse_round(weft_rw *r, int *changed)
{
    weft_graph *g = r->g;
    int V = g->n_values;
    int *canon = malloc(((size_t)V + 1) * sizeof *canon);
    weft_symval *sv = malloc(((size_t)V + 1) * sizeof *sv);
    symkey *keys = malloc(((size_t)V + 1) * sizeof *keys);
    table consts = {0}, syms = {0}, nodes = {0};
    weft_status st = WEFT_OK;
    if (!canon || !sv || !keys) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    for (int v = 0; v < V; v++) {
        canon[v] = v;
        sv[v].len = -1;
    }

    /* constants, and integer constants as symbolic vectors (so a computed [num_nodes] or [8] finds the
     * constant with the same contents) */
    for (int v = 0; v < V; v++) {
        const weft_value *val = &g->values[v];
        if (!mergeable_const(val)) continue;
        uint64_t h = fnv(fnv(fnv(1469598103934665603ull, &val->dtype, sizeof val->dtype), &val->shape.rank,
                             sizeof val->shape.rank), val->data, val->nbytes);
        int kept = -1;
        long pos = -1;
        for (int id; kept < 0 && (id = table_next(&consts, h, &pos)) >= 0;) {
            const weft_value *o = &g->values[id];
            if (o->dtype == val->dtype && o->nbytes == val->nbytes && weft_rw_shape_eq(&o->shape, &val->shape) &&
                memcmp(o->data, val->data, val->nbytes) == 0)
                kept = id;
        }
        if (kept >= 0) { canon[v] = kept; continue; }
        if (!table_add(&consts, h, v)) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
        if (symkey_of(g, sv, v, &keys[v]) && !table_add(&syms, symkey_hash(&keys[v]), v)) {
            st = weft_error(WEFT_ERR_NOMEM, "out of memory");
            goto done;
        }
    }

    for (int i = 0; i < g->n_nodes; i++) {
        weft_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            if (v >= 0 && canon[v] != v) {
                n->inputs[k] = canon[v];
                r->readers[v]--;
                r->readers[canon[v]]++;
                (*changed)++;
            }
        }
        /* symbolic contents follow from the (merged) inputs */
        if (n->def && !(n->def->flags & WEFT_OP_CONTROL_FLOW)) weft_symval_propagate(sv, g, n);
        if (!mergeable_node(n)) continue;
        uint64_t h = node_hash(n);
        int kept = -1;
        long pos = -1;
        for (int id; kept < 0 && (id = table_next(&nodes, h, &pos)) >= 0;)
            if (node_eq(&g->nodes[id], n)) kept = id;
        if (kept >= 0) {
            for (int o = 0; o < n->n_outputs; o++)
                if (n->outputs[o] >= 0) canon[n->outputs[o]] = canon[g->nodes[kept].outputs[o]];
            continue;
        }
        if (!table_add(&nodes, h, i)) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
        int same = noop_view(g, n);
        if (same >= 0) {
            canon[n->outputs[0]] = same;
            continue;
        }
        /* a shape value equal to one defined before */
        int o = n->outputs[0];
        if (n->n_outputs != 1 || o < 0 || !symkey_of(g, sv, o, &keys[o])) continue;
        uint64_t hk = symkey_hash(&keys[o]);
        pos = -1;
        for (int id; kept < 0 && (id = table_next(&syms, hk, &pos)) >= 0;)
            if (symkey_eq(&keys[id], &keys[o])) kept = id;
        if (kept >= 0) canon[o] = kept;
        else if (!table_add(&syms, hk, o)) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    }
    /* sizes the merged values share */
    if (g->syms && g->syms->n > 0) {
        symmap m = {malloc((size_t)g->syms->n * sizeof(weft_dim)), g->syms->n};
        if (!m.to) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
        for (int k = 0; k < m.n; k++) m.to[k] = (weft_dim){0, k};
        bool any = false;
        for (int v = 0; v < V; v++) {
            const weft_shape *a = &g->values[v].shape, *b = &g->values[canon[v]].shape;
            if (canon[v] == v || a->rank != b->rank) continue;
            for (int d = 0; d < a->rank; d++) any |= unify(&m, g->syms, a->d[d], b->d[d]);
        }
        /* the whole model shares the symbol table: rename everywhere, from the top graph down */
        weft_graph *top = g;
        while (top->parent) top = top->parent;
        if (any) weft_graph_walk(top, apply_syms, &m);
        free(m.to);
    }
done:
    free(canon);
    free(sv);
    free(keys);
    free(consts.e);
    free(syms.e);
    free(nodes.e);
    return st;
}

/* Merging makes sizes one symbol, which makes more nodes equal (a view of a merged value becomes a
 * no-op, a node reading it a duplicate): repeat while a round merges something. */
static weft_status cse_graph(weft_rw *r, int *changed)
{
    for (int round = 0; round < 8; round++) {
        int c = 0;
        weft_status st = cse_round(r, &c);
        if (st) return st;
        *changed += c;
        if (!c) break;
    }
    return WEFT_OK;
}

weft_status weft_pass_cse(weft_graph *g, int *changed)
{
    return weft_rw_each_graph(g, cse_graph, changed);
}
