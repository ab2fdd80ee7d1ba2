/*
 * ops/control.c — If, Loop and Scan, in one place: their schema entries, the checks the compiler and
 * the runtime both make of them, and their execution.
 *
 * Why in ops/: control flow is an op whose kernel runs subgraphs. All it needs of the world outside is
 * "run subgraph k on these inputs" and "give output o room of these dims", which the runtime hands in
 * as a weft_control_host (ops/control.h). So this file knows no graphs, plans or sessions; the compiler
 * and the runtime reach it as they reach every op (compiler → ops, runtime → ops), and it reaches the
 * session only through the host's function pointers.
 *   - Checks (weft_control_check) read only counts and attributes, which a compile-time node and a
 *     run-time step both have: the compiler runs them before it infers a node's outputs from its
 *     subgraphs (compiler/pass_infer.c: inference needs the graphs, so it stays there), the runtime
 *     when it makes a step's state (weft_control_prepare), so a plan read from elsewhere is checked too.
 *   - The kind of op and the position of each subgraph are decided once, in weft_control_prepare; a
 *     run dispatches on the kind.
 *   - Loop-carried values, scan slices and scan outputs live in buffers of the state that only grow,
 *     so a run with sizes seen before allocates nothing.
 */
#include "control.h"

#include <stdlib.h>
#include <string.h>

#include "backend.h"

/* --- schemas ------------------------------------------------------------------------------------- */

static weft_status not_here(weft_infer_ctx *c)
{
    return weft_op_error(c->node, WEFT_ERR_INTERNAL, "control flow is inferred from its subgraphs by the compiler");
}

static weft_status not_run(weft_kernel_ctx *k)
{
    return weft_op_error(k->node, WEFT_ERR_INTERNAL, "control flow runs through weft_control_run");
}

/* In weft_control_kind order, from WEFT_CONTROL_IF. */
const weft_op_def weft_ops_control[] = {
    {"If", "", 1, 0, 1, 1, 1, -1, WEFT_OP_CONTROL_FLOW | WEFT_OP_VALUE_DEPENDENT_SHAPE, not_here, not_run},
    {"Loop", "", 1, 0, 0, -1, 1, -1, WEFT_OP_CONTROL_FLOW | WEFT_OP_VALUE_DEPENDENT_SHAPE, not_here, not_run},
    {"Scan", "", 9, 0, 1, -1, 1, -1, WEFT_OP_CONTROL_FLOW, not_here, not_run},
};
const int weft_ops_control_count = sizeof weft_ops_control / sizeof weft_ops_control[0];

weft_control_kind weft_control_kind_of(const weft_op_def *def)
{
    for (int i = 0; def && i < weft_ops_control_count; i++)
        if (def == &weft_ops_control[i]) return (weft_control_kind)(WEFT_CONTROL_IF + i);
    return WEFT_CONTROL_NONE;
}

int weft_control_role(weft_control_kind kind, const char *attr)
{
    if (kind == WEFT_CONTROL_IF) return strcmp(attr, "then_branch") == 0 ? 0 : strcmp(attr, "else_branch") == 0 ? 1 : -1;
    if (kind == WEFT_CONTROL_LOOP || kind == WEFT_CONTROL_SCAN) return strcmp(attr, "body") == 0 ? 0 : -1;
    return -1;
}

/* --- checks -------------------------------------------------------------------------------------- */

/* Kernels and sessions size their per-step arrays for at most this many operands. */
#define CONTROL_MAX_OPERANDS 64

/* Scan's counts: m scan inputs (the rest are state variables), k scan outputs. */
static weft_status scan_counts(const weft_control_sig *s, int *m, int *k)
{
    const weft_node_info *n = s->info;
    int64_t m64 = weft_attr_int(n, "num_scan_inputs", -1);
    int body_in = s->sub[0].n_inputs, body_out = s->sub[0].n_outputs;
    /* Range-checked as int64 first: an int cast of a huge value would wrap. */
    if (m64 < 1 || m64 > s->n_in || s->n_out < s->n_in - m64 || body_in != s->n_in || body_out != s->n_out)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL,
                             "num_scan_inputs %lld does not fit %d inputs and %d outputs (body: %d and %d)",
                             (long long)m64, s->n_in, s->n_out, body_in, body_out);
    *m = (int)m64;
    *k = s->n_out - (s->n_in - *m);
    static const char *const lists[] = {"scan_input_axes", "scan_input_directions", "scan_output_axes",
                                        "scan_output_directions"};
    for (int i = 0; i < 4; i++) {
        const int64_t *v;
        int len = weft_attr_ints(n, lists[i], &v), want = i < 2 ? *m : *k;
        if (len >= 0 && len != want)
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "%s has %d entries for %d scan %s", lists[i], len, want,
                                 i < 2 ? "inputs" : "outputs");
    }
    return WEFT_OK;
}

