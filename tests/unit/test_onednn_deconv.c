/*
 * tests/unit/test_onednn_deconv.c — the `onednn` backend's ConvTranspose (ops/onednn/deconv.c) against
 * the reference kernel (ops/conv.c).
 *
 * Random shapes (odd sizes, batch > 1, groups, depthwise, dilations, strides larger than the kernel,
 * 1-D / 2-D / 3-D, explicit pads and every auto_pad, output_padding, output_shape with and without pads,
 * in both of its forms, smaller and larger than the input covers, with and without bias), each driven
 * through the backend's supports / prepare / reshape / run as the runtime drives it, on 1 and 2 threads,
 * with constant and run-time weights, compared with the reference kernel (through the op harness) within
 * 1e-4 relative. WEFT_ONEDNN_STRICT is set, so a shape the primitive declines is an error here rather
 * than a silent fallback; one test unsets it and checks that shapes outside the primitive's form (an
 * empty batch) run the reference kernel.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/backend.h"
#include "tests/unit/op_harness.h"

#define MAX_IN 3
#define MAX_ATTRS 12

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

static weft_tensor rand_tensor(int rank, const int64_t *dims)
{
    weft_tensor t = wt_alloc(WEFT_FLOAT32, rank, dims);
    int64_t n = wt_numel(&t);
    for (int64_t i = 0; i < n; i++) ((float *)t.data)[i] = uniform();
    return t;
}

typedef struct kcase {
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

/* Runs case c on `be` with `threads` threads into out (dims of the reference's output). */
static weft_status drive(const weft_backend *be, const kcase *c, const weft_tensor *ref, int threads, float *out)
{
    weft_node_info node = {"ConvTranspose", "ConvTranspose", "", 11, c->n_attrs, c->attrs};
    void *outs[1] = {out};
    /* twice: a second run on the same state must give the same numbers */
    return wt_drive_backend(be, &node, c->in, c->is_const, c->n_in, ref, 1, threads, 2, outs);
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

/* The reference kernel's output, then the onednn backend's on 1 and 2 threads. */
static void check(kcase *c, const char *label)
{
    const weft_backend *be = weft_backend_find("onednn");
    weft_tensor ref;
    memset(&ref, 0, sizeof ref);
    weft_status st = wt_run_op_domain("", "ConvTranspose", 11, c->attrs, c->n_attrs, c->in, c->n_in, &ref, 1);
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
        char what[600];
        snprintf(what, sizeof what, "%s, %d threads", label, threads);
        CU_ASSERT(close_enough(got, ref.data, n, 1e-4, what));
        n_compared++;
    }
    free(got);
    wt_free_outputs(&ref, 1);
}

enum { PM_PADS, PM_SAME_UPPER, PM_SAME_LOWER, PM_VALID, PM_NONE, PM_OUTPUT_SHAPE, PM_OUTPUT_SHAPE_PADS, PM_COUNT };
static const char *const pm_names[] = {"pads", "SAME_UPPER", "SAME_LOWER", "VALID", "none", "output_shape",
                                       "output_shape+pads"};

/* One random ConvTranspose: nsp spatial axes; group_kind 0 none, 1 groups, 2 depthwise; pad_mode PM_*;
 * `opad`: with output_padding; `bias` 0 none, 1 given, 2 absent input in its slot. */
