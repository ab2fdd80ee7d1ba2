/*
 * compiler/pass_autodiff.c — reverse-mode automatic differentiation (see autodiff.h).
 *
 * 1. Which values matter: a value is active when it is a float value that depends on a parameter
 *    (forward from the parameters, through node inputs and through what subgraphs read by name) and
 *    the loss depends on it (backward from the loss). A node is on the path when one of its outputs is
 *    active; integer values (indices, shapes) are never active, so index inputs get no gradient.
 * 2. Every node on the path must have a gradient rule: checked for all of them before anything is
 *    added, so a refused graph is left as it was. If has none: an If on the path whose condition
 *    only depends on shapes (PyG's exports test ranks and edge counts that way) is first replaced by
 *    its taken branch, folding constants and inlining (compiler/pass_inline_if.c) until no more
 *    conditions are decided; that changes how the graph is spelled, not what it computes.
 * 3. The loss's gradient is seeded with ones; nodes are visited in reverse topological order, so when
 *    a node's rule runs, every reader of its outputs has already contributed, and the contributions to
 *    a value read several times have been summed (Add nodes, in visiting order).
 * 4. Each parameter's gradient is written by an Identity into a new graph output "<param>__grad".
 *
 * The rules emit through a weft_rw (rewrite.h): closing it sorts the grown graph and drops what no
 * output needs (a forward value the backward pass does not read is not kept alive for it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/grad.h"
#include "autodiff.h"
#include "plan.h"
#include "rewrite.h"

typedef struct ad {
    weft_rw rw;
    int n0;              /* values before the pass: the forward ones, which can carry gradients */
    int *grad;           /* per forward value: its gradient so far, or -1 */
    const char *base;    /* name of the node whose rule runs, for naming what it emits */
    const int *cur_in;   /* that node's inputs */
} ad;

/* The status of a rewriter call that returned -1: the message is already set, the code not kept
 * (allocation failures and unregistered ops both mean the pass cannot go on). */
static weft_status failed(void) { return WEFT_ERR_INTERNAL; }

/* --- what a rule may do (weft_grad_ops) ---------------------------------------------------------- */

static weft_status ad_node(void *user, const char *op, const char *domain, const int *in, int n_in,
                           const weft_attr *attrs, int n_attrs, int *out, int n_out)
{
    ad *a = user;
    for (int k = 0; k < n_out; k++)
        if ((out[k] = weft_rw_value(&a->rw, a->base, "grad", WEFT_UNDEFINED, NULL)) < 0) return failed();
    char name[256];
    snprintf(name, sizeof name, "%.200s/grad_%s", a->base, op);
    int i = weft_rw_node(&a->rw, op, domain, domain[0] ? 1 : WEFT_GRAD_OPSET, name, in, n_in, out, n_out);
    if (i < 0) return failed();
    for (int k = 0; k < n_attrs; k++) {
        weft_attr copy;
        if (!weft_attr_copy(&copy, &attrs[k], a->rw.g)) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        weft_status st = weft_node_add_attr(&a->rw.g->nodes[i], &copy);
        if (st) { weft_attr_clear(&copy); return st; }
    }
    return WEFT_OK;
}

static int ad_constant(void *user, weft_dtype t, const weft_shape *s, const void *data, size_t nbytes)
{
    ad *a = user;
    int v = weft_rw_constant(&a->rw, a->base, "grad_const", t, s, data, nbytes);
    if (v >= 0) a->rw.g->values[v].flags |= WEFT_VALUE_TYPED;
    return v;
}

/* A value read several times gets the sum of what its readers send back. */
static weft_status add_to(ad *a, int v, int g)
{
    if (v < 0 || v >= a->n0) return weft_error(WEFT_ERR_INTERNAL, "autodiff: gradient for value %d", v);
    if (a->grad[v] < 0) { a->grad[v] = g; return WEFT_OK; }
    int in[2] = {a->grad[v], g}, out;
    weft_status st = ad_node(a, "Add", "", in, 2, NULL, 0, &out, 1);
    if (!st) a->grad[v] = out;
    return st;
}

static weft_status ad_accumulate(void *user, int input, int g)
{
    ad *a = user;
    return add_to(a, a->cur_in[input], g);
}

static const weft_grad_ops ad_ops = {ad_node, ad_constant, ad_accumulate};

/* --- which nodes are on the path ----------------------------------------------------------------- */

typedef struct reach {
    const int *from; /* per value: 1 + the parameter it depends on, or 0 */
    int hit;
} reach;

static weft_status outer_hit(int v, void *user)
{
    reach *r = user;
    if (!r->hit && r->from[v]) r->hit = r->from[v];
    return WEFT_OK;
}

static weft_status mark_outer(int v, void *user)
{
    ((char *)user)[v] = 1;
    return WEFT_OK;
}

