/*
 * runtime/session.c — sessions: bind inputs (checking dtypes, ranks and symbolic dims), run the plan's
 * steps, hand out outputs.
 *
 * Each step asks its op for output shapes given the real inputs (the same `infer` the compiler used:
 * shapes may depend on values, e.g. NonZero or a Reshape whose target is computed), points the outputs
 * at session buffers that only grow, and runs the kernel. Nothing is allocated once the buffers have
 * reached the sizes a workload needs.
 */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

weft_status weft_buffer_reserve(weft_buffer *b, size_t bytes)
{
    if (bytes <= b->cap && b->data) return WEFT_OK;
    size_t cap = bytes < 64 ? 64 : bytes;
    if (cap > SIZE_MAX - 63) return weft_error(WEFT_ERR_NOMEM, "cannot allocate %zu bytes", bytes);
    cap = (cap + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, cap);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
    free(b->data);
    b->data = p;
    b->cap = cap;
    return WEFT_OK;
}

void weft_buffer_release(weft_buffer *b)
{
    free(b->data);
    b->data = NULL;
    b->cap = 0;
}

static void *scratch_fn(void *user, size_t bytes)
{
    weft_session *s = user;
    return weft_buffer_reserve(&s->scratch, bytes) == WEFT_OK ? s->scratch.data : NULL;
}

/* --- create / free ------------------------------------------------------------------------------- */

static weft_status session_new(const struct weft_plan *p, weft_session *parent, weft_session **out)
{
    *out = NULL;
    weft_session *s = calloc(1, sizeof *s);
    if (!s) return weft_error(WEFT_ERR_NOMEM, "out of memory creating a session");
    s->plan = p;
    s->parent = parent;
    size_t nin = (size_t)p->max_step_in + 1, nout = (size_t)p->max_step_out + 1;
    s->views = calloc((size_t)p->n_slots + 1, sizeof *s->views);
    s->buffers = calloc((size_t)p->n_buffers + 1, sizeof *s->buffers);
    s->discard = calloc(nout, sizeof *s->discard);
    s->in_dt = calloc(nin, sizeof *s->in_dt);
    s->in_sh = calloc(nin, sizeof *s->in_sh);
    s->in_data = calloc(nin, sizeof *s->in_data);
    s->in_v = calloc(nin, sizeof *s->in_v);
    s->out_dt = calloc(nout, sizeof *s->out_dt);
    s->out_sh = calloc(nout, sizeof *s->out_sh);
    s->out_v = calloc(nout, sizeof *s->out_v);
    int nsym = p->syms ? p->syms->n : 0;
    s->sym_val = calloc((size_t)nsym + 1, sizeof *s->sym_val);
    s->sym_from = calloc((size_t)nsym + 1, sizeof *s->sym_from);
    s->sub = calloc((size_t)p->n_steps + 1, sizeof *s->sub);
    s->cf = calloc((size_t)p->n_steps + 1, sizeof *s->cf);
    weft_status st = WEFT_OK;
    if (!s->views || !s->buffers || !s->discard || !s->in_dt || !s->in_sh || !s->in_data || !s->in_v || !s->out_dt ||
        !s->out_sh || !s->out_v || !s->sym_val || !s->sym_from || !s->sub || !s->cf)
        st = weft_error(WEFT_ERR_NOMEM, "out of memory creating a session");
    for (int i = 0; st == WEFT_OK && i < p->n_steps; i++) {
        const weft_step *step = &p->steps[i];
        if (!step->n_sub) continue;
        s->sub[i] = calloc((size_t)step->n_sub, sizeof **s->sub);
        if (!s->sub[i]) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); break; }
        for (int k = 0; st == WEFT_OK && k < step->n_sub; k++) st = session_new(step->sub[k], s, &s->sub[i][k]);
        if (st == WEFT_OK && step->def && (step->def->flags & WEFT_OP_CONTROL_FLOW))
            st = weft_control_state_new(step, &s->cf[i]);
    }
    /* constants never change: point their views at the plan's data once */
    for (int v = 0; st == WEFT_OK && v < p->n_slots; v++) {
        const weft_slot *sl = &p->slots[v];
        if (sl->kind != WEFT_SLOT_CONST) continue;
        weft_tview *tv = &s->views[v];
        tv->dtype = sl->dtype;
        tv->rank = sl->shape.rank;
        tv->numel = 1;
        for (int d = 0; d < sl->shape.rank; d++) { tv->dims[d] = sl->shape.d[d].v; tv->numel *= tv->dims[d]; }
        tv->data = (void *)sl->data;
    }
    if (st) { weft_session_free(s); return st; }
    *out = s;
    return WEFT_OK;
}

