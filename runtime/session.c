/*
 * runtime/session.c — sessions: bind inputs (checking dtypes, ranks and symbolic dims), run the plan's
 * steps through their backends, hand out outputs.
 *
 * Set up once, run many: the first time a session sees a set of input sizes it sets them up
 * (runtime/arena.c: shapes inferred, shape-only values computed, arena planned, backends' state made)
 * and caches the result; a run with sizes seen before finds its set-up by comparing the inputs' dims and
 * runs the steps with fixed shapes and addresses — no inference, no lookups by name, no allocation.
 * Steps whose output sizes depend on data are inferred on each run, into buffers that only grow.
 *
 * Subgraph sessions (If / Loop / Scan bodies) run every step that way: their shapes change between
 * iterations.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "session.h"

#include "../base/mem.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

weft_status weft_buffer_reserve(weft_buffer *b, size_t bytes)
{
    if (bytes <= b->cap && b->data) return WEFT_OK;
    size_t cap = bytes < 64 ? 64 : bytes;
    if (cap > SIZE_MAX - 63) return weft_error(WEFT_ERR_NOMEM, "cannot allocate %zu bytes", bytes);
    cap = (cap + 63) & ~(size_t)63;
    void *p = weft_mem_alloc(cap);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
    weft_mem_free(b->data);
    b->data = p;
    b->cap = cap;
    return WEFT_OK;
}

void weft_buffer_release(weft_buffer *b)
{
    weft_mem_free(b->data);
    b->data = NULL;
    b->cap = 0;
}

weft_status weft_buffer_reserve_on(weft_buffer *b, const weft_buffer_type *t, size_t bytes)
{
    if (!t || t == &weft_buffer_host) return weft_buffer_reserve(b, bytes);
    if (bytes <= b->cap && b->data) return WEFT_OK;
    void *q = NULL;
    weft_status st = t->alloc(t->ctx, bytes ? bytes : 1, &q);
    if (st) return weft_error_wrap(st, "%s memory", t->name);
    if (b->data) t->free(t->ctx, b->data);
    b->data = q;
    b->cap = bytes ? bytes : 1;
    return WEFT_OK;
}

void weft_buffer_release_on(weft_buffer *b, const weft_buffer_type *t)
{
    if (!t || t == &weft_buffer_host) { weft_buffer_release(b); return; }
    if (b->data) t->free(t->ctx, b->data);
    b->data = NULL;
    b->cap = 0;
}

static void *scratch_fn(void *user, size_t bytes)
{
    weft_session *s = user;
    return weft_buffer_reserve(&s->scratch, bytes) == WEFT_OK ? s->scratch.data : NULL;
}

static int default_threads(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* --- control flow (ops/control.h): what a control-flow step may ask of its session ---------------- */

/* The step's checks and state, made once; its subplans are numbered as in step->sub. */
static weft_status control_prepare(const weft_step *step, weft_control_state **out)
{
    weft_control_sig sig = {weft_control_kind_of(step->def), &step->info, step->n_in, step->in, step->n_out};
    for (int r = 0; r < WEFT_CONTROL_MAX_SUBS; r++) sig.sub[r].index = -1;
    for (int k = 0; k < step->n_sub; k++) {
        int r = weft_control_role(sig.kind, step->sub_names[k]);
        if (r >= 0) sig.sub[r] = (weft_control_sub){k, step->sub[k]->n_inputs, step->sub[k]->n_outputs};
    }
    return weft_control_prepare(&sig, out);
}

typedef struct control_call {
    weft_session *s;
    int step;
} control_call;

static weft_status session_exec(weft_session *s, const weft_tview *inputs);
static weft_status alloc_slot(weft_session *s, int slot, weft_dtype dt, int rank, const int64_t *dims, weft_tview *view);

static weft_status control_run_sub(void *user, int sub, const weft_tview *inputs, weft_tview *outputs)
{
    const control_call *c = user;
    weft_session *child = c->s->sub[c->step][sub];
    weft_status st = session_exec(child, inputs);
    if (st) return st;
    for (int o = 0; o < child->plan->n_outputs; o++) outputs[o] = child->views[child->plan->outputs[o]];
    return WEFT_OK;
}

static weft_status control_alloc(void *user, int o, weft_dtype dt, int rank, const int64_t *dims, weft_tview *view)
{
    const control_call *c = user;
    int slot = c->s->plan->steps[c->step].out[o];
    weft_status st = alloc_slot(c->s, slot, dt, rank, dims, view);
    if (st == WEFT_OK && slot >= 0) c->s->views[slot] = *view;
    return st;
}

static void control_declared(void *user, int sub, int o, weft_dtype *dt, weft_shape *shape)
{
    const control_call *c = user;
    const struct weft_plan *bp = c->s->sub[c->step][sub]->plan;
    *dt = bp->slots[bp->outputs[o]].dtype;
    *shape = bp->slots[bp->outputs[o]].shape;
}

static weft_status control_step(weft_session *s, int i)
{
    const weft_step *step = &s->plan->steps[i];
    for (int k = 0; k < step->n_in; k++) {
        if (step->in[k] < 0) memset(&s->in_v[k], 0, sizeof s->in_v[k]);
        else s->in_v[k] = s->views[step->in[k]];
    }
    control_call call = {s, i};
    weft_control_host host = {control_run_sub, control_alloc, control_declared, &call};
    return weft_control_run(s->cf[i], &step->info, s->in_v, &host);
}

/* --- create / free ------------------------------------------------------------------------------- */

