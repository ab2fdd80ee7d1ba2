/*
 * ops/onednn/conv.c — the `onednn` backend's convolutions and pools: ONNX Conv and ai.weft FusedConv as
 * oneDNN convolution primitives (forward inference, float32, 1 to 3 spatial axes, groups, strides,
 * dilations, explicit pads and auto_pad, optional bias), MaxPool / AveragePool / GlobalAveragePool /
 * GlobalMaxPool as oneDNN pooling primitives, BatchNormalization (inference) as weft's own loop.
 *
 * Convolution:
 *   - prepare: a constant W is kept as given and also reordered once into the layout oneDNN's
 *     convolution prefers (format "any", asked on the compile-time shape, a nominal one where unknown).
 *   - reshape: the primitive for the bound shapes with source, weights and destination in format "any";
 *     where oneDNN wants a blocked layout for the activations, reorder primitives convert the plain
 *     NCHW input into it and the result back at the step's boundary (buffers in the run's scratch). A
 *     constant W whose preferred layout differs from prepare's guess is reordered here, once per
 *     session. FusedConv's epilogue is fused: acc as a sum post-op (acc placed into the destination
 *     first), the activation as eltwise post-ops (HardSigmoid: linear then clip; SiLU: swish). Where
 *     oneDNN declines the fused form the epilogue runs after the primitive (ops/weft_conv.h); where it
 *     declines the convolution itself the step runs its reference kernel.
 * Pools read and write plain layouts. ceil_mode widens the end padding to cover the last window;
 * AveragePool counting the padding then falls back to the reference (ONNX counts only the declared
 * padding), as does MaxPool's Indices output (not taken at lowering) and any window lying wholly in the
 * padding.
 * With WEFT_ONEDNN_STRICT set in the environment (tests), a step that would fall back to the reference
 * kernel at reshape is an error instead.
 * BatchNormalization: y = x * a[c] + b[c] with a, b in double per run, bit for bit the reference kernel,
 * planes split over threads.
 */
#include <dnnl.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cpu/cpu.h"
#include "../norm.h"
#include "../weft_conv.h"
#include "../weft_layout.h"
#include "../window.h"
#include "onednn_prim.h"
#include "onednn_conv.h"

enum { CV_CONV, CV_MAXPOOL, CV_AVGPOOL, CV_GAVGPOOL, CV_GMAXPOOL, CV_BN };

/* Spatial sizes of the representative shape used to ask for the weight layout when not known. */
#define CV_NOMINAL_SPATIAL 32

typedef struct cv_prep {
    int kind;
    const weft_op_def *def;  /* the reference kernel, for fallbacks */
    dnnl_engine_t eng;
    int rank;                /* of X */
    win_geom w;              /* the window (not for the global pools / BN) */
    int64_t group;
    bool fused;              /* ai.weft FusedConv */
    bool cl;                 /* activations channels-last (ai.weft ChannelsLast) ... */
    bool x_first;            /* ... except input 0 (x_channels_first) */
    weft_conv_epilogue epi;
    bool count_pad;          /* AveragePool's count_include_pad */
    /* a constant W: as given (plain) and in the layout prepare chose (wmd; NULL when that is plain) */
    void *wplain, *wpacked;
    dnnl_memory_desc_t wmd;
    int64_t wdims[WEFT_MAX_RANK];
} cv_prep;

typedef struct cv_state {
    bool fallback;   /* run the reference kernel */
    bool empty;      /* nothing to compute */
    dnnl_stream_t stream;
    dnnl_primitive_t prim, r_src, r_dst, r_acc; /* reorders NULL when the layouts are plain */
    dnnl_memory_t m_x, m_xb, m_w, m_b, m_y, m_yb, m_scr, m_acc;
    size_t scr_bytes, xb_off, yb_off, total;
    bool w_live, has_bias, post_epi; /* post_epi: the epilogue runs after the primitive */
    bool sum;        /* acc placed into the destination first, then a sum post-op */
    void *wown;      /* weights reordered in reshape */
    int64_t planes, plane; /* BN */
} cv_state;

/* The op a step runs: its own, or the one an ai.weft ChannelsLast wraps (*cl set). */
static int kind_of_op(const char *domain, const char *name)
{
    if (strcmp(domain, "ai.weft") == 0) return strcmp(name, "FusedConv") == 0 ? CV_CONV : -1;
    if (domain[0] && strcmp(domain, "ai.onnx") != 0) return -1;
    if (strcmp(name, "Conv") == 0) return CV_CONV;
    if (strcmp(name, "MaxPool") == 0) return CV_MAXPOOL;
    if (strcmp(name, "AveragePool") == 0) return CV_AVGPOOL;
    if (strcmp(name, "GlobalAveragePool") == 0) return CV_GAVGPOOL;
    if (strcmp(name, "GlobalMaxPool") == 0) return CV_GMAXPOOL;
    if (strcmp(name, "BatchNormalization") == 0) return CV_BN;
    return -1;
}

