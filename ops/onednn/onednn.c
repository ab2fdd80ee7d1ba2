/*
 * ops/onednn/onednn.c — the `onednn` backend: dense steps (MatMul with a 2-D B, Gemm, ai.weft
 * FusedMatMul; ops/dense/dense.h) as oneDNN matmul primitives (C API, oneDNN 2.6), float32; the steps
 * weft's own CPU kernels take (ops/cpu/cpu.h: message passing, gathers, elementwise chains, ...) through
 * those kernels, the entry found once in prepare.
 *
 * Lifecycle:
 *   - prepare: constant weights are reordered once into the layout oneDNN's matmul asks for (format
 *     "any" on a representative shape). On AVX2 machines oneDNN 2.6 runs f32 matmul on its GEMM
 *     (gemm:jit) and asks for the plain K x N layout: a constant stored so is read in place, one stored
 *     N x K (Gemm's transB) is transposed once (plain K x N measured as fast as N x K for the GEMM, with
 *     bias and ReLU fused at no measurable cost); on AVX-512 machines it is a blocked layout.
 *   - reshape (once per set of sizes): one primitive per term with non-empty K, created for the bound
 *     shapes under the session's thread count, its scratchpad left to us (scratchpad_mode user) so a
 *     run allocates nothing of its own; memory objects made once, their data pointers set per run.
 *   - run: the thread count set for the calling thread, the primitives executed in order.
 *
 * What is fused into the primitives: the bias (matmul's bias argument, also Gemm's C when C is one row
 * and alpha is 1), acc (a binary-add post-op over the full output), the accumulation of further terms
 * (a sum post-op: each term's primitive adds onto the output of the previous one), the activation (an
 * eltwise post-op on the last primitive), Gemm's alpha (output scale) and beta * C (C copied into the
 * output first, then a sum post-op scaled by beta). FusedMatMul's normalize needs whole rows of
 * sum + bias before acc and the activation, so when it is asked for, those three run afterwards as one
 * parallel pass over output rows (ops/dense). When oneDNN declines a fused form, the step falls back to
 * plain primitives with weft's epilogue pass.
 *
 * oneDNN has no float64 matmul on CPU: float64 steps are left to the next backend.
 *
 * Convolutions (Conv, ai.weft FusedConv, ai.weft ChannelsLast), pools and batch norm are ops/onednn/conv.c's
 * (onednn_conv.h), LSTM and GRU ops/onednn/rnn.c's (onednn_rnn.h), MatMul with a batched B
 * ops/onednn/bmm.c's (onednn_bmm.h): this file's `parts` table forwards those steps to them.
 */
#include <dnnl.h>
#include <dnnl_debug.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cpu/cpu.h"
#include "../dense/dense.h"
#include "onednn_prim.h"
#include "onednn_bmm.h"
#include "onednn_conv.h"
#include "onednn_deconv.h"
#include "onednn_rnn.h"

/* Rows of the representative shape used to ask oneDNN for its preferred weight layout when the rows are
 * not known at compile time. */
#define DN_NOMINAL_ROWS 4096

typedef struct dn_prep {
    /* a step another file of this backend runs (`parts` below): that file's entry points and its
     * prepared object */
    const struct dn_part *part;
    void *part_prep;
    /* a step that is not dense work: weft's own kernel (ops/cpu/) and its prepared object */
    const weft_cpu_op *cpu;
    void *cpu_prep;
    weft_dense_spec sp;
    dnnl_engine_t eng;
    void *w[WEFT_DENSE_MAX_TERMS];               /* constant W in layout wmd, else NULL */
    dnnl_memory_desc_t wmd[WEFT_DENSE_MAX_TERMS];
    int64_t wk[WEFT_DENSE_MAX_TERMS], wn[WEFT_DENSE_MAX_TERMS];
} dn_prep;

enum { DN_PRE_NONE, DN_PRE_ZERO, DN_PRE_FILL_C };
enum { DN_BIAS_NONE, DN_BIAS_INPUT, DN_BIAS_ROW };

typedef struct dn_prim {
    dnnl_primitive_t prim;
    int term;
    dnnl_memory_t src, wei, scratch; /* scratch NULL when the primitive needs none */
    bool bias, acc;                  /* takes the bias argument / acc as a binary post-op */
    int acc_post;                    /* the index of that post-op */
    bool w_live;                     /* weights read from the input at run */
} dn_prim;