/* The queue step i enqueues on: its backend's (a kernel) or the device side's (a copy); NULL on the host. */
static void *queue_of_step(const weft_session *s, const weft_step *step)
{
    const weft_buffer_type *t = step->kind == WEFT_STEP_KERNEL ? step->backend->buft
                                : step->kind == WEFT_STEP_COPY ? step->copy_buft : NULL;
    if (!t || t->is_host) return NULL;
    const weft_session *root = s;
    while (root->parent) root = root->parent;
    for (int b = 0; b < root->plan->n_bufts; b++)
        if (root->plan->bufts[b] == t) return root->queues[b];
    return NULL;
}

static weft_status session_new(const struct weft_plan *p, weft_session *parent, int threads, bool profile,
                               const weft_session_options *opts, weft_session **out)
{
    *out = NULL;
    weft_session *s = calloc(1, sizeof *s);
    if (!s) return weft_error(WEFT_ERR_NOMEM, "out of memory creating a session");
    s->plan = p;
    s->parent = parent;
    s->threads = threads;
    s->profile = profile;
    size_t nin = (size_t)p->max_step_in + 1, nout = (size_t)p->max_step_out + 1;
    size_t V = (size_t)p->n_slots + 1, N = (size_t)p->n_steps + 1, I = (size_t)p->n_inputs + 1;
    s->views = calloc(V, sizeof *s->views);
    s->const_views = calloc(V, sizeof *s->const_views);
    s->buffers = calloc((size_t)p->n_buffers + 1, sizeof *s->buffers);
    s->out_copy = calloc((size_t)p->n_outputs + 1, sizeof *s->out_copy);
    s->in_dt = calloc(nin, sizeof *s->in_dt);
    s->in_sh = calloc(nin, sizeof *s->in_sh);
    s->in_data = calloc(nin, sizeof *s->in_data);
    s->in_v = calloc(nin, sizeof *s->in_v);
    s->out_dt = calloc(nout, sizeof *s->out_dt);
    s->out_sh = calloc(nout, sizeof *s->out_sh);
    s->out_v = calloc(nout, sizeof *s->out_v);
    s->bind_v = calloc(I, sizeof *s->bind_v);
    s->bound = calloc(I, 1);
    s->key = calloc(I * (WEFT_MAX_RANK + 1), sizeof *s->key);
    int nsym = p->syms ? p->syms->n : 0;
    s->sym_val = calloc((size_t)nsym + 1, sizeof *s->sym_val);
    s->sym_from = calloc((size_t)nsym + 1, sizeof *s->sym_from);
    s->sub = calloc(N, sizeof *s->sub);
    s->cf = calloc(N, sizeof *s->cf);
    s->dyn_state = calloc(N, sizeof *s->dyn_state);
    s->dyn_key = calloc(N, sizeof *s->dyn_key);
    s->uploads = calloc(N, sizeof *s->uploads);
    s->prof = profile ? calloc(N, sizeof *s->prof) : NULL;
    s->step_queue = calloc(N, sizeof *s->step_queue);
    s->graphs = !(opts && opts->no_graphs);
    weft_status st = WEFT_OK;
    if (!s->step_queue) st = weft_error(WEFT_ERR_NOMEM, "out of memory creating a session");
    /* the top session opens a queue per device buffer type (a stream, its staging, its error record) */
    for (int b = 0; st == WEFT_OK && !parent && b < p->n_bufts; b++) {
        const weft_buffer_type *t = p->bufts[b];
        if (t->is_host || !t->queue_open) continue;
        s->owns_queues = true;
        st = t->queue_open(t->ctx, opts, &s->queues[b]); /* its errors name the backend */
    }
    for (int i = 0; st == WEFT_OK && i < p->n_steps; i++) s->step_queue[i] = queue_of_step(s, &p->steps[i]);
    /* what device-memory inputs and outputs need: which inputs a host step reads, which copy makes each
     * output */
    s->dev_buft = -1;
    for (int b = 0; !parent && b < p->n_bufts; b++)
        if (s->queues[b] && s->dev_buft < 0) s->dev_buft = b;
    s->in_dev = calloc(I, sizeof *s->in_dev);
    s->in_host_read = calloc(I, sizeof *s->in_host_read);
    s->in_stage = calloc(I, sizeof *s->in_stage);
    s->out_copy_step = calloc((size_t)p->n_outputs + 1, sizeof *s->out_copy_step);
    s->out_dev = calloc((size_t)p->n_outputs + 1, sizeof *s->out_dev);
    s->skip_step = calloc(N, sizeof *s->skip_step);
    if (st == WEFT_OK && (!s->in_dev || !s->in_host_read || !s->in_stage || !s->out_copy_step || !s->out_dev || !s->skip_step))
        st = weft_error(WEFT_ERR_NOMEM, "out of memory creating a session");
    for (int i = 0; st == WEFT_OK && i < p->n_inputs; i++) {
        int v = p->inputs[i];
        for (int o = 0; o < p->n_outputs; o++) s->in_host_read[i] |= p->outputs[o] == v;
        for (int k = 0; k < p->n_steps; k++) {
            const weft_step *step = &p->steps[k];
            if (step->kind == WEFT_STEP_COPY) continue; /* a copy reads it wherever it is */
            if (step->kind == WEFT_STEP_KERNEL && (step->def->flags & WEFT_OP_DIMS_ONLY)) continue; /* dims only */
            bool on_host = step->kind != WEFT_STEP_KERNEL || step->backend->buft->is_host;
            for (int j = 0; j < step->n_in; j++)
                if (step->in[j] == v && (on_host || ((step->def->host_inputs >> j) & 1u))) s->in_host_read[i] = true;
        }
    }
    for (int o = 0; st == WEFT_OK && o < p->n_outputs; o++) {
        s->out_copy_step[o] = -1;
        for (int k = 0; k < p->n_steps; k++)
            if (p->steps[k].kind == WEFT_STEP_COPY && p->steps[k].copy_dir == WEFT_COPY_TO_HOST && p->steps[k].out[0] == p->outputs[o])
                s->out_copy_step[o] = k;
    }
    if (st == WEFT_OK && (!s->views || !s->const_views || !s->buffers || !s->out_copy || !s->in_dt || !s->in_sh ||
        !s->in_data || !s->in_v || !s->out_dt || !s->out_sh || !s->out_v || !s->bind_v || !s->bound || !s->key ||
        !s->sym_val || !s->sym_from || !s->sub || !s->cf || !s->dyn_state || !s->dyn_key || !s->uploads ||
        (profile && !s->prof)))
        st = weft_error(WEFT_ERR_NOMEM, "out of memory creating a session");
    for (int i = 0; st == WEFT_OK && i < p->n_steps; i++) {
        const weft_step *step = &p->steps[i];
        if (s->prof) {
            s->prof[i].name = step->info.name;
            s->prof[i].op_type = step->info.op_type;
            s->prof[i].backend = step->backend ? step->backend->name : "runtime";
            static const char *const classes[] = {"other", "dense", "message passing", "elementwise"};
            s->prof[i].op_class = classes[step->op_class];
        }
        if (step->n_sub) {
            s->sub[i] = calloc((size_t)step->n_sub, sizeof **s->sub);
            if (!s->sub[i]) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); break; }
            for (int k = 0; st == WEFT_OK && k < step->n_sub; k++)
                st = session_new(step->sub[k], s, threads, false, opts, &s->sub[i][k]);
        }
        /* also a control step without subgraphs (a Loop without a body, nested in an If's branch, gets
         * this far): preparing it checks it and refuses it, instead of running it with no state */
        if (st == WEFT_OK && step->kind == WEFT_STEP_CONTROL) st = control_prepare(step, &s->cf[i]);
    }
    /* constants never change: point their views at the plan's data once */
    for (int v = 0; st == WEFT_OK && v < p->n_slots; v++) {
        const weft_slot *sl = &p->slots[v];
        if (sl->kind != WEFT_SLOT_CONST) continue;
        weft_tview *tv = &s->const_views[v];
        tv->dtype = sl->dtype;
        tv->rank = sl->shape.rank;
        tv->numel = 1;
        for (int d = 0; d < sl->shape.rank; d++) { tv->dims[d] = sl->shape.d[d].v; tv->numel *= tv->dims[d]; }
        tv->data = (void *)sl->data;
        s->views[v] = *tv;
    }
    if (st) { weft_session_free(s); return st; }
    *out = s;
    return WEFT_OK;
}

