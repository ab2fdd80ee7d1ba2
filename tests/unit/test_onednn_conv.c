/*
 * tests/unit/test_onednn_conv.c — the `onednn` backend's convolutions, pools and batch norm
 * (ops/onednn/conv.c) against the reference kernels, and the conv-fusion pass
 * (compiler/pass_conv_fusion.c) against the unfused graph.
 *
 * Kernels: random shapes (odd sizes, batch > 1, groups, depthwise, dilations, strides larger than the
 * kernel, 1x1 kernels, explicit pads and every auto_pad, 1-D / 2-D / 3-D, ceil_mode, count_include_pad),
 * each driven through the backend's supports / prepare / reshape / run as the runtime drives it, on 1 and
 * 2 threads, with constant and run-time weights, compared with the op's reference kernel (through the op
 * harness) within 1e-4 relative. WEFT_ONEDNN_STRICT is set, so a shape the primitive declines is an
 * error here rather than a silent fallback to the reference.
 * Every kernel case runs again wrapped in ai.weft ChannelsLast (channels-last operands): the reference
 * wrapper must give the reference's numbers transposed bit for bit, the onednn backend within 1e-4.
 * Passes: small graphs (Conv + BatchNormalization + residual Add + Relu, and each activation) compiled at
 * -O1 must hold FusedConv and no BatchNormalization, and give -O0's outputs on `ref` within 1e-5 (and on
 * `onednn` within 1e-4); a chain of convolutions, pools and the ops between them must run channels-last
 * with Transposes only at its borders, with -O0's numbers.
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

#define MAX_IN 5
#define MAX_ATTRS 16

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static int rnd(int lo, int hi) { return lo + (int)(next_u32() % (uint32_t)(hi - lo + 1)); }
static float uniform(void) { return (float)((double)(next_u32() & 0xffffff) / (double)0x1000000 * 2.0 - 1.0); }

static weft_tensor rand_tensor(int rank, const int64_t *dims)
{
    weft_tensor t = wt_alloc(WEFT_FLOAT32, rank, dims);
    int64_t n = wt_numel(&t);
    for (int64_t i = 0; i < n; i++) ((float *)t.data)[i] = uniform();
    return t;
}

typedef struct kcase {
    const char *domain, *op;
    int opset;
    weft_attr attrs[MAX_ATTRS];
    int n_attrs;
    int64_t ints[MAX_ATTRS][16]; /* storage the attributes borrow */
    int n_in;
    weft_tensor in[MAX_IN];
    bool is_const[MAX_IN];
} kcase;

static void add_ints(kcase *c, const char *name, int n, const int64_t *v)
{
    memcpy(c->ints[c->n_attrs], v, (size_t)n * sizeof *v);
    c->attrs[c->n_attrs] = wt_attr_ints(name, n, c->ints[c->n_attrs]);
    c->n_attrs++;
}

static void free_case(kcase *c)
{
    for (int i = 0; i < c->n_in; i++)
        if (c->in[i].dtype != WEFT_UNDEFINED) free(c->in[i].data);
}

static int n_compared;

/* Runs case c on `be` with `threads` threads into out (n floats; dims of the reference's output). */
static weft_status drive(const weft_backend *be, const kcase *c, const weft_tensor *ref, int threads, float *out)
{
    weft_node_info node = {c->op, c->op, c->domain, c->opset, c->n_attrs, c->attrs};
    void *outs[1] = {out};
    return wt_drive_backend(be, &node, c->in, c->is_const, c->n_in, ref, 1, threads, 1, outs);
}

static bool close_enough(const float *got, const float *want, int64_t n, double rtol, const char *what)
{
    double maxabs = 0;
    for (int64_t i = 0; i < n; i++) maxabs = fmax(maxabs, fabs(want[i]));
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= rtol * fabs(want[i]) + rtol * maxabs + 1e-30)) {
            fprintf(stderr, "  %s: element %lld is %.9g, expected %.9g (max |expected| %.3g)\n", what, (long long)i,
                    got[i], want[i], maxabs);
            return false;
        }
    return true;
}

/* t ([N, C, S...]) copied channels-last ([N, S..., C]). */
static weft_tensor to_last(const weft_tensor *t)
{
    int64_t d[WEFT_MAX_RANK];
    d[0] = t->dims[0];
    for (int i = 1; i < t->rank - 1; i++) d[i] = t->dims[i + 1];
    d[t->rank - 1] = t->dims[1];
    weft_tensor o = wt_alloc(WEFT_FLOAT32, t->rank, d);
    int64_t N = t->dims[0], C = t->dims[1], S = 1;
    for (int i = 2; i < t->rank; i++) S *= t->dims[i];
    const float *a = t->data;
    float *b = o.data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t s = 0; s < S; s++) b[(n * S + s) * C + c] = a[(n * C + c) * S + s];
    return o;
}

