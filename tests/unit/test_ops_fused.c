/*
 * tests/unit/test_ops_fused.c — the `ai.weft` operators the compiler generates (schemas/ai.weft.md,
 * "Operators the compiler generates"): CSR, CsrReduce, CsrGatherReduce, CsrEdgeSoftmax, LinkScore,
 * FusedMatMul, L2Normalize, FusedElementwise.
 *
 * Every expectation is computed independently of the op under test:
 *   - where the spec promises that the fused op equals the chain it replaces bit for bit, the chain's
 *     own ops run through the same harness (SegmentReduce, RowGather, EdgeSoftmax, Gather, Mul,
 *     ReduceSum, MatMul, Add, ReduceL2, Clip, Div and the ONNX activations) and the bytes are compared;
 *   - where it promises a tolerance, naive loops in double;
 *   - CSR's layout by hand (worked out in the comments) and by checking its defining properties.
 * Hostile inputs (out-of-range indices, inconsistent offsets / perm / col, invalid programs) must give
 * the right status and a message naming the position and the value. Symbolic inference is checked by
 * calling each op's infer directly.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/weft_fused.h"
#include "tests/unit/op_harness.h"

#define W "ai.weft"
#define D1(a) ((const int64_t[]){a})
#define D2(a, b) ((const int64_t[]){a, b})
#define D3(a, b, c) ((const int64_t[]){a, b, c})

/* --- helpers ------------------------------------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}
static int64_t rnd_int(int64_t n) { return (int64_t)(rnd() % (uint64_t)n); }
static double rnd_unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0; } /* [0, 1) */
static double rnd_range(double lo, double hi) { return lo + (hi - lo) * rnd_unit(); }

static weft_status runw(const char *op, const weft_attr *at, int n_at, const weft_tensor *in, int n_in, weft_tensor *out,
                        int n_out)
{
    return wt_run_op_domain(W, op, 1, at, n_at, in, n_in, out, n_out);
}

/* Runs an ONNX op that must succeed. */
static void onnx(const char *op, int opset, const weft_attr *at, int n_at, const weft_tensor *in, int n_in, weft_tensor *out)
{
    weft_status st = wt_run_op(op, opset, at, n_at, in, n_in, out, 1);
    if (st) fprintf(stderr, "  %s: %s\n", op, weft_last_error());
    CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
}

static size_t tensor_bytes(const weft_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++) n *= t->dims[d];
    return (size_t)n * weft_dtype_size(t->dtype);
}

/* Same dtype, shape and bytes; prints the first difference. */
static int same_bits(const weft_tensor *got, const weft_tensor *want, const char *what)
{
    if (got->dtype != want->dtype || got->rank != want->rank) {
        fprintf(stderr, "  %s: dtype/rank %d/%d, want %d/%d\n", what, got->dtype, got->rank, want->dtype, want->rank);
        return 0;
    }
    for (int d = 0; d < got->rank; d++)
        if (got->dims[d] != want->dims[d]) {
            fprintf(stderr, "  %s: dim %d is %lld, want %lld\n", what, d, (long long)got->dims[d], (long long)want->dims[d]);
            return 0;
        }
    size_t es = weft_dtype_size(got->dtype), nb = tensor_bytes(got);
    for (size_t i = 0; i < nb; i += es)
        if (memcmp((const char *)got->data + i, (const char *)want->data + i, es)) {
            fprintf(stderr, "  %s: element %zu differs: got %.9g, want %.9g\n", what, i / es,
                    weft_load_f64(got->dtype, got->data, (int64_t)(i / es)), weft_load_f64(want->dtype, want->data, (int64_t)(i / es)));
            return 0;
        }
    return 1;
}

/* |got - want| <= atol + rtol * |want| for every element (got read as float / double). */
static int close_to(const weft_tensor *got, const double *want, int64_t n, double rtol, double atol, const char *what)
{
    for (int64_t i = 0; i < n; i++) {
        double g = weft_load_f64(got->dtype, got->data, i);
        if (!(fabs(g - want[i]) <= atol + rtol * fabs(want[i]))) {
            fprintf(stderr, "  %s: element %lld: got %.12g, want %.12g\n", what, (long long)i, g, want[i]);
            return 0;
        }
    }
    return 1;
}

static int msg_has(const char *s)
{
    const char *m = weft_last_error();
    if (m && strstr(m, s)) return 1;
    fprintf(stderr, "  message '%s' lacks '%s'\n", m ? m : "(none)", s);
    return 0;
}

/* Fills n elements of dtype t with values from [lo, hi) (integers: rounded). */
static void fill(weft_dtype t, void *p, int64_t n, double lo, double hi)
{
    for (int64_t i = 0; i < n; i++) {
        double v = rnd_range(lo, hi);
        if (weft_dtype_is_integer(t)) v = floor(v);
        weft_store_f64(t, p, i, v);
    }
}

/* Builds the CSR of index (int64, [E]) over N segments, wrap as given; out[0] offsets, out[1] perm and,
 * with src (int64 [E]) and M, out[2] col. */
static weft_status build_csr(const int64_t *index, int64_t E, const int64_t *N, int wrap, const int64_t *src, const int64_t *M,
                             weft_tensor *out)
{
    weft_attr at[] = {wt_attr_int("wrap", wrap)};
    weft_tensor in[4] = {wt_tensor(WEFT_INT64, index, 1, D1(E)), wt_tensor(WEFT_INT64, N, 0, NULL)};
    if (src) {
        in[2] = wt_tensor(WEFT_INT64, src, 1, D1(E));
        in[3] = wt_tensor(WEFT_INT64, M, 0, NULL);
    }
    return runw("CSR", at, 1, in, src ? 4 : 2, out, src ? 3 : 2);
}

/* Runs an op's kernel on outputs whose shapes the caller chose, without its infer (for a form the infer
 * of the op being compared with does not let through). */
static void *scratch_fn(void *u, size_t bytes)
{
    void **b = u;
    void *p = realloc(*b, bytes ? bytes : 1);
    if (p) *b = p;
    return p;
}
static weft_status run_kernel_only(const char *op, const weft_attr *at, int n_at, const weft_tensor *in, int n_in,
                                   weft_tensor *out)
{
    const weft_op_def *def = weft_op_find(W, op, 1);
    if (!def) return WEFT_ERR_UNSUPPORTED;
    weft_node_info info = {op, op, W, 1, n_at, at};
    weft_tview iv[8], ov[1];
    for (int i = 0; i < n_in; i++) {
        iv[i].dtype = in[i].dtype;
        iv[i].rank = in[i].rank;
        iv[i].numel = 1;
        for (int d = 0; d < in[i].rank; d++) iv[i].numel *= (iv[i].dims[d] = in[i].dims[d]);
        iv[i].data = in[i].data;
    }
    ov[0].dtype = out->dtype;
    ov[0].rank = out->rank;
    ov[0].numel = 1;
    for (int d = 0; d < out->rank; d++) ov[0].numel *= (ov[0].dims[d] = out->dims[d]);
    ov[0].data = out->data;
    void *buf = NULL;
    weft_kernel_ctx k = {&info, n_in, iv, 1, ov, scratch_fn, &buf, 1};
    weft_status st = def->run(&k);
    free(buf);
    return st;
}

/* --- CSR ----------------------------------------------------------------------------------------- */

static void test_csr_hand(void)
{
    /* index (2, 0, 2, 1, 0), N = 4: segment 0 = edges {1, 4}, 1 = {3}, 2 = {0, 2}, 3 = {} ->
     * offsets (0, 2, 3, 5, 5), perm (1, 4, 3, 0, 2). src_index (5, -1, 2, 0, 3) over 6 rows, wrapped:
     * (5, 5, 2, 0, 3), read in perm order -> col (5, 3, 0, 5, 2). */
    const int64_t idx[] = {2, 0, 2, 1, 0}, src[] = {5, -1, 2, 0, 3}, N = 4, M = 6;
    const int64_t want_off[] = {0, 2, 3, 5, 5}, want_perm[] = {1, 4, 3, 0, 2}, want_col[] = {5, 3, 0, 5, 2};
    weft_tensor out[3];
    CU_ASSERT_EQUAL_FATAL(build_csr(idx, 5, &N, 0, src, &M, out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out[0], 1, D1(5)) && wt_shape_is(&out[1], 1, D1(5)) && wt_shape_is(&out[2], 1, D1(5)));
    CU_ASSERT(out[0].dtype == WEFT_INT64 && out[1].dtype == WEFT_INT64 && out[2].dtype == WEFT_INT64);
    CU_ASSERT(memcmp(out[0].data, want_off, sizeof want_off) == 0);
    CU_ASSERT(memcmp(out[1].data, want_perm, sizeof want_perm) == 0);
    CU_ASSERT(memcmp(out[2].data, want_col, sizeof want_col) == 0);
    wt_free_outputs(out, 3);

    /* int32 indices, num_segments as [1], no src: the same offsets and perm */
    const int32_t idx32[] = {2, 0, 2, 1, 0};
    weft_tensor in[] = {wt_tensor(WEFT_INT32, idx32, 1, D1(5)), wt_tensor(WEFT_INT64, &N, 1, D1(1))};
    CU_ASSERT_EQUAL_FATAL(runw("CSR", NULL, 0, in, 2, out, 2), WEFT_OK);
    CU_ASSERT(memcmp(out[0].data, want_off, sizeof want_off) == 0);
    CU_ASSERT(memcmp(out[1].data, want_perm, sizeof want_perm) == 0);
    wt_free_outputs(out, 2);

    /* wrap = 1: (-2, 0, 2, -3, 0) is (2, 0, 2, 1, 0) counted from the end -> the same CSR */
    const int64_t neg[] = {-2, 0, 2, -3, 0};
    CU_ASSERT_EQUAL_FATAL(build_csr(neg, 5, &N, 1, NULL, NULL, out), WEFT_OK);
    CU_ASSERT(memcmp(out[0].data, want_off, sizeof want_off) == 0);
    CU_ASSERT(memcmp(out[1].data, want_perm, sizeof want_perm) == 0);
    wt_free_outputs(out, 2);

    /* no edges, N = 3: offsets (0, 0, 0, 0), perm empty; N = 0 with no edges: offsets (0) */
    const int64_t three = 3, zero = 0;
    CU_ASSERT_EQUAL_FATAL(build_csr(idx, 0, &three, 0, NULL, NULL, out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out[0], 1, D1(4)) && wt_shape_is(&out[1], 1, D1(0)));
    CU_ASSERT(memcmp(out[0].data, (const int64_t[]){0, 0, 0, 0}, 32) == 0);
    wt_free_outputs(out, 2);
    CU_ASSERT_EQUAL_FATAL(build_csr(idx, 0, &zero, 0, NULL, NULL, out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out[0], 1, D1(1)) && ((int64_t *)out[0].data)[0] == 0);
    wt_free_outputs(out, 2);
}

