/*
 * compiler/pass_transpose.c — Transpose pairs.
 *
 * Exports permute and permute back (a head split undone, NCHW -> NHWC -> NCHW around a layer that
 * wanted the other layout): Transpose(Transpose(x, p), q) reads x once as Transpose(x, p∘q), whose
 * perm is p[q[i]], and a Transpose whose perm is the identity is a copy its readers skip. The first
 * Transpose stays while something else reads it (dead-code elimination removes it otherwise). A value
 * that is a graph output keeps its producer (an identity Transpose then copies). Only Transposes are
 * rewritten, so the pass also runs before autodiff.
 */
#include <string.h>

#include "rewrite.h"

/* The perm of Transpose node n over `rank` axes (reversed when the attribute is absent); false when it
 * is not a permutation of that rank. */
static bool perm_of(const weft_node *n, int rank, int64_t *perm)
{
    weft_node_info info = weft_node_view(n);
    const int64_t *p;
    int np = weft_attr_ints(&info, "perm", &p);
    if (np >= 0 && np != rank) return false;
    bool seen[WEFT_MAX_RANK] = {false};
    for (int i = 0; i < rank; i++) {
        int64_t v = np < 0 ? rank - 1 - i : p[i];
        if (v < 0 || v >= rank || seen[v]) return false;
        seen[v] = true;
        perm[i] = v;
    }
    return true;
}

static weft_status fold_pair(weft_rw *r, int i, int *changed)
{
    weft_graph *g = r->g;
    const weft_node *t2 = &g->nodes[i];
    if (t2->n_inputs != 1 || t2->n_outputs != 1 || t2->inputs[0] < 0 || t2->outputs[0] < 0) return WEFT_OK;
    int v = t2->inputs[0], y = t2->outputs[0];
    int rank = g->values[v].shape.rank;
    if (rank < 1 || rank > WEFT_MAX_RANK) return WEFT_OK;
    int64_t q[WEFT_MAX_RANK], p[WEFT_MAX_RANK], c[WEFT_MAX_RANK];
    if (!perm_of(t2, rank, q)) return WEFT_OK;
    const weft_node *t1 = weft_rw_producer_is(r, v, "Transpose");
    int x = v;
    if (t1 && t1->n_inputs == 1 && t1->inputs[0] >= 0 && perm_of(t1, rank, p)) {
        x = t1->inputs[0];
        for (int k = 0; k < rank; k++) c[k] = p[q[k]];
    } else {
        memcpy(c, q, sizeof c);
    }
    bool identity = true;
    for (int k = 0; k < rank; k++) identity &= c[k] == k;
    if (identity && !r->pinned[y]) {
        /* a copy: its readers read x */
        weft_rw_redirect(r, y, x);
        weft_rw_retire(r, i);
        (*changed)++;
        return WEFT_OK;
    }
    if (x == v) return WEFT_OK; /* not a pair, not an identity its readers can skip */
    weft_status st = weft_rw_set_input(r, i, 0, x);
    if (!st) st = weft_rw_set_ints(r, i, "perm", c, rank);
    if (!st) (*changed)++;
    return st;
}

static weft_status transpose_graph(weft_rw *r, int *changed)
{
    return weft_rw_each_op(r, "", "Transpose", fold_pair, changed);
}

weft_status weft_pass_transpose(weft_graph *g, int *changed)
{
    int c = 0;
    weft_status st = weft_rw_each_graph(g, transpose_graph, &c);
    if (changed) *changed = c;
    return st;
}
