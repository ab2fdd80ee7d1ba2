/*
 * tests/unit/test_ops_math.c — reductions, MatMul / Gemm and the normalisation ops, against values worked
 * out by hand (or from the formulas of the ONNX specification).
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/unit/op_harness.h"

#define D(...) ((const int64_t[]){__VA_ARGS__})
#define F32(x) ((const float *)(x).data)

static const float NINF = -INFINITY;

/* Runs a one-output op and checks the shape. */
static weft_status run1(const char *op, int opset, const weft_attr *attrs, int na, const weft_tensor *in, int ni,
                        weft_tensor *out)
{
    weft_status st = wt_run_op(op, opset, attrs, na, in, ni, out, 1);
    if (st) fprintf(stderr, "  %s: %s\n", op, weft_last_error());
    return st;
}

/* --- reductions ------------------------------------------------------------------------------------ */

static void test_reduce_sum_axes_forms(void)
{
    float x[6] = {1, 2, 3, 4, 5, 6}; /* [[1,2,3],[4,5,6]] */
    weft_tensor out;
    int64_t ax1[1] = {1}, axm2[1] = {-2};
    /* opset 13: axes input, keepdims default 1 */
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, x, 2, D(2, 3)), wt_tensor(WEFT_INT64, ax1, 1, D(1))};
    CU_ASSERT_EQUAL_FATAL(run1("ReduceSum", 13, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 2, D(2, 1)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){6, 15}, 2, 0, 0));
    wt_free_outputs(&out, 1);
    /* negative axis, keepdims 0 */
    weft_attr kd0 = wt_attr_int("keepdims", 0);
    in[1] = wt_tensor(WEFT_INT64, axm2, 1, D(1));
    CU_ASSERT_EQUAL_FATAL(run1("ReduceSum", 13, &kd0, 1, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 1, D(3)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){5, 7, 9}, 3, 0, 0));
    wt_free_outputs(&out, 1);
    /* opset 11: axes attribute */
    weft_attr at[2] = {wt_attr_ints("axes", 1, (int64_t[]){0}), wt_attr_int("keepdims", 0)};
    CU_ASSERT_EQUAL_FATAL(run1("ReduceSum", 11, at, 2, in, 1, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 1, D(3)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){5, 7, 9}, 3, 0, 0));
    wt_free_outputs(&out, 1);
    /* no axes: everything, kept as [1,1] */
    CU_ASSERT_EQUAL_FATAL(run1("ReduceSum", 11, NULL, 0, in, 1, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 2, D(1, 1)));
    CU_ASSERT(F32(out)[0] == 21);
    wt_free_outputs(&out, 1);
    /* empty axes input: all axes, unless noop_with_empty_axes */
    in[1] = wt_tensor(WEFT_INT64, ax1, 1, D(0));
    CU_ASSERT_EQUAL_FATAL(run1("ReduceSum", 13, &kd0, 1, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 0, NULL));
    CU_ASSERT(F32(out)[0] == 21);
    wt_free_outputs(&out, 1);
    weft_attr noop = wt_attr_int("noop_with_empty_axes", 1);
    CU_ASSERT_EQUAL_FATAL(run1("ReduceSum", 13, &noop, 1, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 2, D(2, 3)));
    CU_ASSERT(wt_close_f32(F32(out), x, 6, 0, 0));
    wt_free_outputs(&out, 1);
}

static void test_reduce_strided_axes(void)
{
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i; /* shape [2,3,2] */
    weft_tensor out;
    weft_attr kd0 = wt_attr_int("keepdims", 0);
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, x, 3, D(2, 3, 2)), wt_tensor(WEFT_INT64, (int64_t[]){1}, 1, D(1))};
    CU_ASSERT_EQUAL_FATAL(run1("ReduceSum", 13, &kd0, 1, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 2, D(2, 2)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0 + 2 + 4, 1 + 3 + 5, 6 + 8 + 10, 7 + 9 + 11}, 4, 0, 0));
    wt_free_outputs(&out, 1);
    in[1] = wt_tensor(WEFT_INT64, (int64_t[]){0, 2}, 1, D(2));
    CU_ASSERT_EQUAL_FATAL(run1("ReduceSum", 13, &kd0, 1, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 1, D(3)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0 + 1 + 6 + 7, 2 + 3 + 8 + 9, 4 + 5 + 10 + 11}, 3, 0, 0));
    wt_free_outputs(&out, 1);
    /* ReduceMax over axis 1 at opset 18 (input), keepdims: [2,1,2] */
    in[1] = wt_tensor(WEFT_INT64, (int64_t[]){1}, 1, D(1));
    CU_ASSERT_EQUAL_FATAL(run1("ReduceMax", 18, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 3, D(2, 1, 2)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){4, 5, 10, 11}, 4, 0, 0));
    wt_free_outputs(&out, 1);
}

