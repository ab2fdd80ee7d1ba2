/*
 * tests/unit/test_cpu_kernels.c — weft's own CPU kernels (ops/cpu/) against the reference kernels.
 *
 * Every case runs one op twice over: through the reference kernel (the op harness), and through the
 * table of ops/cpu/ (weft_cpu_find, prepare, run) with 1, 2, 3 and 8 threads and with the SIMD clones
 * both enabled and capped at baseline code. The CPU results must equal the reference's bit for bit
 * where the kernels promise it (index work, reductions in position order, arithmetic), or agree within
 * a stated relative tolerance (vectorised exp / tanh, lane sums); and they must equal each other bit
 * for bit whatever the thread count or instruction set. Failing inputs must fail with the reference's
 * status and message. Outputs are poisoned before each run, so an element left unwritten shows.
 *
 * Inputs are random (a fixed seed): graphs with empty segments, isolated nodes, duplicate edges,
 * E >> N, E = 0, N = 0, rows of 1 and 128 features.
 *
 * WEFT_CPU_BENCH=1 also times the graph kernels (CsrGatherReduce mean, CsrReduce, SegmentReduce,
 * RowGather, LinkScore, CSR) at N = 20000, E = 100000, F = 128 (WEFT_CPU_BENCH_N / _E / _F change
 * them) on 1 and 2 threads; the numbers are printed, never asserted.
 */
#include <CUnit/Basic.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/cpu/kern.h"
#include "ops/cpu/vmath.h"
#include "tests/unit/op_harness.h"

#define W "ai.weft"
#define MAXT 8

/* --- random inputs ------------------------------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int64_t rnd_int(int64_t n) { return n > 0 ? (int64_t)(rnd() % (uint64_t)n) : 0; }
static double rnd_unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

/* Tensors built here own their data (wt_alloc; free with tfree). */

static void tfree(weft_tensor *t)
{
    free(t->data);
    t->data = NULL;
}

/* Random floats in [lo, hi). */
static weft_tensor tfloat(weft_dtype t, int rank, const int64_t *dims, double lo, double hi)
{
    weft_tensor x = wt_alloc(t, rank, dims);
    int64_t n = (int64_t)(x.nbytes / weft_dtype_size(t));
    for (int64_t i = 0; i < n; i++) weft_store_f64(t, x.data, i, lo + (hi - lo) * rnd_unit());
    return x;
}

/* Random integers in [lo, hi), of type t (int32 / int64). */
static weft_tensor tint(weft_dtype t, int64_t n, int64_t lo, int64_t hi)
{
    weft_tensor x = wt_alloc(t, 1, (int64_t[]){n});
    for (int64_t i = 0; i < n; i++) weft_store_i64(t, x.data, i, lo + rnd_int(hi - lo));
    return x;
}

/* A skewed edge list: a quarter of the edges go to segment 0, the rest uniformly (in [0, n)). */
static weft_tensor tskew(weft_dtype t, int64_t E, int64_t n)
{
    weft_tensor x = wt_alloc(t, 1, (int64_t[]){E});
    for (int64_t i = 0; i < E; i++) weft_store_i64(t, x.data, i, (rnd() & 3) == 0 ? 0 : rnd_int(n));
    return x;
}

static weft_tensor tscalar_i64(int64_t v)
{
    weft_tensor x = wt_alloc(WEFT_INT64, 0, NULL);
    *(int64_t *)x.data = v;
    return x;
}

/* --- running an op through the CPU table --------------------------------------------------------- */

/* One step set up for the CPU table: the op's inference done, the entry found and prepared, outputs
 * allocated (and poisoned: an element the kernel forgets shows). */
typedef struct {
    weft_node_info info;
    const weft_cpu_op *e;
    void *prep;
    weft_tview iv[16], ov[16];
    wt_scratch sc;
    weft_kernel_ctx kc;
} cpu_step;

/* *taken is false when no entry takes the step (WEFT_ERR_UNSUPPORTED); an op that fails inference
 * counts as taken (its status is the op's, as with the reference). On success the step owns outputs
 * out[0..nout) (wt_tensor views of its buffers). */
static weft_status cpu_open(cpu_step *c, const char *dom, const char *op, int opset, const weft_attr *at, int nat,
                            const weft_tensor *in, int nin, weft_tensor *out, int nout, int threads, bool *taken)
{
    *taken = false;
    memset(c, 0, sizeof *c);
    for (int i = 0; i < nout; i++) memset(&out[i], 0, sizeof out[i]);
    const weft_op_def *def = weft_op_find(dom, op, opset);
    if (!def) return weft_error(WEFT_ERR_UNSUPPORTED, "%s is not registered", op);
    c->info = (weft_node_info){op, op, dom, opset, nat, at};
    weft_dtype idt[16], odt[16] = {0};
    weft_shape ish[16], osh[16];
    const void *idata[16], *cdata[16] = {0};
    memset(osh, 0, sizeof osh);
    for (int i = 0; i < nin; i++) {
        idt[i] = in[i].dtype;
        ish[i] = wt_shape(in[i].rank, in[i].dims);
        idata[i] = in[i].data;
    }
    int sym = 0;
    weft_infer_ctx ic = {&c->info, nin, idt, ish, idata, nout, odt, osh, wt_next_sym, &sym};
    weft_status st = def->infer(&ic);
    if (st) {
        *taken = true;
        return st;
    }
    weft_step_desc d = {def, &c->info, nin, nout, idt, ish, cdata, odt, osh};
    if (!(c->e = weft_cpu_find(&d))) return weft_error(WEFT_ERR_UNSUPPORTED, "no CPU kernel takes %s", op);
    *taken = true;
    if (c->e->prepare && (st = c->e->prepare(&d, &c->prep))) return st;
    for (int i = 0; i < nin; i++) c->iv[i] = wt_view(&in[i]);
    for (int i = 0; i < nout; i++) {
        weft_tview *v = &c->ov[i];
        v->dtype = odt[i];
        v->rank = osh[i].rank;
        v->numel = 1;
        for (int j = 0; j < v->rank; j++) { v->dims[j] = osh[i].d[j].v; v->numel *= v->dims[j]; }
        size_t nb = (size_t)v->numel * weft_dtype_size(odt[i]);
        v->data = malloc(nb ? nb : 1);
        memset(v->data, 0xA5, nb);
        out[i].dtype = odt[i];
        out[i].rank = v->rank;
        memcpy(out[i].dims, v->dims, sizeof v->dims);
        out[i].data = v->data;
        out[i].nbytes = nb;
    }
    c->kc = (weft_kernel_ctx){&c->info, nin, c->iv, nout, c->ov, wt_get_scratch, &c->sc, threads};
    return WEFT_OK;
}

/* Releases what cpu_open made but the outputs. */
static void cpu_close(cpu_step *c)
{
    free(c->sc.buf);
    if (c->e && c->e->release) c->e->release(c->prep);
}

/* Runs op through weft_cpu_find / prepare / run with `threads` threads. Outputs as wt_run_op's. */
static weft_status cpu_run(const char *dom, const char *op, int opset, const weft_attr *at, int nat,
                           const weft_tensor *in, int nin, weft_tensor *out, int nout, int threads, bool *taken)
{
    cpu_step c;
    weft_status st = cpu_open(&c, dom, op, opset, at, nat, in, nin, out, nout, threads, taken);
    if (!st) st = c.e->run(c.prep, &c.kc);
    cpu_close(&c);
    if (st) wt_free_outputs(out, nout);
    return st;
}

/* --- comparing ----------------------------------------------------------------------------------- */

/* Exact: every bit equal. Otherwise |got - want| <= rtol * (|want| + scale), with scale a fraction of
 * the output's largest magnitude (results near 0 after cancellation differ by absolute amounts). */
typedef struct {
    bool exact;
    double rtol, atol_frac;
} cmp_mode;

static const cmp_mode EXACT = {true, 0, 0};

static cmp_mode tol(double rtol, double atol_frac) { return (cmp_mode){false, rtol, atol_frac}; }

