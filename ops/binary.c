/*
 * ops/binary.c — elementwise operators of two or more inputs with numpy broadcasting: arithmetic,
 * comparisons, logic, bit operations, Where, the variadic Max / Min / Sum / Mean, and PRelu.
 *
 * Broadcasting: the output's dims are walked with one stride per input (0 along broadcast axes). Before
 * the walk, size-1 output axes are dropped and neighbouring axes that every input reads contiguously
 * (or all broadcasts) are merged, so the same-shape case becomes one contiguous row and "tensor op
 * scalar" a row with stride 0 on one side; the inner loop has fast paths for those strides.
 *
 * float16 / bfloat16 inputs and outputs are converted to float32 in scratch memory, computed there and
 * converted back (weft_ew_via_f32), so the kernels are written for float / double and integers only.
 *
 * Integer semantics (defined where C leaves them undefined):
 *   - Add, Sub, Mul, Neg-like overflow wraps around (two's complement), as numpy and ONNX Runtime do;
 *   - Div truncates toward zero; INT_MIN / -1 wraps to INT_MIN; Mod of INT_MIN by -1 is 0;
 *   - Div or Mod by an integer zero is an error (WEFT_ERR_INVALID_ARGUMENT naming the element) rather
 *     than a crash or an invented value;
 *   - BitShift by the bit width or more gives 0;
 *   - Pow with integer base and negative integer exponent gives trunc(1 / base^-e): 1 for base 1, +-1
 *     for base -1, and 0 otherwise (also for base 0, where the true value is infinite).
 */
#include <math.h>
#include <string.h>

#include "grad.h"
#include "op.h"

enum {
    T_FLT = 1u << 0,
    T_SINT = 1u << 1,
    T_UINT = 1u << 2,
    T_BOOL = 1u << 3,
    T_I3264 = 1u << 4, /* int32 / int64 only (Pow's base) */
    T_INT = T_SINT | T_UINT,
    T_NUM = T_FLT | T_INT,
    T_ANY = T_NUM | T_BOOL,
};

enum bop {
    B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MOD, B_EQUAL, B_LESS, B_LESSEQ, B_GREATER, B_GREATEREQ,
    B_AND, B_OR, B_XOR, B_BITSHIFT, B_BAND, B_BOR, B_BXOR, B_WHERE, B_MAX, B_MIN, B_SUM, B_MEAN, B_PRELU,
};

/* What the generic infer and kernel need to know of an op; one per op, made from BINARY_OPS at the end
 * and handed over by the op's own wrappers, so a step knows its op without looking up its type name. */
typedef struct {
    enum bop op;
    unsigned types;  /* dtypes of the data inputs */
    bool to_bool;    /* output is bool */
    bool variadic;
} bdesc;

static unsigned dtype_class(weft_dtype t)
{
    if (weft_dtype_is_float(t)) return T_FLT;
    if (t == WEFT_BOOL) return T_BOOL;
    if (t == WEFT_INT32 || t == WEFT_INT64) return T_SINT | T_I3264;
    if (weft_dtype_is_integer(t)) return weft_dtype_is_signed(t) ? T_SINT : T_UINT;
    return 0;
}

static weft_status check_dtype(const weft_node_info *n, int i, weft_dtype t, unsigned allowed)
{
    unsigned cls = dtype_class(t);
    if (cls & allowed) return WEFT_OK;
    if (cls == 0)
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input %d: dtype %s (%d) is not supported", i,
                             weft_dtype_name(t), (int)t);
    return weft_op_error(n, WEFT_ERR_TYPE, "input %d: dtype %s is not allowed for %s", i, weft_dtype_name(t),
                         n->op_type);
}

/* --- broadcast walk ------------------------------------------------------------------------------- */

#define EW_MAXIN 3

typedef struct {
    int rank;                           /* after dropping 1s and merging; >= 1 */
    int n;                              /* inputs */
    int64_t dims[WEFT_MAX_RANK];
    int64_t st[EW_MAXIN][WEFT_MAX_RANK];
    int64_t rows, inner;                /* the walk: rows x inner (last axis) */
} ew_plan;

static void ew_plan_make(ew_plan *p, const weft_tview *out, const weft_tview *const *in, int n)
{
    int64_t st[EW_MAXIN][WEFT_MAX_RANK];
    int R = out->rank;
    memset(p, 0, sizeof *p);
    p->n = n;
    for (int k = 0; k < n; k++) weft_broadcast_strides(in[k]->dims, in[k]->rank, out->dims, R, st[k]);
    for (int a = 0; a < R; a++) {
        if (out->dims[a] == 1) continue;
        if (p->rank > 0) {
            int last = p->rank - 1;
            bool merge = true;
            for (int k = 0; k < n; k++)
                if (p->st[k][last] != st[k][a] * out->dims[a]) merge = false;
            if (merge) {
                p->dims[last] *= out->dims[a];
                for (int k = 0; k < n; k++) p->st[k][last] = st[k][a];
                continue;
            }
        }
        p->dims[p->rank] = out->dims[a];
        for (int k = 0; k < n; k++) p->st[k][p->rank] = st[k][a];
        p->rank++;
    }
    if (p->rank == 0) { /* a single element */
        p->rank = 1;
        p->dims[0] = 1;
    }
    p->inner = p->dims[p->rank - 1];
    p->rows = p->inner ? out->numel / p->inner : 0;
}

