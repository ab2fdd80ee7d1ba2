/*
 * ops/attention.c — Attention (opset 23, with nonpad_kv_seqlen from 24): scaled dot-product attention
 * with grouped key/value heads, past key/value caches, boolean or additive masks, causal masking, softcap
 * and the qk_matmul_output tap.
 *
 * Layouts: 4-D Q [B, Hq, S, Dh], K [B, Hkv, L, Dh], V [B, Hkv, L, Dv] -> Y [B, Hq, S, Dv]; or 3-D
 * Q [B, S, Hq*Dh], K [B, L, Hkv*Dh], V [B, L, Hkv*Dv] -> Y [B, S, Hq*Dv] with q_num_heads / kv_num_heads.
 * past_key [B, Hkv, P, Dh] and past_value are prepended along the sequence, so T = P + L keys are attended
 * and present_key / present_value are [B, Hkv, T, D]. Query head h reads key/value head h / (Hq / Hkv).
 *
 * For query position i and key j the score is
 *     s = softcap(scale * q.k) + bias,   softcap(x) = c * tanh(x / c) when softcap c > 0
 * where bias sums the mask (false -> -inf; an additive mask shorter than T counts as -inf beyond its end),
 * the causal rule (-inf when j > P + i) and nonpad_kv_seqlen (-inf when j >= the batch's length). Y is the
 * softmax of the scores over j applied to V. qk_matmul_output holds scale * q.k (mode 0), after softcap
 * (1), after the bias (2) or after the softmax (3). Computed in double; half precision is widened.
 */
#include <math.h>
#include <string.h>

#include "op.h"

enum { IN_Q, IN_K, IN_V, IN_MASK, IN_PK, IN_PV, IN_NONPAD };

/* Everything the kernel needs, worked out from shapes and attributes by att_geom. */
typedef struct {
    bool three_d;
    int64_t B, Hq, Hkv, S, L, P, T, Dh, Dv;
} att_geom;

static weft_status att_heads(const weft_node_info *n, int64_t *hq, int64_t *hkv)
{
    *hq = weft_attr_int(n, "q_num_heads", 0);
    *hkv = weft_attr_int(n, "kv_num_heads", 0);
    if (*hq < 1 || *hkv < 1)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "3-D inputs need q_num_heads and kv_num_heads >= 1");
    return WEFT_OK;
}

/* Dims of input i as numbers (-1 for a symbol). */
static void dims_of(const weft_shape *s, int64_t *d)
{
    for (int i = 0; i < s->rank; i++) d[i] = weft_dim_known(s->d[i]) ? s->d[i].v : -1;
}

/* Checks two sizes that must agree when both are known. */
static weft_status agree(const weft_node_info *n, int64_t a, int64_t b, const char *what)
{
    if (a >= 0 && b >= 0 && a != b)
        return weft_op_error(n, WEFT_ERR_SHAPE, "%s: %lld vs %lld", what, (long long)a, (long long)b);
    return WEFT_OK;
}

/*
 * Works out the geometry from the shapes (dims may be -1 when unknown at compile time). q, k, v, pk are
 * the dims of Q, K, V and past_key (pk NULL when absent).
 */
