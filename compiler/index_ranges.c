/*
 * compiler/index_ranges.c — the dimension each row of an integer graph input indexes (index_ranges.h).
 *
 * The analysis is a forward dataflow over the graph's values with three sets of "rows" (a row is one
 * row of one integer graph input) per value:
 *   - rows:  the value's elements are values taken from these rows (a row itself, a reshaped or filtered
 *            copy of it, a concatenation of rows);
 *   - whole: the value is `[R, ...]` and its row r holds values of row r of these inputs (the input itself,
 *            or one filtered / extended along its edge axis: GCN's self-loop Concat, an edge mask Gather);
 *   - wholeT: the same, transposed: `[E, R]`, column r from row r (torch.export writes edge filters as
 *            Transpose -> GatherND -> Transpose);
 *   - seg:   the value is a CSR `offsets` whose segments are the values of these rows.
 * Sets only grow, so iterating over the nodes until nothing changes terminates. Then every node that
 * uses a value as an index names, for each row in its set, the dimension it indexes; the most frequent
 * dimension per row wins.
 */
#include <stdlib.h>
#include <string.h>

#include "index_ranges.h"

#define MAX_ROWS_PER_INPUT 64
#define MAX_CANDIDATES 8

const char *weft_range_source_name(weft_range_source s)
{
    switch (s) {
    case WEFT_RANGE_GRAPH: return "graph";
    case WEFT_RANGE_NAME: return "name";
    case WEFT_RANGE_SINGLE: return "single input dimension";
    default: return "unknown";
    }
}

typedef struct cand {
    weft_dim d;
    int count;
} cand;

typedef struct ctx {
    const weft_graph *g;
    int n_pairs, words;
    int *pair_input, *pair_row; /* per pair: graph input position, row */
    uint64_t *rows, *whole, *wholeT, *seg; /* per value: `words` words each */
    cand (*cands)[MAX_CANDIDATES];
    int *n_cands;
} ctx;

static uint64_t *bits(const ctx *c, uint64_t *set, int v) { return set + (size_t)v * (size_t)c->words; }

static bool any(const ctx *c, uint64_t *set, int v)
{
    if (v < 0) return false;
    const uint64_t *b = bits(c, set, v);
    for (int w = 0; w < c->words; w++)
        if (b[w]) return true;
    return false;
}

/* dst[v] |= src[u]; true when something was added. */
static bool merge(const ctx *c, uint64_t *dst, int v, const uint64_t *src_bits)
{
    if (v < 0) return false;
    uint64_t *d = bits(c, dst, v);
    bool changed = false;
    for (int w = 0; w < c->words; w++) {
        uint64_t n = d[w] | src_bits[w];
        if (n != d[w]) changed = true;
        d[w] = n;
    }
    return changed;
}

static bool merge_from(const ctx *c, uint64_t *dst, int v, uint64_t *src, int u)
{
    if (u < 0 || v < 0) return false;
    return merge(c, dst, v, bits(c, src, u));
}

/* dst[v] |= the pairs of kind[u] (whole or wholeT) whose row is k. */
static bool merge_row(const ctx *c, uint64_t *dst, int v, uint64_t *kind, int u, int64_t k)
{
    if (u < 0 || v < 0) return false;
    const uint64_t *w = bits(c, kind, u);
    uint64_t *d = bits(c, dst, v);
    bool changed = false;
    for (int p = 0; p < c->n_pairs; p++)
        if ((w[p / 64] >> (p % 64) & 1) && c->pair_row[p] == k && !(d[p / 64] >> (p % 64) & 1)) {
            d[p / 64] |= (uint64_t)1 << (p % 64);
            changed = true;
        }
    return changed;
}

static const weft_value *val(const ctx *c, int v) { return v >= 0 && v < c->g->n_values ? &c->g->values[v] : NULL; }

