/*
 * ops/cpu/edge_softmax.c — softmax of edge scores over the edges of each destination: ai.weft
 * CsrEdgeSoftmax and EdgeSoftmax (the public op: a CSR index is built in scratch first).
 *
 * Computed as EdgeSoftmax's reference computes it, in double: the segment's maximum (NaN scores do not
 * raise it), exp(s - max) summed in position order (which is edge order within a segment), then each
 * exp divided by the sum and rounded once. The exponentials are kept in scratch between the two
 * passes instead of being computed twice. Owner computes over segments, so the bits do not depend on
 * the thread count; libm's exp keeps them equal to the reference's.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"

#define DEF_ESM(T, S)                                                                              \
    static void esm_##S(const weft_cpu_esm *a, int64_t n0, int64_t n1)                             \
    {                                                                                              \
        const T *restrict s = a->scores;                                                           \
        T *restrict o = a->out;                                                                    \
        const int64_t *off = a->offsets, *perm = a->perm, H = a->H;                                \
        double *restrict ex = a->ex;                                                               \
        for (int64_t n = n0; n < n1; n++) {                                                        \
            const int64_t j0 = off[n], j1 = off[n + 1];                                            \
            for (int64_t h = 0; h < H; h++) {                                                      \
                double m = -INFINITY, sum = 0;                                                     \
                for (int64_t j = j0; j < j1; j++)                                                  \
                    if (s[perm[j] * H + h] > m) m = s[perm[j] * H + h];                            \
                for (int64_t j = j0; j < j1; j++) {                                                \
                    double e = exp((double)s[perm[j] * H + h] - m);                                \
                    ex[j * H + h] = e;                                                             \
                    sum += e;                                                                      \
                }                                                                                  \
                for (int64_t j = j0; j < j1; j++) o[perm[j] * H + h] = (T)(ex[j * H + h] / sum);   \
            }                                                                                      \
        }                                                                                          \
    }
DEF_ESM(float, f32)
DEF_ESM(double, f64)
#undef DEF_ESM

typedef struct {
    const weft_cpu_esm *a;
    int nt;
} esm_job;

static void esm_task(void *ctx, int t, int nt)
{
    esm_job *j = ctx;
    const weft_cpu_esm *a = j->a;
    for (int part = t; part < j->nt; part += nt) {
        int64_t n0 = weft_cpu_rows_at(a->offsets, a->N, part, j->nt);
        int64_t n1 = weft_cpu_rows_at(a->offsets, a->N, part + 1, j->nt);
        if (n0 >= n1) continue;
        if (a->dtype == WEFT_FLOAT32) esm_f32(a, n0, n1);
        else esm_f64(a, n0, n1);
    }
}

void weft_cpu_edge_softmax(const weft_cpu_esm *a, int threads)
{
    esm_job j = {a, threads};
    if (a->N > 0 && a->H > 0) weft_cpu_parallel(threads, esm_task, &j);
}

/* An exp costs about as much as a few dozen additions: more threads per edge than elsewhere. */
static int esm_threads(const weft_kernel_ctx *k, int64_t E, int64_t H) { return weft_cpu_threads_for(k, 16 * E * H); }

static bool scores_ok(const weft_tview *sc) { return weft_cpu_float(sc->dtype) && (sc->rank == 1 || sc->rank == 2); }

/* --- CsrEdgeSoftmax ------------------------------------------------------------------------------ */

static bool csr_esm_supports(const weft_step_desc *s)
{
    return weft_cpu_is_op(s, "ai.weft", "CsrEdgeSoftmax") && s->n_in >= 3 && weft_cpu_float(s->in_dtype[0]) &&
           s->in_dtype[1] == WEFT_INT64 && s->in_dtype[2] == WEFT_INT64;
}

