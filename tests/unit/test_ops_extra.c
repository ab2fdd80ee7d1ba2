/*
 * tests/unit/test_ops_extra.c — pooling, convolution, losses, Resize, Attention and the smaller op
 * families (NonMaxSuppression, GridSample, Einsum, CumProd, ... one file each in ops/), against values
 * worked out by hand from the ONNX specification's formulas.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/unit/op_harness.h"

#define D(...) ((const int64_t[]){__VA_ARGS__})
#define F32(x) ((const float *)(x).data)
#define I64(x) ((const int64_t *)(x).data)

static weft_status run_n(const char *op, int opset, const weft_attr *attrs, int na, const weft_tensor *in, int ni,
                         weft_tensor *out, int no)
{
    weft_status st = wt_run_op(op, opset, attrs, na, in, ni, out, no);
    if (st) fprintf(stderr, "  %s: %s\n", op, weft_last_error());
    return st;
}

/* --- pooling ------------------------------------------------------------------------------------- */

static void test_maxpool_indices(void)
{
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}; /* 3x3 */
    weft_tensor in = wt_tensor(WEFT_FLOAT32, x, 4, D(1, 1, 3, 3)), out[2];
    weft_attr a[2] = {wt_attr_ints("kernel_shape", 2, D(2, 2)), wt_attr_int("storage_order", 1)};
    CU_ASSERT_EQUAL_FATAL(run_n("MaxPool", 12, a, 1, &in, 1, out, 2), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out[0], 4, D(1, 1, 2, 2)));
    CU_ASSERT(wt_close_f32(F32(out[0]), (float[]){5, 6, 8, 9}, 4, 0, 0));
    /* row-major flat positions of the maxima (1,1) (1,2) (2,1) (2,2) */
    CU_ASSERT(I64(out[1])[0] == 4 && I64(out[1])[1] == 5 && I64(out[1])[2] == 7 && I64(out[1])[3] == 8);
    wt_free_outputs(out, 2);
    /* storage_order 1: column-major, h + w * H */
    CU_ASSERT_EQUAL_FATAL(run_n("MaxPool", 12, a, 2, &in, 1, out, 2), WEFT_OK);
    CU_ASSERT(I64(out[1])[0] == 4 && I64(out[1])[1] == 7 && I64(out[1])[2] == 5 && I64(out[1])[3] == 8);
    wt_free_outputs(out, 2);
}

