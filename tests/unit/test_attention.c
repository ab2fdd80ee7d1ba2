/*
 * tests/unit/test_attention.c — ai.weft FusedAttention (ops/weft_attention.c, ops/cpu/attention.c) and
 * the pass that makes it (compiler/pass_attention.c).
 *
 * Kernels: random shapes (ranks 3 and 4, head splits folded as permuted views of Q, K, V and the
 * output, masks of every rank broadcast over batch, heads and query rows, Mul and Div scales, the causal
 * rule, key counts
 * that are not a multiple of the vector width, more query rows than one block, a fully masked key), the
 * reference kernel against a naive evaluation in double written here, and the CPU kernel (through each
 * CPU backend of the build, as the runtime drives it) against the reference within 1e-5 relative of the
 * row's magnitude, on 1 and 2 threads.
 * Pass: a BERT-style block (heads split by Reshape + Transpose, scale, additive mask, softmax, heads
 * merged back) compiled at -O1 holds one FusedAttention and no Softmax, MatMul or Transpose, and gives
 * -O0's outputs bit for bit on `ref` and within 1e-4 on the CPU backends.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/plan.h"
#include "ops/backend.h"
#include "ops/cpu/kern.h"
#include "tests/unit/ir_build.h"
#include "tests/unit/op_harness.h"

static uint64_t rng = 0x853c49e6748fea9bull;

static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static int rnd(int lo, int hi) { return lo + (int)(next_u32() % (uint32_t)(hi - lo + 1)); }
static float uniform(void) { return (float)((double)(next_u32() & 0xffffff) / (double)0x1000000 * 2.0 - 1.0); }

static weft_tensor rand_tensor(int rank, const int64_t *dims, float amp)
{
    weft_tensor t = wt_alloc(WEFT_FLOAT32, rank, dims);
    int64_t n = wt_numel(&t);
    for (int64_t i = 0; i < n; i++) ((float *)t.data)[i] = uniform() * amp;
    return t;
}

/* --- one case ---------------------------------------------------------------------------------------- */

typedef struct acase {
    int rank;
    int64_t perm[4][4];
    bool has_perm[4];
    bool has_scale, divide, causal;
    float scale;
    weft_tensor in[4];
    int n_in;
    weft_attr attrs[6];
    int n_attrs;
} acase;

/* Row-major strides of dims. */
static void strides_of(int rank, const int64_t *dims, int64_t *st)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        st[i] = s;
        s *= dims[i];
    }
}

/* The naive formula in double: Y (dims yd, before out_perm) at logical index. */
static void naive(const acase *c, int64_t Sq, int64_t Sk, int64_t D, int64_t Dv, const int64_t *bdims, double *y)
{
    int R = c->rank, nb = R - 2;
    int64_t st[4][4], ld[4][4], ls[4][4];
    for (int w = 0; w < 3; w++) {
        strides_of(R, c->in[w].dims, st[w]);
        for (int i = 0; i < R; i++) {
            int p = c->has_perm[w] ? (int)c->perm[w][i] : i;
            ld[w][i] = c->in[w].dims[p];
            ls[w][i] = st[w][p];
        }
    }
    int64_t md[4] = {1, 1, 1, 1}, ms[4] = {0, 0, 0, 0};
    if (c->n_in > 3) {
        const weft_tensor *m = &c->in[3];
        int lead = R - m->rank;
        int64_t mst[4];
        strides_of(m->rank, m->dims, mst);
        for (int i = lead; i < R; i++) {
            md[i] = m->dims[i - lead];
            ms[i] = md[i] == 1 ? 0 : mst[i - lead];
        }
    }
    int64_t nbatch = 1;
    for (int i = 0; i < nb; i++) nbatch *= bdims[i];
    double *s = malloc((size_t)Sk * sizeof *s);
    for (int64_t b = 0; b < nbatch; b++) {
        int64_t o[4] = {0, 0, 0, 0}, om = 0, rest = b;
        for (int i = nb - 1; i >= 0; i--) {
            int64_t x = rest % bdims[i];
            rest /= bdims[i];
            for (int w = 0; w < 3; w++) o[w] += (ld[w][i] == 1 ? 0 : x) * ls[w][i];
            om += (md[i] == 1 ? 0 : x) * ms[i];
        }
        const float *q = c->in[0].data, *k = c->in[1].data, *v = c->in[2].data;
        for (int64_t i = 0; i < Sq; i++) {
            double mx = -INFINITY;
            for (int64_t t = 0; t < Sk; t++) {
                double a = 0;
                for (int64_t d = 0; d < D; d++)
                    a += (double)q[o[0] + i * ls[0][R - 2] + d * ls[0][R - 1]] * k[o[1] + d * ls[1][R - 2] + t * ls[1][R - 1]];
                if (c->has_scale) a = c->divide ? a / c->scale : a * c->scale;
                if (c->n_in > 3)
                    a += ((const float *)c->in[3].data)[om + (md[R - 2] == 1 ? 0 : i) * ms[R - 2] + (md[R - 1] == 1 ? 0 : t) * ms[R - 1]];
                if (c->causal && t > i) a = -INFINITY;
                s[t] = a;
                mx = a > mx ? a : mx;
            }
            double sum = 0;
            for (int64_t t = 0; t < Sk; t++) sum += (s[t] = exp(s[t] - mx));
            for (int64_t e = 0; e < Dv; e++) {
                double a = 0;
                for (int64_t t = 0; t < Sk; t++) a += s[t] / sum * v[o[2] + t * ls[2][R - 2] + e * ls[2][R - 1]];
                y[(b * Sq + i) * Dv + e] = a;
            }
        }
    }
    free(s);
}

