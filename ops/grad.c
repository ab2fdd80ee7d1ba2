/* ops/grad.c — the helpers gradient rules are written with (see grad.h). */
#include "grad.h"

#include <stdio.h>
#include <string.h>

weft_status weft_grad_fail(weft_grad_ctx *c, weft_status st, const char *fmt, ...)
{
    if (c->st) return c->st;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return c->st = weft_op_error(c->node, st, "gradient: %s", msg);
}

void weft_grad_op_n(weft_grad_ctx *c, const char *op, const int *in, int n_in, const weft_attr *attrs,
                    int n_attrs, int *out, int n_out)
{
    weft_grad_op_n_in(c, "", op, in, n_in, attrs, n_attrs, out, n_out);
}

void weft_grad_op_n_in(weft_grad_ctx *c, const char *domain, const char *op, const int *in, int n_in,
                       const weft_attr *attrs, int n_attrs, int *out, int n_out)
{
    for (int k = 0; k < n_out; k++) out[k] = -1;
    if (c->st) return;
    for (int k = 0; k < n_in; k++)
        if (in[k] < -1) { c->st = WEFT_ERR_INTERNAL; return; } /* an earlier helper failed */
    weft_status st = c->ops->node(c->user, op, domain, in, n_in, attrs, n_attrs, out, n_out);
    if (st) c->st = st;
}

int weft_grad_op_in(weft_grad_ctx *c, const char *domain, const char *op, const int *in, int n_in,
                    const weft_attr *attrs, int n_attrs)
{
    int out = -1;
    if (c->st) return -1;
    weft_status st = c->ops->node(c->user, op, domain, in, n_in, attrs, n_attrs, &out, 1);
    if (st) { c->st = st; return -1; }
    return out;
}

int weft_grad_op(weft_grad_ctx *c, const char *op, const int *in, int n_in, const weft_attr *attrs, int n_attrs)
{
    return weft_grad_op_in(c, "", op, in, n_in, attrs, n_attrs);
}

int weft_grad_op1(weft_grad_ctx *c, const char *op, int a) { return weft_grad_op(c, op, &a, 1, NULL, 0); }

int weft_grad_op2(weft_grad_ctx *c, const char *op, int a, int b)
{
    int in[2] = {a, b};
    return weft_grad_op(c, op, in, 2, NULL, 0);
}

int weft_grad_scalar(weft_grad_ctx *c, double v)
{
    if (c->st) return -1;
    weft_shape s = {0};
    union { double d; float f; } u;
    size_t nb;
    if (c->dtype == WEFT_FLOAT64) { u.d = v; nb = sizeof u.d; }
    else if (c->dtype == WEFT_FLOAT32) { u.f = (float)v; nb = sizeof u.f; }
    else {
        weft_grad_fail(c, WEFT_ERR_UNSUPPORTED, "gradients in %s are not supported (float32 and float64 are)",
                       weft_dtype_name(c->dtype));
        return -1;
    }
    int k = c->ops->constant(c->user, c->dtype, &s, &u, nb);
    if (k < 0) c->st = WEFT_ERR_NOMEM;
    return k;
}

int weft_grad_i64s(weft_grad_ctx *c, const int64_t *v, int n)
{
    if (c->st) return -1;
    weft_shape s = {1, {weft_dim_num(n)}};
    int k = c->ops->constant(c->user, WEFT_INT64, &s, v, (size_t)n * sizeof *v);
    if (k < 0) c->st = WEFT_ERR_NOMEM;
    return k;
}

int weft_grad_i64(weft_grad_ctx *c, int64_t v)
{
    if (c->st) return -1;
    weft_shape s = {0};
    int k = c->ops->constant(c->user, WEFT_INT64, &s, &v, sizeof v);
    if (k < 0) c->st = WEFT_ERR_NOMEM;
    return k;
}

int weft_grad_positions(weft_grad_ctx *c, int v, const weft_shape *s)
{
    int in[3] = {weft_grad_i64(c, 0), weft_grad_op1(c, "Size", v), weft_grad_i64(c, 1)};
    return weft_grad_op2(c, "Reshape", weft_grad_op(c, "Range", in, 3, NULL, 0), weft_grad_shape_of(c, v, s));
}

int weft_grad_shape_of(weft_grad_ctx *c, int v, const weft_shape *s)
{
    if (s->rank < 0) {
        weft_grad_fail(c, WEFT_ERR_SHAPE, "the rank of a value is unknown");
        return -1;
    }
    if (weft_shape_known(s)) {
        int64_t d[WEFT_MAX_RANK];
        for (int a = 0; a < s->rank; a++) d[a] = s->d[a].v;
        return weft_grad_i64s(c, d, s->rank);
    }
    return weft_grad_op1(c, "Shape", v);
}

int weft_grad_zeros_like(weft_grad_ctx *c, int v, const weft_shape *s)
{
    int z = weft_grad_scalar(c, 0.0);
    return weft_grad_op2(c, "Expand", z, weft_grad_shape_of(c, v, s));
}

