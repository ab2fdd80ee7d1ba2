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
#include <stdlib.h>
#include <string.h>

#include "session.h"

#define ALIGN 64
static size_t align_up(size_t n) { return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

/* --- the arena plan ------------------------------------------------------------------------------ */

typedef struct placed {
    size_t off, size;
} placed;

static const size_t *sort_bytes;
static const int *sort_first;
static int by_size_desc(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_bytes[i] != sort_bytes[j]) return sort_bytes[i] < sort_bytes[j] ? 1 : -1;
    if (sort_first[i] != sort_first[j]) return sort_first[i] < sort_first[j] ? -1 : 1;
    return i - j;
}

static int by_offset(const void *a, const void *b)
{
    const placed *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
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
    int max_step = 0;
    for (int i = 0; i < n; i++) max_step = last[i] > max_step ? last[i] : max_step;
    size_t *live = calloc((size_t)max_step + 2, sizeof *live);
    if (!order || !done || !busy || !live) {
        free(order); free(done); free(busy); free(live);
        return weft_error(WEFT_ERR_NOMEM, "out of memory planning the arena");
    }
    for (int i = 0; i < n; i++) {
        order[i] = i;
        for (int t = first[i]; t <= last[i]; t++) live[t] += align_up(bytes[i]);
    }
    for (int t = 0; t <= max_step; t++) *bound = live[t] > *bound ? live[t] : *bound;
    sort_bytes = bytes;
    sort_first = first;
    qsort(order, (size_t)n, sizeof *order, by_size_desc);
    int n_done = 0;
    for (int k = 0; k < n; k++) {
        int i = order[k];
        size_t need = align_up(bytes[i]);
        int nb = 0;
        for (int d = 0; d < n_done; d++) {
            int j = done[d];
            if (first[j] <= last[i] && first[i] <= last[j] && bytes[j]) busy[nb++] = (placed){offset[j], align_up(bytes[j])};
        }
        qsort(busy, (size_t)nb, sizeof *busy, by_offset);
        /* best fit: the smallest gap that holds it; else after everything it overlaps */
        size_t at = 0, best = SIZE_MAX, best_gap = SIZE_MAX, end = 0;
        for (int b = 0; b < nb; b++) {
            if (busy[b].off > at) {
                size_t gap = busy[b].off - at;
                if (gap >= need && gap < best_gap) { best_gap = gap; best = at; }
            }
            if (busy[b].off + busy[b].size > at) at = busy[b].off + busy[b].size;
        }
        end = at;
        offset[i] = best != SIZE_MAX ? best : end;
        if (offset[i] + need > *total) *total = offset[i] + need;
        done[n_done++] = i;
    }
    free(order);
    free(done);
    free(busy);
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
    for (int v = 0; cfg->shape_data && v < p->n_slots; v++) free(cfg->shape_data[v]);
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
    /* the arena: static temporaries (not shape-only) */
    int n = 0;
    for (int v = 0; v < V; v++) {
        const weft_slot *sl = &p->slots[v];
        if (sl->kind != WEFT_SLOT_TEMP || sl->shape_only || cfg->dynamic[v] || sl->first < 0) continue;
        which[n] = v;
        first[n] = sl->first;
        last[n] = sl->last;
        bytes[n] = view_bytes(&cfg->views[v]);
        n++;
    }
    if ((st = weft_arena_plan(n, first, last, bytes, off, &cfg->arena_bytes, &cfg->bound_bytes))) goto done;
    if ((st = weft_buffer_reserve(&s->arena, cfg->arena_bytes))) goto done;
    cfg->arena_base = s->arena.data;
    for (int k = 0; k < n; k++) cfg->views[which[k]].data = (char *)s->arena.data + off[k];
    for (int v = 0; v < V; v++)
        if (p->slots[v].kind == WEFT_SLOT_TEMP && p->slots[v].shape_only && cfg->shape_data[v]) cfg->views[v].data = cfg->shape_data[v];
    /* the backends' state for these shapes */
    for (int i = 0; i < N; i++) {
        const weft_step *step = &p->steps[i];
        if (cfg->mode[i] != WEFT_MODE_STATIC || !step->backend->reshape) continue;
        for (int k = 0; k < step->n_in; k++) {
            if (step->in[k] < 0) memset(&s->in_v[k], 0, sizeof s->in_v[k]);
            else s->in_v[k] = cfg->views[step->in[k]];
        }
        for (int o = 0; o < step->n_out; o++) {
            if (step->out[o] < 0) memset(&s->out_v[o], 0, sizeof s->out_v[o]);
            else s->out_v[o] = cfg->views[step->out[o]];
        }
        weft_kernel_ctx k = {&step->info, step->n_in, s->in_v, step->n_out, s->out_v, scratch_fn, s, s->threads};
        if ((st = step->backend->reshape(step->prepared, &k, &cfg->state[i]))) {
            st = weft_error_wrap(st, "node '%s' (%s): backend '%s'", step->info.name, step->info.op_type, step->backend->name);
            goto done;
        }
    }
done:
    free(first);
    free(last);
    free(which);
    free(bytes);
    free(off);
    return st;
}
