/*
 * compiler/pass_message_passing.c — recognise the scatter chains that PyTorch Geometric exports and
 * lower them to `ai.weft.SegmentReduce`, the operation the `ai.weft` export form names directly.
 *
 * PyG's TorchScript export of `scatter(src, index, dim=0, reduce=r)` is
 *
 *     I   = Expand(Reshape(index, [-1, 1]), Shape(src))        (or Unsqueeze(index, 1))
 *     out = ScatterElements(base, I, src, axis=0, reduction=r)  r in add / mul / max / min
 *
 * The widened index I is E x F copies of the 1-D edge index (E x H x F for multi-head messages, with
 * Reshape(index, [-1, 1, 1])); SegmentReduce reads the 1-D index once per row instead. For 1-D data (the degree count of a mean) the index is used as it is. The rewrite keeps
 * ScatterElements' exact semantics: the base tensor is SegmentReduce's `init`, negative indices wrap.
 * What the chain leaves unused (Expand, Reshape, Shape) is removed by dead-code elimination.
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static const weft_node *producer(const weft_graph *g, int v)
{
    return v >= 0 && g->values[v].producer >= 0 ? &g->nodes[g->values[v].producer] : NULL;
}

static bool is_op(const weft_node *n, const char *op) { return n && !n->domain[0] && strcmp(n->op_type, op) == 0; }

/* True when value v is a constant int tensor holding exactly `want` (n entries). */
static bool const_ints(const weft_graph *g, int v, const int64_t *want, int n)
{
    if (v < 0) return false;
    const weft_value *val = &g->values[v];
    if (!(val->flags & WEFT_VALUE_CONST) || (val->dtype != WEFT_INT64 && val->dtype != WEFT_INT32)) return false;
    if ((int64_t)val->nbytes != n * (int64_t)weft_dtype_size(val->dtype)) return false;
    for (int i = 0; i < n; i++)
        if (weft_load_i64(val->dtype, val->data, i) != want[i]) return false;
    return true;
}

static bool same_shape(const weft_shape *a, const weft_shape *b)
{
    if (a->rank < 0 || a->rank != b->rank) return false;
    for (int d = 0; d < a->rank; d++)
        if (!weft_dim_eq(a->d[d], b->d[d])) return false;
    return true;
}

/* If value v is a 1-D index widened to [E, 1, ..., 1] of rank r (Reshape(idx, [-1, 1, ...]) or, for
 * r = 2, Unsqueeze(idx, 1 / -1)), returns idx; else -1. */
static int unwiden(const weft_graph *g, int v, int r)
{
    const weft_node *p = producer(g, v);
    if (!p || p->n_inputs < 1 || r < 2 || r > WEFT_MAX_RANK) return -1;
    int idx = p->inputs[0];
    if (idx < 0 || g->values[idx].shape.rank != 1) return -1;
    if (is_op(p, "Reshape") && p->n_inputs >= 2) {
        /* [-1, 1, ...], or [E, 1, ...] with E the index's own (known) length */
        int64_t want[WEFT_MAX_RANK];
        for (int d = 1; d < r; d++) want[d] = 1;
        want[0] = -1;
        if (const_ints(g, p->inputs[1], want, r)) return idx;
        want[0] = g->values[idx].shape.d[0].v;
        if (weft_dim_known(g->values[idx].shape.d[0]) && const_ints(g, p->inputs[1], want, r)) return idx;
        return -1;
    }
    static const int64_t one[1] = {1}, neg[1] = {-1};
    if (is_op(p, "Unsqueeze") && r == 2) {
        weft_node_info info = weft_node_view(p);
        const int64_t *axes = NULL;
        int na = weft_attr_ints(&info, "axes", &axes);
        if (na == 1 && (axes[0] == 1 || axes[0] == -1)) return idx;
        if (na < 0 && p->n_inputs >= 2 && (const_ints(g, p->inputs[1], one, 1) || const_ints(g, p->inputs[1], neg, 1))) return idx;
    }
    return -1;
}

/* TorchScript exports pass the updates through `Slice(x, 0, Shape(index))`: with the index widened to
 * x's own shape that slice is x itself. Returns x for such a slice of v, else v. */
static int through_noop_slice(const weft_graph *g, int v, int index)
{
    const weft_node *sl = producer(g, v);
    if (!is_op(sl, "Slice") || sl->n_inputs < 3 || sl->n_inputs > 5) return v;
    if (sl->n_inputs >= 4 && sl->inputs[3] >= 0) return v; /* explicit axes: not the plain form */
    const weft_value *st = sl->inputs[1] >= 0 ? &g->values[sl->inputs[1]] : NULL;
    if (!st || !(st->flags & WEFT_VALUE_CONST)) return v;
    for (int64_t i = 0; i < (int64_t)(st->nbytes / (weft_dtype_size(st->dtype) ? weft_dtype_size(st->dtype) : 1)); i++)
        if (weft_load_i64(st->dtype, st->data, i) != 0) return v;
    const weft_node *shp = producer(g, sl->inputs[2]);
    if (!is_op(shp, "Shape") || shp->inputs[0] != index || shp->n_attrs) return v;
    if (sl->n_inputs == 5 && sl->inputs[4] >= 0) {
        const weft_value *sp = &g->values[sl->inputs[4]];
        if (!(sp->flags & WEFT_VALUE_CONST)) return v;
        for (int64_t i = 0; i < (int64_t)(sp->nbytes / (weft_dtype_size(sp->dtype) ? weft_dtype_size(sp->dtype) : 1)); i++)
            if (weft_load_i64(sp->dtype, sp->data, i) != 1) return v;
    }
    return sl->inputs[0];
}

