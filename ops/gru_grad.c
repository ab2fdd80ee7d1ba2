/*
 * ops/gru_grad.c — ai.weft GRUGrad: backpropagation through time for the ONNX GRU (ops/rnn.c).
 *
 * The gradient rule of GRU (ops/rnn.c) emits one GRUGrad reading the GRU's own inputs and the
 * gradients of its outputs, with the GRU's attributes copied. Spelling the recurrence backwards with
 * ONNX ops would need the sequence length at compile time (it is symbolic in exported models) and a
 * Loop or an unrolled chain per step; one kernel does it directly.
 *
 * Inputs   0 X, 1 W, 2 R, 3 B, 4 sequence_lens, 5 initial_h (as GRU's; 3-5 optional),
 *          6 dY (like GRU's Y), 7 dY_h (like Y_h) — each optional: absent means zero.
 * Outputs  0 dX, 1 dW, 2 dR, 3 dB ([dirs, 6H] even when B is absent), 4 dinitial_h (like initial_h);
 *          any may be left unused.
 * Attributes: GRU's direction, hidden_size, layout, linear_before_reset, clip, activations (Sigmoid
 * then Tanh per direction, the defaults: the only ones whose derivative the kernel knows).
 *
 * Per (direction, batch entry) the kernel runs the forward recurrence again keeping every state h_s,
 * then walks the steps backwards. With gate order z, r, h, p_* the pre-activations and dh the gradient
 * reaching the state after a step:
 *     z = s(p_z), r = s(p_r), q = Rh h + Rbh, n = tanh(p_n), h' = (1 - z) n + z h
 *     p_n = Wh x + Wbh + r q                           (linear_before_reset = 1)
 *     p_n = Wh x + Wbh + Rh (r h) + Rbh                (linear_before_reset = 0)
 *     da_n = dh (1 - z) (1 - n^2), da_z = dh (h - n) z (1 - z), dh_prev = dh z + R^T da, ...
 * A clipped pre-activation passes no gradient where the clip cut it. Steps past a batch entry's
 * sequence length are not run forwards, so nothing flows back through them; a length of 0 makes Y_h
 * zero, so initial_h gets no gradient there either. Sums are in double whatever T is.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "op.h"
#include "rnn_geom.h"

enum { GG_X, GG_W, GG_R, GG_B, GG_SEQ, GG_H0, GG_DY, GG_DYH };
enum { GG_DX, GG_DW, GG_DR, GG_DB, GG_DH0 };

typedef struct {
    int dirs;
    bool reverse;
    int layout;
    int64_t hidden; /* -1: R's last dimension */
    bool has_clip;
    double clip;
    int lbr;
} gg_attrs;

static weft_status gg_read_attrs(const weft_node_info *n, gg_attrs *a)
{
    memset(a, 0, sizeof *a);
    const char *dir = weft_attr_string(n, "direction", "forward");
    if (strcmp(dir, "forward") == 0) a->dirs = 1;
    else if (strcmp(dir, "reverse") == 0) { a->dirs = 1; a->reverse = true; }
    else if (strcmp(dir, "bidirectional") == 0) a->dirs = 2;
    else return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'direction' is '%s'", dir);
    int64_t layout = weft_attr_int(n, "layout", 0), lbr = weft_attr_int(n, "linear_before_reset", 0);
    if ((layout != 0 && layout != 1) || (lbr != 0 && lbr != 1))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attributes 'layout' and 'linear_before_reset' must be 0 or 1");
    a->layout = (int)layout;
    a->lbr = (int)lbr;
    a->hidden = weft_attr_int(n, "hidden_size", -1);
    if (a->hidden == 0 || a->hidden < -1 || a->hidden > ((int64_t)1 << 40))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'hidden_size' is %lld", (long long)a->hidden);
    if (weft_attr_find(n, "clip")) {
        a->has_clip = true;
        a->clip = weft_attr_float(n, "clip", 0);
        if (!(a->clip >= 0)) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'clip' is %g", a->clip);
    }
    const weft_attr *acts = weft_attr_find(n, "activations");
    if (acts) {
        if (acts->type != WEFT_ATTR_STRINGS || acts->n != 2 * a->dirs)
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'activations' must hold 2 names per direction");
        for (int i = 0; i < acts->n; i++) {
            const char *want = i % 2 ? "Tanh" : "Sigmoid", *got = acts->strings[i] ? acts->strings[i] : "";
            if (strcasecmp(got, want) != 0)
                return weft_op_error(n, WEFT_ERR_UNSUPPORTED,
                                     "activation '%s' (entry %d): the gradient is known for Sigmoid, Tanh only", got, i);
        }
    }
    return WEFT_OK;
}

