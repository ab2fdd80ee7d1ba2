/*
 * tests/unit/test_backends_dense.c — the `onednn` and `openblas` backends on dense steps (MatMul with a
 * 2-D B, Gemm, ai.weft FusedMatMul; onednn also MatMul with a batched B), driven the way the runtime
 * drives them: a step descriptor,
 * supports, prepare, reshape (sizes only, no data), run, release.
 *
 * Expected values come from the reference ops (ops/linalg.c through the op harness; ai.weft FusedMatMul
 * through its reference kernel when this build registers it) and, for FusedMatMul, always from naive
 * loops in double written here. Random shapes cover zero rows, K = 1, K = 0, odd sizes, leading dims,
 * every activation, normalize, acc, several terms, Gemm's transposes and every broadcast of C, constant
 * and non-constant weights, on 1 and 2 threads. A whole model (models/sage_mean_ts18) is compiled for
 * each backend and compared with `ref`. A backend this build lacks is reported and skipped.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/backend.h"
#include "tests/unit/op_harness.h"

#define MAX_IN 12

static const char *const backends[] = {"onednn", "openblas"};
#define N_BACKENDS 2

/* --- random data ------------------------------------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static double uniform(void) { return (double)(next_u32() & 0xffffff) / (double)0x1000000 * 2.0 - 1.0; }

/* A tensor of random values in [-1, 1) (malloc'd data; at least one byte). */
static weft_tensor rand_tensor(weft_dtype dt, int rank, const int64_t *dims)
{
    weft_tensor t = wt_alloc(dt, rank, dims);
    int64_t n = wt_numel(&t);
    for (int64_t i = 0; i < n; i++) weft_store_f64(dt, t.data, i, uniform());
    return t;
}

/* --- one step through a backend ---------------------------------------------------------------------- */

typedef struct step_case {
    const char *domain, *op;
    int opset;
    const weft_attr *attrs;
    int n_attrs;
    int n_in;
    weft_tensor in[MAX_IN];   /* dtype WEFT_UNDEFINED: absent */
    bool is_const[MAX_IN];    /* shown to the backend as a constant (its contents at lowering) */
    int out_rank;
    int64_t out_dims[WEFT_MAX_RANK];
} step_case;

/* The step descriptor of a case (d) and what it points into; the node is named after the op unless
 * make_desc is given a name. */
typedef struct step_desc {
    weft_node_info node;
    weft_dtype idt[MAX_IN], odt[1];
    weft_shape ish[MAX_IN], osh[1];
    const void *cdata[MAX_IN];
    weft_step_desc d;
} step_desc;

static void make_desc(const step_case *c, const char *name, step_desc *s)
{
    s->node = (weft_node_info){name ? name : c->op, c->op, c->domain, c->opset, c->n_attrs, c->attrs};
    for (int i = 0; i < c->n_in; i++) {
        s->idt[i] = c->in[i].dtype;
        s->ish[i] = wt_shape(c->in[i].rank, c->in[i].dims);
        s->cdata[i] = c->is_const[i] ? c->in[i].data : NULL;
    }
    s->odt[0] = c->in[0].dtype;
    s->osh[0] = wt_shape(c->out_rank, c->out_dims);
    s->d = (weft_step_desc){weft_op_find(c->domain, c->op, c->opset), &s->node, c->n_in, 1, s->idt, s->ish, s->cdata,
                            s->odt, s->osh};
}

static bool backend_supports(const weft_backend *be, const step_case *c)
{
    step_desc s;
    make_desc(c, NULL, &s);
    return be->supports(&s.d);
}

/* Runs the step on `be` with `threads` threads into out (numel elements of the input dtype), twice: the
 * second result must equal the first bit for bit. */
static weft_status drive(const weft_backend *be, const step_case *c, int threads, void *out)
{
    step_desc s;
    make_desc(c, NULL, &s);
    void *prep = NULL, *state = NULL;
    weft_status st = be->prepare ? be->prepare(&s.d, &prep) : WEFT_OK;
    if (st) return st;
    /* the descriptor lives only for prepare's call */
    memset(s.ish, 0xa5, sizeof s.ish);
    memset(s.osh, 0xa5, sizeof s.osh);
    weft_tview iv[MAX_IN], ov[1];
    for (int i = 0; i < c->n_in; i++) {
        iv[i] = wt_view(&c->in[i]);
        iv[i].data = NULL; /* reshape sees sizes only */
    }
    ov[0].dtype = c->in[0].dtype;
    ov[0].rank = c->out_rank;
    ov[0].numel = 1;
    for (int j = 0; j < c->out_rank; j++) { ov[0].dims[j] = c->out_dims[j]; ov[0].numel *= c->out_dims[j]; }
    ov[0].data = NULL;
    wt_scratch sc = {0};
    weft_kernel_ctx k = {&s.node, c->n_in, iv, 1, ov, wt_get_scratch, &sc, threads};
    if (be->reshape && (st = be->reshape(prep, &k, &state))) goto done;
    for (int i = 0; i < c->n_in; i++) iv[i].data = c->in[i].data;
    size_t bytes = (size_t)ov[0].numel * weft_dtype_size(ov[0].dtype);
    void *first = malloc(bytes ? bytes : 1);
    ov[0].data = first;
    memset(first, 0x7f, bytes); /* whatever was there must not matter */
    if ((st = be->run(prep, state, &k)) == WEFT_OK) {
        ov[0].data = out;
        memset(out, 0x3c, bytes);
        st = be->run(prep, state, &k);
        if (st == WEFT_OK && bytes && memcmp(first, out, bytes) != 0) {
            fprintf(stderr, "  %s %s: two runs on %d threads differ\n", be->name, c->op, threads);
            CU_FAIL("runs differ");
        }
    }
    free(first);
done:
    if (state && be->release_state) be->release_state(state);
    if (prep && be->release) be->release(prep);
    free(sc.buf);
    return st;
}