static void test_pool_ceil_and_pads(void)
{
    float x[5] = {1, 2, 3, 4, 5};
    weft_tensor in = wt_tensor(WEFT_FLOAT32, x, 3, D(1, 1, 5)), out;
    weft_attr a[3] = {wt_attr_ints("kernel_shape", 1, D(2)), wt_attr_ints("strides", 1, D(2)), wt_attr_int("ceil_mode", 1)};
    /* ceil((5 - 2) / 2) + 1 = 3 windows: [1,2] [3,4] [5] */
    CU_ASSERT_EQUAL_FATAL(run_n("MaxPool", 12, a, 3, &in, 1, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 3, D(1, 1, 3)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){2, 4, 5}, 3, 0, 0));
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run_n("AveragePool", 19, a, 3, &in, 1, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){1.5f, 3.5f, 5}, 3, 0, 0));
    wt_free_outputs(&out, 1);
    /* floor mode: 2 windows */
    CU_ASSERT_EQUAL_FATAL(run_n("AveragePool", 19, a, 2, &in, 1, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 3, D(1, 1, 2)));
    wt_free_outputs(&out, 1);

    /* 2x2 input, 3x3 kernel, pads 1: every window holds all four values (sum 10) and 5 pads */
    float y[4] = {1, 2, 3, 4};
    weft_tensor in2 = wt_tensor(WEFT_FLOAT32, y, 4, D(1, 1, 2, 2));
    weft_attr b[3] = {wt_attr_ints("kernel_shape", 2, D(3, 3)), wt_attr_ints("pads", 4, D(1, 1, 1, 1)),
                      wt_attr_int("count_include_pad", 1)};
    CU_ASSERT_EQUAL_FATAL(run_n("AveragePool", 19, b, 2, &in2, 1, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 4, D(1, 1, 2, 2)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){2.5f, 2.5f, 2.5f, 2.5f}, 4, 1e-6, 0));
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run_n("AveragePool", 19, b, 3, &in2, 1, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){10.f / 9, 10.f / 9, 10.f / 9, 10.f / 9}, 4, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* LpPool p=2 over [3,4] -> 5; GlobalAveragePool -> 2.5 */
    float z[2] = {3, 4};
    weft_tensor in3 = wt_tensor(WEFT_FLOAT32, z, 3, D(1, 1, 2));
    weft_attr c[2] = {wt_attr_ints("kernel_shape", 1, D(2)), wt_attr_int("p", 2)};
    CU_ASSERT_EQUAL_FATAL(run_n("LpPool", 18, c, 2, &in3, 1, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){5}, 1, 1e-6, 0));
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run_n("GlobalAveragePool", 22, NULL, 0, &in2, 1, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 4, D(1, 1, 1, 1)));
    CU_ASSERT(F32(out)[0] == 2.5f);
    wt_free_outputs(&out, 1);
    /* errors: no kernel_shape; a window larger than the input */
    CU_ASSERT_EQUAL(wt_run_op("MaxPool", 12, NULL, 0, &in, 1, &out, 1), WEFT_ERR_INVALID_MODEL);
    weft_attr big = wt_attr_ints("kernel_shape", 1, D(6));
    CU_ASSERT_EQUAL(wt_run_op("MaxPool", 12, &big, 1, &in, 1, &out, 1), WEFT_ERR_SHAPE);
}

/* --- convolution --------------------------------------------------------------------------------- */

static void test_conv(void)
{
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 1, 1, 1}, b[1] = {0.5f};
    weft_tensor in[3] = {wt_tensor(WEFT_FLOAT32, x, 4, D(1, 1, 3, 3)), wt_tensor(WEFT_FLOAT32, w, 4, D(1, 1, 2, 2)),
                         wt_tensor(WEFT_FLOAT32, b, 1, D(1))};
    weft_tensor out;
    /* 2x2 window sums: 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9, plus the bias */
    CU_ASSERT_EQUAL_FATAL(run_n("Conv", 11, NULL, 0, in, 3, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 4, D(1, 1, 2, 2)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){12.5f, 16.5f, 24.5f, 28.5f}, 4, 0, 0));
    wt_free_outputs(&out, 1);
    /* SAME_UPPER, stride 2: out = ceil(3/2) = 2, total pad 1 goes at the end */
    weft_attr a[2] = {wt_attr_string("auto_pad", "SAME_UPPER"), wt_attr_ints("strides", 2, D(2, 2))};
    CU_ASSERT_EQUAL_FATAL(run_n("Conv", 11, a, 2, in, 2, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 4, D(1, 1, 2, 2)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){12, 9, 15, 9}, 4, 0, 0));
    wt_free_outputs(&out, 1);
    /* group 2: two channels, each convolved with its own 1x1 weight */
    float x2[2] = {3, 5}, w2[2] = {2, -1};
    weft_tensor g[2] = {wt_tensor(WEFT_FLOAT32, x2, 4, D(1, 2, 1, 1)), wt_tensor(WEFT_FLOAT32, w2, 4, D(2, 1, 1, 1))};
    weft_attr grp = wt_attr_int("group", 2);
    CU_ASSERT_EQUAL_FATAL(run_n("Conv", 11, &grp, 1, g, 2, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){6, -5}, 2, 0, 0));
    wt_free_outputs(&out, 1);
    /* channel mismatch */
    CU_ASSERT_EQUAL(wt_run_op("Conv", 11, NULL, 0, g, 2, &out, 1), WEFT_ERR_SHAPE);
}

