/*
 * tests/unit/test_ops_weft.c — the `ai.weft` operators (schemas/ai.weft.md): SegmentReduce, RowGather,
 * EdgeSoftmax, TimeEncoding, GRUCell.
 *
 * Expected values are worked out by hand in the comments (sums of small integers, softmax of (0, 1, 2),
 * gates made exactly 0.5 or 0.75 by choosing zero or ln 3 weights), so a wrong kernel cannot agree with
 * them by construction. Symbolic shape inference is checked by calling each op's infer directly.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/op_harness.h"

#define W "ai.weft"
#define D1(a) ((const int64_t[]){a})
#define D2(a, b) ((const int64_t[]){a, b})

static weft_status run(const char *op, const weft_attr *at, int n_at, const weft_tensor *in, int n_in, weft_tensor *out)
{
    return wt_run_op_domain(W, op, 1, at, n_at, in, n_in, out, 1);
}

static int same_dims(const weft_tensor *t, int rank, const int64_t *dims)
{
    if (t->rank != rank) return 0;
    for (int i = 0; i < rank; i++)
        if (t->dims[i] != dims[i]) return 0;
    return 1;
}

/* --- SegmentReduce ------------------------------------------------------------------------------- */

/* src rows r0..r4 = (1,2) (3,4) (5,6) (7,8) (-1,10), index (1,0,1,3,1), N = 4:
 * segment 0 = {r1}, segment 1 = {r0, r2, r4}, segment 2 = {} (empty), segment 3 = {r3}. */
static const float seg_src[] = {1, 2, 3, 4, 5, 6, 7, 8, -1, 10};
static const int64_t seg_idx[] = {1, 0, 1, 3, 1};
static const int64_t seg_n = 4;

static void seg_case(const char *reduce, const float *want)
{
    weft_tensor in[] = {wt_tensor(WEFT_FLOAT32, seg_src, 2, D2(5, 2)), wt_tensor(WEFT_INT64, seg_idx, 1, D1(5)),
                        wt_tensor(WEFT_INT64, &seg_n, 0, NULL)};
    weft_attr at[] = {wt_attr_string("reduce", reduce)};
    weft_tensor out[1];
    CU_ASSERT_EQUAL_FATAL(run("SegmentReduce", at, 1, in, 3, out), WEFT_OK);
    CU_ASSERT(same_dims(&out[0], 2, D2(4, 2)));
    CU_ASSERT_EQUAL(out[0].dtype, WEFT_FLOAT32);
    if (!wt_close_f32(out[0].data, want, 8, 1e-6, 0)) fprintf(stderr, "  (reduce %s)\n", reduce);
    CU_ASSERT(wt_close_f32(out[0].data, want, 8, 1e-6, 0));
    wt_free_outputs(out, 1);
}

static void test_segment_reductions(void)
{
    /* segment 1: sum (1+5-1, 2+6+10) = (5, 18); mean (5/3, 6); max (5, 10); min (-1, 2);
     * mul (1*5*-1, 2*6*10) = (-5, 120). The empty segment 2 is 0 for every reduction. */
    seg_case("sum", (const float[]){3, 4, 5, 18, 0, 0, 7, 8});
    seg_case("mean", (const float[]){3, 4, 5.0f / 3.0f, 6, 0, 0, 7, 8});
    seg_case("max", (const float[]){3, 4, 5, 10, 0, 0, 7, 8});
    seg_case("min", (const float[]){3, 4, -1, 2, 0, 0, 7, 8});
    seg_case("mul", (const float[]){3, 4, -5, 120, 0, 0, 7, 8});

    /* Default reduce is sum; the segment count may be given as [1]. */
    weft_tensor in[] = {wt_tensor(WEFT_FLOAT32, seg_src, 2, D2(5, 2)), wt_tensor(WEFT_INT64, seg_idx, 1, D1(5)),
                        wt_tensor(WEFT_INT64, &seg_n, 1, D1(1))};
    weft_tensor out[1];
    CU_ASSERT_EQUAL_FATAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_OK);
    float want[] = {3, 4, 5, 18, 0, 0, 7, 8};
    CU_ASSERT(wt_close_f32(out[0].data, want, 8, 0, 0));
    wt_free_outputs(out, 1);
}

static void test_segment_max_negative(void)
{
    /* All values negative: the maximum of a segment is its largest row, not 0 (rows start the
     * segment, not a zero fill). (-3, -1) -> -1; (-2) -> -2; segment 2 empty -> 0. */
    float src[] = {-3, -2, -1};
    int32_t idx[] = {0, 1, 0};
    int64_t n = 3;
    weft_tensor in[] = {wt_tensor(WEFT_FLOAT32, src, 1, D1(3)), wt_tensor(WEFT_INT32, idx, 1, D1(3)),
                        wt_tensor(WEFT_INT64, &n, 0, NULL)};
    weft_attr at[] = {wt_attr_string("reduce", "max")};
    weft_tensor out[1];
    CU_ASSERT_EQUAL_FATAL(run("SegmentReduce", at, 1, in, 3, out), WEFT_OK);
    CU_ASSERT(same_dims(&out[0], 1, D1(3)));
    CU_ASSERT(wt_close_f32(out[0].data, (const float[]){-1, -2, 0}, 3, 0, 0));
    wt_free_outputs(out, 1);
}

