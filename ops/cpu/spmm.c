/*
 * ops/cpu/spmm.c — ai.weft CsrGatherReduce: rows x[col[j]] (times an optional per-edge weight) reduced
 * into destination rows without materialising the [E, F] messages (SpMM).
 *
 * Owner computes over destination rows, split into ranges of about equal edge counts; each row is
 * reduced in position order (the first message copied, then combined, as the reference does), so any
 * thread count gives the reference's bits. Rows of the usual widths (16 to 128 features, up to 512
 * bytes) are reduced in registers, the width a compile-time constant; others in the output row, which
 * stays in L1. Gathered rows are prefetched a few positions ahead, since their addresses (col) are
 * known early and the hardware prefetcher cannot guess them.
 */
#include <stdlib.h>
#include <string.h>

#include "kern.h"

typedef struct {
    weft_dtype dtype;
    const void *x, *w;          /* w: NULL, or [E, H] (H = 1 for a scalar per edge) */
    const int64_t *off, *col, *perm;
    void *out;
    int64_t N, F, H, Fh;        /* F = H * Fh elements per row */
    int kind;
} spmm_args;

/* The row WEFT_CPU_AHEAD positions ahead (across segments: positions are contiguous up to jend). */
#define SPMM_PREFETCH(T, q, RB)                                                                    \
    if ((q) + WEFT_CPU_AHEAD < jend)                                                               \
        weft_cpu_prefetch_row(x + col[(q) + WEFT_CPU_AHEAD] * (RB), (size_t)(RB) * sizeof(T));

/* A message: x's row as it is, or scaled by the edge's weight (w * x, the exported Mul's order). */
#define MSG_PLAIN(wv, v) (v)
#define MSG_SCALED(wv, v) ((wv) * (v))
#define WGT_NONE(q) 1
#define WGT_EDGE(q) (w[perm[q]])

/* Segment positions [j, j1) (at least one) into a[0..FC), the accumulator in registers: FC is a
 * constant, so the feature loops unroll into whole vectors and nothing but the gathered rows touches
 * memory. */
#define SEG_REGS(T, FC, FOLD, MSG, WGT)                                                            \
    {                                                                                              \
        T acc[FC];                                                                                 \
        const T *restrict v0 = x + col[j] * (FC), w0 = WGT(j);                                     \
        (void)w0;                                                                                  \
        for (int f = 0; f < (FC); f++) acc[f] = MSG(w0, v0[f]);                                    \
        for (int64_t q = j + 1; q < j1; q++) {                                                     \
            SPMM_PREFETCH(T, q, FC)                                                                \
            const T *restrict v = x + col[q] * (FC), wq = WGT(q);                                  \
            (void)wq;                                                                              \
            for (int f = 0; f < (FC); f++) {                                                       \
                T m = MSG(wq, v[f]);                                                               \
                acc[f] = FOLD(acc[f], m);                                                          \
            }                                                                                      \
        }                                                                                          \
        for (int f = 0; f < (FC); f++) a[f] = acc[f];                                              \
    }

/* The same for any F, the accumulator being the output row (in L1). */
#define SEG_ROW(T, FOLD, MSG, WGT)                                                                 \
    {                                                                                              \
        const T *restrict v0 = x + col[j] * F, w0 = WGT(j);                                        \
        (void)w0;                                                                                  \
        for (int64_t f = 0; f < F; f++) a[f] = MSG(w0, v0[f]);                                     \
        for (int64_t q = j + 1; q < j1; q++) {                                                     \
            SPMM_PREFETCH(T, q, F)                                                                 \
            const T *restrict v = x + col[q] * F, wq = WGT(q);                                     \
            (void)wq;                                                                              \
            for (int64_t f = 0; f < F; f++) {                                                      \
                T m = MSG(wq, v[f]);                                                               \
                a[f] = FOLD(a[f], m);                                                              \
            }                                                                                      \
        }                                                                                          \
    }