/* Checks CSR's defining properties for index (already wrapped into `seg`) over N segments. */
static void check_csr_properties(const int64_t *seg, int64_t E, int64_t N, const weft_tensor *out)
{
    const int64_t *off = out[0].data, *perm = out[1].data;
    CU_ASSERT_FATAL(wt_shape_is(&out[0], 1, D1(N + 1)) && wt_shape_is(&out[1], 1, D1(E)));
    int64_t *count = calloc((size_t)N + 1, sizeof *count);
    char *seen = calloc((size_t)E + 1, 1);
    for (int64_t e = 0; e < E; e++) count[seg[e]]++;
    int ok = off[0] == 0 && off[N] == E;
    for (int64_t n = 0; n < N && ok; n++) {
        ok &= off[n + 1] - off[n] == count[n];
        for (int64_t j = off[n]; j < off[n + 1] && ok; j++) {
            ok &= perm[j] >= 0 && perm[j] < E && !seen[perm[j]] && seg[perm[j]] == n;
            if (ok) seen[perm[j]] = 1;
            /* stable: the edges of a segment in their original order */
            if (j > off[n]) ok &= perm[j - 1] < perm[j];
        }
    }
    CU_ASSERT(ok);
    free(count);
    free(seen);
}

static void test_csr_random(void)
{
    enum { E = 3000 };
    int64_t *idx = malloc(E * sizeof *idx), *seg = malloc(E * sizeof *seg);
    const int64_t N = 61;
    /* segments 55..60 stay empty; duplicates everywhere (E >> N) */
    for (int e = 0; e < E; e++) seg[e] = idx[e] = rnd_int(55);
    weft_tensor out[3];
    CU_ASSERT_EQUAL_FATAL(build_csr(idx, E, &N, 0, NULL, NULL, out), WEFT_OK);
    check_csr_properties(seg, E, N, out);
    wt_free_outputs(out, 2);
    /* wrap = 1: values in [-N, N) */
    for (int e = 0; e < E; e++) {
        idx[e] = rnd_int(2 * N) - N;
        seg[e] = idx[e] < 0 ? idx[e] + N : idx[e];
    }
    CU_ASSERT_EQUAL_FATAL(build_csr(idx, E, &N, 1, NULL, NULL, out), WEFT_OK);
    check_csr_properties(seg, E, N, out);
    wt_free_outputs(out, 2);
    free(idx);
    free(seg);
}

static void test_csr_errors(void)
{
    weft_tensor out[3];
    const int64_t N = 4, M = 4, bad_hi[] = {0, 3, 5, 1}, neg[] = {0, -1}, too_neg[] = {-5}, ok[] = {0, 1};
    CU_ASSERT_EQUAL(build_csr(bad_hi, 4, &N, 0, NULL, NULL, out), WEFT_ERR_INDEX);
    CU_ASSERT(msg_has("index[2] = 5"));
    wt_free_outputs(out, 2);
    CU_ASSERT_EQUAL(build_csr(neg, 2, &N, 0, NULL, NULL, out), WEFT_ERR_INDEX);
    CU_ASSERT(msg_has("index[1] = -1"));
    wt_free_outputs(out, 2);
    CU_ASSERT_EQUAL(build_csr(neg, 2, &N, 1, NULL, NULL, out), WEFT_OK);
    wt_free_outputs(out, 2);
    CU_ASSERT_EQUAL(build_csr(too_neg, 1, &N, 1, NULL, NULL, out), WEFT_ERR_INDEX);
    CU_ASSERT(msg_has("index[0] = -5"));
    wt_free_outputs(out, 2);

    /* src_index: Gather's [-M, M) by default, RowGather's [0, M) with src_wrap = 0 */
    const int64_t src_hi[] = {0, 7}, src_neg[] = {0, -1};
    CU_ASSERT_EQUAL(build_csr(ok, 2, &N, 0, src_hi, &M, out), WEFT_ERR_INDEX);
    CU_ASSERT(msg_has("src_index[1] = 7"));
    wt_free_outputs(out, 3);
    CU_ASSERT_EQUAL_FATAL(build_csr(ok, 2, &N, 0, src_neg, &M, out), WEFT_OK);
    CU_ASSERT(((int64_t *)out[2].data)[1] == 3); /* -1 + 4 */
    wt_free_outputs(out, 3);
    weft_attr sw[] = {wt_attr_int("src_wrap", 0)};
    weft_tensor in[] = {wt_tensor(WEFT_INT64, ok, 1, D1(2)), wt_tensor(WEFT_INT64, &N, 0, NULL),
                        wt_tensor(WEFT_INT64, src_neg, 1, D1(2)), wt_tensor(WEFT_INT64, &M, 0, NULL)};
    CU_ASSERT_EQUAL(runw("CSR", sw, 1, in, 4, out, 3), WEFT_ERR_INDEX);
    CU_ASSERT(msg_has("src_index[1] = -1"));
    wt_free_outputs(out, 3);

    /* src_index without num_src; col without src_index; lengths that differ; bad types and counts */
    CU_ASSERT_EQUAL(runw("CSR", NULL, 0, in, 3, out, 3), WEFT_ERR_INVALID_MODEL);
    wt_free_outputs(out, 3);
    CU_ASSERT_EQUAL(runw("CSR", NULL, 0, in, 2, out, 3), WEFT_ERR_INVALID_MODEL);
    wt_free_outputs(out, 3);
    const int64_t three[] = {0, 1, 2};
    in[2] = wt_tensor(WEFT_INT64, three, 1, D1(3));
    CU_ASSERT_EQUAL(runw("CSR", NULL, 0, in, 4, out, 3), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 3);
    const int64_t minus = -1;
    in[1] = wt_tensor(WEFT_INT64, &minus, 0, NULL);
    CU_ASSERT_EQUAL(runw("CSR", NULL, 0, in, 2, out, 2), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 2);
    const float fidx[] = {0, 1};
    in[0] = wt_tensor(WEFT_FLOAT32, fidx, 1, D1(2));
    in[1] = wt_tensor(WEFT_INT64, &N, 0, NULL);
    CU_ASSERT_EQUAL(runw("CSR", NULL, 0, in, 2, out, 2), WEFT_ERR_TYPE);
    wt_free_outputs(out, 2);
    weft_attr w2[] = {wt_attr_int("wrap", 2)};
    in[0] = wt_tensor(WEFT_INT64, ok, 1, D1(2));
    CU_ASSERT_EQUAL(runw("CSR", w2, 1, in, 2, out, 2), WEFT_ERR_INVALID_MODEL);
    wt_free_outputs(out, 2);
}

/* --- CsrReduce == SegmentReduce ------------------------------------------------------------------ */

static const char *const reduces[] = {"sum", "mean", "max", "min", "mul"};

/* One comparison: src [E, F] (F = 0: 1-D) of dtype dt, index in [0, n_used) over N segments. */
static void reduce_case(weft_dtype dt, int64_t E, int64_t F, int64_t N, int64_t n_used, bool with_nan)
{
    int64_t rows = F ? F : 1;
    void *src = malloc((size_t)(E * rows + 1) * 8);
    int64_t *idx = malloc((size_t)(E + 1) * sizeof *idx);
    for (int64_t e = 0; e < E; e++) idx[e] = rnd_int(n_used);
    weft_tensor csr[2];
    CU_ASSERT_EQUAL_FATAL(build_csr(idx, E, &N, 0, NULL, NULL, csr), WEFT_OK);
    for (int r = 0; r < 5; r++) {
        /* products stay in range with factors near 1; integers wrap identically either way */
        if (r == 4 && !weft_dtype_is_integer(dt)) {
            for (int64_t i = 0; i < E * rows; i++)
                weft_store_f64(dt, src, i, rnd_range(0.8, 1.25) * (rnd() & 1 ? -1 : 1));
        } else {
            fill(dt, src, E * rows, -50, 50);
        }
        if (with_nan && E * rows > 3) weft_store_f64(dt, src, E * rows / 2, NAN);
        weft_attr at[] = {wt_attr_string("reduce", reduces[r])};
        weft_tensor xs = F ? wt_tensor(dt, src, 2, D2(E, F)) : wt_tensor(dt, src, 1, D1(E));
        weft_tensor a_in[] = {xs, csr[0], csr[1]};
        weft_tensor b_in[] = {xs, wt_tensor(WEFT_INT64, idx, 1, D1(E)), wt_tensor(WEFT_INT64, &N, 0, NULL)};
        weft_tensor got[1], want[1];
        CU_ASSERT_EQUAL_FATAL(runw("CsrReduce", at, 1, a_in, 3, got, 1), WEFT_OK);
        CU_ASSERT_EQUAL_FATAL(runw("SegmentReduce", at, 1, b_in, 3, want, 1), WEFT_OK);
        if (!same_bits(got, want, reduces[r]))
            fprintf(stderr, "  (dtype %s, E %lld, F %lld, N %lld)\n", weft_dtype_name(dt), (long long)E, (long long)F, (long long)N);
        CU_ASSERT(same_bits(got, want, reduces[r]));
        wt_free_outputs(got, 1);
        wt_free_outputs(want, 1);
    }
    wt_free_outputs(csr, 2);
    free(src);
    free(idx);
}

static void test_csr_reduce_equals_segment(void)
{
    const weft_dtype dts[] = {WEFT_FLOAT32, WEFT_FLOAT64, WEFT_INT32, WEFT_INT64, WEFT_FLOAT16};
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
        reduce_case(dts[d], 2000, 3, 40, 33, false); /* E >> N, segments 33..39 empty */
        reduce_case(dts[d], 7, 2, 20, 20, false);    /* E < N: most segments empty */
        reduce_case(dts[d], 500, 0, 9, 9, false);    /* 1-D src */
        reduce_case(dts[d], 0, 4, 5, 1, false);      /* no edges at all */
        if (!weft_dtype_is_integer(dts[d])) reduce_case(dts[d], 300, 2, 10, 10, true); /* a NaN row */
    }
}