weft_status weft_control_check(const weft_control_sig *s)
{
    const weft_node_info *n = s->info;
    int first = 0, last = s->n_in; /* the inputs that must be present */
    switch (s->kind) {
    case WEFT_CONTROL_IF:
        if (s->sub[0].index < 0 || s->sub[1].index < 0)
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "then_branch and else_branch are required");
        if (s->sub[0].n_outputs != s->n_out || s->sub[1].n_outputs != s->n_out)
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "the branches have %d and %d outputs, the node %d",
                                 s->sub[0].n_outputs, s->sub[1].n_outputs, s->n_out);
        if (s->n_in < 1) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "the condition input is required");
        last = 1;
        break;
    case WEFT_CONTROL_LOOP: {
        if (s->sub[0].index < 0) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute body is required");
        int n_carried = s->n_in - 2, body_in = s->sub[0].n_inputs, body_out = s->sub[0].n_outputs;
        if (n_carried < 0 || body_in != n_carried + 2 || body_out < n_carried + 1 || s->n_out != body_out - 1)
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL,
                                 "body has %d inputs and %d outputs for %d loop-carried values and %d node outputs",
                                 body_in, body_out, n_carried < 0 ? 0 : n_carried, s->n_out);
        first = 2; /* M and cond are optional */
        break;
    }
    case WEFT_CONTROL_SCAN: {
        if (s->sub[0].index < 0) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute body is required");
        int m, k;
        weft_status st = scan_counts(s, &m, &k);
        if (st) return st;
        break;
    }
    default:
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "not a control-flow op");
    }
    if (s->n_in > CONTROL_MAX_OPERANDS || s->n_out > CONTROL_MAX_OPERANDS)
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "more than %d inputs or outputs", CONTROL_MAX_OPERANDS);
    /* The runtime reads these without looking for an absent one, and a node runs even when its inputs
     * are untyped at compile time, so no later check sees it. */
    for (int k = first; k < last; k++)
        if (s->in[k] < 0) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "input %d is absent, and it is not optional", k);
    return WEFT_OK;
}

/* --- state --------------------------------------------------------------------------------------- */

/* Host memory that grows when a larger tensor needs it and is kept between runs. */
typedef struct cf_buffer {
    void *data;
    size_t cap;
} cf_buffer;

/* Makes b hold at least `bytes`; keeps the first `keep` bytes. */
static weft_status cf_reserve(cf_buffer *b, size_t bytes, size_t keep)
{
    if (bytes <= b->cap && b->data) return WEFT_OK;
    void *p;
    weft_status st = weft_buffer_host.alloc(NULL, bytes, &p);
    if (st) return st;
    if (keep) memcpy(p, b->data, keep);
    weft_buffer_host.free(NULL, b->data);
    b->data = p;
    b->cap = bytes;
    return WEFT_OK;
}

struct weft_control_state {
    weft_control_kind kind;
    int sub[WEFT_CONTROL_MAX_SUBS]; /* the host's index of each role's subgraph */
    int n_in, n_out;
    int n;                          /* entries of each array below */
    cf_buffer *carry;               /* current value of each loop-carried / state variable */
    weft_tview *carry_v;
    cf_buffer *slice;               /* Loop: each scan output gathered so far; Scan: the current slice of each scan input */
    weft_tview *body_in;            /* the body's inputs, by position */
    weft_tview *sub_out;            /* a subgraph's outputs after it ran */
    int64_t iter;
    uint8_t cond;
    /* Scan's attributes, read once */
    int m, k_out;
    const int64_t *in_axes, *in_dirs, *out_axes, *out_dirs;
    int n_ia, n_id, n_oa, n_od;
};