/* Rows of up to 512 bytes of the usual widths in registers (16 AVX2 registers at most), others in L1. */
#define SEG_ANY(T, FOLD, MSG, WGT)                                                                 \
    switch (F * (int64_t)sizeof(T) <= 512 ? F : 0) {                                               \
    case 16: SEG_REGS(T, 16, FOLD, MSG, WGT) break;                                                \
    case 32: SEG_REGS(T, 32, FOLD, MSG, WGT) break;                                                \
    case 64: SEG_REGS(T, 64, FOLD, MSG, WGT) break;                                                \
    case 128: SEG_REGS(T, 128, FOLD, MSG, WGT) break;                                              \
    default: SEG_ROW(T, FOLD, MSG, WGT) break;                                                     \
    }

#define SEG_KINDS(T, MSG, WGT)                                                                     \
    switch (kind) {                                                                                \
    case WEFT_RED_SUM: case WEFT_RED_MEAN: SEG_ANY(T, WEFT_FOLD_SUM, MSG, WGT) break;                    \
    case WEFT_RED_MAX: SEG_ANY(T, WEFT_FOLD_MAX, MSG, WGT) break;                                        \
    default: SEG_ANY(T, WEFT_FOLD_MIN, MSG, WGT) break;                                                 \
    }

/* Heads: message [h, f] = w[perm[j], h] * x[col[j]][h, f], head by head in the output row. */
#define SEG_HEADS(T, FOLD)                                                                         \
    {                                                                                              \
        for (int64_t h = 0; h < H; h++) {                                                          \
            const T wv = w[perm[j] * H + h], *restrict v = x + col[j] * F + h * Fh;                \
            T *restrict ah = a + h * Fh;                                                           \
            for (int64_t f = 0; f < Fh; f++) ah[f] = wv * v[f];                                    \
        }                                                                                          \
        for (int64_t q = j + 1; q < j1; q++) {                                                     \
            SPMM_PREFETCH(T, q, F)                                                                 \
            for (int64_t h = 0; h < H; h++) {                                                      \
                const T wv = w[perm[q] * H + h], *restrict v = x + col[q] * F + h * Fh;            \
                T *restrict ah = a + h * Fh;                                                       \
                for (int64_t f = 0; f < Fh; f++) {                                                 \
                    T m = wv * v[f];                                                               \
                    ah[f] = FOLD(ah[f], m);                                                        \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

#define DEF_SPMM(T, S)                                                                             \
    WEFT_CPU_INLINE void spmm_##S##_body(const spmm_args *g, int64_t n0, int64_t n1)               \
    {                                                                                              \
        const T *restrict x = g->x, *restrict w = g->w;                                            \
        T *restrict out = g->out;                                                                  \
        const int64_t *off = g->off, *col = g->col, *perm = g->perm, F = g->F, H = g->H, Fh = g->Fh; \
        const int64_t jend = off[n1];                                                              \
        const int kind = g->kind;                                                                  \
        for (int64_t n = n0; n < n1; n++) {                                                        \
            T *restrict a = out + n * F;                                                           \
            const int64_t j = off[n], j1 = off[n + 1];                                             \
            if (j == j1) {                                                                         \
                memset(a, 0, (size_t)F * sizeof(T));                                               \
                continue;                                                                          \
            }                                                                                      \
            SPMM_PREFETCH(T, j, F)                                                                 \
            if (!w) SEG_KINDS(T, MSG_PLAIN, WGT_NONE)                                              \
            else if (H == 1) SEG_KINDS(T, MSG_SCALED, WGT_EDGE)                                    \
            else if (kind == WEFT_RED_MAX) SEG_HEADS(T, WEFT_FOLD_MAX)                                  \
            else if (kind == WEFT_RED_MIN) SEG_HEADS(T, WEFT_FOLD_MIN)                                  \
            else SEG_HEADS(T, WEFT_FOLD_SUM)                                                            \
            if (kind == WEFT_RED_MEAN && j1 - j > 1)                                               \
                for (int64_t f = 0; f < F; f++) a[f] = a[f] / (T)(j1 - j);                         \
        }                                                                                          \
    }                                                                                              \
    WEFT_CPU_CLONES(spmm_##S, (const spmm_args *g, int64_t n0, int64_t n1), (g, n0, n1))
DEF_SPMM(float, f32)
DEF_SPMM(double, f64)
#undef DEF_SPMM

typedef struct {
    const spmm_args *g;
    void (*fn)(const spmm_args *, int64_t, int64_t);
    int nt;
} spmm_job;

static void spmm_task(void *ctx, int t, int nt)
{
    spmm_job *j = ctx;
    for (int part = t; part < j->nt; part += nt) {
        int64_t n0 = weft_cpu_rows_at(j->g->off, j->g->N, part, j->nt);
        int64_t n1 = weft_cpu_rows_at(j->g->off, j->g->N, part + 1, j->nt);
        if (n0 < n1) j->fn(j->g, n0, n1);
    }
}

static bool spmm_supports(const weft_step_desc *s)
{
    if (!weft_cpu_is_op(s, "ai.weft", "CsrGatherReduce") || s->n_in < 3) return false;
    weft_dtype t = s->in_dtype[0];
    if (!weft_cpu_float(t) || s->in_dtype[1] != WEFT_INT64 || s->in_dtype[2] != WEFT_INT64) return false;
    if (s->n_in > 3 && s->in_dtype[3] != WEFT_UNDEFINED && s->in_dtype[3] != WEFT_INT64) return false;
    if (s->n_in > 4 && s->in_dtype[4] != WEFT_UNDEFINED && s->in_dtype[4] != t) return false;
    int kind = weft_cpu_reduce_kind(s->node);
    return kind >= 0 && kind != WEFT_RED_MUL;
}

static weft_status spmm_prepare(const weft_step_desc *s, void **prepared)
{
    weft_cpu_prep *p;
    weft_status st = weft_cpu_prep_new(s, &p);
    if (st) return st;
    p->kind = weft_cpu_reduce_kind(s->node);
    *prepared = p;
    return WEFT_OK;
}

/* Heads of a weight: [E] and [E, 1] scale the whole row (1), [E, H] and [E, H, 1] head h of it (H);
 * -1 for any other shape. */
static int64_t weight_heads(const weft_tview *w)
{
    if (w->rank < 1 || w->rank > 3 || (w->rank == 3 && w->dims[2] != 1)) return -1;
    return w->rank == 1 ? 1 : w->dims[1];
}

static weft_status spmm_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    const weft_tview *x = &k->in[0], *off = &k->in[1], *col = &k->in[2];
    weft_tview *out = &k->out[0];
    bool has_perm = weft_kin_present(k, 3), has_w = weft_kin_present(k, 4);
    const weft_tview *w = has_w ? &k->in[4] : NULL;
    /* anything the reference would refuse: it says what */
    if (!weft_cpu_float(x->dtype) || out->dtype != x->dtype || x->rank < 1 || off->numel < 1 ||
        (has_w && (!has_perm || w->dtype != x->dtype)))
        return p->def->run(k);
    int64_t N = off->numel - 1, E = col->numel, M = x->dims[0], R = 1, H = 1;
    for (int d = 1; d < x->rank; d++) R *= x->dims[d];
    if (out->dims[0] != N || out->numel != N * R) return p->def->run(k);
    if (has_w) {
        H = weight_heads(w);
        if (H < 1 || w->dims[0] != E || (H != 1 && (x->rank < 2 || x->dims[1] != H))) return p->def->run(k);
    }
    int nt = weft_cpu_threads_for(k, E * (R ? R : 1) + N * R);
    uint64_t *seen = k->scratch(k->user, (size_t)weft_cpu_perm_seen_len(E) * sizeof(uint64_t));
    if (!seen) return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of scratch memory");
    if (!weft_cpu_csr_valid(k, 1, E, has_perm ? 3 : -1, 2, M, seen, nt)) return p->def->run(k);
    if (N == 0 || R == 0) return WEFT_OK;
    spmm_args g = {x->dtype, x->data, has_w ? w->data : NULL, off->data, col->data, has_perm ? k->in[3].data : NULL,
                   out->data, N, R, H, R / H, p->kind};
    spmm_job j = {&g, NULL, nt};
    j.fn = x->dtype == WEFT_FLOAT32 ? spmm_f32_pick() : spmm_f64_pick();
    weft_cpu_parallel(nt, spmm_task, &j);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_csr_gather_reduce = {"ai.weft", "CsrGatherReduce", spmm_supports, spmm_prepare, spmm_run,
                                                   weft_cpu_prep_free};
