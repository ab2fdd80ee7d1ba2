/*
 * ops/weft_attention.c — ai.weft FusedAttention (schemas/ai.weft.md): scaled dot-product attention as
 * PyTorch and `transformers` export it, `MatMul(Q, K^T) -> Mul / Div by a scalar -> Add mask -> Softmax
 * (last axis) -> MatMul(., V)`, with the Transposes around it (heads split out of [B, S, H, D] and merged
 * back), made by compiler/pass_attention.c.
 *
 * The reference kernel runs that chain with the ONNX ops' reference kernels, in order, on temporaries:
 * the chain's numbers bit for bit. It materialises the [..., Sq, Sk] scores (the oracle's way); the CPU
 * kernel (ops/cpu/attention.c) never does. Temporaries are allocated per run: the wrapped kernels may
 * take the session's scratch for themselves, which would move anything kept there.
 * Shape inference composes the ops' own inference (Transpose, MatMul, Add) the same way.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "weft_attention.h"

#define DOMAIN "ai.weft"

static const char *const perm_names[4] = {"q_perm", "k_perm", "v_perm", "out_perm"};

weft_status weft_attn_read(const weft_node_info *n, weft_attn_spec *a)
{
    memset(a, 0, sizeof *a);
    for (int w = 0; w < 4; w++) {
        const int64_t *p;
        int np = weft_attr_ints(n, perm_names[w], &p);
        if (np < 0) continue;
        if (np < 1 || np > WEFT_ATTN_MAX_RANK)
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "%s has %d entries (1 to %d)", perm_names[w], np,
                                 WEFT_ATTN_MAX_RANK);
        bool seen[WEFT_ATTN_MAX_RANK] = {0};
        for (int i = 0; i < np; i++) {
            if (p[i] < 0 || p[i] >= np || seen[p[i]])
                return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "%s is not a permutation", perm_names[w]);
            seen[p[i]] = true;
            a->perm[w][i] = (int)p[i];
        }
        a->has_perm[w] = true;
        a->perm_n[w] = np;
    }
    a->has_scale = weft_attr_find(n, "scale") != NULL;
    a->scale = weft_attr_float(n, "scale", 1.0f);
    a->divide = weft_attr_int(n, "scale_divides", 0) != 0;
    a->causal = weft_attr_int(n, "causal", 0) != 0;
    return WEFT_OK;
}

bool weft_attn_view_of(const weft_attn_spec *a, int which, int rank, const int64_t *dims, weft_attn_view *v)
{
    if (rank < 1 || rank > WEFT_ATTN_MAX_RANK) return false;
    if (a->has_perm[which] && a->perm_n[which] != rank) return false;
    int64_t st[WEFT_ATTN_MAX_RANK];
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        st[i] = s;
        s *= dims[i];
    }
    v->rank = rank;
    for (int i = 0; i < rank; i++) {
        int p = a->has_perm[which] ? a->perm[which][i] : i;
        if (which == WEFT_ATTN_OUT) { /* output dim i is Y's dim p */
            v->dims[p] = dims[i];
            v->strides[p] = st[i];
        } else { /* the view's dim i is the tensor's dim p */
            v->dims[i] = dims[p];
            v->strides[i] = st[p];
        }
    }
    return true;
}

/* --- composing the ops' own definitions ------------------------------------------------------------ */

/* The chain's ops are read at opset 14 (Softmax over one axis, Transpose, MatMul, Add / Mul / Div). */
#define CHAIN_OPSET 14

static const weft_op_def *def_of(const char *op) { return weft_op_find("", op, CHAIN_OPSET); }

static weft_attr perm_attr(const weft_attn_spec *a, int w, int64_t *store)
{
    for (int i = 0; i < a->perm_n[w]; i++) store[i] = a->perm[w][i];
    weft_attr at;
    memset(&at, 0, sizeof at);
    at.name = "perm";
    at.type = WEFT_ATTR_INTS;
    at.n = a->perm_n[w];
    at.ints = store;
    return at;
}

/* A node info for one op of the chain, named after the fused node. */
static weft_node_info sub_node(const weft_node_info *n, const char *op, const weft_attr *attrs, int n_attrs)
{
    weft_node_info s = {n->name, op, "", CHAIN_OPSET, n_attrs, attrs};
    return s;
}

