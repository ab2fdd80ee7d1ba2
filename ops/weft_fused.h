/*
 * ops/weft_fused.h — what the compiler-generated dense ops (schemas/ai.weft.md: FusedMatMul,
 * L2Normalize, FusedElementwise) compute, element by element, shared by the reference kernels
 * (ops/weft_dense.c) and the fast ones (ops/cpu/, ops/cuda/) so that every backend interprets the same
 * program the same way.
 *
 * The scalar functions below are the ONNX ops' own formulas as weft evaluates them (ops/unary.c,
 * ops/binary.c): one-operand ops and Pow are computed in double and rounded once to the element type,
 * the arithmetic ops and Max / Min in the element type itself. A fused chain therefore gives, bit for
 * bit, what the unfused chain of ONNX ops gives. tests/unit/test_ops_fused.c checks each one against the
 * ONNX op it stands for, so a change to either side shows up there.
 */
#ifndef WEFT_OPS_WEFT_FUSED_H
#define WEFT_OPS_WEFT_FUSED_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "op.h"

/* Usable from CUDA device code too. */
#ifdef __CUDACC__
#define WEFT_FUSED_FN static inline __host__ __device__
#else
#define WEFT_FUSED_FN static inline
#endif

/* FusedElementwise's opcodes (the numbers are the `program` attribute's format: never renumber). */
typedef enum weft_fused_opcode {
    /* two operands */
    WEFT_FUSED_ADD = 0,
    WEFT_FUSED_SUB = 1,
    WEFT_FUSED_MUL = 2,
    WEFT_FUSED_DIV = 3,
    WEFT_FUSED_MAX = 4,
    WEFT_FUSED_MIN = 5,
    WEFT_FUSED_POW = 6,
    /* one operand (`b` is ignored) */
    WEFT_FUSED_NEG = 10,
    WEFT_FUSED_ABS = 11,
    WEFT_FUSED_RELU = 12,
    WEFT_FUSED_LEAKY_RELU = 13, /* alpha: slope, default 0.01 */
    WEFT_FUSED_ELU = 14,        /* alpha: default 1 */
    WEFT_FUSED_SIGMOID = 15,
    WEFT_FUSED_TANH = 16,
    WEFT_FUSED_EXP = 17,
    WEFT_FUSED_LOG = 18,
    WEFT_FUSED_SQRT = 19,
    WEFT_FUSED_RECIPROCAL = 20,
    WEFT_FUSED_COS = 21,
    WEFT_FUSED_SIN = 22,
    WEFT_FUSED_ERF = 23,
    WEFT_FUSED_SOFTPLUS = 24,
    WEFT_FUSED_GELU = 25, /* alpha 0: exact (erf) form, 1: tanh approximation */
} weft_fused_opcode;

/* No activation (FusedMatMul's activation ""): not a program opcode. */
#define WEFT_FUSED_IDENTITY (-1)

/* Registers (inputs included) a program may use: bounds the interpreter's register file. */
#define WEFT_FUSED_MAX_REGS 256
/* Instructions a program may hold. */
#define WEFT_FUSED_MAX_INSNS 4096

WEFT_FUSED_FN bool weft_fused_is_binary(int64_t op) { return op >= WEFT_FUSED_ADD && op <= WEFT_FUSED_POW; }
WEFT_FUSED_FN bool weft_fused_is_unary(int64_t op) { return op >= WEFT_FUSED_NEG && op <= WEFT_FUSED_GELU; }

/* The alpha an instruction uses when the node has no `alphas` attribute: the ONNX op's default. */
WEFT_FUSED_FN double weft_fused_default_alpha(int64_t op)
{
    if (op == WEFT_FUSED_LEAKY_RELU) return (double)0.01f; /* LeakyRelu's float attribute default */
    if (op == WEFT_FUSED_ELU) return 1.0;
    return 0.0;
}

/* A one-operand op on x (in double; the caller rounds once to the element type), as ops/unary.c's
 * formulas: Sigmoid's two branches keep exp from overflowing, Relu keeps NaN, Softplus is stable. */
