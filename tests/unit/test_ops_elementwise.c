/*
 * tests/unit/test_ops_elementwise.c — the unary and binary operator families against values worked out
 * by hand (or from the formulas in the ONNX operator spec).
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "op_harness.h"

#define D(...) ((const int64_t[]){__VA_ARGS__})

/* Runs a one-output op; returns its status. */
static weft_status run1(const char *op, int opset, const weft_attr *attrs, int na, const weft_tensor *in, int n,
                        weft_tensor *out)
{
    return wt_run_op(op, opset, attrs, na, in, n, out, 1);
}

/* --- binary arithmetic ---------------------------------------------------------------------------- */

static void test_add_shapes(void)
{
    /* same shape */
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {10, 20, 30, 40, 50, 60}, r1[6] = {11, 22, 33, 44, 55, 66};
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, a, 2, D(2, 3)), wt_tensor(WEFT_FLOAT32, b, 2, D(2, 3))}, out;
    CU_ASSERT_EQUAL_FATAL(run1("Add", 14, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 2, D(2, 3)));
    CU_ASSERT(wt_close_f32(out.data, r1, 6, 0, 0));
    wt_free_outputs(&out, 1);

    /* [2,3] + [3]: the row is added to each row */
    float row[3] = {100, 200, 300}, r2[6] = {101, 202, 303, 104, 205, 306};
    in[1] = wt_tensor(WEFT_FLOAT32, row, 1, D(3));
    CU_ASSERT_EQUAL_FATAL(run1("Add", 14, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(out.data, r2, 6, 0, 0));
    wt_free_outputs(&out, 1);

    /* scalar on the left */
    float s = 0.5f, r3[6] = {1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f};
    weft_tensor in2[2] = {wt_tensor(WEFT_FLOAT32, &s, 0, NULL), wt_tensor(WEFT_FLOAT32, a, 2, D(2, 3))};
    CU_ASSERT_EQUAL_FATAL(run1("Add", 14, NULL, 0, in2, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 2, D(2, 3)));
    CU_ASSERT(wt_close_f32(out.data, r3, 6, 0, 0));
    wt_free_outputs(&out, 1);

    /* [2,1] - [1,3]: both sides broadcast (outer product of differences) */
    float col[2] = {10, 20}, r4[6] = {9, 8, 7, 19, 18, 17};
    weft_tensor in3[2] = {wt_tensor(WEFT_FLOAT32, col, 2, D(2, 1)), wt_tensor(WEFT_FLOAT32, a, 2, D(1, 3))};
    CU_ASSERT_EQUAL_FATAL(run1("Sub", 14, NULL, 0, in3, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 2, D(2, 3)));
    CU_ASSERT(wt_close_f32(out.data, r4, 6, 0, 0));
    wt_free_outputs(&out, 1);

    /* [2,3,2] * [3,1]: a middle broadcast that cannot be merged away */
    float x[12], m[3] = {1, 10, 100}, r5[12];
    for (int i = 0; i < 12; i++) { x[i] = (float)i; r5[i] = (float)i * m[(i / 2) % 3]; }
    weft_tensor in4[2] = {wt_tensor(WEFT_FLOAT32, x, 3, D(2, 3, 2)), wt_tensor(WEFT_FLOAT32, m, 2, D(3, 1))};
    CU_ASSERT_EQUAL_FATAL(run1("Mul", 14, NULL, 0, in4, 2, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(out.data, r5, 12, 0, 0));
    wt_free_outputs(&out, 1);

    /* shapes that do not broadcast, and mixed dtypes */
    float four[4] = {0};
    weft_tensor bad[2] = {wt_tensor(WEFT_FLOAT32, a, 2, D(2, 3)), wt_tensor(WEFT_FLOAT32, four, 1, D(4))};
    CU_ASSERT_EQUAL(run1("Add", 14, NULL, 0, bad, 2, &out), WEFT_ERR_SHAPE);
    int32_t i3[3] = {1, 2, 3};
    bad[1] = wt_tensor(WEFT_INT32, i3, 1, D(3));
    CU_ASSERT_EQUAL(run1("Add", 14, NULL, 0, bad, 2, &out), WEFT_ERR_TYPE);
    uint8_t bl[6] = {0};
    weft_tensor bb[2] = {wt_tensor(WEFT_BOOL, bl, 1, D(6)), wt_tensor(WEFT_BOOL, bl, 1, D(6))};
    CU_ASSERT_EQUAL(run1("Add", 14, NULL, 0, bb, 2, &out), WEFT_ERR_TYPE);
}

static void test_int_arith(void)
{
    weft_tensor out;
    /* int8 wraps: 127 + 1 = -128; -128 - 1 = 127; 64 * 2 = -128 */
    int8_t a[3] = {127, -128, 64}, b[3] = {1, 1, 2};
    weft_tensor in[2] = {wt_tensor(WEFT_INT8, a, 1, D(3)), wt_tensor(WEFT_INT8, b, 1, D(3))};
    CU_ASSERT_EQUAL_FATAL(run1("Add", 14, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int8_t *)out.data)[0], -128);
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("Sub", 14, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int8_t *)out.data)[1], 127);
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("Mul", 14, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int8_t *)out.data)[2], -128);
    wt_free_outputs(&out, 1);

    /* int32 division truncates toward zero; INT32_MIN / -1 wraps to INT32_MIN */
    int32_t n[4] = {-7, 7, -7, INT32_MIN}, d[4] = {2, -2, -2, -1}, q[4] = {-3, -3, 3, INT32_MIN};
    weft_tensor di[2] = {wt_tensor(WEFT_INT32, n, 1, D(4)), wt_tensor(WEFT_INT32, d, 1, D(4))};
    CU_ASSERT_EQUAL_FATAL(run1("Div", 14, NULL, 0, di, 2, &out), WEFT_OK);
    CU_ASSERT(memcmp(out.data, q, sizeof q) == 0);
    wt_free_outputs(&out, 1);

    /* integer division by zero is an error, not a crash */
    int32_t z[4] = {1, 0, 1, 1};
    di[1] = wt_tensor(WEFT_INT32, z, 1, D(4));
    CU_ASSERT_EQUAL(run1("Div", 14, NULL, 0, di, 2, &out), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT(strstr(weft_last_error(), "element 1") != NULL);
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL(run1("Mod", 13, NULL, 0, di, 2, &out), WEFT_ERR_INVALID_ARGUMENT);
    wt_free_outputs(&out, 1);

    /* uint8 over a scalar: 200 / 3 = 66 */
    uint8_t u[2] = {200, 9}, three = 3;
    weft_tensor ui[2] = {wt_tensor(WEFT_UINT8, u, 1, D(2)), wt_tensor(WEFT_UINT8, &three, 0, NULL)};
    CU_ASSERT_EQUAL_FATAL(run1("Div", 14, NULL, 0, ui, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((uint8_t *)out.data)[0], 66);
    CU_ASSERT_EQUAL(((uint8_t *)out.data)[1], 3);
    wt_free_outputs(&out, 1);
}

static void test_mod(void)
{
    weft_tensor out;
    int32_t a[4] = {-7, 7, -7, 7}, b[4] = {3, -3, -3, 3};
    weft_tensor in[2] = {wt_tensor(WEFT_INT32, a, 1, D(4)), wt_tensor(WEFT_INT32, b, 1, D(4))};
    /* fmod = 0: the result takes the divisor's sign (as Python's %) */
    int32_t r0[4] = {2, -2, -1, 1};
    CU_ASSERT_EQUAL_FATAL(run1("Mod", 13, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT(memcmp(out.data, r0, sizeof r0) == 0);
    wt_free_outputs(&out, 1);
    /* fmod = 1: the dividend's sign (as C's %) */
    int32_t r1[4] = {-1, 1, -1, 1};
    weft_attr fm = wt_attr_int("fmod", 1);
    CU_ASSERT_EQUAL_FATAL(run1("Mod", 13, &fm, 1, in, 2, &out), WEFT_OK);
    CU_ASSERT(memcmp(out.data, r1, sizeof r1) == 0);
    wt_free_outputs(&out, 1);
    /* float: fmod(-7.5, 2) = -1.5; without fmod = 1 the model is invalid */
    float fa[2] = {-7.5f, 7.5f}, fb[2] = {2, -2}, fr[2] = {-1.5f, 1.5f};
    weft_tensor fi[2] = {wt_tensor(WEFT_FLOAT32, fa, 1, D(2)), wt_tensor(WEFT_FLOAT32, fb, 1, D(2))};
    CU_ASSERT_EQUAL_FATAL(run1("Mod", 13, &fm, 1, fi, 2, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(out.data, fr, 2, 0, 0));
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL(run1("Mod", 13, NULL, 0, fi, 2, &out), WEFT_ERR_INVALID_MODEL);
}

static void test_pow(void)
{
    weft_tensor out;
    /* float base, int64 exponent */
    float b[3] = {2, 3, 4};
    int64_t e[3] = {3, 2, -1};
    float r[3] = {8, 9, 0.25f};
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, b, 1, D(3)), wt_tensor(WEFT_INT64, e, 1, D(3))};
    CU_ASSERT_EQUAL_FATAL(run1("Pow", 15, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(out.dtype, WEFT_FLOAT32);
    CU_ASSERT(wt_close_f32(out.data, r, 3, 1e-7, 0));
    wt_free_outputs(&out, 1);
    /* int64 base, int64 exponent: exact, beyond double's 53 bits: 3^39 = 4052555153018976267 */
    int64_t ib[3] = {3, 2, -1}, ie[3] = {39, -1, -3}, ir[3] = {4052555153018976267LL, 0, -1};
    weft_tensor ii[2] = {wt_tensor(WEFT_INT64, ib, 1, D(3)), wt_tensor(WEFT_INT64, ie, 1, D(3))};
    CU_ASSERT_EQUAL_FATAL(run1("Pow", 15, NULL, 0, ii, 2, &out), WEFT_OK);
    CU_ASSERT(memcmp(out.data, ir, sizeof ir) == 0);
    wt_free_outputs(&out, 1);
    /* int32 base, float exponent: sqrt(16) = 4 */
    int32_t i32[1] = {16};
    float half = 0.5f;
    weft_tensor fi[2] = {wt_tensor(WEFT_INT32, i32, 1, D(1)), wt_tensor(WEFT_FLOAT32, &half, 0, NULL)};
    CU_ASSERT_EQUAL_FATAL(run1("Pow", 15, NULL, 0, fi, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int32_t *)out.data)[0], 4);
    wt_free_outputs(&out, 1);
}

/* --- comparisons, logic, bits -------------------------------------------------------------------- */

static void test_compare_logic(void)
{
    weft_tensor out;
    float a[4] = {1, 2, NAN, 4}, two = 2;
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, a, 1, D(4)), wt_tensor(WEFT_FLOAT32, &two, 0, NULL)};
    const struct { const char *op; uint8_t want[4]; } cases[] = {
        {"Equal", {0, 1, 0, 0}}, {"Less", {1, 0, 0, 0}}, {"LessOrEqual", {1, 1, 0, 0}},
        {"Greater", {0, 0, 0, 1}}, {"GreaterOrEqual", {0, 1, 0, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        CU_ASSERT_EQUAL_FATAL(run1(cases[c].op, 16, NULL, 0, in, 2, &out), WEFT_OK);
        CU_ASSERT_EQUAL(out.dtype, WEFT_BOOL);
        if (memcmp(out.data, cases[c].want, 4) != 0) {
            fprintf(stderr, "  %s wrong\n", cases[c].op);
            CU_FAIL("comparison");
        }
        wt_free_outputs(&out, 1);
    }
    /* And / Or / Xor with [2,2] x [2] */
    uint8_t x[4] = {0, 0, 1, 1}, y[2] = {0, 1};
    weft_tensor li[2] = {wt_tensor(WEFT_BOOL, x, 2, D(2, 2)), wt_tensor(WEFT_BOOL, y, 1, D(2))};
    uint8_t rand_[4] = {0, 0, 0, 1}, ror[4] = {0, 1, 1, 1}, rxor[4] = {0, 1, 1, 0};
    CU_ASSERT_EQUAL_FATAL(run1("And", 7, NULL, 0, li, 2, &out), WEFT_OK);
    CU_ASSERT(memcmp(out.data, rand_, 4) == 0);
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("Or", 7, NULL, 0, li, 2, &out), WEFT_OK);
    CU_ASSERT(memcmp(out.data, ror, 4) == 0);
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("Xor", 7, NULL, 0, li, 2, &out), WEFT_OK);
    CU_ASSERT(memcmp(out.data, rxor, 4) == 0);
    wt_free_outputs(&out, 1);
    /* And of floats is a type error */
    CU_ASSERT_EQUAL(run1("And", 7, NULL, 0, in, 2, &out), WEFT_ERR_TYPE);
    /* Equal on bool */
    CU_ASSERT_EQUAL_FATAL(run1("Equal", 11, NULL, 0, li, 2, &out), WEFT_OK);
    uint8_t req[4] = {1, 0, 0, 1};
    CU_ASSERT(memcmp(out.data, req, 4) == 0);
    wt_free_outputs(&out, 1);
}

static void test_bits(void)
{
    weft_tensor out;
    uint8_t a[4] = {1, 0x80, 0xff, 16}, s[4] = {1, 1, 8, 2};
    weft_tensor in[2] = {wt_tensor(WEFT_UINT8, a, 1, D(4)), wt_tensor(WEFT_UINT8, s, 1, D(4))};
    weft_attr left = wt_attr_string("direction", "LEFT"), right = wt_attr_string("direction", "RIGHT");
    uint8_t rl[4] = {2, 0, 0, 64}, rr[4] = {0, 0x40, 0, 4};
    CU_ASSERT_EQUAL_FATAL(run1("BitShift", 11, &left, 1, in, 2, &out), WEFT_OK);
    CU_ASSERT(memcmp(out.data, rl, 4) == 0);
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("BitShift", 11, &right, 1, in, 2, &out), WEFT_OK);
    CU_ASSERT(memcmp(out.data, rr, 4) == 0);
    wt_free_outputs(&out, 1);
    weft_attr bad = wt_attr_string("direction", "UP");
    CU_ASSERT_EQUAL(run1("BitShift", 11, &bad, 1, in, 2, &out), WEFT_ERR_INVALID_MODEL);
    CU_ASSERT_EQUAL(run1("BitShift", 11, NULL, 0, in, 2, &out), WEFT_ERR_INVALID_MODEL);

    int16_t x[2] = {0x0f0f, -1}, y[2] = {0x00ff, 0x1234};
    weft_tensor bi[2] = {wt_tensor(WEFT_INT16, x, 1, D(2)), wt_tensor(WEFT_INT16, y, 1, D(2))};
    CU_ASSERT_EQUAL_FATAL(run1("BitwiseAnd", 18, NULL, 0, bi, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int16_t *)out.data)[0], 0x000f);
    CU_ASSERT_EQUAL(((int16_t *)out.data)[1], 0x1234);
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("BitwiseXor", 18, NULL, 0, bi, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int16_t *)out.data)[0], 0x0ff0);
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("BitwiseNot", 18, NULL, 0, bi, 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int16_t *)out.data)[0], (int16_t)0xf0f0);
    CU_ASSERT_EQUAL(((int16_t *)out.data)[1], 0);
    wt_free_outputs(&out, 1);
}