static void test_conv_transpose(void)
{
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 1, 1};
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, x, 4, D(1, 1, 2, 2)), wt_tensor(WEFT_FLOAT32, w, 4, D(1, 1, 2, 2))};
    weft_tensor out;
    /* each input spreads over a 2x2 block: overlaps add */
    CU_ASSERT_EQUAL_FATAL(run_n("ConvTranspose", 11, NULL, 0, in, 2, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 4, D(1, 1, 3, 3)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){1, 3, 2, 4, 10, 6, 3, 7, 4}, 9, 0, 0));
    wt_free_outputs(&out, 1);
    /* stride 2: the blocks do not overlap, 4x4 */
    weft_attr s = wt_attr_ints("strides", 2, D(2, 2));
    CU_ASSERT_EQUAL_FATAL(run_n("ConvTranspose", 11, &s, 1, in, 2, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 4, D(1, 1, 4, 4)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, 16, 0, 0));
    wt_free_outputs(&out, 1);
}

/* --- losses -------------------------------------------------------------------------------------- */

static void test_nll(void)
{
    float x[6] = {-1, -2, -3, -4, -5, -6}, w[3] = {1, 0.5f, 2};
    int64_t t[2] = {0, 2};
    weft_tensor in[3] = {wt_tensor(WEFT_FLOAT32, x, 2, D(2, 3)), wt_tensor(WEFT_INT64, t, 1, D(2)),
                         wt_tensor(WEFT_FLOAT32, w, 1, D(3))};
    weft_tensor out;
    weft_attr none = wt_attr_string("reduction", "none");
    CU_ASSERT_EQUAL_FATAL(run_n("NegativeLogLikelihoodLoss", 13, &none, 1, in, 2, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 1, D(2)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){1, 6}, 2, 0, 0));
    wt_free_outputs(&out, 1);
    /* mean with weights: (1*1 + 2*6) / (1 + 2) */
    CU_ASSERT_EQUAL_FATAL(run_n("NegativeLogLikelihoodLoss", 13, NULL, 0, in, 3, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 0, NULL));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){13.f / 3}, 1, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* ignore_index 2: only the first counts */
    weft_attr ii = wt_attr_int("ignore_index", 2);
    CU_ASSERT_EQUAL_FATAL(run_n("NegativeLogLikelihoodLoss", 13, &ii, 1, in, 2, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){1}, 1, 0, 0));
    wt_free_outputs(&out, 1);
    /* target out of range */
    t[1] = 3;
    CU_ASSERT_EQUAL(wt_run_op("NegativeLogLikelihoodLoss", 13, NULL, 0, in, 2, &out, 1), WEFT_ERR_INDEX);
    wt_free_outputs(&out, 1); /* run-time errors leave the outputs allocated */
}

static void test_sce(void)
{
    float x[2] = {0, 0};
    int64_t t[1] = {1};
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, x, 2, D(1, 2)), wt_tensor(WEFT_INT64, t, 1, D(1))};
    weft_tensor out[2];
    CU_ASSERT_EQUAL_FATAL(run_n("SoftmaxCrossEntropyLoss", 13, NULL, 0, in, 2, out, 2), WEFT_OK);
    /* two equal scores: p = 1/2 each, loss ln 2 */
    CU_ASSERT(wt_close_f32(F32(out[0]), (float[]){(float)M_LN2}, 1, 1e-6, 0));
    CU_ASSERT(wt_shape_is(&out[1], 2, D(1, 2)));
    CU_ASSERT(wt_close_f32(F32(out[1]), (float[]){-(float)M_LN2, -(float)M_LN2}, 2, 1e-6, 0));
    wt_free_outputs(out, 2);
}

/* --- Resize -------------------------------------------------------------------------------------- */

