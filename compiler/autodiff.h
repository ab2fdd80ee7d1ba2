/*
 * compiler/autodiff.h — reverse-mode automatic differentiation of a graph (compiler/pass_autodiff.c).
 *
 * weft_autodiff adds to a graph the ops computing the gradient of a scalar loss with respect to some of
 * its values (the parameters: graph inputs or initializers), and makes each gradient a graph output
 * named "<parameter>__grad". The backward ops are ordinary ops emitted by each op's gradient rule
 * (weft_op_def.grad, ops/grad.h), so the result compiles and runs like any graph, on any backend.
 *
 * It runs on the graph as imported, before the fusion passes of weft_compile_graph: rules exist for the
 * ops exporters write, and the passes then fuse the backward ops as they fuse the forward ones. The
 * graph's dtypes and shapes must have been inferred (weft_pass_infer) and must not have folded through
 * the parameters (initializers used as parameters are parameters, not constants: infer without
 * folding, or make them inputs).
 */
#ifndef WEFT_COMPILER_AUTODIFF_H
#define WEFT_COMPILER_AUTODIFF_H

#include "ir.h"

/* Gradients of value `loss` (float, one element) with respect to params[0..n) (float values), as new
 * graph outputs grads[0..n) named "<param>__grad". A parameter the loss does not depend on gets zeros.
 * Fails, before changing the graph, naming the node and op of any node on a path from a parameter to
 * the loss that has no gradient rule; fails naming the node when a rule refuses its case (then the
 * graph may hold extra values, but computes what it did). Integer values carry no gradient. An If on
 * that path is first replaced by its taken branch where constant folding decides the condition (the
 * graph is folded for that, so no parameter may be a constant); one whose condition stays unknown is
 * refused like an op without a rule. */
weft_status weft_autodiff(weft_graph *g, int loss, const int *params, int n, int *grads);

#endif
