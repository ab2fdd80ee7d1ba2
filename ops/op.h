/*
 * ops/op.h — what an operator is to weft.
 *
 * Every operator is one `weft_op_def`: its schema (name, domain, opset range, input/output counts), a
 * shape-and-type inference function and a reference kernel. The definitions live in one file per op
 * family (ops/elementwise.c, ops/gather.c, ...) and are listed in ops/registry.c.
 *
 * ops/ knows nothing of graphs: an op sees its attributes, the dtypes and shapes of its inputs, and at
 * run time their data. The same `infer` function serves both
 *   - the compiler, where dims may be symbolic and input data is known only for constants, and
 *   - the runtime, where every dim is a number and every input's data is available,
 * so an op states its shape rule once.
 */
#ifndef WEFT_OPS_OP_H
#define WEFT_OPS_OP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft.h"
#include "../base/attr.h"
#include "../base/dtype.h"
#include "../base/shape.h"
#include "../base/status.h"

/* --- inference ----------------------------------------------------------------------------------- */

typedef struct weft_infer_ctx {
    const weft_node_info *node;
    int n_in;                     /* inputs given, counting absent optional ones in the middle    */
    const weft_dtype *in_dtype;   /* WEFT_UNDEFINED for an absent optional input                  */
    const weft_shape *in_shape;
    const void *const *in_data;   /* contents when known (constants; always at run time), else NULL */
    int n_out;
    weft_dtype *out_dtype;        /* to fill */
    weft_shape *out_shape;        /* to fill */
    /* Returns a fresh symbol for an unknown dimension. Never called at run time by a correct infer:
     * at run time all inputs are known, so every dim can be computed. */
    int32_t (*new_sym)(void *user);
    void *user;
    /* The session's scratch memory at run time (NULL at compile time), for the few ops whose output
     * shape needs real work on the data (Unique, NonMaxSuppression): use weft_infer_scratch. */
    void *(*scratch)(void *user, size_t bytes);
    void *scratch_user;
} weft_infer_ctx;

/* `bytes` of temporary memory for an infer function: the session's scratch when there is one (the run
 * loop then allocates nothing), else a fresh allocation returned in *owned too, for the caller to free().
 * NULL on failure. */
void *weft_infer_scratch(weft_infer_ctx *c, size_t bytes, void **owned);

static inline bool weft_in_present(const weft_infer_ctx *c, int i)
{
    return i < c->n_in && c->in_dtype[i] != WEFT_UNDEFINED;
}
static inline weft_dim weft_dim_unknown(weft_infer_ctx *c)
{
    weft_dim d = {0, c->new_sym(c->user)};
    return d;
}
/* Reads an integer input (int32 or int64, any shape) whose data is known into out[0..max). Returns
 * the element count, -1 if the data is unknown, or sets an error and returns -2. */
int weft_infer_int_values(weft_infer_ctx *c, int i, int64_t *out, int max);
/* Output 0 gets input 0's dtype and shape. */
weft_status weft_infer_same_as_input0(weft_infer_ctx *c);
/* Input i must be a float type, else an error naming the input and its dtype. */
weft_status weft_infer_need_float(const weft_infer_ctx *c, int i);
/* Input i (called `what` in the error) must be int32 or int64. */
weft_status weft_infer_need_index(const weft_infer_ctx *c, int i, const char *what);
/* Numpy-style multidirectional broadcast of a[0..n) into out, with a clear error on mismatch. */
weft_status weft_infer_broadcast(weft_infer_ctx *c, const weft_shape *const *shapes, int n,
                                 weft_shape *out);
/* Normalises an axis in [-rank, rank) (or [-rank-1, rank] when `inclusive`), else a clear error. */
weft_status weft_axis(const weft_node_info *n, int64_t axis, int rank, bool inclusive, int *out);

/* --- kernels ------------------------------------------------------------------------------------- */

/* A tensor as a kernel sees it: dense, row-major, shape fully known. */
typedef struct weft_tview {
    weft_dtype dtype;  /* WEFT_UNDEFINED for an absent optional input */
    int rank;
    int64_t dims[WEFT_MAX_RANK];
    int64_t numel;
    void *data;
} weft_tview;

typedef struct weft_kernel_ctx {
    const weft_node_info *node;
    int n_in;
    const weft_tview *in;
    int n_out;
    weft_tview *out;      /* dtype, dims and buffer already set from infer */
    /* Scratch memory owned by the session, valid until the kernel returns. It grows when needed and is
     * kept between runs, so the steady state allocates nothing. NULL on allocation failure. There is
     * one scratch block: a second call may move it, so take everything a kernel needs in one call. */
    void *(*scratch)(void *user, size_t bytes);
    void *user;
    /* Threads the kernel may use (>= 1; 0 reads as 1). Kernels that parallelise split their work into
     * at most this many parts and give the same result whatever the count. */
    int threads;
    /* The session's queue for the step's buffer type (a device backend's stream; NULL on the host). */
    void *queue;
} weft_kernel_ctx;