/* The integer constants of value v (at most `max`); -1 when v is not an integer constant. */
static int const_ints(const ctx *c, int v, int64_t *out, int max)
{
    const weft_value *x = val(c, v);
    if (!x || !(x->flags & WEFT_VALUE_CONST) || !x->data || !weft_dtype_is_integer(x->dtype)) return -1;
    size_t es = weft_dtype_size(x->dtype);
    int64_t n = es ? (int64_t)(x->nbytes / es) : 0;
    if (n > max) return -1;
    for (int64_t i = 0; i < n; i++) out[i] = weft_load_i64(x->dtype, x->data, i);
    return (int)n;
}

static int rank_of(const ctx *c, int v)
{
    const weft_value *x = val(c, v);
    return x && (x->flags & WEFT_VALUE_TYPED) ? x->shape.rank : -1;
}

/* Is d a number, or a symbol some graph input's shape carries (so binding inputs decides it)? */
static bool bindable(const ctx *c, weft_dim d)
{
    if (d.sym < 0) return d.v >= 0;
    for (int i = 0; i < c->g->n_inputs; i++) {
        const weft_value *x = val(c, c->g->inputs[i]);
        if (!x || !(x->flags & WEFT_VALUE_TYPED)) continue;
        for (int k = 0; k < x->shape.rank; k++)
            if (x->shape.d[k].sym == d.sym) return true;
    }
    return false;
}

/* Dimension `axis` (negative counts from the end) of value v, if its shape is known that far. */
static bool dim_of(const ctx *c, int v, int64_t axis, weft_dim *out)
{
    int r = rank_of(c, v);
    if (r <= 0) return false;
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r) return false;
    *out = val(c, v)->shape.d[axis];
    return true;
}

/* A scalar (or one-element) integer value that is a dimension: a constant, or Shape(t)[k] through the
 * Gather / Slice / Squeeze / Unsqueeze / Reshape / Cast / Concat chains exporters write. */
