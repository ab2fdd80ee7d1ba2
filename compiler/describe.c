/*
 * compiler/describe.c — weft_model_describe: a report of an imported model, as text or JSON.
 *
 * The report says what a user asks first of a model they were handed: which ONNX version and opsets
 * it speaks, who produced it, what it takes and returns (with symbolic dims by name), which ops it uses
 * and how often, how many parameters it carries, and which of its ops weft cannot run yet.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "strbuf.h"

/* --- what the report is made of ------------------------------------------------------------------ */

typedef struct op_count {
    const char *domain, *op_type; /* borrowed from the IR */
    int count;
    int opset;
    bool unsupported;
    const char **nodes; /* names of the unsupported nodes (borrowed) */
    int n_nodes, cap_nodes;
} op_count;

typedef struct report {
    const struct weft_plan *inferred; /* outputs as inference sees them, when the model compiles */
    op_count *ops;
    int n_ops, cap_ops;
    int64_t n_nodes, n_sub_nodes, n_subgraphs;
    int64_t n_params, param_bytes, n_initializers;
    bool params_unknown; /* some initializer's size could not be computed */
    bool nomem;
} report;

static const char *dom_or_default(const char *d) { return (d && strcmp(d, "ai.onnx") != 0) ? d : ""; }

static op_count *find_op(report *r, const char *domain, const char *op_type, int opset)
{
    domain = dom_or_default(domain);
    for (int i = 0; i < r->n_ops; i++)
        if (strcmp(r->ops[i].op_type, op_type) == 0 && strcmp(r->ops[i].domain, domain) == 0 &&
            r->ops[i].opset == opset)
            return &r->ops[i];
    if (r->n_ops == r->cap_ops) {
        int cap = r->cap_ops ? r->cap_ops * 2 : 32;
        op_count *ops = realloc(r->ops, (size_t)cap * sizeof *ops);
        if (!ops) { r->nomem = true; return NULL; }
        r->ops = ops;
        r->cap_ops = cap;
    }
    op_count *o = &r->ops[r->n_ops++];
    memset(o, 0, sizeof *o);
    o->domain = domain;
    o->op_type = op_type;
    o->opset = opset;
    o->unsupported = weft_op_find(domain, op_type, opset) == NULL;
    return o;
}

static void add_node_name(report *r, op_count *o, const char *name)
{
    if (o->n_nodes == o->cap_nodes) {
        int cap = o->cap_nodes ? o->cap_nodes * 2 : 4;
        const char **v = realloc(o->nodes, (size_t)cap * sizeof *v);
        if (!v) { r->nomem = true; return; }
        o->nodes = v;
        o->cap_nodes = cap;
    }
    o->nodes[o->n_nodes++] = name;
}

/* Subgraphs can nest; a corrupt model could nest absurdly deep, so the walk stops somewhere. */
#define DESCRIBE_MAX_DEPTH 64

static void walk(report *r, const weft_graph *g, int depth);

/* Where the walk is: the report and the depth of the graph whose node owns the subgraphs visited. */
typedef struct walk_ctx {
    report *r;
    int depth;
} walk_ctx;

static weft_status walk_sub(weft_graph *sub, weft_attr *attr, void *user)
{
    walk_ctx *w = user;
    w->r->n_subgraphs++;
    walk(w->r, sub, w->depth + 1);
    return WEFT_OK;
}

static void walk(report *r, const weft_graph *g, int depth)
{
    if (!g || depth > DESCRIBE_MAX_DEPTH) return;
    for (int i = 0; i < g->n_values; i++) {
        const weft_value *v = &g->values[i];
        if (!(v->flags & WEFT_VALUE_INITIALIZER)) continue;
        r->n_initializers++;
        int64_t n = weft_shape_numel(&v->shape);
        if (n < 0) { r->params_unknown = true; continue; }
        size_t es = weft_dtype_size(v->dtype);
        int64_t bytes = v->data ? (int64_t)v->nbytes : (es && n <= INT64_MAX / (int64_t)es ? n * (int64_t)es : 0);
        if (n > INT64_MAX - r->n_params || bytes > INT64_MAX - r->param_bytes) { r->params_unknown = true; continue; }
        r->n_params += n;
        r->param_bytes += bytes;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const weft_node *nd = &g->nodes[i];
        if (depth == 0) r->n_nodes++;
        else r->n_sub_nodes++;
        op_count *o = find_op(r, nd->domain ? nd->domain : "", nd->op_type ? nd->op_type : "?", nd->opset);
        if (!o) return;
        o->count++;
        if (o->unsupported) add_node_name(r, o, nd->name && nd->name[0] ? nd->name : "(unnamed)");
        walk_ctx w = {r, depth};
        weft_node_each_subgraph((weft_node *)nd, walk_sub, &w); /* the walk changes nothing */
    }
}

