/*
 * tests/unit/test_ops_index.c — Gather*, Scatter*, OneHot, NonZero, TopK, ArgMax/ArgMin, CumSum.
 *
 * Expected values are worked out by hand (or are the examples of the ONNX operator spec), including
 * the message-passing cases that matter for graph networks: many edges into few nodes, duplicate and
 * negative indices, and every reduction.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/unit/op_harness.h"

#define D(...) ((const int64_t[]){__VA_ARGS__})
#define T(dt, data, rank, ...) wt_tensor(dt, data, rank, (const int64_t[]){__VA_ARGS__})

static void check_dims(const weft_tensor *t, int rank, const int64_t *dims)
{
    CU_ASSERT_EQUAL(t->rank, rank);
    for (int i = 0; i < rank && i < t->rank; i++) CU_ASSERT_EQUAL(t->dims[i], dims[i]);
}

static void check_f32(const weft_tensor *t, const float *want, int64_t n)
{
    CU_ASSERT_EQUAL(t->dtype, WEFT_FLOAT32);
    CU_ASSERT_EQUAL(t->nbytes, (size_t)n * 4);
    if (t->dtype == WEFT_FLOAT32 && t->nbytes == (size_t)n * 4) CU_ASSERT(wt_close_f32(t->data, want, n, 0, 0));
}

static void check_i64(const weft_tensor *t, const int64_t *want, int64_t n)
{
    CU_ASSERT_EQUAL(t->dtype, WEFT_INT64);
    CU_ASSERT_EQUAL(t->nbytes, (size_t)n * 8);
    if (t->dtype != WEFT_INT64 || t->nbytes != (size_t)n * 8) return;
    const int64_t *g = t->data;
    for (int64_t i = 0; i < n; i++)
        if (g[i] != want[i]) {
            fprintf(stderr, "  mismatch at %lld: got %lld, want %lld\n", (long long)i, (long long)g[i],
                    (long long)want[i]);
            CU_FAIL("int64 mismatch");
            return;
        }
}

static void check_error(weft_status st, weft_status want, const char *needle)
{
    CU_ASSERT_EQUAL(st, want);
    if (needle && !strstr(weft_last_error(), needle)) {
        fprintf(stderr, "  message '%s' lacks '%s'\n", weft_last_error(), needle);
        CU_FAIL("error message");
    }
}

/* --- Gather ----------------------------------------------------------------------------------------- */