typedef struct dn_state {
    void *part;           /* the state of a step another file runs (dn_prep.part) ... */
    const void *part_of;  /* ... and that file's dn_part, which releases it */
    weft_dense_dims d;
    dnnl_stream_t stream;
    int n_prims;
    dn_prim prim[WEFT_DENSE_MAX_TERMS];
    dnnl_memory_t dst, bias, acc;
    int pre;         /* DN_PRE_*: what goes into the output before the primitives */
    int bias_src;    /* DN_BIAS_* */
    unsigned post;   /* epilogue parts weft applies after the primitives */
    size_t scratch_bytes, bias_off; /* the largest scratchpad; where a computed bias row starts */
} dn_state;

/* The steps the backend's other files run, each with its own prepare / reshape / run: convolutions,
 * pools and batch norm (conv.c), LSTM and GRU (rnn.c), batched MatMul (bmm.c). */
typedef struct dn_part {
    bool (*supports)(const weft_step_desc *s);
    weft_status (*prepare)(const weft_step_desc *s, void **prepared);
    weft_status (*reshape)(const void *prepared, const weft_kernel_ctx *k, void **state);
    weft_status (*run)(const void *prepared, void *state, weft_kernel_ctx *k);
    void (*release)(void *prepared);
    void (*release_state)(void *state);
} dn_part;

static const dn_part parts[] = {
    {weft_dn_conv_supports, weft_dn_conv_prepare, weft_dn_conv_reshape, weft_dn_conv_run, weft_dn_conv_release,
     weft_dn_conv_release_state},
    {weft_dn_deconv_supports, weft_dn_deconv_prepare, weft_dn_deconv_reshape, weft_dn_deconv_run, weft_dn_deconv_release,
     weft_dn_deconv_release_state},
    {weft_dn_rnn_supports, weft_dn_rnn_prepare, weft_dn_rnn_reshape, weft_dn_rnn_run, weft_dn_rnn_release,
     weft_dn_rnn_release_state},
    {weft_dn_bmm_supports, weft_dn_bmm_prepare, weft_dn_bmm_reshape, weft_dn_bmm_run, weft_dn_bmm_release,
     weft_dn_bmm_release_state},
};

/* The part that runs s (not dense work), or NULL. */
static const dn_part *find_part(const weft_step_desc *s)
{
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (parts[i].supports(s)) return &parts[i];
    return NULL;
}

static bool dn_supports(const weft_step_desc *s)
{
    weft_dense_spec sp;
    if (weft_dense_parse(s, &sp)) return sp.dtype == WEFT_FLOAT32; /* float64 dense work: the next backend */
    return find_part(s) || weft_cpu_find(s) != NULL;
}

static void dn_release(void *prepared)
{
    dn_prep *p = prepared;
    if (!p) return;
    if (p->part && p->part_prep) p->part->release(p->part_prep);
    if (p->cpu && p->cpu->release) p->cpu->release(p->cpu_prep);
    for (int t = 0; t < WEFT_DENSE_MAX_TERMS; t++) free(p->w[t]);
    if (p->eng) dnnl_engine_destroy(p->eng);
    free(p);
}

/* A row-major 2-D descriptor, or its transpose when `trans` (the data stored cols x rows). */
static dnnl_status_t md_2d(dnnl_memory_desc_t *md, int64_t rows, int64_t cols, bool trans)
{
    dnnl_dims_t dims = {rows, cols};
    dnnl_dims_t strides = {trans ? 1 : cols, trans ? rows : 1};
    return dnnl_memory_desc_init_by_strides(md, 2, dims, dnnl_f32, strides);
}