WEFT_FUSED_FN double weft_fused_unary(int op, double x, double alpha)
{
    switch (op) {
    case WEFT_FUSED_NEG: return -x;
    case WEFT_FUSED_ABS: return fabs(x);
    case WEFT_FUSED_RELU: return x < 0 ? 0.0 : x;
    case WEFT_FUSED_LEAKY_RELU: return x < 0 ? alpha * x : x;
    case WEFT_FUSED_ELU: return x < 0 ? alpha * expm1(x) : x;
    case WEFT_FUSED_SIGMOID: return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
    case WEFT_FUSED_TANH: return tanh(x);
    case WEFT_FUSED_EXP: return exp(x);
    case WEFT_FUSED_LOG: return log(x);
    case WEFT_FUSED_SQRT: return sqrt(x);
    case WEFT_FUSED_RECIPROCAL: return 1.0 / x;
    case WEFT_FUSED_COS: return cos(x);
    case WEFT_FUSED_SIN: return sin(x);
    case WEFT_FUSED_ERF: return erf(x);
    case WEFT_FUSED_SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    case WEFT_FUSED_GELU:
        if (alpha != 0) return 0.5 * x * (1.0 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
        return 0.5 * x * (1.0 + erf(x * 0.70710678118654752440));
    default: return x;
    }
}

/* A two-operand op in the element type T (float or double): Add..Div round in T as the ONNX ops do,
 * Max / Min propagate NaN from either side (numpy's maximum / minimum), Pow goes through double. */
#define WEFT_FUSED_DEF_BINARY(T, suffix)                                                            \
    WEFT_FUSED_FN T weft_fused_binary_##suffix(int op, T a, T b)                                   \
    {                                                                                              \
        switch (op) {                                                                              \
        case WEFT_FUSED_ADD: return a + b;                                                         \
        case WEFT_FUSED_SUB: return a - b;                                                         \
        case WEFT_FUSED_MUL: return a * b;                                                         \
        case WEFT_FUSED_DIV: return a / b;                                                         \
        case WEFT_FUSED_MAX: return (a > b || a != a) ? a : b;                                     \
        case WEFT_FUSED_MIN: return (a < b || a != a) ? a : b;                                     \
        case WEFT_FUSED_POW: return (T)pow((double)a, (double)b);                                  \
        default: return a;                                                                         \
        }                                                                                          \
    }
WEFT_FUSED_DEF_BINARY(float, f32)
WEFT_FUSED_DEF_BINARY(double, f64)
#undef WEFT_FUSED_DEF_BINARY
#define weft_fused_binary(op, a, b)                                                                \
    _Generic((a), float: weft_fused_binary_f32, double: weft_fused_binary_f64)((op), (a), (b))

/*
 * A FusedElementwise program, validated. It points into the node's attributes (nothing is copied or
 * allocated), so it lives as long as the node does. Instruction i is code[4i .. 4i+3] =
 * (opcode, dst, a, b); an operand r >= 0 is register r, r < 0 is constant -1 - r.
 */
typedef struct weft_fused_program {
    const int64_t *code;
    int n_insns;
    const float *consts;  /* constant c, converted to the element type when used */
    int n_consts;
    const float *alphas;  /* one per instruction, or NULL: weft_fused_default_alpha */
    int n_inputs;         /* registers 0 .. n_inputs-1 hold the inputs */
    int n_regs;           /* registers used, inputs included (<= WEFT_FUSED_MAX_REGS) */
    int out_reg;          /* the last instruction's dst */
} weft_fused_program;

/* Reads and checks the program of a FusedElementwise node with n_inputs inputs: known opcodes,
 * destinations past the inputs, every operand defined before it is read, constants and alphas in range.
 * Errors are WEFT_ERR_INVALID_MODEL naming the instruction (ops/weft_dense.c). */
weft_status weft_fused_program_read(const weft_node_info *node, int n_inputs, weft_fused_program *p);

/* Instruction i's alpha. */
static inline double weft_fused_alpha(const weft_fused_program *p, int i)
{
    return p->alphas ? (double)p->alphas[i] : weft_fused_default_alpha(p->code[4 * i]);
}

/* FusedMatMul's `activation` attribute as an opcode (WEFT_FUSED_IDENTITY for ""), and its alpha (the
 * `alpha` attribute, else the ONNX op's default); -2 for an unknown name (ops/weft_dense.c). */
int weft_fused_activation(const weft_node_info *node, double *alpha);

#endif
