/*
 * compiler/compile.c — weft_compile: copy the model's graph, resolve ops, run the passes in order,
 * lower to a plan for a priority list of backends.
 *
 * The passes are one table (`passes` below): each entry is one file's pass, the lowest -O level that
 * runs it, and whether shapes must be inferred again after it changed something (a pass that adds
 * values leaves their shapes to inference). The driver measures every pass — nodes before and after,
 * rewrites made, bytes of intermediates (as an expression in the symbols) before and after — for
 * `weft compile --print-passes`.
 */
#include <stdio.h>
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

static weft_status use_table(weft_graph *g, void *syms)
{
    g->syms = syms;
    return WEFT_OK;
}

/* --- the passes ---------------------------------------------------------------------------------- */

static weft_status run_infer(weft_graph *g, int *changed) { return weft_pass_infer(g, true, changed); }

/* Inlining a branch can make more conditions constant: repeat while it changes something. */
static weft_status run_inline_if(weft_graph *g, int *changed)
{
    int total = 0;
    for (int round = 0, c = 1; c && round < 16; round++) {
        weft_status st = weft_pass_inline_if(g, &c);
        if (st) return st;
        if (c && (st = weft_pass_infer(g, true, NULL))) return st;
        total += c;
    }
    *changed = total;
    return WEFT_OK;
}

typedef struct weft_pass_entry {
    const char *name;
    weft_status (*run)(weft_graph *g, int *changed);
    int min_opt;         /* the lowest -O level that runs it */
    bool reinfer;        /* infer shapes again after it changed something */
    bool differentiable; /* emits only ops with gradient rules: runs before autodiff too */
} weft_pass_entry;

static const weft_pass_entry passes[] = {
    {"inline-if", run_inline_if, 1, false, true},
    {"identity", weft_pass_identity, 1, false, true},
    {"message-passing", weft_pass_message_passing, 1, true, true},
    {"cse", weft_pass_cse, 1, false, true},
    {"transpose", weft_pass_transpose, 1, false, true},
    {"broadcast", weft_pass_broadcast, 1, true, true},
    {"dense", weft_pass_dense, 1, false, false},
    {"mean", weft_pass_mean, 1, false, false},
    {"gat", weft_pass_gat, 1, false, false},
    {"csr", weft_pass_csr, 1, false, false},
    {"sddmm", weft_pass_sddmm, 1, false, true},
    {"dense-fusion", weft_pass_dense_fusion, 1, true, false},
    {"conv-fusion", weft_pass_conv_fusion, 1, true, false},
    {"attention", weft_pass_attention, 1, true, false},
    {"channels-last", weft_pass_channels_last, 1, true, false},
    {"eltwise", weft_pass_eltwise, 1, true, false},
    {"dce", weft_pass_dce, 0, false, true},
};

/* --- the driver ---------------------------------------------------------------------------------- */

static void report_free(weft_pass_report *r, int n)
{
    for (int i = 0; r && i < n; i++) free(r[i].name);
    free(r);
}

weft_status weft_compile_graph(weft_graph *g, int opt_level, weft_pass_report **report, int *n_report)
{
    int cap = (int)(sizeof passes / sizeof passes[0]) + 1, n = 0;
    weft_pass_report *rep = calloc((size_t)cap, sizeof *rep);
    if (!rep) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    weft_status st = WEFT_OK;
    /* inference first: every pass reads shapes */
    for (int i = -1; i < (int)(sizeof passes / sizeof passes[0]); i++) {
        const char *name = i < 0 ? "infer" : passes[i].name;
        weft_status (*run)(weft_graph *, int *) = i < 0 ? run_infer : passes[i].run;
        if (i >= 0 && opt_level < passes[i].min_opt) continue;
        if (i < 0 && opt_level < 1) run = NULL;
        weft_pass_report *r = &rep[n++];
        if (!(r->name = dupstr(name))) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); break; }
        r->nodes_before = weft_graph_count_nodes(g);
        weft_bytes_of_intermediates(g, &r->bytes_before);
        int changed = 0;
        if (!run) st = weft_pass_infer(g, false, &changed); /* -O0 still infers, without folding */
        else st = run(g, &changed);
        if (st == WEFT_OK && changed && i >= 0 && passes[i].reinfer) st = weft_pass_infer(g, opt_level >= 1, NULL);
        if (st) { st = weft_error_wrap(st, "pass %s", name); break; }
        r->changed = changed;
        r->nodes_after = weft_graph_count_nodes(g);
        weft_bytes_of_intermediates(g, &r->bytes_after);
    }
    if (st || !report) report_free(rep, n);
    else { *report = rep; *n_report = n; }
    return st;
}

weft_status weft_compile_graph_differentiable(weft_graph *g)
{
    weft_status st = weft_pass_infer(g, true, NULL);
    for (int i = 0; !st && i < (int)(sizeof passes / sizeof passes[0]); i++) {
        if (!passes[i].differentiable) continue;
        int changed = 0;
        st = passes[i].run(g, &changed);
        if (!st && changed && passes[i].reinfer) st = weft_pass_infer(g, true, NULL);
        if (st) st = weft_error_wrap(st, "pass %s", passes[i].name);
    }
    return st;
}

weft_status weft_compile(const weft_model *m, const weft_compile_options *opts, weft_plan **out)
{
    if (!out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_compile: out is NULL");
    *out = NULL;
    if (!m || !m->graph) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_compile: model is NULL");
    int opt_level = opts ? opts->opt_level : 1;
    const weft_backend *backends[WEFT_MAX_BACKENDS];
    int n_backends = 0;
    weft_status st = weft_backend_parse_list(opts ? opts->backend : NULL, backends, WEFT_MAX_BACKENDS, &n_backends);
    if (st) return st;

    /* The plan owns a copy of the graph and of the symbol table, so the model can go. */
    weft_symtab *syms = calloc(1, sizeof *syms);
    if (!syms) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < m->syms.n; i++)
        if (weft_sym_intern(syms, m->syms.names[i]) < 0) { weft_symtab_free(syms); free(syms); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
    weft_graph *g = weft_graph_clone(m->graph, NULL);
    if (!g) { weft_symtab_free(syms); free(syms); return WEFT_ERR_NOMEM; }
    weft_graph_walk(g, use_table, syms); /* clone shares the model's table: point every graph at the copy */
    const weft_node *bad = NULL;
    weft_pass_report *report = NULL;
    int n_report = 0;
    weft_ir_resolve_ops(g, NULL);
    const char *op = first_unsupported(g, &bad);
    if (op) {
        st = weft_error(WEFT_ERR_UNSUPPORTED, "node '%s': op %s%s%s (opset %d) is not supported", bad->name,
                        bad->domain[0] ? bad->domain : "", bad->domain[0] ? "." : "", op, bad->opset);
        goto fail;
    }
    if ((st = weft_compile_graph(g, opt_level, &report, &n_report))) goto fail;
    struct weft_plan *p = NULL;
    if ((st = weft_plan_lower(g, syms, backends, n_backends, NULL, &p))) goto fail;
    p->passes = report;
    p->n_passes = n_report;
    p->opt_level = opt_level;
    *out = p;
    return WEFT_OK;
fail:
    report_free(report, n_report);
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

const char *weft_plan_input_dim_name(const weft_plan *p, int i, int d)
{
    if (!p || i < 0 || i >= p->n_inputs) return NULL;
    const weft_slot *s = &p->slots[p->inputs[i]];
    if (d < 0 || d >= s->shape.rank || weft_dim_known(s->shape.d[d])) return NULL;
    return weft_sym_name(p->syms, s->shape.d[d].sym);
}
