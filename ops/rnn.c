/*
 * ops/rnn.c — the recurrent operators RNN, GRU and LSTM (ONNX opsets 7-22).
 *
 * Inputs   X [seq, batch, input] (layout 1: [batch, seq, input]), W [dirs, G*H, input],
 *          R [dirs, G*H, H], B [dirs, 2*G*H] (W biases then R biases), sequence_lens [batch],
 *          initial_h [dirs, batch, H] (layout 1: [batch, dirs, H]); LSTM also initial_c (as initial_h)
 *          and P [dirs, 3*H] (peepholes i, o, f).
 * Outputs  Y [seq, dirs, batch, H] (layout 1: [batch, seq, dirs, H]), Y_h and Y_c (as initial_h).
 * G is the number of gates: 1 (RNN), 3 (GRU: z, r, h), 4 (LSTM: i, o, f, c).
 *
 * One generic kernel serves the three ops. Batch entries are independent, so the kernel walks each
 * (direction, batch) pair through its own sequence length: steps past the length leave Y at zero and
 * the state untouched. A batch entry whose length is 0 gets zeros in Y_h and Y_c as well, as ONNX
 * Runtime does. The reverse direction reads each sequence backwards from its own last valid step.
 *
 * Dot products accumulate in double whatever T is, so float32 results are as close to the exact
 * value as the storage type allows.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "grad.h"
#include "op.h"
#include "rnn_geom.h"

enum { RNN_KIND_RNN, RNN_KIND_GRU, RNN_KIND_LSTM };

/* --- activations --------------------------------------------------------------------------------- */

typedef enum {
    ACT_SIGMOID,
    ACT_TANH,
    ACT_RELU,
    ACT_HARDSIGMOID,
    ACT_AFFINE,
    ACT_LEAKYRELU,
    ACT_THRESHOLDEDRELU,
    ACT_SCALEDTANH,
    ACT_ELU,
    ACT_SOFTSIGN,
    ACT_SOFTPLUS
} act_kind;

typedef struct {
    act_kind kind;
    double alpha, beta;
} act_fn;

/* Names as ONNX spells them; defaults of alpha / beta are those of the ONNX operator of the same name.
 * `uses_alpha` / `uses_beta`: whether the function takes a value from activation_alpha / activation_beta. */
static const struct {
    const char *name;
    act_kind kind;
    int uses_alpha, uses_beta;
    double alpha, beta;
} act_table[] = {
    {"Sigmoid", ACT_SIGMOID, 0, 0, 0, 0},
    {"Tanh", ACT_TANH, 0, 0, 0, 0},
    {"Relu", ACT_RELU, 0, 0, 0, 0},
    {"HardSigmoid", ACT_HARDSIGMOID, 1, 1, 0.2, 0.5},
    {"Affine", ACT_AFFINE, 1, 1, 1.0, 0.0},
    {"LeakyRelu", ACT_LEAKYRELU, 1, 0, 0.01, 0},
    {"ThresholdedRelu", ACT_THRESHOLDEDRELU, 1, 0, 1.0, 0},
    {"ScaledTanh", ACT_SCALEDTANH, 1, 1, 1.0, 1.0},
    {"Elu", ACT_ELU, 1, 0, 1.0, 0},
    {"Softsign", ACT_SOFTSIGN, 0, 0, 0, 0},
    {"Softplus", ACT_SOFTPLUS, 0, 0, 0, 0},
};