/* The weight layout oneDNN's matmul prefers for a K x N constant, asked on a shape of `rows` rows. */
static void preferred_layout(dnnl_engine_t eng, const weft_dense_term *tm, int64_t rows, int64_t K, int64_t N,
                             dnnl_memory_desc_t *out)
{
    md_2d(out, K, N, false); /* plain unless oneDNN says otherwise */
    dnnl_memory_desc_t src, wei, dst;
    dnnl_dims_t wd = {K, N};
    dnnl_matmul_desc_t mm;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    if (md_2d(&src, rows, K, tm->trans_x) || dnnl_memory_desc_init_by_tag(&wei, 2, wd, dnnl_f32, dnnl_format_tag_any) ||
        md_2d(&dst, rows, N, false) || dnnl_matmul_desc_init(&mm, &src, &wei, NULL, &dst) || dnnl_primitive_attr_create(&attr))
        goto done;
    if (dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) ||
        dnnl_primitive_desc_create(&pd, &mm, attr, eng, NULL))
        goto done;
    const dnnl_memory_desc_t *q = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    if (q) *out = *q;
done:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
}

/* Reorders W (stored as `from`) into `to`, in a fresh buffer. */
static weft_status reorder_weights(const weft_node_info *node, dnnl_engine_t eng, const dnnl_memory_desc_t *from,
                                   const void *w, const dnnl_memory_desc_t *to, void **out)
{
    size_t bytes = dnnl_memory_desc_get_size(to);
    *out = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!*out) return weft_op_error(node, WEFT_ERR_NOMEM, "out of memory for packed weights");
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t ms = NULL, md = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, NULL);
    if (!s) s = dnnl_primitive_create(&prim, pd);
    if (!s) s = dnnl_memory_create(&ms, from, eng, (void *)w);
    if (!s) s = dnnl_memory_create(&md, to, eng, *out);
    if (!s) s = dnnl_stream_create(&stream, eng, dnnl_stream_default_flags);
    if (!s) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, ms}, {DNNL_ARG_TO, md}};
        s = dnnl_primitive_execute(prim, stream, 2, args);
        if (!s) s = dnnl_stream_wait(stream);
    }
    if (stream) dnnl_stream_destroy(stream);
    if (md) dnnl_memory_destroy(md);
    if (ms) dnnl_memory_destroy(ms);
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (s) {
        free(*out);
        *out = NULL;
        return weft_dn_fail(node, s, "reordering constant weights");
    }
    return WEFT_OK;
}