/* Advances the row counter over every axis but the last, keeping the inputs' offsets in step. */
static inline void ew_next(const ew_plan *p, int64_t *idx, int64_t *off)
{
    for (int a = p->rank - 2; a >= 0; a--) {
        idx[a]++;
        for (int k = 0; k < p->n; k++) off[k] += p->st[k][a];
        if (idx[a] < p->dims[a]) return;
        for (int k = 0; k < p->n; k++) off[k] -= p->st[k][a] * p->dims[a];
        idx[a] = 0;
    }
}

/* Runs STMT for every output element with ia, ib, ic the element's index in inputs 0, 1, 2 and iy in
 * the output. Strides 1 and 0 of the first two inputs get their own loops, where the compiler sees the
 * constant stride (contiguous rows vectorise; a broadcast scalar is re-read from the same place). */
#define EW_INNER(S0, S1, S2, STMT)                                                                 \
    for (int64_t j_ = 0; j_ < P_.inner; j_++) {                                                    \
        const int64_t ia = off_[0] + j_ * (S0), ib = off_[1] + j_ * (S1), ic = off_[2] + j_ * (S2); \
        const int64_t iy = yo_ + j_;                                                               \
        (void)ia; (void)ib; (void)ic;                                                              \
        STMT;                                                                                      \
    }
#define EW_LOOP(PLAN, STMT)                                                                        \
    {                                                                                              \
        const ew_plan P_ = (PLAN);                                                                 \
        int64_t idx_[WEFT_MAX_RANK] = {0}, off_[EW_MAXIN] = {0}, yo_ = 0;                           \
        const int L_ = P_.rank - 1;                                                                \
        const int64_t s0_ = P_.st[0][L_], s1_ = P_.n > 1 ? P_.st[1][L_] : 0,                      \
                      s2_ = P_.n > 2 ? P_.st[2][L_] : 0;                                           \
        for (int64_t r_ = 0; r_ < P_.rows; r_++, yo_ += P_.inner) {                                \
            if (s0_ == 1 && s1_ == 1) EW_INNER(1, 1, s2_, STMT)                                    \
            else if (s0_ == 0 && s1_ == 1) EW_INNER(0, 1, s2_, STMT)                               \
            else if (s0_ == 1 && s1_ == 0) EW_INNER(1, 0, s2_, STMT)                               \
            else EW_INNER(s0_, s1_, s2_, STMT)                                                     \
            ew_next(&P_, idx_, off_);                                                              \
        }                                                                                          \
    }

/* --- element operations --------------------------------------------------------------------------- */

/* Wrapping integer arithmetic: the builtins compute the exact result modulo 2^bits of the target. */
#define WRAP_ADD(T, a, b) ({ T r_; __builtin_add_overflow((a), (b), &r_); r_; })
#define WRAP_SUB(T, a, b) ({ T r_; __builtin_sub_overflow((a), (b), &r_); r_; })
#define WRAP_MUL(T, a, b) ({ T r_; __builtin_mul_overflow((a), (b), &r_); r_; })
#define IS_SIGNED(T) ((T)-1 < (T)1)

/* a^e for integers, wrapping modulo 2^64 (then truncated to the target type by the caller). */
static int64_t ipow(int64_t a, int64_t e)
{
    if (e < 0) return a == 1 ? 1 : a == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)a;
    uint64_t u = (uint64_t)e;
    while (u) {
        if (u & 1) r *= b;
        b *= b;
        u >>= 1;
    }
    return (int64_t)r;
}

/* Integer Div / Mod need a divisor without zeros: checked before any element is written. */
static weft_status check_no_zero(const weft_kernel_ctx *k, const weft_tview *b)
{
    for (int64_t i = 0; i < b->numel; i++)
        if (weft_load_i64(b->dtype, b->data, i) == 0)
            return weft_op_error(k->node, WEFT_ERR_INVALID_ARGUMENT,
                                 "integer division by zero (input 1, element %lld)", (long long)i);
    return WEFT_OK;
}