static double act_apply(const act_fn *f, double x)
{
    switch (f->kind) {
    case ACT_SIGMOID:
        /* Two forms so that exp never overflows. */
        if (x >= 0) return 1.0 / (1.0 + exp(-x));
        { double e = exp(x); return e / (1.0 + e); }
    case ACT_TANH: return tanh(x);
    case ACT_RELU: return x > 0 ? x : 0.0;
    case ACT_HARDSIGMOID: {
        double v = f->alpha * x + f->beta;
        return v < 0 ? 0.0 : v > 1 ? 1.0 : v;
    }
    case ACT_AFFINE: return f->alpha * x + f->beta;
    case ACT_LEAKYRELU: return x < 0 ? f->alpha * x : x;
    case ACT_THRESHOLDEDRELU: return x > f->alpha ? x : 0.0;
    case ACT_SCALEDTANH: return f->alpha * tanh(f->beta * x);
    case ACT_ELU: return x < 0 ? f->alpha * (exp(x) - 1.0) : x;
    case ACT_SOFTSIGN: return x / (1.0 + fabs(x));
    case ACT_SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    }
    return x;
}

/* --- attributes ---------------------------------------------------------------------------------- */

#define RNN_MAX_ACTS 6 /* 3 per direction (LSTM), 2 directions */

typedef struct {
    int kind;         /* RNN_KIND_* */
    int gates;        /* G */
    int n_act;        /* activations per direction */
    int dirs;         /* 1 or 2 */
    bool reverse;     /* direction == "reverse" */
    int layout;       /* 0 or 1 */
    int64_t hidden;   /* H, or -1 when not given and not yet known */
    bool has_clip;
    double clip;
    int linear_before_reset; /* GRU */
    int input_forget;        /* LSTM */
    act_fn act[RNN_MAX_ACTS];
} rnn_attrs;

/* Reads and checks every attribute of an op of `kind` (RNN_KIND_*, passed by the op's own wrappers at
 * the end, so no type name is looked up). Used by both infer and run (attributes are cheap to re-read,
 * and it keeps the kernel free of assumptions about what infer saw). */