static void test_segment_init(void)
{
    /* With init (all 4): an empty segment keeps init; sum adds to it; max compares against it. */
    float init[8] = {4, 4, 4, 4, 4, 4, 4, 4};
    weft_tensor in[] = {wt_tensor(WEFT_FLOAT32, seg_src, 2, D2(5, 2)), wt_tensor(WEFT_INT64, seg_idx, 1, D1(5)), wt_absent(),
                        wt_tensor(WEFT_FLOAT32, init, 2, D2(4, 2))};
    weft_tensor out[1];
    weft_attr sum[] = {wt_attr_string("reduce", "sum")};
    CU_ASSERT_EQUAL_FATAL(run("SegmentReduce", sum, 1, in, 4, out), WEFT_OK);
    CU_ASSERT(same_dims(&out[0], 2, D2(4, 2)));
    CU_ASSERT(wt_close_f32(out[0].data, (const float[]){7, 8, 9, 22, 4, 4, 11, 12}, 8, 0, 0));
    wt_free_outputs(out, 1);
    weft_attr mx[] = {wt_attr_string("reduce", "max")};
    CU_ASSERT_EQUAL_FATAL(run("SegmentReduce", mx, 1, in, 4, out), WEFT_OK);
    CU_ASSERT(wt_close_f32(out[0].data, (const float[]){4, 4, 5, 10, 4, 4, 7, 8}, 8, 0, 0));
    wt_free_outputs(out, 1);
    weft_attr mn[] = {wt_attr_string("reduce", "mul")};
    CU_ASSERT_EQUAL_FATAL(run("SegmentReduce", mn, 1, in, 4, out), WEFT_OK);
    CU_ASSERT(wt_close_f32(out[0].data, (const float[]){12, 16, -20, 480, 4, 4, 28, 32}, 8, 0, 0));
    wt_free_outputs(out, 1);
    weft_attr mean[] = {wt_attr_string("reduce", "mean")};
    CU_ASSERT_EQUAL(run("SegmentReduce", mean, 1, in, 4, out), WEFT_ERR_INVALID_MODEL);
    wt_free_outputs(out, 1);

    /* a 2-D init wider than src (ScatterElements' form, schemas/ai.weft.md): its extra columns are kept */
    float init3[12] = {0, 0, 9, 0, 0, 9, 0, 0, 9, 0, 0, 9};
    in[3] = wt_tensor(WEFT_FLOAT32, init3, 2, D2(4, 3));
    CU_ASSERT_EQUAL_FATAL(run("SegmentReduce", sum, 1, in, 4, out), WEFT_OK);
    CU_ASSERT(same_dims(&out[0], 2, D2(4, 3)));
    CU_ASSERT(wt_close_f32(out[0].data, (const float[]){3, 4, 9, 5, 18, 9, 0, 0, 9, 7, 8, 9}, 12, 0, 0));
    wt_free_outputs(out, 1);
    /* ... but not narrower */
    float init1[4] = {0};
    in[3] = wt_tensor(WEFT_FLOAT32, init1, 2, D2(4, 1));
    CU_ASSERT_EQUAL(run("SegmentReduce", sum, 1, in, 4, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
}

static void test_segment_many_edges(void)
{
    /* E = 1000 >> N = 3, index e % 3, src[e] = e: segment 0 = 0+3+...+999 = 3*(333*334/2) = 166833,
     * segment 1 = 1+4+...+997 = 333*998/2 = 166167, segment 2 = 2+5+...+998 = 333*1000/2 = 166500,
     * each with 334 / 333 / 333 rows (mean 499.5, 499, 500). */
    enum { E = 1000 };
    double src[E];
    int64_t isrc[E], idx[E], n = 3;
    for (int e = 0; e < E; e++) { src[e] = e; isrc[e] = e; idx[e] = e % 3; }
    weft_tensor in[] = {wt_tensor(WEFT_FLOAT64, src, 1, D1(E)), wt_tensor(WEFT_INT64, idx, 1, D1(E)),
                        wt_tensor(WEFT_INT64, &n, 0, NULL)};
    weft_tensor out[1];
    CU_ASSERT_EQUAL_FATAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_OK);
    const double *o = out[0].data;
    CU_ASSERT(o[0] == 166833 && o[1] == 166167 && o[2] == 166500);
    wt_free_outputs(out, 1);
    weft_attr mean[] = {wt_attr_string("reduce", "mean")};
    CU_ASSERT_EQUAL_FATAL(run("SegmentReduce", mean, 1, in, 3, out), WEFT_OK);
    o = out[0].data;
    CU_ASSERT(o[0] == 499.5 && o[1] == 499 && o[2] == 500);
    wt_free_outputs(out, 1);

    in[0] = wt_tensor(WEFT_INT64, isrc, 1, D1(E));
    weft_attr mx[] = {wt_attr_string("reduce", "max")};
    CU_ASSERT_EQUAL_FATAL(run("SegmentReduce", mx, 1, in, 3, out), WEFT_OK);
    const int64_t *oi = out[0].data;
    CU_ASSERT(oi[0] == 999 && oi[1] == 997 && oi[2] == 998);
    wt_free_outputs(out, 1);
}

static void test_segment_int_wraps(void)
{
    /* int32 sums wrap around (two's complement) instead of overflowing: INT32_MAX + 1 = INT32_MIN. */
    int32_t src[] = {INT32_MAX, 1, 5};
    int64_t idx[] = {0, 0, 1}, n = 2;
    weft_tensor in[] = {wt_tensor(WEFT_INT32, src, 1, D1(3)), wt_tensor(WEFT_INT64, idx, 1, D1(3)),
                        wt_tensor(WEFT_INT64, &n, 0, NULL)};
    weft_tensor out[1];
    CU_ASSERT_EQUAL_FATAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_OK);
    const int32_t *o = out[0].data;
    CU_ASSERT(o[0] == INT32_MIN && o[1] == 5);
    wt_free_outputs(out, 1);
}

