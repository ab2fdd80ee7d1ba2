/*
 * ops/onednn/deconv.c — the `onednn` backend's ConvTranspose: oneDNN deconvolution primitives (forward
 * inference, float32, 1 to 3 spatial axes, groups, strides, dilations, explicit pads and auto_pad,
 * output_padding, output_shape, optional bias).
 *
 * Geometry: the output size and leading pad of each axis are ONNX's (ops/window_transpose.h, the
 * reference kernel's own code); oneDNN's trailing pad is what remains, (in - 1) * stride + span - pad_l -
 * out, negative where output_padding or output_shape extend the output past the last tap (those
 * positions get the bias alone, as in ONNX). oneDNN 2.6 takes a leading pad >= 0 and a trailing pad
 * > -stride; outside that (output_shape or SAME_* padding asking for more than the taps reach, an
 * output_padding past the stride) the primitive computes the window of the output the taps cover and a
 * reorder writes it into a view of the output, which is first filled with the bias.
 *
 * Weights: ONNX stores ConvTranspose weights [C, M/group, k...]; oneDNN names them [M, C, k...] (with
 * groups [G, M/G, C/G, k...]). ONNX's layout is described to oneDNN by strides over oneDNN's dims, so
 * one reorder primitive moves them into the layout the deconvolution prefers:
 *   - prepare: a constant W is reordered once into the layout asked on the compile-time shape (format
 *     "any"; nominal spatial sizes where unknown);
 *   - reshape: the primitive for the bound shapes with source, weights and destination in format "any",
 *     its scratchpad left to us; where oneDNN wants a blocked layout for the activations, reorders
 *     convert the plain NCDHW input into it and the result back (buffers in the run's scratch). A
 *     constant W whose preferred layout differs from prepare's is reordered here, once per session;
 *     weights computed at run time are reordered on each run into the run's scratch.
 * Shapes outside the primitive's form (empty tensors, malformed operands) and shapes oneDNN declines run
 * the reference kernel, which also reports every error; with WEFT_ONEDNN_STRICT set in the environment
 * (tests) they are an error instead.
 */
#include <dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cpu/cpu.h"
#include "../window_transpose.h"
#include "onednn_prim.h"
#include "onednn_deconv.h"

/* Spatial sizes of the representative shape used to ask for the weight layout when not known. */
#define DC_NOMINAL_SPATIAL 32

typedef struct dc_prep {
    const weft_op_def *def;  /* the reference kernel, for fallbacks */
    dnnl_engine_t eng;
    int rank;                /* of X */
    int64_t group;
    win_geom w;
    int64_t wdims[WEFT_MAX_RANK]; /* ONNX's [C, M/group, k...] */
    /* a constant W: as given (ONNX's layout) and in the layout prepare chose (wmd; NULL when none) */
    void *wplain, *wpacked;
    dnnl_memory_desc_t wmd;
} dc_prep;

typedef struct dc_state {
    bool fallback;   /* run the reference kernel */
    dnnl_stream_t stream;
    dnnl_primitive_t prim, r_src, r_dst, r_wei; /* reorders NULL when not needed */
    dnnl_memory_t m_x, m_xb, m_w, m_wu, m_b, m_y, m_yb, m_scr;
    size_t scr_bytes, xb_off, yb_off, wb_off, total;
    bool has_bias;
    bool partial;    /* the primitive writes part of the output (dc_geom); the rest is filled first */
    void *wown;      /* constant weights reordered in reshape */
} dc_state;

bool weft_dn_deconv_supports(const weft_step_desc *s)
{
    const weft_op_def *d = s->def;
    if (!d || strcmp(d->name, "ConvTranspose") != 0 || (d->domain[0] && strcmp(d->domain, "ai.onnx") != 0)) return false;
    if (s->n_in < 2 || s->n_out != 1 || s->in_dtype[0] != WEFT_FLOAT32 || s->in_dtype[1] != WEFT_FLOAT32 ||
        s->out_dtype[0] != WEFT_FLOAT32)
        return false;
    int rank = s->in_shape[0].rank;
    if (rank < 3 || rank > 5) return false;
    const weft_shape *ws = &s->in_shape[1];
    if (ws->rank != rank || !weft_shape_known(ws)) return false;
    if (s->n_in > 2 && s->in_dtype[2] != WEFT_UNDEFINED && s->in_dtype[2] != WEFT_FLOAT32) return false;
    return weft_attr_int(s->node, "group", 1) >= 1;
}