static weft_status read_attrs(const weft_node_info *n, int kind, rnn_attrs *a)
{
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->gates = a->kind == RNN_KIND_RNN ? 1 : a->kind == RNN_KIND_GRU ? 3 : 4;
    a->n_act = a->kind == RNN_KIND_RNN ? 1 : a->kind == RNN_KIND_GRU ? 2 : 3;

    const weft_attr *at = weft_attr_find(n, "direction");
    const char *dir = "forward";
    if (at) {
        if (at->type != WEFT_ATTR_STRING)
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'direction' must be a string");
        dir = at->s;
    }
    if (strcmp(dir, "forward") == 0) a->dirs = 1;
    else if (strcmp(dir, "reverse") == 0) { a->dirs = 1; a->reverse = true; }
    else if (strcmp(dir, "bidirectional") == 0) a->dirs = 2;
    else
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL,
                             "attribute 'direction' is '%s'; expected forward, reverse or bidirectional", dir);

    int64_t layout = weft_attr_int(n, "layout", 0);
    if (layout != 0 && layout != 1)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'layout' is %lld; expected 0 or 1",
                             (long long)layout);
    if (layout == 1 && n->opset < 14)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL,
                             "attribute 'layout' exists from opset 14; this model uses opset %d", n->opset);
    a->layout = (int)layout;

    at = weft_attr_find(n, "hidden_size");
    a->hidden = -1;
    if (at) {
        if (at->type != WEFT_ATTR_INT)
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'hidden_size' must be an int");
        /* The bound keeps G*H, 2*G*H and the scratch size far from overflowing int64 / size_t. */
        if (at->i <= 0 || at->i > ((int64_t)1 << 40))
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'hidden_size' is %lld; expected 1..2^40",
                                 (long long)at->i);
        a->hidden = at->i;
    }

    at = weft_attr_find(n, "clip");
    if (at) {
        if (at->type != WEFT_ATTR_FLOAT && at->type != WEFT_ATTR_INT)
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'clip' must be a float");
        double c = weft_attr_float(n, "clip", 0);
        if (!(c >= 0))
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'clip' is %g; expected a value >= 0", c);
        a->has_clip = true;
        a->clip = c;
    }

    if (a->kind == RNN_KIND_GRU) {
        int64_t v = weft_attr_int(n, "linear_before_reset", 0);
        if (v != 0 && v != 1)
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'linear_before_reset' is %lld; expected 0 or 1",
                                 (long long)v);
        a->linear_before_reset = (int)v;
    }
    if (a->kind == RNN_KIND_LSTM) {
        int64_t v = weft_attr_int(n, "input_forget", 0);
        if (v != 0 && v != 1)
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'input_forget' is %lld; expected 0 or 1",
                                 (long long)v);
        a->input_forget = (int)v;
    }

    /* Activations: n_act per direction, forward's first. Defaults: RNN Tanh; GRU Sigmoid, Tanh; LSTM
     * Sigmoid, Tanh, Tanh. */
    int total = a->n_act * a->dirs;
    at = weft_attr_find(n, "activations");
    if (!at) {
        for (int d = 0; d < a->dirs; d++)
            for (int j = 0; j < a->n_act; j++)
                a->act[d * a->n_act + j].kind = (a->kind != RNN_KIND_RNN && j == 0) ? ACT_SIGMOID : ACT_TANH;
        return WEFT_OK;
    }
    if (at->type != WEFT_ATTR_STRINGS)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'activations' must be a list of strings");
    if (at->n != total)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL,
                             "attribute 'activations' has %d entries; %s with %d direction(s) needs %d", at->n,
                             n->op_type, a->dirs, total);
    /* activation_alpha / activation_beta are consumed in order, one value per function that takes the
     * parameter (as ONNX Runtime reads them); a function past the end of the list keeps its default. */
    const float *alphas = NULL, *betas = NULL;
    int n_alpha = weft_attr_floats(n, "activation_alpha", &alphas);
    int n_beta = weft_attr_floats(n, "activation_beta", &betas);
    int ia = 0, ib = 0;
    for (int i = 0; i < total; i++) {
        const char *name = at->strings[i] ? at->strings[i] : "";
        size_t k = 0, nk = sizeof act_table / sizeof act_table[0];
        while (k < nk && strcasecmp(act_table[k].name, name) != 0) k++;
        if (k == nk)
            return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "activation '%s' (entry %d) is not supported", name, i);
        a->act[i].kind = act_table[k].kind;
        a->act[i].alpha = act_table[k].alpha;
        a->act[i].beta = act_table[k].beta;
        if (act_table[k].uses_alpha && ia < n_alpha) a->act[i].alpha = alphas[ia++];
        if (act_table[k].uses_beta && ib < n_beta) a->act[i].beta = betas[ib++];
    }
    return WEFT_OK;
}

/* --- inference ----------------------------------------------------------------------------------- */

enum { IN_X, IN_W, IN_R, IN_B, IN_SEQ, IN_H0, IN_C0, IN_P };
static const char *const in_names[] = {"X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"};

/* Checks dimension `ax` of input `i` against `want` when both are numbers (symbols are checked when they
 * are bound to numbers, at run time). */
static weft_status check_dim(weft_infer_ctx *c, int i, int ax, weft_dim want, const char *what)
{
    weft_dim got = c->in_shape[i].d[ax];
    if (weft_dim_known(got) && weft_dim_known(want) && got.v != want.v)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %s: dimension %d is %lld; expected %lld (%s)",
                             in_names[i], ax, (long long)got.v, (long long)want.v, what);
    return WEFT_OK;
}

static weft_status check_rank(weft_infer_ctx *c, int i, int rank)
{
    if (c->in_shape[i].rank >= 0 && c->in_shape[i].rank != rank)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %s has rank %d; expected %d", in_names[i],
                             c->in_shape[i].rank, rank);
    return WEFT_OK;
}