static void test_resize(void)
{
    float x[2] = {0, 3}, sc[4] = {1, 1, 1, 2};
    int64_t sz[4] = {1, 1, 1, 4};
    weft_tensor in[4] = {wt_tensor(WEFT_FLOAT32, x, 4, D(1, 1, 1, 2)), wt_absent(), wt_tensor(WEFT_FLOAT32, sc, 1, D(4)),
                         wt_absent()};
    weft_tensor out;
    weft_attr a[3] = {wt_attr_string("mode", "nearest"), wt_attr_string("coordinate_transformation_mode", "asymmetric")};
    CU_ASSERT_EQUAL_FATAL(run_n("Resize", 19, a, 2, in, 3, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 4, D(1, 1, 1, 4)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0, 0, 3, 3}, 4, 0, 0));
    wt_free_outputs(&out, 1);
    /* linear, half_pixel: x = (y + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 (edges clamp) */
    a[0] = wt_attr_string("mode", "linear");
    CU_ASSERT_EQUAL_FATAL(run_n("Resize", 19, a, 1, in, 3, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0, 0.75f, 2.25f, 3}, 4, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* linear, align_corners with sizes: x = y * (2 - 1) / (4 - 1) */
    a[1] = wt_attr_string("coordinate_transformation_mode", "align_corners");
    in[2] = wt_absent();
    in[3] = wt_tensor(WEFT_INT64, sz, 1, D(4));
    CU_ASSERT_EQUAL_FATAL(run_n("Resize", 19, a, 2, in, 4, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0, 1, 2, 3}, 4, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* antialias is for linear / cubic only */
    a[0] = wt_attr_string("mode", "nearest");
    a[2] = wt_attr_int("antialias", 1);
    CU_ASSERT_EQUAL(wt_run_op("Resize", 19, a, 3, in, 4, &out, 1), WEFT_ERR_INVALID_MODEL);
}

/* --- Attention ----------------------------------------------------------------------------------- */

static void test_attention(void)
{
    /* B = H = 1, two queries, two keys, head size 1, scale 1 */
    float q[2] = {1, 1}, k[2] = {0, 1}, v[2] = {0, 1};
    weft_tensor in[3] = {wt_tensor(WEFT_FLOAT32, q, 4, D(1, 1, 2, 1)), wt_tensor(WEFT_FLOAT32, k, 4, D(1, 1, 2, 1)),
                         wt_tensor(WEFT_FLOAT32, v, 4, D(1, 1, 2, 1))};
    weft_tensor out;
    weft_attr a[2] = {wt_attr_float("scale", 1), wt_attr_int("is_causal", 1)};
    double e = exp(1.0);
    /* scores [0, 1]: softmax [1, e] / (1 + e); y = e / (1 + e) */
    CU_ASSERT_EQUAL_FATAL(run_n("Attention", 23, a, 1, in, 3, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 4, D(1, 1, 2, 1)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){(float)(e / (1 + e)), (float)(e / (1 + e))}, 2, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* causal: the first query sees only key 0 (value 0) */
    CU_ASSERT_EQUAL_FATAL(run_n("Attention", 23, a, 2, in, 3, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0, (float)(e / (1 + e))}, 2, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* a boolean mask that hides key 1 everywhere */
    uint8_t m[2] = {1, 0};
    weft_tensor in4[4] = {in[0], in[1], in[2], wt_tensor(WEFT_BOOL, m, 2, D(1, 2))};
    CU_ASSERT_EQUAL_FATAL(run_n("Attention", 23, a, 1, in4, 4, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0, 0}, 2, 0, 1e-7));
    wt_free_outputs(&out, 1);
    /* 3-D without head counts */
    weft_tensor in3[3] = {wt_tensor(WEFT_FLOAT32, q, 3, D(1, 2, 1)), wt_tensor(WEFT_FLOAT32, k, 3, D(1, 2, 1)),
                          wt_tensor(WEFT_FLOAT32, v, 3, D(1, 2, 1))};
    CU_ASSERT_EQUAL(wt_run_op("Attention", 23, NULL, 0, in3, 3, &out, 1), WEFT_ERR_INVALID_MODEL);
}

/* --- misc ---------------------------------------------------------------------------------------- */

static void test_misc(void)
{
    weft_tensor out;
    /* CumProd */
    float x[4] = {1, 2, 3, 4};
    int64_t ax[1] = {0};
    weft_tensor cp[2] = {wt_tensor(WEFT_FLOAT32, x, 1, D(4)), wt_tensor(WEFT_INT64, ax, 0, NULL)};
    CU_ASSERT_EQUAL_FATAL(run_n("CumProd", 26, NULL, 0, cp, 2, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){1, 2, 6, 24}, 4, 0, 0));
    wt_free_outputs(&out, 1);
    weft_attr ex[2] = {wt_attr_int("exclusive", 1), wt_attr_int("reverse", 1)};
    CU_ASSERT_EQUAL_FATAL(run_n("CumProd", 26, ex, 1, cp, 2, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){1, 1, 2, 6}, 4, 0, 0));
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run_n("CumProd", 26, ex + 1, 1, cp, 2, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){24, 24, 12, 4}, 4, 0, 0));
    wt_free_outputs(&out, 1);
    /* Det */
    float m[4] = {1, 2, 3, 4};
    weft_tensor dt = wt_tensor(WEFT_FLOAT32, m, 2, D(2, 2));
    CU_ASSERT_EQUAL_FATAL(run_n("Det", 22, NULL, 0, &dt, 1, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 0, NULL));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){-2}, 1, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* ReverseSequence: [T=3, B=2]; batch 0 reversed over 3 steps, batch 1 over 1 */
    int32_t s[6] = {0, 1, 2, 3, 4, 5};
    int64_t lens[2] = {3, 1};
    weft_tensor rs[2] = {wt_tensor(WEFT_INT32, s, 2, D(3, 2)), wt_tensor(WEFT_INT64, lens, 1, D(2))};
    CU_ASSERT_EQUAL_FATAL(run_n("ReverseSequence", 10, NULL, 0, rs, 2, &out, 1), WEFT_OK);
    const int32_t *r = out.data;
    CU_ASSERT(r[0] == 4 && r[1] == 1 && r[2] == 2 && r[3] == 3 && r[4] == 0 && r[5] == 5);
    wt_free_outputs(&out, 1);
    lens[1] = 4;
    CU_ASSERT_EQUAL(wt_run_op("ReverseSequence", 10, NULL, 0, rs, 2, &out, 1), WEFT_ERR_INDEX);
    wt_free_outputs(&out, 1); /* run-time errors leave the outputs allocated */
    /* RotaryEmbedding: (1, 0) rotated by 90 degrees (cos 0, sin 1) is (0, 1) */
    float xr[2] = {1, 0}, co[1] = {0}, si[1] = {1};
    int64_t pos[1] = {0};
    weft_tensor re[4] = {wt_tensor(WEFT_FLOAT32, xr, 4, D(1, 1, 1, 2)), wt_tensor(WEFT_FLOAT32, co, 2, D(1, 1)),
                         wt_tensor(WEFT_FLOAT32, si, 2, D(1, 1)), wt_tensor(WEFT_INT64, pos, 2, D(1, 1))};
    CU_ASSERT_EQUAL_FATAL(run_n("RotaryEmbedding", 23, NULL, 0, re, 4, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0, 1}, 2, 0, 0));
    wt_free_outputs(&out, 1);
    pos[0] = 1;
    CU_ASSERT_EQUAL(wt_run_op("RotaryEmbedding", 23, NULL, 0, re, 4, &out, 1), WEFT_ERR_INDEX);
    wt_free_outputs(&out, 1); /* run-time errors leave the outputs allocated */
    /* LRN size 1: x / (1 + x^2)^1 = 2 / 5 */
    float xl[1] = {2};
    weft_tensor lr = wt_tensor(WEFT_FLOAT32, xl, 4, D(1, 1, 1, 1));
    weft_attr la[3] = {wt_attr_int("size", 1), wt_attr_float("alpha", 1), wt_attr_float("beta", 1)};
    CU_ASSERT_EQUAL_FATAL(run_n("LRN", 13, la, 3, &lr, 1, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0.4f}, 1, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* CenterCropPad: crop 5 -> 3 starts at 1; pad 5 -> 7 puts one zero on each side */
    float xc[5] = {1, 2, 3, 4, 5};
    int64_t shp[1] = {3};
    weft_tensor cc[2] = {wt_tensor(WEFT_FLOAT32, xc, 1, D(5)), wt_tensor(WEFT_INT64, shp, 1, D(1))};
    CU_ASSERT_EQUAL_FATAL(run_n("CenterCropPad", 18, NULL, 0, cc, 2, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){2, 3, 4}, 3, 0, 0));
    wt_free_outputs(&out, 1);
    shp[0] = 7;
    CU_ASSERT_EQUAL_FATAL(run_n("CenterCropPad", 18, NULL, 0, cc, 2, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0, 1, 2, 3, 4, 5, 0}, 7, 0, 0));
    wt_free_outputs(&out, 1);
    /* MaxUnpool: 2 values back to flat positions 1 and 2 of a 4-long output */
    float xu[2] = {7, 9};
    int64_t iu[2] = {1, 2};
    weft_tensor mu[2] = {wt_tensor(WEFT_FLOAT32, xu, 3, D(1, 1, 2)), wt_tensor(WEFT_INT64, iu, 3, D(1, 1, 2))};
    weft_attr ua[2] = {wt_attr_ints("kernel_shape", 1, D(2)), wt_attr_ints("strides", 1, D(2))};
    CU_ASSERT_EQUAL_FATAL(run_n("MaxUnpool", 11, ua, 2, mu, 2, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 3, D(1, 1, 4)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0, 7, 9, 0}, 4, 0, 0));
    wt_free_outputs(&out, 1);
    iu[1] = 4;
    CU_ASSERT_EQUAL(wt_run_op("MaxUnpool", 11, ua, 2, mu, 2, &out, 1), WEFT_ERR_INDEX);
    wt_free_outputs(&out, 1); /* run-time errors leave the outputs allocated */
    /* Binarizer */
    float xb[3] = {-1, 0.5f, 2};
    weft_tensor bz = wt_tensor(WEFT_FLOAT32, xb, 1, D(3));
    weft_attr th = wt_attr_float("threshold", 0.5f);
    CU_ASSERT_EQUAL_FATAL(wt_run_op_domain("ai.onnx.ml", "Binarizer", 1, &th, 1, &bz, 1, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0, 0, 1}, 3, 0, 0));
    wt_free_outputs(&out, 1);
}