/* ONNX's weights [C, M/G, k...] (wd) described over oneDNN's dims: [M, C, k...], with groups
 * [G, M/G, C/G, k...]. */
static dnnl_status_t onnx_wei_md(const dc_prep *p, const int64_t *wd, dnnl_memory_desc_t *md)
{
    int r = p->rank, nsp = r - 2;
    int64_t taps = 1;
    dnnl_dims_t dims, strides;
    int o = p->group > 1 ? 1 : 0;
    for (int i = nsp - 1; i >= 0; i--) {
        dims[o + 2 + i] = wd[i + 2];
        strides[o + 2 + i] = taps;
        taps *= wd[i + 2];
    }
    int64_t Cg = wd[0] / p->group, Mg = wd[1];
    dims[o] = Mg;           /* M (per group) */
    strides[o] = taps;
    dims[o + 1] = Cg;       /* C (per group) */
    strides[o + 1] = Mg * taps;
    if (o) {
        dims[0] = p->group;
        strides[0] = Cg * Mg * taps;
    }
    return dnnl_memory_desc_init_by_strides(md, r + o, dims, dnnl_f32, strides);
}

void weft_dn_deconv_release(void *prepared)
{
    dc_prep *p = prepared;
    if (!p) return;
    free(p->wplain);
    free(p->wpacked);
    if (p->eng) dnnl_engine_destroy(p->eng);
    free(p);
}

/* The geometry of one binding as oneDNN reads it. */
typedef struct dc_geom {
    int nsp;
    int64_t n, c, m;
    int64_t in[3], out[3], s[3], d[3], pl[3], pr[3];
    /* the primitive's output is the window [off, off + out) of each axis of the step's output when
     * `partial`; the rest holds the bias alone */
    bool partial;
    int64_t off[3];
} dc_geom;

/*
 * Fills g for input dims x and output dims y; false when oneDNN's form does not hold them. oneDNN takes
 * a leading pad >= 0 and a trailing pad > -stride: where ONNX's output starts before the first tap (a
 * negative leading pad) or reaches further past the last one, the primitive computes the part the taps
 * cover and the rest is the bias.
 */
static bool geom(const dc_prep *p, const weft_node_info *node, const int64_t *x, const int64_t *y, dc_geom *g)
{
    memset(g, 0, sizeof *g);
    g->nsp = p->rank - 2;
    g->n = x[0];
    g->c = x[1];
    g->m = y[1];
    for (int i = 0; i < p->rank; i++)
        if (x[i] <= 0 || y[i] <= 0) return false;
    for (int i = 0; i < g->nsp; i++) {
        int64_t o = 0, pb = 0;
        if (win_transpose_axis(node, &p->w, i, x[i + 2], &o, &pb)) {
            weft_error_clear();
            return false;
        }
        if (o != y[i + 2]) return false;
        int64_t s = p->w.s[i], cover = (x[i + 2] - 1) * s + win_span(&p->w, i), off = 0;
        if (pb < 0) {
            off = -pb;
            pb = 0;
        }
        int64_t po = o - off, pr = cover - pb - po;
        if (pr <= -s) {
            po = cover - pb;
            pr = 0;
        }
        if (po <= 0) return false;
        g->partial |= off > 0 || po != o;
        g->in[i] = x[i + 2];
        g->out[i] = po;
        g->off[i] = off;
        g->s[i] = s;
        g->d[i] = p->w.d[i];
        g->pl[i] = pb;
        g->pr[i] = pr;
    }
    return true;
}

/* A deconvolution primitive descriptor: source and destination in format any, weights in format any,
 * the bias plain when `bias`. */