static void test_segment_float16(void)
{
    /* float16 accumulates in float: 2048 + 1 + 1 is 2050 (a float16 running sum would stick at 2048,
     * since 2049 is not representable). */
    uint16_t src[3] = {weft_f32_to_f16(2048), weft_f32_to_f16(1), weft_f32_to_f16(1)};
    int64_t idx[] = {0, 0, 0}, n = 2;
    weft_tensor in[] = {wt_tensor(WEFT_FLOAT16, src, 1, D1(3)), wt_tensor(WEFT_INT64, idx, 1, D1(3)),
                        wt_tensor(WEFT_INT64, &n, 0, NULL)};
    weft_tensor out[1];
    CU_ASSERT_EQUAL_FATAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_OK);
    CU_ASSERT_EQUAL(out[0].dtype, WEFT_FLOAT16);
    const uint16_t *o = out[0].data;
    CU_ASSERT_EQUAL(weft_f16_to_f32(o[0]), 2050.0f);
    CU_ASSERT_EQUAL(weft_f16_to_f32(o[1]), 0.0f);
    wt_free_outputs(out, 1);
    weft_attr mean[] = {wt_attr_string("reduce", "mean")}; /* (2048 + 2) / 3 = 683.33 -> float16 683.5 */
    CU_ASSERT_EQUAL_FATAL(run("SegmentReduce", mean, 1, in, 3, out), WEFT_OK);
    o = out[0].data;
    CU_ASSERT_EQUAL(weft_f16_to_f32(o[0]), 683.5f);
    wt_free_outputs(out, 1);
}

static void test_segment_errors(void)
{
    weft_tensor out[1];
    int64_t n = 4, n_neg = -1, n2[2] = {4, 4};
    int64_t bad_hi[] = {1, 0, 4, 3, 1}, bad_neg[] = {1, 0, -1, 3, 1};
    weft_tensor in[] = {wt_tensor(WEFT_FLOAT32, seg_src, 2, D2(5, 2)), wt_tensor(WEFT_INT64, bad_hi, 1, D1(5)),
                        wt_tensor(WEFT_INT64, &n, 0, NULL)};
    CU_ASSERT_EQUAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_ERR_INDEX);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "= 4"));
    wt_free_outputs(out, 1);
    in[1] = wt_tensor(WEFT_INT64, bad_neg, 1, D1(5));
    CU_ASSERT_EQUAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_ERR_INDEX);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "-1"));
    wt_free_outputs(out, 1);

    /* index length differs from src rows */
    in[1] = wt_tensor(WEFT_INT64, seg_idx, 1, D1(4));
    CU_ASSERT_EQUAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    /* index of rank 2 */
    in[1] = wt_tensor(WEFT_INT64, seg_idx, 2, D2(5, 1));
    CU_ASSERT_EQUAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    /* float index */
    float fidx[5] = {0};
    in[1] = wt_tensor(WEFT_FLOAT32, fidx, 1, D1(5));
    CU_ASSERT_EQUAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_ERR_TYPE);
    wt_free_outputs(out, 1);
    in[1] = wt_tensor(WEFT_INT64, seg_idx, 1, D1(5));

    /* num_segments: negative, two values, none at all, float */
    in[2] = wt_tensor(WEFT_INT64, &n_neg, 0, NULL);
    CU_ASSERT_EQUAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    in[2] = wt_tensor(WEFT_INT64, n2, 1, D1(2));
    CU_ASSERT_EQUAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    in[2] = wt_tensor(WEFT_INT64, n2, 1, D1(0));
    CU_ASSERT_EQUAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    float fn = 4;
    in[2] = wt_tensor(WEFT_FLOAT32, &fn, 0, NULL);
    CU_ASSERT_EQUAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_ERR_TYPE);
    wt_free_outputs(out, 1);
    /* absurd segment count: N * F overflows int64 */
    int64_t huge = INT64_MAX / 2 + 1;
    in[2] = wt_tensor(WEFT_INT64, &huge, 0, NULL);
    CU_ASSERT_EQUAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    /* neither num_segments nor init */
    CU_ASSERT_EQUAL(run("SegmentReduce", NULL, 0, in, 2, out), WEFT_ERR_INVALID_MODEL);
    wt_free_outputs(out, 1);
    in[2] = wt_tensor(WEFT_INT64, &n, 0, NULL);

    /* unknown reduction */
    weft_attr avg[] = {wt_attr_string("reduce", "avg")};
    CU_ASSERT_EQUAL(run("SegmentReduce", avg, 1, in, 3, out), WEFT_ERR_INVALID_MODEL);
    wt_free_outputs(out, 1);
    /* scalar src; bool src */
    in[0] = wt_tensor(WEFT_FLOAT32, seg_src, 0, NULL);
    CU_ASSERT_EQUAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    uint8_t b[5] = {1, 0, 1, 1, 0};
    in[0] = wt_tensor(WEFT_BOOL, b, 1, D1(5));
    CU_ASSERT_EQUAL(run("SegmentReduce", NULL, 0, in, 3, out), WEFT_ERR_UNSUPPORTED);
    wt_free_outputs(out, 1);
}

