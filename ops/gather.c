/*
 * ops/gather.c — Gather, GatherElements, GatherND.
 *
 * These only move data, so every kernel copies bytes (weft_dtype_size per element) and works for every
 * dtype. Index values are checked in `run` before anything is written: an out-of-range index is a
 * WEFT_ERR_INDEX naming the value, the axis and its size, never a read outside the data.
 */
#include <string.h>

#include "grad.h"
#include "op.h"

/* --- helpers shared by the three ops --------------------------------------------------------------- */

static weft_status need_index_dtype(weft_infer_ctx *c, int i)
{
    weft_dtype t = c->in_dtype[i];
    if (t != WEFT_INT32 && t != WEFT_INT64)
        return weft_op_error(c->node, WEFT_ERR_TYPE, "input %d (indices) must be int32 or int64, got %s", i,
                             weft_dtype_name(t));
    return WEFT_OK;
}

static weft_status need_data_dtype(weft_infer_ctx *c, int i)
{
    if (weft_dtype_size(c->in_dtype[i]) == 0)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input %d: dtype %s is not supported", i,
                             weft_dtype_name(c->in_dtype[i]));
    return WEFT_OK;
}

static weft_status check_out_rank(weft_infer_ctx *c, int rank)
{
    if (rank > WEFT_MAX_RANK)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "output rank %d exceeds the maximum of %d", rank,
                             WEFT_MAX_RANK);
    return WEFT_OK;
}

static weft_status check_out_size(weft_infer_ctx *c)
{
    if (weft_shape_numel(&c->out_shape[0]) == -2)
        return weft_op_error(c->node, WEFT_ERR_NOMEM, "output element count overflows int64");
    return WEFT_OK;
}

static int64_t prod(const int64_t *d, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= d[i];
    return p;
}

/* --- Gather ---------------------------------------------------------------------------------------- */

static weft_status gather_infer(weft_infer_ctx *c)
{
    weft_status st;
    if ((st = need_data_dtype(c, 0)) || (st = need_index_dtype(c, 1))) return st;
    const weft_shape *ds = &c->in_shape[0], *is = &c->in_shape[1];
    weft_shape *o = &c->out_shape[0];
    c->out_dtype[0] = c->in_dtype[0];
    if (ds->rank == 0) return weft_op_error(c->node, WEFT_ERR_SHAPE, "data must have rank >= 1, got a scalar");
    if (ds->rank < 0 || is->rank < 0) { o->rank = -1; return WEFT_OK; }
    int axis;
    if ((st = weft_axis(c->node, weft_attr_int(c->node, "axis", 0), ds->rank, false, &axis))) return st;
    int r = ds->rank + is->rank - 1;
    if ((st = check_out_rank(c, r))) return st;
    o->rank = r;
    int j = 0;
    for (int a = 0; a < axis; a++) o->d[j++] = ds->d[a];
    for (int a = 0; a < is->rank; a++) o->d[j++] = is->d[a];
    for (int a = axis + 1; a < ds->rank; a++) o->d[j++] = ds->d[a];
    return check_out_size(c);
}

static weft_status gather_run(weft_kernel_ctx *k)
{
    const weft_tview *d = &k->in[0], *ix = &k->in[1];
    int axis;
    weft_status st = weft_axis(k->node, weft_attr_int(k->node, "axis", 0), d->rank, false, &axis);
    if (st) return st;
    int64_t n = d->dims[axis], v = 0;
    /* Validate every index first so that a bad one leaves nothing half-written. */
    for (int64_t j = 0; j < ix->numel; j++)
        if ((st = weft_index_fix(k->node, weft_index_at(ix, j), axis, n, &v))) return st;
    if (k->out[0].numel == 0) return WEFT_OK;
    size_t row = (size_t)prod(d->dims, axis + 1, d->rank) * weft_dtype_size(d->dtype);
    int64_t outer = prod(d->dims, 0, axis), m = ix->numel;
    const char *src = d->data;
    char *dst = k->out[0].data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < m; j++) {
            weft_index_fix(k->node, weft_index_at(ix, j), axis, n, &v);
            memcpy(dst + (size_t)(o * m + j) * row, src + (size_t)(o * n + v) * row, row);
        }
    return WEFT_OK;
}

/* --- GatherElements -------------------------------------------------------------------------------- */

