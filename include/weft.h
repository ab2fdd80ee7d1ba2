/*
 * weft.h — the public C API of libweft, the only header users include.
 *
 * Flow:  weft_model_load -> weft_compile -> weft_session_create -> weft_session_run
 *
 * Ownership rules (all handles are opaque):
 *   - every object returned through an `**out` parameter belongs to the caller and is released with
 *     its `_free` function; `_free(NULL)` is a no-op;
 *   - a plan does not borrow the model it was compiled from: the model may be freed right after
 *     weft_compile;
 *   - a plan is immutable and may be shared by many sessions on many threads; a session is used by one
 *     thread at a time;
 *   - input tensors passed to weft_session_run are borrowed for the duration of the call only;
 *   - output tensors filled by weft_session_run point into memory owned by the session: valid until the
 *     next run on that session or weft_session_free, whichever comes first. Copy what you keep. The
 *     caller may write into them: they never alias the plan's constants (shared by every session) or
 *     the caller's inputs (an output that is a constant or a graph input is copied).
 *
 * Errors: every function returns a weft_status. On failure weft_last_error() returns a message (in
 * thread-local storage) naming the file, node, input or dimension at fault. Nothing aborts the process.
 */
#ifndef WEFT_H
#define WEFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

/* The largest tensor rank weft handles; higher ranks are refused with WEFT_ERR_UNSUPPORTED. */
#define WEFT_MAX_RANK 8

typedef enum weft_status {
    WEFT_OK = 0,
    WEFT_ERR_INVALID_ARGUMENT, /* a bad argument to an API call (NULL handle, unknown name, ...)   */
    WEFT_ERR_IO,               /* a file could not be opened or read                                */
    WEFT_ERR_PARSE,            /* a file is not a valid model / tensor (truncated, corrupted, ...)  */
    WEFT_ERR_INVALID_MODEL,    /* it parses, but the graph is wrong (cycle, dangling input, ...)    */
    WEFT_ERR_UNSUPPORTED,      /* an op, dtype, attribute or opset weft does not implement          */
    WEFT_ERR_SHAPE,            /* shapes disagree (at compile time or when binding inputs)          */
    WEFT_ERR_TYPE,             /* dtypes disagree                                                   */
    WEFT_ERR_INDEX,            /* an index tensor holds an out-of-range value                        */
    WEFT_ERR_NOMEM,            /* allocation failed or a size overflows                             */
    WEFT_ERR_SECURITY,         /* external data outside the model's folder, ...                     */
    WEFT_ERR_INTERNAL
} weft_status;

/* Element types; the numbers are those of ONNX's TensorProto.DataType. */
typedef enum weft_dtype {
    WEFT_UNDEFINED = 0,
    WEFT_FLOAT32 = 1,
    WEFT_UINT8 = 2,
    WEFT_INT8 = 3,
    WEFT_UINT16 = 4,
    WEFT_INT16 = 5,
    WEFT_INT32 = 6,
    WEFT_INT64 = 7,
    WEFT_STRING = 8,
    WEFT_BOOL = 9,
    WEFT_FLOAT16 = 10,
    WEFT_FLOAT64 = 11,
    WEFT_UINT32 = 12,
    WEFT_UINT64 = 13,
    WEFT_BFLOAT16 = 16
} weft_dtype;

/* A dense, row-major tensor as it crosses the API. */
typedef struct weft_tensor {
    const char *name; /* input: which graph input; output: set by weft (or by the caller to pick one) */
    weft_dtype dtype;
    int rank;
    int64_t dims[WEFT_MAX_RANK];
    void *data;    /* bool is one byte per element (0 or 1); float16 is IEEE binary16 bits */
    size_t nbytes; /* size of data in bytes */
    /* 0: `data` is host memory. 1: it is memory of the session's device (a plan lowered for `cuda`: the
     * current CUDA device's global memory). An input given so is read there without a trip through the
     * host; an output asked for so (set before the run) is handed out as the session's device buffer,
     * valid until the next run, and is not copied to the host. */
    int on_device;
} weft_tensor;

typedef struct weft_model weft_model;     /* an imported ONNX model (the IR)              */
typedef struct weft_plan weft_plan;       /* a compiled, immutable execution plan          */
typedef struct weft_session weft_session; /* per-thread state to run a plan: buffers       */

/* --- errors ------------------------------------------------------------------------------------ */