/* --- Where, variadic, PRelu, float16 ------------------------------------------------------------- */

static void test_where(void)
{
    weft_tensor out;
    /* cond [2,1], X [1,3], Y scalar -> [2,3] */
    uint8_t c[2] = {1, 0};
    int64_t x[3] = {1, 2, 3}, y = -1;
    weft_tensor in[3] = {wt_tensor(WEFT_BOOL, c, 2, D(2, 1)), wt_tensor(WEFT_INT64, x, 2, D(1, 3)),
                         wt_tensor(WEFT_INT64, &y, 0, NULL)};
    int64_t r[6] = {1, 2, 3, -1, -1, -1};
    CU_ASSERT_EQUAL_FATAL(run1("Where", 16, NULL, 0, in, 3, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 2, D(2, 3)));
    CU_ASSERT(memcmp(out.data, r, sizeof r) == 0);
    wt_free_outputs(&out, 1);
    /* condition must be bool */
    in[0] = wt_tensor(WEFT_INT64, x, 1, D(3));
    CU_ASSERT_EQUAL(run1("Where", 16, NULL, 0, in, 3, &out), WEFT_ERR_TYPE);
}

static void test_variadic(void)
{
    weft_tensor out;
    float a[3] = {1, 5, NAN}, b[1] = {3}, c[2 * 3] = {0, 0, 0, 10, 10, 10};
    weft_tensor in[3] = {wt_tensor(WEFT_FLOAT32, a, 1, D(3)), wt_tensor(WEFT_FLOAT32, b, 1, D(1)),
                         wt_tensor(WEFT_FLOAT32, c, 2, D(2, 3))};
    float rmax[6] = {3, 5, NAN, 10, 10, NAN}, rmin[6] = {0, 0, NAN, 1, 3, NAN};
    float rsum[6] = {4, 8, NAN, 14, 18, NAN}, rmean[6] = {4 / 3.f, 8 / 3.f, NAN, 14 / 3.f, 6, NAN};
    CU_ASSERT_EQUAL_FATAL(run1("Max", 13, NULL, 0, in, 3, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 2, D(2, 3)));
    CU_ASSERT(wt_close_f32(out.data, rmax, 6, 0, 0));
    CU_ASSERT(isnan(((float *)out.data)[2]));
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("Min", 13, NULL, 0, in, 3, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(out.data, rmin, 6, 0, 0));
    CU_ASSERT(isnan(((float *)out.data)[5]));
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("Sum", 13, NULL, 0, in, 3, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(out.data, rsum, 6, 0, 0));
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("Mean", 13, NULL, 0, in, 3, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(out.data, rmean, 6, 1e-6, 0));
    wt_free_outputs(&out, 1);
    /* one input: a copy */
    CU_ASSERT_EQUAL_FATAL(run1("Sum", 13, NULL, 0, in, 1, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(out.data, a, 3, 0, 0));
    wt_free_outputs(&out, 1);
    /* integers: Max of int32 with INT32_MIN */
    int32_t i1[2] = {INT32_MIN, 5}, i2[2] = {-3, 7};
    weft_tensor ii[2] = {wt_tensor(WEFT_INT32, i1, 1, D(2)), wt_tensor(WEFT_INT32, i2, 1, D(2))};
    CU_ASSERT_EQUAL_FATAL(run1("Max", 13, NULL, 0, ii, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int32_t *)out.data)[0], -3);
    CU_ASSERT_EQUAL(((int32_t *)out.data)[1], 7);
    wt_free_outputs(&out, 1);
}