static void deconv_case(int nsp, int group_kind, int pad_mode, bool opad, bool wconst, int bias)
{
    kcase c;
    memset(&c, 0, sizeof c);
    int64_t N = rnd(1, 3), G = 1, Cg = rnd(1, 5), Mg = rnd(1, 6);
    if (group_kind == 1) G = rnd(2, 3);
    if (group_kind == 2) { /* depthwise */
        G = rnd(3, 9);
        Cg = 1;
        Mg = rnd(1, 2);
    }
    int64_t C = Cg * G, M = Mg * G;
    int64_t xd[5] = {N, C}, wd[5] = {C, Mg}, k[3], s[3], dl[3], pads[6], op[3], os[5];
    bool long_os = rnd(0, 1); /* output_shape with N and C in front */
    char label[512];
    int len = snprintf(label, sizeof label, "ConvTranspose N=%lld C=%lld M=%lld group=%lld", (long long)N, (long long)C,
                       (long long)M, (long long)G);
    for (int i = 0; i < nsp; i++) {
        k[i] = rnd(1, 3) + (rnd(0, 5) == 0 ? 2 : 0);
        s[i] = rnd(1, 3) + (rnd(0, 4) == 0 ? 3 : 0); /* sometimes larger than the kernel */
        dl[i] = rnd(1, 2);
        int64_t span = (k[i] - 1) * dl[i] + 1;
        xd[i + 2] = rnd(1, nsp == 3 ? 5 : 9);
        wd[i + 2] = k[i];
        int64_t maxop = (s[i] > dl[i] ? s[i] : dl[i]) - 1;
        op[i] = opad ? rnd(0, (int)maxop) : 0;
        int64_t full = s[i] * (xd[i + 2] - 1) + op[i] + span;
        pads[i] = pads[nsp + i] = 0;
        if (pad_mode == PM_PADS || pad_mode == PM_OUTPUT_SHAPE_PADS) {
            pads[i] = rnd(0, (int)k[i] - 1);
            pads[nsp + i] = rnd(0, (int)k[i] - 1);
            while (pads[i] + pads[nsp + i] >= full) pads[rnd(0, 1) ? i : nsp + i] = 0;
        }
        /* output_shape: smaller than the input covers, or larger (the extra positions get the bias) */
        os[i] = full - rnd(0, (int)span - 1) + (rnd(0, 3) == 0 ? rnd(1, 3) : 0);
        if (os[i] < 1) os[i] = 1;
        len += snprintf(label + len, sizeof label - (size_t)len, " [in %lld k %lld s %lld d %lld p %lld,%lld op %lld os %lld]",
                        (long long)xd[i + 2], (long long)k[i], (long long)s[i], (long long)dl[i], (long long)pads[i],
                        (long long)pads[nsp + i], (long long)op[i], (long long)os[i]);
    }
    snprintf(label + len, sizeof label - (size_t)len, " %s%s%s%s", pm_names[pad_mode], wconst ? " const-W" : "",
             bias == 1 ? " bias" : bias == 2 ? " absent-bias" : "", long_os ? " long-os" : "");
    add_ints(&c, "strides", nsp, s);
    add_ints(&c, "dilations", nsp, dl);
    if (rnd(0, 1)) add_ints(&c, "kernel_shape", nsp, k);
    if (opad) add_ints(&c, "output_padding", nsp, op);
    if (pad_mode == PM_PADS || pad_mode == PM_OUTPUT_SHAPE_PADS) add_ints(&c, "pads", 2 * nsp, pads);
    if (pad_mode == PM_SAME_UPPER || pad_mode == PM_SAME_LOWER || pad_mode == PM_VALID)
        c.attrs[c.n_attrs++] = wt_attr_string("auto_pad", pm_names[pad_mode]);
    if (pad_mode == PM_OUTPUT_SHAPE || pad_mode == PM_OUTPUT_SHAPE_PADS) {
        if (long_os) {
            int64_t l[5] = {N, M};
            for (int i = 0; i < nsp; i++) l[i + 2] = os[i];
            add_ints(&c, "output_shape", nsp + 2, l);
        } else {
            add_ints(&c, "output_shape", nsp, os);
        }
    }
    if (G > 1 || rnd(0, 1)) c.attrs[c.n_attrs++] = wt_attr_int("group", G);
    c.in[0] = rand_tensor(nsp + 2, xd);
    c.in[1] = rand_tensor(nsp + 2, wd);
    c.is_const[1] = wconst;
    c.n_in = 2;
    if (bias) {
        c.in[2] = bias == 1 ? rand_tensor(1, &M) : wt_absent();
        c.is_const[2] = wconst;
        c.n_in = 3;
    }
    check(&c, label);
    free_case(&c);
}