static weft_status csr_esm_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    const weft_tview *sc = &k->in[0], *off = &k->in[1];
    if (!scores_ok(sc) || k->out[0].dtype != sc->dtype || k->out[0].numel != sc->numel || off->numel < 1)
        return p->def->run(k); /* the reference reports what is wrong */
    int64_t E = sc->dims[0], H = sc->rank == 2 ? sc->dims[1] : 1, N = off->numel - 1;
    if ((uint64_t)E > SIZE_MAX / 16 / (uint64_t)(H ? H : 1)) return p->def->run(k);
    int nt = esm_threads(k, E, H);
    size_t b_ex = weft_cpu_round((size_t)(E * H) * sizeof(double));
    char *mem = k->scratch(k->user, b_ex + (size_t)weft_cpu_perm_seen_len(E) * sizeof(uint64_t));
    if (!mem) return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of scratch memory");
    if (!weft_cpu_csr_valid(k, 1, E, 2, -1, 0, (uint64_t *)(mem + b_ex), nt)) return p->def->run(k);
    weft_cpu_esm a = {sc->dtype, sc->data, k->out[0].data, off->data, k->in[2].data, N, H, (double *)mem};
    weft_cpu_edge_softmax(&a, nt);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_csr_edge_softmax = {"ai.weft", "CsrEdgeSoftmax", csr_esm_supports, weft_cpu_prepare_plain, csr_esm_run,
                                                  weft_cpu_prep_free};

/* --- EdgeSoftmax --------------------------------------------------------------------------------- */

static bool esm_supports(const weft_step_desc *s)
{
    return weft_cpu_is_op(s, "ai.weft", "EdgeSoftmax") && s->n_in >= 3 && weft_cpu_float(s->in_dtype[0]) &&
           weft_cpu_index(s->in_dtype[1]);
}

static weft_status esm_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    const weft_tview *sc = &k->in[0], *idx = &k->in[1];
    if (!scores_ok(sc) || k->out[0].dtype != sc->dtype || !weft_cpu_index(idx->dtype) || k->in[2].numel != 1 ||
        idx->numel != sc->dims[0])
        return p->def->run(k); /* the reference reports what is wrong */
    int64_t N = weft_load_i64(k->in[2].dtype, k->in[2].data, 0), E = sc->dims[0], H = sc->rank == 2 ? sc->dims[1] : 1;
    if (N < 0 || (uint64_t)N > SIZE_MAX / 64) return p->def->run(k);
    int nt = esm_threads(k, E, H), ct = weft_cpu_csr_threads(k, E, N);
    size_t b_off = weft_cpu_round((size_t)(N + 1) * sizeof(int64_t));
    size_t b_perm = weft_cpu_round((size_t)E * sizeof(int64_t));
    size_t b_ex = weft_cpu_round((size_t)(E * H) * sizeof(double));
    size_t b_hist = (size_t)weft_cpu_csr_hist_len(N, ct) * sizeof(int64_t);
    char *mem = k->scratch(k->user, b_off + b_perm + b_ex + b_hist);
    if (!mem) return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of scratch memory");
    weft_cpu_csr_job j = {
        .index = idx->data, .index_wide = idx->dtype == WEFT_INT64, .E = E, .N = N, .offsets = (int64_t *)mem,
        .perm = (int64_t *)(mem + b_off), .hist = (int64_t *)(mem + b_off + b_perm + b_ex), .threads = ct,
    };
    int64_t bad = 0;
    bool bad_src;
    if (weft_cpu_csr_build(&j, &bad, &bad_src))
        return weft_op_error(k->node, WEFT_ERR_INDEX, "index[%lld] = %lld is out of range [0, %lld)", (long long)bad,
                             (long long)weft_cpu_ld(idx->data, j.index_wide, bad), (long long)N);
    weft_cpu_esm a = {sc->dtype, sc->data, k->out[0].data, j.offsets, j.perm, N, H, (double *)(mem + b_off + b_perm)};
    weft_cpu_edge_softmax(&a, nt);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_edge_softmax = {"ai.weft", "EdgeSoftmax", esm_supports, weft_cpu_prepare_plain, esm_run,
                                              weft_cpu_prep_free};