/* The init form: negative indices wrap (CSR with wrap = 1), empty segments keep init. */
static void test_csr_reduce_init(void)
{
    const weft_dtype dts[] = {WEFT_FLOAT32, WEFT_FLOAT64, WEFT_INT32, WEFT_INT64, WEFT_FLOAT16};
    const int64_t E = 900, F = 3, N = 30;
    int64_t idx[900];
    for (int64_t e = 0; e < E; e++) idx[e] = rnd_int(2 * (N - 4)) - (N - 4); /* [-26, 26): some segments empty */
    weft_tensor csr[2];
    CU_ASSERT_EQUAL_FATAL(build_csr(idx, E, &N, 1, NULL, NULL, csr), WEFT_OK);
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
        weft_dtype dt = dts[d];
        double src[900 * 3], init[30 * 3];
        for (int r = 0; r < 5; r++) {
            if (r == 1) continue; /* mean takes no init */
            fill(dt, src, E * F, -20, 20);
            fill(dt, init, N * F, -20, 20);
            weft_attr at[] = {wt_attr_string("reduce", reduces[r])};
            weft_tensor xs = wt_tensor(dt, src, 2, D2(E, F)), it = wt_tensor(dt, init, 2, D2(N, F));
            weft_tensor a_in[] = {xs, csr[0], csr[1], it};
            weft_tensor b_in[] = {xs, wt_tensor(WEFT_INT64, idx, 1, D1(E)), wt_absent(), it};
            weft_tensor got[1], want[1];
            CU_ASSERT_EQUAL_FATAL(runw("CsrReduce", at, 1, a_in, 4, got, 1), WEFT_OK);
            CU_ASSERT_EQUAL_FATAL(runw("SegmentReduce", at, 1, b_in, 4, want, 1), WEFT_OK);
            CU_ASSERT(same_bits(got, want, reduces[r]));
            wt_free_outputs(got, 1);
            wt_free_outputs(want, 1);
        }
        weft_attr mean[] = {wt_attr_string("reduce", "mean")};
        weft_tensor m_in[] = {wt_tensor(dt, src, 2, D2(E, F)), csr[0], csr[1], wt_tensor(dt, init, 2, D2(N, F))};
        weft_tensor out[1];
        CU_ASSERT_EQUAL(runw("CsrReduce", mean, 1, m_in, 4, out, 1), WEFT_ERR_INVALID_MODEL);
        wt_free_outputs(out, 1);
    }

    /* A 2-D init wider than src (ScatterElements' form): the first F columns reduce, the rest stay.
     * Compared with SegmentReduce's kernel on the same output shape, and with a naive loop. */
    float src[900 * 2], init[30 * 5], want_naive[30 * 5];
    fill(WEFT_FLOAT32, src, E * 2, -5, 5);
    fill(WEFT_FLOAT32, init, N * 5, -5, 5);
    memcpy(want_naive, init, sizeof init);
    for (int64_t e = 0; e < E; e++) {
        int64_t n = idx[e] < 0 ? idx[e] + N : idx[e];
        for (int f = 0; f < 2; f++) want_naive[n * 5 + f] += src[e * 2 + f];
    }
    weft_attr sum[] = {wt_attr_string("reduce", "sum")}, mx[] = {wt_attr_string("reduce", "max")};
    weft_tensor a_in[] = {wt_tensor(WEFT_FLOAT32, src, 2, D2(E, 2)), csr[0], csr[1], wt_tensor(WEFT_FLOAT32, init, 2, D2(N, 5))};
    weft_tensor b_in[] = {a_in[0], wt_tensor(WEFT_INT64, idx, 1, D1(E)), wt_absent(), a_in[3]};
    for (int r = 0; r < 2; r++) {
        weft_tensor got[1];
        CU_ASSERT_EQUAL_FATAL(runw("CsrReduce", r ? mx : sum, 1, a_in, 4, got, 1), WEFT_OK);
        CU_ASSERT(wt_shape_is(&got[0], 2, D2(N, 5)));
        float seg[30 * 5];
        weft_tensor want = wt_tensor(WEFT_FLOAT32, seg, 2, D2(N, 5));
        CU_ASSERT_EQUAL_FATAL(run_kernel_only("SegmentReduce", r ? mx : sum, 1, b_in, 4, &want), WEFT_OK);
        CU_ASSERT(same_bits(&got[0], &want, r ? "wide max" : "wide sum"));
        if (r == 0) CU_ASSERT(wt_close_f32(got[0].data, want_naive, N * 5, 0, 0));
        wt_free_outputs(got, 1);
    }
    /* an init narrower than src is refused */
    a_in[3] = wt_tensor(WEFT_FLOAT32, init, 2, D2(N, 1));
    weft_tensor out[1];
    CU_ASSERT_EQUAL(runw("CsrReduce", sum, 1, a_in, 4, out, 1), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    wt_free_outputs(csr, 2);
}

/* --- CsrGatherReduce == SegmentReduce(RowGather) ------------------------------------------------- */

static void gather_reduce_case(weft_dtype dt, int rank, int weight_kind, int64_t E)
{
    /* x [M, F] or [M, H, F]; weight_kind 0: none, 1: [E], 2: [E, 1], 3: [E, H], 4: [E, H, 1] */
    enum { M = 23, N = 31, H = 3, F = 4 };
    const int64_t NN = N, MM = M;
    int64_t R = rank == 3 ? H * F : F;
    double *x = malloc(M * R * 8), *w = malloc((size_t)E * H * 8 + 8);
    int64_t *idx = malloc((size_t)E * 8 + 8), *src = malloc((size_t)E * 8 + 8);
    for (int e = 0; e < E; e++) { idx[e] = rnd_int(N - 3); src[e] = rnd_int(M); } /* 3 empty segments */
    fill(dt, x, M * R, -3, 3);
    fill(dt, w, E * H, -2, 2);
    weft_tensor csr[3];
    CU_ASSERT_EQUAL_FATAL(build_csr(idx, E, &NN, 0, src, &MM, csr), WEFT_OK);
    weft_tensor xt = rank == 3 ? wt_tensor(dt, x, 3, D3(M, H, F)) : wt_tensor(dt, x, 2, D2(M, F));
    weft_tensor wt_in;
    int64_t wh = weight_kind >= 3 ? H : 1;
    switch (weight_kind) {
    case 1: wt_in = wt_tensor(dt, w, 1, D1(E)); break;
    case 2: wt_in = wt_tensor(dt, w, 2, D2(E, 1)); break;
    case 3: wt_in = wt_tensor(dt, w, 2, D2(E, H)); break;
    default: wt_in = wt_tensor(dt, w, 3, D3(E, H, 1)); break;
    }
    /* the chain: RowGather, then (with a weight) Mul by the weight shaped to broadcast over the row */
    weft_tensor g[1], msg[1];
    weft_tensor gi[] = {xt, wt_tensor(WEFT_INT64, src, 1, D1(E))};
    CU_ASSERT_EQUAL_FATAL(runw("RowGather", NULL, 0, gi, 2, g, 1), WEFT_OK);
    if (weight_kind) {
        weft_tensor wb = rank == 3 ? wt_tensor(dt, w, 3, D3(E, wh, 1)) : wt_tensor(dt, w, 2, D2(E, 1));
        weft_tensor mi[] = {wb, g[0]};
        onnx("Mul", 14, NULL, 0, mi, 2, msg);
    } else {
        msg[0] = g[0];
    }
    for (int r = 0; r < 4; r++) {
        weft_attr at[] = {wt_attr_string("reduce", reduces[r])};
        weft_tensor a_in[] = {xt, csr[0], csr[2], csr[1], wt_in};
        weft_tensor b_in[] = {msg[0], wt_tensor(WEFT_INT64, idx, 1, D1(E)), wt_tensor(WEFT_INT64, &NN, 0, NULL)};
        weft_tensor got[1], want[1];
        weft_status st = runw("CsrGatherReduce", at, 1, a_in, weight_kind ? 5 : 3, got, 1);
        if (st) fprintf(stderr, "  %s\n", weft_last_error());
        CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
        CU_ASSERT_EQUAL_FATAL(runw("SegmentReduce", at, 1, b_in, 3, want, 1), WEFT_OK);
        if (!same_bits(got, want, reduces[r]))
            fprintf(stderr, "  (dtype %s, rank %d, weight %d)\n", weft_dtype_name(dt), rank, weight_kind);
        CU_ASSERT(same_bits(got, want, reduces[r]));
        /* and a naive loop in double for the sum */
        if (r == 0) {
            double *ref = calloc(N * R, 8);
            for (int e = 0; e < E; e++)
                for (int64_t f = 0; f < R; f++) {
                    double wv = !weight_kind ? 1 : weft_load_f64(dt, w, wh == 1 ? e : e * H + f / F);
                    ref[idx[e] * R + f] += wv * weft_load_f64(dt, x, src[e] * R + f);
                }
            CU_ASSERT(close_to(got, ref, N * R, 1e-5, 1e-5, "naive sum"));
            free(ref);
        }
        wt_free_outputs(got, 1);
        wt_free_outputs(want, 1);
    }
    wt_free_outputs(g, 1);
    if (weight_kind) wt_free_outputs(msg, 1);
    wt_free_outputs(csr, 3);
    free(x);
    free(w);
    free(idx);
    free(src);
}

