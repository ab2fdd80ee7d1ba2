/*
 * runtime/session.h — a session's state, shared by the executor (session.c) and control flow
 * (control.c). Internal: users see only the opaque weft_session.
 */
#ifndef WEFT_RUNTIME_SESSION_H
#define WEFT_RUNTIME_SESSION_H

#include "../compiler/plan.h"

/* Memory that grows when a larger tensor needs it and is kept between runs: the steady state of a
 * session allocates nothing. */
typedef struct weft_buffer {
    void *data;
    size_t cap;
} weft_buffer;

/* Per Loop / Scan step: loop-carried state and per-iteration inputs. */
typedef struct weft_cf_state {
    int n;
    weft_buffer *carry;   /* current value of each loop-carried / state variable */
    weft_tview *carry_v;
    weft_buffer *slice;   /* Scan: the current slice of each scan input */
    weft_tview *body_in;  /* the body's inputs, by position */
    int64_t iter;
    uint8_t cond;
} weft_cf_state;

struct weft_session {
    const struct weft_plan *plan;
    struct weft_session *parent;
    weft_tview *views;      /* per slot: the tensor it holds in the current run */
    weft_buffer *buffers;   /* per plan buffer */
    weft_buffer *discard;   /* per output position: room for outputs nobody reads */
    weft_buffer scratch;    /* kernels' temporary memory */
    /* per-step arrays, sized for the widest step */
    weft_dtype *in_dt, *out_dt;
    weft_shape *in_sh, *out_sh;
    const void **in_data;
    weft_tview *in_v, *out_v;
    int64_t *sym_val;       /* binding: value of each symbol in this run, -1 if unset */
    int *sym_from;          /* binding: which input set it */
    struct weft_session ***sub; /* [step][k]: sessions for the step's subplans */
    weft_cf_state **cf;         /* [step]: Loop / Scan state, else NULL */
};

/* Makes `b` hold at least `bytes` (64-byte aligned). Contents are not kept. */
weft_status weft_buffer_reserve(weft_buffer *b, size_t bytes);
void weft_buffer_release(weft_buffer *b);

/* Runs a (sub)plan. `inputs[i]` binds the plan's input i (no checks: the caller checked). */
weft_status weft_session_exec(weft_session *s, const weft_tview *inputs);
/* Points slot `slot`'s view at a buffer big enough for dtype/rank/dims (its plan buffer, or a discard
 * buffer for an unused output). */
weft_status weft_session_alloc_slot(weft_session *s, int slot, int out_pos, weft_dtype dt, int rank,
                                    const int64_t *dims, weft_tview *view);
/* Executes a control-flow step (runtime/control.c). */
weft_status weft_control_run(weft_session *s, int step);
weft_status weft_control_state_new(const weft_step *st, weft_cf_state **out);
void weft_control_state_free(weft_cf_state *cf);

#endif