weft_status weft_session_create(const weft_plan *p, weft_session **out)
{
    if (!out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_session_create: out is NULL");
    *out = NULL;
    if (!p) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_session_create: plan is NULL");
    return session_new(p, NULL, out);
}

void weft_session_free(weft_session *s)
{
    if (!s) return;
    const struct weft_plan *p = s->plan;
    for (int i = 0; s->sub && i < p->n_steps; i++) {
        if (s->sub[i])
            for (int k = 0; k < p->steps[i].n_sub; k++) weft_session_free(s->sub[i][k]);
        free(s->sub[i]);
        if (s->cf) weft_control_state_free(s->cf[i]);
    }
    for (int b = 0; s->buffers && b < p->n_buffers; b++) weft_buffer_release(&s->buffers[b]);
    for (int b = 0; s->discard && b <= p->max_step_out; b++) weft_buffer_release(&s->discard[b]);
    weft_buffer_release(&s->scratch);
    free(s->sub);
    free(s->cf);
    free(s->views);
    free(s->buffers);
    free(s->discard);
    free(s->in_dt);
    free(s->in_sh);
    free(s->in_data);
    free(s->in_v);
    free(s->out_dt);
    free(s->out_sh);
    free(s->out_v);
    free(s->sym_val);
    free(s->sym_from);
    free(s);
}

/* --- running ------------------------------------------------------------------------------------- */

weft_status weft_session_alloc_slot(weft_session *s, int slot, int out_pos, weft_dtype dt, int rank,
                                    const int64_t *dims, weft_tview *view)
{
    int64_t numel = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] < 0) return weft_error(WEFT_ERR_SHAPE, "negative dimension %lld", (long long)dims[d]);
        if (dims[d] && numel > INT64_MAX / dims[d])
            return weft_error(WEFT_ERR_NOMEM, "tensor '%s' would have more than 2^63 elements",
                              slot >= 0 ? s->plan->slots[slot].name : "?");
        numel *= dims[d];
    }
    size_t es = weft_dtype_size(dt);
    if (!es) return weft_error(WEFT_ERR_UNSUPPORTED, "dtype %s cannot be stored", weft_dtype_name(dt));
    if ((uint64_t)numel > SIZE_MAX / es)
        return weft_error(WEFT_ERR_NOMEM, "tensor '%s' is too large", slot >= 0 ? s->plan->slots[slot].name : "?");
    size_t bytes = (size_t)numel * es;
    weft_buffer *b;
    if (slot >= 0 && s->plan->slots[slot].buffer >= 0) b = &s->buffers[s->plan->slots[slot].buffer];
    else b = &s->discard[out_pos];
    weft_status st = weft_buffer_reserve(b, bytes);
    if (st) return weft_error_wrap(st, "tensor '%s'", slot >= 0 ? s->plan->slots[slot].name : "(unused output)");
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

static weft_status run_step(weft_session *s, int i)
{
    const struct weft_plan *p = s->plan;
    const weft_step *step = &p->steps[i];
    if (step->def->flags & WEFT_OP_CONTROL_FLOW) return weft_control_run(s, i);
    for (int k = 0; k < step->n_in; k++) {
        int v = step->in[k];
        if (v < 0) {
            memset(&s->in_v[k], 0, sizeof s->in_v[k]);
            s->in_dt[k] = WEFT_UNDEFINED;
            s->in_sh[k].rank = 0;
            s->in_data[k] = NULL;
            continue;
        }
        const weft_tview *tv = &s->views[v];
        s->in_v[k] = *tv;
        s->in_dt[k] = tv->dtype;
        s->in_sh[k].rank = tv->rank;
        for (int d = 0; d < tv->rank; d++) s->in_sh[k].d[d] = weft_dim_num(tv->dims[d]);
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
        if ((st = weft_session_alloc_slot(s, slot, o, s->out_dt[o], sh->rank, dims, dst)))
            return weft_error_wrap(st, "node '%s' (%s)", step->info.name, step->info.op_type);
        s->out_v[o] = *dst;
    }
    weft_kernel_ctx k = {&step->info, step->n_in, s->in_v, step->n_out, s->out_v, scratch_fn, s};
    return step->def->run(&k);
}

static weft_session *ancestor(weft_session *s, int depth)
{
    while (depth-- > 0 && s) s = s->parent;
    return s;
}

