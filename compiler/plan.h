/*
 * compiler/plan.h — the compiled form of a graph: a linear schedule of steps over slots, each step given
 * to a backend and set up for it.
 *
 * A slot holds one value: a constant (data in the plan), a graph input (bound per run), a temporary
 * (memory planned per set of sizes, see runtime/session.c), or a value of an enclosing plan (subgraphs
 * of If / Loop / Scan). Steps name their operands by slot.
 *
 * Temporaries whose contents follow from sizes alone (the Shape → Gather → Concat chains exporters
 * write to build shape tensors) are `shape_only`: a session computes them once per set of sizes, when
 * it sets those sizes up, and the steps that make them never run again for those sizes.
 *
 * The plan is immutable once built and shared read-only by every session.
 */
#ifndef WEFT_COMPILER_PLAN_H
#define WEFT_COMPILER_PLAN_H

#include "../ops/backend.h"
#include "ir.h"

#define WEFT_MAX_BACKENDS 8

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
    int buffer;        /* TEMP: growing session buffer shared by liveness (used where sizes are found
                        * at run time: data-dependent shapes, control-flow bodies) */
    int first, last;   /* TEMP: the step that writes it and the last step that reads it (n_steps for
                        * a graph output) */
    bool shape_only;   /* TEMP: computed from sizes alone, once per set of sizes */
    int buft;          /* where it lives: index into the top plan's bufts (0: host) */
    int input_index;   /* INPUT: position among the plan's inputs */
    int outer;         /* OUTER: slot index in the plan `outer_depth` levels up */
    int outer_depth;   /* OUTER: 1 = the parent plan, 2 = its parent, ... */
} weft_slot;

typedef enum weft_step_kind {
    WEFT_STEP_KERNEL,  /* an op run by its backend */
    WEFT_STEP_CONTROL, /* If / Loop / Scan: ops/control.c runs them, the session runs the subplans */
    WEFT_STEP_COPY,    /* moves a value between buffer types (inserted by lowering)               */
} weft_step_kind;

/* Classes of work for profiles. */
typedef enum weft_op_class {
    WEFT_CLASS_OTHER,
    WEFT_CLASS_DENSE,
    WEFT_CLASS_MESSAGE,
    WEFT_CLASS_ELEMENTWISE,
} weft_op_class;

typedef struct weft_step {
    weft_step_kind kind;
    const weft_op_def *def;
    weft_node_info info;   /* borrows the node of the plan's graph */
    int n_in;
    int *in;               /* slot indices; -1 = absent optional input */
    int n_out;
    int *out;              /* slot indices; -1 = unused optional output */
    int n_sub;
    struct weft_plan **sub; /* control flow: one plan per graph attribute, in attribute order */
    const char **sub_names; /* the attribute names of `sub` ("then_branch", "body", ...) */
    const weft_backend *backend; /* who runs it (KERNEL) */
    void *prepared;        /* backend->prepare's object, released with the plan */
    bool shape_only;       /* every output is shape_only: runs when a set of sizes is set up */
    const weft_buffer_type *copy_buft; /* COPY: the buffer type that is not the host's, which copies */
    int copy_dir;          /* COPY: WEFT_COPY_TO_DEVICE, _TO_HOST or _ON_DEVICE */
    weft_op_class op_class;
} weft_step;

/* What one compiler pass did (weft compile --print-passes). Bytes of intermediates are a sum of terms
 * coefficient × product of symbols, so they read the same whatever sizes are bound later. */
#define WEFT_BYTES_TERMS 24
typedef struct weft_bytes_expr {
    int n;
    struct {
        double coef;
        int n_syms;
        int32_t syms[WEFT_MAX_RANK];
    } t[WEFT_BYTES_TERMS];
    bool truncated; /* more distinct terms than fit: the sum is a lower bound */
} weft_bytes_expr;

typedef struct weft_pass_report {
    char *name;
    int nodes_before, nodes_after;
    int changed; /* rewrites (fusions, folds, removals) the pass reports */
    weft_bytes_expr bytes_before, bytes_after;
} weft_pass_report;

struct weft_plan {
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
    int n_buffers;          /* growing buffers shared by the TEMP slots (slot.buffer) */
    int *buffer_buft;       /* per growing buffer: its buffer type (index into bufts) */
    const weft_buffer_type *bufts[WEFT_MAX_BACKENDS]; /* buffer types the plan's values live in; 0: host */
    int n_bufts;
    int max_step_in, max_step_out; /* sizes of the per-step scratch arrays a session needs */
    const struct weft_plan *parent;
    bool owns_graph;
    /* the top plan only */
    const weft_backend *backends[WEFT_MAX_BACKENDS]; /* the priority list it was lowered for */
    int n_backends;
    weft_pass_report *passes;
    int n_passes;
    int opt_level;
    /* Constants copied to a device buffer type, once per plan (shared by its sessions): per step, the
     * copy's destination, made by the first session that needs it (runtime/arena.c) under upload_lock.
     * The plan is otherwise immutable. */
    void **uploads;
    void *upload_lock;      /* a pthread_mutex_t */
};

/* Lowers graph g (verified, inferred, optimised) to a plan: slots, steps, liveness, and each step given
 * to the first backend of `backends` that supports it and prepared by it. `assign` (may be NULL) names
 * the backend of each node of g, in node order, instead of asking `supports` (plans read from a file).
 * On success the plan owns g and syms. */
