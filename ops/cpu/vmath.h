/*
 * ops/cpu/vmath.h — exp, expm1, tanh, sigmoid and erf in double, written without branches or calls so
 * that a loop over an array of them vectorises (libm's functions do not: each element would be a call).
 *
 * The reference kernels evaluate these functions in double with libm and round once to the tensor's
 * type; these agree with libm within a few units in the last place of a double (exp: about 1 ulp,
 * expm1 / tanh: at most about 4, erf: about 3), so a float32 result nearly always has the reference's
 * bits and a float64 result is within 1e-15 relative.
 *
 * exp: x = k ln2 + r with |r| <= ln2 / 2 (Cody & Waite's two-part ln2, k found by the round-to-nearest
 * shift), e^r by its Taylor series to degree 13 (truncation below 5e-18 on that interval), and 2^k
 * applied as two powers of two built in the exponent bits, so that results near overflow and in the
 * subnormal range need no special case. Every integer step is a 64-bit add or shift, which SSE2 and
 * AVX2 have.
 */
#ifndef WEFT_OPS_CPU_VMATH_H
#define WEFT_OPS_CPU_VMATH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kern.h"

WEFT_CPU_INLINE double weft_v_bits_to_f64(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

WEFT_CPU_INLINE uint64_t weft_v_f64_to_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* e^r for |r| <= ln2 / 2 (Horner, 1/n! coefficients). */
WEFT_CPU_INLINE double weft_v_exp_poly(double r)
{
    double p = 1.0 / 6227020800.0;        /* 1/13! */
    p = p * r + 1.0 / 479001600.0;        /* 1/12! */
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    return p * r + 1.0;
}

WEFT_CPU_INLINE double weft_vexp(double x)
{
    /* Beyond +-750 the result is 0 or infinite anyway; NaN passes both tests unchanged. */
    x = x < -750.0 ? -750.0 : x;
    x = x > 750.0 ? 750.0 : x;
    const double shift = 0x1.8p52; /* adding it rounds to an integer kept in the low mantissa bits */
    double kd = x * 0x1.71547652b82fep0 + shift;
    double k = kd - shift;
    /* ln2 in two parts: the high part has 32 significant bits, so k * ln2hi is exact for |k| < 2^21 */
    double r = x - k * 0x1.62e42fee00000p-1;
    r = r - k * 0x1.a39ef35793c76p-33;
    /* k in [-1082, 1082] as a two's-complement uint64 (unsigned: a NaN's garbage cannot overflow) */
    uint64_t k0 = weft_v_f64_to_bits(kd) - weft_v_f64_to_bits(shift);
    /* 2^k = 2^k1 * 2^k2, k1 = floor(k / 2) found with a logical shift of a non-negative number */
    uint64_t k1 = ((k0 + 2048) >> 1) - 1024, k2 = k0 - k1;
    double s1 = weft_v_bits_to_f64((k1 + 1023) << 52), s2 = weft_v_bits_to_f64((k2 + 1023) << 52);
    return weft_v_exp_poly(r) * s1 * s2;
}

/* e^x - 1: its Taylor series near 0 (where e^x - 1 would cancel), e^x - 1 elsewhere. */
WEFT_CPU_INLINE double weft_vexpm1(double x)
{
    double p = 1.0 / 87178291200.0;       /* 1/14! */
    p = p * x + 1.0 / 6227020800.0;
    p = p * x + 1.0 / 479001600.0;
    p = p * x + 1.0 / 39916800.0;
    p = p * x + 1.0 / 3628800.0;
    p = p * x + 1.0 / 362880.0;
    p = p * x + 1.0 / 40320.0;
    p = p * x + 1.0 / 5040.0;
    p = p * x + 1.0 / 720.0;
    p = p * x + 1.0 / 120.0;
    p = p * x + 1.0 / 24.0;
    p = p * x + 1.0 / 6.0;
    p = p * x + 0.5;
    double near = (p * x) * x + x;
    double far = weft_vexp(x) - 1.0;
    return fabs(x) < 0.34657359027997264 ? near : far;
}

/* tanh(x) = -t / (t + 2) with t = e^(-2|x|) - 1, signed like x (tanh(-0) = -0). */
WEFT_CPU_INLINE double weft_vtanh(double x)
{
    double t = weft_vexpm1(-2.0 * fabs(x));
    return copysign(-t / (t + 2.0), x);
}

/* The reference's two-branch form: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) otherwise. */
WEFT_CPU_INLINE double weft_vsigmoid(double x)
{
    double e = weft_vexp(-fabs(x));
    return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/*
 * erf(x), odd, from a = |x| (coefficients: ops/cpu/tools/fit_erf.py, which fits and checks them):
 *   a < 1.5   erf(a) = a * P(a^2), P of degree 13 with P(0) = 2 / sqrt(pi) exactly;
 *   a >= 1.5  erf(a) = 1 - e^(-a^2) * Q(a - 3.75), Q of degree 15 fitted to erfcx(a) = e^(a^2) erfc(a)
 *             weighted by the error that reaches erf; a is clamped to 6 first, where e^-36 Q(6) is
 *             below 2^-54, so the result is exactly 1 from there on (erf(a) rounds to 1 in double
 *             from a ~ 5.92; erfc itself would underflow only near a = 27, but erf never sees it).
 * One Horner pass serves both pieces (the coefficients and the variable selected per element) and
 * e^(-a^2) is computed for every element: no branches. The fit alone is within 4.6e-16 relative of
 * mpmath's erf; measured against libm's erf (tests/unit/test_cpu_kernels.c: a dense grid over [-8, 8],
 * a geometric sweep from 1e-300, the neighbourhoods of 1.5 and 5.92, special values) at most 5.8e-16
 * relative, under 3 units of 2^-52. NaN gives NaN, +-inf +-1, +-0 +-0 (sign kept); subnormal x gives
 * x 2/sqrt(pi) rounded once (within one unit of libm's, which rounds twice there).
 */
WEFT_CPU_INLINE double weft_verf(double x)
{
    double a = fabs(x);
    a = a > 6.0 ? 6.0 : a; /* NaN passes unchanged */
    const double t = a * a;
    const bool small = a < 1.5;
    /* one Horner pass of degree 15 for both pieces: P's coefficients (its two highest 0, which leaves
     * every rounding of P's own degree-13 evaluation unchanged) or Q's, in P's variable or Q's */
    const double w = small ? t : a - 3.75;
    double p = small ? 0.0 : -0x1.d87fc2889e366p-31;
    p = p * w + (small ? 0.0 : -0x1.77c45c8d8d65bp-27);
    p = p * w + (small ? -0x1.504cd53a0fbafp-39 : -0x1.206a5f32b0437p-24);
    p = p * w + (small ? 0x1.2f78ea015102fp-34 : -0x1.fc0083fdb57dbp-23);
    p = p * w + (small ? -0x1.37a71b935da09p-30 : -0x1.25bafc41d5a17p-21);
    p = p * w + (small ? 0x1.f45af50cd45b1p-27 : -0x1.76dc322d38078p-21);
    p = p * w + (small ? -0x1.5e81874e256e2p-23 : -0x1.95c27f35b5479p-21);
    p = p * w + (small ? 0x1.b9bffce66dc1dp-20 : 0x1.55b8c2cbfb284p-20);
    p = p * w + (small ? -0x1.f4cdf5a83e4b6p-17 : -0x1.39494c9cf0e6fp-18);
    p = p * w + (small ? 0x1.f9a2cd95d6d83p-14 : 0x1.a565f1762dd2ep-16);
    p = p * w + (small ? -0x1.c02daf2e362e2p-11 : -0x1.ceeb24f757278p-14);
    p = p * w + (small ? 0x1.565bcce364ef1p-8 : 0x1.ffe6650a9cecbp-12);
    p = p * w + (small ? -0x1.b82ce310c0bbep-6 : -0x1.14368ed00aac3p-9);
    p = p * w + (small ? 0x1.ce2f21a039279p-4 : 0x1.22f043cf0c406p-7);
    p = p * w + (small ? -0x1.812746b0378c2p-2 : -0x1.2aa650c021ff4p-5);
    p = p * w + (small ? 0x1.20dd750429b6dp+0 : 0x1.2a2af1a0aad67p-3);
    return copysign(small ? a * p : 1.0 - weft_vexp(-t) * p, x);
}

#endif
