/* ops/resize.c — (being written) */
#include "op.h"

const weft_op_def weft_ops_resize[] = {{0}};
const int weft_ops_resize_count = 0;