static void test_reduce_kinds(void)
{
    weft_tensor out;
    weft_attr kd0 = wt_attr_int("keepdims", 0);
    double v[2] = {-3, 4};
    weft_tensor in = wt_tensor(WEFT_FLOAT64, v, 1, D(2));
    struct { const char *op; double want; } cases[] = {
        {"ReduceL1", 7}, {"ReduceL2", 5}, {"ReduceSumSquare", 25}, {"ReduceProd", -12},
        {"ReduceMean", 0.5}, {"ReduceMin", -3}, {"ReduceMax", 4}, {"ReduceSum", 1},
        {"ReduceLogSumExp", 4 + log(1 + exp(-7.0))},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CU_ASSERT_EQUAL_FATAL(run1(cases[i].op, 18, &kd0, 1, &in, 1, &out), WEFT_OK);
        CU_ASSERT(wt_shape_is(&out, 0, NULL));
        double got = ((double *)out.data)[0];
        if (fabs(got - cases[i].want) > 1e-12) fprintf(stderr, "  %s: %.17g want %.17g\n", cases[i].op, got, cases[i].want);
        CU_ASSERT(fabs(got - cases[i].want) <= 1e-12);
        wt_free_outputs(&out, 1);
    }
    /* LogSum: log(1 + (e - 1)) = 1 */
    double w[2] = {1, M_E - 1};
    in = wt_tensor(WEFT_FLOAT64, w, 1, D(2));
    CU_ASSERT_EQUAL_FATAL(run1("ReduceLogSum", 18, &kd0, 1, &in, 1, &out), WEFT_OK);
    CU_ASSERT(fabs(((double *)out.data)[0] - 1.0) < 1e-15);
    wt_free_outputs(&out, 1);
    /* LogSumExp must not overflow: log(e^1000 + e^1000) = 1000 + log 2 */
    float big[2] = {1000, 1000};
    in = wt_tensor(WEFT_FLOAT32, big, 1, D(2));
    CU_ASSERT_EQUAL_FATAL(run1("ReduceLogSumExp", 18, &kd0, 1, &in, 1, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){1000.6931471805599f}, 1, 1e-7, 0));
    wt_free_outputs(&out, 1);
    /* NaN propagates through Max */
    float nanv[3] = {1, NAN, 3};
    in = wt_tensor(WEFT_FLOAT32, nanv, 1, D(3));
    CU_ASSERT_EQUAL_FATAL(run1("ReduceMax", 18, &kd0, 1, &in, 1, &out), WEFT_OK);
    CU_ASSERT(isnan(F32(out)[0]));
    wt_free_outputs(&out, 1);
}

static void test_reduce_integers(void)
{
    weft_tensor out;
    weft_attr kd0 = wt_attr_int("keepdims", 0);
    /* int64 sums are exact: 2^53 + 1 is not a double */
    int64_t big[2] = {(int64_t)1 << 53, 1};
    weft_tensor in = wt_tensor(WEFT_INT64, big, 1, D(2));
    CU_ASSERT_EQUAL_FATAL(run1("ReduceSum", 13, &kd0, 1, &in, 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int64_t *)out.data)[0], ((int64_t)1 << 53) + 1);
    wt_free_outputs(&out, 1);
    /* integer mean truncates toward zero: (-7 + 0) / 2 = -3 */
    int32_t m[2] = {-7, 0};
    in = wt_tensor(WEFT_INT32, m, 1, D(2));
    CU_ASSERT_EQUAL_FATAL(run1("ReduceMean", 18, &kd0, 1, &in, 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int32_t *)out.data)[0], -3);
    wt_free_outputs(&out, 1);
    /* L1 of int8 */
    int8_t s8[3] = {-100, 50, -20};
    in = wt_tensor(WEFT_INT8, s8, 1, D(3));
    int64_t ax[1] = {0};
    weft_tensor in2[2] = {in, wt_tensor(WEFT_INT64, ax, 1, D(1))};
    CU_ASSERT_EQUAL_FATAL(run1("ReduceMin", 18, &kd0, 1, in2, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int8_t *)out.data)[0], -100);
    wt_free_outputs(&out, 1);
    uint8_t u8[3] = {200, 7, 255};
    in2[0] = wt_tensor(WEFT_UINT8, u8, 1, D(3));
    CU_ASSERT_EQUAL_FATAL(run1("ReduceMax", 18, &kd0, 1, in2, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((uint8_t *)out.data)[0], 255);
    wt_free_outputs(&out, 1);
    /* bool: Max is any, Min is all (opset 20) */
    uint8_t b[4] = {0, 1, 1, 1}; /* [[0,1],[1,1]] */
    in2[0] = wt_tensor(WEFT_BOOL, b, 2, D(2, 2));
    in2[1] = wt_tensor(WEFT_INT64, (int64_t[]){1}, 1, D(1));
    CU_ASSERT_EQUAL_FATAL(run1("ReduceMin", 20, &kd0, 1, in2, 2, &out), WEFT_OK);
    CU_ASSERT(out.dtype == WEFT_BOOL && ((uint8_t *)out.data)[0] == 0 && ((uint8_t *)out.data)[1] == 1);
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("ReduceMax", 20, &kd0, 1, in2, 2, &out), WEFT_OK);
    CU_ASSERT(((uint8_t *)out.data)[0] == 1 && ((uint8_t *)out.data)[1] == 1);
    wt_free_outputs(&out, 1);
    /* bool makes no sense for a sum */
    CU_ASSERT_EQUAL(wt_run_op("ReduceSum", 13, NULL, 0, in2, 2, &out, 1), WEFT_ERR_UNSUPPORTED);
}

static void test_reduce_empty_sets(void)
{
    /* data [2,0,4] reduced over axis 1: shape [2,1,4], every element the op's identity */
    float none[1] = {0};
    int64_t ax[1] = {1};
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, none, 3, D(2, 0, 4)), wt_tensor(WEFT_INT64, ax, 1, D(1))};
    struct { const char *op; int opset; float want; } cases[] = {
        {"ReduceSum", 13, 0}, {"ReduceProd", 18, 1}, {"ReduceMax", 20, NINF}, {"ReduceMin", 20, INFINITY},
        {"ReduceL1", 18, 0}, {"ReduceL2", 18, 0}, {"ReduceSumSquare", 18, 0}, {"ReduceLogSum", 18, NINF},
        {"ReduceLogSumExp", 18, NINF},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        weft_tensor out;
        CU_ASSERT_EQUAL_FATAL(run1(cases[i].op, cases[i].opset, NULL, 0, in, 2, &out), WEFT_OK);
        CU_ASSERT(wt_shape_is(&out, 3, D(2, 1, 4)));
        int ok = 1;
        for (int j = 0; j < 8; j++) ok &= F32(out)[j] == cases[i].want;
        if (!ok) fprintf(stderr, "  %s: got %g want %g\n", cases[i].op, F32(out)[0], cases[i].want);
        CU_ASSERT(ok);
        wt_free_outputs(&out, 1);
    }
    /* integer empty max / min: the type's lowest / highest */
    int32_t inone[1] = {0};
    in[0] = wt_tensor(WEFT_INT32, inone, 3, D(2, 0, 4));
    weft_tensor out;
    CU_ASSERT_EQUAL_FATAL(run1("ReduceMax", 20, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int32_t *)out.data)[0], INT32_MIN);
    wt_free_outputs(&out, 1);
    int8_t cnone[1] = {0};
    in[0] = wt_tensor(WEFT_INT8, cnone, 3, D(2, 0, 4));
    CU_ASSERT_EQUAL_FATAL(run1("ReduceMin", 20, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int8_t *)out.data)[7], 127);
    wt_free_outputs(&out, 1);
    /* reducing a non-empty axis of an empty tensor gives an empty output */
    in[0] = wt_tensor(WEFT_FLOAT32, none, 3, D(2, 0, 4));
    in[1] = wt_tensor(WEFT_INT64, (int64_t[]){2}, 1, D(1));
    CU_ASSERT_EQUAL_FATAL(run1("ReduceSum", 13, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 3, D(2, 0, 1)));
    wt_free_outputs(&out, 1);
}

