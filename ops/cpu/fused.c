/*
 * ops/cpu/fused.c — ai.weft FusedElementwise: a program of elementwise instructions (ops/weft_fused.h)
 * run over blocks of BLOCK elements instead of element by element.
 *
 * Each register is a block of BLOCK values (a few KiB: the live registers stay in L1); an instruction
 * is one tight loop over the block, which the compiler vectorises, so the interpretation costs one
 * dispatch per instruction per block rather than per element. Inputs of the output's shape are read
 * in place; scalars and constants are filled into a block once per thread; other broadcasts are
 * gathered into their block for each block. The last instruction writes straight into the output.
 * An instruction whose destination is also an operand writes a spare block, which then takes the
 * register's place, so every loop reads and writes distinct blocks.
 *
 * Arithmetic, Max / Min, Neg, Abs, Relu, LeakyRelu, Sqrt and Reciprocal give the reference's bits (one
 * rounding, or a double result rounded once to T, which for these is the same thing). Exp, Sigmoid,
 * Tanh, Elu, Erf and Gelu (both forms: erf, and the tanh approximation) use vmath.h's vectorisable
 * forms, as the CPU kernels of the ONNX ops do (within a few ulp of double: float32 results nearly
 * always bit for bit, float64 within 1e-15 relative). Gelu keeps the reference's formula around them,
 * 0.5 x (1 + erf(x / sqrt 2)) or 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), in double. Pow by
 * a constant 2 or 3 multiplies in double (for float32 the exact square, and the cube rounded once: the
 * correctly rounded power, which libm's pow gives within its last bit). Log, Cos, Sin, Softplus and
 * other powers call libm per element, exactly as the reference.
 */
#include <stdlib.h>
#include <string.h>

#include "../weft_fused.h"
#include "vmath.h"

#define BLOCK 256

typedef struct {
    const weft_op_def *def;
    int n_insns, n_inputs, n_regs, out_reg, n_consts;
    int64_t *code;    /* 4 per instruction */
    double *alpha;    /* per instruction, defaults resolved */
    float *consts;
} fused_prep;

/* How an input reaches its register. */
enum { IN_DIRECT, IN_SCALAR, IN_BROADCAST };

typedef struct {
    const fused_prep *p;
    const weft_kernel_ctx *k;
    void *y;
    int64_t n;                         /* output elements */
    int R;                             /* output rank */
    const int64_t *dims;               /* output dims */
    int kind[WEFT_FUSED_MAX_REGS];     /* per input */
    int64_t *strides;                  /* n_inputs x R broadcast strides */
    char *mem;                         /* scratch: per part, `per_part` bytes */
    size_t per_part;
    int nt;
    void (*fn)(const void *job, int part, int64_t b, int64_t e);
} fused_job;

static void fused_release(void *prepared)
{
    fused_prep *p = prepared;
    if (!p) return;
    free(p->code);
    free(p->alpha);
    free(p->consts);
    free(p);
}