static int kind_of(const weft_step_desc *s, bool *cl, bool *fused)
{
    const weft_op_def *d = s->def;
    *cl = *fused = false;
    if (!d) return -1;
    if (strcmp(d->domain, "ai.weft") == 0 && strcmp(d->name, "ChannelsLast") == 0) {
        weft_node_info inner;
        const weft_op_def *id;
        if (weft_layout_inner(s->node, &inner, &id, NULL)) {
            weft_error_clear();
            return -1;
        }
        int k = kind_of_op(id->domain, id->name);
        *cl = true;
        *fused = strcmp(id->name, "FusedConv") == 0;
        return k == CV_BN ? -1 : k;
    }
    *fused = strcmp(d->domain, "ai.weft") == 0 && strcmp(d->name, "FusedConv") == 0;
    return kind_of_op(d->domain, d->name);
}

bool weft_dn_conv_supports(const weft_step_desc *s)
{
    bool cl, fused;
    int kind = kind_of(s, &cl, &fused);
    if (kind < 0 || s->n_in < 1 || s->in_dtype[0] != WEFT_FLOAT32 || s->out_dtype[0] != WEFT_FLOAT32) return false;
    int rank = s->in_shape[0].rank;
    if (kind == CV_BN) {
        if (rank < 2 || s->n_out != 1 || s->n_in != 5) return false;
        if (s->node->opset < 9 && weft_attr_int(s->node, "spatial", 1) == 0) return false;
        if (s->node->opset >= 14 && weft_attr_int(s->node, "training_mode", 0) != 0) return false;
        for (int i = 1; i < 5; i++)
            if (!weft_dtype_is_float(s->in_dtype[i])) return false;
        return true;
    }
    if (rank < 3 || rank > 5) return false;
    if (kind == CV_MAXPOOL && s->n_out > 1) return false; /* Indices: the reference */
    if (kind == CV_CONV) {
        const weft_shape *ws = &s->in_shape[1];
        if (s->n_in < 2 || s->in_dtype[1] != WEFT_FLOAT32 || ws->rank != rank || !weft_shape_known(ws)) return false;
        if (s->n_in > 2 && s->in_dtype[2] != WEFT_UNDEFINED && s->in_dtype[2] != WEFT_FLOAT32) return false;
        if (s->n_in > 3 && s->in_dtype[3] != WEFT_UNDEFINED && s->in_dtype[3] != WEFT_FLOAT32) return false;
        if (weft_attr_int(s->node, "group", 1) < 1) return false;
        if (fused) {
            weft_conv_epilogue e;
            if (weft_conv_epilogue_read(s->node, &e)) return false;
        }
    }
    return true;
}

/* The weights' oneDNN dims: [G, M/G, C/G, k...] with groups, [M, C, k...] without. */
static int wei_dims(const cv_prep *p, const int64_t *wd, dnnl_dims_t out)
{
    int r = p->rank;
    if (p->group == 1) {
        for (int i = 0; i < r; i++) out[i] = wd[i];
        return r;
    }
    out[0] = p->group;
    out[1] = wd[0] / p->group;
    for (int i = 1; i < r; i++) out[i + 1] = wd[i];
    return r + 1;
}

void weft_dn_conv_release(void *prepared)
{
    cv_prep *p = prepared;
    if (!p) return;
    free(p->wplain);
    free(p->wpacked);
    if (p->eng) dnnl_engine_destroy(p->eng);
    free(p);
}

/* The geometry of one binding: spatial sizes and pads as oneDNN reads them. */
typedef struct cv_geom {
    int nsp;
    int64_t n, c, m;
    int64_t in[3], out[3], k[3], s[3], d[3], pl[3], pr[3];
} cv_geom;