/* Output = op(A, B) for the two-input ops, A and B both of dtype dt. */
static weft_status binary2(weft_kernel_ctx *k, enum bop op, const ew_plan *pl, const weft_tview *A,
                           const weft_tview *B, weft_tview *Y)
{
    weft_dtype dt = A->dtype;
    const bool flt = weft_dtype_is_float(dt);
    uint8_t *yb = Y->data;
    switch (op) {
    case B_ADD: case B_SUB: case B_MUL: case B_SUM: case B_MEAN:
        if (flt) {
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = A->data, *b = B->data;                                                        \
        T *y = Y->data;                                                                            \
        if (op == B_SUB) EW_LOOP(*pl, y[iy] = a[ia] - b[ib])                                       \
        else if (op == B_MUL) EW_LOOP(*pl, y[iy] = a[ia] * b[ib])                                  \
        else EW_LOOP(*pl, y[iy] = a[ia] + b[ib])                                                   \
    }
            WEFT_DISPATCH(dt, WEFT_TYPES_FLOAT, goto bad);
#undef WEFT_BODY
        } else {
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = A->data, *b = B->data;                                                        \
        T *y = Y->data;                                                                            \
        if (op == B_SUB) EW_LOOP(*pl, y[iy] = WRAP_SUB(T, a[ia], b[ib]))                              \
        else if (op == B_MUL) EW_LOOP(*pl, y[iy] = WRAP_MUL(T, a[ia], b[ib]))                         \
        else EW_LOOP(*pl, y[iy] = WRAP_ADD(T, a[ia], b[ib]))                                          \
    }
            WEFT_DISPATCH(dt, WEFT_TYPES_INT, goto bad);
#undef WEFT_BODY
        }
        return WEFT_OK;
    case B_DIV:
        if (flt) {
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = A->data, *b = B->data;                                                        \
        T *y = Y->data;                                                                            \
        EW_LOOP(*pl, y[iy] = a[ia] / b[ib])                                                        \
    }
            WEFT_DISPATCH(dt, WEFT_TYPES_FLOAT, goto bad);
#undef WEFT_BODY
        } else {
            weft_status st = check_no_zero(k, B);
            if (st) return st;
            /* b == -1 is negation (which wraps for INT_MIN); everything else cannot overflow */
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = A->data, *b = B->data;                                                        \
        T *y = Y->data;                                                                            \
        EW_LOOP(*pl, y[iy] = (IS_SIGNED(T) && b[ib] == (T)-1) ? WRAP_SUB(T, (T)0, a[ia]) : (T)(a[ia] / b[ib])) \
    }
            WEFT_DISPATCH(dt, WEFT_TYPES_INT, goto bad);
#undef WEFT_BODY
        }
        return WEFT_OK;
    case B_MOD: {
        int fm = (int)weft_attr_int(k->node, "fmod", 0);
        if (flt) {
            /* fmod = 1 (required for floats): the sign of the dividend, exact in double */
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = A->data, *b = B->data;                                                        \
        T *y = Y->data;                                                                            \
        EW_LOOP(*pl, y[iy] = (T)fmod((double)a[ia], (double)b[ib]))                                \
    }
            WEFT_DISPATCH(dt, WEFT_TYPES_FLOAT, goto bad);
#undef WEFT_BODY
        } else {
            weft_status st = check_no_zero(k, B);
            if (st) return st;
            /* C's % has the sign of the dividend (fmod = 1); fmod = 0 wants the divisor's sign */
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = A->data, *b = B->data;                                                        \
        T *y = Y->data;                                                                            \
        const T z = 0;                                                                             \
        EW_LOOP(*pl, {                                                                             \
            T bv = b[ib];                                                                          \
            T r = (IS_SIGNED(T) && bv == (T)-1) ? z : (T)(a[ia] % bv);                             \
            if (!fm && r != z && ((r < z) != (bv < z))) r = (T)(r + bv);                           \
            y[iy] = r;                                                                             \
        })                                                                                         \
    }
            WEFT_DISPATCH(dt, WEFT_TYPES_INT, goto bad);
#undef WEFT_BODY
        }
        return WEFT_OK;
    }
    case B_POW: {
        weft_dtype et = B->dtype;
        const void *eb = B->data;
        const bool eflt = weft_dtype_is_float(et);
        if (flt) {
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = A->data;                                                                      \
        T *y = Y->data;                                                                            \
        EW_LOOP(*pl, y[iy] = (T)pow((double)a[ia], weft_load_f64(et, eb, ib)))                     \
    }
            WEFT_DISPATCH(dt, WEFT_TYPES_FLOAT, goto bad);
#undef WEFT_BODY
        } else if (eflt) {
            /* integer base, float exponent: computed in double, saturated into the base's type */
            EW_LOOP(*pl, weft_store_f64(dt, Y->data, iy, pow(weft_load_f64(dt, A->data, ia), weft_load_f64(et, eb, ib))))
        } else {
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = A->data;                                                                      \
        T *y = Y->data;                                                                            \
        EW_LOOP(*pl, y[iy] = (T)ipow((int64_t)a[ia], weft_load_i64(et, eb, ib)))                   \
    }
            WEFT_DISPATCH(dt, WEFT_TYPES_INT, goto bad);
