/*
 * ops/resize.c — Resize (opset 11 on): nearest (every nearest_mode), linear and cubic interpolation, with
 * every coordinate_transformation_mode, scales or sizes, axes, keep_aspect_ratio_policy, antialias,
 * exclude_outside, cubic_coeff_a and tf_crop_and_resize's roi / extrapolation_value.
 *
 * Interpolation is separable, so the kernel resizes one axis at a time. For output index y of an axis
 * of input size W, output size O and scale s, the source coordinate x comes from the transformation
 * mode; the taps are consecutive input indices around x (clamped to the edge) weighted by the filter at
 * (tap - x) * min(s, 1) when antialiasing, (tap - x) otherwise, and normalised. Nearest picks one index
 * per axis, so it is a gather that serves every dtype; linear and cubic accumulate in double (floats only,
 * half precision widened).
 */
#include <math.h>
#include <string.h>

#include "op.h"

enum { RS_NEAREST, RS_LINEAR, RS_CUBIC };
enum { CT_HALF_PIXEL, CT_HALF_PIXEL_SYM, CT_PYTORCH_HALF_PIXEL, CT_ALIGN_CORNERS, CT_ASYMMETRIC, CT_TF_CROP };
enum { NM_ROUND_PREFER_FLOOR, NM_ROUND_PREFER_CEIL, NM_FLOOR, NM_CEIL };
enum { KA_STRETCH, KA_NOT_LARGER, KA_NOT_SMALLER };

typedef struct {
    int mode, ctm, nearest, keep;
    bool antialias, exclude_outside;
    double cubic_a, extrapolation;
} rs_attrs;

static int pick(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

static weft_status rs_read_attrs(const weft_node_info *n, rs_attrs *a)
{
    static const char *const modes[] = {"nearest", "linear", "cubic"};
    static const char *const ctms[] = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
                                       "align_corners", "asymmetric", "tf_crop_and_resize"};
    static const char *const nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    static const char *const kas[] = {"stretch", "not_larger", "not_smaller"};
    const char *s;
    if ((a->mode = pick(s = weft_attr_string(n, "mode", "nearest"), modes, 3)) < 0)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "mode '%s' is not nearest, linear or cubic", s);
    if ((a->ctm = pick(s = weft_attr_string(n, "coordinate_transformation_mode", "half_pixel"), ctms, 6)) < 0)
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "coordinate_transformation_mode '%s' is not supported", s);
    if ((a->nearest = pick(s = weft_attr_string(n, "nearest_mode", "round_prefer_floor"), nms, 4)) < 0)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "nearest_mode '%s' is not valid", s);
    if ((a->keep = pick(s = weft_attr_string(n, "keep_aspect_ratio_policy", "stretch"), kas, 3)) < 0)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "keep_aspect_ratio_policy '%s' is not valid", s);
    a->antialias = weft_attr_int(n, "antialias", 0) != 0;
    a->exclude_outside = weft_attr_int(n, "exclude_outside", 0) != 0;
    a->cubic_a = weft_attr_float(n, "cubic_coeff_a", -0.75f);
    a->extrapolation = weft_attr_float(n, "extrapolation_value", 0.0f);
    if (a->antialias && a->mode == RS_NEAREST)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "antialias applies to linear and cubic modes only");
    return WEFT_OK;
}

/* Per-axis geometry. */
typedef struct {
    int rank;
    int64_t in[WEFT_MAX_RANK], out[WEFT_MAX_RANK];
    double scale[WEFT_MAX_RANK], roi0[WEFT_MAX_RANK], roi1[WEFT_MAX_RANK];
    bool resized[WEFT_MAX_RANK];
    bool listed[WEFT_MAX_RANK]; /* named by axes (every axis without the attribute) */
} rs_plan;

/*
 * Builds the plan from the input dims and the values of roi / scales / sizes (any may be NULL: absent or
 * empty). Returns WEFT_OK with *known false when a needed value is unknown at compile time.
 */
