/*
 * ops/onednn/rnn.c — the `onednn` backend's recurrent steps: ONNX LSTM and GRU as oneDNN RNN primitives
 * (forward inference, float32, one layer; directions forward, reverse and bidirectional, the last as
 * oneDNN's bidirectional_concat; layout 0 and 1; optional initial_h / initial_c and B; every output
 * optional).
 *
 * ONNX and oneDNN differ in the order of the gates and in how the biases come:
 *   - LSTM: ONNX i, o, f, c; oneDNN i, f, c~, o. W and R rows are permuted, the bias is Wb + Rb.
 *   - GRU: ONNX z, r, h and oneDNN u, r, o are the same gates in the same order. linear_before_reset 0
 *     is oneDNN's GRU with the bias Wb + Rb; linear_before_reset 1 (what PyTorch exports) is oneDNN's
 *     linear-before-reset GRU, whose bias has a fourth gate: Rbh, the recurrent bias of the candidate,
 *     applied before the reset gate (the third is Wbh alone).
 * W [dirs, G*H, input] is, gate by gate, oneDNN's ldgoi layout (dims [1, dirs, input, G, H] stored
 * l, d, g, o, i), so the permutation is a copy of whole [H, input] blocks.
 *
 * Lifecycle:
 *   - prepare: the attributes read once (what oneDNN cannot compute marks the step for the reference
 *     kernel); constant W and R permuted, then reordered once into the layout the primitive prefers
 *     (weights in format "any" on the compile-time shape, nominal sizes where unknown); a constant B
 *     folded into oneDNN's bias.
 *   - reshape: the primitive for the bound shapes. X, Y and the states are first given to it in the
 *     layouts ONNX stores them (layout 1 is oneDNN's ntc for X and Y); where it declines those, it gets
 *     plain tnc / ldnc and reorder primitives convert at the step's boundary, buffers in the run's
 *     scratch. A bidirectional Y in layout 0 ([seq, dirs, batch, H]) is always such a reorder: oneDNN's
 *     concatenated output is [seq, batch, dirs * H]. Constant weights whose preferred layout differs
 *     from prepare's guess are reordered here, once per session; run-time weights are permuted into the
 *     scratch and reordered each run (or given plain when the primitive takes that).
 *     The primitive gets fewer threads than the session when a time step holds little work
 *     (RN_WORK_PER_THREAD).
 *   - run: sequence_lens checked (oneDNN runs every sequence to the full length: any shorter one runs
 *     the reference kernel for that run), handles set, reorders and the primitive executed in order.
 *
 * The reference kernel (ops/rnn.c) runs what oneDNN cannot: activations other than the defaults, clip,
 * LSTM peepholes (P) and input_forget, sequence_lens shorter than the sequence, malformed or empty
 * operands (the reference reports those), and whatever oneDNN declines to create a primitive for. With
 * WEFT_ONEDNN_STRICT set in the environment (tests), each of those is an error instead.
 */
#include <dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../cpu/cpu.h"
#include "onednn_prim.h"
#include "onednn_rnn.h"

enum { RN_LSTM, RN_GRU };
enum { IN_X, IN_W, IN_R, IN_B, IN_SEQ, IN_H0, IN_C0, IN_P };
/* the data tensors around the primitive: inputs X, initial_h, initial_c; outputs Y, Y_h, Y_c */
enum { IO_X, IO_H0, IO_C0, IO_Y, IO_YH, IO_YC, IO_N };

/* Sizes of the representative shape used to ask for the weight layout when not known at compile time. */
#define RN_NOMINAL_SEQ 32
#define RN_NOMINAL_BATCH 8

/* Gate values of one time step (batch x gates x H) per thread the primitive is given: oneDNN's RNN splits
 * each step's small products and cell over its threads, and below this a second thread cost more than it
 * saved (batch 8, hidden 64: 1 thread 0.25 ms, 2 threads 0.34 ms for 64 LSTM steps; batch 8, hidden 256
 * and batch 64, hidden 64 faster on 2). */
#define RN_WORK_PER_THREAD 4096

/* oneDNN's gate g is ONNX's gate perm[g]. */
static const int lstm_perm[4] = {0, 2, 3, 1};
static const int gru_perm[3] = {0, 1, 2};

typedef struct rn_prep {
    const weft_op_def *def; /* the reference kernel */
    int kind;               /* RN_LSTM, RN_GRU */
    int G;                  /* gates of W and R: 4 (LSTM), 3 (GRU) */
    int Gb;                 /* gates of oneDNN's bias: 4 (LSTM, linear-before-reset GRU), 3 (GRU) */
    const int *perm;
    int dirs;
    bool reverse;
    int layout;
    int lbr;                /* GRU's linear_before_reset */
    int64_t hidden;         /* the attribute, or -1 */
    const char *why;        /* non-NULL: what oneDNN cannot compute; the reference kernel runs the step */
    dnnl_engine_t eng;
    /* constant W (0) and R (1): gates in oneDNN's order, plain ldgoi; and in the layout prepare chose
     * (wpack NULL when that is the plain one) */
    float *wplain[2];
    void *wpack[2];
    dnnl_memory_desc_t wmd[2];
    int64_t wdims[2][3];
    float *bias;            /* a constant B folded into oneDNN's bias [dirs, Gb, H], else NULL */
    int64_t bias_h;
} rn_prep;

typedef struct rn_geom {
    int64_t T, N, I, H, D;
    int layout;
} rn_geom;

