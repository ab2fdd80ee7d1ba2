/*
 * tests/unit/test_onednn_rnn.c — the `onednn` backend's LSTM and GRU (ops/onednn/rnn.c) against the
 * reference kernel (ops/rnn.c).
 *
 * Random shapes (sequence length and batch 1 among them, hidden sizes that are not multiples of 8),
 * each direction, layout 0 and 1, with and without B, initial_h and initial_c (each on its own), every
 * subset of the outputs, full-length sequence_lens, GRU with linear_before_reset 0 and 1, constant and
 * run-time weights, driven through the backend's supports / prepare / reshape / run as the runtime drives
 * them, on 1 and 2 threads, compared with the reference kernel within 1e-4 (relative to the largest
 * value). WEFT_ONEDNN_STRICT is set, so a case the primitive declines is an error here rather than a
 * silent fallback.
 * Fallbacks: clip, other activations, peepholes, input_forget and shorter sequence_lens give the
 * reference's results without the strict setting and are refused with it.
 * A session: a bidirectional LSTM feeding a GRU, compiled and run on `onednn` and on `ref`.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/plan.h"
#include "ops/backend.h"
#include "tests/unit/ir_build.h"
#include "tests/unit/op_harness.h"

#define MAX_IN 8
#define MAX_ATTRS 10

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static int rnd(int lo, int hi) { return lo + (int)(next_u32() % (uint32_t)(hi - lo + 1)); }
static float uniform(void) { return (float)((double)(next_u32() & 0xffffff) / (double)0x1000000 * 2.0 - 1.0); }

static weft_tensor rand_tensor(int rank, const int64_t *dims, float scale)
{
    weft_tensor t = wt_alloc(WEFT_FLOAT32, rank, dims);
    int64_t n = wt_numel(&t);
    for (int64_t i = 0; i < n; i++) ((float *)t.data)[i] = uniform() * scale;
    return t;
}

typedef struct rcase {
    const char *op;
    weft_attr attrs[MAX_ATTRS];
    int n_attrs;
    char *act_names[6];
    int n_in;
    weft_tensor in[MAX_IN];
    bool is_const[MAX_IN];
    bool want[3];     /* outputs asked for */
    char label[256];
} rcase;

static void free_case(rcase *c)
{
    for (int i = 0; i < c->n_in; i++)
        if (c->in[i].dtype != WEFT_UNDEFINED) free(c->in[i].data);
}

static int n_compared, n_fallbacks;

/* Runs case c on `be` with `threads` threads; outputs shaped like ref[], into out[] (those asked for). */
static weft_status drive(const weft_backend *be, const rcase *c, const weft_tensor *ref, int n_out, int threads,
                         float **out)
{
    weft_node_info node = {c->op, c->op, "", 14, c->n_attrs, c->attrs};
    weft_tensor want[3];
    void *outs[3];
    for (int o = 0; o < n_out; o++) {
        want[o] = ref[o];
        if (!c->want[o]) want[o].dtype = WEFT_UNDEFINED;
        else want[o].dtype = WEFT_FLOAT32;
        outs[o] = c->want[o] ? out[o] : NULL;
    }
    /* twice: the second run on the same state is the steady state */
    return wt_drive_backend(be, &node, c->in, c->is_const, c->n_in, want, n_out, threads, 2, outs);
}

static bool close_enough(const float *got, const float *want, int64_t n, double tol, const char *what)
{
    double maxabs = 0;
    for (int64_t i = 0; i < n; i++) maxabs = fmax(maxabs, fabs(want[i]));
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= tol * fabs(want[i]) + tol * maxabs + 1e-30)) {
            fprintf(stderr, "  %s: element %lld is %.9g, expected %.9g (max |expected| %.3g)\n", what, (long long)i,
                    got[i], want[i], maxabs);
            return false;
        }
    return true;
}

/* The reference kernel's outputs, then the onednn backend's on 1 and 2 threads; `expect_refusal`: the
 * backend must refuse the case under WEFT_ONEDNN_STRICT (it is checked without it too). */
