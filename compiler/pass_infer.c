/*
 * compiler/pass_infer.c — shape and type inference with symbols, and constant folding.
 *
 * Walks the (sorted) nodes once. For each node it asks the op's `infer` for output dtypes and shapes;
 * when every input is a known constant it also runs the reference kernel right away and turns the
 * outputs into constants (this folds Shape/Gather/Concat chains once their dims are numbers). Control
 * flow (If, Loop, Scan) is checked by ops/control.c (the checks the runtime makes too) and inferred here
 * from its subgraphs, which are inferred recursively.
 */
#include <stdlib.h>
#include <string.h>

#include "../ops/control.h"
#include "plan.h"
#include "symval.h"

/* Folding never materialises constants larger than this: a Range or ConstantOfShape of a huge size is
 * better computed at run time than stored in the plan. */
#define WEFT_FOLD_MAX_BYTES ((size_t)64 << 20)

static int32_t fresh(void *user) { return weft_sym_fresh((weft_symtab *)user); }

/* The data of value v of graph g if it is a known constant (looking through OUTER references). */
static const weft_value *resolve(const weft_graph *g, int v)
{
    const weft_value *val = &g->values[v];
    if (val->flags & WEFT_VALUE_OUTER) {
        const weft_value *o = weft_graph_lookup_scoped(g->parent, val->name, NULL);
        if (o) return o;
    }
    return val;
}

static void *scratch_fn(void *user, size_t bytes)
{
    void **buf = user;
    void *p = realloc(*buf, bytes ? bytes : 1);
    if (p) *buf = p;
    return p;
}

static weft_status fold(weft_graph *g, weft_node *n, const weft_dtype *dt, const weft_shape *sh, const void *const *data,
                        int *changed)
{
    weft_tview in[64], out[64];
    weft_node_info info = weft_node_view(n);
    for (int i = 0; i < n->n_inputs; i++) {
        memset(&in[i], 0, sizeof in[i]);
        in[i].dtype = dt[i];
        if (dt[i] == WEFT_UNDEFINED) continue;
        in[i].rank = sh[i].rank;
        in[i].numel = weft_shape_numel(&sh[i]);
        for (int d = 0; d < sh[i].rank; d++) in[i].dims[d] = sh[i].d[d].v;
        in[i].data = (void *)data[i];
    }
    size_t total = 0;
    for (int o = 0; o < n->n_outputs; o++) {
        memset(&out[o], 0, sizeof out[o]);
        int v = n->outputs[o];
        weft_value *val = v >= 0 ? &g->values[v] : NULL;
        if (!val) return WEFT_OK; /* an unused optional output: keep the node rather than guess its shape */
        int64_t numel = weft_shape_numel(&val->shape);
        if (numel < 0) return WEFT_OK;
        size_t es = weft_dtype_size(val->dtype);
        if (!es || (size_t)numel > WEFT_FOLD_MAX_BYTES / es) return WEFT_OK;
        total += (size_t)numel * es;
        if (total > WEFT_FOLD_MAX_BYTES) return WEFT_OK;
    }
    weft_status st = WEFT_OK;
    for (int o = 0; o < n->n_outputs; o++) {
        weft_value *val = &g->values[n->outputs[o]];
        out[o].dtype = val->dtype;
        out[o].rank = val->shape.rank;
        out[o].numel = weft_shape_numel(&val->shape);
        for (int d = 0; d < val->shape.rank; d++) out[o].dims[d] = val->shape.d[d].v;
        out[o].data = calloc(1, (size_t)out[o].numel * weft_dtype_size(val->dtype) + 1);
        if (!out[o].data) st = weft_error(WEFT_ERR_NOMEM, "out of memory folding node '%s'", n->name);
    }
    void *scratch = NULL;
    if (st == WEFT_OK) {
        weft_kernel_ctx k = {&info, n->n_inputs, in, n->n_outputs, out, scratch_fn, &scratch};
        st = n->def->run(&k);
    }
    free(scratch);
    for (int o = 0; o < n->n_outputs; o++) {
        weft_value *val = &g->values[n->outputs[o]];
        if (st == WEFT_OK) {
            free(val->data);
            val->data = out[o].data;
            val->nbytes = (size_t)out[o].numel * weft_dtype_size(val->dtype);
            val->flags |= WEFT_VALUE_CONST;
            val->producer = -1;
        } else {
            free(out[o].data);
        }
    }
    if (st == WEFT_OK) {
        /* The node is now dead: its outputs are constants. DCE removes it. */
        for (int o = 0; o < n->n_outputs; o++) n->outputs[o] = -1;
        if (changed) (*changed)++;
    }
    return st;
}

