/*
 * ops/cpu/eltwise.c — float32 / float64 elementwise ops: Add, Sub, Mul, Div (same shape, or an operand
 * broadcast as a repeated row — a row vector, a scalar — or as a column: [N, 1] against [N, F]),
 * Relu, LeakyRelu, Elu, Sigmoid, Tanh, Exp, and Expand in those same two broadcast forms (the
 * gradients of means and broadcasts are made of it).
 *
 * Arithmetic and Relu / LeakyRelu give the reference's bits (one IEEE operation in the tensor's type;
 * LeakyRelu's alpha is a float attribute, so alpha * x rounded once to float is what the reference's
 * double product rounded to float gives). Elu, Sigmoid, Tanh and Exp use the vectorisable functions of
 * vmath.h in double: within a few ulp of double of libm's, so float32 results almost always match the
 * reference's bits and float64 ones agree within 1e-15 relative.
 *
 * Work is split into contiguous element ranges, one per thread; broadcasts other than the ones above
 * go to the reference kernel. The unary ops have AVX2 / AVX-512 clones (the vectorised functions are
 * compute-bound); the arithmetic is memory-bound and has one version.
 */
#include <stdlib.h>
#include <string.h>

#include "vmath.h"

/* --- unary --------------------------------------------------------------------------------------- */

enum { U_RELU, U_LEAKYRELU, U_ELU, U_SIGMOID, U_TANH, U_EXP };

static const char *const unary_names[] = {"Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Exp"};

typedef struct {
    const void *x;
    void *y;
    int64_t n;
    int op;
    double alpha;
    int nt;
    void (*fn)(const void *x, void *y, int64_t b, int64_t e, int op, double alpha);
} unary_job;

/* One loop per op (a switch inside the loop would keep it from vectorising). */
#define DEF_UNARY(T, S)                                                                            \
    WEFT_CPU_INLINE void unary_##S##_body(const void *xv, void *yv, int64_t b, int64_t e, int op, double alpha) \
    {                                                                                              \
        const T *restrict x = (const T *)xv;                                                       \
        T *restrict y = (T *)yv;                                                                   \
        const T at = (T)alpha;                                                                     \
        switch (op) {                                                                              \
        case U_RELU:                                                                               \
            for (int64_t i = b; i < e; i++) y[i] = x[i] < 0 ? (T)0 : x[i];                         \
            break;                                                                                 \
        case U_LEAKYRELU:                                                                          \
            for (int64_t i = b; i < e; i++) y[i] = x[i] < 0 ? at * x[i] : x[i];                    \
            break;                                                                                 \
        case U_ELU:                                                                                \
            for (int64_t i = b; i < e; i++) {                                                      \
                double v = (double)x[i];                                                           \
                y[i] = (T)(v < 0 ? alpha * weft_vexpm1(v) : v);                                    \
            }                                                                                      \
            break;                                                                                 \
        case U_SIGMOID:                                                                            \
            for (int64_t i = b; i < e; i++) y[i] = (T)weft_vsigmoid((double)x[i]);                 \
            break;                                                                                 \
        case U_TANH:                                                                               \
            for (int64_t i = b; i < e; i++) y[i] = (T)weft_vtanh((double)x[i]);                    \
            break;                                                                                 \
        default:                                                                                   \
            for (int64_t i = b; i < e; i++) y[i] = (T)weft_vexp((double)x[i]);                     \
            break;                                                                                 \
        }                                                                                          \
    }                                                                                              \
    WEFT_CPU_CLONES(unary_##S, (const void *xv, void *yv, int64_t b, int64_t e, int op, double alpha), \
                    (xv, yv, b, e, op, alpha))
DEF_UNARY(float, f32)
DEF_UNARY(double, f64)
#undef DEF_UNARY

static void unary_task(void *ctx, int t, int nt)
{
    unary_job *j = ctx;
    for (int part = t; part < j->nt; part += nt) {
        int64_t b, e;
        weft_cpu_part(j->n, part, j->nt, &b, &e);
        j->fn(j->x, j->y, b, e, j->op, j->alpha);
    }
}

