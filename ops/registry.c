/* ops/registry.c — every operator weft knows, by family. Add a family here and in op.h's list. */
#include <string.h>

#include "op.h"

WEFT_OP_FAMILY(unary)
WEFT_OP_FAMILY(binary)
WEFT_OP_FAMILY(movement)
WEFT_OP_FAMILY(gather)
WEFT_OP_FAMILY(scatter)
WEFT_OP_FAMILY(index)
WEFT_OP_FAMILY(reduce)
WEFT_OP_FAMILY(linalg)
WEFT_OP_FAMILY(norm)
WEFT_OP_FAMILY(rnn)
WEFT_OP_FAMILY(gru_grad)
WEFT_OP_FAMILY(control)
WEFT_OP_FAMILY(weft)
WEFT_OP_FAMILY(pool)
WEFT_OP_FAMILY(conv)
WEFT_OP_FAMILY(loss)
WEFT_OP_FAMILY(optim)
WEFT_OP_FAMILY(resize)
WEFT_OP_FAMILY(attention)
WEFT_OP_FAMILY(nms)
WEFT_OP_FAMILY(grid_sample)
WEFT_OP_FAMILY(signal_window)
WEFT_OP_FAMILY(einsum)
WEFT_OP_FAMILY(cumulative)
WEFT_OP_FAMILY(rotary)
WEFT_OP_FAMILY(lrn)
WEFT_OP_FAMILY(reverse_sequence)
WEFT_OP_FAMILY(det)
WEFT_OP_FAMILY(center_crop_pad)
WEFT_OP_FAMILY(unpool)
WEFT_OP_FAMILY(binarizer)
WEFT_OP_FAMILY(weft_graph)
WEFT_OP_FAMILY(weft_dense)
WEFT_OP_FAMILY(weft_conv)
WEFT_OP_FAMILY(weft_layout)
WEFT_OP_FAMILY(weft_attention)

static const struct {
    const weft_op_def *defs;
    const int *count;
} families[] = {
    {weft_ops_unary, &weft_ops_unary_count},     {weft_ops_binary, &weft_ops_binary_count},
    {weft_ops_movement, &weft_ops_movement_count}, {weft_ops_gather, &weft_ops_gather_count},
    {weft_ops_scatter, &weft_ops_scatter_count}, {weft_ops_index, &weft_ops_index_count},
    {weft_ops_reduce, &weft_ops_reduce_count},   {weft_ops_linalg, &weft_ops_linalg_count},
    {weft_ops_norm, &weft_ops_norm_count},       {weft_ops_rnn, &weft_ops_rnn_count},
    {weft_ops_gru_grad, &weft_ops_gru_grad_count},
    {weft_ops_control, &weft_ops_control_count},   {weft_ops_weft, &weft_ops_weft_count},
    {weft_ops_pool, &weft_ops_pool_count},       {weft_ops_conv, &weft_ops_conv_count},
    {weft_ops_loss, &weft_ops_loss_count},       {weft_ops_resize, &weft_ops_resize_count},
    {weft_ops_optim, &weft_ops_optim_count},
    {weft_ops_attention, &weft_ops_attention_count},
    {weft_ops_nms, &weft_ops_nms_count}, {weft_ops_grid_sample, &weft_ops_grid_sample_count},
    {weft_ops_signal_window, &weft_ops_signal_window_count}, {weft_ops_einsum, &weft_ops_einsum_count},
    {weft_ops_cumulative, &weft_ops_cumulative_count}, {weft_ops_rotary, &weft_ops_rotary_count},
    {weft_ops_lrn, &weft_ops_lrn_count}, {weft_ops_reverse_sequence, &weft_ops_reverse_sequence_count},
    {weft_ops_det, &weft_ops_det_count}, {weft_ops_center_crop_pad, &weft_ops_center_crop_pad_count},
    {weft_ops_unpool, &weft_ops_unpool_count}, {weft_ops_binarizer, &weft_ops_binarizer_count},
    {weft_ops_weft_graph, &weft_ops_weft_graph_count}, {weft_ops_weft_dense, &weft_ops_weft_dense_count},
    {weft_ops_weft_conv, &weft_ops_weft_conv_count}, {weft_ops_weft_layout, &weft_ops_weft_layout_count},
    {weft_ops_weft_attention, &weft_ops_weft_attention_count},
};

const weft_op_def *weft_op_at(int i)
{
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        if (i < *families[f].count) return &families[f].defs[i];
        i -= *families[f].count;
    }
    return NULL;
}

static bool same_domain(const char *a, const char *b)
{
    /* "ai.onnx" and "" name the same default domain. */
    if (!a || strcmp(a, "ai.onnx") == 0) a = "";
    if (!b || strcmp(b, "ai.onnx") == 0) b = "";
    return strcmp(a, b) == 0;
}

const weft_op_def *weft_op_find(const char *domain, const char *name, int opset)
{
    const weft_op_def *d;
    for (int i = 0; (d = weft_op_at(i)); i++)
        if (strcmp(d->name, name) == 0 && same_domain(d->domain, domain) && opset >= d->since_version &&
            (d->until_version == 0 || opset <= d->until_version))
            return d;
    return NULL;
}

bool weft_op_known(const char *domain, const char *name)
{
    const weft_op_def *d;
    for (int i = 0; (d = weft_op_at(i)); i++)
        if (strcmp(d->name, name) == 0 && same_domain(d->domain, domain)) return true;
    return false;
}