static void test_reduce_errors(void)
{
    float x[6] = {0};
    weft_tensor out;
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, x, 2, D(2, 3)), wt_tensor(WEFT_INT64, (int64_t[]){2}, 1, D(1))};
    CU_ASSERT_EQUAL(wt_run_op("ReduceSum", 13, NULL, 0, in, 2, &out, 1), WEFT_ERR_SHAPE);
    CU_ASSERT(strstr(weft_last_error(), "axis 2") != NULL);
    in[1] = wt_tensor(WEFT_INT64, (int64_t[]){1, -1}, 1, D(2));
    CU_ASSERT_EQUAL(wt_run_op("ReduceSum", 13, NULL, 0, in, 2, &out, 1), WEFT_ERR_INVALID_MODEL);
    /* axes as an input before opset 18 (ReduceMean) / as an attribute after */
    in[1] = wt_tensor(WEFT_INT64, (int64_t[]){1}, 1, D(1));
    CU_ASSERT_EQUAL(wt_run_op("ReduceMean", 17, NULL, 0, in, 2, &out, 1), WEFT_ERR_INVALID_MODEL);
    weft_attr ax = wt_attr_ints("axes", 1, (int64_t[]){0});
    CU_ASSERT_EQUAL(wt_run_op("ReduceMean", 18, &ax, 1, in, 1, &out, 1), WEFT_ERR_INVALID_MODEL);
    /* float axes */
    float fax[1] = {0};
    in[1] = wt_tensor(WEFT_FLOAT32, fax, 1, D(1));
    CU_ASSERT_EQUAL(wt_run_op("ReduceSum", 13, NULL, 0, in, 2, &out, 1), WEFT_ERR_TYPE);
}

/* Found by fuzzing: with noop_with_empty_axes and no axes each element still goes through the
 * reduction's own map (ONNX's reference: ReduceL2 -> |x|, ReduceSumSquare -> x*x, ReduceL1 -> |x|,
 * ReduceLogSum -> log x); keepdims / noop_with_empty_axes other than 0 or 1 are refused. */
static void test_reduce_noop_maps(void)
{
    float x[3] = {-3, 0.5f, 4};
    weft_tensor out;
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, x, 1, D(3)), wt_tensor(WEFT_INT64, (int64_t[]){0}, 1, D(0))};
    weft_attr noop = wt_attr_int("noop_with_empty_axes", 1);
    static const struct { const char *op; float want[3]; } cases[] = {
        {"ReduceL2", {3, 0.5f, 4}},       {"ReduceL1", {3, 0.5f, 4}},   {"ReduceSumSquare", {9, 0.25f, 16}},
        {"ReduceMax", {-3, 0.5f, 4}},     {"ReduceMean", {-3, 0.5f, 4}}, {"ReduceLogSumExp", {-3, 0.5f, 4}},
        {"ReduceProd", {-3, 0.5f, 4}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CU_ASSERT_EQUAL_FATAL(run1(cases[i].op, 18, &noop, 1, in, 2, &out), WEFT_OK);
        CU_ASSERT(wt_shape_is(&out, 1, D(3)));
        if (!wt_close_f32(F32(out), cases[i].want, 3, 1e-6, 0)) {
            fprintf(stderr, "  %s\n", cases[i].op);
            CU_FAIL("noop map");
        }
        wt_free_outputs(&out, 1);
    }
    float px[2] = {1, 0.5f};
    in[0] = wt_tensor(WEFT_FLOAT32, px, 1, D(2));
    CU_ASSERT_EQUAL_FATAL(run1("ReduceLogSum", 18, &noop, 1, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0, -0.69314718f}, 2, 1e-6, 0));
    wt_free_outputs(&out, 1);
    int64_t ix[2] = {-5, 3};
    in[0] = wt_tensor(WEFT_INT64, ix, 1, D(2));
    CU_ASSERT_EQUAL_FATAL(run1("ReduceSumSquare", 18, &noop, 1, in, 2, &out), WEFT_OK);
    CU_ASSERT(((int64_t *)out.data)[0] == 25 && ((int64_t *)out.data)[1] == 9);
    wt_free_outputs(&out, 1);
    weft_attr bad[2] = {wt_attr_int("keepdims", -1), wt_attr_int("noop_with_empty_axes", 2)};
    CU_ASSERT_EQUAL(wt_run_op("ReduceL2", 18, &bad[0], 1, in, 1, &out, 1), WEFT_ERR_INVALID_MODEL);
    CU_ASSERT(strstr(weft_last_error(), "keepdims") != NULL);
    CU_ASSERT_EQUAL(wt_run_op("ReduceSum", 13, &bad[1], 1, in, 1, &out, 1), WEFT_ERR_INVALID_MODEL);
    CU_ASSERT(strstr(weft_last_error(), "noop_with_empty_axes") != NULL);
}

static void test_reduce_float16(void)
{
    uint16_t h[2] = {weft_f32_to_f16(1.5f), weft_f32_to_f16(2.25f)};
    weft_tensor in = wt_tensor(WEFT_FLOAT16, h, 1, D(2)), out;
    weft_attr kd0 = wt_attr_int("keepdims", 0);
    CU_ASSERT_EQUAL_FATAL(run1("ReduceSum", 11, &kd0, 1, &in, 1, &out), WEFT_OK);
    CU_ASSERT(out.dtype == WEFT_FLOAT16);
    CU_ASSERT(weft_f16_to_f32(((uint16_t *)out.data)[0]) == 3.75f);
    wt_free_outputs(&out, 1);
}

