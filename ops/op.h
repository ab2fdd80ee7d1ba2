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

/* --- errors (ops/status.c) ----------------------------------------------------------------------- */

/* Records a formatted message as this thread's last error and returns `st`. */
weft_status weft_error(weft_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
weft_status weft_error_v(weft_status st, const char *fmt, va_list ap);
/* Prefixes the current message with context: "ctx: <old message>". Returns st. */
weft_status weft_error_wrap(weft_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void weft_error_clear(void);

/* --- dtypes (ops/dtype.c) ------------------------------------------------------------------------ */

bool weft_dtype_is_float(weft_dtype t);   /* float16, bfloat16, float32, float64 */
bool weft_dtype_is_integer(weft_dtype t); /* signed and unsigned integers (not bool) */
bool weft_dtype_is_signed(weft_dtype t);
float weft_f16_to_f32(uint16_t h);
uint16_t weft_f32_to_f16(float f);
float weft_bf16_to_f32(uint16_t h);
uint16_t weft_f32_to_bf16(float f);
/* Element i of a buffer of type t, converted to double / int64 (bool -> 0/1, floats truncated). */
double weft_load_f64(weft_dtype t, const void *data, int64_t i);
int64_t weft_load_i64(weft_dtype t, const void *data, int64_t i);
/* Stores v (converted with C semantics; float16 rounded to nearest even) at element i. */
void weft_store_f64(weft_dtype t, void *data, int64_t i, double v);
void weft_store_i64(weft_dtype t, void *data, int64_t i, int64_t v);

/*
 * Generic kernels: write the loop once with a type parameter and let a dispatch macro instantiate it.
 *
 *   #define WEFT_BODY(T) { const T *x = in->data; T *y = out->data; for (...) y[i] = x[i] + 1; }
 *   WEFT_DISPATCH(in->dtype, WEFT_TYPES_NUMERIC, return weft_op_unsupported_dtype(k, 0));
 *   #undef WEFT_BODY
 *
 * TYPES is one of the lists below: each entry X(enum, ctype). WEFT_TYPES_BITS is for data movement only
 * (float16 / bfloat16 appear as their uint16_t bit patterns, bool as uint8_t); ops that only move data
 * should prefer memcpy by weft_dtype_size().
 */
#define WEFT_TYPES_FLOAT(X) X(WEFT_FLOAT32, float) X(WEFT_FLOAT64, double)
#define WEFT_TYPES_SINT(X) X(WEFT_INT64, int64_t) X(WEFT_INT32, int32_t) X(WEFT_INT16, int16_t) X(WEFT_INT8, int8_t)
#define WEFT_TYPES_UINT(X) X(WEFT_UINT64, uint64_t) X(WEFT_UINT32, uint32_t) X(WEFT_UINT16, uint16_t) X(WEFT_UINT8, uint8_t)
#define WEFT_TYPES_INT(X) WEFT_TYPES_SINT(X) WEFT_TYPES_UINT(X)
#define WEFT_TYPES_NUMERIC(X) WEFT_TYPES_FLOAT(X) WEFT_TYPES_INT(X)
#define WEFT_TYPES_BITS(X) WEFT_TYPES_NUMERIC(X) X(WEFT_BOOL, uint8_t) X(WEFT_FLOAT16, uint16_t) X(WEFT_BFLOAT16, uint16_t)

#define WEFT__CASE(E, T)                                                                           \
    case E: {                                                                                      \
        WEFT_BODY(T)                                                                               \
    } break;
/* Expands WEFT_BODY(T) (defined by the caller) for the dtype `dt` among TYPES; else `otherwise`. */
#define WEFT_DISPATCH(dt, TYPES, otherwise)                                                        \
    do {                                                                                           \
        switch (dt) {                                                                              \
            TYPES(WEFT__CASE)                                                                      \
        default: otherwise;                                                                        \
        }                                                                                          \
    } while (0)

/* --- shapes with symbols ------------------------------------------------------------------------- */

/* A dimension: a known size (sym < 0, v >= 0) or a symbol (sym >= 0; v unused). Unknown sizes are
 * fresh symbols, so "unknown" is just a symbol nobody else shares. */
typedef struct weft_dim {
    int64_t v;
    int32_t sym;
} weft_dim;

/* rank < 0: rank unknown. */
typedef struct weft_shape {
    int rank;
    weft_dim d[WEFT_MAX_RANK];
} weft_shape;

static inline weft_dim weft_dim_num(int64_t v) { weft_dim d = {v, -1}; return d; }
static inline bool weft_dim_known(weft_dim d) { return d.sym < 0; }
static inline bool weft_dim_eq(weft_dim a, weft_dim b)
{
    return a.sym < 0 ? (b.sym < 0 && a.v == b.v) : (a.sym == b.sym);
}
bool weft_shape_known(const weft_shape *s);        /* rank known and every dim a number */
int64_t weft_shape_numel(const weft_shape *s);     /* -1 unless known; -2 if it overflows int64 */
void weft_shape_format(const weft_shape *s, char *buf, size_t n); /* "[N,3]"; symbols as names if set */

/* --- attributes ---------------------------------------------------------------------------------- */

/* Numbering of ONNX's AttributeProto.AttributeType. */
typedef enum weft_attr_type {
    WEFT_ATTR_UNDEFINED = 0,
    WEFT_ATTR_FLOAT = 1,
    WEFT_ATTR_INT = 2,
    WEFT_ATTR_STRING = 3,
    WEFT_ATTR_TENSOR = 4,
    WEFT_ATTR_GRAPH = 5,
    WEFT_ATTR_FLOATS = 6,
    WEFT_ATTR_INTS = 7,
    WEFT_ATTR_STRINGS = 8,
    WEFT_ATTR_TENSORS = 9,
    WEFT_ATTR_GRAPHS = 10,
    WEFT_ATTR_SPARSE_TENSOR = 11,
    WEFT_ATTR_SPARSE_TENSORS = 12,
    WEFT_ATTR_TYPE_PROTO = 13,
    WEFT_ATTR_TYPE_PROTOS = 14
} weft_attr_type;

struct weft_graph; /* owned by the compiler; opaque here */

typedef struct weft_attr {
    char *name;
    weft_attr_type type;
    float f;
    int64_t i;
    char *s;      /* STRING: NUL-terminated copy (s_len bytes before the NUL) */
    size_t s_len;
    int n;        /* element count of the list forms */
    float *floats;
    int64_t *ints;
    char **strings;
    weft_tensor *t;          /* TENSOR: one; TENSORS: n of them (data owned by the attribute) */
    struct weft_graph *g;    /* GRAPH */
    struct weft_graph **gs;  /* GRAPHS: n of them */
} weft_attr;

/* What an op knows of the node it runs as. */
typedef struct weft_node_info {
    const char *name;    /* node name, or a generated "<op>_<index>" */
    const char *op_type;
    const char *domain;  /* "" for the default ONNX domain */
    int opset;           /* the model's opset for the node's domain */
    int n_attrs;
    const weft_attr *attrs;
} weft_node_info;

const weft_attr *weft_attr_find(const weft_node_info *n, const char *name);
int64_t weft_attr_int(const weft_node_info *n, const char *name, int64_t def);
float weft_attr_float(const weft_node_info *n, const char *name, float def);
const char *weft_attr_string(const weft_node_info *n, const char *name, const char *def);
/* List attributes: returns the count and sets *out, or -1 (and *out = NULL) when absent. */
int weft_attr_ints(const weft_node_info *n, const char *name, const int64_t **out);
int weft_attr_floats(const weft_node_info *n, const char *name, const float **out);

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
} weft_kernel_ctx;

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
};

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