static void test_einsum(void)
{
    float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, a, 2, D(2, 2)), wt_tensor(WEFT_FLOAT32, b, 2, D(2, 2))}, out;
    /* implicit output "ik": a matrix product */
    weft_attr eq = wt_attr_string("equation", "ij,jk");
    CU_ASSERT_EQUAL_FATAL(run_n("Einsum", 12, &eq, 1, in, 2, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 2, D(2, 2)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){19, 22, 43, 50}, 4, 0, 0));
    wt_free_outputs(&out, 1);
    eq = wt_attr_string("equation", "ii->i");
    CU_ASSERT_EQUAL_FATAL(run_n("Einsum", 12, &eq, 1, in, 1, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){1, 4}, 2, 0, 0));
    wt_free_outputs(&out, 1);
    eq = wt_attr_string("equation", "...j->...");
    CU_ASSERT_EQUAL_FATAL(run_n("Einsum", 12, &eq, 1, in, 1, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 1, D(2)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){3, 7}, 2, 0, 0));
    wt_free_outputs(&out, 1);
    /* a term with more subscripts than the input's rank; a size mismatch */
    eq = wt_attr_string("equation", "ijk->i");
    CU_ASSERT_EQUAL(wt_run_op("Einsum", 12, &eq, 1, in, 1, &out, 1), WEFT_ERR_SHAPE);
    float c[3] = {1, 2, 3};
    weft_tensor in2[2] = {in[0], wt_tensor(WEFT_FLOAT32, c, 1, D(3))};
    eq = wt_attr_string("equation", "ij,j->i");
    CU_ASSERT_EQUAL(wt_run_op("Einsum", 12, &eq, 1, in2, 2, &out, 1), WEFT_ERR_SHAPE);
}