/* --- inference ----------------------------------------------------------------------------------- */

static weft_status gg_infer(weft_infer_ctx *c)
{
    gg_attrs a;
    weft_status st = gg_read_attrs(c->node, &a);
    if (st) return st;
    for (int i = 0; i < 3; i++)
        if (!weft_in_present(c, i))
            return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "input %d (X, W, R) is required", i);
    weft_dtype t = c->in_dtype[GG_X];
    if (t != WEFT_FLOAT32 && t != WEFT_FLOAT64)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input X: dtype %s is not supported (float, double)",
                             weft_dtype_name(t));
    for (int i = 1; i < c->n_in; i++) {
        if (!weft_in_present(c, i)) continue;
        if (i == GG_SEQ) {
            if ((st = weft_infer_need_index(c, i, "sequence_lens"))) return st;
        } else if (c->in_dtype[i] != t) {
            return weft_op_error(c->node, WEFT_ERR_TYPE, "input %d: dtype %s differs from X's %s", i,
                                 weft_dtype_name(c->in_dtype[i]), weft_dtype_name(t));
        }
    }
    const weft_shape *xs = &c->in_shape[GG_X], *ws = &c->in_shape[GG_W], *rs = &c->in_shape[GG_R];
    if ((xs->rank >= 0 && xs->rank != 3) || (ws->rank >= 0 && ws->rank != 3) || (rs->rank >= 0 && rs->rank != 3))
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "X, W and R must have rank 3");
    int64_t H = a.hidden;
    if (H < 0) {
        if (rs->rank != 3 || !weft_dim_known(rs->d[2]))
            return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL,
                                 "attribute 'hidden_size' is missing and R's last dimension is not a known size");
        H = rs->d[2].v;
    }
    weft_dim batch = xs->rank == 3 ? xs->d[a.layout ? 0 : 1] : weft_dim_unknown(c);
    for (int o = 0; o < c->n_out; o++) {
        c->out_dtype[o] = t;
        weft_shape *s = &c->out_shape[o];
        switch (o) {
        case GG_DX: *s = *xs; break;
        case GG_DW: *s = *ws; break;
        case GG_DR: *s = *rs; break;
        case GG_DB: *s = (weft_shape){2, {weft_dim_num(a.dirs), weft_dim_num(6 * H)}}; break;
        default:
            s->rank = 3;
            s->d[a.layout ? 1 : 0] = weft_dim_num(a.dirs);
            s->d[a.layout ? 0 : 1] = batch;
            s->d[2] = weft_dim_num(H);
        }
    }
    return WEFT_OK;
}

/* --- kernel -------------------------------------------------------------------------------------- */

/* The clip's derivative: 1 inside the range, 0 where it cut. */
static double gg_pass(const gg_attrs *a, double v) { return !a->has_clip || (v >= -a->clip && v <= a->clip) ? 1.0 : 0.0; }
static double gg_sigmoid(double x)
{
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* One step's gate values from x_t and the state h. Fills pz, pr (pre-activations), z, r, q (Rh h + Rbh
 * for linear_before_reset, else r h), pn and n, each [H]. */
#define GG_STEP(T)                                                                                           \
    for (int64_t q_ = 0; q_ < 2 * H; q_++) {                                                                 \
        double acc = wb ? (double)wb[q_] + (double)rb[q_] : 0.0;                                             \
        const T *wq = wd + q_ * g.input, *rq = rd + q_ * H;                                                  \
        for (int64_t i = 0; i < g.input; i++) acc += (double)wq[i] * (double)xt[i];                          \
        for (int64_t i = 0; i < H; i++) acc += (double)rq[i] * h[i];                                         \
        (q_ < H ? pz : pr - H)[q_] = acc;                                                                    \
    }                                                                                                        \
    for (int64_t j = 0; j < H; j++) {                                                                        \
        z[j] = gg_sigmoid(weft_rnn_clip(a.has_clip, a.clip, pz[j]));                                                               \
        r[j] = gg_sigmoid(weft_rnn_clip(a.has_clip, a.clip, pr[j]));                                                               \
    }                                                                                                        \
    if (!a.lbr)                                                                                              \
        for (int64_t i = 0; i < H; i++) q[i] = r[i] * h[i];                                                  \
    for (int64_t j = 0; j < H; j++) {                                                                        \
        double acc = wb ? (double)wb[2 * H + j] : 0.0, rec = rb ? (double)rb[2 * H + j] : 0.0;               \
        const T *wq = wd + (2 * H + j) * g.input, *rq = rd + (2 * H + j) * H;                                \
        for (int64_t i = 0; i < g.input; i++) acc += (double)wq[i] * (double)xt[i];                          \
        for (int64_t i = 0; i < H; i++) rec += (double)rq[i] * (a.lbr ? h[i] : q[i]);                        \
        if (a.lbr) { qh[j] = rec; acc += r[j] * rec; }                                                       \
        else acc += rec;                                                                                     \
        pn[j] = acc;                                                                                         \
        n[j] = tanh(weft_rnn_clip(a.has_clip, a.clip, acc));                                                                       \
    }

