/*
 * runtime/control.c — If, Loop and Scan: ops whose work is running subgraphs, so the runtime, not
 * ops/, executes them. Each subgraph has its own session (created with the parent's), which reads the
 * parent's values through OUTER slots.
 */
#include <stdlib.h>
#include <string.h>

#include "session.h"

static size_t view_bytes(const weft_tview *v) { return (size_t)v->numel * weft_dtype_size(v->dtype); }

/* Copies `src` into slot `slot` (output position o) of session s. */
static weft_status emit(weft_session *s, int slot, int o, const weft_tview *src)
{
    weft_tview tmp, *dst = slot >= 0 ? &s->views[slot] : &tmp;
    weft_status st = weft_session_alloc_slot(s, slot, o, src->dtype, src->rank, src->dims, dst);
    if (st) return st;
    if (view_bytes(src)) memmove(dst->data, src->data, view_bytes(src));
    return WEFT_OK;
}

/* Copies `src` into a state buffer and points `view` at it. */
static weft_status keep(weft_buffer *b, weft_tview *view, const weft_tview *src)
{
    size_t n = view_bytes(src);
    if (src->data == b->data && b->data) { *view = *src; return WEFT_OK; }
    weft_status st = weft_buffer_reserve(b, n);
    if (st) return st;
    if (n) memmove(b->data, src->data, n);
    *view = *src;
    view->data = b->data;
    return WEFT_OK;
}

static int sub_index(const weft_step *st, const char *name)
{
    for (int k = 0; k < st->n_sub; k++)
        if (strcmp(st->sub_names[k], name) == 0) return k;
    return -1;
}

static weft_status scalar_bool(const weft_step *step, const weft_tview *v, const char *what, uint8_t *out)
{
    if (v->numel != 1 || (v->dtype != WEFT_BOOL && !weft_dtype_is_integer(v->dtype)))
        return weft_op_error(&step->info, WEFT_ERR_SHAPE, "%s must be a single boolean, got %lld elements of %s", what,
                             (long long)v->numel, weft_dtype_name(v->dtype));
    *out = weft_load_i64(v->dtype, v->data, 0) != 0;
    return WEFT_OK;
}

weft_status weft_control_state_new(const weft_step *st, weft_cf_state **out)
{
    *out = NULL;
    if (strcmp(st->info.op_type, "If") == 0) return WEFT_OK;
    weft_cf_state *cf = calloc(1, sizeof *cf);
    if (!cf) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    int n = st->n_in + 2;
    cf->n = n;
    cf->carry = calloc((size_t)n, sizeof *cf->carry);
    cf->carry_v = calloc((size_t)n, sizeof *cf->carry_v);
    cf->slice = calloc((size_t)n, sizeof *cf->slice);
    cf->body_in = calloc((size_t)n, sizeof *cf->body_in);
    if (!cf->carry || !cf->carry_v || !cf->slice || !cf->body_in) {
        weft_control_state_free(cf);
        return weft_error(WEFT_ERR_NOMEM, "out of memory");
    }
    *out = cf;
    return WEFT_OK;
}

void weft_control_state_free(weft_cf_state *cf)
{
    if (!cf) return;
    for (int i = 0; cf->carry && i < cf->n; i++) weft_buffer_release(&cf->carry[i]);
    for (int i = 0; cf->slice && i < cf->n; i++) weft_buffer_release(&cf->slice[i]);
    free(cf->carry);
    free(cf->carry_v);
    free(cf->slice);
    free(cf->body_in);
    free(cf);
}

static weft_status run_if(weft_session *s, int i)
{
    const weft_step *step = &s->plan->steps[i];
    uint8_t cond = 0;
    weft_status st = scalar_bool(step, &s->views[step->in[0]], "the condition", &cond);
    if (st) return st;
    int b = sub_index(step, cond ? "then_branch" : "else_branch");
    if (b < 0) return weft_op_error(&step->info, WEFT_ERR_INVALID_MODEL, "missing branch");
    weft_session *child = s->sub[i][b];
    if ((st = weft_session_exec(child, NULL))) return st;
    const struct weft_plan *cp = child->plan;
    if (cp->n_outputs != step->n_out)
        return weft_op_error(&step->info, WEFT_ERR_INVALID_MODEL, "branch has %d outputs, node %d", cp->n_outputs, step->n_out);
    for (int o = 0; o < step->n_out; o++)
        if ((st = emit(s, step->out[o], o, &child->views[cp->outputs[o]]))) return st;
    return WEFT_OK;
}

