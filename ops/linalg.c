/* ops/linalg.c — (family not yet filled). */
#include "op.h"

const weft_op_def weft_ops_linalg[] = {{0}};
const int weft_ops_linalg_count = 0;
