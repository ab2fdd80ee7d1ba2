/*
 * ops/nms.c — NonMaxSuppression: per batch and class, boxes kept by score unless they overlap a kept
 * box by more than the IoU threshold.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"

/*
 * boxes [B, S, 4], scores [B, C, S]; optional scalars max_output_boxes_per_class (absent or 0: nothing),
 * iou_threshold, score_threshold. Per (batch, class), boxes are visited by score, highest first (ties:
 * lower index first), skipping scores not above score_threshold when it is given; a box is kept unless
 * its IoU with an already kept box of the class exceeds iou_threshold, until max_output boxes are kept.
 * Output [kept, 3] rows (batch, class, box) in that order. center_point_box 0: [y1, x1, y2, x2] with the
 * corners in either order; 1: [x_center, y_center, width, height].
 */
typedef struct {
    int64_t B, S, C, max_out;
    double iou, score_th;
    bool has_score_th, center;
} nms_args;

static void nms_extent(const nms_args *a, const double *b, double *x0, double *x1, double *y0, double *y1)
{
    if (a->center) {
        *x0 = b[0] - b[2] / 2; *x1 = b[0] + b[2] / 2;
        *y0 = b[1] - b[3] / 2; *y1 = b[1] + b[3] / 2;
    } else {
        *x0 = fmin(b[1], b[3]); *x1 = fmax(b[1], b[3]);
        *y0 = fmin(b[0], b[2]); *y1 = fmax(b[0], b[2]);
    }
}

static bool nms_suppress(const nms_args *a, const double *p, const double *q)
{
    double ax0, ax1, ay0, ay1, bx0, bx1, by0, by1;
    nms_extent(a, p, &ax0, &ax1, &ay0, &ay1);
    nms_extent(a, q, &bx0, &bx1, &by0, &by1);
    double ix = fmin(ax1, bx1) - fmax(ax0, bx0), iy = fmin(ay1, by1) - fmax(ay0, by0);
    if (ix <= 0 || iy <= 0) return false;
    double inter = ix * iy, a1 = (ax1 - ax0) * (ay1 - ay0), a2 = (bx1 - bx0) * (by1 - by0), uni = a1 + a2 - inter;
    if (a1 <= 0 || a2 <= 0 || uni <= 0) return false;
    return inter / uni > a->iou;
}

/*
 * Runs the selection over boxes / scores (double loaders by dtype); `kept` holds up to S indices of one
 * class. Writes rows to `out` when not NULL. Returns the number of rows.
 */
static int64_t nms_select(const nms_args *a, weft_dtype bt, const void *boxes, weft_dtype st, const void *scores,
                          int64_t *kept, int64_t *out)
{
    int64_t rows = 0;
    for (int64_t b = 0; b < a->B; b++)
        for (int64_t c = 0; c < a->C; c++) {
            int64_t nk = 0;
            const int64_t sbase = (b * a->C + c) * a->S;
            double prev_s = INFINITY;
            int64_t prev_i = -1;
            while (nk < a->max_out) {
                /* The next candidate: best (score, -index) strictly after the previous one. */
                int64_t best = -1;
                double bs = 0;
                for (int64_t i = 0; i < a->S; i++) {
                    double sc = weft_load_f64(st, scores, sbase + i);
                    if (a->has_score_th && !(sc > a->score_th)) continue;
                    bool after = sc < prev_s || (sc == prev_s && i > prev_i);
                    if (!after) continue;
                    if (best < 0 || sc > bs) { best = i; bs = sc; }
                }
                if (best < 0) break;
                prev_s = bs;
                prev_i = best;
                double p[4], q[4];
                for (int j = 0; j < 4; j++) p[j] = weft_load_f64(bt, boxes, (b * a->S + best) * 4 + j);
                bool keep = true;
                for (int64_t t = 0; t < nk && keep; t++) {
                    for (int j = 0; j < 4; j++) q[j] = weft_load_f64(bt, boxes, (b * a->S + kept[t]) * 4 + j);
                    if (nms_suppress(a, p, q)) keep = false;
                }
                if (!keep) continue;
                kept[nk++] = best;
                if (out) { out[rows * 3] = b; out[rows * 3 + 1] = c; out[rows * 3 + 2] = best; }
                rows++;
            }
        }
    return rows;
}

/* Arguments from shapes and the optional scalar inputs (data pointers may be NULL: unknown). */
static weft_status nms_args_of(const weft_node_info *n, int n_in, const weft_dtype *dt, const void *const *data,
                               const int64_t *bdims, const int64_t *sdims, nms_args *a, bool *known)
{
    memset(a, 0, sizeof *a);
    *known = true;
    int64_t cpb = weft_attr_int(n, "center_point_box", 0);
    if (cpb != 0 && cpb != 1) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "center_point_box must be 0 or 1");
    a->center = cpb == 1;
    a->B = bdims[0]; a->S = bdims[1]; a->C = sdims[1];
    if (bdims[2] != 4) return weft_op_error(n, WEFT_ERR_SHAPE, "boxes must be [B, S, 4]");
    if (sdims[0] != a->B || sdims[2] != a->S)
        return weft_op_error(n, WEFT_ERR_SHAPE, "scores must be [B, C, S] for boxes [%lld, %lld, 4]", (long long)a->B, (long long)a->S);
    for (int i = 2; i < 5; i++) {
        if (i >= n_in || dt[i] == WEFT_UNDEFINED) continue;
        if (!data[i]) { *known = false; continue; }
        if (i == 2) {
            if (dt[i] != WEFT_INT64) return weft_op_error(n, WEFT_ERR_TYPE, "max_output_boxes_per_class must be int64");
            int64_t m = weft_load_i64(dt[i], data[i], 0);
            a->max_out = m < 0 ? 0 : m;
        } else {
            if (!weft_dtype_is_float(dt[i])) return weft_op_error(n, WEFT_ERR_TYPE, "input %d must be a float scalar", i);
            double v = weft_load_f64(dt[i], data[i], 0);
            if (i == 3) a->iou = v;
            else { a->score_th = v; a->has_score_th = true; }
        }
    }
    if (a->iou < 0 || a->iou > 1) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "iou_threshold %g is outside [0, 1]", a->iou);
    return WEFT_OK;
}

