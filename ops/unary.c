/*
 * ops/unary.c — elementwise operators of one input: math functions, activations, rounding, predicates,
 * Clip, Cast and CastLike.
 *
 * One infer and one kernel serve every op of the family. The op list (UNARY_OPS, at the end) gives each
 * op its kind and the dtypes it takes, and generates for each a pair of one-line wrappers that hand
 * those to the generic infer and kernel: a step knows its op without looking up its type name.
 *
 * Float math is evaluated in double and rounded once to the output type (float16 / bfloat16 go through
 * weft_load_f64 / weft_store_f64), so float32 results are at least as accurate as a float32
 * implementation. Integer variants (Neg, Abs, Sign, Relu, Clip, BitwiseNot) work on the integer type
 * itself with wrap-around where C would overflow.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "grad.h"
#include "op.h"

/* dtype classes an op accepts */
enum {
    T_FLT = 1u << 0,  /* float32, float64, float16, bfloat16 */
    T_SINT = 1u << 1, /* int8..int64 */
    T_UINT = 1u << 2, /* uint8..uint64 */
    T_BOOL = 1u << 3,
    T_INT = T_SINT | T_UINT,
    T_NUM = T_FLT | T_INT,
};

enum uop {
    U_NEG, U_ABS, U_EXP, U_LOG, U_SQRT, U_RECIPROCAL, U_SIN, U_COS, U_TAN, U_ASIN, U_ACOS, U_ATAN,
    U_SINH, U_COSH, U_ASINH, U_ACOSH, U_ATANH, U_TANH, U_SIGMOID, U_RELU, U_LEAKYRELU, U_ELU, U_SELU,
    U_CELU, U_GELU, U_ERF, U_SOFTPLUS, U_SOFTSIGN, U_HARDSIGMOID, U_HARDSWISH, U_MISH,
    U_THRESHOLDEDRELU, U_SHRINK, U_FLOOR, U_CEIL, U_ROUND, U_SIGN, U_CLIP, U_BITWISENOT,
    /* ops whose output is bool */
    U_ISINF, U_ISNAN, U_NOT,
};

static unsigned dtype_class(weft_dtype t)
{
    if (weft_dtype_is_float(t)) return T_FLT;
    if (t == WEFT_BOOL) return T_BOOL;
    if (weft_dtype_is_integer(t)) return weft_dtype_is_signed(t) ? T_SINT : T_UINT;
    return 0;
}

/* Everything an op reads from its attributes (and, for Clip, its bound inputs). */
typedef struct {
    double a, b, g;         /* alpha / beta / gamma, lambd / bias for Shrink */
    int flag;               /* Gelu: 1 = tanh approximation; IsInf: bit 0 positive, bit 1 negative */
    bool has_lo, has_hi;    /* Clip bounds present */
    double lo, hi;          /* Clip bounds for float data */
    int64_t ilo, ihi;       /* Clip bounds for integer data (as weft_load_i64 reads them) */
} uparams;

static weft_status uparams_read(const weft_node_info *n, enum uop op, uparams *p)
{
    memset(p, 0, sizeof *p);
    switch (op) {
    case U_LEAKYRELU: p->a = weft_attr_float(n, "alpha", 0.01f); break;
    case U_ELU: p->a = weft_attr_float(n, "alpha", 1.0f); break;
    case U_CELU:
        p->a = weft_attr_float(n, "alpha", 1.0f);
        if (p->a == 0) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute alpha must not be 0");
        break;
    case U_SELU:
        /* the spec's defaults, as float32 values */
        p->a = weft_attr_float(n, "alpha", 1.67326319217681884765625f);
        p->g = weft_attr_float(n, "gamma", 1.05070102214050292968750f);
        break;
    case U_HARDSIGMOID:
        p->a = weft_attr_float(n, "alpha", 0.2f);
        p->b = weft_attr_float(n, "beta", 0.5f);
        break;
    case U_THRESHOLDEDRELU: p->a = weft_attr_float(n, "alpha", 1.0f); break;
    case U_SHRINK:
        p->a = weft_attr_float(n, "lambd", 0.5f);
        p->b = weft_attr_float(n, "bias", 0.0f);
        break;
    case U_GELU: {
        const char *s = weft_attr_string(n, "approximate", "none");
        if (strcmp(s, "none") == 0) p->flag = 0;
        else if (strcmp(s, "tanh") == 0) p->flag = 1;
        else return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute approximate must be 'none' or 'tanh', got '%s'", s);
        break;
    }
    case U_ISINF:
        p->flag = (weft_attr_int(n, "detect_positive", 1) != 0) | (weft_attr_int(n, "detect_negative", 1) != 0) << 1;
        break;
    default: break;
    }
    return WEFT_OK;
}