static weft_status gg_run(weft_kernel_ctx *k)
{
    gg_attrs a;
    weft_status st = gg_read_attrs(k->node, &a);
    if (st) return st;
    const weft_tview *X = &k->in[GG_X], *W = &k->in[GG_W], *R = &k->in[GG_R];
    if (X->rank != 3 || W->rank != 3 || R->rank != 3)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "X, W and R must have rank 3");
    weft_rnn_geom g = weft_rnn_geom_of(X, R, a.layout, a.hidden, a.dirs);
    const int64_t H = g.H;
    if (W->dims[0] != g.dirs || W->dims[1] != 3 * H || W->dims[2] != g.input || R->dims[0] != g.dirs ||
        R->dims[1] != 3 * H || R->dims[2] != H)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "W or R does not match X, the direction and hidden_size");
    int64_t state_n = g.dirs * g.batch * H, y_n = state_n * g.seq;
    const weft_tview *B = weft_kin_present(k, GG_B) ? &k->in[GG_B] : NULL;
    const weft_tview *SL = weft_kin_present(k, GG_SEQ) ? &k->in[GG_SEQ] : NULL;
    const weft_tview *H0 = weft_kin_present(k, GG_H0) ? &k->in[GG_H0] : NULL;
    const weft_tview *DY = weft_kin_present(k, GG_DY) ? &k->in[GG_DY] : NULL;
    const weft_tview *DYH = weft_kin_present(k, GG_DYH) ? &k->in[GG_DYH] : NULL;
    if ((B && B->numel != g.dirs * 6 * H) || (SL && SL->numel != g.batch) || (H0 && H0->numel != state_n) ||
        (DY && DY->numel != y_n) || (DYH && DYH->numel != state_n))
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "an optional input's size does not match X and hidden_size");
    for (int i = GG_W; i < k->n_in; i++)
        if (i != GG_SEQ && weft_kin_present(k, i) && k->in[i].dtype != X->dtype)
            return weft_op_error(k->node, WEFT_ERR_TYPE, "input %d's dtype differs from X's", i);
    if (SL)
        for (int64_t b = 0; b < g.batch; b++) {
            int64_t L = weft_load_i64(SL->dtype, SL->data, b);
            if (L < 0 || L > g.seq)
                return weft_op_error(k->node, WEFT_ERR_INDEX, "sequence_lens[%lld] is %lld; expected 0..%lld",
                                     (long long)b, (long long)L, (long long)g.seq);
        }
    weft_tview *out[5] = {0};
    for (int o = 0; o < k->n_out && o < 5; o++) out[o] = k->out[o].data ? &k->out[o] : NULL;
    const int64_t want_n[5] = {X->numel, W->numel, R->numel, g.dirs * 6 * H, state_n};
    for (int o = 0; o < 5; o++)
        if (out[o] && out[o]->numel != want_n[o])
            return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output buffers do not match the inferred shapes");

    /* Scratch (double): the parameter gradients of one direction [3H*input + 3H*H + 6H], the states
     * h_0..h_seq [(seq+1) H], eleven [H] rows and one [input] row for one step. */
    int64_t n_par = 3 * H * g.input + 3 * H * H + 6 * H, n_db;
    if (__builtin_add_overflow(n_par, (g.seq + 1) * H + 11 * H + g.input, &n_db) ||
        (uint64_t)n_db > SIZE_MAX / sizeof(double))
        return weft_op_error(k->node, WEFT_ERR_NOMEM, "GRU too large for the gradient's scratch");
    double *dpar = k->scratch(k->user, (size_t)(n_db ? n_db : 1) * sizeof(double));
    if (!dpar) return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of memory");
    double *dw = dpar, *dr = dw + 3 * H * g.input, *dbw = dr + 3 * H * H, *dbr = dbw + 3 * H;
    double *hist = dpar + n_par, *pz = hist + (g.seq + 1) * H, *pr = pz + H, *z = pr + H, *r = z + H;
    double *q = r + H, *qh = q + H, *pn = qh + H, *n = pn + H, *dh = n + H, *dprev = dh + H, *az = dprev + H;
    double *dxs = az + H;

    if (out[GG_DX]) memset(out[GG_DX]->data, 0, (size_t)X->numel * weft_dtype_size(X->dtype));