static weft_status nms_infer(weft_infer_ctx *c)
{
    const weft_node_info *n = c->node;
    weft_status st;
    if ((st = weft_infer_need_float(c, 0)) || (st = weft_infer_need_float(c, 1))) return st;
    c->out_dtype[0] = WEFT_INT64;
    c->out_shape[0].rank = 2;
    c->out_shape[0].d[1] = weft_dim_num(3);
    c->out_shape[0].d[0] = weft_dim_unknown(c);
    const weft_shape *bs = &c->in_shape[0], *ss = &c->in_shape[1];
    if (bs->rank >= 0 && bs->rank != 3) return weft_op_error(n, WEFT_ERR_SHAPE, "boxes must be [B, S, 4]");
    if (ss->rank >= 0 && ss->rank != 3) return weft_op_error(n, WEFT_ERR_SHAPE, "scores must be [B, C, S]");
    for (int i = 2; i < 5; i++)
        if (weft_in_present(c, i) && c->in_shape[i].rank >= 0 && weft_shape_numel(&c->in_shape[i]) > 1)
            return weft_op_error(n, WEFT_ERR_SHAPE, "input %d must hold one value", i);
    if (!weft_shape_known(bs) || !weft_shape_known(ss) || !c->in_data[0] || !c->in_data[1]) return WEFT_OK;
    int64_t bd[3], sd[3];
    for (int d = 0; d < 3; d++) { bd[d] = bs->d[d].v; sd[d] = ss->d[d].v; }
    /* Empty optional scalars count as absent. */
    weft_dtype dts[5];
    const void *data[5];
    for (int i = 0; i < 5; i++) {
        dts[i] = i < c->n_in ? c->in_dtype[i] : WEFT_UNDEFINED;
        data[i] = i < c->n_in ? c->in_data[i] : NULL;
        if (i >= 2 && dts[i] != WEFT_UNDEFINED && weft_shape_numel(&c->in_shape[i]) == 0) dts[i] = WEFT_UNDEFINED;
    }
    nms_args a;
    bool known;
    if ((st = nms_args_of(n, c->n_in, dts, data, bd, sd, &a, &known))) return st;
    if (!known) return WEFT_OK;
    void *owned;
    int64_t *kept = weft_infer_scratch(c, (size_t)(a.S > 0 ? a.S : 1) * sizeof(int64_t), &owned);
    if (!kept) return weft_op_error(n, WEFT_ERR_NOMEM, "out of memory");
    int64_t rows = nms_select(&a, c->in_dtype[0], c->in_data[0], c->in_dtype[1], c->in_data[1], kept, NULL);
    free(owned);
    c->out_shape[0].d[0] = weft_dim_num(rows);
    return WEFT_OK;
}

static weft_status nms_run(weft_kernel_ctx *k)
{
    weft_dtype dts[5];
    const void *data[5];
    for (int i = 0; i < 5; i++) {
        bool pres = weft_kin_present(k, i) && k->in[i].numel > 0;
        dts[i] = pres ? k->in[i].dtype : WEFT_UNDEFINED;
        data[i] = pres ? k->in[i].data : NULL;
    }
    nms_args a;
    bool known;
    weft_status st = nms_args_of(k->node, k->n_in, dts, data, k->in[0].dims, k->in[1].dims, &a, &known);
    if (st) return st;
    int64_t *kept = k->scratch(k->user, (size_t)(a.S > 0 ? a.S : 1) * sizeof(int64_t));
    if (!kept) return weft_op_error(k->node, WEFT_ERR_NOMEM, "cannot allocate scratch");
    /* Count first so a disagreement with the inferred shape cannot write out of bounds. */
    int64_t rows = nms_select(&a, k->in[0].dtype, k->in[0].data, k->in[1].dtype, k->in[1].data, kept, NULL);
    if (rows != k->out[0].dims[0])
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "%lld boxes selected but %lld inferred", (long long)rows,
                             (long long)k->out[0].dims[0]);
    nms_select(&a, k->in[0].dtype, k->in[0].data, k->in[1].dtype, k->in[1].data, kept, k->out[0].data);
    return WEFT_OK;
}

const weft_op_def weft_ops_nms[] = {
    {"NonMaxSuppression", "", 10, 0, 2, 5, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, nms_infer, nms_run},
};
const int weft_ops_nms_count = sizeof weft_ops_nms / sizeof weft_ops_nms[0];
