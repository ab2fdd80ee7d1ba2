/*
 * ops/cpu/kern.h — what the kernels of ops/cpu/ share: the prepared object, thread counts and work
 * splits, the parallel runner, the instruction-set dispatch, and index checks.
 *
 * Parallel regions: every one goes through weft_cpu_parallel, which passes num_threads explicitly (the
 * process-wide default is for the libraries) and skips the region altogether for one thread. Work is
 * split by output rows or elements, each computed exactly as it would be on one thread, so results do
 * not depend on the thread count.
 *
 * Floating-point contraction is off for these files (CMake passes -ffp-contract=off): a multiply-add is
 * rounded twice, as in the reference kernels, so the AVX2 and AVX-512 clones give the same bits as the
 * baseline code. Trapping math is off too (-fno-trapping-math): weft never reads the floating-point
 * exception flags, and without it GCC will not turn `c ? a * x : x` into a vector select (it would have
 * to compute a * x where the source does not). Values are unchanged.
 */
#ifndef WEFT_OPS_CPU_KERN_H
#define WEFT_OPS_CPU_KERN_H

#include <stdint.h>
#include <string.h>

#include "cpu.h"

/* --- the prepared object ------------------------------------------------------------------------- */

/* Most entries keep the op (whose reference kernel runs the rare shapes a fast kernel leaves alone)
 * and a few attributes parsed once. */
typedef struct weft_cpu_prep {
    const weft_op_def *def;
    int kind;      /* the entry's own: reduction, unary op, ... */
    int flags;
    double alpha;  /* LeakyRelu's / Elu's alpha, L2Normalize's and LayerNormalization's eps */
    int64_t axis;  /* Gather's, Softmax's and LayerNormalization's axis, as the attribute gives it */
} weft_cpu_prep;

/* A fresh weft_cpu_prep for step s (def copied, the rest zero). */
weft_status weft_cpu_prep_new(const weft_step_desc *s, weft_cpu_prep **out);
/* The prepare of an entry that parses no attribute: a fresh weft_cpu_prep. */
weft_status weft_cpu_prepare_plain(const weft_step_desc *s, void **prepared);
/* Releases a weft_cpu_prep (free). */
void weft_cpu_prep_free(void *prepared);

/* True when the step is op `name` of domain `domain` ("" for ONNX). */
bool weft_cpu_is_op(const weft_step_desc *s, const char *domain, const char *name);
/* float32 or float64. */
static inline bool weft_cpu_float(weft_dtype t) { return t == WEFT_FLOAT32 || t == WEFT_FLOAT64; }
static inline bool weft_cpu_index(weft_dtype t) { return t == WEFT_INT32 || t == WEFT_INT64; }

/* --- threads ------------------------------------------------------------------------------------- */

/* Elements (or edges x features) per thread below which a kernel stays on fewer threads: waking a
 * team costs a few microseconds, about what one core needs for 2^15 elements. Tests lower it to 1 so
 * that small inputs are split too (weft_cpu_set_grain). */
extern int64_t weft_cpu_grain_units;
#define WEFT_CPU_GRAIN weft_cpu_grain_units
/* Sets the grain (tests); a value below 1 restores the default. */
void weft_cpu_set_grain(int64_t units);

/* Threads for `work` units: at most k->threads, one per WEFT_CPU_GRAIN units, at least 1. */
static inline int weft_cpu_threads_for(const weft_kernel_ctx *k, int64_t work)
{
    int t = weft_kthreads(k);
    int64_t m = work / WEFT_CPU_GRAIN;
    if (m < 1) m = 1;
    return (int64_t)t < m ? t : (int)m;
}

/* Part t of nt of [0, n): [*b, *e), sizes differing by at most 1. */
static inline void weft_cpu_part(int64_t n, int t, int nt, int64_t *b, int64_t *e)
{
    int64_t q = n / nt, r = n % nt;
    *b = q * t + (t < r ? t : r);
    *e = *b + q + (t < r ? 1 : 0);
}

/* The first row of part t when rows [0, N) of a CSR index are split into nt parts of about equal cost,
 * a row costing its edges plus one (binary search in offsets). Part t is [at(t), at(t + 1)). */