/* --- comparisons ------------------------------------------------------------------------------------- */

/* Every element within rtol of the expected value, plus rtol times the largest expected magnitude (a
 * reordered sum is off by a few ulps of its largest terms, not of its result). */
static int close_enough(weft_dtype dt, const void *got, const void *want, int64_t n, double rtol, const char *what)
{
    double maxabs = 0;
    for (int64_t i = 0; i < n; i++) maxabs = fmax(maxabs, fabs(weft_load_f64(dt, want, i)));
    for (int64_t i = 0; i < n; i++) {
        double g = weft_load_f64(dt, got, i), w = weft_load_f64(dt, want, i);
        if (!(fabs(g - w) <= rtol * fabs(w) + rtol * maxabs + 1e-30)) {
            fprintf(stderr, "  %s: element %lld is %.9g, expected %.9g (max |expected| %.3g)\n", what, (long long)i, g, w,
                    maxabs);
            return 0;
        }
    }
    return 1;
}

static double rtol_for(weft_dtype dt) { return dt == WEFT_FLOAT64 ? 1e-12 : 1e-5; }

/* Runs the case on every backend of this build that supports it, on 1 and 2 threads, and compares
 * with `want`. Returns how many backend runs were compared. */
static int check_backends(const step_case *c, const void *want, const char *label)
{
    int64_t n = 1;
    for (int j = 0; j < c->out_rank; j++) n *= c->out_dims[j];
    weft_dtype dt = c->in[0].dtype;
    size_t bytes = (size_t)n * weft_dtype_size(dt);
    void *got = malloc(bytes ? bytes : 1);
    int compared = 0;
    for (int b = 0; b < N_BACKENDS; b++) {
        const weft_backend *be = weft_backend_find(backends[b]);
        if (!be) continue;
        bool sup = backend_supports(be, c);
        /* what each backend must take: float32 always, float64 on openblas */
        if (dt == WEFT_FLOAT32 || strcmp(be->name, "openblas") == 0) {
            if (!sup) fprintf(stderr, "  %s does not take %s\n", be->name, label);
            CU_ASSERT(sup);
        } else {
            CU_ASSERT(!sup); /* oneDNN has no float64 matmul: left to ref */
        }
        if (!sup) continue;
        for (int threads = 1; threads <= 2; threads++) {
            weft_status st = drive(be, c, threads, got);
            if (st) fprintf(stderr, "  %s on %s (%d threads): %s\n", be->name, label, threads, weft_last_error());
            CU_ASSERT_EQUAL(st, WEFT_OK);
            if (st) continue;
            char what[256];
            snprintf(what, sizeof what, "%s, %s, %d threads", be->name, label, threads);
            CU_ASSERT(close_enough(dt, got, want, n, rtol_for(dt), what));
            compared++;
        }
    }
    free(got);
    return compared;
}

static void free_case(step_case *c)
{
    for (int i = 0; i < c->n_in; i++) free(c->in[i].data);
}

static weft_tensor absent(void)
{
    weft_tensor t = {0};
    return t;
}

static bool have_backends(void)
{
    bool any = false;
    for (int b = 0; b < N_BACKENDS; b++) {
        if (weft_backend_find(backends[b])) any = true;
        else printf("\n  (backend %s is not in this build: skipped) ", backends[b]);
    }
    return any;
}

/* --- MatMul -------------------------------------------------------------------------------------------- */

static void matmul_case(weft_dtype dt, int rank, const int64_t *adims, int64_t N, bool const_b)
{
    step_case c = {"", "MatMul", 13, NULL, 0, 2};
    int64_t K = adims[rank - 1];
    c.in[0] = rand_tensor(dt, rank, adims);
    c.in[1] = rand_tensor(dt, 2, (const int64_t[]){K, N});
    c.is_const[1] = const_b;
    c.out_rank = rank;
    memcpy(c.out_dims, adims, sizeof(int64_t) * (size_t)rank);
    c.out_dims[rank - 1] = N;
    weft_tensor ref[1];
    weft_status st = wt_run_op("MatMul", 13, NULL, 0, c.in, 2, ref, 1);
    CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
    char label[128];
    snprintf(label, sizeof label, "MatMul %s rank %d rows..%lld K %lld N %lld %s", weft_dtype_name(dt), rank,
             (long long)adims[rank - 2], (long long)K, (long long)N, const_b ? "const B" : "B input");
    CU_ASSERT(check_backends(&c, ref[0].data, label) > 0);
    wt_free_outputs(ref, 1);
    free_case(&c);
}