static void test_gather_axis0(void)
{
    float data[] = {1, 2, 3, 4, 5, 6};
    int64_t idx[] = {0, 1, 1, 2};
    weft_tensor in[] = {T(WEFT_FLOAT32, data, 2, 3, 2), T(WEFT_INT64, idx, 2, 2, 2)}, out[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Gather", 13, NULL, 0, in, 2, out, 1), WEFT_OK);
    check_dims(&out[0], 3, D(2, 2, 2));
    check_f32(&out[0], (float[]){1, 2, 3, 4, 3, 4, 5, 6}, 8);
    wt_free_outputs(out, 1);
}

static void test_gather_axis1_negative_int32(void)
{
    float data[] = {1, 2, 3, 4, 5, 6};
    int32_t idx[] = {-1, 0};
    weft_attr a = wt_attr_int("axis", -1);
    weft_tensor in[] = {T(WEFT_FLOAT32, data, 2, 2, 3), T(WEFT_INT32, idx, 1, 2)}, out[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Gather", 13, &a, 1, in, 2, out, 1), WEFT_OK);
    check_dims(&out[0], 2, D(2, 2));
    check_f32(&out[0], (float[]){3, 1, 6, 4}, 4);
    wt_free_outputs(out, 1);
}

static void test_gather_scalar_index_and_bytes(void)
{
    /* float16 data only moves: the bits must come back unchanged. */
    uint16_t data[] = {0x3c00, 0x4000, 0xfc00};
    int64_t idx = 2;
    weft_tensor in[] = {T(WEFT_FLOAT16, data, 1, 3), wt_tensor(WEFT_INT64, &idx, 0, NULL)}, out[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Gather", 11, NULL, 0, in, 2, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].rank, 0);
    CU_ASSERT_EQUAL(out[0].dtype, WEFT_FLOAT16);
    CU_ASSERT_EQUAL(((uint16_t *)out[0].data)[0], 0xfc00);
    wt_free_outputs(out, 1);
}

static void test_gather_errors(void)
{
    float data[] = {1, 2, 3, 4, 5, 6};
    int64_t bad[] = {0, 3};
    weft_tensor in[] = {T(WEFT_FLOAT32, data, 2, 3, 2), T(WEFT_INT64, bad, 1, 2)}, out[1];
    check_error(wt_run_op("Gather", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_INDEX, "index value 3");
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "axis 0 of size 3"));
    wt_free_outputs(out, 1);
    int64_t neg[] = {-4};
    in[1] = T(WEFT_INT64, neg, 1, 1);
    check_error(wt_run_op("Gather", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_INDEX, "-4");
    wt_free_outputs(out, 1);
    float fidx[] = {0};
    in[1] = T(WEFT_FLOAT32, fidx, 1, 1);
    check_error(wt_run_op("Gather", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_TYPE, "int32 or int64");
    weft_attr a = wt_attr_int("axis", 2);
    in[1] = T(WEFT_INT64, neg, 1, 1);
    check_error(wt_run_op("Gather", 13, &a, 1, in, 2, out, 1), WEFT_ERR_SHAPE, "axis 2");
    /* Rank 8 data gathered by a rank-2 index would give rank 9. */
    int64_t i2[] = {0};
    in[0] = T(WEFT_FLOAT32, data, 8, 1, 1, 1, 1, 1, 1, 1, 1);
    in[1] = T(WEFT_INT64, i2, 2, 1, 1);
    check_error(wt_run_op("Gather", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_UNSUPPORTED, "rank 9");
}

/* Inference with symbols: x[N,4] gathered by idx[E] gives [E,4] with the same symbols. */
static int32_t fresh(void *u) { return (*(int *)u)++; }

static void test_gather_symbolic(void)
{
    const weft_op_def *def = weft_op_find("", "Gather", 13);
    CU_ASSERT_PTR_NOT_NULL_FATAL(def);
    weft_node_info node = {"g", "Gather", "", 13, 0, NULL};
    weft_dtype in_dt[2] = {WEFT_FLOAT32, WEFT_INT64}, out_dt[1] = {0};
    weft_shape in_sh[2] = {{2, {{0, 7}, {4, -1}}}, {1, {{0, 9}}}}, out_sh[1];
    const void *data[2] = {NULL, NULL};
    int next = 100;
    weft_infer_ctx c = {&node, 2, in_dt, in_sh, data, 1, out_dt, out_sh, fresh, &next};
    CU_ASSERT_EQUAL_FATAL(def->infer(&c), WEFT_OK);
    CU_ASSERT_EQUAL(out_dt[0], WEFT_FLOAT32);
    CU_ASSERT_EQUAL(out_sh[0].rank, 2);
    CU_ASSERT_EQUAL(out_sh[0].d[0].sym, 9);
    CU_ASSERT(weft_dim_known(out_sh[0].d[1]) && out_sh[0].d[1].v == 4);

    /* NonZero of unknown data: [2, fresh symbol]. */
    def = weft_op_find("", "NonZero", 13);
    CU_ASSERT_PTR_NOT_NULL_FATAL(def);
    weft_node_info nz = {"nz", "NonZero", "", 13, 0, NULL};
    c.node = &nz;
    c.n_in = 1;
    CU_ASSERT_EQUAL_FATAL(def->infer(&c), WEFT_OK);
    CU_ASSERT_EQUAL(out_dt[0], WEFT_INT64);
    CU_ASSERT_EQUAL(out_sh[0].rank, 2);
    CU_ASSERT(weft_dim_known(out_sh[0].d[0]) && out_sh[0].d[0].v == 2);
    CU_ASSERT(!weft_dim_known(out_sh[0].d[1]) && out_sh[0].d[1].sym >= 100);
}

/* --- GatherElements --------------------------------------------------------------------------------- */

static void test_gather_elements(void)
{
    /* The spec's examples. */
    float d1[] = {1, 2, 3, 4};
    int64_t i1[] = {0, 0, 1, 0};
    weft_attr ax1 = wt_attr_int("axis", 1);
    weft_tensor in[] = {T(WEFT_FLOAT32, d1, 2, 2, 2), T(WEFT_INT64, i1, 2, 2, 2)}, out[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("GatherElements", 13, &ax1, 1, in, 2, out, 1), WEFT_OK);
    check_f32(&out[0], (float[]){1, 1, 4, 3}, 4);
    wt_free_outputs(out, 1);

    float d2[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    int32_t i2[] = {1, 2, 0, 2, 0, -3};
    in[0] = T(WEFT_FLOAT32, d2, 2, 3, 3);
    in[1] = T(WEFT_INT32, i2, 2, 2, 3);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("GatherElements", 13, NULL, 0, in, 2, out, 1), WEFT_OK);
    check_dims(&out[0], 2, D(2, 3));
    check_f32(&out[0], (float[]){4, 8, 3, 7, 2, 3}, 6);
    wt_free_outputs(out, 1);

    int32_t bad[] = {1, 2, 0, 2, 3, 0};
    in[1] = T(WEFT_INT32, bad, 2, 2, 3);
    check_error(wt_run_op("GatherElements", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_INDEX, "index value 3");
    wt_free_outputs(out, 1);
    in[1] = T(WEFT_INT32, bad, 1, 6);
    check_error(wt_run_op("GatherElements", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_SHAPE, "rank");
    /* Off the axis, indices may not reach past data. */
    in[1] = T(WEFT_INT32, i2, 2, 1, 6);
    check_error(wt_run_op("GatherElements", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_SHAPE, "exceeds data dim");
}

/* --- GatherND --------------------------------------------------------------------------------------- */

static void test_gather_nd(void)
{
    int32_t d[] = {0, 1, 2, 3};
    int64_t i1[] = {0, 0, 1, 1};
    weft_tensor in[] = {T(WEFT_INT32, d, 2, 2, 2), T(WEFT_INT64, i1, 2, 2, 2)}, out[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("GatherND", 13, NULL, 0, in, 2, out, 1), WEFT_OK);
    check_dims(&out[0], 1, D(2));
    CU_ASSERT(out[0].dtype == WEFT_INT32 && ((int32_t *)out[0].data)[0] == 0 && ((int32_t *)out[0].data)[1] == 3);
    wt_free_outputs(out, 1);

    int64_t i2[] = {1, -2};
    in[1] = T(WEFT_INT64, i2, 2, 2, 1);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("GatherND", 13, NULL, 0, in, 2, out, 1), WEFT_OK);
    check_dims(&out[0], 2, D(2, 2));
    int32_t *g = out[0].data;
    CU_ASSERT(g[0] == 2 && g[1] == 3 && g[2] == 0 && g[3] == 1);
    wt_free_outputs(out, 1);

    /* batch_dims = 1: each batch picks its own row. */
    float d3[] = {0, 1, 2, 3, 4, 5, 6, 7};
    int64_t i3[] = {1, 0};
    weft_attr bd = wt_attr_int("batch_dims", 1);
    in[0] = T(WEFT_FLOAT32, d3, 3, 2, 2, 2);
    in[1] = T(WEFT_INT64, i3, 2, 2, 1);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("GatherND", 13, &bd, 1, in, 2, out, 1), WEFT_OK);
    check_dims(&out[0], 2, D(2, 2));
    check_f32(&out[0], (float[]){2, 3, 4, 5}, 4);
    wt_free_outputs(out, 1);

    int64_t i4[] = {0, 2};
    in[0] = T(WEFT_INT32, d, 2, 2, 2);
    in[1] = T(WEFT_INT64, i4, 2, 1, 2);
    check_error(wt_run_op("GatherND", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_INDEX, "axis 1 of size 2");
    wt_free_outputs(out, 1);
    int64_t i5[] = {0, 0, 0};
    in[1] = T(WEFT_INT64, i5, 2, 1, 3);
    check_error(wt_run_op("GatherND", 13, NULL, 0, in, 2, out, 1), WEFT_ERR_SHAPE, "last dim");
}

/* --- ScatterElements / Scatter ---------------------------------------------------------------------- */

static void test_scatter_elements_spec(void)
{
    float data[9] = {0};
    int64_t idx[] = {1, 0, 2, 0, 2, 1};
    float upd[] = {1.0f, 1.1f, 1.2f, 2.0f, 2.1f, 2.2f};
    weft_tensor in[] = {T(WEFT_FLOAT32, data, 2, 3, 3), T(WEFT_INT64, idx, 2, 2, 3), T(WEFT_FLOAT32, upd, 2, 2, 3)},
                out[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("ScatterElements", 13, NULL, 0, in, 3, out, 1), WEFT_OK);
    check_dims(&out[0], 2, D(3, 3));
    check_f32(&out[0], (float[]){2.0f, 1.1f, 0, 1.0f, 0, 2.2f, 0, 2.1f, 1.2f}, 9);
    wt_free_outputs(out, 1);
    /* The same through the opset-10 name. */
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Scatter", 10, NULL, 0, in, 3, out, 1), WEFT_OK);
    check_f32(&out[0], (float[]){2.0f, 1.1f, 0, 1.0f, 0, 2.2f, 0, 2.1f, 1.2f}, 9);
    wt_free_outputs(out, 1);
    /* Scatter is gone from opset 11. */
    CU_ASSERT_NOT_EQUAL(wt_run_op("Scatter", 11, NULL, 0, in, 3, out, 1), WEFT_OK);
}

/* Message passing: 6 edges into 3 nodes, destinations [0,2,0,0,2,-2] (-2 is node 1). */
static void test_scatter_elements_reductions(void)
{
    float h[] = {1, 1, 1};
    int64_t dst[] = {0, 2, 0, 0, 2, -2};
    float msg[] = {1, 2, 3, 4, 5, 6};
    weft_tensor in[] = {T(WEFT_FLOAT32, h, 1, 3), T(WEFT_INT64, dst, 1, 6), T(WEFT_FLOAT32, msg, 1, 6)}, out[1];
    struct { const char *red; float want[3]; } cases[] = {
        {"add", {1 + 1 + 3 + 4, 1 + 6, 1 + 2 + 5}},
        {"mul", {1 * 1 * 3 * 4, 6, 2 * 5}},
        {"max", {4, 6, 5}},
        {"min", {1, 1, 1}},
        {"none", {4, 6, 5}}, /* applied in order: the last update wins */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        weft_attr r = wt_attr_string("reduction", cases[i].red);
        CU_ASSERT_EQUAL_FATAL(wt_run_op("ScatterElements", 18, &r, 1, in, 3, out, 1), WEFT_OK);
        check_f32(&out[0], cases[i].want, 3);
        wt_free_outputs(out, 1);
    }
    /* min against a large initial value: the true minimum of each node's messages. */
    float big[] = {100, 100, 100};
    in[0] = T(WEFT_FLOAT32, big, 1, 3);
    weft_attr r = wt_attr_string("reduction", "min");
    CU_ASSERT_EQUAL_FATAL(wt_run_op("ScatterElements", 18, &r, 1, in, 3, out, 1), WEFT_OK);
    check_f32(&out[0], (float[]){1, 6, 2}, 3);
    wt_free_outputs(out, 1);

    /* int64 add, on a 2-D [N, F] feature matrix with axis 0 (the Expand-widened index). */
    int64_t feat[6] = {0};
    int64_t wide[] = {1, 1, 0, 0, 1, 1};
    int64_t vals[] = {1, 2, 10, 20, 100, 200};
    weft_tensor in2[] = {T(WEFT_INT64, feat, 2, 2, 2 + 1), T(WEFT_INT64, wide, 2, 3, 2), T(WEFT_INT64, vals, 2, 3, 2)};
    weft_attr add = wt_attr_string("reduction", "add");
    CU_ASSERT_EQUAL_FATAL(wt_run_op("ScatterElements", 16, &add, 1, in2, 3, out, 1), WEFT_OK);
    check_i64(&out[0], (int64_t[]){10, 20, 0, 101, 202, 0}, 6);
    wt_free_outputs(out, 1);

    /* float16 add computes in float: 1 + 0.5 + 0.25 = 1.75 (0x3f00). */
    uint16_t hd[] = {0x3c00};
    int64_t z[] = {0, 0};
    uint16_t hu[] = {0x3800, 0x3400};
    weft_tensor in3[] = {T(WEFT_FLOAT16, hd, 1, 1), T(WEFT_INT64, z, 1, 2), T(WEFT_FLOAT16, hu, 1, 2)};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("ScatterElements", 16, &add, 1, in3, 3, out, 1), WEFT_OK);
    CU_ASSERT_EQUAL(((uint16_t *)out[0].data)[0], 0x3f00);
    wt_free_outputs(out, 1);
}

static void test_scatter_elements_errors(void)
{
    float h[] = {0, 0, 0};
    int64_t dst[] = {0, 3};
    float msg[] = {1, 2};
    weft_tensor in[] = {T(WEFT_FLOAT32, h, 1, 3), T(WEFT_INT64, dst, 1, 2), T(WEFT_FLOAT32, msg, 1, 2)}, out[1];
    check_error(wt_run_op("ScatterElements", 18, NULL, 0, in, 3, out, 1), WEFT_ERR_INDEX, "index value 3");
    wt_free_outputs(out, 1);
    weft_attr r = wt_attr_string("reduction", "mean");
    dst[1] = 1;
    check_error(wt_run_op("ScatterElements", 18, &r, 1, in, 3, out, 1), WEFT_ERR_INVALID_MODEL, "mean");
    in[2] = T(WEFT_FLOAT32, msg, 1, 1);
    check_error(wt_run_op("ScatterElements", 18, NULL, 0, in, 3, out, 1), WEFT_ERR_SHAPE, "updates");
    in[2] = T(WEFT_INT64, dst, 1, 2);
    check_error(wt_run_op("ScatterElements", 18, NULL, 0, in, 3, out, 1), WEFT_ERR_TYPE, "updates");
}

/* --- ScatterND -------------------------------------------------------------------------------------- */

static void test_scatter_nd(void)
{
    float data[] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t idx[] = {4, 3, 1, 7};
    float upd[] = {9, 10, 11, 12};
    weft_tensor in[] = {T(WEFT_FLOAT32, data, 1, 8), T(WEFT_INT64, idx, 2, 4, 1), T(WEFT_FLOAT32, upd, 1, 4)}, out[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("ScatterND", 13, NULL, 0, in, 3, out, 1), WEFT_OK);
    check_f32(&out[0], (float[]){1, 11, 3, 10, 9, 6, 7, 12}, 8);
    wt_free_outputs(out, 1);

    /* Row slices with duplicate (and negative) row indices, every reduction. */
    float m[] = {1, 2, 3, 4};
    int64_t rows[] = {0, -2, 1};
    float u[] = {5, 6, 7, 8, 2, 3};
    weft_tensor in2[] = {T(WEFT_FLOAT32, m, 2, 2, 2), T(WEFT_INT64, rows, 2, 3, 1), T(WEFT_FLOAT32, u, 2, 3, 2)};
    struct { const char *red; float want[4]; } cases[] = {
        {"add", {1 + 5 + 7, 2 + 6 + 8, 3 + 2, 4 + 3}},
        {"mul", {1 * 5 * 7, 2 * 6 * 8, 6, 12}},
        {"max", {7, 8, 3, 4}},
        {"min", {1, 2, 2, 3}},
        {"none", {7, 8, 2, 3}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        weft_attr r = wt_attr_string("reduction", cases[i].red);
        CU_ASSERT_EQUAL_FATAL(wt_run_op("ScatterND", 18, &r, 1, in2, 3, out, 1), WEFT_OK);
        check_f32(&out[0], cases[i].want, 4);
        wt_free_outputs(out, 1);
    }

    int64_t bad[] = {0, 2, 1};
    in2[1] = T(WEFT_INT64, bad, 2, 3, 1);
    check_error(wt_run_op("ScatterND", 18, NULL, 0, in2, 3, out, 1), WEFT_ERR_INDEX, "index value 2");
    wt_free_outputs(out, 1);
    in2[2] = T(WEFT_FLOAT32, u, 2, 2, 3);
    check_error(wt_run_op("ScatterND", 18, NULL, 0, in2, 3, out, 1), WEFT_ERR_SHAPE, "updates");
}

/* --- OneHot ----------------------------------------------------------------------------------------- */

static void test_onehot(void)
{
    int64_t idx[] = {0, -1, 5, 2};
    float depth = 3;
    float vals[] = {0, 1};
    weft_tensor in[] = {T(WEFT_INT64, idx, 1, 4), wt_tensor(WEFT_FLOAT32, &depth, 0, NULL), T(WEFT_FLOAT32, vals, 1, 2)},
                out[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("OneHot", 11, NULL, 0, in, 3, out, 1), WEFT_OK);
    check_dims(&out[0], 2, D(4, 3));
    /* -1 wraps to depth-1 = 2; 5 is outside [-3, 3): an all-off row. */
    check_f32(&out[0], (float[]){1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}, 12);
    wt_free_outputs(out, 1);

    /* axis 0, int32 values [-1, 7]: out[d][i] = idx[i] == d ? 7 : -1. */
    int32_t idx2[] = {1, 0, 1};
    int64_t depth2[] = {2};
    int32_t vals2[] = {-1, 7};
    weft_attr ax = wt_attr_int("axis", 0);
    weft_tensor in2[] = {T(WEFT_INT32, idx2, 1, 3), T(WEFT_INT64, depth2, 1, 1), T(WEFT_INT32, vals2, 1, 2)};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("OneHot", 11, &ax, 1, in2, 3, out, 1), WEFT_OK);
    check_dims(&out[0], 2, D(2, 3));
    int32_t *g = out[0].data;
    int32_t want[] = {-1, 7, -1, 7, -1, 7};
    CU_ASSERT(out[0].dtype == WEFT_INT32 && memcmp(g, want, sizeof want) == 0);
    wt_free_outputs(out, 1);

    float bad = -2;
    in[1] = wt_tensor(WEFT_FLOAT32, &bad, 0, NULL);
    check_error(wt_run_op("OneHot", 11, NULL, 0, in, 3, out, 1), WEFT_ERR_INVALID_MODEL, "negative");
    in[1] = wt_tensor(WEFT_FLOAT32, &depth, 0, NULL);
    in[2] = T(WEFT_FLOAT32, vals, 1, 1);
    check_error(wt_run_op("OneHot", 11, NULL, 0, in, 3, out, 1), WEFT_ERR_SHAPE, "values");
}

/* --- NonZero ---------------------------------------------------------------------------------------- */

static void test_nonzero(void)
{
    uint8_t b[] = {1, 0, 1, 1};
    weft_tensor in[] = {T(WEFT_BOOL, b, 2, 2, 2)}, out[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("NonZero", 13, NULL, 0, in, 1, out, 1), WEFT_OK);
    check_dims(&out[0], 2, D(2, 3));
    check_i64(&out[0], (int64_t[]){0, 1, 1, 0, 0, 1}, 6);
    wt_free_outputs(out, 1);

    /* -0.0 is zero, NaN is not. */
    float f[] = {-0.0f, NAN, 0, 2};
    in[0] = T(WEFT_FLOAT32, f, 1, 4);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("NonZero", 13, NULL, 0, in, 1, out, 1), WEFT_OK);
    check_dims(&out[0], 2, D(1, 2));
    check_i64(&out[0], (int64_t[]){1, 3}, 2);
    wt_free_outputs(out, 1);

    float zeros[] = {0, 0};
    in[0] = T(WEFT_FLOAT32, zeros, 1, 2);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("NonZero", 13, NULL, 0, in, 1, out, 1), WEFT_OK);
    check_dims(&out[0], 2, D(1, 0));
    wt_free_outputs(out, 1);
}

/* --- TopK ------------------------------------------------------------------------------------------- */

static void test_topk(void)
{
    float x[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    int64_t k[] = {3};
    weft_tensor in[] = {T(WEFT_FLOAT32, x, 2, 3, 4), T(WEFT_INT64, k, 1, 1)}, out[2];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("TopK", 11, NULL, 0, in, 2, out, 2), WEFT_OK);
    check_dims(&out[0], 2, D(3, 3));
    check_f32(&out[0], (float[]){3, 2, 1, 7, 6, 5, 11, 10, 9}, 9);
    check_i64(&out[1], (int64_t[]){3, 2, 1, 3, 2, 1, 3, 2, 1}, 9);
    wt_free_outputs(out, 2);

    /* axis 0, smallest, k = 2 */
    weft_attr at[] = {wt_attr_int("axis", 0), wt_attr_int("largest", 0)};
    int64_t k2[] = {2};
    in[1] = T(WEFT_INT64, k2, 1, 1);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("TopK", 11, at, 2, in, 2, out, 2), WEFT_OK);
    check_dims(&out[0], 2, D(2, 4));
    check_f32(&out[0], (float[]){0, 1, 2, 3, 4, 5, 6, 7}, 8);
    check_i64(&out[1], (int64_t[]){0, 0, 0, 0, 1, 1, 1, 1}, 8);
    wt_free_outputs(out, 2);

    /* Ties: the lower index first, for largest and for smallest. */
    int32_t t[] = {1, 3, 3, 2, 3, 1};
    in[0] = T(WEFT_INT32, t, 1, 6);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("TopK", 11, NULL, 0, in, 2, out, 2), WEFT_OK);
    CU_ASSERT(((int32_t *)out[0].data)[0] == 3 && ((int32_t *)out[0].data)[1] == 3);
    check_i64(&out[1], (int64_t[]){1, 2}, 2);
    wt_free_outputs(out, 2);
    weft_attr small = wt_attr_int("largest", 0);
    int64_t k4[] = {4};
    in[1] = T(WEFT_INT64, k4, 1, 1);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("TopK", 11, &small, 1, in, 2, out, 2), WEFT_OK);
    check_i64(&out[1], (int64_t[]){0, 5, 3, 1}, 4);
    wt_free_outputs(out, 2);

    /* Opset 1: k is an attribute. */
    weft_attr ka = wt_attr_int("k", 1);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("TopK", 9, &ka, 1, in, 1, out, 2), WEFT_OK);
    check_i64(&out[1], (int64_t[]){1}, 1);
    wt_free_outputs(out, 2);

    int64_t k9[] = {7};
    in[1] = T(WEFT_INT64, k9, 1, 1);
    check_error(wt_run_op("TopK", 11, NULL, 0, in, 2, out, 2), WEFT_ERR_SHAPE, "k = 7");
    int64_t kn[] = {-1};
    in[1] = T(WEFT_INT64, kn, 1, 1);
    check_error(wt_run_op("TopK", 11, NULL, 0, in, 2, out, 2), WEFT_ERR_INVALID_MODEL, "negative");
}

