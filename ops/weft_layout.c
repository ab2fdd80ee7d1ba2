/*
 * ops/weft_layout.c — ai.weft ChannelsLast (schemas/ai.weft.md): an op of the convolution family run on
 * tensors stored channels-last ([N, D1, ..., Dk, C]) instead of ONNX's channels-first [N, C, D1, ..., Dk].
 * compiler/pass_channels_last.c makes it of the convolutions and pools of a CNN so that consecutive
 * steps hand each other activations in the layout oneDNN's convolutions read natively, with a
 * Transpose only where the chain meets an op that wants channels-first.
 *
 * The wrapped op is named by attributes (`op`, `op_domain`, `op_opset`); every other attribute is the
 * wrapped op's. The channels-last operands are input 0, FusedConv's `acc` (input 3) and output 0; the
 * others (weights, bias) are as the wrapped op reads them. With `x_channels_first` set, input 0 stays
 * channels-first (the first convolution of a chain reads the image as given and writes channels-last,
 * so no Transpose is needed where the chain starts).
 *
 * Shape inference permutes those shapes to channels-first, asks the wrapped op, and permutes back. The
 * reference kernel does the same with the data: it copies the channels-last operands into
 * channels-first buffers, runs the wrapped op's reference kernel, and copies the result back, so `ref`
 * gives the wrapped op's numbers bit for bit. Those buffers are allocated per run (the wrapped kernel
 * may take the session's scratch for itself, which would move anything kept there): this is the
 * oracle's path, not a fast one; the `onednn` backend reads the layout natively (ops/onednn/conv.c).
 */
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "weft_layout.h"

#define DOMAIN "ai.weft"
#define CL_MAX_INPUTS 4 /* FusedConv has the most */

/* The wrapped ops: which of their inputs are activations (channels-last under the wrapper). */
static const struct {
    const char *domain, *name;
    unsigned act_inputs; /* bit i: input i */
} wrapped[] = {
    {"ai.weft", "FusedConv", 1u | 8u}, {"", "Conv", 1u},          {"", "MaxPool", 1u},
    {"", "AveragePool", 1u},           {"", "GlobalAveragePool", 1u}, {"", "GlobalMaxPool", 1u},
};

bool weft_layout_wraps(const char *domain, const char *op, unsigned *act_inputs)
{
    if (!domain || strcmp(domain, "ai.onnx") == 0) domain = "";
    for (size_t i = 0; i < sizeof wrapped / sizeof wrapped[0]; i++)
        if (strcmp(wrapped[i].domain, domain) == 0 && strcmp(wrapped[i].name, op) == 0) {
            if (act_inputs) *act_inputs = wrapped[i].act_inputs;
            return true;
        }
    return false;
}

weft_status weft_layout_inner(const weft_node_info *n, weft_node_info *inner, const weft_op_def **def,
                              unsigned *act_inputs)
{
    const char *op = weft_attr_string(n, "op", "");
    const char *dom = weft_attr_string(n, "op_domain", "");
    int64_t opset = weft_attr_int(n, "op_opset", 0);
    if (!weft_layout_wraps(dom, op, act_inputs))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "op '%s%s%s' cannot run channels-last", dom, *dom ? "." : "",
                             op);
    const weft_op_def *d = weft_op_find(dom, op, (int)opset);
    if (opset < 1 || opset > 1000 || !d)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "op '%s' has no definition at opset %lld", op, (long long)opset);
    if (act_inputs && weft_attr_int(n, "x_channels_first", 0)) *act_inputs &= ~1u;
    *inner = *n;
    inner->op_type = op;
    inner->domain = dom;
    inner->opset = (int)opset;
    if (def) *def = d;
    return WEFT_OK;
}

/* Shape permutations: channels-last [N, D..., C] <-> channels-first [N, C, D...]. */
void weft_layout_shape_to_first(const weft_shape *in, weft_shape *out)
{
    *out = *in;
    if (in->rank < 3) return;
    out->d[1] = in->d[in->rank - 1];
    for (int i = 2; i < in->rank; i++) out->d[i] = in->d[i - 1];
}

void weft_layout_shape_to_last(const weft_shape *in, weft_shape *out)
{
    *out = *in;
    if (in->rank < 3) return;
    for (int i = 1; i < in->rank - 1; i++) out->d[i] = in->d[i + 1];
    out->d[in->rank - 1] = in->d[1];
}

void weft_layout_dims_to_first(int rank, const int64_t *last, int64_t *first)
{
    first[0] = last[0];
    if (rank < 2) return;
    first[1] = last[rank - 1];
    for (int i = 2; i < rank; i++) first[i] = last[i - 1];
}