#define WEFT_BODY(T)                                                                                         \
    {                                                                                                        \
        const T *x = X->data, *w = W->data, *rr = R->data;                                                   \
        const T *bias = B ? (const T *)B->data : NULL, *h0 = H0 ? (const T *)H0->data : NULL;                \
        const T *dy = DY ? (const T *)DY->data : NULL, *dyh = DYH ? (const T *)DYH->data : NULL;             \
        T *dx = out[GG_DX] ? (T *)out[GG_DX]->data : NULL;                                                   \
        for (int64_t d = 0; d < g.dirs; d++) {                                                               \
            bool rev = a.reverse || d == 1;                                                                  \
            const T *wd = w + d * 3 * H * g.input, *rd = rr + d * 3 * H * H;                                 \
            const T *wb = bias ? bias + d * 6 * H : NULL, *rb = wb ? wb + 3 * H : NULL;                      \
            memset(dpar, 0, (size_t)n_par * sizeof(double));                                                \
            for (int64_t b = 0; b < g.batch; b++) {                                                          \
                int64_t L = SL ? weft_load_i64(SL->dtype, SL->data, b) : g.seq;                              \
                int64_t so = weft_rnn_state_off(&g, d, b);                                                         \
                for (int64_t j = 0; j < H; j++) hist[j] = h0 ? (double)h0[so + j] : 0.0;                     \
                for (int64_t s = 0; s < L; s++) { /* forward again, keeping the states */                    \
                    int64_t t = rev ? L - 1 - s : s;                                                         \
                    const T *xt = x + weft_rnn_x_off(&g, t, b);                                                    \
                    const double *h = hist + s * H;                                                          \
                    GG_STEP(T)                                                                               \
                    for (int64_t j = 0; j < H; j++) hist[(s + 1) * H + j] = (1.0 - z[j]) * n[j] + z[j] * h[j]; \
                }                                                                                            \
                for (int64_t j = 0; j < H; j++) dh[j] = dyh && L > 0 ? (double)dyh[so + j] : 0.0;            \
                for (int64_t s = L - 1; s >= 0; s--) {                                                       \
                    int64_t t = rev ? L - 1 - s : s;                                                         \
                    const T *xt = x + weft_rnn_x_off(&g, t, b);                                                    \
                    const double *h = hist + s * H;                                                          \
                    if (dy) {                                                                                \
                        const T *dyt = dy + weft_rnn_y_off(&g, t, d, b);                                           \
                        for (int64_t j = 0; j < H; j++) dh[j] += (double)dyt[j];                             \
                    }                                                                                        \
                    GG_STEP(T)                                                                               \
                    /* the candidate row block: an = d loss / d p_n */                                       \
                    for (int64_t j = 0; j < H; j++) {                                                        \
                        dprev[j] = dh[j] * z[j];                                                             \
                        az[j] = dh[j] * (h[j] - n[j]) * z[j] * (1.0 - z[j]) * gg_pass(&a, pz[j]);            \
                        pn[j] = dh[j] * (1.0 - z[j]) * (1.0 - n[j] * n[j]) * gg_pass(&a, pn[j]);             \
                    }                                                                                        \
                    /* the r gate's gradient, into pr; the Rh row block's into dr, dbr */                    \
                    const T *rh = rd + 2 * H * H;                                                            \
                    double *drh = dr + 2 * H * H;                                                            \
                    if (a.lbr) {                                                                             \
                        for (int64_t j = 0; j < H; j++) {                                                    \
                            double dq = pn[j] * r[j];                                                        \
                            double grr = pn[j] * qh[j] * r[j] * (1.0 - r[j]) * gg_pass(&a, pr[j]);           \
                            pr[j] = grr;                                                                     \
                            dbr[2 * H + j] += dq;                                                            \
                            for (int64_t i = 0; i < H; i++) {                                                \
                                drh[j * H + i] += dq * h[i];                                                 \
                                dprev[i] += (double)rh[j * H + i] * dq;                                      \
                            }                                                                                \
                        }                                                                                    \
                    } else {                                                                                 \
                        for (int64_t i = 0; i < H; i++) qh[i] = 0.0; /* d loss / d (r h) */                  \
                        for (int64_t j = 0; j < H; j++) {                                                    \
                            dbr[2 * H + j] += pn[j];                                                         \
                            for (int64_t i = 0; i < H; i++) {                                                \
                                drh[j * H + i] += pn[j] * q[i];                                              \
                                qh[i] += (double)rh[j * H + i] * pn[j];                                      \
                            }                                                                                \
                        }                                                                                    \
                        for (int64_t i = 0; i < H; i++) {                                                    \
                            dprev[i] += qh[i] * r[i];                                                        \
                            pr[i] = qh[i] * h[i] * r[i] * (1.0 - r[i]) * gg_pass(&a, pr[i]);                 \
                        }                                                                                    \
                    }                                                                                        \
                    /* every row block's input side: gate g's gradient ga (az, pr, pn) */                    \
                    for (int64_t i = 0; i < g.input; i++) dxs[i] = 0.0;                                      \
                    for (int64_t q_ = 0; q_ < 3 * H; q_++) {                                                 \
                        double ga = q_ < H ? az[q_] : q_ < 2 * H ? pr[q_ - H] : pn[q_ - 2 * H];              \
                        if (ga == 0.0) continue;                                                             \
                        const T *wq = wd + q_ * g.input;                                                     \
                        double *dwq = dw + q_ * g.input;                                                     \
                        dbw[q_] += ga;                                                                       \
                        for (int64_t i = 0; i < g.input; i++) dwq[i] += ga * (double)xt[i];                  \
                        for (int64_t i = 0; i < g.input; i++) dxs[i] += ga * (double)wq[i];                  \
                        if (q_ < 2 * H) { /* z and r read h through R */                                     \
                            const T *rq = rd + q_ * H;                                                       \
                            double *drq = dr + q_ * H;                                                       \
                            dbr[q_] += ga;                                                                   \
                            for (int64_t i = 0; i < H; i++) {                                                \
                                drq[i] += ga * h[i];                                                         \
                                dprev[i] += ga * (double)rq[i];                                              \
                            }                                                                                \
                        }                                                                                    \
                    }                                                                                        \
                    if (dx) { /* the other direction adds to the same x_t */                                 \
                        T *dxt = dx + weft_rnn_x_off(&g, t, b);                                                    \
                        for (int64_t i = 0; i < g.input; i++) dxt[i] = (T)((double)dxt[i] + dxs[i]);         \
                    }                                                                                        \
                    for (int64_t j = 0; j < H; j++) dh[j] = dprev[j];                                        \
                }                                                                                            \
                if (out[GG_DH0]) {                                                                           \
                    T *o = (T *)out[GG_DH0]->data + so;                                                      \
                    for (int64_t j = 0; j < H; j++) o[j] = (T)(L > 0 ? dh[j] : 0.0);                         \
                }                                                                                            \
            }                                                                                                \
            if (out[GG_DW]) {                                                                                \
                T *o = (T *)out[GG_DW]->data + d * 3 * H * g.input;                                          \
                for (int64_t i = 0; i < 3 * H * g.input; i++) o[i] = (T)dw[i];                               \
            }                                                                                                \
            if (out[GG_DR]) {                                                                                \
                T *o = (T *)out[GG_DR]->data + d * 3 * H * H;                                                \
                for (int64_t i = 0; i < 3 * H * H; i++) o[i] = (T)dr[i];                                     \
            }                                                                                                \
            if (out[GG_DB]) {                                                                                \
                T *o = (T *)out[GG_DB]->data + d * 6 * H;                                                    \
                for (int64_t i = 0; i < 6 * H; i++) o[i] = (T)dbw[i];                                        \
            }                                                                                                \
        }                                                                                                    \
    }
    WEFT_DISPATCH(X->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}
#undef GG_STEP

const weft_op_def weft_ops_gru_grad[] = {
    {"GRUGrad", "ai.weft", 1, 0, 3, 8, 1, 5, 0, gg_infer, gg_run},
};
const int weft_ops_gru_grad_count = sizeof weft_ops_gru_grad / sizeof weft_ops_gru_grad[0];