/* If value v (the ScatterElements index) is idx widened to src's shape, returns the 1-D idx; else -1. */
static int edge_index_of(const weft_graph *g, int v, int src)
{
    const weft_value *iv = &g->values[v], *sv = &g->values[src];
    if (iv->shape.rank == 1) return sv->shape.rank == 1 ? v : -1;
    const weft_node *e = producer(g, v);
    if (!is_op(e, "Expand") || e->n_inputs != 2) return -1;
    /* the Expand target must make the index exactly src's shape */
    const weft_node *sh = producer(g, e->inputs[1]);
    bool target_ok = (is_op(sh, "Shape") && sh->inputs[0] == src && sh->n_attrs == 0) || same_shape(&iv->shape, &sv->shape);
    if (!target_ok || sv->shape.rank < 2) return -1;
    return unwiden(g, e->inputs[0], sv->shape.rank);
}

static weft_status rewrite(weft_graph *g, int i, int idx, int src, const char *reduce)
{
    weft_node *n = &g->nodes[i];
    int data = n->inputs[0];
    int *in = realloc(n->inputs, 4 * sizeof(int));
    if (!in) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    in[0] = src;
    in[1] = idx;
    in[2] = -1;
    in[3] = data;
    n->inputs = in;
    n->n_inputs = 4;
    weft_attr a = {0};
    a.name = strdup("reduce");
    a.s = strdup(reduce);
    a.type = WEFT_ATTR_STRING;
    if (!a.name || !a.s) { weft_attr_clear(&a); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
    a.s_len = strlen(reduce);
    for (int k = 0; k < n->n_attrs; k++) weft_attr_clear(&n->attrs[k]);
    n->n_attrs = 0;
    weft_status st = weft_node_add_attr(n, &a);
    if (st) return st;
    char *op = strdup("SegmentReduce"), *dom = strdup("ai.weft");
    if (!op || !dom) { free(op); free(dom); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
    free(n->op_type);
    free(n->domain);
    n->op_type = op;
    n->domain = dom;
    n->opset = 1;
    n->def = weft_op_find("ai.weft", "SegmentReduce", 1);
    return n->def ? WEFT_OK : weft_error(WEFT_ERR_INTERNAL, "ai.weft.SegmentReduce is not registered");
}

static weft_status lower_graph(weft_graph *g, int *changed)
{
    for (int i = 0; i < g->n_nodes; i++) {
        weft_node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attrs; a++) { /* subgraphs first */
            weft_status st;
            if (n->attrs[a].g && (st = lower_graph(n->attrs[a].g, changed))) return st;
            for (int k = 0; n->attrs[a].gs && k < n->attrs[a].n; k++)
                if ((st = lower_graph(n->attrs[a].gs[k], changed))) return st;
        }
        if (!(is_op(n, "ScatterElements") || is_op(n, "Scatter")) || n->n_inputs != 3 || n->n_outputs != 1) continue;
        weft_node_info info = weft_node_view(n);
        if (weft_attr_int(&info, "axis", 0) != 0) continue;
        const char *r = weft_attr_string(&info, "reduction", "none");
        const char *reduce = !strcmp(r, "add") ? "sum" : !strcmp(r, "mul") ? "mul" : !strcmp(r, "max") ? "max" : !strcmp(r, "min") ? "min" : NULL;
        if (!reduce) continue; /* 'none' lets the last duplicate win: not a reduction */
        int data = n->inputs[0], index = n->inputs[1], src = n->inputs[2];
        if (data < 0 || index < 0 || src < 0) continue;
        /* a no-op slice is only no-op if the index really is src's shape: edge_index_of checks that
         * against the unsliced source */
        int unsliced = through_noop_slice(g, src, index);
        if (unsliced != src && g->values[index].shape.rank >= 2) src = unsliced;
        const weft_value *dv = &g->values[data], *sv = &g->values[src];
        if (dv->dtype != sv->dtype || dv->shape.rank != sv->shape.rank || dv->shape.rank < 1) continue;
        /* (2-D data may be wider than src: SegmentReduce's init form allows that, as ScatterElements does) */
        int idx = edge_index_of(g, index, src);
        if (idx < 0) continue;
        weft_dtype it = g->values[idx].dtype;
        if (it != WEFT_INT64 && it != WEFT_INT32) continue;
        weft_status st = rewrite(g, i, idx, src, reduce);
        if (st) return st;
        (*changed)++;
    }
    return WEFT_OK;
}

weft_status weft_pass_message_passing(weft_graph *g, int *changed)
{
    int c = 0;
    weft_status st = lower_graph(g, &c);
    if (changed) *changed = c;
    return st;
}