weft_status weft_session_create_with_options(const weft_plan *p, const weft_session_options *opts, weft_session **out)
{
    if (!out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_session_create: out is NULL");
    *out = NULL;
    if (!p) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_session_create: plan is NULL");
    int threads = opts && opts->threads > 0 ? opts->threads : default_threads();
    if (opts && opts->threads < 0)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_session_create: threads must be 0 (one per core) or positive, not %d", opts->threads);
    if (threads > 1024) threads = 1024;
    return session_new(p, NULL, threads, opts && opts->profile, opts, out);
}

weft_status weft_session_create(const weft_plan *p, weft_session **out)
{
    return weft_session_create_with_options(p, NULL, out);
}

void weft_session_free(weft_session *s)
{
    if (!s) return;
    const struct weft_plan *p = s->plan;
    for (int i = 0; i < p->n_steps; i++) {
        if (s->sub && s->sub[i])
            for (int k = 0; k < p->steps[i].n_sub; k++) weft_session_free(s->sub[i][k]);
        if (s->sub) free(s->sub[i]);
        if (s->cf) weft_control_free(s->cf[i]);
        if (s->dyn_state && s->dyn_state[i] && p->steps[i].backend->release_state)
            p->steps[i].backend->release_state(s->dyn_state[i]);
        if (s->uploads && s->uploads[i].data)
            weft_buffer_release_on(&s->uploads[i], p->bufts[p->slots[p->steps[i].out[0]].buft]);
    }
    for (int c = 0; c < s->n_configs; c++) weft_config_clear(p, &s->configs[c]);
    for (int b = 0; s->buffers && b < p->n_buffers; b++) weft_buffer_release_on(&s->buffers[b], p->bufts[p->buffer_buft[b]]);
    for (int b = 0; s->out_copy && b < p->n_outputs; b++) weft_buffer_release(&s->out_copy[b]);
    weft_buffer_release(&s->scratch);
    for (int t = 0; t < p->n_bufts; t++) weft_buffer_release_on(&s->arenas[t], p->bufts[t]);
    for (int t = 0; s->owns_queues && t < p->n_bufts; t++)
        if (s->queues[t]) p->bufts[t]->queue_close(s->queues[t]);
    for (int i = 0; s->in_stage && i < p->n_inputs; i++) weft_buffer_release(&s->in_stage[i]);
    for (int o = 0; s->out_dev && o < p->n_outputs; o++)
        if (s->dev_buft >= 0) weft_buffer_release_on(&s->out_dev[o], p->bufts[s->dev_buft]);
    free(s->in_dev);
    free(s->in_host_read);
    free(s->in_stage);
    free(s->out_copy_step);
    free(s->out_dev);
    free(s->skip_step);
    free(s->step_queue);
    free(s->sub);
    free(s->cf);
    free(s->dyn_state);
    free(s->dyn_key);
    free(s->uploads);
    free(s->prof);
    free(s->views);
    free(s->const_views);
    free(s->buffers);
    free(s->out_copy);
    free(s->in_dt);
    free(s->in_sh);
    free(s->in_data);
    free(s->in_v);
    free(s->out_dt);
    free(s->out_sh);
    free(s->out_v);
    free(s->bind_v);
    free(s->bound);
    free(s->key);
    free(s->sym_val);
    free(s->sym_from);
    free(s);
}

/* --- running ------------------------------------------------------------------------------------- */

/* Points slot `slot`'s view at its growing buffer, made big enough for dtype/rank/dims (values sized at
 * run time: data-dependent shapes, control flow, subgraph bodies). */
static weft_status alloc_slot(weft_session *s, int slot, weft_dtype dt, int rank, const int64_t *dims, weft_tview *view)
{
    int64_t numel = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] < 0) return weft_error(WEFT_ERR_SHAPE, "negative dimension %lld", (long long)dims[d]);
        if (dims[d] && numel > INT64_MAX / dims[d])
            return weft_error(WEFT_ERR_NOMEM, "tensor '%s' would have more than 2^63 elements", s->plan->slots[slot].name);
        numel *= dims[d];
    }
    size_t es = weft_dtype_size(dt);
    if (!es) return weft_error(WEFT_ERR_UNSUPPORTED, "dtype %s cannot be stored", weft_dtype_name(dt));
    if ((uint64_t)numel > SIZE_MAX / es)
        return weft_error(WEFT_ERR_NOMEM, "tensor '%s' is too large", s->plan->slots[slot].name);
    size_t bytes = (size_t)numel * es;
    int buf = s->plan->slots[slot].buffer;
    if (buf < 0) return weft_error(WEFT_ERR_INTERNAL, "value '%s' has no buffer", s->plan->slots[slot].name);
    weft_status st = weft_buffer_reserve_on(&s->buffers[buf], s->plan->bufts[s->plan->buffer_buft[buf]], bytes);
    if (st) return weft_error_wrap(st, "tensor '%s'", s->plan->slots[slot].name[0] ? s->plan->slots[slot].name : "(unused output)");
    weft_buffer *b = &s->buffers[buf];
    view->dtype = dt;
    view->rank = rank;
    memcpy(view->dims, dims, (size_t)rank * sizeof(int64_t));
    view->numel = numel;
    view->data = b->data;
    return WEFT_OK;
}