static void test_matmul(void)
{
    if (!have_backends()) return;
    static const struct { int rank; int64_t a[4]; int64_t n; } shapes[] = {
        {2, {0, 16}, 8},        /* zero rows */
        {2, {7, 1}, 5},         /* K = 1 */
        {2, {33, 17}, 29},
        {3, {2, 5, 13}, 7},     /* leading dims flattened */
        {4, {3, 2, 4, 9}, 130},
        {2, {130, 64}, 64},
        {2, {20, 0}, 6},        /* K = 0: zeros */
        {2, {5, 6}, 1},
        {2, {1, 300}, 3},
        {2, {1000, 32}, 16},    /* several row blocks */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int cb = 0; cb < 2; cb++) {
            matmul_case(WEFT_FLOAT32, shapes[i].rank, shapes[i].a, shapes[i].n, cb);
            if (i % 3 == 0) matmul_case(WEFT_FLOAT64, shapes[i].rank, shapes[i].a, shapes[i].n, cb);
        }
    /* random odd shapes */
    for (int r = 0; r < 12; r++) {
        int64_t a[3] = {1 + next_u32() % 3, next_u32() % 90, 1 + next_u32() % 70};
        int rank = r % 2 ? 3 : 2;
        const int64_t *dims = rank == 3 ? a : a + 1;
        matmul_case(r % 4 == 3 ? WEFT_FLOAT64 : WEFT_FLOAT32, rank, dims, 1 + next_u32() % 50, r % 3 != 0);
    }
}

/* --- MatMul with a batched B (onednn: ops/onednn/bmm.c) --------------------------------------------------- */

/* A [.., M, K] times B [.., K, N] with numpy broadcasting of the batch dims (ranks may differ), on onednn
 * against the reference op; openblas leaves it to ref. */
static void bmm_case(int ra, const int64_t *ab, int rb, const int64_t *bb, int64_t M, int64_t K, int64_t N)
{
    step_case c = {"", "MatMul", 13, NULL, 0, 2};
    int64_t ad[WEFT_MAX_RANK], bd[WEFT_MAX_RANK];
    for (int i = 0; i < ra - 2; i++) ad[i] = ab[i];
    for (int i = 0; i < rb - 2; i++) bd[i] = bb[i];
    ad[ra - 2] = M;
    ad[ra - 1] = K;
    bd[rb - 2] = K;
    bd[rb - 1] = N;
    c.in[0] = rand_tensor(WEFT_FLOAT32, ra, ad);
    c.in[1] = rand_tensor(WEFT_FLOAT32, rb, bd);
    weft_tensor ref[1];
    weft_status st = wt_run_op("MatMul", 13, NULL, 0, c.in, 2, ref, 1);
    CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
    c.out_rank = ref[0].rank;
    memcpy(c.out_dims, ref[0].dims, sizeof(int64_t) * (size_t)ref[0].rank);
    char label[160];
    int len = snprintf(label, sizeof label, "batched MatMul A[");
    for (int i = 0; i < ra; i++) len += snprintf(label + len, sizeof label - (size_t)len, "%s%lld", i ? "," : "", (long long)ad[i]);
    len += snprintf(label + len, sizeof label - (size_t)len, "] B[");
    for (int i = 0; i < rb; i++) len += snprintf(label + len, sizeof label - (size_t)len, "%s%lld", i ? "," : "", (long long)bd[i]);
    snprintf(label + len, sizeof label - (size_t)len, "]");
    const weft_backend *be = weft_backend_find("onednn");
    if (be) {
        CU_ASSERT(backend_supports(be, &c));
        int64_t n = wt_numel(&ref[0]);
        float *got = malloc((size_t)(n ? n : 1) * sizeof(float));
        for (int threads = 1; threads <= 2; threads++) {
            st = drive(be, &c, threads, got);
            if (st) fprintf(stderr, "  onednn %s (%d threads): %s\n", label, threads, weft_last_error());
            CU_ASSERT_EQUAL(st, WEFT_OK);
            if (!st) CU_ASSERT(close_enough(WEFT_FLOAT32, got, ref[0].data, n, 1e-5, label));
        }
        free(got);
    }
    be = weft_backend_find("openblas");
    if (be) CU_ASSERT(!backend_supports(be, &c));
    wt_free_outputs(ref, 1);
    free_case(&c);
}