static int unary_op(const char *name)
{
    for (int i = 0; i < (int)(sizeof unary_names / sizeof unary_names[0]); i++)
        if (strcmp(unary_names[i], name) == 0) return i;
    return -1;
}

static bool unary_supports(const weft_step_desc *s)
{
    if (s->def->domain && s->def->domain[0]) return false;
    return unary_op(s->def->name) >= 0 && s->n_in >= 1 && weft_cpu_float(s->in_dtype[0]);
}

static weft_status unary_prepare(const weft_step_desc *s, void **prepared)
{
    weft_cpu_prep *p;
    weft_status st = weft_cpu_prep_new(s, &p);
    if (st) return st;
    p->kind = unary_op(s->def->name);
    /* the reference's defaults, read as float like the reference reads them */
    if (p->kind == U_LEAKYRELU) p->alpha = weft_attr_float(s->node, "alpha", 0.01f);
    if (p->kind == U_ELU) p->alpha = weft_attr_float(s->node, "alpha", 1.0f);
    *prepared = p;
    return WEFT_OK;
}

static weft_status unary_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    const weft_tview *x = &k->in[0];
    if (!weft_cpu_float(x->dtype) || k->out[0].dtype != x->dtype || k->out[0].numel != x->numel) return p->def->run(k);
    /* transcendental ops cost ~10x an add per element: a lower threshold for them */
    int64_t work = x->numel * (p->kind >= U_ELU ? 8 : 1);
    unary_job j = {x->data, k->out[0].data, x->numel, p->kind, p->alpha, weft_cpu_threads_for(k, work), NULL};
    j.fn = x->dtype == WEFT_FLOAT32 ? unary_f32_pick() : unary_f64_pick();
    if (x->numel) weft_cpu_parallel(j.nt, unary_task, &j);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_unary = {"", "Relu|LeakyRelu|Elu|Sigmoid|Tanh|Exp", unary_supports, unary_prepare,
                                       unary_run, weft_cpu_prep_free};

/* --- binary -------------------------------------------------------------------------------------- */

enum { B_ADD, B_SUB, B_MUL, B_DIV };

static const char *const binary_names[] = {"Add", "Sub", "Mul", "Div"};

/* How an operand maps output element i: a repeated row (a[i % period]; period 1 is a scalar, the
 * output's size the same shape) or a column (a[i / inner]). */
typedef struct {
    const void *data;
    bool col;
    int64_t period, inner;
} operand;

/* Classifies operand t against the output's dims; false when it is neither form. */
static bool classify(const weft_tview *t, const weft_tview *out, operand *o)
{
    int R = out->rank;
    if (t->rank > R) return false;
    int64_t pad[WEFT_MAX_RANK];
    for (int d = 0; d < R; d++) pad[d] = d < R - t->rank ? 1 : t->dims[d - (R - t->rank)];
    o->data = t->data;
    /* row: 1s, then the output's trailing dims */
    int p = R;
    while (p > 0 && pad[p - 1] == out->dims[p - 1]) p--;
    bool row = true;
    for (int d = 0; d < p; d++) row &= pad[d] == 1;
    if (row) {
        o->col = false;
        o->period = t->numel;
        return true;
    }
    /* column: the output's leading dims, then 1s */
    p = 0;
    while (p < R && pad[p] == out->dims[p]) p++;
    int64_t inner = 1;
    for (int d = p; d < R; d++) {
        if (pad[d] != 1) return false;
        inner *= out->dims[d];
    }
    o->col = true;
    o->inner = inner;
    return true;
}

typedef struct {
    operand a, b;
    void *y;
    int64_t n;
    size_t es;
    int op, nt;
    void (*fn)(const void *a, int sa, const void *b, int sb, void *y, int64_t len, int op);
} binary_job;

