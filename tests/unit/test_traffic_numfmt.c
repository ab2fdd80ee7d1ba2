/* tests/unit/test_traffic_numfmt.c — weft's number formatting writes exactly printf's "%.17g" and "%llu"
 * digits: on edge values and on a million seeded random ones of every magnitude. */
#include <CUnit/Basic.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "traffic/numfmt.h"

static size_t mismatches;

static void check_g(double v)
{
    char a[64], b[64];
    size_t n = weft_fmt_g17(a, v);
    a[n] = 0;
    snprintf(b, sizeof b, "%.17g", v);
    if (strcmp(a, b)) {
        if (mismatches < 5) fprintf(stderr, "\n  %s written for %s", a, b);
        mismatches++;
    }
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static void test_g17(void)
{
    mismatches = 0;
    const double edge[] = {0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1e-4, 9.9999999999999995e-05, 1e-5, 1e16, 1e17,
                           9.999999999999999e16, 123456789012345678.0, 1e22, 1e23, 5e-324, DBL_MIN, DBL_MAX,
                           -DBL_MAX, 1e-290, 1e290, 1e300, 1.7e9, 1438853615.3058741, 0.052582979202270508,
                           INFINITY, -INFINITY, NAN, 2.0 / 3.0, 100.0, 4096.0, 1e15 + 0.5};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) check_g(edge[i]);
    for (int i = 0; i < 1000000; i++) {
        uint64_t r = next();
        double v;
        switch (i % 5) {
        case 0: memcpy(&v, &r, sizeof v); break;                                     /* any bit pattern */
        case 1: v = 1.7e9 + (double)(r % 1000000000u) * 1e-9; break;                 /* capture times */
        case 2: v = (double)(r % 1000000) / (double)(1 + r % 997); break;            /* means */
        case 3: v = ldexp((double)(r >> 11), (int)(r % 400) - 250); break;           /* every exponent */
        default: v = (double)(r % 100000000u) * 1e-6 * ((r >> 63) ? -1 : 1); break; /* durations */
        }
        check_g(v);
    }
    CU_ASSERT_EQUAL(mismatches, 0);
}

static void test_u64(void)
{
    const uint64_t v[] = {0, 1, 9, 10, 99, 100, 65535, 4294967295u, 18446744073709551615ULL};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char a[32], b[32];
        size_t n = weft_fmt_u64(a, v[i]);
        a[n] = 0;
        snprintf(b, sizeof b, "%llu", (unsigned long long)v[i]);
        CU_ASSERT_STRING_EQUAL(a, b);
    }
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("traffic_numfmt", NULL, NULL);
    CU_add_test(s, "%.17g digits, edge and random values", test_g17);
    CU_add_test(s, "unsigned integers", test_u64);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned f = CU_get_number_of_failures();
    CU_cleanup_registry();
    return f ? 1 : 0;
}