static int same_shape(const weft_tensor *a, const weft_tensor *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

static int compare(const weft_tensor *got, const weft_tensor *want, cmp_mode m, const char *what)
{
    if (!same_shape(got, want)) {
        fprintf(stderr, "\n  %s: shape or dtype differs\n", what);
        return 0;
    }
    size_t es = weft_dtype_size(want->dtype);
    int64_t n = es ? (int64_t)(want->nbytes / es) : 0;
    if (m.exact || !weft_dtype_is_float(want->dtype)) {
        for (int64_t i = 0; i < n; i++)
            if (memcmp((const char *)got->data + i * es, (const char *)want->data + i * es, es)) {
                fprintf(stderr, "\n  %s: element %lld differs: got %.17g, want %.17g\n", what, (long long)i,
                        weft_load_f64(got->dtype, got->data, i), weft_load_f64(want->dtype, want->data, i));
                return 0;
            }
        return 1;
    }
    double big = 0;
    for (int64_t i = 0; i < n; i++) {
        double w = fabs(weft_load_f64(want->dtype, want->data, i));
        if (isfinite(w) && w > big) big = w;
    }
    for (int64_t i = 0; i < n; i++) {
        double g = weft_load_f64(got->dtype, got->data, i), w = weft_load_f64(want->dtype, want->data, i);
        if (isnan(g) && isnan(w)) continue;
        if (g == w) continue;
        if (!(fabs(g - w) <= m.rtol * (fabs(w) + m.atol_frac * big))) {
            fprintf(stderr, "\n  %s: element %lld: got %.17g, want %.17g\n", what, (long long)i, g, w);
            return 0;
        }
    }
    return 1;
}

/*
 * Runs the op through the reference and through the CPU table (threads 1, 2, 3, 8; clones on and
 * capped at baseline code; with 3 and 8 threads the grain is 1, so that even tiny inputs are split
 * into that many parts, most of them empty) and checks: the table takes it; same status, and same message on failure;
 * outputs equal to the reference's (mode m), and equal to each other bit for bit. Returns 1 when all
 * holds.
 */
static int check(const char *label, const char *dom, const char *op, int opset, const weft_attr *at, int nat,
                 const weft_tensor *in, int nin, int nout, cmp_mode m)
{
    weft_tensor ref[4], first[4], got[4];
    char ref_msg[1024];
    weft_status rs = wt_run_op_domain(dom, op, opset, at, nat, in, nin, ref, nout);
    snprintf(ref_msg, sizeof ref_msg, "%s", rs ? weft_last_error() : "");
    int ok = 1, have_first = 0;
    static const int threads[] = {1, 2, 3, MAXT};
    for (int isa = 0; isa < 2 && ok; isa++) {
        weft_cpu_set_isa_limit(isa ? WEFT_ISA_BASE : -1);
        for (int ti = 0; ti < 4 && ok; ti++) {
            bool taken;
            char what[256];
            snprintf(what, sizeof what, "%s [%s, %d threads, %s]", label, op, threads[ti],
                     isa ? "baseline" : "best isa");
            weft_cpu_set_grain(threads[ti] > 2 ? 1 : 0);
            weft_status cs = cpu_run(dom, op, opset, at, nat, in, nin, got, nout, threads[ti], &taken);
            weft_cpu_set_grain(0);
            if (!taken) {
                fprintf(stderr, "\n  %s: no CPU kernel takes it\n", what);
                ok = 0;
                break;
            }
            if (cs != rs) {
                fprintf(stderr, "\n  %s: status %s, the reference %s (%s)\n", what, weft_status_name(cs),
                        weft_status_name(rs), rs ? ref_msg : weft_last_error());
                ok = 0;
            } else if (rs) {
                if (strcmp(weft_last_error(), ref_msg) != 0) {
                    fprintf(stderr, "\n  %s: message\n    '%s', the reference\n    '%s'\n", what, weft_last_error(),
                            ref_msg);
                    ok = 0;
                }
            } else {
                for (int o = 0; o < nout && ok; o++) {
                    if (!got[o].data || got[o].dtype == WEFT_UNDEFINED) continue;
                    ok = compare(&got[o], &ref[o], m, what);
                    if (ok && have_first) ok = compare(&got[o], &first[o], EXACT, what);
                }
                if (!have_first) {
                    memcpy(first, got, sizeof first);
                    have_first = 1;
                    continue; /* keep these outputs */
                }
                wt_free_outputs(got, nout);
            }
        }
    }
    weft_cpu_set_isa_limit(-1);
    if (have_first) wt_free_outputs(first, nout);
    if (!rs) wt_free_outputs(ref, nout);
    return ok;
}

#define CHECK(label, dom, op, opset, at, nat, in, nin, nout, m)                                    \
    CU_ASSERT(check(label, dom, op, opset, at, nat, in, nin, nout, m))

static void free_all(weft_tensor *t, int n)
{
    for (int i = 0; i < n; i++) tfree(&t[i]);
}

/* --- graphs -------------------------------------------------------------------------------------- */

/* (N, E, F): nothing at all, no edges, one segment, few edges with many empty segments, E >> N (the
 * CSR builder's parallel path), N >> E, rows of 128 features, and the other widths the reductions keep
 * in registers (16, 32, 64). */
static const int64_t graphs[][3] = {
    {0, 0, 4},         {5, 0, 3},      {1, 7, 1},       {7, 100, 3},    {50, 70000, 1}, {20000, 500, 2},
    {600, 5000, 128}, {300, 40000, 5}, {100, 3000, 16}, {90, 3000, 32}, {80, 2000, 64},
};
#define N_GRAPHS ((int)(sizeof graphs / sizeof graphs[0]))

/* A CSR index of `index` (and `src`) made by the reference CSR op: offsets, perm, col. */
static weft_status ref_csr(const weft_tensor *index, int64_t N, const weft_tensor *src, int64_t M, weft_tensor *out)
{
    weft_tensor n = tscalar_i64(N), m = tscalar_i64(M);
    weft_tensor in[4] = {*index, n, src ? *src : wt_absent(), src ? m : wt_absent()};
    weft_status st = wt_run_op_domain(W, "CSR", 1, NULL, 0, in, src ? 4 : 2, out, src ? 3 : 2);
    tfree(&n);
    tfree(&m);
    return st;
}

static void test_csr(void)
{
    for (int g = 0; g < N_GRAPHS; g++) {
        int64_t N = graphs[g][0], E = graphs[g][1], M = N + 3;
        for (int wide = 0; wide < 2; wide++) {
            weft_dtype it = wide ? WEFT_INT64 : WEFT_INT32;
            weft_tensor idx = g % 2 ? tskew(it, E, N) : tint(it, E, 0, N), src = tint(it, E, -M, M);
            weft_tensor n = tscalar_i64(N), m = tscalar_i64(M);
            weft_tensor in[4] = {idx, n, src, m};
            char label[64];
            snprintf(label, sizeof label, "graph %d %s", g, wide ? "int64" : "int32");
            CHECK(label, W, "CSR", 1, NULL, 0, in, 2, 2, EXACT);
            CHECK(label, W, "CSR", 1, NULL, 0, in, 4, 3, EXACT);
            /* wrap = 1: negative segment indices count from the end */
            weft_tensor neg = tint(it, E, -N, N);
            weft_attr wrap = wt_attr_int("wrap", 1);
            in[0] = neg;
            CHECK(label, W, "CSR", 1, &wrap, 1, in, 4, 3, EXACT);
            in[0] = idx;
            tfree(&neg);
            free_all(in, 4);
        }
    }
}

static void test_csr_errors(void)
{
    const int64_t E = 70000, N = 100;
    weft_tensor idx = tint(WEFT_INT64, E, 0, N), src = tint(WEFT_INT32, E, 0, 10);
    weft_tensor n = tscalar_i64(N), m = tscalar_i64(10);
    weft_tensor in[4] = {idx, n, src, m};
    ((int64_t *)idx.data)[E - 5] = N;     /* past the end */
    ((int64_t *)idx.data)[E - 3] = -1;    /* negative without wrap */
    CHECK("index out of range", W, "CSR", 1, NULL, 0, in, 4, 3, EXACT);
    weft_attr wrap = wt_attr_int("wrap", 1), nowrap_src = wt_attr_int("src_wrap", 0);
    ((int64_t *)idx.data)[E - 5] = 0;
    CHECK("index -1 with wrap", W, "CSR", 1, &wrap, 1, in, 4, 3, EXACT);
    ((int32_t *)src.data)[40000] = -11;
    CHECK("src_index out of range", W, "CSR", 1, &wrap, 1, in, 4, 3, EXACT);
    ((int32_t *)src.data)[40000] = -3;
    CHECK("src_index -3 with src_wrap 1", W, "CSR", 1, &wrap, 1, in, 4, 3, EXACT);
    weft_attr both[2] = {wrap, nowrap_src};
    CHECK("src_index -3 with src_wrap 0", W, "CSR", 1, both, 2, in, 4, 3, EXACT);
    free_all(in, 4);
}

static const char *const reductions[] = {"sum", "mean", "max", "min", "mul"};

static void test_csr_reduce(void)
{
    for (int g = 0; g < N_GRAPHS; g++) {
        int64_t N = graphs[g][0], E = graphs[g][1], F = graphs[g][2];
        weft_dtype ft = g % 3 == 1 ? WEFT_FLOAT64 : WEFT_FLOAT32;
        weft_tensor idx = g % 2 ? tskew(WEFT_INT64, E, N) : tint(WEFT_INT32, E, 0, N), csr[3];
        CU_ASSERT_EQUAL_FATAL(ref_csr(&idx, N, NULL, 0, csr), WEFT_OK);
        weft_tensor src = tfloat(ft, 2, (int64_t[]){E, F}, -2, 2);
        if (E > 3) ((float *)src.data)[0] = NAN; /* NaN wins max and min, as in the reference */
        if (ft == WEFT_FLOAT64 && E > 3) ((double *)src.data)[0] = NAN;
        weft_tensor init = tfloat(ft, 2, (int64_t[]){N, F + 2}, -1, 1);
        weft_tensor init_same = tfloat(ft, 2, (int64_t[]){N, F}, -1, 1);
        for (int r = 0; r < 5; r++) {
            weft_attr at = wt_attr_string("reduce", reductions[r]);
            char label[64];
            snprintf(label, sizeof label, "graph %d reduce %s", g, reductions[r]);
            weft_tensor in[4] = {src, csr[0], csr[1], init};
            CHECK(label, W, "CsrReduce", 1, &at, 1, in, 3, 1, EXACT);
            /* the same through the public op, which builds its CSR in scratch */
            weft_tensor n = tscalar_i64(N);
            weft_tensor sin[4] = {src, idx, n, init_same};
            CHECK(label, W, "SegmentReduce", 1, &at, 1, sin, 3, 1, EXACT);
            if (r != 1) { /* with init (CsrReduce: wider than src, ScatterElements' form) */
                CHECK(label, W, "CsrReduce", 1, &at, 1, in, 4, 1, EXACT);
                CHECK(label, W, "SegmentReduce", 1, &at, 1, sin, 4, 1, EXACT);
            }
            tfree(&n);
        }
        tfree(&src);
        tfree(&init);
        tfree(&init_same);
        /* rows of several dims: [E, 2, 3] */
        weft_tensor src3 = tfloat(ft, 3, (int64_t[]){E, 2, 3}, -5, 5);
        weft_attr at = wt_attr_string("reduce", "mean");
        weft_tensor in3[3] = {src3, csr[0], csr[1]};
        CHECK("rows [2, 3]", W, "CsrReduce", 1, &at, 1, in3, 3, 1, EXACT);
        tfree(&src3);
        tfree(&idx);
        wt_free_outputs(csr, 2);
    }
}

static void test_segment_reduce_wrap_and_errors(void)
{
    const int64_t N = 40, E = 50000, F = 3;
    weft_tensor src = tfloat(WEFT_FLOAT32, 2, (int64_t[]){E, F}, -1, 1);
    weft_tensor init = tfloat(WEFT_FLOAT32, 2, (int64_t[]){N, F}, 0, 1);
    weft_tensor idx = tint(WEFT_INT64, E, -N, N), n = tscalar_i64(N);
    weft_attr at = wt_attr_string("reduce", "max");
    weft_tensor in[4] = {src, idx, n, init};
    CHECK("negative indices with init", W, "SegmentReduce", 1, &at, 1, in, 4, 1, EXACT);
    CHECK("negative index without init", W, "SegmentReduce", 1, &at, 1, in, 3, 1, EXACT);
    ((int64_t *)idx.data)[E - 1] = N;
    CHECK("index N with init", W, "SegmentReduce", 1, &at, 1, in, 4, 1, EXACT);
    free_all(in, 4);

    /* CsrReduce on a broken index: the reference names the fault, the CPU kernel refuses the same way */
    weft_tensor s2 = tfloat(WEFT_FLOAT32, 2, (int64_t[]){4, 2}, -1, 1);
    int64_t off_ok[] = {0, 1, 4}, off_dec[] = {0, 3, 2, 4}, off_end[] = {0, 1, 3};
    int64_t perm_ok[] = {2, 0, 3, 1}, perm_dup[] = {2, 0, 2, 1}, perm_big[] = {2, 0, 4, 1};
    weft_tensor o_ok = wt_tensor(WEFT_INT64, off_ok, 1, (int64_t[]){3});
    weft_tensor o_dec = wt_tensor(WEFT_INT64, off_dec, 1, (int64_t[]){4});
    weft_tensor o_end = wt_tensor(WEFT_INT64, off_end, 1, (int64_t[]){3});
    weft_tensor p_ok = wt_tensor(WEFT_INT64, perm_ok, 1, (int64_t[]){4});
    weft_tensor p_dup = wt_tensor(WEFT_INT64, perm_dup, 1, (int64_t[]){4});
    weft_tensor p_big = wt_tensor(WEFT_INT64, perm_big, 1, (int64_t[]){4});
    weft_attr sum = wt_attr_string("reduce", "sum");
    CHECK("good index", W, "CsrReduce", 1, &sum, 1, ((weft_tensor[]){s2, o_ok, p_ok}), 3, 1, EXACT);
    CHECK("offsets decrease", W, "CsrReduce", 1, &sum, 1, ((weft_tensor[]){s2, o_dec, p_ok}), 3, 1, EXACT);
    CHECK("offsets end early", W, "CsrReduce", 1, &sum, 1, ((weft_tensor[]){s2, o_end, p_ok}), 3, 1, EXACT);
    CHECK("perm repeats", W, "CsrReduce", 1, &sum, 1, ((weft_tensor[]){s2, o_ok, p_dup}), 3, 1, EXACT);
    CHECK("perm out of range", W, "CsrReduce", 1, &sum, 1, ((weft_tensor[]){s2, o_ok, p_big}), 3, 1, EXACT);
    CHECK("edge softmax, perm repeats", W, "CsrEdgeSoftmax", 1, NULL, 0, ((weft_tensor[]){s2, o_ok, p_dup}), 3, 1,
          EXACT);
    tfree(&s2);
}

static void test_gather_reduce(void)
{
    static const char *const kinds[] = {"sum", "mean", "max", "min"};
    for (int g = 0; g < N_GRAPHS; g++) {
        int64_t N = graphs[g][0], E = graphs[g][1], F = graphs[g][2], M = 2 * N + 1, H = 2;
        weft_dtype ft = g % 3 == 2 ? WEFT_FLOAT64 : WEFT_FLOAT32;
        weft_tensor idx = g % 2 ? tskew(WEFT_INT64, E, N) : tint(WEFT_INT64, E, 0, N);
        weft_tensor src = tint(WEFT_INT32, E, -M, M), csr[3];
        CU_ASSERT_EQUAL_FATAL(ref_csr(&idx, N, &src, M, csr), WEFT_OK);
        weft_tensor x = tfloat(ft, 2, (int64_t[]){M, F}, -3, 3), xh = tfloat(ft, 3, (int64_t[]){M, H, F}, -3, 3);
        weft_tensor w1 = tfloat(ft, 1, (int64_t[]){E}, -1, 1), w11 = tfloat(ft, 2, (int64_t[]){E, 1}, 0, 1);
        weft_tensor wh = tfloat(ft, 2, (int64_t[]){E, H}, -1, 1), wh1 = tfloat(ft, 3, (int64_t[]){E, H, 1}, -1, 1);
        for (int r = 0; r < 4; r++) {
            weft_attr at = wt_attr_string("reduce", kinds[r]);
            char label[64];
            snprintf(label, sizeof label, "graph %d reduce %s", g, kinds[r]);
            CHECK(label, W, "CsrGatherReduce", 1, &at, 1, ((weft_tensor[]){x, csr[0], csr[2]}), 3, 1, EXACT);
            /* weights [E], [E, 1]; per head [E, H] and [E, H, 1] of an [M, H, F] x */
            const weft_tensor xs[4] = {x, x, xh, xh}, ws[4] = {w1, w11, wh, wh1};
            for (int v = 0; v < 4; v++) {
                weft_tensor in[5] = {xs[v], csr[0], csr[2], csr[1], ws[v]};
                CHECK(label, W, "CsrGatherReduce", 1, &at, 1, in, 5, 1, EXACT);
            }
        }
        if (E > 0) { /* a col value past x's rows */
            weft_tensor bad = wt_alloc(WEFT_INT64, 1, (int64_t[]){E});
            memcpy(bad.data, csr[2].data, (size_t)E * 8);
            ((int64_t *)bad.data)[E / 2] = M;
            weft_attr at = wt_attr_string("reduce", "sum");
            CHECK("col out of range", W, "CsrGatherReduce", 1, &at, 1, ((weft_tensor[]){x, csr[0], bad}), 3, 1, EXACT);
            tfree(&bad);
        }
        weft_tensor all[] = {idx, src, x, xh, w1, w11, wh, wh1};
        free_all(all, 8);
        wt_free_outputs(csr, 3);
    }
}

static void test_edge_softmax(void)
{
    for (int g = 0; g < N_GRAPHS; g++) {
        int64_t N = graphs[g][0], E = graphs[g][1], H = g % 2 ? 3 : 1;
        weft_dtype ft = g % 3 == 0 ? WEFT_FLOAT64 : WEFT_FLOAT32;
        weft_tensor idx = g % 2 ? tskew(WEFT_INT32, E, N) : tint(WEFT_INT64, E, 0, N), csr[3];
        CU_ASSERT_EQUAL_FATAL(ref_csr(&idx, N, NULL, 0, csr), WEFT_OK);
        weft_tensor sc = g % 2 ? tfloat(ft, 2, (int64_t[]){E, H}, -20, 20) : tfloat(ft, 1, (int64_t[]){E}, -20, 20);
        weft_tensor n = tscalar_i64(N);
        char label[64];
        snprintf(label, sizeof label, "graph %d", g);
        CHECK(label, W, "CsrEdgeSoftmax", 1, NULL, 0, ((weft_tensor[]){sc, csr[0], csr[1]}), 3, 1, EXACT);
        CHECK(label, W, "EdgeSoftmax", 1, NULL, 0, ((weft_tensor[]){sc, idx, n}), 3, 1, EXACT);
        if (E > 0) {
            weft_store_i64(idx.dtype, idx.data, E - 1, N);
            CHECK("index out of range", W, "EdgeSoftmax", 1, NULL, 0, ((weft_tensor[]){sc, idx, n}), 3, 1, EXACT);
        }
        weft_tensor all[] = {idx, sc, n};
        free_all(all, 3);
        wt_free_outputs(csr, 2);
    }
}

static void test_link_score(void)
{
    static const int64_t shapes[][4] = {{5, 7, 0, 4}, {5, 7, 13, 1}, {100, 60, 1000, 64}, {3000, 2000, 9000, 16}};
    for (int s = 0; s < 4; s++) {
        int64_t Na = shapes[s][0], Nb = shapes[s][1], P = shapes[s][2], F = shapes[s][3];
        weft_dtype ft = s % 2 ? WEFT_FLOAT64 : WEFT_FLOAT32;
        weft_tensor a = tfloat(ft, 2, (int64_t[]){Na, F}, -1, 1), b = tfloat(ft, 2, (int64_t[]){Nb, F}, -1, 1);
        weft_tensor ia = tint(WEFT_INT64, P, -Na, Na), ib = tint(WEFT_INT32, P, -Nb, Nb);
        weft_tensor in[4] = {a, b, ia, ib};
        char label[64];
        snprintf(label, sizeof label, "P %lld F %lld", (long long)P, (long long)F);
        CHECK(label, W, "LinkScore", 1, NULL, 0, in, 4, 1, EXACT);
        if (P > 0) {
            ((int32_t *)ib.data)[P - 1] = (int32_t)Nb;
            CHECK("ib out of range", W, "LinkScore", 1, NULL, 0, in, 4, 1, EXACT);
            ((int64_t *)ia.data)[0] = -Na - 1;
            CHECK("ia and ib out of range", W, "LinkScore", 1, NULL, 0, in, 4, 1, EXACT);
        }
        free_all(in, 4);
    }
}

static void test_row_gather(void)
{
    static const int64_t shapes[][3] = {{0, 0, 3},       {5, 0, 3},        {1, 9, 1},
                                        {200, 70000, 1}, {300, 2000, 128}, {50, 100, 7}};
    static const weft_dtype types[] = {WEFT_FLOAT32, WEFT_FLOAT64, WEFT_INT64, WEFT_FLOAT16};
    for (int s = 0; s < 6; s++) {
        int64_t N = shapes[s][0], E = shapes[s][1], F = shapes[s][2];
        weft_dtype dt = types[s % 4];
        weft_tensor data = tfloat(dt, 2, (int64_t[]){N, F}, -100, 100), data1 = tfloat(dt, 1, (int64_t[]){N}, -9, 9);
        weft_tensor idx = tint(s % 2 ? WEFT_INT32 : WEFT_INT64, E, 0, N), neg = tint(WEFT_INT64, E, -N, N);
        char label[64];
        snprintf(label, sizeof label, "N %lld E %lld F %lld", (long long)N, (long long)E, (long long)F);
        CHECK(label, W, "RowGather", 1, NULL, 0, ((weft_tensor[]){data, idx}), 2, 1, EXACT);
        CHECK(label, W, "RowGather", 1, NULL, 0, ((weft_tensor[]){data1, idx}), 2, 1, EXACT);
        CHECK(label, "", "Gather", 13, NULL, 0, ((weft_tensor[]){data, neg}), 2, 1, EXACT);
        weft_attr ax = wt_attr_int("axis", -2);
        CHECK(label, "", "Gather", 13, &ax, 1, ((weft_tensor[]){data, neg}), 2, 1, EXACT);
        if (E > 0) {
            CHECK("negative index", W, "RowGather", 1, NULL, 0, ((weft_tensor[]){data, neg}), 2, 1, EXACT);
            weft_store_i64(neg.dtype, neg.data, E / 2, N);
            CHECK("index N", "", "Gather", 13, NULL, 0, ((weft_tensor[]){data, neg}), 2, 1, EXACT);
            weft_store_i64(neg.dtype, neg.data, E / 2, -N - 1);
            CHECK("index -N-1", "", "Gather", 13, NULL, 0, ((weft_tensor[]){data, neg}), 2, 1, EXACT);
        }
        weft_tensor all[] = {data, data1, idx, neg};
        free_all(all, 4);
    }
    /* a 2-D index and a scalar index: along axis 0 the output is the indexed rows all the same */
    weft_tensor data = tfloat(WEFT_FLOAT32, 3, (int64_t[]){6, 2, 3}, -1, 1);
    weft_tensor i2 = wt_alloc(WEFT_INT64, 2, (int64_t[]){2, 3}), i0 = wt_alloc(WEFT_INT32, 0, NULL);
    for (int i = 0; i < 6; i++) ((int64_t *)i2.data)[i] = (i * 5) % 6 - 3;
    *(int32_t *)i0.data = -2;
    CHECK("2-D index", "", "Gather", 13, NULL, 0, ((weft_tensor[]){data, i2}), 2, 1, EXACT);
    CHECK("scalar index", "", "Gather", 13, NULL, 0, ((weft_tensor[]){data, i0}), 2, 1, EXACT);
    weft_tensor all[] = {data, i2, i0};
    free_all(all, 3);
}

/* --- dense row and elementwise ops --------------------------------------------------------------- */

static void test_softmax(void)
{
    static const int64_t shapes[][3] = {{1, 1, 1}, {3, 4, 7}, {2, 5, 1000}, {700, 1, 64}};
    for (int s = 0; s < 4; s++) {
        const int64_t *d = shapes[s];
        for (int t = 0; t < 2; t++) {
            weft_dtype ft = t ? WEFT_FLOAT64 : WEFT_FLOAT32;
            weft_tensor x = tfloat(ft, 3, d, -30, 30);
            /* log-softmax near 0 is log(s) - d with cancellation: an absolute slack of ~1e-3 x the range */
            cmp_mode m = tol(ft == WEFT_FLOAT32 ? 1e-6 : 1e-13, 1e-3);
            char label[64];
            snprintf(label, sizeof label, "[%lld, %lld, %lld]", (long long)d[0], (long long)d[1], (long long)d[2]);
            CHECK(label, "", "Softmax", 13, NULL, 0, &x, 1, 1, m);
            CHECK(label, "", "LogSoftmax", 13, NULL, 0, &x, 1, 1, m);
            weft_attr ax = wt_attr_int("axis", 1); /* opset 11: every axis from 1 on */
            CHECK(label, "", "Softmax", 11, &ax, 1, &x, 1, 1, m);
            CHECK(label, "", "LogSoftmax", 11, &ax, 1, &x, 1, 1, m);
            weft_attr ax2 = wt_attr_int("axis", 2);
            CHECK(label, "", "Softmax", 13, &ax2, 1, &x, 1, 1, m);
            tfree(&x);
        }
    }
    /* NaN, infinities and equal maxima */
    float v[] = {NAN, 1, 2, 3, -INFINITY, 0, 0, 0, INFINITY, 1, 2, 3, 1, 1, 1, 1};
    weft_tensor x = wt_tensor(WEFT_FLOAT32, v, 2, (int64_t[]){4, 4});
    CHECK("special values", "", "Softmax", 13, NULL, 0, &x, 1, 1, tol(1e-6, 0));
    CHECK("special values", "", "LogSoftmax", 13, NULL, 0, &x, 1, 1, tol(1e-6, 0));
}

static void test_layer_norm(void)
{
    static const int64_t shapes[][3] = {{1, 1, 1}, {2, 3, 5}, {40, 30, 128}, {1, 2, 3000}};
    for (int s = 0; s < 4; s++) {
        const int64_t *d = shapes[s];
        for (int t = 0; t < 2; t++) {
            weft_dtype ft = t ? WEFT_FLOAT64 : WEFT_FLOAT32;
            cmp_mode m = tol(ft == WEFT_FLOAT32 ? 1e-6 : 1e-12, 1e-3);
            weft_tensor x = tfloat(ft, 3, d, -4, 6), sc = tfloat(ft, 1, &d[2], 0.5, 2);
            weft_tensor bi = tfloat(ft, 1, &d[2], -1, 1);
            weft_tensor sc2 = tfloat(ft, 2, &d[1], 0.5, 2), one = tfloat(ft, 1, (int64_t[]){1}, 0.5, 2);
            char label[64];
            snprintf(label, sizeof label, "[%lld, %lld, %lld]", (long long)d[0], (long long)d[1], (long long)d[2]);
            weft_attr eps = wt_attr_float("epsilon", 1e-3f), axm2 = wt_attr_int("axis", -2);
            weft_attr st64 = wt_attr_int("stash_type", 11);
            CHECK(label, "", "LayerNormalization", 17, NULL, 0, ((weft_tensor[]){x, sc, bi}), 3, 3, m);
            CHECK(label, "", "LayerNormalization", 17, &eps, 1, ((weft_tensor[]){x, sc}), 2, 1, m);
            CHECK(label, "", "LayerNormalization", 17, &st64, 1, ((weft_tensor[]){x, one, one}), 3, 3, m);
            CHECK(label, "", "LayerNormalization", 17, &axm2, 1, ((weft_tensor[]){x, sc2, sc2}), 3, 2, m);
            CHECK(label, W, "L2Normalize", 1, NULL, 0, &x, 1, 1, m);
            weft_tensor all[] = {x, sc, bi, sc2, one};
            free_all(all, 5);
        }
    }
    /* rows of zeros: L2Normalize's eps clamp, LayerNorm's eps */
    weft_tensor z = wt_alloc(WEFT_FLOAT32, 2, (int64_t[]){3, 4}), one = tfloat(WEFT_FLOAT32, 1, (int64_t[]){4}, 1, 1);
    memset(z.data, 0, z.nbytes);
    CHECK("zeros", W, "L2Normalize", 1, NULL, 0, &z, 1, 1, EXACT);
    CHECK("zeros", "", "LayerNormalization", 17, NULL, 0, ((weft_tensor[]){z, one}), 2, 1, EXACT);
    tfree(&z);
    tfree(&one);
}

static void test_binary(void)
{
    /* same shape, row vector, scalar, column, both broadcast, and a general broadcast (reference) */
    static const int64_t shapes[][2][3] = {
        {{2, 3, 4}, {2, 3, 4}}, {{50, 30, 40}, {1, 1, 40}}, {{5, 7, 1000}, {1, 1, 1}}, {{40, 30, 64}, {40, 30, 1}},
        {{1, 1, 1}, {9, 8, 700}}, {{40, 1, 64}, {1, 30, 64}}, {{3, 1, 1}, {1, 1, 1}}, {{0, 3, 4}, {1, 3, 4}},
    };
    static const char *const ops[] = {"Add", "Sub", "Mul", "Div"};
    for (int s = 0; s < 8; s++) {
        weft_dtype ft = s % 2 ? WEFT_FLOAT64 : WEFT_FLOAT32;
        weft_tensor a = tfloat(ft, 3, shapes[s][0], -10, 10), b = tfloat(ft, 3, shapes[s][1], 0.5, 3);
        for (int o = 0; o < 4; o++) {
            char label[64];
            snprintf(label, sizeof label, "shapes %d", s);
            CHECK(label, "", ops[o], 14, NULL, 0, ((weft_tensor[]){a, b}), 2, 1, EXACT);
            CHECK(label, "", ops[o], 14, NULL, 0, ((weft_tensor[]){b, a}), 2, 1, EXACT);
        }
        /* rank 1 against rank 3 */
        weft_tensor r = tfloat(ft, 1, &shapes[s][0][2], -1, 1);
        CHECK("rank 1 row", "", "Mul", 14, NULL, 0, ((weft_tensor[]){a, r}), 2, 1, EXACT);
        weft_tensor all[] = {a, b, r};
        free_all(all, 3);
    }
}

static void test_unary(void)
{
    static const char *const ops[] = {"Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Exp"};
    for (int t = 0; t < 2; t++) {
        weft_dtype ft = t ? WEFT_FLOAT64 : WEFT_FLOAT32;
        weft_tensor x = tfloat(ft, 2, (int64_t[]){300, 257}, -12, 12);
        /* special values and the branch edges of the vectorised functions */
        static const double special[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1e-300, -1e-300, 1e-8, -1e-8, 0.3465,
                                         -0.3466, 0.35, -0.35, 20, -20, 88, -88, 100, -100, 709, 710, -745, -746,
                                         1e-40, -1e-40, 3.0e38, -3.0e38};
        for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
            weft_store_f64(ft, x.data, (int64_t)i, special[i]);
        for (int o = 0; o < 6; o++) {
            cmp_mode m = o < 2 ? EXACT : tol(ft == WEFT_FLOAT32 ? 1e-6 : 1e-14, 0);
            weft_attr al = wt_attr_float("alpha", 0.3f);
            CHECK(ft == WEFT_FLOAT32 ? "float32" : "float64", "", ops[o], 13, NULL, 0, &x, 1, 1, m);
            if (o == 1 || o == 2) CHECK("alpha 0.3", "", ops[o], 13, &al, 1, &x, 1, 1, m);
        }
        tfree(&x);
    }
}

/* weft_verf (vmath.h) against libm's erf: a dense grid over [-8, 8], a geometric sweep from the
 * subnormals up, the neighbourhood of the piece boundary (1.5) and of where erf reaches 1, and special
 * values. The largest relative error is printed; vmath.h quotes it. */
static double verf_rel(double x, double *worst, double *worst_at)
{
    double g = weft_verf(x), w = erf(x);
    double r = g == w ? 0 : fabs(g - w) / fabs(w);
    if (r > *worst) {
        *worst = r;
        *worst_at = x;
    }
    return r;
}

static void test_verf(void)
{
    double worst = 0, at = 0;
    for (int64_t i = -1600000; i <= 1600000; i++) verf_rel((double)i * 5e-6, &worst, &at);
    for (double x = 1e-300; x < 10; x *= 1.0001) {
        verf_rel(x, &worst, &at);
        verf_rel(-x, &worst, &at);
    }
    static const double centres[] = {1.5, 5.9, 5.921, 5.93, 6.0};
    for (int c = 0; c < 5; c++) {
        double x = centres[c];
        for (int k = 0; k < 2000; k++) x = nextafter(x, 0);
        for (int k = 0; k < 4000; k++, x = nextafter(x, 10)) {
            verf_rel(x, &worst, &at);
            verf_rel(-x, &worst, &at);
        }
        for (double d = -1e-3; d <= 1e-3; d += 1e-7) verf_rel(centres[c] + d, &worst, &at);
    }
    printf("\n  weft_verf: max relative error vs libm erf %.3g (at x = %.17g) ", worst, at);
    CU_ASSERT(worst < 1e-15);
    /* special values: NaN, +-inf, +-0 (signed), the ends of the double range */
    CU_ASSERT(isnan(weft_verf(NAN)) && isnan(weft_verf(-NAN)));
    CU_ASSERT(weft_verf(INFINITY) == 1.0 && weft_verf(-INFINITY) == -1.0);
    CU_ASSERT(weft_verf(0.0) == 0.0 && !signbit(weft_verf(0.0)));
    CU_ASSERT(weft_verf(-0.0) == 0.0 && signbit(weft_verf(-0.0)));
    CU_ASSERT(weft_verf(DBL_MAX) == 1.0 && weft_verf(-DBL_MAX) == -1.0);
    CU_ASSERT(weft_verf(6.0) == 1.0 && weft_verf(-30.0) == -1.0 && weft_verf(5.93) == erf(5.93));
    /* subnormals and the smallest normals: x 2/sqrt(pi) rounded once, within one unit of libm's */
    static const double tiny[] = {4.9406564584124654e-324, 1e-320, 2.2250738585072009e-308, 2.2250738585072014e-308,
                                  1e-310, 3e-315};
    for (int i = 0; i < 6; i++)
        for (int sg = 0; sg < 2; sg++) {
            double x = sg ? -tiny[i] : tiny[i], g = weft_verf(x), w = erf(x);
            CU_ASSERT(g == w || nextafter(g, w) == w);
            CU_ASSERT(signbit(g) == signbit(x) && g != 0);
        }
}

/* FusedElementwise's Erf and Gelu (vmath.h's erf) against the reference (libm): Erf alone over a dense
 * grid with special values (float64 within 1e-15 relative; float32 nearly always bit for bit), the
 * exact GELU chain as the exporters write it (Div by sqrt 2, Erf, Add 1, Mul x, Mul 0.5) and the Gelu
 * opcode in both forms. */
static void test_fused_erf_gelu(void)
{
    static const double special[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1e-310, -1e-310, 1e-40, -1e-40, 1.5,
                                     -1.5, 1.4999999999999998, 5.92, -5.92, 6, -6, 30, -30, 3.0e38, -3.0e38};
    const int64_t n = 200000;
    static const int64_t erf_prog[] = {23, 1, 0, 0};
    static const int64_t chain[] = {3, 1, 0, -1, 23, 2, 1, 0, 0, 3, 2, -2, 2, 4, 0, 3, 2, 5, 4, -3};
    static const float chain_c[] = {1.4142135381698608f, 1.0f, 0.5f};
    static const int64_t gelu[] = {25, 1, 0, 0};
    static const float exact_a[] = {0}, tanh_a[] = {1};
    for (int t = 0; t < 2; t++) {
        weft_dtype ft = t ? WEFT_FLOAT64 : WEFT_FLOAT32;
        const char *tn = t ? "float64" : "float32";
        weft_tensor x = wt_alloc(ft, 1, (int64_t[]){n});
        for (int64_t i = 0; i < n; i++) weft_store_f64(ft, x.data, i, -8.0 + 16.0 * (double)i / (double)n);
        for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
            weft_store_f64(ft, x.data, (int64_t)(i * 997), special[i]);
        cmp_mode m = tol(t ? 1e-15 : 1e-6, 0);
        weft_attr a1[] = {wt_attr_ints("program", 4, erf_prog)};
        CHECK(tn, W, "FusedElementwise", 1, a1, 1, &x, 1, 1, m);
        weft_attr a2[] = {wt_attr_ints("program", 20, chain), wt_attr_floats("constants", 3, chain_c)};
        /* 1 + erf(x) cancels for x << 0 (in the reference too): absolute slack relative to the largest */
        CHECK(tn, W, "FusedElementwise", 1, a2, 2, &x, 1, 1, tol(t ? 1e-14 : 1e-6, 1e-9));
        weft_attr a3[] = {wt_attr_ints("program", 4, gelu), wt_attr_floats("alphas", 1, exact_a)};
        CHECK(tn, W, "FusedElementwise", 1, a3, 2, &x, 1, 1, tol(t ? 1e-14 : 1e-6, 1e-9));
        weft_attr a4[] = {wt_attr_ints("program", 4, gelu), wt_attr_floats("alphas", 1, tanh_a)};
        CHECK(tn, W, "FusedElementwise", 1, a4, 2, &x, 1, 1, tol(t ? 1e-14 : 1e-6, 1e-9));
        if (!t) { /* float32: how often the bits differ from the reference's */
            weft_tensor ref[1], got[1];
            bool taken;
            int64_t diff = 0;
            CU_ASSERT_FATAL(wt_run_op_domain(W, "FusedElementwise", 1, a2, 2, &x, 1, ref, 1) == WEFT_OK);
            CU_ASSERT_FATAL(cpu_run(W, "FusedElementwise", 1, a2, 2, &x, 1, got, 1, 1, &taken) == WEFT_OK);
            for (int64_t i = 0; i < n; i++)
                diff += memcmp((float *)ref[0].data + i, (float *)got[0].data + i, sizeof(float)) != 0;
            printf("\n  GELU chain, float32: %lld of %lld elements differ from the reference's bits ", (long long)diff,
                   (long long)n);
            CU_ASSERT(diff <= n / 10000);
            wt_free_outputs(ref, 1);
            wt_free_outputs(got, 1);
        }
        tfree(&x);
    }
}

/* Pow by a constant 2 or 3 (products in double) and by another constant (libm), and the tanh form of
 * GELU as GPT-2 exports it (x * 0.5 * (1 + tanh(0.7978845 * (x + 0.044715 * x^3)))): against the
 * reference, float32 bit for bit nearly always. */
static void test_fused_pow(void)
{
    const int64_t n = 100000;
    static const int64_t gpt2[] = {2, 1, 0, -1, 6, 2, 0, -2, 2, 3, 2, -3, 0, 4, 0, 3, 2, 5, 4, -4,
                                   16, 6, 5, 5, 0, 7, 6, -5, 2, 8, 1, 7};
    static const float gpt2_c[] = {0.5f, 3.0f, 0.0447149985f, 0.797884583f, 1.0f};
    static const float exps[] = {2.0f, 3.0f, 2.5f};
    for (int t = 0; t < 2; t++) {
        weft_dtype ft = t ? WEFT_FLOAT64 : WEFT_FLOAT32;
        const char *tn = t ? "float64" : "float32";
        weft_tensor x = wt_alloc(ft, 1, (int64_t[]){n});
        for (int64_t i = 0; i < n; i++) weft_store_f64(ft, x.data, i, -9.0 + 18.0 * (double)i / (double)n);
        for (size_t e = 0; e < sizeof exps / sizeof exps[0]; e++) {
            static const int64_t pow_prog[] = {6, 1, 0, -1};
            weft_attr a[] = {wt_attr_ints("program", 4, pow_prog), wt_attr_floats("constants", 1, &exps[e])};
            CHECK(tn, W, "FusedElementwise", 1, a, 2, &x, 1, 1, tol(t ? 1e-15 : 1e-7, 0));
        }
        weft_attr a[] = {wt_attr_ints("program", 32, gpt2), wt_attr_floats("constants", 5, gpt2_c)};
        /* 1 + tanh(.) cancels for x << 0: an absolute slack of a tenth of the tolerance times the largest */
        CHECK(tn, W, "FusedElementwise", 1, a, 2, &x, 1, 1, tol(t ? 1e-14 : 1e-6, 0.1));
        if (!t) {
            weft_tensor ref[1], got[1];
            bool taken;
            int64_t diff = 0;
            CU_ASSERT_FATAL(wt_run_op_domain(W, "FusedElementwise", 1, a, 2, &x, 1, ref, 1) == WEFT_OK);
            CU_ASSERT_FATAL(cpu_run(W, "FusedElementwise", 1, a, 2, &x, 1, got, 1, 1, &taken) == WEFT_OK);
            CU_ASSERT(taken);
            for (int64_t i = 0; i < n; i++)
                diff += memcmp((float *)ref[0].data + i, (float *)got[0].data + i, sizeof(float)) != 0;
            printf("\n  tanh GELU chain, float32: %lld of %lld elements differ from the reference's bits ",
                   (long long)diff, (long long)n);
            CU_ASSERT(diff <= n / 1000);
            wt_free_outputs(ref, 1);
            wt_free_outputs(got, 1);
        }
        tfree(&x);
    }
}

/* The program (opcode, dst, a, b) over inputs of the given shapes. */
static void fused_case(const char *label, weft_dtype ft, int nin, const int64_t (*shapes)[3], const int64_t *prog,
                       int n_insns, const float *consts, int n_consts, const float *alphas, cmp_mode m)
{
    weft_tensor in[4];
    for (int i = 0; i < nin; i++) in[i] = tfloat(ft, 3, shapes[i], -3, 3);
    weft_attr at[3] = {wt_attr_ints("program", 4 * n_insns, prog)};
    int nat = 1;
    if (n_consts) at[nat++] = wt_attr_floats("constants", n_consts, consts);
    if (alphas) at[nat++] = wt_attr_floats("alphas", n_insns, alphas);
    CHECK(label, W, "FusedElementwise", 1, at, nat, in, nin, 1, m);
    free_all(in, nin);
}

static void test_fused(void)
{
    static const int64_t same[][3] = {{30, 20, 77}, {30, 20, 77}, {30, 20, 77}};
    static const int64_t bcast[][3] = {{30, 20, 77}, {1, 1, 77}, {30, 20, 1}};
    static const int64_t general[][3] = {{30, 1, 77}, {1, 20, 1}, {1, 1, 1}};
    static const int64_t tiny[][3] = {{1, 1, 3}, {1, 1, 1}, {1, 1, 3}};
    /* exact ops: r3 = x0 * x1; r4 = r3 + c0; r4 = max(r4, x2) (dst is an operand); r5 = relu(r4);
     * r6 = leaky(r5 - x0); r7 = abs(r6) / sqrt(|x1| + c1); r8 = -min(r7, reciprocal(x2)) */
    static const int64_t exact[] = {2, 3, 0, 1,  0, 4, 3, -1, 4, 4, 4, 2,  12, 5, 4, 0,  1, 6, 5, 0,  13, 6, 6, 0,
                                    11, 6, 6, 0, 11, 9, 1, 0,  0, 9, 9, -2, 19, 9, 9, 0,  3, 7, 6, 9,  20, 9, 2, 0,
                                    5, 8, 7, 9,  10, 8, 8, 0};
    static const float consts[] = {0.25f, 1.5f};
    const int n_exact = (int)(sizeof exact / sizeof exact[0]) / 4;
    /* transcendental: elu, sigmoid, tanh, exp (vectorised) and log, cos, sin, erf, softplus, gelu, pow */
    static const int64_t trans[] = {14, 3, 0, 0,   15, 4, 1, 0,   16, 5, 2, 0,    17, 6, 3, 0,    0, 6, 6, 4,
                                    2, 6, 6, 5,    11, 7, 0, 0,   18, 8, 7, 0,    21, 9, 8, 0,    22, 10, 9, 0,
                                    23, 11, 10, 0, 24, 12, 11, 0, 25, 13, 12, 0,  25, 14, 13, 0,  6, 15, 7, 1,
                                    0, 16, 15, 14, 0, 16, 16, 6};
    const int n_trans = (int)(sizeof trans / sizeof trans[0]) / 4;
    float alphas[32];
    for (int i = 0; i < n_trans; i++) alphas[i] = 0.7f;
    alphas[12] = 0; /* gelu exact */
    alphas[13] = 1; /* gelu tanh */
    for (int t = 0; t < 2; t++) {
        weft_dtype ft = t ? WEFT_FLOAT64 : WEFT_FLOAT32;
        cmp_mode m = tol(ft == WEFT_FLOAT32 ? 2e-6 : 1e-13, 1e-6);
        fused_case("exact, same shapes", ft, 3, same, exact, n_exact, consts, 2, NULL, EXACT);
        fused_case("exact, broadcast", ft, 3, bcast, exact, n_exact, consts, 2, NULL, EXACT);
        fused_case("exact, general broadcast", ft, 3, general, exact, n_exact, consts, 2, NULL, EXACT);
        fused_case("exact, tiny", ft, 3, tiny, exact, n_exact, consts, 2, NULL, EXACT);
        fused_case("transcendental", ft, 3, same, trans, n_trans, NULL, 0, alphas, m);
        fused_case("transcendental, broadcast", ft, 3, bcast, trans, n_trans, NULL, 0, alphas, m);
        fused_case("transcendental, default alphas", ft, 3, general, trans, n_trans - 4, NULL, 0, NULL, m);
    }
}

static void test_reduce(void)
{
    /* (shape, axes): column sums (B > 1: the reference's bits), row sums and everything (B = 1: blocks
     * of lanes), a run of middle axes, axes that are not adjacent and an empty reduction (the reference) */
    static const struct { int rank; int64_t dims[3]; int n_axes; int64_t axes[3]; bool exact; } cases[] = {
        {2, {300, 257}, 1, {0}, true},   {2, {300, 257}, 1, {1}, false}, {2, {300, 257}, 0, {0}, false},
        {3, {4, 50, 33}, 1, {1}, true},  {3, {4, 50, 33}, 2, {0, 1}, true}, {3, {4, 50, 33}, 2, {-1, 1}, false},
        {3, {4, 50, 33}, 2, {0, 2}, true}, {2, {3, 20000}, 1, {1}, false}, {3, {7, 1, 130}, 2, {0, 1}, true},
        {2, {0, 5}, 1, {0}, true},       {2, {5, 0}, 1, {0}, true},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int t = 0; t < 2; t++)
            for (int keep = 0; keep < 2; keep++) {
                weft_dtype ft = t ? WEFT_FLOAT64 : WEFT_FLOAT32;
                weft_tensor x = tfloat(ft, cases[c].rank, cases[c].dims, -3, 5);
                weft_attr at[2] = {wt_attr_int("keepdims", keep), wt_attr_ints("axes", cases[c].n_axes, cases[c].axes)};
                cmp_mode m = cases[c].exact ? EXACT : tol(ft == WEFT_FLOAT32 ? 1e-6 : 1e-12, 0);
                char label[64];
                snprintf(label, sizeof label, "case %zu, keepdims %d", c, keep);
                /* axes as an input (ReduceSum 13, ReduceMean 18) and as an attribute (ReduceMean 13) */
                weft_tensor ax = wt_alloc(WEFT_INT64, 1, (int64_t[]){cases[c].n_axes});
                if (cases[c].n_axes) memcpy(ax.data, cases[c].axes, ax.nbytes);
                CHECK(label, "", "ReduceSum", 13, at, 1, ((weft_tensor[]){x, ax}), cases[c].n_axes ? 2 : 1, 1, m);
                CHECK(label, "", "ReduceMean", 18, at, 1, ((weft_tensor[]){x, ax}), cases[c].n_axes ? 2 : 1, 1, m);
                CHECK(label, "", "ReduceMean", 13, at, cases[c].n_axes ? 2 : 1, &x, 1, 1, m);
                CHECK(label, "", "ReduceSumSquare", 18, at, 1, ((weft_tensor[]){x, ax}), cases[c].n_axes ? 2 : 1, 1, m);
                CHECK(label, "", "ReduceL2", 18, at, 1, ((weft_tensor[]){x, ax}), cases[c].n_axes ? 2 : 1, 1, m);
                CHECK(label, "", "ReduceL2", 13, at, cases[c].n_axes ? 2 : 1, &x, 1, 1, m);
                tfree(&ax);
                tfree(&x);
            }
    /* noop_with_empty_axes and a bad axis: the reference's result and message */
    weft_tensor x = tfloat(WEFT_FLOAT32, 2, (int64_t[]){6, 5}, -1, 1), none = wt_alloc(WEFT_INT64, 1, (int64_t[]){0});
    weft_tensor bad = wt_alloc(WEFT_INT64, 1, (int64_t[]){1});
    ((int64_t *)bad.data)[0] = 2;
    weft_attr noop = wt_attr_int("noop_with_empty_axes", 1);
    CHECK("noop", "", "ReduceSum", 13, &noop, 1, ((weft_tensor[]){x, none}), 2, 1, EXACT);
    CHECK("bad axis", "", "ReduceSum", 13, NULL, 0, ((weft_tensor[]){x, bad}), 2, 1, EXACT);
    weft_tensor all[] = {x, none, bad};
    free_all(all, 3);
}

static void test_expand(void)
{
    /* a scalar, a row, a column, the same shape, a rank-raising row, and a general broadcast (reference) */
    static const struct { int rx; int64_t x[3]; int ry; int64_t y[3]; } cases[] = {
        {1, {1}, 2, {300, 129}}, {1, {129}, 2, {300, 129}}, {2, {300, 1}, 2, {300, 129}}, {2, {30, 7}, 2, {30, 7}},
        {2, {4, 5}, 3, {3, 4, 5}}, {3, {2, 1, 5}, 3, {2, 3, 5}}, {2, {0, 1}, 2, {0, 4}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int t = 0; t < 2; t++) {
            weft_dtype ft = t ? WEFT_FLOAT64 : WEFT_FLOAT32;
            weft_tensor x = tfloat(ft, cases[c].rx, cases[c].x, -3, 3);
            weft_tensor sh = wt_alloc(WEFT_INT64, 1, (int64_t[]){cases[c].ry});
            memcpy(sh.data, cases[c].y, sh.nbytes);
            char label[32];
            snprintf(label, sizeof label, "case %zu", c);
            CHECK(label, "", "Expand", 13, NULL, 0, ((weft_tensor[]){x, sh}), 2, 1, EXACT);
            tfree(&sh);
            tfree(&x);
        }
}

static void test_select(void)
{
    static const char *const cmps[] = {"Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Equal"};
    for (int t = 0; t < 2; t++) {
        weft_dtype ft = t ? WEFT_FLOAT64 : WEFT_FLOAT32;
        weft_tensor x = tfloat(ft, 2, (int64_t[]){300, 129}, -2, 2), y = tfloat(ft, 2, (int64_t[]){300, 129}, -2, 2);
        weft_tensor z = tfloat(ft, 0, NULL, 0, 0), row = tfloat(ft, 1, (int64_t[]){129}, -1, 1);
        static const double special[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1, -1};
        for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
            weft_store_f64(ft, x.data, (int64_t)i, special[i]);
            weft_store_f64(ft, y.data, (int64_t)i, special[(i + 3) % 7]);
        }
        weft_store_f64(ft, x.data, 10, 0.0); /* equal to the scalar */
        for (int o = 0; o < 5; o++) {
            CHECK("x op y", "", cmps[o], 13, NULL, 0, ((weft_tensor[]){x, y}), 2, 1, EXACT);
            CHECK("x op 0", "", cmps[o], 13, NULL, 0, ((weft_tensor[]){x, z}), 2, 1, EXACT);
            CHECK("0 op x", "", cmps[o], 13, NULL, 0, ((weft_tensor[]){z, x}), 2, 1, EXACT);
            CHECK("x op row (reference)", "", cmps[o], 13, NULL, 0, ((weft_tensor[]){x, row}), 2, 1, EXACT);
        }
        weft_tensor c = wt_alloc(WEFT_BOOL, 2, (int64_t[]){300, 129}), c1 = wt_alloc(WEFT_BOOL, 0, NULL);
        for (int64_t i = 0; i < 300 * 129; i++) ((uint8_t *)c.data)[i] = (uint8_t)rnd_int(2);
        ((uint8_t *)c1.data)[0] = 1;
        CHECK("Where(c, x, 0)", "", "Where", 16, NULL, 0, ((weft_tensor[]){c, x, z}), 3, 1, EXACT);
        CHECK("Where(c, x, y)", "", "Where", 16, NULL, 0, ((weft_tensor[]){c, x, y}), 3, 1, EXACT);
        CHECK("Where(c, 0, y)", "", "Where", 16, NULL, 0, ((weft_tensor[]){c, z, y}), 3, 1, EXACT);
        CHECK("Where(1, x, y)", "", "Where", 16, NULL, 0, ((weft_tensor[]){c1, x, y}), 3, 1, EXACT);
        CHECK("Where(c, row, y) (reference)", "", "Where", 16, NULL, 0, ((weft_tensor[]){c, row, y}), 3, 1, EXACT);
        weft_tensor all[] = {x, y, z, row, c, c1};
        free_all(all, 6);
    }
}

/* --- what the table leaves to the reference ------------------------------------------------------ */

static void test_refusals(void)
{
    /* float16 math, integer math, Gather on another axis: no entry (the reference takes them) */
    weft_tensor h = tfloat(WEFT_FLOAT16, 2, (int64_t[]){4, 3}, -1, 1), i = tint(WEFT_INT64, 12, 0, 5);
    i.rank = 2, i.dims[0] = 4, i.dims[1] = 3;
    weft_tensor out[1];
    bool taken;
    CU_ASSERT_EQUAL(cpu_run("", "Relu", 13, NULL, 0, &h, 1, out, 1, 2, &taken), WEFT_ERR_UNSUPPORTED);
    CU_ASSERT(!taken);
    CU_ASSERT_EQUAL(cpu_run("", "Add", 14, NULL, 0, ((weft_tensor[]){i, i}), 2, out, 1, 2, &taken),
                    WEFT_ERR_UNSUPPORTED);
    CU_ASSERT(!taken);
    weft_tensor f = tfloat(WEFT_FLOAT32, 2, (int64_t[]){4, 3}, -1, 1), idx = tint(WEFT_INT64, 2, 0, 3);
    weft_attr ax = wt_attr_int("axis", 1);
    CU_ASSERT_EQUAL(cpu_run("", "Gather", 13, &ax, 1, ((weft_tensor[]){f, idx}), 2, out, 1, 2, &taken),
                    WEFT_ERR_UNSUPPORTED);
    CU_ASSERT(!taken);
    weft_tensor n = tscalar_i64(3), idx3 = tint(WEFT_INT64, 4, 0, 3);
    weft_tensor hs[3] = {h, idx3, n};
    CU_ASSERT_EQUAL(cpu_run(W, "SegmentReduce", 1, NULL, 0, hs, 3, out, 1, 2, &taken), WEFT_ERR_UNSUPPORTED);
    CU_ASSERT(!taken);
    /* Softmax over a middle axis (opset 13): the table does not take it */
    weft_tensor x3 = tfloat(WEFT_FLOAT32, 3, (int64_t[]){2, 3, 4}, -1, 1);
    CU_ASSERT_EQUAL(cpu_run("", "Softmax", 13, &ax, 1, &x3, 1, out, 1, 2, &taken), WEFT_ERR_UNSUPPORTED);
    CU_ASSERT(!taken);
    weft_tensor all[] = {h, i, f, idx, n, idx3, x3};
    free_all(all, 7);
}

/* --- measurement (not a test) -------------------------------------------------------------------- */

static double now_ms(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Times one op through the CPU table on 1 and 2 threads, with the best clone and with baseline code:
 * the best of `reps` runs in wall-clock ms and in the process's CPU ms (on a loaded machine the wall
 * clock also counts time spent descheduled). `bytes`: what one run reads and writes, for GB/s. */
static void bench_op(const char *label, const char *dom, const char *op, const weft_attr *at, int nat,
                     const weft_tensor *in, int nin, int nout, double bytes, int reps)
{
    printf("%s\n", label);
    for (int isa = -1; isa <= 0; isa++)
        for (int t = 1; t <= 2; t++) {
            cpu_step c;
            weft_tensor out[3];
            bool taken;
            if (cpu_open(&c, dom, op, dom[0] ? 1 : 17, at, nat, in, nin, out, nout, t, &taken)) {
                printf("  %s\n", weft_last_error());
                return;
            }
            weft_cpu_set_isa_limit(isa);
            double wall = 1e30, cpu = 1e30;
            for (int r = 0; r < reps; r++) {
                double t0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
                c.e->run(c.prep, &c.kc);
                double w = now_ms(CLOCK_MONOTONIC) - t0, u = now_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
                if (w < wall) wall = w;
                if (u < cpu) cpu = u;
            }
            weft_cpu_set_isa_limit(-1);
            printf("  %d thread%s, %-8s: %8.3f ms wall (%5.2f GB/s), %8.3f ms CPU over all threads\n", t,
                   t > 1 ? "s" : " ", isa < 0 ? "best isa" : "baseline", wall, bytes / wall / 1e6, cpu);
            cpu_close(&c);
            wt_free_outputs(out, nout);
        }
}

/* A size from the environment (positive), else `def`. */
static int64_t bench_size(const char *name, int64_t def)
{
    const char *v = getenv(name);
    long long n = v ? atoll(v) : 0;
    return n > 0 ? n : def;
}

static void bench(void)
{
    const int64_t N = bench_size("WEFT_CPU_BENCH_N", 20000), E = bench_size("WEFT_CPU_BENCH_E", 100000);
    const int64_t F = bench_size("WEFT_CPU_BENCH_F", 128);
    weft_tensor idx = tint(WEFT_INT64, E, 0, N), src = tint(WEFT_INT64, E, 0, N), csr[3];
    if (ref_csr(&idx, N, &src, N, csr)) {
        fprintf(stderr, "CSR: %s\n", weft_last_error());
        return;
    }
    weft_tensor x = tfloat(WEFT_FLOAT32, 2, (int64_t[]){N, F}, -1, 1);
    weft_tensor m = tfloat(WEFT_FLOAT32, 2, (int64_t[]){E, F}, -1, 1);
    weft_tensor n = tscalar_i64(N);
    weft_attr mean = wt_attr_string("reduce", "mean"), sum = wt_attr_string("reduce", "sum");
    printf("\nN = %lld nodes, E = %lld edges, F = %lld float32 features; best of 20 runs; this CPU's best clone: %s\n",
           (long long)N, (long long)E, (long long)F,
           weft_cpu_isa() == WEFT_ISA_AVX512 ? "avx512" : weft_cpu_isa() ? "avx2" : "baseline");
    /* bytes moved: each edge's gathered row and index entry, the offsets, the output rows */
    double rows = (double)E * F * 4, outb = (double)N * F * 4;
    bench_op("CsrGatherReduce mean", W, "CsrGatherReduce", &mean, 1, ((weft_tensor[]){x, csr[0], csr[2]}), 3, 1,
             rows + E * 8.0 + (N + 1) * 8.0 + outb, 20);
    bench_op("CsrReduce sum (rows of an [E, F] tensor through perm)", W, "CsrReduce", &sum, 1,
             ((weft_tensor[]){m, csr[0], csr[1]}), 3, 1, rows + E * 8.0 + (N + 1) * 8.0 + outb, 20);
    bench_op("SegmentReduce sum (CSR built in scratch, then reduced)", W, "SegmentReduce", &sum, 1,
             ((weft_tensor[]){m, idx, n}), 3, 1, rows + E * 8.0 + outb, 20);
    bench_op("RowGather [E, F] from [N, F]", W, "RowGather", NULL, 0, ((weft_tensor[]){x, src}), 2, 1,
             2 * rows + E * 8.0, 20);
    bench_op("LinkScore, E pairs", W, "LinkScore", NULL, 0, ((weft_tensor[]){x, x, idx, src}), 4, 1,
             2 * rows + E * 20.0, 20);
    bench_op("CSR (offsets and perm)", W, "CSR", NULL, 0, ((weft_tensor[]){idx, n}), 2, 2, E * 24.0 + N * 16.0, 20);
    /* dense work on the [N, F] features: transcendental (vectorised exp) and plain arithmetic */
    bench_op("Tanh [N, F]", "", "Tanh", NULL, 0, &x, 1, 1, 2.0 * N * F * 4, 20);
    bench_op("Add [N, F] + [F]", "", "Add", NULL, 0, ((weft_tensor[]){x, wt_tensor(WEFT_FLOAT32, x.data, 1, &F)}), 2,
             1, 2.0 * N * F * 4, 20);
    bench_op("Softmax [N, F]", "", "Softmax", NULL, 0, &x, 1, 1, 2.0 * N * F * 4, 20);
    bench_op("LayerNormalization [N, F]", "", "LayerNormalization", NULL, 0,
             ((weft_tensor[]){x, wt_tensor(WEFT_FLOAT32, x.data, 1, &F)}), 2, 1, 2.0 * N * F * 4, 20);
    weft_tensor all[] = {idx, src, x, m, n};
    free_all(all, 5);
    wt_free_outputs(csr, 3);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("cpu_kernels", NULL, NULL);
    CU_add_test(s, "CSR", test_csr);
    CU_add_test(s, "CSR errors", test_csr_errors);
    CU_add_test(s, "CsrReduce and SegmentReduce", test_csr_reduce);
    CU_add_test(s, "SegmentReduce wrap, broken CSR indices", test_segment_reduce_wrap_and_errors);
    CU_add_test(s, "CsrGatherReduce", test_gather_reduce);
    CU_add_test(s, "CsrEdgeSoftmax and EdgeSoftmax", test_edge_softmax);
    CU_add_test(s, "LinkScore", test_link_score);
    CU_add_test(s, "RowGather and Gather", test_row_gather);
    CU_add_test(s, "Softmax and LogSoftmax", test_softmax);
    CU_add_test(s, "LayerNormalization and L2Normalize", test_layer_norm);
    CU_add_test(s, "Add, Sub, Mul, Div", test_binary);
    CU_add_test(s, "Relu, LeakyRelu, Elu, Sigmoid, Tanh, Exp", test_unary);
    CU_add_test(s, "FusedElementwise", test_fused);
    CU_add_test(s, "vectorised erf against libm", test_verf);
    CU_add_test(s, "FusedElementwise Erf and Gelu", test_fused_erf_gelu);
    CU_add_test(s, "FusedElementwise Pow and the tanh GELU", test_fused_pow);
    CU_add_test(s, "ReduceSum, ReduceMean, ReduceSumSquare, ReduceL2", test_reduce);
    CU_add_test(s, "comparisons and Where", test_select);
    CU_add_test(s, "Expand", test_expand);
    CU_add_test(s, "refusals", test_refusals);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int fails = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    const char *b = getenv("WEFT_CPU_BENCH");
    if (b && b[0] && strcmp(b, "0") != 0) bench();
    return fails ? 1 : 0;
}