static weft_status gather_elements_infer(weft_infer_ctx *c)
{
    weft_status st;
    if ((st = need_data_dtype(c, 0)) || (st = need_index_dtype(c, 1))) return st;
    const weft_shape *ds = &c->in_shape[0], *is = &c->in_shape[1];
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0] = *is;
    if (ds->rank == 0) return weft_op_error(c->node, WEFT_ERR_SHAPE, "data must have rank >= 1, got a scalar");
    if (ds->rank < 0) return WEFT_OK;
    int axis;
    if ((st = weft_axis(c->node, weft_attr_int(c->node, "axis", 0), ds->rank, false, &axis))) return st;
    if (is->rank < 0) return WEFT_OK;
    if (is->rank != ds->rank)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "indices rank %d differs from data rank %d", is->rank,
                             ds->rank);
    /* Off the gather axis an index position addresses the same position in data, so it must exist. */
    for (int a = 0; a < ds->rank; a++)
        if (a != axis && weft_dim_known(ds->d[a]) && weft_dim_known(is->d[a]) && is->d[a].v > ds->d[a].v)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "indices dim %d (%lld) exceeds data dim %d (%lld)", a,
                                 (long long)is->d[a].v, a, (long long)ds->d[a].v);
    return WEFT_OK;
}

static weft_status gather_elements_run(weft_kernel_ctx *k)
{
    const weft_tview *d = &k->in[0], *ix = &k->in[1];
    int axis, r = d->rank;
    weft_status st = weft_axis(k->node, weft_attr_int(k->node, "axis", 0), r, false, &axis);
    if (st) return st;
    if (ix->rank != r) return weft_op_error(k->node, WEFT_ERR_SHAPE, "indices rank differs from data rank");
    for (int a = 0; a < r; a++)
        if (a != axis && ix->dims[a] > d->dims[a])
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "indices dim %d exceeds data dim", a);
    int64_t n = d->dims[axis], v = 0, strides[WEFT_MAX_RANK], pos[WEFT_MAX_RANK] = {0};
    for (int64_t j = 0; j < ix->numel; j++)
        if ((st = weft_index_fix(k->node, weft_index_at(ix, j), axis, n, &v))) return st;
    weft_strides(d->dims, r, strides);
    size_t es = weft_dtype_size(d->dtype);
    const char *src = d->data;
    char *dst = k->out[0].data;
    for (int64_t i = 0; i < ix->numel; i++) {
        weft_index_fix(k->node, weft_index_at(ix, i), axis, n, &v);
        int64_t off = 0;
        for (int a = 0; a < r; a++) off += (a == axis ? v : pos[a]) * strides[a];
        memcpy(dst + (size_t)i * es, src + (size_t)off * es, es);
        for (int a = r - 1; a >= 0; a--) { /* odometer over the indices' shape */
            if (++pos[a] < ix->dims[a]) break;
            pos[a] = 0;
        }
    }
    return WEFT_OK;
}

/* --- GatherND -------------------------------------------------------------------------------------- */

static weft_status gather_nd_infer(weft_infer_ctx *c)
{
    weft_status st;
    if ((st = need_data_dtype(c, 0)) || (st = need_index_dtype(c, 1))) return st;
    const weft_shape *ds = &c->in_shape[0], *is = &c->in_shape[1];
    weft_shape *o = &c->out_shape[0];
    c->out_dtype[0] = c->in_dtype[0];
    int64_t b = weft_attr_int(c->node, "batch_dims", 0);
    if (ds->rank == 0 || is->rank == 0)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "data and indices must have rank >= 1");
    if (b < 0) return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "batch_dims %lld is negative", (long long)b);
    if (ds->rank < 0 || is->rank < 0) { o->rank = -1; return WEFT_OK; }
    int r = ds->rank, q = is->rank;
    if (b >= r || b >= q)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "batch_dims %lld must be less than both ranks (%d, %d)",
                             (long long)b, r, q);
    for (int a = 0; a < b; a++)
        if (weft_dim_known(ds->d[a]) && weft_dim_known(is->d[a]) && ds->d[a].v != is->d[a].v)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "batch dim %d differs: data %lld, indices %lld", a,
                                 (long long)ds->d[a].v, (long long)is->d[a].v);
    weft_dim md = is->d[q - 1];
    if (!weft_dim_known(md)) { o->rank = -1; return WEFT_OK; }
    if (md.v < 1 || md.v > r - b)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "indices last dim %lld must be in [1, %lld]", (long long)md.v,
                             (long long)(r - b));
    int m = (int)md.v, orank = q - 1 + r - (int)b - m;
    if ((st = check_out_rank(c, orank))) return st;
    o->rank = orank;
    int j = 0;
    for (int a = 0; a < q - 1; a++) o->d[j++] = is->d[a];
    for (int a = (int)b + m; a < r; a++) o->d[j++] = ds->d[a];
    return check_out_size(c);
}