/* Declared shapes (graph outputs, value_info) fill what inference leaves unknown. */
static void merge_declared(weft_value *v, weft_dtype dt, const weft_shape *inferred, const weft_symtab *syms)
{
    bool declared = (v->flags & WEFT_VALUE_TYPED) && v->shape.rank >= 0;
    weft_shape s = *inferred;
    if (declared && s.rank < 0) {
        s = v->shape;
    } else if (declared && s.rank == v->shape.rank) {
        for (int d = 0; d < s.rank; d++) {
            if (weft_dim_known(s.d[d])) continue;
            weft_dim dd = v->shape.d[d];
            const char *inf_name = weft_sym_name(syms, s.d[d].sym);
            if (weft_dim_known(dd) || strncmp(inf_name, "unk__", 5) == 0) s.d[d] = dd;
        }
    }
    v->dtype = dt;
    v->shape = s;
    v->flags |= WEFT_VALUE_TYPED;
}

static weft_status infer_graph(weft_graph *g, bool fold_consts, int *changed);
static weft_status infer_nodes(weft_graph *g, bool fold_consts, int *changed, weft_symval *sv);

static weft_shape unknown_shape(weft_graph *g, int rank)
{
    weft_shape s = {0};
    s.rank = rank;
    for (int d = 0; d < rank && d < WEFT_MAX_RANK; d++) s.d[d] = (weft_dim){0, weft_sym_fresh(g->syms)};
    return s;
}

/* Types a subgraph's formal input from what flows into it, unless the model declared it. */
static void seed_input(weft_graph *sub, int k, weft_dtype dt, const weft_shape *shape)
{
    if (k >= sub->n_inputs) return;
    weft_value *v = &sub->values[sub->inputs[k]];
    if (v->flags & WEFT_VALUE_TYPED && v->dtype != WEFT_UNDEFINED) return;
    v->dtype = dt;
    v->shape = *shape;
    v->flags |= WEFT_VALUE_TYPED;
}

/* A control-flow node as ops/control.h checks it, and its graphs by role. */
typedef struct control_view {
    weft_node_info info;
    weft_control_sig sig;
    weft_graph *graph[WEFT_CONTROL_MAX_SUBS];
    int n_graphs;
} control_view;

static weft_status add_graph(weft_graph *sub, weft_attr *attr, void *user)
{
    control_view *c = user;
    int r = weft_control_role(c->sig.kind, attr->name);
    if (r >= 0) {
        c->sig.sub[r] = (weft_control_sub){c->n_graphs, sub->n_inputs, sub->n_outputs};
        c->graph[r] = sub;
    }
    c->n_graphs++;
    return WEFT_OK;
}

/* Finds n's graphs and makes the checks the runtime makes too (counts, absent inputs), before anything
 * else: a node runs even when its inputs are untyped at compile time. */
static weft_status control_view_of(weft_node *n, control_view *c)
{
    memset(c, 0, sizeof *c);
    c->info = weft_node_view(n);
    c->sig = (weft_control_sig){weft_control_kind_of(n->def), &c->info, n->n_inputs, n->inputs, n->n_outputs};
    for (int r = 0; r < WEFT_CONTROL_MAX_SUBS; r++) c->sig.sub[r].index = -1;
    weft_node_each_subgraph(n, add_graph, c);
    return weft_control_check(&c->sig);
}

