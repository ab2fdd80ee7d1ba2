/*
 * tests/unit/test_cpu_movement.c — weft's CPU data-movement kernels (ops/cpu/transpose.c) against the
 * reference kernels, bit for bit: Transpose on random shapes (ranks 1 to 6, axes of size 1 that the
 * kernel drops, empty tensors, every permutation of rank 4 and random ones above, the head split /
 * merge and NCHW <-> NHWC forms, planes smaller and larger than a tile), elements of 1, 2, 4 and 8
 * bytes, through each CPU backend of the build as the runtime drives it, on 1, 2 and 3 threads.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/backend.h"
#include "ops/cpu/kern.h"
#include "tests/unit/op_harness.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static int rnd(int lo, int hi) { return lo + (int)(next_u32() % (uint32_t)(hi - lo + 1)); }

static int n_runs;

static void transpose_case(weft_dtype dt, int rank, const int64_t *dims, const int64_t *perm)
{
    weft_tensor x = wt_alloc(dt, rank, dims);
    size_t bytes = (size_t)wt_numel(&x) * weft_dtype_size(dt);
    for (size_t i = 0; i < bytes; i++) ((unsigned char *)x.data)[i] = (unsigned char)next_u32();
    weft_attr at[1] = {wt_attr_ints("perm", rank, perm)};
    weft_tensor ref;
    memset(&ref, 0, sizeof ref);
    weft_status st = wt_run_op("Transpose", 13, at, 1, &x, 1, &ref, 1);
    CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
    char label[160];
    int len = snprintf(label, sizeof label, "Transpose %s [", weft_dtype_name(dt));
    for (int i = 0; i < rank; i++) len += snprintf(label + len, sizeof label - (size_t)len, "%s%lld", i ? "," : "", (long long)dims[i]);
    len += snprintf(label + len, sizeof label - (size_t)len, "] perm (");
    for (int i = 0; i < rank; i++) len += snprintf(label + len, sizeof label - (size_t)len, "%s%lld", i ? "," : "", (long long)perm[i]);
    snprintf(label + len, sizeof label - (size_t)len, ")");
    static const char *const backends[] = {"onednn", "openblas"};
    void *got = malloc(bytes + 1);
    for (int b = 0; b < 2; b++) {
        const weft_backend *be = weft_backend_find(backends[b]);
        if (!be) continue;
        weft_node_info node = {"t", "Transpose", "", 13, 1, at};
        for (int threads = 1; threads <= 3; threads++) {
            void *outs[1] = {got};
            st = wt_drive_backend(be, &node, &x, NULL, 1, &ref, 1, threads, 1, outs);
            if (st) fprintf(stderr, "  %s %s: %s\n", be->name, label, weft_last_error());
            CU_ASSERT_EQUAL(st, WEFT_OK);
            if (!st && memcmp(got, ref.data, bytes) != 0) {
                fprintf(stderr, "  %s %s (%d threads): differs from the reference\n", be->name, label, threads);
                CU_FAIL("transpose differs");
            }
            n_runs++;
        }
    }
    free(got);
    wt_free_outputs(&ref, 1);
    free(x.data);
}

static void random_perm(int rank, int64_t *perm)
{
    for (int i = 0; i < rank; i++) perm[i] = i;
    for (int i = rank - 1; i > 0; i--) {
        int k = rnd(0, i);
        int64_t t = perm[i];
        perm[i] = perm[k];
        perm[k] = t;
    }
}

static void test_transpose(void)
{
    weft_cpu_set_grain(1);
    static const weft_dtype dts[] = {WEFT_FLOAT32, WEFT_UINT8, WEFT_FLOAT16, WEFT_INT64};
    /* the forms the passes leave: heads split and merged, channels first <-> last, a matrix */
    transpose_case(WEFT_FLOAT32, 4, (const int64_t[]){2, 9, 3, 16}, (const int64_t[]){0, 2, 1, 3});
    transpose_case(WEFT_FLOAT32, 4, (const int64_t[]){2, 9, 3, 16}, (const int64_t[]){0, 2, 3, 1});
    transpose_case(WEFT_FLOAT32, 4, (const int64_t[]){3, 5, 33, 17}, (const int64_t[]){0, 2, 3, 1});
    transpose_case(WEFT_FLOAT32, 4, (const int64_t[]){3, 33, 17, 5}, (const int64_t[]){0, 3, 1, 2});
    transpose_case(WEFT_FLOAT32, 2, (const int64_t[]){40, 70}, (const int64_t[]){1, 0});
    transpose_case(WEFT_FLOAT32, 3, (const int64_t[]){1, 1, 1}, (const int64_t[]){2, 0, 1});
    transpose_case(WEFT_FLOAT32, 3, (const int64_t[]){4, 0, 3}, (const int64_t[]){2, 0, 1}); /* empty */
    transpose_case(WEFT_FLOAT32, 1, (const int64_t[]){7}, (const int64_t[]){0});
    /* every permutation of a rank-4 shape with a size-1 axis, each element size */
    int64_t perm[6];
    for (int p = 0; p < 24; p++) {
        int rest[4] = {0, 1, 2, 3}, q = p;
        for (int i = 0; i < 4; i++) {
            int n = 4 - i, k = q % n;
            q /= n;
            perm[i] = rest[k];
            for (int m = k; m < n - 1; m++) rest[m] = rest[m + 1];
        }
        transpose_case(dts[p % 4], 4, (const int64_t[]){3, 1, 20, 7}, perm);
    }
    for (int r = 0; r < 40; r++) {
        int rank = rnd(1, 6);
        int64_t dims[6];
        for (int i = 0; i < rank; i++) dims[i] = rnd(0, 6) == 0 ? 1 : rnd(1, rank > 4 ? 5 : 19);
        random_perm(rank, perm);
        transpose_case(dts[r % 4], rank, dims, perm);
    }
    weft_cpu_set_grain(0);
    printf("(%d backend runs) ", n_runs);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("cpu_movement", NULL, NULL);
    CU_add_test(s, "transpose", test_transpose);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
