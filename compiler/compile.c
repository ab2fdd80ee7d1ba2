/*
 * compiler/compile.c — weft_compile: copy the model's graph, resolve ops, run the passes, lower.
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static const char *first_unsupported(const weft_graph *g, const weft_node **where)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const weft_node *n = &g->nodes[i];
        if (!n->def) { *where = n; return n->op_type; }
        for (int a = 0; a < n->n_attrs; a++) {
            const weft_attr *at = &n->attrs[a];
            const char *r = at->g ? first_unsupported(at->g, where) : NULL;
            for (int k = 0; !r && at->gs && k < at->n; k++) r = first_unsupported(at->gs[k], where);
            if (r) return r;
        }
    }
    return NULL;
}

weft_status weft_compile(const weft_model *m, const weft_compile_options *opts, weft_plan **out)
{
    if (!out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_compile: out is NULL");
    *out = NULL;
    if (!m || !m->graph) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_compile: model is NULL");
    const char *backend = opts && opts->backend ? opts->backend : "ref";
    int opt_level = opts ? opts->opt_level : 1;
    if (strcmp(backend, "ref") != 0)
        return weft_error(WEFT_ERR_UNSUPPORTED, "backend '%s' is not available (available: ref)", backend);

    /* The plan owns a copy of the graph and of the symbol table, so the model can go. */
    weft_symtab *syms = calloc(1, sizeof *syms);
    if (!syms) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < m->syms.n; i++)
        if (weft_sym_intern(syms, m->syms.names[i]) < 0) { weft_symtab_free(syms); free(syms); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
    weft_graph *g = weft_graph_clone(m->graph, NULL);
    if (!g) { weft_symtab_free(syms); free(syms); return WEFT_ERR_NOMEM; }
    /* point every (sub)graph at the new table: clone shares the old one */
    weft_graph *stack[256];
    int sp = 0;
    stack[sp++] = g;
    while (sp) {
        weft_graph *x = stack[--sp];
        x->syms = syms;
        for (int i = 0; i < x->n_nodes; i++)
            for (int a = 0; a < x->nodes[i].n_attrs; a++) {
                weft_attr *at = &x->nodes[i].attrs[a];
                if (at->g && sp < 256) stack[sp++] = at->g;
                for (int k = 0; at->gs && k < at->n && sp < 256; k++) stack[sp++] = at->gs[k];
            }
    }
    weft_status st = WEFT_OK;
    const weft_node *bad = NULL;
    weft_ir_resolve_ops(g, NULL);
    const char *op = first_unsupported(g, &bad);
    if (op) {
        st = weft_error(WEFT_ERR_UNSUPPORTED, "node '%s': op %s%s%s (opset %d) is not supported", bad->name,
                        bad->domain[0] ? bad->domain : "", bad->domain[0] ? "." : "", op, bad->opset);
        goto fail;
    }
    if ((st = weft_pass_infer(g, opt_level >= 1, NULL))) goto fail;
    /* Inlining a branch can make more conditions constant: repeat while it changes something. */
    for (int round = 0, changed = 1; opt_level >= 1 && changed && round < 16; round++) {
        if ((st = weft_pass_inline_if(g, &changed))) goto fail;
        if (changed && (st = weft_pass_infer(g, true, NULL))) goto fail;
    }
    if (opt_level >= 1 && (st = weft_pass_identity(g, NULL))) goto fail;
    if (opt_level >= 1 && (st = weft_pass_message_passing(g, NULL))) goto fail;
    if ((st = weft_pass_dce(g, NULL))) goto fail;
    struct weft_plan *p = NULL;
    if ((st = weft_plan_build(g, NULL, &p))) goto fail;
    p->owns_graph = true;
    p->syms = syms;
    p->backend = dupstr(backend);
    if (!p->backend) { weft_plan_destroy(p); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
    *out = p;
    return WEFT_OK;
fail:
    weft_graph_free(g);
    weft_symtab_free(syms);
    free(syms);
    return st;
}

void weft_plan_free(weft_plan *p) { weft_plan_destroy(p); }

int weft_plan_num_inputs(const weft_plan *p) { return p ? p->n_inputs : 0; }
int weft_plan_num_outputs(const weft_plan *p) { return p ? p->n_outputs : 0; }

static weft_status slot_info(const weft_plan *p, int slot, weft_tensor *info)
{
    const weft_slot *s = &p->slots[slot];
    memset(info, 0, sizeof *info);
    info->name = s->name;
    info->dtype = s->dtype;
    info->rank = s->shape.rank;
    for (int d = 0; d < s->shape.rank && d < WEFT_MAX_RANK; d++)
        info->dims[d] = weft_dim_known(s->shape.d[d]) ? s->shape.d[d].v : -1;
    return WEFT_OK;
}

weft_status weft_plan_input_info(const weft_plan *p, int i, weft_tensor *info)
{
    if (!p || !info || i < 0 || i >= p->n_inputs)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_plan_input_info: no input %d", i);
    return slot_info(p, p->inputs[i], info);
}

weft_status weft_plan_output_info(const weft_plan *p, int i, weft_tensor *info)
{
    if (!p || !info || i < 0 || i >= p->n_outputs)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_plan_output_info: no output %d", i);
    return slot_info(p, p->outputs[i], info);
}