static bool is_grad_float(weft_dtype t) { return t == WEFT_FLOAT32 || t == WEFT_FLOAT64; }

/* --- the pass ------------------------------------------------------------------------------------ */

static const char *value_name(const weft_graph *g, int v) { return g->values[v].name ? g->values[v].name : "?"; }

static weft_status check_args(weft_graph *g, int loss, const int *params, int n)
{
    if (loss < 0 || loss >= g->n_values) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "autodiff: no loss value");
    const weft_value *l = &g->values[loss];
    if (!(l->flags & WEFT_VALUE_TYPED) || !weft_dtype_is_float(l->dtype) || weft_shape_numel(&l->shape) != 1)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "autodiff: the loss '%s' must be a float value of one element",
                          value_name(g, loss));
    for (int k = 0; k < n; k++) {
        if (params[k] < 0 || params[k] >= g->n_values)
            return weft_error(WEFT_ERR_INVALID_ARGUMENT, "autodiff: parameter %d is not a value", k);
        const weft_value *p = &g->values[params[k]];
        if (!(p->flags & WEFT_VALUE_TYPED) || !is_grad_float(p->dtype))
            return weft_error(WEFT_ERR_INVALID_ARGUMENT,
                              "autodiff: parameter '%s' must be float32 or float64 with an inferred shape",
                              value_name(g, params[k]));
    }
    return WEFT_OK;
}

/* active[v]: v carries a gradient. from[v]: 1 + a parameter v depends on (for error messages). */
static weft_status find_path(weft_graph *g, int loss, const int *params, int n, int *from, char *active)
{
    for (int k = 0; k < n; k++) from[params[k]] = k + 1;
    for (int i = 0; i < g->n_nodes; i++) {
        weft_node *nd = &g->nodes[i];
        reach r = {from, 0};
        for (int k = 0; k < nd->n_inputs && !r.hit; k++)
            if (nd->inputs[k] >= 0) r.hit = from[nd->inputs[k]];
        if (!r.hit) {
            weft_status st = weft_node_each_outer_read(g, nd, outer_hit, &r);
            if (st) return st;
        }
        if (!r.hit) continue;
        for (int o = 0; o < nd->n_outputs; o++) {
            int v = nd->outputs[o];
            if (v >= 0 && is_grad_float(g->values[v].dtype) && !from[v]) from[v] = r.hit;
        }
    }
    char *needed = calloc((size_t)g->n_values + 1, 1);
    if (!needed) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    needed[loss] = 1;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        weft_node *nd = &g->nodes[i];
        bool live = false;
        for (int o = 0; o < nd->n_outputs && !live; o++) live = nd->outputs[o] >= 0 && needed[nd->outputs[o]];
        if (!live) continue;
        for (int k = 0; k < nd->n_inputs; k++)
            if (nd->inputs[k] >= 0) needed[nd->inputs[k]] = 1;
        weft_status st = weft_node_each_outer_read(g, nd, mark_outer, needed);
        if (st) { free(needed); return st; }
    }
    for (int v = 0; v < g->n_values; v++) active[v] = from[v] && needed[v];
    free(needed);
    return WEFT_OK;
}

static bool is_if(const weft_node *nd) { return !nd->domain[0] && strcmp(nd->op_type, "If") == 0; }

static bool on_path(const weft_node *nd, const char *active)
{
    for (int o = 0; o < nd->n_outputs; o++)
        if (nd->outputs[o] >= 0 && active[nd->outputs[o]]) return true;
    return false;
}

static weft_status check_rules(const weft_graph *g, int loss, const int *params, const int *from, const char *active)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const weft_node *nd = &g->nodes[i];
        if (!on_path(nd, active) || (nd->def && nd->def->grad)) continue;
        int p = 0;
        for (int o = 0; o < nd->n_outputs && !p; o++)
            if (nd->outputs[o] >= 0 && active[nd->outputs[o]]) p = from[nd->outputs[o]];
        if (is_if(nd))
            return weft_error(WEFT_ERR_UNSUPPORTED,
                              "node '%s' (If): the op has no gradient rule, and the node is on the path from "
                              "parameter '%s' to the loss '%s'; an If is differentiated only when constant "
                              "folding decides its condition (it is then replaced by the branch taken)",
                              nd->name, value_name(g, params[p - 1]), value_name(g, loss));
        return weft_error(WEFT_ERR_UNSUPPORTED,
                          "node '%s' (%s%s%s): the op has no gradient rule, and the node is on the path from "
                          "parameter '%s' to the loss '%s'",
                          nd->name, nd->domain[0] ? nd->domain : "", nd->domain[0] ? "." : "", nd->op_type,
                          value_name(g, params[p - 1]), value_name(g, loss));
    }
    return WEFT_OK;
}