/* The same case as ai.weft ChannelsLast (compiler/pass_channels_last.c), with input 0 channels-last or
 * (x_first) as given: the reference wrapper must give the reference's output transposed bit for bit,
 * the onednn backend (channels-last memory descriptors) within 1e-4. */
static void check_channels_last(const kcase *c, const weft_tensor *ref, const char *label, bool x_first)
{
    kcase w = *c;
    w.domain = "ai.weft";
    w.op = "ChannelsLast";
    w.opset = 1;
    w.attrs[w.n_attrs++] = wt_attr_string("op", c->op);
    w.attrs[w.n_attrs++] = wt_attr_string("op_domain", c->domain);
    w.attrs[w.n_attrs++] = wt_attr_int("op_opset", c->opset);
    if (x_first) w.attrs[w.n_attrs++] = wt_attr_int("x_channels_first", 1);
    bool fused = !strcmp(c->op, "FusedConv");
    for (int i = 0; i < c->n_in; i++)
        if (((i == 0 && !x_first) || (i == 3 && fused)) && c->in[i].dtype != WEFT_UNDEFINED) w.in[i] = to_last(&c->in[i]);
    weft_tensor want = to_last(ref), got_ref;
    memset(&got_ref, 0, sizeof got_ref);
    weft_status st = wt_run_op_domain(w.domain, w.op, w.opset, w.attrs, w.n_attrs, w.in, w.n_in, &got_ref, 1);
    if (st) fprintf(stderr, "  reference ChannelsLast %s: %s\n", label, weft_last_error());
    CU_ASSERT_EQUAL(st, WEFT_OK);
    if (!st) {
        CU_ASSERT_EQUAL(got_ref.rank, want.rank);
        CU_ASSERT(memcmp(got_ref.dims, want.dims, (size_t)want.rank * sizeof want.dims[0]) == 0);
        CU_ASSERT(memcmp(got_ref.data, want.data, (size_t)wt_numel(&want) * sizeof(float)) == 0);
        wt_free_outputs(&got_ref, 1);
    }
    const weft_backend *be = weft_backend_find("onednn");
    int64_t n = wt_numel(&want);
    float *got = malloc((size_t)(n ? n : 1) * sizeof(float));
    for (int threads = 1; be && threads <= 2; threads++) {
        st = drive(be, &w, &want, threads, got);
        if (st) fprintf(stderr, "  onednn ChannelsLast %s (%d threads): %s\n", label, threads, weft_last_error());
        CU_ASSERT_EQUAL(st, WEFT_OK);
        if (st) continue;
        char what[512];
        snprintf(what, sizeof what, "ChannelsLast %s, %d threads", label, threads);
        CU_ASSERT(close_enough(got, want.data, n, 1e-4, what));
        n_compared++;
    }
    free(got);
    free(want.data);
    for (int i = 0; i < c->n_in; i++)
        if (w.in[i].data != c->in[i].data) free(w.in[i].data);
}

/* The reference kernel's output, then the onednn backend's on 1 and 2 threads (and both again with the
 * activations channels-last, except for batch norm, which is not wrapped). */
static void check(kcase *c, const char *label)
{
    const weft_backend *be = weft_backend_find("onednn");
    weft_tensor ref;
    memset(&ref, 0, sizeof ref);
    weft_status st = wt_run_op_domain(c->domain, c->op, c->opset, c->attrs, c->n_attrs, c->in, c->n_in, &ref, 1);
    if (st) fprintf(stderr, "  reference %s: %s\n", label, weft_last_error());
    CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
    if (!be) {
        wt_free_outputs(&ref, 1);
        return;
    }
    int64_t n = wt_numel(&ref);
    float *got = malloc((size_t)(n ? n : 1) * sizeof(float));
    for (int threads = 1; threads <= 2; threads++) {
        st = drive(be, c, &ref, threads, got);
        if (st) fprintf(stderr, "  onednn %s (%d threads): %s\n", label, threads, weft_last_error());
        CU_ASSERT_EQUAL(st, WEFT_OK);
        if (st) continue;
        char what[512];
        snprintf(what, sizeof what, "%s, %d threads", label, threads);
        CU_ASSERT(close_enough(got, ref.data, n, 1e-4, what));
        n_compared++;
    }
    free(got);
    if (strcmp(c->op, "BatchNormalization") != 0) {
        check_channels_last(c, &ref, label, false);
        check_channels_last(c, &ref, label, true); /* input 0 read channels-first, as a chain's first step */
    }
    wt_free_outputs(&ref, 1);
}