/* y[0..len) = a op b where an operand advances (stride 1) or stays (stride 0). */
#define DEF_BINARY(T, S)                                                                           \
    WEFT_CPU_INLINE void binary_##S##_body(const void *av, int sa, const void *bv, int sb, void *yv, int64_t len,   \
                                           int op)                                                       \
    {                                                                                              \
        const T *restrict a = (const T *)av, *restrict b = (const T *)bv;                          \
        T *restrict y = (T *)yv;                                                                   \
        if (sa && sb) {                                                                            \
            switch (op) {                                                                          \
            case B_ADD: for (int64_t i = 0; i < len; i++) y[i] = a[i] + b[i]; break;               \
            case B_SUB: for (int64_t i = 0; i < len; i++) y[i] = a[i] - b[i]; break;               \
            case B_MUL: for (int64_t i = 0; i < len; i++) y[i] = a[i] * b[i]; break;               \
            default: for (int64_t i = 0; i < len; i++) y[i] = a[i] / b[i]; break;                  \
            }                                                                                      \
        } else if (sa) {                                                                           \
            const T c = b[0];                                                                      \
            switch (op) {                                                                          \
            case B_ADD: for (int64_t i = 0; i < len; i++) y[i] = a[i] + c; break;                  \
            case B_SUB: for (int64_t i = 0; i < len; i++) y[i] = a[i] - c; break;                  \
            case B_MUL: for (int64_t i = 0; i < len; i++) y[i] = a[i] * c; break;                  \
            default: for (int64_t i = 0; i < len; i++) y[i] = a[i] / c; break;                     \
            }                                                                                      \
        } else if (sb) {                                                                           \
            const T c = a[0];                                                                      \
            switch (op) {                                                                          \
            case B_ADD: for (int64_t i = 0; i < len; i++) y[i] = c + b[i]; break;                  \
            case B_SUB: for (int64_t i = 0; i < len; i++) y[i] = c - b[i]; break;                  \
            case B_MUL: for (int64_t i = 0; i < len; i++) y[i] = c * b[i]; break;                  \
            default: for (int64_t i = 0; i < len; i++) y[i] = c / b[i]; break;                     \
            }                                                                                      \
        } else {                                                                                   \
            const T c = a[0], d = b[0];                                                            \
            const T v = op == B_ADD ? c + d : op == B_SUB ? c - d : op == B_MUL ? c * d : c / d;   \
            for (int64_t i = 0; i < len; i++) y[i] = v;                                            \
        }                                                                                          \
    }                                                                                              \
    WEFT_CPU_SINGLE(binary_##S, (const void *av, int sa, const void *bv, int sb, void *yv, int64_t len, int op), \
                    (av, sa, bv, sb, yv, len, op))
DEF_BINARY(float, f32)
DEF_BINARY(double, f64)
#undef DEF_BINARY

/* Where operand o is at output element i, whether it advances with i, and for how many elements it
 * keeps doing what it does. */
static inline int64_t locate(const operand *o, int64_t i, int64_t *at, int *stride)
{
    if (o->col) {
        *at = i / o->inner;
        *stride = 0;
        return o->inner - i % o->inner;
    }
    if (o->period == 1) {
        *at = 0;
        *stride = 0;
        return INT64_MAX;
    }
    *at = i % o->period;
    *stride = 1;
    return o->period - *at;
}

static void binary_task(void *ctx, int t, int nt)
{
    binary_job *j = ctx;
    const size_t es = j->es;
    for (int part = t; part < j->nt; part += nt) {
        int64_t b, e;
        weft_cpu_part(j->n, part, j->nt, &b, &e);
        for (int64_t i = b; i < e;) {
            int64_t pa, pb;
            int sa, sb;
            int64_t len = e - i, la = locate(&j->a, i, &pa, &sa), lb = locate(&j->b, i, &pb, &sb);
            if (la < len) len = la;
            if (lb < len) len = lb;
            j->fn((const char *)j->a.data + pa * es, sa, (const char *)j->b.data + pb * es, sb,
                  (char *)j->y + i * es, len, j->op);
            i += len;
        }
    }
}

