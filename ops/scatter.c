/* ops/scatter.c — (family not yet filled). */
#include "op.h"

const weft_op_def weft_ops_scatter[] = {{0}};
const int weft_ops_scatter_count = 0;
