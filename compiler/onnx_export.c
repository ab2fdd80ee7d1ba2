/*
 * compiler/onnx_export.c — weft IR → ONNX ModelProto (protobuf-c).
 *
 * The protobuf-c message tree is built in a bump arena that borrows the IR's strings and tensor data
 * (nothing is copied until protobuf-c packs the tree into one buffer), then freed at once. The reading
 * side is compiler/onnx_import.c; what one writes, the other reads back to the same graph.
 */
#include "onnx_export.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.pb-c.h"

/* --- a bump arena for the message tree ------------------------------------------------------------ */

typedef struct ex_chunk {
    struct ex_chunk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
} ex_chunk;

typedef struct exporter {
    ex_chunk *chunks;
    const weft_graph *root;
    const weft_symtab *syms;
    const char **sym_names; /* one distinct dim_param per symbol */
    bool value_info;
    int anon;               /* generated names so far */
    weft_status st;         /* the first failure (allocation) */
} exporter;

/* Zeroed memory that lives until the export ends; NULL (and x->st set) when out of memory. */
static void *ex_alloc(exporter *x, size_t n)
{
    n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    if (!n) n = alignof(max_align_t);
    ex_chunk *c = x->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 60000 ? n : 60000;
        c = malloc(sizeof *c + cap);
        if (!c) {
            if (!x->st) x->st = weft_error(WEFT_ERR_NOMEM, "out of memory writing the ONNX model");
            return NULL;
        }
        c->next = x->chunks;
        c->used = 0;
        c->cap = cap;
        x->chunks = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

static void *ex_array(exporter *x, size_t n, size_t size) { return ex_alloc(x, (n ? n : 1) * size); }

static char *ex_strdup(exporter *x, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = ex_alloc(x, n);
    if (p) memcpy(p, s, n);
    return p;
}

static void ex_free(exporter *x)
{
    while (x->chunks) {
        ex_chunk *c = x->chunks;
        x->chunks = c->next;
        free(c);
    }
}

/* --- names ---------------------------------------------------------------------------------------- */

static bool name_taken(const weft_graph *g, const char *name)
{
    if (weft_graph_find_value(g, name) >= 0) return true;
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_attrs; a++) {
            const weft_attr *at = &g->nodes[i].attrs[a];
            if (at->g && name_taken(at->g, name)) return true;
            for (int k = 0; at->gs && k < at->n; k++)
                if (name_taken(at->gs[k], name)) return true;
        }
    return false;
}

/* A value name no graph of the model uses (nor an earlier generated one). */
static char *fresh_value_name(exporter *x)
{
    char buf[48];
    do snprintf(buf, sizeof buf, "weft__anon_%d", x->anon++);
    while (name_taken(x->root, buf));
    return ex_strdup(x, buf);
}

/* dim_param names: the symbol's own, made distinct when two symbols share a name (a fresh "unk__7"
 * may meet an "unk__7" read from a file) so that reading the model back keeps them apart. */
static bool make_sym_names(exporter *x)
{
    int n = x->syms ? x->syms->n : 0;
    x->sym_names = ex_array(x, (size_t)n, sizeof *x->sym_names);
    if (!x->sym_names) return false;
    for (int i = 0; i < n; i++) {
        const char *s = x->syms->names[i] && x->syms->names[i][0] ? x->syms->names[i] : "unk";
        bool clash = false;
        for (int j = 0; j < i && !clash; j++) clash = strcmp(x->sym_names[j], s) == 0;
        if (!clash) {
            x->sym_names[i] = s;
            continue;
        }
        char buf[320];
        for (int k = i;; k++) {
            snprintf(buf, sizeof buf, "%.256s__%d", s, k);
            clash = false;
            for (int j = 0; j < n && !clash; j++)
                clash = (j < i && strcmp(x->sym_names[j], buf) == 0) || strcmp(x->syms->names[j], buf) == 0;
            if (!clash) break;
        }
        if (!(x->sym_names[i] = ex_strdup(x, buf))) return false;
    }
    return true;
}

/* --- tensors and types ---------------------------------------------------------------------------- */

