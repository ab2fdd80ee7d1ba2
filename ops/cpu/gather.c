/*
 * ops/cpu/gather.c — row gathers: ai.weft RowGather and ONNX Gather along axis 0 (any index shape:
 * along axis 0 the output is the indexed rows in index order).
 *
 * Pure data movement, so any fixed-size dtype is taken. Indices are checked first (in parallel for
 * long index lists), the first bad one reported with the reference's message, nothing written; then
 * output rows are copied in parallel ranges. Rows of 4 or 8 bytes (one feature) are copied as single
 * elements: a call to memcpy per element would cost more than the copy.
 */
#include <stdlib.h>
#include <string.h>

#include "kern.h"

typedef struct {
    const char *src;
    char *dst;
    const void *idx;
    bool wide;
    int64_t n, rows;   /* n: rows of data (for wrapping); rows: index entries */
    size_t rb;         /* bytes per row */
    int nt;
} gather_job;

static void gather_range(const gather_job *g, int64_t b, int64_t e)
{
    const size_t rb = g->rb;
    const int64_t n = g->n;
    /* v < 0 only for Gather (RowGather's indices are checked non-negative) */
#define ROWS(COPY)                                                                                 \
    for (int64_t i = b; i < e; i++) {                                                              \
        int64_t v = weft_cpu_ld(g->idx, g->wide, i);                                               \
        if (v < 0) v += n;                                                                         \
        COPY;                                                                                      \
    }
    if (rb == 4) {
        const uint32_t *s = (const uint32_t *)g->src;
        uint32_t *d = (uint32_t *)g->dst;
        ROWS(d[i] = s[v])
    } else if (rb == 8) {
        const uint64_t *s = (const uint64_t *)g->src;
        uint64_t *d = (uint64_t *)g->dst;
        ROWS(d[i] = s[v])
    } else {
        ROWS({
            if (i + WEFT_CPU_AHEAD < e) {
                int64_t w = weft_cpu_ld(g->idx, g->wide, i + WEFT_CPU_AHEAD);
                weft_cpu_prefetch_row(g->src + (size_t)(w < 0 ? w + n : w) * rb, rb);
            }
            memcpy(g->dst + (size_t)i * rb, g->src + (size_t)v * rb, rb);
        })
    }
#undef ROWS
}

static void gather_task(void *ctx, int t, int nt)
{
    gather_job *g = ctx;
    for (int part = t; part < g->nt; part += nt) {
        int64_t b, e;
        weft_cpu_part(g->rows, part, g->nt, &b, &e);
        gather_range(g, b, e);
    }
}

/* Copies rows idx[0..rows) of src (n rows of rb bytes) to dst; indices already checked. */
static void gather_rows(const weft_kernel_ctx *k, const void *src, int64_t n, size_t rb, const weft_tview *idx,
                        void *dst)
{
    if (rb == 0 || idx->numel == 0) return;
    gather_job g = {src, dst, idx->data, idx->dtype == WEFT_INT64, n, idx->numel, rb, 1};
    /* work in 4-byte units, plus one per row for the index */
    g.nt = weft_cpu_threads_for(k, idx->numel * (int64_t)(rb / 4 + 1));
    weft_cpu_parallel(g.nt, gather_task, &g);
}

static bool movable(weft_dtype t) { return t != WEFT_STRING && weft_dtype_size(t) > 0; }

static int64_t row_elems(const weft_tview *t)
{
    int64_t f = 1;
    for (int d = 1; d < t->rank; d++) f *= t->dims[d];
    return f;
}

/* --- RowGather ----------------------------------------------------------------------------------- */

static bool rowgather_supports(const weft_step_desc *s)
{
    return weft_cpu_is_op(s, "ai.weft", "RowGather") && s->n_in >= 2 && movable(s->in_dtype[0]) &&
           weft_cpu_index(s->in_dtype[1]);
}


static weft_status rowgather_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    const weft_tview *data = &k->in[0], *idx = &k->in[1];
    if (!movable(data->dtype) || !weft_cpu_index(idx->dtype) || data->rank < 1 || k->out[0].dtype != data->dtype)
        return p->def->run(k);
    int64_t n = data->dims[0];
    int64_t bad = weft_cpu_first_bad(idx->data, idx->dtype == WEFT_INT64, idx->numel, 0, n, weft_kthreads(k));
    if (bad >= 0)
        return weft_op_error(k->node, WEFT_ERR_INDEX, "index[%lld] = %lld is out of range [0, %lld)", (long long)bad,
                             (long long)weft_cpu_ld(idx->data, idx->dtype == WEFT_INT64, bad), (long long)n);
    gather_rows(k, data->data, n, (size_t)row_elems(data) * weft_dtype_size(data->dtype), idx, k->out[0].data);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_row_gather = {"ai.weft", "RowGather", rowgather_supports, weft_cpu_prepare_plain, rowgather_run,
                                            weft_cpu_prep_free};

/* --- Gather, axis 0 ------------------------------------------------------------------------------ */

static bool gather_supports(const weft_step_desc *s)
{
    if (!weft_cpu_is_op(s, "", "Gather") || s->n_in < 2) return false;
    if (!movable(s->in_dtype[0]) || !weft_cpu_index(s->in_dtype[1])) return false;
    int64_t axis = weft_attr_int(s->node, "axis", 0);
    int rank = s->in_shape[0].rank;
    return axis == 0 || (axis < 0 && rank > 0 && axis + rank == 0);
}

static weft_status gather_prepare(const weft_step_desc *s, void **prepared)
{
    weft_cpu_prep *p;
    weft_status st = weft_cpu_prep_new(s, &p);
    if (st) return st;
    p->axis = weft_attr_int(s->node, "axis", 0);
    *prepared = p;
    return WEFT_OK;
}

static weft_status gather_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    const weft_tview *data = &k->in[0], *idx = &k->in[1];
    int64_t axis = p->axis;
    if (!movable(data->dtype) || !weft_cpu_index(idx->dtype) || data->rank < 1 || k->out[0].dtype != data->dtype ||
        !(axis == 0 || axis + data->rank == 0))
        return p->def->run(k);
    int64_t n = data->dims[0];
    bool wide = idx->dtype == WEFT_INT64;
    int64_t bad = weft_cpu_first_bad(idx->data, wide, idx->numel, -n, n, weft_kthreads(k));
    if (bad >= 0) {
        int64_t v;
        return weft_index_fix(k->node, weft_cpu_ld(idx->data, wide, bad), 0, n, &v);
    }
    if (k->out[0].numel == 0) return WEFT_OK;
    gather_rows(k, data->data, n, (size_t)row_elems(data) * weft_dtype_size(data->dtype), idx, k->out[0].data);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_gather = {"", "Gather", gather_supports, gather_prepare, gather_run, weft_cpu_prep_free};
