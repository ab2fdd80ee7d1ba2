/* ops/attention.c — (being written) */
#include "op.h"

const weft_op_def weft_ops_attention[] = {{0}};
const int weft_ops_attention_count = 0;