weft_status weft_control_prepare(const weft_control_sig *s, weft_control_state **out)
{
    *out = NULL;
    weft_status st = weft_control_check(s);
    if (st) return st;
    weft_control_state *cs = calloc(1, sizeof *cs);
    if (!cs) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    cs->kind = s->kind;
    cs->n_in = s->n_in;
    cs->n_out = s->n_out;
    int widest = 0;
    for (int r = 0; r < WEFT_CONTROL_MAX_SUBS; r++) {
        cs->sub[r] = s->sub[r].index;
        if (s->sub[r].index >= 0) {
            if (s->sub[r].n_inputs > widest) widest = s->sub[r].n_inputs;
            if (s->sub[r].n_outputs > widest) widest = s->sub[r].n_outputs;
        }
    }
    /* Loop gathers one buffer per scan output, which may outnumber its inputs */
    cs->n = (s->n_in > s->n_out ? s->n_in : s->n_out) + 2;
    if (widest > cs->n) cs->n = widest;
    cs->carry = calloc((size_t)cs->n, sizeof *cs->carry);
    cs->carry_v = calloc((size_t)cs->n, sizeof *cs->carry_v);
    cs->slice = calloc((size_t)cs->n, sizeof *cs->slice);
    cs->body_in = calloc((size_t)cs->n, sizeof *cs->body_in);
    cs->sub_out = calloc((size_t)cs->n, sizeof *cs->sub_out);
    if (!cs->carry || !cs->carry_v || !cs->slice || !cs->body_in || !cs->sub_out) {
        weft_control_free(cs);
        return weft_error(WEFT_ERR_NOMEM, "out of memory");
    }
    if (s->kind == WEFT_CONTROL_SCAN) {
        scan_counts(s, &cs->m, &cs->k_out); /* checked above */
        cs->n_ia = weft_attr_ints(s->info, "scan_input_axes", &cs->in_axes);
        cs->n_id = weft_attr_ints(s->info, "scan_input_directions", &cs->in_dirs);
        cs->n_oa = weft_attr_ints(s->info, "scan_output_axes", &cs->out_axes);
        cs->n_od = weft_attr_ints(s->info, "scan_output_directions", &cs->out_dirs);
    }
    *out = cs;
    return WEFT_OK;
}

void weft_control_free(weft_control_state *cs)
{
    if (!cs) return;
    for (int i = 0; cs->carry && i < cs->n; i++) weft_buffer_host.free(NULL, cs->carry[i].data);
    for (int i = 0; cs->slice && i < cs->n; i++) weft_buffer_host.free(NULL, cs->slice[i].data);
    free(cs->carry);
    free(cs->carry_v);
    free(cs->slice);
    free(cs->body_in);
    free(cs->sub_out);
    free(cs);
}

/* --- running ------------------------------------------------------------------------------------- */

static size_t view_bytes(const weft_tview *v) { return (size_t)v->numel * weft_dtype_size(v->dtype); }

/* Makes output o a copy of `src`. */
static weft_status emit(const weft_control_host *h, int o, const weft_tview *src)
{
    weft_tview dst;
    weft_status st = h->alloc(h->user, o, src->dtype, src->rank, src->dims, &dst);
    if (st) return st;
    if (view_bytes(src)) memmove(dst.data, src->data, view_bytes(src));
    return WEFT_OK;
}

/* Copies `src` into a state buffer and points `view` at it. */
static weft_status keep(cf_buffer *b, weft_tview *view, const weft_tview *src)
{
    size_t n = view_bytes(src);
    if (src->data == b->data && b->data) { *view = *src; return WEFT_OK; }
    weft_status st = cf_reserve(b, n, 0);
    if (st) return st;
    if (n) memmove(b->data, src->data, n);
    *view = *src;
    view->data = b->data;
    return WEFT_OK;
}

static weft_status scalar_bool(const weft_node_info *info, const weft_tview *v, const char *what, uint8_t *out)
{
    if (v->numel != 1 || (v->dtype != WEFT_BOOL && !weft_dtype_is_integer(v->dtype)))
        return weft_op_error(info, WEFT_ERR_SHAPE, "%s must be a single boolean, got %lld elements of %s", what,
                             (long long)v->numel, weft_dtype_name(v->dtype));
    *out = weft_load_i64(v->dtype, v->data, 0) != 0;
    return WEFT_OK;
}

static weft_status run_if(weft_control_state *cs, const weft_node_info *info, const weft_tview *in,
                          const weft_control_host *h)
{
    uint8_t cond = 0;
    weft_status st = scalar_bool(info, &in[0], "the condition", &cond);
    if (st) return st;
    if ((st = h->run(h->user, cs->sub[cond ? 0 : 1], NULL, cs->sub_out))) return st;
    for (int o = 0; o < cs->n_out; o++)
        if ((st = emit(h, o, &cs->sub_out[o]))) return st;
    return WEFT_OK;
}

