/*
 * ops/grid_sample.c — GridSample: an input sampled at normalised grid coordinates (nearest, linear,
 * cubic; zeros, border or reflection padding; 2-D and volumetric), accumulated in double. Half
 * precision is computed in float32 (ops/widen.c).
 */
#include <math.h>
#include <string.h>

#include "op.h"

/*
 * X [N, C, D1..Dk], grid [N, O1..Ok, k] of normalised coordinates in [-1, 1] (the last component indexes
 * the last axis) -> Y [N, C, O1..Ok]. A coordinate g maps to (g + 1) / 2 * (d - 1) with align_corners,
 * else ((g + 1) * d - 1) / 2 (rounded to float, as the spec's reference does). nearest rounds half to
 * even; linear and cubic (Keys, a = -0.75) take 2 or 4 taps per axis. A coordinate outside the border
 * ([0, d-1] with align_corners, else [-0.5, d-0.5]) is clamped (border) or reflected (reflection); taps
 * outside the input then read 0 (zeros), the edge (border) or their reflection.
 */
enum { GS_NEAREST, GS_LINEAR, GS_CUBIC };
enum { GP_ZEROS, GP_BORDER, GP_REFLECTION };

static weft_status gs_attrs(const weft_node_info *n, int *mode, int *pad)
{
    const char *m = weft_attr_string(n, "mode", n->opset >= 20 ? "linear" : "bilinear");
    if (strcmp(m, "nearest") == 0) *mode = GS_NEAREST;
    else if (strcmp(m, "linear") == 0 || strcmp(m, "bilinear") == 0) *mode = GS_LINEAR;
    else if (strcmp(m, "cubic") == 0 || strcmp(m, "bicubic") == 0) *mode = GS_CUBIC;
    else return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "mode '%s' is not nearest, linear or cubic", m);
    const char *p = weft_attr_string(n, "padding_mode", "zeros");
    if (strcmp(p, "zeros") == 0) *pad = GP_ZEROS;
    else if (strcmp(p, "border") == 0) *pad = GP_BORDER;
    else if (strcmp(p, "reflection") == 0) *pad = GP_REFLECTION;
    else return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "padding_mode '%s' is not zeros, border or reflection", p);
    return WEFT_OK;
}

static weft_status gs_infer(weft_infer_ctx *c)
{
    int mode, pad;
    weft_status st = gs_attrs(c->node, &mode, &pad);
    if (st) return st;
    if ((st = weft_infer_need_float(c, 0)) || (st = weft_infer_need_float(c, 1))) return st;
    const weft_shape *x = &c->in_shape[0], *g = &c->in_shape[1];
    c->out_dtype[0] = c->in_dtype[0];
    if (x->rank < 0 || g->rank < 0) { c->out_shape[0].rank = x->rank >= 0 ? x->rank : g->rank; for (int d = 0; d < c->out_shape[0].rank; d++) c->out_shape[0].d[d] = weft_dim_unknown(c); return WEFT_OK; }
    if (x->rank < 3 || g->rank != x->rank)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "X must be [N, C, spatial...] and grid [N, spatial..., k] of the same rank");
    if (weft_dim_known(g->d[g->rank - 1]) && g->d[g->rank - 1].v != x->rank - 2)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "grid's last dim must be %d", x->rank - 2);
    if (weft_dim_known(x->d[0]) && weft_dim_known(g->d[0]) && x->d[0].v != g->d[0].v)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "X and grid disagree on the batch");
    weft_shape *y = &c->out_shape[0];
    y->rank = x->rank;
    y->d[0] = x->d[0];
    y->d[1] = x->d[1];
    for (int d = 2; d < x->rank; d++) y->d[d] = g->d[d - 1];
    return WEFT_OK;
}

static double gs_reflect(double x, double lo, double hi)
{
    double rng = hi - lo;
    if (rng <= 0) return lo;
    if (x < lo) {
        double dx = lo - x;
        int64_t k = (int64_t)(dx / rng);
        double r = dx - (double)k * rng;
        return k % 2 == 0 ? lo + r : hi - r;
    }
    if (x > hi) {
        double dx = x - hi;
        int64_t k = (int64_t)(dx / rng);
        double r = dx - (double)k * rng;
        return k % 2 == 0 ? hi - r : lo + r;
    }
    return x;
}

