/* ops/norm.c — (family not yet filled). */
#include "op.h"

const weft_op_def weft_ops_norm[] = {{0}};
const int weft_ops_norm_count = 0;