/* Every element of got within rtol of want, plus rtol times the largest |want|. */
static bool close_enough(const float *got, const double *want, int64_t n, double rtol, const char *what)
{
    double mx = 0;
    for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(want[i]));
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= rtol * (fabs(want[i]) + mx) + 1e-30)) {
            fprintf(stderr, "  %s: element %lld is %.9g, expected %.9g\n", what, (long long)i, got[i], want[i]);
            return false;
        }
    return true;
}

static int n_backend_runs;

/* Runs the case through backend `be` on `threads` threads into out (dims of the reference's output). */
static weft_status drive(const weft_backend *be, const acase *c, const weft_tensor *ref, int threads, float *out)
{
    weft_node_info node = {"attn", "FusedAttention", "ai.weft", 1, c->n_attrs, c->attrs};
    void *outs[1] = {out};
    return wt_drive_backend(be, &node, c->in, NULL, c->n_in, ref, 1, threads, 1, outs);
}

/* Cases run with the causal rule (key j > query row i masked out) while this is set. */
static bool causal_cases;

/* A random case: rank 3 or 4, heads split or not, a mask of rank mrank (0: none). */
static void run_case(int rank, bool perms, int mrank, int scale_kind, int64_t Sq, int64_t Sk, int64_t D, int64_t Dv)
{
    acase c;
    memset(&c, 0, sizeof c);
    c.rank = rank;
    int64_t B = rnd(1, 3), H = rank == 4 ? rnd(1, 4) : 1;
    int64_t qd[4], kd[4], vd[4];
    if (rank == 4 && perms) {
        /* as exported: Q, V [B, S, H, D] with perm (0, 2, 1, 3); K [B, S, H, D] with (0, 2, 3, 1) */
        int64_t q0[4] = {B, Sq, H, D}, k0[4] = {B, Sk, H, D}, v0[4] = {B, Sk, H, Dv};
        memcpy(qd, q0, sizeof qd);
        memcpy(kd, k0, sizeof kd);
        memcpy(vd, v0, sizeof vd);
        int64_t p13[4] = {0, 2, 1, 3}, p231[4] = {0, 2, 3, 1};
        memcpy(c.perm[0], p13, sizeof p13);
        memcpy(c.perm[1], p231, sizeof p231);
        memcpy(c.perm[2], p13, sizeof p13);
        memcpy(c.perm[3], p13, sizeof p13);
        for (int w = 0; w < 4; w++) c.has_perm[w] = true;
    } else if (rank == 4) {
        int64_t q0[4] = {B, H, Sq, D}, k0[4] = {rnd(0, 2) ? B : 1, H, D, Sk}, v0[4] = {B, rnd(0, 1) ? H : 1, Sk, Dv};
        memcpy(qd, q0, sizeof qd);
        memcpy(kd, k0, sizeof kd);
        memcpy(vd, v0, sizeof vd);
    } else {
        /* torch.bmm form, K stored [B, Sk, D] and transposed by a perm */
        int64_t q0[3] = {B, Sq, D}, k0[3] = {B, Sk, D}, v0[3] = {B, Sk, Dv}, p[3] = {0, 2, 1};
        memcpy(qd, q0, sizeof q0);
        memcpy(kd, k0, sizeof k0);
        memcpy(vd, v0, sizeof v0);
        memcpy(c.perm[1], p, sizeof p);
        c.has_perm[1] = true;
    }
    c.in[0] = rand_tensor(rank, qd, 1.5f);
    c.in[1] = rand_tensor(rank, kd, 1.5f);
    c.in[2] = rand_tensor(rank, vd, 1.0f);
    c.n_in = 3;
    static const char *const names[4] = {"q_perm", "k_perm", "v_perm", "out_perm"};
    for (int w = 0; w < 4; w++)
        if (c.has_perm[w]) c.attrs[c.n_attrs++] = wt_attr_ints(names[w], rank, c.perm[w]);
    if (scale_kind) {
        c.has_scale = true;
        c.divide = scale_kind == 2;
        c.scale = c.divide ? 4.0f : 0.125f;
        c.attrs[c.n_attrs++] = wt_attr_float("scale", c.scale);
        if (c.divide) c.attrs[c.n_attrs++] = wt_attr_int("scale_divides", 1);
    }
    if (causal_cases) {
        c.causal = true;
        c.attrs[c.n_attrs++] = wt_attr_int("causal", 1);
    }
    /* the batch dims and sizes of Y (before out_perm) */
    int64_t bdims[2] = {B, H};
    if (rank == 4 && !perms) {
        bdims[0] = B;
        bdims[1] = H;
    }
    if (mrank) {
        /* [.., 1 or Sq, Sk] with ones where it broadcasts; -1e9 at one key of every row: masked away */
        int64_t md[4], full[4] = {B, H, Sq, Sk};
        if (rank == 3) {
            full[0] = B;
            full[1] = Sq;
            full[2] = Sk;
        }
        for (int i = 0; i < mrank; i++) {
            int64_t f = full[rank - mrank + i];
            md[i] = i == mrank - 1 ? Sk : rnd(0, 1) ? f : 1;
        }
        c.in[3] = rand_tensor(mrank, md, 2.0f);
        int64_t n = wt_numel(&c.in[3]);
        for (int64_t i = 0; i < n; i += Sk) ((float *)c.in[3].data)[i + Sk / 2] = -1e9f;
        c.n_in = 4;
    }
    char label[200];
    snprintf(label, sizeof label, "rank %d%s%s mask rank %d scale %d Sq %lld Sk %lld D %lld Dv %lld", rank,
             perms ? " (heads split)" : "", c.causal ? " causal" : "", mrank, scale_kind, (long long)Sq, (long long)Sk, (long long)D, (long long)Dv);
    weft_tensor ref;
    memset(&ref, 0, sizeof ref);
    weft_status st = wt_run_op_domain("ai.weft", "FusedAttention", 1, c.attrs, c.n_attrs, c.in, c.n_in, &ref, 1);
    if (st) fprintf(stderr, "  reference %s: %s\n", label, weft_last_error());
    CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
    int64_t n = wt_numel(&ref);
    /* the naive formula, laid out as the output (out_perm (0, 2, 1, 3) swaps S and H) */
    double *want = malloc((size_t)n * sizeof *want), *y = malloc((size_t)n * sizeof *y);
    int64_t nb = rank == 4 ? bdims[0] * bdims[1] : B;
    int64_t yb[2] = {rank == 4 ? bdims[0] : B, bdims[1]};
    if (rank == 4 && !perms) {
        yb[0] = ref.dims[0];
        yb[1] = ref.dims[1];
        nb = yb[0] * yb[1];
    }
    naive(&c, Sq, Sk, D, Dv, yb, y);
    if (c.has_perm[3]) {
        for (int64_t b = 0; b < yb[0]; b++)
            for (int64_t h = 0; h < yb[1]; h++)
                for (int64_t i = 0; i < Sq; i++)
                    for (int64_t e = 0; e < Dv; e++)
                        want[((b * Sq + i) * yb[1] + h) * Dv + e] = y[((b * yb[1] + h) * Sq + i) * Dv + e];
    } else {
        memcpy(want, y, (size_t)n * sizeof *want);
    }
    (void)nb;
    CU_ASSERT(close_enough(ref.data, want, n, 1e-5, label));
    float *got = malloc((size_t)n * sizeof *got);
    static const char *const backends[] = {"onednn", "openblas"};
    for (int bi = 0; bi < 2; bi++) {
        const weft_backend *be = weft_backend_find(backends[bi]);
        if (!be) continue;
        for (int threads = 1; threads <= 2; threads++) {
            st = drive(be, &c, &ref, threads, got);
            if (st) fprintf(stderr, "  %s %s (%d threads): %s\n", be->name, label, threads, weft_last_error());
            CU_ASSERT_EQUAL(st, WEFT_OK);
            if (st) continue;
            char what[260];
            snprintf(what, sizeof what, "%s, %s, %d threads", be->name, label, threads);
            CU_ASSERT(close_enough(got, want, n, 1e-5, what));
            n_backend_runs++;
        }
    }
    free(got);
    free(want);
    free(y);
    wt_free_outputs(&ref, 1);
    for (int i = 0; i < c.n_in; i++) free(c.in[i].data);
}