static int binary_op(const char *name)
{
    for (int i = 0; i < (int)(sizeof binary_names / sizeof binary_names[0]); i++)
        if (strcmp(binary_names[i], name) == 0) return i;
    return -1;
}

static bool binary_supports(const weft_step_desc *s)
{
    if (s->def->domain && s->def->domain[0]) return false;
    return binary_op(s->def->name) >= 0 && s->n_in == 2 && weft_cpu_float(s->in_dtype[0]) &&
           s->in_dtype[1] == s->in_dtype[0];
}

static weft_status binary_prepare(const weft_step_desc *s, void **prepared)
{
    weft_cpu_prep *p;
    weft_status st = weft_cpu_prep_new(s, &p);
    if (st) return st;
    p->kind = binary_op(s->def->name);
    *prepared = p;
    return WEFT_OK;
}

static weft_status binary_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    const weft_tview *a = &k->in[0], *b = &k->in[1];
    weft_tview *y = &k->out[0];
    binary_job j = {.y = y->data, .n = y->numel, .es = weft_dtype_size(a->dtype), .op = p->kind};
    if (k->n_in != 2 || !weft_cpu_float(a->dtype) || b->dtype != a->dtype || y->dtype != a->dtype ||
        !classify(a, y, &j.a) || !classify(b, y, &j.b))
        return p->def->run(k);
    if (y->numel == 0) return WEFT_OK;
    j.nt = weft_cpu_threads_for(k, y->numel);
    j.fn = a->dtype == WEFT_FLOAT32 ? binary_f32_pick() : binary_f64_pick();
    weft_cpu_parallel(j.nt, binary_task, &j);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_binary = {"", "Add|Sub|Mul|Div", binary_supports, binary_prepare, binary_run,
                                        weft_cpu_prep_free};

/* --- Expand -------------------------------------------------------------------------------------- */

typedef struct {
    operand x;
    void *y;
    int64_t n;
    size_t es;
    int nt;
} expand_job;

static void expand_task(void *ctx, int t, int nt)
{
    expand_job *j = ctx;
    const size_t es = j->es;
    int64_t b, e;
    weft_cpu_part(j->n, t, nt, &b, &e);
    for (int64_t i = b; i < e;) {
        int64_t at;
        int stride;
        int64_t len = locate(&j->x, i, &at, &stride);
        if (len > e - i) len = e - i;
        const char *src = (const char *)j->x.data + at * es;
        char *dst = (char *)j->y + i * es;
        if (stride) {
            memcpy(dst, src, (size_t)len * es); /* a stretch of the repeated row */
        } else if (es == 4) {
            uint32_t v;
            memcpy(&v, src, 4);
            for (int64_t k = 0; k < len; k++) ((uint32_t *)dst)[k] = v;
        } else {
            uint64_t v;
            memcpy(&v, src, 8);
            for (int64_t k = 0; k < len; k++) ((uint64_t *)dst)[k] = v;
        }
        i += len;
    }
}

static bool expand_supports(const weft_step_desc *s)
{
    if (!weft_cpu_is_op(s, "", "Expand") || s->n_in != 2) return false;
    return weft_cpu_float(s->in_dtype[0]) && s->out_dtype[0] == s->in_dtype[0];
}

static weft_status expand_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    const weft_tview *x = &k->in[0];
    weft_tview *y = &k->out[0];
    expand_job j = {.y = y->data, .n = y->numel, .es = weft_dtype_size(x->dtype)};
    /* the output's shape (from the shape input) was inferred and checked by the reference's rules */
    if (!weft_cpu_float(x->dtype) || y->dtype != x->dtype || !classify(x, y, &j.x) || (j.x.col ? 0 : j.x.period) > y->numel)
        return p->def->run(k);
    if (y->numel == 0) return WEFT_OK;
    j.nt = weft_cpu_threads_for(k, y->numel);
    weft_cpu_parallel(j.nt, expand_task, &j);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_expand = {"", "Expand", expand_supports, weft_cpu_prepare_plain, expand_run,
                                        weft_cpu_prep_free};