static void check(rcase *c, bool expect_refusal)
{
    const weft_backend *be = weft_backend_find("onednn");
    int n_out = strcmp(c->op, "LSTM") == 0 ? 3 : 2;
    weft_tensor ref[3];
    memset(ref, 0, sizeof ref);
    weft_status st = wt_run_op(c->op, 14, c->attrs, c->n_attrs, c->in, c->n_in, ref, n_out);
    if (st) fprintf(stderr, "  reference %s: %s\n", c->label, weft_last_error());
    CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
    if (!be) {
        wt_free_outputs(ref, n_out);
        return;
    }
    float *got[3] = {NULL, NULL, NULL};
    for (int o = 0; o < n_out; o++) got[o] = malloc((size_t)wt_numel(&ref[o]) * sizeof(float) + 4);
    for (int pass = 0; pass < (expect_refusal ? 2 : 1); pass++) {
        bool lenient = pass == 1;
        if (lenient) unsetenv("WEFT_ONEDNN_STRICT");
        for (int threads = 1; threads <= 2; threads++) {
            st = drive(be, c, ref, n_out, threads, got);
            if (expect_refusal && !lenient) {
                if (!st) fprintf(stderr, "  onednn %s: ran under WEFT_ONEDNN_STRICT\n", c->label);
                CU_ASSERT_NOT_EQUAL(st, WEFT_OK);
                weft_error_clear();
                continue;
            }
            if (st) fprintf(stderr, "  onednn %s (%d threads): %s\n", c->label, threads, weft_last_error());
            CU_ASSERT_EQUAL(st, WEFT_OK);
            if (st) continue;
            for (int o = 0; o < n_out; o++) {
                if (!c->want[o]) continue;
                char what[400];
                snprintf(what, sizeof what, "%s, output %d, %d threads", c->label, o, threads);
                CU_ASSERT(close_enough(got[o], ref[o].data, wt_numel(&ref[o]), 1e-4, what));
            }
            if (lenient) n_fallbacks++;
            else n_compared++;
        }
        if (lenient) setenv("WEFT_ONEDNN_STRICT", "1", 1);
    }
    for (int o = 0; o < n_out; o++) free(got[o]);
    wt_free_outputs(ref, n_out);
}

typedef struct rspec {
    bool lstm;
    int dir;        /* 0 forward, 1 reverse, 2 bidirectional */
    int layout;
    int lbr;        /* GRU */
    int T, N, I, H; /* 0: random */
    bool bias, h0, c0, wconst, seq_lens, hidden_attr;
    bool want[3];
} rspec;

static const char *const dir_names[] = {"forward", "reverse", "bidirectional"};

static void make_case(rcase *c, const rspec *s)
{
    memset(c, 0, sizeof *c);
    c->op = s->lstm ? "LSTM" : "GRU";
    int64_t T = s->T ? s->T : rnd(1, 9), N = s->N ? s->N : rnd(1, 5), I = s->I ? s->I : rnd(1, 13);
    int64_t H = s->H ? s->H : rnd(1, 21), D = s->dir == 2 ? 2 : 1, G = s->lstm ? 4 : 3;
    if (s->dir) c->attrs[c->n_attrs++] = wt_attr_string("direction", dir_names[s->dir]);
    if (s->layout) c->attrs[c->n_attrs++] = wt_attr_int("layout", 1);
    if (s->hidden_attr) c->attrs[c->n_attrs++] = wt_attr_int("hidden_size", H);
    if (!s->lstm && s->lbr) c->attrs[c->n_attrs++] = wt_attr_int("linear_before_reset", 1);
    int64_t xd[3] = {s->layout ? N : T, s->layout ? T : N, I}, wd[3] = {D, G * H, I}, rd[3] = {D, G * H, H};
    int64_t bd[2] = {D, 2 * G * H}, sd[3] = {s->layout ? N : D, s->layout ? D : N, H};
    c->in[0] = rand_tensor(3, xd, 1.0f);
    c->in[1] = rand_tensor(3, wd, 0.6f);
    c->in[2] = rand_tensor(3, rd, 0.6f);
    c->is_const[1] = c->is_const[2] = s->wconst;
    c->n_in = 3;
    for (int i = 3; i < MAX_IN; i++) c->in[i] = wt_absent();
    if (s->bias) {
        c->in[3] = rand_tensor(2, bd, 0.5f);
        c->is_const[3] = s->wconst;
        c->n_in = 4;
    }
    if (s->seq_lens) {
        c->in[4] = wt_alloc(WEFT_INT32, 1, &N);
        for (int64_t b = 0; b < N; b++) ((int32_t *)c->in[4].data)[b] = (int32_t)T;
        c->n_in = 5;
    }
    if (s->h0) {
        c->in[5] = rand_tensor(3, sd, 1.0f);
        c->n_in = 6;
    }
    if (s->lstm && s->c0) {
        c->in[6] = rand_tensor(3, sd, 1.0f);
        c->n_in = 7;
    }
    memcpy(c->want, s->want, sizeof c->want);
    if (!s->lstm) c->want[2] = false;
    snprintf(c->label, sizeof c->label,
             "%s %s layout %d%s T=%lld N=%lld I=%lld H=%lld%s%s%s%s%s outputs %d%d%d", c->op, dir_names[s->dir],
             s->layout, !s->lstm && s->lbr ? " linear_before_reset" : "", (long long)T, (long long)N, (long long)I,
             (long long)H, s->bias ? " B" : "", s->h0 ? " initial_h" : "", s->lstm && s->c0 ? " initial_c" : "",
             s->wconst ? " const-W" : "", s->seq_lens ? " sequence_lens" : "", c->want[0], c->want[1], c->want[2]);
}

