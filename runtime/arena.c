/*
 * runtime/arena.c — setting a session up for one set of sizes: static shapes, shape-only values, the
 * arena, and the backends' state.
 *
 * Given the dims of the graph inputs, every value whose shape follows from sizes alone gets its shape
 * now, by the ops' own `infer` (the one the compiler used), fed with the contents of constants and of
 * shape-only values, which are computed here once. A step whose output sizes need the contents of real
 * data (NonZero, a Reshape to a computed target, control flow) is dynamic: it is inferred on every run,
 * as is everything that reads its outputs, and its values live in growing buffers.
 *
 * Static temporaries get offsets in one arena, planned by liveness: greedy by size (largest first), each
 * at the offset of the smallest gap between the values it overlaps in time that fits it. The lower
 * bound of any plan is the largest total of bytes live at one step.
 */
#define _GNU_SOURCE /* qsort_r */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

#define ALIGN 64
static size_t align_up(size_t n) { return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

/* --- the arena plan ------------------------------------------------------------------------------ */

typedef struct placed {
    size_t off, size;
} placed;

typedef struct plan_in {
    int n;
    const int *first, *last;
    const size_t *bytes;
} plan_in;

/* Orders tried: largest first (ties: earliest start, or latest end), largest area (bytes x steps)
 * first, earliest first; each with two placements (lowest gap that fits, smallest gap that fits); then
 * largest first with sizes jittered by a fixed-seed generator (so plans are reproducible). Every trial
 * gives a sound plan and the smallest wins, stopping early at the lower bound: no one order suits every
 * graph, and set-up pays for the trials once per set of sizes. */
enum { ORDER_SIZE_START, ORDER_SIZE_END, ORDER_AREA, ORDER_START, N_ORDERS, ORDER_JITTER = N_ORDERS };
typedef struct order_ctx {
    const plan_in *in;
    int order;
    const double *jitter; /* ORDER_JITTER: per value, a factor in [0.7, 1.3) */
} order_ctx;

static int order_cmp(const void *a, const void *b, void *ctx)
{
    int i = *(const int *)a, j = *(const int *)b;
    const plan_in *in = ((const order_ctx *)ctx)->in;
    int sort_order = ((const order_ctx *)ctx)->order;
    double ki, kj;
    if (sort_order == ORDER_AREA) {
        ki = (double)align_up(in->bytes[i]) * (in->last[i] - in->first[i] + 1);
        kj = (double)align_up(in->bytes[j]) * (in->last[j] - in->first[j] + 1);
    } else if (sort_order == ORDER_JITTER) {
        ki = (double)align_up(in->bytes[i]) * ((const order_ctx *)ctx)->jitter[i];
        kj = (double)align_up(in->bytes[j]) * ((const order_ctx *)ctx)->jitter[j];
    } else if (sort_order == ORDER_START) {
        ki = -in->first[i];
        kj = -in->first[j];
    } else {
        ki = (double)align_up(in->bytes[i]);
        kj = (double)align_up(in->bytes[j]);
    }
    if (ki != kj) return ki < kj ? 1 : -1;
    if (sort_order == ORDER_SIZE_END && in->last[i] != in->last[j]) return in->last[i] > in->last[j] ? -1 : 1;
    if (sort_order == ORDER_START && in->bytes[i] != in->bytes[j]) return in->bytes[i] > in->bytes[j] ? -1 : 1;
    if (in->first[i] != in->first[j]) return in->first[i] < in->first[j] ? -1 : 1;
    return i - j;
}

static int by_offset(const void *a, const void *b)
{
    const placed *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Places values in `order`, each in a gap between the values already placed that overlap it in time
 * (the lowest that holds it, or with `best` the smallest), else after all of them. Returns the total. */
static size_t place(const plan_in *in, const int *order, bool best_fit, int *done, placed *busy, size_t *offset)
{
    size_t total = 0;
    int n_done = 0;
    for (int k = 0; k < in->n; k++) {
        int i = order[k];
        size_t need = align_up(in->bytes[i]);
        int nb = 0;
        for (int d = 0; d < n_done; d++) {
            int j = done[d];
            if (in->first[j] <= in->last[i] && in->first[i] <= in->last[j] && in->bytes[j])
                busy[nb++] = (placed){offset[j], align_up(in->bytes[j])};
        }
        qsort(busy, (size_t)nb, sizeof *busy, by_offset);
        size_t at = 0, best = SIZE_MAX, best_gap = SIZE_MAX;
        for (int b = 0; b < nb; b++) {
            if (busy[b].off > at) {
                size_t gap = busy[b].off - at;
                if (gap >= need && gap < best_gap && (best_fit || best == SIZE_MAX)) { best_gap = gap; best = at; }
            }
            if (busy[b].off + busy[b].size > at) at = busy[b].off + busy[b].size;
        }
        offset[i] = best != SIZE_MAX ? best : at;
        if (offset[i] + need > total) total = offset[i] + need;
        done[n_done++] = i;
    }
    return total;
}

weft_status weft_arena_plan(int n, const int *first, const int *last, const size_t *bytes, size_t *offset,
                            size_t *total, size_t *bound)
{
    *total = 0;
    *bound = 0;
    if (n <= 0) return WEFT_OK;
    int *order = malloc((size_t)n * sizeof *order);
    int *done = malloc((size_t)n * sizeof *done);
    placed *busy = malloc((size_t)n * sizeof *busy);
    size_t *trial = malloc((size_t)n * sizeof *trial);
    int max_step = 0;
    for (int i = 0; i < n; i++) max_step = last[i] > max_step ? last[i] : max_step;
    size_t *live = calloc((size_t)max_step + 2, sizeof *live);
    if (!order || !done || !busy || !trial || !live) {
        free(order); free(done); free(busy); free(trial); free(live);
        return weft_error(WEFT_ERR_NOMEM, "out of memory planning the arena");
    }
    for (int i = 0; i < n; i++)
        for (int t = first[i]; t <= last[i]; t++) live[t] += align_up(bytes[i]);
    for (int t = 0; t <= max_step; t++) *bound = live[t] > *bound ? live[t] : *bound;
    plan_in in = {n, first, last, bytes};
    *total = SIZE_MAX;
    /* trials cost O(n^2) each: fewer for plans with many values */
    int fixed = n > 4000 ? 2 : 2 * N_ORDERS, jittered = n > 2000 ? 0 : n > 500 ? 16 : 64;
    double *jitter = malloc((size_t)n * sizeof *jitter);
    if (!jitter) jittered = 0;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int t = 0; t < fixed + jittered && *total > *bound; t++) {
        for (int i = 0; i < n; i++) order[i] = i;
        order_ctx oc = {&in, t < fixed ? t / 2 : ORDER_JITTER, jitter};
        if (t >= fixed)
            for (int i = 0; i < n; i++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                jitter[i] = 0.7 + 0.6 * (double)(rng >> 11) / 9007199254740992.0;
            }
        qsort_r(order, (size_t)n, sizeof *order, order_cmp, &oc); /* sessions set up on many threads at once */
        size_t got = place(&in, order, t < fixed ? t % 2 : 0, done, busy, trial);
        if (got < *total) {
            *total = got;
            memcpy(offset, trial, (size_t)n * sizeof *offset);
        }
    }
    free(jitter);
    free(order);
    free(done);
    free(busy);
    free(trial);
    free(live);
    return WEFT_OK;
}

/* --- set-up of one set of sizes ------------------------------------------------------------------ */

static int32_t unknown_dim(void *user)
{
    (void)user;
    return 0x7fffffff; /* marks an output dim infer could not compute without data */
}

static void *scratch_fn(void *user, size_t bytes)
{
    weft_session *s = user;
    return weft_buffer_reserve(&s->scratch, bytes) == WEFT_OK ? s->scratch.data : NULL;
}

void weft_config_clear(const struct weft_plan *p, weft_config *cfg)
{
    for (int i = 0; cfg->state && i < p->n_steps; i++)
        if (cfg->state[i] && p->steps[i].backend && p->steps[i].backend->release_state)
            p->steps[i].backend->release_state(cfg->state[i]);
    for (int v = 0; cfg->shape_data && v < p->n_slots; v++) {
        if (!cfg->shape_data[v]) continue;
        const weft_buffer_type *t = p->bufts[p->slots[v].buft];
        if (t == &weft_buffer_host) free(cfg->shape_data[v]);
        else t->free(t->ctx, cfg->shape_data[v]);
    }
    for (int g = 0; cfg->segs && g < cfg->n_segs; g++)
        if (cfg->segs[g].graph) p->bufts[cfg->segs[g].buft]->graph_free(cfg->segs[g].graph);
    free(cfg->segs);
    free(cfg->seg_at);
    free(cfg->key);
    free(cfg->views);
    free(cfg->mode);
    free(cfg->dynamic);
    free(cfg->state);
    free(cfg->shape_data);
    memset(cfg, 0, sizeof *cfg);
}

/* Infers step i's outputs from cfg's views; *dynamic when a size needs data not known now. */
static weft_status infer_static(weft_session *s, weft_config *cfg, int i, bool *dynamic)
{
    const struct weft_plan *p = s->plan;
    const weft_step *step = &p->steps[i];
    *dynamic = false;
    for (int k = 0; k < step->n_in; k++) {
        int v = step->in[k];
        s->in_dt[k] = WEFT_UNDEFINED;
        s->in_sh[k].rank = 0;
        s->in_data[k] = NULL;
        if (v < 0) continue;
        if (cfg->dynamic[v]) { *dynamic = true; return WEFT_OK; }
        const weft_tview *tv = &cfg->views[v];
        s->in_dt[k] = tv->dtype;
        s->in_sh[k].rank = tv->rank;
        for (int d = 0; d < tv->rank; d++) s->in_sh[k].d[d] = weft_dim_num(tv->dims[d]);
        const weft_slot *sl = &p->slots[v];
        if (sl->kind == WEFT_SLOT_CONST) s->in_data[k] = sl->data;
        else if (sl->kind == WEFT_SLOT_TEMP && sl->shape_only) s->in_data[k] = cfg->shape_data[v];
    }
    for (int o = 0; o < step->n_out; o++) { s->out_dt[o] = WEFT_UNDEFINED; s->out_sh[o].rank = -1; }
    weft_infer_ctx c = {&step->info, step->n_in, s->in_dt, s->in_sh, s->in_data, step->n_out, s->out_dt, s->out_sh,
                        unknown_dim, NULL, scratch_fn, s};
    weft_status st = step->def->infer(&c);
    if (st) return st;
    for (int o = 0; o < step->n_out; o++) {
        const weft_shape *sh = &s->out_sh[o];
        if (sh->rank < 0 || sh->rank > WEFT_MAX_RANK) { *dynamic = true; return WEFT_OK; }
        for (int d = 0; d < sh->rank; d++)
            if (!weft_dim_known(sh->d[d])) { *dynamic = true; return WEFT_OK; }
    }
    for (int o = 0; o < step->n_out; o++) {
        int v = step->out[o];
        if (v < 0) continue;
        weft_tview *tv = &cfg->views[v];
        const weft_shape *sh = &s->out_sh[o];
        tv->dtype = s->out_dt[o];
        tv->rank = sh->rank;
        tv->numel = 1;
        for (int d = 0; d < sh->rank; d++) {
            tv->dims[d] = sh->d[d].v;
            if (tv->dims[d] < 0) return weft_op_error(&step->info, WEFT_ERR_SHAPE, "output %d: negative dimension", o);
            if (tv->dims[d] && tv->numel > INT64_MAX / tv->dims[d])
                return weft_op_error(&step->info, WEFT_ERR_NOMEM, "output %d would have more than 2^63 elements", o);
            tv->numel *= tv->dims[d];
        }
        size_t es = weft_dtype_size(tv->dtype);
        if (!es) return weft_op_error(&step->info, WEFT_ERR_UNSUPPORTED, "output %d: dtype %s cannot be stored", o, weft_dtype_name(tv->dtype));
        if ((uint64_t)tv->numel > (SIZE_MAX / 2) / es) return weft_op_error(&step->info, WEFT_ERR_NOMEM, "output %d is too large", o);
    }
    return WEFT_OK;
}

static size_t view_bytes(const weft_tview *v) { return (size_t)v->numel * weft_dtype_size(v->dtype); }

/* Runs a shape-only step now: its outputs are kept in cfg->shape_data. */
static weft_status compute_shape_only(weft_session *s, weft_config *cfg, int i)
{
    const struct weft_plan *p = s->plan;
    const weft_step *step = &p->steps[i];
    for (int k = 0; k < step->n_in; k++) {
        int v = step->in[k];
        if (v < 0) { memset(&s->in_v[k], 0, sizeof s->in_v[k]); continue; }
        s->in_v[k] = cfg->views[v];
        const weft_slot *sl = &p->slots[v];
        if (sl->kind == WEFT_SLOT_CONST) s->in_v[k].data = (void *)sl->data;
        else if (sl->shape_only) s->in_v[k].data = cfg->shape_data[v];
        else s->in_v[k].data = NULL; /* Shape / Size read the dims only */
    }
    for (int o = 0; o < step->n_out; o++) {
        int v = step->out[o];
        s->out_v[o] = cfg->views[v];
        void *d = calloc(1, view_bytes(&cfg->views[v]) + 8);
        if (!d) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        cfg->shape_data[v] = d;
        s->out_v[o].data = d;
    }
    weft_kernel_ctx k = {&step->info, step->n_in, s->in_v, step->n_out, s->out_v, scratch_fn, s, 1};
    weft_status st = step->def->run(&k);
    return st ? weft_error_wrap(st, "computing shape-only node '%s'", step->info.name) : WEFT_OK;
}

/* A copy between buffer types: the same shape on the other side. A copy of a constant is made once per
 * session (s->uploads), of a shape-only value once per set of sizes (cfg->shape_data); both are then
 * skipped by runs. */
static weft_status setup_copy(weft_session *s, weft_config *cfg, int i)
{
    const struct weft_plan *p = s->plan;
    const weft_step *step = &p->steps[i];
    int v = step->in[0], c = step->out[0];
    const weft_slot *src = &p->slots[v];
    cfg->views[c] = cfg->views[v];
    cfg->views[c].data = NULL;
    size_t bytes = view_bytes(&cfg->views[v]);
    const void *from = src->kind == WEFT_SLOT_CONST ? src->data : src->shape_only ? cfg->shape_data[v] : NULL;
    if (!from) { cfg->mode[i] = WEFT_MODE_STATIC; return WEFT_OK; }
    cfg->mode[i] = WEFT_MODE_SKIP;
    const weft_buffer_type *t = p->bufts[p->slots[c].buft];
    void *to = NULL;
    weft_status st;
    if (src->kind == WEFT_SLOT_CONST && p->uploads) {
        /* once per plan: every session of the plan reads the same device copy */
        pthread_mutex_lock(p->upload_lock);
        st = WEFT_OK;
        if (!p->uploads[i]) {
            void *q = NULL;
            if ((st = t->alloc(t->ctx, bytes ? bytes : 1, &q)) == WEFT_OK &&
                (st = step->copy_buft->copy(step->copy_buft->ctx, NULL, q, from, bytes, step->copy_dir)) != WEFT_OK)
                t->free(t->ctx, q);
            else if (st == WEFT_OK)
                p->uploads[i] = q;
        }
        to = p->uploads[i];
        pthread_mutex_unlock(p->upload_lock);
        if (st) return weft_error_wrap(st, "uploading constant '%s'", src->name);
    } else if (src->kind == WEFT_SLOT_CONST) {
        if (!s->uploads[i].data) {
            if ((st = weft_buffer_reserve_on(&s->uploads[i], t, bytes))) return st;
            if ((st = step->copy_buft->copy(step->copy_buft->ctx, NULL, s->uploads[i].data, from, bytes, step->copy_dir))) return st;
        }
        to = s->uploads[i].data;
    } else {
        if (t == &weft_buffer_host) to = malloc(bytes ? bytes : 1);
        else if ((st = t->alloc(t->ctx, bytes ? bytes : 1, &to))) return st;
        if (!to) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        cfg->shape_data[c] = to;
        if ((st = step->copy_buft->copy(step->copy_buft->ctx, NULL, to, from, bytes, step->copy_dir))) return st;
    }
    cfg->views[c].data = to;
    return WEFT_OK;
}

/* The buffer type whose queue step i only enqueues on when it runs with fixed shapes (a kernel of a
 * device backend that can be captured, a copy within that device), else -1. */
static int enqueue_only_buft(const struct weft_plan *p, const weft_config *cfg, int i)
{
    const weft_step *step = &p->steps[i];
    const weft_buffer_type *t = NULL;
    if (step->kind == WEFT_STEP_KERNEL && cfg->mode[i] == WEFT_MODE_STATIC) t = step->backend->buft;
    else if (step->kind == WEFT_STEP_COPY && cfg->mode[i] == WEFT_MODE_STATIC && step->copy_dir == WEFT_COPY_ON_DEVICE)
        t = step->copy_buft;
    if (!t || t->is_host || !t->capture_begin) return -1;
    /* a host input read by the kernel must not change between replays: constants and shape-only values */
    for (int k = 0; step->kind == WEFT_STEP_KERNEL && k < step->n_in; k++) {
        int v = step->in[k];
        if (v < 0 || !((step->def->host_inputs >> k) & 1u)) continue;
        if (p->slots[v].kind != WEFT_SLOT_CONST && !(p->slots[v].kind == WEFT_SLOT_TEMP && p->slots[v].shape_only)) return -1;
    }
    for (int b = 0; b < p->n_bufts; b++)
        if (p->bufts[b] == t) return b;
    return -1;
}

/* Device segments of this configuration (weft_config.segs): maximal runs of steps that only enqueue work
 * on one device's queue; steps skipped at run time do not break a run. A segment is captured as one graph
 * on its first run and replayed after (runtime/session.c). */
static weft_status find_segments(weft_session *s, weft_config *cfg)
{
    const struct weft_plan *p = s->plan;
    cfg->n_segs = 0;
    if (!s->graphs || s->profile || s->parent) return WEFT_OK;
    cfg->seg_at = malloc(((size_t)p->n_steps + 1) * sizeof *cfg->seg_at);
    cfg->segs = calloc((size_t)p->n_steps + 1, sizeof *cfg->segs);
    if (!cfg->seg_at || !cfg->segs) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < p->n_steps; i++) cfg->seg_at[i] = -1;
    int open = -1, open_buft = -1, last_work = -1;
    for (int i = 0; i <= p->n_steps; i++) {
        if (i < p->n_steps && cfg->mode[i] == WEFT_MODE_SKIP) continue;
        int b = i < p->n_steps ? enqueue_only_buft(p, cfg, i) : -1;
        if (open >= 0 && b != open_buft) {
            struct weft_segment *g = &cfg->segs[cfg->n_segs];
            g->first = open;
            g->last = last_work;
            g->buft = open_buft;
            cfg->seg_at[open] = cfg->n_segs++;
            open = -1;
        }
        if (b >= 0 && open < 0) { open = i; open_buft = b; }
        if (b >= 0) last_work = i;
    }
    return WEFT_OK;
}

