/*
 * tests/unit/test_ops_movement.c — the data-movement and shape operators (ops/movement*.c).
 *
 * Expected values are worked out by hand from the ONNX operator specification.
 */
#include <CUnit/Basic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_harness.h"

#define D(...) ((const int64_t[]){__VA_ARGS__})
#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void expect_i64(const weft_tensor *t, int rank, const int64_t *dims, const int64_t *want, int64_t n)
{
    CU_ASSERT_EQUAL_FATAL(t->rank, rank);
    for (int i = 0; i < rank; i++) CU_ASSERT_EQUAL(t->dims[i], dims[i]);
    for (int64_t i = 0; i < n; i++) {
        if (((const int64_t *)t->data)[i] != want[i]) {
            fprintf(stderr, "  element %lld: got %lld want %lld\n", (long long)i,
                    (long long)((const int64_t *)t->data)[i], (long long)want[i]);
            CU_FAIL("int64 mismatch");
            return;
        }
    }
}

static void expect_f32(const weft_tensor *t, int rank, const int64_t *dims, const float *want, int64_t n)
{
    CU_ASSERT_EQUAL_FATAL(t->rank, rank);
    for (int i = 0; i < rank; i++) CU_ASSERT_EQUAL(t->dims[i], dims[i]);
    CU_ASSERT(wt_close_f32(t->data, want, n, 0, 0));
}

/* 0, 1, 2, ... as int64 */
static int64_t *iota64(int64_t n)
{
    int64_t *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = i;
    return p;
}

/* --- infer-only driver with symbolic dims ------------------------------------------------------- */

static int32_t next_sym(void *u)
{
    int *n = u;
    return (*n)++;
}

/* Runs only `infer` of op (opset) on the given shapes (sym >= 0 for symbols) and optional known data. */
static weft_status infer_only(const char *op, int opset, const weft_attr *attrs, int n_attrs, int n_in,
                              const weft_dtype *dt, const weft_shape *sh, const void *const *data, int n_out,
                              weft_shape *out_sh, weft_dtype *out_dt)
{
    const weft_op_def *def = weft_op_find("", op, opset);
    if (!def) return WEFT_ERR_UNSUPPORTED;
    weft_node_info info = {op, op, "", opset, n_attrs, attrs};
    int sym = 100;
    weft_infer_ctx c = {&info, n_in, dt, sh, data, n_out, out_dt, out_sh, next_sym, &sym};
    return def->infer(&c);
}

static weft_dim S(int32_t s)
{
    weft_dim d = {0, s};
    return d;
}

/* --- Constant / ConstantOfShape ------------------------------------------------------------------ */

