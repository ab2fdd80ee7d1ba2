/*
 * ops/conv.c — Conv and ConvTranspose over any number of spatial axes, with group, strides, dilations,
 * explicit pads or auto_pad, and (ConvTranspose) output_padding / output_shape.
 *
 * Both kernels are direct: each output element sums its taps in double (no im2col buffer, so no scratch).
 * ConvTranspose is written as the gather it is equivalent to: output position o of axis a receives input
 * position i through tap t when i * stride + t * dilation - pad_begin == o. Half-precision tensors are
 * widened around the kernel (ops/widen.c).
 */
#include <string.h>

#include "op.h"
#include "window.h"
#include "window_transpose.h"

/* Spatial geometry of one node for input spatial dims `in` and kernel dims `kd` (all known). */
typedef struct {
    win_geom w;
    int64_t in[WEFT_MAX_RANK], out[WEFT_MAX_RANK], pb[WEFT_MAX_RANK];
} conv_plan;

/* `tr`, here and below: the op is ConvTranspose, told by the op's own wrappers at the end (no lookup of
 * its type name). */
static weft_status conv_axis(const weft_node_info *n, bool tr, const win_geom *w, int i, int64_t in, int64_t *out,
                             int64_t *pb)
{
    if (tr) return win_transpose_axis(n, w, i, in, out, pb);
    int64_t pe;
    return win_axis(n, w, i, in, out, pb, &pe);
}

static weft_status conv_infer(weft_infer_ctx *c, bool tr)
{
    const weft_node_info *n = c->node;
    weft_dtype dt = c->in_dtype[0];
    if (!weft_dtype_is_float(dt))
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported (floats only)",
                             weft_dtype_name(dt));
    for (int i = 1; i < 3; i++)
        if (weft_in_present(c, i) && c->in_dtype[i] != dt)
            return weft_op_error(n, WEFT_ERR_TYPE, "input %d is %s but input 0 is %s", i,
                                 weft_dtype_name(c->in_dtype[i]), weft_dtype_name(dt));
    c->out_dtype[0] = dt;
    const weft_shape *x = &c->in_shape[0], *w = &c->in_shape[1];
    int64_t group = weft_attr_int(n, "group", 1);
    if (group < 1) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "group = %lld must be >= 1", (long long)group);
    int rank = x->rank >= 0 ? x->rank : w->rank;
    if (rank < 0) { c->out_shape[0].rank = -1; return WEFT_OK; }
    if (x->rank >= 0 && w->rank >= 0 && x->rank != w->rank)
        return weft_op_error(n, WEFT_ERR_SHAPE, "input has rank %d but the weights have rank %d", x->rank, w->rank);
    int nsp = rank - 2;
    int64_t kd[WEFT_MAX_RANK] = {0};
    for (int i = 0; i < nsp && i < WEFT_MAX_RANK; i++)
        kd[i] = w->rank >= 0 && weft_dim_known(w->d[i + 2]) ? w->d[i + 2].v : -1;
    win_geom g;
    weft_status st = win_read(n, nsp, kd, false, &g);
    if (st) return st;
    for (int i = 0; i < nsp; i++)
        if (g.k[i] < 0) {
            /* Unknown weight dims: kernel_shape, when given, says. */
            const int64_t *ks;
            if (weft_attr_ints(n, "kernel_shape", &ks) == nsp) g.k[i] = ks[i];
        }
    /* Channels: Conv W is [M, C/group, k...]; ConvTranspose W is [C, M/group, k...]. */
    weft_dim cin = x->rank >= 0 ? x->d[1] : weft_dim_unknown(c);
    if (w->rank >= 0 && weft_dim_known(cin)) {
        weft_dim wc = tr ? w->d[0] : w->d[1];
        int64_t want = tr ? cin.v : cin.v / group;
        if (cin.v % group != 0)
            return weft_op_error(n, WEFT_ERR_SHAPE, "%lld input channels are not divisible by group %lld",
                                 (long long)cin.v, (long long)group);
        if (weft_dim_known(wc) && wc.v != want)
            return weft_op_error(n, WEFT_ERR_SHAPE, "the weights have %lld input channels, want %lld",
                                 (long long)wc.v, (long long)want);
    }
    weft_dim m = weft_dim_unknown(c);
    if (w->rank >= 0) {
        if (!tr) m = w->d[0];
        else if (weft_dim_known(w->d[1])) m = weft_dim_num(w->d[1].v * group);
        if (!tr && weft_dim_known(m) && m.v % group != 0)
            return weft_op_error(n, WEFT_ERR_SHAPE, "%lld output channels are not divisible by group %lld",
                                 (long long)m.v, (long long)group);
    }
    if (weft_in_present(c, 2) && c->in_shape[2].rank >= 0) {
        const weft_shape *b = &c->in_shape[2];
        if (b->rank != 1 || (weft_dim_known(b->d[0]) && weft_dim_known(m) && b->d[0].v != m.v))
            return weft_op_error(n, WEFT_ERR_SHAPE, "the bias must be a vector of one value per output channel");
    }
    weft_shape *y = &c->out_shape[0];
    y->rank = rank;
    y->d[0] = x->rank >= 0 ? x->d[0] : weft_dim_unknown(c);
    y->d[1] = m;
    for (int i = 0; i < nsp; i++) {
        if (x->rank < 0 || !weft_dim_known(x->d[i + 2]) || g.k[i] < 0) { y->d[i + 2] = weft_dim_unknown(c); continue; }
        int64_t o, pb;
        if ((st = conv_axis(n, tr, &g, i, x->d[i + 2].v, &o, &pb))) return st;
        y->d[i + 2] = weft_dim_num(o);
    }
    return WEFT_OK;
}