static weft_status rs_plan_make(const weft_node_info *n, const rs_attrs *a, int rank, const int64_t *in,
                                const double *roi, int nroi, const double *scales, int nscales, const int64_t *sizes,
                                int nsizes, rs_plan *p)
{
    memset(p, 0, sizeof *p);
    p->rank = rank;
    int axes[WEFT_MAX_RANK], nax;
    const int64_t *av;
    int na = weft_attr_ints(n, "axes", &av);
    if (na < 0) {
        nax = rank;
        for (int i = 0; i < rank; i++) axes[i] = i;
    } else {
        if (na > rank) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "axes has %d values for rank %d", na, rank);
        nax = na;
        bool seen[WEFT_MAX_RANK] = {false};
        for (int i = 0; i < na; i++) {
            weft_status st = weft_axis(n, av[i], rank, false, &axes[i]);
            if (st) return st;
            if (seen[axes[i]]) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "axis %lld appears twice in axes", (long long)av[i]);
            seen[axes[i]] = true;
        }
    }
    for (int i = 0; i < nax; i++) p->listed[axes[i]] = true;
    for (int d = 0; d < rank; d++) {
        p->in[d] = p->out[d] = in[d];
        p->scale[d] = 1;
        p->roi0[d] = 0;
        p->roi1[d] = 1;
    }
    if (scales && sizes) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "only one of scales and sizes may be given");
    if (!scales && !sizes) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "one of scales and sizes is required");
    int cnt = scales ? nscales : nsizes;
    if (cnt != nax)
        return weft_op_error(n, WEFT_ERR_SHAPE, "%s has %d values for %d axes", scales ? "scales" : "sizes", cnt, nax);
    if (a->ctm == CT_TF_CROP) {
        if (!roi) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "tf_crop_and_resize needs the roi input");
        if (nroi != 2 * nax) return weft_op_error(n, WEFT_ERR_SHAPE, "roi has %d values; %d axes need %d", nroi, nax, 2 * nax);
        for (int i = 0; i < nax; i++) { p->roi0[axes[i]] = roi[i]; p->roi1[axes[i]] = roi[nax + i]; }
    }
    if (scales) {
        for (int i = 0; i < nax; i++) {
            double s = scales[i];
            if (!(s > 0) || !isfinite(s))
                return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "scales[%d] = %g must be positive", i, s);
            int d = axes[i];
            double o = floor(s * (double)in[d]);
            if (o > (double)((int64_t)1 << 40)) return weft_op_error(n, WEFT_ERR_SHAPE, "output axis %d is too large", d);
            p->scale[d] = s;
            p->out[d] = (int64_t)o;
        }
    } else {
        for (int i = 0; i < nax; i++)
            if (sizes[i] < 0 || sizes[i] > ((int64_t)1 << 40))
                return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "sizes[%d] = %lld is out of range", i, (long long)sizes[i]);
        if (a->keep == KA_STRETCH) {
            for (int i = 0; i < nax; i++) {
                int d = axes[i];
                p->out[d] = sizes[i];
                p->scale[d] = in[d] ? (double)sizes[i] / (double)in[d] : 1.0;
            }
        } else {
            /* One scale for every listed axis: the smallest (not_larger) or largest (not_smaller). */
            double s = 0;
            for (int i = 0; i < nax; i++) {
                double si = in[axes[i]] ? (double)sizes[i] / (double)in[axes[i]] : 1.0;
                if (i == 0 || (a->keep == KA_NOT_LARGER ? si < s : si > s)) s = si;
            }
            for (int i = 0; i < nax; i++) {
                int d = axes[i];
                p->scale[d] = s;
                p->out[d] = (int64_t)(s * (double)in[d] + 0.5); /* round half up */
            }
        }
    }
    for (int d = 0; d < rank; d++) {
        p->resized[d] = !(fabs(p->scale[d] - 1.0) <= 1e-9 && p->out[d] == p->in[d] &&
                          fabs(p->roi0[d]) <= 1e-9 && fabs(p->roi1[d] - 1.0) <= 1e-9);
        if (p->resized[d] && p->in[d] == 0 && p->out[d] > 0)
            return weft_op_error(n, WEFT_ERR_SHAPE, "cannot resize an empty axis %d to %lld", d, (long long)p->out[d]);
    }
    return WEFT_OK;
}

/* Reads input i (float) into out[0..max); returns the count, -1 when absent or empty, -2 when unknown. */
static int read_floats(const weft_dtype *dt, const void *data, int64_t numel, double *out, int max)
{
    if (*dt == WEFT_UNDEFINED || numel == 0) return -1;
    if (!data) return -2;
    if (numel > max) numel = max;
    for (int64_t i = 0; i < numel; i++) out[i] = weft_load_f64(*dt, data, i);
    return (int)numel;
}