/* Inference of one op of the chain on shapes / dtypes; out_shape[0] set. */
static weft_status infer_one(const weft_infer_ctx *c, const char *op, const weft_attr *attrs, int n_attrs, int n_in,
                             const weft_dtype *dts, const weft_shape *shapes, weft_dtype *odt, weft_shape *oshape)
{
    weft_node_info node = sub_node(c->node, op, attrs, n_attrs);
    const void *data[2] = {NULL, NULL};
    weft_infer_ctx cc = *c;
    cc.node = &node;
    cc.n_in = n_in;
    cc.in_dtype = dts;
    cc.in_shape = shapes;
    cc.in_data = data;
    cc.n_out = 1;
    cc.out_dtype = odt;
    cc.out_shape = oshape;
    return def_of(op)->infer(&cc);
}

static weft_status fa_infer(weft_infer_ctx *c)
{
    weft_attn_spec a;
    weft_status st = weft_attn_read(c->node, &a);
    if (st) return st;
    weft_dtype t = c->in_dtype[0];
    if (t != WEFT_FLOAT32 && t != WEFT_FLOAT64)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported (float32, float64)",
                             weft_dtype_name(t));
    for (int i = 1; i < c->n_in; i++)
        if (weft_in_present(c, i) && c->in_dtype[i] != t)
            return weft_op_error(c->node, WEFT_ERR_TYPE, "input %d is %s but input 0 is %s", i,
                                 weft_dtype_name(c->in_dtype[i]), weft_dtype_name(t));
    /* the permuted operands */
    weft_shape op[3];
    weft_dtype dts[2] = {t, t}, odt;
    for (int w = 0; w < 3; w++) {
        if (!a.has_perm[w]) {
            op[w] = c->in_shape[w];
            continue;
        }
        int64_t store[WEFT_ATTN_MAX_RANK];
        weft_attr pa = perm_attr(&a, w, store);
        if ((st = infer_one(c, "Transpose", &pa, 1, 1, dts, &c->in_shape[w], &odt, &op[w]))) return st;
    }
    weft_shape s, y, in2[2];
    in2[0] = op[0];
    in2[1] = op[1];
    if ((st = infer_one(c, "MatMul", NULL, 0, 2, dts, in2, &odt, &s))) return st;
    if (weft_in_present(c, 3)) {
        weft_shape sm;
        in2[0] = s;
        in2[1] = c->in_shape[3];
        if ((st = infer_one(c, "Add", NULL, 0, 2, dts, in2, &odt, &sm))) return st;
        s = sm;
    }
    in2[0] = s;
    in2[1] = op[2];
    if ((st = infer_one(c, "MatMul", NULL, 0, 2, dts, in2, &odt, &y))) return st;
    if (a.has_perm[WEFT_ATTN_OUT]) {
        int64_t store[WEFT_ATTN_MAX_RANK];
        weft_attr pa = perm_attr(&a, WEFT_ATTN_OUT, store);
        if ((st = infer_one(c, "Transpose", &pa, 1, 1, dts, &y, &odt, &c->out_shape[0]))) return st;
    } else {
        c->out_shape[0] = y;
    }
    c->out_dtype[0] = t;
    return WEFT_OK;
}

/* --- the reference kernel --------------------------------------------------------------------------- */

typedef struct chain {
    const weft_kernel_ctx *k;
    void *owned[12];
    int n_owned;
} chain;

/* A fresh buffer for a view of dims `dims` (dtype t), owned by the chain. */
static weft_status fresh(chain *ch, weft_dtype t, int rank, const int64_t *dims, weft_tview *v)
{
    memset(v, 0, sizeof *v);
    v->dtype = t;
    v->rank = rank;
    v->numel = 1;
    for (int i = 0; i < rank; i++) {
        v->dims[i] = dims[i];
        v->numel *= dims[i];
    }
    v->data = malloc((size_t)v->numel * weft_dtype_size(t) + 1);
    if (!v->data) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    ch->owned[ch->n_owned++] = v->data;
    return WEFT_OK;
}

/* Runs one op of the chain: out's dims from the op's own inference, its buffer fresh unless `into`. */
static weft_status run_one(chain *ch, const char *op, const weft_attr *attrs, int n_attrs, const weft_tview *in, int n_in,
                           weft_tview *out, const weft_tview *into)
{
    const weft_kernel_ctx *k = ch->k;
    weft_node_info node = sub_node(k->node, op, attrs, n_attrs);
    const weft_op_def *d = def_of(op);
    weft_dtype dts[2], odt = WEFT_UNDEFINED;
    weft_shape shapes[2], os;
    const void *data[2];
    for (int i = 0; i < n_in; i++) {
        dts[i] = in[i].dtype;
        shapes[i].rank = in[i].rank;
        for (int j = 0; j < in[i].rank; j++) shapes[i].d[j] = weft_dim_num(in[i].dims[j]);
        data[i] = in[i].data;
    }
    weft_infer_ctx ic = {&node, n_in, dts, shapes, data, 1, &odt, &os, NULL, NULL, NULL, NULL};
    weft_status st = d->infer(&ic);
    if (st) return st;
    int64_t dims[WEFT_MAX_RANK];
    for (int j = 0; j < os.rank; j++) dims[j] = os.d[j].v;
    if (into) {
        *out = *into;
        bool same = out->rank == os.rank;
        for (int j = 0; same && j < os.rank; j++) same = out->dims[j] == dims[j];
        if (!same) return weft_op_error(k->node, WEFT_ERR_SHAPE, "the output's shape is not the chain's");
    } else if ((st = fresh(ch, odt, os.rank, dims, out))) {
        return st;
    }
    weft_kernel_ctx kc = *k;
    kc.node = &node;
    kc.n_in = n_in;
    kc.in = in;
    kc.n_out = 1;
    kc.out = out;
    return d->run(&kc);
}

