/*
 * ops/cpu/segment.c — segment reductions: ai.weft CsrReduce (over a CSR index) and SegmentReduce (the
 * public op: a CSR index is built in scratch first, then the same kernel runs).
 *
 * Owner computes: each thread reduces whole destination rows, rows split into ranges of about equal
 * edge counts. A row is reduced exactly as SegmentReduce's reference does it — its first edge's row
 * copied (or init), the others combined in position order (CSR keeps edge order within a segment),
 * mean divided once at the end — so results are the reference's bit for bit, for any thread count.
 * Rows of 16 to 128 features (up to 512 bytes) are reduced in registers, others in the output row;
 * source rows are prefetched a few positions ahead (perm makes their order random).
 */
#include <stdlib.h>
#include <string.h>

#include "kern.h"

/* The row WEFT_CPU_AHEAD positions ahead (positions are contiguous up to jend). */
#define SR_PREFETCH(T, q, RB)                                                                      \
    if ((q) + WEFT_CPU_AHEAD < jend)                                                               \
        weft_cpu_prefetch_row(src + perm[(q) + WEFT_CPU_AHEAD] * (RB), (size_t)(RB) * sizeof(T));

/* Segment positions [j, j1) into a[0..FC) (FC = F, a constant: the accumulator lives in registers).
 * It starts from init's row, or from the first row (at least one then). */
#define SR_REGS(T, FC, FOLD)                                                                       \
    {                                                                                              \
        T acc[FC];                                                                                 \
        int64_t q = j;                                                                             \
        const T *restrict v0 = init ? init + n * Fo : src + perm[q++] * (FC);                      \
        for (int f = 0; f < (FC); f++) acc[f] = v0[f];                                             \
        for (; q < j1; q++) {                                                                      \
            SR_PREFETCH(T, q, FC)                                                                  \
            const T *restrict v = src + perm[q] * (FC);                                            \
            for (int f = 0; f < (FC); f++) acc[f] = FOLD(acc[f], v[f]);                            \
        }                                                                                          \
        for (int f = 0; f < (FC); f++) a[f] = acc[f];                                              \
    }

/* The same for any F, the accumulator being the output row (in L1). */
#define SR_ROW(T, FOLD)                                                                            \
    {                                                                                              \
        int64_t q = j;                                                                             \
        if (!init) memcpy(a, src + perm[q++] * F, (size_t)F * sizeof(T));                          \
        for (; q < j1; q++) {                                                                      \
            SR_PREFETCH(T, q, F)                                                                   \
            const T *restrict v = src + perm[q] * F;                                               \
            for (int64_t f = 0; f < F; f++) a[f] = FOLD(a[f], v[f]);                               \
        }                                                                                          \
    }

/* Rows of the usual widths up to 512 bytes in registers, others in L1. */
#define SR_ANY(T, FOLD)                                                                            \
    switch (F * (int64_t)sizeof(T) <= 512 ? F : 0) {                                               \
    case 16: SR_REGS(T, 16, FOLD) break;                                                           \
    case 32: SR_REGS(T, 32, FOLD) break;                                                           \
    case 64: SR_REGS(T, 64, FOLD) break;                                                           \
    case 128: SR_REGS(T, 128, FOLD) break;                                                         \
    default: SR_ROW(T, FOLD) break;                                                                \
    }