/* Most used first; ties by domain and name so the report is stable. */
static int cmp_ops(const void *pa, const void *pb)
{
    const op_count *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    int c = strcmp(a->domain, b->domain);
    if (c) return c;
    c = strcmp(a->op_type, b->op_type);
    if (c) return c;
    return (a->opset > b->opset) - (a->opset < b->opset);
}

static const char *sym_name(const weft_symtab *t, int32_t sym)
{
    if (sym >= 0 && sym < t->n && t->names && t->names[sym]) return t->names[sym];
    return NULL;
}

static bool value_typed(const weft_value *v) { return (v->flags & WEFT_VALUE_TYPED) || v->dtype != WEFT_UNDEFINED; }

/* A shape as text ([num_nodes,8]) or JSON (["num_nodes",8]); symbols by name. */
static void put_shape(weft_sb *b, const weft_symtab *t, const weft_value *v, bool json)
{
    if (!value_typed(v) || v->shape.rank < 0 || v->shape.rank > WEFT_MAX_RANK) {
        weft_sb_puts(b, json ? "null" : "[?]");
        return;
    }
    weft_sb_puts(b, "[");
    for (int i = 0; i < v->shape.rank; i++) {
        if (i) weft_sb_puts(b, ",");
        weft_dim d = v->shape.d[i];
        const char *s = weft_dim_known(d) ? NULL : sym_name(t, d.sym);
        if (weft_dim_known(d)) weft_sb_printf(b, "%lld", (long long)d.v);
        else if (s && json) weft_sb_json_str(b, s);
        else if (s) weft_sb_text_str(b, s);
        else if (json) weft_sb_puts(b, "null");
        else weft_sb_printf(b, "?%d", d.sym);
    }
    weft_sb_puts(b, "]");
}

static const char *dtype_str(const weft_value *v) { return value_typed(v) ? weft_dtype_name(v->dtype) : "?"; }

static void text_values(weft_sb *b, const weft_symtab *t, const weft_graph *g, const int *idx, int n)
{
    if (n == 0) weft_sb_puts(b, "  (none)\n");
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= g->n_values) continue;
        const weft_value *v = &g->values[idx[i]];
        weft_sb_puts(b, "  ");
        weft_sb_text_str(b, v->name);
        weft_sb_printf(b, "  %s  ", dtype_str(v));
        put_shape(b, t, v, false);
        weft_sb_puts(b, "\n");
    }
}

static void json_values(weft_sb *b, const weft_symtab *t, const weft_graph *g, const int *idx, int n)
{
    weft_sb_puts(b, "[");
    bool first = true;
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= g->n_values) continue;
        const weft_value *v = &g->values[idx[i]];
        weft_sb_puts(b, first ? "{\"name\":" : ",{\"name\":");
        first = false;
        weft_sb_json_str(b, v->name);
        weft_sb_puts(b, ",\"dtype\":");
        weft_sb_json_str(b, dtype_str(v));
        weft_sb_puts(b, ",\"shape\":");
        put_shape(b, t, v, true);
        weft_sb_puts(b, "}");
    }
    weft_sb_puts(b, "]");
}