static void test_window_gridsample(void)
{
    weft_tensor out;
    int64_t n[1] = {4};
    weft_tensor sz = wt_tensor(WEFT_INT64, n, 0, NULL);
    /* periodic Hann over 4: 0.5 - 0.5 cos(pi k / 2) */
    CU_ASSERT_EQUAL_FATAL(run_n("HannWindow", 17, NULL, 0, &sz, 1, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 1, D(4)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0, 0.5f, 1, 0.5f}, 4, 0, 1e-7));
    wt_free_outputs(&out, 1);
    /* GridSample, align_corners: x = (g + 1) / 2 * (W - 1); g = 0 is halfway between 1 and 3 */
    float x[2] = {1, 3}, g[4] = {0, 0, -1, 0};
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, x, 4, D(1, 1, 1, 2)), wt_tensor(WEFT_FLOAT32, g, 4, D(1, 1, 2, 2))};
    weft_attr a[2] = {wt_attr_int("align_corners", 1), wt_attr_string("mode", "linear")};
    CU_ASSERT_EQUAL_FATAL(run_n("GridSample", 20, a, 2, in, 2, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 4, D(1, 1, 1, 2)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){2, 1}, 2, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* without align_corners g = -1 is x = -0.5: half of the first pixel, half zero padding */
    CU_ASSERT_EQUAL_FATAL(run_n("GridSample", 20, a + 1, 1, in, 2, &out, 1), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){2, 0.5f}, 2, 1e-6, 0));
    wt_free_outputs(&out, 1);
}

