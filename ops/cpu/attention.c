/*
 * ops/cpu/attention.c — ai.weft FusedAttention (ops/weft_attention.h), float32: for every batch (the
 * leading dims, broadcast between Q, K, V and the mask) and query row, scores against every key, the
 * scale and the mask, a softmax, and the probability-weighted sum of V's rows, one row at a time: the
 * [..., Sq, Sk] scores are never stored, so memory stays O(Sk) per thread whatever the sequence length.
 * Operands are read through their permuted views (the head split / merge Transposes folded by
 * compiler/pass_attention.c), so Q, K, V are read and Y written in place.
 *
 * Work is split by (batch, block of ATTN_ROWS query rows): each task first copies its batch's K^T into
 * a [D, Sk] panel contiguous along the keys (K usually arrives as [B, S, H, D] rows), so that the
 * scores of a row are D vectorised multiply-adds over the panel; P V is Sk multiply-adds of V's rows
 * into a row accumulator, RB query rows at a time so that each panel and V element loaded serves RB rows.
 * Everything is float32 in a fixed order: products and sums (the reference sums in double: results agree
 * within a few ulp of the row's magnitude) and the softmax, whose e^x is a float polynomial (attn_expf),
 * within a few float ulp of the reference's double formula. The split depends only on the shapes, so
 * results do not depend on the thread count. Shapes outside this form (a mask that widens the last two axes, empty operands, other
 * dtypes) run the reference kernel.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../weft_attention.h"
#include "vmath.h"

#define ATTN_ROWS 64
#define LANES 16
#define RB 4  /* query rows computed together */
#define TW 16 /* keys (or output columns) of one register tile */

typedef struct attn_prep {
    const weft_op_def *def;
    weft_attn_spec a;
} attn_prep;

typedef struct attn_job {
    const attn_prep *p;
    int nb;                                   /* batch dims */
    int64_t bdims[WEFT_ATTN_MAX_RANK];        /* the output's batch dims */
    int64_t bs[5][WEFT_ATTN_MAX_RANK];        /* per operand (Q, Kt, V, Y, mask): batch strides (0: broadcast) */
    int64_t Sq, Sk, D, Dv, n_batch, n_blocks;
    /* row / column strides of the views: q (row i, dim d), kt (dim d, key j), v (key j, dim e), y, mask */
    int64_t qi, qd, kd, kj, vj, ve, yi, ye, mi, mj;
    const float *q, *k, *v, *mask;
    float *y;
    char *scr;
    size_t per_thread;
    int nt;
    void (*rows)(const struct attn_job *j, int64_t b, int64_t i0, int64_t i1, const int64_t *off, char *scr);
} attn_job;

static bool attn_supports(const weft_step_desc *s)
{
    if (!weft_cpu_is_op(s, "ai.weft", "FusedAttention") || s->n_in < 3) return false;
    for (int i = 0; i < s->n_in; i++)
        if (s->in_dtype[i] != WEFT_UNDEFINED && s->in_dtype[i] != WEFT_FLOAT32) return false;
    return s->out_dtype[0] == WEFT_FLOAT32;
}