static weft_status rs_infer(weft_infer_ctx *c)
{
    const weft_node_info *n = c->node;
    rs_attrs a;
    weft_status st = rs_read_attrs(n, &a);
    if (st) return st;
    weft_dtype dt = c->in_dtype[0];
    if (a.mode != RS_NEAREST && !weft_dtype_is_float(dt))
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported by %s mode (floats only)",
                             weft_dtype_name(dt), a.mode == RS_LINEAR ? "linear" : "cubic");
    if (dt == WEFT_STRING || dt == WEFT_UNDEFINED)
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported", weft_dtype_name(dt));
    for (int i = 1; i < 3; i++)
        if (weft_in_present(c, i) && !weft_dtype_is_float(c->in_dtype[i]))
            return weft_op_error(n, WEFT_ERR_TYPE, "input %d must be a float tensor", i);
    if (weft_in_present(c, 3) && c->in_dtype[3] != WEFT_INT64)
        return weft_op_error(n, WEFT_ERR_TYPE, "sizes must be int64");
    c->out_dtype[0] = dt;
    const weft_shape *x = &c->in_shape[0];
    weft_shape *y = &c->out_shape[0];
    if (x->rank < 0) { y->rank = -1; return WEFT_OK; }
    y->rank = x->rank;
    double roi[2 * WEFT_MAX_RANK], scales[WEFT_MAX_RANK];
    int64_t sizes[WEFT_MAX_RANK];
    int nroi = -1, ns = -1, nz = -1;
    for (int i = 1; i < 4; i++) {
        if (!weft_in_present(c, i)) continue;
        int64_t numel = weft_shape_numel(&c->in_shape[i]);
        if (numel < 0) { for (int d = 0; d < x->rank; d++) y->d[d] = weft_dim_unknown(c); return WEFT_OK; }
        if (numel > 2 * WEFT_MAX_RANK) return weft_op_error(n, WEFT_ERR_SHAPE, "input %d has too many values", i);
        int r;
        if (i == 3) {
            r = numel == 0 ? -1 : weft_infer_int_values(c, 3, sizes, WEFT_MAX_RANK);
            if (r == -2) return WEFT_ERR_SHAPE;
            if (numel > 0 && r < 0) r = -2;
        } else r = read_floats(&c->in_dtype[i], c->in_data[i], numel, i == 1 ? roi : scales, i == 1 ? 2 * WEFT_MAX_RANK : WEFT_MAX_RANK);
        if (r == -2) {
            /* Values unknown until run time (roi only matters for tf_crop_and_resize). */
            if (i == 1 && a.ctm != CT_TF_CROP) continue;
            for (int d = 0; d < x->rank; d++) y->d[d] = weft_dim_unknown(c);
            return WEFT_OK;
        }
        if (i == 1) nroi = r;
        else if (i == 2) ns = r;
        else nz = r;
    }
    int64_t in[WEFT_MAX_RANK];
    bool all_known = true;
    for (int d = 0; d < x->rank; d++) {
        in[d] = weft_dim_known(x->d[d]) ? x->d[d].v : 1;
        all_known &= weft_dim_known(x->d[d]);
    }
    rs_plan p;
    if ((st = rs_plan_make(n, &a, x->rank, in, nroi > 0 ? roi : NULL, nroi, ns > 0 ? scales : NULL, ns,
                           nz > 0 ? sizes : NULL, nz, &p)))
        return st;
    for (int d = 0; d < x->rank; d++) {
        if (!p.listed[d]) y->d[d] = x->d[d];
        else if (all_known || (nz > 0 && a.keep == KA_STRETCH)) y->d[d] = weft_dim_num(p.out[d]);
        else if (ns > 0 && weft_dim_known(x->d[d])) y->d[d] = weft_dim_num(p.out[d]);
        else if (ns > 0 && p.scale[d] == 1.0) y->d[d] = x->d[d];
        else y->d[d] = weft_dim_unknown(c); /* keep_aspect_ratio_policy mixes every listed axis */
    }
    return WEFT_OK;
}