weft_status weft_config_setup(weft_session *s, weft_config *cfg)
{
    const struct weft_plan *p = s->plan;
    int V = p->n_slots, N = p->n_steps;
    cfg->views = calloc((size_t)V + 1, sizeof *cfg->views);
    cfg->mode = calloc((size_t)N + 1, 1);
    cfg->dynamic = calloc((size_t)V + 1, 1);
    cfg->state = calloc((size_t)N + 1, sizeof *cfg->state);
    cfg->shape_data = calloc((size_t)V + 1, sizeof *cfg->shape_data);
    int *first = malloc(((size_t)V + 1) * sizeof(int)), *last = malloc(((size_t)V + 1) * sizeof(int));
    int *which = malloc(((size_t)V + 1) * sizeof(int));
    size_t *bytes = malloc(((size_t)V + 1) * sizeof(size_t)), *off = malloc(((size_t)V + 1) * sizeof(size_t));
    weft_status st = WEFT_OK;
    if (!cfg->views || !cfg->mode || !cfg->dynamic || !cfg->state || !cfg->shape_data || !first || !last || !which || !bytes || !off) {
        st = weft_error(WEFT_ERR_NOMEM, "out of memory setting up a session");
        goto done;
    }
    for (int v = 0; v < V; v++) {
        const weft_slot *sl = &p->slots[v];
        if (sl->kind == WEFT_SLOT_CONST) cfg->views[v] = s->const_views[v];
        else if (sl->kind == WEFT_SLOT_INPUT) { cfg->views[v] = s->bind_v[sl->input_index]; cfg->views[v].data = NULL; }
        else if (sl->kind == WEFT_SLOT_OUTER) cfg->dynamic[v] = 1; /* subplans are not set up this way */
    }
    for (int i = 0; i < N; i++) {
        const weft_step *step = &p->steps[i];
        if (step->kind == WEFT_STEP_COPY && !cfg->dynamic[step->in[0]]) {
            if ((st = setup_copy(s, cfg, i))) goto done;
            continue;
        }
        bool dyn = step->kind != WEFT_STEP_KERNEL;
        if (!dyn && (st = infer_static(s, cfg, i, &dyn))) goto done;
        if (dyn) {
            cfg->mode[i] = WEFT_MODE_DYNAMIC;
            cfg->dynamic_steps++;
            for (int o = 0; o < step->n_out; o++)
                if (step->out[o] >= 0) cfg->dynamic[step->out[o]] = 1;
            continue;
        }
        cfg->mode[i] = step->shape_only ? WEFT_MODE_SKIP : WEFT_MODE_STATIC;
        if (step->shape_only && (st = compute_shape_only(s, cfg, i))) goto done;
    }
    /* one arena per buffer type: its static temporaries (not those made at set-up) */
    for (int t = 0; t < p->n_bufts; t++) {
        int n = 0;
        for (int v = 0; v < V; v++) {
            const weft_slot *sl = &p->slots[v];
            if (sl->buft != t || sl->kind != WEFT_SLOT_TEMP || sl->shape_only || cfg->dynamic[v] || sl->first < 0 ||
                cfg->views[v].data)
                continue;
            which[n] = v;
            first[n] = sl->first;
            last[n] = sl->last;
            bytes[n] = view_bytes(&cfg->views[v]);
            n++;
        }
        size_t total = 0, bound = 0;
        if ((st = weft_arena_plan(n, first, last, bytes, off, &total, &bound))) goto done;
        if ((st = weft_buffer_reserve_on(&s->arenas[t], p->bufts[t], total))) goto done;
        cfg->arena_bytes += total;
        cfg->bound_bytes += bound;
        cfg->arena_base[t] = s->arenas[t].data;
        for (int k = 0; k < n; k++) cfg->views[which[k]].data = (char *)s->arenas[t].data + off[k];
    }
    for (int v = 0; v < V; v++)
        if (p->slots[v].kind == WEFT_SLOT_TEMP && p->slots[v].shape_only && cfg->shape_data[v]) cfg->views[v].data = cfg->shape_data[v];
    /* the backends' state for these shapes */
    for (int i = 0; i < N; i++) {
        const weft_step *step = &p->steps[i];
        if (cfg->mode[i] != WEFT_MODE_STATIC || step->kind != WEFT_STEP_KERNEL || !step->backend->reshape) continue;
        for (int k = 0; k < step->n_in; k++) {
            if (step->in[k] < 0) memset(&s->in_v[k], 0, sizeof s->in_v[k]);
            else s->in_v[k] = cfg->views[step->in[k]];
        }
        for (int o = 0; o < step->n_out; o++) {
            if (step->out[o] < 0) memset(&s->out_v[o], 0, sizeof s->out_v[o]);
            else s->out_v[o] = cfg->views[step->out[o]];
        }
        weft_kernel_ctx k = {&step->info, step->n_in, s->in_v, step->n_out, s->out_v, scratch_fn, s, s->threads,
                             s->step_queue[i]};
        if ((st = step->backend->reshape(step->prepared, &k, &cfg->state[i]))) {
            st = weft_error_wrap(st, "node '%s' (%s): backend '%s'", step->info.name, step->info.op_type, step->backend->name);
            goto done;
        }
    }
    if ((st = find_segments(s, cfg))) goto done;
done:
    free(first);
    free(last);
    free(which);
    free(bytes);
    free(off);
    return st;
}
