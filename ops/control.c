/*
 * ops/control.c — the schemas of If, Loop and Scan. Their work is running subgraphs, which ops/ cannot
 * see: the compiler infers their outputs from the subgraphs (compiler/pass_infer.c) and the runtime
 * executes them (runtime/control.c). These entries make them known to the registry.
 */
#include "op.h"

static weft_status not_here(weft_infer_ctx *c)
{
    return weft_op_error(c->node, WEFT_ERR_INTERNAL, "control flow is inferred by the compiler");
}

static weft_status not_run(weft_kernel_ctx *k)
{
    return weft_op_error(k->node, WEFT_ERR_INTERNAL, "control flow is executed by the runtime");
}

const weft_op_def weft_ops_control[] = {
    {"If", "", 1, 0, 1, 1, 1, -1, WEFT_OP_CONTROL_FLOW | WEFT_OP_VALUE_DEPENDENT_SHAPE, not_here, not_run},
    {"Loop", "", 1, 0, 0, -1, 1, -1, WEFT_OP_CONTROL_FLOW | WEFT_OP_VALUE_DEPENDENT_SHAPE, not_here, not_run},
    {"Scan", "", 9, 0, 1, -1, 1, -1, WEFT_OP_CONTROL_FLOW, not_here, not_run},
};
const int weft_ops_control_count = sizeof weft_ops_control / sizeof weft_ops_control[0];