/* Source coordinate of output index yi along axis d. *extrap: outside the input (tf_crop_and_resize). */
static double rs_coord(const rs_attrs *a, const rs_plan *p, int d, int64_t yi, bool *extrap)
{
    double W = (double)p->in[d], s = p->scale[d], y = (double)yi;
    double ow = s * W; /* the output width before rounding */
    int64_t oi = p->out[d];
    *extrap = false;
    switch (a->ctm) {
    case CT_ALIGN_CORNERS: return ow == 1 ? 0.0 : y * (W - 1) / (ow - 1);
    case CT_ASYMMETRIC: return y / s;
    case CT_TF_CROP: {
        double r0 = p->roi0[d], r1 = p->roi1[d];
        double x = ow == 1 ? (r1 - r0) * (W - 1) / 2 : y * (r1 - r0) * (W - 1) / (ow - 1);
        x += r0 * (W - 1);
        *extrap = x < 0 || x > W - 1;
        return x;
    }
    case CT_PYTORCH_HALF_PIXEL: return ow == 1 ? -0.5 : (y + 0.5) / s - 0.5;
    case CT_HALF_PIXEL_SYM: {
        double adj = (double)oi / ow, center = W / 2;
        return center * (1 - adj) + (y + 0.5) / s - 0.5;
    }
    default: return (y + 0.5) / s - 0.5;
    }
}

static int64_t clamp_idx(int64_t i, int64_t W) { return i < 0 ? 0 : i >= W ? W - 1 : i; }

/* Nearest source index of coordinate x in [0, W). */
static int64_t rs_nearest(const rs_attrs *a, double x, int64_t W)
{
    double f = floor(x), r = x - f;
    int64_t i = (int64_t)f;
    if (r != 0) {
        switch (a->nearest) {
        case NM_ROUND_PREFER_FLOOR: i += r > 0.5; break;
        case NM_ROUND_PREFER_CEIL: i += r >= 0.5; break;
        case NM_FLOOR: break;
        default: i += 1; break;
        }
    }
    return clamp_idx(i, W);
}

/* Filter of the linear / cubic modes at distance t (in input samples, already scaled). */
static double rs_filter(const rs_attrs *a, double t)
{
    t = fabs(t);
    if (a->mode == RS_LINEAR) return t < 1 ? 1 - t : 0;
    double A = a->cubic_a;
    if (t <= 1) return ((A + 2) * t - (A + 3)) * t * t + 1;
    if (t < 2) return ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
    return 0;
}

/* The scale an antialiased filter is stretched by along axis d (1: not stretched). An axis resized to
 * nothing samples nothing: its scale (0, or tiny) must not reach 1 / scale and the int64 tap count. */
static double rs_aa_scale(const rs_attrs *a, const rs_plan *p, int d)
{
    return a->antialias && p->scale[d] < 1 && p->out[d] > 0 ? p->scale[d] : 1;
}

/* Taps per output index along axis d: the filter's support widened by 1 / scale when antialiasing. */
static int64_t rs_taps(const rs_attrs *a, const rs_plan *p, int d, int64_t *first)
{
    double support = a->mode == RS_LINEAR ? 1 : 2;
    double s = rs_aa_scale(a, p, d);
    int64_t start = (int64_t)floor(-support / s) + 1;
    *first = start;
    return 2 - 2 * start;
}

/*
 * Coefficients and (clamped) indices of output index yi along axis d: n taps starting at floor(x) + first
 * (at x - 1 + first when x is whole, so that x sits in the upper half of an even window).
 */
static void rs_coeffs(const rs_attrs *a, const rs_plan *p, int d, int64_t yi, int64_t n, int64_t first, double *w,
                      int64_t *idx, bool *extrap)
{
    double x = rs_coord(a, p, d, yi, extrap);
    double fx = floor(x);
    int64_t base = (int64_t)fx + first - (x == fx ? 1 : 0);
    double s = rs_aa_scale(a, p, d);
    double sum = 0;
    for (int64_t t = 0; t < n; t++) {
        int64_t tap = base + t;
        double c = rs_filter(a, ((double)tap - x) * s);
        if (a->exclude_outside && (tap < 0 || tap >= p->in[d])) c = 0;
        w[t] = c;
        idx[t] = clamp_idx(tap, p->in[d]);
        sum += c;
    }
    /* Antialiased and exclude_outside filters are renormalised; the plain ones already sum to 1. */
    if ((a->antialias || a->exclude_outside) && sum != 0)
        for (int64_t t = 0; t < n; t++) w[t] /= sum;
}