static void test_batched_matmul(void)
{
    if (!have_backends()) return;
    setenv("WEFT_ONEDNN_STRICT", "1", 1); /* a declined shape is an error, not a silent fallback */
    /* attention's products: [B, H, S, D] x [B, H, D, S] and [B, H, S, S] x [B, H, S, D] */
    bmm_case(4, (const int64_t[]){2, 4}, 4, (const int64_t[]){2, 4}, 17, 16, 17);
    bmm_case(4, (const int64_t[]){2, 4}, 4, (const int64_t[]){2, 4}, 17, 17, 16);
    /* torch.bmm: [B*H, S, D] */
    bmm_case(3, (const int64_t[]){8}, 3, (const int64_t[]){8}, 9, 5, 11);
    /* broadcasting either way, ranks that differ, a 2-D A */
    bmm_case(4, (const int64_t[]){3, 1}, 4, (const int64_t[]){1, 5}, 6, 7, 8);
    bmm_case(3, (const int64_t[]){5}, 4, (const int64_t[]){2, 5}, 3, 4, 2);
    bmm_case(2, NULL, 3, (const int64_t[]){4}, 6, 3, 5);
    bmm_case(4, (const int64_t[]){2, 3}, 3, (const int64_t[]){1}, 1, 1, 1);
    for (int r = 0; r < 10; r++) {
        int64_t ab[2] = {1 + next_u32() % 3, 1 + next_u32() % 3}, bb[2] = {ab[0], ab[1]};
        if (r % 3 == 0) bb[0] = 1;
        if (r % 4 == 1) ab[1] = 1;
        bmm_case(4, ab, 4, bb, 1 + next_u32() % 40, 1 + next_u32() % 40, 1 + next_u32() % 40);
    }
    /* an empty batch: the reference kernel (nothing to compute) */
    const weft_backend *be = weft_backend_find("onednn");
    if (be) {
        step_case c = {"", "MatMul", 13, NULL, 0, 2};
        c.in[0] = rand_tensor(WEFT_FLOAT32, 3, (const int64_t[]){0, 3, 4});
        c.in[1] = rand_tensor(WEFT_FLOAT32, 3, (const int64_t[]){0, 4, 2});
        c.out_rank = 3;
        c.out_dims[0] = 0;
        c.out_dims[1] = 3;
        c.out_dims[2] = 2;
        float dummy[1];
        unsetenv("WEFT_ONEDNN_STRICT");
        CU_ASSERT_EQUAL(drive(be, &c, 1, dummy), WEFT_OK);
        free_case(&c);
    }
}

/* --- Gemm ------------------------------------------------------------------------------------------------ */

enum { C_NONE, C_SCALAR, C_ONE, C_ROW, C_ROW2, C_COL, C_FULL, C_KINDS };

static void gemm_case(weft_dtype dt, int64_t M, int64_t K, int64_t N, bool ta, bool tb, int ck, float alpha, float beta,
                      bool const_b, bool const_c)
{
    weft_attr at[4] = {wt_attr_int("transA", ta), wt_attr_int("transB", tb), wt_attr_float("alpha", alpha),
                       wt_attr_float("beta", beta)};
    step_case c = {"", "Gemm", 13, at, 4, ck == C_NONE ? 2 : 3};
    c.in[0] = ta ? rand_tensor(dt, 2, (const int64_t[]){K, M}) : rand_tensor(dt, 2, (const int64_t[]){M, K});
    c.in[1] = tb ? rand_tensor(dt, 2, (const int64_t[]){N, K}) : rand_tensor(dt, 2, (const int64_t[]){K, N});
    c.is_const[1] = const_b;
    switch (ck) {
    case C_SCALAR: c.in[2] = rand_tensor(dt, 0, NULL); break;
    case C_ONE: c.in[2] = rand_tensor(dt, 1, (const int64_t[]){1}); break;
    case C_ROW: c.in[2] = rand_tensor(dt, 1, (const int64_t[]){N}); break;
    case C_ROW2: c.in[2] = rand_tensor(dt, 2, (const int64_t[]){1, N}); break;
    case C_COL: c.in[2] = rand_tensor(dt, 2, (const int64_t[]){M, 1}); break;
    case C_FULL: c.in[2] = rand_tensor(dt, 2, (const int64_t[]){M, N}); break;
    default: break;
    }
    c.is_const[2] = ck != C_NONE && const_c;
    c.out_rank = 2;
    c.out_dims[0] = M;
    c.out_dims[1] = N;
    weft_tensor ref[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Gemm", 13, at, 4, c.in, c.n_in, ref, 1), WEFT_OK);
    char label[160];
    snprintf(label, sizeof label, "Gemm %s %lldx%lldx%lld tA %d tB %d C kind %d alpha %g beta %g", weft_dtype_name(dt),
             (long long)M, (long long)K, (long long)N, ta, tb, ck, alpha, beta);
    CU_ASSERT(check_backends(&c, ref[0].data, label) > 0);
    wt_free_outputs(ref, 1);
    free_case(&c);
}

static void test_gemm(void)
{
    if (!have_backends()) return;
    static const float ab[][2] = {{1, 1}, {0.5f, 2}, {1, 0.25f}, {-1.5f, 1}, {1, 0}};
    static const int64_t sizes[][3] = {{17, 9, 23}, {1, 1, 1}, {64, 32, 48}, {0, 5, 7}, {40, 0, 3}, {3, 130, 2}};
    int i = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int ck = 0; ck < C_KINDS; ck++, i++) {
                    const float *x = ab[i % 5];
                    gemm_case(WEFT_FLOAT32, sizes[s][0], sizes[s][1], sizes[s][2], ta, tb, ck, x[0], x[1], i % 2, i % 3 == 0);
                    if (i % 4 == 0)
                        gemm_case(WEFT_FLOAT64, sizes[s][0], sizes[s][1], sizes[s][2], ta, tb, ck, x[0], x[1], i % 2 == 0, true);
                }
}

