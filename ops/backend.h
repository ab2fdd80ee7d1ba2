/*
 * ops/backend.h — what a backend is to weft.
 *
 * A backend runs steps of a plan. It says at lowering which steps it takes (`supports`), sets a step up
 * once per plan (`prepare`: attributes parsed, constant weights packed, kernels chosen), adapts it when
 * the sizes bound to the plan change (`reshape`: primitives for those shapes), and runs it (`run`) as
 * often as the caller likes. The lifecycle follows XNNPACK's create / reshape / run; the table of
 * function pointers plus a context follows ggml's `ggml_backend_i`.
 *
 * Lowering walks a priority list of backends and gives each step to the first one whose `supports`
 * says yes; `ref` (ops/ref/) takes every op that has a reference kernel, so it closes every list.
 * Memory lives in buffer types: host memory for the CPU backends; a device backend brings its own and
 * lowering inserts copy steps where a value crosses from one buffer type to another. Inputs an op
 * declares in `weft_op_def.host_inputs` always stay on the host.
 *
 * ops/ knows nothing of graphs: a backend sees a step as a `weft_step_desc` (the op, its node, the
 * dtypes and compile-time shapes of its operands, and the contents of constant operands).
 */
#ifndef WEFT_OPS_BACKEND_H
#define WEFT_OPS_BACKEND_H

#include "op.h"

/* Where bytes live. `copy` directions: */
enum { WEFT_COPY_TO_DEVICE = 0, WEFT_COPY_TO_HOST = 1, WEFT_COPY_ON_DEVICE = 2 };

typedef struct weft_buffer_type {
    const char *name;   /* "host", "cuda", ... */
    bool is_host;       /* plain host memory that kernels of every host backend can read */
    size_t align;       /* alignment of alloc's blocks */
    weft_status (*alloc)(void *ctx, size_t bytes, void **out);
    void (*free)(void *ctx, void *p);
    /* Copies n bytes between host memory and this buffer type's memory (or within it). `queue` is the
     * session's queue (below), NULL outside a run (uploads of constants). A copy to the host has landed
     * when copy returns; a copy to the device may still be in flight on the queue. */
    weft_status (*copy)(void *ctx, void *queue, void *dst, const void *src, size_t n, int direction);
    void *ctx;
    /* --- device buffer types with a queue of asynchronous work (all NULL for host memory) --- */
    /* A session's queue (a stream and what goes with it); `opts` are the session's options. */
    weft_status (*queue_open)(void *ctx, const struct weft_session_options *opts, void **queue);
    /* Waits for the queue's work and reports what the device found wrong during the run (an index out
     * of range), as an error naming the step. Called when a run ends. */
    weft_status (*queue_sync)(void *queue);
    /* Called when a run starts (clears the device's error record). */
    weft_status (*queue_begin)(void *queue);
    void (*queue_close)(void *queue);
    /* Records the work enqueued between capture_begin and capture_end as one replayable graph (CUDA
     * Graphs): the steps in between enqueue only. NULL when the buffer type cannot capture. */
    weft_status (*capture_begin)(void *queue);
    weft_status (*capture_end)(void *queue, void **graph);
    weft_status (*replay)(void *queue, void *graph);
    void (*graph_free)(void *graph);
} weft_buffer_type;

/* The host buffer type every CPU backend shares (64-byte aligned blocks). */
extern const weft_buffer_type weft_buffer_host;

/* A step as lowering shows it to a backend. Arrays are indexed by input / output position. */
typedef struct weft_step_desc {
    const weft_op_def *def;
    const weft_node_info *node;
    int n_in, n_out;
    const weft_dtype *in_dtype;      /* WEFT_UNDEFINED for an absent optional input           */
    const weft_shape *in_shape;      /* as inferred at compile time: numbers and symbols        */
    const void *const *in_const;     /* the contents of constant inputs (weights), else NULL   */
    const weft_dtype *out_dtype;
    const weft_shape *out_shape;
} weft_step_desc;

typedef struct weft_backend {
    const char *name;
    const weft_buffer_type *buft;
    /* At lowering: does this backend take the step? Must not allocate or fail. */
    bool (*supports)(const weft_step_desc *s);
    /* Once per plan and step: returns an immutable object shared by every session of the plan (read
     * from several threads at once). The descriptor and its arrays live only for the call; keep copies
     * of what is needed later. */
    weft_status (*prepare)(const weft_step_desc *s, void **prepared);
    /* Once per session and set of bound sizes: `k` carries the operands' real dtypes and dims (data
     * pointers are not valid yet). Makes per-session state (primitives for these shapes); *state may
     * stay NULL. May be NULL when the backend keeps no state. */
    weft_status (*reshape)(const void *prepared, const weft_kernel_ctx *k, void **state);
    /* Every run. */
    weft_status (*run)(const void *prepared, void *state, weft_kernel_ctx *k);
    void (*release)(void *prepared);
    void (*release_state)(void *state);
    /* May be NULL (always usable). NULL when the backend can run here, else why not (a device backend
     * built on a machine without its device: it still lowers and describes plans). */
    const char *(*unavailable)(void);
} weft_backend;

/* --- the registry of backends (ops/backends.c) ------------------------------------------------------ */

/* The backends this build has, in the default priority order ("onednn", "openblas", ..., "ref"). */
int weft_backend_count(void);
const weft_backend *weft_backend_at(int i);
/* By name, or NULL. */
const weft_backend *weft_backend_find(const char *name);
/* Parses a priority list ("onednn", "openblas,ref", "auto") into backends, `ref` appended when absent.
 * "auto" (or NULL / "") is every backend of this build that can run here, in the default order. A list
 * naming device backends only ("cuda") gets this build's host backends before ref, so the steps the
 * device does not take run on the fast CPU kernels; a list naming a host backend is taken as written. A name this build does not
 * have is WEFT_ERR_UNSUPPORTED naming the backends it has. Returns the count in *n. */
weft_status weft_backend_parse_list(const char *list, const weft_backend **out, int max, int *n);

/* The reference backend (ops/ref/): every op's own `run`. */
extern const weft_backend weft_backend_ref;

#endif