/* Inference with symbols: what the compiler sees. */
static int32_t fresh(void *u) { return (*(int *)u)++; }

static void test_reduce_infer_symbolic(void)
{
    const weft_op_def *def = weft_op_find("", "ReduceSum", 13);
    CU_ASSERT_PTR_NOT_NULL_FATAL(def);
    weft_attr kd0 = wt_attr_int("keepdims", 0);
    weft_node_info node = {"r", "ReduceSum", "", 13, 1, &kd0};
    weft_dtype in_dt[2] = {WEFT_FLOAT32, WEFT_INT64}, out_dt[1];
    weft_shape in_sh[2] = {{3, {{0, 100}, {4, -1}, {5, -1}}}, {1, {{2, -1}}}}, out_sh[1];
    const void *data[2] = {NULL, NULL};
    int sym = 200;
    weft_infer_ctx c = {&node, 2, in_dt, in_sh, data, 1, out_dt, out_sh, fresh, &sym};
    /* axes unknown, 2 of them: rank 1, dim unknown */
    CU_ASSERT_EQUAL_FATAL(def->infer(&c), WEFT_OK);
    CU_ASSERT_EQUAL(out_sh[0].rank, 1);
    CU_ASSERT(!weft_dim_known(out_sh[0].d[0]));
    /* axes known: [1, 2] -> the symbolic dim 0 survives */
    int64_t axes[2] = {1, 2};
    data[1] = axes;
    CU_ASSERT_EQUAL_FATAL(def->infer(&c), WEFT_OK);
    CU_ASSERT_EQUAL(out_sh[0].rank, 1);
    CU_ASSERT_EQUAL(out_sh[0].d[0].sym, 100);
    CU_ASSERT_EQUAL(out_dt[0], WEFT_FLOAT32);

    /* MatMul [N,3,4] x [4,5] -> [N,3,5] */
    const weft_op_def *mm = weft_op_find("", "MatMul", 13);
    weft_node_info mnode = {"m", "MatMul", "", 13, 0, NULL};
    weft_dtype mdt[2] = {WEFT_FLOAT32, WEFT_FLOAT32};
    weft_shape msh[2] = {{3, {{0, 7}, {3, -1}, {4, -1}}}, {2, {{4, -1}, {5, -1}}}};
    weft_infer_ctx mc = {&mnode, 2, mdt, msh, data, 1, out_dt, out_sh, fresh, &sym};
    CU_ASSERT_EQUAL_FATAL(mm->infer(&mc), WEFT_OK);
    CU_ASSERT_EQUAL(out_sh[0].rank, 3);
    CU_ASSERT_EQUAL(out_sh[0].d[0].sym, 7);
    CU_ASSERT(out_sh[0].d[1].v == 3 && out_sh[0].d[2].v == 5);
}

/* --- MatMul / Gemm ---------------------------------------------------------------------------------- */