static weft_status gather_nd_run(weft_kernel_ctx *k)
{
    const weft_tview *d = &k->in[0], *ix = &k->in[1];
    int r = d->rank, q = ix->rank, b = (int)weft_attr_int(k->node, "batch_dims", 0);
    int m = (int)ix->dims[q - 1];
    if (b < 0 || b >= r || b >= q || m < 1 || m > r - b)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "indices shape does not fit data");
    for (int a = 0; a < b; a++)
        if (d->dims[a] != ix->dims[a]) return weft_op_error(k->node, WEFT_ERR_SHAPE, "batch dim %d differs", a);
    int64_t nb = prod(d->dims, 0, b), per_batch = prod(d->dims, b, r), slice = prod(d->dims, b + m, r);
    int64_t tuples = prod(ix->dims, b, q - 1), v = 0;
    weft_status st;
    for (int64_t t = 0; t < ix->numel; t++)
        if ((st = weft_index_fix(k->node, weft_index_at(ix, t), b + (int)(t % m), d->dims[b + t % m], &v))) return st;
    size_t es = weft_dtype_size(d->dtype), row = (size_t)slice * es;
    const char *src = d->data;
    char *dst = k->out[0].data;
    if (row == 0) return WEFT_OK;
    for (int64_t bi = 0; bi < nb; bi++)
        for (int64_t t = 0; t < tuples; t++) {
            int64_t base = (bi * tuples + t) * m, off = 0;
            for (int j = 0; j < m; j++) {
                weft_index_fix(k->node, weft_index_at(ix, base + j), b + j, d->dims[b + j], &v);
                off = off * d->dims[b + j] + v;
            }
            memcpy(dst + (size_t)(bi * tuples + t) * row, src + (size_t)(bi * per_batch + off * slice) * es, row);
        }
    return WEFT_OK;
}

/* --- gradients (ops/grad.h) ----------------------------------------------------------------------- */

/* Gather of rows (axis 0): the adjoint adds each gathered row's gradient back into its row, a
 * SegmentReduce(sum) into zeros of data's shape over the flattened index (the init form, which wraps
 * negative indices as Gather does). */
static weft_status grad_gather(weft_grad_ctx *c)
{
    const weft_shape *sd = &c->in_shape[0];
    int axis;
    if (weft_axis(c->node, weft_attr_int(c->node, "axis", 0), sd->rank, false, &axis)) return c->st = WEFT_ERR_INVALID_MODEL;
    if (axis != 0) return weft_grad_fail(c, WEFT_ERR_UNSUPPORTED, "Gather along axis %d (axis 0 has a rule)", axis);
    int g = weft_grad_dout(c, 0), shape;
    bool known = true;
    for (int a = 1; a < sd->rank; a++) known &= weft_dim_known(sd->d[a]);
    if (known) { /* [-1, dims of data after the first] */
        int64_t d[WEFT_MAX_RANK] = {-1};
        for (int a = 1; a < sd->rank; a++) d[a] = sd->d[a].v;
        shape = weft_grad_i64s(c, d, sd->rank);
    } else {
        int64_t m1 = -1;
        weft_attr start = weft_grad_attr_int("start", 1);
        int in[2] = {weft_grad_i64s(c, &m1, 1), weft_grad_op(c, "Shape", &c->in[0], 1, &start, 1)};
        weft_attr ax = weft_grad_attr_int("axis", 0);
        shape = weft_grad_op(c, "Concat", in, 2, &ax, 1);
    }
    int64_t m1 = -1;
    int rows = weft_grad_op2(c, "Reshape", g, shape);
    int idx = weft_grad_op2(c, "Reshape", c->in[1], weft_grad_i64s(c, &m1, 1));
    int in[4] = {rows, idx, -1, weft_grad_zeros_like(c, c->in[0], sd)};
    weft_attr red = weft_grad_attr_string("reduce", "sum");
    weft_grad_to(c, 0, weft_grad_op_in(c, "ai.weft", "SegmentReduce", in, 4, &red, 1));
    return c->st;
}

/* GatherND's adjoint adds each gathered slice's gradient back where it came from: ScatterND(add) into
 * zeros of data's shape (repeated indices add up). */
static weft_status grad_gather_nd(weft_grad_ctx *c)
{
    if (weft_attr_int(c->node, "batch_dims", 0) != 0)
        return weft_grad_fail(c, WEFT_ERR_UNSUPPORTED, "batch_dims other than 0");
    int in[3] = {weft_grad_zeros_like(c, c->in[0], &c->in_shape[0]), c->in[1], weft_grad_dout(c, 0)};
    weft_attr red = weft_grad_attr_string("reduction", "add");
    weft_grad_to(c, 0, weft_grad_op(c, "ScatterND", in, 3, &red, 1));
    return c->st;
}

const weft_op_def weft_ops_gather[] = {
    {"Gather", "", 1, 0, 2, 2, 1, 1, 0, gather_infer, gather_run, 0, grad_gather},
    {"GatherElements", "", 11, 0, 2, 2, 1, 1, 0, gather_elements_infer, gather_elements_run},
    {"GatherND", "", 11, 0, 2, 2, 1, 1, 0, gather_nd_infer, gather_nd_run, 0, grad_gather_nd},
};
const int weft_ops_gather_count = sizeof weft_ops_gather / sizeof weft_ops_gather[0];
