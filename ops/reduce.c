/* ops/reduce.c — (family not yet filled). */
#include "op.h"

const weft_op_def weft_ops_reduce[] = {{0}};
const int weft_ops_reduce_count = 0;