#undef WEFT_BODY
        }
        return WEFT_OK;
    }
    case B_EQUAL: case B_LESS: case B_LESSEQ: case B_GREATER: case B_GREATEREQ:
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = A->data, *b = B->data;                                                        \
        switch (op) {                                                                              \
        case B_EQUAL: EW_LOOP(*pl, yb[iy] = a[ia] == b[ib]) break;                                 \
        case B_LESS: EW_LOOP(*pl, yb[iy] = a[ia] < b[ib]) break;                                   \
        case B_LESSEQ: EW_LOOP(*pl, yb[iy] = a[ia] <= b[ib]) break;                                \
        case B_GREATER: EW_LOOP(*pl, yb[iy] = a[ia] > b[ib]) break;                                \
        default: EW_LOOP(*pl, yb[iy] = a[ia] >= b[ib]) break;                                      \
        }                                                                                          \
    }
        /* bool compares as its bytes (0 / 1) */
        WEFT_DISPATCH(dt == WEFT_BOOL ? WEFT_UINT8 : dt, WEFT_TYPES_NUMERIC, goto bad);
#undef WEFT_BODY
        return WEFT_OK;
    case B_AND: case B_OR: case B_XOR: {
        const uint8_t *a = A->data, *b = B->data;
        if (op == B_AND) EW_LOOP(*pl, yb[iy] = (a[ia] != 0) & (b[ib] != 0))
        else if (op == B_OR) EW_LOOP(*pl, yb[iy] = (a[ia] != 0) | (b[ib] != 0))
        else EW_LOOP(*pl, yb[iy] = (a[ia] != 0) ^ (b[ib] != 0))
        return WEFT_OK;
    }
    case B_BITSHIFT: {
        bool left = strcmp(weft_attr_string(k->node, "direction", ""), "LEFT") == 0;
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = A->data, *b = B->data;                                                        \
        T *y = Y->data;                                                                            \
        const uint64_t w = sizeof(T) * 8;                                                          \
        if (left) EW_LOOP(*pl, y[iy] = (uint64_t)b[ib] >= w ? (T)0 : (T)((uint64_t)a[ia] << b[ib])) \
        else EW_LOOP(*pl, y[iy] = (uint64_t)b[ib] >= w ? (T)0 : (T)((uint64_t)a[ia] >> b[ib]))      \
    }
        WEFT_DISPATCH(dt, WEFT_TYPES_UINT, goto bad);
#undef WEFT_BODY
        return WEFT_OK;
    }
    case B_BAND: case B_BOR: case B_BXOR:
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = A->data, *b = B->data;                                                        \
        T *y = Y->data;                                                                            \
        if (op == B_BAND) EW_LOOP(*pl, y[iy] = (T)(a[ia] & b[ib]))                                 \
        else if (op == B_BOR) EW_LOOP(*pl, y[iy] = (T)(a[ia] | b[ib]))                             \
        else EW_LOOP(*pl, y[iy] = (T)(a[ia] ^ b[ib]))                                              \
    }
        WEFT_DISPATCH(dt, WEFT_TYPES_INT, goto bad);
#undef WEFT_BODY
        return WEFT_OK;
    case B_MAX: case B_MIN:
        /* NaN in either operand gives NaN, as numpy's maximum / minimum (x != x only for NaN) */
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = A->data, *b = B->data;                                                        \
        T *y = Y->data;                                                                            \
        if (op == B_MAX) EW_LOOP(*pl, { T u = a[ia]; T v = b[ib]; y[iy] = (u > v || u != u) ? u : v; }) \
        else EW_LOOP(*pl, { T u = a[ia]; T v = b[ib]; y[iy] = (u < v || u != u) ? u : v; })      \
    }
        WEFT_DISPATCH(dt, WEFT_TYPES_NUMERIC, goto bad);
#undef WEFT_BODY
        return WEFT_OK;
    case B_PRELU:
        if (flt) {
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = A->data, *b = B->data;                                                        \
        T *y = Y->data;                                                                            \
        EW_LOOP(*pl, y[iy] = a[ia] < 0 ? (T)(b[ib] * a[ia]) : a[ia])                               \
    }
            WEFT_DISPATCH(dt, WEFT_TYPES_FLOAT, goto bad);
#undef WEFT_BODY
        } else {
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *a = A->data, *b = B->data;                                                        \
        T *y = Y->data;                                                                            \
        const T z = 0;                                                                             \
        EW_LOOP(*pl, y[iy] = a[ia] < z ? WRAP_MUL(T, b[ib], a[ia]) : a[ia])                        \
    }
            WEFT_DISPATCH(dt, WEFT_TYPES_INT, goto bad);
#undef WEFT_BODY
        }
        return WEFT_OK;
    default: break;
    }
bad:
    return weft_op_unsupported_dtype(k, 0);
}