static int32_t runtime_sym(void *user)
{
    (void)user;
    return 0x7fffffff; /* marks an output dim the op could not compute; checked after infer */
}

/* FNV-1a over the operands' dims: tells a dynamic step's backend state whether its shapes changed. */
static uint64_t dims_key(const weft_tview *in, int n_in, const weft_tview *out, int n_out)
{
    uint64_t h = 1469598103934665603ull;
    for (int pass = 0; pass < 2; pass++) {
        const weft_tview *v = pass ? out : in;
        for (int k = 0; k < (pass ? n_out : n_in); k++) {
            h = (h ^ (uint64_t)(v[k].dtype * 31 + v[k].rank)) * 1099511628211ull;
            for (int d = 0; d < v[k].rank; d++) h = (h ^ (uint64_t)v[k].dims[d]) * 1099511628211ull;
        }
    }
    return h;
}

/* Infers step i's outputs from the real inputs and points them at growing buffers. */
static weft_status infer_now(weft_session *s, const weft_step *step)
{
    for (int k = 0; k < step->n_in; k++) {
        const weft_tview *tv = &s->in_v[k];
        s->in_dt[k] = tv->dtype;
        s->in_sh[k].rank = tv->dtype == WEFT_UNDEFINED ? 0 : tv->rank;
        for (int d = 0; d < s->in_sh[k].rank; d++) s->in_sh[k].d[d] = weft_dim_num(tv->dims[d]);
        s->in_data[k] = tv->data;
    }
    for (int o = 0; o < step->n_out; o++) { s->out_dt[o] = WEFT_UNDEFINED; s->out_sh[o].rank = -1; }
    weft_infer_ctx c = {&step->info, step->n_in, s->in_dt, s->in_sh, s->in_data, step->n_out, s->out_dt, s->out_sh,
                        runtime_sym, NULL, scratch_fn, s};
    weft_status st = step->def->infer(&c);
    if (st) return st;
    for (int o = 0; o < step->n_out; o++) {
        int64_t dims[WEFT_MAX_RANK];
        const weft_shape *sh = &s->out_sh[o];
        if (sh->rank < 0 || sh->rank > WEFT_MAX_RANK)
            return weft_op_error(&step->info, WEFT_ERR_INTERNAL, "output %d: rank could not be determined", o);
        for (int d = 0; d < sh->rank; d++) {
            if (!weft_dim_known(sh->d[d]))
                return weft_op_error(&step->info, WEFT_ERR_INTERNAL, "output %d: dimension %d could not be determined", o, d);
            dims[d] = sh->d[d].v;
        }
        int slot = step->out[o];
        weft_tview *dst = slot >= 0 ? &s->views[slot] : &s->out_v[o];
        if ((st = alloc_slot(s, slot, s->out_dt[o], sh->rank, dims, dst)))
            return weft_error_wrap(st, "node '%s' (%s)", step->info.name, step->info.op_type);
        s->out_v[o] = *dst;
    }
    return WEFT_OK;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* Runs step i: `mode` says whether its shapes were fixed at set-up (state: the backend's for them). */
static weft_status run_step(weft_session *s, int i, int mode, void *state)
{
    const struct weft_plan *p = s->plan;
    const weft_step *step = &p->steps[i];
    double t0 = s->prof ? now_ms() : 0;
    weft_status st;
    if (step->kind == WEFT_STEP_CONTROL) {
        st = control_step(s, i);
        goto out;
    }
    if (step->kind == WEFT_STEP_COPY) {
        const weft_tview *src = &s->views[step->in[0]];
        weft_tview *dst = &s->views[step->out[0]];
        if (mode == WEFT_MODE_DYNAMIC && (st = alloc_slot(s, step->out[0], src->dtype, src->rank, src->dims, dst)))
            goto out;
        /* an input the caller gave in device memory is copied within the device */
        int dir = step->copy_dir;
        const weft_slot *from = &p->slots[step->in[0]];
        if (dir == WEFT_COPY_TO_DEVICE && from->kind == WEFT_SLOT_INPUT && !s->parent && s->in_dev[from->input_index])
            dir = WEFT_COPY_ON_DEVICE;
        st = step->copy_buft->copy(step->copy_buft->ctx, s->step_queue[i], dst->data, src->data,
                                   (size_t)src->numel * weft_dtype_size(src->dtype), dir);
        goto out;
    }
    for (int k = 0; k < step->n_in; k++) {
        int v = step->in[k];
        if (v < 0) memset(&s->in_v[k], 0, sizeof s->in_v[k]);
        else s->in_v[k] = s->views[v];
    }
    if (mode == WEFT_MODE_DYNAMIC) {
        if ((st = infer_now(s, step))) goto out;
        if (step->backend->reshape) {
            uint64_t key = dims_key(s->in_v, step->n_in, s->out_v, step->n_out);
            if (!s->dyn_state[i] || s->dyn_key[i] != key) {
                if (s->dyn_state[i] && step->backend->release_state) step->backend->release_state(s->dyn_state[i]);
                s->dyn_state[i] = NULL;
                weft_kernel_ctx rk = {&step->info, step->n_in, s->in_v, step->n_out, s->out_v, scratch_fn, s, s->threads,
                                      s->step_queue[i]};
                if ((st = step->backend->reshape(step->prepared, &rk, &s->dyn_state[i]))) goto out;
                s->dyn_key[i] = key;
            }
            state = s->dyn_state[i];
        }
    } else {
        for (int o = 0; o < step->n_out; o++) s->out_v[o] = s->views[step->out[o]];
    }
    weft_kernel_ctx k = {&step->info, step->n_in, s->in_v, step->n_out, s->out_v, scratch_fn, s, s->threads,
                         s->step_queue[i]};
    st = step->backend->run(step->prepared, state, &k);
out:
    if (s->prof) {
        /* a device step's time is its work's, not its enqueueing's */
        for (int b = 0; st == WEFT_OK && s->step_queue[i] && b < WEFT_MAX_BACKENDS; b++)
            if (s->queues[b] == s->step_queue[i]) st = p->bufts[b]->queue_sync(s->queues[b]);
        s->prof[i].total_ms += now_ms() - t0;
        s->prof[i].calls++;
    }
    return st;
}

static weft_session *ancestor(weft_session *s, int depth)
{
    while (depth-- > 0 && s) s = s->parent;
    return s;
}

/* Runs a (sub)plan with every step sized at run time. `inputs[i]` binds the plan's input i (no checks:
 * the caller checked). */
static weft_status session_exec(weft_session *s, const weft_tview *inputs)
{
    const struct weft_plan *p = s->plan;
    for (int i = 0; i < p->n_inputs; i++) {
        int v = p->inputs[i];
        if (p->slots[v].kind == WEFT_SLOT_INPUT) s->views[v] = inputs[i];
    }
    for (int v = 0; v < p->n_slots; v++) {
        const weft_slot *sl = &p->slots[v];
        if (sl->kind != WEFT_SLOT_OUTER) continue;
        weft_session *a = ancestor(s, sl->outer_depth);
        if (!a) return weft_error(WEFT_ERR_INTERNAL, "outer value '%s' has no enclosing session", sl->name);
        s->views[v] = a->views[sl->outer];
    }
    for (int i = 0; i < p->n_steps; i++) {
        weft_status st = run_step(s, i, WEFT_MODE_DYNAMIC, NULL);
        if (st) return st;
    }
    return WEFT_OK;
}

/* Runs a device segment (weft_config.segs): the first run of these sizes captures its steps' work as one
 * graph, every run replays it. A buffer type that refuses the capture gets the steps one by one from then
 * on. */
static weft_status run_segment(weft_session *s, weft_config *cfg, struct weft_segment *g)
{
    const weft_buffer_type *t = s->plan->bufts[g->buft];
    void *q = s->queues[g->buft];
    weft_status st;
    if (!g->graph) {
        if ((st = t->capture_begin(q))) return st;
        st = WEFT_OK;
        for (int i = g->first; st == WEFT_OK && i <= g->last; i++)
            if (cfg->mode[i] != WEFT_MODE_SKIP) st = run_step(s, i, cfg->mode[i], cfg->state[i]);
        void *graph = NULL;
        weft_status end = t->capture_end(q, &graph);
        if (st) {
            if (graph) t->graph_free(graph);
            return st;
        }
        if (end) {
            /* not capturable here: run the steps one by one */
            g->failed = true;
            weft_error_clear();
            for (int i = g->first; st == WEFT_OK && i <= g->last; i++)
                if (cfg->mode[i] != WEFT_MODE_SKIP) st = run_step(s, i, cfg->mode[i], cfg->state[i]);
            return st;
        }
        g->graph = graph;
    }
    return t->replay(q, g->graph);
}

/* Runs the top plan under configuration cfg: inputs are in s->bind_v. */
static weft_status run_config(weft_session *s, weft_config *cfg)
{
    const struct weft_plan *p = s->plan;
    memcpy(s->views, cfg->views, (size_t)p->n_slots * sizeof *s->views);
    for (int t = 0; t < p->n_bufts; t++) {
        if (cfg->arena_base[t] == s->arenas[t].data) continue;
        /* that arena moved since these sizes were set up (a larger set of sizes grew it) */
        for (int v = 0; v < p->n_slots; v++) {
            const weft_slot *sl = &p->slots[v];
            /* (values made at set-up, such as uploaded constants, live outside the arena) */
            if (sl->buft == t && sl->kind == WEFT_SLOT_TEMP && !sl->shape_only && !cfg->dynamic[v] && cfg->views[v].data &&
                sl->first >= 0 && cfg->mode[sl->first] != WEFT_MODE_SKIP)
                cfg->views[v].data = (char *)s->arenas[t].data + ((char *)cfg->views[v].data - (char *)cfg->arena_base[t]);
        }
        cfg->arena_base[t] = s->arenas[t].data;
        memcpy(s->views, cfg->views, (size_t)p->n_slots * sizeof *s->views);
        /* graphs captured for the old addresses are stale */
        for (int g = 0; g < cfg->n_segs; g++)
            if (cfg->segs[g].graph) {
                p->bufts[cfg->segs[g].buft]->graph_free(cfg->segs[g].graph);
                cfg->segs[g].graph = NULL;
            }
    }
    for (int i = 0; i < p->n_inputs; i++) s->views[p->inputs[i]] = s->bind_v[i];
    weft_status st = WEFT_OK;
    for (int t = 0; st == WEFT_OK && t < p->n_bufts; t++)
        if (s->queues[t]) st = p->bufts[t]->queue_begin(s->queues[t]);
    for (int i = 0; st == WEFT_OK && i < p->n_steps; i++) {
        if (cfg->mode[i] == WEFT_MODE_SKIP || s->skip_step[i]) continue;
        int g = cfg->seg_at ? cfg->seg_at[i] : -1;
        if (g >= 0 && !cfg->segs[g].failed) {
            st = run_segment(s, cfg, &cfg->segs[g]);
            i = cfg->segs[g].last;
            continue;
        }
        st = run_step(s, i, cfg->mode[i], cfg->state[i]);
    }
    /* the run ends when every queue's work has; what the device found wrong is reported now */
    for (int t = 0; t < p->n_bufts; t++) {
        if (!s->queues[t]) continue;
        weft_status q = p->bufts[t]->queue_sync(s->queues[t]);
        if (st == WEFT_OK) st = q;
    }
    return st;
}

/* --- binding ------------------------------------------------------------------------------------- */

static weft_status bind_input(weft_session *s, int idx, const weft_tensor *t, weft_tview *view, bool need_data)
{
    const struct weft_plan *p = s->plan;
    const weft_slot *sl = &p->slots[p->inputs[idx]];
    if (t->dtype != sl->dtype)
        return weft_error(WEFT_ERR_TYPE, "input '%s': dtype %s given, the model expects %s", sl->name,
                          weft_dtype_name(t->dtype), weft_dtype_name(sl->dtype));
    if (t->rank < 0 || t->rank > WEFT_MAX_RANK)
        return weft_error(WEFT_ERR_SHAPE, "input '%s': rank %d is out of range", sl->name, t->rank);
    if (sl->shape.rank >= 0 && t->rank != sl->shape.rank) {
        char want[256];
        weft_shape_format_sym(&sl->shape, p->syms, want, sizeof want);
        return weft_error(WEFT_ERR_SHAPE, "input '%s': rank %d given, the model expects rank %d %s", sl->name, t->rank,
                          sl->shape.rank, want);
    }
    int64_t numel = 1;
    for (int d = 0; d < t->rank; d++) {
        int64_t n = t->dims[d];
        if (n < 0) return weft_error(WEFT_ERR_SHAPE, "input '%s': dimension %d is negative (%lld)", sl->name, d, (long long)n);
        if (n && numel > INT64_MAX / n) return weft_error(WEFT_ERR_SHAPE, "input '%s': element count overflows", sl->name);
        numel *= n;
        if (sl->shape.rank < 0) continue;
        weft_dim want = sl->shape.d[d];
        if (weft_dim_known(want)) {
            if (want.v != n)
                return weft_error(WEFT_ERR_SHAPE, "input '%s': dimension %d is %lld, the model expects %lld", sl->name, d,
                                  (long long)n, (long long)want.v);
        } else if (s->sym_val[want.sym] < 0) {
            s->sym_val[want.sym] = n;
            s->sym_from[want.sym] = idx;
        } else if (s->sym_val[want.sym] != n) {
            return weft_error(WEFT_ERR_SHAPE, "input '%s': dimension %d (%s) is %lld, but input '%s' set %s = %lld", sl->name,
                              d, weft_sym_name(p->syms, want.sym), (long long)n,
                              p->slots[p->inputs[s->sym_from[want.sym]]].name, weft_sym_name(p->syms, want.sym),
                              (long long)s->sym_val[want.sym]);
        }
    }
    size_t es = weft_dtype_size(t->dtype);
    if (need_data || t->data) {
        if ((uint64_t)numel > SIZE_MAX / (es ? es : 1) || t->nbytes != (size_t)numel * es)
            return weft_error(WEFT_ERR_INVALID_ARGUMENT, "input '%s': %zu bytes given, %lld elements of %s need %llu", sl->name,
                              t->nbytes, (long long)numel, weft_dtype_name(t->dtype), (unsigned long long)numel * es);
        if (numel && !t->data) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "input '%s': data is NULL", sl->name);
    }
    view->dtype = t->dtype;
    view->rank = t->rank;
    memcpy(view->dims, t->dims, sizeof view->dims);
    view->numel = numel;
    view->data = t->data;
    s->in_dev[idx] = false;
    if (t->on_device) {
        if (s->dev_buft < 0)
            return weft_error(WEFT_ERR_INVALID_ARGUMENT, "input '%s' is in device memory, but the plan runs on the host only", sl->name);
        s->in_dev[idx] = true;
        if (s->in_host_read[idx] && need_data) {
            /* a host step reads it: one download, into memory the session keeps */
            const weft_buffer_type *t_dev = s->plan->bufts[s->dev_buft];
            size_t bytes = (size_t)numel * es;
            weft_status st = weft_buffer_reserve(&s->in_stage[idx], bytes);
            if (!st) st = t_dev->copy(t_dev->ctx, NULL, s->in_stage[idx].data, t->data, bytes, WEFT_COPY_TO_HOST);
            if (st) return weft_error_wrap(st, "input '%s': reading it from device memory", sl->name);
            view->data = s->in_stage[idx].data;
            s->in_dev[idx] = false;
        }
    }
    return WEFT_OK;
}

/* Binds the inputs by name into s->bind_v and finds (or sets up) the configuration of their sizes. */
static weft_status bind_all(weft_session *s, const weft_tensor *in, size_t n_in, bool need_data, weft_config **out)
{
    const struct weft_plan *p = s->plan;
    memset(s->bound, 0, (size_t)p->n_inputs);
    for (int k = 0; p->syms && k < p->syms->n; k++) s->sym_val[k] = -1;
    weft_status st;
    for (size_t i = 0; i < n_in; i++) {
        const char *name = in[i].name;
        if (!name) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "input tensor %zu has no name", i);
        int idx = -1;
        for (int k = 0; k < p->n_inputs; k++)
            if (strcmp(p->slots[p->inputs[k]].name, name) == 0) { idx = k; break; }
        if (idx < 0) {
            char list[512] = "";
            size_t len = 0;
            for (int k = 0; k < p->n_inputs && len < sizeof list; k++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s'%s'", k ? ", " : "", p->slots[p->inputs[k]].name);
            return weft_error(WEFT_ERR_INVALID_ARGUMENT, "unknown input '%s' (the model's inputs: %s)", name,
                              p->n_inputs ? list : "none");
        }
        if (s->bound[idx]) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "input '%s' is given twice", name);
        if ((st = bind_input(s, idx, &in[i], &s->bind_v[idx], need_data))) return st;
        s->bound[idx] = 1;
    }
    for (int k = 0; k < p->n_inputs; k++)
        if (!s->bound[k]) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "missing input '%s'", p->slots[p->inputs[k]].name);
    /* the key: rank and dims of every input */
    int len = 0;
    for (int k = 0; k < p->n_inputs; k++) {
        s->key[len++] = s->bind_v[k].rank;
        for (int d = 0; d < s->bind_v[k].rank; d++) s->key[len++] = s->bind_v[k].dims[d];
    }
    s->clock++;
    for (int c = 0; c < s->n_configs; c++) {
        weft_config *cfg = &s->configs[c];
        if (cfg->key_len == len && memcmp(cfg->key, s->key, (size_t)len * sizeof *s->key) == 0) {
            cfg->last_used = s->clock;
            *out = cfg;
            return WEFT_OK;
        }
    }
    /* new sizes: set them up, in a free entry or in place of the least recently used */
    int slot = s->n_configs;
    if (slot == WEFT_MAX_CONFIGS) {
        slot = 0;
        for (int c = 1; c < s->n_configs; c++)
            if (s->configs[c].last_used < s->configs[slot].last_used) slot = c;
        weft_config_clear(p, &s->configs[slot]);
    } else {
        s->n_configs++;
    }
    weft_config *cfg = &s->configs[slot];
    memset(cfg, 0, sizeof *cfg);
    cfg->key = malloc((size_t)(len ? len : 1) * sizeof *cfg->key);
    st = cfg->key ? weft_config_setup(s, cfg) : weft_error(WEFT_ERR_NOMEM, "out of memory");
    if (st) {
        weft_config_clear(p, cfg);
        if (slot == s->n_configs - 1) s->n_configs--;
        else { *cfg = s->configs[--s->n_configs]; memset(&s->configs[s->n_configs], 0, sizeof *cfg); }
        s->cur = NULL;
        return st;
    }
    memcpy(cfg->key, s->key, (size_t)len * sizeof *s->key);
    cfg->key_len = len;
    cfg->last_used = s->clock;
    *out = cfg;
    return WEFT_OK;
}

