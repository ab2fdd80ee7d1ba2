/* ops/gather.c — (family not yet filled). */
#include "op.h"

const weft_op_def weft_ops_gather[] = {{0}};
const int weft_ops_gather_count = 0;