static void test_matmul(void)
{
    weft_tensor out;
    float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, a, 2, D(2, 2)), wt_tensor(WEFT_FLOAT32, b, 2, D(2, 2))};
    CU_ASSERT_EQUAL_FATAL(run1("MatMul", 13, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 2, D(2, 2)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){19, 22, 43, 50}, 4, 0, 0));
    wt_free_outputs(&out, 1);
    /* 1-D x 1-D: a dot product, a scalar */
    float u[3] = {1, 2, 3}, v[3] = {4, 5, 6};
    in[0] = wt_tensor(WEFT_FLOAT32, u, 1, D(3));
    in[1] = wt_tensor(WEFT_FLOAT32, v, 1, D(3));
    CU_ASSERT_EQUAL_FATAL(run1("MatMul", 13, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 0, NULL));
    CU_ASSERT(F32(out)[0] == 32);
    wt_free_outputs(&out, 1);
    /* 1-D x 2-D: [1,2] x [[1,2,3],[4,5,6]] = [9,12,15] */
    float m[6] = {1, 2, 3, 4, 5, 6};
    in[0] = wt_tensor(WEFT_FLOAT32, a, 1, D(2));
    in[1] = wt_tensor(WEFT_FLOAT32, m, 2, D(2, 3));
    CU_ASSERT_EQUAL_FATAL(run1("MatMul", 13, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 1, D(3)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){9, 12, 15}, 3, 0, 0));
    wt_free_outputs(&out, 1);
    /* batch broadcast: [1,2] x [3,2,1] -> [3,1,1]; B's batches pick a, b, a + b */
    float bb[6] = {1, 0, 0, 1, 1, 1};
    in[0] = wt_tensor(WEFT_FLOAT32, a, 2, D(1, 2));
    in[1] = wt_tensor(WEFT_FLOAT32, bb, 3, D(3, 2, 1));
    CU_ASSERT_EQUAL_FATAL(run1("MatMul", 13, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 3, D(3, 1, 1)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){1, 2, 3}, 3, 0, 0));
    wt_free_outputs(&out, 1);
    /* [2,1,1,2] x [3,2,1] -> [2,3,1,1]: batch axes broadcast both ways */
    float a2[4] = {1, 2, 10, 20};
    in[0] = wt_tensor(WEFT_FLOAT32, a2, 4, D(2, 1, 1, 2));
    CU_ASSERT_EQUAL_FATAL(run1("MatMul", 13, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 4, D(2, 3, 1, 1)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){1, 2, 3, 10, 20, 30}, 6, 0, 0));
    wt_free_outputs(&out, 1);
    /* integers are exact: 2^40 * 2^20 = 2^60 */
    int64_t i1[1] = {(int64_t)1 << 40}, i2[1] = {(int64_t)1 << 20};
    in[0] = wt_tensor(WEFT_INT64, i1, 2, D(1, 1));
    in[1] = wt_tensor(WEFT_INT64, i2, 2, D(1, 1));
    CU_ASSERT_EQUAL_FATAL(run1("MatMul", 13, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int64_t *)out.data)[0], (int64_t)1 << 60);
    wt_free_outputs(&out, 1);
    int32_t s1[2] = {1, -2}, s2[2] = {3, 4};
    in[0] = wt_tensor(WEFT_INT32, s1, 2, D(1, 2));
    in[1] = wt_tensor(WEFT_INT32, s2, 2, D(2, 1));
    CU_ASSERT_EQUAL_FATAL(run1("MatMul", 13, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int32_t *)out.data)[0], -5);
    wt_free_outputs(&out, 1);
    /* float16 */
    uint16_t h1[2] = {weft_f32_to_f16(1), weft_f32_to_f16(2)}, h2[2] = {weft_f32_to_f16(3), weft_f32_to_f16(4)};
    in[0] = wt_tensor(WEFT_FLOAT16, h1, 2, D(1, 2));
    in[1] = wt_tensor(WEFT_FLOAT16, h2, 2, D(2, 1));
    CU_ASSERT_EQUAL_FATAL(run1("MatMul", 13, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT(weft_f16_to_f32(((uint16_t *)out.data)[0]) == 11.0f);
    wt_free_outputs(&out, 1);
    /* errors */
    float z[12] = {0};
    in[0] = wt_tensor(WEFT_FLOAT32, z, 2, D(2, 3));
    in[1] = wt_tensor(WEFT_FLOAT32, z, 2, D(4, 2));
    CU_ASSERT_EQUAL(wt_run_op("MatMul", 13, NULL, 0, in, 2, &out, 1), WEFT_ERR_SHAPE);
    in[1] = wt_tensor(WEFT_FLOAT64, z, 2, D(3, 1));
    CU_ASSERT_EQUAL(wt_run_op("MatMul", 13, NULL, 0, in, 2, &out, 1), WEFT_ERR_TYPE);
    in[0] = wt_tensor(WEFT_FLOAT32, z, 3, D(2, 1, 3));
    in[1] = wt_tensor(WEFT_FLOAT32, z, 3, D(3, 3, 1));
    CU_ASSERT_EQUAL(wt_run_op("MatMul", 13, NULL, 0, in, 2, &out, 1), WEFT_ERR_SHAPE);
}

static void test_matmul_integer(void)
{
    weft_tensor out;
    /* ([[10,20]] - 10) x ([[1,2],[3,4]] - [1,2] per column) = [0,10] x [[0,0],[2,2]] = [20,20] */
    uint8_t a[2] = {10, 20}, b[4] = {1, 2, 3, 4}, azp[1] = {10}, bzp[2] = {1, 2};
    weft_tensor in[4] = {wt_tensor(WEFT_UINT8, a, 2, D(1, 2)), wt_tensor(WEFT_UINT8, b, 2, D(2, 2)),
                         wt_tensor(WEFT_UINT8, azp, 0, NULL), wt_tensor(WEFT_UINT8, bzp, 1, D(2))};
    CU_ASSERT_EQUAL_FATAL(run1("MatMulInteger", 10, NULL, 0, in, 4, &out), WEFT_OK);
    CU_ASSERT(out.dtype == WEFT_INT32 && wt_shape_is(&out, 2, D(1, 2)));
    CU_ASSERT(((int32_t *)out.data)[0] == 20 && ((int32_t *)out.data)[1] == 20);
    wt_free_outputs(&out, 1);
    /* int8 without zero points: [[-1,2]] x [[3,1],[4,1]] = [5,1] */
    int8_t sa[2] = {-1, 2}, sb[4] = {3, 1, 4, 1};
    weft_tensor in2[2] = {wt_tensor(WEFT_INT8, sa, 2, D(1, 2)), wt_tensor(WEFT_INT8, sb, 2, D(2, 2))};
    CU_ASSERT_EQUAL_FATAL(run1("MatMulInteger", 10, NULL, 0, in2, 2, &out), WEFT_OK);
    CU_ASSERT(((int32_t *)out.data)[0] == 5 && ((int32_t *)out.data)[1] == 1);
    wt_free_outputs(&out, 1);
    /* a per-column zero point of the wrong length */
    uint8_t bad[3] = {0};
    in[3] = wt_tensor(WEFT_UINT8, bad, 1, D(3));
    CU_ASSERT_EQUAL(wt_run_op("MatMulInteger", 10, NULL, 0, in, 4, &out, 1), WEFT_ERR_SHAPE);
    wt_free_outputs(&out, 1);
    /* float inputs are not MatMulInteger's */
    float f[2] = {0};
    in2[0] = wt_tensor(WEFT_FLOAT32, f, 2, D(1, 2));
    CU_ASSERT_EQUAL(wt_run_op("MatMulInteger", 10, NULL, 0, in2, 2, &out, 1), WEFT_ERR_UNSUPPORTED);
}

static void test_gemm(void)
{
    weft_tensor out;
    float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, c[2] = {1, 2};
    /* A^T B = [[26,30],[38,44]]; 0.5 * that + 2 * [1,2] */
    weft_attr at[3] = {wt_attr_int("transA", 1), wt_attr_float("alpha", 0.5f), wt_attr_float("beta", 2.0f)};
    weft_tensor in[3] = {wt_tensor(WEFT_FLOAT32, a, 2, D(2, 2)), wt_tensor(WEFT_FLOAT32, b, 2, D(2, 2)),
                         wt_tensor(WEFT_FLOAT32, c, 1, D(2))};
    CU_ASSERT_EQUAL_FATAL(run1("Gemm", 13, at, 3, in, 3, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 2, D(2, 2)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){15, 19, 21, 26}, 4, 0, 0));
    wt_free_outputs(&out, 1);
    /* A B^T = [[17,23],[39,53]] + scalar 1 */
    weft_attr tb = wt_attr_int("transB", 1);
    float one[1] = {1};
    in[2] = wt_tensor(WEFT_FLOAT32, one, 0, NULL);
    CU_ASSERT_EQUAL_FATAL(run1("Gemm", 13, &tb, 1, in, 3, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){18, 24, 40, 54}, 4, 0, 0));
    wt_free_outputs(&out, 1);
    /* C as a column [2,1] */
    float col[2] = {10, 20};
    in[2] = wt_tensor(WEFT_FLOAT32, col, 2, D(2, 1));
    CU_ASSERT_EQUAL_FATAL(run1("Gemm", 13, NULL, 0, in, 3, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){19 + 10, 22 + 10, 43 + 20, 50 + 20}, 4, 0, 0));
    wt_free_outputs(&out, 1);
    /* both transposed, non-square: A stored [3,2] (A^T is 2x3), B stored [1,3] (B^T is 3x1) */
    float a3[6] = {1, 2, 3, 4, 5, 6}, b3[3] = {1, 1, 1};
    weft_attr tt[2] = {wt_attr_int("transA", 1), wt_attr_int("transB", 1)};
    weft_tensor in2[2] = {wt_tensor(WEFT_FLOAT32, a3, 2, D(3, 2)), wt_tensor(WEFT_FLOAT32, b3, 2, D(1, 3))};
    CU_ASSERT_EQUAL_FATAL(run1("Gemm", 13, tt, 2, in2, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 2, D(2, 1)));
    CU_ASSERT(wt_close_f32(F32(out), (float[]){1 + 3 + 5, 2 + 4 + 6}, 2, 0, 0));
    wt_free_outputs(&out, 1);
    /* no C: fine from opset 11, an error before */
    CU_ASSERT_EQUAL(wt_run_op("Gemm", 9, tt, 2, in2, 2, &out, 1), WEFT_ERR_INVALID_MODEL);
    /* C that does not broadcast to [2,2] */
    float c3[3] = {0};
    in[2] = wt_tensor(WEFT_FLOAT32, c3, 1, D(3));
    CU_ASSERT_EQUAL(wt_run_op("Gemm", 13, NULL, 0, in, 3, &out, 1), WEFT_ERR_SHAPE);
    /* inner dimension mismatch */
    in2[0] = wt_tensor(WEFT_FLOAT32, a3, 2, D(2, 3));
    in2[1] = wt_tensor(WEFT_FLOAT32, a3, 2, D(2, 3));
    CU_ASSERT_EQUAL(wt_run_op("Gemm", 13, NULL, 0, in2, 2, &out, 1), WEFT_ERR_SHAPE);
    /* integer Gemm, beta 2: [[1,2]] x [[3],[4]] + 2 * 5 = 21 */
    int32_t ia[2] = {1, 2}, ib[2] = {3, 4}, ic[1] = {5};
    weft_attr beta2 = wt_attr_float("beta", 2.0f);
    weft_tensor in3[3] = {wt_tensor(WEFT_INT32, ia, 2, D(1, 2)), wt_tensor(WEFT_INT32, ib, 2, D(2, 1)),
                          wt_tensor(WEFT_INT32, ic, 1, D(1))};
    CU_ASSERT_EQUAL_FATAL(run1("Gemm", 13, &beta2, 1, in3, 3, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int32_t *)out.data)[0], 21);
    wt_free_outputs(&out, 1);
}