static void run_spec(const rspec *s)
{
    rcase c;
    make_case(&c, s);
    check(&c, false);
    free_case(&c);
}

static void sweep(bool lstm)
{
    for (int dir = 0; dir < 3; dir++)
        for (int layout = 0; layout < 2; layout++)
            for (int v = 0; v < 8; v++) {
                rspec s = {.lstm = lstm, .dir = dir, .layout = layout, .lbr = (v + dir) % 2};
                s.bias = v & 1;
                s.h0 = (v >> 1) & 1;
                s.c0 = ((v >> 2) & 1) ^ (v & 1);
                s.wconst = (v + layout) % 2 == 0;
                s.seq_lens = v == 5;
                s.hidden_attr = v % 3 != 0;
                s.want[0] = v != 3;
                s.want[1] = v % 2 == 0 || v == 3;
                s.want[2] = v % 3 == 0;
                run_spec(&s);
            }
}

static void test_lstm(void) { sweep(true); }
static void test_gru(void) { sweep(false); }

static void test_edges(void)
{
    /* sequence length 1, batch 1, hidden 1, input 1, and larger cases, both kinds, each direction */
    for (int lstm = 0; lstm < 2; lstm++)
        for (int dir = 0; dir < 3; dir++)
            for (int layout = 0; layout < 2; layout++) {
                rspec s = {.lstm = lstm, .dir = dir, .layout = layout, .lbr = layout, .bias = true, .h0 = true,
                           .c0 = true, .wconst = dir != 1, .want = {true, true, true}};
                s.T = 1;
                run_spec(&s);
                s.T = 0;
                s.N = 1;
                run_spec(&s);
                s.T = s.N = s.I = s.H = 1;
                run_spec(&s);
                s.T = 37;
                s.N = 6;
                s.I = 19;
                s.H = 45;
                s.wconst = !s.wconst;
                run_spec(&s);
                /* enough work per step for the primitive to get both threads */
                s.T = 5;
                s.N = 41;
                s.I = 9;
                s.H = 67;
                run_spec(&s);
            }
}

/* --- fallbacks -------------------------------------------------------------------------------------- */

static const float hs_alpha = 0.3f;