/* One data tensor around the primitive. */
typedef struct rn_io {
    bool used;            /* an argument of the primitive */
    int arg;              /* DNNL_ARG_* */
    int user;             /* the index into k->in / k->out of the ONNX tensor; -1 when absent */
    bool out;             /* an output */
    dnnl_memory_t m;      /* the primitive's memory */
    bool scr;             /* its buffer lies in the scratch at `off` (else the ONNX tensor's own) */
    size_t off;
    bool zero;            /* zeros before each run: an absent initial state whose pair is given */
    size_t bytes;         /* the primitive's buffer's size */
    dnnl_primitive_t r;   /* the reorder between the ONNX layout and the primitive's, or NULL */
    dnnl_memory_t rm, u;  /* the reorder's primitive-side (the same buffer as m) and ONNX-side memories */
} rn_io;

typedef struct rn_state {
    bool fallback;        /* run the reference kernel */
    rn_geom g;
    int threads;          /* what the primitive runs with */
    bool planned[3];      /* outputs present at reshape */
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    rn_io io[IO_N];
    /* weights: 0 layer (W), 1 iter (R) */
    dnnl_memory_t w[2];   /* the primitive's */
    bool w_live[2];
    size_t wp_off[2];     /* run-time weights: the permuted plain copy in the scratch ... */
    dnnl_primitive_t wr[2]; /* ... and its reorder into the primitive's layout at w_off (NULL: none) */
    dnnl_memory_t wp[2];
    size_t w_off[2];
    void *wown[2];        /* constant weights reordered in reshape */
    dnnl_memory_t b;
    bool b_live;          /* B is an input: folded each run at b_off */
    float *bzero;         /* without B: zeros */
    size_t b_off;
    dnnl_memory_t m_scr;  /* the scratchpad shared by the primitive and the reorders (NULL: none) */
    size_t scr_bytes, total;
} rn_state;

static bool strict(void) { return getenv("WEFT_ONEDNN_STRICT") != NULL; }

static int kind_of(const weft_step_desc *s)
{
    const weft_op_def *d = s->def;
    if (!d || (d->domain[0] && strcmp(d->domain, "ai.onnx") != 0)) return -1;
    if (strcmp(d->name, "LSTM") == 0) return RN_LSTM;
    if (strcmp(d->name, "GRU") == 0) return RN_GRU;
    return -1;
}

bool weft_dn_rnn_supports(const weft_step_desc *s)
{
    int kind = kind_of(s);
    if (kind < 0 || s->n_in < 3 || s->n_in > (kind == RN_LSTM ? 8 : 6)) return false;
    for (int i = 0; i < 3; i++)
        if (s->in_dtype[i] != WEFT_FLOAT32 || s->in_shape[i].rank != 3) return false;
    for (int i = 3; i < s->n_in; i++) {
        weft_dtype t = s->in_dtype[i];
        if (t == WEFT_UNDEFINED) continue;
        if (i == IN_SEQ ? t != WEFT_INT32 && t != WEFT_INT64 : t != WEFT_FLOAT32) return false;
    }
    for (int o = 0; o < s->n_out; o++)
        if (s->out_dtype[o] != WEFT_FLOAT32 && s->out_dtype[o] != WEFT_UNDEFINED) return false;
    return true;
}

/* Reads the attributes into p; returns what oneDNN cannot compute (or what is malformed: the reference
 * kernel reports that), NULL when the primitive can. */
static const char *read_attrs(const weft_node_info *n, rn_prep *p)
{
    const weft_attr *at = weft_attr_find(n, "direction");
    const char *dir = "forward";
    if (at) {
        if (at->type != WEFT_ATTR_STRING) return "a malformed direction";
        dir = at->s;
    }
    if (strcmp(dir, "forward") == 0) p->dirs = 1;
    else if (strcmp(dir, "reverse") == 0) p->dirs = 1, p->reverse = true;
    else if (strcmp(dir, "bidirectional") == 0) p->dirs = 2;
    else return "an unknown direction";
    int64_t layout = weft_attr_int(n, "layout", 0);
    if (layout != 0 && layout != 1) return "an unknown layout";
    if (layout == 1 && n->opset < 14) return "layout before opset 14";
    p->layout = (int)layout;
    p->hidden = -1;
    if ((at = weft_attr_find(n, "hidden_size"))) {
        if (at->type != WEFT_ATTR_INT || at->i <= 0 || at->i > ((int64_t)1 << 40)) return "a malformed hidden_size";
        p->hidden = at->i;
    }
    if (weft_attr_find(n, "clip")) return "clip";
    if (p->kind == RN_LSTM && weft_attr_int(n, "input_forget", 0) != 0) return "input_forget";
    if (p->kind == RN_GRU) {
        int64_t v = weft_attr_int(n, "linear_before_reset", 0);
        if (v != 0 && v != 1) return "a malformed linear_before_reset";
        p->lbr = (int)v;
    }
    /* the defaults: Sigmoid then Tanh (GRU), Sigmoid, Tanh, Tanh (LSTM), per direction; their alphas and
     * betas mean nothing */
    int n_act = p->kind == RN_LSTM ? 3 : 2;
    if ((at = weft_attr_find(n, "activations"))) {
        if (at->type != WEFT_ATTR_STRINGS || at->n != n_act * p->dirs) return "malformed activations";
        for (int i = 0; i < at->n; i++) {
            const char *want = i % n_act == 0 ? "Sigmoid" : "Tanh";
            if (!at->strings[i] || strcasecmp(at->strings[i], want) != 0) return "activations other than the defaults";
        }
    }
    return NULL;
}