static void test_segment_empty(void)
{
    /* No edges at all: every segment empty, output all 0 with N rows. */
    int64_t n = 3;
    weft_tensor in[] = {wt_tensor(WEFT_FLOAT32, NULL, 2, D2(0, 2)), wt_tensor(WEFT_INT64, NULL, 1, D1(0)),
                        wt_tensor(WEFT_INT64, &n, 0, NULL)};
    weft_attr mean[] = {wt_attr_string("reduce", "mean")};
    weft_tensor out[1];
    CU_ASSERT_EQUAL_FATAL(run("SegmentReduce", mean, 1, in, 3, out), WEFT_OK);
    CU_ASSERT(same_dims(&out[0], 2, D2(3, 2)));
    CU_ASSERT(wt_close_f32(out[0].data, (const float[]){0, 0, 0, 0, 0, 0}, 6, 0, 0));
    wt_free_outputs(out, 1);
    /* N = 0 with no edges: an empty output */
    n = 0;
    CU_ASSERT_EQUAL_FATAL(run("SegmentReduce", mean, 1, in, 3, out), WEFT_OK);
    CU_ASSERT(same_dims(&out[0], 2, D2(0, 2)));
    wt_free_outputs(out, 1);
}

/* --- RowGather ----------------------------------------------------------------------------------- */