/* Outputs of a checked control-flow node (control_view_of) from its subgraphs. */
static weft_status infer_control(weft_graph *g, weft_node *n, const control_view *cv, const weft_dtype *dt,
                                 const weft_shape *sh, int *changed)
{
    weft_status st;
    switch (cv->sig.kind) {
    case WEFT_CONTROL_IF: {
        weft_graph *a = cv->graph[0], *b = cv->graph[1];
        /* A branch may be wrong for shapes that never take it (a Split that only fits the other
         * case): its inference failing is not an error until the branch runs. */
        weft_status sa = infer_graph(a, true, changed), sb = infer_graph(b, true, changed);
        if (sa == WEFT_ERR_NOMEM || sb == WEFT_ERR_NOMEM || sa == WEFT_ERR_UNSUPPORTED || sb == WEFT_ERR_UNSUPPORTED)
            return sa ? sa : sb;
        if (sa && sb) return sa;
        if (sa || sb) weft_error_clear();
        for (int o = 0; o < n->n_outputs; o++) {
            if (n->outputs[o] < 0) continue;
            const weft_value *x = &a->values[a->outputs[o]], *y = &b->values[b->outputs[o]];
            if (sa) x = y;
            if (sb) y = x;
            weft_shape s = x->shape;
            if (x->shape.rank != y->shape.rank) s = unknown_shape(g, -1);
            else
                for (int d = 0; d < s.rank; d++)
                    if (!weft_dim_eq(x->shape.d[d], y->shape.d[d])) s.d[d] = (weft_dim){0, weft_sym_fresh(g->syms)};
            merge_declared(&g->values[n->outputs[o]], x->dtype != WEFT_UNDEFINED ? x->dtype : y->dtype, &s, g->syms);
        }
        return WEFT_OK;
    }
    case WEFT_CONTROL_LOOP: {
        weft_graph *body = cv->graph[0];
        int n_carried = n->n_inputs - 2;
        weft_shape scalar = {0};
        seed_input(body, 0, WEFT_INT64, &scalar);
        seed_input(body, 1, WEFT_BOOL, &scalar);
        for (int k = 0; k < n_carried; k++) {
            weft_shape s = unknown_shape(g, sh[k + 2].rank);
            seed_input(body, k + 2, dt[k + 2], &s);
        }
        if ((st = infer_graph(body, true, changed))) return st;
        for (int o = 0; o < n->n_outputs; o++) {
            if (n->outputs[o] < 0) continue;
            const weft_value *bo = &body->values[body->outputs[o + 1]];
            weft_shape s;
            if (o < n_carried) {
                s = unknown_shape(g, bo->shape.rank);
            } else {
                s = unknown_shape(g, bo->shape.rank < 0 || bo->shape.rank >= WEFT_MAX_RANK ? -1 : bo->shape.rank + 1);
                for (int d = 0; s.rank > 0 && d < bo->shape.rank; d++) s.d[d + 1] = bo->shape.d[d];
            }
            merge_declared(&g->values[n->outputs[o]], bo->dtype, &s, g->syms);
        }
        return WEFT_OK;
    }
    case WEFT_CONTROL_SCAN: {
        weft_graph *body = cv->graph[0];
        /* in range: checked */
        int n_state = n->n_inputs - (int)weft_attr_int(&cv->info, "num_scan_inputs", 1);
        for (int k = 0; k < n->n_inputs; k++) {
            weft_shape s = unknown_shape(g, k < n_state ? sh[k].rank : (sh[k].rank > 0 ? sh[k].rank - 1 : -1));
            seed_input(body, k, dt[k], &s);
        }
        if ((st = infer_graph(body, true, changed))) return st;
        for (int o = 0; o < n->n_outputs; o++) {
            if (n->outputs[o] < 0) continue;
            const weft_value *bo = &body->values[body->outputs[o]];
            int r = o < n_state ? bo->shape.rank : (bo->shape.rank < 0 || bo->shape.rank >= WEFT_MAX_RANK ? -1 : bo->shape.rank + 1);
            weft_shape s = unknown_shape(g, r);
            merge_declared(&g->values[n->outputs[o]], bo->dtype, &s, g->syms);
        }
        return WEFT_OK;
    }
    default:
        return weft_error(WEFT_ERR_UNSUPPORTED, "node '%s': control-flow op %s is not supported", n->name, n->op_type);
    }
}