static weft_status fa_run(weft_kernel_ctx *k)
{
    weft_attn_spec a;
    weft_status st = weft_attn_read(k->node, &a);
    if (st) return st;
    chain ch = {k, {0}, 0};
    weft_tview op[3], s, y, in2[2];
    int64_t store[WEFT_ATTN_MAX_RANK];
    for (int w = 0; w < 3 && !st; w++) {
        if (!a.has_perm[w]) {
            op[w] = k->in[w];
            continue;
        }
        weft_attr pa = perm_attr(&a, w, store);
        st = run_one(&ch, "Transpose", &pa, 1, &k->in[w], 1, &op[w], NULL);
    }
    if (!st) {
        in2[0] = op[0];
        in2[1] = op[1];
        st = run_one(&ch, "MatMul", NULL, 0, in2, 2, &s, NULL);
    }
    if (!st && a.has_scale) {
        /* the scalar the export multiplied (or divided) by, in T */
        double sd = a.scale;
        float sf = a.scale;
        weft_tview c = {s.dtype, 0, {0}, 1, s.dtype == WEFT_FLOAT64 ? (void *)&sd : (void *)&sf};
        in2[0] = s;
        in2[1] = c;
        weft_tview s2;
        st = run_one(&ch, a.divide ? "Div" : "Mul", NULL, 0, in2, 2, &s2, NULL);
        s = s2;
    }
    if (!st && weft_kin_present(k, 3)) {
        in2[0] = s;
        in2[1] = k->in[3];
        weft_tview s2;
        st = run_one(&ch, "Add", NULL, 0, in2, 2, &s2, NULL);
        s = s2;
    }
    if (!st && a.causal && s.rank >= 2) {
        /* -inf where key j > query row i: an [Sq, Sk] mask added (the ONNX Attention op's causal rule) */
        int64_t Sq = s.dims[s.rank - 2], Sk = s.dims[s.rank - 1];
        weft_tview cm, s2;
        int64_t cd[2] = {Sq, Sk};
        if (!(st = fresh(&ch, s.dtype, 2, cd, &cm))) {
            for (int64_t i = 0; i < Sq; i++)
                for (int64_t j = 0; j < Sk; j++) weft_store_f64(s.dtype, cm.data, i * Sk + j, j > i ? -INFINITY : 0.0);
            in2[0] = s;
            in2[1] = cm;
            st = run_one(&ch, "Add", NULL, 0, in2, 2, &s2, NULL);
            s = s2;
        }
    }
    if (!st) {
        weft_attr ax;
        memset(&ax, 0, sizeof ax);
        ax.name = "axis";
        ax.type = WEFT_ATTR_INT;
        ax.i = -1;
        weft_tview p;
        st = run_one(&ch, "Softmax", &ax, 1, &s, 1, &p, NULL);
        s = p;
    }
    if (!st) {
        in2[0] = s;
        in2[1] = op[2];
        st = run_one(&ch, "MatMul", NULL, 0, in2, 2, &y, a.has_perm[WEFT_ATTN_OUT] ? NULL : &k->out[0]);
    }
    if (!st && a.has_perm[WEFT_ATTN_OUT]) {
        weft_attr pa = perm_attr(&a, WEFT_ATTN_OUT, store);
        weft_tview o;
        st = run_one(&ch, "Transpose", &pa, 1, &y, 1, &o, &k->out[0]);
    }
    for (int i = 0; i < ch.n_owned; i++) free(ch.owned[i]);
    return st;
}

const weft_op_def weft_ops_weft_attention[] = {
    {"FusedAttention", DOMAIN, 1, 0, 3, 4, 1, 1, 0, fa_infer, fa_run, 0},
};
const int weft_ops_weft_attention_count = sizeof weft_ops_weft_attention / sizeof weft_ops_weft_attention[0];