/* W or R [dirs, G*H, cols] into oneDNN's gate order, plain ldgoi ([dirs][G][H][cols]). */
static void permute_w(const rn_prep *p, const float *src, float *dst, int64_t dirs, int64_t H, int64_t cols)
{
    size_t blk = (size_t)H * (size_t)cols;
    for (int64_t d = 0; d < dirs; d++)
        for (int g = 0; g < p->G; g++)
            memcpy(dst + ((size_t)d * p->G + g) * blk, src + ((size_t)d * p->G + p->perm[g]) * blk, blk * sizeof(float));
}

/* B [dirs, 2*G*H] (W biases then R biases) into oneDNN's bias [dirs, Gb, H]. */
static void fold_bias(const rn_prep *p, const float *B, float *out, int64_t dirs, int64_t H)
{
    int64_t G = p->G;
    for (int64_t d = 0; d < dirs; d++) {
        const float *wb = B + d * 2 * G * H, *rb = wb + G * H;
        float *o = out + d * p->Gb * H;
        for (int g = 0; g < p->G; g++) {
            int64_t q = p->perm[g] * H;
            if (p->kind == RN_GRU && p->lbr && g == 2) {
                for (int64_t j = 0; j < H; j++) {
                    o[2 * H + j] = wb[q + j];
                    o[3 * H + j] = rb[q + j];
                }
            } else {
                for (int64_t j = 0; j < H; j++) o[g * H + j] = wb[q + j] + rb[q + j];
            }
        }
    }
}

/* --- descriptors ------------------------------------------------------------------------------------ */

static dnnl_status_t md_strided(dnnl_memory_desc_t *md, int nd, const int64_t *dims, const int64_t *strides)
{
    dnnl_dims_t d, s;
    for (int i = 0; i < nd; i++) {
        d[i] = dims[i];
        s[i] = strides[i];
    }
    return dnnl_memory_desc_init_by_strides(md, nd, d, dnnl_f32, s);
}

static dnnl_status_t md_tag(dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_format_tag_t tag)
{
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++) d[i] = dims[i];
    return dnnl_memory_desc_init_by_tag(md, nd, d, dnnl_f32, tag);
}

/* X as ONNX stores it: dims [T, N, I]. */
static dnnl_status_t md_x(dnnl_memory_desc_t *md, const rn_geom *g)
{
    int64_t dims[3] = {g->T, g->N, g->I};
    int64_t s0[3] = {g->N * g->I, g->I, 1}, s1[3] = {g->I, g->T * g->I, 1};
    return md_strided(md, 3, dims, g->layout ? s1 : s0);
}

/* Y as ONNX stores it, in oneDNN's dims [T, N, D*H]; false when no 3-D descriptor holds it (layout 0
 * with two directions: [T, D, N, H]). */
static bool md_y3(dnnl_memory_desc_t *md, const rn_geom *g)
{
    int64_t dims[3] = {g->T, g->N, g->D * g->H};
    int64_t s0[3] = {g->N * g->H, g->H, 1}, s1[3] = {g->D * g->H, g->T * g->D * g->H, 1};
    if (!g->layout && g->D != 1) return false;
    return md_strided(md, 3, dims, g->layout ? s1 : s0) == dnnl_success;
}

/* Y as ONNX stores it in dims [T, N, D, H]. */
static dnnl_status_t md_y4(dnnl_memory_desc_t *md, const rn_geom *g)
{
    int64_t dims[4] = {g->T, g->N, g->D, g->H};
    int64_t s0[4] = {g->D * g->N * g->H, g->H, g->N * g->H, 1}, s1[4] = {g->D * g->H, g->T * g->D * g->H, g->H, 1};
    return md_strided(md, 4, dims, g->layout ? s1 : s0);
}

/* A state (initial_h, Y_h, ...) as ONNX stores it: dims [1, D, N, H]. */
static dnnl_status_t md_state(dnnl_memory_desc_t *md, const rn_geom *g)
{
    int64_t dims[4] = {1, g->D, g->N, g->H};
    int64_t s0[4] = {g->D * g->N * g->H, g->N * g->H, g->H, 1}, s1[4] = {g->D * g->N * g->H, g->H, g->D * g->H, 1};
    return md_strided(md, 4, dims, g->layout ? s1 : s0);
}

/* Weights [1, D, in, G, H]: plain ldgoi, or format any. */
static dnnl_status_t md_w(dnnl_memory_desc_t *md, const rn_prep *p, const rn_geom *g, int l, bool any)
{
    int64_t dims[5] = {1, g->D, l ? g->H : g->I, p->G, g->H};
    return md_tag(md, 5, dims, any ? dnnl_format_tag_any : dnnl_ldgoi);
}

/* What the primitive is asked for. */
typedef struct rn_ask {
    bool direct;          /* X, Y and the states in the ONNX layouts (else plain tnc / ldnc) */
    bool iter, dst_iter;  /* with initial states / final states */
    bool bias;
    bool w_any[2];        /* weights in format any (else plain ldgoi) */
} rn_ask;