/* Clamp to [0, 1] keeping NaN (fmin/fmax would drop it). */
static inline double clamp01(double v) { return v < 0 ? 0.0 : v > 1 ? 1.0 : v; }

static inline double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

/* One element of a float op, in double. */
static inline double uf(enum uop op, double x, const uparams *p)
{
    switch (op) {
    case U_NEG: return -x;
    case U_ABS: return fabs(x);
    case U_EXP: return exp(x);
    case U_LOG: return log(x);
    case U_SQRT: return sqrt(x);
    case U_RECIPROCAL: return 1.0 / x;
    case U_SIN: return sin(x);
    case U_COS: return cos(x);
    case U_TAN: return tan(x);
    case U_ASIN: return asin(x);
    case U_ACOS: return acos(x);
    case U_ATAN: return atan(x);
    case U_SINH: return sinh(x);
    case U_COSH: return cosh(x);
    case U_ASINH: return asinh(x);
    case U_ACOSH: return acosh(x);
    case U_ATANH: return atanh(x);
    case U_TANH: return tanh(x);
    /* two branches so that exp never overflows */
    case U_SIGMOID: return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
    case U_RELU: return x < 0 ? 0.0 : x; /* NaN stays NaN */
    case U_LEAKYRELU: return x < 0 ? p->a * x : x;
    case U_ELU: return x < 0 ? p->a * expm1(x) : x;
    case U_SELU: return x > 0 ? p->g * x : p->g * p->a * expm1(x);
    /* max(0,x) + min(0, a*(exp(x/a)-1)) simplifies to this for either sign of alpha */
    case U_CELU: return x > 0 ? x : p->a * expm1(x / p->a);
    case U_GELU:
        if (p->flag) return 0.5 * x * (1.0 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
        return 0.5 * x * (1.0 + erf(x * 0.70710678118654752440));
    case U_ERF: return erf(x);
    case U_SOFTPLUS: return softplus(x);
    case U_SOFTSIGN: return x / (1.0 + fabs(x));
    case U_HARDSIGMOID: return clamp01(p->a * x + p->b);
    case U_HARDSWISH: return x * clamp01(x / 6.0 + 0.5);
    case U_MISH: return x * tanh(softplus(x));
    case U_THRESHOLDEDRELU: return x > p->a ? x : 0.0;
    case U_SHRINK: return x < -p->a ? x + p->b : x > p->a ? x - p->b : 0.0;
    case U_FLOOR: return floor(x);
    case U_CEIL: return ceil(x);
    case U_ROUND: return nearbyint(x); /* default rounding mode: half to even */
    case U_SIGN: return x > 0 ? 1.0 : x < 0 ? -1.0 : x; /* 0 -> 0, NaN -> NaN */
    case U_CLIP:
        if (p->has_lo && x < p->lo) x = p->lo;
        if (p->has_hi && x > p->hi) x = p->hi;
        return x;
    default: return x;
    }
}

static inline bool upred(enum uop op, double x, const uparams *p)
{
    if (op == U_ISNAN) return isnan(x);
    /* U_ISINF */
    return isinf(x) && ((x > 0 && (p->flag & 1)) || (x < 0 && (p->flag & 2)));
}

/* Integer ops, generic over the integer type T. Negation goes through uint64 so that -INT_MIN wraps
 * (to INT_MIN) instead of overflowing. */
#define UINT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = x->data;                                                                      \
        T *b = y->data;                                                                            \
        const T z = 0, lo = (T)p->ilo, hi = (T)p->ihi;                                             \
        for (int64_t i = 0; i < x->numel; i++) {                                                   \
            T v = a[i];                                                                            \
            switch (op) {                                                                          \
            case U_NEG: v = (T)(0 - (uint64_t)v); break;                                           \
            case U_ABS: v = v < z ? (T)(0 - (uint64_t)v) : v; break;                               \
            case U_SIGN: v = (T)((v > z) - (v < z)); break;                                        \
            case U_RELU: v = v < z ? z : v; break;                                                 \
            case U_BITWISENOT: v = (T)~v; break;                                                   \
            case U_CLIP:                                                                           \
                if (p->has_lo && v < lo) v = lo;                                                   \
                if (p->has_hi && v > hi) v = hi;                                                   \
                break;                                                                             \
            default: break;                                                                        \
            }                                                                                      \
            b[i] = v;                                                                              \
        }                                                                                          \
    }