/* --- ArgMax / ArgMin -------------------------------------------------------------------------------- */

static void test_argmax_argmin(void)
{
    float x[] = {2, 1, 3, 10};
    weft_tensor in[] = {T(WEFT_FLOAT32, x, 2, 2, 2)}, out[1];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("ArgMax", 13, NULL, 0, in, 1, out, 1), WEFT_OK);
    check_dims(&out[0], 2, D(1, 2));
    check_i64(&out[0], (int64_t[]){1, 1}, 2);
    wt_free_outputs(out, 1);

    weft_attr at[] = {wt_attr_int("axis", -1), wt_attr_int("keepdims", 0)};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("ArgMin", 13, at, 2, in, 1, out, 1), WEFT_OK);
    check_dims(&out[0], 1, D(2));
    check_i64(&out[0], (int64_t[]){1, 0}, 2);
    wt_free_outputs(out, 1);

    int8_t t[] = {2, 5, 5, -1, -1};
    in[0] = T(WEFT_INT8, t, 1, 5);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("ArgMax", 13, NULL, 0, in, 1, out, 1), WEFT_OK);
    check_i64(&out[0], (int64_t[]){1}, 1);
    wt_free_outputs(out, 1);
    weft_attr last = wt_attr_int("select_last_index", 1);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("ArgMax", 13, &last, 1, in, 1, out, 1), WEFT_OK);
    check_i64(&out[0], (int64_t[]){2}, 1);
    wt_free_outputs(out, 1);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("ArgMin", 13, &last, 1, in, 1, out, 1), WEFT_OK);
    check_i64(&out[0], (int64_t[]){4}, 1);
    wt_free_outputs(out, 1);

    float e[1];
    in[0] = T(WEFT_FLOAT32, e, 2, 0, 3);
    check_error(wt_run_op("ArgMax", 13, NULL, 0, in, 1, out, 1), WEFT_ERR_SHAPE, "empty");

    /* Found by fuzzing: a flag other than 0 / 1 is refused (runtimes read keepdims=-1 differently). */
    in[0] = T(WEFT_INT8, t, 1, 5);
    weft_attr kd = wt_attr_int("keepdims", -1), sl = wt_attr_int("select_last_index", 2);
    check_error(wt_run_op("ArgMax", 13, &kd, 1, in, 1, out, 1), WEFT_ERR_INVALID_MODEL, "keepdims");
    check_error(wt_run_op("ArgMin", 13, &sl, 1, in, 1, out, 1), WEFT_ERR_INVALID_MODEL, "select_last_index");
}