static void test_csr_gather_reduce(void)
{
    const weft_dtype dts[] = {WEFT_FLOAT32, WEFT_FLOAT64};
    /* E >> N (every segment long), and E ~ N (segments of 0, 1, 2, 3 edges) */
    const int64_t Es[] = {700, 40};
    for (int d = 0; d < 2; d++)
        for (int e = 0; e < 2; e++) {
            gather_reduce_case(dts[d], 2, 0, Es[e]);
            gather_reduce_case(dts[d], 3, 0, Es[e]);
            gather_reduce_case(dts[d], 2, 1, Es[e]);
            gather_reduce_case(dts[d], 2, 2, Es[e]);
            gather_reduce_case(dts[d], 3, 1, Es[e]);
            gather_reduce_case(dts[d], 3, 3, Es[e]);
            gather_reduce_case(dts[d], 3, 4, Es[e]);
        }

    /* errors: weight without perm, heads that do not match x, mul, int x */
    const int64_t off[] = {0, 1, 2}, col[] = {0, 1}, perm[] = {0, 1};
    float x[2 * 2 * 3] = {0}, w[2 * 3] = {0};
    weft_tensor in[] = {wt_tensor(WEFT_FLOAT32, x, 3, D3(2, 2, 3)), wt_tensor(WEFT_INT64, off, 1, D1(3)),
                        wt_tensor(WEFT_INT64, col, 1, D1(2)), wt_absent(), wt_tensor(WEFT_FLOAT32, w, 1, D1(2))};
    weft_tensor out[1];
    CU_ASSERT_EQUAL(runw("CsrGatherReduce", NULL, 0, in, 5, out, 1), WEFT_ERR_INVALID_MODEL);
    wt_free_outputs(out, 1);
    in[3] = wt_tensor(WEFT_INT64, perm, 1, D1(2));
    in[4] = wt_tensor(WEFT_FLOAT32, w, 2, D2(2, 3));
    CU_ASSERT_EQUAL(runw("CsrGatherReduce", NULL, 0, in, 5, out, 1), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    weft_attr mul[] = {wt_attr_string("reduce", "mul")};
    CU_ASSERT_EQUAL(runw("CsrGatherReduce", mul, 1, in, 3, out, 1), WEFT_ERR_INVALID_MODEL);
    wt_free_outputs(out, 1);
    int32_t xi[12] = {0};
    in[0] = wt_tensor(WEFT_INT32, xi, 3, D3(2, 2, 3));
    CU_ASSERT_EQUAL(runw("CsrGatherReduce", NULL, 0, in, 3, out, 1), WEFT_ERR_UNSUPPORTED);
    wt_free_outputs(out, 1);
}

/* --- CsrEdgeSoftmax == EdgeSoftmax --------------------------------------------------------------- */

static void test_csr_edge_softmax(void)
{
    const weft_dtype dts[] = {WEFT_FLOAT32, WEFT_FLOAT64};
    enum { E = 800, N = 50, H = 4 };
    const int64_t NN = N;
    int64_t idx[E];
    for (int e = 0; e < E; e++) idx[e] = rnd_int(N - 5);
    weft_tensor csr[2];
    CU_ASSERT_EQUAL_FATAL(build_csr(idx, E, &NN, 0, NULL, NULL, csr), WEFT_OK);
    for (int d = 0; d < 2; d++)
        for (int heads = 0; heads < 2; heads++) {
            double s[E * H];
            fill(dts[d], s, E * H, -8, 8);
            weft_tensor sc = heads ? wt_tensor(dts[d], s, 2, D2(E, H)) : wt_tensor(dts[d], s, 1, D1(E));
            weft_tensor a_in[] = {sc, csr[0], csr[1]};
            weft_tensor b_in[] = {sc, wt_tensor(WEFT_INT64, idx, 1, D1(E)), wt_tensor(WEFT_INT64, &NN, 0, NULL)};
            weft_tensor got[1], want[1];
            CU_ASSERT_EQUAL_FATAL(runw("CsrEdgeSoftmax", NULL, 0, a_in, 3, got, 1), WEFT_OK);
            CU_ASSERT_EQUAL_FATAL(runw("EdgeSoftmax", NULL, 0, b_in, 3, want, 1), WEFT_OK);
            CU_ASSERT(same_bits(got, want, heads ? "softmax [E, H]" : "softmax [E]"));
            wt_free_outputs(got, 1);
            wt_free_outputs(want, 1);
        }
    wt_free_outputs(csr, 2);
}

/* --- LinkScore ----------------------------------------------------------------------------------- */

static void link_case(weft_dtype dt)
{
    enum { NA = 17, NB = 11, F = 9, P = 400 };
    double a[NA * F], b[NB * F];
    int32_t ia[P];
    int64_t ib[P];
    fill(dt, a, NA * F, -2, 2);
    fill(dt, b, NB * F, -2, 2);
    for (int p = 0; p < P; p++) { ia[p] = (int32_t)(rnd_int(2 * NA) - NA); ib[p] = rnd_int(2 * NB) - NB; }
    weft_tensor at = wt_tensor(dt, a, 2, D2(NA, F)), bt = wt_tensor(dt, b, 2, D2(NB, F));
    weft_tensor in[] = {at, bt, wt_tensor(WEFT_INT32, ia, 1, D1(P)), wt_tensor(WEFT_INT64, ib, 1, D1(P))};
    weft_tensor got[1];
    CU_ASSERT_EQUAL_FATAL(runw("LinkScore", NULL, 0, in, 4, got, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&got[0], 1, D1(P)) && got[0].dtype == dt);
    /* naive, in double */
    double want[P];
    for (int p = 0; p < P; p++) {
        int64_t i = ia[p] < 0 ? ia[p] + NA : ia[p], j = ib[p] < 0 ? ib[p] + NB : ib[p];
        want[p] = 0;
        for (int f = 0; f < F; f++) want[p] += weft_load_f64(dt, a, i * F + f) * weft_load_f64(dt, b, j * F + f);
    }
    CU_ASSERT(close_to(got, want, P, 1e-5, 1e-5, "naive link score"));
    /* the exported chain: Gather, Gather, Mul, ReduceSum(axis -1): the same bits */
    weft_tensor ga[1], gb[1], m[1], r[1];
    weft_tensor g1[] = {at, in[2]}, g2[] = {bt, in[3]};
    onnx("Gather", 13, NULL, 0, g1, 2, ga);
    onnx("Gather", 13, NULL, 0, g2, 2, gb);
    weft_tensor mi[] = {ga[0], gb[0]};
    onnx("Mul", 14, NULL, 0, mi, 2, m);
    const int64_t axis[] = {-1};
    weft_attr kd[] = {wt_attr_int("keepdims", 0)};
    weft_tensor ri[] = {m[0], wt_tensor(WEFT_INT64, axis, 1, D1(1))};
    onnx("ReduceSum", 13, kd, 1, ri, 2, r);
    CU_ASSERT(same_bits(got, r, "link score vs chain"));
    wt_free_outputs(ga, 1);
    wt_free_outputs(gb, 1);
    wt_free_outputs(m, 1);
    wt_free_outputs(r, 1);
    wt_free_outputs(got, 1);
}

static void test_link_score(void)
{
    link_case(WEFT_FLOAT32);
    link_case(WEFT_FLOAT64);

    float a[3 * 2] = {1, 2, 3, 4, 5, 6}, b[2 * 2] = {1, 1, 2, 2};
    int64_t ia[] = {0, 3}, ib[] = {-3, 0}, ok[] = {0, 1};
    weft_tensor in[] = {wt_tensor(WEFT_FLOAT32, a, 2, D2(3, 2)), wt_tensor(WEFT_FLOAT32, b, 2, D2(2, 2)),
                        wt_tensor(WEFT_INT64, ia, 1, D1(2)), wt_tensor(WEFT_INT64, ok, 1, D1(2))};
    weft_tensor out[1];
    CU_ASSERT_EQUAL(runw("LinkScore", NULL, 0, in, 4, out, 1), WEFT_ERR_INDEX);
    CU_ASSERT(msg_has("ia[1] = 3"));
    wt_free_outputs(out, 1);
    in[2] = wt_tensor(WEFT_INT64, ok, 1, D1(2));
    in[3] = wt_tensor(WEFT_INT64, ib, 1, D1(2));
    CU_ASSERT_EQUAL(runw("LinkScore", NULL, 0, in, 4, out, 1), WEFT_ERR_INDEX);
    CU_ASSERT(msg_has("ib[0] = -3"));
    wt_free_outputs(out, 1);
    /* a (0, 1) . b (-2 -> row 0, 1) = (1*1 + 2*1, 3*2 + 4*2) = (3, 14) */
    int64_t neg[] = {-2, 1};
    in[3] = wt_tensor(WEFT_INT64, neg, 1, D1(2));
    CU_ASSERT_EQUAL_FATAL(runw("LinkScore", NULL, 0, in, 4, out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(out[0].data, (const float[]){3, 14}, 2, 0, 0));
    wt_free_outputs(out, 1);
    in[1] = wt_tensor(WEFT_FLOAT32, b, 2, D2(1, 4));
    CU_ASSERT_EQUAL(runw("LinkScore", NULL, 0, in, 4, out, 1), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    in[1] = wt_tensor(WEFT_FLOAT32, b, 2, D2(2, 2));
    in[3] = wt_tensor(WEFT_INT64, ok, 1, D1(1));
    CU_ASSERT_EQUAL(runw("LinkScore", NULL, 0, in, 4, out, 1), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
}

/* --- FusedMatMul --------------------------------------------------------------------------------- */

/* Naive double loops: act(acc + norm(sum_i X_i W_i + bias)) for rows x M. */
static void fmm_naive(int terms, const double *const *X, const double *const *Wt, const int64_t *K, int64_t rows, int64_t M,
                      const double *bias, const double *acc, bool normalize, double *out)
{
    for (int64_t r = 0; r < rows; r++) {
        double *y = out + r * M, ss = 0;
        for (int64_t m = 0; m < M; m++) {
            double s = bias ? bias[m] : 0;
            for (int i = 0; i < terms; i++)
                for (int64_t k = 0; k < K[i]; k++) s += X[i][r * K[i] + k] * Wt[i][k * M + m];
            y[m] = s;
            ss += s * s;
        }
        double d = fmax(sqrt(ss), 1e-12);
        for (int64_t m = 0; m < M; m++) y[m] = (normalize ? y[m] / d : y[m]) + (acc ? acc[r * M + m] : 0);
    }
}

static void test_fused_matmul_naive(void)
{
    enum { ROWS = 12, M = 7, K0 = 16, K1 = 5 };
    const int64_t K[] = {K0, K1};
    for (int dti = 0; dti < 2; dti++) {
        weft_dtype dt = dti ? WEFT_FLOAT64 : WEFT_FLOAT32;
        double x0[ROWS * K0], x1[ROWS * K1], w0[K0 * M], w1[K1 * M], bias[M], acc[ROWS * M];
        double dx0[ROWS * K0], dx1[ROWS * K1], dw0[K0 * M], dw1[K1 * M], dbias[M], dacc[ROWS * M], want[ROWS * M];
        struct { void *p; double *d; int64_t n; } arrs[] = {
            {x0, dx0, ROWS * K0}, {x1, dx1, ROWS * K1}, {w0, dw0, K0 * M}, {w1, dw1, K1 * M}, {bias, dbias, M}, {acc, dacc, ROWS * M}};
        for (size_t a = 0; a < 6; a++) {
            fill(dt, arrs[a].p, arrs[a].n, -1, 1);
            for (int64_t i = 0; i < arrs[a].n; i++) arrs[a].d[i] = weft_load_f64(dt, arrs[a].p, i);
        }
        const double *X[] = {dx0, dx1}, *Wt[] = {dw0, dw1};
        double tol = dti ? 1e-12 : 1e-5;
        for (int terms = 1; terms <= 2; terms++)
            for (int variant = 0; variant < 4; variant++) {
                /* variant bit 0: bias, bit 1: acc; each also with normalize */
                bool has_b = variant & 1, has_a = variant & 2;
                for (int nz = 0; nz < 2; nz++) {
                    /* X_0 as [3, 4, K0]: leading dims flatten to the 12 rows */
                    weft_tensor in[6] = {wt_tensor(dt, x0, 3, D3(3, 4, K0)), wt_tensor(dt, w0, 2, D2(K0, M)),
                                         wt_tensor(dt, x1, 3, D3(3, 4, K1)), wt_tensor(dt, w1, 2, D2(K1, M))};
                    int n_in = 2 * terms;
                    if (has_b || has_a) in[n_in++] = has_b ? wt_tensor(dt, bias, 1, D1(M)) : wt_absent();
                    if (has_a) in[n_in++] = wt_tensor(dt, acc, 3, D3(3, 4, M));
                    weft_attr at[] = {wt_attr_int("terms", terms), wt_attr_int("normalize", nz)};
                    weft_tensor got[1];
                    weft_status st = runw("FusedMatMul", at, 2, in, n_in, got, 1);
                    if (st) fprintf(stderr, "  %s\n", weft_last_error());
                    CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
                    CU_ASSERT(wt_shape_is(&got[0], 3, D3(3, 4, M)) && got[0].dtype == dt);
                    fmm_naive(terms, X, Wt, K, ROWS, M, has_b ? dbias : NULL, has_a ? dacc : NULL, nz, want);
                    if (!close_to(got, want, ROWS * M, tol, tol, "fused matmul"))
                        fprintf(stderr, "  (dtype %s, terms %d, bias %d, acc %d, normalize %d)\n", weft_dtype_name(dt), terms,
                                has_b, has_a, nz);
                    CU_ASSERT(close_to(got, want, ROWS * M, tol, tol, "fused matmul"));
                    wt_free_outputs(got, 1);
                }
            }
    }
}

/* Single term: FusedMatMul(X, W, bias) with each activation equals Act(Add(MatMul(X, W), bias)) run as
 * ONNX ops, bit for bit; with normalize and acc it equals ... Div(., Clip(ReduceL2(.), eps)) + acc. */
static void test_fused_matmul_vs_onnx(void)
{
    enum { R = 9, K = 13, M = 6 };
    struct { const char *act, *onnx; int opset; float alpha; bool has_alpha; } acts[] = {
        {"", NULL, 0, 0, false},           {"relu", "Relu", 14, 0, false},    {"leaky_relu", "LeakyRelu", 16, 0, false},
        {"leaky_relu", "LeakyRelu", 16, 0.2f, true}, {"elu", "Elu", 6, 0, false}, {"elu", "Elu", 6, 0.7f, true},
        {"sigmoid", "Sigmoid", 13, 0, false}, {"tanh", "Tanh", 13, 0, false},
    };
    for (int dti = 0; dti < 2; dti++) {
        weft_dtype dt = dti ? WEFT_FLOAT64 : WEFT_FLOAT32;
        double x[R * K], w[K * M], b[M], acc[R * M];
        fill(dt, x, R * K, -2, 2);
        fill(dt, w, K * M, -1, 1);
        fill(dt, b, M, -1, 1);
        fill(dt, acc, R * M, -1, 1);
        weft_tensor xt = wt_tensor(dt, x, 2, D2(R, K)), wt_ = wt_tensor(dt, w, 2, D2(K, M)), bt = wt_tensor(dt, b, 1, D1(M)),
                    at_ = wt_tensor(dt, acc, 2, D2(R, M));
        /* the chain's common part: MatMul + Add, and the normalised form */
        weft_tensor mm[1], lin[1], l2[1], cl[1], dv[1], lin_acc[1];
        weft_tensor i1[] = {xt, wt_};
        onnx("MatMul", 13, NULL, 0, i1, 2, mm);
        weft_tensor i2[] = {mm[0], bt};
        onnx("Add", 14, NULL, 0, i2, 2, lin);
        const int64_t axis[] = {-1};
        double eps_t;
        weft_store_f64(dt, &eps_t, 0, 1e-12f);
        weft_tensor i3[] = {lin[0], wt_tensor(WEFT_INT64, axis, 1, D1(1))};
        onnx("ReduceL2", 18, NULL, 0, i3, 2, l2);
        weft_tensor i4[] = {l2[0], wt_tensor(dt, &eps_t, 0, NULL)};
        onnx("Clip", 13, NULL, 0, i4, 2, cl);
        weft_tensor i5[] = {lin[0], cl[0]};
        onnx("Div", 14, NULL, 0, i5, 2, dv);
        weft_tensor i6[] = {dv[0], at_};
        onnx("Add", 14, NULL, 0, i6, 2, lin_acc);
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++)
            for (int form = 0; form < 2; form++) { /* 0: + bias; 1: + bias, normalize, + acc */
                weft_attr at[4] = {wt_attr_int("terms", 1), wt_attr_string("activation", acts[a].act),
                                   wt_attr_int("normalize", form)};
                int n_at = 3;
                if (acts[a].has_alpha) at[n_at++] = wt_attr_float("alpha", acts[a].alpha);
                weft_tensor in[] = {xt, wt_, bt, at_};
                weft_tensor got[1], want[1];
                CU_ASSERT_EQUAL_FATAL(runw("FusedMatMul", at, n_at, in, form ? 4 : 3, got, 1), WEFT_OK);
                const weft_tensor *pre = form ? &lin_acc[0] : &lin[0];
                if (acts[a].onnx) {
                    weft_attr oa[] = {wt_attr_float("alpha", acts[a].alpha)};
                    onnx(acts[a].onnx, acts[a].opset, oa, acts[a].has_alpha ? 1 : 0, pre, 1, want);
                    if (!same_bits(got, want, acts[a].onnx)) fprintf(stderr, "  (dtype %s, form %d)\n", weft_dtype_name(dt), form);
                    CU_ASSERT(same_bits(got, want, acts[a].onnx));
                    wt_free_outputs(want, 1);
                } else {
                    CU_ASSERT(same_bits(got, pre, "no activation"));
                }
                wt_free_outputs(got, 1);
            }
        /* no bias, acc only: MatMul + acc */
        weft_tensor sum[1];
        weft_tensor i7[] = {mm[0], at_};
        onnx("Add", 14, NULL, 0, i7, 2, sum);
        weft_attr t1[] = {wt_attr_int("terms", 1)};
        weft_tensor in[] = {xt, wt_, wt_absent(), at_};
        weft_tensor got[1];
        CU_ASSERT_EQUAL_FATAL(runw("FusedMatMul", t1, 1, in, 4, got, 1), WEFT_OK);
        CU_ASSERT(same_bits(got, sum, "acc without bias"));
        wt_free_outputs(got, 1);
        /* nothing but the product: MatMul itself */
        CU_ASSERT_EQUAL_FATAL(runw("FusedMatMul", t1, 1, in, 2, got, 1), WEFT_OK);
        CU_ASSERT(same_bits(got, mm, "plain product"));
        wt_free_outputs(got, 1);
        wt_free_outputs(sum, 1);
        weft_tensor *all[] = {mm, lin, l2, cl, dv, lin_acc};
        for (int i = 0; i < 6; i++) wt_free_outputs(all[i], 1);
    }
}

static void test_fused_matmul_errors(void)
{
    float x[4 * 3] = {0}, w[3 * 2] = {0}, w2[4 * 2] = {0}, b[3] = {0};
    int32_t xi[12] = {0};
    weft_tensor in[] = {wt_tensor(WEFT_FLOAT32, x, 2, D2(4, 3)), wt_tensor(WEFT_FLOAT32, w, 2, D2(3, 2)),
                        wt_tensor(WEFT_FLOAT32, x, 2, D2(4, 3)), wt_tensor(WEFT_FLOAT32, w, 2, D2(3, 2))};
    weft_tensor out[1];
    weft_attr t1[] = {wt_attr_int("terms", 1)}, t2[] = {wt_attr_int("terms", 2)}, t3[] = {wt_attr_int("terms", 3)};
    /* transpose: one 0/1 per term; a transposed W is [M, K], so a [K, M] one no longer fits */
    weft_attr tb[] = {wt_attr_int("terms", 1), wt_attr_ints("transpose", 2, (const int64_t[]){0, 1})};
    CU_ASSERT_EQUAL(runw("FusedMatMul", tb, 2, in, 2, out, 1), WEFT_ERR_INVALID_MODEL);
    tb[1] = wt_attr_ints("transpose", 1, (const int64_t[]){2});
    CU_ASSERT_EQUAL(runw("FusedMatMul", tb, 2, in, 2, out, 1), WEFT_ERR_INVALID_MODEL);
    tb[1] = wt_attr_ints("transpose", 1, (const int64_t[]){1});
    CU_ASSERT_EQUAL(runw("FusedMatMul", tb, 2, in, 2, out, 1), WEFT_ERR_SHAPE);
    /* terms missing, or more terms than inputs, or too many inputs for the terms */
    CU_ASSERT_EQUAL(runw("FusedMatMul", NULL, 0, in, 2, out, 1), WEFT_ERR_INVALID_MODEL);
    CU_ASSERT_EQUAL(runw("FusedMatMul", t3, 1, in, 4, out, 1), WEFT_ERR_INVALID_MODEL);
    weft_tensor five[] = {in[0], in[1], in[2], in[3], in[0]};
    CU_ASSERT_EQUAL(runw("FusedMatMul", t1, 1, five, 5, out, 1), WEFT_ERR_INVALID_MODEL);
    /* K that differs between X and W; M that differs between terms */
    in[3] = wt_tensor(WEFT_FLOAT32, w2, 2, D2(4, 2));
    CU_ASSERT_EQUAL(runw("FusedMatMul", t2, 1, in, 4, out, 1), WEFT_ERR_SHAPE);
    CU_ASSERT(msg_has("term 1"));
    in[3] = wt_tensor(WEFT_FLOAT32, w2, 2, D2(3, 1));
    CU_ASSERT_EQUAL(runw("FusedMatMul", t2, 1, in, 4, out, 1), WEFT_ERR_SHAPE);
    /* leading dims that differ between terms */
    in[2] = wt_tensor(WEFT_FLOAT32, x, 2, D2(3, 3));
    in[3] = wt_tensor(WEFT_FLOAT32, w, 2, D2(3, 2));
    CU_ASSERT_EQUAL(runw("FusedMatMul", t2, 1, in, 4, out, 1), WEFT_ERR_SHAPE);
    /* bias of the wrong length; unknown activation; bad normalize; integer input */
    weft_tensor bi[] = {in[0], in[1], wt_tensor(WEFT_FLOAT32, b, 1, D1(3))};
    CU_ASSERT_EQUAL(runw("FusedMatMul", t1, 1, bi, 3, out, 1), WEFT_ERR_SHAPE);
    weft_attr bad_act[] = {wt_attr_int("terms", 1), wt_attr_string("activation", "swish")};
    CU_ASSERT_EQUAL(runw("FusedMatMul", bad_act, 2, in, 2, out, 1), WEFT_ERR_INVALID_MODEL);
    CU_ASSERT(msg_has("swish"));
    weft_attr bad_nz[] = {wt_attr_int("terms", 1), wt_attr_int("normalize", 2)};
    CU_ASSERT_EQUAL(runw("FusedMatMul", bad_nz, 2, in, 2, out, 1), WEFT_ERR_INVALID_MODEL);
    weft_tensor ii[] = {wt_tensor(WEFT_INT32, xi, 2, D2(4, 3)), wt_tensor(WEFT_INT32, xi, 2, D2(3, 2))};
    CU_ASSERT_EQUAL(runw("FusedMatMul", t1, 1, ii, 2, out, 1), WEFT_ERR_UNSUPPORTED);
    weft_tensor mixed[] = {in[0], wt_tensor(WEFT_FLOAT64, w, 2, D2(3, 1))};
    CU_ASSERT_EQUAL(runw("FusedMatMul", t1, 1, mixed, 2, out, 1), WEFT_ERR_TYPE);
}

/* --- L2Normalize --------------------------------------------------------------------------------- */

static void test_l2_normalize(void)
{
    enum { A = 3, B = 5, F = 8 };
    for (int dti = 0; dti < 2; dti++) {
        weft_dtype dt = dti ? WEFT_FLOAT64 : WEFT_FLOAT32;
        double x[A * B * F], want[A * B * F];
        fill(dt, x, A * B * F, -3, 3);
        for (int f = 0; f < F; f++) weft_store_f64(dt, x, 2 * F + f, 0); /* a zero row stays zero */
        for (int r = 0; r < A * B; r++) {
            double ss = 0;
            for (int f = 0; f < F; f++) ss += pow(weft_load_f64(dt, x, r * F + f), 2);
            for (int f = 0; f < F; f++) want[r * F + f] = weft_load_f64(dt, x, r * F + f) / fmax(sqrt(ss), 1e-12);
        }
        weft_tensor xt = wt_tensor(dt, x, 3, D3(A, B, F));
        weft_tensor got[1];
        CU_ASSERT_EQUAL_FATAL(runw("L2Normalize", NULL, 0, &xt, 1, got, 1), WEFT_OK);
        CU_ASSERT(wt_shape_is(&got[0], 3, D3(A, B, F)) && got[0].dtype == dt);
        CU_ASSERT(close_to(got, want, A * B * F, dti ? 1e-14 : 1e-6, 0, "l2 normalize"));
        /* the exported chain: ReduceL2, Clip(min eps), Div */
        const int64_t axis[] = {-1};
        double eps_t;
        weft_store_f64(dt, &eps_t, 0, 1e-12f);
        weft_tensor l2[1], cl[1], dv[1];
        weft_tensor i1[] = {xt, wt_tensor(WEFT_INT64, axis, 1, D1(1))};
        onnx("ReduceL2", 18, NULL, 0, i1, 2, l2);
        weft_tensor i2[] = {l2[0], wt_tensor(dt, &eps_t, 0, NULL)};
        onnx("Clip", 13, NULL, 0, i2, 2, cl);
        weft_tensor i3[] = {xt, cl[0]};
        onnx("Div", 14, NULL, 0, i3, 2, dv);
        CU_ASSERT(same_bits(got, dv, "l2 normalize vs chain"));
        wt_free_outputs(l2, 1);
        wt_free_outputs(cl, 1);
        wt_free_outputs(dv, 1);
        wt_free_outputs(got, 1);
    }
    int32_t xi[2] = {0};
    weft_tensor bad = wt_tensor(WEFT_INT32, xi, 1, D1(2));
    weft_tensor out[1];
    CU_ASSERT_EQUAL(runw("L2Normalize", NULL, 0, &bad, 1, out, 1), WEFT_ERR_UNSUPPORTED);
    float s = 1;
    bad = wt_tensor(WEFT_FLOAT32, &s, 0, NULL);
    CU_ASSERT_EQUAL(runw("L2Normalize", NULL, 0, &bad, 1, out, 1), WEFT_ERR_SHAPE);
}

/* --- FusedElementwise ---------------------------------------------------------------------------- */

static weft_status fe_run(const int64_t *prog, int n_ints, const float *consts, int n_consts, const float *alphas,
                          const weft_tensor *in, int n_in, weft_tensor *out)
{
    weft_attr at[3];
    int n = 0;
    at[n++] = wt_attr_ints("program", n_ints, prog);
    if (consts) at[n++] = wt_attr_floats("constants", n_consts, consts);
    if (alphas) at[n++] = wt_attr_floats("alphas", n_ints / 4, alphas);
    return runw("FusedElementwise", at, n, in, n_in, out, 1);
}

static void test_fused_elementwise_chains(void)
{
    for (int dti = 0; dti < 2; dti++) {
        weft_dtype dt = dti ? WEFT_FLOAT64 : WEFT_FLOAT32;
        double x[3 * 4], y[5 * 4];
        fill(dt, x, 12, -2, 2);
        fill(dt, y, 20, -2, 2);
        weft_tensor xt = wt_tensor(dt, x, 3, D3(3, 1, 4)), yt = wt_tensor(dt, y, 2, D2(5, 4));
        weft_tensor in[] = {xt, yt};
        weft_tensor got[1], t1[1], t2[1], t3[1];

        /* Relu(Add(x, y)), x [3, 1, 4] broadcast with y [5, 4] -> [3, 5, 4] */
        const int64_t p1[] = {WEFT_FUSED_ADD, 2, 0, 1, WEFT_FUSED_RELU, 3, 2, 0};
        CU_ASSERT_EQUAL_FATAL(fe_run(p1, 8, NULL, 0, NULL, in, 2, got), WEFT_OK);
        CU_ASSERT(wt_shape_is(&got[0], 3, D3(3, 5, 4)));
        onnx("Add", 14, NULL, 0, in, 2, t1);
        onnx("Relu", 14, NULL, 0, t1, 1, t2);
        CU_ASSERT(same_bits(got, t2, "relu(add)"));
        wt_free_outputs(got, 1);
        wt_free_outputs(t1, 1);
        wt_free_outputs(t2, 1);

        /* LeakyRelu(Mul(x, 0.3), alpha 0.2): the constant as register -1 */
        const int64_t p2[] = {WEFT_FUSED_MUL, 1, 0, -1, WEFT_FUSED_LEAKY_RELU, 2, 1, 0};
        const float c2[] = {0.3f}, a2[] = {0, 0.2f};
        CU_ASSERT_EQUAL_FATAL(fe_run(p2, 8, c2, 1, a2, &xt, 1, got), WEFT_OK);
        double c_t;
        weft_store_f64(dt, &c_t, 0, c2[0]);
        weft_tensor mi[] = {xt, wt_tensor(dt, &c_t, 0, NULL)};
        onnx("Mul", 14, NULL, 0, mi, 2, t1);
        weft_attr al[] = {wt_attr_float("alpha", 0.2f)};
        onnx("LeakyRelu", 16, al, 1, t1, 1, t2);
        CU_ASSERT(same_bits(got, t2, "leaky_relu(mul)"));
        wt_free_outputs(got, 1);
        wt_free_outputs(t1, 1);
        wt_free_outputs(t2, 1);

        /* register reuse and constants on either side: r2 = 1.5 - x; r3 = r2 * y; r2 = sigmoid(r3);
         * r3 = max(r2, 0.25) (r2 and r3 written twice) */
        const int64_t p3[] = {WEFT_FUSED_SUB, 2, -1, 0, WEFT_FUSED_MUL, 3, 2, 1, WEFT_FUSED_SIGMOID, 2, 3, 0,
                              WEFT_FUSED_MAX, 3, 2, -2};
        const float c3[] = {1.5f, 0.25f};
        CU_ASSERT_EQUAL_FATAL(fe_run(p3, 16, c3, 2, NULL, in, 2, got), WEFT_OK);
        double k0, k1;
        weft_store_f64(dt, &k0, 0, 1.5);
        weft_store_f64(dt, &k1, 0, 0.25);
        weft_tensor s1[] = {wt_tensor(dt, &k0, 0, NULL), xt};
        onnx("Sub", 14, NULL, 0, s1, 2, t1);
        weft_tensor s2[] = {t1[0], yt};
        onnx("Mul", 14, NULL, 0, s2, 2, t2);
        weft_tensor sg[1];
        onnx("Sigmoid", 13, NULL, 0, t2, 1, sg);
        weft_tensor s3[] = {sg[0], wt_tensor(dt, &k1, 0, NULL)};
        onnx("Max", 13, NULL, 0, s3, 2, t3);
        CU_ASSERT(same_bits(got, t3, "chain with reuse"));
        wt_free_outputs(got, 1);
        wt_free_outputs(t1, 1);
        wt_free_outputs(t2, 1);
        wt_free_outputs(t3, 1);
        wt_free_outputs(sg, 1);

        /* scalars in, scalar out: 2 + 3 = 5 */
        double two, three;
        weft_store_f64(dt, &two, 0, 2);
        weft_store_f64(dt, &three, 0, 3);
        weft_tensor sc[] = {wt_tensor(dt, &two, 0, NULL), wt_tensor(dt, &three, 0, NULL)};
        const int64_t p4[] = {WEFT_FUSED_ADD, 2, 0, 1};
        CU_ASSERT_EQUAL_FATAL(fe_run(p4, 4, NULL, 0, NULL, sc, 2, got), WEFT_OK);
        CU_ASSERT(got[0].rank == 0 && weft_load_f64(dt, got[0].data, 0) == 5);
        wt_free_outputs(got, 1);
    }
}

/* Each opcode alone equals the ONNX op of the same name. */
static void test_fused_elementwise_opcodes(void)
{
    struct { int op; const char *onnx; int opset; float alpha; const char *sattr; const char *sval; } un[] = {
        {WEFT_FUSED_NEG, "Neg", 13, 0, NULL, NULL},        {WEFT_FUSED_ABS, "Abs", 13, 0, NULL, NULL},
        {WEFT_FUSED_RELU, "Relu", 14, 0, NULL, NULL},      {WEFT_FUSED_LEAKY_RELU, "LeakyRelu", 16, 0.05f, NULL, NULL},
        {WEFT_FUSED_ELU, "Elu", 6, 0.8f, NULL, NULL},      {WEFT_FUSED_SIGMOID, "Sigmoid", 13, 0, NULL, NULL},
        {WEFT_FUSED_TANH, "Tanh", 13, 0, NULL, NULL},      {WEFT_FUSED_EXP, "Exp", 13, 0, NULL, NULL},
        {WEFT_FUSED_LOG, "Log", 13, 0, NULL, NULL},        {WEFT_FUSED_SQRT, "Sqrt", 13, 0, NULL, NULL},
        {WEFT_FUSED_RECIPROCAL, "Reciprocal", 13, 0, NULL, NULL}, {WEFT_FUSED_COS, "Cos", 7, 0, NULL, NULL},
        {WEFT_FUSED_SIN, "Sin", 7, 0, NULL, NULL},         {WEFT_FUSED_ERF, "Erf", 13, 0, NULL, NULL},
        {WEFT_FUSED_SOFTPLUS, "Softplus", 1, 0, NULL, NULL}, {WEFT_FUSED_GELU, "Gelu", 20, 0, "approximate", "none"},
        {WEFT_FUSED_GELU, "Gelu", 20, 1, "approximate", "tanh"},
    };
    struct { int op; const char *onnx; int opset; } bin[] = {
        {WEFT_FUSED_ADD, "Add", 14}, {WEFT_FUSED_SUB, "Sub", 14}, {WEFT_FUSED_MUL, "Mul", 14}, {WEFT_FUSED_DIV, "Div", 14},
        {WEFT_FUSED_MAX, "Max", 13}, {WEFT_FUSED_MIN, "Min", 13}, {WEFT_FUSED_POW, "Pow", 15},
    };
    for (int dti = 0; dti < 2; dti++) {
        weft_dtype dt = dti ? WEFT_FLOAT64 : WEFT_FLOAT32;
        enum { A = 2, B = 3, C = 40 };
        double x[A * B * C], y[B], pos[A * B * C];
        fill(dt, x, A * B * C, -4, 4);
        fill(dt, pos, A * B * C, 0.05, 4);
        fill(dt, y, B, -3, 3);
        weft_store_f64(dt, x, 5, NAN); /* NaN goes through every op as the ONNX op sends it */
        weft_store_f64(dt, x, 6, 0);
        weft_store_f64(dt, x, 7, -0.0);
        weft_store_f64(dt, x, 8, 40); /* sigmoid / softplus / exp far out */
        weft_store_f64(dt, x, 9, -40);
        for (size_t u = 0; u < sizeof un / sizeof un[0]; u++) {
            weft_tensor xt = wt_tensor(dt, un[u].op == WEFT_FUSED_LOG || un[u].op == WEFT_FUSED_SQRT ? pos : x, 3, D3(A, B, C));
            const int64_t prog[] = {un[u].op, 1, 0, 0};
            const float alpha[] = {un[u].alpha};
            weft_tensor got[1], want[1];
            CU_ASSERT_EQUAL_FATAL(fe_run(prog, 4, NULL, 0, alpha, &xt, 1, got), WEFT_OK);
            weft_attr oa[] = {un[u].sattr ? wt_attr_string(un[u].sattr, un[u].sval) : wt_attr_float("alpha", un[u].alpha)};
            bool has_attr = un[u].sattr || un[u].op == WEFT_FUSED_LEAKY_RELU || un[u].op == WEFT_FUSED_ELU;
            onnx(un[u].onnx, un[u].opset, oa, has_attr ? 1 : 0, &xt, 1, want);
            if (!same_bits(got, want, un[u].onnx)) fprintf(stderr, "  (dtype %s)\n", weft_dtype_name(dt));
            CU_ASSERT(same_bits(got, want, un[u].onnx));
            wt_free_outputs(got, 1);
            wt_free_outputs(want, 1);
        }
        /* binary ops with y [3, 1] broadcast against x [2, 3, 40]; Pow on a positive base */
        for (size_t b = 0; b < sizeof bin / sizeof bin[0]; b++) {
            weft_tensor in[] = {wt_tensor(dt, bin[b].op == WEFT_FUSED_POW ? pos : x, 3, D3(A, B, C)), wt_tensor(dt, y, 2, D2(B, 1))};
            const int64_t prog[] = {bin[b].op, 2, 0, 1};
            weft_tensor got[1], want[1];
            CU_ASSERT_EQUAL_FATAL(fe_run(prog, 4, NULL, 0, NULL, in, 2, got), WEFT_OK);
            onnx(bin[b].onnx, bin[b].opset, NULL, 0, in, 2, want);
            if (!same_bits(got, want, bin[b].onnx)) fprintf(stderr, "  (dtype %s)\n", weft_dtype_name(dt));
            CU_ASSERT(same_bits(got, want, bin[b].onnx));
            wt_free_outputs(got, 1);
            wt_free_outputs(want, 1);
            /* operands swapped: y op x */
            const int64_t prog2[] = {bin[b].op, 2, 1, 0};
            weft_tensor sw[] = {in[1], in[0]};
            CU_ASSERT_EQUAL_FATAL(fe_run(prog2, 4, NULL, 0, NULL, in, 2, got), WEFT_OK);
            onnx(bin[b].onnx, bin[b].opset, NULL, 0, sw, 2, want);
            CU_ASSERT(same_bits(got, want, bin[b].onnx));
            wt_free_outputs(got, 1);
            wt_free_outputs(want, 1);
        }
    }
}

static void test_fused_elementwise_invalid(void)
{
    float x[4] = {1, 2, 3, 4}, y[3] = {0};
    double xd[4] = {0};
    int32_t xi[4] = {0};
    weft_tensor in[] = {wt_tensor(WEFT_FLOAT32, x, 1, D1(4)), wt_tensor(WEFT_FLOAT32, x, 1, D1(4))};
    weft_tensor out[1];
    struct { const int64_t *p; int n; const char *msg; } bad[] = {
        {(const int64_t[]){WEFT_FUSED_ADD, 2, 0}, 3, "4 ints"},                                   /* not whole instructions */
        {(const int64_t[]){7, 2, 0, 1}, 4, "unknown opcode 7"},                                    /* a gap in the numbering */
        {(const int64_t[]){26, 2, 0, 1}, 4, "unknown opcode 26"},
        {(const int64_t[]){WEFT_FUSED_ADD, 1, 0, 1}, 4, "dst = 1"},                                /* overwrites an input */
        {(const int64_t[]){WEFT_FUSED_ADD, 300, 0, 1}, 4, "dst = 300"},                            /* past the registers */
        {(const int64_t[]){WEFT_FUSED_ADD, 2, 0, 1, WEFT_FUSED_MUL, 3, 2, 5}, 8, "instruction 1: operand b reads register 5"},
        {(const int64_t[]){WEFT_FUSED_EXP, 2, 3, 0, WEFT_FUSED_ADD, 3, 2, 2}, 8, "instruction 0: operand a reads register 3"},
        {(const int64_t[]){WEFT_FUSED_ADD, 2, 0, -3}, 4, "constant 2"},                            /* 2 constants given */
    };
    const float two[] = {1, 2};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CU_ASSERT_EQUAL(fe_run(bad[i].p, bad[i].n, two, 2, NULL, in, 2, out), WEFT_ERR_INVALID_MODEL);
        CU_ASSERT(msg_has(bad[i].msg));
    }
    /* no program; alphas of the wrong count; gelu's alpha neither 0 nor 1; empty program */
    CU_ASSERT_EQUAL(runw("FusedElementwise", NULL, 0, in, 2, out, 1), WEFT_ERR_INVALID_MODEL);
    const int64_t ok[] = {WEFT_FUSED_ADD, 2, 0, 1}, gelu[] = {WEFT_FUSED_GELU, 2, 0, 0};
    weft_attr a2[] = {wt_attr_ints("program", 4, ok), wt_attr_floats("alphas", 2, two)};
    CU_ASSERT_EQUAL(runw("FusedElementwise", a2, 2, in, 2, out, 1), WEFT_ERR_INVALID_MODEL);
    CU_ASSERT(msg_has("alphas"));
    const float half[] = {0.5f};
    CU_ASSERT_EQUAL(fe_run(gelu, 4, NULL, 0, half, in, 2, out), WEFT_ERR_INVALID_MODEL);
    weft_attr empty[] = {wt_attr_ints("program", 0, ok)};
    CU_ASSERT_EQUAL(runw("FusedElementwise", empty, 1, in, 2, out, 1), WEFT_ERR_INVALID_MODEL);
    /* dtypes: mixed, integer; shapes that do not broadcast */
    in[1] = wt_tensor(WEFT_FLOAT64, xd, 1, D1(4));
    CU_ASSERT_EQUAL(fe_run(ok, 4, NULL, 0, NULL, in, 2, out), WEFT_ERR_TYPE);
    in[0] = wt_tensor(WEFT_INT32, xi, 1, D1(4));
    in[1] = wt_tensor(WEFT_INT32, xi, 1, D1(4));
    CU_ASSERT_EQUAL(fe_run(ok, 4, NULL, 0, NULL, in, 2, out), WEFT_ERR_UNSUPPORTED);
    in[0] = wt_tensor(WEFT_FLOAT32, x, 1, D1(4));
    in[1] = wt_tensor(WEFT_FLOAT32, y, 1, D1(3));
    CU_ASSERT_EQUAL(fe_run(ok, 4, NULL, 0, NULL, in, 2, out), WEFT_ERR_SHAPE);
}

/* --- inconsistent CSR tensors given by hand ------------------------------------------------------ */

static void test_inconsistent_csr(void)
{
    /* 4 edges, N = 3 */
    float src[4 * 2] = {1, 2, 3, 4, 5, 6, 7, 8}, x[3 * 2] = {0};
    const int64_t good_off[] = {0, 1, 3, 4}, good_perm[] = {2, 0, 3, 1}, good_col[] = {0, 2, 1, 1};
    struct { const int64_t *off, *perm; weft_status st; const char *msg; } cases[] = {
        {(const int64_t[]){1, 1, 3, 4}, good_perm, WEFT_ERR_INVALID_ARGUMENT, "offsets[0] = 1"},
        {(const int64_t[]){0, 3, 2, 4}, good_perm, WEFT_ERR_INVALID_ARGUMENT, "offsets[2] = 2 after offsets[1] = 3"},
        {(const int64_t[]){0, 1, 3, 3}, good_perm, WEFT_ERR_INVALID_ARGUMENT, "offsets[3] = 3, must equal the edge count 4"},
        {(const int64_t[]){0, 1, 3, 9}, good_perm, WEFT_ERR_INVALID_ARGUMENT, "offsets[3] = 9"},
        {good_off, (const int64_t[]){2, 0, 7, 1}, WEFT_ERR_INDEX, "perm[2] = 7"},
        {good_off, (const int64_t[]){2, 0, -1, 1}, WEFT_ERR_INDEX, "perm[2] = -1"},
        {good_off, (const int64_t[]){2, 0, 2, 1}, WEFT_ERR_INVALID_ARGUMENT, "perm[2] = 2 repeats"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        weft_tensor out[1];
        weft_tensor r_in[] = {wt_tensor(WEFT_FLOAT32, src, 2, D2(4, 2)), wt_tensor(WEFT_INT64, cases[i].off, 1, D1(4)),
                              wt_tensor(WEFT_INT64, cases[i].perm, 1, D1(4))};
        CU_ASSERT_EQUAL(runw("CsrReduce", NULL, 0, r_in, 3, out, 1), cases[i].st);
        CU_ASSERT(msg_has(cases[i].msg));
        weft_tensor s_in[] = {wt_tensor(WEFT_FLOAT32, src, 1, D1(4)), r_in[1], r_in[2]};
        CU_ASSERT_EQUAL(runw("CsrEdgeSoftmax", NULL, 0, s_in, 3, out, 1), cases[i].st);
        CU_ASSERT(msg_has(cases[i].msg));
        weft_tensor g_in[] = {wt_tensor(WEFT_FLOAT32, x, 2, D2(3, 2)), r_in[1], wt_tensor(WEFT_INT64, good_col, 1, D1(4)), r_in[2],
                              wt_tensor(WEFT_FLOAT32, src, 1, D1(4))};
        CU_ASSERT_EQUAL(runw("CsrGatherReduce", NULL, 0, g_in, 5, out, 1), cases[i].st);
        CU_ASSERT(msg_has(cases[i].msg));
    }
    weft_tensor out[1];
    /* col outside x's rows */
    const int64_t bad_col[] = {0, 9, 1, 1}, neg_col[] = {0, 1, -1, 1};
    weft_tensor g_in[] = {wt_tensor(WEFT_FLOAT32, x, 2, D2(3, 2)), wt_tensor(WEFT_INT64, good_off, 1, D1(4)),
                          wt_tensor(WEFT_INT64, bad_col, 1, D1(4))};
    CU_ASSERT_EQUAL(runw("CsrGatherReduce", NULL, 0, g_in, 3, out, 1), WEFT_ERR_INDEX);
    CU_ASSERT(msg_has("col[1] = 9"));
    g_in[2] = wt_tensor(WEFT_INT64, neg_col, 1, D1(4));
    CU_ASSERT_EQUAL(runw("CsrGatherReduce", NULL, 0, g_in, 3, out, 1), WEFT_ERR_INDEX);
    CU_ASSERT(msg_has("col[2] = -1"));
    /* offsets that end at E = 4 but col has 3 entries */
    g_in[2] = wt_tensor(WEFT_INT64, good_col, 1, D1(3));
    CU_ASSERT_EQUAL(runw("CsrGatherReduce", NULL, 0, g_in, 3, out, 1), WEFT_ERR_INVALID_ARGUMENT);
    /* shapes infer sees: perm shorter than src, empty offsets, int32 offsets */
    weft_tensor r_in[] = {wt_tensor(WEFT_FLOAT32, src, 2, D2(4, 2)), wt_tensor(WEFT_INT64, good_off, 1, D1(4)),
                          wt_tensor(WEFT_INT64, good_perm, 1, D1(3))};
    CU_ASSERT_EQUAL(runw("CsrReduce", NULL, 0, r_in, 3, out, 1), WEFT_ERR_SHAPE);
    r_in[2] = wt_tensor(WEFT_INT64, good_perm, 1, D1(4));
    r_in[1] = wt_tensor(WEFT_INT64, good_off, 1, D1(0));
    CU_ASSERT_EQUAL(runw("CsrReduce", NULL, 0, r_in, 3, out, 1), WEFT_ERR_SHAPE);
    const int32_t off32[] = {0, 1, 3, 4};
    r_in[1] = wt_tensor(WEFT_INT32, off32, 1, D1(4));
    CU_ASSERT_EQUAL(runw("CsrReduce", NULL, 0, r_in, 3, out, 1), WEFT_ERR_TYPE);
    /* a good index still works: segments {e2}, {e0, e3}, {e1}: sums (5,6), (1+7, 2+8), (3,4) */
    r_in[1] = wt_tensor(WEFT_INT64, good_off, 1, D1(4));
    CU_ASSERT_EQUAL_FATAL(runw("CsrReduce", NULL, 0, r_in, 3, out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(out[0].data, (const float[]){5, 6, 8, 10, 3, 4}, 6, 0, 0));
    wt_free_outputs(out, 1);
}

/* --- symbolic inference -------------------------------------------------------------------------- */

static int32_t next_sym(void *u) { return (*(int32_t *)u)++; }
/* Symbols 0..9 are the test's own; fresh ones start at 100. */
enum { S_E = 0, S_N = 1, S_B = 2, S_M = 3, S_P = 4, S_O = 5 };
static weft_dim sym(int32_t s) { weft_dim d = {0, s}; return d; }
static weft_dim num(int64_t v) { return weft_dim_num(v); }

static weft_status infer_n(const char *op, const weft_attr *at, int n_at, int n_in, const weft_dtype *dt, const weft_shape *sh,
                           const void *const *data, int n_out, weft_dtype *out_dt, weft_shape *out_sh)
{
    const weft_op_def *def = weft_op_find(W, op, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(def);
    weft_node_info info = {op, op, W, 1, n_at, at};
    int32_t next = 100;
    memset(out_sh, 0, sizeof *out_sh * (size_t)n_out);
    weft_infer_ctx c = {&info, n_in, dt, sh, data, n_out, out_dt, out_sh, next_sym, &next};
    return def->infer(&c);
}

static void test_symbolic(void)
{
    weft_dtype odt[3];
    weft_shape osh[3];
    const void *nodata[6] = {NULL};

    /* CSR: index [E], num_segments unknown -> offsets [fresh], perm [E], col [E] */
    weft_dtype cdt[4] = {WEFT_INT64, WEFT_INT64, WEFT_INT64, WEFT_INT64};
    weft_shape csh[4] = {{1, {sym(S_E)}}, {0, {{0}}}, {1, {sym(S_E)}}, {0, {{0}}}};
    CU_ASSERT_EQUAL_FATAL(infer_n("CSR", NULL, 0, 4, cdt, csh, nodata, 3, odt, osh), WEFT_OK);
    CU_ASSERT(osh[0].rank == 1 && osh[0].d[0].sym >= 100 && odt[0] == WEFT_INT64);
    CU_ASSERT(osh[1].rank == 1 && osh[1].d[0].sym == S_E && osh[2].d[0].sym == S_E && odt[2] == WEFT_INT64);
    /* ... a constant num_segments gives N + 1 */
    int64_t seven = 7;
    const void *cdata[4] = {NULL, &seven, NULL, NULL};
    CU_ASSERT_EQUAL_FATAL(infer_n("CSR", NULL, 0, 2, cdt, csh, cdata, 2, odt, osh), WEFT_OK);
    CU_ASSERT(weft_dim_known(osh[0].d[0]) && osh[0].d[0].v == 8);
    /* ... num_segments of known length 2 is refused */
    csh[1].rank = 1;
    csh[1].d[0] = num(2);
    CU_ASSERT_EQUAL(infer_n("CSR", NULL, 0, 2, cdt, csh, nodata, 2, odt, osh), WEFT_ERR_SHAPE);
    /* ... CSR reads num_segments and num_src on the host, the readers nothing */
    CU_ASSERT_EQUAL(weft_op_find(W, "CSR", 1)->host_inputs, (1u << 1) | (1u << 3));
    CU_ASSERT_EQUAL(weft_op_find(W, "CsrReduce", 1)->host_inputs, 0u);

    /* CsrReduce: src [E, 3], offsets [O] -> [fresh, 3]; offsets [11] -> [10, 3]; init [N, 3] -> [N, 3] */
    weft_dtype rdt[4] = {WEFT_FLOAT32, WEFT_INT64, WEFT_INT64, WEFT_FLOAT32};
    weft_shape rsh[4] = {{2, {sym(S_E), num(3)}}, {1, {sym(S_O)}}, {1, {sym(S_E)}}, {2, {sym(S_N), num(3)}}};
    CU_ASSERT_EQUAL_FATAL(infer_n("CsrReduce", NULL, 0, 3, rdt, rsh, nodata, 1, odt, osh), WEFT_OK);
    CU_ASSERT(osh[0].rank == 2 && osh[0].d[0].sym >= 100 && osh[0].d[1].v == 3 && weft_dim_known(osh[0].d[1]));
    rsh[1].d[0] = num(11);
    CU_ASSERT_EQUAL_FATAL(infer_n("CsrReduce", NULL, 0, 3, rdt, rsh, nodata, 1, odt, osh), WEFT_OK);
    CU_ASSERT(weft_dim_known(osh[0].d[0]) && osh[0].d[0].v == 10);
    CU_ASSERT_EQUAL_FATAL(infer_n("CsrReduce", NULL, 0, 4, rdt, rsh, nodata, 1, odt, osh), WEFT_OK);
    CU_ASSERT(osh[0].d[0].sym == S_N && osh[0].d[1].v == 3);
    /* ... init with a known row count that is not N */
    rsh[3].d[0] = num(9);
    CU_ASSERT_EQUAL(infer_n("CsrReduce", NULL, 0, 4, rdt, rsh, nodata, 1, odt, osh), WEFT_ERR_SHAPE);

    /* CsrGatherReduce: x [M, 2, 8], offsets [O], col [E] -> [fresh, 2, 8] */
    weft_dtype gdt[5] = {WEFT_FLOAT32, WEFT_INT64, WEFT_INT64, WEFT_INT64, WEFT_FLOAT32};
    weft_shape gsh[5] = {{3, {sym(S_M), num(2), num(8)}}, {1, {sym(S_O)}}, {1, {sym(S_E)}}, {1, {sym(S_E)}}, {2, {sym(S_E), num(2)}}};
    CU_ASSERT_EQUAL_FATAL(infer_n("CsrGatherReduce", NULL, 0, 5, gdt, gsh, nodata, 1, odt, osh), WEFT_OK);
    CU_ASSERT(osh[0].rank == 3 && osh[0].d[0].sym >= 100 && osh[0].d[1].v == 2 && osh[0].d[2].v == 8);
    gsh[4].d[1] = num(3); /* 3 heads, x has 2 */
    CU_ASSERT_EQUAL(infer_n("CsrGatherReduce", NULL, 0, 5, gdt, gsh, nodata, 1, odt, osh), WEFT_ERR_SHAPE);

    /* CsrEdgeSoftmax: scores [E, 4] -> [E, 4] */
    weft_shape esh[3] = {{2, {sym(S_E), num(4)}}, {1, {sym(S_O)}}, {1, {sym(S_E)}}};
    CU_ASSERT_EQUAL_FATAL(infer_n("CsrEdgeSoftmax", NULL, 0, 3, rdt, esh, nodata, 1, odt, osh), WEFT_OK);
    CU_ASSERT(osh[0].rank == 2 && osh[0].d[0].sym == S_E && osh[0].d[1].v == 4);

    /* LinkScore: a [N, 16], b [M, 16], ia [P], ib [P] -> [P] */
    weft_dtype ldt[4] = {WEFT_FLOAT32, WEFT_FLOAT32, WEFT_INT64, WEFT_INT32};
    weft_shape lsh[4] = {{2, {sym(S_N), num(16)}}, {2, {sym(S_M), num(16)}}, {1, {sym(S_P)}}, {1, {sym(S_P)}}};
    CU_ASSERT_EQUAL_FATAL(infer_n("LinkScore", NULL, 0, 4, ldt, lsh, nodata, 1, odt, osh), WEFT_OK);
    CU_ASSERT(osh[0].rank == 1 && osh[0].d[0].sym == S_P && odt[0] == WEFT_FLOAT32);
    lsh[1].d[1] = num(8);
    CU_ASSERT_EQUAL(infer_n("LinkScore", NULL, 0, 4, ldt, lsh, nodata, 1, odt, osh), WEFT_ERR_SHAPE);

    /* FusedMatMul: X_0 [B, 5], W_0 [5, 7], X_1 [B, 3], W_1 [3, 7] -> [B, 7]; W_0 [5, M] alone -> [B, M] */
    weft_dtype fdt[6] = {WEFT_FLOAT32, WEFT_FLOAT32, WEFT_FLOAT32, WEFT_FLOAT32, WEFT_FLOAT32, WEFT_FLOAT32};
    weft_shape fsh[6] = {{2, {sym(S_B), num(5)}}, {2, {num(5), num(7)}}, {2, {sym(S_B), num(3)}}, {2, {num(3), num(7)}},
                         {1, {num(7)}}, {2, {sym(S_B), num(7)}}};
    weft_attr t2[] = {wt_attr_int("terms", 2)}, t1[] = {wt_attr_int("terms", 1)};
    CU_ASSERT_EQUAL_FATAL(infer_n("FusedMatMul", t2, 1, 6, fdt, fsh, nodata, 1, odt, osh), WEFT_OK);
    CU_ASSERT(osh[0].rank == 2 && osh[0].d[0].sym == S_B && osh[0].d[1].v == 7 && weft_dim_known(osh[0].d[1]));
    fsh[1].d[1] = sym(S_M);
    CU_ASSERT_EQUAL_FATAL(infer_n("FusedMatMul", t1, 1, 2, fdt, fsh, nodata, 1, odt, osh), WEFT_OK);
    CU_ASSERT(osh[0].d[0].sym == S_B && osh[0].d[1].sym == S_M);
    /* ... the number from W_1 wins over W_0's symbol; X_1's known rows fill X_0's symbol */
    fsh[2].d[0] = num(4);
    CU_ASSERT_EQUAL_FATAL(infer_n("FusedMatMul", t2, 1, 4, fdt, fsh, nodata, 1, odt, osh), WEFT_OK);
    CU_ASSERT(weft_dim_known(osh[0].d[0]) && osh[0].d[0].v == 4 && weft_dim_known(osh[0].d[1]) && osh[0].d[1].v == 7);
    /* ... X_0 of unknown rank: unknown rank */
    fsh[0].rank = -1;
    CU_ASSERT_EQUAL_FATAL(infer_n("FusedMatMul", t1, 1, 2, fdt, fsh, nodata, 1, odt, osh), WEFT_OK);
    CU_ASSERT(osh[0].rank == -1);

    /* L2Normalize keeps the shape */
    weft_shape nsh[1] = {{2, {sym(S_N), num(16)}}};
    CU_ASSERT_EQUAL_FATAL(infer_n("L2Normalize", NULL, 0, 1, fdt, nsh, nodata, 1, odt, osh), WEFT_OK);
    CU_ASSERT(osh[0].rank == 2 && osh[0].d[0].sym == S_N && osh[0].d[1].v == 16);

    /* FusedElementwise: [N, 1] with [4] -> [N, 4]; [N, 4] with [B, 4] -> [fresh, 4] */
    const int64_t prog[] = {WEFT_FUSED_ADD, 2, 0, 1};
    weft_attr pa[] = {wt_attr_ints("program", 4, prog)};
    weft_shape esh2[2] = {{2, {sym(S_N), num(1)}}, {1, {num(4)}}};
    CU_ASSERT_EQUAL_FATAL(infer_n("FusedElementwise", pa, 1, 2, fdt, esh2, nodata, 1, odt, osh), WEFT_OK);
    CU_ASSERT(osh[0].rank == 2 && osh[0].d[0].sym == S_N && osh[0].d[1].v == 4);
    weft_shape esh3[2] = {{2, {sym(S_N), num(4)}}, {2, {sym(S_B), num(4)}}};
    CU_ASSERT_EQUAL_FATAL(infer_n("FusedElementwise", pa, 1, 2, fdt, esh3, nodata, 1, odt, osh), WEFT_OK);
    CU_ASSERT(osh[0].rank == 2 && osh[0].d[0].sym >= 100 && osh[0].d[1].v == 4);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("ops_fused", NULL, NULL);
    CU_add_test(s, "CSR by hand", test_csr_hand);
    CU_add_test(s, "CSR random (stable, complete)", test_csr_random);
    CU_add_test(s, "CSR index errors", test_csr_errors);
    CU_add_test(s, "CsrReduce == SegmentReduce", test_csr_reduce_equals_segment);
    CU_add_test(s, "CsrReduce init form", test_csr_reduce_init);
    CU_add_test(s, "CsrGatherReduce == SegmentReduce(RowGather)", test_csr_gather_reduce);
    CU_add_test(s, "CsrEdgeSoftmax == EdgeSoftmax", test_csr_edge_softmax);
    CU_add_test(s, "LinkScore", test_link_score);
    CU_add_test(s, "FusedMatMul vs naive loops", test_fused_matmul_naive);
    CU_add_test(s, "FusedMatMul vs ONNX ops", test_fused_matmul_vs_onnx);
    CU_add_test(s, "FusedMatMul errors", test_fused_matmul_errors);
    CU_add_test(s, "L2Normalize", test_l2_normalize);
    CU_add_test(s, "FusedElementwise chains", test_fused_elementwise_chains);
    CU_add_test(s, "FusedElementwise opcodes", test_fused_elementwise_opcodes);
    CU_add_test(s, "FusedElementwise invalid programs", test_fused_elementwise_invalid);
    CU_add_test(s, "inconsistent CSR tensors", test_inconsistent_csr);
    CU_add_test(s, "symbolic inference", test_symbolic);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int fails = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