/* The thread count a kernel should use (never below 1). */
static inline int weft_kthreads(const weft_kernel_ctx *k) { return k->threads > 1 ? k->threads : 1; }

static inline bool weft_kin_present(const weft_kernel_ctx *k, int i)
{
    return i < k->n_in && k->in[i].dtype != WEFT_UNDEFINED;
}
/* "node 'X' (Op): input i: dtype float16 is not supported" */
weft_status weft_op_unsupported_dtype(const weft_kernel_ctx *k, int input);
/* Formats an error prefixed with the node's name and op type. */
weft_status weft_op_error(const weft_node_info *n, weft_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Runs `body` with `body_scratch` bytes of scratch; when an operand is float16 / bfloat16 the body sees
 * float32 copies and the outputs are rounded back (ops/widen.c). The body must not call k->scratch. */
typedef weft_status (*weft_math_body)(weft_kernel_ctx *k, void *scratch);
weft_status weft_math_run_widened(weft_kernel_ctx *k, size_t body_scratch, weft_math_body body);
/* In such a body: the dtype output o really has (float16 / bfloat16 where the body sees float32), for
 * an op whose own arithmetic rounds after every step (a scatter that reduces into the output in place)
 * and which rounds so with weft_round_to. Elsewhere: output o's dtype. */
weft_dtype weft_widened_out_dtype(const weft_kernel_ctx *k, int o);
/* v rounded to the precision of dtype t (float16 or bfloat16; any other dtype leaves v as it is). */
float weft_round_to(weft_dtype t, float v);

/* Element i of an int32 / int64 index tensor. */
static inline int64_t weft_index_at(const weft_tview *t, int64_t i)
{
    return t->dtype == WEFT_INT32 ? ((const int32_t *)t->data)[i] : ((const int64_t *)t->data)[i];
}
/* Checks index value v against an axis of size n (v in [-n, n)) and makes it non-negative; otherwise
 * WEFT_ERR_INDEX naming the value, the axis and its size. */
weft_status weft_index_fix(const weft_node_info *node, int64_t v, int axis, int64_t n, int64_t *out);

/* Row-major strides of a shape (in elements). */
void weft_strides(const int64_t *dims, int rank, int64_t *strides);
/* Strides for reading a tensor of shape `dims` (rank r) broadcast to `out_dims` (rank R >= r): 0 along
 * broadcast axes. */
void weft_broadcast_strides(const int64_t *dims, int r, const int64_t *out_dims, int R, int64_t *strides);

/* --- the definition ------------------------------------------------------------------------------ */

enum {
    /* Executed by the runtime rather than by `run` (If, Loop, Scan): the op needs subgraphs. */
    WEFT_OP_CONTROL_FLOW = 1u << 0,
    /* The output's shape depends on input values (NonZero, TopK, Range, ...), not just shapes. */
    WEFT_OP_VALUE_DEPENDENT_SHAPE = 1u << 1,
    /* Has side effects or randomness: never constant-folded. */
    WEFT_OP_NO_FOLD = 1u << 2,
    /* Reads only its inputs' dtypes and dims, never their data (Shape, Size): an input on a device
     * needs no copy to the host for it. */
    WEFT_OP_DIMS_ONLY = 1u << 3,
};

struct weft_grad_ctx; /* ops/grad.h */

/* min/max counts: a max of -1 means "any number" (variadic). */
typedef struct weft_op_def {
    const char *name;
    const char *domain;  /* "" for ai.onnx */
    int since_version;   /* first opset this definition serves */
    int until_version;   /* last opset it serves; 0 = every later one */
    int min_inputs, max_inputs;
    int min_outputs, max_outputs;
    unsigned flags;
    weft_status (*infer)(weft_infer_ctx *c);
    weft_status (*run)(weft_kernel_ctx *k);
    /* Bit i set: input i is read on the host whatever backend runs the step (shape tensors, counts,
     * axes: values `infer` reads). A backend whose memory is not host memory gets those inputs copied
     * to the host by lowering, never the other way. Zero for most ops. */
    unsigned host_inputs;
    /* The gradient rule (ops/grad.h): emits the ops computing the gradients of the inputs from those of
     * the outputs. NULL: the op has none, and autodiff refuses a graph where it is on the way from a
     * parameter to the loss. Tables list it after host_inputs (positionally) or by name. */
    weft_status (*grad)(struct weft_grad_ctx *c);
} weft_op_def;

/* The registry (ops/registry.c): the definition of `name` in `domain` for `opset`, or NULL. */
const weft_op_def *weft_op_find(const char *domain, const char *name, int opset);
/* True when some opset of the domain has the op (to tell "unknown op" from "opset out of range"). */
bool weft_op_known(const char *domain, const char *name);
/* Iterates over every definition: returns the i-th, or NULL past the end. */
const weft_op_def *weft_op_at(int i);

/* Each family file exports a table and its length; registry.c lists the families. */
#define WEFT_OP_FAMILY(fam)                                                                        \
    extern const weft_op_def weft_ops_##fam[];                                                     \
    extern const int weft_ops_##fam##_count;

#endif
