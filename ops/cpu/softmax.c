/*
 * ops/cpu/softmax.c — Softmax and LogSoftmax over the last axis (from opset 13), or over every axis
 * from `axis` on (before 13, where the input is coerced to 2-D): either way each row is contiguous.
 *
 * The reference's formula, in double: m = the row's maximum (NaN ignored), s = sum exp(x - m),
 * y = exp(x - m) / s or (x - m) - log(s). The maximum is taken in the element type (comparisons are
 * exact, so it is the same value), the sum is kept in 8 lanes combined in a fixed order (so every
 * instruction set and thread count gives the same bits) and exp is vmath.h's. Softmax rows of up to
 * KEEP elements keep their exponentials in double for the last pass, which multiplies them by 1 / s
 * (longer rows compute them again): one exp per element instead of two, and a multiply instead of a
 * divide, which differs from exp(x - m) / s by at most one more rounding in double. Results agree with
 * the reference within a few ulp of double before the final rounding (float32 results nearly always
 * bit for bit, float64 within 1e-15 relative).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vmath.h"

#define LANES 8
/* Rows up to this long keep their exponentials (on the stack) for the last pass. */
#define KEEP 1024

typedef struct {
    const void *x;
    void *y;
    int64_t rows, n;
    bool log;
    int nt;
    void (*fn)(const void *x, void *y, int64_t r0, int64_t r1, int64_t n, bool lg);
} sm_job;

#define DEF_SOFTMAX(T, S)                                                                          \
    WEFT_CPU_INLINE void softmax_##S##_body(const void *xv, void *yv, int64_t r0, int64_t r1, int64_t n, bool lg) \
    {                                                                                              \
        double e[KEEP]; /* the row's exp(x - m), when it fits: computed once */                   \
        const bool keep = !lg && n <= KEEP;                                                        \
        for (int64_t r = r0; r < r1; r++) {                                                        \
            const T *restrict x = (const T *)xv + r * n;                                           \
            T *restrict y = (T *)yv + r * n;                                                       \
            T lane[LANES];                                                                         \
            double sl[LANES];                                                                      \
            int64_t j = 0;                                                                         \
            /* the maximum in T itself: comparisons are exact, so it is the double maximum */      \
            for (int l = 0; l < LANES; l++) lane[l] = (T)-INFINITY;                                \
            for (; j + LANES <= n; j += LANES)                                                     \
                for (int l = 0; l < LANES; l++) lane[l] = x[j + l] > lane[l] ? x[j + l] : lane[l]; \
            T mt = (T)-INFINITY;                                                                   \
            for (int l = 0; l < LANES; l++) mt = lane[l] > mt ? lane[l] : mt;                      \
            for (; j < n; j++) mt = x[j] > mt ? x[j] : mt;                                         \
            const double m = (double)mt;                                                           \
            for (int l = 0; l < LANES; l++) sl[l] = 0;                                             \
            if (keep) { /* one plain loop (vectorised at full width), then the lane sums */        \
                for (j = 0; j < n; j++) e[j] = weft_vexp((double)x[j] - m);                        \
                for (j = 0; j + LANES <= n; j += LANES)                                            \
                    for (int l = 0; l < LANES; l++) sl[l] += e[j + l];                             \
            } else {                                                                               \
                for (j = 0; j + LANES <= n; j += LANES)                                            \
                    for (int l = 0; l < LANES; l++) sl[l] += weft_vexp((double)x[j + l] - m);      \
            }                                                                                      \
            double s = 0;                                                                          \
            for (int l = 0; l < LANES; l++) s += sl[l];                                            \
            for (; j < n; j++) s += keep ? e[j] : weft_vexp((double)x[j] - m);                     \
            if (lg) {                                                                              \
                const double ls = log(s);                                                          \
                for (j = 0; j < n; j++) y[j] = (T)(((double)x[j] - m) - ls);                       \
            } else if (keep) {                                                                     \
                const double inv = 1.0 / s;                                                        \
                for (j = 0; j < n; j++) y[j] = (T)(e[j] * inv);                                    \
            } else {                                                                               \
                const double inv = 1.0 / s;                                                        \
                for (j = 0; j < n; j++) y[j] = (T)(weft_vexp((double)x[j] - m) * inv);             \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    WEFT_CPU_CLONES(softmax_##S, (const void *xv, void *yv, int64_t r0, int64_t r1, int64_t n, bool lg), \
                    (xv, yv, r0, r1, n, lg))
DEF_SOFTMAX(float, f32)
DEF_SOFTMAX(double, f64)
#undef DEF_SOFTMAX

static void sm_task(void *ctx, int t, int nt)
{
    sm_job *j = ctx;
    for (int part = t; part < j->nt; part += nt) {
        int64_t b, e;
        weft_cpu_part(j->rows, part, j->nt, &b, &e);
        if (b < e) j->fn(j->x, j->y, b, e, j->n, j->log);
    }
}

static bool is_softmax(const weft_step_desc *s)
{
    return weft_cpu_is_op(s, "", "Softmax") || weft_cpu_is_op(s, "", "LogSoftmax");
}

static bool softmax_supports(const weft_step_desc *s)
{
    if (!is_softmax(s) || s->n_in < 1 || !weft_cpu_float(s->in_dtype[0])) return false;
    if (s->node->opset < 13) return true; /* rows from `axis` on are contiguous whatever the axis */
    int64_t axis = weft_attr_int(s->node, "axis", -1);
    int rank = s->in_shape[0].rank;
    return axis == -1 || (rank > 0 && axis == rank - 1);
}

static weft_status softmax_prepare(const weft_step_desc *s, void **prepared)
{
    weft_cpu_prep *p;
    weft_status st = weft_cpu_prep_new(s, &p);
    if (st) return st;
    p->kind = weft_cpu_is_op(s, "", "LogSoftmax");
    p->flags = s->node->opset < 13; /* legacy: the input flattened to 2-D at axis */
    p->axis = weft_attr_int(s->node, "axis", p->flags ? 1 : -1);
    *prepared = p;
    return WEFT_OK;
}

static weft_status softmax_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    const weft_tview *x = &k->in[0];
    bool legacy = p->flags;
    int64_t axis = p->axis;
    if (!weft_cpu_float(x->dtype) || k->out[0].dtype != x->dtype || x->rank < 1 || axis < -x->rank || axis >= x->rank)
        return p->def->run(k); /* the reference reports what is wrong */
    if (axis < 0) axis += x->rank;
    if (!legacy && axis != x->rank - 1) return p->def->run(k);
    int64_t n = 1;
    for (int d = (int)axis; d < x->rank; d++) n *= x->dims[d];
    if (n == 0 || x->numel == 0) return WEFT_OK;
    sm_job j = {x->data, k->out[0].data, x->numel / n, n, p->kind, weft_cpu_threads_for(k, 8 * x->numel), NULL};
    j.fn = x->dtype == WEFT_FLOAT32 ? softmax_f32_pick() : softmax_f64_pick();
    weft_cpu_parallel(j.nt, sm_task, &j);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_softmax = {"", "Softmax|LogSoftmax", softmax_supports, softmax_prepare, softmax_run,
                                         weft_cpu_prep_free};