/* Fills g for input dims x and output dims y (rank p->rank); false when oneDNN's form does not hold it. */
static bool geom(const cv_prep *p, const weft_node_info *node, const int64_t *x, const int64_t *y, cv_geom *g)
{
    memset(g, 0, sizeof *g);
    g->nsp = p->rank - 2;
    g->n = x[0];
    g->c = x[1];
    g->m = y[1];
    bool global = p->kind == CV_GAVGPOOL || p->kind == CV_GMAXPOOL;
    for (int i = 0; i < g->nsp; i++) {
        g->in[i] = x[i + 2];
        g->out[i] = y[i + 2];
        if (global) {
            g->k[i] = x[i + 2];
            g->s[i] = 1;
            g->d[i] = 1;
            continue;
        }
        int64_t o = 0, pb = 0, pe = 0;
        if (win_axis(node, &p->w, i, x[i + 2], &o, &pb, &pe)) {
            weft_error_clear();
            return false;
        }
        if (o != y[i + 2]) return false;
        int64_t span = win_span(&p->w, i);
        g->k[i] = p->w.k[i];
        g->s[i] = p->w.s[i];
        g->d[i] = p->w.d[i];
        g->pl[i] = pb;
        g->pr[i] = pe;
        if (p->kind != CV_CONV) {
            /* ceil_mode: the end padding covers the last window */
            int64_t need = (o - 1) * g->s[i] + span - x[i + 2] - pb;
            if (need > pe) {
                if (p->kind == CV_AVGPOOL && p->count_pad) return false;
                g->pr[i] = need;
            }
            /* a window wholly in the padding: the reference's rule (0) */
            if (pb >= span || g->pr[i] >= span) return false;
        }
    }
    for (int i = 0; i < p->rank; i++)
        if (x[i] <= 0 || y[i] <= 0) return false;
    return true;
}

/* oneDNN's eltwise post-ops for the epilogue's activation. */
static dnnl_status_t append_act(dnnl_post_ops_t po, const weft_conv_epilogue *e)
{
    switch (e->act) {
    case WEFT_CONV_ACT_NONE: return dnnl_success;
    case WEFT_CONV_ACT_RELU: return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    case WEFT_CONV_ACT_LEAKY_RELU: return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, (float)e->alpha, 0.0f);
    case WEFT_CONV_ACT_CLIP:
        return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip_v2, (float)fmax(e->alpha, -FLT_MAX),
                                            (float)fmin(e->beta, FLT_MAX));
    case WEFT_CONV_ACT_SIGMOID: return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_logistic, 0.0f, 0.0f);
    case WEFT_CONV_ACT_HARD_SIGMOID: {
        dnnl_status_t s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, (float)e->alpha, (float)e->beta);
        return s ? s : dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip_v2, 0.0f, 1.0f);
    }
    case WEFT_CONV_ACT_HARD_SWISH: return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_hardswish, 0.0f, 0.0f);
    case WEFT_CONV_ACT_SILU: return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.0f, 0.0f);
    default: return dnnl_unimplemented;
    }
}

/* A convolution primitive descriptor: src / dst in format any (plain when `plain_act`), weights `wmd`
 * (format any when NULL); `sum` and `act` add those post-ops. */
static dnnl_status_t conv_pd(const cv_prep *p, const cv_geom *g, const dnnl_dims_t wd, int wnd, bool bias,
                             const dnnl_memory_desc_t *wmd, bool plain_act, bool sum, bool act, dnnl_primitive_desc_t *pd)
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
    dnnl_format_tag_t at = plain_act ? weft_dn_plain_tag(p->rank) : dnnl_format_tag_any;
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_tag(&src, p->rank, xd, dnnl_f32, at)) ||
        (s = dnnl_memory_desc_init_by_tag(&dst, p->rank, yd, dnnl_f32, at)) ||
        (s = dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a)))
        return s;
    if (wmd) wei = *wmd;
    else if ((s = dnnl_memory_desc_init_by_tag(&wei, wnd, wd, dnnl_f32, dnnl_format_tag_any))) return s;
    dnnl_convolution_desc_t cd;
    if ((s = dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src, &wei,
                                                        bias ? &bmd : NULL, &dst, st, dl, pl, pr)))
        return s;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if ((s = dnnl_primitive_attr_create(&attr))) return s;
    if (!(s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) && (sum || act)) {
        if (!(s = dnnl_post_ops_create(&po))) {
            if (sum) s = dnnl_post_ops_append_sum(po, 1.0f);
            if (!s && act) s = append_act(po, &p->epi);
            if (!s) s = dnnl_primitive_attr_set_post_ops(attr, po);
        }
    }
    if (!s) s = dnnl_primitive_desc_create(pd, &cd, attr, p->eng, NULL);
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return s;
}

