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

/* Ops whose output is the numpy broadcast of all their inputs (an input's shape is its contribution). */
static bool broadcasts_all_inputs(const char *op)
{
    static const char *const ops[] = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Where",
                                      "PRelu", "Mod", "BitShift", NULL};
    for (int k = 0; ops[k]; k++)
        if (!strcmp(op, ops[k])) return true;
    return false;
}

/* Whether axis a of `to` (aligned to the last axes of `from`, the node's output) was broadcast, from the
 * shapes alone: 1 broadcast (reduce it), 0 not, -1 open. A symbolic input dimension that is not the
 * output's own is still decided when the input's and the output's numbers say it (an input dimension
 * other than 1 is the output's; an output dimension of 1 leaves nothing to sum), or when every input of
 * a broadcasting op holds the same symbol or 1 there (the output's dimension is then that symbol). */
static int axis_broadcast(const weft_grad_ctx *c, const weft_shape *from, const weft_shape *to, int a)
{
    int lead = from->rank - to->rank;
    weft_dim dt = to->d[a - lead], df = from->d[a];
    if (weft_dim_eq(dt, df)) return 0;
    if (weft_dim_known(dt)) return dt.v == 1; /* a number other than 1 can only be the output's */
    if (weft_dim_known(df) && df.v == 1) return 0;
    if (from != &c->out_shape[0] || !broadcasts_all_inputs(c->node->op_type)) return -1;
    for (int j = 0; j < c->n_in; j++) {
        const weft_shape *sj = &c->in_shape[j];
        if (c->in[j] < 0) continue;
        if (sj->rank < 0) return -1;
        int at = a - (from->rank - sj->rank);
        if (at < 0) continue; /* the input does not reach the axis */
        weft_dim d = sj->d[at];
        if (!weft_dim_eq(d, dt) && !(weft_dim_known(d) && d.v == 1)) return -1;
    }
    return 0;
}

/* g reduced from `from` to `to`; v is the value of shape `to` (its run-time shape decides the axes the
 * shapes leave open), or -1 to refuse those. */
static int unbroadcast(weft_grad_ctx *c, int g, const weft_shape *from, const weft_shape *to, int v)
{
    if (c->st) return -1;
    char fs[128], ts[128];
    weft_shape_format(from, fs, sizeof fs);
    weft_shape_format(to, ts, sizeof ts);
    if (from->rank < to->rank || to->rank < 0 || from->rank < 0) {
        weft_grad_fail(c, WEFT_ERR_SHAPE, "cannot reduce a gradient of shape %s to shape %s", fs, ts);
        return -1;
    }
    int lead = from->rank - to->rank, n_keep = 0, n_open = 0, open_at = -1;
    int64_t keep[WEFT_MAX_RANK], drop[WEFT_MAX_RANK];
    for (int a = lead; a < from->rank; a++) {
        int b = axis_broadcast(c, from, to, a);
        if (b > 0) keep[n_keep++] = a;
        else if (b < 0 && n_open++ == 0) open_at = a - lead;
    }
    if (n_open && v < 0) {
        weft_grad_fail(c, WEFT_ERR_SHAPE,
                       "cannot tell whether axis %d of an input of shape %s was broadcast to the output's %s "
                       "(a symbolic dimension: give the input's shape in numbers)", open_at, ts, fs);
        return -1;
    }
    for (int a = 0; a < lead; a++) drop[a] = a;
    g = weft_grad_reduce_sum(c, g, keep, n_keep, true);
    if (n_open) {
        /* The shapes do not relate the symbols (two names for one size, or a size known only as a value):
         * the input's axes whose run-time size differs from the gradient's are the broadcast ones (size 1
         * in the input), found and summed at run time with their place kept (none: the identity). */
        weft_attr start = weft_grad_attr_int("start", lead);
        int gshape = weft_grad_op(c, "Shape", &g, 1, &start, 1);
        int differ = weft_grad_op1(c, "Not", weft_grad_op2(c, "Equal", weft_grad_op1(c, "Shape", v), gshape));
        int64_t pos[WEFT_MAX_RANK];
        for (int a = 0; a < to->rank; a++) pos[a] = lead + a;
        int axes = weft_grad_op2(c, "Compress", weft_grad_i64s(c, pos, to->rank), differ);
        weft_attr at[2] = {weft_grad_attr_int("keepdims", 1), weft_grad_attr_int("noop_with_empty_axes", 1)};
        g = weft_grad_op(c, "ReduceSum", (int[]){g, axes}, 2, at, 2);
    }
    return weft_grad_reduce_sum(c, g, drop, lead, false);
}

int weft_grad_unbroadcast(weft_grad_ctx *c, int g, const weft_shape *from, const weft_shape *to)
{
    return unbroadcast(c, g, from, to, -1);
}

void weft_grad_to_bcast(weft_grad_ctx *c, int i, int g, const weft_shape *from)
{
    if (c->st || !c->want[i]) return;
    weft_grad_to(c, i, unbroadcast(c, g, from, &c->in_shape[i], c->in[i]));
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