#define DEF_SEGRED(T, S)                                                                           \
    WEFT_CPU_INLINE void segred_##S##_body(const weft_cpu_segred *r, int64_t n0, int64_t n1)      \
    {                                                                                              \
        const T *restrict src = r->src, *restrict init = r->has_init ? r->init : NULL;             \
        T *restrict out = r->out;                                                                  \
        const int64_t *off = r->offsets, *perm = r->perm, F = r->F, Fo = r->Fo, jend = off[n1];    \
        const int kind = r->kind;                                                                  \
        for (int64_t n = n0; n < n1; n++) {                                                        \
            T *restrict a = out + n * Fo;                                                          \
            const int64_t j = off[n], j1 = off[n + 1];                                             \
            if (init) {                                                                            \
                /* all of init's row (a 2-D init may be wider: the rest stays as it is) */         \
                memcpy(a, init + n * Fo, (size_t)Fo * sizeof(T));                                  \
                if (j == j1) continue;                                                             \
            } else if (j == j1) {                                                                  \
                memset(a, 0, (size_t)Fo * sizeof(T));                                              \
                continue;                                                                          \
            }                                                                                      \
            SR_PREFETCH(T, j, F)                                                                   \
            switch (kind) {                                                                        \
            case WEFT_RED_SUM: case WEFT_RED_MEAN: SR_ANY(T, WEFT_FOLD_SUM) break;                  \
            case WEFT_RED_MAX: SR_ANY(T, WEFT_FOLD_MAX) break;                                      \
            case WEFT_RED_MIN: SR_ANY(T, WEFT_FOLD_MIN) break;                                      \
            default: SR_ANY(T, WEFT_FOLD_MUL) break;                                               \
            }                                                                                      \
            if (kind == WEFT_RED_MEAN && !init && j1 - j > 1)                                      \
                for (int64_t f = 0; f < F; f++) a[f] = a[f] / (T)(j1 - j);                         \
        }                                                                                          \
    }                                                                                              \
    WEFT_CPU_CLONES(segred_##S, (const weft_cpu_segred *r, int64_t n0, int64_t n1), (r, n0, n1))
DEF_SEGRED(float, f32)
DEF_SEGRED(double, f64)
#undef DEF_SEGRED

typedef struct {
    const weft_cpu_segred *r;
    void (*fn)(const weft_cpu_segred *, int64_t, int64_t);
    int nt;
} segred_job;

static void segred_task(void *ctx, int t, int nt)
{
    segred_job *j = ctx;
    for (int part = t; part < j->nt; part += nt) {
        int64_t n0 = weft_cpu_rows_at(j->r->offsets, j->r->N, part, j->nt);
        int64_t n1 = weft_cpu_rows_at(j->r->offsets, j->r->N, part + 1, j->nt);
        if (n0 < n1) j->fn(j->r, n0, n1);
    }
}

void weft_cpu_segment_reduce(const weft_cpu_segred *r, int threads)
{
    segred_job j = {r, r->dtype == WEFT_FLOAT32 ? segred_f32_pick() : segred_f64_pick(), threads};
    if (r->N > 0) weft_cpu_parallel(threads, segred_task, &j);
}

/* Threads for a reduction of E rows of F into N rows of Fo. */
static int segred_threads(const weft_kernel_ctx *k, int64_t E, int64_t F, int64_t N, int64_t Fo)
{
    return weft_cpu_threads_for(k, E * (F ? F : 1) + N * (Fo ? Fo : 1));
}

static int64_t row_size(const weft_tview *t)
{
    int64_t f = 1;
    for (int d = 1; d < t->rank; d++) f *= t->dims[d];
    return f;
}

/* Init rows may be wider than src rows only for 2-D tensors (ScatterElements' form). */
static bool widths_ok(const weft_tview *src, const weft_tview *out, bool has_init)
{
    int64_t F = row_size(src), Fo = row_size(out);
    return Fo == F || (has_init && out->rank == 2 && src->rank == 2 && F < Fo);
}

/* --- CsrReduce ----------------------------------------------------------------------------------- */

static bool csr_reduce_supports(const weft_step_desc *s)
{
    if (!weft_cpu_is_op(s, "ai.weft", "CsrReduce") || s->n_in < 3) return false;
    if (!weft_cpu_float(s->in_dtype[0]) || s->in_dtype[1] != WEFT_INT64 || s->in_dtype[2] != WEFT_INT64) return false;
    if (s->n_in > 3 && s->in_dtype[3] != WEFT_UNDEFINED && s->in_dtype[3] != s->in_dtype[0]) return false;
    return weft_cpu_reduce_kind(s->node) >= 0;
}

static weft_status reduce_prepare(const weft_step_desc *s, void **prepared)
{
    weft_cpu_prep *p;
    weft_status st = weft_cpu_prep_new(s, &p);
    if (st) return st;
    p->kind = weft_cpu_reduce_kind(s->node);
    *prepared = p;
    return WEFT_OK;
}

static weft_status csr_reduce_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    const weft_tview *src = &k->in[0], *off = &k->in[1];
    weft_tview *out = &k->out[0];
    bool has_init = weft_kin_present(k, 3);
    /* anything the reference would refuse: it says what */
    if (!weft_cpu_float(src->dtype) || out->dtype != src->dtype || src->rank < 1 || out->rank < 1 || off->numel < 1 ||
        out->dims[0] != off->numel - 1 || !widths_ok(src, out, has_init) ||
        (has_init && (k->in[3].dtype != src->dtype || k->in[3].numel != out->numel || p->kind == WEFT_RED_MEAN)))
        return p->def->run(k);
    int64_t N = off->numel - 1, E = src->dims[0], F = row_size(src), Fo = row_size(out);
    int nt = segred_threads(k, E, F, N, Fo);
    uint64_t *seen = k->scratch(k->user, (size_t)weft_cpu_perm_seen_len(E) * sizeof(uint64_t));
    if (!seen) return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of scratch memory");
    if (!weft_cpu_csr_valid(k, 1, E, 2, -1, 0, seen, nt)) return p->def->run(k);
    weft_cpu_segred r = {src->dtype, src->data, has_init ? k->in[3].data : NULL, off->data, k->in[2].data, out->data,
                         N, F, Fo, p->kind, has_init};
    weft_cpu_segment_reduce(&r, nt);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_csr_reduce = {"ai.weft", "CsrReduce", csr_reduce_supports, reduce_prepare, csr_reduce_run,
                                            weft_cpu_prep_free};

/* --- SegmentReduce ------------------------------------------------------------------------------- */

static bool segment_reduce_supports(const weft_step_desc *s)
{
    if (!weft_cpu_is_op(s, "ai.weft", "SegmentReduce") || s->n_in < 2) return false;
    if (!weft_cpu_float(s->in_dtype[0]) || !weft_cpu_index(s->in_dtype[1])) return false;
    if (s->n_in > 3 && s->in_dtype[3] != WEFT_UNDEFINED && s->in_dtype[3] != s->in_dtype[0]) return false;
    return weft_cpu_reduce_kind(s->node) >= 0;
}

static weft_status segment_reduce_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    const weft_tview *src = &k->in[0], *idx = &k->in[1];
    weft_tview *out = &k->out[0];
    bool has_init = weft_kin_present(k, 3);
    if (!weft_cpu_float(src->dtype) || out->dtype != src->dtype || !weft_cpu_index(idx->dtype) || src->rank < 1 ||
        out->rank < 1 || src->dims[0] != idx->numel || !widths_ok(src, out, has_init) ||
        (has_init && (k->in[3].dtype != src->dtype || k->in[3].numel != out->numel || p->kind == WEFT_RED_MEAN)))
        return p->def->run(k); /* the reference reports what is wrong */
    int64_t N = out->dims[0], E = idx->numel, F = row_size(src), Fo = row_size(out);
    int nt = segred_threads(k, E, F, N, Fo), ct = weft_cpu_csr_threads(k, E, N);
    size_t b_off = weft_cpu_round((size_t)(N + 1) * sizeof(int64_t));
    size_t b_perm = weft_cpu_round((size_t)E * sizeof(int64_t));
    size_t b_hist = (size_t)weft_cpu_csr_hist_len(N, ct) * sizeof(int64_t);
    char *mem = k->scratch(k->user, b_off + b_perm + b_hist);
    if (!mem) return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of scratch memory");
    weft_cpu_csr_job j = {
        .index = idx->data, .index_wide = idx->dtype == WEFT_INT64, .wrap = has_init, .E = E, .N = N,
        .offsets = (int64_t *)mem, .perm = (int64_t *)(mem + b_off), .hist = (int64_t *)(mem + b_off + b_perm),
        .threads = ct,
    };
    int64_t bad = 0;
    bool bad_src;
    if (weft_cpu_csr_build(&j, &bad, &bad_src))
        return weft_op_error(k->node, WEFT_ERR_INDEX, "index[%lld] = %lld is out of range [0, %lld)", (long long)bad,
                             (long long)weft_cpu_ld(idx->data, j.index_wide, bad), (long long)N);
    weft_cpu_segred r = {src->dtype, src->data, has_init ? k->in[3].data : NULL, j.offsets, j.perm, out->data,
                         N, F, Fo, p->kind, has_init};
    weft_cpu_segment_reduce(&r, nt);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_segment_reduce = {"ai.weft", "SegmentReduce", segment_reduce_supports, reduce_prepare,
                                                segment_reduce_run, weft_cpu_prep_free};