static void test_prelu(void)
{
    weft_tensor out;
    float x[6] = {-1, 2, -3, 4, -5, 6}, s[3] = {0.5f, 0.25f, 2}, r[6] = {-0.5f, 2, -6, 4, -1.25f, 6};
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, x, 2, D(2, 3)), wt_tensor(WEFT_FLOAT32, s, 1, D(3))};
    CU_ASSERT_EQUAL_FATAL(run1("PRelu", 16, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT(wt_shape_is(&out, 2, D(2, 3)));
    CU_ASSERT(wt_close_f32(out.data, r, 6, 0, 0));
    wt_free_outputs(&out, 1);
    /* the slope may not grow X */
    float s2[6] = {0};
    in[1] = wt_tensor(WEFT_FLOAT32, s2, 3, D(2, 1, 3));
    CU_ASSERT_EQUAL(run1("PRelu", 16, NULL, 0, in, 2, &out), WEFT_ERR_SHAPE);
}

static void test_float16(void)
{
    weft_tensor out;
    /* 1.5 + 2.25 = 3.75, exact in float16: 0x3E00 + 0x4080 = 0x4380 */
    uint16_t a[2] = {0x3E00, 0x3C00}, b[2] = {0x4080, 0x3C00};
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT16, a, 1, D(2)), wt_tensor(WEFT_FLOAT16, b, 1, D(2))};
    CU_ASSERT_EQUAL_FATAL(run1("Add", 14, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(out.dtype, WEFT_FLOAT16);
    CU_ASSERT_EQUAL(((uint16_t *)out.data)[0], 0x4380);
    CU_ASSERT_EQUAL(((uint16_t *)out.data)[1], 0x4000); /* 1 + 1 = 2 */
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("Less", 13, NULL, 0, in, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(out.dtype, WEFT_BOOL);
    CU_ASSERT_EQUAL(((uint8_t *)out.data)[0], 1);
    CU_ASSERT_EQUAL(((uint8_t *)out.data)[1], 0);
    wt_free_outputs(&out, 1);
    /* unary on float16: Neg(1.5) = -1.5 (0xBE00), Sqrt(2.25) = 1.5 */
    CU_ASSERT_EQUAL_FATAL(run1("Neg", 13, NULL, 0, in, 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((uint16_t *)out.data)[0], 0xBE00);
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("Sqrt", 13, NULL, 0, &in[1], 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((uint16_t *)out.data)[0], 0x3E00);
    wt_free_outputs(&out, 1);
}

/* --- unary ---------------------------------------------------------------------------------------- */

static void check_unary(const char *op, int opset, const weft_attr *attrs, int na, const float *x, const float *want,
                        int n, double rtol)
{
    weft_tensor in = wt_tensor(WEFT_FLOAT32, x, 1, (int64_t[]){n}), out;
    weft_status st = run1(op, opset, attrs, na, &in, 1, &out);
    CU_ASSERT_EQUAL(st, WEFT_OK);
    if (st) { fprintf(stderr, "  %s: %s\n", op, weft_last_error()); return; }
    if (!wt_close_f32(out.data, want, n, rtol, 1e-7)) {
        fprintf(stderr, "  in %s\n", op);
        CU_FAIL("unary value");
    }
    wt_free_outputs(&out, 1);
}

static void test_unary_math(void)
{
    float x[4] = {-1, 0, 1, 2};
    check_unary("Relu", 14, NULL, 0, x, (float[]){0, 0, 1, 2}, 4, 0);
    check_unary("Neg", 13, NULL, 0, x, (float[]){1, 0, -1, -2}, 4, 0);
    check_unary("Abs", 13, NULL, 0, x, (float[]){1, 0, 1, 2}, 4, 0);
    check_unary("Sign", 13, NULL, 0, x, (float[]){-1, 0, 1, 1}, 4, 0);
    check_unary("Exp", 13, NULL, 0, x, (float[]){0.36787944f, 1, 2.7182818f, 7.3890561f}, 4, 1e-6);
    check_unary("Sigmoid", 13, NULL, 0, x, (float[]){0.26894142f, 0.5f, 0.73105858f, 0.88079708f}, 4, 1e-6);
    check_unary("Softsign", 13, NULL, 0, x, (float[]){-0.5f, 0, 0.5f, 2 / 3.f}, 4, 1e-6);
    check_unary("Softplus", 13, NULL, 0, (float[]){0, 100}, (float[]){0.69314718f, 100}, 2, 1e-6);
    weft_attr la = wt_attr_float("alpha", 0.1f);
    check_unary("LeakyRelu", 16, &la, 1, x, (float[]){-0.1f, 0, 1, 2}, 4, 1e-6);
    weft_attr ea = wt_attr_float("alpha", 2.0f);
    /* Elu(-1) = 2 (e^-1 - 1) */
    check_unary("Elu", 6, &ea, 1, x, (float[]){-1.2642411f, 0, 1, 2}, 4, 1e-6);
    /* Celu(-1) with alpha 2 = 2 (e^-0.5 - 1) */
    check_unary("Celu", 12, &ea, 1, x, (float[]){-0.78693868f, 0, 1, 2}, 4, 1e-6);
    /* Selu defaults: gamma * alpha * (e^-1 - 1) */
    check_unary("Selu", 6, NULL, 0, x, (float[]){-1.1113307f, 0, 1.0507010f, 2.1014020f}, 4, 1e-6);
    check_unary("HardSigmoid", 6, NULL, 0, (float[]){-3, 0, 1, 3}, (float[]){0, 0.5f, 0.7f, 1}, 4, 1e-6);
    check_unary("HardSwish", 14, NULL, 0, (float[]){-4, 0, 1, 4}, (float[]){0, 0, 2 / 3.f, 4}, 4, 1e-6);
    check_unary("Mish", 18, NULL, 0, (float[]){1}, (float[]){0.86509839f}, 1, 1e-6);
    check_unary("Gelu", 20, NULL, 0, (float[]){1}, (float[]){0.84134475f}, 1, 1e-6);
    weft_attr gt = wt_attr_string("approximate", "tanh");
    check_unary("Gelu", 20, &gt, 1, (float[]){1}, (float[]){0.84119199f}, 1, 1e-6);
    weft_attr gbad = wt_attr_string("approximate", "fast");
    weft_tensor one = wt_tensor(WEFT_FLOAT32, x, 1, D(1)), out;
    CU_ASSERT_EQUAL(run1("Gelu", 20, &gbad, 1, &one, 1, &out), WEFT_ERR_INVALID_MODEL);
    check_unary("ThresholdedRelu", 10, NULL, 0, (float[]){0.5f, 1, 1.5f}, (float[]){0, 0, 1.5f}, 3, 0);
    weft_attr sh[2] = {wt_attr_float("lambd", 1.0f), wt_attr_float("bias", 0.5f)};
    check_unary("Shrink", 9, sh, 2, (float[]){-2, -1, 0.5f, 3}, (float[]){-1.5f, 0, 0, 2.5f}, 4, 0);
    /* Round halves to even */
    check_unary("Round", 11, NULL, 0, (float[]){0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f},
                (float[]){0, 2, 2, 0, -2, 2}, 6, 0);
    check_unary("Floor", 13, NULL, 0, (float[]){-1.5f, 1.5f}, (float[]){-2, 1}, 2, 0);
    check_unary("Ceil", 13, NULL, 0, (float[]){-1.5f, 1.5f}, (float[]){-1, 2}, 2, 0);
    check_unary("Reciprocal", 13, NULL, 0, (float[]){4, -0.5f}, (float[]){0.25f, -2}, 2, 0);
    check_unary("Acosh", 9, NULL, 0, (float[]){1}, (float[]){0}, 1, 0);
    check_unary("Atan", 7, NULL, 0, (float[]){1}, (float[]){0.78539816f}, 1, 1e-6);
    /* ops that only exist from a later opset */
    CU_ASSERT_EQUAL(run1("Gelu", 19, NULL, 0, &one, 1, &out), WEFT_ERR_UNSUPPORTED);
    /* Exp of an integer is a type error */
    int32_t iv = 1;
    weft_tensor it = wt_tensor(WEFT_INT32, &iv, 0, NULL);
    CU_ASSERT_EQUAL(run1("Exp", 13, NULL, 0, &it, 1, &out), WEFT_ERR_TYPE);
}

static void test_unary_int_pred(void)
{
    weft_tensor out;
    int32_t a[3] = {INT32_MIN, -5, 7};
    weft_tensor in = wt_tensor(WEFT_INT32, a, 1, D(3));
    CU_ASSERT_EQUAL_FATAL(run1("Neg", 13, NULL, 0, &in, 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int32_t *)out.data)[0], INT32_MIN); /* wraps */
    CU_ASSERT_EQUAL(((int32_t *)out.data)[1], 5);
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("Abs", 13, NULL, 0, &in, 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int32_t *)out.data)[1], 5);
    CU_ASSERT_EQUAL(((int32_t *)out.data)[2], 7);
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("Relu", 14, NULL, 0, &in, 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int32_t *)out.data)[0], 0);
    CU_ASSERT_EQUAL(((int32_t *)out.data)[2], 7);
    wt_free_outputs(&out, 1);
    uint8_t u[2] = {0, 200};
    weft_tensor ut = wt_tensor(WEFT_UINT8, u, 1, D(2));
    CU_ASSERT_EQUAL_FATAL(run1("Sign", 13, NULL, 0, &ut, 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((uint8_t *)out.data)[0], 0);
    CU_ASSERT_EQUAL(((uint8_t *)out.data)[1], 1);
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL(run1("Neg", 13, NULL, 0, &ut, 1, &out), WEFT_ERR_TYPE);

    float f[4] = {INFINITY, -INFINITY, NAN, 1};
    weft_tensor ft = wt_tensor(WEFT_FLOAT32, f, 1, D(4));
    uint8_t ri[4] = {1, 0, 0, 0}, rn[4] = {0, 0, 1, 0};
    weft_attr neg0 = wt_attr_int("detect_negative", 0);
    CU_ASSERT_EQUAL_FATAL(run1("IsInf", 10, &neg0, 1, &ft, 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(out.dtype, WEFT_BOOL);
    CU_ASSERT(memcmp(out.data, ri, 4) == 0);
    wt_free_outputs(&out, 1);
    CU_ASSERT_EQUAL_FATAL(run1("IsNaN", 13, NULL, 0, &ft, 1, &out), WEFT_OK);
    CU_ASSERT(memcmp(out.data, rn, 4) == 0);
    wt_free_outputs(&out, 1);
    uint8_t b[2] = {0, 1};
    weft_tensor bt = wt_tensor(WEFT_BOOL, b, 1, D(2));
    CU_ASSERT_EQUAL_FATAL(run1("Not", 1, NULL, 0, &bt, 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((uint8_t *)out.data)[0], 1);
    CU_ASSERT_EQUAL(((uint8_t *)out.data)[1], 0);
    wt_free_outputs(&out, 1);
}

static void test_clip(void)
{
    weft_tensor out;
    float x[5] = {-3, -1, 0, 1, 3};
    /* opset 6: bounds are attributes */
    weft_attr at[2] = {wt_attr_float("min", -1.5f), wt_attr_float("max", 2)};
    check_unary("Clip", 6, at, 2, x, (float[]){-1.5f, -1, 0, 1, 2}, 5, 0);
    check_unary("Clip", 6, &at[1], 1, x, (float[]){-3, -1, 0, 1, 2}, 5, 0);
    /* opset 13: optional inputs; min absent */
    float hi = 0.5f, lo = 2;
    weft_tensor in[3] = {wt_tensor(WEFT_FLOAT32, x, 1, D(5)), wt_absent(), wt_tensor(WEFT_FLOAT32, &hi, 0, NULL)};
    float r1[5] = {-3, -1, 0, 0.5f, 0.5f};
    CU_ASSERT_EQUAL_FATAL(run1("Clip", 13, NULL, 0, in, 3, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(out.data, r1, 5, 0, 0));
    wt_free_outputs(&out, 1);
    /* min > max: every value becomes max */
    in[1] = wt_tensor(WEFT_FLOAT32, &lo, 0, NULL);
    float r2[5] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    CU_ASSERT_EQUAL_FATAL(run1("Clip", 13, NULL, 0, in, 3, &out), WEFT_OK);
    CU_ASSERT(wt_close_f32(out.data, r2, 5, 0, 0));
    wt_free_outputs(&out, 1);
    /* int8 with only min */
    int8_t i8[4] = {-128, -5, 0, 127}, m = -4;
    weft_tensor ii[2] = {wt_tensor(WEFT_INT8, i8, 1, D(4)), wt_tensor(WEFT_INT8, &m, 0, NULL)};
    int8_t r3[4] = {-4, -4, 0, 127};
    CU_ASSERT_EQUAL_FATAL(run1("Clip", 13, NULL, 0, ii, 2, &out), WEFT_OK);
    CU_ASSERT(memcmp(out.data, r3, 4) == 0);
    wt_free_outputs(&out, 1);
    /* a bound of another dtype or with two elements */
    int32_t m32 = 0;
    ii[1] = wt_tensor(WEFT_INT32, &m32, 0, NULL);
    CU_ASSERT_EQUAL(run1("Clip", 13, NULL, 0, ii, 2, &out), WEFT_ERR_TYPE);
    int8_t two[2] = {0, 1};
    ii[1] = wt_tensor(WEFT_INT8, two, 1, D(2));
    CU_ASSERT_EQUAL(run1("Clip", 13, NULL, 0, ii, 2, &out), WEFT_ERR_SHAPE);
}

static void test_cast(void)
{
    weft_tensor out;
    float f[5] = {-2.7f, 2.7f, NAN, 0, 1e10f};
    weft_tensor in = wt_tensor(WEFT_FLOAT32, f, 1, D(5));
    weft_attr to = wt_attr_int("to", WEFT_INT32);
    CU_ASSERT_EQUAL_FATAL(run1("Cast", 13, &to, 1, &in, 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(out.dtype, WEFT_INT32);
    CU_ASSERT_EQUAL(((int32_t *)out.data)[0], -2);
    CU_ASSERT_EQUAL(((int32_t *)out.data)[1], 2);
    CU_ASSERT_EQUAL(((int32_t *)out.data)[4], INT32_MAX); /* saturates rather than undefined */
    wt_free_outputs(&out, 1);
    to = wt_attr_int("to", WEFT_BOOL);
    CU_ASSERT_EQUAL_FATAL(run1("Cast", 13, &to, 1, &in, 1, &out), WEFT_OK);
    uint8_t rb[5] = {1, 1, 1, 0, 1};
    CU_ASSERT(memcmp(out.data, rb, 5) == 0);
    wt_free_outputs(&out, 1);
    /* int64 2^24 + 1 -> float rounds once, to even: 16777216 */
    int64_t big[2] = {16777217, -3};
    weft_tensor bi = wt_tensor(WEFT_INT64, big, 1, D(2));
    to = wt_attr_int("to", WEFT_FLOAT32);
    CU_ASSERT_EQUAL_FATAL(run1("Cast", 13, &to, 1, &bi, 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((float *)out.data)[0], 16777216.0f);
    CU_ASSERT_EQUAL(((float *)out.data)[1], -3.0f);
    wt_free_outputs(&out, 1);
    /* int64 -> int8 wraps: 300 -> 44 */
    int64_t w = 300;
    weft_tensor wi = wt_tensor(WEFT_INT64, &w, 0, NULL);
    to = wt_attr_int("to", WEFT_INT8);
    CU_ASSERT_EQUAL_FATAL(run1("Cast", 13, &to, 1, &wi, 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((int8_t *)out.data)[0], 44);
    wt_free_outputs(&out, 1);
    /* double -> float16 rounds once: 1 + 2^-11 + 2^-40 is just above the midpoint between 1 and
     * 1 + 2^-10, so it rounds up (0x3C01); through float it would tie and round to 1.0 (0x3C00) */
    double d[2] = {1.0 + ldexp(1, -11) + ldexp(1, -40), 65520.0};
    weft_tensor dt = wt_tensor(WEFT_FLOAT64, d, 1, D(2));
    to = wt_attr_int("to", WEFT_FLOAT16);
    CU_ASSERT_EQUAL_FATAL(run1("Cast", 13, &to, 1, &dt, 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((uint16_t *)out.data)[0], 0x3C01);
    CU_ASSERT_EQUAL(((uint16_t *)out.data)[1], 0x7C00); /* 65520 rounds to infinity */
    wt_free_outputs(&out, 1);
    /* bfloat16 -> float: 0x3FC0 is 1.5 */
    uint16_t bf = 0x3FC0;
    weft_tensor bt = wt_tensor(WEFT_BFLOAT16, &bf, 0, NULL);
    to = wt_attr_int("to", WEFT_FLOAT32);
    CU_ASSERT_EQUAL_FATAL(run1("Cast", 13, &to, 1, &bt, 1, &out), WEFT_OK);
    CU_ASSERT_EQUAL(((float *)out.data)[0], 1.5f);
    wt_free_outputs(&out, 1);
    /* CastLike takes the target dtype from input 1 */
    double like = 0;
    weft_tensor cl[2] = {wt_tensor(WEFT_INT64, big, 1, D(2)), wt_tensor(WEFT_FLOAT64, &like, 0, NULL)};
    CU_ASSERT_EQUAL_FATAL(run1("CastLike", 15, NULL, 0, cl, 2, &out), WEFT_OK);
    CU_ASSERT_EQUAL(out.dtype, WEFT_FLOAT64);
    CU_ASSERT_EQUAL(((double *)out.data)[0], 16777217.0);
    wt_free_outputs(&out, 1);
    /* string: unsupported; 99: not a dtype; no 'to' at all: invalid */
    to = wt_attr_int("to", WEFT_STRING);
    CU_ASSERT_EQUAL(run1("Cast", 13, &to, 1, &in, 1, &out), WEFT_ERR_UNSUPPORTED);
    to = wt_attr_int("to", 99);
    CU_ASSERT_EQUAL(run1("Cast", 13, &to, 1, &in, 1, &out), WEFT_ERR_INVALID_MODEL);
    CU_ASSERT_EQUAL(run1("Cast", 13, NULL, 0, &in, 1, &out), WEFT_ERR_INVALID_MODEL);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("ops_elementwise", NULL, NULL);
    CU_add_test(s, "add/sub/mul broadcasting", test_add_shapes);
    CU_add_test(s, "integer arithmetic", test_int_arith);
    CU_add_test(s, "mod", test_mod);
    CU_add_test(s, "pow", test_pow);
    CU_add_test(s, "comparisons and logic", test_compare_logic);
    CU_add_test(s, "bit operations", test_bits);
    CU_add_test(s, "where", test_where);
    CU_add_test(s, "max/min/sum/mean", test_variadic);
    CU_add_test(s, "prelu", test_prelu);
    CU_add_test(s, "float16", test_float16);
    CU_add_test(s, "unary math", test_unary_math);
    CU_add_test(s, "unary integer and predicates", test_unary_int_pred);
    CU_add_test(s, "clip", test_clip);
    CU_add_test(s, "cast", test_cast);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