int64_t weft_cpu_rows_at(const int64_t *offsets, int64_t N, int t, int nt);

/* Runs f(ctx, t, nt) for t in [0, nt) on a team of nt threads (num_threads given explicitly), or on
 * the calling thread alone when nt <= 1. The team may be smaller than asked (nested regions, thread
 * limits): f gets the real count. */
typedef void (*weft_cpu_task)(void *ctx, int t, int nt);
void weft_cpu_parallel(int nt, weft_cpu_task f, void *ctx);

/* --- instruction sets ---------------------------------------------------------------------------- */

enum { WEFT_ISA_BASE = 0, WEFT_ISA_AVX2 = 1, WEFT_ISA_AVX512 = 2 };

/* The best instruction set of this CPU that the kernels have clones for (checked once). */
int weft_cpu_isa(void);
/* Caps weft_cpu_isa (tests compare the clones against each other); a negative value lifts the cap. */
void weft_cpu_set_isa_limit(int isa);

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define WEFT_CPU_HAVE_CLONES 1
#define WEFT_CPU_AVX2 __attribute__((target("avx2,fma")))
#define WEFT_CPU_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,prefer-vector-width=512")))
#else
#define WEFT_CPU_HAVE_CLONES 0
#endif
#define WEFT_CPU_INLINE static inline __attribute__((always_inline))

/*
 * Clones of one kernel body. `name##_body` is a WEFT_CPU_INLINE function taking `params`; this makes
 * name_base, name_avx2 and name_avx512 (the same code compiled for each instruction set) and
 * name_pick(), which returns the best one for this CPU. Bodies are written as plain loops over
 * contiguous features that each compiler target vectorises at its own width. Used where the clones
 * measured faster: the CSR reductions, the vectorised transcendental functions, softmax,
 * FusedElementwise (on an AVX2 machine) and LayerNormalization (on an AVX-512 one).
 */