/* --- FusedMatMul ------------------------------------------------------------------------------------------ */

static const char *const acts[] = {"", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "gelu", "gelu_tanh"};

static double act_ref(const char *a, double x, double alpha)
{
    if (!strcmp(a, "relu")) return x < 0 ? 0 : x;
    if (!strcmp(a, "leaky_relu")) return x < 0 ? alpha * x : x;
    if (!strcmp(a, "elu")) return x < 0 ? alpha * (exp(x) - 1) : x;
    if (!strcmp(a, "sigmoid")) return 1 / (1 + exp(-x));
    if (!strcmp(a, "tanh")) return tanh(x);
    if (!strcmp(a, "gelu")) return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    if (!strcmp(a, "gelu_tanh")) return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    return x;
}

/* Terms whose W fused_case stores transposed ([N, K], attribute transpose): bit t for term t. */
static unsigned fused_transposed;

/* out = act(acc + norm(sum_t X_t W_t + bias)), in double, written from the schema. */
static void fused_naive(const step_case *c, int terms, bool has_bias, bool has_acc, bool normalize, const char *act,
                        double alpha, void *out)
{
    weft_dtype dt = c->in[0].dtype;
    int64_t N = c->in[1].dims[fused_transposed & 1 ? 0 : 1], rows = 1;
    for (int i = 0; i + 1 < c->in[0].rank; i++) rows *= c->in[0].dims[i];
    double *y = malloc(sizeof(double) * (size_t)(N ? N : 1));
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int t = 0; t < terms; t++) {
                const weft_tensor *X = &c->in[2 * t], *W = &c->in[2 * t + 1];
                int64_t K = X->dims[X->rank - 1];
                bool tr = fused_transposed >> t & 1;
                for (int64_t kk = 0; kk < K; kk++)
                    s += weft_load_f64(dt, X->data, r * K + kk) * weft_load_f64(dt, W->data, tr ? j * K + kk : kk * N + j);
            }
            if (has_bias) s += weft_load_f64(dt, c->in[2 * terms].data, j);
            y[j] = s;
        }
        if (normalize) {
            double ss = 0;
            for (int64_t j = 0; j < N; j++) ss += y[j] * y[j];
            double d = fmax(sqrt(ss), 1e-12);
            for (int64_t j = 0; j < N; j++) y[j] /= d;
        }
        for (int64_t j = 0; j < N; j++) {
            double v = y[j];
            if (has_acc) v += weft_load_f64(dt, c->in[2 * terms + 1].data, r * N + j);
            weft_store_f64(dt, out, r * N + j, act_ref(act, v, alpha));
        }
    }
    free(y);
}

static void fused_case(weft_dtype dt, int xrank, const int64_t *lead, int terms, const int64_t *Ks, int64_t N,
                       bool has_bias, bool has_acc, bool normalize, const char *act, int alpha_mode, bool const_w)
{
    double alpha = !strcmp(act, "leaky_relu") ? (double)0.01f : 1.0;
    weft_attr at[5];
    int n_at = 0;
    at[n_at++] = wt_attr_int("terms", terms);
    int64_t tr[3] = {fused_transposed & 1, fused_transposed >> 1 & 1, fused_transposed >> 2 & 1};
    if (fused_transposed) at[n_at++] = wt_attr_ints("transpose", terms, tr);
    at[n_at++] = wt_attr_int("normalize", normalize);
    at[n_at++] = wt_attr_string("activation", act);
    if (alpha_mode) {
        alpha = (double)0.3f;
        at[n_at++] = wt_attr_float("alpha", 0.3f);
    }
    step_case c = {"ai.weft", "FusedMatMul", 1, at, n_at, 2 * terms + (has_acc ? 2 : has_bias ? 1 : 0)};
    int64_t xd[WEFT_MAX_RANK];
    if (xrank > 1) memcpy(xd, lead, sizeof(int64_t) * (size_t)(xrank - 1));
    for (int t = 0; t < terms; t++) {
        xd[xrank - 1] = Ks[t];
        c.in[2 * t] = rand_tensor(dt, xrank, xd);
        bool trw = fused_transposed >> t & 1;
        c.in[2 * t + 1] = rand_tensor(dt, 2, trw ? (const int64_t[]){N, Ks[t]} : (const int64_t[]){Ks[t], N});
        c.is_const[2 * t + 1] = const_w || t == 1; /* mixed constant and live weights */
    }
    c.out_rank = xrank;
    if (xrank > 1) memcpy(c.out_dims, lead, sizeof(int64_t) * (size_t)(xrank - 1));
    c.out_dims[xrank - 1] = N;
    if (has_bias) {
        c.in[2 * terms] = rand_tensor(dt, 1, (const int64_t[]){N});
        c.is_const[2 * terms] = true;
    } else if (has_acc) {
        c.in[2 * terms] = absent();
    }
    if (has_acc) c.in[2 * terms + 1] = rand_tensor(dt, xrank, c.out_dims);
    int64_t n = 1;
    for (int j = 0; j < xrank; j++) n *= c.out_dims[j];
    size_t bytes = (size_t)n * weft_dtype_size(dt);
    void *want = malloc(bytes ? bytes : 1);
    fused_naive(&c, terms, has_bias, has_acc, normalize, act, alpha, want);
    char label[200];
    snprintf(label, sizeof label, "FusedMatMul %s terms %d K0 %lld N %lld bias %d acc %d normalize %d act '%s'%s",
             weft_dtype_name(dt), terms, (long long)Ks[0], (long long)N, has_bias, has_acc, normalize, act,
             alpha_mode ? " alpha 0.3" : "");
    /* the naive loops first */
    CU_ASSERT(check_backends(&c, want, label) > 0);
    /* then the reference kernel, when this build has it */
    if (weft_op_find("ai.weft", "FusedMatMul", 1)) {
        weft_tensor ref[1];
        weft_status st = wt_run_op_domain("ai.weft", "FusedMatMul", 1, at, n_at, c.in, c.n_in, ref, 1);
        if (st) fprintf(stderr, "  reference FusedMatMul: %s\n", weft_last_error());
        CU_ASSERT_EQUAL(st, WEFT_OK);
        if (!st) {
            /* the naive loops and the reference agree, then each backend with the reference */
            CU_ASSERT(close_enough(dt, ref[0].data, want, n, rtol_for(dt), "reference vs naive"));
            check_backends(&c, ref[0].data, label);
            wt_free_outputs(ref, 1);
        }
    }
    free(want);
    free_case(&c);
}