static weft_status infer_graph(weft_graph *g, bool fold_consts, int *changed)
{
    /* Values from enclosing scopes take the type their definition has by now. */
    for (int v = 0; v < g->n_values; v++) {
        weft_value *val = &g->values[v];
        if (!(val->flags & WEFT_VALUE_OUTER)) continue;
        const weft_value *o = weft_graph_lookup_scoped(g->parent, val->name, NULL);
        if (!o) return weft_error(WEFT_ERR_INVALID_MODEL, "graph '%s' reads '%s', which no enclosing graph defines", g->name, val->name);
        if (o->flags & WEFT_VALUE_TYPED) {
            val->dtype = o->dtype;
            val->shape = o->shape;
            val->flags |= WEFT_VALUE_TYPED;
        }
    }
    weft_status st = weft_ir_toposort(g);
    if (st) return st;
    weft_symval *sv = malloc(((size_t)g->n_values + 1) * sizeof *sv);
    if (!sv) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    for (int v = 0; v < g->n_values; v++) sv[v].len = -1;
    st = infer_nodes(g, fold_consts, changed, sv);
    free(sv);
    return st;
}

/*
 * ONNX attributes whose type is the same in every standard op that has them. The kernels' accessors
 * treat an attribute of another type as absent, which would silently run with the default (a FLOAT
 * axis, a STRING axes): such a model is refused here instead, as ONNX's checker does.
 */
static weft_status check_attr_types(const weft_node *n)
{
    static const char *const ints[] = {
        "axis", "keepdims", "noop_with_empty_axes", "select_last_index", "allowzero", "batch_dims", "blocksize",
        "transA", "transB", "to", "group", "largest", "sorted", "upper", "exclusive", "reverse",
        "center_point_box", "ceil_mode", "count_include_pad", "storage_order", "num_scan_inputs", "hidden_size",
        "linear_before_reset", "input_forget", "layout", "detect_positive", "detect_negative", "align_corners",
        "antialias", "exclude_outside", "num_groups", "stash_type", "is_causal", "interleaved", "k", "p"};
    static const char *const intlists[] = {"axes", "perm", "kernel_shape", "strides", "pads", "dilations",
                                           "output_padding", "output_shape", "split"};
    static const char *const strings[] = {"mode", "reduction", "direction", "approximate", "auto_pad",
                                          "coordinate_transformation_mode", "nearest_mode",
                                          "keep_aspect_ratio_policy", "padding_mode", "equation"};
    static const char *const floats[] = {"alpha", "beta", "gamma", "epsilon", "lambd", "cubic_coeff_a",
                                         "extrapolation_value", "softcap"};
    static const struct { const char *const *names; size_t n; int type; const char *what; } groups[] = {
        {ints, sizeof ints / sizeof *ints, WEFT_ATTR_INT, "an int"},
        {intlists, sizeof intlists / sizeof *intlists, WEFT_ATTR_INTS, "a list of ints"},
        {strings, sizeof strings / sizeof *strings, WEFT_ATTR_STRING, "a string"},
        {floats, sizeof floats / sizeof *floats, WEFT_ATTR_FLOAT, "a float"},
    };
    if (n->domain[0]) return WEFT_OK;
    for (int i = 0; i < n->n_attrs; i++) {
        const weft_attr *a = &n->attrs[i];
        for (size_t gi = 0; gi < sizeof groups / sizeof *groups; gi++)
            for (size_t j = 0; j < groups[gi].n; j++) {
                if (strcmp(a->name, groups[gi].names[j]) != 0) continue;
                /* An int where a float is expected reads exactly (weft_attr_float takes it). */
                bool ok = (int)a->type == groups[gi].type ||
                          (groups[gi].type == WEFT_ATTR_FLOAT && a->type == WEFT_ATTR_INT);
                if (!ok)
                    return weft_error(WEFT_ERR_INVALID_MODEL, "node '%s' (%s): attribute '%s' must be %s",
                                      n->name, n->op_type, a->name, groups[gi].what);
            }
    }
    return WEFT_OK;
}

