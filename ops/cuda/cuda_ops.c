/*
 * ops/cuda/cuda_ops.c — the table of the cuda backend's kernels: the first entry whose `supports` takes
 * a step runs it. One entry per op family; the kernels live in one file per family:
 *   csr.cu       CSR (built on the device: checked, stable radix sort), and the checks of a CSR index
 *                a reader is handed
 *   graph.cu     CsrReduce, CsrGatherReduce, CsrEdgeSoftmax, LinkScore, SegmentReduce, RowGather,
 *                EdgeSoftmax, Gather (float32 rows; int32 / int64 rows of an edge index)
 *   dense.c      MatMul (also batched), Gemm, ai.weft FusedMatMul through cuBLASLt; epilogues cuBLASLt
 *                has no exact form of in dense_epilogue.cu
 *   eltwise.cu   FusedElementwise; Add, Sub, Mul, Div, Pow, Max, Min; the one-operand ops ops/weft_fused.h
 *                shares with ops/unary.c; L2Normalize, Softmax / LogSoftmax, LayerNormalization
 *   movement.cu  Reshape / Flatten / Squeeze / Unsqueeze / Identity, Transpose, Concat, Expand, Slice,
 *                Tile, Split; ConstantOfShape and Range (outputs made on the device)
 *   select.cu    Equal, Less, LessOrEqual, Greater, GreaterOrEqual; And, Or, Xor, Not, IsNaN, IsInf; Where;
 *                Cast and CastLike
 *   reduce.cu    ReduceSum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare; ArgMax, ArgMin
 *                (sums in double, in an order fixed by the sizes; no float atomics)
 *   index.cu     GatherElements, GatherND, ScatterElements / Scatter / ScatterND (none, add, mul, max,
 *                min: each target's updates folded in their order after a stable sort, as the reference)
 *   rnn.c        RNN, GRU, LSTM: cuBLASLt products for the inputs of every step at once and for each
 *                step's recurrence, the gates in rnn_cell.cu
 * (cuda_index.cuh: the index walk eltwise.cu, movement.cu and select.cu share; cuda_bcast.cuh: the
 * broadcast planning of eltwise.cu and select.cu)
 */
#include "cuda_backend.h"

#define WEFT_CUDA_ENTRIES(X)                                                                       \
    X(csr) X(csr_reduce) X(csr_gather_reduce) X(csr_edge_softmax) X(link_score) X(segment_reduce)   \
    X(row_gather) X(edge_softmax) X(gather) X(dense) X(fused_elementwise) X(binary) X(unary)        \
    X(l2_normalize) X(softmax) X(layer_norm) X(reshape) X(transpose) X(concat) X(expand) X(slice)   \
    X(tile) X(split) X(constant_of_shape) X(range) X(rnn) X(compare) X(logic) X(where) X(cast)    \
    X(gather_elements) X(gather_nd) X(scatter) X(reduce) X(arg_reduce)

#define DECLARE(x) extern const weft_cuda_op weft_cuda_op_##x;
WEFT_CUDA_ENTRIES(DECLARE)
#undef DECLARE

static const weft_cuda_op *const table[] = {
#define LIST(x) &weft_cuda_op_##x,
    WEFT_CUDA_ENTRIES(LIST)
#undef LIST
};

const weft_cuda_op *weft_cuda_find(const weft_step_desc *s)
{
    if (!s || !s->def) return NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i]->supports(s)) return table[i];
    return NULL;
}
