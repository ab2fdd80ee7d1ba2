/*
 * ops/window.h — the sliding-window geometry shared by the pooling and convolution families (ops/pool.c,
 * ops/conv.c): kernel_shape, strides, dilations, pads, auto_pad and ceil_mode, validated once, and the
 * output size and leading pad of one spatial axis.
 *
 * Only static helpers: each including file gets its own copy.
 */
#ifndef WEFT_OPS_WINDOW_H
#define WEFT_OPS_WINDOW_H

#include <string.h>

#include "op.h"

enum { WIN_NOTSET, WIN_SAME_UPPER, WIN_SAME_LOWER, WIN_VALID };

typedef struct {
    int nsp;                        /* spatial axes */
    int auto_pad;
    bool ceil_mode;
    int64_t k[WEFT_MAX_RANK];       /* kernel size (taps) per axis */
    int64_t s[WEFT_MAX_RANK];       /* strides */
    int64_t d[WEFT_MAX_RANK];       /* dilations */
    int64_t pb[WEFT_MAX_RANK];      /* explicit pads: begin, end (NOTSET only) */
    int64_t pe[WEFT_MAX_RANK];
} win_geom;

/* A list attribute of nsp positive values, or `def` for each axis when absent. */
static inline weft_status win_list(const weft_node_info *n, const char *name, int nsp, int64_t def, int64_t lo,
                            int64_t *out)
{
    const int64_t *v;
    int cnt = weft_attr_ints(n, name, &v);
    if (cnt < 0) {
        for (int i = 0; i < nsp; i++) out[i] = def;
        return WEFT_OK;
    }
    if (cnt != nsp)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "%s has %d values for %d spatial axes", name, cnt, nsp);
    for (int i = 0; i < nsp; i++) {
        if (v[i] < lo || v[i] > ((int64_t)1 << 40))
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "%s[%d] = %lld is out of range", name, i,
                                 (long long)v[i]);
        out[i] = v[i];
    }
    return WEFT_OK;
}

/*
 * Reads the window attributes of node n for nsp spatial axes. `kernel` (nsp values) is the kernel size
 * when it comes from elsewhere (Conv's weights), else NULL: then kernel_shape is required.
 */
static inline weft_status win_read(const weft_node_info *n, int nsp, const int64_t *kernel, bool allow_ceil, win_geom *w)
{
    memset(w, 0, sizeof *w);
    w->nsp = nsp;
    if (nsp < 1 || nsp > WEFT_MAX_RANK - 2)
        return weft_op_error(n, WEFT_ERR_SHAPE, "input must have rank >= 3 (N, C and at least one spatial axis)");
    weft_status st;
    if (kernel) {
        const int64_t *ks;
        int cnt = weft_attr_ints(n, "kernel_shape", &ks);
        if (cnt >= 0) {
            if (cnt != nsp)
                return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "kernel_shape has %d values for %d spatial axes",
                                     cnt, nsp);
            for (int i = 0; i < nsp; i++)
                if (kernel[i] >= 0 && ks[i] != kernel[i])
                    return weft_op_error(n, WEFT_ERR_INVALID_MODEL,
                                         "kernel_shape[%d] = %lld but the weights have %lld", i, (long long)ks[i],
                                         (long long)kernel[i]);
        }
        for (int i = 0; i < nsp; i++) w->k[i] = kernel[i];
    } else {
        if (!weft_attr_find(n, "kernel_shape"))
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute kernel_shape is required");
        if ((st = win_list(n, "kernel_shape", nsp, 1, 1, w->k))) return st;
    }
    if ((st = win_list(n, "strides", nsp, 1, 1, w->s))) return st;
    if ((st = win_list(n, "dilations", nsp, 1, 1, w->d))) return st;
    const char *ap = weft_attr_string(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") == 0) w->auto_pad = WIN_NOTSET;
    else if (strcmp(ap, "SAME_UPPER") == 0) w->auto_pad = WIN_SAME_UPPER;
    else if (strcmp(ap, "SAME_LOWER") == 0) w->auto_pad = WIN_SAME_LOWER;
    else if (strcmp(ap, "VALID") == 0) w->auto_pad = WIN_VALID;
    else return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", ap);
    const int64_t *p;
    int cnt = weft_attr_ints(n, "pads", &p);
    if (cnt >= 0) {
        if (cnt != 2 * nsp)
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "pads has %d values; %d spatial axes need %d", cnt, nsp,
                                 2 * nsp);
        for (int i = 0; i < 2 * nsp; i++)
            if (p[i] < 0 || p[i] > ((int64_t)1 << 40))
                return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "pads[%d] = %lld is out of range", i, (long long)p[i]);
        /* Explicit pads only count without auto_pad (the spec forbids both; be lenient when all zero). */
        if (w->auto_pad == WIN_NOTSET)
            for (int i = 0; i < nsp; i++) { w->pb[i] = p[i]; w->pe[i] = p[nsp + i]; }
    }
    int64_t cm = weft_attr_int(n, "ceil_mode", 0);
    if (cm != 0 && cm != 1) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "ceil_mode must be 0 or 1");
    if (cm && !allow_ceil) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "ceil_mode is not an attribute of this op");
    w->ceil_mode = cm;
    return WEFT_OK;
}

/* Extent of the dilated kernel along axis i. */
static inline int64_t win_span(const win_geom *w, int i) { return (w->k[i] - 1) * w->d[i] + 1; }

/* Output size of axis i for an input of size `in`, and the pads before and after the input (*pb, *pe). */
static inline weft_status win_axis(const weft_node_info *n, const win_geom *w, int i, int64_t in, int64_t *out, int64_t *pb,
                            int64_t *pe)
{
    int64_t span = win_span(w, i), s = w->s[i];
    switch (w->auto_pad) {
    case WIN_SAME_UPPER:
    case WIN_SAME_LOWER: {
        int64_t o = (in + s - 1) / s;
        int64_t total = (o - 1) * s + span - in;
        if (total < 0) total = 0;
        *pb = w->auto_pad == WIN_SAME_UPPER ? total / 2 : total - total / 2;
        *pe = total - *pb;
        *out = o;
        return WEFT_OK;
    }
    case WIN_VALID:
        *pb = *pe = 0;
        *out = in >= span ? (in - span) / s + 1 : 0;
        return WEFT_OK;
    default: {
        int64_t num = in + w->pb[i] + w->pe[i] - span;
        *pb = w->pb[i];
        *pe = w->pe[i];
        if (num < 0)
            return weft_op_error(n, WEFT_ERR_SHAPE,
                                 "spatial axis %d: the window (%lld with dilation) is larger than the padded input (%lld)",
                                 i, (long long)span, (long long)(in + w->pb[i] + w->pe[i]));
        int64_t o = w->ceil_mode ? (num + s - 1) / s + 1 : num / s + 1;
        /* A last window that would start in the end padding is dropped. */
        if (w->ceil_mode && (o - 1) * s >= in + w->pb[i]) o--;
        *out = o;
        return WEFT_OK;
    }
    }
}

#endif