static void test_fused_epilogues(void)
{
    if (!have_backends()) return;
    const int64_t lead[1] = {37};
    const int64_t Ks[3] = {19, 5, 33};
    for (int terms = 1; terms <= 3; terms++)
        for (int flags = 0; flags < 8; flags++)
            for (int a = 0; a < 8; a++)
                fused_case(WEFT_FLOAT32, 2, lead, terms, Ks, 23, flags & 1, flags & 2, flags & 4, acts[a], 0,
                           (terms + flags + a) % 2);
    /* activation parameters, float64 */
    for (int a = 0; a < 8; a++) {
        fused_case(WEFT_FLOAT32, 2, lead, 1, Ks, 23, true, false, false, acts[a], 1, true);
        fused_case(WEFT_FLOAT64, 2, lead, 2, Ks, 23, true, true, a % 2, acts[a], a % 2, true);
    }
}

/* W stored transposed (a parameter in Gemm's transB layout, read as it is): live and constant weights,
 * each term alone and together, with every epilogue part. */
static void test_fused_transposed(void)
{
    if (!have_backends()) return;
    const int64_t lead[1] = {41}, Ks[3] = {19, 5, 33};
    for (unsigned mask = 1; mask < 8; mask++) {
        fused_transposed = mask;
        int terms = mask & 4 ? 3 : mask & 2 ? 2 : 1;
        fused_case(WEFT_FLOAT32, 2, lead, terms, Ks, 23, true, mask & 1, false, "relu", 0, false);
        fused_case(WEFT_FLOAT32, 2, lead, terms, Ks, 23, true, false, mask & 2, "leaky_relu", 1, true);
        fused_case(WEFT_FLOAT64, 3, (const int64_t[]){3, 7}, terms, Ks, 9, false, true, false, "", 0, false);
        fused_case(WEFT_FLOAT32, 2, (const int64_t[]){0}, terms, Ks, 6, true, false, false, "tanh", 0, false);
    }
    fused_transposed = 0;
}

static void test_fused_shapes(void)
{
    if (!have_backends()) return;
    /* zero rows, K = 1, K = 0, leading dims, one column, wide rows, many row blocks */
    fused_case(WEFT_FLOAT32, 2, (const int64_t[]){0}, 2, (const int64_t[]){8, 3}, 6, true, true, true, "relu", 0, true);
    fused_case(WEFT_FLOAT32, 2, (const int64_t[]){9}, 1, (const int64_t[]){1}, 7, true, false, false, "tanh", 0, true);
    fused_case(WEFT_FLOAT32, 2, (const int64_t[]){9}, 2, (const int64_t[]){0, 4}, 7, true, true, false, "elu", 0, false);
    fused_case(WEFT_FLOAT32, 2, (const int64_t[]){9}, 1, (const int64_t[]){0}, 7, true, true, true, "sigmoid", 0, true);
    fused_case(WEFT_FLOAT32, 3, (const int64_t[]){3, 11}, 2, (const int64_t[]){6, 10}, 5, true, true, false, "leaky_relu", 0, true);
    fused_case(WEFT_FLOAT32, 1, NULL, 1, (const int64_t[]){12}, 4, true, true, true, "", 0, true); /* X is one row */
    fused_case(WEFT_FLOAT32, 2, (const int64_t[]){31}, 1, (const int64_t[]){3}, 1, true, true, true, "relu", 0, true);
    fused_case(WEFT_FLOAT32, 2, (const int64_t[]){5}, 1, (const int64_t[]){7}, 301, true, false, true, "", 0, true);
    fused_case(WEFT_FLOAT32, 2, (const int64_t[]){2500}, 2, (const int64_t[]){64, 32}, 64, true, true, false, "relu", 0, true);
    fused_case(WEFT_FLOAT64, 2, (const int64_t[]){1500}, 1, (const int64_t[]){40}, 24, true, false, true, "elu", 0, true);
    for (int r = 0; r < 16; r++) {
        int terms = 1 + (int)(next_u32() % 3);
        int64_t Ks[3] = {next_u32() % 40, 1 + next_u32() % 40, 1 + next_u32() % 40};
        int64_t lead[1] = {next_u32() % 200};
        fused_case(r % 5 == 4 ? WEFT_FLOAT64 : WEFT_FLOAT32, 2, lead, terms, Ks, 1 + next_u32() % 70, next_u32() % 2,
                   next_u32() % 2, next_u32() % 2, acts[next_u32() % 8], (int)(next_u32() % 2), next_u32() % 2);
    }
}