static weft_status dn_prepare(const weft_step_desc *s, void **prepared)
{
    *prepared = NULL;
    dn_prep *p = calloc(1, sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    weft_status st = WEFT_OK;
    if (!weft_dense_parse(s, &p->sp) && (p->part = find_part(s))) {
        if ((st = p->part->prepare(s, &p->part_prep))) goto fail;
        *prepared = p;
        return WEFT_OK;
    }
    if (!weft_dense_parse(s, &p->sp)) {
        p->cpu = weft_cpu_find(s);
        st = !p->cpu ? weft_op_error(s->node, WEFT_ERR_UNSUPPORTED, "the onednn backend does not take this step")
             : p->cpu->prepare ? p->cpu->prepare(s, &p->cpu_prep) : WEFT_OK;
        if (st) {
            p->cpu = NULL;
            goto fail;
        }
        *prepared = p;
        return WEFT_OK;
    }
    if (p->sp.dtype != WEFT_FLOAT32) {
        st = weft_op_error(s->node, WEFT_ERR_UNSUPPORTED, "oneDNN has no %s matmul on CPU", weft_dtype_name(p->sp.dtype));
        goto fail;
    }
    dnnl_status_t ds = dnnl_engine_create(&p->eng, dnnl_cpu, 0);
    if (ds) {
        p->eng = NULL;
        st = weft_dn_fail(s->node, ds, "creating the CPU engine");
        goto fail;
    }
    /* the rows of the compile-time shape when known: the layout query's representative shape */
    const weft_shape *xs = &s->in_shape[p->sp.term[0].x];
    int64_t rows = 1;
    if (p->sp.kind == WEFT_DENSE_GEMM) {
        weft_dim r = xs->d[p->sp.term[0].trans_x ? 1 : 0];
        rows = weft_dim_known(r) ? r.v : -1;
    } else {
        for (int i = 0; i + 1 < xs->rank && rows >= 0; i++) rows = weft_dim_known(xs->d[i]) ? rows * xs->d[i].v : -1;
    }
    if (rows <= 0) rows = DN_NOMINAL_ROWS;
    for (int t = 0; t < p->sp.n_terms; t++) {
        const weft_dense_term *tm = &p->sp.term[t];
        const weft_shape *ws = &s->in_shape[tm->w];
        if (!s->in_const || !s->in_const[tm->w] || !weft_shape_known(ws)) continue;
        int64_t K = ws->d[tm->trans_w ? 1 : 0].v, N = ws->d[tm->trans_w ? 0 : 1].v;
        p->wk[t] = K;
        p->wn[t] = N;
        if (K == 0 || N == 0) continue; /* an empty term: no primitive, nothing to pack */
        dnnl_memory_desc_t plain, from;
        md_2d(&plain, K, N, false);
        preferred_layout(p->eng, tm, rows, K, N, &p->wmd[t]);
        if (dnnl_memory_desc_equal(&p->wmd[t], &plain)) {
            /* plain K x N wanted: read in place when stored so, else transposed once */
            if (tm->trans_w) st = weft_dense_pack_kn(&p->sp, t, s->in_const[tm->w], K, N, &p->w[t]);
        } else {
            md_2d(&from, K, N, tm->trans_w);
            st = reorder_weights(s->node, p->eng, &from, s->in_const[tm->w], &p->wmd[t], &p->w[t]);
        }
        if (st) goto fail;
    }
    *prepared = p;
    return WEFT_OK;
fail:
    dn_release(p);
    return st;
}

/* --- reshape ---------------------------------------------------------------------------------------- */

static void free_prims(dn_state *s)
{
    for (int i = 0; i < s->n_prims; i++) {
        dn_prim *q = &s->prim[i];
        if (q->prim) dnnl_primitive_destroy(q->prim);
        if (q->src) dnnl_memory_destroy(q->src);
        if (q->wei) dnnl_memory_destroy(q->wei);
        if (q->scratch) dnnl_memory_destroy(q->scratch);
    }
    memset(s->prim, 0, sizeof s->prim);
    s->n_prims = 0;
}

static void dn_release_state(void *state)
{
    dn_state *s = state;
    if (!s) return;
    if (s->part) ((const dn_part *)s->part_of)->release_state(s->part);
    free_prims(s);
    if (s->dst) dnnl_memory_destroy(s->dst);
    if (s->bias) dnnl_memory_destroy(s->bias);
    if (s->acc) dnnl_memory_destroy(s->acc);
    if (s->stream) dnnl_stream_destroy(s->stream);
    free(s);
}

/* oneDNN's eltwise for a FusedMatMul activation, and its alpha. */
static dnnl_alg_kind_t eltwise_alg(const weft_dense_spec *sp, float *alpha)
{
    *alpha = (float)sp->act_alpha;
    switch (sp->act) {
    case WEFT_FUSED_RELU: *alpha = 0.0f; return dnnl_eltwise_relu;
    case WEFT_FUSED_LEAKY_RELU: return dnnl_eltwise_relu; /* alpha: the slope below zero */
    case WEFT_FUSED_ELU: return dnnl_eltwise_elu;
    case WEFT_FUSED_SIGMOID: return dnnl_eltwise_logistic;
    case WEFT_FUSED_TANH: return dnnl_eltwise_tanh;
    case WEFT_FUSED_GELU: *alpha = 0.0f; return sp->act_alpha != 0 ? dnnl_eltwise_gelu_tanh : dnnl_eltwise_gelu_erf;
    default: return dnnl_alg_kind_undef;
    }
}

/* What one primitive of the chain does besides its product. */
typedef struct dn_link {
    bool bias;       /* the bias argument */
    float oscale;    /* output scale (1: none) */
    bool sum;        /* adds onto what the output holds */
    float sum_scale;
    bool acc;        /* + acc as a binary post-op */
    bool act;        /* the activation as an eltwise post-op */
} dn_link;

/* Creates the primitive of term t for `link`, with the state's descriptors; dnnl status on failure. */
static dnnl_status_t make_prim(const dn_prep *p, dn_state *s, int t, const dn_link *link, dn_prim *q)
{
    const weft_dense_spec *sp = &p->sp;
    const weft_dense_dims *d = &s->d;
    const weft_dense_term *tm = &sp->term[t];
    dnnl_memory_desc_t src, wei, dst, bias, acc;
    dnnl_matmul_desc_t mm;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st;
    memset(q, 0, sizeof *q);
    q->term = t;
    q->bias = link->bias;
    q->acc = link->acc;
    q->acc_post = link->sum ? 1 : 0;
    if ((st = md_2d(&src, d->rows, d->k[t], tm->trans_x)) || (st = md_2d(&dst, d->rows, d->n, false)) ||
        (st = md_2d(&bias, 1, d->n, false)) || (st = md_2d(&acc, d->rows, d->n, false)))
        return st;
    /* constant weights in the layout prepare chose; the input as stored otherwise, or when oneDNN
     * declines that layout for these shapes */
    for (int attempt = 0; attempt < 2; attempt++) {
        q->w_live = !p->w[t] || attempt == 1;
        if (q->w_live) {
            if ((st = md_2d(&wei, d->k[t], d->n, tm->trans_w))) return st;
        } else {
            wei = p->wmd[t];
        }
        if ((st = dnnl_matmul_desc_init(&mm, &src, &wei, link->bias ? &bias : NULL, &dst))) goto next;
        if ((st = dnnl_primitive_attr_create(&attr))) return st;
        if ((st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user))) goto next;
        if (link->oscale != 1.0f && (st = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &link->oscale))) goto next;
        if ((st = dnnl_post_ops_create(&po))) goto next;
        if (link->sum && (st = dnnl_post_ops_append_sum(po, link->sum_scale))) goto next;
        if (link->acc && (st = dnnl_post_ops_append_binary(po, dnnl_binary_add, &acc))) goto next;
        if (link->act) {
            float alpha;
            dnnl_alg_kind_t alg = eltwise_alg(sp, &alpha);
            if ((st = dnnl_post_ops_append_eltwise(po, 1.0f, alg, alpha, 0.0f))) goto next;
        }
        if ((st = dnnl_primitive_attr_set_post_ops(attr, po))) goto next;
        if ((st = dnnl_primitive_desc_create(&pd, &mm, attr, p->eng, NULL))) goto next;
        break;
    next:
        if (po) dnnl_post_ops_destroy(po);
        if (attr) dnnl_primitive_attr_destroy(attr);
        po = NULL;
        attr = NULL;
        if (p->w[t] == NULL || attempt == 1) return st;
    }
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sbytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (!(st = dnnl_primitive_create(&q->prim, pd)) && !(st = dnnl_memory_create(&q->src, &src, p->eng, DNNL_MEMORY_NONE)))
        st = dnnl_memory_create(&q->wei, &wei, p->eng, q->w_live ? DNNL_MEMORY_NONE : p->w[t]);
    if (!st && sbytes) st = dnnl_memory_create(&q->scratch, smd, p->eng, DNNL_MEMORY_NONE);
    dnnl_primitive_desc_destroy(pd);
    if (sbytes > s->scratch_bytes) s->scratch_bytes = sbytes;
    return st;
}