static const char *const acts[] = {"", "relu", "leaky_relu", "clip", "sigmoid", "hard_sigmoid", "hard_swish", "silu"};

/* One random convolution: nsp spatial axes, `pad_mode` 0 explicit, 1 SAME_UPPER, 2 SAME_LOWER, 3 VALID,
 * 4 none; `fused` >= 0: FusedConv with acts[fused] (and an acc input when `acc`). */
static void conv_case(int nsp, int group_kind, int pad_mode, int fused, bool acc, bool wconst)
{
    kcase c;
    memset(&c, 0, sizeof c);
    c.domain = fused >= 0 ? "ai.weft" : "";
    c.op = fused >= 0 ? "FusedConv" : "Conv";
    c.opset = fused >= 0 ? 1 : 11;
    int64_t N = rnd(1, 3), G = 1, Cg = rnd(1, 5), Mg = rnd(1, 6);
    if (group_kind == 1) G = rnd(2, 3);
    if (group_kind == 2) { /* depthwise */
        G = rnd(3, 9);
        Cg = 1;
        Mg = rnd(1, 2);
    }
    int64_t C = Cg * G, M = Mg * G;
    int64_t xd[5] = {N, C}, wd[5] = {M, Cg}, k[3], s[3], dl[3], pads[6];
    char label[256];
    int len = snprintf(label, sizeof label, "%s N=%lld C=%lld M=%lld group=%lld", c.op, (long long)N, (long long)C,
                       (long long)M, (long long)G);
    for (int i = 0; i < nsp; i++) {
        k[i] = rnd(1, 3) + (rnd(0, 5) == 0 ? 2 : 0);
        s[i] = rnd(1, 3) + (rnd(0, 4) == 0 ? 3 : 0); /* sometimes larger than the kernel */
        dl[i] = rnd(1, 2);
        int64_t span = (k[i] - 1) * dl[i] + 1;
        pads[i] = pad_mode == 0 ? rnd(0, (int)k[i] - 1) : 0;
        pads[nsp + i] = pad_mode == 0 ? rnd(0, (int)k[i] - 1) : 0;
        xd[i + 2] = span + rnd(0, nsp == 3 ? 4 : 9);
        wd[i + 2] = k[i];
        len += snprintf(label + len, sizeof label - (size_t)len, " [in %lld k %lld s %lld d %lld p %lld,%lld]",
                        (long long)xd[i + 2], (long long)k[i], (long long)s[i], (long long)dl[i], (long long)pads[i],
                        (long long)pads[nsp + i]);
    }
    static const char *const modes[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    snprintf(label + len, sizeof label - (size_t)len, " %s%s%s%s%s", pad_mode < 4 ? modes[pad_mode] : "",
             fused >= 0 ? " act=" : "", fused >= 0 ? acts[fused] : "", acc ? " acc" : "", wconst ? " const-W" : "");
    add_ints(&c, "strides", nsp, s);
    add_ints(&c, "dilations", nsp, dl);
    add_ints(&c, "kernel_shape", nsp, k);
    if (pad_mode == 0) add_ints(&c, "pads", 2 * nsp, pads);
    else if (pad_mode < 4) c.attrs[c.n_attrs++] = wt_attr_string("auto_pad", modes[pad_mode]);
    if (G > 1 || rnd(0, 1)) c.attrs[c.n_attrs++] = wt_attr_int("group", G);
    if (fused >= 0 && acts[fused][0]) {
        c.attrs[c.n_attrs++] = wt_attr_string("activation", acts[fused]);
        if (!strcmp(acts[fused], "clip")) {
            c.attrs[c.n_attrs++] = wt_attr_float("alpha", 0.0f);
            c.attrs[c.n_attrs++] = wt_attr_float("beta", 0.5f);
        } else if (!strcmp(acts[fused], "leaky_relu")) {
            c.attrs[c.n_attrs++] = wt_attr_float("alpha", 0.1f);
        } else if (!strcmp(acts[fused], "hard_sigmoid")) {
            c.attrs[c.n_attrs++] = wt_attr_float("alpha", 1.0f / 6.0f);
        }
    }
    c.in[0] = rand_tensor(nsp + 2, xd);
    c.in[1] = rand_tensor(nsp + 2, wd);
    c.is_const[1] = wconst;
    c.n_in = 2;
    bool bias = rnd(0, 2) != 0;
    if (bias || acc) {
        c.in[2] = bias ? rand_tensor(1, &M) : wt_absent();
        c.is_const[2] = wconst;
        c.n_in = 3;
    }
    if (acc) {
        /* the output's shape: from the reference's inference */
        weft_tensor ref;
        memset(&ref, 0, sizeof ref);
        kcase plain = c;
        plain.n_in = 3;
        weft_status st = wt_run_op_domain(c.domain, c.op, c.opset, c.attrs, c.n_attrs, plain.in, 3, &ref, 1);
        CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
        c.in[3] = rand_tensor(ref.rank, ref.dims);
        c.n_in = 4;
        wt_free_outputs(&ref, 1);
    }
    check(&c, label);
    free_case(&c);
}

static void test_conv(void)
{
    for (int rep = 0; rep < 6; rep++)
        for (int nsp = 1; nsp <= 2; nsp++)
            for (int gk = 0; gk < 3; gk++)
                for (int pm = 0; pm < 5; pm++) conv_case(nsp, gk, pm, -1, false, (rep + pm) % 2 == 0);
    for (int rep = 0; rep < 3; rep++)
        for (int pm = 0; pm < 5; pm++) conv_case(3, rep % 3, pm, -1, false, rep % 2 == 0);
}

static void test_conv_1x1_and_big_stride(void)
{
    /* 1x1 kernels with stride 1 and 2, and a stride beyond the kernel, on both weight kinds */
    for (int w = 0; w < 2; w++) {
        kcase c;
        memset(&c, 0, sizeof c);
        c.domain = "";
        c.op = "Conv";
        c.opset = 11;
        int64_t xd[4] = {2, 7, 9, 11}, wd[4] = {5, 7, 1, 1}, s[2] = {w + 1, 3};
        add_ints(&c, "strides", 2, s);
        c.in[0] = rand_tensor(4, xd);
        c.in[1] = rand_tensor(4, wd);
        c.is_const[1] = w == 0;
        c.n_in = 2;
        check(&c, "Conv 1x1");
        free_case(&c);
    }
}

static void test_fused_conv(void)
{
    for (int a = 0; a < (int)(sizeof acts / sizeof acts[0]); a++)
        for (int acc = 0; acc < 2; acc++)
            for (int gk = 0; gk < 3; gk++) conv_case(2, gk, (a + gk) % 5, a, acc, (a + acc) % 2 == 0);
}

/* --- pools and batch norm --------------------------------------------------------------------------- */

static void pool_case(const char *op, int nsp, bool ceil, int count_pad, int pad_mode, bool dil)
{
    kcase c;
    memset(&c, 0, sizeof c);
    c.domain = "";
    c.op = op;
    c.opset = 19;
    bool global = !strncmp(op, "Global", 6);
    int64_t xd[5] = {rnd(1, 3), rnd(1, 7)}, k[3], s[3], dl[3], pads[6];
    char label[256];
    int len = snprintf(label, sizeof label, "%s N=%lld C=%lld%s%s", op, (long long)xd[0], (long long)xd[1],
                       ceil ? " ceil" : "", count_pad ? " count_include_pad" : "");
    for (int i = 0; i < nsp; i++) {
        k[i] = rnd(1, 4);
        s[i] = rnd(1, 3);
        dl[i] = dil ? rnd(1, 2) : 1;
        int64_t span = (k[i] - 1) * dl[i] + 1;
        pads[i] = pad_mode == 0 ? rnd(0, (int)k[i] - 1) : 0;
        pads[nsp + i] = pad_mode == 0 ? rnd(0, (int)k[i] - 1) : 0;
        /* ONNX pools want pads smaller than the dilated kernel's reach from either side */
        if (pads[i] >= span) pads[i] = span - 1;
        if (pads[nsp + i] >= span) pads[nsp + i] = span - 1;
        xd[i + 2] = span + rnd(0, 8);
        len += snprintf(label + len, sizeof label - (size_t)len, " [in %lld k %lld s %lld d %lld p %lld,%lld]",
                        (long long)xd[i + 2], (long long)k[i], (long long)s[i], (long long)dl[i], (long long)pads[i],
                        (long long)pads[nsp + i]);
    }
    if (!global) {
        static const char *const modes[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
        add_ints(&c, "kernel_shape", nsp, k);
        add_ints(&c, "strides", nsp, s);
        if (dil) add_ints(&c, "dilations", nsp, dl);
        if (pad_mode == 0) add_ints(&c, "pads", 2 * nsp, pads);
        else c.attrs[c.n_attrs++] = wt_attr_string("auto_pad", modes[pad_mode]);
        if (ceil) c.attrs[c.n_attrs++] = wt_attr_int("ceil_mode", 1);
        if (count_pad >= 0) c.attrs[c.n_attrs++] = wt_attr_int("count_include_pad", count_pad);
        snprintf(label + len, sizeof label - (size_t)len, " %s", modes[pad_mode]);
    }
    c.in[0] = rand_tensor(nsp + 2, xd);
    c.n_in = 1;
    /* a shape the primitive declines (ceil_mode past the padding with count_include_pad) falls back to
     * the reference: checked without the strict setting */
    bool lenient = ceil && count_pad == 1;
    if (lenient) unsetenv("WEFT_ONEDNN_STRICT");
    check(&c, label);
    if (lenient) setenv("WEFT_ONEDNN_STRICT", "1", 1);
    free_case(&c);
}

static void test_pools(void)
{
    for (int rep = 0; rep < 3; rep++)
        for (int nsp = 1; nsp <= 3; nsp++)
            for (int pm = 0; pm < 4; pm++) {
                bool ceil = pm == 0 && rep != 1;
                bool dil = rep == 2;
                pool_case("MaxPool", nsp, ceil, -1, pm, dil);
                pool_case("AveragePool", nsp, ceil, 0, pm, false);
                pool_case("AveragePool", nsp, ceil, 1, pm, false);
            }
    for (int nsp = 1; nsp <= 3; nsp++) {
        pool_case("GlobalAveragePool", nsp, false, -1, 0, false);
        pool_case("GlobalMaxPool", nsp, false, -1, 0, false);
    }
}

static void test_batchnorm(void)
{
    for (int rank = 2; rank <= 5; rank++) {
        kcase c;
        memset(&c, 0, sizeof c);
        c.domain = "";
        c.op = "BatchNormalization";
        c.opset = 15;
        int64_t xd[5] = {rnd(1, 3), rnd(1, 9), rnd(1, 7), rnd(1, 5), rnd(1, 3)};
        c.in[0] = rand_tensor(rank, xd);
        for (int i = 1; i < 5; i++) {
            c.in[i] = rand_tensor(1, &xd[1]);
            if (i == 4)
                for (int64_t q = 0; q < xd[1]; q++) ((float *)c.in[4].data)[q] = fabsf(((float *)c.in[4].data)[q]) + 0.1f;
            c.is_const[i] = rank % 2 == 0;
        }
        c.n_in = 5;
        c.attrs[c.n_attrs++] = wt_attr_float("epsilon", 1e-3f);
        check(&c, "BatchNormalization");
        free_case(&c);
    }
}

/* --- the pass --------------------------------------------------------------------------------------- */

/* The graphs of the pass tests: x [N, 6, 9, 8] -> Conv(6 -> 6, 3x3, pad 1) -> `form`. */
enum { F_BN_ADD_RELU, F_CLIP, F_SILU, F_HARDSWISH, F_LEAKY, F_HARDSIGMOID, F_SIGMOID, F_BN_DW_RELU6, F_COUNT };

static weft_graph *build(int form, weft_symtab *syms)
{
    weft_graph *g = weft_graph_new(NULL, syms);
    int64_t xd[4] = {2, 6, 9, 8}, wd[4] = {6, form == F_BN_DW_RELU6 ? 1 : 6, 3, 3}, cd[1] = {6};
    float w[6 * 6 * 9], b[6], gamma[6], beta[6], mean[6], var[6];
    uint64_t save = rng;
    rng = 0x1234567 + (uint64_t)form;
    for (int i = 0; i < 6 * 6 * 9; i++) w[i] = uniform() * 0.5f;
    for (int i = 0; i < 6; i++) {
        b[i] = uniform();
        gamma[i] = 1.0f + uniform() * 0.5f;
        beta[i] = uniform();
        mean[i] = uniform();
        var[i] = 0.5f + fabsf(uniform());
    }
    rng = save;
    int x = irb_input(g, "x", WEFT_FLOAT32, 4, xd);
    int wv = irb_constant(g, "w", WEFT_FLOAT32, 4, wd, w);
    int bv = irb_constant(g, "b", WEFT_FLOAT32, 1, cd, b);
    int y = irb_node(g, "Conv", "", 17, (int[]){x, wv, bv}, 3, "conv", 1);
    int64_t pads[4] = {1, 1, 1, 1};
    irb_attr_ints(g, y, "pads", 4, pads);
    if (form == F_BN_DW_RELU6) irb_attr_i(g, y, "group", 6);
    if (form == F_BN_ADD_RELU || form == F_BN_DW_RELU6) {
        int gv = irb_constant(g, "gamma", WEFT_FLOAT32, 1, cd, gamma);
        int be = irb_constant(g, "beta", WEFT_FLOAT32, 1, cd, beta);
        int mv = irb_constant(g, "mean", WEFT_FLOAT32, 1, cd, mean);
        int vv = irb_constant(g, "var", WEFT_FLOAT32, 1, cd, var);
        y = irb_node(g, "BatchNormalization", "", 17, (int[]){y, gv, be, mv, vv}, 5, "bn", 1);
        irb_attr_f(g, y, "epsilon", 1e-3f);
    }
    switch (form) {
    case F_BN_ADD_RELU:
        y = irb_node(g, "Add", "", 17, (int[]){x, y}, 2, "add", 1);
        y = irb_node(g, "Relu", "", 17, &y, 1, "relu", 1);
        break;
    case F_CLIP:
    case F_BN_DW_RELU6: {
        float lo = 0, hi = 6;
        int lv = irb_constant(g, "lo", WEFT_FLOAT32, 0, NULL, &lo);
        int hv = irb_constant(g, "hi", WEFT_FLOAT32, 0, NULL, &hi);
        y = irb_node(g, "Clip", "", 17, (int[]){y, lv, hv}, 3, "clip", 1);
        break;
    }
    case F_SILU: {
        int sg = irb_node(g, "Sigmoid", "", 17, &y, 1, "sig", 1);
        y = irb_node(g, "Mul", "", 17, (int[]){y, sg}, 2, "silu", 1);
        break;
    }
    case F_HARDSWISH: y = irb_node(g, "HardSwish", "", 17, &y, 1, "hs", 1); break;
    case F_LEAKY:
        y = irb_node(g, "LeakyRelu", "", 17, &y, 1, "lrelu", 1);
        irb_attr_f(g, y, "alpha", 0.2f);
        break;
    case F_HARDSIGMOID: y = irb_node(g, "HardSigmoid", "", 17, &y, 1, "hsig", 1); break;
    case F_SIGMOID: y = irb_node(g, "Sigmoid", "", 17, &y, 1, "sigm", 1); break;
    default: break;
    }
    irb_output(g, y);
    return g;
}

static int count_op(const weft_graph *g, const char *op)
{
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++) c += !strcmp(g->nodes[i].op_type, op);
    return c;
}

/* Runs form at -O`lvl` on `backend` into out (2*6*9*8 floats); counts FusedConv / BatchNormalization. */
static bool run_form(int form, int lvl, const char *backend, const float *x, float *out, int *fused, int *bn)
{
    weft_symtab *syms = calloc(1, sizeof *syms);
    weft_graph *g = build(form, syms);
    weft_ir_resolve_ops(g, NULL);
    weft_plan *p = NULL;
    weft_session *s = NULL;
    bool ok = weft_compile_graph(g, lvl, NULL, NULL) == WEFT_OK;
    if (ok) {
        *fused = count_op(g, "FusedConv");
        *bn = count_op(g, "BatchNormalization");
    }
    const weft_backend *be[2];
    int nb = 0;
    ok = ok && weft_backend_parse_list(backend, be, 2, &nb) == WEFT_OK;
    if (ok) ok = weft_plan_lower(g, syms, be, nb, NULL, &p) == WEFT_OK;
    else {
        weft_graph_free(g);
        weft_symtab_free(syms);
        free(syms);
    }
    ok = ok && weft_session_create(p, &s) == WEFT_OK;
    weft_tensor in = {"x", WEFT_FLOAT32, 4, {2, 6, 9, 8}, (void *)x, 2 * 6 * 9 * 8 * sizeof(float)};
    weft_tensor o;
    memset(&o, 0, sizeof o);
    ok = ok && weft_session_run(s, &in, 1, &o, 1) == WEFT_OK && o.nbytes == 2 * 6 * 9 * 8 * sizeof(float);
    if (ok) memcpy(out, o.data, o.nbytes);
    else fprintf(stderr, "\n  form %d -O%d on %s: %s\n", form, lvl, backend, weft_last_error());
    weft_session_free(s);
    weft_plan_free(p);
    return ok;
}

static void test_pass(void)
{
    enum { NX = 2 * 6 * 9 * 8 };
    float x[NX], o0[NX], o1[NX], od[NX];
    for (int i = 0; i < NX; i++) x[i] = uniform() * 2.0f;
    for (int form = 0; form < F_COUNT; form++) {
        int f0 = 0, b0 = 0, f1 = 0, b1 = 0;
        CU_ASSERT_FATAL(run_form(form, 0, "ref", x, o0, &f0, &b0));
        CU_ASSERT_FATAL(run_form(form, 1, "ref", x, o1, &f1, &b1));
        bool has_bn = form == F_BN_ADD_RELU || form == F_BN_DW_RELU6;
        CU_ASSERT_EQUAL(f0, 0);
        CU_ASSERT_EQUAL(b0, has_bn);
        CU_ASSERT_EQUAL(f1, 1);
        CU_ASSERT_EQUAL(b1, 0);
        char what[64];
        snprintf(what, sizeof what, "form %d: -O1 vs -O0 on ref", form);
        /* bit for bit without a folded batch norm */
        CU_ASSERT(close_enough(o1, o0, NX, has_bn ? 1e-5 : 0, what));
        if (weft_backend_find("onednn")) {
            int fd, bd;
            CU_ASSERT_FATAL(run_form(form, 1, "onednn", x, od, &fd, &bd));
            snprintf(what, sizeof what, "form %d: onednn -O1 vs ref -O0", form);
            CU_ASSERT(close_enough(od, o0, NX, 1e-4, what));
        }
    }
}

/* --- the channels-last pass --------------------------------------------------------------------------- */

/* x [2, 6, 9, 8] -> Conv(6 -> 8, 3x3, pad 1) -> Relu = r (also a graph output) -> Conv(8 -> 8, 3x3, pad 1)
 * -> Add r -> MaxPool 2x2 -> Mul by a per-channel [1, 8, 1, 1] constant -> Concat(axis 1) with a
 * depthwise conv of itself -> Sigmoid -> GlobalAveragePool -> Flatten = y. Every op follows the layout but
 * Flatten: Transposes at r (a graph output) and before Flatten; the first Conv reads x as given. */
static weft_graph *build_chain(weft_symtab *syms)
{
    weft_graph *g = weft_graph_new(NULL, syms);
    int64_t xd[4] = {2, 6, 9, 8}, w1d[4] = {8, 6, 3, 3}, w2d[4] = {8, 8, 3, 3}, w3d[4] = {8, 1, 3, 3}, sd[4] = {1, 8, 1, 1};
    float w1[8 * 6 * 9], w2[8 * 8 * 9], w3[8 * 9], sc[8];
    uint64_t save = rng;
    rng = 0x7654321;
    for (int i = 0; i < 8 * 6 * 9; i++) w1[i] = uniform() * 0.5f;
    for (int i = 0; i < 8 * 8 * 9; i++) w2[i] = uniform() * 0.3f;
    for (int i = 0; i < 8 * 9; i++) w3[i] = uniform() * 0.5f;
    for (int i = 0; i < 8; i++) sc[i] = 1.0f + uniform();
    rng = save;
    int64_t pads[4] = {1, 1, 1, 1}, k2[2] = {2, 2};
    int x = irb_input(g, "x", WEFT_FLOAT32, 4, xd);
    int c1 = irb_node(g, "Conv", "", 17, (int[]){x, irb_constant(g, "w1", WEFT_FLOAT32, 4, w1d, w1)}, 2, "c1", 1);
    irb_attr_ints(g, c1, "pads", 4, pads);
    int r = irb_node(g, "Relu", "", 17, &c1, 1, "r", 1);
    int c2 = irb_node(g, "Conv", "", 17, (int[]){r, irb_constant(g, "w2", WEFT_FLOAT32, 4, w2d, w2)}, 2, "c2", 1);
    irb_attr_ints(g, c2, "pads", 4, pads);
    int a = irb_node(g, "Add", "", 17, (int[]){c2, r}, 2, "a", 1);
    int mp = irb_node(g, "MaxPool", "", 17, &a, 1, "mp", 1);
    irb_attr_ints(g, mp, "kernel_shape", 2, k2);
    irb_attr_ints(g, mp, "strides", 2, k2);
    int m = irb_node(g, "Mul", "", 17, (int[]){mp, irb_constant(g, "scale", WEFT_FLOAT32, 4, sd, sc)}, 2, "m", 1);
    int dw = irb_node(g, "Conv", "", 17, (int[]){m, irb_constant(g, "w3", WEFT_FLOAT32, 4, w3d, w3)}, 2, "dw", 1);
    irb_attr_ints(g, dw, "pads", 4, pads);
    irb_attr_i(g, dw, "group", 8);
    int cat = irb_node(g, "Concat", "", 17, (int[]){m, dw}, 2, "cat", 1);
    irb_attr_i(g, cat, "axis", 1);
    int sg = irb_node(g, "Sigmoid", "", 17, &cat, 1, "sg", 1);
    int gap = irb_node(g, "GlobalAveragePool", "", 17, &sg, 1, "gap", 1);
    int y = irb_node(g, "Flatten", "", 17, &gap, 1, "y", 1);
    irb_output(g, y);
    irb_output(g, r);
    return g;
}

/* Runs the chain at -O`lvl` on `backend`: y [2, 16] into y, r [2, 8, 9, 8] into r; counts ChannelsLast
 * and Transpose nodes. */
static bool run_chain(int lvl, const char *backend, const float *x, float *y, float *r, int *n_cl, int *n_tr)
{
    weft_symtab *syms = calloc(1, sizeof *syms);
    weft_graph *g = build_chain(syms);
    weft_ir_resolve_ops(g, NULL);
    weft_plan *p = NULL;
    weft_session *s = NULL;
    bool ok = weft_compile_graph(g, lvl, NULL, NULL) == WEFT_OK;
    if (ok) {
        *n_cl = count_op(g, "ChannelsLast");
        *n_tr = count_op(g, "Transpose");
    }
    const weft_backend *be[2];
    int nb = 0;
    ok = ok && weft_backend_parse_list(backend, be, 2, &nb) == WEFT_OK;
    if (ok) ok = weft_plan_lower(g, syms, be, nb, NULL, &p) == WEFT_OK;
    else {
        weft_graph_free(g);
        weft_symtab_free(syms);
        free(syms);
    }
    ok = ok && weft_session_create(p, &s) == WEFT_OK;
    weft_tensor in = {"x", WEFT_FLOAT32, 4, {2, 6, 9, 8}, (void *)x, 2 * 6 * 9 * 8 * sizeof(float)};
    weft_tensor o[2];
    memset(o, 0, sizeof o);
    ok = ok && weft_session_run(s, &in, 1, o, 2) == WEFT_OK && o[0].nbytes == 2 * 16 * sizeof(float) &&
         o[1].nbytes == 2 * 8 * 9 * 8 * sizeof(float) && o[1].dims[1] == 8;
    if (ok) {
        memcpy(y, o[0].data, o[0].nbytes);
        memcpy(r, o[1].data, o[1].nbytes);
    } else {
        fprintf(stderr, "\n  chain -O%d on %s: %s\n", lvl, backend, weft_last_error());
    }
    weft_session_free(s);
    weft_plan_free(p);
    return ok;
}

static void test_channels_last_pass(void)
{
    enum { NX = 2 * 6 * 9 * 8, NY = 2 * 16, NR = 2 * 8 * 9 * 8 };
    float x[NX], y0[NY], y1[NY], r0[NR], r1[NR];
    for (int i = 0; i < NX; i++) x[i] = uniform() * 2.0f;
    int cl0 = -1, tr0 = -1, cl1 = -1, tr1 = -1;
    CU_ASSERT_FATAL(run_chain(0, "ref", x, y0, r0, &cl0, &tr0));
    CU_ASSERT_FATAL(run_chain(1, "ref", x, y1, r1, &cl1, &tr1));
    CU_ASSERT_EQUAL(cl0, 0);
    CU_ASSERT_EQUAL(tr0, 0);
    CU_ASSERT_EQUAL(cl1, 5); /* three convolutions (two fused), the max pool and the global pool */
    CU_ASSERT_EQUAL(tr1, 2);
    /* the reference wrapper computes the wrapped ops' numbers bit for bit */
    CU_ASSERT(close_enough(y1, y0, NY, 0, "chain y: -O1 vs -O0 on ref"));
    CU_ASSERT(close_enough(r1, r0, NR, 0, "chain r: -O1 vs -O0 on ref"));
    if (weft_backend_find("onednn")) {
        CU_ASSERT_FATAL(run_chain(1, "onednn", x, y1, r1, &cl1, &tr1));
        CU_ASSERT(close_enough(y1, y0, NY, 1e-4, "chain y: onednn -O1 vs ref -O0"));
        CU_ASSERT(close_enough(r1, r0, NR, 1e-4, "chain r: onednn -O1 vs ref -O0"));
    }
}

int main(void)
{
    setenv("WEFT_ONEDNN_STRICT", "1", 1);
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("onednn_conv", NULL, NULL);
    CU_add_test(s, "conv", test_conv);
    CU_add_test(s, "conv 1x1 and strides past the kernel", test_conv_1x1_and_big_stride);
    CU_add_test(s, "fused conv", test_fused_conv);
    CU_add_test(s, "pools", test_pools);
    CU_add_test(s, "batch norm", test_batchnorm);
    CU_add_test(s, "conv-fusion pass", test_pass);
    CU_add_test(s, "channels-last pass", test_channels_last_pass);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int fails = (int)CU_get_number_of_failures();
    fprintf(stderr, "%d backend runs compared\n", n_compared);
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