static dnnl_status_t deconv_pd(const dc_prep *p, const dc_geom *g, const dnnl_memory_desc_t *wuser, bool bias,
                               dnnl_primitive_desc_t *pd)
{
    dnnl_memory_desc_t src, wei, dst, bmd;
    dnnl_dims_t xd, yd, bd = {g->m}, st, dl, pl, pr;
    xd[0] = yd[0] = g->n;
    xd[1] = g->c;
    yd[1] = g->m;
    for (int i = 0; i < g->nsp; i++) {
        xd[i + 2] = g->in[i];
        yd[i + 2] = g->out[i];
        st[i] = g->s[i];
        dl[i] = g->d[i] - 1;
        pl[i] = g->pl[i];
        pr[i] = g->pr[i];
    }
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_tag(&src, p->rank, xd, dnnl_f32, dnnl_format_tag_any)) ||
        (s = dnnl_memory_desc_init_by_tag(&dst, p->rank, yd, dnnl_f32, dnnl_format_tag_any)) ||
        (s = dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a)) ||
        (s = dnnl_memory_desc_init_by_tag(&wei, wuser->ndims, wuser->dims, dnnl_f32, dnnl_format_tag_any)))
        return s;
    dnnl_deconvolution_desc_t dd;
    if ((s = dnnl_dilated_deconvolution_forward_desc_init(&dd, dnnl_forward_inference, dnnl_deconvolution_direct, &src,
                                                          &wei, bias ? &bmd : NULL, &dst, st, dl, pl, pr)))
        return s;
    dnnl_primitive_attr_t attr = NULL;
    if ((s = dnnl_primitive_attr_create(&attr))) return s;
    s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (!s) s = dnnl_primitive_desc_create(pd, &dd, attr, p->eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    return s;
}

