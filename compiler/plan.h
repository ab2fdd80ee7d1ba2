/*
 * compiler/plan.h — the compiled form of a graph: a linear schedule of steps over slots.
 *
 * A slot holds one value: a constant (data in the plan), a graph input (bound per run), a temporary
 * (living in a session buffer that it shares with other temporaries whose lifetimes do not overlap), or
 * a value of an enclosing plan (subgraphs of If / Loop / Scan). Steps name their operands by slot.
 *
 * The plan is immutable once built and shared read-only by every session.
 */
#ifndef WEFT_COMPILER_PLAN_H
#define WEFT_COMPILER_PLAN_H

#include "ir.h"

typedef enum weft_slot_kind {
    WEFT_SLOT_CONST,
    WEFT_SLOT_INPUT,
    WEFT_SLOT_TEMP,
    WEFT_SLOT_OUTER,
} weft_slot_kind;

typedef struct weft_slot {
    const char *name;  /* owned by the plan's graph */
    weft_slot_kind kind;
    weft_dtype dtype;  /* as inferred at compile time (UNDEFINED if unknown) */
    weft_shape shape;  /* as inferred at compile time, may hold symbols */
    const void *data;  /* CONST */
    size_t nbytes;     /* CONST */
    int buffer;        /* TEMP: session buffer index */
    int input_index;   /* INPUT: position among the plan's inputs */
    int outer;         /* OUTER: slot index in the plan `outer_depth` levels up */
    int outer_depth;   /* OUTER: 1 = the parent plan, 2 = its parent, ... */
} weft_slot;

typedef struct weft_step {
    const weft_op_def *def;
    weft_node_info info;   /* borrows the node of the plan's graph */
    int n_in;
    int *in;               /* slot indices; -1 = absent optional input */
    int n_out;
    int *out;              /* slot indices; -1 = unused optional output */
    int n_sub;
    struct weft_plan **sub; /* control flow: one plan per graph attribute, in attribute order */
    const char **sub_names; /* the attribute names of `sub` ("then_branch", "body", ...) */
} weft_step;

struct weft_plan {
    char *backend;
    weft_graph *graph;      /* the optimised graph the plan was built from (owned by the top plan) */
    weft_symtab *syms;      /* owned by the top plan */
    weft_slot *slots;
    int n_slots;
    weft_step *steps;
    int n_steps;
    int *inputs;            /* slot per graph input, in order */
    int n_inputs;
    int *outputs;           /* slot per graph output, in order */
    int n_outputs;
    int n_buffers;
    int max_step_in, max_step_out; /* sizes of the per-step scratch arrays a session needs */
    const struct weft_plan *parent;
    bool owns_graph;
};

/* Builds the plan for graph g (already verified and inferred) for a parent plan (NULL at top). */
weft_status weft_plan_build(weft_graph *g, const struct weft_plan *parent, struct weft_plan **out);
void weft_plan_destroy(struct weft_plan *p);

/* Passes (compiler/pass_*.c). Each returns a status; `changed` (may be NULL) counts what it changed. */
weft_status weft_pass_infer(weft_graph *g, bool fold, int *changed); /* shapes, types, constant folding */
weft_status weft_pass_dce(weft_graph *g, int *changed);               /* drops nodes nothing reads */
/* If nodes with a constant condition -> their taken branch */
weft_status weft_pass_inline_if(weft_graph *g, int *changed);
/* readers of Identity outputs read the Identity's input */
weft_status weft_pass_identity(weft_graph *g, int *changed);
/* gather/scatter chains -> ai.weft.SegmentReduce (run after inference: it reads shapes) */
weft_status weft_pass_message_passing(weft_graph *g, int *changed);

#endif