#if WEFT_CPU_HAVE_CLONES
#define WEFT_CPU_CLONES(name, params, args)                                                        \
    static void name##_base params { name##_body args; }                                           \
    WEFT_CPU_AVX2 static void name##_avx2 params { name##_body args; }                             \
    WEFT_CPU_AVX512 static void name##_avx512 params { name##_body args; }                         \
    static void (*name##_pick(void)) params                                                        \
    {                                                                                              \
        int isa_ = weft_cpu_isa();                                                                 \
        return isa_ == WEFT_ISA_AVX512 ? name##_avx512 : isa_ == WEFT_ISA_AVX2 ? name##_avx2 : name##_base; \
    }
#else
#define WEFT_CPU_CLONES(name, params, args) WEFT_CPU_SINGLE(name, params, args)
#endif
/* One version only, for bodies whose clones measured no faster (memory-bound, or latency-bound by an
 * order of operations the reference fixes): same interface as WEFT_CPU_CLONES. */
#define WEFT_CPU_SINGLE(name, params, args)                                                        \
    static void name##_base params { name##_body args; }                                           \
    static void (*name##_pick(void)) params { return name##_base; }

/* Rows whose addresses are known ahead (an index list) but random: the hardware prefetcher cannot
 * guess them, so kernels that walk such rows ask for the row WEFT_CPU_AHEAD positions ahead. */
#define WEFT_CPU_AHEAD 8
WEFT_CPU_INLINE void weft_cpu_prefetch_row(const void *row, size_t bytes)
{
    for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch((const char *)row + b);
}

/* --- scratch and indices ------------------------------------------------------------------------- */

/* Rounds a byte count up to 64 (each piece of a scratch block starts on its own cache line). */
static inline size_t weft_cpu_round(size_t n) { return (n + 63) & ~(size_t)63; }

/* Element i of an int32 / int64 buffer (`wide`: int64). */
static inline int64_t weft_cpu_ld(const void *p, bool wide, int64_t i)
{
    return wide ? ((const int64_t *)p)[i] : (int64_t)((const int32_t *)p)[i];
}

/* The first position of idx[0..n) whose value lies outside [lo, hi), or -1 (parallel over nt threads
 * for large n; the answer does not depend on nt). */
int64_t weft_cpu_first_bad(const void *idx, bool wide, int64_t n, int64_t lo, int64_t hi, int nt);

/* The segment count of a num_segments input (scalar or [1] int32 / int64), checked as the reference
 * checks it. */
weft_status weft_cpu_num_segments(const weft_kernel_ctx *k, int input, int64_t *out);

/* --- the CSR builder (csr.c), shared by CSR, SegmentReduce and EdgeSoftmax ---------------------- */

typedef struct weft_cpu_csr_job {
    const void *index;    /* [E] segment of each edge */
    bool index_wide;      /* int64 (else int32) */
    bool wrap;            /* values in [-N, N) allowed */
    int64_t E, N;
    const void *src;      /* optional [E] source rows, values wrapped into [0, M) */
    bool src_wide, src_wrap;
    int64_t M;
    int64_t *offsets;     /* out: [N + 1] */
    int64_t *perm;        /* out: [E] */
    int64_t *col;         /* out: [E], with src */
    int64_t *hist;        /* scratch: weft_cpu_csr_hist_len(...) int64 */
    int threads;
} weft_cpu_csr_job;

/* Threads the builder uses for E edges into N segments (capped so per-thread counts stay small). */
int weft_cpu_csr_threads(const weft_kernel_ctx *k, int64_t E, int64_t N);
/* int64 elements of scratch the builder needs with `threads` threads. */
int64_t weft_cpu_csr_hist_len(int64_t N, int threads);
/* Checks every index, then builds offsets / perm / col (a stable counting sort). On a bad value
 * returns -1 and sets *bad_pos (and *bad_src: whether it is in src); else 0. */
int weft_cpu_csr_build(weft_cpu_csr_job *j, int64_t *bad_pos, bool *bad_src);

/* --- kernels other files share ------------------------------------------------------------------- */

enum { WEFT_RED_SUM, WEFT_RED_MEAN, WEFT_RED_MAX, WEFT_RED_MIN, WEFT_RED_MUL };
/* Folding value m into accumulator a, SegmentReduce's way (NaN wins max and min, as `m != m`). */
#define WEFT_FOLD_SUM(a, m) ((a) + (m))
#define WEFT_FOLD_MUL(a, m) ((a) * (m))
#define WEFT_FOLD_MAX(a, m) (((m) > (a) || (m) != (m)) ? (m) : (a))
#define WEFT_FOLD_MIN(a, m) (((m) < (a) || (m) != (m)) ? (m) : (a))
/* The `reduce` attribute as SegmentReduce reads it; -1 when unknown. */
int weft_cpu_reduce_kind(const weft_node_info *n);

/* SegmentReduce over a CSR index (segment.c): rows src[perm[j]] of F elements into out rows of Fo
 * elements (Fo >= F; init, when given, has out's shape). */
typedef struct weft_cpu_segred {
    weft_dtype dtype;
    const void *src, *init;
    const int64_t *offsets, *perm;
    void *out;
    int64_t N, F, Fo;
    int kind;
    bool has_init;
} weft_cpu_segred;
void weft_cpu_segment_reduce(const weft_cpu_segred *r, int threads);

/* Whether the index inputs of a CSR reader are well formed, as the reference kernels require: offsets
 * (input io) N + 1 >= 1 entries from 0 to E never decreasing, perm (input ip, or -1) a permutation of
 * [0, E), col (input ic, or -1) E values in [0, M). `seen` holds weft_cpu_perm_seen_len(E) words of
 * scratch (when ip >= 0). On false the caller runs the reference kernel, which names the fault. */
int64_t weft_cpu_perm_seen_len(int64_t E);
bool weft_cpu_csr_valid(const weft_kernel_ctx *k, int io, int64_t E, int ip, int ic, int64_t M, uint64_t *seen, int nt);

/* Edge softmax over a CSR index (edge_softmax.c): scores [E, H]; ex gets E * H doubles of scratch. */
typedef struct weft_cpu_esm {
    weft_dtype dtype;
    const void *scores;
    void *out;
    const int64_t *offsets, *perm;
    int64_t N, H;
    double *ex;
} weft_cpu_esm;
void weft_cpu_edge_softmax(const weft_cpu_esm *a, int threads);

#endif