static weft_status unary_kernel(weft_kernel_ctx *k, enum uop op, const uparams *p)
{
    const weft_tview *x = &k->in[0];
    weft_tview *y = &k->out[0];
    weft_dtype dt = x->dtype;
    if (op == U_NOT) {
        const uint8_t *a = x->data;
        uint8_t *b = y->data;
        for (int64_t i = 0; i < x->numel; i++) b[i] = !a[i];
        return WEFT_OK;
    }
    if (op == U_ISINF || op == U_ISNAN) {
        uint8_t *b = y->data;
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = x->data;                                                                      \
        for (int64_t i = 0; i < x->numel; i++) b[i] = upred(op, a[i], p);                          \
    }
        WEFT_DISPATCH(dt, WEFT_TYPES_FLOAT,
                      for (int64_t i = 0; i < x->numel; i++) b[i] = upred(op, weft_load_f64(dt, x->data, i), p));
#undef WEFT_BODY
        return WEFT_OK;
    }
    if (weft_dtype_is_float(dt)) {
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = x->data;                                                                      \
        T *b = y->data;                                                                            \
        for (int64_t i = 0; i < x->numel; i++) b[i] = (T)uf(op, a[i], p);                          \
    }
        /* float16 / bfloat16: computed in double, rounded once to the 16-bit type */
        WEFT_DISPATCH(dt, WEFT_TYPES_FLOAT,
                      for (int64_t i = 0; i < x->numel; i++)
                          weft_store_f64(dt, y->data, i, uf(op, weft_load_f64(dt, x->data, i), p)));
#undef WEFT_BODY
        return WEFT_OK;
    }
#define WEFT_BODY(T) UINT_BODY(T)
    WEFT_DISPATCH(dt, WEFT_TYPES_INT, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

static weft_status check_dtype(const weft_node_info *n, int i, weft_dtype t, unsigned allowed)
{
    unsigned cls = dtype_class(t);
    if (cls & allowed) return WEFT_OK;
    if (cls == 0) /* string, complex, float8, ...: valid ONNX, not implemented here */
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input %d: dtype %s (%d) is not supported", i,
                             weft_dtype_name(t), (int)t);
    return weft_op_error(n, WEFT_ERR_TYPE, "input %d: dtype %s is not allowed for %s", i, weft_dtype_name(t),
                         n->op_type);
}

/* Clip's bounds: attributes before opset 11, optional one-element inputs from 11 on. */
static weft_status clip_check_bounds(weft_infer_ctx *c)
{
    const weft_node_info *n = c->node;
    if (n->opset < 11) {
        if (c->n_in > 1) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "Clip before opset 11 takes one input");
        if (!weft_dtype_is_float(c->in_dtype[0]))
            return weft_op_error(n, WEFT_ERR_TYPE, "Clip before opset 11 takes float input, got %s",
                                 weft_dtype_name(c->in_dtype[0]));
        return WEFT_OK;
    }
    for (int i = 1; i < c->n_in && i < 3; i++) {
        if (!weft_in_present(c, i)) continue;
        if (c->in_dtype[i] != c->in_dtype[0])
            return weft_op_error(n, WEFT_ERR_TYPE, "input %d (%s) must have the dtype of input 0 (%s)", i,
                                 i == 1 ? "min" : "max", weft_dtype_name(c->in_dtype[0]));
        int64_t ne = weft_shape_numel(&c->in_shape[i]);
        if (ne >= 0 && ne != 1)
            return weft_op_error(n, WEFT_ERR_SHAPE, "input %d (%s) must be a scalar, has %lld elements", i,
                                 i == 1 ? "min" : "max", (long long)ne);
    }
    return WEFT_OK;
}