weft_status weft_dn_deconv_prepare(const weft_step_desc *s, void **prepared)
{
    *prepared = NULL;
    dc_prep *p = calloc(1, sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    weft_status st = WEFT_OK;
    p->def = s->def;
    p->rank = s->in_shape[0].rank;
    p->group = weft_attr_int(s->node, "group", 1);
    dnnl_status_t ds = dnnl_engine_create(&p->eng, dnnl_cpu, 0);
    if (ds) {
        p->eng = NULL;
        st = weft_dn_fail(s->node, ds, "creating the CPU engine");
        goto fail;
    }
    int nsp = p->rank - 2;
    const weft_shape *ws = &s->in_shape[1];
    int64_t kd[WEFT_MAX_RANK] = {0};
    for (int i = 0; i < p->rank; i++) p->wdims[i] = ws->d[i].v;
    for (int i = 0; i < nsp; i++) kd[i] = ws->d[i + 2].v;
    if ((st = win_read(s->node, nsp, kd, false, &p->w))) goto fail;
    if (p->group < 1 || p->wdims[0] % p->group != 0) {
        st = weft_op_error(s->node, WEFT_ERR_SHAPE, "%lld input channels are not divisible by group %lld",
                           (long long)p->wdims[0], (long long)p->group);
        goto fail;
    }
    if (s->in_const && s->in_const[1]) {
        size_t bytes = sizeof(float);
        for (int i = 0; i < p->rank; i++) bytes *= (size_t)p->wdims[i];
        if (!(p->wplain = weft_dn_alloc64(bytes))) {
            st = weft_error(WEFT_ERR_NOMEM, "out of memory");
            goto fail;
        }
        memcpy(p->wplain, s->in_const[1], bytes);
        /* the layout oneDNN prefers, on the compile-time shape (nominal sizes where unknown) */
        const weft_shape *xs = &s->in_shape[0];
        int64_t x[WEFT_MAX_RANK], y[WEFT_MAX_RANK];
        x[0] = y[0] = weft_dim_known(xs->d[0]) ? xs->d[0].v : 1;
        x[1] = p->wdims[0];
        y[1] = p->wdims[1] * p->group;
        bool ok = bytes > 0;
        for (int i = 0; i < nsp && ok; i++) {
            x[i + 2] = weft_dim_known(xs->d[i + 2]) ? xs->d[i + 2].v : DC_NOMINAL_SPATIAL;
            int64_t pb;
            if (win_transpose_axis(s->node, &p->w, i, x[i + 2], &y[i + 2], &pb)) {
                weft_error_clear();
                ok = false;
            }
        }
        dc_geom g;
        dnnl_memory_desc_t user;
        dnnl_primitive_desc_t pd = NULL;
        if (ok && geom(p, s->node, x, y, &g) && !onnx_wei_md(p, p->wdims, &user) && !deconv_pd(p, &g, &user, false, &pd)) {
            const dnnl_memory_desc_t *q = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
            if (q) {
                p->wmd = *q;
                if ((p->wpacked = weft_dn_alloc64(dnnl_memory_desc_get_size(q))) &&
                    weft_dn_reorder_once(p->eng, &user, p->wplain, q, p->wpacked)) {
                    free(p->wpacked);
                    p->wpacked = NULL;
                }
            }
        }
        if (pd) dnnl_primitive_desc_destroy(pd);
    }
    *prepared = p;
    return WEFT_OK;
fail:
    weft_dn_deconv_release(p);
    return st;
}

/* --- reshape ---------------------------------------------------------------------------------------- */

void weft_dn_deconv_release_state(void *state)
{
    dc_state *s = state;
    if (!s) return;
    dnnl_primitive_t prims[] = {s->prim, s->r_src, s->r_dst, s->r_wei};
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
        if (prims[i]) dnnl_primitive_destroy(prims[i]);
    dnnl_memory_t mems[] = {s->m_x, s->m_xb, s->m_w, s->m_wu, s->m_b, s->m_y, s->m_yb, s->m_scr};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    if (s->stream) dnnl_stream_destroy(s->stream);
    free(s->wown);
    free(s);
}

static dnnl_status_t deconv_reshape(const dc_prep *p, const weft_kernel_ctx *k, const dc_geom *g, const int64_t *xd,
                                    const int64_t *yd, dc_state *s)
{
    dnnl_memory_desc_t user, px, py, bmd;
    dnnl_dims_t bd = {g->m}, dx, dy, sub = {g->n, g->m}, offs = {0, 0};
    for (int i = 0; i < p->rank; i++) {
        dx[i] = xd[i];
        dy[i] = yd[i];
    }
    for (int i = 0; i < g->nsp; i++) {
        sub[i + 2] = g->out[i];
        offs[i + 2] = g->off[i];
    }
    dnnl_status_t ds;
    if ((ds = onnx_wei_md(p, k->in[1].dims, &user)) ||
        (ds = dnnl_memory_desc_init_by_tag(&px, p->rank, dx, dnnl_f32, weft_dn_plain_tag(p->rank))) ||
        (ds = dnnl_memory_desc_init_by_tag(&py, p->rank, dy, dnnl_f32, weft_dn_plain_tag(p->rank))) ||
        (ds = dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a)))
        return ds;
    /* a partial output: the primitive's part of the output is a view of it, written by a reorder */
    s->partial = g->partial;
    if (g->partial) {
        dnnl_memory_desc_t full = py;
        if ((ds = dnnl_memory_desc_init_submemory(&py, &full, sub, offs))) return ds;
    }
    s->has_bias = weft_kin_present(k, 2);
    dnnl_primitive_desc_t pd = NULL;
    if ((ds = deconv_pd(p, g, &user, s->has_bias, &pd))) return ds;
    const dnnl_memory_desc_t *qx = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *qy = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *qw = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *qs = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    s->scr_bytes = qs ? dnnl_memory_desc_get_size(qs) : 0;
    bool x_blocked = !dnnl_memory_desc_equal(qx, &px), y_blocked = g->partial || !dnnl_memory_desc_equal(qy, &py);
    bool w_reorder = !p->wplain && !dnnl_memory_desc_equal(qw, &user);
    if (x_blocked && (ds = weft_dn_make_reorder(p->eng, &px, qx, &s->r_src, &s->scr_bytes))) goto out;
    if (y_blocked && (ds = weft_dn_make_reorder(p->eng, qy, &py, &s->r_dst, &s->scr_bytes))) goto out;
    if (w_reorder && (ds = weft_dn_make_reorder(p->eng, &user, qw, &s->r_wei, &s->scr_bytes))) goto out;
    s->xb_off = weft_dn_up64(s->scr_bytes);
    s->yb_off = s->xb_off + (x_blocked ? weft_dn_up64(dnnl_memory_desc_get_size(qx)) : 0);
    s->wb_off = s->yb_off + (y_blocked ? weft_dn_up64(dnnl_memory_desc_get_size(qy)) : 0);
    s->total = s->wb_off + (w_reorder ? weft_dn_up64(dnnl_memory_desc_get_size(qw)) : 0);
    /* constant weights: in the layout asked for, reordered once (prepare's when it matches) */
    void *wdata = DNNL_MEMORY_NONE;
    if (p->wplain) {
        if (p->wpacked && dnnl_memory_desc_equal(qw, &p->wmd)) wdata = p->wpacked;
        else if (dnnl_memory_desc_equal(qw, &user)) wdata = p->wplain;
        else {
            if (!(s->wown = weft_dn_alloc64(dnnl_memory_desc_get_size(qw)))) {
                ds = dnnl_out_of_memory;
                goto out;
            }
            if ((ds = weft_dn_reorder_once(p->eng, &user, p->wplain, qw, s->wown))) goto out;
            wdata = s->wown;
        }
    }
    if ((ds = dnnl_primitive_create(&s->prim, pd))) goto out;
    if ((ds = dnnl_memory_create(&s->m_x, &px, p->eng, DNNL_MEMORY_NONE)) ||
        (ds = dnnl_memory_create(&s->m_y, &py, p->eng, DNNL_MEMORY_NONE)) ||
        (ds = dnnl_memory_create(&s->m_w, qw, p->eng, wdata)) ||
        (ds = dnnl_memory_create(&s->m_b, &bmd, p->eng, DNNL_MEMORY_NONE)))
        goto out;
    if (w_reorder && (ds = dnnl_memory_create(&s->m_wu, &user, p->eng, DNNL_MEMORY_NONE))) goto out;
    if (x_blocked && (ds = dnnl_memory_create(&s->m_xb, qx, p->eng, DNNL_MEMORY_NONE))) goto out;
    if (y_blocked && (ds = dnnl_memory_create(&s->m_yb, qy, p->eng, DNNL_MEMORY_NONE))) goto out;
    if (s->scr_bytes) {
        dnnl_memory_desc_t smd;
        dnnl_dims_t sd = {(int64_t)s->scr_bytes};
        dnnl_memory_desc_init_by_tag(&smd, 1, sd, dnnl_u8, dnnl_a);
        ds = dnnl_memory_create(&s->m_scr, &smd, p->eng, DNNL_MEMORY_NONE);
    }
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return ds;
}

