/* ops/binary.c — (family not yet filled). */
#include "op.h"

const weft_op_def weft_ops_binary[] = {{0}};
const int weft_ops_binary_count = 0;