/* The infer of every op of the family: `op` is the op's kind, `types` the dtype classes it takes. */
static weft_status unary_infer(weft_infer_ctx *c, enum uop op, unsigned types)
{
    const weft_node_info *n = c->node;
    if (!weft_in_present(c, 0)) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "input 0 is required");
    weft_status st = check_dtype(n, 0, c->in_dtype[0], types);
    if (st) return st;
    uparams p;
    if ((st = uparams_read(n, op, &p))) return st;
    if (op == U_CLIP && (st = clip_check_bounds(c))) return st;
    c->out_dtype[0] = (op == U_ISINF || op == U_ISNAN || op == U_NOT) ? WEFT_BOOL : c->in_dtype[0];
    c->out_shape[0] = c->in_shape[0];
    return WEFT_OK;
}

/* The kernel of every op of the family, for the op of kind `op`. */
static weft_status unary_run(weft_kernel_ctx *k, enum uop op)
{
    const weft_node_info *n = k->node;
    uparams p;
    weft_status st = uparams_read(n, op, &p);
    if (st) return st;
    if (op == U_CLIP) {
        weft_dtype dt = k->in[0].dtype;
        if (n->opset < 11) {
            const weft_attr *lo = weft_attr_find(n, "min"), *hi = weft_attr_find(n, "max");
            p.has_lo = lo != NULL;
            p.has_hi = hi != NULL;
            p.lo = weft_attr_float(n, "min", -FLT_MAX);
            p.hi = weft_attr_float(n, "max", FLT_MAX);
        } else {
            for (int i = 1; i < 3; i++) {
                if (!weft_kin_present(k, i)) continue;
                if (k->in[i].numel != 1 || k->in[i].dtype != dt)
                    return weft_op_error(n, WEFT_ERR_SHAPE, "input %d must be a scalar of the input's dtype", i);
                double v = weft_load_f64(dt, k->in[i].data, 0);
                int64_t iv = weft_load_i64(dt, k->in[i].data, 0);
                if (i == 1) { p.has_lo = true; p.lo = v; p.ilo = iv; }
                else { p.has_hi = true; p.hi = v; p.ihi = iv; }
            }
        }
    }
    return unary_kernel(k, op, &p);
}

/* --- Cast / CastLike ------------------------------------------------------------------------------ */

static bool cast_supported(weft_dtype t) { return dtype_class(t) != 0; }

/* The nearest float to d, rounded to odd when inexact: rounding that float again to float16 / bfloat16
 * then gives the same result as rounding d directly (no double-rounding error). */
static float f64_to_f32_odd(double d)
{
    float f = (float)d;
    if (isnan(d) || isinf(f) || (double)f == d) return f;
    if (fabs((double)f) > fabs(d)) f = nextafterf(f, 0.0f); /* truncate toward zero */
    uint32_t bits;
    memcpy(&bits, &f, 4);
    bits |= 1;
    memcpy(&f, &bits, 4);
    return f;
}

static void cast_elem(weft_dtype st, const void *s, weft_dtype dt, void *d, int64_t i)
{
    unsigned sc = dtype_class(st);
    if (dt == WEFT_FLOAT16 || dt == WEFT_BFLOAT16) {
        float f;
        if (st == WEFT_FLOAT64) f = f64_to_f32_odd(((const double *)s)[i]);
        else if (sc & (T_SINT | T_BOOL)) f = (float)weft_load_i64(st, s, i);
        else if (sc & T_UINT) f = (float)(uint64_t)weft_load_i64(st, s, i);
        else f = (float)weft_load_f64(st, s, i);
        ((uint16_t *)d)[i] = dt == WEFT_FLOAT16 ? weft_f32_to_f16(f) : weft_f32_to_bf16(f);
    } else if (dt == WEFT_FLOAT32) {
        /* integers convert directly so that int64 -> float rounds once */
        if (sc & (T_SINT | T_BOOL)) ((float *)d)[i] = (float)weft_load_i64(st, s, i);
        else if (sc & T_UINT) ((float *)d)[i] = (float)(uint64_t)weft_load_i64(st, s, i);
        else ((float *)d)[i] = (float)weft_load_f64(st, s, i);
    } else if (dt == WEFT_FLOAT64) {
        if (sc & (T_SINT | T_BOOL)) ((double *)d)[i] = (double)weft_load_i64(st, s, i);
        else if (sc & T_UINT) ((double *)d)[i] = (double)(uint64_t)weft_load_i64(st, s, i);
        else ((double *)d)[i] = weft_load_f64(st, s, i);
    } else if (sc == T_FLT) {
        /* float -> integer / bool: truncation toward zero, saturating, NaN -> 0 (bool: NaN -> true) */
        weft_store_f64(dt, d, i, weft_load_f64(st, s, i));
    } else {
        /* integer / bool -> integer / bool: two's-complement wrap, as C and numpy do */
        weft_store_i64(dt, d, i, weft_load_i64(st, s, i));
    }
}

