/*
 * ops/weft_conv.c — ai.weft FusedConv (schemas/ai.weft.md): an ONNX Conv with its epilogue,
 * `out = act(Conv(X, W, B) + acc)`, which compiler/pass_conv_fusion.c makes of a Conv followed by a
 * residual Add and / or an activation.
 *
 * The reference kernel is the ONNX Conv's reference kernel (ops/conv.c, reached through the registry)
 * writing the output, then the epilogue in place: `+ acc` in T (the exported Add), then the activation
 * as the ONNX op of the same name computes it (ops/unary.c: in float64, rounded once to T; SiLU as
 * Mul(x, Sigmoid(x)): the sigmoid rounded to T, the product in T). So `ref` gives the unfused chain's
 * numbers bit for bit.
 */
#include <math.h>
#include <string.h>

#include "op.h"
#include "weft_conv.h"

#define DOMAIN "ai.weft"

static const struct {
    const char *name;
    int act;
} act_names[] = {
    {"", WEFT_CONV_ACT_NONE},          {"relu", WEFT_CONV_ACT_RELU},
    {"leaky_relu", WEFT_CONV_ACT_LEAKY_RELU}, {"clip", WEFT_CONV_ACT_CLIP},
    {"sigmoid", WEFT_CONV_ACT_SIGMOID},    {"hard_sigmoid", WEFT_CONV_ACT_HARD_SIGMOID},
    {"hard_swish", WEFT_CONV_ACT_HARD_SWISH}, {"silu", WEFT_CONV_ACT_SILU},
};

weft_status weft_conv_epilogue_read(const weft_node_info *n, weft_conv_epilogue *e)
{
    memset(e, 0, sizeof *e);
    const char *a = weft_attr_string(n, "activation", "");
    e->act = -1;
    for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++)
        if (strcmp(a, act_names[i].name) == 0) e->act = act_names[i].act;
    if (e->act < 0)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL,
                             "activation '%s' is not one of \"\", relu, leaky_relu, clip, sigmoid, hard_sigmoid, "
                             "hard_swish, silu",
                             a);
    switch (e->act) {
    case WEFT_CONV_ACT_LEAKY_RELU: e->alpha = weft_attr_float(n, "alpha", 0.01f); break;
    case WEFT_CONV_ACT_CLIP:
        e->alpha = weft_attr_float(n, "alpha", -INFINITY);
        e->beta = weft_attr_float(n, "beta", INFINITY);
        break;
    case WEFT_CONV_ACT_HARD_SIGMOID:
        e->alpha = weft_attr_float(n, "alpha", 0.2f);
        e->beta = weft_attr_float(n, "beta", 0.5f);
        break;
    default: break;
    }
    return WEFT_OK;
}

static inline double clamp01(double v) { return v < 0 ? 0.0 : v > 1 ? 1.0 : v; }
static inline double sigm(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        T *y = yp;                                                                                    \
        const T *c = accp;                                                                            \
        for (int64_t i = 0; i < n; i++) {                                                             \
            T v = y[i];                                                                               \
            if (c) v = v + c[i];                                                                      \
            double x = (double)v;                                                                     \
            switch (e->act) {                                                                         \
            case WEFT_CONV_ACT_RELU: v = (T)(x < 0 ? 0.0 : x); break;                                 \
            case WEFT_CONV_ACT_LEAKY_RELU: v = (T)(x < 0 ? e->alpha * x : x); break;                  \
            case WEFT_CONV_ACT_CLIP:                                                                  \
                if (x < e->alpha) x = e->alpha;                                                       \
                if (x > e->beta) x = e->beta;                                                         \
                v = (T)x;                                                                             \
                break;                                                                                \
            case WEFT_CONV_ACT_SIGMOID: v = (T)sigm(x); break;                                        \
            case WEFT_CONV_ACT_HARD_SIGMOID: v = (T)clamp01(e->alpha * x + e->beta); break;           \
            case WEFT_CONV_ACT_HARD_SWISH: v = (T)(x * clamp01(x / 6.0 + 0.5)); break;                \
            case WEFT_CONV_ACT_SILU: v = v * (T)sigm(x); break;                                       \
            default: break;                                                                           \
            }                                                                                         \
            y[i] = v;                                                                                 \
        }                                                                                             \
    }

void weft_conv_epilogue_apply(const weft_conv_epilogue *e, weft_dtype dt, void *yp, const void *accp, int64_t n)
{
    if (dt == WEFT_FLOAT32) WEFT_BODY(float)
    else if (dt == WEFT_FLOAT64) WEFT_BODY(double)
}
#undef WEFT_BODY

static const weft_op_def *conv_def(void)
{
    static const weft_op_def *d;
    if (!d) d = weft_op_find("", "Conv", 22);
    return d;
}

static weft_status fc_infer(weft_infer_ctx *c)
{
    const weft_node_info *n = c->node;
    weft_conv_epilogue e;
    weft_status st = weft_conv_epilogue_read(n, &e);
    if (st) return st;
    if (c->in_dtype[0] != WEFT_FLOAT32 && c->in_dtype[0] != WEFT_FLOAT64)
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported (float32, float64)",
                             weft_dtype_name(c->in_dtype[0]));
    weft_infer_ctx cc = *c;
    cc.n_in = c->n_in < 3 ? c->n_in : 3;
    if ((st = conv_def()->infer(&cc))) return st;
    if (weft_in_present(c, 3)) {
        if (c->in_dtype[3] != c->in_dtype[0])
            return weft_op_error(n, WEFT_ERR_TYPE, "input 3 (acc) is %s but input 0 is %s",
                                 weft_dtype_name(c->in_dtype[3]), weft_dtype_name(c->in_dtype[0]));
        const weft_shape *a = &c->in_shape[3], *y = &c->out_shape[0];
        if (a->rank >= 0 && y->rank >= 0) {
            bool ok = a->rank == y->rank;
            for (int i = 0; ok && i < a->rank; i++)
                if (weft_dim_known(a->d[i]) && weft_dim_known(y->d[i]) && a->d[i].v != y->d[i].v) ok = false;
            if (!ok) return weft_op_error(n, WEFT_ERR_SHAPE, "input 3 (acc) must have the output's shape");
        }
    }
    return WEFT_OK;
}

static weft_status fc_run(weft_kernel_ctx *k)
{
    weft_conv_epilogue e;
    weft_status st = weft_conv_epilogue_read(k->node, &e);
    if (st) return st;
    const weft_tview *acc = weft_kin_present(k, 3) ? &k->in[3] : NULL;
    if (acc) {
        bool ok = acc->rank == k->out[0].rank && acc->dtype == k->out[0].dtype;
        for (int i = 0; ok && i < acc->rank; i++) ok = acc->dims[i] == k->out[0].dims[i];
        if (!ok) return weft_op_error(k->node, WEFT_ERR_SHAPE, "input 3 (acc) must have the output's shape");
    }
    weft_kernel_ctx kc = *k;
    kc.n_in = k->n_in < 3 ? k->n_in : 3;
    if ((st = conv_def()->run(&kc))) return st;
    if (acc || e.act != WEFT_CONV_ACT_NONE)
        weft_conv_epilogue_apply(&e, k->out[0].dtype, k->out[0].data, acc ? acc->data : NULL, k->out[0].numel);
    return WEFT_OK;
}

const weft_op_def weft_ops_weft_conv[] = {
    {"FusedConv", DOMAIN, 1, 0, 2, 4, 1, 1, 0, fc_infer, fc_run, 0},
};
const int weft_ops_weft_conv_count = sizeof weft_ops_weft_conv / sizeof weft_ops_weft_conv[0];