static void fallback_case(bool lstm, int what)
{
    rspec s = {.lstm = lstm, .dir = what % 3, .layout = what % 2, .lbr = 1, .bias = true, .h0 = true, .c0 = true,
               .wconst = what % 2 == 0, .want = {true, true, true}};
    rcase c;
    make_case(&c, &s);
    const char *why = "";
    int64_t D = s.dir == 2 ? 2 : 1, H = c.in[2].dims[2], N = c.in[0].dims[s.layout ? 0 : 1];
    switch (what) {
    case 0:
        c.attrs[c.n_attrs++] = wt_attr_float("clip", 0.5f);
        why = " clip";
        break;
    case 1: {
        /* GRU: Sigmoid, Relu; LSTM: Sigmoid, Tanh, Relu per direction */
        int n_act = lstm ? 3 : 2;
        for (int d = 0; d < D; d++)
            for (int j = 0; j < n_act; j++)
                c.act_names[d * n_act + j] = (char *)(j == 0 ? "Sigmoid" : j == n_act - 1 ? "Relu" : "Tanh");
        weft_attr a = {0};
        a.name = "activations";
        a.type = WEFT_ATTR_STRINGS;
        a.n = (int)D * n_act;
        a.strings = c.act_names;
        c.attrs[c.n_attrs++] = a;
        why = " activations";
        break;
    }
    case 2: {
        /* a shorter sequence, run-time sequence_lens */
        int64_t T = c.in[0].dims[s.layout ? 1 : 0];
        c.in[4] = wt_alloc(WEFT_INT64, 1, &N);
        for (int64_t b = 0; b < N; b++) ((int64_t *)c.in[4].data)[b] = b == N - 1 ? T - 1 : T;
        why = " sequence_lens shorter";
        break;
    }
    case 3:
        if (lstm) {
            int64_t pd[2] = {D, 3 * H};
            c.in[7] = rand_tensor(2, pd, 0.5f);
            c.n_in = 8;
            why = " peepholes";
        } else {
            c.attrs[c.n_attrs++] = wt_attr_float("clip", 3.0f);
            why = " clip";
        }
        break;
    case 4:
        if (lstm) {
            c.attrs[c.n_attrs++] = wt_attr_int("input_forget", 1);
            why = " input_forget";
        } else {
            /* HardSigmoid with its own alpha in place of Sigmoid */
            for (int d = 0; d < D; d++) {
                c.act_names[2 * d] = (char *)"HardSigmoid";
                c.act_names[2 * d + 1] = (char *)"Tanh";
            }
            weft_attr a = {0};
            a.name = "activations";
            a.type = WEFT_ATTR_STRINGS;
            a.n = (int)D * 2;
            a.strings = c.act_names;
            c.attrs[c.n_attrs++] = a;
            c.attrs[c.n_attrs++] = wt_attr_floats("activation_alpha", 1, &hs_alpha);
            why = " HardSigmoid";
        }
        break;
    }
    strncat(c.label, why, sizeof c.label - strlen(c.label) - 1);
    check(&c, true);
    free_case(&c);
}

static void test_fallbacks(void)
{
    for (int lstm = 0; lstm < 2; lstm++)
        for (int what = 0; what < 5; what++) fallback_case(lstm, what);
}

/* --- a session: LSTM (bidirectional) -> GRU, on onednn and on ref ----------------------------------- */