static weft_status cast_check(const weft_node_info *n, const char *what, int64_t t)
{
    if (cast_supported((weft_dtype)t) && t > 0 && t <= WEFT_BFLOAT16) return WEFT_OK;
    /* string, complex, the float8 / 4-bit family: valid ONNX types weft does not implement */
    if (t == WEFT_STRING || (t >= 14 && t <= 26))
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "%s dtype %lld (%s) is not supported", what, (long long)t,
                             t == WEFT_STRING ? "string" : "complex / float8 / 4-bit");
    return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "%s dtype %lld is not a valid dtype", what, (long long)t);
}

/* Cast takes the target dtype from its attribute `to`, CastLike (`like`) from its second input. */
static weft_status cast_infer_common(weft_infer_ctx *c, bool like)
{
    const weft_node_info *n = c->node;
    if (!weft_in_present(c, 0)) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "input 0 is required");
    weft_status st = cast_check(n, "input", c->in_dtype[0]);
    if (st) return st;
    int64_t to;
    if (like) {
        if (!weft_in_present(c, 1)) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "input 1 (target_type) is required");
        to = c->in_dtype[1];
    } else {
        const weft_attr *a = weft_attr_find(n, "to");
        if (!a || a->type != WEFT_ATTR_INT)
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'to' (int) is required");
        to = a->i;
    }
    if ((st = cast_check(n, "target", to))) return st;
    c->out_dtype[0] = (weft_dtype)to;
    c->out_shape[0] = c->in_shape[0];
    return WEFT_OK;
}

static weft_status cast_infer(weft_infer_ctx *c) { return cast_infer_common(c, false); }
static weft_status castlike_infer(weft_infer_ctx *c) { return cast_infer_common(c, true); }

static weft_status cast_run(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    weft_tview *y = &k->out[0];
    if (x->numel != y->numel) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output size differs from input");
    if (x->dtype == y->dtype) {
        if (x->numel) memcpy(y->data, x->data, (size_t)x->numel * weft_dtype_size(x->dtype));
        return WEFT_OK;
    }
    for (int64_t i = 0; i < x->numel; i++) cast_elem(x->dtype, x->data, y->dtype, y->data, i);
    return WEFT_OK;
}

/* --- gradients (ops/grad.h) ----------------------------------------------------------------------- */

/* dx = g * f'(x), with f' written through x or through y = f(x), whichever is cheaper. */
static weft_status unary_grad(weft_grad_ctx *c, int d)
{
    weft_grad_to(c, 0, d);
    return c->st;
}
#define G (weft_grad_dout(c, 0))
#define X (c->in[0])
#define Y (c->out[0])
#define OP1(op, a) weft_grad_op1(c, op, a)
#define OP2(op, a, b) weft_grad_op2(c, op, a, b)
#define K(v) weft_grad_scalar(c, v)

static weft_status grad_Neg(weft_grad_ctx *c) { return unary_grad(c, OP1("Neg", G)); }
static weft_status grad_Exp(weft_grad_ctx *c) { return unary_grad(c, OP2("Mul", G, Y)); }
static weft_status grad_Log(weft_grad_ctx *c) { return unary_grad(c, OP2("Div", G, X)); }
static weft_status grad_Sqrt(weft_grad_ctx *c) { return unary_grad(c, OP2("Div", OP2("Mul", G, K(0.5)), Y)); }
static weft_status grad_Sin(weft_grad_ctx *c) { return unary_grad(c, OP2("Mul", G, OP1("Cos", X))); }
static weft_status grad_Cos(weft_grad_ctx *c) { return unary_grad(c, OP1("Neg", OP2("Mul", G, OP1("Sin", X)))); }
static weft_status grad_Tanh(weft_grad_ctx *c) { return unary_grad(c, OP2("Mul", G, OP2("Sub", K(1), OP2("Mul", Y, Y)))); }
static weft_status grad_Sigmoid(weft_grad_ctx *c)
{
    return unary_grad(c, OP2("Mul", G, OP2("Mul", Y, OP2("Sub", K(1), Y))));
}