static weft_status run_loop(weft_session *s, int i)
{
    const weft_step *step = &s->plan->steps[i];
    weft_cf_state *cf = s->cf[i];
    weft_session *body = s->sub[i][0];
    const struct weft_plan *bp = body->plan;
    int n_carried = step->n_in - 2, n_scan = step->n_out - n_carried;
    weft_status st;
    int64_t max_trip = INT64_MAX;
    if (step->in[0] >= 0) {
        const weft_tview *m = &s->views[step->in[0]];
        if (m->numel != 1) return weft_op_error(&step->info, WEFT_ERR_SHAPE, "M must hold one value");
        max_trip = weft_load_i64(m->dtype, m->data, 0);
    }
    uint8_t cond = 1;
    if (step->in[1] >= 0 && (st = scalar_bool(step, &s->views[step->in[1]], "cond", &cond))) return st;
    /* carried values live in cf->carry[0..n_carried); scan outputs accumulate in cf->slice[0..n_scan) */
    for (int k = 0; k < n_carried; k++)
        if ((st = keep(&cf->carry[k], &cf->carry_v[k], &s->views[step->in[k + 2]]))) return st;
    int64_t iters = 0;
    weft_tview scan_elem[64];
    if (n_scan > 64) return weft_op_error(&step->info, WEFT_ERR_UNSUPPORTED, "more than 64 scan outputs");
    size_t scan_used[64] = {0};
    while (iters < max_trip && cond) {
        cf->iter = iters;
        cf->cond = cond;
        weft_tview *bin = cf->body_in;
        bin[0] = (weft_tview){WEFT_INT64, 0, {0}, 1, &cf->iter};
        bin[1] = (weft_tview){WEFT_BOOL, 0, {0}, 1, &cf->cond};
        for (int k = 0; k < n_carried; k++) bin[k + 2] = cf->carry_v[k];
        if ((st = weft_session_exec(body, bin))) return weft_error_wrap(st, "node '%s' (Loop) iteration %lld", step->info.name, (long long)iters);
        if ((st = scalar_bool(step, &body->views[bp->outputs[0]], "the body's condition output", &cond))) return st;
        for (int k = 0; k < n_carried; k++)
            if ((st = keep(&cf->carry[k], &cf->carry_v[k], &body->views[bp->outputs[k + 1]]))) return st;
        for (int j = 0; j < n_scan; j++) {
            const weft_tview *e = &body->views[bp->outputs[1 + n_carried + j]];
            if (iters == 0) {
                scan_elem[j] = *e;
            } else if (e->rank != scan_elem[j].rank || memcmp(e->dims, scan_elem[j].dims, (size_t)e->rank * 8) ||
                       e->dtype != scan_elem[j].dtype) {
                return weft_op_error(&step->info, WEFT_ERR_SHAPE, "scan output %d changes shape at iteration %lld", j,
                                     (long long)iters);
            }
            size_t n = view_bytes(e), need = scan_used[j] + n;
            weft_buffer *b = &cf->slice[j];
            if (need > b->cap) { /* grow geometrically, keeping what was gathered */
                weft_buffer nb = {0};
                size_t cap = b->cap * 2 > need ? b->cap * 2 : need;
                if ((st = weft_buffer_reserve(&nb, cap))) return st;
                if (scan_used[j]) memcpy(nb.data, b->data, scan_used[j]);
                weft_buffer_release(b);
                *b = nb;
            }
            if (n) memcpy((char *)b->data + scan_used[j], e->data, n);
            scan_used[j] = need;
        }
        iters++;
    }
    for (int k = 0; k < n_carried; k++)
        if ((st = emit(s, step->out[k], k, &cf->carry_v[k]))) return st;
    for (int j = 0; j < n_scan; j++) {
        weft_tview v = {0};
        int o = n_carried + j;
        if (iters) {
            v = scan_elem[j];
        } else { /* no iteration: an empty tensor of the body output's declared type */
            const weft_slot *bs = &bp->slots[bp->outputs[1 + n_carried + j]];
            v.dtype = bs->dtype;
            v.rank = bs->shape.rank < 0 ? 0 : bs->shape.rank;
            for (int d = 0; d < v.rank; d++) v.dims[d] = weft_dim_known(bs->shape.d[d]) ? bs->shape.d[d].v : 0;
        }
        if (v.rank >= WEFT_MAX_RANK) return weft_op_error(&step->info, WEFT_ERR_UNSUPPORTED, "scan output rank too large");
        memmove(v.dims + 1, v.dims, (size_t)v.rank * sizeof(int64_t));
        v.dims[0] = iters;
        v.rank++;
        weft_tview tmp, *dst = step->out[o] >= 0 ? &s->views[step->out[o]] : &tmp;
        if ((st = weft_session_alloc_slot(s, step->out[o], o, v.dtype, v.rank, v.dims, dst))) return st;
        if (scan_used[j]) memcpy(dst->data, cf->slice[j].data, scan_used[j]);
    }
    return WEFT_OK;
}