weft_status weft_session_exec(weft_session *s, const weft_tview *inputs)
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
        weft_status st = run_step(s, i);
        if (st) return st;
    }
    return WEFT_OK;
}

/* --- binding ------------------------------------------------------------------------------------- */

static weft_status bind_input(weft_session *s, int idx, const weft_tensor *t, weft_tview *view)
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
    if ((uint64_t)numel > SIZE_MAX / (es ? es : 1) || t->nbytes != (size_t)numel * es)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "input '%s': %zu bytes given, %lld elements of %s need %llu", sl->name,
                          t->nbytes, (long long)numel, weft_dtype_name(t->dtype), (unsigned long long)numel * es);
    if (numel && !t->data) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "input '%s': data is NULL", sl->name);
    view->dtype = t->dtype;
    view->rank = t->rank;
    memcpy(view->dims, t->dims, sizeof view->dims);
    view->numel = numel;
    view->data = t->data;
    return WEFT_OK;
}

weft_status weft_session_run(weft_session *s, const weft_tensor *in, size_t n_in, weft_tensor *out, size_t n_out)
{
    weft_error_clear();
    if (!s) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_session_run: session is NULL");
    if ((n_in && !in) || (n_out && !out)) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_session_run: NULL tensor array");
    const struct weft_plan *p = s->plan;
    weft_tview stack_views[16];
    weft_tview *views = p->n_inputs <= 16 ? stack_views : calloc((size_t)p->n_inputs, sizeof *views);
    char bound_stack[16];
    char *bound = p->n_inputs <= 16 ? bound_stack : calloc((size_t)p->n_inputs, 1);
    weft_status st = WEFT_OK;
    if (!views || !bound) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    memset(bound, 0, (size_t)p->n_inputs);
    for (int k = 0; p->syms && k < p->syms->n; k++) s->sym_val[k] = -1;
    for (size_t i = 0; i < n_in; i++) {
        const char *name = in[i].name;
        if (!name) { st = weft_error(WEFT_ERR_INVALID_ARGUMENT, "input tensor %zu has no name", i); goto done; }
        int idx = -1;
        for (int k = 0; k < p->n_inputs; k++)
            if (strcmp(p->slots[p->inputs[k]].name, name) == 0) { idx = k; break; }
        if (idx < 0) {
            char list[512] = "";
            size_t len = 0;
            for (int k = 0; k < p->n_inputs && len < sizeof list; k++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s'%s'", k ? ", " : "", p->slots[p->inputs[k]].name);
            st = weft_error(WEFT_ERR_INVALID_ARGUMENT, "unknown input '%s' (the model's inputs: %s)", name,
                            p->n_inputs ? list : "none");
            goto done;
        }
        if (bound[idx]) { st = weft_error(WEFT_ERR_INVALID_ARGUMENT, "input '%s' is given twice", name); goto done; }
        if ((st = bind_input(s, idx, &in[i], &views[idx]))) goto done;
        bound[idx] = 1;
    }
    for (int k = 0; k < p->n_inputs; k++)
        if (!bound[k]) { st = weft_error(WEFT_ERR_INVALID_ARGUMENT, "missing input '%s'", p->slots[p->inputs[k]].name); goto done; }
    if ((st = weft_session_exec(s, views))) goto done;
    for (size_t i = 0; i < n_out; i++) {
        int idx = (int)i;
        if (out[i].name) {
            idx = -1;
            for (int k = 0; k < p->n_outputs; k++)
                if (strcmp(p->slots[p->outputs[k]].name, out[i].name) == 0) { idx = k; break; }
            if (idx < 0) { st = weft_error(WEFT_ERR_INVALID_ARGUMENT, "unknown output '%s'", out[i].name); goto done; }
        } else if (idx >= p->n_outputs) {
            st = weft_error(WEFT_ERR_INVALID_ARGUMENT, "output %zu requested, the model has %d outputs", i, p->n_outputs);
            goto done;
        }
        const weft_tview *tv = &s->views[p->outputs[idx]];
        out[i].name = p->slots[p->outputs[idx]].name;
        out[i].dtype = tv->dtype;
        out[i].rank = tv->rank;
        memcpy(out[i].dims, tv->dims, sizeof out[i].dims);
        out[i].data = tv->data;
        out[i].nbytes = (size_t)tv->numel * weft_dtype_size(tv->dtype);
    }
done:
    if (views != stack_views) free(views);
    if (bound != bound_stack) free(bound);
    return st;
}