static dnnl_status_t rnn_pd(const rn_prep *p, const rn_geom *g, const rn_ask *a, dnnl_primitive_desc_t *pd)
{
    dnnl_memory_desc_t x, y, st, wl, wi, b;
    int64_t xd[3] = {g->T, g->N, g->I}, yd[3] = {g->T, g->N, g->D * g->H}, sd[4] = {1, g->D, g->N, g->H};
    int64_t bd[4] = {1, g->D, p->Gb, g->H};
    dnnl_status_t s;
    if (a->direct) {
        if ((s = md_x(&x, g)) || (s = md_state(&st, g))) return s;
        if (!md_y3(&y, g) && (s = md_tag(&y, 3, yd, dnnl_tnc))) return s;
    } else if ((s = md_tag(&x, 3, xd, dnnl_tnc)) || (s = md_tag(&y, 3, yd, dnnl_tnc)) || (s = md_tag(&st, 4, sd, dnnl_ldnc))) {
        return s;
    }
    if ((s = md_w(&wl, p, g, 0, a->w_any[0])) || (s = md_w(&wi, p, g, 1, a->w_any[1])) || (s = md_tag(&b, 4, bd, dnnl_ldgo)))
        return s;
    dnnl_rnn_direction_t dir = p->dirs == 2 ? dnnl_bidirectional_concat
                               : p->reverse ? dnnl_unidirectional_right2left
                                            : dnnl_unidirectional_left2right;
    const dnnl_memory_desc_t *si = a->iter ? &st : NULL, *di = a->dst_iter ? &st : NULL, *bb = a->bias ? &b : NULL;
    dnnl_rnn_desc_t rd;
    if (p->kind == RN_LSTM)
        s = dnnl_lstm_forward_desc_init(&rd, dnnl_forward_inference, dir, &x, si, si, &wl, &wi, bb, &y, di, di, 0);
    else if (p->lbr)
        s = dnnl_lbr_gru_forward_desc_init(&rd, dnnl_forward_inference, dir, &x, si, &wl, &wi, bb, &y, di, 0);
    else
        s = dnnl_gru_forward_desc_init(&rd, dnnl_forward_inference, dir, &x, si, &wl, &wi, bb, &y, di, 0);
    if (s) return s;
    dnnl_primitive_attr_t attr = NULL;
    if ((s = dnnl_primitive_attr_create(&attr))) return s;
    s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (!s) s = dnnl_primitive_desc_create(pd, &rd, attr, p->eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    return s;
}

static const dnnl_memory_desc_t *arg_md(const_dnnl_primitive_desc_t pd, int arg)
{
    return dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
}

/* --- prepare ---------------------------------------------------------------------------------------- */

void weft_dn_rnn_release(void *prepared)
{
    rn_prep *p = prepared;
    if (!p) return;
    for (int l = 0; l < 2; l++) {
        free(p->wplain[l]);
        free(p->wpack[l]);
    }
    free(p->bias);
    if (p->eng) dnnl_engine_destroy(p->eng);
    free(p);
}

static int64_t known_or(weft_dim d, int64_t def) { return weft_dim_known(d) && d.v > 0 ? d.v : def; }

weft_status weft_dn_rnn_prepare(const weft_step_desc *s, void **prepared)
{
    *prepared = NULL;
    rn_prep *p = calloc(1, sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    weft_status st = WEFT_OK;
    p->def = s->def;
    p->kind = kind_of(s);
    p->G = p->kind == RN_LSTM ? 4 : 3;
    p->perm = p->kind == RN_LSTM ? lstm_perm : gru_perm;
    p->why = read_attrs(s->node, p);
    p->Gb = p->kind == RN_LSTM || p->lbr ? 4 : 3;
    if (!p->why && p->kind == RN_LSTM && s->n_in > IN_P && s->in_dtype[IN_P] != WEFT_UNDEFINED) p->why = "peepholes (P)";
    dnnl_status_t ds = dnnl_engine_create(&p->eng, dnnl_cpu, 0);
    if (ds) {
        p->eng = NULL;
        st = weft_dn_fail(s->node, ds, "creating the CPU engine");
        goto fail;
    }
    if (p->why) goto done;
    /* H: the attribute, else R's last dim when known */
    const weft_shape *rs = &s->in_shape[IN_R], *ws = &s->in_shape[IN_W];
    int64_t H = p->hidden >= 0 ? p->hidden : known_or(rs->d[2], -1);
    if (H <= 0) goto done;
    for (int l = 0; l < 2; l++) {
        const weft_shape *sh = &s->in_shape[IN_W + l];
        if (!s->in_const || !s->in_const[IN_W + l] || !weft_shape_known(sh)) continue;
        int64_t cols = sh->d[2].v;
        if (sh->d[0].v != p->dirs || sh->d[1].v != p->G * H || cols <= 0 || (l == 1 && cols != H)) continue;
        if (!(p->wplain[l] = weft_dn_alloc64((size_t)(p->dirs * p->G * H * cols) * sizeof(float)))) {
            st = weft_error(WEFT_ERR_NOMEM, "out of memory");
            goto fail;
        }
        for (int i = 0; i < 3; i++) p->wdims[l][i] = sh->d[i].v;
        permute_w(p, s->in_const[IN_W + l], p->wplain[l], p->dirs, H, cols);
    }
    if (s->n_in > IN_B && s->in_dtype[IN_B] == WEFT_FLOAT32 && s->in_const && s->in_const[IN_B] &&
        weft_shape_known(&s->in_shape[IN_B]) && s->in_shape[IN_B].rank == 2 && s->in_shape[IN_B].d[0].v == p->dirs &&
        s->in_shape[IN_B].d[1].v == 2 * p->G * H) {
        if (!(p->bias = weft_dn_alloc64((size_t)(p->dirs * p->Gb * H) * sizeof(float)))) {
            st = weft_error(WEFT_ERR_NOMEM, "out of memory");
            goto fail;
        }
        fold_bias(p, s->in_const[IN_B], p->bias, p->dirs, H);
        p->bias_h = H;
    }
    /* the layout the primitive prefers for constant weights, on the compile-time shape */
    if (p->wplain[0] || p->wplain[1]) {
        const weft_shape *xs = &s->in_shape[IN_X];
        rn_geom g = {known_or(xs->d[p->layout ? 1 : 0], RN_NOMINAL_SEQ), known_or(xs->d[p->layout ? 0 : 1], RN_NOMINAL_BATCH),
                     known_or(ws->d[2], -1), H, p->dirs, p->layout};
        rn_ask a = {.direct = false, .iter = false, .dst_iter = false, .bias = true, .w_any = {true, true}};
        dnnl_primitive_desc_t pd = NULL;
        if (g.I > 0 && !rnn_pd(p, &g, &a, &pd)) {
            for (int l = 0; l < 2; l++) {
                if (!p->wplain[l]) continue;
                const dnnl_memory_desc_t *q = arg_md(pd, l ? DNNL_ARG_WEIGHTS_ITER : DNNL_ARG_WEIGHTS_LAYER);
                dnnl_memory_desc_t plain;
                md_w(&plain, p, &g, l, false);
                if (!q || dnnl_memory_desc_equal(q, &plain)) continue;
                p->wmd[l] = *q;
                if ((p->wpack[l] = weft_dn_alloc64(dnnl_memory_desc_get_size(q))) &&
                    weft_dn_reorder_once(p->eng, &plain, p->wplain[l], q, p->wpack[l])) {
                    free(p->wpack[l]);
                    p->wpack[l] = NULL;
                }
            }
        }
        if (pd) dnnl_primitive_desc_destroy(pd);
    }
done:
    *prepared = p;
    return WEFT_OK;
fail:
    weft_dn_rnn_release(p);
    return st;
}

/* --- reshape ---------------------------------------------------------------------------------------- */

void weft_dn_rnn_release_state(void *state)
{
    rn_state *s = state;
    if (!s) return;
    if (s->prim) dnnl_primitive_destroy(s->prim);
    for (int i = 0; i < IO_N; i++) {
        rn_io *io = &s->io[i];
        if (io->r) dnnl_primitive_destroy(io->r);
        if (io->m) dnnl_memory_destroy(io->m);
        if (io->rm) dnnl_memory_destroy(io->rm);
        if (io->u) dnnl_memory_destroy(io->u);
    }
    for (int l = 0; l < 2; l++) {
        if (s->wr[l]) dnnl_primitive_destroy(s->wr[l]);
        if (s->w[l]) dnnl_memory_destroy(s->w[l]);
        if (s->wp[l]) dnnl_memory_destroy(s->wp[l]);
        free(s->wown[l]);
    }
    if (s->b) dnnl_memory_destroy(s->b);
    free(s->bzero);
    if (s->m_scr) dnnl_memory_destroy(s->m_scr);
    if (s->stream) dnnl_stream_destroy(s->stream);
    free(s);
}

static bool dims_are(const weft_tview *t, int rank, const int64_t *d)
{
    if (t->rank != rank) return false;
    for (int i = 0; i < rank; i++)
        if (t->dims[i] != d[i]) return false;
    return true;
}

static bool out_present(const weft_kernel_ctx *k, int o) { return o < k->n_out && k->out[o].dtype != WEFT_UNDEFINED; }

/* The bound shapes in the primitive's form: false when they are not (the reference kernel then runs the
 * step, and reports what is malformed). */
static bool bind(const rn_prep *p, const weft_kernel_ctx *k, rn_geom *g, bool *planned)
{
    const weft_tview *X = &k->in[IN_X], *W = &k->in[IN_W], *R = &k->in[IN_R];
    if (X->rank != 3 || W->rank != 3 || R->rank != 3 || X->dtype != WEFT_FLOAT32 || W->dtype != WEFT_FLOAT32 ||
        R->dtype != WEFT_FLOAT32)
        return false;
    g->layout = p->layout;
    g->T = X->dims[p->layout ? 1 : 0];
    g->N = X->dims[p->layout ? 0 : 1];
    g->I = X->dims[2];
    g->H = p->hidden >= 0 ? p->hidden : R->dims[2];
    g->D = p->dirs;
    if (g->T <= 0 || g->N <= 0 || g->I <= 0 || g->H <= 0) return false;
    int64_t G = p->G, H = g->H;
    int64_t wd[3] = {g->D, G * H, g->I}, rd[3] = {g->D, G * H, H};
    if (!dims_are(W, 3, wd) || !dims_are(R, 3, rd)) return false;
    for (int l = 0; l < 2; l++)
        if (p->wplain[l] && memcmp(p->wdims[l], l ? rd : wd, sizeof wd) != 0) return false;
    if (weft_kin_present(k, IN_B)) {
        const weft_tview *B = &k->in[IN_B];
        if (B->dtype != WEFT_FLOAT32 || B->numel != g->D * 2 * G * H || (p->bias && p->bias_h != H)) return false;
    }
    if (weft_kin_present(k, IN_SEQ) && k->in[IN_SEQ].numel != g->N) return false;
    int64_t sd0[3] = {g->D, g->N, H}, sd1[3] = {g->N, g->D, H};
    int64_t yd0[4] = {g->T, g->D, g->N, H}, yd1[4] = {g->N, g->T, g->D, H};
    const int64_t *sd = p->layout ? sd1 : sd0, *yd = p->layout ? yd1 : yd0;
    for (int i = IN_H0; i <= IN_C0; i++)
        if (weft_kin_present(k, i) && (k->in[i].dtype != WEFT_FLOAT32 || !dims_are(&k->in[i], 3, sd))) return false;
    int n_outs = p->kind == RN_LSTM ? 3 : 2;
    for (int o = 0; o < 3; o++) {
        planned[o] = o < n_outs && out_present(k, o);
        if (!planned[o]) continue;
        if (k->out[o].dtype != WEFT_FLOAT32 || !dims_are(&k->out[o], o ? 3 : 4, o ? sd : yd)) return false;
    }
    return true;
}

/* Sets up io `i`: the primitive's memory for its descriptor, and where the ONNX layout differs, a buffer in
 * the scratch with a reorder. `onnx` is the ONNX layout's descriptor (NULL: no ONNX tensor); `onnx_as`,
 * when not NULL, the primitive's buffer as the reorder reads it (same bytes, the ONNX tensor's dims). */
static dnnl_status_t setup_io(const rn_prep *p, rn_state *s, const_dnnl_primitive_desc_t pd, int i, int arg, int user,
                              bool out, const dnnl_memory_desc_t *onnx, const dnnl_memory_desc_t *onnx_as, size_t *at)
{
    rn_io *io = &s->io[i];
    io->used = true;
    io->arg = arg;
    io->user = onnx ? user : -1;
    io->out = out;
    const dnnl_memory_desc_t *q = arg_md(pd, arg);
    if (!q) return dnnl_runtime_error;
    dnnl_status_t ds = dnnl_memory_create(&io->m, q, p->eng, DNNL_MEMORY_NONE);
    if (ds) return ds;
    if (onnx && !onnx_as && dnnl_memory_desc_equal(q, onnx)) return dnnl_success; /* read / written in place */
    io->scr = true;
    io->off = *at;
    io->bytes = dnnl_memory_desc_get_size(q);
    *at += weft_dn_up64(io->bytes);
    if (!onnx) {
        io->zero = !out;
        return dnnl_success;
    }
    const dnnl_memory_desc_t *pm = onnx_as ? onnx_as : q;
    if ((ds = dnnl_memory_create(&io->rm, pm, p->eng, DNNL_MEMORY_NONE)) ||
        (ds = dnnl_memory_create(&io->u, onnx, p->eng, DNNL_MEMORY_NONE)))
        return ds;
    return out ? weft_dn_make_reorder(p->eng, pm, onnx, &io->r, &s->scr_bytes) : weft_dn_make_reorder(p->eng, onnx, pm, &io->r, &s->scr_bytes);
}

static dnnl_status_t build(const rn_prep *p, const weft_kernel_ctx *k, rn_state *s)
{
    const rn_geom *g = &s->g;
    bool lstm = p->kind == RN_LSTM;
    bool has_h0 = weft_kin_present(k, IN_H0), has_c0 = lstm && weft_kin_present(k, IN_C0);
    bool has_b = weft_kin_present(k, IN_B);
    /* without B, zeros: oneDNN 2.6's CPU RNN declines a primitive without a bias */
    rn_ask a = {.iter = has_h0 || has_c0, .dst_iter = s->planned[1] || s->planned[2], .bias = true};
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t ds = dnnl_unimplemented;
    /* the ONNX layouts first, then plain ones; run-time weights plain ldgoi first, then any */
    for (int direct = 1; direct >= 0 && ds; direct--)
        for (int wany = 0; wany < 2 && ds; wany++) {
            a.direct = direct;
            for (int l = 0; l < 2; l++) a.w_any[l] = p->wplain[l] || wany;
            if (wany && p->wplain[0] && p->wplain[1]) continue; /* the same as the first */
            ds = rnn_pd(p, g, &a, &pd);
        }
    if (ds) return ds;
    const dnnl_memory_desc_t *qs = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    s->scr_bytes = qs ? dnnl_memory_desc_get_size(qs) : 0;
    /* the buffers in the scratch start after the scratchpad, whose size is known only once every reorder
     * exists: offsets are counted from 0 here and moved at the end */
    size_t at = 0;
    dnnl_memory_desc_t mx, my3, my4, mst, plain4;
    if ((ds = md_x(&mx, g)) || (ds = md_y4(&my4, g)) || (ds = md_state(&mst, g))) goto out;
    ds = setup_io(p, s, pd, IO_X, DNNL_ARG_SRC_LAYER, IN_X, false, &mx, NULL, &at);
    if (!ds && a.iter) ds = setup_io(p, s, pd, IO_H0, DNNL_ARG_SRC_ITER, IN_H0, false, has_h0 ? &mst : NULL, NULL, &at);
    if (!ds && a.iter && lstm)
        ds = setup_io(p, s, pd, IO_C0, DNNL_ARG_SRC_ITER_C, IN_C0, false, has_c0 ? &mst : NULL, NULL, &at);
    if (!ds) {
        if (!s->planned[0]) {
            ds = setup_io(p, s, pd, IO_Y, DNNL_ARG_DST_LAYER, 0, true, NULL, NULL, &at);
        } else if (md_y3(&my3, g)) {
            ds = setup_io(p, s, pd, IO_Y, DNNL_ARG_DST_LAYER, 0, true, &my3, NULL, &at);
        } else {
            /* [T, N, D*H] as [T, N, D, H]: only when the primitive writes it plain */
            int64_t yd[3] = {g->T, g->N, g->D * g->H}, y4[4] = {g->T, g->N, g->D, g->H};
            dnnl_memory_desc_t tnc;
            const dnnl_memory_desc_t *q = arg_md(pd, DNNL_ARG_DST_LAYER);
            if (!(ds = md_tag(&tnc, 3, yd, dnnl_tnc)) && !(ds = md_tag(&plain4, 4, y4, dnnl_abcd)))
                ds = q && dnnl_memory_desc_equal(q, &tnc) ? setup_io(p, s, pd, IO_Y, DNNL_ARG_DST_LAYER, 0, true, &my4, &plain4, &at)
                                                          : dnnl_unimplemented;
        }
    }
    if (!ds && a.dst_iter)
        ds = setup_io(p, s, pd, IO_YH, DNNL_ARG_DST_ITER, 1, true, s->planned[1] ? &mst : NULL, NULL, &at);
    if (!ds && a.dst_iter && lstm)
        ds = setup_io(p, s, pd, IO_YC, DNNL_ARG_DST_ITER_C, 2, true, s->planned[2] ? &mst : NULL, NULL, &at);
    if (ds) goto out;
    /* weights */
    for (int l = 0; l < 2 && !ds; l++) {
        const dnnl_memory_desc_t *q = arg_md(pd, l ? DNNL_ARG_WEIGHTS_ITER : DNNL_ARG_WEIGHTS_LAYER);
        dnnl_memory_desc_t plain;
        if (!q) {
            ds = dnnl_runtime_error;
            break;
        }
        if ((ds = md_w(&plain, p, g, l, false))) break;
        bool is_plain = dnnl_memory_desc_equal(q, &plain);
        if (p->wplain[l]) {
            const void *data;
            if (is_plain) data = p->wplain[l];
            else if (p->wpack[l] && dnnl_memory_desc_equal(q, &p->wmd[l])) data = p->wpack[l];
            else {
                if (!(s->wown[l] = weft_dn_alloc64(dnnl_memory_desc_get_size(q)))) {
                    ds = dnnl_out_of_memory;
                    break;
                }
                if ((ds = weft_dn_reorder_once(p->eng, &plain, p->wplain[l], q, s->wown[l]))) break;
                data = s->wown[l];
            }
            ds = dnnl_memory_create(&s->w[l], q, p->eng, (void *)data);
            continue;
        }
        s->w_live[l] = true;
        s->wp_off[l] = at;
        at += weft_dn_up64(dnnl_memory_desc_get_size(&plain));
        if ((ds = dnnl_memory_create(&s->w[l], q, p->eng, DNNL_MEMORY_NONE))) break;
        if (is_plain) {
            s->w_off[l] = s->wp_off[l];
            continue;
        }
        s->w_off[l] = at;
        at += weft_dn_up64(dnnl_memory_desc_get_size(q));
        if ((ds = dnnl_memory_create(&s->wp[l], &plain, p->eng, DNNL_MEMORY_NONE))) break;
        ds = weft_dn_make_reorder(p->eng, &plain, q, &s->wr[l], &s->scr_bytes);
    }
    if (ds) goto out;
    const dnnl_memory_desc_t *qb = arg_md(pd, DNNL_ARG_BIAS);
    if (!qb) {
        ds = dnnl_runtime_error;
        goto out;
    }
    const void *bdata = DNNL_MEMORY_NONE;
    if (!has_b) {
        if (!(s->bzero = calloc(1, dnnl_memory_desc_get_size(qb)))) {
            ds = dnnl_out_of_memory;
            goto out;
        }
        bdata = s->bzero;
    } else if (p->bias) {
        bdata = p->bias;
    } else {
        s->b_live = true;
        s->b_off = at;
        at += weft_dn_up64(dnnl_memory_desc_get_size(qb));
    }
    if ((ds = dnnl_memory_create(&s->b, qb, p->eng, (void *)bdata))) goto out;
    /* the scratchpad first, the buffers after it */
    size_t base = weft_dn_up64(s->scr_bytes);
    for (int i = 0; i < IO_N; i++) s->io[i].off += base;
    for (int l = 0; l < 2; l++) {
        s->wp_off[l] += base;
        s->w_off[l] += base;
    }
    s->b_off += base;
    s->total = base + at;
    if (s->scr_bytes) {
        dnnl_memory_desc_t smd;
        dnnl_dims_t sd = {(int64_t)s->scr_bytes};
        if (!(ds = dnnl_memory_desc_init_by_tag(&smd, 1, sd, dnnl_u8, dnnl_a)))
            ds = dnnl_memory_create(&s->m_scr, &smd, p->eng, DNNL_MEMORY_NONE);
    }
    if (!ds) ds = dnnl_primitive_create(&s->prim, pd);
out:
    dnnl_primitive_desc_destroy(pd);
    return ds;
}

weft_status weft_dn_rnn_reshape(const void *prepared, const weft_kernel_ctx *k, void **state)
{
    const rn_prep *p = prepared;
    *state = NULL;
    rn_state *s = calloc(1, sizeof *s);
    if (!s) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    if (p->why || !bind(p, k, &s->g, s->planned)) {
        if (strict()) {
            const char *why = p->why ? p->why : "shapes outside the primitive's form";
            free(s);
            return weft_op_error(k->node, WEFT_ERR_UNSUPPORTED, "oneDNN's RNN primitive does not take %s", why);
        }
        s->fallback = true;
        *state = s;
        return WEFT_OK;
    }
    /* primitives are made for the thread count they will run with: one thread per RN_WORK_PER_THREAD
     * gate values of a time step, at most the session's */
    int64_t work = s->g.N * p->G * s->g.H / RN_WORK_PER_THREAD;
    s->threads = work < 1 ? 1 : work < weft_kthreads(k) ? (int)work : weft_kthreads(k);
    weft_cpu_set_threads(s->threads);
    dnnl_status_t ds = dnnl_stream_create(&s->stream, p->eng, dnnl_stream_default_flags);
    if (!ds) ds = build(p, k, s);
    if (ds) {
        weft_dn_rnn_release_state(s);
        if (strict()) return weft_dn_fail(k->node, ds, "creating the RNN primitive");
        /* oneDNN declines these shapes: the reference kernel */
        if (!(s = calloc(1, sizeof *s))) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        s->fallback = true;
    }
    *state = s;
    return WEFT_OK;
}

/* --- run -------------------------------------------------------------------------------------------- */

static dnnl_status_t exec_reorder(const rn_state *s, dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to)
{
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}, {DNNL_ARG_SCRATCHPAD, s->m_scr}};
    return dnnl_primitive_execute(r, s->stream, s->m_scr ? 3 : 2, a);
}