static weft_status run_loop(weft_control_state *cs, const weft_node_info *info, const weft_tview *in,
                            const weft_control_host *h)
{
    int n_carried = cs->n_in - 2, n_scan = cs->n_out - n_carried;
    const weft_tview *bout = cs->sub_out;
    weft_status st;
    int64_t max_trip = INT64_MAX;
    if (in[0].dtype != WEFT_UNDEFINED) {
        if (in[0].numel != 1) return weft_op_error(info, WEFT_ERR_SHAPE, "M must hold one value");
        max_trip = weft_load_i64(in[0].dtype, in[0].data, 0);
    }
    uint8_t cond = 1;
    if (in[1].dtype != WEFT_UNDEFINED && (st = scalar_bool(info, &in[1], "cond", &cond))) return st;
    /* carried values live in carry[0..n_carried); scan outputs accumulate in slice[0..n_scan) */
    for (int k = 0; k < n_carried; k++)
        if ((st = keep(&cs->carry[k], &cs->carry_v[k], &in[k + 2]))) return st;
    int64_t iters = 0;
    weft_tview scan_elem[CONTROL_MAX_OPERANDS];
    size_t scan_used[CONTROL_MAX_OPERANDS] = {0};
    while (iters < max_trip && cond) {
        cs->iter = iters;
        cs->cond = cond;
        weft_tview *bin = cs->body_in;
        bin[0] = (weft_tview){WEFT_INT64, 0, {0}, 1, &cs->iter};
        bin[1] = (weft_tview){WEFT_BOOL, 0, {0}, 1, &cs->cond};
        for (int k = 0; k < n_carried; k++) bin[k + 2] = cs->carry_v[k];
        if ((st = h->run(h->user, cs->sub[0], bin, cs->sub_out)))
            return weft_error_wrap(st, "node '%s' (Loop) iteration %lld", info->name, (long long)iters);
        if ((st = scalar_bool(info, &bout[0], "the body's condition output", &cond))) return st;
        for (int k = 0; k < n_carried; k++)
            if ((st = keep(&cs->carry[k], &cs->carry_v[k], &bout[k + 1]))) return st;
        for (int j = 0; j < n_scan; j++) {
            const weft_tview *e = &bout[1 + n_carried + j];
            if (iters == 0) {
                scan_elem[j] = *e;
            } else if (e->rank != scan_elem[j].rank || memcmp(e->dims, scan_elem[j].dims, (size_t)e->rank * 8) ||
                       e->dtype != scan_elem[j].dtype) {
                return weft_op_error(info, WEFT_ERR_SHAPE, "scan output %d changes shape at iteration %lld", j,
                                     (long long)iters);
            }
            size_t n = view_bytes(e), need = scan_used[j] + n;
            cf_buffer *b = &cs->slice[j];
            /* grow geometrically, keeping what was gathered */
            if (need > b->cap && (st = cf_reserve(b, b->cap * 2 > need ? b->cap * 2 : need, scan_used[j]))) return st;
            if (n) memcpy((char *)b->data + scan_used[j], e->data, n);
            scan_used[j] = need;
        }
        iters++;
    }
    for (int k = 0; k < n_carried; k++)
        if ((st = emit(h, k, &cs->carry_v[k]))) return st;
    for (int j = 0; j < n_scan; j++) {
        weft_tview v = {0};
        int o = n_carried + j;
        if (iters) {
            v = scan_elem[j];
        } else { /* no iteration: an empty tensor of the body output's declared type */
            weft_shape shape;
            h->declared(h->user, cs->sub[0], 1 + n_carried + j, &v.dtype, &shape);
            v.rank = shape.rank < 0 ? 0 : shape.rank;
            for (int d = 0; d < v.rank; d++) v.dims[d] = weft_dim_known(shape.d[d]) ? shape.d[d].v : 0;
        }
        if (v.rank >= WEFT_MAX_RANK) return weft_op_error(info, WEFT_ERR_UNSUPPORTED, "scan output rank too large");
        memmove(v.dims + 1, v.dims, (size_t)v.rank * sizeof(int64_t));
        v.dims[0] = iters;
        v.rank++;
        weft_tview dst;
        if ((st = h->alloc(h->user, o, v.dtype, v.rank, v.dims, &dst))) return st;
        if (scan_used[j]) memcpy(dst.data, cs->slice[j].data, scan_used[j]);
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

static weft_status run_scan(weft_control_state *cs, const weft_node_info *info, const weft_tview *in,
                            const weft_control_host *h)
{
    int m = cs->m, n_state = cs->n_in - m, k_out = cs->k_out;
    const weft_tview *bout = cs->sub_out;
    weft_status st;
    int64_t len = -1;
    int axes[CONTROL_MAX_OPERANDS];
    for (int j = 0; j < m; j++) {
        const weft_tview *x = &in[n_state + j];
        if ((st = weft_axis(info, cs->n_ia >= 0 ? cs->in_axes[j] : 0, x->rank, false, &axes[j]))) return st;
        if (len >= 0 && x->dims[axes[j]] != len)
            return weft_op_error(info, WEFT_ERR_SHAPE, "scan inputs have different sequence lengths (%lld vs %lld)",
                                 (long long)len, (long long)x->dims[axes[j]]);
        len = x->dims[axes[j]];
    }
    for (int k = 0; k < n_state; k++)
        if ((st = keep(&cs->carry[k], &cs->carry_v[k], &in[k]))) return st;
    weft_tview outs[CONTROL_MAX_OPERANDS];
    int oaxes[CONTROL_MAX_OPERANDS];
    for (int64_t t = 0; t < len; t++) {
        weft_tview *bin = cs->body_in;
        for (int k = 0; k < n_state; k++) bin[k] = cs->carry_v[k];
        for (int j = 0; j < m; j++) {
            const weft_tview *x = &in[n_state + j];
            int64_t idx = (cs->n_id >= 0 && cs->in_dirs[j]) ? len - 1 - t : t;
            weft_tview sl = *x;
            sl.rank = x->rank - 1;
            for (int d = axes[j]; d < sl.rank; d++) sl.dims[d] = x->dims[d + 1];
            sl.numel = len ? x->numel / len : 0;
            if ((st = cf_reserve(&cs->slice[j], view_bytes(&sl), 0))) return st;
            slice_copy(x, axes[j], idx, cs->slice[j].data, true);
            sl.data = cs->slice[j].data;
            bin[n_state + j] = sl;
        }
        if ((st = h->run(h->user, cs->sub[0], bin, cs->sub_out)))
            return weft_error_wrap(st, "node '%s' (Scan) step %lld", info->name, (long long)t);
        for (int k = 0; k < n_state; k++)
            if ((st = keep(&cs->carry[k], &cs->carry_v[k], &bout[k]))) return st;
        for (int j = 0; j < k_out; j++) {
            const weft_tview *e = &bout[n_state + j];
            if (t == 0) { /* the output's shape: the element's with the sequence axis inserted */
                if (e->rank >= WEFT_MAX_RANK) return weft_op_error(info, WEFT_ERR_UNSUPPORTED, "scan output rank too large");
                if ((st = weft_axis(info, cs->n_oa >= 0 ? cs->out_axes[j] : 0, e->rank, true, &oaxes[j]))) return st;
                int64_t dims[WEFT_MAX_RANK];
                for (int d = 0, src = 0; d <= e->rank; d++) dims[d] = d == oaxes[j] ? len : e->dims[src++];
                if ((st = h->alloc(h->user, n_state + j, e->dtype, e->rank + 1, dims, &outs[j]))) return st;
            } else if (view_bytes(e) * (size_t)len != view_bytes(&outs[j]) || e->dtype != outs[j].dtype) {
                return weft_op_error(info, WEFT_ERR_SHAPE, "scan output %d changes shape at step %lld", j, (long long)t);
            }
            int64_t idx = (cs->n_od >= 0 && cs->out_dirs[j]) ? len - 1 - t : t;
            slice_copy(&outs[j], oaxes[j], idx, e->data, false);
        }
    }
    for (int k = 0; k < n_state; k++)
        if ((st = emit(h, k, &cs->carry_v[k]))) return st;
    if (len == 0)
        return weft_op_error(info, WEFT_ERR_UNSUPPORTED, "a Scan over an empty sequence has outputs of unknown shape");
    return WEFT_OK;
}

weft_status weft_control_run(weft_control_state *cs, const weft_node_info *info, const weft_tview *in,
                             const weft_control_host *host)
{
    switch (cs->kind) {
    case WEFT_CONTROL_IF: return run_if(cs, info, in, host);
    case WEFT_CONTROL_LOOP: return run_loop(cs, info, in, host);
    case WEFT_CONTROL_SCAN: return run_scan(cs, info, in, host);
    default: return weft_op_error(info, WEFT_ERR_INTERNAL, "not a control-flow step");
    }
}
