/*
 * compiler/lower.c — from an inferred graph to a plan: one slot per value, one step per node, and
 * session buffers shared by temporaries whose lifetimes do not overlap (liveness over the schedule).
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

void weft_plan_destroy(struct weft_plan *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_steps; i++) {
        weft_step *s = &p->steps[i];
        free(s->in);
        free(s->out);
        for (int k = 0; k < s->n_sub; k++) weft_plan_destroy(s->sub[k]);
        free(s->sub);
        free(s->sub_names);
    }
    free(p->steps);
    free(p->slots);
    free(p->inputs);
    free(p->outputs);
    free(p->backend);
    if (p->owns_graph) {
        weft_graph_free(p->graph);
        if (p->syms) { weft_symtab_free(p->syms); free(p->syms); }
    }
    free(p);
}

/* Where an OUTER value lives: walks up the plans by name. */
static weft_status resolve_outer(const struct weft_plan *parent, const char *name, int *slot, int *depth)
{
    int d = 1;
    for (const struct weft_plan *p = parent; p; p = p->parent, d++) {
        int i = weft_graph_find_value(p->graph, name);
        if (i >= 0) { *slot = i; *depth = d; return WEFT_OK; }
    }
    return weft_error(WEFT_ERR_INVALID_MODEL, "a subgraph reads '%s', which no enclosing graph defines", name);
}

/* Marks values of the plan `level` levels above `sp` that sp (or its own subplans) reads as used at
 * step i of that plan. */
static void extend_outer_uses(const struct weft_plan *sp, int level, int i, int *last_use)
{
    for (int j = 0; j < sp->n_slots; j++)
        if (sp->slots[j].kind == WEFT_SLOT_OUTER && sp->slots[j].outer_depth == level && last_use[sp->slots[j].outer] < i)
            last_use[sp->slots[j].outer] = i;
    for (int t = 0; t < sp->n_steps; t++)
        for (int k = 0; k < sp->steps[t].n_sub; k++) extend_outer_uses(sp->steps[t].sub[k], level + 1, i, last_use);
}

static weft_status build_subplans(struct weft_plan *p, weft_step *s, const weft_node *n)
{
    int count = 0;
    for (int a = 0; a < n->n_attrs; a++) count += n->attrs[a].g ? 1 : (n->attrs[a].gs ? n->attrs[a].n : 0);
    if (!count) return WEFT_OK;
    s->sub = calloc((size_t)count, sizeof *s->sub);
    s->sub_names = calloc((size_t)count, sizeof *s->sub_names);
    if (!s->sub || !s->sub_names) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    for (int a = 0; a < n->n_attrs; a++) {
        const weft_attr *at = &n->attrs[a];
        int ng = at->g ? 1 : (at->gs ? at->n : 0);
        for (int k = 0; k < ng; k++) {
            weft_graph *sg = at->g ? at->g : at->gs[k];
            weft_status st = weft_plan_build(sg, p, &s->sub[s->n_sub]);
            if (st) return weft_error_wrap(st, "node '%s': subgraph '%s'", n->name, at->name);
            s->sub_names[s->n_sub++] = at->name;
        }
    }
    return WEFT_OK;
}

