/*
 * ops/cpu/link_score.c — ai.weft LinkScore (SDDMM): out[p] = sum_f a[ia[p], f] * b[ib[p], f].
 *
 * The reference's arithmetic: each product rounded to T (the exported Mul), the sum over f in order in
 * double (the exported ReduceSum), rounded once. The sum is a chain of dependent additions, so a pair
 * alone runs at the adder's latency; eight pairs are interleaved instead (eight independent chains,
 * each still in f order), which keeps the adders busy and gives the reference's bits. Pairs are split
 * into contiguous ranges per thread; the next block's rows are prefetched. One version for every
 * instruction set: AVX2 clones measured no faster, the ordered sums being the bound (and rows from
 * memory, for large tables).
 */
#include <stdlib.h>
#include <string.h>

#include "kern.h"

typedef struct {
    const void *a, *b, *ia, *ib;
    bool ia_wide, ib_wide;
    void *out;
    int64_t P, F, Na, Nb;
    int nt;
    void (*fn)(const void *job, int64_t p0, int64_t p1);
} link_job;

#define PAIRS 8

#define DEF_LINK(T, S)                                                                             \
    WEFT_CPU_INLINE void link_##S##_body(const void *jv, int64_t p0, int64_t p1)                   \
    {                                                                                              \
        const link_job *g = jv;                                                                    \
        const T *A = g->a, *B = g->b;                                                              \
        T *o = g->out;                                                                             \
        const int64_t F = g->F;                                                                    \
        int64_t p = p0;                                                                            \
        for (; p + PAIRS <= p1; p += PAIRS) {                                                      \
            const T *ar[PAIRS], *br[PAIRS];                                                        \
            double s[PAIRS];                                                                       \
            for (int l = 0; l < PAIRS; l++) {                                                      \
                int64_t i = weft_cpu_ld(g->ia, g->ia_wide, p + l), j = weft_cpu_ld(g->ib, g->ib_wide, p + l); \
                ar[l] = A + (i < 0 ? i + g->Na : i) * F;                                           \
                br[l] = B + (j < 0 ? j + g->Nb : j) * F;                                           \
                s[l] = 0;                                                                          \
                if (p + PAIRS + l < p1) { /* the next block's rows */                              \
                    i = weft_cpu_ld(g->ia, g->ia_wide, p + PAIRS + l);                             \
                    j = weft_cpu_ld(g->ib, g->ib_wide, p + PAIRS + l);                             \
                    weft_cpu_prefetch_row(A + (i < 0 ? i + g->Na : i) * F, (size_t)F * sizeof(T)); \
                    weft_cpu_prefetch_row(B + (j < 0 ? j + g->Nb : j) * F, (size_t)F * sizeof(T)); \
                }                                                                                  \
            }                                                                                      \
            for (int64_t f = 0; f < F; f++)                                                        \
                for (int l = 0; l < PAIRS; l++) s[l] += (double)(T)(ar[l][f] * br[l][f]);         \
            for (int l = 0; l < PAIRS; l++) o[p + l] = (T)s[l];                                    \
        }                                                                                          \
        for (; p < p1; p++) {                                                                      \
            int64_t i = weft_cpu_ld(g->ia, g->ia_wide, p), j = weft_cpu_ld(g->ib, g->ib_wide, p);  \
            const T *ar = A + (i < 0 ? i + g->Na : i) * F, *br = B + (j < 0 ? j + g->Nb : j) * F;  \
            double s = 0;                                                                          \
            for (int64_t f = 0; f < F; f++) s += (double)(T)(ar[f] * br[f]);                       \
            o[p] = (T)s;                                                                           \
        }                                                                                          \
    }                                                                                              \
    WEFT_CPU_SINGLE(link_##S, (const void *jv, int64_t p0, int64_t p1), (jv, p0, p1))
DEF_LINK(float, f32)
DEF_LINK(double, f64)
#undef DEF_LINK

static void link_task(void *ctx, int t, int nt)
{
    link_job *j = ctx;
    for (int part = t; part < j->nt; part += nt) {
        int64_t b, e;
        weft_cpu_part(j->P, part, j->nt, &b, &e);
        if (b < e) j->fn(j, b, e);
    }
}

static bool link_supports(const weft_step_desc *s)
{
    return weft_cpu_is_op(s, "ai.weft", "LinkScore") && s->n_in == 4 && weft_cpu_float(s->in_dtype[0]) &&
           s->in_dtype[1] == s->in_dtype[0] && weft_cpu_index(s->in_dtype[2]) && weft_cpu_index(s->in_dtype[3]);
}

static weft_status link_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    const weft_tview *a = &k->in[0], *b = &k->in[1], *ia = &k->in[2], *ib = &k->in[3];
    /* anything the reference would refuse: it says what */
    if (!weft_cpu_float(a->dtype) || b->dtype != a->dtype || k->out[0].dtype != a->dtype || a->rank != 2 ||
        b->rank != 2 || b->dims[1] != a->dims[1] || !weft_cpu_index(ia->dtype) || !weft_cpu_index(ib->dtype) ||
        ib->numel != ia->numel || k->out[0].numel != ia->numel)
        return p->def->run(k);
    link_job j = {a->data, b->data, ia->data, ib->data, ia->dtype == WEFT_INT64, ib->dtype == WEFT_INT64,
                  k->out[0].data, ia->numel, a->dims[1], a->dims[0], b->dims[0], 1, NULL};
    int nt = weft_kthreads(k);
    const weft_tview *idx[2] = {ia, ib};
    const int64_t rows[2] = {j.Na, j.Nb};
    for (int i = 0; i < 2; i++) { /* Gather's convention: [-rows, rows), checked before anything is written */
        bool wide = idx[i]->dtype == WEFT_INT64;
        int64_t bad = weft_cpu_first_bad(idx[i]->data, wide, j.P, -rows[i], rows[i], nt);
        if (bad >= 0) {
            const char *name = i ? "ib" : "ia";
            return weft_op_error(k->node, WEFT_ERR_INDEX, "input %d (%s): %s[%lld] = %lld is out of range [%lld, %lld)",
                                 i + 2, name, name, (long long)bad, (long long)weft_cpu_ld(idx[i]->data, wide, bad),
                                 (long long)-rows[i], (long long)rows[i]);
        }
    }
    if (j.P == 0) return WEFT_OK;
    j.nt = weft_cpu_threads_for(k, j.P * (j.F + 4));
    j.fn = a->dtype == WEFT_FLOAT32 ? link_f32_pick() : link_f64_pick();
    weft_cpu_parallel(j.nt, link_task, &j);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_link_score = {"ai.weft", "LinkScore", link_supports, weft_cpu_prepare_plain, link_run,
                                            weft_cpu_prep_free};