static void test_kernels(void)
{
    weft_cpu_set_grain(1); /* split small cases over threads too */
    run_case(4, true, 4, 1, 64, 64, 16, 16);  /* BERT-like */
    run_case(4, true, 2, 2, 7, 5, 3, 3);
    run_case(4, true, 0, 0, 130, 33, 8, 24);  /* several row blocks, a key tail */
    run_case(4, false, 3, 1, 17, 19, 5, 7);
    run_case(4, false, 1, 2, 1, 1, 1, 1);
    run_case(3, false, 3, 1, 20, 40, 12, 12); /* torch.bmm form */
    run_case(3, false, 0, 0, 65, 17, 16, 32);
    for (int r = 0; r < 12; r++)
        run_case(rnd(3, 4), rnd(0, 1), rnd(0, 4) == 0 ? 0 : rnd(1, 2), rnd(0, 2), rnd(1, 70), rnd(1, 70), rnd(1, 20),
                 rnd(1, 20));
    /* the causal rule, with and without a mask, fewer and more keys than queries */
    causal_cases = true;
    run_case(4, true, 0, 1, 64, 64, 16, 16);
    run_case(4, false, 2, 2, 17, 9, 5, 7);
    run_case(3, false, 0, 0, 9, 23, 4, 4);
    causal_cases = false;
    weft_cpu_set_grain(0);
    printf("(%d backend runs) ", n_backend_runs);
}