static void test_deconv(void)
{
    for (int rep = 0; rep < 4; rep++)
        for (int nsp = 1; nsp <= 2; nsp++)
            for (int gk = 0; gk < 3; gk++)
                for (int pm = 0; pm < PM_COUNT; pm++)
                    deconv_case(nsp, gk, pm, (rep + gk) % 2 == 1, (rep + pm) % 2 == 0, (rep + pm + gk) % 3);
    for (int rep = 0; rep < 2; rep++)
        for (int pm = 0; pm < PM_COUNT; pm++) deconv_case(3, (rep + pm) % 3, pm, (rep + pm) % 2 == 0, rep % 2 == 0, pm % 3);
}

/* The shapes of a 2x upsampling decoder: kernels 2, 3, 4 at stride 2, with pads and output_padding. */
static void test_deconv_upsampling(void)
{
    static const int64_t kp[][3] = {{2, 0, 0}, {3, 1, 1}, {4, 1, 0}}; /* kernel, pad, output_padding */
    for (int w = 0; w < 2; w++)
        for (size_t v = 0; v < sizeof kp / sizeof kp[0]; v++) {
            kcase c;
            memset(&c, 0, sizeof c);
            int64_t xd[4] = {2, 16, 9, 8}, wd[4] = {16, 8, kp[v][0], kp[v][0]}, s[2] = {2, 2};
            int64_t pads[4] = {kp[v][1], kp[v][1], kp[v][1], kp[v][1]}, op[2] = {kp[v][2], kp[v][2]}, m = 8;
            add_ints(&c, "strides", 2, s);
            add_ints(&c, "pads", 4, pads);
            if (kp[v][2]) add_ints(&c, "output_padding", 2, op);
            c.in[0] = rand_tensor(4, xd);
            c.in[1] = rand_tensor(4, wd);
            c.in[2] = rand_tensor(1, &m);
            c.is_const[1] = c.is_const[2] = w == 0;
            c.n_in = 3;
            char label[128];
            snprintf(label, sizeof label, "ConvTranspose upsampling k=%lld%s", (long long)kp[v][0], w == 0 ? " const-W" : "");
            check(&c, label);
            free_case(&c);
        }
}

/* Without WEFT_ONEDNN_STRICT, an empty batch (outside the primitive's form) runs the reference kernel. */
static void test_fallback(void)
{
    unsetenv("WEFT_ONEDNN_STRICT");
    const weft_backend *be = weft_backend_find("onednn");
    if (be) {
        kcase c;
        memset(&c, 0, sizeof c);
        int64_t xd[4] = {0, 4, 5, 5}, wd[4] = {4, 3, 3, 3}, yd[4] = {0, 3, 7, 7};
        c.in[0] = wt_alloc(WEFT_FLOAT32, 4, xd);
        c.in[1] = rand_tensor(4, wd);
        c.is_const[1] = true;
        c.n_in = 2;
        weft_tensor ref = wt_alloc(WEFT_FLOAT32, 4, yd);
        float out[1];
        CU_ASSERT_EQUAL(drive(be, &c, &ref, 1, out), WEFT_OK);
        free(ref.data);
        free_case(&c);
    }
    setenv("WEFT_ONEDNN_STRICT", "1", 1);
}

int main(void)
{
    setenv("WEFT_ONEDNN_STRICT", "1", 1);
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("onednn_deconv", NULL, NULL);
    CU_add_test(s, "deconvolution", test_deconv);
    CU_add_test(s, "2x upsampling shapes", test_deconv_upsampling);
    CU_add_test(s, "fallback to the reference", test_fallback);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int fails = (int)CU_get_number_of_failures();
    fprintf(stderr, "%d backend runs compared\n", n_compared);
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
