/*
 * ops/widen.c — float16 / bfloat16 kernels through float32: a kernel written for float and double runs
 * on widened copies of its half-precision operands, and the results are rounded back once. This is the
 * one place ops convert half precision for arithmetic; an op that must round after every step as its
 * own arithmetic would (ScatterElements' in-place reductions) asks weft_widened_out_dtype for the real
 * dtype and rounds with weft_round_to.
 */
#include <string.h>

#include "op.h"

static bool is_half(weft_dtype t) { return t == WEFT_FLOAT16 || t == WEFT_BFLOAT16; }
static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }
static void *no_scratch(void *user, size_t bytes) { return NULL; }

/* A widened body's context points `user` here (it has no scratch to ask for): the caller's context. */
typedef struct widened {
    const weft_kernel_ctx *outer;
} widened;

weft_dtype weft_widened_out_dtype(const weft_kernel_ctx *k, int o)
{
    if (k->scratch == no_scratch) return ((const widened *)k->user)->outer->out[o].dtype;
    return k->out[o].dtype;
}

float weft_round_to(weft_dtype t, float v)
{
    if (t == WEFT_FLOAT16) return weft_f16_to_f32(weft_f32_to_f16(v));
    if (t == WEFT_BFLOAT16) return weft_bf16_to_f32(weft_f32_to_bf16(v));
    return v;
}

/*
 * Runs `body` with `body_scratch` bytes of scratch. When an input or output is float16 / bfloat16 the
 * body sees float32 copies instead (one scratch block holds them all, so no pointer is invalidated by a
 * later scratch request) and the results are rounded back. The body must not call k->scratch itself.
 */
weft_status weft_math_run_widened(weft_kernel_ctx *k, size_t body_scratch, weft_math_body body)
{
    bool half = false;
    for (int i = 0; i < k->n_in; i++) half |= is_half(k->in[i].dtype);
    for (int i = 0; i < k->n_out; i++) half |= is_half(k->out[i].dtype);
    if (!half) {
        void *s = NULL;
        if (body_scratch && !(s = k->scratch(k->user, body_scratch)))
            return weft_op_error(k->node, WEFT_ERR_NOMEM, "cannot allocate %zu bytes of scratch", body_scratch);
        return body(k, s);
    }
    enum { MAXT = 16 };
    if (k->n_in > MAXT || k->n_out > MAXT)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "too many inputs or outputs");
    size_t total = round8(body_scratch);
    for (int pass = 0; pass < 2; pass++) {
        const weft_tview *v = pass ? k->out : k->in;
        for (int i = 0; i < (pass ? k->n_out : k->n_in); i++) {
            if (!is_half(v[i].dtype)) continue;
            if ((uint64_t)v[i].numel > (SIZE_MAX - total) / 8)
                return weft_op_error(k->node, WEFT_ERR_NOMEM, "tensor too large to widen");
            total += round8((size_t)v[i].numel * sizeof(float));
        }
    }
    char *base = k->scratch(k->user, total ? total : 1);
    if (!base) return weft_op_error(k->node, WEFT_ERR_NOMEM, "cannot allocate %zu bytes of scratch", total);
    weft_tview in[MAXT], out[MAXT];
    memcpy(in, k->in, sizeof in[0] * (size_t)k->n_in);
    memcpy(out, k->out, sizeof out[0] * (size_t)k->n_out);
    char *p = base + round8(body_scratch);
    for (int i = 0; i < k->n_in; i++) {
        if (!is_half(in[i].dtype)) continue;
        float *f = (float *)p;
        for (int64_t j = 0; j < in[i].numel; j++) f[j] = (float)weft_load_f64(in[i].dtype, in[i].data, j);
        in[i].data = f;
        in[i].dtype = WEFT_FLOAT32;
        p += round8((size_t)in[i].numel * sizeof(float));
    }
    for (int i = 0; i < k->n_out; i++) {
        if (!is_half(out[i].dtype)) continue;
        out[i].data = p;
        out[i].dtype = WEFT_FLOAT32;
        p += round8((size_t)out[i].numel * sizeof(float));
    }
    widened w = {k};
    weft_kernel_ctx sk = *k;
    sk.in = in;
    sk.out = out;
    sk.scratch = no_scratch;
    sk.user = &w;
    weft_status st = body(&sk, body_scratch ? base : NULL);
    if (st) return st;
    for (int i = 0; i < k->n_out; i++) {
        if (!is_half(k->out[i].dtype)) continue;
        const float *f = out[i].data;
        for (int64_t j = 0; j < k->out[i].numel; j++) weft_store_f64(k->out[i].dtype, k->out[i].data, j, f[j]);
    }
    return WEFT_OK;
}