static weft_status rnn_infer(weft_infer_ctx *c, int kind)
{
    rnn_attrs a;
    weft_status st = read_attrs(c->node, kind, &a);
    if (st) return st;
    int max_in = a.kind == RNN_KIND_LSTM ? 8 : 6;
    if (c->n_in > max_in)
        return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "%d inputs given; at most %d", c->n_in, max_in);
    for (int i = 0; i < 3; i++)
        if (!weft_in_present(c, i))
            return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "input %s is required", in_names[i]);

    weft_dtype t = c->in_dtype[IN_X];
    if (t != WEFT_FLOAT32 && t != WEFT_FLOAT64)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input X: dtype %s is not supported (float, double)",
                             weft_dtype_name(t));
    for (int i = 1; i < c->n_in; i++) {
        if (!weft_in_present(c, i)) continue;
        if (i == IN_SEQ) {
            if (c->in_dtype[i] != WEFT_INT32 && c->in_dtype[i] != WEFT_INT64)
                return weft_op_error(c->node, WEFT_ERR_TYPE, "input sequence_lens: dtype %s; expected int32",
                                     weft_dtype_name(c->in_dtype[i]));
        } else if (c->in_dtype[i] != t) {
            return weft_op_error(c->node, WEFT_ERR_TYPE, "input %s: dtype %s differs from X's %s", in_names[i],
                                 weft_dtype_name(c->in_dtype[i]), weft_dtype_name(t));
        }
    }

    static const int ranks[] = {3, 3, 3, 2, 1, 3, 3, 2};
    for (int i = 0; i < c->n_in; i++)
        if (weft_in_present(c, i) && (st = check_rank(c, i, ranks[i]))) return st;

    /* hidden_size: the attribute, else R's last dimension. */
    if (a.hidden < 0) {
        if (c->in_shape[IN_R].rank == 3 && weft_dim_known(c->in_shape[IN_R].d[2]) && c->in_shape[IN_R].d[2].v > 0 &&
            c->in_shape[IN_R].d[2].v <= ((int64_t)1 << 40))
            a.hidden = c->in_shape[IN_R].d[2].v;
        else
            return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL,
                                 "attribute 'hidden_size' is missing and R's last dimension is not a known size");
    }
    int64_t H = a.hidden, G = a.gates;
    weft_dim dirs = weft_dim_num(a.dirs), gh = weft_dim_num(G * H), h = weft_dim_num(H);

    weft_dim seq = {0, -1}, batch = {0, -1}, input = {0, -1};
    bool x_rank_known = c->in_shape[IN_X].rank == 3;
    if (x_rank_known) {
        seq = c->in_shape[IN_X].d[a.layout ? 1 : 0];
        batch = c->in_shape[IN_X].d[a.layout ? 0 : 1];
        input = c->in_shape[IN_X].d[2];
    } else {
        seq = weft_dim_unknown(c);
        batch = weft_dim_unknown(c);
        input = weft_dim_unknown(c);
    }

    if (c->in_shape[IN_W].rank == 3) {
        if ((st = check_dim(c, IN_W, 0, dirs, "number of directions")) ||
            (st = check_dim(c, IN_W, 1, gh, "gates * hidden_size")) ||
            (st = check_dim(c, IN_W, 2, input, "X's input size")))
            return st;
    }
    if (c->in_shape[IN_R].rank == 3) {
        if ((st = check_dim(c, IN_R, 0, dirs, "number of directions")) ||
            (st = check_dim(c, IN_R, 1, gh, "gates * hidden_size")) ||
            (st = check_dim(c, IN_R, 2, h, "hidden_size")))
            return st;
    }
    if (weft_in_present(c, IN_B) && c->in_shape[IN_B].rank == 2) {
        if ((st = check_dim(c, IN_B, 0, dirs, "number of directions")) ||
            (st = check_dim(c, IN_B, 1, weft_dim_num(2 * G * H), "2 * gates * hidden_size")))
            return st;
    }
    if (weft_in_present(c, IN_SEQ) && c->in_shape[IN_SEQ].rank == 1 &&
        (st = check_dim(c, IN_SEQ, 0, batch, "batch size")))
        return st;
    for (int i = IN_H0; i <= IN_C0; i++) {
        if (!weft_in_present(c, i) || c->in_shape[i].rank != 3) continue;
        if ((st = check_dim(c, i, a.layout ? 1 : 0, dirs, "number of directions")) ||
            (st = check_dim(c, i, a.layout ? 0 : 1, batch, "batch size")) ||
            (st = check_dim(c, i, 2, h, "hidden_size")))
            return st;
    }
    if (weft_in_present(c, IN_P) && c->in_shape[IN_P].rank == 2) {
        if ((st = check_dim(c, IN_P, 0, dirs, "number of directions")) ||
            (st = check_dim(c, IN_P, 1, weft_dim_num(3 * H), "3 * hidden_size")))
            return st;
    }

    int max_out = a.kind == RNN_KIND_LSTM ? 3 : 2;
    if (c->n_out > max_out)
        return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "%d outputs; at most %d", c->n_out, max_out);
    for (int o = 0; o < c->n_out; o++) {
        c->out_dtype[o] = t;
        weft_shape *s = &c->out_shape[o];
        if (o == 0) {
            s->rank = 4;
            if (a.layout) { s->d[0] = batch; s->d[1] = seq; s->d[2] = dirs; }
            else { s->d[0] = seq; s->d[1] = dirs; s->d[2] = batch; }
            s->d[3] = h;
        } else {
            s->rank = 3;
            if (a.layout) { s->d[0] = batch; s->d[1] = dirs; }
            else { s->d[0] = dirs; s->d[1] = batch; }
            s->d[2] = h;
        }
    }
    return WEFT_OK;
}

