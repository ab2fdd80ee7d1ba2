/*
 * ops/cpu/vmath.h — exp, expm1, tanh and sigmoid in double, written without branches or calls so that
 * a loop over an array of them vectorises (libm's functions do not: each element would be a call).
 *
 * The reference kernels evaluate these functions in double with libm and round once to the tensor's
 * type; these agree with libm within a few units in the last place of a double (exp: about 1 ulp,
 * expm1 / tanh: at most about 4), so a float32 result nearly always has the reference's bits and a
 * float64 result is within 1e-15 relative.
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

#endif