/* --- softmax family -------------------------------------------------------------------------------- */

static void test_softmax(void)
{
    weft_tensor out;
    float x[3] = {1, 2, 3};
    weft_tensor in = wt_tensor(WEFT_FLOAT32, x, 2, D(1, 3));
    /* e^-2, e^-1, 1 over their sum 1.5032147244... */
    CU_ASSERT_EQUAL_FATAL(run1("Softmax", 13, NULL, 0, &in, 1, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0.09003057f, 0.24472847f, 0.66524096f}, 3, 1e-6, 0));
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("LogSoftmax", 13, NULL, 0, &in, 1, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){-2.40760596f, -1.40760596f, -0.40760596f}, 3, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* stable for large inputs */
    float big[2] = {1000, 1000};
    in = wt_tensor(WEFT_FLOAT32, big, 1, D(2));
    CU_ASSERT_EQUAL_FATAL(run1("Softmax", 13, NULL, 0, &in, 1, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0.5f, 0.5f}, 2, 0, 0));
    wt_free_outputs(&out, 1);
    /* axis semantics: [[1,2],[3,4]] with axis 0 */
    float q[4] = {1, 2, 3, 4};
    in = wt_tensor(WEFT_FLOAT32, q, 2, D(2, 2));
    weft_attr ax0 = wt_attr_int("axis", 0);
    /* opset 13: per column, softmax([1,3]) = [0.1192029, 0.8807971] */
    CU_ASSERT_EQUAL_FATAL(run1("Softmax", 13, &ax0, 1, &in, 1, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0.11920292f, 0.11920292f, 0.88079708f, 0.88079708f}, 4, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* opset 11: coerced to [1,4], one softmax over all four */
    CU_ASSERT_EQUAL_FATAL(run1("Softmax", 11, &ax0, 1, &in, 1, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0.0320586f, 0.08714432f, 0.23688282f, 0.64391426f}, 4, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* opset 11 default axis 1 on [2,2]: per row */
    CU_ASSERT_EQUAL_FATAL(run1("Softmax", 11, NULL, 0, &in, 1, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0.26894142f, 0.73105858f, 0.26894142f, 0.73105858f}, 4, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* Hardmax: 1 at the first maximum */
    float h[6] = {3, 1, 3, 0, 5, 2};
    in = wt_tensor(WEFT_FLOAT32, h, 2, D(2, 3));
    CU_ASSERT_EQUAL_FATAL(run1("Hardmax", 13, NULL, 0, &in, 1, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){1, 0, 0, 0, 1, 0}, 6, 0, 0));
    wt_free_outputs(&out, 1);
    /* float16 */
    uint16_t hz[2] = {0, 0};
    in = wt_tensor(WEFT_FLOAT16, hz, 1, D(2));
    CU_ASSERT_EQUAL_FATAL(run1("Softmax", 13, NULL, 0, &in, 1, &out), WEFT_OK);
    CU_ASSERT(weft_f16_to_f32(((uint16_t *)out.data)[1]) == 0.5f);
    wt_free_outputs(&out, 1);
    /* errors: axis out of range, integer input */
    weft_attr ax5 = wt_attr_int("axis", 5);
    CU_ASSERT_EQUAL(wt_run_op("Softmax", 13, &ax5, 1, &in, 1, &out, 1), WEFT_ERR_SHAPE);
    int32_t ix[2] = {1, 2};
    in = wt_tensor(WEFT_INT32, ix, 1, D(2));
    CU_ASSERT_EQUAL(wt_run_op("Softmax", 13, NULL, 0, &in, 1, &out, 1), WEFT_ERR_UNSUPPORTED);
}

/* --- normalisations -------------------------------------------------------------------------------- */

static void test_layernorm(void)
{
    /* [1,2,3,4]: mean 2.5, var 1.25, inv 1/sqrt(1.25) = 0.894427191 */
    float x[4] = {1, 2, 3, 4}, w[4] = {2, 2, 2, 2}, b[4] = {1, 1, 1, 1};
    const float n0 = 0.4472135955f, n1 = 1.3416407865f;
    weft_attr at[1] = {wt_attr_float("epsilon", 0)};
    weft_tensor in[3] = {wt_tensor(WEFT_FLOAT32, x, 2, D(1, 4)), wt_tensor(WEFT_FLOAT32, w, 1, D(4)),
                         wt_tensor(WEFT_FLOAT32, b, 1, D(4))};
    weft_tensor out[3];
    weft_status st = wt_run_op("LayerNormalization", 17, at, 1, in, 3, out, 3);
    CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out[0]), (float[]){1 - 2 * n1, 1 - 2 * n0, 1 + 2 * n0, 1 + 2 * n1}, 4, 1e-6, 0));
    CU_ASSERT(wt_shape_is(&out[1], 2, D(1, 1)) && wt_shape_is(&out[2], 2, D(1, 1)));
    CU_ASSERT(out[1].dtype == WEFT_FLOAT32 && F32(out[1])[0] == 2.5f);
    CU_ASSERT(wt_close_f32(F32(out[2]), (float[]){0.894427191f}, 1, 1e-6, 0));
    wt_free_outputs(out, 3);
    /* axis 0 on [2,2] normalises everything; no bias; W broadcasts as [2] over the last axis */
    weft_attr at2[2] = {wt_attr_float("epsilon", 0), wt_attr_int("axis", 0)};
    in[0] = wt_tensor(WEFT_FLOAT32, x, 2, D(2, 2));
    in[1] = wt_tensor(WEFT_FLOAT32, (float[]){1, 10}, 1, D(2));
    CU_ASSERT_EQUAL_FATAL(run1("LayerNormalization", 17, at2, 2, in, 2, &out[0]), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out[0]), (float[]){-n1, -10 * n0, n0, 10 * n1}, 4, 1e-6, 0));
    wt_free_outputs(out, 1);
    /* Scale that does not broadcast */
    in[1] = wt_tensor(WEFT_FLOAT32, w, 1, D(3));
    CU_ASSERT_EQUAL(wt_run_op("LayerNormalization", 17, at, 1, in, 2, out, 1), WEFT_ERR_SHAPE);
}