/* Plan at run time from the kernel's inputs. */
static weft_status rs_plan_run(weft_kernel_ctx *k, const rs_attrs *a, rs_plan *p)
{
    double roi[2 * WEFT_MAX_RANK], scales[WEFT_MAX_RANK];
    int64_t sizes[WEFT_MAX_RANK];
    int nroi = -1, ns = -1, nz = -1;
    for (int i = 1; i < 4 && i < k->n_in; i++) {
        const weft_tview *v = &k->in[i];
        if (v->dtype == WEFT_UNDEFINED || v->numel == 0) continue;
        if (v->numel > 2 * WEFT_MAX_RANK) return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d has too many values", i);
        for (int64_t j = 0; j < v->numel; j++) {
            if (i == 1) roi[j] = weft_load_f64(v->dtype, v->data, j);
            else if (i == 2 && j < WEFT_MAX_RANK) scales[j] = weft_load_f64(v->dtype, v->data, j);
            else if (i == 3 && j < WEFT_MAX_RANK) sizes[j] = weft_load_i64(v->dtype, v->data, j);
        }
        if (i == 1) nroi = (int)v->numel;
        else if (i == 2) ns = (int)v->numel;
        else nz = (int)v->numel;
    }
    return rs_plan_make(k->node, a, k->in[0].rank, k->in[0].dims, nroi > 0 ? roi : NULL, nroi, ns > 0 ? scales : NULL,
                        ns, nz > 0 ? sizes : NULL, nz, p);
}

/* Nearest: a gather by per-axis index tables (any dtype, moved by its byte size). */
static weft_status rs_run_nearest(weft_kernel_ctx *k, const rs_attrs *a, const rs_plan *p)
{
    int r = p->rank;
    size_t total = 0;
    for (int d = 0; d < r; d++) total += (size_t)p->out[d];
    int64_t *tab = k->scratch(k->user, (total ? total : 1) * sizeof(int64_t));
    if (!tab) return weft_op_error(k->node, WEFT_ERR_NOMEM, "cannot allocate resize tables");
    int64_t *t[WEFT_MAX_RANK];
    int64_t off = 0;
    for (int d = 0; d < r; d++) {
        t[d] = tab + off;
        off += p->out[d];
        for (int64_t y = 0; y < p->out[d]; y++) {
            bool extrap;
            if (!p->resized[d]) { t[d][y] = y; continue; }
            double x = rs_coord(a, p, d, y, &extrap);
            /* An extrapolated position is marked -1 and takes extrapolation_value. */
            t[d][y] = extrap ? -1 : rs_nearest(a, x, p->in[d]);
        }
    }
    const weft_tview *x = &k->in[0];
    weft_tview *yv = &k->out[0];
    size_t es = weft_dtype_size(x->dtype);
    int64_t istr[WEFT_MAX_RANK];
    weft_strides(x->dims, r, istr);
    int64_t idx[WEFT_MAX_RANK] = {0};
    for (int64_t o = 0; o < yv->numel; o++) {
        int64_t src = 0;
        bool extrap = false;
        for (int d = 0; d < r; d++) {
            int64_t s = t[d][idx[d]];
            if (s < 0) extrap = true;
            else src += s * istr[d];
        }
        if (extrap) weft_store_f64(yv->dtype, yv->data, o, a->extrapolation);
        else memcpy((char *)yv->data + (size_t)o * es, (const char *)x->data + (size_t)src * es, es);
        for (int d = r - 1; d >= 0; d--) {
            if (++idx[d] < p->out[d]) break;
            idx[d] = 0;
        }
    }
    return WEFT_OK;
}

/* Linear / cubic: one pass per resized axis over double buffers. */
typedef struct {
    rs_attrs a;
    rs_plan p;
    size_t buf_elems;   /* each of the two ping-pong buffers */
    size_t tab_elems;   /* coefficient / index slots of the widest axis */
    size_t bytes;       /* scratch for both */
} rs_job;