static weft_status att_geom_of(const weft_node_info *n, int rank, const int64_t *q, const int64_t *k, const int64_t *v,
                               const int64_t *pk, att_geom *g)
{
    weft_status st;
    memset(g, 0, sizeof *g);
    g->B = q[0];
    if ((st = agree(n, q[0], k[0], "batch of Q and K")) || (st = agree(n, q[0], v[0], "batch of Q and V"))) return st;
    if (rank == 3) {
        g->three_d = true;
        if ((st = att_heads(n, &g->Hq, &g->Hkv))) return st;
        g->S = q[1];
        g->L = k[1];
        if ((st = agree(n, k[1], v[1], "sequence length of K and V"))) return st;
        if ((q[2] >= 0 && q[2] % g->Hq) || (k[2] >= 0 && k[2] % g->Hkv) || (v[2] >= 0 && v[2] % g->Hkv))
            return weft_op_error(n, WEFT_ERR_SHAPE, "hidden sizes must be divisible by the head counts");
        g->Dh = q[2] < 0 ? -1 : q[2] / g->Hq;
        if ((st = agree(n, g->Dh, k[2] < 0 ? -1 : k[2] / g->Hkv, "head size of Q and K"))) return st;
        g->Dv = v[2] < 0 ? -1 : v[2] / g->Hkv;
    } else {
        g->Hq = q[1];
        g->Hkv = k[1];
        if ((st = agree(n, k[1], v[1], "heads of K and V"))) return st;
        g->S = q[2];
        g->L = k[2];
        if ((st = agree(n, k[2], v[2], "sequence length of K and V"))) return st;
        g->Dh = q[3];
        if ((st = agree(n, q[3], k[3], "head size of Q and K"))) return st;
        g->Dv = v[3];
        int64_t hq, hkv;
        const weft_attr *a = weft_attr_find(n, "q_num_heads");
        if (a && (st = att_heads(n, &hq, &hkv))) return st;
        if (a && ((st = agree(n, hq, g->Hq, "q_num_heads and Q's heads")) ||
                  (st = agree(n, hkv, g->Hkv, "kv_num_heads and K's heads"))))
            return st;
    }
    if (g->Hq >= 0 && g->Hkv > 0 && g->Hq % g->Hkv)
        return weft_op_error(n, WEFT_ERR_SHAPE, "%lld query heads are not a multiple of %lld key/value heads",
                             (long long)g->Hq, (long long)g->Hkv);
    if (g->Hkv == 0 && g->Hq > 0) return weft_op_error(n, WEFT_ERR_SHAPE, "no key/value heads");
    g->P = 0;
    if (pk) {
        if ((st = agree(n, pk[0], g->B, "batch of past_key")) || (st = agree(n, pk[1], g->Hkv, "heads of past_key")) ||
            (st = agree(n, pk[3], g->Dh, "head size of past_key")))
            return st;
        g->P = pk[2];
    }
    g->T = g->P < 0 || g->L < 0 ? -1 : g->P + g->L;
    return WEFT_OK;
}

static weft_dim num_or_sym(weft_infer_ctx *c, int64_t v) { return v >= 0 ? weft_dim_num(v) : weft_dim_unknown(c); }

static weft_status att_infer(weft_infer_ctx *c)
{
    const weft_node_info *n = c->node;
    weft_dtype dt = c->in_dtype[IN_Q];
    if (!weft_dtype_is_float(dt))
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported (floats only)", weft_dtype_name(dt));
    for (int i = 1; i < 6; i++) {
        if (!weft_in_present(c, i)) continue;
        if (c->in_dtype[i] != dt && !(i == IN_MASK && c->in_dtype[i] == WEFT_BOOL))
            return weft_op_error(n, WEFT_ERR_TYPE, "input %d is %s but Q is %s", i, weft_dtype_name(c->in_dtype[i]),
                                 weft_dtype_name(dt));
    }
    if (weft_in_present(c, IN_PK) != weft_in_present(c, IN_PV))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "past_key and past_value come together");
    if (weft_in_present(c, IN_NONPAD) && c->in_dtype[IN_NONPAD] != WEFT_INT64)
        return weft_op_error(n, WEFT_ERR_TYPE, "nonpad_kv_seqlen must be int64");
    int64_t mode = weft_attr_int(n, "qk_matmul_output_mode", 0);
    if (mode < 0 || mode > 3)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "qk_matmul_output_mode = %lld is not 0..3", (long long)mode);
    for (int o = 0; o < c->n_out; o++) c->out_dtype[o] = dt;
    const weft_shape *qs = &c->in_shape[IN_Q], *ks = &c->in_shape[IN_K], *vs = &c->in_shape[IN_V];
    if (qs->rank < 0 || ks->rank < 0 || vs->rank < 0) {
        for (int o = 0; o < c->n_out; o++) c->out_shape[o].rank = -1;
        return WEFT_OK;
    }
    int rank = qs->rank;
    if ((rank != 3 && rank != 4) || ks->rank != rank || vs->rank != rank)
        return weft_op_error(n, WEFT_ERR_SHAPE, "Q, K and V must all have rank 3 or all rank 4 (got %d, %d, %d)",
                             qs->rank, ks->rank, vs->rank);
    int64_t q[4], k[4], v[4], pk[4];
    dims_of(qs, q);
    dims_of(ks, k);
    dims_of(vs, v);
    bool has_past = weft_in_present(c, IN_PK);
    if (has_past) {
        if (c->in_shape[IN_PK].rank != 4 || c->in_shape[IN_PV].rank != 4)
            return weft_op_error(n, WEFT_ERR_SHAPE, "past_key and past_value must have rank 4");
        dims_of(&c->in_shape[IN_PK], pk);
    }
    att_geom g;
    weft_status st = att_geom_of(n, rank, q, k, v, has_past ? pk : NULL, &g);
    if (st) return st;
    if (weft_in_present(c, IN_MASK)) {
        const weft_shape *m = &c->in_shape[IN_MASK];
        if (m->rank >= 0 && (m->rank < 2 || m->rank > 4))
            return weft_op_error(n, WEFT_ERR_SHAPE, "attn_mask must have rank 2, 3 or 4");
    }
    weft_shape *y = &c->out_shape[0];
    y->rank = rank;
    y->d[0] = qs->d[0];
    if (rank == 3) {
        y->d[1] = qs->d[1];
        y->d[2] = num_or_sym(c, g.Dv < 0 ? -1 : g.Hq * g.Dv);
    } else {
        y->d[1] = qs->d[1];
        y->d[2] = qs->d[2];
        y->d[3] = vs->d[3];
    }
    for (int o = 1; o < 3 && o < c->n_out; o++) {
        weft_shape *p = &c->out_shape[o];
        p->rank = 4;
        p->d[0] = qs->d[0];
        p->d[1] = num_or_sym(c, g.Hkv);
        p->d[2] = num_or_sym(c, g.T);
        p->d[3] = num_or_sym(c, o == 1 ? g.Dh : g.Dv);
    }
    if (c->n_out > 3) {
        weft_shape *p = &c->out_shape[3];
        p->rank = 4;
        p->d[0] = qs->d[0];
        p->d[1] = num_or_sym(c, g.Hq);
        p->d[2] = num_or_sym(c, g.S);
        p->d[3] = num_or_sym(c, g.T);
    }
    return WEFT_OK;
}