static void emit_text(weft_sb *b, const weft_model *m, const report *r)
{
    const weft_graph *g = m->graph;
    if (m->path) { weft_sb_puts(b, "model: "); weft_sb_text_str(b, m->path); weft_sb_puts(b, "\n"); }
    weft_sb_printf(b, "ir_version: %lld\n", (long long)m->ir_version);
    weft_sb_puts(b, "producer: ");
    if (m->producer_name && m->producer_name[0]) weft_sb_text_str(b, m->producer_name);
    else weft_sb_puts(b, "(unknown)");
    if (m->producer_version && m->producer_version[0]) { weft_sb_puts(b, " "); weft_sb_text_str(b, m->producer_version); }
    weft_sb_puts(b, "\n");
    if (m->domain && m->domain[0]) { weft_sb_puts(b, "domain: "); weft_sb_text_str(b, m->domain); weft_sb_puts(b, "\n"); }
    if (m->model_version) weft_sb_printf(b, "model_version: %lld\n", (long long)m->model_version);
    weft_sb_puts(b, "opsets:");
    if (m->n_opsets == 0) weft_sb_puts(b, " (none)");
    for (int i = 0; i < m->n_opsets; i++) {
        const char *d = m->opsets[i].domain;
        weft_sb_puts(b, i ? ", " : " ");
        if (d && d[0]) weft_sb_text_str(b, d);
        else weft_sb_puts(b, "ai.onnx");
        weft_sb_printf(b, " %lld", (long long)m->opsets[i].version);
    }
    weft_sb_puts(b, "\n");
    weft_sb_printf(b, "inputs (%d):\n", g->n_inputs);
    text_values(b, &m->syms, g, g->inputs, g->n_inputs);
    weft_sb_printf(b, "outputs (%d):\n", g->n_outputs);
    if (r->inferred) text_values(b, r->inferred->syms, r->inferred->graph, r->inferred->outputs, r->inferred->n_outputs);
    else text_values(b, &m->syms, g, g->outputs, g->n_outputs);
    weft_sb_printf(b, "nodes: %lld", (long long)r->n_nodes);
    if (r->n_subgraphs)
        weft_sb_printf(b, " (+%lld in %lld subgraphs)", (long long)r->n_sub_nodes, (long long)r->n_subgraphs);
    weft_sb_puts(b, "\n");
    weft_sb_puts(b, "op histogram:\n");
    if (r->n_ops == 0) weft_sb_puts(b, "  (none)\n");
    for (int i = 0; i < r->n_ops; i++) {
        const op_count *o = &r->ops[i];
        weft_sb_printf(b, "  %6d  ", o->count);
        if (o->domain[0]) { weft_sb_text_str(b, o->domain); weft_sb_puts(b, "."); }
        weft_sb_text_str(b, o->op_type);
        if (o->unsupported) weft_sb_puts(b, "  (unsupported)");
        weft_sb_puts(b, "\n");
    }
    weft_sb_printf(b, "parameters: %lld elements, %lld bytes in %lld initializers%s\n", (long long)r->n_params,
              (long long)r->param_bytes, (long long)r->n_initializers,
              r->params_unknown ? " (some sizes unknown, not counted)" : "");
    weft_sb_printf(b, "functions inlined: %d\n", m->n_functions);
    int n_unsup = 0;
    for (int i = 0; i < r->n_ops; i++) n_unsup += r->ops[i].unsupported;
    if (n_unsup == 0) {
        weft_sb_puts(b, "unsupported ops: none\n");
        return;
    }
    weft_sb_printf(b, "unsupported ops (%d):\n", n_unsup);
    for (int i = 0; i < r->n_ops; i++) {
        const op_count *o = &r->ops[i];
        if (!o->unsupported) continue;
        weft_sb_puts(b, "  ");
        if (o->domain[0]) { weft_sb_text_str(b, o->domain); weft_sb_puts(b, "."); }
        weft_sb_text_str(b, o->op_type);
        weft_sb_printf(b, " (opset %d): ", o->opset);
        for (int k = 0; k < o->n_nodes; k++) {
            if (k) weft_sb_puts(b, ", ");
            weft_sb_text_str(b, o->nodes[k]);
        }
        weft_sb_puts(b, "\n");
    }
}

