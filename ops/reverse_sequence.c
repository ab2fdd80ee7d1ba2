/*
 * ops/reverse_sequence.c — ReverseSequence: the first sequence_lens[b] steps of each batch entry reversed.
 * It only moves elements, so it copies them by size and serves every dtype.
 */
#include <string.h>

#include "op.h"

static weft_status revseq_axes(const weft_node_info *n, int rank, int *ta, int *ba)
{
    int64_t t = weft_attr_int(n, "time_axis", 0), b = weft_attr_int(n, "batch_axis", 1);
    if (rank < 2) return weft_op_error(n, WEFT_ERR_SHAPE, "input must have rank >= 2");
    if (!((t == 0 && b == 1) || (t == 1 && b == 0)))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "time_axis / batch_axis must be 0 / 1 or 1 / 0 (got %lld / %lld)",
                             (long long)t, (long long)b);
    *ta = (int)t;
    *ba = (int)b;
    return WEFT_OK;
}

static weft_status revseq_infer(weft_infer_ctx *c)
{
    weft_status st = weft_infer_need_index(c, 1, "sequence_lens");
    if (st) return st;
    if (c->in_shape[0].rank >= 0) {
        int ta, ba;
        if ((st = revseq_axes(c->node, c->in_shape[0].rank, &ta, &ba))) return st;
    }
    if (c->in_shape[1].rank >= 0 && c->in_shape[1].rank != 1)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "sequence_lens must be a vector");
    return weft_infer_same_as_input0(c);
}

static weft_status revseq_run(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0], *lens = &k->in[1];
    int ta = 0, ba = 0;
    weft_status st = revseq_axes(k->node, x->rank, &ta, &ba);
    if (st) return st;
    int64_t T = x->dims[ta], B = x->dims[ba], inner = 1;
    for (int d = 2; d < x->rank; d++) inner *= x->dims[d];
    if (lens->numel != B)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "sequence_lens has %lld values for batch %lld", (long long)lens->numel,
                             (long long)B);
    size_t es = weft_dtype_size(x->dtype);
    for (int64_t b = 0; b < B; b++) {
        int64_t L = weft_load_i64(lens->dtype, lens->data, b);
        if (L < 0 || L > T)
            return weft_op_error(k->node, WEFT_ERR_INDEX, "sequence_lens[%lld] = %lld is outside [0, %lld] (time axis %d)",
                                 (long long)b, (long long)L, (long long)T, ta);
        for (int64_t t = 0; t < T; t++) {
            int64_t src = t < L ? L - 1 - t : t;
            int64_t o = ta == 0 ? (t * B + b) : (b * T + t), i = ta == 0 ? (src * B + b) : (b * T + src);
            memcpy((char *)k->out[0].data + (size_t)(o * inner) * es, (const char *)x->data + (size_t)(i * inner) * es,
                   (size_t)inner * es);
        }
    }
    return WEFT_OK;
}

const weft_op_def weft_ops_reverse_sequence[] = {
    {"ReverseSequence", "", 10, 0, 2, 2, 1, 1, 0, revseq_infer, revseq_run},
};
const int weft_ops_reverse_sequence_count = sizeof weft_ops_reverse_sequence / sizeof weft_ops_reverse_sequence[0];
