/*
 * ops/cpu/cpu_ops.c — the table of weft's CPU kernels (cpu.h) and what they share (kern.h): the
 * parallel runner, work splits, the instruction-set check, index checks.
 */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"

/* --- the table ----------------------------------------------------------------------------------- */

#define WEFT_CPU_ENTRIES(X)                                                                        \
    X(csr) X(csr_reduce) X(csr_gather_reduce) X(csr_edge_softmax) X(link_score) X(l2_normalize)     \
    X(fused_elementwise) X(segment_reduce) X(row_gather) X(edge_softmax) X(gather) X(softmax)       \
    X(layer_norm) X(binary) X(unary) X(reduce) X(select) X(expand) X(attention) X(transpose)

#define DECLARE(x) extern const weft_cpu_op weft_cpu_op_##x;
WEFT_CPU_ENTRIES(DECLARE)
#undef DECLARE

static const weft_cpu_op *const table[] = {
#define LIST(x) &weft_cpu_op_##x,
    WEFT_CPU_ENTRIES(LIST)
#undef LIST
};

const weft_cpu_op *weft_cpu_find(const weft_step_desc *s)
{
    if (!s || !s->def) return NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i]->supports(s)) return table[i];
    return NULL;
}

void weft_cpu_set_threads(int threads) { omp_set_num_threads(threads > 0 ? threads : 1); }

/* --- prepared objects ---------------------------------------------------------------------------- */

weft_status weft_cpu_prep_new(const weft_step_desc *s, weft_cpu_prep **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    (*out)->def = s->def;
    return WEFT_OK;
}

weft_status weft_cpu_prepare_plain(const weft_step_desc *s, void **prepared)
{
    weft_cpu_prep *p = NULL;
    weft_status st = weft_cpu_prep_new(s, &p);
    *prepared = p;
    return st;
}

void weft_cpu_prep_free(void *prepared) { free(prepared); }

bool weft_cpu_is_op(const weft_step_desc *s, const char *domain, const char *name)
{
    const char *d = s->def->domain ? s->def->domain : "";
    return strcmp(d, domain) == 0 && strcmp(s->def->name, name) == 0;
}

int weft_cpu_reduce_kind(const weft_node_info *n)
{
    const char *r = weft_attr_string(n, "reduce", "sum");
    if (!strcmp(r, "sum") || !strcmp(r, "add")) return WEFT_RED_SUM;
    if (!strcmp(r, "mean")) return WEFT_RED_MEAN;
    if (!strcmp(r, "max")) return WEFT_RED_MAX;
    if (!strcmp(r, "min")) return WEFT_RED_MIN;
    if (!strcmp(r, "mul") || !strcmp(r, "prod")) return WEFT_RED_MUL;
    return -1;
}

/* --- threads ------------------------------------------------------------------------------------- */

#define DEFAULT_GRAIN ((int64_t)1 << 15)
int64_t weft_cpu_grain_units = DEFAULT_GRAIN;

void weft_cpu_set_grain(int64_t units) { weft_cpu_grain_units = units >= 1 ? units : DEFAULT_GRAIN; }

void weft_cpu_parallel(int nt, weft_cpu_task f, void *ctx)
{
    if (nt <= 1) {
        f(ctx, 0, 1);
        return;
    }
#pragma omp parallel num_threads(nt)
    f(ctx, omp_get_thread_num(), omp_get_num_threads());
}

int64_t weft_cpu_rows_at(const int64_t *offsets, int64_t N, int t, int nt)
{
    if (t <= 0) return 0;
    if (t >= nt) return N;
    int64_t b, e;
    weft_cpu_part(offsets[N] - offsets[0] + N, t, nt, &b, &e);
    /* the smallest n in [0, N] with cost(n) = offsets[n] - offsets[0] + n >= b (cost is increasing) */
    int64_t lo = 0, hi = N;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (offsets[mid] - offsets[0] + mid >= b) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* --- instruction sets ---------------------------------------------------------------------------- */

static int isa_limit = -1;

int weft_cpu_isa(void)
{
    static int best = -1;
    if (best < 0) {
        int b = WEFT_ISA_BASE;
#if WEFT_CPU_HAVE_CLONES
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) b = WEFT_ISA_AVX2;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
            b = WEFT_ISA_AVX512;
#endif
        best = b; /* the same value from every thread: a benign race */
    }
    return isa_limit >= 0 && isa_limit < best ? isa_limit : best;
}

void weft_cpu_set_isa_limit(int isa) { isa_limit = isa; }

/* --- index checks -------------------------------------------------------------------------------- */

typedef struct {
    const void *idx;
    bool wide;
    int64_t n, lo, hi;
    int64_t bad[256];
} bad_job;

static int64_t first_bad_range(const void *idx, bool wide, int64_t b, int64_t e, int64_t lo, int64_t hi)
{
    if (wide) {
        const int64_t *p = idx;
        for (int64_t i = b; i < e; i++)
            if (p[i] < lo || p[i] >= hi) return i;
    } else {
        const int32_t *p = idx;
        for (int64_t i = b; i < e; i++)
            if (p[i] < lo || p[i] >= hi) return i;
    }
    return -1;
}

static void first_bad_task(void *ctx, int t, int nt)
{
    bad_job *j = ctx;
    int64_t b, e;
    weft_cpu_part(j->n, t, nt, &b, &e);
    j->bad[t] = first_bad_range(j->idx, j->wide, b, e, j->lo, j->hi);
}

int64_t weft_cpu_first_bad(const void *idx, bool wide, int64_t n, int64_t lo, int64_t hi, int nt)
{
    if (nt > 256) nt = 256;
    if (nt <= 1 || n < WEFT_CPU_GRAIN) return first_bad_range(idx, wide, 0, n, lo, hi);
    bad_job j = {idx, wide, n, lo, hi, {0}};
    for (int t = 0; t < nt; t++) j.bad[t] = -1;
    weft_cpu_parallel(nt, first_bad_task, &j);
    for (int t = 0; t < nt; t++) /* parts are in order: the first bad part holds the first bad value */
        if (j.bad[t] >= 0) return j.bad[t];
    return -1;
}

weft_status weft_cpu_num_segments(const weft_kernel_ctx *k, int input, int64_t *out)
{
    const weft_tview *v = &k->in[input];
    if (v->numel != 1) return weft_op_error(k->node, WEFT_ERR_SHAPE, "num_segments must hold one value");
    *out = weft_load_i64(v->dtype, v->data, 0);
    if (*out < 0) return weft_op_error(k->node, WEFT_ERR_SHAPE, "num_segments is negative");
    return WEFT_OK;
}