/* The message of the last failure on this thread ("" if none). Valid until the next weft call. */
const char *weft_last_error(void);
/* A short constant name for a status ("WEFT_ERR_SHAPE"). */
const char *weft_status_name(weft_status s);
/* Name of a dtype as ONNX spells it ("float", "int64", ...); "undefined" for unknown values. */
const char *weft_dtype_name(weft_dtype t);
/* Bytes per element (bool: 1), 0 for undefined or string. */
size_t weft_dtype_size(weft_dtype t);

/* --- models ------------------------------------------------------------------------------------ */

/* Loads an ONNX ModelProto. External data files are resolved relative to the model's folder and must
 * stay inside it. */
weft_status weft_model_load(const char *path, weft_model **out);
/* Same, from memory; `base_dir` (may be NULL: external data refused) resolves external data. The buffer
 * is not retained. */
weft_status weft_model_load_from_buffer(const void *buf, size_t len, const char *base_dir,
                                        weft_model **out);
void weft_model_free(weft_model *m);
/* The model's metadata_props: the value of `key` (the last entry when repeated), or NULL; the entries in
 * file order. Strings are owned by the model. A trained model carries its class names, feature scaling
 * and graph options there (keys "weft.*", see weft_trainer_set_metadata). */
const char *weft_model_metadata(const weft_model *m, const char *key);
int weft_model_metadata_count(const weft_model *m);
weft_status weft_model_metadata_entry(const weft_model *m, int i, const char **key, const char **value);

typedef enum weft_describe_format {
    WEFT_DESCRIBE_TEXT = 0,
    WEFT_DESCRIBE_JSON = 1,
    /* or'ed with either, for weft_plan_describe: also list every step (op, backend, operands), and
     * the compiler's passes (nodes and bytes of intermediates before and after each) */
    WEFT_DESCRIBE_STEPS = 2,
    WEFT_DESCRIBE_PASSES = 4,
} weft_describe_format;
/* A report of the model (IR version, opsets, producer, inputs/outputs with symbolic shapes, op
 * histogram, parameter count and bytes, unsupported ops). `*out` is malloc'd; free() it. */
weft_status weft_model_describe(const weft_model *m, weft_describe_format fmt, char **out);

/* --- compiling --------------------------------------------------------------------------------- */

typedef struct weft_compile_options {
    /* Backends in priority order, comma-separated ("onednn", "openblas,ref", "ref"): each step goes to
     * the first that takes it, and `ref` (which takes every op) is appended when absent. NULL, "" or
     * "auto": every backend of this build, fastest first (weft_backends lists them). */
    const char *backend;
    int opt_level;       /* 0: no rewrites; 1 (default): every pass (folding, fusion, dead code)  */
} weft_compile_options;

/* The backends this build has, comma-separated in the default priority order ("onednn,openblas,ref"). */
const char *weft_backends(void);
/* The backends of this build that can run on this machine (a device backend without its device is left
 * out), in the same order. */
const char *weft_backends_usable(void);
/* NULL when backend `name` can run here; otherwise why not ("no CUDA device: ...", "not in this build").
 * A device backend is in the build (and can compile plans) on machines without its device. */
const char *weft_backend_unavailable(const char *name);

/* Verifies the graph, infers shapes and types, runs the passes and lowers the graph to a plan: every
 * step assigned to a backend and set up for it. opts may be NULL (every backend, opt_level 1). */
weft_status weft_compile(const weft_model *m, const weft_compile_options *opts, weft_plan **out);
void weft_plan_free(weft_plan *p);

/* A plan file (`.weftplan`, schemas/weftplan.proto): the optimised, lowered graph with its weights,
 * versioned and checksummed. Loading needs no ONNX file and gives the same outputs as the plan saved;
 * a truncated, corrupted or wrong-version file, or one for a backend this build lacks, is an error. */
weft_status weft_plan_save(const weft_plan *p, const char *path);
weft_status weft_plan_load(const char *path, weft_plan **out);
weft_status weft_plan_load_from_buffer(const void *buf, size_t len, weft_plan **out);

/* Describes graph input / output i of a plan: name, dtype, rank and dims (-1 where symbolic). The
 * returned name is owned by the plan. */
int weft_plan_num_inputs(const weft_plan *p);
int weft_plan_num_outputs(const weft_plan *p);
weft_status weft_plan_input_info(const weft_plan *p, int i, weft_tensor *info);
/* The symbol naming dim d of graph input i ("num_nodes"), or NULL where that dim is a number. */
const char *weft_plan_input_dim_name(const weft_plan *p, int i, int d);
weft_status weft_plan_output_info(const weft_plan *p, int i, weft_tensor *info);

