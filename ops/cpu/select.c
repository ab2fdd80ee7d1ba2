/*
 * ops/cpu/select.c — float32 / float64 comparisons (Greater, Less, GreaterOrEqual, LessOrEqual, Equal)
 * and Where, each operand either of the output's shape or a single element. Gradients of piecewise
 * functions are made of these (Relu's: Where(y > 0, g, 0)), over whole activations.
 *
 * A comparison is one IEEE comparison (false with a NaN operand), as the reference's; Where copies one
 * of two values. Both give the reference's bits. Work is split into contiguous element ranges; other
 * broadcasts go to the reference kernel.
 */
#include <string.h>

#include "kern.h"

enum { C_GT, C_LT, C_GE, C_LE, C_EQ, C_WHERE };

static const char *const select_names[] = {"Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Equal", "Where"};

static int select_op(const char *name)
{
    for (int i = 0; i < (int)(sizeof select_names / sizeof select_names[0]); i++)
        if (strcmp(select_names[i], name) == 0) return i;
    return -1;
}

static bool select_supports(const weft_step_desc *s)
{
    if (s->def->domain && s->def->domain[0]) return false;
    int op = select_op(s->def->name);
    if (op < 0) return false;
    if (op == C_WHERE)
        return s->n_in == 3 && s->in_dtype[0] == WEFT_BOOL && weft_cpu_float(s->in_dtype[1]) &&
               s->in_dtype[2] == s->in_dtype[1];
    return s->n_in == 2 && weft_cpu_float(s->in_dtype[0]) && s->in_dtype[1] == s->in_dtype[0];
}

static weft_status select_prepare(const weft_step_desc *s, void **prepared)
{
    weft_cpu_prep *p;
    weft_status st = weft_cpu_prep_new(s, &p);
    if (st) return st;
    p->kind = select_op(s->def->name);
    *prepared = p;
    return WEFT_OK;
}

typedef struct {
    const void *in[3];
    bool step[3]; /* advances with the element (else a single element) */
    void *y;
    int64_t n;
    int op, nt;
    bool f64;
} sel_job;

/* Element i of operand o. */
#define AT(T, o, i) (((const T *)j->in[o])[j->step[o] ? (i) : 0])

#define DEF_SELECT(T, S)                                                                           \
    static void select_##S(const sel_job *j, int64_t b, int64_t e)                                 \
    {                                                                                              \
        if (j->op == C_WHERE) {                                                                    \
            const uint8_t *c = j->in[0];                                                           \
            T *restrict y = j->y;                                                                  \
            /* both values are loaded before the choice: a select, not a branch the mask's    \
             * randomness would mispredict half the time */                                        \
            if (j->step[0] && j->step[1] && !j->step[2]) { /* Where(c, g, 0): a gradient's mask */ \
                const T *restrict g = j->in[1], z = ((const T *)j->in[2])[0];                      \
                for (int64_t i = b; i < e; i++) {                                                  \
                    T u = g[i];                                                                    \
                    y[i] = c[i] ? u : z;                                                           \
                }                                                                                  \
            } else {                                                                               \
                for (int64_t i = b; i < e; i++) {                                                  \
                    T u = AT(T, 1, i), v = AT(T, 2, i);                                            \
                    y[i] = c[j->step[0] ? i : 0] ? u : v;                                          \
                }                                                                                  \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        uint8_t *restrict y = j->y;                                                                \
        if (j->step[0] && !j->step[1]) { /* x op constant */                                       \
            const T *restrict x = j->in[0], v = ((const T *)j->in[1])[0];                          \
            switch (j->op) {                                                                       \
            case C_GT: for (int64_t i = b; i < e; i++) y[i] = x[i] > v; break;                     \
            case C_LT: for (int64_t i = b; i < e; i++) y[i] = x[i] < v; break;                     \
            case C_GE: for (int64_t i = b; i < e; i++) y[i] = x[i] >= v; break;                    \
            case C_LE: for (int64_t i = b; i < e; i++) y[i] = x[i] <= v; break;                    \
            default: for (int64_t i = b; i < e; i++) y[i] = x[i] == v; break;                      \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        for (int64_t i = b; i < e; i++) {                                                          \
            T u = AT(T, 0, i), v = AT(T, 1, i);                                                    \
            y[i] = j->op == C_GT ? u > v : j->op == C_LT ? u < v : j->op == C_GE ? u >= v          \
                 : j->op == C_LE ? u <= v : u == v;                                                \
        }                                                                                          \
    }
DEF_SELECT(float, f32)
DEF_SELECT(double, f64)
#undef DEF_SELECT
#undef AT

static void select_task(void *ctx, int t, int nt)
{
    sel_job *j = ctx;
    int64_t b, e;
    weft_cpu_part(j->n, t, nt, &b, &e);
    if (j->f64) select_f64(j, b, e);
    else select_f32(j, b, e);
}

static weft_status select_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    weft_tview *y = &k->out[0];
    int n_in = p->kind == C_WHERE ? 3 : 2;
    weft_dtype ft = k->in[n_in - 1].dtype;
    sel_job j = {.y = y->data, .n = y->numel, .op = p->kind, .f64 = ft == WEFT_FLOAT64};
    bool ok = k->n_in == n_in && weft_cpu_float(ft) && y->dtype == (p->kind == C_WHERE ? ft : WEFT_BOOL);
    for (int i = 0; ok && i < n_in; i++) {
        const weft_tview *t = &k->in[i];
        bool want_bool = p->kind == C_WHERE && i == 0;
        ok = (want_bool ? t->dtype == WEFT_BOOL : t->dtype == ft) && (t->numel == 1 || t->numel == y->numel) &&
             t->rank <= y->rank;
        /* of the output's shape: every dim equal (leading 1s aside) */
        for (int d = 0; ok && t->numel != 1 && d < t->rank; d++) ok = t->dims[d] == y->dims[y->rank - t->rank + d];
        j.in[i] = t->data;
        j.step[i] = t->numel != 1 || y->numel == 1;
    }
    if (!ok) return p->def->run(k);
    if (y->numel == 0) return WEFT_OK;
    j.nt = weft_cpu_threads_for(k, y->numel);
    weft_cpu_parallel(j.nt, select_task, &j);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_select = {"", "Greater|Less|GreaterOrEqual|LessOrEqual|Equal|Where", select_supports,
                                        select_prepare, select_run, weft_cpu_prep_free};