/* Where: pure data movement, so dispatched on the element size alone (any dtype, float16 included). */
static weft_status where_run(weft_kernel_ctx *k)
{
    const weft_tview *in[3] = {&k->in[0], &k->in[1], &k->in[2]};
    weft_tview *Y = &k->out[0];
    ew_plan pl;
    ew_plan_make(&pl, Y, in, 3);
    const uint8_t *c = in[0]->data;
    switch (weft_dtype_size(Y->dtype)) {
#define WHERE_CASE(N, T)                                                                           \
    case N: {                                                                                      \
        const T *a = in[1]->data, *b = in[2]->data;                                                \
        T *y = Y->data;                                                                            \
        EW_LOOP(pl, y[iy] = c[ia] ? a[ib] : b[ic])                                                 \
        return WEFT_OK;                                                                            \
    }
        WHERE_CASE(1, uint8_t)
        WHERE_CASE(2, uint16_t)
        WHERE_CASE(4, uint32_t)
        WHERE_CASE(8, uint64_t)
#undef WHERE_CASE
    default: return weft_op_unsupported_dtype(k, 1);
    }
}

static weft_status binary_core(weft_kernel_ctx *k, const bdesc *d)
{
    weft_tview *Y = &k->out[0];
    if (d->variadic) {
        /* out = op(in0, in1), then out = op(out, in_k) for the rest: no scratch needed */
        if (k->n_in == 1) {
            ew_plan pl;
            const weft_tview *in[2] = {&k->in[0], &k->in[0]};
            ew_plan_make(&pl, Y, in, 2);
            weft_status st = binary2(k, B_MAX, &pl, &k->in[0], &k->in[0], Y); /* max(x, x) = x */
            if (st) return st;
        } else {
            for (int i = 1; i < k->n_in; i++) {
                const weft_tview *a = i == 1 ? &k->in[0] : Y;
                const weft_tview *in[2] = {a, &k->in[i]};
                ew_plan pl;
                ew_plan_make(&pl, Y, in, 2);
                weft_status st = binary2(k, d->op, &pl, a, &k->in[i], Y);
                if (st) return st;
            }
        }
        if (d->op == B_MEAN) {
            double n = k->n_in;
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        T *y = Y->data;                                                                            \
        for (int64_t i = 0; i < Y->numel; i++) y[i] = (T)(y[i] / n);                               \
    }
            WEFT_DISPATCH(Y->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
        }
        return WEFT_OK;
    }
    const weft_tview *in[2] = {&k->in[0], &k->in[1]};
    ew_plan pl;
    ew_plan_make(&pl, Y, in, 2);
    return binary2(k, d->op, &pl, in[0], in[1], Y);
}

/* --- float16 / bfloat16 through float32 ----------------------------------------------------------- */

static bool is_half(weft_dtype t) { return t == WEFT_FLOAT16 || t == WEFT_BFLOAT16; }

static void *no_scratch(void *user, size_t bytes) { return NULL; }

/* Converts every float16 / bfloat16 input to float32 in one scratch block, runs binary_core for op `d` on
 * float32 views and converts its float16 / bfloat16 outputs back (binary_core uses no scratch memory). */
static weft_status weft_ew_via_f32(weft_kernel_ctx *k, const bdesc *d)
{
    size_t bytes = (size_t)(k->n_in + k->n_out) * sizeof(weft_tview);
    for (int i = 0; i < k->n_in + k->n_out; i++) {
        const weft_tview *v = i < k->n_in ? &k->in[i] : &k->out[i - k->n_in];
        if (!is_half(v->dtype)) continue;
        if (v->numel < 0 || (uint64_t)v->numel > (SIZE_MAX - bytes) / 4)
            return weft_op_error(k->node, WEFT_ERR_NOMEM, "float32 copy of a %lld-element tensor is too large",
                                 (long long)v->numel);
        bytes += (size_t)v->numel * 4;
    }
    char *mem = k->scratch(k->user, bytes);
    if (!mem) return weft_op_error(k->node, WEFT_ERR_NOMEM, "cannot get %zu bytes of scratch memory", bytes);
    weft_tview *iv = (weft_tview *)mem, *ov = iv + k->n_in;
    float *f = (float *)(ov + k->n_out);
    for (int i = 0; i < k->n_in + k->n_out; i++) {
        const weft_tview *src = i < k->n_in ? &k->in[i] : &k->out[i - k->n_in];
        weft_tview *v = i < k->n_in ? &iv[i] : &ov[i - k->n_in];
        *v = *src;
        if (!is_half(src->dtype)) continue;
        v->dtype = WEFT_FLOAT32;
        v->data = f;
        if (i < k->n_in)
            for (int64_t j = 0; j < src->numel; j++) f[j] = (float)weft_load_f64(src->dtype, src->data, j);
        f += src->numel;
    }
    weft_kernel_ctx k2 = *k;
    k2.in = iv;
    k2.out = ov;
    k2.scratch = no_scratch;
    weft_status st = binary_core(&k2, d);
    if (st) return st;
    for (int i = 0; i < k->n_out; i++) {
        if (!is_half(k->out[i].dtype)) continue;
        const float *src = ov[i].data;
        for (int64_t j = 0; j < k->out[i].numel; j++) weft_store_f64(k->out[i].dtype, k->out[i].data, j, src[j]);
    }
    return WEFT_OK;
}