static Onnx__TensorProto *tensor_proto(exporter *x, const char *name, weft_dtype dt, int rank, const int64_t *dims,
                                       const void *data, size_t nbytes)
{
    Onnx__TensorProto *t = ex_alloc(x, sizeof *t);
    if (!t) return NULL;
    onnx__tensor_proto__init(t);
    t->name = name && name[0] ? (char *)name : NULL;
    t->has_data_type = true;
    t->data_type = (int32_t)dt;
    t->n_dims = rank > 0 ? (size_t)rank : 0;
    t->dims = (int64_t *)dims;
    /* raw_data is little-endian: the host order of every platform weft builds for */
    t->has_raw_data = true;
    t->raw_data.len = nbytes;
    t->raw_data.data = (uint8_t *)data;
    return t;
}

static Onnx__TypeProto *type_proto(exporter *x, weft_dtype dt, const weft_shape *s)
{
    Onnx__TypeProto *tp = ex_alloc(x, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = ex_alloc(x, sizeof *tt);
    if (!tp || !tt) return NULL;
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = true;
    tt->elem_type = (int32_t)dt;
    if (s->rank < 0) return tp; /* rank unknown: no shape at all */
    Onnx__TensorShapeProto *sp = ex_alloc(x, sizeof *sp);
    if (!sp) return NULL;
    onnx__tensor_shape_proto__init(sp);
    tt->shape = sp;
    sp->n_dim = (size_t)s->rank;
    sp->dim = ex_array(x, (size_t)s->rank, sizeof *sp->dim);
    if (!sp->dim) return NULL;
    for (int d = 0; d < s->rank; d++) {
        Onnx__TensorShapeProto__Dimension *dim = ex_alloc(x, sizeof *dim);
        if (!dim) return NULL;
        onnx__tensor_shape_proto__dimension__init(dim);
        if (weft_dim_known(s->d[d])) {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim->dim_value = s->d[d].v;
        } else {
            int32_t sym = s->d[d].sym;
            char buf[32];
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            if (x->syms && sym < x->syms->n) {
                dim->dim_param = (char *)x->sym_names[sym];
            } else { /* a symbol the table does not know: still one name per symbol */
                snprintf(buf, sizeof buf, "weft__sym_%d", (int)sym);
                if (!(dim->dim_param = ex_strdup(x, buf))) return NULL;
            }
        }
        sp->dim[d] = dim;
    }
    return tp;
}

/* A ValueInfoProto for value v named `name`: typed when its dtype is known. */
static Onnx__ValueInfoProto *value_info(exporter *x, const weft_value *v, const char *name)
{
    Onnx__ValueInfoProto *vi = ex_alloc(x, sizeof *vi);
    if (!vi) return NULL;
    onnx__value_info_proto__init(vi);
    vi->name = (char *)name;
    if (v->dtype != WEFT_UNDEFINED && !(vi->type = type_proto(x, v->dtype, &v->shape))) return NULL;
    return vi;
}

/* --- graphs --------------------------------------------------------------------------------------- */

static Onnx__GraphProto *graph_proto(exporter *x, const weft_graph *g);

/* Marks the values of g that graph `sub` (at any depth below g) reads by name. */
static void mark_outer_reads(const weft_graph *g, const weft_graph *sub, bool *used)
{
    for (int v = 0; v < sub->n_values; v++)
        if (sub->values[v].flags & WEFT_VALUE_OUTER) {
            int i = weft_graph_find_value(g, sub->values[v].name);
            if (i >= 0) used[i] = true;
        }
    for (int n = 0; n < sub->n_nodes; n++)
        for (int a = 0; a < sub->nodes[n].n_attrs; a++) {
            const weft_attr *at = &sub->nodes[n].attrs[a];
            if (at->g) mark_outer_reads(g, at->g, used);
            for (int k = 0; at->gs && k < at->n; k++) mark_outer_reads(g, at->gs[k], used);
        }
}

static Onnx__AttributeProto *attr_proto(exporter *x, const weft_attr *a)
{
    Onnx__AttributeProto *ap = ex_alloc(x, sizeof *ap);
    if (!ap) return NULL;
    onnx__attribute_proto__init(ap);
    ap->name = a->name;
    ap->has_type = true;
    ap->type = (Onnx__AttributeProto__AttributeType)a->type;
    switch (a->type) {
    case WEFT_ATTR_FLOAT: ap->has_f = true; ap->f = a->f; break;
    case WEFT_ATTR_INT: ap->has_i = true; ap->i = a->i; break;
    case WEFT_ATTR_STRING:
        ap->has_s = true;
        ap->s.len = a->s ? a->s_len : 0;
        ap->s.data = (uint8_t *)a->s;
        break;
    case WEFT_ATTR_FLOATS: ap->n_floats = (size_t)a->n; ap->floats = a->floats; break;
    case WEFT_ATTR_INTS: ap->n_ints = (size_t)a->n; ap->ints = a->ints; break;
    case WEFT_ATTR_STRINGS:
        ap->n_strings = (size_t)a->n;
        if (!(ap->strings = ex_array(x, (size_t)a->n, sizeof *ap->strings))) return NULL;
        for (int i = 0; i < a->n; i++) {
            ap->strings[i].data = (uint8_t *)a->strings[i];
            ap->strings[i].len = a->strings[i] ? strlen(a->strings[i]) : 0;
        }
        break;
    case WEFT_ATTR_TENSOR:
    case WEFT_ATTR_TENSORS: {
        int n = a->type == WEFT_ATTR_TENSOR ? 1 : a->n;
        Onnx__TensorProto **ts = ex_array(x, (size_t)n, sizeof *ts);
        if (!ts || !a->t) return NULL;
        for (int i = 0; i < n; i++) {
            const weft_tensor *t = &a->t[i];
            if (!(ts[i] = tensor_proto(x, t->name, t->dtype, t->rank, t->dims, t->data, t->nbytes))) return NULL;
        }
        if (a->type == WEFT_ATTR_TENSOR) ap->t = ts[0];
        else { ap->n_tensors = (size_t)n; ap->tensors = ts; }
        break;
    }
    case WEFT_ATTR_GRAPH:
        if (!a->g || !(ap->g = graph_proto(x, a->g))) return NULL;
        break;
    case WEFT_ATTR_GRAPHS:
        ap->n_graphs = (size_t)a->n;
        if (!(ap->graphs = ex_array(x, (size_t)a->n, sizeof *ap->graphs))) return NULL;
        for (int i = 0; i < a->n; i++)
            if (!a->gs || !a->gs[i] || !(ap->graphs[i] = graph_proto(x, a->gs[i]))) return NULL;
        break;
    default:
        /* TYPE_PROTO(S): the importer keeps only the attribute's type (no op weft runs reads one) */
        break;
    }
    return ap;
}

static Onnx__NodeProto *node_proto(exporter *x, const weft_graph *g, const weft_node *n, const char *const *names)
{
    Onnx__NodeProto *np = ex_alloc(x, sizeof *np);
    if (!np) return NULL;
    onnx__node_proto__init(np);
    np->name = n->name;
    np->op_type = n->op_type;
    np->domain = n->domain[0] ? n->domain : NULL;
    np->n_input = (size_t)n->n_inputs;
    np->n_output = (size_t)n->n_outputs;
    np->input = ex_array(x, (size_t)n->n_inputs, sizeof(char *));
    np->output = ex_array(x, (size_t)n->n_outputs, sizeof(char *));
    np->attribute = ex_array(x, (size_t)n->n_attrs, sizeof *np->attribute);
    if (!np->input || !np->output || !np->attribute) return NULL;
    for (int k = 0; k < n->n_inputs; k++) np->input[k] = n->inputs[k] >= 0 ? (char *)names[n->inputs[k]] : "";
    for (int k = 0; k < n->n_outputs; k++) np->output[k] = n->outputs[k] >= 0 ? (char *)names[n->outputs[k]] : "";
    np->n_attribute = (size_t)n->n_attrs;
    for (int a = 0; a < n->n_attrs; a++)
        if (!(np->attribute[a] = attr_proto(x, &n->attrs[a]))) return NULL;
    (void)g;
    return np;
}

static Onnx__GraphProto *graph_proto(exporter *x, const weft_graph *g)
{
    Onnx__GraphProto *gp = ex_alloc(x, sizeof *gp);
    const char **names = ex_array(x, (size_t)g->n_values, sizeof *names);
    bool *used = ex_array(x, (size_t)g->n_values, sizeof *used);
    if (!gp || !names || !used) return NULL;
    onnx__graph_proto__init(gp);
    gp->name = g->name[0] ? g->name : (g->parent ? "subgraph" : "main");
    for (int v = 0; v < g->n_values; v++)
        if (!(names[v] = g->values[v].name[0] ? g->values[v].name : fresh_value_name(x))) return NULL;

    /* constants something reads: a node here, a graph output, or a subgraph at any depth */
    for (int i = 0; i < g->n_nodes; i++) {
        const weft_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) used[n->inputs[k]] = true;
        for (int a = 0; a < n->n_attrs; a++) {
            const weft_attr *at = &n->attrs[a];
            if (at->g) mark_outer_reads(g, at->g, used);
            for (int k = 0; at->gs && k < at->n; k++) mark_outer_reads(g, at->gs[k], used);
        }
    }
    for (int i = 0; i < g->n_outputs; i++) used[g->outputs[i]] = true;

    /* Constants that came in as initializers go out as initializers; the others (Constant nodes, values
     * a pass or a model builder made) as Constant nodes, so that a trainer reading the file back trains
     * what was trained before and nothing more. */
    size_t n_init = 0, n_vi = 0, n_cnodes = 0;
    for (int v = 0; v < g->n_values; v++) {
        const weft_value *val = &g->values[v];
        if (val->flags & WEFT_VALUE_OUTER) continue;
        if (val->flags & WEFT_VALUE_CONST) {
            if (val->flags & WEFT_VALUE_INITIALIZER) n_init += used[v];
            else n_cnodes += used[v];
        } else if (!(val->flags & (WEFT_VALUE_INPUT | WEFT_VALUE_OUTPUT)) && val->producer >= 0) n_vi++;
    }
    if (!x->value_info) n_vi = 0;
    gp->initializer = ex_array(x, n_init, sizeof *gp->initializer);
    gp->value_info = ex_array(x, n_vi, sizeof *gp->value_info);
    gp->input = ex_array(x, (size_t)g->n_inputs, sizeof *gp->input);
    gp->output = ex_array(x, (size_t)g->n_outputs, sizeof *gp->output);
    gp->node = ex_array(x, (size_t)g->n_nodes + n_cnodes, sizeof *gp->node);
    if (!gp->initializer || !gp->value_info || !gp->input || !gp->output || !gp->node) return NULL;

    for (int v = 0; v < g->n_values; v++) {
        const weft_value *val = &g->values[v];
        if (val->flags & WEFT_VALUE_OUTER) continue;
        if (val->flags & WEFT_VALUE_CONST) {
            if (!used[v]) continue;
            if (val->shape.rank < 0 || val->shape.rank > WEFT_MAX_RANK) {
                x->st = weft_error(WEFT_ERR_INTERNAL, "constant '%s' has no shape", names[v]);
                return NULL;
            }
            int64_t *dims = ex_array(x, (size_t)val->shape.rank, sizeof *dims);
            if (!dims) return NULL;
            for (int d = 0; d < val->shape.rank; d++) dims[d] = val->shape.d[d].v;
            Onnx__TensorProto *t = tensor_proto(x, names[v], val->dtype, val->shape.rank, dims, val->data, val->nbytes);
            if (!t) return NULL;
            if (val->flags & WEFT_VALUE_INITIALIZER) {
                gp->initializer[gp->n_initializer++] = t;
                continue;
            }
            /* Constant(value = t) -> the value, ahead of every reader */
            Onnx__NodeProto *np = ex_alloc(x, sizeof *np);
            Onnx__AttributeProto *ap = ex_alloc(x, sizeof *ap);
            char **out = ex_array(x, 1, sizeof *out);
            Onnx__AttributeProto **aps = ex_array(x, 1, sizeof *aps);
            if (!np || !ap || !out || !aps) return NULL;
            onnx__node_proto__init(np);
            onnx__attribute_proto__init(ap);
            ap->name = "value";
            ap->has_type = true;
            ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
            ap->t = t;
            aps[0] = ap;
            out[0] = (char *)names[v];
            np->name = (char *)names[v];
            np->op_type = "Constant";
            np->n_output = 1;
            np->output = out;
            np->n_attribute = 1;
            np->attribute = aps;
            gp->node[gp->n_node++] = np;
        }
    }
    /* intermediate types in node order: the order a reader creates the values in, so that saving what
     * was read gives the same bytes */
    for (int i = 0; x->value_info && i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_outputs; k++) {
            int v = g->nodes[i].outputs[k];
            if (v < 0) continue;
            const weft_value *val = &g->values[v];
            if ((val->flags & (WEFT_VALUE_OUTER | WEFT_VALUE_CONST | WEFT_VALUE_INPUT | WEFT_VALUE_OUTPUT)) ||
                val->producer != i || val->dtype == WEFT_UNDEFINED)
                continue;
            if (!(gp->value_info[gp->n_value_info] = value_info(x, val, names[v]))) return NULL;
            gp->n_value_info++;
        }
    for (int i = 0; i < g->n_inputs; i++) {
        int v = g->inputs[i];
        if (!(gp->input[i] = value_info(x, &g->values[v], names[v]))) return NULL;
    }
    gp->n_input = (size_t)g->n_inputs;
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        if (!(gp->output[i] = value_info(x, &g->values[v], names[v]))) return NULL;
    }
    gp->n_output = (size_t)g->n_outputs;
    for (int i = 0; i < g->n_nodes; i++)
        if (!(gp->node[gp->n_node++] = node_proto(x, g, &g->nodes[i], names))) return NULL;
    return gp;
}

