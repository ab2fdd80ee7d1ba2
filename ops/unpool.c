/*
 * ops/unpool.c — MaxUnpool: values scattered back to the positions a MaxPool's indices name, in a
 * zero tensor of the pooled-from size (window geometry from ops/window.h).
 */
#include <string.h>

#include "op.h"
#include "window.h"

/* Default output size per spatial axis: (in - 1) * stride + kernel - pad_begin - pad_end. */
static weft_status unpool_infer(weft_infer_ctx *c)
{
    const weft_node_info *n = c->node;
    if (c->in_dtype[1] != WEFT_INT64) return weft_op_error(n, WEFT_ERR_TYPE, "indices must be int64");
    c->out_dtype[0] = c->in_dtype[0];
    const weft_shape *x = &c->in_shape[0];
    weft_shape *y = &c->out_shape[0];
    if (x->rank < 0) { y->rank = -1; return WEFT_OK; }
    win_geom w;
    weft_status st = win_read(n, x->rank - 2, NULL, false, &w);
    if (st) return st;
    y->rank = x->rank;
    if (weft_in_present(c, 2)) {
        int64_t os[WEFT_MAX_RANK];
        int cnt = weft_infer_int_values(c, 2, os, WEFT_MAX_RANK);
        if (cnt == -2) return WEFT_ERR_SHAPE;
        for (int d = 0; d < x->rank; d++) y->d[d] = cnt < 0 ? weft_dim_unknown(c) : weft_dim_num(os[d]);
        if (cnt >= 0 && cnt != x->rank)
            return weft_op_error(n, WEFT_ERR_SHAPE, "output_shape has %d values for rank %d", cnt, x->rank);
        return WEFT_OK;
    }
    y->d[0] = x->d[0];
    y->d[1] = x->d[1];
    for (int i = 0; i < w.nsp; i++) {
        weft_dim d = x->d[i + 2];
        if (!weft_dim_known(d)) { y->d[i + 2] = weft_dim_unknown(c); continue; }
        int64_t o = (d.v - 1) * w.s[i] + w.k[i] - w.pb[i] - w.pe[i];
        if (o < 0) return weft_op_error(n, WEFT_ERR_SHAPE, "spatial axis %d: output size %lld is negative", i, (long long)o);
        y->d[i + 2] = weft_dim_num(o);
    }
    return WEFT_OK;
}

/*
 * Indices are flat positions in the default-size output (the MaxPool input they came from); with an
 * output_shape, that default-size block sits at the start of every axis of the larger output, the rest 0.
 */
static weft_status unpool_run(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0], *ind = &k->in[1];
    weft_tview *y = &k->out[0];
    int r = x->rank;
    if (ind->numel != x->numel) return weft_op_error(k->node, WEFT_ERR_SHAPE, "indices must have the input's shape");
    if (y->rank != r) return weft_op_error(k->node, WEFT_ERR_SHAPE, "output_shape must have the input's rank");
    win_geom w;
    weft_status st = win_read(k->node, r - 2, NULL, false, &w);
    if (st) return st;
    int64_t def[WEFT_MAX_RANK], dstr[WEFT_MAX_RANK], ystr[WEFT_MAX_RANK];
    def[0] = x->dims[0];
    def[1] = x->dims[1];
    for (int i = 0; i < w.nsp; i++) def[i + 2] = (x->dims[i + 2] - 1) * w.s[i] + w.k[i] - w.pb[i] - w.pe[i];
    for (int d = 0; d < r; d++)
        if (def[d] < 0 || def[d] > y->dims[d])
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "output axis %d (%lld) is smaller than the unpooled size %lld", d,
                                 (long long)y->dims[d], (long long)def[d]);
    weft_strides(def, r, dstr);
    weft_strides(y->dims, r, ystr);
    int64_t defn = 1;
    for (int d = 0; d < r; d++) defn *= def[d];
    size_t es = weft_dtype_size(x->dtype);
    memset(y->data, 0, (size_t)y->numel * es);
    const int64_t *iv = ind->data;
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t t = iv[i];
        if (t < 0 || t >= defn)
            return weft_op_error(k->node, WEFT_ERR_INDEX, "index %lld is outside the unpooled tensor of %lld elements",
                                 (long long)t, (long long)defn);
        int64_t rem = t, dst = 0;
        for (int d = 0; d < r; d++) {
            dst += rem / dstr[d] * ystr[d];
            rem %= dstr[d];
        }
        memcpy((char *)y->data + (size_t)dst * es, (const char *)x->data + (size_t)i * es, es);
    }
    return WEFT_OK;
}

const weft_op_def weft_ops_unpool[] = {
    {"MaxUnpool", "", 9, 0, 2, 3, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, unpool_infer, unpool_run},
};
const int weft_ops_unpool_count = sizeof weft_ops_unpool / sizeof weft_ops_unpool[0];