int weft_grad_reduce_sum(weft_grad_ctx *c, int g, const int64_t *axes, int n, bool keepdims)
{
    if (n == 0) return g;
    weft_attr kd = weft_grad_attr_int("keepdims", keepdims);
    int in[2] = {g, weft_grad_i64s(c, axes, n)};
    return weft_grad_op(c, "ReduceSum", in, 2, &kd, 1);
}

int weft_grad_transpose(weft_grad_ctx *c, int g, const int64_t *perm, int rank)
{
    weft_attr p = weft_grad_attr_ints("perm", perm, rank);
    return weft_grad_op(c, "Transpose", &g, 1, &p, 1);
}

int weft_grad_dout(weft_grad_ctx *c, int o)
{
    if (c->dout[o] >= 0) return c->dout[o];
    return weft_grad_zeros_like(c, c->out[o], &c->out_shape[o]);
}

void weft_grad_to(weft_grad_ctx *c, int i, int g)
{
    if (c->st || !c->want[i]) return;
    if (g < 0) { c->st = WEFT_ERR_INTERNAL; return; }
    weft_status st = c->ops->accumulate(c->user, i, g);
    if (st) c->st = st;
}

int weft_grad_unbroadcast(weft_grad_ctx *c, int g, const weft_shape *from, const weft_shape *to)
{
    if (c->st) return -1;
    char fs[128], ts[128];
    if (from->rank < to->rank || to->rank < 0) {
        weft_shape_format(from, fs, sizeof fs);
        weft_shape_format(to, ts, sizeof ts);
        weft_grad_fail(c, WEFT_ERR_SHAPE, "cannot reduce a gradient of shape %s to shape %s", fs, ts);
        return -1;
    }
    int lead = from->rank - to->rank, n_keep = 0;
    int64_t keep[WEFT_MAX_RANK], drop[WEFT_MAX_RANK];
    for (int a = lead; a < from->rank; a++) {
        weft_dim dt = to->d[a - lead], df = from->d[a];
        if (weft_dim_eq(dt, df)) continue;
        if (weft_dim_known(dt) && dt.v == 1) { keep[n_keep++] = a; continue; }
        /* a symbol that is not the output's own: it may have been 1 and broadcast, or not */
        weft_shape_format(from, fs, sizeof fs);
        weft_shape_format(to, ts, sizeof ts);
        weft_grad_fail(c, WEFT_ERR_SHAPE,
                       "cannot tell whether axis %d of an input of shape %s was broadcast to the output's %s "
                       "(a symbolic dimension: give the input's shape in numbers)", a - lead, ts, fs);
        return -1;
    }
    for (int a = 0; a < lead; a++) drop[a] = a;
    g = weft_grad_reduce_sum(c, g, keep, n_keep, true);
    return weft_grad_reduce_sum(c, g, drop, lead, false);
}

void weft_grad_to_bcast(weft_grad_ctx *c, int i, int g, const weft_shape *from)
{
    if (c->st || !c->want[i]) return;
    weft_grad_to(c, i, weft_grad_unbroadcast(c, g, from, &c->in_shape[i]));
}

int weft_grad_const_ints(weft_grad_ctx *c, int i, int64_t *out, int max)
{
    if (i >= c->n_in || c->in[i] < 0 || !c->in_data[i] ||
        (c->in_dtype[i] != WEFT_INT64 && c->in_dtype[i] != WEFT_INT32)) {
        weft_grad_fail(c, WEFT_ERR_UNSUPPORTED, "input %d must be a constant list of integers", i);
        return -1;
    }
    int64_t n = weft_shape_numel(&c->in_shape[i]);
    if (n < 0 || n > max) {
        weft_grad_fail(c, WEFT_ERR_UNSUPPORTED, "input %d: too many values", i);
        return -1;
    }
    for (int64_t k = 0; k < n; k++)
        out[k] = c->in_dtype[i] == WEFT_INT64 ? ((const int64_t *)c->in_data[i])[k] : ((const int32_t *)c->in_data[i])[k];
    return (int)n;
}

weft_attr weft_grad_attr_int(const char *name, int64_t v)
{
    weft_attr a = {0};
    a.name = (char *)name; a.type = WEFT_ATTR_INT; a.i = v;
    return a;
}
weft_attr weft_grad_attr_ints(const char *name, const int64_t *v, int n)
{
    weft_attr a = {0};
    a.name = (char *)name; a.type = WEFT_ATTR_INTS; a.n = n; a.ints = (int64_t *)v;
    return a;
}
weft_attr weft_grad_attr_float(const char *name, float v)
{
    weft_attr a = {0};
    a.name = (char *)name; a.type = WEFT_ATTR_FLOAT; a.f = v;
    return a;
}
weft_attr weft_grad_attr_string(const char *name, const char *s)
{
    weft_attr a = {0};
    a.name = (char *)name; a.type = WEFT_ATTR_STRING; a.s = (char *)s; a.s_len = strlen(s);
    return a;
}