/* --- opsets --------------------------------------------------------------------------------------- */

typedef struct opset_list {
    weft_opset_import *v;
    int n, cap;
} opset_list;

static weft_status opsets_of(const weft_graph *g, opset_list *l)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const weft_node *n = &g->nodes[i];
        int k = 0;
        while (k < l->n && strcmp(l->v[k].domain, n->domain) != 0) k++;
        if (k == l->n) {
            if (l->n == l->cap) {
                int cap = l->cap ? l->cap * 2 : 8;
                weft_opset_import *p = realloc(l->v, (size_t)cap * sizeof *p);
                if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
                l->v = p;
                l->cap = cap;
            }
            l->v[l->n].domain = n->domain; /* borrowed */
            l->v[l->n++].version = n->opset;
        } else if (n->opset > l->v[k].version) {
            l->v[k].version = n->opset;
        }
        for (int a = 0; a < n->n_attrs; a++) {
            const weft_attr *at = &n->attrs[a];
            weft_status st;
            if (at->g && (st = opsets_of(at->g, l))) return st;
            for (int j = 0; at->gs && j < at->n; j++)
                if ((st = opsets_of(at->gs[j], l))) return st;
        }
    }
    return WEFT_OK;
}

/* One import per domain binds every node of it: each node must resolve to the op it was resolved to. */
static weft_status check_opsets(const weft_graph *g, const opset_list *l)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const weft_node *n = &g->nodes[i];
        for (int k = 0; k < l->n; k++) {
            if (strcmp(l->v[k].domain, n->domain) != 0) continue;
            if (n->def && n->opset != l->v[k].version &&
                weft_op_find(n->domain, n->op_type, (int)l->v[k].version) != n->def)
                return weft_error(WEFT_ERR_UNSUPPORTED,
                                  "node '%s' (%s) was read at opset %d of domain '%s', other nodes at opset %lld, and "
                                  "the op differs between them: one ONNX opset import cannot express both",
                                  n->name, n->op_type, n->opset, n->domain[0] ? n->domain : "ai.onnx",
                                  (long long)l->v[k].version);
        }
        for (int a = 0; a < n->n_attrs; a++) {
            const weft_attr *at = &n->attrs[a];
            weft_status st;
            if (at->g && (st = check_opsets(at->g, l))) return st;
            for (int j = 0; at->gs && j < at->n; j++)
                if ((st = check_opsets(at->gs[j], l))) return st;
        }
    }
    return WEFT_OK;
}