weft_status weft_plan_build(weft_graph *g, const struct weft_plan *parent, struct weft_plan **out)
{
    *out = NULL;
    struct weft_plan *p = calloc(1, sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    p->graph = g;
    p->syms = g->syms;
    p->parent = parent;
    weft_status st = WEFT_OK;
    int V = g->n_values, N = g->n_nodes;
    p->slots = calloc((size_t)V + 1, sizeof *p->slots);
    p->steps = calloc((size_t)N + 1, sizeof *p->steps);
    p->inputs = malloc(((size_t)g->n_inputs + 1) * sizeof(int));
    p->outputs = malloc(((size_t)g->n_outputs + 1) * sizeof(int));
    int *last_use = malloc(((size_t)V + 1) * sizeof(int));
    int *buffer_of = malloc(((size_t)V + 1) * sizeof(int));
    int *free_list = malloc(((size_t)V + 1) * sizeof(int));
    if (!p->slots || !p->steps || !p->inputs || !p->outputs || !last_use || !buffer_of || !free_list) {
        st = weft_error(WEFT_ERR_NOMEM, "out of memory building the plan");
        goto done;
    }
    p->n_slots = V;
    for (int v = 0; v < V; v++) {
        const weft_value *val = &g->values[v];
        weft_slot *s = &p->slots[v];
        s->name = val->name;
        s->dtype = val->dtype;
        s->shape = val->shape;
        s->buffer = -1;
        s->input_index = -1;
        if (val->flags & WEFT_VALUE_CONST) {
            s->kind = WEFT_SLOT_CONST;
            s->data = val->data;
            s->nbytes = val->nbytes;
        } else if (val->flags & WEFT_VALUE_OUTER) {
            s->kind = WEFT_SLOT_OUTER;
            if ((st = resolve_outer(parent, val->name, &s->outer, &s->outer_depth))) goto done;
        } else if (val->flags & WEFT_VALUE_INPUT) {
            s->kind = WEFT_SLOT_INPUT;
        } else {
            s->kind = WEFT_SLOT_TEMP;
        }
        last_use[v] = -1;
    }
    p->n_inputs = g->n_inputs;
    for (int i = 0; i < g->n_inputs; i++) {
        p->inputs[i] = g->inputs[i];
        if (p->slots[g->inputs[i]].kind == WEFT_SLOT_INPUT) p->slots[g->inputs[i]].input_index = i;
    }
    p->n_outputs = g->n_outputs;
    for (int i = 0; i < g->n_outputs; i++) p->outputs[i] = g->outputs[i];

    /* steps */
    for (int i = 0; i < N; i++) {
        const weft_node *n = &g->nodes[i];
        weft_step *s = &p->steps[i];
        s->def = n->def;
        s->info = weft_node_view(n);
        s->n_in = n->n_inputs;
        s->n_out = n->n_outputs;
        s->in = malloc(((size_t)n->n_inputs + 1) * sizeof(int));
        s->out = malloc(((size_t)n->n_outputs + 1) * sizeof(int));
        if (!s->in || !s->out) { p->n_steps = i + 1; st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
        memcpy(s->in, n->inputs, (size_t)n->n_inputs * sizeof(int));
        memcpy(s->out, n->outputs, (size_t)n->n_outputs * sizeof(int));
        p->n_steps = i + 1;
        if (n->n_inputs > p->max_step_in) p->max_step_in = n->n_inputs;
        if (n->n_outputs > p->max_step_out) p->max_step_out = n->n_outputs;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) last_use[n->inputs[k]] = i;
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0 && last_use[n->outputs[k]] < i) last_use[n->outputs[k]] = i;
        if ((st = build_subplans(p, s, n))) goto done;
        /* values a subgraph (at any depth) reads from this graph stay alive through this step */
        for (int k = 0; k < s->n_sub; k++) extend_outer_uses(s->sub[k], 1, i, last_use);
    }
    for (int i = 0; i < g->n_outputs; i++) last_use[g->outputs[i]] = N; /* the caller reads them */

    /* buffers: greedy reuse in schedule order; a value's buffer is released after its last step, once
     * that step's outputs have taken theirs (so no step writes over its own inputs) */
    int n_free = 0;
    for (int v = 0; v < V; v++) buffer_of[v] = -1;
    int *dies_start = calloc((size_t)N + 2, sizeof(int)), *dies = malloc(((size_t)V + 1) * sizeof(int));
    if (!dies_start || !dies) { free(dies_start); free(dies); st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    for (int v = 0; v < V; v++)
        if (last_use[v] >= 0 && last_use[v] < N) dies_start[last_use[v] + 1]++;
    for (int i = 0; i < N; i++) dies_start[i + 1] += dies_start[i];
    for (int v = 0; v < V; v++) /* counting sort by step; dies_start[i] becomes bucket i's end... */
        if (last_use[v] >= 0 && last_use[v] < N) dies[dies_start[last_use[v]]++] = v;
    for (int i = N; i > 0; i--) dies_start[i] = dies_start[i - 1]; /* ...so shift back to starts */
    dies_start[0] = 0;
    for (int i = 0; i < N; i++) {
        const weft_step *s = &p->steps[i];
        for (int k = 0; k < s->n_out; k++) {
            int v = s->out[k];
            if (v < 0 || p->slots[v].kind != WEFT_SLOT_TEMP || buffer_of[v] >= 0) continue;
            buffer_of[v] = n_free ? free_list[--n_free] : p->n_buffers++;
            p->slots[v].buffer = buffer_of[v];
        }
        for (int j = dies_start[i]; j < dies_start[i + 1]; j++) {
            int v = dies[j];
            if (buffer_of[v] >= 0) { free_list[n_free++] = buffer_of[v]; buffer_of[v] = -1; }
        }
    }
    free(dies_start);
    free(dies);
done:
    free(last_use);
    free(buffer_of);
    free(free_list);
    if (st) { weft_plan_destroy(p); return st; }
    *out = p;
    return WEFT_OK;
}
