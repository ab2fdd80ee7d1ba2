/*
 * compiler/rewrite.h — what the fusion passes share: looking at the graph around a node (producers,
 * how often a value is read, constants and the values known to be filled with one number) and editing
 * it (new values, constants and nodes; a node taking over another's outputs; dead chains retired at
 * once, so the next match sees true reader counts).
 *
 * A pass opens a `weft_rw` on one graph, rewrites, and closes it: closing sorts the nodes again when
 * some were added (a new node is appended, after its readers) and drops what no one reads.
 *
 * "Pinned" values are graph outputs and values a subgraph reads by name: a rewrite may produce them
 * (the last node of a fused chain may write a graph output) but never remove or bypass them.
 */
#ifndef WEFT_COMPILER_REWRITE_H
#define WEFT_COMPILER_REWRITE_H

#include "plan.h"

typedef struct weft_rw {
    weft_graph *g;
    int *readers; /* per value: node inputs reading it (a node reading it twice counts twice) */
    char *pinned; /* per value: a graph output, or read by name from a subgraph */
    int cap;      /* values the tables cover */
    bool added;   /* nodes were added: sort before closing */
    struct {      /* op definitions looked up so far (the registry is a linear table) */
        char domain[32], op[64];
        int opset;
        const weft_op_def *def;
    } defs[8];
    int n_defs;
} weft_rw;

/* Opens g for rewriting: counts readers, marks pinned values. */
weft_status weft_rw_open(weft_rw *r, weft_graph *g);
/* Sorts the nodes again if some were added and removes dead ones (dead-code elimination). Frees the
 * tables whatever happens; returns the first error. */
weft_status weft_rw_close(weft_rw *r);
/* Runs fn on g and on every graph nested in it, each opened and closed around the call; adds what each
 * call counts to *changed. */
typedef weft_status (*weft_rw_fn)(weft_rw *r, int *changed);
weft_status weft_rw_each_graph(weft_graph *g, weft_rw_fn fn, int *changed);
/* Runs fn(r, i, changed) on every node i of r's graph, as it is when called, that is `domain`'s op `op`
 * ("" for the default domain); nodes the calls add are not visited. Stops at the first error. */
typedef weft_status (*weft_rw_node_fn)(weft_rw *r, int i, int *changed);
weft_status weft_rw_each_op(weft_rw *r, const char *domain, const char *op, weft_rw_node_fn fn, int *changed);

/* --- looking ------------------------------------------------------------------------------------- */

/* The node writing value v, or NULL (graph inputs, constants, outer values). Pointers into g->nodes
 * are invalidated by weft_rw_node. */
weft_node *weft_rw_producer(const weft_rw *r, int v);
/* n is the default-domain op `op` (NULL-safe). */
bool weft_rw_is(const weft_node *n, const char *op);
/* n is ai.weft's op `op`. */
bool weft_rw_is_weft(const weft_node *n, const char *op);
/* The producer of v when it is the default-domain op `op`, else NULL. */
weft_node *weft_rw_producer_is(const weft_rw *r, int v, const char *op);
/* v is read exactly `reads` times by nodes and is neither a graph output nor read by a subgraph: the
 * nodes that read it may be fused away with it. */
bool weft_rw_private(const weft_rw *r, int v, int reads);
/* The only node reading v when v is read exactly once and not pinned (weft_rw_private), else -1. */
int weft_rw_only_reader(const weft_rw *r, int v);
/* v is read by no node and not pinned. */
bool weft_rw_unread(const weft_rw *r, int v);
/* v holds data fixed at compile time (a constant, not a graph input). */
bool weft_rw_const(const weft_rw *r, int v);

/* v is a constant holding one element (any rank); its value as a double. */
bool weft_rw_scalar(const weft_rw *r, int v, double *out);
/* v is a constant int tensor (int32/int64) of at most `max` elements: copies them, returns the count,
 * else -1. */
int weft_rw_ints(const weft_rw *r, int v, int64_t *out, int max);
/* v is known to hold `x` in every element: a constant, ConstantOfShape(value x), or a view of such a
 * value (Expand, Slice, Reshape, Unsqueeze, Squeeze, Flatten, Identity, Tile). */
bool weft_rw_filled(const weft_rw *r, int v, double x);
/* Shapes with the same rank and the same dims (numbers or symbols). */
bool weft_rw_shape_eq(const weft_shape *a, const weft_shape *b);
/* An integer attribute of a node, or `def`. */
int64_t weft_rw_attr_i(const weft_node *n, const char *name, int64_t def);
/* The `reduce` attribute of a reduction (SegmentReduce, CsrReduce; "sum" when absent) in the ai.weft
 * spelling: ScatterElements' "add" is "sum" and "prod" is "mul". */
const char *weft_rw_reduce(const weft_node *n);
/* The producer of v when it is an ai.weft SegmentReduce with both data and index given whose reduce is
 * `red` (as weft_rw_reduce spells it), else NULL. */
