/*
 * compiler/ir.h — the intermediate representation: graphs of values and nodes.
 *
 * A graph owns its values and nodes. Values are referred to by index (stable while the graph lives;
 * passes that remove values compact through weft_graph_compact). A subgraph (the body of If / Loop /
 * Scan) is a graph owned by a node attribute; values it reads from enclosing graphs appear in it as
 * values flagged WEFT_VALUE_OUTER with the outer value's name.
 *
 * Dimensions are numbers or symbols; symbol names live in the model's symbol table, shared by the
 * model's graph and all its subgraphs.
 */
#ifndef WEFT_COMPILER_IR_H
#define WEFT_COMPILER_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../ops/op.h"

typedef struct weft_symtab {
    char **names; /* names[i] is symbol i's name ("N", "num_edges", or "unk__3" for fresh ones) */
    int n, cap;
    int fresh_check_below; /* the largest k of an interned name "unk__k...": fresh names up to it are checked */
} weft_symtab;

/* Index of the symbol `name`, adding it if new; -1 on allocation failure. */
int32_t weft_sym_intern(weft_symtab *t, const char *name);
/* A new symbol no one else has. */
int32_t weft_sym_fresh(weft_symtab *t);
const char *weft_sym_name(const weft_symtab *t, int32_t sym);
void weft_symtab_free(weft_symtab *t);
/* "[N,3]" with symbol names. */
void weft_shape_format_sym(const weft_shape *s, const weft_symtab *t, char *buf, size_t n);

enum {
    WEFT_VALUE_INPUT = 1u << 0,       /* a graph input the caller binds                       */
    WEFT_VALUE_OUTPUT = 1u << 1,      /* a graph output                                       */
    WEFT_VALUE_INITIALIZER = 1u << 2, /* came from an initializer (a parameter)               */
    WEFT_VALUE_CONST = 1u << 3,       /* data is known: initializers, Constant, folded values */
    WEFT_VALUE_OUTER = 1u << 4,       /* defined by an enclosing graph, looked up by name      */
    WEFT_VALUE_TYPED = 1u << 5,       /* dtype and shape are known (declared or inferred)      */
};

typedef struct weft_value {
    char *name;
    weft_dtype dtype;
    weft_shape shape;
    unsigned flags;
    void *data;    /* CONST: the contents (owned), row-major */
    size_t nbytes;
    int producer;  /* index of the node that writes it, or -1 */
} weft_value;

typedef struct weft_node {
    char *name;
    char *op_type;
    char *domain;   /* "" for the default domain */
    int opset;      /* the graph's opset import for `domain` */
    int n_inputs;
    int *inputs;    /* value indices; -1 for an absent optional input */
    int n_outputs;
    int *outputs;   /* value indices; -1 for an unused optional output */
    int n_attrs;
    weft_attr *attrs;
    const weft_op_def *def; /* resolved by weft_ir_resolve_ops; NULL if unsupported */
} weft_node;

typedef struct weft_opset_import {
    char *domain;
    int64_t version;
} weft_opset_import;

typedef struct weft_graph {
    char *name;
    weft_value *values;
    int n_values, cap_values;
    weft_node *nodes;
    int n_nodes, cap_nodes;
    int *inputs;  /* value indices of the graph inputs, in order (initializers excluded) */
    int n_inputs;
    int *outputs; /* value indices of the graph outputs, in order */
    int n_outputs;
    struct weft_graph *parent; /* enclosing graph for subgraphs, else NULL */
    weft_symtab *syms;         /* the model's table (not owned) */
    /* name -> value index hash (open addressing) */
    int *hash;
    int hash_cap;
} weft_graph;

struct weft_model {
    weft_graph *graph;
    int64_t ir_version;
    char *producer_name, *producer_version, *domain, *doc_string;
    int64_t model_version;
    weft_opset_import *opsets;
    int n_opsets;
    weft_symtab syms;
    char *path;        /* the file it came from, or NULL */
    int n_functions;   /* model-local functions that were inlined */
    char **meta_keys, **meta_values; /* ModelProto.metadata_props, in file order */
    int n_meta;
};

/* --- graphs -------------------------------------------------------------------------------------- */