/* Copies slice t along `axis` of x (contiguous) to or from a contiguous buffer. */
static void slice_copy(const weft_tview *x, int axis, int64_t t, void *buf, bool to_buf)
{
    size_t es = weft_dtype_size(x->dtype);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= x->dims[d];
    for (int d = axis + 1; d < x->rank; d++) inner *= x->dims[d];
    size_t row = (size_t)inner * es;
    for (int64_t o = 0; o < outer; o++) {
        char *xp = (char *)x->data + ((size_t)(o * x->dims[axis] + t)) * row;
        char *bp = (char *)buf + (size_t)o * row;
        if (row) memcpy(to_buf ? bp : xp, to_buf ? xp : bp, row);
    }
}

static weft_status run_scan(weft_session *s, int i)
{
    const weft_step *step = &s->plan->steps[i];
    weft_cf_state *cf = s->cf[i];
    weft_session *body = s->sub[i][0];
    const struct weft_plan *bp = body->plan;
    const weft_node_info *info = &step->info;
    if (info->opset < 9) return weft_op_error(info, WEFT_ERR_UNSUPPORTED, "Scan before opset 9 (batched form) is not supported");
    int64_t m64 = weft_attr_int(info, "num_scan_inputs", 0);
    if (m64 < 1 || m64 > step->n_in || step->n_out < step->n_in - m64)
        return weft_op_error(info, WEFT_ERR_INVALID_MODEL, "num_scan_inputs %lld does not fit %d inputs and %d outputs",
                             (long long)m64, step->n_in, step->n_out);
    int m = (int)m64;
    int n_state = step->n_in - m, k_out = step->n_out - n_state;
    const int64_t *in_axes = NULL, *in_dirs = NULL, *out_axes = NULL, *out_dirs = NULL;
    int n_ia = weft_attr_ints(info, "scan_input_axes", &in_axes), n_id = weft_attr_ints(info, "scan_input_directions", &in_dirs);
    int n_oa = weft_attr_ints(info, "scan_output_axes", &out_axes), n_od = weft_attr_ints(info, "scan_output_directions", &out_dirs);
    if ((n_ia >= 0 && n_ia != m) || (n_id >= 0 && n_id != m) || (n_oa >= 0 && n_oa != k_out) || (n_od >= 0 && n_od != k_out))
        return weft_op_error(info, WEFT_ERR_INVALID_MODEL, "scan axes/directions lists do not match the input/output counts");
    weft_status st;
    int64_t len = -1;
    int axes[64];
    if (m > 64 || k_out > 64) return weft_op_error(info, WEFT_ERR_UNSUPPORTED, "more than 64 scan inputs or outputs");
    for (int j = 0; j < m; j++) {
        const weft_tview *x = &s->views[step->in[n_state + j]];
        if ((st = weft_axis(info, n_ia >= 0 ? in_axes[j] : 0, x->rank, false, &axes[j]))) return st;
        if (len >= 0 && x->dims[axes[j]] != len)
            return weft_op_error(info, WEFT_ERR_SHAPE, "scan inputs have different sequence lengths (%lld vs %lld)",
                                 (long long)len, (long long)x->dims[axes[j]]);
        len = x->dims[axes[j]];
    }
    for (int k = 0; k < n_state; k++)
        if ((st = keep(&cf->carry[k], &cf->carry_v[k], &s->views[step->in[k]]))) return st;
    weft_tview outs[64];
    int oaxes[64];
    for (int64_t t = 0; t < len; t++) {
        weft_tview *bin = cf->body_in;
        for (int k = 0; k < n_state; k++) bin[k] = cf->carry_v[k];
        for (int j = 0; j < m; j++) {
            const weft_tview *x = &s->views[step->in[n_state + j]];
            int64_t idx = (n_id >= 0 && in_dirs[j]) ? len - 1 - t : t;
            weft_tview sl = *x;
            sl.rank = x->rank - 1;
            for (int d = axes[j]; d < sl.rank; d++) sl.dims[d] = x->dims[d + 1];
            sl.numel = len ? x->numel / len : 0;
            if ((st = weft_buffer_reserve(&cf->slice[j], view_bytes(&sl)))) return st;
            slice_copy(x, axes[j], idx, cf->slice[j].data, true);
            sl.data = cf->slice[j].data;
            bin[n_state + j] = sl;
        }
        if ((st = weft_session_exec(body, bin))) return weft_error_wrap(st, "node '%s' (Scan) step %lld", info->name, (long long)t);
        for (int k = 0; k < n_state; k++)
            if ((st = keep(&cf->carry[k], &cf->carry_v[k], &body->views[bp->outputs[k]]))) return st;
        for (int j = 0; j < k_out; j++) {
            const weft_tview *e = &body->views[bp->outputs[n_state + j]];
            int o = n_state + j;
            if (t == 0) { /* the output's shape: the element's with the sequence axis inserted */
                if (e->rank >= WEFT_MAX_RANK) return weft_op_error(info, WEFT_ERR_UNSUPPORTED, "scan output rank too large");
                if ((st = weft_axis(info, n_oa >= 0 ? out_axes[j] : 0, e->rank, true, &oaxes[j]))) return st;
                int64_t dims[WEFT_MAX_RANK];
                for (int d = 0, src = 0; d <= e->rank; d++) dims[d] = d == oaxes[j] ? len : e->dims[src++];
                weft_tview *dst = step->out[o] >= 0 ? &s->views[step->out[o]] : &outs[j];
                if ((st = weft_session_alloc_slot(s, step->out[o], o, e->dtype, e->rank + 1, dims, dst))) return st;
                outs[j] = *dst;
            } else if (view_bytes(e) * (size_t)len != view_bytes(&outs[j]) || e->dtype != outs[j].dtype) {
                return weft_op_error(info, WEFT_ERR_SHAPE, "scan output %d changes shape at step %lld", j, (long long)t);
            }
            int64_t idx = (n_od >= 0 && out_dirs[j]) ? len - 1 - t : t;
            slice_copy(&outs[j], oaxes[j], idx, e->data, false);
        }
    }
    for (int k = 0; k < n_state; k++)
        if ((st = emit(s, step->out[k], k, &cf->carry_v[k]))) return st;
    if (len == 0)
        return weft_op_error(info, WEFT_ERR_UNSUPPORTED, "a Scan over an empty sequence has outputs of unknown shape");
    return WEFT_OK;
}

weft_status weft_control_run(weft_session *s, int i)
{
    const char *op = s->plan->steps[i].info.op_type;
    if (strcmp(op, "If") == 0) return run_if(s, i);
    if (strcmp(op, "Loop") == 0) return run_loop(s, i);
    if (strcmp(op, "Scan") == 0) return run_scan(s, i);
    return weft_op_error(&s->plan->steps[i].info, WEFT_ERR_UNSUPPORTED, "unknown control-flow op");
}