weft_status weft_dn_conv_prepare(const weft_step_desc *s, void **prepared)
{
    *prepared = NULL;
    cv_prep *p = calloc(1, sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    weft_status st = WEFT_OK;
    p->kind = kind_of(s, &p->cl, &p->fused);
    p->x_first = p->cl && weft_attr_int(s->node, "x_channels_first", 0) != 0;
    p->def = s->def;
    p->rank = s->in_shape[0].rank;
    p->group = weft_attr_int(s->node, "group", 1);
    p->count_pad = weft_attr_int(s->node, "count_include_pad", 0) != 0;
    dnnl_status_t ds = dnnl_engine_create(&p->eng, dnnl_cpu, 0);
    if (ds) {
        p->eng = NULL;
        st = weft_dn_fail(s->node, ds, "creating the CPU engine");
        goto fail;
    }
    if (p->kind == CV_BN || p->kind == CV_GAVGPOOL || p->kind == CV_GMAXPOOL) goto done;
    int nsp = p->rank - 2;
    if (p->kind == CV_CONV) {
        if (p->fused && (st = weft_conv_epilogue_read(s->node, &p->epi))) goto fail;
        const weft_shape *ws = &s->in_shape[1];
        int64_t kd[WEFT_MAX_RANK];
        for (int i = 0; i < p->rank; i++) p->wdims[i] = ws->d[i].v;
        for (int i = 0; i < nsp; i++) kd[i] = ws->d[i + 2].v;
        if ((st = win_read(s->node, nsp, kd, false, &p->w))) goto fail;
        if (p->group < 1 || p->wdims[0] % p->group != 0) {
            st = weft_op_error(s->node, WEFT_ERR_SHAPE, "%lld output channels are not divisible by group %lld",
                               (long long)p->wdims[0], (long long)p->group);
            goto fail;
        }
        if (s->in_const && s->in_const[1]) {
            size_t bytes = sizeof(float);
            for (int i = 0; i < p->rank; i++) bytes *= (size_t)p->wdims[i];
            if (!(p->wplain = weft_dn_alloc64(bytes ? bytes : 1))) {
                st = weft_error(WEFT_ERR_NOMEM, "out of memory");
                goto fail;
            }
            memcpy(p->wplain, s->in_const[1], bytes);
            /* the layout oneDNN prefers, on the compile-time shape (nominal sizes where unknown) */
            weft_shape xsh = s->in_shape[0];
            if (p->cl && !p->x_first) weft_layout_shape_to_first(&s->in_shape[0], &xsh);
            const weft_shape *xs = &xsh;
            int64_t x[WEFT_MAX_RANK], y[WEFT_MAX_RANK];
            x[0] = weft_dim_known(xs->d[0]) ? xs->d[0].v : 1;
            x[1] = p->wdims[1] * p->group;
            y[0] = x[0];
            y[1] = p->wdims[0];
            bool ok = bytes > 0;
            for (int i = 0; i < nsp && ok; i++) {
                x[i + 2] = weft_dim_known(xs->d[i + 2]) ? xs->d[i + 2].v : CV_NOMINAL_SPATIAL;
                int64_t pb, pe;
                if (win_axis(s->node, &p->w, i, x[i + 2], &y[i + 2], &pb, &pe)) {
                    weft_error_clear();
                    ok = false;
                }
            }
            cv_geom g;
            dnnl_primitive_desc_t pd = NULL;
            dnnl_dims_t wd;
            int wnd = wei_dims(p, p->wdims, wd);
            if (ok && geom(p, s->node, x, y, &g) &&
                !conv_pd(p, &g, wd, wnd, false, NULL, false, false, false, &pd)) {
                const dnnl_memory_desc_t *q = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
                dnnl_memory_desc_t plain;
                dnnl_memory_desc_init_by_tag(&plain, wnd, wd, dnnl_f32, weft_dn_plain_tag(wnd));
                if (q && !dnnl_memory_desc_equal(q, &plain)) {
                    p->wmd = *q;
                    if ((p->wpacked = weft_dn_alloc64(dnnl_memory_desc_get_size(q))) &&
                        weft_dn_reorder_once(p->eng, &plain, p->wplain, q, p->wpacked)) {
                        free(p->wpacked);
                        p->wpacked = NULL;
                    }
                }
            }
            if (pd) dnnl_primitive_desc_destroy(pd);
        }
    } else {
        if ((st = win_read(s->node, nsp, NULL, true, &p->w))) goto fail;
    }
done:
    *prepared = p;
    return WEFT_OK;
fail:
    weft_dn_conv_release(p);
    return st;
}

/* --- reshape ---------------------------------------------------------------------------------------- */

void weft_dn_conv_release_state(void *state)
{
    cv_state *s = state;
    if (!s) return;
    dnnl_primitive_t prims[] = {s->prim, s->r_src, s->r_dst, s->r_acc};
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
        if (prims[i]) dnnl_primitive_destroy(prims[i]);
    dnnl_memory_t mems[] = {s->m_x, s->m_xb, s->m_w, s->m_b, s->m_y, s->m_yb, s->m_scr, s->m_acc};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    if (s->stream) dnnl_stream_destroy(s->stream);
    free(s->wown);
    free(s);
}

/* A plain descriptor of `rank` dims. */
static dnnl_status_t plain_md(dnnl_memory_desc_t *md, int rank, const int64_t *dims)
{
    dnnl_dims_t d;
    for (int i = 0; i < rank; i++) d[i] = dims[i];
    return dnnl_memory_desc_init_by_tag(md, rank, d, dnnl_f32, weft_dn_plain_tag(rank));
}

/* The descriptor of an activation: channels-first dims `dims` (as oneDNN names them), stored plain or,
 * for ChannelsLast, channels-last. */
static dnnl_status_t act_md(const cv_prep *p, dnnl_memory_desc_t *md, const int64_t *dims, bool first)
{
    static const dnnl_format_tag_t last[] = {dnnl_format_tag_undef, dnnl_format_tag_undef, dnnl_format_tag_undef,
                                             dnnl_acb, dnnl_acdb, dnnl_acdeb};
    if (!p->cl || first) return plain_md(md, p->rank, dims);
    dnnl_dims_t d;
    for (int i = 0; i < p->rank; i++) d[i] = dims[i];
    return dnnl_memory_desc_init_by_tag(md, p->rank, d, dnnl_f32, p->rank <= 5 ? last[p->rank] : dnnl_format_tag_undef);
}

static dnnl_status_t conv_reshape(const cv_prep *p, const weft_kernel_ctx *k, const cv_geom *g, const int64_t *xd,
                                  const int64_t *yd, cv_state *s)
{
    dnnl_dims_t wd;
    int wnd = wei_dims(p, k->in[1].dims, wd);
    s->has_bias = weft_kin_present(k, 2);
    bool acc = p->fused && weft_kin_present(k, 3);
    bool act = p->fused && p->epi.act != WEFT_CONV_ACT_NONE;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t ds = dnnl_unimplemented;
    /* fused first, then the primitive alone with weft's epilogue after it */
    for (int fuse = 1; fuse >= 0 && ds; fuse--) {
        if (!fuse && !acc && !act) break;
        ds = conv_pd(p, g, wd, wnd, s->has_bias, NULL, false, fuse && acc, fuse && act, &pd);
        if (!ds) {
            s->sum = fuse && acc;
            s->post_epi = !fuse;
        }
    }
    if (ds) return ds;
    dnnl_memory_desc_t px, py, pw, bmd;
    dnnl_dims_t bd = {g->m};
    dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a);
    if ((ds = act_md(p, &px, xd, p->x_first)) ||
        (ds = act_md(p, &py, yd, false)) ||
        (ds = dnnl_memory_desc_init_by_tag(&pw, wnd, wd, dnnl_f32, weft_dn_plain_tag(wnd))))
        goto out;
    const dnnl_memory_desc_t *qw = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    s->w_live = !p->wplain;
    if (s->w_live && !dnnl_memory_desc_equal(qw, &pw)) {
        /* live weights in a blocked layout: ask again with plain weights (the activations' layouts may
         * change with them) */
        dnnl_primitive_desc_destroy(pd);
        pd = NULL;
        if ((ds = conv_pd(p, g, wd, wnd, s->has_bias, &pw, false, s->sum, act && !s->post_epi, &pd))) goto out;
        qw = &pw;
    }
    /* activations: reorders where the primitive wants another layout than the step's */
    const dnnl_memory_desc_t *qx = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *qy = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *qs = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    s->scr_bytes = qs ? dnnl_memory_desc_get_size(qs) : 0;
    bool x_blocked = !dnnl_memory_desc_equal(qx, &px), y_blocked = !dnnl_memory_desc_equal(qy, &py);
    if (x_blocked && (ds = weft_dn_make_reorder(p->eng, &px, qx, &s->r_src, &s->scr_bytes))) goto out;
    if (y_blocked && (ds = weft_dn_make_reorder(p->eng, qy, &py, &s->r_dst, &s->scr_bytes))) goto out;
    if (y_blocked && s->sum && (ds = weft_dn_make_reorder(p->eng, &py, qy, &s->r_acc, &s->scr_bytes))) goto out;
    s->xb_off = weft_dn_up64(s->scr_bytes);
    s->yb_off = s->xb_off + (x_blocked ? weft_dn_up64(dnnl_memory_desc_get_size(qx)) : 0);
    s->total = s->yb_off + (y_blocked ? weft_dn_up64(dnnl_memory_desc_get_size(qy)) : 0);
    /* weights: live ones as stored; constant ones in the layout asked for */
    const void *wdata = DNNL_MEMORY_NONE;
    if (!s->w_live) {
        if (dnnl_memory_desc_equal(qw, &pw)) wdata = p->wplain;
        else if (p->wpacked && dnnl_memory_desc_equal(qw, &p->wmd)) wdata = p->wpacked;
        else {
            if (!(s->wown = weft_dn_alloc64(dnnl_memory_desc_get_size(qw)))) {
                ds = dnnl_out_of_memory;
                goto out;
            }
            if ((ds = weft_dn_reorder_once(p->eng, &pw, p->wplain, qw, s->wown))) goto out;
            wdata = s->wown;
        }
    }
    if ((ds = dnnl_primitive_create(&s->prim, pd))) goto out;
    if ((ds = dnnl_memory_create(&s->m_x, &px, p->eng, DNNL_MEMORY_NONE)) ||
        (ds = dnnl_memory_create(&s->m_y, &py, p->eng, DNNL_MEMORY_NONE)) ||
        (ds = dnnl_memory_create(&s->m_w, qw, p->eng, (void *)wdata)) ||
        (ds = dnnl_memory_create(&s->m_b, &bmd, p->eng, DNNL_MEMORY_NONE)) ||
        (ds = dnnl_memory_create(&s->m_acc, &py, p->eng, DNNL_MEMORY_NONE)))
        goto out;
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

static dnnl_status_t pool_reshape(const cv_prep *p, const cv_geom *g, const int64_t *xd, const int64_t *yd, cv_state *s)
{
    dnnl_memory_desc_t px, py;
    dnnl_dims_t st, kd, dl, pl, pr;
    for (int i = 0; i < g->nsp; i++) {
        st[i] = g->s[i];
        kd[i] = g->k[i];
        dl[i] = g->d[i] - 1;
        pl[i] = g->pl[i];
        pr[i] = g->pr[i];
    }
    dnnl_alg_kind_t alg = p->kind == CV_MAXPOOL || p->kind == CV_GMAXPOOL ? dnnl_pooling_max
                          : p->count_pad && p->kind == CV_AVGPOOL        ? dnnl_pooling_avg_include_padding
                                                                         : dnnl_pooling_avg_exclude_padding;
    dnnl_status_t ds;
    if ((ds = act_md(p, &px, xd, p->x_first)) || (ds = act_md(p, &py, yd, false))) return ds;
    dnnl_pooling_v2_desc_t pdsc;
    if ((ds = dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference, alg, &px, &py, st, kd, dl, pl, pr))) return ds;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    if ((ds = dnnl_primitive_attr_create(&attr))) return ds;
    ds = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (!ds) ds = dnnl_primitive_desc_create(&pd, &pdsc, attr, p->eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (ds) return ds;
    const dnnl_memory_desc_t *qs = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    s->scr_bytes = qs ? dnnl_memory_desc_get_size(qs) : 0;
    s->total = s->scr_bytes;
    ds = dnnl_primitive_create(&s->prim, pd);
    if (!ds) ds = dnnl_memory_create(&s->m_x, &px, p->eng, DNNL_MEMORY_NONE);
    if (!ds) ds = dnnl_memory_create(&s->m_y, &py, p->eng, DNNL_MEMORY_NONE);
    if (!ds && s->scr_bytes) ds = dnnl_memory_create(&s->m_scr, qs, p->eng, DNNL_MEMORY_NONE);
    dnnl_primitive_desc_destroy(pd);
    return ds;
}

weft_status weft_dn_conv_reshape(const void *prepared, const weft_kernel_ctx *k, void **state)
{
    const cv_prep *p = prepared;
    *state = NULL;
    cv_state *s = calloc(1, sizeof *s);
    if (!s) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    const weft_tview *x = &k->in[0], *y = &k->out[0];
    if (p->kind == CV_BN) {
        s->planes = x->rank >= 2 ? x->dims[0] * x->dims[1] : 0;
        s->plane = 1;
        for (int i = 2; i < x->rank; i++) s->plane *= x->dims[i];
        if (x->rank < 2 || x->dtype != WEFT_FLOAT32) s->fallback = true;
        for (int i = 1; i < 5 && !s->fallback; i++)
            if (k->in[i].numel != (x->rank >= 2 ? x->dims[1] : -1)) s->fallback = true; /* the reference reports it */
        *state = s;
        return WEFT_OK;
    }
    cv_geom g;
    bool ok = x->rank == p->rank && y->rank == p->rank && x->dtype == WEFT_FLOAT32;
    /* channels-first dims, as the checks and oneDNN name them */
    int64_t xd[WEFT_MAX_RANK], yd[WEFT_MAX_RANK];
    if (ok && p->cl) {
        if (p->x_first) memcpy(xd, x->dims, sizeof xd);
        else weft_layout_dims_to_first(p->rank, x->dims, xd);
        weft_layout_dims_to_first(p->rank, y->dims, yd);
    } else if (ok) {
        memcpy(xd, x->dims, sizeof xd);
        memcpy(yd, y->dims, sizeof yd);
    }
    if (ok && p->kind == CV_CONV) {
        ok = k->in[1].rank == p->rank && k->in[1].dtype == WEFT_FLOAT32 && k->in[1].dims[1] * p->group == xd[1] &&
             k->in[1].dims[0] == yd[1] && yd[1] % p->group == 0;
        for (int i = 0; ok && i < p->rank; i++) ok = !p->wplain || k->in[1].dims[i] == p->wdims[i];
        for (int i = 0; ok && i < p->rank - 2; i++) ok = k->in[1].dims[i + 2] == p->w.k[i];
        if (ok && weft_kin_present(k, 2)) ok = k->in[2].numel == yd[1] && k->in[2].dtype == WEFT_FLOAT32;
        if (ok && p->fused && weft_kin_present(k, 3)) {
            ok = k->in[3].rank == y->rank && k->in[3].dtype == WEFT_FLOAT32;
            for (int i = 0; ok && i < y->rank; i++) ok = k->in[3].dims[i] == y->dims[i];
        }
    }
    if (ok && p->kind != CV_CONV) ok = xd[1] == yd[1] && xd[0] == yd[0];
    if (ok) ok = geom(p, k->node, xd, yd, &g);
    if (!ok && getenv("WEFT_ONEDNN_STRICT")) {
        free(s);
        return weft_op_error(k->node, WEFT_ERR_UNSUPPORTED, "oneDNN: shapes outside the primitive's form");
    }
    if (!ok) {
        /* shapes outside the primitive's form (empty tensors, malformed operands): the reference kernel,
         * which also reports every error */
        s->fallback = true;
        *state = s;
        return WEFT_OK;
    }
    weft_cpu_set_threads(weft_kthreads(k));
    dnnl_status_t ds = dnnl_stream_create(&s->stream, p->eng, dnnl_stream_default_flags);
    if (!ds) ds = p->kind == CV_CONV ? conv_reshape(p, k, &g, xd, yd, s) : pool_reshape(p, &g, xd, yd, s);
    if (ds && getenv("WEFT_ONEDNN_STRICT")) {
        /* tests: a step oneDNN declines is an error instead of a fallback */
        weft_dn_conv_release_state(s);
        return weft_dn_fail(k->node, ds, "creating the primitive");
    }
    if (ds) {
        /* oneDNN declines these shapes: the reference kernel */
        weft_dn_conv_release_state(s);
        if (!(s = calloc(1, sizeof *s))) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        s->fallback = true;
    }
    *state = s;
    return WEFT_OK;
}

/* --- run -------------------------------------------------------------------------------------------- */

static weft_status bn_run(weft_kernel_ctx *k, const cv_state *s)
{
    int64_t C = k->in[0].dims[1];
    double *a = k->scratch(k->user, (size_t)(2 * C + 1) * sizeof(double));
    if (!a) return weft_op_error(k->node, WEFT_ERR_NOMEM, "cannot allocate scratch");
    double *b = a + C;
    weft_batchnorm_coefficients(k, C, a, b);
    const float *x = k->in[0].data;
    float *y = k->out[0].data;
    int64_t planes = s->planes, plane = s->plane;
#pragma omp parallel for num_threads(weft_kthreads(k)) schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        double aa = a[pl % C], bb = b[pl % C];
        const float *xp = x + pl * plane;
        float *yp = y + pl * plane;
        for (int64_t i = 0; i < plane; i++) yp[i] = (float)((double)xp[i] * aa + bb);
    }
    return WEFT_OK;
}