/* What the compiler made of the model: the backends and how many steps each took, the schedule's op
 * histogram, shared buffers, constants, inputs and outputs (plus every step and the passes' reports
 * with WEFT_DESCRIBE_STEPS / WEFT_DESCRIBE_PASSES). `*out` is malloc'd; free() it. */
weft_status weft_plan_describe(const weft_plan *p, weft_describe_format fmt, char **out);

/* --- running ----------------------------------------------------------------------------------- */

typedef struct weft_session_options {
    int threads; /* threads the kernels may use; 0: one per available core                         */
    int profile; /* nonzero: time every step (weft_session_profile)                                 */
    /* Device backends (cuda): 0 (default) replays the plan's device steps as one CUDA Graph per set of
     * sizes, captured on the first run with those sizes; 1 launches kernel by kernel. */
    int no_graphs;
    /* cuda: 1 lets dense work use TF32 tensor cores (about 1e-3 relative error); default 0: float32. */
    int allow_tf32;
} weft_session_options;

/* A session with default options (one thread per core, no profiling). */
weft_status weft_session_create(const weft_plan *p, weft_session **out);
/* opts may be NULL (the defaults). */
weft_status weft_session_create_with_options(const weft_plan *p, const weft_session_options *opts,
                                             weft_session **out);
void weft_session_free(weft_session *s);

/* Runs the plan. Inputs are matched by name (each `in[i].name` must name a graph input; every
 * required input must be given once). Outputs: if `out[i].name` is NULL, slot i receives graph output
 * i; otherwise the named output. n_out may be smaller than the number of graph outputs. */
weft_status weft_session_run(weft_session *s, const weft_tensor *in, size_t n_in, weft_tensor *out,
                             size_t n_out);

/* Sets the session up for the sizes of `in` without running the plan (`data` may be NULL): shapes
 * inferred, memory planned, kernels' primitives made. weft_session_run does this itself the first time
 * it sees a set of sizes; calling it first moves that work out of the first run. */
weft_status weft_session_reshape(weft_session *s, const weft_tensor *in, size_t n_in);

typedef struct weft_session_stats {
    size_t arena_bytes;       /* the arena planned for the sizes last bound                          */
    size_t arena_bound_bytes; /* its lower bound: the largest total of bytes live at once             */
    size_t dynamic_bytes;     /* memory of values whose sizes depend on data (sized at run time)      */
    size_t scratch_bytes;     /* kernels' scratch                                                     */
    int dynamic_steps;        /* steps whose output sizes are found at run time                       */
    int configs;              /* sets of sizes set up so far (each cached)                             */
    uint64_t runs;
} weft_session_stats;
weft_status weft_session_get_stats(const weft_session *s, weft_session_stats *out);

/* Per-step times of a profiling session, summed over its runs. */
typedef struct weft_step_profile {
    const char *name, *op_type, *backend; /* owned by the plan */
    const char *op_class;                 /* "dense", "message passing", "elementwise", "other" */
    double total_ms;
    uint64_t calls;
} weft_step_profile;
/* Points *out at the session's table of n_steps entries (valid until the next run or free). */
weft_status weft_session_profile(const weft_session *s, const weft_step_profile **out, int *n_steps);

/* --- synthesised inputs ------------------------------------------------------------------------- */

/* Random but valid inputs for a plan, for benchmarks and smoke tests. Every dimension symbol of the
 * graph inputs gets a value: an edge-count symbol (the last dimension of an integer index input)
 * `edges`, every other symbol `nodes`, and a symbol named in dim_names the matching dim_values instead
 * (later entries win). */
typedef struct weft_synth_options {
    int64_t nodes, edges;         /* >= 0 */
    uint64_t seed;                /* the values are a function of the seed and of each input's name */
    const char *const *dim_names; /* n_dims symbols of the graph inputs ("num_con") */
    const int64_t *dim_values;    /* n_dims values, >= 0 */
    int n_dims;
} weft_synth_options;