/* --- CumSum ----------------------------------------------------------------------------------------- */

static void test_cumsum(void)
{
    double x[] = {1, 2, 3, 4, 5};
    int32_t axis0 = 0;
    weft_tensor in[] = {T(WEFT_FLOAT64, x, 1, 5), wt_tensor(WEFT_INT32, &axis0, 0, NULL)}, out[1];
    struct { int ex, rev; double want[5]; } cases[] = {
        {0, 0, {1, 3, 6, 10, 15}},
        {1, 0, {0, 1, 3, 6, 10}},
        {0, 1, {15, 14, 12, 9, 5}},
        {1, 1, {14, 12, 9, 5, 0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        weft_attr at[] = {wt_attr_int("exclusive", cases[i].ex), wt_attr_int("reverse", cases[i].rev)};
        CU_ASSERT_EQUAL_FATAL(wt_run_op("CumSum", 14, at, 2, in, 2, out, 1), WEFT_OK);
        CU_ASSERT_EQUAL(out[0].dtype, WEFT_FLOAT64);
        CU_ASSERT(memcmp(out[0].data, cases[i].want, sizeof cases[i].want) == 0);
        wt_free_outputs(out, 1);
    }

    int64_t m[] = {1, 2, 3, 4, 5, 6};
    int64_t axm[] = {-1};
    weft_tensor in2[] = {T(WEFT_INT64, m, 2, 2, 3), T(WEFT_INT64, axm, 1, 1)};
    CU_ASSERT_EQUAL_FATAL(wt_run_op("CumSum", 14, NULL, 0, in2, 2, out, 1), WEFT_OK);
    check_i64(&out[0], (int64_t[]){1, 3, 6, 4, 9, 15}, 6);
    wt_free_outputs(out, 1);
    axm[0] = 0;
    CU_ASSERT_EQUAL_FATAL(wt_run_op("CumSum", 14, NULL, 0, in2, 2, out, 1), WEFT_OK);
    check_i64(&out[0], (int64_t[]){1, 2, 3, 5, 7, 9}, 6);
    wt_free_outputs(out, 1);

    axm[0] = 2;
    check_error(wt_run_op("CumSum", 14, NULL, 0, in2, 2, out, 1), WEFT_ERR_SHAPE, "axis 2");
}


/* --- Unique ----------------------------------------------------------------------------------------- */

static void test_unique(void)
{
    float x[] = {2, 1, 1, 3, 4, 3};
    weft_tensor in[] = {T(WEFT_FLOAT32, x, 1, 6)}, out[4];
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Unique", 11, NULL, 0, in, 1, out, 4), WEFT_OK);
    check_dims(&out[0], 1, D(4));
    check_f32(&out[0], (float[]){1, 2, 3, 4}, 4);
    check_i64(&out[1], (int64_t[]){1, 0, 3, 4}, 4);
    check_i64(&out[2], (int64_t[]){1, 0, 0, 2, 3, 2}, 6);
    check_i64(&out[3], (int64_t[]){2, 1, 2, 1}, 4);
    wt_free_outputs(out, 4);

    weft_attr uns = wt_attr_int("sorted", 0);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Unique", 11, &uns, 1, in, 1, out, 4), WEFT_OK);
    check_f32(&out[0], (float[]){2, 1, 3, 4}, 4);
    check_i64(&out[1], (int64_t[]){0, 1, 3, 4}, 4);
    check_i64(&out[2], (int64_t[]){0, 1, 1, 2, 3, 2}, 6);
    check_i64(&out[3], (int64_t[]){1, 2, 2, 1}, 4);
    wt_free_outputs(out, 4);

    /* Columns of a 2x4 matrix (axis -1): (1,5) (0,6) (1,5) (0,2) -> sorted (0,2) (0,6) (1,5). */
    int32_t m[] = {1, 0, 1, 0, 5, 6, 5, 2};
    weft_attr ax = wt_attr_int("axis", -1);
    in[0] = T(WEFT_INT32, m, 2, 2, 4);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Unique", 11, &ax, 1, in, 1, out, 4), WEFT_OK);
    check_dims(&out[0], 2, D(2, 3));
    int32_t want[] = {0, 0, 1, 2, 6, 5};
    CU_ASSERT(out[0].dtype == WEFT_INT32 && memcmp(out[0].data, want, sizeof want) == 0);
    check_i64(&out[1], (int64_t[]){3, 1, 0}, 3);
    check_i64(&out[2], (int64_t[]){2, 1, 2, 0}, 4);
    check_i64(&out[3], (int64_t[]){1, 1, 2}, 3);
    wt_free_outputs(out, 4);

    /* int64 values that a double cannot tell apart stay distinct. */
    int64_t big[] = {(1LL << 53) + 1, 1LL << 53, (1LL << 53) + 1};
    in[0] = T(WEFT_INT64, big, 1, 3);
    CU_ASSERT_EQUAL_FATAL(wt_run_op("Unique", 11, NULL, 0, in, 1, out, 1), WEFT_OK);
    check_i64(&out[0], (int64_t[]){1LL << 53, (1LL << 53) + 1}, 2);
    wt_free_outputs(out, 1);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("ops_index", NULL, NULL);
    if (!s) { CU_cleanup_registry(); return 1; }
    CU_add_test(s, "gather axis 0", test_gather_axis0);
    CU_add_test(s, "gather axis 1, negative int32 indices", test_gather_axis1_negative_int32);
    CU_add_test(s, "gather scalar index, float16 bytes", test_gather_scalar_index_and_bytes);
    CU_add_test(s, "gather errors", test_gather_errors);
    CU_add_test(s, "gather / nonzero symbolic inference", test_gather_symbolic);
    CU_add_test(s, "gather elements", test_gather_elements);
    CU_add_test(s, "gather nd", test_gather_nd);
    CU_add_test(s, "scatter elements (spec)", test_scatter_elements_spec);
    CU_add_test(s, "scatter elements reductions", test_scatter_elements_reductions);
    CU_add_test(s, "scatter elements errors", test_scatter_elements_errors);
    CU_add_test(s, "scatter nd", test_scatter_nd);
    CU_add_test(s, "onehot", test_onehot);
    CU_add_test(s, "nonzero", test_nonzero);
    CU_add_test(s, "topk", test_topk);
    CU_add_test(s, "argmax / argmin", test_argmax_argmin);
    CU_add_test(s, "cumsum", test_cumsum);
    CU_add_test(s, "unique", test_unique);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