weft_status weft_dn_conv_run(const void *prepared, void *state, weft_kernel_ctx *k)
{
    const cv_prep *p = prepared;
    cv_state *s = state;
    if (!s) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "onednn: run before reshape");
    if (s->fallback) return p->def->run(k);
    if (p->kind == CV_BN) return bn_run(k, s);
    int threads = weft_kthreads(k);
    weft_cpu_set_threads(threads);
    char *scr = NULL;
    if (s->total) {
        scr = k->scratch(k->user, s->total + 64);
        if (!scr) return weft_op_error(k->node, WEFT_ERR_NOMEM, "cannot allocate %zu bytes of scratch", s->total);
        scr += (64 - ((uintptr_t)scr & 63)) & 63;
    }
    dnnl_status_t ds = dnnl_memory_set_data_handle(s->m_x, k->in[0].data);
    if (!ds) ds = dnnl_memory_set_data_handle(s->m_y, k->out[0].data);
    if (!ds && s->m_scr) ds = dnnl_memory_set_data_handle(s->m_scr, scr);
    if (ds) return weft_dn_fail(k->node, ds, "binding memory");
    if (p->kind != CV_CONV) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, s->m_x}, {DNNL_ARG_DST, s->m_y}, {DNNL_ARG_SCRATCHPAD, s->m_scr}};
        ds = dnnl_primitive_execute(s->prim, s->stream, s->m_scr ? 3 : 2, args);
        if (!ds) ds = dnnl_stream_wait(s->stream);
        return ds ? weft_dn_fail(k->node, ds, "executing pooling") : WEFT_OK;
    }
    const void *acc = p->fused && weft_kin_present(k, 3) ? k->in[3].data : NULL;
    if (s->m_xb) ds = dnnl_memory_set_data_handle(s->m_xb, scr + s->xb_off);
    if (!ds && s->m_yb) ds = dnnl_memory_set_data_handle(s->m_yb, scr + s->yb_off);
    if (!ds && s->w_live) ds = dnnl_memory_set_data_handle(s->m_w, k->in[1].data);
    if (!ds && s->has_bias) ds = dnnl_memory_set_data_handle(s->m_b, k->in[2].data);
    if (!ds && acc) ds = dnnl_memory_set_data_handle(s->m_acc, (void *)acc);
    dnnl_memory_t src = s->m_xb ? s->m_xb : s->m_x, dst = s->m_yb ? s->m_yb : s->m_y;
    if (!ds && s->r_src) {
        dnnl_exec_arg_t a[3] = {{DNNL_ARG_FROM, s->m_x}, {DNNL_ARG_TO, s->m_xb}, {DNNL_ARG_SCRATCHPAD, s->m_scr}};
        ds = dnnl_primitive_execute(s->r_src, s->stream, s->m_scr ? 3 : 2, a);
    }
    if (!ds && s->sum) {
        if (s->r_acc) {
            dnnl_exec_arg_t a[3] = {{DNNL_ARG_FROM, s->m_acc}, {DNNL_ARG_TO, s->m_yb}, {DNNL_ARG_SCRATCHPAD, s->m_scr}};
            ds = dnnl_primitive_execute(s->r_acc, s->stream, s->m_scr ? 3 : 2, a);
        } else if (k->out[0].data != acc) {
            memmove(k->out[0].data, acc, (size_t)k->out[0].numel * sizeof(float));
        }
    }
    if (!ds) {
        dnnl_exec_arg_t a[5];
        int na = 0;
        a[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, src};
        a[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, s->m_w};
        a[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, dst};
        if (s->has_bias) a[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, s->m_b};
        if (s->m_scr) a[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, s->m_scr};
        ds = dnnl_primitive_execute(s->prim, s->stream, na, a);
    }
    if (!ds && s->r_dst) {
        dnnl_exec_arg_t a[3] = {{DNNL_ARG_FROM, s->m_yb}, {DNNL_ARG_TO, s->m_y}, {DNNL_ARG_SCRATCHPAD, s->m_scr}};
        ds = dnnl_primitive_execute(s->r_dst, s->stream, s->m_scr ? 3 : 2, a);
    }
    if (!ds) ds = dnnl_stream_wait(s->stream);
    if (ds) return weft_dn_fail(k->node, ds, "executing convolution");
    if (s->post_epi) weft_conv_epilogue_apply(&p->epi, WEFT_FLOAT32, k->out[0].data, acc, k->out[0].numel);
    return WEFT_OK;
}