weft_status weft_dn_rnn_run(const void *prepared, void *state, weft_kernel_ctx *k)
{
    const rn_prep *p = prepared;
    rn_state *s = state;
    if (!s) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "onednn: run before reshape");
    if (s->fallback) return p->def->run(k);
    const rn_geom *g = &s->g;
    /* oneDNN runs every sequence to the end: shorter ones are the reference kernel's */
    if (weft_kin_present(k, IN_SEQ)) {
        const weft_tview *SL = &k->in[IN_SEQ];
        for (int64_t b = 0; b < g->N; b++) {
            int64_t L = weft_load_i64(SL->dtype, SL->data, b);
            if (L == g->T) continue;
            if (strict())
                return weft_op_error(k->node, WEFT_ERR_UNSUPPORTED,
                                     "oneDNN's RNN primitive does not take sequence_lens[%lld] = %lld, shorter than the "
                                     "sequence (%lld)", (long long)b, (long long)L, (long long)g->T);
            return p->def->run(k);
        }
    }
    for (int o = 0; o < 3; o++)
        if ((o < k->n_out && k->out[o].data) != s->planned[o]) return p->def->run(k); /* not what reshape saw */
    weft_cpu_set_threads(s->threads);
    char *scr = NULL;
    if (s->total) {
        scr = k->scratch(k->user, s->total + 64);
        if (!scr) return weft_op_error(k->node, WEFT_ERR_NOMEM, "cannot allocate %zu bytes of scratch", s->total);
        scr += (64 - ((uintptr_t)scr & 63)) & 63;
    }
    dnnl_status_t ds = s->m_scr ? dnnl_memory_set_data_handle(s->m_scr, scr) : dnnl_success;
    for (int i = 0; !ds && i < IO_N; i++) {
        rn_io *io = &s->io[i];
        if (!io->used) continue;
        void *onnx = io->user < 0 ? NULL : io->out ? k->out[io->user].data : k->in[io->user].data;
        void *buf = io->scr ? scr + io->off : onnx;
        ds = dnnl_memory_set_data_handle(io->m, buf);
        if (!ds && io->r) ds = dnnl_memory_set_data_handle(io->rm, buf);
        if (!ds && io->r) ds = dnnl_memory_set_data_handle(io->u, onnx);
        if (io->zero) memset(buf, 0, io->bytes);
    }
    if (ds) return weft_dn_fail(k->node, ds, "binding memory");
    /* run-time weights: permuted into the scratch, then reordered into the primitive's layout */
    for (int l = 0; !ds && l < 2; l++) {
        if (!s->w_live[l]) continue;
        permute_w(p, k->in[IN_W + l].data, (float *)(scr + s->wp_off[l]), g->D, g->H, l ? g->H : g->I);
        ds = dnnl_memory_set_data_handle(s->w[l], scr + s->w_off[l]);
        if (!ds && s->wr[l]) ds = dnnl_memory_set_data_handle(s->wp[l], scr + s->wp_off[l]);
        if (!ds && s->wr[l]) ds = exec_reorder(s, s->wr[l], s->wp[l], s->w[l]);
    }
    if (!ds && s->b_live) {
        fold_bias(p, k->in[IN_B].data, (float *)(scr + s->b_off), g->D, g->H);
        ds = dnnl_memory_set_data_handle(s->b, scr + s->b_off);
    }
    for (int i = 0; !ds && i < IO_N; i++)
        if (s->io[i].r && !s->io[i].out) ds = exec_reorder(s, s->io[i].r, s->io[i].u, s->io[i].rm);
    if (!ds) {
        dnnl_exec_arg_t a[IO_N + 4];
        int na = 0;
        for (int i = 0; i < IO_N; i++)
            if (s->io[i].used) a[na++] = (dnnl_exec_arg_t){s->io[i].arg, s->io[i].m};
        a[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS_LAYER, s->w[0]};
        a[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS_ITER, s->w[1]};
        if (s->b) a[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, s->b};
        if (s->m_scr) a[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, s->m_scr};
        ds = dnnl_primitive_execute(s->prim, s->stream, na, a);
    }
    for (int i = 0; !ds && i < IO_N; i++)
        if (s->io[i].r && s->io[i].out) ds = exec_reorder(s, s->io[i].r, s->io[i].rm, s->io[i].u);
    if (!ds) ds = dnnl_stream_wait(s->stream);
    if (ds) return weft_dn_fail(k->node, ds, "executing the RNN primitive");
    return WEFT_OK;
}