weft_status weft_session_reshape(weft_session *s, const weft_tensor *in, size_t n_in)
{
    weft_error_clear();
    if (!s) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_session_reshape: session is NULL");
    if (n_in && !in) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_session_reshape: NULL tensor array");
    weft_config *cfg = NULL;
    weft_status st = bind_all(s, in, n_in, false, &cfg);
    if (st) return st;
    s->cur = cfg;
    return WEFT_OK;
}

/* Points out[i] at the output's memory; values the session does not own for the promised time
 * (constants of the shared plan, the caller's inputs, shape-only values kept per set of sizes) and
 * repeats of an output already handed out are copied. */
static weft_status hand_out(weft_session *s, int idx, weft_tensor *t)
{
    const struct weft_plan *p = s->plan;
    int v = p->outputs[idx];
    const weft_slot *sl = &p->slots[v];
    weft_tview tv = s->views[v];
    size_t bytes = (size_t)tv.numel * weft_dtype_size(tv.dtype);
    bool copy = sl->kind != WEFT_SLOT_TEMP || sl->shape_only;
    for (int j = 0; j < idx && !copy; j++) copy = p->outputs[j] == v;
    if (copy) {
        weft_status st = weft_buffer_reserve(&s->out_copy[idx], bytes);
        if (st) return st;
        if (bytes) memcpy(s->out_copy[idx].data, tv.data, bytes);
        tv.data = s->out_copy[idx].data;
    }
    t->name = sl->name;
    t->dtype = tv.dtype;
    t->rank = tv.rank;
    memcpy(t->dims, tv.dims, sizeof t->dims);
    t->data = tv.data;
    t->nbytes = bytes;
    t->on_device = 0;
    return WEFT_OK;
}