static void test_constant(void)
{
    float v[2] = {1.5f, -2.0f};
    weft_tensor t = wt_tensor(WEFT_FLOAT32, v, 1, D(2));
    weft_attr a = {0};
    a.name = "value";
    a.type = WEFT_ATTR_TENSOR;
    a.t = &t;
    weft_tensor out[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Constant", 13, &a, 1, NULL, 0, out, 1), WEFT_OK);
    expect_f32(&out[0], 1, D(2), v, 2);
    wt_free_outputs(out, 1);

    weft_attr b = wt_attr_ints("value_ints", 3, D(4, -5, 6));
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Constant", 13, &b, 1, NULL, 0, out, 1), WEFT_OK);
    expect_i64(&out[0], 1, D(3), D(4, -5, 6), 3);
    wt_free_outputs(out, 1);

    weft_attr f = wt_attr_float("value_float", 0.25f);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Constant", 13, &f, 1, NULL, 0, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].rank, 0);
    CU_ASSERT_EQUAL(*(float *)out[0].data, 0.25f);
    wt_free_outputs(out, 1);

    weft_attr two[2] = {a, f};
    CU_ASSERT_EQUAL(wt_run_op("Constant", 13, two, 2, NULL, 0, out, 1), WEFT_ERR_INVALID_MODEL);
    weft_attr s = wt_attr_string("value_string", "hi");
    CU_ASSERT_EQUAL(wt_run_op("Constant", 13, &s, 1, NULL, 0, out, 1), WEFT_ERR_UNSUPPORTED);
    CU_ASSERT_EQUAL(wt_run_op("Constant", 13, NULL, 0, NULL, 0, out, 1), WEFT_ERR_INVALID_MODEL);
    /* A tensor whose byte count disagrees with its shape is refused, not read past its end. */
    t.nbytes = 4;
    CU_ASSERT_EQUAL(wt_run_op("Constant", 13, &a, 1, NULL, 0, out, 1), WEFT_ERR_INVALID_MODEL);
}

static void test_constant_of_shape(void)
{
    int32_t seven = 7;
    weft_tensor val = wt_tensor(WEFT_INT32, &seven, 1, D(1));
    weft_attr a = {0};
    a.name = "value";
    a.type = WEFT_ATTR_TENSOR;
    a.t = &val;
    weft_tensor in = wt_tensor(WEFT_INT64, D(2, 3), 1, D(2)), out[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("ConstantOfShape", 20, &a, 1, &in, 1, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].dtype, WEFT_INT32);
    CU_ASSERT_EQUAL(out[0].rank, 2);
    for (int i = 0; i < 6; i++) CU_ASSERT_EQUAL(((int32_t *)out[0].data)[i], 7);
    wt_free_outputs(out, 1);

    /* Default: float32 zeros; an empty shape gives a scalar. */
    weft_tensor empty = wt_tensor(WEFT_INT64, NULL, 1, D(0));
    CU_ASSERT_EQUAL_FATAL(wt_run_op("ConstantOfShape", 20, NULL, 0, &empty, 1, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].dtype, WEFT_FLOAT32);
    CU_ASSERT_EQUAL(out[0].rank, 0);
    CU_ASSERT_EQUAL(*(float *)out[0].data, 0.0f);
    wt_free_outputs(out, 1);

    weft_tensor neg = wt_tensor(WEFT_INT64, D(2, -1), 1, D(2));
    CU_ASSERT_EQUAL(wt_run_op("ConstantOfShape", 20, NULL, 0, &neg, 1, out, 1), WEFT_ERR_SHAPE);
}

/* --- Identity, Reshape, Shape, Size, Flatten ----------------------------------------------------- */

static void test_identity(void)
{
    uint16_t h[3] = {0x3c00, 0xc000, 0x7e00}; /* float16 1, -2, NaN: moved as bits */
    weft_tensor in = wt_tensor(WEFT_FLOAT16, h, 1, D(3)), out[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Identity", 16, NULL, 0, &in, 1, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].dtype, WEFT_FLOAT16);
    CU_ASSERT(memcmp(out[0].data, h, sizeof h) == 0);
    wt_free_outputs(out, 1);
}

static void test_reshape(void)
{
    int64_t *x = iota64(24);
    weft_tensor in[2] = {wt_tensor(WEFT_INT64, x, 3, D(2, 3, 4)), wt_tensor(WEFT_INT64, D(4, 0, -1), 1, D(3))};
    weft_tensor out[1];
    /* 0 copies dim 1 (3); -1 is 24 / (4*3) = 2. */
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Reshape", 13, NULL, 0, in, 2, out, 1), WEFT_OK);
    expect_i64(&out[0], 3, D(4, 3, 2), x, 24);
    wt_free_outputs(out, 1);

    in[1] = wt_tensor(WEFT_INT64, D(-1, -1), 1, D(2));
    CU_ASSERT_EQUAL(wt_run_op("Reshape", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_SHAPE);
    in[1] = wt_tensor(WEFT_INT64, D(5, 5), 1, D(2));
    CU_ASSERT_EQUAL(wt_run_op("Reshape", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_SHAPE);
    in[1] = wt_tensor(WEFT_INT64, D(5, -1), 1, D(2)); /* 24 is not a multiple of 5 */
    CU_ASSERT_EQUAL(wt_run_op("Reshape", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_SHAPE);
    in[1] = wt_tensor(WEFT_INT64, D(1, 1, 1, 0), 1, D(4)); /* 0 copies an axis the input lacks */
    CU_ASSERT_EQUAL(wt_run_op("Reshape", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_SHAPE);

    /* allowzero=1: a 0 is a real zero-size dim. */
    weft_tensor z[2] = {wt_tensor(WEFT_INT64, NULL, 2, D(0, 3)), wt_tensor(WEFT_INT64, D(3, 0), 1, D(2))};
    weft_attr az = wt_attr_int("allowzero", 1);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Reshape", 14, &az, 1, z, 2, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].dims[0], 3);
    CU_ASSERT_EQUAL(out[0].dims[1], 0);
    wt_free_outputs(out, 1);
    /* Found by fuzzing: allowzero=2 was read as 1 (ONNX Runtime reads it as 0); now refused. */
    az = wt_attr_int("allowzero", 2);
    CU_ASSERT_EQUAL(wt_run_op("Reshape", 14, &az, 1, z, 2, out, 1), WEFT_ERR_INVALID_MODEL);
    CU_ASSERT(strstr(weft_last_error(), "allowzero") != NULL);
    free(x);
}

static void test_reshape_symbolic(void)
{
    /* [N, 4, 3] with shape [0, -1]: [N, 12]. */
    weft_dtype dt[2] = {WEFT_FLOAT32, WEFT_INT64}, odt[1];
    weft_shape sh[2] = {{3, {S(1), {4, -1}, {3, -1}}}, {1, {{2, -1}}}}, osh[1];
    const void *data[2] = {NULL, D(0, -1)};
    CU_ASSERT_EQUAL_FATAL(infer_only("Reshape", 13, NULL, 0, 2, dt, sh, data, 1, osh, odt), WEFT_OK);
    CU_ASSERT_EQUAL(osh[0].rank, 2);
    CU_ASSERT(weft_dim_eq(osh[0].d[0], S(1)));
    CU_ASSERT(weft_dim_eq(osh[0].d[1], weft_dim_num(12)));
    /* [N, 12] to [-1, 3, 4]: the -1 is N itself. */
    weft_shape sh2[2] = {{2, {S(1), {12, -1}}}, {1, {{3, -1}}}};
    const void *data2[2] = {NULL, D(-1, 3, 4)};
    CU_ASSERT_EQUAL_FATAL(infer_only("Reshape", 13, NULL, 0, 2, dt, sh2, data2, 1, osh, odt), WEFT_OK);
    CU_ASSERT(weft_dim_eq(osh[0].d[0], S(1)));
    /* Shape values unknown: rank from the shape input's length, dims unknown. */
    const void *nodata[2] = {NULL, NULL};
    CU_ASSERT_EQUAL_FATAL(infer_only("Reshape", 13, NULL, 0, 2, dt, sh2, nodata, 1, osh, odt), WEFT_OK);
    CU_ASSERT_EQUAL(osh[0].rank, 3);
    CU_ASSERT(!weft_dim_known(osh[0].d[0]));
}

static void test_shape_size(void)
{
    weft_tensor in = wt_tensor(WEFT_FLOAT32, NULL, 4, D(2, 3, 4, 5)), out[1];
    in.data = calloc(120, sizeof(float));
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Shape", 13, NULL, 0, &in, 1, out, 1), WEFT_OK);
    expect_i64(&out[0], 1, D(4), D(2, 3, 4, 5), 4);
    wt_free_outputs(out, 1);
    weft_attr se[2] = {wt_attr_int("start", 1), wt_attr_int("end", -1)};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Shape", 15, se, 2, &in, 1, out, 1), WEFT_OK);
    expect_i64(&out[0], 1, D(2), D(3, 4), 2);
    wt_free_outputs(out, 1);
    /* start past end: empty; out-of-range values clamp. */
    weft_attr se2[2] = {wt_attr_int("start", 3), wt_attr_int("end", 1)};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Shape", 15, se2, 2, &in, 1, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].dims[0], 0);
    wt_free_outputs(out, 1);
    weft_attr se3[2] = {wt_attr_int("start", -10), wt_attr_int("end", 10)};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Shape", 15, se3, 2, &in, 1, out, 1), WEFT_OK);
    expect_i64(&out[0], 1, D(4), D(2, 3, 4, 5), 4);
    wt_free_outputs(out, 1);

    CU_ASSERT_EQUAL_FATAL(wt_run_op("Size", 13, NULL, 0, &in, 1, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].rank, 0);
    CU_ASSERT_EQUAL(*(int64_t *)out[0].data, 120);
    wt_free_outputs(out, 1);
    free(in.data);
}

static void test_flatten(void)
{
    int64_t *x = iota64(24);
    weft_tensor in = wt_tensor(WEFT_INT64, x, 3, D(2, 3, 4)), out[1];
    struct { int64_t axis, d0, d1; } cases[] = {{0, 1, 24}, {1, 2, 12}, {2, 6, 4}, {3, 24, 1}, {-1, 6, 4}, {-3, 1, 24}};
    for (int i = 0; i < N_OF(cases); i++) {
        weft_attr a = wt_attr_int("axis", cases[i].axis);
        CU_ASSERT_EQUAL_FATAL(wt_run_op("Flatten", 13, &a, 1, &in, 1, out, 1), WEFT_OK);
        expect_i64(&out[0], 2, D(cases[i].d0, cases[i].d1), x, 24);
        wt_free_outputs(out, 1);
    }
    weft_attr bad = wt_attr_int("axis", 4);
    CU_ASSERT_EQUAL(wt_run_op("Flatten", 13, &bad, 1, &in, 1, out, 1), WEFT_ERR_SHAPE);
    free(x);
}

/* --- Squeeze, Unsqueeze -------------------------------------------------------------------------- */

static void test_squeeze_unsqueeze(void)
{
    float x[3] = {1, 2, 3};
    weft_tensor out[1];
    /* opset 11: axes attribute */
    weft_tensor in = wt_tensor(WEFT_FLOAT32, x, 4, D(1, 3, 1, 1));
    weft_attr ax = wt_attr_ints("axes", 2, D(0, -1));
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Squeeze", 11, &ax, 1, &in, 1, out, 1), WEFT_OK);
    expect_f32(&out[0], 2, D(3, 1), x, 3);
    wt_free_outputs(out, 1);
    /* opset 13: axes input; absent: every 1 goes */
    weft_tensor in2[2] = {in, wt_tensor(WEFT_INT64, D(2), 1, D(1))};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Squeeze", 13, NULL, 0, in2, 2, out, 1), WEFT_OK);
    expect_f32(&out[0], 3, D(1, 3, 1), x, 3);
    wt_free_outputs(out, 1);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Squeeze", 13, NULL, 0, in2, 1, out, 1), WEFT_OK);
    expect_f32(&out[0], 1, D(3), x, 3);
    wt_free_outputs(out, 1);
    in2[1] = wt_tensor(WEFT_INT64, NULL, 1, D(0)); /* empty axes: like absent */
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Squeeze", 13, NULL, 0, in2, 2, out, 1), WEFT_OK);
    expect_f32(&out[0], 1, D(3), x, 3);
    wt_free_outputs(out, 1);
    in2[1] = wt_tensor(WEFT_INT64, D(1), 1, D(1)); /* axis 1 has size 3 */
    CU_ASSERT_EQUAL(wt_run_op("Squeeze", 13, NULL, 0, in2, 2, out, 1), WEFT_ERR_SHAPE);

    weft_tensor u[2] = {wt_tensor(WEFT_FLOAT32, x, 1, D(3)), wt_tensor(WEFT_INT64, D(0, -1), 1, D(2))};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Unsqueeze", 13, NULL, 0, u, 2, out, 1), WEFT_OK);
    expect_f32(&out[0], 3, D(1, 3, 1), x, 3);
    wt_free_outputs(out, 1);
    /* Unsorted axes against the output rank: [3] with axes [3, 0] -> rank 3 ... axis 3 out of range. */
    u[1] = wt_tensor(WEFT_INT64, D(2, 0), 1, D(2));
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Unsqueeze", 13, NULL, 0, u, 2, out, 1), WEFT_OK);
    expect_f32(&out[0], 3, D(1, 3, 1), x, 3);
    wt_free_outputs(out, 1);
    u[1] = wt_tensor(WEFT_INT64, D(0, -3), 1, D(2)); /* both name axis 0 of the rank-3 output */
    CU_ASSERT_EQUAL(wt_run_op("Unsqueeze", 13, NULL, 0, u, 2, out, 1), WEFT_ERR_SHAPE);
    u[1] = wt_tensor(WEFT_INT64, D(3), 1, D(1));
    CU_ASSERT_EQUAL(wt_run_op("Unsqueeze", 13, NULL, 0, u, 2, out, 1), WEFT_ERR_SHAPE);
    weft_attr uax = wt_attr_ints("axes", 1, D(1));
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Unsqueeze", 11, &uax, 1, u, 1, out, 1), WEFT_OK);
    expect_f32(&out[0], 2, D(3, 1), x, 3);
    wt_free_outputs(out, 1);
}

/* --- Transpose, Concat, Split -------------------------------------------------------------------- */

static void test_transpose(void)
{
    int64_t *x = iota64(24), want[24];
    weft_tensor in = wt_tensor(WEFT_INT64, x, 3, D(2, 3, 4)), out[1];
    /* Default: reversed axes, out[k][j][i] = x[i][j][k] = 12i + 4j + k. */
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 2; i++) want[k * 6 + j * 2 + i] = 12 * i + 4 * j + k;
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Transpose", 13, NULL, 0, &in, 1, out, 1), WEFT_OK);
    expect_i64(&out[0], 3, D(4, 3, 2), want, 24);
    wt_free_outputs(out, 1);
    /* perm (1, 2, 0): out[j][k][i] = x[i][j][k]. */
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < 2; i++) want[j * 8 + k * 2 + i] = 12 * i + 4 * j + k;
    weft_attr p = wt_attr_ints("perm", 3, D(1, 2, 0));
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Transpose", 13, &p, 1, &in, 1, out, 1), WEFT_OK);
    expect_i64(&out[0], 3, D(3, 4, 2), want, 24);
    wt_free_outputs(out, 1);
    weft_attr bad = wt_attr_ints("perm", 3, D(0, 0, 1));
    CU_ASSERT_EQUAL(wt_run_op("Transpose", 13, &bad, 1, &in, 1, out, 1), WEFT_ERR_SHAPE);
    weft_attr bad2 = wt_attr_ints("perm", 2, D(1, 0));
    CU_ASSERT_EQUAL(wt_run_op("Transpose", 13, &bad2, 1, &in, 1, out, 1), WEFT_ERR_SHAPE);
    free(x);
}

static void test_concat(void)
{
    float a[2] = {1, 2}, b[4] = {3, 4, 5, 6};
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT32, a, 2, D(2, 1)), wt_tensor(WEFT_FLOAT32, b, 2, D(2, 2))}, out[1];
    weft_attr ax = wt_attr_int("axis", -1);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Concat", 13, &ax, 1, in, 2, out, 1), WEFT_OK);
    expect_f32(&out[0], 2, D(2, 3), (const float[]){1, 3, 4, 2, 5, 6}, 6);
    wt_free_outputs(out, 1);
    weft_attr a0 = wt_attr_int("axis", 0);
    CU_ASSERT_EQUAL(wt_run_op("Concat", 13, &a0, 1, in, 2, out, 1), WEFT_ERR_SHAPE);
    CU_ASSERT_EQUAL(wt_run_op("Concat", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_INVALID_MODEL);
    int32_t c[2] = {1, 2};
    in[1] = wt_tensor(WEFT_INT32, c, 2, D(2, 1));
    CU_ASSERT_EQUAL(wt_run_op("Concat", 13, &ax, 1, in, 2, out, 1), WEFT_ERR_TYPE);
    /* An empty input contributes nothing. */
    in[1] = wt_tensor(WEFT_FLOAT32, NULL, 2, D(2, 0));
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Concat", 13, &ax, 1, in, 2, out, 1), WEFT_OK);
    expect_f32(&out[0], 2, D(2, 1), a, 2);
    wt_free_outputs(out, 1);
}

static void test_split(void)
{
    int64_t *x = iota64(7);
    weft_tensor out[3];
    /* opset 18 num_outputs=3 on 7: parts ceil(7/3)=3, 3, 1. */
    weft_tensor in = wt_tensor(WEFT_INT64, x, 1, D(7));
    weft_attr no = wt_attr_int("num_outputs", 3);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Split", 18, &no, 1, &in, 1, out, 3), WEFT_OK);
    expect_i64(&out[0], 1, D(3), D(0, 1, 2), 3);
    expect_i64(&out[1], 1, D(3), D(3, 4, 5), 3);
    expect_i64(&out[2], 1, D(1), D(6), 1);
    wt_free_outputs(out, 3);
    /* Equal parts need divisibility without num_outputs. */
    CU_ASSERT_EQUAL(wt_run_op("Split", 13, NULL, 0, &in, 1, out, 3), WEFT_ERR_SHAPE);
    /* split input, axis 1 on [2, 3]: parts 1 and 2 (and a zero-size one). */
    weft_tensor in2[2] = {wt_tensor(WEFT_INT64, x, 2, D(2, 3)), wt_tensor(WEFT_INT64, D(1, 0, 2), 1, D(3))};
    weft_attr ax = wt_attr_int("axis", 1);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Split", 13, &ax, 1, in2, 2, out, 3), WEFT_OK);
    expect_i64(&out[0], 2, D(2, 1), D(0, 3), 2);
    CU_ASSERT_EQUAL(out[1].dims[1], 0);
    expect_i64(&out[2], 2, D(2, 2), D(1, 2, 4, 5), 4);
    wt_free_outputs(out, 3);
    in2[1] = wt_tensor(WEFT_INT64, D(1, 1, 2), 1, D(3)); /* sums to 4, axis has 3 */
    CU_ASSERT_EQUAL(wt_run_op("Split", 13, &ax, 1, in2, 2, out, 3), WEFT_ERR_SHAPE);
    /* opset 11: split attribute */
    weft_attr sa[2] = {ax, wt_attr_ints("split", 2, D(2, 1))};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Split", 11, sa, 2, in2, 1, out, 2), WEFT_OK);
    expect_i64(&out[0], 2, D(2, 2), D(0, 1, 3, 4), 4);
    expect_i64(&out[1], 2, D(2, 1), D(2, 5), 2);
    wt_free_outputs(out, 2);
    free(x);
}

/* --- Slice --------------------------------------------------------------------------------------- */

static void test_slice(void)
{
    int64_t *x = iota64(20);
    weft_tensor out[1];
    /* [4, 5]: rows 1..2, columns 0, 2, 4. */
    weft_tensor in[5] = {wt_tensor(WEFT_INT64, x, 2, D(4, 5)), wt_tensor(WEFT_INT64, D(1, 0), 1, D(2)),
                         wt_tensor(WEFT_INT64, D(3, INT64_MAX), 1, D(2)), wt_tensor(WEFT_INT64, D(0, 1), 1, D(2)),
                         wt_tensor(WEFT_INT64, D(1, 2), 1, D(2))};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Slice", 13, NULL, 0, in, 5, out, 1), WEFT_OK);
    expect_i64(&out[0], 2, D(2, 3), D(5, 7, 9, 10, 12, 14), 6);
    wt_free_outputs(out, 1);
    /* Negative step over the whole axis with the INT64_MIN sentinel: reversed columns of row 3. */
    int32_t st[2] = {-1, -1}, en[2] = {2, INT32_MIN};
    weft_tensor in2[5] = {in[0], wt_tensor(WEFT_INT32, st, 1, D(2)), wt_tensor(WEFT_INT32, en, 1, D(2)),
                          wt_absent(), wt_tensor(WEFT_INT32, (const int32_t[]){1, -1}, 1, D(2))};
    /* axis 0: start -1 -> 3, end 2, step 1: empty. Use a positive range there instead. */
    st[0] = 3;
    en[0] = 4;
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Slice", 13, NULL, 0, in2, 5, out, 1), WEFT_OK);
    expect_i64(&out[0], 2, D(1, 5), D(19, 18, 17, 16, 15), 5);
    wt_free_outputs(out, 1);
    /* Step -2 from 4 down to (exclusive) 0: 4, 2. */
    weft_tensor in3[5] = {wt_tensor(WEFT_INT64, x, 1, D(5)), wt_tensor(WEFT_INT64, D(10), 1, D(1)),
                          wt_tensor(WEFT_INT64, D(0), 1, D(1)), wt_tensor(WEFT_INT64, D(-1), 1, D(1)),
                          wt_tensor(WEFT_INT64, D(-2), 1, D(1))};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Slice", 13, NULL, 0, in3, 5, out, 1), WEFT_OK);
    expect_i64(&out[0], 1, D(2), D(4, 2), 2);
    wt_free_outputs(out, 1);
    /* Start past the end: empty. */
    weft_tensor in4[3] = {in3[0], wt_tensor(WEFT_INT64, D(1000), 1, D(1)), wt_tensor(WEFT_INT64, D(1001), 1, D(1))};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Slice", 13, NULL, 0, in4, 3, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].dims[0], 0);
    wt_free_outputs(out, 1);
    /* Huge step taken once. */
    in3[1] = wt_tensor(WEFT_INT64, D(1), 1, D(1));
    in3[2] = wt_tensor(WEFT_INT64, D(INT64_MAX), 1, D(1));
    in3[4] = wt_tensor(WEFT_INT64, D(INT64_MAX), 1, D(1));
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Slice", 13, NULL, 0, in3, 5, out, 1), WEFT_OK);
    expect_i64(&out[0], 1, D(1), D(1), 1);
    wt_free_outputs(out, 1);
    /* Step 0, repeated axes, mismatched lengths. */
    in3[4] = wt_tensor(WEFT_INT64, D(0), 1, D(1));
    CU_ASSERT_EQUAL(wt_run_op("Slice", 13, NULL, 0, in3, 5, out, 1), WEFT_ERR_SHAPE);
    in[3] = wt_tensor(WEFT_INT64, D(1, -1), 1, D(2));
    CU_ASSERT_EQUAL(wt_run_op("Slice", 13, NULL, 0, in, 5, out, 1), WEFT_ERR_SHAPE);
    in[3] = wt_tensor(WEFT_INT64, D(1), 1, D(1));
    CU_ASSERT_EQUAL(wt_run_op("Slice", 13, NULL, 0, in, 5, out, 1), WEFT_ERR_SHAPE);
    /* opset 9: attributes, axes [1], columns 1..3 of each row. */
    weft_attr at[3] = {wt_attr_ints("starts", 1, D(1)), wt_attr_ints("ends", 1, D(-2)), wt_attr_ints("axes", 1, D(1))};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Slice", 9, at, 3, in, 1, out, 1), WEFT_OK);
    expect_i64(&out[0], 2, D(4, 2), D(1, 2, 6, 7, 11, 12, 16, 17), 8);
    wt_free_outputs(out, 1);
    free(x);
}

/* --- Tile, Expand -------------------------------------------------------------------------------- */

static void test_tile_expand(void)
{
    /* float16 bits: data movement must not care about the dtype. */
    uint16_t h[4] = {1, 2, 3, 4};
    weft_tensor in[2] = {wt_tensor(WEFT_FLOAT16, h, 2, D(2, 2)), wt_tensor(WEFT_INT64, D(2, 2), 1, D(2))}, out[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Tile", 13, NULL, 0, in, 2, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].dims[0], 4);
    CU_ASSERT_EQUAL(out[0].dims[1], 4);
    const uint16_t tw[16] = {1, 2, 1, 2, 3, 4, 3, 4, 1, 2, 1, 2, 3, 4, 3, 4};
    CU_ASSERT(memcmp(out[0].data, tw, sizeof tw) == 0);
    wt_free_outputs(out, 1);
    in[1] = wt_tensor(WEFT_INT64, D(2), 1, D(1));
    CU_ASSERT_EQUAL(wt_run_op("Tile", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_SHAPE);
    in[1] = wt_tensor(WEFT_INT64, D(1, -1), 1, D(2));
    CU_ASSERT_EQUAL(wt_run_op("Tile", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_SHAPE);
    in[1] = wt_tensor(WEFT_INT64, D(INT64_C(1) << 40, INT64_C(1) << 40), 1, D(2));
    CU_ASSERT_EQUAL(wt_run_op("Tile", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_SHAPE);

    /* Expand [3,1] by [2,1,6] -> [2,3,6]; row r holds value r+1. */
    float e[3] = {1, 2, 3}, want[36];
    for (int b = 0; b < 2; b++)
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 6; c++) want[b * 18 + r * 6 + c] = (float)(r + 1);
    weft_tensor ein[2] = {wt_tensor(WEFT_FLOAT32, e, 2, D(3, 1)), wt_tensor(WEFT_INT64, D(2, 1, 6), 1, D(3))};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Expand", 13, NULL, 0, ein, 2, out, 1), WEFT_OK);
    expect_f32(&out[0], 3, D(2, 3, 6), want, 36);
    wt_free_outputs(out, 1);
    ein[1] = wt_tensor(WEFT_INT64, D(2, 6), 1, D(2));
    CU_ASSERT_EQUAL(wt_run_op("Expand", 13, NULL, 0, ein, 2, out, 1), WEFT_ERR_SHAPE);
}

/* --- Dropout, Range ------------------------------------------------------------------------------ */

static void test_dropout(void)
{
    float x[3] = {1, -2, 3};
    weft_tensor in[3] = {wt_tensor(WEFT_FLOAT32, x, 1, D(3)), wt_absent(), wt_tensor(WEFT_BOOL, (uint8_t[]){0}, 0, NULL)};
    weft_tensor out[2];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Dropout", 13, NULL, 0, in, 3, out, 2), WEFT_OK);
    expect_f32(&out[0], 1, D(3), x, 3);
    CU_ASSERT_EQUAL(out[1].dtype, WEFT_BOOL);
    for (int i = 0; i < 3; i++) CU_ASSERT_EQUAL(((uint8_t *)out[1].data)[i], 1);
    wt_free_outputs(out, 2);
    in[2] = wt_tensor(WEFT_BOOL, (uint8_t[]){1}, 0, NULL);
    CU_ASSERT_EQUAL(wt_run_op("Dropout", 13, NULL, 0, in, 3, out, 2), WEFT_ERR_UNSUPPORTED);
    /* Training with ratio 0 drops nothing: the identity, mask all true; ratio 0.1 is refused. */
    float r = 0;
    in[1] = wt_tensor(WEFT_FLOAT32, &r, 0, NULL);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Dropout", 13, NULL, 0, in, 3, out, 2), WEFT_OK);
    expect_f32(&out[0], 1, D(3), x, 3);
    for (int i = 0; i < 3; i++) CU_ASSERT_EQUAL(((uint8_t *)out[1].data)[i], 1);
    wt_free_outputs(out, 2);
    r = 0.1f;
    CU_ASSERT_EQUAL(wt_run_op("Dropout", 13, NULL, 0, in, 3, out, 2), WEFT_ERR_UNSUPPORTED);
    /* opset 7: the mask has the input's type. */
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Dropout", 7, NULL, 0, in, 1, out, 2), WEFT_OK);
    CU_ASSERT_EQUAL(out[1].dtype, WEFT_FLOAT32);
    expect_f32(&out[1], 1, D(3), (const float[]){1, 1, 1}, 3);
    wt_free_outputs(out, 2);
}

static void test_range(void)
{
    weft_tensor out[1];
    int32_t a = 10, b = 4, c = -3;
    weft_tensor in[3] = {wt_tensor(WEFT_INT32, &a, 0, NULL), wt_tensor(WEFT_INT32, &b, 0, NULL),
                         wt_tensor(WEFT_INT32, &c, 0, NULL)};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Range", 11, NULL, 0, in, 3, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].dims[0], 2); /* ceil(-6 / -3) = 2 */
    CU_ASSERT_EQUAL(((int32_t *)out[0].data)[0], 10);
    CU_ASSERT_EQUAL(((int32_t *)out[0].data)[1], 7);
    wt_free_outputs(out, 1);
    c = 3; /* wrong direction: empty */
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Range", 11, NULL, 0, in, 3, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].dims[0], 0);
    wt_free_outputs(out, 1);
    c = 0;
    CU_ASSERT_NOT_EQUAL(wt_run_op("Range", 11, NULL, 0, in, 3, out, 1), WEFT_OK);

    /* float: 1 to 2 by 0.25 -> 1, 1.25, 1.5, 1.75 (exact in binary). */
    float fa = 1, fb = 2, fc = 0.25f;
    weft_tensor fin[3] = {wt_tensor(WEFT_FLOAT32, &fa, 0, NULL), wt_tensor(WEFT_FLOAT32, &fb, 0, NULL),
                          wt_tensor(WEFT_FLOAT32, &fc, 0, NULL)};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Range", 11, NULL, 0, fin, 3, out, 1), WEFT_OK);
    expect_f32(&out[0], 1, D(4), (const float[]){1, 1.25f, 1.5f, 1.75f}, 4);
    wt_free_outputs(out, 1);
    /* Mixed dtypes are refused. */
    fin[1] = in[1];
    CU_ASSERT_EQUAL(wt_run_op("Range", 11, NULL, 0, fin, 3, out, 1), WEFT_ERR_TYPE);
    /* int64 extremes: the span does not overflow the count. */
    int64_t la = INT64_MIN, lb = INT64_MAX, lc = INT64_MAX;
    weft_tensor lin[3] = {wt_tensor(WEFT_INT64, &la, 0, NULL), wt_tensor(WEFT_INT64, &lb, 0, NULL),
                          wt_tensor(WEFT_INT64, &lc, 0, NULL)};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Range", 11, NULL, 0, lin, 3, out, 1), WEFT_OK);
    /* span 2^64 - 1, delta 2^63 - 1: ceil = 3 -> INT64_MIN, -1, INT64_MAX - 1 */
    expect_i64(&out[0], 1, D(3), D(INT64_MIN, -1, INT64_MAX - 1), 3);
    wt_free_outputs(out, 1);
    /* 2^62 int64 elements would be 2^65 bytes: refused before anything is allocated. */
    la = 0;
    lb = INT64_C(1) << 62;
    lc = 1;
    CU_ASSERT_EQUAL(wt_run_op("Range", 11, NULL, 0, lin, 3, out, 1), WEFT_ERR_SHAPE);
}

/* --- Pad ----------------------------------------------------------------------------------------- */

static void test_pad(void)
{
    float x[3] = {1, 2, 3}, nine = 9;
    weft_tensor out[1];
    weft_tensor in[3] = {wt_tensor(WEFT_FLOAT32, x, 1, D(3)), wt_tensor(WEFT_INT64, D(2, 1), 1, D(2)),
                         wt_tensor(WEFT_FLOAT32, &nine, 0, NULL)};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Pad", 13, NULL, 0, in, 3, out, 1), WEFT_OK);
    expect_f32(&out[0], 1, D(6), (const float[]){9, 9, 1, 2, 3, 9}, 6);
    wt_free_outputs(out, 1);
    in[1] = wt_tensor(WEFT_INT64, D(2, 2), 1, D(2));
    struct { const char *mode; float want[7]; } cases[] = {
        {"reflect", {3, 2, 1, 2, 3, 2, 1}}, {"edge", {1, 1, 1, 2, 3, 3, 3}}, {"wrap", {2, 3, 1, 2, 3, 1, 2}}};
    for (int i = 0; i < N_OF(cases); i++) {
        weft_attr m = wt_attr_string("mode", cases[i].mode);
        CU_ASSERT_EQUAL_FATAL(wt_run_op("Pad", 19, &m, 1, in, 2, out, 1), WEFT_OK);
        expect_f32(&out[0], 1, D(7), cases[i].want, 7);
        wt_free_outputs(out, 1);
    }
    /* Reflect further than the axis: keeps bouncing (period 2(w-1) = 4): pads 5 and 0. */
    in[1] = wt_tensor(WEFT_INT64, D(5, 0), 1, D(2));
    weft_attr rm = wt_attr_string("mode", "reflect");
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Pad", 13, &rm, 1, in, 2, out, 1), WEFT_OK);
    expect_f32(&out[0], 1, D(8), (const float[]){2, 1, 2, 3, 2, 1, 2, 3}, 8);
    wt_free_outputs(out, 1);
    /* Negative pads crop. */
    in[1] = wt_tensor(WEFT_INT64, D(-1, 1), 1, D(2));
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Pad", 13, NULL, 0, in, 2, out, 1), WEFT_OK);
    expect_f32(&out[0], 1, D(3), (const float[]){2, 3, 0}, 3);
    wt_free_outputs(out, 1);
    in[1] = wt_tensor(WEFT_INT64, D(-2, -2), 1, D(2));
    CU_ASSERT_EQUAL(wt_run_op("Pad", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_SHAPE);
    in[1] = wt_tensor(WEFT_INT64, D(1, 1, 1), 1, D(3));
    CU_ASSERT_EQUAL(wt_run_op("Pad", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_SHAPE);
    weft_attr bad = wt_attr_string("mode", "mirror");
    in[1] = wt_tensor(WEFT_INT64, D(1, 1), 1, D(2));
    CU_ASSERT_EQUAL(wt_run_op("Pad", 13, &bad, 1, in, 2, out, 1), WEFT_ERR_INVALID_MODEL);

    /* opset 2: attributes; 2-D [2,2] padded on axis 1 by (1, 0) with value 5, int32 data. */
    int32_t xi[4] = {1, 2, 3, 4};
    weft_tensor in2 = wt_tensor(WEFT_INT32, xi, 2, D(2, 2));
    weft_attr at[2] = {wt_attr_ints("pads", 4, D(0, 1, 0, 0)), wt_attr_float("value", 5)};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Pad", 2, at, 2, &in2, 1, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].dims[1], 3);
    const int32_t w2[6] = {5, 1, 2, 5, 3, 4};
    CU_ASSERT(memcmp(out[0].data, w2, sizeof w2) == 0);
    wt_free_outputs(out, 1);
    /* opset 18: axes input [-2] pads rows by (1, 1) with zeros. */
    weft_tensor in3[4] = {in2, wt_tensor(WEFT_INT64, D(1, 1), 1, D(2)), wt_absent(), wt_tensor(WEFT_INT64, D(-2), 1, D(1))};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Pad", 18, NULL, 0, in3, 4, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].dims[0], 4);
    const int32_t w3[8] = {0, 0, 1, 2, 3, 4, 0, 0};
    CU_ASSERT(memcmp(out[0].data, w3, sizeof w3) == 0);
    wt_free_outputs(out, 1);
    /* Edge on an empty axis has nothing to copy. */
    weft_tensor in4[2] = {wt_tensor(WEFT_FLOAT32, NULL, 1, D(0)), wt_tensor(WEFT_INT64, D(1, 1), 1, D(2))};
    weft_attr em = wt_attr_string("mode", "edge");
    CU_ASSERT_EQUAL(wt_run_op("Pad", 13, &em, 1, in4, 2, out, 1), WEFT_ERR_SHAPE);
}

/* --- Trilu, EyeLike ------------------------------------------------------------------------------ */

static void test_trilu_eyelike(void)
{
    int64_t *x = iota64(12);
    weft_tensor out[1];
    weft_tensor in[2] = {wt_tensor(WEFT_INT64, x, 2, D(3, 4)), wt_tensor(WEFT_INT64, D(1), 0, NULL)};
    /* upper, k = 1: keep j - i >= 1 */
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Trilu", 14, NULL, 0, in, 2, out, 1), WEFT_OK);
    expect_i64(&out[0], 2, D(3, 4), D(0, 1, 2, 3, 0, 0, 6, 7, 0, 0, 0, 11), 12);
    wt_free_outputs(out, 1);
    /* lower, k = -1: keep j - i <= -1 */
    weft_attr lo = wt_attr_int("upper", 0);
    in[1] = wt_tensor(WEFT_INT64, D(-1), 0, NULL);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Trilu", 14, &lo, 1, in, 2, out, 1), WEFT_OK);
    expect_i64(&out[0], 2, D(3, 4), D(0, 0, 0, 0, 4, 0, 0, 0, 8, 9, 0, 0), 12);
    wt_free_outputs(out, 1);
    /* k far outside: everything or nothing. */
    in[1] = wt_tensor(WEFT_INT64, D(INT64_MIN), 0, NULL);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Trilu", 14, NULL, 0, in, 2, out, 1), WEFT_OK);
    expect_i64(&out[0], 2, D(3, 4), x, 12);
    wt_free_outputs(out, 1);
    weft_tensor v = wt_tensor(WEFT_INT64, x, 1, D(12));
    CU_ASSERT_EQUAL(wt_run_op("Trilu", 14, NULL, 0, &v, 1, out, 1), WEFT_ERR_SHAPE);

    weft_attr ek[2] = {wt_attr_int("k", 1), wt_attr_int("dtype", WEFT_FLOAT32)};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("EyeLike", 9, ek, 2, in, 1, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].dtype, WEFT_FLOAT32);
    expect_f32(&out[0], 2, D(3, 4), (const float[]){0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, 12);
    wt_free_outputs(out, 1);
    weft_attr ek2 = wt_attr_int("k", -2);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("EyeLike", 9, &ek2, 1, in, 1, out, 1), WEFT_OK);
    expect_i64(&out[0], 2, D(3, 4), D(0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0), 12);
    wt_free_outputs(out, 1);
    weft_attr ek3 = wt_attr_int("k", INT64_MAX);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("EyeLike", 9, &ek3, 1, in, 1, out, 1), WEFT_OK);
    expect_i64(&out[0], 2, D(3, 4), D(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 12);
    wt_free_outputs(out, 1);
    free(x);
}

/* --- DepthToSpace, SpaceToDepth, Compress -------------------------------------------------------- */

static void test_depth_space(void)
{
    int64_t *x = iota64(8);
    weft_tensor in = wt_tensor(WEFT_INT64, x, 4, D(1, 8, 1, 1)), out[1];
    weft_attr b = wt_attr_int("blocksize", 2);
    /* DCR: out[c][i][j] = x[(i*2 + j)*2 + c] */
    CU_ASSERT_EQUAL_FATAL(wt_run_op("DepthToSpace", 13, &b, 1, &in, 1, out, 1), WEFT_OK);
    expect_i64(&out[0], 4, D(1, 2, 2, 2), D(0, 2, 4, 6, 1, 3, 5, 7), 8);
    wt_free_outputs(out, 1);
    /* CRD: out[c][i][j] = x[c*4 + i*2 + j] */
    weft_attr bc[2] = {b, wt_attr_string("mode", "CRD")};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("DepthToSpace", 13, bc, 2, &in, 1, out, 1), WEFT_OK);
    expect_i64(&out[0], 4, D(1, 2, 2, 2), x, 8);
    wt_free_outputs(out, 1);
    weft_attr b3 = wt_attr_int("blocksize", 3);
    CU_ASSERT_EQUAL(wt_run_op("DepthToSpace", 13, &b3, 1, &in, 1, out, 1), WEFT_ERR_SHAPE);

    /* SpaceToDepth of [1,1,2,2] [[0,1],[2,3]]: channel (i*2 + j) holds x[i][j]. */
    weft_tensor s = wt_tensor(WEFT_INT64, x, 4, D(1, 1, 2, 2));
    CU_ASSERT_EQUAL_FATAL(wt_run_op("SpaceToDepth", 13, &b, 1, &s, 1, out, 1), WEFT_OK);
    expect_i64(&out[0], 4, D(1, 4, 1, 1), D(0, 1, 2, 3), 4);
    wt_free_outputs(out, 1);
    /* Round trip on [2, 3, 4, 6] (blocksize 2): DCR DepthToSpace undoes SpaceToDepth. */
    int64_t *y = iota64(144);
    weft_tensor big = wt_tensor(WEFT_INT64, y, 4, D(2, 3, 4, 6)), mid[1], back[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("SpaceToDepth", 13, &b, 1, &big, 1, mid, 1), WEFT_OK);
    CU_ASSERT_EQUAL(mid[0].dims[1], 12);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("DepthToSpace", 13, &b, 1, mid, 1, back, 1), WEFT_OK);
    expect_i64(&back[0], 4, D(2, 3, 4, 6), y, 144);
    wt_free_outputs(mid, 1);
    wt_free_outputs(back, 1);
    weft_tensor odd = wt_tensor(WEFT_INT64, y, 4, D(1, 1, 3, 2));
    CU_ASSERT_EQUAL(wt_run_op("SpaceToDepth", 13, &b, 1, &odd, 1, out, 1), WEFT_ERR_SHAPE);
    free(y);
    free(x);
}

static void test_compress(void)
{
    int64_t *x = iota64(6);
    weft_tensor out[1];
    uint8_t c[3] = {0, 1, 1};
    weft_tensor in[2] = {wt_tensor(WEFT_INT64, x, 2, D(3, 2)), wt_tensor(WEFT_BOOL, c, 1, D(3))};
    weft_attr a0 = wt_attr_int("axis", 0);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Compress", 11, &a0, 1, in, 2, out, 1), WEFT_OK);
    expect_i64(&out[0], 2, D(2, 2), D(2, 3, 4, 5), 4);
    wt_free_outputs(out, 1);
    /* No axis: flattened; a short condition selects among the first elements only. */
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Compress", 11, NULL, 0, in, 2, out, 1), WEFT_OK);
    expect_i64(&out[0], 1, D(2), D(1, 2), 2);
    wt_free_outputs(out, 1);
    /* axis -1 with condition [1, 0]... length 3 is longer than the axis (2): refused. */
    weft_attr am = wt_attr_int("axis", -1);
    CU_ASSERT_EQUAL(wt_run_op("Compress", 11, &am, 1, in, 2, out, 1), WEFT_ERR_SHAPE);
    in[1] = wt_tensor(WEFT_BOOL, NULL, 1, D(0)); /* empty condition: nothing kept */
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Compress", 11, &a0, 1, in, 2, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].dims[0], 0);
    CU_ASSERT_EQUAL(out[0].dims[1], 2);
    wt_free_outputs(out, 1);
    in[1] = wt_tensor(WEFT_BOOL, (uint8_t[]){0, 1}, 1, D(2));
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Compress", 11, &am, 1, in, 2, out, 1), WEFT_OK);
    expect_i64(&out[0], 2, D(3, 1), D(1, 3, 5), 3);
    wt_free_outputs(out, 1);
    free(x);
}

/* --- symbolic inference -------------------------------------------------------------------------- */

static void test_symbolic(void)
{
    weft_dtype dt[5] = {WEFT_FLOAT32, WEFT_INT64, WEFT_INT64, WEFT_INT64, WEFT_INT64}, odt[3];
    weft_shape osh[3];
    /* Concat of [N, 3] and [N, 5] on axis 1: [N, 8]; on axis 0: unknown. */
    weft_shape cs[2] = {{2, {S(1), {3, -1}}}, {2, {S(1), {5, -1}}}};
    weft_attr ax = wt_attr_int("axis", 1);
    const void *nd[5] = {NULL, NULL, NULL, NULL, NULL};
    weft_dtype cdt[2] = {WEFT_FLOAT32, WEFT_FLOAT32};
    CU_ASSERT_EQUAL_FATAL(infer_only("Concat", 13, &ax, 1, 2, cdt, cs, nd, 1, osh, odt), WEFT_OK);
    CU_ASSERT(weft_dim_eq(osh[0].d[0], S(1)));
    CU_ASSERT(weft_dim_eq(osh[0].d[1], weft_dim_num(8)));
    /* Slice [N, 10] with unknown starts: rank kept, dims unknown; whole-axis slice keeps N. */
    weft_shape ss[5] = {{2, {S(1), {10, -1}}}, {1, {{1, -1}}}, {1, {{1, -1}}}, {1, {{1, -1}}}, {1, {{1, -1}}}};
    CU_ASSERT_EQUAL_FATAL(infer_only("Slice", 13, NULL, 0, 3, dt, ss, nd, 1, osh, odt), WEFT_OK);
    CU_ASSERT_EQUAL(osh[0].rank, 2);
    const void *sd[5] = {NULL, D(0), D(INT64_MAX), D(0), D(1)};
    CU_ASSERT_EQUAL_FATAL(infer_only("Slice", 13, NULL, 0, 5, dt, ss, sd, 1, osh, odt), WEFT_OK);
    CU_ASSERT(weft_dim_eq(osh[0].d[0], S(1)));
    CU_ASSERT(weft_dim_eq(osh[0].d[1], weft_dim_num(10)));
    /* Flatten [N, 2, 3] at 1: [N, 6]. */
    weft_shape fs = {3, {S(1), {2, -1}, {3, -1}}};
    CU_ASSERT_EQUAL_FATAL(infer_only("Flatten", 13, NULL, 0, 1, dt, &fs, nd, 1, osh, odt), WEFT_OK);
    CU_ASSERT(weft_dim_eq(osh[0].d[0], S(1)));
    CU_ASSERT(weft_dim_eq(osh[0].d[1], weft_dim_num(6)));
    /* Range with unknown values: [?]. Shape of a symbolic input: [rank]. */
    weft_dtype rdt[3] = {WEFT_INT64, WEFT_INT64, WEFT_INT64};
    weft_shape rs[3] = {{0, {{0, 0}}}, {0, {{0, 0}}}, {0, {{0, 0}}}};
    CU_ASSERT_EQUAL_FATAL(infer_only("Range", 11, NULL, 0, 3, rdt, rs, nd, 1, osh, odt), WEFT_OK);
    CU_ASSERT_EQUAL(osh[0].rank, 1);
    CU_ASSERT(!weft_dim_known(osh[0].d[0]));
    CU_ASSERT_EQUAL_FATAL(infer_only("Shape", 13, NULL, 0, 1, dt, &fs, nd, 1, osh, odt), WEFT_OK);
    CU_ASSERT(weft_dim_eq(osh[0].d[0], weft_dim_num(3)));
    /* Transpose keeps the symbol where it moves. */
    CU_ASSERT_EQUAL_FATAL(infer_only("Transpose", 13, NULL, 0, 1, dt, &fs, nd, 1, osh, odt), WEFT_OK);
    CU_ASSERT(weft_dim_eq(osh[0].d[2], S(1)));
    /* Split [N, 4] on axis 1 into 2 equal parts: [N, 2] each. */
    weft_shape sp = {2, {S(1), {4, -1}}};
    weft_attr sa = wt_attr_int("axis", 1);
    CU_ASSERT_EQUAL_FATAL(infer_only("Split", 13, &sa, 1, 1, dt, &sp, nd, 2, osh, odt), WEFT_OK);
    CU_ASSERT(weft_dim_eq(osh[1].d[0], S(1)));
    CU_ASSERT(weft_dim_eq(osh[1].d[1], weft_dim_num(2)));
    /* Expand [N, 1] to [1, 5]: [N, 5]. */
    weft_shape es[2] = {{2, {S(1), {1, -1}}}, {1, {{2, -1}}}};
    const void *ed[2] = {NULL, D(1, 5)};
    CU_ASSERT_EQUAL_FATAL(infer_only("Expand", 13, NULL, 0, 2, dt, es, ed, 1, osh, odt), WEFT_OK);
    CU_ASSERT(weft_dim_eq(osh[0].d[0], S(1)));
    CU_ASSERT(weft_dim_eq(osh[0].d[1], weft_dim_num(5)));
    /* Tile [N, 2] by [1, 3]: [N, 6]; by [2, 1]: a fresh symbol, not N. */
    const void *td[2] = {NULL, D(1, 3)};
    weft_shape ts[2] = {{2, {S(1), {2, -1}}}, {1, {{2, -1}}}};
    CU_ASSERT_EQUAL_FATAL(infer_only("Tile", 13, NULL, 0, 2, dt, ts, td, 1, osh, odt), WEFT_OK);
    CU_ASSERT(weft_dim_eq(osh[0].d[0], S(1)));
    CU_ASSERT(weft_dim_eq(osh[0].d[1], weft_dim_num(6)));
    const void *td2[2] = {NULL, D(2, 1)};
    CU_ASSERT_EQUAL_FATAL(infer_only("Tile", 13, NULL, 0, 2, dt, ts, td2, 1, osh, odt), WEFT_OK);
    CU_ASSERT(!weft_dim_known(osh[0].d[0]) && !weft_dim_eq(osh[0].d[0], S(1)));
    /* Squeeze without axes on a symbolic input: rank unknown (the symbol might be 1). */
    CU_ASSERT_EQUAL_FATAL(infer_only("Squeeze", 13, NULL, 0, 1, dt, &fs, nd, 1, osh, odt), WEFT_OK);
    CU_ASSERT_EQUAL(osh[0].rank, -1);
    /* Pad [N, 3] by (0, 1, 0, 1): [N, 5]. */
    weft_shape ps[2] = {{2, {S(1), {3, -1}}}, {1, {{4, -1}}}};
    const void *pd[2] = {NULL, D(0, 1, 0, 1)};
    CU_ASSERT_EQUAL_FATAL(infer_only("Pad", 13, NULL, 0, 2, dt, ps, pd, 1, osh, odt), WEFT_OK);
    CU_ASSERT(weft_dim_eq(osh[0].d[0], S(1)));
    CU_ASSERT(weft_dim_eq(osh[0].d[1], weft_dim_num(5)));
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("ops_movement", NULL, NULL);
    struct { const char *name; void (*fn)(void); } tests[] = {
        {"constant", test_constant},
        {"constant_of_shape", test_constant_of_shape},
        {"identity", test_identity},
        {"reshape", test_reshape},
        {"reshape_symbolic", test_reshape_symbolic},
        {"shape_size", test_shape_size},
        {"flatten", test_flatten},
        {"squeeze_unsqueeze", test_squeeze_unsqueeze},
        {"transpose", test_transpose},
        {"concat", test_concat},
        {"split", test_split},
        {"slice", test_slice},
        {"tile_expand", test_tile_expand},
        {"dropout", test_dropout},
        {"range", test_range},
        {"pad", test_pad},
        {"trilu_eyelike", test_trilu_eyelike},
        {"depth_space", test_depth_space},
        {"compress", test_compress},
        {"symbolic", test_symbolic},
    };
    for (int i = 0; i < N_OF(tests); i++) CU_add_test(s, tests[i].name, tests[i].fn);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
