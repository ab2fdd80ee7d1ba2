/* ops/misc2.c — (being written) */
#include "op.h"

const weft_op_def weft_ops_misc2[] = {{0}};
const int weft_ops_misc2_count = 0;