weft_status weft_dn_deconv_reshape(const void *prepared, const weft_kernel_ctx *k, void **state)
{
    const dc_prep *p = prepared;
    *state = NULL;
    dc_state *s = calloc(1, sizeof *s);
    if (!s) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    const weft_tview *x = &k->in[0], *w = &k->in[1], *y = &k->out[0];
    bool ok = x->rank == p->rank && y->rank == p->rank && w->rank == p->rank && x->dtype == WEFT_FLOAT32 &&
              w->dtype == WEFT_FLOAT32 && y->dtype == WEFT_FLOAT32;
    if (ok) ok = w->dims[0] == x->dims[1] && x->dims[1] % p->group == 0 && w->dims[1] * p->group == y->dims[1];
    for (int i = 0; ok && i < p->rank; i++) ok = w->dims[i] == p->wdims[i];
    if (ok && weft_kin_present(k, 2)) ok = k->in[2].numel == y->dims[1] && k->in[2].dtype == WEFT_FLOAT32;
    dc_geom g;
    if (ok) ok = geom(p, k->node, x->dims, y->dims, &g);
    if (!ok && getenv("WEFT_ONEDNN_STRICT")) {
        free(s);
        return weft_op_error(k->node, WEFT_ERR_UNSUPPORTED, "oneDNN: shapes outside the primitive's form");
    }
    if (!ok) {
        /* the reference kernel, which also reports every error */
        s->fallback = true;
        *state = s;
        return WEFT_OK;
    }
    weft_cpu_set_threads(weft_kthreads(k));
    dnnl_status_t ds = dnnl_stream_create(&s->stream, p->eng, dnnl_stream_default_flags);
    if (!ds) ds = deconv_reshape(p, k, &g, x->dims, y->dims, s);
    if (ds && getenv("WEFT_ONEDNN_STRICT")) {
        /* tests: a step oneDNN declines is an error instead of a fallback */
        weft_dn_deconv_release_state(s);
        return weft_dn_fail(k->node, ds, "creating the deconvolution primitive");
    }
    if (ds) {
        /* oneDNN declines these shapes: the reference kernel */
        weft_dn_deconv_release_state(s);
        if (!(s = calloc(1, sizeof *s))) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        s->fallback = true;
    }
    *state = s;
    return WEFT_OK;
}