/* --- kernel -------------------------------------------------------------------------------------- */

static weft_status rnn_run(weft_kernel_ctx *k, int kind)
{
    rnn_attrs a;
    weft_status st = read_attrs(k->node, kind, &a);
    if (st) return st;
    const weft_tview *X = &k->in[IN_X], *W = &k->in[IN_W], *R = &k->in[IN_R];
    if (X->rank != 3 || W->rank != 3 || R->rank != 3)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "X, W and R must have rank 3");
    weft_rnn_geom g = weft_rnn_geom_of(X, R, a.layout, a.hidden, a.dirs);
    const int64_t H = g.H, G = a.gates;
    /* infer checked these when the shapes were symbolic only as far as they were known: check again. */
    if (W->dims[0] != g.dirs || W->dims[1] != G * H || W->dims[2] != g.input || R->dims[0] != g.dirs ||
        R->dims[1] != G * H || R->dims[2] != H)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "W or R does not match X, the direction and hidden_size");

    /* Element counts of a state [dirs, batch, H] and of Y. X may be empty (input size 0) with any seq and
     * batch, so these products are not bounded by any buffer: check them. */
    int64_t state_n, y_n;
    if (__builtin_mul_overflow(g.dirs * H, g.batch, &state_n) || __builtin_mul_overflow(state_n, g.seq, &y_n))
        return weft_op_error(k->node, WEFT_ERR_NOMEM, "output size overflows (seq %lld, batch %lld, hidden %lld)",
                             (long long)g.seq, (long long)g.batch, (long long)H);

    const weft_tview *B = weft_kin_present(k, IN_B) ? &k->in[IN_B] : NULL;
    const weft_tview *SL = weft_kin_present(k, IN_SEQ) ? &k->in[IN_SEQ] : NULL;
    const weft_tview *H0 = weft_kin_present(k, IN_H0) ? &k->in[IN_H0] : NULL;
    const weft_tview *C0 = a.kind == RNN_KIND_LSTM && weft_kin_present(k, IN_C0) ? &k->in[IN_C0] : NULL;
    const weft_tview *P = a.kind == RNN_KIND_LSTM && weft_kin_present(k, IN_P) ? &k->in[IN_P] : NULL;
    if ((B && B->numel != g.dirs * 2 * G * H) || (SL && SL->numel != g.batch) ||
        (H0 && H0->numel != state_n) || (C0 && C0->numel != state_n) ||
        (P && P->numel != g.dirs * 3 * H))
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "an optional input's size does not match X and hidden_size");

    /* Sequence lengths are indices into the time axis: check every one before touching any output. */
    if (SL) {
        for (int64_t b = 0; b < g.batch; b++) {
            int64_t L = weft_load_i64(SL->dtype, SL->data, b);
            if (L < 0 || L > g.seq)
                return weft_op_error(k->node, WEFT_ERR_INDEX,
                                     "sequence_lens[%lld] is %lld; expected 0..%lld (the sequence axis's size)",
                                     (long long)b, (long long)L, (long long)g.seq);
        }
    }

    weft_tview *Y = k->n_out > 0 && k->out[0].data ? &k->out[0] : NULL;
    weft_tview *YH = k->n_out > 1 && k->out[1].data ? &k->out[1] : NULL;
    weft_tview *YC = a.kind == RNN_KIND_LSTM && k->n_out > 2 && k->out[2].data ? &k->out[2] : NULL;
    if ((Y && Y->numel != y_n) || (YH && YH->numel != state_n) || (YC && YC->numel != state_n))
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output buffers do not match the inferred shapes");

    /* Scratch: gate pre-activations [G*H], state h and c [H each], and one more [H] row for the GRU's
     * candidate and the LSTM's new cell. All in double: the arithmetic is done there anyway. */
    size_t per = (size_t)(G + 3);
    if ((uint64_t)H > SIZE_MAX / sizeof(double) / per)
        return weft_op_error(k->node, WEFT_ERR_NOMEM, "hidden_size %lld is too large", (long long)H);
    double *gates = k->scratch(k->user, (size_t)H * per * sizeof(double));
    if (!gates) return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of memory for %lld-wide state", (long long)H);
    double *hs = gates + G * H, *cs = hs + H, *tmp = cs + H;

    /* Y starts at zero: steps past a sequence's length are never written. */
    if (Y) memset(Y->data, 0, (size_t)Y->numel * weft_dtype_size(Y->dtype));

