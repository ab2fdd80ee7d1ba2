/* ops/op_util.c — helpers every op shares: errors naming the node, integer inputs, broadcasting,
 * axes, strides, index checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"

#define WEFT_ERRMSG_MAX 1024

weft_status weft_op_error(const weft_node_info *n, weft_status st, const char *fmt, ...)
{
    char msg[WEFT_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return weft_error(st, "node '%s' (%s): %s", n ? n->name : "?", n ? n->op_type : "?", msg);
}

weft_status weft_op_unsupported_dtype(const weft_kernel_ctx *k, int input)
{
    weft_dtype t = input < k->n_in ? k->in[input].dtype : WEFT_UNDEFINED;
    return weft_op_error(k->node, WEFT_ERR_UNSUPPORTED, "input %d: dtype %s is not supported", input,
                         weft_dtype_name(t));
}

int weft_infer_int_values(weft_infer_ctx *c, int i, int64_t *out, int max)
{
    if (!weft_in_present(c, i)) return -1;
    if (!c->in_data[i]) return weft_shape_numel(&c->in_shape[i]) == 0 ? 0 : -1; /* empty: known */
    weft_dtype t = c->in_dtype[i];
    if (t != WEFT_INT64 && t != WEFT_INT32) {
        weft_op_error(c->node, WEFT_ERR_TYPE, "input %d must be int32 or int64, got %s", i, weft_dtype_name(t));
        return -2;
    }
    int64_t n = weft_shape_numel(&c->in_shape[i]);
    if (n < 0 || n > max) {
        weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d has %lld elements, at most %d allowed", i, (long long)n, max);
        return -2;
    }
    for (int64_t j = 0; j < n; j++) out[j] = weft_load_i64(t, c->in_data[i], j);
    return (int)n;
}

weft_status weft_infer_same_as_input0(weft_infer_ctx *c)
{
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0] = c->in_shape[0];
    return WEFT_OK;
}

weft_status weft_infer_need_float(const weft_infer_ctx *c, int i)
{
    if (!weft_dtype_is_float(c->in_dtype[i]))
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input %d: dtype %s is not supported (floats only)", i,
                             weft_dtype_name(c->in_dtype[i]));
    return WEFT_OK;
}

weft_status weft_infer_need_index(const weft_infer_ctx *c, int i, const char *what)
{
    if (c->in_dtype[i] != WEFT_INT32 && c->in_dtype[i] != WEFT_INT64)
        return weft_op_error(c->node, WEFT_ERR_TYPE, "%s must be int32 or int64, not %s", what,
                             weft_dtype_name(c->in_dtype[i]));
    return WEFT_OK;
}

weft_status weft_infer_broadcast(weft_infer_ctx *c, const weft_shape *const *shapes, int n, weft_shape *out)
{
    int R = 0;
    for (int i = 0; i < n; i++) {
        if (shapes[i]->rank < 0) { out->rank = -1; return WEFT_OK; }
        if (shapes[i]->rank > R) R = shapes[i]->rank;
    }
    out->rank = R;
    for (int a = 0; a < R; a++) {
        weft_dim res = weft_dim_num(1);
        bool have_sym = false;
        weft_dim sym = {0, -1};
        for (int i = 0; i < n; i++) {
            int off = R - shapes[i]->rank;
            if (a < off) continue;
            weft_dim d = shapes[i]->d[a - off];
            if (weft_dim_known(d)) {
                if (d.v == 1) continue;
                if (weft_dim_known(res) && res.v != 1 && res.v != d.v) {
                    char s0[128], s1[128];
                    weft_shape_format(shapes[0], s0, sizeof s0);
                    weft_shape_format(shapes[i], s1, sizeof s1);
                    return weft_op_error(c->node, WEFT_ERR_SHAPE,
                                         "shapes %s and %s do not broadcast (axis %d: %lld vs %lld)", s0, s1,
                                         a, (long long)res.v, (long long)d.v);
                }
                res = d;
            } else if (!have_sym) {
                have_sym = true;
                sym = d;
            } else if (!weft_dim_eq(sym, d)) {
                sym.sym = -2; /* two different symbols: result unknown unless a number decides it */
            }
        }
        if (weft_dim_known(res) && res.v != 1) {
            out->d[a] = res;
        } else if (have_sym) {
            /* A symbol broadcast against 1s stays itself; two different ones give a fresh symbol. */
            out->d[a] = sym.sym == -2 ? weft_dim_unknown(c) : sym;
        } else {
            out->d[a] = weft_dim_num(1);
        }
    }
    return WEFT_OK;
}

weft_status weft_axis(const weft_node_info *n, int64_t axis, int rank, bool inclusive, int *out)
{
    int64_t hi = inclusive ? rank + 1 : rank;
    if (axis < -hi || axis >= hi)
        return weft_op_error(n, WEFT_ERR_SHAPE, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + hi : axis);
    return WEFT_OK;
}

void weft_strides(const int64_t *dims, int rank, int64_t *strides)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

void weft_broadcast_strides(const int64_t *dims, int r, const int64_t *out_dims, int R, int64_t *strides)
{
    int64_t own[WEFT_MAX_RANK];
    weft_strides(dims, r, own);
    for (int i = 0; i < R; i++) {
        int j = i - (R - r);
        strides[i] = (j < 0 || (dims[j] == 1 && out_dims[i] != 1)) ? 0 : own[j];
    }
}

void *weft_infer_scratch(weft_infer_ctx *c, size_t bytes, void **owned)
{
    *owned = NULL;
    if (c->scratch) return c->scratch(c->scratch_user, bytes ? bytes : 1);
    return *owned = malloc(bytes ? bytes : 1);
}

weft_status weft_index_fix(const weft_node_info *node, int64_t v, int axis, int64_t n, int64_t *out)
{
    if (v < -n || v >= n)
        return weft_op_error(node, WEFT_ERR_INDEX, "index value %lld is out of range for axis %d of size %lld",
                             (long long)v, axis, (long long)n);
    *out = v < 0 ? v + n : v;
    return WEFT_OK;
}