/* Fills inputs[i] with graph input i of p (n_inputs must be weft_plan_num_inputs(p)): float32 / float64
 * inputs N(0,1) values, bool inputs fair coins, and integer index inputs (int32 / int64 of rank 1, or
 * [R, E]) random multigraphs (uniform, so duplicate edges and isolated nodes occur), each row's values
 * in [0, size of the node set the plan uses that row to index) -- found where the compiled graph uses
 * it as an index, else from the input's name (edge_index__<src>__<rel>__<dst>, pairs__...: x_<src> and
 * x_<dst>), else the inputs' only node-count dimension. An index row none of these place, an input of
 * another type or of unknown rank is an error (WEFT_ERR_UNSUPPORTED) naming the input; a row over an
 * empty node set with edges to place is WEFT_ERR_SHAPE; a name in dim_names that is no symbol of the
 * inputs is WEFT_ERR_INVALID_ARGUMENT. On success name and data of each tensor are malloc'd (release
 * each with weft_tensor_release); on failure nothing is left allocated. The same plan, options and seed
 * give the same values on every machine. */
weft_status weft_plan_synthesize_inputs(const weft_plan *p, const weft_synth_options *o, weft_tensor *inputs,
                                        int n_inputs);

/* How a symbol's value was chosen. */
typedef enum weft_synth_role {
    WEFT_SYNTH_EDGES,  /* an edge count: `edges` */
    WEFT_SYNTH_NODES,  /* the size of a node set an index row ranges over: `nodes` */
    WEFT_SYNTH_OTHER,  /* any other symbol: `nodes` */
    WEFT_SYNTH_GIVEN,  /* named in dim_names */
} weft_synth_role;

typedef struct weft_synth_symbol {
    const char *name; /* owned by the plan */
    int64_t value;
    weft_synth_role role;
} weft_synth_symbol;

/* One row of an index input. */
typedef struct weft_synth_row {
    int input;             /* graph input */
    int row;               /* its row (0 for a rank-1 input) */
    int64_t range;         /* the values lie in [0, range) */
    const char *dim;       /* the symbol that is range, or NULL where the graph gives a number */
    const char *source;    /* how it was found: "graph", "name" or "single input dimension" */
    int uses, conflicts;   /* index uses in the graph naming `dim`, and naming another dimension */
    const char *other_dim; /* one of those others when conflicts > 0 (NULL where a number) */
} weft_synth_row;

typedef struct weft_synth_info {
    int n_inputs;
    weft_tensor *inputs;        /* name (owned by the plan), dtype, rank and dims of each graph input;
                                 * data NULL */
    int n_symbols;
    weft_synth_symbol *symbols; /* every symbol of the inputs: edge counts first, then node counts */
    int n_rows;
    weft_synth_row *rows;       /* every row of every index input */
    int64_t edges;              /* edges per run: the summed lengths of the index inputs but pairs__* */
} weft_synth_info;

/* What weft_plan_synthesize_inputs makes for these options, without making it; the errors are its
 * own but for those about values (types, empty node sets). *out is freed with weft_synth_info_free and
 * borrows names from p: it is valid while p is. */
weft_status weft_plan_synthesize_describe(const weft_plan *p, const weft_synth_options *o, weft_synth_info **out);
void weft_synth_info_free(weft_synth_info *info);

/* --- tensors on disk ---------------------------------------------------------------------------- */

/* Reads a tensor from a `.npy` file (format 1.0-3.0, C order, little-endian) or an ONNX TensorProto
 * (`.pb`; raw_data or typed fields), chosen by content. On success `out->data` and `out->name` (the
 * TensorProto's name, or NULL) are malloc'd: release them with weft_tensor_release. */
weft_status weft_tensor_load(const char *path, weft_tensor *out);
weft_status weft_tensor_load_from_buffer(const void *buf, size_t len, weft_tensor *out);
/* Writes a tensor as `.npy` (format 1.0). */
weft_status weft_tensor_save_npy(const char *path, const weft_tensor *t);
/* Frees data and name of a tensor filled by weft_tensor_load; leaves it zeroed. */
void weft_tensor_release(weft_tensor *t);

#ifdef __cplusplus
}
#endif

/* --- training ---------------------------------------------------------------------------------- */

/* A trainer minimises one scalar output of a model (the loss, computed by the model itself from its
 * inputs — targets included) over the model's float initializers: those become parameters held by the
 * trainer, outside its plans, and every step updates them. `freeze` keeps some fixed. */
typedef enum weft_optimizer_kind { WEFT_OPT_SGD = 1, WEFT_OPT_ADAM, WEFT_OPT_ADAMW } weft_optimizer_kind;
/* What the learning rate does after the warm-up (torch.optim.lr_scheduler's closed forms). */
typedef enum weft_lr_decay_kind { WEFT_DECAY_CONSTANT = 0, WEFT_DECAY_COSINE, WEFT_DECAY_STEP } weft_lr_decay_kind;

