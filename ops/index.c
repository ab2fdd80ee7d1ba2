/* ops/index.c — (family not yet filled). */
#include "op.h"

const weft_op_def weft_ops_index[] = {{0}};
const int weft_ops_index_count = 0;