static weft_status infer_nodes(weft_graph *g, bool fold_consts, int *changed, weft_symval *sv)
{
    weft_status st;
    for (int i = 0; i < g->n_nodes; i++) {
        weft_node *n = &g->nodes[i];
        if (!n->def)
            return weft_error(WEFT_ERR_UNSUPPORTED, "node '%s': op %s%s%s (opset %d) is not supported", n->name,
                              n->domain[0] ? n->domain : "", n->domain[0] ? "." : "", n->op_type, n->opset);
        if (n->n_inputs > 64 || n->n_outputs > 64)
            return weft_error(WEFT_ERR_UNSUPPORTED, "node '%s': more than 64 inputs or outputs", n->name);
        const weft_op_def *d = n->def;
        int present_in = n->n_inputs;
        while (present_in > 0 && n->inputs[present_in - 1] < 0) present_in--;
        if (present_in < d->min_inputs || (d->max_inputs >= 0 && n->n_inputs > d->max_inputs))
            return weft_error(WEFT_ERR_INVALID_MODEL, "node '%s' (%s): %d inputs given, expected %d to %d", n->name,
                              n->op_type, n->n_inputs, d->min_inputs, d->max_inputs);
        if (n->n_outputs < d->min_outputs || (d->max_outputs >= 0 && n->n_outputs > d->max_outputs))
            return weft_error(WEFT_ERR_INVALID_MODEL, "node '%s' (%s): %d outputs given, expected %d to %d", n->name,
                              n->op_type, n->n_outputs, d->min_outputs, d->max_outputs);
        if ((st = check_attr_types(n))) return st;
        weft_dtype dt[64];
        weft_shape sh[64];
        const void *data[64];
        bool all_const = true, typed = true;
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            if (v < 0) { dt[k] = WEFT_UNDEFINED; sh[k].rank = 0; data[k] = NULL; continue; }
            const weft_value *val = resolve(g, v);
            if (!(val->flags & WEFT_VALUE_TYPED) || val->dtype == WEFT_UNDEFINED) typed = false;
            dt[k] = val->dtype;
            sh[k] = val->shape;
            data[k] = (val->flags & WEFT_VALUE_CONST) ? val->data : NULL;
            if (!data[k]) all_const = false;
        }
        if (d->flags & WEFT_OP_CONTROL_FLOW) {
            control_view cv;
            if ((st = control_view_of(n, &cv))) return st;
            if (!typed) continue;
            if ((st = infer_control(g, n, &cv, dt, sh, changed))) return st;
            continue;
        }
        /* Nothing is known of an untyped input (a subgraph input the model left untyped): leave the
         * outputs untyped too; the runtime infers them with real shapes. */
        if (!typed) continue;
        weft_dtype odt[64];
        weft_shape osh[64];
        memset(odt, 0, sizeof odt);
        for (int o = 0; o < n->n_outputs; o++) osh[o].rank = -1;
        weft_node_info info = weft_node_view(n);
        weft_infer_ctx c = {&info, n->n_inputs, dt, sh, data, n->n_outputs, odt, osh, fresh, g->syms};
        if ((st = d->infer(&c))) return st;
        for (int o = 0; o < n->n_outputs; o++)
            if (n->outputs[o] >= 0) merge_declared(&g->values[n->outputs[o]], odt[o], &osh[o], g->syms);
        weft_symval_refine(sv, g, n);
        weft_symval_propagate(sv, g, n);
        /* Shape and Size read only their input's shape: known dims are enough to fold them. */
        if ((strcmp(n->op_type, "Shape") == 0 || strcmp(n->op_type, "Size") == 0) && !n->domain[0] && n->n_inputs == 1 &&
            n->inputs[0] >= 0 && weft_shape_known(&sh[0]))
            all_const = true;
        if (fold_consts && all_const && !(d->flags & WEFT_OP_NO_FOLD)) {
            bool known = true;
            for (int o = 0; o < n->n_outputs; o++)
                if (n->outputs[o] >= 0 && !weft_shape_known(&g->values[n->outputs[o]].shape)) known = false;
            if (known && (st = fold(g, n, dt, sh, data, changed))) return st;
        }
    }
    return WEFT_OK;
}

weft_status weft_pass_infer(weft_graph *g, bool fold_consts, int *changed)
{
    int c = 0;
    weft_status st = infer_graph(g, fold_consts, &c);
    if (changed) *changed = c;
    return st;
}