static void emit_json(weft_sb *b, const weft_model *m, const report *r)
{
    const weft_graph *g = m->graph;
    weft_sb_puts(b, "{\"path\":");
    if (m->path) weft_sb_json_str(b, m->path);
    else weft_sb_puts(b, "null");
    weft_sb_printf(b, ",\"ir_version\":%lld,\"producer_name\":", (long long)m->ir_version);
    weft_sb_json_str(b, m->producer_name);
    weft_sb_puts(b, ",\"producer_version\":");
    weft_sb_json_str(b, m->producer_version);
    weft_sb_puts(b, ",\"domain\":");
    weft_sb_json_str(b, m->domain);
    weft_sb_printf(b, ",\"model_version\":%lld,\"opsets\":[", (long long)m->model_version);
    for (int i = 0; i < m->n_opsets; i++) {
        weft_sb_puts(b, i ? ",{\"domain\":" : "{\"domain\":");
        weft_sb_json_str(b, m->opsets[i].domain);
        weft_sb_printf(b, ",\"version\":%lld}", (long long)m->opsets[i].version);
    }
    weft_sb_puts(b, "],\"inputs\":");
    json_values(b, &m->syms, g, g->inputs, g->n_inputs);
    weft_sb_puts(b, ",\"outputs\":");
    if (r->inferred) json_values(b, r->inferred->syms, r->inferred->graph, r->inferred->outputs, r->inferred->n_outputs);
    else json_values(b, &m->syms, g, g->outputs, g->n_outputs);
    weft_sb_printf(b, ",\"nodes\":%lld,\"subgraph_nodes\":%lld,\"subgraphs\":%lld,\"op_histogram\":[",
              (long long)r->n_nodes, (long long)r->n_sub_nodes, (long long)r->n_subgraphs);
    for (int i = 0; i < r->n_ops; i++) {
        const op_count *o = &r->ops[i];
        weft_sb_puts(b, i ? ",{\"op_type\":" : "{\"op_type\":");
        weft_sb_json_str(b, o->op_type);
        weft_sb_puts(b, ",\"domain\":");
        weft_sb_json_str(b, o->domain);
        weft_sb_printf(b, ",\"opset\":%d,\"count\":%d,\"supported\":%s}", o->opset, o->count,
                  o->unsupported ? "false" : "true");
    }
    weft_sb_printf(b, "],\"parameters\":{\"count\":%lld,\"bytes\":%lld,\"initializers\":%lld,\"complete\":%s}",
              (long long)r->n_params, (long long)r->param_bytes, (long long)r->n_initializers,
              r->params_unknown ? "false" : "true");
    weft_sb_printf(b, ",\"functions_inlined\":%d,\"unsupported\":[", m->n_functions);
    bool first = true;
    for (int i = 0; i < r->n_ops; i++) {
        const op_count *o = &r->ops[i];
        if (!o->unsupported) continue;
        weft_sb_puts(b, first ? "{\"op_type\":" : ",{\"op_type\":");
        first = false;
        weft_sb_json_str(b, o->op_type);
        weft_sb_puts(b, ",\"domain\":");
        weft_sb_json_str(b, o->domain);
        weft_sb_printf(b, ",\"opset\":%d,\"nodes\":[", o->opset);
        for (int k = 0; k < o->n_nodes; k++) {
            if (k) weft_sb_puts(b, ",");
            weft_sb_json_str(b, o->nodes[k]);
        }
        weft_sb_puts(b, "]}");
    }
    weft_sb_puts(b, "]}\n");
}

weft_status weft_model_describe(const weft_model *m, weft_describe_format fmt, char **out)
{
    if (!out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_model_describe: out is NULL");
    *out = NULL;
    if (!m || !m->graph) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_model_describe: model is NULL");
    if (fmt != WEFT_DESCRIBE_TEXT && fmt != WEFT_DESCRIBE_JSON)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_model_describe: unknown format %d", (int)fmt);

    report r = {0};
    walk(&r, m->graph, 0);
    /* Output shapes: what inference makes of them ([num_nodes,8]) beats what the exporter declared
     * ([unk,unk]). A model that does not compile is still described, with its declarations. */
    weft_plan *p = NULL;
    if (weft_compile(m, NULL, &p) == WEFT_OK) r.inferred = p;
    weft_error_clear();
    weft_status st = WEFT_OK;
    if (r.nomem) {
        st = weft_error(WEFT_ERR_NOMEM, "weft_model_describe: out of memory");
    } else {
        if (r.n_ops > 1) qsort(r.ops, (size_t)r.n_ops, sizeof *r.ops, cmp_ops);
        weft_sb b = {0};
        if (fmt == WEFT_DESCRIBE_JSON) emit_json(&b, m, &r);
        else emit_text(&b, m, &r);
        if (b.failed || !b.s) {
            free(b.s);
            st = weft_error(WEFT_ERR_NOMEM, "weft_model_describe: out of memory");
        } else {
            *out = b.s;
        }
    }
    for (int i = 0; i < r.n_ops; i++) free(r.ops[i].nodes);
    free(r.ops);
    weft_plan_free(p);
    return st;
}