static void test_rowgather(void)
{
    int64_t data[] = {0, 1, 10, 11, 20, 21};
    int64_t idx[] = {2, 0, 2, 1};
    weft_tensor in[] = {wt_tensor(WEFT_INT64, data, 2, D2(3, 2)), wt_tensor(WEFT_INT64, idx, 1, D1(4))};
    weft_tensor out[1];
    CU_ASSERT_EQUAL_FATAL(run("RowGather", NULL, 0, in, 2, out), WEFT_OK);
    CU_ASSERT(same_dims(&out[0], 2, D2(4, 2)));
    CU_ASSERT_EQUAL(out[0].dtype, WEFT_INT64);
    const int64_t want[] = {20, 21, 0, 1, 20, 21, 10, 11};
    CU_ASSERT(memcmp(out[0].data, want, sizeof want) == 0);
    wt_free_outputs(out, 1);

    /* bool rows, int32 index, 1-D data */
    uint8_t b[] = {1, 0, 1};
    int32_t i32[] = {1, 1, 0};
    weft_tensor inb[] = {wt_tensor(WEFT_BOOL, b, 1, D1(3)), wt_tensor(WEFT_INT32, i32, 1, D1(3))};
    CU_ASSERT_EQUAL_FATAL(run("RowGather", NULL, 0, inb, 2, out), WEFT_OK);
    CU_ASSERT(same_dims(&out[0], 1, D1(3)));
    const uint8_t wantb[] = {0, 0, 1};
    CU_ASSERT(memcmp(out[0].data, wantb, 3) == 0);
    wt_free_outputs(out, 1);

    /* no edges */
    in[1] = wt_tensor(WEFT_INT64, NULL, 1, D1(0));
    CU_ASSERT_EQUAL_FATAL(run("RowGather", NULL, 0, in, 2, out), WEFT_OK);
    CU_ASSERT(same_dims(&out[0], 2, D2(0, 2)));
    wt_free_outputs(out, 1);

    /* negative and too-large indices are errors (no Gather-style wrap-around) */
    int64_t neg[] = {0, -1}, hi[] = {3, 0};
    in[1] = wt_tensor(WEFT_INT64, neg, 1, D1(2));
    CU_ASSERT_EQUAL(run("RowGather", NULL, 0, in, 2, out), WEFT_ERR_INDEX);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "-1"));
    wt_free_outputs(out, 1);
    in[1] = wt_tensor(WEFT_INT64, hi, 1, D1(2));
    CU_ASSERT_EQUAL(run("RowGather", NULL, 0, in, 2, out), WEFT_ERR_INDEX);
    wt_free_outputs(out, 1);
    /* index rank 2, float index, scalar data */
    in[1] = wt_tensor(WEFT_INT64, idx, 2, D2(2, 2));
    CU_ASSERT_EQUAL(run("RowGather", NULL, 0, in, 2, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    float f[2] = {0, 1};
    in[1] = wt_tensor(WEFT_FLOAT32, f, 1, D1(2));
    CU_ASSERT_EQUAL(run("RowGather", NULL, 0, in, 2, out), WEFT_ERR_TYPE);
    wt_free_outputs(out, 1);
    in[0] = wt_tensor(WEFT_INT64, data, 0, NULL);
    in[1] = wt_tensor(WEFT_INT64, idx, 1, D1(1));
    CU_ASSERT_EQUAL(run("RowGather", NULL, 0, in, 2, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
}

/* --- EdgeSoftmax --------------------------------------------------------------------------------- */

/* softmax(0, 1, 2) = (0.09003057, 0.24472847, 0.66524096) */
#define SM0 0.09003057317038046
#define SM1 0.24472847105479767
#define SM2 0.6652409557748219

static void test_edgesoftmax(void)
{
    /* Edges 0, 1, 3 go to node 0 with scores (1, 2, 0); edge 2 alone to node 1; node 2 has none.
     * Head 1 adds 1000 on node 0's edges: the same softmax, which a non-shifted exp would overflow. */
    float s[] = {1, 1001, 2, 1002, 3, 7, 0, 1000};
    int64_t idx[] = {0, 0, 1, 0}, n = 3;
    weft_tensor in[] = {wt_tensor(WEFT_FLOAT32, s, 2, D2(4, 2)), wt_tensor(WEFT_INT64, idx, 1, D1(4)),
                        wt_tensor(WEFT_INT64, &n, 0, NULL)};
    weft_tensor out[1];
    CU_ASSERT_EQUAL_FATAL(run("EdgeSoftmax", NULL, 0, in, 3, out), WEFT_OK);
    CU_ASSERT(same_dims(&out[0], 2, D2(4, 2)));
    float want[] = {SM1, SM1, SM2, SM2, 1, 1, SM0, SM0};
    CU_ASSERT(wt_close_f32(out[0].data, want, 8, 1e-6, 0));
    wt_free_outputs(out, 1);

    /* 1-D scores, float64, int32 index, num_segments as [1] */
    double sd[] = {1, 2, 3, 0};
    int32_t i32[] = {0, 0, 1, 0};
    weft_tensor ind[] = {wt_tensor(WEFT_FLOAT64, sd, 1, D1(4)), wt_tensor(WEFT_INT32, i32, 1, D1(4)),
                         wt_tensor(WEFT_INT64, &n, 1, D1(1))};
    CU_ASSERT_EQUAL_FATAL(run("EdgeSoftmax", NULL, 0, ind, 3, out), WEFT_OK);
    CU_ASSERT(same_dims(&out[0], 1, D1(4)));
    const double *o = out[0].data;
    CU_ASSERT(fabs(o[0] - SM1) < 1e-15 && fabs(o[1] - SM2) < 1e-15 && o[2] == 1 && fabs(o[3] - SM0) < 1e-15);
    wt_free_outputs(out, 1);

    /* errors: index == N, negative index, length mismatch, integer scores, empty num_segments, rank 3 */
    int64_t hi[] = {0, 3, 1, 0}, neg[] = {0, -2, 1, 0};
    in[1] = wt_tensor(WEFT_INT64, hi, 1, D1(4));
    CU_ASSERT_EQUAL(run("EdgeSoftmax", NULL, 0, in, 3, out), WEFT_ERR_INDEX);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "= 3"));
    wt_free_outputs(out, 1);
    in[1] = wt_tensor(WEFT_INT64, neg, 1, D1(4));
    CU_ASSERT_EQUAL(run("EdgeSoftmax", NULL, 0, in, 3, out), WEFT_ERR_INDEX);
    wt_free_outputs(out, 1);
    in[1] = wt_tensor(WEFT_INT64, idx, 1, D1(3));
    CU_ASSERT_EQUAL(run("EdgeSoftmax", NULL, 0, in, 3, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    in[1] = wt_tensor(WEFT_INT64, idx, 1, D1(4));
    in[2] = wt_tensor(WEFT_INT64, NULL, 1, D1(0));
    CU_ASSERT_EQUAL(run("EdgeSoftmax", NULL, 0, in, 3, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    in[2] = wt_tensor(WEFT_INT64, &n, 0, NULL);
    in[0] = wt_tensor(WEFT_FLOAT32, s, 3, (const int64_t[]){4, 2, 1});
    CU_ASSERT_EQUAL(run("EdgeSoftmax", NULL, 0, in, 3, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    int64_t si[4] = {0};
    in[0] = wt_tensor(WEFT_INT64, si, 1, D1(4));
    CU_ASSERT_EQUAL(run("EdgeSoftmax", NULL, 0, in, 3, out), WEFT_ERR_UNSUPPORTED);
    wt_free_outputs(out, 1);
}

/* --- TimeEncoding -------------------------------------------------------------------------------- */

static void test_timeencoding(void)
{
    /* w = (1, 2, 0), b = (0, pi, 0): t = 0 -> (1, -1, 1); t = 1 -> (cos 1, cos(2 + pi) = -cos 2, 1). */
    float t[] = {0, 1}, w[] = {1, 2, 0}, b[] = {0, 3.14159265358979323846f, 0};
    weft_tensor in[] = {wt_tensor(WEFT_FLOAT32, t, 1, D1(2)), wt_tensor(WEFT_FLOAT32, w, 1, D1(3)),
                        wt_tensor(WEFT_FLOAT32, b, 1, D1(3))};
    weft_tensor out[1];
    CU_ASSERT_EQUAL_FATAL(run("TimeEncoding", NULL, 0, in, 3, out), WEFT_OK);
    CU_ASSERT(same_dims(&out[0], 2, D2(2, 3)));
    float want[] = {1, -1, 1, 0.5403023058681398f, 0.4161468365471424f, 1};
    CU_ASSERT(wt_close_f32(out[0].data, want, 6, 1e-6, 1e-7));
    wt_free_outputs(out, 1);

    /* scalar t -> [D]; [2, 1] t -> [2, 1, D] */
    in[0] = wt_tensor(WEFT_FLOAT32, t + 1, 0, NULL);
    CU_ASSERT_EQUAL_FATAL(run("TimeEncoding", NULL, 0, in, 3, out), WEFT_OK);
    CU_ASSERT(same_dims(&out[0], 1, D1(3)));
    CU_ASSERT(wt_close_f32(out[0].data, want + 3, 3, 1e-6, 1e-7));
    wt_free_outputs(out, 1);
    in[0] = wt_tensor(WEFT_FLOAT32, t, 2, D2(2, 1));
    CU_ASSERT_EQUAL_FATAL(run("TimeEncoding", NULL, 0, in, 3, out), WEFT_OK);
    CU_ASSERT(same_dims(&out[0], 3, ((const int64_t[]){2, 1, 3})));
    wt_free_outputs(out, 1);

    /* float64 */
    double td[] = {1}, wd[] = {2}, bd[] = {0.5};
    weft_tensor ind[] = {wt_tensor(WEFT_FLOAT64, td, 1, D1(1)), wt_tensor(WEFT_FLOAT64, wd, 1, D1(1)),
                         wt_tensor(WEFT_FLOAT64, bd, 1, D1(1))};
    CU_ASSERT_EQUAL_FATAL(run("TimeEncoding", NULL, 0, ind, 3, out), WEFT_OK);
    CU_ASSERT(fabs(((double *)out[0].data)[0] - (-0.8011436155469337)) < 1e-15); /* cos(2.5) */
    wt_free_outputs(out, 1);

    /* errors: w and b lengths differ, w 2-D, dtype mix, integer t */
    in[0] = wt_tensor(WEFT_FLOAT32, t, 1, D1(2));
    in[2] = wt_tensor(WEFT_FLOAT32, b, 1, D1(2));
    CU_ASSERT_EQUAL(run("TimeEncoding", NULL, 0, in, 3, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    in[2] = wt_tensor(WEFT_FLOAT32, b, 1, D1(3));
    in[1] = wt_tensor(WEFT_FLOAT32, w, 2, D2(3, 1));
    CU_ASSERT_EQUAL(run("TimeEncoding", NULL, 0, in, 3, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    in[1] = wt_tensor(WEFT_FLOAT64, wd, 1, D1(1));
    CU_ASSERT_EQUAL(run("TimeEncoding", NULL, 0, in, 3, out), WEFT_ERR_TYPE);
    wt_free_outputs(out, 1);
    int64_t ti[2] = {0, 1};
    in[0] = wt_tensor(WEFT_INT64, ti, 1, D1(2));
    CU_ASSERT_EQUAL(run("TimeEncoding", NULL, 0, in, 3, out), WEFT_ERR_UNSUPPORTED);
    wt_free_outputs(out, 1);
}

/* --- GRUCell ------------------------------------------------------------------------------------- */

static void test_grucell(void)
{
    /* H = I = 1, B = 2. Only the n rows of the weights are 1 and b_hh's n entry is 1, so r = z = 0.5:
     *   row 0 (x = 2, h = 1): n = tanh(2 + 0.5 * (1 + 1)) = tanh(3), h' = 0.5 tanh(3) + 0.5
     *   row 1 (x = 0, h = 0): n = tanh(0 + 0.5 * (0 + 1)) = tanh(0.5), h' = 0.5 tanh(0.5). */
    float x[] = {2, 0}, h[] = {1, 0}, wi[] = {0, 0, 1}, wh[] = {0, 0, 1}, bh[] = {0, 0, 1};
    weft_tensor in[] = {wt_tensor(WEFT_FLOAT32, x, 2, D2(2, 1)),  wt_tensor(WEFT_FLOAT32, h, 2, D2(2, 1)),
                        wt_tensor(WEFT_FLOAT32, wi, 2, D2(3, 1)), wt_tensor(WEFT_FLOAT32, wh, 2, D2(3, 1)),
                        wt_absent(),                               wt_tensor(WEFT_FLOAT32, bh, 1, D1(3))};
    weft_tensor out[1];
    CU_ASSERT_EQUAL_FATAL(run("GRUCell", NULL, 0, in, 6, out), WEFT_OK);
    CU_ASSERT(same_dims(&out[0], 2, D2(2, 1)));
    float want[] = {0.5f * 0.9950547536867305f + 0.5f, 0.5f * 0.46211715726000974f};
    CU_ASSERT(wt_close_f32(out[0].data, want, 2, 1e-6, 0));
    wt_free_outputs(out, 1);

    /* Gate order r, z, n: the first row of w_ih is ln 3, so with x = 1 the reset gate is
     * sigmoid(ln 3) = 0.75 and z stays 0.5. h = 1, no b_hh:
     *   n = tanh(0 + 0.75 * 1) = tanh(0.75), h' = 0.5 tanh(0.75) + 0.5 = 0.81757448
     * (with ONNX's z, r order it would be 0.25 tanh(0.5) + 0.75 = 0.8655). float64. */
    double xd[] = {1}, hd[] = {1}, wid[] = {log(3.0), 0, 0}, whd[] = {0, 0, 1}, bid[] = {0, 0, 0};
    weft_tensor ind[] = {wt_tensor(WEFT_FLOAT64, xd, 2, D2(1, 1)), wt_tensor(WEFT_FLOAT64, hd, 2, D2(1, 1)),
                         wt_tensor(WEFT_FLOAT64, wid, 2, D2(3, 1)), wt_tensor(WEFT_FLOAT64, whd, 2, D2(3, 1)),
                         wt_tensor(WEFT_FLOAT64, bid, 1, D1(3))};
    CU_ASSERT_EQUAL_FATAL(run("GRUCell", NULL, 0, ind, 5, out), WEFT_OK);
    CU_ASSERT(fabs(((double *)out[0].data)[0] - (0.5 * 0.6351489523872873 + 0.5)) < 1e-14);
    wt_free_outputs(out, 1);

    /* errors: w_ih with 2 rows, batch mismatch, bias of wrong length, integer x, dtype mix */
    in[2] = wt_tensor(WEFT_FLOAT32, wi, 2, D2(2, 1));
    CU_ASSERT_EQUAL(run("GRUCell", NULL, 0, in, 6, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    in[2] = wt_tensor(WEFT_FLOAT32, wi, 2, D2(3, 1));
    in[1] = wt_tensor(WEFT_FLOAT32, h, 2, D2(1, 1));
    CU_ASSERT_EQUAL(run("GRUCell", NULL, 0, in, 6, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    in[1] = wt_tensor(WEFT_FLOAT32, h, 2, D2(2, 1));
    in[5] = wt_tensor(WEFT_FLOAT32, bh, 1, D1(2));
    CU_ASSERT_EQUAL(run("GRUCell", NULL, 0, in, 6, out), WEFT_ERR_SHAPE);
    wt_free_outputs(out, 1);
    in[5] = wt_tensor(WEFT_FLOAT64, bid, 1, D1(3));
    CU_ASSERT_EQUAL(run("GRUCell", NULL, 0, in, 6, out), WEFT_ERR_TYPE);
    wt_free_outputs(out, 1);
    int64_t xi[2] = {0};
    in[0] = wt_tensor(WEFT_INT64, xi, 2, D2(2, 1));
    CU_ASSERT_EQUAL(run("GRUCell", NULL, 0, in, 6, out), WEFT_ERR_UNSUPPORTED);
    wt_free_outputs(out, 1);
}

/* --- symbolic inference -------------------------------------------------------------------------- */

static int32_t next_sym(void *u) { return (*(int32_t *)u)++; }

/* Symbols 0..9 are the test's own; fresh ones start at 100. */
enum { S_E = 0, S_N = 1, S_B = 2 };
static weft_dim sym(int32_t s) { weft_dim d = {0, s}; return d; }

static weft_status infer(const char *op, const weft_attr *at, int n_at, int n_in, const weft_dtype *dt, const weft_shape *sh,
                         const void *const *data, weft_dtype *out_dt, weft_shape *out_sh)
{
    const weft_op_def *def = weft_op_find(W, op, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(def);
    weft_node_info info = {op, op, W, 1, n_at, at};
    int32_t next = 100;
    memset(out_sh, 0, sizeof *out_sh);
    *out_dt = WEFT_UNDEFINED;
    weft_infer_ctx c = {&info, n_in, dt, sh, data, 1, out_dt, out_sh, next_sym, &next};
    return def->infer(&c);
}

static void test_symbolic(void)
{
    weft_dtype odt;
    weft_shape osh;
    /* SegmentReduce: src [E, 3], index [E], num_segments not a constant -> [fresh, 3]. */
    weft_dtype dt[4] = {WEFT_FLOAT32, WEFT_INT64, WEFT_INT64, WEFT_FLOAT32};
    weft_shape sh[4] = {{2, {sym(S_E), {3, -1}}}, {1, {sym(S_E)}}, {0, {{0}}}, {2, {sym(S_N), {3, -1}}}};
    const void *data[4] = {NULL, NULL, NULL, NULL};
    CU_ASSERT_EQUAL_FATAL(infer("SegmentReduce", NULL, 0, 3, dt, sh, data, &odt, &osh), WEFT_OK);
    CU_ASSERT(odt == WEFT_FLOAT32 && osh.rank == 2);
    CU_ASSERT(osh.d[0].sym >= 100 && weft_dim_known(osh.d[1]) && osh.d[1].v == 3);
    /* ... a constant num_segments gives the number */
    int64_t seven = 7;
    data[2] = &seven;
    CU_ASSERT_EQUAL_FATAL(infer("SegmentReduce", NULL, 0, 3, dt, sh, data, &odt, &osh), WEFT_OK);
    CU_ASSERT(weft_dim_known(osh.d[0]) && osh.d[0].v == 7);
    /* ... init gives init's shape, symbol kept */
    dt[2] = WEFT_UNDEFINED;
    CU_ASSERT_EQUAL_FATAL(infer("SegmentReduce", NULL, 0, 4, dt, sh, data, &odt, &osh), WEFT_OK);
    CU_ASSERT(osh.rank == 2 && osh.d[0].sym == S_N && osh.d[1].v == 3);
    dt[2] = WEFT_INT64;
    /* ... src of unknown rank -> unknown rank */
    sh[0].rank = -1;
    CU_ASSERT_EQUAL_FATAL(infer("SegmentReduce", NULL, 0, 3, dt, sh, data, &odt, &osh), WEFT_OK);
    CU_ASSERT(osh.rank == -1 && odt == WEFT_FLOAT32);
    sh[0].rank = 2;
    /* ... num_segments of symbolic length [k] is accepted (checked at run time), [2] is not */
    sh[2].rank = 1;
    sh[2].d[0] = sym(5);
    data[2] = NULL;
    CU_ASSERT_EQUAL(infer("SegmentReduce", NULL, 0, 3, dt, sh, data, &odt, &osh), WEFT_OK);
    sh[2].d[0] = weft_dim_num(2);
    CU_ASSERT_EQUAL(infer("SegmentReduce", NULL, 0, 3, dt, sh, data, &odt, &osh), WEFT_ERR_SHAPE);
    sh[2].rank = 0;
    /* ... known but different row counts */
    sh[0].d[0] = weft_dim_num(5);
    sh[1].d[0] = weft_dim_num(4);
    CU_ASSERT_EQUAL(infer("SegmentReduce", NULL, 0, 3, dt, sh, data, &odt, &osh), WEFT_ERR_SHAPE);

    /* RowGather: data [N, 4], index [E] -> [E, 4] */
    weft_shape rg[2] = {{2, {sym(S_N), {4, -1}}}, {1, {sym(S_E)}}};
    CU_ASSERT_EQUAL_FATAL(infer("RowGather", NULL, 0, 2, dt, rg, data, &odt, &osh), WEFT_OK);
    CU_ASSERT(osh.rank == 2 && osh.d[0].sym == S_E && osh.d[1].v == 4 && odt == WEFT_FLOAT32);

    /* EdgeSoftmax: scores [E, 2] -> [E, 2] */
    weft_shape es[3] = {{2, {sym(S_E), {2, -1}}}, {1, {sym(S_E)}}, {0, {{0}}}};
    CU_ASSERT_EQUAL_FATAL(infer("EdgeSoftmax", NULL, 0, 3, dt, es, data, &odt, &osh), WEFT_OK);
    CU_ASSERT(osh.rank == 2 && osh.d[0].sym == S_E && osh.d[1].v == 2);

    /* TimeEncoding: t [E] (or unknown rank), w [16] -> [E, 16] (or unknown rank) */
    weft_dtype tdt[3] = {WEFT_FLOAT32, WEFT_FLOAT32, WEFT_FLOAT32};
    weft_shape te[3] = {{1, {sym(S_E)}}, {1, {{16, -1}}}, {1, {{16, -1}}}};
    CU_ASSERT_EQUAL_FATAL(infer("TimeEncoding", NULL, 0, 3, tdt, te, data, &odt, &osh), WEFT_OK);
    CU_ASSERT(osh.rank == 2 && osh.d[0].sym == S_E && osh.d[1].v == 16);
    te[0].rank = -1;
    CU_ASSERT_EQUAL_FATAL(infer("TimeEncoding", NULL, 0, 3, tdt, te, data, &odt, &osh), WEFT_OK);
    CU_ASSERT(osh.rank == -1);

    /* GRUCell: x [B, 5], h [B, 8], w_ih [24, 5], w_hh [24, 8] -> [B, 8]; w_ih [23, 5] is refused */
    weft_dtype gdt[4] = {WEFT_FLOAT32, WEFT_FLOAT32, WEFT_FLOAT32, WEFT_FLOAT32};
    weft_shape gs[4] = {{2, {sym(S_B), {5, -1}}}, {2, {sym(S_B), {8, -1}}}, {2, {{24, -1}, {5, -1}}}, {2, {{24, -1}, {8, -1}}}};
    CU_ASSERT_EQUAL_FATAL(infer("GRUCell", NULL, 0, 4, gdt, gs, data, &odt, &osh), WEFT_OK);
    CU_ASSERT(osh.rank == 2 && osh.d[0].sym == S_B && osh.d[1].v == 8);
    gs[2].d[0].v = 23;
    CU_ASSERT_EQUAL(infer("GRUCell", NULL, 0, 4, gdt, gs, data, &odt, &osh), WEFT_ERR_SHAPE);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("ops_weft", NULL, NULL);
    CU_add_test(s, "segment reductions", test_segment_reductions);
    CU_add_test(s, "segment max of negatives", test_segment_max_negative);
    CU_add_test(s, "segment with init", test_segment_init);
    CU_add_test(s, "segment E >> N", test_segment_many_edges);
    CU_add_test(s, "segment int wrap-around", test_segment_int_wraps);
    CU_add_test(s, "segment float16", test_segment_float16);
    CU_add_test(s, "segment errors", test_segment_errors);
    CU_add_test(s, "segment empty", test_segment_empty);
    CU_add_test(s, "row gather", test_rowgather);
    CU_add_test(s, "edge softmax", test_edgesoftmax);
    CU_add_test(s, "time encoding", test_timeencoding);
    CU_add_test(s, "gru cell", test_grucell);
    CU_add_test(s, "symbolic inference", test_symbolic);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int fails = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