weft_node *weft_rw_producer_segment(const weft_rw *r, int v, const char *red);
/* p is a Gather of rows: axis 0 (or its negative spelling), data and indices given. */
bool weft_rw_gathers_rows(const weft_rw *r, const weft_node *p);
/* Reduction axes of a Reduce* node (the `axes` input from opset 18 / 13 for ReduceSum, the attribute
 * before), normalised to [0, rank); returns the count, 0 for "all axes" (absent), -1 when unknown. */
int weft_rw_reduce_axes(const weft_rw *r, const weft_node *n, int rank, int64_t *axes, int max);

/* --- editing ------------------------------------------------------------------------------------- */

/* True when the registry has ai.weft's `op` (the passes skip rewrites into ops this build lacks). */
bool weft_rw_have(const char *op);
/* A new value named after `base` and `tag` (made unique), typed when dt is not UNDEFINED. -1 on error. */
int weft_rw_value(weft_rw *r, const char *base, const char *tag, weft_dtype dt, const weft_shape *s);
/* A new constant holding a copy of data. -1 on error. */
int weft_rw_constant(weft_rw *r, const char *base, const char *tag, weft_dtype dt, const weft_shape *s,
                     const void *data, size_t nbytes);
/* An int64 constant [n] (or a scalar when `scalar`). */
int weft_rw_const_i64(weft_rw *r, const char *base, const char *tag, const int64_t *v, int n, bool scalar);
/* A new node reading in[0..n_in) (-1 = absent) and writing out[0..n_out) (-1 = none yet), its op
 * definition resolved for `opset`. Returns its index, or -1 with an error set. */
int weft_rw_node(weft_rw *r, const char *op, const char *domain, int opset, const char *name, const int *in,
                 int n_in, const int *out, int n_out);
/* Node `dst` writes node `src`'s outputs from now on (src is retired: it writes nothing and reads
 * nothing, and the chains only it read are retired too). */
void weft_rw_take_over(weft_rw *r, int dst, int src);
/* Node i is replaced by a new ai.weft `op` (opset 1) reading in[0..n_in) (-1 = absent), named
 * "<node i's name>/<tag>", with the string attribute reduce = `reduce` unless that is NULL: the new node
 * takes node i's output over, and *changed counts one change. */
weft_status weft_rw_replace(weft_rw *r, int i, const char *op, const char *tag, const int *in, int n_in,
                            const char *reduce, int *changed);
/* Retires node i: it reads and writes nothing; producers of values only it read are retired as well
 * (unless pinned, impure or owning subgraphs). */
void weft_rw_retire(weft_rw *r, int i);
/* Every node input reading `from` reads `to` instead (graph outputs and subgraph reads stay). Returns
 * the number of inputs changed. */
int weft_rw_redirect(weft_rw *r, int from, int to);
/* Sets input k of node i (growing the input list with absent inputs as needed). */
weft_status weft_rw_set_input(weft_rw *r, int i, int k, int v);

/* Attributes of node i, replacing one of the same name. */
weft_status weft_rw_set_int(weft_rw *r, int i, const char *name, int64_t v);
weft_status weft_rw_set_float(weft_rw *r, int i, const char *name, float v);
weft_status weft_rw_set_string(weft_rw *r, int i, const char *name, const char *v);
weft_status weft_rw_set_ints(weft_rw *r, int i, const char *name, const int64_t *v, int n);
weft_status weft_rw_set_floats(weft_rw *r, int i, const char *name, const float *v, int n);
/* Copies node src's attributes (ints, floats, strings and their lists) onto node dst;
 * WEFT_ERR_UNSUPPORTED (no error message set) when src has one of another kind (a graph, a tensor). */
weft_status weft_rw_copy_attrs(weft_rw *r, int dst, int src);

/* --- sizes and indices --------------------------------------------------------------------------- */

/* An int64 [1] value holding dimension d: a constant for a number; for a symbol, Shape(x, start=a,
 * end=a+1) of a graph input x whose axis a is d (an existing such node is reused); else of `hint` (a
 * value whose axis `hint_axis` is d; when hint is a ConstantOfShape, the matching entry of its shape
 * input, so the filled tensor need not exist). -1 when there is no way (no error set). */
int weft_rw_dim_value(weft_rw *r, weft_dim d, int hint, int hint_axis);
/* The dimension a scalar / [1] int64 value is known to hold (constants, and the values
 * weft_rw_dim_value makes). */
bool weft_rw_dim_of(const weft_rw *r, int v, weft_dim *d);

/* The CSR index (ai.weft.CSR) of edge index `idx` over `nseg` segments (an int64 value; `wrap`: idx may
 * count from the end), with the column of each position when src_idx >= 0 (over `nsrc` rows;
 * `src_wrap`: src_idx may count from the end). An existing CSR of the same index, count and wrapping
 * is reused (and given its columns when it has none), so each distinct index is sorted once.
 * *col is -1 when src_idx < 0. */
weft_status weft_rw_csr(weft_rw *r, int idx, int nseg, bool wrap, int src_idx, int nsrc, bool src_wrap, int *offsets,
                        int *perm, int *col);

#endif
