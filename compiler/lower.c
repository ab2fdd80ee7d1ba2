/*
 * compiler/lower.c — from an inferred, optimised graph to a plan: one slot per value, one step per node,
 * each step given to the first backend of the priority list that takes it and prepared by it once;
 * liveness of every temporary (for the session's memory plan), growing buffers shared by liveness (for
 * values whose sizes are found at run time), and the shape-only values a session computes once per set
 * of sizes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* Shape tensors are small; a value computed from sizes alone but large (ConstantOfShape of [N, F]) is
 * data, better made at run time than kept per set of sizes. */
#define WEFT_SHAPE_ONLY_MAX_ELEMS 64

void weft_plan_destroy(struct weft_plan *p)
{
    if (!p) return;
    for (int i = 0; p->uploads && i < p->n_steps; i++)
        if (p->uploads[i]) {
            const weft_buffer_type *t = p->bufts[p->slots[p->steps[i].out[0]].buft];
            t->free(t->ctx, p->uploads[i]);
        }
    free(p->uploads);
    for (int i = 0; i < p->n_steps; i++) {
        weft_step *s = &p->steps[i];
        if (s->prepared && s->backend && s->backend->release) s->backend->release(s->prepared);
        free(s->in);
        free(s->out);
        for (int k = 0; k < s->n_sub; k++) weft_plan_destroy(s->sub[k]);
        free(s->sub);
        free(s->sub_names);
    }
    if (p->upload_lock) {
        pthread_mutex_destroy(p->upload_lock);
        free(p->upload_lock);
    }
    free(p->steps);
    free(p->slots);
    free(p->buffer_buft);
    free(p->inputs);
    free(p->outputs);
    for (int i = 0; i < p->n_passes; i++) free(p->passes[i].name);
    free(p->passes);
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
static void extend_outer_uses(const struct weft_plan *sp, int level, int i, weft_slot *slots)
{
    for (int j = 0; j < sp->n_slots; j++) {
        const weft_slot *s = &sp->slots[j];
        if (s->kind == WEFT_SLOT_OUTER && s->outer_depth == level && slots[s->outer].last < i) slots[s->outer].last = i;
    }
    for (int t = 0; t < sp->n_steps; t++)
        for (int k = 0; k < sp->steps[t].n_sub; k++) extend_outer_uses(sp->steps[t].sub[k], level + 1, i, slots);
}

static bool op_is(const weft_step *s, const char *domain, const char *name)
{
    return strcmp(s->info.domain, domain) == 0 && strcmp(s->info.op_type, name) == 0;
}

static weft_op_class classify(const weft_step *s)
{
    static const char *const dense[] = {"MatMul", "Gemm", "Conv", "ConvTranspose", "Einsum", "MatMulInteger",
                                        "QLinearMatMul", "LSTM", "GRU", "RNN", "Attention", NULL};
    static const char *const message[] = {"Gather", "GatherElements", "GatherND", "ScatterElements", "ScatterND",
                                          "Scatter", NULL};
    static const char *const eltwise[] = {
        "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum", "Neg", "Abs", "Relu", "LeakyRelu", "Elu",
        "Selu", "Celu", "Gelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Exp", "Log", "Sqrt", "Reciprocal",
        "Cos", "Sin", "Erf", "Softplus", "Softsign", "Clip", "Where", "Cast", "Equal", "Less", "Greater", "Not",
        "And", "Or", "Floor", "Ceil", "Round", "Sign", "PRelu", "ThresholdedRelu", "Mish", NULL};
    if (!s->info.domain[0]) {
        for (int i = 0; dense[i]; i++) if (op_is(s, "", dense[i])) return WEFT_CLASS_DENSE;
        for (int i = 0; message[i]; i++) if (op_is(s, "", message[i])) return WEFT_CLASS_MESSAGE;
        for (int i = 0; eltwise[i]; i++) if (op_is(s, "", eltwise[i])) return WEFT_CLASS_ELEMENTWISE;
        return WEFT_CLASS_OTHER;
    }
    if (strcmp(s->info.domain, "ai.weft") == 0) {
        if (op_is(s, "ai.weft", "FusedMatMul") || op_is(s, "ai.weft", "GRUCell") || op_is(s, "ai.weft", "FusedConv") ||
            op_is(s, "ai.weft", "FusedAttention") || op_is(s, "ai.weft", "GRUGrad"))
            return WEFT_CLASS_DENSE;
        if (op_is(s, "ai.weft", "ChannelsLast")) { /* a convolution or a pool */
            const char *w = weft_attr_string(&s->info, "op", "");
            return strcmp(w, "Conv") == 0 || strcmp(w, "FusedConv") == 0 ? WEFT_CLASS_DENSE : WEFT_CLASS_OTHER;
        }
        if (op_is(s, "ai.weft", "FusedElementwise") || op_is(s, "ai.weft", "TimeEncoding")) return WEFT_CLASS_ELEMENTWISE;
        if (op_is(s, "ai.weft", "L2Normalize")) return WEFT_CLASS_OTHER;
        return WEFT_CLASS_MESSAGE; /* SegmentReduce, RowGather, EdgeSoftmax, CSR, Csr*, LinkScore */
    }
    return WEFT_CLASS_OTHER;
}

/* A value computed from sizes alone: Shape / Size of anything, or a foldable op of constants and
 * such values, small enough to keep per set of sizes. */
static bool shape_only_step(const struct weft_plan *p, const weft_step *s)
{
    if (s->kind != WEFT_STEP_KERNEL || !s->def || (s->def->flags & (WEFT_OP_NO_FOLD | WEFT_OP_CONTROL_FLOW))) return false;
    bool sizes_only = !s->info.domain[0] && (op_is(s, "", "Shape") || op_is(s, "", "Size"));
    if (!sizes_only) {
        bool any = false;
        for (int k = 0; k < s->n_in; k++) {
            int v = s->in[k];
            if (v < 0) continue;
            const weft_slot *sl = &p->slots[v];
            if (sl->kind == WEFT_SLOT_CONST) continue;
            if (sl->kind != WEFT_SLOT_TEMP || !sl->shape_only) return false;
            any = true;
        }
        if (!any) return false; /* all constants: folding left it on purpose (too large) */
    }
    for (int o = 0; o < s->n_out; o++) {
        int v = s->out[o];
        if (v < 0) return false;
        int64_t n = weft_shape_numel(&p->slots[v].shape);
        if (n < 0 || n > WEFT_SHAPE_ONLY_MAX_ELEMS || p->slots[v].kind != WEFT_SLOT_TEMP) return false;
    }
    return true;
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

/* Gives step s to a backend (the named one, or the first of the list that supports it) and prepares it. */
static weft_status assign_backend(const struct weft_plan *p, weft_step *s, const char *want)
{
    int n = s->n_in > s->n_out ? s->n_in : s->n_out;
    weft_dtype *idt = calloc((size_t)n + 1, sizeof *idt), *odt = calloc((size_t)n + 1, sizeof *odt);
    weft_shape *ish = calloc((size_t)n + 1, sizeof *ish), *osh = calloc((size_t)n + 1, sizeof *osh);
    const void **cdata = calloc((size_t)n + 1, sizeof *cdata);
    weft_status st = WEFT_OK;
    if (!idt || !odt || !ish || !osh || !cdata) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    for (int k = 0; k < s->n_in; k++) {
        int v = s->in[k];
        idt[k] = v >= 0 ? p->slots[v].dtype : WEFT_UNDEFINED;
        ish[k] = v >= 0 ? p->slots[v].shape : (weft_shape){.rank = 0};
        cdata[k] = v >= 0 && p->slots[v].kind == WEFT_SLOT_CONST ? p->slots[v].data : NULL;
    }
    for (int k = 0; k < s->n_out; k++) {
        int v = s->out[k];
        odt[k] = v >= 0 ? p->slots[v].dtype : WEFT_UNDEFINED;
        osh[k] = v >= 0 ? p->slots[v].shape : (weft_shape){.rank = -1};
    }
    weft_step_desc d = {s->def, &s->info, s->n_in, s->n_out, idt, ish, cdata, odt, osh};
    const struct weft_plan *root = p;
    while (root->parent) root = root->parent;
    s->backend = NULL;
    /* Subgraphs run on the host: control flow reads their values between iterations. */
    bool host_only = p->parent != NULL || s->shape_only;
    if (want) {
        for (int b = 0; b < root->n_backends && !s->backend; b++)
            if (strcmp(root->backends[b]->name, want) == 0) s->backend = root->backends[b];
        if (!s->backend) { st = weft_error(WEFT_ERR_UNSUPPORTED, "node '%s': backend '%s' is not available", s->info.name, want); goto done; }
        if (!s->backend->supports(&d)) { st = weft_error(WEFT_ERR_UNSUPPORTED, "node '%s' (%s): backend '%s' does not take it", s->info.name, s->info.op_type, want); goto done; }
    } else {
        for (int b = 0; b < root->n_backends && !s->backend; b++)
            if ((!host_only || root->backends[b]->buft->is_host) && root->backends[b]->supports(&d)) s->backend = root->backends[b];
        if (!s->backend) { st = weft_error(WEFT_ERR_UNSUPPORTED, "node '%s' (%s): no backend takes it", s->info.name, s->info.op_type); goto done; }
    }
    if (s->backend->prepare && (st = s->backend->prepare(&d, &s->prepared)))
        st = weft_error_wrap(st, "node '%s' (%s): preparing it for backend '%s'", s->info.name, s->info.op_type, s->backend->name);
done:
    free(idt);
    free(odt);
    free(ish);
    free(osh);
    free(cdata);
    return st;
}

/* --- placement and copies ------------------------------------------------------------------------ */

/* Index of buffer type t in p->bufts, adding it. */
static int buft_index(struct weft_plan *p, const weft_buffer_type *t)
{
    for (int i = 0; i < p->n_bufts; i++)
        if (p->bufts[i] == t) return i;
    if (p->n_bufts == WEFT_MAX_BACKENDS) return 0;
    p->bufts[p->n_bufts] = t;
    return p->n_bufts++;
}

static weft_status grow(void **arr, size_t elem, int n, int *cap)
{
    if (n < *cap) return WEFT_OK;
    int nc = *cap * 2 + 8;
    void *q = realloc(*arr, (size_t)nc * elem);
    if (!q) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    *arr = q;
    *cap = nc;
    return WEFT_OK;
}

/* Points the OUTER slots of sp (at any depth) that read slot v of the plan `level` levels up at slot c. */
static void redirect_outer(struct weft_plan *sp, int level, int v, int c)
{
    for (int j = 0; j < sp->n_slots; j++)
        if (sp->slots[j].kind == WEFT_SLOT_OUTER && sp->slots[j].outer_depth == level && sp->slots[j].outer == v)
            sp->slots[j].outer = c;
    for (int t = 0; t < sp->n_steps; t++)
        for (int k = 0; k < sp->steps[t].n_sub; k++) redirect_outer(sp->steps[t].sub[k], level + 1, v, c);
}

/* Whether sp (at any depth) reads slot v of the plan `level` levels up. */
static bool reads_outer(const struct weft_plan *sp, int level, int v)
{
    for (int j = 0; j < sp->n_slots; j++)
        if (sp->slots[j].kind == WEFT_SLOT_OUTER && sp->slots[j].outer_depth == level && sp->slots[j].outer == v) return true;
    for (int t = 0; t < sp->n_steps; t++)
        for (int k = 0; k < sp->steps[t].n_sub; k++)
            if (reads_outer(sp->steps[t].sub[k], level + 1, v)) return true;
    return false;
}

/*
 * Where a value crosses from one buffer type to another, a copy step moves it: before a step that
 * reads it elsewhere than where it lives, and after the last step for a graph output that does not
 * live on the host (the caller reads host memory). One copy per value and destination, shared by every
 * reader. Inputs an op declares as host inputs, and every input of a control-flow step, are read on
 * the host. Plans with host backends only get no copies.
 */
static weft_status insert_copies(struct weft_plan *p)
{
    const weft_buffer_type *host = &weft_buffer_host;
    bool any = false;
    for (int i = 0; i < p->n_steps; i++) any |= p->steps[i].kind == WEFT_STEP_KERNEL && !p->steps[i].backend->buft->is_host;
    for (int v = 0; v < p->n_slots; v++) p->slots[v].buft = buft_index(p, host);
    if (!any) return WEFT_OK;
    for (int i = 0; i < p->n_steps; i++) {
        const weft_step *s = &p->steps[i];
        int where = s->kind == WEFT_STEP_KERNEL ? buft_index(p, s->backend->buft) : 0;
        for (int k = 0; k < s->n_out; k++) p->slots[s->out[k]].buft = where;
    }
    int cap_steps = p->n_steps + 1, cap_slots = p->n_slots + 1, n = 0;
    weft_step *steps = calloc((size_t)cap_steps, sizeof *steps);
    int *copy_of = NULL, n_copies = 0, cap_copies = 0; /* (value, buft, copy slot) triples */
    if (!steps) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    weft_status st = WEFT_OK;
    int n_slots0 = p->n_slots;
    for (int i = 0; i <= p->n_steps && st == WEFT_OK; i++) {
        bool tail = i == p->n_steps; /* the graph outputs' copies to the host */
        weft_step *s = tail ? NULL : &p->steps[i];
        /* reads: the step's inputs, then (control flow) the values its subgraphs read by name */
        int n_reads = tail ? p->n_outputs : s->n_in + (s->kind == WEFT_STEP_CONTROL ? n_slots0 : 0);
        for (int k = 0; k < n_reads && st == WEFT_OK; k++) {
            int outer_v = -1, *ref = NULL;
            if (tail) ref = &p->outputs[k];
            else if (k < s->n_in) ref = &s->in[k];
            else {
                outer_v = k - s->n_in;
                bool read = false;
                for (int j = 0; j < s->n_sub && !read; j++) read = reads_outer(s->sub[j], 1, outer_v);
                if (!read) continue;
                ref = &outer_v;
            }
            int v = *ref;
            if (v < 0) continue;
            /* Shape and Size read dims, which every slot has wherever its bytes are */
            if (!tail && k < s->n_in && s->kind == WEFT_STEP_KERNEL && (s->def->flags & WEFT_OP_DIMS_ONLY)) continue;
            int need = 0;
            if (!tail && k < s->n_in && s->kind == WEFT_STEP_KERNEL && !((s->def->host_inputs >> k) & 1u))
                need = buft_index(p, s->backend->buft);
            if (p->slots[v].buft == need) continue;
            int c = -1;
            for (int j = 0; j < n_copies; j++)
                if (copy_of[3 * j] == v && copy_of[3 * j + 1] == need) c = copy_of[3 * j + 2];
            if (c < 0) {
                if ((st = grow((void **)&p->slots, sizeof *p->slots, p->n_slots + 1, &cap_slots))) break;
                if ((st = grow((void **)&steps, sizeof *steps, n + 1, &cap_steps))) break;
                int nc3 = cap_copies;
                if (n_copies * 3 + 3 > cap_copies) {
                    nc3 = cap_copies * 2 + 24;
                    int *q = realloc(copy_of, (size_t)nc3 * sizeof *q);
                    if (!q) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); break; }
                    copy_of = q;
                    cap_copies = nc3;
                }
                c = p->n_slots++;
                p->slots[c] = p->slots[v];
                p->slots[c].kind = WEFT_SLOT_TEMP;
                p->slots[c].buft = need;
                p->slots[c].data = NULL;
                p->slots[c].nbytes = 0;
                p->slots[c].input_index = -1;
                weft_step *cs = &steps[n++];
                memset(cs, 0, sizeof *cs);
                cs->kind = WEFT_STEP_COPY;
                cs->info.name = p->slots[v].name;
                cs->info.op_type = "Copy";
                cs->info.domain = "";
                cs->n_in = cs->n_out = 1;
                cs->in = malloc(sizeof(int));
                cs->out = malloc(sizeof(int));
                if (!cs->in || !cs->out) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); break; }
                cs->in[0] = v;
                cs->out[0] = c;
                bool to_host = p->bufts[need]->is_host;
                cs->copy_dir = to_host ? WEFT_COPY_TO_HOST : (p->bufts[p->slots[v].buft]->is_host ? WEFT_COPY_TO_DEVICE : WEFT_COPY_ON_DEVICE);
                cs->copy_buft = to_host ? p->bufts[p->slots[v].buft] : p->bufts[need];
                copy_of[3 * n_copies] = v;
                copy_of[3 * n_copies + 1] = need;
                copy_of[3 * n_copies + 2] = c;
                n_copies++;
            }
            if (outer_v >= 0)
                for (int j = 0; j < s->n_sub; j++) redirect_outer(s->sub[j], 1, outer_v, c);
            else *ref = c;
        }
        if (!tail && st == WEFT_OK) {
            if ((st = grow((void **)&steps, sizeof *steps, n + 1, &cap_steps))) break;
            steps[n++] = *s;
            memset(s, 0, sizeof *s); /* moved */
        }
    }
    free(copy_of);
    if (st) {
        for (int i = 0; i < n; i++) if (steps[i].kind == WEFT_STEP_COPY) { free(steps[i].in); free(steps[i].out); }
        free(steps); /* moved steps are lost with it: the caller destroys the plan, whose steps were moved */
        return st;
    }
    free(p->steps);
    p->steps = steps;
    p->n_steps = n;
    return WEFT_OK;
}