/* The IR version ONNX pairs with a default-domain opset (onnx/helper.py's table), at least 4: initializers
 * that are not graph inputs need IR 4. */
static int64_t ir_for_opset(int64_t opset)
{
    static const int64_t ir[] = {3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 5, 6, 7, 7, 7, 8, 8, 8, 8, 9, 9, 10, 10, 11};
    int64_t v = opset < 0 ? 3 : opset < (int64_t)(sizeof ir / sizeof *ir) ? ir[opset] : 11;
    return v < 4 ? 4 : v;
}

/* --- the model ------------------------------------------------------------------------------------ */

weft_status weft_ir_to_onnx(const weft_graph *g, const weft_symtab *syms, const weft_onnx_export_options *opts,
                            uint8_t **buf, size_t *len)
{
    if (!buf || !len) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_ir_to_onnx: no output buffer");
    *buf = NULL;
    *len = 0;
    if (!g) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_ir_to_onnx: graph is NULL");
    weft_onnx_export_options o = {0};
    if (opts) o = *opts;

    opset_list l = {0};
    weft_status st = opsets_of(g, &l);
    if (!st) st = check_opsets(g, &l);
    /* the caller's imports for domains no node uses */
    for (int i = 0; !st && i < o.n_opsets; i++) {
        const char *d = o.opsets[i].domain && strcmp(o.opsets[i].domain, "ai.onnx") != 0 ? o.opsets[i].domain : "";
        int k = 0;
        while (k < l.n && strcmp(l.v[k].domain, d) != 0) k++;
        if (k < l.n) continue;
        if (l.n == l.cap) {
            int cap = l.cap ? l.cap * 2 : 8;
            weft_opset_import *p = realloc(l.v, (size_t)cap * sizeof *p);
            if (!p) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); break; }
            l.v = p;
            l.cap = cap;
        }
        l.v[l.n].domain = (char *)d;
        l.v[l.n++].version = o.opsets[i].version;
    }
    if (st) { free(l.v); return st; }

    exporter x = {.root = g, .syms = syms, .value_info = o.value_info};
    Onnx__ModelProto mp;
    onnx__model_proto__init(&mp);
    char version[32];
    snprintf(version, sizeof version, "%d.%d.%d", WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR, WEFT_VERSION_PATCH);
    mp.producer_name = (char *)(o.producer_name ? o.producer_name : "weft");
    mp.producer_version = o.producer_version ? (char *)o.producer_version : version;
    int64_t default_opset = 0;
    mp.opset_import = ex_array(&x, (size_t)l.n, sizeof *mp.opset_import);
    for (int i = 0; mp.opset_import && i < l.n; i++) {
        Onnx__OperatorSetIdProto *op = ex_alloc(&x, sizeof *op);
        if (!op) break;
        onnx__operator_set_id_proto__init(op);
        op->domain = l.v[i].domain; /* "" is the default domain */
        op->has_version = true;
        op->version = l.v[i].version;
        if (!l.v[i].domain[0]) default_opset = l.v[i].version;
        mp.opset_import[mp.n_opset_import++] = op;
    }
    if (o.n_metadata > 0 && o.metadata_keys && o.metadata_values) {
        mp.metadata_props = ex_array(&x, (size_t)o.n_metadata, sizeof *mp.metadata_props);
        for (int i = 0; mp.metadata_props && i < o.n_metadata; i++) {
            Onnx__StringStringEntryProto *e = ex_alloc(&x, sizeof *e);
            if (!e) break;
            onnx__string_string_entry_proto__init(e);
            e->key = (char *)o.metadata_keys[i];
            e->value = (char *)o.metadata_values[i];
            mp.metadata_props[mp.n_metadata_props++] = e;
        }
    }
    mp.has_ir_version = true;
    mp.ir_version = o.ir_version > 0 ? o.ir_version : ir_for_opset(default_opset);
    if (mp.ir_version < 4) mp.ir_version = 4;
    if (!x.st && make_sym_names(&x)) mp.graph = graph_proto(&x, g);
    if (!mp.graph && !x.st) x.st = weft_error(WEFT_ERR_NOMEM, "out of memory writing the ONNX model");
    st = x.st;
    if (!st) {
        size_t n = onnx__model_proto__get_packed_size(&mp);
        uint8_t *p = malloc(n ? n : 1);
        if (!p) st = weft_error(WEFT_ERR_NOMEM, "out of memory: the ONNX model takes %zu bytes", n);
        else if (onnx__model_proto__pack(&mp, p) != n) {
            free(p);
            st = weft_error(WEFT_ERR_INTERNAL, "packing the ONNX model gave an unexpected size");
        } else {
            *buf = p;
            *len = n;
        }
    }
    ex_free(&x);
    free(l.v);
    return st;
}

weft_status weft_model_to_onnx(const weft_model *m, uint8_t **buf, size_t *len)
{
    if (!m || !m->graph) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_model_to_onnx: model is NULL");
    /* weft writes the file, so weft is its producer, whoever made the model first */
    weft_onnx_export_options o = {.opsets = m->opsets, .n_opsets = m->n_opsets, .ir_version = m->ir_version,
                                  .value_info = true};
    return weft_ir_to_onnx(m->graph, &m->syms, &o, buf, len);
}