weft_graph *weft_graph_new(weft_graph *parent, weft_symtab *syms);
void weft_graph_free(weft_graph *g);
/* A deep copy (subgraphs too), sharing the symbol table. NULL on allocation failure. */
weft_graph *weft_graph_clone(const weft_graph *g, weft_graph *parent);

/* Index of the value named `name` in this graph (not enclosing ones), or -1. */
int weft_graph_find_value(const weft_graph *g, const char *name);
/* Adds a value (untyped, no flags). Names must be unique within a graph; an empty name is allowed for
 * anonymous values and is never found by name. Returns the index or -1 (error set). */
int weft_graph_add_value(weft_graph *g, const char *name);
/* Adds a node with room for the given counts (inputs/outputs start at -1). Returns the index or -1.
 * Pointers into g->nodes / g->values are invalidated by any add. */
int weft_graph_add_node(weft_graph *g, const char *op_type, const char *domain, const char *name,
                        int n_inputs, int n_outputs);
/* Appends an attribute to a node (takes ownership of *a's contents on success). */
weft_status weft_node_add_attr(weft_node *n, weft_attr *a);
/* Deep-copies an attribute; graphs inside it become subgraphs of `owner`. False on allocation failure. */
bool weft_attr_copy(weft_attr *dst, const weft_attr *src, weft_graph *owner);
/* Frees what an attribute owns (not the struct itself). */
void weft_attr_clear(weft_attr *a);
/* The op-facing view of a node. */
weft_node_info weft_node_view(const weft_node *n);

/* Sets a value's constant contents (copies `data`). */
weft_status weft_value_set_data(weft_value *v, weft_dtype dtype, const weft_shape *shape, const void *data,
                                size_t nbytes);

/* Finds the value a name refers to from graph g, searching enclosing graphs (for OUTER values). */
const weft_value *weft_graph_lookup_scoped(const weft_graph *g, const char *name, const weft_graph **owner);

/* The subgraph visitor every pass and report uses: calls fn on each graph owned by an attribute of one
 * of g's nodes (the direct children, in node and attribute order). Stops at, and returns, the first
 * status that is not WEFT_OK. Recursion depth is bounded by the model's nesting, which the importer
 * limits. */
typedef weft_status (*weft_graph_fn)(weft_graph *g, void *user);
weft_status weft_graph_each_subgraph(weft_graph *g, weft_graph_fn fn, void *user);
/* fn on g itself, then on every graph nested in it at any depth (parents before children). */
weft_status weft_graph_walk(weft_graph *g, weft_graph_fn fn, void *user);
/* The same for one node, for passes that need the owner: fn on each graph owned by an attribute of n
 * (in attribute order, a GRAPHS attribute once per graph), with that attribute. */
typedef weft_status (*weft_subgraph_fn)(weft_graph *sub, weft_attr *attr, void *user);
weft_status weft_node_each_subgraph(weft_node *n, weft_subgraph_fn fn, void *user);
/* fn on every graph nested in node n at any depth (parents before children). */
weft_status weft_node_walk(weft_node *n, weft_graph_fn fn, void *user);
/* fn on the index in g of each value of g that a graph nested in node n (at any depth) reads by name:
 * what makes the node depend on, and keeps alive, values it does not list as inputs. A value read
 * several times is reported each time. */
typedef weft_status (*weft_value_fn)(int value, void *user);
weft_status weft_node_each_outer_read(const weft_graph *g, weft_node *n, weft_value_fn fn, void *user);

/* Removes the nodes i with !keep[i] (freeing them) and recomputes producers. */
void weft_graph_remove_nodes(weft_graph *g, const bool *keep);

/* Resolves every node's op definition against the registry (recursively into subgraphs). Unsupported
 * nodes keep def = NULL; the count of those is returned in *n_unsupported (may be NULL). */
void weft_ir_resolve_ops(weft_graph *g, int *n_unsupported);

/* Sorts nodes topologically (stable for already-sorted graphs). Fails with a message naming a node on
 * a cycle, or a value read but never defined. */
weft_status weft_ir_toposort(weft_graph *g);

/* --- models -------------------------------------------------------------------------------------- */

/* The opset the model imports for `domain` ("" = default), or 0. */
int64_t weft_model_opset(const struct weft_model *m, const char *domain);

#endif