static bool run_graph(const char *backend, const float *x, int64_t T, int64_t N, int64_t I, float *out, size_t n_out)
{
    enum { H1 = 11, H2 = 7 };
    weft_symtab *syms = calloc(1, sizeof *syms);
    weft_graph *g = weft_graph_new(NULL, syms);
    uint64_t save = rng;
    rng = 0xabcdef12345ull;
    int64_t xd[3] = {T, N, I};
    int64_t w1d[3] = {2, 4 * H1, I}, r1d[3] = {2, 4 * H1, H1}, b1d[2] = {2, 8 * H1};
    int64_t w2d[3] = {1, 3 * H2, 2 * H1}, r2d[3] = {1, 3 * H2, H2}, b2d[2] = {1, 6 * H2};
    int64_t shd[1] = {3};
    float *w1 = malloc(sizeof(float) * 2 * 4 * H1 * I), r1[2 * 4 * H1 * H1], b1[2 * 8 * H1];
    float w2[3 * H2 * 2 * H1], r2[3 * H2 * H2], b2[6 * H2];
    for (int i = 0; i < 2 * 4 * H1 * I; i++) w1[i] = uniform() * 0.5f;
    for (size_t i = 0; i < sizeof r1 / sizeof *r1; i++) r1[i] = uniform() * 0.5f;
    for (size_t i = 0; i < sizeof b1 / sizeof *b1; i++) b1[i] = uniform() * 0.5f;
    for (size_t i = 0; i < sizeof w2 / sizeof *w2; i++) w2[i] = uniform() * 0.5f;
    for (size_t i = 0; i < sizeof r2 / sizeof *r2; i++) r2[i] = uniform() * 0.5f;
    for (size_t i = 0; i < sizeof b2 / sizeof *b2; i++) b2[i] = uniform() * 0.5f;
    rng = save;
    int64_t shape[3] = {T, N, 2 * H1};
    int xv = irb_input(g, "x", WEFT_FLOAT32, 3, xd);
    int w1v = irb_constant(g, "w1", WEFT_FLOAT32, 3, w1d, w1);
    int r1v = irb_constant(g, "r1", WEFT_FLOAT32, 3, r1d, r1);
    int b1v = irb_constant(g, "b1", WEFT_FLOAT32, 2, b1d, b1);
    int w2v = irb_constant(g, "w2", WEFT_FLOAT32, 3, w2d, w2);
    int r2v = irb_constant(g, "r2", WEFT_FLOAT32, 3, r2d, r2);
    int b2v = irb_constant(g, "b2", WEFT_FLOAT32, 2, b2d, b2);
    int sv = irb_constant(g, "shape", WEFT_INT64, 1, shd, shape);
    free(w1);
    int y = irb_node(g, "LSTM", "", 14, (int[]){xv, w1v, r1v, b1v}, 4, "lstm", 1);
    irb_attr_s(g, y, "direction", "bidirectional");
    irb_attr_i(g, y, "hidden_size", H1);
    /* Y [T, 2, N, H1] -> [T, N, 2, H1] -> [T, N, 2*H1] */
    int tr = irb_node(g, "Transpose", "", 14, &y, 1, "tr", 1);
    irb_attr_ints(g, tr, "perm", 4, (int64_t[]){0, 2, 1, 3});
    int rs = irb_node(g, "Reshape", "", 14, (int[]){tr, sv}, 2, "rs", 1);
    int y2 = irb_node(g, "GRU", "", 14, (int[]){rs, w2v, r2v, b2v}, 4, "gru", 1);
    irb_attr_i(g, y2, "hidden_size", H2);
    irb_attr_i(g, y2, "linear_before_reset", 1);
    irb_output(g, y2);
    weft_ir_resolve_ops(g, NULL);
    weft_plan *p = NULL;
    weft_session *s = NULL;
    const weft_backend *be[2];
    int nb = 0;
    bool ok = weft_compile_graph(g, 1, NULL, NULL) == WEFT_OK && weft_backend_parse_list(backend, be, 2, &nb) == WEFT_OK;
    if (ok) ok = weft_plan_lower(g, syms, be, nb, NULL, &p) == WEFT_OK;
    else {
        weft_graph_free(g);
        weft_symtab_free(syms);
        free(syms);
    }
    ok = ok && weft_session_create(p, &s) == WEFT_OK;
    weft_tensor in = {"x", WEFT_FLOAT32, 3, {T, N, I}, (void *)x, (size_t)(T * N * I) * sizeof(float)};
    weft_tensor o;
    memset(&o, 0, sizeof o);
    ok = ok && weft_session_run(s, &in, 1, &o, 1) == WEFT_OK && o.nbytes == n_out * sizeof(float);
    if (ok) memcpy(out, o.data, o.nbytes);
    else fprintf(stderr, "\n  graph on %s: %s\n", backend, weft_last_error());
    weft_session_free(s);
    weft_plan_free(p);
    return ok;
}

static void test_session(void)
{
    enum { T = 6, N = 3, I = 5, NO = T * 1 * N * 7 };
    float x[T * N * I], a[NO], b[NO];
    for (int i = 0; i < T * N * I; i++) x[i] = uniform();
    CU_ASSERT_FATAL(run_graph("ref", x, T, N, I, a, NO));
    if (!weft_backend_find("onednn")) return;
    CU_ASSERT_FATAL(run_graph("onednn", x, T, N, I, b, NO));
    CU_ASSERT(close_enough(b, a, NO, 1e-4, "LSTM -> GRU session, onednn vs ref"));
}

int main(void)
{
    setenv("WEFT_ONEDNN_STRICT", "1", 1);
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("onednn_rnn", NULL, NULL);
    CU_add_test(s, "LSTM", test_lstm);
    CU_add_test(s, "GRU", test_gru);
    CU_add_test(s, "sequence length 1, batch 1, sizes 1, larger cases", test_edges);
    CU_add_test(s, "fallbacks to the reference kernel", test_fallbacks);
    CU_add_test(s, "LSTM -> GRU session", test_session);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int fails = (int)CU_get_number_of_failures();
    fprintf(stderr, "%d backend runs compared, %d through the fallback\n", n_compared, n_fallbacks);
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
