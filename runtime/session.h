/*
 * runtime/session.h — a session's state, shared by the executor (session.c), its memory plan
 * (arena.c) and control flow (control.c). Internal: users see only the opaque weft_session.
 */
#ifndef WEFT_RUNTIME_SESSION_H
#define WEFT_RUNTIME_SESSION_H

#include "../compiler/plan.h"
#include "../ops/control.h"

/* Memory that grows when a larger tensor needs it and is kept between runs: the steady state of a
 * session allocates nothing. */
typedef struct weft_buffer {
    void *data;
    size_t cap;
} weft_buffer;

/* How a step runs under one set of sizes. */
enum {
    WEFT_MODE_STATIC = 0, /* shapes and addresses fixed when the sizes were set up               */
    WEFT_MODE_SKIP,       /* shape-only: computed when the sizes were set up, nothing to do now   */
    WEFT_MODE_DYNAMIC,    /* output sizes depend on data: inferred on every run                   */
};

/* One set of sizes a session has set up: every static value's shape and arena offset, which steps
 * run how, and the backends' state for those shapes. Made the first time the sizes are seen
 * (weft_config_setup, arena.c) and cached. */
typedef struct weft_config {
    int64_t *key;         /* rank and dims of every graph input, in order */
    int key_len;
    weft_tview *views;    /* per slot: static values' shapes (data relative to `arena_base`) */
    uint8_t *mode;        /* per step: WEFT_MODE_* */
    uint8_t *dynamic;     /* per slot: 1 when its size is found at run time */
    void **state;         /* per step: backend state for these shapes (static steps) */
    void **shape_data;    /* per slot: shape-only values, computed at set-up (owned) */
    void *arena_base[WEFT_MAX_BACKENDS]; /* per buffer type: the arena address the views were laid out for */
    size_t arena_bytes, bound_bytes;     /* over every buffer type */
    int dynamic_steps;
    uint64_t last_used;
    /* Device segments: maximal runs of steps that only enqueue work on one device queue (static kernel
     * steps of a device backend, copies within the device), replayed as one captured graph each. */
    int n_segs;
    struct weft_segment {
        int first, last; /* steps [first, last] */
        int buft;        /* whose queue */
        void *graph;     /* captured on the first run of these sizes; NULL until then */
        bool failed;     /* capture refused: run the steps one by one */
    } *segs;
    int *seg_at;         /* per step: the segment starting there, else -1 */
} weft_config;

#define WEFT_MAX_CONFIGS 8

struct weft_session {
    const struct weft_plan *plan;
    struct weft_session *parent;
    weft_tview *views;      /* per slot: the tensor it holds in the current run */
    weft_tview *const_views; /* per slot: constants (the plan's data), set once */
    weft_buffer *buffers;   /* per plan buffer: values sized at run time */
    weft_buffer scratch;    /* kernels' temporary memory */
    weft_buffer arenas[WEFT_MAX_BACKENDS]; /* per buffer type of the plan: static values of the current sizes */
    weft_buffer *out_copy;  /* per graph output: a copy when it would alias a constant or an input */
    /* per-step arrays, sized for the widest step */
    weft_dtype *in_dt, *out_dt;
    weft_shape *in_sh, *out_sh;
    const void **in_data;
    weft_tview *in_v, *out_v;
    weft_tview *bind_v;     /* per graph input: bound this run */
    char *bound;
    int64_t *key;           /* the key of this run's sizes */
    int64_t *sym_val;       /* binding: value of each symbol in this run, -1 if unset */
    int *sym_from;          /* binding: which input set it */
    struct weft_session ***sub; /* [step][k]: sessions for the step's subplans */
    weft_control_state **cf;    /* [step]: control-flow state (ops/control.h), else NULL */
    void **dyn_state;           /* [step]: backend state of steps sized at run time */
    weft_buffer *uploads;       /* [step]: a constant copied to another buffer type, once */
    uint64_t *dyn_key;          /* [step]: the shapes dyn_state was made for */
    weft_config configs[WEFT_MAX_CONFIGS];
    int n_configs;
    weft_config *cur;
    int threads;
    bool profile;
    weft_step_profile *prof;   /* [step], when profiling */
    uint64_t runs, clock;
    /* device queues, per buffer type of the (top) plan: opened by the top session, borrowed by the
     * sessions of subplans */
    void *queues[WEFT_MAX_BACKENDS];
    bool owns_queues;
    void **step_queue;          /* [step]: the queue its backend (or copy) enqueues on, else NULL */
    /* inputs and outputs in device memory (weft_tensor.on_device) */
    int dev_buft;               /* the buffer type of the plan's first device backend, -1 if none */
    bool *in_dev;               /* [input]: given on the device this run */
    bool *in_host_read;         /* [input]: some step reads it on the host */
    weft_buffer *in_stage;      /* [input]: a host copy of a device input that a host step reads */
    int *out_copy_step;         /* [output]: the copy to the host that makes it, else -1 */
    weft_buffer *out_dev;       /* [output]: a device copy of an output made on the host */
    bool *skip_step;            /* [step]: not run this run (a download the caller does not want) */
    bool graphs;                /* replay device segments as captured graphs */
};

/* Makes `b` hold at least `bytes` (64-byte aligned). Contents are not kept. */
weft_status weft_buffer_reserve(weft_buffer *b, size_t bytes);
void weft_buffer_release(weft_buffer *b);
/* The same in memory of buffer type t (host memory when t is the host's). */
weft_status weft_buffer_reserve_on(weft_buffer *b, const weft_buffer_type *t, size_t bytes);
void weft_buffer_release_on(weft_buffer *b, const weft_buffer_type *t);


/* Sets up a configuration for the sizes bound in s->bind_v (runtime/arena.c): infers every static
 * shape, computes shape-only values, plans the arena, makes the backends' state. */
weft_status weft_config_setup(weft_session *s, weft_config *cfg);
void weft_config_clear(const struct weft_plan *p, weft_config *cfg);
/* The arena plan for values with lifetimes [first[i], last[i]] and sizes bytes[i]: offsets (64-byte
 * aligned) and the total; *bound gets the largest total of bytes live at once. */
weft_status weft_arena_plan(int n, const int *first, const int *last, const size_t *bytes, size_t *offset,
                            size_t *total, size_t *bound);

#endif