/* Where(x > 0, g, h): the piecewise ones (the derivative at 0 is taken from the left, as PyTorch).
 * With a slope alpha >= 0 below zero, y > 0 exactly where x > 0 (and both tests fail on NaN), so the
 * test reads y: the pre-activation is then not kept for the backward pass, and the forward layer stays
 * fusable into one matrix product with its activation. */
static int positive_part(weft_grad_ctx *c, int g, int h, bool y_tells)
{
    int in[3] = {OP2("Greater", y_tells ? Y : X, K(0)), g, h};
    return weft_grad_op(c, "Where", in, 3, NULL, 0);
}
static weft_status grad_Relu(weft_grad_ctx *c)
{
    int g = G;
    return unary_grad(c, positive_part(c, g, K(0), true));
}
static weft_status grad_LeakyRelu(weft_grad_ctx *c)
{
    int g = G;
    float alpha = weft_attr_float(c->node, "alpha", 0.01f);
    return unary_grad(c, positive_part(c, g, OP2("Mul", g, K(alpha)), alpha >= 0));
}
/* y = alpha (e^x - 1) below 0, so dy/dx = y + alpha there. */
static weft_status grad_Elu(weft_grad_ctx *c)
{
    int g = G;
    float alpha = weft_attr_float(c->node, "alpha", 1.0f);
    return unary_grad(c, positive_part(c, g, OP2("Mul", g, OP2("Add", Y, K(alpha))), alpha > 0));
}

/* Between float types: the gradient cast back. (From integers nothing is wanted.) */
static weft_status grad_Cast(weft_grad_ctx *c)
{
    if (!weft_dtype_is_float(c->out_dtype[0]))
        return c->st; /* a float cast to an integer or bool: no gradient flows */
    weft_attr to = weft_grad_attr_int("to", c->in_dtype[0]);
    int g = G;
    return unary_grad(c, weft_grad_op(c, "Cast", &g, 1, &to, 1));
}
/* Clip: x's gradient passes where lo <= x <= hi (the bounds themselves included, as PyTorch's clamp);
 * a bound given as an input gets the gradient of the elements it replaced. */
static weft_status grad_Clip(weft_grad_ctx *c)
{
    int g = G, z = K(0), lo = -1, hi = -1;
    if (c->node->opset < 11) {
        lo = K(weft_attr_float(c->node, "min", -INFINITY));
        hi = K(weft_attr_float(c->node, "max", INFINITY));
    } else {
        if (c->n_in > 1) lo = c->in[1];
        if (c->n_in > 2) hi = c->in[2];
    }
    int keep = -1;
    if (lo >= 0) keep = OP2("GreaterOrEqual", X, lo);
    if (hi >= 0) keep = keep < 0 ? OP2("LessOrEqual", X, hi) : OP2("And", keep, OP2("LessOrEqual", X, hi));
    if (keep < 0) return unary_grad(c, g);
    int in[3] = {keep, g, z};
    weft_grad_to(c, 0, weft_grad_op(c, "Where", in, 3, NULL, 0));
    for (int i = 1; i < 3 && c->node->opset >= 11; i++) {
        if (i >= c->n_in || !c->want[i]) continue;
        int b[3] = {i == 1 ? OP2("Less", X, lo) : OP2("Greater", X, hi), g, z};
        weft_grad_to_bcast(c, i, weft_grad_op(c, "Where", b, 3, NULL, 0), &c->out_shape[0]);
    }
    return c->st;
}
#undef G
#undef X
#undef Y
#undef OP1
#undef OP2
#undef K

/* --- the table ------------------------------------------------------------------------------------ */

/* Every op served by unary_infer / unary_run: X(name, kind, dtype classes, first opset, most inputs,
 * gradient rule or NULL). */