/* Which graph output out[i] asks for (by name, else by position); -2 after setting an error. */
static int output_index(const weft_session *s, const weft_tensor *t, size_t i)
{
    const struct weft_plan *p = s->plan;
    if (t->name) {
        for (int k = 0; k < p->n_outputs; k++)
            if (strcmp(p->slots[p->outputs[k]].name, t->name) == 0) return k;
        weft_error(WEFT_ERR_INVALID_ARGUMENT, "unknown output '%s'", t->name);
        return -2;
    }
    if (i >= (size_t)p->n_outputs) {
        weft_error(WEFT_ERR_INVALID_ARGUMENT, "output %zu requested, the model has %d outputs", i, p->n_outputs);
        return -2;
    }
    return (int)i;
}

/* Hands output idx out in device memory: the device value its download would have read, or (an output
 * made on the host) an upload into memory the session keeps. Valid until the next run. */
static weft_status hand_out_device(weft_session *s, int idx, weft_tensor *t)
{
    const struct weft_plan *p = s->plan;
    if (s->dev_buft < 0)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "output '%s' asked for in device memory, but the plan runs on the host only",
                          p->slots[p->outputs[idx]].name);
    int c = s->out_copy_step[idx];
    weft_tview tv = s->views[c >= 0 ? p->steps[c].in[0] : p->outputs[idx]];
    size_t bytes = (size_t)tv.numel * weft_dtype_size(tv.dtype);
    if (c < 0) {
        const weft_buffer_type *dev = p->bufts[s->dev_buft];
        weft_status st = weft_buffer_reserve_on(&s->out_dev[idx], dev, bytes);
        if (!st) st = dev->copy(dev->ctx, NULL, s->out_dev[idx].data, tv.data, bytes, WEFT_COPY_TO_DEVICE);
        if (st) return weft_error_wrap(st, "output '%s': copying it to device memory", p->slots[p->outputs[idx]].name);
        tv.data = s->out_dev[idx].data;
    }
    t->name = p->slots[p->outputs[idx]].name;
    t->dtype = tv.dtype;
    t->rank = tv.rank;
    memcpy(t->dims, tv.dims, sizeof t->dims);
    t->data = tv.data;
    t->nbytes = bytes;
    t->on_device = 1;
    return WEFT_OK;
}