/* Fills block out[0..len) with input x's elements at output positions [i0, i0 + len). */
#define DEF_FILL(T, S)                                                                             \
    static void fill_##S(const fused_job *j, int in, int64_t i0, int64_t len, T *restrict out)    \
    {                                                                                              \
        const int R = j->R;                                                                        \
        const int64_t *st = j->strides + (size_t)in * R, *dims = j->dims;                          \
        const T *x = j->k->in[in].data;                                                            \
        int64_t idx[WEFT_MAX_RANK], off = 0, rem = i0;                                             \
        for (int d = R - 1; d >= 0; d--) {                                                         \
            idx[d] = rem % dims[d];                                                                \
            rem /= dims[d];                                                                        \
            off += idx[d] * st[d];                                                                 \
        }                                                                                          \
        const int64_t last = dims[R - 1], ls = st[R - 1];                                          \
        for (int64_t done = 0; done < len;) {                                                      \
            int64_t run = last - idx[R - 1];                                                       \
            if (run > len - done) run = len - done;                                                \
            if (ls == 1) memcpy(out + done, x + off, (size_t)run * sizeof(T));                     \
            else for (int64_t q = 0; q < run; q++) out[done + q] = x[off + q * ls];                \
            done += run;                                                                           \
            off += run * ls;                                                                       \
            idx[R - 1] += run;                                                                     \
            for (int d = R - 1; d > 0 && idx[d] == dims[d]; d--) { /* carry into the axes before */ \
                off -= idx[d] * st[d];                                                             \
                idx[d] = 0;                                                                        \
                idx[d - 1]++;                                                                      \
                off += st[d - 1];                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
DEF_FILL(float, f32)
DEF_FILL(double, f64)
#undef DEF_FILL

/* One instruction over a block: y[i] = op(a[i], b[i]). */
#define DEF_EXEC(T, S)                                                                             \
    WEFT_CPU_INLINE void exec_##S(int op, const T *restrict a, const T *restrict b, T *restrict y, int64_t len, \
                                  double alpha)                                                    \
    {                                                                                              \
        switch (op) {                                                                              \
        case WEFT_FUSED_ADD: for (int64_t i = 0; i < len; i++) y[i] = a[i] + b[i]; break;          \
        case WEFT_FUSED_SUB: for (int64_t i = 0; i < len; i++) y[i] = a[i] - b[i]; break;          \
        case WEFT_FUSED_MUL: for (int64_t i = 0; i < len; i++) y[i] = a[i] * b[i]; break;          \
        case WEFT_FUSED_DIV: for (int64_t i = 0; i < len; i++) y[i] = a[i] / b[i]; break;          \
        case WEFT_FUSED_MAX:                                                                       \
            for (int64_t i = 0; i < len; i++) y[i] = (a[i] > b[i] || a[i] != a[i]) ? a[i] : b[i];  \
            break;                                                                                 \
        case WEFT_FUSED_MIN:                                                                       \
            for (int64_t i = 0; i < len; i++) y[i] = (a[i] < b[i] || a[i] != a[i]) ? a[i] : b[i];  \
            break;                                                                                 \
        case WEFT_FUSED_NEG: for (int64_t i = 0; i < len; i++) y[i] = -a[i]; break;                \
        case WEFT_FUSED_ABS: for (int64_t i = 0; i < len; i++) y[i] = (T)fabs((double)a[i]); break; \
        case WEFT_FUSED_RELU: for (int64_t i = 0; i < len; i++) y[i] = a[i] < 0 ? (T)0 : a[i]; break; \
        case WEFT_FUSED_LEAKY_RELU:                                                                \
            for (int64_t i = 0; i < len; i++) y[i] = a[i] < 0 ? (T)(alpha * (double)a[i]) : a[i];  \
            break;                                                                                 \
        case WEFT_FUSED_SQRT: for (int64_t i = 0; i < len; i++) y[i] = (T)sqrt((double)a[i]); break; \
        case WEFT_FUSED_RECIPROCAL: for (int64_t i = 0; i < len; i++) y[i] = (T)(1.0 / (double)a[i]); break; \
        case WEFT_FUSED_EXP: for (int64_t i = 0; i < len; i++) y[i] = (T)weft_vexp((double)a[i]); break; \
        case WEFT_FUSED_SIGMOID: for (int64_t i = 0; i < len; i++) y[i] = (T)weft_vsigmoid((double)a[i]); break; \
        case WEFT_FUSED_TANH: for (int64_t i = 0; i < len; i++) y[i] = (T)weft_vtanh((double)a[i]); break; \
        case WEFT_FUSED_ELU:                                                                       \
            for (int64_t i = 0; i < len; i++) {                                                    \
                double v = (double)a[i];                                                           \
                y[i] = (T)(v < 0 ? alpha * weft_vexpm1(v) : v);                                    \
            }                                                                                      \
            break;                                                                                 \
        case WEFT_FUSED_ERF: for (int64_t i = 0; i < len; i++) y[i] = (T)weft_verf((double)a[i]); break; \
        case WEFT_FUSED_GELU:                                                                      \
            if (alpha != 0)                                                                        \
                for (int64_t i = 0; i < len; i++) {                                                \
                    double v = (double)a[i];                                                       \
                    y[i] = (T)(0.5 * v * (1.0 + weft_vtanh(0.79788456080286535588 * (v + 0.044715 * v * v * v)))); \
                }                                                                                  \
            else                                                                                   \
                for (int64_t i = 0; i < len; i++) {                                                \
                    double v = (double)a[i];                                                       \
                    y[i] = (T)(0.5 * v * (1.0 + weft_verf(v * 0.70710678118654752440)));           \
                }                                                                                  \
            break;                                                                                 \
        case WEFT_FUSED_POW:                                                                       \
            if (alpha == 3.0)                                                                      \
                for (int64_t i = 0; i < len; i++) y[i] = (T)((double)a[i] * (double)a[i] * (double)a[i]); \
            else if (alpha == 2.0)                                                                 \
                for (int64_t i = 0; i < len; i++) y[i] = (T)((double)a[i] * (double)a[i]);         \
            else                                                                                   \
                for (int64_t i = 0; i < len; i++) y[i] = (T)pow((double)a[i], (double)b[i]);       \
            break;                                                                                 \
        default: /* libm per element, as the reference */                                          \
            for (int64_t i = 0; i < len; i++) y[i] = (T)weft_fused_unary(op, (double)a[i], alpha); \
            break;                                                                                 \
        }                                                                                          \
    }

/* The program over output elements [b, e) with the registers of `part`. */
#define DEF_FUSED(T, S)                                                                            \
    DEF_EXEC(T, S)                                                                                 \
    WEFT_CPU_INLINE void fused_##S##_body(const void *jv, int part, int64_t b, int64_t e)          \
    {                                                                                              \
        const fused_job *j = jv;                                                                   \
        const fused_prep *p = j->p;                                                                \
        T *reg[WEFT_FUSED_MAX_REGS];                                                               \
        T *blk = (T *)(j->mem + (size_t)part * j->per_part);                                       \
        T *cst = blk + (size_t)p->n_regs * BLOCK, *spare = cst + (size_t)p->n_consts * BLOCK;      \
        for (int r = 0; r < p->n_regs; r++) reg[r] = blk + (size_t)r * BLOCK;                      \
        for (int c = 0; c < p->n_consts; c++)                                                      \
            for (int i = 0; i < BLOCK; i++) cst[(size_t)c * BLOCK + i] = (T)p->consts[c];          \
        for (int r = 0; r < p->n_inputs; r++)                                                      \
            if (j->kind[r] == IN_SCALAR) {                                                         \
                const T v = *(const T *)j->k->in[r].data;                                          \
                for (int i = 0; i < BLOCK; i++) reg[r][i] = v;                                     \
            }                                                                                      \
        T *y = j->y;                                                                               \
        for (int64_t i0 = b; i0 < e; i0 += BLOCK) {                                                \
            const int64_t len = e - i0 < BLOCK ? e - i0 : BLOCK;                                   \
            const T *in[WEFT_FUSED_MAX_REGS];                                                      \
            for (int r = 0; r < p->n_inputs; r++) {                                                \
                if (j->kind[r] == IN_DIRECT) in[r] = (const T *)j->k->in[r].data + i0;             \
                else {                                                                             \
                    if (j->kind[r] == IN_BROADCAST) fill_##S(j, r, i0, len, reg[r]);               \
                    in[r] = reg[r];                                                                \
                }                                                                                  \
            }                                                                                      \
            for (int q = 0; q < p->n_insns; q++) {                                                 \
                const int64_t *c = p->code + 4 * q;                                                \
                const int op = (int)c[0];                                                          \
                const T *a = c[2] < 0 ? cst + (size_t)(-1 - c[2]) * BLOCK : c[2] < p->n_inputs ? in[c[2]] : reg[c[2]]; \
                const T *bb = a;                                                                   \
                if (weft_fused_is_binary(op))                                                      \
                    bb = c[3] < 0 ? cst + (size_t)(-1 - c[3]) * BLOCK : c[3] < p->n_inputs ? in[c[3]] : reg[c[3]]; \
                if (q == p->n_insns - 1) {                                                         \
                    exec_##S(op, a, bb, y + i0, len, p->alpha[q]);                                 \
                } else {                                                                           \
                    exec_##S(op, a, bb, spare, len, p->alpha[q]);                                  \
                    T *old = reg[c[1]];                                                            \
                    reg[c[1]] = spare;                                                             \
                    spare = old;                                                                   \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    WEFT_CPU_CLONES(fused_##S, (const void *jv, int part, int64_t b, int64_t e), (jv, part, b, e))
DEF_FUSED(float, f32)
DEF_FUSED(double, f64)
#undef DEF_FUSED
#undef DEF_EXEC

static void fused_task(void *ctx, int t, int nt)
{
    fused_job *j = ctx;
    for (int part = t; part < j->nt; part += nt) {
        int64_t b, e;
        weft_cpu_part(j->n, part, j->nt, &b, &e);
        if (b < e) j->fn(j, part, b, e);
    }
}

static bool fused_supports(const weft_step_desc *s)
{
    if (!weft_cpu_is_op(s, "ai.weft", "FusedElementwise") || s->n_in < 1 || s->n_in >= WEFT_FUSED_MAX_REGS)
        return false;
    for (int i = 0; i < s->n_in; i++)
        if (!weft_cpu_float(s->in_dtype[i]) || s->in_dtype[i] != s->in_dtype[0]) return false;
    return true;
}

static weft_status fused_prepare(const weft_step_desc *s, void **prepared)
{
    weft_fused_program prog;
    weft_status st = weft_fused_program_read(s->node, s->n_in, &prog);
    if (st) return st;
    fused_prep *p = calloc(1, sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    p->def = s->def;
    p->n_insns = prog.n_insns;
    p->n_inputs = prog.n_inputs;
    p->n_regs = prog.n_regs;
    p->out_reg = prog.out_reg;
    p->n_consts = prog.n_consts;
    /* copies: the node's attributes need not outlive the plan's prepared steps */
    p->code = malloc((size_t)prog.n_insns * 4 * sizeof *p->code);
    p->alpha = malloc((size_t)prog.n_insns * sizeof *p->alpha);
    p->consts = malloc((size_t)(prog.n_consts ? prog.n_consts : 1) * sizeof *p->consts);
    if (!p->code || !p->alpha || !p->consts) {
        fused_release(p);
        return weft_error(WEFT_ERR_NOMEM, "out of memory");
    }
    memcpy(p->code, prog.code, (size_t)prog.n_insns * 4 * sizeof *p->code);
    for (int i = 0; i < prog.n_insns; i++) {
        p->alpha[i] = weft_fused_alpha(&prog, i);
        /* Pow by a constant 2 or 3 (the tanh form of GELU cubes its input): products instead of libm's
         * pow, the exponent kept in the instruction's alpha (binary ops have none) */
        const int64_t *c = prog.code + 4 * i;
        if (c[0] == WEFT_FUSED_POW && c[3] < 0) {
            double e = prog.consts[-1 - c[3]];
            p->alpha[i] = e == 2.0 || e == 3.0 ? e : 0.0;
        }
    }
    if (prog.n_consts) memcpy(p->consts, prog.consts, (size_t)prog.n_consts * sizeof *p->consts);
    *prepared = p;
    return WEFT_OK;
}

static weft_status fused_run(const void *prepared, weft_kernel_ctx *k)
{
    const fused_prep *p = prepared;
    weft_tview *y = &k->out[0];
    fused_job j = {.p = p, .k = k, .y = y->data, .n = y->numel, .R = y->rank, .dims = y->dims};
    bool ok = k->n_in == p->n_inputs && weft_cpu_float(y->dtype) && y->rank >= 1;
    for (int i = 0; ok && i < k->n_in; i++) {
        const weft_tview *x = &k->in[i];
        ok = x->dtype == y->dtype && x->rank <= y->rank;
        for (int d = 0; ok && d < x->rank; d++) {
            int64_t v = x->dims[d], o = y->dims[d + y->rank - x->rank];
            ok = v == o || v == 1;
        }
        j.kind[i] = x->numel == y->numel ? IN_DIRECT : x->numel == 1 ? IN_SCALAR : IN_BROADCAST;
    }
    size_t es = weft_dtype_size(y->dtype);
    j.per_part = weft_cpu_round((size_t)(p->n_regs + p->n_consts + 1) * BLOCK * es);
    if (!ok || j.per_part > ((size_t)8 << 20)) return p->def->run(k); /* the reference reports what is wrong */
    if (y->numel == 0) return WEFT_OK;
    j.nt = weft_cpu_threads_for(k, y->numel * p->n_insns);
    /* no more parts than blocks: each part fills its constants once */
    if ((int64_t)j.nt > (y->numel + BLOCK - 1) / BLOCK) j.nt = (int)((y->numel + BLOCK - 1) / BLOCK);
    size_t b_str = weft_cpu_round((size_t)k->n_in * (size_t)y->rank * sizeof(int64_t));
    char *mem = k->scratch(k->user, b_str + j.per_part * (size_t)j.nt);
    if (!mem) return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of scratch memory");
    j.strides = (int64_t *)mem;
    j.mem = mem + b_str;
    for (int i = 0; i < k->n_in; i++)
        weft_broadcast_strides(k->in[i].dims, k->in[i].rank, y->dims, y->rank, j.strides + (size_t)i * y->rank);
    j.fn = y->dtype == WEFT_FLOAT32 ? fused_f32_pick() : fused_f64_pick();
    weft_cpu_parallel(j.nt, fused_task, &j);
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_fused_elementwise = {"ai.weft", "FusedElementwise", fused_supports, fused_prepare,
                                                   fused_run, fused_release};