/* Replaces the Ifs whose conditions constant folding decides by their taken branches, as compilation
 * would (fold, inline, fold what the inlined branches decide, ...). Folding never reaches through a
 * parameter as long as none is a constant (graph inputs are not), so when one is, nothing is done and
 * the If is refused by check_rules. *changed: whether the graph changed. */
static weft_status inline_decided_ifs(weft_graph *g, const int *params, int n, bool *changed)
{
    *changed = false;
    for (int k = 0; k < n; k++)
        if (g->values[params[k]].flags & WEFT_VALUE_CONST) return WEFT_OK;
    for (int round = 0; round < 64; round++) {
        int c = 0;
        weft_status st = weft_pass_infer(g, true, NULL);
        if (!st) st = weft_pass_inline_if(g, &c);
        if (st) return weft_error_wrap(st, "autodiff: inlining If nodes with constant conditions");
        if (!c) break;
        *changed = true;
    }
    if (*changed) {
        weft_status st = weft_pass_infer(g, true, NULL);
        if (!st) st = weft_ir_toposort(g);
        if (st) return weft_error_wrap(st, "autodiff: inlining If nodes with constant conditions");
    }
    return WEFT_OK;
}

/* Runs node i's rule. */
static weft_status differentiate(ad *a, int i, const char *active)
{
    weft_graph *g = a->rw.g;
    const weft_node *nd = &g->nodes[i];
    int ni = nd->n_inputs, no = nd->n_outputs;
    bool any = false;
    for (int o = 0; o < no; o++) any |= nd->outputs[o] >= 0 && nd->outputs[o] < a->n0 && a->grad[nd->outputs[o]] >= 0;
    if (!any) return WEFT_OK; /* on the path, but every output's gradient is zero */
    /* copies: the rule adds nodes and values, which moves g->nodes and g->values */
    size_t n = (size_t)(ni + no) + 1;
    int *ints = malloc(n * 3 * sizeof *ints);
    weft_dtype *dts = malloc(n * sizeof *dts);
    weft_shape *shs = malloc(n * sizeof *shs);
    const void **data = malloc(n * sizeof *data);
    bool *want = malloc(n * sizeof *want);
    weft_status st = WEFT_OK;
    if (!ints || !dts || !shs || !data || !want) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    int *in = ints, *out = ints + n, *dout = ints + 2 * n;
    weft_dtype dtype = WEFT_UNDEFINED;
    for (int k = 0; k < ni; k++) {
        int v = nd->inputs[k];
        in[k] = v;
        dts[k] = v >= 0 ? g->values[v].dtype : WEFT_UNDEFINED;
        shs[k] = v >= 0 ? g->values[v].shape : (weft_shape){0};
        data[k] = v >= 0 && (g->values[v].flags & WEFT_VALUE_CONST) ? g->values[v].data : NULL;
        want[k] = v >= 0 && active[v];
        if (want[k] && dtype == WEFT_UNDEFINED) dtype = dts[k];
    }
    for (int o = 0; o < no; o++) {
        int v = nd->outputs[o];
        out[o] = v;
        dts[ni + o] = v >= 0 ? g->values[v].dtype : WEFT_UNDEFINED;
        shs[ni + o] = v >= 0 ? g->values[v].shape : (weft_shape){0};
        dout[o] = v >= 0 && v < a->n0 ? a->grad[v] : -1;
        if (dout[o] >= 0 && dtype == WEFT_UNDEFINED) dtype = dts[ni + o];
    }
    weft_node_info info = weft_node_view(nd);
    weft_grad_ctx c = {&info, ni, in, dts, shs, data, no, out, dts + ni, shs + ni, dout, want, dtype, WEFT_OK,
                       &ad_ops, a};
    a->base = nd->name;
    a->cur_in = in;
    st = nd->def->grad(&c);
    if (!st) st = c.st;
    if (st) st = weft_error_wrap(st, "autodiff");
done:
    free(ints);
    free(dts);
    free(shs);
    free(data);
    free(want);
    return st;
}

/* Zeros in p's shape, for a parameter the loss does not depend on. */
static int zeros_for(ad *a, int p)
{
    weft_grad_ctx c = {0};
    weft_node_info info = {value_name(a->rw.g, p), "Zeros", "", 0, 0, NULL};
    c.node = &info;
    c.dtype = a->rw.g->values[p].dtype;
    c.ops = &ad_ops;
    c.user = a;
    weft_shape s = a->rw.g->values[p].shape;
    a->base = value_name(a->rw.g, p);
    int z = weft_grad_zeros_like(&c, p, &s);
    return c.st ? -1 : z;
}