static void test_rmsnorm(void)
{
    /* [3,4]: mean square 12.5, rms 3.5355339; scale [1,2] */
    float x[2] = {3, 4}, w[2] = {1, 2};
    weft_attr eps = wt_attr_float("epsilon", 0);
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, x, 2, D(1, 2)), wt_tensor(WEFT_FLOAT32, w, 1, D(2))}, out;
    CU_ASSERT_EQUAL_FATAL(run1("RMSNormalization", 23, &eps, 1, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0.84852814f, 2.2627417f}, 2, 1e-6, 0));
    wt_free_outputs(&out, 1);
}

static void test_instancenorm(void)
{
    /* N=1, C=2, D=2: channel 0 [1,3] (mean 2, var 1), channel 1 [2,6] (mean 4, var 4); eps 1e-5 */
    float x[4] = {1, 3, 2, 6}, s[2] = {1, 2}, b[2] = {0, 1};
    weft_tensor in[3] = {wt_tensor(WEFT_FLOAT32, x, 3, D(1, 2, 2)), wt_tensor(WEFT_FLOAT32, s, 1, D(2)),
                         wt_tensor(WEFT_FLOAT32, b, 1, D(2))}, out;
    CU_ASSERT_EQUAL_FATAL(run1("InstanceNormalization", 22, NULL, 0, in, 3, &out), WEFT_OK);
    double i0 = 1 / sqrt(1.00001), i1 = 2 / sqrt(4.00001);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){(float)-i0, (float)i0, (float)(1 - 2 * i1), (float)(1 + 2 * i1)}, 4,
                           1e-6, 0));
    wt_free_outputs(&out, 1);
    in[1] = wt_tensor(WEFT_FLOAT32, s, 1, D(1));
    CU_ASSERT_EQUAL(wt_run_op("InstanceNormalization", 22, NULL, 0, in, 3, &out, 1), WEFT_ERR_SHAPE);
}