static void test_nms(void)
{
    /* box 1 overlaps box 0 with IoU 0.9 / 1.1 > 0.5 and is suppressed; box 2 is far away */
    float boxes[12] = {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, 10, 1, 11}, scores[3] = {0.9f, 0.8f, 0.7f}, iou[1] = {0.5f};
    int64_t maxo[1] = {3};
    weft_tensor in[4] = {wt_tensor(WEFT_FLOAT32, boxes, 3, D(1, 3, 4)), wt_tensor(WEFT_FLOAT32, scores, 3, D(1, 1, 3)),
                         wt_tensor(WEFT_INT64, maxo, 1, D(1)), wt_tensor(WEFT_FLOAT32, iou, 1, D(1))};
    weft_tensor out;
    CU_ASSERT_EQUAL_FATAL(run_n("NonMaxSuppression", 11, NULL, 0, in, 4, &out, 1), WEFT_OK);
    CU_ASSERT_FATAL(wt_shape_is(&out, 2, D(2, 3)));
    const int64_t *r = out.data;
    CU_ASSERT(r[0] == 0 && r[1] == 0 && r[2] == 0 && r[3] == 0 && r[4] == 0 && r[5] == 2);
    wt_free_outputs(&out, 1);
    /* at most one box per class */
    maxo[0] = 1;
    CU_ASSERT_EQUAL_FATAL(run_n("NonMaxSuppression", 11, NULL, 0, in, 4, &out, 1), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 2, D(1, 3)) && ((const int64_t *)out.data)[2] == 0);
    wt_free_outputs(&out, 1);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("ops_extra", NULL, NULL);
    CU_add_test(s, "maxpool_indices", test_maxpool_indices);
    CU_add_test(s, "pool_ceil_and_pads", test_pool_ceil_and_pads);
    CU_add_test(s, "conv", test_conv);
    CU_add_test(s, "conv_transpose", test_conv_transpose);
    CU_add_test(s, "nll", test_nll);
    CU_add_test(s, "sce", test_sce);
    CU_add_test(s, "resize", test_resize);
    CU_add_test(s, "attention", test_attention);
    CU_add_test(s, "misc", test_misc);
    CU_add_test(s, "einsum", test_einsum);
    CU_add_test(s, "window_gridsample", test_window_gridsample);
    CU_add_test(s, "nms", test_nms);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