/* Plans and creates the chain; `fuse` false keeps only what every matmul takes (bias, sum, output
 * scale) and leaves acc and the activation to weft's epilogue. */
static dnnl_status_t make_chain(const dn_prep *p, dn_state *s, bool fuse)
{
    const weft_dense_spec *sp = &p->sp;
    const weft_dense_dims *d = &s->d;
    s->pre = DN_PRE_NONE;
    s->bias_src = DN_BIAS_NONE;
    s->post = 0;
    s->scratch_bytes = 0;
    int active[WEFT_DENSE_MAX_TERMS], na = 0;
    for (int t = 0; t < sp->n_terms; t++)
        if (d->k[t] > 0) active[na++] = t;
    if (na == 0) { /* every K is 0: the products are zero, the epilogue does the rest */
        s->pre = DN_PRE_ZERO;
        s->post = weft_dense_all_parts(sp);
        return dnnl_success;
    }
    dn_link first = {.oscale = 1.0f, .sum_scale = 1.0f};
    bool fuse_act = false;
    if (sp->kind == WEFT_DENSE_GEMM) {
        bool has_c = sp->c >= 0;
        if (sp->alpha != 1.0f) first.oscale = sp->alpha;
        if (has_c && d->c_row_vector && sp->alpha == 1.0f) {
            first.bias = true;
            s->bias_src = sp->beta == 1.0f && d->c_sj == 1 ? DN_BIAS_INPUT : DN_BIAS_ROW;
        } else if (has_c) {
            s->pre = DN_PRE_FILL_C;
            first.sum = true;
            first.sum_scale = sp->beta;
        }
    } else if (sp->kind == WEFT_DENSE_FUSED) {
        if (sp->bias >= 0) {
            first.bias = true;
            s->bias_src = DN_BIAS_INPUT;
        }
        if (sp->normalize) {
            s->post = weft_dense_all_parts(sp) & (WEFT_DENSE_EPI_NORM | WEFT_DENSE_EPI_ACC | WEFT_DENSE_EPI_ACT);
        } else {
            if (sp->acc >= 0) {
                if (fuse) first.acc = true;
                else s->post |= WEFT_DENSE_EPI_ACC;
            }
            if (sp->act != WEFT_FUSED_IDENTITY) {
                if (fuse) fuse_act = true;
                else s->post |= WEFT_DENSE_EPI_ACT;
            }
        }
    }
    for (int a = 0; a < na; a++) {
        dn_link link = a == 0 ? first : (dn_link){.oscale = 1.0f, .sum = true, .sum_scale = 1.0f};
        link.act = fuse_act && a == na - 1;
        dnnl_status_t st = make_prim(p, s, active[a], &link, &s->prim[s->n_prims]);
        s->n_prims++; /* counted even on failure: free_prims releases what was made */
        if (st) return st;
    }
    s->bias_off = (s->scratch_bytes + 63) & ~(size_t)63;
    return dnnl_success;
}

