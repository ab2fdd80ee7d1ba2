/*
 * ops/cpu/transpose.c — ONNX Transpose, any fixed-size dtype, in parallel.
 *
 * The permutation is first simplified: axes of size 1 dropped, neighbouring output axes that are also
 * neighbours in the input merged. Then either
 *   - the innermost output axis is contiguous in the input (heads split or merged, [B, S, H, D] <->
 *     [B, H, S, D]): whole rows are copied, rows split over threads; or
 *   - it is not (NCHW <-> NHWC, a matrix transpose): the output axis that is contiguous in the input
 *     and the innermost output axis form planes transposed in TILE x TILE tiles, so that both sides are
 *     read and written a cache line at a time; bands of TILE rows of the plane split over threads.
 * A copy gives the same bits whatever the split. Ranks up to WEFT_MAX_RANK; anything the reference
 * checks (perm) is checked at run by it: a malformed perm runs the reference kernel, which reports it.
 */
#include <stdlib.h>
#include <string.h>

#include "kern.h"

#define TILE 16

typedef struct tr_job {
    int r;                            /* simplified rank */
    int64_t od[WEFT_MAX_RANK];        /* output dims */
    int64_t is[WEFT_MAX_RANK];        /* input element strides per output axis */
    int64_t os[WEFT_MAX_RANK];        /* output element strides */
    size_t es;
    const char *x;
    char *y;
    int a;                            /* plane case: the output axis contiguous in the input, else -1 */
    int64_t units, rowlen, bands;
    int nt;
} tr_job;

static bool tr_supports(const weft_step_desc *s)
{
    if (!weft_cpu_is_op(s, "", "Transpose") || s->n_in != 1 || s->n_out != 1) return false;
    size_t es = weft_dtype_size(s->in_dtype[0]);
    return (es == 1 || es == 2 || es == 4 || es == 8) && s->in_dtype[0] != WEFT_STRING;
}

/* Offsets (input, output) of outer index u over the axes `axes` (n of them, innermost last). */
static void offsets(const tr_job *j, const int *axes, int n, int64_t u, int64_t *in, int64_t *out)
{
    int64_t oi = 0, oo = 0;
    for (int k = n - 1; k >= 0; k--) {
        int ax = axes[k];
        int64_t x = u % j->od[ax];
        u /= j->od[ax];
        oi += x * j->is[ax];
        oo += x * j->os[ax];
    }
    *in = oi;
    *out = oo;
}

#define TR_PLANE(T)                                                                                   \
    do {                                                                                              \
        const T *xs = (const T *)j->x + ib;                                                           \
        T *ys = (T *)j->y + ob;                                                                       \
        for (int64_t j0 = 0; j0 < J; j0 += TILE) {                                                    \
            int64_t j1 = j0 + TILE < J ? j0 + TILE : J;                                               \
            for (int64_t i = i0; i < i1; i++)                                                         \
                for (int64_t q = j0; q < j1; q++) ys[i * osa + q] = xs[i + q * isl];                  \
        }                                                                                             \
    } while (0)

static void tr_task(void *ctx, int t, int nt)
{
    const tr_job *j = ctx;
    int64_t b, e;
    weft_cpu_part(j->units, t, nt, &b, &e);
    int outer[WEFT_MAX_RANK], n = 0;
    if (j->a < 0) {
        for (int k = 0; k < j->r - 1; k++) outer[n++] = k;
        size_t bytes = (size_t)j->rowlen * j->es;
        for (int64_t u = b; u < e; u++) {
            int64_t ib, ob;
            offsets(j, outer, n, u, &ib, &ob);
            memcpy(j->y + (size_t)ob * j->es, j->x + (size_t)ib * j->es, bytes);
        }
        return;
    }
    for (int k = 0; k < j->r - 1; k++)
        if (k != j->a) outer[n++] = k;
    const int64_t I = j->od[j->a], J = j->od[j->r - 1], osa = j->os[j->a], isl = j->is[j->r - 1];
    for (int64_t u = b; u < e; u++) {
        int64_t ib, ob;
        offsets(j, outer, n, u / j->bands, &ib, &ob);
        int64_t i0 = (u % j->bands) * TILE, i1 = i0 + TILE < I ? i0 + TILE : I;
        switch (j->es) {
        case 1: TR_PLANE(uint8_t); break;
        case 2: TR_PLANE(uint16_t); break;
        case 4: TR_PLANE(uint32_t); break;
        default: TR_PLANE(uint64_t); break;
        }
    }
}
#undef TR_PLANE

static weft_status tr_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    const weft_tview *x = &k->in[0], *y = &k->out[0];
    int rank = x->rank;
    const int64_t *perm;
    int np = weft_attr_ints(k->node, "perm", &perm);
    if (np >= 0 && np != rank) return p->def->run(k);
    int pm[WEFT_MAX_RANK];
    bool seen[WEFT_MAX_RANK] = {false};
    for (int i = 0; i < rank; i++) {
        int64_t v = np < 0 ? rank - 1 - i : perm[i];
        if (v < 0 || v >= rank || seen[v]) return p->def->run(k);
        seen[v] = true;
        pm[i] = (int)v;
    }
    if (y->rank != rank || y->dtype != x->dtype) return p->def->run(k);
    if (x->numel == 0) return WEFT_OK;
    int64_t xs[WEFT_MAX_RANK], s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        xs[i] = s;
        s *= x->dims[i];
    }
    /* output axes of size > 1 with their input strides, neighbours merged where the input has them
     * as neighbours too */
    tr_job j;
    memset(&j, 0, sizeof j);
    for (int i = 0; i < rank; i++) {
        int64_t d = x->dims[pm[i]], st = xs[pm[i]];
        if (d == 1) continue;
        if (j.r > 0 && j.is[j.r - 1] == st * d) {
            j.od[j.r - 1] *= d;
            j.is[j.r - 1] = st;
        } else {
            j.od[j.r] = d;
            j.is[j.r] = st;
            j.r++;
        }
    }
    j.es = weft_dtype_size(x->dtype);
    if (j.r == 0 || (j.r == 1 && j.is[0] == 1)) {
        memcpy(y->data, x->data, (size_t)x->numel * j.es); /* nothing moves */
        return WEFT_OK;
    }
    s = 1;
    for (int i = j.r - 1; i >= 0; i--) {
        j.os[i] = s;
        s *= j.od[i];
    }
    j.x = x->data;
    j.y = y->data;
    j.a = -1;
    if (j.is[j.r - 1] == 1) {
        j.rowlen = j.od[j.r - 1];
        j.units = x->numel / j.rowlen;
    } else {
        for (int i = 0; i < j.r - 1; i++)
            if (j.is[i] == 1) j.a = i;
        if (j.a < 0) return p->def->run(k); /* cannot happen for a permutation; the reference handles it */
        j.bands = (j.od[j.a] + TILE - 1) / TILE;
        j.units = x->numel / (j.od[j.a] * j.od[j.r - 1]) * j.bands;
    }
    j.nt = weft_cpu_threads_for(k, x->numel);
    if (j.nt > j.units) j.nt = (int)j.units;
    weft_cpu_parallel(j.nt, tr_task, &j);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_transpose = {"", "Transpose", tr_supports, weft_cpu_prepare_plain, tr_run,
                                           weft_cpu_prep_free};
