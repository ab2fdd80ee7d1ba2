/*
 * ops/cpu/reduce.c — ReduceSum, ReduceMean, ReduceSumSquare and ReduceL2 (float32 / float64) whose
 * reduced axes are one run of adjacent dimensions: the input is then [A, R, B] (A the kept axes before
 * the run, B those after) and out[a, b] = sum over r of x[a, r, b] (of its square for SumSquare and L2;
 * then divided by R for the mean, the square root taken for L2). Training makes these everywhere: a
 * bias's gradient is the column sum of the output gradient ([N, F] over N), a mean loss reduces every
 * element, an L2 row normalisation keeps its rows' norms for the backward pass.
 *
 * As the reference (ops/reduce.c), sums are kept in double and rounded once to T. With B > 1 every
 * output element adds its R terms in order r = 0, 1, ..., exactly as the reference does: the same bits.
 * Work is split by (a, column block) tiles, so each element is summed by one thread whatever the count.
 * With B = 1 (a row sum, or everything) a long row is cut into blocks of BLOCK elements, each summed in
 * LANES interleaved lanes, and the block sums are then added in block order: a fixed order that does
 * not depend on the thread count or the instruction set. Both orders are sums in double of R terms, so
 * they differ by at most about R ulp of double before the final rounding: float32 results nearly always
 * bit for bit, float64 ones within R * 2^-53 relative of the largest partial sum.
 *
 * Other axis patterns, the empty-axes identity and every error go to the reference kernel.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"

#define BLOCK 4096 /* elements of a row-sum block: one thread's unit of work when B = 1 */
#define LANES 8
#define COLS 64    /* columns of a tile when B > 1 (a [N, 128] column sum: two tiles, two threads) */

enum { K_SUM, K_MEAN, K_SUMSQ, K_L2 };
static const char *const kind_names[] = {"ReduceSum", "ReduceMean", "ReduceSumSquare", "ReduceL2"};

/* The first opset where axes is an input (ReduceSum 13, the others 18). */
static int axes_input_opset(int kind) { return kind == K_SUM ? 13 : 18; }

static int reduce_kind(const weft_step_desc *s)
{
    for (int k = 0; k < 4; k++)
        if (weft_cpu_is_op(s, "", kind_names[k])) return k;
    return -1;
}

static bool reduce_supports(const weft_step_desc *s)
{
    if (reduce_kind(s) < 0) return false;
    /* the axes are read at run time: a pattern the kernel does not take goes to the reference then */
    return s->n_in >= 1 && weft_cpu_float(s->in_dtype[0]) && s->out_dtype[0] == s->in_dtype[0];
}

static weft_status reduce_prepare(const weft_step_desc *s, void **prepared)
{
    weft_cpu_prep *p;
    weft_status st = weft_cpu_prep_new(s, &p);
    if (st) return st;
    p->kind = reduce_kind(s);
    *prepared = p;
    return WEFT_OK;
}

/* The [A, R, B] form of the run's reduction, or false when the node is anything else (the reference
 * then runs it and reports what is wrong, if anything is). */
static bool reduce_shape(const weft_cpu_prep *p, const weft_kernel_ctx *k, int64_t *A, int64_t *R, int64_t *B)
{
    const weft_tview *x = &k->in[0];
    int rank = x->rank;
    int64_t axes[WEFT_MAX_RANK];
    int n = -1;
    if (k->node->opset >= axes_input_opset(p->kind)) {
        if (weft_kin_present(k, 1)) {
            const weft_tview *a = &k->in[1];
            if ((a->dtype != WEFT_INT64 && a->dtype != WEFT_INT32) || a->numel > rank) return false;
            n = (int)a->numel;
            for (int i = 0; i < n; i++) axes[i] = weft_load_i64(a->dtype, a->data, i);
        }
        if (n <= 0 && weft_attr_int(k->node, "noop_with_empty_axes", 0)) return false;
    } else {
        const int64_t *av;
        n = weft_attr_ints(k->node, "axes", &av);
        if (n > rank) return false;
        for (int i = 0; i < n; i++) axes[i] = av[i];
    }
    bool mask[WEFT_MAX_RANK] = {false};
    if (n <= 0) {
        for (int d = 0; d < rank; d++) mask[d] = true;
    } else {
        for (int i = 0; i < n; i++) {
            int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
            if (a < 0 || a >= rank || mask[a]) return false;
            mask[a] = true;
        }
    }
    /* the reduced axes, size-1 axes aside, must be adjacent */
    int first = -1, last = -1;
    for (int d = 0; d < rank; d++)
        if (mask[d] && x->dims[d] != 1) {
            if (first < 0) first = d;
            last = d;
        }
    *A = *R = *B = 1;
    for (int d = 0; d < rank; d++) {
        if (first >= 0 && d >= first && d <= last) {
            if (!mask[d] && x->dims[d] != 1) return false;
            *R *= x->dims[d];
        } else if (!mask[d]) {
            if (first >= 0 && d > last) *B *= x->dims[d];
            else *A *= x->dims[d];
        }
    }
    return *A * *B == k->out[0].numel;
}

typedef struct {
    const void *x;
    void *y;
    int64_t A, R, B;
    int kind;
    double *scratch; /* B = 1: one sum per block; B > 1: COLS accumulators per thread */
    int64_t blocks;  /* B = 1: blocks per row */
    int nt;
    bool f64;
} red_job;

/* Sum of x[0..n) (of its squares with `sq`) in LANES lanes, combined in a fixed order; the square is
 * taken in double, as the reference takes it. */