/* --- run -------------------------------------------------------------------------------------------- */

static dnnl_status_t exec_reorder(dnnl_primitive_t r, dnnl_stream_t stream, dnnl_memory_t from, dnnl_memory_t to,
                                  dnnl_memory_t scr)
{
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}, {DNNL_ARG_SCRATCHPAD, scr}};
    return dnnl_primitive_execute(r, stream, scr ? 3 : 2, a);
}

/* Every output position set to its channel's bias (0 without one): the positions no tap reaches. */
static void fill_bias(weft_kernel_ctx *k, bool bias)
{
    const weft_tview *y = &k->out[0];
    int64_t M = y->dims[1], planes = y->dims[0] * M, plane = 1;
    for (int i = 2; i < y->rank; i++) plane *= y->dims[i];
    const float *b = bias ? k->in[2].data : NULL;
    float *yp = y->data;
#pragma omp parallel for num_threads(weft_kthreads(k)) schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        float v = b ? b[pl % M] : 0.0f;
        for (int64_t i = 0; i < plane; i++) yp[pl * plane + i] = v;
    }
}

weft_status weft_dn_deconv_run(const void *prepared, void *state, weft_kernel_ctx *k)
{
    const dc_prep *p = prepared;
    dc_state *s = state;
    if (!s) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "onednn: run before reshape");
    if (s->fallback) return p->def->run(k);
    weft_cpu_set_threads(weft_kthreads(k));
    char *scr = NULL;
    if (s->total) {
        scr = k->scratch(k->user, s->total + 64);
        if (!scr) return weft_op_error(k->node, WEFT_ERR_NOMEM, "cannot allocate %zu bytes of scratch", s->total);
        scr += (64 - ((uintptr_t)scr & 63)) & 63;
    }
    dnnl_status_t ds = dnnl_memory_set_data_handle(s->m_x, k->in[0].data);
    if (!ds) ds = dnnl_memory_set_data_handle(s->m_y, k->out[0].data);
    if (!ds && s->m_scr) ds = dnnl_memory_set_data_handle(s->m_scr, scr);
    if (!ds && s->m_xb) ds = dnnl_memory_set_data_handle(s->m_xb, scr + s->xb_off);
    if (!ds && s->m_yb) ds = dnnl_memory_set_data_handle(s->m_yb, scr + s->yb_off);
    if (!ds && s->r_wei) {
        ds = dnnl_memory_set_data_handle(s->m_wu, k->in[1].data);
        if (!ds) ds = dnnl_memory_set_data_handle(s->m_w, scr + s->wb_off);
    } else if (!ds && !p->wplain) {
        ds = dnnl_memory_set_data_handle(s->m_w, k->in[1].data);
    }
    if (!ds && s->has_bias) ds = dnnl_memory_set_data_handle(s->m_b, k->in[2].data);
    if (ds) return weft_dn_fail(k->node, ds, "binding memory");
    if (s->partial) fill_bias(k, s->has_bias);
    if (s->r_wei) ds = exec_reorder(s->r_wei, s->stream, s->m_wu, s->m_w, s->m_scr);
    if (!ds && s->r_src) ds = exec_reorder(s->r_src, s->stream, s->m_x, s->m_xb, s->m_scr);
    if (!ds) {
        dnnl_exec_arg_t a[5];
        int na = 0;
        a[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, s->m_xb ? s->m_xb : s->m_x};
        a[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, s->m_w};
        a[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, s->m_yb ? s->m_yb : s->m_y};
        if (s->has_bias) a[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, s->m_b};
        if (s->m_scr) a[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, s->m_scr};
        ds = dnnl_primitive_execute(s->prim, s->stream, na, a);
    }
    if (!ds && s->r_dst) ds = exec_reorder(s->r_dst, s->stream, s->m_yb, s->m_y, s->m_scr);
    if (!ds) ds = dnnl_stream_wait(s->stream);
    return ds ? weft_dn_fail(k->node, ds, "executing deconvolution") : WEFT_OK;
}