/* Attributes, plan and buffer sizes (the same whether or not the input was widened). */
static weft_status rs_job_make(weft_kernel_ctx *k, rs_job *j)
{
    weft_status st = rs_read_attrs(k->node, &j->a);
    if (st) return st;
    if ((st = rs_plan_run(k, &j->a, &j->p))) return st;
    for (int d = 0; d < j->p.rank; d++)
        if (j->p.out[d] != k->out[0].dims[d])
            return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output shape disagrees with the plan on axis %d", d);
    /* Buffers: the largest intermediate; tables: the largest axis's output size times its taps. */
    int64_t cur[WEFT_MAX_RANK], big = k->in[0].numel, tab = 1;
    memcpy(cur, j->p.in, sizeof cur);
    for (int d = 0; d < j->p.rank; d++) {
        if (!j->p.resized[d]) continue;
        int64_t first, n = rs_taps(&j->a, &j->p, d, &first);
        if (n > ((int64_t)1 << 20)) return weft_op_error(k->node, WEFT_ERR_SHAPE, "the antialias filter is too wide");
        cur[d] = j->p.out[d];
        int64_t e = 1;
        for (int q = 0; q < j->p.rank; q++) {
            if (cur[q] && e > ((int64_t)1 << 36) / cur[q]) return weft_op_error(k->node, WEFT_ERR_SHAPE, "resize too large");
            e *= cur[q];
        }
        if (e > big) big = e;
        if (j->p.out[d] * n > tab) tab = j->p.out[d] * n;
    }
    j->buf_elems = (size_t)big;
    j->tab_elems = (size_t)tab;
    j->bytes = 2 * j->buf_elems * sizeof(double) + j->tab_elems * (sizeof(double) + sizeof(int64_t)) + (size_t)tab;
    return WEFT_OK;
}

static weft_status rs_body(weft_kernel_ctx *k, void *scratch)
{
    rs_job job, *j = &job;
    weft_status st = rs_job_make(k, j);
    if (st) return st;
    const rs_plan *p = &j->p;
    int r = p->rank;
    double *buf[2] = {scratch, (double *)scratch + j->buf_elems};
    double *wtab = buf[1] + j->buf_elems;
    int64_t *itab = (int64_t *)(wtab + j->tab_elems);
    bool *xtab = (bool *)(itab + j->tab_elems);
    const weft_tview *x = &k->in[0];
    for (int64_t i = 0; i < x->numel; i++) buf[0][i] = weft_load_f64(x->dtype, x->data, i);
    int64_t cur[WEFT_MAX_RANK];
    memcpy(cur, p->in, sizeof(int64_t) * (size_t)r);
    int src = 0;
    for (int d = 0; d < r; d++) {
        if (!p->resized[d]) continue;
        int64_t first, n = rs_taps(&j->a, p, d, &first);
        int64_t O = p->out[d], W = p->in[d];
        for (int64_t y = 0; y < O; y++) rs_coeffs(&j->a, p, d, y, n, first, wtab + y * n, itab + y * n, &xtab[y]);
        int64_t outer = 1, inner = 1;
        for (int e = 0; e < d; e++) outer *= cur[e];
        for (int e = d + 1; e < r; e++) inner *= cur[e];
        const double *in = buf[src];
        double *out = buf[1 - src];
        for (int64_t o = 0; o < outer; o++)
            for (int64_t y = 0; y < O; y++) {
                const double *w = wtab + y * n;
                const int64_t *ix = itab + y * n;
                double *dst = out + (o * O + y) * inner;
                if (xtab[y]) {
                    for (int64_t q = 0; q < inner; q++) dst[q] = j->a.extrapolation;
                    continue;
                }
                for (int64_t q = 0; q < inner; q++) dst[q] = 0;
                for (int64_t t = 0; t < n; t++) {
                    if (w[t] == 0) continue;
                    const double *s = in + (o * W + ix[t]) * inner;
                    for (int64_t q = 0; q < inner; q++) dst[q] += w[t] * s[q];
                }
            }
        cur[d] = O;
        src = 1 - src;
    }
    weft_tview *yv = &k->out[0];
    for (int64_t i = 0; i < yv->numel; i++) weft_store_f64(yv->dtype, yv->data, i, buf[src][i]);
    return WEFT_OK;
}

static weft_status rs_run(weft_kernel_ctx *k)
{
    rs_job j;
    weft_status st = rs_job_make(k, &j);
    if (st) return st;
    if (k->out[0].numel == 0) return WEFT_OK;
    if (j.a.mode == RS_NEAREST) return rs_run_nearest(k, &j.a, &j.p);
    return weft_math_run_widened(k, j.bytes, rs_body);
}

const weft_op_def weft_ops_resize[] = {
    {"Resize", "", 11, 0, 1, 4, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, rs_infer, rs_run, 0xe},
};
const int weft_ops_resize_count = sizeof weft_ops_resize / sizeof weft_ops_resize[0];