/* --- what the backends refuse --------------------------------------------------------------------------- */

static void test_refusals(void)
{
    if (!have_backends()) return;
    float a[24] = {0}, b[24] = {0};
    for (int bi = 0; bi < N_BACKENDS; bi++) {
        const weft_backend *be = weft_backend_find(backends[bi]);
        if (!be) continue;
        /* not dense work of the form they take: batched B (onednn's batched matmul takes it), 1-D A,
         * integers, an unknown activation */
        step_case c = {"", "MatMul", 13, NULL, 0, 2};
        c.in[0] = wt_tensor(WEFT_FLOAT32, a, 2, (const int64_t[]){4, 6});
        c.in[1] = wt_tensor(WEFT_FLOAT32, b, 3, (const int64_t[]){2, 6, 2});
        c.out_rank = 3;
        CU_ASSERT(backend_supports(be, &c) == !strcmp(be->name, "onednn"));
        c.in[0] = wt_tensor(WEFT_FLOAT32, a, 1, (const int64_t[]){6});
        c.in[1] = wt_tensor(WEFT_FLOAT32, b, 2, (const int64_t[]){6, 4});
        c.out_rank = 1;
        CU_ASSERT(!backend_supports(be, &c));
        c.in[0] = wt_tensor(WEFT_INT32, a, 2, (const int64_t[]){4, 6});
        c.in[1] = wt_tensor(WEFT_INT32, b, 2, (const int64_t[]){6, 4});
        c.out_rank = 2;
        CU_ASSERT(!backend_supports(be, &c));
        weft_attr at[2] = {wt_attr_int("terms", 1), wt_attr_string("activation", "swish")};
        step_case f = {"ai.weft", "FusedMatMul", 1, at, 2, 2};
        f.in[0] = wt_tensor(WEFT_FLOAT32, a, 2, (const int64_t[]){4, 6});
        f.in[1] = wt_tensor(WEFT_FLOAT32, b, 2, (const int64_t[]){6, 4});
        f.out_rank = 2;
        f.out_dims[0] = 4;
        f.out_dims[1] = 4;
        CU_ASSERT(!backend_supports(be, &f));

        /* sizes that disagree at run time: a clear error, no crash */
        at[1] = wt_attr_string("activation", "relu");
        f.is_const[1] = true;
        CU_ASSERT(backend_supports(be, &f));
        void *prep = NULL, *state = NULL;
        step_desc s;
        make_desc(&f, "fmm", &s);
        CU_ASSERT_EQUAL_FATAL(be->prepare(&s.d, &prep), WEFT_OK);
        weft_tview iv[2] = {{WEFT_FLOAT32, 2, {4, 5}, 20, a}, {WEFT_FLOAT32, 2, {6, 4}, 24, b}};
        weft_tview ov[1] = {{WEFT_FLOAT32, 2, {4, 4}, 16, b}};
        wt_scratch sc = {0};
        weft_kernel_ctx k = {&s.node, 2, iv, 1, ov, wt_get_scratch, &sc, 2};
        weft_status st = be->reshape(prep, &k, &state);
        CU_ASSERT_EQUAL(st, WEFT_ERR_SHAPE);
        CU_ASSERT(strstr(weft_last_error(), "fmm") != NULL);
        if (!st) be->release_state(state);
        be->release(prep);

        /* a constant B stored transposed (prepared once as 6 x 4) bound to other sizes */
        weft_attr gat[1] = {wt_attr_int("transB", 1)};
        step_case g = {"", "Gemm", 13, gat, 1, 2};
        g.in[0] = wt_tensor(WEFT_FLOAT32, a, 2, (const int64_t[]){4, 6});
        g.in[1] = wt_tensor(WEFT_FLOAT32, b, 2, (const int64_t[]){4, 6});
        g.is_const[1] = true;
        g.out_rank = 2;
        g.out_dims[0] = g.out_dims[1] = 4;
        make_desc(&g, "gemm", &s);
        CU_ASSERT_EQUAL_FATAL(be->prepare(&s.d, &prep), WEFT_OK);
        weft_tview giv[2] = {{WEFT_FLOAT32, 2, {4, 3}, 12, a}, {WEFT_FLOAT32, 2, {4, 3}, 12, b}};
        weft_kernel_ctx gk = {&s.node, 2, giv, 1, ov, wt_get_scratch, &sc, 2};
        state = NULL;
        st = be->reshape(prep, &gk, &state);
        CU_ASSERT_EQUAL(st, WEFT_ERR_SHAPE);
        CU_ASSERT(strstr(weft_last_error(), "gemm") != NULL);
        if (!st) be->release_state(state);
        be->release(prep);
        free(sc.buf);
    }
}

