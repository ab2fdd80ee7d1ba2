/*
 * ops/rnn_geom.h — where an ONNX recurrent op's tensors keep each step's values (ops/rnn.c runs RNN,
 * GRU and LSTM; ops/gru_grad.c runs GRU backwards through time over the same layouts).
 *
 * layout 0: X [seq, batch, input], Y [seq, dirs, batch, H], states [dirs, batch, H];
 * layout 1: X [batch, seq, input], Y [batch, seq, dirs, H], states [batch, dirs, H].
 * Offsets are in elements.
 */
#ifndef WEFT_OPS_RNN_GEOM_H
#define WEFT_OPS_RNN_GEOM_H

#include <stdbool.h>
#include <stdint.h>

#include "op.h"

typedef struct weft_rnn_geom {
    int64_t seq, batch, input, H, dirs;
    int layout;
} weft_rnn_geom;

static inline int64_t weft_rnn_x_off(const weft_rnn_geom *g, int64_t t, int64_t b)
{
    return (g->layout ? b * g->seq + t : t * g->batch + b) * g->input;
}
static inline int64_t weft_rnn_y_off(const weft_rnn_geom *g, int64_t t, int64_t d, int64_t b)
{
    return (g->layout ? (b * g->seq + t) * g->dirs + d : (t * g->dirs + d) * g->batch + b) * g->H;
}
static inline int64_t weft_rnn_state_off(const weft_rnn_geom *g, int64_t d, int64_t b)
{
    return (g->layout ? b * g->dirs + d : d * g->batch + b) * g->H;
}
/* The geometry of a run: X [seq, batch, input] (layout 0) or [batch, seq, input] (layout 1), H the
 * hidden_size attribute when given (>= 0), else R's last dim. */
static inline weft_rnn_geom weft_rnn_geom_of(const weft_tview *X, const weft_tview *R, int layout, int64_t hidden,
                                             int64_t dirs)
{
    weft_rnn_geom g = {X->dims[layout ? 1 : 0], X->dims[layout ? 0 : 1], X->dims[2], hidden >= 0 ? hidden : R->dims[2],
                       dirs, layout};
    return g;
}
/* The `clip` attribute: v limited to [-clip, clip] when the op has one. */
static inline double weft_rnn_clip(bool has_clip, double clip, double v)
{
    if (!has_clip) return v;
    return v < -clip ? -clip : v > clip ? clip : v;
}

#endif