static void test_groupnorm(void)
{
    /* N=1, C=4, one position, 2 groups: group 0 = channels [1,3] (mean 2, var 1), group 1 = [2,6] (mean 4,
     * var 4); eps 0 normalises both to [-1, 1] */
    float x[4] = {1, 3, 2, 6};
    weft_attr at[2] = {wt_attr_int("num_groups", 2), wt_attr_float("epsilon", 0)};
    /* opset 21: scale / bias per channel */
    float s4[4] = {1, 2, 3, 4}, b4[4] = {0, 0, 0, 1};
    weft_tensor in[3] = {wt_tensor(WEFT_FLOAT32, x, 3, D(1, 4, 1)), wt_tensor(WEFT_FLOAT32, s4, 1, D(4)),
                         wt_tensor(WEFT_FLOAT32, b4, 1, D(4))}, out;
    CU_ASSERT_EQUAL_FATAL(run1("GroupNormalization", 21, at, 2, in, 3, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){-1, 2, -3, 5}, 4, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* opset 18: scale / bias per group */
    float s2[2] = {1, 2}, b2[2] = {0, 1};
    in[1] = wt_tensor(WEFT_FLOAT32, s2, 1, D(2));
    in[2] = wt_tensor(WEFT_FLOAT32, b2, 1, D(2));
    CU_ASSERT_EQUAL_FATAL(run1("GroupNormalization", 18, at, 2, in, 3, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){-1, 1, -1, 3}, 4, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* per-group parameters at opset 21 are the wrong length */
    CU_ASSERT_EQUAL(wt_run_op("GroupNormalization", 21, at, 2, in, 3, &out, 1), WEFT_ERR_SHAPE);
    /* 4 channels do not split into 3 groups */
    weft_attr g3[1] = {wt_attr_int("num_groups", 3)};
    CU_ASSERT_EQUAL(wt_run_op("GroupNormalization", 18, g3, 1, in, 3, &out, 1), WEFT_ERR_SHAPE);
}

static void test_mvn_lpnorm(void)
{
    /* default axes [0,2,3] on [1,2,1,2]: channel 0 [1,3] -> [-1,1]/(1+1e-9); channel 1 [5,5] -> 0 */
    float x[4] = {1, 3, 5, 5};
    weft_tensor in = wt_tensor(WEFT_FLOAT32, x, 4, D(1, 2, 1, 2)), out;
    CU_ASSERT_EQUAL_FATAL(run1("MeanVarianceNormalization", 13, NULL, 0, &in, 1, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){-1, 1, 0, 0}, 4, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* Lp over the last axis: [[3,4],[0,0]] */
    float y[4] = {3, 4, 0, 0};
    in = wt_tensor(WEFT_FLOAT32, y, 2, D(2, 2));
    CU_ASSERT_EQUAL_FATAL(run1("LpNormalization", 22, NULL, 0, &in, 1, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){0.6f, 0.8f, 0, 0}, 4, 1e-7, 0));
    wt_free_outputs(&out, 1);
    weft_attr p1[2] = {wt_attr_int("p", 1), wt_attr_int("axis", 0)};
    CU_ASSERT_EQUAL_FATAL(run1("LpNormalization", 22, p1, 2, &in, 1, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out), (float[]){1, 1, 0, 0}, 4, 1e-7, 0));
    wt_free_outputs(&out, 1);
    weft_attr p3 = wt_attr_int("p", 3);
    CU_ASSERT_EQUAL(wt_run_op("LpNormalization", 22, &p3, 1, &in, 1, &out, 1), WEFT_ERR_INVALID_MODEL);
}

static void test_batchnorm(void)
{
    /* [1,2,1,2]: channel 0 [1,3], channel 1 [2,4]; scale [1,2], B [0,1], mean [2,3], var [1,4], eps 0 */
    float x[4] = {1, 3, 2, 4}, s[2] = {1, 2}, b[2] = {0, 1}, m[2] = {2, 3}, v[2] = {1, 4};
    weft_attr eps = wt_attr_float("epsilon", 0);
    weft_tensor in[5] = {wt_tensor(WEFT_FLOAT32, x, 4, D(1, 2, 1, 2)), wt_tensor(WEFT_FLOAT32, s, 1, D(2)),
                         wt_tensor(WEFT_FLOAT32, b, 1, D(2)), wt_tensor(WEFT_FLOAT32, m, 1, D(2)),
                         wt_tensor(WEFT_FLOAT32, v, 1, D(2))}, out[3];
    CU_ASSERT_EQUAL_FATAL(run1("BatchNormalization", 15, &eps, 1, in, 5, &out[0]), WEFT_OK);
    CU_ASSERT(wt_close_f32(F32(out[0]), (float[]){-1, 1, 0, 2}, 4, 1e-7, 0));
    wt_free_outputs(out, 1);
    /* opset 9: the same inference formula */
    CU_ASSERT_EQUAL_FATAL(run1("BatchNormalization", 9, &eps, 1, in, 5, &out[0]), WEFT_OK);
    wt_free_outputs(out, 1);
    weft_attr tr[2] = {wt_attr_int("training_mode", 1), eps};
    CU_ASSERT_EQUAL(wt_run_op("BatchNormalization", 15, tr, 2, in, 5, out, 3), WEFT_ERR_UNSUPPORTED);
    in[3] = wt_tensor(WEFT_FLOAT32, m, 1, D(1));
    CU_ASSERT_EQUAL(wt_run_op("BatchNormalization", 15, &eps, 1, in, 5, out, 1), WEFT_ERR_SHAPE);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("ops_math", NULL, NULL);
    CU_add_test(s, "reduce_sum_axes_forms", test_reduce_sum_axes_forms);
    CU_add_test(s, "reduce_strided_axes", test_reduce_strided_axes);
    CU_add_test(s, "reduce_kinds", test_reduce_kinds);
    CU_add_test(s, "reduce_integers", test_reduce_integers);
    CU_add_test(s, "reduce_empty_sets", test_reduce_empty_sets);
    CU_add_test(s, "reduce_errors", test_reduce_errors);
    CU_add_test(s, "reduce_float16", test_reduce_float16);
    CU_add_test(s, "reduce_noop_maps", test_reduce_noop_maps);
    CU_add_test(s, "infer_symbolic", test_reduce_infer_symbolic);
    CU_add_test(s, "matmul", test_matmul);
    CU_add_test(s, "matmul_integer", test_matmul_integer);
    CU_add_test(s, "gemm", test_gemm);
    CU_add_test(s, "softmax", test_softmax);
    CU_add_test(s, "layernorm", test_layernorm);
    CU_add_test(s, "rmsnorm", test_rmsnorm);
    CU_add_test(s, "instancenorm", test_instancenorm);
    CU_add_test(s, "groupnorm", test_groupnorm);
    CU_add_test(s, "mvn_lpnorm", test_mvn_lpnorm);
    CU_add_test(s, "batchnorm", test_batchnorm);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