/* The kernel of every op of the family, for op `d`. */
static weft_status binary_run(weft_kernel_ctx *k, const bdesc *d)
{
    if (d->op == B_WHERE) return where_run(k);
    for (int i = 0; i < k->n_in; i++)
        if (is_half(k->in[i].dtype)) return weft_ew_via_f32(k, d);
    return binary_core(k, d);
}

/* --- inference ------------------------------------------------------------------------------------ */

static weft_status binary_infer(weft_infer_ctx *c, const bdesc *d)
{
    const weft_node_info *n = c->node;
    int first = d->op == B_WHERE ? 1 : 0; /* Where's condition is checked apart */
    if (c->n_in < 1) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "at least one input is required");
    for (int i = 0; i < c->n_in; i++)
        if (!weft_in_present(c, i)) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "input %d is required", i);
    weft_dtype dt = c->in_dtype[first];
    weft_status st;
    if (d->op == B_WHERE && c->in_dtype[0] != WEFT_BOOL)
        return weft_op_error(n, WEFT_ERR_TYPE, "input 0 (condition) must be bool, got %s",
                             weft_dtype_name(c->in_dtype[0]));
    if ((st = check_dtype(n, first, dt, d->types))) return st;
    for (int i = first + 1; i < c->n_in; i++) {
        if (d->op == B_POW) { /* the exponent may have any numeric dtype */
            if ((st = check_dtype(n, i, c->in_dtype[i], T_NUM))) return st;
        } else if (c->in_dtype[i] != dt) {
            return weft_op_error(n, WEFT_ERR_TYPE, "input %d has dtype %s, input %d has %s", i,
                                 weft_dtype_name(c->in_dtype[i]), first, weft_dtype_name(dt));
        }
    }
    if (d->op == B_MOD && weft_dtype_is_float(dt) && weft_attr_int(n, "fmod", 0) != 1)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "Mod of floating-point inputs requires fmod = 1");
    if (d->op == B_BITSHIFT) {
        const char *dir = weft_attr_string(n, "direction", NULL);
        if (!dir || (strcmp(dir, "LEFT") != 0 && strcmp(dir, "RIGHT") != 0))
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute direction must be \"LEFT\" or \"RIGHT\"");
    }
    c->out_dtype[0] = d->to_bool ? WEFT_BOOL : dt;

    if (d->op == B_PRELU) {
        /* the slope broadcasts to X (one direction only); the output has X's shape */
        const weft_shape *x = &c->in_shape[0], *s = &c->in_shape[1];
        if (x->rank >= 0 && s->rank >= 0) {
            if (s->rank > x->rank)
                return weft_op_error(n, WEFT_ERR_SHAPE, "slope has rank %d, more than X's %d", s->rank, x->rank);
            for (int a = 0; a < s->rank; a++) {
                weft_dim sd = s->d[a], xd = x->d[a + x->rank - s->rank];
                if (weft_dim_known(sd) && sd.v != 1 && weft_dim_known(xd) && xd.v != sd.v)
                    return weft_op_error(n, WEFT_ERR_SHAPE,
                                         "slope does not broadcast to X: slope axis %d is %lld, X's is %lld", a,
                                         (long long)sd.v, (long long)xd.v);
            }
        }
        c->out_shape[0] = *x;
        return WEFT_OK;
    }
    /* pairwise, so that any number of inputs works */
    weft_shape acc = c->in_shape[0];
    for (int i = 1; i < c->n_in; i++) {
        const weft_shape *sh[2] = {&acc, &c->in_shape[i]};
        weft_shape r;
        if ((st = weft_infer_broadcast(c, sh, 2, &r))) return st;
        acc = r;
    }
    c->out_shape[0] = acc;
    return WEFT_OK;
}

/* --- gradients (ops/grad.h) ----------------------------------------------------------------------- */

/* Each input's gradient is summed over the axes it was broadcast along (to_bcast). */

static weft_status grad_Add(weft_grad_ctx *c)
{
    int g = weft_grad_dout(c, 0);
    weft_grad_to_bcast(c, 0, g, &c->out_shape[0]);
    weft_grad_to_bcast(c, 1, g, &c->out_shape[0]);
    return c->st;
}

static weft_status grad_Sum(weft_grad_ctx *c)
{
    int g = weft_grad_dout(c, 0);
    for (int i = 0; i < c->n_in; i++) weft_grad_to_bcast(c, i, g, &c->out_shape[0]);
    return c->st;
}