static bool trace_dim(const ctx *c, int v, int depth, weft_dim *out)
{
    const weft_value *x = val(c, v);
    if (!x || depth > 24) return false;
    int64_t k[2];
    if (const_ints(c, v, k, 1) == 1) {
        *out = weft_dim_num(k[0]);
        return k[0] >= 0;
    }
    if (x->producer < 0) return false;
    const weft_node *n = &c->g->nodes[x->producer];
    if (n->domain[0]) return false;
    const char *op = n->op_type;
    if (!strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze") || !strcmp(op, "Reshape") || !strcmp(op, "Cast") ||
        !strcmp(op, "Identity") || (!strcmp(op, "Concat") && n->n_inputs == 1))
        return n->n_inputs > 0 && trace_dim(c, n->inputs[0], depth + 1, out);
    bool is_gather = !strcmp(op, "Gather"), is_slice = !strcmp(op, "Slice");
    if ((!is_gather && !is_slice) || n->n_inputs < 2) return false;
    const weft_value *sv = val(c, n->inputs[0]);
    if (!sv || sv->producer < 0) return false;
    const weft_node *sh = &c->g->nodes[sv->producer];
    if (sh->domain[0] || strcmp(sh->op_type, "Shape") || sh->n_inputs < 1) return false;
    /* Shape(t) with its start / end attributes: element i is dimension start + i of t. */
    weft_node_info si = weft_node_view(sh);
    int r = rank_of(c, sh->inputs[0]);
    if (r < 0) return false;
    int64_t start = weft_attr_int(&si, "start", 0), end = weft_attr_int(&si, "end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < start ? start : end > r ? r : end;
    int64_t len = end - start, idx = 0;
    if (is_gather) {
        if (const_ints(c, n->inputs[1], k, 1) != 1) return false;
        idx = k[0];
    } else {
        int64_t e[2], steps[2] = {1, 1};
        if (n->n_inputs < 3 || const_ints(c, n->inputs[1], k, 1) != 1 || const_ints(c, n->inputs[2], e, 1) != 1)
            return false;
        if (n->n_inputs > 4 && n->inputs[4] >= 0 && const_ints(c, n->inputs[4], steps, 1) != 1) return false;
        idx = k[0] < 0 ? k[0] + len : k[0];
        int64_t stop = e[0] < 0 ? e[0] + len : e[0] > len ? len : e[0];
        if (steps[0] != 1 || stop != idx + 1) return false; /* exactly one element */
    }
    if (idx < 0) idx += len;
    if (idx < 0 || idx >= len) return false;
    return dim_of(c, sh->inputs[0], start + idx, out);
}

/* A use of the rows in set[u] as an index into dimension d. */
static void use(ctx *c, uint64_t *set, int u, weft_dim d)
{
    if (u < 0 || !bindable(c, d)) return;
    const uint64_t *b = bits(c, set, u);
    for (int p = 0; p < c->n_pairs; p++) {
        if (!(b[p / 64] >> (p % 64) & 1)) continue;
        int k;
        for (k = 0; k < c->n_cands[p]; k++)
            if (weft_dim_eq(c->cands[p][k].d, d)) break;
        if (k == c->n_cands[p]) {
            if (k == MAX_CANDIDATES) continue;
            c->cands[p][k].d = d;
            c->cands[p][k].count = 0;
            c->n_cands[p]++;
        }
        c->cands[p][k].count++;
    }
}

/* A use as an index into dimension `axis` of value v, else into the dimension the scalar `alt` holds. */
static void use_dim(ctx *c, uint64_t *set, int u, int v, int64_t axis, int alt)
{
    weft_dim d;
    if (dim_of(c, v, axis, &d) && bindable(c, d)) use(c, set, u, d);
    else if (alt >= 0 && trace_dim(c, alt, 0, &d)) use(c, set, u, d);
}

static bool is_op(const weft_node *n, const char *domain, const char *op)
{
    return !strcmp(n->domain, domain) && !strcmp(n->op_type, op);
}

static int in(const weft_node *n, int i) { return i < n->n_inputs ? n->inputs[i] : -1; }
static int outv(const weft_node *n, int i) { return i < n->n_outputs ? n->outputs[i] : -1; }

/* The number of rows of value x along `axis` (a number), else -1. */
static int64_t extent(const ctx *c, int x, int64_t axis)
{
    weft_dim d;
    return dim_of(c, x, axis, &d) && d.sym < 0 ? d.v : -1;
}

/* Gather / Slice / Split / Concat / Transpose / GatherND on values whose rows (kind whole: along axis 0;
 * wholeT: along axis 1) are tracked: selecting one row along the row axis gives that row's values;
 * working along the other (edge) axis keeps the kind; a transpose swaps the kinds. Also the element
 * sets (rows) of 1-D values flow through. */
static bool whole_op(ctx *c, const weft_node *n)
{
    weft_node_info info = weft_node_view(n);
    const char *op = n->op_type;
    int x = in(n, 0), y = outv(n, 0);
    bool changed = false;
    if (!strcmp(op, "Concat")) {
        int r = rank_of(c, y);
        int64_t axis = weft_attr_int(&info, "axis", 0);
        if (r > 0 && axis < 0) axis += r;
        for (int k = 0; k < n->n_inputs; k++) {
            changed |= merge_from(c, c->rows, y, c->rows, in(n, k));
            if (axis != 0) changed |= merge_from(c, c->whole, y, c->whole, in(n, k));
            if (axis != 1) changed |= merge_from(c, c->wholeT, y, c->wholeT, in(n, k));
        }
        return changed;
    }
    if (strcmp(op, "Split")) changed |= merge_from(c, c->rows, y, c->rows, x);
    uint64_t *kinds[2] = {c->whole, c->wholeT};
    int r = rank_of(c, x);
    for (int ra = 0; ra < 2; ra++) { /* ra: the row axis of this kind */
        uint64_t *kind = kinds[ra];
        if (!any(c, kind, x) || r != 2) continue;
        if (!strcmp(op, "Transpose")) {
            const int64_t *perm;
            int np = weft_attr_ints(&info, "perm", &perm);
            if (np < 0 || (np == 2 && perm[0] == 1 && perm[1] == 0)) changed |= merge_from(c, kinds[1 - ra], y, kind, x);
        } else if (!strcmp(op, "GatherND")) {
            /* GatherND(data [E, R], idx [..., 1]) picks whole rows along axis 0: the edges */
            int ri = rank_of(c, in(n, 1));
            if (ra == 1 && ri > 0 && extent(c, in(n, 1), ri - 1) == 1 && weft_attr_int(&info, "batch_dims", 0) == 0)
                changed |= merge_from(c, kind, y, kind, x);
        } else if (!strcmp(op, "Gather")) {
            int64_t axis = weft_attr_int(&info, "axis", 0), k[2];
            if (axis < 0) axis += r;
            if (axis == ra && const_ints(c, in(n, 1), k, 1) == 1 && rank_of(c, in(n, 1)) <= 1) {
                int64_t rows = extent(c, x, ra);
                if (k[0] < 0 && rows > 0) k[0] += rows;
                changed |= merge_row(c, c->rows, y, kind, x, k[0]);
            } else if (axis != ra) {
                changed |= merge_from(c, kind, y, kind, x);
            }
        } else if (!strcmp(op, "Slice")) {
            int64_t starts[WEFT_MAX_RANK], axes[WEFT_MAX_RANK];
            int ns = const_ints(c, in(n, 1), starts, WEFT_MAX_RANK);
            int na = in(n, 3) >= 0 ? const_ints(c, in(n, 3), axes, WEFT_MAX_RANK) : ns;
            if (in(n, 3) < 0)
                for (int k = 0; k < ns; k++) axes[k] = k;
            if (ns <= 0 || na != ns) continue;
            int on_rows = -1;
            for (int k = 0; k < na; k++)
                if ((axes[k] < 0 ? axes[k] + r : axes[k]) == ra) on_rows = k;
            if (on_rows < 0) {
                changed |= merge_from(c, kind, y, kind, x);
            } else if (extent(c, y, ra) == 1) { /* one row, kept as [1, E] (or [E, 1]) */
                int64_t rows = extent(c, x, ra), s0 = starts[on_rows];
                if (s0 < 0 && rows > 0) s0 += rows;
                changed |= merge_row(c, c->rows, y, kind, x, s0);
            }
        } else if (!strcmp(op, "Split")) {
            int64_t axis = weft_attr_int(&info, "axis", 0), at = 0;
            if (axis < 0) axis += r;
            for (int o = 0; o < n->n_outputs; o++) {
                if (axis != ra) {
                    changed |= merge_from(c, kind, outv(n, o), kind, x);
                    continue;
                }
                int64_t len = extent(c, outv(n, o), ra);
                if (len < 0) break; /* offsets unknown past here */
                if (len == 1) changed |= merge_row(c, c->rows, outv(n, o), kind, x, at);
                at += len;
            }
        }
    }
    return changed;
}

/* One sweep of the dataflow; true when some set grew. */
static bool propagate(ctx *c)
{
    bool changed = false;
    const weft_graph *g = c->g;
    for (int i = 0; i < g->n_nodes; i++) {
        const weft_node *n = &g->nodes[i];
        int x = in(n, 0), y = outv(n, 0);
        if (!n->domain[0]) {
            const char *op = n->op_type;
            if (!strcmp(op, "Identity") || !strcmp(op, "Cast")) {
                changed |= merge_from(c, c->rows, y, c->rows, x);
                changed |= merge_from(c, c->whole, y, c->whole, x);
                changed |= merge_from(c, c->wholeT, y, c->wholeT, x);
            } else if (!strcmp(op, "Reshape") || !strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze") ||
                       !strcmp(op, "Flatten") || !strcmp(op, "Expand") || !strcmp(op, "Tile") ||
                       !strcmp(op, "Unique") || !strcmp(op, "GatherElements")) {
                changed |= merge_from(c, c->rows, y, c->rows, x);
            } else if (!strcmp(op, "Where")) {
                changed |= merge_from(c, c->rows, y, c->rows, in(n, 1));
                changed |= merge_from(c, c->rows, y, c->rows, in(n, 2));
            } else if (!strcmp(op, "Gather") || !strcmp(op, "Slice") || !strcmp(op, "Split") || !strcmp(op, "Concat") ||
                       !strcmp(op, "Transpose") || !strcmp(op, "GatherND")) {
                changed |= whole_op(c, n);
            }
        } else if (!strcmp(n->domain, "ai.weft")) {
            if (!strcmp(n->op_type, "CSR")) {
                changed |= merge_from(c, c->seg, outv(n, 0), c->rows, in(n, 0));
                changed |= merge_from(c, c->rows, outv(n, 2), c->rows, in(n, 2));
            } else if (!strcmp(n->op_type, "RowGather")) {
                changed |= merge_from(c, c->rows, y, c->rows, x);
            }
        }
    }
    return changed;
}

/* Every node that uses a tracked value as an index names the dimension it indexes. */
static void collect_uses(ctx *c)
{
    const weft_graph *g = c->g;
    for (int i = 0; i < g->n_nodes; i++) {
        const weft_node *n = &g->nodes[i];
        weft_node_info info = weft_node_view(n);
        int64_t axis = weft_attr_int(&info, "axis", 0);
        if (is_op(n, "", "Gather") || is_op(n, "", "GatherElements")) {
            use_dim(c, c->rows, in(n, 1), in(n, 0), axis, -1);
        } else if (is_op(n, "", "ScatterElements") || is_op(n, "", "Scatter")) {
            use_dim(c, c->rows, in(n, 1), in(n, 0), axis, -1);
        } else if (is_op(n, "", "GatherND") || is_op(n, "", "ScatterND")) {
            weft_dim last;
            int r = rank_of(c, in(n, 1));
            int64_t batch = weft_attr_int(&info, "batch_dims", 0);
            if (r > 0 && dim_of(c, in(n, 1), r - 1, &last) && last.sym < 0 && last.v == 1)
                use_dim(c, c->rows, in(n, 1), in(n, 0), batch, -1);
        } else if (is_op(n, "ai.weft", "SegmentReduce")) {
            int init = in(n, 3);
            use_dim(c, c->rows, in(n, 1), init >= 0 ? init : outv(n, 0), 0, init >= 0 ? -1 : in(n, 2));
        } else if (is_op(n, "ai.weft", "RowGather")) {
            use_dim(c, c->rows, in(n, 1), in(n, 0), 0, -1);
        } else if (is_op(n, "ai.weft", "EdgeSoftmax")) {
            use_dim(c, c->rows, in(n, 1), -1, 0, in(n, 2));
        } else if (is_op(n, "ai.weft", "CSR")) {
            use_dim(c, c->rows, in(n, 0), -1, 0, in(n, 1));
            use_dim(c, c->rows, in(n, 2), -1, 0, in(n, 3));
        } else if (is_op(n, "ai.weft", "CsrReduce")) {
            int init = in(n, 3);
            use_dim(c, c->seg, in(n, 1), init >= 0 ? init : outv(n, 0), 0, -1);
        } else if (is_op(n, "ai.weft", "CsrGatherReduce")) {
            use_dim(c, c->seg, in(n, 1), outv(n, 0), 0, -1);
            use_dim(c, c->rows, in(n, 2), in(n, 0), 0, -1);
        } else if (is_op(n, "ai.weft", "LinkScore")) {
            use_dim(c, c->rows, in(n, 2), in(n, 0), 0, -1);
            use_dim(c, c->rows, in(n, 3), in(n, 1), 0, -1);
        }
    }
}

static bool is_index_input(const weft_value *x)
{
    if (!x || !(x->flags & WEFT_VALUE_TYPED) || (x->dtype != WEFT_INT64 && x->dtype != WEFT_INT32)) return false;
    if (x->shape.rank == 1) return true;
    return x->shape.rank == 2 && x->shape.d[0].sym < 0 && x->shape.d[0].v >= 1 &&
           x->shape.d[0].v <= MAX_ROWS_PER_INPUT;
}

/* "x_<type>" for the node type `type` (of length len) of a conventional edge-type name, or -1. */
static int node_input(const weft_graph *g, const char *type, size_t len)
{
    for (int i = 0; i < g->n_inputs; i++) {
        const weft_value *x = &g->values[g->inputs[i]];
        if (x->name && !strncmp(x->name, "x_", 2) && strlen(x->name) == len + 2 && !strncmp(x->name + 2, type, len) &&
            (x->flags & WEFT_VALUE_TYPED) && x->shape.rank >= 1)
            return i;
    }
    return -1;
}

/* edge_index__<src>__<rel>__<dst> / pairs__<src>__<rel>__<dst>: row 0 indexes x_<src>, row 1 x_<dst>. */
static bool by_name(const weft_graph *g, const weft_value *x, int row, weft_dim *out)
{
    const char *name = x->name ? x->name : "";
    const char *rest = !strncmp(name, "edge_index__", 12) ? name + 12 : !strncmp(name, "pairs__", 7) ? name + 7 : NULL;
    if (!rest || x->shape.rank != 2 || x->shape.d[0].sym >= 0 || x->shape.d[0].v != 2 || row > 1) return false;
    const char *a = strstr(rest, "__");
    const char *b = a ? strstr(a + 2, "__") : NULL;
    if (!a || !b || a == rest || !b[2] || strstr(b + 2, "__")) return false;
    int k = row == 0 ? node_input(g, rest, (size_t)(a - rest)) : node_input(g, b + 2, strlen(b + 2));
    if (k < 0) return false;
    *out = g->values[g->inputs[k]].shape.d[0];
    return true;
}

/* The graph inputs' only node-count dimension: the first dimensions of the float inputs and the
 * symbols whose name says "node", less the edge counts (the last dimension of the index inputs). */
static bool single_node_dim(const weft_graph *g, const weft_symtab *syms, weft_dim *out)
{
    weft_dim found[64];
    int nf = 0;
    for (int i = 0; i < g->n_inputs; i++) {
        const weft_value *x = &g->values[g->inputs[i]];
        if (!(x->flags & WEFT_VALUE_TYPED)) continue;
        for (int k = 0; k < x->shape.rank; k++) {
            weft_dim d = x->shape.d[k];
            const char *sn = d.sym >= 0 && syms ? weft_sym_name(syms, d.sym) : NULL;
            bool node = (weft_dtype_is_float(x->dtype) && k == 0) || (sn && strstr(sn, "node"));
            if (!node) continue;
            bool edge = false; /* an edge count is never a node count */
            for (int j = 0; j < g->n_inputs && !edge; j++) {
                const weft_value *e = &g->values[g->inputs[j]];
                if (is_index_input(e) && weft_dim_eq(e->shape.d[e->shape.rank - 1], d)) edge = true;
            }
            if (edge) continue;
            bool seen = false;
            for (int f = 0; f < nf; f++)
                if (weft_dim_eq(found[f], d)) seen = true;
            if (!seen && nf < 64) found[nf++] = d;
        }
    }
    if (nf != 1) return false;
    *out = found[0];
    return true;
}

weft_status weft_index_ranges(const weft_graph *g, weft_index_row **rows_out, int *n_rows_out)
{
    if (!g || !rows_out || !n_rows_out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_index_ranges: NULL argument");
    *rows_out = NULL;
    *n_rows_out = 0;
    ctx c = {g};
    for (int i = 0; i < g->n_inputs; i++) {
        const weft_value *x = &g->values[g->inputs[i]];
        if (is_index_input(x)) c.n_pairs += x->shape.rank == 1 ? 1 : (int)x->shape.d[0].v;
    }
    weft_index_row *rows = calloc((size_t)(c.n_pairs ? c.n_pairs : 1), sizeof *rows);
    c.words = (c.n_pairs + 63) / 64;
    size_t nb = (size_t)(g->n_values ? g->n_values : 1) * (size_t)(c.words ? c.words : 1);
    c.pair_input = calloc((size_t)c.n_pairs + 1, sizeof *c.pair_input);
    c.pair_row = calloc((size_t)c.n_pairs + 1, sizeof *c.pair_row);
    c.rows = calloc(nb, sizeof *c.rows);
    c.whole = calloc(nb, sizeof *c.whole);
    c.wholeT = calloc(nb, sizeof *c.wholeT);
    c.seg = calloc(nb, sizeof *c.seg);
    c.cands = calloc((size_t)c.n_pairs + 1, sizeof *c.cands);
    c.n_cands = calloc((size_t)c.n_pairs + 1, sizeof *c.n_cands);
    weft_status st = WEFT_OK;
    if (!rows || !c.pair_input || !c.pair_row || !c.rows || !c.whole || !c.wholeT || !c.seg || !c.cands || !c.n_cands) {
        st = weft_error(WEFT_ERR_NOMEM, "out of memory");
        goto done;
    }
    int p = 0;
    for (int i = 0; i < g->n_inputs; i++) {
        int v = g->inputs[i];
        const weft_value *x = &g->values[v];
        if (!is_index_input(x)) continue;
        int r = x->shape.rank == 1 ? 1 : (int)x->shape.d[0].v;
        for (int k = 0; k < r; k++, p++) {
            c.pair_input[p] = i;
            c.pair_row[p] = k;
            rows[p].input = i;
            rows[p].row = k;
            rows[p].range = weft_dim_num(-1);
            uint64_t *set = bits(&c, x->shape.rank == 1 ? c.rows : c.whole, v);
            set[p / 64] |= (uint64_t)1 << (p % 64);
        }
    }
    if (c.n_pairs) {
        for (int it = 0; it <= g->n_nodes && propagate(&c); it++) {
        }
        collect_uses(&c);
    }
    weft_dim single;
    bool have_single = single_node_dim(g, g->syms, &single);
    for (p = 0; p < c.n_pairs; p++) {
        weft_index_row *r = &rows[p];
        int best = -1, total = 0;
        for (int k = 0; k < c.n_cands[p]; k++) {
            total += c.cands[p][k].count;
            if (best < 0 || c.cands[p][k].count > c.cands[p][best].count) best = k;
        }
        const weft_value *x = &g->values[g->inputs[r->input]];
        if (best >= 0) {
            r->range = c.cands[p][best].d;
            r->source = WEFT_RANGE_GRAPH;
            r->uses = c.cands[p][best].count;
            r->conflicts = total - r->uses;
            for (int k = 0; k < c.n_cands[p]; k++)
                if (k != best) { r->other = c.cands[p][k].d; break; }
        } else if (by_name(g, x, r->row, &r->range)) {
            r->source = WEFT_RANGE_NAME;
        } else if (have_single) {
            r->range = single;
            r->source = WEFT_RANGE_SINGLE;
        }
    }
    *rows_out = rows;
    *n_rows_out = c.n_pairs;
    rows = NULL;
done:
    free(rows);
    free(c.pair_input);
    free(c.pair_row);
    free(c.rows);
    free(c.whole);
    free(c.wholeT);
    free(c.seg);
    free(c.cands);
    free(c.n_cands);
    return st;
}