static weft_status cl_infer(weft_infer_ctx *c)
{
    weft_node_info inner;
    const weft_op_def *d;
    unsigned act;
    weft_status st = weft_layout_inner(c->node, &inner, &d, &act);
    if (st) return st;
    if (c->n_in < d->min_inputs || c->n_in > d->max_inputs || c->n_out < d->min_outputs || c->n_out > 1)
        return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "%d inputs and %d outputs do not fit %s", c->n_in,
                             c->n_out, inner.op_type);
    weft_shape shapes[CL_MAX_INPUTS];
    if (c->n_in > CL_MAX_INPUTS) return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "too many inputs");
    for (int i = 0; i < c->n_in; i++) {
        if ((act >> i & 1u) && weft_in_present(c, i)) {
            if (c->in_shape[i].rank >= 0 && c->in_shape[i].rank < 3)
                return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d: rank %d, channels-last needs 3 or more", i,
                                     c->in_shape[i].rank);
            weft_layout_shape_to_first(&c->in_shape[i], &shapes[i]);
        } else {
            shapes[i] = c->in_shape[i];
        }
    }
    weft_infer_ctx cc = *c;
    cc.node = &inner;
    cc.in_shape = shapes;
    if ((st = d->infer(&cc))) return st;
    if (c->out_shape[0].rank >= 0) {
        weft_shape y = c->out_shape[0];
        weft_layout_shape_to_last(&y, &c->out_shape[0]);
    }
    return WEFT_OK;
}

/* Copies src ([n, a, b] of elements of `es` bytes) to dst as [n, b, a]. */
static void swap_inner(const void *src, void *dst, int64_t n, int64_t a, int64_t b, size_t es)
{
#define WEFT_SWAP(T)                                                                                  \
    do {                                                                                              \
        const T *s = src;                                                                             \
        T *o = dst;                                                                                   \
        for (int64_t z = 0; z < n; z++, s += a * b, o += a * b)                                        \
            for (int64_t i = 0; i < a; i++)                                                           \
                for (int64_t j = 0; j < b; j++) o[j * a + i] = s[i * b + j];                           \
    } while (0)
    if (es == 4) WEFT_SWAP(uint32_t);
    else if (es == 8) WEFT_SWAP(uint64_t);
    else if (es == 2) WEFT_SWAP(uint16_t);
    else WEFT_SWAP(uint8_t);
#undef WEFT_SWAP
}

/* The spatial size of a view: the product of dims 1 .. rank-2 of a channels-last one. */
static int64_t spatial(const weft_tview *v)
{
    int64_t s = 1;
    for (int i = 1; i < v->rank - 1; i++) s *= v->dims[i];
    return s;
}

static weft_status cl_run(weft_kernel_ctx *k)
{
    weft_node_info inner;
    const weft_op_def *d;
    unsigned act;
    weft_status st = weft_layout_inner(k->node, &inner, &d, &act);
    if (st) return st;
    if (k->n_in > CL_MAX_INPUTS || k->n_out != 1)
        return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "%d inputs and %d outputs do not fit %s", k->n_in, k->n_out,
                             inner.op_type);
    weft_tview in[CL_MAX_INPUTS], out = k->out[0];
    void *owned[CL_MAX_INPUTS + 1] = {0};
    int n_owned = 0;
    for (int i = 0; i < k->n_in; i++) {
        in[i] = k->in[i];
        if (!(act >> i & 1u) || !weft_kin_present(k, i)) continue;
        const weft_tview *v = &k->in[i];
        if (v->rank < 3) {
            st = weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d: rank %d, channels-last needs 3 or more", i, v->rank);
            goto done;
        }
        size_t es = weft_dtype_size(v->dtype);
        void *buf = malloc((size_t)v->numel * es + 1);
        if (!buf) {
            st = weft_error(WEFT_ERR_NOMEM, "out of memory");
            goto done;
        }
        owned[n_owned++] = buf;
        weft_layout_dims_to_first(v->rank, v->dims, in[i].dims);
        swap_inner(v->data, buf, v->dims[0], spatial(v), v->dims[v->rank - 1], es);
        in[i].data = buf;
    }
    if (out.rank < 3) {
        st = weft_op_error(k->node, WEFT_ERR_SHAPE, "output: rank %d, channels-last needs 3 or more", out.rank);
        goto done;
    }
    size_t es = weft_dtype_size(out.dtype);
    if (!(out.data = malloc((size_t)out.numel * es + 1))) {
        st = weft_error(WEFT_ERR_NOMEM, "out of memory");
        goto done;
    }
    owned[n_owned++] = out.data;
    weft_layout_dims_to_first(out.rank, k->out[0].dims, out.dims);
    weft_kernel_ctx kc = *k;
    kc.node = &inner;
    kc.in = in;
    kc.out = &out;
    if ((st = d->run(&kc))) goto done;
    /* channels-first [N, C, S] back to [N, S, C] */
    swap_inner(out.data, k->out[0].data, out.dims[0], out.dims[1], spatial(&k->out[0]), es);
done:
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    return st;
}

const weft_op_def weft_ops_weft_layout[] = {
    {"ChannelsLast", DOMAIN, 1, 0, 1, 4, 1, 1, 0, cl_infer, cl_run, 0},
};
const int weft_ops_weft_layout_count = sizeof weft_ops_weft_layout / sizeof weft_ops_weft_layout[0];