#define WEFT_BODY(T)                                                                                         \
    {                                                                                                        \
        const T *x = X->data, *w = W->data, *r = R->data;                                                    \
        const T *bias = B ? (const T *)B->data : NULL, *h0 = H0 ? (const T *)H0->data : NULL;                \
        const T *c0 = C0 ? (const T *)C0->data : NULL, *p = P ? (const T *)P->data : NULL;                   \
        T *y = Y ? (T *)Y->data : NULL, *yh = YH ? (T *)YH->data : NULL, *yc = YC ? (T *)YC->data : NULL;    \
        for (int64_t d = 0; d < g.dirs; d++) {                                                               \
            bool rev = a.reverse || d == 1;                                                                  \
            const act_fn *f = &a.act[d * a.n_act];                                                           \
            const T *wd = w + d * G * H * g.input, *rd = r + d * G * H * H;                                  \
            const T *wb = bias ? bias + d * 2 * G * H : NULL, *rb = wb ? wb + G * H : NULL;                  \
            const T *pd = p ? p + d * 3 * H : NULL;                                                          \
            for (int64_t b = 0; b < g.batch; b++) {                                                          \
                int64_t L = SL ? weft_load_i64(SL->dtype, SL->data, b) : g.seq;                              \
                int64_t so = weft_rnn_state_off(&g, d, b);                                                            \
                for (int64_t j = 0; j < H; j++) {                                                            \
                    hs[j] = h0 ? (double)h0[so + j] : 0.0;                                                   \
                    cs[j] = c0 ? (double)c0[so + j] : 0.0;                                                   \
                }                                                                                            \
                if (L == 0)                                                                                  \
                    for (int64_t j = 0; j < H; j++) hs[j] = cs[j] = 0.0;                                     \
                for (int64_t s = 0; s < L; s++) {                                                            \
                    int64_t t = rev ? L - 1 - s : s;                                                         \
                    const T *xt = x + weft_rnn_x_off(&g, t, b);                                                       \
                    /* gates = W x + Wb (+ R h + Rb, except for the GRU's candidate row block). */           \
                    for (int64_t q = 0; q < G * H; q++) {                                                    \
                        double acc = wb ? (double)wb[q] : 0.0;                                               \
                        const T *wq = wd + q * g.input;                                                      \
                        for (int64_t i = 0; i < g.input; i++) acc += (double)wq[i] * (double)xt[i];          \
                        bool gru_cand = a.kind == RNN_KIND_GRU && q >= 2 * H;                                \
                        if (!gru_cand) {                                                                     \
                            if (rb) acc += (double)rb[q];                                                    \
                            const T *rq = rd + q * H;                                                        \
                            for (int64_t i = 0; i < H; i++) acc += (double)rq[i] * hs[i];                    \
                        }                                                                                    \
                        gates[q] = acc;                                                                      \
                    }                                                                                        \
                    if (a.kind == RNN_KIND_RNN) {                                                            \
                        for (int64_t j = 0; j < H; j++) hs[j] = act_apply(&f[0], weft_rnn_clip(a.has_clip, a.clip, gates[j]));     \
                    } else if (a.kind == RNN_KIND_GRU) {                                                     \
                        double *z = gates, *rg = gates + H, *hc = gates + 2 * H;                             \
                        for (int64_t j = 0; j < 2 * H; j++) gates[j] = act_apply(&f[0], weft_rnn_clip(a.has_clip, a.clip, gates[j])); \
                        /* The candidate's recurrent term: Rh (r . h) + Rbh, or r . (Rh h + Rbh). */         \
                        const T *rh = rd + 2 * H * H;                                                        \
                        for (int64_t j = 0; j < H; j++) {                                                    \
                            double acc = 0.0;                                                                \
                            const T *rq = rh + j * H;                                                        \
                            if (a.linear_before_reset) {                                                     \
                                for (int64_t i = 0; i < H; i++) acc += (double)rq[i] * hs[i];                \
                                if (rb) acc += (double)rb[2 * H + j];                                        \
                                acc *= rg[j];                                                                \
                            } else {                                                                         \
                                for (int64_t i = 0; i < H; i++) acc += (double)rq[i] * (rg[i] * hs[i]);      \
                                if (rb) acc += (double)rb[2 * H + j];                                        \
                            }                                                                                \
                            tmp[j] = act_apply(&f[1], weft_rnn_clip(a.has_clip, a.clip, hc[j] + acc));                             \
                        }                                                                                    \
                        for (int64_t j = 0; j < H; j++) hs[j] = (1.0 - z[j]) * tmp[j] + z[j] * hs[j];        \
                    } else {                                                                                 \
                        double *ig = gates, *og = gates + H, *fg = gates + 2 * H, *cg = gates + 3 * H;       \
                        for (int64_t j = 0; j < H; j++) {                                                    \
                            double iv = ig[j] + (pd ? (double)pd[j] * cs[j] : 0.0);                          \
                            iv = act_apply(&f[0], weft_rnn_clip(a.has_clip, a.clip, iv));                                          \
                            double fv;                                                                       \
                            if (a.input_forget) {                                                            \
                                fv = 1.0 - iv; /* coupled gates */                                           \
                            } else {                                                                         \
                                fv = fg[j] + (pd ? (double)pd[2 * H + j] * cs[j] : 0.0);                     \
                                fv = act_apply(&f[0], weft_rnn_clip(a.has_clip, a.clip, fv));                                      \
                            }                                                                                \
                            double cv = act_apply(&f[1], weft_rnn_clip(a.has_clip, a.clip, cg[j]));                                \
                            double cn = fv * cs[j] + iv * cv;                                                \
                            double ov = og[j] + (pd ? (double)pd[H + j] * cn : 0.0);                         \
                            ov = act_apply(&f[0], weft_rnn_clip(a.has_clip, a.clip, ov));                                          \
                            tmp[j] = ov * act_apply(&f[2], cn);                                              \
                            cg[j] = cn; /* this gate's row is no longer needed: keep the new cell there */   \
                        }                                                                                    \
                        for (int64_t j = 0; j < H; j++) { hs[j] = tmp[j]; cs[j] = cg[j]; }                   \
                    }                                                                                        \
                    if (y) {                                                                                 \
                        T *yt = y + weft_rnn_y_off(&g, t, d, b);                                                      \
                        for (int64_t j = 0; j < H; j++) yt[j] = (T)hs[j];                                    \
                    }                                                                                        \
                }                                                                                            \
                for (int64_t j = 0; j < H; j++) {                                                            \
                    if (yh) yh[so + j] = (T)hs[j];                                                           \
                    if (yc) yc[so + j] = (T)cs[j];                                                           \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
    }
    WEFT_DISPATCH(X->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

#define RNN_OP(fn, KIND)                                                                              \
    static weft_status rnn_infer_##fn(weft_infer_ctx *c) { return rnn_infer(c, KIND); }               \
    static weft_status rnn_run_##fn(weft_kernel_ctx *k) { return rnn_run(k, KIND); }
RNN_OP(rnn, RNN_KIND_RNN)
RNN_OP(gru, RNN_KIND_GRU)
RNN_OP(lstm, RNN_KIND_LSTM)
#undef RNN_OP

/* --- gradients (ops/grad.h) ----------------------------------------------------------------------- */

/* GRU: one ai.weft GRUGrad (ops/gru_grad.c) runs the recurrence backwards, reading the GRU's inputs,
 * attributes and the gradients of Y and Y_h; it gives X, W, R, B and initial_h theirs. The sequence
 * lengths are indices and get none. */
static weft_status grad_gru(weft_grad_ctx *c)
{
    rnn_attrs a;
    weft_status st = read_attrs(c->node, RNN_KIND_GRU, &a);
    if (st) return c->st = st;
    for (int i = 0; i < a.n_act * a.dirs; i++)
        if (a.act[i].kind != (i % 2 ? ACT_TANH : ACT_SIGMOID))
            return weft_grad_fail(c, WEFT_ERR_UNSUPPORTED,
                                  "activation %d is not the default (Sigmoid, Tanh); only those have a gradient", i);
    int in[8];
    for (int i = 0; i < 6; i++) in[i] = i < c->n_in ? c->in[i] : -1;
    in[6] = c->n_out > 0 && c->out[0] >= 0 ? c->dout[0] : -1;
    in[7] = c->n_out > 1 && c->out[1] >= 0 ? c->dout[1] : -1;
    int out[5];
    weft_grad_op_n_in(c, "ai.weft", "GRUGrad", in, 8, c->node->attrs, c->node->n_attrs, out, 5);
    static const int to[5] = {IN_X, IN_W, IN_R, IN_B, IN_H0};
    for (int k = 0; k < 5; k++)
        if (to[k] < c->n_in && c->in[to[k]] >= 0) weft_grad_to(c, to[k], out[k]);
    return c->st;
}

const weft_op_def weft_ops_rnn[] = {
    {"RNN", "", 1, 0, 3, 6, 0, 2, 0, rnn_infer_rnn, rnn_run_rnn},
    {"GRU", "", 1, 0, 3, 6, 0, 2, 0, rnn_infer_gru, rnn_run_gru, 0, grad_gru},
    {"LSTM", "", 1, 0, 3, 8, 0, 3, 0, rnn_infer_lstm, rnn_run_lstm},
};
const int weft_ops_rnn_count = sizeof weft_ops_rnn / sizeof weft_ops_rnn[0];
