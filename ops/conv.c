/* ops/conv.c — (being written) */
#include "op.h"

const weft_op_def weft_ops_conv[] = {{0}};
const int weft_ops_conv_count = 0;