weft_status weft_autodiff(weft_graph *g, int loss, const int *params, int n, int *grads)
{
    weft_status st = check_args(g, loss, params, n);
    if (st || (st = weft_ir_toposort(g))) return st;
    int *from = calloc((size_t)g->n_values + 1, sizeof *from);
    char *active = calloc((size_t)g->n_values + 1, 1);
    ad a = {0};
    int n_out0 = g->n_outputs;
    bool opened = false;
    if (!from || !active) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    if ((st = find_path(g, loss, params, n, from, active))) goto done;
    bool has_if = false;
    for (int i = 0; i < g->n_nodes && !has_if; i++) has_if = is_if(&g->nodes[i]) && on_path(&g->nodes[i], active);
    if (has_if) {
        bool changed;
        if ((st = inline_decided_ifs(g, params, n, &changed))) goto done;
        if (changed) { /* the inlined branches added values: size the marks again */
            free(from);
            free(active);
            from = calloc((size_t)g->n_values + 1, sizeof *from);
            active = calloc((size_t)g->n_values + 1, 1);
            if (!from || !active) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
            if ((st = find_path(g, loss, params, n, from, active))) goto done;
        }
    }
    if ((st = check_rules(g, loss, params, from, active))) goto done;

    /* the outputs first, so that the rewriter counts them as pinned */
    int *outs = realloc(g->outputs, (size_t)(g->n_outputs + n) * sizeof *outs);
    if (!outs) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    g->outputs = outs;
    for (int k = 0; k < n; k++) {
        char name[512];
        snprintf(name, sizeof name, "%.480s__grad", value_name(g, params[k]));
        if (weft_graph_find_value(g, name) >= 0) {
            st = weft_error(WEFT_ERR_INVALID_ARGUMENT, "autodiff: the graph already has a value named '%s'", name);
            goto done;
        }
        int v = weft_graph_add_value(g, name);
        if (v < 0) { st = failed(); goto done; }
        g->values[v].flags |= WEFT_VALUE_OUTPUT;
        g->outputs[g->n_outputs++] = v;
        grads[k] = v;
    }
    a.n0 = g->n_values;
    if (!(a.grad = malloc((size_t)a.n0 * sizeof *a.grad))) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    for (int v = 0; v < a.n0; v++) a.grad[v] = -1;
    if ((st = weft_rw_open(&a.rw, g))) goto done;
    opened = true;

    /* d loss / d loss = 1 */
    {
        const weft_value *l = &g->values[loss];
        weft_shape s = l->shape;
        double one64 = 1.0;
        float one32 = 1.0f;
        a.base = value_name(g, loss);
        int seed = l->dtype == WEFT_FLOAT64 ? ad_constant(&a, l->dtype, &s, &one64, sizeof one64)
                   : l->dtype == WEFT_FLOAT32 ? ad_constant(&a, l->dtype, &s, &one32, sizeof one32) : -2;
        if (seed == -2) { st = weft_error(WEFT_ERR_UNSUPPORTED, "autodiff: a loss in %s", weft_dtype_name(l->dtype)); goto done; }
        if (seed < 0) { st = failed(); goto done; }
        a.grad[loss] = seed;
    }
    int n_nodes = g->n_nodes; /* the rules append after these */
    for (int i = n_nodes - 1; i >= 0 && !st; i--)
        if (on_path(&g->nodes[i], active)) st = differentiate(&a, i, active);
    for (int k = 0; k < n && !st; k++) {
        int gv = a.grad[params[k]];
        if (gv < 0 && (gv = zeros_for(&a, params[k])) < 0) { st = failed(); break; }
        char name[256];
        snprintf(name, sizeof name, "%.240s/grad", value_name(g, params[k]));
        if (weft_rw_node(&a.rw, "Identity", "", WEFT_GRAD_OPSET, name, &gv, 1, &grads[k], 1) < 0) st = failed();
    }
done:
    if (opened) {
        if (st) { /* the outputs go again; the rewriter's clean-up drops what the rules emitted */
            for (int k = n_out0; k < g->n_outputs; k++) g->values[g->outputs[k]].flags &= ~(unsigned)WEFT_VALUE_OUTPUT;
            g->n_outputs = n_out0;
            for (int v = 0; v < a.rw.cap && v < g->n_values; v++) a.rw.pinned[v] = 0;
            for (int k = 0; k < g->n_outputs; k++) a.rw.pinned[g->outputs[k]] = 1;
            weft_rw_close(&a.rw);
        } else {
            st = weft_rw_close(&a.rw);
        }
    } else if (st) {
        for (int k = n_out0; k < g->n_outputs; k++) g->values[g->outputs[k]].flags &= ~(unsigned)WEFT_VALUE_OUTPUT;
        g->n_outputs = n_out0;
    }
    free(a.grad);
    free(from);
    free(active);
    return st;
}
