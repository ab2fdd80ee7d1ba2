/*
 * ops/center_crop_pad.c — CenterCropPad: each listed axis centre-cropped or zero-padded to a target size.
 * It only moves elements, so it copies them by size and serves every dtype.
 */
#include <string.h>

#include "op.h"

/* Target size per axis of x (rank r) from the shape input; *known false when its values are unknown. */
static weft_status ccp_targets(const weft_node_info *n, int r, const int64_t *shape, int ns, int64_t *tgt,
                               bool *listed)
{
    const int64_t *av;
    int na = weft_attr_ints(n, "axes", &av);
    int cnt = na < 0 ? r : na;
    if (ns != cnt) return weft_op_error(n, WEFT_ERR_SHAPE, "shape has %d values for %d axes", ns, cnt);
    for (int d = 0; d < r; d++) listed[d] = false;
    for (int i = 0; i < cnt; i++) {
        int ax = i;
        if (na >= 0) {
            weft_status st = weft_axis(n, av[i], r, false, &ax);
            if (st) return st;
        }
        if (listed[ax]) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "axis %d appears twice in axes", ax);
        if (shape[i] < 0) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "shape[%d] = %lld is negative", i, (long long)shape[i]);
        listed[ax] = true;
        tgt[ax] = shape[i];
    }
    return WEFT_OK;
}

static weft_status ccp_infer(weft_infer_ctx *c)
{
    weft_status st = weft_infer_need_index(c, 1, "shape");
    if (st) return st;
    const weft_shape *x = &c->in_shape[0];
    c->out_dtype[0] = c->in_dtype[0];
    weft_shape *y = &c->out_shape[0];
    if (x->rank < 0) { y->rank = -1; return WEFT_OK; }
    y->rank = x->rank;
    int64_t shape[WEFT_MAX_RANK], tgt[WEFT_MAX_RANK];
    bool listed[WEFT_MAX_RANK];
    int ns = weft_infer_int_values(c, 1, shape, WEFT_MAX_RANK);
    if (ns == -2) return WEFT_ERR_SHAPE;
    if (ns < 0) {
        for (int d = 0; d < x->rank; d++) y->d[d] = weft_dim_unknown(c);
        return WEFT_OK;
    }
    if ((st = ccp_targets(c->node, x->rank, shape, ns, tgt, listed))) return st;
    for (int d = 0; d < x->rank; d++) y->d[d] = listed[d] ? weft_dim_num(tgt[d]) : x->d[d];
    return WEFT_OK;
}

/* Crop: the window starts at floor((in - out) / 2); pad: the input starts at floor((out - in) / 2). */
static weft_status ccp_run(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    weft_tview *y = &k->out[0];
    int r = x->rank;
    int64_t shape[WEFT_MAX_RANK], tgt[WEFT_MAX_RANK];
    bool listed[WEFT_MAX_RANK];
    if (k->in[1].numel > WEFT_MAX_RANK) return weft_op_error(k->node, WEFT_ERR_SHAPE, "shape has too many values");
    for (int64_t i = 0; i < k->in[1].numel; i++) shape[i] = weft_load_i64(k->in[1].dtype, k->in[1].data, i);
    weft_status st = ccp_targets(k->node, r, shape, (int)k->in[1].numel, tgt, listed);
    if (st) return st;
    int64_t shift[WEFT_MAX_RANK], istr[WEFT_MAX_RANK];
    for (int d = 0; d < r; d++) {
        int64_t in = x->dims[d], out = y->dims[d];
        shift[d] = !listed[d] ? 0 : in >= out ? (in - out) / 2 : -((out - in) / 2);
    }
    weft_strides(x->dims, r, istr);
    size_t es = weft_dtype_size(x->dtype);
    int64_t idx[WEFT_MAX_RANK] = {0};
    for (int64_t o = 0; o < y->numel; o++) {
        int64_t src = 0;
        bool inside = true;
        for (int d = 0; d < r; d++) {
            int64_t p = idx[d] + shift[d];
            if (p < 0 || p >= x->dims[d]) inside = false;
            src += p * istr[d];
        }
        char *dst = (char *)y->data + (size_t)o * es;
        if (inside) memcpy(dst, (const char *)x->data + (size_t)src * es, es);
        else memset(dst, 0, es);
        for (int d = r - 1; d >= 0; d--) {
            if (++idx[d] < y->dims[d]) break;
            idx[d] = 0;
        }
    }
    return WEFT_OK;
}

const weft_op_def weft_ops_center_crop_pad[] = {
    {"CenterCropPad", "", 18, 0, 2, 2, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, ccp_infer, ccp_run},
};
const int weft_ops_center_crop_pad_count = sizeof weft_ops_center_crop_pad / sizeof weft_ops_center_crop_pad[0];
