/* ops/unary.c — (family not yet filled). */
#include "op.h"

const weft_op_def weft_ops_unary[] = {{0}};
const int weft_ops_unary_count = 0;
