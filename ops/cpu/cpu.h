/*
 * ops/cpu/cpu.h — weft's own parallel CPU kernels, shared by the CPU backends (ops/onednn/,
 * ops/openblas/): the work libraries do not do — message passing over CSR indices, row gathers, the
 * link-score SDDMM, fused elementwise chains, row normalisations, softmax and layer norm.
 *
 * Each entry of the table takes some steps (`supports`), may set one up once per plan (`prepare`), and
 * runs it with OpenMP over at most k->threads threads. Every kernel gives the same result whatever the
 * thread count: work is split by output rows (owner computes), never by atomics or reductions whose
 * order depends on the split. A backend keeps the entry that took a step in its prepared object, so
 * running a step involves no lookup.
 *
 * What the table takes (float32 / float64 data; anything else is left to `ref`):
 *   ai.weft  CSR, CsrReduce, CsrGatherReduce, CsrEdgeSoftmax, LinkScore, L2Normalize, FusedElementwise,
 *            SegmentReduce, RowGather, EdgeSoftmax (RowGather: any fixed-size dtype), FusedAttention
 *            (float32);
 *   ONNX     Gather along axis 0 (any fixed-size dtype), Softmax / LogSoftmax over the last axis,
 *            ReduceSum / ReduceMean / ReduceSumSquare / ReduceL2 over adjacent axes, Greater / Less /
 *            GreaterOrEqual / LessOrEqual / Equal and Where (operands of the output's shape or single
 *            elements),
 *            LayerNormalization, Add / Sub / Mul / Div, Relu, LeakyRelu, Elu, Sigmoid, Tanh, Exp, Expand
 *            (as a repeated row or a column), Transpose (any fixed-size dtype).
 * Results equal the reference kernels' bit for bit, except where a kernel evaluates exp / tanh in a
 * vectorisable form or sums a row in lanes (Softmax, LogSoftmax, LayerNormalization, L2Normalize, Elu,
 * Sigmoid, Tanh, Exp and those opcodes of FusedElementwise, the reductions over a contiguous run):
 * there within a few ulp of double before the final rounding (see each file).
 *
 * `supports` decides on what lowering knows (op, attributes, dtypes, ranks). At run time a kernel may
 * meet shapes outside its fast paths (an operand broadcast in another pattern, a malformed index): it
 * then runs the op's reference kernel on the calling thread, which also reports every error the
 * reference reports, with the same status and message. Runs take all their temporary memory from
 * k->scratch (one call) and allocate nothing.
 */
#ifndef WEFT_OPS_CPU_H
#define WEFT_OPS_CPU_H

#include "../backend.h"

typedef struct weft_cpu_op {
    const char *domain, *name; /* for reports; matching is `supports`'s job */
    bool (*supports)(const weft_step_desc *s);
    /* May be NULL (nothing to set up): run then gets prepared = NULL. The prepared object is immutable
     * and may be shared by sessions on several threads. */
    weft_status (*prepare)(const weft_step_desc *s, void **prepared);
    weft_status (*run)(const void *prepared, weft_kernel_ctx *k);
    void (*release)(void *prepared);
} weft_cpu_op;

/* The first entry of the table that takes step s, or NULL. */
const weft_cpu_op *weft_cpu_find(const weft_step_desc *s);

/* Sets the OpenMP thread count of the calling thread for the libraries that read it (oneDNN, an
 * OpenMP build of OpenBLAS) — weft's own kernels pass num_threads explicitly. */
void weft_cpu_set_threads(int threads);

#endif