typedef struct weft_trainer_options {
    const char *loss;          /* the name of the model output to minimise (one float value); required */
    const char *freeze;        /* comma-separated glob patterns of initializer names kept fixed, or NULL */
    weft_optimizer_kind optimizer; /* default Adam */
    double lr;                 /* learning rate (1e-3); weft_trainer_set_lr changes it between steps */
    double beta1, beta2, eps;  /* Adam / AdamW (0.9, 0.999, 1e-8) */
    double weight_decay;       /* L2 in the gradient for SGD and Adam, decoupled for AdamW (0) */
    double momentum;           /* SGD (0) */
    double clip_norm;          /* clip the gradients' global norm to this (0: no clipping) */
    /* The learning-rate schedule over the steps taken (all zero: lr at every step). The update after k
     * steps uses: during the warm-up (k < warmup_steps) lr * (f + (1 - f) k / warmup_steps) with f =
     * warmup_start (LinearLR); after it, with j = k - warmup_steps, lr (constant), min_lr + (lr - min_lr)
     * (1 + cos(pi j / decay_steps)) / 2 up to j = decay_steps and min_lr after (cosine), or lr *
     * gamma^floor(j / step_size) (step). weft_trainer_set_lr changes lr, the schedule's base. */
    int64_t warmup_steps;
    double warmup_start;
    weft_lr_decay_kind lr_decay;
    int64_t decay_steps;       /* cosine: steps from lr down to min_lr */
    double min_lr;             /* cosine: the floor */
    int64_t step_size;         /* step: steps between decays */
    double gamma;              /* step: the factor at each decay */
    const char *backend;       /* as in weft_compile_options */
    int opt_level;             /* as in weft_compile_options (1) */
    int threads;               /* as in weft_session_options (0: one per core) */
    int profile;               /* nonzero: time every step of the training plan (weft_trainer_profile) */
} weft_trainer_options;

typedef struct weft_trainer weft_trainer;

void weft_trainer_options_default(weft_trainer_options *o);
/* Builds the training plan (forward, loss and backward together) and the forward plan. The model must
 * outlive the trainer (weft_trainer_save_model writes it back with the trained values). A model op on
 * the path from a parameter to the loss without a gradient rule is an error naming the node. */
weft_status weft_trainer_create(const weft_model *m, const weft_trainer_options *o, weft_trainer **out);
void weft_trainer_free(weft_trainer *t);
/* One step on a batch: inputs as for weft_session_run, without the parameters. Computes the loss and the
 * gradients, clips them, and updates the parameters. *loss (may be NULL) gets the loss before the
 * update. A loss or gradient that is not finite leaves the parameters as they were and is an error. */
weft_status weft_trainer_step(weft_trainer *t, const weft_tensor *in, size_t n_in, double *loss);
/* The model's outputs with the current parameters (no update); outputs as for weft_session_run. */
weft_status weft_trainer_eval(weft_trainer *t, const weft_tensor *in, size_t n_in, weft_tensor *out, size_t n_out);
/* Parameter i: its name, shape and values (data may be read and written between steps). */
int weft_trainer_num_params(const weft_trainer *t);
weft_status weft_trainer_param(weft_trainer *t, int i, weft_tensor *view);
weft_status weft_trainer_set_lr(weft_trainer *t, double lr);
int64_t weft_trainer_steps(const weft_trainer *t);
/* The learning rate the next step will use (the schedule's value after weft_trainer_steps steps). */
double weft_trainer_lr(const weft_trainer *t);
/* The gradients' global norm at the last step, before clipping. */
double weft_trainer_grad_norm(const weft_trainer *t);
/* Early stopping's memory: a copy of the parameters as they are now (the best so far), which
 * checkpoints carry, and the parameters set back to it (the optimizer state stays as it is; restoring
 * without a snapshot is an error). */
weft_status weft_trainer_snapshot(weft_trainer *t);
weft_status weft_trainer_restore_snapshot(weft_trainer *t);
/* Metadata written with every model and checkpoint the trainer saves (ONNX metadata_props; read back
 * with weft_model_metadata): the class names, feature scaling and graph options a model was trained
 * with. Setting a key again replaces its value. */