#define DEF_ROWSUM(T, S)                                                                           \
    WEFT_CPU_INLINE double rowsum_##S(const T *restrict x, int64_t n, bool sq)                     \
    {                                                                                              \
        double lane[LANES] = {0};                                                                  \
        int64_t i = 0;                                                                             \
        if (sq) {                                                                                  \
            for (; i + LANES <= n; i += LANES)                                                     \
                for (int l = 0; l < LANES; l++) lane[l] += (double)x[i + l] * (double)x[i + l];    \
            for (int l = 0; i < n; i++, l++) lane[l] += (double)x[i] * (double)x[i];               \
        } else {                                                                                   \
            for (; i + LANES <= n; i += LANES)                                                     \
                for (int l = 0; l < LANES; l++) lane[l] += (double)x[i + l];                       \
            for (int l = 0; i < n; i++, l++) lane[l] += (double)x[i];                              \
        }                                                                                          \
        return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7])); \
    }                                                                                              \
    /* Column sums of tile (a, columns [c0, c1)): acc holds c1 - c0 doubles. */                    \
    WEFT_CPU_INLINE void colsum_##S(const T *restrict x, T *restrict y, int64_t R, int64_t B, int64_t c0, \
                                    int64_t c1, double *restrict acc, int kind)                    \
    {                                                                                              \
        int64_t w = c1 - c0;                                                                       \
        bool sq = kind == K_SUMSQ || kind == K_L2;                                                 \
        for (int64_t c = 0; c < w; c++) acc[c] = 0;                                                \
        for (int64_t r = 0; r < R; r++) {                                                          \
            const T *restrict row = x + r * B + c0;                                                \
            if (sq) for (int64_t c = 0; c < w; c++) acc[c] += (double)row[c] * (double)row[c];      \
            else for (int64_t c = 0; c < w; c++) acc[c] += (double)row[c];                         \
        }                                                                                          \
        for (int64_t c = 0; c < w; c++) y[c0 + c] = (T)finish(acc[c], kind, R);                    \
    }
/* The reduction's last operation on a sum of R terms (in double, rounded once to T by the caller). */
static inline double finish(double sum, int kind, int64_t R)
{
    return kind == K_MEAN ? sum / (double)R : kind == K_L2 ? sqrt(sum) : sum;
}

DEF_ROWSUM(float, f32)
DEF_ROWSUM(double, f64)

static void rows_task(void *ctx, int t, int nt)
{
    red_job *j = ctx;
    int64_t units = j->A * j->blocks, b, e;
    weft_cpu_part(units, t, nt, &b, &e);
    for (int64_t u = b; u < e; u++) {
        int64_t a = u / j->blocks, blk = u % j->blocks, lo = blk * BLOCK, n = j->R - lo < BLOCK ? j->R - lo : BLOCK;
        bool sq = j->kind == K_SUMSQ || j->kind == K_L2;
        j->scratch[u] = j->f64 ? rowsum_f64((const double *)j->x + a * j->R + lo, n, sq)
                               : rowsum_f32((const float *)j->x + a * j->R + lo, n, sq);
    }
}

static void cols_task(void *ctx, int t, int nt)
{
    red_job *j = ctx;
    int64_t tiles_per_a = (j->B + COLS - 1) / COLS, b, e;
    weft_cpu_part(j->A * tiles_per_a, t, nt, &b, &e);
    double *acc = j->scratch + (int64_t)t * COLS;
    for (int64_t u = b; u < e; u++) {
        int64_t a = u / tiles_per_a, c0 = (u % tiles_per_a) * COLS, c1 = c0 + COLS < j->B ? c0 + COLS : j->B;
        if (j->f64)
            colsum_f64((const double *)j->x + a * j->R * j->B, (double *)j->y + a * j->B, j->R, j->B, c0, c1, acc, j->kind);
        else
            colsum_f32((const float *)j->x + a * j->R * j->B, (float *)j->y + a * j->B, j->R, j->B, c0, c1, acc, j->kind);
    }
}

static weft_status reduce_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    int64_t A, R, B;
    if (!weft_cpu_float(k->in[0].dtype) || k->out[0].dtype != k->in[0].dtype || !reduce_shape(p, k, &A, &R, &B) ||
        R == 0)
        return p->def->run(k); /* other patterns, an empty mean (NaN), errors: the reference */
    red_job j = {k->in[0].data, k->out[0].data, A, R, B, p->kind, NULL, 0, 1, k->in[0].dtype == WEFT_FLOAT64};
    if (A * B == 0) return WEFT_OK;
    if (B == 1) {
        j.blocks = (R + BLOCK - 1) / BLOCK;
        j.nt = weft_cpu_threads_for(k, A * R);
        if (!(j.scratch = k->scratch(k->user, (size_t)(A * j.blocks) * sizeof(double))))
            return weft_error(WEFT_ERR_NOMEM, "out of memory");
        weft_cpu_parallel(j.nt, rows_task, &j);
        for (int64_t a = 0; a < A; a++) {
            double s = 0;
            for (int64_t blk = 0; blk < j.blocks; blk++) s += j.scratch[a * j.blocks + blk];
            s = finish(s, j.kind, R);
            if (j.f64) ((double *)j.y)[a] = s;
            else ((float *)j.y)[a] = (float)s;
        }
        return WEFT_OK;
    }
    j.nt = weft_cpu_threads_for(k, A * R * B);
    int64_t tiles = A * ((B + COLS - 1) / COLS);
    if (j.nt > tiles) j.nt = (int)tiles;
    if (!(j.scratch = k->scratch(k->user, (size_t)j.nt * COLS * sizeof(double))))
        return weft_error(WEFT_ERR_NOMEM, "out of memory");
    weft_cpu_parallel(j.nt, cols_task, &j);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_reduce = {"", "ReduceSum|ReduceMean|ReduceSumSquare|ReduceL2", reduce_supports, reduce_prepare, reduce_run,
                                        weft_cpu_prep_free};