static weft_status grad_Sub(weft_grad_ctx *c)
{
    int g = weft_grad_dout(c, 0);
    weft_grad_to_bcast(c, 0, g, &c->out_shape[0]);
    if (c->want[1]) weft_grad_to_bcast(c, 1, weft_grad_op1(c, "Neg", g), &c->out_shape[0]);
    return c->st;
}

static weft_status grad_Mul(weft_grad_ctx *c)
{
    int g = weft_grad_dout(c, 0);
    if (c->want[0]) weft_grad_to_bcast(c, 0, weft_grad_op2(c, "Mul", g, c->in[1]), &c->out_shape[0]);
    if (c->want[1]) weft_grad_to_bcast(c, 1, weft_grad_op2(c, "Mul", g, c->in[0]), &c->out_shape[0]);
    return c->st;
}

/* y = a / b: da = g / b, db = -g a / b^2 = -(g y) / b. */
static weft_status grad_Div(weft_grad_ctx *c)
{
    int g = weft_grad_dout(c, 0);
    if (c->want[0]) weft_grad_to_bcast(c, 0, weft_grad_op2(c, "Div", g, c->in[1]), &c->out_shape[0]);
    if (c->want[1]) {
        int q = weft_grad_op2(c, "Div", weft_grad_op2(c, "Mul", g, c->out[0]), c->in[1]);
        weft_grad_to_bcast(c, 1, weft_grad_op1(c, "Neg", q), &c->out_shape[0]);
    }
    return c->st;
}

/* y = a^b: da = g b a^(b-1), db = g y log(a). */
static weft_status grad_Pow(weft_grad_ctx *c)
{
    int g = weft_grad_dout(c, 0);
    if (c->want[0]) {
        if (c->in_dtype[1] != c->dtype)
            return weft_grad_fail(c, WEFT_ERR_UNSUPPORTED, "an exponent of another type than the base");
        int am1 = weft_grad_op2(c, "Pow", c->in[0], weft_grad_op2(c, "Sub", c->in[1], weft_grad_scalar(c, 1.0)));
        int d = weft_grad_op2(c, "Mul", g, weft_grad_op2(c, "Mul", c->in[1], am1));
        weft_grad_to_bcast(c, 0, d, &c->out_shape[0]);
    }
    if (c->want[1]) {
        int d = weft_grad_op2(c, "Mul", weft_grad_op2(c, "Mul", g, c->out[0]), weft_grad_op1(c, "Log", c->in[0]));
        weft_grad_to_bcast(c, 1, d, &c->out_shape[0]);
    }
    return c->st;
}

/* y = cond ? a : b: the gradient goes to the input chosen, zeros to the other. */
static weft_status grad_Where(weft_grad_ctx *c)
{
    int g = weft_grad_dout(c, 0), z = weft_grad_scalar(c, 0.0);
    if (c->want[1]) {
        int in[3] = {c->in[0], g, z};
        weft_grad_to_bcast(c, 1, weft_grad_op(c, "Where", in, 3, NULL, 0), &c->out_shape[0]);
    }
    if (c->want[2]) {
        int in[3] = {c->in[0], z, g};
        weft_grad_to_bcast(c, 2, weft_grad_op(c, "Where", in, 3, NULL, 0), &c->out_shape[0]);
    }
    return c->st;
}

/* Max / Min: the gradient goes to the input the output was taken from. On ties the first such input
 * gets all of it (a later one only where no earlier one equals the output), so the gradients add up to
 * g exactly once; Max(x, eps) as exporters write clamp(x, min=eps) then matches PyTorch's clamp. */
static weft_status grad_extremum(weft_grad_ctx *c)
{
    int g = weft_grad_dout(c, 0), z = weft_grad_scalar(c, 0.0), taken = -1;
    for (int i = 0; i < c->n_in && !c->st; i++) {
        bool later = false;
        for (int j = i + 1; j < c->n_in; j++) later |= c->want[j];
        if (!c->want[i] && !later) break;
        int eq = weft_grad_op2(c, "Equal", c->in[i], c->out[0]), mine = eq;
        if (taken >= 0) mine = weft_grad_op2(c, "And", eq, weft_grad_op1(c, "Not", taken));
        if (c->want[i]) {
            int in[3] = {mine, g, z};
            weft_grad_to_bcast(c, i, weft_grad_op(c, "Where", in, 3, NULL, 0), &c->out_shape[0]);
        }
        taken = taken < 0 ? eq : weft_grad_op2(c, "Or", taken, eq);
    }
    return c->st;
}

static weft_status grad_Mean(weft_grad_ctx *c)
{
    int g = weft_grad_op2(c, "Div", weft_grad_dout(c, 0), weft_grad_scalar(c, c->n_in));
    for (int i = 0; i < c->n_in; i++) weft_grad_to_bcast(c, i, g, &c->out_shape[0]);
    return c->st;
}