static void next_index(int64_t *idx, const int64_t *dims, int n)
{
    for (int a = n - 1; a >= 0; a--) {
        if (++idx[a] < dims[a]) return;
        idx[a] = 0;
    }
}

/*
 * Conv: y[n, m, o] = b[m] + sum over c in m's group and taps t of x[n, c, o*s - pb + t*d] * w[m, c', t].
 * ConvTranspose: y[n, m, o] = b[m] + sum over c in m's group, taps t and inputs i with
 * i*s + t*d - pb == o of x[n, c, i] * w[c, m', t].
 */
#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data, *wt = k->in[1].data;                                              \
        const T *b = bias ? bias->data : NULL;                                                        \
        T *y = k->out[0].data;                                                                        \
        for (int64_t bn = 0; bn < N; bn++)                                                            \
            for (int64_t mo = 0; mo < M; mo++) {                                                      \
                int64_t g = mo / Mg, mg = mo % Mg;                                                    \
                T *yp = y + (bn * M + mo) * out_plane;                                                \
                int64_t oi[WEFT_MAX_RANK] = {0};                                                      \
                for (int64_t o = 0; o < out_plane; o++, next_index(oi, P.out, nsp)) {                 \
                    double acc = b ? (double)b[mo] : 0.0;                                             \
                    for (int64_t cg = 0; cg < Cg; cg++) {                                             \
                        int64_t ci = g * Cg + cg;                                                     \
                        const T *xp = x + (bn * C + ci) * in_plane;                                   \
                        const T *wp = tr ? wt + (ci * Mg + mg) * taps : wt + (mo * Cg + cg) * taps;   \
                        int64_t ki[WEFT_MAX_RANK] = {0};                                              \
                        for (int64_t t = 0; t < taps; t++, next_index(ki, P.w.k, nsp)) {              \
                            int64_t off = 0;                                                          \
                            bool ok = true;                                                           \
                            for (int a = 0; a < nsp && ok; a++) {                                     \
                                int64_t pos;                                                          \
                                if (!tr) pos = oi[a] * P.w.s[a] - P.pb[a] + ki[a] * P.w.d[a];         \
                                else {                                                                \
                                    int64_t q = oi[a] + P.pb[a] - ki[a] * P.w.d[a];                   \
                                    if (q < 0 || q % P.w.s[a]) { ok = false; break; }                 \
                                    pos = q / P.w.s[a];                                               \
                                }                                                                     \
                                if (pos < 0 || pos >= P.in[a]) ok = false;                            \
                                off = off * P.in[a] + pos;                                            \
                            }                                                                         \
                            if (ok) acc += (double)xp[off] * (double)wp[t];                           \
                        }                                                                             \
                    }                                                                                 \
                    yp[o] = (T)acc;                                                                   \
                }                                                                                     \
            }                                                                                         \
    }

static weft_status conv_body(weft_kernel_ctx *k, bool tr)
{
    const weft_node_info *n = k->node;
    const weft_tview *xv = &k->in[0], *wv = &k->in[1];
    const weft_tview *bias = weft_kin_present(k, 2) ? &k->in[2] : NULL;
    int nsp = xv->rank - 2;
    conv_plan P;
    memset(&P, 0, sizeof P);
    weft_status st = win_read(n, nsp, wv->dims + 2, false, &P.w);
    if (st) return st;
    int64_t group = weft_attr_int(n, "group", 1);
    int64_t N = xv->dims[0], C = xv->dims[1];
    int64_t M = k->out[0].dims[1];
    int64_t Cg = C / group, Mg = M / group;
    int64_t in_plane = 1, out_plane = 1, taps = 1;
    for (int i = 0; i < nsp; i++) {
        P.in[i] = xv->dims[i + 2];
        if ((st = conv_axis(n, tr, &P.w, i, P.in[i], &P.out[i], &P.pb[i]))) return st;
        in_plane *= P.in[i];
        out_plane *= P.out[i];
        taps *= P.w.k[i];
    }
    if (N == 0 || M == 0 || out_plane == 0) return WEFT_OK;
    WEFT_DISPATCH(xv->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

#define CONV_OP(fn, TR)                                                                               \
    static weft_status infer_##fn(weft_infer_ctx *c) { return conv_infer(c, TR); }                    \
    static weft_status body_##fn(weft_kernel_ctx *k, void *scratch)                                   \
    {                                                                                                 \
        (void)scratch;                                                                                \
        return conv_body(k, TR);                                                                      \
    }                                                                                                 \
    static weft_status run_##fn(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, body_##fn); }
CONV_OP(conv, false)
CONV_OP(convtranspose, true)
#undef CONV_OP

const weft_op_def weft_ops_conv[] = {
    {"Conv", "", 1, 0, 2, 3, 1, 1, 0, infer_conv, run_conv},
    {"ConvTranspose", "", 1, 0, 2, 3, 1, 1, 0, infer_convtranspose, run_convtranspose},
};
const int weft_ops_conv_count = sizeof weft_ops_conv / sizeof weft_ops_conv[0];
