/*
 * ops/signal_window.c — the window functions of signal processing (HannWindow, HammingWindow,
 * BlackmanWindow), computed in double. (Pooling's sliding-window geometry is ops/window.h.)
 */
#include <math.h>

#include "op.h"

/* w[n] for n in [0, size) over D = size (periodic) or size - 1 (symmetric), in output_datatype. */
static weft_status window_infer(weft_infer_ctx *c)
{
    const weft_node_info *n = c->node;
    weft_status st = weft_infer_need_index(c, 0, "size");
    if (st) return st;
    if (c->in_shape[0].rank > 0 && !(c->in_shape[0].rank == 1 && weft_dim_known(c->in_shape[0].d[0]) && c->in_shape[0].d[0].v == 1))
        return weft_op_error(n, WEFT_ERR_SHAPE, "size must be a scalar");
    int64_t odt = weft_attr_int(n, "output_datatype", WEFT_FLOAT32);
    weft_dtype dt = (weft_dtype)odt;
    if (odt < 0 || odt > 64 || (!weft_dtype_is_float(dt) && !weft_dtype_is_integer(dt)))
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "output_datatype %lld is not supported", (long long)odt);
    c->out_dtype[0] = dt;
    c->out_shape[0].rank = 1;
    int64_t size;
    int cnt = weft_infer_int_values(c, 0, &size, 1);
    if (cnt == -2) return WEFT_ERR_SHAPE;
    if (cnt < 0) { c->out_shape[0].d[0] = weft_dim_unknown(c); return WEFT_OK; }
    if (cnt != 1 || size < 0 || size > ((int64_t)1 << 40))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "size must be one value >= 0");
    c->out_shape[0].d[0] = weft_dim_num(size);
    return WEFT_OK;
}

enum { SW_HANN, SW_HAMMING, SW_BLACKMAN };

/* The kernel of the three windows; `kind` comes from the op's own wrapper below (no lookup of its type
 * name). */
static weft_status window_run(weft_kernel_ctx *k, int kind)
{
    weft_tview *y = &k->out[0];
    int64_t N = y->numel;
    double D = weft_attr_int(k->node, "periodic", 1) ? (double)N : (double)(N - 1);
    for (int64_t i = 0; i < N; i++) {
        double t = 2 * M_PI * (double)i / D, v;
        if (kind == SW_HANN) v = 0.5 - 0.5 * cos(t);
        else if (kind == SW_HAMMING) v = 25.0 / 46.0 - (1 - 25.0 / 46.0) * cos(t);
        else v = 0.42 - 0.5 * cos(t) + 0.08 * cos(2 * t);
        weft_store_f64(y->dtype, y->data, i, v);
    }
    return WEFT_OK;
}

static weft_status hann_run(weft_kernel_ctx *k) { return window_run(k, SW_HANN); }
static weft_status hamming_run(weft_kernel_ctx *k) { return window_run(k, SW_HAMMING); }
static weft_status blackman_run(weft_kernel_ctx *k) { return window_run(k, SW_BLACKMAN); }

const weft_op_def weft_ops_signal_window[] = {
    {"HannWindow", "", 17, 0, 1, 1, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, window_infer, hann_run},
    {"HammingWindow", "", 17, 0, 1, 1, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, window_infer, hamming_run},
    {"BlackmanWindow", "", 17, 0, 1, 1, 1, 1, WEFT_OP_VALUE_DEPENDENT_SHAPE, window_infer, blackman_run},
};
const int weft_ops_signal_window_count = sizeof weft_ops_signal_window / sizeof weft_ops_signal_window[0];