/* --- the plan ------------------------------------------------------------------------------------ */

static weft_status build(weft_graph *g, const struct weft_plan *parent, const weft_backend *const *backends, int n_backends,
                         const char *const *assign, struct weft_plan **out)
{
    *out = NULL;
    struct weft_plan *p = calloc(1, sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    p->graph = g;
    p->syms = g->syms;
    p->parent = parent;
    for (int b = 0; b < n_backends && b < WEFT_MAX_BACKENDS; b++) p->backends[p->n_backends++] = backends[b];
    weft_status st = WEFT_OK;
    int V = g->n_values, N = g->n_nodes, unused = 0;
    int *buffer_of = NULL, *free_list = NULL, *dies_start = NULL, *dies = NULL;
    /* an output nobody reads still needs room: it gets a slot of its own after the graph's values */
    for (int i = 0; i < N; i++)
        for (int k = 0; k < g->nodes[i].n_outputs; k++) unused += g->nodes[i].outputs[k] < 0;
    p->slots = calloc((size_t)V + (size_t)unused + 1, sizeof *p->slots);
    p->steps = calloc((size_t)N + 1, sizeof *p->steps);
    p->inputs = malloc(((size_t)g->n_inputs + 1) * sizeof(int));
    p->outputs = malloc(((size_t)g->n_outputs + 1) * sizeof(int));
    if (!p->slots || !p->steps || !p->inputs || !p->outputs) {
        st = weft_error(WEFT_ERR_NOMEM, "out of memory building the plan");
        goto done;
    }
    p->n_slots = V + unused;
    for (int v = V; v < V + unused; v++)
        p->slots[v] = (weft_slot){.name = "", .kind = WEFT_SLOT_TEMP, .shape = {.rank = -1}, .input_index = -1};
    int next_unused = V;
    for (int v = 0; v < V; v++) {
        const weft_value *val = &g->values[v];
        weft_slot *s = &p->slots[v];
        s->name = val->name;
        s->dtype = val->dtype;
        s->shape = val->shape;
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
    }
    p->n_inputs = g->n_inputs;
    for (int i = 0; i < g->n_inputs; i++) {
        p->inputs[i] = g->inputs[i];
        if (p->slots[g->inputs[i]].kind == WEFT_SLOT_INPUT) p->slots[g->inputs[i]].input_index = i;
    }
    p->n_outputs = g->n_outputs;
    for (int i = 0; i < g->n_outputs; i++) p->outputs[i] = g->outputs[i];

    /* steps, each given to a backend */
    for (int i = 0; i < N; i++) {
        const weft_node *n = &g->nodes[i];
        weft_step *s = &p->steps[i];
        s->def = n->def;
        s->info = weft_node_view(n);
        s->kind = n->def && (n->def->flags & WEFT_OP_CONTROL_FLOW) ? WEFT_STEP_CONTROL : WEFT_STEP_KERNEL;
        s->n_in = n->n_inputs;
        s->n_out = n->n_outputs;
        s->in = malloc(((size_t)n->n_inputs + 1) * sizeof(int));
        s->out = malloc(((size_t)n->n_outputs + 1) * sizeof(int));
        p->n_steps = i + 1;
        if (!s->in || !s->out) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
        memcpy(s->in, n->inputs, (size_t)n->n_inputs * sizeof(int));
        memcpy(s->out, n->outputs, (size_t)n->n_outputs * sizeof(int));
        for (int k = 0; k < n->n_outputs; k++)
            if (s->out[k] < 0) s->out[k] = next_unused++;
        if (!n->def) { st = weft_error(WEFT_ERR_UNSUPPORTED, "node '%s': op %s is not supported", n->name, n->op_type); goto done; }
        if ((st = build_subplans(p, s, n))) goto done;
        s->op_class = classify(s);
        if (s->kind == WEFT_STEP_KERNEL) {
            /* shape-only steps are computed on the host when sizes are set up, whoever would take them */
            s->shape_only = shape_only_step(p, s);
            for (int k = 0; k < s->n_out; k++) p->slots[s->out[k]].shape_only = s->shape_only;
            if ((st = assign_backend(p, s, assign ? assign[i] : NULL))) goto done;
        }
    }
    if ((st = insert_copies(p))) goto done;
    N = p->n_steps;
    V = p->n_slots;

    /* liveness */
    for (int v = 0; v < V; v++) {
        p->slots[v].first = p->slots[v].last = -1;
        p->slots[v].buffer = -1;
    }
    for (int i = 0; i < N; i++) {
        weft_step *s = &p->steps[i];
        if (s->n_in > p->max_step_in) p->max_step_in = s->n_in;
        if (s->n_out > p->max_step_out) p->max_step_out = s->n_out;
        for (int k = 0; k < s->n_in; k++)
            if (s->in[k] >= 0) p->slots[s->in[k]].last = i;
        for (int k = 0; k < s->n_out; k++) {
            int v = s->out[k];
            if (p->slots[v].first < 0) p->slots[v].first = i;
            if (p->slots[v].last < i) p->slots[v].last = i;
        }
        /* values a subgraph (at any depth) reads from this graph stay alive through this step */
        for (int k = 0; k < s->n_sub; k++) extend_outer_uses(s->sub[k], 1, i, p->slots);
    }
    for (int i = 0; i < p->n_outputs; i++) p->slots[p->outputs[i]].last = N; /* the caller reads them */

    /* growing buffers (for values sized at run time): greedy reuse in schedule order, per buffer type; a
     * value's buffer is released after its last step, once that step's outputs have taken theirs (so no
     * step writes over its own inputs) */
    buffer_of = malloc(((size_t)V + 1) * sizeof(int));
    free_list = malloc(((size_t)V + 1) * sizeof(int));
    dies_start = calloc((size_t)N + 2, sizeof(int));
    dies = malloc(((size_t)V + 1) * sizeof(int));
    p->buffer_buft = malloc(((size_t)V + 1) * sizeof(int));
    if (!buffer_of || !free_list || !dies_start || !dies || !p->buffer_buft) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    for (int v = 0; v < V; v++)
        if (p->slots[v].last >= 0 && p->slots[v].last < N) dies_start[p->slots[v].last + 1]++;
    for (int i = 0; i < N; i++) dies_start[i + 1] += dies_start[i];
    for (int v = 0; v < V; v++) /* counting sort by step; dies_start[i] becomes bucket i's end... */
        if (p->slots[v].last >= 0 && p->slots[v].last < N) dies[dies_start[p->slots[v].last]++] = v;
    for (int i = N; i > 0; i--) dies_start[i] = dies_start[i - 1]; /* ...so shift back to starts */
    dies_start[0] = 0;
    for (int t = 0; t < (p->n_bufts ? p->n_bufts : 1); t++) {
        int n_free = 0;
        for (int v = 0; v < V; v++) buffer_of[v] = -1;
        for (int i = 0; i < N; i++) {
            const weft_step *s = &p->steps[i];
            for (int k = 0; k < s->n_out; k++) {
                int v = s->out[k];
                if (p->slots[v].kind != WEFT_SLOT_TEMP || p->slots[v].buft != t || buffer_of[v] >= 0) continue;
                if (n_free) buffer_of[v] = free_list[--n_free];
                else { buffer_of[v] = p->n_buffers; p->buffer_buft[p->n_buffers++] = t; }
                p->slots[v].buffer = buffer_of[v];
            }
            for (int j = dies_start[i]; j < dies_start[i + 1]; j++) {
                int v = dies[j];
                if (buffer_of[v] >= 0) { free_list[n_free++] = buffer_of[v]; buffer_of[v] = -1; }
            }
        }
    }
done:
    free(buffer_of);
    free(free_list);
    free(dies_start);
    free(dies);
    if (st) { weft_plan_destroy(p); return st; }
    *out = p;
    return WEFT_OK;
}

weft_status weft_plan_build(weft_graph *g, const struct weft_plan *parent, struct weft_plan **out)
{
    const struct weft_plan *root = parent;
    while (root && root->parent) root = root->parent;
    return build(g, parent, root ? root->backends : NULL, root ? root->n_backends : 0, NULL, out);
}

weft_status weft_plan_lower(weft_graph *g, weft_symtab *syms, const weft_backend *const *backends, int n_backends,
                            const char *const *assign, struct weft_plan **out)
{
    *out = NULL;
    if (n_backends < 1) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "no backend to lower for");
    struct weft_plan *p = NULL;
    weft_status st = build(g, NULL, backends, n_backends, assign, &p);
    if (st) return st;
    p->owns_graph = true;
    p->syms = syms;
    p->uploads = calloc((size_t)p->n_steps + 1, sizeof *p->uploads);
    p->upload_lock = malloc(sizeof(pthread_mutex_t));
    if (!p->uploads || !p->upload_lock || pthread_mutex_init(p->upload_lock, NULL) != 0) {
        free(p->upload_lock);
        p->upload_lock = NULL;
        p->owns_graph = false; /* the caller keeps g and syms on failure */
        weft_plan_destroy(p);
        return weft_error(WEFT_ERR_NOMEM, "out of memory");
    }
    *out = p;
    return WEFT_OK;
}