static weft_status attn_prepare(const weft_step_desc *s, void **prepared)
{
    attn_prep *p = calloc(1, sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    p->def = s->def;
    weft_status st = weft_attn_read(s->node, &p->a);
    if (st) {
        free(p);
        return st;
    }
    *prepared = p;
    return WEFT_OK;
}

/* e^x in float for x <= 0 (a score minus its row's maximum): x = k ln2 + r with |r| <= ln2 / 2, e^r by
 * its Taylor series to degree 7 (truncation below 6e-9 relative, under a float's half ulp), 2^k built in
 * the exponent bits. Below -87 (2^k would leave the normal range) the result is 0, as are masked
 * positions (-3.4e38 and the like); NaN stays NaN. Branch-free, so a loop over it vectorises. */
WEFT_CPU_INLINE float attn_expf(float x)
{
    const float lo = -87.0f;
    float xc = x < lo ? lo : x; /* NaN passes unchanged and stays NaN to the end */
    const float shift = 0x1.8p23f; /* adding it rounds to an integer kept in the low mantissa bits */
    float kd = xc * 1.44269504f + shift;
    float k = kd - shift;
    float r = xc - k * 0.693359375f; /* ln2 in two parts: the high one has 9 significant bits */
    r = r - k * -2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t kb, sb;
    memcpy(&kb, &kd, sizeof kb);
    memcpy(&sb, &shift, sizeof sb);
    uint32_t bits = (kb - sb + 127u) << 23; /* k in [-126, 0]: a normal power of two */
    float two_k;
    memcpy(&two_k, &bits, sizeof two_k);
    float y = p * two_k;
    return x < lo ? 0.0f : y;
}

/* The softmax of row s (Sk floats) in place, in float: the maximum (NaN ignored), e^(x - max) with
 * attn_expf, the sum in LANES lanes combined in a fixed order, then one multiplication by its inverse.
 * Within a few float ulp of the reference's double formula. */
WEFT_CPU_INLINE void attn_softmax_row(float *restrict s, int64_t Sk)
{
    float lane[LANES];
    for (int l = 0; l < LANES; l++) lane[l] = -INFINITY;
    int64_t t8 = Sk - Sk % LANES;
    for (int64_t t = 0; t < t8; t += LANES)
        for (int l = 0; l < LANES; l++) lane[l] = s[t + l] > lane[l] ? s[t + l] : lane[l];
    float m = -INFINITY;
    for (int64_t t = t8; t < Sk; t++) m = s[t] > m ? s[t] : m;
    for (int l = 0; l < LANES; l++) m = lane[l] > m ? lane[l] : m;
    for (int64_t t = 0; t < Sk; t++) s[t] = attn_expf(s[t] - m);
    for (int l = 0; l < LANES; l++) lane[l] = 0.0f;
    for (int64_t t = 0; t < t8; t += LANES)
        for (int l = 0; l < LANES; l++) lane[l] += s[t + l];
    float sum = 0.0f;
    for (int l = 0; l < LANES; l++) sum += lane[l];
    for (int64_t t = t8; t < Sk; t++) sum += s[t];
    const float inv = 1.0f / sum;
    for (int64_t t = 0; t < Sk; t++) s[t] = s[t] * inv;
}

/* Rows i0..i1 of batch b: off = the batch's offsets into Q, Kt, V, Y, mask. Rows go RB at a time, so
 * that each element of the K panel and of V is loaded once for RB rows. */
WEFT_CPU_INLINE void attn_rows_body(const attn_job *j, int64_t b, int64_t i0, int64_t i1, const int64_t *off, char *scr)
{
    (void)b;
    const int64_t Sk = j->Sk, D = j->D, Dv = j->Dv;
    float *restrict panel = (float *)scr;                                      /* [D, Sk] */
    float *restrict S = panel + weft_cpu_round((size_t)(D * Sk) * sizeof(float)) / sizeof(float); /* [RB, Sk] */
    float *restrict acc = S + weft_cpu_round((size_t)(RB * Sk) * sizeof(float)) / sizeof(float); /* [RB, Dv] */
    const float *kb = j->k + off[1];
    for (int64_t d = 0; d < D; d++)
        for (int64_t t = 0; t < Sk; t++) panel[d * Sk + t] = kb[d * j->kd + t * j->kj];
    const weft_attn_spec *a = &j->p->a;
    const float scale = a->scale;
    const float *vb = j->v + off[2];
    for (int64_t i = i0; i < i1; i += RB) {
        int nr = i1 - i < RB ? (int)(i1 - i) : RB;
        /* the block's Q rows, [D, RB] (zeros past i1), then S[r, t] for TW keys at a time with the
         * sums held in registers over d */
        float *restrict qp = acc + RB * Dv;
        for (int64_t d = 0; d < D; d++)
            for (int r = 0; r < RB; r++) qp[d * RB + r] = r < nr ? j->q[off[0] + (i + r) * j->qi + d * j->qd] : 0.0f;
        int64_t t0 = 0;
        for (; t0 + TW <= Sk; t0 += TW) {
            float c0[TW] = {0}, c1[TW] = {0}, c2[TW] = {0}, c3[TW] = {0};
            for (int64_t d = 0; d < D; d++) {
                const float *restrict w = panel + d * Sk + t0;
                const float q0 = qp[d * RB], q1 = qp[d * RB + 1], q2 = qp[d * RB + 2], q3 = qp[d * RB + 3];
                for (int u = 0; u < TW; u++) {
                    c0[u] += q0 * w[u];
                    c1[u] += q1 * w[u];
                    c2[u] += q2 * w[u];
                    c3[u] += q3 * w[u];
                }
            }
            for (int u = 0; u < TW; u++) {
                S[t0 + u] = c0[u];
                S[Sk + t0 + u] = c1[u];
                S[2 * Sk + t0 + u] = c2[u];
                S[3 * Sk + t0 + u] = c3[u];
            }
        }
        for (int64_t t = t0; t < Sk; t++)
            for (int r = 0; r < RB; r++) {
                float sum = 0.0f;
                for (int64_t d = 0; d < D; d++) sum += qp[d * RB + r] * panel[d * Sk + t];
                S[r * Sk + t] = sum;
            }
        for (int r = 0; r < nr; r++) {
            float *restrict s = S + r * Sk;
            if (a->has_scale) {
                if (a->divide)
                    for (int64_t t = 0; t < Sk; t++) s[t] = s[t] / scale;
                else
                    for (int64_t t = 0; t < Sk; t++) s[t] = s[t] * scale;
            }
            if (j->mask) {
                const float *mr = j->mask + off[4] + (i + r) * j->mi;
                if (j->mj == 1)
                    for (int64_t t = 0; t < Sk; t++) s[t] += mr[t];
                else
                    for (int64_t t = 0; t < Sk; t++) s[t] += mr[t * j->mj];
            }
            if (a->causal) /* keys past the query row */
                for (int64_t t = i + r + 1; t < Sk; t++) s[t] = -INFINITY;
            attn_softmax_row(s, Sk);
        }
        for (int r = nr; r < RB; r++)
            for (int64_t t = 0; t < Sk; t++) S[r * Sk + t] = 0.0f;
        /* Y[r, c] for TW columns at a time, the sums held in registers over the keys */
        const float *restrict s0 = S, *restrict s1 = S + Sk, *restrict s2 = S + 2 * Sk, *restrict s3 = S + 3 * Sk;
        int64_t c0i = 0;
        if (j->ve == 1)
            for (; c0i + TW <= Dv; c0i += TW) {
                float c0[TW] = {0}, c1[TW] = {0}, c2[TW] = {0}, c3[TW] = {0};
                for (int64_t t = 0; t < Sk; t++) {
                    const float *restrict vr = vb + t * j->vj + c0i;
                    const float p0 = s0[t], p1 = s1[t], p2 = s2[t], p3 = s3[t];
                    for (int u = 0; u < TW; u++) {
                        c0[u] += p0 * vr[u];
                        c1[u] += p1 * vr[u];
                        c2[u] += p2 * vr[u];
                        c3[u] += p3 * vr[u];
                    }
                }
                for (int u = 0; u < TW; u++) {
                    acc[c0i + u] = c0[u];
                    acc[Dv + c0i + u] = c1[u];
                    acc[2 * Dv + c0i + u] = c2[u];
                    acc[3 * Dv + c0i + u] = c3[u];
                }
            }
        for (int64_t c = c0i; c < Dv; c++)
            for (int r = 0; r < RB; r++) {
                float sum = 0.0f;
                for (int64_t t = 0; t < Sk; t++) sum += S[r * Sk + t] * vb[t * j->vj + c * j->ve];
                acc[r * Dv + c] = sum;
            }
        for (int r = 0; r < nr; r++) {
            float *yr = j->y + off[3] + (i + r) * j->yi;
            for (int64_t c = 0; c < Dv; c++) yr[c * j->ye] = acc[r * Dv + c];
        }
    }
}

WEFT_CPU_CLONES(attn_rows,
                (const attn_job *j, int64_t b, int64_t i0, int64_t i1, const int64_t *off, char *scr),
                (j, b, i0, i1, off, scr))

static void attn_task(void *ctx, int t, int nt)
{
    attn_job *j = ctx;
    char *scr = j->scr + (size_t)t * j->per_thread;
    int64_t tasks = j->n_batch * j->n_blocks, b0, e0;
    weft_cpu_part(tasks, t, nt, &b0, &e0);
    for (int64_t w = b0; w < e0; w++) {
        int64_t b = w / j->n_blocks, blk = w % j->n_blocks;
        int64_t off[5] = {0}, rest = b;
        for (int d = j->nb - 1; d >= 0; d--) {
            int64_t x = rest % j->bdims[d];
            rest /= j->bdims[d];
            for (int o = 0; o < 5; o++) off[o] += x * j->bs[o][d];
        }
        int64_t i0 = blk * ATTN_ROWS, i1 = i0 + ATTN_ROWS < j->Sq ? i0 + ATTN_ROWS : j->Sq;
        j->rows(j, b, i0, i1, off, scr);
    }
}

/* The batch stride of view dim d for an output batch dim of size n: 0 where the view broadcasts. */
static bool batch_stride(const weft_attn_view *v, int d, int64_t n, int64_t *out)
{
    if (v->dims[d] == n) *out = v->dims[d] == 1 ? 0 : v->strides[d];
    else if (v->dims[d] == 1) *out = 0;
    else return false;
    return true;
}

static weft_status attn_run(const void *prepared, weft_kernel_ctx *k)
{
    const attn_prep *p = prepared;
    const weft_attn_spec *a = &p->a;
    const weft_tview *Q = &k->in[0], *K = &k->in[1], *V = &k->in[2], *Y = &k->out[0];
    const weft_tview *M = weft_kin_present(k, 3) ? &k->in[3] : NULL;
    int R = Y->rank;
    weft_attn_view q, kt, v, y, mv;
    bool ok = Q->dtype == WEFT_FLOAT32 && K->dtype == WEFT_FLOAT32 && V->dtype == WEFT_FLOAT32 &&
              Y->dtype == WEFT_FLOAT32 && (!M || M->dtype == WEFT_FLOAT32) && R >= 3 && Q->rank == R &&
              K->rank == R && V->rank == R && (!M || M->rank <= R);
    ok = ok && weft_attn_view_of(a, WEFT_ATTN_Q, R, Q->dims, &q) && weft_attn_view_of(a, WEFT_ATTN_K, R, K->dims, &kt) &&
         weft_attn_view_of(a, WEFT_ATTN_V, R, V->dims, &v) && weft_attn_view_of(a, WEFT_ATTN_OUT, R, Y->dims, &y);
    attn_job j;
    memset(&j, 0, sizeof j);
    if (ok) {
        j.Sq = q.dims[R - 2];
        j.D = q.dims[R - 1];
        j.Sk = kt.dims[R - 1];
        j.Dv = v.dims[R - 1];
        ok = kt.dims[R - 2] == j.D && v.dims[R - 2] == j.Sk && y.dims[R - 2] == j.Sq && y.dims[R - 1] == j.Dv &&
             j.Sq > 0 && j.Sk > 0 && j.D > 0 && j.Dv > 0;
    }
    if (ok && M) {
        /* the mask, padded to rank R, broadcast onto [.., Sq, Sk] without widening the last two axes */
        int lead = R - M->rank;
        int64_t md[WEFT_ATTN_MAX_RANK], st = 1, ms[WEFT_ATTN_MAX_RANK];
        for (int i = R - 1; i >= 0; i--) {
            md[i] = i < lead ? 1 : M->dims[i - lead];
            ms[i] = md[i] == 1 ? 0 : st;
            st *= md[i];
        }
        mv.rank = R;
        memcpy(mv.dims, md, sizeof md);
        memcpy(mv.strides, ms, sizeof ms);
        ok = (md[R - 2] == j.Sq || md[R - 2] == 1) && (md[R - 1] == j.Sk || md[R - 1] == 1);
        j.mi = ms[R - 2];
        j.mj = ms[R - 1];
    }
    j.nb = R - 2;
    j.n_batch = 1;
    for (int d = 0; ok && d < j.nb; d++) {
        j.bdims[d] = y.dims[d];
        j.n_batch *= y.dims[d];
        ok = batch_stride(&q, d, y.dims[d], &j.bs[0][d]) && batch_stride(&kt, d, y.dims[d], &j.bs[1][d]) &&
             batch_stride(&v, d, y.dims[d], &j.bs[2][d]) && (!M || batch_stride(&mv, d, y.dims[d], &j.bs[4][d]));
        j.bs[3][d] = y.strides[d];
    }
    if (!ok || j.n_batch == 0) return p->def->run(k); /* the reference computes (or reports) the rest */
    j.p = p;
    j.qi = q.strides[R - 2];
    j.qd = q.strides[R - 1];
    j.kd = kt.strides[R - 2];
    j.kj = kt.strides[R - 1];
    j.vj = v.strides[R - 2];
    j.ve = v.strides[R - 1];
    j.yi = y.strides[R - 2];
    j.ye = y.strides[R - 1];
    j.q = Q->data;
    j.k = K->data;
    j.v = V->data;
    j.mask = M ? M->data : NULL;
    j.y = Y->data;
    j.n_blocks = (j.Sq + ATTN_ROWS - 1) / ATTN_ROWS;
    j.per_thread = weft_cpu_round((size_t)(j.D * j.Sk) * sizeof(float)) + weft_cpu_round((size_t)(RB * j.Sk) * sizeof(float)) +
                   weft_cpu_round((size_t)(RB * (j.Dv + j.D)) * sizeof(float));
    int64_t tasks = j.n_batch * j.n_blocks;
    j.nt = weft_cpu_threads_for(k, j.n_batch * j.Sq * j.Sk * (j.D + j.Dv));
    if (j.nt > tasks) j.nt = (int)tasks;
    char *scr = k->scratch(k->user, j.per_thread * (size_t)j.nt + 64);
    if (!scr) return weft_op_error(k->node, WEFT_ERR_NOMEM, "cannot allocate scratch");
    j.scr = scr + ((64 - ((uintptr_t)scr & 63)) & 63);
    j.rows = attn_rows_pick();
    weft_cpu_parallel(j.nt, attn_task, &j);
    return WEFT_OK;
}

static void attn_release(void *prepared) { free(prepared); }

const weft_cpu_op weft_cpu_op_attention = {"ai.weft", "FusedAttention", attn_supports, attn_prepare, attn_run,
                                           attn_release};