weft_status weft_session_run(weft_session *s, const weft_tensor *in, size_t n_in, weft_tensor *out, size_t n_out)
{
    weft_error_clear();
    if (!s) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_session_run: session is NULL");
    if ((n_in && !in) || (n_out && !out)) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_session_run: NULL tensor array");
    const struct weft_plan *p = s->plan;
    weft_config *cfg = NULL;
    weft_status st = bind_all(s, in, n_in, true, &cfg);
    if (st) return st;
    s->cur = cfg;
    /* outputs asked for in device memory skip their download, unless also asked for on the host */
    memset(s->skip_step, 0, (size_t)p->n_steps * sizeof *s->skip_step);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n_out; i++) {
            int idx = output_index(s, &out[i], i);
            if (idx < -1) return WEFT_ERR_INVALID_ARGUMENT;
            int c = idx >= 0 ? s->out_copy_step[idx] : -1;
            if (c < 0) continue;
            if (pass == 0 && out[i].on_device) s->skip_step[c] = true;
            if (pass == 1 && !out[i].on_device) s->skip_step[c] = false;
        }
    if ((st = run_config(s, cfg))) return st;
    s->runs++;
    /* every output is always computed; these are the ones handed out */
    for (size_t i = 0; i < n_out; i++) {
        int idx = output_index(s, &out[i], i);
        if (idx < 0) return WEFT_ERR_INVALID_ARGUMENT;
        if ((st = out[i].on_device ? hand_out_device(s, idx, &out[i]) : hand_out(s, idx, &out[i]))) return st;
    }
    return WEFT_OK;
}

/* --- introspection ------------------------------------------------------------------------------- */

weft_status weft_session_get_stats(const weft_session *s, weft_session_stats *out)
{
    if (!s || !out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_session_get_stats: NULL argument");
    memset(out, 0, sizeof *out);
    const struct weft_plan *p = s->plan;
    if (s->cur) {
        out->arena_bytes = s->cur->arena_bytes;
        out->arena_bound_bytes = s->cur->bound_bytes;
        out->dynamic_steps = s->cur->dynamic_steps;
    }
    for (int b = 0; b < p->n_buffers; b++) out->dynamic_bytes += s->buffers[b].cap;
    out->scratch_bytes = s->scratch.cap;
    out->configs = s->n_configs;
    out->runs = s->runs;
    return WEFT_OK;
}

weft_status weft_session_profile(const weft_session *s, const weft_step_profile **out, int *n_steps)
{
    if (!s || !out || !n_steps) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_session_profile: NULL argument");
    if (!s->prof) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "the session was not created with profiling on");
    *out = s->prof;
    *n_steps = s->plan->n_steps;
    return WEFT_OK;
}