/* --- the pass ---------------------------------------------------------------------------------------- */

enum { PB = 2, PS = 9, PH = 3, PD = 4, PE = PH * PD };

/* x [2, 9, 12] -> q, k, v = x W + b -> [2, 9, 3, 4] -> Transpose -> scores * 0.5 + mask [2, 1, 1, 9]
 * -> Softmax -> P V -> Transpose -> Reshape [2, 9, 12] = y. */
static weft_graph *build_block(weft_symtab *syms)
{
    weft_graph *g = weft_graph_new(NULL, syms);
    int64_t xd[3] = {PB, PS, PE}, wd[2] = {PE, PE}, bd[1] = {PE}, md[4] = {PB, 1, 1, PS}, sh4[4] = {PB, PS, PH, PD},
            sh3[3] = {PB, PS, PE};
    float w[3][PE * PE], b[3][PE], mask[PB * PS], half = 0.5f;
    uint64_t save = rng;
    rng = 0xfeedbeef;
    for (int m = 0; m < 3; m++) {
        for (int i = 0; i < PE * PE; i++) w[m][i] = uniform() * 0.6f;
        for (int i = 0; i < PE; i++) b[m][i] = uniform() * 0.2f;
    }
    for (int i = 0; i < PB * PS; i++) mask[i] = i % 4 == 3 ? -1e4f : 0.0f;
    rng = save;
    int x = irb_input(g, "x", WEFT_FLOAT32, 3, xd);
    int shape4 = irb_constant(g, "shape4", WEFT_INT64, 1, (int64_t[]){4}, sh4);
    int heads[3];
    static const int64_t p13[4] = {0, 2, 1, 3}, p231[4] = {0, 2, 3, 1};
    for (int m = 0; m < 3; m++) {
        char n[32];
        snprintf(n, sizeof n, "w%d", m);
        int wv = irb_constant(g, n, WEFT_FLOAT32, 2, wd, w[m]);
        snprintf(n, sizeof n, "b%d", m);
        int bv = irb_constant(g, n, WEFT_FLOAT32, 1, bd, b[m]);
        snprintf(n, sizeof n, "mm%d", m);
        int y = irb_node(g, "MatMul", "", 17, (int[]){x, wv}, 2, n, 1);
        snprintf(n, sizeof n, "add%d", m);
        y = irb_node(g, "Add", "", 17, (int[]){y, bv}, 2, n, 1);
        snprintf(n, sizeof n, "split%d", m);
        y = irb_node(g, "Reshape", "", 17, (int[]){y, shape4}, 2, n, 1);
        snprintf(n, sizeof n, "heads%d", m);
        heads[m] = irb_node(g, "Transpose", "", 17, &y, 1, n, 1);
        irb_attr_ints(g, heads[m], "perm", 4, m == 1 ? p231 : p13);
    }
    int s = irb_node(g, "MatMul", "", 17, (int[]){heads[0], heads[1]}, 2, "scores", 1);
    s = irb_node(g, "Mul", "", 17, (int[]){s, irb_constant(g, "half", WEFT_FLOAT32, 0, NULL, &half)}, 2, "scaled", 1);
    s = irb_node(g, "Add", "", 17, (int[]){s, irb_constant(g, "mask", WEFT_FLOAT32, 4, md, mask)}, 2, "masked", 1);
    int p = irb_node(g, "Softmax", "", 17, &s, 1, "probs", 1);
    irb_attr_i(g, p, "axis", -1);
    int y = irb_node(g, "MatMul", "", 17, (int[]){p, heads[2]}, 2, "context", 1);
    y = irb_node(g, "Transpose", "", 17, &y, 1, "merge", 1);
    irb_attr_ints(g, y, "perm", 4, p13);
    y = irb_node(g, "Reshape", "", 17, (int[]){y, irb_constant(g, "shape3", WEFT_INT64, 1, (int64_t[]){3}, sh3)}, 2, "y", 1);
    irb_output(g, y);
    return g;
}

