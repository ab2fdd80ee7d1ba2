/* base/dtype.c — element types: names, sizes, and conversions through double / int64. */
#include <math.h>
#include <string.h>

#include "dtype.h"

const char *weft_dtype_name(weft_dtype t)
{
    switch (t) {
    case WEFT_FLOAT32: return "float";
    case WEFT_UINT8: return "uint8";
    case WEFT_INT8: return "int8";
    case WEFT_UINT16: return "uint16";
    case WEFT_INT16: return "int16";
    case WEFT_INT32: return "int32";
    case WEFT_INT64: return "int64";
    case WEFT_STRING: return "string";
    case WEFT_BOOL: return "bool";
    case WEFT_FLOAT16: return "float16";
    case WEFT_FLOAT64: return "double";
    case WEFT_UINT32: return "uint32";
    case WEFT_UINT64: return "uint64";
    case WEFT_BFLOAT16: return "bfloat16";
    default: return "undefined";
    }
}

size_t weft_dtype_size(weft_dtype t)
{
    switch (t) {
    case WEFT_FLOAT32: case WEFT_INT32: case WEFT_UINT32: return 4;
    case WEFT_UINT8: case WEFT_INT8: case WEFT_BOOL: return 1;
    case WEFT_UINT16: case WEFT_INT16: case WEFT_FLOAT16: case WEFT_BFLOAT16: return 2;
    case WEFT_INT64: case WEFT_FLOAT64: case WEFT_UINT64: return 8;
    default: return 0;
    }
}

bool weft_dtype_is_float(weft_dtype t)
{
    return t == WEFT_FLOAT32 || t == WEFT_FLOAT64 || t == WEFT_FLOAT16 || t == WEFT_BFLOAT16;
}

bool weft_dtype_is_integer(weft_dtype t)
{
    switch (t) {
    case WEFT_UINT8: case WEFT_INT8: case WEFT_UINT16: case WEFT_INT16: case WEFT_INT32:
    case WEFT_INT64: case WEFT_UINT32: case WEFT_UINT64: return true;
    default: return false;
    }
}

bool weft_dtype_is_signed(weft_dtype t)
{
    return t == WEFT_INT8 || t == WEFT_INT16 || t == WEFT_INT32 || t == WEFT_INT64 || weft_dtype_is_float(t);
}

float weft_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            man &= 0x3ff;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t weft_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff);
    uint32_t man = x & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    int32_t e = exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) { /* subnormal or zero, round to nearest even */
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = 1u << (shift - 1), rem = man & ((1u << shift) - 1), q = man >> shift;
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t q = man >> 13, rem = man & 0x1fff;
    uint32_t out = sign | ((uint32_t)e << 10) | q;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1))) out++; /* may carry into the exponent: correct */
    return (uint16_t)out;
}

float weft_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t weft_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    uint32_t lsb = (x >> 16) & 1;
    x += 0x7fff + lsb;
    return (uint16_t)(x >> 16);
}

double weft_load_f64(weft_dtype t, const void *p, int64_t i)
{
    switch (t) {
    case WEFT_FLOAT32: return ((const float *)p)[i];
    case WEFT_FLOAT64: return ((const double *)p)[i];
    case WEFT_FLOAT16: return weft_f16_to_f32(((const uint16_t *)p)[i]);
    case WEFT_BFLOAT16: return weft_bf16_to_f32(((const uint16_t *)p)[i]);
    case WEFT_INT8: return ((const int8_t *)p)[i];
    case WEFT_UINT8: return ((const uint8_t *)p)[i];
    case WEFT_BOOL: return ((const uint8_t *)p)[i] != 0;
    case WEFT_INT16: return ((const int16_t *)p)[i];
    case WEFT_UINT16: return ((const uint16_t *)p)[i];
    case WEFT_INT32: return ((const int32_t *)p)[i];
    case WEFT_UINT32: return ((const uint32_t *)p)[i];
    case WEFT_INT64: return (double)((const int64_t *)p)[i];
    case WEFT_UINT64: return (double)((const uint64_t *)p)[i];
    default: return 0;
    }
}

int64_t weft_load_i64(weft_dtype t, const void *p, int64_t i)
{
    switch (t) {
    case WEFT_INT64: return ((const int64_t *)p)[i];
    case WEFT_UINT64: return (int64_t)((const uint64_t *)p)[i];
    case WEFT_INT32: return ((const int32_t *)p)[i];
    case WEFT_UINT32: return ((const uint32_t *)p)[i];
    case WEFT_INT16: return ((const int16_t *)p)[i];
    case WEFT_UINT16: return ((const uint16_t *)p)[i];
    case WEFT_INT8: return ((const int8_t *)p)[i];
    case WEFT_UINT8: return ((const uint8_t *)p)[i];
    case WEFT_BOOL: return ((const uint8_t *)p)[i] != 0;
    default: {
        double d = weft_load_f64(t, p, i);
        if (d != d) return 0;
        if (d >= 9.2233720368547758e18) return INT64_MAX;
        if (d <= -9.2233720368547758e18) return INT64_MIN;
        return (int64_t)d;
    }
    }
}

/* Float -> integer conversion outside the target's range is undefined in C; saturate instead. */
#define SAT(T, lo, hi) (v != v ? (T)0 : v <= (double)(lo) ? (T)(lo) : v >= (double)(hi) ? (T)(hi) : (T)v)

void weft_store_f64(weft_dtype t, void *p, int64_t i, double v)
{
    switch (t) {
    case WEFT_FLOAT32: ((float *)p)[i] = (float)v; break;
    case WEFT_FLOAT64: ((double *)p)[i] = v; break;
    case WEFT_FLOAT16: ((uint16_t *)p)[i] = weft_f32_to_f16((float)v); break;
    case WEFT_BFLOAT16: ((uint16_t *)p)[i] = weft_f32_to_bf16((float)v); break;
    case WEFT_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case WEFT_INT8: ((int8_t *)p)[i] = SAT(int8_t, INT8_MIN, INT8_MAX); break;
    case WEFT_UINT8: ((uint8_t *)p)[i] = SAT(uint8_t, 0, UINT8_MAX); break;
    case WEFT_INT16: ((int16_t *)p)[i] = SAT(int16_t, INT16_MIN, INT16_MAX); break;
    case WEFT_UINT16: ((uint16_t *)p)[i] = SAT(uint16_t, 0, UINT16_MAX); break;
    case WEFT_INT32: ((int32_t *)p)[i] = SAT(int32_t, INT32_MIN, INT32_MAX); break;
    case WEFT_UINT32: ((uint32_t *)p)[i] = SAT(uint32_t, 0, UINT32_MAX); break;
    case WEFT_INT64: ((int64_t *)p)[i] = SAT(int64_t, INT64_MIN, 9.2233720368547748e18); break;
    case WEFT_UINT64: ((uint64_t *)p)[i] = SAT(uint64_t, 0, 1.8446744073709550e19); break;
    default: break;
    }
}

void weft_store_i64(weft_dtype t, void *p, int64_t i, int64_t v)
{
    switch (t) {
    case WEFT_INT64: ((int64_t *)p)[i] = v; break;
    case WEFT_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    case WEFT_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    case WEFT_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case WEFT_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
    case WEFT_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case WEFT_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case WEFT_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case WEFT_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    default: weft_store_f64(t, p, i, (double)v); break;
    }
}