/* y = x > 0 ? x : slope x: dx = g or g slope, dslope = g x where x <= 0. */
static weft_status grad_PRelu(weft_grad_ctx *c)
{
    int g = weft_grad_dout(c, 0), pos = weft_grad_op2(c, "Greater", c->in[0], weft_grad_scalar(c, 0.0));
    if (c->want[0]) {
        int in[3] = {pos, g, weft_grad_op2(c, "Mul", g, c->in[1])};
        weft_grad_to_bcast(c, 0, weft_grad_op(c, "Where", in, 3, NULL, 0), &c->out_shape[0]);
    }
    if (c->want[1]) {
        int in[3] = {pos, weft_grad_scalar(c, 0.0), weft_grad_op2(c, "Mul", g, c->in[0])};
        weft_grad_to_bcast(c, 1, weft_grad_op(c, "Where", in, 3, NULL, 0), &c->out_shape[0]);
    }
    return c->st;
}

/* --- the table ------------------------------------------------------------------------------------ */

/* Every op of the family: X(name, kind, dtypes of the data inputs, output is bool, variadic, first opset,
 * fewest inputs, most inputs, gradient rule or NULL). */
#define VAR_IN 2147483647
#define BINARY_OPS(X)                                                   \
    X(Add, B_ADD, T_NUM, false, false, 1, 2, 2, grad_Add)               \
    X(Sub, B_SUB, T_NUM, false, false, 1, 2, 2, grad_Sub)               \
    X(Mul, B_MUL, T_NUM, false, false, 1, 2, 2, grad_Mul)               \
    X(Div, B_DIV, T_NUM, false, false, 1, 2, 2, grad_Div)               \
    X(Pow, B_POW, T_FLT | T_I3264, false, false, 1, 2, 2, grad_Pow)     \
    X(Mod, B_MOD, T_NUM, false, false, 10, 2, 2, NULL)                  \
    X(Equal, B_EQUAL, T_ANY, true, false, 1, 2, 2, NULL)                \
    X(Less, B_LESS, T_NUM, true, false, 1, 2, 2, NULL)                  \
    X(LessOrEqual, B_LESSEQ, T_NUM, true, false, 12, 2, 2, NULL)        \
    X(Greater, B_GREATER, T_NUM, true, false, 1, 2, 2, NULL)            \
    X(GreaterOrEqual, B_GREATEREQ, T_NUM, true, false, 12, 2, 2, NULL)  \
    X(And, B_AND, T_BOOL, true, false, 1, 2, 2, NULL)                   \
    X(Or, B_OR, T_BOOL, true, false, 1, 2, 2, NULL)                     \
    X(Xor, B_XOR, T_BOOL, true, false, 1, 2, 2, NULL)                   \
    X(BitShift, B_BITSHIFT, T_UINT, false, false, 11, 2, 2, NULL)       \
    X(BitwiseAnd, B_BAND, T_INT, false, false, 18, 2, 2, NULL)          \
    X(BitwiseOr, B_BOR, T_INT, false, false, 18, 2, 2, NULL)            \
    X(BitwiseXor, B_BXOR, T_INT, false, false, 18, 2, 2, NULL)          \
    X(Where, B_WHERE, T_ANY, false, false, 9, 3, 3, grad_Where)         \
    X(PRelu, B_PRELU, T_NUM, false, false, 1, 2, 2, grad_PRelu)             \
    X(Max, B_MAX, T_NUM, false, true, 1, 1, VAR_IN, grad_extremum)             \
    X(Min, B_MIN, T_NUM, false, true, 1, 1, VAR_IN, grad_extremum)             \
    X(Sum, B_SUM, T_FLT, false, true, 1, 1, VAR_IN, grad_Sum)           \
    X(Mean, B_MEAN, T_FLT, false, true, 1, 1, VAR_IN, grad_Mean)

/* One descriptor and one pair of wrappers per op. */
#define BINARY_WRAP(name, kind, types, to_bool, variadic, since, min_in, max_in, grad)              \
    static const bdesc desc_##name = {kind, types, to_bool, variadic};                             \
    static weft_status infer_##name(weft_infer_ctx *c) { return binary_infer(c, &desc_##name); }   \
    static weft_status run_##name(weft_kernel_ctx *k) { return binary_run(k, &desc_##name); }
BINARY_OPS(BINARY_WRAP)
#undef BINARY_WRAP

#define BINARY_DEF(name, kind, types, to_bool, variadic, since, min_in, max_in, grad)              \
    {#name, "", since, 0, min_in, max_in, 1, 1, 0, infer_##name, run_##name, 0, grad},

const weft_op_def weft_ops_binary[] = {BINARY_OPS(BINARY_DEF)};
#undef BINARY_DEF
const int weft_ops_binary_count = sizeof weft_ops_binary / sizeof weft_ops_binary[0];