static void gs_cubic(double t, double *w)
{
    const double A = -0.75;
    double a = t + 1, b = t, c = 1 - t, d = 2 - t;
    w[0] = ((A * a - 5 * A) * a + 8 * A) * a - 4 * A;
    w[1] = ((A + 2) * b - (A + 3)) * b * b + 1;
    w[2] = ((A + 2) * c - (A + 3)) * c * c + 1;
    w[3] = ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
}

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data, *gr = k->in[1].data;                                              \
        T *y = k->out[0].data;                                                                        \
        for (int64_t b = 0; b < N; b++)                                                               \
            for (int64_t o = 0; o < out_plane; o++) {                                                 \
                const T *gp = gr + (b * out_plane + o) * nsp;                                         \
                /* Per axis: first tap, tap count, weights. */                                        \
                int64_t first[WEFT_MAX_RANK], ntap[WEFT_MAX_RANK];                                    \
                double w[WEFT_MAX_RANK][4];                                                           \
                for (int a = 0; a < nsp; a++) {                                                       \
                    double dim = (double)in[a], g = (double)gp[nsp - 1 - a];                          \
                    double v = (float)(align ? (g + 1) / 2 * (dim - 1) : ((g + 1) * dim - 1) / 2);    \
                    double lo = align ? 0 : -0.5, hi = align ? dim - 1 : dim - 0.5;                   \
                    /* NaN / inf count as outside; |v| <= 1e15 keeps gs_reflect's period count and    \
                     * the tap indices below within int64 (float coordinates that large have no      \
                     * fraction left anyway). */                                                     \
                    if (!isfinite(v)) v = lo - 4;                                                     \
                    else if (v < -1e15) v = -1e15;                                                    \
                    else if (v > 1e15) v = 1e15;                                                      \
                    if (mode == GS_NEAREST) v = nearbyint(v);                                         \
                    if (v < lo || v > hi) {                                                           \
                        if (pad == GP_BORDER) v = v < 0 ? 0 : v > dim - 1 ? dim - 1 : v;              \
                        else if (pad == GP_REFLECTION) v = gs_reflect(v, lo, hi);                     \
                    }                                                                                 \
                    /* Zeros padding: a few pixels out reads nothing, as does any farther. */         \
                    if (v < lo - 4) v = lo - 4;                                                       \
                    else if (v > hi + 4) v = hi + 4;                                                  \
                    if (mode == GS_NEAREST) {                                                         \
                        first[a] = (int64_t)v; ntap[a] = 1; w[a][0] = 1;                              \
                    } else {                                                                          \
                        double f = floor(v), t = v - f;                                               \
                        if (mode == GS_LINEAR) { first[a] = (int64_t)f; ntap[a] = 2; w[a][0] = 1 - t; w[a][1] = t; } \
                        else { first[a] = (int64_t)f - 1; ntap[a] = 4; gs_cubic(t, w[a]); }           \
                    }                                                                                 \
                }                                                                                     \
                int64_t ntaps = 1;                                                                    \
                for (int a = 0; a < nsp; a++) ntaps *= ntap[a];                                       \
                for (int64_t ch = 0; ch < C; ch++) {                                                  \
                    const T *xp = x + (b * C + ch) * in_plane;                                        \
                    double acc = 0;                                                                   \
                    int64_t ti[WEFT_MAX_RANK] = {0};                                                  \
                    for (int64_t t = 0; t < ntaps; t++) {                                             \
                        double wt = 1;                                                                \
                        int64_t off = 0;                                                              \
                        bool zero = false;                                                            \
                        for (int a = 0; a < nsp; a++) {                                               \
                            int64_t i = first[a] + ti[a];                                             \
                            wt *= w[a][ti[a]];                                                        \
                            if (i < 0 || i >= in[a]) {                                                \
                                if (pad == GP_ZEROS) zero = true;                                     \
                                else if (pad == GP_BORDER) i = i < 0 ? 0 : in[a] - 1;                 \
                                else {                                                                \
                                    double lo = align ? 0 : -0.5, hi = align ? (double)in[a] - 1 : (double)in[a] - 0.5; \
                                    i = (int64_t)gs_reflect((double)i, lo, hi);                       \
                                    i = i < 0 ? 0 : i >= in[a] ? in[a] - 1 : i;                       \
                                }                                                                     \
                            }                                                                         \
                            off = off * in[a] + i;                                                    \
                        }                                                                             \
                        if (!zero) acc += wt * (double)xp[off];                                       \
                        for (int a = nsp - 1; a >= 0; a--) {                                          \
                            if (++ti[a] < ntap[a]) break;                                             \
                            ti[a] = 0;                                                                \
                        }                                                                             \
                    }                                                                                 \
                    y[(b * C + ch) * out_plane + o] = (T)acc;                                         \
                }                                                                                     \
            }                                                                                         \
    }
static weft_status gs_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    int mode, pad;
    weft_status st = gs_attrs(k->node, &mode, &pad);
    if (st) return st;
    const weft_tview *xv = &k->in[0], *gv = &k->in[1];
    if (xv->dtype != gv->dtype)
        return weft_op_error(k->node, WEFT_ERR_UNSUPPORTED, "X (%s) and grid (%s) of different dtypes are not supported",
                             weft_dtype_name(xv->dtype), weft_dtype_name(gv->dtype));
    int nsp = xv->rank - 2;
    bool align = weft_attr_int(k->node, "align_corners", 0) != 0;
    int64_t N = xv->dims[0], C = xv->dims[1], in[WEFT_MAX_RANK], in_plane = 1, out_plane = 1;
    for (int a = 0; a < nsp; a++) {
        in[a] = xv->dims[a + 2];
        in_plane *= in[a];
        out_plane *= gv->dims[a + 1];
    }
    if (in_plane == 0 && k->out[0].numel > 0)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "cannot sample an empty input");
    WEFT_DISPATCH(xv->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY
static weft_status gs_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, gs_body); }

const weft_op_def weft_ops_grid_sample[] = {
    {"GridSample", "", 16, 0, 2, 2, 1, 1, 0, gs_infer, gs_run},
};
const int weft_ops_grid_sample_count = sizeof weft_ops_grid_sample / sizeof weft_ops_grid_sample[0];