weft_status weft_trainer_set_metadata(weft_trainer *t, const char *key, const char *value);
/* The training plan (forward, loss and backward) as weft_plan_describe shows it; *out: free(). */
weft_status weft_trainer_describe(const weft_trainer *t, weft_describe_format fmt, char **out);
/* Per-step times of the training plan summed over the steps so far (options.profile set), as
 * weft_session_profile gives them. */
weft_status weft_trainer_profile(const weft_trainer *t, const weft_step_profile **out, int *n_steps);
/* Writes the model with the trained values as an ONNX file (atomically: a temporary file, fsync,
 * rename), which any ONNX runtime can run. */
weft_status weft_trainer_save_model(const weft_trainer *t, const char *path);
/* The same for another model sharing the parameters' names (the encoder of a model built around it):
 * each of its initializers named like a parameter gets the trained values. */
weft_status weft_trainer_save_into(const weft_trainer *t, const weft_model *m, const char *path);
/* A checkpoint: the trained model with the optimizer's state and step count and a number of the caller's
 * (an epoch) beside the weights, one ONNX file written atomically, so a process killed at any moment
 * leaves the last complete one. Loading it into a trainer made from the same model and options restores
 * the parameters, the state and the step count exactly: training goes on as if never stopped. Another
 * model's checkpoint, another optimizer's, or a damaged file is an error and changes nothing. */
weft_status weft_trainer_save_checkpoint(const weft_trainer *t, const char *path, int64_t counter);
weft_status weft_trainer_load_checkpoint(weft_trainer *t, const char *path, int64_t *counter);


/* --- link prediction (self-supervised pretraining of a graph encoder) --------------------------- */

/* The encoder (inputs x_<node type> and edge_index__<src>__<rel>__<dst>, outputs h_<node type>) with a
 * dot-product decoder and binary cross-entropy: new inputs sup__<type> (int64 [2, S]: pairs to score)
 * and label__<type> (float [S]: 1 edge, 0 not) per edge type; outputs `loss` (the mean over every pair)
 * and logits__<type>. Train it with weft_trainer (loss "loss"); the encoder's parameters keep their
 * names, so weft_trainer_save_model writes the encoder's weights under them. *out: weft_model_free. */
weft_status weft_linkpred_model(const weft_model *encoder, weft_model **out);

typedef struct weft_linkpred_options {
    double sup_fraction; /* of each edge type's edges, the share that become supervision pairs (e.g. 0.2);
                          * the rest stay in edge_index as message edges */
    int neg_ratio;       /* negatives per supervision edge: same source, a uniformly drawn destination */
    uint64_t seed;       /* the split and the negatives are a function of it */
} weft_linkpred_options;

typedef struct weft_linkpred_batch {
    weft_tensor *t; /* the inputs of the link prediction model */
    size_t n;
    bool *owned;    /* internal */
    char **names;   /* internal */
} weft_linkpred_batch;

/* One batch from one graph's encoder inputs (names as above; the tensors are not changed, features are
 * referred to, not copied). Free with weft_linkpred_batch_free. */
weft_status weft_linkpred_make_batch(const weft_tensor *in, size_t n_in, const weft_linkpred_options *o,
                                     weft_linkpred_batch *out);
void weft_linkpred_batch_free(weft_linkpred_batch *b);

/* Area under the ROC curve of scores against 0/1 labels (ties count half); -1 without both classes. */
double weft_auc(const float *scores, const float *labels, size_t n);

/* --- flow classification (fine-tuning a graph encoder) ------------------------------------------ */

/* The encoder (input x_con [num_con, F], output h_con [num_con, D]) with a classifier head on h_con:
 * Gemm `head.0` (D -> hidden, PyTorch's [out, in] weight) -> LeakyRelu(0.01) -> Gemm `head.2` (hidden ->
 * n_classes) = output `logits` [num_con, n_classes]; inputs added: `labels` int64 [num_con] (a class, or
 * -100: no label, ignored) and `class_weight` float [n_classes]; output `loss`: the weighted softmax
 * cross-entropy averaged over the labelled nodes (ai.weft SoftmaxCrossEntropy). The head's weights are
 * drawn as nn.Linear's, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), from `seed`. Train it with weft_trainer
 * (loss "loss"); weft_trainer_save_model writes encoder, head and loss. *out: weft_model_free. */
weft_status weft_classifier_model(const weft_model *encoder, int n_classes, int hidden, uint64_t seed,
                                  weft_model **out);

#endif /* WEFT_H */