static weft_status dn_reshape(const void *prepared, const weft_kernel_ctx *k, void **state)
{
    const dn_prep *p = prepared;
    *state = NULL;
    if (p->cpu) return WEFT_OK; /* weft's kernels keep no per-size state */
    dn_state *s = calloc(1, sizeof *s);
    if (!s) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    if (p->part) {
        weft_status ps = p->part->reshape(p->part_prep, k, &s->part);
        if (ps) {
            free(s);
            return ps;
        }
        s->part_of = p->part;
        *state = s;
        return WEFT_OK;
    }
    weft_status st = weft_dense_bind(&p->sp, k, &s->d);
    for (int t = 0; !st && t < p->sp.n_terms; t++)
        if (p->w[t] && (p->wk[t] != s->d.k[t] || p->wn[t] != s->d.n))
            st = weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d: constant weight is %lld x %lld, the step needs %lld x %lld",
                               p->sp.term[t].w, (long long)p->wk[t], (long long)p->wn[t], (long long)s->d.k[t],
                               (long long)s->d.n);
    if (st) {
        free(s);
        return st;
    }
    if (s->d.rows == 0 || s->d.n == 0) { /* nothing to compute */
        *state = s;
        return WEFT_OK;
    }
    /* primitives are made for the thread count they will run with */
    weft_cpu_set_threads(weft_kthreads(k));
    dnnl_status_t ds = dnnl_stream_create(&s->stream, p->eng, dnnl_stream_default_flags);
    dnnl_memory_desc_t dst, bias;
    if (!ds) ds = md_2d(&dst, s->d.rows, s->d.n, false);
    if (!ds) ds = md_2d(&bias, 1, s->d.n, false);
    if (!ds) ds = dnnl_memory_create(&s->dst, &dst, p->eng, DNNL_MEMORY_NONE);
    if (!ds) ds = dnnl_memory_create(&s->acc, &dst, p->eng, DNNL_MEMORY_NONE);
    if (!ds) ds = dnnl_memory_create(&s->bias, &bias, p->eng, DNNL_MEMORY_NONE);
    if (!ds) {
        ds = make_chain(p, s, true);
        if (ds) {
            free_prims(s);
            ds = make_chain(p, s, false);
        }
    }
    if (ds) {
        char what[160];
        snprintf(what, sizeof what, "matmul primitive for [%lld x %lld] x [%lld x %lld]", (long long)s->d.rows,
                 (long long)s->d.k[0], (long long)s->d.k[0], (long long)s->d.n);
        st = weft_dn_fail(k->node, ds, what);
        dn_release_state(s);
        return st;
    }
    *state = s;
    return WEFT_OK;
}