/* Element offsets of (b, h, s, 0) in a 4-D [B, H, S, D] or 3-D [B, S, H*D] layout. */
static inline int64_t off4(bool three_d, int64_t b, int64_t h, int64_t s, int64_t H, int64_t S, int64_t D)
{
    return three_d ? (b * S + s) * H * D + h * D : ((b * H + h) * S + s) * D;
}

#define WEFT_BODY(T_)                                                                                 \
    {                                                                                                 \
        typedef T_ T;                                                                                 \
        const T *Q = k->in[IN_Q].data, *K = k->in[IN_K].data, *V = k->in[IN_V].data;                  \
        const T *PK = past ? k->in[IN_PK].data : NULL, *PV = past ? k->in[IN_PV].data : NULL;         \
        const T *MF = mask && mask->dtype != WEFT_BOOL ? mask->data : NULL;                           \
        const uint8_t *MB = mask && mask->dtype == WEFT_BOOL ? mask->data : NULL;                     \
        T *Y = k->out[0].data;                                                                        \
        T *PKo = pko ? pko->data : NULL, *PVo = pvo ? pvo->data : NULL;                               \
        T *QK = qko ? qko->data : NULL;                                                               \
        /* present_key / present_value: past then new, per (b, kv head). */                           \
        for (int64_t b = 0; b < g.B; b++)                                                             \
            for (int64_t h = 0; h < g.Hkv; h++)                                                       \
                for (int64_t j = 0; j < g.T; j++) {                                                   \
                    for (int64_t d = 0; PKo && d < g.Dh; d++)                                         \
                        PKo[((b * g.Hkv + h) * g.T + j) * g.Dh + d] =                                 \
                            j < g.P ? PK[((b * g.Hkv + h) * g.P + j) * g.Dh + d]                      \
                                    : K[off4(g.three_d, b, h, j - g.P, g.Hkv, g.L, g.Dh) + d];        \
                    for (int64_t d = 0; PVo && d < g.Dv; d++)                                         \
                        PVo[((b * g.Hkv + h) * g.T + j) * g.Dv + d] =                                 \
                            j < g.P ? PV[((b * g.Hkv + h) * g.P + j) * g.Dv + d]                      \
                                    : V[off4(g.three_d, b, h, j - g.P, g.Hkv, g.L, g.Dv) + d];        \
                }                                                                                     \
        for (int64_t b = 0; b < g.B; b++)                                                             \
            for (int64_t h = 0; h < g.Hq; h++) {                                                      \
                int64_t hk = h / (g.Hq / g.Hkv);                                                      \
                for (int64_t i = 0; i < g.S; i++) {                                                   \
                    const T *q = Q + off4(g.three_d, b, h, i, g.Hq, g.S, g.Dh);                       \
                    T *qk = QK ? QK + ((b * g.Hq + h) * g.S + i) * g.T : NULL;                        \
                    double mx = -INFINITY;                                                            \
                    for (int64_t j = 0; j < g.T; j++) {                                               \
                        const T *kr = j < g.P ? PK + ((b * g.Hkv + hk) * g.P + j) * g.Dh              \
                                              : K + off4(g.three_d, b, hk, j - g.P, g.Hkv, g.L, g.Dh); \
                        double dot = 0;                                                               \
                        for (int64_t d = 0; d < g.Dh; d++) dot += (double)q[d] * (double)kr[d];      \
                        double raw = dot * scale;                                                     \
                        double cap = softcap > 0 ? softcap * tanh(raw / softcap) : raw;               \
                        double bias = 0;                                                              \
                        if (mask) {                                                                   \
                            if (j >= mT) bias = -INFINITY;                                            \
                            else {                                                                    \
                                int64_t mo = b * mst[0] + h * mst[1] + i * mst[2] + j * mst[3];       \
                                if (MB) bias = MB[mo] ? 0 : -INFINITY;                                \
                                else bias = (double)MF[mo];                                           \
                            }                                                                         \
                        }                                                                             \
                        if (causal && j > g.P + i) bias = -INFINITY;                                  \
                        if (nonpad && j >= nonpad[b]) bias = -INFINITY;                               \
                        double sc = cap + bias;                                                       \
                        row[j] = sc;                                                                  \
                        if (sc > mx) mx = sc;                                                         \
                        if (qk) qk[j] = (T)(mode == 0 ? raw : mode == 1 ? cap : sc);                  \
                    }                                                                                 \
                    /* A row masked everywhere has no distribution: NaN, as the formula gives. */     \
                    double sum = 0;                                                                   \
                    for (int64_t j = 0; j < g.T; j++) sum += (row[j] = exp(row[j] - mx));             \
                    for (int64_t j = 0; j < g.T; j++) {                                               \
                        row[j] /= sum;                                                                \
                        if (qk && mode == 3) qk[j] = (T)row[j];                                       \
                    }                                                                                 \
                    T *yr = Y + off4(g.three_d, b, h, i, g.Hq, g.S, g.Dv);                            \
                    for (int64_t d = 0; d < g.Dv; d++) {                                              \
                        double acc = 0;                                                               \
                        for (int64_t j = 0; j < g.T; j++) {                                           \
                            const T *vr = j < g.P                                                     \
                                              ? PV + ((b * g.Hkv + hk) * g.P + j) * g.Dv              \
                                              : V + off4(g.three_d, b, hk, j - g.P, g.Hkv, g.L, g.Dv); \
                            acc += row[j] * (double)vr[d];                                            \
                        }                                                                             \
                        yr[d] = (T)acc;                                                               \
                    }                                                                                 \
                }                                                                                     \
            }                                                                                         \
    }