static int count_op(const weft_graph *g, const char *op)
{
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++) c += !strcmp(g->nodes[i].op_type, op);
    return c;
}

static bool run_block(int lvl, const char *backend, const float *x, float *out, int *fused, int *rest)
{
    weft_symtab *syms = calloc(1, sizeof *syms);
    weft_graph *g = build_block(syms);
    weft_ir_resolve_ops(g, NULL);
    weft_plan *p = NULL;
    weft_session *s = NULL;
    bool ok = weft_compile_graph(g, lvl, NULL, NULL) == WEFT_OK;
    if (ok) {
        *fused = count_op(g, "FusedAttention");
        *rest = count_op(g, "Softmax") + count_op(g, "Transpose") + count_op(g, "MatMul");
    }
    const weft_backend *be[4];
    int nb = 0;
    ok = ok && weft_backend_parse_list(backend, be, 4, &nb) == WEFT_OK;
    if (ok) ok = weft_plan_lower(g, syms, be, nb, NULL, &p) == WEFT_OK;
    else {
        weft_graph_free(g);
        weft_symtab_free(syms);
        free(syms);
    }
    ok = ok && weft_session_create(p, &s) == WEFT_OK;
    weft_tensor in = {"x", WEFT_FLOAT32, 3, {PB, PS, PE}, (void *)x, PB * PS * PE * sizeof(float)};
    weft_tensor o;
    memset(&o, 0, sizeof o);
    ok = ok && weft_session_run(s, &in, 1, &o, 1) == WEFT_OK && o.nbytes == PB * PS * PE * sizeof(float);
    if (ok) memcpy(out, o.data, o.nbytes);
    else fprintf(stderr, "\n  block -O%d on %s: %s\n", lvl, backend, weft_last_error());
    weft_session_free(s);
    weft_plan_free(p);
    return ok;
}

static void test_pass(void)
{
    enum { N = PB * PS * PE };
    float x[N], o0[N], o1[N];
    double want[N];
    for (int i = 0; i < N; i++) x[i] = uniform() * 2.0f;
    int f0 = -1, r0 = -1, f1 = -1, r1 = -1;
    CU_ASSERT_FATAL(run_block(0, "ref", x, o0, &f0, &r0));
    CU_ASSERT_FATAL(run_block(1, "ref", x, o1, &f1, &r1));
    CU_ASSERT_EQUAL(f0, 0);
    CU_ASSERT_EQUAL(f1, 1);
    CU_ASSERT_EQUAL(r1, 0);
    CU_ASSERT(memcmp(o0, o1, sizeof o0) == 0); /* the reference kernel runs the chain's own kernels */
    for (int i = 0; i < N; i++) want[i] = o0[i];
    static const char *const backends[] = {"onednn", "openblas"};
    for (int b = 0; b < 2; b++) {
        if (!weft_backend_find(backends[b])) continue;
        CU_ASSERT_FATAL(run_block(1, backends[b], x, o1, &f1, &r1));
        CU_ASSERT(close_enough(o1, want, N, 1e-4, backends[b]));
    }
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("attention", NULL, NULL);
    CU_add_test(s, "FusedAttention kernels", test_kernels);
    CU_add_test(s, "attention pass", test_pass);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