/* --- run -------------------------------------------------------------------------------------------- */

static weft_status dn_run(const void *prepared, void *state, weft_kernel_ctx *k)
{
    const dn_prep *p = prepared;
    if (p->cpu) return p->cpu->run(p->cpu_prep, k);
    if (p->part) return p->part->run(p->part_prep, state ? ((dn_state *)state)->part : NULL, k);
    const weft_dense_spec *sp = &p->sp;
    dn_state *s = state;
    if (!s) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "onednn: run before reshape");
    const weft_dense_dims *d = &s->d;
    if (d->rows == 0 || d->n == 0) return WEFT_OK;
    int threads = weft_kthreads(k);
    weft_cpu_set_threads(threads);
    weft_dense_io io = {k->out[0].data, NULL, NULL, NULL};
    if (sp->bias >= 0 && weft_kin_present(k, sp->bias)) io.bias = k->in[sp->bias].data;
    if (sp->acc >= 0 && weft_kin_present(k, sp->acc)) io.acc = k->in[sp->acc].data;
    if (sp->c >= 0 && weft_kin_present(k, sp->c)) io.c = k->in[sp->c].data;
    /* one scratch block: the primitives' scratchpad (they run one after another), then a bias row */
    char *scratch = NULL;
    size_t need = s->bias_src == DN_BIAS_ROW ? s->bias_off + (size_t)d->n * sizeof(float) : s->scratch_bytes;
    if (need) {
        scratch = k->scratch(k->user, need + 64);
        if (!scratch) return weft_op_error(k->node, WEFT_ERR_NOMEM, "cannot allocate %zu bytes of scratch", need);
        scratch += (64 - ((uintptr_t)scratch & 63)) & 63;
    }
    switch (s->pre) {
    case DN_PRE_ZERO: weft_dense_fill_par(sp, d, &io, false, threads); break;
    case DN_PRE_FILL_C: weft_dense_fill_par(sp, d, &io, true, threads); break;
    default: break;
    }
    const void *bias = NULL;
    if (s->bias_src == DN_BIAS_INPUT) {
        bias = sp->kind == WEFT_DENSE_GEMM ? io.c : io.bias;
    } else if (s->bias_src == DN_BIAS_ROW) {
        weft_dense_c_row(sp, d, io.c, scratch + s->bias_off);
        bias = scratch + s->bias_off;
    }
    dnnl_status_t ds = dnnl_memory_set_data_handle(s->dst, io.y);
    if (!ds && bias) ds = dnnl_memory_set_data_handle(s->bias, (void *)bias);
    if (!ds && io.acc) ds = dnnl_memory_set_data_handle(s->acc, (void *)io.acc);
    for (int i = 0; !ds && i < s->n_prims; i++) {
        dn_prim *q = &s->prim[i];
        const weft_dense_term *tm = &sp->term[q->term];
        dnnl_exec_arg_t args[6];
        int na = 0;
        ds = dnnl_memory_set_data_handle(q->src, k->in[tm->x].data);
        if (!ds && q->w_live) ds = dnnl_memory_set_data_handle(q->wei, k->in[tm->w].data);
        if (!ds && q->scratch) ds = dnnl_memory_set_data_handle(q->scratch, scratch);
        if (ds) break;
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, q->src};
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, q->wei};
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, s->dst};
        if (q->bias) args[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, s->bias};
        if (q->scratch) args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, q->scratch};
        if (q->acc) args[na++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(q->acc_post) | DNNL_ARG_SRC_1, s->acc};
        ds = dnnl_primitive_execute(q->prim, s->stream, na, args);
    }
    if (!ds && s->n_prims) ds = dnnl_stream_wait(s->stream);
    if (ds) return weft_dn_fail(k->node, ds, "executing matmul");
    weft_dense_epilogue_par(sp, d, &io, s->post, threads);
    return WEFT_OK;
}

const weft_backend weft_backend_onednn = {
    .name = "onednn",
    .buft = &weft_buffer_host,
    .supports = dn_supports,
    .prepare = dn_prepare,
    .reshape = dn_reshape,
    .run = dn_run,
    .release = dn_release,
    .release_state = dn_release_state,
};
