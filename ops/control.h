/*
 * ops/control.h — If, Loop and Scan: the ops whose work is running subgraphs (ops/control.c says why
 * they live in ops/). Three users:
 *   - the compiler checks a node with weft_control_check before inferring its outputs from its graphs;
 *   - the runtime makes each control-flow step's state once with weft_control_prepare (the same
 *     checks, and the op's kind decided there) and runs it with weft_control_run, handing in a
 *     weft_control_host: the only way control flow reaches the session that runs it;
 *   - the registry lists the schemas (weft_ops_control).
 */
#ifndef WEFT_OPS_CONTROL_H
#define WEFT_OPS_CONTROL_H

#include "op.h"

typedef enum weft_control_kind {
    WEFT_CONTROL_NONE = 0,
    WEFT_CONTROL_IF,
    WEFT_CONTROL_LOOP,
    WEFT_CONTROL_SCAN,
} weft_control_kind;

/* The kind of a registered definition (WEFT_CONTROL_NONE for an op that is not control flow). */
weft_control_kind weft_control_kind_of(const weft_op_def *def);

/* Subgraphs by role: If 0 = then_branch, 1 = else_branch; Loop and Scan 0 = body. */
#define WEFT_CONTROL_MAX_SUBS 2
/* The role of the graph attribute `attr` for an op of this kind, or -1 when the op has no such graph. */
int weft_control_role(weft_control_kind kind, const char *attr);

typedef struct weft_control_sub {
    int index;              /* its position among the node's graphs, in attribute order; -1: missing */
    int n_inputs, n_outputs;
} weft_control_sub;

/* What the checks see of a node (compile time: an IR node and its graphs) or a step (run time: a step
 * and its subplans). */
typedef struct weft_control_sig {
    weft_control_kind kind;
    const weft_node_info *info;
    int n_in;
    const int *in;          /* operand ids, in order; < 0 for an absent optional input */
    int n_out;
    weft_control_sub sub[WEFT_CONTROL_MAX_SUBS]; /* by role; set index to -1 for the missing ones */
} weft_control_sig;

/* Counts and attributes that do not depend on shapes: the graphs the op needs are there, their inputs
 * and outputs fit the node's, the inputs that are not optional are present, Scan's num_scan_inputs and
 * its axis and direction lists fit. A clear error naming the node otherwise. */
weft_status weft_control_check(const weft_control_sig *s);

/* What the runtime gives a control-flow step. `sub` is a weft_control_sub.index. */
typedef struct weft_control_host {
    /* Runs subgraph `sub` on inputs[0..its n_inputs) and sets outputs[0..its n_outputs) to its results
     * (valid until it runs again). */
    weft_status (*run)(void *user, int sub, const weft_tview *inputs, weft_tview *outputs);
    /* Makes output `o` of the step a tensor of dtype/rank/dims; *view gets it (to fill). */
    weft_status (*alloc)(void *user, int o, weft_dtype dtype, int rank, const int64_t *dims, weft_tview *view);
    /* The declared dtype and shape of output `o` of subgraph `sub` (a Loop that runs zero times). */
    void (*declared)(void *user, int sub, int o, weft_dtype *dtype, weft_shape *shape);
    void *user;
} weft_control_host;

/* A step's state: its kind, its graphs by role, buffers for loop-carried values (kept between runs). */
typedef struct weft_control_state weft_control_state;

/* Checks the step (weft_control_check) and makes its state. */
weft_status weft_control_prepare(const weft_control_sig *s, weft_control_state **out);
void weft_control_free(weft_control_state *cs);
/* Runs the step: in[0..n_in) are its inputs (dtype WEFT_UNDEFINED for an absent one); its outputs go
 * where host->alloc says. `info` names the node in errors. */
weft_status weft_control_run(weft_control_state *cs, const weft_node_info *info, const weft_tview *in,
                             const weft_control_host *host);

#endif