static weft_status att_body(weft_kernel_ctx *k, void *scratch)
{
    const weft_node_info *n = k->node;
    bool past = weft_kin_present(k, IN_PK);
    att_geom g;
    weft_status st = att_geom_of(n, k->in[IN_Q].rank, k->in[IN_Q].dims, k->in[IN_K].dims, k->in[IN_V].dims,
                                 past ? k->in[IN_PK].dims : NULL, &g);
    if (st) return st;
    if (past) {
        const int64_t *pv = k->in[IN_PV].dims;
        if (pv[0] != g.B || pv[1] != g.Hkv || pv[2] != g.P || pv[3] != g.Dv)
            return weft_op_error(n, WEFT_ERR_SHAPE, "past_value must be [B, Hkv, past length, Dv]");
    }
    const weft_tview *mask = weft_kin_present(k, IN_MASK) ? &k->in[IN_MASK] : NULL;
    /* Mask strides over [B, Hq, S, mask length] (broadcast axes 0); its last axis may be shorter than T. */
    int64_t mst[4] = {0, 0, 0, 0}, mT = g.T;
    if (mask) {
        int r = mask->rank;
        int64_t want[4] = {g.B, g.Hq, g.S, mask->dims[r - 1]};
        mT = mask->dims[r - 1];
        if (mT > g.T)
            return weft_op_error(n, WEFT_ERR_SHAPE, "attn_mask covers %lld keys but there are only %lld",
                                 (long long)mT, (long long)g.T);
        for (int d = 0; d < r; d++) {
            int64_t md = mask->dims[d], wd = want[4 - r + d];
            if (md != 1 && md != wd)
                return weft_op_error(n, WEFT_ERR_SHAPE, "attn_mask dim %d is %lld; it does not broadcast to %lld", d,
                                     (long long)md, (long long)wd);
        }
        weft_broadcast_strides(mask->dims, r, want, 4, mst);
    }
    const int64_t *nonpad = weft_kin_present(k, IN_NONPAD) ? k->in[IN_NONPAD].data : NULL;
    if (nonpad && k->in[IN_NONPAD].numel != g.B)
        return weft_op_error(n, WEFT_ERR_SHAPE, "nonpad_kv_seqlen has %lld values for batch %lld",
                             (long long)k->in[IN_NONPAD].numel, (long long)g.B);
    for (int64_t b = 0; nonpad && b < g.B; b++)
        if (nonpad[b] < 0 || nonpad[b] > g.T)
            return weft_op_error(n, WEFT_ERR_INDEX, "nonpad_kv_seqlen[%lld] = %lld is outside [0, %lld]",
                                 (long long)b, (long long)nonpad[b], (long long)g.T);
    int64_t is_causal = weft_attr_int(n, "is_causal", 0);
    if (is_causal != 0 && is_causal != 1) /* runtimes read other values differently: refuse them */
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "is_causal must be 0 or 1, got %lld", (long long)is_causal);
    bool causal = is_causal != 0;
    double softcap = weft_attr_float(n, "softcap", 0.0f);
    int64_t mode = weft_attr_int(n, "qk_matmul_output_mode", 0);
    const weft_attr *sa = weft_attr_find(n, "scale");
    double scale = sa ? (double)sa->f : 1.0 / sqrt((double)g.Dh);
    weft_tview *pko = k->n_out > 1 && k->out[1].dtype != WEFT_UNDEFINED ? &k->out[1] : NULL;
    weft_tview *pvo = k->n_out > 2 && k->out[2].dtype != WEFT_UNDEFINED ? &k->out[2] : NULL;
    weft_tview *qko = k->n_out > 3 && k->out[3].dtype != WEFT_UNDEFINED ? &k->out[3] : NULL;
    double *row = scratch;
    /* With no queries the loops still fill present_key / present_value. */
    WEFT_DISPATCH(k->in[IN_Q].dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

static weft_status att_run(weft_kernel_ctx *k)
{
    /* One row of T scores in double. */
    const weft_tview *kv = &k->in[IN_K];
    if (kv->rank != 3 && kv->rank != 4) return weft_op_error(k->node, WEFT_ERR_SHAPE, "K must have rank 3 or 4");
    int64_t L = kv->rank == 3 ? kv->dims[1] : kv->dims[2];
    int64_t P = weft_kin_present(k, IN_PK) && k->in[IN_PK].rank == 4 ? k->in[IN_PK].dims[2] : 0;
    int64_t T = L + P;
    if (T < 0 || T > (int64_t)(SIZE_MAX / sizeof(double) / 2))
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "too many keys");
    return weft_math_run_widened(k, (size_t)(T > 0 ? T : 1) * sizeof(double), att_body);
}

const weft_op_def weft_ops_attention[] = {
    {"Attention", "", 23, 0, 3, 7, 1, 4, 0, att_infer, att_run},
};
const int weft_ops_attention_count = sizeof weft_ops_attention / sizeof weft_ops_attention[0];