#define UNARY_OPS(X)                                           \
    X(Neg, U_NEG, T_FLT | T_SINT, 1, 1, grad_Neg)              \
    X(Abs, U_ABS, T_NUM, 1, 1, NULL)                           \
    X(Exp, U_EXP, T_FLT, 1, 1, grad_Exp)                       \
    X(Log, U_LOG, T_FLT, 1, 1, grad_Log)                       \
    X(Sqrt, U_SQRT, T_FLT, 1, 1, grad_Sqrt)                    \
    X(Reciprocal, U_RECIPROCAL, T_FLT, 1, 1, NULL)             \
    X(Sin, U_SIN, T_FLT, 7, 1, grad_Sin)                       \
    X(Cos, U_COS, T_FLT, 7, 1, grad_Cos)                       \
    X(Tan, U_TAN, T_FLT, 7, 1, NULL)                           \
    X(Asin, U_ASIN, T_FLT, 7, 1, NULL)                         \
    X(Acos, U_ACOS, T_FLT, 7, 1, NULL)                         \
    X(Atan, U_ATAN, T_FLT, 7, 1, NULL)                         \
    X(Sinh, U_SINH, T_FLT, 9, 1, NULL)                         \
    X(Cosh, U_COSH, T_FLT, 9, 1, NULL)                         \
    X(Asinh, U_ASINH, T_FLT, 9, 1, NULL)                       \
    X(Acosh, U_ACOSH, T_FLT, 9, 1, NULL)                       \
    X(Atanh, U_ATANH, T_FLT, 9, 1, NULL)                       \
    X(Tanh, U_TANH, T_FLT, 1, 1, grad_Tanh)                    \
    X(Sigmoid, U_SIGMOID, T_FLT, 1, 1, grad_Sigmoid)           \
    X(Relu, U_RELU, T_FLT | T_SINT, 1, 1, grad_Relu)           \
    X(LeakyRelu, U_LEAKYRELU, T_FLT, 1, 1, grad_LeakyRelu)     \
    X(Elu, U_ELU, T_FLT, 1, 1, grad_Elu)                       \
    X(Selu, U_SELU, T_FLT, 1, 1, NULL)                         \
    X(Celu, U_CELU, T_FLT, 12, 1, NULL)                        \
    X(Gelu, U_GELU, T_FLT, 20, 1, NULL)                        \
    X(Erf, U_ERF, T_FLT, 9, 1, NULL)                           \
    X(Softplus, U_SOFTPLUS, T_FLT, 1, 1, NULL)                 \
    X(Softsign, U_SOFTSIGN, T_FLT, 1, 1, NULL)                 \
    X(HardSigmoid, U_HARDSIGMOID, T_FLT, 1, 1, NULL)           \
    X(HardSwish, U_HARDSWISH, T_FLT, 14, 1, NULL)              \
    X(Mish, U_MISH, T_FLT, 18, 1, NULL)                        \
    X(ThresholdedRelu, U_THRESHOLDEDRELU, T_FLT, 10, 1, NULL)  \
    X(Shrink, U_SHRINK, T_FLT, 9, 1, NULL)                     \
    X(Floor, U_FLOOR, T_FLT, 1, 1, NULL)                       \
    X(Ceil, U_CEIL, T_FLT, 1, 1, NULL)                         \
    X(Round, U_ROUND, T_FLT, 11, 1, NULL)                      \
    X(Sign, U_SIGN, T_NUM, 9, 1, NULL)                         \
    X(IsInf, U_ISINF, T_FLT, 10, 1, NULL)                      \
    X(IsNaN, U_ISNAN, T_FLT, 9, 1, NULL)                       \
    X(Not, U_NOT, T_BOOL, 1, 1, NULL)                          \
    X(BitwiseNot, U_BITWISENOT, T_INT, 18, 1, NULL)            \
    X(Clip, U_CLIP, T_NUM, 1, 3, grad_Clip)

/* One pair of wrappers per op, binding its kind and dtypes. */
#define UNARY_WRAP(name, kind, types, since, max_in, grad)                                               \
    static weft_status infer_##name(weft_infer_ctx *c) { return unary_infer(c, kind, types); }     \
    static weft_status run_##name(weft_kernel_ctx *k) { return unary_run(k, kind); }
UNARY_OPS(UNARY_WRAP)
#undef UNARY_WRAP

#define UNARY_DEF(name, kind, types, since, max_in, grad)                                          \
    {#name, "", since, 0, 1, max_in, 1, 1, 0, infer_##name, run_##name, 0, grad},

const weft_op_def weft_ops_unary[] = {
    UNARY_OPS(UNARY_DEF)
    {"Cast", "", 1, 0, 1, 1, 1, 1, 0, cast_infer, cast_run, 0, grad_Cast},
    {"CastLike", "", 15, 0, 2, 2, 1, 1, 0, castlike_infer, cast_run},
};
#undef UNARY_DEF
const int weft_ops_unary_count = sizeof weft_ops_unary / sizeof weft_ops_unary[0];
