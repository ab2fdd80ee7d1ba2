/*
 * ops/rotary.c — rotary position embeddings (RotaryEmbedding): pairs of a head's values rotated by a
 * cached angle per position. Half precision is computed in float32 (ops/widen.c).
 */
#include <string.h>

#include "op.h"

/*
 * X is [B, H, S, D] or [B, S, H*D] (num_heads). The first rd = rotary_embedding_dim (default D) values of
 * each head rotate in pairs (x1, x2) — halves of the rd values, or even/odd neighbours when interleaved —
 * by the angle of position p: (x1 cos - x2 sin, x1 sin + x2 cos), with cos/sin = cache[p] ([P, rd/2], p
 * from position_ids [B, S]) or cache[b, s] ([B, S, rd/2], no position_ids). The rest pass through.
 */
typedef struct {
    bool three_d, interleaved, pos;
    int64_t B, H, S, D, rd, P;
} rope_geom;

static weft_status rope_geom_of(const weft_node_info *n, int rank, const int64_t *x, int crank, const int64_t *cd,
                                bool pos, rope_geom *g)
{
    memset(g, 0, sizeof *g);
    int64_t il = weft_attr_int(n, "interleaved", 0);
    if (il != 0 && il != 1) /* runtimes read other values differently: refuse them */
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "interleaved must be 0 or 1, got %lld", (long long)il);
    g->interleaved = il != 0;
    g->pos = pos;
    int64_t nh = weft_attr_int(n, "num_heads", 0);
    if (rank == 4) {
        g->B = x[0]; g->H = x[1]; g->S = x[2]; g->D = x[3];
    } else if (rank == 3) {
        if (nh < 1) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "3-D input needs num_heads >= 1");
        g->three_d = true;
        g->B = x[0]; g->S = x[1]; g->H = nh;
        if (x[2] % nh) return weft_op_error(n, WEFT_ERR_SHAPE, "hidden size %lld is not divisible by num_heads %lld", (long long)x[2], (long long)nh);
        g->D = x[2] / nh;
    } else return weft_op_error(n, WEFT_ERR_SHAPE, "input must have rank 3 or 4");
    int64_t rd = weft_attr_int(n, "rotary_embedding_dim", 0);
    g->rd = rd ? rd : g->D;
    if (g->rd < 0 || g->rd > g->D || g->rd % 2)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "rotary_embedding_dim %lld must be even and at most the head size %lld",
                             (long long)g->rd, (long long)g->D);
    if (pos) {
        if (crank != 2) return weft_op_error(n, WEFT_ERR_SHAPE, "with position_ids the caches must be [max position, rd/2]");
        g->P = cd[0];
    } else {
        if (crank != 3 || cd[0] != g->B || cd[1] != g->S)
            return weft_op_error(n, WEFT_ERR_SHAPE, "without position_ids the caches must be [B, S, rd/2]");
    }
    if (cd[crank - 1] != g->rd / 2)
        return weft_op_error(n, WEFT_ERR_SHAPE, "the caches' last dim %lld is not rotary_embedding_dim / 2 = %lld",
                             (long long)cd[crank - 1], (long long)(g->rd / 2));
    return WEFT_OK;
}

static weft_status rope_infer(weft_infer_ctx *c)
{
    weft_status st = weft_infer_need_float(c, 0);
    if (st) return st;
    for (int i = 1; i < 3; i++)
        if (c->in_dtype[i] != c->in_dtype[0])
            return weft_op_error(c->node, WEFT_ERR_TYPE, "input %d is %s but the input is %s", i,
                                 weft_dtype_name(c->in_dtype[i]), weft_dtype_name(c->in_dtype[0]));
    if (weft_in_present(c, 3) && (st = weft_infer_need_index(c, 3, "position_ids"))) return st;
    const weft_shape *x = &c->in_shape[0];
    if (x->rank >= 0 && x->rank != 3 && x->rank != 4)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input must have rank 3 or 4");
    if (x->rank == 3 && weft_attr_int(c->node, "num_heads", 0) < 1)
        return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "3-D input needs num_heads >= 1");
    return weft_infer_same_as_input0(c);
}

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *x = k->in[0].data, *cs = k->in[1].data, *sn = k->in[2].data;                         \
        T *y = k->out[0].data;                                                                        \
        int64_t half = g.rd / 2;                                                                      \
        for (int64_t b = 0; b < g.B; b++)                                                             \
            for (int64_t h = 0; h < g.H; h++)                                                         \
                for (int64_t s = 0; s < g.S; s++) {                                                   \
                    int64_t base = g.three_d ? (b * g.S + s) * g.H * g.D + h * g.D                     \
                                             : ((b * g.H + h) * g.S + s) * g.D;                       \
                    int64_t crow;                                                                     \
                    if (g.pos) {                                                                      \
                        int64_t p = weft_load_i64(k->in[3].dtype, k->in[3].data, pstride ? b * g.S + s : s); \
                        if (p < 0 || p >= g.P)                                                        \
                            return weft_op_error(k->node, WEFT_ERR_INDEX,                             \
                                                 "position id %lld is out of range for a cache of %lld " \
                                                 "positions (axis 0)", (long long)p, (long long)g.P); \
                        crow = p * half;                                                              \
                    } else crow = (b * g.S + s) * half;                                               \
                    for (int64_t i = 0; i < half; i++) {                                              \
                        int64_t i1 = g.interleaved ? 2 * i : i, i2 = g.interleaved ? 2 * i + 1 : i + half; \
                        double x1 = x[base + i1], x2 = x[base + i2];                                  \
                        double co = cs[crow + i], si = sn[crow + i];                                  \
                        y[base + i1] = (T)(co * x1 - si * x2);                                        \
                        y[base + i2] = (T)(si * x1 + co * x2);                                        \
                    }                                                                                 \
                    for (int64_t i = g.rd; i < g.D; i++) y[base + i] = x[base + i];                   \
                }                                                                                     \
    }
static weft_status rope_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    bool pos = weft_kin_present(k, 3);
    rope_geom g;
    weft_status st = rope_geom_of(k->node, k->in[0].rank, k->in[0].dims, k->in[1].rank, k->in[1].dims, pos, &g);
    if (st) return st;
    for (int d = 0; d < k->in[1].rank; d++)
        if (k->in[2].rank != k->in[1].rank || k->in[2].dims[d] != k->in[1].dims[d])
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "cos_cache and sin_cache must have the same shape");
    bool pstride = false;
    if (pos) {
        /* position_ids: [B, S] (or [1, S] shared by the batch). */
        const weft_tview *p = &k->in[3];
        if (p->rank != 2 || (p->dims[0] != g.B && p->dims[0] != 1) || p->dims[1] != g.S)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "position_ids must be [B, S]");
        pstride = p->dims[0] == g.B && g.B != 1;
    }
    WEFT_DISPATCH(k->in[0].dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY
static weft_status rope_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, rope_body); }

const weft_op_def weft_ops_rotary[] = {
    {"RotaryEmbedding", "", 23, 0, 3, 4, 1, 1, 0, rope_infer, rope_run},
};
const int weft_ops_rotary_count = sizeof weft_ops_rotary / sizeof weft_ops_rotary[0];