weft_status weft_plan_lower(weft_graph *g, weft_symtab *syms, const weft_backend *const *backends, int n_backends,
                            const char *const *assign, struct weft_plan **out);
/* Builds the plan of a subgraph (no ownership) for a parent plan. */
weft_status weft_plan_build(weft_graph *g, const struct weft_plan *parent, struct weft_plan **out);
void weft_plan_destroy(struct weft_plan *p);

/* Runs the compiler's passes (compiler/compile.c) on g for -O `opt_level`; the report of each pass in
 * *report (malloc'd array of *n_report entries, names malloc'd) when report is not NULL. */
weft_status weft_compile_graph(weft_graph *g, int opt_level, weft_pass_report **report, int *n_report);
/* The passes whose rewrites emit only ops with gradient rules (the lowering of PyG's scatter chains to
 * SegmentReduce, link scores, common subexpressions, identities, constant If), for a graph about to be
 * differentiated: the backward pass is then written over SegmentReduce / RowGather, whose adjoints the
 * later passes fuse into CSR kernels, instead of over the exporter's ScatterElements chains. */
weft_status weft_compile_graph_differentiable(weft_graph *g);

/* Passes (compiler/pass_*.c). Each returns a status; `changed` (may be NULL) counts what it changed. */
weft_status weft_pass_infer(weft_graph *g, bool fold, int *changed); /* shapes, types, constant folding */
weft_status weft_pass_dce(weft_graph *g, int *changed);               /* drops nodes nothing reads */
/* If nodes with a constant condition -> their taken branch */
weft_status weft_pass_inline_if(weft_graph *g, int *changed);
/* readers of Identity outputs read the Identity's input */
weft_status weft_pass_identity(weft_graph *g, int *changed);
/* gather/scatter chains -> ai.weft.SegmentReduce (run after inference: it reads shapes) */
weft_status weft_pass_message_passing(weft_graph *g, int *changed);
/* identical constants, shape values and nodes -> one (edge-index gathers shared across layers) */
weft_status weft_pass_cse(weft_graph *g, int *changed);
/* MatMul / Gemm (+ bias) -> ai.weft.FusedMatMul: constant weights packed [K, M], run-time ones read as
 * they are (a transB weight through `transpose`) */
weft_status weft_pass_dense(weft_graph *g, int *changed);
/* sum / clamp(count, 1) mean chains -> CsrReduce(mean) */
weft_status weft_pass_mean(weft_graph *g, int *changed);
/* SegmentReduce / EdgeSoftmax -> CSR index + CsrReduce / CsrEdgeSoftmax; gathers -> CsrGatherReduce */
weft_status weft_pass_csr(weft_graph *g, int *changed);
/* the GAT edge-softmax chain -> CsrEdgeSoftmax */
weft_status weft_pass_gat(weft_graph *g, int *changed);
/* ReduceSum(Gather(a, i) * Gather(b, j), last axis) -> LinkScore */
weft_status weft_pass_sddmm(weft_graph *g, int *changed);
/* Expand before an elementwise op that broadcasts anyway -> its input; PyG's stack-and-sum -> Adds */
weft_status weft_pass_broadcast(weft_graph *g, int *changed);
/* sums, biases, L2 normalisation and activations around FusedMatMul -> its epilogue */
weft_status weft_pass_dense_fusion(weft_graph *g, int *changed);
/* BatchNormalization after a Conv -> the Conv's weights and bias; Conv + residual Add + activation ->
 * ai.weft.FusedConv */
weft_status weft_pass_conv_fusion(weft_graph *g, int *changed);
/* Transpose(Transpose(x)) -> one Transpose of x, or x when the perms cancel */
weft_status weft_pass_transpose(weft_graph *g, int *changed);
/* MatMul -> scale -> mask -> Softmax -> MatMul (and the Transposes around it) -> ai.weft FusedAttention */
weft_status weft_pass_attention(weft_graph *g, int *changed);
/* convolutions, pools and the elementwise ops between them -> channels-last activations (ai.weft
 * ChannelsLast), Transposes only where the layout changes */
weft_status weft_pass_channels_last(weft_graph *g, int *changed);
/* chains of elementwise float ops -> FusedElementwise */
weft_status weft_pass_eltwise(weft_graph *g, int *changed);

/* --- reports (compiler/pass_report.c) ------------------------------------------------------------ */

/* Nodes of g and of every graph nested in it. */
int weft_graph_count_nodes(const weft_graph *g);
/* The bytes of g's intermediate values (neither constants nor graph inputs) as an expression. */
void weft_bytes_of_intermediates(const weft_graph *g, weft_bytes_expr *out);
/* Adds sign × the bytes of a value of dtype/shape to *e. */
void weft_bytes_add(weft_bytes_expr *e, weft_dtype dt, const weft_shape *s, double sign);
/* "512·num_edges + 1.2 KiB" (terms with symbols by coefficient, the constant part last). */
void weft_bytes_format(const weft_bytes_expr *e, const weft_symtab *syms, char *buf, size_t n);
/* a - b */
void weft_bytes_sub(const weft_bytes_expr *a, const weft_bytes_expr *b, weft_bytes_expr *out);

#endif