/* --- a whole model -------------------------------------------------------------------------------------- */

#define MODEL_DIR "models/sage_mean_ts18"

static weft_status run_model(const char *backend, int opt_level, int threads, weft_tensor *in, int n_in, float **out,
                             int64_t *n_out, int *steps_on_backend)
{
    weft_model *m = NULL;
    weft_plan *p = NULL;
    weft_session *s = NULL;
    weft_status st = weft_model_load(MODEL_DIR "/model.onnx", &m);
    weft_compile_options co = {backend, opt_level};
    if (!st) st = weft_compile(m, &co, &p);
    weft_model_free(m);
    weft_session_options so = {threads, 1};
    if (!st) st = weft_session_create_with_options(p, &so, &s);
    weft_tensor o[1] = {{0}};
    if (!st) st = weft_session_run(s, in, (size_t)n_in, o, 1);
    if (!st) st = weft_session_run(s, in, (size_t)n_in, o, 1); /* a second run on the same sizes */
    if (!st) {
        *n_out = wt_numel(&o[0]);
        *out = malloc(o[0].nbytes ? o[0].nbytes : 1);
        memcpy(*out, o[0].data, o[0].nbytes);
        const weft_step_profile *prof;
        int n;
        *steps_on_backend = 0;
        if (weft_session_profile(s, &prof, &n) == WEFT_OK)
            for (int i = 0; i < n; i++) *steps_on_backend += prof[i].backend && strcmp(prof[i].backend, backend) == 0;
    }
    weft_session_free(s);
    weft_plan_free(p);
    return st;
}

static void test_model(void)
{
    if (!have_backends()) return;
    static const char *const names[] = {"x", "edge_index"};
    weft_tensor in[2];
    const char *loaded_name[2];
    for (int i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path, MODEL_DIR "/test_data_set_0/input_%d.pb", i);
        weft_status st = weft_tensor_load(path, &in[i]);
        if (st) fprintf(stderr, "  %s: %s\n", path, weft_last_error());
        CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
        loaded_name[i] = in[i].name;
        in[i].name = names[i];
    }
    /* -O0 keeps the exported MatMul and Gemm; -O1 fuses them into FusedMatMul steps */
    for (int opt = 0; opt <= 1; opt++) {
        float *want = NULL;
        int64_t n_want = 0;
        int on_ref = 0;
        weft_status st = run_model("ref", opt, 1, in, 2, &want, &n_want, &on_ref);
        if (st) fprintf(stderr, "  ref: %s\n", weft_last_error());
        CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
        CU_ASSERT(n_want > 0);
        for (int b = 0; b < N_BACKENDS; b++) {
            if (!weft_backend_find(backends[b])) continue;
            for (int threads = 1; threads <= 2; threads++) {
                float *got = NULL;
                int64_t n = 0;
                int on = 0;
                st = run_model(backends[b], opt, threads, in, 2, &got, &n, &on);
                if (st) fprintf(stderr, "  %s: %s\n", backends[b], weft_last_error());
                CU_ASSERT_EQUAL(st, WEFT_OK);
                if (st) continue;
                CU_ASSERT(on >= 2); /* the model's dense steps at least */
                CU_ASSERT_EQUAL(n, n_want);
                char what[64];
                snprintf(what, sizeof what, "%s model -O%d, %d threads", backends[b], opt, threads);
                if (n == n_want) CU_ASSERT(close_enough(WEFT_FLOAT32, got, want, n, 1e-5, what));
                free(got);
            }
        }
        free(want);
    }
    for (int i = 0; i < 2; i++) {
        in[i].name = loaded_name[i];
        weft_tensor_release(&in[i]);
    }
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("backends_dense", NULL, NULL);
    CU_add_test(s, "matmul", test_matmul);
    CU_add_test(s, "batched matmul", test_batched_matmul);
    CU_add_test(s, "gemm", test_gemm);
    CU_add_test(s, "fused matmul epilogues", test_fused_epilogues);
    CU_add_test(s, "fused matmul shapes", test_fused_shapes);
    CU_add_test(s, "fused matmul with transposed weights", test_fused_transposed);
    CU_add_test(s, "refusals and errors", test_refusals);
    CU_add_test(s, "whole model", test_model);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int fails = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
