/*
 * base/dtype.h — element types: predicates, half-precision conversions, element access through double / int64, and
 * the dispatch macros that instantiate a generic kernel body once per type.
 */
#ifndef WEFT_BASE_DTYPE_H
#define WEFT_BASE_DTYPE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft.h"

/* --- dtypes (base/dtype.c) ------------------------------------------------------------------------ */

bool weft_dtype_is_float(weft_dtype t);   /* float16, bfloat16, float32, float64 */
bool weft_dtype_is_integer(weft_dtype t); /* signed and unsigned integers (not bool) */
bool weft_dtype_is_signed(weft_dtype t);
float weft_f16_to_f32(uint16_t h);
uint16_t weft_f32_to_f16(float f);
float weft_bf16_to_f32(uint16_t h);
uint16_t weft_f32_to_bf16(float f);
/* Element i of a buffer of type t, converted to double / int64 (bool -> 0/1, floats truncated). */
double weft_load_f64(weft_dtype t, const void *data, int64_t i);
int64_t weft_load_i64(weft_dtype t, const void *data, int64_t i);
/* Stores v (converted with C semantics; float16 rounded to nearest even) at element i. */
void weft_store_f64(weft_dtype t, void *data, int64_t i, double v);
void weft_store_i64(weft_dtype t, void *data, int64_t i, int64_t v);

/*
 * Generic kernels: write the loop once with a type parameter and let a dispatch macro instantiate it.
 *
 *   #define WEFT_BODY(T) { const T *x = in->data; T *y = out->data; for (...) y[i] = x[i] + 1; }
 *   WEFT_DISPATCH(in->dtype, WEFT_TYPES_NUMERIC, return weft_op_unsupported_dtype(k, 0));
 *   #undef WEFT_BODY
 *
 * TYPES is one of the lists below: each entry X(enum, ctype). WEFT_TYPES_BITS is for data movement only
 * (float16 / bfloat16 appear as their uint16_t bit patterns, bool as uint8_t); ops that only move data
 * should prefer memcpy by weft_dtype_size().
 */
#define WEFT_TYPES_FLOAT(X) X(WEFT_FLOAT32, float) X(WEFT_FLOAT64, double)
#define WEFT_TYPES_SINT(X) X(WEFT_INT64, int64_t) X(WEFT_INT32, int32_t) X(WEFT_INT16, int16_t) X(WEFT_INT8, int8_t)
#define WEFT_TYPES_UINT(X) X(WEFT_UINT64, uint64_t) X(WEFT_UINT32, uint32_t) X(WEFT_UINT16, uint16_t) X(WEFT_UINT8, uint8_t)
#define WEFT_TYPES_INT(X) WEFT_TYPES_SINT(X) WEFT_TYPES_UINT(X)
#define WEFT_TYPES_NUMERIC(X) WEFT_TYPES_FLOAT(X) WEFT_TYPES_INT(X)
#define WEFT_TYPES_BITS(X) WEFT_TYPES_NUMERIC(X) X(WEFT_BOOL, uint8_t) X(WEFT_FLOAT16, uint16_t) X(WEFT_BFLOAT16, uint16_t)

#define WEFT__CASE(E, T)                                                                           \
    case E: {                                                                                      \
        WEFT_BODY(T)                                                                               \
    } break;
/* Expands WEFT_BODY(T) (defined by the caller) for the dtype `dt` among TYPES; else `otherwise`. */
#define WEFT_DISPATCH(dt, TYPES, otherwise)                                                        \
    do {                                                                                           \
        switch (dt) {                                                                              \
            TYPES(WEFT__CASE)                                                                      \
        default: otherwise;                                                                        \
        }                                                                                          \
    } while (0)

#endif
